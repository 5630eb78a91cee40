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

from kvt import __version__
from kvt.data import tables
from kvt.data.grid import outside, span
from kvt.errors import KvtError, KvtWarning
from kvt.data.tables import DIRECTIONS, UNITS  # noqa: F401  (re-exported for the CLI)

LAYOUTS = ("wide", "long")


class ExtrapolationWarning(KvtWarning):
    """A prediction outside the level/temperature range the run was trained on."""


def check_range(run, levels, temperatures, allow_extrapolation: bool = False,
                flag: str | None = "--allow-extrapolation") -> bool:
    """True when (levels, temperatures) leave the trained range and ``allow_extrapolation`` lets them.

    Levels the network's molecule does not have are refused first, whatever is allowed.
    """
    run.network.check_levels(levels)
    lo_level, hi_level = run.level_range
    levels = np.asarray(levels)
    problems = []
    if levels.min() < lo_level or levels.max() > hi_level:
        problems.append(f"{outside('level', 'levels', levels.min(), levels.max())} outside the trained levels "
                        f"{span(lo_level, hi_level)}")
    return refuse_outside(run, problems, temperatures, allow_extrapolation, flag)


def refuse_outside(run, problems: list[str], temperatures, allow_extrapolation: bool, flag: str | None) -> bool:
    """The one refusal (or warning) of a grid outside what ``run`` was trained on: ``problems`` (the level
    inputs' lines) and the temperatures' line; True when extrapolating is allowed and happens."""
    lo_t, hi_t = run.temperature_range
    temperatures = np.asarray(temperatures, dtype=float)
    if temperatures.min() < lo_t or temperatures.max() > hi_t:
        problems.append(f"{outside('temperature', 'temperatures', temperatures.min(), temperatures.max(), ' K')} "
                        f"outside the trained range {span(lo_t, hi_t)} K")
    if not problems:
        return False
    message = "; ".join(problems)
    if not allow_extrapolation:
        advice = f"; pass {flag} to predict there anyway" if flag else ""
        raise KvtError(f"{message}{advice}")
    warnings.warn(f"extrapolating: {message}", ExtrapolationWarning, stacklevel=4)
    return True


def predict_grid(run, levels, temperatures, allow_extrapolation: bool = False) -> pd.DataFrame:
    """k(i -> i-1) in m^3/s on every (level, T) pair, level-major: columns level, T_K, k_m3_s.

    Values are the network's as they are (they may be <= 0 for a study-mode network);
    :func:`predict_rates` is what leaves kvt.
    """
    levels = np.asarray(levels, dtype=int)
    temperatures = np.asarray(temperatures, dtype=float)
    check_range(run, levels, temperatures, allow_extrapolation)
    return _down(run, levels, temperatures)


#: Points evaluated per chunk when streaming a table: memory stays bounded whatever the grid size.
CHUNK_POINTS = 1 << 17


def iter_chunks(levels, temperatures, layout: str = "long", chunk_points: int = CHUNK_POINTS):
    """(levels, temperatures) blocks covering the grid in the row order of ``layout``.

    wide: blocks of temperatures with every level (one table row per T); long: level-major,
    blocks of temperatures within each level.
    """
    levels = np.asarray(levels, dtype=int)
    temperatures = np.asarray(temperatures, dtype=float)
    if layout == "wide":
        step = max(1, chunk_points // len(levels))
        for start in range(0, len(temperatures), step):
            yield levels, temperatures[start:start + step]
    else:
        for level in levels:
            for start in range(0, len(temperatures), chunk_points):
                yield levels[levels == level], temperatures[start:start + chunk_points]


def _down(run, levels, temperatures) -> pd.DataFrame:
    grid_levels, grid_temps = (a.ravel() for a in np.meshgrid(levels, temperatures, indexing="ij"))
    return pd.DataFrame({"level": grid_levels, "T_K": grid_temps,
                         "k_m3_s": run.network.predict_k(grid_levels, grid_temps)})


def rows(run, levels, temperatures, direction: str = "down") -> pd.DataFrame:
    """Canonical rows of the network on a grid, unchecked (callers run :func:`check_rates` first)."""
    return tables.with_directions(_down(run, np.asarray(levels, dtype=int), np.asarray(temperatures, dtype=float)),
                                  direction, run.molecule)


def scan_nonphysical(run, levels, temperatures) -> dict:
    """:func:`kvt.kinetics.validity.nonphysical_region` of the network on the grid, computed in chunks."""
    from kvt.kinetics import validity

    regions = [validity.nonphysical_region(f["level"], f["T_K"], f["k_m3_s"])
               for f in (_down(run, lv, ts) for lv, ts in iter_chunks(levels, temperatures, "wide"))]
    return validity.merge_regions(regions)


def check_rates(run, levels, temperatures, allow_extrapolation: bool, allow_nonphysical: bool,
                action: str = "write them", refusal=None) -> dict:
    """Range and sign checks of a grid before anything is written: ``{"extrapolated", "nonphysical"}``.

    ``refusal``: the error line of a region with k <= 0 (default: :mod:`kvt.kinetics.validity`'s, naming
    ``action``)."""
    from kvt.kinetics import validity

    extrapolated = check_range(run, levels, temperatures, allow_extrapolation)
    region = scan_nonphysical(run, levels, temperatures)
    validity.refuse_nonphysical(region, allow_nonphysical,
                                refusal or (lambda found: validity.refusal_message(found, action)))
    return {"extrapolated": extrapolated, "nonphysical": region}


def predict_rates(run, levels, temperatures, direction: str = "down", allow_extrapolation: bool = False,
                  allow_nonphysical: bool = False, action: str = "write them") -> tuple[pd.DataFrame, dict]:
    """Canonical rows (level_from, level_to, T_K, k_m3_s) of ``direction`` and what was allowed.

    ``levels`` are the upper levels i of the transitions i <-> i-1. Returns the rows and
    ``{"extrapolated": bool, "nonphysical": region}`` (:func:`kvt.kinetics.validity.nonphysical_region`).
    """
    tables.check_direction(direction)
    allowed = check_rates(run, levels, temperatures, allow_extrapolation, allow_nonphysical, action)
    return rows(run, levels, temperatures, direction), allowed


def iter_table(run, levels, temperatures, layout: str, units: str, direction: str, header=(),
               float_format: str = "%.10e"):
    """CSV text of the table in chunks: ``#`` header lines and column names first, then the rows."""
    first = True
    for block_levels, block_temps in iter_chunks(levels, temperatures, layout):
        yield tables.format_table(rows(run, block_levels, block_temps, direction), layout, units,
                                  header if first else (), float_format=float_format, column_names=first)
        first = False


def header_lines(run, layout: str, units: str, direction: str, allowed: dict) -> list[str]:
    """The ``#`` lines of an exported table: provenance, units, direction, range, and what was allowed."""
    from kvt.kinetics import validity

    meta = run.metadata or {}
    options = meta.get("options", {})
    pair = meta.get("dataset", {}).get("pair") or run.network.spec.get("pair")
    lo_level, hi_level = run.level_range
    lo_t, hi_t = run.temperature_range
    what = {"down": "de-excitation k(i -> i-1)", "up": "excitation k(i-1 -> i)",
            "both": "de-excitation k(i -> i-1) and excitation k(i-1 -> i)"}[direction]
    lines = [
        f"kvt {__version__} VT rate coefficients predicted by a trained network",
        f"pair: {pair or f'none (trained on the user table {run.label})'}; dataset sha256: "
        f"{meta.get('dataset', {}).get('sha256', run.network.spec.get('dataset_sha256'))}",
        *([f"molecule: {run.molecule.name}"] if not pair and run.molecule.name != "O2" else []),
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
