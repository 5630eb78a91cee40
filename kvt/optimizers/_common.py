"""Hyper-parameter declarations, argument checks and small tensor helpers shared by
kvt's own optimizers.

Every check raises ``ValueError`` naming the argument, the bad value and what is
allowed (``"beta_1 must be in [0, 1), got 1.5"``); ``kvt.optimizers.get`` turns it
into a ``KvtError``. This module imports neither Keras nor TensorFlow at import time
(the registry's declarations use it); the tensor helpers import them when called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable


#: ``keras.optimizers.Optimizer``'s own constructor arguments and their defaults, taken by
#: every kvt optimizer on top of its declared hyper-parameters.
BASE_ARGUMENTS = {"clipnorm": None, "clipvalue": None, "global_clipnorm": None, "use_ema": False,
                  "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                  "gradient_accumulation_steps": None, "name": None}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def learning_rate(value: Any) -> Any:
    """A non-negative finite float, or a schedule / callable passed through untouched."""
    if callable(value):
        return value
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"learning_rate must be a finite number >= 0 (or a schedule), "
                         f"got {_show(value)}")
    return float(value)


def in_range(name: str, value: Any, low: float, high: float | None = None, *,
             low_open: bool = False, high_open: bool = True) -> float:
    """``value`` as a float after checking ``low <= value < high`` (brackets as given)."""
    too_low = _is_number(value) and (value <= low if low_open else value < low)
    too_high = _is_number(value) and high is not None and (value >= high if high_open else value > high)
    if not _is_number(value) or not math.isfinite(value) or too_low or too_high:
        left = "(" if low_open else "["
        if high is None:
            allowed = f"{'>' if low_open else '>='} {low:g}"
        else:
            allowed = f"in {left}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be {allowed}, got {_show(value)}")
    return float(value)


def fraction(name: str, value: Any) -> float:
    """A decay rate in [0, 1)."""
    return in_range(name, value, 0.0, 1.0)


def positive(name: str, value: Any) -> float:
    """A number > 0 (epsilons)."""
    return in_range(name, value, 0.0, None, low_open=True)


def non_negative(name: str, value: Any) -> float:
    return in_range(name, value, 0.0, None)


def non_negative_int(name: str, value: Any) -> int:
    if not _is_number(value) or value < 0 or int(value) != value:
        raise ValueError(f"{name} must be an integer >= 0, got {_show(value)}")
    return int(value)


def positive_int(name: str, value: Any) -> int:
    """An integer >= 1 (step intervals)."""
    value = non_negative_int(name, value)
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return value


def unit_interval(name: str, value: Any) -> float:
    """A number in [0, 1] (both ends allowed)."""
    return in_range(name, value, 0.0, 1.0, high_open=False)


def rate(name: str, value: Any) -> Any:
    """The learning rate (``learning_rate`` check, for a :class:`HyperParameter`)."""
    return learning_rate(value)


def optional_weight_decay(value: Any) -> float | None:
    """Keras's decoupled ``weight_decay``: None (off) or a number >= 0."""
    if value is None:
        return None
    return non_negative("weight_decay", value)


def decoupled_decay(name: str, value: Any) -> float | None:
    """Keras's decoupled weight decay: None (off) or a number >= 0."""
    return None if value is None else non_negative(name, value)


def coupled_decay(name: str, value: Any) -> float:
    """A weight decay inside the update rule: a number >= 0 (None means 0)."""
    return non_negative(name, 0.0 if value is None else value)


@dataclass(frozen=True)
class HyperParameter:
    """One declared hyper-parameter of a kvt optimizer.

    ``check(name, value)`` returns the value to use (e.g. a float) or raises
    ``ValueError``; ``meaning`` is the one line ``kvt optimizers NAME`` shows;
    ``to_config`` turns the stored value into its ``get_config`` form.
    """

    name: str
    default: Any
    check: Callable[[str, Any], Any]
    meaning: str
    to_config: Callable[[Any], Any] | None = None

    def validate(self, value: Any) -> Any:
        return self.check(self.name, value)


@dataclass(frozen=True)
class Declaration:
    """An optimizer's hyper-parameters, declared once, and which of them the study fixes.

    ``study`` names the hyper-parameters whose default is the study's value, in the
    order the study lists them (``kvt optimizers`` shows them as the defaults; the
    value is the declared default).
    """

    parameters: tuple[HyperParameter, ...]
    study: tuple[str, ...]

    def __post_init__(self):
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"a hyper-parameter is declared twice: {names}")
        unknown = [k for k in self.study if k not in names]
        if unknown:
            raise ValueError(f"study value for undeclared hyper-parameter(s) {unknown}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def defaults(self) -> dict[str, Any]:
        """Every declared hyper-parameter with its default, in declaration order."""
        return {p.name: p.default for p in self.parameters}

    @property
    def study_defaults(self) -> dict[str, Any]:
        """The study's values, in the study's order."""
        defaults = self.defaults
        return {k: defaults[k] for k in self.study}

    def __getitem__(self, name: str) -> HyperParameter:
        return next(p for p in self.parameters if p.name == name)


def declare(*parameters: HyperParameter, study: tuple[str, ...]) -> Declaration:
    """A :class:`Declaration` of ``parameters`` (constructor order) and the study's keys."""
    return Declaration(tuple(parameters), tuple(study))


def step_count(optimizer, dtype):
    """t = 1, 2, ... of the step being taken, as a tensor of ``dtype``."""
    from keras import ops

    return ops.cast(optimizer.iterations + 1, dtype)


def cast_all(dtype, *values):
    """``values`` as tensors of ``dtype``.

    Python numbers are converted straight to ``dtype`` (``ops.cast`` would go
    through float32 first and round e.g. 0.9 before widening it to float64).
    """
    from keras import ops

    return [ops.convert_to_tensor(v, dtype=dtype) if isinstance(v, (int, float))
            else ops.cast(v, dtype) for v in values]


class CoupledWeightDecay:
    """Mixin for optimizers whose update rule contains the weight-decay term itself.

    Keras's base ``Optimizer`` would also apply decoupled decay (theta -= lr*wd*theta)
    from the same ``weight_decay`` attribute before every step; these optimizers use
    ``weight_decay`` inside ``update_step`` instead, so the base class's decay is off.
    """

    def _apply_weight_decay(self, variables):
        return


def forward_pass(model, x, y, sample_weight):
    """A custom ``train_step``'s forward pass: (scaled loss, loss, y_pred), as Keras computes them."""
    y_pred = model(x, training=True)
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
    return model.optimizer.scale_loss(loss), loss, y_pred


def report_step(model, x, y, y_pred, loss, sample_weight):
    """Update the loss tracker and the compiled metrics as Keras's ``train_step`` does; return the logs."""
    import tensorflow as tf

    tracker = getattr(model, "_loss_tracker", None)
    if tracker is not None:
        batch_size = tf.shape(next(t for t in tf.nest.flatten(x) if t is not None))[0]
        tracker.update_state(loss, sample_weight=batch_size)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
