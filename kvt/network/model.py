"""The study's five-layer batch-normalised network.

    Dense (linear) -> BatchNormalization -> Dense (sigmoid) -> BatchNormalization -> Dense (linear, 1)
"""

from __future__ import annotations

import keras

from kvt.errors import KvtError
from kvt.network.protocol import train_step

DEFAULT_UNITS = 64

#: Names earlier kvt versions saved this network under (one class per optimizer with its
#: own train step); run folders written then load as :class:`Network`.
LEGACY_NAMES = ("HessianSequential", "SAMSequential", "KFACSequential")


@keras.saving.register_keras_serializable(package="kvt")
class Network(keras.Sequential):
    """``keras.Sequential`` whose ``train_step`` follows kvt's train-step protocol.

    An optimizer with its own ``train_step(model, data)`` (AdaHessian, SAM, K-FAC; see
    :mod:`kvt.network.protocol`) takes the whole step; any other optimizer trains
    through Keras's own ``train_step``, exactly as with ``keras.Sequential``.
    ``step_seed`` is the ``keras.random.SeedGenerator`` such steps draw from (AdaHessian's
    Rademacher vectors), seeded from ``seed``, or from Keras's global seed when None, so
    ``keras.utils.set_random_seed`` makes runs repeatable; ``seed`` is not saved.
    """

    def __init__(self, layers=None, trainable=True, name=None, seed=None):
        super().__init__(layers=layers, trainable=trainable, name=name)
        # named as HessianSequential named it, which old run folders saved
        self.step_seed = keras.random.SeedGenerator(seed, name="hutchinson_seed")

    def train_step(self, data):
        return train_step(self, data, super().train_step)


for _legacy in LEGACY_NAMES:
    keras.saving.get_custom_objects()[f"kvt>{_legacy}"] = Network


def build_model(n_inputs: int = 2, units: int = DEFAULT_UNITS, name: str = "kvt_vt",
                dtype: str | None = None) -> Network:
    """A fresh, uncompiled :class:`Network` with ``n_inputs`` features and one output.

    ``dtype`` ("float32", "float64") sets every layer's dtype policy; Keras's floatx by default.
    """
    if int(units) != units or units < 1:
        raise KvtError(f"--units must be a positive integer, got {units}")
    return Network(
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
