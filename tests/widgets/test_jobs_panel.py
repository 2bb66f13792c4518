"""The jobs panel, headless: my jobs only, live status, log, Cancel, Open result.

No kernel event loop runs under pytest, so the tests call ``panel.refresh()`` as the
panel's poller would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from shiftdesk.identity import Identity
from shiftdesk.jobs import Job, JobStatus, LocalBackend, backend, submit_job
from shiftdesk.storage import Database, get_database
from shiftdesk_widgets.jobs_panel import JobsPanel

ALICE = Identity("alice")
BOB = Identity("bob")


@pytest.fixture(autouse=True)
def _no_spare(monkeypatch: pytest.MonkeyPatch) -> None:
    """test.sleep jobs need no warm refl1d worker."""

    def without_spare(database: Database) -> LocalBackend:
        return LocalBackend(database, spare=False)

    monkeypatch.setitem(backend._factories, "local", without_spare)


def sleep_job(who: Identity, **spec: Any) -> Job:
    return submit_job("test.sleep", spec, title=f"{who.name}'s job", identity=who)


def refresh_until(panel: JobsPanel, predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        panel.refresh()
        if predicate():
            return
        if time.monotonic() > deadline:
            pytest.fail("the panel did not show the expected state in time")
        time.sleep(0.05)


def test_lists_only_my_jobs() -> None:
    mine = sleep_job(ALICE, steps=1, delay=0)
    theirs = sleep_job(BOB, steps=1, delay=0)
    mine.result(timeout=60)
    theirs.result(timeout=60)
    alice = JobsPanel(identity=ALICE)
    bob = JobsPanel(identity=BOB)
    nobody = JobsPanel(identity=Identity("carol"))
    assert [value for _label, value in alice.select.options] == [mine.id]
    assert [value for _label, value in bob.select.options] == [theirs.id]
    assert nobody.select.options == () and nobody.empty.layout.display is None
    assert nobody.cancel_button.disabled and nobody.open_button.disabled
    label = alice.select.options[0][0]
    assert "done" in label and "100%" in label and "local" in label and "alice's job" in label


def test_jobs_of_every_backend_are_listed() -> None:
    from shiftdesk.jobs import store

    local = sleep_job(ALICE, steps=1, delay=0)
    local.result(timeout=60)
    # a job another backend (e.g. a Dask cluster) runs, as its row looks while it runs
    remote = store.create_job(
        "test.sleep", {"steps": 9}, title="on the cluster", backend="cluster", identity=ALICE
    )
    store.update_job(get_database(), remote, status="running", progress=0.5, host="tcp://x:1")
    panel = JobsPanel(identity=ALICE)
    labels = {value: label for label, value in panel.select.options}
    assert set(labels) == {local.id, remote}
    assert "cluster" in labels[remote] and "running" in labels[remote] and "50%" in labels[remote]
    panel.select.value = remote
    assert "backend cluster on tcp://x:1" in panel.details.value
    assert panel.progress.value == 0.5 and not panel.cancel_button.disabled
    assert JobsPanel(identity=BOB).select.options == ()


def test_selected_job_shows_progress_log_and_opens_its_result() -> None:
    job = sleep_job(ALICE, steps=2, delay=0)
    job.result(timeout=60)
    panel = JobsPanel(identity=ALICE)
    assert panel.selected is not None and panel.selected.id == job.id
    assert panel.progress.value == 1.0
    assert "done" in panel.details.value and "backend local" in panel.details.value
    # the state said once: a message that only repeats it is left out ("done done")
    assert "done</b> done" not in panel.details.value
    assert panel.details.value.count("done") == 1, panel.details.value
    assert panel.cancel_button.disabled and not panel.open_button.disabled
    opened: list[tuple[str, Any]] = []
    panel.on_open_result(lambda j, result: opened.append((j.id, result)))
    panel.open_button.click()
    assert opened == [(job.id, {"steps": 2})]


def test_failed_job_shows_its_error_and_log_and_has_no_result() -> None:
    job = sleep_job(ALICE, steps=4, delay=0, fail=True)
    job.wait(timeout=60)
    panel = JobsPanel(identity=ALICE)
    assert "failed" in panel.details.value
    assert "the task failed on purpose" in panel.details.value
    assert "RuntimeError" in panel.log_box.value
    assert panel.open_button.disabled
    opened: list[object] = []
    panel.on_open_result(lambda j, r: opened.append(r))
    assert panel.open_selected() is None and opened == []


def test_cancel_button_stops_the_running_job() -> None:
    job = sleep_job(ALICE, steps=400, delay=0.05)
    panel = JobsPanel(identity=ALICE)
    refresh_until(
        panel, lambda: panel.selected is not None and panel.selected.status is JobStatus.RUNNING
    )
    assert not panel.cancel_button.disabled
    panel.cancel_button.click()
    refresh_until(panel, lambda: panel.selected is not None and panel.selected.finished)
    assert job.refresh().status is JobStatus.CANCELLED
    assert "cancelled" in panel.select.options[0][0]
    assert panel.cancel_button.disabled


def test_new_jobs_appear_on_refresh_and_selection_is_kept() -> None:
    first = sleep_job(ALICE, steps=1, delay=0)
    first.result(timeout=60)
    panel = JobsPanel(identity=ALICE, database=get_database())
    panel.select.value = first.id
    second = sleep_job(ALICE, steps=1, delay=0)
    second.result(timeout=60)
    panel.refresh()
    assert [v for _l, v in panel.select.options] == [second.id, first.id]
    assert panel.select.value == first.id
