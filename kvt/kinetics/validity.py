"""Physical validity of a trained network's rates: non-positive predictions and relaxation times.

Every path by which rates leave kvt (``kvt predict``, ``kvt export``, ``kvt relax``)
refuses k <= 0 unless the user asks for it; ``kvt train`` reports where they are and how
far the network's heat-bath relaxation time is from the FHO-FR rates' (:mod:`kvt.kinetics.heat_bath`).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from kvt.kinetics import heat_bath
from kvt.physics.process import Process, resolve
from kvt.errors import KvtError, KvtWarning

NONPHYSICAL_FLAG = "--allow-nonphysical"
DENSE_T_STEP_K = 10.0


class NonphysicalWarning(KvtWarning):
    """Rates <= 0 written because the user asked for them."""


def refuse_nonphysical(region: dict, allowed: bool, refusal) -> None:
    """The one refusal of rates <= 0: where ``region`` has any, ``KvtError(refusal(region))`` unless ``allowed``;
    then a warning says where they are (the written file says so too). ``refusal``: the region's error line."""
    if not region["count"]:
        return
    if not allowed:
        raise KvtError(refusal(region))
    warnings.warn(f"{describe_region(region)} have k <= 0 ({NONPHYSICAL_FLAG})", NonphysicalWarning, stacklevel=3)


def compact_levels(levels) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10'."""
    levels = sorted(int(i) for i in set(np.asarray(levels).ravel().tolist()))
    runs, start = [], None
    for index, level in enumerate(levels):
        if start is None:
            start = level
        if index + 1 == len(levels) or levels[index + 1] != level + 1:
            runs.append(f"{start}" if start == level else f"{start}-{level}")
            start = None
    return ", ".join(runs)


def nonphysical_region(level, T, k) -> dict:
    """Count and (level, T) region of the rates that are <= 0 or not finite."""
    level, T, k = (np.asarray(a).ravel() for a in (level, T, k))
    bad = ~(np.isfinite(k) & (k > 0))
    region = {"count": int(bad.sum()), "points": int(len(k)), "fraction": float(bad.mean()) if len(k) else 0.0}
    if bad.any():
        region["levels"] = compact_levels(level[bad])
        region["T_K"] = [float(T[bad].min()), float(T[bad].max())]
        region["level_list"] = sorted(int(i) for i in np.unique(level[bad]))
    return region


def merge_regions(regions) -> dict:
    """One region from the regions of disjoint parts of a grid."""
    regions = list(regions)
    count = sum(r["count"] for r in regions)
    points = sum(r["points"] for r in regions)
    merged = {"count": count, "points": points, "fraction": count / points if points else 0.0}
    bad = [r for r in regions if r["count"]]
    if bad:
        levels = sorted({i for r in bad for i in r["level_list"]})
        merged.update(levels=compact_levels(levels), T_K=[min(r["T_K"][0] for r in bad), max(r["T_K"][1] for r in bad)],
                      level_list=levels)
    return merged


def kelvin_span(lo: float, hi: float) -> str:
    """``"250..4180 K"`` or, for one temperature, ``"250 K only"``; kelvin rounded to 0.1 K (grids are in whole K)."""
    def show(value):
        return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"

    return f"{show(lo)} K only" if show(lo) == show(hi) else f"{show(lo)}..{show(hi)} K"


def _levels_phrase(levels: str) -> str:
    return f"levels {levels}" if any(c in levels for c in "-,") else f"level {levels}"


def _where(region: dict) -> str:
    """Which transitions a region covers: 'levels 3-5', or its own words ('where', e.g. an exchange's level pairs)."""
    return region.get("where") or _levels_phrase(region["levels"])


def describe_region(region: dict) -> str:
    if not region["count"]:
        return "none"
    return (f"{region['count']} of {region['points']} points ({100 * region['fraction']:.1f} %), "
            f"{_where(region)}, {kelvin_span(*region['T_K'])}")


def grid_phrase(region: dict) -> str:
    """' of the grid levels 1..35 x every 5 K of 250..10000 K' for a region of :func:`dense_grid_region`, else ''
    (the points the user asked for): the same network gives different counts on grids of different steps."""
    grid = region.get("grid")
    if not grid:
        return ""
    if "what" in grid:  # an exchange's grid of level pairs
        return f" of the grid {grid['what']} x every {grid['T_step_K']:g} K of {grid['T_K'][0]:g}..{grid['T_K'][1]:g} K"
    return (f" of the grid levels {grid['levels'][0]}..{grid['levels'][1]} x every {grid['T_step_K']:g} K of "
            f"{grid['T_K'][0]:g}..{grid['T_K'][1]:g} K")


def region_clause(region: dict) -> str:
    """'k <= 0 (or not finite) at N of M points[ of the grid ...] (levels L at a..b K)' of a region with rates <= 0."""
    return (f"k <= 0 (or not finite) at {region['count']} of {region['points']} points{grid_phrase(region)} "
            f"({_where(region)} at {kelvin_span(*region['T_K'])})")


def refusal_message(region: dict, action: str) -> str:
    """The one error line for a grid with rates <= 0: how many, which levels and temperatures."""
    return (f"the network gives {region_clause(region)}, which no kinetics code can use; "
            f"train with --mode accurate, which avoids them, or pass {NONPHYSICAL_FLAG} to {action} anyway")


def dense_temperatures(lo: float, hi: float, step: float = DENSE_T_STEP_K) -> np.ndarray:
    """lo, lo + step, ... up to and including hi."""
    temps = np.arange(lo, hi, step)
    return np.unique(np.append(temps, hi))


def dense_grid_region(network, step: float = DENSE_T_STEP_K) -> dict:
    """Non-positive predictions on every trained level x temperatures ``step`` K apart over the trained range."""
    lo_level, hi_level = (int(v) for v in network.level_range)
    temps = dense_temperatures(*network.temperature_range, step)
    levels = np.arange(lo_level, hi_level + 1)
    grid_levels, grid_temps = (a.ravel() for a in np.meshgrid(levels, temps, indexing="ij"))
    region = nonphysical_region(grid_levels, grid_temps, network.predict_k(grid_levels, grid_temps))
    region["grid"] = {"levels": [lo_level, hi_level], "T_K": [float(temps[0]), float(temps[-1])],
                      "T_step_K": step}
    return region


@functools.lru_cache(maxsize=32)
def _reference_relaxation(process: Process, temperatures: tuple[float, ...], tv0: float):
    """FHO-FR's heat-bath relaxation of ``process`` (the same for every run of a benchmark: computed once)."""
    temperatures = np.asarray(temperatures, dtype=float)
    return heat_bath.relax(heat_bath.fho_rates(process, temperatures), temperatures, tv0=tv0,
                           molecule=process.molecule)


def relaxation_check(network, process, temperatures=heat_bath.CHECK_TEMPERATURES, tv0: float = 300.0) -> dict:
    """Heat-bath tau of the network's rates against FHO-FR's at each temperature, or why it cannot be had.

    ``process``: a VT :class:`~kvt.physics.process.Process` (or a pair's name, any of the 18); the relaxation runs
    over every level of its molecule."""
    process = resolve(process)
    molecule = process.molecule
    lo_level, hi_level = (int(v) for v in network.level_range)
    if (lo_level, hi_level) != (1, molecule.max_level):
        return {"skipped": f"the run covers levels {lo_level}..{hi_level}; relaxation needs 1..{molecule.max_level}"
                           f"{'' if molecule.name == 'O2' else f' ({molecule.name})'}"}
    t_lo, t_hi = network.temperature_range
    temperatures = np.asarray([t for t in temperatures if t_lo <= t <= t_hi], dtype=float)
    if not len(temperatures):
        return {"skipped": f"no check temperature lies in the trained range {t_lo:g}..{t_hi:g} K"}
    reference = _reference_relaxation(process, tuple(temperatures), float(tv0))
    rates = heat_bath.network_rates(network, temperatures, molecule)
    good = np.all(np.isfinite(rates) & (rates > 0), axis=1)
    rows = []
    model = heat_bath.relax(rates[good], temperatures[good], tv0=tv0, molecule=molecule) if good.any() else None
    comparison = heat_bath.compare(model, reference.select(good)) if model is not None else None
    index = 0
    for j, T in enumerate(temperatures):
        row = {"T_K": float(T), "tau_ref_s": float(reference.tau_s[j])}
        if good[j]:
            row.update(tau_s=float(model.tau_s[index]), tau_rel_err=float(comparison["tau_rel_err"][index]),
                       ev_max_dev=float(comparison["ev_max_dev"][index]))
            index += 1
        else:
            row.update(tau_s=None, tau_rel_err=None, ev_max_dev=None,
                       note=f"{int(np.count_nonzero(~(rates[j] > 0)))} transitions have k <= 0")
        rows.append(row)
    return {"pair": process.name, "tv0_K": tv0, "reference": "FHO-FR", "temperatures": rows}

