"""Tables of VV and VV' exchange rates: A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1).

Layouts (units m^3/s or cm^3/s, named in the k column; ``#`` lines may precede the header):

* ``long``:  ``level_a,level_b,T_K,k_m3_s`` — the exchange in which A gives a quantum to B
  ("down" for A); level_a = 1..L_A, level_b = 0..L_B - 1;
* ``long`` with directions: ``level_a_from,level_a_to,level_b_from,level_b_to,T_K,k_m3_s`` —
  the exchange and (``up``) its reverse A(level_a - 1) + B(level_b + 1) -> A(level_a) + B(level_b),
  by exact detailed balance.

The rates follow the direction convention of :mod:`kvt.physics.fho_vv`: the FHO formula where the
exchange is exothermic, the formula times exp(ΔE / T) where it is endothermic. For one molecule
(VV) a kinetics code reads each exchange once, in its exothermic direction: the rows with
level_a <= level_b (the quantum moves up the ladder); level_a = level_b + 1 is a resonant swap.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kvt.data.choices import UNITS, check_direction, check_units
from kvt.data.grid import STUDY_TEMPERATURES
from kvt.errors import KvtError
from kvt.physics.process import ExchangeProcess, resolve

COLUMNS = ("level_a", "level_b", "T_K", "k_m3_s")
DIRECTION_COLUMNS = ("level_a_from", "level_a_to", "level_b_from", "level_b_to", "T_K", "k_m3_s")
MODEL_REFERENCE = ("FHO (forced harmonic oscillator) VV exchange with the resonance-defect factor: Adamovich, "
                   "Macheret, Rich & Treanor, J. Thermophys. Heat Transfer 12(1), 1998")
CONVENTION = ("rates of the exothermic direction from the FHO formula, of the endothermic one by exact detailed "
              "balance, k(reverse) = k(forward) exp(-dE / T), dE the energy the exchange releases")
_UNITS_LINE = re.compile(r"units:\s*k in (c?m\^3/s)")
LAYOUT_HELP = ("kvt reads VV tables as long level_a,level_b,T_K,k_m3_s (or k_cm3_s), or with directions "
               "level_a_from,level_a_to,level_b_from,level_b_to,T_K,k_m3_s (or k_cm3_s)")


def is_exchange_layout(columns) -> bool:
    """Whether a table's header is one of the layouts of this module."""
    return any(str(c).startswith(("level_a", "level_b")) for c in columns)


def grid(process: ExchangeProcess, levels_a=None, levels_b=None, temperatures=STUDY_TEMPERATURES) -> pd.DataFrame:
    """The exchange rates on every (level_a, level_b, T), level_a-major then level_b: columns of :data:`COLUMNS`.

    ``levels_a`` default to 1..L_A, ``levels_b`` to 0..L_B - 1 (checked against each ladder).
    """
    all_a, all_b = process.levels
    a = np.asarray(all_a if levels_a is None else levels_a, dtype=int)
    b = np.asarray(all_b if levels_b is None else levels_b, dtype=int)
    T = np.asarray(temperatures, dtype=float)
    grid_a, grid_b, grid_T = (v.ravel() for v in np.meshgrid(a, b, T, indexing="ij"))
    k = process.rate_coefficient(grid_a, grid_b, grid_T)
    return pd.DataFrame({"level_a": grid_a, "level_b": grid_b, "T_K": grid_T, "k_m3_s": k})


def with_directions(frame: pd.DataFrame, direction: str, process: ExchangeProcess) -> pd.DataFrame:
    """Rows of :data:`COLUMNS` -> rows of :data:`DIRECTION_COLUMNS` for ``direction`` (down rows, then up rows)."""
    check_direction(direction)
    a, b = frame["level_a"].to_numpy(), frame["level_b"].to_numpy()
    T, k = frame["T_K"].to_numpy(dtype=float), frame["k_m3_s"].to_numpy()
    parts = []
    if direction in ("down", "both"):
        parts.append(pd.DataFrame({"level_a_from": a, "level_a_to": a - 1, "level_b_from": b, "level_b_to": b + 1,
                                   "T_K": T, "k_m3_s": k}))
    if direction in ("up", "both"):
        parts.append(pd.DataFrame({"level_a_from": a - 1, "level_a_to": a, "level_b_from": b + 1, "level_b_to": b,
                                   "T_K": T, "k_m3_s": k * process.detailed_balance(a, b, T)}))
    return pd.concat(parts, ignore_index=True)


def header_lines(process: ExchangeProcess, direction: str, units: str, version: str | None = None) -> list[str]:
    """The ``#`` lines (without ``# ``) of a generated exchange table."""
    from kvt import __version__

    a, b = process.molecule_a, process.molecule_b
    what = {"down": f"A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1), A = {a.name}, B = {b.name}",
            "up": f"the reverse, A(level_a - 1) + B(level_b + 1) -> A(level_a) + B(level_b), A = {a.name}, "
                  f"B = {b.name}",
            "both": f"A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1) and its reverse, A = {a.name}, "
                    f"B = {b.name}"}[direction]
    return [f"kvt {version or __version__} FHO {process.kind.upper()} rate coefficients; {MODEL_REFERENCE}",
            f"pair: {process.name}; process: {process.kind}",
            f"levels: {a.name} level_a 1..{a.max_level}, {b.name} level_b 0..{b.max_level - 1}",
            f"direction: {direction}: {what}",
            f"convention: {CONVENTION}",
            f"units: k in {units.replace('3', '^3')}, T in K; layout: long"]


def table_text(process: ExchangeProcess, frame: pd.DataFrame, direction: str = "down", units: str = "m3/s",
               version: str | None = None) -> str:
    """CSV text of an exchange table (``#`` header, then :data:`COLUMNS` or :data:`DIRECTION_COLUMNS`), floats at
    full (round-trip) precision; kvt reads it back with :func:`read`."""
    check_units(units)
    tag = units.replace("/", "_")
    body = frame.loc[:, list(COLUMNS)] if direction == "down" else with_directions(frame, direction, process)
    body = body.rename(columns={"k_m3_s": f"k_{tag}"})
    body[f"k_{tag}"] = body[f"k_{tag}"] * UNITS[units]
    buffer = io.StringIO()
    buffer.write("".join(f"# {line}\n" for line in header_lines(process, direction, units, version)))
    body.to_csv(buffer, index=False, float_format="%.17g", lineterminator="\n")
    return buffer.getvalue()


def bundled_text(process: ExchangeProcess, version: str | None = None) -> str:
    """The bundled file of an exchange pair: every level pair x the study's 15 temperatures, down, m^3/s."""
    return table_text(process, grid(process), version=version)


@dataclass
class ExchangeTable:
    """An exchange table read back: rows of :data:`COLUMNS` (down, m^3/s) and what its header said."""

    frame: pd.DataFrame
    process: ExchangeProcess
    units: str
    direction: str
    header: list[str] = field(default_factory=list)
    rows_read: int = 0  # rows of the file (a table with both directions holds each exchange twice)


def _header_value(header: list[str], key: str) -> str | None:
    for line in header:
        text = line.lstrip("#").strip()
        for part in text.split(";"):
            name, _, value = part.strip().partition(":")
            if name.strip() == key and value.strip():
                return value.strip().split()[0]
    return None


def read(frame: pd.DataFrame, path: Path, header: list[str], lines: np.ndarray, check_k) -> ExchangeTable:
    """A raw exchange table (floats) -> :class:`ExchangeTable`; one ``KvtError`` line names the file, the column
    and the first bad line. ``check_k(column, k_m3_s, T)`` is the caller's plausibility check of k and T."""
    pair, kind = _header_value(header, "pair"), _header_value(header, "process")
    if pair is None or kind not in ("vv", "vv'"):
        raise KvtError(f"{path}: a VV table needs '# pair: A-B; process: vv' (or vv') in its header, as kvt writes "
                       f"it, to know whose levels level_a and level_b are")
    process = resolve(pair, kind)
    columns = [str(c) for c in frame.columns]
    k_columns = [c for c in columns if c in ("k_m3_s", "k_cm3_s")]
    levels = [c for c in columns if c not in k_columns]
    if len(k_columns) != 1 or tuple(levels) not in (COLUMNS[:3], DIRECTION_COLUMNS[:5]):
        raise KvtError(f"{path}: columns {','.join(columns)} are not a layout kvt reads; {LAYOUT_HELP}")
    k_column = k_columns[0]
    units = "m3/s" if k_column == "k_m3_s" else "cm3/s"
    stated = next((m.group(1) for m in map(_UNITS_LINE.search, header) if m), None)
    if stated is not None and stated != units.replace("3", "^3"):
        raise KvtError(f"{path}: the header says k in {stated} but the column is {k_column}")
    T, k = frame["T_K"].to_numpy(dtype=float), frame[k_column].to_numpy(dtype=float) / UNITS[units]
    for column, values, bad, rule in (("T_K", T, ~(T > 0), "must be > 0 K"),
                                      (k_column, k, ~(k > 0), f"must be > 0 {units.replace('3', '^3')}")):
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise KvtError(f"{path}: column {column}, line {lines[row]}: {values[row]:g} {rule}")
    check_k(k_column, k, T)
    if "level_a" in columns:
        a, b, direction = frame["level_a"].to_numpy(), frame["level_b"].to_numpy(), "down"
        down = np.ones(len(a), dtype=bool)
    else:
        a_from, a_to, b_from, b_to = (frame[c].to_numpy() for c in DIRECTION_COLUMNS[:4])
        down = (a_to == a_from - 1) & (b_to == b_from + 1)
        up = (a_to == a_from + 1) & (b_to == b_from - 1)
        if not np.all(down | up):
            row = int(np.flatnonzero(~(down | up))[0])
            raise KvtError(f"{path}: line {lines[row]}: not an exchange of one quantum from A to B or back")
        a, b = np.where(down, a_from, a_to), np.where(down, b_from, b_to)
        k = np.where(down, k, k / process.detailed_balance(a, b, T))
        direction = "both" if down.any() and up.any() else "down" if down.any() else "up"
    try:
        process.check_levels(a, b)
    except KvtError as error:
        raise KvtError(f"{path}: {error}") from None
    result = pd.DataFrame({"level_a": a.astype(int), "level_b": b.astype(int), "T_K": T, "k_m3_s": k, "down": down})
    repeated = result.duplicated(subset=["level_a", "level_b", "T_K", "down"]).to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        raise KvtError(f"{path}: line {lines[row]}: duplicate of an earlier row (level_a {a[row]}, level_b {b[row]}, "
                       f"T {T[row]:g} K)")
    # a table with both directions holds each exchange twice: the down row stands for both
    result = result.sort_values("down", ascending=False, kind="stable")
    result = result.drop_duplicates(subset=["level_a", "level_b", "T_K"]).sort_index()
    result = result.drop(columns="down").reset_index(drop=True)
    return ExchangeTable(frame=result, process=process, units=units, direction=direction, header=header,
                         rows_read=len(frame))
