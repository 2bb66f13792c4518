"""The run sheet: typed observables, one measurement per run, prefill, CSV, pandas, series."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from shiftdesk.daq.errors import RunSheetError
from shiftdesk.daq.experiment import create_experiment
from shiftdesk.daq.runs import RunClass, close_run, open_run
from shiftdesk.daq.runsheet import RunSheet, ValueType
from shiftdesk.daq.system import DAQSystem
from shiftdesk.identity import Identity
from shiftdesk.storage import Database

ALICE = Identity("alice")


@pytest.fixture
def daq() -> DAQSystem:
    db = Database()
    create_experiment("e20009", operators=["alice"], database=db, identity=ALICE)
    system = DAQSystem(db, ALICE)
    # Runs as the controller records them after the electronics confirmed start and stop.
    for number, configs in ((1, "cobo0"), (2, "cobo0"), (3, "cobo1")):
        open_run(db, system.experiment_id, number, title=f"run {number}",
                 run_class=RunClass.BEAM, config_names=configs, user="alice")  # fmt: skip
        close_run(db, system.experiment_id)
    return system


def _sheet(daq: DAQSystem) -> RunSheet:
    sheet = daq.runsheet
    sheet.add_observable("Beam current", "float", units="pA", comment="on the Faraday cup")
    sheet.add_observable("Gas", str)
    sheet.add_observable("Pressure", ValueType.INTEGER, units="Torr")
    return sheet


def test_observables_are_typed_ordered_and_unique(daq: DAQSystem) -> None:
    sheet = _sheet(daq)
    assert [(o.name, o.value_type, o.units) for o in sheet.observables()] == [
        ("Beam current", ValueType.FLOAT, "pA"),
        ("Gas", ValueType.STRING, ""),
        ("Pressure", ValueType.INTEGER, "Torr"),
    ]
    with pytest.raises(RunSheetError, match="exists already"):
        sheet.add_observable(" gas ", "string")
    with pytest.raises(RunSheetError, match="not one of integer, float, string"):
        sheet.add_observable("Trigger", "boolean")
    sheet.reorder(["Pressure", "Gas", "Beam current"])
    assert [o.name for o in sheet.observables()] == ["Pressure", "Gas", "Beam current"]
    with pytest.raises(RunSheetError, match="every observable exactly once"):
        sheet.reorder(["Pressure"])


def test_values_are_checked_against_their_type_and_nothing_half_written(daq: DAQSystem) -> None:
    sheet = _sheet(daq)
    run = sheet.update(1, {"Beam current": "12.5", "Gas": "P10", "Pressure": 150},
                       title="calibration", run_class="pulser")  # fmt: skip
    assert run.values == {"Beam current": 12.5, "Gas": "P10", "Pressure": 150}
    assert run.title == "calibration" and run.run_class == "Pulser"
    with pytest.raises(RunSheetError, match=r"'lots' is not a whole number.*Pressure.*Torr"):
        sheet.update(1, {"Gas": "CO2", "Pressure": "lots"})
    assert sheet.run(1).values["Gas"] == "P10"  # the good value was not written either
    with pytest.raises(RunSheetError, match="not a number"):
        sheet.update(1, {"Beam current": "12,5"})
    with pytest.raises(RunSheetError, match="no observable named 'Field'"):
        sheet.update(1, {"Field": 1.0})
    with pytest.raises(RunSheetError, match="no run 99"):
        sheet.update(99, {"Gas": "He"})
    with pytest.raises(RunSheetError, match="run class 'physics'"):
        sheet.update(1, run_class="physics")
    assert sheet.update(1, {"Gas": None}).values == {"Beam current": 12.5, "Pressure": 150}


def test_same_as_previous_prefills_from_the_last_run(daq: DAQSystem) -> None:
    sheet = _sheet(daq)
    sheet.update(2, {"Gas": "P10", "Pressure": 150}, title="production", run_class="Production")
    prefill = sheet.previous_values(3)
    assert prefill == {"title": "production", "run_class": "Production",
                       "values": {"Gas": "P10", "Pressure": 150}}  # fmt: skip
    run = sheet.same_as_previous(3)
    assert run.values == {"Gas": "P10", "Pressure": 150} and run.title == "production"
    assert run.config_names == "cobo1"  # the run's own facts are not copied
    with pytest.raises(RunSheetError, match="no earlier run"):
        sheet.same_as_previous(1)


def test_export_to_csv_and_pandas_and_series(daq: DAQSystem, tmp_path: Path) -> None:
    sheet = _sheet(daq)
    sheet.update(1, {"Beam current": 1.5, "Pressure": 100})
    sheet.update(3, {"Beam current": 2.25, "Gas": "He, 10%"})
    text = sheet.to_csv(tmp_path / "sheet.csv")
    assert (tmp_path / "sheet.csv").read_text() == text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["run", "title", "class", "start", "stop", "duration", "configs",
                       "Beam current (pA)", "Gas", "Pressure (Torr)"]  # fmt: skip
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    assert rows[3][7:] == ["2.25", "He, 10%", ""]
    frame = sheet.to_dataframe()
    assert list(frame.index) == [1, 2, 3]
    assert frame.loc[1, "Pressure"] == 100 and str(frame["Pressure"].dtype) == "Int64"
    assert frame["Beam current"].isna().tolist() == [False, True, False]
    assert sheet.series("Beam current") == ([1, 3], [1.5, 2.25])
    with pytest.raises(RunSheetError, match="no observable named 'Field'"):
        sheet.series("Field")


def test_run_objects_show_themselves(daq: DAQSystem) -> None:
    sheet = _sheet(daq)
    run = sheet.update(2, {"Gas": "<P10>"})
    assert "Run 2" in repr(run) and "Beam" in repr(run)
    html = run._repr_html_()
    assert "&lt;P10&gt;" in html and "<P10>" not in html
    assert "3 runs" in repr(sheet) and "Pressure (Torr)" in sheet._repr_html_()
