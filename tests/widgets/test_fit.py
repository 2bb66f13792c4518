"""Fitting from the dashboard: Fit returns a job at once; polling shows progress and result.

There is no kernel event loop under pytest, so the fit panel's poller does not run by
itself; the tests call ``fit_panel.poll()`` by hand, as the loop would.
"""

from __future__ import annotations

import re
import time

import pytest

from shiftdesk.jobs import Job
from shiftdesk_widgets import JobView, ReflectometryDashboard

POLL_TIMEOUT = 90.0


def message(dashboard: ReflectometryDashboard) -> str:
    return re.sub(r"<[^>]+>", "", dashboard.messages.value)


def message_kind(dashboard: ReflectometryDashboard) -> str | None:
    found = re.search(r"sd-message-(\w+)", dashboard.messages.value)
    return found.group(1) if found else None


def poll_until_done(dashboard: ReflectometryDashboard, timeout: float = POLL_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while dashboard.fit_panel.poll():
        if time.monotonic() > deadline:
            job = dashboard.fit_panel.job
            pytest.fail(f"the fit did not finish in {timeout:g} s: {job!r}\n{job.logs()}")
        time.sleep(0.2)


def fitted(dashboard: ReflectometryDashboard) -> dict[str, tuple[float, float]]:
    """``{path: (value, error)}`` as shown in the result table."""
    rows = re.findall(
        r"<td>([^<]+)</td><td class='sd-fitted'>([^<]+)</td>", dashboard.result_box.value
    )
    out = {}
    for path, text in rows:
        value, error = (float(part) for part in text.split("±"))
        out[path] = (value, error)
    return out


def test_lm_fit(dashboard: ReflectometryDashboard) -> None:
    panel = dashboard.fit_panel
    panel.method.value = "lm"
    assert set(panel.option_widgets) == {"steps"}
    panel.fit_button.click()
    job = panel.job
    assert isinstance(job, Job)
    assert panel.fit_button.disabled and not panel.stop_button.disabled
    assert "fit started" in message(dashboard)
    # a second Fit while this one runs is refused, not queued
    if not job.refresh().finished:
        panel.fit_button.click()
        assert panel.job is job
    poll_until_done(dashboard)

    assert job.refresh().status.value == "done"
    assert not panel.fit_button.disabled and panel.stop_button.disabled
    assert panel.progress.value == 1.0
    assert panel.progress.bar_style == "success"
    assert "±" in dashboard.result_box.value
    assert "converged" in dashboard.result_box.value
    values = fitted(dashboard)
    assert set(values) == {"film1.thickness", "film2.thickness"}
    assert values["film1.thickness"][0] == pytest.approx(577.6, abs=3.0)
    assert values["film2.thickness"][0] == pytest.approx(44.75, abs=2.0)
    assert 0 < values["film1.thickness"][1] < 5
    # the fitted values and errors went into the model and its editors
    problem = dashboard.problem
    assert problem.parameter("film1.thickness").value == pytest.approx(577.6, abs=3.0)
    editor = dashboard.table.editor("film1.thickness")
    # (the box shows 6 significant digits; the parameter keeps the fitted value)
    assert editor.value.value == pytest.approx(problem.parameter("film1.thickness").value)
    assert "±" in editor.error.value
    assert dashboard.curve.chi2 < 2.0
    assert "fit done" in message(dashboard)
    # it is listed in "my fits"
    assert job.id in [job_id for _label, job_id in dashboard.my_fits.options]


def test_reopen_fit(dashboard: ReflectometryDashboard) -> None:
    dashboard.fit_panel.fit_button.click()
    job = dashboard.fit_panel.job
    poll_until_done(dashboard)
    fitted_thickness = dashboard.problem.parameter("film1.thickness").value

    # back to the starting model, then reopen the fit
    dashboard.open_model_button.click()
    assert dashboard.problem.parameter("film1.thickness").value == 560.0
    dashboard.result_box.value = ""
    dashboard.my_fits.value = job.id
    dashboard.open_fit_button.click()
    assert "±" in dashboard.result_box.value
    assert dashboard.problem.parameter("film1.thickness").value == pytest.approx(fitted_thickness)
    assert dashboard.problem.data is not None and len(dashboard.problem.data) == 200
    assert "±" in dashboard.table.editor("film1.thickness").error.value


def test_stop_dream_fit(dashboard: ReflectometryDashboard) -> None:
    panel = dashboard.fit_panel
    panel.method.value = "dream"
    assert {"samples", "burn", "pop"} <= set(panel.option_widgets)
    panel.option_widgets["samples"].value = 200_000
    before = dashboard.problem.parameter("film1.thickness").value
    panel.fit_button.click()
    job = panel.job
    assert job is not None
    deadline = time.monotonic() + 60
    while job.refresh().status.value != "running":
        assert not job.finished, f"the DREAM fit ended before it could be stopped: {job!r}"
        assert time.monotonic() < deadline, f"the fit never started running: {job!r}"
        panel.poll()
        time.sleep(0.1)
    panel.stop_button.click()
    assert "stopping" in panel.status.value
    poll_until_done(dashboard, timeout=60)
    assert job.refresh().status.value == "cancelled"
    assert message_kind(dashboard) == "warning"
    assert "stopped" in message(dashboard)
    assert panel.progress.bar_style == "warning"
    assert not panel.fit_button.disabled and panel.stop_button.disabled
    assert dashboard.problem.parameter("film1.thickness").value == before
    assert dashboard.result_box.value == ""


def test_fit_without_free_parameters(dashboard: ReflectometryDashboard) -> None:
    for path in list(dashboard.problem.free_parameters()):
        dashboard.table.editor(path).free.value = False
    assert dashboard.problem.free_parameters() == {}
    dashboard.fit_panel.fit_button.click()
    # said beside the Fit button, in the page's words
    note = dashboard.fit_panel.note
    assert note.kind == "error" and "tick Fit on a parameter" in note.text
    assert dashboard.fit_panel.job is None
    assert not dashboard.fit_panel.fit_button.disabled
    assert [value for _label, value in dashboard.my_fits.options] == [None]


def test_fit_without_data() -> None:
    dashboard = ReflectometryDashboard()
    dashboard.table.editor("film.thickness").free.value = True
    dashboard.fit_panel.fit_button.click()
    assert dashboard.fit_panel.note.kind == "error"
    assert "no data" in dashboard.fit_panel.note.text
    assert dashboard.fit_panel.job is None


def test_fitter_options_follow_method(dashboard: ReflectometryDashboard) -> None:
    panel = dashboard.fit_panel
    for method in ("lm", "amoeba", "de", "dream", "newton"):
        panel.method.value = method
        assert panel.options_box.children == tuple(panel.option_widgets.values())
        assert set(panel.options()) == set(panel.option_widgets)


def test_job_widget_is_a_job_view(dashboard: ReflectometryDashboard) -> None:
    dashboard.fit_panel.fit_button.click()
    job = dashboard.fit_panel.job
    view = job.widget()
    assert isinstance(view, JobView)
    assert view.job is job
    deadline = time.monotonic() + POLL_TIMEOUT
    while view.update():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert view.progress.value == 1.0
    assert "done" in view.status.value
    assert view.stop_button.disabled
    dashboard.fit_panel.poll()
    assert view.log_box.value == job.logs()


def test_job_view_stop_button(dashboard: ReflectometryDashboard) -> None:
    panel = dashboard.fit_panel
    panel.method.value = "dream"
    panel.option_widgets["samples"].value = 200_000
    panel.fit_button.click()
    view = panel.job.widget()
    assert not view.stop_button.disabled
    view.stop_button.click()
    deadline = time.monotonic() + 60
    while view.update():
        assert time.monotonic() < deadline, f"the fit was not stopped: {view.job!r}"
        time.sleep(0.2)
    assert view.job.status.value == "cancelled"
    assert "cancelled" in view.status.value
    poll_until_done(dashboard)
    assert message_kind(dashboard) == "warning"


# -- where the fit runs: the backend picker ---------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once it is closed


def test_backend_picker_lists_local_and_the_settings_backends(
    dashboard: ReflectometryDashboard, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = dashboard.fit_panel
    assert [value for _label, value in panel.backend_picker.options] == ["local"]
    settings = tmp_path / "settings.toml"
    settings.write_text(
        '[backends.cluster]\ntype = "dask"\naddress = "tcp://127.0.0.1:1"\n'
        '[backends.worker]\ntype = "ssh"\nhost = "127.0.0.1"\nuser = "nobody"\n'
        'python = "python3"\nbootstrap_key = "/nonexistent"\n'
    )
    monkeypatch.setenv("SHIFTDESK_SETTINGS", str(settings))
    panel.backends_button.click()
    assert list(panel.backend_picker.options) == [
        ("local", "local"),
        ("cluster (dask)", "cluster"),
        ("worker (ssh)", "worker"),
    ]
    assert panel.backend_picker.value == "local"


def test_broken_settings_file_leaves_local_and_says_why(
    dashboard: ReflectometryDashboard, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('[backends.worker]\ntype = "ssh"\nhots = "x"\n')
    monkeypatch.setenv("SHIFTDESK_SETTINGS", str(settings))
    dashboard.fit_panel.refresh_backends()
    assert [v for _l, v in dashboard.fit_panel.backend_picker.options] == ["local"]
    note = dashboard.fit_panel.backend_note  # beside the "run on" picker
    assert note.kind == "error"
    assert "hots" in note.text and "only the local backend" in note.text


def test_fit_on_an_unreachable_ssh_host_fails_with_a_message(
    dashboard: ReflectometryDashboard, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    key = tmp_path / "admin_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (tmp_path / "known_hosts").write_text("")
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'[backends.worker]\ntype = "ssh"\nhost = "127.0.0.1"\nport = {_closed_port()}\n'
        f'user = "nobody"\npython = "python3"\nbootstrap_key = "{key}"\n'
        f'known_hosts = "{tmp_path / "known_hosts"}"\nconnect_timeout = 3\nspare = false\n'
    )
    monkeypatch.setenv("SHIFTDESK_SETTINGS", str(settings))
    panel = dashboard.fit_panel
    panel.refresh_backends()
    panel.backend_picker.value = "worker"
    job = panel.start()
    assert job is not None and job.backend == "worker"
    assert "on worker" in message(dashboard)
    poll_until_done(dashboard, timeout=60)
    assert job.status.value == "failed"
    assert message_kind(dashboard) == "error"
    text = message(dashboard)
    assert text.startswith("the fit failed:") and "127.0.0.1" in text
    assert "Traceback" not in text
    assert not panel.fit_button.disabled  # the user can pick another backend and retry
