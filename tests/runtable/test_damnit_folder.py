"""Reading DAMNIT folders: every value kind of format v4, the older formats, and refusals."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from tests.runtable.damnit_fixture import (
    COMPUTED,
    T0,
    USER,
    WRITTEN_AT,
    expected_value,
    make_damnit_folder,
    make_damnit_sqlite_bulk,
    png_bytes,
    trendline,
)

from shiftdesk.errors import DataError
from shiftdesk.runtable.damnit_folder import (
    DamnitFolder,
    DamnitFolderError,
    read_damnit_folder,
)

RUNS = 5  # runs 1-4 processed, run 5 pre-created
PROCESSED = [1, 2, 3, 4]


@pytest.fixture(scope="module")
def v4_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_damnit_folder(tmp_path_factory.mktemp("damnit") / "amore", runs=RUNS)


@pytest.fixture(scope="module")
def v4(v4_folder: Path) -> DamnitFolder:
    return read_damnit_folder(v4_folder)


def _check_cell(folder: DamnitFolder, run: int, name: str) -> None:
    cell = folder.value(run, name)
    exp = expected_value(name, run)
    assert cell is not None, (run, name)
    assert cell.kind == exp["kind"], (run, name, cell)
    if "number" in exp:
        assert cell.number == pytest.approx(exp["number"]), (run, name)
        assert type(cell.number) is {"integer": int, "boolean": bool}.get(exp["kind"], float)
    if "text" in exp:
        assert cell.text == exp["text"]
    if "blob" in exp:
        assert cell.blob == exp["blob"]
    if "max_diff" in exp:
        assert cell.max_diff == pytest.approx(exp["max_diff"])
    if "units" in exp:
        assert cell.attributes["units"] == exp["units"]
    if "error" in exp:
        assert cell.text == exp["error"]
        assert cell.attributes == {"error": exp["error"], "error_cls": exp["error_cls"]}
        assert cell.value is None
    if "array" in exp:
        array = np.load(io.BytesIO(cell.blob or b""), allow_pickle=False)
        assert array.dtype == np.float32 and array.shape == exp["array"].shape
        np.testing.assert_allclose(array, exp["array"])
    if "complex" in exp:
        assert cell.value == exp["complex"]


# -- format v4, complete -----------------------------------------------------------------------


def test_v4_folder_metadata(v4: DamnitFolder, v4_folder: Path) -> None:
    assert v4.path == v4_folder
    assert v4.format_version == 4
    assert v4.proposal == 1234
    assert v4.context_text is not None
    assert "from damnit_ctx import Cell, Skip, Variable" in v4.context_text
    assert v4.metameta["concurrent_jobs"] == 15
    assert len(v4.metameta["db_id"]) == 40
    assert [c.comment for c in v4.time_comments] == ["beam lost at 09:30", "sample changed"]
    assert v4.time_comments[0].timestamp == datetime.fromtimestamp(T0 + 1800.0, UTC)


def test_v4_runs_have_utc_start_times_and_a_pre_created_run(v4: DamnitFolder) -> None:
    assert [r.run for r in v4.runs] == [1, 2, 3, 4, 5]
    for r in v4.runs[:4]:
        assert r.start_time == datetime.fromtimestamp(T0 + 600.0 * r.run, UTC)
        assert r.start_time.tzinfo is UTC
        assert r.added_at == datetime.fromtimestamp(T0 + 600.0 * r.run + 5, UTC)
    assert v4.runs[4].start_time is None  # created before the DAQ took it
    assert v4.runs[4].added_at is not None


def test_v4_every_value_kind_is_read(v4: DamnitFolder) -> None:
    names = [*COMPUTED, *USER, "comment"]
    for run in PROCESSED:
        for name in names:
            if name == "good" and run == 2:
                assert v4.value(run, name) is None  # never typed in
                continue
            _check_cell(v4, run, name)
    kinds = {v.kind for v in v4.values}
    assert kinds == {
        "number", "integer", "boolean", "string", "complex", "timestamp", "thumbnail",
        "sparkline", "text", "error", "skipped",
    }  # fmt: skip


def test_v4_values_carry_provenance_timestamp_and_python_values(v4: DamnitFolder) -> None:
    energy = v4.value(1, "xgm_energy")
    assert energy is not None
    assert energy.provenance == "context.py"
    assert energy.summary_method == "mean"
    assert energy.timestamp == datetime.fromtimestamp(WRITTEN_AT + 1, UTC)
    assert energy.value == pytest.approx(1.75)
    comment = v4.value(3, "comment")
    assert comment is not None and comment.provenance == ""
    start = v4.value(2, "scan_start")
    assert start is not None
    assert start.value == datetime.fromtimestamp(T0 + 1230.0, UTC)
    image = v4.value(1, "detector_image")
    assert image is not None and image.value == png_bytes(seed=1)
    line = v4.value(3, "trace")
    assert line is not None
    np.testing.assert_allclose(line.value, trendline(3).astype(np.float32))
    good4, good3, scan = v4.value(4, "good"), v4.value(3, "good"), v4.value(1, "motor_scan")
    assert good4 is not None and good4.value is True
    assert good3 is not None and good3.value is False
    assert scan is not None and scan.attributes == {"bold": True}


def test_v4_latest_version_wins(v4: DamnitFolder) -> None:
    cell = v4.value(1, "n_trains")
    assert cell is not None and cell.number == 101 and cell.version == 2
    assert sum(1 for v in v4.values if (v.run, v.name) == (1, "n_trains")) == 1


def test_v4_pre_created_run_has_only_its_comment(v4: DamnitFolder) -> None:
    assert [(v.name, v.text) for v in v4.values if v.run == 5] == [
        ("comment", "planned: LaB6 reference")
    ]


def test_v4_variables_typed_titled_and_tagged(v4: DamnitFolder) -> None:
    by_name = {v.name: v for v in v4.variables}
    assert set(by_name) == {*COMPUTED, *USER, "comment"}
    for name, (title, description, tags) in COMPUTED.items():
        var = by_name[name]
        assert (var.type, var.title, var.description) == (None, title, description)
        assert var.tags == sorted(tags)
    for name, (kind, title) in USER.items():
        assert (by_name[name].type, by_name[name].title) == (kind, title)
    assert (by_name["comment"].type, by_name["comment"].title) == ("string", "Comment")
    assert v4.variable("xgm_energy").tags == ["beam", "xgm"]
    with pytest.raises(KeyError):
        v4.variable("nope")


def test_v4_h5_files_found_and_in_damnit_layout(v4: DamnitFolder, v4_folder: Path) -> None:
    import h5py
    import xarray as xr

    assert v4.h5_files == {
        run: v4_folder / "extracted_data" / f"p1234_r{run}.h5" for run in PROCESSED
    }
    path = v4.h5_files[2]
    with h5py.File(path, "r") as f:
        assert f[".reduced/xgm_energy"].attrs["summary_method"] == "mean"
        assert f[".reduced/trace"].attrs["summary_type"] == "trendline"
        assert f[".errors/bad"].attrs["type"] == "ZeroDivisionError"
        assert f[".errors/motor_scan"].attrs["type"] == "Skip"
        assert f["trace"].attrs["_damnit_objtype"] == "dataarray"
        assert f["detector_image/data"].shape == (8, 12)
        assert bytes(f[".reduced/detector_image"][()]) == png_bytes(seed=2)
    trace = xr.load_dataarray(path, group="trace", engine="h5netcdf")
    assert trace.dims == ("trainId",) and trace.attrs["units"] == "µJ"


def test_h5_fragments_and_other_proposals_are_left_out(tmp_path: Path) -> None:
    folder = make_damnit_folder(tmp_path / "amore", runs=2, with_h5=True)
    data = folder / "extracted_data"
    (data / "p1234_r1.0a1b2c.writing.h5").write_bytes(b"")
    (data / "p1234_r9.0a1b2c.ready.h5").write_bytes(b"")
    (data / "p999_r3.h5").write_bytes(b"")
    assert sorted(read_damnit_folder(folder).h5_files) == [1, 2]


def test_folder_without_h5_or_context(tmp_path: Path) -> None:
    folder = make_damnit_folder(tmp_path / "amore", runs=3, with_h5=False, user_variables=False)
    (folder / "context.py").unlink()
    got = read_damnit_folder(folder)
    assert got.h5_files == {}
    assert got.context_text is None
    assert not {v.name for v in got.variables} & set(USER)


# -- older formats ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2, 3])
def test_older_formats_are_read(tmp_path: Path, version: int) -> None:
    got = read_damnit_folder(make_damnit_folder(tmp_path / "amore", runs=RUNS, version=version))
    assert got.format_version == version
    assert [r.run for r in got.runs] == [1, 2, 3, 4, 5]
    for run in PROCESSED:
        for name in [*COMPUTED, *USER, "comment"]:
            if name == "good" and run == 2:
                continue
            exp = expected_value(name, run)
            if version > 1:
                _check_cell(got, run, name)
                continue
            cell = got.value(run, name)
            if exp["kind"] in ("error", "skipped"):
                assert cell is None  # no attributes column: DAMNIT had no place for them
            else:
                assert cell is not None and cell.kind == exp["kind"] and cell.attributes == {}
    tags = {v.name: v.tags for v in got.variables}
    assert tags["xgm_energy"] == (["beam", "xgm"] if version >= 3 else [])


def test_missing_version_key_is_inferred_from_the_schema(tmp_path: Path) -> None:
    folder = make_damnit_folder(tmp_path / "amore", runs=2, version=2, with_h5=False)
    with sqlite3.connect(folder / "runs.sqlite") as conn:
        conn.execute("DELETE FROM metameta WHERE key = 'data_format_version'")
    conn.close()
    assert read_damnit_folder(folder).format_version == 2


# -- refusals --------------------------------------------------------------------------------


def test_v0_is_refused_with_the_migration_command(tmp_path: Path) -> None:
    folder = make_damnit_folder(tmp_path / "amore", version=0)
    with pytest.raises(DamnitFolderError) as info:
        read_damnit_folder(folder)
    message = str(info.value)
    assert "is DAMNIT format v0 (one column per variable)" in message
    assert "run `damnit migrate v0-to-v1` with DAMNIT first, then import" in message
    assert isinstance(info.value, DataError)


def test_a_newer_format_is_refused_by_number(tmp_path: Path) -> None:
    folder = make_damnit_folder(tmp_path / "amore", runs=2, with_h5=False)
    with sqlite3.connect(folder / "runs.sqlite") as conn:
        conn.execute("UPDATE metameta SET value = 7 WHERE key = 'data_format_version'")
    conn.close()
    with pytest.raises(DamnitFolderError, match=r"DAMNIT format v7, newer than .* \(v1-v4\)"):
        read_damnit_folder(folder)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DamnitFolderError, match="does not exist"):
        read_damnit_folder(tmp_path / "nowhere")
    a_file = tmp_path / "runs.sqlite"
    a_file.write_bytes(b"")
    with pytest.raises(DamnitFolderError, match="is not a folder"):
        read_damnit_folder(a_file)


def test_no_runs_sqlite(tmp_path: Path) -> None:
    with pytest.raises(DamnitFolderError) as info:
        read_damnit_folder(tmp_path)
    assert str(info.value) == f"{tmp_path} is not a DAMNIT folder: it has no runs.sqlite"


def test_a_corrupt_database(tmp_path: Path) -> None:
    (tmp_path / "runs.sqlite").write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(DamnitFolderError, match="cannot be read as a DAMNIT database"):
        read_damnit_folder(tmp_path)


def test_a_truncated_database(tmp_path: Path) -> None:
    folder = make_damnit_folder(tmp_path / "amore", runs=4, with_h5=False)
    db = folder / "runs.sqlite"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    with pytest.raises(DamnitFolderError, match=r"cannot be read|no table"):
        read_damnit_folder(folder)


def test_a_sqlite_file_that_is_not_damnit(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:
        conn.execute("CREATE TABLE metameta(key PRIMARY KEY NOT NULL, value)")
        conn.execute("INSERT INTO metameta VALUES ('data_format_version', 4)")
    conn.close()
    with pytest.raises(DamnitFolderError, match="has no table run_info, run_variables"):
        read_damnit_folder(tmp_path)


def test_a_user_value_of_the_wrong_type_becomes_an_error_cell(tmp_path: Path) -> None:
    folder = make_damnit_folder(tmp_path / "amore", runs=2, with_h5=False)
    with sqlite3.connect(folder / "runs.sqlite") as conn:
        conn.execute("UPDATE run_variables SET value = 'lots' WHERE run = 1 AND name = 'shots'")
        conn.execute("UPDATE run_variables SET value = 'yes' WHERE run = 1 AND name = 'good'")
        conn.execute("UPDATE run_variables SET value = '4.0' WHERE run = 2 AND name = 'shots'")
    conn.close()
    got = read_damnit_folder(folder)
    shots = got.value(1, "shots")
    assert shots is not None and shots.kind == "error"
    assert shots.text is not None and "'lots' is not a valid integer" in shots.text
    good, shots2 = got.value(1, "good"), got.value(2, "shots")
    assert good is not None and good.value is True
    assert shots2 is not None and shots2.value == 4 and shots2.kind == "integer"


def test_a_locked_database_is_waited_for_then_refused(tmp_path: Path) -> None:
    folder = make_damnit_folder(tmp_path / "amore", runs=2, with_h5=False)
    writer = sqlite3.connect(folder / "runs.sqlite", isolation_level=None, check_same_thread=False)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        t0 = time.monotonic()
        with pytest.raises(DamnitFolderError, match="stayed locked by another process"):
            read_damnit_folder(folder, lock_timeout=0.3)
        assert time.monotonic() - t0 < 5

        release = threading.Timer(0.4, lambda: writer.execute("COMMIT"))
        release.start()
        try:
            assert read_damnit_folder(folder, lock_timeout=10).format_version == 4
        finally:
            release.join()
    finally:
        writer.close()


_READ_SCRIPT = (
    "import sys\n"
    "from shiftdesk.runtable.damnit_folder import read_damnit_folder\n"
    "f = read_damnit_folder(sys.argv[1])\n"
    "print(f.format_version, len(f.runs), len(f.values), len(f.h5_files))\n"
)


def _others_may_run(program: str) -> bool:
    """Whether a user who owns nothing here may reach and run ``program`` (and its venv)."""
    path = Path(program).absolute()
    reachable = all(p.stat().st_mode & 0o001 for p in path.parents)
    return reachable and bool(path.stat().st_mode & 0o001)


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_read_only_folder_is_read_and_left_untouched(journal: str) -> None:
    # As root chmod does not stop writes, so the reader then runs as "nobody" (who owns
    # nothing here); otherwise the folder is made read-only for this user.
    base = Path(tempfile.mkdtemp(prefix="shiftdesk-damnit-ro-"))
    try:
        base.chmod(0o755)
        folder = make_damnit_folder(base / "amore", runs=3)
        cells = len(read_damnit_folder(folder).values)
        conn = sqlite3.connect(folder / "runs.sqlite")
        conn.execute(f"PRAGMA journal_mode = {journal}").fetchone()
        conn.close()  # the last connection of a WAL database removes -wal and -shm
        before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
        for p in [folder, *folder.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        command = [sys.executable, "-c", _READ_SCRIPT, str(folder)]
        # as "nobody" when it can run this interpreter (not from a checkout in a private
        # folder, as CI's may be): then the files' modes are what keeps the folder untouched
        nobody = {"user": 65534, "group": 65534, "extra_groups": []}  # none of root's groups
        as_nobody = nobody if os.geteuid() == 0 and _others_may_run(sys.executable) else {}
        out = subprocess.run(
            command, capture_output=True, text=True, cwd="/", timeout=60, check=False, **as_nobody
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["4", "3", str(cells), "2"]
        after = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
        if os.geteuid() == 0 and not as_nobody:
            # root despite the modes: SQLite may add a WAL reader's side files, nothing more
            side = {folder / "runs.sqlite-wal", folder / "runs.sqlite-shm"}
            assert set(after) - set(before) <= side
            after = {p: t for p, t in after.items() if p not in side}
        assert after == before
    finally:
        for p in [base, *base.rglob("*")]:
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


# -- the bench's bulk database ---------------------------------------------------------------


def test_bulk_generator_shape(tmp_path: Path) -> None:
    folder = make_damnit_sqlite_bulk(tmp_path / "bulk", runs=30, variables=12, seed=1)
    assert folder == tmp_path / "bulk"
    with sqlite3.connect(folder / "runs.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM run_variables").fetchone() == (360,)
        assert conn.execute("SELECT count(*) FROM run_info").fetchone() == (30,)
        assert conn.execute("SELECT count(*) FROM variables").fetchone() == (12,)
        kinds = dict(conn.execute("SELECT typeof(value), count(*) FROM run_variables GROUP BY 1"))
        assert kinds == {"real": 330, "text": 30}
        objects = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"runs", "max_diffs", "delete_orphan_tags_after_variable_tag_delete"} <= objects
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (30,)
    conn.close()
    got = read_damnit_folder(folder)
    assert got.format_version == 4 and len(got.values) == 360 and len(got.runs) == 30
    assert {v.kind for v in got.values} == {"number", "string"}
    again = make_damnit_sqlite_bulk(tmp_path / "bulk2", runs=30, variables=12, seed=1)
    assert (again / "runs.sqlite").read_bytes() == (folder / "runs.sqlite").read_bytes()


def test_complex_blob_round_trip(v4: DamnitFolder) -> None:
    cell = v4.value(2, "phase")
    assert cell is not None and cell.blob == struct.pack("<dd", 2.0, -2.0)
    assert cell.value == complex(2, -2)


def test_odd_cells_are_read_without_failing(tmp_path: Path) -> None:
    from tests.runtable.damnit_fixture import npy_bytes

    folder = make_damnit_folder(tmp_path / "amore", runs=2, with_h5=False)
    rows = [
        ("deleted", None, None, None),  # DAMNIT "deletes" a value by NULLing the row
        ("line", npy_bytes(np.array([3.0, 1.0, 2.0])), "numpy", None),
        ("zero_d", npy_bytes(np.array(2.5)), "numpy", None),
        ("opaque", b"\x00\x01\x02", None, None),
        ("bad_json", 7, None, "{not json"),
        ("huge_time", 1e300, None, None),
    ]
    with sqlite3.connect(folder / "runs.sqlite") as conn:
        conn.executemany(
            "INSERT INTO run_variables (proposal, run, name, version, value, timestamp, "
            "summary_type, attributes) VALUES (1234, 1, ?, 1, ?, ?, ?, ?)",
            [(name, value, 1e300 if name == "huge_time" else WRITTEN_AT, st, attrs)
             for name, value, st, attrs in rows],
        )  # fmt: skip
        conn.execute(
            "INSERT INTO run_variables (proposal, run, name, version, value) "
            "VALUES (999, 1, 'other_proposal', 1, 1.0)"
        )
    conn.close()
    got = read_damnit_folder(folder)
    kinds = {name: got.value(1, name) for name, *_ in rows}
    assert {name: v.kind for name, v in kinds.items() if v} == {
        "deleted": "empty",
        "line": "sparkline",
        "zero_d": "number",
        "opaque": "text",
        "bad_json": "integer",
        "huge_time": "number",
    }
    np.testing.assert_array_equal(kinds["line"].value, [[0, 1, 2], [3, 1, 2]])  # type: ignore[union-attr]
    assert kinds["opaque"].text == "<3 bytes>"  # type: ignore[union-attr]
    assert kinds["bad_json"].attributes == {"unparsed": "{not json"}  # type: ignore[union-attr]
    assert kinds["huge_time"].timestamp is None  # type: ignore[union-attr]
    assert got.value(1, "other_proposal") is None


def test_a_subset_of_variables(tmp_path: Path) -> None:
    import h5py

    folder = make_damnit_folder(tmp_path / "amore", runs=2, variables=["xgm_energy", "bad"])
    got = read_damnit_folder(folder)
    computed = {v.name for v in got.variables if v.type is None}
    assert computed == {"xgm_energy", "bad"}
    with h5py.File(got.h5_files[1], "r") as f:
        assert set(f) == {".reduced", ".errors", "xgm_energy"}
        assert set(f[".reduced"]) == {"xgm_energy"} and set(f[".errors"]) == {"bad"}
    with pytest.raises(ValueError, match="unknown fixture variables"):
        make_damnit_folder(tmp_path / "other", variables=["nope"])
