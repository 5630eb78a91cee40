"""Datasets of VT rate coefficients: the bundled FHO-FR tables and user CSVs.

The bundled datasets are CSVs with the columns ``level,T_K,k_m3_s``: ``level`` is the
upper level i of the transition i -> i-1 (integer 1..35), ``T_K`` the temperature in K
and ``k_m3_s`` the rate coefficient in m^3/s. :func:`load_dataset` accepts a bundled
pair name or the path of a table in any layout kvt writes (:mod:`kvt.data.tables`: long or
wide, m^3/s or cm^3/s, either direction), checks it, including plausibility bounds on
k and T, and returns it in that schema.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kvt.physics import fho
from kvt.data import tables
from kvt.errors import KvtError
from kvt.data.grid import ALL_LEVELS, STUDY_TEMPERATURES

COLUMNS = ("level", "T_K", "k_m3_s")
PAIRS = tuple(fho.PAIRS)
MODEL_REFERENCE = (
    "FHO-FR (forced harmonic oscillator, free rotation), thermally averaged: "
    "Adamovich, Macheret, Rich & Treanor, J. Thermophys. Heat Transfer 12(1), 1998"
)


def bundled_data_dir() -> Path:
    """Folder of the bundled CSVs: ``data/`` in a source checkout, ``kvt/bundled`` when installed."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "data", package / "bundled"):
        if (candidate / "O2-O2.csv").is_file():
            return candidate
    raise KvtError("the bundled datasets are missing from this installation; reinstall kvt")


def bundled_path(pair: str) -> Path:
    fho.pair_partner(pair)  # validates the name
    return bundled_data_dir() / f"{pair}.csv"


def generate(pair: str, levels=ALL_LEVELS, temperatures=STUDY_TEMPERATURES) -> pd.DataFrame:
    """FHO-FR table for ``pair`` on every (level, T) combination, level-major order."""
    partner = fho.pair_partner(pair)
    levels = np.asarray(levels, dtype=int)
    temperatures = np.asarray(temperatures, dtype=float)
    grid_levels, grid_temps = np.meshgrid(levels, temperatures, indexing="ij")
    k = fho.rate_coefficient(grid_levels, grid_temps, partner)
    return pd.DataFrame({"level": grid_levels.ravel(), "T_K": grid_temps.ravel(), "k_m3_s": k.ravel()})


def generated_header(pair: str, direction: str) -> list[str]:
    """``#`` lines of a generated table with directions (the plain down table has none, like the bundled files)."""
    from kvt import __version__

    return [f"kvt {__version__} FHO-FR VT rate coefficients; {MODEL_REFERENCE}",
            f"pair: {pair}",
            "units: k in m^3/s, T in K; layout: long",
            f"direction: {direction}; excitation from de-excitation by detailed balance, "
            f"k(i-1 -> i) = k(i -> i-1) exp(-(E(i) - E(i-1)) / T)"]


def to_csv_text(frame: pd.DataFrame) -> str:
    """The bundled schema as text, floats at full (round-trip) precision."""
    buffer = io.StringIO()
    frame.loc[:, list(COLUMNS)].to_csv(buffer, index=False, float_format="%.17g", lineterminator="\n")
    return buffer.getvalue()


@dataclass(frozen=True)
class Dataset:
    """A validated dataset with where it came from."""

    frame: pd.DataFrame
    source: str  # pair name or file path
    path: Path
    sha256: str
    pair: str | None  # bundled pair name, else None
    table: tables.RateTable | None = None  # the file as read (layout, units, header), before conversion

    @property
    def name(self) -> str:
        return self.pair if self.pair else self.path.stem


def _fail(path: Path, message: str):
    raise KvtError(f"{path}: {message}")


#: Plausibility bounds of a user table (see README "Data"): VT rate coefficients lie far
#: below the gas-kinetic collision rate (~1e-15 m^3/s), and the tables' temperatures in
#: tens to tens of thousands of kelvin.
K_MAX_M3_S = 1e-13
T_MIN_K, T_MAX_K = 50.0, 1e5
IMPLAUSIBLE_FLAG = "--allow-implausible"


def _numbers(raw: pd.Series, column: str, path: Path, lines: np.ndarray) -> np.ndarray:
    """A column as floats; the first cell that is not a number, or NaN/inf, is an error."""
    if raw.dtype.kind != "f":  # parsed as text because some cell is not a number: name it
        values = pd.to_numeric(raw, errors="coerce")
        spelled_nan = raw.astype(str).str.strip().str.lower().isin(["nan", "+nan", "-nan"])
        bad = (values.isna() & raw.notna() & ~spelled_nan).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            _fail(path, f"column {column}, line {lines[row]}: '{raw.iloc[row]}' is not a number")
        raw = values
    values = raw.to_numpy(dtype=float)
    nonfinite = ~np.isfinite(values)
    if nonfinite.any():
        row = int(np.flatnonzero(nonfinite)[0])
        _fail(path, f"column {column}, line {lines[row]}: value is missing, NaN or infinite")
    return values


def _first_bad(path, column, values, bad, rule, lines):
    if np.any(bad):
        row = int(np.flatnonzero(bad)[0])
        _fail(path, f"column {column}, line {lines[row]}: {values[row]:g} {rule}")


def _check_columns(columns: list[str], expected: tuple[str, ...], path: Path) -> None:
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        _fail(path, f"{'; '.join(parts)}; expected columns {','.join(expected)} ({tables.LAYOUT_HELP})")


def _plausible(path: Path, k_column: str, k_m3_s, T, lines, allow_implausible: bool) -> None:
    if allow_implausible:
        return
    hint = f"(pass {IMPLAUSIBLE_FLAG} to use it anyway)"
    high = k_m3_s > K_MAX_M3_S
    if high.any():
        row = int(np.flatnonzero(high)[0])
        _fail(path, f"column {k_column}, line {lines[row]}: {k_m3_s[row]:g} m^3/s is above {K_MAX_M3_S:g} m^3/s, "
                    f"far above any VT rate coefficient (the gas-kinetic collision rate is ~1e-15 m^3/s): "
                    f"is it in cm^3/s under a k_m3_s header? {hint}")
    for bad, bound, guess in ((T < T_MIN_K, f"below {T_MIN_K:g} K", "in kK"),
                              (T > T_MAX_K, f"above {T_MAX_K:g} K", "in K x 1000 or another unit")):
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            _fail(path, f"column T_K, line {lines[row]}: {T[row]:g} K is {bound}, outside the temperatures of "
                        f"VT rate tables: is it {guess}? {hint}")


def validate(frame: pd.DataFrame, path: Path, comment_lines: int = 0, header: list[str] | None = None,
             allow_implausible: bool = False, allow_nonpositive: bool = False) -> tables.RateTable:
    """Check a raw CSV frame (strings) in one of kvt's layouts; return it in canonical form.

    Errors name the file, the column and the first offending row as its line number in
    the file (comment lines and the header count).
    """
    header = header or []
    columns = [str(c) for c in frame.columns]
    layout = tables.detect_layout(columns)
    if layout is None:
        _fail(path, f"columns {','.join(columns)} are not a layout kvt reads; {tables.LAYOUT_HELP}")
    header_unit = tables.header_units(header)
    first_line = comment_lines + 2
    if layout == "wide":
        if frame.empty:
            _fail(path, "has a header but no data rows")
        canonical, units, rows = tables.wide_to_canonical(frame, path, header_unit)
        lines = rows + first_line
        k_column = next(c for c in columns if c != "T_K")
        k_values = _numbers(canonical["k"], k_column, path, lines)
        T = _numbers(canonical["T_K"], "T_K", path, lines)
        level_from = canonical["level_from"].to_numpy(dtype=float)
        level_to = canonical["level_to"].to_numpy(dtype=float)
    else:
        level_columns = ("level",) if layout == "long" else ("level_from", "level_to")
        k_column, units = tables.k_column(columns, path, header_unit)
        _check_columns(columns, (*level_columns, "T_K", k_column), path)
        if frame.empty:
            _fail(path, "has a header but no data rows")
        lines = np.arange(len(frame)) + first_line
        levels = {c: _numbers(frame[c], c, path, lines) for c in level_columns}
        T = _numbers(frame["T_K"], "T_K", path, lines)
        k_values = _numbers(frame[k_column], k_column, path, lines)
        if layout == "long":
            level = levels["level"]
            _first_bad(path, "level", level, (level != np.round(level)) | (level < 1) | (level > fho.O2_MAX_LEVEL),
                       f"must be an integer 1..{fho.O2_MAX_LEVEL}", lines)
            level_from, level_to = level, level - 1
        else:
            level_from, level_to = levels["level_from"], levels["level_to"]
            for column, values in (("level_from", level_from), ("level_to", level_to)):
                _first_bad(path, column, values, (values != np.round(values)) | (values < 0)
                           | (values > fho.O2_MAX_LEVEL), f"must be an integer 0..{fho.O2_MAX_LEVEL}", lines)
            _first_bad(path, "level_to", level_to, np.abs(level_to - level_from) != 1,
                       "must differ from level_from by 1 (single-quantum transitions)", lines)
    k_m3_s = k_values / tables.UNITS[units]
    _first_bad(path, "T_K", T, T <= 0, "must be > 0 K", lines)
    if not allow_nonpositive:
        _first_bad(path, k_column, k_values, k_values <= 0, f"must be > 0 {units.replace('3', '^3')}", lines)
    _plausible(path, k_column, k_m3_s, T, lines, allow_implausible)
    result = pd.DataFrame({"level_from": level_from.astype(int), "level_to": level_to.astype(int), "T_K": T,
                           "k_m3_s": k_m3_s})
    duplicated = result.duplicated(subset=["level_from", "level_to", "T_K"], keep="first").to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        where = ("columns level,T_K" if layout == "long" else "columns level_from,level_to,T_K"
                 if layout == "long-directions" else "column T_K")
        what = (f"level {result['level_from'].iloc[row]}" if layout == "long"
                else f"transition {result['level_from'].iloc[row]}->{result['level_to'].iloc[row]}")
        _fail(path, f"{where}, line {lines[row]}: duplicate of an earlier row ({what}, T {result['T_K'].iloc[row]:g} K)")
    return tables.RateTable(frame=result, layout="wide" if layout == "wide" else "long", units=units,
                            pair=tables.header_pair(header), header=header)


def _sha256_and_blank(path: Path) -> tuple[str, bool]:
    """The file's sha256, read in 1 MiB blocks, and whether it holds only whitespace."""
    digest, blank = hashlib.sha256(), True
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            blank = blank and not block.strip()
    return digest.hexdigest(), blank


def _comment_lines(path: Path) -> list[str]:
    """The ``#`` lines at the top of the file."""
    comments = []
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            if not line.lstrip().startswith("#"):
                break
            comments.append(line.rstrip("\n"))
    return comments


def read_table(path: str | os.PathLike, allow_implausible: bool = False,
               allow_nonpositive: bool = False) -> tuple[tables.RateTable, str]:
    """Read and check any table kvt writes (or a user table in one of its layouts); return it and its sha256.

    ``allow_nonpositive`` keeps rates <= 0 (a table exported with --allow-nonphysical) for a
    caller that refuses them itself where they matter (``kvt relax`` at its temperatures).

    The file is parsed once by pandas' C parser straight into floats; only a file with a
    cell that is not a number is parsed again as text, to name that cell in the error.
    """
    path = Path(path)
    if not path.exists():
        raise KvtError(f"{path}: no such file")
    if not path.is_file():
        raise KvtError(f"{path}: not a file")
    sha256, blank = _sha256_and_blank(path)
    if blank:
        raise KvtError(f"{path}: file is empty; expected a CSV with columns {','.join(COLUMNS)} "
                       f"({tables.LAYOUT_HELP})")
    options = dict(keep_default_na=False, na_values=[""])
    try:
        comments = _comment_lines(path)
        skip = len(comments)
        try:
            frame = pd.read_csv(path, skiprows=skip, dtype="float64", **options)
        except ValueError:  # a cell that is not a number: read as text to say which
            frame = pd.read_csv(path, skiprows=skip, dtype=str, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise KvtError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    return validate(frame, path, skip, comments, allow_implausible, allow_nonpositive), sha256


def load_dataset(pair_or_path: str | os.PathLike, allow_implausible: bool = False) -> Dataset:
    """Load a bundled pair (``"O2-Ar"``) or a table in any layout kvt writes (see :mod:`kvt.data.tables`)."""
    text = str(pair_or_path)
    pair = text if text in fho.PAIRS else None
    if pair is None and not Path(text).suffix and os.sep not in text and not Path(text).exists():
        fho.pair_partner(text)  # a bare name that is no pair: say which pairs exist
    path = bundled_path(pair) if pair else Path(text)
    table, sha256 = read_table(path, allow_implausible)
    return Dataset(frame=table.down(), source=text, path=path, sha256=sha256, pair=pair, table=table)


def describe(dataset: Dataset) -> dict:
    """Summary used by ``kvt data info``."""
    frame = dataset.frame
    table = dataset.table
    if dataset.pair:
        provenance = f"bundled; {MODEL_REFERENCE}; regenerate with: kvt data generate --pair {dataset.pair}"
    else:
        comments = [line.lstrip("# ") for line in (table.header if table else [])]
        written = next((line for line in comments if line.startswith("kvt ")), None)
        provenance = f"user file {dataset.path}" + (f" ({written}; pair {table.pair})" if written and table.pair
                                                    else f" ({written})" if written else "")
    summary = {
        "source": dataset.source,
        "file": str(dataset.path),
        "sha256": dataset.sha256,
    }
    if table is not None:
        f = table.frame
        n_down = int((f["level_to"] == f["level_from"] - 1).sum())
        summary["table"] = (f"{table.layout} layout, k in {table.units}; {len(f)} rates read "
                            f"({n_down} de-excitation, {len(f) - n_down} excitation)")
    return summary | {
        "rows": len(frame),
        "levels": f"{frame['level'].min()}..{frame['level'].max()} ({frame['level'].nunique()} distinct)",
        "temperatures_K": f"{frame['T_K'].min():g}..{frame['T_K'].max():g} ({frame['T_K'].nunique()} distinct)",
        "k_m3_s": f"{frame['k_m3_s'].min():.6g}..{frame['k_m3_s'].max():.6g}",
        "provenance": provenance,
    }
