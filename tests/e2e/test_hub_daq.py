"""The DAQ part through the demo hub: one shared system, operators by hub group.

One ``shiftdesk hub --demo --port P`` per module (own state folder, unique ports). Its
``daq-simulator`` service runs simulated ECC servers for the experiment ``demo`` and its
``daq-poller`` service (``shiftdesk daq poll``) refreshes their state into the shared
database. In Chromium the operator starts a run from the DAQ dashboard while the viewer,
logged in at the same time, watches the state change with Start disabled; a command
forced from the viewer's own kernel is refused in the core. Alice cannot list or open
Bob's fits (code run in their kernels through the hub). Killing the poller service,
the hub starts it again.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e import test_hub
from tests.e2e.test_hub import (
    RunningHub,
    _alive,
    _cmdline,
    _descendants,
    _environ,
    _free_port,
    _login,
    _require_proxy,
    _running_hub,
    state_folder,
)

#: runs ``code`` in a new kernel of the user's server (REST + kernel websocket, through
#: the hub's proxy with the browser's login cookie); returns its output and reply status
RUN_IN_KERNEL = """async ([prefix, code]) => {
  const xsrf = decodeURIComponent((document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '');
  const headers = {'X-XSRFToken': xsrf, 'Content-Type': 'application/json'};
  const made = await fetch(`${prefix}api/kernels`, {method: 'POST', headers,
                                                    body: JSON.stringify({name: 'python3'})});
  if (!made.ok) return {status: `kernel not started: ${made.status}`, out: await made.text()};
  const kernel = await made.json();
  const ws = new WebSocket(`ws://${location.host}${prefix}api/kernels/${kernel.id}/channels`
                           + `?session_id=e2e&_xsrf=${encodeURIComponent(xsrf)}`);
  await new Promise((ok, bad) => { ws.onopen = ok; ws.onerror = bad; });
  let out = '', status = null, idle = false;
  const finished = new Promise((resolve) => {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (!m.parent_header || m.parent_header.msg_id !== 'run1') return;
      if (m.msg_type === 'stream') out += m.content.text;
      if (m.msg_type === 'error') out += `${m.content.ename}: ${m.content.evalue}`;
      if (m.msg_type === 'execute_reply') status = m.content.status;
      if (m.msg_type === 'status' && m.content.execution_state === 'idle') idle = true;
      if (status !== null && idle) resolve();
    };
  });
  ws.send(JSON.stringify({
    header: {msg_id: 'run1', msg_type: 'execute_request', username: 'e2e', session: 'e2e',
             date: new Date().toISOString(), version: '5.3'},
    parent_header: {}, metadata: {}, channel: 'shell', buffers: [],
    content: {code, silent: false, store_history: false, user_expressions: {},
              allow_stdin: false, stop_on_error: true}}));
  await Promise.race([finished, new Promise((r) => setTimeout(r, 90000))]);
  ws.close();
  await fetch(`${prefix}api/kernels/${kernel.id}`, {method: 'DELETE', headers});
  return {status, out};
}"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """The demo hub, once its simulated ECC servers are up and polled."""
    _require_proxy()
    tmp = tmp_path_factory.mktemp("hubdaq")
    port, state = _free_port(), state_folder("hubdaq")
    t0 = time.monotonic()
    with _running_hub(tmp, ["--demo", f"--port={port}", f"--state-dir={state}"], port, state) as h:
        print(f"hub ready after {time.monotonic() - t0:.1f} s")
        deadline = time.monotonic() + 60
        while "daq-simulator: experiment 'demo'" not in h.log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                pytest.fail(f"no simulated ECC servers:\n{h.log.read_text()[-4000:]}")
            time.sleep(0.3)
        yield h


#: one Chromium for the module (test_hub.py's fixture)
browser = test_hub.browser


def _click_daq(browser: Any, hub: RunningHub, name: str, password: str) -> tuple[Any, float]:
    """Log in and follow the start page's DAQ link (spawns the server); returns at once."""
    page = _login(browser, hub, name, password)
    page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
    t0 = time.monotonic()
    page.click(".sd-dashboard[data-dashboard='daq'] a", no_wait_after=True)
    return page, t0


def _wait_daq(page: Any, name: str, t0: float, hub: RunningHub) -> Any:
    try:
        page.wait_for_url(re.compile(rf".*/user/{name}/voila/render/daq\.ipynb"), timeout=120_000)
        page.wait_for_selector(".sd-daq-dashboard", timeout=120_000)
    except Exception as exc:  # the hub's log says what the page waited for
        tail = hub.log.read_text(errors="replace")[-6000:]
        pytest.fail(f"{name}'s DAQ dashboard did not come: {exc}\n--- hub log ---\n{tail}")
    print(f"{name}: start page link -> DAQ dashboard visible in {time.monotonic() - t0:.1f} s")
    return page


def _run(page: Any, user: str, code: str) -> str:
    """Run ``code`` in a new kernel of ``user``'s server; its output (fails on error)."""
    reply = page.evaluate(RUN_IN_KERNEL, [f"/user/{user}/", code])
    assert reply["status"] == "ok", reply
    return str(reply["out"])


def _services(hub: RunningHub, needle: str) -> list[int]:
    return [p for p in _descendants(hub.proc.pid) if needle in _cmdline(p)]


FORCED_STOP = """
from shiftdesk.daq import DAQSystem
from shiftdesk.daq.routers import LocalRouters
from shiftdesk.errors import PermissionDenied
daq = DAQSystem(routers=LocalRouters())
print("operator:", daq.can_operate, "run:", daq.snapshot().run_number)
try:
    daq.stop()
    print("SENT")
except PermissionDenied as exc:
    print("REFUSED:", exc)
"""


@pytest.mark.e2e
@pytest.mark.slow
def test_operator_runs_the_shared_daq_and_the_viewer_only_watches(
    hub: RunningHub, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    # both logged in at the same time; their servers spawn side by side
    op, t_op = _click_daq(browser, hub, "operator", "operator-demo")
    viewer, t_viewer = _click_daq(browser, hub, "viewer", "viewer-demo")
    _wait_daq(op, "operator", t_op, hub)
    _wait_daq(viewer, "viewer", t_viewer, hub)
    errors: list[str] = []
    for page in (op, viewer):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # both watch the hub's servers: same three ECC servers, Idle, polled by the service
        for page in (op, viewer):
            expect(page.locator(".sd-daq-run-state")).to_have_text("Idle", timeout=30_000)
            for server in ("ECC_0", "ECC_1", "ECC_mutant"):
                expect(page.locator(f".sd-daq-server-{server} .sd-daq-status")).to_have_text("Idle")
        expect(op.locator(".sd-daq-user")).to_contain_text("operator (operator)")
        expect(viewer.locator(".sd-daq-user")).to_contain_text("viewer (read-only)")
        expect(viewer.locator("button.sd-daq-describe")).to_be_disabled()

        state = op.locator(".sd-daq-run-state")
        for button, reached in (
            ("describe", "Described"),
            ("prepare", "Prepared"),
            ("configure", "Ready"),
        ):
            op.locator(f"button.sd-daq-{button}").click(timeout=20_000)
            expect(state).to_have_text(reached, timeout=30_000)
            # the viewer's page follows the shared state
            expect(viewer.locator(".sd-daq-run-state")).to_have_text(reached, timeout=30_000)
        expect(viewer.locator("button.sd-daq-start")).to_be_disabled()
        title = op.locator(".sd-daq-title input")
        title.fill("hub run")
        title.press("Enter")
        op.locator("button.sd-daq-start").click(timeout=20_000)
        expect(op.locator(".sd-daq-started")).to_contain_text("running", timeout=30_000)
        expect(state).to_have_text("Running")

        seen = viewer.locator(".sd-daq-started")
        expect(seen).to_contain_text("running", timeout=30_000)
        expect(viewer.locator(".sd-daq-run-state")).to_have_text("Running")
        expect(viewer.locator("button.sd-daq-start")).to_be_disabled()
        expect(viewer.locator("button.sd-daq-stop")).to_be_disabled()
        run = re.search(r"Run (\d+) running", seen.inner_text())
        assert run, seen.inner_text()

        # greyed out is not the protection: a Stop forced from the viewer's own kernel
        # (through the hub) is refused by the core, and the run goes on
        out = _run(viewer, "viewer", FORCED_STOP)
        assert f"operator: False run: {run.group(1)}" in out, out
        assert (
            "REFUSED: 'viewer' may not stop runs in experiment 'demo': only members of the "
            "group 'operators-demo'" in out
        ), out
        assert "SENT" not in out
        time.sleep(1.5)  # a poll period or more: a stop would have shown by now
        expect(state).to_have_text("Running")

        op.locator("button.sd-daq-stop").click(timeout=20_000)
        expect(seen).to_contain_text("No run is being taken", timeout=30_000)
        assert errors == [], errors
    except BaseException:
        with contextlib.suppress(Exception):
            for name, page in (("operator", op), ("viewer", viewer)):
                page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
            print(f"screenshots in {tmp_path}")
        raise
    finally:
        op.context.close()
        viewer.context.close()

    # no dashboard started simulated servers or a poller of its own: the hub's serve all
    servers = [p for p in _descendants(hub.proc.pid) if "jupyterhub-singleuser" in _cmdline(p)]
    users = {_environ(p).get("JUPYTERHUB_USER") for p in servers}
    assert {"operator", "viewer"} <= users
    daq_dirs = list((hub.state / "users").glob("*/shiftdesk/daq-demo"))
    assert daq_dirs == [], daq_dirs
    assert len(_services(hub, "shiftdesk.hub.daq_demo")) == 1
    assert len(_services(hub, "daq poll")) == 1


@pytest.mark.e2e
def test_alice_cannot_list_or_open_bobs_fits(hub: RunningHub, browser: Any) -> None:
    pages = {}
    try:
        started = {}
        for name in ("bob", "alice"):  # spawned side by side
            page = pages[name] = _login(browser, hub, name, f"{name}-demo")
            page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
            started[name] = time.monotonic()
            page.goto(f"{hub.url}/hub/spawn/{name}", wait_until="commit", timeout=60_000)
        for name, page in pages.items():
            page.wait_for_url(re.compile(rf".*/user/{name}/.*"), timeout=120_000)
            page.wait_for_load_state("load", timeout=60_000)
            took = time.monotonic() - started[name]
            print(f"{name}: spawn -> own server page in {took:.1f} s")

        out = _run(
            pages["bob"],
            "bob",
            "import os\n"
            "from shiftdesk.reflectometry import Library\n"
            "from shiftdesk.reflectometry.demo import demo_data, starting_problem\n"
            "job = starting_problem(demo_data()).fit(method='lm', title='bob fit')\n"
            "print('JOB', job.id, [j.id for j in Library().list_fits()])\n"
            "print('DIR', os.environ['SHIFTDESK_DATA_DIR'])\n",
        )
        found = re.search(r"JOB (\S+) \[(.*)\]", out)
        assert found, out
        job = found.group(1)
        assert repr(job) in found.group(2)  # bob lists his own fit

        out = _run(
            pages["alice"],
            "alice",
            "import os\n"
            "from shiftdesk.errors import NotFound, PermissionDenied\n"
            "from shiftdesk.jobs import list_jobs\n"
            "from shiftdesk.reflectometry import Library\n"
            "lib = Library()\n"
            "print('FITS', [j.id for j in lib.list_fits()], [j.id for j in list_jobs()])\n"
            "try:\n"
            f"    lib.open_fit({job!r})\n"
            "    print('OPENED')\n"
            "except (NotFound, PermissionDenied) as exc:\n"
            "    print('REFUSED', exc)\n"
            "print('DIR', os.environ['SHIFTDESK_DATA_DIR'])\n",
        )
        assert "FITS [] []" in out, out
        assert "REFUSED" in out and "OPENED" not in out, out
        assert f"DIR {hub.state.resolve()}/users/alice/.shiftdesk" in out
    finally:
        for page in pages.values():
            page.context.close()


@pytest.mark.e2e
@pytest.mark.slow
def test_a_fit_run_from_the_dashboard_is_a_job_bobs_other_kernels_see(
    hub: RunningHub, browser: Any
) -> None:
    """Bob fits in the reflectometry dashboard; a notebook kernel of his lists the job and
    its result from the shared database (alice's kernels do not: test above)."""
    page = _login(browser, hub, "bob", "bob-demo")
    try:
        page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
        page.goto(f"{hub.url}/user/bob/voila/render/reflectometry.ipynb", timeout=120_000)
        page.locator(".sd-refl-plot path.line").first.wait_for(state="attached", timeout=60_000)
        page.locator(".sd-fit-panel button.sd-fit").click()
        page.locator(".sd-result").get_by_text("±").first.wait_for(timeout=120_000)
        assert "fit done" in page.locator(".sd-messages").inner_text()
        out = _run(
            page,
            "bob",
            "from shiftdesk.jobs import list_jobs\n"
            "for job in list_jobs():\n"
            "    if job.kind == 'reflectometry.fit' and job.status.value == 'done':\n"
            "        print('DONE', job.owner, job.id, type(job.result()).__name__)\n",
        )
        assert "DONE bob " in out, out
    finally:
        page.context.close()


@pytest.mark.e2e
@pytest.mark.slow
def test_the_hub_restarts_a_crashed_poller_service(hub: RunningHub) -> None:
    """JupyterHub polls its managed services (every 30 s) and starts an exited one again."""
    (old,) = _services(hub, "daq poll")
    url = _environ(old).get("SHIFTDESK_DATABASE_URL", "")
    assert url.startswith("postgresql+psycopg://shiftdesk@/shiftdesk?"), url
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 75
    new: list[int] = []
    while time.monotonic() < deadline:
        new = [p for p in _services(hub, "daq poll") if p != old and _alive(p)]
        if new:
            break
        time.sleep(0.5)
    assert new, "the hub did not start the daq-poller service again"
    assert "Service daq-poller exited" in hub.log.read_text(errors="replace")
    # the new poller writes heartbeats into the shared database again
    from shiftdesk.daq.poller import read_snapshot
    from shiftdesk.storage import Database

    db = Database(url, migrate=False)  # as root: the owner role, by peer authentication
    try:
        deadline = time.monotonic() + 30
        while not read_snapshot(db).poller_alive:
            assert time.monotonic() < deadline, "the restarted poller does not poll"
            time.sleep(0.5)
    finally:
        db.dispose()
