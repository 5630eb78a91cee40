"""What a benchmark folder holds: bench.json (settings and sessions), results.csv rows, curves.

``bench.json`` is the folder's record for :mod:`kvt.files.resumable`: the settings
every run's result depends on (under ``training``) and one entry per session (start,
finish, machine). results.csv grows one fsynced row per finished run, so that an
interrupted benchmark keeps every finished row.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from kvt.errors import KvtError
from kvt.bench.folder import machine_info
from kvt.files import atomic, resumable

#: The columns of a VT results.csv written before the protocols (still read; the others are then empty).
VT_REQUIRED = ["pair", "optimizer", "seed", "status", "val_mse_scaled", "train_mse_scaled", "val_mae_m3_s",
               "val_rel_err_median", "val_rel_err_max", "fho_rel_err_median", "epochs", "best_epoch",
               "wall_time_s", "steps_per_second", "target_mse", "target_epoch", "target_time_s", "message"]
VT_COLUMNS = ["pair", "optimizer", "seed", "protocol", "status",
              "val_mse_scaled", "train_mse_scaled", "val_mae_m3_s", "val_rel_err_median", "val_rel_err_max",
              "fho_rel_err_median", "fho_rel_err_max", "nonpositive_fraction", "tau_rel_err_1000K", "tau_rel_err_5000K",
              "heldout_mse_scaled", "heldout_rel_err_median", "heldout_rel_err_max",
              "epochs", "best_epoch", "steps_per_epoch", "wall_time_s", "run_time_s", "steps_per_second",
              "target_mse", "target_epoch", "target_steps", "target_time_s",
              "rel_target", "rel_target_epoch", "rel_target_steps", "rel_target_time_s", "hyperparameters", "message"]
#: One row per search trial of the tuned protocol (trials.csv).
TRIAL_COLUMNS = ["pair", "optimizer", "trial_id", "status", "score", "seconds", "hyperparameters"]
SYNTHETIC_COLUMNS = ["optimizer", "seed", "status", "val_loss", "val_log_cosh", "train_loss", "epochs",
                     "best_epoch", "wall_time_s", "steps_per_second", "message"]
CURVE_POINTS = 100  # rows kept per stored validation-loss curve


def _start_session(work: Path, meta: dict) -> None:
    """Write bench.json with the new session into ``work`` (and its curves/ folder)."""
    (work / "curves").mkdir(exist_ok=True)
    atomic.write_text(work / "bench.json", json.dumps(meta, indent=2) + "\n", force=True)


def _finish_session(out: Path, meta: dict, runs_done: int) -> None:
    """Record the session's end (time, runs done, load average) in bench.json."""
    session = meta["sessions"][-1]
    session.update({"finished": resumable.now(), "runs": runs_done,
                    "load_average_at_end": machine_info()["load_average_1_5_15"]})
    atomic.write_text(out / "bench.json", json.dumps(meta, indent=2) + "\n", force=True)


def read_results(path: Path, columns: list[str], required: list[str] | None = None) -> pd.DataFrame:
    """The rows of a results.csv; a line cut off by an interruption is dropped (and removed).

    ``required``: the columns a file must have (default ``columns``); the other ``columns`` missing from
    an older file read as empty."""
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        atomic.write_text(path, text, force=True)
    if not text.strip():
        return pd.DataFrame(columns=columns)
    frame = pd.read_csv(io.StringIO(text), keep_default_na=True)
    missing = [c for c in (columns if required is None else required) if c not in frame.columns]
    if missing:
        raise KvtError(f"{path} is not a kvt bench results file (missing columns {', '.join(missing)})")
    for column in columns:
        if column not in frame.columns:
            frame[column] = np.nan
    return frame


def upgrade_results(path: Path, columns: list[str], required: list[str]) -> None:
    """Rewrite (atomically) a results.csv of an older kvt with every one of ``columns``, so that new rows
    can be appended to it; its rows keep their values, the new columns empty."""
    if not path.is_file() or not path.stat().st_size:
        return
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split(",")
    if header == columns:
        return
    frame = read_results(path, columns, required)[columns]
    atomic.write_text(path, frame.to_csv(index=False, float_format="%.6g", lineterminator="\n"), force=True)


def _append_row(path: Path, columns: list[str], row: dict) -> None:
    """Append one CSV row (header first if the file is new) in one write, flushed to disk."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    new = not path.exists() or path.stat().st_size == 0
    if new:
        writer.writeheader()
    writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    if isinstance(value, str):
        return " ".join(value.split())
    return value


def _save_curve(path: Path, history: pd.DataFrame, columns: list[str]) -> None:
    """The history thinned to at most CURVE_POINTS rows (first, best and last epochs kept)."""
    frame = history.loc[:, [c for c in columns if c in history.columns]]
    if len(frame) > CURVE_POINTS:
        keep = set(np.linspace(0, len(frame) - 1, CURVE_POINTS - 1).round().astype(int))
        if "val_loss" in frame:
            keep.add(int(np.nanargmin(frame["val_loss"].to_numpy())))
        frame = frame.iloc[sorted(keep)]
    atomic.write_text(path, frame.to_csv(index=False, float_format="%.4g", lineterminator="\n"), force=True)


def _curve_name(*parts) -> str:
    return "__".join(str(p) for p in parts) + ".csv"
