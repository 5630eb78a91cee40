"""The few lines ``kvt bench`` prints when it is done: who came first, and where the whole report is.

The report itself (``results.md``, a few hundred lines of tables, statistics and figures) stays
in the output folder; a terminal gets its headline read from the folder's ``summary.csv``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def plural(count: int, word: str, many: str | None = None) -> str:
    """``"1 pair"``, ``"3 pairs"``; ``many`` for an irregular plural."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def short_summary(out: Path, shown: int = 3) -> str:
    """The headline of the benchmark in ``out``: per pair the ``shown`` best optimizers by the protocol's median
    score (VT), or by mean time to convergence (synthetic), and the report's path."""
    meta = json.loads((out / "bench.json").read_text())
    summary = pd.read_csv(out / "summary.csv")
    lines = []
    if meta.get("kind") == "vt":
        tuned = meta.get("training", {}).get("protocol") == "tuned"
        score = "held-out MSE" if tuned else "validation MSE"
        pairs = list(dict.fromkeys(summary["pair"]))
        optimizers = summary["optimizer"].nunique()
        runs = int(summary["ok"].sum())
        lines.append(f"VT benchmark, protocol {meta.get('training', {}).get('protocol', 'defaults')}: "
                     f"{plural(optimizers, 'optimizer')} x {plural(len(pairs), 'pair')}, {plural(runs, 'run')} "
                     f"finished; the {shown} lowest median {score}s (scaled target) of each pair, with their rank:")
        for pair in pairs:
            part = summary[summary["pair"] == pair].dropna(subset=["score_median"])
            part = part.sort_values(["score_median", "optimizer"]).head(shown)
            cells = [f"{row.optimizer} {row.score_median:.3g} (rank {int(row.score_rank)})"
                     for row in part.itertuples()]
            lines.append(f"  {pair:<6} {', '.join(cells) if cells else 'no finished run'}")
    else:
        part = summary.dropna(subset=["time_mean"]).sort_values(["time_mean", "optimizer"]).head(shown)
        lines.append(f"synthetic benchmark: {plural(len(summary), 'optimizer')}, "
                     f"{plural(int(summary['ok'].sum()), 'run')} finished; fastest to converge (mean over seeds):")
        lines += [f"  {row.optimizer:<11} {row.time_mean:.3g} s, {row.epochs_mean:.3g} epochs"
                  for row in part.itertuples()]
    contents = "every optimizer, statistics, figures" if meta.get("kind") == "vt" else "every optimizer, figures"
    lines.append(f"report: {out / 'results.md'} ({contents}); tables: {out / 'results.csv'}, {out / 'summary.csv'}")
    return "\n".join(lines)
