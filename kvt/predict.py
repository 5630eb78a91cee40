"""Predictions of a trained run and the tables kvt exports for CFD and kinetics codes.

Rates leave kvt in either direction: de-excitation k(i -> i-1) from the network, and
excitation k(i-1 -> i) from it by detailed balance with the generator's level energies.
Rates <= 0 and points outside the trained range are refused unless the user asks for
them, and then the table's ``#`` header says so.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from kvt import __version__, tables
from kvt.errors import KvtError, KvtWarning
from kvt.tables import DIRECTIONS, UNITS  # noqa: F401  (re-exported for the CLI)

LAYOUTS = ("wide", "long")


class ExtrapolationWarning(KvtWarning):
    """A prediction outside the level/temperature range the run was trained on."""


class NonphysicalWarning(KvtWarning):
    """Rates <= 0 written because the user asked for them."""


def check_range(run, levels, temperatures, allow_extrapolation: bool = False,
                flag: str | None = "--allow-extrapolation") -> bool:
    """True when (levels, temperatures) leave the trained range and ``allow_extrapolation`` lets them."""
    lo_level, hi_level = run.level_range
    lo_t, hi_t = run.temperature_range
    levels, temperatures = np.asarray(levels), np.asarray(temperatures)
    problems = []
    if levels.min() < lo_level or levels.max() > hi_level:
        problems.append(f"levels {levels.min()}..{levels.max()} go outside the trained levels {lo_level}..{hi_level}")
    if temperatures.min() < lo_t or temperatures.max() > hi_t:
        problems.append(f"temperatures {temperatures.min():g}..{temperatures.max():g} K go outside the trained "
                        f"range {lo_t:g}..{hi_t:g} K")
    if not problems:
        return False
    message = "; ".join(problems)
    if not allow_extrapolation:
        advice = f"; pass {flag} to predict there anyway" if flag else ""
        raise KvtError(f"{message}{advice}")
    warnings.warn(f"extrapolating: {message}", ExtrapolationWarning, stacklevel=3)
    return True


def predict_grid(run, levels, temperatures, allow_extrapolation: bool = False) -> pd.DataFrame:
    """k(i -> i-1) in m^3/s on every (level, T) pair, level-major: columns level, T_K, k_m3_s.

    Values are the network's as they are (they may be <= 0 for a study-mode network);
    :func:`predict_rates` is what leaves kvt.
    """
    levels = np.asarray(levels, dtype=int)
    temperatures = np.asarray(temperatures, dtype=float)
    check_range(run, levels, temperatures, allow_extrapolation)
    grid_levels, grid_temps = (a.ravel() for a in np.meshgrid(levels, temperatures, indexing="ij"))
    k = run.network.predict_k(grid_levels, grid_temps)
    return pd.DataFrame({"level": grid_levels, "T_K": grid_temps, "k_m3_s": k})


def predict_rates(run, levels, temperatures, direction: str = "down", allow_extrapolation: bool = False,
                  allow_nonphysical: bool = False, action: str = "write") -> tuple[pd.DataFrame, dict]:
    """Canonical rows (level_from, level_to, T_K, k_m3_s) of ``direction`` and what was allowed.

    ``levels`` are the upper levels i of the transitions i <-> i-1. Returns the rows and
    ``{"extrapolated": bool, "nonphysical": region}`` (:func:`kvt.validity.nonphysical_region`).
    """
    from kvt import validity

    tables.check_direction(direction)
    levels = np.asarray(levels, dtype=int)
    temperatures = np.asarray(temperatures, dtype=float)
    extrapolated = check_range(run, levels, temperatures, allow_extrapolation)
    down = predict_grid(run, levels, temperatures, allow_extrapolation=True)
    region = validity.nonphysical_region(down["level"], down["T_K"], down["k_m3_s"])
    if region["count"]:
        if not allow_nonphysical:
            validity.refuse_nonphysical(down["level"], down["T_K"], down["k_m3_s"], action)
        warnings.warn(f"{validity.describe_region(region)} have k <= 0 ({validity.NONPHYSICAL_FLAG})",
                      NonphysicalWarning, stacklevel=2)
    return tables.with_directions(down, direction), {"extrapolated": extrapolated, "nonphysical": region}


def header_lines(run, layout: str, units: str, direction: str, allowed: dict) -> list[str]:
    """The ``#`` lines of an exported table: provenance, units, direction, range, and what was allowed."""
    from kvt import validity

    meta = run.metadata or {}
    options = meta.get("options", {})
    lo_level, hi_level = run.level_range
    lo_t, hi_t = run.temperature_range
    what = {"down": "de-excitation k(i -> i-1)", "up": "excitation k(i-1 -> i)",
            "both": "de-excitation k(i -> i-1) and excitation k(i-1 -> i)"}[direction]
    lines = [
        f"kvt {__version__} VT rate coefficients predicted by a trained network",
        f"pair: {run.label}; dataset sha256: {meta.get('dataset', {}).get('sha256', run.network.spec.get('dataset_sha256'))}",
        f"units: k in {units.replace('3', '^3')}, T in K; layout: {layout}",
        f"direction: {direction}: {what}; excitation from de-excitation by detailed balance, "
        f"k(i-1 -> i) = k(i -> i-1) exp(-(E(i) - E(i-1)) / T)" if direction != "down" else
        f"direction: down: {what}",
        f"model run: {run.path} (mode {options.get('mode', run.network.spec.get('mode', 'study'))}, "
        f"optimizer {options.get('optimizer', 'n/a')}, seed {options.get('seed', 'n/a')})",
        f"trained range: levels {lo_level}..{hi_level}, T {lo_t:g}..{hi_t:g} K",
        "extrapolation: EXTRAPOLATED outside the trained range (--allow-extrapolation)"
        if allowed["extrapolated"] else "extrapolation: none (every point lies in the trained range)",
    ]
    region = allowed["nonphysical"]
    lines.append(f"non-physical: WARNING {validity.describe_region(region)} have k <= 0, written because "
                 f"{validity.NONPHYSICAL_FLAG} was given" if region["count"] else
                 "non-physical: none (every rate is > 0)")
    return lines


def export_table(run, levels, temperatures, layout: str = "wide", units: str = "m3/s",
                 allow_extrapolation: bool = False, direction: str = "down",
                 allow_nonphysical: bool = False) -> str:
    """CSV text for a CFD code, with a ``#`` comment header (see :mod:`kvt.tables` for the layouts).

    ``wide``: one row per temperature, one column per transition (``k_32_31_m3_s``, ``k_31_32_m3_s``);
    ``long``: columns level, T_K, k_<units> (de-excitation only) or level_from, level_to, T_K, k_<units>.
    """
    if layout not in LAYOUTS:
        raise KvtError(f"unknown layout '{layout}'; valid layouts: {', '.join(LAYOUTS)}")
    tables.check_units(units)
    rows, allowed = predict_rates(run, levels, temperatures, direction, allow_extrapolation, allow_nonphysical)
    return tables.format_table(rows, layout, units, header_lines(run, layout, units, direction, allowed))
