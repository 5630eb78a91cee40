"""The Cantera export: a level-resolved VT mechanism in Cantera's YAML format, from one or several runs.

* Each vibrational level n of the runs' molecule is a species ``O2(vN)`` with constant-cp thermo whose enthalpy
  h0 = E(n) R (E(n) in K of :func:`kvt.physics.fho.level_energy_K`), the same cp0 (7/2 R: translation and rotation;
  vibration is the levels) and s0 = 0. Every reaction conserves the molecule, so cp0 and s0 cancel and
  Cantera's equilibrium constant is exp((E(i) - E(i-1)) / T): its reverse rates are kvt's detailed balance.
* Each partner is a species: an atom (O, N, Ar), or a molecule that is not level-resolved here (its h0 = 0).
  A partner that is the molecule itself (O2-O2) is level-resolved: Cantera's Chebyshev rate takes no third body,
  so there is one reaction per partner level, all with the transition's rate (VT does not depend on it).
* Each trained transition i -> i-1 of each run is one reaction ``O2(vi) + M <=> O2(vi-1) + M`` with a Chebyshev
  rate: :func:`kvt.exports.chebyshev.fit_network` on Cantera's reduced 1/T, converted to log10 of k in
  m^3/(kmol s) (k in m^3/s times Avogadro's number, 6.02214076e26 per kmol) with one pressure term.

Cantera is not needed to write the file; the tests load it with Cantera.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from kvt import __version__
from kvt.errors import KvtError
from kvt.exports.chebyshev import ChebyshevFit
from kvt.physics import fho

#: Avogadro's number per kmol and the gas constant in J/(kmol K), exact since the 2019 SI (Cantera's values).
AVOGADRO_PER_KMOL = 6.02214076e26
GAS_CONSTANT = 8314.46261815324
#: cp0 / R of a level species (a diatomic's translation and rotation) and of an atom (translation).
CP_MOLECULE, CP_ATOM = 3.5, 2.5
#: The pressure range of every rate: one pressure term, so k does not depend on it (Pa).
PRESSURE_RANGE_PA = (1.0e-2, 1.0e9)
UNITS_LINE = "units: {length: m, time: s, quantity: kmol, energy: J, temperature: K, pressure: Pa}"


@dataclass(frozen=True)
class Part:
    """One run in a mechanism: its VT process, the Chebyshev fit of its network and its provenance."""

    process: object  # kvt.physics.process.Process
    fit: ChebyshevFit
    source: str  # "run directory RUN"
    spec: dict  # the network's weights document (mode, dataset sha256)


def species_name(molecule, level: int) -> str:
    return f"{molecule.name}(v{int(level)})"


def composition(formula: str) -> dict[str, int]:
    """Elements of a formula such as ``O2``, ``NO`` or ``Ar``: {"O": 2}."""
    out: dict[str, int] = {}
    for element, count in re.findall(r"([A-Z][a-z]?)(\d*)", formula):
        out[element] = out.get(element, 0) + (int(count) if count else 1)
    return out


def check_parts(parts: list[Part]) -> None:
    """Refuse what one mechanism cannot hold: a run twice for one pair, or levels of one molecule that would clash."""
    seen: dict[str, str] = {}
    for part in parts:
        if part.process.name in seen:
            raise KvtError(f"{seen[part.process.name]} and {part.source} are both {part.process.name}; a mechanism "
                           f"takes one run per pair (two would give every reaction twice)")
        seen[part.process.name] = part.source
    molecules = {part.process.molecule.name: part for part in parts}
    for part in parts:
        partner = part.process.partner
        if partner.is_molecule and partner.name != part.process.molecule.name and partner.name in molecules:
            other = molecules[partner.name]
            raise KvtError(f"runs of different molecules whose levels would clash: {partner.name} is the partner of "
                           f"{part.process.name} ({part.source}), one species there, and the level-resolved molecule "
                           f"of {other.process.name} ({other.source}); export them as separate mechanisms "
                           f"(VV' exchange between {part.process.molecule.name} and {partner.name} is not built yet)")


def _number(value: float) -> str:
    return repr(float(value))


def _flow(items: list[str], indent: str, width: int = 110) -> list[str]:
    """``[a, b, ...]`` wrapped onto lines of at most ``width`` characters (continuation lines indented)."""
    lines, line = [], "["
    for n, item in enumerate(items):
        text = item + ("]" if n == len(items) - 1 else ",")
        if len(indent) + len(line) + len(text) + 1 > width and line != "[":
            lines.append(line)
            line = "  " + text
        else:
            line = f"{line}{' ' if line not in ('[', '  ') else ''}{text}"
    lines.append(line)
    return lines


def _cantera_log10(coefficients: np.ndarray) -> np.ndarray:
    """Chebyshev coefficients of ln k in m^3/s -> Cantera's: log10 of k in m^3/(kmol s)."""
    out = np.asarray(coefficients, dtype=float) / math.log(10.0)
    out[0] += math.log10(AVOGADRO_PER_KMOL)
    return out


def _species_entry(name: str, formula: str, h0: float, cp_over_r: float, note: str) -> list[str]:
    elements = ", ".join(f"{element}: {count}" for element, count in composition(formula).items())
    return [f"- name: {name}", f"  composition: {{{elements}}}",
            f"  thermo: {{model: constant-cp, T0: 298.15, h0: {_number(h0)}, s0: 0.0, "
            f"cp0: {_number(cp_over_r * GAS_CONSTANT)}}}", f"  note: {note}"]


def mechanism(parts: list[Part]) -> str:
    """The YAML text of the mechanism of ``parts`` (checked with :func:`check_parts` first)."""
    check_parts(parts)
    molecules: dict[str, tuple[object, int]] = {}  # name -> (molecule, top level)
    for part in parts:
        m = part.process.molecule
        top = int(np.max(part.fit.transitions))
        molecules[m.name] = (m, max(top, molecules.get(m.name, (m, 0))[1]))
    levels = {name: list(range(0, top + 1)) for name, (_, top) in molecules.items()}
    species_lines, names, elements = [], [], []
    for name, (m, _) in molecules.items():
        energies = fho.level_energy_K(np.array(levels[name]), m)
        for n, energy in zip(levels[name], energies):
            names.append(species_name(m, n))
            species_lines += _species_entry(names[-1], m.name, energy * GAS_CONSTANT, CP_MOLECULE,
                                            f"level {n} of {m.name}, E = {energy:.6f} K above level 0")
    for partner in (part.process.partner for part in parts):
        if partner.name not in molecules and partner.name not in names:
            names.append(partner.name)
            kind = "molecule (vibration not resolved here)" if partner.is_molecule else "atom"
            species_lines += _species_entry(partner.name, partner.name, 0.0,
                                            CP_MOLECULE if partner.is_molecule else CP_ATOM, f"partner, {kind}")
    for name in names:
        for element in composition(re.sub(r"\(v\d+\)$", "", name)):
            if element not in elements:
                elements.append(element)
    reaction_lines = []
    for part in parts:
        reaction_lines += _reactions(part, levels)
    t_lo = max(part.fit.t_min for part in parts)
    t_hi = min(part.fit.t_max for part in parts)
    lines = [*_header(parts, t_lo, t_hi), "", f"generator: kvt {__version__}", UNITS_LINE, "",
             "phases:", "- name: gas", "  thermo: ideal-gas", f"  elements: [{', '.join(elements)}]",
             *[f"  species: {line}" if n == 0 else f"    {line}" for n, line in enumerate(_flow(names, "    "))],
             "  kinetics: gas", "  reactions: all",
             f"  state: {{T: {_number(t_lo)}, P: 101325.0, X: {{{names[0]}: 1.0}}}}", "",
             "species:", *species_lines, "", "reactions:", *reaction_lines, ""]
    return "\n".join(lines)


def _header(parts: list[Part], t_lo: float, t_hi: float) -> list[str]:
    worst = max(parts, key=lambda p: p.fit.max_error)
    level, T = worst.fit.worst
    terms = np.concatenate([p.fit.terms for p in parts])
    lines = [f"kvt {__version__} cantera: level-resolved VT mechanism from {len(parts)} kvt network"
             f"{'s' if len(parts) > 1 else ''}; load it with cantera.Solution(\"<this file>\")"]
    for part in parts:
        f = part.fit
        lines.append(f"run: {part.source}: {part.process.label}, mode {part.spec.get('mode')}, dataset sha256 "
                     f"{part.spec.get('dataset_sha256')}, trained levels {int(f.transitions.min())}.."
                     f"{int(f.transitions.max())}, {f.t_min:g}..{f.t_max:g} K")
    lines += [
        f"rates: ln k of each network fitted per transition by a Chebyshev series in Cantera's reduced 1/T, "
        f"{int(terms.min())}..{int(terms.max())} terms; tolerance {parts[0].fit.tolerance:g} reached: max relative "
        f"deviation from the network {worst.fit.max_error:.2e} ({worst.process.name}, level {level}, {T:g} K) "
        f"on every {_step(worst.fit):g} K of the trained range",
        f"valid for {t_lo:g} <= T <= {t_hi:g} K only (the trained range); Cantera evaluates a Chebyshev rate "
        f"outside its temperature-range without a warning, and these diverge there",
        "species <M>(vN): level N of molecule M; thermo constant-cp with h0 = E(N) R (E(N) in K of "
        "kvt.physics.fho.level_energy_K), cp0 = 7/2 R and s0 = 0 for every level, so Cantera's reverse rates are "
        "exact detailed balance, k(i-1 -> i) = k(i -> i-1) exp(-(E(i) - E(i-1)) / T); partners: atoms cp0 = 5/2 R, "
        "h0 = 0",
        "reactions: M(vi) + P <=> M(v(i-1)) + P, one per trained transition i -> i-1 and partner P (one per level "
        "of the partner where the partner is the level-resolved molecule); a YAML alias (*name) repeats the "
        "transition's rate",
        "units: k in m^3/(kmol s) = k in m^3/s x 6.02214076e26, h0 in J/kmol, T in K, P in Pa (the rates do not "
        "depend on P: one pressure term)"]
    return [f"# {line}" for line in lines]


def _step(fit: ChebyshevFit) -> float:
    return float(fit.temperatures[1] - fit.temperatures[0]) if fit.temperatures.size > 1 else 0.0


def _reactions(part: Part, levels: dict[str, list[int]]) -> list[str]:
    process, fit = part.process, part.fit
    m, partner = process.molecule, process.partner
    resolved = partner.is_molecule and partner.name in levels
    partner_names = ([species_name(partner, n) for n in levels[partner.name]] if resolved else [partner.name])
    lines = []
    for row, level in enumerate(fit.transitions):
        level = int(level)
        data = _cantera_log10(fit.coefficients[row, :fit.terms[row]])
        anchor = f"{process.name}_v{level}"
        lines.append(f"# {process.name}: {species_name(m, level)} -> {species_name(m, level - 1)}, "
                     f"{fit.terms[row]} terms, max relative deviation from the network {fit.rel_error[row].max():.2e}")
        for n, other in enumerate(partner_names):
            lines += [f"- equation: {species_name(m, level)} + {other} <=> {species_name(m, level - 1)} + {other}",
                      "  type: Chebyshev",
                      f"  temperature-range: [{_number(fit.t_min)}, {_number(fit.t_max)}]",
                      f"  pressure-range: [{_number(PRESSURE_RANGE_PA[0])}, {_number(PRESSURE_RANGE_PA[1])}]"]
            if n == 0:
                rows = _flow([f"[{_number(v)}]" for v in data], "    ")
                lines += [f"  data: &{anchor} {rows[0]}", *(f"    {line}" for line in rows[1:])]
            else:
                lines.append(f"  data: *{anchor}")
    return lines
