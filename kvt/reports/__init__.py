"""The reports kvt writes about rates: the folders of ``kvt evaluate`` (evaluation.py) and ``kvt relax`` (relax.py)."""
