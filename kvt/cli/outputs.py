"""``kvt predict``, ``kvt export``, ``kvt evaluate``, ``kvt plot``: a trained network's rates (:mod:`kvt.outputs`)."""

from __future__ import annotations

from pathlib import Path

import click

from kvt.cli.options import option, resolve_process
from kvt.data.grid import parse_levels, parse_temperatures
from kvt.errors import KvtError
from kvt.exports.registry import FORMAT_HELP


def run_molecule(run, process=None):
    """The molecule whose levels ``run`` predicts: ``process``'s (refused if the network is of another), else the
    one its weights or metadata name, else None. A run trained on a user table that names no pair names no molecule.
    """
    from kvt.physics import species

    known = getattr(run.network, "molecule", None)  # the weights document's molecule, where the network reads one
    if process is not None:
        molecule = process.molecule
        if isinstance(known, species.Molecule) and known.name != molecule.name:
            raise KvtError(f"--pair {process.name} is a pair of {molecule.name}, but the run's network "
                           f"is of {known.name}; give a pair of {known.name}")
        return molecule
    if isinstance(known, species.Molecule):
        return known
    if run.process is not None:
        return run.process.molecule
    dataset = (run.metadata or {}).get("dataset", {})
    for name in (run.network.spec.get("molecule"), dataset.get("molecule")):
        name = name.get("name") if isinstance(name, dict) else name  # {"name": "N2", "levels": [1, 46]}
        if isinstance(name, str) and name:
            return species.molecule(name)
    return None


def run_levels(run, spec, process=None):
    """Levels of ``spec`` within the run's molecule (an error names its range).

    Without a known molecule, O2's levels 1..35, widened to the run's trained top level if that is higher.
    """
    from kvt.physics import species

    molecule = run_molecule(run, process)
    if molecule is not None:
        return parse_levels(spec, molecule=molecule)
    return parse_levels(spec, max_level=max(species.MOLECULES["O2"].max_level, run.level_range[1]))


def _run_grid(run, levels_spec, temps_spec, process=None):
    """--levels/--temps, defaulting to the run's trained levels and every 10 K of its trained range."""
    from kvt.kinetics.validity import dense_temperatures

    lo, hi = run.level_range
    levels = run_levels(run, levels_spec, process) if levels_spec else list(range(lo, hi + 1))
    temps = parse_temperatures(temps_spec) if temps_spec else dense_temperatures(*run.temperature_range)
    return levels, temps


def reference_process(run, pair, process_kind="vt"):
    """The FHO-FR process to compare ``run`` with: --pair's for a run on a user table, else the run's own."""
    trained = run.process
    chosen = resolve_process(pair, process_kind, ("vt",), "kvt evaluate")
    if chosen is None:
        return trained
    if trained and chosen != trained:
        raise KvtError(f"--pair {chosen.name} differs from the pair the run was trained on ({trained.name}); --pair "
                       f"names the reference only for runs trained on a user table")
    run_molecule(run, chosen)  # a pair of another molecule than the network's is refused
    return chosen


def _load_run(run_dir):
    from kvt.runs.folder import open_run

    return open_run(run_dir)


@click.command("predict")
@option("run")
@click.option("--weights", "weights_file", type=click.Path(dir_okay=False),
              help="A weights file from `kvt export --format weights` (instead of --run).")
@option("level", "One upper level i (transition i -> i-1).")
@option("levels", "Levels: 1-35, 1,2,5 (VV/VV' runs: level_a).")
@option("levels-b")
@option("temps", "Temperatures in K: 1000,2000 or 250:10000:50.", required=True)
@option("direction", "down: k(i -> i-1); up: k(i-1 -> i) by detailed balance; both.")
@option("csv", "CSV output instead of a table.")
@option("allow-extrapolation", "Predict outside the trained range (with a warning).")
@option("allow-nonphysical", "Print rates <= 0 instead of refusing (with a warning).")
def predict_command(run_dir, weights_file, level, levels_spec, levels_b_spec, temps_spec, direction, as_csv,
                    allow_extrapolation, allow_nonphysical):
    """Print rate coefficients (k_VT, or VV / VV' exchange rates) in m^3/s predicted by a trained network (numpy only, no TensorFlow)."""
    from kvt.data.choices import check_direction

    check_direction(direction)
    if bool(run_dir) == bool(weights_file):
        raise KvtError("give exactly one of --run DIR or --weights FILE")
    if level is not None and levels_spec is not None:
        raise KvtError("give --level or --levels, not both")
    if level is None and levels_spec is None:
        raise KvtError("give --level N or --levels SPEC (e.g. 1-35)")
    temps = parse_temperatures(temps_spec)
    import numpy as np

    from kvt.runs.rates import check_rates, iter_chunks, iter_table, rows

    if weights_file:
        from kvt.runs.folder import open_weights

        run = open_weights(weights_file)
    else:
        run = _load_run(run_dir)
    if run.network.process is not None:  # an exchange network: level pairs
        return _predict_exchange(run, str(level) if level is not None else levels_spec, levels_b_spec, temps,
                                 direction, as_csv, allow_extrapolation, allow_nonphysical)
    if levels_b_spec is not None:
        raise KvtError(f"--levels-b applies to VV and VV' runs; {run.path} is a VT network (level, T)")
    levels = run_levels(run, str(level) if level is not None else levels_spec)  # the run's molecule's range
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


def _predict_exchange(run, spec_a, spec_b, temps, direction, as_csv, allow_extrapolation, allow_nonphysical):
    """``kvt predict`` of a VV or VV' run: k of A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1)."""
    from kvt.runs import exchange_rates

    levels_a, levels_b = exchange_rates.parse_levels(run, spec_a, spec_b)
    exchange_rates.check_rates(run, levels_a, levels_b, temps, allow_extrapolation, allow_nonphysical,
                               action="print them")
    if as_csv:
        for chunk in exchange_rates.iter_table(run, levels_a, levels_b, temps, "m3/s", direction):
            click.echo(chunk, nl=False)
        return
    a, b = run.process.molecule_a.name, run.process.molecule_b.name
    click.echo(f"{'level_a':>7}  {'level_b':>7}  {'exchange':>24}  {'T, K':>9}  {'k, m^3/s':>14}")
    for block_a, block_b, block_t in exchange_rates.blocks(levels_a, levels_b, temps):
        table = exchange_rates.rows(run, block_a, block_b, block_t, direction)
        if direction == "down":
            table = table.assign(level_a_from=table["level_a"], level_a_to=table["level_a"] - 1,
                                 level_b_from=table["level_b"], level_b_to=table["level_b"] + 1)
        upper_a = table[["level_a_from", "level_a_to"]].max(axis=1)
        lower_b = table[["level_b_from", "level_b_to"]].min(axis=1)
        click.echo("\n".join(
            f"{ua:>7}  {lb:>7}  {f'{a}({af}->{at}) {b}({bf}->{bt})':>24}  {t:>9g}  {k:>14.6e}"
            for ua, lb, af, at, bf, bt, t, k in zip(upper_a, lower_b, table["level_a_from"], table["level_a_to"],
                                                    table["level_b_from"], table["level_b_to"], table["T_K"],
                                                    table["k_m3_s"])))


@click.command("export")
@option("run", "Run directory from `kvt train`; repeat it for --format cantera (one mechanism of several runs).",
        required=True, multiple=True)
@click.option("--format", "fmt", default="csv", show_default=True, help=FORMAT_HELP)
@option("levels", "csv: levels (VV/VV' runs: level_a) [default: the run's trained levels].")
@option("levels-b", "csv of a VV/VV' run: level_b, the levels B leaves [default: the trained ones].")
@option("temps", "csv: temperatures in K [default: every 10 K of the run's trained range].")
@click.option("--layout", help="csv: wide (a row per T, a column per transition; VV/VV' runs: per exchange, "
                               "k_<a_from>_<a_to>_<b_from>_<b_to>_<units>) or long [default: wide; VV/VV' runs: "
                               "long]; fho-poly: csv or spbu (the SPbU solver's coefs_for_poly_FHO_FR_<pair>.dat) "
                               "[default: csv].")
@click.option("--units", help="csv, c-header, fortran, fho-poly: m3/s or cm3/s [default: m3/s].")
@option("direction", "csv: down (k(i -> i-1)), up (k(i-1 -> i), by detailed balance) or both.")
@option("output", "Output file.", required=True)
@option("force", "Overwrite an existing output file.")
@option("allow-extrapolation", "csv: export outside the trained range (with a warning).")
@click.option("--prefix", help="c-header, fortran: C identifier of the function and macros (<prefix>_rates) "
                               "[default: kvt].")
@click.option("--kernel", help="c-header, fortran: network (the network itself) or chebyshev (a per-transition "
                               "Chebyshev fit of it, within --tolerance; faster) [default: network].")
@click.option("--tolerance", type=float, help="cantera, --kernel chebyshev: largest relative deviation of the "
                                              "Chebyshev fit from the network on every 5 K of the trained range "
                                              "[default: 1e-4 for cantera, 1e-6 for the chebyshev kernel].")
@option("allow-nonphysical", "csv, c-header, fortran: write rates <= 0 (or a network that gives them) instead of "
                             "refusing; the file's header says so.")
def export_command(run_dir, fmt, levels_spec, levels_b_spec, temps_spec, layout, units, direction, output, force,
                   allow_extrapolation, prefix, kernel, tolerance, allow_nonphysical):
    """Write a rate table (VT, VV or VV') for a CFD code, the network's weights, or solver code (C, Fortran, FHO-poly, Cantera)."""
    from kvt.data import tables
    from kvt.exports import registry
    from kvt.files import atomic

    export_format = registry.export_format(fmt)
    given = {name: value for name, value in (("levels", levels_spec), ("levels-b", levels_b_spec),
                                              ("temps", temps_spec), ("layout", layout),
                                              ("units", units), ("direction", None if direction == "down" else direction),
                                              ("prefix", prefix), ("kernel", kernel), ("tolerance", tolerance))
             if value is not None}
    if units is not None:
        tables.check_units(units)
    tables.check_direction(direction)
    registry.check_options(export_format, given, len(run_dir))
    from kvt.runs.folder import input_files

    inputs = [path for run in run_dir for path in input_files(run)]
    atomic.check(output, None, force, inputs)
    runs = tuple(_load_run(run) for run in run_dir)
    registry.check_process(export_format, runs, given)
    levels_b = None
    if runs[0].network.process is not None:  # an exchange network: level_a x level_b
        from kvt.kinetics.validity import dense_temperatures
        from kvt.runs import exchange_rates

        levels, levels_b = exchange_rates.parse_levels(runs[0], levels_spec, levels_b_spec)
        temps = parse_temperatures(temps_spec) if temps_spec else dense_temperatures(*runs[0].temperature_range)
    else:
        levels, temps = _run_grid(runs[0], levels_spec, temps_spec)
    request = registry.ExportRequest(runs[0], Path(output), levels, temps, layout, units or "m3/s", direction,
                                     "kvt" if prefix is None else prefix, allow_extrapolation, allow_nonphysical,
                                     kernel or "network", tolerance, runs, levels_b)
    written = registry.export(export_format, request)
    atomic.write_text(output, written.text, force=force, inputs=inputs)
    for line in written.report:
        click.echo(line)
    click.echo(written.message, err=True)


@click.command("evaluate")
@option("run", required=True)
@option("levels", "Levels (VV/VV' runs: level_a) [default: the run's trained levels].")
@option("levels-b")
@option("temps", "Temperatures in K [default: every 10 K of the run's trained range].")
@option("pair", "FHO-FR reference pair, for runs trained on a user CSV [default: the run's].")
@option("process")
@option("out", "Folder for the results [default: RUN/evaluation].")
@option("force", "Replace an existing results folder.")
@option("allow-extrapolation", "Also evaluate outside the trained level/temperature range (with a warning).")
def evaluate_command(run_dir, levels_spec, levels_b_spec, temps_spec, pair, process_kind, out, force,
                     allow_extrapolation):
    """Compare a run with the FHO generator on a dense grid: every (level, T), or every level pair x T of a VV run."""
    from kvt.files import atomic
    from kvt.kinetics.accuracy import NO_REFERENCE

    resolve_process(None, process_kind, ("vt", "vv", "vv'"), "kvt evaluate")  # the kind first: before the run
    run = _load_run(run_dir)
    if run.network.process is not None:  # an exchange network names its process: its own reference
        return _evaluate_exchange(run, run_dir, levels_spec, levels_b_spec, temps_spec, pair, process_kind, out,
                                  force, allow_extrapolation)
    if levels_b_spec is not None:
        raise KvtError(f"--levels-b applies to VV and VV' runs; {run.path} is a VT network (level, T)")
    process = reference_process(run, pair, process_kind)
    levels, temps = _run_grid(run, levels_spec, temps_spec, process)
    if process is None:
        raise KvtError(NO_REFERENCE)
    out = Path(out) if out else Path(run_dir) / "evaluation"
    atomic.check(out, "evaluation", force, inputs=[run_dir])
    from kvt.reports import evaluation as report

    evaluation, summary = report.evaluate(run, process, levels, temps, allow_extrapolation)
    report.write_folder(run, evaluation, summary, out, force=force)
    for line in report.summary_lines(run, evaluation):
        click.echo(line)
    click.echo(f"saved {', '.join(report.FILES)} in {out}", err=True)


def _evaluate_exchange(run, run_dir, spec_a, spec_b, temps_spec, pair, process_kind, out, force,
                       allow_extrapolation):
    """``kvt evaluate`` of a VV or VV' run: every level pair x every 10 K against the FHO VV generator."""
    from kvt.files import atomic
    from kvt.kinetics.validity import dense_temperatures
    from kvt.reports import evaluation as report
    from kvt.runs import exchange_rates

    if pair is not None and resolve_process(pair, process_kind, ("vt", "vv", "vv'"), "kvt evaluate") != run.process:
        raise KvtError(f"--pair {pair} --process {process_kind} is not the run's process ({run.process.label}); a VV "
                       f"run is compared with its own process")
    levels_a, levels_b = exchange_rates.parse_levels(run, spec_a, spec_b)
    temps = parse_temperatures(temps_spec) if temps_spec else dense_temperatures(*run.temperature_range)
    out = Path(out) if out else Path(run_dir) / "evaluation"
    atomic.check(out, "evaluation", force, inputs=[run_dir])
    evaluation, summary = report.evaluate_exchange(run, levels_a, levels_b, temps, allow_extrapolation)
    report.write_exchange_folder(run, evaluation, summary, out, force=force)
    for line in report.exchange_summary_lines(run, evaluation):
        click.echo(line)
    click.echo(f"saved {', '.join(report.EXCHANGE_FILES)} in {out}", err=True)


@click.command("plot")
@option("run", required=True)
@option("level", "Upper level i of the transition i -> i-1 (VV/VV' runs: level_a; with --levels-b, k against T of "
                 "each pair).", required=False)
@option("levels-b", "VV/VV' runs: level_b of the pairs (level_a, level_b) to plot against T, e.g. 0,10.")
@click.option("--at-temp", "at_temp", type=float, help="VV/VV' runs: plot k over the (level_a, level_b) plane at "
                                                        "this temperature in K instead.")
@option("output", "PNG file [default: RUN/k_level_<i>.png; VV: RUN/k_pairs_<a>.png or RUN/k_plane_<T>K.png].")
@option("force", "Overwrite an existing file.")
def plot_command(run_dir, level, levels_b_spec, at_temp, output, force):
    """Plot k_VT(T) of one transition: data points and the network's curve (VV: level pairs, or the plane at one T)."""
    from kvt.files import atomic
    from kvt.runs import figures

    if output and Path(output).suffix.lower() != ".png":
        raise KvtError(f"-o {output}: kvt plot writes PNG images; give a file name ending in .png")
    run = _load_run(run_dir)
    if run.network.process is not None:
        return _plot_exchange(run, run_dir, level, levels_b_spec, at_temp, output, force)
    if levels_b_spec is not None or at_temp is not None:
        raise KvtError(f"--levels-b and --at-temp apply to VV and VV' runs; {run.path} is a VT network: give --level")
    if level is None:
        raise KvtError("give --level N, the upper level of the transition N -> N-1 to plot")
    levels = run_levels(run, level)
    if len(levels) != 1:
        raise KvtError("--level takes one level, e.g. --level 32")
    (level,) = levels
    lo, hi = run.level_range
    if not lo <= level <= hi:
        raise KvtError(f"level {level} is outside the trained levels {lo}..{hi}")
    path = Path(output) if output else Path(run_dir) / f"k_level_{level}.png"
    from kvt.runs.folder import input_files

    atomic.check(path, None, force, input_files(run_dir))
    figures.save_figure(figures.level_figure(run, level), path, force=force)
    click.echo(f"wrote {path}", err=True)


def _refuse_untrained(run, levels_a, levels_b):
    """``kvt plot`` draws the trained level pairs only: name the levels outside them and the trained range."""
    from kvt.kinetics.validity import compact_levels

    for name, levels in (("level_a", levels_a), ("level_b", levels_b)):
        lo, hi = (int(v) for v in run.network.level_ranges[name])
        outside = [level for level in levels if not lo <= level <= hi]
        if outside:
            raise KvtError(f"{name} {compact_levels(outside)} {'is' if len(outside) == 1 else 'are'} outside the "
                           f"trained {name} {lo}..{hi}")


def _plot_exchange(run, run_dir, level, levels_b_spec, at_temp, output, force):
    """``kvt plot`` of a VV or VV' run: k against T of (--level, each of --levels-b), or the plane at --at-temp."""
    from kvt.files import atomic
    from kvt.runs import exchange_figures, exchange_rates, figures
    from kvt.runs.folder import input_files

    if at_temp is not None:
        if level is not None or levels_b_spec is not None:
            raise KvtError("give --at-temp T (the level-pair plane) or --level A --levels-b B,... (k against T), "
                           "not both")
        exchange_rates.check_range(run, *exchange_rates.trained_levels(run), [at_temp], flag=None)
        path = Path(output) if output else Path(run_dir) / f"k_plane_{at_temp:g}K.png"
        figure = lambda: exchange_figures.plane_figure(run, at_temp)  # noqa: E731
    else:
        if level is None or levels_b_spec is None:
            raise KvtError(f"a {run.process.kind} run plots k against T of level pairs (--level A --levels-b B,...) "
                           f"or k over the plane at one temperature (--at-temp T)")
        levels_a, levels_b = exchange_rates.parse_levels(run, level, levels_b_spec)
        if len(levels_a) != 1:
            raise KvtError("--level takes one level_a, e.g. --level 10")
        _refuse_untrained(run, levels_a, levels_b)
        path = Path(output) if output else Path(run_dir) / f"k_pairs_{levels_a[0]}.png"
        figure = lambda: exchange_figures.pairs_figure(run, [(levels_a[0], b) for b in levels_b])  # noqa: E731
    atomic.check(path, None, force, input_files(run_dir))
    figures.save_figure(figure(), path, force=force)
    click.echo(f"wrote {path}", err=True)
