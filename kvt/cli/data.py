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
    """Generate and inspect VT datasets."""


@data.command("generate")
@option("pair", f"Collision pair: {PAIRS_ACCEPTED}.", required=True)
@option("process")
@option("levels", "Upper levels i of i -> i-1: 32, 1-35, 1,2,5.",
        show_default="all of the molecule's: " + ", ".join(f"{m.name} 1-{m.max_level}" for m in MOLECULES.values()))
@option("temps", "Temperatures in K: 250:10000:10 (start:stop:step) or 300,500,1000.", default=STUDY_TEMPS_SPEC,
        show_default="the study's 15 temperatures")
@option("direction", "down: k(i -> i-1) (columns level,T_K,k_m3_s); up: k(i-1 -> i) by detailed balance; both. "
                     "up and both write columns level_from,level_to,T_K,k_m3_s.")
@option("output", "Output CSV (stdout if omitted).")
@option("force", "Overwrite an existing output file.")
def data_generate(pair, process_kind, levels_spec, temps_spec, direction, output, force):
    """Compute an FHO-FR table (columns level,T_K,k_m3_s, or level_from,level_to,T_K,k_m3_s)."""
    from kvt.files import atomic
    from kvt.data import tables
    from kvt.data.datasets import generate, generated_header, generated_table_text

    process = resolve_process(pair, process_kind)
    tables.check_direction(direction)
    levels = None if levels_spec is None else parse_levels(levels_spec, molecule=process.molecule)
    temps = parse_temperatures(temps_spec)
    if output:
        atomic.check(output, None, force)
    frame = generate(process, levels, temps)
    if direction == "down":
        text = generated_table_text(process, frame)
    else:
        text = tables.format_table(tables.with_directions(frame, direction, process.molecule), "long", "m3/s",
                                   generated_header(process, direction), float_format="%.17g")
    if output:
        atomic.write_text(output, text, force=force)
        rows = len(frame) * (2 if direction == "both" else 1)
        click.echo(f"wrote {rows} rows to {output}", err=True)
    else:
        click.echo(text, nl=False)


@data.command("info")
@option("pair", f"A bundled pair: {PAIRS_ACCEPTED}.")
@option("process")
@click.option("--file", "path", type=click.Path(dir_okay=False),
              help="A table in any layout kvt writes (long or wide, m^3/s or cm^3/s, either direction).")
@option("allow-implausible", "Accept k or T outside the plausibility bounds.")
def data_info(pair, process_kind, path, allow_implausible):
    """Summarise a bundled dataset or a table (read back to level,T_K,k_m3_s)."""
    if bool(pair) == bool(path):
        raise KvtError("give exactly one of --pair or --file")
    process = resolve_process(pair, process_kind)
    from kvt.data.datasets import describe, load_dataset

    summary = describe(load_dataset(process or path, allow_implausible=allow_implausible))
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        click.echo(f"{key:<{width}}  {value}")


def pairs_table():
    """The 18 pairs of :mod:`kvt.physics.species`, one row each: species, level range and where the data come from."""
    import pandas as pd

    from kvt.physics import species

    rows = []
    for p in species.PAIRS.values():
        study = p.name in species.STUDY_PAIRS
        provenance = ("the study's bundled table (FHO-FR; kvt data generate reproduces it byte for byte)" if study
                      else f"generated FHO-FR, bundled; against published {p.molecule.name} tables: "
                           f"{p.molecule.agreement}")
        rows.append({"pair": p.name, "molecule": p.molecule.name, "partner": p.partner.name,
                     "partner_kind": "molecule" if p.partner.is_molecule else "atom",
                     "levels": f"{p.levels[0]}..{p.levels[-1]}", "max_level": p.max_level,
                     "data": "study" if study else "generated", "provenance": provenance})
    return pd.DataFrame(rows)


@data.command("pairs")
@option("csv", "A CSV table (pair,molecule,partner,partner_kind,levels,max_level,data,provenance).")
def data_pairs(as_csv):
    """List the 18 molecule-partner pairs: levels i of i -> i-1 and the provenance of their data."""
    table = pairs_table()
    if as_csv:
        click.echo(table.to_csv(index=False, lineterminator="\n"), nl=False)
        return
    table["partner"] = table["partner"] + " (" + table["partner_kind"] + ")"
    columns = ["pair", "molecule", "partner", "levels"]
    widths = {c: max(len(c), table[c].str.len().max()) for c in columns}
    click.echo("  ".join(f"{c:<{widths[c]}}" for c in columns) + "  data")
    for row in table.itertuples(index=False):
        click.echo("  ".join(f"{getattr(row, c):<{widths[c]}}" for c in columns) + f"  {row.provenance}")
