"""Learned VV and VV' rates: accuracy from the bundled tables alone, and relaxation from learned rates.

    python benchmarks/vv_accuracy.py [--quick]

1. Accuracy: for each of the six VV/VV' pairs, ``kvt train --pair A-B --process vv|vv' --mode accurate`` on the
   bundled table alone (every level pair x the study's 15 temperatures), then the dense grid against the
   generator (kvt.physics.fho_vv): every level pair x every 10 K of 250..10000 K. Goals: median relative error
   <= 0.05 %, max <= 1 %, training <= 60 s (the training's own wall time, as the run records it).
2. Relaxation: for O2, N2 and NO, a VT accurate run (``--pair X-X``) and the VV accurate run of step 1, relaxed
   together (``kvt relax --with-vv --run VT --vv-run VV``) against the FHO references (the generators' VT and
   VV rates), heating 300 -> 2000 K and 300 -> 5000 K and cooling 4000 -> 1000 K at 1 atm. Goals: tau within
   0.5 %, populations at t = tau within 5 % where x > 1e-12 (pop_max_rel_dev).
Prints the machine and its load first; --quick does O2-O2 only.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from kvt.cli import main
from kvt.physics.process import EXCHANGE_PAIRS

CASES = ((300.0, 2000.0, "heating"), (300.0, 5000.0, "heating"), (4000.0, 1000.0, "cooling"))


def invoke(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exit_code != 0:
        raise SystemExit(f"kvt {' '.join(map(str, args))} failed:\n{result.output}")
    return result.output


def train(root: Path, pair: str, kind: str) -> tuple[Path, dict]:
    out = root / f"{pair}-{kind.replace(chr(39), 'p')}"
    started = time.perf_counter()
    invoke("train", "--pair", pair, "--process", kind, "--mode", "accurate", "--quiet", "--out", out)
    metrics = json.loads((out / "metadata.json").read_text())["metrics"]
    metrics["command_s"] = time.perf_counter() - started
    return out, metrics


def main_() -> None:
    quick = "--quick" in sys.argv
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    pairs = [("O2-O2", "vv")] if quick else [(pair, kind) for kind, names in EXCHANGE_PAIRS.items() for pair in names]
    root = Path(tempfile.mkdtemp(prefix="kvt-vv-accuracy-"))
    print("\n1. accurate mode from the bundled table alone; dense grid: every level pair x every 10 K of 250..10000 K")
    print(f"{'pair':>8} {'process':>7} {'points':>9} {'median':>10} {'p95':>10} {'max':>10} {'train s':>8} "
          f"{'command s':>9}  goals (median <= 5e-4, max <= 1e-2, train <= 60 s)")
    vv_runs = {}
    for pair, kind in pairs:
        out, m = train(root, pair, kind)
        dense = m["dense_grid"]
        ok = dense["overall"]["median"] <= 5e-4 and dense["overall"]["max"] <= 1e-2 and m["wall_time_s"] <= 60
        print(f"{pair:>8} {kind:>7} {dense['grid']['points']:>9} {dense['overall']['median']:>10.2e} "
              f"{dense['overall']['p95']:>10.2e} {dense['overall']['max']:>10.2e} {m['wall_time_s']:>8.1f} "
              f"{m['command_s']:>9.1f}  {'met' if ok else 'NOT MET'}")
        if kind == "vv":
            vv_runs[pair] = out
    print("\n2. relaxation, VT accurate run + VV accurate run vs the FHO references (VT and VV generators), 1 atm")
    print(f"{'gas':>6} {'case':>8} {'T_v0 K':>7} {'T K':>6} {'tau s':>11} {'tau ref s':>11} {'tau err':>9} "
          f"{'pop dev':>9}  goals (|tau err| <= 5e-3, pop dev <= 5e-2)")
    for pair, vv_run in vv_runs.items():
        vt_run, vt_metrics = train(root, pair, "vt")
        for tv0, T, case in CASES:
            text = invoke("relax", "--run", vt_run, "--pair", pair, "--with-vv", "--vv-run", vv_run, "--temps", T,
                          "--tv0", tv0, "--reference", "fho", "--csv")
            header, row = text.strip().splitlines()
            values = dict(zip(header.split(","), row.split(",")))
            err, dev = float(values["tau_rel_err"]), float(values["pop_max_rel_dev"])
            ok = abs(err) <= 5e-3 and dev <= 5e-2
            print(f"{pair:>6} {case:>8} {tv0:>7g} {T:>6g} {float(values['tau_s']):>11.4e} "
                  f"{float(values['tau_ref_s']):>11.4e} {err:>+9.2e} {dev:>9.2e}  {'met' if ok else 'NOT MET'}")
        print(f"{'':>6} (VT run {pair}: dense-grid max {vt_metrics['dense_grid']['overall']['max']:.2e}, "
              f"trained in {vt_metrics['wall_time_s']:.1f} s)")
    print(f"\nruns in {root}; load average now {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main_()
