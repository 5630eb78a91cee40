"""Every option of a training run: :class:`TrainConfig`, the modes' defaults, the schedules."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kvt.errors import KvtError, unknown


SCHEDULES = ("constant", "cosine")


def learning_rate_schedule(name: str, learning_rate: float, min_lr: float, total_steps: int):
    """The learning rate an optimizer is built with: a float, or a Keras schedule.

    ``cosine``: lr_j = min_lr + (lr - min_lr) (1 + cos(pi j / J)) / 2 over the J optimizer
    steps of the whole run (Keras's ``CosineDecay`` with alpha = min_lr / lr).
    """
    if name == "constant":
        return learning_rate
    if name == "cosine":
        import keras

        if min_lr > learning_rate:
            raise KvtError(f"--min-lr {min_lr} is above the learning rate {learning_rate}")
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate, decay_steps=total_steps, alpha=min_lr / learning_rate)
    raise unknown("schedule", name, SCHEDULES)


MODES = ("study", "accurate")
FINISHES = ("none", "lbfgs")

#: Defaults of every option left as None, per mode. ``batch_size`` 0 means full batch.
MODE_DEFAULTS = {
    "study": {"optimizer": "adamod", "epochs": 1000, "batch_size": 32, "val_fraction": 0.2, "patience": 100,
              "units": 64, "schedule": "constant", "learning_rate": None, "min_lr": 0.0, "finish": "none",
              "finish_iterations": 0, "precision": "float32"},
    "accurate": {"optimizer": "adam", "epochs": 2000, "batch_size": 0, "val_fraction": 0.0, "patience": 100,
                 "units": 32, "schedule": "cosine", "learning_rate": 1e-2, "min_lr": 1e-5, "finish": "lbfgs",
                 "finish_iterations": 1500, "precision": "float64"},
}


@dataclass
class TrainConfig:
    """Every option of a training run (recorded verbatim in the run metadata).

    Options left as ``None`` take the defaults of ``mode`` (``MODE_DEFAULTS``):
    ``study`` is the original study's pipeline, ``accurate`` the log-space pipeline.
    """

    data: str = "O2-Ar"  # bundled pair name or CSV path
    mode: str = "study"
    optimizer: str | None = None
    learning_rate: float | None = None  # None: the mode's, else the optimizer's registry default
    opt: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None  # passes over the training rows
    batch_size: int | None = None  # 0: full batch (any mode)
    val_fraction: float | None = None  # 0: no validation split, no early stopping (any mode)
    patience: int | None = None
    early_stopping: bool = True  # False: train every epoch and keep the last weights (the study's 30-epoch budget)
    units: int | None = None
    seed: int = 0
    schedule: str | None = None  # "constant" or "cosine" (anneal lr -> min_lr over the run)
    min_lr: float | None = None
    finish: str | None = None  # "lbfgs": full-batch L-BFGS polish after the first-order phase
    finish_iterations: int | None = None
    precision: str | None = None  # "float32" or "float64"
    strategy: str = "default"  # tf.distribute strategy: default, mirrored, multi-worker (kvt.training.distributed)
    allow_implausible: bool = False  # accept a user table whose k or T lie outside kvt.data.datasets's bounds

    def resolved(self, process=None) -> "TrainConfig":
        """A copy with every None replaced by the mode's default (or ``process``'s, where it has one: its
        ``training_defaults``), validated."""
        if self.mode not in MODES:
            raise unknown("mode", self.mode, MODES)
        self._check_one_learning_rate()
        values = asdict(self)
        defaults = {**MODE_DEFAULTS[self.mode], **getattr(process, "training_defaults", {}).get(self.mode, {})}
        for key, default in defaults.items():
            if key == "learning_rate" and "learning_rate" in self.opt:
                continue  # --opt learning_rate=... is the user's rate, not to be replaced by the mode's
            if values[key] is None:
                values[key] = default
        return TrainConfig(**values).validate()

    def validate(self) -> "TrainConfig":
        def integer(name, value, minimum):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
                raise KvtError(f"--{name.replace('_', '-')} must be {kind}, got {value!r}")

        for name in ("epochs", "patience", "units"):
            integer(name, getattr(self, name), 1)
        integer("batch_size", self.batch_size, 0)
        if self.batch_size == 1:
            raise KvtError("--batch-size must be 0 (full batch) or at least 2 (batch normalisation needs the "
                           "variance of a batch), got 1")
        integer("finish_iterations", self.finish_iterations, 0)
        if self.learning_rate is not None and not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise KvtError(f"--lr must be a number > 0, got {self.learning_rate!r}")
        if self.schedule not in SCHEDULES:
            raise unknown("schedule", self.schedule, SCHEDULES)
        if not (np.isfinite(self.min_lr) and self.min_lr >= 0):
            raise KvtError(f"--min-lr must be a number >= 0, got {self.min_lr!r}")
        if not (isinstance(self.val_fraction, (int, float)) and 0.0 <= self.val_fraction < 1.0):
            raise KvtError(f"--val-fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.finish not in FINISHES:
            raise unknown("finish", self.finish, FINISHES, "valid finishes")
        if self.precision not in ("float32", "float64"):
            raise unknown("precision", self.precision, ("float32", "float64"), "valid")
        from kvt.training.distributed import check_name

        check_name(self.strategy)
        return self

    def _check_one_learning_rate(self) -> None:
        if self.learning_rate is not None and "learning_rate" in self.opt:
            raise KvtError(f"give the learning rate once: --lr {self.learning_rate!r} or "
                           f"--opt learning_rate={self.opt['learning_rate']!r}, not both")

    def optimizer_hyperparameters(self) -> dict[str, Any]:
        from kvt import optimizers

        self._check_one_learning_rate()
        overrides = dict(self.opt)
        if self.learning_rate is not None:
            overrides["learning_rate"] = self.learning_rate
        return optimizers.hyperparameters(self.optimizer, overrides)


def config_dict(config: TrainConfig) -> dict[str, Any]:
    return asdict(config)
