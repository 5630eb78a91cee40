"""The Train page's hyper-parameter widgets, made from what the registry declares (no Streamlit here).

A kvt optimizer declares each hyper-parameter once (``HYPERPARAMETERS``: name, default, check,
meaning; :mod:`kvt.optimizers._common`); the check's :class:`~kvt.optimizers._common.Constraint` gives the
widget's kind and range, the default its starting value and format, the meaning its help. A Keras
optimizer's registry entry gives its defaults (kvt's, else its class's signature, read from the
source), from which the kind follows. The arguments every Keras optimizer takes (clipping, EMA) come
last, as ``group == "base"``. :func:`overrides` turns what the user set back into what ``kvt train``
takes: ``--lr`` and ``--opt KEY=VALUE`` (a text field's value is parsed as ``--opt`` parses it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kvt.optimizers import registry
from kvt.optimizers._common import BASE_ARGUMENTS, Constraint


@dataclass(frozen=True)
class Field:
    """One widget: its ``kind`` (number, integer, checkbox, choice, text), starting value, range and help."""

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    optional: bool = False  # None (empty) allowed: the hyper-parameter is off
    choices: tuple[str, ...] = ()
    group: str = "declared"  # "declared": the optimizer's own; "base": Keras's Optimizer arguments

    @property
    def format(self) -> str | None:
        """printf format of a number widget: the default's significant digits, exponents where they read better."""
        if self.kind == "integer":
            return "%d"
        if self.kind != "number":
            return None
        value = abs(self.default) if isinstance(self.default, (int, float)) else 0.0
        return "%.3e" if value and (value < 1e-3 or value >= 1e4) else "%g"

    @property
    def step(self) -> float | int | None:
        """The +/- step of a number widget: a tenth of the default's order of magnitude (0.01 without one)."""
        if self.kind == "integer":
            return 1
        if self.kind != "number":
            return None
        value = abs(self.default) if isinstance(self.default, (int, float)) else 0.0
        return 10.0 ** (math.floor(math.log10(value)) - 1) if value else 0.01


def _range_text(c: Constraint) -> str:
    """``in [0, 1)``, ``> 0``, ``>= 1`` (``or None``): what the check accepts, in its own notation."""
    if c.low is not None and c.high is not None:
        text = f"in {'(' if c.low_open else '['}{c.low:g}, {c.high:g}{')' if c.high_open else ']'}"
    elif c.low is not None:
        text = f"{'>' if c.low_open else '>='} {c.low:g}"
    elif c.high is not None:
        text = f"{'<' if c.high_open else '<='} {c.high:g}"
    else:
        text = ""
    if c.kind == "integer":
        text = f"an integer {text}".rstrip()
    return f"{text}; empty: None (off)" if c.optional and text else ("empty: None (off)" if c.optional else text)


def _declared_field(parameter, default: Any) -> Field:
    constraint = getattr(parameter.check, "constraint", None)
    help_text = f"{parameter.meaning}. Default {default!r}"
    if constraint is None:  # a check that states no constraint: a text field, parsed and checked as --opt
        return Field(parameter.name, "text", default, help_text + "; checked by the optimizer")
    shown = _range_text(constraint)
    help_text += f"; {shown}." if shown else "."
    if constraint.kind == "choice":
        return Field(parameter.name, "choice", default, help_text, choices=tuple(constraint.choices()))
    if constraint.kind in ("number", "integer"):
        return Field(parameter.name, constraint.kind, default, help_text, low=constraint.low, high=constraint.high,
                     optional=constraint.optional)
    return Field(parameter.name, "text", default, help_text, optional=constraint.optional)


def _kind_of(value: Any) -> str:
    """A widget kind for a Keras argument, from its default's type (None: text, parsed as --opt parses)."""
    if isinstance(value, bool):
        return "checkbox"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "text"


def fields(optimizer: str, learning_rate: float | None = None) -> list[Field]:
    """The widgets of ``optimizer``'s hyper-parameters, in declaration (constructor) order, base arguments last.

    ``learning_rate``: the mode's learning rate when it sets one (accurate mode's 1e-2), shown as the default.
    """
    entry = registry.entry(optimizer)
    defaults = entry.resolved_defaults()
    if learning_rate is not None:
        defaults["learning_rate"] = learning_rate
    result = []
    for name in entry.hyperparameter_names():
        group = "base" if name in BASE_ARGUMENTS else "declared"
        default = defaults.get(name)
        if entry.declaration is not None and name in entry.declaration.names:
            result.append(_declared_field(entry.declaration[name], default))
            continue
        origin = "kvt's value for this optimizer" if name in entry.defaults else "Keras's default"
        where = ("keras.optimizers.Optimizer argument, taken by every optimizer" if group == "base"
                 else f"argument of {entry.class_path}")
        kind = _kind_of(default)
        note = "; empty: None" if kind == "text" else ""
        result.append(Field(name, kind, default, f"{name}: {where}. Default {default!r} ({origin}){note}.",
                            group=group))
    return result


def text_of(field: Field) -> str:
    """What a text field shows first: its default as ``--opt`` would be written (None: empty)."""
    return "" if field.default is None else str(field.default)


def value_of(field: Field, shown: Any) -> Any:
    """The hyper-parameter value of a widget's content (a text field's is parsed as ``--opt KEY=VALUE`` is)."""
    if field.kind == "text":
        return None if not str(shown).strip() else registry.parse_value(str(shown))
    if field.kind == "integer" and shown is not None:
        return int(shown)
    return shown


def _same(a: Any, b: Any) -> bool:
    """Equal as hyper-parameter values (True is not 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def overrides(all_fields: list[Field], shown: dict[str, Any]) -> tuple[float | None, dict[str, Any]]:
    """(``--lr``, ``--opt`` values) for the widgets whose value differs from their default: what ``kvt train``
    needs to be given to train as the page does (untouched widgets are left to the mode and the registry)."""
    learning_rate, opt = None, {}
    for field in all_fields:
        if field.name not in shown:
            continue
        value = value_of(field, shown[field.name])
        if _same(value, field.default):
            continue
        if field.name == "learning_rate" and isinstance(value, (int, float)) and not isinstance(value, bool):
            learning_rate = float(value)
        else:
            opt[field.name] = value
    return learning_rate, opt


def opt_text(value: Any) -> str:
    """A value as ``--opt KEY=VALUE`` writes it, so that :func:`kvt.optimizers.registry.parse_value` reads it back."""
    if isinstance(value, str):
        return value
    return repr(value)
