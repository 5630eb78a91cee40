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
@option("process", "Energy-exchange process of --pair: vt (vibrational-translational); for VT and VV "
                   "together give --with-vv with a pure gas.")
@option("temps", "Bath temperatures in K: 500,1000 or 500:10000:500.", default=DEFAULT_TEMPS, show_default=True)
@click.option("--tv0", type=float, default=300.0, show_default=True,
              help="Initial vibrational temperature in K (Boltzmann start); must differ from every T.")
@click.option("--pressure", type=float, default=1.0, show_default=True, help="Bath pressure in atm (> 0).")
@click.option("--reference", help="fho: also relax with the FHO-FR rates and compare (tau error, E_v deviation).")
@click.option("--with-vv", is_flag=True, help="A pure molecular gas (--pair O2-O2, N2-N2 or NO-NO) relaxed by VT and "
                                              "VV exchange together (the FHO VV rates, or --vv-run's or "
                                              "--vv-table's), beside VT alone.")
@click.option("--vv-run", "vv_run_dir", type=click.Path(),
              help="With --with-vv: the VV rates from a run of `kvt train --pair O2-O2 --process vv` (or N2-N2, "
                   "NO-NO) instead of the FHO VV generator.")
@click.option("--vv-table", "vv_table", type=click.Path(dir_okay=False),
              help="With --with-vv: the VV rates from a table kvt wrote (kvt data generate --process vv, kvt export "
                   "of a VV run; long or wide, m^3/s or cm^3/s, any direction) at its own temperatures.")
@click.option("--mixture", help="With --with-vv: a fixed-composition mixture of molecules instead of a pure gas, "
                                 "e.g. N2:0.79,O2:0.21 (mole fractions of O2, N2, NO, summing to 1): VT of each "
                                 "with every partner, VV of each and VV' between them, the FHO generators' rates; "
                                 "one tau per molecule.")
@option("out", "Write tau.csv, energy.csv, populations.csv, relax.json and figures to this folder.")
@option("force", "Replace an existing --out folder written by kvt relax.")
@option("csv", "Print the relaxation times as CSV.")
def relax(run_dir, table, pair, process_kind, temps_spec, tv0, pressure, reference, with_vv, vv_run_dir, vv_table,
          mixture, out, force, as_csv):
    """Isothermal relaxation of vibration: a molecule in a heat bath by VT, solved exactly (eigen-decomposition of the
    master equation); with --with-vv a pure molecular gas, or with --mixture a mixture of molecules, by VT and VV,
    integrated implicitly with the analytic Jacobian."""
    from pathlib import Path

    from kvt.data.grid import parse_temperatures
    from kvt.files import atomic

    if mixture is not None:
        return _relax_mixture(mixture, {"--pair": pair, "--run": run_dir, "--table": table, "--vv-run": vv_run_dir,
                                        "--vv-table": vv_table, "--reference": reference,
                                        "--process": process_kind if process_kind.lower() != "vt" else None},
                              with_vv, temps_spec, tv0, pressure, out, force, as_csv)
    if run_dir and table:
        raise KvtError("give one of --run DIR, --table FILE or --pair P as the rate set, not both --run and --table")
    if not (run_dir or table or pair):
        raise KvtError("give a rate set: --run DIR, --table FILE or --pair P (MOLECULE-PARTNER, e.g. O2-Ar; see "
                       "`kvt data pairs`)")
    if vv_run_dir and vv_table:
        raise KvtError("give one of --vv-run DIR or --vv-table FILE as the VV rates of --with-vv, not both")
    for flag, given in (("--vv-run", vv_run_dir), ("--vv-table", vv_table)):
        if given and not with_vv:
            raise KvtError(f"{flag} gives the VV rates of --with-vv; add --with-vv (a pure gas relaxed by VT and VV)")
    if reference is not None and reference not in REFERENCES:
        raise unknown("reference", reference, REFERENCES)
    process = resolve_process(pair, process_kind, ("vt",), "kvt relax",
                              instead="for VT and VV together give --with-vv with a pure gas: "
                                      "kvt relax --pair O2-O2 --with-vv (or N2-N2, NO-NO)")
    if process:
        if (run_dir or table) and reference is None and not with_vv:  # with --with-vv, --pair names the gas
            raise KvtError("--pair with --run or --table names the FHO-FR reference; add --reference fho")
    run_process = _check_vt_run(run_dir) if run_dir else None
    vv = _vv_process(process or run_process) if with_vv else None
    temps = parse_temperatures(temps_spec)
    inputs = [p for p in (run_dir, table, vv_run_dir, vv_table) if p]
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
    if vv is not None:
        if source.molecule != vv.molecule_a:
            raise KvtError(f"--with-vv relaxes {vv.molecule_a.name} (--pair {vv.name}), but the VT rates of "
                           f"{source.label} are of {source.molecule.name}")
        if source.process is not None and source.process.name != vv.name:
            raise KvtError(f"--with-vv relaxes pure {vv.molecule_a.name} (--pair {vv.name}), its own collision "
                           f"partner, but the VT rates of {source.label} are of {source.process.name}; give the VT "
                           f"rates of {vv.name}")
        vv_rates = (relaxation.vv_rates_of_run(vv_run_dir, vv, temps) if vv_run_dir else
                    relaxation.vv_rates_of_table(vv_table, vv, temps) if vv_table else None)
        result = relaxation.run_with_vv(source, vv, tv0=tv0, pressure_atm=pressure, reference=reference_process,
                                        vv_rates=vv_rates)
    else:
        result = relaxation.run(source, tv0=tv0, pressure_atm=pressure, reference=reference_process)
        if result.integrated:
            click.echo(f"note: T_v0 {tv0:g} K is too far above a bath temperature for the exact solution in double "
                       f"precision; the master equation was integrated instead (LSODA, analytic Jacobian)", err=True)
    reference_pair = result.reference_pair
    if as_csv:
        compared = relaxation.VV_REFERENCE_COLUMNS if vv is not None else relaxation.REFERENCE_COLUMNS
        columns = (list(relaxation.TAU_COLUMNS) + (list(compared) if reference_pair else [])
                   + (["tau_vt_only_s"] if vv is not None else []))  # the printed table's, less p_tau_mw
        click.echo(relaxation.csv_text(result.tau_table().loc[:, columns]), nl=False)
    else:
        click.echo(f"heat-bath relaxation: {source.label}" + (f" + {result.vv_label}" if vv else "")
                   + f", T_v0 {tv0:g} K, p {pressure:g} atm"
                   + (f"; reference FHO-FR {reference_pair}" + (" + FHO VV" if vv else "") if reference_pair else ""))
        for line in relaxation.summary_lines(result):
            click.echo(line)
    if out:
        relaxation.write_folder(result, out, force=force, command=["kvt", *sys.argv[1:]], inputs=inputs)
        click.echo(f"wrote tau.csv, energy.csv, populations.csv, relax.json and 3 figures to {out}", err=True)


def _check_vt_run(run_dir):
    """--run takes a VT network: a VV run given there is refused in one line, pointing to --vv-run. Returns the
    run's VT process (its pair), or None for a run on a table that names none."""
    from kvt.runs.folder import open_run

    run = open_run(run_dir)
    if run.network.process is not None:
        raise KvtError(f"--run {run_dir} is a {run.process.kind} network ({run.process.label}); --run takes the VT "
                       f"rates, a VV run goes to --vv-run with --with-vv")
    return run.process  # the pair it was trained on (None: a user's table without one)


def _vv_process(process):
    """The VV process of ``--with-vv``: the pure gas of --pair, or of the run given as --run (the gas with itself)."""
    from kvt.physics.process import EXCHANGE_PAIRS, resolve

    if process is None:
        raise KvtError(f"--with-vv relaxes a pure gas: give its pair, --pair {', '.join(EXCHANGE_PAIRS['vv'])} "
                       f"(with --table, or a run trained on a table, the pair their VT rates are of)")
    if process.partner.name != process.molecule.name:
        raise KvtError(f"--with-vv relaxes a pure molecular gas, its own collision partner: --pair "
                       f"{', '.join(EXCHANGE_PAIRS['vv'])}, not {process.name}")
    return resolve(process.name, "vv")


def _relax_mixture(mixture, pure_gas_options, with_vv, temps_spec, tv0, pressure, out, force, as_csv):
    """--mixture: a gas mixture relaxed with the generators' rates (library: :mod:`kvt.reports.relax_mixture`)."""
    from pathlib import Path

    from kvt.data.grid import parse_temperatures
    from kvt.files import atomic
    from kvt.kinetics.mixture import mixture as parse_mixture

    for flag, value in pure_gas_options.items():
        if value is not None:
            raise KvtError(f"--mixture takes no {flag}: the FHO generators give every rate of the mixture "
                           f"(--pair, --process, --run, --table, --vv-run, --vv-table and --reference are for a pure gas)")
    composition = parse_mixture(mixture)
    if not with_vv:
        raise KvtError("--mixture relaxes a mixture by VT, VV and VV' exchange together; add --with-vv (VT alone "
                       "is beside it, tau_vt_only_<molecule>_s)")
    temps = parse_temperatures(temps_spec)
    if out:
        atomic.check(Path(out), "relax", force)
    from kvt.reports import relax as relaxation, relax_mixture

    result = relax_mixture.run(composition, temps, tv0=tv0, pressure_atm=pressure)
    if as_csv:
        click.echo(relaxation.csv_text(result.tau_table()), nl=False)
    else:
        click.echo(f"relaxation of the {result.label}, T_v0 {tv0:g} K, p {pressure:g} atm")
        for line in relaxation.summary_lines(result):
            click.echo(line)
    if out:
        relax_mixture.write_folder(result, out, force=force, command=["kvt", *sys.argv[1:]])
        click.echo(f"wrote tau.csv, energy.csv, populations.csv, relax.json and "
                   f"{', '.join(relax_mixture.figure_names(result))} to {out}", err=True)
