"""Where the time of a `kvt bench vt` run goes, and what re-using a cell's compiled model saves.

Run:  python benchmarks/bench_vt_speed.py [--seeds 6] [--epochs 30] [--pair O2-Ar] [--optimizer adam]

Prints, measured side by side in one run on this machine:

1. What a user waits for once per command: importing TensorFlow (a fresh interpreter,
   ``python -c "import tensorflow"``), and the first run of a cell (building the data,
   tracing and compiling Keras's functions, fitting, evaluating).
2. The steady state per run, alternating the two ways a benchmark can train seed after seed:
   *fresh* — ``keras.backend.clear_session()`` and ``kvt.training.trainer.train`` per seed
   (what ``kvt bench vt`` did before cells), and *reused* — one ``SeedRuns`` per cell
   (Keras's train, test and predict functions traced once). Each is split into fitting
   (``wall_time_s``) and the rest (tracing, the dense-grid, non-positive and relaxation
   metrics, the row). The ratio fresh/reused is the per-run saving.
3. Optionally (``--command``), the whole command ``kvt bench vt --protocol study`` on 2
   optimizers x 1 pair with ``--workers 1`` and ``--workers 2``, alternated, wall seconds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def import_seconds(repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--pair", default="O2-Ar")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--command", action="store_true", help="also time the whole command, workers 1 vs 2")
    args = parser.parse_args()

    print(f"TensorFlow import (fresh interpreter, median of 3): {import_seconds():.2f} s")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from kvt.training.quiet import quiet_tensorflow_import

    quiet_tensorflow_import()
    import keras

    from kvt.bench.runs import VTCell, pair_dataset, train_vt, vt_row
    from kvt.bench.settings import VTSettings

    settings = VTSettings(protocol="study", epochs=args.epochs, pairs=[args.pair],
                          optimizers=[args.optimizer]).resolved()
    started = time.perf_counter()
    pair_dataset(args.pair)
    data_s = time.perf_counter() - started
    started = time.perf_counter()
    cell = VTCell(settings, args.pair, args.optimizer)
    first_row, _ = cell.run(0)
    first_s = time.perf_counter() - started
    print(f"reading and validating the pair's data (once per process): {data_s:.2f} s")
    print(f"first run of a cell ({args.epochs} epochs): {first_s:.2f} s, of which fitting "
          f"{first_row['wall_time_s']:.2f} s (tracing included)")

    fresh, reused = [], []
    for seed in range(1, args.seeds + 1):  # alternate, so that drifts in the machine's speed hit both
        started = time.perf_counter()
        result = train_vt(settings, args.pair, args.optimizer, seed)
        vt_row(settings, args.pair, args.optimizer, seed, result, result.history)
        fresh.append((time.perf_counter() - started, result.metrics["wall_time_s"]))
        started = time.perf_counter()
        row, _ = cell.run(seed)
        reused.append((time.perf_counter() - started, row["wall_time_s"]))
    keras.backend.clear_session()

    def show(label, runs):
        total = statistics.median(t for t, _ in runs)
        fit = statistics.median(f for _, f in runs)
        print(f"{label:>7}: {total:.2f} s a run (median of {len(runs)}): fit {fit:.2f} s, the rest {total - fit:.2f} s")
        return total

    print(f"steady state, {args.optimizer} on {args.pair}, {args.epochs} epochs, seeds 1..{args.seeds}:")
    a, b = show("fresh", fresh), show("reused", reused)
    print(f"fresh / reused per run: {a / b:.2f}x")

    if args.command:
        timings = {1: [], 2: []}
        for _ in range(2):
            for workers in (1, 2):
                with tempfile.TemporaryDirectory() as folder:
                    started = time.perf_counter()
                    subprocess.run(["kvt", "bench", "vt", "--protocol", "study", "--optimizers", "adam,lion",
                                    "--pairs", args.pair, "--repeats", str(args.seeds), "--workers", str(workers),
                                    "--out", str(Path(folder) / "out")], check=True, capture_output=True)
                    timings[workers].append(time.perf_counter() - started)
        one, two = statistics.median(timings[1]), statistics.median(timings[2])
        runs = 2 * args.seeds
        print(f"whole command, study protocol, 2 optimizers x {args.seeds} seeds ({runs} runs), median of 2: "
              f"--workers 1 {one:.1f} s ({one / runs:.2f} s a run), --workers 2 {two:.1f} s "
              f"({two / runs:.2f} s a run); ratio {one / two:.2f}x")


if __name__ == "__main__":
    main()
