"""`kvt export --format cantera` of VV and VV' runs: Cantera itself loads what kvt wrote and is compared with kvt.

One module-scoped fixture trains two tiny accurate-mode runs (a few epochs: the mechanism is compared with the
networks, not with the generator): O2-O2 VT on the bundled data (250-10000 K) and O2-O2 VV on every level pair of
the ladder at 500, 2000 and 5000 K (a table kvt data generate writes). Cantera then

* loads the mechanism of both (595 VV reactions: each exchange once, in its exothermic direction i <= j, no
  resonant swap), whose forward rate constants equal each network's k times Avogadro's number per kmol within
  the tolerance the file states at every 5 K of the common range, and whose reverse/forward ratios equal
  exp(-dE / T) from kvt's level energies to 1e-12;
* integrates a constant-temperature reactor (energy off) of pure O2 from a Boltzmann distribution, whose
  relaxation time equals the VT+VV master equation's (kvt.kinetics.molecular_gas, with the rates kvt relax
  --with-vv --run --vv-run reads) within 0.1 %, heated and cooled;
* loads a VV' mechanism with both molecules' levels (runs relabelled, as their files name them: the rates of
  whatever network a run holds are compared with that network).
"""

import json
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import cantera_reactor_tau, error_line

from kvt.cli import main
from kvt.kinetics import heat_bath, molecular_gas
from kvt.network.inference import process_record
from kvt.physics import fho
from kvt.physics.process import ExchangeProcess, resolve
from kvt.physics.species import MOLECULES
from kvt.reports import relax as relaxation
from kvt.runs.folder import open_run

ct = pytest.importorskip("cantera")

L = 35  # O2 levels 0..35
AVOGADRO_PER_KMOL = 6.02214076e26  # exact (2019 SI)
ENERGIES = fho.level_energy_K(np.arange(L + 1))
LEVELS = [f"O2(v{n})" for n in range(L + 1)]
GRID = np.arange(500.0, 5000.0 + 1, 5.0)  # every 5 K of the common trained range, rebuilt independently
QUICK = ["--mode", "accurate", "--epochs", "8", "--finish-iterations", "5", "--units", "8", "--quiet"]


def _invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cantera_vv")
    _invoke("data", "generate", "--pair", "O2-O2", "--process", "vv", "--temps", "500,2000,5000", "-o",
            root / "vv.csv")
    _invoke("train", "--data", root / "vv.csv", *QUICK, "--out", root / "vv")
    _invoke("train", "--pair", "O2-O2", *QUICK, "--out", root / "vt")
    printed = _invoke("export", "--format", "cantera", "--run", root / "vt", "--run", root / "vv", "-o",
                      root / "o2.yaml").stdout
    return {"vt": root / "vt", "vv": root / "vv", "yaml": root / "o2.yaml", "printed": printed, "root": root}


def _levels(side: dict) -> list[int]:
    return sorted(int(re.fullmatch(r"O2\(v(\d+)\)", name).group(1)) for name, n in side.items() for _ in range(int(n)))


def test_vv_mechanism_loads_counts_each_exchange_once_and_its_rates_are_the_networks(runs):
    text = runs["yaml"].read_text()
    gas = ct.Solution(str(runs["yaml"]))
    assert gas.species_names == LEVELS
    vt, vv = [], []  # (reaction index, upper level, partner level) and (reaction index, i, j)
    for index in range(gas.n_reactions):
        reaction = gas.reaction(index)
        assert reaction.reversible and reaction.rate.type == "Chebyshev"
        before, after = _levels(reaction.reactants), _levels(reaction.products)
        common = set(before) & set(after)
        if common:  # VT: O2(vi) + O2(vk) <=> O2(v(i-1)) + O2(vk)
            k = common.pop()
            i = [n for n in before if n != k][0] if before.count(k) == 1 else k
            assert sorted([i - 1, k]) == after
            vt.append((index, i, k))
        else:  # VV: O2(vi) + O2(vj) <=> O2(v(i-1)) + O2(v(j+1)), i <= j the exothermic direction
            i, j = after[0] + 1, after[1] - 1
            assert before == [i, j], (before, after)
            vv.append((index, i, j))
    assert len(vt) == L * (L + 1)
    assert sorted((i, j) for _, i, j in vv) == [(i, j) for i in range(1, L) for j in range(i, L)]  # 595, no swap
    assert f"{len(vt) + len(vv)} reactions" in text.splitlines()[0]
    stated = float(re.search(r"max relative deviation from the network (\S+)", text).group(1))
    assert "tolerance 0.0001 reached" in text and "valid for 500 <= T <= 5000 K only" in text
    assert re.search(r"^# reactions, VV: .*i <= j", text, re.M)

    forward = np.empty((gas.n_reactions, GRID.size))
    ratio = np.empty_like(forward)
    for column, T in enumerate(GRID):
        gas.TP = T, ct.one_atm
        forward[:, column] = gas.forward_rate_constants
        ratio[:, column] = gas.reverse_rate_constants / gas.forward_rate_constants
    vt_net, vv_net = open_run(runs["vt"]).network, open_run(runs["vv"]).network
    index, i, k = (np.array(v) for v in zip(*vt))
    expected_vt = vt_net.predict_k(np.repeat(i, GRID.size), np.tile(GRID, len(i))).reshape(len(i), -1)
    dev_vt = np.abs(forward[index] / (expected_vt * AVOGADRO_PER_KMOL) - 1).max()
    np.testing.assert_allclose(ratio[index], np.exp(-(ENERGIES[i] - ENERGIES[i - 1])[:, None] / GRID), rtol=1e-12,
                               atol=0)
    index, i, j = (np.array(v) for v in zip(*vv))
    expected_vv = vv_net.predict_k(np.repeat(i, GRID.size), np.repeat(j, GRID.size),
                                   np.tile(GRID, len(i))).reshape(len(i), -1)
    dev_vv = np.abs(forward[index] / (expected_vv * AVOGADRO_PER_KMOL) - 1).max()
    released = ENERGIES[i] + ENERGIES[j] - ENERGIES[i - 1] - ENERGIES[j + 1]
    assert (released > 0).all()  # the forward direction is the exothermic one
    np.testing.assert_allclose(ratio[index], np.exp(-released[:, None] / GRID), rtol=1e-12, atol=0)
    assert max(dev_vt, dev_vv) <= 1e-4 * (1 + 1e-9)
    assert dev_vv == pytest.approx(float(re.search(r"O2-O2 VV: .* deviation from the network (\S+)",
                                                   runs["printed"]).group(1)), rel=1e-2)
    assert max(dev_vt, dev_vv) == pytest.approx(stated, rel=1e-2)


def _cantera_tau(gas, T, tv0):
    """tau of a constant-T, constant-V reactor (energy off) of pure O2 from a Boltzmann distribution at ``tv0``,
    and the O2 concentration (kmol/m^3)."""
    start = heat_bath.boltzmann_fractions(ENERGIES, [tv0])[0]
    tau, concentrations = cantera_reactor_tau(gas, T, dict(zip(LEVELS, start)), LEVELS, ENERGIES, start @ ENERGIES,
                                              points=101)
    return tau, concentrations.sum()


@pytest.mark.parametrize("T, tv0", [(1000.0, 300.0), (4000.0, 300.0), (1000.0, 4000.0)])
def test_a_constant_temperature_reactor_reproduces_kvt_relax_with_vv(runs, T, tv0):
    """The reference is kvt relax --with-vv's master equation, fed what that command reads from the same runs;
    the pressure is Cantera's concentration (times N_A, kvt's k_B), so both have the same number density."""
    gas = ct.Solution(str(runs["yaml"]))
    tau, concentration = _cantera_tau(gas, T, tv0)
    pressure_atm = concentration * AVOGADRO_PER_KMOL * fho.BOLTZMANN * T / heat_bath.ATMOSPHERE_PA
    k_vt = relaxation.load_rates(run_dir=runs["vt"], temperatures=[T]).k_down
    k_vv, _ = relaxation.vv_rates_of_run(runs["vv"], resolve("O2-O2", "vv"), [T])
    exact = molecular_gas.relax(k_vt, k_vv, [T], tv0=tv0, pressure_atm=pressure_atm, molecule="O2").tau_s[0]
    print(f"T {T:g} K, T_v0 {tv0:g} K: tau Cantera / kvt relax --with-vv - 1 = {tau / exact - 1:+.2e}")
    assert tau == pytest.approx(exact, rel=1e-3)


def _relabelled(run, out, pair, kind):
    """A copy of ``run`` whose files name ``pair`` and ``kind`` (its network, and so its rates, unchanged)."""
    shutil.copytree(run, out)
    if kind == "vt":
        metadata = json.loads((out / "metadata.json").read_text())
        metadata["dataset"]["pair"] = pair
        (out / "metadata.json").write_text(json.dumps(metadata))
    else:
        weights = json.loads((out / "weights.json").read_text())
        weights["process"] = process_record(resolve(pair, kind))
        (out / "weights.json").write_text(json.dumps(weights))
    return out


def test_a_vv_prime_mechanism_resolves_both_molecules(runs, tmp_path):
    """N2-O2 VV' beside O2-O2 VT and N2-O2 VT: N2 and O2 levels are species; N2-O2 VT has one reaction per O2 level
    (the partner is resolved); every VV' pair is one reaction, whose reverse is exact detailed balance with the two
    molecules' own level energies."""
    vvp = _relabelled(runs["vv"], tmp_path / "n2o2_vv", "N2-O2", "vv'")
    n2o2 = _relabelled(runs["vt"], tmp_path / "n2o2_vt", "N2-O2", "vt")
    out = tmp_path / "air.yaml"
    _invoke("export", "--format", "cantera", "--run", runs["vt"], "--run", n2o2, "--run", vvp, "-o", out)
    gas = ct.Solution(str(out))
    n2_levels = [f"N2(v{n})" for n in range(36)]  # the VV' pairs reach N2 level 35
    assert gas.species_names == LEVELS + n2_levels
    assert gas.n_reactions == L * (L + 1) + L * (L + 1) + L * L
    e_n2 = fho.level_energy_K(np.arange(36), MOLECULES["N2"])
    network = open_run(vvp).network
    T = np.array([500.0, 1234.0, 5000.0])
    first = L * (L + 1) * 2
    for index in (first, first + 17, gas.n_reactions - 1):
        reaction = gas.reaction(index)
        (a_name,), (b_name,) = ([n for n in reaction.reactants if n.startswith(m)] for m in ("N2", "O2"))
        i, j = int(a_name[4:-1]), int(b_name[4:-1])
        assert reaction.products == {f"N2(v{i - 1})": 1, f"O2(v{j + 1})": 1}
        released = e_n2[i] - e_n2[i - 1] + ENERGIES[j] - ENERGIES[j + 1]
        for t in T:
            gas.TP = t, ct.one_atm
            k = gas.forward_rate_constants[index]
            assert k / (network.predict_k([i], [j], [t])[0] * AVOGADRO_PER_KMOL) - 1 == pytest.approx(0, abs=1e-4)
            assert gas.reverse_rate_constants[index] / k == pytest.approx(np.exp(-released / t), rel=1e-12)
    for index in (L * (L + 1), L * (L + 1) + 40):  # N2-O2 VT: one reaction per O2 level
        reaction = gas.reaction(index)
        assert len([n for n in reaction.reactants if n.startswith("O2")]) == 1


def test_vv_refusals_are_one_error_line_and_nothing_written(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    vv = runs["vv"]
    cases = [
        (["--run", vv, "--units", "cm3/s"],
         "--units applies to --format csv, c-header, fortran and fho-poly, not cantera (a Cantera mechanism has "
         "fixed units: k in m^3/(kmol s))"),
        (["--run", runs["vt"], "--run", vv, "--run", vv],
         f"run directory {vv} and run directory {vv} are both O2-O2 VV; a mechanism takes one run per process (two "
         f"would give every reaction twice)"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(main, ["export", "--format", "cantera", "-o", "m.yaml", *map(str, args)])
        assert error_line(result) == f"Error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_runs_whose_reactions_clash_are_refused_before_any_fit():
    """kvt trains one order of each VV' pair; a mechanism given both orders would hold every exchange twice (one as
    the other's reverse): the plan refuses it, naming both."""
    from kvt.errors import KvtError
    from kvt.exports import cantera

    n2, o2 = MOLECULES["N2"], MOLECULES["O2"]
    labels = np.array([[1, 0], [2, 0]])
    parts = [cantera.Part(ExchangeProcess(n2, o2, "vv'"), labels, "run directory a", {}),
             cantera.Part(ExchangeProcess(o2, n2, "vv'"), labels, "run directory b", {})]
    with pytest.raises(KvtError) as error:
        cantera.check_parts(parts)
    assert str(error.value) == (
        "runs whose reactions clash: run directory a (N2-O2 VV') gives N2(v1) + O2(v0) <=> N2(v0) + O2(v1) and run "
        "directory b (O2-N2 VV') its reverse; Cantera takes each reaction once (a reversible reaction is both "
        "directions): export one of them")
