"""The Fortran 2008 export: module ``<prefix>_rates_module``, a Fortran function and its ``bind(C)`` twin."""

from __future__ import annotations

import numpy as np

from kvt.errors import KvtError
from kvt.exports.codegen import (
    FORTRAN_RETURN_CODES, UNIT_FACTORS, UNIT_TEXT, check_fit, check_prefix, check_units, kernel_lines, layout,
    literal, network_molecule, provenance, wrap,
)
from kvt.exports.layers import padded
from kvt.exports.vt_kernel import network_kernel


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


def _network_kernel(network, P: str, code, levels):
    """(declarations, locals, statements once per call, statements per transition j that set k) of the network
    (:func:`kvt.exports.vt_kernel.network_kernel`, as the C header's)."""
    arrays, local, once, per_transition, _ = network_kernel(network, code, True, "", P, levels)
    decl = [f"  integer, parameter :: n_pad = {padded(len(levels))}  ! N_TRANSITIONS rounded up to a multiple of 4"]
    for name, values in arrays:
        decl += _f_array(name, values, shape=values.shape if values.ndim == 2 else None)
    return decl, local, once, per_transition


def _chebyshev_kernel(fit, P: str):
    """(declarations, locals, statements once per call, statements per transition) of the Chebyshev series."""
    from kvt.exports.chebyshev import AXES, reduced_coefficients

    a, b = reduced_coefficients(fit.axis, fit.t_min, fit.t_max)
    decl = [f"  integer, parameter, public :: {P}_N_TERMS = {fit.n_terms}",
            f"  real(dp), parameter, public :: {P}_FIT_MAX_REL_DEVIATION = {literal(fit.max_error)}_dp",
            *_f_array("cheb", fit.coefficients, shape=fit.coefficients.shape)]  # cheb(:, n): one term, contiguous
    local = [f"real(dp) :: x, x2, b1({P}_N_TRANSITIONS), b2({P}_N_TRANSITIONS), b0({P}_N_TRANSITIONS)",
             "integer :: n"]
    once = [f"! reduced {AXES[fit.axis].label}: -1 at T_MIN_K, 1 at T_MAX_K",
            f"x = {literal(a)}_dp * ({AXES[fit.axis].fortran_code}) + {_f_term(b)}",
            "x2 = 2.0_dp * x",
            "b1 = 0.0_dp",
            "b2 = 0.0_dp",
            f"do n = {P}_N_TERMS, 2, -1  ! Clenshaw: b_n = c_n + 2 x b_(n+1) - b_(n+2)",
            "  b0 = cheb(:, n) + x2 * b1 - b2",
            "  b2 = b1",
            "  b1 = b0",
            "end do"]
    return decl, local, once, ["k = exp(cheb(j, 1) + x * b1(j) - b2(j))  ! ln k = c_0 + x b_1 - b_2"]


def fortran_module(network, prefix: str = "kvt", source: str | None = None, nonphysical: dict | None = None,
                   file_name: str | None = None, units: str = "m3/s", fit=None) -> str:
    """A self-contained Fortran 2008 module ``<prefix>_rates_module`` with the generic function ``<prefix>_rates``.

    Fortran callers get ``status = <prefix>_rates(T, k_down [, k_up])`` with assumed-shape arrays; C callers the
    header's ``int <prefix>_rates(double T, double *k_down, double *k_up)`` (``bind(C)``), which also serves as a
    specific of the generic for Fortran code that passes ``c_loc`` pointers. ``nonphysical``: the region where the
    network gives k <= 0, when the user allowed it (the comment says so); ``file_name``: what the source file will
    be called (default ``<prefix>_rates.f90``); ``units``: m3/s or cm3/s; ``fit``: a Chebyshev fit of the
    network (:mod:`kvt.exports.chebyshev`) to evaluate instead of the network.
    """
    prefix, units = check_prefix(prefix, fortran=True), check_units(units)
    code, levels, energies = layout(network)
    p, P = prefix, prefix.upper()
    (lo, hi), (t_lo, t_hi) = network.level_range, network.temperature_range
    what = "a kvt network" if fit is None else "a Chebyshev fit of a kvt network"
    comment = [f"! {line}".rstrip() for line in [
        f"{p}_rates_module: VT rate coefficients k(i -> i-1, T) of {network_molecule(network).name}, "
        f"{what} in Fortran 2008.",
        *provenance(network, source, nonphysical), *kernel_lines(fit), "",
        f"use {p}_rates_module",
        f"real(real64) :: k_down({P}_N_TRANSITIONS), k_up({P}_N_TRANSITIONS)   ! or any arrays at least this long",
        f"status = {p}_rates(T, k_down, k_up)   ! k_up is optional: status = {p}_rates(T, k_down)",
        f"  T in K (real(real64)); k in {UNIT_TEXT[units]} ({P}_K_UNITS); k_down(j) = k(i -> i-1, T), "
        f"k_up(j) = k(i-1 -> i, T)",
        f"  = k_down(j) * exp(-(E(i) - E(i-1)) / T) for i = {P}_LEVEL_MIN + j - 1 (E of "
        f"kvt.physics.fho.level_energy_K).",
        "  The arrays are intent(out): unless status is OK or ERR_NONPHYSICAL their contents are undefined.",
        f"From C (bind(C)): int {p}_rates(double T, double *k_down, double *k_up), as in kvt's C header; Fortran",
        f"code may call that one too: status = {p}_rates(T, c_loc(k_down), c_loc(k_up)) (or c_null_ptr). Return codes:",
        *(f"    {P}_{name} = {value}: {meaning}" for name, value, meaning in FORTRAN_RETURN_CODES),
        "  No allocation, no saved state (thread-safe).",
        f"  gfortran -std=f2008 -c {file_name or p + '_rates.f90'}; use {p}_rates_module"]]
    decl = [f"  integer(c_int), parameter, public :: {P}_LEVEL_MIN = {int(lo)}, {P}_LEVEL_MAX = {int(hi)}, "
            f"{P}_N_TRANSITIONS = {len(levels)}",
            f"  real(c_double), parameter, public :: {P}_T_MIN_K = {literal(t_lo)}_dp, "
            f"{P}_T_MAX_K = {literal(t_hi)}_dp",
            f"  character(len=*), parameter, public :: {P}_K_UNITS = \"{units}\""]
    decl += [f"  integer(c_int), parameter, public :: {P}_{name} = {value}" for name, value, _ in FORTRAN_RETURN_CODES]
    decl += _f_array("energy_k", energies)
    if fit is None:
        kernel_decl, local, once, per_transition = _network_kernel(network, P, code, levels)
    else:
        check_fit(fit, levels, network)
        kernel_decl, local, once, per_transition = _chebyshev_kernel(fit, P)
    decl += kernel_decl
    if UNIT_FACTORS[units] != 1.0:
        per_transition = per_transition + [f"k = k * {literal(UNIT_FACTORS[units])}_dp  ! m^3/s -> {units}"]
    functions = code.fortran_functions if fit is None else ()
    return "\n".join([
        *comment,
        f"module {p}_rates_module",
        "  use, intrinsic :: iso_c_binding, only: c_double, c_int, c_ptr, c_associated, c_f_pointer",
        "  use, intrinsic :: iso_fortran_env, only: real64",
        "  use, intrinsic :: ieee_arithmetic, only: ieee_is_nan, ieee_is_finite",
        "  implicit none",
        "  private",
        f"  public :: {p}_rates",
        "  integer, parameter :: dp = real64",
        *decl,
        f"  interface {p}_rates",
        f"    module procedure {p}_rates_f, {p}_rates_c",
        f"  end interface {p}_rates",
        "contains",
        f"  function {p}_rates_f(t, k_down, k_up) result(status)",
        f"    ! the Fortran interface: status = {p}_rates(T, k_down [, k_up])",
        "    real(real64), intent(in) :: t",
        "    real(real64), intent(out) :: k_down(:)",
        "    real(real64), intent(out), optional :: k_up(:)",
        "    integer :: status",
        "    real(dp) :: k",
        *(f"    {line}" for line in local),
        "    integer :: j",
        f"    if (size(k_down) < {P}_N_TRANSITIONS) then",
        f"      status = {P}_ERR_SIZE",
        "      return",
        "    end if",
        "    if (present(k_up)) then",
        f"      if (size(k_up) < {P}_N_TRANSITIONS) then",
        f"        status = {P}_ERR_SIZE",
        "        return",
        "      end if",
        "    end if",
        f"    if (ieee_is_nan(t) .or. t < {P}_T_MIN_K .or. t > {P}_T_MAX_K) then",
        f"      status = {P}_ERR_T_RANGE",
        "      return",
        "    end if",
        f"    status = {P}_OK",
        *(f"    {line}" for line in once),
        f"    do j = 1, {P}_N_TRANSITIONS",
        *(f"      {line}" for line in per_transition),
        "      k_down(j) = k",
        f"      if (.not. (k > 0.0_dp .and. ieee_is_finite(k))) status = {P}_ERR_NONPHYSICAL",
        "      if (present(k_up)) then",
        "        k = k * exp(-(energy_k(j + 1) - energy_k(j)) / t)",
        "        k_up(j) = k",
        f"        if (.not. (k > 0.0_dp .and. ieee_is_finite(k))) status = {P}_ERR_NONPHYSICAL",
        "      end if",
        "    end do",
        f"  end function {p}_rates_f",
        "",
        f"  function {p}_rates_c(t, k_down_ptr, k_up_ptr) bind(C, name=\"{p}_rates\") result(status)",
        "    ! the C interface, int <prefix>_rates(double T, double *k_down, double *k_up): the checks that must",
        "    ! leave the outputs untouched come first, then the Fortran procedure",
        "    real(c_double), value, intent(in) :: t",
        "    type(c_ptr), value, intent(in) :: k_down_ptr, k_up_ptr",
        "    integer(c_int) :: status",
        "    real(c_double), pointer :: k_down(:), k_up(:)",
        "    if (.not. c_associated(k_down_ptr)) then",
        f"      status = {P}_ERR_NULL",
        "      return",
        "    end if",
        f"    if (ieee_is_nan(t) .or. t < {P}_T_MIN_K .or. t > {P}_T_MAX_K) then",
        f"      status = {P}_ERR_T_RANGE",
        "      return",
        "    end if",
        f"    call c_f_pointer(k_down_ptr, k_down, [{P}_N_TRANSITIONS])",
        "    if (c_associated(k_up_ptr)) then",
        f"      call c_f_pointer(k_up_ptr, k_up, [{P}_N_TRANSITIONS])",
        f"      status = int({p}_rates_f(t, k_down, k_up), c_int)",
        "    else",
        f"      status = int({p}_rates_f(t, k_down), c_int)",
        "    end if",
        f"  end function {p}_rates_c",
        *functions,
        f"end module {p}_rates_module", ""])
