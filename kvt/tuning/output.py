"""The search folder ``OUT``: checked before any training, written in place so that it can be resumed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kvt.errors import KvtError
from kvt.files import atomic, resumable
from kvt.tuning.config import PROJECT, SETTINGS_FILE


def _prepare_out(out: Path, record: dict[str, Any], resume: bool, force: bool, role: str | None, inputs=()):
    """Check ``out`` before any training; return the folder context the search writes in.

    A new ``out`` (or one holding only early workers' files) and a resumed one are
    written in place, so that an interrupted search can be resumed; ``force`` on an
    earlier search builds the new one in a temporary folder swapped in at the end
    (:func:`kvt.files.atomic.directory`), which a distributed search cannot do (its
    workers write into ``out``).
    """
    if resume:
        resumable.reopen(out, SETTINGS_FILE, "settings", record["settings"], "kvt tune",
                         hint="resume with the same options or start a new --out")
        return resumable.open_folder(out, "tune", resume=True, inputs=inputs)
    if out.exists() and not out.is_dir():
        raise KvtError(f"{out} is a file, not a directory")
    if role == "chief":
        # Workers create ``out`` whenever they start, before or after the chief: make it now, so
        # that a worker's folder appearing after this check is not taken for an earlier search.
        out.mkdir(parents=True, exist_ok=True)
    if out.exists() and _only_worker_files(out):
        return resumable.open_folder(out, "tune", resume=True, inputs=inputs)
    exists = _exists_message(out)
    if out.exists():
        atomic.check(out, "tune", force, inputs, exists=exists)  # a folder kvt did not write, ...: its own error
        if role == "chief" and force:
            raise KvtError(f"--force cannot replace {out} in a distributed search (the workers write into it); "
                           f"give a new --out")
    return resumable.open_folder(out, "tune", force=force, inputs=inputs, exists=exists)


def _exists_message(out: Path) -> str:
    return f"{out} already exists; pass --resume to continue its search or --force to start over"


def check_out(out, resume: bool, force: bool, inputs=()) -> None:
    """The refusals of :func:`_prepare_out` that need no settings, for the CLI to give before TensorFlow's
    import: a file where the folder should be, a folder kvt did not write, an existing search without --force."""
    out = Path(out)
    if resume:
        return  # resuming compares the recorded settings: the search does that, once its data is read
    if out.exists() and not out.is_dir():
        raise KvtError(f"{out} is a file, not a directory")
    if out.exists() and not _only_worker_files(out):
        atomic.check(out, "tune", force, inputs, exists=_exists_message(out))


def _only_worker_files(out: Path) -> bool:
    """True for an empty folder, or one holding only what workers that started before
    the chief create (the project folder, their own state files, no oracle)."""
    for path in out.iterdir():
        if path.name != PROJECT or not path.is_dir():
            return False
        for inner in path.iterdir():
            if not (inner.is_file() and inner.suffix == ".json" and inner.name != "oracle.json"):
                return False
    return True
