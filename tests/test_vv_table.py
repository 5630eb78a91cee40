"""VV rates from a table in the relaxation (``kvt relax --with-vv --vv-table FILE``): τ from a table kvt data generate
wrote equals τ from the generator's rates, every refusal is one line and writes nothing, and populations.png draws
one panel per temperature (up to nine, then says which).

The tables are those ``kvt data generate --process vv`` writes (small grids: the suite's time)."""

import io

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import error_line

from kvt.cli import main


def _invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def _tau(*args) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(_invoke("relax", "--pair", "O2-O2", "--with-vv", "--tv0", "4000", "--csv",
                                           *args).output))


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("vv_table")
    written = {
        "down": ["--pair", "O2-O2", "--process", "vv", "--temps", "1000,2000"],
        "up_cm3": ["--pair", "O2-O2", "--process", "vv", "--temps", "2000", "--direction", "up", "--units", "cm3/s"],
        "small": ["--pair", "O2-O2", "--process", "vv", "--levels", "1-6", "--levels-b", "0-5", "--temps", "1000"],
        "n2": ["--pair", "N2-N2", "--process", "vv", "--levels", "1", "--levels-b", "0", "--temps", "1000"],
        "n2o2": ["--pair", "N2-O2", "--process", "vv'", "--levels", "1", "--levels-b", "0", "--temps", "1000"],
        "vt": ["--pair", "O2-O2", "--temps", "1000"],
    }
    for name, args in written.items():
        _invoke("data", "generate", *args, "-o", root / f"{name}.csv")
    return {name: root / f"{name}.csv" for name in written}


@pytest.mark.parametrize("name", ["down", "up_cm3"])
def test_tau_from_a_generated_table_is_the_generators(tables, name):
    from_table = _tau("--vv-table", tables[name], "--temps", "2000")
    generator = _tau("--temps", "2000")
    assert list(from_table.columns) == ["T_K", "tau_s", "p_tau_atm_s", "tau_vt_only_s"]
    # the down table holds the generator's numbers to the last bit; the up table in cm^3/s goes through detailed
    # balance and a unit conversion and back
    np.testing.assert_allclose(from_table.to_numpy(), generator.to_numpy(), rtol=1e-11, atol=0)
    assert from_table["tau_s"].iloc[0] / from_table["tau_vt_only_s"].iloc[0] < 0.95  # VV changes tau here


def test_the_tables_rates_are_the_ones_used(tables, tmp_path):
    """Twice the generator's VV rates in the table: another tau (the table is read, not the generator)."""
    doubled = tmp_path / "doubled.csv"
    text = tables["down"].read_text().splitlines()
    header = [line for line in text if line.startswith("#")] + [text[len([x for x in text if x.startswith("#")])]]
    body = pd.read_csv(tables["down"], comment="#")
    body["k_m3_s"] *= 2.0
    doubled.write_text("\n".join(header) + "\n" + body.to_csv(index=False, header=False, float_format="%.17g"))
    faster = _tau("--vv-table", doubled, "--temps", "2000")["tau_s"].iloc[0]
    assert faster / _tau("--temps", "2000")["tau_s"].iloc[0] < 0.99


def _refusals(t, out):
    base = ["relax", "--pair", "O2-O2", "--with-vv", "--temps", "1000", "--out", out]
    return [
        ([*base, "--vv-table", t["vt"]],
         f"Error: --vv-table {t['vt']} is a VT table (level,T_K,k_m3_s); --vv-table takes VV rates (kvt data "
         f"generate --pair O2-O2 --process vv, or kvt export of a VV run), a VT table goes to --table"),
        (["relax", "--table", t["down"], "--temps", "1000", "--out", out],
         f"Error: {t['down']} is a vv table (O2-O2 VV); kvt relax --table takes VT rates (level,T_K,k_m3_s), a VV "
         f"table goes to --vv-table with --with-vv"),
        ([*base, "--vv-table", t["n2"]],
         f"Error: --vv-table {t['n2']} is a vv table of N2-N2; the VV rates of this gas come from kvt data generate "
         f"--pair O2-O2 --process vv (or kvt export of a VV run of O2-O2)"),
        ([*base, "--vv-table", t["n2o2"]],
         f"Error: --vv-table {t['n2o2']} is a vv' table of N2-O2; the VV rates of this gas come from kvt data "
         f"generate --pair O2-O2 --process vv (or kvt export of a VV run of O2-O2)"),
        ([*base, "--vv-table", t["small"]],
         f"Error: --vv-table {t['small']} lacks the exchanges of level_a 1-34 with level_b 6-34 at 1000 K; the "
         f"relaxation of O2 reads every exchange 1 <= level_a <= level_b <= 34 at each temperature"),
        (["relax", "--pair", "O2-O2", "--with-vv", "--temps", "1000,1500", "--out", out, "--vv-table", t["down"]],
         f"Error: --vv-table {t['down']} has no rates at 1500 K; its temperatures are 1000, 2000 K (give --temps "
         f"from those)"),
        ([*base, "--vv-table", t["down"], "--vv-run", t["down"].parent],
         "Error: give one of --vv-run DIR or --vv-table FILE as the VV rates of --with-vv, not both"),
        (["relax", "--pair", "O2-O2", "--vv-table", t["down"], "--out", out],
         "Error: --vv-table gives the VV rates of --with-vv; add --with-vv (a pure gas relaxed by VT and VV)"),
        ([*base, "--vv-table", t["down"].parent / "nowhere.csv"],
         f"Error: --vv-table {t['down'].parent / 'nowhere.csv'}: no such file"),
        ([*base, "--vv-run", t["down"].parent / "nowhere"],
         f"Error: --vv-run {t['down'].parent / 'nowhere'} does not exist"),
        ([*base, "--vv-run", t["down"]],
         f"Error: --vv-run {t['down']} is a file, not a run directory (the folder kvt train writes)"),
    ]


def test_refusals_are_one_line_and_write_nothing(tables, tmp_path):
    out = tmp_path / "relax"
    for command, message in _refusals(tables, out):
        result = CliRunner().invoke(main, [str(c) for c in command])
        assert error_line(result) == message, command
    assert list(tmp_path.iterdir()) == []


def test_populations_figure_has_a_panel_per_temperature_up_to_nine():
    from kvt.reports import relax as relaxation

    def panels(temperatures):
        result = relaxation.run(relaxation.load_rates(process="O2-Ar", temperatures=temperatures))
        figure = relaxation.populations_figure(result)
        drawn = [ax.get_title() for ax in figure.axes if ax.get_visible()]
        title = figure._suptitle.get_text()
        import matplotlib.pyplot as plt

        plt.close(figure)
        return drawn, title

    drawn, title = panels([500.0, 1000.0, 2000.0, 5000.0, 10000.0])
    assert [t.split(" (")[0] for t in drawn] == ["T = 500 K", "T = 1000 K", "T = 2000 K", "T = 5000 K",
                                                 "T = 10000 K"]
    assert "drawn" not in title
    drawn, title = panels(np.arange(500.0, 6001.0, 500.0))  # 12 temperatures
    assert len(drawn) == 9 and drawn[0].startswith("T = 500 K") and drawn[-1].startswith("T = 6000 K")
    assert title.splitlines()[1] == ("9 of 12 temperatures drawn, evenly spread (500, 1000, 2000, 2500, 3500, "
                                     "4000, 4500, 5500, 6000 K); populations.csv holds every one")


def _wide_text(process, frame, direction, units, replace=None):
    from kvt.data import exchange

    header = "".join(f"# {line}\n" for line in exchange.header_lines(process, direction, units, layout="wide"))
    body = exchange.wide(exchange.with_directions(frame, direction, process), units)
    if replace:
        body = body.rename(columns=replace)
    return header + body.to_csv(index=False, float_format="%.17g", lineterminator="\n")


@pytest.mark.parametrize("direction", ["down", "up", "both"])
@pytest.mark.parametrize("units", ["m3/s", "cm3/s"])
def test_a_wide_table_reads_back_as_the_generator(tmp_path, direction, units):
    from kvt.data import datasets, exchange
    from kvt.physics.process import resolve

    p = resolve("N2-O2", "vv'")
    frame = exchange.grid(p, [1, 2, 46], [0, 3, 34], [300.0, 2000.0])
    path = tmp_path / "wide.csv"
    path.write_text(_wide_text(p, frame, direction, units))
    table, _ = datasets.read_table(path)
    assert (table.layout, table.direction, table.units, table.process) == ("wide", direction, units, p)
    read = table.frame.sort_values(["level_a", "level_b", "T_K"]).reset_index(drop=True)
    assert read[["level_a", "level_b", "T_K"]].equals(frame[["level_a", "level_b", "T_K"]])
    np.testing.assert_allclose(read["k_m3_s"], p.rate_coefficient(read["level_a"], read["level_b"], read["T_K"]),
                               rtol=1e-14)


def test_a_bad_wide_table_is_refused_in_one_line(runner, tmp_path):
    from kvt.data import exchange
    from kvt.physics.process import resolve

    p = resolve("O2-O2", "vv")
    frame = exchange.grid(p, [1, 2], [0, 1], [1000.0, 2000.0])
    cases = {
        "two.csv": ({"k_2_1_0_1_m3_s": "k_2_0_0_1_m3_s"},
                    "column k_2_0_0_1_m3_s is not an exchange of one quantum from A to B or back"),
        "mixed.csv": ({"k_2_1_0_1_m3_s": "k_2_1_0_1_cm3_s"}, "the k columns mix units (cm3_s, m3_s)"),
        "other.csv": ({"k_2_1_0_1_m3_s": "k_2_1"},
                      f"unexpected column k_2_1 in a wide VV table; {exchange.LAYOUT_HELP}"),
    }
    for name, (rename, message) in cases.items():
        path = tmp_path / name
        path.write_text(_wide_text(p, frame, "down", "m3/s", rename))
        assert error_line(runner.invoke(main, ["data", "info", "--file", str(path)])) == f"Error: {path}: {message}"
    negative = tmp_path / "negative.csv"
    lines = _wide_text(p, frame, "down", "m3/s").splitlines()
    cells = lines[-1].split(",")
    cells[3] = "-" + cells[3]  # the 2000 K row of k_2_1_0_1_m3_s
    negative.write_text("\n".join(lines[:-1] + [",".join(cells)]) + "\n")
    assert error_line(runner.invoke(main, ["data", "info", "--file", str(negative)])) == (
        f"Error: {negative}: column k_2_1_0_1_m3_s, line {len(lines)}: {float(cells[3]):g} must be > 0 m^3/s")
