"""TensorFlow's import without its start-up noise, for the commands (:mod:`kvt.training.quiet`)."""

from kvt.training.quiet import quiet_tensorflow_import

__all__ = ["quiet_tensorflow_import"]
