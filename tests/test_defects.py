"""Defects found in review, one test (or a few) each."""

import json

import numpy as np
import pytest
from conftest import error_line

from kvt.cli import main


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    """A small generated O2-Ar table: 6 levels x 5 temperatures = 30 rows."""
    from kvt.data.datasets import generate, to_csv_text

    path = tmp_path_factory.mktemp("data") / "small.csv"
    path.write_text(to_csv_text(generate("O2-Ar", range(1, 7), [300, 1000, 2000, 5000, 10000])))
    return path


@pytest.fixture(scope="module")
def small_run(small_csv, tmp_path_factory):
    """A tiny study-mode run on ``small_csv`` (levels 1-6, 300-10000 K)."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("runs") / "small"
    result = CliRunner().invoke(main, ["train", "--data", str(small_csv), "--epochs", "2", "--units", "4", "--quiet",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_study_mode_accepts_full_batch_and_no_validation_as_the_readme_says(runner, small_csv, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(main, ["train", "--data", str(small_csv), "--batch-size", "0", "--val-fraction", "0",
                                  "--epochs", "7", "--units", "4", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["options"]["mode"] == "study"
    assert meta["split"]["n_val"] == 0 and meta["split"]["n_train"] == 30
    assert meta["metrics"]["val_mse_scaled"] is None
    assert any(line.split() == ["validation", "MSE", "(scaled", "target)", "n/a"] for line in result.stdout.splitlines())


@pytest.mark.parametrize("epochs", [5, 120])
def test_full_batch_runs_exactly_the_asked_steps_and_shows_steps(small_csv, epochs):
    import io

    from kvt.training.trainer import TrainConfig, train

    stream = io.StringIO()
    result = train(TrainConfig(data=str(small_csv), mode="accurate", epochs=epochs, units=4, finish="none"),
                   verbose=True, stream=stream)
    assert int(result.model.optimizer.iterations.numpy()) == epochs  # counted by Keras itself
    assert result.metrics["optimizer_steps"] == result.metrics["epochs_run"] == epochs
    assert result.history["epoch"].iloc[-1] == epochs
    # the cosine schedule ends at min_lr exactly at the last step
    assert float(result.model.optimizer.learning_rate) == pytest.approx(1e-5, rel=1e-6)
    text = stream.getvalue()
    assert f"step {epochs}/{epochs} [" in text and "epoch" not in text and "val_loss" not in text


@pytest.mark.parametrize("mode", ["study", "accurate"])
def test_lr_and_opt_learning_rate_together_are_refused(runner, small_csv, tmp_path, mode):
    out = tmp_path / "run"
    result = runner.invoke(main, ["train", "--data", str(small_csv), "--mode", mode, "--lr", "0.01",
                                  "--opt", "learning_rate=0.001", "--quiet", "--out", str(out)])
    assert error_line(result) == "Error: give the learning rate once: --lr 0.01 or --opt learning_rate=0.001, not both"
    assert not out.exists()


def test_opt_learning_rate_alone_is_used_in_accurate_mode():
    from kvt.training.config import TrainConfig

    config = TrainConfig(mode="accurate", opt={"learning_rate": 0.003}).resolved()
    assert config.optimizer_hyperparameters()["learning_rate"] == 0.003  # not the mode's 1e-2


def test_divergence_prints_only_kvts_error_line(runner, tmp_path):
    result = runner.invoke(main, ["train", "--pair", "O2-Ar", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "5",
                                  "--quiet", "--out", str(tmp_path / "run")])
    line = error_line(result)
    assert line.startswith("Error: training diverged at epoch 1")
    assert result.output.strip().splitlines() == [line]  # stdout and stderr together: no Keras message


def test_evaluate_outside_the_trained_range_only_with_allow_extrapolation(runner, small_run, tmp_path):
    args = ["evaluate", "--run", str(small_run), "--pair", "O2-Ar", "--levels", "1-6", "--temps", "250,1000"]
    refused = runner.invoke(main, [*args, "--out", str(tmp_path / "a")])
    assert error_line(refused) == ("Error: temperatures 250..1000 K go outside the trained range 300..10000 K; "
                                   "pass --allow-extrapolation to predict there anyway")
    allowed = runner.invoke(main, [*args, "--out", str(tmp_path / "b"), "--allow-extrapolation"])
    assert allowed.exit_code == 0, allowed.output
    assert "Warning: extrapolating: temperatures 250..1000 K go outside the trained range 300..10000 K" in allowed.stderr
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["extrapolation_allowed"] is True and summary["grid"]["points"] == 12
    assert summary["trained_range"] == {"level": [1, 6], "T_K": [300.0, 10000.0]}


def test_tune_accurate_best_run_is_the_best_trial(runner, small_csv, tmp_path):
    out = tmp_path / "search"
    result = runner.invoke(main, ["tune", "--data", str(small_csv), "--mode", "accurate", "--optimizer", "adam",
                                  "--val-fraction", "0.25", "--epochs", "30", "--units", "4", "--max-trials", "1",
                                  "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    best = json.loads((out / "best.json").read_text())
    meta = json.loads((out / "best_run" / "metadata.json").read_text())
    assert meta["options"]["finish"] == "none" and meta["metrics"]["finish"] is None
    assert "--finish" in best["kvt_train_args"] and "none" in best["kvt_train_args"]
    # Keras's validation MSE of the trial's best epoch, recomputed by numpy from the run's weights
    assert meta["metrics"]["val_mse_scaled"] == pytest.approx(best["score"], rel=1e-6)


def test_no_one_row_batch_reaches_batch_normalisation():
    from kvt.training.trainer import TrainConfig, fit_inputs, prepare_data

    config = TrainConfig(data="O2-Ar", batch_size=419, epochs=1).resolved()  # 420 training rows
    prep = prepare_data(config)
    assert len(prep.train_idx) == 420
    def three_epochs(inputs):  # the feed may be endless (steps_per_epoch given) or one epoch, iterated again
        epochs = [inputs["x"].take(3 * inputs["steps_per_epoch"])] if inputs["steps_per_epoch"] else [inputs["x"]] * 3
        return [int(batch[0].shape[0]) for data in epochs for batch in data]

    assert three_epochs(fit_inputs(config, prep)) == [419] * 3 and prep.steps == 1 and prep.dropped_rows == 1
    config = TrainConfig(data="O2-Ar", batch_size=418, epochs=1).resolved()  # a remainder of 2 is kept
    assert three_epochs(fit_inputs(config, prepare_data(config))) == [418, 2] * 3


def test_one_row_remainder_is_recorded(small_csv, tmp_path):
    from kvt.runs.folder import save_run
    from kvt.training.trainer import TrainConfig, train

    # 30 rows, 24 for training: batches of 23 leave 1 row
    result = train(TrainConfig(data=str(small_csv), batch_size=23, epochs=3, units=4))
    assert result.metrics["optimizer_steps"] == 3
    meta = json.loads((save_run(result, tmp_path / "run") / "metadata.json").read_text())
    assert meta["split"]["batching"]["remainder_rows_dropped_per_epoch"] == 1


def test_batch_size_one_is_refused(runner, small_csv):
    result = runner.invoke(main, ["train", "--data", str(small_csv), "--batch-size", "1", "--quiet"])
    assert error_line(result) == ("Error: --batch-size must be 0 (full batch) or at least 2 (batch normalisation "
                                  "needs the variance of a batch), got 1")


def _random_bn(layer, rng):
    n = layer.gamma.shape[0]
    layer.gamma.assign(rng.uniform(0.5, 2.0, n))
    layer.beta.assign(rng.normal(size=n))
    layer.moving_mean.assign(rng.normal(size=n))
    layer.moving_variance.assign(rng.uniform(0.2, 3.0, n))


@pytest.mark.parametrize("activation", ["sigmoid", "linear"])
def test_fold_dense_bn_bn_matches_keras(activation):
    import keras

    from kvt.network.inference import _fold_layers, _sigmoid_inplace

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,), dtype="float64"),
                              keras.layers.Dense(3, activation=activation, dtype="float64"),
                              keras.layers.BatchNormalization(dtype="float64"),
                              keras.layers.BatchNormalization(dtype="float64"),
                              keras.layers.Dense(1, dtype="float64")])
    rng = np.random.default_rng(4)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            _random_bn(layer, rng)
    x = rng.normal(size=(50, 2))
    h = x
    for layer in _fold_layers(model):
        h = h @ np.array(layer["weights"]) + np.array(layer["bias"])
        if layer["activation"] == "sigmoid":
            h = _sigmoid_inplace(h)
    np.testing.assert_allclose(h, np.asarray(model(x, training=False)), rtol=1e-12, atol=1e-12)


def test_fold_refuses_what_the_schema_cannot_represent():
    import keras

    from kvt import KvtError
    from kvt.network.inference import _fold_layers

    ends_with_bn = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="sigmoid"),
                                     keras.layers.BatchNormalization()])
    with pytest.raises(KvtError, match="cannot export a network that ends with BatchNormalization"):
        _fold_layers(ends_with_bn)
    dropout = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3), keras.layers.Dropout(0.1),
                                keras.layers.Dense(1)])
    with pytest.raises(KvtError, match="of type Dropout"):
        _fold_layers(dropout)
    relu = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)])
    with pytest.raises(KvtError, match="cannot export activation 'relu'"):
        _fold_layers(relu)


def test_madgrad_anchor_is_captured_in_build_not_from_the_step_counter():
    import keras

    from kvt.optimizers.madgrad import MADGRAD

    start = np.array([0.5, -1.5, 2.0])
    variable = keras.Variable(start.copy(), dtype="float64")
    optimizer = MADGRAD(learning_rate=0.1, momentum=0.8, epsilon=1e-6)
    optimizer.build([variable])
    np.testing.assert_array_equal(optimizer._theta0[0].numpy(), start)
    optimizer.iterations.assign(7)  # a backend that does not count from 0: the anchor must not depend on it
    g = np.array([0.3, -0.2, 1.0])
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    lam = (float(np.float32(0.1)) + 1e-6) * np.sqrt(8.0)  # step t = k + 1 = 8; Keras keeps lr in float32
    s, nu = lam * g, lam * g * g
    z = start - s / (np.cbrt(nu) + 1e-6)
    np.testing.assert_allclose(variable.numpy(), 0.8 * start + 0.2 * z, rtol=1e-12)


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "Error: --epochs must be a positive integer, got 0"),
    (["--mode", "fast"], "Error: unknown mode 'fast'; valid modes: study, accurate"),
])
def test_bad_train_options_fail_before_tensorflow_is_imported(args, message):
    import subprocess
    import sys

    code = ("import sys; from kvt.cli import main; sys.argv = ['kvt', 'train', '--pair', 'O2-Ar'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 1, e.code\n"
            "assert 'tensorflow' not in sys.modules, 'TF imported'")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == message
