"""The per-transition Chebyshev fit (kvt.exports.chebyshev), its C and Fortran kernels, the Fortran interface, --units
of the generated code, and the SPbU solver's .dat layout of fho-poly.

One module-scoped fixture trains a tiny accurate-mode O2-Ar run. The C kernel is compiled with
``-Wall -Wextra -Werror -pedantic`` and run at every 5 K of the trained range and at random temperatures; the
Fortran module (``-std=f2008 -Wall -Wextra -Werror -pedantic``) is called through its Fortran interface (assumed-shape
arrays, k_up optional, an array section, a too-small array) and its bind(C) twin. References: numpy's chebval of the
fit, the network's own ``predict_k`` and the FHO-FR generator.
"""

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import error_line
from numpy.polynomial import chebyshev as numpy_chebyshev

from kvt import KvtError
from kvt.cli import main
from kvt.exports import chebyshev, fho_poly
from kvt.physics import fho, species
from kvt.physics.process import resolve
from kvt.runs.folder import open_run

N = 35
GRID = np.arange(250.0, 10000.0 + 1, 5.0)
RANDOM = np.random.default_rng(25).uniform(250.0, 10000.0, 300)
OUTSIDE = ("249.99999", "10000.00001", "nan")
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
F_FLAGS = ["-std=f2008", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
DELTA = fho.level_energy_K(np.arange(1, N + 1)) - fho.level_energy_K(np.arange(N))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("chebyshev") / "acc"
    result = CliRunner().invoke(main, ["train", "--pair", "O2-Ar", "--mode", "accurate", "--epochs", "30",
                                       "--finish-iterations", "10", "--units", "8", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _network_k(run, temps):
    network = open_run(run).network
    levels = np.arange(1, N + 1)
    return network.predict_k(np.repeat(levels, len(temps)), np.tile(temps, N)).reshape(N, len(temps))


def _export(runner, run, fmt, out, *extra):
    result = runner.invoke(main, ["export", "--run", str(run), "--format", fmt, "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    return result


def test_the_fit_uses_the_fewest_terms_and_reaches_its_tolerance(run):
    network = open_run(run).network
    k = _network_k(run, GRID)
    for axis, tolerance in (("inverse_T", 1e-4), ("inverse_cbrt_T", 1e-6), ("inverse_cbrt_T", 1e-9)):
        fit = chebyshev.fit_network(network, tolerance, axis)
        x = chebyshev.reduced(axis, GRID, 250.0, 10000.0)
        assert x[0] == pytest.approx(-1, abs=1e-15) and x[-1] == pytest.approx(1, abs=1e-15)
        # numpy's own evaluation of each transition's series, with its own number of terms
        own = np.array([numpy_chebyshev.chebval(x, fit.coefficients[j, :fit.terms[j]]) for j in range(N)])
        rel = np.abs(np.exp(own) / k - 1)
        assert rel.max() <= tolerance and rel.max() == pytest.approx(fit.max_error, rel=1e-6)
        one_less = np.array([numpy_chebyshev.chebval(x, fit.coefficients[j, :fit.terms[j] - 1]) for j in range(N)])
        assert np.all(np.abs(np.exp(one_less) / k - 1).max(axis=1) > tolerance * 0.999)  # fewest (up to rounding)
    # the same axis Cantera uses: x = (2/T - 1/Tmin - 1/Tmax) / (1/Tmax - 1/Tmin)
    T = np.array([250.0, 777.0, 10000.0])
    np.testing.assert_allclose(chebyshev.reduced("inverse_T", T, 250.0, 1e4),
                               (2 / T - 1 / 250.0 - 1 / 1e4) / (1 / 1e4 - 1 / 250.0), rtol=1e-14, atol=1e-15)
    with pytest.raises(KvtError, match=r"--tolerance 1e-15 is not reachable: 96 Chebyshev terms"):
        chebyshev.fit_network(network, 1e-15, "inverse_T")


def _c_driver(prefixes):
    lines = ["#include <stdio.h>", "#include <stdlib.h>", *(f'#include "{p}_rates.h"' for p in prefixes),
             "static void fill(double *v, int n) { int j; for (j = 0; j < n; j++) v[j] = -7.0; }",
             "int main(void) {", f"    char word[64]; double T, a[{N}], b[{N}]; int rc, j;",
             "    while (scanf(\"%63s\", word) == 1) {", "        T = strtod(word, NULL);"]
    for p in prefixes:
        lines += [f"        fill(a, {N}); fill(b, {N}); rc = {p}_rates(T, a, b); printf(\" %d\", rc);",
                  f"        for (j = 0; j < {N}; j++) printf(\" %.17g %.17g\", a[j], b[j]);"]
    lines += ["        printf(\"\\n\");", "    }", f"    printf(\"null %d\\n\", {prefixes[0]}_rates(300.0, NULL, NULL));",
              "    return 0;", "}", ""]
    return "\n".join(lines)


def _run_c(folder, prefixes, temps):
    (folder / "driver.c").write_text(_c_driver(prefixes))
    subprocess.run(["cc", *C_FLAGS, "-o", "driver", "driver.c", "-lm"], cwd=folder, check=True, capture_output=True,
                   text=True)
    words = [t if isinstance(t, str) else repr(float(t)) for t in temps]
    done = subprocess.run(["./driver"], cwd=folder, input="\n".join(words) + "\n", capture_output=True, text=True,
                          check=True, timeout=60)
    *rows, null = done.stdout.strip().splitlines()
    values = np.array([[float(v) for v in row.split()] for row in rows])
    out, width = {}, 1 + 2 * N
    for n, p in enumerate(prefixes):
        block = values[:, n * width:(n + 1) * width]
        out[p] = {"rc": block[:, 0], "down": block[:, 1::2], "up": block[:, 2::2]}
    return out, null


@pytest.fixture(scope="module")
def c_kernels(run, tmp_path_factory):
    from click.testing import CliRunner

    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) found; apt-get install -y gcc")
    folder, runner = tmp_path_factory.mktemp("c_kernels"), CliRunner()
    printed = _export(runner, run, "c-header", folder / "cheb_rates.h", "--prefix", "cheb", "--kernel",
                      "chebyshev").stdout
    _export(runner, run, "c-header", folder / "chcm_rates.h", "--prefix", "chcm", "--kernel", "chebyshev", "--units",
            "cm3/s")
    _export(runner, run, "c-header", folder / "netcm_rates.h", "--prefix", "netcm", "--units", "cm3/s")
    _export(runner, run, "c-header", folder / "net_rates.h", "--prefix", "net")
    temps = [*GRID, *RANDOM, *OUTSIDE]
    return folder, printed, _run_c(folder, ["cheb", "chcm", "netcm", "net"], temps)


def test_the_c_chebyshev_kernel_equals_numpy_and_stays_within_its_tolerance(run, c_kernels):
    folder, printed, (out, null) = c_kernels
    n_in, inside = len(GRID) + len(RANDOM), np.concatenate([GRID, RANDOM])
    fit = chebyshev.fit_network(open_run(run).network, 1e-6, "inverse_cbrt_T")
    reference = fit.k(inside).T  # numpy chebval of the same fit
    got = out["cheb"]
    assert np.all(got["rc"][:n_in] == 0)
    np.testing.assert_allclose(got["down"][:n_in], reference, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got["up"][:n_in], reference * np.exp(-DELTA[None, :] / inside[:, None]), rtol=1e-12)
    network_k = _network_k(run, inside).T
    deviation = np.abs(got["down"][:n_in] / network_k - 1)
    assert deviation[:len(GRID)].max() <= 1e-6  # the tolerance, on every 5 K ...
    assert deviation[len(GRID):].max() <= 2e-6  # ... and between those points
    text = (folder / "cheb_rates.h").read_text()
    stated = float(re.search(r"#define CHEB_FIT_MAX_REL_DEVIATION (\S+)", text).group(1))
    assert stated == pytest.approx(deviation[:len(GRID)].max(), rel=1e-6)
    assert "fitted to the network: max relative deviation" in text and "T^(-1/3)" in text
    assert f"{stated:.2e}" in printed and '#define CHEB_K_UNITS "m3/s"' in text
    # outside the trained range and NaN: return 1, outputs untouched; k_down NULL: 3
    assert np.all(got["rc"][n_in:] == 1) and np.all(got["down"][n_in:] == -7.0) and null == "null 3"
    assert "tanh" not in text and "malloc" not in text


def test_units_of_the_generated_code(c_kernels):
    _, _, (out, _) = c_kernels
    n_in = len(GRID) + len(RANDOM)
    for cm3, m3 in (("chcm", "cheb"), ("netcm", "net")):
        np.testing.assert_allclose(out[cm3]["down"][:n_in], 1e6 * out[m3]["down"][:n_in], rtol=1e-14)
        np.testing.assert_allclose(out[cm3]["up"][:n_in], 1e6 * out[m3]["up"][:n_in], rtol=1e-14)


def test_the_fortran_interface_feels_like_fortran(run, c_kernels, tmp_path, runner):
    """status = <prefix>_rates(T, k_down [, k_up]) with real64 assumed-shape arrays, against numpy; the bind(C)
    twin still serves C and c_loc callers."""
    if shutil.which("gfortran") is None:
        pytest.skip("gfortran not found; apt-get install -y gfortran")
    for prefix, kernel in (("fch", "chebyshev"), ("fnet", "network")):
        _export(runner, run, "fortran", tmp_path / f"{prefix}_rates.f90", "--prefix", prefix, "--kernel", kernel,
                "--units", "cm3/s")
        subprocess.run(["gfortran", *F_FLAGS, "-c", f"{prefix}_rates.f90"], cwd=tmp_path, check=True,
                       capture_output=True, text=True)
        assert max(len(line) for line in (tmp_path / f"{prefix}_rates.f90").read_text().splitlines()) <= 132
    (tmp_path / "main.f90").write_text("\n".join([
        "program main",
        "  use, intrinsic :: iso_fortran_env, only: real64",
        "  use, intrinsic :: iso_c_binding, only: c_loc, c_null_ptr",
        "  use fch_rates_module", "  use fnet_rates_module", "  implicit none",
        "  real(real64) :: t, down(FCH_N_TRANSITIONS), up(FCH_N_TRANSITIONS), wide(3, 40), small(10)",
        "  real(real64), target :: c_down(FNET_N_TRANSITIONS)",
        "  integer :: ios, status",
        "  do",
        "    read (*, *, iostat=ios) t",
        "    if (ios /= 0) exit",
        "    status = fch_rates(t, down, up)",
        "    write (*, '(i0, 70es25.16e3)') status, down, up",
        "    status = fch_rates(t, wide(2, :))",
        "    write (*, '(i0, 35es25.16e3)') status, wide(2, 1:FCH_N_TRANSITIONS)",
        "    status = fnet_rates(t, down)",
        "    write (*, '(i0, 35es25.16e3)') status, down",
        "  end do",
        "  write (*, '(i0)') fch_rates(1000.0_real64, small)",
        "  write (*, '(i0)') fch_rates(1000.0_real64, down, small)",
        "  write (*, '(i0)') fch_rates(100.0_real64, down)",
        "  status = fnet_rates(1000.0_real64, c_loc(c_down), c_null_ptr)",
        "  write (*, '(i0, 35es25.16e3)') status, c_down",
        "  write (*, '(a)') FCH_K_UNITS",
        "end program main", ""]))
    subprocess.run(["gfortran", *F_FLAGS, "-o", "main", "main.f90", "fch_rates.o", "fnet_rates.o"], cwd=tmp_path,
                   check=True, capture_output=True, text=True)
    temps = np.concatenate([GRID[::10], RANDOM[:50]])
    done = subprocess.run(["./main"], cwd=tmp_path, input="\n".join(repr(float(t)) for t in temps) + "\n",
                          capture_output=True, text=True, check=True, timeout=60)
    lines = done.stdout.split("\n")
    rows = [np.array(line.split(), dtype=float) for line in lines[:3 * len(temps)]]
    full, section, network = rows[0::3], rows[1::3], rows[2::3]
    fit = chebyshev.fit_network(open_run(run).network, 1e-6, "inverse_cbrt_T")
    reference = 1e6 * fit.k(temps).T
    assert all(r[0] == 0 for r in full + section + network)
    np.testing.assert_allclose(np.array([r[1:N + 1] for r in full]), reference, rtol=1e-12)
    np.testing.assert_allclose(np.array([r[N + 1:] for r in full]),
                               reference * np.exp(-DELTA[None, :] / temps[:, None]), rtol=1e-12)
    np.testing.assert_allclose(np.array([r[1:] for r in section]), reference, rtol=1e-12)
    np.testing.assert_allclose(np.array([r[1:] for r in network]), 1e6 * _network_k(run, temps).T, rtol=1e-12)
    # the C kernel and the Fortran one: the same series, the same numbers (to rounding)
    c_out = c_kernels[2][0]["chcm"]["down"][:len(GRID)][::10]
    np.testing.assert_allclose(np.array([r[1:N + 1] for r in full])[:len(c_out)], c_out, rtol=1e-13)
    size, size_up, t_range, c_line, units = lines[3 * len(temps):3 * len(temps) + 5]
    assert (size, size_up, t_range, units.strip()) == ("4", "4", "1", "cm3/s")
    c_values = np.array(c_line.split(), dtype=float)
    assert c_values[0] == 0
    np.testing.assert_allclose(c_values[1:], 1e6 * _network_k(run, [1000.0])[:, 0], rtol=1e-12)


def test_the_spbu_layout_is_what_the_solver_reads(run, tmp_path, runner):
    """numpy.loadtxt reads the .dat file as the solver does (numbers only); the solver's formula on it reproduces
    the fit kvt prints, and the CSV layout's numbers."""
    dat, csv = tmp_path / "coefs_for_poly_FHO_FR_O2-Ar.dat", tmp_path / "fit.csv"
    printed = _export(runner, run, "fho-poly", dat, "--layout", "spbu").stdout
    _export(runner, run, "fho-poly", csv)
    table = np.loadtxt(dat)
    assert table.shape == (N, 7) and not any(line.startswith("#") for line in dat.read_text().splitlines())
    assert len(dat.read_text().splitlines()) == N
    c, a = table[:, 0], table[:, 1:]
    k_solver = np.exp(c[:, None] * sum(a[:, [j]] * GRID[None, :] ** (-j / 3.0) for j in range(6)))  # row i: i -> i-1
    rel = np.abs(k_solver / _network_k(run, GRID) - 1)
    reported = float(re.search(r"vs the network: max relative error (\S+)", printed).group(1))
    assert rel.max() == pytest.approx(reported, rel=1e-3)
    csv_table = pd.read_csv(csv, comment="#")
    np.testing.assert_array_equal(table, csv_table[["c", "a0", "a1", "a2", "a3", "a4", "a5"]].to_numpy())
    assert "spbu layout: 35 rows, row i = transition i -> i-1" in printed and "k in m^3/s" in printed
    assert "the SPbU solver opens this file as" not in printed
    other = tmp_path / "o2ar.dat"
    cm3 = _export(runner, run, "fho-poly", other, "--layout", "spbu", "--units", "cm3/s").stdout
    assert "the SPbU solver opens this file as coefs_for_poly_FHO_FR_O2-Ar.dat" in cm3 and "k in cm^3/s" in cm3
    c2, a2 = np.loadtxt(other)[:, 0], np.loadtxt(other)[:, 1:]
    k_cm3 = np.exp(c2[:, None] * sum(a2[:, [j]] * GRID[None, :] ** (-j / 3.0) for j in range(6)))
    np.testing.assert_allclose(k_cm3, 1e6 * k_solver, rtol=1e-9)


@pytest.mark.parametrize("pair", sorted(species.PAIRS))
def test_the_spbu_layout_of_every_pair_reproduces_the_fit(pair, tmp_path):
    """For each of the 18 pairs (exact FHO-FR data on every level of its molecule): the solver's formula applied to
    the file reproduces the fit's own rates and its reported error."""
    levels = np.arange(1, species.PAIRS[pair].max_level + 1)
    fit = fho_poly.fit_exact(pair, levels, GRID[::4])
    path = tmp_path / fho_poly.spbu_file_name(pair)
    path.write_text(fho_poly.to_spbu(fit))
    table = np.loadtxt(path)
    assert table.shape == (levels.size, 7) and path.name == f"coefs_for_poly_FHO_FR_{pair}.dat"
    k_solver = np.exp(table[:, [0]] * sum(table[:, [1 + j]] * GRID[None, ::4] ** (-j / 3.0) for j in range(6)))
    np.testing.assert_allclose(k_solver, fho_poly.evaluate(fit.c, fit.a, GRID[::4]), rtol=1e-12)
    exact = resolve(pair).rate_coefficient(levels[:, None], GRID[None, ::4])
    assert np.abs(k_solver / exact - 1).max() == pytest.approx(fit.max_error, rel=1e-9)


def test_spbu_needs_rows_from_level_1_and_kernel_errors(run, tmp_path, runner):
    fit = fho_poly.fit_exact("O2-Ar", np.arange(5, 21), GRID[::8])
    with pytest.raises(KvtError, match=r"--layout spbu needs the transitions of levels 1, 2, ... in order .* trained "
                                       r"on levels 5..20"):
        fho_poly.to_spbu(fit)
    out = tmp_path / "x.h"
    for args, message in (
            (["--format", "c-header", "--kernel", "spline"], "unknown kernel 'spline'; valid kernels: network, chebyshev"),
            (["--format", "fortran", "--tolerance", "1e-5"], "--tolerance applies to --kernel chebyshev (the fit's "
                                                              "tolerance), not the network kernel, which is the network "
                                                              "itself"),
            (["--format", "weights", "--kernel", "chebyshev"], "--kernel applies to --format c-header and fortran, not "
                                                               "weights"),
            (["--format", "c-header", "--kernel", "chebyshev", "--tolerance", "1e-16"], None),
            (["--format", "fho-poly", "--layout", "wide"], "unknown layout 'wide'; valid layouts: csv, spbu")):
        line = error_line(runner.invoke(main, ["export", "--run", str(run), "-o", str(out), *args]))
        if message is None:
            assert line.startswith("Error: --tolerance 1e-16 is not reachable: 96 Chebyshev terms in reduced "
                                   "T^(-1/3) (the most kvt fits) leave transition ")
        else:
            assert line == f"Error: {message}"
        assert not out.exists()
