"""Study pipeline vs accurate mode, per pair, against FHO-FR on the dense grid.

Trains each bundled pair with ``--mode study`` (AdaMod, the study's defaults) and
``--mode accurate`` (defaults: the fho features of a bundled pair), a few seeds each,
and evaluates every run on 35 levels x every 10 K from 250 to 10000 K (34,160 points).
Also trains accurate mode on a denser generated grid (kvt data generate, 34
temperatures; a user CSV, so the log_space features) to show what the bundled grid's
250-500 K gap costs. Goal of accurate mode on the bundled data: max relative error
<= 1 %, median <= 0.05 %, training <= 10 s.

    python benchmarks/accuracy.py [--seeds 0,1,2] [--modes study,accurate,denser]
"""

import argparse
import os
import platform
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kvt.data.datasets import PAIRS, generate, to_csv_text  # noqa: E402
from kvt.kinetics.accuracy import evaluate_network  # noqa: E402
from kvt.data.grid import parse_temperatures  # noqa: E402
from kvt.network.inference import Network  # noqa: E402
from kvt.training.trainer import TrainConfig, train  # noqa: E402

DENSER_TEMPS = "250:1000:50,1500:10000:500"
MODES = {"study": "study (adamod)", "accurate": "accurate", "denser": "accurate, denser data"}
GOAL = {"max": 1e-2, "median": 5e-4, "train_s": 10.0}


def run(config, pair):
    result = train(config)
    evaluation = evaluate_network(Network(result.weights), pair)
    return evaluation, result.metrics["wall_time_s"], result.weights["features"]["kind"]


def span(values, spec):
    lo, hi = min(values), max(values)
    return f"{lo:{spec}}" if f"{lo:{spec}}" == f"{hi:{spec}}" else f"{lo:{spec}} - {hi:{spec}}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    modes = args.modes.split(",")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({platform.platform()}), "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"seeds {seeds}; relative error vs FHO-FR on 35 levels x 976 temperatures\n")
    print(f"{'pair':6} {'mode':22} {'features':9} {'seed':>4} {'median':>9} {'p95':>9} {'max':>9} "
          f"{'worst (i, T)':>13} {'train s':>8}")
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for pair in PAIRS:
            denser = os.path.join(root, f"{pair}.csv")
            with open(denser, "w") as handle:
                handle.write(to_csv_text(generate(pair, range(1, 36), parse_temperatures(DENSER_TEMPS))))
            configs = {"study": lambda s: TrainConfig(data=pair, mode="study", seed=s),
                       "accurate": lambda s: TrainConfig(data=pair, mode="accurate", seed=s),
                       "denser": lambda s: TrainConfig(data=denser, mode="accurate", seed=s)}
            for mode in modes:
                for seed in seeds:
                    evaluation, wall, kind = run(configs[mode](seed), pair)
                    overall, worst = evaluation["overall"], evaluation["worst"]
                    rows.append((pair, mode, overall, wall))
                    print(f"{pair:6} {MODES[mode]:22} {kind:9} {seed:>4} {overall['median']:9.2e} "
                          f"{overall['p95']:9.2e} {overall['max']:9.2e} "
                          f"{'(%d, %g)' % (worst['level'], worst['T_K']):>13} {wall:8.2f}", flush=True)
    print(f"\nranges over seeds {seeds}:")
    print("| pair | mode | median | p95 | max | training, s |\n|---|---|---|---|---|---|")
    for pair in PAIRS:
        for mode in modes:
            group = [r for r in rows if r[0] == pair and r[1] == mode]
            print(f"| {pair} | {MODES[mode]} | {span([g[2]['median'] for g in group], '.2e')} | "
                  f"{span([g[2]['p95'] for g in group], '.2e')} | {span([g[2]['max'] for g in group], '.2e')} | "
                  f"{span([g[3] for g in group], '.1f')} |")
    accurate = [r for r in rows if r[1] == "accurate"]
    if accurate:
        misses = [f"{p} max {o['max']:.2e}" for p, _, o, _ in accurate if o["max"] > GOAL["max"]]
        misses += [f"{p} median {o['median']:.2e}" for p, _, o, _ in accurate if o["median"] > GOAL["median"]]
        misses += [f"{p} {w:.1f} s" for p, _, _, w in accurate if w > GOAL["train_s"]]
        print(f"\naccurate-mode goal (max <= {GOAL['max']:g}, median <= {GOAL['median']:g}, training <= "
              f"{GOAL['train_s']:g} s): {'met by every run' if not misses else 'missed: ' + '; '.join(misses)}")


if __name__ == "__main__":
    main()
