"""Search spaces of ``kvt tune``: every registry optimizer's learning rate (log scale)
and its own key hyper-parameters, in the grammar of ``kvt tune --space``.

A space is ``{hyper-parameter: spec}`` with ``spec`` one of::

    low:high:log    log-uniform float (0 < low < high)
    low:high        uniform float, or integer when the optimizer's default is an integer
    a,b,c           a choice of values (numbers, true/false, words)
    value           a fixed value

The ranges bracket kvt's registry defaults (the studies' values; ``tests/test_tune.py``
checks each default lies inside its range) and stay where the VT network trains at
batch 32: plain SGD diverges above about 0.1, Lion wants rates ten times below Adam's,
Adadelta's rate multiplies an already adaptive step (1.0 in the paper). Apollo's
``init_lr`` (start of its warm-up) stays at 1e-2 while its learning rate is searched.
Keys not listed keep their registry defaults; ``--space`` adds or replaces entries
(``--space lr=1e-4:1e-2:log``, ``--space adam.beta_2=0.99,0.999``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kvt.errors import KvtError

LR = "learning_rate"

SEARCH_SPACES: dict[str, dict[str, str]] = {
    "adam": {LR: "1e-5:1e-1:log", "beta_1": "0.8:0.99", "beta_2": "0.99,0.999,0.9999"},
    "nadam": {LR: "1e-5:1e-1:log", "beta_1": "0.8:0.99"},
    "adamw": {LR: "1e-5:1e-1:log", "weight_decay": "1e-5:1e-1:log"},
    "adamax": {LR: "1e-5:1e-1:log", "beta_1": "0.8:0.99"},
    "sgd": {LR: "1e-4:1e-1:log"},
    "momentum": {LR: "1e-4:1e-1:log", "momentum": "0.5:0.99"},
    "nesterov": {LR: "1e-4:1e-1:log", "momentum": "0.5:0.99"},
    "adagrad": {LR: "1e-4:1:log", "initial_accumulator_value": "0.01,0.1,1.0"},
    "rmsprop": {LR: "1e-5:1e-1:log", "rho": "0.8:0.99"},
    "adadelta": {LR: "1e-2:10:log", "rho": "0.9:0.99"},
    "lamb": {LR: "1e-5:1e-1:log", "beta_1": "0.8:0.99"},
    "lion": {LR: "1e-6:1e-2:log", "beta_1": "0.8:0.95", "beta_2": "0.95:0.999"},
    "adamod": {LR: "1e-5:1e-1:log", "beta_3": "0.99,0.995,0.999,0.9999"},
    "madgrad": {LR: "1e-4:1e-1:log", "momentum": "0.5:0.99"},
    "radam": {LR: "1e-5:1e-1:log", "beta_1": "0.8:0.99"},
    "apollo": {LR: "1e-4:1e-1:log", "beta": "0.8:0.99", "weight_decay": "1e-5:1e-2:log"},
    "adahessian": {LR: "1e-4:1e-1:log", "hessian_power": "0.5:1.0"},
    "lars": {LR: "1e-3:1:log", "trust_coefficient": "1e-4:1e-2:log"},
    "sam": {LR: "1e-3:3e-1:log", "rho": "1e-2:5e-1:log"},
    "shampoo": {LR: "1e-3:1:log", "epsilon": "1e-6:1e-2:log"},
    "kfac": {LR: "1e-4:1e-1:log", "damping": "1e-4:1e-1:log"},
}

#: Short names ``--space`` accepts for hyper-parameters.
ALIASES = {"lr": LR}

USAGE = "use key=low:high:log, key=low:high or key=a,b,c (e.g. --space lr=1e-5:1e-1:log)"


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False

    def text(self) -> str:
        return f"{self.low:g}:{self.high:g}" + (":log" if self.log else "")


@dataclass(frozen=True)
class Choice:
    values: tuple

    def text(self) -> str:
        return ",".join(_show(v) for v in self.values)


@dataclass(frozen=True)
class Fixed:
    value: Any

    def text(self) -> str:
        return _show(self.value)


def _show(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def parse_spec(text: str, where: str):
    """``"1e-5:1e-1:log"`` -> ``Range(1e-5, 0.1, log=True)``; ``where`` names it in errors."""
    from kvt.optimizers.registry import parse_value

    text = str(text).strip()
    if not text:
        raise KvtError(f"malformed {where}: empty value; {USAGE}")
    if ":" in text:
        parts = [p.strip() for p in text.split(":")]
        scale = "linear"
        if len(parts) == 3:
            scale = parts.pop().lower()
        low, high = (_number(p) for p in parts) if len(parts) == 2 else (None, None)
        if len(parts) != 2 or low is None or high is None or scale not in ("log", "linear"):
            raise KvtError(f"malformed {where}; {USAGE}")
        if not low < high:
            raise KvtError(f"malformed {where}: the low end {low:g} must be below the high end {high:g}")
        if scale == "log" and low <= 0:
            raise KvtError(f"malformed {where}: a log scale needs 0 < low, got {low:g}")
        return Range(low, high, scale == "log")
    if "," in text:
        items = [p.strip() for p in text.split(",")]
        if any(not p for p in items):
            raise KvtError(f"malformed {where}: empty choice; {USAGE}")
        values = [parse_value(p) for p in items]
        if len(set(map(repr, values))) != len(values):
            raise KvtError(f"malformed {where}: a choice lists a value twice")
        kinds = {type(v) for v in values}
        if kinds <= {int, float} and float in kinds:
            values = [float(v) for v in values]
        elif len(kinds) > 1:
            raise KvtError(f"malformed {where}: the choices mix kinds ({', '.join(sorted(k.__name__ for k in kinds))})")
        return Choice(tuple(values))
    return Fixed(parse_value(text))


def parse_override(item: str):
    """``"adam.beta_1=0.8:0.95"`` -> ``("adam", "beta_1", Range(...))``; the optimizer is None
    when the key has no ``name.`` prefix (it then applies to every searched optimizer)."""
    key, sep, value = str(item).partition("=")
    key = key.strip()
    if not sep or not key or not value.strip():
        raise KvtError(f"malformed --space '{item}'; {USAGE}")
    optimizer, dot, name = key.rpartition(".")
    if not dot:
        optimizer, name = None, key
    if not name or (dot and not optimizer):
        raise KvtError(f"malformed --space '{item}'; {USAGE}")
    name = ALIASES.get(name, name)
    return optimizer, name, parse_spec(value, f"--space '{item}'")


def space_for(optimizer: str) -> dict[str, Any]:
    """The parsed default space of a registry name."""
    try:
        declared = SEARCH_SPACES[optimizer]
    except KeyError:
        raise KvtError(f"optimizer '{optimizer}' has no search space in kvt.optimizers.search_spaces") from None
    return {key: parse_spec(spec, f"search space of '{optimizer}' key '{key}'") for key, spec in declared.items()}
