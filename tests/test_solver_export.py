"""Solver exports: the C99 header and the Fortran 2008 module against numpy, and the FHO-poly fit.

One module-scoped fixture trains three small runs: accurate mode on O2-Ar ("acc", features.kind
fho), accurate mode on a CSV generated from O2-Ar ("lsp": a --data table has no pair, so it keeps
features.kind log_space) and study mode on O2-Ar ("std", level_T). It derives
three networks from the study run by editing weights.json: "wide" (the study net with its first layer made
sigmoid, so no linear layers merge and the code carries a 64 x 64 matrix), "bad" (the study
net with its target shift moved so that k <= 0 at low temperatures) and "steep" (the study net with its
level weights x 300, so that the first layer's level part spans too much for its table of exponentials and
the code takes the general path). Each compiled program is built once per module.
"""

import json
from pathlib import Path
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import error_line

from kvt import KvtError
from kvt.exports import fho_poly
from kvt.physics import fho
from kvt.exports import features as solver_features
from kvt.exports.c_header import c_header
from kvt.cli import main
from kvt.network.inference import FEATURE_SETS, Network
from kvt.runs.folder import open_run

PREFIXES = ("acc", "lsp", "std", "wide", "bad", "steep")
N = 35  # every run here is trained on levels 1..35
CHECK_TEMPS = np.arange(250.0, 10000.0 + 1, 5.0)  # the exporter's dense grid, rebuilt independently
RNG_TEMPS = np.random.default_rng(7).uniform(250.0, 10000.0, 150)
TEMPS = np.concatenate([[250.0, 10000.0, 300.0, 5000.0], RNG_TEMPS])
OUTSIDE = ("249.99999", "10000.00001", "nan", "-inf", "inf", "0")
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
F_FLAGS = ["-std=f2008", "-Wall", "-Werror", "-pedantic"]
# the same form fitted to exact FHO-FR data, levels 1..35, every 5 K from 250 to 10000 K (docs/solver-exports.md)
REPORTED_EXACT_FIT_MAX = {"O2-O2": 8.408e-2, "O2-O": 6.966e-2, "O2-Ar": 8.832e-2}


def _train(root, name, mode, extra, data=("--pair", "O2-Ar")):
    from click.testing import CliRunner

    out = root / name
    result = CliRunner().invoke(main, ["train", *data, "--mode", mode, "--quiet", "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


def _derived_run(source, out, change):
    """A copy of run directory ``source`` whose weights.json is edited by ``change(spec)``."""
    shutil.copytree(source, out)
    spec = json.loads((out / "weights.json").read_text())
    change(spec)
    (out / "weights.json").write_text(json.dumps(spec))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("solver_export")
    acc = _train(root, "acc", "accurate", ["--epochs", "100", "--finish-iterations", "50", "--units", "16"])
    std = _train(root, "std", "study", ["--epochs", "10"])
    from click.testing import CliRunner

    table = root / "o2ar.csv"
    result = CliRunner().invoke(main, ["data", "generate", "--pair", "O2-Ar", "-o", str(table)])
    assert result.exit_code == 0, result.output
    lsp = _train(root, "lsp", "accurate", ["--epochs", "30", "--finish-iterations", "20", "--units", "8"],
                 data=("--data", str(table)))

    def widen(spec):
        spec["layers"][0]["activation"] = "sigmoid"

    def shift_down(spec):  # k' = k - (20th percentile of k on the grid): k' <= 0 on a fifth of it
        network = Network(spec)
        k = network.predict_k(np.repeat(np.arange(1, N + 1), CHECK_TEMPS.size), np.tile(CHECK_TEMPS, N))
        t = spec["target"]
        t["shift"] += np.percentile(k, 20) * t["scale"] * t["factor"]

    def steepen(spec):  # the level's weights x 300: the first layer's level part spans too much for its table
        spec["layers"][0]["weights"][0] = [300.0 * w for w in spec["layers"][0]["weights"][0]]

    wide = _derived_run(std, root / "wide", widen)
    bad = _derived_run(std, root / "bad", shift_down)
    steep = _derived_run(std, root / "steep", steepen)
    return {"acc": acc, "lsp": lsp, "std": std, "wide": wide, "bad": bad, "steep": steep}


def _networks(runs):
    return {name: open_run(path).network for name, path in runs.items()}


def _export(runner, run, fmt, out, *extra):
    result = runner.invoke(main, ["export", "--run", str(run), "--format", fmt, "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    return result


def _driver_source(fortran: bool) -> str:
    """A C driver: per temperature read from stdin, every prefix's rc, k_down, k_up and (k_up NULL) rc, k_down."""
    lines = ["#include <stdio.h>", "#include <stdlib.h>"]
    for p in PREFIXES:
        lines += ([f"int {p}_rates(double T, double *k_down, double *k_up);"] if fortran
                  else [f'#include "{p}_rates.h"'])
    lines += [f"#define NT {N}",
              "static void fill(double *v) { int j; for (j = 0; j < NT; j++) v[j] = -7.0; }",
              "static void show(int rc, const double *v) { int j; printf(\" %d\", rc);"
              " for (j = 0; j < NT; j++) printf(\" %.17g\", v[j]); }",
              "int main(void) {", "    char word[64]; double T, a[NT], b[NT]; int rc;",
              "    while (scanf(\"%63s\", word) == 1) {", "        T = strtod(word, NULL);"]
    for p in PREFIXES:
        lines += [f"        fill(a); fill(b); rc = {p}_rates(T, a, b); show(rc, a); show(rc, b);",
                  f"        fill(a); rc = {p}_rates(T, a, NULL); show(rc, a);"]
    lines += ["        printf(\"\\n\");", "    }", "    fill(b);",
              "    printf(\"null %d %g\\n\", acc_rates(300.0, NULL, b), b[0]);", "    return 0;", "}", ""]
    return "\n".join(lines)


def _run_driver(binary, temps):
    """{prefix: dict(rc, down, up, rc_noup, down_noup)} with arrays over temps, and the NULL-k_down line."""
    words = [repr(float(t)) if not isinstance(t, str) else t for t in temps]
    done = subprocess.run([str(binary)], input="\n".join(words) + "\n", capture_output=True, text=True,
                          check=True, timeout=60)
    *rows, null_line = done.stdout.strip().splitlines()
    values = np.array([[float(v) for v in row.split()] for row in rows])
    block, out = 3 * (N + 1), {}
    for index, p in enumerate(PREFIXES):
        part = values[:, index * block:(index + 1) * block]
        out[p] = {"rc": part[:, 0], "down": part[:, 1:N + 1], "up": part[:, N + 2:2 * N + 2],
                  "rc_noup": part[:, 2 * N + 2], "down_noup": part[:, 2 * N + 3:]}
    return out, null_line


def _reference(network, temps):
    """numpy: k_down[t, j] = Network.predict_k(j + 1, T_t) and k_up by detailed balance."""
    levels = np.arange(1, N + 1)
    down = np.array([network.predict_k(levels, t) for t in temps])
    delta = fho.level_energy_K(levels) - fho.level_energy_K(levels - 1)
    return down, down * np.exp(-delta[None, :] / np.asarray(temps)[:, None])


def _nonphysical_error(network):
    """The expected k <= 0 description, rebuilt from Network.predict_k on every 5 K."""
    levels, temps = np.meshgrid(np.arange(1, N + 1), CHECK_TEMPS, indexing="ij")
    k = network.predict_k(levels.ravel(), temps.ravel())
    bad = k <= 0
    bad_levels = np.unique(levels.ravel()[bad])
    assert bad.any() and np.array_equal(bad_levels, np.arange(bad_levels[0], bad_levels[-1] + 1))
    bad_t = temps.ravel()[bad]
    return (f"the network gives k <= 0 (or not finite) at {bad.sum()} of {bad.size} points of the grid levels "
            f"1..{N} x every 5 K of {CHECK_TEMPS[0]:g}..{CHECK_TEMPS[-1]:g} K (levels "
            f"{bad_levels[0]}-{bad_levels[-1]} at {bad_t.min():g}..{bad_t.max():g} K)")


@pytest.fixture(scope="module")
def c_results(runs, tmp_path_factory):
    from click.testing import CliRunner

    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) found; apt-get install -y gcc")
    folder = tmp_path_factory.mktemp("c_header")
    runner = CliRunner()
    for p in PREFIXES:
        _export(runner, runs[p], "c-header", folder / f"{p}_rates.h", "--prefix", p, "--allow-nonphysical")
    (folder / "driver.c").write_text(_driver_source(fortran=False))
    subprocess.run(["cc", *C_FLAGS, "-O2", "-o", str(folder / "driver"), str(folder / "driver.c"), "-lm"],
                   check=True, capture_output=True, text=True)
    return folder, _run_driver(folder / "driver", [*TEMPS, *OUTSIDE])


@pytest.fixture(scope="module")
def fortran_results(runs, tmp_path_factory):
    from click.testing import CliRunner

    if shutil.which("gfortran") is None:
        pytest.skip("gfortran not found; apt-get install -y gfortran")
    folder = tmp_path_factory.mktemp("fortran")
    runner = CliRunner()
    objects = []
    for p in PREFIXES:
        source = folder / f"{p}_rates.f90"
        _export(runner, runs[p], "fortran", source, "--prefix", p, "--allow-nonphysical")
        subprocess.run(["gfortran", *F_FLAGS, "-O2", "-c", source.name], cwd=folder, check=True,
                       capture_output=True, text=True)
        objects.append(f"{p}_rates.o")
    # called from C: the same driver as the header's, linked against the Fortran objects
    (folder / "driver.c").write_text(_driver_source(fortran=True))
    subprocess.run(["cc", *C_FLAGS, "-O2", "-c", "driver.c"], cwd=folder, check=True, capture_output=True)
    subprocess.run(["gfortran", "-o", "driver", "driver.o", *objects], cwd=folder, check=True, capture_output=True)
    # called from Fortran: one temperature, k_down and k_up of module acc_rates_module
    (folder / "main.f90").write_text("\n".join([
        "program main", "  use, intrinsic :: iso_c_binding, only: c_double, c_loc, c_int",
        "  use acc_rates_module", "  implicit none",
        "  real(c_double), target :: k_down(ACC_N_TRANSITIONS), k_up(ACC_N_TRANSITIONS)",
        "  integer(c_int) :: status", "  status = acc_rates(1234.5_c_double, c_loc(k_down), c_loc(k_up))",
        "  write (*, '(i0)') status", "  write (*, '(es24.16e3)') k_down, k_up", "end program main", ""]))
    subprocess.run(["gfortran", *F_FLAGS, "-o", "main", "main.f90", "acc_rates.o"], cwd=folder, check=True,
                   capture_output=True, text=True)
    direct = subprocess.run(["./main"], cwd=folder, check=True, capture_output=True, text=True).stdout.split()
    return folder, _run_driver(folder / "driver", [*TEMPS, *OUTSIDE]), direct


def test_fixture_runs_have_the_feature_kinds_under_test(runs):
    kinds = {p: _networks(runs)[p].feature_kind for p in ("acc", "lsp", "std")}
    assert kinds == {"acc": "fho", "lsp": "log_space", "std": "level_T"}


def _check_against_numpy(results, runs, rtol_log=1e-12):
    nets = _networks(runs)
    (out, _), n_in = results, len(TEMPS)
    for p in ("acc", "lsp", "wide", "std", "steep"):
        down, up = _reference(nets[p], TEMPS)
        got = out[p]
        if p in ("acc", "lsp"):  # log-space target: every k to rtol_log relative
            np.testing.assert_allclose(got["down"][:n_in], down, rtol=rtol_log, atol=0)
            np.testing.assert_allclose(got["up"][:n_in], up, rtol=rtol_log, atol=0)
            assert np.all(got["rc"][:n_in] == 0)
        else:
            # min-max target: k = (y - shift) / scale / 1e18 is a difference of nearly equal numbers where k is
            # small, so rounding of order 1e-16 in y is 1e-16 * k_max in k: 1e-12 holds relative to k_max
            # (atol), not pointwise relative for the smallest rates.
            scale = np.abs(down).max()
            np.testing.assert_allclose(got["down"][:n_in], down, rtol=1e-12, atol=1e-12 * scale)
            np.testing.assert_allclose(got["up"][:n_in], up, rtol=1e-12, atol=1e-12 * scale)
        np.testing.assert_array_equal(got["down_noup"][:n_in], got["down"][:n_in])
        # outside the trained range and NaN: return 1, outputs untouched
        assert np.all(got["rc"][n_in:] == 1) and np.all(got["rc_noup"][n_in:] == 1)
        assert np.all(got["down"][n_in:] == -7.0) and np.all(got["up"][n_in:] == -7.0)


def test_c_header_equals_numpy_and_detailed_balance(c_results, runs):
    _check_against_numpy(c_results[1], runs)


def test_c_header_return_codes_for_nonphysical_rates_and_null(c_results, runs):
    (out, null_line), n_in = c_results[1], len(TEMPS)
    down, _ = _reference(_networks(runs)["bad"], TEMPS)
    expected = np.where((down <= 0).any(axis=1), 2, 0)
    assert 0 < expected.sum() < 2 * n_in  # both cases occur
    np.testing.assert_array_equal(out["bad"]["rc"][:n_in], expected)
    np.testing.assert_allclose(out["bad"]["down"][:n_in], down, rtol=1e-12, atol=1e-12 * np.abs(down).max())
    assert null_line == "null 3 -7"


def test_c_header_comment_macros_and_two_prefixes(c_results, runs):
    folder = c_results[0]
    text = (folder / "acc_rates.h").read_text()
    spec = json.loads((runs["acc"] / "weights.json").read_text())
    for needle in ("generated by kvt 0.1.0", "pair O2-Ar, mode accurate", spec["dataset_sha256"],
                   "levels 1..35", "T 250..10000 K", "#define ACC_N_TRANSITIONS 35", "#define ACC_T_MIN_K 250.0",
                   "#define ACC_ERR_NONPHYSICAL 2", "static const double acc_theta_K_[35] = {",
                   "static const double acc_cbrt_theta1_K_[35] = {",
                   "static inline int acc_rates(double T, double *k_down, double *k_up)"):
        assert needle in text, needle
    assert "WARNING: exported with --allow-nonphysical" in (folder / "bad_rates.h").read_text()
    # the first layer: a table of exponentials, or (too steep for it) the level's features as columns
    steep = (folder / "steep_rates.h").read_text()
    assert "acc_e0_" in text and "steep_e0_" not in steep and "steep_xl_" in steep
    assert "allow-nonphysical" not in text
    assert "malloc" not in text and not re.search(r"^static (?!const|inline)", text, re.M)  # no mutable state


def test_fortran_module_equals_numpy_from_c_and_fortran(fortran_results, runs):
    folder, results, direct = fortran_results
    _check_against_numpy(results, runs)
    assert results[1] == "null 3 -7"
    text = (folder / "wide_rates.f90").read_text()
    assert max(len(line) for line in text.splitlines()) <= 132 and "w1(64, 64) = reshape(" in text
    assert int(direct[0]) == 0
    down, up = _reference(_networks(runs)["acc"], [1234.5])
    np.testing.assert_allclose(np.array(direct[1:], dtype=float), np.concatenate([down[0], up[0]]), rtol=1e-12)


def test_fortran_agrees_with_c_header(c_results, fortran_results):
    c_out, f_out = c_results[1][0], fortran_results[1][0]
    np.testing.assert_array_equal(f_out["bad"]["rc"], c_out["bad"]["rc"])
    np.testing.assert_allclose(f_out["acc"]["down"], c_out["acc"]["down"], rtol=1e-13)


def test_bad_prefix_and_nonphysical_network_errors(runner, runs, tmp_path):
    out = tmp_path / "x.h"
    for fmt, prefix, message in (
            ("c-header", "2x", "--prefix '2x' is not a valid C identifier; use letters, digits and _, not starting "
                               "with a digit (e.g. o2ar)"),
            ("c-header", "o2-ar", "--prefix 'o2-ar' is not a valid C identifier; use letters, digits and _, not "
                                  "starting with a digit (e.g. o2ar)"),
            ("fortran", "_o2ar", "--prefix '_o2ar' is not a valid Fortran name stem; use a letter first and at most "
                                 "40 letters, digits and _ (e.g. o2ar)"),
            ("csv", "o2ar", "--prefix applies to --format c-header and fortran, not csv")):
        result = runner.invoke(main, ["export", "--run", str(runs["acc"]), "--format", fmt, "--prefix", prefix,
                                      "-o", str(out)])
        assert error_line(result) == f"Error: {message}"
    described = _nonphysical_error(_networks(runs)["bad"])
    for fmt, advice in (("c-header", "which no kinetics code can use; train with --mode accurate, which avoids "
                                     "them, or pass --allow-nonphysical to export it anyway"),
                        ("fortran", "which no kinetics code can use; train with --mode accurate, which avoids "
                                    "them, or pass --allow-nonphysical to export it anyway"),
                        ("fho-poly", "fho-poly fits ln k and needs k > 0 everywhere; retrain with --mode accurate, "
                                     "whose log-space target avoids them")):
        result = runner.invoke(main, ["export", "--run", str(runs["bad"]), "--format", fmt, "-o", str(out)])
        separator = "; " if fmt == "fho-poly" else ", "
        assert error_line(result) == f"Error: {described}{separator}{advice}"
    assert not out.exists()
    with pytest.raises(KvtError, match="cannot generate solver code for features.kind 'new_kind'"):
        solver_features.feature_code("new_kind")
    from kvt.exports import exchange_code

    # every feature kind has generated code: the VT kinds here, the exchange kinds (two level inputs) there
    assert set(solver_features.FEATURE_CODE) | set(exchange_code.FEATURES) == set(FEATURE_SETS)
    assert not set(solver_features.FEATURE_CODE) & set(exchange_code.FEATURES)


def test_fho_poly_reproduces_printed_error(runner, runs, tmp_path):
    out = tmp_path / "fit.csv"
    result = _export(runner, runs["acc"], "fho-poly", out)
    match = re.search(r"vs the network: max relative error (\S+) \(worst: level (\d+), (\S+) K\)", result.stdout)
    printed, worst_level, worst_t = float(match.group(1)), int(match.group(2)), float(match.group(3))
    text = out.read_text()
    assert "T^(-j/3)" in text and "m^3/s" in text and "250 <= T <= 10000 K" in text and "a0 = 1" in text
    table = pd.read_csv(out, comment="#")
    assert list(table.columns) == ["level_from", "level_to", "c", "a0", "a1", "a2", "a3", "a4", "a5"]
    assert np.array_equal(table["level_from"], np.arange(1, N + 1)) and np.all(table["a0"] == 1.0)
    assert np.array_equal(table["level_to"], table["level_from"] - 1)
    # independent evaluation of the formula on the exporter's grid
    a = table[[f"a{j}" for j in range(6)]].to_numpy()
    poly = sum(a[:, [j]] * CHECK_TEMPS[None, :] ** (-j / 3) for j in range(6))
    k_fit = np.exp(table["c"].to_numpy()[:, None] * poly)
    network = _networks(runs)["acc"]
    k_net = network.predict_k(np.repeat(np.arange(1, N + 1), CHECK_TEMPS.size), np.tile(CHECK_TEMPS, N))
    rel = np.abs(k_fit / k_net.reshape(N, -1) - 1)
    assert rel.max() == pytest.approx(printed, rel=1e-3)
    level, column = np.unravel_index(rel.argmax(), rel.shape)
    assert (level + 1, CHECK_TEMPS[column]) == (worst_level, worst_t)
    assert f"exact FHO-FR data of O2-Ar: max relative error {REPORTED_EXACT_FIT_MAX['O2-Ar']:.3e}" in result.stdout


@pytest.mark.parametrize("pair", sorted(REPORTED_EXACT_FIT_MAX))
def test_fho_poly_fit_of_exact_fho_fr_has_the_reported_error(pair):
    levels = np.arange(1, N + 1)
    fit = fho_poly.fit_exact(pair, levels, CHECK_TEMPS)
    k = fho.rate_coefficient(levels[:, None], CHECK_TEMPS[None, :], fho.PAIRS[pair])
    basis = np.column_stack([CHECK_TEMPS ** (-j / 3) for j in range(6)])
    for row in (0, 11, 34):  # least squares: the same residual as numpy's lstsq on the raw basis
        _, residual, *_ = np.linalg.lstsq(basis, np.log(k[row]), rcond=None)
        own = np.sum((fit.c[row] * (basis @ fit.a[row]) - np.log(k[row])) ** 2)
        assert own == pytest.approx(residual[0], rel=1e-6)
    rel = np.abs(np.exp(fit.c[:, None] * (fit.a @ basis.T)) / k - 1)
    assert rel.max() == pytest.approx(REPORTED_EXACT_FIT_MAX[pair], rel=1e-3)
    assert rel.max() == pytest.approx(fit.max_error, rel=1e-12)


def test_level_dependence_follows_tables_and_temporaries(monkeypatch):
    # q reads a per-level table, u reads q, qv only T (its name contains q's): features u and lv are per level
    code = solver_features.FeatureCode(
        c=("u", "qv", "lv * 2.0", "T"), fortran=("u", "qv", "lv * 2.0_dp", "t"), tables=("tab",),
        temporaries=(("q", "{tab} * 2.0", "{tab} * 2.0_dp"), ("u", "q + T", "q + t"), ("qv", "log(T)", "log(t)")))
    for fortran in (False, True):
        assert solver_features.level_dependent(code, fortran) == ([True, True, False], [True, False, True, False])
    monkeypatch.setitem(solver_features.FEATURE_CODE, "clash", solver_features.FeatureCode(
        c=("k",), fortran=("k",), temporaries=(("K", "T", "t"),)))
    with pytest.raises(KvtError, match=r"FEATURE_CODE\['clash'\]: temporaries \['K'\] reuse names"):
        solver_features.feature_code("clash")


def test_fho_tables_follow_a_level_range_not_starting_at_1(runs, tmp_path):
    """The per-level tables are cut to the trained levels: on levels 5..20, C entry j is level 5 + j."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) found; apt-get install -y gcc")
    spec = json.loads((runs["acc"] / "weights.json").read_text())
    spec["valid_range"]["level"] = [5, 20]
    network = Network(spec)
    (tmp_path / "sub_rates.h").write_text(c_header(network, prefix="sub"))
    (tmp_path / "main.c").write_text("\n".join([
        '#include <stdio.h>', '#include "sub_rates.h"', "int main(void) {", "    double k[SUB_N_TRANSITIONS]; int j;",
        "    if (sub_rates(777.0, k, NULL) != SUB_OK) return 1;",
        '    for (j = 0; j < SUB_N_TRANSITIONS; j++) printf("%.17g\\n", k[j]);', "    return 0;", "}", ""]))
    subprocess.run(["cc", *C_FLAGS, "-o", "main", "main.c", "-lm"], cwd=tmp_path, check=True, capture_output=True)
    got = subprocess.run(["./main"], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()
    np.testing.assert_allclose(np.array(got, dtype=float), network.predict_k(np.arange(5, 21), 777.0), rtol=1e-12)


def test_fortran_log1p_matches_numpy(tmp_path):
    """The Fortran module's log1p_dp (the fho kind has no intrinsic to use) against np.log1p, 1e-20 to 1e4."""
    if shutil.which("gfortran") is None:
        pytest.skip("gfortran not found; apt-get install -y gfortran")
    x = np.concatenate([[1e-20, 1e-17, 2.0**-53, 2.0**-52], np.geomspace(1e-15, 1e4, 400)])
    (tmp_path / "t.f90").write_text("\n".join([
        "module m", "  use, intrinsic :: iso_c_binding, only: c_double", "  implicit none",
        "  integer, parameter :: dp = c_double", "contains", *solver_features.FEATURE_CODE["fho"].fortran_functions,
        "end module m", "program t", "  use m", "  implicit none", "  real(dp) :: x", "  integer :: ios",
        "  do", "    read (*, *, iostat=ios) x", "    if (ios /= 0) exit", "    write (*, '(es26.17e3)') log1p_dp(x)",
        "  end do", "end program t", ""]))
    subprocess.run(["gfortran", *F_FLAGS, "-O2", "-o", "t", "t.f90"], cwd=tmp_path, check=True, capture_output=True)
    done = subprocess.run(["./t"], cwd=tmp_path, input="\n".join(repr(float(v)) for v in x) + "\n", check=True,
                          capture_output=True, text=True)
    np.testing.assert_allclose(np.array(done.stdout.split(), dtype=float), np.log1p(x), rtol=1e-15, atol=0)


@pytest.mark.parametrize("fmt, name", [("c-header", "o2_ar_solver.h"), ("fortran", "o2_ar_solver.f90")])
def test_the_comment_names_the_file_it_was_written_to(runner, runs, tmp_path, fmt, name):
    out = tmp_path / name
    assert _export(runner, runs["acc"], fmt, out).exit_code == 0
    text = out.read_text()
    first = next(line.lstrip(" */!") for line in text.splitlines() if line.strip(" /*!"))
    assert first.startswith(f"{name}:" if fmt == "c-header" else "kvt_rates_module:")
    assert (f'#include "{name}"' if fmt == "c-header" else f"gfortran -std=f2008 -c {name};") in text
    assert "kvt_rates.h" not in text and "kvt_rates.f90" not in text


# ---------------------------------------------------------------- the export registry
def test_every_format_kvt_export_lists_is_in_the_registry():
    """The formats the saved `kvt export --help` promises (the words of tests/data/cli_help, not the registry's own
    text) are exactly the registry's, in its order; the command's --format help is built from the registry."""
    from kvt.exports import registry

    saved = " ".join((Path(__file__).parent / "data" / "cli_help" / "kvt-export.txt").read_text().split())
    promised = re.search(r"--format TEXT (.*?) \[default: csv\]", saved).group(1)
    listed = [part.split(":")[0].strip() for part in promised.split("; ")]
    assert listed == list(registry.FORMATS) == ["csv", "weights", "weights-text", "c-header", "fortran", "fho-poly",
                                                "cantera"]
    help_text = next(p.help for p in main.commands["export"].params if p.name == "fmt")
    assert help_text == registry.FORMAT_HELP


@pytest.mark.parametrize("fmt", ["csv", "weights", "weights-text", "c-header", "fortran", "fho-poly", "cantera"])
def test_every_format_refuses_k_le_0_unless_allowed(runner, runs, tmp_path, fmt):
    """The "bad" network gives k <= 0 on a fifth of the grid: every format refuses it with one line and writes
    nothing; with --allow-nonphysical the formats that can carry it write it, warn, and the tables and solver code
    say so in the file; fho-poly and cantera (fits of ln k) refuse it even then."""
    from kvt.exports import registry

    out = tmp_path / f"bad.{fmt}"
    refused = runner.invoke(main, ["export", "--run", str(runs["bad"]), "--format", fmt, "-o", str(out)])
    assert refused.exit_code == 1 and error_line(refused).startswith("Error: the network gives k <= 0")
    assert not out.exists()
    allowed = runner.invoke(main, ["export", "--run", str(runs["bad"]), "--format", fmt, "-o", str(out),
                                   "--allow-nonphysical"])
    if not registry.FORMATS[fmt].can_be_nonphysical:
        assert fmt in ("fho-poly", "cantera") and allowed.exit_code == 1 and f"{fmt} fits ln k" in error_line(allowed)
        assert not out.exists()
        return
    assert allowed.exit_code == 0, allowed.output
    assert "have k <= 0 (--allow-nonphysical)" in allowed.stderr
    text = out.read_text()
    if fmt == "csv":
        assert "non-physical: WARNING" in text
    elif fmt in ("c-header", "fortran"):
        assert "WARNING: exported with --allow-nonphysical" in text
    else:  # the weights document is the network itself: it carries no note, the warning says it
        assert json.loads(text) if fmt == "weights" else text.startswith("kvt")
    good = runner.invoke(main, ["export", "--run", str(runs["acc"]), "--format", fmt, "-o", str(tmp_path / fmt)])
    assert good.exit_code == 0 and "k <= 0" not in good.output
