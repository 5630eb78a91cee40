"""``kvt relax --mixture N2:0.79,O2:0.21 --with-vv``: a gas mixture relaxed by VT, VV and VV' with the generators'
rates (:mod:`kvt.kinetics.mixture`), beside the same mixture with VT alone.

Each molecule's solution is presented as a pure gas's is (:class:`kvt.reports.relax.RelaxResult`: its tables and
figures), under a label naming the mixture; the mixture adds one τ column per molecule to the table and writes the
folder of the pure gas with a ``molecule`` column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kvt import __version__
from kvt.files import atomic
from kvt.kinetics import mixture as gas_mixture
from kvt.physics import species
from kvt.reports import relax

VV_LABEL = "FHO VV and VV'"


@dataclass
class MixtureResult:
    mixture: gas_mixture.Mixture
    solution: gas_mixture.MixtureRelaxation
    vt_only: gas_mixture.MixtureRelaxation  # the same mixture with VT alone

    @property
    def label(self) -> str:
        return f"mixture {self.mixture.label} (FHO-FR VT of every pair, {VV_LABEL})"

    def of(self, name: str) -> relax.RelaxResult:
        """Molecule ``name``'s solution as a pure gas's result (its tables and figures)."""
        gas = self.solution.molecules[name]
        source = relax.RateSource(label=f"{name} in {self.mixture.label}", kind="fho", temperatures=gas.temperatures,
                                  k_down=None, process=None, details={}, molecule=species.molecule(name))
        return relax.RelaxResult(source=source, solution=gas, reference=None, reference_process=None, comparison=None,
                                 vt_only=self.vt_only.molecules[name], vv_label=VV_LABEL)

    def tau_table(self, millikan_white: bool = False) -> pd.DataFrame:
        """T_K, then per molecule tau_<M>_s, p_tau_<M>_atm_s, then tau_vt_only_<M>_s (``millikan_white``: none for a
        mixture; the argument is the pure gas's interface)."""
        names = self.mixture.names
        table = pd.DataFrame({"T_K": self.solution.temperatures})
        for name in names:
            table[f"tau_{name}_s"] = self.solution.tau_s[name]
        for name in names:
            table[f"p_tau_{name}_atm_s"] = self.solution.tau_s[name] * self.solution.molecules[name].pressure_atm
        for name in names:
            table[f"tau_vt_only_{name}_s"] = self.vt_only.tau_s[name]
        return table

    def energy_table(self) -> pd.DataFrame:
        frames = []
        for name in self.mixture.names:
            one = self.of(name)
            frame = one.energy_table()
            frame["ev_norm_vt_only"] = one.vt_only.normalised_energy(one.times()).ravel()
            frame.insert(1, "molecule", name)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def population_table(self) -> pd.DataFrame:
        frames = []
        for name in self.mixture.names:
            frame = self.of(name).population_table()
            frame.insert(1, "molecule", name)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def run(composition, temperatures, tv0: float = 300.0, pressure_atm: float = 1.0) -> MixtureResult:
    """Relax the mixture with the generators' rates, with VT, VV and VV' and with VT alone."""
    mix = gas_mixture.mixture(composition)
    T = np.asarray(temperatures, dtype=float)
    rates = gas_mixture.generator_rates(mix, T)
    common = dict(tv0=tv0, pressure_atm=pressure_atm)
    return MixtureResult(mixture=mix, solution=gas_mixture.relax(mix, rates, T, **common),
                         vt_only=gas_mixture.relax(mix, rates, T, with_vv=False, **common))


def figure_names(result: MixtureResult) -> list[str]:
    return [f"populations_{name}.png" for name in result.mixture.names] + ["energy.png"]


def write_folder(result: MixtureResult, out, force: bool = False, command=None, inputs=()) -> Path:
    """tau.csv, energy.csv, populations.csv, relax.json, populations_<M>.png per molecule and energy.png, atomically."""
    from kvt.runs import figures
    from kvt.runs.folder import package_versions

    s = result.solution
    record = {
        "kvt_version": __version__, "command": command,
        "source": {"kind": "fho", "label": result.label, "mixture": dict(zip(s.mixture.names, s.mixture.fractions))},
        "conditions": {"tv0_K": float(s.molecules[s.mixture.names[0]].tv0),
                       "pressure_atm": float(s.molecules[s.mixture.names[0]].pressure_atm),
                       "temperatures_K": s.temperatures.tolist()},
        "reference": None,
        "method": ("VT of every molecule with every partner (weighted by its mole fraction), VV of each molecule, VV' "
                   "of each two (kvt.kinetics.mixture): the nonlinear master equation integrated by LSODA with its "
                   "analytic Jacobian, rtol 1e-10; tau_vt_only_<M>_s: the same mixture with VT alone"),
        "tau_definition": "per molecule: first t with (E_v(t) - E_v,eq) / (E_v(0) - E_v,eq) = 1/e of its own E_v",
        "versions": package_versions(),
    }
    with atomic.directory(out, "relax", force=force, inputs=inputs) as tmp:
        (tmp / "tau.csv").write_text(relax.csv_text(result.tau_table()))
        (tmp / "energy.csv").write_text(relax.csv_text(result.energy_table()))
        (tmp / "populations.csv").write_text(relax.csv_text(result.population_table()))
        (tmp / "relax.json").write_text(json.dumps(record, indent=2))
        for name, figure in zip(figure_names(result), _figures(result)):
            figures.save_figure(figure, tmp / name)
    return Path(out)


def _figures(result: MixtureResult):
    for name in result.mixture.names:
        yield relax.populations_figure(result.of(name))
    yield energy_figure(result)


def energy_figure(result: MixtureResult):
    """Each molecule's normalised E_v(t) at every temperature, VT alone dashed: one panel per molecule."""
    import matplotlib.pyplot as plt

    names = result.mixture.names
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.0), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], names):
        one = result.of(name)
        taus = np.stack([one.solution.tau_s, one.vt_only.tau_s])
        times = np.geomspace(1e-3 * taus.min(axis=0), 1e2 * taus.max(axis=0), relax.ENERGY_POINTS).T  # (nT, nt)
        with_vv, alone = one.solution.normalised_energy(times), one.vt_only.normalised_energy(times)
        colours = relax.temperature_colours(len(one.solution.temperatures))
        for j, T in enumerate(one.solution.temperatures):
            (line,) = ax.semilogx(times[j], with_vv[j], label=f"{T:g} K", color=colours[j])
            ax.semilogx(times[j], alone[j], "--", color=line.get_color(), lw=1)
        ax.axhline(np.exp(-1), color="grey", lw=0.6, ls=":")
        ax.set_title(f"{name} in {result.mixture.label}", fontsize=9)
        ax.set_xlabel("t, s")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("(E_v - E_v,eq) / (E_v(0) - E_v,eq)")
    tv0 = result.solution.molecules[names[0]].tv0
    fig.suptitle(f"vibrational energy of each molecule, T_v0 = {tv0:g} K: VT + {VV_LABEL} (solid), VT alone "
                 f"(dashed)", fontsize=9)
    return fig
