"""Isothermal relaxation of a fixed-composition mixture of molecules (air: N2 and O2, NO too) with VT, VV and VV'.

Molecules A = 1..M with mole fractions y_A (sum 1) at temperature T and pressure p, total number density
n = p / (k_B T); each has its level fractions x^A_n (n = 0..L_A, sum 1). Per molecule:

    dx^A_n/dt = n sum_C y_C [VT terms of A with partner C]                                    (every C in the mixture)
              + n y_A sum_{1 <= i <= j <= L_A - 1} w^AA_ij (-δ_{n,i} + δ_{n,i-1} - δ_{n,j} + δ_{n,j+1})     (VV)
              + n y_B sum_{i, j} w^AB_ij (-δ_{n,i} + δ_{n,i-1})       (VV' with each other B, A giving the quantum)
              + n y_B sum_{i, j} w^BA_ij (-δ_{n,j} + δ_{n,j+1})       (VV' with each other B, A receiving it)

VT: k(n -> n-1) of the pair A-C (A relaxing on C) and its detailed-balance reverse, so A's VT matrix is that of the
mole-fraction-weighted rate sum_C y_C k_AC. VV of A with itself: the exchanges of the pure gas
(:mod:`kvt.kinetics.molecular_gas`), each once in its exothermic direction. VV' of two molecules, written once per
pair with the giver first as kvt's bundled pairs are (N2-O2, N2-NO, O2-NO): every exchange A(i) + B(j) -> A(i-1) +
B(j+1), i = 1..L_A, j = 0..L_B - 1, with the net flux w^AB_ij = k x^A_i x^B_j - k_r x^A_{i-1} x^B_{j+1}; k is the
generator's rate of that direction (the formula where it is exothermic, its detailed-balance value where not) and
k_r = k exp(-ΔE / T) its exact reverse, the rate of B(j+1) + A(i-1) -> B(j) + A(i) (the B-A table); the flux
moves A down and B up, each at the other's density. Events per volume and time are k n_A,i n_B,j, so the quanta
sum_A y_A sum_n n x^A_n are conserved by VV and VV', and detailed balance of each process makes Boltzmann(T) of
every molecule a fixed point.

The equation, its Jacobian, the integration (LSODA, implicit, with the analytic dense Jacobian) and τ are those of
the pure gas (:class:`kvt.kinetics.molecular_gas.MasterEquation`, :func:`kvt.kinetics.molecular_gas.solve`), over
the concatenated fractions. τ of each molecule is the first t at which its normalised vibrational energy
(E_v^A(t) - E_v,eq^A) / (E_v^A(0) - E_v,eq^A) is 1/e.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kvt.errors import KvtError
from kvt.kinetics.heat_bath import (
    boltzmann_fractions, check_conditions, describe_bad_rates, excitation_rates, fho_rates, number_density,
)
from kvt.kinetics.molecular_gas import (
    Exchanges, GasRelaxation, MasterEquation, exothermic_rates, fho_vv_rates, solve, vt_matrix,
)
from kvt.physics import fho, species
from kvt.physics.process import EXCHANGE_PAIRS, resolve
from kvt.physics.species import Molecule

#: How close to 1 the mole fractions must sum.
FRACTION_SUM_TOLERANCE = 1e-6
EXAMPLE = "N2:0.79,O2:0.21"


@dataclass(frozen=True)
class Mixture:
    """Molecules and their mole fractions (> 0, sum 1), in the order given."""

    molecules: tuple[Molecule, ...]
    fractions: tuple[float, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.molecules)

    @property
    def label(self) -> str:
        """``N2:0.79,O2:0.21``."""
        return ",".join(f"{m.name}:{y:g}" for m, y in zip(self.molecules, self.fractions))

    @property
    def blocks(self) -> list[slice]:
        """Each molecule's slice of the concatenated level fractions."""
        ends = np.cumsum([m.max_level + 1 for m in self.molecules])
        return [slice(int(end - m.max_level - 1), int(end)) for m, end in zip(self.molecules, ends)]

    @property
    def size(self) -> int:
        return sum(m.max_level + 1 for m in self.molecules)

    def exchange_pairs(self) -> list[tuple[Molecule, Molecule]]:
        """The VV' pairs (giver, receiver), one per two molecules, ordered as kvt's bundled pairs (N2-O2, ...)."""
        pairs = []
        for k, a in enumerate(self.molecules):
            for b in self.molecules[k + 1:]:
                pairs.append((a, b) if f"{a.name}-{b.name}" in EXCHANGE_PAIRS["vv'"] else (b, a))
        return pairs


def mixture(composition) -> Mixture:
    """A :class:`Mixture` from ``"N2:0.79,O2:0.21"`` (what ``--mixture`` takes), a mapping {name: fraction} or a
    Mixture. One ``KvtError`` line for an entry that is not SPECIES:FRACTION, an unknown species or an atom, a molecule
    listed twice, a fraction that is not a number > 0, or fractions that do not sum to 1 (within 1e-6)."""
    if isinstance(composition, Mixture):
        return composition
    if isinstance(composition, str):
        entries = []
        for entry in composition.split(","):
            name, colon, fraction = entry.partition(":")
            try:
                value = float(fraction) if colon else None
            except ValueError:
                value = None
            if value is None or not name.strip():
                raise KvtError(f"--mixture entry '{entry.strip()}' is not SPECIES:FRACTION; give e.g. --mixture "
                               f"{EXAMPLE} (mole fractions of {', '.join(species.MOLECULES)})")
            entries.append((name.strip(), value))
    else:
        entries = [(str(name), float(value)) for name, value in dict(composition).items()]
    molecules, seen = [], set()
    for name, value in entries:
        m = _molecule(name)
        if m.name in seen:
            raise KvtError(f"--mixture lists {m.name} twice; give each molecule once, e.g. {EXAMPLE}")
        seen.add(m.name)
        if not (np.isfinite(value) and value > 0):
            raise KvtError(f"--mixture fraction of {m.name} is {value:g}; a mole fraction must be > 0 (leave out a "
                           f"molecule that is not there)")
        molecules.append(m)
    fractions = tuple(value for _, value in entries)
    total = float(np.sum(fractions))
    if abs(total - 1.0) > FRACTION_SUM_TOLERANCE:
        raise KvtError(f"--mixture fractions sum to {total:.10g}; mole fractions must sum to 1 (within "
                       f"{FRACTION_SUM_TOLERANCE:g}), e.g. {EXAMPLE}")
    return Mixture(tuple(molecules), fractions)


def _molecule(name: str) -> Molecule:
    """The molecule ``name`` spells (any case); an atom or an unknown name is one line naming what a mixture takes."""
    folded = {key.lower(): key for key in species.MOLECULES}
    if name.lower() in folded:
        return species.MOLECULES[folded[name.lower()]]
    takes = f"a mixture's species are the molecules {', '.join(species.MOLECULES)}"
    atoms = {key.lower(): key for key in species.ATOMS}
    if name.lower() in atoms:
        raise KvtError(f"--mixture species {atoms[name.lower()]} is an atom, which does not vibrate; {takes}")
    raise KvtError(f"--mixture species '{name}' is unknown; {takes}")


@dataclass
class MixtureRates:
    """The rates (m^3/s) a mixture's master equation reads, at its temperatures (nT first).

    ``vt[(A, C)]``: (nT, L_A) k(A(n) -> A(n-1)) with partner C, every A and C of the mixture; ``vv[A]``: (nT, L_A,
    L_A) k(A(i) + A(j) -> A(i-1) + A(j+1)) at [:, i - 1, j]; ``vv_prime[(A, B)]``: (nT, L_A, L_B) k(A(i) + B(j) ->
    A(i-1) + B(j+1)) at [:, i - 1, j], one per two molecules (:meth:`Mixture.exchange_pairs`). Keys are names.
    """

    vt: dict
    vv: dict
    vv_prime: dict


def generator_rates(composition, temperatures) -> MixtureRates:
    """The FHO generators' rates of every process of the mixture: FHO-FR VT of each pair, FHO VV and VV'."""
    mix = mixture(composition)
    T = np.asarray(temperatures, dtype=float)
    names = mix.names
    return MixtureRates(
        vt={(a, c): fho_rates(f"{a}-{c}", T) for a in names for c in names},
        vv={a: fho_vv_rates(resolve(f"{a}-{a}", "vv"), T) for a in names},
        vv_prime={(a.name, b.name): fho_vv_rates(resolve(f"{a.name}-{b.name}", "vv'"), T)
                  for a, b in mix.exchange_pairs()})


@dataclass
class MixtureRelaxation:
    """The solutions at several temperatures: each molecule's :class:`~kvt.kinetics.molecular_gas.GasRelaxation`
    (its own levels, E_v and τ), and the concatenated fractions of all of them (``populations``)."""

    mixture: Mixture
    molecules: dict  # name -> GasRelaxation of that molecule's block
    solutions: list
    ends_s: np.ndarray

    @property
    def temperatures(self) -> np.ndarray:
        return next(iter(self.molecules.values())).temperatures

    @property
    def tau_s(self) -> dict:
        """name -> τ (nT,) of that molecule's vibrational energy."""
        return {name: gas.tau_s for name, gas in self.molecules.items()}

    def populations(self, times) -> np.ndarray:
        """All molecules' fractions, concatenated in the mixture's order: (nT, n_times, N)."""
        return np.concatenate([gas.populations(times) for gas in self.molecules.values()], axis=2)


class _Block:
    """One molecule's rows of a dense solution of the concatenated fractions (what GasRelaxation calls)."""

    def __init__(self, solution, block: slice):
        self.solution, self.block = solution, block

    def __call__(self, t):
        return self.solution(t)[self.block]


def relax(composition, rates: MixtureRates, temperatures, tv0: float = 300.0, pressure_atm: float = 1.0,
          with_vt: bool = True, with_vv: bool = True, span_s=None,
          with_vv_prime: bool | None = None) -> MixtureRelaxation:
    """Relaxation of a mixture (``"N2:0.79,O2:0.21"``, a mapping or a :class:`Mixture`) from Boltzmann at ``tv0`` for
    every molecule, at each bath temperature, with ``rates`` (:class:`MixtureRates`, e.g. :func:`generator_rates`).

    ``with_vt``/``with_vv`` switch off VT or both VV and VV' (VT alone: each molecule relaxes in the mixture's bath
    independently; VV and VV' alone conserve the quanta and τ is NaN); ``with_vv_prime`` (default: ``with_vv``)
    switches VV' alone, to see what the exchange between the molecules does. ``span_s`` (nT,): how long to integrate
    [default: 40 times the slowest VT mode's time, or 1e4 times the fastest exchange's without VT].
    """
    mix = mixture(composition)
    if not (with_vt or with_vv or with_vv_prime):
        raise KvtError("a relaxation needs VT or VV exchange; with_vt and with_vv are both off")
    temperatures = check_conditions(np.atleast_1d(np.asarray(temperatures, dtype=float)), float(tv0),
                                    float(pressure_atm))
    equation = master_equation(mix, rates, temperatures, pressure_atm, with_vt, with_vv, with_vv_prime)
    n_T, blocks = len(temperatures), mix.blocks
    energies = level_energies(mix)
    rows = np.zeros((len(blocks), mix.size))  # each molecule's level energies on its own block
    x_eq, x0 = np.zeros((n_T, mix.size)), np.zeros((n_T, mix.size))
    for row, m, block in zip(rows, mix.names, blocks):
        row[block] = energies[m]
        x_eq[:, block] = boltzmann_fractions(energies[m], temperatures)
        x0[:, block] = boltzmann_fractions(energies[m], np.full(n_T, float(tv0)))
    solutions, ends, taus = solve(equation, temperatures, x0, x_eq, rows, with_vt, span_s, blocks)
    density = number_density(temperatures, pressure_atm)
    views = {m: GasRelaxation(temperatures=temperatures, pressure_atm=float(pressure_atm), tv0=float(tv0),
                              energies_K=energies[m], x_eq=x_eq[:, block], x0=x0[:, block], number_density=density,
                              tau_s=taus[:, index], with_vt=with_vt, with_vv=with_vv,
                              solutions=[_Block(s, block) for s in solutions], ends_s=ends)
             for index, (m, block) in enumerate(zip(mix.names, blocks))}
    return MixtureRelaxation(mixture=mix, molecules=views, solutions=solutions, ends_s=ends)


def level_energies(composition) -> dict:
    """name -> E(n), n = 0..L, in kelvin, of each molecule of the mixture."""
    return {m.name: fho.level_energy_K(np.arange(m.max_level + 1), m) for m in mixture(composition).molecules}


def master_equation(composition, rates: MixtureRates, temperatures, pressure_atm: float = 1.0, with_vt: bool = True,
                    with_vv: bool = True, with_vv_prime: bool | None = None):
    """The mixture's :class:`~kvt.kinetics.molecular_gas.MasterEquation` at each temperature, as a function of the
    temperature's index (what :func:`~kvt.kinetics.molecular_gas.solve` calls); the rates are checked here (one line
    for a missing or misshapen table or a k <= 0)."""
    mix = mixture(composition)
    temperatures = np.atleast_1d(np.asarray(temperatures, dtype=float))
    n_T, blocks, y = len(temperatures), mix.blocks, dict(zip(mix.names, mix.fractions))
    energies = level_energies(mix)
    density = number_density(temperatures, pressure_atm)
    offset = {m.name: block.start for m, block in zip(mix.molecules, blocks)}

    k_down, k_up = {}, {}
    for m in mix.molecules:
        levels = np.arange(1, m.max_level + 1)
        k_down[m.name] = sum(y[c] * _table(rates.vt, (m.name, c), (n_T, m.max_level), "VT") for c in mix.names)
        problem = describe_bad_rates(k_down[m.name], levels, temperatures)
        if problem:
            raise KvtError(f"cannot relax: VT of {m.name} in the mixture: {problem}; a master equation needs k > 0")
        k_up[m.name] = excitation_rates(k_down[m.name], levels[None, :], temperatures[:, None], m)

    # every exchange once: giver level a (-> a-1), receiver level b (-> b+1), indices into the concatenated x
    a, b, forward, reverse, giver_y, receiver_y = ([] for _ in range(6))
    processes = [(m, m, Exchanges.of(m.max_level), rates.vv, m.name) for m in mix.molecules] if with_vv else []
    processes += [(m_a, m_b, Exchanges.between(m_a.max_level, m_b.max_level), rates.vv_prime, (m_a.name, m_b.name))
                  for m_a, m_b in mix.exchange_pairs()] if (with_vv if with_vv_prime is None else with_vv_prime) else []
    for m_a, m_b, exchanges, table, key in processes:
        k = _table(table, key, (n_T, m_a.max_level, m_b.max_level), "VV" if m_a == m_b else "VV'")
        f, r = exothermic_rates(k, temperatures, energies[m_a.name], exchanges, energies[m_b.name])
        bad = ~(np.isfinite(f) & (f > 0))
        if bad.any():
            t, e = np.argwhere(bad)[0]
            raise KvtError(f"cannot relax: the rate of {m_a.name}({exchanges.i[e]}) + {m_b.name}({exchanges.j[e]}) "
                           f"at {temperatures[t]:g} K is {f[t, e]:g}; a master equation needs k > 0")
        a.append(offset[m_a.name] + exchanges.i)
        b.append(offset[m_b.name] + exchanges.j)
        forward.append(f)
        reverse.append(r)
        giver_y.append(np.full(len(exchanges.i), y[m_b.name]))  # the giver changes at the receiver's density
        receiver_y.append(np.full(len(exchanges.i), y[m_a.name]))
    a, b, giver_y, receiver_y = (np.concatenate(v) if v else np.zeros(0, dtype=int) for v in (a, b, giver_y,
                                                                                             receiver_y))
    forward, reverse = (np.concatenate(v, axis=1) if v else np.zeros((n_T, 0)) for v in (forward, reverse))

    def equation(k):
        vt = np.zeros((mix.size, mix.size))
        if with_vt:
            for m, block in zip(mix.names, blocks):
                vt[block, block] = density[k] * vt_matrix(k_down[m][k], k_up[m][k])
        return MasterEquation(vt, a, b, forward[k], reverse[k], density[k] * giver_y, density[k] * receiver_y)

    return equation


def _table(tables: dict, key, shape, what: str) -> np.ndarray:
    """``tables[key]`` as floats of ``shape``; a missing or misshapen one is one line."""
    if key not in tables:
        named = key if isinstance(key, str) else "-".join(key)
        raise KvtError(f"the mixture's rates lack the {what} rates of {named}")
    table = np.asarray(tables[key], dtype=float)
    if table.shape != shape:
        named = key if isinstance(key, str) else "-".join(key)
        raise KvtError(f"the {what} rates of {named} have shape {table.shape}; the mixture needs {shape}")
    return table
