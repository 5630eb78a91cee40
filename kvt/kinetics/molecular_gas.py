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
from scipy import sparse
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from kvt.errors import KvtError
from kvt.kinetics.heat_bath import (
    boltzmann_fractions, check_conditions, describe_bad_rates, excitation_rates, number_density,
)
from kvt.physics import fho, species

RTOL, ATOL = 1e-10, 1e-16  # of the integration; populations below ~1e-14 are not resolved


@dataclass(frozen=True)
class Exchanges:
    """Exchanges A(i) + B(j) -> A(i-1) + B(j+1) by the levels A and B leave: those of one molecule with itself in
    their exothermic direction (:meth:`of`: i <= j, 1 <= i, j <= L - 1), or every one between two molecules
    (:meth:`between`)."""

    i: np.ndarray
    j: np.ndarray

    @classmethod
    def of(cls, top: int) -> "Exchanges":
        i, j = np.triu_indices(top - 1)  # 0-based i <= j < top - 1
        return cls(i=i + 1, j=j + 1)

    @classmethod
    def between(cls, top_a: int, top_b: int) -> "Exchanges":
        """Every exchange of A (levels 0..top_a) with B (levels 0..top_b): i = 1..top_a, j = 0..top_b - 1, i-major."""
        i, j = np.meshgrid(np.arange(1, top_a + 1), np.arange(top_b), indexing="ij")
        return cls(i=i.ravel(), j=j.ravel())


def exothermic_rates(k_vv, temperatures, energies_K, exchanges: Exchanges,
                     energies_b_K=None) -> tuple[np.ndarray, np.ndarray]:
    """(k, k_r) of every exchange at every temperature, (nT, n_exchanges), from a table ``k_vv`` (nT, L_A, L_B) of
    k(A(i) + B(j) -> A(i-1) + B(j+1)) at [:, i - 1, j]; k_r, the reverse, by exact detailed balance with the level
    energies of A (``energies_K``) and B (``energies_b_K``, default A's: VV, whose :meth:`Exchanges.of` are the
    exothermic half)."""
    i, j = exchanges.i, exchanges.j
    energies_b_K = energies_K if energies_b_K is None else energies_b_K
    forward = np.asarray(k_vv, dtype=float)[:, i - 1, j]
    released = (energies_K[i] - energies_K[i - 1]) + (energies_b_K[j] - energies_b_K[j + 1])
    reverse = forward * np.exp(-released[None, :] / np.asarray(temperatures, dtype=float)[:, None])
    return forward, reverse


def vt_matrix(k_down, k_up) -> np.ndarray:
    """The linear VT operator of one molecule per unit partner density (m^3/s), (L+1) x (L+1), from k(n -> n-1) and
    k(n-1 -> n), n = 1..L: dx/dt = n_M V x."""
    size = len(k_down) + 1
    vt = np.zeros((size, size))
    index = np.arange(size)
    vt[index[1:], index[1:]] -= k_down  # n -> n-1 leaves n
    vt[index[:-1], index[:-1]] -= k_up  # n -> n+1 leaves n
    vt[index[:-1], index[1:]] += k_down  # n+1 -> n arrives in n
    vt[index[1:], index[:-1]] += k_up  # n-1 -> n arrives in n
    return vt


class MasterEquation:
    """Right-hand side and Jacobian of the master equation at one temperature (per unit time, 1/s), over the level
    fractions x of one molecule or of several, concatenated (each block sums to 1).

    Exchange e: the giver leaves level a_e for a_e - 1, the receiver b_e for b_e + 1 (indices into x), with net flux
    w_e = k_e x_a x_b - k_r,e x_{a-1} x_{b+1} (m^3/s); the giver's fractions change at the rate n_B w_e (n_B: the
    receiver's number density) and the receiver's at n_A w_e. With S the matrix of these changes (-1 at a and b,
    +1 at a-1 and b+1, times the density) and V the linear VT matrix (1/s): f(x) = V x + S w(x), J = V + S dw/dx.
    S has 4 entries per exchange (sparse) and dw/dx 4, so J is a sum of 16 entries per exchange (one np.bincount),
    dense (N x N) only in the result.
    """

    def __init__(self, vt, a, b, forward, reverse, giver_density, receiver_density):
        self.size = size = len(vt)
        self.vt = vt
        self.a, self.b = a, b
        self.forward, self.reverse = forward, reverse
        count = len(a)
        giver, receiver = (np.broadcast_to(np.asarray(d, dtype=float), (count,)) for d in (giver_density,
                                                                                          receiver_density))
        self.fastest = float(np.max(forward * np.maximum(giver, receiver), initial=0.0))  # 1/s
        rows = np.stack([a, a - 1, b, b + 1])  # where each exchange changes x ...
        signs = np.stack([-giver, giver, -receiver, receiver])  # ... and by how much per unit flux
        self._changes = sparse.csr_matrix((signs.ravel(), (rows.ravel(), np.tile(np.arange(count), 4))),
                                          shape=(size, count))  # S
        self._signs = signs
        self._depends = np.stack([a, b, a - 1, b + 1])  # the fractions each flux depends on
        self._entries = (rows[:, None, :] * size + self._depends[None, :, :]).ravel()  # J's entries, 16 per exchange

    def rhs(self, t, x):
        x_a, x_b, x_a1, x_b1 = x[self._depends]
        flux = self.forward * x_a * x_b - self.reverse * x_a1 * x_b1
        return self.vt @ x + self._changes @ flux

    def jacobian(self, t, x):
        x_a, x_b, x_a1, x_b1 = x[self._depends]
        # dw/dx_a, dw/dx_b, dw/dx_{a-1}, dw/dx_{b+1}
        dw = np.stack([self.forward * x_b, self.forward * x_a, -self.reverse * x_b1, -self.reverse * x_a1])
        weights = (self._signs[:, None, :] * dw[None, :, :]).ravel()
        return self.vt + np.bincount(self._entries, weights, minlength=self.size ** 2).reshape(self.size, self.size)


def pure_gas_equation(k_down, k_up, forward, reverse, exchanges: Exchanges, density: float) -> MasterEquation:
    """The master equation of a pure gas at one temperature: VT (``k_down``, ``k_up``: (L,)) and VV (``forward``,
    ``reverse``: (n_exchanges,) of ``exchanges``), all with the gas's own number density ``density``."""
    return MasterEquation(density * vt_matrix(k_down, k_up), exchanges.i, exchanges.j, forward, reverse, density,
                          density)


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
    time, or without VT 1e4 times the fastest VV exchange's (:func:`_span`)]. The equation, its integration and τ are
    :class:`MasterEquation` and :func:`solve`, shared with a mixture's (:mod:`kvt.kinetics.mixture`).
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
    density = number_density(temperatures, pressure_atm)
    x_eq = boltzmann_fractions(energies, temperatures)
    x0 = boltzmann_fractions(energies, np.full(len(temperatures), float(tv0)))
    k_vt_down, k_up = (k if with_vt else np.zeros_like(k) for k in (k_vt_down, k_up))
    forward, reverse = (k if with_vv else np.zeros_like(k) for k in (forward, reverse))

    def equation(k):
        return pure_gas_equation(k_vt_down[k], k_up[k], forward[k], reverse[k], exchanges, density[k])

    solutions, ends, taus = solve(equation, temperatures, x0, x_eq, energies[None, :], with_vt, span_s)
    return GasRelaxation(temperatures=temperatures, pressure_atm=float(pressure_atm), tv0=float(tv0),
                         energies_K=energies, x_eq=x_eq, x0=x0, number_density=density, tau_s=taus[:, 0],
                         with_vt=with_vt, with_vv=with_vv, solutions=solutions, ends_s=ends)


def solve(equation, temperatures, x0, x_eq, energies, with_vt: bool, span_s=None, blocks=None):
    """Integrate the master equation at each temperature and find each molecule's τ: the shared loop of the pure gas
    and of a mixture (:mod:`kvt.kinetics.mixture`).

    ``equation(k)``: the :class:`MasterEquation` at temperature index k; ``x0``, ``x_eq``: (nT, N) start and
    equilibrium; ``energies``: (n_molecules, N), row m the level energies of molecule m on its own block of x and 0
    elsewhere (its E_v = energies[m] @ x); ``blocks``: each molecule's slice of x (default: one molecule, all of x).
    Returns the dense solutions, the integrated spans (nT,) and τ (nT, n_molecules), NaN without VT.
    """
    energies = np.atleast_2d(energies)
    blocks = blocks or [slice(0, x0.shape[1])]
    solutions, ends = [], np.empty(len(temperatures))
    taus = np.full((len(temperatures), len(energies)), np.nan)
    for k, T in enumerate(temperatures):
        current = equation(k)
        end = span_s[k] if span_s is not None else _span(current, with_vt, blocks)
        result = solve_ivp(current.rhs, (0.0, end), x0[k], method="LSODA", jac=current.jacobian, rtol=RTOL,
                           atol=ATOL, dense_output=True)
        if not result.success:
            raise KvtError(f"the VT+VV relaxation at {T:g} K did not converge: {result.message}")
        solutions.append(result.sol)
        ends[k] = end
        if with_vt:
            taus[k] = [_relaxation_time(result.sol, end, row, x0[k], x_eq[k]) for row in energies]
    return solutions, ends, taus


def _span(equation: MasterEquation, with_vt: bool, blocks) -> float:
    """An integration span long enough for the slowest process: 40 times the slowest VT mode's time (each molecule's
    VT matrix alone, which VV does not slow), else 1e4 times the fastest VV exchange's."""
    if with_vt:
        # each VT block is detailed-balanced: its eigenvalues are real and <= 0; the slowest nonzero one
        slowest = min(abs(np.sort(np.linalg.eigvals(equation.vt[block, block]).real)[-2]) for block in blocks)
        return 40.0 / slowest
    return 1e4 / equation.fastest


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
