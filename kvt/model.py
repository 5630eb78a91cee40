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


def predict_scaled(model: keras.Model, x, chunk: int = 65536):
    """Network output for scaled features ``x`` (inference mode), shape (n, 1), float64."""
    import numpy as np

    x = np.asarray(x, dtype=model.inputs[0].dtype if model.inputs else "float32")
    parts = [keras.ops.convert_to_numpy(model(x[i:i + chunk], training=False)).astype(float)
             for i in range(0, len(x), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 1))
