"""The words an optimizer's declaration is written in: hyper-parameters (name, default,
check, meaning), the checks, the meanings several optimizers share, and the registry
listing (name, class, summary, notes).

Each of kvt's own optimizers declares its hyper-parameters (``HYPERPARAMETERS``) and its
registry entry (``REGISTRY_ENTRY``) at the top of its own file, with names imported from
this module only: the registry evaluates those two assignments from the file's source
(:func:`kvt.optimizers.source.read_declarations`) without importing the file, which
imports Keras. So this module imports neither Keras nor TensorFlow, and a check that only
one optimizer needs (LARS's ``exclude_from_adaptation``, SAM's ``base``) lives here too.

Every check raises ``ValueError`` naming the argument, the bad value and what is
allowed (``"beta_1 must be in [0, 1), got 1.5"``); ``kvt.optimizers.get`` turns it
into a ``KvtError``. Each check also states what it accepts as data, its :class:`Constraint`
(``check.constraint``: a number or an integer between bounds, None allowed or not, one of a
list of names, or text), so that a form (``kvt app``) can offer the range the check enforces;
``tests/test_app_fields.py`` checks each constraint against its check at its bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from kvt.errors import did_you_mean

#: ``keras.optimizers.Optimizer``'s own constructor arguments and their defaults, taken by
#: every kvt optimizer on top of its declared hyper-parameters.
BASE_ARGUMENTS = {"clipnorm": None, "clipvalue": None, "global_clipnorm": None, "use_ema": False,
                  "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                  "gradient_accumulation_steps": None, "name": None}

# Meanings several optimizers share (the line `kvt optimizers NAME` shows and the docstring's Args).
LR = "step size lr (a float or a learning-rate schedule)"
DECOUPLED = "Keras's decoupled decay theta <- theta - lr*wd*theta, or None (off)"
COUPLED = "weight decay wd >= 0 inside the update rule (not Keras's decoupled decay)"


# ----------------------------------------------------------------------------- checks

@dataclass(frozen=True)
class Constraint:
    """What a check accepts, as data: ``kind`` "number" or "integer" between ``low`` and ``high`` (None: no
    bound; ``*_open``: the bound itself is refused), "choice" (one of ``choices()``) or "text" (any value the
    check parses); ``optional``: None is accepted too (off)."""

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    choices: Callable[[], list[str]] | None = None


def constrained(kind: str, **bounds) -> Callable:
    """Decorator: the check accepts what ``Constraint(kind, **bounds)`` says (kept as ``check.constraint``)."""
    def mark(check):
        check.constraint = Constraint(kind, **bounds)
        return check
    return mark


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


@constrained("number", low=0.0)
def rate(name: str, value: Any) -> Any:
    """A learning rate: a non-negative finite float, or a schedule / callable passed through untouched."""
    if callable(value):
        return value
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (or a schedule), got {_show(value)}")
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


@constrained("number", low=0.0, high=1.0, high_open=True)
def fraction(name: str, value: Any) -> float:
    """A decay rate in [0, 1)."""
    return in_range(name, value, 0.0, 1.0)


@constrained("number", low=0.0, low_open=True)
def positive(name: str, value: Any) -> float:
    """A number > 0 (epsilons)."""
    return in_range(name, value, 0.0, None, low_open=True)


@constrained("number", low=0.0)
def non_negative(name: str, value: Any) -> float:
    return in_range(name, value, 0.0, None)


@constrained("integer", low=0)
def non_negative_int(name: str, value: Any) -> int:
    if not _is_number(value) or value < 0 or int(value) != value:
        raise ValueError(f"{name} must be an integer >= 0, got {_show(value)}")
    return int(value)


@constrained("integer", low=1)
def positive_int(name: str, value: Any) -> int:
    """An integer >= 1 (step intervals)."""
    value = non_negative_int(name, value)
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return value


@constrained("number", low=0.0, high=1.0)
def unit_interval(name: str, value: Any) -> float:
    """A number in [0, 1] (both ends allowed)."""
    return in_range(name, value, 0.0, 1.0, high_open=False)


@constrained("number", low=0.0, optional=True)
def decoupled_decay(name: str, value: Any) -> float | None:
    """Keras's decoupled weight decay: None (off) or a number >= 0."""
    return None if value is None else non_negative(name, value)


@constrained("number", low=0.0, optional=True)
def coupled_decay(name: str, value: Any) -> float:
    """A weight decay inside the update rule: a number >= 0 (None means 0)."""
    return non_negative(name, 0.0 if value is None else value)


#: LARS's ``exclude_from_adaptation`` value that excludes every variable of rank <= 1.
RANK_1 = "1d"


@constrained("text", optional=True)
def lars_exclusion(name: str, value: Any) -> str | tuple[str, ...] | None:
    """LARS's ``exclude_from_adaptation``: "1d", None (or "none") or a list of name substrings."""
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, str) and value.lower() == RANK_1:
        return RANK_1
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError(f"{name} must be '1d', None or a list of variable-name "
                     f"substrings, got {value!r}")


def listed(value: Any) -> Any:
    """A tuple as the list a config holds (other values as they are)."""
    return list(value) if isinstance(value, tuple) else value


#: Every registry name and whether that optimizer steps from gradients alone (no train_step of its own): set by
#: kvt.optimizers.registry when it loads (this module cannot import the registry, which imports it).
STEPS_FROM_GRADIENTS: Callable[[], dict[str, bool]] | None = None


def sam_bases() -> list[str]:
    """The registry names SAM can wrap: every optimizer that steps from gradients alone, SAM itself excepted."""
    return [n for n, alone in STEPS_FROM_GRADIENTS().items() if n != "sam" and alone]


@constrained("choice", choices=sam_bases)
def sam_base(name: str, base: Any) -> str:
    """SAM's ``base``: the registry name of an optimizer that steps from gradients alone (lower-cased)."""
    steps_from_gradients = STEPS_FROM_GRADIENTS()
    valid = sam_bases()
    if not isinstance(base, str):
        raise ValueError(f"{name} must be the registry name of an optimizer (one of "
                         f"{', '.join(valid)}), got {base!r}")
    key = base.strip().lower()
    if key in ("sam", "adahessian") or (key in steps_from_gradients and not steps_from_gradients[key]):
        raise ValueError(f"{name} cannot be '{key}': SAM wraps an optimizer that steps from "
                         f"gradients alone ('{key}' needs its own train_step); valid bases: "
                         f"{', '.join(valid)}")
    if key not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}; got {base!r}{did_you_mean(key, valid)}")
    return key


# ----------------------------------------------------------------------------- declarations

@dataclass(frozen=True)
class HyperParameter:
    """One declared hyper-parameter of a kvt optimizer.

    ``check(name, value)`` returns the value to use (e.g. a float) or raises
    ``ValueError``; ``meaning`` is the one line ``kvt optimizers NAME`` shows and the
    class's docstring lists; ``to_config`` turns the stored value into its ``get_config`` form.
    """

    name: str
    default: Any
    check: Callable[[str, Any], Any]
    meaning: str
    to_config: Callable[[Any], Any] | None = None

    def validate(self, value: Any) -> Any:
        return self.check(self.name, value)


H = HyperParameter


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

    def docstring_arguments(self, width: int = 80) -> list[str]:
        """The docstring's ``Args:`` items: ``name: meaning. Defaults to ``default``.``, wrapped
        to ``width`` with continuation lines indented by four spaces."""
        import textwrap

        return [line for p in self.parameters
                for line in textwrap.wrap(f"{p.name}: {p.meaning}. Defaults to ``{p.default!r}``.", width,
                                          subsequent_indent="    ", break_on_hyphens=False,
                                          break_long_words=False)]


def declare(*parameters: HyperParameter, study: tuple[str, ...]) -> Declaration:
    """A :class:`Declaration` of ``parameters`` (constructor order) and the study's keys."""
    return Declaration(tuple(parameters), tuple(study))


@dataclass(frozen=True)
class Listing:
    """How the registry lists a kvt optimizer: its registry ``name``, the class (``cls``, in the
    same file) it builds, a one-line ``summary`` and ``notes`` for ``kvt optimizers NAME``."""

    name: str
    cls: str
    summary: str
    notes: str = ""
