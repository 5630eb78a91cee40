"""Training the study's network on a VT dataset.

:func:`train` takes a :class:`TrainConfig` and returns a :class:`TrainResult` with
the fitted model, the scaler, the history and the metrics; :mod:`kvt.rundir` turns a
result into a run directory.

The data are fed from memory as a cached, shuffled ``tf.data`` pipeline and each
``model.fit`` call runs a whole epoch per compiled execution
(``steps_per_execution``), so Keras pays its per-step Python overhead once per
epoch rather than once per batch (``benchmarks/training_speed.py`` measures this).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from kvt.data import Dataset, load_dataset
from kvt.errors import KvtError
from kvt.preprocessing import FEATURES, VTScaler


SCHEDULES = ("constant", "cosine")


def learning_rate_schedule(name: str, learning_rate: float, min_lr: float, total_steps: int):
    """The learning rate an optimizer is built with: a float, or a Keras schedule.

    ``cosine``: lr_j = min_lr + (lr - min_lr) (1 + cos(pi j / J)) / 2 over the J optimizer
    steps of the whole run (Keras's ``CosineDecay`` with alpha = min_lr / lr).
    """
    if name == "constant":
        return learning_rate
    if name == "cosine":
        import keras

        if min_lr > learning_rate:
            raise KvtError(f"--min-lr {min_lr} is above the learning rate {learning_rate}")
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate, decay_steps=total_steps, alpha=min_lr / learning_rate)
    raise KvtError(f"unknown schedule '{name}'; valid schedules: {', '.join(SCHEDULES)}")


@dataclass
class TrainConfig:
    """Every option of a training run (recorded verbatim in the run metadata)."""

    data: str = "O2-Ar"  # bundled pair name or CSV path
    optimizer: str = "adamod"
    learning_rate: float | None = None  # None: the optimizer's registry default
    opt: dict[str, Any] = field(default_factory=dict)
    epochs: int = 1000
    batch_size: int = 32
    val_fraction: float = 0.2
    patience: int = 100
    units: int = 64
    seed: int = 0
    schedule: str = "constant"  # or "cosine": anneal lr -> min_lr over the run
    min_lr: float = 0.0

    def validate(self) -> "TrainConfig":
        def positive_int(name, value):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise KvtError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")

        for name in ("epochs", "batch_size", "patience", "units"):
            positive_int(name, getattr(self, name))
        if self.learning_rate is not None and not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise KvtError(f"--lr must be a number > 0, got {self.learning_rate!r}")
        if self.schedule not in SCHEDULES:
            raise KvtError(f"unknown schedule '{self.schedule}'; valid schedules: {', '.join(SCHEDULES)}")
        if not (np.isfinite(self.min_lr) and self.min_lr >= 0):
            raise KvtError(f"--min-lr must be a number >= 0, got {self.min_lr!r}")
        if not (0.0 < self.val_fraction < 1.0):
            raise KvtError(f"--val-fraction must be strictly between 0 and 1, got {self.val_fraction!r}")
        return self

    def optimizer_hyperparameters(self) -> dict[str, Any]:
        from kvt import optimizers

        overrides = dict(self.opt)
        if self.learning_rate is not None:
            overrides["learning_rate"] = self.learning_rate
        return optimizers.hyperparameters(self.optimizer, overrides)


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


def split_indices(n_rows: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random train/validation split; both parts non-empty."""
    n_val = int(round(n_rows * val_fraction))
    if n_val < 1 or n_val >= n_rows:
        raise KvtError(f"--val-fraction {val_fraction} leaves an empty training or validation set "
                       f"for {n_rows} rows")
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def relative_error(k_pred, k_true) -> np.ndarray:
    return np.abs(np.asarray(k_pred) - np.asarray(k_true)) / np.asarray(k_true)


def error_summary(k_pred, k_true) -> dict[str, float]:
    rel = relative_error(k_pred, k_true)
    return {
        "mae_m3_s": float(np.mean(np.abs(np.asarray(k_pred) - np.asarray(k_true)))),
        "rel_err_median": float(np.median(rel)),
        "rel_err_p95": float(np.percentile(rel, 95)),
        "rel_err_max": float(np.max(rel)),
    }


def make_train_dataset(x, y, batch_size: int, seed: int):
    import tensorflow as tf

    return (tf.data.Dataset.from_tensor_slices((x.astype("float32"), y.astype("float32")))
            .cache()
            .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size)
            .prefetch(tf.data.AUTOTUNE))


def make_eval_dataset(x, y):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x.astype("float32"), y.astype("float32"))).batch(len(x)).cache()


def seed_everything(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(model, optimizer, steps_per_execution: int):
    import keras

    model.compile(
        optimizer=optimizer,
        loss="mse",
        metrics=[keras.metrics.MeanAbsoluteError(name="mae"), keras.metrics.LogCoshError(name="log_cosh")],
        steps_per_execution=steps_per_execution,
    )
    return model


def _progress_callback(total_epochs: int, stream):
    import keras

    class EpochProgress(keras.callbacks.Callback):
        """One-line progress bar over epochs with the current losses."""

        width = 30

        interactive = bool(getattr(stream, "isatty", lambda: False)())
        every = max(1, total_epochs // 20)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            done = epoch + 1
            if not self.interactive and done % self.every and done != total_epochs:
                return
            filled = int(self.width * done / total_epochs)
            bar = "=" * filled + ">" * (filled < self.width) + " " * (self.width - filled - 1)
            prefix, suffix = ("\r", "") if self.interactive else ("", "\n")
            stream.write(f"{prefix}epoch {done:>{len(str(total_epochs))}}/{total_epochs} [{bar[:self.width]}] "
                         f"loss {logs.get('loss', float('nan')):.3e}  val_loss {logs.get('val_loss', float('nan')):.3e}{suffix}")
            stream.flush()

        def on_train_end(self, logs=None):
            if self.interactive:
                stream.write("\n")
            stream.flush()

    return EpochProgress()


def _epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()
            self.times = []

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    return EpochTimer()


def train(config: TrainConfig, verbose: bool = False, stream=None,
          log: Callable[[str], None] | None = None) -> TrainResult:
    """Train the study's network as ``config`` says; raise ``KvtError`` on bad options or divergence."""
    config.validate()
    from kvt import optimizers

    hparams = config.optimizer_hyperparameters()  # validates name, keys, value types
    dataset = load_dataset(config.data)
    frame = dataset.frame

    import keras

    from kvt.model import build_model, predict_scaled

    seed_everything(config.seed)
    entry = optimizers.entry(config.optimizer)

    features = frame.loc[:, list(FEATURES)].to_numpy(dtype=float)
    k_true = frame["k_m3_s"].to_numpy(dtype=float)
    scaler = VTScaler().fit(features, k_true)
    x, y = scaler.transform_features(features), scaler.transform_target(k_true)
    train_idx, val_idx = split_indices(len(frame), config.val_fraction, config.seed)
    steps = math.ceil(len(train_idx) / config.batch_size)
    built_hparams = dict(hparams)
    built_hparams["learning_rate"] = learning_rate_schedule(
        config.schedule, hparams.get("learning_rate", entry.resolved_defaults().get("learning_rate")),
        config.min_lr, config.epochs * steps)
    optimizer = optimizers.get(config.optimizer, **built_hparams)

    model = build_model(n_inputs=x.shape[1], units=config.units,
                        model_class=entry.model_class() if entry.model_class else None)
    compile_model(model, optimizer, steps_per_execution=steps)
    timer = _epoch_timer()
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True),
        timer,
    ]
    if verbose:
        callbacks.append(_progress_callback(config.epochs, stream or sys.stderr))

    started = time.perf_counter()
    fit = model.fit(
        make_train_dataset(x[train_idx], y[train_idx], config.batch_size, config.seed),
        validation_data=make_eval_dataset(x[val_idx], y[val_idx]),
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline shuffles every epoch itself
        verbose=0,
    )
    wall = time.perf_counter() - started

    history = pd.DataFrame(fit.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    history["time_s"] = timer.times[: len(history)]
    losses = history[["loss", "val_loss"]].to_numpy()
    if not np.all(np.isfinite(losses)):
        bad_epoch = int(history["epoch"][~np.isfinite(losses).all(axis=1)].iloc[0])
        lr = hparams.get("learning_rate")
        raise KvtError(f"training diverged at epoch {bad_epoch} (loss is NaN or infinite) with optimizer "
                       f"'{entry.name}' and learning rate {lr}; try a lower learning rate with --lr")

    y_pred = predict_scaled(model, x)
    k_pred = scaler.inverse_target(y_pred)
    split_labels = np.full(len(frame), "train", dtype=object)
    split_labels[val_idx] = "val"
    predictions = pd.DataFrame({
        "level": frame["level"].to_numpy(),
        "T_K": frame["T_K"].to_numpy(),
        "k_true_m3_s": k_true,
        "k_pred_m3_s": k_pred,
        "rel_error": relative_error(k_pred, k_true),
        "split": split_labels,
    })
    best_epoch = int(history["val_loss"].idxmin()) + 1
    metrics = {
        "val_mse_scaled": float(np.mean((y_pred[val_idx, 0] - y[val_idx, 0]) ** 2)),
        "train_mse_scaled": float(np.mean((y_pred[train_idx, 0] - y[train_idx, 0]) ** 2)),
        "val": error_summary(k_pred[val_idx], k_true[val_idx]),
        "all": error_summary(k_pred, k_true),
        "epochs_run": int(len(history)),
        "best_epoch": best_epoch,
        "stopped_early": bool(len(history) < config.epochs),
        "optimizer_steps": int(len(history) * steps),
        "wall_time_s": wall,
        "steps_per_second": len(history) * steps / wall,
    }
    split = {
        "val_fraction": config.val_fraction,
        "seed": config.seed,
        "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)),
        "val_rows": val_idx.tolist(),
    }
    return TrainResult(config=config, dataset=dataset, model=model, scaler=scaler, history=history,
                       predictions=predictions, metrics=metrics, split=split, hyperparameters=hparams,
                       wall_time_s=wall)


def config_dict(config: TrainConfig) -> dict[str, Any]:
    return asdict(config)
