"""The reports kvt writes about a run's physics: the heat-bath relaxation folder of ``kvt relax`` (relax.py)."""
