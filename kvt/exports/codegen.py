"""What the generated solver code shares: return codes, the prefix check, literals, provenance lines, the layout.

The C header (:mod:`kvt.exports.c_header`) and the Fortran module (:mod:`kvt.exports.fortran`)
evaluate the network exactly as :class:`kvt.network.inference.Network` does (the same merged
layers, the same sigmoid 0.5 (1 + tanh(z/2)), the same target transform) for every transition
the network was trained on, at one temperature per call, and add the reverse rates by detailed
balance. ``docs/solver-exports.md`` documents the formats.
"""

from __future__ import annotations

import re

import numpy as np

from kvt import __version__
from kvt.errors import KvtError
from kvt.exports.features import feature_code
from kvt.kinetics import validity
from kvt.physics import fho, species

#: Return codes of the generated ``<prefix>_rates`` (C and Fortran): name, value, meaning.
RETURN_CODES = (
    ("OK", 0, "every k_down[j] (and k_up[j]) is finite and > 0"),
    ("ERR_T_RANGE", 1, "T is outside [T_MIN_K, T_MAX_K] or NaN; the outputs are untouched"),
    ("ERR_NONPHYSICAL", 2, "a computed rate is <= 0 or not finite; the outputs hold every computed value"),
    ("ERR_NULL", 3, "k_down is NULL; nothing is written"),
)
#: The Fortran module's procedure adds one: its arrays are assumed-shape, so their size is checked.
FORTRAN_RETURN_CODES = RETURN_CODES + (
    ("ERR_SIZE", 4, "(Fortran procedure) k_down or k_up has fewer than N_TRANSITIONS elements; nothing is written"),)
#: --units of the generated code: the factor from m^3/s and how the files write the units.
UNIT_FACTORS = {"m3/s": 1.0, "cm3/s": 1e6}
UNIT_TEXT = {"m3/s": "m^3/s", "cm3/s": "cm^3/s"}


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
class FitDeviation:
    """The deviation of a per-transition fit (FHO-poly, Chebyshev) from what it was fitted to: ``rel_error``
    (n_transitions, n_T) on ``temperatures``, rows labelled by ``labels``."""

    @property
    def max_error(self) -> float:
        return float(self.rel_error.max())

    @property
    def worst(self) -> tuple[int, float]:
        """(transition label, T in K) of the largest relative deviation."""
        row, column = np.unravel_index(np.argmax(self.rel_error), self.rel_error.shape)
        label = np.asarray(self.labels[row])
        return (int(label) if label.ndim == 0 else tuple(int(v) for v in label)), float(self.temperatures[column])


def trained_levels(network) -> np.ndarray:
    """The upper levels i of every transition i -> i-1 the network was trained on (within its molecule's)."""
    lo, hi = (int(v) for v in network.level_range)
    return fho.check_levels(np.arange(lo, hi + 1), getattr(network, "molecule", None)).astype(int)


def network_molecule(network):
    """The network's molecule (kvt.physics.species.Molecule); O2, kvt's original molecule, when unknown."""
    return getattr(network, "molecule", None) or species.MOLECULES["O2"]



# ---------------------------------------------------------------- shared code-generation helpers
def literal(value: float) -> str:
    """Shortest round-trip decimal of a double (always with '.' or an exponent, so it is a real literal)."""
    return repr(float(value))


def term(value: float) -> str:
    """A literal to use as an operand: negative values in parentheses."""
    text = literal(value)
    return f"({text})" if text.startswith("-") else text


def check_units(units: str) -> str:
    if units not in UNIT_FACTORS:
        raise KvtError(f"unknown units {units!r}; valid units: {', '.join(UNIT_FACTORS)}")
    return units


def check_fit(fit, levels, network) -> None:
    """A Chebyshev fit given to the code generators must be of the network's trained transitions and range."""
    if not np.array_equal(np.asarray(fit.transitions), np.asarray(levels)) or (
            (fit.t_min, fit.t_max) != tuple(float(v) for v in network.temperature_range)):
        raise KvtError(f"the Chebyshev fit covers levels {fit.transitions[0]}..{fit.transitions[-1]} at "
                       f"{fit.t_min:g}..{fit.t_max:g} K, the network is trained on levels {levels[0]}..{levels[-1]} at "
                       f"{network.temperature_range[0]:g}..{network.temperature_range[1]:g} K; fit the network itself")


def kernel_lines(fit) -> list[str]:
    """What the comment says about the kernel: the network itself, or the Chebyshev fit and its deviation."""
    if fit is None:
        return ["kernel: the network itself (every layer, evaluated as kvt.network.inference.Network does)"]
    level, T = fit.worst
    return [f"kernel: chebyshev: ln k of each transition as a Chebyshev series in reduced {fit.axis_label}",
            f"  ({int(fit.terms.max())} terms, Clenshaw's recurrence), fitted to the network: max relative deviation "
            f"{fit.max_error:.2e}",
            f"  (level {level}, {T:g} K; tolerance {fit.tolerance:g}) on every "
            f"{fit.temperatures[1] - fit.temperatures[0]:g} K of the trained range"]


def provenance(network, source: str | None, nonphysical: dict | None) -> list[str]:
    spec = network.spec
    (lo, hi), (t_lo, t_hi) = network.level_range, network.temperature_range
    lines = [f"generated by kvt {__version__} from {source or network.source}",
             f"network: pair {spec.get('pair')}, mode {spec.get('mode')}, trained with kvt {spec.get('kvt_version')}",
             f"dataset sha256: {spec.get('dataset_sha256')}",
             f"trained range: levels {int(lo)}..{int(hi)} (transitions i -> i-1), T {t_lo:g}..{t_hi:g} K",
             f"layers (batch normalisation folded, linear layers merged): "
             f"{' -> '.join(f'{w.shape[0]}x{w.shape[1]} {act}' for w, _, act in network.layers)}"]
    if nonphysical is not None:
        lines.append(f"WARNING: exported with --allow-nonphysical: the network gives {validity.region_clause(nonphysical)}; "
                     f"the function returns ERR_NONPHYSICAL there")
    return lines


def wrap(words: list[str], width: int, indent: str) -> list[str]:
    lines, line = [], ""
    for word in words:
        if line and len(indent) + len(line) + len(word) + 2 > width:
            lines.append(line + ",")
            line = word
        else:
            line = f"{line}, {word}" if line else word
    return [indent + text for text in lines + [line]]


def c_array(name: str, values) -> str:
    """A C ``static const double`` array of ``values`` (flattened), exact literals, 100 characters a line."""
    values = np.ravel(np.asarray(values, dtype=float))
    body = "\n".join(wrap([literal(v) for v in values], 100, "    "))
    return f"static const double {name}[{values.size}] = {{\n{body}\n}};"


def layout(network):
    """What the generated code needs besides the layers: the feature code, the trained levels and their energies
    (levels LEVEL_MIN - 1 .. LEVEL_MAX)."""
    code = feature_code(network.feature_kind)
    levels = trained_levels(network)
    energies = fho.level_energy_K(np.arange(levels[0] - 1, levels[-1] + 1), network_molecule(network))
    return code, levels, energies
