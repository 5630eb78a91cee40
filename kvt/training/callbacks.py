"""Keras callbacks of kvt's training: progress bar, epoch timer, silent NaN stop, compiled validation."""

from __future__ import annotations

import math
import time
import weakref

import numpy as np


def progress_callback(total: int, stream, unit: str = "epoch", per_keras_epoch: int = 1,
                      show_val: bool = True):
    """A Keras callback printing a one-line progress bar.

    ``total`` counts ``unit``s (epochs, or optimizer steps in full-batch runs, where one
    Keras epoch is ``per_keras_epoch`` steps); ``val_loss`` is shown only with ``show_val``.
    """
    import keras

    class Progress(keras.callbacks.Callback):
        """One-line progress bar with the current losses."""

        width = 30
        logs_only = True  # reads each epoch's logs, never the model (kvt.training.loop may run epochs in chunks)

        interactive = bool(getattr(stream, "isatty", lambda: False)())
        every = max(1, math.ceil(total / per_keras_epoch) // 20)

        last = None  # (epoch, logs) not yet printed

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            done = min(total, (epoch + 1) * per_keras_epoch)
            if not self.interactive and (epoch + 1) % self.every and done != total:
                self.last = (epoch, logs)
                return
            self.last = None
            filled = int(self.width * done / total)
            bar = "=" * filled + ">" * (filled < self.width) + " " * (self.width - filled - 1)
            prefix, suffix = ("\r", "") if self.interactive else ("", "\n")
            text = f"{unit} {done:>{len(str(total))}}/{total} [{bar[:self.width]}] loss {logs.get('loss', float('nan')):.3e}"
            if show_val:
                text += f"  val_loss {logs.get('val_loss', float('nan')):.3e}"
            stream.write(f"{prefix}{text}{suffix}")
            stream.flush()

        def on_train_end(self, logs=None):
            if self.last is not None:  # early stopping ended the run between printed lines
                epoch, last_logs = self.last
                self.last = None
                self.every = 1
                self.on_epoch_end(epoch, last_logs)
            if self.interactive:
                stream.write("\n")
            stream.flush()

    return Progress()


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()
            self.times = []

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    return EpochTimer()


def stop_on_nan():
    """Like ``keras.callbacks.TerminateOnNaN``, without its console message: kvt reports the divergence."""
    import keras

    class StopOnNaN(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not np.all(np.isfinite(np.asarray(loss, dtype=float))):
                self.model.stop_training = True

    return StopOnNaN()


_VALIDATION_FUNCTIONS = weakref.WeakKeyDictionary()  # model -> its compiled validation function


def in_graph_validation(x, y, dtype: str = "float32"):
    """Validation at every epoch's end as one compiled call on in-memory tensors (one batch).

    What ``model.fit(validation_data=...)`` computes for a validation set of one batch:
    the model's metrics reset, its own ``test_step`` on the rows, the ``val_``-prefixed
    results added to the epoch's logs, so the callbacks after this one (early stopping, the
    progress bar, History) see them as before. Keras's own validation makes an iterator and
    runs ``evaluate``'s Python loop every epoch (about 7 ms of CPU an epoch on 2 cores); this
    is one call of a function traced once per model and input shape. Put it first.
    """
    import keras
    import tensorflow as tf

    x_val, y_val = tf.constant(np.asarray(x, dtype=dtype)), tf.constant(np.asarray(y, dtype=dtype))

    class InGraphValidation(keras.callbacks.Callback):
        #: the validation rows it evaluates (features, scaled target), as fed
        validation_data_rows = (x_val, y_val)

        def on_epoch_end(self, epoch, logs=None):
            model = self.model
            function = _VALIDATION_FUNCTIONS.get(model)
            if function is None:
                @tf.function(reduce_retracing=True)
                def function(x_rows, y_rows):
                    for metric in model.metrics:
                        metric.reset_state()
                    return model.test_step((x_rows, y_rows))

                _VALIDATION_FUNCTIONS[model] = function
            results = function(x_val, y_val)
            if logs is not None:
                logs.update({f"val_{name}": float(np.asarray(value)) for name, value in sorted(results.items())})

    return InGraphValidation()


_BOOKKEEPING = weakref.WeakKeyDictionary()  # models whose metric bookkeeping is compiled


def compiled_metric_bookkeeping():
    """Keras's per-epoch metric bookkeeping of ``model.fit`` as two compiled calls instead of eager ops.

    Every epoch ``fit`` calls ``model.reset_metrics()`` (an eager ``assign`` per metric
    variable) and ``model.get_metrics_result()`` (an eager division per metric): about 4 ms
    of Python an epoch on 2 cores, a third of a 14-step epoch's compute. From
    ``on_train_begin`` the model's instance answers both with the same methods of its class,
    traced once every metric is built (same operations, same values; until then, and inside a
    traced step, the class's methods run as they are); on one device only. The instance
    attributes stay (they compute exactly what the class's methods compute).
    """
    import keras
    import tensorflow as tf

    class CompiledMetricBookkeeping(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            model = self.model
            if model in _BOOKKEEPING:
                return
            cls = type(model)
            compiled = {}  # number of metric variables -> (reset, result) traced with every metric built

            def functions():
                if tf.inside_function() or not all(getattr(m, "built", True) for m in model.metrics):
                    return None  # inside a traced step, or a metric still to build: the class's own ops
                key = len(model.metrics_variables)
                if key not in compiled:
                    compiled[key] = (tf.function(lambda: cls.reset_metrics(model)),
                                     tf.function(lambda: cls.get_metrics_result(model)))
                return compiled[key]

            def reset_metrics():
                traced = functions()
                return cls.reset_metrics(model) if traced is None else traced[0]()

            def get_metrics_result():
                traced = functions()
                return cls.get_metrics_result(model) if traced is None else traced[1]()

            _BOOKKEEPING[model] = compiled
            # plain instance attributes, not tracked by Keras or tf.train.Checkpoint
            object.__setattr__(model, "reset_metrics", reset_metrics)
            object.__setattr__(model, "get_metrics_result", get_metrics_result)

    return CompiledMetricBookkeeping()
