"""Train -> run directory -> predict / export / plot, through the library and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import error_line

from kvt import KvtError
from kvt.physics import fho
from kvt.cli import main
from kvt.runs.folder import load_keras_model, open_run, save_run
from kvt.training.trainer import TrainConfig, train

FAST = dict(epochs=12, units=16, patience=100)


def keras_y(path, levels, temps):
    """Output of a study-mode run's saved model.keras as Keras computes it, on (level, T) min-max scaled by hand
    from scaler.json: the independent reference for kvt's numpy ``Network``."""
    import keras

    model = keras.models.load_model(path / "model.keras", compile=False)
    s = json.loads((path / "scaler.json").read_text())["feature_scaler"]
    raw = np.column_stack([levels, temps]).astype(float)
    x = (raw - np.array(s["data_min"])) / (np.array(s["data_max"]) - np.array(s["data_min"]))
    return np.asarray(model.predict(x.astype(model.inputs[0].dtype), batch_size=4096, verbose=0), dtype=float)[:, 0]


def scaled_y(path, k):
    """k in m^3/s -> the study's scaled target (1e18 k - min) / (max - min), from scaler.json by hand."""
    state = json.loads((path / "scaler.json").read_text())
    t = state["target_scaler"]
    assert state["kind"] == "study" and t["feature_range"] == [0, 1]
    return (np.asarray(k) * state["target_factor"] - t["data_min"][0]) / (t["data_max"][0] - t["data_min"][0])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One small training run shared by the predict/export/plot tests."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("runs") / "ar-adam"
    result = CliRunner().invoke(main, ["train", "--pair", "O2-Ar", "--optimizer", "adam", "--epochs", "15",
                                       "--units", "16", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result


def test_train_writes_a_complete_run_directory(run_dir):
    out, result = run_dir
    names = {p.name for p in out.iterdir()}
    assert {"model.keras", "weights.json", "scaler.json", "metadata.json", "history.csv", "predictions.csv",
            "k_level_32.png", "loss.png", "relative_error.png"} <= names
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["options"]["optimizer"] == "adam" and meta["options"]["seed"] == 3
    assert meta["dataset"]["pair"] == "O2-Ar" and len(meta["dataset"]["sha256"]) == 64
    assert {"tensorflow", "keras", "numpy", "scikit-learn"} <= set(meta["versions"])
    assert meta["split"]["n_train"] + meta["split"]["n_val"] == 525
    assert meta["optimizer"]["hyperparameters"]["learning_rate"] == 1e-3
    history = pd.read_csv(out / "history.csv")
    assert {"epoch", "loss", "val_loss", "mae", "log_cosh", "val_mae", "val_log_cosh"} <= set(history.columns)
    assert meta["metrics"]["epochs_run"] == history["epoch"].iloc[-1] == len(history) == 15  # patience 100
    assert meta["metrics"]["wall_time_s"] > 0
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 525
    assert set(predictions.columns) == {"level", "T_K", "k_true_m3_s", "k_pred_m3_s", "rel_error", "split"}
    assert (predictions["split"] == "val").sum() == meta["split"]["n_val"]
    # Against independent references: the data are FHO-FR's rates, the predictions Keras's, and the
    # validation MSE that of Keras's output on the validation rows against the targets scaled by hand.
    i, T = predictions["level"].to_numpy(), predictions["T_K"].to_numpy()
    np.testing.assert_allclose(predictions["k_true_m3_s"], fho.rate_coefficient(i, T, "Ar"), rtol=1e-15)
    y_keras = keras_y(out, i, T)
    np.testing.assert_allclose(scaled_y(out, predictions["k_pred_m3_s"]), y_keras, rtol=1e-6, atol=1e-6)
    val = np.array(meta["split"]["val_rows"])
    assert sorted(np.flatnonzero(predictions["split"] == "val")) == sorted(val)
    mse = np.mean((y_keras[val] - scaled_y(out, predictions["k_true_m3_s"].to_numpy()[val])) ** 2)
    assert meta["metrics"]["val_mse_scaled"] == pytest.approx(mse, rel=1e-4)
    assert "validation MSE (scaled target)" in result.stdout and f"run: {out}" in result.stdout
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_same_seed_same_predictions_and_save_load_identical(tmp_path):
    config = TrainConfig(data="O2-O", optimizer="adam", seed=7, **FAST)
    first, second = train(config), train(TrainConfig(data="O2-O", optimizer="adam", seed=7, **FAST))
    np.testing.assert_array_equal(first.predictions["k_pred_m3_s"], second.predictions["k_pred_m3_s"])
    other = train(TrainConfig(data="O2-O", optimizer="adam", seed=8, **FAST))
    assert not np.array_equal(first.predictions["k_pred_m3_s"], other.predictions["k_pred_m3_s"])

    path = save_run(first, tmp_path / "run")
    from kvt.runs.rates import predict_grid

    run = open_run(path)
    frame = first.dataset.frame
    reloaded = predict_grid(run, sorted(frame["level"].unique()), sorted(frame["T_K"].unique()))
    merged = frame.merge(reloaded, on=["level", "T_K"], suffixes=("", "_pred"))
    np.testing.assert_array_equal(merged["k_m3_s_pred"].to_numpy(),
                                  first.predictions["k_pred_m3_s"].to_numpy())
    # The reloaded network predicts what Keras predicts with the saved model.keras (float32: compare the output).
    np.testing.assert_allclose(scaled_y(path, merged["k_m3_s_pred"]),
                               keras_y(path, merged["level"], merged["T_K"]), rtol=1e-6, atol=1e-6)


def test_divergence_is_an_error_and_leaves_no_directory(runner, tmp_path):
    out = tmp_path / "diverged"
    result = runner.invoke(main, ["train", "--pair", "O2-Ar", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "5",
                                  "--quiet", "--out", str(out)])
    line = error_line(result)
    assert line.startswith("Error: training diverged at epoch 1 (loss is NaN or infinite) with optimizer 'sgd'")
    assert line.endswith("try a lower learning rate with --lr")
    assert list(tmp_path.iterdir()) == []


def test_existing_run_directory_is_not_overwritten(runner, run_dir):
    out, _ = run_dir
    before = (out / "metadata.json").read_text()
    result = runner.invoke(main, ["train", "--pair", "O2-Ar", "--epochs", "1", "--quiet", "--out", str(out)])
    assert error_line(result) == f"Error: {out} already exists; pass --force to overwrite it"
    assert (out / "metadata.json").read_text() == before


@pytest.mark.parametrize("args, message", [
    (["--optimizer", "adamm"], "Error: unknown optimizer 'adamm' (did you mean 'adam'?); valid names: "),
    (["--opt", "betta=0.9"], "Error: unknown hyper-parameter 'betta' for optimizer 'adamod'; valid keys: learning_rate,"),
    (["--opt", "beta_1=fast"], "Error: invalid value 'fast' for 'beta_1' of optimizer 'adamod'; expected a number"),
    (["--opt", "beta_1"], "Error: malformed --opt 'beta_1'; use key=value, e.g. --opt beta_1=0.9"),
    (["--lr", "0"], "Error: --lr must be a number > 0, got 0.0"),
    (["--lr", "-1"], "Error: --lr must be a number > 0, got -1.0"),
    (["--epochs", "0"], "Error: --epochs must be a positive integer, got 0"),
    (["--batch-size", "-4"], "Error: --batch-size must be an integer >= 0, got -4"),
    (["--val-fraction", "1"], "Error: --val-fraction must be in [0, 1), got 1.0"),
    (["--mode", "exact"], "Error: unknown mode 'exact'; valid modes: study, accurate"),
    (["--finish", "newton"], "Error: unknown finish 'newton'; valid finishes: none, lbfgs"),
    (["--schedule", "step"], "Error: unknown schedule 'step'; valid schedules: constant, cosine"),
    (["--mode", "accurate", "--val-fraction", "-0.1"], "Error: --val-fraction must be in [0, 1), got -0.1"),
    (["--epochs", "many"], "Error: Invalid value for '--epochs': 'many' is not a valid integer."),
])
def test_train_bad_options(runner, tmp_path, args, message):
    out = tmp_path / "run"
    result = runner.invoke(main, ["train", "--pair", "O2-Ar", "--quiet", "--out", str(out), *args])
    assert error_line(result).startswith(message)
    assert not out.exists()


def test_train_needs_exactly_one_dataset(runner, tmp_path):
    both = runner.invoke(main, ["train", "--pair", "O2-Ar", "--data", "x.csv"])
    assert error_line(both) == ("Error: give exactly one of --pair (MOLECULE-PARTNER, e.g. N2-N; see `kvt data "
                                "pairs`) or --data FILE")
    assert error_line(runner.invoke(main, ["train", "--pair", "O2-Xe"])) == (
        "Error: unknown partner 'Xe' in pair 'O2-Xe'; partners: O2, N2, NO, O, N, Ar")


def test_train_on_user_csv(runner, tmp_path):
    from kvt.data.datasets import generate, to_csv_text

    data = tmp_path / "mine.csv"
    data.write_text(to_csv_text(generate("O2-O2", range(10, 21), [500, 1000, 2000, 4000, 8000])))
    out = tmp_path / "run"
    result = runner.invoke(main, ["train", "--data", str(data), "--epochs", "3", "--units", "8", "--quiet",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["dataset"]["pair"] is None and meta["dataset"]["level_range"] == [10, 20]
    assert (out / "k_level_20.png").is_file()  # level 32 is not in the data: the top level is plotted


def test_predict_table_and_csv(runner, run_dir):
    out, _ = run_dir
    result = runner.invoke(main, ["predict", "--run", str(out), "--level", "32", "--temps", "1000,2000,5000"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["level", "transition", "T,", "K", "k_VT,", "m^3/s"]
    assert len(lines) == 4 and lines[1].split()[:3] == ["32", "32->31", "1000"]
    csv = runner.invoke(main, ["predict", "--run", str(out), "--levels", "1-35", "--temps", "250:10000:50", "--csv"])
    frame = pd.read_csv(pd.io.common.StringIO(csv.stdout))
    assert list(frame.columns) == ["level", "T_K", "k_m3_s"] and len(frame) == 35 * 196
    table_value = float(lines[1].split()[3])
    assert frame.query("level == 32 and T_K == 1000")["k_m3_s"].iloc[0] == pytest.approx(table_value, rel=1e-6)
    np.testing.assert_allclose(scaled_y(out, frame["k_m3_s"]), keras_y(out, frame["level"], frame["T_K"]),
                               rtol=1e-6, atol=1e-6)


def test_predict_refuses_extrapolation_unless_allowed(runner, run_dir):
    out, _ = run_dir
    result = runner.invoke(main, ["predict", "--run", str(out), "--level", "32", "--temps", "100,1000"])
    assert error_line(result) == ("Error: temperatures 100..1000 K go outside the trained range 250..10000 K; "
                                  "pass --allow-extrapolation to predict there anyway")
    allowed = runner.invoke(main, ["predict", "--run", str(out), "--level", "32", "--temps", "100",
                                   "--allow-extrapolation"])
    assert allowed.exit_code == 0
    assert "Warning: extrapolating: temperature 100 K goes outside the trained range 250..10000 K" in allowed.stderr


@pytest.mark.parametrize("args, message", [
    (["--run", "nowhere", "--level", "3", "--temps", "300"], "Error: run directory nowhere does not exist"),
    (["--level", "40", "--temps", "300"], "Error: level 40 is out of range; O2 levels are 1..35"),
    (["--temps", "300"], "Error: give --level N or --levels SPEC (e.g. 1-35)"),
    (["--level", "3", "--temps", "-3"], "Error: temperature -3 K in '-3' is not allowed; temperatures must be > 0 K"),
])
def test_predict_errors(runner, run_dir, args, message):
    out, _ = run_dir
    full = args if args[0] == "--run" else ["--run", str(out), *args]
    assert error_line(runner.invoke(main, ["predict", *full])) == message


def test_corrupted_run_directory(runner, run_dir, tmp_path):
    import shutil

    out, _ = run_dir
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "metadata.json").write_text("{not json")
    result = runner.invoke(main, ["predict", "--run", str(broken), "--level", "3", "--temps", "300"])
    assert error_line(result) == f"Error: run directory {broken} has a corrupted metadata.json (JSONDecodeError)"
    shutil.copy(out / "metadata.json", broken / "metadata.json")
    (broken / "weights.json").write_text('{"format": "kvt-weights", "schema_version": 1}')
    result = runner.invoke(main, ["predict", "--run", str(broken), "--level", "3", "--temps", "300"])
    assert error_line(result) == (f"Error: run directory {broken} has a corrupted weights.json "
                                  f"(weights file {broken / 'weights.json'}: missing key 'features')")
    (broken / "model.keras").write_bytes(b"garbage")
    with pytest.raises(KvtError, match=f"run directory {broken} has a corrupted model.keras"):
        load_keras_model(broken)
    (broken / "scaler.json").unlink()
    result = runner.invoke(main, ["predict", "--run", str(broken), "--level", "3", "--temps", "300"])
    assert error_line(result) == (f"Error: run directory {broken} is missing scaler.json; "
                                  "is it a kvt train output?")


def test_export_wide_and_long(runner, run_dir, tmp_path):
    out, _ = run_dir
    wide = tmp_path / "wide.csv"
    result = runner.invoke(main, ["export", "--run", str(out), "--levels", "30-32", "--temps", "1000:3000:1000",
                                  "-o", str(wide)])
    assert result.exit_code == 0, result.output
    text = wide.read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("pair: O2-Ar" in line for line in header) and any("units: k in m^3/s" in line for line in header)
    assert any("kvt 0.1.0" in line for line in header) and any(str(out) in line for line in header)
    frame = pd.read_csv(wide, comment="#")
    assert list(frame.columns) == ["T_K", "k_30_29_m3_s", "k_31_30_m3_s", "k_32_31_m3_s"] and len(frame) == 3

    long = tmp_path / "long.csv"
    result = runner.invoke(main, ["export", "--run", str(out), "--levels", "30-32", "--temps", "1000:3000:1000",
                                  "--layout", "long", "--units", "cm3/s", "-o", str(long)])
    assert result.exit_code == 0
    long_frame = pd.read_csv(long, comment="#")
    assert list(long_frame.columns) == ["level", "T_K", "k_cm3_s"] and len(long_frame) == 9
    value_wide = frame.loc[frame["T_K"] == 2000, "k_31_30_m3_s"].iloc[0]
    value_long = long_frame.query("level == 31 and T_K == 2000")["k_cm3_s"].iloc[0]
    assert value_long == pytest.approx(value_wide * 1e6, rel=1e-9)
    np.testing.assert_allclose(scaled_y(out, long_frame["k_cm3_s"] * 1e-6),
                               keras_y(out, long_frame["level"], long_frame["T_K"]), rtol=1e-6, atol=1e-6)


def test_export_errors_leave_files_alone(runner, run_dir, tmp_path):
    out, _ = run_dir
    target = tmp_path / "t.csv"
    target.write_text("precious")
    base = ["export", "--run", str(out), "-o", str(target)]
    assert error_line(runner.invoke(main, base)) == f"Error: {target} already exists; pass --force to overwrite it"
    assert error_line(runner.invoke(main, [*base, "--force", "--layout", "tall"])) == (
        "Error: unknown layout 'tall'; valid layouts: wide, long")
    assert error_line(runner.invoke(main, [*base, "--force", "--units", "mol/s"])) == (
        "Error: unknown units 'mol/s'; valid units: m3/s, cm3/s")
    assert error_line(runner.invoke(main, [*base, "--force", "--temps", "100:500:100"])).startswith(
        "Error: temperatures 100..500 K go outside the trained range")
    assert target.read_text() == "precious"


def test_plot_command(runner, run_dir, tmp_path):
    out, _ = run_dir
    png = tmp_path / "k5.png"
    result = runner.invoke(main, ["plot", "--run", str(out), "--level", "5", "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert error_line(runner.invoke(main, ["plot", "--run", str(out), "--level", "5", "-o", str(png)])) == (
        f"Error: {png} already exists; pass --force to overwrite it")
    assert error_line(runner.invoke(main, ["plot", "--run", str(out), "--level", "1-3"])) == (
        "Error: --level takes one level, e.g. --level 32")


def test_train_library_rejects_bad_config():
    with pytest.raises(KvtError, match="--units must be a positive integer"):
        train(TrainConfig(units=0))
