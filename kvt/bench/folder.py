"""A benchmark's output folder: checked, reopened for --resume, and the machine recorded in bench.json.

Imports no pandas, so that ``kvt bench`` refuses a folder it may not write before importing anything
heavy (:func:`check_output`).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any, ContextManager

from kvt import __version__
from kvt.errors import KvtError
from kvt.files import resumable


def machine_info() -> dict[str, Any]:
    """The machine a benchmark runs on: platform, CPU cores, load average, package versions."""
    from kvt.runs.folder import package_versions

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
            "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "load_average_1_5_15": [round(x, 2) for x in load] if load else None,
            "versions": package_versions()}


def check_output(out: Path, kind: str, training: dict, force: bool, resume: bool) -> None:
    """Refuse an output folder that ``run_vt`` / ``run_synthetic`` would refuse, without opening it: the
    CLI asks before TensorFlow's import, so that a folder that exists fails at once."""
    _open_output(Path(out), kind, training, force, resume)


def _prepare_output(out: Path, kind: str, training: dict, invocation: dict, force: bool,
                    resume: bool) -> tuple[dict, ContextManager[Path]]:
    """Check the output folder (or reopen it with ``resume``) before any run.

    Returns its bench.json document, with this session added, and the context
    manager of the folder to write in (:func:`kvt.files.resumable.prepare`).
    """
    meta, folder = _open_output(out, kind, training, force, resume)
    session = {"started": resumable.now(), **invocation, "machine": machine_info()}
    if meta is None:
        meta = {"kind": kind, "kvt_version": __version__, "training": training, "sessions": [session]}
    else:
        meta.setdefault("sessions", []).append(session)
    return meta, folder


def _open_output(out: Path, kind: str, training: dict, force: bool, resume: bool):
    """The checks of :func:`_prepare_output`: the resumed folder's record (or None) and the folder's context."""
    def same_benchmark(meta: dict) -> None:
        if meta.get("kind") != kind:
            raise KvtError(f"cannot resume {out}: it holds a '{meta.get('kind')}' benchmark, not '{kind}'")
        if kind == "vt" and isinstance(meta.get("training"), dict) and "protocol" not in meta["training"]:
            from kvt.bench.settings import upgraded_training

            meta["training"] = upgraded_training(meta["training"], training)
        protocol, theirs = training.get("protocol"), (meta.get("training") or {}).get("protocol", "defaults")
        if protocol is not None and theirs != protocol:
            raise KvtError(f"cannot resume {out}: it holds a benchmark of --protocol {theirs}, not {protocol}; "
                           f"give --protocol {theirs}, or another --out")

    return resumable.prepare(
        out, "bench", "bench.json", "training", training, "kvt bench", force=force, resume=resume,
        exists=f"{out} already exists; pass --force to overwrite it or --resume to continue it",
        check_record=same_benchmark)
