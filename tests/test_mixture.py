"""The VT + VV + VV' relaxation of a fixed-composition N2-O2 mixture (kvt.kinetics.mixture, kvt relax --mixture):
Σx = 1 per molecule, the end state Boltzmann(T), quanta conserved by VV and VV' alone, the pure gas as the limit of a
vanishing fraction, detailed balance of every process, τ of each molecule against an independent integration
written here (every reaction in both directions from the generators' functions, a quadratic tensor, Radau, no code
shared with kvt.kinetics), and the command's output and refusals."""

import io

import numpy as np
import pandas as pd
import pytest
from conftest import error_line, snapshot
from scipy import sparse
from scipy.integrate import solve_ivp

from kvt.cli import main
from kvt.kinetics import heat_bath, mixture, molecular_gas
from kvt.physics import fho, fho_vv, species
from kvt.physics.process import resolve

AIR = "N2:0.79,O2:0.21"
M = species.MOLECULES


@pytest.fixture(scope="module")
def heated():
    """Air heated from T_v0 300 K to 2000 K, with VT + VV + VV' and with VT alone."""
    T = np.array([2000.0])
    rates = mixture.generator_rates(AIR, T)
    return (rates, mixture.relax(AIR, rates, T, tv0=300.0), mixture.relax(AIR, rates, T, tv0=300.0, with_vv=False))


def test_the_fractions_sum_to_one_and_end_in_boltzmann(heated):
    _, gas, _ = heated
    for name, one in gas.molecules.items():
        times = np.geomspace(1e-12, one.ends_s[0], 80)
        assert np.abs(one.populations(times).sum(axis=2) - 1.0).max() < 1e-12, name
        end = one.populations(one.ends_s[:, None])[:, 0]
        assert np.abs(end - one.x_eq).max() < 1e-9, name
        assert np.abs(end[0] - fho_boltzmann(M[name], 2000.0)).max() < 1e-9, name


def fho_boltzmann(m, T):
    E = fho.level_energy_K(np.arange(m.max_level + 1), m)
    return np.exp(-E / T) / np.exp(-E / T).sum()


def test_vt_alone_is_each_molecule_in_the_mixtures_bath_solved_exactly(heated):
    """VT alone decouples the molecules: each relaxes with the mole-fraction-weighted rates, and the exact
    eigen-solution of kvt.kinetics.heat_bath (another method) gives the same τ."""
    _, _, alone = heated
    y = {"N2": 0.79, "O2": 0.21}
    for name in y:
        k = sum(y[c] * heat_bath.fho_rates(f"{name}-{c}", [2000.0]) for c in y)
        exact = heat_bath.relax(k, [2000.0], tv0=300.0, molecule=name).tau_s[0]
        assert alone.tau_s[name][0] == pytest.approx(exact, rel=1e-8), name


def test_vv_and_vv_prime_alone_conserve_the_quanta():
    T = np.array([1000.0])
    rates = mixture.generator_rates(AIR, T)
    gas = mixture.relax(AIR, rates, T, tv0=3000.0, with_vt=False)
    times = np.geomspace(1e-12, gas.ends_s[0], 50)
    quanta = sum(y * gas.molecules[name].populations(times)[0] @ np.arange(M[name].max_level + 1)
                 for name, y in (("N2", 0.79), ("O2", 0.21)))
    assert np.abs(quanta / quanta[0] - 1.0).max() < 1e-9
    # VV' moves quanta between the molecules: each one's own count changes by far more than the tolerance
    own = gas.molecules["O2"].populations(times)[0] @ np.arange(M["O2"].max_level + 1)
    assert np.abs(own / own[0] - 1.0).max() > 1e-2
    assert np.isnan(gas.tau_s["N2"]).all()


def test_a_vanishing_fraction_leaves_the_pure_gas():
    T, tv0 = np.array([2000.0]), 300.0
    rates = mixture.generator_rates({"N2": 1.0 - 1e-9, "O2": 1e-9}, T)
    gas = mixture.relax({"N2": 1.0 - 1e-9, "O2": 1e-9}, rates, T, tv0=tv0)
    pure = molecular_gas.relax(heat_bath.fho_rates("N2-N2", T), molecular_gas.fho_vv_rates(resolve("N2-N2", "vv"), T),
                               T, tv0=tv0, molecule="N2")
    assert gas.tau_s["N2"][0] == pytest.approx(pure.tau_s[0], rel=1e-7)
    # the trace of O2 relaxes in N2: VT on N2, VV' with N2, no VV with itself
    assert gas.tau_s["O2"][0] != pytest.approx(pure.tau_s[0], rel=0.1)


@pytest.mark.parametrize("composition", [AIR, "N2:0.78,O2:0.21,NO:0.01"])
def test_detailed_balance_of_every_process(composition):
    """At Boltzmann(T) of every molecule every VT transition and every VV and VV' exchange is balanced by its reverse,
    and kvt's reverse VV' rate is the generator's rate of the reverse exchange (the B-A table)."""
    T = np.array([500.0, 3000.0])
    mix = mixture.mixture(composition)
    equation = mixture.master_equation(mix, mixture.generator_rates(mix, T), T)
    for k, temperature in enumerate(T):
        current = equation(k)
        x = np.concatenate([fho_boltzmann(m, temperature) for m in mix.molecules])
        a, b = current.a, current.b
        gross = current.forward * x[a] * x[b]
        net = gross - current.reverse * x[a - 1] * x[b + 1]
        assert np.abs(net / gross).max() < 1e-12
        assert np.abs(current.vt @ x).max() < 1e-12 * np.abs(current.vt).max() * x.max()
        assert np.abs(current.rhs(0.0, x)).max() < 1e-12 * np.abs(current.vt).max()
        owner = np.concatenate([[n] * (m.max_level + 1) for n, m in enumerate(mix.molecules)])
        start = np.concatenate([[0], np.cumsum([m.max_level + 1 for m in mix.molecules])])
        between = owner[a] != owner[b]
        assert between.sum() == sum(m_a.max_level * m_b.max_level for m_a, m_b in mix.exchange_pairs())
        for giver, receiver in {(int(g), int(r)) for g, r in zip(owner[a][between], owner[b][between])}:
            chosen = between & (owner[a] == giver) & (owner[b] == receiver)
            i, j = a[chosen] - start[giver], b[chosen] - start[receiver]
            m_a, m_b = mix.molecules[giver], mix.molecules[receiver]
            assert f"{m_a.name}-{m_b.name}" in ("N2-O2", "N2-NO", "O2-NO")  # the giver first, as the bundled pairs
            generator = resolve(f"{m_b.name}-{m_a.name}", "vv'").rate_coefficient(j + 1, i - 1, temperature)
            np.testing.assert_allclose(current.reverse[chosen], generator, rtol=1e-12)


def test_the_order_of_the_species_does_not_matter_and_no_comes_along():
    T = np.array([2000.0])
    taus = [mixture.relax(c, mixture.generator_rates(c, T), T, tv0=300.0).tau_s
            for c in ("N2:0.78,O2:0.21,NO:0.01", "NO:0.01,O2:0.21,N2:0.78")]
    for name in ("N2", "O2", "NO"):
        assert taus[0][name][0] == pytest.approx(taus[1][name][0], rel=1e-9), name


# ---------------------------------------------------------------- an independent integration
def _independent(fractions, T, tv0, span):
    """Every reaction of the mixture in both directions, each with the generators' rate of that direction
    (fho_vv.exchange_rate, FHO-FR VT), as a linear matrix and a quadratic tensor; Radau with their Jacobian."""
    names = list(fractions)
    sizes = [M[n].max_level + 1 for n in names]
    start = dict(zip(names, np.cumsum([0] + sizes[:-1])))
    N = sum(sizes)
    n = 101325.0 / (fho.BOLTZMANN * T)
    E = {name: np.array([fho.level_energy_K(v, M[name]) for v in range(M[name].max_level + 1)]) for name in names}
    linear, quadratic = np.zeros((N, N)), np.zeros((N, N, N))
    for A in names:
        o = start[A]
        for C in names:
            kd = heat_bath.fho_rates(f"{A}-{C}", [T])[0]
            for v in range(1, M[A].max_level + 1):
                down = kd[v - 1] * n * fractions[C]
                up = down * np.exp(-(E[A][v] - E[A][v - 1]) / T)
                linear[o + v, o + v] -= down
                linear[o + v - 1, o + v] += down
                linear[o + v - 1, o + v - 1] -= up
                linear[o + v, o + v - 1] += up
        for B in names:  # every ordered pair: A(i) + B(j) -> A(i-1) + B(j+1), the reverse is a reaction of (B, A)
            i, j = (g.ravel() for g in np.meshgrid(np.arange(1, M[A].max_level + 1), np.arange(M[B].max_level),
                                                   indexing="ij"))
            k = fho_vv.exchange_rate(M[A], M[B], i, i - 1, j, j + 1, T)
            p, q = start[A] + i, start[B] + j
            for rows, scale in (([p, p - 1], fractions[B]), ([q, q + 1], fractions[A])):
                np.add.at(quadratic, (rows[0], p, q), -n * scale * k)
                np.add.at(quadratic, (rows[1], p, q), n * scale * k)
    flat = sparse.csr_matrix(quadratic.reshape(N, N * N))  # f_n = sum_pq Q_npq x_p x_q
    by_first = sparse.csr_matrix(quadratic.reshape(N * N, N))  # (n, p), q
    by_second = sparse.csr_matrix(quadratic.transpose(0, 2, 1).reshape(N * N, N))  # (n, q), p

    def rhs(t, x):
        return linear @ x + flat @ np.outer(x, x).ravel()

    def jacobian(t, x):
        return linear + (by_first @ x).reshape(N, N) + (by_second @ x).reshape(N, N)

    x0 = np.concatenate([np.exp(-E[nm] / tv0) / np.exp(-E[nm] / tv0).sum() for nm in names])
    solution = solve_ivp(rhs, (0.0, span), x0, method="Radau", jac=jacobian, rtol=1e-11, atol=1e-17,
                         dense_output=True)
    taus = {}
    for name in names:
        block = slice(start[name], start[name] + M[name].max_level + 1)
        x_eq = np.exp(-E[name] / T) / np.exp(-E[name] / T).sum()
        e_eq, e_0 = x_eq @ E[name], x0[block] @ E[name]
        lo, hi = 0.0, span
        for _ in range(90):  # bisection on the normalised energy
            mid = 0.5 * (lo + hi)
            above = (solution.sol(mid)[block] @ E[name] - e_eq) / (e_0 - e_eq) > np.exp(-1.0)
            lo, hi = (mid, hi) if above else (lo, mid)
        taus[name] = 0.5 * (lo + hi)
    return taus


def test_tau_of_each_molecule_equals_an_independent_integration(heated):
    _, gas, _ = heated
    reference = _independent({"N2": 0.79, "O2": 0.21}, 2000.0, 300.0, span=1e-3)
    for name in ("N2", "O2"):
        assert gas.tau_s[name][0] == pytest.approx(reference[name], rel=1e-6), name


# ---------------------------------------------------------------- the command
def test_relax_mixture_from_the_command_line(runner, tmp_path, heated):
    _, gas, alone = heated
    result = runner.invoke(main, ["relax", "--mixture", AIR, "--with-vv", "--temps", "2000", "--csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.output))
    assert list(table.columns) == ["T_K", "tau_N2_s", "tau_O2_s", "p_tau_N2_atm_s", "p_tau_O2_atm_s",
                                   "tau_vt_only_N2_s", "tau_vt_only_O2_s"]
    for name in ("N2", "O2"):
        assert table[f"tau_{name}_s"].iloc[0] == pytest.approx(gas.tau_s[name][0], rel=1e-12)
        assert table[f"tau_vt_only_{name}_s"].iloc[0] == pytest.approx(alone.tau_s[name][0], rel=1e-12)
    # heating: VV' hands O2's quanta on to N2, which then heats ~3.6x faster and O2 ~6 % slower than with VT alone
    assert 0.2 < table["tau_N2_s"].iloc[0] / table["tau_vt_only_N2_s"].iloc[0] < 0.35
    assert 1.0 < table["tau_O2_s"].iloc[0] / table["tau_vt_only_O2_s"].iloc[0] < 1.15
    folder = tmp_path / "air"
    written = runner.invoke(main, ["relax", "--mixture", AIR, "--with-vv", "--temps", "2000", "--out", str(folder)])
    assert written.exit_code == 0, written.output
    assert "tau_vt_only_O2_s" in written.stdout.splitlines()[1]
    tau = pd.read_csv(folder / "tau.csv")
    assert tau["tau_O2_s"].iloc[0] == pytest.approx(gas.tau_s["O2"][0], rel=1e-12)
    populations = pd.read_csv(folder / "populations.csv")
    assert set(populations["molecule"]) == {"N2", "O2"}
    assert (folder / "populations_N2.png").stat().st_size > 10000 and (folder / "energy.png").is_file()


@pytest.mark.parametrize("arguments, message", [
    (["--mixture", "N2:0.79,O2:0.2"],
     "Error: --mixture fractions sum to 0.99; mole fractions must sum to 1 (within 1e-06), e.g. N2:0.79,O2:0.21"),
    (["--mixture", "N2:0.79,Xe:0.21"],
     "Error: --mixture species 'Xe' is unknown; a mixture's species are the molecules O2, N2, NO"),
    (["--mixture", "N2:0.79,O:0.21"],
     "Error: --mixture species O is an atom, which does not vibrate; a mixture's species are the molecules O2, N2, "
     "NO"),
    (["--mixture", "N2:0.5,n2:0.5"], "Error: --mixture lists N2 twice; give each molecule once, e.g. N2:0.79,O2:0.21"),
    (["--mixture", "N2:1,O2:0"],
     "Error: --mixture fraction of O2 is 0; a mole fraction must be > 0 (leave out a molecule that is not there)"),
    (["--mixture", "N2:1.21,O2:-0.21"],
     "Error: --mixture fraction of O2 is -0.21; a mole fraction must be > 0 (leave out a molecule that is not there)"),
    (["--mixture", "N2=0.79,O2:0.21"],
     "Error: --mixture entry 'N2=0.79' is not SPECIES:FRACTION; give e.g. --mixture N2:0.79,O2:0.21 (mole fractions "
     "of O2, N2, NO)"),
    *[(["--mixture", AIR, flag, value], f"Error: --mixture takes no {flag}: the FHO generators give every rate of the "
                                         f"mixture (--pair, --process, --run, --table, --vv-run, --vv-table and "
                                         f"--reference are "
                                         f"for a pure gas)")
      for flag, value in (("--pair", "O2-O2"), ("--run", "runs/o2"), ("--table", "t.csv"), ("--reference", "fho"),
                          ("--vv-run", "runs/o2-vv"), ("--vv-table", "o2-vv.csv"), ("--process", "vv"))],
])
def test_refusals_are_one_line_and_write_nothing(runner, tmp_path, arguments, message):
    before = snapshot(tmp_path)
    result = runner.invoke(main, ["relax", *arguments, "--with-vv", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and error_line(result) == message
    assert snapshot(tmp_path) == before


def test_a_mixture_needs_with_vv(runner):
    result = runner.invoke(main, ["relax", "--mixture", AIR])
    assert error_line(result) == ("Error: --mixture relaxes a mixture by VT, VV and VV' exchange together; add "
                                  "--with-vv (VT alone is beside it, tau_vt_only_<molecule>_s)")
