"""FHO rate coefficients of vibrational-vibrational (VV) exchange, with the resonance-defect factor.

    A(i1) + B(i2) -> A(f1) + B(f2),   |i1 - f1| = |i2 - f2| = 1;   A = B (VV) or A != B (VV')

The forced-harmonic-oscillator form for single-quantum exchange (Adamovich, Macheret, Rich &
Treanor, J. Thermophys. Heat Transfer 12(1), 1998) with an analytic factor G for the
resonance defect, as the SPbU state-to-state codes use it; docs/physics.md gives the
formulas and their provenance. The two molecules collide whole, so only their molar
masses, their collision diameters R0 and their level energies (those of the VT model,
:func:`kvt.physics.fho.level_energy_K`) enter.

The formula is symmetric: it gives the same number for an exchange and its reverse. It
is the rate of the **exothermic** direction (the energy ΔE = d1 + d2 the exchange releases
into translation is > 0); the reverse follows by exact detailed balance,
k(reverse) = k(forward) exp(-ΔE / T). :func:`exchange_rate` applies this convention to any
exchange, so a table made with it satisfies detailed balance exactly and relaxes to Boltzmann.
"""

from __future__ import annotations

import numpy as np

from kvt.physics.constants import AVOGADRO, BOLTZMANN, PLANCK, POTENTIAL_RANGE_ALPHA
from kvt.physics.fho import check_temperatures, level_energy_K
from kvt.physics.species import Molecule

HBAR = PLANCK / (2.0 * np.pi)
#: Steric factor of VV exchange.
STERIC_FACTOR_VV = 1.0 / 16.0


def reduced_mass_kg(a: Molecule, b: Molecule) -> float:
    """μ = m_A m_B / (m_A + m_B) of the two whole molecules."""
    m_a, m_b = (m.molar_mass_g_mol * 1e-3 / AVOGADRO for m in (a, b))
    return m_a * m_b / (m_a + m_b)


def released_energy_K(a: Molecule, b: Molecule, i1, f1, i2, f2) -> np.ndarray:
    """ΔE = (E_A(i1) - E_A(f1)) + (E_B(i2) - E_B(f2)) in kelvin: > 0 for an exothermic exchange."""
    return (level_energy_K(i1, a) - level_energy_K(f1, a)) + (level_energy_K(i2, b) - level_energy_K(f2, b))


def symmetric_rate(a: Molecule, b: Molecule, i1, f1, i2, f2, temperatures) -> np.ndarray:
    """The FHO formula k(A(i1) + B(i2) -> A(f1) + B(f2), T) in m^3/s, the same for an exchange and its reverse.

    k = Z n1 n2 P / (1 + n1 n2 P)^2 G, with Z = π R^2 sqrt(8 k T / (π μ)), n1, n2 the upper levels,
    Θ = (|d1| + |d2|) / 2, Ω = Θ k / ħ, P = S α^2 k T / (2 Ω^2 μ),
    λ = (2/3) sqrt(4 π^2 μ Ω^2 / (α^2 k T)) |ΔE| / (Θ sqrt 8), G = (3 - e^(-2λ/3)) e^(-2λ/3) / 2.
    Every argument broadcasts (numpy); levels are not checked here (see :func:`exchange_rate`).
    """
    T = check_temperatures(temperatures)
    i1, f1, i2, f2 = (np.asarray(v, dtype=float) for v in (i1, f1, i2, f2))
    mu = reduced_mass_kg(a, b)
    kB, alpha = BOLTZMANN, POTENTIAL_RANGE_ALPHA
    radius = (a.collision_diameter_m + b.collision_diameter_m) / 2.0
    collision_rate = np.pi * radius**2 * np.sqrt(8.0 * kB * T / (np.pi * mu))
    n1, n2 = np.maximum(i1, f1), np.maximum(i2, f2)
    d1 = level_energy_K(i1, a) - level_energy_K(f1, a)
    d2 = level_energy_K(i2, b) - level_energy_K(f2, b)
    theta = (np.abs(d1) + np.abs(d2)) / 2.0
    omega = theta * kB / HBAR
    p = STERIC_FACTOR_VV * alpha**2 * kB * T / (2.0 * omega**2 * mu)
    lam = (2.0 / 3.0) * np.sqrt(4.0 * np.pi**2 * mu * omega**2 / (alpha**2 * kB * T)) * np.abs(d1 + d2) \
        / (theta * np.sqrt(8.0))
    g = 0.5 * (3.0 - np.exp(-2.0 * lam / 3.0)) * np.exp(-2.0 * lam / 3.0)
    nnp = n1 * n2 * p
    return collision_rate * nnp / (1.0 + nnp) ** 2 * g


def exchange_rate(a: Molecule, b: Molecule, i1, f1, i2, f2, temperatures) -> np.ndarray:
    """k(A(i1) + B(i2) -> A(f1) + B(f2), T) in m^3/s: the formula in the exothermic direction (ΔE >= 0), the formula
    times exp(ΔE / T) in the endothermic one (exact detailed balance with its reverse)."""
    T = check_temperatures(temperatures)
    released = released_energy_K(a, b, i1, f1, i2, f2)
    return symmetric_rate(a, b, i1, f1, i2, f2, T) * np.exp(np.minimum(released, 0.0) / T)


def check_exchange_levels(a: Molecule, b: Molecule, level_a, level_b) -> tuple[np.ndarray, np.ndarray]:
    """``level_a`` (1..L_A, the level A leaves) and ``level_b`` (0..L_B - 1, the level B leaves) as floats; one
    ``KvtError`` line names the first level outside its ladder."""
    from kvt.errors import KvtError

    checked = []
    for name, levels, lo, hi, molecule in (("level_a", level_a, 1, a.max_level, a),
                                           ("level_b", level_b, 0, b.max_level - 1, b)):
        values = np.asarray(levels, dtype=float)
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise KvtError(f"{name} must be integers {lo}..{hi} ({molecule.name})")
        bad = (values < lo) | (values > hi)
        if np.any(bad):
            raise KvtError(f"{name} {values[bad].flat[0]:g} is out of range; {molecule.name} {name} is {lo}..{hi} "
                           f"(A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1))")
        checked.append(values)
    return checked[0], checked[1]


def down_rate(a: Molecule, b: Molecule, level_a, level_b, temperatures) -> np.ndarray:
    """k(A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1), T) in m^3/s (broadcasting; levels checked)."""
    i, j = check_exchange_levels(a, b, level_a, level_b)
    return exchange_rate(a, b, i, i - 1.0, j, j + 1.0, temperatures)


def detailed_balance_factor(a: Molecule, b: Molecule, level_a, level_b, temperatures) -> np.ndarray:
    """k(up) / k(down) = exp(-ΔE / T) of the exchange A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1),
    up being its reverse A(level_a - 1) + B(level_b + 1) -> A(level_a) + B(level_b)."""
    i, j = (np.asarray(v, dtype=float) for v in (level_a, level_b))
    return np.exp(-released_energy_K(a, b, i, i - 1.0, j, j + 1.0) / np.asarray(temperatures, dtype=float))
