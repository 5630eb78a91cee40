"""Hyper-parameter search with Keras Tuner (``kvt tune``), on one machine or many.

A search trains kvt's network once per trial with one optimizer and one set of its
hyper-parameters, drawn from the optimizer's search space
(:mod:`kvt.optimizers.search_spaces`, overridden by ``--space``), and scores it by an
objective of the Keras history (``val_mse`` by default: the best epoch's validation
MSE on the scaled target). Trials train exactly as ``kvt train`` does, built from
the same pieces (:func:`kvt.training.trainer.prepare_data`, :func:`~kvt.training.trainer.build_compiled_model`,
:func:`~kvt.training.trainer.fit_inputs`, :func:`~kvt.training.trainer.fit_callbacks`), without the
optional L-BFGS finish; every trial starts from the same seed, and ``best_run/`` is trained
with the same options (``--finish none`` in accurate mode), so it reproduces the best trial.

The three algorithms are Keras Tuner's own tuners — ``RandomSearch``, ``Hyperband``
and ``BayesianOptimization`` — around :class:`KvtHyperModel`, with two additions
(:class:`_KvtOracle`, :class:`_KvtTuner`) that make a long or shared search safe:

* Resume: the Keras Tuner project lives in ``OUT/search`` (``overwrite=False``);
  ``kvt tune --resume`` reloads it, re-runs the trials that were running when the
  search stopped and never repeats a finished one. ``OUT/tune.json`` records the
  options, and a resume with different options is refused.
* Distributed search uses Keras Tuner's chief/worker mode, configured by its
  environment variables ``KERASTUNER_TUNER_ID`` (``chief`` on the chief, a unique
  name on each worker), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``. The
  chief holds the oracle (and writes every result file); workers ask it for trials,
  train them and report back. kvt's chief loop replaces Keras Tuner's: it checks
  every 0.2 s (Keras Tuner's sleeps 20 s at the end) and hands back the trial of a
  worker silent for ``--worker-timeout`` seconds: the trial goes to the retry queue
  (``--retries`` times) and is marked failed after that. Workers send a heartbeat
  every few seconds while they train; a worker that learns its trial was handed to
  another one stops and drops its result. A worker that is restarted with the same
  ``KERASTUNER_TUNER_ID`` gets its unfinished trial back. Workers with options
  different from the chief's are refused (a digest of the options and the data
  travels in every trial). Hyperband continues trials from other trials'
  checkpoints, so its ``--out`` must be a folder every machine shares.

``OUT`` ends up holding ``tune.json``, ``search/`` (Keras Tuner's project),
``trials.csv`` and ``trials.md`` (every trial once: status, hyper-parameters, score,
workers), ``best.json`` (the best trial, with the ``kvt train`` arguments that
reproduce it) and ``best_run/`` (the run directory ``kvt train`` writes for them), and
the marker ``.kvt-artifact.json`` (kind "tune"). A new ``OUT`` is written in place (so
``--resume`` can continue it); ``--force`` replaces only an earlier kvt search, built
aside and swapped in when complete (:func:`kvt.outputs.atomic.directory`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kvt.outputs import atomic
from kvt.errors import KvtError
from kvt.optimizers.search_spaces import Choice, Fixed, Range, parse_override, space_for
from kvt.training.trainer import TrainConfig

ALGORITHMS = ("random", "hyperband", "bayesian")
OBJECTIVES = ("val_mse", "val_loss", "val_mae", "val_log_cosh", "mse", "loss", "mae", "log_cosh")
PROJECT = "search"
SETTINGS_FILE = "tune.json"
BEST_FILE = "best.json"
BEST_RUN = "best_run"
SETTINGS_HP = "kvt/settings"  # a fixed hyper-parameter: the digest of the options every trial carries
DEFAULT_WORKER_TIMEOUT = 300.0
CHIEF_POLL_S = 0.2
IDLE_WAIT_S = 0.5


# ---------------------------------------------------------------- options
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
            raise KvtError(f"unknown algorithm '{self.algorithm}'; valid algorithms: {', '.join(ALGORITHMS)}")
        if isinstance(self.max_trials, bool) or not isinstance(self.max_trials, int) or self.max_trials < 1:
            raise KvtError(f"--max-trials must be a positive integer, got {self.max_trials!r}")
        if self.objective not in OBJECTIVES:
            raise KvtError(f"unknown objective '{self.objective}'; valid objectives: {', '.join(OBJECTIVES)}")
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


def parse_optimizers(text: str) -> tuple[str, ...]:
    """``"adamod"``, ``"adam,sgd"`` or ``"all"`` -> registry names (validated)."""
    from kvt import optimizers

    if str(text).strip().lower() == "all":
        return tuple(optimizers.names())
    names = [part.strip().lower() for part in str(text).split(",")]
    if any(not name for name in names):
        raise KvtError(f"malformed --optimizer '{text}'; give a name, a comma-separated list or all")
    for name in names:
        optimizers.entry(name)
    if len(set(names)) != len(names):
        raise KvtError(f"--optimizer '{text}' lists an optimizer twice")
    return tuple(names)


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


# ---------------------------------------------------------------- distribution
def distributed_role() -> str | None:
    """None (one process), "chief" or "worker", from Keras Tuner's environment variables."""
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
    return "chief" if "chief" in tuner_id else "worker"


# ---------------------------------------------------------------- hyper-model
def _declare(hp, name: str, spec, default):
    if isinstance(spec, Fixed):
        return hp.Fixed(name, spec.value)
    if isinstance(spec, Choice):
        values = list(spec.values)
        return hp.Choice(name, values, default=default if default in values else values[0])
    integral = (isinstance(default, int) and not isinstance(default, bool)
                and float(spec.low).is_integer() and float(spec.high).is_integer())
    if integral:
        low, high = int(spec.low), int(spec.high)
        start = default if low <= default <= high else low
        return hp.Int(name, low, high, sampling="log" if spec.log else "linear", default=start)
    start = float(default) if isinstance(default, (int, float)) and not isinstance(default, bool) \
        and spec.low <= default <= spec.high else spec.low
    return hp.Float(name, spec.low, spec.high, sampling="log" if spec.log else "linear", default=start)


def _mse_metric():
    import keras

    return keras.metrics.MeanSquaredError(name="mse")


def _stop_when_set(event):
    """A Keras callback ending training once ``event`` is set (the trial was taken away)."""
    import keras

    class StopWhenSet(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if event.is_set():
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if event.is_set():
                self.model.stop_training = True

    return StopWhenSet()


def make_hypermodel(tune: TuneConfig, prep, space, digest: str):
    """A ``keras_tuner.HyperModel`` building kvt's network with each trial's optimizer."""
    import keras_tuner
    import numpy as np

    from kvt.training import trainer

    class KvtHyperModel(keras_tuner.HyperModel):
        """kvt's network, compiled with the trial's optimizer and hyper-parameters."""

        def __init__(self):
            super().__init__(name="kvt", tunable=True)
            self.tune, self.prep, self.space, self.digest = tune, prep, space, digest
            self.stop = threading.Event()

        def declare_hyperparameters(self, hp):
            from kvt import optimizers

            names = list(self.space)
            hp.Fixed(SETTINGS_HP, self.digest)
            if len(names) == 1:
                hp.Fixed("optimizer", names[0])
            else:
                hp.Choice("optimizer", names)
            for name in names:
                defaults = optimizers.entry(name).resolved_defaults()
                scope = hp.conditional_scope("optimizer", [name]) if len(names) > 1 else contextlib.nullcontext()
                with scope:
                    for key, spec in self.space[name].items():
                        _declare(hp, f"{name}.{key}", spec, defaults.get(key))

        def trial_config(self, values) -> tuple[TrainConfig, dict[str, Any]]:
            got = values.get(SETTINGS_HP)
            if got != self.digest:
                raise keras_tuner.errors.FatalError(
                    f"this process's kvt tune options or data differ from the chief's (options digest "
                    f"{self.digest}, the chief's {got}); run every process with the same options and data")
            name, opt = trial_hyperparameters(values)
            base = asdict(self.tune.train_config(name))
            # A searched learning rate replaces the mode's (accurate mode's 1e-2), never the other way.
            config = TrainConfig(**{**base, "opt": opt,
                                    "learning_rate": None if "learning_rate" in opt else base["learning_rate"]})
            try:
                hparams = config.optimizer_hyperparameters()
            except KvtError as exc:
                raise keras_tuner.errors.FailedTrialError(str(exc)) from None
            return config, hparams

        def build(self, hp):
            config, hparams = self.trial_config(hp.values)
            trainer.seed_everything(config.seed)
            try:
                return trainer.build_compiled_model(config, self.prep, hparams, None,
                                                     extra_metrics=[_mse_metric])
            except KvtError as exc:
                raise keras_tuner.errors.FailedTrialError(str(exc)) from None

        def fit(self, hp, model, *args, callbacks=None, epochs=None, initial_epoch=0, **kwargs):
            config, _ = self.trial_config(hp.values)
            callbacks = [*trainer.fit_callbacks(config, self.prep), _stop_when_set(self.stop), *(callbacks or [])]
            history = model.fit(**trainer.fit_inputs(config, self.prep), epochs=epochs or self.prep.keras_epochs,
                                initial_epoch=initial_epoch, callbacks=callbacks, shuffle=False, verbose=0)
            losses = np.array([history.history.get(k, []) for k in ("loss", "val_loss") if k in history.history],
                              dtype=float)
            if losses.size == 0 or not np.all(np.isfinite(losses)):
                bad = int(np.argmax(~np.isfinite(losses).all(axis=0))) + 1 + initial_epoch if losses.size else 1
                raise keras_tuner.errors.FailedTrialError(
                    f"training diverged at epoch {bad} (loss is NaN or infinite)")
            return history

    return KvtHyperModel()


# ---------------------------------------------------------------- oracle and tuner additions
def _now() -> float:
    return time.time()


class _KvtOracle:
    """Mixed into Keras Tuner's oracles: attempt records, heartbeats, dead-worker hand-back.

    ``attempts`` (saved in ``oracle.json``) lists per trial who ran it, when, and how it
    ended. ``progress`` is called as ``progress(event, trial, attempt)`` on the process
    holding the oracle (the chief, or the only process).
    """

    def _kvt_init(self):
        self.attempts: dict[str, list[dict[str, Any]]] = {}
        self.last_seen: dict[str, float] = {}
        self.progress = None

    def _emit(self, event, trial, attempt):
        if self.progress is not None:
            with contextlib.suppress(Exception):
                self.progress(event, trial, attempt, len(self.attempts.get(trial.trial_id, [])))

    def get_state(self):
        state = super().get_state()
        state["kvt_attempts"] = self.attempts
        return state

    def set_state(self, state):
        super().set_state(state)
        self.attempts = {k: list(v) for k, v in state.get("kvt_attempts", {}).items()}

    def reload(self):
        super().reload()  # trials that were running go to the retry queue
        for attempts in self.attempts.values():
            for attempt in attempts:
                if attempt.get("ended") is None:
                    attempt.update(status="INTERRUPTED", message="the search stopped while it ran")

    def _owner(self, trial_id):
        for tuner_id, trial in self.ongoing_trials.items():
            if trial.trial_id == trial_id:
                return tuner_id
        return None

    def create_trial(self, tuner_id):
        from keras_tuner.src.engine import trial as trial_module

        with _oracle_lock(self):
            self.last_seen[tuner_id] = _now()
            if tuner_id in self.ongoing_trials:
                return self.ongoing_trials[tuner_id]
            trial = super().create_trial(tuner_id)
            if trial.status == trial_module.TrialStatus.RUNNING:
                attempt = {"worker": tuner_id, "started": _now(), "ended": None, "status": "RUNNING",
                           "message": None}
                self.attempts.setdefault(trial.trial_id, []).append(attempt)
                self.save()
                self._emit("start", trial, attempt)
            elif trial.status == trial_module.TrialStatus.STOPPED and self.ongoing_trials:
                # Keep the worker until the last running trial ends: if that trial's worker
                # dies, the trial goes back to the queue and needs someone to run it.
                self.tuner_ids.add(tuner_id)
                return trial_module.Trial(self.get_space(), status=trial_module.TrialStatus.IDLE)
            return trial

    def update_trial(self, trial_id, metrics, step=0):
        with _oracle_lock(self):
            if self._owner(trial_id) is None:
                return self.trials[trial_id]  # a late report for a trial taken away: dropped
            return super().update_trial(trial_id, metrics, step=step)

    def end_trial(self, trial):
        with _oracle_lock(self):
            owner = self._owner(trial.trial_id)
            if owner is None:
                print(f"ignoring a late result for trial {trial.trial_id}: it was handed to another worker "
                      f"or the chief restarted", file=sys.stderr)
                return
            self._finish(trial, owner)

    def _finish(self, trial, owner):
        super().end_trial(trial)
        ended = self.trials[trial.trial_id]
        attempt = next((a for a in reversed(self.attempts.get(trial.trial_id, [])) if a["worker"] == owner
                        and a["ended"] is None), None)
        if attempt is not None:
            attempt.update(ended=_now(), status=trial.status, message=_last_line(trial.message))
        self.save()
        self._emit("end", ended, attempt)

    def get_trial(self, trial_id):
        from keras_tuner.src.engine import trial as trial_module

        if "@" not in str(trial_id):
            return super().get_trial(trial_id)
        with _oracle_lock(self):  # a heartbeat: "<trial id>@<tuner id>"
            trial_id, _, tuner_id = str(trial_id).partition("@")
            self.last_seen[tuner_id] = _now()
            held = self.ongoing_trials.get(tuner_id)
            status = (trial_module.TrialStatus.RUNNING if held is not None and held.trial_id == trial_id
                      else trial_module.TrialStatus.STOPPED)
            return trial_module.Trial(self.get_space(), trial_id=trial_id, status=status)

    def expire_silent_workers(self, timeout: float) -> None:
        """Hand back the trials of workers not heard from for ``timeout`` seconds."""
        from keras_tuner.src.engine import trial as trial_module

        with _oracle_lock(self):
            now = _now()
            for tuner_id in list(self.tuner_ids):
                if now - self.last_seen.get(tuner_id, now) <= timeout:
                    continue
                self.tuner_ids.discard(tuner_id)
                self.last_seen.pop(tuner_id, None)
                held = self.ongoing_trials.get(tuner_id)
                if held is None:
                    continue
                lost = trial_module.Trial(held.hyperparameters.copy(), trial_id=held.trial_id,
                                          status=trial_module.TrialStatus.INVALID)
                lost.message = f"worker {tuner_id} stopped responding for {timeout:g} s"
                self._finish(lost, tuner_id)

    def finished(self) -> bool:
        with _oracle_lock(self):
            return not self.ongoing_trials and not self.tuner_ids


@contextlib.contextmanager
def _oracle_lock(oracle):
    """Keras Tuner's per-oracle lock (the one its ``@synchronized`` methods take), re-entrant per thread."""
    from keras_tuner.src.engine import oracle as oracle_module

    name = threading.current_thread().name
    need = oracle_module.THREADS[oracle] != name
    if need:
        oracle_module.LOCKS[oracle].acquire()
        oracle_module.THREADS[oracle] = name
    try:
        yield
    finally:
        if need:
            oracle_module.THREADS[oracle] = None
            oracle_module.LOCKS[oracle].release()


def _last_line(message) -> str | None:
    if not message:
        return None
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else None


class _Abandoned(Exception):
    """This worker's trial was handed to another worker while it trained."""


class _KvtTuner:
    """Mixed into Keras Tuner's tuners: kvt's search loop, chief loop and heartbeats."""

    def _kvt_init(self, worker_timeout: float, stream, quiet: bool):
        self.worker_timeout = float(worker_timeout)
        self.stream = stream
        self.quiet = quiet
        self.trials_run = 0
        self._abandoned = False
        self._beat_stop = None

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        """kvt passes no TensorBoard callback; Keras Tuner's version imports tensorboard regardless."""

    def _try_run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        from keras_tuner.src import config as kt_config

        kt_config.DEBUG = False  # a failed trial is one line of progress (its message), not a traceback
        return super()._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)

    def _populate_initial_space(self):
        # The whole space is declared up front, so Keras Tuner's probing builds (one model
        # per conditional scope) are not needed.
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def _say(self, text):
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def search(self, *fit_args, **fit_kwargs):
        from keras_tuner.src.distribute import utils as dist_utils
        from keras_tuner.src.engine import trial as trial_module

        if dist_utils.is_chief_oracle():
            self.save()
            self._serve()
            return
        self.on_search_begin()
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            if trial.status == trial_module.TrialStatus.STOPPED:
                break
            if trial.status == trial_module.TrialStatus.IDLE:
                time.sleep(IDLE_WAIT_S)
                continue
            self.on_trial_begin(trial)
            self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            self.on_trial_end(trial)
        self.on_search_end()

    def _serve(self):
        """The chief: serve the oracle over gRPC until every trial is done and every worker told."""
        from concurrent import futures

        import grpc
        from keras_tuner.src import protos
        from keras_tuner.src.distribute import oracle_chief

        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        servicer = oracle_chief.OracleServicer(self.oracle)
        protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError:
            bound = 0
        if not bound:
            raise KvtError(f"the chief cannot listen on {address} (KERASTUNER_ORACLE_IP/PORT); "
                           f"is the port in use or the address not this machine's?")
        server.start()
        self._say(f"chief: serving the search on {address}; start the workers")
        try:
            while True:
                time.sleep(CHIEF_POLL_S)
                self.oracle.expire_silent_workers(self.worker_timeout)
                if servicer.stop_triggered and self.oracle.finished():
                    break
        finally:
            server.stop(grace=2).wait(5)

    def _heartbeat(self, trial_id, stop):
        interval = max(0.2, min(5.0, self.worker_timeout / 5))
        while not stop.wait(interval):
            try:
                answer = self.oracle.get_trial(f"{trial_id}@{self.tuner_id}")
            except Exception:  # the chief is unreachable: keep training, it decides
                continue
            if answer.status != "RUNNING":
                self._abandoned = True
                self.hypermodel.stop.set()
                return

    def on_trial_begin(self, trial):
        self._abandoned = False
        self.hypermodel.stop.clear()
        if self._is_worker():
            self._beat_stop = threading.Event()
            threading.Thread(target=self._heartbeat, args=(trial.trial_id, self._beat_stop), daemon=True).start()
            self._say(f"{self.tuner_id}: trial {trial.trial_id} started: {describe(trial.hyperparameters.values)}")
        super().on_trial_begin(trial)

    def run_trial(self, trial, *args, **kwargs):
        results = super().run_trial(trial, *args, **kwargs)
        if self._abandoned:
            raise _Abandoned(f"trial {trial.trial_id} was handed to another worker")
        return results

    def on_trial_end(self, trial):
        if self._beat_stop is not None:
            self._beat_stop.set()
            self._beat_stop = None
        if self._abandoned:
            self._say(f"{self.tuner_id}: trial {trial.trial_id} was handed to another worker; result dropped")
            self.save()
            return
        super().on_trial_end(trial)
        self.trials_run += 1
        if self._is_worker():
            self._say(f"{self.tuner_id}: trial {trial.trial_id} {trial.status.lower()}")


def _tuner_classes():
    import keras_tuner
    from keras_tuner import oracles

    def oracle_class(base):
        class Oracle(_KvtOracle, base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self._kvt_init()

        Oracle.__name__ = Oracle.__qualname__ = f"Kvt{base.__name__}"
        return Oracle

    def tuner_class(base):
        class Tuner(_KvtTuner, base):
            def __init__(self, oracle, hypermodel, worker_timeout, stream, quiet, **kwargs):
                self._kvt_init(worker_timeout, stream, quiet)
                # keras_tuner's RandomSearch/Hyperband/BayesianOptimization only build their
                # oracle in __init__; kvt passes its own (with the additions above).
                keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)

        Tuner.__name__ = Tuner.__qualname__ = f"Kvt{base.__name__}"
        return Tuner

    return {
        "random": (tuner_class(keras_tuner.RandomSearch), oracle_class(oracles.RandomSearchOracle)),
        "hyperband": (tuner_class(keras_tuner.Hyperband), oracle_class(oracles.HyperbandOracle)),
        "bayesian": (tuner_class(keras_tuner.BayesianOptimization),
                     oracle_class(oracles.BayesianOptimizationOracle)),
    }


def oracle_seed(seed: int) -> int:
    """The oracle's seed for ``--seed``: a large number derived from it.

    Keras Tuner takes 0 for "no seed", and its random search seeds Python's ``random`` with
    consecutive small integers, whose first draws cluster (seeds 3, 8, 13, 18 all give
    0.18-0.26); a hashed seed spreads the samples.
    """
    return int(hashlib.sha256(f"kvt tune {seed}".encode()).hexdigest()[:8], 16) % (2 ** 31 - 2) + 1


def make_tuner(tune: TuneConfig, hypermodel, prep, out: Path, stream=None, quiet: bool = False):
    """The Keras Tuner tuner of ``tune.algorithm`` on project ``out/search`` (reloaded if it exists)."""
    import keras_tuner

    tuner_cls, oracle_cls = _tuner_classes()[tune.algorithm]
    common = dict(objective=keras_tuner.Objective(tune.objective, direction="min"),
                  seed=oracle_seed(tune.seed),
                  max_retries_per_trial=tune.retries, max_consecutive_failed_trials=10 ** 9)
    if tune.algorithm == "hyperband":
        oracle = oracle_cls(max_epochs=prep.keras_epochs, factor=3, hyperband_iterations=1, **common)
        oracle.max_trials = tune.max_trials
    else:
        oracle = oracle_cls(max_trials=tune.max_trials, **common)
    oracle.verbose = 0
    tuner = tuner_cls(oracle, hypermodel, tune.worker_timeout, stream or sys.stderr, quiet,
                      directory=str(out), project_name=PROJECT, overwrite=False)
    tuner.oracle.max_trials = tune.max_trials  # a resumed search takes the new --max-trials
    return tuner


# ---------------------------------------------------------------- results
def trial_hyperparameters(values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A trial's optimizer and its hyper-parameters (in the optimizer's constructor order)."""
    from kvt import optimizers

    name = values.get("optimizer")
    prefix = f"{name}."
    hps = {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}
    try:
        order = optimizers.entry(name).hyperparameter_names()
    except KvtError:
        order = []
    return name, dict(sorted(hps.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def describe(values: dict[str, Any]) -> str:
    name, hps = trial_hyperparameters(values)
    parts = [f"{k}={_fmt(v)}" for k, v in hps.items()]
    if "tuner/epochs" in values:
        parts.append(f"epochs {values.get('tuner/initial_epoch', 0)}->{values['tuner/epochs']}")
    return f"{name} " + " ".join(parts)


def _fmt(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _literal(value) -> str:
    """A value as ``--opt`` / ``--lr`` text that parses back to exactly the same value."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def trial_table(oracle, objective: str):
    """One row per trial, in trial order."""
    import pandas as pd

    rows, keys = [], []
    for trial_id in sorted(oracle.trials, key=lambda t: (0, int(t), t) if str(t).isdigit() else (1, 0, str(t))):
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        name, hps = trial_hyperparameters(values)
        keys += [k for k in hps if k not in keys]
        attempts = getattr(oracle, "attempts", {}).get(trial_id, [])
        last = attempts[-1] if attempts else {}
        seconds = (last["ended"] - last["started"]) if last.get("ended") and last.get("started") else None
        completed = trial.status == "COMPLETED" and trial.score is not None
        rows.append({"trial": trial_id, "status": trial.status, "optimizer": name, **hps,
                     objective: trial.score if completed else None,
                     "best_epoch": trial.best_step + 1 if completed and trial.best_step is not None else None,
                     "epochs": values.get("tuner/epochs"), "from_trial": values.get("tuner/trial_id"),
                     "workers": " ".join(a["worker"] for a in attempts), "attempts": len(attempts),
                     "seconds": round(seconds, 2) if seconds is not None else None,
                     "message": _last_line(trial.message) if trial.status != "COMPLETED" else None})
    columns = ["trial", "status", "optimizer", *keys, objective, "best_epoch", "epochs", "from_trial", "workers",
               "attempts", "seconds", "message"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("epochs", "from_trial"):
        if frame[column].isna().all():
            frame = frame.drop(columns=column)
    return frame


def markdown_table(frame) -> str:
    def cell(value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.astype(object).itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def train_arguments(tune: TuneConfig, base: TrainConfig, optimizer: str, hparams: dict[str, Any],
                    dataset=None) -> list[str]:
    """The ``kvt train`` arguments that reproduce a trial (as its best run directory)."""
    from kvt.data.datasets import load_dataset

    dataset = dataset if dataset is not None else load_dataset(tune.data)
    args = ["--pair", dataset.pair] if dataset.pair else ["--data", str(tune.data)]
    if base.mode != "study":
        args += ["--mode", base.mode]
    args += ["--optimizer", optimizer]
    hparams = dict(hparams)
    if "learning_rate" in hparams:
        args += ["--lr", _literal(hparams.pop("learning_rate"))]
    for key, value in hparams.items():
        args += ["--opt", f"{key}={_literal(value)}"]
    from kvt.training.trainer import MODE_DEFAULTS

    if base.finish != MODE_DEFAULTS[base.mode]["finish"]:
        args += ["--finish", base.finish]
    args += ["--epochs", str(base.epochs), "--batch-size", str(base.batch_size),
             "--val-fraction", _literal(float(base.val_fraction)), "--patience", str(base.patience),
             "--units", str(base.units), "--seed", str(base.seed)]
    return args


@dataclass
class TuneOutcome:
    role: str  # "local", "chief" or "worker"
    out: Path
    trials: Any = None  # the trial table (DataFrame), chief/local only
    best: dict[str, Any] | None = None
    best_run: Path | None = None
    best_run_metrics: dict[str, Any] | None = None
    trials_run: int = 0
    tuner_id: str | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the command
def _prepare_out(out: Path, record: dict[str, Any], resume: bool, force: bool, role: str | None, inputs=()):
    """Check ``out`` before any training; return the folder context the search writes in.

    A new ``out`` (or one holding only early workers' files) and a resumed one are
    written in place, so that an interrupted search can be resumed; ``force`` on an
    earlier search builds the new one in a temporary folder swapped in at the end
    (:func:`kvt.outputs.atomic.directory`), which a distributed search cannot do (its
    workers write into ``out``).
    """
    settings_path = out / SETTINGS_FILE
    if resume:
        if not settings_path.is_file():
            raise KvtError(f"nothing to resume in {out}: it has no {SETTINGS_FILE} from kvt tune")
        try:
            old = json.loads(settings_path.read_text())["settings"]
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise KvtError(f"{settings_path} is corrupted ({exc.__class__.__name__})") from None
        for key, value in record["settings"].items():
            if old.get(key) != value:
                raise KvtError(f"{out} was searched with {key} {_short(old.get(key))}, not {_short(value)}; "
                               f"resume with the same options or start a new --out")
        return atomic.directory(out, "tune", resume=True, inputs=inputs)
    if out.exists() and not out.is_dir():
        raise KvtError(f"{out} is a file, not a directory")
    if role == "chief":
        # Workers create ``out`` whenever they start, before or after the chief: make it now, so
        # that a worker's folder appearing after this check is not taken for an earlier search.
        out.mkdir(parents=True, exist_ok=True)
    if out.exists() and _only_worker_files(out):
        return atomic.directory(out, "tune", resume=True, inputs=inputs)
    if out.exists():
        if atomic.kind_of(out) is None and any(out.iterdir()):
            raise KvtError(f"{out} exists and is not a kvt tune directory; give a new --out")
        atomic.check(out, "tune", force, inputs,
                     exists=f"{out} already exists; pass --resume to continue its search or --force to start over")
        if role == "chief":
            raise KvtError(f"--force cannot replace {out} in a distributed search (the workers write into it); "
                           f"give a new --out")
    return atomic.directory(out, "tune", force=force, inputs=inputs, in_place=True)


def _only_worker_files(out: Path) -> bool:
    """True for an empty folder, or one holding only what workers that started before
    the chief create (the project folder, their own state files, no oracle)."""
    for path in out.iterdir():
        if path.name != PROJECT or not path.is_dir():
            return False
        for inner in path.iterdir():
            if not (inner.is_file() and inner.suffix == ".json" and inner.name != "oracle.json"):
                return False
    return True


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def run(tune: TuneConfig, out, resume: bool = False, force: bool = False, quiet: bool = False,
        command: list[str] | None = None, stream=None) -> TuneOutcome:
    """Run (or join, or resume) a search; on the chief or alone, write the results into ``out``."""
    stream = stream or sys.stderr
    role = distributed_role()
    tune = tune.validate()
    base = tune.train_config()
    space = resolve_space(tune.optimizers, tune.space)

    from kvt.data.datasets import load_dataset

    dataset = load_dataset(tune.data)
    settings = settings_record(tune, base, space, dataset.sha256)
    digest = settings_digest(settings)
    out = Path(out)
    record = {"kvt_tune": 1, "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "command": command, "settings": settings, "digest": digest,
              "max_trials": tune.max_trials, "retries": tune.retries}
    inputs = [dataset.path]
    if role == "worker":
        out.mkdir(parents=True, exist_ok=True)  # its trials' checkpoints (Hyperband reads them back)
        folder = contextlib.nullcontext(out)
    else:
        folder = _prepare_out(out, record, resume, force, role, inputs)
    with folder as work:
        if role != "worker" and not resume:
            atomic.write_text(work / SETTINGS_FILE, json.dumps(record, indent=2) + "\n", force=True)
        return _search(tune, base, dataset, space, digest, out, work, role, command, stream, quiet)


def _search(tune, base, dataset, space, digest, out: Path, work: Path, role, command, stream, quiet) -> TuneOutcome:
    """The search itself, written in ``work`` (``out``, or its replacement being built)."""
    import keras_tuner
    import tensorflow as tf
    from keras_tuner.src.engine import conditions

    from kvt.training.trainer import prepare_data

    conditions.print = lambda *args, **kwargs: None  # keras-tuner 1.4.8 prints every condition it sends
    tf.get_logger().setLevel("ERROR")  # retracing notices: every trial builds a new model by design
    prep = prepare_data(base, dataset)
    hypermodel = make_hypermodel(tune, prep, space, digest)
    progress = _Progress(tune, stream, quiet)
    with contextlib.redirect_stdout(stream):  # Keras Tuner prints; kvt's stdout is the summary
        try:
            tuner = make_tuner(tune, hypermodel, prep, work, stream=stream, quiet=quiet)
            if role != "worker":
                tuner.oracle.progress = progress
            tuner.search()
        except keras_tuner.errors.FatalError as exc:
            raise KvtError(_last_line(str(exc)) or exc.__class__.__name__) from None
        except RuntimeError as exc:
            if "Error reloading `Oracle`" in str(exc):
                raise KvtError(f"cannot reload the search in {out / PROJECT}: {_last_line(str(exc))}") from None
            raise
    if role == "worker":
        return TuneOutcome(role="worker", out=out, trials_run=tuner.trials_run, tuner_id=tuner.tuner_id)
    return _write_results(tune, base, tuner.oracle, out, command, role or "local", stream, quiet, dataset,
                          work=work)


class _Progress:
    """Trial start/end lines on the terminal (the chief's or the only process's)."""

    def __init__(self, tune: TuneConfig, stream, quiet: bool):
        self.tune, self.stream, self.quiet = tune, stream, quiet
        self.width = len(str(tune.max_trials))

    def __call__(self, event, trial, attempt, attempts):
        if self.quiet:
            return
        where = f" on {attempt['worker']}" if attempt and distributed_role() else ""
        label = f"trial {trial.trial_id}"
        if event == "start":
            again = f" (attempt {attempts})" if attempts > 1 else ""
            text = f"{label}{where}{again}: {describe(trial.hyperparameters.values)}"
        else:
            took = ""
            if attempt and attempt.get("ended") and attempt.get("started"):
                took = f" in {attempt['ended'] - attempt['started']:.1f} s"
            if trial.status == "COMPLETED":
                text = f"{label} completed{took}: {self.tune.objective} {trial.score:.4g}"
            elif trial.status == "INVALID":
                text = f"{label} stopped{took}: {_last_line(trial.message)}; it will run again"
            else:
                text = f"{label} failed{took}: {_last_line(trial.message)}"
        print(text, file=self.stream, flush=True)


def _write_results(tune: TuneConfig, base: TrainConfig, oracle, out: Path, command, role: str, stream,
                   quiet: bool, dataset=None, work: Path | None = None) -> TuneOutcome:
    work = work or out  # where the files go now; out is where they end up
    table = trial_table(oracle, tune.objective)
    atomic.write_text(work / "trials.csv", table.to_csv(index=False, float_format="%.6g", lineterminator="\n"),
                      force=True)
    atomic.write_text(work / "trials.md", markdown_table(table), force=True)
    outcome = TuneOutcome(role=role, out=out, trials=table)
    best_trials = [t for t in oracle.get_best_trials(1) if t.status == "COMPLETED" and t.score is not None]
    if not best_trials:
        raise KvtError(f"no trial completed ({len(table)} ran); see {out / 'trials.md'} for the reasons")
    best = best_trials[0]
    optimizer, hparams = trial_hyperparameters(best.hyperparameters.values)
    args = train_arguments(tune, base, optimizer, hparams, dataset)
    best_record = {"trial": best.trial_id, "objective": tune.objective, "score": best.score,
                   "best_epoch": best.best_step + 1, "optimizer": optimizer, "hyperparameters": hparams,
                   "kvt_train_args": args, "kvt_train": "kvt train " + " ".join(args) + f" --out {out / BEST_RUN}"}
    best_path = work / BEST_FILE
    try:
        previous = json.loads(best_path.read_text()) if best_path.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        previous = None  # rewritten below
    run_dir = work / BEST_RUN
    stale = previous is None or previous.get("kvt_train_args") != args or not (run_dir / "metadata.json").is_file()
    if stale:
        if not quiet:
            print(f"training the best trial ({best.trial_id}) as kvt train does, into {run_dir}", file=stream,
                  flush=True)
        from kvt.optimizers import parse_options
        from kvt.outputs.rundir import save_run
        from kvt.training.trainer import train

        lr = hparams.get("learning_rate")
        config = TrainConfig(data=tune.data, mode=base.mode, optimizer=optimizer, learning_rate=lr,
                             opt=parse_options([f"{k}={_literal(v)}" for k, v in hparams.items()
                                                if k != "learning_rate"]),
                             epochs=base.epochs, batch_size=base.batch_size, val_fraction=base.val_fraction,
                             patience=base.patience, units=base.units, seed=base.seed, finish=base.finish)
        result = train(config, dataset=dataset)
        save_run(result, run_dir, force=True, command=["kvt", "train", *args])
        outcome.best_run_metrics = result.metrics
    else:
        outcome.best_run_metrics = json.loads((run_dir / "metadata.json").read_text()).get("metrics")
    atomic.write_text(best_path, json.dumps(best_record, indent=2) + "\n", force=True)
    outcome.best, outcome.best_run = best_record, out / BEST_RUN
    return outcome
