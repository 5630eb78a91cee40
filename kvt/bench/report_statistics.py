"""The statistical sections of a VT benchmark's results.md: statistics over seeds, time to result, what users read.

:func:`statistics_markdown` returns the markdown lines that :func:`kvt.bench.report.vt_markdown`
appends before its figure list. The numbers come from :mod:`kvt.bench.statistics`. Columns an
older results.csv lacks read as NaN and show as "—".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scipy import stats

from kvt.bench.statistics import CONFIDENCE, REFERENCE, RESAMPLES, _column, metric_table, rank_table
from kvt.bench.study import PAIR_LABEL, _ordered_optimizers, _ordered_pairs

#: Columns of the "What users read" tables: results.csv column, header.
USER_METRICS = (("fho_rel_err_max", "max rel. err. vs FHO-FR (dense grid)"),
                ("nonpositive_fraction", "non-positive fraction"),
                ("tau_rel_err_1000K", "τ rel. err. 1000 K"),
                ("tau_rel_err_5000K", "τ rel. err. 5000 K"))
HELDOUT_METRICS = (("heldout_rel_err_median", "held-out median rel. err."),
                   ("heldout_rel_err_max", "held-out max rel. err."))


def _fmt(value, spec: str = ".3g") -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(row) + " |" for row in rows] + [""])


def primary_score(meta: dict) -> tuple[str, str]:
    """The column that scores a run and its name: held-out MSE for the tuned protocol, validation MSE otherwise."""
    if meta.get("training", {}).get("protocol") == "tuned":
        return "heldout_mse_scaled", "held-out MSE (scaled target)"
    return "val_mse_scaled", "validation MSE (scaled target)"


def _target(results: pd.DataFrame, meta: dict, column: str, default: float) -> float:
    values = _column(results, column).dropna()
    if len(values):
        return float(values.iloc[0])
    configured = meta.get("training", {}).get(column)
    return float(configured) if configured is not None else default


def _smallest_p(n: int) -> float:
    """The two-sided Mann–Whitney p of two fully separated samples of n values: the smallest the test can give."""
    return float(stats.mannwhitneyu(np.arange(n), np.arange(n, 2 * n), alternative="two-sided").pvalue)


def _ranks_line(ranked: pd.DataFrame) -> str:
    """'1: a, b; 3: c' — the optimizers of one pair grouped by rank (in median order within a rank; — last)."""
    groups: dict[float, list[str]] = {}
    for r in ranked.itertuples():
        groups.setdefault(float(r.rank) if np.isfinite(r.rank) else math.inf, []).append(r.optimizer)
    return "; ".join(f"{_fmt(rank, '.0f')}: {', '.join(groups[rank])}" for rank in sorted(groups))


def _statistics_section(results: pd.DataFrame, column: str, name: str, pairs: list[str]) -> list[str]:
    table = metric_table(results, column)
    ranked = rank_table(table)
    has_reference = set(table.loc[table["optimizer"] == REFERENCE, "pair"])
    lines = [f"### {name} (`{column}`)", ""]
    for pair in pairs:
        part = table[table["pair"] == pair].set_index("optimizer")
        rank = ranked[ranked["pair"] == pair].set_index("optimizer")["rank"]
        rows = []
        for optimizer in _ordered_optimizers(part.index):
            r = part.loc[optimizer]
            n = f"{int(r['n'])}" + (f" ({int(r['not_ok'])} not ok)" if r["not_ok"] else "")
            ci = "—" if not np.isfinite(r["ci_low"]) else f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
            iqr = "—" if not np.isfinite(r["q1"]) else f"{_fmt(r['q1'])} – {_fmt(r['q3'])}"
            p = "ref." if optimizer == REFERENCE and pair in has_reference else _fmt(r["mwu_p"], ".2g")
            rows.append([optimizer, n, _fmt(r["median"]), iqr, ci, p, _fmt(rank.get(optimizer, math.nan), ".0f")])
        lines.append(f"{PAIR_LABEL.get(pair, pair)}:")
        lines.append("")
        lines += _table(["optimizer", "n", "median", "IQR (q1 – q3)", f"{CONFIDENCE * 100:g} % CI of the median",
                         f"p (Mann–Whitney vs {REFERENCE})", "rank"], rows)
    lines.append(f"Ranks of {name} per pair (optimizers in median order; equal numbers = tied):")
    lines.append("")
    lines += _table(["pair", "rank: optimizers"],
                    [[PAIR_LABEL.get(pair, pair), _ranks_line(ranked[ranked["pair"] == pair])] for pair in pairs])
    return lines


def _time_table(results: pd.DataFrame, pairs: list[str], optimizers: list[str], steps: str, seconds: str,
                target: str) -> list[str]:
    ok = results["status"] == "ok"
    steps_values, seconds_values = _column(results, steps), _column(results, seconds)
    # a run without its target value (an older results.csv) was not measured: "—", not "0 reached"
    recorded = _column(results, target).notna()
    header = ["optimizer"] + [f"{PAIR_LABEL.get(p, p)} {w}" for p in pairs for w in ("steps", "s", "reached")]
    rows = []
    for optimizer in optimizers:
        row = [optimizer]
        for pair in pairs:
            cell = (results["pair"] == pair) & (results["optimizer"] == optimizer)
            if not cell.any():
                row += ["", "", ""]
                continue
            reached = cell & ok & (steps_values.notna() | seconds_values.notna())
            row += [_fmt(steps_values[reached].median(), ".3g"), _fmt(seconds_values[reached].median(), ".3g"),
                    f"{int(reached.sum())}/{int(cell.sum())}" if recorded[cell].any() else "—"]
        rows.append(row)
    return _table(header, rows)


def _users_tables(results: pd.DataFrame, pairs: list[str], optimizers: list[str], metrics) -> list[str]:
    ok = results["status"] == "ok"
    lines = []
    for pair in pairs:
        rows = []
        for optimizer in optimizers:
            cell = (results["pair"] == pair) & (results["optimizer"] == optimizer)
            if cell.any():
                rows.append([optimizer] + [_fmt(_column(results, column)[cell & ok].median()) for column, _ in metrics])
        lines.append(f"{PAIR_LABEL.get(pair, pair)}:")
        lines.append("")
        lines += _table(["optimizer"] + [header for _, header in metrics], rows)
    return lines


def statistics_summary(results: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """Per (pair, optimizer) the statistics of the primary score (``score_*``) and of the dense-grid median
    relative error vs FHO-FR (``fho_*``): n, median, iqr, ci_low, ci_high, mwu_p, rank — summary.csv's new columns."""
    keys = ["pair", "optimizer"]
    merged = None
    for prefix, column in (("score", primary_score(meta)[0]), ("fho", "fho_rel_err_median")):
        table = metric_table(results, column)
        table = table.merge(rank_table(table)[keys + ["rank"]], on=keys, how="left")
        table = table[keys + ["n", "median", "iqr", "ci_low", "ci_high", "mwu_p", "rank"]]
        table = table.rename(columns={c: f"{prefix}_{c}" for c in table.columns if c not in keys})
        merged = table if merged is None else merged.merge(table, on=keys, how="outer")
    return merged


def statistics_markdown(results: pd.DataFrame, meta: dict) -> list[str]:
    """The markdown lines of the sections "Statistics over seeds", "Time to result" and "What users read"."""
    pairs = _ordered_pairs(results["pair"].unique())
    optimizers = _ordered_optimizers(results["optimizer"].unique())
    column, name = primary_score(meta)
    seeds = sorted(int(s) for s in results["seed"].unique())
    lines = ["## Statistics over seeds", ""]
    per_cell = results[results["status"] == "ok"].groupby(["pair", "optimizer"]).size()
    typical = int(per_cell.mode().max()) if len(per_cell) else 0
    tests = max(len(optimizers) - 1, 0)
    lines.append(f"Over the ok runs of seeds {', '.join(map(str, seeds))} per cell: n values, the median, the "
                 f"interquartile range, a bootstrap {CONFIDENCE * 100:g} % confidence interval of the median "
                 f"(percentile method, {RESAMPLES} resamples, seeded) and the p-value of a two-sided Mann–Whitney "
                 f"U test against {REFERENCE} on the same pair (scipy.stats; not corrected for multiple comparisons, "
                 f"{tests} test{'s' if tests != 1 else ''} per pair"
                 + (f"; with {typical} runs on each side the smallest p it can give is "
                    f"{_smallest_p(typical):.2g}" if typical else "") + "). Lower is better. "
                 "Rank = 1 + the number of optimizers of the pair whose interval lies entirely below this one's: "
                 "overlapping intervals share a rank. An interval needs ≥ 2 values. —: no value (not measured by "
                 "the kvt that wrote this run, or not computable).")
    lines.append("")
    lines += _statistics_section(results, column, name[0].upper() + name[1:], pairs)
    lines += _statistics_section(results, "fho_rel_err_median",
                                 "Dense-grid median relative error vs FHO-FR", pairs)

    target_mse = _target(results, meta, "target_mse", 0.004)
    rel_target = _target(results, meta, "rel_target", 0.05)
    lines.append("## Time to result")
    lines.append("")
    lines.append("Median optimizer steps and training seconds until a target was first reached, over the ok runs "
                 "that reached it (reached: k/n runs of the cell). Performance profiles of the same numbers: "
                 "`profiles.png`.")
    lines.append("")
    lines.append(f"Validation MSE ≤ {target_mse:g}:")
    lines.append("")
    lines += _time_table(results, pairs, optimizers, "target_steps", "target_time_s", "target_mse")
    lines.append(f"Dense-grid median relative error vs FHO-FR ≤ {rel_target:g}:")
    lines.append("")
    lines += _time_table(results, pairs, optimizers, "rel_target_steps", "rel_target_time_s",
                         "rel_target")

    metrics = USER_METRICS + (HELDOUT_METRICS if column == "heldout_mse_scaled" else ())
    lines.append("## What users read")
    lines.append("")
    lines.append("Medians over the ok runs of what a kinetics or CFD code sees: the largest relative error against "
                 "FHO-FR on the dense grid (every level, every 10 K from 250 to 10000 K), the fraction of "
                 "dense-grid predictions ≤ 0, and the relative error of the heat-bath relaxation time against "
                 "FHO-FR at 1000 K and 5000 K" + (", and the relative errors on the held-out temperatures"
                                                  if column == "heldout_mse_scaled" else "") + ". How to read "
                 "the extremes: a non-positive fraction of 0 says only that every rate is > 0, not that it is "
                 "right (the max error column says how wrong); a τ error near −1 (−100 %) means the network's "
                 "relaxation is orders of magnitude faster than FHO-FR's, because some of its rates are far too "
                 "high; errors of 1e6 and more are rates too high by that factor where k is smallest (low levels, "
                 "low T). —: no value, either because a rate ≤ 0 or not finite at that temperature leaves the "
                 "relaxation time undefined (the run's non-positive fraction is then > 0), or because the kvt that "
                 "wrote the run did not measure it.")
    lines.append("")
    lines += _users_tables(results, pairs, optimizers, metrics)
    return lines
