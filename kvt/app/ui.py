"""What the app's pages share: the navigation, the one-line errors, the folders it writes in, run lists, figures.

The app writes where it was started, as the commands do: run folders under ``runs/`` (``kvt train``'s
default), benchmark folders under ``bench/``, uploaded tables under ``uploads/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import warnings
from pathlib import Path

import streamlit as st

from kvt import __version__
from kvt.cli import error_line
from kvt.errors import KvtError, KvtWarning
from kvt.files import atomic

RUNS = Path("runs")
BENCH = Path("bench")
UPLOADS = Path("uploads")


def slug(name: str) -> str:
    """A page's name in the address bar: ``Compare optimizers`` -> ``compare-optimizers``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def navigation(pages: dict) -> None:
    """The sidebar's page choice (``?page=train`` opens a page directly), then the chosen page."""
    names = list(pages)
    by_slug = {slug(name): name for name in names}
    if "page" not in st.session_state:
        st.session_state["page"] = by_slug.get(str(st.query_params.get("page", "")), names[0])
    st.sidebar.title("kvt")
    choice = st.sidebar.radio("Page", names, key="page")
    st.query_params["page"] = slug(choice)
    st.sidebar.caption(f"kvt {__version__}. Files are written under {Path.cwd()} (runs/, bench/, uploads/), never "
                       f"over a file kvt did not write; a box marked --force replaces what kvt wrote.")
    pages[choice]()


@contextlib.contextmanager
def one_line():
    """Run the block; a ``KvtError`` ends it and shows as the one ``Error:`` line the command would print, and
    kvt's warnings as ``Warning:`` lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", KvtWarning)
        try:
            yield
        except KvtError as exc:
            st.error(error_line(exc))
    for warning in caught:
        if issubclass(warning.category, KvtWarning):
            st.warning(f"Warning: {warning.message}")


#: Figures a session keeps drawn (a page is run again at every click; a figure is drawn once per what it shows).
KEPT_FIGURES = 48
#: matplotlib's pyplot is one state for the app's process: sessions drawing a library figure take turns.
FIGURES = threading.RLock()


def figure(key: tuple, make) -> None:
    """Show the matplotlib figure ``make()`` draws, drawn once per ``key`` in this session and kept as a PNG.

    ``key`` names everything the figure shows (a run's folder and its metadata's time, the levels, ...).
    """
    import io

    import matplotlib.pyplot as plt

    kept = st.session_state.setdefault("figures", {})
    if key not in kept:
        with FIGURES:
            fig = make()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            plt.close(fig)
        kept[key] = buffer.getvalue()
        while len(kept) > KEPT_FIGURES:
            kept.pop(next(iter(kept)))
    st.image(kept[key])


def stamp(path: Path) -> tuple[str, float]:
    """What identifies a run folder's contents in a figure's key: its path and its metadata's time (a run
    replaced with --force gets new figures)."""
    metadata = Path(path) / "metadata.json"
    return str(path), metadata.stat().st_mtime if metadata.is_file() else 0.0


def table(frame, key: str, **kwargs) -> None:
    """A table whose floats show four significant digits (rates of 1e-17 m^3/s stay readable)."""
    columns = {name: st.column_config.NumberColumn(name, format="%.4g") for name in frame.columns
               if frame[name].dtype.kind == "f"}
    st.dataframe(frame, hide_index=True, key=key, column_config=columns, **kwargs)


def new_figure(width: float = 6.4, height: float = 4.4):
    """A figure outside pyplot's state (other sessions of the app draw at the same time)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


# ---------------------------------------------------------------- uploads
def save_upload(name: str, data: bytes, limit_mb: int) -> Path:
    """An uploaded table kept as ``uploads/<sha256 12>-<name>``: written once (never over another file), read later
    as kvt reads any table (``--data``); refused with one line above ``limit_mb`` MiB."""
    if len(data) > limit_mb * 2**20:
        raise KvtError(f"{name}: {len(data) / 2**20:.1f} MiB is more than the app takes ({limit_mb} MiB); "
                       f"train on it from the command line: kvt train --data FILE")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name).lstrip("._") or "table.csv"
    path = UPLOADS / f"{hashlib.sha256(data).hexdigest()[:12]}-{safe}"
    if not path.is_file():  # the same name and content: the table kept before
        UPLOADS.mkdir(exist_ok=True)
        atomic.write_bytes(path, data)
    return path


def uploaded_tables() -> list[Path]:
    return sorted(p for p in UPLOADS.glob("*") if p.is_file()) if UPLOADS.is_dir() else []


def data_sources() -> list[str]:
    """What the Train page can train on: the 18 bundled pairs, then the uploaded tables."""
    from kvt.physics import species

    return list(species.PAIRS) + [str(p) for p in uploaded_tables()]


# ---------------------------------------------------------------- runs and benchmarks
def folders_of(root: Path, kind: str) -> list[Path]:
    """The folders under ``root`` that kvt wrote as ``kind`` (run, bench), newest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and atomic.kind_of(p) == kind]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def run_row(path: Path) -> dict:
    """One line of the runs panel: the run's data, settings and headline numbers (from its metadata)."""
    from kvt.runs.folder import read_metadata

    try:
        meta = read_metadata(path)
    except KvtError as exc:
        return {"run": str(path), "problem": error_line(exc)}
    options, metrics = meta.get("options", {}), meta.get("metrics", {})
    dense = (metrics.get("dense_grid") or {}).get("overall", {})
    return {"run": str(path), "data": meta["dataset"].get("pair") or Path(meta["dataset"]["file"]).name,
            "mode": options.get("mode"), "optimizer": options.get("optimizer"), "seed": options.get("seed"),
            "epochs (best)": f"{metrics.get('epochs_run')} ({metrics.get('best_epoch')})",
            "validation MSE": metrics.get("val_mse_scaled"), "training MSE": metrics.get("train_mse_scaled"),
            "median rel. error vs FHO-FR": dense.get("median"),
            "k <= 0 points": (metrics.get("nonphysical") or {}).get("count"),
            "time, s": metrics.get("wall_time_s"),
            "interrupted": bool(metrics.get("interrupted")), "created": meta.get("created")}


def runs_panel(key: str) -> None:
    """The runs under ``runs/``, one line each."""
    import pandas as pd

    paths = folders_of(RUNS, "run")
    st.subheader("Runs")
    if not paths:
        st.caption(f"No run under {RUNS}/ yet.")
        return
    table(pd.DataFrame([run_row(p) for p in paths]), key=key)


def choose_run(label: str, key: str) -> Path | None:
    """A run folder picked from ``runs/`` (the newest first), or None with a note when there is none."""
    paths = folders_of(RUNS, "run")
    if not paths:
        st.info(f"No run under {RUNS}/ yet: train one on the Train page (or with kvt train).")
        return None
    choice = st.selectbox(label, [str(p) for p in paths], key=key)
    return Path(choice) if choice else None


def select(label: str, options: list, default, key: str, **kwargs):
    """``st.selectbox`` starting at ``default`` (or the first option), keeping the user's choice across reruns while
    it is still an option."""
    options = list(options)
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    if key in st.session_state:
        return st.selectbox(label, options, key=key, **kwargs)
    return st.selectbox(label, options, index=options.index(default) if default in options else 0, key=key,
                        **kwargs)


def option_help(command, name: str) -> str | None:
    """The help of ``--name`` of a click ``command``: the app's widget says what the command's option says."""
    for param in command.params:
        if param.name == name:
            return getattr(param, "help", None)
    return None
