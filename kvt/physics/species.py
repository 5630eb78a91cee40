"""The species of air kvt computes VT rates for, as data: molecules, partners and their pairs.

A *pair* ``MOLECULE-PARTNER`` (``N2-N``, ``NO-O2``) is the vibrating molecule AB whose
level i falls to i-1 and the collision partner C. Every pair is derived from the two
tables below (3 molecules x 6 partners = 18 pairs); nothing else in kvt spells out
per-species numbers.

Where the constants come from: ω_e and ω_e x_e are the molecules' ground-state
spectroscopic constants (m^-1) as used by the St Petersburg State University (SPbU)
group's state-to-state tables; R0 is the Lennard-Jones diameter of the SPbU codes for
N2, O2, NO, O and N and the hard-sphere diameter of the KAPPA particle database for Ar;
the highest level is the top of each molecule's ladder in those tables; θ_v of the
Millikan-White correlation is the characteristic vibrational temperature tabulated with it
(Millikan & White, J. Chem. Phys. 39, 1963: O2 2270 K, N2 3395 K, NO 2739 K). Masses are
whole atomic masses in g/mol (Ar 39.948). With these constants the FHO-FR formulas of
:mod:`kvt.physics.fho` reproduce the group's published O2 and N2 tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvt.errors import KvtError, did_you_mean, unknown
from kvt.physics.constants import AVOGADRO


@dataclass(frozen=True)
class Molecule:
    """A diatomic molecule AB that vibrates: its ladder and its atoms (A first)."""

    name: str
    omega_e_m: float  # ω_e, m^-1
    omega_e_xe_m: float  # ω_e x_e, m^-1
    atom_masses_g_mol: tuple[float, float]  # (m_A, m_B); the order matters when A != B
    collision_diameter_m: float  # R0
    max_level: int  # levels 0..max_level are bound; transitions i -> i-1 for i = 1..max_level
    millikan_white_theta_v_K: float  # θ_v of the Millikan-White correlation, K (tabulated with it)
    agreement: str = ""  # how the FHO-FR rates with these constants compare with published tables

    @property
    def molar_mass_g_mol(self) -> float:
        return self.atom_masses_g_mol[0] + self.atom_masses_g_mol[1]

    @property
    def atom_masses_kg(self) -> tuple[float, float]:
        return tuple(m * 1e-3 / AVOGADRO for m in self.atom_masses_g_mol)

    @property
    def levels(self) -> tuple[int, ...]:
        """Upper levels i of the transitions i -> i-1: 1..max_level."""
        return tuple(range(1, self.max_level + 1))


@dataclass(frozen=True)
class Partner:
    """A collision partner C: its mass, R0 and whether it is a molecule (ν = 1) or an atom (ν = 0)."""

    name: str
    molar_mass_g_mol: float
    collision_diameter_m: float  # R0
    is_molecule: bool
    diameter_source: str = "Lennard-Jones diameter of the SPbU state-to-state codes"

    @property
    def mass_kg(self) -> float:
        return self.molar_mass_g_mol * 1e-3 / AVOGADRO


#: The molecules. For NO, atom A is N (the order enters the mass factor m~ of the FHO-FR model).
MOLECULES = {m.name: m for m in (
    Molecule("O2", 158019.0, 1198.0, (16.0, 16.0), 3.458e-10, 35, 2270.0,
             "reproduces the SPbU group's published O2-O2 and O2-O tables to ~1e-14"),
    Molecule("N2", 235857.0, 1432.0, (14.0, 14.0), 3.621e-10, 46, 3395.0,
             "reproduces the SPbU group's published N2 tables to ~1e-14"),
    Molecule("NO", 190420.0, 1407.5, (14.0, 16.0), 3.47e-10, 38, 2739.0,
             "the SPbU group's public NO tables lie a constant 2.1e-4 (relative) above these values, "
             "a factor of unknown origin in their collision rate"),
)}

#: The atoms that collide (none of them vibrates).
ATOMS = {a.name: a for a in (
    Partner("O", 16.0, 2.75e-10, False),
    Partner("N", 14.0, 3.298e-10, False),
    Partner("Ar", 39.948, 3.33e-10, False, "hard-sphere diameter of the KAPPA particle database"),
)}

#: Every partner: each molecule (its whole mass, its R0) and each atom.
PARTNERS = {
    **{m.name: Partner(m.name, m.molar_mass_g_mol, m.collision_diameter_m, True) for m in MOLECULES.values()},
    **ATOMS,
}


@dataclass(frozen=True)
class Pair:
    """A molecule-partner pair such as ``N2-N``: the molecule's levels i -> i-1 in collisions with the partner."""

    name: str
    molecule: Molecule
    partner: Partner

    @property
    def max_level(self) -> int:
        return self.molecule.max_level

    @property
    def levels(self) -> tuple[int, ...]:
        return self.molecule.levels


#: All 18 pairs, molecule-major (O2-O2, O2-N2, ..., NO-Ar).
PAIRS = {f"{m}-{p}": Pair(f"{m}-{p}", MOLECULES[m], PARTNERS[p]) for m in MOLECULES for p in PARTNERS}

#: The pairs of the original O2 study, whose datasets kvt bundled first.
STUDY_PAIRS = ("O2-O2", "O2-O", "O2-Ar")


def _names(table) -> str:
    return ", ".join(table)


def _spelled(table, name: str):
    """The key of ``table`` that ``name`` spells in any case (species names differ by more than case), else None."""
    folded = {key.lower(): key for key in table}
    return folded.get(str(name).lower())


def molecule(name: str | Molecule | Pair) -> Molecule:
    """The molecule named ``name`` (any case), or the molecule of a pair (a ``Pair`` or its name); an error lists the
    molecules."""
    if isinstance(name, Molecule):
        return name
    if isinstance(name, Pair):
        return name.molecule
    if _spelled(MOLECULES, name):
        return MOLECULES[_spelled(MOLECULES, name)]
    if "-" in str(name):
        return pair(name).molecule
    raise unknown("molecule", name, MOLECULES, "molecules")


def pair(name: str | Pair) -> Pair:
    """The pair ``MOLECULE-PARTNER`` named ``name`` (any case: ``o2-ar`` is O2-Ar); an error says what is wrong and
    lists what exists."""
    if isinstance(name, Pair):
        return name
    text = str(name)
    if text in PAIRS:
        return PAIRS[text]
    parts = text.split("-")
    if len(parts) != 2 or not all(parts):
        raise KvtError(f"'{text}' is not a pair; give MOLECULE-PARTNER, e.g. N2-N2; "
                       f"molecules: {_names(MOLECULES)}; partners: {_names(PARTNERS)}")
    first, second = (part.strip() for part in parts)
    found_molecule, found_partner = _spelled(MOLECULES, first), _spelled(PARTNERS, second)
    if found_molecule and found_partner:
        return PAIRS[f"{found_molecule}-{found_partner}"]
    if not found_molecule:
        hint = (" (the molecule comes first)" if _spelled(PARTNERS, first) and _spelled(MOLECULES, second)
                else did_you_mean(first, MOLECULES))
        raise KvtError(f"unknown molecule '{first}' in pair '{text}'{hint}; molecules: {_names(MOLECULES)}")
    raise KvtError(f"unknown partner '{second}' in pair '{text}'{did_you_mean(second, PARTNERS)}; "
                   f"partners: {_names(PARTNERS)}")