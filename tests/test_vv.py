"""VV and VV' exchange: the generator against the specification's values, exact detailed balance, the bundled
tables, tables read back in every layout and unit kvt writes, and the VT+VV relaxation of a pure gas against an
independent integration written here (loops, another integrator, no code shared with kvt.kinetics)."""

import io

import numpy as np
import pandas as pd
import pytest
from conftest import error_line
from scipy.integrate import solve_ivp

from kvt.cli import main
from kvt.data import datasets, exchange
from kvt.kinetics import heat_bath, molecular_gas
from kvt.physics import fho, fho_vv, species
from kvt.physics.process import EXCHANGE_PAIRS, resolve

M = species.MOLECULES
ALL_EXCHANGE = [(name, kind) for kind, names in EXCHANGE_PAIRS.items() for name in names]


@pytest.mark.parametrize("a, i1, f1, b, i2, f2, T, expected", [
    ("O2", 1, 0, "O2", 0, 1, 1000, 1.305802376059604e-19),
    ("O2", 20, 19, "O2", 5, 6, 3000, 3.520989320563017e-17),
    ("N2", 10, 9, "N2", 0, 1, 500, 4.946734926786465e-20),
    ("N2", 12, 11, "O2", 3, 4, 2000, 2.177336788135871e-18),
    ("NO", 5, 4, "NO", 30, 31, 8000, 7.839747099648212e-17)])
def test_the_formula_gives_the_specification_values(a, i1, f1, b, i2, f2, T, expected):
    assert fho_vv.symmetric_rate(M[a], M[b], i1, f1, i2, f2, T) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name, kind", ALL_EXCHANGE)
def test_exact_detailed_balance_and_the_exothermic_convention(name, kind):
    p = resolve(name, kind)
    (a_levels, b_levels), T = p.levels, np.array([250.0, 1000.0, 10000.0])
    i, j, t = (v.ravel() for v in np.meshgrid(a_levels, b_levels, T, indexing="ij"))
    a, b = p.molecule_a, p.molecule_b
    forward = fho_vv.exchange_rate(a, b, i, i - 1, j, j + 1, t)
    backward = fho_vv.exchange_rate(a, b, i - 1, i, j + 1, j, t)
    released = (fho.level_energy_K(i, a) - fho.level_energy_K(i - 1, a)) + (
        fho.level_energy_K(j, b) - fho.level_energy_K(j + 1, b))
    np.testing.assert_allclose(backward, forward * np.exp(-released / t), rtol=1e-12)
    formula = fho_vv.symmetric_rate(a, b, i, i - 1, j, j + 1, t)
    exothermic = released >= 0
    np.testing.assert_array_equal(forward[exothermic], formula[exothermic])  # the formula where it is exothermic
    np.testing.assert_array_equal(np.maximum(forward, backward), formula)  # and in the other direction otherwise
    np.testing.assert_allclose(p.rate_coefficient(i, j, t), forward, rtol=0)


@pytest.mark.parametrize("name, kind", ALL_EXCHANGE)
def test_bundled_tables_are_the_generator_byte_for_byte(name, kind):
    p = resolve(name, kind)
    path = datasets.bundled_path(p)
    text = path.read_text()
    version = text.split()[2]  # "# kvt <version> FHO ..."
    assert text == exchange.bundled_text(p, version=version)
    dataset = datasets.load_dataset(p, exchange_tables=True)
    a_levels, b_levels = p.levels
    assert len(dataset.frame) == len(a_levels) * len(b_levels) * 15 and dataset.process == p


def test_every_layout_and_unit_reads_back(runner, tmp_path):
    p = resolve("N2-O2", "vv'")
    frame = exchange.grid(p, [1, 2, 46], [0, 3, 34], [300.0, 2000.0])
    for direction in ("down", "up", "both"):
        for units in ("m3/s", "cm3/s"):
            path = tmp_path / f"{direction}-{units.replace('/', '_')}.csv"
            path.write_text(exchange.table_text(p, frame, direction, units))
            table, _ = datasets.read_table(path)
            assert table.process == p and table.units == units and table.direction == direction
            read = table.frame.sort_values(["level_a", "level_b", "T_K"]).reset_index(drop=True)
            np.testing.assert_allclose(read["k_m3_s"], frame["k_m3_s"], rtol=1e-15)
            assert read[["level_a", "level_b", "T_K"]].equals(frame[["level_a", "level_b", "T_K"]])
    # a table in cm^3/s whose column says m^3/s is caught, not used
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(exchange.table_text(p, frame, "down", "cm3/s").replace("k_cm3_s", "k_m3_s")
                     .replace("k in cm^3/s", "k in m^3/s"))
    result = runner.invoke(main, ["data", "info", "--file", str(wrong)])
    assert result.exit_code == 1 and "m^3/s is above 1e-13 m^3/s, far above any VV rate coefficient" in \
        error_line(result)


def test_generate_writes_what_the_generator_gives(runner):
    result = runner.invoke(main, ["data", "generate", "--pair", "o2-o2", "--process", "vv", "--levels", "1,20",
                                  "--levels-b", "0,5", "--temps", "1000,3000"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.output), comment="#")
    assert list(table.columns) == ["level_a", "level_b", "T_K", "k_m3_s"] and len(table) == 8
    expected = resolve("O2-O2", "vv").rate_coefficient(table["level_a"], table["level_b"], table["T_K"])
    np.testing.assert_array_equal(table["k_m3_s"].to_numpy(), expected)
    assert "# pair: O2-O2; process: vv" in result.output


@pytest.mark.parametrize("command, message", [
    (["data", "generate", "--pair", "O2-O2", "--process", "vv", "--levels-b", "35"],
     "Error: level 35 is out of range; O2 level_b is 0..34"),
    (["data", "generate", "--pair", "O2-Ar", "--process", "vv"],
     "Error: --process vv is the exchange of one molecule with itself (O2-O2, N2-N2, NO-NO), not O2-Ar "
     "(Ar is an atom: vt only)"),
    (["data", "generate", "--pair", "O2-O2", "--process", "vv'"],
     "Error: --process vv' is the exchange between two molecules (N2-O2, N2-NO, O2-NO, either order), not O2-O2; "
     "of one molecule with itself it is --process vv"),
    (["tune", "--pair", "O2-O2", "--process", "vv", "--out", "x"],
     "Error: kvt tune --process vv is not built yet; kvt tune takes --process vt"),
    (["relax", "--pair", "O2-Ar", "--with-vv"],
     "Error: --with-vv relaxes a pure molecular gas, its own collision partner: --pair O2-O2, N2-N2, NO-NO, "
     "not O2-Ar"),
])
def test_refusals_are_one_line(runner, command, message):
    result = runner.invoke(main, command)
    assert result.exit_code == 1 and error_line(result) == message


def test_a_vv_table_is_refused_where_vt_rates_are_needed(runner, tmp_path):
    table = tmp_path / "vv.csv"
    p = resolve("O2-O2", "vv")
    table.write_text(exchange.table_text(p, exchange.grid(p, temperatures=[500.0, 1000.0])))
    tuned = runner.invoke(main, ["tune", "--data", str(table), "--epochs", "1", "--out", str(tmp_path / "t")])
    assert error_line(tuned) == f"Error: {table} is a vv table (O2-O2 VV); this command takes VT tables " \
                                f"(level,T_K,k_m3_s); kvt train learns VV and VV' tables too"
    relaxed = runner.invoke(main, ["relax", "--table", str(table), "--temps", "500"])
    assert error_line(relaxed) == f"Error: {table} is a vv table (O2-O2 VV); kvt relax --table takes VT rates " \
                                  f"(level,T_K,k_m3_s), a VV table goes to --vv-table with --with-vv"


# ---------------------------------------------------------------- the VT + VV master equation
def _rates(pair, T):
    p = resolve(pair, "vv")
    return heat_bath.fho_rates(pair, T), molecular_gas.fho_vv_rates(p, T), p.molecule


def _independent_tau(pair, T, tv0):
    """The master equation written out term by term, integrated by Radau with a finite-difference Jacobian."""
    k_vt, k_vv, m = _rates(pair, np.array([T]))
    L = m.max_level
    E = np.array([fho.level_energy_K(n, m) for n in range(L + 1)], dtype=float)
    kd = k_vt[0]
    ku = kd * np.exp(-(E[1:] - E[:-1]) / T)
    density = 101325.0 / (fho.BOLTZMANN * T)
    pairs = np.array([(i, j) for i in range(1, L) for j in range(i, L)])
    i, j = pairs[:, 0], pairs[:, 1]
    k = k_vv[0, i - 1, j]
    kr = k * np.exp(-((E[i] - E[i - 1]) + (E[j] - E[j + 1])) / T)

    def rhs(t, x):
        flow = kd * x[1:] - ku * x[:-1]  # net n -> n-1 of each VT transition
        dx = np.zeros(L + 1)
        dx[1:] -= flow
        dx[:-1] += flow
        w = k * x[i] * x[j] - kr * x[i - 1] * x[j + 1]
        for levels, sign in ((i, -1.0), (i - 1, 1.0), (j, -1.0), (j + 1, 1.0)):
            dx += sign * np.bincount(levels, w, minlength=L + 1)
        return density * dx

    x0 = np.exp(-E / tv0) / np.exp(-E / tv0).sum()
    x_eq = np.exp(-E / T) / np.exp(-E / T).sum()
    span = 1e-4
    solution = solve_ivp(rhs, (0.0, span), x0, method="Radau", rtol=1e-11, atol=1e-17, dense_output=True)
    e_eq, e_0 = x_eq @ E, x0 @ E
    lo, hi = 0.0, span
    for _ in range(80):  # bisection on the normalised energy, which falls from 1 to 0
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if (solution.sol(mid) @ E - e_eq) / (e_0 - e_eq) > np.exp(-1.0) else (lo, mid)
    return 0.5 * (lo + hi)


def test_tau_equals_an_independent_integration():
    T, tv0 = 2000.0, 300.0
    k_vt, k_vv, m = _rates("O2-O2", np.array([T]))
    tau = molecular_gas.relax(k_vt, k_vv, [T], tv0=tv0, molecule=m).tau_s[0]
    assert tau == pytest.approx(_independent_tau("O2-O2", T, tv0), rel=1e-6)


@pytest.mark.parametrize("pair", EXCHANGE_PAIRS["vv"])
def test_the_populations_sum_to_one_and_end_in_boltzmann(pair):
    T = np.array([2000.0, 5000.0])
    k_vt, k_vv, m = _rates(pair, T)
    gas = molecular_gas.relax(k_vt, k_vv, T, tv0=300.0, molecule=m)
    times = np.geomspace(1e-12, gas.ends_s.min(), 60)
    assert np.abs(gas.populations(times).sum(axis=2) - 1.0).max() < 1e-12
    end = gas.populations(gas.ends_s[:, None] * np.ones((1, 1)))[:, 0]
    assert np.abs(end - gas.x_eq).max() < 1e-9
    # VT alone through the same integration is the exact eigen-solution of kvt.kinetics.heat_bath
    vt_only = molecular_gas.relax(k_vt, k_vv, T, tv0=300.0, molecule=m, with_vv=False)
    np.testing.assert_allclose(vt_only.tau_s, heat_bath.relax(k_vt, T, tv0=300.0, molecule=m).tau_s, rtol=1e-8)


def test_vv_alone_conserves_quanta_and_ends_in_a_treanor_distribution():
    T = np.array([2000.0])
    k_vt, k_vv, m = _rates("N2-N2", T)
    gas = molecular_gas.relax(k_vt, k_vv, T, tv0=500.0, molecule=m, with_vt=False)
    n = np.arange(m.max_level + 1)
    x = gas.populations(np.geomspace(1e-12, gas.ends_s[0], 40))[0]
    quanta = x @ n
    assert np.abs(quanta / quanta[0] - 1.0).max() < 1e-9
    # Treanor: ln x_n = c - n E(1) / T_1 - (E(n) - n E(1)) / T, linear in n after the anharmonic term is removed
    end, E = x[-1], gas.energies_K
    kept = end > 1e-12
    y = np.log(end[kept]) + (E[kept] - n[kept] * E[1]) / T[0]
    fit = np.polyfit(n[kept], y, 1)
    assert np.abs(np.polyval(fit, n[kept]) - y).max() < 1e-7
    assert -E[1] / fit[0] < T[0]  # the first level's temperature T_1 stays below the gas's: no VT, no heating


def test_relax_with_vv_from_the_command_line(runner, tmp_path):
    result = runner.invoke(main, ["relax", "--pair", "O2-O2", "--with-vv", "--temps", "1000", "--tv0", "4000",
                                  "--csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.output))
    assert list(table.columns) == ["T_K", "tau_s", "p_tau_atm_s", "tau_vt_only_s"]  # the printed table's, less MW
    k_vt, k_vv, m = _rates("O2-O2", np.array([1000.0]))
    with_vv = molecular_gas.relax(k_vt, k_vv, [1000.0], tv0=4000.0, molecule=m).tau_s[0]
    vt_alone = molecular_gas.relax(k_vt, k_vv, [1000.0], tv0=4000.0, molecule=m, with_vv=False).tau_s[0]
    assert table["tau_s"].iloc[0] == pytest.approx(with_vv, rel=1e-12)
    assert table["tau_vt_only_s"].iloc[0] == pytest.approx(vt_alone, rel=1e-12)
    assert 0.75 < with_vv / vt_alone < 0.82  # cooling: VV shortens tau by about a fifth
    folder = tmp_path / "relax"
    written = runner.invoke(main, ["relax", "--pair", "O2-O2", "--with-vv", "--temps", "1000", "--tv0", "4000",
                                   "--reference", "fho", "--out", str(folder)])
    assert written.exit_code == 0, written.output
    tau = pd.read_csv(folder / "tau.csv")
    assert {"tau_vt_only_s", "pop_max_rel_dev"} <= set(tau.columns)
    assert tau["tau_vt_only_s"].iloc[0] == pytest.approx(vt_alone, rel=1e-12)
    assert (folder / "populations.png").stat().st_size > 10000
