"""Networks of VV and VV' exchange: kvt train --process vv|vv', and predict, export, evaluate, plot and relax on
them, against independent references (the generator kvt.physics.fho_vv, detailed balance from the level energies,
compiled C and Fortran against the numpy twin).

One module-scoped fixture trains three small runs from user tables kvt data generate writes (small grids, few
epochs: the suite's time): "acc", accurate mode on O2-O2 VV, level_a 1..6 x level_b 0..5 x 4 temperatures;
"std", study mode on N2-O2 VV' on the same kind of grid; "full", accurate mode on every O2-O2 level pair at
three temperatures (the ladder a relaxation needs); and "steep", "acc" with its level_a weights x 300 (for the
generated code's general path).
"""

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import error_line

from kvt.cli import main
from kvt.physics import fho, fho_vv, species
from kvt.physics.process import resolve
from kvt.runs.folder import open_run

SMALL = ["--levels", "1-6", "--levels-b", "0-5", "--temps", "500,1000,2000,5000"]
TEMPS = (500.0, 777.0, 1000.0, 3210.5, 5000.0)


def _invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def _train(root, name, pair, kind, mode, grid, extra):
    table = root / f"{name}.csv"
    _invoke("data", "generate", "--pair", pair, "--process", kind, *grid, "-o", table)
    _invoke("train", "--data", table, "--mode", mode, "--quiet", "--out", root / name, *extra)
    return root / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vv_learned")
    quick = ["--epochs", "20", "--finish-iterations", "10", "--units", "8"]
    acc = _train(root, "acc", "O2-O2", "vv", "accurate", SMALL, quick)
    shutil.copytree(acc, root / "steep")  # level_a's weights x 300: too steep for the first layer's tables
    spec = json.loads((root / "steep" / "weights.json").read_text())
    spec["layers"][0]["weights"][0] = [300.0 * w for w in spec["layers"][0]["weights"][0]]
    (root / "steep" / "weights.json").write_text(json.dumps(spec))
    return {"acc": acc, "steep": root / "steep",
            "std": _train(root, "std", "N2-O2", "vv'", "study", SMALL, ["--epochs", "3", "--units", "8"]),
            "full": _train(root, "full", "O2-O2", "vv", "accurate", ["--temps", "500,2000,5000"], quick),
            "o2ar": _vt_run(root)}


def _vt_run(root):
    """A VT run of O2-Ar (one epoch) and, beside it, a VT table (o2ar.csv)."""
    _invoke("data", "generate", "--pair", "O2-Ar", "--levels", "1-3", "--temps", "1000,2000", "-o", root / "o2ar.csv")
    _invoke("train", "--pair", "O2-Ar", "--epochs", "1", "--units", "8", "--quiet", "--out", root / "o2ar")
    return root / "o2ar"


def _independent_k(a_molecule, b_molecule, i, j, T):
    """k(A(i) + B(j) -> A(i-1) + B(j+1)) from the formula with its direction convention, written out here."""
    d1 = fho.level_energy_K(i, a_molecule) - fho.level_energy_K(i - 1, a_molecule)
    d2 = fho.level_energy_K(j, b_molecule) - fho.level_energy_K(j + 1, b_molecule)
    k = fho_vv.symmetric_rate(a_molecule, b_molecule, i, i - 1, j, j + 1, T)
    return k * np.exp(np.minimum(d1 + d2, 0.0) / T)


def test_a_run_records_its_process_once(runs):
    run = open_run(runs["acc"])
    spec, metadata = run.network.spec, json.loads((runs["acc"] / "metadata.json").read_text())
    assert spec["schema_version"] == 3 and spec["process"]["kind"] == "vv" and spec["process"]["pair"] == "O2-O2"
    assert spec["features"]["kind"] == "exchange" and run.network.inputs == ("level_a", "level_b", "T_K")
    assert spec["valid_range"] == {"level_a": [1, 6], "level_b": [0, 5], "T_K": [500.0, 5000.0]}
    assert metadata["dataset"]["process"] == "vv" and run.process == resolve("O2-O2", "vv")
    assert open_run(runs["std"]).process == resolve("N2-O2", "vv'")
    assert json.loads((runs["std"] / "weights.json").read_text())["features"]["kind"] == "levels_T"
    assert {"k_pairs.png", "relative_error.png", "k_plane_2000K.png"} <= {p.name for p in runs["acc"].iterdir()}


def test_accurate_mode_learns_the_generator_off_its_rows(runs):
    network = open_run(runs["acc"]).network
    o2 = species.MOLECULES["O2"]
    i, j, T = (v.ravel() for v in np.meshgrid(np.arange(1, 7), np.arange(0, 6), np.arange(500.0, 5001.0, 37.0),
                                              indexing="ij"))
    k = network.predict_k(i, j, T)
    np.testing.assert_allclose(k, _independent_k(o2, o2, i, j, T), rtol=1e-8)


def test_predict_both_directions_is_detailed_balance(runs):
    result = _invoke("predict", "--run", runs["std"], "--levels", "2,5", "--levels-b", "0,4", "--temps",
                     "800,4000", "--direction", "both", "--csv")
    table = pd.read_csv(__import__("io").StringIO(result.output))
    network, n2, o2 = open_run(runs["std"]).network, species.MOLECULES["N2"], species.MOLECULES["O2"]
    down = table[table["level_a_to"] == table["level_a_from"] - 1]
    up = table[table["level_a_to"] == table["level_a_from"] + 1]
    assert len(down) == len(up) == 8
    np.testing.assert_allclose(down["k_m3_s"], network.predict_k(down["level_a_from"], down["level_b_from"],
                                                                 down["T_K"]), rtol=1e-9)
    released = (fho.level_energy_K(up["level_a_to"], n2) - fho.level_energy_K(up["level_a_from"], n2)
                + fho.level_energy_K(up["level_b_to"], o2) - fho.level_energy_K(up["level_b_from"], o2))
    np.testing.assert_allclose(up["k_m3_s"].to_numpy(), down["k_m3_s"].to_numpy() * np.exp(-np.asarray(released)
                                                                                            / up["T_K"].to_numpy()), rtol=1e-9)


@pytest.mark.parametrize("layout, direction, units", [
    (None, "down", "m3/s"), ("long", "both", "cm3/s"), ("long", "up", "m3/s"),
    ("wide", "down", "m3/s"), ("wide", "down", "cm3/s"), ("wide", "up", "cm3/s"), ("wide", "both", "m3/s")])
def test_an_exported_table_reads_back(runs, tmp_path, layout, direction, units):
    out = tmp_path / "k.csv"
    _invoke("export", "--run", runs["acc"], "-o", out, "--direction", direction, "--units", units, "--temps",
            "500,1500", *(["--layout", layout] if layout else []))
    from kvt.data.datasets import load_dataset

    dataset = load_dataset(out, exchange_tables=True)
    frame, table = dataset.frame, dataset.table
    assert dataset.process == resolve("O2-O2", "vv") and len(frame) == 36 * 2
    assert (table.layout, table.direction, table.units) == (layout or "long", direction, units)
    np.testing.assert_allclose(frame["k_m3_s"], open_run(runs["acc"]).network.predict_k(
        frame["level_a"], frame["level_b"], frame["T_K"]), rtol=1e-9)
    body = pd.read_csv(out, comment="#")
    if layout == "wide":  # a row per temperature, a column per exchange named by its four levels
        per_direction = {"down": 36, "up": 36, "both": 72}[direction]
        assert list(body["T_K"]) == [500.0, 1500.0] and body.shape[1] == 1 + per_direction
        first = {"down": "k_1_0_0_1", "up": "k_0_1_1_0", "both": "k_1_0_0_1"}[direction]
        assert body.columns[1] == f"{first}_{units.replace('/', '_')}"
        a_from, a_to, b_from, b_to = 3, 2, 4, 5  # A(3) + B(4) -> A(2) + B(5), or the reverse
        if direction == "up":
            a_from, a_to, b_from, b_to = a_to, a_from, b_to, b_from
        column = f"k_{a_from}_{a_to}_{b_from}_{b_to}_{units.replace('/', '_')}"
        k = open_run(runs["acc"]).network.predict_k(np.array([3, 3]), np.array([4, 4]), np.array([500.0, 1500.0]))
        if direction == "up":
            k = k * np.exp(-fho_vv.released_energy_K(species.MOLECULES["O2"], species.MOLECULES["O2"], 3, 2, 4, 5)
                           / np.array([500.0, 1500.0]))
        np.testing.assert_allclose(body[column] / (1e6 if units == "cm3/s" else 1.0), k, rtol=1e-9)


def test_relaxation_from_a_wide_export_is_the_runs(runs, tmp_path):
    table = tmp_path / "vv.csv"
    _invoke("export", "--run", runs["full"], "-o", table, "--layout", "wide", "--direction", "up", "--units", "cm3/s",
            "--temps", "2000")
    common = ["relax", "--pair", "O2-O2", "--with-vv", "--temps", "2000", "--tv0", "4000", "--csv"]
    from_table = float(_invoke(*common, "--vv-table", table).output.splitlines()[1].split(",")[1])
    from_run = float(_invoke(*common, "--vv-run", runs["full"]).output.splitlines()[1].split(",")[1])
    assert abs(from_table / from_run - 1.0) < 1e-8  # the export's 11 significant digits


def test_evaluate_and_plot_write_their_files(runs, tmp_path):
    result = _invoke("evaluate", "--run", runs["acc"], "--out", tmp_path / "ev")
    per_pair = pd.read_csv(tmp_path / "ev" / "per_pair.csv")
    grid = pd.read_csv(tmp_path / "ev" / "grid.csv")
    assert len(per_pair) == 36 and len(grid) == 36 * 451  # every level pair x every 10 K of 500..5000 K
    assert result.output.splitlines()[0] == ("O2-O2 VV (accurate mode): 36 level pairs x 451 temperatures = 16236 "
                                             "points vs FHO VV")
    assert grid["rel_error"].max() < 1e-8
    _invoke("plot", "--run", runs["acc"], "--level", "3", "--levels-b", "0,2", "-o", tmp_path / "pairs.png")
    _invoke("plot", "--run", runs["acc"], "--at-temp", "1500", "-o", tmp_path / "plane.png")
    assert (tmp_path / "pairs.png").stat().st_size > 1000 and (tmp_path / "plane.png").stat().st_size > 1000


@pytest.mark.parametrize("name", ["acc", "std", "full", "steep"])
def test_c_header_and_fortran_fill_the_table_as_numpy_does(runs, tmp_path, name):
    """Every pair at five temperatures, on 6 x 6 pairs (the layers' passes padded from 6 level_b to 8) and, "full",
    on all 35 x 35 O2-O2 pairs; "steep" takes the general path of the first layer (no tables)."""
    if shutil.which("cc") is None or shutil.which("gfortran") is None:
        pytest.skip("cc and gfortran are needed")
    flags = ["--allow-nonphysical"] if name == "std" else []
    _invoke("export", "--run", runs[name], "--format", "c-header", "-o", tmp_path / "vv_rates.h", *flags)
    _invoke("export", "--run", runs[name], "--format", "fortran", "-o", tmp_path / "vv_rates.f90", *flags)
    words = " ".join(repr(t) for t in TEMPS)
    (tmp_path / "c.c").write_text(
        '#include <stdio.h>\n#include "vv_rates.h"\nint main(void) { double kd[KVT_N_PAIRS], ku[KVT_N_PAIRS], '
        f'T[] = {{{", ".join(repr(t) for t in TEMPS)}}}; int t, j;\n'
        f'for (t = 0; t < {len(TEMPS)}; t++) {{ printf("%d\\n", kvt_rates(T[t], kd, ku));\n'
        'for (j = 0; j < KVT_N_PAIRS; j++) printf("%.17g %.17g\\n", kd[j], ku[j]); } return 0; }\n')
    (tmp_path / "f.f90").write_text(
        "program f\n  use kvt_rates_module\n  use iso_fortran_env, only: real64\n  implicit none\n"
        "  real(real64) :: kd(KVT_N_PAIRS), ku(KVT_N_PAIRS)\n"
        f"  real(real64) :: temps({len(TEMPS)}) = [{', '.join(f'{t!r}_real64' for t in TEMPS)}]\n"
        "  integer :: t, j\n"
        f"  do t = 1, {len(TEMPS)}\n    print '(i0)', kvt_rates(temps(t), kd, ku)\n"
        "    do j = 1, KVT_N_PAIRS\n      print '(es25.17e3, 1x, es25.17e3)', kd(j), ku(j)\n    end do\n  end do\n"
        "end program f\n")
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-o", "c", "c.c", "-lm"],
                   cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["gfortran", "-std=f2008", "-Wall", "-Werror", "-O2", "-o", "f", "vv_rates.f90", "f.f90"],
                   cwd=tmp_path, check=True, capture_output=True)
    run = open_run(runs[name])
    (lo_a, hi_a), (lo_b, hi_b) = run.network.level_ranges["level_a"], run.network.level_ranges["level_b"]
    a, b = (v.ravel() for v in np.meshgrid(np.arange(lo_a, hi_a + 1), np.arange(lo_b, hi_b + 1), indexing="ij"))
    header = (tmp_path / "vv_rates.h").read_text()
    assert (f"#define KVT_N_B_PAD {36 if name == 'full' else 8} " in header and a.size == (1225 if name == "full" else 36)
            and ("kvt_f0_" in header) == (name != "steep"))
    for binary in ("c", "f"):
        lines = subprocess.run([f"./{binary}"], cwd=tmp_path, check=True, capture_output=True,
                               text=True).stdout.split("\n")
        for index, T in enumerate(TEMPS):
            block = lines[index * (a.size + 1):(index + 1) * (a.size + 1)]
            values = np.array([[float(v) for v in row.split()] for row in block[1:]])
            down = run.network.predict_k(a, b, T)
            up = down * np.exp(-fho_vv.released_energy_K(run.process.molecule_a, run.process.molecule_b, a, a - 1,
                                                         b, b + 1) / T)
            scale = np.abs(down).max()  # the study network's k crosses 0: compare against the table's size
            assert int(block[0]) == (0 if (down > 0).all() else 2)
            np.testing.assert_allclose(values[:, 0], down, rtol=1e-12, atol=1e-12 * scale)
            np.testing.assert_allclose(values[:, 1], up, rtol=1e-12, atol=1e-12 * np.abs(up).max())


def test_relaxation_with_learned_vv_rates_matches_the_generator(runs):
    learned = _invoke("relax", "--pair", "O2-O2", "--with-vv", "--vv-run", runs["full"], "--temps", "2000",
                      "--tv0", "4000", "--csv")
    generator = _invoke("relax", "--pair", "O2-O2", "--with-vv", "--temps", "2000", "--tv0", "4000", "--csv")
    tau_learned = float(learned.output.splitlines()[1].split(",")[1])
    tau_generator = float(generator.output.splitlines()[1].split(",")[1])
    assert abs(tau_learned / tau_generator - 1.0) < 1e-8


def _refusals(runs):
    acc, std, full = runs["acc"], runs["std"], runs["full"]
    return [
        (["export", "--run", acc, "--format", "fho-poly", "-o", "x.csv"],
         f"Error: --format fho-poly writes VT networks; run directory {acc} is a vv network (O2-O2 VV): export it "
         f"with --format csv, weights, c-header, fortran and cantera"),
        (["export", "--run", std, "--run", std, "--format", "cantera", "-o", "x.yaml"],
         f"Error: run directory {std} and run directory {std} are both N2-O2 VV'; a mechanism takes one run per "
         f"process (two would give every reaction twice)"),
        (["export", "--run", acc, "--format", "c-header", "--kernel", "chebyshev", "-o", "x.h"],
         "Error: --kernel chebyshev fits one level input; a vv network takes --kernel network"),
        (["export", "--run", acc, "--layout", "spbu", "-o", "x.csv"],
         "Error: unknown layout 'spbu'; valid layouts: wide, long"),
        (["predict", "--run", acc, "--level", "36", "--temps", "1000"],
         "Error: level 36 is out of range; O2 level_a is 1..35"),
        (["predict", "--run", acc, "--level", "7", "--temps", "1000"],
         "Error: level_a 7 goes outside the trained level_a 1..6; pass --allow-extrapolation to predict there "
         "anyway"),
        (["predict", "--run", acc, "--level", "2", "--levels-b", "35", "--temps", "1000"],
         "Error: level 35 is out of range; O2 level_b is 0..34"),
        (["predict", "--run", acc, "--level", "2", "--temps", "6000"],
         "Error: temperature 6000 K goes outside the trained range 500..5000 K; pass --allow-extrapolation to "
         "predict there anyway"),
        (["plot", "--run", acc, "--level", "7", "--levels-b", "0"],
         "Error: level_a 7 is outside the trained level_a 1..6"),
        (["plot", "--run", acc, "--level", "3", "--levels-b", "0,6,9-11"],
         "Error: level_b 6, 9-11 are outside the trained level_b 0..5"),
        (["plot", "--run", acc, "--at-temp", "6000"],
         "Error: temperature 6000 K goes outside the trained range 500..5000 K"),
        (["relax", "--pair", "O2-O2", "--with-vv", "--vv-run", acc.parent / "nowhere", "--temps", "1000"],
         f"Error: --vv-run {acc.parent / 'nowhere'} does not exist"),
        (["plot", "--run", acc, "--level", "2"],
         "Error: a vv run plots k against T of level pairs (--level A --levels-b B,...) or k over the plane at one "
         "temperature (--at-temp T)"),
        (["relax", "--run", acc, "--pair", "O2-O2", "--with-vv"],
         f"Error: --run {acc} is a vv network (O2-O2 VV); --run takes the VT rates, a VV run goes to --vv-run with "
         f"--with-vv"),
        (["relax", "--pair", "O2-O2", "--vv-run", full],
         "Error: --vv-run gives the VV rates of --with-vv; add --with-vv (a pure gas relaxed by VT and VV)"),
        (["relax", "--pair", "O2-O2", "--with-vv", "--vv-run", std, "--temps", "1000"],
         f"Error: --vv-run {std} is a vv' network of N2-O2; the VV rates of this gas come from a run of kvt train "
         f"--pair O2-O2 --process vv"),
        (["relax", "--pair", "N2-N2", "--with-vv", "--vv-run", full, "--temps", "1000"],
         f"Error: --vv-run {full} is a vv network of O2-O2; the VV rates of this gas come from a run of kvt train "
         f"--pair N2-N2 --process vv"),
        (["relax", "--pair", "O2-O2", "--with-vv", "--vv-run", acc, "--temps", "1000"],
         f"Error: --vv-run {acc} was trained on level_a 1..6, level_b 0..5; the relaxation of O2 needs every "
         f"exchange, level_a 1..35 and level_b 0..34"),
        (["relax", "--pair", "O2-O2", "--with-vv", "--vv-run", full, "--temps", "300"],
         "Error: temperature 300 K goes outside the trained range 500..5000 K"),
        (["evaluate", "--run", acc, "--levels-b", "40"],
         "Error: level 40 is out of range; O2 level_b is 0..34"),
        (["train", "--data", acc.parent / "acc.csv", "--process", "vt", "--epochs", "1"],
         f"Error: --process vt does not match {acc.parent / 'acc.csv'}, a table of vv rates; a --data table names "
         f"its own process: leave --process out"),
        (["train", "--data", runs["o2ar"].parent / "o2ar.csv", "--process", "vv", "--epochs", "1"],
         f"Error: --process vv does not match {runs['o2ar'].parent / 'o2ar.csv'}, a table of vt rates; a --data "
         f"table names its own process: leave --process out"),
        (["relax", "--run", runs["o2ar"], "--with-vv", "--temps", "2000"],
         "Error: --with-vv relaxes a pure molecular gas, its own collision partner: --pair O2-O2, N2-N2, NO-NO, not "
         "O2-Ar"),
        (["relax", "--run", runs["o2ar"], "--pair", "O2-O2", "--with-vv", "--vv-run", full, "--temps", "2000"],
         f"Error: --with-vv relaxes pure O2 (--pair O2-O2), its own collision partner, but the VT rates of run "
         f"{runs['o2ar']} are of O2-Ar; give the VT rates of O2-O2"),
    ]


def test_with_vv_takes_the_gas_from_a_vt_run(tmp_path):
    """``--with-vv --run`` of a VT run of O2-O2 needs no --pair: the run names its gas; the same τ as with --pair."""
    run = tmp_path / "o2"
    _invoke("train", "--pair", "O2-O2", "--mode", "accurate", "--epochs", "1", "--units", "8", "--finish-iterations",
            "0", "--quiet", "--out", run)
    taus = [_invoke("relax", "--run", run, *pair, "--with-vv", "--temps", "2000", "--csv").stdout
            for pair in ([], ["--pair", "O2-O2"])]
    assert taus[0].splitlines()[0] == "T_K,tau_s,p_tau_atm_s,tau_vt_only_s"
    assert taus[0] == taus[1]


def test_refusals_are_one_line(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command, message in _refusals(runs):
        result = CliRunner().invoke(main, [str(c) for c in command])
        assert error_line(result) == message, command
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written
