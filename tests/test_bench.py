"""``kvt bench vt`` / ``kvt bench synthetic``: end to end (quick), bad input, interruption and
--resume, and the reproduce_study notebook (executed in quick mode)."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import error_line

from kvt import KvtError
from kvt.bench import benchmark, records, report, runs, study, synthetic
from kvt.bench.settings import SyntheticSettings, VTSettings, parse_pairs
from kvt.cli import main

PAIRS = ("O2-O2", "O2-O", "O2-Ar")
# Gradient-only optimizers and the three with their own train step (AdaHessian, SAM, K-FAC);
# the CLI default --optimizers all is checked separately without training.
VT_OPTIMIZERS = ("adamod", "sam", "kfac")
SYNTHETIC_OPTIMIZERS = ("adam", "adahessian", "sam", "kfac")
REPO = Path(__file__).resolve().parents[1]


def _no_temp_files(folder: Path):
    return [p.name for p in folder.rglob(".*") if p.name != ".kvt-artifact.json"]  # the marker is no temp file


@pytest.fixture(scope="module")
def vt_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "vt"
    result = CliRunner().invoke(main, ["bench", "vt", "--quick", "--optimizers", ",".join(VT_OPTIMIZERS),
                                       "--target-mse", "0.3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result


def test_vt_quick_writes_every_file_and_every_cell(vt_run):
    out, result = vt_run
    names = {p.name for p in out.iterdir()}
    expected = {"bench.json", "results.csv", "results.md", "summary.csv", "mse.png", "time.png", "profiles.png",
                "curves"}
    expected |= {f"val_loss_{pair}.png" for pair in PAIRS} | {f"k_vt_32_{pair}.png" for pair in PAIRS}
    assert expected <= names
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == records.VT_COLUMNS
    assert len(results) == len(PAIRS) * len(VT_OPTIMIZERS)
    assert set(zip(results["pair"], results["optimizer"])) == {(p, o) for p in PAIRS for o in VT_OPTIMIZERS}
    assert (results["seed"] == 0).all() and (results["status"] == "ok").all()
    for column in ("val_mse_scaled", "train_mse_scaled", "val_mae_m3_s", "val_rel_err_median", "val_rel_err_max",
                   "wall_time_s", "steps_per_second"):
        assert np.isfinite(results[column]).all(), column
        assert (results[column] > 0).all(), column
    assert (results["epochs"] == 3).all() and results["best_epoch"].between(1, 3).all()
    assert (results["protocol"] == "defaults").all()
    assert (results["target_mse"] == 0.3).all() and (results["rel_target"] == 0.05).all()
    # 420 training rows in batches of 32: 14 steps an epoch
    assert (results["steps_per_epoch"] == 14).all()
    for prefix in ("target", "rel_target"):
        reached = results[f"{prefix}_epoch"].notna()
        assert np.isfinite(results.loc[reached, f"{prefix}_time_s"]).all()
        assert (results.loc[reached, f"{prefix}_steps"] == 14 * results.loc[reached, f"{prefix}_epoch"]).all()
        assert results.loc[~reached, [f"{prefix}_time_s", f"{prefix}_steps"]].isna().all().all()
    assert results["target_epoch"].notna().any()  # 0.3 is within reach of 3 epochs
    assert (results["fho_rel_err_max"] >= results["fho_rel_err_median"]).all()
    assert results["nonpositive_fraction"].between(0, 1).all()
    assert results["heldout_mse_scaled"].isna().all()  # only the tuned protocol holds rows out
    sam = results.loc[results["optimizer"] == "sam", "hyperparameters"].map(json.loads)
    assert len(sam) == 3 and sam.iloc[0] == {"learning_rate": 0.03, "rho": 0.1, "base": "sgd"}  # the registry defaults
    assert len(list((out / "curves").glob("*.csv"))) == len(PAIRS) * len(VT_OPTIMIZERS)

    markdown = (out / "results.md").read_text()
    assert "| optimizer | O2–O MSE | study | O2–O time, s | study | O2–Ar MSE |" in markdown
    assert "| adamod | " in markdown and "| 0.004 | " in markdown  # the study's AdaMod O2-O value beside kvt's
    assert "Time to target: validation MSE ≤ 0.3" in markdown
    assert "quick settings" in markdown and "## Goal" in markdown
    meta = json.loads((out / "bench.json").read_text())
    session = meta["sessions"][0]
    assert session["machine"]["cpu_count"] >= 1 and session["runs"] == len(results) and "finished" in session
    assert meta["training"] == {"protocol": "defaults", "quick": True, "epochs": 3, "units": 8, "patience": 100,
                                "target_mse": 0.3, "rel_target": 0.05, "trials": None, "held_out_K": None}
    # stdout: the headline and where the report is, not the report itself
    lines = result.stdout.splitlines()
    assert lines[0].startswith("VT benchmark, protocol defaults: ") and "| optimizer |" not in result.stdout
    assert lines[-1].startswith(f"report: {out / 'results.md'} (every optimizer, statistics, figures)")
    assert "Error" not in result.output
    assert not _no_temp_files(out)


def _finite_runs(out, pairs, optimizers, seeds):
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == records.VT_COLUMNS
    assert sorted(zip(results["pair"], results["optimizer"], results["seed"])) == sorted(
        (p, o, s) for p in pairs for o in optimizers for s in seeds)
    assert (results["status"] == "ok").all()
    for column in ("val_mse_scaled", "fho_rel_err_median", "fho_rel_err_max", "nonpositive_fraction",
                   "wall_time_s", "run_time_s"):
        assert np.isfinite(results[column]).all(), column
    return results


def test_study_protocol_quick_in_two_workers(runner, tmp_path):
    out = tmp_path / "study"
    result = runner.invoke(main, ["bench", "vt", "--protocol", "study", "--quick", "--optimizers", "adam,sam",
                                  "--pairs", "O2-O,O2-Ar", "--workers", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "running the cells in 2 worker processes" in result.stderr
    results = _finite_runs(out, ("O2-O", "O2-Ar"), ("adam", "sam"), (0,))
    assert (results["protocol"] == "study").all() and (results["epochs"] == 3).all()  # no early stopping
    assert json.loads((out / "bench.json").read_text())["training"]["patience"] is None
    markdown = (out / "results.md").read_text()
    assert "protocol study: at most 3 epochs, no early stopping" in markdown
    for section in ("## Statistics over seeds", "## Time to result", "## What users read"):
        assert section in markdown
    assert (out / "profiles.png").stat().st_size > 5000 and not (out / "trials.csv").exists()


def test_tuned_protocol_quick_searches_then_scores_the_held_out_temperatures(runner, tmp_path):
    out = tmp_path / "tuned"
    pairs = ("O2-Ar",)
    result = runner.invoke(main, ["bench", "vt", "--protocol", "tuned", "--quick", "--optimizers", "adam,lion",
                                  "--pairs", ",".join(pairs), "--held-out", "2500,750", "--out", str(out)])
    assert result.exit_code == 0, result.output
    results = _finite_runs(out, pairs, ("adam", "lion"), (0, 1))
    for column in ("heldout_mse_scaled", "heldout_rel_err_median", "heldout_rel_err_max"):
        assert np.isfinite(results[column]).all() and (results[column] > 0).all(), column
    trials = pd.read_csv(out / "trials.csv")
    assert list(trials.columns) == records.TRIAL_COLUMNS
    assert sorted(trials.groupby(["pair", "optimizer"]).size().items()) == sorted(
        ((p, o), 2) for p in pairs for o in ("adam", "lion"))
    # every seed trains the best trial's hyper-parameters
    for (pair, optimizer), group in results.groupby(["pair", "optimizer"]):
        cell = trials[(trials["pair"] == pair) & (trials["optimizer"] == optimizer)]
        best = json.loads(cell.loc[cell["score"].idxmin(), "hyperparameters"])
        assert all(json.loads(h) == best for h in group["hyperparameters"])
    meta = json.loads((out / "bench.json").read_text())
    assert meta["training"]["held_out_K"] == [750.0, 2500.0] and meta["training"]["trials"] == 2
    markdown = (out / "results.md").read_text()
    assert "temperatures 750, 2500 K held out of the search and the training" in markdown
    assert "`heldout_mse_scaled`" in markdown


def test_quick_defaults_cover_every_registry_optimizer():
    from kvt import optimizers

    vt = VTSettings(quick=True).resolved()
    assert vt.optimizers == optimizers.names() and len(vt.optimizers) == 21
    assert vt.pairs == list(PAIRS) and vt.repeats == 1 and vt.epochs == 3
    full = VTSettings().resolved()
    assert (full.protocol, full.repeats, full.epochs, full.patience, full.units) == ("defaults", 3, 1000, 100, 64)
    study_budget = VTSettings(protocol="study").resolved()
    assert (study_budget.repeats, study_budget.epochs, study_budget.patience) == (5, 30, None)  # no early stopping
    tuned = VTSettings(protocol="tuned").resolved()
    assert (tuned.repeats, tuned.trials, tuned.held_out, tuned.epochs, tuned.patience) == (
        5, 16, (750.0, 2500.0, 7000.0), 60, 20)
    assert VTSettings(protocol="tuned", quick=True).resolved().repeats == 2  # a spread needs two seeds
    synthetic = SyntheticSettings(quick=True).resolved()
    assert synthetic.optimizers == optimizers.names() and synthetic.repeats == 1 and synthetic.rows == 1000
    assert SyntheticSettings().resolved().rows == 10000
    assert VTSettings(optimizers="LARS, adamod", quick=True).resolved().optimizers == ["lars", "adamod"]
    assert parse_pairs("O2-O,,O2-Ar,O2-O") == ["O2-O", "O2-Ar"]
    assert parse_pairs("N2-N, NO-O2,N2-N") == ["N2-N", "NO-O2"]  # any of the 18 air pairs
    assert VTSettings(pairs="N2-N2,NO-O", quick=True).resolved().pairs == ["N2-N2", "NO-O"]


def test_study_tables_and_goals():
    assert {p: study.study_best_mse(p) for p in PAIRS} == {"O2-O": 0.004, "O2-Ar": 0.025, "O2-O2": 0.015}
    assert list(study.STUDY_VT.index) == ["adamod", "madgrad", "radam", "apollo", "adahessian", "lars", "lamb",
                                          "adam"]
    assert study.STUDY_SYNTHETIC.loc["adam", "time_s"] == 16.36 and study.STUDY_SYNTHETIC.loc["lars", "epochs"] == 30


def test_time_to_target_from_history():
    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_loss": [0.5, 0.2, 0.05, 0.01],
                            "time_s": [0.1, 0.2, 0.3, 0.4]})
    assert runs.time_to_target(history, 0.05) == (3, 0.3)
    assert runs.time_to_target(history, 0.001) == (None, None)


def test_synthetic_data_makes_learnable_targets():
    inputs, y = synthetic.synthetic_data(2000, seed=0)
    assert [x.shape for x in inputs] == [(2000, 20), (2000, 15), (2000, 15)] and y.shape == (2000, 2)
    assert all(x.min() >= 0 and x.max() < 1 for x in inputs)
    assert np.allclose(y.std(axis=0), 1.0, atol=0.05)
    again, y_again = synthetic.synthetic_data(2000, seed=0)
    np.testing.assert_array_equal(y, y_again)
    # Same task, other samples: the noise-free part is the same function of the inputs.
    _, y_other = synthetic.synthetic_data(2000, seed=1)
    assert not np.array_equal(y, y_other)
    # Least squares on simple features of all three inputs explains much of each target.
    u = np.concatenate(inputs, axis=1)
    features = np.concatenate([u, u ** 2, np.ones((len(u), 1))], axis=1)
    residual = y - features @ np.linalg.lstsq(features, y, rcond=None)[0]
    assert (residual.var(axis=0) < 0.9).all()


def test_synthetic_quick_end_to_end(runner, tmp_path):
    out = tmp_path / "synthetic"
    result = runner.invoke(main, ["bench", "synthetic", "--quick", "--optimizers", ",".join(SYNTHETIC_OPTIMIZERS),
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {"bench.json", "results.csv", "results.md", "summary.csv", "synthetic_time_epochs.png",
            "synthetic_val_loss.png"} <= {p.name for p in out.iterdir()}
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == records.SYNTHETIC_COLUMNS
    assert sorted(results["optimizer"]) == sorted(SYNTHETIC_OPTIMIZERS) and (results["status"] == "ok").all()
    for column in ("val_loss", "val_log_cosh", "train_loss", "wall_time_s", "steps_per_second"):
        assert np.isfinite(results[column]).all() and (results[column] > 0).all(), column
    assert (results["epochs"] == 3).all()
    markdown = (out / "results.md").read_text()
    assert "| optimizer | time, s | study time, s | epochs | study epochs |" in markdown
    assert "| adahessian | " in markdown and "24.1 ± 0.6" in markdown and "| 30 |" in markdown
    assert result.stdout.splitlines()[0].startswith("synthetic benchmark: ") and "| optimizer |" not in result.stdout
    assert not _no_temp_files(out)


@pytest.mark.parametrize("args, message", [
    (["vt", "--pairs", "O2-Xe"], "Error: unknown partner 'Xe' in pair 'O2-Xe'; partners: O2, N2, NO, O, N, Ar"),
    (["vt", "--pairs", ","], "Error: --pairs is empty; give MOLECULE-PARTNER pairs, e.g. O2-O2,N2-N (see `kvt data "
                            "pairs`)"),
    (["vt", "--optimizers", "adam,nope"], "Error: unknown optimizer 'nope'; valid names: adam, nadam,"),
    (["vt", "--optimizers", "all,adam"], "Error: --optimizers 'all,adam': 'all' cannot be combined with other "
                                         "optimizer names"),
    (["vt", "--optimizers", "adam,lars,adam"], "Error: --optimizers 'adam,lars,adam' lists an optimizer twice"),
    (["vt", "--optimizers", "adam,,lars"], "Error: malformed --optimizers 'adam,,lars'; give a name, "
                                           "a comma-separated list or all"),
    (["vt", "--repeats", "0"], "Error: --repeats must be a positive integer, got 0"),
    (["vt", "--target-mse", "-1"], "Error: --target-mse must be a number > 0, got -1.0"),
    (["vt", "--rel-target", "0"], "Error: --rel-target must be a number > 0, got 0.0"),
    (["vt", "--protocol", "fast"], "Error: unknown protocol 'fast'; valid protocols: study, defaults, tuned"),
    (["vt", "--protocol", "tuned", "--trials", "0"], "Error: --trials must be a positive integer, got 0"),
    (["vt", "--protocol", "tuned", "--repeats", "1"], "Error: --repeats must be at least 2 for --protocol tuned "
                                                      "(the spread over seeds is what it reports), got 1"),
    (["vt", "--protocol", "study", "--trials", "4"], "Error: --trials applies to --protocol tuned only, not study"),
    (["vt", "--held-out", "750"], "Error: --held-out applies to --protocol tuned only, not defaults"),
    (["vt", "--protocol", "study", "--patience", "5"], "Error: --patience does not apply to --protocol study: it "
                                                       "trains every epoch, without early stopping"),
    (["vt", "--workers", "0"], "Error: --workers must be a positive integer, got 0"),
    (["vt", "--protocol", "tuned", "--held-out", "800"], "Error: held-out temperature 800 K is not in the data of "
                                                         "O2-O2; its temperatures are 250, 500, 750, 1000, 1500, 2000, "
                                                         "2500, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000 K"),
    (["vt", "--protocol", "tuned", "--held-out", "750,hot"], "Error: --held-out '750,hot': 'hot' is not a number"),
    (["vt", "--force", "--resume"], "Error: give --force (start again) or --resume (continue), not both"),
    (["synthetic", "--optimizers", "nope"], "Error: unknown optimizer 'nope'; valid names: adam, nadam,"),
    (["synthetic", "--optimizers", "sgd,sgd"], "Error: --optimizers 'sgd,sgd' lists an optimizer twice"),
    (["synthetic", "--repeats", "-2"], "Error: --repeats must be a positive integer, got -2"),
])
def test_bad_input_is_one_error_line(runner, tmp_path, args, message):
    out = tmp_path / "out"
    result = runner.invoke(main, ["bench", *args, "--out", str(out)])
    assert error_line(result).startswith(message)
    assert not out.exists()


@pytest.mark.parametrize("command", ["vt", "synthetic"])
def test_existing_output_folder_is_refused_without_force(runner, tmp_path, command):
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    for extra in ([], ["--force"]):  # not kvt's: refused, and --force is not suggested
        result = runner.invoke(main, ["bench", command, "--quick", "--out", str(out), *extra])
        assert error_line(result) == (f"Error: will not replace {out}: kvt did not write it "
                                      f"(it has no .kvt-artifact.json); give a new or empty folder")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    result = runner.invoke(main, ["bench", command, "--quick", "--resume", "--out", str(tmp_path / "missing")])
    assert error_line(result) == f"Error: nothing to resume: {tmp_path / 'missing'} does not exist"
    result = runner.invoke(main, ["bench", command, "--quick", "--resume", "--out", str(out)])
    assert error_line(result) == (f"Error: cannot resume {out}: it has no readable bench.json "
                                  "(not a kvt bench output?)")


class _FakeCell:
    """A stand-in for a VTCell: deterministic, finite rows and a short history, and a log of the runs asked for."""

    calls: list = []
    interrupt_at: int | None = None

    def __init__(self, settings, pair, optimizer, trials, log):
        self.settings, self.pair, self.optimizer, self.trials = settings, pair, optimizer, []

    def run(self, seed):
        self.calls.append((self.pair, self.optimizer, seed))
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt  # as Ctrl-C during this run
        if self.optimizer == "lars" and seed == 1:
            raise KvtError("training diverged at epoch 2 (loss is NaN or infinite) with optimizer 'lars'")
        mse = 0.001 * (1 + seed) * (1 + len(self.optimizer))
        history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.3, 0.1, mse], "val_loss": [0.3, 0.1, mse],
                                "time_s": [0.1, 0.2, 0.3]})
        row = {"pair": self.pair, "optimizer": self.optimizer, "seed": seed, "protocol": self.settings.protocol,
               "status": "ok", "val_mse_scaled": mse, "train_mse_scaled": mse, "val_mae_m3_s": 1e-17,
               "val_rel_err_median": 0.01, "val_rel_err_max": 0.2, "fho_rel_err_median": 0.01, "epochs": 3,
               "best_epoch": 3, "wall_time_s": 0.3, "steps_per_second": 100.0, "target_mse": 0.004}
        return row, history


def test_interrupted_benchmark_keeps_rows_and_resume_continues(runner, tmp_path, monkeypatch):
    out = tmp_path / "vt"
    calls = _FakeCell.calls
    calls.clear()
    monkeypatch.setattr(_FakeCell, "interrupt_at", 3)
    monkeypatch.setattr(benchmark, "VTCell", _FakeCell)
    monkeypatch.setattr(report, "vt_level_figure", lambda out, pair, info, training: info["mse"])
    args = ["bench", "vt", "--quick", "--pairs", "O2-Ar", "--optimizers", "adam,adamod,lars", "--repeats", "2",
            "--out", str(out)]
    result = runner.invoke(main, args)
    lines = result.stderr.strip().splitlines()  # progress lines of the two finished runs, then the error
    resume = f"Error: interrupted; the runs finished so far are kept in {out}: run the same command with --resume to continue"
    assert result.exit_code == 130 and lines[-1] == resume
    assert [line for line in lines if line.startswith("Error")] == [resume]
    rows = pd.read_csv(out / "results.csv")
    # a cell's seeds run one after the other on one compiled model
    assert list(zip(rows["optimizer"], rows["seed"])) == [("adam", 0), ("adam", 1)]
    monkeypatch.setattr(_FakeCell, "interrupt_at", None)
    assert not (out / "results.md").exists()  # the report is written only when the benchmark completes
    with open(out / "results.csv", "a") as handle:
        handle.write("O2-Ar,adamod,0,defaults,ok,0.1")  # a row cut off mid-write: dropped on --resume

    calls.clear()
    result = runner.invoke(main, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    assert calls == [("O2-Ar", "adamod", 0), ("O2-Ar", "adamod", 1), ("O2-Ar", "lars", 0), ("O2-Ar", "lars", 1)]
    rows = pd.read_csv(out / "results.csv")
    assert len(rows) == 6 and not rows.duplicated(["pair", "optimizer", "seed"]).any()
    diverged = rows[rows["status"] == "diverged"]
    assert list(zip(diverged["optimizer"], diverged["seed"])) == [("lars", 1)]
    assert f"resuming {out}: 2 of 6 runs already done" in result.stderr
    markdown = (out / "results.md").read_text()
    assert "(1/2 diverged)" in markdown and "## Diverged runs" in markdown
    assert len(json.loads((out / "bench.json").read_text())["sessions"]) == 2

    calls.clear()
    result = runner.invoke(main, [*args, "--resume"])  # nothing left to do
    assert result.exit_code == 0 and calls == []
    result = runner.invoke(main, [*args[:-2], "--units", "16", "--out", str(out), "--resume"])
    assert error_line(result) == (f"Error: cannot resume {out}: it was run with --units 8, not --units 16; "
                                  "use the same options or --force to start again")
    result = runner.invoke(main, [*args[:-2], "--target-mse", "0.5", "--out", str(out), "--resume"])
    assert error_line(result) == (f"Error: cannot resume {out}: it was run with --target-mse 0.004, not --target-mse 0.5; "
                                  "use the same options or --force to start again")
    result = runner.invoke(main, [*args[:-2], "--protocol", "study", "--out", str(out), "--resume"])
    assert error_line(result) == (f"Error: cannot resume {out}: it holds a benchmark of --protocol defaults, "
                                  "not study; give --protocol defaults, or another --out")
    result = runner.invoke(main, ["bench", "synthetic", "--quick", "--optimizers", "adam", "--out", str(out),
                                  "--resume"])
    assert error_line(result) == f"Error: cannot resume {out}: it holds a 'vt' benchmark, not 'synthetic'"
    result = runner.invoke(main, [*args, "--force"])  # --force starts again from scratch
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out / "results.csv")) == 6
    assert len(json.loads((out / "bench.json").read_text())["sessions"]) == 1


def test_notebook_runs_in_quick_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("KVT_BENCH_OUT", str(tmp_path / "notebook"))  # the kernel inherits it
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = REPO / "notebooks" / "reproduce_study.ipynb"
    notebook = nbformat.read(path, as_version=4)
    sources = "\n".join(cell.source for cell in notebook.cells)
    assert "FULL = False" in sources
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "quick run finished" in text
    shown = [o for o in outputs if o.output_type == "display_data"]
    assert any("image/png" in o.data for o in shown)
    assert any("study" in o.data.get("text/markdown", "") for o in shown)
    assert (tmp_path / "notebook" / "vt" / "results.md").is_file()
    assert (tmp_path / "notebook" / "synthetic" / "results.md").is_file()


def _vt_row(pair, optimizer, seed, mse):
    """A results.csv row: ``mse`` None for a diverged run."""
    row = dict.fromkeys(records.VT_COLUMNS, np.nan)
    row.update(pair=pair, optimizer=optimizer, seed=seed, status="ok" if mse is not None else "diverged",
               message="" if mse is not None else "non-finite metrics")
    if mse is not None:
        row.update(val_mse_scaled=mse, train_mse_scaled=mse, val_mae_m3_s=1e-18, val_rel_err_median=0.1,
                   val_rel_err_max=1.0, epochs=3, best_epoch=3, wall_time_s=1.5, steps_per_second=100.0)
    return row


def test_report_of_an_air_pair_has_no_study_goal_and_draws_its_figures(tmp_path):
    """An air pair beside a study pair: the goals count the study's pairs only; an all-diverged air pair still plots."""
    from kvt.bench import figures, stats

    results = pd.DataFrame([_vt_row("O2-O", "adam", 0, 0.002), _vt_row("O2-O", "adam", 1, 0.003),
                            _vt_row("N2-N", "adam", 0, 0.02), _vt_row("N2-N", "adam", 1, 0.03),
                            _vt_row("NO-O2", "adam", 0, None)])
    summary = stats.vt_summary(results)
    meta = {"training": {"quick": True, "epochs": 3, "units": 8, "patience": 100, "target_mse": None},
            "sessions": [{"machine": {"platform": "test", "cpu_count": 2, "versions": {"tensorflow": "x"},
                                      "load_average_1_5_15": None}}]}
    text = report.vt_markdown(results, summary, meta, stats._best_per_pair(summary, results))
    assert "Met (mean over seeds) in 1 of 1 cells; every single seed met it in 1 of 1 cells." in text
    assert "No goal for N2-N, NO-O2: the study benchmarked O2-O, O2-Ar, O2-O2 only." in text
    assert "- `k_vt_32_N2-N.png`: k_VT(32→31)(T) on N2-N by the best optimizer (lowest mean MSE), adam, its best " \
           "seed 0 (validation MSE 0.02)" in text
    assert "| adam | 0.0025 ± 0.000707 ✓ |" in text  # O2-O: the study's goal 0.004 is met
    figures._save_png(figures._grouped_bars(summary[summary["pair"] == "NO-O2"], "mse_mean", "mse_std", "study_mse",
                                            "MSE", "all diverged", True, True), tmp_path / "mse.png")
    assert (tmp_path / "mse.png").stat().st_size > 0


def test_a_folder_written_before_the_protocols_resumes_as_the_defaults_protocol(runner, tmp_path, monkeypatch):
    """The committed defaults run (no protocol in its record) continues under --protocol defaults only."""
    out = tmp_path / "vt"
    out.mkdir()
    for name in ("bench.json", "results.csv"):
        (out / name).write_bytes((REPO / "benchmarks" / "results" / "vt" / name).read_bytes())
    _FakeCell.calls.clear()
    monkeypatch.setattr(benchmark, "VTCell", _FakeCell)
    monkeypatch.setattr(report, "vt_level_figure", lambda out, pair, info, training: info["mse"])
    args = ["bench", "vt", "--pairs", "O2-Ar", "--optimizers", "adam", "--out", str(out), "--resume"]
    result = runner.invoke(main, [*args, "--repeats", "4"])
    assert result.exit_code == 0, result.output
    assert _FakeCell.calls == [("O2-Ar", "adam", 3)]  # seeds 0-2 were in results.csv
    old = pd.read_csv(REPO / "benchmarks" / "results" / "vt" / "results.csv")
    rows = pd.read_csv(out / "results.csv")  # the old rows, their values kept, under the new header
    assert list(rows.columns) == records.VT_COLUMNS and len(rows) == len(old) + 1
    pd.testing.assert_frame_equal(rows.iloc[:-1][list(old.columns)], old)
    training = json.loads((out / "bench.json").read_text())["training"]
    assert (training["protocol"], training["epochs"], training["units"], training["patience"]) == (
        "defaults", 1000, 64, 100)
    result = runner.invoke(main, [*args, "--protocol", "study"])
    assert error_line(result) == (f"Error: cannot resume {out}: it holds a benchmark of --protocol defaults, "
                                  "not study; give --protocol defaults, or another --out")
