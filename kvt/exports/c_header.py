"""The C99 header export: ``int <prefix>_rates(double T, double *k_down, double *k_up)``, libm only."""

from __future__ import annotations

import numpy as np

from kvt.exports.codegen import (
    RETURN_CODES, check_prefix, layout, literal, network_molecule, provenance, term, wrap,
)
from kvt.exports.features import feature_lines, feature_parameters


def _c_array(name: str, values) -> str:
    values = np.ravel(np.asarray(values, dtype=float))
    body = "\n".join(wrap([literal(v) for v in values], 100, "    "))
    return f"static const double {name}[{values.size}] = {{\n{body}\n}};"


def c_header(network, prefix: str = "kvt", source: str | None = None, nonphysical: dict | None = None,
             file_name: str | None = None) -> str:
    """A self-contained C99 header with ``int <prefix>_rates(double T, double *k_down, double *k_up)``.

    ``nonphysical``: the region where the network gives k <= 0 (:mod:`kvt.kinetics.validity`), when the user
    allowed it; the comment then says so. ``file_name``: what the header will be called, for its comment
    (default ``<prefix>_rates.h``). ``kvt export`` checks k > 0 first (:mod:`kvt.exports.registry`).
    """
    prefix = check_prefix(prefix)
    spec, target, code, levels, energies, width = layout(network)
    p, P = prefix, prefix.upper()
    n_feat = len(code.c)
    comment = "\n".join(f" * {line}".rstrip() for line in [
        f"{file_name or p + '_rates.h'}: VT rate coefficients k(i -> i-1, T) of {network_molecule(network).name}, "
        f"a kvt network in plain C99 (libm only).",
        *provenance(network, source, nonphysical), "",
        f"int {p}_rates(double T, double *k_down, double *k_up);",
        f"  T in K; k_down[j] = k(i -> i-1, T) and k_up[j] = k(i-1 -> i, T) in m^3/s for i = {P}_LEVEL_MIN + j,",
        f"  j = 0 .. {P}_N_TRANSITIONS - 1; k_up = k_down * exp(-(E(i) - E(i-1)) / T) (detailed balance,",
        "  E in K of kvt.physics.fho.level_energy_K); k_up may be NULL. Return codes:",
        *(f"    {P}_{name} = {value}: {meaning}" for name, value, meaning in RETURN_CODES),
        "  No allocation, no mutable state (thread-safe). Usage:",
        f"    #include \"{file_name or p + '_rates.h'}\"   double kd[{P}_N_TRANSITIONS], ku[{P}_N_TRANSITIONS];",
        f"    if ({p}_rates(T, kd, ku) != {P}_OK) {{ ... }}      cc -std=c99 solver.c -lm"])
    arrays = [_c_array(f"{p}_energy_K_", energies),
              _c_array(f"{p}_feature_scale_", network.feature_scale),
              _c_array(f"{p}_feature_shift_", network.feature_shift)]
    tables, scalars = feature_parameters(network, code, levels)
    arrays += [_c_array(f"{p}_{key}_", values) for key, values in tables.items()]
    temporaries = "".join(f", {name}" for name, _, _ in code.temporaries)
    body = [f"    double lv, y, k, x[{n_feat}], h0[{width}], h1[{width}]{temporaries};",
            "    int j, i, o, status;",
            f"    if (k_down == NULL) return {P}_ERR_NULL;",
            f"    if (!(T >= {P}_T_MIN_K && T <= {P}_T_MAX_K)) return {P}_ERR_T_RANGE; /* also NaN */",
            f"    status = {P}_OK;"]
    # what reads neither the level nor a per-level table is the same for every transition: once per call
    once, per_level = feature_lines(
        code, False, lambda key: f"{p}_{key}_[j]", lambda key: term(scalars[key]),
        lambda f, expr: f"x[{f}] = ({expr}) * {p}_feature_scale_[{f}] + {p}_feature_shift_[{f}];")
    body += ["    " + line for line in once]
    body += [f"    for (j = 0; j < {P}_N_TRANSITIONS; j++) {{", f"        lv = (double)({P}_LEVEL_MIN + j);"]
    body += ["        " + line for line in per_level]
    body += [f"        h0[{n}] = x[{index}];" for n, index in enumerate(network.network_inputs)]
    src, dst = "h0", "h1"
    for number, (weights, bias, activation) in enumerate(network.layers):
        n_in, n_out = weights.shape
        arrays += [_c_array(f"{p}_w{number}_", weights), _c_array(f"{p}_b{number}_", bias)]
        value = "0.5 * (1.0 + tanh(0.5 * s))" if activation == "sigmoid" else "s"
        body += [f"        for (o = 0; o < {n_out}; o++) {{ /* layer {number}: {n_in} -> {n_out}, {activation} */",
                 "            double s = 0.0;",
                 f"            for (i = 0; i < {n_in}; i++) s += {src}[i] * {p}_w{number}_[i * {n_out} + o];",
                 f"            s += {p}_b{number}_[o];",
                 f"            {dst}[o] = {value};", "        }"]
        src, dst = dst, src
    body.append(f"        y = {src}[0];")
    if target["kind"] == "minmax_1e18":
        body.append(f"        k = ((y - {term(target['shift'])}) / {term(target['scale'])}) / "
                    f"{term(target['factor'])};")
    else:
        arrays.append(_c_array(f"{p}_baseline_coef_", target["baseline_coef"]))
        body += ["        {",
                 "            double lin = 0.0;",
                 f"            for (i = 0; i < {n_feat}; i++) lin += x[i] * {p}_baseline_coef_[i];",
                 f"            k = exp(((y * {term(target['std'])} + {term(target['mean'])}) + lin) + "
                 f"{term(target['baseline_intercept'])});",
                 "        }"]
    body += ["        k_down[j] = k;",
             f"        if (!(k > 0.0) || !isfinite(k)) status = {P}_ERR_NONPHYSICAL;",
             "        if (k_up != NULL) {",
             f"            k = k * exp(-({p}_energy_K_[j + 1] - {p}_energy_K_[j]) / T);",
             "            k_up[j] = k;",
             f"            if (!(k > 0.0) || !isfinite(k)) status = {P}_ERR_NONPHYSICAL;",
             "        }", "    }", "    return status;"]
    (lo, hi), (t_lo, t_hi) = network.level_range, network.temperature_range
    macros = [f"#define {P}_LEVEL_MIN {int(lo)}", f"#define {P}_LEVEL_MAX {int(hi)}",
              f"#define {P}_N_TRANSITIONS {len(levels)}", f"#define {P}_T_MIN_K {literal(t_lo)}",
              f"#define {P}_T_MAX_K {literal(t_hi)}"]
    macros += [f"#define {P}_{name} {value}" for name, value, _ in RETURN_CODES]
    return "\n".join([
        "/*", comment, " */", f"#ifndef {P}_RATES_H", f"#define {P}_RATES_H", "",
        "#include <math.h>", "#include <stddef.h>", "", *macros, "", *arrays, "",
        f"static inline int {p}_rates(double T, double *k_down, double *k_up)", "{", *body, "}", "",
        f"#endif /* {P}_RATES_H */", ""])
