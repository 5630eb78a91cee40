"""Energy-exchange processes as data: who exchanges energy, which levels a rate depends on, its transitions,
its level energies and its detailed balance.

    VT    AB(i) + C      -> AB(i-1) + C          one level input (i), a molecule and a partner
    VV    AB(i) + AB(j)  -> AB(i-1) + AB(j+1)    two level inputs (i, j), one molecule with itself
    VV'   AB(i) + CD(j)  -> AB(i-1) + CD(j+1)    two level inputs, two molecules

Everything downstream (the tables' layouts, the network's features, the master equation, the
checks, the exports and the commands) takes a :class:`Process`, resolved once from what the user
typed (:func:`resolve`), instead of a pair's name looked up again. A command that does not handle
a process yet refuses it with one line (:func:`check_supported`). Adding one (dissociation, say)
is a class here with the same members, and the modules that dispatch on ``kind`` (docs/architecture.md
lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kvt.errors import KvtError, unknown
from kvt.physics import fho, fho_vv, species
from kvt.physics.species import Molecule, Pair, Partner

#: Every process kvt names: its key (what --process takes), what it is, whether kvt computes it yet.
KINDS = {
    "vt": ("vibrational-translational, AB(i) + C -> AB(i-1) + C", True),
    "vv": ("vibrational-vibrational, AB(i) + AB(j) -> AB(i-1) + AB(j+1)", True),
    "vv'": ("vibrational-vibrational between two molecules, AB(i) + CD(j) -> AB(i-1) + CD(j+1)", True),
}
BUILT = tuple(kind for kind, (_, built) in KINDS.items() if built)


class _Derived:
    """What every process derives from its ``name``, ``kind`` and ``level_inputs``."""

    @property
    def label(self) -> str:
        """``O2-Ar VT``, for titles and messages."""
        return f"{self.name} {self.kind.upper()}"

    @property
    def features(self) -> tuple[str, ...]:
        """The network's raw inputs: the level inputs, then the temperature."""
        return (*self.level_inputs, "T_K")

    @property
    def columns(self) -> tuple[str, ...]:
        """The long layout of a table of the process's rates: the features, then ``k_m3_s``."""
        return (*self.features, "k_m3_s")


@dataclass(frozen=True)
class Process(_Derived):
    """A VT process: a molecule AB whose level i falls to i-1 in collisions with a partner C.

    The single-quantum VT process is kvt's first; its members are the interface every process offers.
    """

    pair: Pair
    kind: str = "vt"

    #: The table columns that say which transition a rate belongs to (one per level input).
    level_inputs: tuple[str, ...] = ("level",)
    #: The network's feature kinds (:mod:`kvt.network.features`) of study and of accurate mode.
    feature_kinds = {"study": "level_T", "accurate": "fho"}
    #: Training defaults of the process per mode, over the mode's own (kvt.training.config.MODE_DEFAULTS).
    training_defaults = {}

    @property
    def name(self) -> str:
        """What the user types and every file records: ``O2-Ar``."""
        return self.pair.name

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
    def levels(self) -> tuple[int, ...]:
        """The upper levels i of every transition i -> i-1 (1..max level of the molecule)."""
        return self.pair.levels

    @property
    def max_level(self) -> int:
        return self.pair.max_level

    @property
    def colliders(self) -> tuple:
        """Who collides, in the order of :meth:`transitions`: the molecule whose level changes, then the partner,
        a spectator whose state does not change."""
        return (self.pair.molecule, self.pair.partner)

    def transitions(self, levels) -> tuple[np.ndarray, np.ndarray]:
        """(level_from, level_to) of the de-excitation of each upper level: i -> i-1."""
        levels = np.asarray(levels, dtype=int)
        return levels, levels - 1

    def distinct(self, levels) -> np.ndarray:
        """Which of ``levels`` are distinct reactions once each is written with its reverse: every VT transition."""
        return np.ones(np.shape(levels), dtype=bool)

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


@dataclass(frozen=True)
class ExchangeProcess(_Derived):
    """VV (one molecule with itself) or VV' (two molecules): A(i) + B(j) -> A(i-1) + B(j+1), two level inputs.

    ``level_a`` is the level A leaves (1..L_A), ``level_b`` the level B leaves (0..L_B - 1); the rates follow the
    direction convention of :mod:`kvt.physics.fho_vv` (the formula where the exchange is exothermic, exact detailed
    balance where it is not).
    """

    molecule_a: Molecule
    molecule_b: Molecule
    kind: str = "vv"
    level_inputs: tuple[str, ...] = ("level_a", "level_b")
    feature_kinds = {"study": "levels_T", "accurate": "exchange"}
    #: Accurate mode's features make ln k linear (the baseline carries it): the network only learns what a table
    #: departs from the FHO VV form by, and a short training does (benchmarks/vv_accuracy.py).
    training_defaults = {"accurate": {"epochs": 200, "finish_iterations": 100}}

    @property
    def name(self) -> str:
        return f"{self.molecule_a.name}-{self.molecule_b.name}"

    @property
    def molecule(self) -> Molecule:
        """A, the molecule that gives its quantum."""
        return self.molecule_a

    @property
    def molecules(self) -> tuple[Molecule, ...]:
        return (self.molecule_a,) if self.kind == "vv" else (self.molecule_a, self.molecule_b)

    @property
    def levels(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(levels A leaves: 1..L_A, levels B leaves: 0..L_B - 1)."""
        return (tuple(range(1, self.molecule_a.max_level + 1)), tuple(range(self.molecule_b.max_level)))

    @property
    def colliders(self) -> tuple:
        """Who collides, in the order of :meth:`transitions`: A, then B (both change level)."""
        return (self.molecule_a, self.molecule_b)

    def transitions(self, level_a, level_b) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(A from, A to, B from, B to) of each exchange: A(i) -> A(i-1), B(j) -> B(j+1)."""
        i, j = (np.asarray(v, dtype=int) for v in (level_a, level_b))
        return i, i - 1, j, j + 1

    def distinct(self, level_a, level_b) -> np.ndarray:
        """Which of the level pairs (``level_a``, ``level_b``) are distinct reactions once each is written with its
        reverse (a kinetics code's reversible reaction, a master equation's net flux).

        VV' (A != B): every pair; its reverse B(j+1) + A(i-1) -> B(j) + A(i) is a pair of the B-A table. VV (one
        molecule): the reverse of (i, j) is the pair (j + 1, i - 1) of the same table, so each exchange is kept
        once, in its exothermic direction i <= j (:mod:`kvt.kinetics.molecular_gas` reads the same half; i = j
        moves two molecules of level i); i = j + 1 is a resonant swap that changes no population and is dropped;
        an endothermic pair i > j + 1 is kept only where its exothermic reverse is not among the given pairs.
        """
        i, j = (np.asarray(v, dtype=int).ravel() for v in (level_a, level_b))
        if self.molecule_a != self.molecule_b:
            return np.ones(i.shape, dtype=bool)
        given = set(zip(i.tolist(), j.tolist()))
        reverse_given = np.array([(b + 1, a - 1) in given for a, b in zip(i.tolist(), j.tolist())], dtype=bool)
        return (i <= j) | ((i > j + 1) & ~reverse_given)

    def check_levels(self, level_a, level_b) -> tuple[np.ndarray, np.ndarray]:
        return fho_vv.check_exchange_levels(self.molecule_a, self.molecule_b, level_a, level_b)

    def level_energies_K(self, n, molecule: Molecule | None = None) -> np.ndarray:
        """E(n) above level 0 of A (or of ``molecule``, one of the two), in kelvin."""
        return fho.level_energy_K(n, molecule or self.molecule_a)

    def energy_released_K(self, level_a, level_b) -> np.ndarray:
        """ΔE of each exchange into translation, in kelvin (> 0: exothermic)."""
        i, j = (np.asarray(v, dtype=float) for v in (level_a, level_b))
        return fho_vv.released_energy_K(self.molecule_a, self.molecule_b, i, i - 1.0, j, j + 1.0)

    def detailed_balance(self, level_a, level_b, temperatures) -> np.ndarray:
        """k(reverse) / k(forward) = exp(-ΔE / T) (broadcasting)."""
        return fho_vv.detailed_balance_factor(self.molecule_a, self.molecule_b, level_a, level_b, temperatures)

    def rate_coefficient(self, level_a, level_b, temperatures) -> np.ndarray:
        """k(A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1), T) in m^3/s (:mod:`kvt.physics.fho_vv`)."""
        return fho_vv.down_rate(self.molecule_a, self.molecule_b, level_a, level_b, temperatures)


#: The VV and VV' pairs kvt bundles data of (A gives the quantum).
EXCHANGE_PAIRS = {"vv": ("O2-O2", "N2-N2", "NO-NO"), "vv'": ("N2-O2", "N2-NO", "O2-NO")}


def kinds_line() -> str:
    return "; ".join(f"{kind}: {what}" + ("" if built else " (not built yet)") for kind, (what, built) in KINDS.items())


def check_kind(kind: str) -> str:
    """``kind`` in lower case if kvt computes it; else one line saying what it is and what kvt computes."""
    key = str(kind).strip().lower().replace("′", "'")  # vv′ typed with a prime
    if key not in KINDS:
        raise unknown("process", kind, KINDS, "processes")
    what, built = KINDS[key]
    if not built:
        raise KvtError(f"process {key} ({what}) is not built yet; kvt computes {', '.join(BUILT)} rates")
    return key


def resolve(pair: str | Pair | Process | ExchangeProcess, kind: str = "vt") -> Process | ExchangeProcess:
    """The process the user typed: a pair (``O2-Ar``, any case) and a kind (``vt``, ``vv``, ``vv'``); the one
    place a name becomes an object. An unknown pair or kind, or a pair the kind does not fit, is one
    ``KvtError`` line."""
    if isinstance(pair, (Process, ExchangeProcess)):
        return pair
    key = check_kind(kind)
    found = species.pair(pair)
    if key == "vt":
        return Process(found, key)
    second = species.MOLECULES.get(found.partner.name) if found.partner.is_molecule else None
    if key == "vv" and (second is None or second.name != found.molecule.name):
        raise KvtError(f"--process vv is the exchange of one molecule with itself ({', '.join(EXCHANGE_PAIRS['vv'])}),"
                       f" not {found.name}" + ("; between two molecules it is --process vv'" if second else
                                              f" ({found.partner.name} is an atom: vt only)"))
    if key == "vv'" and (second is None or second.name == found.molecule.name):
        between = ", ".join(EXCHANGE_PAIRS["vv'"])
        raise KvtError(f"--process vv' is the exchange between two molecules ({between}, either order), not "
                       f"{found.name}" + ("; of one molecule with itself it is --process vv" if second else
                                          f" ({found.partner.name} is an atom: vt only)"))
    return ExchangeProcess(found.molecule, second, key)


def check_supported(kind: str, kinds: tuple[str, ...], command: str, instead: str | None = None) -> None:
    """Nothing if ``command`` handles processes of ``kind``; else one line saying what the command takes (or
    ``instead``, what to do)."""
    if kind not in kinds:
        raise KvtError(f"{command} --process {kind} is not built yet; "
                       f"{instead or f'{command} takes --process ' + ' or '.join(kinds)}")
