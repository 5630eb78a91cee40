"""Tables of VV and VV' exchange rates: A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1).

Layouts (units m^3/s or cm^3/s, named in the k column; ``#`` lines may precede the header):

* ``long``:  ``level_a,level_b,T_K,k_m3_s`` — the exchange in which A gives a quantum to B
  ("down" for A); level_a = 1..L_A, level_b = 0..L_B - 1;
* ``long`` with directions: ``level_a_from,level_a_to,level_b_from,level_b_to,T_K,k_m3_s`` —
  the exchange and (``up``) its reverse A(level_a - 1) + B(level_b + 1) -> A(level_a) + B(level_b),
  by exact detailed balance;
* ``wide`` (``kvt export --layout wide``): one row per temperature, ``T_K`` then a column per exchange
  ``k_<a_from>_<a_to>_<b_from>_<b_to>_m3_s`` (or ``_cm3_s``), the rate of A(a_from) + B(b_from) ->
  A(a_to) + B(b_to): ``k_3_2_0_1_m3_s`` is A(3) + B(0) -> A(2) + B(1), ``k_2_3_1_0_m3_s`` its reverse.

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
LAYOUT_HELP = ("kvt reads VV tables as long level_a,level_b,T_K,k_m3_s (or k_cm3_s), with directions "
               "level_a_from,level_a_to,level_b_from,level_b_to,T_K,k_m3_s (or k_cm3_s), or wide "
               "T_K,k_1_0_0_1_m3_s,... (k_<a_from>_<a_to>_<b_from>_<b_to>_<units>, units m3_s or cm3_s)")
_WIDE_COLUMN = re.compile(r"k_(\d+)_(\d+)_(\d+)_(\d+)(?:_(m3_s|cm3_s))?")
WIDE_LAYOUT = ("wide: one row per T_K, a column per exchange k_<a_from>_<a_to>_<b_from>_<b_to>_<units>, the rate of "
               "A(a_from) + B(b_from) -> A(a_to) + B(b_to)")


def is_exchange_layout(columns) -> bool:
    """Whether a table's header is one of the layouts of this module."""
    return any(str(c).startswith(("level_a", "level_b")) or _WIDE_COLUMN.fullmatch(str(c)) for c in columns)


def wide_column(a_from: int, a_to: int, b_from: int, b_to: int, units: str) -> str:
    return f"k_{a_from}_{a_to}_{b_from}_{b_to}_{units.replace('/', '_')}"


def wide(frame: pd.DataFrame, units: str) -> pd.DataFrame:
    """Rows of :data:`DIRECTION_COLUMNS` (k in m^3/s) -> the wide layout in ``units``: ``T_K``, then a column per
    exchange in the order the rows first name them."""
    check_units(units)
    exchanges = frame[list(DIRECTION_COLUMNS[:4])].drop_duplicates()
    body = frame.pivot(index="T_K", columns=list(DIRECTION_COLUMNS[:4]), values="k_m3_s")
    body = body.reindex(columns=pd.MultiIndex.from_frame(exchanges)) * UNITS[units]
    body.columns = [wide_column(*exchange, units) for exchange in exchanges.itertuples(index=False)]
    return body.reset_index()


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


def header_lines(process: ExchangeProcess, direction: str, units: str, version: str | None = None,
                 layout: str = "long") -> list[str]:
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
            f"units: k in {units.replace('3', '^3')}, T in K; layout: {WIDE_LAYOUT if layout == 'wide' else 'long'}"]


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
    layout: str = "long"  # or "wide"


def _header_value(header: list[str], key: str) -> str | None:
    for line in header:
        text = line.lstrip("#").strip()
        for part in text.split(";"):
            name, _, value = part.strip().partition(":")
            if name.strip() == key and value.strip():
                return value.strip().split()[0]
    return None


def _refuse_nonpositive(path: Path, column: str, values: np.ndarray, rule: str, lines: np.ndarray) -> None:
    bad = ~(values > 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise KvtError(f"{path}: column {column}, line {lines[row]}: {values[row]:g} {rule}")


def _long_rates(frame: pd.DataFrame, path: Path, stated: str | None, lines: np.ndarray, check_k):
    """A long table's rates checked: (frame with k_m3_s in m^3/s, units)."""
    columns = [str(c) for c in frame.columns]
    k_columns = [c for c in columns if c in ("k_m3_s", "k_cm3_s")]
    levels = [c for c in columns if c not in k_columns]
    if len(k_columns) != 1 or tuple(levels) not in (COLUMNS[:3], DIRECTION_COLUMNS[:5]):
        raise KvtError(f"{path}: columns {','.join(columns)} are not a layout kvt reads; {LAYOUT_HELP}")
    k_column = k_columns[0]
    units = "m3/s" if k_column == "k_m3_s" else "cm3/s"
    if stated is not None and stated != units.replace("3", "^3"):
        raise KvtError(f"{path}: the header says k in {stated} but the column is {k_column}")
    T, k = frame["T_K"].to_numpy(dtype=float), frame[k_column].to_numpy(dtype=float) / UNITS[units]
    _refuse_nonpositive(path, "T_K", T, "must be > 0 K", lines)
    _refuse_nonpositive(path, k_column, k, f"must be > 0 {units.replace('3', '^3')}", lines)
    check_k(k_column, k, T)
    return frame.drop(columns=k_column).assign(k_m3_s=k), units


def _wide_rates(frame: pd.DataFrame, path: Path, stated: str | None, lines: np.ndarray, check_k):
    """A wide table's columns checked one by one (a bad cell is named by its column and line), then as rows of
    :data:`DIRECTION_COLUMNS` (k in m^3/s): (rows, their lines in the file, units)."""
    columns = [str(c) for c in frame.columns]
    parsed = []
    for column in columns:
        match = _WIDE_COLUMN.fullmatch(column)
        if column != "T_K" and not match:
            raise KvtError(f"{path}: unexpected column {column} in a wide VV table; {LAYOUT_HELP}")
        if match:
            a_from, a_to, b_from, b_to = (int(v) for v in match.groups()[:4])
            if (a_to - a_from, b_to - b_from) not in ((-1, 1), (1, -1)):
                raise KvtError(f"{path}: column {column} is not an exchange of one quantum from A to B or back")
            parsed.append((column, a_from, a_to, b_from, b_to, match.group(5)))
    if "T_K" not in columns or not parsed:
        raise KvtError(f"{path}: a wide VV table has a T_K column and a k column per exchange; {LAYOUT_HELP}")
    tags = sorted({str(p[5]) for p in parsed})
    if len(tags) > 1:
        raise KvtError(f"{path}: the k columns mix units ({', '.join(tags)})")
    units = parsed[0][5].replace("_", "/") if parsed[0][5] else {"m^3/s": "m3/s", "cm^3/s": "cm3/s"}.get(stated)
    if units is None:
        raise KvtError(f"{path}: wide columns without units (k_1_0_0_1) need a '# units: k in m^3/s' or '# units: k "
                       f"in cm^3/s' header line; or name the units in the columns (k_1_0_0_1_m3_s)")
    if stated is not None and stated != units.replace("3", "^3"):
        raise KvtError(f"{path}: the header says k in {stated} but the columns are in {units}")
    T = frame["T_K"].to_numpy(dtype=float)
    _refuse_nonpositive(path, "T_K", T, "must be > 0 K", lines)
    rates = []
    for column, *_ in parsed:
        k = frame[column].to_numpy(dtype=float) / UNITS[units]
        _refuse_nonpositive(path, column, k, f"must be > 0 {units.replace('3', '^3')}", lines)
        check_k(column, k, T)
        rates.append(k)
    levels = np.array([p[1:5] for p in parsed])
    rows = pd.DataFrame({name: np.repeat(levels[:, n], len(T)) for n, name in enumerate(DIRECTION_COLUMNS[:4])})
    return rows.assign(T_K=np.tile(T, len(parsed)), k_m3_s=np.concatenate(rates)), np.tile(lines, len(parsed)), units


def read(frame: pd.DataFrame, path: Path, header: list[str], lines: np.ndarray, check_k) -> ExchangeTable:
    """A raw exchange table (floats) -> :class:`ExchangeTable`; one ``KvtError`` line names the file, the column
    and the first bad line. ``check_k(column, k_m3_s, T)`` is the caller's plausibility check of k and T (of each
    column of a wide table, whose lines are the file's rows)."""
    pair, kind = _header_value(header, "pair"), _header_value(header, "process")
    if pair is None or kind not in ("vv", "vv'"):
        raise KvtError(f"{path}: a VV table needs '# pair: A-B; process: vv' (or vv') in its header, as kvt writes "
                       f"it, to know whose levels level_a and level_b are")
    process = resolve(pair, kind)
    stated = next((m.group(1) for m in map(_UNITS_LINE.search, header) if m), None)
    rows_read = len(frame)
    layout = "wide" if any(_WIDE_COLUMN.fullmatch(str(c)) for c in frame.columns) else "long"
    if layout == "wide":
        frame, lines, units = _wide_rates(frame, path, stated, lines, check_k)
    else:
        frame, units = _long_rates(frame, path, stated, lines, check_k)
    T, k = frame["T_K"].to_numpy(dtype=float), frame["k_m3_s"].to_numpy(dtype=float)
    if "level_a" in frame.columns:
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
                         rows_read=rows_read, layout=layout)
