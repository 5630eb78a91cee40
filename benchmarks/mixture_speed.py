"""Air (N2:0.79, O2:0.21 at 1 atm): the VT + VV + VV' relaxation's speed and what VV and VV' do to each τ.

    python benchmarks/mixture_speed.py

1. One temperature of the mixture (heating 300 -> 2000 K and cooling 4000 -> 1000 K), kvt's integration (LSODA with
   the analytic Jacobian, kvt.kinetics.mixture) against the same equation integrated by scipy's LSODA without the
   Jacobian (finite differences), same tolerances; τ of each molecule printed for both, so a faster answer is also
   the same answer. Best of 3 (1 without the Jacobian).
2. τ of N2 and of O2 in the mixture with VT alone, VT + VV of each, and VT + VV + VV' (the full equation), and pure
   N2 and pure O2 (VT + VV) beside them.
Prints the machine first.
"""

from __future__ import annotations

import os
import platform

import numpy as np
from scipy.integrate import solve_ivp

from kvt.kinetics import heat_bath, mixture, molecular_gas
from kvt.physics.process import resolve
from vv_speed import best  # the script next to this one (best of n runs)

AIR = "N2:0.79,O2:0.21"
CASES = ((2000.0, 300.0), (1000.0, 4000.0))


def without_jacobian(rates, T, gas):
    """The same master equation (kvt's right-hand side) integrated with a finite-difference Jacobian; τ as kvt finds
    it, on that solution."""
    equation = mixture.master_equation(AIR, rates, [T])(0)
    x0 = np.concatenate([one.x0[0] for one in gas.molecules.values()])
    x_eq = np.concatenate([one.x_eq[0] for one in gas.molecules.values()])
    end = gas.ends_s[0]

    def run():
        result = solve_ivp(equation.rhs, (0.0, end), x0, method="LSODA", rtol=molecular_gas.RTOL,
                           atol=molecular_gas.ATOL, dense_output=True)
        taus = {}
        for name, block in zip(gas.mixture.names, gas.mixture.blocks):
            row = np.zeros(len(x0))
            row[block] = gas.molecules[name].energies_K
            taus[name] = molecular_gas._relaxation_time(result.sol, end, row, x0, x_eq)
        return taus

    return run


def speed() -> None:
    for T, tv0 in CASES:
        rates = mixture.generator_rates(AIR, [T])
        ours, gas = best(lambda: mixture.relax(AIR, rates, [T], tv0=tv0))
        theirs, taus = best(without_jacobian(rates, T, gas), 1)
        shown = ", ".join(f"tau_{n} {gas.tau_s[n][0]:.9e} s" for n in gas.mixture.names)
        shown_theirs = ", ".join(f"tau_{n} {taus[n]:.9e} s" for n in gas.mixture.names)
        print(f"relaxation of air ({AIR}) VT+VV+VV', T {T:g} K from T_v0 {tv0:g} K: kvt {ours:.3f} s ({shown}); "
              f"without the Jacobian {theirs:.3f} s ({shown_theirs}); {theirs / ours:.1f}x")


def effects() -> None:
    print("| case | molecule | VT alone | VT + VV | VT + VV + VV' | pure gas, VT + VV |")
    print("|---|---|---|---|---|---|")
    for T, tv0 in CASES:
        rates = mixture.generator_rates(AIR, [T])
        runs = [mixture.relax(AIR, rates, [T], tv0=tv0, **switches) for switches in
                (dict(with_vv=False), dict(with_vv_prime=False), {})]
        for name in ("N2", "O2"):
            pair = f"{name}-{name}"
            pure = molecular_gas.relax(heat_bath.fho_rates(pair, [T]), molecular_gas.fho_vv_rates(resolve(pair, "vv"),
                                                                                                   [T]),
                                       [T], tv0=tv0, molecule=name).tau_s[0]
            alone, vv, full = (run.tau_s[name][0] for run in runs)
            print(f"| T_v0 {tv0:g} K -> T {T:g} K | {name} | {alone:.4e} s | {vv:.4e} s ({vv / alone - 1:+.1%}) | "
                  f"{full:.4e} s ({full / alone - 1:+.1%}) | {pure:.4e} s |")


if __name__ == "__main__":
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}, "
          f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    speed()
    effects()
