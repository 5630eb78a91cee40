"""Are the default models fit for kinetics? Non-positive cells and relaxation-time error per pair and mode.

Trains the default run of each bundled pair in both modes (``kvt train --pair P`` and
``kvt train --pair P --mode accurate``, seed 0) and prints, as a markdown table, what
``kvt train`` records in metadata.json: the number of dense-grid cells (35 levels x 976
temperatures) where the network gives k <= 0, the dense-grid relative error, and the
heat-bath relaxation-time error against the FHO-FR rates at 500, 1000, 2000, 5000 and
10000 K (T_v0 = 300 K; "k<=0" where the network's rates cannot enter a master equation).

    python benchmarks/kinetics_validity.py [--seed 0]
"""

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kvt.data.datasets import PAIRS  # noqa: E402
from kvt.training.trainer import TrainConfig, train  # noqa: E402


def cell(row):
    return "k<=0" if row["tau_rel_err"] is None else f"{100 * row['tau_rel_err']:+.2f} %"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; seed {args.seed}")
    print()
    print("| pair | mode | k <= 0 cells (of 34,160) | median / max rel. error | tau error 500 K | 1000 K | 2000 K "
          "| 5000 K | 10000 K | E_v max dev. | training s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for pair in PAIRS:
        for mode in ("study", "accurate"):
            start = time.perf_counter()
            result = train(TrainConfig(data=pair, mode=mode, seed=args.seed))
            wall = time.perf_counter() - start
            m = result.metrics
            rows = m["relaxation"]["temperatures"]
            devs = [row["ev_max_dev"] for row in rows if row["ev_max_dev"] is not None]
            dense = m["dense_grid"]["overall"]
            deviation = f"{max(devs):.2g}" if devs else "n/a"
            print(f"| {pair} | {mode} | {m['nonphysical']['count']} | {dense['median']:.2g} / {dense['max']:.3g} | "
                  + " | ".join(cell(row) for row in rows)
                  + f" | {deviation} | {m['wall_time_s']:.1f} ({wall:.1f} with evaluation) |")


if __name__ == "__main__":
    main()
