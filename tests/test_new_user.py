"""What a new user meets: instant refusals with a suggestion, a Ctrl-C that keeps the work, a closed pipe that
ends quietly, seeds that train alike on any machine, and a summary that points the way.

The interrupt, pipe and reproducibility tests run ``kvt`` as a process, as a user's shell does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import error_line, kvt_in_one_process
from kvt.cli import main

KVT = [sys.executable, "-m", "kvt.cli"]


# ------------------------------------------------------------------ refusals: one line, a suggestion
@pytest.mark.parametrize("args, line", [
    (["train", "--pair", "O2-Ar", "--optimizer", "adamood"],
     "Error: unknown optimizer 'adamood' (did you mean 'adamod'?); valid names: adam, nadam, adamw, adamax, sgd, "
     "momentum, nesterov, adagrad, rmsprop, adadelta, lamb, lion, adamod, madgrad, radam, apollo, adahessian, lars, "
     "sam, shampoo, kfac"),
    (["train", "--pair", "O2-Ar", "--optimizer", "adam", "--opt", "beta1=0.8"],
     "Error: unknown hyper-parameter 'beta1' for optimizer 'adam' (did you mean 'beta_1'?); valid keys: "
     "learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, "
     "ema_momentum"),
    (["train", "--pair", "O2-Ar", "--mode", "acurate"],
     "Error: unknown mode 'acurate' (did you mean 'accurate'?); valid modes: study, accurate"),
    (["train", "--pair", "O2-Ar", "--schedule", "cosin"],
     "Error: unknown schedule 'cosin' (did you mean 'cosine'?); valid schedules: constant, cosine"),
    (["train", "--pair", "O2-Arr"],
     "Error: unknown partner 'Arr' in pair 'O2-Arr' (did you mean 'Ar'?); partners: O2, N2, NO, O, N, Ar"),
    (["data", "info", "--pair", "O22-Ar"],
     "Error: unknown molecule 'O22' in pair 'O22-Ar' (did you mean 'O2'?); molecules: O2, N2, NO"),
    (["optimizers", "madgard"],
     "Error: unknown optimizer 'madgard' (did you mean 'madgrad'?); valid names: adam, nadam, adamw, adamax, sgd, "
     "momentum, nesterov, adagrad, rmsprop, adadelta, lamb, lion, adamod, madgrad, radam, apollo, adahessian, lars, "
     "sam, shampoo, kfac"),
    (["bench", "vt", "--protocol", "tunned", "--out", "b"],
     "Error: unknown protocol 'tunned' (did you mean 'tuned'?); valid protocols: study, defaults, tuned"),
    (["data", "generate", "--pair", "O2-Ar", "--direction", "upp"],
     "Error: unknown direction 'upp' (did you mean 'up'?); valid directions: down, up, both"),
    (["relax", "--pair", "O2-Ar", "--reference", "fhoo"],
     "Error: unknown reference 'fhoo' (did you mean 'fho'?); valid references: fho"),
    (["predict", "--run", "nowhere", "--level", "3", "--temps", "1000-2000"],
     "Error: temperature '1000-2000' is not a number; a range is start:stop:step, e.g. "
     "1000:2000:100"),
    (["predict", "--run", "nowhere", "--level", "3", "--temps", "300,1000-2000"],
     "Error: temperature '1000-2000' in '300,1000-2000' is not a number; a range is start:stop:step, e.g. "
     "1000:2000:100"),
    (["export", "--run", "nowhere", "--format", "fortan", "-o", "x"],
     "Error: unknown format 'fortan' (did you mean 'fortran'?); valid formats: csv, weights, weights-text, "
     "c-header, fortran, fho-poly, cantera"),
])
def test_a_mistake_gets_one_line_with_what_was_meant(runner, tmp_path, args, line):
    with runner.isolated_filesystem(temp_dir=tmp_path):
        result = runner.invoke(main, args, prog_name="kvt")
    assert error_line(result) == line


def test_no_suggestion_when_nothing_is_close(runner):
    result = runner.invoke(main, ["train", "--pair", "O2-Ar", "--optimizer", "xyz"], prog_name="kvt")
    assert error_line(result).startswith("Error: unknown optimizer 'xyz'; valid names: adam,")


@pytest.mark.parametrize("typed", ["o2-ar", "O2-AR", "o2-Ar", " O2 - Ar "])
def test_a_pair_is_accepted_in_any_case(runner, typed):
    result = runner.invoke(main, ["data", "info", "--pair", typed], prog_name="kvt")
    assert result.exit_code == 0, result.output
    assert "O2-Ar" in result.stdout


def test_molecule_and_partner_names_in_any_case():
    from kvt.physics import species

    assert species.pair("no-n2").name == "NO-N2"
    assert species.pair("n2-no").name == "N2-NO"
    assert species.molecule("n2").name == "N2"
    with pytest.raises(Exception, match=r"the molecule comes first"):
        species.pair("ar-o2")


def test_every_refusal_is_given_before_tensorflow_is_imported(tmp_path):
    """Each refusal the benchmark times (benchmarks/refusal_speed.py) happens with TensorFlow still unimported:
    its import alone takes seconds, which is why a refusal after it was slow."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    try:
        from refusal_speed import refusals
    finally:
        sys.path.pop(0)
    cases = refusals(tmp_path)
    _, runs, _, stderr = kvt_in_one_process([args for _, args in cases], cwd=tmp_path)
    assert len(runs) == len(cases)
    for (label, _), (code, imported) in zip(cases, runs):
        assert code not in (0, None), f"{label}: not refused"
        assert imported == [], f"{label}: refused only after importing {imported}"
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == len(cases) and len(stderr.strip().splitlines()) == len(cases), stderr


def test_optimizer_details_need_no_tensorflow():
    names = ("adamod", "sam", "adahessian", "kfac", "adam", "lamb")
    _, runs, stdout, _ = kvt_in_one_process([["optimizers", name] for name in names])
    assert runs == [[0, []]] * len(names)
    assert "train step: SAM.train_step: Two forward/backward passes" in stdout


# ------------------------------------------------------------------ the summary points the way
def _result(mode, count, taus, data="O2-Ar"):
    metrics = {"nonphysical": {"count": count},
               "relaxation": {"temperatures": [{"T_K": t, "tau_rel_err": e} for t, e in taus]}}
    from kvt.physics.process import resolve

    dataset = SimpleNamespace(process=None if data.endswith(".csv") else resolve(data))
    return SimpleNamespace(metrics=metrics, config=SimpleNamespace(mode=mode, data=data), dataset=dataset)


def test_the_summary_says_what_k_below_zero_means_and_what_avoids_it():
    from kvt.cli.train import _advice

    line = _advice(_result("study", 2345, [(500, None), (1000, None), (5000, 0.3)]))
    assert line == ("Not fit for kinetics as it stands: k <= 0 at 2345 points of the dense grid, where a kinetics "
                    "code would get a zero or negative rate; no relaxation time at 500, 1000 K. --mode accurate "
                    "learns log k, which cannot give k <= 0: kvt train --pair O2-Ar --mode accurate.")
    assert _advice(_result("study", 5, [], data="my.csv")).endswith("kvt train --data my.csv --mode accurate.")
    assert _advice(_result("study", 0, [(500, 0.01)])) is None
    assert _advice(_result("accurate", 0, [(500, None)])).endswith("More epochs or another seed may avoid it.")


def test_temperature_spans_are_rounded_and_single_points_said_so():
    from kvt.kinetics.validity import describe_region, kelvin_span, region_clause

    assert kelvin_span(250.0, 445.489) == "250..445.5 K"
    assert kelvin_span(250.0, 250.0) == "250 K only"
    assert kelvin_span(250.0, 4180.0) == "250..4180 K"
    region = {"count": 3, "points": 100, "fraction": 0.03, "levels": "7", "T_K": [250.0, 250.0]}
    assert describe_region(region) == "3 of 100 points (3.0 %), level 7, 250 K only"
    assert region_clause({**region, "levels": "1-34", "T_K": [250.0, 4180.0]}) == \
        "k <= 0 (or not finite) at 3 of 100 points (levels 1-34 at 250..4180 K)"


# ------------------------------------------------------------------ Ctrl-C
class _Training:
    """``kvt train`` long enough to be interrupted, as a process whose stderr is collected as it comes."""

    def __init__(self, out: Path, cwd: Path):
        self.process = subprocess.Popen([*KVT, "train", "--pair", "O2-Ar", "--optimizer", "adam", "--epochs", "5000",
                                         "--patience", "5000", "--out", str(out)],
                                        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._stderr = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 180
        while "epoch" not in self.stderr:  # the progress line appears every 50 epochs: training has started
            assert self.process.poll() is None, f"kvt train ended early: {self.stderr}"
            assert time.monotonic() < deadline, "kvt train did not start training in 180 s"
            time.sleep(0.1)

    def _read(self):
        while chunk := os.read(self.process.stderr.fileno(), 4096):
            self._stderr.append(chunk)

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")

    def interrupt(self):
        self.process.send_signal(signal.SIGINT)

    def finish(self, timeout=300) -> tuple[int, str, str]:
        stdout = self.process.stdout.read().decode()
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.process.returncode, stdout, self.stderr


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A run stopped by one Ctrl-C: (exit status, stdout, stderr, its folder)."""
    work = tmp_path_factory.mktemp("interrupt")
    training = _Training(work / "run", work)
    training.interrupt()
    return (*training.finish(), work / "run")


def test_one_interrupt_writes_the_run_marked_interrupted(interrupted_run):
    code, stdout, stderr, run = interrupted_run
    assert code == 130, stderr
    assert "Interrupted: stopping at the end of this step" in stderr and "Error" not in stderr
    metadata = json.loads((run / "metadata.json").read_text())
    stop = metadata["metrics"]["interrupted"]
    assert stop["phase"] == "training" and 1 <= stop["epoch"] < 5000
    assert metadata["metrics"]["epochs_run"] == stop["epoch"]
    assert "interrupted (Ctrl-C)" in stdout and f"at epoch {stop['epoch']}, during training" in stdout
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 1 + stop["epoch"]  # every epoch trained, one row each
    for name in ("weights.json", "model.keras", "predictions.csv", "scaler.json", "loss.png"):
        assert (run / name).is_file(), name


def test_the_interrupted_run_restores_its_best_weights_and_predicts(interrupted_run):
    """The weights written are those of the best validation epoch (early stopping's restore, not the last
    epoch's), and they predict: `kvt predict` gives the TF-free network's k."""
    import io

    import numpy as np
    import pandas as pd

    from kvt.network.inference import Network

    _, _, _, run = interrupted_run
    metrics = json.loads((run / "metadata.json").read_text())["metrics"]
    history = pd.read_csv(run / "history.csv")
    best = int(history["val_loss"].idxmin())
    assert metrics["best_epoch"] == int(history["epoch"][best])
    # the written network's validation MSE (numpy, float64) is the best epoch's Keras val_loss (float32) ...
    assert metrics["val_mse_scaled"] == pytest.approx(history["val_loss"][best], rel=1e-4)
    if best != len(history) - 1:  # ... and not the last epoch's
        assert metrics["val_mse_scaled"] != pytest.approx(history["val_loss"].iloc[-1], rel=1e-4)
    done = subprocess.run([*KVT, "predict", "--run", str(run), "--levels", "1-35", "--temps", "1000,5000", "--csv",
                           "--allow-nonphysical"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(io.StringIO(done.stdout), comment="#")
    network = Network.load(run / "weights.json")
    np.testing.assert_allclose(table["k_m3_s"], network.predict_k(table["level"].to_numpy(), table["T_K"].to_numpy()),
                               rtol=1e-10)  # the CSV keeps 11 significant digits


def test_two_interrupts_abort_and_write_nothing(tmp_path):
    training = _Training(tmp_path / "run", tmp_path)
    training.interrupt()
    time.sleep(0.2)
    training.interrupt()
    code, _, stderr = training.finish(timeout=120)
    assert code == 130
    assert stderr.strip().splitlines()[-1] == "Error: interrupted; nothing more was written"
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no run folder, no temporary one


def test_a_closed_pipe_ends_quietly(interrupted_run):
    """`kvt predict ... | head -1`: kvt stops when its reader goes away, with no error line."""
    _, _, _, run = interrupted_run
    process = subprocess.Popen([*KVT, "predict", "--run", str(run), "--levels", "1-35", "--temps",
                                "250:10000:1", "--allow-nonphysical"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()  # what head does after its line
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert b"level" in first
    assert process.returncode == 128 + signal.SIGPIPE
    assert "Error" not in stderr and "Traceback" not in stderr and "Exception" not in stderr, stderr


# ------------------------------------------------------------------ the same seed, another machine
def test_a_seed_trains_alike_with_another_instruction_set_and_thread_count(tmp_path):
    """Two processes, one as kvt runs by default, one as on a machine with only AVX2 and a single thread: the
    same weights and history, bit for bit.

    On a processor with AVX-512 or AMX (this project's development machine has both) the two differed before kvt
    capped oneDNN's instruction set (kvt/__init__.py): validation losses 0.015 apart after 60 epochs.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "TF_NUM_INTRAOP_THREADS",
                                                               "TF_NUM_INTEROP_THREADS")}
    other = {**env, "ONEDNN_MAX_CPU_ISA": "AVX2", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    for name, environment in (("here", env), ("there", other)):
        done = subprocess.run([*KVT, "train", "--pair", "O2-Ar", "--optimizer", "adamod", "--epochs", "40",
                               "--out", str(tmp_path / name), "--quiet"], env=environment, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "here" / "weights.json").read_text() == (tmp_path / "there" / "weights.json").read_text()
    for name in ("loss", "val_loss"):
        import pandas as pd

        here, there = (pd.read_csv(tmp_path / n / "history.csv")[name] for n in ("here", "there"))
        assert (here == there).all(), name
    metadata = json.loads((tmp_path / "here" / "metadata.json").read_text())
    assert metadata["platform"]["onednn_max_cpu_isa"] == "AVX2"


# ------------------------------------------------------------------ bench and tune say how to continue
def test_an_interrupted_bench_says_resume_continues(runner, tmp_path, monkeypatch):
    from kvt.bench import benchmark

    def interrupted(settings, out, **kwargs):
        Path(out).mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(benchmark, "run_vt", interrupted)
    result = runner.invoke(main, ["bench", "vt", "--optimizers", "adam", "--quick", "--out", str(tmp_path / "b")],
                           prog_name="kvt")
    assert result.exit_code == 130
    assert error_line(result) == (f"Error: interrupted; the runs finished so far are kept in {tmp_path / 'b'}: run "
                                  f"the same command with --resume to continue")


def test_an_interrupted_tune_says_resume_continues(runner, tmp_path, monkeypatch):
    from kvt.tuning import command

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run", interrupted)
    result = runner.invoke(main, ["tune", "--pair", "O2-Ar", "--out", str(tmp_path / "t"), "--resume"],
                           prog_name="kvt")
    assert result.exit_code == 130
    assert error_line(result) == (f"Error: interrupted; the finished trials are kept in {tmp_path / 't'}: run the "
                                  f"same command again to continue")


# ------------------------------------------------------------------ optimizer classes read without importing them
def test_each_optimizer_class_read_from_its_source_matches_the_imported_class():
    """kvt.optimizers.source reads constructor arguments and train steps with ast; Python's inspect on the imported
    class is the reference (a Keras release that changes a signature makes this fail)."""
    import inspect

    from kvt import optimizers
    from kvt.network.protocol import describe
    from kvt.optimizers.source import read_class

    for name in optimizers.names():
        entry = optimizers.entry(name)
        source = read_class(entry.target)
        assert source is not None, name
        cls = entry.cls
        assert source.has_train_step == callable(getattr(cls, "train_step", None)), name
        assert entry.train_step_summary() == describe(cls), name
        if source.arguments is not None:
            params = inspect.signature(cls.__init__).parameters
            expected = {n: p.default for n, p in params.items()
                        if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            assert source.arguments == expected, name
    keras_entries = [n for n in optimizers.names() if optimizers.entry(n).target.startswith("keras.")]
    assert keras_entries and all(read_class(optimizers.entry(n).target).arguments for n in keras_entries)
