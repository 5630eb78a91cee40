"""How long a user waits for kvt to refuse what they typed: each refusal as a whole command.

Every command below is a mistake a user makes (a misspelt name, a folder that exists, a range
typed the wrong way, a table in the wrong units). Each runs as its own process, exactly as typed
in a shell, and must answer with one ``Error:`` line in at most 0.5 s. Beside them runs
``python -c "import tensorflow"``: what every refusal would cost if it were given after
TensorFlow's import. Commands alternate over the rounds (the machine is shared and noisy) and
the medians are printed, with each refusal's ratio to TensorFlow's import.

    python benchmarks/refusal_speed.py [--rounds 5]

Exit status 1 if a command does not answer with exactly one ``Error:`` line or takes more than
0.5 s (median).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_S = 0.5


def refusals(work: Path) -> list[tuple[str, list[str]]]:
    """(what the user did, the command's arguments after ``kvt``) for every refusal measured."""
    existing = work / "existing"
    existing.mkdir(exist_ok=True)
    (existing / "notes.txt").write_text("a user's file\n")
    wrong_units = work / "cm3.csv"
    wrong_units.write_text("level,T_K,k_m3_s\n1,1000,3.1e-12\n2,1000,5.0e-12\n1,2000,4.0e-12\n2,2000,6.0e-12\n")
    run = work / "no-such-run"
    return [
        ("misspelt optimizer", ["train", "--pair", "O2-Ar", "--optimizer", "adamood"]),
        ("unknown hyper-parameter", ["train", "--pair", "O2-Ar", "--optimizer", "adam", "--opt", "beta1=0.9"]),
        ("--out exists (not kvt's)", ["train", "--pair", "O2-Ar", "--out", str(existing)]),
        ("misspelt pair", ["train", "--pair", "O2-Arr"]),
        ("table in cm^3/s", ["train", "--data", str(wrong_units)]),
        ("misspelt mode", ["train", "--pair", "O2-Ar", "--mode", "acurate"]),
        ("optimizer details", ["optimizers", "adamood"]),
        ("tune: misspelt optimizer", ["tune", "--pair", "O2-Ar", "--optimizer", "madgard", "--out", str(work / "t")]),
        ("bench: misspelt protocol", ["bench", "vt", "--protocol", "tunned", "--out", str(work / "b")]),
        ("bench: --out exists", ["bench", "vt", "--optimizers", "adam", "--out", str(existing)]),
        ("predict: range typed a-b", ["predict", "--run", str(run), "--level", "1", "--temps", "1000-2000"]),
        ("export: misspelt format", ["export", "--run", str(run), "--format", "fortan", "-o", str(work / "x")]),
        ("relax: misspelt pair", ["relax", "--pair", "O2-Arr"]),
        ("data: misspelt pair", ["data", "info", "--pair", "N2-n3"]),
    ]


def timed(argv: list[str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    return time.perf_counter() - start, done.returncode, done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    kvt = shutil.which("kvt") or sys.exit("kvt is not on PATH; pip install . first")
    env_note = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    work = Path(tempfile.mkdtemp(prefix="kvt-refusals-"))
    try:
        cases = refusals(work)
        commands = [("python -c 'import tensorflow'", [sys.executable, "-c", "import tensorflow"])]
        commands += [(label, [kvt, *argv]) for label, argv in cases]
        times: dict[str, list[float]] = {label: [] for label, _ in commands}
        answers: dict[str, tuple[int, str]] = {}
        for _ in range(args.rounds):
            for label, argv in commands:
                seconds, code, stderr = timed(argv)
                times[label].append(seconds)
                answers[label] = (code, stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tf_median = statistics.median(times[commands[0][0]])
    print(f"refusals as whole commands, median of {args.rounds} alternating rounds ({env_note})")
    print(f"{'what the user did':<28} {'median s':>8} {'max s':>7} {'/ TF import':>11}  answer")
    failed = False
    for label, _ in commands:
        median = statistics.median(times[label])
        ratio = median / tf_median
        if label == commands[0][0]:
            print(f"{label:<28} {median:8.3f} {max(times[label]):7.3f} {ratio:11.2f}  (the cost of TensorFlow)")
            continue
        code, stderr = answers[label]
        lines = stderr.strip().splitlines()
        ok = code != 0 and len(lines) == 1 and lines[0].startswith("Error: ") and median <= LIMIT_S
        failed |= not ok
        print(f"{label:<28} {median:8.3f} {max(times[label]):7.3f} {ratio:11.2f}  "
              f"{'' if ok else 'FAIL '}{lines[-1] if lines else '(nothing on stderr)'}")
    print(f"limit {LIMIT_S} s each: {'exceeded or not one Error: line (FAIL above)' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
