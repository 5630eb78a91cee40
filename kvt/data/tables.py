"""The rate tables kvt writes, and reading any of them back into one canonical form.

Layouts (units m^3/s or cm^3/s, named in the k column(s); ``#`` comment lines may precede the header):

* ``long``:    ``level,T_K,k_m3_s`` — de-excitation i -> i-1 (the bundled datasets' schema);
* ``long`` with directions: ``level_from,level_to,T_K,k_m3_s`` — any single-quantum transition;
* ``wide``:    ``T_K,k_1_0_m3_s,k_2_1_m3_s,…`` (and ``k_0_1_m3_s,…`` for excitation) — one row per T.

Older kvt exports named wide columns ``k_1_0`` and gave the units only in the ``# units:``
comment line; those still read. :func:`kvt.data.datasets.read_table` returns a :class:`RateTable` whose
``frame`` has the canonical columns ``level_from,level_to,T_K,k_m3_s``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kvt.errors import KvtError, unknown

from kvt.data.choices import DIRECTIONS, UNITS, check_direction, check_units  # noqa: F401  (re-exported)

UNIT_TAGS = {"m3_s": "m3/s", "cm3_s": "cm3/s"}
CANONICAL = ("level_from", "level_to", "T_K", "k_m3_s")
LAYOUT_HELP = ("kvt reads these layouts: long level,T_K,k_m3_s (or k_cm3_s); long with directions "
               "level_from,level_to,T_K,k_m3_s (or k_cm3_s); wide T_K,k_1_0_m3_s,k_2_1_m3_s,... "
               "(k_<from>_<to>_<units>, units m3_s or cm3_s)")
_WIDE_COLUMN = re.compile(r"k_(\d+)_(\d+)(?:_(m3_s|cm3_s))?")
_HEADER_UNITS = re.compile(r"#\s*units:\s*k in (c?m)\^3/s")
_HEADER_PAIR = re.compile(r"#\s*pair:\s*([^;\s]+)")
_HEADER_MOLECULE = re.compile(r"#\s*molecule:\s*([^;,\s]+)")


def unit_tag(units: str) -> str:
    return units.replace("/", "_")


def wide_column(level_from: int, level_to: int, units: str) -> str:
    return f"k_{level_from}_{level_to}_{unit_tag(units)}"


def with_directions(frame: pd.DataFrame, direction: str, molecule) -> pd.DataFrame:
    """De-excitation rows (level, T_K, k_m3_s) -> canonical rows of ``direction`` (detailed balance for up).

    The detailed balance uses ``molecule``'s level energies (a molecule, a pair or either's
    name; default O2). Row order: down rows (level-major as given), then up rows.
    """
    from kvt.physics import fho

    check_direction(direction)
    parts = []
    level, T, k = frame["level"].to_numpy(), frame["T_K"].to_numpy(dtype=float), frame["k_m3_s"].to_numpy()
    if direction in ("down", "both"):
        parts.append(pd.DataFrame({"level_from": level, "level_to": level - 1, "T_K": T, "k_m3_s": k}))
    if direction in ("up", "both"):
        k_up = k * fho.detailed_balance_factor(level, T, molecule)
        parts.append(pd.DataFrame({"level_from": level - 1, "level_to": level, "T_K": T, "k_m3_s": k_up}))
    return pd.concat(parts, ignore_index=True)


def format_table(frame: pd.DataFrame, layout: str, units: str, header_lines=(), float_format="%.10e",
                 column_names: bool = True) -> str:
    """Canonical rows -> CSV text in ``layout`` and ``units``, after ``#`` header lines.

    A long table of de-excitation rows only keeps the study's ``level,T_K,k_<units>`` columns.
    """
    check_units(units)
    factor = UNITS[units]
    tag = unit_tag(units)
    if layout == "wide":
        transitions = frame[["level_from", "level_to"]].drop_duplicates()
        body = frame.pivot(index="T_K", columns=["level_from", "level_to"], values="k_m3_s")
        body = body.reindex(columns=pd.MultiIndex.from_frame(transitions)) * factor
        body.columns = [wide_column(a, b, units) for a, b in transitions.itertuples(index=False)]
        body = body.reset_index()
    elif layout == "long":
        if bool((frame["level_to"] == frame["level_from"] - 1).all()):
            body = pd.DataFrame({"level": frame["level_from"].to_numpy(), "T_K": frame["T_K"].to_numpy(),
                                 f"k_{tag}": frame["k_m3_s"].to_numpy() * factor})
        else:
            body = frame.loc[:, list(CANONICAL)].rename(columns={"k_m3_s": f"k_{tag}"})
            body[f"k_{tag}"] = body[f"k_{tag}"] * factor
    else:
        raise unknown("layout", layout, ("long", "wide"))
    buffer = io.StringIO()
    for line in header_lines:
        buffer.write(f"# {line}\n")
    body.to_csv(buffer, index=False, header=column_names, float_format=float_format, lineterminator="\n")
    return buffer.getvalue()


@dataclass
class RateTable:
    """A table read back: canonical rows plus what its header said."""

    frame: pd.DataFrame  # level_from, level_to, T_K, k_m3_s
    layout: str
    units: str
    pair: str | None = None
    header: list[str] = field(default_factory=list)

    @property
    def molecule(self):
        """The table's molecule (kvt.physics.species.Molecule): its pair's, else its ``# molecule:`` line's, else O2."""
        from kvt.physics import species

        if self.pair:
            return species.pair(self.pair).molecule
        return species.MOLECULES[header_molecule_name(self.header) or "O2"]

    def down(self) -> pd.DataFrame:
        """De-excitation rows as ``level,T_K,k_m3_s``; excitation-only (level, T) converted by detailed balance
        with the table's molecule's level energies (:attr:`molecule`)."""
        from kvt.physics import fho

        f = self.frame
        down = f[f["level_to"] == f["level_from"] - 1]
        up = f[f["level_to"] == f["level_from"] + 1]
        result = pd.DataFrame({"level": down["level_from"].to_numpy(), "T_K": down["T_K"].to_numpy(),
                               "k_m3_s": down["k_m3_s"].to_numpy()})
        if len(up):
            keys = pd.DataFrame({"level": up["level_to"].to_numpy(), "T_K": up["T_K"].to_numpy(),
                                 "k_up": up["k_m3_s"].to_numpy()})
            joined = keys.merge(result[["level", "T_K"]], on=["level", "T_K"], how="left", indicator=True)
            only_up = joined[joined["_merge"] == "left_only"]
            if len(only_up):
                level, T = only_up["level"].to_numpy(), only_up["T_K"].to_numpy()
                k = only_up["k_up"].to_numpy() / fho.detailed_balance_factor(level, T, self.molecule)
                result = pd.concat([result, pd.DataFrame({"level": level, "T_K": T, "k_m3_s": k})],
                                   ignore_index=True)
        return result


def header_units(comments: list[str]) -> str | None:
    for line in comments:
        match = _HEADER_UNITS.match(line.strip())
        if match:
            return "m3/s" if match.group(1) == "m" else "cm3/s"
    return None


def _header_name(comments: list[str], pattern: re.Pattern, known) -> str | None:
    """The name the first ``pattern`` line gives, if it is in ``known``; None without such a line."""
    for line in comments:
        match = pattern.match(line.strip())
        if match:
            return match.group(1) if match.group(1) in known else None
    return None


def header_pair(comments: list[str]) -> str | None:
    """The pair (any of the 18) a ``# pair:`` line names, or None (no such line, or not a known pair)."""
    from kvt.physics.species import PAIRS

    return _header_name(comments, _HEADER_PAIR, PAIRS)


def header_molecule_name(comments: list[str]) -> str | None:
    """The molecule the table is of: its ``# pair:`` line's, else a ``# molecule:`` line's (any of the three), else None.

    kvt writes ``# molecule:`` in an export of a network trained on a user table of N2 or NO,
    which has no pair to name.
    """
    from kvt.physics.species import MOLECULES, PAIRS

    pair = header_pair(comments)
    return PAIRS[pair].molecule.name if pair else _header_name(comments, _HEADER_MOLECULE, MOLECULES)


def detect_layout(columns: list[str]) -> str | None:
    """``long``, ``long-directions``, ``wide`` or None for a header kvt does not write."""
    if "level_from" in columns or "level_to" in columns:
        return "long-directions"
    if "T_K" in columns and any(_WIDE_COLUMN.fullmatch(c) for c in columns):
        return "wide"
    if "level" in columns:
        return "long"
    return None


def k_column(columns: list[str], path, header_unit: str | None) -> tuple[str, str]:
    """The k column of a long table and its units."""
    named = [c for c in columns if c in ("k_m3_s", "k_cm3_s")]
    if len(named) != 1:
        return "k_m3_s", "m3/s"  # the column check reports the problem
    column = named[0]
    units = UNIT_TAGS[column[2:]]
    if header_unit and header_unit != units:
        raise KvtError(f"{path}: the header says k in {header_unit} but the column is {column}")
    return column, units


def wide_to_canonical(frame: pd.DataFrame, path, header_unit: str | None):
    """Wide columns -> canonical rows (raw strings kept for the caller's checks)."""
    columns = [c for c in frame.columns if c != "T_K"]
    parsed = []
    column_units = set()
    for column in columns:
        match = _WIDE_COLUMN.fullmatch(column)
        if not match:
            raise KvtError(f"{path}: unexpected column {column} in a wide table; {LAYOUT_HELP}")
        a, b, tag = int(match.group(1)), int(match.group(2)), match.group(3)
        if abs(a - b) != 1:
            raise KvtError(f"{path}: column {column} is not a single-quantum transition (levels differ by 1)")
        parsed.append((column, a, b))
        column_units.add(UNIT_TAGS[tag] if tag else None)
    if len(column_units) > 1:
        raise KvtError(f"{path}: the k columns mix units ({', '.join(sorted(str(u) for u in column_units))})")
    (units,) = column_units
    if units is None:
        if header_unit is None:
            raise KvtError(f"{path}: wide columns without units (k_1_0) need a '# units: k in m^3/s' or "
                           f"'# units: k in cm^3/s' header line; or name the units in the columns (k_1_0_m3_s)")
        units = header_unit
    elif header_unit and header_unit != units:
        raise KvtError(f"{path}: the header says k in {header_unit} but the columns are in {units}")
    n_t = len(frame)
    lines = np.arange(n_t)
    pieces = {
        "level_from": np.repeat([a for _, a, _ in parsed], n_t),
        "level_to": np.repeat([b for _, _, b in parsed], n_t),
        "T_K": np.tile(frame["T_K"].to_numpy(), len(parsed)),
        "k": np.concatenate([frame[c].to_numpy() for c, _, _ in parsed]) if parsed else np.array([]),
    }
    return pd.DataFrame(pieces), units, np.tile(lines, len(parsed))
