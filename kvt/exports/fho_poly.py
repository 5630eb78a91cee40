"""The FHO-poly export: per-transition fits k_i(T) = exp(c_i * sum_{j=0..5} a_ij * T^(-j/3)).

This is the per-level form in which the SPbU state-to-state solver reads its FHO-FR-reg
rate coefficients: ln k is a polynomial of degree 5 in T^(-1/3). The polynomial's
coefficients b_ij = c_i * a_ij are fitted by least squares to ln k on a dense grid of the
network's trained temperature range; the split into c_i and a_ij is not unique, and kvt
normalises it with a_i0 = 1 (so c_i = b_i0, the fit's ln k as T -> infinity, and
a_ij = b_ij / b_i0). The form is much less flexible than the network: even exact FHO-FR
data fit it only to several per cent (see :func:`fit_exact`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from kvt import __version__
from kvt.data.choices import UNITS, check_units
from kvt.physics.process import resolve
from kvt.errors import KvtError
from kvt.exports import CHECK_STEP_K
from kvt.exports.codegen import FitDeviation, trained_levels
from kvt.kinetics.validity import dense_temperatures

N_TERMS = 6  # j = 0..5
COLUMNS = ("level_from", "level_to", "c", *(f"a{j}" for j in range(N_TERMS)))


def powers(temperatures) -> np.ndarray:
    """The fit's basis T^(-j/3), j = 0..5: shape (n_T, 6)."""
    t = np.asarray(temperatures, dtype=float)
    return np.column_stack([t ** (-j / 3.0) for j in range(N_TERMS)])


def evaluate(c, a, temperatures) -> np.ndarray:
    """k_i(T) = exp(c_i * sum_j a_ij T^(-j/3)) for every transition i and temperature: shape (n_levels, n_T)."""
    c, a = np.asarray(c, dtype=float), np.asarray(a, dtype=float)
    return np.exp(c[:, None] * (a @ powers(temperatures).T))


@dataclass(frozen=True)
class PolyFit(FitDeviation):
    """FHO-poly coefficients of every transition and their relative error against the fitted rates."""

    levels: np.ndarray  # upper levels i of i -> i-1
    c: np.ndarray  # (n_levels,)
    a: np.ndarray  # (n_levels, 6), a[:, 0] == 1
    temperatures: np.ndarray
    rel_error: np.ndarray  # (n_levels, n_T): |k_fit / k - 1|
    units: str = "m3/s"  # of k_fit: m3/s or cm3/s

    @property
    def labels(self) -> np.ndarray:
        return self.levels

    @property
    def per_level_max(self) -> np.ndarray:
        return self.rel_error.max(axis=1)


def fit(levels, temperatures, k, units: str = "m3/s") -> PolyFit:
    """Least-squares fit of ln k (shape (n_levels, n_T), all > 0, in m^3/s) by a degree-5 polynomial in T^(-1/3).

    ``units``: the units of the fitted k (``cm3/s`` fits ln(1e6 k)); the relative error does not depend on them.
    """
    levels, temperatures = np.asarray(levels), np.asarray(temperatures, dtype=float)
    k = np.asarray(k, dtype=float) * UNITS[check_units(units)]
    if not np.all(np.isfinite(k) & (k > 0)):
        raise KvtError("the FHO-poly fit needs k > 0 and finite at every point")
    x = temperatures ** (-1.0 / 3.0)
    # Polynomial.fit maps x onto [-1, 1] (the raw basis has condition number ~1e8); convert() returns
    # the coefficients of the plain powers x^j = T^(-j/3).
    b = np.array([np.polynomial.Polynomial.fit(x, np.log(row), N_TERMS - 1).convert().coef for row in k])
    if b.shape[1] < N_TERMS:  # convert() drops trailing zero coefficients
        b = np.pad(b, ((0, 0), (0, N_TERMS - b.shape[1])))
    if np.any(np.abs(b[:, 0]) < 1e-12 * np.abs(b).max(axis=1)):
        raise KvtError("cannot normalise the FHO-poly fit with a0 = 1: a constant term is zero")
    c = b[:, 0].copy()
    a = b / c[:, None]
    rel = np.abs(evaluate(c, a, temperatures) / k - 1.0)
    return PolyFit(levels=levels, c=c, a=a, temperatures=temperatures, rel_error=rel, units=units)


def fit_network(network, units: str = "m3/s") -> PolyFit:
    """FHO-poly fit of every trained transition of ``network`` on every 5 K of its trained range.

    ln k is fitted, so the network must give k > 0 there: ``kvt export`` checks that first
    (:mod:`kvt.exports.registry`); :func:`fit` refuses any other k <= 0.
    """
    levels, temperatures = trained_levels(network), dense_temperatures(*network.temperature_range, CHECK_STEP_K)
    k = network.predict_k(np.repeat(levels, temperatures.size), np.tile(temperatures, levels.size))
    return fit(levels, temperatures, k.reshape(levels.size, temperatures.size), units)


def fit_exact(process, levels, temperatures, units: str = "m3/s") -> PolyFit:
    """The same fit to exact FHO-FR rates of a VT process (or a pair's name, any of the 18): the form's own error."""
    reference = resolve(process)
    levels, temperatures = np.asarray(levels), np.asarray(temperatures, dtype=float)
    return fit(levels, temperatures, reference.rate_coefficient(levels[:, None], temperatures[None, :]), units)


def summary(fit_result: PolyFit) -> str:
    level, T = fit_result.worst
    return (f"max relative error {fit_result.max_error:.3e} (worst: level {level}, {T:g} K); "
            f"median over transitions of their max {np.median(fit_result.per_level_max):.3e}")


def to_csv(fit_result: PolyFit, source: str, network=None, reference: PolyFit | None = None) -> str:
    """The CSV text: a ``#`` header, then one row per transition with 17 significant digits."""
    t = fit_result.temperatures
    spec = network.spec if network is not None else {}
    header = [
        f"kvt {__version__} fho-poly: per-transition fit in the FHO-FR-reg form of the SPbU state-to-state solver",
        f"k(level_from -> level_to, T) = exp(c * sum_{{j=0..5}} a_j * T^(-j/3)); T in K, k in {_unit_text(fit_result)}",
        "normalisation: a0 = 1 (c = the fitted ln k as T -> infinity; a_j = b_j / c for the fitted ln k "
        "coefficients b_j; the split into c and a_j is not unique)",
        f"valid for {t.min():g} <= T <= {t.max():g} K only (the trained range); do not extrapolate",
        f"fit: least squares on ln k at {t.size} temperatures ({t[1] - t[0]:g} K apart) of {source}; "
        f"vs the network: {summary(fit_result)}",
    ]
    if reference is not None:
        header.append(f"the same form fitted to exact FHO-FR data of the pair on the same grid: {summary(reference)}")
    if spec:
        header.append(f"network: pair {spec.get('pair')}, mode {spec.get('mode')}, "
                      f"dataset sha256 {spec.get('dataset_sha256')}")
    buffer = io.StringIO()
    buffer.write("".join(f"# {line}\n" for line in header))
    buffer.write(",".join(COLUMNS) + "\n")
    for level, c, a in zip(fit_result.levels, fit_result.c, fit_result.a):
        buffer.write(",".join([str(int(level)), str(int(level) - 1), *(f"{v:.17g}" for v in (c, *a))]) + "\n")
    return buffer.getvalue()


def _unit_text(fit_result: PolyFit) -> str:
    return fit_result.units.replace("3/", "^3/")


# ---------------------------------------------------------------- the SPbU solver's own file
def spbu_file_name(process) -> str:
    """The name the SPbU solver opens for a pair: ``coefs_for_poly_FHO_FR_O2-Ar.dat``."""
    return f"coefs_for_poly_FHO_FR_{resolve(process).name}.dat"


def to_spbu(fit_result: PolyFit) -> str:
    """The SPbU solver's ``coefs_for_poly_FHO_FR_<M>-<partner>.dat``: numbers only, whitespace-separated.

    Row i is the transition i -> i-1 (i = 1..L), seven numbers c, a0 .. a5 (17 significant digits), so that
    k = exp(c * sum_j a_j T^(-j/3)). The rows must start at level 1: the solver finds a transition by its row.
    """
    levels = np.asarray(fit_result.levels, dtype=int)
    if levels.size == 0 or levels[0] != 1 or np.any(np.diff(levels) != 1):
        shown = f"{levels[0]}..{levels[-1]}" if levels.size else "none"
        raise KvtError(f"--layout spbu needs the transitions of levels 1, 2, ... in order (the solver reads row i as "
                       f"i -> i-1); the network is trained on levels {shown}; train on levels from 1 or use "
                       f"--layout csv, whose rows name their levels")
    rows = [" ".join(f"{v: .16e}" for v in (c, *a)) for c, a in zip(fit_result.c, fit_result.a)]
    return "\n".join(rows) + "\n"


def spbu_notes(fit_result: PolyFit, source: str, network=None, process=None, file_name: str | None = None) -> list[str]:
    """What the .dat file cannot say (the solver reads numbers only): printed by ``kvt export``."""
    t, levels = fit_result.temperatures, fit_result.levels
    spec = network.spec if network is not None else {}
    notes = [f"spbu layout: {levels.size} rows, row i = transition i -> i-1 (i = 1..{int(levels[-1])}), columns "
             f"c a0 a1 a2 a3 a4 a5 with k = exp(c * sum_j a_j T^(-j/3)), T in K, k in {_unit_text(fit_result)}; "
             f"no header (the solver reads numbers only)",
             f"fitted to {source} (pair {spec.get('pair')}, mode {spec.get('mode')}, dataset sha256 "
             f"{spec.get('dataset_sha256')}) at every {t[1] - t[0]:g} K; valid for {t.min():g} <= T <= {t.max():g} K "
             f"only (the trained range)"]
    if process is not None:
        expected = spbu_file_name(process)
        if file_name != expected:
            notes.append(f"the SPbU solver opens this file as {expected}")
        top = resolve(process).max_level
        if int(levels[-1]) < top:
            notes.append(f"note: the rows stop at level {int(levels[-1])}; {resolve(process).molecule.name} has "
                         f"levels up to {top}")
    return notes
