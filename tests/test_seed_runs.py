"""SeedRuns: a configuration's seeds on one compiled model give exactly what fresh runs give; the benchmark's
per-epoch tracker measures what an independent evaluation of the final network measures."""

import numpy as np
import pytest

from kvt.training.config import TrainConfig
from kvt.training.trainer import SeedRuns, train

QUICK = dict(data="O2-Ar", mode="study", epochs=3, units=8)


def _weights(result):
    return np.concatenate([np.ravel(w) for w in result.model.get_weights()])


# plain gradients; AdaHessian draws random probe vectors (and has its own train step, as SAM has)
@pytest.mark.parametrize("optimizer", ["adam", "adahessian", "sam"])
def test_a_reused_model_trains_a_new_seed_exactly_as_a_fresh_run(optimizer):
    import keras

    runs = SeedRuns(TrainConfig(optimizer=optimizer, **QUICK))
    first = runs.run(0)
    reused = runs.run(1)
    assert reused.model is first.model  # traced once
    keras.backend.clear_session()
    fresh = train(TrainConfig(optimizer=optimizer, seed=1, **QUICK))
    assert fresh.model is not first.model
    np.testing.assert_array_equal(_weights(reused), _weights(fresh))
    np.testing.assert_array_equal(reused.history["val_loss"], fresh.history["val_loss"])
    assert reused.split["val_rows"] == fresh.split["val_rows"] != first.split["val_rows"]
    np.testing.assert_array_equal(reused.predictions["k_pred_m3_s"], fresh.predictions["k_pred_m3_s"])


def test_no_early_stopping_runs_every_epoch_and_keeps_the_last_weights():
    config = TrainConfig(optimizer="adam", early_stopping=False, patience=1, **QUICK)
    result = train(config)
    assert len(result.history) == 3 and result.metrics["epochs_run"] == 3
    # the last epoch's validation loss (Keras) is the recorded MSE of the final network (numpy network)
    assert result.metrics["val_mse_scaled"] == pytest.approx(result.history["val_loss"].iloc[-1], rel=1e-4)


def test_the_tracker_measures_what_an_independent_evaluation_of_the_final_network_measures():
    from kvt.bench.runs import TRACK_T_STEP_K, VTCell
    from kvt.bench.settings import VTSettings
    from kvt.network.inference import Network
    from kvt.physics import fho, species

    settings = VTSettings(protocol="study", quick=True, pairs=["O2-Ar"], optimizers=["adam"]).resolved()
    cell = VTCell(settings, "O2-Ar", "adam")
    row, history = cell.run(0)
    # no early stopping: the last epoch's network is the final one; evaluate it with the numpy network
    # against FHO-FR on every level x every 50 K
    temps = np.arange(250.0, 10000.0 + 1, TRACK_T_STEP_K)
    levels, grid_t = (a.ravel() for a in np.meshgrid(np.arange(1, 36), temps, indexing="ij"))
    network = Network(cell.last_result.weights)
    k = network.predict_k(levels, grid_t)
    k_ref = fho.rate_coefficient(levels, grid_t, species.pair("O2-Ar"))
    assert history["dense_median"].iloc[-1] == pytest.approx(np.median(np.abs(k - k_ref) / k_ref), rel=1e-4)
    # training seconds leave the tracker's own time out, and grow
    assert (history["train_time_s"] <= history["time_s"]).all() and history["train_time_s"].is_monotonic_increasing
    reached = history.index[history["dense_median"] <= row["rel_target"]]
    assert row["rel_target_epoch"] == (int(history.loc[reached[0], "epoch"]) if len(reached) else None)
