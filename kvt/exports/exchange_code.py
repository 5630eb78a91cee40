"""Solver code of a network of an exchange process (VV, VV'): a C99 header and a Fortran 2008 module whose function
fills the whole level-pair table at one temperature.

    int <prefix>_rates(double T, double *k_down, double *k_up)        (C; the Fortran module's bind(C) twin)
    status = <prefix>_rates(T, k_down [, k_up])                         (Fortran)

``k_down[j]`` = k(A(a) + B(b) -> A(a-1) + B(b+1), T) for a = LEVEL_A_MIN + j / N_B, b = LEVEL_B_MIN + j % N_B
(level_a-major, as kvt's tables); ``k_up[j]`` its reverse by exact detailed balance. Each pair is evaluated as
:class:`kvt.network.inference.Network` evaluates it: the features of :mod:`kvt.network.features` (``levels_T`` or
``exchange``, the level energies of both molecules stored in the file), the merged layers, the sigmoid
0.5 (1 + tanh(z / 2)), the target transform. The comment says which half of the table a kinetics code reads:
for VV (one molecule) every exchange appears twice, (a, b) and (b+1, a-1), and a code reads the half a <= b
(its exothermic direction, the quantum moving up the ladder) with k_up its reverse; for VV' every entry is an
exchange of its own.
"""

from __future__ import annotations

import numpy as np

from kvt.errors import KvtError
from kvt.exports.codegen import (
    FORTRAN_RETURN_CODES, RETURN_CODES, UNIT_FACTORS, UNIT_TEXT, c_array, check_prefix, check_units, literal,
    provenance, term,
)
from kvt.exports.features import _F_LOG1P
from kvt.exports.fortran import _f_array
from kvt.exports.layers import Block, c_exp, layer_code, padded

#: Raw features of each exchange kind in C and Fortran, in terms of a, b (doubles), T and the temporaries below.
FEATURES = {
    "levels_T": (("a", "b", "T"), ("a", "b", "t")),
    "exchange": (("a", "b", "log(T)", "log(nn)", "log(th)", "log1p(xx)", "lng", "fmin(de, 0.0) / T"),
                 ("a", "b", "log(t)", "log(nn)", "log(th)", "log1p_dp(xx)", "lng", "min(de, 0.0_dp) / t")),
}


def _half_lines(network) -> list[str]:
    p = network.process
    if p.kind == "vv":
        return [f"Which half a kinetics code reads: A and B are both {p.molecule_a.name}, so every exchange appears "
                f"twice, (a, b) and",
                "(b+1, a-1) (the second is the first's reverse). Read the entries with a <= b, the exchange in its",
                "exothermic direction (the quantum moves up the ladder), and k_up of the same entry for its reverse;",
                "a = b + 1 is a resonant swap that changes no population."]
    return [f"Which half a kinetics code reads: all of it. A = {p.molecule_a.name} gives a quantum to "
            f"B = {p.molecule_b.name} in every entry,",
            "each an exchange of its own; k_up is its reverse (B gives the quantum back to A)."]


def _check(network):
    kind = network.feature_kind
    if kind not in FEATURES:
        raise KvtError(f"cannot generate exchange solver code for features.kind {kind!r}; supported: "
                       f"{', '.join(FEATURES)}")
    (lo_a, hi_a), (lo_b, hi_b) = (tuple(int(v) for v in network.level_ranges[n]) for n in ("level_a", "level_b"))
    return lo_a, hi_a, lo_b, hi_b


def _energies(network):
    """E(0..L) of A and of B in K (stored with the exchange features; from the process for the study's)."""
    from kvt.network.features import exchange_parameters

    parameters = network.feature_parameters if network.feature_kind == "exchange" else \
        exchange_parameters(network.process)
    return (np.asarray(parameters["energies_a_K"], dtype=float), np.asarray(parameters["energies_b_K"], dtype=float),
            parameters)


def _kernel(network, fortran: bool, P: str, parameters, units: str):
    """(constant arrays as (name, values), locals, statements, whether ``<p>_exp_`` is used) of the network over
    every pair, one level_a a pass: the features of the row's pairs into columns of ``xc`` (level_b, padded to
    ``N_B_PAD``, a multiple of 4, by repeating the last), the layers over the row at once
    (:func:`kvt.exports.layers.layer_code`), then k of each pair. Features of T alone (ln T, T) are computed once
    per call; a sigmoid first layer reading level_a, level_b and those gets its level parts as tables, level_a's
    a factor per row. ``{p}`` in the code stands for the prefix.
    """
    exprs = FEATURES[network.feature_kind][1 if fortran else 0]
    n_feat, target, f = len(exprs), network.target, fortran
    once = [i for i, expr in enumerate(exprs) if expr in ("T", "t", "log(T)", "log(t)")]
    needed = set(network.network_inputs) | (set(range(n_feat)) if target["kind"] != "minmax_1e18" else set())
    columns = [i for i in sorted(needed) if i not in once]
    end, dp = ("", "_dp") if f else (";", "")
    (lo_a, hi_a), (lo_b, hi_b) = (tuple(int(v) for v in network.level_ranges[n]) for n in ("level_a", "level_b"))

    def scaled(i):
        return (f"({exprs[i]}) * feature_scale({i + 1}) + feature_shift({i + 1})" if f
                else f"({exprs[i]}) * {{p}}_feature_scale_[{i}] + {{p}}_feature_shift_[{i}]")

    def xc(c):
        return f"xc(j, {c + 1})" if f else f"xc[{c} * {P}_N_B_PAD + j]"

    def de_lines():
        return (["de = (energy_a_k(ia + 1) - energy_a_k(ia)) + (energy_b_k(ib + 1) - energy_b_k(ib + 2))"] if f else
                ["de = ({p}_energy_a_K_[ia] - {p}_energy_a_K_[ia - 1]) + ({p}_energy_b_K_[ib] - {p}_energy_b_K_[ib + 1]);"])

    features = [f"ib = {P}_LEVEL_B_MIN + min(j, {P}_N_B) - 1" if f
                else f"ib = {P}_LEVEL_B_MIN + (j < {P}_N_B ? j : {P}_N_B - 1);",
                "b = real(ib, dp)" if f else "b = (double)ib;"]
    exchange = network.feature_kind == "exchange"
    if exchange:
        features += [*de_lines(),
                     ("th = (abs(energy_a_k(ia + 1) - energy_a_k(ia)) + abs(energy_b_k(ib + 1) - energy_b_k(ib + 2))) / 2.0_dp"
                      if f else "th = (fabs({p}_energy_a_K_[ia] - {p}_energy_a_K_[ia - 1]) + "
                                "fabs({p}_energy_b_K_[ib] - {p}_energy_b_K_[ib + 1])) / 2.0;"),
                     f"nn = a * (b + 1.0{dp}){end}",
                     f"xx = nn * ({literal(parameters['p_coefficient'])}{dp}) * {'t' if f else 'T'} / (th * th){end}",
                     f"lam = ({literal(parameters['lambda_coefficient'])}{dp}) * abs(de) / sqrt(t)" if f else
                     f"lam = {term(parameters['lambda_coefficient'])} * fabs(de) / sqrt(T);",
                     f"e = exp(-2.0{dp} * lam / 3.0{dp}){end}",
                     f"lng = log(0.5{dp} * (3.0{dp} - e)) - 2.0{dp} * lam / 3.0{dp}{end}"]
    features += [f"{xc(c)} = {scaled(i)}{end}" for c, i in enumerate(columns)]
    scale, shift = network.feature_scale, network.feature_shift
    row = f"ia - {P}_LEVEL_A_MIN" + (" + 1" if f else "")

    def source(i):  # level_a: a factor per row, level_b: numpy's values per column (where the first layer tables them)
        if i in once:
            return f"x({i + 1})" if f else f"x[{i}]"
        if i == 0:
            return Block(np.arange(lo_a, hi_a + 1, dtype=float) * scale[0] + shift[0], row, ("xc", columns.index(0)))
        if i == 1:
            return np.arange(lo_b, hi_b + 1, dtype=float) * scale[1] + shift[1]
        return ("xc", columns.index(i))

    arrays, local, per_call, layers, out, uses_exp = layer_code(
        network, f, "{p}", "n_b_pad" if f else f"{P}_N_B_PAD", padded(hi_b - lo_b + 1),
        [source(i) for i in network.network_inputs])
    if target["kind"] == "minmax_1e18" and not any("xc" in line for line in layers):  # the tables hold the levels
        columns, features = [], []
    names = ("a, b, " if columns else "") + "y, k, de" + (", th, nn, xx, lam, e, lng" if exchange else "") + (
        ", lin" if target["kind"] != "minmax_1e18" else "")
    if f:
        local = [f"real(dp) :: {names}, x({n_feat})" + (f", xc(n_b_pad, {len(columns)})" if columns else ""), *local,
                 "integer :: ia, ib, q"]
    else:
        local = [f"double {names}, x[{n_feat}]" + (f", xc[{len(columns)} * {P}_N_B_PAD]" if columns else "") + ";",
                 *local, "int ia, ib, q, j, status;"]
    body = [f"x({i + 1}) = {scaled(i)}{end}" if f else f"x[{i}] = {scaled(i)};" for i in once] + per_call
    k_lines = [f"y = {out}{end}"]
    if target["kind"] == "minmax_1e18":
        shift_t, scale_t, factor = (f"({literal(target[key])}_dp)" if f else term(target[key])
                                    for key in ("shift", "scale", "factor"))
        k_lines.append(f"k = ((y - {shift_t}) / {scale_t}) / {factor}{end}")
    else:
        coef = np.asarray(target["baseline_coef"], dtype=float)
        arrays.append(("baseline_coef" if f else "{p}_baseline_coef_", coef))
        c_ref = (lambda i: f"baseline_coef({i + 1})") if f else (lambda i: f"{{p}}_baseline_coef_[{i}]")
        x_ref = (lambda i: f"x({i + 1})") if f else (lambda i: f"x[{i}]")
        k_lines.append(f"lin = 0.0{dp}{end}")
        k_lines += [f"lin = lin + {x_ref(i) if i in once else xc(columns.index(i))} * {c_ref(i)}{end}"
                    for i in range(n_feat)]
        std, mean, icpt = (f"({literal(target[key])}_dp)" if f else term(target[key])
                           for key in ("std", "mean", "baseline_intercept"))
        k_lines.append(f"k = exp(((y * {std} + {mean}) + lin) + {icpt}){end}")
    if UNIT_FACTORS[units] != 1.0:
        k_lines.append(f"k = k * {literal(UNIT_FACTORS[units])}{dp}{end}" + ("" if f else f" /* m^3/s -> {units} */"))
    check = (f"if (.not. (k > 0.0_dp .and. ieee_is_finite(k))) status = {P}_ERR_NONPHYSICAL" if f
             else f"if (!(k > 0.0) || !isfinite(k)) status = {P}_ERR_NONPHYSICAL;")
    if f:
        body += [f"do ia = {P}_LEVEL_A_MIN, {P}_LEVEL_A_MAX  ! one level_a a pass",
                 *(["  a = real(ia, dp)",
                    "  do j = 1, n_b_pad  ! the features of the row's pairs; the padding repeats the last level_b",
                    *(f"    {line}" for line in features), "  end do"] if columns else []),
                 *(f"  {line}" for line in layers),
                 f"  do j = 1, {P}_N_B", f"    q = (ia - {P}_LEVEL_A_MIN) * {P}_N_B + j",
                 f"    ib = {P}_LEVEL_B_MIN + j - 1", *(f"    {line}" for line in de_lines() + k_lines),
                 "    k_down(q) = k", f"    {check}", "    if (present(k_up)) then", "      k = k * exp(-de / t)",
                 "      k_up(q) = k", f"      {check}", "    end if", "  end do", "end do"]
    else:
        body += [f"for (ia = {P}_LEVEL_A_MIN; ia <= {P}_LEVEL_A_MAX; ia++) {{ /* one level_a a pass */",
                 *(["    a = (double)ia;",
                    f"    for (j = 0; j < {P}_N_B_PAD; j++) {{ /* the features of the row's pairs; the padding repeats "
                    f"the last level_b */", *(f"        {line}" for line in features), "    }"] if columns else []),
                 *(f"    {line}" for line in layers),
                 f"    for (j = 0; j < {P}_N_B; j++) {{", f"        q = (ia - {P}_LEVEL_A_MIN) * {P}_N_B + j;",
                 f"        ib = {P}_LEVEL_B_MIN + j;", *(f"        {line}" for line in de_lines() + k_lines),
                 "        k_down[q] = k;", f"        {check}", "        if (k_up != NULL) {",
                 "            k = k * exp(-de / T);", "            k_up[q] = k;", f"            {check}", "        }",
                 "    }", "}"]
    return arrays, local, body, uses_exp


def c_header(network, prefix: str = "kvt", source: str | None = None, nonphysical: dict | None = None,
             file_name: str | None = None, units: str = "m3/s", fit=None) -> str:
    """A self-contained C99 header with ``int <prefix>_rates(double T, double *k_down, double *k_up)`` over every
    trained level pair of an exchange network."""
    if fit is not None:
        raise KvtError("a Chebyshev kernel fits one level input; an exchange network is exported with its network")
    prefix, units = check_prefix(prefix), check_units(units)
    lo_a, hi_a, lo_b, hi_b = _check(network)
    energies_a, energies_b, parameters = _energies(network)
    p, P, process = prefix, prefix.upper(), network.process
    name = file_name or p + "_rates.h"
    a_name, b_name = process.molecule_a.name, process.molecule_b.name
    comment = "\n".join(f" * {line}".rstrip() for line in [
        f"{name}: {process.kind.upper()} rate coefficients of {process.name}, "
        f"{a_name}(a) + {b_name}(b) -> {a_name}(a-1) + {b_name}(b+1), a kvt network in plain C99 (libm only).",
        *provenance(network, source, nonphysical)[:3],
        f"trained range: level_a {lo_a}..{hi_a}, level_b {lo_b}..{hi_b}, T {network.temperature_range[0]:g}.."
        f"{network.temperature_range[1]:g} K", "",
        f"int {p}_rates(double T, double *k_down, double *k_up);",
        f"  T in K; for every pair, j = (a - {P}_LEVEL_A_MIN) * {P}_N_B + (b - {P}_LEVEL_B_MIN), j < {P}_N_PAIRS:",
        f"  k_down[j] = k({a_name}(a) + {b_name}(b) -> {a_name}(a-1) + {b_name}(b+1), T) in {UNIT_TEXT[units]} "
        f"({P}_K_UNITS);",
        f"  k_up[j] = its reverse, k_down[j] * exp(-dE / T), dE = E_A(a) - E_A(a-1) + E_B(b) - E_B(b+1) (exact "
        f"detailed balance); k_up may be NULL.",
        *_half_lines(network),
        "Return codes:",
        *(f"    {P}_{code_name} = {value}: {meaning}" for code_name, value, meaning in RETURN_CODES),
        "  No allocation, no mutable state (thread-safe). Usage:",
        f"    #include \"{name}\"   double kd[{P}_N_PAIRS], ku[{P}_N_PAIRS];",
        f"    if ({p}_rates(T, kd, ku) != {P}_OK) {{ ... }}      cc -std=c99 solver.c -lm"])
    arrays, local, body, uses_exp = _kernel(network, False, P, parameters, units)
    arrays = [c_array(f"{p}_energy_a_K_", energies_a), c_array(f"{p}_energy_b_K_", energies_b),
              c_array(f"{p}_feature_scale_", network.feature_scale),
              c_array(f"{p}_feature_shift_", network.feature_shift),
              *(c_array(name.replace("{p}", p), values) for name, values in arrays)]
    body = [*local, f"if (k_down == NULL) return {P}_ERR_NULL;",
            f"if (!(T >= {P}_T_MIN_K && T <= {P}_T_MAX_K)) return {P}_ERR_T_RANGE; /* also NaN */",
            f"status = {P}_OK;", *body, "return status;"]
    body = [line.replace("{p}", p) for line in body]
    helpers = c_exp(p) if uses_exp else []
    t_lo, t_hi = network.temperature_range
    macros = [f"#define {P}_LEVEL_A_MIN {lo_a}", f"#define {P}_LEVEL_A_MAX {hi_a}",
              f"#define {P}_LEVEL_B_MIN {lo_b}", f"#define {P}_LEVEL_B_MAX {hi_b}",
              f"#define {P}_N_A {hi_a - lo_a + 1}", f"#define {P}_N_B {hi_b - lo_b + 1}",
              f"#define {P}_N_PAIRS {(hi_a - lo_a + 1) * (hi_b - lo_b + 1)}",
              f"#define {P}_T_MIN_K {literal(t_lo)}", f"#define {P}_T_MAX_K {literal(t_hi)}",
              f"#define {P}_K_UNITS \"{units}\"",
              f"#define {P}_N_B_PAD {padded(hi_b - lo_b + 1)} /* N_B rounded up to a multiple of 4: the columns of a "
              f"pass of the layers (one level_a) */"]
    macros += [f"#define {P}_{code_name} {value}" for code_name, value, _ in RETURN_CODES]
    return "\n".join(["/*", comment, " */", f"#ifndef {P}_RATES_H", f"#define {P}_RATES_H", "",
                      "#include <math.h>", "#include <stddef.h>",
                      *(["#include <stdint.h>", "#include <string.h>"] if helpers else []), "", *macros, "", *arrays, "",
                      *helpers, *([""] if helpers else []),
                      f"static inline int {p}_rates(double T, double *k_down, double *k_up)", "{",
                      *(f"    {line}" for line in body), "}", "", f"#endif /* {P}_RATES_H */", ""])


def fortran_module(network, prefix: str = "kvt", source: str | None = None, nonphysical: dict | None = None,
                   file_name: str | None = None, units: str = "m3/s", fit=None) -> str:
    """A Fortran 2008 module ``<prefix>_rates_module`` with ``status = <prefix>_rates(T, k_down [, k_up])`` over
    every trained level pair of an exchange network, and its bind(C) twin ``int <prefix>_rates(double T,
    double *k_down, double *k_up)``."""
    if fit is not None:
        raise KvtError("a Chebyshev kernel fits one level input; an exchange network is exported with its network")
    prefix, units = check_prefix(prefix, fortran=True), check_units(units)
    lo_a, hi_a, lo_b, hi_b = _check(network)
    energies_a, energies_b, parameters = _energies(network)
    p, P, process = prefix, prefix.upper(), network.process
    a_name, b_name = process.molecule_a.name, process.molecule_b.name
    n_pairs = (hi_a - lo_a + 1) * (hi_b - lo_b + 1)
    comment = [f"! {line}".rstrip() for line in [
        f"{p}_rates_module: {process.kind.upper()} rate coefficients of {process.name}, {a_name}(a) + {b_name}(b) -> "
        f"{a_name}(a-1) + {b_name}(b+1), a kvt network in Fortran 2008.",
        *provenance(network, source, nonphysical)[:3],
        f"trained range: level_a {lo_a}..{hi_a}, level_b {lo_b}..{hi_b}, T {network.temperature_range[0]:g}.."
        f"{network.temperature_range[1]:g} K", "",
        f"use {p}_rates_module",
        f"real(real64) :: k_down({P}_N_PAIRS), k_up({P}_N_PAIRS)",
        f"status = {p}_rates(T, k_down, k_up)   ! k_up is optional",
        f"  T in K; k in {UNIT_TEXT[units]}; for every pair, j = (a - {P}_LEVEL_A_MIN) * {P}_N_B + "
        f"(b - {P}_LEVEL_B_MIN) + 1:",
        f"  k_down(j) = k({a_name}(a) + {b_name}(b) -> {a_name}(a-1) + {b_name}(b+1), T); k_up(j) = its reverse, "
        f"k_down(j) * exp(-dE / T).",
        *_half_lines(network),
        f"From C (bind(C)): int {p}_rates(double T, double *k_down, double *k_up), as in kvt's C header. Return codes:",
        *(f"    {P}_{name} = {value}: {meaning}" for name, value, meaning in FORTRAN_RETURN_CODES),
        f"  gfortran -std=f2008 -c {file_name or p + '_rates.f90'}"]]
    t_lo, t_hi = network.temperature_range
    decl = [f"  integer(c_int), parameter, public :: {P}_LEVEL_A_MIN = {lo_a}, {P}_LEVEL_A_MAX = {hi_a}, "
            f"{P}_LEVEL_B_MIN = {lo_b}, {P}_LEVEL_B_MAX = {hi_b}",
            f"  integer(c_int), parameter, public :: {P}_N_A = {hi_a - lo_a + 1}, {P}_N_B = {hi_b - lo_b + 1}, "
            f"{P}_N_PAIRS = {n_pairs}",
            f"  real(c_double), parameter, public :: {P}_T_MIN_K = {literal(t_lo)}_dp, {P}_T_MAX_K = {literal(t_hi)}_dp",
            f"  character(len=*), parameter, public :: {P}_K_UNITS = \"{units}\""]
    decl += [f"  integer(c_int), parameter, public :: {P}_{name} = {value}" for name, value, _ in FORTRAN_RETURN_CODES]
    decl += _f_array("energy_a_k", energies_a) + _f_array("energy_b_k", energies_b)
    decl += _f_array("feature_scale", network.feature_scale) + _f_array("feature_shift", network.feature_shift)
    arrays, local, body, _ = _kernel(network, True, P, parameters, units)
    decl.append(f"  integer, parameter :: n_b_pad = {padded(hi_b - lo_b + 1)}  ! N_B rounded up to a multiple of 4")
    for name, values in arrays:
        decl += _f_array(name, values, shape=values.shape if values.ndim == 2 else None)
    return "\n".join([
        *comment, f"module {p}_rates_module",
        "  use, intrinsic :: iso_c_binding, only: c_double, c_int, c_ptr, c_associated, c_f_pointer",
        "  use, intrinsic :: iso_fortran_env, only: real64",
        "  use, intrinsic :: ieee_arithmetic, only: ieee_is_nan, ieee_is_finite",
        "  implicit none", "  private", f"  public :: {p}_rates", "  integer, parameter :: dp = real64", *decl,
        f"  interface {p}_rates", f"    module procedure {p}_rates_f, {p}_rates_c", f"  end interface {p}_rates",
        "contains",
        f"  function {p}_rates_f(t, k_down, k_up) result(status)",
        "    real(real64), intent(in) :: t",
        "    real(real64), intent(out) :: k_down(:)",
        "    real(real64), intent(out), optional :: k_up(:)",
        "    integer :: status",
        *(f"    {line}" for line in local), "    integer :: j",
        f"    if (size(k_down) < {P}_N_PAIRS) then", f"      status = {P}_ERR_SIZE", "      return", "    end if",
        "    if (present(k_up)) then", f"      if (size(k_up) < {P}_N_PAIRS) then", f"        status = {P}_ERR_SIZE",
        "        return", "      end if", "    end if",
        f"    if (ieee_is_nan(t) .or. t < {P}_T_MIN_K .or. t > {P}_T_MAX_K) then", f"      status = {P}_ERR_T_RANGE",
        "      return", "    end if",
        f"    status = {P}_OK",
        *(f"    {line}" for line in body),
        f"  end function {p}_rates_f", "",
        f"  function {p}_rates_c(t, k_down_ptr, k_up_ptr) bind(C, name=\"{p}_rates\") result(status)",
        "    real(c_double), value, intent(in) :: t",
        "    type(c_ptr), value, intent(in) :: k_down_ptr, k_up_ptr",
        "    integer(c_int) :: status",
        "    real(c_double), pointer :: k_down(:), k_up(:)",
        "    if (.not. c_associated(k_down_ptr)) then", f"      status = {P}_ERR_NULL", "      return", "    end if",
        f"    if (ieee_is_nan(t) .or. t < {P}_T_MIN_K .or. t > {P}_T_MAX_K) then", f"      status = {P}_ERR_T_RANGE",
        "      return", "    end if",
        f"    call c_f_pointer(k_down_ptr, k_down, [{P}_N_PAIRS])",
        "    if (c_associated(k_up_ptr)) then",
        f"      call c_f_pointer(k_up_ptr, k_up, [{P}_N_PAIRS])",
        f"      status = int({p}_rates_f(t, k_down, k_up), c_int)",
        "    else", f"      status = int({p}_rates_f(t, k_down), c_int)", "    end if",
        f"  end function {p}_rates_c",
        *(_F_LOG1P if network.feature_kind == "exchange" else ()),
        f"end module {p}_rates_module", ""])
