"""What a benchmark runs: :class:`VTSettings`, :class:`SyntheticSettings` and their quick/full presets.

``resolved()`` fills the defaults (the study's, or the ``--quick`` ones) and validates
every value before any training, raising :class:`kvt.errors.KvtError`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np

from kvt.bench.study import DEFAULT_PAIRS
from kvt.errors import KvtError
from kvt.optimizers.selection import parse_optimizers


#: Reduced settings of ``--quick`` (for tests and a first look): tiny network, few epochs.
VT_QUICK = {"epochs": 3, "units": 8, "patience": 100, "repeats": 1}
VT_FULL = {"epochs": None, "units": None, "patience": None, "repeats": 3}  # None: the mode's (MODE_DEFAULTS)

SYNTHETIC = {
    "rows": 10000, "columns": 50, "groups": ((0, 20), (20, 35), (35, 50)), "noise": 0.1, "task_seed": 2023,
    "val_fraction": 0.2, "batch_size": 32, "epochs": 100, "patience": 5, "min_delta": 1e-3, "units": 32,
    "learning_rate": None,
}
SYNTHETIC_QUICK = {"rows": 1000, "epochs": 3, "units": 8, "repeats": 1}


def parse_pairs(spec: str | Iterable[str]) -> list[str]:
    """Comma-separated pairs (any of the 18, ``N2-N``) -> validated pair names, in the order given, repeats dropped.

    An unknown name is :func:`kvt.physics.species.pair`'s error, which lists the molecules or partners.
    """
    from kvt.physics import species

    items = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [p for p in items if p]
    if not items:
        raise KvtError("--pairs is empty; give MOLECULE-PARTNER pairs, e.g. O2-O2,N2-N (see `kvt data pairs`)")
    return list(dict.fromkeys(species.pair(pair).name for pair in items))


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise KvtError(f"--{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass
class VTSettings:
    """What ``kvt bench vt`` runs. ``None`` epochs/units/patience: the study's defaults."""

    pairs: list[str] = field(default_factory=lambda: list(DEFAULT_PAIRS))
    optimizers: list[str] | str = "all"
    repeats: int | None = None  # None: 3 (quick: 1)
    quick: bool = False
    epochs: int | None = None
    units: int | None = None
    patience: int | None = None
    target_mse: float | None = None

    def resolved(self) -> "VTSettings":
        base = VT_QUICK if self.quick else VT_FULL
        values = asdict(self)
        for key in ("epochs", "units", "patience", "repeats"):
            if values[key] is None:
                values[key] = base[key]
        values["pairs"] = parse_pairs(self.pairs)
        values["optimizers"] = list(parse_optimizers(self.optimizers))
        settings = VTSettings(**values)
        _positive_int("repeats", settings.repeats)
        for key in ("epochs", "units", "patience"):
            if getattr(settings, key) is not None:
                _positive_int(key, getattr(settings, key))
        if settings.target_mse is not None and not (math.isfinite(settings.target_mse) and settings.target_mse > 0):
            raise KvtError(f"--target-mse must be a number > 0, got {settings.target_mse!r}")
        return settings

    def training(self) -> dict[str, Any]:
        """The settings every run's result depends on (checked on --resume)."""
        return {"quick": self.quick, "epochs": self.epochs, "units": self.units, "patience": self.patience,
                "target_mse": self.target_mse}


@dataclass
class SyntheticSettings:
    optimizers: list[str] | str = "all"
    repeats: int | None = None  # None: 3 (quick: 1)
    quick: bool = False
    rows: int | None = None
    epochs: int | None = None
    units: int | None = None

    def resolved(self) -> "SyntheticSettings":
        values = asdict(self)
        quick = SYNTHETIC_QUICK if self.quick else {"repeats": 3}
        for key in ("rows", "epochs", "units", "repeats"):
            if values[key] is None:
                values[key] = quick.get(key, SYNTHETIC.get(key))
        values["optimizers"] = list(parse_optimizers(self.optimizers))
        settings = SyntheticSettings(**values)
        for key in ("repeats", "rows", "epochs", "units"):
            _positive_int(key, getattr(settings, key))
        if settings.rows < 10:
            raise KvtError(f"--rows must be at least 10, got {settings.rows}")
        return settings

    def training(self) -> dict[str, Any]:
        return {"quick": self.quick, "rows": self.rows, "epochs": self.epochs, "units": self.units}
