"""``kvt train`` and ``kvt tune``: train a network, search hyper-parameters.

The libraries are :mod:`kvt.training` and :mod:`kvt.tuning`; both commands read the dataset
from --pair or --data, declared once in :mod:`kvt.cli.options`.
"""

from __future__ import annotations

import sys

import click

from kvt.cli.options import option, resolve_process
from kvt.cli.quiet import quiet_tensorflow_import
from kvt.errors import KvtError


def _dataset_option(pair, process_kind, data_file, command, kinds=("vt",)):
    """The process of --pair/--process (resolved once), or None for --data; exactly one of --pair and --data;
    ``kinds``: the processes ``command`` learns."""
    if bool(pair) == bool(data_file):
        raise KvtError("give exactly one of --pair (MOLECULE-PARTNER, e.g. N2-N; see `kvt data pairs`) or "
                       "--data FILE")
    return resolve_process(pair, process_kind, kinds, command)


@click.command("train")
@option("pair")
@option("process")
@option("data")
@option("mode", "study: the original pipeline; accurate: log-space target, physical features, L-BFGS finish.")
@click.option("--optimizer", help="Optimizer name (see `kvt optimizers`) [default: adamod; accurate mode: adam].")
@click.option("--lr", type=float, help="Learning rate [default: the optimizer's; accurate mode: 1e-2].")
@click.option("--opt", "opts", multiple=True, metavar="KEY=VALUE", help="Optimizer hyper-parameter; repeatable.")
@option("epochs", "Maximum passes over the training rows [default: 1000; accurate: 2000].")
@option("batch-size", "Batch size [default: 32; accurate: 0 = full batch].")
@option("val-fraction", "Validation share of the rows [default: 0.2; accurate: 0].")
@option("patience", "Early stopping: epochs without a better validation loss [default: 100].")
@option("units", "Width of the hidden layers [default: 64; accurate: 32].")
@option("seed", "Random seed (split, init, shuffling).")
@click.option("--schedule", help="Learning-rate schedule: constant or cosine [default: constant; accurate: cosine].")
@click.option("--min-lr", type=float, help="Final learning rate of --schedule cosine [default: 0; accurate: 1e-5].")
@click.option("--finish", help="Second-order finish after training: none or lbfgs [default: none; accurate: lbfgs].")
@click.option("--finish-iterations", type=int, help="L-BFGS iterations of --finish lbfgs [default: accurate 1500].")
@click.option("--precision", help="float32 or float64 [default: float32; accurate: float64].")
@click.option("--strategy", default="default", show_default=True,
              help="tf.distribute strategy: default, mirrored (local devices) or multi-worker (TF_CONFIG; "
                   "see docs/scaling-out.md).")
@option("out", "Run directory [default: runs/<data>-<optimizer>-<time>].")
@option("force", "Replace an existing --out directory.")
@option("allow-implausible", "Accept a --data table whose k or T lie outside the plausibility bounds (see the "
                             "README's Data section).")
@option("quiet", "No progress bar.")
def train_command(pair, process_kind, data_file, mode, optimizer, lr, opts, epochs, batch_size, val_fraction, patience, units,
                  seed, schedule, min_lr, finish, finish_iterations, precision, strategy, out, force,
                  allow_implausible, quiet):
    """Train the network and write a run directory."""
    from kvt.files import atomic
    from kvt.optimizers import parse_options
    from kvt.training.config import TrainConfig

    # Everything the user typed is checked before TensorFlow's import (seconds), so a mistake fails at once:
    # the options, the optimizer and its hyper-parameters (read from the classes' sources), the output
    # folder, and the dataset itself (read and validated once, before training).
    process = _dataset_option(pair, process_kind, data_file, "kvt train", ("vt", "vv", "vv'"))
    typed = TrainConfig(data=process.name if process else data_file, mode=mode, optimizer=optimizer, learning_rate=lr,
                        opt=parse_options(opts), epochs=epochs, batch_size=batch_size,
                        val_fraction=val_fraction, patience=patience, units=units, seed=seed,
                        schedule=schedule, min_lr=min_lr, finish=finish, finish_iterations=finish_iterations,
                        precision=precision, strategy=strategy, allow_implausible=allow_implausible)
    config = typed.resolved(process)
    config.optimizer_hyperparameters()
    from kvt.training import distributed

    distributed.check_optimizer(config.strategy, config.optimizer)
    task = distributed.cluster_task(config.strategy)  # validates TF_CONFIG under multi-worker
    inputs = [data_file] if data_file else []
    if out:
        atomic.check(out, "run", force, inputs)
    from kvt.data.datasets import load_dataset

    dataset = load_dataset(process or data_file, config.allow_implausible, exchange_tables=True)
    if data_file:
        _check_table_process(data_file, dataset, process_kind)
    if dataset.process is not process:  # a --data table that names its process (a VV table): its defaults
        config = typed.resolved(dataset.process)
    quiet_tensorflow_import()
    from kvt.runs.folder import save_run
    from kvt.training.interrupt import GracefulInterrupt
    from kvt.training.trainer import train

    chief = task is None or task.is_chief
    with GracefulInterrupt() as interrupt:  # Ctrl-C once: stop and write the run; twice: abort, write nothing
        result = train(config, verbose=not quiet and chief, dataset=dataset, stop_requested=interrupt)
        interrupt.raise_if_aborted()  # a second Ctrl-C whose own exception a finaliser swallowed
        if not chief:
            _worker_summary(task, result)
            return
        path = save_run(result, out, force=force, command=["kvt", *sys.argv[1:]], inputs=inputs,
                        before_swap=interrupt.raise_if_aborted)
    _print_summary(result, path)
    if result.metrics.get("interrupted"):
        raise click.exceptions.Exit(130)  # the run is written; the status says the command did not finish


def _check_table_process(data_file, dataset, process_kind) -> None:
    """A --data table names its own process: a --process typed beside it that says otherwise is refused."""
    typed = click.get_current_context().get_parameter_source("process_kind")
    held = getattr(dataset.process, "kind", "vt")  # a VT table may name no pair
    if typed is not click.core.ParameterSource.DEFAULT and process_kind != held:
        raise KvtError(f"--process {process_kind} does not match {data_file}, a table of {held} rates; a --data "
                       f"table names its own process: leave --process out")


def _worker_summary(task, result):
    """Under multi-worker only the chief writes the run directory; a worker says what it trained."""
    distribution = result.metrics["distribution"]
    click.echo(f"{task.label}: trained with {distribution['workers']} workers; the chief writes the run directory")
    click.echo(f"  weights sha256 (the same on every worker)  {distribution['weights_sha256']}")


def _print_summary(result, path):
    from kvt.runs.summary import summary_lines

    process = result.dataset.process
    for line in summary_lines(path, result.metrics, result.config.mode, result.config.optimizer,
                              process.name if process else None, result.config.data,
                              process.kind if process else "vt"):
        click.echo(line)


def _advice(result) -> str | None:
    """The summary's last line when the network is not fit for a kinetics code (:func:`kvt.runs.summary.advice`)."""
    from kvt.runs.summary import advice

    process = result.dataset.process
    return advice(result.metrics, result.config.mode, process.name if process else None, result.config.data)


# ---------------------------------------------------------------- tune
@click.command("tune")
@option("pair")
@option("process", "Energy-exchange process of --pair: vt (kvt tune searches VT networks; kvt train learns vv and "
                   "vv' too).")
@option("data")
@click.option("--optimizer", "optimizer_spec", default="adamod", show_default=True,
              help="Optimizer to tune, a comma-separated list, or all (the optimizer becomes a searched choice).")
@click.option("--algorithm", default="random", show_default=True, help="random, hyperband or bayesian (Keras Tuner).")
@click.option("--max-trials", type=int, default=10, show_default=True, help="Trials to run (over resumes, in total).")
@click.option("--objective", default="val_mse", show_default=True,
              help="Minimised: val_mse, val_loss, val_mae, val_log_cosh, or the same without val_.")
@click.option("--space", "spaces", multiple=True, metavar="KEY=SPEC",
              help="Search-space override, repeatable: lr=1e-5:1e-1:log, beta_1=0.8:0.99, beta_2=0.99,0.999, "
                   "adam.beta_1=... for one optimizer.")
@option("mode", "Training pipeline of each trial: study or accurate.")
@option("epochs", "Maximum epochs per trial [default: the mode's].")
@option("batch-size", "Batch size [default: the mode's].")
@option("val-fraction", "Validation share of the rows [default: the mode's].")
@option("patience", "Early stopping patience [default: the mode's].")
@option("units", "Width of the hidden layers [default: the mode's].")
@option("seed", "Seed of every trial and of the search.")
@click.option("--retries", type=int, default=1, show_default=True,
              help="Re-runs of a crashed or abandoned trial before it is marked failed.")
@click.option("--worker-timeout", type=float, default=300.0, show_default=True,
              help="Distributed: seconds without news from a worker before its trial goes to another.")
@option("out", "Search directory.", required=True)
@option("resume", "Continue the search in --out (finished trials are not repeated).")
@option("force", "Delete an existing search in --out and start over.")
@option("quiet", "No per-trial progress lines.")
def tune_command(pair, process_kind, data_file, optimizer_spec, algorithm, max_trials, objective, spaces, mode, epochs, batch_size,
                 val_fraction, patience, units, seed, retries, worker_timeout, out, resume, force, quiet):
    """Search optimizers' hyper-parameters with Keras Tuner, alone or as chief/worker (KERASTUNER_* variables)."""
    if resume and force:
        raise KvtError("give --resume or --force, not both")
    # What the user typed is checked before TensorFlow's import: the dataset option, the settings, the
    # optimizers and their search spaces, the output folder.
    process = _dataset_option(pair, process_kind, data_file, "kvt tune")
    data = process.name if process else data_file
    from kvt.optimizers.selection import parse_optimizers
    from kvt.tuning.config import ALGORITHMS, TuneConfig, distributed_role, resolve_space
    from kvt.tuning.output import check_out

    config = TuneConfig(data=data, optimizers=(), algorithm=algorithm,
                        max_trials=max_trials, objective=objective, space=tuple(spaces), mode=mode,
                        epochs=epochs, batch_size=batch_size, val_fraction=val_fraction, patience=patience,
                        units=units, seed=seed, retries=retries, worker_timeout=worker_timeout)
    if algorithm not in ALGORITHMS:
        config.validate()  # the algorithm's error before the optimizers'
    config.optimizers = parse_optimizers(optimizer_spec, option="--optimizer")
    resolve_space(config.validate().optimizers, config.space)
    if distributed_role() != "worker":  # a worker writes into the chief's folder
        check_out(out, resume, force, [data_file] if data_file else [])
    quiet_tensorflow_import()
    from kvt.tuning.command import run

    from kvt.files import resumable

    with resumable.kept_on_interrupt(out, resume, "the finished trials"):
        outcome = run(config, out, resume=resume, force=force, quiet=quiet, command=["kvt", *sys.argv[1:]])
    if outcome.role == "worker":
        click.echo(f"{outcome.tuner_id}: ran {outcome.trials_run} trial(s); the chief writes the results")
        return
    table, best = outcome.trials, outcome.best
    counts = table["status"].value_counts()
    summary = ", ".join(f"{n} {status.lower()}" for status, n in counts.items())
    click.echo(f"search: {out}  ({algorithm}, {len(table)} trial{'s' * (len(table) != 1)}: {summary}; "
               f"objective {objective})")
    click.echo(f"best trial {best['trial']}: {objective} {best['score']:.4g} (epoch {best['best_epoch']})")
    click.echo(f"  kvt train {' '.join(best['kvt_train_args'])}")
    metrics = outcome.best_run_metrics or {}
    val = metrics.get("val_mse_scaled")
    click.echo(f"best run: {outcome.best_run}" + (f"  (validation MSE {val:.4g})" if val is not None else ""))
    click.echo(f"wrote trials.csv, trials.md, best.json in {out}", err=True)
