"""Predictions of a trained exchange run (VV, VV') and the tables ``kvt predict`` and ``kvt export`` write of it.

The counterpart of :mod:`kvt.runs.rates` for networks of k(level_a, level_b, T), the rate of
A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1): the grid is level_a x level_b x T, the
tables are the layouts of :mod:`kvt.data.exchange` (read back by ``kvt data info``, ``train --data``),
the reverse direction comes by exact detailed balance, and the same checks apply before anything
is written: levels outside the ladders refused, the trained range refused unless
``--allow-extrapolation``, k <= 0 refused through :func:`kvt.kinetics.validity.refuse_nonphysical`.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from kvt import __version__
from kvt.data import exchange as tables
from kvt.data.choices import UNITS
from kvt.data.grid import span
from kvt.runs.rates import refuse_outside

CHUNK_POINTS = 1 << 17


def trained_levels(run) -> tuple[list[int], list[int]]:
    """Every trained level_a and level_b."""
    (lo_a, hi_a), (lo_b, hi_b) = (tuple(int(v) for v in run.network.level_ranges[n]) for n in ("level_a", "level_b"))
    return list(range(lo_a, hi_a + 1)), list(range(lo_b, hi_b + 1))


def parse_levels(run, spec_a: str | None, spec_b: str | None) -> tuple[list[int], list[int]]:
    """--levels (level_a) and --levels-b (level_b) within the process's ladders, each defaulting to the trained ones
    (an error names the ladder: ``O2 level_b is 0..34``)."""
    from kvt.data.grid import parse_levels as parse

    process = run.process
    (all_a, all_b), (trained_a, trained_b) = process.levels, trained_levels(run)
    a = parse(spec_a, max_level=max(all_a), min_level=min(all_a),
              allowed=f"{process.molecule_a.name} level_a is {min(all_a)}..{max(all_a)}") if spec_a else trained_a
    b = parse(spec_b, max_level=max(all_b), min_level=min(all_b),
              allowed=f"{process.molecule_b.name} level_b is {min(all_b)}..{max(all_b)}") if spec_b else trained_b
    return a, b


def check_range(run, levels_a, levels_b, temperatures, allow_extrapolation: bool = False,
                flag: str | None = "--allow-extrapolation") -> bool:
    """True when the grid leaves the trained range and ``allow_extrapolation`` lets it; levels outside the ladders
    are refused whatever is allowed."""
    run.process.check_levels(levels_a, levels_b)
    problems = []
    for name, levels in (("level_a", levels_a), ("level_b", levels_b)):
        lo, hi = (int(v) for v in run.network.level_ranges[name])
        if min(levels) < lo or max(levels) > hi:
            problems.append(f"{name} {span(min(levels), max(levels))} goes outside the trained {name} {span(lo, hi)}")
    return refuse_outside(run, problems, temperatures, allow_extrapolation, flag)


def down(run, levels_a, levels_b, temperatures) -> pd.DataFrame:
    """The network's k on every (level_a, level_b, T), level_a-major, then level_b: columns level_a, level_b, T_K,
    k_m3_s (unchecked)."""
    a, b, T = (v.ravel() for v in np.meshgrid(np.asarray(levels_a, dtype=int), np.asarray(levels_b, dtype=int),
                                              np.asarray(temperatures, dtype=float), indexing="ij"))
    return pd.DataFrame({"level_a": a, "level_b": b, "T_K": T, "k_m3_s": run.network.predict_k(a, b, T)})


def blocks(levels_a, levels_b, temperatures):
    """(level_a list, level_b, T) blocks of at most about CHUNK_POINTS points, in the tables' row order."""
    per_a = max(1, CHUNK_POINTS // max(1, len(levels_b) * len(temperatures)))
    for start in range(0, len(levels_a), per_a):
        yield list(levels_a)[start:start + per_a], levels_b, temperatures


def rows(run, levels_a, levels_b, temperatures, direction: str = "down") -> pd.DataFrame:
    """Rows of the layout of ``direction``: :data:`kvt.data.exchange.COLUMNS` (down) or the direction columns."""
    frame = down(run, levels_a, levels_b, temperatures)
    return frame if direction == "down" else tables.with_directions(frame, direction, run.process)


def scan_nonphysical(run, levels_a, levels_b, temperatures) -> dict:
    """The k <= 0 region of the network on the grid (:func:`kvt.kinetics.exchange.nonphysical_region`)."""
    from kvt.kinetics import exchange
    from kvt.kinetics.validity import merge_regions

    regions = []
    for a, b, T in blocks(levels_a, levels_b, temperatures):
        f = down(run, a, b, T)
        regions.append(exchange.nonphysical_region(f["level_a"], f["level_b"], f["T_K"], f["k_m3_s"]))
    region = merge_regions(regions)
    bad = [r for r in regions if r["count"]]
    if bad:
        from kvt.kinetics.validity import compact_levels

        levels_b = sorted({j for r in bad for j in r["level_b_list"]})
        region["where"] = f"level_a {region['levels']} with level_b {compact_levels(levels_b)}"
    return region


def check_rates(run, levels_a, levels_b, temperatures, allow_extrapolation: bool, allow_nonphysical: bool,
                action: str = "write them", refusal=None) -> dict:
    """Range and sign checks of a grid before anything is written: ``{"extrapolated", "nonphysical"}``."""
    from kvt.kinetics import validity

    extrapolated = check_range(run, levels_a, levels_b, temperatures, allow_extrapolation)
    region = scan_nonphysical(run, levels_a, levels_b, temperatures)
    validity.refuse_nonphysical(region, allow_nonphysical,
                                refusal or (lambda found: validity.refusal_message(found, action)))
    return {"extrapolated": extrapolated, "nonphysical": region}


def header_lines(run, units: str, direction: str, allowed: dict, layout: str = "long") -> list[str]:
    """The ``#`` lines of an exported exchange table: the generator's header (process, pair, units, direction,
    convention: kvt reads it back), then the run, the trained range and what was allowed."""
    from kvt.kinetics import validity

    meta = run.metadata or {}
    options = meta.get("options", {})
    lines = tables.header_lines(run.process, direction, units, layout=layout)
    lines[0] = f"kvt {__version__} {run.process.kind.upper()} rate coefficients predicted by a trained network"
    (lo_a, hi_a), (lo_b, hi_b) = (run.network.level_ranges[n] for n in ("level_a", "level_b"))
    lo_t, hi_t = run.temperature_range
    lines += [f"model run: {run.path} (mode {options.get('mode', run.network.spec.get('mode', 'study'))}, "
              f"optimizer {options.get('optimizer', 'n/a')}, seed {options.get('seed', 'n/a')})",
              f"trained range: level_a {lo_a:g}..{hi_a:g}, level_b {lo_b:g}..{hi_b:g}, T {lo_t:g}..{hi_t:g} K",
              "extrapolation: EXTRAPOLATED outside the trained range (--allow-extrapolation)"
              if allowed["extrapolated"] else "extrapolation: none (every point lies in the trained range)"]
    region = allowed["nonphysical"]
    lines.append(f"non-physical: WARNING {validity.describe_region(region)} have k <= 0, written because "
                 f"{validity.NONPHYSICAL_FLAG} was given" if region["count"] else
                 "non-physical: none (every rate is > 0)")
    return lines


def wide_blocks(levels_a, levels_b, temperatures):
    """(level_a, level_b, T) blocks of the wide layout: every level pair, temperatures in runs of rows of about
    CHUNK_POINTS rates."""
    temperatures = list(temperatures)
    per_row = max(1, CHUNK_POINTS // max(1, len(levels_a) * len(levels_b)))
    for start in range(0, len(temperatures), per_row):
        yield levels_a, levels_b, temperatures[start:start + per_row]


def iter_table(run, levels_a, levels_b, temperatures, units: str, direction: str, header=(),
               float_format: str = "%.10e", layout: str = "long"):
    """CSV text of the table in chunks: ``#`` lines and column names first, then the rows (k in ``units``);
    ``layout`` long (a row per rate) or wide (a row per temperature, :func:`kvt.data.exchange.wide`)."""
    tag = units.replace("/", "_")
    first = True
    for a, b, T in (wide_blocks if layout == "wide" else blocks)(levels_a, levels_b, temperatures):
        if layout == "wide":
            frame = tables.wide(tables.with_directions(down(run, a, b, T), direction, run.process), units)
        else:
            frame = rows(run, a, b, T, direction)
            frame = frame.rename(columns={"k_m3_s": f"k_{tag}"})
            frame[f"k_{tag}"] = frame[f"k_{tag}"] * UNITS[units]
        buffer = io.StringIO()
        if first:
            buffer.write("".join(f"# {line}\n" for line in header))
        frame.to_csv(buffer, index=False, header=first, float_format=float_format, lineterminator="\n")
        first = False
        yield buffer.getvalue()
