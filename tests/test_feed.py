"""The training feed: the endless one-iterator dataset feeds the batches Keras's own epoch loop feeds."""

import numpy as np
import pytest


def _batches_seen_by_fit(dataset, epochs, steps, steps_per_epoch=None):
    """Row ids of every batch a kvt model's compiled train step receives during ``model.fit``.

    The reference is Keras itself iterating a finite dataset epoch by epoch (what ``kvt train``
    fed before the endless dataset), one compiled execution an epoch as in ``kvt train``; the
    rows' first feature is their id.
    """
    import keras
    import tensorflow as tf

    from kvt.network.model import build_model
    from kvt.training.trainer import compile_model

    keras.utils.set_random_seed(0)
    model = compile_model(build_model(n_inputs=2, units=4), keras.optimizers.SGD(1e-3), steps_per_execution=steps)
    seen = tf.Variable(tf.zeros([0], tf.int64), shape=[None], trainable=False)
    original = model.train_step

    def recording_step(data):
        seen.assign(tf.concat([seen, tf.cast(data[0][:, 0], tf.int64)], axis=0))
        return original(data)

    model.train_step = recording_step
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=0)
    return seen.numpy()


@pytest.mark.parametrize("n_rows, batch, drop_remainder", [(50, 8, False), (49, 8, True)])
def test_endless_feed_gives_the_batches_of_the_per_epoch_feed(n_rows, batch, drop_remainder):
    import keras

    from kvt.training.feed import make_train_dataset

    x = np.stack([np.arange(n_rows), np.zeros(n_rows)], axis=1).astype(float)
    y = np.arange(n_rows, dtype=float).reshape(-1, 1)
    steps = n_rows // batch if drop_remainder else -(-n_rows // batch)
    epochs = 4

    keras.utils.set_random_seed(0)
    finite = make_train_dataset(x, y, batch, seed=3, drop_remainder=drop_remainder)
    reference = _batches_seen_by_fit(finite, epochs, steps)
    keras.utils.set_random_seed(0)
    endless = make_train_dataset(x, y, batch, seed=3, drop_remainder=drop_remainder, repeat=True)
    fed = _batches_seen_by_fit(endless, epochs, steps, steps_per_epoch=steps)

    rows_per_epoch = steps * batch if drop_remainder else n_rows
    assert len(reference) == epochs * rows_per_epoch
    np.testing.assert_array_equal(fed, reference)
    per_epoch = reference.reshape(epochs, rows_per_epoch)
    for order in per_epoch:  # each epoch a fresh order of distinct rows
        assert len(set(order.tolist())) == rows_per_epoch
    assert not np.array_equal(per_epoch[0], per_epoch[1])


def test_endless_feed_orders_recorded_before_the_change():
    """Seed 0 (global) and 5 (shuffle): the orders the per-epoch feed produced at 0aff664, epochs 1, 2, 3."""
    import keras

    from kvt.training.feed import make_train_dataset

    keras.utils.set_random_seed(0)
    x = np.arange(40, dtype=float).reshape(20, 2)
    y = np.arange(20, dtype=float).reshape(20, 1)
    iterator = iter(make_train_dataset(x, y, batch_size=8, seed=5, dtype="float64", repeat=True))
    epochs = [[next(iterator)[1].numpy()[:, 0].astype(int).tolist() for _ in range(3)] for _ in range(3)]
    # iterating the finite dataset of 0aff664 three times gave orders 1, 2, 3; a fit's epochs 1, 2
    # took orders 1 and 3 (Keras makes two iterators an epoch after the first), so the endless feed
    # gives orders 1, 3, 5
    assert epochs[0] == [[5, 16, 17, 10, 4, 2, 15, 12], [9, 7, 18, 8, 6, 0, 19, 11], [14, 3, 1, 13]]
    assert epochs[1] == [[2, 4, 5, 13, 14, 10, 18, 3], [0, 12, 17, 15, 1, 19, 9, 8], [11, 6, 7, 16]]


def test_in_graph_validation_logs_what_keras_validation_logs():
    """Same history (every column, bit for bit) and weights as ``model.fit(validation_data=...)`` without kvt's
    callbacks, early stopping included; with the compiled metric bookkeeping too."""
    import keras

    from kvt.network.model import build_model
    from kvt.training.callbacks import compiled_metric_bookkeeping, in_graph_validation
    from kvt.training.feed import make_eval_dataset, make_train_dataset
    from kvt.training.trainer import compile_model

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(60, 2)), rng.normal(size=(60, 1))
    histories = []
    for keras_validation in (True, False):
        keras.utils.set_random_seed(0)
        model = compile_model(build_model(n_inputs=2, units=4), keras.optimizers.Adam(1e-2), steps_per_execution=5)
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
        data = make_train_dataset(x[:40], y[:40], 8, seed=0, repeat=True)
        extra = ({"validation_data": make_eval_dataset(x[40:], y[40:])} if keras_validation
                 else {"callbacks": [in_graph_validation(x[40:], y[40:]), stop, compiled_metric_bookkeeping()]})
        extra.setdefault("callbacks", [stop])
        fit = model.fit(data, steps_per_epoch=5, epochs=30, shuffle=False, verbose=0, **extra)
        histories.append((fit.history, [w.numpy() for w in model.weights]))
    (keras_history, keras_weights), (history, weights) = histories
    assert list(history) == list(keras_history)  # the same columns in the same order
    assert history == keras_history
    assert any(name.startswith("val_") for name in history)
    for a, b in zip(weights, keras_weights):
        np.testing.assert_array_equal(a, b)
