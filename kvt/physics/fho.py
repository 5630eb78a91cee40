"""FHO-FR rate coefficients of vibrational-translational (VT) de-excitation.

    AB(i) + C -> AB(i-1) + C,   AB = O2, N2, NO;   C = O2, N2, NO, O, N, Ar

The forced harmonic oscillator model with free rotation in its analytic, thermally
averaged form: Adamovich, Macheret, Rich & Treanor, J. Thermophys. Heat Transfer
12(1), 1998; Adamovich & Rich, J. Chem. Phys. 109, 1998. The constants
(:mod:`kvt.physics.constants`) and the species (:mod:`kvt.physics.species`) are those
that reproduce the SPbU group's published tables; docs/physics.md
documents them with their provenance.

The public entry point is :func:`rate_coefficient`, vectorised over levels and
temperatures (numpy broadcasting); the only iterative part, the equation for the
FHO parameter C, is solved by bisection on all points at once. It takes a pair
(``"N2-N"`` or a :class:`~kvt.physics.species.Pair`) or, as kvt's O2 code always has,
a partner of O2 (``"Ar"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kvt.errors import KvtError, unknown
from kvt.physics import species as _species
from kvt.physics.constants import (  # noqa: F401  (re-exported: kvt's callers read them from here)
    AVOGADRO, BOLTZMANN, PLANCK, POTENTIAL_RANGE_ALPHA, SECOND_RADIATION_CONSTANT, WELL_DEPTH_K,
)
from kvt.physics.species import Molecule, Pair

HBAR = PLANCK / (2.0 * np.pi)

_O2 = _species.MOLECULES["O2"]
# O2 spectroscopic constants (m^-1), the names kvt's O2 code uses.
O2_OMEGA_E = _O2.omega_e_m
O2_OMEGA_E_XE = _O2.omega_e_xe_m
O2_MAX_LEVEL = _O2.max_level  # levels 0..35 are bound

#: A collision partner (name, molar mass, R0, molecule or atom).
Species = _species.Partner

#: The partners of O2 in the study's pairs, by name.
SPECIES = {name.split("-")[1]: _species.PAIRS[name].partner for name in _species.STUDY_PAIRS}

#: The study's (bundled) collision pairs of O2, by name, and their partner species.
PAIRS = {name: _species.PAIRS[name].partner.name for name in _species.STUDY_PAIRS}


def pair_partner(pair: str) -> Species:
    """The collision partner of one of the study's O2 pairs, such as ``"O2-Ar"``.

    Only the study's pairs: callers pair the partner with O2. For any of the 18 pairs use
    :func:`kvt.physics.species.pair`.
    """
    try:
        return SPECIES[PAIRS[pair]]
    except KeyError:
        raise unknown("pair", pair, PAIRS) from None


def level_energy_K(n, molecule: str | Molecule | Pair = "O2") -> np.ndarray:
    """Energy of vibrational level n of ``molecule`` (default O2) above level 0, in kelvin.

    Anharmonic oscillator: E(n) = θ_e n - θ_x n (n + 1), θ_e = c2 ω_e, θ_x = c2 ω_e x_e.
    """
    m = _species.molecule(molecule)
    n = np.asarray(n, dtype=float)
    theta_e = SECOND_RADIATION_CONSTANT * m.omega_e_m
    theta_x = SECOND_RADIATION_CONSTANT * m.omega_e_xe_m
    return theta_e * n - theta_x * n * (n + 1.0)


@dataclass(frozen=True)
class PairParameters:
    """Mass-dependent quantities of the collision of a molecule AB with a partner C."""

    reduced_mass_kg: float  # μ = (m_A + m_B) m_C / (m_A + m_B + m_C)
    steric_factor: float  # S = 2 m~ / (1 + m~)^2, free rotation
    nu: float  # 1 for a molecular partner, 0 for an atom
    collision_radius_m: float  # R = (R0(AB) + R0(C)) / 2
    mass_factor: float = float("nan")  # m~ = m_A m_C / (m_B (m_A + m_B + m_C))

    @classmethod
    def for_pair(cls, pair: str | Pair) -> "PairParameters":
        """The parameters of a pair (``"NO-O"`` or a ``Pair``)."""
        p = _species.pair(pair)
        return cls.of(p.molecule, p.partner)

    @classmethod
    def for_partner(cls, partner: Species) -> "PairParameters":
        """The parameters of O2 colliding with ``partner``."""
        return cls.of(_O2, partner)

    @classmethod
    def of(cls, molecule: Molecule, partner: Species) -> "PairParameters":
        m_a, m_b = molecule.atom_masses_kg
        m_c = partner.mass_kg
        total = m_a + m_b + m_c
        mass_factor = m_a * m_c / (m_b * total)
        return cls(
            reduced_mass_kg=(m_a + m_b) * m_c / total,
            steric_factor=2.0 * mass_factor / (1.0 + mass_factor) ** 2,
            nu=1.0 if partner.is_molecule else 0.0,
            collision_radius_m=(molecule.collision_diameter_m + partner.collision_diameter_m) / 2.0,
            mass_factor=mass_factor,
        )


def _solve_c(c1, c2, b, iterations: int = 80):
    """Root in (0, 2) of C = cbrt(1 - c1 exp(-b/C) - c2 exp(-2b/C)), by bisection.

    f(C) = C - cbrt(...) is negative as C -> 0+ (the exponentials vanish, the cube
    root tends to 1) and positive at C = 2 (the cube root is at most 1), so the
    bracket always holds. 80 halvings of the width 2 reach double precision.
    """
    lo = np.zeros(np.shape(b))
    hi = np.full(np.shape(b), 2.0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        f = mid - np.cbrt(1.0 - c1 * np.exp(-b / mid) - c2 * np.exp(-2.0 * b / mid))
        above = f > 0.0
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)


def check_levels(levels, molecule: str | Molecule | Pair | None = None) -> np.ndarray:
    """Upper levels i of transitions i -> i-1 as floats, checked against the molecule's range.

    Without ``molecule``, O2's range with kvt's original wording ("allowed levels are
    1..35"); with one (a molecule, a pair or either's name), the molecule is named
    ("level 47 is out of range; N2 levels are 1..46").
    """
    m = _O2 if molecule is None else _species.molecule(molecule)
    top = m.max_level
    allowed = f"allowed levels are 1..{top}" if molecule is None else f"{m.name} levels are 1..{top}"
    as_float = np.asarray(levels).astype(float)
    if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
        raise KvtError(f"levels must be integers 1..{top}" if molecule is None
                       else f"levels must be integers; {allowed}")
    bad = (as_float < 1) | (as_float > top)
    if np.any(bad):
        first = as_float[bad].flat[0]
        raise KvtError(f"level {first:g} is out of range; {allowed}")
    return as_float


#: Temperatures (K) where the FHO-FR equation for C is known to have exactly one root in (0, 2).
#: Outside, nothing is known (at 10 K the O2-O2 formula gives k of order 1 m^3/s, at 1 K it overflows).
T_MIN_K, T_MAX_K = 250.0, 20000.0


def check_temperatures(temperatures) -> np.ndarray:
    temperatures = np.asarray(temperatures, dtype=float)
    bad = ~np.isfinite(temperatures) | (temperatures < T_MIN_K) | (temperatures > T_MAX_K)
    if np.any(bad):
        raise KvtError(f"temperature {temperatures[bad].flat[0]:g} K is outside {T_MIN_K:g}..{T_MAX_K:g} K, "
                       f"where the FHO-FR model is defined")
    return temperatures


def transition_energy_K(levels, molecule: str | Molecule | Pair = "O2") -> np.ndarray:
    """Quantum E(i) - E(i-1) of the transition i -> i-1 of ``molecule`` (default O2), in kelvin."""
    i = np.asarray(levels, dtype=float)
    return level_energy_K(i, molecule) - level_energy_K(i - 1.0, molecule)


def detailed_balance_factor(levels, temperatures, molecule: str | Molecule | Pair = "O2") -> np.ndarray:
    """k(i-1 -> i, T) / k(i -> i-1, T) = exp(-(E(i) - E(i-1)) / T) of ``molecule`` (default O2; broadcasting)."""
    return np.exp(-transition_energy_K(levels, molecule) / np.asarray(temperatures, dtype=float))


def _resolve(pair_or_partner) -> tuple[Molecule, Species, bool]:
    """(molecule, partner, legacy) of a pair (name with '-' or ``Pair``) or an O2 partner (name or ``Species``)."""
    if isinstance(pair_or_partner, Pair):
        return pair_or_partner.molecule, pair_or_partner.partner, False
    if isinstance(pair_or_partner, Species):
        return _O2, pair_or_partner, True
    if "-" in str(pair_or_partner):
        p = _species.pair(pair_or_partner)
        return p.molecule, p.partner, False
    if pair_or_partner not in SPECIES:
        raise unknown("partner", pair_or_partner, SPECIES)
    return _O2, SPECIES[pair_or_partner], True


def rate_coefficient(levels, temperatures, pair: str | Pair | Species) -> np.ndarray:
    """FHO-FR rate coefficient k_VT(i -> i-1, T) in m^3/s.

    Args:
      levels: upper level(s) i of the transition, integers 1..max level of the molecule (array-like).
      temperatures: translational temperature(s) in K, within 250..20000 (array-like).
      pair: a pair ``MOLECULE-PARTNER`` ("N2-N", "NO-O2") or ``Pair``; or, for O2, the
        partner alone as a name of the study's partners ("O2", "O", "Ar") or a ``Species``.

    ``levels`` and ``temperatures`` broadcast against each other, so
    ``rate_coefficient(levels[:, None], temps[None, :], "N2-Ar")`` gives a level x T table.
    """
    molecule, partner, legacy = _resolve(pair)
    i = check_levels(levels, None if legacy else molecule)
    T = check_temperatures(temperatures)
    i, T = np.broadcast_arrays(i, T)
    p = PairParameters.of(molecule, partner)
    mu, alpha, kB = p.reduced_mass_kg, POTENTIAL_RANGE_ALPHA, BOLTZMANN

    theta = transition_energy_K(i, molecule)
    omega = theta * kB / HBAR
    theta_1 = 4.0 * np.pi**2 * omega**2 * mu / (alpha**2 * kB)
    v0 = np.cbrt(2.0 * np.pi * omega * kB * T / (alpha * mu))
    a = p.steric_factor * theta_1 / theta
    c1 = (p.nu + i) * a
    c2 = (i * a / 2.0) ** 2
    b = 2.0 * np.pi * omega / (alpha * v0)

    C = _solve_c(c1, c2, b)
    C3 = C**3
    delta = (1.0 - C3) / C3 * b / C
    phi = (2.0 / np.pi) * np.arctan(np.sqrt(2.0 * WELL_DEPTH_K * kB / mu) / v0)
    collision_rate = np.pi * p.collision_radius_m**2 * np.sqrt(8.0 * kB * T / (np.pi * mu))
    ratio = theta_1 / T
    # One exponential for the adiabatic and the detailed-balance factors: their product is
    # representable at every T of the valid range even where each factor alone is extreme.
    exponent = -np.cbrt(ratio) * (C**2 / 2.0 + 1.0 / C) * (1.0 - phi) ** (2.0 / 3.0) - (1.0 - C3) \
        + theta / (2.0 * T)
    return collision_rate * i * np.sqrt(2.0 * np.pi / (3.0 + delta)) * C * a * ratio ** (1.0 / 6.0) * np.exp(exponent)
