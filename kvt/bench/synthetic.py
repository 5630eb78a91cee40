"""The synthetic test: its data, its three-input network and one training run.

The task and the network are described in :mod:`kvt.bench`.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from kvt.bench.settings import SYNTHETIC, SyntheticSettings
from kvt.errors import KvtError


def synthetic_data(rows: int, seed: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The three inputs and the (rows, 2) targets described in the module docstring."""
    spec = SYNTHETIC
    u = np.random.default_rng(seed).random((rows, spec["columns"]))
    noise = np.random.default_rng([seed, 1]).standard_normal((rows, 2))
    task = np.random.default_rng(spec["task_seed"])
    z = (u - 0.5) * np.sqrt(12.0)
    s = [z[:, a:b] @ task.standard_normal(b - a) / np.sqrt(b - a) for a, b in spec["groups"]]
    y1 = np.tanh(2.0 * s[0]) + 0.5 * s[1] * s[2]
    y2 = np.sin(s[1]) + 0.5 * (s[0] ** 2 - 1.0) + 0.3 * s[2]
    y = np.stack([y1, y2], axis=1)
    y = (y - y.mean(axis=0)) / y.std(axis=0) + spec["noise"] * noise
    inputs = tuple(u[:, a:b].astype("float32") for a, b in spec["groups"])
    return inputs, y.astype("float32")


def _synthetic_model_class():
    import keras

    from kvt.network import protocol
    from kvt.optimizers.kfac import is_kfac_dense

    class SyntheticNet(keras.Model):
        """Three inputs -> own Dense each -> concatenate -> Dense -> two Dense(1) heads.

        ``train_step`` follows kvt's train-step protocol like kvt's network: an optimizer
        with its own ``train_step`` (AdaHessian draws from ``step_seed``; K-FAC's Dense
        inputs and pre-activation gradients come from :meth:`forward_with_dense_records`)
        takes the step, any other trains through Keras's own step.
        """

        def __init__(self, units: int, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.branches = [keras.layers.Dense(units, activation="relu", name=f"input_{i + 1}_dense")
                             for i in range(3)]
            self.concatenate = keras.layers.Concatenate(name="concatenate")
            self.shared = keras.layers.Dense(units, activation="relu", name="shared_dense")
            self.heads = [keras.layers.Dense(1, name=f"head_{i + 1}") for i in range(2)]
            self.step_seed = keras.random.SeedGenerator(seed, name="hutchinson_seed")

        def forward_with_dense_records(self, inputs, training=True):
            records = []

            def dense(layer, a):
                a = keras.ops.cast(a, layer.compute_dtype)
                s = keras.ops.add(keras.ops.matmul(a, layer.kernel), layer.bias)
                records.append((layer, a, s))
                return layer.activation(s)

            branches = [dense(layer, x) for layer, x in zip(self.branches, inputs)]
            shared = dense(self.shared, self.concatenate(branches))
            heads = [dense(layer, shared) for layer in self.heads]
            assert all(is_kfac_dense(layer) for layer, _, _ in records)
            return keras.ops.concatenate(heads, axis=1), records

        def call(self, inputs, training=False):
            branches = [layer(x) for layer, x in zip(self.branches, inputs)]
            shared = self.shared(self.concatenate(branches))
            return keras.ops.concatenate([head(shared) for head in self.heads], axis=1)

        def train_step(self, data):
            return protocol.train_step(self, data, super().train_step)

    return SyntheticNet


def train_synthetic(settings: SyntheticSettings, optimizer_name: str, seed: int) -> dict:
    """One synthetic run: metrics and the history. Raises KvtError if the loss diverges."""
    import keras

    from kvt import optimizers
    from kvt.training.callbacks import epoch_timer, stop_on_nan
    from kvt.training.trainer import seed_everything, split_indices

    spec = SYNTHETIC
    keras.backend.clear_session()
    inputs, y = synthetic_data(settings.rows, seed)
    train_idx, val_idx = split_indices(settings.rows, spec["val_fraction"], seed)
    seed_everything(seed)
    model = _synthetic_model_class()(settings.units, seed=seed, name="synthetic")
    model(tuple(x[:1] for x in inputs))  # build the variables
    steps = math.ceil(len(train_idx) / spec["batch_size"])
    model.compile(optimizer=optimizers.get(optimizer_name), loss="mse",
                  metrics=[keras.metrics.LogCoshError(name="log_cosh")], steps_per_execution=steps)
    import tensorflow as tf

    train_data = (tf.data.Dataset.from_tensor_slices((tuple(x[train_idx] for x in inputs), y[train_idx]))
                  .cache().shuffle(len(train_idx), seed=seed, reshuffle_each_iteration=True)
                  .batch(spec["batch_size"]).prefetch(tf.data.AUTOTUNE))
    val_data = tf.data.Dataset.from_tensor_slices((tuple(x[val_idx] for x in inputs), y[val_idx])) \
        .batch(len(val_idx)).cache()
    timer = epoch_timer()
    callbacks = [stop_on_nan(), timer,  # silent: kvt raises its own error for a diverged run
                 keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec["patience"],
                                               min_delta=spec["min_delta"], restore_best_weights=True)]
    started = time.perf_counter()
    fit = model.fit(train_data, validation_data=val_data, epochs=settings.epochs, callbacks=callbacks,
                    shuffle=False, verbose=0)
    wall = time.perf_counter() - started
    history = pd.DataFrame(fit.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    history["time_s"] = timer.times[: len(history)]
    losses = history[["loss", "val_loss"]].to_numpy()
    if not np.all(np.isfinite(losses)):
        raise KvtError(f"training diverged (loss is NaN or infinite) with optimizer '{optimizer_name}'")
    best = int(history["val_loss"].idxmin())
    return {"history": history, "val_loss": float(history["val_loss"].iloc[best]),
            "val_log_cosh": float(history["val_log_cosh"].iloc[best]), "train_loss": float(history["loss"].iloc[best]),
            "epochs": int(len(history)), "best_epoch": best + 1, "wall_time_s": wall,
            "steps_per_second": len(history) * steps / wall}
