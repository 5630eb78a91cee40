"""``kvt tune``: run, join or resume a search (:func:`run`), with its progress lines."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import sys
from pathlib import Path

from kvt.errors import KvtError
from kvt.files import atomic
from kvt.tuning.config import (PROJECT, SETTINGS_FILE, TuneConfig, distributed_role, resolve_space,
                               settings_digest, settings_record)
from kvt.tuning.hypermodel import make_hypermodel
from kvt.tuning.output import _prepare_out
from kvt.tuning.results import TuneOutcome, _last_line, _write_results, describe


def run(tune: TuneConfig, out, resume: bool = False, force: bool = False, quiet: bool = False,
        command: list[str] | None = None, stream=None) -> TuneOutcome:
    """Run (or join, or resume) a search; on the chief or alone, write the results into ``out``."""
    stream = stream or sys.stderr
    role = distributed_role()
    tune = tune.validate()
    base = tune.train_config()
    space = resolve_space(tune.optimizers, tune.space)

    from kvt.data.datasets import load_dataset
    from kvt.tuning import extension as kt_patch

    kt_patch.check()  # before anything is written

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
    import tensorflow as tf

    from kvt.training.trainer import prepare_data

    tf.get_logger().setLevel("ERROR")  # retracing notices: every trial builds a new model by design
    prep = prepare_data(base, dataset)
    hypermodel = make_hypermodel(tune, prep, space, digest)
    progress = _Progress(tune, stream, quiet) if role != "worker" else None
    tuner = run_tuner(tune, hypermodel, prep, work, stream, quiet, progress, shown=out)
    if role == "worker":
        return TuneOutcome(role="worker", out=out, trials_run=tuner.trials_run, tuner_id=tuner.tuner_id)
    return _write_results(tune, base, tuner.oracle, out, command, role or "local", stream, quiet, dataset,
                          work=work)


def run_tuner(tune: TuneConfig, hypermodel, prep, work: Path, stream, quiet: bool, progress=None,
              shown: Path | None = None):
    """Build the tuner of ``tune`` on ``work`` (:func:`make_tuner`) and run its search; return the tuner.

    Keras Tuner's prints go to ``stream`` (kvt's stdout is its own); ``progress`` (a
    :class:`_Progress`-like callable) hears every trial's start and end. A fatal trial
    error, or a search in ``work`` that cannot be reloaded (named as in ``shown``), is one ``KvtError``.
    """
    import keras_tuner

    from kvt.tuning import extension as kt_patch

    with contextlib.redirect_stdout(stream), kt_patch.quiet_conditions():
        try:
            tuner = make_tuner(tune, hypermodel, prep, work, stream=stream, quiet=quiet)
            if progress is not None:
                tuner.oracle.progress = progress
            tuner.search()
        except keras_tuner.errors.FatalError as exc:
            raise KvtError(_last_line(str(exc)) or exc.__class__.__name__) from None
        except RuntimeError as exc:
            if "Error reloading `Oracle`" in str(exc):
                where = Path(shown if shown is not None else work) / PROJECT
                raise KvtError(f"cannot reload the search in {where}: {_last_line(str(exc))}") from None
            raise
    return tuner


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

    from kvt.tuning.extension import tuner_classes

    tuner_cls, oracle_cls = tuner_classes()[tune.algorithm]
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

