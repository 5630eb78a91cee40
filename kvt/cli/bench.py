"""``kvt bench``: reproduce the study's optimizer comparison (library: :mod:`kvt.bench`).

The library validates the settings and the output folder before any training; its
:class:`kvt.KvtError` is what ``kvt``'s group prints as one ``Error:`` line.
"""

from __future__ import annotations

from pathlib import Path

import click

from kvt.cli.options import PAIRS_ACCEPTED, option
from kvt.cli.quiet import quiet_tensorflow_import
from kvt.files import resumable


def _log(message: str) -> None:
    click.echo(message, err=True)


@click.group("bench")
def bench():
    """Benchmark the optimizers as the study did (VT pairs, synthetic test)."""


@bench.command("vt")
@click.option("--protocol", default="defaults", show_default=True, metavar="study|defaults|tuned",
              help="study: the study's budget (30 epochs, no early stopping, registry defaults, 5 seeds); "
                   "defaults: up to 1000 epochs with early stopping (patience 100), registry defaults, 3 seeds; "
                   "tuned: a random search of --trials per optimizer and pair with --held-out temperatures "
                   "never seen, then 5 seeds of the best (60 epochs, patience 20).")
@click.option("--pairs", default="O2-O2,O2-O,O2-Ar", show_default=True,
              help=f"Comma-separated collision pairs, each {PAIRS_ACCEPTED}.")
@option("optimizers", "'all' (every registry name) or a comma-separated list, e.g. adamod,lars.")
@option("repeats", "Seeds per optimizer and pair (N: seeds 0 to N-1) [default: the protocol's: study 5, "
                   "defaults 3, tuned 5; --quick: 1, tuned 2].")
@click.option("--trials", type=int, help="Search trials per optimizer and pair (--protocol tuned) "
                                         "[default: 16; --quick: 2].")
@click.option("--held-out", "held_out", metavar="K,K,...",
              help="Temperatures (K) held out of the search and the training and scored after "
                   "(--protocol tuned) [default: 750,2500,7000].")
@option("quick", "Reduced run for tests: 3 epochs, 8 units, 1 seed (tuned: 2 seeds, 2 trials).")
@click.option("--target-mse", type=float, default=0.004, show_default=True,
              help="Time to result: steps and seconds until the validation MSE (scaled target) first reaches "
                   "this value (0.004: the study's best).")
@click.option("--rel-target", type=float, default=0.05, show_default=True,
              help="Time to result: steps and seconds until the median relative error against FHO-FR (every "
                   "level, every 50 K) first reaches this value.")
@option("epochs", "Maximum epochs per run [default: the protocol's: study 30, defaults 1000, tuned 60; "
                  "--quick: 3].")
@option("units", "Hidden-layer width [default: 64; --quick: 8].")
@option("patience", "Early-stopping patience [default: defaults 100, tuned 20; study: no early stopping].")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Processes that run the optimizer x pair cells side by side, each with its share of the "
                   "CPU cores.")
@option("out", "Output folder.", required=True)
@option("force", "Replace an existing output folder.")
@option("resume", "Continue an interrupted benchmark: skip the runs in results.csv.")
def bench_vt(protocol, pairs, optimizers_spec, repeats, trials, held_out, quick, target_mse, rel_target, epochs,
             units, patience, workers, out, force, resume):
    """Train every optimizer on every pair (the study's Table 3) and write results, statistics and figures."""
    from kvt.bench.settings import VTSettings

    held = None
    if held_out is not None:
        from kvt.bench.tuned import parse_held_out

        held = parse_held_out(held_out)
    settings = VTSettings(pairs=pairs, optimizers=optimizers_spec, protocol=protocol, repeats=repeats,
                          quick=quick, epochs=epochs, units=units, patience=patience, target_mse=target_mse,
                          rel_target=rel_target, trials=trials, held_out=held, workers=workers)
    _run_benchmark("vt", settings, out, force, resume)


@bench.command("synthetic")
@option("optimizers", "'all' (every registry name) or a comma-separated list.")
@option("repeats", "Seeds per optimizer [default: 3; --quick: 1].")
@option("quick", "Reduced run for tests: 1000 rows, 3 epochs, 8 units, 1 repeat.")
@click.option("--rows", type=int, help="Rows of the synthetic data [default: the study's 10000; --quick: 1000].")
@option("epochs", "Maximum epochs [default: 100; --quick: 3].")
@option("units", "Width of every Dense layer [default: 32; --quick: 8].")
@option("out", "Output folder.", required=True)
@option("force", "Replace an existing output folder.")
@option("resume", "Continue an interrupted benchmark: skip the runs in results.csv.")
def bench_synthetic(optimizers_spec, repeats, quick, rows, epochs, units, out, force, resume):
    """The study's synthetic test (Table 2): time and epochs to convergence per optimizer."""
    from kvt.bench.settings import SyntheticSettings

    settings = SyntheticSettings(optimizers=optimizers_spec, repeats=repeats, quick=quick, rows=rows,
                                 epochs=epochs, units=units)
    _run_benchmark("synthetic", settings, out, force, resume)


def _run_benchmark(kind: str, settings, out, force: bool, resume: bool) -> None:
    """Check the folder (before TensorFlow's import), run the ``kind`` benchmark into it, print its summary."""
    from kvt.bench.folder import check_output

    check_output(out, kind, settings.resolved().training(), force, resume)
    quiet_tensorflow_import()
    _quiet_tensorflow_logging()
    from kvt.bench import benchmark as library

    run = {"vt": library.run_vt, "synthetic": library.run_synthetic}[kind]
    with resumable.kept_on_interrupt(out, resume, "the runs finished so far"):
        run(settings, out, force=force, resume=resume, log=_log)
    from kvt.bench.summary import short_summary

    click.echo(short_summary(Path(out)))


def _quiet_tensorflow_logging():
    """No retracing chatter from TensorFlow's Python logger during a long benchmark."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
