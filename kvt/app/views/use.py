"""The Use page: a run's rates at chosen levels and temperatures (``kvt predict``), and every ``kvt export`` format
(the export registry's), to download or to write on the server under the ``--force`` rules."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from kvt.app import ui
from kvt.cli.outputs import export_command, predict_command, run_levels
from kvt.data.grid import parse_temperatures

#: File name endings of the formats (a format added to the registry without one gets .txt).
SUFFIXES = {"csv": ".csv", "weights": ".json", "weights-text": ".txt", "c-header": ".h", "fortran": ".f90",
            "fho-poly": ".csv", "fho-poly/spbu": ".dat", "cantera": ".yaml"}


def _grid(run, key: str, defaults: tuple[str, str], direction: bool = True) -> dict:
    from kvt.data.tables import DIRECTIONS

    c = st.columns(3 if direction else 2)
    levels = c[0].text_input("Levels (1-35, 1,2,5)", value=defaults[0], key=f"{key}.levels",
                             help=ui.option_help(export_command, "levels_spec"))
    temps = c[1].text_input("Temperatures, K (1000,2000 or 250:10000:50)", value=defaults[1], key=f"{key}.temps",
                            help=ui.option_help(predict_command, "temps_spec"))
    chosen = {"levels": levels, "temps": temps, "direction": "down"}
    if direction:
        chosen["direction"] = c[2].selectbox("Direction", DIRECTIONS, key=f"{key}.direction",
                                             help=ui.option_help(predict_command, "direction"))
    return chosen


def _predict(run) -> None:
    import pandas as pd

    from kvt.runs.rates import check_rates, iter_chunks, rows

    st.subheader("Predict (kvt predict)")
    lo, hi = run.level_range
    lo_t, hi_t = run.temperature_range
    grid = _grid(run, "use.predict", (f"{hi}", f"{lo_t:g},{(lo_t + hi_t) / 2:g},{hi_t:g}"))
    c = st.columns(2)
    extrapolate = c[0].checkbox("--allow-extrapolation", key="use.predict.extrapolation",
                                help=ui.option_help(predict_command, "allow_extrapolation"))
    nonphysical = c[1].checkbox("--allow-nonphysical", key="use.predict.nonphysical",
                                help=ui.option_help(predict_command, "allow_nonphysical"))
    if st.button("Predict", key="use.predict.go"):
        with ui.one_line():
            from kvt.data.choices import check_direction

            check_direction(grid["direction"])
            temps = parse_temperatures(grid["temps"])
            levels = run_levels(run, grid["levels"])
            check_rates(run, levels, temps, extrapolate, nonphysical, action="print them")
            blocks = [rows(run, block_levels, block_temps, grid["direction"])  # kvt predict's rows, in its order
                      for block_levels, block_temps in iter_chunks(levels, temps)]
            st.session_state["use.predicted"] = pd.concat(blocks, ignore_index=True)
    table = st.session_state.get("use.predicted")
    if table is not None:
        st.dataframe(table, hide_index=True, key="use.table", column_config={
            "k_m3_s": st.column_config.NumberColumn("k_m3_s", format="%.6e")})


def _export_options(fmt, run, paths: list[str], path: Path) -> tuple[dict, dict]:
    """The widgets of the options ``fmt`` takes (its registry entry says which): (what the command line would
    have been given, everything else the request needs)."""
    from kvt.data.choices import UNITS
    from kvt.exports import registry

    given, extra = {}, {"runs": [str(path)]}
    lo, hi = run.level_range
    lo_t, hi_t = run.temperature_range
    if fmt.takes_grid:
        grid = _grid(run, "use.export", (f"{lo}-{hi}", f"{lo_t:g}:{hi_t:g}:10"))
        given.update(levels=grid["levels"], temps=grid["temps"])
        if grid["direction"] != "down":
            given["direction"] = grid["direction"]
    c = st.columns(4)
    if "layout" in fmt.options:
        given["layout"] = c[0].selectbox("Layout", fmt.layouts, key=f"use.layout.{fmt.name}",
                                         help=ui.option_help(export_command, "layout"))
    if "units" in fmt.options:
        given["units"] = c[1].selectbox("Units", list(UNITS), key="use.units",
                                        help=ui.option_help(export_command, "units"))
    if "kernel" in fmt.options:
        given["kernel"] = c[0].selectbox("Kernel", registry.KERNELS, key="use.kernel",
                                         help=ui.option_help(export_command, "kernel"))
    if "prefix" in fmt.options:
        given["prefix"] = c[1].text_input("Prefix", value="kvt", key="use.prefix",
                                          help=ui.option_help(export_command, "prefix"))
    if "tolerance" in fmt.options:
        tolerance = c[2].number_input("Tolerance (empty: the fit's default)", value=None, min_value=0.0,
                                      max_value=1.0, format="%.1e", step=1e-6, key=f"use.tolerance.{fmt.name}",
                                      help=ui.option_help(export_command, "tolerance"))
        if tolerance is not None:
            given["tolerance"] = tolerance
    if fmt.several_runs:
        others = [p for p in paths if p != str(path)]
        extra["runs"] += st.multiselect("More runs in the same file", others, key="use.runs",
                                        help=ui.option_help(export_command, "run_dir"))
    c = st.columns(2)
    extra["extrapolate"] = fmt.takes_grid and c[0].checkbox(
        "--allow-extrapolation", key="use.export.extrapolation", help=ui.option_help(export_command,
                                                                                      "allow_extrapolation"))
    extra["nonphysical"] = fmt.can_be_nonphysical and c[1].checkbox(
        "--allow-nonphysical", key="use.export.nonphysical", help=ui.option_help(export_command, "allow_nonphysical"))
    return given, extra


def _make(fmt, run, given: dict, extra: dict, name: str):
    """``kvt export``'s steps after its option checks: the runs, the grid, the request, the check and the writer."""
    from kvt.data import tables
    from kvt.exports import registry
    from kvt.kinetics.validity import dense_temperatures
    from kvt.runs.folder import open_run

    if "units" in given:
        tables.check_units(given["units"])
    registry.check_options(fmt, given, len(extra["runs"]))
    runs = (run, *(open_run(p) for p in extra["runs"][1:]))
    lo, hi = run.level_range
    levels = run_levels(run, given["levels"]) if "levels" in given else list(range(lo, hi + 1))
    temps = parse_temperatures(given["temps"]) if "temps" in given else dense_temperatures(*run.temperature_range)
    request = registry.ExportRequest(run, Path(name), levels, temps, given.get("layout"), given.get("units", "m3/s"),
                                     given.get("direction", "down"), given.get("prefix", "kvt"),
                                     bool(extra["extrapolate"]), bool(extra["nonphysical"]),
                                     given.get("kernel", "network"), given.get("tolerance"), runs)
    return registry.export(fmt, request)


def _export(path: Path, run) -> None:
    from kvt.exports import registry
    from kvt.files import atomic
    from kvt.runs.folder import input_files

    st.subheader("Export (kvt export)")
    names = list(registry.FORMATS)
    fmt = registry.export_format(st.selectbox("Format", names, key="use.format",
                                              format_func=lambda n: f"{n}: {registry.FORMATS[n].summary}"))
    paths = [str(p) for p in ui.folders_of(ui.RUNS, "run")]
    given, extra = _export_options(fmt, run, paths, path)
    suffix = SUFFIXES.get(f"{fmt.name}/{given.get('layout')}", SUFFIXES.get(fmt.name, ".txt"))
    name = st.text_input("File name", value=f"{path.name}-{fmt.name}{suffix}", key=f"use.name.{fmt.name}")
    if st.button("Make the file", key="use.export.go"):
        with ui.one_line():
            written = _make(fmt, run, given, extra, name)
            text = written.text if isinstance(written.text, str) else "".join(written.text)
            inputs = [str(file) for run_path in extra["runs"] for file in input_files(run_path)]
            st.session_state["use.file"] = (name, text, written.report, written.message, inputs)
    made = st.session_state.get("use.file")
    if made is None:
        return
    name, text, report, message, inputs = made
    for line in report:
        st.text(line)
    st.caption(message)
    st.download_button(f"Download {name}", text, file_name=Path(name).name, key="use.download")
    c = st.columns([3, 1, 1])
    target = c[0].text_input("Or write it on the server to", value=name, key="use.save.path")
    force = c[1].checkbox("Replace it (--force)", key="use.save.force", help=ui.option_help(export_command, "force"))
    if c[2].button("Write", key="use.save.go"):
        with ui.one_line():
            atomic.check(target, None, force, inputs)  # kvt export's check, then its write
            atomic.write_text(target, text, force=force, inputs=inputs)
            st.success(f"wrote {target}")


def render() -> None:
    from kvt.runs.folder import open_run

    st.header("Use")
    path = ui.choose_run("Run", key="use.run")
    if path is None:
        return
    with ui.one_line():
        run = open_run(path)
        if st.session_state.get("use.of") != str(path):  # another run: what was made for the last one goes
            st.session_state["use.of"] = str(path)
            st.session_state.pop("use.predicted", None)
            st.session_state.pop("use.file", None)
        _predict(run)
        _export(path, run)
