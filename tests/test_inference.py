"""Weights export, TF-free inference, the C evaluator, evaluation on the dense grid, accurate mode."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import error_line, fho_reference_features

from kvt import KvtError
from kvt.physics import fho
from kvt.cli import main
from kvt.network.inference import Network, to_text
from kvt.runs.folder import open_run
from kvt.training.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One short study-mode and one short accurate-mode run of O2-O, trained through the CLI."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("inference")
    paths = {}
    for mode, extra in (("study", ["--epochs", "20", "--units", "16"]),
                        ("accurate", ["--epochs", "300", "--finish-iterations", "150", "--units", "16"])):
        out = root / mode
        result = CliRunner().invoke(main, ["train", "--pair", "O2-O", "--mode", mode, "--quiet", "--out", str(out),
                                           *extra])
        assert result.exit_code == 0, result.output
        paths[mode] = out
    return paths


class ByHand:
    """A run's scaler.json applied by hand (numpy, and the FHO-FR features recomputed by conftest), not by kvt's
    transforms, around Keras's own prediction of the saved model.keras: an independent reference for kvt's numpy
    ``Network``."""

    def __init__(self, path, pair="O2-O"):
        import keras

        self.model = keras.models.load_model(Path(path) / "model.keras", compile=False)
        self.state = json.loads((Path(path) / "scaler.json").read_text())
        self.study = self.state["kind"] == "study"
        self.pair = pair

    def scaled(self, level, T):
        level, T = np.asarray(level, dtype=float), np.asarray(T, dtype=float)
        raw = np.column_stack([level, T]) if self.study else fho_reference_features(level, T, self.pair)
        s = self.state["feature_scaler"]
        (lo, hi), low, high = s["feature_range"], np.array(s["data_min"]), np.array(s["data_max"])
        return (raw - low) / (high - low) * (hi - lo) + lo

    def baseline(self, level, T):
        """Accurate mode's linear baseline of ln k in the scaled features."""
        return self.scaled(level, T) @ np.array(self.state["baseline"]["coef"]) + self.state["baseline"]["intercept"]

    def y_keras(self, level, T):
        """The network's output (scaled target) as Keras computes it."""
        x = self.scaled(level, T)
        x = x if self.study else x[:, self.state["network_inputs"]]
        return np.asarray(self.model.predict(x.astype(self.model.inputs[0].dtype), batch_size=4096, verbose=0),
                          dtype=float)[:, 0]

    def y_of_k(self, k, level, T):
        """k in m^3/s -> scaled target: (1e18 k - min) / (max - min), or (ln k - baseline - mean) / std."""
        t = self.state["target_scaler"]
        if self.study:
            (lo, hi), low, high = t["feature_range"], t["data_min"][0], t["data_max"][0]
            return (np.asarray(k) * self.state["target_factor"] - low) / (high - low) * (hi - lo) + lo
        return (np.log(k) - self.baseline(level, T) - t["mean"]) / t["scale"]

    def k_keras(self, level, T):
        """Keras's k in m^3/s (the inverse of ``y_of_k`` on its output)."""
        y, t = self.y_keras(level, T), self.state["target_scaler"]
        if self.study:
            (lo, hi), low, high = t["feature_range"], t["data_min"][0], t["data_max"][0]
            return ((y - lo) / (hi - lo) * (high - low) + low) / self.state["target_factor"]
        return np.exp(y * t["scale"] + t["mean"] + self.baseline(level, T))


@pytest.fixture(scope="module")
def by_hand(runs):
    return {mode: ByHand(path) for mode, path in runs.items()}


@pytest.mark.parametrize("mode", ["study", "accurate"])
def test_numpy_inference_equals_keras(runs, by_hand, mode):
    levels, temps = np.meshgrid(np.arange(1, 36), np.linspace(250, 10000, 41), indexing="ij")
    i, T = levels.ravel(), temps.ravel()
    reference = by_hand[mode]
    k_numpy = open_run(runs[mode]).network.predict_k(i, T)
    if mode == "accurate":  # a float64 network: k itself agrees to 1e-6
        np.testing.assert_allclose(k_numpy, reference.k_keras(i, T), rtol=1e-6)
    else:  # Keras evaluates the float32 network in float32: compare its output y in [0, 1]
        np.testing.assert_allclose(reference.y_of_k(k_numpy, i, T), reference.y_keras(i, T), rtol=1e-6, atol=1e-6)


def test_predictions_csv_matches_predict_command_and_keras(runner, runs, by_hand):
    import pandas as pd

    path = runs["accurate"]
    table = pd.read_csv(path / "predictions.csv")
    i, T = table["level"].to_numpy(), table["T_K"].to_numpy()
    # every column against its independent reference: FHO-FR, Keras's own prediction, the relative error by hand
    np.testing.assert_allclose(table["k_true_m3_s"], fho.rate_coefficient(i, T, "O"), rtol=1e-15)
    np.testing.assert_allclose(table["k_pred_m3_s"], by_hand["accurate"].k_keras(i, T), rtol=1e-6)
    np.testing.assert_allclose(table["rel_error"], np.abs(table["k_pred_m3_s"] / table["k_true_m3_s"] - 1),
                               rtol=1e-9, atol=1e-15)
    val_rows = json.loads((path / "metadata.json").read_text())["split"]["val_rows"]
    assert sorted(np.flatnonzero(table["split"] == "val")) == sorted(val_rows)
    saved = table.query("level == 7")
    result = runner.invoke(main, ["predict", "--run", str(path), "--level", "7", "--temps",
                                  ",".join(str(t) for t in saved["T_K"]), "--csv"])
    printed = pd.read_csv(pd.io.common.StringIO(result.stdout))
    np.testing.assert_allclose(printed["k_m3_s"], saved["k_pred_m3_s"], rtol=1e-9)


def test_predict_does_not_import_tensorflow(runs):
    code = ("import sys; from kvt.cli import main; "
            f"sys.argv = ['kvt', 'predict', '--run', r'{runs['study']}', '--level', '3', '--temps', '1000']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


V1_DOCUMENTS = Path(__file__).resolve().parent / "data" / "weights_v1.json"


@pytest.fixture(scope="module")
def c_evaluator(tmp_path_factory):
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler (cc) to build examples/kvt_eval.c")
    source = Path(__file__).resolve().parents[1] / "examples" / "kvt_eval.c"
    binary = tmp_path_factory.mktemp("c") / "kvt_eval"
    subprocess.run(["cc", "-O2", "-std=c99", "-o", str(binary), str(source), "-lm"], check=True)
    return binary


def _run_c(binary, text_path, levels, temps):
    stdin = "".join(f"{i} {float(t)!r}\n" for i, t in zip(levels, temps))
    done = subprocess.run([str(binary), str(text_path)], input=stdin, capture_output=True, text=True, check=True)
    return np.array([float(v) for v in done.stdout.split()])


@pytest.mark.parametrize("mode", ["study", "accurate"])
def test_c_evaluator_equals_numpy(runner, runs, mode, tmp_path, c_evaluator):
    text = tmp_path / "model.txt"
    result = runner.invoke(main, ["export", "--run", str(runs[mode]), "--format", "weights-text", "-o", str(text)])
    assert result.exit_code == 0, result.output
    kind = json.loads((runs[mode] / "weights.json").read_text())["features"]["kind"]
    assert kind == {"study": "level_T", "accurate": "fho"}[mode]
    assert text.read_text().startswith(f"kvt-weights-text 2\nfeatures {kind} ")
    rng = np.random.default_rng(1)
    levels, temps = rng.integers(1, 36, 200), rng.uniform(250, 10000, 200)
    k_c = _run_c(c_evaluator, text, levels, temps)
    k_numpy = open_run(runs[mode]).network.predict_k(levels, temps)
    np.testing.assert_allclose(k_c, k_numpy, rtol=1e-12)


@pytest.mark.parametrize("mode", ["study", "accurate"])
def test_schema_1_documents_predict_as_before(mode, tmp_path, c_evaluator):
    """Documents written by kvt before schema 2, with the k it computed from them then."""
    stored = json.loads(V1_DOCUMENTS.read_text())[mode]
    assert stored["weights"]["schema_version"] == 1
    points = stored["points"]
    network = Network(stored["weights"])
    np.testing.assert_allclose(network.predict_k(points["level"], points["T_K"]), points["k_m3_s"], rtol=1e-14)
    # The text form of a version-1 document is unchanged but for the trained-range line that ends it now.
    assert to_text(stored["weights"]) == stored["text"] + "valid_range 1 35 250 10000\n"
    text = tmp_path / "v1.txt"
    text.write_text(to_text(stored["weights"]))
    np.testing.assert_allclose(_run_c(c_evaluator, text, points["level"], points["T_K"]), points["k_m3_s"],
                               rtol=1e-12)


def test_c_evaluator_refuses_a_level_outside_the_fho_tables(runs, tmp_path, c_evaluator):
    spec = json.loads((runs["accurate"] / "weights.json").read_text())
    text = tmp_path / "model.txt"
    # A trained range wider than the tables (a hand-edited file) reaches the tables' own guard.
    text.write_text(to_text(spec).replace("valid_range 1 35 ", "valid_range 1 36 "))
    done = subprocess.run([str(c_evaluator), str(text)], input="36 1000\n", capture_output=True, text=True)
    assert done.returncode == 1 and "level 36 is outside the weights file's level tables" in done.stderr
    # numpy: the molecule's range is refused first; without a known molecule the tables' own guard holds.
    with pytest.raises(KvtError) as refused:
        Network(spec).predict_k([36], [1000.0])
    assert str(refused.value) == "level 36 is out of range of weights (a network of O2); O2 levels are 1..35"
    anonymous = {key: value for key, value in spec.items() if key not in ("pair", "molecule")}
    with pytest.raises(KvtError, match=r"the fho features are defined for whole levels 1\.\.35"):
        Network(anonymous).predict_k([36], [1000.0])


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
@pytest.mark.parametrize("line, message", [
    ("3 100", "kvt_eval: line 2: level 3, T 100 K is outside the trained range: levels 1..35, T 250..10000 K"),
    ("36 1000", "kvt_eval: line 2: level 36, T 1000 K is outside the trained range: levels 1..35, T 250..10000 K"),
    ("3 10000.5", "kvt_eval: line 2: level 3, T 10000.5 K is outside the trained range: levels 1..35, "
                  "T 250..10000 K"),
    ("3 abc", "kvt_eval: line 2 of the input: expected 'level T'"),
    ("3", "kvt_eval: line 2 of the input: expected 'level T'"),
    ("3 1000 7", "kvt_eval: line 2 of the input: expected exactly two numbers, 'level T'"),
    ("3 1000x", "kvt_eval: line 2 of the input: expected exactly two numbers, 'level T'"),
    ("3.5 1000", "kvt_eval: line 2 of the input: level is not an integer"),
    ("3 nan", "kvt_eval: line 2 of the input: T must be a number > 0 K"),
])
def test_c_evaluator_refuses_bad_input_and_extrapolation(runner, runs, tmp_path, line, message):
    from pathlib import Path

    source = Path(__file__).resolve().parents[1] / "examples" / "kvt_eval.c"
    binary = tmp_path / "kvt_eval"
    subprocess.run(["cc", "-O2", "-std=c99", "-o", str(binary), str(source), "-lm"], check=True)
    text = tmp_path / "model.txt"
    assert runner.invoke(main, ["export", "--run", str(runs["study"]), "--format", "weights-text",
                                "-o", str(text)]).exit_code == 0
    assert text.read_text().splitlines()[-1] == "valid_range 1 35 250 10000"
    done = subprocess.run([str(binary), str(text)], input=f"5 2000\n{line}\n7 3000\n", capture_output=True,
                          text=True)
    assert done.returncode == 1 and done.stderr.strip() == message
    expected = open_run(runs["study"]).network.predict_k([5], [2000.0])[0]
    assert [float(v) for v in done.stdout.split()] == pytest.approx([expected], rel=1e-12)  # stops at line 2


def test_evaluate_matches_independent_recomputation(runner, runs, tmp_path):
    path = runs["accurate"]
    out = tmp_path / "eval"
    result = runner.invoke(main, ["evaluate", "--run", str(path), "--levels", "1-35", "--temps", "250:10000:250",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert {p.name for p in out.iterdir()} == {"summary.json", "per_level.csv", "grid.csv", "relative_error.png",
                                               ".kvt-artifact.json"}
    # independent recomputation: physics + the weights file read by hand
    spec = json.loads((path / "weights.json").read_text())
    levels, temps = np.meshgrid(np.arange(1, 36), np.arange(250, 10001, 250.0), indexing="ij")
    i, T = levels.ravel().astype(float), temps.ravel()
    assert spec["features"]["kind"] == "fho"
    f = fho_reference_features(i, T, "O2-O")
    x = f * np.array(spec["features"]["scale"]) + np.array(spec["features"]["shift"])
    h = x[:, spec["features"]["network_inputs"]]
    for layer in spec["layers"]:
        h = h @ np.array(layer["weights"]) + np.array(layer["bias"])
        if layer["activation"] == "sigmoid":
            h = 1 / (1 + np.exp(-h))
    t = spec["target"]
    k = np.exp(h[:, 0] * t["std"] + t["mean"] + x @ np.array(t["baseline_coef"]) + t["baseline_intercept"])
    rel = np.abs(k / fho.rate_coefficient(i, T, "O") - 1)
    assert summary["grid"]["points"] == rel.size == 35 * 40
    assert summary["overall"]["median"] == pytest.approx(np.median(rel), rel=1e-9)
    assert summary["overall"]["p95"] == pytest.approx(np.percentile(rel, 95), rel=1e-9)
    assert summary["overall"]["max"] == pytest.approx(rel.max(), rel=1e-9)
    level_3 = [row for row in summary["per_level"] if row["level"] == 3][0]
    assert level_3["max"] == pytest.approx(rel[i == 3].max(), rel=1e-9)
    assert f"max {rel.max():.3e}" in result.stdout
    again = runner.invoke(main, ["evaluate", "--run", str(path), "--out", str(out)])
    assert error_line(again) == f"Error: {out} already exists; pass --force to overwrite it"


def test_training_metadata_records_the_dense_grid_evaluation(runs, by_hand):
    meta = json.loads((runs["accurate"] / "metadata.json").read_text())
    dense = meta["metrics"]["dense_grid"]
    assert meta["options"]["mode"] == "accurate" and meta["options"]["finish"] == "lbfgs"
    # The dense grid (every level, every 10 K of 250..10000 K) recomputed from Keras's prediction and FHO-FR.
    assert dense["grid"]["points"] == 35 * 976
    levels, temps = np.meshgrid(np.arange(1, 36), np.arange(250, 10001, 10.0), indexing="ij")
    i, T = levels.ravel(), temps.ravel()
    reference = by_hand["accurate"]
    rel = np.abs(reference.k_keras(i, T) / fho.rate_coefficient(i, T, "O") - 1)
    assert dense["overall"]["median"] == pytest.approx(np.median(rel), abs=1e-6)
    assert dense["overall"]["max"] == pytest.approx(rel.max(), abs=1e-6)
    # The L-BFGS finish's final MSE is that of the saved network on the training rows (scaled target).
    import pandas as pd

    rows = pd.read_csv(runs["accurate"] / "predictions.csv")  # the dataset's rows, in its order
    train = np.setdiff1d(np.arange(len(rows)), meta["split"]["val_rows"])
    i, T = rows["level"].to_numpy()[train], rows["T_K"].to_numpy()[train]
    mse = np.mean((reference.y_keras(i, T) - reference.y_of_k(fho.rate_coefficient(i, T, "O"), i, T)) ** 2)
    assert meta["metrics"]["finish"]["final_mse"] == pytest.approx(mse, rel=1e-6)
    assert meta["metrics"]["finish"]["final_mse"] < 0.5 * meta["metrics"]["finish"]["initial_mse"]
    preprocessing = meta["preprocessing"]
    assert preprocessing["features"] == ["level", "ln_level", "T^(-1/3)", "ln_T", "1000/T", "theta/T", "ln_theta",
                                         "(theta^2/T)^(1/3)", "(theta/T^2)^(1/3)", "eps_C", "ln(1+b*eps_C/3)"]
    assert preprocessing["feature_kind"] == "fho"
    assert preprocessing["network_inputs"] == ["level", "ln_level", "T^(-1/3)", "ln_T"]
    assert preprocessing["baseline_row_weights"] == "(T_ref / T)^3, T_ref = 1000 K"


def test_accurate_mode_beats_the_study_pipeline_on_max_relative_error(runs):
    study = json.loads((runs["study"] / "metadata.json").read_text())["metrics"]["dense_grid"]["overall"]
    accurate = json.loads((runs["accurate"] / "metadata.json").read_text())["metrics"]["dense_grid"]["overall"]
    assert accurate["max"] < 0.05 and 0.2 < study["max"]  # this short run: 0.028 (0.071 with the log_space features)
    assert accurate["median"] < study["median"]


def test_accurate_mode_on_a_user_csv_uses_the_log_space_features(tmp_path):
    from kvt.data.datasets import generate, to_csv_text
    from kvt.runs.folder import save_run

    data = tmp_path / "mine.csv"
    data.write_text(to_csv_text(generate("O2-Ar", range(1, 6), [500, 1000, 2000])))
    run = save_run(train(TrainConfig(data=str(data), mode="accurate", epochs=50, finish_iterations=5, units=4)),
                   tmp_path / "run")
    spec = json.loads((run / "weights.json").read_text())
    assert spec["schema_version"] == 2 and spec["features"]["kind"] == "log_space"
    assert "theta_K" not in spec["features"]
    preprocessing = json.loads((run / "metadata.json").read_text())["preprocessing"]
    assert preprocessing["feature_kind"] == "log_space" and preprocessing["baseline_row_weights"] == "none"
    assert preprocessing["feature_kind_reason"].startswith("no known collision pair")
    assert "feature_kind" not in json.loads((run / "scaler.json").read_text())


def test_evaluate_refuses_user_csv_runs(runner, tmp_path):
    from kvt.data.datasets import generate, to_csv_text
    from kvt.runs.folder import save_run

    data = tmp_path / "mine.csv"
    data.write_text(to_csv_text(generate("O2-O2", range(1, 6), [500, 1000, 2000])))
    run = save_run(train(TrainConfig(data=str(data), epochs=2, units=4)), tmp_path / "run")
    result = runner.invoke(main, ["evaluate", "--run", str(run)])
    assert error_line(result) == ("Error: this run was trained on a user CSV, so there is no FHO-FR reference "
                                  "to evaluate against; name one with --pair")
    named = runner.invoke(main, ["evaluate", "--run", str(run), "--pair", "O2-O2", "--levels", "1-5",
                                 "--temps", "500:2000:100"])
    assert named.exit_code == 0, named.output
    first = named.stdout.splitlines()[0]
    assert first.startswith("mine (study mode): 5 levels x 16 temperatures = 80 points vs FHO-FR"), first


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(schema_version=4), "unsupported schema_version 4; this kvt reads versions 1, 2, 3"),
    (lambda s: s.update(schema_version=3),
     "unknown features.kind 'fho' for schema_version 3; expected one of levels_T, exchange"),
    (lambda s: s.update(schema_version=1),
     "unknown features.kind 'fho' for schema_version 1; expected one of level_T, log_space"),
    (lambda s: s["features"].pop("theta_K"), "missing key 'features.theta_K'"),
    (lambda s: s["features"].update(theta1_K=[1.0] * 34),
     "features.theta1_K has shape (34,), expected (35,) like features.theta_K"),
    (lambda s: s["features"].update(theta_K=[0.0] * 35),
     "features.theta_K must be a non-empty list of numbers > 0 (one per level)"),
    (lambda s: s["features"].update(nu="one"), "features.nu must be a number >= 0, got 'one'"),
    (lambda s: s.update(format="other"), "not a kvt weights file (format is 'other', expected 'kvt-weights')"),
    (lambda s: s.pop("layers"), "missing key 'layers'"),
    (lambda s: s["layers"][1].pop("bias"), "missing key 'layers[1].bias'"),
    (lambda s: s["target"].pop("std"), "missing key 'target.std'"),
    (lambda s: s["layers"][1].update(weights=[[0.0] * 16] * 3), "layers[1].weights has shape (3, 16), expected (16, n)"),
    (lambda s: s["layers"][0].update(bias=[0.0]), "layers[0].bias has shape (1,), expected (16,)"),
    (lambda s: s["features"].update(scale=[1.0, 2.0]), "features.scale has shape (2,), expected (11,)"),
    (lambda s: s["layers"][2].update(activation="relu"), "layers[2].activation 'relu' is not one of linear, sigmoid"),
])
def test_bad_weights_files_give_one_error_line(runner, runs, tmp_path, change, message):
    spec = json.loads((runs["accurate"] / "weights.json").read_text())
    change(spec)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec))
    result = runner.invoke(main, ["predict", "--weights", str(bad), "--level", "3", "--temps", "1000"])
    assert error_line(result) == f"Error: weights file {bad}: {message}"


def test_weights_text_and_json_agree(runs):
    spec = json.loads((runs["study"] / "weights.json").read_text())
    text = to_text(spec)
    assert text.startswith("kvt-weights-text 2\nfeatures level_T 2\n")
    # Read the layers back from the text as the C evaluator does: every number round-trips exactly.
    lines = text.splitlines()
    at = lines.index(f"layers {len(spec['layers'])}") + 1
    for layer in spec["layers"]:
        n_in, n_out, activation = lines[at].split()
        weights = np.array([[float(v) for v in line.split()] for line in lines[at + 1:at + 1 + int(n_in)]])
        bias = np.array([float(v) for v in lines[at + 1 + int(n_in)].split()])
        assert activation == layer["activation"] and weights.shape == (int(n_in), int(n_out))
        np.testing.assert_array_equal(weights, np.array(layer["weights"]))
        np.testing.assert_array_equal(bias, np.array(layer["bias"]))
        at += int(n_in) + 2
    assert lines[at] == f"target {spec['target']['kind']}"
    with pytest.raises(KvtError, match="expected a JSON object"):
        Network([1, 2])
