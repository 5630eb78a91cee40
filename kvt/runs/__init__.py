"""A trained run: its folder (folder.py), its predicted rates (rates.py) and its figures (figures.py)."""
