"""The ``kvt`` command line: a thin layer over the library.

Every failure prints exactly one ``Error: ...`` line on stderr and exits non-zero. This module
holds the group and its error handling and gathers the commands, one module per command group:
:mod:`kvt.cli.data`, :mod:`kvt.cli.optimizers`, :mod:`kvt.cli.train` (train, tune),
:mod:`kvt.cli.outputs` (predict, export, evaluate, plot), :mod:`kvt.cli.relax`,
:mod:`kvt.cli.bench` and :mod:`kvt.cli.app` (``kvt app``, the Streamlit app of :mod:`kvt.app`). They share
:mod:`kvt.cli.options` (option declarations) and :mod:`kvt.cli.quiet` (TensorFlow's import) and import no other
command module.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings

import click

from kvt import __version__
from kvt.cli import app, bench, data, optimizers, outputs, relax, train
from kvt.errors import Interrupted, KvtError, KvtWarning


class KvtGroup(click.Group):
    """A click group whose errors are one ``Error:`` line each (no usage block, no traceback).

    Exit status: 0, 1 for an error, 130 when Ctrl-C ended the command (after ``kvt train`` has
    written the interrupted run, or at once on a second Ctrl-C), 141 when stdout's reader went
    away (``kvt predict ... | head``), quietly.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _BrokenPipe() from exc
        except KeyboardInterrupt:  # a command that keeps work on Ctrl-C says so itself (kvt.errors.Interrupted)
            raise Interrupted("interrupted; nothing more was written") from None

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
        except _BrokenPipe:
            # The reader went away (``kvt predict ... | head``): end quietly, as other Unix tools do. Output
            # still buffered for the closed pipe goes nowhere, and the status is a death by SIGPIPE's.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(128 + signal.SIGPIPE)
        except click.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        except (click.ClickException, KvtError) as exc:
            click.echo(error_line(exc), err=True)
            sys.exit(getattr(exc, "exit_code", 1) or 1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def error_line(exc: Exception) -> str:
    """The one line kvt shows for a failure (a ``KvtError`` or click's): ``Error:`` and the message, its
    whitespace folded; ``kvt app`` shows the same line in the page."""
    message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    return f"Error: {' '.join(message.split())}"


class _BrokenPipe(Exception):
    """A write to a closed stdout, carried past click (which would exit 1 on it) to :meth:`KvtGroup.main`."""


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=KvtGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kvt")
def main():
    """Learn state-to-state vibrational energy-exchange rate coefficients: VT, k_VT(i -> i-1, T) of N2, O2 and NO
    with O2, N2, NO, O, N and Ar, and VV / VV' exchange between N2, O2 and NO; relax a gas with them."""


for _command in (data.data, optimizers.optimizers_command, train.train_command, train.tune_command,
                 outputs.predict_command, outputs.export_command, outputs.evaluate_command, outputs.plot_command,
                 bench.bench, relax.relax, app.app_command):
    main.add_command(_command)
