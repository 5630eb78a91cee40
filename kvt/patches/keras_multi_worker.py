"""Keras 3's TensorFlow trainer made to ``fit`` with several replicas in sync, for one ``fit`` call.

Keras 3 (through at least 3.15) cannot ``fit`` under ``MultiWorkerMirroredStrategy``
(keras-team/keras#20585), nor under ``MirroredStrategy`` when a validation batch does
not split evenly over the replicas:

* ``TensorFlowTrainer._maybe_symbolic_build`` averages the first batch over the
  replicas with ``strategy.reduce`` to get example shapes; the collective strategy
  cannot reduce a tuple of batches, and replicas holding 53 and 52 rows cannot be
  added. The first local replica's batch has the shapes needed (the build uses
  shapes, not values).
* ``reduce_per_replica`` reduces scalar logs with ``strategy.reduce(..., axis=0)``
  under the collective strategy, invalid for scalars; the patch stacks them and
  averages them over the workers in one all-reduce (``axis=None``), so every worker
  sees the same losses (and early stopping takes the same decision everywhere).

The replacements are copies of the Keras 3.15 bodies with those two changes. Keras has
no public hook for either (both are module-level private functions of
``keras.src.backend.tensorflow.trainer``), so :func:`patched_fit` installs them for the
block it guards — kvt's ``model.fit`` call — and puts the originals back afterwards,
also when the fit raises. It checks the installed Keras first.
"""

from __future__ import annotations

import contextlib
import threading

from kvt.patches import require

LOWEST, BELOW = "3.15.0", "3.16"
PATCH = "kvt's fix of Keras's fit under a distributing strategy"

_LOCK = threading.Lock()  # one patched fit at a time: the patch is process-wide while it is installed


def check() -> str:
    """The installed Keras version, if this patch supports it (else one ``KvtError``)."""
    return require("keras", LOWEST, BELOW, PATCH)


def _replacements(tf_trainer):
    """kvt's ``reduce_per_replica`` and ``_maybe_symbolic_build``, falling back on ``tf_trainer``'s originals."""
    import tensorflow as tf
    from keras.src import tree

    original_reduce = tf_trainer.reduce_per_replica

    def local(value, strategy):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            flat = tree.flatten(values)
            if flat and all(len(local(v, strategy).shape) == 0 for v in flat):
                parts = [local(v, strategy) for v in flat]
                stacked = tf.stack([tf.cast(p, tf.float64) for p in parts])
                mean = strategy.reduce("MEAN", stacked, axis=None)
                reduced = [tf.cast(m, p.dtype) for m, p in zip(tf.unstack(mean), parts)]
                return tree.pack_sequence_as(values, reduced)
        return original_reduce(values, strategy, reduction)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tree.map_structure(lambda v: local(v, self.distribute_strategy), batch)
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    return reduce_per_replica, _maybe_symbolic_build


@contextlib.contextmanager
def patched_fit():
    """Install the two replacements for the block (a ``model.fit``), then restore Keras's own."""
    check()
    from keras.src.backend.tensorflow import trainer as tf_trainer

    with _LOCK:
        trainer_class = tf_trainer.TensorFlowTrainer
        saved_reduce = tf_trainer.reduce_per_replica
        saved_build = vars(trainer_class)["_maybe_symbolic_build"]
        reduce_per_replica, maybe_symbolic_build = _replacements(tf_trainer)
        tf_trainer.reduce_per_replica = reduce_per_replica
        trainer_class._maybe_symbolic_build = maybe_symbolic_build
        try:
            yield
        finally:
            tf_trainer.reduce_per_replica = saved_reduce
            trainer_class._maybe_symbolic_build = saved_build
