"""Accuracy of a trained network against the FHO-FR generator on a dense grid.

The reference is the FHO-FR rate of the run's process (:meth:`kvt.physics.process.Process.rate_coefficient`), on every
transition of the grid's levels at every temperature; errors are relative,
|k_model - k_FHO| / k_FHO.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from kvt.errors import KvtError

DENSE_TEMPS_SPEC = "250:10000:10"
CHUNK = 1 << 16  # grid points per FHO-FR evaluation
NO_REFERENCE = ("this run was trained on a user CSV, so there is no FHO-FR reference to evaluate against; "
                "name one with --pair")


def _summary(rel) -> dict[str, float]:
    return {"median": float(np.median(rel)), "p95": float(np.percentile(rel, 95)), "max": float(np.max(rel))}


@functools.lru_cache(maxsize=8)
def reference_rates(process, levels: tuple[int, ...], temperatures: tuple[float, ...]) -> np.ndarray:
    """FHO-FR's k of a :class:`~kvt.physics.process.Process` on levels x temperatures, level-major (read-only;
    computed once per grid, e.g. once per benchmark pair)."""
    grid_levels = np.repeat(np.asarray(levels), len(temperatures))
    grid_temps = np.tile(np.asarray(temperatures, dtype=float), len(levels))
    k_ref = np.empty(len(grid_levels))
    for start in range(0, len(k_ref), CHUNK):  # FHO-FR's temporaries stay CHUNK points long
        part = slice(start, start + CHUNK)
        k_ref[part] = process.rate_coefficient(grid_levels[part], grid_temps[part])
    k_ref.flags.writeable = False
    return k_ref


def evaluate_network(network, process, levels=None, temperatures=None) -> dict:
    """Relative errors of ``network`` (a :class:`kvt.network.inference.Network`) on levels x temperatures.

    ``process``: the reference (a :class:`kvt.physics.process.Process`, or a pair's name: any of the 18; None is
    refused with :data:`NO_REFERENCE`); ``levels`` default to every level of its molecule (O2 1..35,
    N2 1..46, NO 1..38), ``temperatures`` to every 10 K of 250..10000 K.

    Returns ``{"grid": ..., "overall": {median, p95, max}, "worst": {...},
    "per_level": DataFrame, "table": DataFrame}``.
    """
    from kvt.data.grid import parse_temperatures
    from kvt.physics.process import resolve

    if process is None:
        raise KvtError(NO_REFERENCE)
    process = resolve(process)
    if levels is None:
        levels = process.levels
    if temperatures is None:
        temperatures = parse_temperatures(DENSE_TEMPS_SPEC)
    levels = np.asarray(levels, dtype=int)
    temperatures = np.asarray(temperatures, dtype=float)
    grid_levels, grid_temps = np.repeat(levels, len(temperatures)), np.tile(temperatures, len(levels))
    k_ref = reference_rates(process, tuple(levels.tolist()), tuple(temperatures.tolist()))
    k_model = network.predict_k(grid_levels, grid_temps)
    rel = np.abs(k_model - k_ref)
    rel /= k_ref
    table = pd.DataFrame({"level": grid_levels, "T_K": grid_temps, "k_fho_m3_s": k_ref,
                          "k_model_m3_s": k_model, "rel_error": rel}, copy=False)
    per_level = table.groupby("level")["rel_error"].agg(
        median="median", p95=lambda r: np.percentile(r, 95), max="max").reset_index()
    worst = table.loc[table["rel_error"].idxmax()]
    return {
        "grid": {"levels": [int(levels.min()), int(levels.max())], "n_levels": int(len(levels)),
                 "T_K": [float(temperatures.min()), float(temperatures.max())], "n_T": int(len(temperatures)),
                 "points": int(len(table))},
        "overall": _summary(rel),
        "worst": {"level": int(worst["level"]), "T_K": float(worst["T_K"]), "rel_error": float(worst["rel_error"])},
        "per_level": per_level,
        "table": table,
    }


def json_summary(evaluation: dict) -> dict:
    """The JSON-friendly part of an evaluation (no DataFrames)."""
    return {key: value for key, value in evaluation.items() if key not in ("per_level", "table")} | {
        "per_level": evaluation["per_level"].to_dict(orient="records")}
