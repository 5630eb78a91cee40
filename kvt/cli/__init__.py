"""The ``kvt`` command line: a thin layer over the library.

Every failure prints exactly one ``Error: ...`` line on stderr and exits non-zero.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import click

from kvt import __version__
from kvt.errors import KvtError, KvtWarning
from kvt.data.grid import STUDY_TEMPERATURES, parse_levels, parse_temperatures

STUDY_TEMPS_SPEC = ",".join(str(t) for t in STUDY_TEMPERATURES)


class KvtGroup(click.Group):
    """A click group whose errors are one ``Error:`` line each (no usage block, no traceback)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # libraries' deprecation chatter is not for users
                warnings.simplefilter("always", KvtWarning)
                warnings.showwarning = _show_warning
                rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                  standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        except (click.ClickException, KvtError) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            click.echo(f"Error: {' '.join(message.split())}", err=True)
            sys.exit(getattr(exc, "exit_code", 1) or 1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def _quiet_tensorflow_import() -> None:
    """Import TensorFlow with file descriptor 2 pointed at /dev/null.

    TensorFlow's C++ start-up lines (CPU features, CUDA probing) are written before its
    logging is configured, so no environment variable silences them; real failures
    still surface as Python exceptions.
    """
    if "tensorflow" in sys.modules:
        return
    import os

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: F401
            import tensorflow

            tensorflow.config.list_physical_devices()  # the CUDA probe logs here, not later
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=KvtGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kvt")
def main():
    """Learn state-to-state VT rate coefficients k_VT(i -> i-1, T) of O2 with O2, O and Ar."""


# ---------------------------------------------------------------- data
@main.group()
def data():
    """Generate and inspect VT datasets."""


@data.command("generate")
@click.option("--pair", required=True, help="Collision pair: O2-O2, O2-O or O2-Ar.")
@click.option("--levels", "levels_spec", default="1-35", show_default=True,
              help="Upper levels i of i -> i-1: 32, 1-35, 1,2,5.")
@click.option("--temps", "temps_spec", default=STUDY_TEMPS_SPEC, show_default="the study's 15 temperatures",
              help="Temperatures in K: 250:10000:10 (start:stop:step) or 300,500,1000.")
@click.option("--direction", default="down", show_default=True,
              help="down: k(i -> i-1) (columns level,T_K,k_m3_s); up: k(i-1 -> i) by detailed balance; both. "
                   "up and both write columns level_from,level_to,T_K,k_m3_s.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output CSV (stdout if omitted).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def data_generate(pair, levels_spec, temps_spec, direction, output, force):
    """Compute an FHO-FR table (columns level,T_K,k_m3_s, or level_from,level_to,T_K,k_m3_s)."""
    from kvt.outputs import atomic
    from kvt.data import tables
    from kvt.data.datasets import generate, generated_header, to_csv_text
    from kvt.physics.fho import pair_partner

    pair_partner(pair)
    tables.check_direction(direction)
    levels, temps = parse_levels(levels_spec), parse_temperatures(temps_spec)
    if output:
        atomic.check(output, None, force)
    frame = generate(pair, levels, temps)
    if direction == "down":
        text = to_csv_text(frame)
    else:
        text = tables.format_table(tables.with_directions(frame, direction), "long", "m3/s",
                                   generated_header(pair, direction), float_format="%.17g")
    if output:
        atomic.write_text(output, text, force=force)
        rows = len(frame) * (2 if direction == "both" else 1)
        click.echo(f"wrote {rows} rows to {output}", err=True)
    else:
        click.echo(text, nl=False)


@data.command("info")
@click.option("--pair", help="A bundled pair: O2-O2, O2-O or O2-Ar.")
@click.option("--file", "path", type=click.Path(dir_okay=False),
              help="A table in any layout kvt writes (long or wide, m^3/s or cm^3/s, either direction).")
@click.option("--allow-implausible", is_flag=True, help="Accept k or T outside the plausibility bounds.")
def data_info(pair, path, allow_implausible):
    """Summarise a bundled dataset or a table (read back to level,T_K,k_m3_s)."""
    from kvt.data.datasets import describe, load_dataset

    if bool(pair) == bool(path):
        raise KvtError("give exactly one of --pair or --file")
    if pair:
        from kvt.physics.fho import pair_partner

        pair_partner(pair)
    summary = describe(load_dataset(pair or path, allow_implausible=allow_implausible))
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        click.echo(f"{key:<{width}}  {value}")


# ---------------------------------------------------------------- optimizers
@main.command("optimizers")
@click.argument("name", required=False)
def optimizers_command(name):
    """List the optimizers, or show one in full."""
    from kvt import optimizers  # the registry's declarative part: no TensorFlow

    if name is None:
        for entry_name in optimizers.names():
            entry = optimizers.entry(entry_name)
            defaults = ", ".join(f"{k}={v}" for k, v in entry.defaults.items())
            click.echo(f"{entry_name:<11} {entry.description}")
            click.echo(f"{'':<11}   defaults: {defaults}")
        return
    entry = optimizers.entry(name)
    _quiet_tensorflow_import()  # the class tells whether it has its own train step
    click.echo(f"{entry.name}: {entry.description}")
    click.echo(f"class: {entry.class_path}")
    if entry.train_step:
        from kvt.optimizers.protocol import describe

        click.echo(f"train step: {describe(entry.cls)}")
    click.echo("hyper-parameters (--opt key=value; --lr sets learning_rate):")
    declared = entry.declaration.defaults if entry.declaration else {}
    for key, value in entry.resolved_defaults().items():
        marker = "  (kvt default)" if key in entry.defaults else ""
        click.echo(f"  {key:<24} {value!r}{marker}")
        if key in declared:
            click.echo(f"  {'':<24} {entry.declaration[key].meaning}")
    if entry.notes:
        click.echo(f"notes: {entry.notes}")


# ---------------------------------------------------------------- train
def _dataset_option(pair, data_file):
    if bool(pair) == bool(data_file):
        raise KvtError("give exactly one of --pair (O2-O2, O2-O, O2-Ar) or --data FILE")
    if pair:
        from kvt.physics.fho import pair_partner

        pair_partner(pair)
    return pair or data_file


@main.command("train")
@click.option("--pair", help="Bundled dataset: O2-O2, O2-O or O2-Ar.")
@click.option("--data", "data_file", type=click.Path(dir_okay=False), help="Your own CSV (level,T_K,k_m3_s).")
@click.option("--mode", default="study", show_default=True,
              help="study: the original pipeline; accurate: log-space target, physical features, L-BFGS finish.")
@click.option("--optimizer", help="Optimizer name (see `kvt optimizers`) [default: adamod; accurate mode: adam].")
@click.option("--lr", type=float, help="Learning rate [default: the optimizer's; accurate mode: 1e-2].")
@click.option("--opt", "opts", multiple=True, metavar="KEY=VALUE", help="Optimizer hyper-parameter; repeatable.")
@click.option("--epochs", type=int, help="Maximum passes over the training rows [default: 1000; accurate: 2000].")
@click.option("--batch-size", type=int, help="Batch size [default: 32; accurate: 0 = full batch].")
@click.option("--val-fraction", type=float, help="Validation share of the rows [default: 0.2; accurate: 0].")
@click.option("--patience", type=int, help="Early stopping: epochs without a better validation loss [default: 100].")
@click.option("--units", type=int, help="Width of the hidden layers [default: 64; accurate: 32].")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (split, init, shuffling).")
@click.option("--schedule", help="Learning-rate schedule: constant or cosine [default: constant; accurate: cosine].")
@click.option("--min-lr", type=float, help="Final learning rate of --schedule cosine [default: 0; accurate: 1e-5].")
@click.option("--finish", help="Second-order finish after training: none or lbfgs [default: none; accurate: lbfgs].")
@click.option("--finish-iterations", type=int, help="L-BFGS iterations of --finish lbfgs [default: accurate 1500].")
@click.option("--precision", help="float32 or float64 [default: float32; accurate: float64].")
@click.option("--strategy", default="default", show_default=True,
              help="tf.distribute strategy: default, mirrored (local devices) or multi-worker (TF_CONFIG; "
                   "see docs/scaling-out.md).")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory [default: runs/<data>-<optimizer>-<time>].")
@click.option("--force", is_flag=True, help="Replace an existing --out directory.")
@click.option("--allow-implausible", is_flag=True, help="Accept a --data table whose k or T lie outside the "
                                                     "plausibility bounds (see the README's Data section).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_command(pair, data_file, mode, optimizer, lr, opts, epochs, batch_size, val_fraction, patience, units,
                  seed, schedule, min_lr, finish, finish_iterations, precision, strategy, out, force,
                  allow_implausible, quiet):
    """Train the network and write a run directory."""
    from kvt.outputs import atomic
    from kvt.optimizers import parse_options
    from kvt.training.trainer import TrainConfig

    # Options that need no TensorFlow are checked before its import (seconds), so a typo fails at once.
    config = TrainConfig(data=_dataset_option(pair, data_file), mode=mode, optimizer=optimizer, learning_rate=lr,
                         opt=parse_options(opts), epochs=epochs, batch_size=batch_size,
                         val_fraction=val_fraction, patience=patience, units=units, seed=seed,
                         schedule=schedule, min_lr=min_lr, finish=finish, finish_iterations=finish_iterations,
                         precision=precision, strategy=strategy, allow_implausible=allow_implausible).resolved()
    _quiet_tensorflow_import()
    config.optimizer_hyperparameters()
    from kvt.training import distributed

    distributed.check_optimizer(config.strategy, config.optimizer)
    task = distributed.cluster_task(config.strategy)  # validates TF_CONFIG under multi-worker
    inputs = [data_file] if data_file else []
    if out:
        atomic.check(out, "run", force, inputs)

    from kvt.data.datasets import load_dataset
    from kvt.outputs.rundir import save_run
    from kvt.training.trainer import train

    dataset = load_dataset(config.data, config.allow_implausible)  # read and validated once, before training
    chief = task is None or task.is_chief
    result = train(config, verbose=not quiet and chief, dataset=dataset)
    if not chief:  # under multi-worker only the chief writes the run directory
        distribution = result.metrics["distribution"]
        click.echo(f"{task.label}: trained with {distribution['workers']} workers; the chief writes the run "
                   f"directory")
        click.echo(f"  weights sha256 (the same on every worker)  {distribution['weights_sha256']}")
        return
    path = save_run(result, out, force=force, command=["kvt", *sys.argv[1:]], inputs=inputs)
    _print_summary(result, path)


def _print_summary(result, path):
    m = result.metrics

    def fmt(value, spec=".4g"):
        return "n/a" if value is None else format(value, spec)

    rows = [("validation MSE (scaled target)", fmt(m["val_mse_scaled"])),
            ("training MSE (scaled target)", fmt(m["train_mse_scaled"])),
            ("MAE, m^3/s (validation)", fmt(m["val"]["mae_m3_s"] if m["val"] else None)),
            ("relative error median / p95 / max (dataset rows)",
             f"{m['all']['rel_err_median']:.3g} / {m['all']['rel_err_p95']:.3g} / {m['all']['rel_err_max']:.3g}")]
    if "dense_grid" in m:
        dense = m["dense_grid"]
        rows.append((f"relative error median / p95 / max (FHO-FR, {dense['grid']['points']} points)",
                     f"{dense['overall']['median']:.3g} / {dense['overall']['p95']:.3g} / "
                     f"{dense['overall']['max']:.3g}"))
    if "nonphysical" in m:
        from kvt.kinetics.validity import describe_region

        region = m["nonphysical"]
        grid = region["grid"]
        rows.append((f"k <= 0 on the dense grid (levels {grid['levels'][0]}..{grid['levels'][1]}, "
                     f"{grid['T_K'][0]:g}..{grid['T_K'][1]:g} K every {grid['T_step_K']:g} K)",
                     describe_region(region)))
    relaxation = m.get("relaxation")
    if relaxation and "temperatures" in relaxation:
        cells = [f"{row['T_K']:g} K {100 * row['tau_rel_err']:+.2f} %" if row["tau_rel_err"] is not None
                 else f"{row['T_K']:g} K n/a (k <= 0)" for row in relaxation["temperatures"]]
        rows.append((f"relaxation time vs FHO-FR (heat bath, T_v0 {relaxation['tv0_K']:g} K)", ", ".join(cells)))
    elif relaxation:
        rows.append(("relaxation time vs FHO-FR", f"not checked: {relaxation['skipped']}"))
    rows.append(("epochs (best)", f"{m['epochs_run']} ({m['best_epoch']})"))
    if m.get("finish"):
        rows.append(("L-BFGS finish: iterations, MSE", f"{m['finish']['iterations']}, "
                                                       f"{m['finish']['initial_mse']:.3g} -> {m['finish']['final_mse']:.3g}"))
    rows.append(("training time, s", f"{m['wall_time_s']:.2f}"))
    if m.get("distribution"):
        dist = m["distribution"]
        rows.append(("strategy: replicas, workers", f"{dist['strategy']}: {dist['replicas']}, {dist['workers']}"))
        rows.append(("weights sha256 (the same on every worker)", dist["weights_sha256"]))
    width = max(len(name) for name, _ in rows)
    click.echo(f"run: {path}  (mode {result.config.mode}, optimizer {result.config.optimizer})")
    for name, value in rows:
        click.echo(f"  {name:<{width}}  {value}")


# ---------------------------------------------------------------- tune
@main.command("tune")
@click.option("--pair", help="Bundled dataset: O2-O2, O2-O or O2-Ar.")
@click.option("--data", "data_file", type=click.Path(dir_okay=False), help="Your own CSV (level,T_K,k_m3_s).")
@click.option("--optimizer", "optimizer_spec", default="adamod", show_default=True,
              help="Optimizer to tune, a comma-separated list, or all (the optimizer becomes a searched choice).")
@click.option("--algorithm", default="random", show_default=True, help="random, hyperband or bayesian (Keras Tuner).")
@click.option("--max-trials", type=int, default=10, show_default=True, help="Trials to run (over resumes, in total).")
@click.option("--objective", default="val_mse", show_default=True,
              help="Minimised: val_mse, val_loss, val_mae, val_log_cosh, or the same without val_.")
@click.option("--space", "spaces", multiple=True, metavar="KEY=SPEC",
              help="Search-space override, repeatable: lr=1e-5:1e-1:log, beta_1=0.8:0.99, beta_2=0.99,0.999, "
                   "adam.beta_1=... for one optimizer.")
@click.option("--mode", default="study", show_default=True, help="Training pipeline of each trial: study or accurate.")
@click.option("--epochs", type=int, help="Maximum epochs per trial [default: the mode's].")
@click.option("--batch-size", type=int, help="Batch size [default: the mode's].")
@click.option("--val-fraction", type=float, help="Validation share of the rows [default: the mode's].")
@click.option("--patience", type=int, help="Early stopping patience [default: the mode's].")
@click.option("--units", type=int, help="Width of the hidden layers [default: the mode's].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every trial and of the search.")
@click.option("--retries", type=int, default=1, show_default=True,
              help="Re-runs of a crashed or abandoned trial before it is marked failed.")
@click.option("--worker-timeout", type=float, default=300.0, show_default=True,
              help="Distributed: seconds without news from a worker before its trial goes to another.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Search directory.")
@click.option("--resume", is_flag=True, help="Continue the search in --out (finished trials are not repeated).")
@click.option("--force", is_flag=True, help="Delete an existing search in --out and start over.")
@click.option("--quiet", is_flag=True, help="No per-trial progress lines.")
def tune_command(pair, data_file, optimizer_spec, algorithm, max_trials, objective, spaces, mode, epochs, batch_size,
                 val_fraction, patience, units, seed, retries, worker_timeout, out, resume, force, quiet):
    """Search optimizers' hyper-parameters with Keras Tuner, alone or as chief/worker (KERASTUNER_* variables)."""
    if resume and force:
        raise KvtError("give --resume or --force, not both")
    _quiet_tensorflow_import()
    from kvt import tuning

    config = tuning.TuneConfig(data=_dataset_option(pair, data_file), optimizers=(), algorithm=algorithm,
                               max_trials=max_trials, objective=objective, space=tuple(spaces), mode=mode,
                               epochs=epochs, batch_size=batch_size, val_fraction=val_fraction, patience=patience,
                               units=units, seed=seed, retries=retries, worker_timeout=worker_timeout)
    if algorithm not in tuning.ALGORITHMS:
        config.validate()  # the algorithm's error before the optimizers'
    config.optimizers = tuning.parse_optimizers(optimizer_spec)
    outcome = tuning.run(config, out, resume=resume, force=force, quiet=quiet, command=["kvt", *sys.argv[1:]])
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


# ---------------------------------------------------------------- predict / export / plot
def _levels(level, levels_spec, default=None):
    if level is not None and levels_spec is not None:
        raise KvtError("give --level or --levels, not both")
    if level is not None:
        return parse_levels(str(level))
    if levels_spec is not None:
        return parse_levels(levels_spec)
    if default is None:
        raise KvtError("give --level N or --levels SPEC (e.g. 1-35)")
    return list(default)


def _run_grid(run, levels_spec, temps_spec):
    """--levels/--temps, defaulting to the run's trained levels and every 10 K of its trained range."""
    from kvt.kinetics.validity import dense_temperatures

    lo, hi = run.level_range
    levels = parse_levels(levels_spec) if levels_spec else list(range(lo, hi + 1))
    temps = parse_temperatures(temps_spec) if temps_spec else dense_temperatures(*run.temperature_range)
    return levels, temps


def reference_pair(run, pair):
    """The FHO-FR pair to compare ``run`` with: ``pair`` for a run on a user table, else the run's own."""
    from kvt.physics.fho import pair_partner

    trained = (run.metadata or {}).get("dataset", {}).get("pair")
    if pair:
        pair_partner(pair)
        if trained and pair != trained:
            raise KvtError(f"--pair {pair} differs from the pair the run was trained on ({trained}); --pair names "
                           f"the reference only for runs trained on a user table")
    return pair or trained


def _load_run(run_dir):
    from kvt.outputs.rundir import open_run

    return open_run(run_dir)


@main.command("predict")
@click.option("--run", "run_dir", type=click.Path(), help="Run directory from `kvt train`.")
@click.option("--weights", "weights_file", type=click.Path(dir_okay=False),
              help="A weights file from `kvt export --format weights` (instead of --run).")
@click.option("--level", type=str, help="One upper level i (transition i -> i-1).")
@click.option("--levels", "levels_spec", help="Levels: 1-35, 1,2,5.")
@click.option("--temps", "temps_spec", required=True, help="Temperatures in K: 1000,2000 or 250:10000:50.")
@click.option("--direction", default="down", show_default=True,
              help="down: k(i -> i-1); up: k(i-1 -> i) by detailed balance; both.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV output instead of a table.")
@click.option("--allow-extrapolation", is_flag=True, help="Predict outside the trained range (with a warning).")
@click.option("--allow-nonphysical", is_flag=True, help="Print rates <= 0 instead of refusing (with a warning).")
def predict_command(run_dir, weights_file, level, levels_spec, temps_spec, direction, as_csv, allow_extrapolation,
                    allow_nonphysical):
    """Print k_VT in m^3/s predicted by a trained network (numpy only, no TensorFlow)."""
    from kvt.data import tables
    import numpy as np

    from kvt.outputs.predict import check_rates, iter_chunks, iter_table, rows

    tables.check_direction(direction)
    if bool(run_dir) == bool(weights_file):
        raise KvtError("give exactly one of --run DIR or --weights FILE")
    levels = _levels(level, levels_spec)
    temps = parse_temperatures(temps_spec)
    if weights_file:
        from kvt.outputs.rundir import open_weights

        run = open_weights(weights_file)
    else:
        run = _load_run(run_dir)
    check_rates(run, levels, temps, allow_extrapolation, allow_nonphysical, action="print them")
    if as_csv:
        for chunk in iter_table(run, levels, temps, "long", "m3/s", direction):
            click.echo(chunk, nl=False)
        return
    click.echo(f"{'level':>5}  {'transition':>10}  {'T, K':>9}  {'k_VT, m^3/s':>14}")
    for block_levels, block_temps in iter_chunks(levels, temps):
        table = rows(run, block_levels, block_temps, direction)
        upper = np.maximum(table["level_from"], table["level_to"])
        lines = [f"{u:>5}  {f'{a}->{b}':>10}  {t:>9g}  {k:>14.6e}" for u, a, b, t, k in
                 zip(upper, table["level_from"], table["level_to"], table["T_K"], table["k_m3_s"])]
        click.echo("\n".join(lines))


EXPORT_FORMATS = ("csv", "weights", "weights-text", "c-header", "fortran", "fho-poly")


@main.command("export")
@click.option("--run", "run_dir", required=True, type=click.Path(), help="Run directory from `kvt train`.")
@click.option("--format", "fmt", default="csv", show_default=True,
              help="csv: a k_VT table; weights: the network as JSON; weights-text: plain text for examples/kvt_eval.c; "
                   "c-header: a C99 header; fortran: a Fortran 2008 module; fho-poly: per-transition fits in the "
                   "SPbU solver's form (docs/solver-exports.md).")
@click.option("--levels", "levels_spec", help="csv: levels [default: the run's trained levels].")
@click.option("--temps", "temps_spec", help="csv: temperatures in K [default: every 10 K of the run's trained range].")
@click.option("--layout", default="wide", show_default=True, help="csv: wide (a column per transition) or long.")
@click.option("--units", default="m3/s", show_default=True, help="csv: m3/s or cm3/s.")
@click.option("--direction", default="down", show_default=True,
              help="csv: down (k(i -> i-1)), up (k(i-1 -> i), by detailed balance) or both.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output file.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--allow-extrapolation", is_flag=True, help="csv: export outside the trained range (with a warning).")
@click.option("--prefix", help="c-header, fortran: C identifier of the function and macros (<prefix>_rates) "
                               "[default: kvt].")
@click.option("--allow-nonphysical", is_flag=True,
              help="csv, c-header, fortran: write rates <= 0 (or a network that gives them) instead of refusing; "
                   "the file's header says so.")
def export_command(run_dir, fmt, levels_spec, temps_spec, layout, units, direction, output, force,
                   allow_extrapolation, prefix, allow_nonphysical):
    """Write a k_VT table for a CFD code, the network's weights, or solver code (C, Fortran, FHO-poly)."""
    from kvt.outputs import atomic
    from kvt.data import tables
    from kvt.outputs.predict import LAYOUTS, UNITS, iter_export
    from kvt.outputs.solver_export import SOLVER_FORMATS, check_prefix, export_text

    if fmt not in EXPORT_FORMATS:
        raise KvtError(f"unknown format '{fmt}'; valid formats: {', '.join(EXPORT_FORMATS)}")
    if prefix is not None and fmt not in ("c-header", "fortran"):
        raise KvtError(f"--prefix applies to --format c-header and fortran, not {fmt}")
    if fmt in ("c-header", "fortran"):
        check_prefix("kvt" if prefix is None else prefix, fortran=fmt == "fortran")
    if layout not in LAYOUTS:
        raise KvtError(f"unknown layout '{layout}'; valid layouts: {', '.join(LAYOUTS)}")
    if units not in UNITS:
        raise KvtError(f"unknown units '{units}'; valid units: {', '.join(UNITS)}")
    tables.check_direction(direction)
    if fmt != "csv" and (levels_spec or temps_spec or layout != "wide" or units != "m3/s" or direction != "down"):
        raise KvtError(f"--levels, --temps, --layout, --units and --direction apply to --format csv, not {fmt} "
                       f"(which covers the run's whole trained range)")
    from kvt.outputs.rundir import input_files

    inputs = input_files(run_dir)
    atomic.check(output, None, force, inputs)
    run = _load_run(run_dir)
    levels, temps = _run_grid(run, levels_spec, temps_spec)
    if fmt in ("weights", "weights-text") and not allow_nonphysical:
        from kvt.kinetics.validity import dense_grid_region, refusal_message

        region = dense_grid_region(run.network)
        if region["count"]:
            raise KvtError(refusal_message(region, "export the network"))
    if fmt == "weights":
        atomic.write_text(output, json.dumps(run.network.spec, indent=1), force=force, inputs=inputs)
        click.echo(f"wrote the network of {run_dir} to {output}", err=True)
        return
    if fmt in SOLVER_FORMATS:
        text, report = export_text(run, fmt, prefix="kvt" if prefix is None else prefix,
                                   allow_nonphysical=allow_nonphysical)
        atomic.write_text(output, text, force=force, inputs=inputs)
        for line in report:
            click.echo(line)
        click.echo(f"wrote the network of {run_dir} as {fmt} to {output}", err=True)
        return
    if fmt == "weights-text":
        from kvt.outputs.inference import to_text

        atomic.write_text(output, to_text(run.network.spec), force=force, inputs=inputs)
        click.echo(f"wrote the network of {run_dir} as plain text to {output}", err=True)
        return
    chunks = iter_export(run, levels, temps, layout, units, allow_extrapolation, direction, allow_nonphysical)
    atomic.write_text(output, chunks, force=force, inputs=inputs)
    click.echo(f"wrote {len(levels)} levels x {len(temps)} temperatures ({layout}, {units}, {direction}) to {output}",
               err=True)


@main.command("evaluate")
@click.option("--run", "run_dir", required=True, type=click.Path(), help="Run directory from `kvt train`.")
@click.option("--levels", "levels_spec", help="Levels [default: the run's trained levels].")
@click.option("--temps", "temps_spec", help="Temperatures in K [default: every 10 K of the run's trained range].")
@click.option("--pair", help="FHO-FR reference pair, for runs trained on a user CSV [default: the run's].")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the results [default: RUN/evaluation].")
@click.option("--force", is_flag=True, help="Replace an existing results folder.")
@click.option("--allow-extrapolation", is_flag=True,
              help="Also evaluate outside the trained level/temperature range (with a warning).")
def evaluate_command(run_dir, levels_spec, temps_spec, pair, out, force, allow_extrapolation):
    """Compare a run with the FHO-FR generator on a dense (level, T) grid."""
    from kvt.outputs import atomic
    from kvt.outputs import plots
    from kvt.outputs.evaluate import NO_REFERENCE, evaluate_network, json_summary

    run = _load_run(run_dir)
    levels, temps = _run_grid(run, levels_spec, temps_spec)
    pair = reference_pair(run, pair)
    if pair is None:
        raise KvtError(NO_REFERENCE)
    out = Path(out) if out else Path(run_dir) / "evaluation"
    atomic.check(out, "evaluation", force, inputs=[run_dir])
    from kvt.outputs.predict import check_range

    check_range(run, levels, temps, allow_extrapolation)
    evaluation = evaluate_network(run.network, pair, levels, temps)
    summary = json_summary(evaluation)
    summary["trained_range"] = {"level": list(run.level_range), "T_K": list(run.temperature_range)}
    summary["extrapolation_allowed"] = bool(allow_extrapolation)
    with atomic.directory(out, "evaluation", force=force, inputs=[run_dir]) as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        evaluation["per_level"].to_csv(tmp / "per_level.csv", index=False, float_format="%.6e")
        evaluation["table"].to_csv(tmp / "grid.csv", index=False, float_format="%.10e")
        plots.save_figure(plots.error_figure(evaluation["table"], run.metadata,
                                             title="relative error vs FHO-FR"), tmp / "relative_error.png")
    overall, worst, grid = evaluation["overall"], evaluation["worst"], evaluation["grid"]
    click.echo(f"{run.label} ({run.metadata['options'].get('mode', 'study')} mode): {grid['n_levels']} levels x "
               f"{grid['n_T']} temperatures = {grid['points']} points vs FHO-FR")
    click.echo(f"relative error: median {overall['median']:.3e}  p95 {overall['p95']:.3e}  max {overall['max']:.3e}"
               f"  (worst: level {worst['level']}, {worst['T_K']:g} K)")
    click.echo(f"{'level':>5}  {'median':>10}  {'p95':>10}  {'max':>10}")
    for row in evaluation["per_level"].itertuples(index=False):
        click.echo(f"{row.level:>5}  {row.median:>10.3e}  {row.p95:>10.3e}  {row.max:>10.3e}")
    click.echo(f"saved summary.json, per_level.csv, grid.csv, relative_error.png in {out}", err=True)


@main.command("plot")
@click.option("--run", "run_dir", required=True, type=click.Path(), help="Run directory from `kvt train`.")
@click.option("--level", required=True, type=str, help="Upper level i of the transition i -> i-1.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="PNG file [default: RUN/k_level_<i>.png].")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def plot_command(run_dir, level, output, force):
    """Plot k_VT(T) of one transition: data points and the network's curve."""
    from kvt.outputs import atomic
    from kvt.outputs import plots

    levels = parse_levels(level)
    if len(levels) != 1:
        raise KvtError("--level takes one level, e.g. --level 32")
    (level,) = levels
    if output and Path(output).suffix.lower() != ".png":
        raise KvtError(f"-o {output}: kvt plot writes PNG images; give a file name ending in .png")
    run = _load_run(run_dir)
    lo, hi = run.level_range
    if not lo <= level <= hi:
        raise KvtError(f"level {level} is outside the trained levels {lo}..{hi}")
    path = Path(output) if output else Path(run_dir) / f"k_level_{level}.png"
    from kvt.outputs.rundir import input_files

    atomic.check(path, None, force, input_files(run_dir))
    plots.save_figure(plots.level_figure(run, level), path, force=force)
    click.echo(f"wrote {path}", err=True)


from kvt.cli.bench import bench  # noqa: E402
from kvt.cli.relax import relax  # noqa: E402

main.add_command(bench)
main.add_command(relax)

if __name__ == "__main__":
    main()
