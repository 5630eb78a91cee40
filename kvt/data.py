"""Datasets of VT rate coefficients: the bundled FHO-FR tables and user CSVs.

Every dataset is a CSV with the columns ``level,T_K,k_m3_s``: ``level`` is the upper
level i of the transition i -> i-1 (integer 1..35), ``T_K`` the temperature in K
(> 0) and ``k_m3_s`` the rate coefficient in m^3/s (> 0). :func:`load_dataset`
accepts a bundled pair name or the path of such a file and returns a validated
DataFrame.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kvt import physics
from kvt.errors import KvtError
from kvt.grid import ALL_LEVELS, STUDY_TEMPERATURES

COLUMNS = ("level", "T_K", "k_m3_s")
PAIRS = tuple(physics.PAIRS)
MODEL_REFERENCE = (
    "FHO-FR (forced harmonic oscillator, free rotation), thermally averaged: "
    "Adamovich, Macheret, Rich & Treanor, J. Thermophys. Heat Transfer 12(1), 1998"
)


def bundled_data_dir() -> Path:
    """Folder of the bundled CSVs: ``data/`` in a source checkout, ``kvt/bundled`` when installed."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "data", here / "bundled"):
        if (candidate / "O2-O2.csv").is_file():
            return candidate
    raise KvtError("the bundled datasets are missing from this installation; reinstall kvt")


def bundled_path(pair: str) -> Path:
    physics.pair_partner(pair)  # validates the name
    return bundled_data_dir() / f"{pair}.csv"


def generate(pair: str, levels=ALL_LEVELS, temperatures=STUDY_TEMPERATURES) -> pd.DataFrame:
    """FHO-FR table for ``pair`` on every (level, T) combination, level-major order."""
    partner = physics.pair_partner(pair)
    levels = np.asarray(levels, dtype=int)
    temperatures = np.asarray(temperatures, dtype=float)
    grid_levels, grid_temps = np.meshgrid(levels, temperatures, indexing="ij")
    k = physics.rate_coefficient(grid_levels, grid_temps, partner)
    return pd.DataFrame({"level": grid_levels.ravel(), "T_K": grid_temps.ravel(), "k_m3_s": k.ravel()})


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

    @property
    def name(self) -> str:
        return self.pair if self.pair else self.path.stem


def _fail(path: Path, message: str):
    raise KvtError(f"{path}: {message}")


def _check_columns(columns, path: Path) -> None:
    columns = [str(c) for c in columns]
    missing = [c for c in COLUMNS if c not in columns]
    extra = [c for c in columns if c not in COLUMNS]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        _fail(path, f"{'; '.join(parts)}; expected columns {','.join(COLUMNS)}")


def validate(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Check a raw CSV frame (strings) against the schema; return it with proper dtypes.

    Errors name the file, the column and the first offending row as its line number
    in the file (the header is line 1).
    """
    _check_columns(frame.columns, path)
    if frame.empty:
        _fail(path, "has a header but no data rows")
    out = {}
    for column in COLUMNS:
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce")
        spelled_nan = raw.astype(str).str.strip().str.lower().isin(["nan", "+nan", "-nan"])
        bad = values.isna() & raw.notna() & ~spelled_nan
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            _fail(path, f"column {column}, line {row + 2}: '{raw.iloc[row]}' is not a number")
        out[column] = values.to_numpy(dtype=float)
    return _check_values(out, path)


def _check_values(out: dict[str, np.ndarray], path: Path) -> pd.DataFrame:
    """The numeric checks of :func:`validate` on float columns (vectorised, no per-row Python)."""
    for column in COLUMNS:
        nonfinite = ~np.isfinite(out[column])
        if nonfinite.any():
            row = int(np.flatnonzero(nonfinite)[0])
            _fail(path, f"column {column}, line {row + 2}: value is missing, NaN or infinite")
    checks = (
        ("level", (out["level"] != np.round(out["level"])) | (out["level"] < 1) | (out["level"] > physics.O2_MAX_LEVEL),
         f"must be an integer 1..{physics.O2_MAX_LEVEL}"),
        ("T_K", out["T_K"] <= 0, "must be > 0 K"),
        ("k_m3_s", out["k_m3_s"] <= 0, "must be > 0 m^3/s"),
    )
    for column, bad, rule in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            _fail(path, f"column {column}, line {row + 2}: {out[column][row]:g} {rule}")
    result = pd.DataFrame({"level": out["level"].astype(int), "T_K": out["T_K"], "k_m3_s": out["k_m3_s"]})
    duplicated = result.duplicated(subset=["level", "T_K"], keep="first").to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        _fail(path, f"columns level,T_K, line {row + 2}: duplicate of an earlier row "
                    f"(level {result['level'].iloc[row]}, T {result['T_K'].iloc[row]:g} K)")
    return result


def _sha256_and_blank(path: Path) -> tuple[str, bool]:
    """The file's sha256, read in 1 MiB blocks, and whether it holds only whitespace."""
    digest, blank = hashlib.sha256(), True
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            blank = blank and not block.strip()
    return digest.hexdigest(), blank


def read_table(path: str | os.PathLike) -> tuple[pd.DataFrame, str]:
    """Read and validate a CSV in the bundled schema; return the frame and the file's sha256.

    The file is parsed once by pandas' C parser straight into floats; only a file with
    a non-numeric cell is parsed again as text, to name the cell in the error.
    """
    path = Path(path)
    if not path.exists():
        raise KvtError(f"{path}: no such file")
    if not path.is_file():
        raise KvtError(f"{path}: not a file")
    sha256, blank = _sha256_and_blank(path)
    if blank:
        raise KvtError(f"{path}: file is empty; expected a CSV with columns {','.join(COLUMNS)}")
    try:
        header = pd.read_csv(path, nrows=0).columns
        _check_columns(header, path)
        try:
            frame = pd.read_csv(path, dtype="float64", keep_default_na=False, na_values=[""])
        except ValueError:  # a cell that is not a number: read as text to say which
            frame = None
        if frame is None:
            return validate(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]), path), sha256
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise KvtError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    if frame.empty:
        _fail(path, "has a header but no data rows")
    return _check_values({c: frame[c].to_numpy(dtype=float) for c in COLUMNS}, path), sha256


def read_csv(path: str | os.PathLike) -> tuple[pd.DataFrame, bytes]:
    """The validated frame and the raw bytes of ``path`` (see :func:`read_table`, which does not keep them)."""
    frame, _ = read_table(path)
    return frame, Path(path).read_bytes()


def load_dataset(pair_or_path: str | os.PathLike) -> Dataset:
    """Load a bundled pair (``"O2-Ar"``) or a user CSV in the bundled schema."""
    text = str(pair_or_path)
    pair = text if text in physics.PAIRS else None
    if pair is None and not Path(text).suffix and os.sep not in text and not Path(text).exists():
        physics.pair_partner(text)  # a bare name that is no pair: say which pairs exist
    path = bundled_path(pair) if pair else Path(text)
    frame, sha256 = read_table(path)
    return Dataset(frame=frame, source=text, path=path, sha256=sha256, pair=pair)


def describe(dataset: Dataset) -> dict:
    """Summary used by ``kvt data info``."""
    frame = dataset.frame
    if dataset.pair:
        provenance = f"bundled; {MODEL_REFERENCE}; regenerate with: kvt data generate --pair {dataset.pair}"
    else:
        provenance = f"user file {dataset.path}"
    return {
        "source": dataset.source,
        "file": str(dataset.path),
        "sha256": dataset.sha256,
        "rows": len(frame),
        "levels": f"{frame['level'].min()}..{frame['level'].max()} ({frame['level'].nunique()} distinct)",
        "temperatures_K": f"{frame['T_K'].min():g}..{frame['T_K'].max():g} ({frame['T_K'].nunique()} distinct)",
        "k_m3_s": f"{frame['k_m3_s'].min():.6g}..{frame['k_m3_s'].max():.6g}",
        "provenance": provenance,
    }
