"""The Cantera export: a level-resolved VT, VV and VV' mechanism in Cantera's YAML format, from one or several runs.

* Each vibrational level n of every molecule a run resolves (VT: its molecule; VV: the molecule; VV': both) is a
  species ``O2(vN)`` with constant-cp thermo whose enthalpy h0 = E(n) R (E(n) in K of
  :func:`kvt.physics.fho.level_energy_K`), the same cp0 (7/2 R: translation and rotation; vibration is the levels)
  and s0 = 0. Every reaction conserves each molecule, so cp0 and s0 cancel and Cantera's equilibrium constant is
  exp(ΔE / T), ΔE the energy the forward direction releases: its reverse rates are kvt's detailed balance.
* A collider whose level does not change (a VT partner) is a species: an atom (O, N, Ar), or a molecule that no
  run resolves (its h0 = 0). A partner that is a resolved molecule (O2-O2 VT; N2-O2 VT beside an O2 run) takes
  its levels: Cantera's Chebyshev rate takes no third body, so there is one reaction per partner level, all with
  the transition's rate (VT does not depend on it).
* Each distinct transition of each run (:meth:`kvt.physics.process.Process.distinct`: every VT transition i ->
  i-1; every VV' pair (i, j); each VV exchange once, in its exothermic direction i <= j, as the master equation
  of :mod:`kvt.kinetics.molecular_gas` counts it) is one reversible reaction, e.g. ``O2(vi) + M <=> O2(vi-1) + M``
  or ``O2(vi) + O2(vj) <=> O2(vi-1) + O2(vj+1)``, with a Chebyshev rate: :func:`kvt.exports.chebyshev.
  fit_network` on Cantera's reduced 1/T, converted to log10 of k in m^3/(kmol s) (k in m^3/s times Avogadro's
  number, 6.02214076e26 per kmol) with one pressure term. A reaction two runs would both give (the same process
  twice, or VV' A-B beside B-A, whose exchanges are each other's reverses) is refused before anything is fitted.

Cantera is not needed to write the file; the tests load it with Cantera.
"""

from __future__ import annotations

import itertools
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
    """One run in a mechanism: its process, the transitions it gives (labels of its network, each a distinct
    reaction), its provenance and, once fitted, the Chebyshev fit of its network on those labels."""

    process: object  # kvt.physics.process.Process or ExchangeProcess
    labels: np.ndarray  # VT: upper levels (n,); exchange: (level_a, level_b) rows (n, 2)
    source: str  # "run directory RUN"
    spec: dict  # the network's weights document (mode, dataset sha256, valid_range)
    fit: ChebyshevFit | None = None

    def trained_text(self) -> str:
        """``trained levels 1..35`` or ``trained level_a 1..35, level_b 0..34`` (the network's trained ranges)."""
        ranges = {name: value for name, value in self.spec.get("valid_range", {}).items() if name != "T_K"}
        if list(ranges) == ["level"]:
            lo, hi = ranges["level"]
            return f"trained levels {int(lo)}..{int(hi)}"
        return "trained " + ", ".join(f"{name} {int(lo)}..{int(hi)}" for name, (lo, hi) in ranges.items())


@dataclass(frozen=True)
class Reaction:
    """One reaction of a part: its row in the part's labels, the colliders' species before and after."""

    row: int
    reactants: tuple[str, ...]  # the colliders that change level first, then the spectators
    products: tuple[str, ...]
    changed: int  # how many colliders change level

    @property
    def equation(self) -> str:
        return f"{' + '.join(self.reactants)} <=> {' + '.join(self.products)}"

    @property
    def key(self) -> tuple:
        """The same for a reaction and for its reverse (Cantera's reversible reactions are both)."""
        sides = (tuple(sorted(self.reactants)), tuple(sorted(self.products)))
        return min(sides), max(sides)


def species_name(molecule, level: int) -> str:
    return f"{molecule.name}(v{int(level)})"


def composition(formula: str) -> dict[str, int]:
    """Elements of a formula such as ``O2``, ``NO`` or ``Ar``: {"O": 2}."""
    out: dict[str, int] = {}
    for element, count in re.findall(r"([A-Z][a-z]?)(\d*)", formula):
        out[element] = out.get(element, 0) + (int(count) if count else 1)
    return out


def _changes(part: Part) -> list[tuple[object, np.ndarray, np.ndarray]]:
    """(molecule, level before, level after) of each collider whose level changes, one entry per label."""
    columns = np.asarray(part.labels, dtype=int).reshape(len(part.labels), -1).T
    levels = part.process.transitions(*columns)
    return [(collider, np.asarray(levels[2 * n]), np.asarray(levels[2 * n + 1]))
            for n, collider in enumerate(part.process.colliders[:len(levels) // 2])]


def resolved_levels(parts: list[Part]) -> dict[str, tuple[object, list[int]]]:
    """Every molecule a run resolves -> (the molecule, its levels 0..the highest any reaction reaches)."""
    molecules: dict[str, tuple[object, int]] = {}
    for part in parts:
        for m in part.process.molecules:
            molecules.setdefault(m.name, (m, 0))
        for m, before, after in _changes(part):
            top = int(max(before.max(initial=0), after.max(initial=0)))
            molecules[m.name] = (m, max(top, molecules[m.name][1]))
    return {name: (m, list(range(0, top + 1))) for name, (m, top) in molecules.items()}


def reactions(part: Part, levels: dict[str, tuple[object, list[int]]]) -> list[Reaction]:
    """The reactions of ``part``: one per label, times the levels of a spectator collider that is resolved."""
    changes = _changes(part)
    spectators = part.process.colliders[len(changes):]
    options = [[species_name(levels[c.name][0], n) for n in levels[c.name][1]] if c.name in levels else [c.name]
               for c in spectators]
    out = []
    for row in range(len(part.labels)):
        before = tuple(species_name(m, b[row]) for m, b, _ in changes)
        after = tuple(species_name(m, a[row]) for m, _, a in changes)
        for others in itertools.product(*options):
            out.append(Reaction(row, before + others, after + others, len(changes)))
    return out


def check_parts(parts: list[Part]) -> None:
    """Refuse what one mechanism cannot hold, before anything is fitted: a process given twice, or two runs that
    would give the same reaction (or each other's reverses: VV' A-B beside B-A); Cantera takes each once."""
    seen: dict[str, str] = {}
    for part in parts:
        if part.process.label in seen:
            raise KvtError(f"{seen[part.process.label]} and {part.source} are both {part.process.label}; a mechanism "
                           f"takes one run per process (two would give every reaction twice)")
        seen[part.process.label] = part.source
    levels = resolved_levels(parts)
    owners: dict[tuple, tuple[Part, Reaction]] = {}
    for part in parts:
        for reaction in reactions(part, levels):
            if reaction.key in owners:
                other, first = owners[reaction.key]
                what = "its reverse" if first.reactants != reaction.reactants else "the same reaction"
                raise KvtError(f"runs whose reactions clash: {other.source} ({other.process.label}) gives "
                               f"{first.equation} and {part.source} ({part.process.label}) {what}; Cantera takes "
                               f"each reaction once (a reversible reaction is both directions): export one of them")
            owners[reaction.key] = (part, reaction)


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
    """The YAML text of the mechanism of ``parts``, each fitted (checked with :func:`check_parts` first)."""
    check_parts(parts)
    levels = resolved_levels(parts)
    species_lines, names, elements = [], [], []
    for name, (m, ladder) in levels.items():
        energies = fho.level_energy_K(np.array(ladder), m)
        for n, energy in zip(ladder, energies):
            names.append(species_name(m, n))
            species_lines += _species_entry(names[-1], m.name, energy * GAS_CONSTANT, CP_MOLECULE,
                                            f"level {n} of {m.name}, E = {energy:.6f} K above level 0")
    for collider in (c for part in parts for c in part.process.colliders):
        if collider.name not in levels and collider.name not in names:
            names.append(collider.name)
            kind = "molecule (vibration not resolved here)" if collider.is_molecule else "atom"
            species_lines += _species_entry(collider.name, collider.name, 0.0,
                                            CP_MOLECULE if collider.is_molecule else CP_ATOM, f"partner, {kind}")
    for name in names:
        for element in composition(re.sub(r"\(v\d+\)$", "", name)):
            if element not in elements:
                elements.append(element)
    reaction_lines, counts = [], []
    for part in parts:
        written = reactions(part, levels)
        counts.append(len(written))
        reaction_lines += _reaction_lines(part, written)
    t_lo = max(part.fit.t_min for part in parts)
    t_hi = min(part.fit.t_max for part in parts)
    lines = [*_header(parts, counts, t_lo, t_hi), "", f"generator: kvt {__version__}", UNITS_LINE, "",
             "phases:", "- name: gas", "  thermo: ideal-gas", f"  elements: [{', '.join(elements)}]",
             *[f"  species: {line}" if n == 0 else f"    {line}" for n, line in enumerate(_flow(names, "    "))],
             "  kinetics: gas", "  reactions: all",
             f"  state: {{T: {_number(t_lo)}, P: 101325.0, X: {{{names[0]}: 1.0}}}}", "",
             "species:", *species_lines, "", "reactions:", *reaction_lines, ""]
    return "\n".join(lines)


#: How each process's reactions are counted, for the header (one line per kind present).
COUNTING = {
    "vt": "VT: M(vi) + P <=> M(v(i-1)) + P, one per trained transition i -> i-1 and partner P (one per level of the "
          "partner where the partner is a level-resolved molecule, all with the transition's rate; a YAML alias "
          "(*name) repeats it)",
    "vv": "VV: M(vi) + M(vj) <=> M(v(i-1)) + M(v(j+1)), each exchange once with its reverse: the exothermic "
          "direction i <= j with the network's k(i, j) (i = j: M(vi) + M(vi), Cantera's rate k [M(vi)]^2 moves two "
          "molecules, as kvt relax --with-vv's master equation counts it); the reverse, the network's pair (j+1, "
          "i-1), is Cantera's detailed balance and not written again; resonant swaps i = j+1 change nothing and are "
          "left out",
    "vv'": "VV': A(vi) + B(vj) <=> A(v(i-1)) + B(v(j+1)), one per trained pair (i, j) with the network's k(i, j), "
           "its reverse B(v(j+1)) + A(v(i-1)) -> ... by detailed balance (a B-A table's exchanges, not written "
           "again)",
}


def _header(parts: list[Part], counts: list[int], t_lo: float, t_hi: float) -> list[str]:
    worst = max(parts, key=lambda p: p.fit.max_error)
    label, T = worst.fit.worst
    terms = np.concatenate([p.fit.terms for p in parts])
    kinds = list(dict.fromkeys(part.process.kind for part in parts))
    lines = [f"kvt {__version__} cantera: level-resolved {' + '.join(k.upper() for k in kinds)} mechanism from "
             f"{len(parts)} kvt network{'s' if len(parts) > 1 else ''}, {sum(counts)} reactions; load it with "
             f"cantera.Solution(\"<this file>\")"]
    for part, count in zip(parts, counts):
        f = part.fit
        lines.append(f"run: {part.source}: {part.process.label}, mode {part.spec.get('mode')}, dataset sha256 "
                     f"{part.spec.get('dataset_sha256')}, {part.trained_text()}, {f.t_min:g}..{f.t_max:g} K; "
                     f"{len(part.labels)} transitions, {count} reactions")
    lines += [
        f"rates: ln k of each network fitted per transition by a Chebyshev series in Cantera's reduced 1/T, "
        f"{int(terms.min())}..{int(terms.max())} terms; tolerance {parts[0].fit.tolerance:g} reached: max relative "
        f"deviation from the network {worst.fit.max_error:.2e} ({worst.process.label}, {worst.fit.label_text(label)}, "
        f"{T:g} K) on every {_step(worst.fit):g} K of the trained range",
        f"valid for {t_lo:g} <= T <= {t_hi:g} K only (the trained range); Cantera evaluates a Chebyshev rate "
        f"outside its temperature-range without a warning, and these diverge there",
        "species <M>(vN): level N of molecule M; thermo constant-cp with h0 = E(N) R (E(N) in K of "
        "kvt.physics.fho.level_energy_K), cp0 = 7/2 R and s0 = 0 for every level, so Cantera's reverse rates are "
        "exact detailed balance, k(reverse) = k(forward) exp(-dE / T), dE the energy the forward direction releases; "
        "partners: atoms cp0 = 5/2 R, h0 = 0",
        *(f"reactions, {COUNTING[kind]}" for kind in kinds),
        "units: k in m^3/(kmol s) = k in m^3/s x 6.02214076e26, h0 in J/kmol, T in K, P in Pa (the rates do not "
        "depend on P: one pressure term)"]
    return [f"# {line}" for line in lines]


def _step(fit: ChebyshevFit) -> float:
    return float(fit.temperatures[1] - fit.temperatures[0]) if fit.temperatures.size > 1 else 0.0


def _reaction_lines(part: Part, written: list[Reaction]) -> list[str]:
    process, fit = part.process, part.fit
    lines, anchors = [], {}
    for reaction in written:
        row = reaction.row
        if row not in anchors:
            lines.append(f"# {process.label}: {' + '.join(reaction.reactants[:reaction.changed])} -> "
                         f"{' + '.join(reaction.products[:reaction.changed])}, {fit.terms[row]} terms, max relative "
                         f"deviation from the network {fit.rel_error[row].max():.2e}")
        lines += [f"- equation: {reaction.equation}",
                  "  type: Chebyshev",
                  f"  temperature-range: [{_number(fit.t_min)}, {_number(fit.t_max)}]",
                  f"  pressure-range: [{_number(PRESSURE_RANGE_PA[0])}, {_number(PRESSURE_RANGE_PA[1])}]"]
        if row in anchors:
            lines.append(f"  data: *{anchors[row]}")
            continue
        data = _cantera_log10(fit.coefficients[row, :fit.terms[row]])
        rows = _flow([f"[{_number(v)}]" for v in data], "    ")
        anchors[row] = f"{process.name}_v{'_'.join(str(int(v)) for v in np.atleast_1d(fit.transitions[row]))}"
        anchor = f"&{anchors[row]} "
        lines += [f"  data: {anchor}{rows[0]}", *(f"    {line}" for line in rows[1:])]
    return lines
