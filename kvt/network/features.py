"""Raw input features of kvt's networks: one function per ``features.kind``.

This is the single place where Python computes features from (level i, T in K);
training (:mod:`kvt.network.preprocessing`) and TF-free inference (:mod:`kvt.network.inference`)
both call :func:`raw_features`. It needs numpy only: the per-level physical
quantities of the ``fho`` kind are stored with the network (``parameters``), so an
evaluator needs no physics module (:func:`fho_parameters` computes them once, at
training time, from :mod:`kvt.physics.fho`).

Kinds:

* ``level_T`` (study mode): (i, T).
* ``log_space`` (accurate mode, schema 1): (i, ln i, T^(-1/3), ln T, 1000/T).
* ``fho`` (accurate mode on a bundled pair, schema 2): the five ``log_space``
  features, then the FHO-FR quantities that need no solve for the FHO parameter C,
  with theta = E(i) - E(i-1), theta_1 = 4 pi^2 omega^2 mu / (alpha^2 k), omega = theta k / hbar:

  - theta/T: the detailed-balance factor exp(theta / 2T);
  - ln theta: the level dependence of the prefactor a = S theta_1 / theta and of (theta_1/T)^(1/6);
  - (theta^2/T)^(1/3), (theta/T^2)^(1/3): the exponent (theta_1/T)^(1/3) (1 - phi)^(2/3) expanded in
    phi's argument, which goes as (theta T)^(-1/3) (1000/T is its next term);
  - eps = c1 e^(-b) + c2 e^(-2b), with b = (theta_1/T)^(1/3), a = S theta_1/theta,
    c1 = (nu + i) a, c2 = (i a / 2)^2: 1 - C^3 at first order (C's equation evaluated at C = 1);
  - ln(1 + b eps / 3): the factor sqrt(2 pi / (3 + delta)) at that order (delta ~ b (1 - C^3)).
"""

from __future__ import annotations

import numpy as np

from kvt.errors import KvtError

LOG_SPACE_NAMES = ("level", "ln_level", "T^(-1/3)", "ln_T", "1000/T")
FEATURE_SETS = {
    "level_T": ("level", "T_K"),
    "log_space": LOG_SPACE_NAMES,
    "fho": LOG_SPACE_NAMES + ("theta/T", "ln_theta", "(theta^2/T)^(1/3)", "(theta/T^2)^(1/3)",
                              "eps_C", "ln(1+b*eps_C/3)"),
}
#: Keys of ``features`` in a weights document that each kind needs besides scale/shift.
PARAMETER_KEYS = {"level_T": (), "log_space": (), "fho": ("theta_K", "theta1_K", "steric_factor", "nu")}


def _level_T(level, T, parameters):
    return np.column_stack([level, T])


def _log_space(level, T, parameters):
    return np.column_stack([level, np.log(level), T ** (-1.0 / 3.0), np.log(T), 1000.0 / T])


def _fho(level, T, parameters):
    n_levels = len(parameters["theta_K"])
    if np.any((level < 1) | (level > n_levels) | (level != np.round(level))):
        raise KvtError(f"the fho features are defined for whole levels 1..{n_levels}")
    index = level.astype(int) - 1
    theta = np.asarray(parameters["theta_K"], dtype=float)[index]
    theta_1 = np.asarray(parameters["theta1_K"], dtype=float)[index]
    b = np.cbrt(theta_1 / T)
    a = parameters["steric_factor"] * theta_1 / theta
    eps = (parameters["nu"] + level) * a * np.exp(-b) + (level * a / 2.0) ** 2 * np.exp(-2.0 * b)
    return np.column_stack([_log_space(level, T, parameters), theta / T, np.log(theta),
                            np.cbrt(theta**2 / T), np.cbrt(theta / T**2), eps, np.log1p(b * eps / 3.0)])


FEATURE_FUNCTIONS = {"level_T": _level_T, "log_space": _log_space, "fho": _fho}


def raw_features(kind: str, level, T, parameters: dict | None = None) -> np.ndarray:
    """The unscaled features of ``kind`` (names in FEATURE_SETS) for 1-D ``level`` and ``T``, shape (n, m)."""
    level, T = np.asarray(level, dtype=float), np.asarray(T, dtype=float)
    return FEATURE_FUNCTIONS[kind](level, T, parameters or {})


def fho_parameters(process) -> dict:
    """The stored quantities of the ``fho`` features of a VT process (:class:`kvt.physics.process.Process`, or a
    pair's name: any of the 18).

    One entry per level 1..max level of the pair's molecule (O2 35, N2 46, NO 38): θ and θ₁
    of the molecule's transitions with the partner's reduced mass; S and ν of the pair
    (from :mod:`kvt.physics.fho`).
    """
    from kvt.physics import fho
    from kvt.physics.process import resolve

    p = resolve(process)
    levels = np.arange(1, p.max_level + 1, dtype=float)
    theta = p.energy_released_K(levels)
    parameters = fho.PairParameters.of(p.molecule, p.partner)
    omega = theta * fho.BOLTZMANN / fho.HBAR
    theta_1 = 4.0 * np.pi**2 * omega**2 * parameters.reduced_mass_kg / (fho.POTENTIAL_RANGE_ALPHA**2 * fho.BOLTZMANN)
    return {"theta_K": theta.tolist(), "theta1_K": theta_1.tolist(), "steric_factor": float(parameters.steric_factor),
            "nu": float(parameters.nu)}
