"""One VT run: the study's pipeline for one (pair, optimizer, seed), and its results.csv row."""

from __future__ import annotations

import math

import pandas as pd

from kvt.bench.settings import VTSettings


def time_to_target(history: pd.DataFrame, target: float) -> tuple[int | None, float | None]:
    """(epoch, seconds) when the validation MSE first reached ``target``; (None, None) if never."""
    reached = history.index[history["val_loss"].to_numpy() <= target]
    if len(reached) == 0:
        return None, None
    row = history.loc[reached[0]]
    return int(row["epoch"]), float(row["time_s"])


def vt_config(settings: VTSettings, pair: str, optimizer: str, seed: int):
    from kvt.training.config import TrainConfig

    return TrainConfig(data=pair, mode="study", optimizer=optimizer, seed=seed, epochs=settings.epochs,
                       units=settings.units, patience=settings.patience)


def train_vt(settings: VTSettings, pair: str, optimizer: str, seed: int):
    """One VT training run (a :class:`kvt.training.trainer.TrainResult`); raises KvtError if it diverges."""
    import keras

    from kvt.training.trainer import train

    keras.backend.clear_session()  # a long benchmark must not accumulate old graphs
    return train(vt_config(settings, pair, optimizer, seed))


def _vt_row(settings, pair, optimizer, seed, result) -> dict:
    m = result.metrics
    row = {"pair": pair, "optimizer": optimizer, "seed": seed, "status": "ok",
           "val_mse_scaled": m["val_mse_scaled"], "train_mse_scaled": m["train_mse_scaled"],
           "val_mae_m3_s": m["val"]["mae_m3_s"], "val_rel_err_median": m["val"]["rel_err_median"],
           "val_rel_err_max": m["val"]["rel_err_max"],
           "fho_rel_err_median": (m.get("dense_grid") or {}).get("overall", {}).get("median"),
           "epochs": m["epochs_run"], "best_epoch": m["best_epoch"], "wall_time_s": m["wall_time_s"],
           "steps_per_second": m["steps_per_second"], "target_mse": settings.target_mse, "message": ""}
    if settings.target_mse is not None:
        row["target_epoch"], row["target_time_s"] = time_to_target(result.history, settings.target_mse)
    numbers = [row[k] for k in ("val_mse_scaled", "val_mae_m3_s", "wall_time_s")]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
        row.update(status="diverged", message="non-finite metrics")
    return row
