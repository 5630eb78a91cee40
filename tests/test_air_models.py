"""Air pairs through the whole library: train -> predict -> every export -> kinetics, on N2-N2 and NO-O.

One module fixture trains, with the library API, accurate mode on N2-N2 with the mode's
defaults (the dense-grid claim is checked on it) and quick accurate runs on NO-O and O2-Ar
(the O2 weights file whose levels an N2 caller must not use). References are independent
of the code under test: features and level energies rebuilt from kvt.physics.species's
constants, a forward pass written here, Keras's own prediction, and FHO-FR.
Cost: about 25 s on 2 loaded cores (N2-N2 default training ~15 s, NO-O and O2-Ar ~3 s each,
compiling three small C/Fortran programs ~3 s).
"""

import io
import json
import shutil
import subprocess
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from kvt import KvtError
from kvt.kinetics import heat_bath
from kvt.kinetics.accuracy import evaluate_network
from kvt.network.inference import Network, to_text
from kvt.exports import c_header, fho_poly, fortran, registry
from kvt.runs import rates
from kvt.runs.folder import open_run, save_run
from kvt.physics import constants, fho, species
from kvt.training.trainer import TrainConfig, train

AIR = {"N2-N2": 46, "NO-O": 38}
TEMPS = np.array([250.0, 300.0, 777.7, 1000.0, 2345.6, 5000.0, 9999.0, 10000.0])
#: README, accurate mode on the bundled O2 data (seeds 0-2): the largest median and max of the dense grid.
README_O2_MEDIAN, README_O2_MAX = 1.43e-4, 3.8e-3


def energies_K(molecule: str, n) -> np.ndarray:
    """E(n) = c2 (ω_e n - ω_e x_e n (n + 1)) from the species table's constants (not kvt.physics.fho)."""
    m = species.MOLECULES[molecule]
    n = np.asarray(n, dtype=float)
    return constants.SECOND_RADIATION_CONSTANT * (m.omega_e_m * n - m.omega_e_xe_m * n * (n + 1.0))


def reference_features(pair: str, level, T) -> np.ndarray:
    """The eleven fho features from the pair's masses and the molecule's constants, written out here."""
    p = species.pair(pair)
    i, T = np.asarray(level, dtype=float), np.asarray(T, dtype=float)
    m_a, m_b = (m * 1e-3 / constants.AVOGADRO for m in p.molecule.atom_masses_g_mol)
    m_c = p.partner.molar_mass_g_mol * 1e-3 / constants.AVOGADRO
    mu = (m_a + m_b) * m_c / (m_a + m_b + m_c)
    m_tilde = m_a * m_c / (m_b * (m_a + m_b + m_c))
    steric = 2.0 * m_tilde / (1.0 + m_tilde) ** 2
    nu = 1.0 if p.partner.is_molecule else 0.0
    theta = energies_K(p.molecule.name, i) - energies_K(p.molecule.name, i - 1)
    omega = theta * constants.BOLTZMANN / (constants.PLANCK / (2 * np.pi))
    theta_1 = 4 * np.pi**2 * omega**2 * mu / (constants.POTENTIAL_RANGE_ALPHA**2 * constants.BOLTZMANN)
    b = np.cbrt(theta_1 / T)
    a = steric * theta_1 / theta
    eps = (nu + i) * a * np.exp(-b) + (i * a / 2) ** 2 * np.exp(-2 * b)
    return np.column_stack([i, np.log(i), T ** (-1 / 3), np.log(T), 1000 / T, theta / T, np.log(theta),
                            np.cbrt(theta**2 / T), np.cbrt(theta / T**2), eps, np.log1p(b * eps / 3)])


def forward(spec: dict, pair: str, level, T) -> np.ndarray:
    """k from a weights document, layer by layer as the schema says (no merging, plain logistic sigmoid)."""
    f = spec["features"]
    x = reference_features(pair, level, T) * np.asarray(f["scale"]) + np.asarray(f["shift"])
    h = x[:, f["network_inputs"]]
    for layer in spec["layers"]:
        h = h @ np.asarray(layer["weights"]) + np.asarray(layer["bias"])
        if layer["activation"] == "sigmoid":
            h = 1.0 / (1.0 + np.exp(-h))
    t = spec["target"]
    return np.exp(h[:, 0] * t["std"] + t["mean"] + x @ np.asarray(t["baseline_coef"]) + t["baseline_intercept"])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("air_models")
    configs = {"N2-N2": TrainConfig(data="N2-N2", mode="accurate", seed=0),
               "NO-O": TrainConfig(data="NO-O", mode="accurate", seed=0, epochs=300, finish_iterations=200,
                                   units=16),
               "O2-Ar": TrainConfig(data="O2-Ar", mode="accurate", seed=0, epochs=100, finish_iterations=50,
                                    units=8)}
    out = {}
    for pair, config in configs.items():
        result = train(config)
        out[pair] = {"result": result, "dir": save_run(result, root / pair)}
    return out


def grid(pair):
    levels = np.arange(1, AIR[pair] + 1)
    return np.repeat(levels, TEMPS.size), np.tile(TEMPS, levels.size)


@pytest.mark.parametrize("pair", AIR)
def test_run_records_the_molecule_and_predicts_as_keras(models, pair):
    result, run = models[pair]["result"], open_run(models[pair]["dir"])
    molecule = pair.split("-")[0]
    top = AIR[pair]
    meta = json.loads((models[pair]["dir"] / "metadata.json").read_text())
    assert meta["dataset"]["molecule"] == {"name": molecule, "levels": [1, top]}
    assert meta["dataset"]["level_range"] == [1, top] and len(meta["dataset"]["sha256"]) == 64
    spec = run.network.spec
    assert spec["schema_version"] == 2 and spec["molecule"] == {"name": molecule, "levels": [1, top]}
    assert spec["features"]["kind"] == "fho" and len(spec["features"]["theta_K"]) == top
    level, T = grid(pair)
    k = run.network.predict_k(level, T)
    # Keras's own prediction of the trained model on the transform's features
    features = np.column_stack([level, T])
    # (called directly: Model.predict would feed the float64 network float32 inputs, Keras's floatx)
    y = keras.ops.convert_to_numpy(result.model(result.scaler.transform_features(features), training=False))
    np.testing.assert_allclose(k, result.scaler.inverse_target(y, features), rtol=1e-12)
    # the weights document evaluated here, from the physics constants (features) and the schema (layers)
    np.testing.assert_allclose(k, forward(spec, pair, level, T), rtol=1e-12)
    # predict: every point in the molecule's range, rates > 0
    rows, allowed = rates.predict_rates(run, np.arange(1, top + 1), TEMPS, direction="both")
    assert allowed["nonphysical"]["count"] == 0 and not allowed["extrapolated"]
    down = rows[rows["level_to"] == rows["level_from"] - 1]
    up = rows[rows["level_to"] == rows["level_from"] + 1]
    np.testing.assert_array_equal(down["k_m3_s"].to_numpy(), k)
    delta = energies_K(molecule, level) - energies_K(molecule, level - 1)
    np.testing.assert_allclose(up["k_m3_s"].to_numpy(), k * np.exp(-delta / T), rtol=1e-12)


@pytest.mark.parametrize("pair", AIR)
def test_csv_and_weights_exports(models, pair, tmp_path):
    run = open_run(models[pair]["dir"])
    top, molecule = AIR[pair], pair.split("-")[0]
    request = registry.ExportRequest(run, tmp_path / "k.csv", np.arange(1, top + 1), TEMPS, direction="both")
    text = "".join(registry.export(registry.FORMATS["csv"], request).text)
    table = pd.read_csv(io.StringIO(text), comment="#")
    assert len(table.columns) == 1 + 2 * top
    assert f"k_{top}_{top - 1}_m3_s" in table and f"k_{top - 1}_{top}_m3_s" in table
    k = run.network.predict_k(*np.meshgrid(np.arange(1, top + 1), TEMPS)).reshape(TEMPS.size, top)
    np.testing.assert_allclose(table[[f"k_{i}_{i - 1}_m3_s" for i in range(1, top + 1)]].to_numpy(), k, rtol=1e-10)
    delta = energies_K(molecule, np.arange(1, top + 1)) - energies_K(molecule, np.arange(top))
    np.testing.assert_allclose(table[[f"k_{i - 1}_{i}_m3_s" for i in range(1, top + 1)]].to_numpy(),
                               k * np.exp(-delta[None, :] / TEMPS[:, None]), rtol=1e-10)
    # weights: the document alone (a file) predicts exactly as the run
    path = tmp_path / "w.json"
    path.write_text(json.dumps(run.network.spec))
    level, T = grid(pair)
    np.testing.assert_array_equal(Network.load(path).predict_k(level, T), run.network.predict_k(level, T))
    # weights-text through the C reference evaluator
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler (cc) to build examples/kvt_eval.c")
    binary = tmp_path / "kvt_eval"
    source = Path(__file__).resolve().parents[1] / "examples" / "kvt_eval.c"
    subprocess.run(["cc", "-O2", "-std=c99", "-o", str(binary), str(source), "-lm"], check=True)
    (tmp_path / "w.txt").write_text(to_text(run.network.spec))
    done = subprocess.run([str(binary), str(tmp_path / "w.txt")], capture_output=True, text=True, check=True,
                          input="".join(f"{i} {float(t)!r}\n" for i, t in zip(level, T)))
    np.testing.assert_allclose([float(v) for v in done.stdout.split()], run.network.predict_k(level, T), rtol=1e-12)


def _driver(prefix: str, n: int, fortran: bool) -> str:
    head = f"int {prefix}_rates(double T, double *k_down, double *k_up);" if fortran else f'#include "{prefix}_rates.h"'
    return "\n".join([
        "#include <stdio.h>", "#include <stdlib.h>", head, "int main(int argc, char **argv) {",
        f"    double kd[{n}], ku[{n}]; int i, j;", "    for (i = 1; i < argc; i++) {",
        f"        int rc = {prefix}_rates(strtod(argv[i], NULL), kd, ku); printf(\"%d\", rc);",
        f"        for (j = 0; j < {n}; j++) printf(\" %.17g %.17g\", kd[j], ku[j]);", "        printf(\"\\n\");",
        "    }", "    return 0;", "}", ""])


def _solver_output(binary, n):
    done = subprocess.run([str(binary), *(repr(float(t)) for t in TEMPS)], capture_output=True, text=True, check=True)
    values = np.array([[float(v) for v in line.split()] for line in done.stdout.splitlines()])
    assert np.all(values[:, 0] == 0)  # every return code OK
    return values[:, 1::2], values[:, 2::2]


@pytest.mark.parametrize("fmt", ["c-header", "fortran"])
@pytest.mark.parametrize("pair", AIR)
def test_solver_code_equals_numpy(models, pair, fmt, tmp_path):
    compiler = "cc" if fmt == "c-header" else "gfortran"
    if shutil.which(compiler) is None or shutil.which("cc") is None:
        pytest.skip(f"{compiler} not found; apt-get install -y {'gcc' if compiler == 'cc' else 'gfortran'}")
    network = open_run(models[pair]["dir"]).network
    top, molecule = AIR[pair], pair.split("-")[0]
    prefix = "air"
    (tmp_path / "main.c").write_text(_driver(prefix, top, fortran=fmt == "fortran"))
    if fmt == "c-header":
        text = c_header.c_header(network, prefix)
        assert f"#define AIR_N_TRANSITIONS {top}" in text and f"static const double air_energy_K_[{top + 1}]" in text
        assert f"k(i -> i-1, T) of {molecule}," in text.splitlines()[1]
        (tmp_path / f"{prefix}_rates.h").write_text(text)
        subprocess.run(["cc", "-std=c99", "-O2", "-o", "main", "main.c", "-lm"], cwd=tmp_path, check=True)
    else:
        text = fortran.fortran_module(network, prefix)
        assert f"AIR_N_TRANSITIONS = {top}" in text and f"energy_k({top + 1})" in text
        assert f"k(i -> i-1, T) of {molecule}," in text.splitlines()[0]
        (tmp_path / f"{prefix}_rates.f90").write_text(text)
        subprocess.run(["gfortran", "-std=f2008", "-O2", "-c", f"{prefix}_rates.f90"], cwd=tmp_path, check=True)
        subprocess.run(["cc", "-std=c99", "-O2", "-c", "main.c"], cwd=tmp_path, check=True)
        subprocess.run(["gfortran", "-o", "main", "main.o", f"{prefix}_rates.o"], cwd=tmp_path, check=True)
    down, up = _solver_output(tmp_path / "main", top)
    levels = np.arange(1, top + 1)
    k = np.array([network.predict_k(levels, t) for t in TEMPS])
    delta = energies_K(molecule, levels) - energies_K(molecule, levels - 1)
    np.testing.assert_allclose(down, k, rtol=1e-12)
    np.testing.assert_allclose(up, k * np.exp(-delta[None, :] / TEMPS[:, None]), rtol=1e-12)


@pytest.mark.parametrize("pair", AIR)
def test_fho_poly_export(models, pair, tmp_path):
    run = open_run(models[pair]["dir"])
    top = AIR[pair]
    written = registry.export(registry.FORMATS["fho-poly"], registry.ExportRequest(run, tmp_path / "f.csv", [], None))
    text, report = written.text, written.report
    table = pd.read_csv(io.StringIO(text), comment="#")
    assert table["level_from"].tolist() == list(range(1, top + 1)) and np.all(table["a0"] == 1.0)
    assert len(report) == 2 and f"exact FHO-FR data of {pair}" in report[1]
    temps = np.arange(250.0, 10000.0 + 1, 5.0)
    k_fit = fho_poly.evaluate(table["c"].to_numpy(), table[[f"a{j}" for j in range(6)]].to_numpy(), temps)
    k_net = np.array([run.network.predict_k(np.full(temps.size, i), temps) for i in range(1, top + 1)])
    # the form's own limit: the same fit of exact FHO-FR data of the pair is within the same few per cent
    exact = fho_poly.fit_exact(pair, np.arange(1, top + 1), temps)
    assert np.max(np.abs(k_fit / k_net - 1)) < 2 * exact.max_error


def test_accurate_mode_on_n2_reaches_the_o2_dense_grid_accuracy(models):
    network = Network(models["N2-N2"]["result"].weights)
    evaluation = evaluate_network(network, "N2-N2")
    assert evaluation["grid"] == {"levels": [1, 46], "n_levels": 46, "T_K": [250.0, 10000.0], "n_T": 976,
                                  "points": 46 * 976}
    # measured (seed 0): median 6.1e-5, max 1.1e-3, i.e. 0.43 and 0.29 times the README's worst O2 seeds
    assert evaluation["overall"]["median"] <= README_O2_MEDIAN
    assert evaluation["overall"]["max"] <= README_O2_MAX
    i, T = evaluation["table"]["level"].to_numpy(), evaluation["table"]["T_K"].to_numpy()
    np.testing.assert_allclose(evaluation["table"]["k_fho_m3_s"], fho.rate_coefficient(i, T, "N2-N2"), rtol=0)
    relaxation = models["N2-N2"]["result"].metrics["relaxation"]
    assert relaxation["pair"] == "N2-N2" and all(abs(r["tau_rel_err"]) < 2e-3 for r in relaxation["temperatures"])


def test_heat_bath_relaxation_of_n2_with_fho_rates():
    temps = np.array([500.0, 2000.0, 10000.0])
    solution = heat_bath.relax(heat_bath.fho_rates("N2-N2", temps), temps, tv0=300.0, molecule="N2")
    n = np.arange(47)  # levels 0..46: the heat-bath matrix of L + 1 = 47 levels
    np.testing.assert_allclose(solution.energies_K, energies_K("N2", n), rtol=1e-15)
    times = solution.tau_s[:, None] * np.array([0.0, 0.3, 1.0, 10.0, 1e4])[None, :]
    x = solution.populations(times)
    assert x.shape == (3, 5, 47)
    np.testing.assert_allclose(x.sum(axis=2), 1.0, atol=1e-12)
    weights = np.exp(-energies_K("N2", n)[None, :] / temps[:, None])
    boltzmann = weights / weights.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(x[:, -1, :], boltzmann, atol=1e-9)
    np.testing.assert_allclose(x[:, 0, :], solution.x0, atol=1e-12)
    # O2's ladder is a different equilibrium: the molecule's energies are what the solution used
    o2 = np.exp(-energies_K("O2", np.arange(36))[None, :] / temps[:, None])
    assert np.abs(x[:, -1, :36] - o2 / o2.sum(axis=1, keepdims=True)).max() > 1e-2
    with pytest.raises(KvtError) as refused:
        heat_bath.relax(heat_bath.fho_rates("N2-N2", temps), temps)
    assert str(refused.value) == "k_down has 46 transitions; O2 levels are 1..35"


def test_an_o2_weights_file_is_refused_for_n2_levels(models, tmp_path):
    spec = models["O2-Ar"]["result"].weights
    assert spec["schema_version"] == 2 and spec["molecule"] == {"name": "O2", "levels": [1, 35]}
    path = tmp_path / "o2ar.json"
    path.write_text(json.dumps(spec))
    run = open_run(models["O2-Ar"]["dir"])
    expected = "level 46 is out of range of weights file {} (a network of O2); O2 levels are 1..35"
    with pytest.raises(KvtError) as refused:
        Network.load(path).predict_k([46], 1000.0)
    assert str(refused.value) == expected.format(path)
    # even where extrapolation is allowed: level 46 is no O2 level at all
    with pytest.raises(KvtError) as refused:
        rates.predict_rates(run, [1, 46], TEMPS, allow_extrapolation=True)
    assert str(refused.value) == expected.format(models["O2-Ar"]["dir"] / "weights.json")
    # a document written before the molecule entry: its pair says O2
    legacy = {key: value for key, value in spec.items() if key != "molecule"}
    with pytest.raises(KvtError, match=r"^level 36 is out of range of weights \(a network of O2\); O2 levels "
                                       r"are 1\.\.35$"):
        Network(legacy).predict_k([36], [1000.0])
    np.testing.assert_array_equal(Network(legacy).predict_k(np.arange(1, 36), 1000.0),
                                  Network(spec).predict_k(np.arange(1, 36), 1000.0))


def test_relax_outputs_of_an_n2_run_and_pair(models):
    from kvt.reports import relax

    temps = np.array([1000.0, 5000.0])
    source = relax.from_run(models["N2-N2"]["dir"], temps)
    assert source.molecule.name == "N2" and source.k_down.shape == (2, 46)
    result = relax.run(source, reference="N2-N2")
    assert result.solution.x_eq.shape == (2, 47) and np.all(np.abs(result.comparison["tau_rel_err"]) < 2e-3)
    tau = result.tau_table(millikan_white=True)
    mu = 28.0 * 28.0 / 56.0  # N2-N2 reduced mass, atomic mass units; θ_v of N2 3395 K (the usual tabulated value)
    expected = np.exp(1.16e-3 * np.sqrt(mu) * 3395.0 ** (4 / 3) * (temps ** (-1 / 3) - 0.015 * mu**0.25) - 18.42)
    np.testing.assert_allclose(tau["p_tau_mw_atm_s"], expected, rtol=1e-14)
    with pytest.raises(KvtError) as refused:
        relax.run(source, reference="O2-Ar")
    assert str(refused.value) == (f"the reference pair O2-Ar is not of N2, the molecule of run "
                                  f"{models['N2-N2']['dir']}; name a pair of N2")
