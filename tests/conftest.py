import hashlib
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402


@pytest.fixture
def runner():
    return CliRunner()


def error_line(result) -> str:
    """The CLI's stderr, which must be exactly one ``Error: ...`` line."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code != 0, result.output
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def snapshot(root) -> dict:
    """Every entry under ``root`` (hidden ones too): relative path -> sha256 of a file, or 'dir'."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return out


def fho_reference_features(level, T, pair):
    """The fho features recomputed from kvt.physics.fho (not kvt.network.features): b from v0, eps from C's equation."""
    import numpy as np

    from kvt.physics import fho

    i, T = np.asarray(level, dtype=float), np.asarray(T, dtype=float)
    p = fho.PairParameters.for_partner(fho.pair_partner(pair))
    theta = fho.level_energy_K(i) - fho.level_energy_K(i - 1.0)
    omega = theta * fho.BOLTZMANN / fho.HBAR
    theta_1 = 4.0 * np.pi**2 * omega**2 * p.reduced_mass_kg / (fho.POTENTIAL_RANGE_ALPHA**2 * fho.BOLTZMANN)
    v0 = np.cbrt(2.0 * np.pi * omega * fho.BOLTZMANN * T / (fho.POTENTIAL_RANGE_ALPHA * p.reduced_mass_kg))
    b = 2.0 * np.pi * omega / (fho.POTENTIAL_RANGE_ALPHA * v0)  # = (theta_1 / T)^(1/3)
    a = p.steric_factor * theta_1 / theta
    eps = (p.nu + i) * a * np.exp(-b) + (i * a / 2.0) ** 2 * np.exp(-2.0 * b)  # 1 - C^3 of C's equation at C = 1
    return np.column_stack([i, np.log(i), T ** (-1 / 3), np.log(T), 1000 / T, theta / T, np.log(theta),
                            (theta**2 / T) ** (1 / 3), (theta / T**2) ** (1 / 3), eps, np.log1p(b * eps / 3)])


_KVT_IN_ONE_PROCESS = """import json, sys
from kvt.cli import main
heavy = lambda: sorted({'tensorflow', 'keras'} & set(sys.modules))
results = [heavy()]
for args in json.loads(sys.argv[1]):
    try:
        main(args, prog_name='kvt')
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    results.append([code, heavy()])
print(json.dumps(results))
"""


def kvt_in_one_process(commands, cwd=None):
    """``kvt ARGS`` for each of ``commands``, one after another in one fresh interpreter.

    Returns (TensorFlow/Keras modules imported by ``import kvt.cli``, [(exit code, TensorFlow/Keras modules
    imported so far)] per command, stdout, stderr): a command that imports TensorFlow shows in its entry.
    """
    done = subprocess.run([sys.executable, "-c", _KVT_IN_ONE_PROCESS, json.dumps(commands)], capture_output=True,
                          text=True, timeout=120, cwd=cwd)
    assert done.returncode == 0, done.stderr
    imported_by_cli, *runs = json.loads(done.stdout.splitlines()[-1])
    return imported_by_cli, runs, done.stdout, done.stderr


def cantera_reactor_tau(gas, T: float, composition: dict, levels: list, energies, e_start: float, points: int = 201):
    """τ of a constant-T Cantera reactor (energy off, 1 atm at the start) from ``composition``: the time the
    normalised mean vibrational energy of the species ``levels`` (energies ``energies`` in K, the start's
    mean ``e_start``) first reaches 1/e, and the reactor's concentrations (kmol/m³) then.

    The integration is run to the step in which the energy crosses 1/e, then again to ``points`` - 1
    points across that step, and τ interpolated linearly between the two points around the crossing."""
    import cantera as ct
    import numpy as np

    index = [gas.species_index(name) for name in levels]
    e_eq = np.exp(-np.asarray(energies) / T) @ energies / np.exp(-np.asarray(energies) / T).sum()

    def reactor():
        gas.TPX = T, ct.one_atm, composition
        r = ct.IdealGasReactor(gas, energy="off", clone=False)
        net = ct.ReactorNet([r])
        net.rtol, net.atol = 1e-11, 1e-30
        return r, net

    def energy(r):
        c = r.phase.concentrations[index]
        return (c @ energies / c.sum() - e_eq) / (e_start - e_eq)

    r, net = reactor()
    previous = 0.0
    while True:
        t = net.step()
        if energy(r) <= np.exp(-1.0):
            break
        previous = t
    r, net = reactor()
    net.advance(previous)
    t_a, e_a = previous, energy(r)
    for t_b in np.linspace(previous, t, points)[1:]:
        net.advance(t_b)
        e_b = energy(r)
        if e_b <= np.exp(-1.0):
            return t_a + (e_a - np.exp(-1.0)) * (t_b - t_a) / (e_a - e_b), r.phase.concentrations
        t_a, e_a = t_b, e_b
    raise AssertionError("no crossing")
