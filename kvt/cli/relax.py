"""``kvt relax``: heat-bath vibrational relaxation (library: :mod:`kvt.reports.relax`, :mod:`kvt.kinetics.heat_bath`)."""

from __future__ import annotations

import sys

import click

from kvt.cli.options import option, resolve_process
from kvt.errors import KvtError, unknown

DEFAULT_TEMPS = "500,1000,2000,5000,10000"
REFERENCES = ("fho",)


@click.command("relax")
@option("run", "Rates from a run directory of `kvt train`.")
@click.option("--table", type=click.Path(dir_okay=False),
              help="Rates from a table kvt wrote (kvt export / kvt data generate; long or wide, m^3/s or cm^3/s).")
@option("pair", "Rates of the FHO-FR generator for this pair; with a --run or --table that names no pair (trained "
               "on or exported from a user table), the pair --reference fho compares with.")
@option("process")
@option("temps", "Bath temperatures in K: 500,1000 or 500:10000:500.", default=DEFAULT_TEMPS, show_default=True)
@click.option("--tv0", type=float, default=300.0, show_default=True,
              help="Initial vibrational temperature in K (Boltzmann start); must differ from every T.")
@click.option("--pressure", type=float, default=1.0, show_default=True, help="Bath pressure in atm (> 0).")
@click.option("--reference", help="fho: also relax with the FHO-FR rates and compare (tau error, E_v deviation).")
@option("out", "Write tau.csv, energy.csv, populations.csv, relax.json and figures to this folder.")
@option("force", "Replace an existing --out folder written by kvt relax.")
@option("csv", "Print the relaxation times as CSV.")
def relax(run_dir, table, pair, process_kind, temps_spec, tv0, pressure, reference, out, force, as_csv):
    """Isothermal heat-bath relaxation of a molecule's vibration, solved exactly (eigen-decomposition of the master equation)."""
    from pathlib import Path

    from kvt.data.grid import parse_temperatures
    from kvt.files import atomic

    if run_dir and table:
        raise KvtError("give one of --run DIR, --table FILE or --pair P as the rate set, not both --run and --table")
    if not (run_dir or table or pair):
        raise KvtError("give a rate set: --run DIR, --table FILE or --pair P (MOLECULE-PARTNER, e.g. O2-Ar; see "
                       "`kvt data pairs`)")
    if reference is not None and reference not in REFERENCES:
        raise unknown("reference", reference, REFERENCES)
    process = resolve_process(pair, process_kind)
    if process:
        if (run_dir or table) and reference is None:
            raise KvtError("--pair with --run or --table names the FHO-FR reference; add --reference fho")
    temps = parse_temperatures(temps_spec)
    inputs = [p for p in (run_dir, table) if p]
    if out:
        atomic.check(Path(out), "relax", force, inputs)
    from kvt.reports import relax as relaxation

    source = relaxation.load_rates(run_dir=run_dir, table=table, process=None if (run_dir or table) else process,
                                   temperatures=temps)
    reference_process = None
    if reference == "fho":
        if process and source.process and process != source.process:
            raise KvtError(f"--pair {process.name} differs from the {source.kind}'s pair ({source.pair}); --pair "
                           f"names the reference only for a {source.kind} without one")
        reference_process = process or source.process
        if reference_process is None:
            raise KvtError(f"--reference fho needs a pair, and the {source.kind} names none; add --pair "
                           f"(MOLECULE-PARTNER, e.g. O2-Ar; see `kvt data pairs`)")
    result = relaxation.run(source, tv0=tv0, pressure_atm=pressure, reference=reference_process)
    reference_pair = result.reference_pair
    if as_csv:
        columns = list(relaxation.TAU_COLUMNS) + (list(relaxation.REFERENCE_COLUMNS) if reference_pair else [])
        click.echo(relaxation.csv_text(result.tau_table().loc[:, columns]), nl=False)
    else:
        click.echo(f"heat-bath relaxation: {source.label}, T_v0 {tv0:g} K, p {pressure:g} atm"
                   + (f"; reference FHO-FR {reference_pair}" if reference_pair else ""))
        for line in relaxation.summary_lines(result):
            click.echo(line)
    if out:
        relaxation.write_folder(result, out, force=force, command=["kvt", *sys.argv[1:]], inputs=inputs)
        click.echo(f"wrote tau.csv, energy.csv, populations.csv, relax.json and 3 figures to {out}", err=True)
