"""Kinetics with VT rates: detailed balance and isothermal heat-bath relaxation.

A molecule (O2, N2 or NO, levels n = 0..L) is dilute in a bath of partner M at fixed
temperature T and pressure p. With number density n_M = p / (k_B T) and level
fractions x_n (sum 1), the master equation is

    dx_n/dt = n_M [ k_d(n+1) x_{n+1} + k_u(n) x_{n-1} - (k_d(n) + k_u(n+1)) x_n ]

with k_d(n) = k(n -> n-1), k_u(n) = k(n-1 -> n) = k_d(n) exp(-(E(n) - E(n-1)) / T)
(detailed balance) and k_d(0) = k_u(L+1) = 0. Its matrix K is detailed-balanced with
respect to the Boltzmann fractions x_eq, so S = D^(-1/2) K D^(1/2), D = diag(x_eq), is
symmetric and tridiagonal with off-diagonal sqrt(k_d(n) k_u(n)). One symmetric
eigen-decomposition per temperature gives the exact solution

    x(t) = D^(1/2) V exp(n_M Lambda t) V^T D^(-1/2) x(0),

vectorised here over all temperatures at once (no time stepping). The vibrational
energy is E_v(t) = sum_n E(n) x_n(t); the relaxation time tau is the first t at which
(E_v(t) - E_v,eq) / (E_v(0) - E_v,eq) = 1/e, and p tau does not depend on p.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from kvt.physics import fho, species
from kvt.physics.process import resolve
from kvt.errors import KvtError

ATMOSPHERE_PA = 101325.0
#: Bath temperatures of kvt's relaxation check (``kvt train``; ``kvt relax`` default).
CHECK_TEMPERATURES = (500.0, 1000.0, 2000.0, 5000.0, 10000.0)
#: The largest rounding error of the populations that the exact solution accepts.
ROUNDING_TOLERANCE = 1e-10


class PrecisionLost(KvtError):
    """The exact solution's rounding exceeds ROUNDING_TOLERANCE: T_v0 too far above a bath temperature."""


def number_density(temperatures, pressure_atm: float) -> np.ndarray:
    """The bath's number density n = p / (k_B T), 1/m^3, at each temperature."""
    return pressure_atm * ATMOSPHERE_PA / (fho.BOLTZMANN * np.asarray(temperatures, dtype=float))


def excitation_rates(k_down, levels, temperatures, molecule="O2") -> np.ndarray:
    """k(i-1 -> i, T) from k(i -> i-1, T) by detailed balance with ``molecule``'s energies (broadcasting)."""
    return np.asarray(k_down, dtype=float) * fho.detailed_balance_factor(levels, temperatures, molecule)


def describe_bad_rates(k_down, levels, temperatures) -> str | None:
    """None when every rate is finite and > 0; else a sentence naming the transitions and temperatures."""
    k_down = np.asarray(k_down, dtype=float)
    bad = ~(np.isfinite(k_down) & (k_down > 0))
    if not bad.any():
        return None
    levels = np.asarray(levels)
    temperatures = np.asarray(temperatures, dtype=float)
    bad_levels = levels[bad.any(axis=0)]
    bad_temps = temperatures[bad.any(axis=1)]
    return (f"{int(bad.sum())} rate(s) are <= 0 or not finite: transitions "
            f"{_list(f'{i}->{i - 1}' for i in bad_levels)} at {_list(f'{t:g}' for t in bad_temps)} K")


def _list(items, limit: int = 8) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


@dataclass
class Relaxation:
    """The exact heat-bath solution at several bath temperatures (arrays over T first).

    ``eigenvalues``: (nT, L+1), <= 0, of the symmetrised rate matrix, in m^3/s (times n_M
    gives 1/s); ``vectors``: (nT, L+1, L+1) orthonormal eigenvectors; ``coefficients``:
    V^T D^(-1/2) x(0), (nT, L+1).
    """

    temperatures: np.ndarray
    pressure_atm: float
    tv0: float
    energies_K: np.ndarray  # E(n), n = 0..L
    x_eq: np.ndarray  # (nT, L+1)
    x0: np.ndarray  # (nT, L+1)
    number_density: np.ndarray  # n_M, 1/m^3, (nT,)
    eigenvalues: np.ndarray
    vectors: np.ndarray
    coefficients: np.ndarray
    tau_s: np.ndarray  # (nT,)

    def populations(self, times) -> np.ndarray:
        """x_n(t): (nT, n_times, L+1) for ``times`` (n_times,) or (nT, n_times) in s."""
        times = self._times(times)
        decay = np.exp(self.number_density[:, None, None] * self.eigenvalues[:, None, :] * times[:, :, None])
        modes = decay * self.coefficients[:, None, :]  # (nT, nt, L+1)
        y = np.einsum("tij,tkj->tki", self.vectors, modes)
        return y * np.sqrt(self.x_eq)[:, None, :]

    def normalised_energy(self, times) -> np.ndarray:
        """(E_v(t) - E_v,eq) / (E_v(0) - E_v,eq), (nT, n_times)."""
        times = self._times(times)
        weights = self.energy_weights
        decay = np.exp(self.number_density[:, None, None] * self.eigenvalues[:, None, :] * times[:, :, None])
        e_v = np.einsum("tkj,tj->tk", decay, weights)
        e_eq, e_0 = self.x_eq @ self.energies_K, self.x0 @ self.energies_K
        return (e_v - e_eq[:, None]) / (e_0 - e_eq)[:, None]

    def resolution(self) -> np.ndarray:
        """Absolute rounding level of x_n(t), (nT, L+1): about eps sum_j |c_j| sqrt(x_eq,n).

        Populations below a few times this are not resolved in double precision (the exact
        solution is then a rounding-noise number near 0, possibly negative).
        """
        scale = np.finfo(float).eps * np.abs(self.coefficients).sum(axis=1)
        return 1e3 * scale[:, None] * np.sqrt(self.x_eq)

    @property
    def p_tau_atm_s(self) -> np.ndarray:
        return self.pressure_atm * self.tau_s

    def select(self, keep) -> "Relaxation":
        """The same solution at the temperatures ``keep`` selects (a boolean mask or indices)."""
        per_T = {name: getattr(self, name)[keep] for name in ("temperatures", "x_eq", "x0", "number_density",
                                                              "eigenvalues", "vectors", "coefficients", "tau_s")}
        return dataclasses.replace(self, **per_T)

    @functools.cached_property
    def energy_weights(self) -> np.ndarray:
        """E_v(t) = sum_j w_j exp(n_M lambda_j t): w = (V^T D^(1/2) E) * c, computed once per solution."""
        projected = np.einsum("tij,ti->tj", self.vectors, np.sqrt(self.x_eq) * self.energies_K[None, :])
        return projected * self.coefficients

    def _times(self, times) -> np.ndarray:
        times = np.asarray(times, dtype=float)
        if times.ndim == 1:
            times = np.broadcast_to(times, (len(self.temperatures), len(times)))
        return times


def boltzmann_fractions(energies_K, temperatures) -> np.ndarray:
    """x_n ∝ exp(-E(n)/T), normalised; (nT, L+1) for temperatures (nT,)."""
    log_weights = -np.asarray(energies_K)[None, :] / np.asarray(temperatures, dtype=float)[:, None]
    log_weights -= log_weights.max(axis=1, keepdims=True)
    weights = np.exp(log_weights)
    return weights / weights.sum(axis=1, keepdims=True)


def check_conditions(temperatures, tv0: float, pressure_atm: float) -> np.ndarray:
    temperatures = np.asarray(temperatures, dtype=float)
    if not (np.isfinite(pressure_atm) and pressure_atm > 0):
        raise KvtError(f"--pressure must be a number > 0 (atm), got {pressure_atm:g}")
    if not (np.isfinite(tv0) and tv0 > 0):
        raise KvtError(f"--tv0 must be a temperature > 0 K, got {tv0:g}")
    if np.any(temperatures == tv0):
        raise KvtError(f"--tv0 {tv0:g} K equals a bath temperature; relaxation needs a T_v0 different from every "
                       f"bath temperature")
    close = np.abs(temperatures - tv0) < 1e-3 * temperatures
    if np.any(close):
        raise KvtError(f"--tv0 {tv0:g} K is within 0.1 % of the bath temperature {temperatures[close][0]:g} K; the "
                       f"energy that relaxes is then lost in rounding; use a T_v0 further from every bath temperature")
    return temperatures


def relax(k_down, temperatures, tv0: float = 300.0, pressure_atm: float = 1.0, molecule="O2") -> Relaxation:
    """Exact heat-bath relaxation for de-excitation rates ``k_down`` (nT, L) in m^3/s of ``molecule``.

    Column j of ``k_down`` is the transition (j+1) -> j; every level 1..L of the molecule
    must be present (the master equation couples them all), L at most the molecule's top
    level (O2 35, N2 46, NO 38). ``molecule`` (a molecule, a pair or either's name; default
    O2) gives the level energies of the detailed balance and of E_v. Raises ``KvtError`` for a rate
    that is <= 0 or not finite, a T_v0 equal to a bath temperature, a non-positive pressure,
    or a start so far from equilibrium that double precision cannot represent the solution.
    """
    k_down = np.atleast_2d(np.asarray(k_down, dtype=float))
    temperatures = check_conditions(np.atleast_1d(temperatures), float(tv0), float(pressure_atm))
    n_levels = k_down.shape[1]
    m = species.molecule(molecule)
    if n_levels > m.max_level:
        raise KvtError(f"k_down has {n_levels} transitions; {m.name} levels are 1..{m.max_level}")
    if k_down.shape[0] != len(temperatures):
        raise KvtError(f"k_down has {k_down.shape[0]} rows for {len(temperatures)} temperatures")
    levels = np.arange(1, n_levels + 1)
    problem = describe_bad_rates(k_down, levels, temperatures)
    if problem:
        raise KvtError(f"cannot relax: {problem}; a master equation needs k > 0 "
                       f"(kvt train --mode accurate avoids non-positive rates)")
    energies = fho.level_energy_K(np.arange(n_levels + 1), m)
    T = temperatures[:, None]
    k_up = excitation_rates(k_down, levels[None, :], T, m)
    symmetric = np.zeros((len(temperatures), n_levels + 1, n_levels + 1))
    diagonal = np.zeros((len(temperatures), n_levels + 1))
    diagonal[:, 1:] -= k_down  # level n loses by n -> n-1
    diagonal[:, :-1] -= k_up  # level n loses by n -> n+1
    off = np.sqrt(k_down * k_up)
    index = np.arange(n_levels + 1)
    symmetric[:, index, index] = diagonal
    symmetric[:, index[:-1], index[1:]] = off
    symmetric[:, index[1:], index[:-1]] = off
    eigenvalues, vectors = np.linalg.eigh(symmetric)
    # eigh sorts ascending: the last eigenvalue is the equilibrium mode, exactly 0 in exact
    # arithmetic; its rounding (~1e-15 of the largest) would otherwise leak out of sum(x) = 1.
    eigenvalues = np.minimum(eigenvalues, 0.0)
    eigenvalues[:, -1] = 0.0

    x_eq = boltzmann_fractions(energies, temperatures)
    x0 = boltzmann_fractions(energies, np.full(len(temperatures), float(tv0)))
    coefficients = np.einsum("tij,ti->tj", vectors, x0 / np.sqrt(x_eq))
    # Rounding of x(t) is about eps * sum|c_j|: large when T_v0 >> T puts weight on levels
    # that are exponentially rare at equilibrium (D^(-1/2) x(0) is then huge).
    error = np.finfo(float).eps * np.abs(coefficients).sum(axis=1)
    if np.any(error > ROUNDING_TOLERANCE):
        worst = temperatures[int(np.argmax(error))]
        raise PrecisionLost(f"--tv0 {tv0:g} K is too far above the bath temperature {worst:g} K for the exact "
                            f"solution in double precision; use a lower T_v0 (up to about 2-3 times T works), or "
                            f"integrate the master equation (kvt.reports.relax.run does)")
    solution = Relaxation(temperatures=temperatures, pressure_atm=float(pressure_atm), tv0=float(tv0),
                          energies_K=energies, x_eq=x_eq, x0=x0,
                          number_density=number_density(temperatures, pressure_atm),
                          eigenvalues=eigenvalues, vectors=vectors, coefficients=coefficients,
                          tau_s=np.full(len(temperatures), np.nan))
    solution.tau_s = _relaxation_time(solution)
    return solution


def _relaxation_time(solution: Relaxation, grid_points: int = 400, halvings: int = 60) -> np.ndarray:
    """First t with normalised energy 1/e: a log-time scan for the first bracket, then bisection in ln t."""
    # eigh sorts ascending, so column -2 is the slowest decaying mode (the last is equilibrium).
    scale = 1.0 / (np.abs(solution.eigenvalues[:, -2]) * solution.number_density)
    grid = scale[:, None] * np.geomspace(1e-8, 1e3, grid_points)[None, :]
    values = solution.normalised_energy(grid) - np.exp(-1.0)
    below = values <= 0
    if not np.all(below.any(axis=1)):
        raise KvtError("the vibrational energy did not relax to 1/e within 1000 slowest-mode times")
    first = below.argmax(axis=1)
    rows = np.arange(len(grid))
    hi = np.log(grid[rows, first])
    lo = np.where(first > 0, np.log(grid[rows, np.maximum(first - 1, 0)]), hi - 50.0)
    for _ in range(halvings):
        mid = 0.5 * (lo + hi)
        above = solution.normalised_energy(np.exp(mid)[:, None])[:, 0] > np.exp(-1.0)
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return np.exp(0.5 * (lo + hi))


def millikan_white_p_tau(temperatures, partner: fho.Species, theta_v_K: float | None = None,
                         molecule="O2") -> np.ndarray:
    """Millikan-White p tau in atm s: exp(A (T^(-1/3) - B) - 18.42), A = 1.16e-3 mu^(1/2) theta_v^(4/3),
    B = 0.015 mu^(1/4), mu the molecule-partner reduced mass in atomic mass units.

    ``molecule`` defaults to O2; ``theta_v_K`` to its θ_v in the species table."""
    m = species.molecule(molecule)
    theta_v_K = m.millikan_white_theta_v_K if theta_v_K is None else theta_v_K
    m_ab = m.molar_mass_g_mol
    mu = m_ab * partner.molar_mass_g_mol / (m_ab + partner.molar_mass_g_mol)  # g/mol = atomic mass units
    a = 1.16e-3 * np.sqrt(mu) * theta_v_K ** (4.0 / 3.0)
    b = 0.015 * mu ** 0.25
    return np.exp(a * (np.asarray(temperatures, dtype=float) ** (-1.0 / 3.0) - b) - 18.42)


def compare(model: Relaxation, reference: Relaxation, grid_points: int = 4000) -> dict[str, np.ndarray]:
    """tau relative error and the largest |difference| of the normalised E_v(t) curves, per temperature.

    The curves are compared on a log grid from 1e-4 to 1e3 times the shorter/longer tau, and at t = 0.
    """
    lo = np.minimum(model.tau_s, reference.tau_s) * 1e-4
    hi = np.maximum(model.tau_s, reference.tau_s) * 1e3
    grid = np.exp(np.linspace(np.log(lo), np.log(hi), grid_points).T)
    grid = np.concatenate([np.zeros((len(grid), 1)), grid], axis=1)
    deviation = np.abs(model.normalised_energy(grid) - reference.normalised_energy(grid)).max(axis=1)
    return {"tau_rel_err": (model.tau_s - reference.tau_s) / reference.tau_s, "ev_max_dev": deviation}


def millikan_white_for(temperatures, process) -> np.ndarray:
    """:func:`millikan_white_p_tau` of a VT process (or a pair's name, any of the 18): its molecule's θ_v and mass,
    its partner."""
    p = resolve(process)
    return millikan_white_p_tau(temperatures, p.partner, molecule=p.molecule)


def fho_rates(process, temperatures) -> np.ndarray:
    """FHO-FR de-excitation rates of every transition of a VT process's molecule (a ``Process`` or a pair's name),
    (nT, L): O2 35, N2 46, NO 38."""
    p = resolve(process)
    temperatures = np.asarray(temperatures, dtype=float)
    levels = np.arange(1, p.max_level + 1)
    return p.rate_coefficient(levels[None, :], temperatures[:, None])


def network_rates(network, temperatures, molecule=None) -> np.ndarray:
    """A trained network's de-excitation rates of every transition of its molecule, (nT, L).

    ``molecule`` defaults to the network's (``network.molecule``), else O2."""
    temperatures = np.asarray(temperatures, dtype=float)
    m = species.molecule(molecule or getattr(network, "molecule", None) or "O2")
    levels = np.arange(1, m.max_level + 1)
    grid_levels, grid_temps = np.meshgrid(levels, temperatures)
    return network.predict_k(grid_levels.ravel(), grid_temps.ravel()).reshape(len(temperatures), len(levels))
