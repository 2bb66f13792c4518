"""A zeep client for GET's ECC SOAP server (``getEccSoapServer``).

Design points (each fixes a fault of the previous GUI, see the DAQ notes §1.9 and §5):

* The WSDL is shiftdesk's own, shipped with the package and parsed once per process;
  loading never touches the network.
* Request elements go out unprefixed in the default namespace ``urn:ecc``: real gSOAP
  servers silently drop ``ns0:``-prefixed parameters.
* One zeep client per server URL, cached and shared by every :class:`ECCClient` of that
  URL (thread-safe). Timeouts are per call, so a poller (short timeout) and a transition
  (minutes) share the same connection pool.
* Connect and operation timeouts are separate; failures map to distinct exceptions.
* Every call is recorded (:class:`ECCCall`) with its raw request and reply.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.wsdl import Document

from shiftdesk.daq.ecc.errors import (
    BUSY_MESSAGE,
    ECCBusy,
    ECCCommunicationError,
    ECCError,
    ECCHTTPError,
    ECCProtocolError,
    ECCSoapFault,
    ECCTimeout,
    ECCUnreachable,
    ECCValueError,
)
from shiftdesk.daq.ecc.types import (
    OPERATION_TRANSITIONS,
    ConfigId,
    DataLink,
    State,
    Transition,
    data_link_set_xml,
    parse_config_id_set,
)
from shiftdesk.identity import current_identity

log = logging.getLogger(__name__)

NAMESPACE = "urn:ecc"
BINDING = "{urn:ecc}ecc"
DEFAULT_PORT = 8083
#: Operation timeout (s). Transitions are synchronous and Configure can take minutes.
DEFAULT_TIMEOUT = 120.0
#: Connect timeout (s): a host that does not accept a connection in this time is down.
DEFAULT_CONNECT_TIMEOUT = 3.0
#: How many calls per server keep their raw XML (see :func:`call_history`).
DEFAULT_HISTORY_LENGTH = 50

SOAP_ENCODING_URL = "http://schemas.xmlsoap.org/soap/encoding/"
# An empty stand-in for the SOAP-ENC schema that gSOAP WSDLs import by URL; no ECC
# message uses encoded types, so an empty schema is all zeep needs to load offline.
_SOAP_ENCODING_STUB = (
    b'<?xml version="1.0"?>'
    b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"'
    b' targetNamespace="http://schemas.xmlsoap.org/soap/encoding/"/>'
)

CallSink = Callable[["ECCCall"], None]


@dataclass(frozen=True)
class ECCCall:
    """One call to an ECC server: who, when, what, and what came back.

    Attributes
    ----------
    who : str
        The shiftdesk user who made the call.
    when : datetime.datetime
        Start of the call (UTC).
    server : str
        Server URL.
    operation : str
        SOAP operation (``"GetState"``, ``"Configure"``, ...).
    outcome : str
        ``"ok"``, ``"error"`` (non-zero ErrorCode), ``"busy"``, ``"timeout"``,
        ``"unreachable"`` or ``"protocol"`` (HTTP error, SOAP fault, bad XML).
    duration : float
        Wall time of the call (s).
    error : str or None
        The error message when the outcome is not ``"ok"``.
    error_code : int or None
        The server's ErrorCode, when it answered.
    request : str or None
        Raw request envelope as sent.
    response : str or None
        Raw reply body as received (None when nothing came back).
    http_status : int or None
        HTTP status of the reply.
    """

    who: str
    when: dt.datetime
    server: str
    operation: str
    outcome: str
    duration: float
    error: str | None = None
    error_code: int | None = None
    request: str | None = None
    response: str | None = None
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.outcome == "ok"


# -- call history and sinks ------------------------------------------------------------

_history_lock = threading.Lock()
_history: dict[str, deque[ECCCall]] = {}
_history_length = DEFAULT_HISTORY_LENGTH
_sinks: list[CallSink] = []


def call_history(server: str | None = None) -> list[ECCCall]:
    """Recent calls (oldest first), of one server or of all servers.

    Parameters
    ----------
    server : str, optional
        Server URL (any form :class:`ECCClient` accepts); all servers when omitted.
    """
    with _history_lock:
        if server is not None:
            return list(_history.get(normalize_url(server), ()))
        records = [r for calls in _history.values() for r in calls]
    return sorted(records, key=lambda r: r.when)


def clear_call_history() -> None:
    """Forget every recorded call."""
    with _history_lock:
        _history.clear()


def set_history_length(n: int) -> None:
    """Keep the last ``n`` calls (with their raw XML) per server."""
    global _history_length
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ECCValueError(f"history length must be a positive integer, got {n!r}")
    with _history_lock:
        _history_length = n
        for server, calls in list(_history.items()):
            _history[server] = deque(calls, maxlen=n)


def add_call_sink(sink: CallSink) -> None:
    """Call ``sink(record)`` after every ECC call of this process (e.g. to store it).

    A sink that raises is logged and does not affect the call.
    """
    with _history_lock:
        if sink not in _sinks:
            _sinks.append(sink)


def remove_call_sink(sink: CallSink) -> None:
    """Stop calling ``sink`` (no error when it was not registered)."""
    with _history_lock:
        if sink in _sinks:
            _sinks.remove(sink)


def _record(record: ECCCall, extra: CallSink | None) -> None:
    with _history_lock:
        calls = _history.get(record.server)
        if calls is None:
            calls = _history[record.server] = deque(maxlen=_history_length)
        calls.append(record)
        sinks = list(_sinks)
    if extra is not None:
        sinks.append(extra)
    for sink in sinks:
        try:
            sink(record)
        except Exception:  # a broken sink must never break run control
            log.exception("ECC call sink %r failed", sink)


# -- transport and client cache --------------------------------------------------------


class _HTTPErrorReply(Exception):
    """An HTTP error status without a SOAP envelope (raised inside zeep, mapped later)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(status, reason)


class _Exchange:
    """Raw request/reply of the current call of one thread."""

    def __init__(self, timeouts: tuple[float, float]) -> None:
        self.timeouts = timeouts
        self.request: bytes | None = None
        self.response: bytes | None = None
        self.status: int | None = None


class OfflineTransport(zeep.Transport):
    """zeep transport that never downloads schemas and times each call separately.

    * ``load`` serves an empty SOAP-ENC schema for the URL gSOAP WSDLs import, and refuses
      any other remote URL (WSDLs are local files).
    * ``post`` takes its (connect, operation) timeouts from the calling thread's current
      call and keeps the raw request and reply for the call record.
    """

    def __init__(self) -> None:
        super().__init__(timeout=5)
        # ECC servers sit on the DAQ network: never route them through an environment
        # proxy, and skip requests' per-call proxy/netrc lookups (~1 ms of CPU each).
        self.session.trust_env = False
        self._local = threading.local()

    def load(self, url: str) -> bytes:
        """Load a WSDL/XSD; serves SOAP-ENC locally and refuses remote URLs."""
        if url.rstrip("/") == SOAP_ENCODING_URL.rstrip("/"):
            return _SOAP_ENCODING_STUB
        if urlsplit(url).scheme in ("http", "https"):
            raise ECCValueError(
                f"the ECC WSDL imports {url}; shiftdesk loads WSDLs offline only: "
                "use a WSDL whose imports are local files"
            )
        return bytes(super().load(url))

    def begin(self, timeouts: tuple[float, float]) -> _Exchange:
        """Start a call in this thread with ``(connect, operation)`` timeouts."""
        exchange = _Exchange(timeouts)
        self._local.exchange = exchange
        return exchange

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> Any:
        """POST one envelope; HTTP errors without a SOAP envelope raise at once."""
        exchange: _Exchange | None = getattr(self._local, "exchange", None)
        timeouts = exchange.timeouts if exchange else (DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT)
        if exchange is not None:
            exchange.request = message.encode() if isinstance(message, str) else message
        response = self.session.post(address, data=message, headers=headers, timeout=timeouts)
        if exchange is not None:
            exchange.response = response.content
            exchange.status = response.status_code
        if response.status_code != 200 and not _is_envelope(response.content):
            raise _HTTPErrorReply(response.status_code, response.reason or "")
        return response


def _is_envelope(content: bytes) -> bool:
    try:
        root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return False
    return etree.QName(root).localname == "Envelope"


_document_lock = threading.Lock()
_document: Document | None = None
_settings = zeep.Settings(strict=True, xml_huge_tree=True)


def wsdl_path() -> str:
    """Path of the WSDL shipped with shiftdesk."""
    return str(resources.files("shiftdesk.daq.ecc").joinpath("ecc.wsdl"))


def _wsdl_document() -> Document:
    """The packaged WSDL, parsed once per process (the costly part of a zeep client)."""
    global _document
    with _document_lock:
        if _document is None:
            # zeep annotates the transport as a class but takes an instance
            transport: Any = OfflineTransport()
            document = Document(wsdl_path(), transport, settings=_settings)
            # Default namespace, no prefix: gSOAP drops ns0:-prefixed parameters.
            document.types.set_ns_prefix(None, NAMESPACE)
            _document = document
        return _document


class _Connection:
    """The cached zeep client, service proxy and transport of one server URL."""

    def __init__(self, url: str) -> None:
        self.transport = OfflineTransport()
        self.client = zeep.Client(wsdl=_wsdl_document(), transport=self.transport,
                                  settings=_settings)  # fmt: skip
        self.service = self.client.create_service(BINDING, url)


_connections_lock = threading.Lock()
_connections: dict[str, _Connection] = {}


def _connection(url: str) -> _Connection:
    with _connections_lock:
        conn = _connections.get(url)
        if conn is None:
            conn = _connections[url] = _Connection(url)
        return conn


def forget_clients() -> None:
    """Drop every cached zeep client (closing their connections)."""
    with _connections_lock:
        conns = list(_connections.values())
        _connections.clear()
    for conn in conns:
        conn.transport.session.close()


def normalize_url(url: str) -> str:
    """``host``, ``host:port`` or ``http://host:port/`` -> ``http://host:port/``.

    Raises
    ------
    ECCValueError
        If the URL has no host, a bad port, or a scheme other than http/https.
    """
    if not isinstance(url, str) or not url.strip():
        raise ECCValueError(f"ECC server URL must be a non-empty string, got {url!r}")
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ECCValueError(f"ECC server URL {url!r} is not an http://host:port/ address")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ECCValueError(f"ECC server URL {url!r} has an invalid port") from None
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}{parts.path or '/'}"


# -- the client --------------------------------------------------------------------------


def _check_timeout(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ECCValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _config_xml(config: ConfigId) -> str:
    if not isinstance(config, ConfigId):
        raise ECCValueError(
            f"expected a ConfigId (describe, prepare, configure names), got {config!r}"
        )
    return config.to_xml()


class ECCClient:
    """Talk to one GET ECC server.

    Parameters
    ----------
    url : str
        Server address: ``http://host:port/``, ``host:port`` or ``host`` (port 8083).
    timeout : float
        Operation timeout (s): how long a call may wait for its reply once connected.
        Transitions are synchronous, so keep it long for them; a poller can use a short
        one. Every method also takes ``timeout=`` to override it for one call.
    connect_timeout : float
        How long to wait for the TCP connection (s).
    on_call : callable, optional
        Called with the :class:`ECCCall` of each call of this client (after the
        process-wide sinks of :func:`add_call_sink`).

    Examples
    --------
    >>> ecc = ECCClient("http://192.168.41.10:8083/", timeout=300)  # doctest: +SKIP
    >>> ecc.get_state()  # doctest: +SKIP
    (<State.IDLE: 1>, <Transition.NONE: 0>)
    >>> ecc.describe(ConfigId("cobo0", "e20009", "e20009"))  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        *,
        on_call: CallSink | None = None,
    ) -> None:
        self.url = normalize_url(url)
        self.timeout = _check_timeout("timeout", timeout)
        self.connect_timeout = _check_timeout("connect_timeout", connect_timeout)
        self.on_call = on_call

    def __repr__(self) -> str:
        return f"ECCClient({self.url!r}, timeout={self.timeout:g})"

    @property
    def history(self) -> list[ECCCall]:
        """Recent calls to this server (by any client in this process), oldest first."""
        return call_history(self.url)

    @property
    def last_call(self) -> ECCCall | None:
        """The most recent call to this server, if any."""
        calls = self.history
        return calls[-1] if calls else None

    # -- operations --

    def get_state(self, *, timeout: float | None = None) -> tuple[State, Transition]:
        """Current state and running transition (``Transition.NONE`` when idle).

        During a transition GET answers with the state *before* it and the transition's
        code.
        """

        def parse(reply: Any) -> tuple[State, Transition]:
            try:
                return State(int(reply.State)), Transition(int(reply.Transition))
            except (TypeError, ValueError):
                raise self._protocol(
                    "GetState", f"unknown state {reply.State!r} / transition {reply.Transition!r}"
                ) from None

        result: tuple[State, Transition] = self._call("GetState", {}, timeout, parse)
        return result

    def get_config_ids(self, *, timeout: float | None = None) -> list[ConfigId]:
        """The config triplets the server offers (from its config repository)."""

        def parse(reply: Any) -> list[ConfigId]:
            try:
                return parse_config_id_set(reply.Text or "")
            except ECCValueError as exc:
                raise self._protocol("GetConfigIDs", f"unreadable ConfigIdSet: {exc}") from None

        result: list[ConfigId] = self._call("GetConfigIDs", {}, timeout, parse)
        return result

    def describe(self, config: ConfigId, *, timeout: float | None = None) -> str:
        """Describe (Idle -> Described); returns the ``<DataSenderSet>`` reply text.

        Use :func:`~shiftdesk.daq.ecc.types.parse_data_senders` to list the senders.
        """
        return self._transition("Describe", _config_xml(config), "", timeout)

    def prepare(self, config: ConfigId, *, timeout: float | None = None) -> str:
        """Prepare (Described -> Prepared); returns the reply text."""
        return self._transition("Prepare", _config_xml(config), "", timeout)

    def configure(
        self, config: ConfigId, data_links: Sequence[DataLink], *, timeout: float | None = None
    ) -> str:
        """Configure (Prepared -> Ready) with the data links of this server's senders.

        Returns the reply text: the ``<DataLinkSet>`` followed by the configuration set.
        """
        return self._transition(
            "Configure", _config_xml(config), data_link_set_xml(data_links), timeout
        )

    def start(self, *, timeout: float | None = None) -> str:
        """Start (Ready -> Running)."""
        return self._transition("Start", "", "", timeout)

    def stop(self, *, timeout: float | None = None) -> str:
        """Stop (Running or Paused -> Ready)."""
        return self._transition("Stop", "", "", timeout)

    def pause(self, *, timeout: float | None = None) -> str:
        """Pause (Running -> Paused)."""
        return self._transition("Pause", "", "", timeout)

    def resume(self, *, timeout: float | None = None) -> str:
        """Resume (Paused -> Running)."""
        return self._transition("Resume", "", "", timeout)

    def breakup(self, *, timeout: float | None = None) -> str:
        """Breakup (Ready, Running or Paused -> Prepared)."""
        return self._transition("Breakup", "", "", timeout)

    def undo(self, *, timeout: float | None = None) -> str:
        """Undo one step (Prepared -> Described, Described -> Idle)."""
        return self._transition("Undo", "", "", timeout)

    def transition(
        self,
        operation: str,
        config: ConfigId | None = None,
        data_links: Sequence[DataLink] = (),
        *,
        timeout: float | None = None,
    ) -> str:
        """Run a transition by operation name (``"Describe"`` ... ``"Undo"``).

        ``config`` is needed by Describe, Prepare and Configure, ``data_links`` by
        Configure; the others ignore them (as GET does).
        """
        if operation not in OPERATION_TRANSITIONS:
            raise ECCValueError(
                f"unknown ECC transition {operation!r}; use one of "
                f"{', '.join(OPERATION_TRANSITIONS)}"
            )
        if operation in ("Describe", "Prepare", "Configure"):
            if config is None:
                raise ECCValueError(f"{operation} needs a ConfigId: select a config first")
            links = data_link_set_xml(data_links) if operation == "Configure" else ""
            return self._transition(operation, _config_xml(config), links, timeout)
        return self._transition(operation, "", "", timeout)

    def special(self, command: str, *, timeout: float | None = None) -> str:
        """Run a GET "special command" line on the server; returns its output."""
        if not isinstance(command, str) or not command.strip():
            raise ECCValueError("special() needs a non-empty command line")
        return str(self._call("Special", {"command": command, "table": ""}, timeout).Text or "")

    def exit_server(self, *, timeout: float | None = None) -> None:
        """Stop the ECC server process (ServerExit). Never offer this to a shift crew."""
        self._call("ServerExit", {}, timeout)

    # -- plumbing --

    def _transition(self, op: str, config_xml: str, table: str, timeout: float | None) -> str:
        reply = self._call(op, {"configID": config_xml, "table": table}, timeout)
        return str(reply.Text or "")

    def _protocol(self, op: str, message: str) -> ECCProtocolError:
        return ECCProtocolError(f"ECC server {self.url}, {op}: {message}", op, self.url)

    def _call(
        self,
        op: str,
        params: dict[str, str],
        timeout: float | None,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Call ``op``, record it, and turn every failure into an ECC exception.

        ``parse(reply)`` reads a successful reply; its protocol errors are recorded too.
        """
        op_timeout = self.timeout if timeout is None else _check_timeout("timeout", timeout)
        who = current_identity().name
        when = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        conn = _connection(self.url)
        exchange = conn.transport.begin((self.connect_timeout, op_timeout))
        outcome, error, code, reply = "ok", None, None, None
        try:
            try:
                reply = getattr(conn.service, op)(**params)
            except Exception as exc:
                translated = self._translate(op, exc, op_timeout)
                if translated is exc:
                    raise
                raise translated from exc
            if reply is None or reply.ErrorCode is None:
                raise self._protocol(op, "the reply has no ErrorCode")
            code = int(reply.ErrorCode)
            message = str(reply.ErrorMessage or "")
            if code != 0:
                cls = ECCBusy if message.strip() == BUSY_MESSAGE else ECCError
                raise cls(code, message, op, self.url)
            return parse(reply) if parse is not None else reply
        except ECCBusy as exc:
            outcome, error = "busy", str(exc)
            raise
        except ECCError as exc:
            outcome, error = "error", str(exc)
            raise
        except ECCTimeout as exc:
            outcome, error = "timeout", str(exc)
            raise
        except ECCUnreachable as exc:
            outcome, error = "unreachable", str(exc)
            raise
        except ECCCommunicationError as exc:
            outcome, error = "protocol", str(exc)
            raise
        finally:
            _record(
                ECCCall(
                    who=who,
                    when=when,
                    server=self.url,
                    operation=op,
                    outcome=outcome,
                    duration=time.perf_counter() - t0,
                    error=error,
                    error_code=code,
                    request=_text(exchange.request),
                    response=_text(exchange.response),
                    http_status=exchange.status,
                ),
                self.on_call,
            )

    def _translate(self, op: str, exc: Exception, op_timeout: float) -> Exception:
        url = self.url
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return ECCTimeout(
                f"no connection to ECC server {url} within {self.connect_timeout:g} s "
                f"({op}): is the host up and reachable?",
                op,
                url,
                phase="connect",
            )
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return ECCTimeout(
                f"ECC server {url} did not answer {op} within {op_timeout:g} s: it may be "
                "hung, or the transition needs a longer timeout",
                op,
                url,
                phase="operation",
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            text = str(exc)
            if "refused" in text.lower():
                why = "connection refused: is getEccSoapServer running on that host and port?"
            else:
                why = f"connection failed or was lost ({text})"
            return ECCUnreachable(f"ECC server {url} ({op}): {why}", op, url)
        if isinstance(exc, _HTTPErrorReply):
            return ECCHTTPError(
                f"ECC server {url} answered {op} with HTTP {exc.status} {exc.reason} and no "
                "SOAP reply: is this really an ECC server (port)?",
                op,
                url,
                status=exc.status,
            )
        if isinstance(exc, zeep.exceptions.Fault):
            detail = (
                etree.tostring(exc.detail, encoding="unicode") if exc.detail is not None else ""
            )
            return ECCSoapFault(
                f"ECC server {url} answered {op} with a SOAP fault"
                f"{f' ({exc.code})' if exc.code else ''}: {exc.message}",
                op,
                url,
                faultcode=exc.code,
                detail=detail,
            )
        if isinstance(exc, requests.exceptions.RequestException):
            return ECCCommunicationError(f"ECC server {url} ({op}): {exc}", op, url)
        if isinstance(exc, zeep.exceptions.Error | etree.XMLSyntaxError):
            return self._protocol(op, f"not a valid ECC reply ({exc})")
        return exc


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw.decode("utf-8", errors="replace")
