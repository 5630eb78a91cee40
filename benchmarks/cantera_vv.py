"""Cost of a VT + VV Cantera mechanism of pure O2 (`kvt export --format cantera --run VT --run VV`).

Measures, in one process: the export (open both runs, the k <= 0 check, the vectorised Chebyshev fits of 35 VT
transitions and 595 VV exchanges, writing the YAML), the file's size and reaction count, Cantera's load time
(ct.Solution, best of 3), and a constant-temperature reactor of pure O2 (energy off, from a Boltzmann distribution)
integrated to 5 tau beside kvt's own master equation (kvt.kinetics.molecular_gas, the reference of kvt relax
--with-vv) on the same rates, heated (300 -> 2000 K) and cooled (4000 -> 1000 K).

    python benchmarks/cantera_vv.py --vt-run runs/o2o2 --vv-run runs/o2-vv     # or no runs: trains two tiny ones
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from kvt.cli import main  # noqa: E402


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exit_code != 0:
        sys.exit(result.output)
    return result


def tiny_runs(root: Path):
    quick = ["--mode", "accurate", "--epochs", "8", "--finish-iterations", "5", "--units", "8", "--quiet"]
    invoke("data", "generate", "--pair", "O2-O2", "--process", "vv", "--temps", "500,2000,5000", "-o", root / "vv.csv")
    invoke("train", "--data", root / "vv.csv", *quick, "--out", root / "vv")
    invoke("train", "--pair", "O2-O2", *quick, "--out", root / "vt")
    return root / "vt", root / "vv"


def main_(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vt-run")
    parser.add_argument("--vv-run")
    args = parser.parse_args(argv)
    import cantera as ct

    from kvt.kinetics import heat_bath, molecular_gas
    from kvt.physics import fho
    from kvt.physics.process import resolve
    from kvt.reports import relax as relaxation

    root = Path(tempfile.mkdtemp(prefix="kvt_cantera_vv_"))
    vt, vv = (args.vt_run, args.vv_run) if args.vt_run and args.vv_run else tiny_runs(root)
    out = root / "o2.yaml"
    start = time.perf_counter()
    invoke("export", "--format", "cantera", "--run", vt, "--run", vv, "-o", out)
    export_s = time.perf_counter() - start
    loads = []
    for _ in range(3):
        start = time.perf_counter()
        gas = ct.Solution(str(out))
        loads.append(time.perf_counter() - start)
    energies = fho.level_energy_K(np.arange(36))
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
             f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}; Cantera {ct.__version__}",
             f"export (fit + write, in-process): {export_s:.2f} s; file {out.stat().st_size / 1e6:.2f} MB, "
             f"{gas.n_species} species, {gas.n_reactions} reactions; ct.Solution load: {min(loads):.2f} s (best of 3)"]
    for T, tv0 in ((2000.0, 300.0), (1000.0, 4000.0)):
        x0 = heat_bath.boltzmann_fractions(energies, [tv0])[0]
        k_vt = relaxation.load_rates(run_dir=vt, temperatures=[T]).k_down
        k_vv, _ = relaxation.vv_rates_of_run(vv, resolve("O2-O2", "vv"), [T])
        start = time.perf_counter()
        reference = molecular_gas.relax(k_vt, k_vv, [T], tv0=tv0, molecule="O2")
        kvt_s = time.perf_counter() - start
        tau = reference.tau_s[0]
        gas.TPX = T, ct.one_atm, {f"O2(v{n})": x for n, x in enumerate(x0)}
        reactor = ct.IdealGasReactor(gas, energy="off", clone=False)
        net = ct.ReactorNet([reactor])
        net.rtol, net.atol = 1e-11, 1e-30
        start = time.perf_counter()
        net.advance(5.0 * tau)
        cantera_s = time.perf_counter() - start
        lines.append(f"{tv0:g} -> {T:g} K: Cantera reactor to 5 tau (tau {tau:.3e} s, rtol 1e-11) {cantera_s:.2f} s; "
                     f"kvt.kinetics.molecular_gas.relax (its own span, rtol 1e-10) {kvt_s:.2f} s")
    print("\n".join(lines))


if __name__ == "__main__":
    main_()
