"""The data-server loader panel, headless, against a real HTTP server on 127.0.0.1.

No kernel loop runs under pytest, so the tests call ``panel.poll()`` as the loop would.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shiftdesk.identity import Identity
from shiftdesk.reflectometry import Library, ReflData
from shiftdesk.reflectometry.dataserver import URL_ENV, DataServer, Experiment, ExperimentMembership
from shiftdesk.reflectometry.demo import demo_bytes
from shiftdesk.storage import Database
from shiftdesk_widgets.reflectometry.dataserver_panel import DataServerPanel

ALICE = Identity("alice")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = demo_bytes() if self.path == "/REF_L/1234.txt" else b"not found"
        self.send_response(200 if self.path == "/REF_L/1234.txt" else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy configured on the machine must not intercept the local test server."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def template() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/{{instrument}}/{{run}}.txt"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server(template: str) -> DataServer:
    members = ExperimentMembership(
        [Experiment("IPTS-1", "REF_L", 1000, 1999, members=frozenset({"alice"}))]
    )
    return DataServer(template, permission=members)


def text(panel: DataServerPanel) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", panel.status.value))


def finish(panel: DataServerPanel, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while panel.poll():
        assert time.monotonic() < deadline, "the download did not finish"
        time.sleep(0.02)


def test_load_into_library_and_callback(server: DataServer, tmp_path: Path) -> None:
    library = Library(Database(f"sqlite:///{tmp_path / 'db.sqlite'}"), ALICE)
    received: list[ReflData] = []
    panel = DataServerPanel(server, on_data=received.append, library=library, instrument="REF_L")
    assert panel.keep.value is True
    panel.run.value = "1234"
    panel.load_button.click()
    assert panel.load_button.disabled and "loading REF_L run 1234" in text(panel)
    assert panel.load() is False  # a second Load while one runs is refused
    assert "already loading" in text(panel)
    finish(panel)
    assert not panel.load_button.disabled
    assert "loaded REF_L run 1234" in text(panel) and "kept in my data" in text(panel)
    assert [d.name for d in received] == ["REF_L_1234"]
    assert panel.data is received[0] and panel.data_id is not None
    assert [entry.id for entry in library.list_data()] == [panel.data_id]
    panel.close()


def test_errors_show_in_the_panel(server: DataServer, tmp_path: Path) -> None:
    other = Library(Database(f"sqlite:///{tmp_path / 'db.sqlite'}"), Identity("mallory"))
    panel = DataServerPanel(server, library=other)
    panel.instrument.value, panel.run.value = "REF_L", "abc"
    panel.load_button.click()
    assert "not a run number" in text(panel) and not panel.load_button.disabled
    panel.run.value = "1234"
    panel.load_button.click()
    finish(panel)
    assert "'mallory' is not a member" in text(panel) and "sd-bad" in panel.status.value
    assert panel.data is None and other.list_data() == []
    panel.close()


def test_missing_run_without_library(server: DataServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")  # without a library: the current user
    panel = DataServerPanel(server, instrument="REF_L")
    assert panel.keep.layout.display == "none"
    panel.run.value = "1500"
    assert panel.load() is True
    finish(panel)
    assert "no reduced data for REF_L run 1500" in text(panel)
    panel.close()


def test_unconfigured_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    panel = DataServerPanel()
    assert panel.load_button.disabled and panel.run.disabled and panel.instrument.disabled
    # what an operator can act on, not a developer's setting
    shown = text(panel)
    assert shown.startswith("No facility data server is set up for this hub")
    assert "ask your facility admin" in shown and "Upload data" in shown
    assert URL_ENV not in shown and "url_template" not in shown
    assert panel.load() is False
    panel.close()


def test_misconfigured_server_says_to_tell_the_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_ENV, "ftp://host/{instrument}/{run}")
    panel = DataServerPanel()
    assert panel.load_button.disabled
    shown = text(panel)
    assert "set up wrongly" in shown and "facility admin" in shown
    panel.close()
