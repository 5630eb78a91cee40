"""The words a rate table's options take (units, directions), checked without reading any table.

Kept apart from :mod:`kvt.data.tables` (which imports pandas) so that the CLI can refuse a
misspelt ``--units`` or ``--direction`` before it imports anything heavy.
"""

from __future__ import annotations

from kvt.errors import unknown

UNITS = {"m3/s": 1.0, "cm3/s": 1e6}  # value in these units = value in m^3/s * factor
DIRECTIONS = ("down", "up", "both")


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise unknown("direction", direction, DIRECTIONS)
    return direction


def check_units(units: str) -> str:
    if units not in UNITS:
        raise unknown("units", units, UNITS, "valid units")
    return units
