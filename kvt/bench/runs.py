"""One cell of the VT benchmark: a (pair, optimizer) trained for its seeds, and each run's results.csv row.

A :class:`VTCell` reads its pair's data once per process (:func:`pair_dataset`), holds out
the tuned protocol's temperatures and searches (:mod:`kvt.bench.tuned`), then trains every
seed on one compiled model (:class:`kvt.training.trainer.SeedRuns`: Keras traces its
functions once per cell, not once per run). Every run is tracked each epoch on a
coarse FHO-FR grid (:class:`DenseGridTracker`), for the time to the relative-error target.
"""

from __future__ import annotations

import functools
import json
import math
import time

import numpy as np
import pandas as pd

from kvt.bench.settings import VTSettings

TRACK_T_STEP_K = 50.0  # temperatures of the per-epoch tracking grid: every 50 K of 250..10000 K
TRACK_T_RANGE_K = (250.0, 10000.0)
TAU_TEMPERATURES_K = (1000.0, 5000.0)  # relaxation-time errors recorded per run


def time_to_target(history: pd.DataFrame, target: float, column: str = "val_loss",
                   time_column: str = "time_s") -> tuple[int | None, float | None]:
    """(epoch, seconds) when ``column`` first reached ``target``; (None, None) if never."""
    if column not in history:
        return None, None
    reached = history.index[history[column].to_numpy() <= target]
    if len(reached) == 0:
        return None, None
    row = history.loc[reached[0]]
    return int(row["epoch"]), float(row[time_column])


@functools.lru_cache(maxsize=None)
def pair_dataset(pair: str):
    """The bundled data of ``pair``, read and validated once per process."""
    from kvt.data.datasets import load_dataset

    return load_dataset(pair)


@functools.lru_cache(maxsize=None)
def tracking_reference(pair: str) -> tuple[np.ndarray, np.ndarray]:
    """The tracking grid of ``pair`` (every level x every TRACK_T_STEP_K K) as (level, T) rows and FHO-FR's k there."""
    from kvt.kinetics.accuracy import reference_rates
    from kvt.kinetics.validity import dense_temperatures
    from kvt.physics.process import resolve

    process = resolve(pair)
    levels, temps = process.levels, dense_temperatures(*TRACK_T_RANGE_K, TRACK_T_STEP_K)
    k_ref = reference_rates(process, tuple(int(level) for level in levels), tuple(float(t) for t in temps))
    features = np.column_stack([np.repeat(levels, len(temps)), np.tile(temps, len(levels))]).astype(float)
    features.flags.writeable = False
    return features, k_ref


def dense_grid_tracker(pair: str, prep):
    """A Keras callback recording, after every epoch, the median relative error against FHO-FR on the tracking
    grid, and the seconds it spent doing so (which the run's training times then leave out)."""
    import keras

    features, k_ref = tracking_reference(pair)
    x = prep.transform.transform_features(features).astype("float32")

    class DenseGridTracker(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.medians, self.spent_before, self.spent = [], [], 0.0

        def on_epoch_end(self, epoch, logs=None):
            started = time.perf_counter()
            self.spent_before.append(self.spent)
            k = prep.transform.inverse_target(np.asarray(self.model.predict_on_batch(x)), features).ravel()
            self.medians.append(float(np.median(np.abs(k - k_ref) / k_ref)))
            self.spent += time.perf_counter() - started

    return DenseGridTracker()


def vt_config(settings: VTSettings, pair: str, optimizer: str, opt: dict | None = None):
    """The training options of one run of ``settings``' protocol (``opt``: the tuned hyper-parameters)."""
    from kvt.training.config import TrainConfig

    return TrainConfig(data=pair, mode="study", optimizer=optimizer, epochs=settings.epochs, units=settings.units,
                       patience=settings.patience or 1, early_stopping=settings.patience is not None,
                       opt=dict(opt or {}))


class VTCell:
    """One (pair, optimizer) of a benchmark: its search (tuned protocol) and its seeds on one compiled model.

    ``trials``: the cell's search trials recorded by an earlier session (tuned, --resume): the best of them
    is trained instead of searching again. ``self.trials`` holds the trials this cell ran.
    """

    def __init__(self, settings: VTSettings, pair: str, optimizer: str, trials: list[dict] | None = None,
                 log=None):
        from kvt.training.trainer import SeedRuns

        self.settings, self.pair, self.optimizer = settings, pair, optimizer
        log = log or (lambda message: None)
        dataset, self.held_out, self.trials, opt = pair_dataset(pair), None, [], {}
        if settings.protocol == "tuned":
            from kvt.bench import tuned

            self.held_out = tuned.held_out_split(dataset, settings.held_out)
            dataset = self.held_out.kept
            if trials:
                opt = json.loads(best_trial(trials)["hyperparameters"])
            else:
                outcome = tuned.search_cell(pair, optimizer, dataset, settings.trials,
                                            vt_config(settings, pair, optimizer), seed=0, log=log)
                self.trials = [{"pair": pair, "optimizer": optimizer, **trial} for trial in outcome.trials]
                opt = outcome.best
        self.opt = opt
        self.tracker = self.last_result = None
        self.runs = SeedRuns(vt_config(settings, pair, optimizer, opt), dataset, callbacks=self._callbacks)

    def _callbacks(self, prep) -> list:
        self.tracker = dense_grid_tracker(self.pair, prep)
        return [self.tracker]

    def run(self, seed: int):
        """Train ``seed``; returns (its results.csv row, its history). Raises KvtError if it diverges."""
        started = time.perf_counter()
        result = self.last_result = self.runs.run(seed)
        tracker = self.tracker
        history = result.history.copy()
        epochs = len(history)
        history["dense_median"] = tracker.medians[:epochs]
        history["train_time_s"] = history["time_s"] - np.asarray(tracker.spent_before[:epochs])
        row = vt_row(self.settings, self.pair, self.optimizer, seed, result, history, self.held_out)
        row["run_time_s"] = time.perf_counter() - started
        return row, history


def best_trial(trials: list[dict]) -> dict:
    """The completed trial with the lowest score (ties: the first)."""
    done = [t for t in trials if t.get("status") == "COMPLETED" and _finite(t.get("score"))]
    return min(done, key=lambda t: float(t["score"]))


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def train_vt(settings: VTSettings, pair: str, optimizer: str, seed: int, opt: dict | None = None):
    """One training run of the protocol (a :class:`kvt.training.trainer.TrainResult`; tuned: on the rows it
    keeps, with ``opt``); raises KvtError if it diverges."""
    import keras

    from kvt.training.trainer import train

    keras.backend.clear_session()  # a long benchmark must not accumulate old graphs
    dataset = pair_dataset(pair)
    if settings.protocol == "tuned":
        from kvt.bench import tuned

        dataset = tuned.held_out_split(dataset, settings.held_out).kept
    return train(vt_config(settings, pair, optimizer, opt), dataset=dataset)


def vt_row(settings: VTSettings, pair: str, optimizer: str, seed: int, result, history: pd.DataFrame,
           held_out=None) -> dict:
    """The results.csv row of one finished run."""
    m = result.metrics
    dense = (m.get("dense_grid") or {}).get("overall", {})
    taus = {row["T_K"]: row.get("tau_rel_err") for row in (m.get("relaxation") or {}).get("temperatures", [])}
    steps = int(result.split["batching"]["steps_per_epoch"])
    row = {"pair": pair, "optimizer": optimizer, "seed": seed, "protocol": settings.protocol, "status": "ok",
           "val_mse_scaled": m["val_mse_scaled"], "train_mse_scaled": m["train_mse_scaled"],
           "val_mae_m3_s": m["val"]["mae_m3_s"], "val_rel_err_median": m["val"]["rel_err_median"],
           "val_rel_err_max": m["val"]["rel_err_max"],
           "fho_rel_err_median": dense.get("median"), "fho_rel_err_max": dense.get("max"),
           "nonpositive_fraction": (m.get("nonphysical") or {}).get("fraction"),
           **{f"tau_rel_err_{t:g}K": taus.get(t) for t in TAU_TEMPERATURES_K},
           "epochs": m["epochs_run"], "best_epoch": m["best_epoch"], "steps_per_epoch": steps,
           "wall_time_s": m["wall_time_s"], "steps_per_second": m["steps_per_second"],
           "target_mse": settings.target_mse, "rel_target": settings.rel_target,
           "hyperparameters": json.dumps(result.hyperparameters, sort_keys=True, default=str), "message": ""}
    time_column = "train_time_s" if "train_time_s" in history else "time_s"
    for prefix, column, target in (("target", "val_loss", settings.target_mse),
                                   ("rel_target", "dense_median", settings.rel_target)):
        if target is None:
            continue
        epoch, seconds = time_to_target(history, target, column, time_column)
        row[f"{prefix}_epoch"], row[f"{prefix}_time_s"] = epoch, seconds
        row[f"{prefix}_steps"] = epoch * steps if epoch is not None else None
    if held_out is not None:
        row.update(held_out_errors(result, held_out.held_out))
    numbers = [row[k] for k in ("val_mse_scaled", "val_mae_m3_s", "wall_time_s")]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
        row.update(status="diverged", message="non-finite metrics")
    return row


def held_out_errors(result, frame: pd.DataFrame) -> dict:
    """Scaled MSE and relative errors of a run on the rows of the held-out temperatures."""
    from kvt.network.inference import Network

    k_true = frame["k_m3_s"].to_numpy(dtype=float)
    k_pred = Network(result.weights).predict_k(frame["level"].to_numpy(), frame["T_K"].to_numpy())
    scaler = result.scaler
    mse = float(np.mean((scaler.transform_target(k_pred) - scaler.transform_target(k_true)) ** 2))
    rel = np.abs(k_pred - k_true) / k_true
    return {"heldout_mse_scaled": mse, "heldout_rel_err_median": float(np.median(rel)),
            "heldout_rel_err_max": float(np.max(rel))}
