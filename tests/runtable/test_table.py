"""The run table's core without a context file: rows, typed values, submissions, people,
changes, export, and the refusals (every test on a real database)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shiftdesk.errors import DataError, NotFound, PermissionDenied, StorageError
from shiftdesk.identity import Identity
from shiftdesk.runtable import RunTable, ValueTypeError
from shiftdesk.storage import Database

ALICE = Identity("alice")
BOB = Identity("bob")
CAROL = Identity("carol", groups=frozenset({"operators"}))


@pytest.fixture
def rt(tmp_path: Path) -> RunTable:
    table = RunTable.create(
        "p4507", data=str(tmp_path / "raw" / "r{run:04d}"), identity=ALICE,
        members=["bob"], editors=["group:operators"],
    )  # fmt: skip
    for run in (1, 2, 3):
        table.add_run(run)
    return table


def test_create_open_list_and_the_builtin_columns(rt: RunTable, tmp_path: Path) -> None:
    assert RunTable.open("p4507", identity=BOB).owner == "alice"
    assert RunTable.list(identity=BOB) == ["p4507"]
    assert RunTable.list(identity=Identity("mallory")) == []
    assert list(rt.columns()) == ["start_time", "comment"]
    assert rt.runs() == [1, 2, 3] and len(rt) == 3 and 2 in rt and 9 not in rt
    assert rt.run_path(7) == tmp_path / "raw" / "r0007"
    assert rt.folder.is_dir()
    frame = rt.table()
    assert frame.index.name == "run" and list(frame.index) == [1, 2, 3]
    assert list(frame.columns) == ["start_time", "comment"]
    assert isinstance(frame["start_time"].dtype, pd.DatetimeTZDtype)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": "/data/raw"}, "no {run} field"),
        ({"data": "/data/{run}/{instrument}"}, "names 'instrument'"),
        ({"data": "/d/r{run}", "concurrent_jobs": 0}, "at least 1"),
        ({"data": "/d/r{run}", "time_limit": 0}, "positive number of seconds"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_stored(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunTable.create("p1", identity=ALICE, **kwargs)
    assert RunTable.list(identity=ALICE) == []


def test_bad_names_and_a_taken_name(rt: RunTable) -> None:
    for bad in ("", "has space", "../up", "x" * 200):
        with pytest.raises(ValueError, match="cannot name a run table"):
            RunTable.create(bad, data="/d/r{run}", identity=ALICE)
    with pytest.raises(FileExistsError, match=r"RunTable\.open"):
        RunTable.create("p4507", data="/d/r{run}", identity=BOB)
    with pytest.raises(NotFound, match="no run table 'nope'"):
        RunTable.open("nope", identity=ALICE)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RunTable.create("p2", data="/d/r{run}", context="missing_context.py", identity=ALICE)


def test_typed_user_values_and_comments(rt: RunTable) -> None:
    rt.add_user_variable("sample", type="string")
    rt.add_user_variable("temperature", type="number", units="K")
    rt.add_user_variable("shots", type="integer")
    rt.add_user_variable("good", type="boolean")
    rt.set(3, "sample", "LaB6")
    rt.set(3, "comment", "beam lost at 12:03")
    rt.set(1, "temperature", "291.5")
    rt.set(2, "shots", 4.0)
    rt.set(2, "good", "yes")
    frame = rt.table()
    assert frame.loc[3, "sample"] == "LaB6" and frame.loc[3, "comment"] == "beam lost at 12:03"
    assert frame.loc[1, "temperature"] == 291.5
    assert frame["shots"].dtype == "Int64" and frame.loc[2, "shots"] == 4
    assert frame["good"].dtype == "boolean" and bool(frame.loc[2, "good"])
    assert pd.isna(frame.loc[1, "shots"])
    cell = rt.cells([3], ["sample"])[(3, "sample")]
    assert (cell.who, cell.provenance) == ("alice", "user") and cell.at is not None
    rt.set(3, "sample", None)
    assert rt.table().loc[3, "sample"] is None


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("shots", 2.5, "not a whole number"),
        ("shots", "many", "not a number"),
        ("shots", True, "give a number"),
        ("temperature", float("nan"), "not a finite number"),
        ("temperature", [1, 2], "give a number"),
        ("good", "perhaps", "True or False"),
        ("sample", 3, "give text"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(
    rt: RunTable, column: str, value: object, message: str
) -> None:
    rt.add_user_variable("sample", "string")
    rt.add_user_variable("temperature", "number")
    rt.add_user_variable("shots", "integer")
    rt.add_user_variable("good", "boolean")
    rt.set(1, column, {"sample": "x", "temperature": 1.0, "shots": 1, "good": False}[column])
    before = rt.table()
    with pytest.raises(ValueTypeError, match=message):
        rt.set(1, column, value)
    pd.testing.assert_frame_equal(rt.table(), before)


def test_user_columns_are_checked(rt: RunTable) -> None:
    with pytest.raises(ValueError, match="not a user-variable type"):
        rt.add_user_variable("x", type="float")
    with pytest.raises(ValueError, match="cannot name a column"):
        rt.add_user_variable("comment", type="string")
    with pytest.raises(ValueError, match="cannot name a column"):
        rt.add_user_variable("two words", type="string")
    rt.add_user_variable("x", "number")
    assert rt.add_user_variable("x", "number").type == "number"  # the same again: fine
    with pytest.raises(ValueError, match="has a column 'x' already"):
        rt.add_user_variable("x", "string")
    with pytest.raises(NotFound, match="no column 'y'"):
        rt.set(1, "y", 1)
    with pytest.raises(NotFound, match="no run 9"):
        rt.set(9, "comment", "hello")


def test_submitted_values_from_an_external_program(rt: RunTable) -> None:
    assert rt.submit(3, {"sample_temp": 291.5, "gas": "He", "valve": True}, provenance="cryostat",
                     units={"sample_temp": "K"}) == 3  # fmt: skip
    assert rt.submit(8, {"sample_temp": 4.2}, provenance="cryostat") == 1
    frame = rt.table()
    assert frame.loc[3, "sample_temp"] == 291.5 and frame.loc[3, "gas"] == "He"
    assert 8 in rt and frame.loc[8, "sample_temp"] == 4.2
    assert rt.columns()["sample_temp"].units == "K"
    assert rt.columns()["sample_temp"].source == "submitted"
    assert rt.cells([3])[(3, "gas")].provenance == "cryostat"
    with pytest.raises(ValueTypeError, match="numbers, booleans, text or dates"):
        rt.submit(3, {"trace": [1.0, 2.0]})
    with pytest.raises(DataError, match="user column"):
        rt.submit(3, {"comment": "from outside"})
    assert rt.table().loc[3, "comment"] is None


def test_readers_read_editors_edit_others_are_refused(rt: RunTable) -> None:
    as_bob = RunTable.open("p4507", identity=BOB)
    assert not as_bob.can_edit
    assert list(as_bob.table().index) == [1, 2, 3]
    for attempt, what in [
        (lambda: as_bob.set(1, "comment", "hi"), "change values"),
        (lambda: as_bob.add_run(4), "add runs"),
        (lambda: as_bob.submit(1, {"x": 1}), "submit values"),
        (lambda: as_bob.add_user_variable("x", "number"), "add columns"),
        (lambda: as_bob.save_context("x = 1\n"), "context file"),
        (lambda: as_bob.set_people(members=["*"]), "who may see"),
    ]:
        with pytest.raises(PermissionDenied, match=what):
            attempt()
    as_carol = RunTable.open("p4507", identity=CAROL)
    assert as_carol.can_edit
    as_carol.set(1, "comment", "carol was here")
    assert rt.table().loc[1, "comment"] == "carol was here"
    with pytest.raises(PermissionDenied, match="may not see"):
        RunTable.open("p4507", identity=Identity("mallory"))
    rt.set_people(members=["*"])
    assert RunTable.open("p4507", identity=Identity("mallory")).can_edit is False
    # rights are checked as they are now: an open handle of a removed editor is refused
    rt.set_people(editors=[])
    with pytest.raises(PermissionDenied, match="change values"):
        as_carol.set(1, "comment", "after removal")


def test_changes_name_the_runs_that_changed(rt: RunTable) -> None:
    start = rt.seq
    assert not rt.changes(start)
    rt.set(2, "comment", "note")
    changed = rt.changes(start)
    assert changed.runs == {2} and not changed.columns and changed.seq > start
    rt.add_run(5)
    rt.add_user_variable("sample", "string")
    later = rt.changes(changed.seq)
    assert later.runs == {5} and later.columns


def test_view_settings_are_per_user(rt: RunTable) -> None:
    rt.save_view_settings({"hidden": ["comment"], "order": ["start_time"]})
    assert rt.view_settings()["hidden"] == ["comment"]
    assert RunTable.open("p4507", identity=BOB).view_settings() == {}
    with pytest.raises(ValueError, match="JSON-ready"):
        rt.save_view_settings({"bad": object()})


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".md"])
def test_export(rt: RunTable, tmp_path: Path, suffix: str) -> None:
    rt.set(2, "comment", "two")
    path = rt.export(tmp_path / f"out{suffix}")
    assert path.exists()
    if suffix == ".csv":
        back = pd.read_csv(path, index_col="run")
        assert back.loc[2, "comment"] == "two"
    elif suffix == ".xlsx":
        back = pd.read_excel(path, index_col="run")
        assert back.loc[2, "comment"] == "two"
    else:
        assert "| two" in path.read_text()
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(ValueError, match=r"\.csv, \.xlsx or \.md"):
        rt.export(tmp_path / "out.json")


def test_a_read_only_database_refuses_writes_with_a_clear_message(rt: RunTable) -> None:
    # a read-only connection (tests run as root, for whom file modes do not stop writes)
    path = rt.database.url.removeprefix("sqlite:///")
    readonly = Database(f"sqlite:///file:{path}?mode=ro&uri=true", migrate=False)
    try:
        reader = RunTable.open("p4507", database=readonly, identity=ALICE)
        assert list(reader.table().index) == [1, 2, 3]
        with pytest.raises(Exception, match=r"(?i)read-only|readonly"):
            reader.set(1, "comment", "x")
        assert rt.table().loc[1, "comment"] is None
    finally:
        readonly.dispose()


def test_a_locked_database_gives_a_clear_error_and_nothing_half_written(rt: RunTable) -> None:
    import sqlite3

    path = rt.database.url.removeprefix("sqlite:///")
    impatient = Database(rt.database.url, migrate=False, busy_timeout=0.3)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        table = RunTable.open("p4507", database=impatient, identity=ALICE)
        with pytest.raises(StorageError, match="locked by another process"):
            table.set(1, "comment", "while locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        impatient.dispose()
    assert rt.table().loc[1, "comment"] is None
    rt.set(1, "comment", "after the lock")
    assert rt.table().loc[1, "comment"] == "after the lock"


def test_objects_show_themselves_in_a_notebook(rt: RunTable) -> None:
    rt.set(2, "comment", "<b>not bold</b>")
    html = rt._repr_html_()
    assert "RunTable" in html and "&lt;b&gt;not bold&lt;/b&gt;" in html
    assert "<RunTable 'p4507' of alice: 3 runs" in repr(rt)
    row = rt[2]
    assert row.values["comment"] == "<b>not bold</b>" and row["comment"] == "<b>not bold</b>"
    assert "RunMetadata" in row._repr_html_() and "run 2" in repr(row)
    cell = rt[2, "comment"]
    assert cell.read() == "<b>not bold</b>" and cell.summary() == "<b>not bold</b>"
    assert "VariableData" in cell._repr_html_()
    with pytest.raises(NotFound, match="no run 9"):
        rt[9]
    with pytest.raises(NotFound, match="no column 'nope'"):
        rt[2, "nope"]
