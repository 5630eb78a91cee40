"""The process object: resolved once from what the user typed, refused in one line where kvt does not compute it,
and its energies, detailed balance and rates against references computed here independently (the spectroscopic
formula from the species' constants, and the study's own bundled O2 tables)."""

import numpy as np
import pandas as pd
import pytest
from conftest import error_line

from kvt import KvtError
from kvt.cli import main
from kvt.physics import process as processes
from kvt.physics import species
from kvt.physics.process import Process, resolve

C2_M_K = 1.4388e-2  # second radiation constant h c / k_B in m K, at the value of the FHO-FR tables kvt reproduces


@pytest.mark.parametrize("typed, kind, name", [("O2-Ar", "vt", "O2-Ar"), ("o2-ar", "VT", "O2-Ar"),
                                               ("n2-n", " vt ", "N2-N"), ("NO-o2", "vt", "NO-O2")])
def test_resolution_from_what_the_user_types(typed, kind, name):
    p = resolve(typed, kind)
    assert isinstance(p, Process) and p.name == name and p.kind == "vt" and p.label == f"{name} VT"
    assert p.pair is species.PAIRS[name] and p.molecule.name == name.split("-")[0]
    assert resolve(p) is p  # an object passes through; nothing is looked up again
    assert p.level_inputs == ("level",) and p.features == ("level", "T_K") and p.columns == ("level", "T_K", "k_m3_s")
    assert p.levels == tuple(range(1, p.molecule.max_level + 1))


@pytest.mark.parametrize("typed, kind, message", [
    ("O2-N", "vv", "--process vv is the exchange of one molecule with itself (O2-O2, N2-N2, NO-NO), not O2-N "
                   "(N is an atom: vt only)"),
    ("N2-N2", "vv'", "--process vv' is the exchange between two molecules (N2-O2, N2-NO, O2-NO, either order), "
                     "not N2-N2; of one molecule with itself it is --process vv"),
    ("O2-O2", "vtt", "unknown process 'vtt' (did you mean 'vt'?); processes: vt, vv, vv'"),
    ("O2-Xe", "vt", "unknown partner 'Xe' in pair 'O2-Xe'; partners: O2, N2, NO, O, N, Ar"),
])
def test_refusals_are_one_line(typed, kind, message):
    with pytest.raises(KvtError) as raised:
        resolve(typed, kind)
    assert str(raised.value) == message


@pytest.mark.parametrize("command", [["tune", "--pair", "O2-O2", "--out", "nowhere"]])
def test_a_command_refuses_a_process_it_does_not_take_in_one_line(runner, command):
    """Tuning and relaxing (without --with-vv) take VT rates only so far (train, predict, export, evaluate and plot
    take VV runs: tests/test_vv_learned.py)."""
    result = runner.invoke(main, [*command, "--process", "vv"])
    name = " ".join(["kvt", *command[:1]])
    assert result.exit_code == 1 and error_line(result) == (
        f"Error: {name} --process vv is not built yet; {name} takes --process vt")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_relax_points_to_with_vv(runner):
    result = runner.invoke(main, ["relax", "--pair", "O2-O2", "--process", "vv"])
    assert result.exit_code == 1 and error_line(result) == (
        "Error: kvt relax --process vv is not built yet; for VT and VV together give --with-vv with a pure gas: "
        "kvt relax --pair O2-O2 --with-vv (or N2-N2, NO-NO)")


def test_the_vt_process_is_the_default_and_changes_nothing(runner):
    plain = runner.invoke(main, ["data", "generate", "--pair", "N2-N", "--temps", "1000", "--levels", "1-3"])
    named = runner.invoke(main, ["data", "generate", "--pair", "n2-n", "--process", "VT", "--temps", "1000",
                                 "--levels", "1-3"])
    assert plain.exit_code == named.exit_code == 0 and plain.output == named.output


@pytest.mark.parametrize("name", list(species.MOLECULES))
def test_level_energies_and_detailed_balance_of_each_molecule(name):
    """E(n) = c2 (ω_e n - ω_e x_e n (n + 1)) from the species' constants; the reverse/forward ratio of every
    transition is the Boltzmann factor of the energy it releases."""
    p = resolve(f"{name}-Ar")
    m = species.MOLECULES[name]
    n = np.arange(m.max_level + 1)
    expected = C2_M_K * (m.omega_e_m * n - m.omega_e_xe_m * n * (n + 1))
    np.testing.assert_allclose(p.level_energies_K(n), expected, rtol=1e-9)
    levels = np.array(p.levels)
    np.testing.assert_allclose(p.energy_released_K(levels), np.diff(expected), rtol=1e-9)
    level_from, level_to = p.transitions(levels)
    assert np.array_equal(level_from - level_to, np.ones_like(levels))
    T = np.array([300.0, 2000.0, 10000.0])
    np.testing.assert_allclose(p.detailed_balance(levels[:, None], T[None, :]),
                               np.exp(-np.diff(expected)[:, None] / T[None, :]), rtol=1e-9)


@pytest.mark.parametrize("pair", species.STUDY_PAIRS)
def test_rates_reproduce_the_study_tables(pair):
    """The study's three O2 tables (bundled as published, no header) are an independent reference for the VT
    process's rate coefficient."""
    from kvt.data.datasets import bundled_data_dir

    table = pd.read_csv(bundled_data_dir() / f"{pair}.csv")
    p = resolve(pair)
    np.testing.assert_allclose(p.rate_coefficient(table["level"].to_numpy(), table["T_K"].to_numpy()),
                               table["k_m3_s"].to_numpy(), rtol=1e-12)


def test_every_kind_is_named():
    assert processes.BUILT == ("vt", "vv", "vv'") and set(processes.KINDS) == {"vt", "vv", "vv'"}
    assert "vv: vibrational-vibrational" in processes.kinds_line()
