"""One simulated GET ECC server on a loopback port (:class:`SimulatedECC`).

It behaves like ``getEccSoapServer`` as far as a client can tell (DAQ notes §1.3, §4):
synchronous transitions run in the request's own thread while GetState keeps answering,
a second transition gets the busy reply, invalid transitions and bad configs get an
error reply with the transition code, and failures can be injected from Python.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from shiftdesk.daq.ecc.errors import BUSY_MESSAGE, ECCValueError
from shiftdesk.daq.ecc.types import (
    LINK_TYPES,
    OPERATION_TRANSITIONS,
    STATE_MACHINE,
    ConfigId,
    State,
    Transition,
    config_id_set_xml,
    data_link_set_xml,
    data_sender_set_xml,
    parse_xml,
)
from shiftdesk.daq.simulator import soap
from shiftdesk.daq.simulator.configs import (
    config_path,
    list_config_ids,
    read_senders,
    write_config_set,
)
from shiftdesk.daq.simulator.graw import GrawWriter

log = logging.getLogger(__name__)

#: Transition durations (s) used unless told otherwise: fast, for tests.
FAST_DURATIONS: dict[str, float] = dict.fromkeys(OPERATION_TRANSITIONS, 0.0)
#: A "realistic" profile. These are assumptions (GET publishes no figures; its docs say
#: Describe/Configure "take a while"), not measurements.
REALISTIC_DURATIONS: dict[str, float] = {
    "Describe": 2.0,
    "Prepare": 5.0,
    "Configure": 15.0,
    "Start": 1.0,
    "Stop": 1.0,
    "Pause": 0.5,
    "Resume": 0.5,
    "Breakup": 1.0,
    "Undo": 1.0,
}
FAILURE_KINDS = ("error", "hang", "http_error", "fault")
#: Requests per connection before the server closes it (GET sets gSOAP's max_keep_alive).
MAX_KEEP_ALIVE = 100


@dataclass
class Failure:
    """An injected failure; see :meth:`SimulatedECC.inject`."""

    kind: str
    operation: str | None = None
    message: str = ""
    code: int | None = None
    seconds: float | None = None
    status: int = 500
    times: int | None = 1

    def matches(self, operation: str) -> bool:
        """Whether this failure applies to a call of ``operation``."""
        return self.operation is None or self.operation == operation


class _Stopped(Exception):
    """The server is stopping: drop the request without a reply."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # gSOAP listens with a backlog of 100; Python's default is 5
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: SimulatedECC) -> None:
        self.sim = sim
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
            self.sim.connections += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.sockets_lock:
                self.open_sockets.discard(request)

    def drop_connections(self) -> None:
        """Close every open connection, as a dying server process would."""
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like gSOAP
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK stall every reply by ~40 ms.
    disable_nagle_algorithm = True
    server: _HTTPServer
    timeout = 300

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: " + format, self.server.sim.name, *args)

    def do_GET(self) -> None:
        self._send(405, b"ECC SOAP server: POST SOAP requests to /", "text/plain")

    served = 0  # requests answered on this connection

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            status, payload, ctype = self.server.sim._handle(body)
        except _Stopped:
            self.close_connection = True
            return
        self._send(status, payload, ctype)

    def _send(self, status: int, payload: bytes, ctype: str) -> None:
        self.served += 1
        try:
            self.send_response(status)
            if self.served >= MAX_KEEP_ALIVE:  # gSOAP's max_keep_alive: then a new connection
                self.send_header("Connection", "close")
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client gave up (timeout) or we dropped it


class SimulatedECC:
    """A simulated GET ECC server (``getEccSoapServer``) on a loopback port.

    Parameters
    ----------
    config_dir : str or Path, optional
        Config repository (``describe-<name>.xcfg`` …). Default: a temporary folder with
        one set, ``default``, describing ``senders``.
    senders : sequence of str
        Data senders of the default config set (when ``config_dir`` is not given).
    host, port : str, int
        Where to listen; port 0 picks a free one.
    name : str, optional
        A label for logs and reprs.
    data_dir : str or Path, optional
        Data router folder where GRAW files appear while Running (none when omitted).
    durations : float or mapping, optional
        Transition durations (s): one number for all, or per operation name.
    drop_prefixed_params : bool
        Ignore ``ns0:``-prefixed request parameters, like real gSOAP servers.
    graw_interval, graw_asads, graw_size
        GRAW files: seconds between files, AsAds per CoBo, bytes per file.
    start : bool
        Start listening at once.
    """

    def __init__(
        self,
        config_dir: str | Path | None = None,
        *,
        senders: Sequence[str] = ("CoBo[0]",),
        host: str = "127.0.0.1",
        port: int = 0,
        name: str | None = None,
        data_dir: str | Path | None = None,
        durations: float | Mapping[str, float] | None = None,
        drop_prefixed_params: bool = False,
        graw_interval: float = 0.5,
        graw_asads: int = 1,
        graw_size: int = 1024,
        start: bool = True,
    ) -> None:
        self._tmp: str | None = None
        if config_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="shiftdesk-ecc-configs-")
            config_dir = self._tmp
            self.default_config: ConfigId | None = write_config_set(config_dir, "default", senders)
        else:
            self.default_config = None
        self.config_dir = Path(config_dir)
        if not self.config_dir.is_dir():
            raise ECCValueError(f"config folder {self.config_dir} does not exist")
        self.host = host
        self.port = port
        self.name = name or "ecc"
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.durations: dict[str, float] = dict(FAST_DURATIONS)
        if isinstance(durations, int | float):
            self.durations = {op: float(durations) for op in FAST_DURATIONS}
        elif durations is not None:
            unknown = set(durations) - set(FAST_DURATIONS)
            if unknown:
                raise ECCValueError(f"durations for unknown operations: {sorted(unknown)}")
            self.durations.update({k: float(v) for k, v in durations.items()})
        if any(not seconds >= 0 for seconds in self.durations.values()):
            raise ECCValueError(f"transition durations must be ≥ 0 s, got {durations!r}")
        if not graw_interval > 0 or graw_asads < 1 or graw_size < 0:
            raise ECCValueError(
                "GRAW files need graw_interval > 0, graw_asads ≥ 1 and graw_size ≥ 0"
            )
        self.drop_prefixed_params = drop_prefixed_params
        #: Connections accepted so far (clients should keep connections alive).
        self.connections = 0
        self.graw_interval = graw_interval
        self.graw_asads = graw_asads
        self.graw_size = graw_size
        #: The last 1000 parsed requests (operation, kept and dropped params), oldest first.
        self.requests: deque[soap.SoapRequest] = deque(maxlen=1000)
        #: ``precondition(operation) -> error message or None``, checked before each
        #: transition (e.g. the MuTAnT/CoBo ordering of :class:`SimulatedCluster`).
        self.precondition: Callable[[str], str | None] | None = None
        self._lock = threading.RLock()
        self._lifecycle = threading.Lock()  # start/refuse/stop, one at a time
        self._state = State.IDLE
        self._transition = Transition.NONE
        self._senders: list[str] = []
        self._failures: list[Failure] = []
        self._hang_events: set[threading.Event] = set()
        self._gate = threading.Event()
        self._gate.set()
        self._stopping = threading.Event()
        self._writer: GrawWriter | None = None
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        if start:
            try:
                self.start()
            except BaseException:
                self.stop()  # removes the temporary config folder
                raise

    # -- lifecycle --

    @property
    def url(self) -> str:
        """The server URL, ``http://127.0.0.1:<port>/``."""
        return f"http://{self.host}:{self.port}/"

    @property
    def listening(self) -> bool:
        """Whether the server accepts connections."""
        return self._server is not None

    def __repr__(self) -> str:
        return f"<SimulatedECC {self.name} {self.url} {self.state.label}>"

    def __enter__(self) -> SimulatedECC:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen (again) on the port; a no-op when already listening."""
        with self._lifecycle:
            if self._server is not None:
                return
            self._stopping.clear()
            server = _HTTPServer((self.host, self.port), self)
            self.port = server.server_address[1]
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"ecc-sim-{self.name}", daemon=True,
            )  # fmt: skip
            self._thread.start()
            self._server = server

    def refuse(self) -> None:
        """Stop listening and drop open connections: clients get "connection refused".

        The state is kept; :meth:`start` listens again on the same port.
        """
        with self._lifecycle:
            server = self._server
            if server is None:
                return
            self._stopping.set()
            self._release_waiters()
            server.shutdown()
            server.server_close()
            server.drop_connections()
            self._server = None

    def stop(self) -> None:
        """Stop the server for good (stops GRAW writing, removes the temporary configs)."""
        self.refuse()
        self._stop_writer()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def restart(self) -> None:
        """Simulate a server restart: connections drop, the state goes back to Idle."""
        self.refuse()
        self._stop_writer()
        with self._lock:
            self._state = State.IDLE
            self._transition = Transition.NONE
            self._senders = []
        self.start()

    # -- state and test controls --

    @property
    def state(self) -> State:
        """Current state."""
        with self._lock:
            return self._state

    @property
    def transition(self) -> Transition:
        """Running transition (``Transition.NONE`` when idle)."""
        with self._lock:
            return self._transition

    @property
    def senders(self) -> list[str]:
        """Data senders found by the last Describe."""
        with self._lock:
            return list(self._senders)

    def set_state(self, state: State | int, senders: Sequence[str] | None = None) -> None:
        """Force a state (e.g. OFF, or Running without going through the transitions)."""
        with self._lock:
            self._state = State(state)
            self._transition = Transition.NONE
            if senders is not None:
                self._senders = list(senders)
        self._update_writer()

    def hold(self) -> None:
        """Keep every transition that starts from now on running until :meth:`release`."""
        self._gate.clear()

    def release(self) -> None:
        """Let held transitions finish, and end injected hangs."""
        self._gate.set()
        self._release_waiters()

    def inject(
        self,
        kind: str,
        operation: str | None = None,
        *,
        message: str = "",
        code: int | None = None,
        seconds: float | None = None,
        status: int = 500,
        times: int | None = 1,
    ) -> Failure:
        """Make the next call(s) of ``operation`` (any operation when None) fail.

        Parameters
        ----------
        kind : str
            ``"error"``: reply with ErrorCode ``code`` (default: the transition code, 1
            for other operations) and ``message``; a transition still takes its duration
            and leaves the state unchanged. ``"hang"``: no reply for ``seconds`` (until
            :meth:`release` when None), then answer normally. ``"http_error"``: an HTML
            page with HTTP ``status``. ``"fault"``: a SOAP Server fault.
        times : int or None
            How many calls fail; None until :meth:`clear_failures`.
        """
        if kind not in FAILURE_KINDS:
            raise ECCValueError(f"unknown failure kind {kind!r}; use one of {FAILURE_KINDS}")
        if operation is not None and operation not in soap.OPERATIONS:
            raise ECCValueError(f"unknown operation {operation!r}")
        failure = Failure(kind, operation, message, code, seconds, status, times)
        with self._lock:
            self._failures.append(failure)
        return failure

    def fail(self, operation: str | None = None, message: str = "", **kw: Any) -> Failure:
        """Shortcut for ``inject("error", operation, message=...)``."""
        return self.inject("error", operation, message=message, **kw)

    def clear_failures(self) -> None:
        """Remove every injected failure and end hangs."""
        with self._lock:
            self._failures.clear()
        self._release_waiters()

    # -- request handling (called from handler threads) --

    def _take_failure(self, operation: str) -> Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.matches(operation):
                    if failure.times is not None:
                        failure.times -= 1
                        if failure.times <= 0:
                            self._failures.remove(failure)
                    return failure
        return None

    def _release_waiters(self) -> None:
        with self._lock:
            events = list(self._hang_events)
        for event in events:
            event.set()

    def _wait(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: until released); raise _Stopped when the server stops."""
        event = threading.Event()
        with self._lock:
            self._hang_events.add(event)
        try:
            event.wait(seconds)
        finally:
            with self._lock:
                self._hang_events.discard(event)
        if self._stopping.is_set():
            raise _Stopped

    def _handle(self, body: bytes) -> tuple[int, bytes, str]:
        xml = "text/xml; charset=utf-8"
        try:
            request = soap.parse_request(body, self.drop_prefixed_params)
        except soap.SoapRequestError as exc:
            return 500, soap.fault("SOAP-ENV:Client", str(exc)), xml
        with self._lock:
            self.requests.append(request)
        op = request.operation
        failure = self._take_failure(op)
        if failure is not None and failure.kind == "hang":
            self._wait(failure.seconds)
            failure = None
        if failure is not None and failure.kind == "http_error":
            page = f"<html><body><h1>{failure.status} Server Error</h1></body></html>"
            return failure.status, page.encode(), "text/html"
        if failure is not None and failure.kind == "fault":
            return 500, soap.fault("SOAP-ENV:Server", failure.message or "Internal error"), xml
        if op == "GetState":
            if failure is not None:
                with self._lock:
                    state, transition = int(self._state), int(self._transition)
                reply = soap.response_state(failure.code or 1, failure.message, state, transition)
                return 200, reply, xml
            return 200, self._get_state(), xml
        if op == "GetConfigIDs":
            if failure is not None:
                return 200, soap.response_text(failure.code or 1, failure.message, ""), xml
            text = config_id_set_xml(list_config_ids(self.config_dir))
            return 200, soap.response_text(0, "", text), xml
        if op == "ServerExit":
            threading.Thread(target=self.stop, daemon=True).start()
            return 200, soap.response(0, ""), xml
        if op == "Special":
            if failure is not None:
                return 200, soap.response_text(failure.code or 1, failure.message, ""), xml
            command = request.params.get("command", "")
            return 200, soap.response_text(0, "", f"special command '{command}' done"), xml
        return 200, self._run_transition(request, failure), xml

    def _get_state(self) -> bytes:
        with self._lock:
            busy = self._transition != Transition.NONE
            return soap.response_state(
                0, BUSY_MESSAGE if busy else "", int(self._state), int(self._transition)
            )

    def _run_transition(self, request: soap.SoapRequest, failure: Failure | None) -> bytes:
        op = request.operation
        code = OPERATION_TRANSITIONS[op]
        with self._lock:
            if self._transition != Transition.NONE:
                return soap.response_text(int(code), BUSY_MESSAGE, "")
            start_state = self._state
            target = STATE_MACHINE[op].get(start_state)
            if target is None:
                return soap.response_text(
                    int(code),
                    f"Error: transition '{op}' is not allowed in state '{start_state.label}'",
                    "",
                )
            self._transition = code
        text, error = "", ""
        senders: list[str] | None = None
        try:
            try:
                refusal = self.precondition(op) if self.precondition is not None else None
                if refusal:
                    error = refusal
                else:
                    text, senders = self._do(op, request.params)
            except ECCValueError as exc:
                error = f"Error: {exc}"
            duration = self.durations.get(op, 0.0)
            if duration > 0 and self._stopping.wait(duration):
                raise _Stopped
            while not self._gate.wait(0.05):
                if self._stopping.is_set():
                    raise _Stopped
            if failure is not None and not error:
                error = failure.message or f"Error: {op} failed (injected)"
            with self._lock:
                if error:
                    return soap.response_text(
                        failure.code if failure and failure.code else int(code), error, ""
                    )
                self._state = target
                if senders is not None:
                    self._senders = senders
        finally:
            with self._lock:
                self._transition = Transition.NONE
        self._update_writer()
        return soap.response_text(0, "", text)

    def _do(self, op: str, params: dict[str, str]) -> tuple[str, list[str] | None]:
        """Validate one transition's input; return the reply text (and new senders)."""
        if op not in ("Describe", "Prepare", "Configure"):
            return "", None
        raw = params.get("configID", "")
        try:
            config = ConfigId.from_xml(raw)
        except ECCValueError as exc:
            raise ECCValueError(f"cannot read the config ID {raw!r}: {exc}") from None
        kind = op.lower()
        path = config_path(self.config_dir, kind, getattr(config, kind))
        if not path.is_file():
            raise ECCValueError(f"configuration '{path.name}' not found in {self.config_dir}")
        if op == "Describe":
            senders = read_senders(path)
            return data_sender_set_xml(senders), senders
        if op == "Prepare":
            return "", None
        links = self._check_links(params.get("table", ""))
        return links + "\n" + path.read_text(encoding="utf-8", errors="replace"), None

    def _check_links(self, table: str) -> str:
        """Validate a DataLinkSet as GET would: senders described, types exact, ports ints."""
        from shiftdesk.daq.ecc.types import DataLink

        root = parse_xml(table, "DataLinkSet")
        if root.tag != "DataLinkSet":
            raise ECCValueError(f"expected a <DataLinkSet>, got <{root.tag}>")
        links = []
        for el in root.iter("DataLink"):
            sender, router = el.find("DataSender"), el.find("DataRouter")
            if sender is None or router is None:
                raise ECCValueError("a DataLink needs a DataSender and a DataRouter")
            link_type = router.get("type", "")
            if link_type not in LINK_TYPES:  # exact case, as on real hardware
                raise ECCValueError(f"unknown data link type {link_type!r}")
            port = router.get("port", "")
            if not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ECCValueError(f"invalid data router port {port!r}")
            links.append(
                DataLink(sender.get("id", ""), router.get("ipAddress", ""), int(port),
                         link_type, router.get("name"))
            )  # fmt: skip
        with self._lock:
            described = set(self._senders)
        linked = {link.sender for link in links}
        unknown = sorted(linked - described)
        if unknown:
            raise ECCValueError(f"data sender(s) {', '.join(unknown)} were not described")
        missing = sorted(described - linked)
        if missing:
            raise ECCValueError(f"no data link for data sender(s) {', '.join(missing)}")
        return data_link_set_xml(links)

    def _update_writer(self) -> None:
        """Write GRAW files exactly while Running."""
        with self._lock:
            running = self._state == State.RUNNING
            senders = list(self._senders) or ["CoBo[0]"]
        if running and self._writer is None and self.data_dir is not None:
            writer = GrawWriter(
                self.data_dir, senders, interval=self.graw_interval,
                asads=self.graw_asads, size=self.graw_size,
            )  # fmt: skip
            self._writer = writer
            writer.start()
        elif not running:
            self._stop_writer()

    def _stop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()

    def wait_for(self, state: State, timeout: float = 10.0) -> None:
        """Block until the server is in ``state`` with no transition running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state == state and self.transition == Transition.NONE:
                return
            time.sleep(0.01)
        raise TimeoutError(f"{self.name} did not reach {state.label} within {timeout} s")

    def wait_transitioning(self, timeout: float = 10.0) -> Transition:
        """Block until a transition is running; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.transition
            if current != Transition.NONE:
                return current
            time.sleep(0.005)
        raise TimeoutError(f"{self.name}: no transition started within {timeout} s")
