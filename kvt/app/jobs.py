"""What the app runs in the background: a training or a benchmark, in a worker process of the app.

The work runs in one worker process (spawned once, kept for the next job), never in the app's own
process: Streamlit clears Keras's global state after every run of a page (``keras.backend.clear_session``),
which must not happen under a training, and a page stays responsive while TensorFlow computes. The
worker trains exactly as ``kvt train`` does in its own process. One job at a time per app: starting a
second while one runs is refused with one line. A :class:`Job` holds what the pages show (progress,
the loss of every epoch, the log) and its outcome: the value of its work, or the one ``Error:`` line
its failure gives. ``stop()`` asks a training to end at its next step: the run is written with the best
weights so far and marked interrupted, as after one Ctrl-C of ``kvt train``.
"""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kvt.cli import error_line
from kvt.errors import KvtError

_STARTING = threading.Lock()
_active: Job | None = None
_worker = None  # (process pool of one spawned worker, its manager), made at the first job


@dataclass
class Job:
    """A background task and what it has done so far (read by the pages, written as the worker reports)."""

    kind: str  # "train" or "bench"
    label: str
    total: int
    unit: str = "epoch"
    done: int = 0
    rows: list[dict] = field(default_factory=list)  # one per epoch: epoch, loss, val_loss
    log: list[str] = field(default_factory=list)
    status: str = "running"  # running, done, failed
    error: str | None = None
    result: Any = None
    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: Any = field(default=None, repr=False)  # the worker's stop flag (a manager's Event)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.status == "running"

    def stop(self) -> None:
        """Ask the work to end cleanly at its next step."""
        if self._stop is not None:
            self._stop.set()

    def report(self, kind: str, value) -> None:
        """What the worker said: ``unit``, a progress ``row``, or a ``log`` line (``[n/N] ...`` also counts)."""
        with self._lock:
            if kind == "unit":
                self.unit = value
            elif kind == "row":
                self.done = value["epoch"]
                self.rows.append(value)
            else:
                self.log.append(value)
                counted = re.match(r"\[(\d+)/(\d+)\]", value)
                if counted:
                    self.done, self.total = int(counted.group(1)), int(counted.group(2))

    def snapshot(self) -> tuple[int, int, list[dict], list[str]]:
        """(done, total, rows, log), copied under the lock."""
        with self._lock:
            return self.done, self.total, list(self.rows), list(self.log)

    def wait(self, timeout: float | None = None) -> bool:
        """True once the work has ended (for tests, and for a caller that must not go on while it runs)."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running


def active() -> Job | None:
    """The job started last in this app (running or ended), or None."""
    return _active


def _start_worker() -> None:
    from kvt.training.quiet import quiet_tensorflow_import

    quiet_tensorflow_import()


def _pool():
    global _worker
    if _worker is None:
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state of the app's process
        _worker = (concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=_start_worker),
                   context.Manager())
    return _worker


def shutdown() -> None:
    """End the worker process (it is started again by the next job)."""
    global _worker
    if _worker is not None:
        pool, manager = _worker
        _worker = None
        pool.shutdown(wait=True, cancel_futures=True)
        manager.shutdown()


def _outcome_error(exc: BaseException) -> str:
    if isinstance(exc, KvtError):
        return error_line(exc)
    text = " ".join(str(exc).split())
    return f"Error: {type(exc).__name__}{': ' + text if text else ''}"


def _in_folder(folder: str, task: Callable, args: tuple, events, stop):
    """``task`` run in the app's working folder (the worker's relative paths are the app's)."""
    import os

    os.chdir(folder)
    return task(*args, events, stop)


def start(job: Job, task: Callable, *args) -> Job:
    """Run ``task(*args, events, stop)`` in the worker and follow it; refused with one line while another job
    of this app runs. ``events`` takes (kind, value) reports (:meth:`Job.report`); ``stop`` is the stop flag."""
    import os

    global _active
    with _STARTING:
        if _active is not None and _active.running:
            raise KvtError(f"{_active.label} is running in this app; wait for it to end or stop it first")
        for attempt in (1, 2):
            pool, manager = _pool()
            events, job._stop = manager.Queue(), manager.Event()
            try:
                future = pool.submit(_in_folder, os.getcwd(), task, args, events, job._stop)
                break
            except Exception:  # a worker that died: a new one for this job
                if attempt == 2:
                    raise
                shutdown()
        _active = job

    def follow():
        def drain(wait: float) -> None:
            try:
                while True:
                    job.report(*events.get(timeout=wait))
                    wait = 0
            except queue.Empty:
                pass
            except (EOFError, OSError):  # the manager is gone (the app is ending): the outcome still comes
                time.sleep(wait)

        while not future.done():
            drain(0.2)
        drain(0)
        exc = future.exception()
        if exc is None:
            job.result, job.status = future.result(), "done"
        else:
            if not isinstance(exc, KvtError):
                shutdown_if_broken(exc)
            job.error, job.status = _outcome_error(exc), "failed"

    job.thread = threading.Thread(target=follow, name=f"kvt-app-{job.kind}", daemon=True)
    job.thread.start()
    return job


def shutdown_if_broken(exc: BaseException) -> None:
    """A worker that died (killed, out of memory) is replaced at the next job."""
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(exc, BrokenProcessPool):
        global _worker
        _worker = None


# ---------------------------------------------------------------- training (in the worker)
@dataclass(frozen=True)
class TrainRequest:
    """A training the Train page checked: the resolved configuration, the dataset, where the run goes, and the
    ``kvt train`` command line that trains the same run (recorded in the run's metadata)."""

    config: Any  # kvt.training.config.TrainConfig, resolved
    dataset: Any  # kvt.data.datasets.Dataset
    out: Path
    force: bool
    inputs: tuple[str, ...]
    command: tuple[str, ...]


@dataclass(frozen=True)
class TrainOutcome:
    path: Path
    summary: list[str]
    interrupted: bool


def _progress_callback(events, prep, total: int):
    """A Keras callback that reports every epoch's losses (counted as ``kvt train``'s progress bar counts)."""
    import keras

    per_keras_epoch = prep.steps if prep.full_batch else 1
    events.put(("unit", "step" if prep.full_batch else "epoch"))

    class AppProgress(keras.callbacks.Callback):
        logs_only = True  # reads each epoch's logs, never the model (kvt.training.loop may run epochs in chunks)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            done = min(total, (epoch + 1) * per_keras_epoch)
            events.put(("row", {"epoch": done, "loss": float(logs.get("loss", math.nan)),
                                "val_loss": float(logs.get("val_loss", math.nan))}))

    return AppProgress()


def train_task(request: TrainRequest, events, stop) -> TrainOutcome:
    """What ``kvt train`` does after its checks: ``train``, then ``save_run``; returns the run and its summary."""
    from kvt.runs.folder import save_run
    from kvt.runs.summary import summary_lines
    from kvt.training.trainer import SeedRuns

    config = request.config
    # kvt.training.trainer.train(config) is SeedRuns(config, dataset).run(config.seed): the same, with a callback
    # that only reads each epoch's losses for the page.
    runs = SeedRuns(config, request.dataset, callbacks=lambda prep: [_progress_callback(events, prep, config.epochs)])
    result = runs.run(config.seed, stop_requested=stop.is_set)
    path = save_run(result, request.out, force=request.force, command=list(request.command),
                    inputs=list(request.inputs))
    process = result.dataset.process
    lines = summary_lines(path, result.metrics, config.mode, config.optimizer, process.name if process else None,
                          config.data)
    return TrainOutcome(Path(path), lines, bool(result.metrics.get("interrupted")))


def bench_task(settings, out: Path, force: bool, events, stop) -> str:
    """``kvt bench vt``'s run into ``out``; returns the lines it prints at the end."""
    from kvt.bench import benchmark
    from kvt.bench.summary import short_summary

    benchmark.run_vt(settings, out, force=force, log=lambda message: events.put(("log", message)))
    return short_summary(Path(out))
