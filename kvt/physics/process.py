"""Energy-exchange processes as data: who exchanges energy, which levels a rate depends on, its transitions,
its level energies and its detailed balance.

    VT    AB(i) + C      -> AB(i-1) + C          one level input (i), a molecule and a partner   built
    VV    AB(i) + AB(j)  -> AB(i-1) + AB(j+1)    two level inputs (i, j), one molecule with itself  not yet
    VV'   AB(i) + CD(j)  -> AB(i-1) + CD(j+1)    two level inputs, two molecules                    not yet

Everything downstream (the tables' layouts, the network's features, the master equation, the
checks, the exports and the commands) takes a :class:`Process`, resolved once from what the user
typed (:func:`resolve`), instead of a pair's name looked up again. A process that kvt does not
compute yet is refused with one line. Adding one (VV, dissociation) is a class here with the same
members, and the modules that dispatch on :attr:`Process.kind` (docs/architecture.md lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kvt.errors import KvtError, unknown
from kvt.physics import fho, species
from kvt.physics.species import Molecule, Pair, Partner

#: Every process kvt names: its key (what --process takes), what it is, whether kvt computes it yet.
KINDS = {
    "vt": ("vibrational-translational, AB(i) + C -> AB(i-1) + C", True),
    "vv": ("vibrational-vibrational, AB(i) + AB(j) -> AB(i-1) + AB(j+1)", False),
    "vv'": ("vibrational-vibrational between two molecules, AB(i) + CD(j) -> AB(i-1) + CD(j+1)", False),
}
BUILT = tuple(kind for kind, (_, built) in KINDS.items() if built)


@dataclass(frozen=True)
class Process:
    """A VT process: a molecule AB whose level i falls to i-1 in collisions with a partner C.

    The single-quantum VT process is kvt's first; its members are the interface every process offers.
    """

    pair: Pair
    kind: str = "vt"

    #: The table columns that say which transition a rate belongs to (one per level input).
    level_inputs: tuple[str, ...] = ("level",)

    @property
    def name(self) -> str:
        """What the user types and every file records: ``O2-Ar``."""
        return self.pair.name

    @property
    def label(self) -> str:
        """``O2-Ar VT``, for titles and messages."""
        return f"{self.name} {self.kind.upper()}"

    @property
    def molecule(self) -> Molecule:
        return self.pair.molecule

    @property
    def partner(self) -> Partner:
        return self.pair.partner

    @property
    def molecules(self) -> tuple[Molecule, ...]:
        """The molecules whose vibrational levels change (VT: one)."""
        return (self.pair.molecule,)

    @property
    def features(self) -> tuple[str, ...]:
        """The network's raw inputs: the level inputs, then the temperature."""
        return (*self.level_inputs, "T_K")

    @property
    def columns(self) -> tuple[str, ...]:
        """The long layout of a table of de-excitation rates: ``level, T_K, k_m3_s``."""
        return (*self.features, "k_m3_s")

    @property
    def levels(self) -> tuple[int, ...]:
        """The upper levels i of every transition i -> i-1 (1..max level of the molecule)."""
        return self.pair.levels

    @property
    def max_level(self) -> int:
        return self.pair.max_level

    def transitions(self, levels) -> tuple[np.ndarray, np.ndarray]:
        """(level_from, level_to) of the de-excitation of each upper level: i -> i-1."""
        levels = np.asarray(levels, dtype=int)
        return levels, levels - 1

    def check_levels(self, levels) -> np.ndarray:
        """``levels`` as floats, each an upper level of the molecule (an error names the range)."""
        return fho.check_levels(levels, self.molecule)

    def level_energies_K(self, n) -> np.ndarray:
        """E(n) of the molecule's levels above level 0, in kelvin."""
        return fho.level_energy_K(n, self.molecule)

    def energy_released_K(self, levels) -> np.ndarray:
        """Energy the de-excitation of ``levels`` releases into translation, in kelvin: E(i) - E(i-1)."""
        return fho.transition_energy_K(levels, self.molecule)

    def detailed_balance(self, levels, temperatures) -> np.ndarray:
        """k(reverse) / k(forward) = exp(-(E(i) - E(i-1)) / T) (broadcasting)."""
        return fho.detailed_balance_factor(levels, temperatures, self.molecule)

    def rate_coefficient(self, levels, temperatures) -> np.ndarray:
        """The FHO-FR de-excitation rate coefficient in m^3/s (:func:`kvt.physics.fho.rate_coefficient`)."""
        return fho.rate_coefficient(levels, temperatures, self.pair)


def kinds_line() -> str:
    return "; ".join(f"{kind}: {what}" + ("" if built else " (not built yet)") for kind, (what, built) in KINDS.items())


def check_kind(kind: str) -> str:
    """``kind`` in lower case if kvt computes it; else one line saying what it is and what kvt computes."""
    key = str(kind).strip().lower()
    if key not in KINDS:
        raise unknown("process", kind, KINDS, "processes")
    what, built = KINDS[key]
    if not built:
        raise KvtError(f"process {key} ({what}) is not built yet; kvt computes {', '.join(BUILT)} "
                       f"(vibrational-translational) rates")
    return key


def resolve(pair: str | Pair | Process, kind: str = "vt") -> Process:
    """The process the user typed: a pair (``O2-Ar``, any case) and a kind (``vt``); the one place a name
    becomes an object. An unknown pair or kind, or one not built yet, is one ``KvtError`` line."""
    if isinstance(pair, Process):
        return pair
    key = check_kind(kind)
    return Process(species.pair(pair), key)
