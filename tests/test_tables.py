"""Every table kvt writes is read back (data info, train --data), and implausible units are caught."""

import itertools

import numpy as np
import pandas as pd
import pytest
from conftest import error_line

from kvt.physics import fho
from kvt.cli import main
from kvt.data.datasets import load_dataset

LEVELS, TEMPS = [1, 2, 17, 35], [300.0, 2500.0, 9000.0]


def reference_down():
    levels, temps = np.meshgrid(LEVELS, TEMPS, indexing="ij")
    return pd.DataFrame({"level": levels.ravel(), "T_K": temps.ravel(),
                         "k_m3_s": fho.rate_coefficient(levels.ravel(), temps.ravel(), "O2")})


def assert_same_rates(frame, expected, rtol):
    merged = expected.merge(frame, on=["level", "T_K"], suffixes=("", "_read"), how="outer", validate="1:1")
    assert not merged.isna().any().any(), "rows missing or extra"
    np.testing.assert_allclose(merged["k_m3_s_read"], merged["k_m3_s"], rtol=rtol)


@pytest.mark.parametrize("direction", ["down", "up", "both"])
def test_generated_tables_read_back(runner, tmp_path, direction):
    path = tmp_path / f"gen-{direction}.csv"
    result = runner.invoke(main, ["data", "generate", "--pair", "O2-O2", "--levels", "1,2,17,35",
                                  "--temps", "300,2500,9000", "--direction", direction, "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert_same_rates(load_dataset(path).frame, reference_down(), rtol=1e-13)
    info = runner.invoke(main, ["data", "info", "--file", str(path)])
    assert info.exit_code == 0, info.output
    assert "rows            12" in info.output and "levels          1..35 (4 distinct)" in info.output


@pytest.fixture(scope="module")
def fho_run(tmp_path_factory):
    """A run directory whose weights reproduce ln k of FHO-FR O2-O2 exactly enough to compare tables."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("tables") / "run"
    result = CliRunner().invoke(main, ["train", "--pair", "O2-O2", "--mode", "accurate", "--epochs", "50",
                                       "--finish-iterations", "20", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("layout, units, direction",
                         list(itertools.product(["wide", "long"], ["m3/s", "cm3/s"], ["down", "up", "both"])))
def test_exported_tables_read_back(runner, fho_run, tmp_path, layout, units, direction):
    from kvt.runs.folder import open_run

    path = tmp_path / "export.csv"
    result = runner.invoke(main, ["export", "--run", str(fho_run), "--levels", "1,2,17,35",
                                  "--temps", "300,2500,9000", "--layout", layout, "--units", units,
                                  "--direction", direction, "-o", str(path)])
    assert result.exit_code == 0, result.output
    network = open_run(fho_run).network
    expected = reference_down()
    expected["k_m3_s"] = network.predict_k(expected["level"], expected["T_K"])
    dataset = load_dataset(path)
    assert_same_rates(dataset.frame, expected, rtol=1e-9)  # the export writes 11 significant digits
    info = runner.invoke(main, ["data", "info", "--file", str(path)])
    assert info.exit_code == 0, info.output
    n_down, n_up = {"down": (12, 0), "up": (0, 12), "both": (12, 12)}[direction]
    assert (f"table           {layout} layout, k in {units}; {n_down + n_up} rates read ({n_down} de-excitation, "
            f"{n_up} excitation)") in info.output
    assert "pair O2-O2)" in info.output


def test_train_on_an_exported_wide_cm3_table(runner, fho_run, tmp_path):
    path = tmp_path / "wide.csv"
    assert runner.invoke(main, ["export", "--run", str(fho_run), "--temps", "250:10000:250", "--units", "cm3/s",
                                "--direction", "both", "-o", str(path)]).exit_code == 0
    run = tmp_path / "retrained"
    result = runner.invoke(main, ["train", "--data", str(path), "--optimizer", "adam", "--epochs", "2",
                                  "--units", "8", "--out", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    import json

    meta = json.loads((run / "metadata.json").read_text())
    assert meta["dataset"]["rows"] == 35 * 40 and meta["dataset"]["T_range_K"] == [250.0, 10000.0]


def test_old_wide_exports_with_units_only_in_the_header_still_read(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("# kvt 0.1.0 VT rate coefficients\n# units: k in cm^3/s, T in K; layout: wide\n"
                    "T_K,k_1_0,k_2_1\n1000,1.5e-15,3e-15\n2000,2.5e-15,4e-15\n")
    frame = load_dataset(path).frame.sort_values(["level", "T_K"])
    np.testing.assert_allclose(frame["k_m3_s"], [1.5e-21, 2.5e-21, 3e-21, 4e-21])


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_implausible_units_are_caught_and_can_be_accepted(runner, tmp_path):
    cm3 = write(tmp_path, "level,T_K,k_m3_s\n1,1000,1.2e-10\n2,1000,3e-11\n", "cm3.csv")
    kilokelvin = write(tmp_path, "level,T_K,k_m3_s\n1,0.25,1e-22\n1,10,1e-17\n", "kk.csv")
    huge = write(tmp_path, "# units: k in m^3/s\nT_K,k_1_0_m3_s\n250000,1e-17\n", "huge.csv")
    hint = "(pass --allow-implausible to use it anyway)"
    cases = [
        (cm3, f"Error: {cm3}: column k_m3_s, line 2: 1.2e-10 m^3/s is above 1e-13 m^3/s, far above any VT rate "
              f"coefficient (the gas-kinetic collision rate is ~1e-15 m^3/s): is it in cm^3/s under a k_m3_s "
              f"header? {hint}"),
        (kilokelvin, f"Error: {kilokelvin}: column T_K, line 2: 0.25 K is below 50 K, outside the temperatures of "
                     f"VT rate tables: is it in kK? {hint}"),
        (huge, f"Error: {huge}: column T_K, line 3: 250000 K is above 100000 K, outside the temperatures of "
               f"VT rate tables: is it in K x 1000 or another unit? {hint}"),
    ]
    for path, message in cases:
        assert error_line(runner.invoke(main, ["data", "info", "--file", str(path)])) == message
        assert error_line(runner.invoke(main, ["train", "--data", str(path), "--epochs", "1"])) == message
        accepted = runner.invoke(main, ["data", "info", "--file", str(path), "--allow-implausible"])
        assert accepted.exit_code == 0, accepted.output


@pytest.mark.parametrize("text, message", [
    ("# units: k in m^3/s\nT_K,k_1_0_cm3_s\n1000,1e-15\n", "the header says k in m3/s but the columns are in cm3/s"),
    ("T_K,k_1_0_m3_s,k_2_1_cm3_s\n1000,1e-21,1e-15\n", "the k columns mix units (cm3/s, m3/s)"),
    ("T_K,k_3_1_m3_s\n1000,1e-21\n", "column k_3_1_m3_s is not a single-quantum transition (levels differ by 1)"),
    ("level_from,level_to,T_K,k_m3_s\n3,1,1000,1e-21\n",
     "column level_to, line 2: 1 must differ from level_from by 1 (single-quantum transitions)"),
    ("# comment\nlevel,T_K,k_cm3_s\n1,1000,1e-15\n1,1000,2e-15\n",
     "columns level,T_K, line 4: duplicate of an earlier row (level 1, T 1000 K)"),
    ("# comment\nlevel,T_K,k_cm3_s\n1,1000,-1e-15\n", "column k_cm3_s, line 3: -1e-15 must be > 0 cm^3/s"),
])
def test_table_errors(tmp_path, text, message):
    from kvt import KvtError

    path = write(tmp_path, text)
    with pytest.raises(KvtError) as info:
        load_dataset(path)
    assert str(info.value) == f"{path}: {message}"


def test_an_n2_table_converts_directions_with_n2_energies(tmp_path):
    """Excitation-only N2 rows read back as de-excitation through N2's level energies (not O2's)."""
    from kvt.data import tables
    from kvt.data.datasets import read_table
    from kvt.physics import constants, species

    assert tables.header_pair(["# pair: N2-N"]) == "N2-N" and tables.header_pair(["# pair: N2-Xe"]) is None
    levels, temps = np.meshgrid([1, 2, 40, 46], TEMPS, indexing="ij")
    down = pd.DataFrame({"level": levels.ravel(), "T_K": temps.ravel(),
                         "k_m3_s": fho.rate_coefficient(levels.ravel(), temps.ravel(), "N2-N")})
    up = tables.with_directions(down, "up", "N2")
    n2 = species.MOLECULES["N2"]
    i = down["level"].to_numpy(dtype=float)
    # E(i) - E(i-1) = c2 (ω_e - 2 ω_e x_e i) of the anharmonic oscillator, written out here
    quantum = constants.SECOND_RADIATION_CONSTANT * (n2.omega_e_m - 2.0 * n2.omega_e_xe_m * i)
    np.testing.assert_allclose(up["k_m3_s"], down["k_m3_s"] * np.exp(-quantum / down["T_K"]), rtol=1e-12)
    path = tmp_path / "n2-up.csv"
    path.write_text(tables.format_table(up, "long", "m3/s", ["pair: N2-N"], float_format="%.17g"))
    table, _ = read_table(path)
    assert table.pair == "N2-N" and table.molecule is n2
    assert_same_rates(table.down(), down, rtol=1e-13)
