"""`kvt relax`, directions in predict/export/generate, and the refusal of k <= 0, through the CLI."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import error_line
from test_kinetics import REFERENCE_P_TAU, TEMPS, radau_tau

from kvt.kinetics import heat_bath
from kvt.physics import fho
from kvt.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A short study-mode run (it predicts k <= 0 somewhere) and a short accurate-mode run."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("relax-runs")
    study, accurate = root / "study", root / "accurate"
    for out, extra in ((study, ["--optimizer", "adam", "--epochs", "10", "--units", "16"]),
                       (accurate, ["--mode", "accurate", "--epochs", "300", "--finish-iterations", "200"])):
        result = CliRunner().invoke(main, ["train", "--pair", "O2-Ar", *extra, "--out", str(out), "--quiet"])
        assert result.exit_code == 0, result.output
    return study, accurate


@pytest.fixture(scope="module")
def negative_run(runs, tmp_path_factory):
    """The study run with its output shifted down by its 5th-percentile k: k <= 0 on part of the grid."""
    import shutil

    from kvt.kinetics import validity
    from kvt.network.inference import Network

    study, _ = runs
    out = tmp_path_factory.mktemp("negative") / "run"
    shutil.copytree(study, out)
    spec = json.loads((out / "weights.json").read_text())
    target = spec["target"]
    levels, temps = np.meshgrid(np.arange(1, 36), np.arange(250.0, 10001.0, 10.0), indexing="ij")
    shift = np.percentile(Network(spec).predict_k(levels.ravel(), temps.ravel()), 5)
    target["shift"] += shift * target["scale"] * target["factor"]
    (out / "weights.json").write_text(json.dumps(spec))
    region = validity.dense_grid_region(Network(spec))
    assert 0 < region["count"] < region["points"]
    return out, region


def test_relax_pair_csv_matches_radau_and_the_reference_table(runner):
    result = runner.invoke(main, ["relax", "--pair", "O2-Ar", "--csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "T_K,tau_s,p_tau_atm_s"
    table = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert table["T_K"].tolist() == TEMPS.tolist()
    np.testing.assert_allclose(table["p_tau_atm_s"], REFERENCE_P_TAU["O2-Ar"], rtol=1e-4)
    k = heat_bath.fho_rates("O2-Ar", [2000.0])[0]
    assert table.loc[table["T_K"] == 2000, "tau_s"].iloc[0] == pytest.approx(radau_tau(k, 2000.0), rel=1e-6)


def _expm_tau(k_down, T, tv0):
    """τ of the heat bath from x(t) = expm(A t) x(0), A the rate matrix built here (k_up by detailed balance)."""
    from scipy.linalg import expm
    from scipy.optimize import brentq

    e = fho.level_energy_K(np.arange(len(k_down) + 1))
    k_up = k_down * np.exp(-(e[1:] - e[:-1]) / T)
    n = np.arange(1, len(k_down) + 1)
    A = np.zeros((len(e), len(e)))
    A[n - 1, n] += k_down  # n -> n-1
    A[n, n] -= k_down
    A[n, n - 1] += k_up  # n-1 -> n
    A[n - 1, n - 1] -= k_up
    A *= 101325.0 / (fho.BOLTZMANN * T)  # kvt's k_B (the study's 1.3807e-23)
    x0, x_eq = np.exp(-e / tv0) / np.exp(-e / tv0).sum(), np.exp(-e / T) / np.exp(-e / T).sum()
    excess = lambda t: (e @ (expm(A * t) @ x0) - e @ x_eq) / (e @ x0 - e @ x_eq) - np.exp(-1.0)  # noqa: E731
    hi = 1e-12
    while excess(hi) > 0:
        hi *= 2.0
    return brentq(excess, hi / 2.0, hi, xtol=1e-300, rtol=1e-13)


def test_cooling_beyond_the_exact_solutions_precision_is_integrated(runner, tmp_path):
    """T_v0 5000 K over a 1000 K bath: the exact solution would lose precision, so kvt relax integrates the master
    equation instead, says so in one note and in relax.json; τ against the matrix exponential of the test's own
    rate matrix (scipy.linalg.expm, τ by Brent's method)."""
    out = tmp_path / "cool"
    result = runner.invoke(main, ["relax", "--pair", "O2-Ar", "--temps", "1000,2000", "--tv0", "5000", "--csv",
                                  "--reference", "fho", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == (
        "note: T_v0 5000 K is too far above a bath temperature for the exact solution in double precision; the "
        "master equation was integrated instead (LSODA, analytic Jacobian)")
    table = pd.read_csv(__import__("io").StringIO(result.stdout))
    k = heat_bath.fho_rates("O2-Ar", [1000.0, 2000.0])
    for row, T in enumerate((1000.0, 2000.0)):
        assert table["tau_s"][row] == pytest.approx(_expm_tau(k[row], T, tv0=5000.0), rel=1e-6)
    assert json.loads((out / "relax.json").read_text())["method"].startswith("integrated: T_v0 is too far above")
    with pytest.raises(heat_bath.PrecisionLost):
        heat_bath.relax(k, [1000.0, 2000.0], tv0=5000.0)


def test_relax_run_with_reference_writes_the_folder(runner, runs, tmp_path):
    _, accurate = runs
    out = tmp_path / "relax"
    result = runner.invoke(main, ["relax", "--run", str(accurate), "--reference", "fho", "--csv",
                                  "--pressure", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "T_K,tau_s,p_tau_atm_s,tau_ref_s,tau_rel_err,ev_max_dev"
    tau = pd.read_csv(out / "tau.csv")
    reference = heat_bath.relax(heat_bath.fho_rates("O2-Ar", TEMPS), TEMPS, pressure_atm=2.0)
    np.testing.assert_allclose(tau["tau_ref_s"], reference.tau_s, rtol=1e-12)
    np.testing.assert_allclose(tau["p_tau_atm_s"], 2 * tau["tau_s"], rtol=1e-10)
    np.testing.assert_allclose(tau["tau_rel_err"], tau["tau_s"] / tau["tau_ref_s"] - 1, rtol=1e-8, atol=1e-15)
    assert np.all(np.abs(tau["tau_rel_err"]) < 0.2)  # a short accurate run is already close
    energy = pd.read_csv(out / "energy.csv")
    assert set(energy.columns) == {"T_K", "t_s", "t_over_tau", "ev_norm", "ev_norm_ref"}
    start = energy[energy["t_s"] == 0]
    np.testing.assert_allclose(start[["ev_norm", "ev_norm_ref"]], 1.0, atol=1e-12)
    populations = pd.read_csv(out / "populations.csv")
    sums = populations.groupby(["T_K", "t_over_tau"])["x"].sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-12)
    for name in ("populations.png", "energy.png", "millikan_white.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((out / "relax.json").read_text())
    assert record["conditions"]["pressure_atm"] == 2.0 and record["reference"]["pair"] == "O2-Ar"


def test_relax_reads_the_tables_kvt_writes(runner, runs, tmp_path):
    _, accurate = runs
    expected = None
    for layout, units, direction in (("wide", "m3/s", "down"), ("long", "cm3/s", "both"), ("wide", "cm3/s", "up")):
        table = tmp_path / f"{layout}-{units.replace('/', '')}-{direction}.csv"
        exported = runner.invoke(main, ["export", "--run", str(accurate), "--temps", "500,1000,2000,5000,10000",
                                        "--layout", layout, "--units", units, "--direction", direction,
                                        "-o", str(table)])
        assert exported.exit_code == 0, exported.output
        result = runner.invoke(main, ["relax", "--table", str(table), "--csv"])
        assert result.exit_code == 0, result.output
        tau = pd.read_csv(pd.io.common.StringIO(result.stdout))["tau_s"].to_numpy()
        expected = tau if expected is None else expected
        np.testing.assert_allclose(tau, expected, rtol=1e-8)  # export rounds k to 11 digits
    from_run = runner.invoke(main, ["relax", "--run", str(accurate), "--csv"])
    np.testing.assert_allclose(pd.read_csv(pd.io.common.StringIO(from_run.stdout))["tau_s"], expected, rtol=1e-8)


def test_relax_refuses_a_run_with_non_positive_rates(runner, negative_run, tmp_path):
    run, region = negative_run
    lo, _ = region["T_K"]
    result = runner.invoke(main, ["relax", "--run", str(run), "--temps", f"{lo:g}", "--tv0", "5000",
                                  "--out", str(tmp_path / "r")])
    assert re.fullmatch(r"Error: cannot relax: \d+ rate\(s\) are <= 0 or not finite: transitions .* at .* K; "
                        r"a master equation needs k > 0 \(kvt train --mode accurate avoids non-positive rates\)",
                        error_line(result))
    assert not (tmp_path / "r").exists()


def test_relax_bad_input(runner, tmp_path):
    partial = tmp_path / "partial.csv"
    assert runner.invoke(main, ["data", "generate", "--pair", "O2-O", "--levels", "1-20", "--temps", "1000",
                                "-o", str(partial)]).exit_code == 0
    unitless = tmp_path / "unitless.csv"
    unitless.write_text("T_K,k_1_0\n1000,1e-20\n")
    cases = [
        (["--pair", "O2-O", "--tv0", "1000"], "Error: --tv0 1000 K equals a bath temperature; relaxation needs a "
                                              "T_v0 different from every bath temperature"),
        (["--pair", "O2-O", "--pressure", "0"], "Error: --pressure must be a number > 0 (atm), got 0"),
        (["--pair", "O2-O", "--pressure", "-2"], "Error: --pressure must be a number > 0 (atm), got -2"),
        (["--table", str(partial), "--temps", "1000"],
         f"Error: {partial} lacks transitions of levels 21-35 at 1000 K; relaxation needs every transition "
         f"1->0 .. 35->34 at each temperature"),
        (["--table", str(partial)], f"Error: {partial} has no rates at 500, 2000, 5000, 10000 K; its temperatures "
                                    f"are 1000 K (give --temps from those)"),
        (["--table", str(unitless)], f"Error: {unitless}: wide columns without units (k_1_0) need a "
                                     f"'# units: k in m^3/s' or '# units: k in cm^3/s' header line; or name the "
                                     f"units in the columns (k_1_0_m3_s)"),
        (["--table", str(partial), "--temps", "1000", "--reference", "fho"],
         f"Error: {partial} lacks transitions of levels 21-35 at 1000 K; relaxation needs every transition "
         f"1->0 .. 35->34 at each temperature"),
        ([], "Error: give a rate set: --run DIR, --table FILE or --pair P (MOLECULE-PARTNER, e.g. O2-Ar; see "
             "`kvt data pairs`)"),
        (["--pair", "O2-O", "--reference", "exact"], "Error: unknown reference 'exact'; valid references: fho"),
        (["--pair", "O2-Xe"], "Error: unknown partner 'Xe' in pair 'O2-Xe'; partners: O2, N2, NO, O, N, Ar"),
        (["--pair", "O2-O", "--temps", "100"],
         "Error: temperature 100 K is outside 250..20000 K, where the FHO-FR model is defined"),
    ]
    for args, message in cases:
        assert error_line(runner.invoke(main, ["relax", *args, "--out", str(tmp_path / "out")])) == message, args
    assert not (tmp_path / "out").exists()


def test_relax_refuses_a_run_on_a_subset_of_levels(runner, tmp_path):
    data = tmp_path / "few.csv"
    assert runner.invoke(main, ["data", "generate", "--pair", "O2-Ar", "--levels", "1-10",
                                "-o", str(data)]).exit_code == 0
    run = tmp_path / "few-run"
    trained = runner.invoke(main, ["train", "--data", str(data), "--optimizer", "adam", "--epochs", "2", "--units", "8",
                                   "--out", str(run), "--quiet"])
    assert trained.exit_code == 0, trained.output
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["metrics"]["nonphysical"]["grid"]["levels"] == [1, 10] and "relaxation" not in meta["metrics"]
    assert error_line(runner.invoke(main, ["relax", "--run", str(run)])) == (
        f"Error: run {run} was trained on levels 1..10; relaxation needs every level 1..35 of O2")


def test_train_records_non_positive_cells_and_relaxation_error(runs):
    study, accurate = runs
    for run in (study, accurate):
        meta = json.loads((run / "metadata.json").read_text())
        region, relaxation = meta["metrics"]["nonphysical"], meta["metrics"]["relaxation"]
        assert region["points"] == 35 * 976 and region["grid"]["T_K"] == [250.0, 10000.0]
        from kvt.network.inference import Network

        network = Network(json.loads((run / "weights.json").read_text()))
        levels, temps = np.meshgrid(np.arange(1, 36), np.arange(250.0, 10001.0, 10.0), indexing="ij")
        k = network.predict_k(levels.ravel(), temps.ravel())
        assert region["count"] == int(np.count_nonzero(~(k > 0)))
        assert [row["T_K"] for row in relaxation["temperatures"]] == TEMPS.tolist()
        for row in relaxation["temperatures"]:
            rates = heat_bath.network_rates(network, [row["T_K"]])
            if np.all(rates > 0):
                tau = heat_bath.relax(rates, [row["T_K"]]).tau_s[0]
                assert row["tau_rel_err"] == pytest.approx(tau / row["tau_ref_s"] - 1, rel=1e-9, abs=1e-15)
            else:
                assert row["tau_s"] is None and "k <= 0" in row["note"]


def test_export_and_predict_refuse_non_positive_rates_unless_asked(runner, negative_run, tmp_path):
    study, region = negative_run
    out = tmp_path / "k.csv"
    result = runner.invoke(main, ["export", "--run", str(study), "-o", str(out)])
    lo, hi = region["T_K"]
    assert error_line(result) == (
        f"Error: the network gives k <= 0 (or not finite) at {region['count']} of 34160 points (levels "
        f"{region['levels']} at {lo:g}..{hi:g} K), which no kinetics code can use; train with --mode accurate, "
        f"which avoids them, or pass --allow-nonphysical to write them anyway")
    assert not out.exists()
    predicted = runner.invoke(main, ["predict", "--run", str(study), "--levels", "1-35", "--temps", "250:10000:10"])
    assert error_line(predicted).endswith("or pass --allow-nonphysical to print them anyway")
    allowed = runner.invoke(main, ["export", "--run", str(study), "--allow-nonphysical", "-o", str(out)])
    assert allowed.exit_code == 0, allowed.output
    assert "Warning:" in allowed.stderr
    header = [line for line in out.read_text().splitlines() if line.startswith("#")]
    assert any(line.startswith(f"# non-physical: WARNING {region['count']} of 34160 points") for line in header)


def test_directions_obey_detailed_balance_in_every_output(runner, runs, tmp_path):
    _, accurate = runs
    both = runner.invoke(main, ["predict", "--run", str(accurate), "--levels", "1,20,35", "--temps", "300,4000",
                                "--direction", "both", "--csv"])
    assert both.exit_code == 0, both.output
    frame = pd.read_csv(pd.io.common.StringIO(both.stdout))
    assert list(frame.columns) == ["level_from", "level_to", "T_K", "k_m3_s"] and len(frame) == 12
    down = frame[frame["level_to"] == frame["level_from"] - 1].set_index(["level_from", "T_K"])["k_m3_s"]
    up = frame[frame["level_to"] == frame["level_from"] + 1].set_index(["level_to", "T_K"])["k_m3_s"]
    up.index.names = down.index.names
    levels, temps = (down.index.get_level_values(i).to_numpy(dtype=float) for i in (0, 1))
    e = lambda n: 1.4388e-2 * 158019.0 * n - 1.4388e-2 * 1198.0 * n * (n + 1)  # noqa: E731
    np.testing.assert_allclose(up.loc[down.index] / down, np.exp(-(e(levels) - e(levels - 1)) / temps), rtol=1e-9)

    wide = tmp_path / "both.csv"
    assert runner.invoke(main, ["export", "--run", str(accurate), "--levels", "1-3", "--temps", "1000,2000",
                                "--direction", "both", "-o", str(wide)]).exit_code == 0
    text = wide.read_text()
    assert "# direction: both" in text
    columns = pd.read_csv(wide, comment="#").columns.tolist()
    assert columns == ["T_K", "k_1_0_m3_s", "k_2_1_m3_s", "k_3_2_m3_s", "k_0_1_m3_s", "k_1_2_m3_s", "k_2_3_m3_s"]

    generated = runner.invoke(main, ["data", "generate", "--pair", "O2-O", "--levels", "5", "--temps", "800",
                                     "--direction", "up"])
    body = pd.read_csv(pd.io.common.StringIO(generated.stdout), comment="#")
    assert body.iloc[0]["level_from"] == 4 and body.iloc[0]["level_to"] == 5
    expected = fho.rate_coefficient(5, 800.0, "O") * np.exp(-(e(5) - e(4)) / 800.0)
    assert body.iloc[0]["k_m3_s"] == pytest.approx(expected, rel=1e-14)
    assert error_line(runner.invoke(main, ["data", "generate", "--pair", "O2-O", "--direction", "sideways"])) == (
        "Error: unknown direction 'sideways'; valid directions: down, up, both")


def test_relax_force_replaces_only_its_own_folder(runner, runs, tmp_path):
    from conftest import snapshot

    _, accurate = runs
    out = tmp_path / "relax"
    first = runner.invoke(main, ["relax", "--pair", "O2-O", "--out", str(out)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, ["relax", "--pair", "O2-Ar", "--out", str(out), "--force"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "relax.json").read_text())["source"]["pair"] == "O2-Ar"
    table = tmp_path / "t.csv"
    assert runner.invoke(main, ["data", "generate", "--pair", "O2-O", "--temps", "1000", "-o", str(table)]).exit_code == 0
    before = snapshot(tmp_path)
    assert error_line(runner.invoke(main, ["relax", "--table", str(table), "--temps", "1000", "--out",
                                           str(tmp_path), "--force"])) == (
        f"Error: will not replace {tmp_path}: it holds {table}, an input of this command")
    assert snapshot(tmp_path) == before
    run_before = snapshot(accurate)
    assert error_line(runner.invoke(main, ["relax", "--pair", "O2-O", "--out", str(accurate), "--force"])) == (
        f"Error: will not replace {accurate}: it is a kvt run folder, not a relax folder")
    assert snapshot(accurate) == run_before


def test_relax_table_with_non_positive_rates_elsewhere(runner, negative_run, tmp_path):
    run, region = negative_run
    table = tmp_path / "with-negatives.csv"
    assert runner.invoke(main, ["export", "--run", str(run), "--allow-nonphysical", "-o", str(table)]).exit_code == 0
    lo, hi = region["T_K"]
    bad = runner.invoke(main, ["relax", "--table", str(table), "--temps", f"{lo:g}", "--tv0", "5000"])
    assert error_line(bad).startswith("Error: cannot relax: ")
    good_T = 10000.0
    assert good_T > hi
    from_table = runner.invoke(main, ["relax", "--table", str(table), "--temps", "10000", "--csv"])
    from_run = runner.invoke(main, ["relax", "--run", str(run), "--temps", "10000", "--csv"])
    assert from_table.exit_code == 0, from_table.output
    tau_table = pd.read_csv(pd.io.common.StringIO(from_table.stdout))["tau_s"].iloc[0]
    tau_run = pd.read_csv(pd.io.common.StringIO(from_run.stdout))["tau_s"].iloc[0]
    assert tau_table == pytest.approx(tau_run, rel=1e-8)


def test_reference_pair_must_be_the_runs_own(runner, runs):
    _, accurate = runs
    assert error_line(runner.invoke(main, ["relax", "--run", str(accurate), "--pair", "O2-O", "--reference", "fho"])) == (
        "Error: --pair O2-O differs from the run's pair (O2-Ar); --pair names the reference only for a run without one")
    assert error_line(runner.invoke(main, ["evaluate", "--run", str(accurate), "--pair", "O2-O"])) == (
        "Error: --pair O2-O differs from the pair the run was trained on (O2-Ar); --pair names the reference only "
        "for runs trained on a user table")


def test_plot_refuses_a_file_name_that_is_not_png(runner, runs, tmp_path):
    study, _ = runs
    assert error_line(runner.invoke(main, ["plot", "--run", str(study), "--level", "5", "-o", str(tmp_path / "k.pdf")])) == (
        f"Error: -o {tmp_path / 'k.pdf'}: kvt plot writes PNG images; give a file name ending in .png")


def test_export_defaults_to_the_runs_trained_range(runner, tmp_path):
    data = tmp_path / "few.csv"
    assert runner.invoke(main, ["data", "generate", "--pair", "O2-Ar", "--levels", "3-6", "--temps",
                                "500:3000:500", "-o", str(data)]).exit_code == 0
    run = tmp_path / "few-run"
    assert runner.invoke(main, ["train", "--data", str(data), "--mode", "accurate", "--epochs", "20",
                                "--finish-iterations", "5", "--out", str(run), "--quiet"]).exit_code == 0
    table = tmp_path / "t.csv"
    result = runner.invoke(main, ["export", "--run", str(run), "-o", str(table)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(table, comment="#")
    assert "# pair: none (trained on the user table few); dataset sha256: " in table.read_text()
    from kvt.data.datasets import read_table

    assert read_table(table)[0].pair is None
    assert list(frame.columns) == ["T_K"] + [f"k_{i}_{i - 1}_m3_s" for i in range(3, 7)]
    assert frame["T_K"].tolist() == list(np.arange(500.0, 3001.0, 10.0))
    assert error_line(runner.invoke(main, ["export", "--run", str(run), "--format", "weights", "--temps", "500",
                                           "-o", str(tmp_path / "w.json")])) == (
        "Error: --temps applies to --format csv, not weights (which covers the run's whole trained range)")


def test_weights_of_a_network_with_non_positive_rates_are_refused_unless_asked(runner, negative_run, tmp_path):
    run, region = negative_run
    for fmt in ("weights", "weights-text"):
        out = tmp_path / f"w.{fmt}"
        lo, hi = region["T_K"]
        assert error_line(runner.invoke(main, ["export", "--run", str(run), "--format", fmt, "-o", str(out)])) == (
            f"Error: the network gives k <= 0 (or not finite) at {region['count']} of {region['points']} points "
            f"of the grid levels 1..35 x every 10 K of 250..10000 K "
            f"(levels {region['levels']} at {lo:g}..{hi:g} K), which no kinetics code can use; train with --mode "
            f"accurate, which avoids them, or pass --allow-nonphysical to export the network anyway")
        allowed = runner.invoke(main, ["export", "--run", str(run), "--format", fmt, "--allow-nonphysical", "-o", str(out)])
        assert allowed.exit_code == 0 and out.exists()
