"""Time the vectorised FHO-FR generator on the dense grid against a per-point scalar loop.

Dense grid: levels 1..35 x every 10 K from 250 to 10000 K (976 temperatures), for
each of the three partners (102,480 rate coefficients). The scalar loop solves each
point on its own with the same bisection (plain Python floats and math), as a
straightforward implementation would; it is timed on a subsample and scaled up.

    python benchmarks/fho_grid.py
"""

import math
import platform
import time

import numpy as np

from kvt.physics import fho
from kvt.data.grid import parse_temperatures


def scalar_rate(i: int, T: float, partner: fho.Species) -> float:
    p = fho.PairParameters.for_partner(partner)
    mu, alpha, kB = p.reduced_mass_kg, fho.POTENTIAL_RANGE_ALPHA, fho.BOLTZMANN
    theta = float(fho.level_energy_K(i) - fho.level_energy_K(i - 1))
    omega = theta * kB / fho.HBAR
    theta_1 = 4 * math.pi**2 * omega**2 * mu / (alpha**2 * kB)
    v0 = (2 * math.pi * omega * kB * T / (alpha * mu)) ** (1 / 3)
    a = p.steric_factor * theta_1 / theta
    c1, c2 = (p.nu + i) * a, (i * a / 2) ** 2
    b = 2 * math.pi * omega / (alpha * v0)
    lo, hi = 0.0, 2.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        rhs = 1 - c1 * math.exp(-b / mid) - c2 * math.exp(-2 * b / mid)
        cbrt = math.copysign(abs(rhs) ** (1 / 3), rhs)
        if mid - cbrt > 0:
            hi = mid
        else:
            lo = mid
    C = 0.5 * (lo + hi)
    delta = (1 - C**3) / C**3 * b / C
    phi = 2 / math.pi * math.atan(math.sqrt(2 * fho.WELL_DEPTH_K * kB / mu) / v0)
    Z = math.pi * p.collision_radius_m**2 * math.sqrt(8 * kB * T / (math.pi * mu))
    return (Z * i * math.sqrt(2 * math.pi / (3 + delta)) * C * a * (theta_1 / T) ** (1 / 6)
            * math.exp(-(theta_1 / T) ** (1 / 3) * (C**2 / 2 + 1 / C) * (1 - phi) ** (2 / 3) - (1 - C**3))
            * math.exp(theta / (2 * T)))


def main():
    levels = np.arange(1, 36)
    temps = parse_temperatures("250:10000:10")
    partners = [fho.SPECIES[s] for s in ("O2", "O", "Ar")]
    n_points = len(levels) * len(temps) * len(partners)

    best_vec = math.inf
    for _ in range(5):
        start = time.perf_counter()
        tables = [fho.rate_coefficient(levels[:, None], temps[None, :], p) for p in partners]
        best_vec = min(best_vec, time.perf_counter() - start)

    rng = np.random.default_rng(0)
    sample = [(int(rng.integers(1, 36)), float(rng.choice(temps)), int(rng.integers(0, 3))) for _ in range(3000)]
    start = time.perf_counter()
    values = [scalar_rate(i, T, partners[j]) for i, T, j in sample]
    loop_per_point = (time.perf_counter() - start) / len(sample)
    loop_total = loop_per_point * n_points

    check = max(abs(v / tables[j][i - 1, np.searchsorted(temps, T)] - 1) for v, (i, T, j) in zip(values, sample))
    print(f"machine: {platform.machine()} {platform.processor() or ''} ({platform.platform()})")
    print(f"dense grid: 35 levels x {len(temps)} temperatures x 3 partners = {n_points} points")
    print(f"vectorised numpy: {best_vec * 1e3:8.1f} ms  (best of 5)")
    print(f"scalar loop:      {loop_total * 1e3:8.1f} ms  (estimated from {len(sample)} points)")
    print(f"speed-up: {loop_total / best_vec:.1f}x   max relative difference: {check:.1e}")


if __name__ == "__main__":
    main()
