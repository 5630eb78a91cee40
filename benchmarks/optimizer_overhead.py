"""Time per training step of every registered optimizer on the study network.

Each optimizer trains its own copy of the study network (64 units; AdaHessian, SAM
and K-FAC through their own ``train_step``) with its registry defaults on the scaled O2-Ar data (420 training
rows, batch 32, 14 steps an epoch), fed exactly as ``kvt.training.trainer.train`` feeds it
(``make_train_dataset``, ``compile_model`` with one compiled execution per epoch);
no validation pass. Every model is traced and warmed up first, then the optimizers
are timed in interleaved rounds (the order rotates and reverses from round to round,
since this machine is shared and noisy): each round runs ``--epochs`` epochs of
every optimizer. The table gives the median ms/step over rounds and the fastest
round, each also as a ratio to Adam's.

    python benchmarks/optimizer_overhead.py [--epochs 20] [--rounds 7] [--units 64]
"""

import argparse
import math
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kvt import optimizers  # noqa: E402
from kvt.data.datasets import load_dataset  # noqa: E402
from kvt.network.model import build_model  # noqa: E402
from kvt.network.preprocessing import FEATURES, VTScaler  # noqa: E402
from kvt.training.trainer import compile_model, make_train_dataset, split_indices  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20, help="epochs per optimizer per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--only", nargs="*", help="registry names to time (default: all)")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({platform.platform()}); "
          f"python {platform.python_version()}, tensorflow {tf.__version__}, keras {keras.__version__}")
    gpus = tf.config.list_physical_devices("GPU")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"devices: {'GPU x%d' % len(gpus) if gpus else 'CPU only'}; load average at start: {load}")

    frame = load_dataset("O2-Ar").frame
    scaler = VTScaler().fit(frame[list(FEATURES)].to_numpy(dtype=float), frame["k_m3_s"].to_numpy(dtype=float))
    x = scaler.transform_features(frame[list(FEATURES)].to_numpy(dtype=float))
    y = scaler.transform_target(frame["k_m3_s"].to_numpy(dtype=float))
    train_idx, _ = split_indices(len(frame), 0.2, 0)
    batch = 32
    steps = math.ceil(len(train_idx) / batch)
    dataset = make_train_dataset(x[train_idx], y[train_idx], batch, 0, repeat=True)  # one iterator a fit, as train

    names = args.only or optimizers.names()
    models = {}
    started = time.perf_counter()
    for name in names:
        keras.utils.set_random_seed(0)
        model = build_model(n_inputs=x.shape[1], units=args.units)
        compile_model(model, optimizers.get(name), steps_per_execution=steps)
        model.fit(dataset, epochs=2, steps_per_epoch=steps, shuffle=False, verbose=0)  # trace and warm up
        models[name] = model
    print(f"traced {len(names)} optimizers in {time.perf_counter() - started:.0f} s; "
          f"{args.rounds} interleaved rounds x {args.epochs} epochs x {steps} steps, batch {batch}, "
          f"{args.units} units, steps_per_execution {steps}")

    times = {name: [] for name in names}
    last_loss = {}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        if r % 2:
            order = order[::-1]
        for name in order:
            start = time.perf_counter()
            history = models[name].fit(dataset, epochs=args.epochs, steps_per_epoch=steps, shuffle=False,
                                        verbose=0).history
            times[name].append((time.perf_counter() - start) / (args.epochs * steps) * 1e3)
            last_loss[name] = history["loss"][-1]

    adam = (statistics.median(times["adam"]), min(times["adam"])) if "adam" in times else None
    width = max(len(n) for n in names)
    print("\nms/step: median over rounds, and the fastest round (less sensitive to other load)")
    print(f"{'optimizer':<{width}}  {'median':>7}  {'fastest':>7}  {'vs adam':>7}  {'fastest':>7}  model")
    for name in names:
        median, fastest = statistics.median(times[name]), min(times[name])
        entry = optimizers.entry(name)
        model_name = entry.train_step or "Keras train_step"
        ratios = (f"{median / adam[0]:6.2f}x  {fastest / adam[1]:6.2f}x" if adam
                  else f"{'-':>7}  {'-':>7}")
        flag = "" if np.isfinite(last_loss[name]) else "  (loss not finite at these defaults)"
        print(f"{name:<{width}}  {median:7.3f}  {fastest:7.3f}  {ratios}  {model_name}{flag}")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average at end: {load}")


if __name__ == "__main__":
    main()
