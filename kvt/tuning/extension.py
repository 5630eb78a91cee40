"""kvt's extension of Keras Tuner's private machinery (``kvt tune``), written for keras-tuner 1.4.8.

Keras Tuner's tuners and oracles, with additions that make a long or shared search safe:
attempt records saved in ``oracle.json``, heartbeats from the workers, the trial of a
silent worker handed back (:meth:`_KvtOracle.expire_silent_workers`), a chief loop that
polls every 0.2 s instead of sleeping 20 s at the end, and no probing builds. These
override private methods (``BaseTuner._populate_initial_space``,
``BaseTuner._try_run_and_update_trial``, ``Tuner._configure_tensorboard_dir``), take the
private per-oracle lock of ``keras_tuner.src.engine.oracle`` and serve the oracle with
``keras_tuner.src.distribute.oracle_chief``; :func:`quiet_conditions` silences a debugging
``print`` of keras-tuner's for the search, and a failed trial's traceback is turned off
for that trial's call only. :func:`tuner_classes` and :func:`quiet_conditions` check the
installed keras-tuner with :func:`kvt.patches.require` before any of it is used.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Any

from kvt.errors import KvtError
from kvt.patches import require
from kvt.tuning.results import _last_line, describe

LOWEST, BELOW = "1.4.8", "1.5"
PATCH = "kvt tune's Keras Tuner extension"
CHIEF_POLL_S = 0.2
IDLE_WAIT_S = 0.5


def check() -> str:
    """The installed keras-tuner version, if this extension supports it (else one ``KvtError``)."""
    return require("keras-tuner", LOWEST, BELOW, PATCH)


def without_checkpoints(callbacks) -> list:
    """``callbacks`` without Keras Tuner's per-epoch weight checkpoint (``SaveBestEpoch`` of
    ``keras_tuner.src.engine.tuner_utils``, keras-tuner 1.4.8), which only Hyperband reads back."""
    check()
    from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

    return [c for c in callbacks if not isinstance(c, SaveBestEpoch)]


@contextlib.contextmanager
def quiet_conditions():
    """Silence keras-tuner's debugging ``print`` of every condition it sends, for one search.

    ``Parent.to_proto`` in ``keras_tuner.src.engine.conditions`` prints (keras-tuner 1.4.8);
    a module global ``print`` shadows the built-in there while the block runs.
    """
    check()
    from keras_tuner.src.engine import conditions

    had = "print" in vars(conditions)
    saved = vars(conditions).get("print")
    conditions.print = lambda *args, **kwargs: None
    try:
        yield
    finally:
        if had:
            conditions.print = saved
        else:
            del conditions.print


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
            self.last_seen[tuner_id] = time.monotonic()
            if tuner_id in self.ongoing_trials:
                return self.ongoing_trials[tuner_id]
            trial = super().create_trial(tuner_id)
            if trial.status == trial_module.TrialStatus.RUNNING:
                attempt = {"worker": tuner_id, "started": time.time(), "ended": None, "status": "RUNNING",
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
            attempt.update(ended=time.time(), status=trial.status, message=_last_line(trial.message))
        self.save()
        self._emit("end", ended, attempt)

    def get_trial(self, trial_id):
        from keras_tuner.src.engine import trial as trial_module

        if "@" not in str(trial_id):
            return super().get_trial(trial_id)
        with _oracle_lock(self):  # a heartbeat: "<trial id>@<tuner id>"
            trial_id, _, tuner_id = str(trial_id).partition("@")
            self.last_seen[tuner_id] = time.monotonic()
            held = self.ongoing_trials.get(tuner_id)
            status = (trial_module.TrialStatus.RUNNING if held is not None and held.trial_id == trial_id
                      else trial_module.TrialStatus.STOPPED)
            return trial_module.Trial(self.get_space(), trial_id=trial_id, status=status)

    def expire_silent_workers(self, timeout: float) -> None:
        """Hand back the trials of workers not heard from for ``timeout`` seconds."""
        from keras_tuner.src.engine import trial as trial_module

        with _oracle_lock(self):
            now = time.monotonic()
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
    """Keras Tuner's per-oracle lock (the one its ``@synchronized`` methods take), re-entrant per thread.

    The public ``keras_tuner.synchronized`` decorator takes the same lock but leaves it held
    when the method raises (no ``finally``), which would hang the chief's gRPC threads; so
    kvt takes Keras Tuner's private ``LOCKS``/``THREADS`` itself, releasing them always.
    """
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

        debug, kt_config.DEBUG = kt_config.DEBUG, False  # a failed trial is one line (its message), no traceback
        try:
            return super()._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
        finally:
            kt_config.DEBUG = debug

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


def tuner_classes() -> dict[str, tuple[type, type]]:
    """``{algorithm: (tuner class, oracle class)}``: Keras Tuner's, with kvt's additions mixed in.

    Checks the installed keras-tuner first (:func:`check`).
    """
    check()
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

