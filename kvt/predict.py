"""Predictions of a trained run and the tables kvt exports for CFD codes."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd

from kvt import __version__
from kvt.errors import KvtError, KvtWarning

UNITS = {"m3/s": 1.0, "cm3/s": 1e6}
LAYOUTS = ("wide", "long")


class ExtrapolationWarning(KvtWarning):
    """A prediction outside the level/temperature range the run was trained on."""


def check_range(run, levels, temperatures, allow_extrapolation: bool = False) -> None:
    lo_level, hi_level = run.level_range
    lo_t, hi_t = run.temperature_range
    levels, temperatures = np.asarray(levels), np.asarray(temperatures)
    problems = []
    if levels.min() < lo_level or levels.max() > hi_level:
        problems.append(f"levels {levels.min()}..{levels.max()} go outside the trained levels {lo_level}..{hi_level}")
    if temperatures.min() < lo_t or temperatures.max() > hi_t:
        problems.append(f"temperatures {temperatures.min():g}..{temperatures.max():g} K go outside the trained "
                        f"range {lo_t:g}..{hi_t:g} K")
    if problems:
        message = "; ".join(problems)
        if not allow_extrapolation:
            raise KvtError(f"{message}; pass --allow-extrapolation to predict there anyway")
        warnings.warn(f"extrapolating: {message}", ExtrapolationWarning, stacklevel=3)


def predict_grid(run, levels, temperatures, allow_extrapolation: bool = False) -> pd.DataFrame:
    """k_VT in m^3/s on every (level, T) pair, level-major: columns level, T_K, k_m3_s."""
    levels = np.asarray(levels, dtype=int)
    temperatures = np.asarray(temperatures, dtype=float)
    check_range(run, levels, temperatures, allow_extrapolation)
    grid_levels, grid_temps = (a.ravel() for a in np.meshgrid(levels, temperatures, indexing="ij"))
    k = run.network.predict_k(grid_levels, grid_temps)
    return pd.DataFrame({"level": grid_levels, "T_K": grid_temps, "k_m3_s": k})


def export_table(run, levels, temperatures, layout: str = "wide", units: str = "m3/s",
                 allow_extrapolation: bool = False) -> str:
    """CSV text for a CFD code, with a ``#`` comment header.

    ``wide``: one row per temperature, one column per transition (``k_32_31``);
    ``long``: columns level, T_K, k.
    """
    if layout not in LAYOUTS:
        raise KvtError(f"unknown layout '{layout}'; valid layouts: {', '.join(LAYOUTS)}")
    if units not in UNITS:
        raise KvtError(f"unknown units '{units}'; valid units: {', '.join(UNITS)}")
    table = predict_grid(run, levels, temperatures, allow_extrapolation)
    unit_tag = units.replace("/", "_")
    table["k"] = table.pop("k_m3_s") * UNITS[units]
    if layout == "wide":
        wide = table.pivot(index="T_K", columns="level", values="k")
        wide.columns = [f"k_{i}_{i - 1}" for i in wide.columns]
        body = wide.reset_index()
    else:
        body = table.rename(columns={"k": f"k_{unit_tag}"})
    meta = run.metadata
    options = meta["options"]
    header = [
        f"# kvt {__version__} VT rate coefficients k_VT(i -> i-1, T) predicted by a trained network",
        f"# pair: {run.label}; dataset sha256: {meta['dataset']['sha256']}",
        f"# units: k in {units.replace('3', '^3')}, T in K; layout: {layout}",
        f"# model run: {run.path} (mode {options.get('mode', 'study')}, optimizer {options['optimizer']}, "
        f"seed {options['seed']})",
    ]
    buffer = io.StringIO()
    buffer.write("\n".join(header) + "\n")
    body.to_csv(buffer, index=False, float_format="%.10e", lineterminator="\n")
    return buffer.getvalue()
