"""Detailed balance and heat-bath relaxation against independent references."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from kvt import KvtError
from kvt.kinetics import heat_bath
from kvt.physics import fho

# p tau in atm s for FHO-FR rates, T_v0 = 300 K (5 significant digits), at 500, 1000, 2000, 5000, 10000 K.
REFERENCE_P_TAU = {
    "O2-O2": [4.5247e-3, 1.2345e-4, 5.8836e-6, 4.6056e-7, 4.0087e-7],
    "O2-O": [2.2706e-4, 1.2824e-5, 1.1149e-6, 1.7328e-7, 2.4828e-7],
    "O2-Ar": [1.1851e-2, 2.6322e-4, 1.0499e-5, 5.9589e-7, 4.1587e-7],
}
TEMPS = np.array([500.0, 1000.0, 2000.0, 5000.0, 10000.0])


def energies():
    theta_e, theta_x = 1.4388e-2 * 158019.0, 1.4388e-2 * 1198.0
    n = np.arange(36)
    return theta_e * n - theta_x * n * (n + 1)


def test_excitation_rates_obey_detailed_balance():
    temps = np.geomspace(250, 20000, 30)
    k_down = heat_bath.fho_rates("O2-O", temps)
    k_up = heat_bath.excitation_rates(k_down, np.arange(1, 36)[None, :], temps[:, None])
    e = energies()
    np.testing.assert_allclose(k_up / k_down, np.exp(-(e[1:] - e[:-1])[None, :] / temps[:, None]), rtol=1e-12)


@pytest.mark.parametrize("pair", sorted(REFERENCE_P_TAU))
def test_relaxation_time_matches_the_reference_table(pair):
    solution = heat_bath.relax(heat_bath.fho_rates(pair, TEMPS), TEMPS)
    np.testing.assert_allclose(solution.p_tau_atm_s, REFERENCE_P_TAU[pair], rtol=1e-4)


def test_populations_conserve_probability_and_reach_boltzmann():
    temps = np.array([250.0, 500.0, 3000.0, 10000.0, 20000.0])
    solution = heat_bath.relax(heat_bath.fho_rates("O2-O2", temps), temps, tv0=300.0)
    times = solution.tau_s[:, None] * np.array([0.0, 1e-3, 0.1, 1.0, 10.0, 1e3, 1e6])
    x = solution.populations(times)
    np.testing.assert_allclose(x.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    boltzmann = np.exp(-energies()[None, :] / temps[:, None])
    boltzmann /= boltzmann.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(x[:, -1, :], boltzmann, rtol=0, atol=1e-9)
    initial = np.exp(-energies() / 300.0)
    np.testing.assert_allclose(x[:, 0, :], np.broadcast_to(initial / initial.sum(), x[:, 0, :].shape), atol=1e-12)


def test_scaling_every_rate_scales_tau_inversely():
    k = heat_bath.fho_rates("O2-Ar", TEMPS)
    tau = heat_bath.relax(k, TEMPS).tau_s
    tau_scaled = heat_bath.relax(1.01 * k, TEMPS).tau_s
    np.testing.assert_allclose(tau_scaled, tau / 1.01, rtol=1e-9)


def test_pressure_scales_tau_but_not_p_tau():
    k = heat_bath.fho_rates("O2-Ar", TEMPS)
    one, ten = heat_bath.relax(k, TEMPS, pressure_atm=1.0), heat_bath.relax(k, TEMPS, pressure_atm=10.0)
    np.testing.assert_allclose(ten.tau_s, one.tau_s / 10, rtol=1e-9)
    np.testing.assert_allclose(ten.p_tau_atm_s, one.p_tau_atm_s, rtol=1e-9)


def radau_tau(k_down, T, tv0=300.0, pressure_atm=1.0):
    """tau from the master equation integrated with scipy's Radau, written out term by term."""
    e = energies()
    k_up = k_down * np.exp(-(e[1:] - e[:-1]) / T)
    n_m = pressure_atm * 101325.0 / (1.3807e-23 * T)
    L = len(k_down)

    def kd(n):
        return k_down[n - 1] if 1 <= n <= L else 0.0

    def ku(n):
        return k_up[n - 1] if 1 <= n <= L else 0.0

    K = np.zeros((L + 1, L + 1))
    for n in range(L + 1):
        if n + 1 <= L:
            K[n, n + 1] += kd(n + 1)
        if n - 1 >= 0:
            K[n, n - 1] += ku(n)
        K[n, n] -= kd(n) + ku(n + 1)
    K *= n_m
    x0 = np.exp(-e / tv0)
    x0 /= x0.sum()
    x_eq = np.exp(-e / T)
    x_eq /= x_eq.sum()
    e0, e_eq = e @ x0, e @ x_eq
    # A first guess of tau from the slowest non-zero eigenvalue bounds the integration.
    horizon = 50.0 / np.sort(np.abs(np.linalg.eigvals(K)))[1]
    sol = solve_ivp(lambda t, x: K @ x, (0, horizon), x0, method="Radau", jac=K, rtol=1e-12, atol=1e-20,
                    dense_output=True)
    target = lambda t: (e @ sol.sol(t) - e_eq) / (e0 - e_eq) - np.exp(-1)  # noqa: E731
    times = sol.t
    first = np.flatnonzero([target(t) <= 0 for t in times])[0]
    return brentq(target, times[first - 1], times[first], xtol=1e-30, rtol=1e-14)


@pytest.mark.parametrize("T", [1000.0, 5000.0])
def test_exact_solution_equals_an_implicit_ode_integration(T):
    k = heat_bath.fho_rates("O2-Ar", [T])
    exact = heat_bath.relax(k, [T]).tau_s[0]
    assert exact == pytest.approx(radau_tau(k[0], T), rel=1e-6)


def test_compare_with_itself_is_zero_and_detects_a_scaled_rate_set():
    k = heat_bath.fho_rates("O2-O2", TEMPS)
    reference = heat_bath.relax(k, TEMPS)
    same = heat_bath.compare(heat_bath.relax(k, TEMPS), reference)
    assert np.all(same["tau_rel_err"] == 0) and np.all(same["ev_max_dev"] < 1e-12)
    scaled = heat_bath.compare(heat_bath.relax(k * 1.1, TEMPS), reference)
    np.testing.assert_allclose(scaled["tau_rel_err"], 1 / 1.1 - 1, rtol=1e-8)
    # Faster rates make E_v(t) lead the reference: f(t) vs f(1.1 t), at most about 0.1/e apart.
    assert np.all((scaled["ev_max_dev"] > 0.02) & (scaled["ev_max_dev"] < 0.05))


@pytest.mark.parametrize("change, message", [
    (dict(tv0=1000.0), "--tv0 1000 K equals a bath temperature; relaxation needs a T_v0 different from every "
                       "bath temperature"),
    (dict(tv0=1000.5), "--tv0 1000.5 K is within 0.1 % of the bath temperature 1000 K; the energy that relaxes is "
                       "then lost in rounding; use a T_v0 further from every bath temperature"),
    (dict(pressure_atm=0.0), "--pressure must be a number > 0 (atm), got 0"),
    (dict(pressure_atm=-1.0), "--pressure must be a number > 0 (atm), got -1"),
    (dict(tv0=20000.0), "--tv0 20000 K is too far above the bath temperature 500 K for the exact solution in "
                        "double precision; use a lower T_v0 (up to about 2-3 times T works), or integrate the master "
                        "equation (kvt.reports.relax.run does)"),
])
def test_bad_conditions(change, message):
    with pytest.raises(KvtError) as info:
        heat_bath.relax(heat_bath.fho_rates("O2-O2", TEMPS), TEMPS, **change)
    assert str(info.value) == message


def test_non_positive_rates_are_refused_with_transitions_and_temperatures():
    k = heat_bath.fho_rates("O2-O2", TEMPS)
    k[1, 34] = -1e-20
    k[3, 0] = 0.0
    with pytest.raises(KvtError) as info:
        heat_bath.relax(k, TEMPS)
    assert str(info.value) == ("cannot relax: 2 rate(s) are <= 0 or not finite: transitions 1->0, 35->34 at "
                               "1000, 5000 K; a master equation needs k > 0 (kvt train --mode accurate avoids "
                               "non-positive rates)")


def test_millikan_white_formula():
    # O2-Ar: mu = 32 * 39.948 / 71.948 amu; A and B by hand.
    mu = 32 * 39.948 / 71.948
    a, b = 1.16e-3 * mu**0.5 * 2270 ** (4 / 3), 0.015 * mu**0.25
    expected = np.exp(a * (TEMPS ** (-1 / 3) - b) - 18.42)
    np.testing.assert_allclose(heat_bath.millikan_white_p_tau(TEMPS, fho.SPECIES["Ar"]), expected, rtol=1e-14)
