"""Loading runs from a facility data server: a real HTTP server on 127.0.0.1 in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shiftdesk.errors import DataError, PermissionDenied
from shiftdesk.identity import Identity
from shiftdesk.reflectometry import Library
from shiftdesk.reflectometry.dataserver import (
    URL_ENV,
    DataServer,
    DataServerConfigError,
    DataServerError,
    Experiment,
    ExperimentMembership,
    RunInputError,
    RunNotFound,
    load_run,
)
from shiftdesk.reflectometry.demo import demo_bytes
from shiftdesk.storage import Database

ALICE = Identity("alice")
MALLORY = Identity("mallory")
ADMIN = Identity("root", admin=True)
SLOW_SECONDS = 3.0

#: path -> (status, content type, body)
ROUTES: dict[str, tuple[int, str, bytes]] = {
    "/REF_L/1234/reduced.txt": (200, "text/plain", demo_bytes()),
    "/REF_L/1235/reduced.txt": (200, "text/plain", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    "/REF_L/1236/reduced.txt": (
        200,
        "text/html",
        b"<!DOCTYPE html><html><body>Login required</body></html>",
    ),
    "/REF_L/1237/reduced.txt": (200, "text/plain", demo_bytes() * 10),
    "/REF_L/1238/reduced.txt": (500, "text/plain", b"database is down"),
    "/REF_L/1239/reduced.txt": (403, "text/plain", b"forbidden"),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/REF_L/1240/reduced.txt":
            time.sleep(SLOW_SECONDS)  # a server that hangs
        status, content_type, body = ROUTES.get(self.path, (404, "text/plain", b"not found"))
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy configured on the machine must not intercept the local test server."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def membership() -> ExperimentMembership:
    return ExperimentMembership(
        [
            Experiment("IPTS-1", "REF_L", 1200, 1299, members=frozenset({"alice"})),
            Experiment("IPTS-2", "REF_M", 5000, 5999, groups=frozenset({"magnetism"})),
        ]
    )


@pytest.fixture
def server(base_url: str, membership: ExperimentMembership) -> DataServer:
    return DataServer(
        base_url + "/{instrument}/{run}/reduced.txt", permission=membership, max_bytes=50_000
    )


def test_member_loads_a_run(server: DataServer) -> None:
    data = server.load("REF_L", 1234, ALICE)
    assert data.name == "REF_L_1234" and len(data) > 100
    assert data.source == "REF_L_1234.txt"
    # the same numbers as the file itself
    from shiftdesk.reflectometry import load_data

    reference = load_data(demo_bytes(), filename="demo.txt")
    assert data.fingerprint == reference.fingerprint
    assert server.load("REF_L", "1234", ALICE).fingerprint == data.fingerprint  # typed text


def test_other_user_is_refused_before_any_request(server: DataServer) -> None:
    with pytest.raises(PermissionDenied, match="'mallory' is not a member") as info:
        server.load("REF_L", 1234, MALLORY)
    assert "REF_L run 1234" in str(info.value)
    # a run of no known experiment: refused the same way, even if the server has it
    with pytest.raises(PermissionDenied):
        server.load("REF_L", 1300, ALICE)
    # members by group, and administrators
    assert server.permission(Identity("bob", groups=frozenset({"magnetism"})), "REF_M", 5001)
    assert server.permission(Identity("carol", groups=frozenset({"IPTS-1"})), "ref_l", 1201)
    assert not server.permission(ALICE, "REF_M", 5001)
    assert server.load("REF_L", 1234, ADMIN).name == "REF_L_1234"


def test_missing_run(server: DataServer) -> None:
    with pytest.raises(RunNotFound, match="no reduced data for REF_L run 1250") as info:
        server.load("REF_L", 1250, ALICE)
    assert "HTTP 404" in str(info.value) and isinstance(info.value, LookupError)


@pytest.mark.parametrize(
    ("run", "error", "message"),
    [
        (1235, DataError, "REF_L run 1235 from the data server: .*binary file"),
        (1236, DataServerError, "sent a web page, not reduced data"),
        (1237, DataServerError, "are refused"),
        (1238, DataServerError, "HTTP 500"),
        (1239, DataServerError, "refused .*HTTP 403"),
    ],
)
def test_unusable_responses(
    server: DataServer, run: int, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        server.load("REF_L", run, ALICE)


def test_server_that_does_not_answer(base_url: str, membership: ExperimentMembership) -> None:
    slow = DataServer(
        base_url + "/{instrument}/{run}/reduced.txt", permission=membership, timeout=0.3
    )
    with pytest.raises(DataServerError, match=r"did not answer within 0\.3 s"):
        slow.load("REF_L", 1240, ALICE)


def test_unreachable_server(membership: ExperimentMembership) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = DataServer(f"http://127.0.0.1:{port}/{{instrument}}/{{run}}", permission=membership)
    with pytest.raises(DataServerError, match="cannot reach the data server for REF_L run 1234"):
        down.load("REF_L", 1234, ALICE)


@pytest.mark.parametrize(
    ("instrument", "run", "message"),
    [
        ("../etc", 1234, "not an instrument name"),
        ("REF L", 1234, "not an instrument name"),
        ("", 1234, "not an instrument name"),
        ("REF_L", -3, "not a run number"),
        ("REF_L", "12a", "not a run number"),
        ("REF_L", 0, "not a run number"),
        ("REF_L", True, "not a run number"),
    ],
)
def test_bad_instrument_or_run(
    server: DataServer, instrument: str, run: object, message: str
) -> None:
    with pytest.raises(RunInputError, match=message):
        server.load(instrument, run, ALICE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("http://host/{instrument}/reduced.txt", "exactly {instrument} and {run}"),
        ("http://host/{instrument}/{run}/{user}", "exactly {instrument} and {run}"),
        ("file:///data/{instrument}/{run}", "http:// or https://"),
        ("http://host/{instrument/{run}", "malformed"),
    ],
)
def test_bad_templates(template: str, message: str) -> None:
    with pytest.raises(DataServerConfigError, match=message):
        DataServer(template, permission=lambda *_: True)


def test_template_from_the_environment(
    base_url: str, membership: ExperimentMembership, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    with pytest.raises(DataServerConfigError, match=URL_ENV):
        DataServer(permission=membership)
    monkeypatch.setenv(URL_ENV, base_url + "/{instrument}/{run:d}/reduced.txt")
    assert (
        DataServer(permission=membership).url_for("REF_L", 7) == f"{base_url}/REF_L/7/reduced.txt"
    )
    data = load_run("REF_L", 1234, identity=ALICE, permission=membership)
    assert data.name == "REF_L_1234"


def test_default_hook_reads_the_membership_file(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = base_url + "/{instrument}/{run}/reduced.txt"
    monkeypatch.delenv("SHIFTDESK_EXPERIMENTS", raising=False)
    with pytest.raises(PermissionDenied):  # nothing configured: only administrators
        DataServer(template).load("REF_L", 1234, ALICE)
    assert DataServer(template).load("REF_L", 1234, ADMIN).name == "REF_L_1234"
    path = tmp_path / "experiments.json"
    path.write_text(
        json.dumps(
            {
                "experiments": [
                    {
                        "name": "IPTS-9",
                        "instrument": "REF_L",
                        "runs": [1234, 1234],
                        "members": ["alice"],
                    },
                    {"name": "IPTS-10", "instrument": "REF_L", "runs": 1299, "members": []},
                ]
            }
        )
    )
    monkeypatch.setenv("SHIFTDESK_EXPERIMENTS", str(path))
    server = DataServer(template)
    assert server.load("REF_L", 1234, ALICE).name == "REF_L_1234"
    with pytest.raises(PermissionDenied):
        server.load("REF_L", 1234, MALLORY)
    path.write_text('{"experiments": [{"name": "x", "runs": [1, 2]}]}')
    with pytest.raises(DataServerConfigError, match="experiment 1 is malformed"):
        DataServer(template)
    path.write_text("{not json")
    with pytest.raises(DataServerConfigError, match="not valid JSON"):
        DataServer(template)


def test_add_to_library(server: DataServer, tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'lib.db'}")
    library = Library(database, ALICE)
    data_id, data = server.add_to_library("REF_L", 1234, library)
    assert [entry.name for entry in library.list_data()] == ["REF_L_1234.txt"]
    assert library.open_data(data_id).fingerprint == data.fingerprint
    # mallory's library fetches as mallory: refused, and nothing is stored for anyone
    with pytest.raises(PermissionDenied):
        server.add_to_library("REF_L", 1234, Library(database, MALLORY))
    with pytest.raises(DataError):
        server.add_to_library("REF_L", 1235, library)
    assert len(Library(database, ADMIN).list_data()) == 1
