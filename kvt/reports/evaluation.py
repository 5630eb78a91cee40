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


# ---------------------------------------------------------------- exchange runs (VV, VV')
EXCHANGE_FILES = ("summary.json", "per_pair.csv", "grid.csv", "relative_error_max.png", "relative_error_median.png")


def evaluate_exchange(run, levels_a, levels_b, temperatures, allow_extrapolation: bool = False) -> tuple[dict, dict]:
    """The evaluation of an exchange run against the FHO VV generator on level_a x level_b x temperatures
    (:func:`kvt.kinetics.exchange.evaluate_network`), after the range check, and its JSON summary."""
    from kvt.kinetics import exchange
    from kvt.runs.exchange_rates import check_range as check_pairs

    check_pairs(run, levels_a, levels_b, temperatures, allow_extrapolation)
    evaluation = exchange.evaluate_network(run.network, run.process, levels_a, levels_b, temperatures)
    summary = exchange.json_summary(evaluation)
    summary["trained_range"] = {**{name: list(r) for name, r in run.network.level_ranges.items()},
                                "T_K": list(run.temperature_range)}
    summary["extrapolation_allowed"] = bool(allow_extrapolation)
    return evaluation, summary


def write_exchange_folder(run, evaluation: dict, summary: dict, out: Path, force: bool = False) -> Path:
    """The evaluation folder of an exchange run: summary, per-level-pair errors, the grid, two heat maps."""
    from kvt.runs import exchange_figures, figures

    label = f"{run.process.label} ({run.metadata['options'].get('mode', 'study')} mode)"
    with atomic.directory(out, KIND, force=force, inputs=[run.path]) as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        evaluation["per_pair"].to_csv(tmp / "per_pair.csv", index=False, float_format="%.6e")
        evaluation["table"].to_csv(tmp / "grid.csv", index=False, float_format="%.10e")
        figures.save_figure(exchange_figures.error_map(evaluation["table"], f"{label}: max relative error vs FHO VV"),
                            tmp / "relative_error_max.png")
        median = evaluation["per_pair"].rename(columns={"median": "rel_error"})
        figures.save_figure(exchange_figures.error_map(median, f"{label}: median relative error vs FHO VV"),
                            tmp / "relative_error_median.png")
    return out


def exchange_summary_lines(run, evaluation: dict, show: int = 10) -> list[str]:
    """What ``kvt evaluate`` prints of an exchange run: the grid, the overall error, the ``show`` worst level pairs."""
    overall, worst, grid = evaluation["overall"], evaluation["worst"], evaluation["grid"]
    lines = [f"{run.process.label} ({run.metadata['options'].get('mode', 'study')} mode): {grid['pairs']} level pairs "
             f"x {grid['n_T']} temperatures = {grid['points']} points vs FHO VV",
             f"relative error: median {overall['median']:.3e}  p95 {overall['p95']:.3e}  max {overall['max']:.3e}"
             f"  (worst: level_a {worst['level_a']}, level_b {worst['level_b']}, {worst['T_K']:g} K)",
             f"worst {min(show, len(evaluation['per_pair']))} level pairs (all in per_pair.csv):",
             f"{'level_a':>7}  {'level_b':>7}  {'median':>10}  {'p95':>10}  {'max':>10}"]
    rows = evaluation["per_pair"].sort_values("max", ascending=False).head(show)
    lines += [f"{row.level_a:>7}  {row.level_b:>7}  {row.median:>10.3e}  {row.p95:>10.3e}  {row.max:>10.3e}"
              for row in rows.itertuples(index=False)]
    return lines
