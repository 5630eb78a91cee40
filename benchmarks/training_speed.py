"""Optimizer steps per second: kvt's training feed against a plain ``model.fit``.

Both train the same network (64 units) with Adam on the same scaled O2-Ar data
(420 training rows, batch 32, 14 steps an epoch) and the same per-epoch validation:

* plain: ``model.fit(X, y, batch_size=32, validation_data=(Xv, yv))``
* kvt:   cached, shuffled in-memory ``tf.data`` pipeline and one compiled execution per
         epoch (``steps_per_execution``), as ``kvt.training.trainer.train`` does.

The two alternate over several rounds (this machine is shared and noisy); medians
and their ratio are printed.

    python benchmarks/training_speed.py [--epochs 40] [--rounds 5]
"""

import argparse
import math
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from kvt.data.datasets import load_dataset  # noqa: E402
from kvt.network.model import build_model  # noqa: E402
from kvt.network.preprocessing import FEATURES, VTScaler  # noqa: E402
from kvt.training.trainer import compile_model, make_eval_dataset, make_train_dataset, split_indices  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    frame = load_dataset("O2-Ar").frame
    scaler = VTScaler().fit(frame[list(FEATURES)], frame["k_m3_s"])
    x = scaler.transform_features(frame[list(FEATURES)]).astype("float32")
    y = scaler.transform_target(frame["k_m3_s"]).astype("float32")
    tr, va = split_indices(len(frame), 0.2, 0)
    batch = 32
    steps = math.ceil(len(tr) / batch)

    def plain():
        model = build_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse",
                      metrics=[keras.metrics.MeanAbsoluteError(name="mae"),
                               keras.metrics.LogCoshError(name="log_cosh")])
        fit = lambda epochs: model.fit(x[tr], y[tr], batch_size=batch, epochs=epochs,  # noqa: E731
                                       validation_data=(x[va], y[va]), verbose=0)
        return fit

    def kvt_feed():
        model = compile_model(build_model(), keras.optimizers.Adam(1e-3), steps_per_execution=steps)
        train_ds, val_ds = make_train_dataset(x[tr], y[tr], batch, 0), make_eval_dataset(x[va], y[va])
        return lambda epochs: model.fit(train_ds, validation_data=val_ds, epochs=epochs, shuffle=False, verbose=0)

    rates = {"plain": [], "kvt": []}
    for _ in range(args.rounds):
        for name, make in (("plain", plain), ("kvt", kvt_feed)):
            keras.utils.set_random_seed(0)
            fit = make()
            fit(2)  # trace and warm up
            start = time.perf_counter()
            fit(args.epochs)
            rates[name].append(args.epochs * steps / (time.perf_counter() - start))

    plain_rate, kvt_rate = statistics.median(rates["plain"]), statistics.median(rates["kvt"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({platform.platform()}); "
          f"keras {keras.__version__}")
    print(f"{args.rounds} alternating rounds x {args.epochs} epochs x {steps} steps, batch {batch}, with validation")
    print(f"plain model.fit(X, y, batch_size=32): {plain_rate:8.0f} steps/s  "
          f"(rounds: {', '.join(f'{r:.0f}' for r in rates['plain'])})")
    print(f"kvt feed (tf.data + steps_per_execution): {kvt_rate:8.0f} steps/s  "
          f"(rounds: {', '.join(f'{r:.0f}' for r in rates['kvt'])})")
    print(f"speed-up: {kvt_rate / plain_rate:.1f}x")


if __name__ == "__main__":
    main()
