"""Generated code of the raw features of each ``features.kind``, for the C and Fortran solver exports.

:data:`FEATURE_CODE` maps a kind to a :class:`FeatureCode`: C and Fortran expressions of the
features of :mod:`kvt.network.features` in terms of the level ``lv`` and ``T``, with the per-level tables,
scalar parameters, temporaries and Fortran helper functions they use. :func:`kernel_plan` sorts them for
:mod:`kvt.exports.c_header` and :mod:`kvt.exports.fortran`: features of the level alone become tables computed
with numpy at export time, those of T alone are computed once per call, the rest once per transition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from kvt.errors import KvtError
from kvt.network.features import FEATURE_SETS

@dataclass(frozen=True)
class FeatureCode:
    """Source expressions of one feature kind's raw features, in terms of the level ``lv`` and ``T`` (both double).

    A kind may also declare per-level ``tables`` and scalar ``scalars`` (keys of the weights document's
    ``features``), written ``{key}`` in an expression: a table stands for its entry of the current level
    (emitted as a constant array), a scalar for its value (a literal). ``temporaries`` are
    ``(name, C, Fortran)`` local variables assigned in order before the features, once per transition
    (once per call if they read neither the level nor a table). ``derived`` are more per-level tables,
    ``(key, function(level, parameters))`` computed with numpy at export time, so that what depends on the
    level alone is not computed per call. ``fortran_functions`` are module procedures the Fortran expressions call.
    """

    c: tuple[str, ...]
    fortran: tuple[str, ...]
    tables: tuple[str, ...] = ()
    scalars: tuple[str, ...] = ()
    temporaries: tuple[tuple[str, str, str], ...] = ()
    derived: tuple[tuple[str, Callable], ...] = ()
    fortran_functions: tuple[str, ...] = ()


_LOG_SPACE_C = ("lv", "log(lv)", "pow(T, -1.0 / 3.0)", "log(T)", "1000.0 / T")
_LOG_SPACE_F = ("lv", "log(lv)", "t ** (-1.0_dp / 3.0_dp)", "log(t)", "1000.0_dp / t")
# Fortran has no log1p: the classic correction (u = 1 + x; ln(u) x / (u - 1)) cancels the rounding of 1 + x,
# so it is accurate to a few ulp for x > -1; the comparison avoids == on reals (gfortran -Wextra)
_F_LOG1P = (
    "  pure function log1p_dp(x) result(y)",
    "    ! ln(1 + x), accurate also for small x (x > -1): log(u) * x / (u - 1), u = 1 + x",
    "    real(dp), intent(in) :: x",
    "    real(dp) :: y, u",
    "    u = 1.0_dp + x",
    "    if (abs(u - 1.0_dp) > 0.0_dp) then",
    "      y = log(u) * x / (u - 1.0_dp)",
    "    else",
    "      y = x",
    "    end if",
    "  end function log1p_dp")

#: features.kind -> generated code of its raw features, in the order of kvt.network.inference.FEATURE_SETS.
FEATURE_CODE = {
    "level_T": FeatureCode(c=("lv", "T"), fortran=("lv", "t")),
    "log_space": FeatureCode(c=_LOG_SPACE_C, fortran=_LOG_SPACE_F),
    # kvt.network.features._fho with its per-level parts as tables: b = cbrt(theta1 / T) = cbrt(theta1) u with
    # u = cbrt(1 / T) (once per call), e^-2b = (e^-b)^2, the two cbrt features cbrt(theta^2) u and cbrt(theta) u^2;
    # equal to numpy's to a few ulp. cbrt(x) in Fortran is x ** (1/3), every argument being > 0
    "fho": FeatureCode(
        tables=("theta_K",), scalars=(),
        derived=(("cbrt_theta1_K", lambda lv, q: np.cbrt(_fho_table(q, "theta1_K", lv))),
                 ("cbrt_theta_K", lambda lv, q: np.cbrt(_fho_table(q, "theta_K", lv))),
                 ("cbrt_theta2_K", lambda lv, q: np.cbrt(_fho_table(q, "theta_K", lv) ** 2)),
                 ("eps_c1", lambda lv, q: (q["nu"] + lv) * _fho_a(q, lv)),
                 ("eps_c2", lambda lv, q: (lv * _fho_a(q, lv) / 2.0) ** 2)),
        temporaries=(("u", "cbrt(1.0 / T)", "(1.0_dp / t) ** (1.0_dp / 3.0_dp)"),
                     ("b", "{cbrt_theta1_K} * u", "{cbrt_theta1_K} * u"), ("e", "exp(-b)", "exp(-b)"),
                     ("eps", "{eps_c1} * e + {eps_c2} * (e * e)", "{eps_c1} * e + {eps_c2} * (e * e)")),
        c=_LOG_SPACE_C + ("{theta_K} / T", "log({theta_K})", "{cbrt_theta2_K} * u", "{cbrt_theta_K} * (u * u)", "eps",
                          "log1p(b * eps / 3.0)"),
        fortran=_LOG_SPACE_F + ("{theta_K} / t", "log({theta_K})", "{cbrt_theta2_K} * u", "{cbrt_theta_K} * (u * u)",
                                "eps", "log1p_dp(b * eps / 3.0_dp)"),
        fortran_functions=_F_LOG1P),
}


def _fho_table(parameters, key, level):
    return np.asarray(parameters[key], dtype=float)[np.asarray(level, dtype=int) - 1]


def _fho_a(parameters, level):
    """a = S theta_1 / theta of kvt.network.features._fho."""
    return parameters["steric_factor"] * _fho_table(parameters, "theta1_K", level) / _fho_table(parameters, "theta_K", level)
# names of the generated functions' own variables (Fortran ignores case): no temporary may reuse them
_RESERVED = {"lv", "t", "y", "k", "x", "h0", "h1", "j", "i", "o", "s", "lin", "status", "k_down", "k_up",
             "k_down_ptr", "k_up_ptr", "with_up", "dp", "energy_k", "feature_scale", "feature_shift",
             "baseline_coef", "cw", "xc", "xl", "u0"}


def feature_code(kind: str) -> FeatureCode:
    """The generated-code entry of a weights file's ``features.kind``; ``KvtError`` for a kind without one."""
    if kind not in FEATURE_CODE:
        raise KvtError(f"cannot generate solver code for features.kind {kind!r}; supported: {', '.join(FEATURE_CODE)}")
    code = FEATURE_CODE[kind]
    if kind in FEATURE_SETS and len(code.c) != len(FEATURE_SETS[kind]):
        raise KvtError(f"FEATURE_CODE[{kind!r}] has {len(code.c)} features, the weights format "
                       f"{len(FEATURE_SETS[kind])}")
    clash = [name for name, _, _ in code.temporaries
             if name.lower() in _RESERVED or re.fullmatch(r"[wb]\d+", name.lower())]
    if clash:
        raise KvtError(f"FEATURE_CODE[{kind!r}]: temporaries {clash} reuse names of the generated code")
    return code


def _dependent(code: FeatureCode, fortran: bool, names: list[str], tables) -> tuple[list[bool], list[bool]]:
    """Which temporaries and which features read one of ``names``, one of ``tables`` or such a temporary."""
    names = list(names)
    flags = re.IGNORECASE if fortran else 0

    def reads(expr: str) -> bool:
        return (any("{" + table + "}" in expr for table in tables)
                or re.search(r"\b(" + "|".join(names) + r")\b", expr, flags) is not None)

    temporaries = []
    for name, c_expr, f_expr in code.temporaries:
        temporaries.append(reads(f_expr if fortran else c_expr))
        if temporaries[-1]:
            names.append(name)
    return temporaries, [reads(expr) for expr in (code.fortran if fortran else code.c)]


def level_dependent(code: FeatureCode, fortran: bool) -> tuple[list[bool], list[bool]]:
    """Which temporaries and which features read the level: ``lv``, a per-level table or such a temporary."""
    return _dependent(code, fortran, ["lv"], code.tables + tuple(key for key, _ in code.derived))


def feature_parameters(network, code: FeatureCode, levels) -> tuple[dict, dict]:
    """The kind's per-level tables (stored and derived) over the trained ``levels`` (index j: level LEVEL_MIN + j)
    and its scalars."""
    parameters = network.feature_parameters
    tables = {}
    for key in code.tables:
        values = np.asarray(parameters[key], dtype=float)
        if levels[-1] > values.size:
            raise KvtError(f"features.{key} has {values.size} levels, the network is trained up to level "
                           f"{levels[-1]}")
        tables[key] = values[levels - 1]
    for key, function in code.derived:
        tables[key] = np.asarray(function(np.asarray(levels, dtype=float), parameters), dtype=float)
    return tables, {key: float(parameters[key]) for key in code.scalars}


def kernel_plan(network, code: FeatureCode, fortran: bool, levels) -> dict:
    """How a network kernel gets each feature it needs (the network's inputs; every feature for a log-space target).

    ``level``: features of the level alone, numpy's own scaled values at export time ``values[feature][j]``;
    ``once``: features of T alone, computed once per call; ``mixed``: computed per transition. ``temporaries``:
    (index, per transition) of the temporaries those read, in order; ``lv``: whether per-transition code reads lv.
    """
    from kvt.network.features import raw_features

    n_feat = len(code.c)
    needed = set(network.network_inputs) | (set(range(n_feat)) if network.target["kind"] != "minmax_1e18" else set())
    on_level = level_dependent(code, fortran)
    on_t = _dependent(code, fortran, ["t"] if fortran else ["T"], ())
    level = [f for f in sorted(needed) if on_level[1][f] and not on_t[1][f]]
    mixed = [f for f in sorted(needed) if on_level[1][f] and on_t[1][f]]
    once = [f for f in sorted(needed) if not on_level[1][f]]
    exprs = code.fortran if fortran else code.c
    reading = [exprs[f] for f in once + mixed]
    temporaries = []
    for index in reversed(range(len(code.temporaries))):  # a temporary is kept if later code reads it
        name, c_expr, f_expr = code.temporaries[index]
        if any(re.search(rf"\b{name}\b", expr, re.IGNORECASE if fortran else 0) for expr in reading):
            temporaries.insert(0, (index, on_level[0][index]))
            reading.append(f_expr if fortran else c_expr)
    per_transition = [exprs[f] for f in mixed] + [code.temporaries[i][2 if fortran else 1]
                                                 for i, per in temporaries if per]
    lv = any(re.search(r"\blv\b", expr) for expr in per_transition)
    values = np.zeros((0, len(levels)))
    if level:
        lv_values = np.asarray(levels, dtype=float)
        raw = raw_features(network.feature_kind, lv_values, np.full(lv_values.size, network.temperature_range[0]),
                           network.feature_parameters)  # these columns do not read T
        values = (raw * network.feature_scale + network.feature_shift)[:, level].T
    return {"level": level, "once": once, "mixed": mixed, "temporaries": temporaries, "lv": lv, "values": values}
