"""Heat-bath relaxation of all 36 O2 levels at 100 temperatures: exact solution vs a Radau loop.

Measured side by side in one run, FHO-FR O2-Ar rates, T_v0 = 300 K, 100 temperatures
geometrically spaced over 500..20000 K:

* steady state, in one process: ``kvt.kinetics.heat_bath.relax`` (one batched symmetric
  eigen-decomposition, tau by bisection on the exact E_v(t)) against a loop of
  ``scipy.integrate.solve_ivp(method="Radau")`` (rtol 1e-10, analytic Jacobian) with tau
  found on its dense output, for the same 100 temperatures; the best of several rounds;
* what a user waits for: the whole ``kvt relax --pair O2-Ar --temps ... --csv`` command,
  process start and imports included (median of 3).
It also prints the largest tau difference between the two methods.

    python benchmarks/relaxation_speed.py
"""

import platform
import statistics
import subprocess
import sys
import time

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from kvt.kinetics import heat_bath
from kvt.physics import fho

TEMPS = np.geomspace(500.0, 20000.0, 100)
PAIR = "O2-Ar"


def radau_tau(k_down, T, tv0=300.0):
    e = fho.level_energy_K(np.arange(36))
    k_up = heat_bath.excitation_rates(k_down, np.arange(1, 36), T)
    n_m = heat_bath.ATMOSPHERE_PA / (fho.BOLTZMANN * T)
    K = np.zeros((36, 36))
    idx = np.arange(35)
    K[idx, idx + 1] += k_down
    K[idx + 1, idx] += k_up
    K[idx + 1, idx + 1] -= k_down
    K[idx, idx] -= k_up
    K *= n_m
    x0 = np.exp(-e / tv0)
    x0 /= x0.sum()
    x_eq = np.exp(-e / T)
    x_eq /= x_eq.sum()
    e0, e_eq = e @ x0, e @ x_eq
    horizon = 30.0 / np.sort(np.abs(np.linalg.eigvals(K)))[1]
    sol = solve_ivp(lambda t, x: K @ x, (0, horizon), x0, method="Radau", jac=K, rtol=1e-10, atol=1e-20,
                    dense_output=True)
    f = lambda t: (e @ sol.sol(t) - e_eq) / (e0 - e_eq) - np.exp(-1)  # noqa: E731
    first = int(np.argmax([f(t) <= 0 for t in sol.t]))
    return brentq(f, sol.t[first - 1], sol.t[first], rtol=1e-13)


def best(fn, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main():
    k = heat_bath.fho_rates(PAIR, TEMPS)
    exact_s, solution = best(lambda: heat_bath.relax(k, TEMPS), 7)
    radau_s, radau = best(lambda: np.array([radau_tau(k[j], T) for j, T in enumerate(TEMPS)]), 2)
    spec = ",".join(f"{t:.6g}" for t in TEMPS)
    command = [sys.executable, "-m", "kvt.cli", "relax", "--pair", PAIR, "--temps", spec, "--csv"]
    walls = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}")
    print(f"{PAIR}, 36 levels, {len(TEMPS)} temperatures {TEMPS[0]:g}..{TEMPS[-1]:g} K, T_v0 300 K")
    print(f"steady state  kvt.kinetics.heat_bath.relax (exact)   {exact_s * 1e3:9.2f} ms")
    print(f"steady state  scipy Radau loop              {radau_s * 1e3:9.2f} ms   ratio Radau/exact "
          f"{radau_s / exact_s:8.1f}x")
    print(f"whole command kvt relax --csv (median of 3) {statistics.median(walls) * 1e3:9.2f} ms")
    print(f"max |tau_exact / tau_Radau - 1| = {np.max(np.abs(solution.tau_s / radau - 1)):.2e}")


if __name__ == "__main__":
    main()
