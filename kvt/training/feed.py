"""The training data as ``tf.data`` pipelines: shuffled mini-batches, validation, full batch.

The training rows stay in two in-memory tensors; the pipeline shuffles and batches row
*indices* and gathers each batch's rows (no per-row dataset elements, a shuffle buffer of at
most :data:`SHUFFLE_BUFFER_ROWS` indices: bounded memory on any table). ``kvt train`` feeds
the batches of up to :data:`ENDLESS_FEED_ROWS` training rows as one endless dataset
(``repeat=True``) with ``steps_per_epoch``, so that Keras makes one iterator for the whole fit
instead of one an epoch; the batches are the same either way.
"""

from __future__ import annotations

import numpy as np

SHUFFLE_BUFFER_ROWS = 2 ** 16  # cap of the tf.data shuffle buffer (bounded memory on any table)
EVAL_BATCH_ROWS = 2 ** 16  # rows per validation batch
# Most training rows fed as one endless dataset (skipping a shuffle order costs more than a new
# iterator an epoch beyond about this size: +1 ms an epoch at 420 rows, +6 ms at 8192, +120 ms at 65536
# against about 7 ms for a new iterator; 2 cores)
ENDLESS_FEED_ROWS = 2 ** 13


def make_train_dataset(x, y, batch_size: int, seed: int, dtype: str = "float32", drop_remainder: bool = False,
                       repeat: bool = False):
    """Shuffled mini-batches of the training rows, reshuffled every epoch.

    The rows stay in two in-memory tensors; tf.data shuffles and batches row *indices*
    and each batch gathers its rows, so the pipeline holds no per-row elements (a
    cached row-by-row dataset costs about 380 bytes a row) and its shuffle buffer is at
    most SHUFFLE_BUFFER_ROWS indices. The batches are the same as shuffling the rows
    themselves with the same seed. ``drop_remainder`` drops the last, incomplete batch
    of each epoch (a different random remainder every epoch, so every row is still used).

    ``repeat``: the epochs one after another in one endless dataset, for
    ``model.fit(steps_per_epoch=...)``: Keras then keeps one iterator for the whole fit. Given
    the finite dataset, Keras 3 makes a new iterator every epoch (making one instantiates the
    gathering function again: about 7 ms of CPU an epoch on 2 cores, 0.5 ms a step on a
    14-step epoch), in fact two after the first epoch, one of them never read; each takes the
    next of the shuffle's seeded orders, so epoch ``k`` of such a fit sees order ``2k - 1``.
    The endless dataset skips every second order to feed exactly those batches: the skipped
    orders cost a shuffle and batching of the row indices (no gathering), about 1 ms an epoch
    at 420 rows and growing with the rows, so :func:`kvt.training.trainer.fit_inputs` takes it
    up to :data:`ENDLESS_FEED_ROWS` training rows and the finite dataset above (where an
    epoch is long and a new iterator's 7 ms do not count).
    """
    import tensorflow as tf

    x, y = rows_to_shuffle(x, y, seed)
    x_rows, y_rows = tf.constant(x.astype(dtype)), tf.constant(y.astype(dtype))
    batches = (tf.data.Dataset.range(len(x))
               .shuffle(min(len(x), SHUFFLE_BUFFER_ROWS), seed=seed, reshuffle_each_iteration=True)
               .batch(batch_size, drop_remainder=drop_remainder))
    if repeat:  # the epochs' batches as windows; every second window (shuffle order) is skipped
        per_epoch = (len(x) // batch_size) if drop_remainder else -(-len(x) // batch_size)
        batches = (batches.repeat().window(per_epoch).enumerate()
                   .filter(lambda epoch, window: epoch % 2 == 0)
                   .flat_map(lambda epoch, window: window))
    return batches.map(lambda rows: (tf.gather(x_rows, rows), tf.gather(y_rows, rows))).prefetch(tf.data.AUTOTUNE)


def rows_to_shuffle(x, y, seed: int):
    """The training rows as the feed's shuffle reads them: a table of more than SHUFFLE_BUFFER_ROWS rows
    permuted once (seeded), so that the buffer's window of a sorted table is still a random sample."""
    if len(x) > SHUFFLE_BUFFER_ROWS:
        order = np.random.default_rng(seed).permutation(len(x))
        x, y = x[order], y[order]
    return x, y


def make_eval_dataset(x, y, dtype: str = "float32"):
    import tensorflow as tf

    return (tf.data.Dataset.from_tensor_slices((x.astype(dtype), y.astype(dtype)))
            .batch(min(len(x), EVAL_BATCH_ROWS)).cache())


def make_full_batch_dataset(x, y, dtype: str = "float32", steps: int | None = None):
    """The whole training set as one batch, repeated ``steps`` times (forever if None).

    A finite repeat makes Keras's multi-step execution stop after exactly ``steps``
    optimizer steps, even when they are not a multiple of ``steps_per_execution``.
    """
    import tensorflow as tf

    return tf.data.Dataset.from_tensors((x.astype(dtype), y.astype(dtype))).repeat(steps if steps else -1)
