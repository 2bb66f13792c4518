"""Cleaning up data sessions' files: what nothing refers to goes (results and frames of
deleted sessions, what failed runs left, half-written copies older than an hour), what
is referenced never does, ``older_than`` takes results unused that long that no session's
latest operations use, a dry run removes nothing, and only the caller's own folder is
touched; ``shiftdesk datalab cleanup`` says the same in a shell."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from tests.datalab._frames import write_frame
from tests.datalab._support import user_database

from shiftdesk.cli import main
from shiftdesk.datalab import DataSession, cleanup
from shiftdesk.datalab import cache as cache_module
from shiftdesk.datalab.cache import owner_folder, result_folder
from shiftdesk.datalab.records import OperationRecord, ResultRecord
from shiftdesk.errors import NotFound, PermissionDenied
from shiftdesk.identity import Identity
from shiftdesk.storage import Database, get_database
from shiftdesk.tracking import utcnow

ALICE = Identity("alice")
MALLORY = Identity("mallory")
HOUR = 3600.0


@pytest.fixture
def frames(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "frames"
    folder.mkdir()
    return [
        write_frame(folder / f"f{i}.fits", stars=[(20, 20, 900 + 100 * i)], noise=2, seed=i)
        for i in range(3)
    ]


def _age(path: Path, hours: float = 2.0) -> None:
    """Make ``path`` (and everything under it) look ``hours`` old."""
    when = time.time() - hours * HOUR
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for p in paths:
        os.utime(p, (when, when), follow_symlinks=False)


def _age_store(owner: str = "alice") -> None:
    store = owner_folder(owner) / "store"
    if store.exists():
        _age(store)


def _done(s: DataSession, op: str = "median", **inputs: Any) -> Any:
    handle = s.run(op, **inputs)
    handle.result(timeout=120)
    return handle


def _kinds(plan: cleanup.CleanupPlan) -> list[tuple[str, str]]:
    root = plan.folder
    return [(r.kind, str(r.path.relative_to(root)).split("/")[0]) for r in plan]


def _results(db: Database | None = None) -> int:
    with (db or get_database()).session() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(ResultRecord)) or 0)


# -- orphans -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "db_kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_deleted_sessions_result_and_frames_go_and_nothing_in_use_does(
    db_kind: str,
    frames: list[Path],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db: Database | None = None
    who = ALICE
    if db_kind == "postgresql":
        db, who = user_database(request, monkeypatch)
    gone = DataSession.create("short-lived", identity=who, database=db)
    gone.add_inputs(frames[:2])
    op = _done(gone, input_files=gone.inputs)
    folder = Path(op._record.folder)
    kept = DataSession.create("kept", identity=who, database=db)
    kept.add_inputs(frames[1:])  # shares frame 1 with the deleted session
    mine = _done(kept, input_files=kept.inputs)
    gone.delete()
    _age_store(who.name)

    planned = cleanup.plan(identity=who, database=db)
    assert _kinds(planned) == [("orphaned result", "results"), ("orphaned frame", "store")]
    result, frame = planned.removals
    assert result.path == folder and result.result_id is not None
    assert frame.path.name == "f0.fits" and frame.bytes == frames[0].stat().st_size
    assert result.bytes == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert planned.bytes == result.bytes + frame.bytes > 0
    assert "no operation refers to it" in result.reason and "orphaned frame" in str(planned)
    # a plan removes nothing
    assert folder.is_dir() and frame.path.is_file() and _results(db) == 2

    report = cleanup.apply(planned, identity=who, database=db)
    assert [r.path for r in report.removed] == [folder, frame.path] and not report.kept
    assert report.bytes == planned.bytes
    assert not folder.exists() and not frame.path.exists() and _results(db) == 1
    # what the kept session uses is all there, and its result still served
    assert all(i.path.is_file() for i in kept.inputs)
    assert mine.result().files[0].is_file()
    assert kept.run("median", input_files=kept.inputs).cached
    assert cleanup.plan(identity=who, database=db).removals == ()
    # the removed result is computed again when asked for
    again = DataSession.create("again", identity=who, database=db)
    again.add_inputs(frames[:2])
    assert not again.run("median", input_files=again.inputs).cached


def test_young_frames_stay_an_hour_and_a_result_still_served_is_kept(frames: list[Path]) -> None:
    first = DataSession.create("first", identity=ALICE)
    first.add_inputs(frames[:2])
    op = _done(first, input_files=first.inputs)
    second = DataSession.create("second", identity=ALICE)
    second.add_inputs(frames[:2])
    served = second.run("median", input_files=second.inputs)
    assert served.cached
    first.delete()
    # the result is second's too (served from it); the frames are second's inputs
    assert cleanup.plan(identity=ALICE).removals == ()
    second.delete()
    planned = cleanup.plan(identity=ALICE)
    # the frames were stored a moment ago: left for an hour (a frame may be being added)
    assert [r.kind for r in planned] == ["orphaned result"]
    assert planned.removals[0].path == Path(op._record.folder)
    assert [r.kind for r in cleanup.plan(identity=ALICE, min_age=0)] == [
        "orphaned result",
        "orphaned frame",
        "orphaned frame",
    ]


def test_what_a_failed_run_left_goes_and_a_running_ones_folder_stays(frames: list[Path]) -> None:
    s = DataSession.create("runs", identity=ALICE)
    blank = write_frame(frames[0].parent / "blank.fits", np.full((48, 64), np.nan))
    failed = s.run("median", input_files=[frames[0], blank])
    assert failed.wait(120).status == "failed"  # no finite pixel in blank.fits
    # a worker killed halfway can leave files behind
    left = result_folder(ALICE.name, failed.key, failed.id)
    left.mkdir(parents=True, exist_ok=True)
    (left / "median.fits").write_bytes(b"\0" * 2880)
    # a run in progress: its row is queued, its folder being written
    with get_database().session() as db:
        running = OperationRecord(
            session_id=s.id,
            owner=ALICE.name,
            operation="median",
            version="1.0",
            cache_key="e" * 64,
            inputs_json="{}",
            files_json="[]",
            status="queued",
            progress=0.5,
            message="running",
            cached=False,
            created_at=utcnow(),
        )
        db.add(running)
        db.flush()
        running_id = running.id
    busy = result_folder(ALICE.name, "e" * 64, running_id)
    busy.mkdir(parents=True)
    (busy / "part.fits").write_bytes(b"\0" * 2880)
    _age(left)
    _age(busy)
    planned = cleanup.plan(identity=ALICE)
    assert [(r.kind, r.path) for r in planned] == [("orphaned folder", left)]
    assert (
        planned.bytes == 2880 and "failed, cancelled or dropped run" in planned.removals[0].reason
    )
    cleanup.apply(planned, identity=ALICE)
    assert not left.exists() and (busy / "part.fits").is_file()


def test_half_written_copies_older_than_an_hour_go(frames: list[Path]) -> None:
    s = DataSession.create("copies", identity=ALICE)
    (stored,) = s.add_inputs(frames[:1])
    folder = stored.path.parent
    old = folder / f".{stored.name}.4242.tmp"
    young = folder / f".{stored.name}.4343.tmp"
    for p in (old, young):
        p.write_bytes(b"\0" * 1000)
    _age(old, hours=1.5)
    _age(young, hours=0.5)
    results_copy = owner_folder(ALICE.name) / "results" / "ab" / ".x.fits.77.tmp"
    results_copy.parent.mkdir(parents=True)
    results_copy.write_bytes(b"\0" * 10)
    _age(results_copy, hours=3)
    planned = cleanup.plan(identity=ALICE)
    assert [(r.kind, r.path) for r in planned] == [
        ("temporary file", results_copy),
        ("temporary file", old),
    ]
    assert "half-written" in planned.removals[1].reason and planned.bytes == 1010
    report = cleanup.apply(planned, identity=ALICE)
    assert len(report.removed) == 2
    assert not old.exists() and young.exists() and stored.path.is_file()


# -- old results -------------------------------------------------------------------------------


def _set_age(days: float) -> None:
    """Every operation and stored result made ``days`` ago."""
    when = utcnow() - timedelta(days=days)
    with get_database().session() as s:
        s.execute(sa.update(OperationRecord).values(created_at=when))
        s.execute(sa.update(ResultRecord).values(created_at=when))


def test_older_than_takes_results_no_latest_operation_uses(frames: list[Path]) -> None:
    s = DataSession.create("chain", identity=ALICE)
    s.add_inputs(frames)
    first = _done(s, input_files=s.inputs[:2])  # used by the subtraction below
    second = _done(s, input_files=s.inputs[1:])
    sub = _done(s, "subtraction", input_files=s.inputs, subtraction_file=first.outputs[0])
    _set_age(40)
    # the latest median (second), the latest subtraction and its chain (first) are kept
    assert cleanup.plan(identity=ALICE, older_than=30).removals == ()
    newest = _done(s, input_files=[s.inputs[0], s.inputs[2]])
    planned = cleanup.plan(identity=ALICE, older_than=30)
    assert [(r.kind, r.path) for r in planned] == [("old result", Path(second._record.folder))]
    assert "unused for 40 days" in planned.removals[0].reason
    # younger than asked: kept; without older_than: only orphans
    assert cleanup.plan(identity=ALICE, older_than=50).removals == ()
    assert cleanup.plan(identity=ALICE).removals == ()
    # a result served (used) again lately counts as used then
    other = DataSession.create("other", identity=ALICE)
    other.add_inputs(frames)
    served = other.run("median", input_files=other.inputs[1:])
    assert served.cached
    assert cleanup.plan(identity=ALICE, older_than=30).removals == ()
    other.delete()

    report = cleanup.apply(cleanup.plan(identity=ALICE, older_than=30), identity=ALICE)
    assert [r.path for r in report.removed] == [Path(second._record.folder)]
    assert not Path(second._record.folder).exists()
    # the operation stays in the history; its result reads as deleted
    history = {o.id: o for o in s.operations}
    assert history[second.id].status == "done"
    with pytest.raises(NotFound, match="deleted"):
        history[second.id].result()
    for kept in (first, sub, newest):
        assert all(p.is_file() for p in history[kept.id].outputs)


# -- checked again when applied ----------------------------------------------------------------


def test_apply_keeps_what_is_used_again_since_the_plan(frames: list[Path]) -> None:
    s = DataSession.create("gone", identity=ALICE)
    s.add_inputs(frames[:2])
    _done(s, input_files=s.inputs)
    s.delete()
    _age_store()
    planned = cleanup.plan(identity=ALICE)
    assert [r.kind for r in planned] == ["orphaned result", "orphaned frame", "orphaned frame"]
    # meanwhile: the frames are added to a new session, whose median is served the result
    fresh = DataSession.create("fresh", identity=ALICE)
    fresh.add_inputs(frames[:2])
    assert fresh.run("median", input_files=fresh.inputs).cached
    report = cleanup.apply(planned, identity=ALICE)
    assert report.removed == () and len(report.kept) == 3 and report.bytes == 0
    assert all(i.path.is_file() for i in fresh.inputs)
    assert fresh.operations[0].result().files[0].is_file()
    # the stored result's own check, under its lock, counts the new user too
    assert cleanup._remove(planned.removals[0], planned, get_database(), ALICE) == "used again"
    assert _results() == 1


def test_a_result_removed_while_a_request_is_served_makes_the_request_run(
    frames: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request found the stored result, then a cleanup removed it before the request
    was recorded: the database refuses the request's row (its result is gone), and the
    request looks again and runs."""
    s = DataSession.create("raced", identity=ALICE)
    s.add_inputs(frames[:2])
    _done(s, input_files=s.inputs)
    s.delete()
    planned = cleanup.plan(identity=ALICE)
    real = cache_module.find_result
    removed: list[cleanup.CleanupReport] = []

    def found_then_removed(*args: Any) -> Any:
        found = real(*args)
        if found is not None and not removed:
            removed.append(cleanup.apply(planned, identity=ALICE))
        return found

    monkeypatch.setattr(cache_module, "find_result", found_then_removed)
    again = DataSession.create("again", identity=ALICE)
    again.add_inputs(frames[:2])
    op = again.run("median", input_files=again.inputs)
    assert len(removed[0].removed) == 1  # the result went after it was found
    assert not op.cached and op.job_id is not None
    assert op.result(timeout=120).files[0].is_file()


def test_a_frame_added_while_it_is_set_aside_is_put_back(frames: list[Path]) -> None:
    """The last check of a frame happens after it was moved aside: a reference that
    appears in between puts it back."""
    s = DataSession.create("gone", identity=ALICE)
    (stored,) = s.add_inputs(frames[:1])
    s.delete()
    _age_store()
    (item,) = cleanup.plan(identity=ALICE).removals
    calls = {"n": 0}
    real = cleanup._input_paths

    def appears_second_time(*args: Any) -> set[str]:
        calls["n"] += 1
        if calls["n"] == 2:  # the check after the frame was set aside
            return {os.path.realpath(stored.path)}
        return real(*args)

    planned = cleanup.plan(identity=ALICE)
    seen: list[bool] = []
    real_replace = os.replace

    def watch(src: Any, dst: Any) -> None:
        seen.append(Path(src) == stored.path and not Path(dst).exists())
        real_replace(src, dst)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cleanup, "_input_paths", appears_second_time)
        mp.setattr(cleanup.os, "replace", watch)
        why = cleanup._remove(item, planned, get_database(), ALICE)
    assert why == "in use again" and calls["n"] == 2
    assert seen == [True, False]  # set aside, then put back
    assert stored.path.is_file()
    assert not list(stored.path.parent.glob(".*.tmp"))


# -- scope and arguments ---------------------------------------------------------------------------


def test_only_the_callers_own_folder_and_results(frames: list[Path]) -> None:
    theirs = DataSession.create("mallory's", identity=MALLORY)
    theirs.add_inputs(frames[:2])
    op = _done(theirs, input_files=theirs.inputs)
    theirs.delete()
    _age_store("mallory")
    assert cleanup.plan(identity=ALICE).removals == ()
    planned = cleanup.plan(identity=MALLORY)
    assert len(planned) == 3 and planned.folder == owner_folder("mallory")
    with pytest.raises(PermissionDenied, match="mallory"):
        cleanup.apply(planned, identity=ALICE)
    assert Path(op._record.folder).is_dir()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"older_than": -1}, "0 or more"),
        ({"older_than": "30"}, "number of days"),
        ({"older_than": float("nan")}, "number of days"),
        ({"older_than": True}, "number of days"),
        ({"min_age": -5}, "min_age"),
    ],
)
def test_bad_arguments_are_refused_clearly(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        cleanup.plan(identity=ALICE, **kwargs)


# -- the command -----------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["datalab", "cleanup", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_lists_in_a_dry_run_then_removes(
    frames: list[Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    s = DataSession.create("cli", identity=ALICE)
    s.add_inputs(frames[:2])
    op = _done(s, input_files=s.inputs)
    s.delete()
    _age_store()
    folder = Path(op._record.folder)

    code, out, err = _cli(capsys, "--dry-run")
    assert code == 0 and err == ""
    assert "dry run: nothing removed" in out and "orphaned result" in out
    assert f"results/{folder.parent.name}/{folder.name}" in out
    assert "would free" in out and "2 orphaned frames" in out
    assert folder.is_dir()

    code, out, _ = _cli(capsys, "--dry-run", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["dry_run"] is True and len(answer["items"]) == 3
    assert answer["bytes"] == sum(i["bytes"] for i in answer["items"]) > 0

    code, out, _ = _cli(capsys)
    assert code == 0 and "3 removed" in out and "freed" in out and not folder.exists()
    code, out, _ = _cli(capsys, "--older-than", "0")
    assert code == 0 and "nothing removed" in out


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "inf"])
def test_the_command_refuses_a_bad_older_than(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["datalab", "cleanup", "--older-than", value])
    assert exit_.value.code == 2
    assert "--older-than: takes a number of days, 0 or more" in capsys.readouterr().err
