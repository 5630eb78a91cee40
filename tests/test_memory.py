"""Bounded memory: chunked numpy inference and evaluation, capped shuffle buffer, one dataset read."""

import tracemalloc

import numpy as np
import pytest

from kvt.network.inference import Network


def _spec(units=64, seed=0):
    """A study-shaped weights document with random weights (64 units: big activations)."""
    r = np.random.default_rng(seed)

    def dense(n_in, n_out, activation):
        return {"activation": activation, "weights": r.normal(size=(n_in, n_out)).tolist(),
                "bias": r.normal(size=n_out).tolist()}

    return {"format": "kvt-weights", "schema_version": 1, "valid_range": {"level": [1, 35], "T_K": [250, 10000]},
            "features": {"kind": "level_T", "scale": [1 / 34, 1 / 9750], "shift": [-1 / 34, -250 / 9750],
                         "network_inputs": [0, 1]},
            "layers": [dense(2, units, "sigmoid"), dense(units, units, "sigmoid"), dense(units, 1, "linear")],
            "target": {"kind": "minmax_1e18", "scale": 0.01, "shift": -0.5, "factor": 1e18}}


def _peak_bytes(function):
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = function()
        return tracemalloc.get_traced_memory()[1] - before, result
    finally:
        tracemalloc.stop()


def _reference_k(spec, level, T):
    """The weights document evaluated by hand, all points at once (the unbounded way)."""
    x = np.column_stack([level, T]) * spec["features"]["scale"] + spec["features"]["shift"]
    for layer in spec["layers"]:
        x = x @ np.array(layer["weights"]) + np.array(layer["bias"])
        if layer["activation"] == "sigmoid":
            x = 1 / (1 + np.exp(-x))
    t = spec["target"]
    return (x[:, 0] - t["shift"]) / t["scale"] / t["factor"]


def test_predict_k_in_chunks_equals_all_at_once():
    spec = _spec()
    rng = np.random.default_rng(1)
    level, T = rng.integers(1, 36, 1000), rng.uniform(250, 10000, 1000)
    expected = _reference_k(spec, level, T)
    network = Network(spec)
    np.testing.assert_allclose(network.predict_k(level, T, chunk=7), expected, rtol=1e-12)
    np.testing.assert_allclose(network.predict_k(level, T), expected, rtol=1e-12)


def test_predict_k_memory_grows_only_by_its_output():
    network = Network(_spec())
    peaks = {}
    for n in (200_000, 800_000):
        level, T = np.full(n, 7.0), np.linspace(250, 10000, n)
        peaks[n], k = _peak_bytes(lambda: network.predict_k(level, T))
        assert k.shape == (n,)
    growth_per_point = (peaks[800_000] - peaks[200_000]) / 600_000
    assert growth_per_point < 12  # the float64 output is 8 bytes a point; all at once it is > 1000


def test_evaluate_memory_grows_by_its_table_only():
    from kvt.kinetics.accuracy import evaluate_network

    network = Network(_spec())
    peaks = {}
    for n_t in (4000, 16000):
        peaks[n_t], evaluation = _peak_bytes(
            lambda: evaluate_network(network, "O2-Ar", range(1, 36), np.linspace(250, 10000, n_t)))
        assert evaluation["grid"]["points"] == 35 * n_t
    growth_per_point = (peaks[16000] - peaks[4000]) / (35 * 12000)
    # the table's 5 float64 columns are 40 bytes a point, the per-level statistics copy one
    # more; the unchunked evaluation grew by about 1100 bytes a point
    assert growth_per_point < 120


def test_shuffle_buffer_is_capped_and_every_epoch_still_uses_every_row(monkeypatch):
    from kvt.training import feed, trainer

    monkeypatch.setattr(feed, "SHUFFLE_BUFFER_ROWS", 8)
    x = np.arange(100, dtype=float).reshape(50, 2)
    y = np.arange(50, dtype=float).reshape(50, 1)
    data = trainer.make_train_dataset(x, y, batch_size=10, seed=3, dtype="float64")
    for _ in range(2):
        rows = np.concatenate([batch_y.numpy()[:, 0] for _, batch_y in data])
        assert sorted(rows) == list(range(50))
        assert not np.array_equal(rows[:10], np.arange(10))  # the sorted table was permuted first


def test_shuffle_buffer_is_recorded(monkeypatch):
    from kvt.training import feed, trainer

    config = trainer.TrainConfig(data="O2-Ar", epochs=1).resolved()
    record = trainer.batching_record(trainer.prepare_data(config))
    assert record["shuffle_buffer_rows"] == 420  # below the cap: the whole training set
    monkeypatch.setattr(feed, "SHUFFLE_BUFFER_ROWS", 64)
    record = trainer.batching_record(trainer.prepare_data(config))
    assert record["shuffle_buffer_rows"] == 64 and "64 rows" in record["shuffle"]


def test_kvt_train_reads_the_dataset_once(runner, tmp_path, monkeypatch):
    from kvt.data import datasets
    from kvt.cli import main

    csv = tmp_path / "small.csv"
    csv.write_text(datasets.to_csv_text(datasets.generate("O2-Ar", range(1, 5), [500, 1000, 2000, 5000])))
    calls = []
    real = datasets.read_table
    monkeypatch.setattr(datasets, "read_table", lambda path, *args: calls.append(path) or real(path, *args))
    result = runner.invoke(main, ["train", "--data", str(csv), "--epochs", "1", "--units", "4", "--quiet",
                                  "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert len(calls) == 1
