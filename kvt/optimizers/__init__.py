"""Optimizers for kvt: Keras's own and the studies' methods, behind one registry.

``names()`` lists them, ``get(name, **hparams)`` builds one with kvt's defaults.
Importing this package does not import Keras; an optimizer's class is imported when
it is first used, and ``import_all()`` imports every one (as loading a saved model needs).
Each of kvt's own optimizers is one file of :data:`OWN` holding its hyper-parameters,
its registry entry and its class; the registry reads the first two from the file's
source (:func:`kvt.optimizers.source.read_declarations`).
"""

from kvt.optimizers import builtin  # noqa: F401  (registers Keras's optimizers)
from kvt.optimizers.registry import (
    OptimizerEntry,
    entry,
    get,
    hyperparameters,
    import_all,
    names,
    parse_options,
    register,
    register_own,
)

#: The modules of kvt's own optimizers, in the order the registry lists them (after Keras's).
OWN = ("adamod", "madgrad", "radam", "apollo", "adahessian", "lars", "sam", "shampoo", "kfac")
for _module in OWN:
    register_own(f"kvt.optimizers.{_module}")
del _module

__all__ = ["OWN", "OptimizerEntry", "entry", "get", "hyperparameters", "import_all", "names", "parse_options",
           "register", "register_own"]
