"""The checks of a network of an exchange process (VV, VV'), on its dense grid: every level pair x every 10 K.

The counterpart of :mod:`kvt.kinetics.validity` (k <= 0) and :mod:`kvt.kinetics.accuracy` (errors against the
generator) for networks with two level inputs, k(level_a, level_b, T) of A(level_a) + B(level_b) ->
A(level_a - 1) + B(level_b + 1); the reference is :mod:`kvt.physics.fho_vv` through the process
(:meth:`kvt.physics.process.ExchangeProcess.rate_coefficient`). Regions and summaries have the shapes of the
VT ones, so the same refusal (:func:`kvt.kinetics.validity.refuse_nonphysical`) and the same summary lines serve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kvt.kinetics.validity import DENSE_T_STEP_K, compact_levels, dense_temperatures

CHUNK = 1 << 18  # grid points per evaluation step


def level_pairs(levels_a, levels_b) -> tuple[np.ndarray, np.ndarray]:
    """Every (level_a, level_b) of two level lists, level_a-major."""
    a, b = np.meshgrid(np.asarray(levels_a, dtype=int), np.asarray(levels_b, dtype=int), indexing="ij")
    return a.ravel(), b.ravel()


def trained_pairs(network) -> tuple[np.ndarray, np.ndarray]:
    """Every level pair of the network's trained ranges."""
    (lo_a, hi_a), (lo_b, hi_b) = (network.level_ranges[name] for name in ("level_a", "level_b"))
    return level_pairs(range(int(lo_a), int(hi_a) + 1), range(int(lo_b), int(hi_b) + 1))


def grid_words(levels_a, levels_b) -> str:
    """'level pairs (level_a 1..35) x (level_b 0..34)'."""
    return (f"level pairs (level_a {min(levels_a)}..{max(levels_a)}) x (level_b {min(levels_b)}..{max(levels_b)})")


def nonphysical_region(level_a, level_b, T, k) -> dict:
    """Count and region of the rates that are <= 0 or not finite (the shape of :func:`kvt.kinetics.validity.
    nonphysical_region`; ``where`` names the level pairs)."""
    level_a, level_b, T, k = (np.asarray(v).ravel() for v in (level_a, level_b, T, k))
    bad = ~(np.isfinite(k) & (k > 0))
    region = {"count": int(bad.sum()), "points": int(len(k)), "fraction": float(bad.mean()) if len(k) else 0.0}
    if bad.any():
        region["levels"] = compact_levels(level_a[bad])
        region["level_list"] = sorted(int(i) for i in np.unique(level_a[bad]))
        region["level_b_list"] = sorted(int(j) for j in np.unique(level_b[bad]))
        region["where"] = f"level_a {compact_levels(level_a[bad])} with level_b {compact_levels(level_b[bad])}"
        region["T_K"] = [float(T[bad].min()), float(T[bad].max())]
    return region


def predict_pairs(network, level_a, level_b, temperatures) -> np.ndarray:
    """k of every level pair at every temperature, shape (n_pairs, n_T)."""
    temperatures = np.asarray(temperatures, dtype=float)
    n = len(level_a)
    return network.predict_k(np.repeat(level_a, temperatures.size), np.repeat(level_b, temperatures.size),
                             np.tile(temperatures, n)).reshape(n, temperatures.size)


def dense_grid_region(network, step: float = DENSE_T_STEP_K) -> dict:
    """Non-positive predictions on every trained level pair x temperatures ``step`` K apart over the trained range."""
    a, b = trained_pairs(network)
    temps = dense_temperatures(*network.temperature_range, step)
    k = predict_pairs(network, a, b, temps)
    region = nonphysical_region(np.repeat(a, temps.size), np.repeat(b, temps.size), np.tile(temps, len(a)), k)
    region["grid"] = {"levels": [int(a.min()), int(a.max())], "what": grid_words(a, b),
                      "T_K": [float(temps[0]), float(temps[-1])], "T_step_K": step}
    return region


def evaluate_network(network, process, levels_a=None, levels_b=None, temperatures=None) -> dict:
    """Relative errors |k_model - k_FHO| / k_FHO of an exchange network on level pairs x temperatures.

    Defaults: every level pair of the network's trained ranges, every 10 K of its trained temperatures.
    Returns ``{"grid", "overall": {median, p95, max}, "worst", "per_pair": DataFrame (level_a, level_b,
    median, p95, max), "table": DataFrame}`` (the shape of :func:`kvt.kinetics.accuracy.evaluate_network`).
    """
    if levels_a is None or levels_b is None:
        a, b = trained_pairs(network)
    else:
        a, b = level_pairs(levels_a, levels_b)
    temps = (dense_temperatures(*network.temperature_range) if temperatures is None
             else np.asarray(temperatures, dtype=float))
    grid_a, grid_b, grid_T = np.repeat(a, temps.size), np.repeat(b, temps.size), np.tile(temps, len(a))
    k_ref = np.empty(grid_T.size)
    for start in range(0, grid_T.size, CHUNK):
        part = slice(start, start + CHUNK)
        k_ref[part] = process.rate_coefficient(grid_a[part], grid_b[part], grid_T[part])
    k_model = network.predict_k(grid_a, grid_b, grid_T)
    rel = np.abs(k_model - k_ref) / k_ref
    table = pd.DataFrame({"level_a": grid_a, "level_b": grid_b, "T_K": grid_T, "k_fho_m3_s": k_ref,
                          "k_model_m3_s": k_model, "rel_error": rel}, copy=False)
    per_pair = table.groupby(["level_a", "level_b"])["rel_error"].agg(
        median="median", p95=lambda r: np.percentile(r, 95), max="max").reset_index()
    worst = int(np.argmax(rel))
    return {"grid": {"levels": [int(a.min()), int(a.max())], "what": grid_words(a, b), "pairs": int(len(a)),
                     "T_K": [float(temps.min()), float(temps.max())], "n_T": int(temps.size),
                     "points": int(rel.size)},
            "overall": {"median": float(np.median(rel)), "p95": float(np.percentile(rel, 95)),
                        "max": float(rel.max())},
            "worst": {"level_a": int(grid_a[worst]), "level_b": int(grid_b[worst]), "T_K": float(grid_T[worst]),
                      "rel_error": float(rel[worst])},
            "per_pair": per_pair, "table": table}


def json_summary(evaluation: dict) -> dict:
    return {key: value for key, value in evaluation.items() if key not in ("per_pair", "table")}


def physics_checks(network, process) -> dict:
    """A new exchange run's checks: ``nonphysical`` (k <= 0 on the dense grid) and ``dense_grid`` (accuracy against
    the FHO VV generator on that grid)."""
    evaluation = evaluate_network(network, process or network.process)  # one prediction of the grid serves both
    table, grid = evaluation["table"], evaluation["grid"]
    region = nonphysical_region(table["level_a"], table["level_b"], table["T_K"], table["k_model_m3_s"])
    region["grid"] = {"levels": grid["levels"], "what": grid["what"], "T_K": grid["T_K"], "T_step_K": DENSE_T_STEP_K}
    return {"nonphysical": region, "dense_grid": json_summary(evaluation)}
