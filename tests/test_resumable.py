"""kvt.files.resumable: the resumable output folder shared by ``kvt bench`` and ``kvt tune``
(no training; milliseconds)."""

import datetime as dt
import json

import pytest

from kvt import KvtError
from kvt.files import atomic, resumable

SETTINGS = {"quick": True, "epochs": 3, "units": 8, "target_mse": None}


def _message(call, *args, **kwargs) -> str:
    with pytest.raises(KvtError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def _earlier(tmp_path, settings=SETTINGS, kind="bench"):
    """A folder as an earlier kvt run left it: marker, record, one result file."""
    out = tmp_path / "earlier"
    out.mkdir()
    atomic.write_marker(out, kind)
    (out / "bench.json").write_text(json.dumps({"kind": "vt", "training": settings}))
    (out / "results.csv").write_text("a,b\n1,2\n")
    return out


def test_now_is_an_iso_timestamp_with_offset():
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    stamp = dt.datetime.fromisoformat(resumable.now())
    after = dt.datetime.now(dt.timezone.utc)
    assert stamp.utcoffset() is not None and before <= stamp <= after
    assert len(resumable.now()) == len("2026-01-01T00:00:00+00:00")


def test_first_differing_setting_is_found_key_by_key():
    new = {"quick": True, "epochs": 5, "units": 16}
    assert resumable.settings_difference(SETTINGS, dict(SETTINGS)) is None
    assert resumable.settings_difference(SETTINGS, new) == ("epochs", 3, 5)  # the new settings' order
    assert resumable.settings_difference({"quick": True}, {"quick": True, "rows": 10}) == ("rows", None, 10)
    # A setting only the record has (an option this version dropped) differs too.
    assert resumable.settings_difference({"a": 1, "b": 2}, {"a": 1}) == ("b", 2, None)
    assert resumable.show("O2-O2") == "O2-O2" and resumable.show(None) == "null" and resumable.show(0.5) == "0.5"
    assert resumable.show(list(range(40))) == json.dumps(list(range(40)))[:77] + "..."


def test_settings_mismatch_is_one_line_naming_the_setting(tmp_path):
    assert (_message(resumable.check_settings, tmp_path, SETTINGS, {**SETTINGS, "units": 16})
            == f"cannot resume {tmp_path}: it was run with --units 8, not --units 16; "
               "use the same options or --force to start again")
    assert (_message(resumable.check_settings, tmp_path, {"optimizers": ["adam"]}, {"optimizers": ["lars"]},
                     hint="resume with the same options or start a new --out")
            == f'cannot resume {tmp_path}: it was run with --optimizer adam, not --optimizer lars; '
               "resume with the same options or start a new --out")
    resumable.check_settings(tmp_path, SETTINGS, dict(SETTINGS))  # same: no error
    # a setting is named by the option that gives it, in the form it is typed
    assert (_message(resumable.check_settings, tmp_path, {"held_out_K": [750.0, 2500.0, 7000.0]},
                     {"held_out_K": [800.0]}) == f"cannot resume {tmp_path}: it was run with --held-out "
            f"750,2500,7000, not --held-out 800; use the same options or --force to start again")
    assert (_message(resumable.check_settings, tmp_path, {"quick": True}, {"quick": False})
            == f"cannot resume {tmp_path}: it was run with --quick, not --quick off; use the same options or --force "
               f"to start again")


def test_force_with_resume_is_refused():
    assert (_message(resumable.refuse_force_with_resume, True, True)
            == "give --force (start again) or --resume (continue), not both")
    for force, resume in ((True, False), (False, True), (False, False)):
        resumable.refuse_force_with_resume(force, resume)


def test_a_record_that_cannot_be_read_is_refused(tmp_path):
    missing = tmp_path / "missing"
    assert _message(resumable.read_record, missing, "bench.json", "kvt bench") == \
        f"nothing to resume: {missing} does not exist"
    afile = tmp_path / "file"
    afile.write_text("x")
    assert _message(resumable.read_record, afile, "bench.json", "kvt bench") == f"{afile} exists and is not a directory"
    folder = tmp_path / "folder"
    folder.mkdir()
    unreadable = f"cannot resume {folder}: it has no readable tune.json (not a kvt tune output?)"
    assert _message(resumable.read_record, folder, "tune.json", "kvt tune") == unreadable  # no record
    for text in ("{not json", "[1, 2]", '"settings"'):  # not JSON, or JSON but not an object
        (folder / "tune.json").write_text(text)
        assert _message(resumable.read_record, folder, "tune.json", "kvt tune") == unreadable
    (folder / "tune.json").write_text(json.dumps({"settings": []}))  # no settings object in it
    assert _message(resumable.reopen, folder, "tune.json", "settings", {}, "kvt tune") == unreadable
    (folder / "tune.json").write_text(json.dumps({"settings": {"seed": 1}, "digest": "x"}))
    assert resumable.read_record(folder, "tune.json", "kvt tune") == {"settings": {"seed": 1}, "digest": "x"}


def test_resume_continues_the_folder_in_place(tmp_path):
    out = _earlier(tmp_path)
    seen = []
    record, folder = resumable.prepare(out, "bench", "bench.json", "training", dict(SETTINGS), "kvt bench",
                                       resume=True, check_record=seen.append)
    assert record == {"kind": "vt", "training": SETTINGS} and seen == [record]
    with folder as work:
        assert work == out and (work / "results.csv").read_text() == "a,b\n1,2\n"
        (work / "results.csv").write_text("a,b\n1,2\n3,4\n")
    assert (out / "results.csv").read_text() == "a,b\n1,2\n3,4\n"


def test_resume_refusals_come_before_any_work(tmp_path):
    out = _earlier(tmp_path)
    before = sorted(p.name for p in out.iterdir())

    def refuse(record):
        raise KvtError(f"cannot resume {out}: it holds a '{record['kind']}' benchmark, not 'synthetic'")

    for settings, check, message in (
            ({**SETTINGS, "epochs": 4}, None, f"cannot resume {out}: it was run with --epochs 3, not --epochs 4; "
                                              "use the same options or --force to start again"),
            (SETTINGS, refuse, f"cannot resume {out}: it holds a 'vt' benchmark, not 'synthetic'")):
        assert _message(resumable.prepare, out, "bench", "bench.json", "training", settings, "kvt bench",
                        resume=True, check_record=check) == message
    assert (_message(resumable.prepare, out, "bench", "bench.json", "training", SETTINGS, "kvt bench",
                     force=True, resume=True) == "give --force (start again) or --resume (continue), not both")
    assert sorted(p.name for p in out.iterdir()) == before
    _, folder = resumable.prepare(out, "tune", "bench.json", "training", SETTINGS, "kvt bench", resume=True)
    with pytest.raises(KvtError) as caught:  # the folder's marker is checked as the folder is opened
        with folder:
            pass
    assert str(caught.value) == f"cannot resume {out}: it is a kvt bench folder, not a tune folder"
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_new_folder_is_written_where_it_stays(tmp_path):
    out = tmp_path / "new" / "bench"
    record, folder = resumable.prepare(out, "bench", "bench.json", "training", SETTINGS, "kvt bench")
    assert record is None and not out.exists()  # nothing is written before the block
    with pytest.raises(RuntimeError):
        with folder as work:
            assert work == out and atomic.kind_of(out) == "bench"  # in place: an interruption keeps it
            (work / "results.csv").write_text("a\n1\n")
            raise RuntimeError("interrupted")
    assert (out / "results.csv").read_text() == "a\n1\n"


def test_an_existing_folder_needs_force_and_is_replaced_only_when_complete(tmp_path):
    out = _earlier(tmp_path)
    exists = f"{out} already exists; pass --force to overwrite it or --resume to continue it"
    assert _message(resumable.prepare, out, "bench", "bench.json", "training", SETTINGS, "kvt bench",
                    exists=exists) == exists
    assert _message(resumable.prepare, out, "tune", "tune.json", "settings", SETTINGS, "kvt tune", force=True) \
        == f"will not replace {out}: it is a kvt bench folder, not a tune folder"
    _, folder = resumable.prepare(out, "bench", "bench.json", "training", SETTINGS, "kvt bench", force=True)
    with folder as work:
        assert work != out and (out / "results.csv").is_file()  # the earlier one is intact meanwhile
        (work / "results.csv").write_text("new\n")
    assert sorted(p.name for p in out.iterdir()) == [".kvt-artifact.json", "results.csv"]
    assert (out / "results.csv").read_text() == "new\n"


def test_inputs_may_be_neither_replaced_nor_resumed_into(tmp_path):
    out = _earlier(tmp_path)
    data = out / "results.csv"
    with pytest.raises(KvtError, match="input of this command"):
        resumable.prepare(out, "bench", "bench.json", "training", SETTINGS, "kvt bench", force=True,
                          inputs=[data])
    _, folder = resumable.prepare(out, "bench", "bench.json", "training", SETTINGS, "kvt bench", resume=True,
                                  inputs=[data])
    with pytest.raises(KvtError, match="input of this command"):
        with folder:
            pass
