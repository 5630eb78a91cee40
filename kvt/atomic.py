"""Atomic artifact writes: build in a temporary file or directory, then rename.

An interrupted or failed run leaves neither a half-written artifact nor a damaged
older one; an existing artifact is replaced only when ``force`` is true.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from kvt.errors import KvtError


def refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise KvtError(f"{path} already exists; pass --force to overwrite it")


def write_bytes(path: str | os.PathLike, data: bytes, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    refuse_existing(path, force)
    if path.exists() and path.is_dir():
        raise KvtError(f"{path} is a directory, not a file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise KvtError(f"cannot write {path}: folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make shared results unreadable to others
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | os.PathLike, text: str, force: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"), force=force)


@contextlib.contextmanager
def directory(path: str | os.PathLike, force: bool = False):
    """Yield a temporary directory that becomes ``path`` when the block succeeds.

    On any exception the temporary directory is removed and ``path`` is untouched.
    With ``force`` an existing ``path`` is replaced only after the new one is complete.
    """
    path = Path(path)
    refuse_existing(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            if not force:
                raise KvtError(f"{path} already exists; pass --force to overwrite it")
            trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, trash / "old")
            os.replace(tmp, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
