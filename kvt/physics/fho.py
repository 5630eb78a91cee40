"""FHO-FR rate coefficients of O2 vibrational-translational (VT) de-excitation.

    O2(i) + M -> O2(i-1) + M,   M = O2, O, Ar

The forced harmonic oscillator model with free rotation in its analytic, thermally
averaged form: Adamovich, Macheret, Rich & Treanor, J. Thermophys. Heat Transfer
12(1), 1998; Adamovich & Rich, J. Chem. Phys. 109, 1998. The constants below,
documented with their provenance in docs/physics.md, reproduce the SPbU group's
published tables.

The public entry point is :func:`rate_coefficient`, vectorised over levels and
temperatures (numpy broadcasting); the only iterative part, the equation for the
FHO parameter C, is solved by bisection on all points at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kvt.errors import KvtError

# Physical constants (SI), as fixed by the specification.
BOLTZMANN = 1.3807e-23  # J/K
PLANCK = 6.6261e-34  # J s
HBAR = PLANCK / (2.0 * np.pi)
AVOGADRO = 6.0221e23  # 1/mol
SECOND_RADIATION_CONSTANT = 1.4388e-2  # m K

# O2 spectroscopic constants (m^-1).
O2_OMEGA_E = 158019.0
O2_OMEGA_E_XE = 1198.0
O2_MAX_LEVEL = 35  # levels 0..35 are bound

# Pair parameters shared by every partner.
POTENTIAL_RANGE_ALPHA = 4e10  # m^-1
WELL_DEPTH_K = 200.0  # K (D / k)


@dataclass(frozen=True)
class Species:
    name: str
    molar_mass_g_mol: float
    collision_diameter_m: float  # R0
    is_molecule: bool

    @property
    def mass_kg(self) -> float:
        return self.molar_mass_g_mol * 1e-3 / AVOGADRO


SPECIES = {
    "O2": Species("O2", 32.0, 3.458e-10, True),
    "O": Species("O", 16.0, 2.75e-10, False),
    "Ar": Species("Ar", 39.948, 3.33e-10, False),
}

#: Bundled collision pairs, by name, and their partner species.
PAIRS = {"O2-O2": "O2", "O2-O": "O", "O2-Ar": "Ar"}


def pair_partner(pair: str) -> Species:
    """The collision partner of a pair name such as ``"O2-Ar"``."""
    try:
        return SPECIES[PAIRS[pair]]
    except KeyError:
        raise KvtError(f"unknown pair '{pair}'; valid pairs: {', '.join(PAIRS)}") from None


def level_energy_K(n) -> np.ndarray:
    """Energy of O2 vibrational level n above level 0, in kelvin (anharmonic oscillator)."""
    n = np.asarray(n, dtype=float)
    theta_e = SECOND_RADIATION_CONSTANT * O2_OMEGA_E
    theta_x = SECOND_RADIATION_CONSTANT * O2_OMEGA_E_XE
    return theta_e * n - theta_x * n * (n + 1.0)


@dataclass(frozen=True)
class PairParameters:
    """Mass-dependent quantities of the O2 + partner collision."""

    reduced_mass_kg: float
    steric_factor: float  # S, free rotation
    nu: float  # 1 for a molecular partner, 0 for an atom
    collision_radius_m: float

    @classmethod
    def for_partner(cls, partner: Species) -> "PairParameters":
        o2 = SPECIES["O2"]
        m_a = m_b = o2.mass_kg / 2.0
        m_c = partner.mass_kg
        total = m_a + m_b + m_c
        mass_factor = m_a * m_c / (m_b * total)
        return cls(
            reduced_mass_kg=(m_a + m_b) * m_c / total,
            steric_factor=2.0 * mass_factor / (1.0 + mass_factor) ** 2,
            nu=1.0 if partner.is_molecule else 0.0,
            collision_radius_m=(o2.collision_diameter_m + partner.collision_diameter_m) / 2.0,
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


def check_levels(levels) -> np.ndarray:
    levels = np.asarray(levels)
    as_float = levels.astype(float)
    if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
        raise KvtError(f"levels must be integers 1..{O2_MAX_LEVEL}")
    bad = (as_float < 1) | (as_float > O2_MAX_LEVEL)
    if np.any(bad):
        first = as_float[bad].flat[0]
        raise KvtError(f"level {first:g} is out of range; allowed levels are 1..{O2_MAX_LEVEL}")
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


def transition_energy_K(levels) -> np.ndarray:
    """Quantum E(i) - E(i-1) of the transition i -> i-1, in kelvin."""
    i = np.asarray(levels, dtype=float)
    return level_energy_K(i) - level_energy_K(i - 1.0)


def detailed_balance_factor(levels, temperatures) -> np.ndarray:
    """k(i-1 -> i, T) / k(i -> i-1, T) = exp(-(E(i) - E(i-1)) / T) (broadcasting)."""
    return np.exp(-transition_energy_K(levels) / np.asarray(temperatures, dtype=float))


def rate_coefficient(levels, temperatures, partner: str | Species) -> np.ndarray:
    """FHO-FR rate coefficient k_VT(i -> i-1, T) in m^3/s.

    Args:
      levels: upper level(s) i of the transition, integers 1..35 (array-like).
      temperatures: translational temperature(s) in K, within 250..20000 (array-like).
      partner: collision partner, a species name ("O2", "O", "Ar") or ``Species``.

    ``levels`` and ``temperatures`` broadcast against each other, so
    ``rate_coefficient(levels[:, None], temps[None, :], "Ar")`` gives a level x T table.
    """
    if isinstance(partner, str):
        if partner not in SPECIES:
            raise KvtError(f"unknown partner '{partner}'; valid partners: {', '.join(SPECIES)}")
        partner = SPECIES[partner]
    i = check_levels(levels)
    T = check_temperatures(temperatures)
    i, T = np.broadcast_arrays(i, T)
    p = PairParameters.for_partner(partner)
    mu, alpha, kB = p.reduced_mass_kg, POTENTIAL_RANGE_ALPHA, BOLTZMANN

    theta = transition_energy_K(i)
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
