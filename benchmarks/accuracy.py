"""Study pipeline vs accurate mode, per pair, against FHO-FR on the dense grid.

Trains each bundled pair with ``--mode study`` (AdaMod, the study's defaults) and
``--mode accurate`` (defaults), a few seeds each, and evaluates every run on 35 levels
x every 10 K from 250 to 10000 K (34,160 points). Also trains accurate mode on a
denser generated grid (kvt data generate, 34 temperatures) to show what the bundled
grid's 250-500 K gap costs. Goal of accurate mode: max relative error <= 1 %,
median <= 0.1 %, training <= 10 s.

    python benchmarks/accuracy.py [--seeds 0,1,2]
"""

import argparse
import os
import platform
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kvt.data import PAIRS, generate, to_csv_text  # noqa: E402
from kvt.evaluate import evaluate_network  # noqa: E402
from kvt.grid import parse_temperatures  # noqa: E402
from kvt.inference import Network  # noqa: E402
from kvt.training import TrainConfig, train  # noqa: E402

DENSER_TEMPS = "250:1000:50,1500:10000:500"


def run(config, pair):
    result = train(config)
    overall = evaluate_network(Network(result.weights), pair)["overall"]
    return overall, result.metrics["wall_time_s"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({platform.platform()})")
    print(f"seeds {seeds}; relative error vs FHO-FR on 35 levels x 976 temperatures\n")
    print(f"{'pair':6} {'mode':22} {'seed':>4} {'median':>9} {'p95':>9} {'max':>9} {'train s':>8}")
    with tempfile.TemporaryDirectory() as root:
        for pair in PAIRS:
            denser = os.path.join(root, f"{pair}.csv")
            with open(denser, "w") as handle:
                handle.write(to_csv_text(generate(pair, range(1, 36), parse_temperatures(DENSER_TEMPS))))
            for label, make in (("study (adamod)", lambda s: TrainConfig(data=pair, mode="study", seed=s)),
                                ("accurate", lambda s: TrainConfig(data=pair, mode="accurate", seed=s)),
                                ("accurate, denser data", lambda s: TrainConfig(data=denser, mode="accurate",
                                                                                seed=s))):
                for seed in seeds:
                    overall, wall = run(make(seed), pair)
                    print(f"{pair:6} {label:22} {seed:>4} {overall['median']:9.2e} {overall['p95']:9.2e} "
                          f"{overall['max']:9.2e} {wall:8.2f}", flush=True)


if __name__ == "__main__":
    main()
