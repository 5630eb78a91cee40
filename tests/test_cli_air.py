"""The command line on the 18 air pairs (issue 14): pair and level errors, `kvt data pairs`, generation, round trips.

Independent references, typed in here from the model's description (not read from kvt):
the number of levels of each molecule, the partners' kinds, the FHO-FR formulas with the
published constants, and published rate values of the SPbU group's N2 tables.
"""

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import error_line
from scipy.optimize import brentq

from kvt.cli import main

# The spec: transitions i -> i-1 for i = 1..L of each molecule, and the kind of each partner.
MOLECULE_LEVELS = {"O2": 35, "N2": 46, "NO": 38}
PARTNER_KINDS = {"O2": "molecule", "N2": "molecule", "NO": "molecule", "O": "atom", "N": "atom", "Ar": "atom"}
STUDY_PAIRS = {"O2-O2", "O2-O", "O2-Ar"}

# molecule: (omega_e m^-1, omega_e x_e m^-1, m_A g/mol, m_B g/mol, R0 m); NO: atom A is N.
MOLECULES = {"O2": (158019.0, 1198.0, 16.0, 16.0, 3.458e-10),
             "N2": (235857.0, 1432.0, 14.0, 14.0, 3.621e-10),
             "NO": (190420.0, 1407.5, 14.0, 16.0, 3.47e-10)}
# partner: (molar mass g/mol, R0 m, nu: 1 molecule, 0 atom)
PARTNERS = {"O2": (32.0, 3.458e-10, 1), "N2": (28.0, 3.621e-10, 1), "NO": (30.0, 3.47e-10, 1),
            "O": (16.0, 2.75e-10, 0), "N": (14.0, 3.298e-10, 0), "Ar": (39.948, 3.33e-10, 0)}
kB, hbar, alpha, N_A, c_2, D_K = 1.3807e-23, 6.6261e-34 / (2 * np.pi), 4e10, 6.0221e23, 1.4388e-2, 200.0
# Published FHO-FR values (m^3/s): (pair, level i of i -> i-1, T in K, k).
PUBLISHED = [("N2-N", 1, 250, 6.43092109769232e-26), ("N2-N2", 46, 10000, 1.4256053837049e-16),
             ("N2-O2", 46, 10000, 1.32520831723419e-16)]

BAD_PAIRS = [
    ("N2", "Error: 'N2' is not a pair; give MOLECULE-PARTNER, e.g. N2-N2; molecules: O2, N2, NO; "
           "partners: O2, N2, NO, O, N, Ar"),
    ("N2-Xe", "Error: unknown partner 'Xe' in pair 'N2-Xe'; partners: O2, N2, NO, O, N, Ar"),
    ("O-O2", "Error: unknown molecule 'O' in pair 'O-O2' (the molecule comes first); molecules: O2, N2, NO"),
]


def fho_fr_reference(pair, i, T):
    """k(i -> i-1, T) in m^3/s of FHO-FR (Adamovich et al. 1998), one point, C's equation solved by Brent's method."""
    molecule, partner = pair.split("-")
    we, wx, ma, mb, r_molecule = MOLECULES[molecule]
    mc, r_partner, nu = PARTNERS[partner]
    m_a, m_b, m_c = (m * 1e-3 / N_A for m in (ma, mb, mc))
    total = m_a + m_b + m_c
    mu, m_tilde = (m_a + m_b) * m_c / total, m_a * m_c / (m_b * total)
    steric, radius = 2 * m_tilde / (1 + m_tilde) ** 2, (r_molecule + r_partner) / 2
    theta = c_2 * (we - 2 * wx * i)  # E(i) - E(i-1) with E(n) = c2 (we n - wx n (n + 1))
    omega = theta * kB / hbar
    theta_1 = 4 * np.pi**2 * omega**2 * mu / (alpha**2 * kB)
    v0 = np.cbrt(2 * np.pi * omega * kB * T / (alpha * mu))
    a = steric * theta_1 / theta
    c1, c2, b = (nu + i) * a, (i * a / 2) ** 2, 2 * np.pi * omega / (alpha * v0)
    C = brentq(lambda x: x - np.cbrt(1 - c1 * np.exp(-b / x) - c2 * np.exp(-2 * b / x)), 1e-9, 2.0,
               xtol=1e-16, rtol=1e-15)
    delta = (1 - C**3) / C**3 * b / C
    phi = 2 / np.pi * np.arctan(np.sqrt(2 * D_K * kB / mu) / v0)
    collisions = np.pi * radius**2 * np.sqrt(8 * kB * T / (np.pi * mu))
    ratio = theta_1 / T
    return (collisions * i * np.sqrt(2 * np.pi / (3 + delta)) * C * a * ratio ** (1 / 6)
            * np.exp(-np.cbrt(ratio) * (C**2 / 2 + 1 / C) * (1 - phi) ** (2 / 3) - (1 - C**3))
            * np.exp(theta / (2 * T)))


def level_energies_K(molecule, top):
    we, wx = MOLECULES[molecule][:2]
    n = np.arange(0, top + 1, dtype=float)
    return c_2 * (we * n - wx * n * (n + 1))


# ------------------------------------------------------------------ errors
def _pair_commands(tmp_path, bad):
    out = str(tmp_path / "out")
    return {"data generate": ["data", "generate", "--pair", bad],
            "data info": ["data", "info", "--pair", bad],
            "train": ["train", "--pair", bad, "--quiet", "--out", out],
            "tune": ["tune", "--pair", bad, "--quiet", "--out", out],
            "relax": ["relax", "--pair", bad, "--out", out],
            "bench vt": ["bench", "vt", "--pairs", f"O2-O2,{bad}", "--quick", "--out", out]}


@pytest.mark.parametrize("bad, message", BAD_PAIRS, ids=[b for b, _ in BAD_PAIRS])
def test_every_pair_option_gives_the_species_error(runner, tmp_path, bad, message):
    for command, args in _pair_commands(tmp_path, bad).items():
        assert error_line(runner.invoke(main, args)) == message, command
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("pair, spec, message", [
    ("O2-O", "40", "Error: level 40 is out of range; O2 levels are 1..35"),
    ("O2-Ar", "36", "Error: level 36 is out of range; O2 levels are 1..35"),
    ("N2-N", "47", "Error: level 47 is out of range; N2 levels are 1..46"),
    ("NO-O2", "1-39", "Error: level 39 in '1-39' is out of range; NO levels are 1..38"),
])
def test_levels_outside_the_molecule_are_one_error_line(runner, tmp_path, pair, spec, message):
    out = tmp_path / "k.csv"
    assert error_line(runner.invoke(main, ["data", "generate", "--pair", pair, "--levels", spec, "-o", str(out)])) \
        == message
    assert not out.exists()


@pytest.mark.parametrize("molecule", MOLECULE_LEVELS)
def test_generate_defaults_to_every_level_of_the_molecule(runner, molecule):
    result = runner.invoke(main, ["data", "generate", "--pair", f"{molecule}-Ar", "--temps", "1000"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(pd.io.common.StringIO(result.stdout), comment="#")
    assert frame["level"].tolist() == list(range(1, MOLECULE_LEVELS[molecule] + 1))
    assert frame["k_m3_s"].gt(0).all()


# ------------------------------------------------------------------ kvt data pairs
def test_data_pairs_lists_the_18_pairs(runner):
    from kvt.physics import species

    result = runner.invoke(main, ["data", "pairs"])
    assert result.exit_code == 0, result.output
    vt_block, vv_block = result.stdout.rstrip("\n").split("\n\n")
    header, *lines = vt_block.split("\n")
    assert header.split() == ["pair", "molecule", "partner", "levels", "data"]
    vv_lines = vv_block.split("\n")[1:]
    assert [line.split()[:2] for line in vv_lines] == [["O2-O2", "vv"], ["N2-N2", "vv"], ["NO-NO", "vv"],
                                                       ["N2-O2", "vv'"], ["N2-NO", "vv'"], ["O2-NO", "vv'"]]
    expected = [f"{m}-{p}" for m in MOLECULE_LEVELS for p in PARTNER_KINDS]
    assert [line.split()[0] for line in lines] == expected
    for line in lines:
        name, molecule, partner, kind, levels, *data = line.split()
        assert (molecule, partner) == tuple(name.split("-"))
        assert kind == f"({PARTNER_KINDS[partner]})" and levels == f"1..{MOLECULE_LEVELS[molecule]}"
        data = " ".join(data)
        if name in STUDY_PAIRS:
            assert data.startswith("the study's bundled table"), line
        else:
            assert data.startswith("generated FHO-FR"), line
            assert data.endswith(species.MOLECULES[molecule].agreement), line

    table = pd.read_csv(pd.io.common.StringIO(runner.invoke(main, ["data", "pairs", "--csv"]).stdout))
    assert list(table.columns) == ["pair", "molecule", "partner", "partner_kind", "levels", "max_level", "data",
                                   "provenance", "process"]
    assert table["process"].tolist() == ["vt"] * 18 + ["vv"] * 3 + ["vv'"] * 3
    table = table[table["process"] == "vt"]
    assert table["pair"].tolist() == expected
    assert table["max_level"].tolist() == [MOLECULE_LEVELS[m] for m in table["molecule"]]
    assert table["levels"].tolist() == [f"1..{MOLECULE_LEVELS[m]}" for m in table["molecule"]]
    assert table["partner_kind"].tolist() == [PARTNER_KINDS[p] for p in table["partner"]]
    assert set(table.loc[table["data"] == "study", "pair"]) == STUDY_PAIRS
    assert (table["data"] == "generated").sum() == 15


# ------------------------------------------------------------------ kvt data generate on air pairs
@pytest.mark.parametrize("pair, level, T, published", PUBLISHED)
def test_the_reference_reproduces_published_values(pair, level, T, published):
    assert abs(fho_fr_reference(pair, level, T) / published - 1) <= 1e-9


def test_generate_n2_n_against_fho_fr(runner):
    result = runner.invoke(main, ["data", "generate", "--pair", "N2-N", "--levels", "46", "--temps", "10000"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.strip().split("\n") if not line.startswith("#")]
    assert lines[0] == "level,T_K,k_m3_s" and len(lines) == 2
    assert "# pair: N2-N" in result.stdout.split("\n")  # so that kvt reads the N2 levels back
    level, T, k = lines[1].split(",")
    assert (level, T) == ("46", "10000")
    assert abs(float(k) / fho_fr_reference("N2-N", 46, 10000.0) - 1) <= 1e-9
    published = runner.invoke(main, ["data", "generate", "--pair", "N2-N", "--levels", "1", "--temps", "250"])
    row = [line for line in published.stdout.split("\n") if line and not line.startswith("#")][1]
    assert abs(float(row.split(",")[2]) / 6.43092109769232e-26 - 1) <= 1e-9


@pytest.mark.parametrize("pair", ["N2-N", "NO-O", "O2-N"])
def test_generate_on_the_study_grid_is_the_bundled_file_and_reads_back(runner, pair, tmp_path):
    from kvt.data.datasets import bundled_data_dir, read_table

    out = tmp_path / f"{pair}.csv"
    assert runner.invoke(main, ["data", "generate", "--pair", pair, "-o", str(out)]).exit_code == 0
    assert out.read_bytes() == (bundled_data_dir() / f"{pair}.csv").read_bytes()
    part = tmp_path / "part.csv"
    top = MOLECULE_LEVELS[pair.split("-")[0]]
    assert runner.invoke(main, ["data", "generate", "--pair", pair, "--levels", f"{top}", "--temps", "1000",
                                "-o", str(part)]).exit_code == 0
    table, _ = read_table(part)
    assert table.down()["level"].tolist() == [top]


# ------------------------------------------------------------------ train -> predict -> export
def keras_scaled(path, levels, temps):
    """A study-mode run's model.keras on (level, T) min-max scaled by hand from scaler.json."""
    import keras

    model = keras.models.load_model(path / "model.keras", compile=False)
    s = json.loads((path / "scaler.json").read_text())["feature_scaler"]
    x = (np.column_stack([levels, temps]) - np.array(s["data_min"])) / (np.array(s["data_max"])
                                                                        - np.array(s["data_min"]))
    return np.asarray(model.predict(x.astype(model.inputs[0].dtype), verbose=0), dtype=float)[:, 0]


def scaled_target(path, k):
    """k in m^3/s -> the study's scaled target, from scaler.json by hand."""
    state = json.loads((path / "scaler.json").read_text())
    t = state["target_scaler"]
    return (np.asarray(k) * state["target_factor"] - t["data_min"][0]) / (t["data_max"][0] - t["data_min"][0])


C_DRIVER = r"""#include <stdio.h>
#include <stdlib.h>
#include "kvt_rates.h"
int main(int argc, char **argv) {
    double kd[KVT_N_TRANSITIONS], ku[KVT_N_TRANSITIONS];
    int a, j, rc;
    printf("%d %d %d\n", KVT_LEVEL_MIN, KVT_LEVEL_MAX, KVT_N_TRANSITIONS);
    for (a = 1; a < argc; a++) {
        rc = kvt_rates(strtod(argv[a], NULL), kd, ku);
        printf("%d", rc);
        for (j = 0; j < KVT_N_TRANSITIONS; j++) printf(" %.17g %.17g", kd[j], ku[j]);
        printf("\n");
    }
    return 0;
}
"""


@pytest.mark.parametrize("pair", ["N2-N2", "NO-O"])
def test_train_predict_export_round_trip(runner, tmp_path, pair):
    molecule = pair.split("-")[0]
    top = MOLECULE_LEVELS[molecule]
    run = tmp_path / "run"
    trained = runner.invoke(main, ["train", "--pair", pair, "--epochs", "2", "--units", "4", "--quiet",
                                   "--out", str(run)])
    assert trained.exit_code == 0, trained.output
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["dataset"]["pair"] == pair and meta["dataset"]["level_range"] == [1, top]

    temps = [1000.0, 5000.0]
    predicted = runner.invoke(main, ["predict", "--run", str(run), "--levels", f"1-{top}", "--temps", "1000,5000",
                                     "--csv", "--allow-nonphysical"])
    assert predicted.exit_code == 0, predicted.output
    frame = pd.read_csv(pd.io.common.StringIO(predicted.stdout))
    assert frame["level"].tolist() == [i for i in range(1, top + 1) for _ in temps]
    np.testing.assert_allclose(scaled_target(run, frame["k_m3_s"]), keras_scaled(run, frame["level"], frame["T_K"]),
                               rtol=1e-6, atol=1e-6)
    k = frame.pivot(index="T_K", columns="level", values="k_m3_s").loc[temps].to_numpy()
    beyond = runner.invoke(main, ["predict", "--run", str(run), "--level", str(top + 1), "--temps", "1000"])
    assert error_line(beyond) == f"Error: level {top + 1} is out of range; {molecule} levels are 1..{top}"
    for bad, message in BAD_PAIRS:
        assert error_line(runner.invoke(main, ["evaluate", "--run", str(run), "--pair", bad])) == message

    table = tmp_path / "k.csv"
    exported = runner.invoke(main, ["export", "--run", str(run), "--format", "csv", "-o", str(table),
                                    "--allow-nonphysical"])
    assert exported.exit_code == 0, exported.output
    wide = pd.read_csv(table, comment="#").set_index("T_K")
    assert list(wide.columns) == [f"k_{i}_{i - 1}_m3_s" for i in range(1, top + 1)]
    np.testing.assert_allclose(wide.loc[temps].to_numpy(), k, rtol=1e-9)

    header = tmp_path / "kvt_rates.h"
    exported = runner.invoke(main, ["export", "--run", str(run), "--format", "c-header", "-o", str(header),
                                    "--allow-nonphysical"])
    assert exported.exit_code == 0, exported.output
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) found to check the exported header; apt-get install -y gcc")
    (tmp_path / "driver.c").write_text(C_DRIVER)
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-o", str(tmp_path / "driver"), str(tmp_path / "driver.c"),
                    "-lm"], check=True, capture_output=True, cwd=tmp_path, timeout=60)
    done = subprocess.run([str(tmp_path / "driver"), "1000", "5000"], capture_output=True, text=True, check=True,
                          timeout=30)
    first, *rows = done.stdout.strip().split("\n")
    assert first.split() == ["1", str(top), str(top)]
    values = np.array([[float(v) for v in row.split()[1:]] for row in rows])
    k_down, k_up = values[:, 0::2], values[:, 1::2]
    np.testing.assert_allclose(k_down, k, rtol=1e-9)
    energy = level_energies_K(molecule, top)
    np.testing.assert_allclose(k_up / k_down, np.exp(-np.diff(energy)[None, :] / np.array(temps)[:, None]),
                               rtol=1e-12)


# ------------------------------------------------------------------ both directions with the molecule's energies
# N2's and NO's constants as published with their FHO-FR tables (m^-1), and the second radiation constant (m K).
C2 = 1.4388e-2
OMEGA = {"N2": (235857.0, 1432.0), "NO": (190420.0, 1407.5)}


def quantum_K(molecule, level):
    """E(i) - E(i-1) of the anharmonic oscillator, in K."""
    omega_e, omega_e_xe = OMEGA[molecule]
    return C2 * (omega_e - 2 * omega_e_xe * level)


@pytest.mark.parametrize("pair", ["N2-N", "NO-O"])
def test_generate_both_directions_uses_the_molecule_s_energies(runner, pair, tmp_path):
    out = tmp_path / "both.csv"
    result = runner.invoke(main, ["data", "generate", "--pair", pair, "--levels", "1,20", "--temps", "1000,5000",
                                  "--direction", "both", "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, comment="#")
    down = frame[frame["level_to"] == frame["level_from"] - 1].set_index(["level_from", "T_K"])["k_m3_s"]
    up = frame[frame["level_to"] == frame["level_from"] + 1].set_index(["level_to", "T_K"])["k_m3_s"]
    for (level, T), k_down in down.items():
        assert up[(level, T)] / k_down == pytest.approx(np.exp(-quantum_K(pair[:2], level) / T), rel=1e-9)
    from kvt.data.datasets import read_table

    table, _ = read_table(out)
    assert np.allclose(table.down().set_index(["level", "T_K"])["k_m3_s"].sort_index(), down.sort_index(), rtol=1e-12)


@pytest.fixture(scope="module")
def n2_user_run(tmp_path_factory):
    """A study-mode run trained on a user table of N2-N (generated, so it names its pair in a # line)."""
    root = tmp_path_factory.mktemp("n2_user")
    table = root / "n2.csv"
    runner = CliRunner()
    assert runner.invoke(main, ["data", "generate", "--pair", "N2-N", "-o", str(table)]).exit_code == 0
    shutil.copy(table, root / "renamed.csv")
    run = root / "run"
    result = runner.invoke(main, ["train", "--data", str(root / "renamed.csv"), "--epochs", "2", "--units", "4",
                                  "--quiet", "--out", str(run)])
    assert result.exit_code == 0, result.output
    return run


def test_an_export_of_a_user_table_run_names_its_molecule_and_reads_back(runner, n2_user_run, tmp_path):
    from kvt.data.datasets import read_table

    out = tmp_path / "up.csv"
    result = runner.invoke(main, ["export", "--run", str(n2_user_run), "--levels", "40-46", "--temps", "1000,5000",
                                  "--direction", "up", "--layout", "long", "--allow-nonphysical", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "# molecule: N2" in out.read_text().split("\n")  # the run has no pair to name
    predicted = runner.invoke(main, ["predict", "--run", str(n2_user_run), "--levels", "40-46", "--temps",
                                     "1000,5000", "--csv", "--allow-nonphysical"])
    expected = pd.read_csv(pd.io.common.StringIO(predicted.stdout)).set_index(["level", "T_K"])["k_m3_s"]
    table, _ = read_table(out)
    back = table.down().set_index(["level", "T_K"])["k_m3_s"]
    assert np.allclose(back.sort_index(), expected.sort_index(), rtol=1e-8)


def test_evaluate_refuses_a_reference_pair_of_another_molecule(runner, n2_user_run):
    result = runner.invoke(main, ["evaluate", "--run", str(n2_user_run), "--pair", "O2-Ar"])
    assert error_line(result) == ("Error: --pair O2-Ar is a pair of O2, but the run's network is of N2; "
                                  "give a pair of N2")
