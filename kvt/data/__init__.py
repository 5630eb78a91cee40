"""Datasets: bundled and generated rate tables, their layouts and grids."""
