"""The C99 header export: ``int <prefix>_rates(double T, double *k_down, double *k_up)``, libm only.

Two kernels compute k(i -> i-1, T) behind the same function: the network itself (every layer, as
:class:`kvt.network.inference.Network` evaluates it) or a per-transition Chebyshev series of its ln k
(:mod:`kvt.exports.chebyshev`, Clenshaw's recurrence), which is several times faster within a stated tolerance.
"""

from __future__ import annotations

import numpy as np

from kvt.exports.codegen import (
    RETURN_CODES, UNIT_FACTORS, UNIT_TEXT, c_array, check_fit, check_prefix, check_units, kernel_lines, layout,
    literal,
    network_molecule, provenance, term,
)
from kvt.exports.layers import c_exp, padded
from kvt.exports.vt_kernel import network_kernel


def _network_kernel(network, p: str, P: str, code, levels):
    """(arrays, locals, statements before the transition loop, statements in it that set k, helpers) of the network
    (:func:`kvt.exports.vt_kernel.network_kernel`)."""
    arrays, local, before, in_loop, uses_exp = network_kernel(network, code, False, p, P, levels)
    return [c_array(name, values) for name, values in arrays], local, before, in_loop, c_exp(p) if uses_exp else []


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
    arrays = [c_array(f"{p}_cheb_", table)]
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
    code, levels, energies = layout(network)
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
        arrays, local, before, in_loop, helpers = _network_kernel(network, p, P, code, levels)
    else:
        check_fit(fit, levels, network)
        arrays, local, before, in_loop, helpers = _chebyshev_kernel(fit, p, P)
    arrays.insert(0, c_array(f"{p}_energy_K_", energies))
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
    macros.append(f"#define {P}_N_PAD {padded(len(levels))} /* N_TRANSITIONS rounded up to a multiple of 4: the "
                  f"row length of the {'coefficient table' if fit else 'layers'} */")
    if fit is not None:
        macros += [f"#define {P}_N_TERMS {fit.n_terms}",
                   f"#define {P}_FIT_MAX_REL_DEVIATION {literal(fit.max_error)} /* from the network, every "
                   f"{fit.temperatures[1] - fit.temperatures[0]:g} K */"]
    macros += [f"#define {P}_{code_name} {value}" for code_name, value, _ in RETURN_CODES]
    return "\n".join([
        "/*", comment, " */", f"#ifndef {P}_RATES_H", f"#define {P}_RATES_H", "",
        "#include <math.h>", "#include <stddef.h>", *(["#include <stdint.h>", "#include <string.h>"] if helpers else []),
        "", *macros, "", *arrays, "", *([*helpers, ""] if helpers else []),
        f"static inline int {p}_rates(double T, double *k_down, double *k_up)", "{", *body, "}", "",
        f"#endif /* {P}_RATES_H */", ""])
