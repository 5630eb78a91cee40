"""The network kernel of a VT network in generated C and Fortran: one builder for both languages.

What depends on the level alone (those features, and the per-level parts of the others) is computed with numpy
at export time; what depends on T alone once per call; the rest per transition into columns of ``xc``
(:func:`kvt.exports.features.kernel_plan`). Then the layers run over every transition at once
(:func:`kvt.exports.layers.layer_code`), the transitions padded to ``N_PAD``, a multiple of 4.
"""

from __future__ import annotations

import numpy as np

from kvt.exports.codegen import literal
from kvt.exports.features import feature_parameters, kernel_plan
from kvt.exports.layers import layer_code, padded


def network_kernel(network, code, fortran: bool, p: str, P: str, levels):
    """(constant arrays as (name, values), locals, statements once per call, statements per transition j that set
    k, whether ``<p>_exp_`` is used). C names its constants ``<p>_<name>_``, Fortran ``<name>`` (lower case)."""
    target, f = network.target, fortran
    n_feat, n_tr = len(code.c), len(levels)
    plan = kernel_plan(network, code, f, levels)
    exprs, end, dp = (code.fortran, "", "_dp") if f else (code.c, ";", "")
    tables, scalars = feature_parameters(network, code, levels)

    def const(name, index=None):  # a constant array's name, or its element at a 0-based index
        ref = name.lower() if f else f"{p}_{name}_"
        if index is None:
            return ref
        return f"{ref}({index + 1 if isinstance(index, int) else index})" if f else f"{ref}[{index}]"

    def number(value):
        text = literal(value) + dp
        return f"({text})" if text.startswith("-") else text

    refs = {key: const(key, "j") for key in tables} | {key: number(value) for key, value in scalars.items()}

    def temporary(i):
        name, c_expr, f_expr = code.temporaries[i]
        return f"{name} = {(f_expr if f else c_expr).format(**refs)}{end}"

    def scaled(i):
        return f"({exprs[i].format(**refs)}) * {const('feature_scale', i)} + {const('feature_shift', i)}"

    def x(i):
        return f"x({i + 1})" if f else f"x[{i}]"

    def xc(c):
        return f"xc(j, {c + 1})" if f else f"xc[{c} * {P}_N_PAD + j]"

    arrays = [("feature_scale", network.feature_scale), ("feature_shift", network.feature_shift)]
    per = [exprs[i] for i in plan["mixed"]] + [code.temporaries[i][2 if f else 1] for i, on in plan["temporaries"] if on]
    arrays += [(key, values) for key, values in tables.items() if any("{" + key + "}" in expr for expr in per)]
    names = "".join(f", {code.temporaries[i][0]}" for i, _ in plan["temporaries"]) + (", lv" if plan["lv"] else "")
    if plan["once"]:
        names += f", x({n_feat})" if f else f", x[{n_feat}]"
    if plan["mixed"]:
        names += f", xc(n_pad, {len(plan['mixed'])})" if f else f", xc[{len(plan['mixed'])} * {P}_N_PAD]"
    local = [f"real(dp) :: y{names}" if f else f"double y{names};"]
    once = [temporary(i) for i, on in plan["temporaries"] if not on]
    once += [f"{x(i)} = {scaled(i)}{end}" for i in plan["once"]]
    if plan["mixed"]:
        lv = f"lv = real({P}_LEVEL_MIN + j - 1, dp)" if f else f"lv = (double)({P}_LEVEL_MIN + j);"
        body = [*([lv] if plan["lv"] else []), *(temporary(i) for i, on in plan["temporaries"] if on),
                *(f"{xc(c)} = {scaled(i)}{end}" for c, i in enumerate(plan["mixed"]))]
        if f:
            once += [f"do j = 1, {P}_N_TRANSITIONS  ! the features of T and the level", *(f"  {s}" for s in body),
                     "end do", f"xc({P}_N_TRANSITIONS + 1:n_pad, :) = 0.0_dp  ! the padding columns"]
        else:
            once += [f"for (j = 0; j < {P}_N_TRANSITIONS; j++) {{ /* the features of T and the level */",
                     *(f"    {s}" for s in body), "}"]
            if padded(n_tr) > n_tr:
                once.append(f"for (j = {P}_N_TRANSITIONS; j < {P}_N_PAD; j++) {{ /* the padding columns */ "
                            + " ".join(f"{xc(c)} = 0.0;" for c in range(len(plan["mixed"]))) + " }")

    def source(i):  # numpy's own scaled values of a feature of the level alone, else code
        if i in plan["level"]:
            return plan["values"][plan["level"].index(i)]
        return ("xc", plan["mixed"].index(i)) if i in plan["mixed"] else x(i)

    weights, layer_local, per_call, layers, out, uses_exp = layer_code(
        network, f, p, "n_pad" if f else f"{P}_N_PAD", padded(n_tr), [source(i) for i in network.network_inputs])
    arrays += [(name if f else name[len(p) + 1:-1], values) for name, values in weights]
    local += layer_local
    per_transition = [f"y = {out}{end}"]
    if target["kind"] == "minmax_1e18":
        shift, scale, factor = (number(target[key]) for key in ("shift", "scale", "factor"))
        per_transition.append(f"k = ((y - {shift}) / {scale}) / {factor}{end}")
    else:  # the log-space target adds a linear term of every feature: its level part a table, its T part once
        coef = np.asarray(target["baseline_coef"], dtype=float)
        arrays.append(("baseline_coef", coef))
        local.append("real(dp) :: lin, lin_t" if f else "double lin, lin_t;")
        once += [f"lin_t = 0.0{dp}{end}", *(f"lin_t = lin_t + {x(i)} * {const('baseline_coef', i)}{end}"
                                           for i in plan["once"])]
        if plan["level"]:
            arrays.append(("lin_level", plan["values"].T @ coef[plan["level"]]))
        per_transition.append(f"lin = {const('lin_level', 'j') if plan['level'] else '0.0' + dp} + lin_t{end}")
        per_transition += [f"lin = lin + {xc(c)} * {const('baseline_coef', i)}{end}" for c, i in enumerate(plan["mixed"])]
        std, mean, intercept = (number(target[key]) for key in ("std", "mean", "baseline_intercept"))
        per_transition.append(f"k = exp(((y * {std} + {mean}) + lin) + {intercept}){end}")
    decl = [(const(name), values) for name, values in arrays]
    return decl, local, once + per_call + layers, per_transition, uses_exp
