"""The Compare optimizers page: ``kvt bench vt``'s machinery on the optimizers, pairs, seeds and protocol chosen,
in the background with progress, and a benchmark folder's tables and figures."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import pandas as pd
import streamlit as st

from kvt.app import jobs, ui
from kvt.cli.bench import bench_vt


def _help(name: str) -> str | None:
    return ui.option_help(bench_vt, name)


def _settings() -> dict:
    from kvt.bench.settings import DEFAULT_PAIRS, PROTOCOLS
    from kvt.optimizers import registry
    from kvt.physics import species

    c = st.columns(2)
    optimizers = c[0].multiselect("Optimizers", registry.names(), default=["adam", "adamod"], key="bench.optimizers",
                                  help=_help("optimizers_spec"))
    pairs = c[1].multiselect("Pairs", list(species.PAIRS), default=[DEFAULT_PAIRS[-1]], key="bench.pairs",
                             help=_help("pairs"))
    c = st.columns(4)
    protocol = c[0].selectbox("Protocol", PROTOCOLS, index=PROTOCOLS.index("study"), key="bench.protocol",
                              help=_help("protocol"))
    quick = c[1].checkbox("Quick (--quick)", value=True, key="bench.quick", help=_help("quick"))
    repeats = c[2].number_input("Seeds (empty: the protocol's)", min_value=1, value=None, step=1,
                                key="bench.repeats", help=_help("repeats"))
    epochs = c[3].number_input("Epochs (empty: the protocol's)", min_value=1, value=None, step=1,
                               key="bench.epochs", help=_help("epochs"))
    c = st.columns([3, 1])
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = c[0].text_input("Output folder", value="", placeholder=f"{ui.BENCH}/vt-<time>", key="bench.out",
                          help=_help("out"))
    force = c[1].checkbox("Replace it (--force)", key="bench.force", help=_help("force"))
    return {"optimizers": optimizers, "pairs": pairs, "protocol": protocol, "quick": quick, "repeats": repeats,
            "epochs": epochs, "out": Path(out.strip()) if out.strip() else ui.BENCH / f"vt-{stamp}", "force": force}


def prepare(settings: dict):
    """``kvt bench vt``'s checks before TensorFlow: the settings, then the output folder (--force rules)."""
    from kvt.bench.folder import check_output
    from kvt.bench.settings import VTSettings
    from kvt.errors import KvtError

    if not settings["optimizers"] or not settings["pairs"]:
        raise KvtError("choose at least one optimizer and one pair")
    vt = VTSettings(pairs=settings["pairs"], optimizers=settings["optimizers"], protocol=settings["protocol"],
                    repeats=None if settings["repeats"] is None else int(settings["repeats"]),
                    quick=settings["quick"], epochs=None if settings["epochs"] is None else int(settings["epochs"]))
    resolved = vt.resolved()
    check_output(settings["out"], "vt", resolved.training(), settings["force"], False)
    return vt, resolved


def progress_panel() -> None:
    job = jobs.active()
    if job is None or job.kind != "bench":
        return
    done, total, _, log = job.snapshot()
    st.progress(min(1.0, done / total) if total else 0.0, text=f"{job.label}: run {done}/{total}")
    if log:
        st.code("\n".join(log[-12:]), language=None)
    if job.running:
        return
    if st.session_state.get("bench.polling"):
        st.session_state["bench.polling"] = False
        st.rerun()
    if job.status == "failed":
        st.error(job.error)
    else:
        st.success(f"done: {job.label}")
        st.code(job.result, language=None)


def _folder(path: Path) -> None:
    from kvt.bench.summary import short_summary

    st.code(short_summary(path), language=None)
    summary = path / "summary.csv"
    if summary.is_file():
        ui.table(pd.read_csv(summary), key="bench.summary")
    images = sorted(path.glob("*.png"))
    columns = st.columns(2)
    for index, image in enumerate(images):
        columns[index % 2].image(str(image), caption=image.name)
    report = path / "results.md"
    if report.is_file():
        with st.expander("results.md (the whole report)"):
            st.markdown(report.read_text())
            st.download_button("results.md", report.read_bytes(), file_name=f"{path.name}-results.md",
                               key="bench.report")


def render() -> None:
    st.header("Compare optimizers")
    st.caption("kvt bench vt in widgets: every chosen optimizer trained on every chosen pair with the study's "
               "pipeline; keep it small here (quick), run the full protocols from the command line.")
    settings = _settings()
    job = jobs.active()
    running = job is not None and job.running
    if st.button("Run the benchmark", key="bench.start", type="primary", disabled=running):
        with ui.one_line():
            vt, resolved = prepare(settings)
            runs = len(resolved.pairs) * len(resolved.optimizers) * resolved.repeats
            jobs.start(jobs.Job("bench", f"benchmark {settings['out']}", runs, unit="run"),
                       jobs.bench_task, vt, settings["out"], settings["force"])
            running = True
    st.session_state["bench.polling"] = running
    st.fragment(run_every=1.0 if running else None)(progress_panel)()
    folders = [str(p) for p in ui.folders_of(ui.BENCH, "bench")]
    if folders:
        st.subheader("Benchmark folders")
        chosen = ui.select("Folder", folders, folders[0], key="bench.folder")
        with ui.one_line():
            _folder(Path(chosen))
