"""Study pipeline vs accurate mode, per pair, against FHO-FR on the dense grid.

Trains each bundled pair with ``--mode study`` (AdaMod, the study's defaults) and
``--mode accurate`` (defaults: the fho features of a bundled pair), a few seeds each,
and evaluates every run on 35 levels x every 10 K from 250 to 10000 K (34,160 points).
Also trains accurate mode on a denser generated grid (kvt data generate, 34
temperatures; a user CSV, so the log_space features) to show what the bundled grid's
250-500 K gap costs. Goal of accurate mode on the bundled data: max relative error
<= 1 %, median <= 0.05 %, training <= 10 s.

    python benchmarks/accuracy.py [--seeds 0,1,2] [--modes study,accurate,denser]

``--air`` instead trains accurate mode (defaults, the first seed) on every one of the 18
air pairs (kvt.physics.species.PAIRS) and evaluates each on all of its molecule's levels x
every 10 K from 250 to 10000 K; it prints a markdown table and, with ``--out FILE``, writes
it there with the machine and its load (benchmarks/results/accuracy_air.md).

    python benchmarks/accuracy.py --air [--seeds 0] [--out benchmarks/results/accuracy_air.md]
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


def air_table(seed: int) -> list[str]:
    """Accurate mode on each of the 18 pairs: the markdown lines of the dense-grid errors and training time."""
    from kvt.physics.species import PAIRS as AIR_PAIRS

    lines = ["| pair | levels | features | median rel. error | max rel. error | worst (i, T) | "
             "max τ error 500-10000 K | training, s |", "|---|---|---|---|---|---|---|---|"]
    for pair, p in AIR_PAIRS.items():
        result = train(TrainConfig(data=pair, mode="accurate", seed=seed))
        evaluation = evaluate_network(Network(result.weights), pair)
        overall, worst = evaluation["overall"], evaluation["worst"]
        taus = [abs(r["tau_rel_err"]) for r in result.metrics["relaxation"].get("temperatures", [])
                if r.get("tau_rel_err") is not None]
        tau = f"{100 * max(taus):.2f} %" if taus else "n/a"
        lines.append(f"| {pair} | 1..{p.max_level} | {result.weights['features']['kind']} | {overall['median']:.2e} | "
                     f"{overall['max']:.2e} | ({worst['level']}, {worst['T_K']:g} K) | {tau} | "
                     f"{result.metrics['wall_time_s']:.1f} |")
        print(lines[-1], flush=True)
    return lines


def air_main(seed: int, out: str | None) -> None:
    import datetime

    load_before = os.getloadavg()
    header = [f"machine: {platform.machine()}, {os.cpu_count()} cores ({platform.platform()}); "
              f"load average at start {load_before[0]:.1f} (1 min), {load_before[1]:.1f} (5 min)"]
    print(header[0])
    print(f"accurate mode (defaults), seed {seed}; relative error vs FHO-FR on every level of the pair's molecule "
          f"x 976 temperatures (250..10000 K every 10 K)\n", flush=True)
    lines = air_table(seed)
    load_after = os.getloadavg()
    header.append(f"load average at end {load_after[0]:.1f} (1 min), {load_after[1]:.1f} (5 min); "
                  f"finished {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(header[1])
    if out:
        from kvt import __version__

        text = "\n".join([
            "# Accurate mode on the 18 air pairs", "",
            f"`python benchmarks/accuracy.py --air --seeds {seed} --out {out}` (kvt {__version__}).", "",
            "Accurate mode with its defaults (fho features of the pair, float64 full-batch Adam 2000 steps, then "
            "1500 L-BFGS iterations) trained on each pair's bundled 15 temperatures, one seed; errors "
            "|k_model - k_FHO| / k_FHO on every level of the molecule (O2 1..35, N2 1..46, NO 1..38) x every "
            "10 K from 250 to 10000 K; τ error: the heat-bath relaxation time of the network's rates vs FHO-FR's "
            "at 500, 1000, 2000, 5000, 10000 K (T_v0 300 K), largest |error|. Training seconds are wall time "
            "of the training alone, on a machine shared with other jobs (load below).", "",
            *(f"- {line}" for line in header), "", *lines, ""])
        with open(out + ".tmp", "w") as handle:
            handle.write(text)
        os.replace(out + ".tmp", out)
        print(f"wrote {out}")


def span(values, spec):
    lo, hi = min(values), max(values)
    return f"{lo:{spec}}" if f"{lo:{spec}}" == f"{hi:{spec}}" else f"{lo:{spec}} - {hi:{spec}}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    parser.add_argument("--air", action="store_true", help="accurate mode on all 18 air pairs, the first seed")
    parser.add_argument("--out", help="with --air: write the markdown table to this file")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.air:
        return air_main(seeds[0], args.out)
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
