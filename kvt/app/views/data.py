"""The Data page: a bundled pair (and process) or an uploaded table, as ``kvt data info`` sees it, and its k(T)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from kvt.app import ui
from kvt.app.launch import MAX_UPLOAD_MB
from kvt.cli.data import data_info

BUNDLED, UPLOADED = "bundled pair", "your table"


#: The processes whose tables the page shows, as ``kvt data info`` takes them.
SHOWN = ("vt", "vv", "vv'")


def _load(source, allow_implausible: bool):
    """The dataset as ``kvt data info`` reads it (a refusal is the same one line)."""
    from kvt.data.datasets import load_dataset

    return load_dataset(source, allow_implausible=allow_implausible, exchange_tables=True)


def _bundled():
    from kvt.cli.options import resolve_process
    from kvt.physics import process as processes
    from kvt.physics import species

    pairs = list(species.PAIRS)
    left, right = st.columns(2)
    pair = left.selectbox("Pair (molecule-partner)", pairs, index=pairs.index("O2-Ar"), key="data.pair",
                          help="The 18 air pairs of kvt data pairs: the study's three O2 tables and the generated "
                               "FHO-FR tables of N2, O2 and NO with O2, N2, NO, O, N and Ar.")
    kinds = list(processes.KINDS)
    kind = right.selectbox("Process", kinds, key="data.process",
                           format_func=lambda k: f"{k}: {processes.KINDS[k][0]}",
                           help=ui.option_help(data_info, "process_kind"))
    process = resolve_process(pair, kind, SHOWN, "kvt data info")
    return process, process.name


def _uploaded(allow_implausible: bool):
    uploaded = st.file_uploader(
        f"A table in any layout kvt reads (CSV, at most {MAX_UPLOAD_MB} MiB)", type=["csv", "txt", "dat"],
        key="data.upload", help="Read as a table of numbers only (never unpickled or run). " + _layouts())
    if uploaded is not None:
        path = ui.save_upload(uploaded.name, uploaded.getvalue(), MAX_UPLOAD_MB)
        st.session_state["data.kept"] = str(path)
    kept = [str(p) for p in ui.uploaded_tables()]
    if not kept:
        st.info("Upload a table: long level,T_K,k_m3_s (or k_cm3_s), long with level_from,level_to, or wide "
                "(a column k_i_j per transition), as kvt export and kvt data generate write them.")
        return None, None
    if st.session_state.get("data.kept") not in kept:
        st.session_state.pop("data.kept", None)
    path = st.selectbox("Uploaded tables (kept under uploads/)", kept, key="data.kept")
    return path, path


def _layouts() -> str:
    from kvt.data.tables import LAYOUT_HELP

    return LAYOUT_HELP


def _levels_figure(frame: pd.DataFrame, levels: list[int], title: str, level_b: int | None = None):
    """k(T) of each level on log axes; an exchange table's (VV, VV') at one level of B."""
    fig, ax = ui.new_figure()
    for level in levels:
        if level_b is None:
            rows, label = frame[frame["level"] == level], f"{level} → {level - 1}"
        else:
            rows = frame[(frame["level_a"] == level) & (frame["level_b"] == level_b)]
            label = f"A {level} → {level - 1}, B {level_b} → {level_b + 1}"
        rows = rows.sort_values("T_K")
        ax.plot(rows["T_K"], rows["k_m3_s"], "o-", ms=3, lw=1, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("T, K")
    ax.set_ylabel(r"$k_{VT}$, m$^3$/s")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="transition", fontsize=8)
    return fig


def _show(dataset) -> None:
    from kvt.data.datasets import describe

    summary = describe(dataset)
    st.subheader("Provenance (kvt data info)")
    st.dataframe(pd.DataFrame({"": list(summary), "value": [str(v) for v in summary.values()]}),
                 hide_index=True, key="data.info")
    frame = dataset.frame
    exchange = "level" not in frame.columns  # a VV or VV' table: level_a, level_b
    levels = sorted(int(v) for v in frame["level_a" if exchange else "level"].unique())
    spread = sorted({levels[0], levels[len(levels) // 3], levels[2 * len(levels) // 3], levels[-1]})
    st.subheader("k against T per level")
    c = st.columns([3, 1]) if exchange else [st]
    chosen = c[0].multiselect("Levels i (transition i → i−1)" if not exchange else "Levels of A (level_a)", levels,
                              default=spread, key="data.levels")
    level_b = None
    if exchange:
        levels_b = sorted(int(v) for v in frame["level_b"].unique())
        level_b = c[1].selectbox("Level of B (level_b)", levels_b, key="data.level_b")
    if chosen:
        ui.figure(("data", dataset.sha256, tuple(chosen), level_b),
                  lambda: _levels_figure(frame, chosen, f"{dataset.name}: {len(frame)} rows", level_b))
    st.subheader(f"The table ({len(frame)} rows, as training reads it)")
    ui.table(frame, key="data.table", height=260)


def render() -> None:
    st.header("Data")
    st.caption("A bundled pair or your own table, read and checked exactly as kvt train --pair/--data reads it.")
    kind = st.radio("Dataset", (BUNDLED, UPLOADED), key="data.kind", horizontal=True)
    allow = False
    if kind == UPLOADED:
        allow = st.checkbox("Accept k or T outside the plausibility bounds (--allow-implausible)",
                            key="data.allow_implausible")
    with ui.one_line():
        source, name = _bundled() if kind == BUNDLED else _uploaded(allow)
        if source is None:
            return
        dataset = _load(source, allow)
        frame = dataset.frame
        if "level" in frame.columns:  # a VT table: the Train page starts from it
            st.session_state["data_source"] = name
            st.session_state["data_allow_implausible"] = allow
        st.success(f"{name}: {len(frame)} rows, {frame['T_K'].min():g}..{frame['T_K'].max():g} K")
        _show(dataset)
