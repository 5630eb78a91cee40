"""Faults: ``kvt train``, ``export``, ``bench`` and ``tune`` SIGKILLed in the middle of their writes.

Each killed command replaces (``--force``) an earlier artifact at the same path. The
kill comes from kvt's one test hook, ``KVT_TEST_KILL_AT=POINT[:N]`` (kvt/files/atomic.py):
the process SIGKILLs itself the N-th time it reaches POINT. After the kill the earlier
artifact must be byte for byte what it was (sha256 of every file), or, killed after
the swap, the new one must be complete; nothing half-written may sit at a visible
name, and the next kvt write into the same folder removes the temporary left-overs.
The earlier artifacts are made in-process (one TensorFlow import); the killed
commands run as subprocesses, one at a time, each with a timeout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import snapshot
from kvt.cli import main

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 180
TINY = ["--pair", "O2-Ar", "--epochs", "2", "--units", "4", "--quiet"]
MARKER = ".kvt-artifact.json"
TEMP = re.compile(r"^\..+\.kvt-\d+-[0-9a-f]{8}-[A-Za-z0-9_]+\.(tmp|old)$")
BENCH = ["bench", "synthetic", "--quick", "--optimizers", "adam"]
TUNE = ["tune", *TINY, "--optimizer", "adam", "--max-trials", "1"]


def invoke(args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def killed(args, point: str) -> int:
    """Run ``kvt ARGS`` in a subprocess that SIGKILLs itself at ``point``; return its pid."""
    env = dict(os.environ, KVT_TEST_KILL_AT=point, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen([sys.executable, "-c", "from kvt.cli import main; main()", *map(str, args)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"kvt {' '.join(map(str, args))} did not reach {point} within {TIMEOUT_S} s")
    assert process.returncode == -signal.SIGKILL, f"not killed at {point} (exit {process.returncode}): {err}"
    return process.pid


def visible(folder: Path) -> dict:
    """The snapshot of ``folder`` without kvt's hidden temporary entries (and what is in them)."""
    return {k: v for k, v in snapshot(folder).items() if not TEMP.match(Path(k).parts[0])}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP.match(p.name))


def clean_up_by_next_run(folder: Path, run: Path) -> None:
    """The next kvt write into ``folder`` (a cheap export) removes the killed runs' left-overs."""
    invoke(["export", "--run", run, "--levels", "1", "--temps", "1000", "--allow-nonphysical", "-o", folder / "next.csv"])
    assert leftovers(folder) == []
    (folder / "next.csv").unlink()


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """The earlier artifacts the killed commands replace: a run, a table, a benchmark, a search."""
    root = tmp_path_factory.mktemp("earlier")
    invoke(["train", *TINY, "--out", root / "run"])
    invoke(["export", "--run", root / "run", "--allow-nonphysical", "-o", root / "table.csv"])
    invoke([*BENCH, "--out", root / "bench"])
    invoke([*TUNE, "--out", root / "tune"])
    return root


@pytest.fixture
def place(earlier, tmp_path):
    """A copy of the earlier artifacts in this test's own folder."""
    for item in earlier.iterdir():
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp_path / item.name)
    return tmp_path


def test_train_killed_while_filling_its_folder_keeps_the_previous_run(place):
    before = snapshot(place)
    killed(["train", *TINY, "--seed", "1", "--out", place / "run", "--force"], "file-written:2")
    assert snapshot(place / "run") == {k[4:]: v for k, v in before.items() if k.startswith("run/")}
    assert visible(place) == before
    (half,) = leftovers(place)  # the half-built run exists only under its temporary name
    names = {p.name for p in (place / half).iterdir()}
    assert {"model.keras", "weights.json", "metadata.json", "predictions.csv", MARKER} <= names
    assert "relative_error.png" not in names
    clean_up_by_next_run(place, place / "run")
    assert snapshot(place) == before


def test_train_killed_right_after_the_swap_leaves_the_complete_new_run(place):
    before = snapshot(place)
    pid = killed(["train", *TINY, "--seed", "1", "--out", place / "run", "--force"], "dir-swapped")
    run = place / "run"
    assert json.loads((run / MARKER).read_text())["pid"] == pid
    assert json.loads((run / "metadata.json").read_text())["options"]["seed"] == 1
    assert {"model.keras", "weights.json", "scaler.json", "metadata.json", "history.csv", "predictions.csv",
            "k_level_32.png", "loss.png", "relative_error.png"} <= {p.name for p in run.iterdir()}
    (old,) = leftovers(place)  # the previous run, swapped out and not yet removed
    assert snapshot(place / old) == {k[4:]: v for k, v in before.items() if k.startswith("run/")}
    invoke(["predict", "--run", run, "--level", "32", "--temps", "1000", "--allow-nonphysical"])  # a 2-epoch net
    clean_up_by_next_run(place, run)
    assert {k: v for k, v in snapshot(place).items() if not k.startswith("run/")} == {
        k: v for k, v in before.items() if not k.startswith("run/")}


def test_export_killed_before_its_rename_keeps_the_previous_table(place):
    before = snapshot(place)
    killed(["export", "--run", place / "run", "--layout", "long", "--allow-nonphysical", "-o", place / "table.csv",
            "--force"],
           "file-written")
    assert visible(place) == before  # table.csv unchanged
    (first,) = leftovers(place)
    assert first.startswith(".table.csv.kvt-")
    killed(["export", "--run", place / "run", "--allow-nonphysical", "-o", place / "new.csv"], "file-written")
    assert visible(place) == before  # no new.csv
    (second,) = leftovers(place)  # the second export removed the first one's temporary file
    assert second.startswith(".new.csv.kvt-")
    clean_up_by_next_run(place, place / "run")
    assert snapshot(place) == before


def test_bench_killed_while_replacing_keeps_the_previous_benchmark(place):
    before = snapshot(place)
    killed([*BENCH, "--epochs", "2", "--out", place / "bench", "--force"], "file-written:3")
    assert visible(place) == before
    (partial,) = leftovers(place)
    assert (place / partial / "results.csv").is_file() and not (place / partial / "results.md").exists()
    clean_up_by_next_run(place, place / "run")
    assert snapshot(place) == before
    result = invoke([*BENCH, "--out", place / "bench", "--resume"])  # the kept benchmark still resumes
    assert "1 of 1 runs already done" in result.stderr


def test_tune_killed_before_its_swap_keeps_the_previous_search(place):
    before = snapshot(place)
    killed([*TUNE, "--seed", "1", "--out", place / "tune", "--force"], "file-written:3")
    assert visible(place) == before
    (partial,) = leftovers(place)  # the new search: its trial table written, its best run not yet
    assert (place / partial / "trials.csv").is_file() and not (place / partial / "best_run").exists()
    clean_up_by_next_run(place, place / "run")
    assert snapshot(place) == before
