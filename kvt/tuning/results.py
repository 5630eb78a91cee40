"""A search's results: the trial table (``trials.csv``, ``trials.md``), ``best.json`` and ``best_run/``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvt.errors import KvtError
from kvt.files import atomic
from kvt.training.config import TrainConfig
from kvt.tuning.config import BEST_FILE, BEST_RUN, TuneConfig


def trial_hyperparameters(values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A trial's optimizer and its hyper-parameters (in the optimizer's constructor order)."""
    from kvt import optimizers

    name = values.get("optimizer")
    prefix = f"{name}."
    hps = {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}
    try:
        order = optimizers.entry(name).hyperparameter_names()
    except KvtError:
        order = []
    return name, dict(sorted(hps.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def describe(values: dict[str, Any]) -> str:
    name, hps = trial_hyperparameters(values)
    parts = [f"{k}={_fmt(v)}" for k, v in hps.items()]
    if "tuner/epochs" in values:
        parts.append(f"epochs {values.get('tuner/initial_epoch', 0)}->{values['tuner/epochs']}")
    return f"{name} " + " ".join(parts)


def _fmt(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _literal(value) -> str:
    """A value as ``--opt`` / ``--lr`` text that parses back to exactly the same value."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def trial_table(oracle, objective: str):
    """One row per trial, in trial order."""
    import pandas as pd

    rows, keys = [], []
    for trial_id in sorted(oracle.trials, key=lambda t: (0, int(t), t) if str(t).isdigit() else (1, 0, str(t))):
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        name, hps = trial_hyperparameters(values)
        keys += [k for k in hps if k not in keys]
        attempts = getattr(oracle, "attempts", {}).get(trial_id, [])
        last = attempts[-1] if attempts else {}
        seconds = (last["ended"] - last["started"]) if last.get("ended") and last.get("started") else None
        completed = trial.status == "COMPLETED" and trial.score is not None
        rows.append({"trial": trial_id, "status": trial.status, "optimizer": name, **hps,
                     objective: trial.score if completed else None,
                     "best_epoch": trial.best_step + 1 if completed and trial.best_step is not None else None,
                     "epochs": values.get("tuner/epochs"), "from_trial": values.get("tuner/trial_id"),
                     "workers": " ".join(a["worker"] for a in attempts), "attempts": len(attempts),
                     "seconds": round(seconds, 2) if seconds is not None else None,
                     "message": _last_line(trial.message) if trial.status != "COMPLETED" else None})
    columns = ["trial", "status", "optimizer", *keys, objective, "best_epoch", "epochs", "from_trial", "workers",
               "attempts", "seconds", "message"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("epochs", "from_trial"):
        if frame[column].isna().all():
            frame = frame.drop(columns=column)
    return frame


def markdown_table(frame) -> str:
    def cell(value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.astype(object).itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def train_arguments(tune: TuneConfig, base: TrainConfig, optimizer: str, hparams: dict[str, Any],
                    dataset=None) -> list[str]:
    """The ``kvt train`` arguments that reproduce a trial (as its best run directory)."""
    from kvt.data.datasets import load_dataset

    dataset = dataset if dataset is not None else load_dataset(tune.data)
    args = ["--pair", dataset.pair] if dataset.pair else ["--data", str(tune.data)]
    if base.mode != "study":
        args += ["--mode", base.mode]
    args += ["--optimizer", optimizer]
    hparams = dict(hparams)
    if "learning_rate" in hparams:
        args += ["--lr", _literal(hparams.pop("learning_rate"))]
    for key, value in hparams.items():
        args += ["--opt", f"{key}={_literal(value)}"]
    from kvt.training.config import MODE_DEFAULTS

    if base.finish != MODE_DEFAULTS[base.mode]["finish"]:
        args += ["--finish", base.finish]
    args += ["--epochs", str(base.epochs), "--batch-size", str(base.batch_size),
             "--val-fraction", _literal(float(base.val_fraction)), "--patience", str(base.patience),
             "--units", str(base.units), "--seed", str(base.seed)]
    return args


@dataclass
class TuneOutcome:
    role: str  # "local", "chief" or "worker"
    out: Path
    trials: Any = None  # the trial table (DataFrame), chief/local only
    best: dict[str, Any] | None = None
    best_run: Path | None = None
    best_run_metrics: dict[str, Any] | None = None
    trials_run: int = 0
    tuner_id: str | None = None
    notes: list[str] = field(default_factory=list)


def _last_line(message) -> str | None:
    """The last non-blank line of a (possibly multi-line) message, at most 300 characters."""
    if not message:
        return None
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else None



def _write_results(tune: TuneConfig, base: TrainConfig, oracle, out: Path, command, role: str, stream,
                   quiet: bool, dataset=None, work: Path | None = None) -> TuneOutcome:
    work = work or out  # where the files go now; out is where they end up
    table = trial_table(oracle, tune.objective)
    atomic.write_text(work / "trials.csv", table.to_csv(index=False, float_format="%.6g", lineterminator="\n"),
                      force=True)
    atomic.write_text(work / "trials.md", markdown_table(table), force=True)
    outcome = TuneOutcome(role=role, out=out, trials=table)
    best_trials = [t for t in oracle.get_best_trials(1) if t.status == "COMPLETED" and t.score is not None]
    if not best_trials:
        raise KvtError(f"no trial completed ({len(table)} ran); see {out / 'trials.md'} for the reasons")
    best = best_trials[0]
    optimizer, hparams = trial_hyperparameters(best.hyperparameters.values)
    args = train_arguments(tune, base, optimizer, hparams, dataset)
    best_record = {"trial": best.trial_id, "objective": tune.objective, "score": best.score,
                   "best_epoch": best.best_step + 1, "optimizer": optimizer, "hyperparameters": hparams,
                   "kvt_train_args": args, "kvt_train": "kvt train " + " ".join(args) + f" --out {out / BEST_RUN}"}
    best_path = work / BEST_FILE
    try:
        previous = json.loads(best_path.read_text()) if best_path.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        previous = None  # rewritten below
    run_dir = work / BEST_RUN
    stale = previous is None or previous.get("kvt_train_args") != args or not (run_dir / "metadata.json").is_file()
    if stale:
        if not quiet:
            print(f"training the best trial ({best.trial_id}) as kvt train does, into {run_dir}", file=stream,
                  flush=True)
        from kvt.optimizers import parse_options
        from kvt.runs.folder import save_run
        from kvt.training.trainer import train

        lr = hparams.get("learning_rate")
        config = TrainConfig(data=tune.data, mode=base.mode, optimizer=optimizer, learning_rate=lr,
                             opt=parse_options([f"{k}={_literal(v)}" for k, v in hparams.items()
                                                if k != "learning_rate"]),
                             epochs=base.epochs, batch_size=base.batch_size, val_fraction=base.val_fraction,
                             patience=base.patience, units=base.units, seed=base.seed, finish=base.finish)
        result = train(config, dataset=dataset)
        save_run(result, run_dir, force=True, command=["kvt", "train", *args])
        outcome.best_run_metrics = result.metrics
    else:
        outcome.best_run_metrics = json.loads((run_dir / "metadata.json").read_text()).get("metrics")
    atomic.write_text(best_path, json.dumps(best_record, indent=2) + "\n", force=True)
    outcome.best, outcome.best_run = best_record, out / BEST_RUN
    return outcome
