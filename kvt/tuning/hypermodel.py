"""The hyper-model: kvt's network built and trained as ``kvt train`` does, with each trial's optimizer."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import asdict, replace
from typing import Any

from kvt.errors import KvtError
from kvt.optimizers.search_spaces import Choice, Fixed
from kvt.training.config import TrainConfig
from kvt.tuning.config import SETTINGS_HP, TuneConfig
from kvt.tuning.results import trial_hyperparameters


def _declare(hp, name: str, spec, default):
    if isinstance(spec, Fixed):
        return hp.Fixed(name, spec.value)
    if isinstance(spec, Choice):
        values = list(spec.values)
        return hp.Choice(name, values, default=default if default in values else values[0])
    integral = (isinstance(default, int) and not isinstance(default, bool)
                and float(spec.low).is_integer() and float(spec.high).is_integer())
    if integral:
        low, high = int(spec.low), int(spec.high)
        start = default if low <= default <= high else low
        return hp.Int(name, low, high, sampling="log" if spec.log else "linear", default=start)
    start = float(default) if isinstance(default, (int, float)) and not isinstance(default, bool) \
        and spec.low <= default <= spec.high else spec.low
    return hp.Float(name, spec.low, spec.high, sampling="log" if spec.log else "linear", default=start)


def _mse_metric():
    import keras

    return keras.metrics.MeanSquaredError(name="mse")


def _stop_when_set(event):
    """A Keras callback ending training once ``event`` is set (the trial was taken away)."""
    import keras

    class StopWhenSet(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if event.is_set():
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if event.is_set():
                self.model.stop_training = True

    return StopWhenSet()


def make_hypermodel(tune: TuneConfig, prep, space, digest: str, base: TrainConfig | None = None,
                    checkpoints: bool = True):
    """A ``keras_tuner.HyperModel`` building kvt's network with each trial's optimizer.

    Every trial trains with ``tune.train_config`` or, when given, with ``base`` (a resolved
    :class:`TrainConfig`), its optimizer and hyper-parameters replaced by the trial's.
    ``checkpoints`` False drops Keras Tuner's save of the weights at every improving epoch
    (only Hyperband reads them back, to continue a trial; keras-tuner 1.4.8's ``SaveBestEpoch``).
    """
    import keras_tuner
    import numpy as np

    from kvt.training import trainer
    from kvt.training.loop import EpochLoop

    class KvtHyperModel(keras_tuner.HyperModel):
        """kvt's network, compiled with the trial's optimizer and hyper-parameters."""

        def __init__(self):
            super().__init__(name="kvt", tunable=True)
            self.tune, self.prep, self.space, self.digest, self.base = tune, prep, space, digest, base
            self.stop = threading.Event()

        def declare_hyperparameters(self, hp):
            from kvt import optimizers

            names = list(self.space)
            hp.Fixed(SETTINGS_HP, self.digest)
            if len(names) == 1:
                hp.Fixed("optimizer", names[0])
            else:
                hp.Choice("optimizer", names)
            for name in names:
                defaults = optimizers.entry(name).resolved_defaults()
                scope = hp.conditional_scope("optimizer", [name]) if len(names) > 1 else contextlib.nullcontext()
                with scope:
                    for key, spec in self.space[name].items():
                        _declare(hp, f"{name}.{key}", spec, defaults.get(key))

        def trial_config(self, values) -> tuple[TrainConfig, dict[str, Any]]:
            got = values.get(SETTINGS_HP)
            if got != self.digest:
                raise keras_tuner.errors.FatalError(
                    f"this process's kvt tune options or data differ from the chief's (options digest "
                    f"{self.digest}, the chief's {got}); run every process with the same options and data")
            name, opt = trial_hyperparameters(values)
            base = asdict(self.tune.train_config(name) if self.base is None else replace(self.base, optimizer=name))
            # A searched learning rate replaces the mode's (accurate mode's 1e-2), never the other way.
            config = TrainConfig(**{**base, "opt": opt,
                                    "learning_rate": None if "learning_rate" in opt else base["learning_rate"]})
            try:
                hparams = config.optimizer_hyperparameters()
            except KvtError as exc:
                raise keras_tuner.errors.FailedTrialError(str(exc)) from None
            return config, hparams

        def build(self, hp):
            config, hparams = self.trial_config(hp.values)
            trainer.seed_everything(config.seed)
            try:
                return trainer.build_compiled_model(config, self.prep, hparams, None,
                                                     extra_metrics=[_mse_metric])
            except KvtError as exc:
                raise keras_tuner.errors.FailedTrialError(str(exc)) from None

        def fit(self, hp, model, *args, callbacks=None, epochs=None, initial_epoch=0, **kwargs):
            config, _ = self.trial_config(hp.values)
            callbacks = list(callbacks or [])
            if not checkpoints:
                from kvt.tuning.extension import without_checkpoints

                callbacks = without_checkpoints(callbacks)
            epochs = epochs or self.prep.keras_epochs
            if trainer.uses_epoch_loop(self.prep, None):  # as kvt train trains (the same weights, bit for bit)
                loop = EpochLoop(model, self.prep, config.seed, config.precision,
                                 patience=config.patience if config.early_stopping else None)
                history = loop.fit(epochs, [_stop_when_set(self.stop), *callbacks], initial_epoch=initial_epoch)
            else:
                callbacks = [*trainer.fit_callbacks(config, self.prep), _stop_when_set(self.stop), *callbacks]
                history = model.fit(**trainer.fit_inputs(config, self.prep), epochs=epochs,
                                    initial_epoch=initial_epoch, callbacks=callbacks, shuffle=False, verbose=0)
            losses = np.array([history.history.get(k, []) for k in ("loss", "val_loss") if k in history.history],
                              dtype=float)
            if losses.size == 0 or not np.all(np.isfinite(losses)):
                bad = int(np.argmax(~np.isfinite(losses).all(axis=0))) + 1 + initial_epoch if losses.size else 1
                raise keras_tuner.errors.FailedTrialError(
                    f"training diverged at epoch {bad} (loss is NaN or infinite)")
            return history

    return KvtHyperModel()

