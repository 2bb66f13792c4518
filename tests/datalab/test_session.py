"""Data sessions on SQLite: frames in, operations as persisted jobs, results from the store,
outputs chained into inputs, bad requests refused at once, a killed worker, a cancel."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from sqlalchemy import func, select
from tests.datalab._frames import write_frame
from tests.datalab._support import registered_operation

from shiftdesk.datalab import DataSession, OperationCancelled, OperationInputError, operations
from shiftdesk.datalab.records import OperationRecord, ResultRecord, SessionInputRecord
from shiftdesk.errors import JobError, NotFound, PermissionDenied
from shiftdesk.identity import Identity
from shiftdesk.jobs import list_jobs
from shiftdesk.storage import Database, get_database

ALICE = Identity("alice")
BOB = Identity("bob", groups=frozenset({"m51-team"}))
MALLORY = Identity("mallory")

_SLOW_OP = """
import time
from shiftdesk.datalab.ops.base import Operation, files_field, number_field, object_schema


class Slow(Operation):
    name = "slow_test"
    title = "Slow"
    description = "Counts slowly, for the tests."
    version = "1.0"
    outputs = ("data",)
    schema = object_schema(
        {
            "input_files": files_field("Frames", "Any frames."),
            "steps": number_field("Steps", "How many.", default=400, minimum=1, integer=True),
        },
        ["input_files"],
    )

    def execute(self, values, ctx):
        for i in range(values["steps"]):
            ctx.report(i / values["steps"], f"step {i + 1}")
            time.sleep(0.05)
        return self.result(data={"steps": values["steps"]})
"""


@pytest.fixture
def slow_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An operation ``slow_test`` that runs for ~20 s in small steps, registered through a
    distribution of its own (on this process's path and its workers')."""
    yield from registered_operation(tmp_path / "plugin", monkeypatch, "slow_test", "slowop_test",
                                    "Slow", _SLOW_OP)  # fmt: skip


@pytest.fixture
def frames(tmp_path: Path) -> list[Path]:
    """Three small frames in one filter (the last tile-compressed)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    return [
        write_frame(folder / "m51_r_001.fits", stars=[(20, 20, 900)], noise=2, seed=1),
        write_frame(folder / "m51_r_002.fits", stars=[(20, 20, 1100)], noise=2, seed=2),
        write_frame(
            folder / "m51_r_003.fits.fz", stars=[(20, 20, 1000)], noise=2, seed=3, compressed=True
        ),
    ]


def _pixels(path: Path) -> np.ndarray:
    with fits.open(path) as hdul:
        return np.asarray(hdul["SCI"].data, dtype="f8")


def _count(model: Any, db: Database | None = None) -> int:
    with (db or get_database()).session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _wait_running(op: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (op.refresh().status == "running" and op.progress > 0):
        assert not op.finished, f"ended before it could be interrupted: {op!r}"
        assert time.monotonic() < deadline, f"never started: {op!r}"
        time.sleep(0.05)


# -- sessions and their frames ---------------------------------------------------------------


def test_create_list_open_and_frames_stored_once_per_content(
    frames: list[Path], tmp_path: Path
) -> None:
    s = DataSession.create("M51 night 1", identity=ALICE)
    added = s.add_inputs(frames)
    assert [i.name for i in added] == ["m51_r_001.fits", "m51_r_002.fits", "m51_r_003.fits.fz"]
    first = added[0]
    assert first.size == frames[0].stat().st_size and len(first.sha256) == 64
    assert first.filter == "rp" and first.date_obs == "2024-03-01T03:00:00"
    assert first.exptime == 60.0 and first.shape == (48, 64)
    assert added[2].shape == (48, 64)  # the tile-compressed frame's image, not its table
    assert os.fspath(first) == str(first.path) and first.path.is_file()
    # the same frame again, under another name, and in a second session: stored once
    copy = tmp_path / "renamed.fits"
    copy.write_bytes(frames[0].read_bytes())
    assert s.add_inputs([copy, frames[0]]) == [first, first]
    assert len(s.inputs) == 3
    other = DataSession.create("M51 night 2", identity=ALICE)
    assert other.add_inputs(copy)[0].path == first.path
    stored = list((first.path.parents[2]).rglob("*.fits*"))
    assert len(stored) == 3
    # listing and reopening
    assert [x.name for x in DataSession.list(identity=ALICE)] == ["M51 night 2", "M51 night 1"]
    again = DataSession.open(s.id, identity=ALICE)
    assert again.inputs == s.inputs and "3 frames" in repr(again)
    html = again._repr_html_()
    assert "m51_r_003.fits.fz" in html and "DATE-OBS" in html


def test_frames_that_are_not_images_are_refused_and_nothing_is_added(
    frames: list[Path], tmp_path: Path
) -> None:
    s = DataSession.create("bad", identity=ALICE)
    text = tmp_path / "notes.fits"
    text.write_text("not a FITS file at all\n" * 200)
    with pytest.raises(OperationInputError, match=r"notes\.fits: not a readable FITS") as err:
        s.add_inputs([frames[0], text])
    assert err.value.field == "inputs"
    table_only = tmp_path / "table.fits"
    columns = fits.BinTableHDU.from_columns([fits.Column("x", "E", array=np.arange(3.0))])
    fits.HDUList([fits.PrimaryHDU(), columns]).writeto(table_only)
    with pytest.raises(OperationInputError, match=r"table\.fits: holds no image data"):
        s.add_inputs([frames[1], table_only])
    with pytest.raises(OperationInputError, match=r"missing\.fits: no such file"):
        s.add_inputs([tmp_path / "missing.fits"])
    assert s.inputs == [] and _count(SessionInputRecord) == 0


# -- operations, the store, the chain ----------------------------------------------------------


def test_median_runs_as_a_job_repeats_from_the_store_and_chains_into_subtraction(
    frames: list[Path],
) -> None:
    s = DataSession.create("M51 night 1", identity=ALICE)
    s.add_inputs(frames)
    op = s.run("median", input_files=s.inputs)
    assert not op.cached and op.job_id is not None
    out = op.result(timeout=120)
    expected = np.median(np.stack([_pixels(p) for p in frames]), axis=0)
    np.testing.assert_allclose(_pixels(out.files[0]), expected, rtol=1e-6)
    assert out.images and all(p.is_file() for p in out.images)
    assert op.status == "done" and op.progress == 1.0 and op.outputs[0] == out.files[0]
    jobs = len(list_jobs(identity=ALICE))

    # identical request (frames named by their session names, in another order of keys):
    # served from the store, no job, at once
    started = time.perf_counter()
    again = s.run("median", input_files=[i.name for i in s.inputs])
    assert again.cached and again.job_id is None and again.status == "done"
    assert again.result().files == out.files
    assert time.perf_counter() - started < 2.0
    assert len(list_jobs(identity=ALICE)) == jobs

    # an output of the session chains into the next request, with its provenance
    sub = s.run("subtraction", input_files=s.inputs, subtraction_file=out.files[0])
    made = sub.result(timeout=120)
    assert len(made.files) == 3
    np.testing.assert_allclose(_pixels(made.files[0]), _pixels(frames[0]) - expected, atol=1e-3)
    used = {f["field"]: f for f in sub.inputs}
    assert used["subtraction_file"]["made_by"] == op.id and sub.upstream == [op.id]
    assert used["input_files"]["made_by"] is None
    history = s.operations
    assert [(o.operation, o.status, o.cached) for o in history] == [
        ("median", "done", False),
        ("median", "done", True),
        ("subtraction", "done", False),
    ]
    edges = s.graph()["edges"]
    assert {"from": f"op:{op.id}", "to": f"op:{sub.id}", "field": "subtraction_file"} in edges
    assert "(cached)" in repr(history[1]) and "served from the store" in history[1]._repr_html_()
    assert "subtraction" in s._repr_html_()

    # a frame that is not yet in the session is added by the request that names it
    extra = write_frame(frames[0].parent / "m51_r_004.fits", stars=[(20, 20, 800)], seed=4)
    third = s.run("normalization", input_files=[extra])
    assert [i.name for i in s.inputs][-1] == "m51_r_004.fits"
    third.cancel()


def test_a_new_operation_version_is_not_served_the_old_result(
    frames: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = DataSession.create("versions", identity=ALICE)
    s.add_inputs(frames[:2])
    first = s.run("median", input_files=s.inputs)
    first.wait(120)
    monkeypatch.setattr(type(operations.get("median")), "version", "1.0-new")
    newer = s.run("median", input_files=s.inputs)
    assert not newer.cached and newer.key != first.key
    # the worker has the old code: it refuses to store an output under the new key
    with pytest.raises(OperationInputError, match=r"version 1\.0 on this worker"):
        newer.result(timeout=120)
    assert newer.error_field == "operation"


# -- bad requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inputs", "field", "words"),
    [
        ("medain", {}, "operation", ["unknown operation 'medain'", "median, normalization"]),
        ("median", {"input_files": 1}, "input_files", ["1 file(s) given", "at least 2"]),
        (
            "subtraction",
            {"input_files": "big", "subtraction_file": 0},
            "input_files",
            ["big.fits", "40 x 32", "40 x 30"],
        ),
        ("stack", {"input_files": 3, "mode": "sideways"}, "mode", ["'sideways' is not one of"]),
        ("color_image", {"channels": 7}, "channels", ["7 item(s)", "at most 6"]),
        (
            "aperture_photometry",
            {"input_files": 3, "target": {"ra": 150.0, "dec": 2.0}, "aperture_radius": 500},
            "aperture_radius",
            ["above the maximum 100"],
        ),
        ("median", {"input_files": ["nowhere.fits", 0]}, "input_files", ["nowhere.fits"]),
    ],
)
def test_a_bad_request_raises_at_once_naming_the_field(
    frames: list[Path], name: str, inputs: dict[str, Any], field: str, words: list[str]
) -> None:
    s = DataSession.create("bad requests", identity=ALICE)
    s.add_inputs(frames)
    folder = frames[0].parent
    big = write_frame(folder / "big.fits", shape=(32, 40))
    small = write_frame(folder / "small.fits", shape=(30, 40))
    files = {0: s.inputs[0], 1: [s.inputs[0]], 3: s.inputs, "big": [big]}
    values: dict[str, Any] = {}
    for key, value in inputs.items():
        if key == "subtraction_file":
            values[key] = small
        elif key == "channels":
            values[key] = [{"file": s.inputs[0], "color": "#ffffff"}] * value
        elif isinstance(value, list):
            values[key] = [files[v] if isinstance(v, int) else v for v in value]
        else:
            values[key] = files.get(value, value) if not isinstance(value, dict) else value
    with pytest.raises(OperationInputError) as err:
        s.run(name, **values)
    assert err.value.field == field
    for word in words:
        assert word in str(err.value)
    assert _count(OperationRecord) == 0 and list_jobs(identity=ALICE) == []
    assert len(s.inputs) == 3  # a refused request adds no frame either


def test_a_failure_found_while_running_shows_the_field_and_reason(frames: list[Path]) -> None:
    s = DataSession.create("nan", identity=ALICE)
    blank = write_frame(frames[0].parent / "blank.fits", np.full((48, 64), np.nan))
    op = s.run("median", input_files=[frames[0], blank])
    with pytest.raises(OperationInputError, match=r"blank\.fits.*no finite pixel") as err:
        op.result(timeout=120)
    assert err.value.field == "input_files"
    assert op.status == "failed" and op.error_field == "input_files"
    assert "no finite pixel" in repr(op) and "no finite pixel" in op._repr_html_()
    assert _count(ResultRecord) == 0 and not Path(op._record.folder or "/nonexistent").exists()


# -- a dead worker, a cancel ---------------------------------------------------------------------


def test_a_worker_killed_halfway_fails_the_operation_and_nothing_else_changes(
    frames: list[Path], slow_op: str
) -> None:
    s = DataSession.create("kill", identity=ALICE)
    s.add_inputs(frames[:2])
    op = s.run(slow_op, input_files=s.inputs)
    _wait_running(op)
    job = op.job
    assert job is not None and job.refresh()._record.pid
    os.kill(int(job._record.pid), signal.SIGKILL)
    op.wait(timeout=60)
    assert op.status == "failed"
    assert "killed" in (op.error or "") and op.progress > 0  # how far it got
    with pytest.raises(JobError, match="failed"):
        op.result()
    assert len(s.inputs) == 2 and _count(ResultRecord) == 0
    assert not Path(op._record.folder or "/nonexistent").exists()
    # the session goes on: the same request runs again (not served a broken result)
    again = s.run(slow_op, input_files=s.inputs, steps=1)
    assert not again.cached and again.result(timeout=120).data == {"steps": 1}


def test_cancel_a_running_operation(frames: list[Path], slow_op: str) -> None:
    s = DataSession.create("cancel", identity=ALICE)
    s.add_inputs(frames[:1])
    op = s.run(slow_op, input_files=s.inputs)
    _wait_running(op)
    op.cancel()
    op.wait(timeout=60)
    assert op.status == "cancelled"
    with pytest.raises(OperationCancelled):
        op.result()
    assert _count(ResultRecord) == 0
    # cancelled work is never served: the same request runs
    assert not s.run(slow_op, input_files=s.inputs).cached


# -- who sees what (SQLite: the core's checks; PostgreSQL: see test_session_postgres) ----------


def test_results_are_scoped_to_their_owner_and_the_sessions_shared_with_others(
    frames: list[Path],
) -> None:
    alice = DataSession.create("alice's", identity=ALICE)
    alice.add_inputs(frames)
    done = alice.run("median", input_files=alice.inputs)
    files = done.result(timeout=120).files

    # another user's identical request never sees it
    mine = DataSession.create("mallory's", identity=MALLORY)
    mine.add_inputs(frames)
    other = mine.run("median", input_files=mine.inputs)
    assert not other.cached
    other.cancel()
    with pytest.raises(PermissionDenied, match="not shared"):
        DataSession.open(alice.id, identity=MALLORY)
    assert [x.name for x in DataSession.list(identity=MALLORY)] == ["mallory's"]

    # shared with a project: its members read it, and are served its results
    alice.share(project="m51-team")
    assert alice.shared_with == ("group:m51-team",)
    seen = DataSession.open(alice.id, identity=BOB)
    assert seen.read_only and [o.status for o in seen.operations] == ["done"]
    assert seen.operations[0].result().files == files
    with pytest.raises(PermissionDenied, match="may read it but not run"):
        seen.run("median", input_files=seen.inputs)
    with pytest.raises(PermissionDenied):
        seen.add_inputs(frames[:1])
    bobs = DataSession.create("bob's", identity=BOB)
    bobs.add_inputs(frames)
    served = bobs.run("median", input_files=bobs.inputs)
    assert served.cached and served.result().files == files
    assert {s.name for s in DataSession.list(identity=BOB)} == {"alice's", "bob's"}

    # no longer shared: nothing more is served (what was served stays readable by path)
    alice.unshare()
    assert not bobs.run("median", input_files=bobs.inputs).cached
    with pytest.raises(PermissionDenied):
        DataSession.open(alice.id, identity=BOB)
    for op in bobs.operations:
        if not op.finished:
            op.cancel()


def test_a_deleted_session_is_gone_and_its_results_stay_in_the_store(frames: list[Path]) -> None:
    s = DataSession.create("short-lived", identity=ALICE)
    s.add_inputs(frames[:2])
    key = s.run("median", input_files=s.inputs)
    key.wait(120)
    s.delete()
    with pytest.raises(NotFound):
        DataSession.open(s.id, identity=ALICE)
    assert _count(OperationRecord) == 0 and _count(SessionInputRecord) == 0
    fresh = DataSession.create("again", identity=ALICE)
    fresh.add_inputs(frames[:2])
    assert fresh.run("median", input_files=fresh.inputs).cached


def test_the_job_spec_is_json_naming_the_operation_version_inputs_and_folder(
    frames: list[Path],
) -> None:
    s = DataSession.create("spec", identity=ALICE)
    s.add_inputs(frames[:2])
    op = s.run("median", input_files=s.inputs)
    job = op.job
    assert job is not None
    spec = job.spec
    assert set(spec) == {"operation", "version", "inputs", "folder", "key"}
    assert spec["inputs"]["input_files"] == [str(i.path) for i in s.inputs]
    assert json.loads(json.dumps(spec)) == spec and spec["key"] == op.key
    assert job.result(timeout=120).files == op.result().files
