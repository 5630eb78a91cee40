"""Optimizer steps per second: kvt's training feed against a plain ``model.fit``.

Two measurements, each alternating kvt and plain over several rounds (this machine is
shared and noisy); medians and their ratio are printed.

Steady state: both train the same network (64 units) with Adam on the same scaled O2-Ar
data (420 training rows, batch 32, 14 steps an epoch) with validation every epoch:

* plain: ``model.fit(X, y, batch_size=32, validation_data=(Xv, yv))``
* kvt:   exactly what ``kvt.training.trainer.train`` runs for a mini-batch run on one device:
         ``prepare_data``, ``build_compiled_model`` and :class:`kvt.training.loop.EpochLoop`
         (several epochs a compiled call, validation and early stopping inside); the data and the
         model come from kvt itself, so the benchmark follows the trainer as it changes.
* kvt's ``model.fit`` feed: the same model fitted by ``model.fit`` on ``fit_inputs`` with
         ``fit_callbacks`` (what kvt trains with where the epoch loop does not apply: full batch,
         a distributing strategy; what ``kvt train`` ran before the epoch loop).

Both are traced and warmed up first (2 epochs); the rate is over the next ``--epochs``.

Whole command: ``kvt train --pair O2-O2 --optimizer adam --epochs N --quiet`` as a
subprocess (import, data, compile, training, run directory with its plots and checks)
against a plain-fit script doing the same training with ``model.fit`` and saving the model.

    python benchmarks/training_speed.py [--epochs 40] [--rounds 5] [--command-epochs 200] [--command-rounds 3]
"""

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PLAIN_SCRIPT = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
from kvt.data.datasets import load_dataset
from kvt.network.model import build_model
from kvt.network.preprocessing import FEATURES, VTScaler
from kvt.training.trainer import split_indices
frame = load_dataset("O2-O2").frame
scaler = VTScaler().fit(frame[list(FEATURES)], frame["k_m3_s"])
x = scaler.transform_features(frame[list(FEATURES)]).astype("float32")
y = scaler.transform_target(frame["k_m3_s"]).astype("float32")
tr, va = split_indices(len(frame), 0.2, 0)
keras.utils.set_random_seed(0)
model = build_model()
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse",
              metrics=[keras.metrics.MeanAbsoluteError(name="mae"), keras.metrics.LogCoshError(name="log_cosh")])
model.fit(x[tr], y[tr], batch_size=32, epochs=int(sys.argv[1]), validation_data=(x[va], y[va]), verbose=0,
          callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=100, restore_best_weights=True)])
model.save(os.path.join(sys.argv[2], "model.keras"))
"""


def steady_state(args):
    import keras

    from kvt.network.model import build_model
    from kvt.training import trainer
    from kvt.training.callbacks import epoch_timer
    from kvt.training.config import TrainConfig
    from kvt.training.loop import EpochLoop

    config = TrainConfig(data="O2-Ar", optimizer="adam", epochs=args.epochs, seed=0,
                         learning_rate=1e-3).resolved()
    hparams = config.optimizer_hyperparameters()
    prep = trainer.prepare_data(config)
    x, y, tr, va, batch, steps = prep.x.astype("float32"), prep.y.astype("float32"), prep.train_idx, \
        prep.val_idx, prep.batch, prep.steps

    def plain():
        model = build_model(n_inputs=x.shape[1], units=config.units)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse",
                      metrics=[keras.metrics.MeanAbsoluteError(name="mae"),
                               keras.metrics.LogCoshError(name="log_cosh")])
        return lambda epochs: model.fit(x[tr], y[tr], batch_size=batch, epochs=epochs,
                                        validation_data=(x[va], y[va]), verbose=0)

    def kvt_fit_feed():
        model = trainer.build_compiled_model(config, prep, hparams)
        inputs = trainer.fit_inputs(config, prep)
        callbacks = trainer.fit_callbacks(config, prep) + [epoch_timer()]
        return lambda epochs: model.fit(**inputs, epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0)

    def kvt_loop():
        model = trainer.build_compiled_model(config, prep, hparams)
        loop = EpochLoop(model, prep, config.seed, config.precision, patience=config.patience)
        return lambda epochs: loop.fit(epochs)

    rates = {"plain": [], "fit feed": [], "kvt": []}
    for _ in range(args.rounds):
        for name, make in (("plain", plain), ("fit feed", kvt_fit_feed), ("kvt", kvt_loop)):
            fit = None
            gc.collect()  # the previous fit's model and tf.data iterators (their prefetch threads) gone first
            trainer.seed_everything(0)
            fit = make()
            fit(2)  # trace and warm up
            start = time.perf_counter()
            fit(args.epochs)
            rates[name].append(args.epochs * steps / (time.perf_counter() - start))
    return rates, steps, batch


def whole_command(args):
    times = {"plain": [], "kvt": []}
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.command_rounds):
            for name in ("plain", "kvt"):
                out = os.path.join(scratch, f"{name}-{round_}")
                os.makedirs(out)
                command = ([sys.executable, "-c", PLAIN_SCRIPT, str(args.command_epochs), out] if name == "plain"
                           else [sys.executable, "-c", "from kvt.cli import main; main()", "train", "--pair", "O2-O2",
                                 "--optimizer", "adam", "--epochs", str(args.command_epochs), "--quiet", "--force",
                                 "--out", out])
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode:
                    raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
                times[name].append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--command-epochs", type=int, default=200)
    parser.add_argument("--command-rounds", type=int, default=3)
    parser.add_argument("--skip-command", action="store_true", help="steady state only")
    args = parser.parse_args()

    import keras

    rates, steps, batch = steady_state(args)
    plain_rate, kvt_rate = statistics.median(rates["plain"]), statistics.median(rates["kvt"])
    fit_feed_rate = statistics.median(rates["fit feed"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({platform.platform()}); "
          f"keras {keras.__version__}; load average {os.getloadavg()[0]:.1f}")
    print(f"steady state: {args.rounds} alternating rounds x {args.epochs} epochs x {steps} steps, batch {batch}, "
          f"with validation every epoch")
    print(f"  plain model.fit(X, y, batch_size=32): {plain_rate:8.0f} steps/s  "
          f"(rounds: {', '.join(f'{r:.0f}' for r in rates['plain'])})")
    print(f"  kvt's model.fit feed:                 {fit_feed_rate:8.0f} steps/s  "
          f"(rounds: {', '.join(f'{r:.0f}' for r in rates['fit feed'])})")
    print(f"  kvt epoch loop (kvt train):           {kvt_rate:8.0f} steps/s  "
          f"(rounds: {', '.join(f'{r:.0f}' for r in rates['kvt'])})")
    print(f"  speed-up: {kvt_rate / plain_rate:.1f}x plain, {kvt_rate / fit_feed_rate:.1f}x kvt's model.fit feed")
    if args.skip_command:
        return
    times = whole_command(args)
    plain_s, kvt_s = statistics.median(times["plain"]), statistics.median(times["kvt"])
    print(f"whole command, O2-O2, Adam, {args.command_epochs} epochs, {args.command_rounds} alternating rounds "
          f"(load average now {os.getloadavg()[0]:.1f}):")
    print(f"  plain-fit script:  {plain_s:6.1f} s  (rounds: {', '.join(f'{t:.1f}' for t in times['plain'])})")
    print(f"  kvt train:         {kvt_s:6.1f} s  (rounds: {', '.join(f'{t:.1f}' for t in times['kvt'])})")
    print(f"  speed-up: {plain_s / kvt_s:.1f}x")


if __name__ == "__main__":
    main()
