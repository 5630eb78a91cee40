"""Time the vectorised FHO-FR generator on the dense grid of all 18 air pairs against a per-point loop.

Dense grid: every level of each molecule (O2 1..35, N2 1..46, NO 1..38) x every 10 K
from 250 to 20000 K (1976 temperatures), for each of the 18 molecule-partner pairs:
one ``rate_coefficient`` call per pair. The per-point loop solves each (pair, level, T)
on its own with the same bisection in plain Python floats and ``math``, as a
straightforward implementation would; it is timed on a random sample of points and
scaled to the whole grid. Both run in the same process, one after the other.

    python benchmarks/air_grid.py [--repeats 3] [--sample 3000]
"""

import argparse
import math
import os
import platform
import time

import numpy as np

from kvt.data.grid import parse_temperatures
from kvt.physics import fho, species


def scalar_rate(i: int, T: float, pair: species.Pair, p: fho.PairParameters) -> float:
    """k(i -> i-1, T) of one point, in plain Python (the per-point reference loop); ``p``: the pair's parameters."""
    mu, alpha, kB = p.reduced_mass_kg, fho.POTENTIAL_RANGE_ALPHA, fho.BOLTZMANN
    m = pair.molecule
    theta = fho.SECOND_RADIATION_CONSTANT * (m.omega_e_m - 2 * m.omega_e_xe_m * i)  # E(i) - E(i-1)
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
        if mid - math.copysign(abs(rhs) ** (1 / 3), rhs) > 0:
            hi = mid
        else:
            lo = mid
    C = 0.5 * (lo + hi)
    delta = (1 - C**3) / C**3 * b / C
    phi = 2 / math.pi * math.atan(math.sqrt(2 * fho.WELL_DEPTH_K * kB / mu) / v0)
    Z = math.pi * p.collision_radius_m**2 * math.sqrt(8 * kB * T / (math.pi * mu))
    return (Z * i * math.sqrt(2 * math.pi / (3 + delta)) * C * a * (theta_1 / T) ** (1 / 6)
            * math.exp(-(theta_1 / T) ** (1 / 3) * (C**2 / 2 + 1 / C) * (1 - phi) ** (2 / 3) - (1 - C**3)
                       + theta / (2 * T)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of the vectorised grid (best kept)")
    parser.add_argument("--sample", type=int, default=3000, help="points of the per-point loop")
    args = parser.parse_args()

    temps = parse_temperatures("250:20000:10")
    pairs = list(species.PAIRS.values())
    n_points = sum(len(p.levels) for p in pairs) * len(temps)
    load_before = os.getloadavg()

    best_vec, tables = math.inf, {}
    for _ in range(args.repeats):
        start = time.perf_counter()
        tables = {p.name: fho.rate_coefficient(np.array(p.levels)[:, None], temps[None, :], p) for p in pairs}
        best_vec = min(best_vec, time.perf_counter() - start)

    rng = np.random.default_rng(0)
    sample = []
    for _ in range(args.sample):
        p = pairs[int(rng.integers(len(pairs)))]
        sample.append((p, int(rng.integers(1, p.max_level + 1)), float(rng.choice(temps))))
    parameters = {p.name: fho.PairParameters.for_pair(p) for p in pairs}  # once per pair, as a loop would
    start = time.perf_counter()
    values = [scalar_rate(i, T, p, parameters[p.name]) for p, i, T in sample]
    loop_per_point = (time.perf_counter() - start) / len(sample)
    loop_total = loop_per_point * n_points

    check = max(abs(v / tables[p.name][i - 1, np.searchsorted(temps, T)] - 1) for v, (p, i, T) in zip(values, sample))
    finite = all(np.all(np.isfinite(t)) and np.all(t > 0) for t in tables.values())
    print(f"machine: {platform.machine()} {platform.processor() or ''} ({platform.platform()}), "
          f"{os.cpu_count()} CPUs; load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    print(f"numpy {np.__version__}, Python {platform.python_version()}")
    print(f"dense grid: 18 pairs x their levels ({', '.join(f'{m.name} {m.max_level}' for m in species.MOLECULES.values())})"
          f" x {len(temps)} temperatures (250..20000 K, step 10 K) = {n_points} points")
    print(f"vectorised numpy (18 calls): {best_vec:8.2f} s  (best of {args.repeats}; "
          f"{best_vec / n_points * 1e9:.0f} ns/point)")
    print(f"per-point loop:              {loop_total:8.2f} s  (estimated from {len(sample)} points, "
          f"{loop_per_point * 1e6:.0f} us/point)")
    print(f"speed-up: {loop_total / best_vec:.1f}x   max relative difference: {check:.1e}   "
          f"all finite and > 0: {finite}")


if __name__ == "__main__":
    main()
