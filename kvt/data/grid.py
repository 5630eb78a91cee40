"""Parsing of level and temperature specifications given on the command line.

Levels: ``32``, ``1-35``, ``1,2,5``, ``1-5,10``.
Temperatures (K): ``1000``, ``300,500,1000``, or ``start:stop:step`` with ``stop``
included when the steps land on it (``250:10000:10``); lists and ranges mix with
commas (``250:1000:250,5000``).
"""

from __future__ import annotations

import re

import numpy as np

from kvt.errors import KvtError
from kvt.physics import species
from kvt.physics.fho import O2_MAX_LEVEL

#: The study's temperature grid, in K (15 temperatures).
STUDY_TEMPERATURES = (250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000)
#: O2's levels (the study's); another molecule's are ``species.molecule(name).levels``.
ALL_LEVELS = tuple(range(1, O2_MAX_LEVEL + 1))
#: Temperatures a --temps spec may hold (the plausibility bounds of kvt.data.datasets).
T_PLAUSIBLE_K = (50.0, 1e5)


def _parse_int(text: str, spec: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise KvtError(f"level '{text}' in '{spec}' is not an integer; use e.g. 32, 1-35 or 1,2,5") from None
    if not np.isfinite(value) or value != int(value):
        raise KvtError(f"level '{text}' in '{spec}' is not an integer; use e.g. 32, 1-35 or 1,2,5")
    return int(value)


def parse_levels(spec: str, max_level: int = O2_MAX_LEVEL, molecule=None, min_level: int = 1,
                 allowed: str | None = None) -> list[int]:
    """Levels from a spec such as ``1-35`` or ``1,2,5``, sorted and unique.

    With ``molecule`` (a molecule, a pair, or either's name) the range is that molecule's
    and an error names it ("level 47 is out of range; N2 levels are 1..46"); ``max_level``
    is then ignored. ``min_level``/``allowed``: another range and its wording (``O2 level_b
    is 0..34``).
    """
    allowed = allowed or f"allowed levels are {min_level}..{max_level}"
    if molecule is not None:
        m = species.molecule(molecule)
        max_level, allowed = m.max_level, f"{m.name} levels are 1..{m.max_level}"
    levels: set[int] = set()
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            raise KvtError(f"malformed level list '{spec}'; use e.g. 32, 1-35 or 1,2,5")
        match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if match:
            lo, hi = int(match.group(1)), int(match.group(2))
            if lo > hi:
                raise KvtError(f"malformed level range '{part}': start {lo} is above end {hi}")
            numbers = range(lo, hi + 1)
        elif "-" in part[1:]:
            raise KvtError(f"malformed level range '{part}'; use e.g. 1-35")
        else:
            numbers = [_parse_int(part, spec)]
        for n in numbers:
            if n < min_level or n > max_level:
                where = "" if str(n) == str(spec).strip() else f" in '{spec}'"
                raise KvtError(f"level {n}{where} is out of range; {allowed}")
            levels.add(n)
    return sorted(levels)


def _parse_temperature(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        hint = ""
        if re.fullmatch(r"\s*\d+(\.\d*)?\s*-\s*\d+(\.\d*)?\s*", text):
            low, high = (piece.strip() for piece in text.split("-"))
            hint = f"; a range is start:stop:step, e.g. {low}:{high}:100"
        elif re.fullmatch(r"\s*\d+(\.\d*)?\s*:\s*\d+(\.\d*)?\s*", text):
            hint = f"; a range needs a step: start:stop:step, e.g. {text.strip()}:100"
        where = "" if text.strip() == str(spec).strip() else f" in '{spec}'"
        raise KvtError(f"temperature '{text}'{where} is not a number{hint}") from None
    if not np.isfinite(value) or value <= 0:
        raise KvtError(f"temperature {text} K in '{spec}' is not allowed; temperatures must be > 0 K")
    if value < T_PLAUSIBLE_K[0] or value > T_PLAUSIBLE_K[1]:
        raise KvtError(f"temperature {text} K in '{spec}' is outside {T_PLAUSIBLE_K[0]:g}..{T_PLAUSIBLE_K[1]:g} K, "
                       f"the temperatures of VT rate tables; temperatures are in kelvin (not kK or degrees C)")
    return value


def parse_temperatures(spec: str, max_points: int = 10_000_000) -> np.ndarray:
    """Temperatures in K from a spec such as ``250:10000:10`` or ``300,500,1000``, sorted and unique."""
    values: list[np.ndarray] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            raise KvtError(f"malformed temperature list '{spec}'; use e.g. 1000, 300,500 or 250:10000:10")
        if ":" in part:
            pieces = part.split(":")
            if len(pieces) != 3 or not all(p.strip() for p in pieces):
                raise KvtError(f"malformed temperature range '{part}'; use start:stop:step, e.g. 250:10000:10")
            start, stop = (_parse_temperature(p.strip(), spec) for p in pieces[:2])
            try:
                step = float(pieces[2])
            except ValueError:
                raise KvtError(f"step '{pieces[2].strip()}' in '{part}' is not a number") from None
            if not np.isfinite(step) or step <= 0:
                raise KvtError(f"step {pieces[2].strip()} in '{part}' must be a number > 0")
            if start > stop:
                raise KvtError(f"malformed temperature range '{part}': start {start:g} is above stop {stop:g}")
            count = int(np.floor((stop - start) / step * (1 + 1e-12))) + 1
            if count > max_points:
                raise KvtError(f"temperature range '{part}' has {count} points; at most {max_points} are allowed")
            values.append(start + step * np.arange(count))
        else:
            values.append(np.array([_parse_temperature(part, spec)]))
    return np.unique(np.concatenate(values))


def span(lo, hi) -> str:
    """A range as people write it: ``500..1000``, and ``500`` where it holds one value (not ``500..500``)."""
    return f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"


def outside(name: str, plural: str, lo, hi, unit: str = "") -> str:
    """The subject of an "outside the trained range" line: ``temperatures 100..500 K go``, ``temperature 100 K
    goes``."""
    return f"{name if lo == hi else plural} {span(lo, hi)}{unit} {'goes' if lo == hi else 'go'}"
