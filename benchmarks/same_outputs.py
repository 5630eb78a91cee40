"""Do two revisions of kvt show a user the same things? Run one fixed list of commands at each and compare.

    python benchmarks/same_outputs.py REV_A REV_B [--keep DIR]

Each revision is checked out into a temporary ``git worktree`` (removed afterwards) and the same
fixed list of ``kvt`` commands (:data:`COMMANDS`: train, predict, export in every format,
evaluate, relax, plot, data generate/info/pairs, optimizers, every ``--help``, a few refusals)
runs against it, with the current interpreter (``sys.executable``) and ``PYTHONPATH=<worktree>``
so that the revision's own code is imported (checked before anything runs), each revision in a
fresh output folder. Paths on the command lines are relative (the commands run in
``<side>/files``), so they are the same for both revisions. Then every file the commands wrote,
every command's console output (stdout, stderr, exit status) and the bundled data are compared
byte for byte, after removing only the fields listed under *Normalised* below, and a table is
printed: file, identical or DIFFERENT (for a text file with the first differing line of each
side), and last ``N files compared, M identical, K differ``. The exit status is 0 when every
file is identical and each revision's bundled tables regenerate to its ``data/`` byte for byte,
else 1. ``--keep DIR`` keeps both output trees (``DIR/a``, ``DIR/b``; DIR must be new or empty).

How ``kvt`` is started: through the ``kvt`` console-script entry point named in the revision's
``pyproject.toml`` (``[project.scripts] kvt = "kvt.cli:main"`` today), as the installed
``kvt`` command does, with ``sys.argv[0] = "kvt"`` so that usage lines and errors say ``kvt``
as a user's terminal does. (``python -m kvt`` does not exist at 496fa35: there is no
``kvt/__main__.py``, only ``kvt/cli/__main__.py``.) The environment is fixed for both sides:
``PYTHONHASHSEED=0``, ``COLUMNS=80`` (click wraps ``--help`` to the terminal width),
``MPLBACKEND=Agg``, ``CUDA_VISIBLE_DEVICES=""`` (a GPU trains other numbers), ``TZ=UTC``,
``LC_ALL=C.UTF-8``; ``TF_CONFIG``, ``KERASTUNER_*`` and ``KVT_*`` (a test hook) are removed.

Bundled data. Each revision's ``data/`` is copied into ``<side>/data`` and compared across
revisions; within each revision, ``kvt data generate --pair P -o bundled/P.csv`` (one of the
commands, for all 18 pairs; the README says it reproduces ``data/<P>.csv`` byte for byte, and
at 496fa35 it does for every pair) and the maintainer tool ``write_generated_files`` (looked up
by its ``def`` in the revision's ``kvt/`` sources, as it moves in the refactor:
``kvt.outputs.bundled`` at 496fa35) are each compared with that revision's ``data/`` byte for
byte, without any normalisation. The maintainer tool's files are also compared across revisions
(``<side>/maintainer``).

Normalised (removed before comparing; everything else is compared byte for byte):

* every text file and console capture: the revision's worktree path becomes ``<SRC>`` and the
  side's output root ``<OUT>`` (the two worktrees and output folders necessarily differ; only
  ``metadata.json``'s ``dataset.file`` and ``kvt data info``'s ``file`` line name one: the
  worktree's ``data/``); the revision's own kvt version where kvt writes it, as ``kvt <v>``
  (export and solver-code headers, generated tables, ``data info``'s provenance),
  ``kvt, version <v>`` (``kvt --version``), ``"kvt_version": "<v>"`` (weights.json, exported
  weights, metadata.json, relax.json, markers) and ``versions.kvt`` (metadata.json, relax.json),
  so that a version bump alone is not a difference (another version string still is);
* run ``metadata.json``: ``created`` (the date), ``wall_time_s`` (top level and under
  ``metrics``) and ``metrics.steps_per_second`` (training time, and a speed derived from it).
  ``command`` is kept: the command lines are the same relative ones for both revisions;
* ``.kvt-artifact.json`` (the marker of every folder kvt writes): ``created`` (date), ``pid``
  and ``host`` (the writing process); ``kind`` is compared;
* ``history.csv``: the column ``time_s`` (wall-clock seconds since training began);
* ``model.keras`` (a zip): the archive's member timestamps (the weights member carries the
  time of saving) and ``date_saved`` in its ``metadata.json``; each member's content is compared
  byte for byte (the HDF5 weights are byte-identical for one seed);
* PNG figures: ``tIME`` chunks and text chunks whose keyword is a date (``Creation Time``,
  ``Date``, ``Timestamp``), if any (matplotlib writes neither today: only ``Software``, the
  matplotlib version, the same for both sides, and compared); pixels and every other chunk are
  compared byte for byte;
* console output: the value of ``kvt train``'s ``training time, s`` line (wall-clock).

At 496fa35, two runs of the same revision differ, before this normalisation, in exactly these
fields and nowhere else (every figure, table, export and weights file is byte-identical).

Run time at 496fa35 on the shared 2-core development machine (load about 2): 143-155 s of
commands per revision, about 5 min for the whole comparison of two revisions. The 5 training
commands take 12-17 s each (TensorFlow's import, training, the dense-grid and relaxation checks);
the other 110 commands import no TensorFlow and take 0.3-3.5 s each.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parent.parent

#: The 18 molecule-partner pairs, each with a bundled table data/<PAIR>.csv.
PAIRS = ("O2-O2", "O2-N2", "O2-NO", "O2-O", "O2-N", "O2-Ar", "N2-O2", "N2-N2", "N2-NO", "N2-O", "N2-N", "N2-Ar",
         "NO-O2", "NO-N2", "NO-NO", "NO-O", "NO-N", "NO-Ar")


@dataclass(frozen=True)
class Command:
    name: str  # names its console capture: console/NN-<name>.txt
    args: tuple[str, ...]  # after `kvt`
    expect_ok: bool = True  # False: a refusal a user may meet (its one Error: line and exit status are compared)


def ok(name, *args):
    return Command(name, args, True)


def refused(name, *args):
    return Command(name, args, False)


HELP = [(), ("train",), ("tune",), ("predict",), ("export",), ("evaluate",), ("plot",), ("relax",), ("data",),
        ("data", "generate"), ("data", "info"), ("data", "pairs"), ("optimizers",), ("bench",), ("bench", "vt"),
        ("bench", "synthetic")]

ACC = "runs/o2ar-accurate"  # accurate mode, O2-Ar, Adam + L-BFGS: positive rates everywhere
STUDY = "runs/o2ar-adamod"  # study mode, O2-Ar, AdaMod, 5 epochs: k <= 0 on the whole dense grid (refusals)
KFAC = "runs/n2n-kfac"  # study mode, N2-N (46 levels), K-FAC: positive on the dense grid
N2ACC = "runs/n2n-accurate"  # accurate mode, N2-N
TABLE = "runs/o2o-table"  # accurate mode on a user table (no pair: evaluate/relax take --pair)

#: Folders made in <side>/files before the commands run (kvt makes an --out folder's parents, not an -o file's).
FOLDERS = ("bundled", "gen", "exports", "plots")

#: The fixed list, run in this order in <side>/files. Train commands give --seed and few epochs.
COMMANDS: list[Command] = [
    ok("version", "--version"),
    *[ok("help-" + ("-".join(h) or "kvt"), *h, "--help") for h in HELP],
    ok("optimizers", "optimizers"),
    ok("optimizers-adamod", "optimizers", "adamod"),
    ok("optimizers-kfac", "optimizers", "kfac"),
    ok("data-pairs", "data", "pairs"),
    ok("data-pairs-csv", "data", "pairs", "--csv"),
    # the bundled tables, regenerated (compared with data/ below) -- the stable entry point of the maintainer's tool
    *[ok(f"data-generate-{p}", "data", "generate", "--pair", p, "-o", f"bundled/{p}.csv") for p in PAIRS],
    ok("data-generate-stdout", "data", "generate", "--pair", "O2-Ar", "--levels", "1-5", "--temps", "300,1000,5000"),
    ok("data-generate-up", "data", "generate", "--pair", "N2-N", "--levels", "1,10,46", "--temps", "250:10000:250",
       "--direction", "up", "-o", "gen/n2n-up.csv"),
    ok("data-generate-both", "data", "generate", "--pair", "NO-O", "--temps", "500,2000", "--direction", "both",
       "-o", "gen/noo-both.csv"),
    ok("data-generate-dense", "data", "generate", "--pair", "O2-O", "--temps", "250:1000:50,1500:10000:500",
       "-o", "gen/o2o-dense.csv"),
    refused("data-generate-exists", "data", "generate", "--pair", "O2-O", "-o", "gen/o2o-dense.csv"),
    refused("data-generate-too-cold", "data", "generate", "--pair", "O2-O", "--temps", "10,300"),
    ok("data-info-O2-Ar", "data", "info", "--pair", "O2-Ar"),
    ok("data-info-N2-N", "data", "info", "--pair", "N2-N"),
    ok("data-info-up", "data", "info", "--file", "gen/n2n-up.csv"),
    ok("data-info-both", "data", "info", "--file", "gen/noo-both.csv"),
    refused("data-info-bad-pair", "data", "info", "--pair", "O2-Xe"),
    # training: study mode with its progress lines (not --quiet), accurate mode, a curvature optimizer, an air pair,
    # a user table
    refused("train-typo", "train", "--pair", "O2-Ar", "--optimizer", "adamood"),
    ok("train-o2ar-adamod", "train", "--pair", "O2-Ar", "--optimizer", "adamod", "--epochs", "5", "--seed", "1",
       "--out", STUDY),
    ok("train-o2ar-accurate", "train", "--pair", "O2-Ar", "--mode", "accurate", "--epochs", "200",
       "--finish-iterations", "100", "--seed", "0", "--out", ACC, "--quiet"),
    ok("train-n2n-kfac", "train", "--pair", "N2-N", "--optimizer", "kfac", "--epochs", "10", "--seed", "1",
       "--out", KFAC, "--quiet"),
    ok("train-n2n-accurate", "train", "--pair", "N2-N", "--mode", "accurate", "--epochs", "100",
       "--finish-iterations", "50", "--seed", "2", "--out", N2ACC, "--quiet"),
    ok("train-o2o-table", "train", "--data", "gen/o2o-dense.csv", "--mode", "accurate", "--epochs", "100",
       "--finish-iterations", "50", "--seed", "0", "--out", TABLE, "--quiet"),
    refused("train-exists", "train", "--pair", "O2-Ar", "--out", ACC),
    refused("bench-not-a-bench-folder", "bench", "vt", "--quick", "--out", ACC, "--force"),
    # predict
    ok("predict-level", "predict", "--run", ACC, "--level", "32", "--temps", "1000,2000,5000"),
    ok("predict-csv", "predict", "--run", ACC, "--levels", "1-35", "--temps", "250:10000:250", "--csv"),
    ok("predict-both", "predict", "--run", ACC, "--levels", "1,2,5", "--temps", "300,3000", "--direction", "both"),
    ok("predict-n2n-up-csv", "predict", "--run", KFAC, "--levels", "40-46", "--temps", "500:9500:1500",
       "--direction", "up", "--csv"),
    ok("predict-n2n-accurate", "predict", "--run", N2ACC, "--levels", "1-46", "--temps", "300:10000:100", "--csv"),
    ok("predict-table-run", "predict", "--run", TABLE, "--levels", "1,35", "--temps", "260,9990"),
    refused("predict-nonphysical", "predict", "--run", STUDY, "--levels", "1-35", "--temps", "250:10000:250"),
    ok("predict-allow-nonphysical", "predict", "--run", STUDY, "--levels", "1-35", "--temps", "250:10000:750",
       "--allow-nonphysical", "--csv"),
    refused("predict-extrapolation", "predict", "--run", ACC, "--level", "3", "--temps", "20000"),
    ok("predict-allow-extrapolation", "predict", "--run", ACC, "--level", "3", "--temps", "12000,20000",
       "--allow-extrapolation"),
    refused("predict-bad-temps", "predict", "--run", ACC, "--level", "3", "--temps", "1000-2000"),
    refused("predict-other-molecule", "predict", "--run", ACC, "--level", "46", "--temps", "1000"),
    # export: every format of `kvt export --help`, and the csv layouts, units and directions
    ok("export-csv-default", "export", "--run", ACC, "-o", "exports/o2ar-wide.csv"),
    ok("export-csv-long-cm3-both", "export", "--run", ACC, "--layout", "long", "--units", "cm3/s", "--direction",
       "both", "--levels", "1-10", "--temps", "300:3000:100", "-o", "exports/o2ar-long-cm3-both.csv"),
    ok("export-csv-wide-cm3-up", "export", "--run", ACC, "--units", "cm3/s", "--direction", "up",
       "-o", "exports/o2ar-wide-cm3-up.csv"),
    ok("export-csv-long-down", "export", "--run", ACC, "--layout", "long", "--temps", "250:10000:50",
       "-o", "exports/o2ar-long.csv"),
    ok("export-csv-wide-both", "export", "--run", KFAC, "--direction", "both", "--temps", "500:9500:500",
       "-o", "exports/n2n-kfac-wide-both.csv"),
    ok("export-csv-extrapolated", "export", "--run", ACC, "--levels", "30-35", "--temps", "9000:12000:1000",
       "--allow-extrapolation", "--layout", "long", "-o", "exports/o2ar-extrapolated.csv"),
    ok("export-weights", "export", "--run", ACC, "--format", "weights", "-o", "exports/o2ar.json"),
    ok("export-weights-text", "export", "--run", ACC, "--format", "weights-text", "-o", "exports/o2ar.txt"),
    ok("export-c-header", "export", "--run", ACC, "--format", "c-header", "--prefix", "o2ar",
       "-o", "exports/o2ar.h"),
    ok("export-fortran", "export", "--run", ACC, "--format", "fortran", "-o", "exports/o2ar.f90"),
    ok("export-fho-poly", "export", "--run", ACC, "--format", "fho-poly", "-o", "exports/o2ar-fho-poly.txt"),
    ok("export-n2n-weights", "export", "--run", KFAC, "--format", "weights", "-o", "exports/n2n-kfac.json"),
    ok("export-n2n-c-header", "export", "--run", KFAC, "--format", "c-header", "-o", "exports/n2n-kfac.h"),
    ok("export-n2n-fortran", "export", "--run", KFAC, "--format", "fortran", "--prefix", "n2n",
       "-o", "exports/n2n-kfac.f90"),
    ok("export-n2n-accurate-fho-poly", "export", "--run", N2ACC, "--format", "fho-poly",
       "-o", "exports/n2n-fho-poly.txt"),
    ok("export-n2n-accurate-weights-text", "export", "--run", N2ACC, "--format", "weights-text",
       "-o", "exports/n2n-accurate.txt"),
    ok("export-table-run-c-header", "export", "--run", TABLE, "--format", "c-header", "--prefix", "o2o",
       "-o", "exports/o2o-table.h"),
    refused("export-study-nonphysical", "export", "--run", STUDY, "-o", "exports/study.csv"),
    ok("export-study-allow-nonphysical", "export", "--run", STUDY, "--temps", "250:10000:250", "--allow-nonphysical",
       "-o", "exports/study-nonphysical.csv"),
    ok("export-study-weights-nonphysical", "export", "--run", STUDY, "--format", "weights", "--allow-nonphysical",
       "-o", "exports/study.json"),
    refused("export-study-c-header", "export", "--run", STUDY, "--format", "c-header", "-o", "exports/study.h"),
    refused("export-exists", "export", "--run", ACC, "-o", "exports/o2ar-wide.csv"),
    refused("export-input", "export", "--run", ACC, "--format", "weights", "-o", f"{ACC}/weights.json", "--force"),
    refused("export-bad-format", "export", "--run", ACC, "--format", "csvv", "-o", "exports/x.csv"),
    # predict from an exported weights file
    ok("predict-weights-file", "predict", "--weights", "exports/o2ar.json", "--levels", "30-35",
       "--temps", "1000:2000:500"),
    # evaluate
    ok("evaluate-default", "evaluate", "--run", ACC),
    ok("evaluate-n2n", "evaluate", "--run", KFAC, "--levels", "1-46", "--temps", "250:10000:100",
       "--out", "evals/n2n-kfac"),
    ok("evaluate-table-run", "evaluate", "--run", TABLE, "--pair", "O2-O", "--out", "evals/o2o-table"),
    ok("evaluate-study", "evaluate", "--run", STUDY, "--out", "evals/o2ar-adamod"),
    refused("evaluate-table-run-no-pair", "evaluate", "--run", TABLE, "--out", "evals/none"),
    # plot
    ok("plot-o2ar", "plot", "--run", ACC, "--level", "5", "-o", "plots/o2ar-5.png"),
    ok("plot-n2n", "plot", "--run", KFAC, "--level", "46", "-o", "plots/n2n-46.png"),
    ok("plot-study-in-run", "plot", "--run", STUDY, "--level", "1"),
    # relax: a run, the generator (--pair), an exported or generated table (--table)
    ok("relax-run-reference", "relax", "--run", ACC, "--reference", "fho", "--out", "relax/o2ar-accurate"),
    ok("relax-run-csv", "relax", "--run", ACC, "--temps", "500:10000:500", "--csv"),
    ok("relax-pair-out", "relax", "--pair", "O2-O2", "--temps", "500:10000:500", "--out", "relax/o2o2"),
    ok("relax-pair-csv", "relax", "--pair", "N2-N", "--tv0", "800", "--pressure", "2", "--csv"),
    ok("relax-table-export", "relax", "--table", "exports/o2ar-wide.csv", "--reference", "fho", "--csv"),
    ok("relax-table-generated", "relax", "--table", "bundled/N2-N.csv", "--reference", "fho",
       "--temps", "1000,3000", "--out", "relax/n2n-table"),
    ok("relax-n2n-run", "relax", "--run", N2ACC, "--reference", "fho", "--temps", "2000,5000,10000",
       "--out", "relax/n2n-accurate"),
    ok("relax-table-run-pair", "relax", "--run", TABLE, "--pair", "O2-O", "--reference", "fho"),
    refused("relax-study-nonphysical", "relax", "--run", STUDY),
    refused("relax-tv0-at-bath", "relax", "--pair", "O2-Ar", "--temps", "300,1000"),
    refused("relax-not-relax-folder", "relax", "--pair", "O2-Ar", "--out", ACC, "--force"),
]

CONSOLE_TIMINGS = [re.compile(r"(training time, s +)\S+")]  # kvt train's summary line: wall-clock seconds

#: JSON fields removed before comparing (their values only; the key stays, so a missing key is still a difference).
VOLATILE_JSON = {
    "metadata.json": ("created", "wall_time_s", "steps_per_second"),
    ".kvt-artifact.json": ("created", "pid", "host"),
}
#: JSON files whose "versions" object names kvt's version as "kvt".
KVT_IN_VERSIONS = ("metadata.json", "relax.json")
VOLATILE_CSV_COLUMNS = {"history.csv": ("time_s",)}
PNG_DATE_KEYWORDS = (b"Creation Time", b"Date", b"Timestamp")
SUBTREES = ("files", "console", "data", "maintainer")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev_a")
    parser.add_argument("rev_b")
    parser.add_argument("--keep", metavar="DIR", type=Path, help="keep both output trees (DIR/a, DIR/b)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    shas = [_rev_parse(rev) for rev in (args.rev_a, args.rev_b)]
    if args.keep is not None:
        if args.keep.exists() and (not args.keep.is_dir() or any(args.keep.iterdir())):
            parser.error(f"--keep {args.keep}: give a new or empty folder")
        args.keep.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="kvt-same-outputs-"))
    out_root = args.keep.resolve() if args.keep is not None else scratch
    sides = []
    try:
        for label, rev, sha in zip("ab", (args.rev_a, args.rev_b), shas):
            src = scratch / f"src-{label}"
            _git("worktree", "add", "--detach", "--quiet", str(src), sha)
            try:
                side = Side(label, rev, sha, src, out_root / label)
                side.run_all()
                sides.append(side)
            finally:
                _remove_worktree(src)
        return report(*sides, time.monotonic() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.keep is not None:
            print(f"outputs kept in {out_root}/a and {out_root}/b", file=sys.stderr)


def _git(*args) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


def _rev_parse(rev: str) -> str:
    try:
        return _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        sys.exit(f"error: {rev!r} is not a commit of {REPO}")


def _remove_worktree(src: Path):
    try:
        _git("worktree", "remove", "--force", str(src))
    except subprocess.CalledProcessError as exc:
        print(f"warning: could not remove the worktree {src}: {exc.stderr.strip()}", file=sys.stderr)


class Side:
    """One revision: its worktree (src), its output folder (root) and what ran there."""

    def __init__(self, label, rev, sha, src: Path, root: Path):
        self.label, self.rev, self.sha, self.src, self.root = label, rev, sha, src.resolve(), root
        self.files, self.console = root / "files", root / "console"
        for folder in (self.files, self.console, *(self.files / f for f in FOLDERS)):
            folder.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items()
                    if not (k.startswith(("KVT_", "KERASTUNER_", "PYTHON")) or k == "TF_CONFIG")}
        self.env.update(PYTHONPATH=str(self.src), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1",
                        PYTHONIOENCODING="utf-8", COLUMNS="80", MPLBACKEND="Agg", CUDA_VISIBLE_DEVICES="",
                        TZ="UTC", LC_ALL="C.UTF-8")
        self.unexpected: list[str] = []  # commands whose success or refusal was not the expected one
        self.bundled_check: list[str] = []  # in-revision bundled-data findings (empty: all equal)
        self.version = ""
        self.maintainer_module = None
        self.maintainer_written: list[str] = []  # the files the maintainer tool wrote
        self.seconds = 0.0

    def python(self, code: str, *args, cwd=None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd or self.files, env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=900)

    def run_all(self):
        started = time.monotonic()
        self._check_imports()
        module, attr = self._entry_point()
        launch = f"import sys; sys.argv[0] = 'kvt'; from {module} import {attr} as main; sys.exit(main())"
        width = len(str(len(COMMANDS)))
        for n, command in enumerate(COMMANDS, 1):
            t0 = time.monotonic()
            done = self.python(launch, *command.args)
            seconds = time.monotonic() - t0
            stdout, stderr = (s.decode("utf-8", "backslashreplace") for s in (done.stdout, done.stderr))
            (self.console / f"{n:0{width}d}-{command.name}.txt").write_text(
                f"$ kvt {shlex.join(command.args)}\nexit status: {done.returncode}\n"
                f"--- stdout\n{stdout}--- stderr\n{stderr}")
            if (done.returncode == 0) != command.expect_ok:
                self.unexpected.append(f"{command.name} (exit status {done.returncode}: "
                                       f"{(stderr.strip().splitlines() or [''])[-1][:160]})")
            print(f"[{self.label} {self.sha[:9]}] {n:>{width}}/{len(COMMANDS)} {command.name:<36} "
                  f"exit {done.returncode:<3} {seconds:6.1f} s", file=sys.stderr, flush=True)
        self._bundled_data()
        self.seconds = time.monotonic() - started

    def _check_imports(self):
        """The revision's own kvt is the one imported (not an installed or editable one)."""
        done = self.python("import kvt; print(kvt.__file__); print(kvt.__version__)")
        lines = done.stdout.decode().split()
        if done.returncode != 0 or len(lines) != 2 or not Path(lines[0]).resolve().is_relative_to(self.src):
            sys.exit(f"error: at {self.rev} `import kvt` does not import {self.src}/kvt: "
                     f"{done.stdout.decode()}{done.stderr.decode()}")
        self.version = lines[1]

    def _entry_point(self) -> tuple[str, str]:
        """The ``kvt`` console script of the revision's pyproject.toml (``kvt.cli:main``)."""
        project = tomllib.loads((self.src / "pyproject.toml").read_text())
        module, _, attr = project["project"]["scripts"]["kvt"].partition(":")
        return module.strip(), attr.strip() or "main"

    def _bundled_data(self):
        data = self.src / "data"
        shutil.copytree(data, self.root / "data")
        tables = sorted(p.name for p in data.glob("*.csv"))
        if tables != sorted(f"{p}.csv" for p in PAIRS):
            self.bundled_check.append(f"data/ holds {', '.join(tables)}, not the 18 pairs' tables")
        for pair in PAIRS:
            generated = self.files / "bundled" / f"{pair}.csv"
            if not generated.is_file() or generated.read_bytes() != (data / f"{pair}.csv").read_bytes():
                self.bundled_check.append(f"`kvt data generate --pair {pair}` != data/{pair}.csv")
        # The maintainer's tool, wherever the revision keeps it.
        found = [p for p in sorted((self.src / "kvt").rglob("*.py"))
                 if re.search(r"^def write_generated_files\(", p.read_text(errors="replace"), re.M)]
        if len(found) != 1:
            self.bundled_check.append(f"maintainer tool: {len(found)} definitions of write_generated_files "
                                      f"({', '.join(str(p.relative_to(self.src)) for p in found) or 'none'})")
            return
        self.maintainer_module = ".".join(found[0].relative_to(self.src).with_suffix("").parts)
        out = self.root / "maintainer"
        out.mkdir()
        done = self.python(f"import sys; from {self.maintainer_module} import write_generated_files as w; "
                           f"print(*(p.name for p in w(sys.argv[1])))", str(out))
        (self.root / "maintainer-tool.txt").write_bytes(
            f"{self.maintainer_module}.write_generated_files, exit status {done.returncode}\n".encode()
            + done.stdout + done.stderr)
        written = sorted(p.name for p in out.iterdir())
        if done.returncode != 0 or not written:
            self.bundled_check.append(f"{self.maintainer_module}.write_generated_files failed: "
                                      f"{done.stderr.decode()[-300:]}")
        for name in written:
            if (out / name).read_bytes() != ((data / name).read_bytes() if (data / name).is_file() else None):
                self.bundled_check.append(f"{self.maintainer_module}.write_generated_files: {name} != data/{name}")
        self.maintainer_written = written


# ---------------------------------------------------------------------------------------------- comparison

def normalise(rel: str, raw: bytes, side: Side) -> bytes | str:
    """What is compared of file ``rel`` (relative to the side's root): bytes, or text for a text file."""
    name = PurePosixPath(rel).name
    if name.endswith(".png"):
        return _png_without_dates(raw)
    if name.endswith(".keras"):
        return _keras_archive(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    text = text.replace(str(side.src), "<SRC>").replace(str(side.root), "<OUT>")
    if side.version:  # the revision's own version, where kvt writes it
        v = re.escape(side.version)
        text = re.sub(rf"\bkvt(,? version)? {v}(?![\w.])", r"kvt\1 <VERSION>", text)
        text = re.sub(rf'("kvt_version": ?)"{v}"', r'\1"<VERSION>"', text)
        if name in KVT_IN_VERSIONS:
            text = re.sub(rf'("versions": \{{[^{{}}]*?"kvt": )"{v}"', r'\1"<VERSION>"', text)
    if rel.startswith("console/"):
        for pattern in CONSOLE_TIMINGS:
            text = pattern.sub(r"\1<seconds>", text)
        return text
    for key in VOLATILE_JSON.get(name, ()):
        text = re.sub(rf'("{re.escape(key)}": )(?:"[^"]*"|[-+0-9.eE]+|null)', r'\1"<volatile>"', text)
    if name in VOLATILE_CSV_COLUMNS:
        text = _drop_csv_columns(text, VOLATILE_CSV_COLUMNS[name])
    return text


def _drop_csv_columns(text: str, columns) -> str:
    lines = text.split("\n")
    header = lines[0].split(",")
    drop = {j for j, c in enumerate(header) if c in columns}
    return "\n".join(",".join(f for j, f in enumerate(line.split(",")) if j not in drop) if line else line
                     for line in lines)


def _png_without_dates(raw: bytes) -> bytes:
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return raw
    out, pos = [raw[:8]], 8
    while pos + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[pos:pos + 4])
        kind = raw[pos + 4:pos + 8]
        chunk = raw[pos:pos + 12 + length]
        keyword = raw[pos + 8:pos + 8 + length].split(b"\0", 1)[0]
        if not (kind == b"tIME" or (kind in (b"tEXt", b"zTXt", b"iTXt") and keyword in PNG_DATE_KEYWORDS)):
            out.append(chunk)
        pos += 12 + length
    out.append(raw[pos:])
    return b"".join(out)


def _png_chunks(raw: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[pos:pos + 4])
        chunks.append((raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return chunks


def _binary_difference(x: bytes, y: bytes) -> str:
    """Where two binary files part: for PNGs the image size or the first differing chunk."""
    if x[:8] == y[:8] == b"\x89PNG\r\n\x1a\n":
        cx, cy = _png_chunks(x), _png_chunks(y)
        size = [struct.unpack(">II", c[0][1][:8]) if c and c[0][0] == b"IHDR" else None for c in (cx, cy)]
        if size[0] != size[1]:
            return f"image size {size[0][0]}x{size[0][1]} vs {size[1][0]}x{size[1][1]} pixels"
        kinds = [b"".join(k for k, _ in c) for c in (cx, cy)]
        for (kx, dx), (ky, dy) in zip(cx, cy):
            if (kx, dx) != (ky, dy):
                what = "pixels (IDAT)" if kx == ky == b"IDAT" else f"chunk {kx.decode()} vs {ky.decode()}"
                return f"same size {size[0][0]}x{size[0][1]}; first difference in {what}"
        if kinds[0] != kinds[1]:
            return f"chunks {len(cx)} vs {len(cy)}"
    n = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
    return f"{len(x)} vs {len(y)} bytes, first difference at byte {n}"


def _keras_archive(raw: bytes) -> str:
    """One line per member of a .keras zip, in archive order: name, size and content (digest); no timestamps."""
    import hashlib
    import io

    lines = []
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for info in archive.infolist():
            content = archive.read(info)
            if info.filename == "metadata.json":
                content = re.sub(rb'("date_saved": )"[^"]*"', rb'\1"<volatile>"', content)
                lines.append(f"{info.filename}: {content.decode('utf-8', 'backslashreplace')}")
            else:
                lines.append(f"{info.filename}: {len(content)} bytes, sha256 {hashlib.sha256(content).hexdigest()}")
    return "\n".join(lines) + "\n"


def _section(rel: str) -> str:
    if rel.startswith("console/"):
        return "console"
    if rel.startswith(("data/", "maintainer/")):
        return "bundled data"
    return "figures" if rel.endswith(".png") else "files"


SECTIONS = {"files": "files written by the commands",
            "figures": "figures (PNG) written by the commands",
            "console": "console output of each command (stdout, stderr, exit status)",
            "bundled data": "bundled data: data/ of each revision and the maintainer tool's files"}


def _first_difference(a: str, b: str) -> tuple[int, str, str]:
    la, lb = a.split("\n"), b.split("\n")
    for n in range(max(len(la), len(lb))):
        x = la[n] if n < len(la) else "<end of file>"
        y = lb[n] if n < len(lb) else "<end of file>"
        if x != y:
            return n + 1, x, y
    return 0, "", ""


def _clip(line: str, width: int = 110) -> str:
    return line if len(line) <= width else line[:width - 3] + "..."


def report(a: Side, b: Side, seconds: float) -> int:
    def listing(side):
        return {str(p.relative_to(side.root)) for sub in SUBTREES if (side.root / sub).is_dir()
                for p in (side.root / sub).rglob("*") if p.is_file()}

    in_a, in_b = listing(a), listing(b)
    rows = {s: [] for s in SECTIONS}
    for rel in sorted(in_a | in_b):
        if rel not in in_b or rel not in in_a:
            rows[_section(rel)].append((rel, "DIFFERENT", [f"only in {'a' if rel in in_a else 'b'}"]))
            continue
        x, y = (normalise(rel, (s.root / rel).read_bytes(), s) for s in (a, b))
        if x == y:
            rows[_section(rel)].append((rel, "identical", []))
        elif isinstance(x, str) and isinstance(y, str):
            n, lx, ly = _first_difference(x, y)
            rows[_section(rel)].append((rel, "DIFFERENT", [f"a line {n}: {_clip(lx)}", f"b line {n}: {_clip(ly)}"]))
        else:
            rows[_section(rel)].append((rel, "DIFFERENT", [_binary_difference(x, y)]))

    print(f"a = {a.rev} ({a.sha[:12]}, kvt {a.version}), b = {b.rev} ({b.sha[:12]}, kvt {b.version}); "
          f"{len(COMMANDS)} commands each; {sys.executable}")
    width = max((len(r[0]) for section in rows.values() for r in section), default=10)
    total = same = 0
    for key, title in SECTIONS.items():
        section = rows[key]
        k = sum(status == "identical" for _, status, _ in section)
        print(f"\n== {title}: {len(section)} compared, {k} identical, {len(section) - k} differ")
        for rel, status, notes in section:
            print(f"{rel:<{width}}  {status}")
            for note in notes:
                print(f"{'':<{width}}    {note}")
        total, same = total + len(section), same + k

    print("\n== each revision on its own")
    failed = False
    for side in (a, b):
        tool = f"{side.maintainer_module}.write_generated_files" if side.maintainer_module else "maintainer tool"
        n_tool = len(side.maintainer_written)
        verdict = ("every table regenerates to data/ byte for byte" if not side.bundled_check
                   else f"{len(side.bundled_check)} problems")
        print(f"{side.label} ({side.sha[:9]}): bundled data: `kvt data generate` x {len(PAIRS)} and {tool} "
              f"({n_tool} files) vs data/: {verdict}; commands {side.seconds:.0f} s")
        for line in side.bundled_check:
            print(f"    {line}")
        for line in side.unexpected:
            print(f"    unexpected exit status: {line}")
        failed |= bool(side.bundled_check)
    print(f"total time {seconds:.0f} s")
    print(f"{total} files compared, {same} identical, {total - same} differ")
    return 0 if same == total and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
