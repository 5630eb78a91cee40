"""TensorFlow's global seed set without emptying its kernel caches, for one seeding.

``tf.random.set_seed`` (which ``keras.utils.set_random_seed`` calls) sets the eager context's
global seed and its op-seed generator, and then empties TensorFlow's kernel caches, so that
stateful random kernels already made restart their streams. Emptying them also drops every
compiled function's instantiation: the next call of a traced training function optimises its
graph again (about 0.5 s on 2 cores). kvt's traced functions hold no stateful random kernel
(Keras draws from stateless ops with its own seed generators; the shuffle of the row orders is a
new tf.data pipeline for every fit, made after the seeding), so for a later seed on an already
compiled model (:class:`kvt.training.trainer.SeedRuns`) :func:`kernel_caches_kept` sets the seed
the same way without emptying the caches. The replacement is the body of TensorFlow 2.21's private
``Context._set_global_seed`` without its last statement; :func:`kernel_caches_kept` installs it
for the block it guards and puts the original back afterwards, also when the block raises. It
checks the installed TensorFlow first. ``tests/test_seed_runs.py`` holds a later seed's run
against a fresh process's run of that seed, bit for bit.
"""

from __future__ import annotations

import contextlib
import random
import threading

import numpy as np

from kvt.patches import require

LOWEST, BELOW = "2.21.0", "2.22"
PATCH = "kvt's seeding that keeps TensorFlow's kernel caches"

_LOCK = threading.Lock()  # process-wide while installed: one seeding at a time


def check() -> str:
    """The installed TensorFlow version, if this patch supports it (else one ``KvtError``)."""
    return require("tensorflow", LOWEST, BELOW, PATCH)


def _set_global_seed(self, seed):
    """``Context._set_global_seed`` of TensorFlow 2.21 without ``TFE_ContextClearCaches``."""
    self._seed = seed
    try:
        hash(seed)
        self._rng = random.Random(seed)
    except TypeError:
        self._rng = random.Random(int(np.array(seed)))


@contextlib.contextmanager
def kernel_caches_kept():
    """Within the block, setting TensorFlow's global seed keeps its kernel caches."""
    check()
    from tensorflow.python.eager import context

    with _LOCK:
        original = context.Context._set_global_seed
        context.Context._set_global_seed = _set_global_seed
        try:
            yield
        finally:
            context.Context._set_global_seed = original
