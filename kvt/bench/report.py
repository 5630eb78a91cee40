"""A benchmark folder's report: results.md (the tables beside the study's), summary.csv and the figures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from kvt.bench.figures import (_grouped_bars, _save_png, profiles_figure, synthetic_figures, vt_level_figure,
                               vt_loss_figure)
from kvt.bench.records import SYNTHETIC_COLUMNS, VT_COLUMNS, VT_REQUIRED, read_results
from kvt.bench.report_statistics import statistics_markdown, statistics_summary
from kvt.bench.settings import SYNTHETIC
from kvt.bench.stats import _best_per_pair, synthetic_summary, vt_summary
from kvt.bench.study import (PAIR_LABEL, STUDY_PAIR_ORDER, STUDY_VT, _ordered_optimizers, _ordered_pairs, figure_level,
                             study_best_mse)
from kvt.errors import KvtError
from kvt.files import atomic



def _optimizer_pair_table(header, optimizers, pairs, cell, cells_of) -> list[str]:
    """Markdown lines of a table with one row per optimizer and ``cells_of(summary row)`` per pair, then a blank."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for optimizer in optimizers:
        row = [optimizer]
        for pair in pairs:
            r = cell.get((pair, optimizer))
            row += [""] * ((len(header) - 1) // len(pairs)) if r is None else cells_of(r)
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]

def _fmt(value, spec=".3g") -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def _pm(mean, std, spec=".3g") -> str:
    if not np.isfinite(mean):
        return "—"
    if not np.isfinite(std):
        return format(mean, spec)
    return f"{format(mean, spec)} ± {format(std, spec)}"


def _protocol_text(training: dict) -> str:
    """What a VT benchmark's runs were: its protocol and budget, in words."""
    protocol = training.get("protocol", "defaults")
    epochs, units = training.get("epochs") or 1000, training.get("units") or 64
    stopping = (f"early stopping (patience {training.get('patience') or 100}, best weights restored)"
                if protocol != "study" or training.get("patience") else "no early stopping (the last weights count)")
    text = f"protocol {protocol}: at most {epochs} epochs, {stopping}, {units} units, batch 32, validation 20 %, "
    if protocol == "tuned":
        held = ", ".join(f"{t:g}" for t in training.get("held_out_K") or [])
        return text + (f"hyper-parameters from {training.get('trials')} random-search trials per optimizer and pair "
                       f"(scored on the validation split), temperatures {held} K held out of the search and the "
                       "training and scored after")
    return text + "registry default hyper-parameters"


def vt_markdown(results: pd.DataFrame, summary: pd.DataFrame, meta: dict, best: dict | None = None) -> str:
    pairs = _ordered_pairs(summary["pair"].unique())
    optimizers = _ordered_optimizers(summary["optimizer"].unique())
    cell = {(r.pair, r.optimizer): r for r in summary.itertuples()}
    session = meta["sessions"][0]
    machine = session["machine"]
    training = meta["training"]
    seeds = sorted(int(s) for s in results["seed"].unique())
    protocol = training.get("protocol", "defaults")
    lines = [f"# VT benchmark, protocol {protocol}: the study's Table 3 reproduced with kvt", ""]
    if protocol == "tuned":
        lines += ["The tuned protocol's score is the held-out MSE (see *Statistics over seeds* below); the first "
                  "tables are on the validation split of the rows the search and the training kept.", ""]
    goals = ", ".join(f"{PAIR_LABEL.get(p, p)} {study_best_mse(p):g}" for p in pairs if f"{p}_mse" in STUDY_VT)
    lines.append(f"Validation MSE on the min-max scaled target (mean ± std over seeds {', '.join(map(str, seeds))}) "
                 "and training time in seconds, beside the study's single-run values (\"study\"). "
                 + (f"✓: kvt's mean is at or below the study's best value for that pair ({goals})." if goals else
                    f"The study benchmarked {', '.join(STUDY_PAIR_ORDER)} only: no study values for these pairs."))
    lines.append("")
    settings_text = ("quick settings (for tests; not comparable with the study): " if training.get("quick") else "") + \
        _protocol_text(training)
    lines.append(f"Settings: {settings_text}. Machine: {machine['platform']}, {machine['cpu_count']} CPU cores, "
                 f"TensorFlow {machine['versions'].get('tensorflow')}, load average at start "
                 f"{machine.get('load_average_1_5_15')}.")
    lines.append("")
    header = ["optimizer"]
    for pair in pairs:
        label = PAIR_LABEL.get(pair, pair)
        header += [f"{label} MSE", "study", f"{label} time, s", "study"]
    def mse_cells(r):
        mse = _pm(r.mse_mean, r.mse_std)
        if r.ok < r.runs:
            mse += f" ({r.runs - r.ok}/{r.runs} diverged)"
        if r.meets_goal:
            mse += " ✓"
        return [mse, _fmt(r.study_mse), _pm(r.time_mean, r.time_std, ".2f"), _fmt(r.study_time)]

    lines += _optimizer_pair_table(header, optimizers, pairs, cell, mse_cells)

    has_goal = np.isfinite(summary["goal"].to_numpy(dtype=float))  # the study's pairs
    without_goal, goal_cells = summary[~has_goal], summary[has_goal]
    met = goal_cells[goal_cells["meets_goal"]]
    missed = goal_cells[~goal_cells["meets_goal"]]
    lines.append("## Goal: every optimizer at or below the study's best MSE per pair")
    lines.append("")
    if len(goal_cells):
        lines.append(f"Met (mean over seeds) in {len(met)} of {len(goal_cells)} cells; every single seed met it in "
                     f"{int(goal_cells['all_seeds_meet_goal'].sum())} of {len(goal_cells)} cells.")
    if len(without_goal):
        if len(goal_cells):
            lines.append("")
        lines.append(f"No goal for {', '.join(_ordered_pairs(without_goal['pair'].unique()))}: the study benchmarked "
                     f"{', '.join(STUDY_PAIR_ORDER)} only.")
    if len(missed):
        lines.append("")
        lines.append("Cells that miss it: " + "; ".join(
            f"{r.optimizer} on {PAIR_LABEL.get(r.pair, r.pair)} ({_pm(r.mse_mean, r.mse_std)} vs {r.goal:g}"
            + (f", {r.runs - r.ok} of {r.runs} runs diverged" if r.ok < r.runs else "") + ")"
            for r in missed.itertuples()) + ".")
    partly = goal_cells[goal_cells["meets_goal"] & ~goal_cells["all_seeds_meet_goal"]]
    if len(partly):
        lines.append("")
        lines.append("Met on the mean but not by every seed: " + "; ".join(
            f"{r.optimizer} on {PAIR_LABEL.get(r.pair, r.pair)} (worst seed {r.mse_max:.3g})"
            for r in partly.itertuples()) + ".")
    lines.append("")

    lines.append("## Accuracy in physical units (validation rows, mean over seeds)")
    lines.append("")
    header = ["optimizer"] + [f"{PAIR_LABEL.get(p, p)} {what}" for p in pairs
                              for what in ("MAE, m³/s", "median rel. err.", "max rel. err.", "epochs")]
    lines += _optimizer_pair_table(header, optimizers, pairs, cell, lambda r: [
        _fmt(r.mae_mean, ".3g"), _fmt(r.rel_median_mean, ".3g"), _fmt(r.rel_max_mean, ".3g"),
        _fmt(r.epochs_mean, ".0f")])

    if "target_mse" in summary and summary["target_mse"].notna().any():
        target = float(summary["target_mse"].dropna().iloc[0])
        lines.append(f"## Time to target: validation MSE ≤ {target:g}")
        lines.append("")
        lines.append("Seconds and epochs until the validation MSE first reached the target "
                     "(mean over the seeds that reached it; k/n = seeds that reached it).")
        lines.append("")
        header = ["optimizer"] + [f"{PAIR_LABEL.get(p, p)} {w}" for p in pairs for w in ("time, s", "epochs")]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for optimizer in optimizers:
            row = [optimizer]
            for pair in pairs:
                r = cell.get((pair, optimizer))
                if r is None or not getattr(r, "target_reached", 0):
                    row += ["not reached" + (f" (0/{r.runs})" if r is not None else ""), "—"]
                else:
                    row += [f"{r.target_time_mean:.2f} ({r.target_reached}/{r.runs})", f"{r.target_epoch_mean:.0f}"]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")

    lines += statistics_markdown(results, meta)

    lines.append("## Figures")
    lines.append("")
    for pair in pairs:
        lines.append(f"- `val_loss_{pair}.png`: validation-loss curves of every optimizer on "
                     f"{PAIR_LABEL.get(pair, pair)} (seed 0, rolling median, log scale)")
    lines.append("- `mse.png`: validation MSE per optimizer and pair "
                 "(mean ± std; ✕ the study; dashed: study's best)")
    lines.append("- `time.png`: training time per optimizer and pair (mean ± std; ✕ the study)")
    lines.append("- `profiles.png`: performance profiles (Dolan–Moré) of the optimizer steps and seconds to "
                 "validation MSE ≤ target and of the steps to dense-grid median rel. error ≤ target, "
                 "over the (pair, seed) problems")
    for pair, info in (best or {}).items():
        retrained = info.get("retrained_mse")
        note = (f"; retrained for the figure: {retrained:.3g}" if retrained is not None
                and not math.isclose(retrained, info["mse"], rel_tol=1e-3) else "")
        level = figure_level(pair)
        lines.append(f"- `k_vt_{level}_{pair}.png`: k_VT({level}→{level - 1})(T) on {PAIR_LABEL.get(pair, pair)} "
                     f"by the best optimizer (lowest mean MSE), {info['optimizer']}, its best seed {info['seed']} "
                     f"(validation MSE {info['mse']:.3g}{note})")
    lines.append("")
    diverged = results[results["status"] != "ok"]
    if len(diverged):
        lines.append("## Diverged runs")
        lines.append("")
        for r in diverged.itertuples():
            lines.append(f"- {r.pair} {r.optimizer} seed {r.seed}: {r.message}")
        lines.append("")
    return "\n".join(lines)


def synthetic_markdown(results: pd.DataFrame, summary: pd.DataFrame, meta: dict) -> str:
    optimizers = _ordered_optimizers(summary["optimizer"].unique())
    cell = {r.optimizer: r for r in summary.itertuples()}
    machine = meta["sessions"][0]["machine"]
    training = meta["training"]
    seeds = sorted(int(s) for s in results["seed"].unique())
    lines = ["# Synthetic benchmark: the study's Table 2 reproduced with kvt", ""]
    lines.append(f"Training time (s) and epochs until early stopping, mean ± std over seeds "
                 f"{', '.join(map(str, seeds))}, beside the study's values. Best epoch: the epoch of the lowest "
                 "validation loss (early stopping then waits 5 more epochs). Validation MSE (mean over the two "
                 f"targets; the noise floor is {SYNTHETIC['noise'] ** 2:g}) and log-cosh at the best epoch.")
    lines.append("")
    quick = "Quick settings (for tests; not comparable with the study): "
    lines.append((quick if training.get("quick") else "Settings: ")
                 + f"{training['rows']} × {SYNTHETIC['columns']} uniform [0, 1) data, inputs = columns "
                 + ", ".join(f"{a}–{b - 1}" for a, b in SYNTHETIC["groups"])
                 + f", two targets = fixed nonlinear functions of the inputs + {SYNTHETIC['noise']:g} × N(0, 1) noise "
                 f"(see kvt/bench/synthetic.py); {training['units']} units per Dense layer; batch {SYNTHETIC['batch_size']}; "
                 f"validation 20 %; at most {training['epochs']} epochs; early stopping patience "
                 f"{SYNTHETIC['patience']}, min_delta {SYNTHETIC['min_delta']:g}; registry default hyper-parameters. "
                 f"Machine: {machine['platform']}, {machine['cpu_count']} CPU cores, load average at start "
                 f"{machine.get('load_average_1_5_15')}.")
    lines.append("")
    header = ["optimizer", "time, s", "study time, s", "epochs", "study epochs", "best epoch", "val. MSE",
              "val. log-cosh", "steps/s"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for optimizer in optimizers:
        r = cell[optimizer]
        epochs = _pm(r.epochs_mean, r.epochs_std, ".1f")
        capped = int(((results["optimizer"] == optimizer) & (results["status"] == "ok")
                      & (results["epochs"] >= training["epochs"])).sum())
        if capped:
            epochs += f" ({capped}/{r.runs} hit the {training['epochs']}-epoch cap)"
        if r.ok < r.runs:
            epochs += f" ({r.runs - r.ok}/{r.runs} diverged)"
        lines.append("| " + " | ".join([
            optimizer, _pm(r.time_mean, r.time_std, ".2f"),
            _pm(r.study_time, r.study_time_std, ".3g") if np.isfinite(r.study_time) else "—",
            epochs, _fmt(r.study_epochs, ".0f"), _fmt(r.best_epoch_mean, ".1f"),
            _pm(r.val_loss_mean, r.val_loss_std, ".3g"), _fmt(r.val_log_cosh_mean, ".3g"),
            _fmt(r.steps_per_second, ".0f")]) + " |")
    lines.append("")
    lines.append("Every registry optimizer runs here: AdaHessian, SAM and K-FAC through the synthetic "
                 "network's own train step (Hutchinson estimates, two-pass step, Dense-layer factors). "
                 "A run that hits the epoch cap had not converged: its time and epochs are lower bounds.")
    lines.append("")
    lines.append("Figures: `synthetic_time_epochs.png` (time and epochs per optimizer, ✕ the study), "
                 "`synthetic_val_loss.png` (validation-loss curves, seed 0).")
    diverged = results[results["status"] != "ok"]
    if len(diverged):
        lines.append("")
        lines.append("Diverged runs: " + "; ".join(f"{r.optimizer} seed {r.seed}: {r.message}"
                                                   for r in diverged.itertuples()))
    lines.append("")
    return "\n".join(lines)


def _finished_runs(out: Path, columns: list[str], required: list[str] | None = None) -> tuple[dict, pd.DataFrame]:
    """A benchmark folder's bench.json and its finished runs (refused when there are none)."""
    meta = json.loads((out / "bench.json").read_text())
    results = read_results(out / "results.csv", columns, required)
    if results.empty:
        raise KvtError(f"{out}/results.csv has no finished runs to report")
    results["seed"] = results["seed"].astype(int)
    return meta, results


def _write_tables(out: Path, markdown: str, summary: pd.DataFrame) -> None:
    atomic.write_text(out / "results.md", markdown + "\n", force=True)
    atomic.write_text(out / "summary.csv", summary.to_csv(index=False, float_format="%.6g", lineterminator="\n"),
                      force=True)


def report_vt(out: str | Path, log: Callable[[str], None] | None = None, level_figures: bool = True) -> pd.DataFrame:
    """(Re)write results.md and the figures of a VT benchmark folder from its results.csv."""
    out = Path(out)
    log = log or (lambda message: None)
    meta, results = _finished_runs(out, VT_COLUMNS, VT_REQUIRED)
    summary = vt_summary(results)
    pairs = _ordered_pairs(summary["pair"].unique())
    optimizers = _ordered_optimizers(summary["optimizer"].unique())
    for pair in pairs:
        _save_png(vt_loss_figure(out, pair, optimizers), out / f"val_loss_{pair}.png")
    _save_png(_grouped_bars(summary, "mse_mean", "mse_std", "study_mse", "validation MSE (scaled target)",
                            "Validation MSE per optimizer (mean ± std; ✕ study; dashed: study's best)", True, True),
              out / "mse.png")
    _save_png(_grouped_bars(summary, "time_mean", "time_std", "study_time", "training time, s",
                            "Training time per optimizer (mean ± std; ✕ study)", False, False), out / "time.png")
    _save_png(profiles_figure(results), out / "profiles.png")
    best = _best_per_pair(summary, results)
    if level_figures:
        for pair, info in best.items():
            level = figure_level(pair)
            log(f"k_VT({level}→{level - 1}) figure for {pair}: retraining {info['optimizer']} seed {info['seed']}")
            try:
                info["retrained_mse"] = vt_level_figure(out, pair, info, meta["training"])
            except KvtError as exc:
                log(f"could not draw k_VT for {pair}: {exc}")
    summary_csv = summary.merge(statistics_summary(results, meta), on=["pair", "optimizer"], how="left")
    _write_tables(out, vt_markdown(results, summary, meta, best), summary_csv)
    return results


def report_synthetic(out: str | Path) -> pd.DataFrame:
    """(Re)write results.md and the figures of a synthetic benchmark folder from its results.csv."""
    out = Path(out)
    meta, results = _finished_runs(out, SYNTHETIC_COLUMNS)
    summary = synthetic_summary(results)
    synthetic_figures(out, summary)
    _write_tables(out, synthetic_markdown(results, summary, meta), summary)
    return results
