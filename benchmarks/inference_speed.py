"""TF-free inference against Keras, the FHO-FR generator, and TensorFlow's start-up.

Measured side by side in one run on the dense grid (35 levels x 976 temperatures =
34,160 points), for a study-mode and an accurate-mode network trained here first:

* numpy inference from weights.json (kvt.network.inference)             -- what kvt predict uses
* Keras ``model.predict`` on the same scaled features, default batch (32) and one batch
* the vectorised FHO-FR generator (kvt.physics.fho) on the same points
* cold start: ``kvt predict`` as a fresh process vs ``python -c "import tensorflow"``

    python benchmarks/inference_speed.py
"""

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from kvt.physics import fho  # noqa: E402
from kvt.data.grid import parse_temperatures  # noqa: E402
from kvt.runs.folder import load_keras_model, load_transform, open_run, save_run  # noqa: E402
from kvt.training.trainer import TrainConfig, train  # noqa: E402


def best_time(fn, repeats=7):
    """The fastest of ``repeats`` calls of ``fn``, in seconds."""
    return min(timeit.repeat(fn, number=1, repeat=repeats))


def cold_start(command, repeats=3):
    """The median wall time of ``repeats`` runs of ``command`` as a new process, in seconds."""
    return statistics.median(timeit.repeat(lambda: subprocess.run(command, check=True, capture_output=True),
                                           number=1, repeat=repeats))


def main():
    levels, temps = np.meshgrid(np.arange(1, 36), parse_temperatures("250:10000:10"), indexing="ij")
    level, T = levels.ravel(), temps.ravel()
    features = np.column_stack([level, T]).astype(float)
    n = len(level)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({platform.platform()}), python {sys.version.split()[0]}")
    print(f"dense grid: {n} points (35 levels x {temps.shape[1]} temperatures)\n")
    with tempfile.TemporaryDirectory() as root:
        for mode, options in (("study", {"epochs": 30}), ("accurate", {"epochs": 200, "finish_iterations": 50})):
            path = save_run(train(TrainConfig(data="O2-Ar", mode=mode, **options)), Path(root) / mode)
            network = open_run(path).network
            model, transform = load_keras_model(path), load_transform(path)
            x = transform.transform_features(features).astype(model.inputs[0].dtype)
            t_numpy = best_time(lambda: network.predict_k(level, T))
            t_keras = best_time(lambda: model.predict(x, verbose=0), repeats=3)
            t_keras_one = best_time(lambda: model.predict(x, batch_size=n, verbose=0))
            t_fho = best_time(lambda: fho.rate_coefficient(level, T, "Ar"), repeats=3)
            print(f"{mode} network ({model.inputs[0].dtype}):")
            print(f"  numpy (kvt.network.inference)          {t_numpy * 1e3:8.2f} ms  {n / t_numpy / 1e6:7.2f} M points/s")
            print(f"  Keras predict, batch 32        {t_keras * 1e3:8.2f} ms  -> numpy is {t_keras / t_numpy:6.1f}x faster")
            print(f"  Keras predict, one batch       {t_keras_one * 1e3:8.2f} ms  -> numpy is {t_keras_one / t_numpy:6.1f}x faster")
            print(f"  FHO-FR generator (vectorised)  {t_fho * 1e3:8.2f} ms  -> numpy is {t_fho / t_numpy:6.1f}x faster")
        kvt = [sys.executable, "-m", "kvt.cli", "predict", "--run", str(Path(root) / "accurate"),
               "--level", "32", "--temps", "1000"]
        t_predict = cold_start(kvt)
        t_tf = cold_start([sys.executable, "-c", "import tensorflow"])
        print("\ncold start (median of 3 fresh processes):")
        print(f"  kvt predict --run RUN --level 32 --temps 1000   {t_predict:6.2f} s")
        print(f"  python -c 'import tensorflow'                   {t_tf:6.2f} s   -> kvt predict takes "
              f"{t_predict / t_tf:.2f}x of TensorFlow's import alone")


if __name__ == "__main__":
    main()
