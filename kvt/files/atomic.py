"""Atomic, ownership-safe artifact writes: build under a temporary name, then rename.

Every folder kvt writes carries a marker file, ``.kvt-artifact.json`` (its kind, the
kvt version, creation time, process and host), and ``force`` replaces only a folder
of the same kind that kvt wrote (:func:`check` lists every refusal). A new folder is
built under a temporary name in the same parent and renamed into place when it is
complete; an existing one stays where it is until then and is swapped with the new
one in a single ``renameat2(RENAME_EXCHANGE)`` (Linux), so an interruption at any
moment leaves the old or the new folder at ``path``, never neither and never a half.
Where the kernel or file system cannot exchange, the old folder is renamed aside
first (``.NAME.kvt-PID-HOST-XXXX.old``) and a later run into the same parent puts it
back if the process died before the new one was in place.

Temporary names are ``.NAME.kvt-PID-HOST-XXXX.tmp`` (and ``.old``). The next write into
the same parent removes those whose process is gone (same host, no such pid) and that
are provably kvt's (a file, or a folder that is empty or holds a kvt marker); any
other left-over is named in a warning and left alone.

Test hook (used by ``tests/test_faults.py`` only): with ``KVT_TEST_KILL_AT=POINT`` or
``POINT:N`` in the environment the process SIGKILLs itself the first (or N-th) time it
reaches ``POINT``, one of :data:`KILL_POINTS`.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import fnmatch
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import tempfile
import warnings
from pathlib import Path

from kvt import __version__
from kvt.errors import KvtError, KvtWarning

MARKER = ".kvt-artifact.json"
KINDS = ("run", "evaluation", "bench", "tune", "relax")
KILL_ENV = "KVT_TEST_KILL_AT"
KILL_POINTS = ("dir-started", "dir-complete", "dir-moved", "dir-swapped", "file-written")

# Folders older kvt versions wrote without a marker: the files that must be there, and
# the patterns every entry must match (anything else, e.g. a user's notes, makes the
# folder not kvt's). The JSON file, when given, must hold the key.
_LEGACY = {
    "run": (("model.keras", "weights.json", "scaler.json", "metadata.json"),
            ("model.keras", "weights.json", "scaler.json", "metadata.json", "history.csv", "predictions.csv",
             "*.png", "evaluation"), ("metadata.json", "kvt_version")),
    "evaluation": (("summary.json", "per_level.csv", "grid.csv"),
                   ("summary.json", "per_level.csv", "grid.csv", "relative_error.png"), None),
    "bench": (("bench.json",), ("bench.json", "results.csv", "results.md", "summary.csv", "*.png", "curves"),
              ("bench.json", "kvt_version")),
    "tune": (("tune.json",), ("tune.json", "search", "trials.csv", "trials.md", "best.json", "best_run"),
             ("tune.json", "kvt_tune")),
}
#: Entries kvt itself writes in a folder of each kind (patterns); anything else in it is the user's,
#: and ``--force`` refuses to replace a folder that holds it.
_OWN = {
    "run": (MARKER, "model.keras", "weights.json", "scaler.json", "metadata.json", "history.csv",
            "predictions.csv", "*.png"),
    "evaluation": (MARKER, "summary.json", "per_level.csv", "grid.csv", "*.png"),
    "bench": (MARKER, "bench.json", "results.csv", "results.md", "summary.csv", "*.png", "curves"),
    "tune": (MARKER, "tune.json", "search", "trials.csv", "trials.md", "best.json"),
    "relax": (MARKER, "tau.csv", "energy.csv", "populations.csv", "relax.json", "*.png"),
}
#: kvt folders that kvt writes inside a folder of each kind, by name and their kind (a run's
#: ``evaluation/`` from ``kvt evaluate``, a search's ``best_run/``); they are checked as their own
#: kind. Any other kvt folder inside (a relax folder put in a run, a run named evaluation/) was put
#: there by the user and is the user's.
_NESTED = {"run": {"evaluation": "evaluation"}, "tune": {"best_run": "run"}}
_TEMP = re.compile(r"^\.(?P<name>.+)\.kvt-(?P<pid>\d+)-(?P<host>[0-9a-f]{8})-[A-Za-z0-9_]+\.(?P<state>tmp|old)$")
_kill_counts: dict[str, int] = {}


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.kvt-{os.getpid()}-{_host()}-"


def _kill_point(point: str) -> None:
    """The test hook (module docstring): SIGKILL this process at ``point`` if asked to."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    name, _, count = spec.partition(":")
    if name != point:
        return
    _kill_counts[point] = _kill_counts.get(point, 0) + 1
    if _kill_counts[point] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------- what a folder is
def read_marker(path: str | os.PathLike) -> dict | None:
    """The marker document of folder ``path``, or None if it has no readable marker."""
    try:
        marker = json.loads((Path(path) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("kind") in KINDS else None


def kind_of(path: str | os.PathLike) -> str | None:
    """The kind of kvt folder ``path`` is: from its marker, else recognised as an older
    kvt version's folder (:data:`_LEGACY`); None if kvt did not write it."""
    path = Path(path)
    marker = read_marker(path)
    if marker:
        return marker["kind"]
    try:
        names = [entry.name for entry in path.iterdir()]
    except OSError:
        return None
    for kind, (required, allowed, key) in _LEGACY.items():
        if not all(name in names for name in required):
            continue
        if not all(any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed) for name in names):
            continue
        if key:
            try:
                if key[1] not in json.loads((path / key[0]).read_text()):
                    continue
            except (OSError, ValueError, TypeError):
                continue
        return kind
    return None


def write_marker(path: str | os.PathLike, kind: str) -> Path:
    """Mark folder ``path`` as a kvt folder of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}; known kinds: {', '.join(KINDS)}")
    marker = {"kind": kind, "kvt_version": __version__,
              "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "pid": os.getpid(), "host": _host()}
    return _write(Path(path) / MARKER, (json.dumps(marker, indent=2) + "\n").encode(), hook=False)


def foreign_entries(path: str | os.PathLike, kind: str) -> list[str]:
    """Entries of kvt folder ``path`` (of ``kind``) that kvt does not write there, as relative paths."""
    path = Path(path)
    foreign = []
    for entry in sorted(path.iterdir()):
        nested = kind_of(entry) if entry.is_dir() and not entry.is_symlink() else None
        if nested is not None and _NESTED.get(kind, {}).get(entry.name) == nested:
            foreign += [f"{entry.name}/{name}" for name in foreign_entries(entry, nested)]
        elif nested is not None or not any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in _OWN[kind]):
            foreign.append(entry.name)
    return foreign


# ---------------------------------------------------------------- the checks
def _refuse(path: Path, reason: str) -> KvtError:
    return KvtError(f"will not replace {path}: {reason}")


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check(path: str | os.PathLike, kind: str | None = None, force: bool = False, inputs=(),
          exists: str | None = None) -> None:
    """Raise KvtError unless ``path`` may be written, before any expensive work.

    ``kind`` None checks an output file: an existing one may be replaced (with
    ``force``) only if it is a regular file and not one of ``inputs`` (files read by
    the command, or folders it reads from). A ``kind`` checks an output folder: an
    existing one may be replaced (with ``force``) only if it is an empty folder or a
    kvt folder of that kind, and is not the current directory or an ancestor of it,
    and does not hold (or is) one of ``inputs``. A replaceable ``path`` without
    ``force`` raises ``exists`` (default: "... already exists; pass --force to
    overwrite it"); a refusal says why, whatever ``force``.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return
    real = path.resolve()
    if path.is_symlink():
        raise _refuse(path, "it is a symbolic link")
    if kind is None:
        if path.is_dir():
            raise KvtError(f"{path} is a directory, not a file")
        if not path.is_file():
            raise _refuse(path, "it is not a regular file")
        for item in inputs:
            item = Path(item)
            if item.exists() and (real == item.resolve() or (item.is_dir() and _is_within(real, item.resolve()))):
                raise _refuse(path, "it is an input of this command")
    else:
        if kind not in KINDS:
            raise ValueError(f"unknown artifact kind {kind!r}; known kinds: {', '.join(KINDS)}")
        if not path.is_dir():
            raise KvtError(f"{path} exists and is not a directory")
        cwd = Path.cwd().resolve()
        if real == cwd:
            raise _refuse(path, "it is the current directory")
        if _is_within(cwd, real):
            raise _refuse(path, "it holds the current directory")
        for item in inputs:
            if os.path.lexists(item) and _is_within(Path(item).resolve(), real):
                which = "it is" if Path(item).resolve() == real else f"it holds {item},"
                raise _refuse(path, f"{which} an input of this command")
        found = kind_of(path)
        if found is None and any(path.iterdir()):
            raise _refuse(path, f"kvt did not write it (it has no {MARKER}); give a new or empty folder")
        if found is not None and found != kind:
            raise _refuse(path, f"it is a kvt {found} folder, not {_a(kind)} folder")
        foreign = foreign_entries(path, kind) if found == kind else []
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise _refuse(path, f"it holds {shown}, which kvt did not write; move them out or give a new folder")
    if not force:
        raise KvtError(exists or f"{path} already exists; pass --force to overwrite it")


# ---------------------------------------------------------------- left-overs of killed runs
def _process_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def clean_leftovers(parent: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and folders of dead kvt processes in ``parent``.

    A folder renamed aside (``.old``) whose final name is missing is put back
    instead. Returns what was removed or restored; warns about left-overs that are
    not provably kvt's or belong to another host.
    """
    parent = Path(parent)
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    handled, host = [], _host()
    for entry in entries:
        match = _TEMP.match(entry.name)
        if not match:
            continue
        if match["host"] != host:
            warnings.warn(f"left-over temporary {entry} is from another host; not removed", KvtWarning,
                          stacklevel=2)
            continue
        if not _process_gone(int(match["pid"])):
            continue  # a run in progress
        final = parent / match["name"]
        if entry.is_dir() and not entry.is_symlink():
            if match["state"] == "old" and not os.path.lexists(final):
                os.rename(entry, final)  # the swap was cut between its two renames
            elif read_marker(entry) is not None or kind_of(entry) is not None or not any(entry.iterdir()):
                shutil.rmtree(entry)
            else:
                warnings.warn(f"left-over temporary folder {entry} holds no kvt marker; not removed",
                              KvtWarning, stacklevel=2)
                continue
        else:
            entry.unlink()
        handled.append(entry)
    return handled


# ---------------------------------------------------------------- writing
def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write(path: Path, data, hook: bool = True) -> Path:
    """Temp file in the same folder, fsync, rename onto ``path`` (no checks).

    ``data``: bytes, or an iterable of bytes/str chunks written one after another (so a
    large artifact never has to be held in memory whole).
    """
    chunks = [data] if isinstance(data, (bytes, bytearray, str)) else data
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make shared results unreadable to others
        if hook:
            _kill_point("file-written")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_bytes(path: str | os.PathLike, data, force: bool = False, inputs=()) -> Path:
    """Write ``data`` (bytes or an iterable of chunks) to ``path`` atomically (temp file, then rename).

    ``force`` replaces an existing regular file that is not one of ``inputs`` (:func:`check`).
    """
    path = Path(path)
    check(path, None, force, inputs)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise KvtError(f"cannot write {path}: folder {parent} does not exist")
    clean_leftovers(parent)
    return _write(path, data)


def write_text(path: str | os.PathLike, text, force: bool = False, inputs=()) -> Path:
    """Write ``text`` (a str, or an iterable of str chunks; UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8") if isinstance(text, str) else text, force=force, inputs=inputs)


def refuse_existing(path: Path, force: bool) -> None:
    """Raise KvtError if ``path`` exists and ``force`` is false (no ownership checks; see :func:`check`)."""
    if path.exists() and not force:
        raise KvtError(f"{path} already exists; pass --force to overwrite it")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one step; False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(tmp: Path, path: Path) -> None:
    """Put the complete folder ``tmp`` at ``path``, replacing what is there."""
    if not os.path.lexists(path):
        os.rename(tmp, path)
    elif _exchange(tmp, path):
        _kill_point("dir-swapped")
        shutil.rmtree(tmp)  # now the old folder
    else:
        old = path.parent / f"{_temp_prefix(path)}{secrets.token_hex(4)}.old"
        os.rename(path, old)
        _kill_point("dir-moved")
        os.rename(tmp, path)
        _kill_point("dir-swapped")
        shutil.rmtree(old)
    _fsync_dir(path.parent)


@contextlib.contextmanager
def directory(path: str | os.PathLike, kind: str, force: bool = False, inputs=(), resume: bool = False,
              in_place: bool = False):
    """Yield the folder to write the ``kind`` artifact ``path`` in; it is ``path`` when the block succeeds.

    The folder is a marked temporary one in the same parent, renamed to ``path`` at
    the end (an existing ``path`` is swapped out only then, and only as :func:`check`
    allows with ``force``); on any exception it is removed and ``path`` is untouched.
    ``resume`` continues an existing folder of this kind in place; ``in_place`` writes
    a *new* folder directly at ``path`` (so that an interrupted bench or tune can be
    resumed) while an existing one is still replaced by a swap.
    """
    path = Path(path)
    if path.parent.is_dir():
        clean_leftovers(path.parent)
    if resume:
        found = kind_of(path) if path.is_dir() else None
        if found is not None and found != kind:
            raise KvtError(f"cannot resume {path}: it is a kvt {found} folder, not {_a(kind)} folder")
        for item in inputs:
            if os.path.lexists(item) and _is_within(Path(item).resolve(), path.resolve()):
                raise KvtError(f"cannot resume {path}: it holds {item}, an input of this command")
        if read_marker(path) is None:
            write_marker(path, kind)
        yield path
        return
    check(path, kind, force, inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if in_place and not os.path.lexists(path):
        path.mkdir()
        write_marker(path, kind)
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, 0o755)
        write_marker(tmp, kind)
        _kill_point("dir-started")
        yield tmp
        _kill_point("dir-complete")
        check(path, kind, force, inputs)  # something may have appeared at path meanwhile
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
