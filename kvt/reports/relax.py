"""``kvt relax``: heat-bath relaxation with a rate set from a run, a table or the FHO-FR generator.

:func:`load_rates` turns a source into de-excitation rates of every transition of its
molecule (O2 35, N2 46, NO 38) at the requested temperatures; :func:`run` solves the master equation exactly
(:func:`kvt.kinetics.heat_bath.relax`) and, with a reference pair, compares with FHO-FR's rates;
:func:`write_folder` saves the tables and figures atomically.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kvt import __version__
from kvt.files import atomic
from kvt.kinetics import heat_bath
from kvt.physics.process import ExchangeProcess, Process, resolve
from kvt.physics.species import Molecule
from kvt.errors import KvtError

ENERGY_POINTS = 121  # per temperature, log-spaced over 1e-3..1e2 tau, plus t = 0
POPULATION_TIMES = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)  # in units of tau
TAU_COLUMNS = ("T_K", "tau_s", "p_tau_atm_s")
REFERENCE_COLUMNS = ("tau_ref_s", "tau_rel_err", "ev_max_dev")
VV_REFERENCE_COLUMNS = (*REFERENCE_COLUMNS, "pop_max_rel_dev")


@dataclass
class RateSource:
    """De-excitation rates (nT, L) of one source (L = its molecule's top level), with what it is."""

    label: str  # e.g. "run runs/x", "table t.csv", "FHO-FR O2-Ar"
    kind: str  # run, table, fho
    temperatures: np.ndarray
    k_down: np.ndarray
    process: Process | None  # the VT process it belongs to, when known
    details: dict
    molecule: Molecule  # whose levels the columns are, and whose energies the detailed balance uses

    @property
    def pair(self) -> str | None:
        return self.process.name if self.process else None


def _process_named(name: str | None) -> Process | None:
    """The process of a pair a run or a table names in its files (read there, resolved once here)."""
    return resolve(name) if name else None


def from_process(process: Process, temperatures) -> RateSource:
    temperatures = np.asarray(temperatures, dtype=float)
    return RateSource(label=f"FHO-FR {process.name}", kind="fho", temperatures=temperatures,
                      k_down=heat_bath.fho_rates(process, temperatures), process=process,
                      details={"pair": process.name}, molecule=process.molecule)


def from_run(run_dir, temperatures) -> RateSource:
    from kvt.runs.rates import check_range
    from kvt.runs.folder import open_run

    run = open_run(run_dir)
    molecule = run.molecule
    lo, hi = run.level_range
    if (lo, hi) != (1, molecule.max_level):
        raise KvtError(f"run {run_dir} was trained on levels {lo}..{hi}; relaxation needs every level "
                       f"1..{molecule.max_level} of {molecule.name}")
    check_range(run, np.arange(1, molecule.max_level + 1), temperatures, allow_extrapolation=False, flag=None)
    process = _process_named((run.metadata or {}).get("dataset", {}).get("pair"))
    mode = (run.metadata or {}).get("options", {}).get("mode", "study")
    return RateSource(label=f"run {run_dir}", kind="run", temperatures=np.asarray(temperatures, dtype=float),
                      k_down=heat_bath.network_rates(run.network, temperatures, molecule), process=process,
                      details={"run": str(run_dir), "mode": mode,
                               "dataset_sha256": (run.metadata or {}).get("dataset", {}).get("sha256")},
                      molecule=molecule)


def from_table(path, temperatures) -> RateSource:
    from kvt.data.datasets import read_table

    table, sha256 = read_table(path, allow_nonpositive=True)  # heat_bath.relax names any k <= 0 it meets
    if not hasattr(table, "down"):
        raise KvtError(f"{path} is a {table.process.kind} table ({table.process.label}); kvt relax --table takes VT "
                       f"rates (level,T_K,k_m3_s), a VV table goes to --vv-table with --with-vv")
    down = table.down()
    molecule = table.molecule
    all_levels = np.arange(1, molecule.max_level + 1)
    wanted = np.asarray(temperatures, dtype=float)
    _refuse_missing_temperatures(str(path), wanted, down["T_K"])
    grid = down.pivot(index="T_K", columns="level", values="k_m3_s").reindex(index=wanted, columns=all_levels)
    holes = grid.isna().to_numpy()
    if holes.any():
        levels = all_levels[holes.any(axis=0)]
        temps = wanted[holes.any(axis=1)]
        from kvt.kinetics.validity import compact_levels

        raise KvtError(f"{path} lacks transitions of levels {compact_levels(levels)} at "
                       f"{', '.join(f'{t:g}' for t in temps)} K; relaxation needs every transition 1->0 .. "
                       f"{molecule.max_level}->{molecule.max_level - 1} at each temperature"
                       f"{'' if molecule.name == 'O2' else f' ({molecule.name})'}")
    return RateSource(label=f"table {path}", kind="table", temperatures=wanted, k_down=grid.to_numpy(),
                      process=_process_named(table.pair),
                      details={"table": str(path), "layout": table.layout, "units": table.units, "sha256": sha256},
                      molecule=molecule)


def _refuse_missing_temperatures(what: str, wanted: np.ndarray, available) -> None:
    """A table's rates are used at its own temperatures only (no interpolation): one line naming those it lacks."""
    available = np.unique(np.asarray(available, dtype=float))
    missing = wanted[~np.isin(wanted, available)]
    if len(missing):
        shown = ", ".join(f"{t:g}" for t in available[:12]) + (" ..." if len(available) > 12 else "")
        raise KvtError(f"{what} has no rates at {', '.join(f'{t:g}' for t in missing)} K; its temperatures are "
                       f"{shown} K (give --temps from those)")


def load_rates(run_dir=None, table=None, process: Process | None = None,
               temperatures=heat_bath.CHECK_TEMPERATURES) -> RateSource:
    """The rate set of exactly one of ``run_dir``, ``table`` or ``process`` (FHO-FR) at ``temperatures``."""
    temperatures = np.asarray(temperatures, dtype=float)
    if run_dir is not None:
        return from_run(run_dir, temperatures)
    if table is not None:
        return from_table(table, temperatures)
    return from_process(resolve(process), temperatures)


@dataclass
class RelaxResult:
    source: RateSource
    solution: heat_bath.Relaxation
    reference: heat_bath.Relaxation | None
    reference_process: Process | None
    comparison: dict | None
    vt_only: object = None  # with VV: the same gas relaxed by VT alone (kvt.kinetics.molecular_gas.GasRelaxation)
    vv_label: str | None = None  # with VV: where the VV rates come from
    integrated: bool = False  # VT alone, integrated: T_v0 too far above T for the exact solution (run)

    @property
    def reference_pair(self) -> str | None:
        return self.reference_process.name if self.reference_process else None

    def tau_table(self, millikan_white: bool = False) -> pd.DataFrame:
        s = self.solution
        table = pd.DataFrame({"T_K": s.temperatures, "tau_s": s.tau_s, "p_tau_atm_s": s.p_tau_atm_s})
        if self.reference is not None:
            table["tau_ref_s"] = self.reference.tau_s
            table["tau_rel_err"] = self.comparison["tau_rel_err"]
            table["ev_max_dev"] = self.comparison["ev_max_dev"]
            if "pop_max_rel_dev" in self.comparison:
                table["pop_max_rel_dev"] = self.comparison["pop_max_rel_dev"]
        if self.vt_only is not None:
            table["tau_vt_only_s"] = self.vt_only.tau_s
        if millikan_white and self.millikan_white_process:
            table["p_tau_mw_atm_s"] = heat_bath.millikan_white_for(s.temperatures, self.millikan_white_process)
        return table

    @property
    def millikan_white_process(self) -> Process | None:
        return self.reference_process or self.source.process

    def times(self) -> np.ndarray:
        """Per-temperature log time grid (nT, ENERGY_POINTS + 1) in s, from 0 and 1e-3 tau to 1e2 tau."""
        scale = self.solution.tau_s[:, None]
        return np.concatenate([np.zeros_like(scale), scale * np.geomspace(1e-3, 1e2, ENERGY_POINTS)[None, :]],
                              axis=1)

    def energy_table(self) -> pd.DataFrame:
        times = self.times()
        n_t = times.shape[1]
        frame = pd.DataFrame({"T_K": np.repeat(self.solution.temperatures, n_t), "t_s": times.ravel(),
                              "t_over_tau": (times / self.solution.tau_s[:, None]).ravel(),
                              "ev_norm": self.solution.normalised_energy(times).ravel()})
        if self.reference is not None:
            frame["ev_norm_ref"] = self.reference.normalised_energy(times).ravel()
        return frame

    def population_table(self) -> pd.DataFrame:
        multiples = np.asarray(POPULATION_TIMES)
        times = self.solution.tau_s[:, None] * multiples[None, :]
        x = self.solution.populations(times)  # (nT, nt, L+1)
        x[:, multiples == 0, :] = self.solution.x0[:, None, :]  # the start is known exactly
        resolved = (x > self.solution.resolution()[:, None, :]) | (multiples == 0)[None, :, None]
        n_T, n_t, n_levels = x.shape
        return pd.DataFrame({
            "T_K": np.repeat(self.solution.temperatures, n_t * n_levels),
            "t_s": np.repeat(times.ravel(), n_levels),
            "t_over_tau": np.tile(np.repeat(multiples, n_levels), n_T),
            "level": np.tile(np.arange(n_levels), n_T * n_t),
            "x": x.ravel(),
            "resolved": resolved.ravel(),
        })


def run(source: RateSource, tv0: float = 300.0, pressure_atm: float = 1.0,
        reference: Process | str | None = None) -> RelaxResult:
    """Relax ``source``'s rates; with a ``reference`` process (or a pair's name), also FHO-FR's and compare the two.

    The master equation is solved exactly (:func:`kvt.kinetics.heat_bath.relax`) where that is precise in double
    precision; where T_v0 is too far above a bath temperature for it (cooling), both are integrated instead
    (:func:`kvt.kinetics.molecular_gas.relax` without VV: LSODA with the analytic Jacobian), and ``integrated`` says so.
    """
    reference_process = None if reference is None else resolve(reference)
    if reference_process is not None and reference_process.molecule != source.molecule:
        molecule = source.molecule.name
        raise KvtError(f"the reference pair {reference_process.name} is not of {molecule}, the molecule of "
                       f"{source.label}; name a pair of {molecule}")
    T = source.temperatures
    rate_sets = [source.k_down] + ([heat_bath.fho_rates(reference_process, T)] if reference_process else [])
    try:
        solved = [heat_bath.relax(k, T, tv0=tv0, pressure_atm=pressure_atm, molecule=source.molecule)
                  for k in rate_sets]
        integrated = False
    except heat_bath.PrecisionLost:
        from kvt.kinetics import molecular_gas

        top = source.molecule.max_level
        solved = [molecular_gas.relax(k, np.zeros((len(T), top, top)), T, tv0=tv0, pressure_atm=pressure_atm,
                                      molecule=source.molecule, with_vv=False) for k in rate_sets]
        integrated = True
    solution, relaxed = solved[0], (solved[1] if reference_process else None)
    comparison = heat_bath.compare(solution, relaxed) if relaxed is not None else None
    return RelaxResult(source=source, solution=solution, reference=relaxed, reference_process=reference_process,
                       comparison=comparison, integrated=integrated)


def vv_rates_of_run(run_dir, vv: ExchangeProcess, temperatures) -> tuple[np.ndarray, str]:
    """The VV rates of a trained VV run as the (nT, L, L) table the master equation reads, and their label.

    Refused in one line: a run of another process or molecule than ``vv``, trained level ranges that do not cover
    the ladder (level_a 1..L, level_b 0..L-1), temperatures outside the trained range, and k <= 0.
    """
    from kvt.kinetics import exchange, validity
    from kvt.runs import exchange_rates
    from kvt.runs.folder import open_run

    try:
        run = open_run(run_dir)
    except KvtError as error:  # "run directory X does not exist": say which option named it
        raise KvtError(str(error).replace(f"run directory {Path(run_dir)}", f"--vv-run {run_dir}", 1)) from None
    trained = run.network.process
    if trained != vv:
        what = f"a {trained.kind} network of {trained.name}" if trained is not None else "a VT network"
        raise KvtError(f"--vv-run {run_dir} is {what}; the VV rates of this gas come from a run of "
                       f"kvt train --pair {vv.name} --process vv")
    (all_a, all_b), (a, b) = vv.levels, exchange_rates.trained_levels(run)
    if list(a) != list(all_a) or list(b) != list(all_b):
        raise KvtError(f"--vv-run {run_dir} was trained on level_a {min(a)}..{max(a)}, level_b {min(b)}..{max(b)}; "
                       f"the relaxation of {vv.molecule_a.name} needs every exchange, level_a {min(all_a)}.."
                       f"{max(all_a)} and level_b {min(all_b)}..{max(all_b)}")
    exchange_rates.check_range(run, a, b, temperatures, allow_extrapolation=False, flag=None)
    T = np.asarray(temperatures, dtype=float)
    k = exchange.predict_pairs(run.network, *exchange.level_pairs(a, b), T)  # (pairs, nT)
    grid_a, grid_b = exchange.level_pairs(a, b)
    region = exchange.nonphysical_region(np.repeat(grid_a, T.size), np.repeat(grid_b, T.size),
                                         np.tile(T, len(grid_a)), k)
    validity.refuse_nonphysical(region, False, lambda found: f"--vv-run {run_dir}: " + validity.refusal_message(
        found, "use it").replace(f", or pass {validity.NONPHYSICAL_FLAG} to use it anyway", ""))
    return k.T.reshape(T.size, len(a), len(b)), f"VV run {run.path}"


def vv_rates_of_table(path, vv: ExchangeProcess, temperatures) -> tuple[np.ndarray, str]:
    """The VV rates of a table kvt wrote (``kvt data generate --process vv``, or ``kvt export`` of a VV run: any
    layout, units and direction) as the (nT, L, L) table the master equation reads, and their label.

    Refused in one line: a VT table, a table of another process or molecule than ``vv``, temperatures the table
    does not hold (as ``--table``: its rates at its own temperatures, no interpolation), and missing exchanges of
    the half the equation reads, 1 <= level_a <= level_b <= L - 1 (the quantum moving up the ladder).
    """
    from kvt.data.datasets import read_table
    from kvt.data.exchange import ExchangeTable
    from kvt.kinetics.molecular_gas import Exchanges
    from kvt.kinetics.validity import compact_levels

    try:
        table, _ = read_table(path)
    except KvtError as error:  # "t.csv: no such file": say which option named it
        raise KvtError(f"--vv-table {error}") from None
    if not isinstance(table, ExchangeTable):
        raise KvtError(f"--vv-table {path} is a VT table (level,T_K,k_m3_s); --vv-table takes VV rates "
                       f"(kvt data generate --pair {vv.name} --process vv, or kvt export of a VV run), a VT table "
                       f"goes to --table")
    if table.process != vv:
        raise KvtError(f"--vv-table {path} is a {table.process.kind} table of {table.process.name}; the VV rates of "
                       f"this gas come from kvt data generate --pair {vv.name} --process vv (or kvt export of a VV "
                       f"run of {vv.name})")
    T = np.asarray(temperatures, dtype=float)
    frame = table.frame
    _refuse_missing_temperatures(f"--vv-table {path}", T, frame["T_K"])
    top = vv.molecule_a.max_level
    k = np.full((len(T), top, top), np.nan)
    used = frame[frame["T_K"].isin(T)]
    k[pd.Index(T).get_indexer(used["T_K"]), used["level_a"].to_numpy() - 1, used["level_b"].to_numpy()] = \
        used["k_m3_s"].to_numpy()
    exchanges = Exchanges.of(top)
    holes = np.isnan(k[:, exchanges.i - 1, exchanges.j])  # (nT, exchanges)
    if holes.any():
        lacking = holes.any(axis=0)
        raise KvtError(f"--vv-table {path} lacks the exchanges of level_a {compact_levels(exchanges.i[lacking])} "
                       f"with level_b {compact_levels(exchanges.j[lacking])} at "
                       f"{', '.join(f'{t:g}' for t in T[holes.any(axis=1)])} K; the relaxation of "
                       f"{vv.molecule_a.name} reads every exchange 1 <= level_a <= level_b <= {top - 1} at each "
                       f"temperature")
    return k, f"VV table {path}"


def run_with_vv(source: RateSource, vv: ExchangeProcess, tv0: float = 300.0, pressure_atm: float = 1.0,
                reference: Process | None = None, vv_rates: tuple[np.ndarray, str] | None = None) -> RelaxResult:
    """Relax a pure molecular gas with ``source``'s VT rates (the gas with itself) and the VV rates of ``vv`` (the
    FHO generator, or ``vv_rates``: a table (nT, L, L) and its label, e.g. :func:`vv_rates_of_run`), beside the same
    gas relaxed by VT alone; with a ``reference`` process, also the FHO rates of both (VT and VV) and the
    comparison (τ, E_v(t), populations at t = τ)."""
    from kvt.kinetics import molecular_gas

    if source.molecule != vv.molecule_a:
        raise KvtError(f"the VV rates of {vv.name} are not of {source.molecule.name}, the molecule of {source.label}")
    T = source.temperatures
    k_vv_fho = molecular_gas.fho_vv_rates(vv, T)
    k_vv, vv_label = vv_rates if vv_rates is not None else (k_vv_fho, f"FHO VV {vv.name}")
    common = dict(tv0=tv0, pressure_atm=pressure_atm, molecule=source.molecule)
    solution = molecular_gas.relax(source.k_down, k_vv, T, **common)
    vt_only = molecular_gas.relax(source.k_down, k_vv, T, with_vv=False, **common)
    relaxed = comparison = None
    if reference is not None:
        reference = resolve(reference)
        if reference.molecule != source.molecule:
            raise KvtError(f"the reference pair {reference.name} is not of {source.molecule.name}, the molecule of "
                           f"{source.label}; name a pair of {source.molecule.name}")
        relaxed = molecular_gas.relax(heat_bath.fho_rates(reference, T), k_vv_fho, T, **common)
        comparison = heat_bath.compare(solution, relaxed)
        comparison["pop_max_rel_dev"] = molecular_gas.population_deviation(solution, relaxed)
    return RelaxResult(source=source, solution=solution, reference=relaxed, reference_process=reference,
                       comparison=comparison, vt_only=vt_only, vv_label=vv_label)


def csv_text(frame: pd.DataFrame) -> str:
    """CSV at full precision; temperatures as written (500, not 5.0e+02)."""
    frame = frame.copy()
    frame["T_K"] = frame["T_K"].map(lambda t: f"{t:.10g}")
    return frame.to_csv(index=False, float_format="%.17g", lineterminator="\n")


def write_folder(result: RelaxResult, out, force: bool = False, command=None, inputs=()) -> Path:
    """tau.csv, energy.csv, populations.csv, relax.json and three PNGs in ``out``, atomically."""
    from kvt.runs import figures
    from kvt.runs.folder import package_versions

    record = {
        "kvt_version": __version__, "command": command,
        "source": {"kind": result.source.kind, "label": result.source.label, **result.source.details},
        "conditions": {"tv0_K": result.solution.tv0, "pressure_atm": result.solution.pressure_atm,
                       "temperatures_K": result.solution.temperatures.tolist()},
        "reference": {"kind": "FHO-FR", "pair": result.reference_pair} if result.reference_pair else None,
        **({"vv_rates": result.vv_label} if result.vt_only is not None else {}),
        "method": ("exact: symmetric eigen-decomposition of the detailed-balanced master equation (kvt.kinetics.heat_bath)"
                   if result.vt_only is None and not result.integrated else
                   "integrated: T_v0 is too far above a bath temperature for the exact solution in double precision; "
                   "the linear master equation integrated by LSODA with its Jacobian, rtol 1e-10 "
                   "(kvt.kinetics.molecular_gas without VV)" if result.vt_only is None else
                   f"VT + VV ({result.vv_label}): the nonlinear master equation integrated by LSODA (implicit "
                   f"multistep, BDF while stiff) with its analytic Jacobian, rtol 1e-10 (kvt.kinetics.molecular_gas); "
                   f"tau_vt_only_s: the same gas with VT alone"),
        "tau_definition": "first t with (E_v(t) - E_v,eq) / (E_v(0) - E_v,eq) = 1/e",
        "versions": package_versions(),
    }
    with atomic.directory(out, "relax", force=force, inputs=inputs) as tmp:
        (tmp / "tau.csv").write_text(csv_text(result.tau_table(millikan_white=True)))
        (tmp / "energy.csv").write_text(csv_text(result.energy_table()))
        (tmp / "populations.csv").write_text(csv_text(result.population_table()))
        (tmp / "relax.json").write_text(json.dumps(record, indent=2))
        figures.save_figure(populations_figure(result), tmp / "populations.png")
        figures.save_figure(energy_figure(result), tmp / "energy.png")
        figures.save_figure(millikan_white_figure(result), tmp / "millikan_white.png")
    return Path(out)


def _title(result: RelaxResult) -> str:
    vv = f" + {result.vv_label}" if result.vv_label else ""
    return f"{result.source.label}{vv}, T_v0 = {result.solution.tv0:g} K"


def populations_figure(result: RelaxResult, max_panels: int = 9, columns: int = 3):
    """One panel per temperature, ``columns`` to a row; more temperatures than ``max_panels``: that many, evenly
    spread from the lowest to the highest, and the title says which (populations.csv holds every one)."""
    import matplotlib.pyplot as plt

    temps = result.solution.temperatures
    chosen = np.unique(np.linspace(0, len(temps) - 1, min(max_panels, len(temps))).round().astype(int))
    table = result.population_table()
    n_columns = min(columns, len(chosen))
    n_rows = -(-len(chosen) // n_columns)
    fig, grid = plt.subplots(n_rows, n_columns, figsize=(4.2 * n_columns, 3.8 * n_rows), squeeze=False,
                             sharey=True, layout="constrained")
    axes = grid.ravel()
    for ax in axes[len(chosen):]:
        ax.set_visible(False)
    for ax, index in zip(axes, chosen):
        T = temps[index]
        at_T = table[table["T_K"] == T]
        for multiple in POPULATION_TIMES:
            rows = at_T[(at_T["t_over_tau"] == multiple) & at_T["resolved"]]
            (line,) = ax.semilogy(rows["level"], rows["x"], marker=".", label=f"t = {multiple:g} τ")
            if result.vt_only is not None and multiple > 0:
                alone = result.vt_only.select([index])
                x = alone.populations([multiple * result.solution.tau_s[index]])[0, 0]
                ax.semilogy(np.arange(len(x)), np.where(x > alone.resolution()[0], x, np.nan), "--",
                            color=line.get_color(), lw=0.8)
        ax.semilogy(np.arange(len(result.solution.energies_K)), result.solution.x_eq[index], "k--", lw=1,
                    label="Boltzmann(T)")
        ax.set_title(f"T = {T:g} K (τ = {result.solution.tau_s[index]:.3g} s)")
        ax.set_xlabel("vibrational level n")
        ax.set_ylim(1e-30, 2)
    for row in grid:
        row[0].set_ylabel("population x_n (resolved values)")
    axes[0].legend(fontsize=7)
    vt_note = "; dashed: VT alone at the same times" if result.vt_only is not None else ""
    shown = ", ".join(f"{temps[i]:g}" for i in chosen)
    drawn = (f"\n{len(chosen)} of {len(temps)} temperatures drawn, evenly spread ({shown} K); populations.csv holds "
             f"every one" if len(chosen) < len(temps) else "")
    fig.suptitle(f"level populations: {_title(result)}{vt_note}{drawn}", fontsize=9)
    return fig


def temperature_colours(n: int) -> list:
    """A colour per temperature: matplotlib's ten default ones, or for more, viridis from the lowest to the highest
    (the default cycle would repeat its colours)."""
    import matplotlib.pyplot as plt

    if n <= 10:
        return [f"C{j}" for j in range(n)]
    return [plt.cm.viridis(j / (n - 1)) for j in range(n)]


def energy_figure(result: RelaxResult):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    times = result.times()
    model = result.solution.normalised_energy(times)
    reference = result.reference.normalised_energy(times) if result.reference is not None else None
    temps = result.solution.temperatures
    colours = temperature_colours(len(temps))
    for j, T in enumerate(temps):
        (line,) = ax.semilogx(times[j, 1:], model[j, 1:], label=f"{T:g} K", color=colours[j])
        if reference is not None:
            ax.semilogx(times[j, 1:], reference[j, 1:], "--", color=line.get_color(), lw=1)
    ax.axhline(np.exp(-1), color="grey", lw=0.6, ls=":")
    ax.set_xlabel("t, s")
    ax.set_ylabel("(E_v - E_v,eq) / (E_v(0) - E_v,eq)")
    note = (f"; dashed: FHO-FR {result.reference_pair}" + (" + FHO VV" if result.vt_only is not None else "")
            if reference is not None else "")
    ax.set_title(f"vibrational energy: {_title(result)}{note}", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return fig


def millikan_white_figure(result: RelaxResult):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    temps = result.solution.temperatures
    x = temps ** (-1.0 / 3.0)
    ax.semilogy(x, result.solution.p_tau_atm_s, "o-",
                label=result.source.label + (f" + {result.vv_label}" if result.vv_label else ""))
    if result.vt_only is not None:
        ax.semilogy(x, result.vt_only.p_tau_atm_s, "^:", mfc="none", label=f"{result.source.label}, VT alone")
    if result.reference is not None:
        ax.semilogy(x, result.reference.p_tau_atm_s, "s--", mfc="none", label=f"FHO-FR {result.reference_pair}")
    process = result.millikan_white_process
    if process:
        line_T = np.geomspace(temps.min(), temps.max(), 100) if len(temps) > 1 else temps
        ax.semilogy(line_T ** (-1.0 / 3.0), heat_bath.millikan_white_for(line_T, process),
                    "k-", lw=1, label=f"Millikan-White, {process.name}")
    ax.set_xlabel("T^(-1/3), K^(-1/3)")
    ax.set_ylabel("p τ, atm s")
    ax.set_title(f"relaxation time: {_title(result)}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def summary_lines(result: RelaxResult) -> list[str]:
    """A fixed-width table for the terminal."""
    table = result.tau_table(millikan_white=True)
    buffer = io.StringIO()
    columns = list(table.columns)
    widths = [max(13, len(c)) for c in columns]
    buffer.write("  ".join(f"{c:>{w}}" for c, w in zip(columns, widths)) + "\n")
    for row in table.itertuples(index=False):
        buffer.write("  ".join(f"{v:>{w}g}" if c == "T_K" else f"{v:>{w}.5e}" for c, v, w in zip(columns, row, widths))
                     + "\n")
    return buffer.getvalue().splitlines()
