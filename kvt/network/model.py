"""The study's five-layer batch-normalised network.

    Dense (linear) -> BatchNormalization -> Dense (sigmoid) -> BatchNormalization -> Dense (linear, 1)
"""

from __future__ import annotations

import keras

from kvt.errors import KvtError

DEFAULT_UNITS = 64


def build_model(n_inputs: int = 2, units: int = DEFAULT_UNITS, model_class: type | None = None,
                name: str = "kvt_vt", dtype: str | None = None) -> keras.Model:
    """A fresh, uncompiled network with ``n_inputs`` features and one output.

    ``model_class`` is a ``keras.Sequential`` subclass with its own ``train_step``
    (for optimizers such as AdaHessian or SAM); plain ``keras.Sequential`` by default.
    ``dtype`` ("float32", "float64") sets every layer's dtype policy; Keras's floatx by default.
    """
    if int(units) != units or units < 1:
        raise KvtError(f"--units must be a positive integer, got {units}")
    model_class = model_class or keras.Sequential
    return model_class(
        [
            keras.Input(shape=(n_inputs,), name="features", dtype=dtype),
            keras.layers.Dense(units, activation="linear", name="dense_in", dtype=dtype),
            keras.layers.BatchNormalization(name="batch_norm_1", dtype=dtype),
            keras.layers.Dense(units, activation="sigmoid", name="dense_hidden", dtype=dtype),
            keras.layers.BatchNormalization(name="batch_norm_2", dtype=dtype),
            keras.layers.Dense(1, activation="linear", name="dense_out", dtype=dtype),
        ],
        name=name,
    )

