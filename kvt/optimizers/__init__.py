"""Optimizers for kvt: Keras's own and the studies' methods, behind one registry.

``names()`` lists them, ``get(name, **hparams)`` builds one with kvt's defaults.
Importing this package does not import Keras; an optimizer's class is imported when
it is first used, and ``import_all()`` imports every one (as loading a saved model needs).
"""

from kvt.optimizers import builtin  # noqa: F401  (registers Keras's optimizers)
from kvt.optimizers import study  # noqa: F401  (registers the study's own optimizers)
from kvt.optimizers import curvature  # noqa: F401  (registers SAM, Shampoo, K-FAC)
from kvt.optimizers.registry import (
    OptimizerEntry,
    entry,
    get,
    hyperparameters,
    import_all,
    names,
    parse_options,
    register,
)

__all__ = ["OptimizerEntry", "entry", "get", "hyperparameters", "import_all", "names", "parse_options", "register"]
