"""A real DAQ run closes (simulated ECC servers over HTTP) and the run table of its
experiment gets the row, computes it, and shows the run sheet's values."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.daq._system import OPERATOR, daq_system

from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.domains import emit
from shiftdesk.runtable import RunTable
from shiftdesk.runtable.daq_link import column_name
from shiftdesk.storage import get_database

CONTEXT = '''\
from damnit_ctx import Variable

@Variable(title="Files")
def n_files(run):
    """How many files the run wrote."""
    return len(run.files())
'''


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SimulatedCluster]:
    sim = SimulatedCluster(1, data_dir=tmp_path / "routers")
    try:
        yield sim
    finally:
        sim.stop()


def wait_for(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.1)


def test_a_closing_daq_run_fills_its_row(cluster: SimulatedCluster, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for run in range(3):
        (raw / f"r{run:04d}").mkdir(parents=True)
        (raw / f"r{run:04d}" / "a.graw").write_bytes(b"x")
    rt = RunTable.create(
        "e20009-table", data=str(raw / "r{run:04d}"), context=CONTEXT,
        experiment="e20009", identity=OPERATOR,
    )  # fmt: skip
    with daq_system(cluster, database=get_database()) as daq:
        daq.runsheet.add_observable("Beam current", "float", units="pA")
        for step in (daq.describe, daq.prepare, daq.configure):
            assert step().wait(20).ok
        assert daq.start(title="first beam").wait(20).ok
        number = daq.snapshot().run_number
        assert number is not None
        daq.runsheet.update(number, {"Beam current": 12.5})
        assert number not in rt  # still being taken: no row yet
        assert daq.stop().wait(20).ok
        wait_for(lambda: number in rt and rt.states()[number].status == "done")
        row = rt[number]
        assert row.values["n_files"] == 1
        assert row.values[column_name("Beam current")] == 12.5
        assert row.values["run_title"] == "first beam"
        assert rt.columns()["beam_current"].units == "pA"
        assert rt.cells([number])[(number, "beam_current")].provenance == "run sheet"
        # the sheet edited after the run: the table follows
        daq.runsheet.update(number, {"Beam current": 13.0})
        assert rt.table().loc[number, "beam_current"] == 13.0


def test_a_notice_delivered_twice_runs_once(tmp_path: Path) -> None:
    (tmp_path / "raw" / "r0005").mkdir(parents=True)
    rt = RunTable.create(
        "t", data=str(tmp_path / "raw" / "r{run:04d}"), context=CONTEXT, experiment="exp",
        identity=OPERATOR,
    )  # fmt: skip
    payload = {"database": get_database(), "experiment": "exp", "run": 5, "title": "x",
               "values": {"Gas": "He"}, "units": {}}  # fmt: skip
    assert emit("daq.run_closed", **payload) == []
    assert emit("daq.run_closed", **payload) == []
    wait_for(lambda: rt.states()[5].status == "done")
    assert rt.table().loc[5, "gas"] == "He"
    from shiftdesk.jobs.job import list_jobs

    assert len([j for j in list_jobs(identity=OPERATOR) if j.kind == "runtable.process"]) == 1
    # another experiment's runs do not arrive here
    emit("daq.run_closed", **{**payload, "experiment": "other", "run": 6})
    assert 6 not in rt
