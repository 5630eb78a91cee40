"""Every page of ``kvt app`` driven by Streamlit's AppTest: what the page shows is what the command prints.

The pages run in this process, so a test can change an optimizer's declaration and see the widget change,
and compare a run trained from the Train page with one ``kvt train`` trains from the command line the page
records (the weights are byte for byte the same: kvt trains a seed alike). A refusal in a page is the one
``Error:`` line the command prints for the same input. Small on purpose: 3 epochs of 8 units.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

import kvt.app
from conftest import error_line
from kvt.app import jobs
from kvt.cli import main
from kvt.optimizers import registry
from kvt.optimizers._common import BASE_ARGUMENTS, H, declare, positive_int, unit_interval

SCRIPT = Path(kvt.app.__file__).with_name("main.py")
KINDS = ("number_input", "checkbox", "text_input", "selectbox")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The folder the app (and the CLI beside it) writes in, for the whole module."""
    work = tmp_path_factory.mktemp("app")
    before = os.getcwd()
    os.chdir(work)
    yield work
    jobs.shutdown()  # the app's worker process
    os.chdir(before)


def page(name: str | None = None) -> AppTest:
    at = AppTest.from_file(str(SCRIPT), default_timeout=120)
    at.run()
    if name:
        at.sidebar.radio(key="page").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at: AppTest) -> list[str]:
    """The page's error boxes, each checked to be one ``Error:`` line."""
    assert not at.exception, [e.value for e in at.exception]
    shown = [e.value for e in at.error]
    assert all(line.startswith("Error: ") and "\n" not in line for line in shown), shown
    return shown


def cli(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="kvt")


def cli_error(*args: str) -> str:
    return error_line(cli(*args))


def widget(at: AppTest, key: str):
    for kind in KINDS:
        try:
            return getattr(at, kind)(key=key)
        except KeyError:
            continue
    raise KeyError(key)


def widget_keys(at: AppTest, prefix: str) -> set[str]:
    return {w.key for kind in KINDS for w in getattr(at, kind) if w.key and w.key.startswith(prefix)}


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def finish(at: AppTest, timeout: float = 300) -> jobs.Job:
    """Wait for the page's background job, then show its end."""
    job = jobs.active()
    assert job.wait(timeout), "the job did not end"
    at.run()
    return job


# ---------------------------------------------------------------- Data
def test_the_data_page_shows_a_pair_as_kvt_data_info_and_refuses_as_it_does(workdir):
    at = page()
    info = frame_with(at, "value")
    width = max(len(k) for k in info[""])
    printed = cli("data", "info", "--pair", "O2-Ar").stdout.splitlines()
    assert [f"{k:<{width}}  {v}" for k, v in zip(info[""], info["value"])] == printed
    assert len(frame_with(at, "k_m3_s")) == 35 * 15 and at.get("image")  # the table and its k(T)
    at.selectbox(key="data.process").set_value("vv").run()
    assert errors(at) == [cli_error("data", "info", "--pair", "O2-Ar", "--process", "vv")]
    at.selectbox(key="data.pair").set_value("O2-O2").run()
    assert errors(at) == [] and at.get("image") and "level_b" in frame_with(at, "k_m3_s").columns


def test_an_upload_is_read_as_a_table_kvt_reads_and_refused_in_the_cli_s_words(workdir, monkeypatch):
    table = cli("data", "generate", "--pair", "N2-N", "--levels", "1-3", "--temps", "500,1000").stdout.encode()
    at = page()
    at.radio(key="data.kind").set_value("your table").run()
    at.file_uploader[0].set_value(("mine.csv", table, "text/csv")).run()
    kept = Path(at.selectbox(key="data.kept").value)
    assert kept.parent.name == "uploads" and kept.read_bytes() == table
    info = frame_with(at, "value")
    assert list(info["value"]) == [line.split("  ", 1)[1].strip() for line in
                                   cli("data", "info", "--file", str(kept)).stdout.splitlines()]
    implausible = table.replace(b"e-", b"e+", 1)  # one rate far above any VT rate
    at.file_uploader[0].set_value(("bad.csv", implausible, "text/csv")).run()
    bad = Path(at.selectbox(key="data.kept").value)
    assert errors(at) == [cli_error("data", "info", "--file", str(bad))]
    at.checkbox(key="data.allow_implausible").check().run()
    assert errors(at) == []
    pickled = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02e."  # a pickle is not a table
    at.file_uploader[0].set_value(("x.pkl.csv", pickled, "text/csv")).run()
    assert errors(at) == [cli_error("data", "info", "--file", at.selectbox(key="data.kept").value)]
    monkeypatch.setattr("kvt.app.views.data.MAX_UPLOAD_MB", 1)
    at.file_uploader[0].set_value(("big.csv", table + b"#" * 2**20, "text/csv")).run()
    (line,) = errors(at)
    assert line.startswith("Error: big.csv: 1.0 MiB is more than the app takes (1 MiB)")
    assert not list(Path("uploads").glob("*big.csv"))


# ---------------------------------------------------------------- Train: widgets from declarations
def _check_declared(at, key, parameter, default):
    shown = widget(at, key)
    constraint = parameter.check.constraint
    assert shown.help.startswith(parameter.meaning), key
    if constraint.kind in ("number", "integer"):
        assert shown.value == default
        assert (shown.min, shown.max) == (constraint.low, constraint.high), key
    elif constraint.kind == "choice":
        assert shown.value == default and shown.options == constraint.choices()
    else:
        assert shown.value == ("" if default is None else str(default))


def test_every_optimizer_s_widgets_are_made_from_its_declaration(workdir):
    at = page("Train")
    for name in registry.names():
        at.selectbox(key="train.study.optimizer").set_value(name).run()
        entry = registry.entry(name)
        prefix = f"hp.study.{name}."
        assert widget_keys(at, prefix) == {prefix + key for key in entry.hyperparameter_names()}, name
        defaults = entry.resolved_defaults()
        for key in entry.hyperparameter_names():
            if entry.declaration is not None and key in entry.declaration.names:
                _check_declared(at, prefix + key, entry.declaration[key], defaults[key])
                continue
            shown = widget(at, prefix + key)
            value = defaults.get(key)
            assert shown.value == ("" if value is None else value), (name, key)
            assert ("keras.optimizers.Optimizer" in shown.help) == (key in BASE_ARGUMENTS)


def test_a_changed_declaration_changes_its_widget(workdir, monkeypatch):
    entry = registry.entry("adamod")
    changed = declare(*(H("beta_1", 0.8, unit_interval, "a changed meaning") if p.name == "beta_1" else p
                        for p in entry.declaration.parameters),
                      H("gamma", 3, positive_int, "a hyper-parameter added in the test"), study=("beta_1",))
    monkeypatch.setitem(registry._ENTRIES, "adamod", dataclasses.replace(entry, declaration=changed))
    at = page("Train")
    beta_1 = at.number_input(key="hp.study.adamod.beta_1")
    assert (beta_1.value, beta_1.min, beta_1.max) == (0.8, 0.0, 1.0)
    assert beta_1.help == "a changed meaning. Default 0.8; in [0, 1]."
    gamma = at.number_input(key="hp.study.adamod.gamma")
    assert (gamma.value, gamma.min, gamma.step) == (3, 1, 1) and gamma.help.startswith("a hyper-parameter added")


# ---------------------------------------------------------------- Train: a run equal to kvt train's
def _settings(at, **values):
    for key, value in values.items():
        widget(at, key).set_value(value)
    at.run()


@pytest.fixture(scope="module")
def trained(workdir):
    """A run trained from the Train page and the same run by `kvt train` from the command line it records."""
    at = page("Train")
    _settings(at, **{"train.study.optimizer": "adam"})
    _settings(at, **{"hp.study.adam.beta_1": 0.85, "train.study.epochs": 3, "train.study.units": 8,
                     "train.study.seed": 1, "train.out": "runs/from-app"})
    at.button(key="train.start").click().run()
    assert errors(at) == []
    shown = [c.value for c in at.code if c.value.startswith("kvt train ")]  # the page shows the command at once
    args = shlex.split(shown[0])[1:-2] + ["--out", "runs/from-cli"]
    # `kvt train` in a process of its own as a user types it, while the app trains in its worker
    cli_train = subprocess.Popen([sys.executable, "-m", "kvt.cli", *args], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    job = finish(at)
    stdout, stderr = cli_train.communicate(timeout=600)
    assert job.status == "done", job.error
    assert cli_train.returncode == 0, stderr
    command = json.loads(Path("runs/from-app/metadata.json").read_text())["command"]
    assert shlex.join(command) == shown[0] and ["--opt", "beta_1=0.85"] == command[8:10]
    return at, Path("runs/from-app"), Path("runs/from-cli"), stdout.splitlines()


def test_a_training_from_the_train_page_is_the_run_kvt_train_makes(trained):
    at, app_run, cli_run, printed = trained
    assert (app_run / "weights.json").read_bytes() == (cli_run / "weights.json").read_bytes()
    assert (app_run / "predictions.csv").read_bytes() == (cli_run / "predictions.csv").read_bytes()
    app_meta, cli_meta = (json.loads((run / "metadata.json").read_text()) for run in (app_run, cli_run))
    assert app_meta["options"] == cli_meta["options"] and app_meta["options"]["opt"] == {"beta_1": 0.85}
    history = [pd.read_csv(run / "history.csv").drop(columns="time_s") for run in (app_run, cli_run)]
    pd.testing.assert_frame_equal(*history)
    (summary,) = [c.value for c in at.code if c.value.startswith("run: ")]
    timeless = [line for line in printed if "training time" not in line]
    assert [line for line in summary.splitlines() if "training time" not in line][1:] == timeless[1:]
    assert at.success[0].value == f"wrote {app_run}"
    at.run()
    assert {str(app_run), str(cli_run)} == set(frame_with(at, "optimizer")["run"])  # the runs panel lists both


def test_a_bad_widget_value_or_a_taken_folder_is_the_cli_s_one_line(trained):
    at = page("Train")
    _settings(at, **{"hp.study.adamod.beta_1": 1.0})
    at.button(key="train.start").click().run()
    assert errors(at) == [cli_error("train", "--pair", "O2-Ar", "--optimizer", "adamod", "--opt", "beta_1=1.0")]
    assert at.number_input(key="hp.study.adamod.beta_1").value == 1.0  # nothing lost
    _settings(at, **{"hp.study.adamod.beta_1": 0.9, "train.out": "runs/from-app"})
    before = (Path("runs/from-app") / "weights.json").read_bytes()
    at.button(key="train.start").click().run()
    assert errors(at) == [cli_error("train", "--pair", "O2-Ar", "--out", "runs/from-app")]
    assert (Path("runs/from-app") / "weights.json").read_bytes() == before


def test_stop_ends_a_training_cleanly_and_keeps_the_run(trained):
    at = page("Train")
    _settings(at, **{"train.study.optimizer": "adam"})
    _settings(at, **{"train.study.epochs": 5000, "train.study.units": 8, "train.out": "runs/stopped"})
    at.button(key="train.start").click().run()
    job = jobs.active()
    while job.running and not job.snapshot()[2]:
        job.wait(0.2)
    at.run()
    assert at.button(key="train.start").disabled and at.get("image")  # no second training; the live loss curve
    at.button(key="train.stop").click().run()
    finish(at)
    stop = json.loads(Path("runs/stopped/metadata.json").read_text())["metrics"]["interrupted"]
    assert stop["phase"] == "training" and 1 <= stop["epoch"] < 5000
    assert at.success[0].value == "wrote runs/stopped (stopped: the run holds the best weights so far)"
    assert any(f"at epoch {stop['epoch']}, during training" in c.value for c in at.code)


# ---------------------------------------------------------------- Results
def test_the_results_page_shows_what_kvt_train_evaluate_and_relax_print(trained):
    _, app_run, cli_run, printed = trained
    at = page("Results")
    at.selectbox(key="results.run").set_value(str(cli_run)).run()
    assert [c.value for c in at.code][0].splitlines() == printed  # the summary kvt train printed, word for word
    assert len(at.get("image")) == 1 + 1 + 1  # k(T) of the default level, the history, the two runs compared
    at.multiselect(key="results.levels").set_value([5, 20, 32]).run()
    assert len(at.get("image")) == 3 + 1 + 1
    _settings(at, **{"results.evaluate.levels": "10-32", "results.evaluate.temps": "300:9000:100"})
    at.button(key="results.evaluate").click().run()
    evaluated = cli("evaluate", "--run", str(cli_run), "--levels", "10-32", "--temps", "300:9000:100", "--out",
                    "evaluation").stdout.splitlines()
    assert evaluated[:2] == at.code[1].value.splitlines() and len(at.get("image")) == 3 + 1 + 1 + 1
    at.button(key="results.relax").click().run()
    relaxed = cli("relax", "--run", str(cli_run), "--reference", "fho")
    if relaxed.exit_code:  # this network gives k <= 0 somewhere: kvt relax's refusal, word for word
        assert errors(at) == [error_line(relaxed)]
    else:
        assert at.code[2].value.splitlines() == relaxed.stdout.splitlines()[1:]
    at.multiselect(key="results.series").set_value(["mae", "val_log_cosh"]).run()
    assert errors(at) == [] and at.get("download_button")
    at.multiselect(key="results.compare").set_value([str(app_run), str(cli_run)]).run()
    side_by_side = frame_with(at, "validation MSE")
    assert list(side_by_side["run"]) == [str(app_run), str(cli_run)]
    assert side_by_side["validation MSE"].nunique() == 1  # the same run twice


def test_a_damaged_run_is_the_cli_s_one_line_in_the_results_and_use_pages(trained):
    _, app_run, _, _ = trained
    broken = Path("runs/broken")
    shutil.copytree(app_run, broken)
    (broken / "metadata.json").write_text("{ not json")
    try:
        line = cli_error("evaluate", "--run", str(broken))
        for name, key in (("Results", "results.run"), ("Use", "use.run")):
            at = page(name)
            at.selectbox(key=key).set_value(str(broken)).run()
            assert errors(at) == [line]
    finally:
        shutil.rmtree(broken)


# ---------------------------------------------------------------- Use
def test_the_use_page_predicts_as_kvt_predict_and_refuses_as_it_does(trained):
    import io

    _, _, cli_run, _ = trained
    at = page("Use")
    at.selectbox(key="use.run").set_value(str(cli_run)).run()
    _settings(at, **{"use.predict.levels": "5,30", "use.predict.temps": "1000,2000", "use.predict.direction": "both"})
    at.button(key="use.predict.go").click().run()
    args = ["predict", "--run", str(cli_run), "--levels", "5,30", "--temps", "1000,2000", "--direction", "both", "--csv"]
    printed = cli(*args)
    if printed.exit_code:  # k <= 0 there: the same refusal, then both print them with --allow-nonphysical
        assert errors(at) == [error_line(printed)]
        at.checkbox(key="use.predict.nonphysical").check().run()
        at.button(key="use.predict.go").click().run()
        printed = cli(*args, "--allow-nonphysical")
        assert [w.value for w in at.warning] == [line for line in printed.stderr.splitlines()
                                                 if line.startswith("Warning: ")]
    expected = pd.read_csv(io.StringIO(printed.stdout), comment="#")
    shown = frame_with(at, "level_from")
    assert list(shown.columns) == list(expected.columns) and len(shown) == len(expected) == 8
    np.testing.assert_allclose(shown.to_numpy(dtype=float), expected.to_numpy(dtype=float), rtol=1e-9)
    _settings(at, **{"use.predict.temps": "100,2000"})
    at.button(key="use.predict.go").click().run()
    assert errors(at) == [cli_error("predict", "--run", str(cli_run), "--levels", "5,30", "--temps", "100,2000",
                                    "--direction", "both")]


def _export_in_the_page(at, fmt: str, name: str, nonphysical: bool):
    at.selectbox(key="use.format").set_value(fmt).run()
    _settings(at, **{f"use.name.{fmt}": name})
    box = [c for c in at.checkbox if c.key == "use.export.nonphysical"]
    if box:
        box[0].set_value(nonphysical)
    at.button(key="use.export.go").click().run()


def test_every_export_format_of_the_registry_is_the_file_kvt_export_writes(trained):
    from kvt.exports import registry

    _, _, cli_run, _ = trained
    at = page("Use")
    at.selectbox(key="use.run").set_value(str(cli_run)).run()
    assert [o.split(":")[0] for o in at.selectbox(key="use.format").options] == list(registry.FORMATS)
    Path("cli").mkdir(exist_ok=True)
    for fmt in registry.FORMATS:
        name = f"exported-{fmt}.txt"
        args = ["export", "--run", str(cli_run), "--format", fmt, "-o", f"cli/{name}", "--force"]
        refused = cli(*args)
        _export_in_the_page(at, fmt, name, nonphysical=False)
        if refused.exit_code:  # k <= 0 somewhere: the same refusal, then both with --allow-nonphysical
            assert errors(at) == [error_line(refused)], fmt
            if not registry.FORMATS[fmt].can_be_nonphysical:
                continue
            assert cli(*args, "--allow-nonphysical").exit_code == 0
            _export_in_the_page(at, fmt, name, nonphysical=True)
        assert errors(at) == [], fmt
        made, text = at.session_state["use.file"][:2]
        assert made == name and text == Path(f"cli/{name}").read_text(), fmt
        assert at.get("download_button")[0].proto.label == f"Download {name}"
    at.selectbox(key="use.format").set_value("c-header").run()
    _settings(at, **{"use.tolerance.c-header": 1e-5})  # the registry's option checks: not with the network kernel
    at.button(key="use.export.go").click().run()
    assert errors(at) == [cli_error("export", "--run", str(cli_run), "--format", "c-header", "--tolerance", "1e-05",
                                    "-o", "x.h")]
    at.selectbox(key="use.format").set_value("csv").run()
    _settings(at, **{"use.export.temps": "250:20000:10"})
    at.button(key="use.export.go").click().run()
    assert errors(at) == [cli_error("export", "--run", str(cli_run), "--format", "csv", "--temps", "250:20000:10",
                                    "-o", "x.csv")]


def test_writing_an_export_on_the_server_follows_the_force_rules(trained):
    _, _, cli_run, _ = trained
    at = page("Use")
    at.selectbox(key="use.run").set_value(str(cli_run)).run()
    _export_in_the_page(at, "weights", "taken.json", nonphysical=True)
    assert errors(at) == []
    Path("taken.json").write_text("mine")
    at.button(key="use.save.go").click().run()
    assert errors(at) == [cli_error("export", "--run", str(cli_run), "--format", "weights", "-o", "taken.json")]
    assert Path("taken.json").read_text() == "mine"
    _settings(at, **{"use.save.path": str(cli_run / "weights.json"), "use.save.force": True})
    at.button(key="use.save.go").click().run()  # never over the run's own files, --force or not
    assert errors(at) == [cli_error("export", "--run", str(cli_run), "--format", "weights", "-o",
                                    str(cli_run / "weights.json"), "--force")]
    _settings(at, **{"use.save.path": "taken.json"})
    at.button(key="use.save.go").click().run()
    assert errors(at) == [] and Path("taken.json").read_text() == at.session_state["use.file"][1]


# ---------------------------------------------------------------- Compare optimizers
def test_the_compare_page_runs_kvt_bench_and_shows_its_tables_and_figures(workdir):
    at = page("Compare optimizers")
    _settings(at, **{"bench.out": "bench/small"})
    at.multiselect(key="bench.optimizers").set_value(["adam"]).run()
    at.multiselect(key="bench.pairs").set_value(["O2-Ar"]).run()
    at.button(key="bench.start").click().run()
    assert errors(at) == []
    job = finish(at)
    assert job.status == "done", job.error
    from kvt.bench.summary import short_summary
    from kvt.files import atomic

    assert atomic.kind_of("bench/small") == "bench"
    assert at.success[0].value == "done: benchmark bench/small"
    assert [c.value for c in at.code][-2:] == [short_summary(Path("bench/small"))] * 2  # the job's end, the folder
    assert job.snapshot()[:2] == (1, 1) and any(line.startswith("[1/1] O2-Ar adam seed 0") for line in job.log)
    summary = frame_with(at, "score_median")
    assert list(summary["optimizer"]) == ["adam"] and list(summary["pair"]) == ["O2-Ar"]
    assert {Path(i.proto.imgs[0].caption).name for i in at.get("image")} >= {"mse.png", "val_loss_O2-Ar.png"}
    at.button(key="bench.start").click().run()
    assert errors(at) == [cli_error("bench", "vt", "--protocol", "study", "--quick", "--optimizers", "adam",
                                    "--pairs", "O2-Ar", "--out", "bench/small")]
