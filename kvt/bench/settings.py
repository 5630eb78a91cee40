"""What a benchmark runs: :class:`VTSettings`, :class:`SyntheticSettings` and their quick/full presets.

``resolved()`` fills the defaults (the study's, or the ``--quick`` ones) and validates
every value before any training, raising :class:`kvt.errors.KvtError`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np

from kvt.errors import KvtError, unknown
from kvt.optimizers.selection import parse_optimizers

# (Declared here, not beside the tables and the search that use them, so that ``kvt bench`` checks its
# settings without importing pandas.)
DEFAULT_PAIRS = ("O2-O2", "O2-O", "O2-Ar")  # the study's pairs, in kvt's order
DEFAULT_HELD_OUT_K = (750.0, 2500.0, 7000.0)  # temperatures the tuned protocol holds out
DEFAULT_TRIALS = 16  # search trials per optimizer and pair of the tuned protocol


PROTOCOLS = ("study", "defaults", "tuned")

#: What each protocol trains. ``patience`` None: no early stopping (every epoch runs, the last weights count).
#: study: the study's budget (30 epochs, registry defaults, batch 32); defaults: kvt's long budget with
#: early stopping; tuned: ``trials`` random-search trials per optimizer x pair, then ``repeats`` seeds of the best.
PROTOCOL_PRESETS = {
    "study": {"epochs": 30, "patience": None, "repeats": 5, "trials": None},
    "defaults": {"epochs": 1000, "patience": 100, "repeats": 3, "trials": None},
    "tuned": {"epochs": 60, "patience": 20, "repeats": 5, "trials": DEFAULT_TRIALS},
}
#: Reduced settings of ``--quick`` (for tests and a first look): tiny network, few epochs (tuned: 2 seeds, 2 trials).
VT_QUICK = {"epochs": 3, "units": 8, "repeats": 1, "trials": 2}
VT_UNITS = 64  # the study's hidden-layer width
DEFAULT_TARGET_MSE = 0.004  # the study's best validation MSE (AdaMod on O2-O)
DEFAULT_REL_TARGET = 0.05  # dense-grid median relative error

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
    """What ``kvt bench vt`` runs. ``None``: the protocol's value (:data:`PROTOCOL_PRESETS`, or ``--quick``'s)."""

    pairs: list[str] = field(default_factory=lambda: list(DEFAULT_PAIRS))
    optimizers: list[str] | str = "all"
    protocol: str = "defaults"
    repeats: int | None = None
    quick: bool = False
    epochs: int | None = None
    units: int | None = None
    patience: int | None = None
    target_mse: float | None = DEFAULT_TARGET_MSE
    rel_target: float | None = DEFAULT_REL_TARGET
    trials: int | None = None
    held_out: tuple[float, ...] | None = None
    workers: int = 1

    def resolved(self) -> "VTSettings":
        if self.protocol not in PROTOCOLS:
            raise unknown("protocol", self.protocol, PROTOCOLS)
        tuned = self.protocol == "tuned"
        preset = dict(PROTOCOL_PRESETS[self.protocol])
        if self.quick:
            preset.update({k: v for k, v in VT_QUICK.items() if k != "trials" or tuned})
            preset["repeats"] = 2 if tuned else 1
        preset.setdefault("units", VT_UNITS)
        values = asdict(self)
        if self.protocol == "study" and self.patience is not None:
            raise KvtError("--patience does not apply to --protocol study: it trains every epoch, without early "
                           "stopping")
        if not tuned and self.trials is not None:
            raise KvtError(f"--trials applies to --protocol tuned only, not {self.protocol}")
        if not tuned and self.held_out is not None:
            raise KvtError(f"--held-out applies to --protocol tuned only, not {self.protocol}")
        for key in ("epochs", "units", "patience", "repeats", "trials"):
            if values[key] is None:
                values[key] = preset.get(key)
        if tuned and values["held_out"] is None:
            values["held_out"] = DEFAULT_HELD_OUT_K
        if values["held_out"] is not None:
            values["held_out"] = tuple(sorted(float(t) for t in values["held_out"]))
        values["pairs"] = parse_pairs(self.pairs)
        values["optimizers"] = list(parse_optimizers(self.optimizers))
        settings = VTSettings(**values)
        _positive_int("repeats", settings.repeats)
        if tuned and settings.repeats < 2:
            raise KvtError(f"--repeats must be at least 2 for --protocol tuned (the spread over seeds is what it "
                           f"reports), got {settings.repeats}")
        for key in ("epochs", "units", "patience", "trials", "workers"):
            if getattr(settings, key) is not None:
                _positive_int(key, getattr(settings, key))
        for key, option in (("target_mse", "--target-mse"), ("rel_target", "--rel-target")):
            value = getattr(settings, key)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise KvtError(f"{option} must be a number > 0, got {value!r}")
        return settings

    @classmethod
    def from_training(cls, training: dict, pairs, optimizers) -> "VTSettings":
        """The resolved settings of a benchmark folder's ``training`` record (an older folder: defaults)."""
        held = training.get("held_out_K")
        return cls(pairs=list(pairs), optimizers=list(optimizers), protocol=training.get("protocol", "defaults"),
                   quick=training.get("quick", False), epochs=training.get("epochs"), units=training.get("units"),
                   patience=training.get("patience"), target_mse=training.get("target_mse"),
                   rel_target=training.get("rel_target"), trials=training.get("trials"),
                   held_out=tuple(held) if held else None, repeats=2 if training.get("protocol") == "tuned" else 1,
                   ).resolved()

    def training(self) -> dict[str, Any]:
        """The settings every run's result depends on (checked on --resume)."""
        return {"protocol": self.protocol, "quick": self.quick, "epochs": self.epochs, "units": self.units,
                "patience": self.patience, "target_mse": self.target_mse, "rel_target": self.rel_target,
                "trials": self.trials, "held_out_K": list(self.held_out) if self.held_out else None}


def upgraded_training(old: dict, new: dict) -> dict:
    """The settings record of a VT folder written before the protocols, as this kvt records it.

    Such a folder ran the defaults protocol; its None epochs, units and patience were that
    protocol's values, and it recorded no relative-error target (its rows have none), so
    the new session's ``rel_target`` is taken.
    """
    settings = VTSettings.from_training({**old, "rel_target": new.get("rel_target")}, DEFAULT_PAIRS, ["adam"])
    return settings.training()


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
