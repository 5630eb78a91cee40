"""The folder of ``kvt evaluate``: a run against the FHO-FR rates of its process on a dense (level, T) grid.

``summary.json`` (the overall and worst errors, the grid, the trained range), ``per_level.csv``,
``grid.csv`` (every point) and ``relative_error.png``, written as one folder
(:func:`kvt.files.atomic.directory`: the old folder or the new one, never a half).
"""

from __future__ import annotations

import json
from pathlib import Path

from kvt.files import atomic
from kvt.kinetics.accuracy import evaluate_network, json_summary
from kvt.runs.rates import check_range

KIND = "evaluation"
FILES = ("summary.json", "per_level.csv", "grid.csv", "relative_error.png")


def evaluate(run, process, levels, temperatures, allow_extrapolation: bool = False) -> tuple[dict, dict]:
    """The evaluation of ``run`` against ``process`` (:func:`kvt.kinetics.accuracy.evaluate_network`) and its
    JSON summary, after the range check of the grid."""
    check_range(run, levels, temperatures, allow_extrapolation)
    evaluation = evaluate_network(run.network, process, levels, temperatures)
    summary = json_summary(evaluation)
    summary["trained_range"] = {"level": list(run.level_range), "T_K": list(run.temperature_range)}
    summary["extrapolation_allowed"] = bool(allow_extrapolation)
    return evaluation, summary


def write_folder(run, evaluation: dict, summary: dict, out: Path, force: bool = False) -> Path:
    """The evaluation folder at ``out``, atomically; ``force`` replaces only an evaluation folder kvt wrote."""
    from kvt.runs import figures  # matplotlib: after every check

    with atomic.directory(out, KIND, force=force, inputs=[run.path]) as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        evaluation["per_level"].to_csv(tmp / "per_level.csv", index=False, float_format="%.6e")
        evaluation["table"].to_csv(tmp / "grid.csv", index=False, float_format="%.10e")
        figures.save_figure(figures.error_figure(evaluation["table"], run.metadata,
                                                 title="relative error vs FHO-FR"), tmp / "relative_error.png")
    return out


def summary_lines(run, evaluation: dict) -> list[str]:
    """What ``kvt evaluate`` prints: the grid, the overall error, and each level's."""
    overall, worst, grid = evaluation["overall"], evaluation["worst"], evaluation["grid"]
    lines = [f"{run.label} ({run.metadata['options'].get('mode', 'study')} mode): {grid['n_levels']} levels x "
             f"{grid['n_T']} temperatures = {grid['points']} points vs FHO-FR",
             f"relative error: median {overall['median']:.3e}  p95 {overall['p95']:.3e}  max {overall['max']:.3e}"
             f"  (worst: level {worst['level']}, {worst['T_K']:g} K)",
             f"{'level':>5}  {'median':>10}  {'p95':>10}  {'max':>10}"]
    lines += [f"{row.level:>5}  {row.median:>10.3e}  {row.p95:>10.3e}  {row.max:>10.3e}"
              for row in evaluation["per_level"].itertuples(index=False)]
    return lines
