"""Accuracy of a trained network against the FHO-FR generator on a dense grid.

The reference is :func:`kvt.physics.fho.rate_coefficient` for the run's pair, on every
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
def _reference(pair: str, levels: tuple[int, ...], temperatures: tuple[float, ...]) -> np.ndarray:
    """FHO-FR's k on levels x temperatures (read-only; computed once per grid, e.g. once per benchmark pair)."""
    from kvt.physics import fho, species

    reference_pair = species.pair(pair)
    grid_levels = np.repeat(np.asarray(levels), len(temperatures))
    grid_temps = np.tile(np.asarray(temperatures, dtype=float), len(levels))
    k_ref = np.empty(len(grid_levels))
    for start in range(0, len(k_ref), CHUNK):  # FHO-FR's temporaries stay CHUNK points long
        part = slice(start, start + CHUNK)
        k_ref[part] = fho.rate_coefficient(grid_levels[part], grid_temps[part], reference_pair)
    k_ref.flags.writeable = False
    return k_ref


def evaluate_network(network, pair: str | None, levels=None, temperatures=None) -> dict:
    """Relative errors of ``network`` (a :class:`kvt.network.inference.Network`) on levels x temperatures.

    ``pair`` is any of the 18; ``levels`` default to every level of its molecule (O2 1..35,
    N2 1..46, NO 1..38), ``temperatures`` to every 10 K of 250..10000 K.

    Returns ``{"grid": ..., "overall": {median, p95, max}, "worst": {...},
    "per_level": DataFrame, "table": DataFrame}``.
    """
    from kvt.physics import species
    from kvt.data.grid import parse_temperatures

    if pair is None:
        raise KvtError(NO_REFERENCE)
    reference_pair = species.pair(pair)
    if levels is None:
        levels = reference_pair.levels
    if temperatures is None:
        temperatures = parse_temperatures(DENSE_TEMPS_SPEC)
    levels = np.asarray(levels, dtype=int)
    temperatures = np.asarray(temperatures, dtype=float)
    grid_levels, grid_temps = np.repeat(levels, len(temperatures)), np.tile(temperatures, len(levels))
    k_ref = _reference(reference_pair.name, tuple(levels.tolist()), tuple(temperatures.tolist()))
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
