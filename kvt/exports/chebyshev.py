"""Per-transition Chebyshev fits of a network's ln k: the one fitted representation behind ``kvt export --format
cantera`` and the ``chebyshev`` kernel of ``--format c-header`` and ``fortran``.

For each transition, ln k(T) is expanded in Chebyshev polynomials of a reduced temperature variable x in [-1, 1]:

    ln k(T) = sum_{n=0}^{N-1} c_n T_n(x),   x = (2 f(T) - f(T_min) - f(T_max)) / (f(T_max) - f(T_min)),

so x = -1 at the trained T_min and +1 at T_max. Two axes f are offered:

* ``inverse_T``: f = 1/T, Cantera's reduced inverse temperature (its ``Chebyshev`` rate takes log10 k in it);
* ``inverse_cbrt_T``: f = T^(-1/3), the Landau-Teller variable of VT rates (and of the FHO-poly form). A network
  trained on 250-10000 K has ln k analytic in T^(-1/3) much farther from the interval than in 1/T (whose
  branch point at T = infinity lies just beyond T_max in x), so it needs about half the terms for the same
  tolerance: the generated C and Fortran kernels use it.

The coefficients come from the network's values at Chebyshev-Gauss-Lobatto nodes of x (the discrete Chebyshev
transform, near the best uniform approximation for any number of terms); each transition keeps the fewest terms
whose largest relative deviation |k_fit / k - 1| from the network on every ``step_K`` kelvin of the trained range
(:data:`kvt.exports.CHECK_STEP_K`, the grid every export is checked on) is within the tolerance. The fit is
generic in what a transition is: :func:`fit_log_k` takes any labels and a function giving ln k of each at given
temperatures, so a process with two level inputs (VV) fits the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import chebyshev

from kvt.errors import KvtError
from kvt.exports import CHECK_STEP_K
from kvt.exports.codegen import FitDeviation, trained_levels
from kvt.kinetics.validity import dense_temperatures

#: The most terms kvt fits to one transition; a tolerance these cannot reach is refused.
MAX_TERMS = 96
#: Chebyshev-Gauss-Lobatto nodes the coefficients are computed from (more than MAX_TERMS: no aliasing of the kept terms).
NODES = 256


@dataclass(frozen=True)
class Axis:
    """A reduced-temperature axis: its name in files, f(T), its inverse and how the generated code computes f."""

    label: str
    forward: object  # f(T)
    inverse: object  # T(f)
    c_code: str  # f(T) in C, of the double T
    fortran_code: str  # f(T) in Fortran, of the real(dp) t


AXES = {
    "inverse_T": Axis("1/T", lambda t: 1.0 / t, lambda f: 1.0 / f,
                      "1.0 / T", "1.0_dp / t"),
    "inverse_cbrt_T": Axis("T^(-1/3)", lambda t: np.cbrt(t) ** -1.0, lambda f: f ** -3.0,
                           "1.0 / cbrt(T)", "1.0_dp / t ** (1.0_dp / 3.0_dp)"),
}


def axis(name: str) -> Axis:
    if name not in AXES:
        raise KvtError(f"unknown Chebyshev axis {name!r}; valid axes: {', '.join(AXES)}")
    return AXES[name]


def reduced_coefficients(axis_name: str, t_min: float, t_max: float) -> tuple[float, float]:
    """(a, b) with x = a f(T) + b: x = -1 at t_min, +1 at t_max. The generated code uses the same two numbers."""
    f = axis(axis_name).forward
    lo, hi = float(f(np.float64(t_min))), float(f(np.float64(t_max)))
    return 2.0 / (hi - lo), -(lo + hi) / (hi - lo)


def reduced(axis_name: str, temperatures, t_min: float, t_max: float) -> np.ndarray:
    """The reduced variable x of ``temperatures`` on ``axis_name`` (in [-1, 1] on the trained range)."""
    a, b = reduced_coefficients(axis_name, t_min, t_max)
    return a * axis(axis_name).forward(np.asarray(temperatures, dtype=float)) + b


def node_temperatures(axis_name: str, t_min: float, t_max: float, count: int = NODES) -> tuple[np.ndarray, np.ndarray]:
    """(x, T) of the ``count`` + 1 Chebyshev-Gauss-Lobatto nodes x_j = cos(pi j / count), T clipped to the range."""
    x = np.cos(np.pi * np.arange(count + 1) / count)
    a, b = reduced_coefficients(axis_name, t_min, t_max)
    temperatures = np.clip(axis(axis_name).inverse((x - b) / a), t_min, t_max)  # rounding at the ends
    return x, temperatures


@dataclass(frozen=True)
class ChebyshevFit(FitDeviation):
    """ln k of every transition as a Chebyshev series on one axis, and its deviation from what was fitted.

    ``coefficients[j, n]`` is c_n of transition ``transitions[j]`` for ln k in m^3/s; entries from ``terms[j]`` on
    are 0, so every row can be evaluated with ``n_terms`` terms. ``rel_error`` is |k_fit / k - 1| on
    ``temperatures`` (every ``step`` K of the trained range), evaluated with Clenshaw's recurrence.
    """

    transitions: np.ndarray  # a label per transition (VT: the upper level i of i -> i-1)
    axis: str
    t_min: float
    t_max: float
    coefficients: np.ndarray  # (n_transitions, n_terms)
    terms: np.ndarray  # (n_transitions,)
    tolerance: float
    temperatures: np.ndarray
    rel_error: np.ndarray  # (n_transitions, n_T)
    #: What a label holds: ("level",) for VT (a label is a level), ("level_a", "level_b") for an exchange (a pair).
    label_names: tuple = ("level",)

    def label_text(self, label) -> str:
        """``level 5`` or ``level_a 5, level_b 7``."""
        values = np.atleast_1d(np.asarray(label, dtype=int))
        return ", ".join(f"{name} {int(v)}" for name, v in zip(self.label_names, values))

    @property
    def n_terms(self) -> int:
        return int(self.coefficients.shape[1])

    @property
    def axis_label(self) -> str:
        """What the series is in: ``1/T`` or ``T^(-1/3)``."""
        return AXES[self.axis].label

    @property
    def labels(self) -> np.ndarray:
        return self.transitions

    def log_k(self, temperatures) -> np.ndarray:
        """ln k (m^3/s) of every transition at ``temperatures``: (n_transitions, n_T), Clenshaw (numpy chebval)."""
        x = reduced(self.axis, temperatures, self.t_min, self.t_max)
        return chebyshev.chebval(x, self.coefficients.T, tensor=True)

    def k(self, temperatures) -> np.ndarray:
        """k (m^3/s) of every transition at ``temperatures``: (n_transitions, n_T)."""
        return np.exp(self.log_k(temperatures))


def _coefficients_at_nodes(log_k_nodes: np.ndarray, count: int) -> np.ndarray:
    """The discrete Chebyshev transform of values at the ``count`` + 1 Lobatto nodes: (n_transitions, count + 1)."""
    j = np.arange(count + 1)
    weights = np.where((j == 0) | (j == count), 0.5, 1.0)
    basis = np.cos(np.pi * np.outer(j, j) / count)  # [n, j] = T_n(x_j)
    c = (2.0 / count) * (log_k_nodes * weights) @ basis.T
    c[:, 0] *= 0.5
    c[:, -1] *= 0.5
    return c


def _vt_transition(label) -> str:
    return f"{label} -> {label - 1}"


def fit_log_k(transitions, log_k, t_min: float, t_max: float, tolerance: float, axis_name: str = "inverse_T",
              step: float = CHECK_STEP_K, max_terms: int = MAX_TERMS, what: str = "the network",
              describe=_vt_transition, label_names: tuple = ("level",)) -> ChebyshevFit:
    """Fit ln k of every transition with as few Chebyshev terms as ``tolerance`` needs (each its own number).

    ``log_k(transitions, temperatures)`` returns ln k in m^3/s, shape (n_transitions, n_T). ``tolerance`` is the
    largest relative deviation |k_fit / k - 1| allowed on every ``step`` K of [t_min, t_max]. Raises ``KvtError``
    when ``max_terms`` terms cannot reach it, saying what they reach (``describe(label)`` names a transition).
    """
    if not (0.0 < tolerance < 1.0):
        raise KvtError(f"--tolerance must be a relative deviation between 0 and 1, got {tolerance:g}")
    transitions = np.asarray(transitions)
    _, t_nodes = node_temperatures(axis_name, t_min, t_max)
    coefficients = _coefficients_at_nodes(np.asarray(log_k(transitions, t_nodes), dtype=float), NODES)[:, :max_terms]
    grid = dense_temperatures(t_min, t_max, step)
    target = np.asarray(log_k(transitions, grid), dtype=float)
    basis = chebyshev.chebvander(reduced(axis_name, grid, t_min, t_max), max_terms - 1)  # (n_T, max_terms)
    terms = np.zeros(len(transitions), dtype=int)
    best = np.full(len(transitions), np.inf)
    partial = np.zeros_like(target)
    for n in range(max_terms):  # the partial sums with n + 1 terms
        partial += coefficients[:, [n]] * basis[:, n][None, :]
        error = np.abs(np.expm1(partial - target)).max(axis=1)
        best = np.minimum(best, error)
        terms[(terms == 0) & (error <= tolerance)] = n + 1
    if np.any(terms == 0):
        worst = int(np.argmax(np.where(terms == 0, best, -1.0)))
        raise KvtError(f"--tolerance {tolerance:g} is not reachable: {max_terms} Chebyshev terms in reduced "
                       f"{axis(axis_name).label} (the most kvt fits) leave transition {describe(transitions[worst])} "
                       f"up to {best[worst]:.2e} from {what}; give --tolerance {_round_up(best[worst])} or more")
    while True:
        # the reported deviation is Clenshaw's (how every user evaluates the series), not the partial sums': one
        # more term where rounding put a transition over the tolerance
        n_max = int(terms.max())
        kept = np.where(np.arange(n_max)[None, :] < terms[:, None], coefficients[:, :n_max], 0.0)
        fit = ChebyshevFit(transitions, axis_name, float(t_min), float(t_max), kept, terms, float(tolerance), grid,
                           np.zeros_like(target), tuple(label_names))
        rel = np.abs(np.expm1(fit.log_k(grid) - target))
        over = (rel.max(axis=1) > tolerance) & (terms < max_terms)
        if not over.any():
            return ChebyshevFit(transitions, axis_name, float(t_min), float(t_max), kept, terms, float(tolerance),
                                grid, rel, tuple(label_names))
        terms = terms + over


def _round_up(value: float) -> str:
    """``value`` rounded up to two significant digits, as the user would type it (2.31e-07 -> 2.4e-07)."""
    exponent = int(np.floor(np.log10(value)))
    mantissa = np.ceil(value / 10.0 ** exponent * 10.0) / 10.0
    return f"{mantissa:.1f}e{exponent:+03d}"


def fit_network(network, tolerance: float, axis_name: str = "inverse_T", step: float = CHECK_STEP_K,
                labels=None) -> ChebyshevFit:
    """The fit of every trained transition of ``network`` (a :class:`kvt.network.inference.Network`) on its range.

    ``labels``: the transitions to fit [default: every trained one]: upper levels of a VT network, (level_a,
    level_b) rows of an exchange network (:func:`trained_labels`). ln k is fitted, so the network must give k > 0
    on its trained range: ``kvt export`` checks that first. The network is evaluated once on every label x every
    node and once on every label x the check grid (one vectorised call each).
    """
    labels = trained_labels(network) if labels is None else np.asarray(labels, dtype=int)
    names = tuple(network.inputs[:-1])
    t_min, t_max = (float(v) for v in network.temperature_range)

    def log_k(labels, temperatures):
        columns = labels.reshape(len(labels), -1).T  # one row per level input
        k = network.predict_k(*(np.repeat(c, temperatures.size) for c in columns), np.tile(temperatures, len(labels)))
        return np.log(k.reshape(len(labels), temperatures.size))

    def describe(label):
        values = np.atleast_1d(label)
        if len(values) == 1:
            return _vt_transition(int(values[0]))
        return ", ".join(f"{name} {int(v)}" for name, v in zip(names, values))

    return fit_log_k(labels, log_k, t_min, t_max, tolerance, axis_name, step, describe=describe, label_names=names)


def trained_labels(network) -> np.ndarray:
    """Every trained transition of ``network``: its upper levels (VT), or its (level_a, level_b) rows (VV, VV')."""
    if len(network.inputs) == 2:
        return trained_levels(network)
    ranges = [np.arange(int(lo), int(hi) + 1) for lo, hi in (network.level_ranges[n] for n in network.inputs[:-1])]
    return np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, len(ranges))


def summary(fit: ChebyshevFit) -> str:
    """One line: terms, the largest deviation and where, against the tolerance."""
    level, T = fit.worst
    lo, hi = int(fit.terms.min()), int(fit.terms.max())
    terms = f"{lo}" if lo == hi else f"{lo}..{hi}"
    return (f"{terms} Chebyshev terms in reduced {AXES[fit.axis].label} per transition; max relative "
            f"deviation from the network {fit.max_error:.2e} ({fit.label_text(level)}, {T:g} K; tolerance "
            f"{fit.tolerance:g}) "
            f"on every {fit.temperatures[1] - fit.temperatures[0]:g} K of {fit.t_min:g}..{fit.t_max:g} K")
