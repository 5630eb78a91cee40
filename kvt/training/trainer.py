"""Training the study's network on a VT dataset.

:func:`train` takes a :class:`TrainConfig` and returns a :class:`TrainResult` with
the fitted model, the scaler, the history and the metrics; :mod:`kvt.runs.folder` turns a
result into a run directory. This module fits; the evaluation of the new run (the TF-free
network's predictions, the error summaries, the validity, accuracy and relaxation checks) is
:func:`kvt.training.evaluation.evaluate_run`, which :func:`train` calls once the fit is done.

A mini-batch run on one device trains in :class:`kvt.training.loop.EpochLoop`: several epochs
(their batches gathered from the in-memory rows, the model's own train and test steps, early
stopping) in one compiled call, bit for bit what ``model.fit`` on kvt's feed gives. Full-batch runs
and distributing strategies run ``model.fit`` on the feed of :func:`fit_inputs` (a shuffled
``tf.data`` pipeline, :mod:`kvt.training.feed`; a whole epoch per compiled execution,
``steps_per_execution``; on one device the validation as one compiled call,
:func:`kvt.training.callbacks.in_graph_validation`); ``benchmarks/training_speed.py`` measures both.

``TrainConfig.strategy`` picks a ``tf.distribute`` strategy (:mod:`kvt.training.distributed`):
the optimizer and the network are built and compiled inside its scope and the
pipeline is otherwise the same. With more than one replica in sync, each compiled
execution is one optimizer step and batch normalisation uses the statistics of the
global batch. Under ``multi-worker`` every worker runs :func:`train` and ends with
the same weights; the caller writes the run directory on the chief only
(:func:`kvt.training.distributed.is_chief`; ``kvt train`` does so, other workers write nothing).

:func:`prepare_data`, :func:`build_compiled_model`, :func:`fit_inputs` and
:func:`fit_callbacks` are the pieces :func:`train` is made of; ``kvt.tuning`` builds
its trials from the same pieces (and :class:`kvt.training.loop.EpochLoop`, whose histories and
weights equal ``model.fit``'s bit for bit, ``tests/test_loop.py``), so a trial trains exactly as
``kvt train`` would.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kvt.training.callbacks import compiled_metric_bookkeeping as _compiled_metric_bookkeeping
from kvt.training.callbacks import epoch_timer as _epoch_timer
from kvt.training.callbacks import in_graph_validation as _in_graph_validation
from kvt.training.callbacks import progress_callback as _progress_callback
from kvt.training.callbacks import stop_on_nan as _stop_on_nan
from kvt.training.finish import lbfgs_finish
from kvt.training.interrupt import stop_callback
from kvt.training.loop import EpochLoop
from kvt.data.datasets import Dataset, load_dataset
from kvt.errors import KvtError
from kvt.network.preprocessing import FEATURES, VTScaler  # noqa: F401  (FEATURES: public API)
from kvt.training import feed
from kvt.training.distributed import Distribution
from kvt.training.evaluation import evaluate_run
from kvt.training.feed import make_eval_dataset, make_full_batch_dataset, make_train_dataset  # noqa: F401
from kvt.training.config import TrainConfig, learning_rate_schedule


FULL_BATCH_CHUNK = 50  # full-batch steps per compiled Keras epoch


@dataclass
class TrainResult:
    config: TrainConfig
    dataset: Dataset
    model: Any  # keras.Model
    scaler: VTScaler
    history: pd.DataFrame
    predictions: pd.DataFrame
    metrics: dict[str, Any]
    split: dict[str, Any]
    hyperparameters: dict[str, Any]
    wall_time_s: float
    weights: dict[str, Any]  # the exported weights document (kvt.network.inference schema)


def split_indices(n_rows: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random train/validation split; ``val_fraction`` 0 puts every row in training."""
    n_val = int(round(n_rows * val_fraction))
    if val_fraction == 0:
        return np.arange(n_rows), np.arange(0)
    if n_val < 1 or n_val >= n_rows:
        raise KvtError(f"--val-fraction {val_fraction} leaves an empty training or validation set "
                       f"for {n_rows} rows")
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def seed_everything(seed: int, keep_kernel_caches: bool = False) -> None:
    """Seed Python, numpy, TensorFlow and Keras (``keras.utils.set_random_seed``) and make TensorFlow's ops
    deterministic. ``keep_kernel_caches``: without emptying TensorFlow's kernel caches (a later seed on an already
    compiled model, :mod:`kvt.patches.tensorflow_seed`)."""
    import keras
    import tensorflow as tf

    if keep_kernel_caches:
        from kvt.patches.tensorflow_seed import kernel_caches_kept

        with kernel_caches_kept():
            keras.utils.set_random_seed(seed)
    else:
        keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(model, optimizer, steps_per_execution: int, extra_metrics=()):
    """Compile with the MSE loss and kvt's metrics (MAE, log-cosh, then ``extra_metrics``)."""
    import keras

    model.compile(
        optimizer=optimizer,
        loss="mse",
        metrics=[keras.metrics.MeanAbsoluteError(name="mae"), keras.metrics.LogCoshError(name="log_cosh"),
                 *extra_metrics],
        steps_per_execution=steps_per_execution,
    )
    return model


@dataclass
class PreparedData:
    """A dataset transformed and split for training, with the epoch arithmetic of its config."""

    dataset: Dataset
    features: np.ndarray  # raw (level, T) per row
    k_true: np.ndarray
    transform: Any  # VTScaler (study) or LogSpaceTransform (accurate), fitted on every row
    x: np.ndarray
    y: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray
    full_batch: bool
    batch: int  # rows per optimizer step
    steps: int  # optimizer steps per Keras epoch (full batch: at most FULL_BATCH_CHUNK)
    keras_epochs: int  # Keras epochs of the run (full batch: chunks of ``steps`` steps, the last may be shorter)
    total_steps: int = 0  # optimizer steps of the whole run (full batch: exactly config.epochs)
    dropped_rows: int = 0  # rows of the incomplete last batch dropped each epoch (a 1-row remainder)

    @property
    def has_val(self) -> bool:
        return len(self.val_idx) > 0


def prepare_data(config: TrainConfig, dataset: Dataset | None = None) -> PreparedData:
    """Load (unless given), transform and split the data of a resolved ``config``."""
    from kvt.network.preprocessing import LogSpaceTransform

    dataset = dataset if dataset is not None else load_dataset(config.data, config.allow_implausible)
    frame = dataset.frame
    features = frame.loc[:, list(dataset.features)].to_numpy(dtype=float)  # VV: level_a, level_b, T_K
    k_true = frame["k_m3_s"].to_numpy(dtype=float)
    transform = (LogSpaceTransform.for_process(dataset.process) if config.mode == "accurate"
                 else VTScaler.for_process(dataset.process)).fit(features, k_true)
    x, y = transform.transform_features(features), transform.transform_target(k_true, features)
    train_idx, val_idx = split_indices(len(frame), config.val_fraction, config.seed)
    full_batch = config.batch_size == 0
    if full_batch:  # config.epochs full-batch steps, run in compiled chunks of up to FULL_BATCH_CHUNK
        batch = len(train_idx)
        steps = min(FULL_BATCH_CHUNK, config.epochs)
        keras_epochs = math.ceil(config.epochs / steps)
        total_steps = config.epochs
        dropped_rows = 0
    else:
        batch = config.batch_size
        # A 1-row last batch has zero batch variance, which batch normalisation cannot use: drop it
        # (each epoch reshuffles, so a different row sits out each time).
        dropped_rows = 1 if len(train_idx) % batch == 1 and len(train_idx) > batch else 0
        steps = (len(train_idx) - dropped_rows) // batch if dropped_rows else math.ceil(len(train_idx) / batch)
        keras_epochs = config.epochs
        total_steps = steps * keras_epochs
    return PreparedData(dataset=dataset, features=features, k_true=k_true, transform=transform, x=x, y=y,
                        train_idx=train_idx, val_idx=val_idx, full_batch=full_batch, batch=batch, steps=steps,
                        keras_epochs=keras_epochs, total_steps=total_steps, dropped_rows=dropped_rows)


def build_compiled_model(config: TrainConfig, prep: PreparedData, hparams: dict[str, Any],
                         distribution: Distribution | None = None, extra_metrics=()):
    """The network of ``config`` with its optimizer (and schedule), compiled in ``distribution``'s scope.

    ``distribution`` None trains on one device. Seed first (:func:`seed_everything`)
    for a repeatable initialisation.
    """
    from kvt import optimizers
    from kvt.network.model import build_model

    distribution = distribution or Distribution()
    entry = optimizers.entry(config.optimizer)
    with distribution.scope():
        built = dict(hparams)
        built["learning_rate"] = learning_rate_schedule(
            config.schedule, hparams.get("learning_rate", entry.resolved_defaults().get("learning_rate")),
            config.min_lr, prep.total_steps)
        optimizer = optimizers.get(config.optimizer, **built)
        model = build_model(n_inputs=prep.x.shape[1], units=config.units, dtype=config.precision)
        # Keras's multi-step loop cannot hold cross-replica collectives: one step per execution.
        compile_model(model, optimizer, steps_per_execution=1 if distribution.steps_in_sync else prep.steps,
                      extra_metrics=[m() for m in extra_metrics])
    distribution.prepare_model(model)
    return model


def fit_inputs(config: TrainConfig, prep: PreparedData,
               distribution: Distribution | None = None) -> dict[str, Any]:
    """The data arguments of ``model.fit``: training and validation datasets, steps per epoch.

    On one device, up to ``feed.ENDLESS_FEED_ROWS`` training rows, the mini-batches come as one
    endless dataset with ``steps_per_epoch`` (one iterator for the whole fit, see
    :func:`make_train_dataset`); otherwise (larger tables, a distributing strategy) the finite
    dataset of one epoch, iterated again every epoch: the same batches.
    """
    x, y = prep.x, prep.y
    repeat = (not prep.full_batch and len(prep.train_idx) <= feed.ENDLESS_FEED_ROWS
              and (distribution is None or distribution.strategy is None))
    train_data = (make_train_dataset(x[prep.train_idx], y[prep.train_idx], prep.batch, config.seed,
                                     dtype=config.precision, drop_remainder=prep.dropped_rows > 0, repeat=repeat)
                  if not prep.full_batch else make_full_batch_dataset(x[prep.train_idx], y[prep.train_idx],
                                                                      config.precision, prep.total_steps))
    val_data = (make_eval_dataset(x[prep.val_idx], y[prep.val_idx], config.precision)
                if prep.has_val and not _validates_in_graph(prep, distribution) else None)
    train_data, val_data = (distribution or Distribution()).distribute_data(train_data, val_data)
    return {"x": train_data, "validation_data": val_data,
            "steps_per_epoch": prep.steps if prep.full_batch or repeat else None}


def _validates_in_graph(prep: PreparedData, distribution: Distribution | None) -> bool:
    """Validation by :func:`kvt.training.callbacks.in_graph_validation` (one device, one validation batch)."""
    return (prep.has_val and len(prep.val_idx) <= feed.EVAL_BATCH_ROWS
            and (distribution is None or distribution.strategy is None))


def fit_callbacks(config: TrainConfig, prep: PreparedData, distribution: Distribution | None = None) -> list:
    """Validation (on one device; :func:`fit_inputs` then gives no ``validation_data``), NaN guard and, with a
    validation split (and ``config.early_stopping``), early stopping that restores the best weights."""
    import keras

    callbacks = [_stop_on_nan()]
    if _validates_in_graph(prep, distribution):
        callbacks.insert(0, _in_graph_validation(prep.x[prep.val_idx], prep.y[prep.val_idx], config.precision))
    if distribution is None or distribution.strategy is None:
        callbacks.append(_compiled_metric_bookkeeping())
    if prep.has_val and config.early_stopping:
        patience = math.ceil(config.patience / prep.steps) if prep.full_batch else config.patience
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                       restore_best_weights=True))
    return callbacks


def train(config: TrainConfig, verbose: bool = False, stream=None, dataset: Dataset | None = None,
          stop_requested=None) -> TrainResult:
    """Train the network as ``config`` says; raise ``KvtError`` on bad options or divergence.

    ``dataset``: ``config.data`` already loaded (:func:`kvt.data.datasets.load_dataset`), so that a
    caller that validated it does not read it again. ``stop_requested()`` true ends training at the
    next compiled step (or L-BFGS iteration) with the best weights so far, marked interrupted in the
    metrics (:class:`kvt.training.interrupt.GracefulInterrupt` is such a callable).
    """
    return SeedRuns(config, dataset).run(config.seed, verbose=verbose, stream=stream, stop_requested=stop_requested)


class SeedRuns:
    """One configuration trained for any number of seeds, its Keras functions traced once.

    ``run(seed)`` gives exactly what ``train(config with that seed)`` gives. The first run
    builds, compiles and traces the model; on one device, every later run builds the
    seed's fresh network and optimizer (cheap: no tracing), copies their initial values
    into the compiled ones and fits again with the already-traced train, test and predict
    functions (a benchmark's seeds then skip Keras's graph tracing, about 2 s a run on
    2 cores). ``callbacks(prep)``: extra Keras callbacks for every fit (e.g. a tracker).
    """

    def __init__(self, config: TrainConfig, dataset: Dataset | None = None, callbacks=None):
        self.config = config.resolved()
        self.hparams = self.config.optimizer_hyperparameters()  # validates name, keys, value types
        # Refuses an optimizer the strategy cannot distribute before any data are read; a multi-worker
        # strategy must exist before TensorFlow runs anything else.
        self.distribution = Distribution.create(self.config.strategy, self.config.optimizer)
        self.dataset = dataset if dataset is not None else load_dataset(self.config.data,
                                                                         self.config.allow_implausible)
        self.extra_callbacks = callbacks or (lambda prep: [])
        self._model = None

    def run(self, seed: int, verbose: bool = False, stream=None, stop_requested=None) -> TrainResult:
        from dataclasses import replace

        config = replace(self.config, seed=int(seed))
        seed_everything(config.seed, keep_kernel_caches=self._model is not None)
        prep = prepare_data(config, self.dataset)
        model = build_compiled_model(config, prep, self.hparams, self.distribution)
        if self._model is not None:
            model = _restart(self._model, model)
        elif self.distribution.name == "default":
            self._model = model
        progress = [_progress_callback(
            config.epochs, stream or sys.stderr, unit="step" if prep.full_batch else "epoch",
            per_keras_epoch=prep.steps if prep.full_batch else 1, show_val=prep.has_val)] if verbose else []
        started = time.perf_counter()
        if uses_epoch_loop(prep, self.distribution):
            loop = EpochLoop(model, prep, config.seed, config.precision,
                             patience=config.patience if config.early_stopping else None)
            fit = loop.fit(prep.keras_epochs, [*self.extra_callbacks(prep), *progress], stop_requested)
            timer = loop
        else:
            callbacks = fit_callbacks(config, prep, self.distribution)
            timer = _epoch_timer()
            callbacks.insert(2 if _validates_in_graph(prep, self.distribution) else 1, timer)
            callbacks += self.extra_callbacks(prep)
            stopper = stop_callback(stop_requested) if stop_requested is not None else None
            callbacks += [stopper] if stopper else []
            with self.distribution.fit_scope():
                fit = model.fit(
                    **fit_inputs(config, prep, self.distribution),
                    epochs=prep.keras_epochs,
                    callbacks=callbacks + progress,
                    shuffle=False,  # the tf.data pipeline shuffles every epoch itself
                    verbose=0,
                )
        distribution_record = self.distribution.finish(model)
        return _result(config, self.hparams, self.dataset, prep, model, fit, timer, started, distribution_record,
                       stop_requested)


def uses_epoch_loop(prep: PreparedData, distribution: Distribution | None) -> bool:
    """Mini-batch training on one device runs in :class:`kvt.training.loop.EpochLoop` (several epochs a compiled
    call); full-batch runs and distributing strategies run ``model.fit`` on the feed of :func:`fit_inputs`."""
    return not prep.full_batch and (distribution is None or distribution.strategy is None)


def _restart(compiled, fresh):
    """``compiled`` (traced) holding ``fresh``'s initial network and optimizer state: the run of a new seed."""
    fresh.optimizer.build(fresh.trainable_variables)
    if not compiled.optimizer.built:
        compiled.optimizer.build(compiled.trainable_variables)
    for target, source in ((compiled.variables, fresh.variables),
                           (compiled.optimizer.variables, fresh.optimizer.variables)):
        if len(target) != len(source):
            raise RuntimeError("a fresh model does not match the compiled one")  # kvt's own invariant
        for to, value in zip(target, source):
            to.assign(value)
    return compiled


def _result(config, hparams, dataset, prep, model, fit, timer, started, distribution_record,
            stop_requested=None) -> TrainResult:
    """The :class:`TrainResult` of a finished fit: history, exported weights, and the evaluation of the run
    (:func:`kvt.training.evaluation.evaluate_run`: predictions, error summaries, physics checks) in its metrics."""
    from kvt import optimizers

    entry = optimizers.entry(config.optimizer)
    x, y, transform = prep.x, prep.y, prep.transform
    train_idx, val_idx, has_val = prep.train_idx, prep.val_idx, prep.has_val
    full_batch, steps, keras_epochs = prep.full_batch, prep.steps, prep.keras_epochs
    history = pd.DataFrame(fit.history)
    # Full batch: one epoch is one optimizer step, and a Keras epoch is a chunk of ``steps`` of them.
    history.insert(0, "epoch", np.minimum(np.arange(1, len(history) + 1) * (steps if full_batch else 1),
                                          prep.total_steps if full_batch else len(history)))
    history["time_s"] = timer.times[: len(history)]
    loss_columns = ["loss", "val_loss"] if has_val else ["loss"]
    _check_finite(history, loss_columns, entry.name, hparams.get("learning_rate"))
    finish = None
    interrupted = {"epoch": int(history["epoch"].iloc[-1]), "phase": "training"} \
        if stop_requested is not None and stop_requested() else None
    if config.finish == "lbfgs" and config.finish_iterations > 0 and interrupted is None:
        finish = lbfgs_finish(model, x[train_idx], y[train_idx], config.finish_iterations, stop_requested)
        if stop_requested is not None and stop_requested():
            interrupted = {"epoch": int(history["epoch"].iloc[-1]), "phase": "lbfgs"}
        if not np.isfinite(finish["final_mse"]):
            raise KvtError("the L-BFGS finish diverged (loss is NaN or infinite); try --finish none")
    wall = time.perf_counter() - started

    weights = _weights_document(model, transform, dataset, config)
    evaluation = evaluate_run(weights, dataset, prep, config)
    monitor = "val_loss" if has_val else "loss"
    metrics = {
        **evaluation.errors,
        "epochs_run": int(history["epoch"].iloc[-1]),
        "best_epoch": int(history["epoch"].iloc[int(history[monitor].idxmin())]),
        "stopped_early": bool(len(history) < keras_epochs),
        "optimizer_steps": int(history["epoch"].iloc[-1] if full_batch else len(history) * steps),
        "finish": finish,
        "interrupted": interrupted,
        "wall_time_s": wall,
        "steps_per_second": (history["epoch"].iloc[-1] if full_batch else len(history) * steps) / wall,
    }
    if distribution_record is not None:
        metrics["distribution"] = distribution_record
    metrics.update(evaluation.physics)
    split = {
        "val_fraction": config.val_fraction,
        "seed": config.seed,
        "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)),
        "val_rows": val_idx.tolist(),
        "batching": batching_record(prep),
    }
    return TrainResult(config=config, dataset=dataset, model=model, scaler=transform, history=history,
                       predictions=evaluation.predictions, metrics=metrics, split=split, hyperparameters=hparams,
                       wall_time_s=wall, weights=weights)


def _weights_document(model, transform, dataset: Dataset, config: TrainConfig) -> dict[str, Any]:
    """The trained network's exported weights document (:func:`kvt.network.inference.export_weights`)."""
    from kvt.network.inference import export_weights, molecule_record

    table_pair = getattr(dataset.table, "pair", None)  # a VT table's '# pair:' line
    metadata_stub = {"dataset": {"pair": dataset.pair, "sha256": dataset.sha256,
                                 "molecule": molecule_record(dataset.process or table_pair),
                                 **dataset.ranges()},
                     "options": {"mode": config.mode}}
    return export_weights(model, transform, metadata_stub)


def batching_record(prep: PreparedData) -> dict[str, Any]:
    """How the training rows were fed: batch size, steps, what happened to a 1-row remainder."""
    return {"full_batch": prep.full_batch, "batch_rows": int(prep.batch), "steps_per_epoch": int(prep.steps),
            "total_steps": int(prep.total_steps),
            "shuffle_buffer_rows": 0 if prep.full_batch else int(min(len(prep.train_idx), feed.SHUFFLE_BUFFER_ROWS)),
            "shuffle": "none (full batch)" if prep.full_batch else (
                "every epoch, in a buffer of the whole training set" if len(prep.train_idx) <= feed.SHUFFLE_BUFFER_ROWS
                else f"rows permuted once (seeded), then every epoch in a buffer of {feed.SHUFFLE_BUFFER_ROWS} rows"),
            "remainder_rows_dropped_per_epoch": int(prep.dropped_rows),
            "remainder_rule": "a last batch of 1 row is dropped each epoch (reshuffled, so every row is used); "
                              "larger remainders are kept as a smaller last batch"}


def _check_finite(history: pd.DataFrame, columns, optimizer: str, learning_rate) -> None:
    losses = history[columns].to_numpy()
    if not np.all(np.isfinite(losses)):
        bad_epoch = int(history["epoch"][~np.isfinite(losses).all(axis=1)].iloc[0])
        raise KvtError(f"training diverged at epoch {bad_epoch} (loss is NaN or infinite) with optimizer "
                       f"'{optimizer}' and learning rate {learning_rate}; try a lower learning rate with --lr")
