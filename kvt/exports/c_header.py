"""The C99 header export: ``int <prefix>_rates(double T, double *k_down, double *k_up)``, libm only.

Two kernels compute k(i -> i-1, T) behind the same function: the network itself (every layer, as
:class:`kvt.network.inference.Network` evaluates it) or a per-transition Chebyshev series of its ln k
(:mod:`kvt.exports.chebyshev`, Clenshaw's recurrence), which is several times faster within a stated tolerance.
"""

from __future__ import annotations

import numpy as np

from kvt.exports.codegen import (
    RETURN_CODES, UNIT_FACTORS, UNIT_TEXT, check_fit, check_prefix, check_units, kernel_lines, layout, literal,
    network_molecule, provenance, term, wrap,
)
from kvt.exports.features import feature_lines, feature_parameters


def _c_array(name: str, values) -> str:
    values = np.ravel(np.asarray(values, dtype=float))
    body = "\n".join(wrap([literal(v) for v in values], 100, "    "))
    return f"static const double {name}[{values.size}] = {{\n{body}\n}};"


def _sigmoid(p: str) -> list[str]:
    """``static inline double <p>_sigmoid_(double z)`` = 1 / (1 + e^-z), numpy's 0.5 (1 + tanh(z / 2)) to 3 ulp.

    e^-z is kvt's own: x / ln 2 rounded to an integer n by adding 1.5 * 2^52 (round to nearest), the remainder
    r = x - n ln 2 in two parts (Cody-Waite, |r| <= ln 2 / 2), e^r by its Taylor polynomial of degree 13 (error
    below 1e-17) evaluated by Estrin's scheme, and 2^n from n's bits in the exponent field. As fast as libm's exp
    at -O2, and, having no call, vectorised at -O3 -march=native (libm's exp is not, and tanh is twice as slow).
    |x| is clamped at 708, where the sigmoid is 0 or 1 to double precision; a NaN stays NaN.
    """
    return [
        f"static inline double {p}_sigmoid_(double z)", "{",
        "    double x = -z, y, n, r, r2, r4, e, s;", "    uint64_t bits;",
        "    x = x < -708.0 ? -708.0 : x;", "    x = x > 708.0 ? 708.0 : x;",
        "    y = x * 1.4426950408889634 + 6755399441055744.0; /* 1.5 * 2^52: y's low bits hold n = round(x / ln 2) */",
        "    n = y - 6755399441055744.0;",
        "    r = (x - n * 0.6931471803691238) - n * 1.9082149292705877e-10; /* ln 2 in two parts */",
        "    r2 = r * r;", "    r4 = r2 * r2;",
        "    e = ((1.0 + r) + r2 * (0.5 + r * (1.0 / 6.0)))",
        "        + r4 * ((1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0)))",
        "        + r4 * r4 * (((1.0 / 40320.0 + r * (1.0 / 362880.0)) + r2 * (1.0 / 3628800.0 + r * (1.0 / 39916800.0)))",
        "                     + r4 * (1.0 / 479001600.0 + r * (1.0 / 6227020800.0)));",
        "    memcpy(&bits, &y, sizeof bits);", "    bits = (bits + 1023u) << 52; /* 2^n */",
        "    memcpy(&s, &bits, sizeof s);", "    return 1.0 / (1.0 + e * s);", "}"]


def _network_kernel(network, p: str, P: str, code, levels, width):
    """(arrays, locals, statements before the transition loop, statements in it that set k) of the network.

    The layers run over every transition at once (a [transition][unit] matrix per layer): the weights are read
    once per call, and the inner loop over a layer's outputs has no dependency chain, so compilers vectorise it.
    """
    spec, target = network.spec, network.target
    n_feat, n_tr = len(code.c), len(levels)
    arrays = [_c_array(f"{p}_feature_scale_", network.feature_scale),
              _c_array(f"{p}_feature_shift_", network.feature_shift)]
    tables, scalars = feature_parameters(network, code, levels)
    arrays += [_c_array(f"{p}_{key}_", values) for key, values in tables.items()]
    temporaries = "".join(f", {name}" for name, _, _ in code.temporaries)
    baseline = target["kind"] != "minmax_1e18"  # the log-space target adds a linear term of the features
    local = [f"double lv, y, x[{n_feat}], h0[{P}_N_TRANSITIONS * {width}], h1[{P}_N_TRANSITIONS * {width}]"
             f"{temporaries};", *([f"double xs[{P}_N_TRANSITIONS * {n_feat}];"] if baseline else []), "int i, o;"]
    once, per_level = feature_lines(
        code, False, lambda key: f"{p}_{key}_[j]", lambda key: term(scalars[key]),
        lambda f, expr: f"x[{f}] = ({expr}) * {p}_feature_scale_[{f}] + {p}_feature_shift_[{f}];")
    before = list(once)
    before += [f"for (j = 0; j < {P}_N_TRANSITIONS; j++) {{ /* the features of every transition */",
               f"    lv = (double)({P}_LEVEL_MIN + j);"]
    before += ["    " + line for line in per_level]
    if baseline:
        before += [f"    for (i = 0; i < {n_feat}; i++) xs[j * {n_feat} + i] = x[i];"]
    before += [f"    h0[j * {width} + {n}] = x[{index}];" for n, index in enumerate(network.network_inputs)]
    before.append("}")
    src, dst = "h0", "h1"
    for number, (weights, bias, activation) in enumerate(network.layers):
        n_in, n_out = weights.shape
        arrays += [_c_array(f"{p}_w{number}_", weights), _c_array(f"{p}_b{number}_", bias)]
        before += [f"for (j = 0; j < {P}_N_TRANSITIONS; j++) {{ /* layer {number}: {n_in} -> {n_out}, {activation} */",
                   f"    const double *in = {src} + j * {width};",
                   f"    double *out = {dst} + j * {width};",
                   f"    for (o = 0; o < {n_out}; o++) out[o] = {p}_b{number}_[o];",
                   f"    for (i = 0; i < {n_in}; i++) {{",
                   "        const double a = in[i];",
                   f"        const double *w = {p}_w{number}_ + i * {n_out};",
                   f"        for (o = 0; o < {n_out}; o++) out[o] += a * w[o];",
                   "    }"]
        if activation == "sigmoid":
            before.append(f"    for (o = 0; o < {n_out}; o++) out[o] = {p}_sigmoid_(out[o]);")
        before.append("}")
        src, dst = dst, src
    in_loop = [f"y = {src}[j * {width}];"]
    if target["kind"] == "minmax_1e18":
        in_loop.append(f"k = ((y - {term(target['shift'])}) / {term(target['scale'])}) / {term(target['factor'])};")
    else:
        arrays.append(_c_array(f"{p}_baseline_coef_", target["baseline_coef"]))
        in_loop += ["{",
                    "    double lin = 0.0;",
                    f"    for (i = 0; i < {n_feat}; i++) lin += xs[j * {n_feat} + i] * {p}_baseline_coef_[i];",
                    f"    k = exp(((y * {term(target['std'])} + {term(target['mean'])}) + lin) + "
                    f"{term(target['baseline_intercept'])});",
                    "}"]
    helpers = _sigmoid(p) if any(act == "sigmoid" for _, _, act in network.layers) else []
    return arrays, local, before, in_loop, helpers


def _chebyshev_kernel(fit, p: str, P: str):
    """(arrays, locals, statements before the loop, statements in it) of the Chebyshev series (Clenshaw).

    The coefficients are stored [term][transition], the transitions padded with zero rows to a multiple of 4
    (``<P>_N_PAD``) and the terms with a zero highest term to an odd count, so that the recurrence runs two terms
    per pass over fixed-length, unit-stride loops without remainder, which compilers vectorise even at -O2.
    """
    from kvt.exports.chebyshev import AXES, reduced_coefficients

    a, b = reduced_coefficients(fit.axis, fit.t_min, fit.t_max)
    n_tr, n_terms = fit.coefficients.shape
    pad, terms = -(-n_tr // 4) * 4, n_terms + (1 - n_terms % 2)
    table = np.zeros((terms, pad))
    table[:n_terms, :n_tr] = fit.coefficients.T
    arrays = [_c_array(f"{p}_cheb_", table)]
    local = [f"double x, x2, u[{P}_N_PAD], v[{P}_N_PAD];", "int n;"]
    before = [f"x = {literal(a)} * ({AXES[fit.axis].c_code}) + {term(b)}; /* reduced {AXES[fit.axis].label}: "
              f"-1 at T_MIN_K, 1 at T_MAX_K */",
              "x2 = 2.0 * x;",
              f"for (j = 0; j < {P}_N_PAD; j++) {{ u[j] = 0.0; v[j] = 0.0; }}",
              f"/* Clenshaw, b_n = c_n + 2 x b_(n+1) - b_(n+2) from n = {terms - 1} down to 1, two terms a pass: "
              f"u = b_(n+1), v = b_(n+2) */",
              f"for (n = {terms - 1}; n >= 2; n -= 2) {{",
              f"    const double *c1 = {p}_cheb_ + n * {P}_N_PAD, *c0 = c1 - {P}_N_PAD;",
              f"    for (j = 0; j < {P}_N_PAD; j++) {{",
              "        const double bn = c1[j] + x2 * u[j] - v[j];",
              "        v[j] = bn;",
              "        u[j] = c0[j] + x2 * bn - u[j];",
              "    }",
              "}"]
    in_loop = [f"k = exp({p}_cheb_[j] + x * u[j] - v[j]); /* ln k = c_0 + x b_1 - b_2 */"]
    return arrays, local, before, in_loop, []


def c_header(network, prefix: str = "kvt", source: str | None = None, nonphysical: dict | None = None,
             file_name: str | None = None, units: str = "m3/s", fit=None) -> str:
    """A self-contained C99 header with ``int <prefix>_rates(double T, double *k_down, double *k_up)``.

    ``nonphysical``: the region where the network gives k <= 0 (:mod:`kvt.kinetics.validity`), when the user
    allowed it; the comment then says so. ``file_name``: what the header will be called, for its comment
    (default ``<prefix>_rates.h``). ``units``: of k_down and k_up, m3/s or cm3/s. ``fit``: a
    :class:`kvt.exports.chebyshev.ChebyshevFit` of the network's trained transitions: the function then
    evaluates it instead of the network. ``kvt export`` checks k > 0 first (:mod:`kvt.exports.registry`).
    """
    prefix, units = check_prefix(prefix), check_units(units)
    spec, target, code, levels, energies, width = layout(network)
    p, P = prefix, prefix.upper()
    name = file_name or p + "_rates.h"
    what = "a kvt network in plain C99" if fit is None else "a Chebyshev fit of a kvt network in plain C99"
    comment = "\n".join(f" * {line}".rstrip() for line in [
        f"{name}: VT rate coefficients k(i -> i-1, T) of {network_molecule(network).name}, {what} (libm only).",
        *provenance(network, source, nonphysical), *kernel_lines(fit), "",
        f"int {p}_rates(double T, double *k_down, double *k_up);",
        f"  T in K; k_down[j] = k(i -> i-1, T) and k_up[j] = k(i-1 -> i, T) in {UNIT_TEXT[units]} "
        f"({P}_K_UNITS) for i = {P}_LEVEL_MIN + j,",
        f"  j = 0 .. {P}_N_TRANSITIONS - 1; k_up = k_down * exp(-(E(i) - E(i-1)) / T) (detailed balance,",
        "  E in K of kvt.physics.fho.level_energy_K); k_up may be NULL. Return codes:",
        *(f"    {P}_{code_name} = {value}: {meaning}" for code_name, value, meaning in RETURN_CODES),
        "  No allocation, no mutable state (thread-safe). Usage:",
        f"    #include \"{name}\"   double kd[{P}_N_TRANSITIONS], ku[{P}_N_TRANSITIONS];",
        f"    if ({p}_rates(T, kd, ku) != {P}_OK) {{ ... }}      cc -std=c99 solver.c -lm"])
    if fit is None:
        arrays, local, before, in_loop, helpers = _network_kernel(network, p, P, code, levels, width)
    else:
        check_fit(fit, levels, network)
        arrays, local, before, in_loop, helpers = _chebyshev_kernel(fit, p, P)
    arrays.insert(0, _c_array(f"{p}_energy_K_", energies))
    scale = [] if UNIT_FACTORS[units] == 1.0 else [f"k = k * {literal(UNIT_FACTORS[units])}; /* m^3/s -> {units} */"]
    body = [*(f"    {line}" for line in local), "    double k;", "    int j, status;",
            f"    if (k_down == NULL) return {P}_ERR_NULL;",
            f"    if (!(T >= {P}_T_MIN_K && T <= {P}_T_MAX_K)) return {P}_ERR_T_RANGE; /* also NaN */",
            f"    status = {P}_OK;",
            *(f"    {line}" for line in before),
            f"    for (j = 0; j < {P}_N_TRANSITIONS; j++) {{",
            *(f"        {line}" for line in in_loop + scale),
            "        k_down[j] = k;",
            f"        if (!(k > 0.0) || !isfinite(k)) status = {P}_ERR_NONPHYSICAL;",
            "        if (k_up != NULL) {",
            f"            k = k * exp(-({p}_energy_K_[j + 1] - {p}_energy_K_[j]) / T);",
            "            k_up[j] = k;",
            f"            if (!(k > 0.0) || !isfinite(k)) status = {P}_ERR_NONPHYSICAL;",
            "        }", "    }", "    return status;"]
    (lo, hi), (t_lo, t_hi) = network.level_range, network.temperature_range
    macros = [f"#define {P}_LEVEL_MIN {int(lo)}", f"#define {P}_LEVEL_MAX {int(hi)}",
              f"#define {P}_N_TRANSITIONS {len(levels)}", f"#define {P}_T_MIN_K {literal(t_lo)}",
              f"#define {P}_T_MAX_K {literal(t_hi)}", f"#define {P}_K_UNITS \"{units}\""]
    if fit is not None:
        macros += [f"#define {P}_N_TERMS {fit.n_terms}",
                   f"#define {P}_N_PAD {-(-len(levels) // 4) * 4} /* the coefficient table's row length */",
                   f"#define {P}_FIT_MAX_REL_DEVIATION {literal(fit.max_error)} /* from the network, every "
                   f"{fit.temperatures[1] - fit.temperatures[0]:g} K */"]
    macros += [f"#define {P}_{code_name} {value}" for code_name, value, _ in RETURN_CODES]
    return "\n".join([
        "/*", comment, " */", f"#ifndef {P}_RATES_H", f"#define {P}_RATES_H", "",
        "#include <math.h>", "#include <stddef.h>", *(["#include <stdint.h>", "#include <string.h>"] if helpers else []),
        "", *macros, "", *arrays, "", *([*helpers, ""] if helpers else []),
        f"static inline int {p}_rates(double T, double *k_down, double *k_up)", "{", *body, "}", "",
        f"#endif /* {P}_RATES_H */", ""])
