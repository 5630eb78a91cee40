"""What ``--force`` may replace: refusals (exact ``Error:`` lines, nothing changed), same-kind
replacement, older runs without a marker, and left-over temporary files of killed runs."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys

import pandas as pd
import pytest

from conftest import error_line, snapshot
from kvt.files import atomic
from kvt.cli import main

TINY = ["--pair", "O2-Ar", "--epochs", "2", "--units", "4", "--quiet"]
MARKER = ".kvt-artifact.json"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny run directory (with its evaluation folder), shared by the tests."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("safety") / "run"
    result = CliRunner().invoke(main, ["train", *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["evaluate", "--run", str(out), "--levels", "1-3", "--temps", "300:1000:100"])
    assert result.exit_code == 0, result.output
    return out


def test_run_and_evaluation_carry_their_marker(run):
    marker = json.loads((run / MARKER).read_text())
    assert marker["kind"] == "run" and marker["kvt_version"] == "0.1.0" and marker["created"][:2] == "20"
    assert json.loads((run / "evaluation" / MARKER).read_text())["kind"] == "evaluation"


def test_force_onto_a_folder_kvt_did_not_write_is_refused(runner, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("my notes")
    (project / "data.csv").write_text("level,T_K,k_m3_s\n")
    before = snapshot(tmp_path)
    for extra in ([], ["--force"]):
        result = runner.invoke(main, ["train", *TINY, "--out", str(project), *extra])
        assert error_line(result) == (f"Error: will not replace {project}: kvt did not write it "
                                      f"(it has no .kvt-artifact.json); give a new or empty folder")
    for command in (["bench", "synthetic", "--quick"],
                    ["tune", "--pair", "O2-Ar", "--optimizer", "adam", "--max-trials", "1", "--epochs", "1"]):
        for extra in ([], ["--force"]):
            result = runner.invoke(main, [*command, "--out", str(project), *extra])
            assert error_line(result) == (f"Error: will not replace {project}: kvt did not write it "
                                          f"(it has no .kvt-artifact.json); give a new or empty folder"), command
    assert snapshot(tmp_path) == before


def test_force_onto_the_current_directory_or_an_ancestor_is_refused(runner, tmp_path, monkeypatch, run):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    shutil.copytree(run, work / "copy")  # a kvt run, so only the cwd rule can refuse
    shutil.copy(run / MARKER, work / MARKER)  # even a marked current directory is never replaced
    before = snapshot(tmp_path)
    monkeypatch.chdir(work)
    cases = [(".", "Error: will not replace .: it is the current directory"),
             ("..", "Error: will not replace ..: it holds the current directory"),
             (str(tmp_path), f"Error: will not replace {tmp_path}: it holds the current directory"),
             ("copy/..", "Error: will not replace copy/..: it is the current directory")]
    for out, message in cases:
        assert error_line(runner.invoke(main, ["train", *TINY, "--out", out, "--force"])) == message
    assert error_line(runner.invoke(main, ["bench", "synthetic", "--quick", "--out", ".", "--force"])) == (
        "Error: will not replace .: it is the current directory")
    assert snapshot(tmp_path) == before


def test_evaluate_onto_its_own_run_is_refused_and_never_advises_force(runner, run):
    before = snapshot(run)
    for extra in ([], ["--force"]):
        result = runner.invoke(main, ["evaluate", "--run", str(run), "--out", str(run), *extra])
        assert error_line(result) == f"Error: will not replace {run}: it is an input of this command"
    assert snapshot(run) == before


def test_force_onto_a_folder_of_another_kind_is_refused(runner, run, tmp_path):
    other = tmp_path / "other-run"
    shutil.copytree(run, other)
    before = snapshot(run), snapshot(other)
    result = runner.invoke(main, ["evaluate", "--run", str(run), "--levels", "1-3", "--temps", "300:1000:100",
                                  "--out", str(other), "--force"])
    assert error_line(result) == f"Error: will not replace {other}: it is a kvt run folder, not an evaluation folder"
    result = runner.invoke(main, ["train", *TINY, "--out", str(run / "evaluation"), "--force"])
    assert error_line(result) == (f"Error: will not replace {run / 'evaluation'}: it is a kvt evaluation folder, "
                                  f"not a run folder")
    assert (snapshot(run), snapshot(other)) == before


def test_force_onto_a_folder_holding_an_input_is_refused(runner, run, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(run, project)  # a kvt run ...
    data = project / "data.csv"
    result = runner.invoke(main, ["data", "generate", "--pair", "O2-Ar", "-o", str(data)])
    assert result.exit_code == 0, result.output  # ... that now holds the training data
    before = snapshot(tmp_path)
    result = runner.invoke(main, ["train", "--data", str(data), "--epochs", "2", "--quiet", "--out", str(project),
                                  "--force"])
    assert error_line(result) == f"Error: will not replace {project}: it holds {data}, an input of this command"
    assert snapshot(tmp_path) == before


def test_output_file_force_replaces_only_a_regular_file_that_is_no_input(runner, run, tmp_path):
    before = snapshot(run)
    for name in ("weights.json", "metadata.json", MARKER):
        result = runner.invoke(main, ["export", "--run", str(run), "--format", "weights", "-o", str(run / name),
                                      "--force"])
        assert error_line(result) == f"Error: will not replace {run / name}: it is an input of this command"
    result = runner.invoke(main, ["plot", "--run", str(run), "--level", "2", "-o", str(run / "predictions.csv"),
                                  "--force"])
    assert error_line(result) == (f"Error: -o {run / 'predictions.csv'}: kvt plot writes PNG images; give a file name "
                                  f"ending in .png")
    assert snapshot(run) == before
    link = tmp_path / "link.json"
    target = tmp_path / "precious.json"
    target.write_text("precious")
    link.symlink_to(target)
    result = runner.invoke(main, ["export", "--run", str(run), "--format", "weights", "-o", str(link), "--force"])
    assert error_line(result) == f"Error: will not replace {link}: it is a symbolic link"
    assert target.read_text() == "precious" and link.is_symlink()
    plain = tmp_path / "model.json"
    plain.write_text("old")
    result = runner.invoke(main, ["export", "--run", str(run), "--format", "weights", "-o", str(plain), "--force"])
    assert result.exit_code == 0, result.output
    assert json.loads(plain.read_text()) == json.loads((run / "weights.json").read_text())


def test_force_replaces_a_kvt_folder_of_the_same_kind(runner, run, tmp_path):
    evaluation = tmp_path / "eval"
    base = ["evaluate", "--run", str(run), "--temps", "300:1000:100", "--out", str(evaluation)]
    assert runner.invoke(main, [*base, "--levels", "1-3"]).exit_code == 0
    result = runner.invoke(main, [*base, "--levels", "1-5"])
    assert error_line(result) == f"Error: {evaluation} already exists; pass --force to overwrite it"
    assert len(pd.read_csv(evaluation / "per_level.csv")) == 3
    result = runner.invoke(main, [*base, "--levels", "1-5", "--force"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(evaluation / "per_level.csv")["level"].tolist() == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]  # no temporary folder left behind

    out = tmp_path / "run2"
    shutil.copytree(run, out)
    result = runner.invoke(main, ["train", *TINY, "--seed", "1", "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metadata.json").read_text())["options"]["seed"] == 1
    assert json.loads((out / MARKER).read_text())["kind"] == "run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval", "run2"]


def test_runs_of_older_versions_without_a_marker(runner, run, tmp_path):
    legacy = tmp_path / "legacy"
    shutil.copytree(run, legacy)
    (legacy / MARKER).unlink()
    shutil.rmtree(legacy / "evaluation")
    assert runner.invoke(main, ["predict", "--run", str(legacy), "--level", "2", "--temps", "1000", "--allow-nonphysical"]).exit_code == 0
    assert runner.invoke(main, ["export", "--run", str(legacy), "-o", str(tmp_path / "t.csv")]).exit_code == 0
    assert runner.invoke(main, ["plot", "--run", str(legacy), "--level", "2", "-o",
                                str(tmp_path / "k.png")]).exit_code == 0
    result = runner.invoke(main, ["evaluate", "--run", str(legacy), "--levels", "1-3", "--temps", "300:1000:100"])
    assert result.exit_code == 0, result.output
    assert atomic.kind_of(legacy) == "run" and atomic.kind_of(legacy / "evaluation") == "evaluation"

    mixed = tmp_path / "mixed"  # an old run plus a file kvt never writes: not recognisably kvt's
    shutil.copytree(legacy, mixed)
    (mixed / "notes.txt").write_text("mine")
    before = snapshot(mixed)
    result = runner.invoke(main, ["train", *TINY, "--out", str(mixed), "--force"])
    assert error_line(result) == (f"Error: will not replace {mixed}: kvt did not write it "
                                  f"(it has no .kvt-artifact.json); give a new or empty folder")
    assert snapshot(mixed) == before

    result = runner.invoke(main, ["train", *TINY, "--seed", "2", "--out", str(legacy), "--force"])
    assert result.exit_code == 0, result.output
    assert json.loads((legacy / MARKER).read_text())["kind"] == "run"
    assert json.loads((legacy / "metadata.json").read_text())["options"]["seed"] == 2


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_leftovers_of_killed_runs_are_cleaned_by_the_next_run_into_the_same_parent(runner, run, tmp_path):
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    dead = _dead_pid()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        killed_dir = tmp_path / f".run.kvt-{dead}-{host}-ab12cd34.tmp"
        shutil.copytree(run, killed_dir)  # a half-built run: kvt's (marker), its process gone
        killed_file = tmp_path / f".table.csv.kvt-{dead}-{host}-zz9.tmp"
        killed_file.write_text("half a table")
        moved = tmp_path / f".kept.kvt-{dead}-{host}-0f0f0f0f.old"  # a swap cut between its two renames
        shutil.copytree(run, moved)
        unmarked = tmp_path / f".x.kvt-{dead}-{host}-q1.tmp"  # no marker: not provably kvt's
        unmarked.mkdir()
        (unmarked / "something").write_text("?")
        running = tmp_path / f".run.kvt-{alive.pid}-{host}-r2.tmp"  # a run still in progress
        running.mkdir()
        other_host = tmp_path / f".run.kvt-{dead}-0000aaaa-h3.tmp"
        other_host.mkdir()
        (tmp_path / "mine.txt").write_text("untouched")
        kept_before = snapshot(moved)

        result = runner.invoke(main, ["export", "--run", str(run), "-o", str(tmp_path / "table.csv")])
        assert result.exit_code == 0, result.output
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == sorted(["kept", unmarked.name, running.name, other_host.name, "mine.txt", "table.csv"])
        assert snapshot(tmp_path / "kept") == kept_before
        assert f"Warning: left-over temporary folder {unmarked} holds no kvt marker; not removed" in result.stderr
        assert f"Warning: left-over temporary {other_host} is from another host; not removed" in result.stderr
    finally:
        alive.kill()
        alive.wait()


def test_rename_exchange_swaps_two_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b").mkdir()
    if not atomic._exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this kernel or file system has no renameat2(RENAME_EXCHANGE); the two-rename swap is used")
    assert (tmp_path / "b" / "x").read_text() == "a" and not any((tmp_path / "a").iterdir())


def test_swap_without_rename_exchange(monkeypatch, tmp_path):
    """Where the system cannot exchange two names, the two-rename swap gives the same result."""
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    target = tmp_path / "ev"
    with atomic.directory(target, "evaluation") as tmp:
        (tmp / "summary.json").write_text("1")
    with atomic.directory(target, "evaluation", force=True) as tmp:
        (tmp / "summary.json").write_text("2")
    assert (target / "summary.json").read_text() == "2" and sorted(p.name for p in tmp_path.iterdir()) == ["ev"]
    with pytest.raises(RuntimeError), atomic.directory(target, "evaluation", force=True) as tmp:
        (tmp / "summary.json").write_text("3")
        raise RuntimeError("failed half-way")
    assert (target / "summary.json").read_text() == "2" and sorted(p.name for p in tmp_path.iterdir()) == ["ev"]


def test_relax_is_a_known_kind(tmp_path):
    with atomic.directory(tmp_path / "relax", "relax") as tmp:
        (tmp / "result.csv").write_text("x\n")
    assert atomic.kind_of(tmp_path / "relax") == "relax"
    with pytest.raises(ValueError, match="unknown artifact kind 'relaxation'"):
        atomic.check(tmp_path / "relax", "relaxation")


def test_force_onto_a_link_or_a_file_is_refused(runner, run, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(run, target_is_directory=True)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    before = snapshot(tmp_path), snapshot(run)
    result = runner.invoke(main, ["train", *TINY, "--out", str(link), "--force"])
    assert error_line(result) == f"Error: will not replace {link}: it is a symbolic link"
    result = runner.invoke(main, ["evaluate", "--run", str(run), "--out", str(afile), "--force"])
    assert error_line(result) == f"Error: Invalid value for '--out': Directory '{afile}' is a file."
    assert (snapshot(tmp_path), snapshot(run)) == before


def test_plot_may_redraw_a_figure_of_its_run(runner, run):
    png = run / "k_level_3.png"
    assert runner.invoke(main, ["plot", "--run", str(run), "--level", "3"]).exit_code == 0
    first = png.stat().st_ino
    assert error_line(runner.invoke(main, ["plot", "--run", str(run), "--level", "3"])) == (
        f"Error: {png} already exists; pass --force to overwrite it")
    assert runner.invoke(main, ["plot", "--run", str(run), "--level", "3", "--force"]).exit_code == 0
    assert png.stat().st_ino != first and png.read_bytes()[:4] == b"\x89PNG"
    png.unlink()


def test_distributed_search_refuses_force_onto_an_existing_search(runner, tmp_path):
    out = tmp_path / "search"
    out.mkdir()
    (out / "tune.json").write_text(json.dumps({"kvt_tune": 1, "settings": {}}))  # an older kvt's search
    env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000", "KERASTUNER_TUNER_ID": "chief"}
    before = snapshot(out)
    result = runner.invoke(main, ["tune", *TINY, "--out", str(out), "--force"], env=env)
    assert error_line(result) == (f"Error: --force cannot replace {out} in a distributed search (the workers write "
                                  f"into it); give a new --out")
    result = runner.invoke(main, ["tune", *TINY, "--out", str(out)])
    assert error_line(result) == (f"Error: {out} already exists; pass --resume to continue its search or --force "
                                  f"to start over")
    assert snapshot(out) == before


def test_resume_refuses_a_folder_of_another_kind(runner, run, tmp_path):
    out = tmp_path / "bench"
    shutil.copytree(run, out)
    from kvt.bench import SyntheticSettings

    training = SyntheticSettings(optimizers="adam", quick=True).resolved().training()
    (out / "bench.json").write_text(json.dumps({"kind": "synthetic", "training": training}))
    before = snapshot(out)
    result = runner.invoke(main, ["bench", "synthetic", "--quick", "--optimizers", "adam", "--out", str(out),
                                  "--resume"])
    assert error_line(result) == f"Error: cannot resume {out}: it is a kvt run folder, not a bench folder"
    assert snapshot(out) == before


def test_committed_benchmarks_of_an_older_kvt_are_recognised():
    """benchmarks/results/ was written before markers existed: still kvt bench folders, so
    `kvt bench vt --out benchmarks/results/vt --force` may regenerate them."""
    from pathlib import Path

    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    assert atomic.kind_of(results / "vt") == "bench" and atomic.kind_of(results / "synthetic") == "bench"
    assert atomic.kind_of(results) is None  # it also holds SUMMARY.md


def test_force_onto_a_kvt_folder_holding_the_users_files_is_refused(runner, tmp_path):
    relax = tmp_path / "relax"
    assert runner.invoke(main, ["relax", "--pair", "O2-Ar", "--temps", "1000", "--out", str(relax)]).exit_code == 0
    (relax / "mynotes.txt").write_text("important")
    (relax / "sub").mkdir()
    (relax / "sub" / "data.txt").write_text("x")
    before = snapshot(tmp_path)
    result = runner.invoke(main, ["relax", "--pair", "O2-Ar", "--temps", "2000", "--out", str(relax), "--force"])
    assert error_line(result) == (f"Error: will not replace {relax}: it holds mynotes.txt, sub, which kvt did not "
                                  f"write; move them out or give a new folder")
    assert snapshot(tmp_path) == before
    (relax / "mynotes.txt").unlink()
    shutil.rmtree(relax / "sub")
    replaced = runner.invoke(main, ["relax", "--pair", "O2-Ar", "--temps", "2000", "--out", str(relax), "--force"])
    assert replaced.exit_code == 0, replaced.output


def test_force_onto_a_run_whose_evaluation_holds_the_users_files_is_refused(runner, run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "evaluation" / "mine.txt").write_text("my analysis")
    before = snapshot(tmp_path)
    result = runner.invoke(main, ["train", *TINY, "--out", str(copy), "--force"])
    assert error_line(result) == (f"Error: will not replace {copy}: it holds evaluation/mine.txt, which kvt did not "
                                  f"write; move them out or give a new folder")
    assert snapshot(tmp_path) == before


def test_another_kvt_folder_inside_a_run_is_the_users(runner, run, tmp_path):
    """Only the run's evaluation/ (kvt evaluate's default place) is kvt's own inside a run: a relax
    folder put there, or a run named evaluation/, holds the user's results and blocks --force."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert runner.invoke(main, ["relax", "--pair", "O2-Ar", "--temps", "1000", "--out", str(copy / "relax")]).exit_code == 0
    assert atomic.foreign_entries(copy, "run") == ["relax"]
    before = snapshot(tmp_path)
    assert error_line(runner.invoke(main, ["train", *TINY, "--out", str(copy), "--force"])) == (
        f"Error: will not replace {copy}: it holds relax, which kvt did not write; move them out or give a "
        f"new folder")
    assert snapshot(tmp_path) == before
    shutil.rmtree(copy / "relax")
    shutil.rmtree(copy / "evaluation")
    shutil.copytree(run, copy / "evaluation", ignore=shutil.ignore_patterns("evaluation"))
    assert atomic.kind_of(copy / "evaluation") == "run"
    assert atomic.foreign_entries(copy, "run") == ["evaluation"]
