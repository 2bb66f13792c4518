"""Processing runs through persisted jobs: values, errors, the cap, idempotent notices,
cancel, time limits, missing data, reprocessing, the context file's checks."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from shiftdesk.errors import JobError
from shiftdesk.identity import Identity
from shiftdesk.jobs.job import list_jobs
from shiftdesk.runtable import ContextInvalid, RunTable

ALICE = Identity("alice")

CONTEXT = '''\
import numpy as np
from damnit_ctx import Cell, Skip, Variable

@Variable(title="Energy", units="uJ", tags=["xgm"])
def energy(run):
    """Pulse energy."""
    return 1.5 * run.number

@Variable(title="Trace")
def trace(run, e: "var#energy"):
    return np.linspace(0, e, 50)

@Variable(title="Image")
def image(run):
    return np.arange(64.0).reshape(8, 8) * run.number

@Variable
def scan(run, factor: "param#factor" = 2):
    if run.number % 2 == 0:
        raise Skip("no scan in even runs")
    return run.number * factor

@Variable
def broken(run):
    return 1 / 0

@Variable
def after_broken(run, b: "var#broken"):
    return b + 1

@Variable
def flagged(run):
    return Cell(7.0, bold=True, background="#ff0000")
'''


def make_runs(root: Path, runs: list[int]) -> str:
    for run in runs:
        (root / f"r{run:04d}").mkdir(parents=True, exist_ok=True)
    return str(root / "r{run:04d}")


def table(
    tmp_path: Path, context: str = CONTEXT, runs: tuple[int, ...] = (1, 2, 3), **kw
) -> RunTable:  # type: ignore[no-untyped-def]
    data = make_runs(tmp_path / "raw", list(runs))
    return RunTable.create("p1", data=data, context=context, identity=ALICE, **kw)


def test_processing_fills_the_row_cell_by_cell(tmp_path: Path) -> None:
    rt = table(tmp_path)
    assert set(rt.columns()) >= {"energy", "trace", "image", "scan", "broken", "flagged"}
    assert (
        rt.columns()["energy"].units == "uJ"
        and rt.columns()["energy"].description == "Pulse energy."
    )
    handles = rt.process([1, 2])
    assert [h.run for h in handles] == [1, 2]
    first = handles[0].result(timeout=60)
    second = handles[1].result(timeout=60)
    assert first.values["energy"] == 1.5 and first.values["scan"] == 2
    assert second.errors["scan"] == "no scan in even runs" and second.cells["scan"].skipped
    assert "division by zero" in first.errors["broken"]
    assert "broken" in first.errors["after_broken"]
    assert first.cells["flagged"].bold and first.cells["flagged"].background
    frame = rt.table()
    assert frame.loc[1, "trace"] == "<sparkline>" and frame.loc[1, "image"] == "<thumbnail>"
    cells = rt.cells([1])
    assert cells[(1, "image")].value[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.asarray(cells[(1, "trace")].value).shape[0] == 2
    np.testing.assert_allclose(rt[1, "trace"].read(), np.linspace(0, 1.5, 50))
    assert rt[1, "image"].read().shape == (8, 8)
    assert rt[1].status == "done" and rt.run_file(1).exists()
    log = rt.log(1)
    assert "energy" in log and log.count("run 1: context v1") == 1  # each message once


def test_params_and_a_subset_of_variables(tmp_path: Path) -> None:
    rt = table(tmp_path)
    rt.process([1]).pop().result(timeout=60)
    rt.set(1, "comment", "keep me")
    rt.process([1], variables=["scan"], params={"factor": 10}).pop().result(timeout=60)
    frame = rt.table()
    assert frame.loc[1, "scan"] == 10 and frame.loc[1, "energy"] == 1.5
    assert frame.loc[1, "comment"] == "keep me"


def test_add_run_is_idempotent(tmp_path: Path) -> None:
    rt = table(tmp_path, runs=(7,))
    handle = rt.add_run(7)
    assert handle is not None
    assert rt.add_run(7) is None  # a second notice: no second job
    handle.result(timeout=60)
    assert rt.add_run(7) is None
    jobs = [j for j in list_jobs(identity=ALICE) if j.kind == "runtable.process"]
    assert len(jobs) == 1


def test_at_most_concurrent_jobs_run_at_once(tmp_path: Path) -> None:
    slow = CONTEXT + "\n@Variable\ndef slow(run):\n    import time; time.sleep(1.0)\n    return 1\n"
    rt = table(tmp_path, context=slow, runs=tuple(range(1, 6)), concurrent_jobs=2)
    handles = rt.process(range(1, 6))
    assert len(handles) == 5
    most = 0
    deadline = time.monotonic() + 120
    while not all(h.refresh().finished for h in handles):
        assert time.monotonic() < deadline
        running = sum(1 for s in rt.states().values() if s.status == "running")
        most = max(most, running)
        time.sleep(0.05)
    assert 1 <= most <= 2
    assert all(h.status == "done" for h in handles)


def test_a_missing_run_folder_fails_that_run_with_the_reason(tmp_path: Path) -> None:
    rt = table(tmp_path)
    handle = rt.process([9]).pop()
    with pytest.raises(JobError, match="r0009 does not exist"):
        handle.result(timeout=60)
    assert rt.states()[9].status == "failed"


def test_the_time_limit_stops_a_run_that_never_ends(tmp_path: Path) -> None:
    forever = "from damnit_ctx import Variable\n\n@Variable\ndef spin(run):\n    while True:\n"
    forever += "        pass\n"
    rt = table(tmp_path, context=forever, time_limit=3)
    handle = rt.process([1]).pop()
    with pytest.raises(JobError, match="limit"):
        handle.result(timeout=60)


def test_cancel_stops_queued_and_running_runs(tmp_path: Path) -> None:
    sleepy = "from damnit_ctx import Variable\nimport time\n\n@Variable\ndef nap(run):\n"
    sleepy += "    time.sleep(30)\n    return 1\n"
    rt = table(tmp_path, context=sleepy, runs=(1, 2, 3), concurrent_jobs=1)
    handles = rt.process([1, 2, 3])
    deadline = time.monotonic() + 30
    while handles[0].refresh().status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sorted(rt.cancel()) == [1, 2, 3]
    for handle in handles:
        handle.wait(60)
        assert handle.status == "cancelled"


def test_a_context_with_errors_is_refused_with_its_lines(tmp_path: Path) -> None:
    rt = table(tmp_path)
    problems = rt.validate(
        "from damnit_ctx import Variable\n\n@Variable\ndef x(run):\n    return (\n"
    )
    assert problems and problems[0].severity == "error" and problems[0].line is not None
    before = rt.context_text
    with pytest.raises(ContextInvalid):
        rt.save_context(
            "from damnit_ctx import Variable\n\n@Variable\ndef x(run, y: 'var#no'):\n  return y\n"
        )
    assert rt.refresh().context_text == before
    with pytest.raises(ContextInvalid):
        RunTable.create(
            "p2", data=str(tmp_path / "r{run}"), context="def broken(:\n", identity=ALICE
        )
    assert RunTable.list(identity=ALICE) == ["p1"]


def test_a_saved_context_adds_columns_and_reprocessing_uses_it(tmp_path: Path) -> None:
    rt = table(tmp_path)
    rt.process([1]).pop().result(timeout=60)
    rt.add_user_variable("sample", "string")
    rt.set(1, "sample", "LaB6")
    warnings = rt.save_context(
        CONTEXT
        + "\n@Variable(title='Double')\ndef double(run, e: 'var#energy'):\n    return 2 * e\n"
    )
    assert all(w.severity != "error" for w in warnings)
    assert "double" in rt.columns() and rt.context_version == 2
    rt.process([1]).pop().result(timeout=60)
    frame = rt.table()
    assert frame.loc[1, "double"] == 3.0 and frame.loc[1, "sample"] == "LaB6"
    with pytest.raises(ContextInvalid, match="sample"):
        rt.save_context(CONTEXT + "\n@Variable\ndef sample(run):\n    return 1\n")
