"""Kinetics: detailed balance, the heat-bath master equation, physical validity of a model."""
