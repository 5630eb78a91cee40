"""Time per epoch with one vs two local training workers (MultiWorkerMirroredStrategy).

A dense generated dataset (``kvt data generate --pair O2-Ar --levels 1-35 --temps
250:10000:10``: 35 levels x 976 temperatures = 34 160 rows) is trained by ``kvt train``
three ways, each in fresh processes on 127.0.0.1:

* ``default``         one process, kvt's usual pipeline (one compiled execution per epoch)
* ``1 worker``        ``--strategy multi-worker`` with a one-worker TF_CONFIG: the
                      collective strategy's code path without a peer (still one compiled
                      execution per epoch: one replica)
* ``2 workers``       ``--strategy multi-worker`` with two workers on 127.0.0.1 ports;
                      each step's global batch is split between them, the gradients and
                      the batch-norm statistics all-reduced (ring), one step per execution;
                      the optimisation is the one-worker one

Time per epoch is the median of the per-epoch wall times in the chief's history.csv,
the first epoch (tracing, cluster start) left out. The ratio two workers / one worker
is printed, with the machine: on a machine with fewer cores than workers x TensorFlow's
threads the two workers compete for the same cores and the ratio says so.

    python benchmarks/distributed_training.py [--epochs 5] [--batch-size 256] [--units 64]
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402

from kvt.data.datasets import generate, to_csv_text  # noqa: E402
from kvt.data.grid import parse_levels, parse_temperatures  # noqa: E402

TIMEOUT_S = 1800  # per process


def free_ports(n):
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_workers(csv, workdir: Path, label: str, workers: int | None, args) -> dict:
    """``kvt train`` with ``workers`` processes (None: default strategy, one process)."""
    out = workdir / label.replace(" ", "-")
    command = [sys.executable, "-m", "kvt.cli", "train", "--data", str(csv), "--optimizer", "adam",
               "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--units", str(args.units),
               "--patience", str(args.epochs + 1), "--quiet", "--out", str(out)]
    envs = [{}]
    if workers is not None:
        command += ["--strategy", "multi-worker"]
        cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
        envs = [{"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
                for i in range(workers)]
    started = time.perf_counter()
    processes = [subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL) for env in envs]
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=TIMEOUT_S))
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            raise SystemExit(f"{label}: a worker ran past {TIMEOUT_S} s; killed")
    wall = time.perf_counter() - started
    for process, (stdout, stderr) in zip(processes, outputs):
        if process.returncode != 0:
            raise SystemExit(f"{label}: exit {process.returncode}\n{stdout}\n{stderr[-2000:]}")
    history = pd.read_csv(out / "history.csv")
    metadata = json.loads((out / "metadata.json").read_text())
    epoch_times = history["time_s"].diff().dropna()
    steps = metadata["metrics"]["optimizer_steps"] / len(history)
    return {"label": label, "epoch_s": statistics.median(epoch_times), "first_epoch_s": history["time_s"].iloc[0],
            "steps_per_epoch": steps, "wall_s": wall, "final_loss": history["loss"].iloc[-1],
            "val_mse": metadata["metrics"]["val_mse_scaled"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--units", type=int, default=64)
    args = parser.parse_args()
    if args.epochs < 3:
        raise SystemExit("--epochs must be at least 3 (the first epoch is left out of the median)")

    from importlib.metadata import version

    levels, temps = parse_levels("1-35"), parse_temperatures("250:10000:10")
    with tempfile.TemporaryDirectory(prefix="kvt-dist-bench-") as tmp:
        workdir = Path(tmp)
        csv = workdir / "O2-Ar-dense.csv"
        csv.write_text(to_csv_text(generate("O2-Ar", levels, temps)))
        rows = len(levels) * len(temps)
        results = [run_workers(csv, workdir, "default", None, args),
                   run_workers(csv, workdir, "1 worker", 1, args),
                   run_workers(csv, workdir, "2 workers", 2, args)]

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({platform.platform()}); "
          f"python {platform.python_version()}, tensorflow {version('tensorflow')}, keras {version('keras')}")
    print(f"data: O2-Ar, levels 1-35 x {len(temps)} temperatures (250:10000:10 K) = {rows} rows, 80 % training; "
          f"adam, batch {args.batch_size} (global), {args.units} units, {args.epochs} epochs")
    print(f"{'run':<10} {'s/epoch':>9} {'first epoch, s':>15} {'steps/epoch':>12} {'steps/s':>8} "
          f"{'process wall, s':>16} {'final loss':>11} {'val MSE':>9}")
    for r in results:
        print(f"{r['label']:<10} {r['epoch_s']:>9.3f} {r['first_epoch_s']:>15.2f} {r['steps_per_epoch']:>12.0f} "
              f"{r['steps_per_epoch'] / r['epoch_s']:>8.0f} {r['wall_s']:>16.1f} {r['final_loss']:>11.4g} "
              f"{r['val_mse']:>9.4g}")
    default, one, two = (r["epoch_s"] for r in results)
    print(f"time per epoch, 2 workers / 1 worker (multi-worker path): {two / one:.2f}x "
          f"(speed-up {one / two:.2f}x)")
    print(f"time per epoch, 2 workers / default single process:       {two / default:.2f}x "
          f"(speed-up {default / two:.2f}x)")


if __name__ == "__main__":
    main()
