"""Mini-batch training with whole epochs, several at a time, in one compiled call.

``model.fit`` returns to Python after every epoch: its epoch loop, an iterator's next batch,
the validation loop, the metric bookkeeping and the callbacks cost a few milliseconds an epoch,
as much as the 14 optimizer steps of an epoch of a bundled table. On one device kvt trains its
mini-batch runs with :class:`EpochLoop` instead. One function, traced once per model and table
shape (without autograph, as Keras traces its own steps), runs a chunk of epochs:

    for each epoch of the chunk:
        reset the metrics; for each batch of the epoch's row order: gather its rows and take the
        model's own ``train_step``; read the epoch's metrics
        reset the metrics; the model's own ``test_step`` on the validation rows (in batches of
        ``feed.EVAL_BATCH_ROWS``); read the ``val_`` metrics
        early stopping: a lower validation loss keeps a copy of the weights; stop once the loss has
        not improved for ``patience`` epochs, or the training loss is not finite

and Python then hands each epoch's logs to the Keras callbacks (History, the progress bar) in
order. The steps, the metrics, the early stopping rule (``keras.callbacks.EarlyStopping`` with
``restore_best_weights``, ``min_delta`` 0) and the batches are those of ``model.fit`` with kvt's
feed (:class:`EpochOrders` takes tf.data's seeded orders exactly as :mod:`kvt.training.feed` does),
so a seed gives the same history and weights bit for bit (``tests/test_loop.py``). A chunk lasts
about :data:`CHUNK_SECONDS`: a Ctrl-C (``stop_requested``) is answered, and the progress bar
updated, within that; a callback that reads the model after each epoch (one without
``logs_only = True``, e.g. ``kvt bench``'s dense-grid tracker) gets one epoch a call.
"""

from __future__ import annotations

import math
import time

import numpy as np

from kvt.training.feed import EVAL_BATCH_ROWS, SHUFFLE_BUFFER_ROWS, rows_to_shuffle

CHUNK_SECONDS = 0.1  # the wall time a compiled call aims at: Ctrl-C and progress answered within it, and two
# Ctrl-Cs 0.2 s apart seen as two (Python runs its signal handler only between calls: two SIGINTs in one call are one)
MAX_EPOCHS_PER_CALL = 1000
TRACED_ATTRIBUTE = "_kvt_epoch_loops"  # the model's traced epoch loops, by table shape
ORDERS_AT_ONCE = 64  # epochs' row orders drawn from tf.data in one step ...
ORDER_ROWS_AT_ONCE = 2 ** 20  # ... as long as they hold at most this many row indices


class EpochOrders:
    """The epochs' row orders as kvt's feed shuffles them; ``take(n)``: the next ``n`` as an [n, rows] int64 array.

    tf.data's seeded shuffle of the row indices in a buffer of at most ``SHUFFLE_BUFFER_ROWS``, a
    fresh order every epoch, and only every second order (the orders the epochs of ``model.fit``
    see, :func:`kvt.training.feed.make_train_dataset`). Up to :data:`ORDERS_AT_ONCE` orders of a
    small table are drawn together (one iterator step instead of one an epoch). A table of more
    than ``SHUFFLE_BUFFER_ROWS`` rows has its orders drawn in pieces of that many indices:
    tf.data batches scalars by holding every element until the batch is full (about 230 bytes an
    index), so one batch of a whole 3.4 M-row order would cost 770 MB, its pieces 15 MB; the next
    order's pieces (and the skipped one's) are shuffled in the background while an epoch trains.
    """

    def __init__(self, n_rows: int, seed: int, epochs: int = ORDERS_AT_ONCE):
        import tensorflow as tf

        indices = tf.data.Dataset.range(n_rows).shuffle(min(n_rows, SHUFFLE_BUFFER_ROWS), seed=seed,
                                                        reshuffle_each_iteration=True)
        self._pieces = -(-n_rows // SHUFFLE_BUFFER_ROWS)  # pieces an order (1: a small table's whole order)
        if self._pieces == 1:
            at_once = max(1, min(ORDERS_AT_ONCE, epochs, ORDER_ROWS_AT_ONCE // n_rows))
            self._orders = iter(indices.batch(n_rows).repeat()
                                .shard(2, 0)  # orders 0, 2, 4, ...
                                .batch(at_once).prefetch(1))
        else:
            self._orders = iter(indices.batch(SHUFFLE_BUFFER_ROWS).repeat().prefetch(2 * self._pieces))
        self._ready = np.zeros((0, n_rows), np.int64)

    def _next_orders(self) -> np.ndarray:
        if self._pieces == 1:
            return next(self._orders).numpy()
        order = np.concatenate([next(self._orders).numpy() for _ in range(self._pieces)])
        for _ in range(self._pieces):  # the odd order, which model.fit's epochs do not see
            next(self._orders)
        return order[np.newaxis]

    def take(self, n: int) -> np.ndarray:
        while len(self._ready) < n:
            self._ready = np.concatenate([self._ready, self._next_orders()])
        taken, self._ready = self._ready[:n], self._ready[n:]
        return taken


class _Traced:
    """The compiled chunk of epochs of one model and table shape, with early stopping's state variables."""

    def __init__(self, model, n_train: int, batch: int, drop_remainder: bool, n_val: int, n_features: int,
                 dtype: str, early_stopping: bool):
        import tensorflow as tf

        self.best = tf.Variable(np.inf, dtype=tf.float64, trainable=False)
        self.wait = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_weights = [tf.Variable(w, trainable=False) for w in model.weights]
        used = n_train // batch * batch if drop_remainder else n_train  # rows an epoch trains on
        steps = -(-used // batch)  # the last batch holds the remainder (one traced step for every batch)
        names = []  # the logs' names, in the order of the stacked vector, fixed at trace time

        def metrics_vector(prefix):
            results = model.get_metrics_result()
            keys = sorted(results)  # the order of model.fit's logs (the columns of history.csv)
            names.extend(f"{prefix}{key}" for key in keys)
            return [tf.cast(tf.reshape(results[key], []), tf.float64) for key in keys]

        def reset():
            for metric in model.metrics:
                metric.reset_state()

        def train_epoch(order, x, y):
            reset()

            def step(i):
                rows = order[i * batch:tf.minimum((i + 1) * batch, used)]
                if drop_remainder:  # every batch full: a static batch shape, as tf.data's batch(drop_remainder=True)
                    rows = tf.ensure_shape(rows, [batch])
                model.train_step((tf.gather(x, rows), tf.gather(y, rows)))
                return (i + 1,)

            tf.while_loop(lambda i: i < steps, step, (tf.constant(0),))
            return metrics_vector("")

        def validate(x_val, y_val):
            reset()
            chunks, rest = divmod(n_val, EVAL_BATCH_ROWS)

            def chunk(i):
                model.test_step((x_val[i * EVAL_BATCH_ROWS:(i + 1) * EVAL_BATCH_ROWS],
                                 y_val[i * EVAL_BATCH_ROWS:(i + 1) * EVAL_BATCH_ROWS]))
                return (i + 1,)

            if chunks:
                tf.while_loop(lambda i: i < chunks, chunk, (tf.constant(0),))
            if rest:
                model.test_step((x_val[chunks * EVAL_BATCH_ROWS:], y_val[chunks * EVAL_BATCH_ROWS:]))
            return metrics_vector("val_")

        def keep_best():
            for kept, weight in zip(self.best_weights, model.weights):
                kept.assign(weight)
            return tf.constant(True)

        @tf.function(autograph=False, input_signature=[])
        def start():
            """A fit's first state of early stopping."""
            self.best.assign(np.inf)
            self.wait.assign(0)

        @tf.function(autograph=False, input_signature=[])
        def restore_best():
            """``EarlyStopping(restore_best_weights=True)``'s end of training: the best epoch's weights."""
            for weight, kept in zip(model.weights, self.best_weights):
                weight.assign(kept)

        self.start, self.restore_best = start, restore_best

        rows = lambda n, width: tf.TensorSpec([n, width], dtype)  # noqa: E731
        signature = [tf.TensorSpec([None, n_train], tf.int64), rows(n_train, n_features), rows(n_train, 1),
                     rows(n_val, n_features), rows(n_val, 1), tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.int64),
                     tf.TensorSpec([], tf.int64)]

        @tf.function(autograph=False, input_signature=signature)
        def run(orders, x, y, x_val, y_val, done, initial_epoch, patience):
            """Up to ``len(orders)`` epochs after ``done`` of this fit (``initial_epoch`` the fit's first epoch number);
            the logs [epochs, names], the epochs run, whether to stop."""
            n_epochs = tf.shape(orders, out_type=tf.int64)[0]
            logs = tf.TensorArray(tf.float64, size=0, dynamic_size=True)
            names.clear()

            def epoch(e, stop, logs):
                values = train_epoch(orders[e], x, y)
                loss = values[names.index("loss")]
                stop_now = tf.logical_not(tf.math.is_finite(loss))  # kvt's NaN guard
                if n_val:
                    values = values + validate(x_val, y_val)
                    if early_stopping:  # keras.callbacks.EarlyStopping, restore_best_weights, min_delta 0
                        current = values[names.index("val_loss")]
                        self.wait.assign_add(1)
                        improved = current < self.best
                        first = tf.equal(done + e, 0)  # the fit's first epoch: its weights are kept anyway
                        tf.cond(tf.logical_or(improved, first), keep_best, lambda: tf.constant(False))
                        # (a tf.function runs the operations on one variable in the order written)
                        self.best.assign(tf.where(improved, current, self.best))
                        self.wait.assign(tf.where(improved, tf.zeros([], tf.int64), self.wait))
                        stop_now = tf.logical_or(stop_now, tf.logical_and(
                            tf.logical_and(tf.logical_not(improved), self.wait >= patience), initial_epoch + done + e > 0))
                return e + 1, stop_now, logs.write(tf.cast(e, tf.int32), tf.stack(values))

            ran, stopped, logs = tf.while_loop(lambda e, stop, logs: tf.logical_and(e < n_epochs, tf.logical_not(stop)),
                                               epoch, (tf.constant(0, tf.int64), tf.constant(False), logs))
            return logs.stack(), ran, stopped

        self.run = run
        self.names = names


class EpochLoop:
    """``model.fit`` of a mini-batch run on one device, several epochs a compiled call (see the module).

    ``prep``: :class:`kvt.training.trainer.PreparedData` (mini-batch); ``patience`` None: no early
    stopping. :meth:`fit` returns the ``keras.callbacks.History`` that ``model.fit`` would; ``times``:
    the seconds from the start of training to the end of each epoch (within a call of several epochs,
    the call's time shared equally: TensorFlow's clock op is refused under op determinism); ``calls``: the
    compiled calls the last :meth:`fit` made.
    """

    def __init__(self, model, prep, seed: int, dtype: str = "float32", patience: int | None = None):
        import tensorflow as tf

        x, y = rows_to_shuffle(prep.x[prep.train_idx], prep.y[prep.train_idx], seed)
        self.model, self.seed, self.patience = model, seed, patience if prep.has_val else None
        self.rows = tf.constant(x.astype(dtype)), tf.constant(y.astype(dtype))
        x_val, y_val = prep.x[prep.val_idx], prep.y[prep.val_idx]
        self.val = tf.constant(x_val.astype(dtype)), tf.constant(y_val.astype(dtype))
        key = (len(x), prep.batch, prep.dropped_rows > 0, len(x_val), dtype, self.patience is not None)
        traced = getattr(model, TRACED_ATTRIBUTE, None)
        if traced is None:  # held by the model itself (a global cache would keep every model alive)
            traced = {}
            object.__setattr__(model, TRACED_ATTRIBUTE, traced)  # a plain attribute, not tracked by Keras
        if key not in traced:
            _build(model, self.rows, dtype)
            traced[key] = _Traced(model, *key[:4], x.shape[1], dtype, self.patience is not None)
        self.traced = traced[key]
        self.times: list[float] = []
        self.calls = 0  # compiled calls of the last fit

    def fit(self, epochs: int, callbacks=(), stop_requested=None, initial_epoch: int = 0):
        """Train epochs ``initial_epoch`` .. ``epochs - 1`` (as ``model.fit`` counts them); callbacks see
        ``on_train_begin``, ``on_epoch_begin`` and ``on_epoch_end`` of every epoch, ``on_train_end``.

        A callback marked ``logs_only = True`` reads the logs it is given and neither reads the model nor stops
        training; with only such callbacks, several epochs run in one call and their callbacks follow it.
        ``stop_requested()`` true (a Ctrl-C) ends training after the current call.
        """
        import keras
        import tensorflow as tf

        model, traced = self.model, self.traced
        callbacks = list(callbacks)
        per_call_limit = MAX_EPOCHS_PER_CALL if all(getattr(c, "logs_only", False) for c in callbacks) else 1
        callback_list = keras.callbacks.CallbackList(callbacks, add_history=True, model=model,
                                                     epochs=epochs, verbose=0)
        traced.start()
        patience = tf.constant(self.patience if self.patience is not None else 0, tf.int64)
        orders = EpochOrders(len(self.rows[0]), self.seed, epochs - initial_epoch)
        model.stop_training = False
        callback_list.on_train_begin()
        started, done, chunk, self.times, self.calls = time.perf_counter(), 0, 1, [], 0
        while initial_epoch + done < epochs and not model.stop_training:
            chunk_orders = tf.constant(orders.take(chunk))
            if per_call_limit == 1:
                callback_list.on_epoch_begin(initial_epoch + done)
            called = time.perf_counter()
            logs, ran, stopped = traced.run(chunk_orders, *self.rows, *self.val, tf.constant(done, tf.int64),
                                            tf.constant(initial_epoch, tf.int64), patience)
            logs, ran = logs.numpy(), int(ran)
            self.calls += 1
            ended = time.perf_counter()
            seconds = (ended - called) / max(ran, 1)
            for i, values in enumerate(logs):  # an epoch's end within the call: its share of the call's time
                self.times.append(called - started + (i + 1) * seconds)
                if per_call_limit > 1:
                    callback_list.on_epoch_begin(initial_epoch + done)
                callback_list.on_epoch_end(initial_epoch + done, dict(zip(traced.names, values.tolist())))
                done += 1
            if bool(stopped):
                model.stop_training = True
            elif stop_requested is not None:
                _raise_if_aborted(stop_requested)
                if stop_requested():
                    model.stop_training = True
            chunk = max(1, min(epochs - initial_epoch - done, per_call_limit,
                               math.floor(CHUNK_SECONDS / max(seconds, 1e-6))))
        if self.patience is not None and done:  # EarlyStopping(restore_best_weights=True) restores at the end
            traced.restore_best()
        callback_list.on_train_end()
        return next(c for c in callback_list.callbacks if isinstance(c, keras.callbacks.History))


def _build(model, rows, dtype: str) -> None:
    """Build the optimizer's and the compiled metrics' variables before tracing (as ``model.fit`` does first):
    one eager evaluation of the metrics on a few rows, which changes no weight."""
    x, y = rows
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.compute_metrics(x[:2], y[:2], model(x[:2], training=False))
    for metric in model.metrics:
        metric.reset_state()


def _raise_if_aborted(stop_requested) -> None:
    check = getattr(stop_requested, "raise_if_aborted", None)
    if check is not None:
        check()
