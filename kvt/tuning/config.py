"""What a search is: its options (:class:`TuneConfig`), the searched spaces, the settings record.

The settings record (:func:`settings_record`) holds what every process of one search must
agree on; its digest (:func:`settings_digest`) travels in every trial, so a worker started
with other options or data is refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import Any

from kvt.errors import KvtError, unknown
from kvt.optimizers.search_spaces import Choice, Range, parse_override, space_for
from kvt.training.config import TrainConfig

ALGORITHMS = ("random", "hyperband", "bayesian")
OBJECTIVES = ("val_mse", "val_loss", "val_mae", "val_log_cosh", "mse", "loss", "mae", "log_cosh")
PROJECT = "search"
SETTINGS_FILE = "tune.json"
BEST_FILE = "best.json"
BEST_RUN = "best_run"
SETTINGS_HP = "kvt/settings"  # a fixed hyper-parameter: the digest of the options every trial carries
DEFAULT_WORKER_TIMEOUT = 300.0


@dataclass
class TuneConfig:
    """Every option of a search. Training options left as None take the mode's defaults."""

    data: str = "O2-Ar"
    optimizers: tuple[str, ...] = ("adamod",)
    algorithm: str = "random"
    max_trials: int = 10
    objective: str = "val_mse"
    space: tuple[str, ...] = ()  # --space overrides, as given
    mode: str = "study"
    epochs: int | None = None
    batch_size: int | None = None
    val_fraction: float | None = None
    patience: int | None = None
    units: int | None = None
    seed: int = 0
    retries: int = 1  # re-runs of a crashed or abandoned trial before it is marked failed
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT

    def train_config(self, optimizer: str | None = None) -> TrainConfig:
        """The resolved training options of a trial.

        No L-BFGS finish (``finish="none"``, whatever the mode's default): a trial is scored
        on its Keras history, and ``best_run/`` reproduces the best trial with the same options.
        """
        return TrainConfig(data=self.data, mode=self.mode, optimizer=optimizer or self.optimizers[0],
                           epochs=self.epochs, batch_size=self.batch_size, val_fraction=self.val_fraction,
                           patience=self.patience, units=self.units, seed=self.seed, finish="none").resolved()

    def validate(self) -> "TuneConfig":
        if self.algorithm not in ALGORITHMS:
            raise unknown("algorithm", self.algorithm, ALGORITHMS)
        if isinstance(self.max_trials, bool) or not isinstance(self.max_trials, int) or self.max_trials < 1:
            raise KvtError(f"--max-trials must be a positive integer, got {self.max_trials!r}")
        if self.objective not in OBJECTIVES:
            raise unknown("objective", self.objective, OBJECTIVES)
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise KvtError(f"--retries must be an integer >= 0, got {self.retries!r}")
        if not (isinstance(self.worker_timeout, (int, float)) and math.isfinite(self.worker_timeout)
                and self.worker_timeout > 0):
            raise KvtError(f"--worker-timeout must be a number of seconds > 0, got {self.worker_timeout!r}")
        if not self.optimizers:
            raise KvtError("give at least one optimizer")
        base = self.train_config()
        if self.objective.startswith("val_") and base.val_fraction == 0:
            raise KvtError(f"objective {self.objective} needs a validation split; give --val-fraction "
                           f"or an objective without val_ (e.g. --objective loss)")
        return self

def resolve_space(names, overrides) -> dict[str, dict[str, Any]]:
    """Each searched optimizer's space: its declared one with the ``--space`` overrides applied."""
    from kvt import optimizers

    space = {name: space_for(name) for name in names}
    for item in overrides:
        target, key, spec = parse_override(item)
        if target is not None and target not in space:
            raise KvtError(f"--space '{item}' names optimizer '{target}', which is not searched "
                           f"(searched: {', '.join(names)})")
        targets = [target] if target else list(names)
        valid = [n for n in targets if key in optimizers.entry(n).hyperparameter_names()]
        if not valid:
            shown = targets[0]
            raise KvtError(f"--space '{item}': '{key}' is not a hyper-parameter of {', '.join(targets)}; "
                           f"valid keys: {', '.join(optimizers.entry(shown).hyperparameter_names())}")
        for name in valid:
            _check_spec(name, key, spec, item)
            space[name][key] = spec
    return space


def _check_spec(name: str, key: str, spec, item: str) -> None:
    """Type-check a spec's values against the optimizer (a word for a rate, ...)."""
    from kvt import optimizers

    if isinstance(spec, Range):
        samples = [spec.low, spec.high]
    elif isinstance(spec, Choice):
        samples = list(spec.values)
    else:
        samples = [spec.value]
    for value in samples:
        if value is None or isinstance(value, (tuple, list, dict)):
            raise KvtError(f"--space '{item}': {value!r} cannot be searched; set it with kvt train --opt")
        try:
            optimizers.hyperparameters(name, {key: value})
        except KvtError as exc:
            raise KvtError(f"--space '{item}': {exc}") from None


def space_text(space) -> dict[str, dict[str, str]]:
    return {name: {key: spec.text() for key, spec in keys.items()} for name, keys in space.items()}


def settings_record(tune: TuneConfig, base: TrainConfig, space, dataset_sha256: str) -> dict[str, Any]:
    """What every process of one search must agree on (not max_trials, retries or timeouts)."""
    return {"data": tune.data, "dataset_sha256": dataset_sha256, "optimizers": list(tune.optimizers),
            "algorithm": tune.algorithm, "objective": tune.objective, "space": space_text(space),
            "mode": base.mode, "epochs": base.epochs, "batch_size": base.batch_size,
            "val_fraction": base.val_fraction, "patience": base.patience, "units": base.units,
            "seed": base.seed, "schedule": base.schedule, "min_lr": base.min_lr, "precision": base.precision}


def settings_digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def distributed_role() -> str | None:
    """None (one process), "chief" or "worker", from Keras Tuner's environment variables.

    The variables are checked here, each problem one ``KvtError`` line (Keras Tuner raises
    a ``RuntimeError`` for some and ignores the others); which process is the chief is
    Keras Tuner's own rule.
    """
    ip = os.environ.get("KERASTUNER_ORACLE_IP")
    port = os.environ.get("KERASTUNER_ORACLE_PORT")
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if ip is None:
        if port is not None:
            raise KvtError("KERASTUNER_ORACLE_PORT is set but KERASTUNER_ORACLE_IP is not; set both "
                           "(the chief's address) or neither")
        return None
    if not ip.strip():
        raise KvtError("KERASTUNER_ORACLE_IP is empty; set it to the chief's address")
    if port is None or not port.strip().isdigit() or not 0 < int(port) < 65536:
        raise KvtError(f"KERASTUNER_ORACLE_PORT must be a port number 1-65535, got {port!r}")
    if not tuner_id or not tuner_id.strip():
        raise KvtError("KERASTUNER_ORACLE_IP is set but KERASTUNER_TUNER_ID is not; use 'chief' on the chief "
                       "and a unique name (worker0, worker1, ...) on each worker")
    if "@" in tuner_id:
        raise KvtError(f"KERASTUNER_TUNER_ID {tuner_id!r} must not contain '@'")
    from keras_tuner.src.distribute import utils as dist_utils

    return "chief" if dist_utils.is_chief_oracle() else "worker"

