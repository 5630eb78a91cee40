"""Summaries of a benchmark's results.csv: mean and spread per cell, goals, the best run per pair."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from kvt.bench.study import STUDY_SYNTHETIC, STUDY_VT, _ordered_optimizers, _ordered_pairs, study_best_mse


def _mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation of the finite values (std NaN for fewer than two)."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan


def vt_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per (pair, optimizer): runs, ok runs, mean/std of MSE, time, epochs; goal flags."""
    rows = []
    for (pair, optimizer), group in results.groupby(["pair", "optimizer"], sort=False):
        ok = group[group["status"] == "ok"]
        mse_mean, mse_std = _mean_std(ok["val_mse_scaled"])
        time_mean, time_std = _mean_std(ok["wall_time_s"])
        goal = study_best_mse(pair) if f"{pair}_mse" in STUDY_VT else math.nan
        row = {"pair": pair, "optimizer": optimizer, "runs": len(group), "ok": len(ok),
               "mse_mean": mse_mean, "mse_std": mse_std,
               "mse_max": float(ok["val_mse_scaled"].max()) if len(ok) else math.nan,
               "time_mean": time_mean, "time_std": time_std, "epochs_mean": _mean_std(ok["epochs"])[0],
               "mae_mean": _mean_std(ok["val_mae_m3_s"])[0],
               "rel_median_mean": _mean_std(ok["val_rel_err_median"])[0],
               "rel_max_mean": _mean_std(ok["val_rel_err_max"])[0],
               "steps_per_second": _mean_std(ok["steps_per_second"])[0],
               "goal": goal, "meets_goal": bool(len(ok) == len(group) and np.isfinite(mse_mean) and mse_mean <= goal),
               "all_seeds_meet_goal": bool(len(ok) == len(group) and len(ok) and (ok["val_mse_scaled"] <= goal).all())}
        if "target_epoch" in group and group["target_mse"].notna().any():
            reached = ok[ok["target_epoch"].notna()]
            row.update(target_mse=float(group["target_mse"].dropna().iloc[0]), target_reached=len(reached),
                       target_time_mean=_mean_std(reached["target_time_s"])[0],
                       target_epoch_mean=_mean_std(reached["target_epoch"])[0])
        studied = optimizer in STUDY_VT.index and f"{pair}_mse" in STUDY_VT
        row["study_mse"] = STUDY_VT.at[optimizer, f"{pair}_mse"] if studied else math.nan
        row["study_time"] = STUDY_VT.at[optimizer, f"{pair}_time_s"] if studied else math.nan
        rows.append(row)
    summary = pd.DataFrame(rows)
    pair_rank = {p: i for i, p in enumerate(_ordered_pairs(summary["pair"].unique()))}
    optimizer_rank = {o: i for i, o in enumerate(_ordered_optimizers(summary["optimizer"].unique()))}
    order = sorted(range(len(summary)), key=lambda i: (pair_rank[summary.at[i, "pair"]],
                                                       optimizer_rank[summary.at[i, "optimizer"]]))
    return summary.iloc[order].reset_index(drop=True)


def synthetic_summary(results: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for optimizer, group in results.groupby("optimizer", sort=False):
        ok = group[group["status"] == "ok"]
        time_mean, time_std = _mean_std(ok["wall_time_s"])
        epochs_mean, epochs_std = _mean_std(ok["epochs"])
        study = STUDY_SYNTHETIC.loc[optimizer] if optimizer in STUDY_SYNTHETIC.index else None
        rows.append({"optimizer": optimizer, "runs": len(group), "ok": len(ok), "time_mean": time_mean,
                     "time_std": time_std, "epochs_mean": epochs_mean, "epochs_std": epochs_std,
                     "best_epoch_mean": _mean_std(ok["best_epoch"])[0],
                     "val_loss_mean": _mean_std(ok["val_loss"])[0], "val_loss_std": _mean_std(ok["val_loss"])[1],
                     "val_log_cosh_mean": _mean_std(ok["val_log_cosh"])[0],
                     "steps_per_second": _mean_std(ok["steps_per_second"])[0],
                     "study_time": study["time_s"] if study is not None else math.nan,
                     "study_time_std": study["time_std_s"] if study is not None else math.nan,
                     "study_epochs": study["epochs"] if study is not None else math.nan})
    return pd.DataFrame(rows)


def _best_per_pair(summary: pd.DataFrame, results: pd.DataFrame) -> dict:
    best = {}
    for pair in _ordered_pairs(summary["pair"].unique()):
        part = summary[(summary["pair"] == pair) & (summary["ok"] > 0)].dropna(subset=["mse_mean"])
        if part.empty:
            continue
        optimizer = part.sort_values(["mse_mean", "optimizer"]).iloc[0]["optimizer"]
        runs = results[(results["pair"] == pair) & (results["optimizer"] == optimizer) & (results["status"] == "ok")]
        run = runs.sort_values(["val_mse_scaled", "seed"]).iloc[0]
        best[pair] = {"optimizer": optimizer, "seed": int(run["seed"]), "mse": float(run["val_mse_scaled"])}
        if isinstance(run.get("hyperparameters"), str) and run["hyperparameters"]:
            best[pair]["hyperparameters"] = json.loads(run["hyperparameters"])
    return best
