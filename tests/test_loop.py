"""The epoch loop (several epochs a compiled call) trains exactly as ``model.fit`` on kvt's feed does."""

import numpy as np
import pytest


def _fit_and_loop(optimizer="adam", epochs=15, patience=2, batch_size=32, callbacks=(), learning_rate=None,
                  paths=("fit", "loop")):
    """(history, weights) of ``model.fit`` on kvt's feed with kvt's callbacks (early stopping restoring the best
    weights), and of the epoch loop, for the same O2-Ar configuration and seed."""
    from kvt.training import trainer
    from kvt.training.config import TrainConfig
    from kvt.training.loop import EpochLoop

    config = TrainConfig(data="O2-Ar", optimizer=optimizer, epochs=epochs, seed=3, patience=patience,
                         batch_size=batch_size, units=16, learning_rate=learning_rate).resolved()
    hparams = config.optimizer_hyperparameters()
    out = [(None, None)] if "fit" not in paths else []
    for path in paths:
        trainer.seed_everything(config.seed)
        prep = trainer.prepare_data(config)
        model = trainer.build_compiled_model(config, prep, hparams)
        if path == "fit":
            history = model.fit(**trainer.fit_inputs(config, prep), epochs=epochs, shuffle=False, verbose=0,
                                callbacks=trainer.fit_callbacks(config, prep)).history
        else:
            loop = EpochLoop(model, prep, config.seed, patience=config.patience)
            history = loop.fit(epochs, list(callbacks)).history
            out.append(loop)
        out.insert(len(out) - (path == "loop"), (history, [w.numpy() for w in model.weights]))
    (fit_history, fit_weights), (loop_history, loop_weights), loop = out
    return fit_history, fit_weights, loop_history, loop_weights, loop


def _assert_same(fit_history, fit_weights, loop_history, loop_weights):
    assert list(loop_history) == list(fit_history)  # the same columns in the same order (history.csv)
    assert loop_history == fit_history  # bit for bit
    for a, b in zip(loop_weights, fit_weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer, batch_size", [
    ("adam", 32),  # a 4-row last batch; early stopping fires and restores the best weights
    ("sam", 419),  # an optimizer with its own train step; the 1-row remainder dropped (static batch shape)
])
def test_the_epoch_loop_gives_model_fits_history_and_weights_bit_for_bit(optimizer, batch_size):
    fit_history, fit_weights, loop_history, loop_weights, loop = _fit_and_loop(
        optimizer, batch_size=batch_size, learning_rate=0.05 if optimizer == "adam" else None)
    _assert_same(fit_history, fit_weights, loop_history, loop_weights)
    if optimizer == "adam":
        assert len(fit_history["loss"]) < 15  # early stopping fired
        best = int(np.argmin(fit_history["val_loss"]))
        assert best < len(fit_history["loss"]) - 1  # and restored weights older than the last epoch's
    assert len(loop.times) == len(loop_history["loss"]) and np.all(np.diff(loop.times) >= 0)


def test_epochs_in_chunks_equal_one_epoch_a_call_and_trace_once():
    """A log-only callback lets the loop run many epochs a call; one that reads the model gets one epoch a call:
    the same history and weights; the function is traced once whatever the chunk sizes (compile time does not
    grow with --epochs)."""
    import keras

    class LogsOnly(keras.callbacks.Callback):
        logs_only = True

        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(epoch)

    class ReadsTheModel(LogsOnly):
        logs_only = False

    runs = {}
    for name, callback in (("chunks", LogsOnly()), ("single", ReadsTheModel())):
        *_, loop_history, loop_weights, loop = _fit_and_loop(epochs=40, patience=100, callbacks=[callback],
                                                             paths=("loop",))
        runs[name] = (loop_history, loop_weights, loop)
        assert callback.epochs == list(range(40))
        assert loop.traced.run.experimental_get_tracing_count() == 1
    (chunked, chunked_weights, _), (single, single_weights, _) = runs["chunks"], runs["single"]
    assert chunked == single
    for a, b in zip(chunked_weights, single_weights):
        np.testing.assert_array_equal(a, b)
    assert runs["single"][2].calls == 40
    assert runs["chunks"][2].calls < 40  # several epochs a call


def test_the_loop_feeds_the_batches_of_kvts_feed():
    """The row ids of every batch the train step receives: the epoch loop against ``model.fit`` on
    :func:`kvt.training.feed.make_train_dataset` (the same seeded orders, every second one)."""
    import keras
    import tensorflow as tf

    from kvt.network.model import build_model
    from kvt.training.feed import make_train_dataset
    from kvt.training.loop import EpochLoop
    from kvt.training.trainer import PreparedData, compile_model

    n_rows, batch, epochs = 50, 8, 4
    x = np.stack([np.arange(n_rows), np.zeros(n_rows)], axis=1).astype(float)
    y = np.arange(n_rows, dtype=float).reshape(-1, 1)
    seen = {}
    for path in ("fit", "loop"):
        keras.utils.set_random_seed(0)
        model = compile_model(build_model(n_inputs=2, units=4), keras.optimizers.SGD(1e-3), steps_per_execution=7)
        rows = tf.Variable(tf.zeros([0], tf.int64), shape=[None], trainable=False)
        original = model.train_step

        def recording_step(data, original=original, rows=rows):
            rows.assign(tf.concat([rows, tf.cast(data[0][:, 0], tf.int64)], axis=0))
            return original(data)

        model.train_step = recording_step
        if path == "fit":
            model.fit(make_train_dataset(x, y, batch, seed=3, repeat=True), steps_per_epoch=7, epochs=epochs,
                      shuffle=False, verbose=0)
        else:
            prep = PreparedData(dataset=None, features=x, k_true=y, transform=None, x=x, y=y,
                                train_idx=np.arange(n_rows), val_idx=np.arange(0), full_batch=False, batch=batch,
                                steps=7, keras_epochs=epochs)
            EpochLoop(model, prep, seed=3).fit(epochs)
        seen[path] = rows.numpy()
    assert len(seen["fit"]) == epochs * n_rows
    np.testing.assert_array_equal(seen["loop"], seen["fit"])


def test_a_large_tables_orders_drawn_in_pieces_are_the_feeds_orders():
    """Above SHUFFLE_BUFFER_ROWS rows the orders are drawn in pieces (memory); put together they are
    tf.data's whole seeded orders 0, 2, 4 (the ones ``model.fit`` on kvt's feed sees)."""
    import tensorflow as tf

    from kvt.training.feed import SHUFFLE_BUFFER_ROWS
    from kvt.training.loop import EpochOrders

    n_rows = 2 * SHUFFLE_BUFFER_ROWS + 7  # three pieces, the last one short
    whole = tf.data.Dataset.range(n_rows).shuffle(SHUFFLE_BUFFER_ROWS, seed=5, reshuffle_each_iteration=True)
    expected = np.stack([order.numpy() for order in whole.batch(n_rows).repeat().take(5)])[::2]
    orders = EpochOrders(n_rows, seed=5)
    taken = np.concatenate([orders.take(1), orders.take(2)])
    assert taken.shape == (3, n_rows)
    np.testing.assert_array_equal(taken, expected)
    assert not np.array_equal(taken[0], taken[1])
