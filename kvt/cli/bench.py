"""``kvt bench``: reproduce the study's optimizer comparison (library: :mod:`kvt.bench`).

The library validates the settings and the output folder before any training; its
:class:`kvt.KvtError` is what ``kvt``'s group prints as one ``Error:`` line.
"""

from __future__ import annotations

from pathlib import Path

import click


def _log(message: str) -> None:
    click.echo(message, err=True)


@click.group("bench")
def bench():
    """Benchmark the optimizers as the study did (VT pairs, synthetic test)."""


@bench.command("vt")
@click.option("--pairs", default="O2-O2,O2-O,O2-Ar", show_default=True, help="Comma-separated collision pairs.")
@click.option("--optimizers", "optimizers_spec", default="all", show_default=True,
              help="'all' (every registry name) or a comma-separated list, e.g. adamod,lars.")
@click.option("--repeats", type=int, help="Seeds per optimizer and pair (0, 1, ...) [default: 3; --quick: 1].")
@click.option("--quick", is_flag=True, help="Reduced run for tests: 3 epochs, 8 units, 1 repeat.")
@click.option("--target-mse", type=float, help="Also record time and epochs until the validation MSE first "
                                               "reaches this value.")
@click.option("--epochs", type=int, help="Maximum epochs per run [default: the study's 1000; --quick: 3].")
@click.option("--units", type=int, help="Hidden-layer width [default: the study's 64; --quick: 8].")
@click.option("--patience", type=int, help="Early-stopping patience [default: the study's 100].")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--resume", is_flag=True, help="Continue an interrupted benchmark: skip the runs in results.csv.")
def bench_vt(pairs, optimizers_spec, repeats, quick, target_mse, epochs, units, patience, out, force, resume):
    """Train every optimizer on every pair (the study's Table 3) and write results, tables and figures."""
    from kvt.cli import _quiet_tensorflow_import

    _quiet_tensorflow_import()
    from kvt.bench.settings import VTSettings

    settings = VTSettings(pairs=pairs, optimizers=optimizers_spec, repeats=repeats, quick=quick,
                          epochs=epochs, units=units, patience=patience, target_mse=target_mse)
    _quiet_tensorflow_logging()
    from kvt.bench import benchmark as library

    library.run_vt(settings, out, force=force, resume=resume, log=_log)
    click.echo((Path(out) / "results.md").read_text(), nl=False)
    _log(f"wrote results.csv, results.md and the figures in {out}")


@bench.command("synthetic")
@click.option("--optimizers", "optimizers_spec", default="all", show_default=True,
              help="'all' (every registry name) or a comma-separated list.")
@click.option("--repeats", type=int, help="Seeds per optimizer [default: 3; --quick: 1].")
@click.option("--quick", is_flag=True, help="Reduced run for tests: 1000 rows, 3 epochs, 8 units, 1 repeat.")
@click.option("--rows", type=int, help="Rows of the synthetic data [default: the study's 10000; --quick: 1000].")
@click.option("--epochs", type=int, help="Maximum epochs [default: 100; --quick: 3].")
@click.option("--units", type=int, help="Width of every Dense layer [default: 32; --quick: 8].")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--resume", is_flag=True, help="Continue an interrupted benchmark: skip the runs in results.csv.")
def bench_synthetic(optimizers_spec, repeats, quick, rows, epochs, units, out, force, resume):
    """The study's synthetic test (Table 2): time and epochs to convergence per optimizer."""
    from kvt.cli import _quiet_tensorflow_import

    _quiet_tensorflow_import()
    from kvt.bench.settings import SyntheticSettings

    settings = SyntheticSettings(optimizers=optimizers_spec, repeats=repeats, quick=quick, rows=rows,
                                 epochs=epochs, units=units)
    _quiet_tensorflow_logging()
    from kvt.bench import benchmark as library

    library.run_synthetic(settings, out, force=force, resume=resume, log=_log)
    click.echo((Path(out) / "results.md").read_text(), nl=False)
    _log(f"wrote results.csv, results.md and the figures in {out}")


def _quiet_tensorflow_logging():
    """No retracing chatter from TensorFlow's Python logger during a long benchmark."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
