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

Kinds of the exchange processes (VV, VV'; two level inputs, given as an (n, 2) array of
(level_a, level_b)):

* ``levels_T`` (study mode): (level_a, level_b, T).
* ``exchange`` (accurate mode, schema 3): (level_a, level_b, ln T), then the terms of the FHO VV
  formula of the exchange A(i) + B(j) -> A(i-1) + B(j+1) that make ln k linear: ln(n_a n_b) with
  n_a = i, n_b = j + 1; ln theta, theta = (|d_a| + |d_b|) / 2 the mean quantum; ln(1 + x),
  x = n_a n_b P, P = c_P T / theta^2 the FHO transition probability per quantum; ln G, G the
  resonance-defect factor of lambda = c_lambda |dE| / sqrt(T); and min(dE, 0) / T, the
  detailed-balance factor of the endothermic direction. ln k is a linear combination of these
  (the baseline finds the coefficients); the network reads the first three and learns what a
  table departs from it by. The level energies of both molecules and c_P, c_lambda are stored
  (:func:`exchange_parameters`).
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
EXCHANGE_NAMES = ("level_a", "level_b", "ln_T", "ln(n_a*n_b)", "ln_theta", "ln(1+x)", "ln_G", "min(dE,0)/T")
FEATURE_SETS["levels_T"] = ("level_a", "level_b", "T_K")
FEATURE_SETS["exchange"] = EXCHANGE_NAMES
#: Keys of ``features`` in a weights document that each kind needs besides scale/shift.
PARAMETER_KEYS = {"level_T": (), "log_space": (), "fho": ("theta_K", "theta1_K", "steric_factor", "nu"),
                  "levels_T": (), "exchange": ("energies_a_K", "energies_b_K", "p_coefficient", "lambda_coefficient")}
#: The raw inputs of each kind (a network of the kind is evaluated at these): level inputs, then T.
INPUTS = {"level_T": ("level", "T_K"), "log_space": ("level", "T_K"), "fho": ("level", "T_K"),
          "levels_T": ("level_a", "level_b", "T_K"), "exchange": ("level_a", "level_b", "T_K")}


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


def _levels_T(levels, T, parameters):
    return np.column_stack([levels, T])


def exchange_terms(levels, T, parameters) -> dict:
    """The FHO VV quantities of each exchange A(i) + B(j) -> A(i-1) + B(j+1): n_a n_b, theta, x, lambda, dE (K)."""
    energies_a = np.asarray(parameters["energies_a_K"], dtype=float)
    energies_b = np.asarray(parameters["energies_b_K"], dtype=float)
    i, j = levels[:, 0], levels[:, 1]
    top_a, top_b = len(energies_a) - 1, len(energies_b) - 1
    if np.any((i < 1) | (i > top_a) | (i != np.round(i)) | (j < 0) | (j > top_b - 1) | (j != np.round(j))):
        raise KvtError(f"the exchange features are defined for whole levels level_a 1..{top_a}, "
                       f"level_b 0..{top_b - 1}")
    a, b = i.astype(int), j.astype(int)
    d_a, d_b = energies_a[a] - energies_a[a - 1], energies_b[b] - energies_b[b + 1]
    theta = (np.abs(d_a) + np.abs(d_b)) / 2.0
    released = d_a + d_b
    nn = i * (j + 1.0)
    return {"nn": nn, "theta": theta, "x": nn * parameters["p_coefficient"] * T / theta**2,
            "lambda": parameters["lambda_coefficient"] * np.abs(released) / np.sqrt(T), "released": released}


def _exchange(levels, T, parameters):
    t = exchange_terms(levels, T, parameters)
    e = np.exp(-2.0 * t["lambda"] / 3.0)
    ln_g = np.log(0.5 * (3.0 - e)) - 2.0 * t["lambda"] / 3.0
    return np.column_stack([levels, np.log(T), np.log(t["nn"]), np.log(t["theta"]), np.log1p(t["x"]), ln_g,
                            np.minimum(t["released"], 0.0) / T])


FEATURE_FUNCTIONS = {"level_T": _level_T, "log_space": _log_space, "fho": _fho, "levels_T": _levels_T,
                     "exchange": _exchange}


def raw_features(kind: str, level, T, parameters: dict | None = None) -> np.ndarray:
    """The unscaled features of ``kind`` (names in FEATURE_SETS), shape (n, m), for 1-D ``T`` and ``level``: 1-D for
    a kind with one level input, (n, 2) columns (level_a, level_b) for an exchange kind (INPUTS)."""
    level, T = np.asarray(level, dtype=float), np.asarray(T, dtype=float)
    n_levels = len(INPUTS[kind]) - 1
    if n_levels == 1 and level.ndim == 2:
        level = level[:, 0]
    elif n_levels > 1 and (level.ndim != 2 or level.shape[1] != n_levels):
        raise KvtError(f"the {kind} features take {n_levels} level inputs {', '.join(INPUTS[kind][:-1])}")
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


def exchange_parameters(process) -> dict:
    """The stored quantities of the ``exchange`` features of a VV or VV' process
    (:class:`kvt.physics.process.ExchangeProcess`): the level energies E(0..L) of A and of B in kelvin, and the
    constants c_P = S alpha^2 k / (2 mu (k/hbar)^2) and c_lambda = (2/3) 2 pi (k/hbar) sqrt(mu / (alpha^2 k)) / sqrt 8
    of the FHO VV formula (:mod:`kvt.physics.fho_vv`), so that P = c_P T / theta^2, lambda = c_lambda |dE| / sqrt T.
    """
    from kvt.physics import fho, fho_vv

    a, b = process.molecule_a, process.molecule_b
    mu = fho_vv.reduced_mass_kg(a, b)
    k_over_hbar = fho_vv.BOLTZMANN / fho_vv.HBAR
    alpha = fho_vv.POTENTIAL_RANGE_ALPHA
    return {"energies_a_K": fho.level_energy_K(np.arange(a.max_level + 1), a).tolist(),
            "energies_b_K": fho.level_energy_K(np.arange(b.max_level + 1), b).tolist(),
            "p_coefficient": float(fho_vv.STERIC_FACTOR_VV * alpha**2 * fho_vv.BOLTZMANN
                                   / (2.0 * mu * k_over_hbar**2)),
            "lambda_coefficient": float((2.0 / 3.0) * 2.0 * np.pi * k_over_hbar
                                        * np.sqrt(mu / (alpha**2 * fho_vv.BOLTZMANN)) / np.sqrt(8.0))}


#: The function that computes the stored parameters of each kind that has some, from a process.
PARAMETER_FUNCTIONS = {"fho": fho_parameters, "exchange": exchange_parameters}
