"""The JupyterHub deployment end to end: ``shiftdesk hub --demo`` with the real proxy.

One hub is started per module (``shiftdesk hub --demo --port P`` in a subprocess, its own
state folder, unique ports). Chromium logs in as ``alice``, lands on the start page and
opens the reflectometry dashboard through the hub; ``bob`` cannot reach alice's server;
the last test stops the hub with SIGTERM and checks that every process it started is
gone and no port is left listening. A second hub, from a settings file, checks the
wallboard slot: group-only, and no code execution from the browser.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests._services import service_missing
from tests.e2e._browser import chromium
from tests.e2e._shiftready import connection_banner, wait_banner, watch

ROOT = Path(__file__).resolve().parents[2]
CHP = ROOT / ".hub-node" / "node_modules" / ".bin" / "configurable-http-proxy"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _environ(pid: int) -> dict[str, str]:
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        return dict(p.split("=", 1) for p in raw.decode(errors="replace").split("\0") if "=" in p)
    return {}


def _uid(pid: int) -> int:
    """The real user id of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


@dataclass
class RunningHub:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    state: Path
    log: Path
    seen: set[int] = field(default_factory=set)

    def internal_ports(self) -> list[int]:
        config = (self.state / "run" / "jupyterhub_config.py").read_text()
        hub = re.search(r"c\.JupyterHub\.hub_port = (\d+)", config)
        api = re.search(r"c\.ConfigurableHTTPProxy\.api_url = 'http://127\.0\.0\.1:(\d+)'", config)
        assert hub and api, config
        return [int(hub.group(1)), int(api.group(1))]

    def remember_processes(self) -> list[int]:
        """Record the hub's process tree now (user servers and kernels included)."""
        pids = _descendants(self.proc.pid)
        self.seen.update(pids)
        return pids


def _stop(proc: subprocess.Popen[bytes], timeout: float = 90) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise


def _require_proxy() -> None:
    if not CHP.exists() and not any(
        (Path(d) / "configurable-http-proxy").exists()
        for d in os.environ.get("PATH", "").split(os.pathsep)
    ):
        service_missing("configurable-http-proxy is not installed: run bash scripts/setup.sh")


def state_folder(prefix: str) -> Path:
    """A hub state folder every account can pass through (pytest's own tmp is private).

    With per-user accounts each user's server must reach its home below it; the
    folder (and what the hub puts in it) is removed by :func:`_running_hub`.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"shiftdesk-{prefix}-", dir="/tmp"))
    os.chmod(folder, 0o711)
    return folder / "state"


@contextlib.contextmanager
def _running_hub(tmp: Path, args: list[str], port: int, state: Path) -> Iterator[RunningHub]:
    """Run ``shiftdesk hub ARGS`` until it prints that it is ready; stop it afterwards."""
    log = tmp / "hub.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIFTDESK_", "JUPYTERHUB_"))}
    env.update(SHIFTDESK_DATA_DIR=str(tmp / "data"), PYTHONUNBUFFERED="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shiftdesk.cli", "hub", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    running = RunningHub(proc=proc, url=f"http://127.0.0.1:{port}", port=port, state=state, log=log)
    try:
        deadline = time.monotonic() + 180
        while "shiftdesk hub: ready at" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the hub did not start:\n{log.read_text(errors='replace')[-5000:]}")
            time.sleep(0.5)
        yield running
    finally:
        _stop(proc)
        print(f"--- hub log ({log}) ---\n{log.read_text(errors='replace')[-8000:]}")
        if state.parent.name.startswith("shiftdesk-") and state.parent.parent == Path("/tmp"):
            shutil.rmtree(state.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """``shiftdesk hub --demo --port P`` (the README's contract), shared by the module."""
    _require_proxy()
    tmp = tmp_path_factory.mktemp("hub")
    port, state = _free_port(), state_folder("hub")
    with _running_hub(tmp, ["--demo", f"--port={port}", f"--state-dir={state}"], port, state) as h:
        yield h


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _login(browser: Any, hub: RunningHub, name: str, password: str) -> Any:
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login", timeout=30_000)
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    return page


@contextlib.contextmanager
def _kept_on_failure(page: Any, shot: Path) -> Iterator[None]:
    """Close ``page``'s browser context afterwards; on a failure, save a screenshot first."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        raise
    finally:
        page.context.close()


@pytest.mark.e2e
def test_start_banner_lists_the_demo_logins(hub: RunningHub) -> None:
    text = hub.log.read_text(errors="replace")
    assert f"ready at http://127.0.0.1:{hub.port}/" in text
    for line in ("alice     alice-demo", "operator  operator-demo", "viewer    viewer-demo"):
        assert line in text


@pytest.mark.e2e
@pytest.mark.slow
def test_alice_logs_in_and_opens_the_dashboard_through_the_hub(
    hub: RunningHub, browser: Any, tmp_path: Path
) -> None:
    page = _login(browser, hub, "alice", "alice-demo")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with _kept_on_failure(page, tmp_path / "alice.png"):
        page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
        start = page.locator(".sd-start")
        assert "Signed in as alice" in start.inner_text()
        groups = set(start.locator(".sd-groups").inner_text().split(", "))
        assert groups == {"catalog-roman", "staff"}
        link = start.locator(".sd-dashboard[data-dashboard='reflectometry'] a")
        assert link.inner_text() == "Reflectometry"

        link.click()  # spawns alice's server, then renders the dashboard in it
        page.wait_for_url(re.compile(r".*/user/alice/voila/render/reflectometry\.ipynb"),
                          timeout=120_000)  # fmt: skip
        page.wait_for_selector(".sd-reflectometry-dashboard", timeout=120_000)
        curve = page.locator(".sd-refl-plot path.line").first
        curve.wait_for(state="attached", timeout=30_000)
        assert (curve.get_attribute("d") or "").startswith("M")
        assert page.locator(".sd-fit-panel button.sd-fit").is_visible()
        assert errors == [], errors

    # alice's server and kernel run as her own account, with her own data folder and
    # database role, and nothing in their environment names groups or administrators
    servers = [
        pid
        for pid in hub.remember_processes()
        if "jupyterhub-singleuser" in _cmdline(pid) and _environ(pid).get("JUPYTERHUB_USER")
    ]
    assert len(servers) == 1, [_cmdline(p) for p in servers]
    env = _environ(servers[0])
    assert env["JUPYTERHUB_USER"] == "alice"
    assert "SHIFTDESK_GROUPS" not in env and "SHIFTDESK_ADMINS" not in env
    assert env["SHIFTDESK_DATA_DIR"] == f"{hub.state.resolve()}/users/alice/.shiftdesk"
    assert env["SHIFTDESK_DATABASE_URL"].startswith("postgresql+psycopg://alice@/shiftdesk?")
    assert env["SHIFTDESK_GATE_URL"].startswith("http://127.0.0.1:")
    alice = pwd.getpwnam("sd-alice")
    assert _uid(servers[0]) == alice.pw_uid
    home = hub.state.resolve() / "users" / "alice"
    assert (home.stat().st_uid, home.stat().st_mode & 0o777) == (alice.pw_uid, 0o700)
    # her account got the installation's compiled numba kernels (no 6 s recompile)
    compiled = list((home / ".cache" / "numba").glob("*/*.nbc"))
    assert compiled and all(p.stat().st_uid == alice.pw_uid for p in compiled)
    kernels = [p for p in _descendants(servers[0]) if "ipykernel" in _cmdline(p)]
    assert kernels, "the dashboard's kernel is not a child of alice's server"
    assert _environ(kernels[0])["JUPYTERHUB_USER"] == "alice"
    assert _uid(kernels[0]) == alice.pw_uid


@pytest.mark.e2e
def test_bob_cannot_reach_alices_server_and_viewer_is_in_no_group(
    hub: RunningHub, browser: Any
) -> None:
    page = _login(browser, hub, "bob", "bob-demo")
    try:
        page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
        response = page.goto(f"{hub.url}/user/alice/voila/render/reflectometry.ipynb")
        assert response is not None and response.status == 403, (
            response and response.status,
            page.url,
        )
        assert page.locator(".sd-reflectometry-dashboard").count() == 0
        api = page.goto(f"{hub.url}/hub/api/users/alice")
        assert api is not None and api.status in (403, 404)
    finally:
        page.context.close()

    page = _login(browser, hub, "viewer", "viewer-demo")
    try:
        page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
        assert page.locator(".sd-no-groups").count() == 1
        assert page.locator(".sd-dashboard[data-dashboard='reflectometry']").count() == 1
    finally:
        page.context.close()

    bad = _login(browser, hub, "alice", "wrong-password")
    try:
        bad.wait_for_selector(".login_error, .alert-danger", timeout=30_000)
        assert "/hub/login" in bad.url
    finally:
        bad.context.close()


@pytest.mark.e2e
def test_unknown_settings_key_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    settings = tmp_path / "hub.toml"
    settings.write_text('[hub]\nport = 8000\nstate_dri = "x"\n')
    result = subprocess.run(
        [sys.executable, "-m", "shiftdesk.cli", "hub", f"--settings={settings}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert f"{settings}: unknown key 'hub.state_dri' in [hub]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "hub-state").exists()  # nothing was written


#: sends an execute_request and a kernel_info_request over the page's kernel websocket
KERNEL_PROBE = """async ([prefix, code]) => {
  const cfg = JSON.parse(document.getElementById('jupyter-config-data').textContent);
  const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
  const ws = new WebSocket(`ws://${location.host}${prefix}api/kernels/${cfg.kernelId}/channels`
                           + `?session_id=probe&_xsrf=${xsrf}`);
  await new Promise((ok, bad) => { ws.onopen = ok; ws.onerror = bad; });
  const replies = [];
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.msg_type.endsWith('_reply')) replies.push(m.msg_type);
  };
  const send = (type, content, id) => ws.send(JSON.stringify({
    header: {msg_id: id, msg_type: type, username: 'probe', session: 'probe',
             date: new Date().toISOString(), version: '5.3'},
    parent_header: {}, metadata: {}, content, channel: 'shell', buffers: []}));
  send('execute_request', {code, silent: false, store_history: false,
                           user_expressions: {}, allow_stdin: false, stop_on_error: true}, 'x1');
  send('kernel_info_request', {}, 'i1');
  const t0 = Date.now();
  while (!replies.includes('kernel_info_reply') && Date.now() - t0 < 30000) {
    await new Promise(r => setTimeout(r, 100));
  }
  await new Promise(r => setTimeout(r, 2000));  // time for an execute_reply, if any
  ws.close();
  return replies;
}"""


@pytest.mark.e2e
@pytest.mark.slow
def test_wallboard_is_group_only_and_refuses_code_execution(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The shared page slot: a staff member sees it, others get 403, and the kernel
    ignores an execute_request sent over its websocket (widget messages only)."""
    _require_proxy()
    tmp = tmp_path_factory.mktemp("wallboard")
    port, state = _free_port(), state_folder("wallboard")
    settings = tmp / "hub.toml"
    settings.write_text(
        textwrap.dedent(
            f"""
            [hub]
            port = {port}
            state_dir = "{state}"
            [auth.demo.users.alice]
            password = "alice-demo"
            groups = ["staff"]
            [auth.demo.users.viewer]
            password = "viewer-demo"
            [accounts]
            system_user = "sd-{{username}}"
            create = true
            [culling]
            enabled = false
            [services.wallboard]
            enabled = true
            notebook = "reflectometry.ipynb"
            groups = ["staff"]
            """
        )
    )
    marker = tmp / "executed"
    with _running_hub(tmp, [f"--settings={settings}"], port, state) as wall:
        page = _login(browser, wall, "viewer", "viewer-demo")
        try:
            page.wait_for_url(f"{wall.url}/hub/home", timeout=30_000)
            assert page.locator(".sd-dashboard[data-dashboard='wallboard']").count() == 0
            response = page.goto(f"{wall.url}/services/wallboard/voila/render/reflectometry.ipynb")
            assert response is not None and response.status == 403
        finally:
            page.context.close()

        page = _login(browser, wall, "alice", "alice-demo")
        try:
            page.wait_for_url(f"{wall.url}/hub/home", timeout=30_000)
            # the shared slot's kernel starts cold: its page may take longer than a click's
            # own 30 s wait for the navigation, so the wait is the selector's
            page.click(".sd-dashboard[data-dashboard='wallboard'] a", no_wait_after=True)
            page.wait_for_selector(".sd-reflectometry-dashboard", timeout=180_000)
            assert "/services/wallboard/voila/render/" in page.url
            code = f"open({str(marker)!r}, 'w').write('ran')"
            replies = page.evaluate(KERNEL_PROBE, ["/services/wallboard/", code])
        finally:
            page.context.close()
    assert "kernel_info_reply" in replies  # the websocket and kernel work ...
    assert "execute_reply" not in replies  # ... but code from the browser is not run
    assert not marker.exists()
    assert 'type "execute_request", which is not allowed' in wall.log.read_text(errors="replace")


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(600)  # two servers spawned and twelve runs processed on a 2-core machine
def test_the_run_table_fills_for_an_editor_and_is_read_only_for_a_viewer(
    hub: RunningHub, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = _login(browser, hub, "alice", "alice-demo")
    with _kept_on_failure(page, tmp_path / "runtable-alice.png"):
        page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
        link = page.locator(".sd-start .sd-dashboard[data-dashboard='runtable'] a")
        assert link.inner_text() == "Run table"
        link.click()
        page.wait_for_selector(".sd-rt-view", timeout=120_000)
        # alice is the first to open it: the table is made in her session, hers, and its
        # runs are processed by jobs that run as her (the job-worker service's)
        last = page.locator(".sd-rt-r12 .sd-rt-state")
        expect(last).to_contain_text("done", timeout=180_000)
        comment = page.locator(".sd-rt-r12 .sd-rt-edit-comment input")
        comment.fill("alice through the gate")
        comment.press("Enter")
        expect(page.locator(".sd-rt-message")).to_contain_text("saved", timeout=30_000)

    page = _login(browser, hub, "viewer", "viewer-demo")
    with _kept_on_failure(page, tmp_path / "runtable-viewer.png"):
        page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
        page.locator(".sd-start .sd-dashboard[data-dashboard='runtable'] a").click()
        page.wait_for_selector(".sd-rt-view", timeout=120_000)
        comment = page.locator(".sd-rt-r12 .sd-rt-edit-comment input")
        expect(comment).to_have_value("alice through the gate", timeout=60_000)
        expect(comment).to_be_disabled()


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_demo_catalog_and_a_data_session_through_the_hub(
    hub: RunningHub, browser: Any, tmp_path: Path
) -> None:
    """alice (hub group catalog-roman) finds the demo catalog the hub seeded, edits it and
    gets best references read from the gate's store by her own server; the viewer sees it
    read-only; alice's first data session is made in her own server with its frames."""
    from playwright.sync_api import expect

    page = _login(browser, hub, "alice", "alice-demo")
    with _kept_on_failure(page, tmp_path / "catalog-alice.png"):
        page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
        page.locator(".sd-start .sd-dashboard[data-dashboard='catalog'] a").click()
        page.wait_for_selector(".sd-cat-view", timeout=120_000)
        expect(page.locator(".sd-cat-cards")).to_contain_text("roman_0002.pmap")
        expect(page.locator(".sd-cat-titlebar")).to_contain_text("editor")
        page.locator(".widget-tab .lm-TabBar-tab", has_text="Best references").click()
        header = page.locator(".sd-cat-header textarea")
        header.fill(
            "ROMAN.META.INSTRUMENT.NAME = WFI\nROMAN.META.INSTRUMENT.DETECTOR = WFI01\n"
            "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT = F158\n"
            "ROMAN.META.EXPOSURE.START_TIME = 2025-08-01 00:00:00\n"
        )
        page.locator(".sd-cat-bestrefs-button").click()
        expect(page.locator(".sd-cat-bestrefs-result")).to_contain_text(
            "roman_wfi_flat_0013.asdf", timeout=30_000
        )

        page.goto(f"{hub.url}/hub/home")
        page.locator(".sd-start .sd-dashboard[data-dashboard='datalab'] a").click()
        page.wait_for_selector(".sd-dl-view", timeout=120_000)
        expect(page.locator(".sd-dl-gallery .sd-dl-card").first).to_be_visible(timeout=60_000)

    page = _login(browser, hub, "viewer", "viewer-demo")
    with _kept_on_failure(page, tmp_path / "catalog-viewer.png"):
        page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
        page.locator(".sd-start .sd-dashboard[data-dashboard='catalog'] a").click()
        page.wait_for_selector(".sd-cat-view", timeout=120_000)
        expect(page.locator(".sd-cat-cards")).to_contain_text("roman_0003.pmap")
        expect(page.locator(".sd-cat-titlebar")).to_contain_text("read-only")


@pytest.mark.e2e
@pytest.mark.slow
def test_a_dashboard_through_the_hub_is_offline_clean_and_shows_its_server_stopping(
    hub: RunningHub, browser: Any, tmp_path: Path
) -> None:
    """The DAQ dashboard as the operator opens it through the hub: nothing asked of other
    hosts, nothing in the console; when the operator's server stops under the open page,
    the page says so at once (issue: a stale "Ready" on a page whose kernel was gone)."""
    page = _login(browser, hub, "operator", "operator-demo")
    seen = watch(page, hub.url)
    with _kept_on_failure(page, tmp_path / "operator.png"):
        page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
        page.click(".sd-dashboard[data-dashboard='daq'] a")
        page.wait_for_selector(".sd-daq-servers", timeout=120_000)
        page.wait_for_timeout(2000)
        assert seen.problems() == [], seen.problems()
        assert connection_banner(page) is None

        home = page.context.new_page()
        home.goto(f"{hub.url}/hub/home", timeout=30_000)
        stopped_at = time.monotonic()
        home.click("#stop")
        banner = wait_banner(page, 60)
        took = time.monotonic() - stopped_at
        page.screenshot(path=str(tmp_path / "operator-stopped.png"))
        assert banner is not None, "no banner after the operator's server stopped"
        assert "nothing on this page is live" in banner["text"], banner
        assert "Last update from the server" in banner["text"], banner
        print(f"banner {took:.1f} s after Stop My Server was clicked: {banner['text']}")


@pytest.mark.e2e
def test_sigterm_stops_everything_the_hub_started(hub: RunningHub) -> None:
    """Runs last in this module: it stops the shared hub."""
    ports = [hub.port, *hub.internal_ports()]
    assert all(_listening(p) for p in ports), ports
    pids = hub.remember_processes()
    names = " | ".join(_cmdline(p) for p in pids)
    assert "configurable-http-proxy" in names and "jupyterhub_idle_culler" in names
    # the demo's DAQ services (simulated ECC servers, poller) stop with the hub too
    assert "shiftdesk.hub.daq_demo" in names and "daq poll" in names
    log = hub.log.read_text(errors="replace")
    seeded = re.search(r"daq-simulator: experiment 'demo' on .*", log)
    assert seeded, "the daq-simulator service did not start its servers"
    # the demo's DAQ network: its own loopback address (only the service account and root,
    # as this test runs, may connect to it)
    ecc_ports = [int(m) for m in re.findall(r"127\.0\.0\.2:(\d+)/", seeded.group(0))]
    assert len(ecc_ports) == 3 and all(_listening(p, "127.0.0.2") for p in ecc_ports), ecc_ports
    assert _stop(hub.proc) == 0
    assert "shiftdesk hub: stopped" in hub.log.read_text(errors="replace")
    left = [p for p in sorted(hub.seen) if _alive(p)]
    assert left == [], [_cmdline(p) for p in left]
    assert not any(_listening(p) for p in ports), ports
    assert not any(_listening(p, "127.0.0.2") for p in ecc_ports), ecc_ports
    # and the hub took its packet-filter rules away
    rules = subprocess.run(["iptables", "-S", "OUTPUT"], capture_output=True, text=True)
    assert "SHIFTDESK-DAQ" not in rules.stdout, rules.stdout
    assert not (hub.state / "run" / "jupyterhub.pid").exists()
