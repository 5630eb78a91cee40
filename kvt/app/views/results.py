"""The Results page: a run's summary (as ``kvt train`` printed it), k(T) with the data, the error map against FHO-FR
(``kvt evaluate``), the relaxation check (``kvt relax --reference fho``), the history, and runs side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from kvt.app import ui
from kvt.cli.outputs import evaluate_command, run_levels
from kvt.data.grid import parse_temperatures
from kvt.errors import KvtError


def _summary(path, run) -> None:
    from kvt.runs.summary import run_summary_lines

    st.subheader("Summary (as kvt train printed it)")
    st.code("\n".join(run_summary_lines(path, run.metadata)), language=None)
    command = run.metadata.get("command")
    if command:
        st.caption("trained by: " + " ".join(str(part) for part in command))


def _levels(path, run) -> None:
    from kvt.runs import figures

    st.subheader("k(T) per level: the network and the data")
    predictions = pd.read_csv(path / "predictions.csv", usecols=["level"])
    levels = sorted(int(v) for v in predictions["level"].unique())
    chosen = st.multiselect("Levels i (transition i → i−1)", levels,
                            default=[figures.default_level(predictions)], key="results.levels",
                            max_selections=4)
    columns = st.columns(2)
    for index, level in enumerate(chosen):
        with columns[index % 2]:
            ui.figure(("level", *ui.stamp(path), level), lambda level=level: figures.level_figure(run, level))


def _evaluation(path, run) -> None:
    from kvt.kinetics.accuracy import NO_REFERENCE
    from kvt.reports import evaluation as report
    from kvt.runs import figures

    st.subheader("Error against FHO-FR (kvt evaluate)")
    lo, hi = run.level_range
    lo_t, hi_t = run.temperature_range
    c = st.columns(2)
    levels_spec = c[0].text_input("Levels", value=f"{lo}-{hi}", key="results.evaluate.levels",
                                  help=ui.option_help(evaluate_command, "levels_spec"))
    temps_spec = c[1].text_input("Temperatures, K", value=f"{lo_t:g}:{hi_t:g}:10", key="results.evaluate.temps",
                                 help=ui.option_help(evaluate_command, "temps_spec"))
    key = ("evaluation", *ui.stamp(path), levels_spec, temps_spec)
    if st.button("Evaluate", key="results.evaluate",
                 help="The network against the FHO-FR rates of its pair on the grid (the dense grid: every trained "
                      "level, every 10 K of the trained range)."):
        with ui.one_line():
            process = run.process
            if process is None:  # a run on a user table (kvt evaluate asks for --pair)
                raise KvtError(NO_REFERENCE)
            evaluation, _ = report.evaluate(run, process, run_levels(run, levels_spec),
                                            parse_temperatures(temps_spec))
            st.session_state["results.evaluation"] = (key, evaluation)
    kept = st.session_state.get("results.evaluation")
    if kept is not None and kept[0] == key:
        evaluation = kept[1]
        lines = report.summary_lines(run, evaluation)
        st.code("\n".join(lines[:2]), language=None)
        ui.figure(key, lambda: figures.error_figure(evaluation["table"], run.metadata,
                                                    title="relative error vs FHO-FR"))
        with st.expander("Per level"):
            ui.table(evaluation["per_level"], key="results.per_level")


def _relaxation(path, run) -> None:
    from kvt.kinetics import heat_bath
    from kvt.reports import relax

    st.subheader("Relaxation check (heat bath)")
    checked = (run.metadata.get("metrics") or {}).get("relaxation") or {}
    if "temperatures" in checked:
        st.caption(f"What kvt train checked: the relaxation time of the network's rates against FHO-FR's, "
                   f"T_v0 {checked['tv0_K']:g} K (empty: no relaxation time, k <= 0)")
        ui.table(pd.DataFrame(checked["temperatures"]), key="results.relaxation")
    elif checked:
        st.caption(f"not checked: {checked.get('skipped')}")
    key = ("relax", *ui.stamp(path))
    if st.button("Relax", key="results.relax", help="kvt relax --run RUN --reference fho at the check's "
                                                     "temperatures: populations and energy over time."):
        with ui.one_line():
            source = relax.from_run(path, np.asarray(heat_bath.CHECK_TEMPERATURES, dtype=float))
            st.session_state["results.relaxed"] = (key, relax.run(source, reference=source.process))
    kept = st.session_state.get("results.relaxed")
    if kept is not None and kept[0] == key:
        result = kept[1]
        st.code("\n".join(relax.summary_lines(result)), language=None)
        ui.figure(key, lambda: relax.energy_figure(result))


def _history(path) -> None:
    st.subheader("Training history")
    history = pd.read_csv(path / "history.csv")
    series = [c for c in history.columns if c not in ("epoch", "time_s")]
    chosen = st.multiselect("Series", series, default=[c for c in ("loss", "val_loss") if c in series],
                            key="results.series")
    if chosen:
        def draw():
            fig, ax = ui.new_figure(6.4, 3.8)
            for name in chosen:
                ax.plot(history["epoch"], history[name], label=name)
            ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
            return fig

        ui.figure(("history", *ui.stamp(path), tuple(chosen)), draw)
    st.download_button("history.csv", (path / "history.csv").read_bytes(), file_name=f"{path.name}-history.csv",
                       mime="text/csv", key="results.history_csv")


def _compare() -> None:
    st.subheader("Runs side by side")
    paths = [str(p) for p in ui.folders_of(ui.RUNS, "run")]
    chosen = st.multiselect("Runs", paths, default=paths[:2], key="results.compare")
    if not chosen:
        return
    ui.table(pd.DataFrame([ui.run_row(Path(p)) for p in chosen]), key="results.table")

    def draw():
        fig, ax = ui.new_figure(6.4, 3.8)
        for name in chosen:
            history = pd.read_csv(Path(name) / "history.csv")
            column = "val_loss" if "val_loss" in history else "loss"
            ax.plot(history["epoch"], history[column], label=f"{Path(name).name} ({column})")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("MSE (scaled target)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        return fig

    ui.figure(("compare", *(ui.stamp(Path(p)) for p in chosen)), draw)


def render() -> None:
    from kvt.runs.folder import open_run

    st.header("Results")
    path = ui.choose_run("Run", key="results.run")
    if path is None:
        return
    with ui.one_line():
        run = open_run(path)
        _summary(path, run)
        _levels(path, run)
        _evaluation(path, run)
        _relaxation(path, run)
        _history(path)
    _compare()
