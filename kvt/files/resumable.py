"""Output folders that an interrupted command can continue (``kvt bench``, ``kvt tune``).

Such a folder holds a *record*: a JSON file (``bench.json``, ``tune.json``) written
when the folder is started, with the settings every result in it depends on under
one key. A command either starts a new folder or, with ``--resume``, continues one
that was run with the same settings:

* :func:`refuse_force_with_resume` -- ``--force`` (start again) and ``--resume``
  (continue) together are refused;
* :func:`reopen` -- read the folder's record and compare its settings with the new
  ones key by key (:func:`check_settings`): the first that differs is named, with
  its old and new value, in one error line;
* :func:`open_folder` -- the folder to write in: a resumed one as it is, otherwise
  checked with :func:`kvt.files.atomic.check` and opened with
  :func:`kvt.files.atomic.directory` (``in_place``: a new folder is written where
  it will stay, so that an interrupted run keeps what it finished; an earlier one
  replaced with ``force`` stays intact until the new one is complete);
* :func:`prepare` -- the three in order, for a command with nothing else to check;
* :func:`now` -- the timestamp written in records.

Every check runs before the block that writes the folder starts, and every refusal
is a :class:`kvt.errors.KvtError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Mapping

from kvt.errors import Interrupted, KvtError
from kvt.files import atomic

#: The end of the error line for settings that differ from the recorded ones (``kvt bench``).
RESUME_HINT = "use the same options or --force to start again"


def now() -> str:
    """The current local time as an ISO 8601 string with seconds and UTC offset."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def refuse_force_with_resume(force: bool, resume: bool) -> None:
    """Raise KvtError when both ``force`` (start again) and ``resume`` (continue) are given."""
    if force and resume:
        raise KvtError("give --force (start again) or --resume (continue), not both")


def read_record(out: Path, name: str, command: str) -> dict:
    """The JSON object in ``out/name``, the record of the folder to resume.

    Raises KvtError when ``out`` is not a directory or the record is missing, not
    JSON or not an object; ``command`` (e.g. ``"kvt bench"``) names what should have
    written it.
    """
    out = Path(out)
    if os.path.lexists(out) and not out.is_dir():
        raise KvtError(f"{out} exists and is not a directory")
    if not out.is_dir():
        raise KvtError(f"nothing to resume: {out} does not exist")
    try:
        record = json.loads((out / name).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        record = None
    if not isinstance(record, dict):
        raise KvtError(f"cannot resume {out}: it has no readable {name} (not a {command} output?)")
    return record


def settings_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, Any, Any] | None:
    """``(key, old value, new value)`` of the first setting that differs, or None.

    The new settings' keys are compared in their order, then the keys only the old
    ones have; a missing key has the value None.
    """
    keys = list(new) + [key for key in old if key not in new]
    for key in keys:
        if old.get(key) != new.get(key):
            return key, old.get(key), new.get(key)
    return None


@contextlib.contextmanager
def kept_on_interrupt(out, resume: bool, what: str):
    """Ctrl-C in a command that writes a resumable folder: ``kvt.errors.Interrupted`` saying what stays.

    A new folder is written in place, so ``what`` ("the runs finished so far") stays in it and
    ``--resume`` continues; a --force replacement of an earlier folder is built beside it and swapped in
    only at the end, so the earlier folder is as it was.
    """
    replacing = Path(out).is_dir() and any(Path(out).iterdir()) and not resume
    try:
        yield
    except KeyboardInterrupt:
        if replacing:
            raise Interrupted(f"interrupted; {out} is as it was before (its replacement was not finished)") from None
        raise Interrupted(f"interrupted; {what} are kept in {out}: run the same command "
                          f"{'again' if resume else 'with --resume'} to continue") from None


def show(value: Any, limit: int = 80) -> str:
    """A setting's value for an error line: strings as they are, others as JSON, cut at ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: The command-line option of each recorded setting (``kvt bench``'s and ``kvt tune``'s), so that a refusal names
#: what the user types, not the record's key.
OPTIONS = {"protocol": "--protocol", "quick": "--quick", "epochs": "--epochs", "units": "--units",
           "patience": "--patience", "target_mse": "--target-mse", "rel_target": "--rel-target",
           "trials": "--trials", "held_out_K": "--held-out", "rows": "--rows", "data": "--pair/--data",
           "optimizers": "--optimizer", "algorithm": "--algorithm", "objective": "--objective",
           "space": "--space", "mode": "--mode", "batch_size": "--batch-size", "val_fraction": "--val-fraction",
           "seed": "--seed"}


def show_setting(key: str, value: Any) -> str:
    """A recorded setting as the option that gives it: ``--held-out 750,2500,7000``, ``--quick``, ``--quick off``;
    a setting without an option as ``key value``."""
    option = OPTIONS.get(key)
    if option is None:
        return f"{key} {show(value)}"
    if isinstance(value, bool):
        return option if value else f"{option} off"
    if value is None:
        return f"{option} at its default"
    if isinstance(value, (list, tuple)):
        return f"{option} {','.join(f'{v:g}' if isinstance(v, float) else str(v) for v in value)}"
    return f"{option} {show(value)}"


def check_settings(out: Path, old: Mapping[str, Any], new: Mapping[str, Any], hint: str = RESUME_HINT) -> None:
    """Raise KvtError naming the first setting in which ``new`` differs from the recorded ``old``, as its option."""
    difference = settings_difference(old, new)
    if difference is not None:
        key, was, wanted = difference
        raise KvtError(f"cannot resume {out}: it was run with {show_setting(key, was)}, not "
                       f"{show_setting(key, wanted)}; {hint}")


def reopen(out: Path, name: str, settings_key: str, settings: Mapping[str, Any], command: str,
           check_record: Callable[[dict], None] | None = None, hint: str = RESUME_HINT) -> dict:
    """Read the record ``out/name`` of a folder to resume and check it; return the record.

    ``check_record(record)`` may refuse the record first (raise KvtError), e.g. one of
    another benchmark; then the recorded ``record[settings_key]`` must equal
    ``settings`` (:func:`check_settings`). A record without a settings object there
    is not readable.
    """
    record = read_record(out, name, command)
    if check_record is not None:
        check_record(record)
    old = record.get(settings_key)
    if not isinstance(old, dict):
        raise KvtError(f"cannot resume {out}: it has no readable {name} (not a {command} output?)")
    check_settings(out, old, settings, hint)
    return record


def open_folder(out: Path, kind: str, force: bool = False, resume: bool = False, inputs: Iterable = (),
                exists: str | None = None) -> ContextManager[Path]:
    """The context manager yielding the folder a ``kind`` command writes in (``out`` or its replacement).

    With ``resume`` the existing ``out`` is continued in place (entering the block
    refuses a kvt folder of another kind, or one holding an input). Otherwise ``out`` is
    checked now (:func:`kvt.files.atomic.check`: a new or empty folder, or with
    ``force`` an earlier kvt folder of this kind; ``exists`` is the error line for an
    existing one without ``force``) and a new ``out`` is written in place, while an
    earlier one is replaced only when the block completes. ``inputs`` (files or
    folders the command reads) may be neither replaced nor resumed into.
    """
    inputs = list(inputs)
    if not resume:
        atomic.check(out, kind, force, inputs, exists=exists)
    return atomic.directory(out, kind, force=force, inputs=inputs, resume=resume, in_place=True)


def prepare(out: Path, kind: str, name: str, settings_key: str, settings: Mapping[str, Any], command: str,
            force: bool = False, resume: bool = False, inputs: Iterable = (), exists: str | None = None,
            check_record: Callable[[dict], None] | None = None,
            hint: str = RESUME_HINT) -> tuple[dict | None, ContextManager[Path]]:
    """Check everything about ``out`` before any work; return ``(record, folder)``.

    ``record`` is the resumed folder's record (:func:`reopen`), None for a new run;
    ``folder`` is :func:`open_folder`'s context manager. Raises KvtError for
    ``force`` with ``resume``, an ``out`` that is a file, a record that is missing
    or differs from ``settings``, and an ``out`` that may not be written.
    """
    out = Path(out)
    refuse_force_with_resume(force, resume)
    if os.path.lexists(out) and not out.is_dir():
        raise KvtError(f"{out} exists and is not a directory")
    record = reopen(out, name, settings_key, settings, command, check_record, hint) if resume else None
    return record, open_folder(out, kind, force=force, resume=resume, inputs=inputs, exists=exists)
