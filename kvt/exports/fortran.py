"""The Fortran 2008 export: module ``<prefix>_rates_module`` with ``bind(C, name=\"<prefix>_rates\")``."""

from __future__ import annotations

import numpy as np

from kvt.errors import KvtError
from kvt.exports.codegen import (
    RETURN_CODES, check_prefix, layout, literal, network_molecule, provenance, wrap,
)
from kvt.exports.features import feature_lines, feature_parameters


_F_WIDTH = 120  # free form allows 132 characters a line
_F_CHUNK = 900  # numbers per named constant: 225 continuation lines of 4, under the standard's 255


def _f_term(value: float) -> str:
    """A real(dp) literal to use as an operand: negative values in parentheses."""
    text = f"{literal(value)}_dp"
    return f"({text})" if text.startswith("-") else text


def _f_statement(head: str, words: list[str], tail: str) -> list[str]:
    """``head word, word, ... tail`` as free-form lines continued with '&'."""
    lines = wrap(words, _F_WIDTH - 2, "    ")
    lines = [head + " &"] + [line + " &" for line in lines[:-1]] + [lines[-1] + tail]
    if len(lines) - 1 > 255:
        raise KvtError(f"internal: a Fortran statement of {len(lines) - 1} continuation lines")
    return lines


def _f_array(name: str, values, shape=None) -> list[str]:
    """A named constant array; long ones are split into chunks joined by an array constructor."""
    values = np.ravel(np.asarray(values, dtype=float), order="F")
    literals = [f"{literal(v)}_dp" for v in values]
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


def fortran_module(network, prefix: str = "kvt", source: str | None = None, nonphysical: dict | None = None,
                   file_name: str | None = None) -> str:
    """A self-contained Fortran 2008 module ``<prefix>_rates_module`` with ``bind(C, name="<prefix>_rates")``.

    ``nonphysical``: the region where the network gives k <= 0, when the user allowed it (the comment says so);
    ``file_name``: what the source file will be called, for its comment (default ``<prefix>_rates.f90``).
    """
    prefix = check_prefix(prefix, fortran=True)
    spec, target, code, levels, energies, width = layout(network)
    p, P = prefix, prefix.upper()
    n_feat = len(code.fortran)
    (lo, hi), (t_lo, t_hi) = network.level_range, network.temperature_range
    comment = [f"! {line}".rstrip() for line in [
        f"{p}_rates_module: VT rate coefficients k(i -> i-1, T) of {network_molecule(network).name}, "
        f"a kvt network in Fortran 2008.",
        *provenance(network, source, nonphysical), "",
        f"status = {p}_rates(T, c_loc(k_down), c_loc(k_up))   ! or c_null_ptr for k_up",
        f"  real(c_double), target :: k_down({P}_N_TRANSITIONS), k_up({P}_N_TRANSITIONS); T in K, k in m^3/s;",
        f"  k_down(j) = k(i -> i-1, T), k_up(j) = k(i-1 -> i, T) = k_down(j) * exp(-(E(i) - E(i-1)) / T)",
        f"  for i = {P}_LEVEL_MIN + j - 1 (E of kvt.physics.fho.level_energy_K). From C it is",
        f"  int {p}_rates(double T, double *k_down, double *k_up), as in kvt's C header. Return codes:",
        *(f"    {P}_{name} = {value}: {meaning}" for name, value, meaning in RETURN_CODES),
        "  No allocation, no saved state (thread-safe).",
        f"  gfortran -std=f2008 -c {file_name or p + '_rates.f90'}; use {p}_rates_module"]]
    decl = [f"  integer(c_int), parameter, public :: {P}_LEVEL_MIN = {int(lo)}, {P}_LEVEL_MAX = {int(hi)}, "
            f"{P}_N_TRANSITIONS = {len(levels)}",
            f"  real(c_double), parameter, public :: {P}_T_MIN_K = {literal(t_lo)}_dp, "
            f"{P}_T_MAX_K = {literal(t_hi)}_dp"]
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
