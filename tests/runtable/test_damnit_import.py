"""A DAMNIT folder imported into a run table: every kind of cell, user values, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.runtable.damnit_fixture import COMPUTED, USER, expected_value, make_damnit_folder

from shiftdesk.identity import Identity
from shiftdesk.runtable import RunTable
from shiftdesk.runtable.damnit_folder import DamnitFolderError

ALICE = Identity("alice")
RUNS = 5


@pytest.fixture
def imported(tmp_path: Path) -> RunTable:
    folder = make_damnit_folder(tmp_path / "damnit", runs=RUNS)
    return RunTable.import_damnit(folder, identity=ALICE)


def test_the_table_holds_every_cell_as_damnit_had_it(imported: RunTable) -> None:
    rt = imported
    assert rt.name == "p1234" and rt.runs() == list(range(1, RUNS + 1))
    columns = rt.columns()
    for name, (title, description, tags) in COMPUTED.items():
        assert columns[name].title == title and columns[name].source == "context"
        assert columns[name].description == description and set(columns[name].tags) == set(tags)
    for name, (type_, title) in USER.items():
        assert (columns[name].type, columns[name].title) == (type_, title)
    frame = rt.table()
    cells = rt.cells()
    for run in range(1, RUNS):  # the last run is pre-created: no computed values
        for name in COMPUTED:
            want = expected_value(name, run)
            cell = cells[(run, name)]
            if want["kind"] in ("number", "integer"):
                assert frame.loc[run, name] == pytest.approx(want["number"])
            elif want["kind"] in ("string", "text"):
                assert frame.loc[run, name] == want["text"]
            elif want["kind"] == "thumbnail":
                assert frame.loc[run, name] == "<thumbnail>" and cell.value == want["blob"]
            elif want["kind"] == "sparkline":
                assert frame.loc[run, name] == "<sparkline>"
                np.testing.assert_allclose(cell.value, want["array"])
            elif want["kind"] == "complex":
                assert complex(frame.loc[run, name]) == want["complex"]
            elif want["kind"] in ("error", "skipped"):
                assert cell.error == want["error"] and cell.error_cls == want["error_cls"]
                assert cell.skipped == (want["kind"] == "skipped")
            if "max_diff" in want:
                assert cell.max_diff == pytest.approx(want["max_diff"])
    assert frame.loc[1, "sample"] == "LaB6 #1" and frame.loc[2, "shots"] == 20
    assert frame["good"].dtype == "boolean" and bool(frame.loc[1, "good"])
    assert frame.loc[3, "comment"] == "comment on run 3"
    assert cells[(1, "sample")].provenance == "user"


def test_the_context_and_result_files_come_along(imported: RunTable) -> None:
    rt = imported
    assert "from damnit_ctx import" in rt.context_text
    assert (rt.folder / "context.py").read_text() == rt.context_text
    assert rt.run_file(1).exists()
    assert rt[1].status == "done"
    data = rt[1, "xgm_energy"].read()
    assert np.asarray(data).size > 0


def test_the_imported_table_is_editable(imported: RunTable) -> None:
    imported.set(1, "sample", "Si")
    assert imported.table().loc[1, "sample"] == "Si"
    assert imported.table().loc[2, "sample"] == "LaB6 #2"


def test_an_older_format_is_refused_with_the_way_forward(tmp_path: Path) -> None:
    folder = make_damnit_folder(tmp_path / "old", runs=3, version=0)
    with pytest.raises(DamnitFolderError, match="migrate"):
        RunTable.import_damnit(folder, identity=ALICE)
    assert RunTable.list(identity=ALICE) == []


def test_not_a_damnit_folder(tmp_path: Path) -> None:
    with pytest.raises(DamnitFolderError):
        RunTable.import_damnit(tmp_path, identity=ALICE)
    assert RunTable.list(identity=ALICE) == []
