"""``kvt data``: generate FHO-FR tables and summarise datasets (library: :mod:`kvt.data`)."""

from __future__ import annotations

import click

from kvt.cli.options import PAIRS_ACCEPTED, option, resolve_process
from kvt.data.grid import STUDY_TEMPERATURES, parse_levels, parse_temperatures
from kvt.errors import KvtError
from kvt.physics.species import MOLECULES

STUDY_TEMPS_SPEC = ",".join(str(t) for t in STUDY_TEMPERATURES)


@click.group("data")
def data():
    """Generate and inspect VT, VV and VV' datasets."""


@data.command("generate")
@option("pair", f"Collision pair: {PAIRS_ACCEPTED}.", required=True)
@option("process", "vt: AB(i) + C -> AB(i-1) + C; vv: A(i) + A(j) -> A(i-1) + A(j+1) of one molecule (O2-O2, "
                   "N2-N2, NO-NO); vv': the same between two molecules (N2-O2, N2-NO, O2-NO, either order).")
@option("levels", "Upper levels i of i -> i-1: 32, 1-35, 1,2,5 (vv, vv': the levels A leaves, level_a).",
        show_default="all of the molecule's: " + ", ".join(f"{m.name} 1-{m.max_level}" for m in MOLECULES.values()))
@click.option("--levels-b", "levels_b_spec", help="vv, vv': the levels B leaves (level_b), 0..L_B - 1 "
                                                  "[default: all].")
@option("temps", "Temperatures in K: 250:10000:10 (start:stop:step) or 300,500,1000.", default=STUDY_TEMPS_SPEC,
        show_default="the study's 15 temperatures")
@option("direction", "down: k(i -> i-1) (columns level,T_K,k_m3_s); up: k(i-1 -> i) by detailed balance; both. "
                     "up and both write columns level_from,level_to,T_K,k_m3_s. vv, vv': down is "
                     "A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1) (columns level_a,level_b,T_K,k_m3_s), "
                     "up its reverse (columns level_a_from,level_a_to,level_b_from,level_b_to,T_K,k_m3_s).")
@click.option("--units", default="m3/s", show_default=True, help="vv, vv': k in m3/s or cm3/s (vt tables are in "
                                                                 "m3/s; kvt export --units converts).")
@option("output", "Output CSV (stdout if omitted).")
@option("force", "Overwrite an existing output file.")
def data_generate(pair, process_kind, levels_spec, levels_b_spec, temps_spec, direction, units, output, force):
    """Compute an FHO-FR table (columns level,T_K,k_m3_s, or level_from,level_to,T_K,k_m3_s; vv and vv':
    level_a,level_b,T_K,k_m3_s)."""
    from kvt.files import atomic
    from kvt.data import tables

    process = resolve_process(pair, process_kind, ("vt", "vv", "vv'"), "kvt data generate")
    tables.check_direction(direction)
    tables.check_units(units)
    if process.kind == "vt" and levels_b_spec is not None:
        raise KvtError("--levels-b applies to --process vv and vv' (the level B leaves), not vt")
    if process.kind == "vt" and units != "m3/s":
        raise KvtError("--units applies to --process vv and vv', not vt (a vt table is in m3/s; kvt export --units "
                       "converts a run's)")
    temps = parse_temperatures(temps_spec)
    if process.kind != "vt":
        from kvt.data import exchange

        a, b = process.molecule_a, process.molecule_b
        levels_a = None if levels_spec is None else parse_levels(
            levels_spec, a.max_level, allowed=f"{a.name} level_a is 1..{a.max_level}")
        levels_b = None if levels_b_spec is None else parse_levels(
            levels_b_spec, b.max_level - 1, min_level=0, allowed=f"{b.name} level_b is 0..{b.max_level - 1}")
        if output:
            atomic.check(output, None, force)
        frame = exchange.grid(process, levels_a, levels_b, temps)
        _write(exchange.table_text(process, frame, direction, units), output, force,
               len(frame) * (2 if direction == "both" else 1))
        return
    from kvt.data.datasets import generate, generated_header, generated_table_text

    levels = None if levels_spec is None else parse_levels(levels_spec, molecule=process.molecule)
    if output:
        atomic.check(output, None, force)
    frame = generate(process, levels, temps)
    if direction == "down":
        text = generated_table_text(process, frame)
    else:
        text = tables.format_table(tables.with_directions(frame, direction, process.molecule), "long", "m3/s",
                                   generated_header(process, direction), float_format="%.17g")
    _write(text, output, force, len(frame) * (2 if direction == "both" else 1))


def _write(text: str, output, force: bool, rows: int) -> None:
    """A generated table to ``output`` (atomically) or to stdout."""
    from kvt.files import atomic

    if output:
        atomic.write_text(output, text, force=force)
        click.echo(f"wrote {rows} rows to {output}", err=True)
    else:
        click.echo(text, nl=False)


@data.command("info")
@option("pair", f"A bundled pair: {PAIRS_ACCEPTED}.")
@option("process", "Which bundled data of --pair: vt, vv (O2-O2, N2-N2, NO-NO) or vv' (N2-O2, N2-NO, O2-NO).")
@click.option("--file", "path", type=click.Path(dir_okay=False),
              help="A table in any layout kvt writes (long or wide, m^3/s or cm^3/s, either direction).")
@option("allow-implausible", "Accept k or T outside the plausibility bounds.")
def data_info(pair, process_kind, path, allow_implausible):
    """Summarise a bundled dataset or a table (read back to level,T_K,k_m3_s)."""
    if bool(pair) == bool(path):
        raise KvtError("give exactly one of --pair or --file")
    process = resolve_process(pair, process_kind, ("vt", "vv", "vv'"), "kvt data info")
    from kvt.data.datasets import describe, load_dataset

    summary = describe(load_dataset(process or path, allow_implausible=allow_implausible, exchange_tables=True))
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        click.echo(f"{key:<{width}}  {value}")


def pairs_table():
    """Every pair kvt has data for, one row each: the 18 VT pairs of :mod:`kvt.physics.species`, then the six VV and
    VV' pairs; species, level range, process and where the data come from."""
    import pandas as pd

    from kvt.physics import species
    from kvt.physics.process import EXCHANGE_PAIRS, resolve

    rows = []
    for p in species.PAIRS.values():
        study = p.name in species.STUDY_PAIRS
        provenance = ("the study's bundled table (FHO-FR; kvt data generate reproduces it byte for byte)" if study
                      else f"generated FHO-FR, bundled; against published {p.molecule.name} tables: "
                           f"{p.molecule.agreement}")
        rows.append({"pair": p.name, "molecule": p.molecule.name, "partner": p.partner.name,
                     "partner_kind": "molecule" if p.partner.is_molecule else "atom",
                     "levels": f"{p.levels[0]}..{p.levels[-1]}", "max_level": p.max_level,
                     "data": "study" if study else "generated", "provenance": provenance, "process": "vt"})
    for kind, names in EXCHANGE_PAIRS.items():
        for name in names:
            p = resolve(name, kind)
            (a_levels, b_levels) = p.levels
            rows.append({"pair": p.name, "molecule": p.molecule_a.name, "partner": p.molecule_b.name,
                         "partner_kind": "molecule",
                         "levels": f"{a_levels[0]}..{a_levels[-1]} x {b_levels[0]}..{b_levels[-1]}",
                         "max_level": p.molecule_a.max_level, "data": "generated",
                         "provenance": f"generated FHO {kind.upper()} exchange (resonance-defect factor), bundled",
                         "process": kind})
    return pd.DataFrame(rows)


@data.command("pairs")
@option("csv", "A CSV table (pair,molecule,partner,partner_kind,levels,max_level,data,provenance,process).")
def data_pairs(as_csv):
    """List the 18 molecule-partner pairs (levels i of i -> i-1), then the VV and VV' pairs (levels A and B leave),
    and the provenance of their data."""
    table = pairs_table()
    if as_csv:
        click.echo(table.to_csv(index=False, lineterminator="\n"), nl=False)
        return
    table["partner"] = table["partner"] + " (" + table["partner_kind"] + ")"
    columns = ["pair", "molecule", "partner", "levels"]
    vt = table["process"] == "vt"
    widths = {c: max(len(c), table.loc[vt, c].str.len().max()) for c in columns}
    click.echo("  ".join(f"{c:<{widths[c]}}" for c in columns) + "  data")
    for row in table[vt].itertuples(index=False):
        click.echo("  ".join(f"{getattr(row, c):<{widths[c]}}" for c in columns) + f"  {row.provenance}")
    click.echo("\nVV and VV' exchange, A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1) (--process vv, vv'):")
    for row in table[~vt].itertuples(index=False):
        click.echo(f"{row.pair:<{widths['pair']}}  {row.process:<4}  level_a x level_b {row.levels}  {row.provenance}")
