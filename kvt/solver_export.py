"""Solver-ready exports of a trained network: a C99 header, a Fortran 2008 module, an FHO-poly fit.

The C header and the Fortran module evaluate the network exactly as
:class:`kvt.inference.Network` does (the same merged layers, the same sigmoid
0.5 (1 + tanh(z/2)), the same target transform) for every transition the network
was trained on, at one temperature per call, and add the reverse rates by detailed
balance. The FHO-poly form fits ln k of each transition with the six-term polynomial
in T^(-1/3) of the SPbU state-to-state solver's FHO-FR-reg tables. ``docs/solver-exports.md``
documents the three formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from kvt import __version__, physics
from kvt.errors import KvtError
from kvt.solver_features import FEATURE_CODE, FeatureCode, feature_code  # noqa: F401  (public API, re-exported)
from kvt.solver_features import feature_lines, feature_parameters
from kvt.validity import compact_levels

#: Return codes of the generated ``<prefix>_rates`` (C and Fortran): name, value, meaning.
RETURN_CODES = (
    ("OK", 0, "every k_down[j] (and k_up[j]) is finite and > 0"),
    ("ERR_T_RANGE", 1, "T is outside [T_MIN_K, T_MAX_K] or NaN; the outputs are untouched"),
    ("ERR_NONPHYSICAL", 2, "a computed rate is <= 0 or not finite; the outputs hold every computed value"),
    ("ERR_NULL", 3, "k_down is NULL; nothing is written"),
)
CHECK_STEP_K = 5.0  # spacing of the dense temperature grid of the k > 0 check and the FHO-poly fit


def check_prefix(prefix: str, fortran: bool = False) -> str:
    """``prefix`` if it is a valid C identifier (for Fortran also a letter first, at most 40 characters)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prefix or ""):
        raise KvtError(f"--prefix {prefix!r} is not a valid C identifier; use letters, digits and _, "
                       f"not starting with a digit (e.g. o2ar)")
    if fortran and not (prefix[0].isalpha() and len(prefix) <= 40):
        raise KvtError(f"--prefix {prefix!r} is not a valid Fortran name stem; use a letter first and at most "
                       f"40 letters, digits and _ (e.g. o2ar)")
    return prefix


# ---------------------------------------------------------------- the k > 0 check
def dense_temperatures(network, step: float = CHECK_STEP_K) -> np.ndarray:
    """Every ``step`` K over the network's trained temperature range, both ends included."""
    lo, hi = network.temperature_range
    return np.linspace(lo, hi, int(np.ceil((hi - lo) / step)) + 1)


def trained_levels(network) -> np.ndarray:
    """The upper levels i of every transition i -> i-1 the network was trained on."""
    lo, hi = (int(v) for v in network.level_range)
    return physics.check_levels(np.arange(lo, hi + 1)).astype(int)


@dataclass(frozen=True)
class Nonphysical:
    """Where a network's k is <= 0 or not finite on the dense check grid."""

    points: int
    total: int
    levels: str
    T_K: tuple[float, float]

    def describe(self) -> str:
        return (f"k <= 0 (or not finite) at {self.points} of {self.total} points (levels {self.levels} at "
                f"{self.T_K[0]:g}..{self.T_K[1]:g} K)")


def nonphysical_points(network) -> Nonphysical | None:
    """``None`` if k > 0 and finite on every trained level x every 5 K of the trained range."""
    levels, temps = np.meshgrid(trained_levels(network), dense_temperatures(network), indexing="ij")
    k = network.predict_k(levels.ravel(), temps.ravel())
    bad = ~(np.isfinite(k) & (k > 0))
    if not bad.any():
        return None
    bad_t = temps.ravel()[bad]
    return Nonphysical(int(bad.sum()), int(bad.size), compact_levels(levels.ravel()[bad]),
                       (float(bad_t.min()), float(bad_t.max())))


def require_physical(network, allow_nonphysical: bool) -> Nonphysical | None:
    """Refuse a network with k <= 0 on the check grid unless ``allow_nonphysical``; returns what was found."""
    found = nonphysical_points(network)
    if found is not None and not allow_nonphysical:
        raise KvtError(f"the network gives {found.describe()}, which no kinetics code can use; train with "
                       f"--mode accurate, which avoids them, or pass --allow-nonphysical to export it anyway")
    return found


# ---------------------------------------------------------------- shared code-generation helpers
def _literal(value: float) -> str:
    """Shortest round-trip decimal of a double (always with '.' or an exponent, so it is a real literal)."""
    return repr(float(value))


def _term(value: float) -> str:
    """A literal to use as an operand: negative values in parentheses."""
    text = _literal(value)
    return f"({text})" if text.startswith("-") else text


def _provenance(network, source: str | None, nonphysical: Nonphysical | None) -> list[str]:
    spec = network.spec
    (lo, hi), (t_lo, t_hi) = network.level_range, network.temperature_range
    lines = [f"generated by kvt {__version__} from {source or network.source}",
             f"network: pair {spec.get('pair')}, mode {spec.get('mode')}, trained with kvt {spec.get('kvt_version')}",
             f"dataset sha256: {spec.get('dataset_sha256')}",
             f"trained range: levels {int(lo)}..{int(hi)} (transitions i -> i-1), T {t_lo:g}..{t_hi:g} K",
             f"layers (batch normalisation folded, linear layers merged): "
             f"{' -> '.join(f'{w.shape[0]}x{w.shape[1]} {act}' for w, _, act in network.layers)}"]
    if nonphysical is not None:
        lines.append(f"WARNING: exported with --allow-nonphysical: the network gives {nonphysical.describe()}; "
                     f"the function returns ERR_NONPHYSICAL there")
    return lines


def _wrap(words: list[str], width: int, indent: str) -> list[str]:
    lines, line = [], ""
    for word in words:
        if line and len(indent) + len(line) + len(word) + 2 > width:
            lines.append(line + ",")
            line = word
        else:
            line = f"{line}, {word}" if line else word
    return [indent + text for text in lines + [line]]


def _layout(network):
    """Everything the generated code needs, as numpy arrays: features, layers, target, energies."""
    spec, target = network.spec, network.target
    code = feature_code(network.feature_kind)
    levels = trained_levels(network)
    energies = physics.level_energy_K(np.arange(levels[0] - 1, levels[-1] + 1))
    width = max(max(w.shape) for w, _, _ in network.layers)
    return spec, target, code, levels, energies, max(width, len(network.network_inputs))


# ---------------------------------------------------------------- C99 header
def _c_array(name: str, values) -> str:
    values = np.ravel(np.asarray(values, dtype=float))
    body = "\n".join(_wrap([_literal(v) for v in values], 100, "    "))
    return f"static const double {name}[{values.size}] = {{\n{body}\n}};"


def c_header(network, prefix: str = "kvt", source: str | None = None, allow_nonphysical: bool = False) -> str:
    """A self-contained C99 header with ``int <prefix>_rates(double T, double *k_down, double *k_up)``."""
    prefix = check_prefix(prefix)
    nonphysical = require_physical(network, allow_nonphysical)
    spec, target, code, levels, energies, width = _layout(network)
    p, P = prefix, prefix.upper()
    n_feat = len(code.c)
    comment = "\n".join(f" * {line}".rstrip() for line in [
        f"{p}_rates.h: VT rate coefficients k(i -> i-1, T) of O2, a kvt network in plain C99 (libm only).",
        *_provenance(network, source, nonphysical), "",
        f"int {p}_rates(double T, double *k_down, double *k_up);",
        f"  T in K; k_down[j] = k(i -> i-1, T) and k_up[j] = k(i-1 -> i, T) in m^3/s for i = {P}_LEVEL_MIN + j,",
        f"  j = 0 .. {P}_N_TRANSITIONS - 1; k_up = k_down * exp(-(E(i) - E(i-1)) / T) (detailed balance,",
        "  E in K of kvt.physics.level_energy_K); k_up may be NULL. Return codes:",
        *(f"    {P}_{name} = {value}: {meaning}" for name, value, meaning in RETURN_CODES),
        "  No allocation, no mutable state (thread-safe). Usage:",
        f"    #include \"{p}_rates.h\"   double kd[{P}_N_TRANSITIONS], ku[{P}_N_TRANSITIONS];",
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
        code, False, lambda key: f"{p}_{key}_[j]", lambda key: _term(scalars[key]),
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
        body.append(f"        k = ((y - {_term(target['shift'])}) / {_term(target['scale'])}) / "
                    f"{_term(target['factor'])};")
    else:
        arrays.append(_c_array(f"{p}_baseline_coef_", target["baseline_coef"]))
        body += ["        {",
                 "            double lin = 0.0;",
                 f"            for (i = 0; i < {n_feat}; i++) lin += x[i] * {p}_baseline_coef_[i];",
                 f"            k = exp(((y * {_term(target['std'])} + {_term(target['mean'])}) + lin) + "
                 f"{_term(target['baseline_intercept'])});",
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
              f"#define {P}_N_TRANSITIONS {len(levels)}", f"#define {P}_T_MIN_K {_literal(t_lo)}",
              f"#define {P}_T_MAX_K {_literal(t_hi)}"]
    macros += [f"#define {P}_{name} {value}" for name, value, _ in RETURN_CODES]
    return "\n".join([
        "/*", comment, " */", f"#ifndef {P}_RATES_H", f"#define {P}_RATES_H", "",
        "#include <math.h>", "#include <stddef.h>", "", *macros, "", *arrays, "",
        f"static inline int {p}_rates(double T, double *k_down, double *k_up)", "{", *body, "}", "",
        f"#endif /* {P}_RATES_H */", ""])


# ---------------------------------------------------------------- Fortran 2008 module
_F_WIDTH = 120  # free form allows 132 characters a line
_F_CHUNK = 900  # numbers per named constant: 225 continuation lines of 4, under the standard's 255


def _f_term(value: float) -> str:
    """A real(dp) literal to use as an operand: negative values in parentheses."""
    text = f"{_literal(value)}_dp"
    return f"({text})" if text.startswith("-") else text


def _f_statement(head: str, words: list[str], tail: str) -> list[str]:
    """``head word, word, ... tail`` as free-form lines continued with '&'."""
    lines = _wrap(words, _F_WIDTH - 2, "    ")
    lines = [head + " &"] + [line + " &" for line in lines[:-1]] + [lines[-1] + tail]
    if len(lines) - 1 > 255:
        raise KvtError(f"internal: a Fortran statement of {len(lines) - 1} continuation lines")
    return lines


def _f_array(name: str, values, shape=None) -> list[str]:
    """A named constant array; long ones are split into chunks joined by an array constructor."""
    values = np.ravel(np.asarray(values, dtype=float), order="F")
    literals = [f"{_literal(v)}_dp" for v in values]
    chunks = [literals[i:i + _F_CHUNK] for i in range(0, len(literals), _F_CHUNK)]
    lines, names = [], []
    for number, chunk in enumerate(chunks):
        part = name if len(chunks) == 1 and shape is None else f"{name}_{number + 1}"
        lines += _f_statement(f"  real(dp), parameter :: {part}({len(chunk)}) = [", chunk, "]")
        names.append(part)
    if shape is not None:
        dims = ", ".join(str(n) for n in shape)
        lines += _f_statement(f"  real(dp), parameter :: {name}({dims}) = reshape([", names, f"], [{dims}])")
    elif len(chunks) > 1:
        lines += _f_statement(f"  real(dp), parameter :: {name}({values.size}) = [", names, "]")
    return lines


def fortran_module(network, prefix: str = "kvt", source: str | None = None, allow_nonphysical: bool = False) -> str:
    """A self-contained Fortran 2008 module ``<prefix>_rates_module`` with ``bind(C, name="<prefix>_rates")``."""
    prefix = check_prefix(prefix, fortran=True)
    nonphysical = require_physical(network, allow_nonphysical)
    spec, target, code, levels, energies, width = _layout(network)
    p, P = prefix, prefix.upper()
    n_feat = len(code.fortran)
    (lo, hi), (t_lo, t_hi) = network.level_range, network.temperature_range
    comment = [f"! {line}".rstrip() for line in [
        f"{p}_rates_module: VT rate coefficients k(i -> i-1, T) of O2, a kvt network in Fortran 2008.",
        *_provenance(network, source, nonphysical), "",
        f"status = {p}_rates(T, c_loc(k_down), c_loc(k_up))   ! or c_null_ptr for k_up",
        f"  real(c_double), target :: k_down({P}_N_TRANSITIONS), k_up({P}_N_TRANSITIONS); T in K, k in m^3/s;",
        f"  k_down(j) = k(i -> i-1, T), k_up(j) = k(i-1 -> i, T) = k_down(j) * exp(-(E(i) - E(i-1)) / T)",
        f"  for i = {P}_LEVEL_MIN + j - 1 (E of kvt.physics.level_energy_K). From C it is",
        f"  int {p}_rates(double T, double *k_down, double *k_up), the same as {p}_rates.h. Return codes:",
        *(f"    {P}_{name} = {value}: {meaning}" for name, value, meaning in RETURN_CODES),
        "  No allocation, no saved state (thread-safe).",
        f"  gfortran -std=f2008 -c {p}_rates.f90; use {p}_rates_module"]]
    decl = [f"  integer(c_int), parameter, public :: {P}_LEVEL_MIN = {int(lo)}, {P}_LEVEL_MAX = {int(hi)}, "
            f"{P}_N_TRANSITIONS = {len(levels)}",
            f"  real(c_double), parameter, public :: {P}_T_MIN_K = {_literal(t_lo)}_dp, "
            f"{P}_T_MAX_K = {_literal(t_hi)}_dp"]
    decl += [f"  integer(c_int), parameter, public :: {P}_{name} = {value}" for name, value, _ in RETURN_CODES]
    decl += _f_array("energy_k", energies) + _f_array("feature_scale", network.feature_scale)
    decl += _f_array("feature_shift", network.feature_shift)
    tables, scalars = feature_parameters(network, code, levels)
    for key, values in tables.items():
        decl += _f_array(key.lower(), values)
    once, per_level = feature_lines(
        code, True, lambda key: f"{key.lower()}(j)", lambda key: _f_term(scalars[key]),
        lambda f, expr: f"x({f + 1}) = ({expr}) * feature_scale({f + 1}) + feature_shift({f + 1})")
    body = [f"    lv = real({P}_LEVEL_MIN + j - 1, dp)"] + ["    " + line for line in per_level]
    body += [f"    h0({n + 1}) = x({index + 1})" for n, index in enumerate(network.network_inputs)]
    src, dst = "h0", "h1"
    for number, (weights, bias, activation) in enumerate(network.layers):
        n_in, n_out = weights.shape
        decl += _f_array(f"w{number}", weights, shape=weights.shape) + _f_array(f"b{number}", bias)
        body += [f"    ! layer {number}: {n_in} -> {n_out}, {activation}",
                 f"    {dst}(1:{n_out}) = matmul({src}(1:{n_in}), w{number}) + b{number}"]
        if activation == "sigmoid":
            body.append(f"    {dst}(1:{n_out}) = 0.5_dp * (1.0_dp + tanh(0.5_dp * {dst}(1:{n_out})))")
        src, dst = dst, src
    body.append(f"    y = {src}(1)")
    if target["kind"] == "minmax_1e18":
        body.append(f"    k = ((y - {_f_term(target['shift'])}) / {_f_term(target['scale'])}) / "
                    f"{_f_term(target['factor'])}")
    else:
        decl += _f_array("baseline_coef", target["baseline_coef"])
        body += [f"    k = y * {_f_term(target['std'])} + {_f_term(target['mean'])}",
                 f"    k = exp((k + dot_product(x, baseline_coef)) + {_f_term(target['baseline_intercept'])})"]
    body += ["    k_down(j) = k",
             f"    if (.not. (k > 0.0_dp .and. ieee_is_finite(k))) status = {P}_ERR_NONPHYSICAL",
             "    if (with_up) then",
             "      k = k * exp(-(energy_k(j + 1) - energy_k(j)) / t)",
             "      k_up(j) = k",
             f"      if (.not. (k > 0.0_dp .and. ieee_is_finite(k))) status = {P}_ERR_NONPHYSICAL",
             "    end if"]
    return "\n".join([
        *comment,
        f"module {p}_rates_module",
        "  use, intrinsic :: iso_c_binding, only: c_double, c_int, c_ptr, c_associated, c_f_pointer",
        "  use, intrinsic :: ieee_arithmetic, only: ieee_is_nan, ieee_is_finite",
        "  implicit none",
        "  private",
        f"  public :: {p}_rates",
        "  integer, parameter :: dp = c_double",
        *decl,
        "contains",
        f"  function {p}_rates(t, k_down_ptr, k_up_ptr) bind(C, name=\"{p}_rates\") result(status)",
        "    real(c_double), value, intent(in) :: t",
        "    type(c_ptr), value, intent(in) :: k_down_ptr, k_up_ptr",
        "    integer(c_int) :: status",
        "    real(dp), pointer :: k_down(:), k_up(:)",
        f"    real(dp) :: lv, y, k, x({n_feat}), h0({width}), h1({width})"
        + "".join(f", {name}" for name, _, _ in code.temporaries),
        "    integer :: j",
        "    logical :: with_up",
        f"    if (.not. c_associated(k_down_ptr)) then",
        f"      status = {P}_ERR_NULL",
        "      return",
        "    end if",
        f"    if (ieee_is_nan(t) .or. t < {P}_T_MIN_K .or. t > {P}_T_MAX_K) then",
        f"      status = {P}_ERR_T_RANGE",
        "      return",
        "    end if",
        f"    call c_f_pointer(k_down_ptr, k_down, [{P}_N_TRANSITIONS])",
        "    nullify(k_up)  ! not initialised in its declaration: that would imply SAVE",
        "    with_up = c_associated(k_up_ptr)",
        f"    if (with_up) call c_f_pointer(k_up_ptr, k_up, [{P}_N_TRANSITIONS])",
        f"    status = {P}_OK",
        *("    " + line for line in once),
        f"    do j = 1, {P}_N_TRANSITIONS",
        *("  " + line for line in body),
        "    end do",
        f"  end function {p}_rates",
        *code.fortran_functions,
        f"end module {p}_rates_module", ""])


# ---------------------------------------------------------------- one entry point for `kvt export`
SOLVER_FORMATS = ("c-header", "fortran", "fho-poly")


def export_text(run, fmt: str, prefix: str = "kvt", allow_nonphysical: bool = False) -> tuple[str, list[str]]:
    """The file text of ``fmt`` (one of SOLVER_FORMATS) for an opened run, and the lines to report to the user."""
    source = f"run directory {run.path}"
    if fmt == "c-header":
        return c_header(run.network, prefix, source, allow_nonphysical), []
    if fmt == "fortran":
        return fortran_module(run.network, prefix, source, allow_nonphysical), []
    if fmt != "fho-poly":
        raise KvtError(f"unknown solver format '{fmt}'; valid: {', '.join(SOLVER_FORMATS)}")
    from kvt import fho_poly

    result = fho_poly.fit_network(run.network)
    report = [f"fho-poly fit of {len(result.levels)} transitions on {result.temperatures.size} temperatures "
              f"({result.temperatures[0]:g}-{result.temperatures[-1]:g} K), vs the network: {fho_poly.summary(result)}"]
    reference = None
    pair = run.network.spec.get("pair")
    if pair in physics.PAIRS:
        reference = fho_poly.fit_exact(pair, result.levels, result.temperatures)
        report.append(f"the same form fitted to exact FHO-FR data of {pair}: {fho_poly.summary(reference)}")
    return fho_poly.to_csv(result, source, run.network, reference), report
