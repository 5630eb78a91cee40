"""The tuned protocol's search (kvt.bench.tuned): held-out temperatures and a search that never sees them."""

import json

import numpy as np
import pytest

from kvt.bench.tuned import held_out_split, parse_held_out, search_cell
from kvt.data.datasets import load_dataset
from kvt.errors import KvtError
from kvt.optimizers.search_spaces import Choice, Range, space_for
from kvt.training.config import TrainConfig

HELD = (750.0, 2500.0, 7000.0)
O2_TEMPS = "250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000"
TINY = TrainConfig(mode="study", epochs=2, patience=2, units=8)


@pytest.fixture(scope="module")
def o2o2():
    return load_dataset("O2-O2")


def _raises(message, call, *args):
    with pytest.raises(KvtError) as caught:
        call(*args)
    assert str(caught.value) == message


def test_held_out_split_indices(o2o2):
    frame = o2o2.frame
    split = held_out_split(o2o2, (7000, 750, 2500, 750))  # any order, repeats once
    T = frame["T_K"].to_numpy()
    expected = np.flatnonzero((T == 750) | (T == 2500) | (T == 7000))
    assert split.temperatures == HELD and all(type(t) is float for t in split.temperatures)
    assert np.array_equal(split.held_out_index, expected) and len(expected) == 3 * 35
    assert np.intersect1d(split.kept_index, split.held_out_index).size == 0
    assert np.array_equal(np.union1d(split.kept_index, split.held_out_index), np.arange(len(frame)))
    assert np.array_equal(split.kept.frame.to_numpy(), frame.to_numpy()[split.kept_index])
    assert np.array_equal(split.held_out.to_numpy(), frame.to_numpy()[expected])
    assert list(split.kept.frame.index) == list(range(len(split.kept_index)))
    assert not split.kept.frame["T_K"].isin(HELD).any()
    kept = split.kept
    assert (kept.pair, kept.path, kept.sha256, kept.table, kept.source) == (
        o2o2.pair, o2o2.path, o2o2.sha256, o2o2.table, o2o2.source)
    from kvt.training.trainer import prepare_data

    prep = prepare_data(TINY.resolved(), kept)
    assert len(prep.train_idx) + len(prep.val_idx) == len(kept.frame) == len(frame) - 105


def test_held_out_split_refuses(o2o2):
    _raises(f"held-out temperature 800 K is not in the data of O2-O2; its temperatures are {O2_TEMPS} K",
            held_out_split, o2o2, (750, 800))
    every = tuple(float(t) for t in np.unique(o2o2.frame["T_K"]))
    _raises(f"held-out temperatures {O2_TEMPS} K are every temperature of the 15 in the data of O2-O2; "
            f"at least two must remain to search and train on", held_out_split, o2o2, every)
    _raises(f"held-out temperatures {O2_TEMPS.replace(', 10000', '')} K are all but 10000 K of the 15 in the data "
            f"of O2-O2; at least two must remain to search and train on", held_out_split, o2o2, every[:-1])
    _raises(f"give at least one held-out temperature; the temperatures of O2-O2 are {O2_TEMPS} K",
            held_out_split, o2o2, ())
    assert len(held_out_split(o2o2, every[1:-1]).kept.frame) == 2 * 35  # the two ends left: allowed
    _raises("held-out temperature 250 K of O2-O2 lies outside the 500–10000 K left to search and train on; hold "
            "out temperatures between two kept ones (their score measures interpolation, not extrapolation)",
            held_out_split, o2o2, (250, 2500))
    _raises("held-out temperature 9000 K of O2-O2 lies outside the 250–8000 K left to search and train on; hold "
            "out temperatures between two kept ones (their score measures interpolation, not extrapolation)",
            held_out_split, o2o2, (9000, 10000))


def test_parse_held_out():
    assert parse_held_out("750,2500,7000") == HELD
    assert parse_held_out(" 7000, 750,2500 ,750") == HELD
    assert parse_held_out("1e3") == (1000.0,)
    usage = "give temperatures in K separated by commas, e.g. --held-out 750,2500,7000"
    _raises(f"--held-out '750,hot': 'hot' is not a number; {usage}", parse_held_out, "750,hot")
    _raises(f"--held-out '750,,2500': '' is not a number; {usage}", parse_held_out, "750,,2500")
    _raises("--held-out '750,-5': -5 is not a temperature; each must be a number of K > 0", parse_held_out, "750,-5")
    _raises("--held-out '0': 0 is not a temperature; each must be a number of K > 0", parse_held_out, "0")
    _raises("--held-out 'inf': inf is not a temperature; each must be a number of K > 0", parse_held_out, "inf")
    _raises(f"--held-out ' ' names no temperature; {usage}", parse_held_out, " ")


class _Spy:
    """Records, per trial, the hyper-parameters, the rows its training is fed and its epochs' val_mse."""

    def __init__(self, monkeypatch):
        import keras

        from kvt.training.config import TrainConfig
        from kvt.training.loop import EpochLoop

        self.fits, last = [], {}
        spy, original_hparams, original_init, original_fit = self, TrainConfig.optimizer_hyperparameters, \
            EpochLoop.__init__, EpochLoop.fit

        def optimizer_hyperparameters(config):  # a trial's training asks for its hyper-parameters first
            last["hparams"] = original_hparams(config)
            return last["hparams"]

        def init(loop, model, prep, *args, **kwargs):
            original_init(loop, model, prep, *args, **kwargs)
            # the rows the trial's compiled epochs gather their batches from, and validate on
            spy.fits.append({"hparams": last["hparams"], "prep": prep, "train_x": loop.rows[0].numpy(),
                             "val_x": loop.val[0].numpy(), "val_mse": []})

        class Record(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                spy.fits[-1]["val_mse"].append(float(logs["val_mse"]))

        def fit(loop, epochs, callbacks=(), *args, **kwargs):
            return original_fit(loop, epochs, [*callbacks, Record()], *args, **kwargs)

        monkeypatch.setattr(TrainConfig, "optimizer_hyperparameters", optimizer_hyperparameters)
        monkeypatch.setattr(EpochLoop, "__init__", init)
        monkeypatch.setattr(EpochLoop, "fit", fit)


def test_search_never_sees_the_held_out_rows(o2o2, monkeypatch, tmp_path, capsys):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = []
    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: made.append(real_mkdtemp(*a, **k)) or made[-1])
    spy = _Spy(monkeypatch)
    from keras_tuner.src.engine import tuner_utils

    saves = []  # Keras Tuner's per-epoch weight checkpoints: only Hyperband reads them, the search writes none
    monkeypatch.setattr(tuner_utils.SaveBestEpoch, "_save_model", lambda self: saves.append(self.filepath))
    split = held_out_split(o2o2, HELD)
    lines = []
    outcome = search_cell("O2-O2", "adam", split.kept, 3, TINY, seed=0, log=lines.append)

    # Independent reference: the full frame's positions by (level, T), and the held-out ones by temperature.
    frame = o2o2.frame
    position = {(int(level), float(T)): i for i, (level, T) in enumerate(zip(frame["level"], frame["T_K"]))}
    held_positions = set(np.flatnonzero(frame["T_K"].isin(HELD)))
    kept_positions = set(range(len(frame))) - held_positions
    assert len(spy.fits) == 3
    for fit in spy.fits:
        prep = fit["prep"]
        # The scaler was fitted on these rows: the kept ones only.
        assert sorted(position[(int(i), float(T))] for i, T in prep.features) == sorted(kept_positions)
        row_of = {tuple(row): i for i, row in enumerate(prep.x.astype(np.float32))}
        assert len(row_of) == len(prep.x)
        seen = {}
        for part in ("train_x", "val_x"):
            rows = [row_of[tuple(row)] for row in fit[part]]
            seen[part] = {position[(int(prep.features[r, 0]), float(prep.features[r, 1]))] for r in rows}
            assert len(rows) == len(seen[part])  # no row twice in one epoch
            assert not seen[part] & held_positions
        assert not seen["train_x"] & seen["val_x"]
        assert seen["train_x"] | seen["val_x"] == kept_positions
        assert seen["train_x"] == set(split.kept_index[prep.train_idx])
        assert seen["val_x"] == set(split.kept_index[prep.val_idx])

    # Three distinct trials inside adam's declared space, recorded as they trained.
    space = space_for("adam")
    assert [json.loads(t["hyperparameters"]) for t in outcome.trials] == [f["hparams"] for f in spy.fits]
    assert len({json.dumps(f["hparams"], sort_keys=True) for f in spy.fits}) == 3
    for fit in spy.fits:
        for key, spec in space.items():
            value = fit["hparams"][key]
            if isinstance(spec, Range):
                assert spec.low <= value <= spec.high, (key, value)
            else:
                assert isinstance(spec, Choice) and value in spec.values, (key, value)
    assert [t["status"] for t in outcome.trials] == ["COMPLETED"] * 3
    assert len({t["trial_id"] for t in outcome.trials}) == 3
    assert all(t["seconds"] > 0 for t in outcome.trials)

    # The best is the trial whose epochs reached the lowest validation MSE.
    bests = [min(fit["val_mse"]) for fit in spy.fits]
    assert [t["score"] for t in outcome.trials] == pytest.approx(bests, rel=1e-6)
    winner = int(np.argmin(bests))
    assert outcome.best == spy.fits[winner]["hparams"] and outcome.best_score == pytest.approx(bests[winner])
    assert TrainConfig(optimizer="adam", opt=outcome.best).resolved().optimizer_hyperparameters() == outcome.best

    assert saves == []
    assert len(lines) == 3 and lines[0].startswith("O2-O2 adam search, trial 1/3 in ")
    assert capsys.readouterr().out == ""
    # The temporary search folder is gone (autograph leaves its own files there).
    searched = [p for p in made if "kvt-search-" in p]
    assert len(searched) == 1 and not [p for p in tmp_path.iterdir() if p.name.startswith("kvt-search-")]


def test_search_failures_and_a_kept_folder(o2o2, monkeypatch, tmp_path):
    """Every trial failing is one line naming the cell; a given folder is kept, continued, or refused."""
    from kvt.training import trainer

    builds = []

    def refuse(config, prep, hparams, *args, **kwargs):
        builds.append(hparams)
        raise KvtError("adam refuses these hyper-parameters")

    monkeypatch.setattr(trainer, "build_compiled_model", refuse)
    kept = held_out_split(o2o2, HELD).kept
    folder = tmp_path / "search-adam"
    failed = "every trial of the adam search on O2-O2 failed (2 of 2); the last: adam refuses these hyper-parameters"
    _raises(failed, search_cell, "O2-O2", "adam", kept, 2, TINY, 0, folder)
    assert len(builds) == 2 and (folder / "cell.json").is_file() and (folder / "search" / "oracle.json").is_file()
    _raises(failed, search_cell, "O2-O2", "adam", kept, 2, TINY, 0, folder)  # continued: nothing left to run
    assert len(builds) == 2
    _raises(f"{folder} holds something other than a search with these settings; give an empty or new folder",
            search_cell, "O2-O2", "adam", kept, 2, TrainConfig(mode="study", epochs=3, patience=2, units=8), 0,
            folder)
    # The draws are the oracle seed's: seed 0 again draws the same hyper-parameters, seed 1 others.
    _raises(failed, search_cell, "O2-O2", "adam", kept, 2, TINY, 0)
    _raises(failed, search_cell, "O2-O2", "adam", kept, 2, TINY, 1)
    assert builds[2:4] == builds[:2] and builds[4:6] != builds[:2] and len(builds) == 6
    _raises("the number of search trials must be a positive integer, got 0", search_cell, "O2-O2", "adam", kept, 0,
            TINY)
    _raises("the tuned protocol scores each trial on a validation split; val_fraction must be > 0, got 0",
            search_cell, "O2-O2", "adam", kept, 2, TrainConfig(mode="study", epochs=2, units=8, val_fraction=0.0))
