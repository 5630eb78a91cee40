"""Isothermal relaxation of a pure molecular gas with VT and VV exchange: a nonlinear master equation.

The gas (O2, N2 or NO, levels n = 0..L) is its own collision partner at fixed temperature T
and pressure p, number density n = p / (k_B T), level fractions x_n (sum 1):

    dx_n/dt = n [VT terms]  +  n sum_{1 <= i <= j <= L-1} w_ij (-δ_{n,i} + δ_{n,i-1} - δ_{n,j} + δ_{n,j+1}),
    w_ij = k(i, j) x_i x_j - k_r(i, j) x_{i-1} x_{j+1}

The VT terms are those of :mod:`kvt.kinetics.heat_bath` (k(n -> n-1) and its detailed-balance
reverse). Each VV exchange A(i) + A(j) -> A(i-1) + A(j+1) appears once, in its exothermic direction
(i <= j: the quantum moves up the ladder; i = j moves two molecules of level i), with k_r(i, j) =
k(i, j) exp(-ΔE / T) its exact reverse; i = j + 1 is a resonant swap that changes nothing. VV
conserves the number of quanta sum n x_n; VT does not.

The equation is quadratic in x, so there is no eigen-solution: it is integrated with scipy's
implicit BDF method and its analytic Jacobian (dense, (L+1) x (L+1)), at tight tolerances, one
temperature at a time. The relaxation time τ is, as for VT, the first t at which the normalised
vibrational energy (E_v(t) - E_v,eq) / (E_v(0) - E_v,eq) is 1/e.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from kvt.errors import KvtError
from kvt.kinetics.heat_bath import (
    ATMOSPHERE_PA, boltzmann_fractions, check_conditions, describe_bad_rates, excitation_rates,
)
from kvt.physics import fho, species

RTOL, ATOL = 1e-10, 1e-16  # of the integration; populations below ~1e-14 are not resolved


@dataclass(frozen=True)
class Exchanges:
    """The VV exchanges of a ladder 0..L in their exothermic direction: i <= j, 1 <= i, j <= L - 1."""

    i: np.ndarray
    j: np.ndarray

    @classmethod
    def of(cls, top: int) -> "Exchanges":
        i, j = np.triu_indices(top - 1)  # 0-based i <= j < top - 1
        return cls(i=i + 1, j=j + 1)

    @property
    def changes(self) -> tuple[np.ndarray, np.ndarray]:
        """(levels, signs) of the four population changes of each exchange: -i, +(i-1), -j, +(j+1)."""
        levels = np.stack([self.i, self.i - 1, self.j, self.j + 1])
        signs = np.array([-1.0, 1.0, -1.0, 1.0])[:, None] * np.ones_like(levels, dtype=float)
        return levels, signs


def exothermic_rates(k_vv, temperatures, energies_K, exchanges: Exchanges) -> tuple[np.ndarray, np.ndarray]:
    """(k, k_r) of every exchange at every temperature, (nT, n_exchanges), from a table ``k_vv`` (nT, L, L) of
    k(A(i) + A(j) -> A(i-1) + A(j+1)) at [:, i - 1, j]; k_r by exact detailed balance."""
    i, j = exchanges.i, exchanges.j
    forward = np.asarray(k_vv, dtype=float)[:, i - 1, j]
    released = (energies_K[i] - energies_K[i - 1]) + (energies_K[j] - energies_K[j + 1])
    reverse = forward * np.exp(-released[None, :] / np.asarray(temperatures, dtype=float)[:, None])
    return forward, reverse


class _Equation:
    """Right-hand side and Jacobian of the master equation at one temperature (per unit time, 1/s).

    With S the (L+1) x n_exchanges matrix of population changes (-1 at i and j, +1 at i-1 and j+1) and w the
    exchanges' net fluxes: f(x) = V x + S w(x), J = V + S dw/dx, V the (linear) VT matrix.
    """

    def __init__(self, k_down, k_up, forward, reverse, exchanges: Exchanges, density: float):
        top = len(k_down)
        self.size = size = top + 1
        vt = np.zeros((size, size))
        index = np.arange(size)
        vt[index[1:], index[1:]] -= k_down  # n -> n-1 leaves n
        vt[index[:-1], index[:-1]] -= k_up  # n -> n+1 leaves n
        vt[index[:-1], index[1:]] += k_down  # n+1 -> n arrives in n
        vt[index[1:], index[:-1]] += k_up  # n-1 -> n arrives in n
        self.vt = density * vt
        self.forward, self.reverse = density * forward, density * reverse
        self.i, self.j = i, j = exchanges.i, exchanges.j
        count = len(i)
        levels, signs = exchanges.changes
        self.changes = np.zeros((size, count))
        np.add.at(self.changes, (levels.ravel(), np.tile(np.arange(count), 4)), signs.ravel())
        # dw/dx as one bincount: rows are exchanges, columns x_i, x_j, x_{i-1}, x_{j+1}
        self._flat = (np.arange(count)[None, :] * size + np.stack([i, j, i - 1, j + 1])).ravel()
        self._count = count

    def rhs(self, t, x):
        flux = self.forward * x[self.i] * x[self.j] - self.reverse * x[self.i - 1] * x[self.j + 1]
        return self.vt @ x + self.changes @ flux

    def jacobian(self, t, x):
        weights = np.concatenate([self.forward * x[self.j], self.forward * x[self.i],
                                  -self.reverse * x[self.j + 1], -self.reverse * x[self.i - 1]])
        dw = np.bincount(self._flat, weights, minlength=self._count * self.size).reshape(self._count, self.size)
        return self.vt + self.changes @ dw


@dataclass
class GasRelaxation:
    """The solutions at several temperatures, with the interface of :class:`kvt.kinetics.heat_bath.Relaxation`."""

    temperatures: np.ndarray
    pressure_atm: float
    tv0: float
    energies_K: np.ndarray
    x_eq: np.ndarray
    x0: np.ndarray
    number_density: np.ndarray
    tau_s: np.ndarray
    with_vt: bool = True
    with_vv: bool = True
    solutions: list = field(default_factory=list, repr=False)  # scipy OdeSolution per temperature
    ends_s: np.ndarray = None

    def populations(self, times) -> np.ndarray:
        """x_n(t): (nT, n_times, L+1); beyond the integrated span, the state reached at its end."""
        times = self._times(times)
        out = np.empty((len(self.temperatures), times.shape[1], len(self.energies_K)))
        for k, solution in enumerate(self.solutions):
            out[k] = solution(np.clip(times[k], 0.0, self.ends_s[k])).T
        return out

    def normalised_energy(self, times) -> np.ndarray:
        e_eq, e_0 = self.x_eq @ self.energies_K, self.x0 @ self.energies_K
        e_v = self.populations(times) @ self.energies_K
        return (e_v - e_eq[:, None]) / (e_0 - e_eq)[:, None]

    def resolution(self) -> np.ndarray:
        """Populations below this are not resolved by the integration's tolerances."""
        return np.full((len(self.temperatures), len(self.energies_K)), 1e3 * ATOL + 1e-14)

    @property
    def p_tau_atm_s(self) -> np.ndarray:
        return self.pressure_atm * self.tau_s

    def select(self, keep) -> "GasRelaxation":
        keep = np.arange(len(self.temperatures))[keep]
        per_T = {name: getattr(self, name)[keep] for name in ("temperatures", "x_eq", "x0", "number_density",
                                                              "tau_s", "ends_s")}
        return GasRelaxation(pressure_atm=self.pressure_atm, tv0=self.tv0, energies_K=self.energies_K,
                             with_vt=self.with_vt, with_vv=self.with_vv,
                             solutions=[self.solutions[k] for k in keep], **per_T)

    def _times(self, times) -> np.ndarray:
        times = np.asarray(times, dtype=float)
        if times.ndim == 1:
            times = np.broadcast_to(times, (len(self.temperatures), len(times)))
        return times


def relax(k_vt_down, k_vv, temperatures, tv0: float = 300.0, pressure_atm: float = 1.0, molecule="O2",
          with_vt: bool = True, with_vv: bool = True, span_s=None) -> GasRelaxation:
    """Relaxation of a pure molecular gas from a Boltzmann distribution at ``tv0`` at each bath temperature.

    ``k_vt_down``: (nT, L) VT de-excitation rates k(n -> n-1) of the gas with itself, m^3/s; ``k_vv``: (nT, L, L)
    VV rates k(A(i) + A(j) -> A(i-1) + A(j+1)) at [:, i - 1, j] (i = 1..L, j = 0..L-1), m^3/s (only the exothermic
    half i <= j is read). ``with_vt``/``with_vv`` switch either off (VV alone conserves quanta and does not relax
    the energy: τ is then NaN). ``span_s`` (nT,): how long to integrate [default: 40 times the slowest VT mode's
    time, or without VT 1e4 times the fastest VV exchange's (:func:`_span`)].
    """
    temperatures = check_conditions(np.atleast_1d(np.asarray(temperatures, dtype=float)), float(tv0),
                                    float(pressure_atm))
    k_vt_down = np.atleast_2d(np.asarray(k_vt_down, dtype=float))
    k_vv = np.asarray(k_vv, dtype=float).reshape(len(temperatures), k_vt_down.shape[1], k_vt_down.shape[1])
    top = k_vt_down.shape[1]
    m = species.molecule(molecule)
    if top != m.max_level:
        raise KvtError(f"the relaxation of {m.name} with VV needs every level 1..{m.max_level}; the rates have {top}")
    levels = np.arange(1, top + 1)
    problem = describe_bad_rates(k_vt_down, levels, temperatures)
    if problem:
        raise KvtError(f"cannot relax: VT {problem}; a master equation needs k > 0")
    exchanges = Exchanges.of(top)
    energies = fho.level_energy_K(np.arange(top + 1), m)
    forward, reverse = exothermic_rates(k_vv, temperatures, energies, exchanges)
    bad = ~(np.isfinite(forward) & (forward > 0))
    if with_vv and bad.any():
        t, e = np.argwhere(bad)[0]
        raise KvtError(f"cannot relax: the VV rate of {m.name}({exchanges.i[e]}) + {m.name}({exchanges.j[e]}) at "
                       f"{temperatures[t]:g} K is {forward[t, e]:g}; a master equation needs k > 0")
    k_up = excitation_rates(k_vt_down, levels[None, :], temperatures[:, None], m)
    density = pressure_atm * ATMOSPHERE_PA / (fho.BOLTZMANN * temperatures)
    x_eq = boltzmann_fractions(energies, temperatures)
    x0 = boltzmann_fractions(energies, np.full(len(temperatures), float(tv0)))
    solutions, ends, taus = [], np.empty(len(temperatures)), np.full(len(temperatures), np.nan)
    for k, T in enumerate(temperatures):
        equation = _Equation(k_vt_down[k] if with_vt else np.zeros(top), k_up[k] if with_vt else np.zeros(top),
                             forward[k] if with_vv else np.zeros_like(forward[k]),
                             reverse[k] if with_vv else np.zeros_like(reverse[k]), exchanges, density[k])
        end = span_s[k] if span_s is not None else _span(equation, with_vt)
        result = solve_ivp(equation.rhs, (0.0, end), x0[k], method="LSODA", jac=equation.jacobian, rtol=RTOL,
                           atol=ATOL, dense_output=True)
        if not result.success:
            raise KvtError(f"the VT+VV relaxation at {T:g} K did not converge: {result.message}")
        solutions.append(result.sol)
        ends[k] = end
        if with_vt:
            taus[k] = _relaxation_time(result.sol, end, energies, x0[k], x_eq[k])
    return GasRelaxation(temperatures=temperatures, pressure_atm=float(pressure_atm), tv0=float(tv0),
                         energies_K=energies, x_eq=x_eq, x0=x0, number_density=density, tau_s=taus,
                         with_vt=with_vt, with_vv=with_vv, solutions=solutions, ends_s=ends)


def _span(equation: _Equation, with_vt: bool) -> float:
    """An integration span long enough for the slowest process: 40 times the slowest VT mode's time (the VT matrix
    alone, which VV does not slow), else 1e4 times the fastest VV exchange's."""
    if with_vt:
        # the VT matrix is detailed-balanced: its eigenvalues are real and <= 0; the slowest nonzero one
        eigenvalues = np.sort(np.linalg.eigvals(equation.vt).real)
        slowest = eigenvalues[-2]
        return 40.0 / abs(slowest)
    return 1e4 / float(np.max(equation.forward))


def _relaxation_time(solution, end: float, energies, x0, x_eq) -> float:
    """First t with normalised energy 1/e: a log-time scan for the first bracket, then Brent's method."""
    e_eq, e_0 = x_eq @ energies, x0 @ energies

    def excess(t):
        return (solution(t) @ energies - e_eq) / (e_0 - e_eq) - np.exp(-1.0)

    grid = np.geomspace(end * 1e-14, end, 600)
    values = (energies @ solution(grid) - e_eq) / (e_0 - e_eq) - np.exp(-1.0)
    below = np.flatnonzero(values <= 0)
    if not len(below):
        raise KvtError("the vibrational energy did not relax to 1/e within the integrated span")
    first = below[0]
    lo = grid[first - 1] if first > 0 else 0.0
    return brentq(excess, lo, grid[first], xtol=1e-300, rtol=1e-13, maxiter=200)


def fho_vv_rates(process, temperatures) -> np.ndarray:
    """The generator's VV rates of a VV process (``kvt.physics.process.ExchangeProcess`` of one molecule) as the
    (nT, L, L) table :func:`relax` reads: [t, i - 1, j] = k(A(i) + A(j) -> A(i-1) + A(j+1), T_t)."""
    temperatures = np.asarray(temperatures, dtype=float)
    a_levels, b_levels = process.levels
    a, b = np.meshgrid(np.asarray(a_levels), np.asarray(b_levels), indexing="ij")
    return process.rate_coefficient(a[None], b[None], temperatures[:, None, None])


def population_deviation(model: GasRelaxation, reference, floor: float = 1e-12) -> np.ndarray:
    """The largest relative difference of the level populations at t = τ of ``reference`` (per temperature), over
    the levels where the reference's population is above ``floor``."""
    x_model = model.populations(reference.tau_s[:, None])[:, 0, :]
    x_reference = reference.populations(reference.tau_s[:, None])[:, 0, :]
    kept = x_reference > floor
    relative = np.where(kept, np.abs(x_model - x_reference) / np.where(kept, x_reference, 1.0), 0.0)
    return relative.max(axis=1)
