"""`kvt export --format cantera`: Cantera itself loads what kvt wrote and is compared with kvt.

One module-scoped fixture trains three tiny accurate-mode runs on the bundled O2-Ar, O2-O2 and O2-O data (a few
epochs: the mechanism is compared with the network, not with FHO-FR). Cantera then

* loads the mechanism of all three runs (the partner levels of O2-O2 as species), and its forward rate
  constants equal each network's k times Avogadro's number per kmol within the tolerance the file states, at
  every 5 K of the trained range; its reverse/forward ratios equal exp(-(E(i) - E(i-1)) / T) with kvt's
  level energies to 1e-12;
* integrates a constant-temperature reactor (energy off) from a 300 K Boltzmann distribution, whose
  relaxation time of the vibrational energy equals kvt's exact heat-bath tau (kvt.kinetics.heat_bath) within
  0.1 % at 500-10000 K, for O2-Ar and for O2-O2 (pure O2: the partner is the level-resolved molecule).
"""

import re

import numpy as np
import pytest
from conftest import cantera_reactor_tau, error_line

from kvt.cli import main
from kvt.kinetics import heat_bath
from kvt.physics import fho
from kvt.runs.folder import open_run

ct = pytest.importorskip("cantera")

N = 35  # O2 transitions 1 -> 0 .. 35 -> 34; every run here is trained on all of them
GRID = np.arange(250.0, 10000.0 + 1, 5.0)  # every 5 K of the trained range, rebuilt independently
AVOGADRO_PER_KMOL = 6.02214076e26  # exact (2019 SI)
ENERGIES = fho.level_energy_K(np.arange(N + 1))
LEVELS = [f"O2(v{n})" for n in range(N + 1)]


def _train(runner, root, pair):
    out = root / pair
    result = runner.invoke(main, ["train", "--pair", pair, "--mode", "accurate", "--epochs", "20",
                                  "--finish-iterations", "10", "--units", "8", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("cantera_runs")
    runner = CliRunner()
    return {pair: _train(runner, root, pair) for pair in ("O2-Ar", "O2-O2", "O2-O")}


def _export(runner, out, *runs, extra=()):
    args = ["export", "--format", "cantera", "-o", str(out), *extra]
    for run in runs:
        args += ["--run", str(run)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def mechanisms(runs, tmp_path_factory):
    from click.testing import CliRunner

    folder, runner = tmp_path_factory.mktemp("mechanisms"), CliRunner()
    printed = {}
    for name, members in (("all", ("O2-Ar", "O2-O2", "O2-O")), ("ar", ("O2-Ar",)), ("o2", ("O2-O2",))):
        printed[name] = _export(runner, folder / f"{name}.yaml", *(runs[p] for p in members)).stdout
    return folder, printed


def _network_k(run, temps):
    network = open_run(run).network
    levels = np.arange(1, N + 1)
    return network.predict_k(np.repeat(levels, temps.size), np.tile(temps, N)).reshape(N, temps.size)


def test_the_mechanism_loads_and_its_rates_are_the_networks_in_kmol_units(runs, mechanisms):
    folder, printed = mechanisms
    text = (folder / "all.yaml").read_text()
    gas = ct.Solution(str(folder / "all.yaml"))
    assert gas.species_names == [*LEVELS, "Ar", "O"]
    assert gas.n_reactions == N + N * (N + 1) + N  # O2-Ar, O2-O2 (one per partner level), O2-O
    for index, reactants, products in ((0, {"O2(v1)": 1, "Ar": 1}, {"O2(v0)": 1, "Ar": 1}),
                                       (N + (N + 1) * 4 + 7, {"O2(v5)": 1, "O2(v7)": 1}, {"O2(v4)": 1, "O2(v7)": 1}),
                                       (N + (N + 1) * 4 + 5, {"O2(v5)": 2}, {"O2(v4)": 1, "O2(v5)": 1}),
                                       (gas.n_reactions - 1, {"O2(v35)": 1, "O": 1}, {"O2(v34)": 1, "O": 1})):
        reaction = gas.reaction(index)
        assert (reaction.reactants, reaction.products, reaction.reversible) == (reactants, products, True)
        assert reaction.rate.type == "Chebyshev" and reaction.rate.temperature_range == (250.0, 10000.0)
    # the header: runs, the tolerance reached, the trained range, kvt's version; units stated once
    header = [line for line in text.splitlines() if line.startswith("#")][:8]
    stated = float(re.search(r"max relative deviation from the network (\S+)", text).group(1))
    assert header[0].startswith("# kvt 0.1.0 cantera:")
    for pair in ("O2-Ar", "O2-O2", "O2-O"):
        assert any(f"run directory {runs[pair]}: {pair} VT, mode accurate" in line for line in header)
    assert "tolerance 0.0001 reached" in text and "valid for 250 <= T <= 10000 K only" in text
    assert len(re.findall(r"^units:", text, re.M)) == 1 and "k in m^3/(kmol s)" in text
    assert 0 < stated <= 1e-4
    # every 5 K: forward = network k x N_A, reverse / forward = exact detailed balance
    expected = {pair: _network_k(runs[pair], GRID) * AVOGADRO_PER_KMOL for pair in runs}
    balance = np.exp(-(ENERGIES[1:] - ENERGIES[:-1])[:, None] / GRID[None, :])  # (N, nT)
    forward = np.empty((gas.n_reactions, GRID.size))
    ratio = np.empty_like(forward)
    for column, T in enumerate(GRID):
        gas.TP = T, ct.one_atm
        forward[:, column] = gas.forward_rate_constants
        ratio[:, column] = gas.reverse_rate_constants / gas.forward_rate_constants
    blocks = {"O2-Ar": forward[:N], "O2-O": forward[-N:],
              "O2-O2": forward[N:-N].reshape(N, N + 1, GRID.size)}
    deviation = {pair: np.abs(block / (expected[pair][:, None, :] if block.ndim == 3 else expected[pair]) - 1).max()
                 for pair, block in blocks.items()}
    assert max(deviation.values()) == pytest.approx(stated, rel=1e-2)  # the header rounds to 3 digits
    assert max(deviation.values()) <= 1e-4 * (1 + 1e-9)
    for pair in runs:  # what kvt printed for each run is what Cantera gives
        match = re.search(rf"{pair} VT: .* max relative deviation from the network (\S+)", printed["all"])
        assert deviation[pair] == pytest.approx(float(match.group(1)), rel=1e-2)
    ratios = np.concatenate([ratio[:N], ratio[-N:], ratio[N:-N].reshape(N, N + 1, -1).transpose(1, 0, 2).reshape(-1, GRID.size)])
    np.testing.assert_allclose(ratios, np.tile(balance, (N + 3, 1)), rtol=1e-12, atol=0)


def _cantera_tau(gas, T, x_molecule, partner):
    """tau of a constant-T, constant-V reactor (energy off) started from a 300 K Boltzmann distribution of O2's
    levels at mole fraction ``x_molecule`` in ``partner`` (None: pure O2); and the partner's concentration."""
    start = heat_bath.boltzmann_fractions(ENERGIES, [300.0])[0]
    composition = {name: x_molecule * x for name, x in zip(LEVELS, start)}
    if partner:
        composition[partner] = 1.0 - x_molecule
    tau, concentrations = cantera_reactor_tau(gas, T, composition, LEVELS, ENERGIES, start @ ENERGIES)
    index = [gas.species_index(name) for name in ([partner] if partner else LEVELS)]
    return tau, concentrations[index].sum()


@pytest.mark.parametrize("pair, partner, x_molecule", [("O2-Ar", "Ar", 1e-3), ("O2-O2", None, 1.0)])
def test_a_constant_temperature_reactor_reproduces_the_heat_bath_tau(runs, mechanisms, pair, partner, x_molecule):
    """kvt's heat bath has the molecule dilute in partner density n_M; Cantera's reactor the same, with n_M the
    partner's concentration times N_A (for O2-O2 every O2 molecule is a partner, whatever its level)."""
    folder, _ = mechanisms
    gas = ct.Solution(str(folder / ("ar.yaml" if pair == "O2-Ar" else "o2.yaml")))
    network = open_run(runs[pair]).network
    for T in (500.0, 2000.0, 10000.0):
        tau, partner_c = _cantera_tau(gas, T, x_molecule, partner)
        pressure_atm = partner_c * AVOGADRO_PER_KMOL * fho.BOLTZMANN * T / heat_bath.ATMOSPHERE_PA  # same n_M
        exact = heat_bath.relax(heat_bath.network_rates(network, [T]), [T], tv0=300.0,
                                pressure_atm=pressure_atm).tau_s[0]
        print(f"{pair} {T:g} K: tau Cantera / kvt heat bath - 1 = {tau / exact - 1:+.2e}")
        assert tau == pytest.approx(exact, rel=1e-3), (T, tau / exact - 1)


def test_the_tolerance_sets_the_terms(runs, tmp_path, runner):
    loose, tight = tmp_path / "loose.yaml", tmp_path / "tight.yaml"
    printed = {}
    for out, tolerance in ((loose, "1e-3"), (tight, "1e-6")):
        printed[out] = _export(runner, out, runs["O2-Ar"], extra=("--tolerance", tolerance)).stdout
    terms = {out: [len(re.findall(r"\[", line)) for line in re.findall(r"data: &.*?(?=\n- |\n# |\Z)",
                                                                        out.read_text(), re.S)] for out in printed}
    assert sum(terms[tight]) > sum(terms[loose])
    for out, tolerance in ((loose, 1e-3), (tight, 1e-6)):
        gas = ct.Solution(str(out))
        k = np.empty((N, GRID.size))
        for column, T in enumerate(GRID):
            gas.TP = T, ct.one_atm
            k[:, column] = gas.forward_rate_constants
        assert np.abs(k / (_network_k(runs["O2-Ar"], GRID) * AVOGADRO_PER_KMOL) - 1).max() <= tolerance * (1 + 1e-9)


def test_bad_input_is_one_error_line_and_nothing_written(runs, tmp_path, runner):
    out = tmp_path / "m.yaml"
    cases = [
        (["--run", runs["O2-Ar"], "--units", "cm3/s"],
         "--units applies to --format csv, c-header, fortran and fho-poly, not cantera (a Cantera mechanism has "
         "fixed units: k in m^3/(kmol s))"),
        (["--run", runs["O2-Ar"], "--tolerance", "1e-14"], None),
        (["--run", runs["O2-Ar"], "--tolerance", "2"],
         "--tolerance must be a relative deviation between 0 and 1, got 2"),
        (["--run", runs["O2-Ar"], "--run", runs["O2-Ar"]],
         f"run directory {runs['O2-Ar']} and run directory {runs['O2-Ar']} are both O2-Ar VT; a mechanism takes one "
         f"run per process (two would give every reaction twice)"),
    ]
    for args, message in cases:
        result = runner.invoke(main, ["export", "--format", "cantera", "-o", str(out), *map(str, args)])
        line = error_line(result)
        if message is None:  # unreachable: says what the most terms reach, and what to ask for
            assert re.fullmatch(r"Error: --tolerance 1e-14 is not reachable: 96 Chebyshev terms in reduced 1/T \(the "
                                r"most kvt fits\) leave transition \d+ -> \d+ up to (\S+) from the network; give "
                                r"--tolerance \S+ or more", line), line
        else:
            assert line == f"Error: {message}"
        assert not out.exists()
    for args, message in ((["--format", "csv", "--kernel", "chebyshev"],
                           "--kernel applies to --format c-header and fortran, not csv"),
                          (["--format", "fho-poly", "--run", runs["O2-O"]],
                           "--format fho-poly takes one --run, got 2; several runs make one file only with --format "
                           "cantera")):
        result = runner.invoke(main, ["export", "--run", str(runs["O2-Ar"]), "-o", str(out), *map(str, args)])
        assert error_line(result) == f"Error: {message}"
        assert not out.exists()
