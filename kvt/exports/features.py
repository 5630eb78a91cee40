"""Generated code of the raw features of each ``features.kind``, for the C and Fortran solver exports.

:data:`FEATURE_CODE` maps a kind to a :class:`FeatureCode`: C and Fortran expressions of the
features of :mod:`kvt.network.features` in terms of the level ``lv`` and ``T``, with the per-level tables,
scalar parameters, temporaries and Fortran helper functions they use. :mod:`kvt.exports.c_header` and :mod:`kvt.exports.fortran`
turns it into statements (:func:`feature_lines`), once per call or once per transition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    (once per call if they read neither the level nor a table). ``fortran_functions`` are module
    procedures the Fortran expressions call.
    """

    c: tuple[str, ...]
    fortran: tuple[str, ...]
    tables: tuple[str, ...] = ()
    scalars: tuple[str, ...] = ()
    temporaries: tuple[tuple[str, str, str], ...] = ()
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
    # kvt.network.features._fho, operation for operation (x**2 as x*x, as numpy computes it); cbrt(x) in Fortran is
    # x ** (1/3), every argument being > 0
    "fho": FeatureCode(
        tables=("theta_K", "theta1_K"), scalars=("steric_factor", "nu"),
        temporaries=(("th", "{theta_K}", "{theta_K}"), ("th1", "{theta1_K}", "{theta1_K}"),
                     ("b", "cbrt(th1 / T)", "(th1 / t) ** (1.0_dp / 3.0_dp)"),
                     ("a", "{steric_factor} * th1 / th", "{steric_factor} * th1 / th"),
                     ("eps", "({nu} + lv) * a * exp(-b) + (lv * a / 2.0) * (lv * a / 2.0) * exp(-2.0 * b)",
                      "({nu} + lv) * a * exp(-b) + (lv * a / 2.0_dp) * (lv * a / 2.0_dp) * exp(-2.0_dp * b)")),
        c=_LOG_SPACE_C + ("th / T", "log(th)", "cbrt(th * th / T)", "cbrt(th / (T * T))", "eps",
                          "log1p(b * eps / 3.0)"),
        fortran=_LOG_SPACE_F + ("th / t", "log(th)", "(th * th / t) ** (1.0_dp / 3.0_dp)",
                                "(th / (t * t)) ** (1.0_dp / 3.0_dp)", "eps", "log1p_dp(b * eps / 3.0_dp)"),
        fortran_functions=_F_LOG1P),
}
# names of the generated functions' own variables (Fortran ignores case): no temporary may reuse them
_RESERVED = {"lv", "t", "y", "k", "x", "h0", "h1", "j", "i", "o", "s", "lin", "status", "k_down", "k_up",
             "k_down_ptr", "k_up_ptr", "with_up", "dp", "energy_k", "feature_scale", "feature_shift",
             "baseline_coef"}


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


def level_dependent(code: FeatureCode, fortran: bool) -> tuple[list[bool], list[bool]]:
    """Which temporaries and which features read the level: ``lv``, a per-level table or such a temporary."""
    names = ["lv"]

    def reads_level(expr: str) -> bool:
        return (any("{" + table + "}" in expr for table in code.tables)
                or re.search(r"\b(" + "|".join(names) + r")\b", expr) is not None)

    temporaries = []
    for name, c_expr, f_expr in code.temporaries:
        temporaries.append(reads_level(f_expr if fortran else c_expr))
        if temporaries[-1]:
            names.append(name)
    return temporaries, [reads_level(expr) for expr in (code.fortran if fortran else code.c)]


def feature_parameters(network, code: FeatureCode, levels) -> tuple[dict, dict]:
    """The kind's per-level tables over the trained ``levels`` (index j: level LEVEL_MIN + j) and its scalars."""
    parameters = network.feature_parameters
    tables = {}
    for key in code.tables:
        values = np.asarray(parameters[key], dtype=float)
        if levels[-1] > values.size:
            raise KvtError(f"features.{key} has {values.size} levels, the network is trained up to level "
                           f"{levels[-1]}")
        tables[key] = values[levels - 1]
    return tables, {key: float(parameters[key]) for key in code.scalars}


def feature_lines(code: FeatureCode, fortran: bool, table_ref, scalar_ref, feature) -> tuple[list[str], list[str]]:
    """Statements of the temporaries and features: (once per call, once per transition), in dependency order.

    ``table_ref(key)`` and ``scalar_ref(key)`` give the code of a table's current entry and of a scalar;
    ``feature(f, expr)`` the statement that stores feature ``f``.
    """
    refs = {key: table_ref(key) for key in code.tables} | {key: scalar_ref(key) for key in code.scalars}
    temp_dep, feat_dep = level_dependent(code, fortran)
    end = "" if fortran else ";"
    once, per_level = [], []
    for (name, c_expr, f_expr), dependent in zip(code.temporaries, temp_dep):
        (per_level if dependent else once).append(f"{name} = {(f_expr if fortran else c_expr).format(**refs)}{end}")
    for f, (expr, dependent) in enumerate(zip(code.fortran if fortran else code.c, feat_dep)):
        (per_level if dependent else once).append(feature(f, expr.format(**refs)))
    return once, per_level
