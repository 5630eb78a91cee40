"""kvt tune: search spaces, quick searches with each algorithm, resume, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import error_line

from kvt import optimizers
from kvt.cli import main
from kvt.optimizers.search_spaces import SEARCH_SPACES, Choice, Fixed, Range, parse_override, parse_spec, space_for

QUICK = ["--pair", "O2-Ar", "--epochs", "3", "--units", "8", "--quiet"]


def test_search_spaces_cover_every_optimizer_and_bracket_its_defaults():
    assert set(SEARCH_SPACES) == set(optimizers.names())
    for name in optimizers.names():
        space = space_for(name)
        entry = optimizers.entry(name)
        assert isinstance(space["learning_rate"], Range) and space["learning_rate"].log, name
        assert len(space) >= 1
        defaults = entry.resolved_defaults()
        for key, spec in space.items():
            assert key in entry.hyperparameter_names(), (name, key)
            default = defaults[key]
            if isinstance(spec, Range):
                assert spec.low <= default <= spec.high, (name, key, default, spec)
            elif isinstance(spec, Choice):
                assert default in spec.values, (name, key, default, spec)


def test_space_grammar():
    assert parse_spec("1e-5:1e-1:log", "x") == Range(1e-5, 0.1, log=True)
    assert parse_spec("0.8:0.99", "x") == Range(0.8, 0.99, log=False)
    assert parse_spec("0.99,0.999,1", "x") == Choice((0.99, 0.999, 1.0))
    assert parse_spec("sgd,adam", "x") == Choice(("sgd", "adam"))
    assert parse_spec("true", "x") == Fixed(True)
    assert parse_override("lr=1e-4:1e-2:log") == (None, "learning_rate", Range(1e-4, 1e-2, log=True))
    assert parse_override("adam.beta_2=0.99,0.999") == ("adam", "beta_2", Choice((0.99, 0.999)))


def _trials(out):
    return pd.read_csv(out / "trials.csv", dtype={"trial": str})


@pytest.mark.parametrize("algorithm, optimizer", [("random", "adam"), ("hyperband", "adam,sgd"),
                                                  ("bayesian", "all")])
def test_quick_search_with_each_algorithm(runner, tmp_path, algorithm, optimizer):
    out = tmp_path / "search"
    result = runner.invoke(main, ["tune", *QUICK, "--optimizer", optimizer, "--algorithm", algorithm,
                                  "--max-trials", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    trials = _trials(out)
    assert len(trials) == 2 and trials["trial"].is_unique
    assert set(trials["status"]) == {"COMPLETED"}
    assert np.isfinite(trials["val_mse"]).all()
    best = json.loads((out / "best.json").read_text())
    assert best["score"] == pytest.approx(trials["val_mse"].min(), rel=1e-5)  # trials.csv has 6 digits
    assert best["kvt_train_args"][:2] == ["--pair", "O2-Ar"]
    assert best["optimizer"] in optimizers.names()
    if optimizer != "all":
        assert best["optimizer"] in optimizer.split(",")
    assert f"best trial {best['trial']}" in result.stdout and "kvt train --pair O2-Ar" in result.stdout
    meta = json.loads((out / "best_run" / "metadata.json").read_text())
    assert meta["options"]["optimizer"] == best["optimizer"]
    assert meta["command"][:2] == ["kvt", "train"]
    assert (out / "trials.md").read_text().startswith("| trial | status | optimizer |")
    assert (out / "search" / "oracle.json").is_file()


def test_best_arguments_reproduce_the_best_trial(runner, tmp_path):
    """The `kvt train` arguments in best.json train the best trial again, to the same score."""
    out = tmp_path / "search"
    result = runner.invoke(main, ["tune", *QUICK, "--optimizer", "adamod", "--max-trials", "2",
                                  "--space", "lr=1e-3:1e-2:log", "--out", str(out)])
    assert result.exit_code == 0, result.output
    best = json.loads((out / "best.json").read_text())
    assert "--lr" in best["kvt_train_args"]
    lr = float(best["kvt_train_args"][best["kvt_train_args"].index("--lr") + 1])
    assert 1e-3 <= lr <= 1e-2
    again = tmp_path / "again"
    retrain = runner.invoke(main, ["train", *best["kvt_train_args"], "--quiet", "--out", str(again)])
    assert retrain.exit_code == 0, retrain.output
    first = json.loads((out / "best_run" / "metadata.json").read_text())["metrics"]["val_mse_scaled"]
    second = json.loads((again / "metadata.json").read_text())["metrics"]["val_mse_scaled"]
    assert first == second
    assert second == pytest.approx(best["score"], rel=1e-4)  # the trial's own score (Keras's val_mse)


def test_interrupted_search_resumes_without_repeating_finished_trials(runner, tmp_path, monkeypatch):
    from kvt.training.loop import EpochLoop

    out = tmp_path / "search"
    args = ["tune", *QUICK, "--optimizer", "adam", "--out", str(out)]
    real_fit, calls = EpochLoop.fit, []

    def interrupted(*a, **k):  # Ctrl-C during the second trial
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_fit(*a, **k)

    monkeypatch.setattr(EpochLoop, "fit", interrupted)
    first = runner.invoke(main, [*args, "--max-trials", "3"])
    assert first.exit_code == 130
    assert error_line(first) == (f"Error: interrupted; the finished trials are kept in {out}: run the same command "
                                 f"with --resume to continue")
    assert not (out / "trials.csv").exists()
    monkeypatch.setattr(EpochLoop, "fit", real_fit)

    again = runner.invoke(main, [*args, "--max-trials", "3"])
    assert error_line(again) == f"Error: {out} already exists; pass --resume to continue its search or --force to start over"
    changed = runner.invoke(main, [*args, "--max-trials", "3", "--resume", "--units", "16"])
    assert error_line(changed) == (f"Error: cannot resume {out}: it was run with --units 8, not --units 16; "
                                   f"resume with the same options or start a new --out")

    resumed = runner.invoke(main, ["tune", *QUICK[:-1], "--optimizer", "adam", "--out", str(out),
                                   "--max-trials", "3", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    started = [line for line in resumed.stderr.splitlines() if line.startswith("trial ") and ":" in line
               and " completed" not in line]
    assert [line.split(":")[0] for line in started] == ["trial 1 (attempt 2)", "trial 2"]
    trials = _trials(out)
    assert list(trials["trial"]) == ["0", "1", "2"]
    assert set(trials["status"]) == {"COMPLETED"}
    assert list(trials["attempts"]) == [1, 2, 1]

    more = runner.invoke(main, [*args, "--max-trials", "4", "--resume"])
    assert more.exit_code == 0, more.output
    trials_after = _trials(out)
    assert len(trials_after) == 4 and trials_after["trial"].is_unique
    pd.testing.assert_frame_equal(trials_after.iloc[:3].drop(columns=["seconds"]),
                                  trials.drop(columns=["seconds"]), check_dtype=False)


@pytest.mark.parametrize("args, message", [
    (["--algorithm", "grid"], "Error: unknown algorithm 'grid'; valid algorithms: random, hyperband, bayesian"),
    (["--max-trials", "0"], "Error: --max-trials must be a positive integer, got 0"),
    (["--max-trials", "-3"], "Error: --max-trials must be a positive integer, got -3"),
    (["--space", "lr"], "Error: malformed --space 'lr'; use key=low:high:log, key=low:high or key=a,b,c"),
    (["--space", "lr=1e-5:"], "Error: malformed --space 'lr=1e-5:'; use key=low:high:log"),
    (["--space", "lr=0:1e-1:log"], "Error: malformed --space 'lr=0:1e-1:log': a log scale needs 0 < low, got 0"),
    (["--space", "lr=1e-1:1e-5"], "Error: malformed --space 'lr=1e-1:1e-5': the low end 0.1 must be below the high"),
    (["--space", "lr=1e-5:1e-1:cubic"], "Error: malformed --space 'lr=1e-5:1e-1:cubic'; use key=low:high:log"),
    (["--space", "beta_2=0.9,,0.99"], "Error: malformed --space 'beta_2=0.9,,0.99': empty choice"),
    (["--space", "betta=0.8:0.9"], "Error: --space 'betta=0.8:0.9': 'betta' is not a hyper-parameter of adamod; "
                                   "valid keys: learning_rate,"),
    (["--space", "beta_1=fast,slow"], "Error: --space 'beta_1=fast,slow': invalid value 'fast' for 'beta_1' of "
                                      "optimizer 'adamod'; expected a number"),
    (["--space", "adam.lr=1e-4:1e-2:log"], "Error: --space 'adam.lr=1e-4:1e-2:log' names optimizer 'adam', "
                                           "which is not searched (searched: adamod)"),
    (["--objective", "accuracy"], "Error: unknown objective 'accuracy'; valid objectives: val_mse,"),
    (["--optimizer", "adamm"], "Error: unknown optimizer 'adamm' (did you mean 'adam'?); valid names: "),
    (["--optimizer", "adam,,sgd"], "Error: malformed --optimizer 'adam,,sgd'; give a name, a comma-separated list "
                                   "or all"),
    (["--optimizer", "adam,all"], "Error: --optimizer 'adam,all': 'all' cannot be combined with other optimizer "
                                  "names"),
    (["--optimizer", "adam,Adam"], "Error: --optimizer 'adam,Adam' lists an optimizer twice"),
    (["--mode", "accurate"], "Error: objective val_mse needs a validation split; give --val-fraction"),
    (["--resume", "--force"], "Error: give --resume or --force, not both"),
    (["--max-trials", "many"], "Error: Invalid value for '--max-trials': 'many' is not a valid integer."),
])
def test_tune_bad_options(runner, tmp_path, args, message):
    out = tmp_path / "search"
    result = runner.invoke(main, ["tune", "--pair", "O2-Ar", "--epochs", "1", "--quiet", "--out", str(out), *args])
    assert error_line(result).startswith(message)
    assert not out.exists()


@pytest.mark.parametrize("env, message", [
    ({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"},
     "Error: KERASTUNER_ORACLE_IP is set but KERASTUNER_TUNER_ID is not"),
    ({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "http", "KERASTUNER_TUNER_ID": "chief"},
     "Error: KERASTUNER_ORACLE_PORT must be a port number 1-65535, got 'http'"),
    ({"KERASTUNER_ORACLE_PORT": "8000"}, "Error: KERASTUNER_ORACLE_PORT is set but KERASTUNER_ORACLE_IP is not"),
])
def test_tune_bad_distribution_variables(runner, tmp_path, env, message):
    out = tmp_path / "search"
    result = runner.invoke(main, ["tune", "--pair", "O2-Ar", "--quiet", "--out", str(out)], env=env)
    assert error_line(result).startswith(message)
    assert not out.exists()


@pytest.mark.parametrize("pair", ["N2-N", "NO-O2"])
def test_a_search_on_an_air_pair_records_its_bundled_file(pair):
    """Any of the 18 pairs: the settings record the pair and the sha256 of its bundled file (hashed here)."""
    import hashlib
    from pathlib import Path

    import kvt
    from kvt.data.datasets import load_dataset
    from kvt.tuning.config import TuneConfig, resolve_space, settings_record
    from kvt.tuning.results import train_arguments

    tune = TuneConfig(data=pair, optimizers=("adamod",)).validate()
    base = tune.train_config()
    dataset = load_dataset(tune.data)
    bundled = Path(kvt.__file__).resolve().parent.parent / "data" / f"{pair}.csv"
    assert dataset.sha256 == hashlib.sha256(bundled.read_bytes()).hexdigest()
    record = settings_record(tune, base, resolve_space(tune.optimizers, ()), dataset.sha256)
    assert record["data"] == pair and record["dataset_sha256"] == dataset.sha256
    args = train_arguments(tune, base, "adamod", {"learning_rate": 0.01}, dataset)
    assert args[:6] == ["--pair", pair, "--optimizer", "adamod", "--lr", "0.01"]
