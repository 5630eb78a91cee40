"""The tuned protocol's search: whole temperatures held out (:func:`held_out_split`), then one
Keras Tuner random search per optimizer x pair on the rows that remain (:func:`search_cell`).

The held-out rows are removed before anything is fitted: the search's scaler, its
train/validation split and every trial see only the kept rows, so the error on the held-out
temperatures measures interpolation in T on data neither the search nor the final training
used. The search is ``kvt tune``'s (:mod:`kvt.tuning`): its hyper-model, tuner and oracle seed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from kvt.data.datasets import Dataset
from kvt.errors import KvtError
from kvt.training.config import TrainConfig

OBJECTIVE = "val_mse"
CELL_FILE = "cell.json"  # in a kept search folder: the settings it was searched with


@dataclass(frozen=True)
class HeldOut:
    """A dataset split by temperature: the rows a search and its final training may use, and the rest."""

    kept: Dataset  # the other temperatures' rows, index reset (same pair, path, sha256, table)
    held_out: pd.DataFrame  # the held-out temperatures' rows, index reset
    kept_index: np.ndarray  # positions of the kept rows in the full frame
    held_out_index: np.ndarray  # positions of the held-out rows in the full frame
    temperatures: tuple[float, ...]  # the held-out temperatures, sorted


def _kelvin(values) -> str:
    return ", ".join(f"{t:g}" for t in values)


def parse_held_out(spec: str) -> tuple[float, ...]:
    """``--held-out 750,2500,7000``: comma-separated temperatures in K, sorted, each once."""
    items = [item.strip() for item in str(spec).split(",")]
    if not any(items):
        raise KvtError(f"--held-out '{spec}' names no temperature; give temperatures in K separated by commas, "
                       f"e.g. --held-out 750,2500,7000")
    temperatures = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise KvtError(f"--held-out '{spec}': '{item}' is not a number; give temperatures in K separated "
                           f"by commas, e.g. --held-out 750,2500,7000") from None
        if not (math.isfinite(value) and value > 0):
            raise KvtError(f"--held-out '{spec}': {item} is not a temperature; each must be a number of K > 0")
        temperatures.append(value)
    return tuple(sorted(set(temperatures)))


def held_out_split(dataset: Dataset, temperatures) -> HeldOut:
    """Split ``dataset`` into the rows at ``temperatures`` (held out) and the rest (kept).

    Each temperature must be one of the data's, at least two of the data's temperatures
    must remain, so that the kept rows still carry a temperature dependence to learn, and
    each held-out one must lie between two kept ones (an interpolation score, not an
    extrapolation).
    """
    frame = dataset.frame
    available = np.unique(frame["T_K"].to_numpy(dtype=float))
    held = sorted({float(t) for t in temperatures})
    if not held:
        raise KvtError(f"give at least one held-out temperature; the temperatures of {dataset.name} are "
                       f"{_kelvin(available)} K")
    for t in held:
        if t not in available:
            raise KvtError(f"held-out temperature {t:g} K is not in the data of {dataset.name}; "
                           f"its temperatures are {_kelvin(available)} K")
    left = [t for t in available if t not in held]
    if len(left) < 2:
        what = "every temperature" if not left else f"all but {left[0]:g} K"
        raise KvtError(f"held-out temperatures {_kelvin(held)} K are {what} of the {len(available)} in the data "
                       f"of {dataset.name}; at least two must remain to search and train on")
    outside = [t for t in held if not left[0] < t < left[-1]]
    if outside:
        raise KvtError(f"held-out temperature {outside[0]:g} K of {dataset.name} lies outside the {left[0]:g}–"
                       f"{left[-1]:g} K left to search and train on; hold out temperatures between two kept ones "
                       f"(their score measures interpolation, not extrapolation)")
    mask = frame["T_K"].isin(held).to_numpy()
    kept_index, held_out_index = np.flatnonzero(~mask), np.flatnonzero(mask)
    kept = replace(dataset, frame=frame.iloc[kept_index].reset_index(drop=True))
    return HeldOut(kept=kept, held_out=frame.iloc[held_out_index].reset_index(drop=True),
                   kept_index=kept_index, held_out_index=held_out_index, temperatures=tuple(held))


@dataclass
class SearchOutcome:
    """One optimizer x pair search: the best trial's hyper-parameters and every trial."""

    best: dict[str, Any]  # the best trial's optimizer hyper-parameters, resolved (as TrainConfig(opt=...) takes them)
    best_score: float  # its validation MSE (scaled), the lowest of the trials'
    trials: list[dict[str, Any]] = field(default_factory=list)  # trial_id, status, score, hyperparameters, seconds
    best_trial: str = ""


def search_cell(pair: str, optimizer: str, kept: Dataset, trials: int, base_config: TrainConfig, seed: int = 0,
                directory: str | Path | None = None, log: Callable[[str], None] | None = None) -> SearchOutcome:
    """Random search of ``trials`` trials over ``optimizer``'s declared space on the ``kept`` rows.

    Every trial trains as ``base_config`` says, with ``seed`` (the same initialisation and
    validation split for all), and differs only in the optimizer's hyper-parameters; it is
    scored by its best epoch's validation MSE. Keras Tuner's project goes in a temporary
    folder, removed afterwards, unless ``directory`` is given (there, an earlier search of the
    same settings is continued, one of other settings refused). ``log`` hears one line per
    finished trial. If no trial completes, one ``KvtError`` names the last failure.
    """
    import tensorflow as tf

    from kvt.training.trainer import prepare_data
    from kvt.tuning import extension as kt_patch
    from kvt.tuning.command import run_tuner
    from kvt.tuning.config import TuneConfig, distributed_role, resolve_space, settings_digest, settings_record
    from kvt.tuning.hypermodel import make_hypermodel

    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise KvtError(f"the number of search trials must be a positive integer, got {trials!r}")
    if distributed_role() is not None:
        raise KvtError("the tuned protocol searches on this machine alone; unset KERASTUNER_ORACLE_IP, "
                       "KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID (those are for kvt tune)")
    kt_patch.check()
    base = replace(base_config, optimizer=optimizer, seed=seed).resolved()
    if base.val_fraction == 0:
        raise KvtError("the tuned protocol scores each trial on a validation split; val_fraction must be > 0, "
                       f"got {base.val_fraction:g}")
    # retries 0: a trial is deterministic (same seed), so a failed one would fail again
    tune = TuneConfig(data=kept.source, optimizers=(optimizer,), algorithm="random", max_trials=int(trials),
                      objective=OBJECTIVE, mode=base.mode, epochs=base.epochs, batch_size=base.batch_size,
                      val_fraction=base.val_fraction, patience=base.patience, units=base.units, seed=seed,
                      retries=0)
    space = resolve_space([optimizer], [])
    settings = {**settings_record(tune, base, space, kept.sha256), "pair": pair,
                "kept_temperatures": sorted(kept.frame["T_K"].unique().tolist()), "kept_rows": len(kept.frame)}
    digest = settings_digest(settings)
    tf.get_logger().setLevel("ERROR")  # retracing notices: every trial builds a new model by design
    prep = prepare_data(base, kept)
    hypermodel = make_hypermodel(tune, prep, space, digest, base=base, checkpoints=False)
    progress = _progress(log, pair, optimizer, int(trials)) if log is not None else None
    with _search_folder(directory, settings, digest) as work, open(os.devnull, "w") as sink:
        tuner = run_tuner(tune, hypermodel, prep, work, sink, True, progress)  # Keras Tuner's prints: dropped
        return _outcome(pair, optimizer, tuner.oracle, hypermodel)


@contextlib.contextmanager
def _search_folder(directory, settings: dict[str, Any], digest: str):
    """The folder of Keras Tuner's project: a temporary one, or ``directory`` with the settings recorded in it."""
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="kvt-search-") as work:
            yield Path(work)
        return
    from kvt.files import atomic

    work = Path(directory)
    record = work / CELL_FILE
    if work.exists() and any(work.iterdir()):
        try:
            found = json.loads(record.read_text()).get("digest")
        except (OSError, ValueError, AttributeError):
            found = None
        if found != digest:
            raise KvtError(f"{work} holds something other than a search with these settings; give an empty "
                           f"or new folder")
    work.mkdir(parents=True, exist_ok=True)
    atomic.write_text(record, json.dumps({"digest": digest, "settings": settings}, indent=2) + "\n", force=True)
    yield work


def _progress(log, pair: str, optimizer: str, trials: int):
    """The oracle's progress callback: one ``log`` line per finished trial."""
    from kvt.tuning.results import describe

    def report(event, trial, attempt, attempts):
        if event != "end":
            return
        took = ""
        if attempt and attempt.get("ended") and attempt.get("started"):
            took = f" in {attempt['ended'] - attempt['started']:.1f} s"
        head = f"{pair} {optimizer} search, trial {int(trial.trial_id) + 1}/{trials}"
        if trial.status == "COMPLETED":
            log(f"{head}{took}: {OBJECTIVE} {trial.score:.4g} ({describe(trial.hyperparameters.values)})")
        else:
            log(f"{head} {trial.status.lower()}{took}: {_failure(trial.message)}")

    return report


def _failure(message) -> str | None:
    """A failed trial's reason: the last line of its traceback, without Keras Tuner's wrapper (kvt's own words)."""
    from kvt.tuning.results import _last_line

    line = _last_line(message)
    return re.sub(r"^keras_tuner(\.\w+)*\.FailedTrialError: ", "", line) if line else line


def _outcome(pair: str, optimizer: str, oracle, hypermodel) -> SearchOutcome:
    """Every trial of ``oracle`` in trial order, and the best completed one."""
    from kvt.tuning.results import trial_hyperparameters

    rows, resolved = [], {}
    for trial_id in sorted(oracle.trials, key=int):
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        try:
            hparams = hypermodel.trial_config(values)[1]
        except Exception:  # hyper-parameters the optimizer refuses (the trial failed on them): as drawn
            hparams = trial_hyperparameters(values)[1]
        attempts = oracle.attempts.get(trial_id, [])
        last = attempts[-1] if attempts else {}
        seconds = last["ended"] - last["started"] if last.get("ended") and last.get("started") else math.nan
        completed = trial.status == "COMPLETED" and trial.score is not None and math.isfinite(trial.score)
        resolved[trial_id] = hparams
        rows.append({"trial_id": trial_id, "status": trial.status,
                     "score": float(trial.score) if completed else math.nan,
                     "hyperparameters": json.dumps(hparams), "seconds": float(seconds),
                     "message": None if completed else _failure(trial.message)})
    done = [row for row in rows if math.isfinite(row["score"])]
    if not done:
        last = next((row["message"] for row in reversed(rows) if row["message"]), "no trial ran")
        raise KvtError(f"every trial of the {optimizer} search on {pair} failed ({len(rows)} of {len(rows)}); "
                       f"the last: {last}")
    best = min(done, key=lambda row: row["score"])  # the first of equal scores
    return SearchOutcome(best=dict(resolved[best["trial_id"]]), best_score=best["score"], trials=rows,
                         best_trial=best["trial_id"])
