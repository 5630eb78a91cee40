"""VV exchange: the generator's speed on a dense grid and the VT+VV relaxation's, side by side in one run.

    python benchmarks/vv_speed.py

1. The O2-O2 VV rates of every level pair (35 x 35) at every 10 K of 250..10000 K (976 temperatures,
   1.2 M rates) with the vectorised generator, against a per-point loop over the same formula (timed
   on a sample of 2000 points and scaled).
2. The relaxation of pure O2 and N2 with VT and VV at one temperature (heating 300 -> 2000 K and
   cooling 4000 -> 1000 K for O2), kvt's integration (LSODA with the analytic Jacobian) against
   the same equation integrated by scipy without the Jacobian (finite differences), same tolerances.
   The relaxation times are printed for both, so a faster answer is also the same answer.
Prints the machine first; the best of 3 runs of each.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np
from scipy.integrate import solve_ivp

from kvt.kinetics import heat_bath, molecular_gas
from kvt.physics import fho_vv
from kvt.physics.process import resolve


def best(function, repeats: int = 3):
    times, value = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - started)
    return min(times), value


def generator() -> None:
    p = resolve("O2-O2", "vv")
    a_levels, b_levels = p.levels
    T = np.arange(250.0, 10000.0 + 1, 10.0)
    a, b, t = (v.ravel() for v in np.meshgrid(a_levels, b_levels, T, indexing="ij"))
    vectorised, k = best(lambda: p.rate_coefficient(a, b, t))
    sample = np.random.default_rng(1).choice(len(a), 2000, replace=False)
    m = p.molecule_a

    def loop():
        return [fho_vv.exchange_rate(m, m, a[s], a[s] - 1, b[s], b[s] + 1, t[s]) for s in sample]

    looped, values = best(loop, 1)
    assert np.allclose(values, k[sample], rtol=1e-14)
    per_point = looped / len(sample) * len(a)
    print(f"generator, O2-O2 VV, {len(a):,} rates (35 x 35 level pairs x 976 temperatures): "
          f"{vectorised:.3f} s vectorised; a per-point loop ~{per_point:.0f} s (from 2000 points); "
          f"{per_point / vectorised:.0f}x")


def scipy_without_jacobian(k_vt, k_vv, T, tv0, molecule):
    """The same master equation (kvt's right-hand side) integrated with a finite-difference Jacobian."""
    gas = molecular_gas.relax(k_vt, k_vv, [T], tv0=tv0, molecule=molecule)  # for the span and the start
    energies = gas.energies_K
    exchanges = molecular_gas.Exchanges.of(len(energies) - 1)
    forward, reverse = molecular_gas.exothermic_rates(k_vv, [T], energies, exchanges)
    k_up = heat_bath.excitation_rates(k_vt[0], np.arange(1, len(energies)), T, molecule)
    equation = molecular_gas.pure_gas_equation(k_vt[0], k_up, forward[0], reverse[0], exchanges,
                                               gas.number_density[0])

    def run():
        return solve_ivp(equation.rhs, (0.0, gas.ends_s[0]), gas.x0[0], method="LSODA", rtol=molecular_gas.RTOL,
                         atol=molecular_gas.ATOL, dense_output=True)

    return run


def relaxation() -> None:
    for pair, T, tv0 in (("O2-O2", 2000.0, 300.0), ("O2-O2", 1000.0, 4000.0), ("N2-N2", 2000.0, 300.0)):
        process = resolve(pair, "vv")
        k_vt = heat_bath.fho_rates(pair, [T])
        k_vv = molecular_gas.fho_vv_rates(process, [T])
        ours, gas = best(lambda: molecular_gas.relax(k_vt, k_vv, [T], tv0=tv0, molecule=process.molecule))
        theirs, result = best(scipy_without_jacobian(k_vt, k_vv, T, tv0, process.molecule))
        tau_theirs = molecular_gas._relaxation_time(result.sol, gas.ends_s[0], gas.energies_K, gas.x0[0],
                                                    gas.x_eq[0])
        print(f"relaxation {pair} VT+VV, T {T:g} K from T_v0 {tv0:g} K: kvt {ours:.3f} s (tau {gas.tau_s[0]:.9e} s); "
              f"without the Jacobian {theirs:.3f} s (tau {tau_theirs:.9e} s); {theirs / ours:.1f}x")


if __name__ == "__main__":
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}, "
          f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    generator()
    relaxation()
