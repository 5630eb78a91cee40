"""Registry of the optimizers ``kvt train --optimizer NAME`` accepts.

Each entry maps a name to a Keras optimizer class, the hyper-parameter defaults
kvt uses for it (the studies' values where they give one) and a one-line
description. kvt's own optimizers are entries made by :func:`register_own` from the
``HYPERPARAMETERS`` (a ``kvt.optimizers._common.Declaration``) and ``REGISTRY_ENTRY``
at the top of their file; Keras's own keep a defaults mapping and their class's
signature. Methods that need more than gradients (AdaHessian, SAM, K-FAC) define their
own ``train_step(model, data)`` (:mod:`kvt.network.protocol`);
:attr:`OptimizerEntry.train_step` names it.

The declarative part (names, defaults, descriptions, notes) imports neither Keras
nor TensorFlow: an entry names its class as ``"module:Class"`` and imports it on
first use of :attr:`OptimizerEntry.cls`, and a kvt optimizer's declarations are read
from its file (:func:`kvt.optimizers.source.read_declarations`), so listing the
optimizers is instant.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Mapping

from kvt.errors import KvtError, did_you_mean, unknown
from kvt.optimizers import _common
from kvt.optimizers._common import BASE_ARGUMENTS, Declaration

#: Constructor arguments of ``keras.optimizers.Optimizer`` that every optimizer takes
#: but that are not tuning knobs of the method; ``--opt`` does not offer them.
_BASE_ONLY = {"name", "kwargs", "loss_scale_factor", "gradient_accumulation_steps",
              "ema_overwrite_frequency"}


def import_object(path: str):
    """The object named by ``"package.module:Name"`` (imported now)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class OptimizerEntry:
    name: str
    #: The optimizer class, or its ``"module:Class"`` path (imported on first use of ``cls``).
    target: Any
    defaults: Mapping[str, Any]
    description: str
    notes: str = ""
    #: Hyper-parameters accepted on top of the class's constructor.
    extra_keys: tuple[str, ...] = field(default=())
    #: kvt's own optimizers: the one declaration of their hyper-parameters.
    declaration: Declaration | None = None

    @property
    def cls(self) -> type:
        """The optimizer class (importing it, and so Keras, if named by path)."""
        return import_object(self.target) if isinstance(self.target, str) else self.target

    @property
    def class_path(self) -> str:
        """``module.Class`` of the optimizer, without importing it."""
        if isinstance(self.target, str):
            return self.target.replace(":", ".")
        return f"{self.target.__module__}.{self.target.__qualname__}"

    @property
    def train_step(self) -> str | None:
        """``"Class.train_step"`` when the optimizer takes whole steps itself, else None (read from the class's
        source where it can be, else from the imported class)."""
        source = self._source()
        if source is not None:
            return f"{source.name}.train_step" if source.has_train_step else None
        from kvt.network.protocol import step_name

        return step_name(self.cls)

    def train_step_summary(self) -> str | None:
        """``"Class.train_step: <first line of its docstring>"``, or None without a train step of its own."""
        source = self._source()
        if source is None:
            from kvt.network.protocol import describe

            return describe(self.cls)
        if not source.has_train_step:
            return None
        summary = (source.train_step_doc or "").split("\n")[0].rstrip(".")
        return f"{source.name}.train_step" + (f": {summary}" if summary else "")

    def _source(self):
        """The class's declaration read from its source file (no import), or None."""
        from kvt.optimizers.source import read_class

        return read_class(self.target) if isinstance(self.target, str) else None

    def _signature(self) -> dict[str, Any]:
        """The constructor's named arguments -> default (``inspect.Parameter.empty`` where none), in order."""
        source = self._source()
        if source is not None and source.arguments is not None:
            return dict(source.arguments)
        params = inspect.signature(self.cls.__init__).parameters
        return {n: p.default for n, p in params.items()
                if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def hyperparameter_names(self) -> list[str]:
        """Every key ``--opt`` accepts for this optimizer, in constructor order."""
        if self.declaration is not None:
            names = self.declaration.names + [k for k in BASE_ARGUMENTS if k not in _BASE_ONLY]
            return names + [k for k in self.extra_keys if k not in names]
        names = [n for n in self._signature() if n not in _BASE_ONLY]
        return names + [k for k in self.extra_keys if k not in names]

    def resolved_defaults(self) -> dict[str, Any]:
        """Every hyper-parameter with the value kvt uses when none is given."""
        if self.declaration is not None:
            values = {**self.declaration.defaults, **BASE_ARGUMENTS}
            return {key: values[key] for key in self.hyperparameter_names() if key in values}
        signature = self._signature()
        values = {}
        for key in self.hyperparameter_names():
            if key in self.defaults:
                values[key] = self.defaults[key]
            elif signature.get(key, inspect.Parameter.empty) is not inspect.Parameter.empty:
                values[key] = signature[key]
        return values


_ENTRIES: dict[str, OptimizerEntry] = {}


def register(entry: OptimizerEntry) -> OptimizerEntry:
    if entry.name in _ENTRIES:
        raise ValueError(f"optimizer '{entry.name}' is registered twice")
    _ENTRIES[entry.name] = entry
    return entry


def register_own(module: str) -> OptimizerEntry:
    """Register the kvt optimizer of ``module`` from its file's ``HYPERPARAMETERS`` and ``REGISTRY_ENTRY``
    (read, not imported); its defaults are the study's values of the declaration."""
    from kvt.optimizers.source import read_declarations

    declared = read_declarations(module)
    declaration: Declaration = declared["HYPERPARAMETERS"]
    listing = declared["REGISTRY_ENTRY"]
    return register(OptimizerEntry(listing.name, f"{module}:{listing.cls}", declaration.study_defaults,
                                   listing.summary, listing.notes, declaration=declaration))


def names() -> list[str]:
    """Registered optimizer names, in registration order."""
    return list(_ENTRIES)


def entry(name: str) -> OptimizerEntry:
    try:
        return _ENTRIES[str(name).lower()]
    except KeyError:
        raise unknown("optimizer", name, _ENTRIES, "valid names") from None


def _steps_from_gradients() -> dict[str, bool]:
    """Every registered name and whether that optimizer steps from gradients alone (SAM's valid bases)."""
    return {name: spec.train_step is None for name, spec in _ENTRIES.items()}


_common.STEPS_FROM_GRADIENTS = _steps_from_gradients


def hyperparameters(name: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults of ``name`` updated with ``overrides``, after checking every key."""
    spec = entry(name)
    allowed = spec.hyperparameter_names()
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in allowed]
    if unknown:
        raise KvtError(f"unknown hyper-parameter '{unknown[0]}' for optimizer '{spec.name}'"
                       f"{did_you_mean(unknown[0], allowed)}; valid keys: {', '.join(allowed)}")
    defaults = spec.resolved_defaults()
    for key, value in overrides.items():
        if key == "learning_rate" and not isinstance(value, (int, float, str, bool)) and value is not None:
            import keras

            if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
                continue
        _check_type(spec.name, key, value, defaults.get(key))
    values = dict(spec.defaults)
    values.update(overrides)
    if spec.declaration is not None:  # kvt's own optimizers: their declared checks need no TensorFlow
        for key in overrides:
            if key in spec.declaration.names:
                try:
                    spec.declaration[key].validate(values[key])
                except (ValueError, TypeError) as exc:
                    raise _invalid(spec.name, values, exc) from None
    return values


def _check_type(optimizer: str, key: str, value: Any, default: Any) -> None:
    """Reject a value whose kind differs from the default's (a string for a rate, ...)."""
    def is_number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if isinstance(default, bool):
        ok = isinstance(value, bool)
        kind = "true or false"
    elif is_number(default):
        ok = is_number(value)
        kind = "a number"
    else:
        return
    if not ok:
        raise KvtError(f"invalid value {value!r} for '{key}' of optimizer '{optimizer}'; expected {kind}")


def import_all() -> None:
    """Import every registered optimizer class and kvt's network, registering kvt's
    serialisable Keras objects, as loading a saved model needs."""
    for spec in _ENTRIES.values():
        spec.cls  # noqa: B018
    importlib.import_module("kvt.network.model")


def get(name: str, **hparams) -> "keras.optimizers.Optimizer":  # noqa: F821
    """A new optimizer ``name`` with kvt's defaults, overridden by ``hparams``.

    Raises ``KvtError`` for an unknown name, an unknown key or a value the optimizer
    rejects; the message lists what is allowed.
    """
    spec = entry(name)
    values = hyperparameters(name, hparams)
    try:
        return spec.cls(**values)
    except (ValueError, TypeError) as exc:
        raise _invalid(spec.name, hparams, exc) from None


def _invalid(name: str, values: Mapping[str, Any], exc: Exception) -> KvtError:
    """The error for hyper-parameters an optimizer rejects: every value given, and why."""
    shown = ", ".join(f"{k}={v!r}" for k, v in values.items()) or "defaults"
    return KvtError(f"invalid hyper-parameters for optimizer '{name}' ({shown}): {exc}")


def parse_value(text: str) -> Any:
    """A ``--opt`` value: Python literal (number, bool, None, tuple) or a bare string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()


def parse_options(items) -> dict[str, Any]:
    """``["beta_1=0.8", "nesterov=true"]`` -> ``{"beta_1": 0.8, "nesterov": True}``."""
    result: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise KvtError(f"malformed --opt '{item}'; use key=value, e.g. --opt beta_1=0.9")
        result[key] = parse_value(value)
    return result
