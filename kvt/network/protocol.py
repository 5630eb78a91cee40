"""kvt's train-step protocol: optimizers that need more than one gradient per step.

Keras's ``Model.train_step`` computes one gradient and calls ``optimizer.apply``. An
optimizer that needs more (AdaHessian: Hessian-vector products; SAM: a second gradient
at perturbed weights; K-FAC: each Dense layer's inputs and pre-activation gradients)
defines::

    def train_step(self, model, data) -> dict:   # the logs, as Keras's train_step returns

and takes the whole step for ``model`` (forward and backward passes, the update, the
loss tracker and the compiled metrics). A model follows the protocol by calling
:func:`train_step` from its own ``train_step``; :class:`kvt.network.model.Network` does,
and trains with any other optimizer exactly as ``keras.Sequential``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable


def own_train_step(optimizer) -> Callable[[Any, Any], dict] | None:
    """``optimizer.train_step`` (bound) if the optimizer takes whole steps itself, else None."""
    step = getattr(optimizer, "train_step", None)
    return step if callable(step) else None


def train_step(model, data, keras_train_step: Callable[[Any], dict]) -> dict:
    """One step of ``model`` on ``data``: the optimizer's own step if it has one, else Keras's."""
    step = own_train_step(model.optimizer)
    if step is None:
        return keras_train_step(data)
    return step(model, data)


def describe(cls: type) -> str | None:
    """``"Class.train_step: <first docstring line>"`` for an optimizer class with its own step, else None."""
    step = getattr(cls, "train_step", None)
    if not callable(step):
        return None
    summary = (inspect.getdoc(step) or "").split("\n")[0].rstrip(".")
    return f"{cls.__name__}.train_step" + (f": {summary}" if summary else "")


def step_name(cls: type) -> str | None:
    """``"Class.train_step"`` for an optimizer class with its own step, else None."""
    return f"{cls.__name__}.train_step" if callable(getattr(cls, "train_step", None)) else None
