"""Outputs: run directories, atomic artifacts, weights and TF-free inference, exports, plots, evaluation."""
