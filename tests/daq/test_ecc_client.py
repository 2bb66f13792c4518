"""The ECC client against simulated GET servers over real HTTP on loopback."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import zeep

from shiftdesk.daq import (
    BUSY_MESSAGE,
    ConfigId,
    DataLink,
    ECCBusy,
    ECCCall,
    ECCClient,
    ECCCommunicationError,
    ECCError,
    ECCHTTPError,
    ECCProtocolError,
    ECCSoapFault,
    ECCTimeout,
    ECCUnreachable,
    ECCValueError,
    State,
    Transition,
    add_call_sink,
    call_history,
    parse_data_senders,
    remove_call_sink,
)
from shiftdesk.daq.ecc import client as ecc_client
from shiftdesk.daq.ecc import normalize_url, set_history_length
from shiftdesk.daq.ecc.client import OfflineTransport, wsdl_path
from shiftdesk.daq.ecc.types import parse_data_link_set
from shiftdesk.daq.simulator import SimulatedCluster, SimulatedECC, write_config_set

CONFIG = ConfigId.same("default")
LINK = DataLink("CoBo[0]", "127.0.0.1", 46005, "TCP", "data0")


def _to_ready(ecc: ECCClient) -> None:
    ecc.describe(CONFIG)
    ecc.prepare(CONFIG)
    ecc.configure(CONFIG, [LINK])


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


@pytest.fixture
def unresponsive_port() -> Iterator[int]:
    """A port whose listen queue is full: connections are never accepted (SYNs dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        sock = socket.socket()
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        fillers.append(sock)
    try:
        yield port
    finally:
        for sock in [*fillers, server]:
            sock.close()


# -- operations --------------------------------------------------------------------------


def test_a_full_cycle_walks_the_state_machine(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url, timeout=10)
    assert ecc.get_state() == (State.IDLE, Transition.NONE)
    assert ecc.get_config_ids() == [CONFIG]
    assert parse_data_senders(ecc.describe(CONFIG)) == ["CoBo[0]"]
    assert ecc.get_state() == (State.DESCRIBED, Transition.NONE)
    assert ecc.prepare(CONFIG) == ""
    reply = ecc.configure(CONFIG, [LINK])
    assert parse_data_link_set(reply) == [LINK]
    assert 'Setup id="configure-default"' in reply
    assert ecc.get_state() == (State.READY, Transition.NONE)
    ecc.start()
    assert ecc.get_state() == (State.RUNNING, Transition.NONE)
    ecc.pause()
    assert ecc.get_state()[0] is State.PAUSED
    ecc.resume()
    assert ecc.get_state()[0] is State.RUNNING
    ecc.stop()
    assert ecc.get_state()[0] is State.READY
    ecc.breakup()
    assert ecc.get_state()[0] is State.PREPARED
    ecc.undo()
    assert ecc.get_state()[0] is State.DESCRIBED
    ecc.undo()
    assert ecc.get_state() == (State.IDLE, Transition.NONE)


def test_transition_by_name_checks_its_arguments(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url)
    with pytest.raises(ECCValueError, match="needs a ConfigId"):
        ecc.transition("Describe")
    with pytest.raises(ECCValueError, match="unknown ECC transition"):
        ecc.transition("Reset")
    with pytest.raises(ECCValueError, match="at least one DataLink"):
        ecc.transition("Configure", CONFIG, [])
    ecc.transition("Describe", CONFIG)
    ecc.transition("Prepare", CONFIG)
    ecc.transition("Configure", CONFIG, [LINK])
    ecc.transition("Start")
    assert ecc_server.state is State.RUNNING
    with pytest.raises(ECCValueError, match="expected a ConfigId"):
        ecc.describe("default")  # type: ignore[arg-type]


def test_special_and_server_exit(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url, timeout=5)
    assert "status" in ecc.special("status")
    with pytest.raises(ECCValueError):
        ecc.special(" ")
    ecc.exit_server()
    deadline = time.monotonic() + 5
    while ecc_server.listening and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(ECCUnreachable):
        ecc.get_state()


def test_requests_are_unprefixed_in_the_default_namespace(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url)
    ecc.describe(CONFIG)
    sent = ecc.last_call.request if ecc.last_call else ""
    assert sent is not None
    assert 'xmlns="urn:ecc"' in sent and "<Describe>" in sent and "<configID>" in sent
    assert "ns0:" not in sent
    request = ecc_server.requests[-1]
    assert request.operation == "Describe" and request.namespace == "urn:ecc"
    assert ConfigId.from_xml(request.params["configID"]) == CONFIG
    assert request.dropped == []


def test_a_server_dropping_prefixed_parameters_still_works(tmp_path: Path) -> None:
    with SimulatedECC(drop_prefixed_params=True) as server:
        ECCClient(server.url).describe(CONFIG)
        assert server.state is State.DESCRIBED
        assert server.requests[-1].dropped == []
        # zeep's default (ns0:-prefixed parameters) is what real servers silently drop:
        raw = zeep.Client(wsdl_path(), transport=OfflineTransport())
        service = raw.create_service("{urn:ecc}ecc", server.url)
        reply = service.Prepare(configID=CONFIG.to_xml(), table="")
        assert server.requests[-1].dropped == ["configID", "table"]
        assert reply.ErrorCode == int(Transition.PREPARING)
        assert "config ID ''" in reply.ErrorMessage
        assert server.state is State.DESCRIBED


# -- errors reported by the server ------------------------------------------------------


def test_an_invalid_transition_raises_ecc_error(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url)
    with pytest.raises(ECCError) as info:
        ecc.start()
    err = info.value
    assert err.code == Transition.STARTING
    assert "not allowed in state 'Idle'" in err.message
    assert err.operation == "Start" and err.server == ecc.url
    assert not err.busy and not isinstance(err, ECCBusy)
    assert ecc.last_call is not None and ecc.last_call.outcome == "error"
    assert ecc.last_call.error_code == Transition.STARTING
    assert ecc.get_state() == (State.IDLE, Transition.NONE)


def test_an_injected_error_reply_keeps_the_state(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url)
    ecc.describe(CONFIG)
    ecc.prepare(CONFIG)
    message = "Could not connect to 'CoBo' node '0' at 'tcp -h 192.168.41.10 -p 46001'"
    ecc_server.fail("Configure", message)
    with pytest.raises(ECCError) as info:
        ecc.configure(CONFIG, [LINK])
    assert info.value.message == message and info.value.code == Transition.CONFIGURING
    assert ecc.get_state() == (State.PREPARED, Transition.NONE)
    ecc.configure(CONFIG, [LINK])  # the failure was for one call only
    assert ecc.get_state()[0] is State.READY


def test_missing_config_and_bad_links_are_refused(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url)
    two = write_config_set(ecc_server.config_dir, "two", ["CoBo[0]", "CoBo[1]"])
    with pytest.raises(ECCError, match=r"describe-nosuch\.xcfg"):
        ecc.describe(ConfigId("nosuch", "two", "two"))
    ecc.describe(two)
    with pytest.raises(ECCError, match=r"prepare-other\.xcfg"):
        ecc.prepare(ConfigId("two", "other", "two"))
    ecc.prepare(two)
    link1 = DataLink("CoBo[1]", "127.0.0.1", 46006)
    with pytest.raises(ECCError, match=r"CoBo\[7\] were not described"):
        ecc.configure(two, [LINK, link1, DataLink("CoBo[7]", "127.0.0.1", 46005)])
    with pytest.raises(ECCError, match=r"no data link for data sender\(s\) CoBo\[1\]"):
        ecc.configure(two, [LINK])
    with pytest.raises(ECCError, match=r"configure-gone\.xcfg"):
        ecc.configure(ConfigId("two", "two", "gone"), [LINK, link1])
    assert ecc.get_state()[0] is State.PREPARED
    assert parse_data_link_set(ecc.configure(two, [LINK, link1])) == [LINK, link1]


def test_a_second_command_during_a_transition_is_busy(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url, timeout=30)
    ecc_server.hold()
    thread, out = _in_thread(lambda: ecc.describe(CONFIG))
    try:
        assert ecc_server.wait_transitioning() is Transition.DESCRIBING
        # GetState answers during the transition: old state, transition code, busy text.
        assert ecc.get_state() == (State.IDLE, Transition.DESCRIBING)
        assert ecc.last_call is not None and ecc.last_call.outcome == "ok"
        with pytest.raises(ECCBusy) as info:
            ecc.prepare(CONFIG)
        assert info.value.busy and info.value.code == Transition.PREPARING
        assert info.value.message == BUSY_MESSAGE
        assert ecc.last_call is not None and ecc.last_call.outcome == "busy"
    finally:
        ecc_server.release()
        thread.join(10)
    assert isinstance(out[0], str) and "CoBo[0]" in out[0]
    assert ecc.get_state() == (State.DESCRIBED, Transition.NONE)


def test_get_config_ids_follows_the_config_folder(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url)
    write_config_set(ecc_server.config_dir, "e20009", ["CoBo[0]", "CoBo[1]"])
    (ecc_server.config_dir / "describe-partial.xcfg").write_text("<Setup/>")
    assert ecc.get_config_ids() == [CONFIG, ConfigId.same("e20009")]
    text = ecc.describe(ConfigId.same("e20009"))
    assert parse_data_senders(text) == ["CoBo[0]", "CoBo[1]"]


def test_get_state_error_reply(ecc_server: SimulatedECC) -> None:
    ecc_server.fail("GetState", "Ice exception: timeout", code=7)
    with pytest.raises(ECCError) as info:
        ECCClient(ecc_server.url).get_state()
    assert info.value.code == 7 and info.value.operation == "GetState"
    assert ECCClient(ecc_server.url).get_state()[0] is State.IDLE


def test_get_config_ids_error_reply(ecc_server: SimulatedECC) -> None:
    ecc_server.fail("GetConfigIDs", "Error: config repository not readable")
    with pytest.raises(ECCError, match="not readable"):
        ECCClient(ecc_server.url).get_config_ids()


# -- communication failures -------------------------------------------------------------


def test_refused_connection_raises_unreachable_and_recovers(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url, timeout=5)
    assert ecc.get_state()[0] is State.IDLE  # a kept-alive connection now exists
    ecc_server.refuse()
    with pytest.raises(ECCUnreachable, match="connection refused") as info:
        ecc.get_state()
    assert isinstance(info.value, ECCCommunicationError) and isinstance(info.value, ConnectionError)
    assert info.value.operation == "GetState" and info.value.server == ecc.url
    assert ecc.last_call is not None and ecc.last_call.outcome == "unreachable"
    assert ecc.last_call.response is None
    ecc_server.start()
    assert ecc.get_state()[0] is State.IDLE


def test_a_hung_server_times_out_on_the_operation_timeout(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url, timeout=0.3, connect_timeout=5)
    ecc_server.inject("hang", "GetState")
    with pytest.raises(ECCTimeout) as info:
        ecc.get_state()
    assert info.value.phase == "operation" and isinstance(info.value, TimeoutError)
    assert "did not answer GetState within 0.3 s" in str(info.value)
    assert ecc.last_call is not None and ecc.last_call.outcome == "timeout"
    ecc_server.release()
    assert ecc.get_state()[0] is State.IDLE  # the hang was for one call


def test_per_call_timeout_overrides_the_client_timeout(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url, timeout=0.2)
    ecc_server.durations["Describe"] = 0.6
    with pytest.raises(ECCTimeout):
        ecc.describe(CONFIG)
    ecc_server.wait_for(State.DESCRIBED)  # the server finished anyway, as GET would
    ecc.undo(timeout=10)
    assert ecc.describe(CONFIG, timeout=10)
    with pytest.raises(ECCValueError, match="timeout"):
        ecc.get_state(timeout=0)


def test_a_connect_timeout_is_not_an_operation_timeout(unresponsive_port: int) -> None:
    ecc = ECCClient(f"127.0.0.1:{unresponsive_port}", timeout=60, connect_timeout=0.3)
    with pytest.raises(ECCTimeout) as info:
        ecc.get_state()
    assert info.value.phase == "connect"
    assert "no connection" in str(info.value) and "0.3 s" in str(info.value)


def test_http_500_page_raises_http_error(ecc_server: SimulatedECC) -> None:
    ecc_server.inject("http_error", "GetState", status=500)
    ecc = ECCClient(ecc_server.url)
    with pytest.raises(ECCHTTPError) as info:
        ecc.get_state()
    assert info.value.status == 500 and isinstance(info.value, ECCProtocolError)
    assert ecc.last_call is not None and ecc.last_call.http_status == 500
    assert ecc.last_call.outcome == "protocol"
    assert "<html>" in (ecc.last_call.response or "")
    ecc_server.inject("http_error", None, status=404)
    with pytest.raises(ECCHTTPError, match="HTTP 404"):
        ecc.start()


def test_soap_fault_raises_soap_fault(ecc_server: SimulatedECC) -> None:
    ecc_server.inject("fault", "Describe", message="std::bad_alloc")
    with pytest.raises(ECCSoapFault) as info:
        ECCClient(ecc_server.url).describe(CONFIG)
    assert info.value.faultcode == "SOAP-ENV:Server"
    assert "std::bad_alloc" in str(info.value)
    assert not isinstance(info.value, ECCHTTPError)


def test_a_restarted_server_is_idle_and_reachable(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url)
    _to_ready(ecc)
    ecc.start()
    ecc_server.restart()
    assert ecc.get_state() == (State.IDLE, Transition.NONE)


@contextlib.contextmanager
def canned_server(body: bytes) -> Iterator[str]:
    """An HTTP server answering every POST with ``body`` (HTTP 200); yields its URL."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Canned(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_replies_that_are_not_ecc_replies_are_protocol_errors() -> None:
    from shiftdesk.daq.simulator import soap

    cases = [
        (b"<html>hello</html>", "get_state", "not a valid ECC reply"),
        (soap.response_state(0, "", 42, 0), "get_state", "unknown state 42"),
        (soap.response_text(0, "", "<Nope/>"), "get_config_ids", "unreadable ConfigIdSet"),
    ]
    for body, method, message in cases:
        with canned_server(body) as url:
            ecc = ECCClient(url)
            with pytest.raises(ECCProtocolError, match=message):
                getattr(ecc, method)()
            assert ecc.last_call is not None and ecc.last_call.outcome == "protocol"
            assert ecc.last_call.response == body.decode()


# -- clients, history, sinks ------------------------------------------------------------


def test_one_zeep_client_per_server_shared_across_threads(
    ecc_servers: Callable[..., SimulatedCluster],
) -> None:
    cluster = ecc_servers(4)
    clients = [ECCClient(url, timeout=10) for url in cluster.urls for _ in range(3)]
    with ThreadPoolExecutor(16) as pool:
        states = list(pool.map(lambda c: c.get_state(), clients * 4))
    assert states == [(State.IDLE, Transition.NONE)] * len(clients) * 4
    cached = ecc_client._connections
    assert sorted(cached) == sorted(cluster.urls)
    first = cached[cluster.urls[0]].client
    ECCClient(cluster.urls[0].rstrip("/"), timeout=1).get_state()
    assert ecc_client._connections[cluster.urls[0]].client is first


def test_calls_are_recorded_with_who_what_and_raw_xml(
    ecc_server: SimulatedECC, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "shifter1")
    mine: list[ECCCall] = []
    everyone: list[ECCCall] = []
    add_call_sink(everyone.append)
    try:
        ecc = ECCClient(ecc_server.url, on_call=mine.append)
        ecc.get_state()
        with pytest.raises(ECCError):
            ecc.start()
        ECCClient(ecc_server.url).describe(CONFIG)
    finally:
        remove_call_sink(everyone.append)
    ECCClient(ecc_server.url).get_state()  # after removal: no longer seen by the sink
    assert [r.operation for r in mine] == ["GetState", "Start"]
    assert [r.operation for r in everyone] == ["GetState", "Start", "Describe"]
    history = ecc.history
    assert [r.operation for r in history] == ["GetState", "Start", "Describe", "GetState"]
    first = history[0]
    assert first.who == "shifter1" and first.server == ecc.url and first.ok
    assert first.when.tzinfo is not None and first.duration >= 0
    assert "<GetState/>" in (first.request or "")
    assert "<ecc:ResponseState>" in (first.response or "") and first.http_status == 200
    assert history[1].outcome == "error" and "not allowed" in (history[1].error or "")
    assert call_history() == history


def test_history_keeps_the_last_n_calls_per_server(
    ecc_servers: Callable[..., SimulatedCluster],
) -> None:
    cluster = ecc_servers(2)
    a, b = (ECCClient(url) for url in cluster.urls)
    set_history_length(3)
    try:
        for _ in range(5):
            a.get_state()
        b.get_config_ids()
        assert len(a.history) == 3 and len(b.history) == 1
        assert [r.server for r in call_history()].count(a.url) == 3
        set_history_length(2)
        assert len(a.history) == 2
        with pytest.raises(ECCValueError):
            set_history_length(0)
    finally:
        set_history_length(ecc_client.DEFAULT_HISTORY_LENGTH)


def test_a_failing_sink_does_not_break_calls(
    ecc_server: SimulatedECC, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(record: ECCCall) -> None:
        raise RuntimeError("database is down")

    ecc = ECCClient(ecc_server.url, on_call=broken)
    assert ecc.get_state()[0] is State.IDLE
    assert "call sink" in caplog.text


def test_urls_and_timeouts_are_checked() -> None:
    assert normalize_url("10.0.0.5") == "http://10.0.0.5:8083/"
    assert normalize_url("10.0.0.5:8061") == "http://10.0.0.5:8061/"
    assert normalize_url("http://ecc-host:8083") == "http://ecc-host:8083/"
    for bad in ("", "ftp://x:1/", "http://:8083/", "http://h:99999/"):
        with pytest.raises(ECCValueError):
            ECCClient(bad)
    with pytest.raises(ECCValueError, match="connect_timeout"):
        ECCClient("h", connect_timeout=-1)
    with pytest.raises(ECCValueError, match="timeout"):
        ECCClient("h", timeout=True)  # type: ignore[arg-type]


# -- values: ConfigId and DataLink ---------------------------------------------------------


def test_config_id_round_trips_its_xml() -> None:
    config = ConfigId("cobo0", "e20009", "e20009_v2")
    xml = config.to_xml()
    assert xml == (
        '<ConfigId><SubConfigId type="describe">cobo0</SubConfigId>'
        '<SubConfigId type="prepare">e20009</SubConfigId>'
        '<SubConfigId type="configure">e20009_v2</SubConfigId></ConfigId>'
    )
    assert ConfigId.from_xml(xml) == config
    assert ConfigId.from_xml(config.to_element()) == config
    assert ConfigId.from_xml(xml.encode()) == config
    assert str(config) == "cobo0/e20009/e20009_v2" and ConfigId.parse(str(config)) == config
    assert config.file_names()["configure"] == "configure-e20009_v2.xcfg"


def test_config_id_xml_is_read_leniently_but_completely() -> None:
    spaced = """
        <ConfigId>
            <SubConfigId type="hardware">hw</SubConfigId>
            <SubConfigId type="configure"> c </SubConfigId>
            <SubConfigId type="describe">d</SubConfigId>
            <SubConfigId type="prepare">p</SubConfigId>
        </ConfigId>"""
    assert ConfigId.from_xml(spaced) == ConfigId("d", "p", "c")
    bad = {
        "<Config/>": "expected a <ConfigId>",
        "<ConfigId><SubConfigId type='describe'>d</SubConfigId></ConfigId>": "prepare, configure",
        "<ConfigId>": "not well-formed",
        "": "empty",
        (
            "<ConfigId><SubConfigId type='describe'>d</SubConfigId>"
            "<SubConfigId type='describe'>e</SubConfigId></ConfigId>"
        ): "appears twice",
        (
            "<ConfigId><SubConfigId type='describe'></SubConfigId><SubConfigId type='prepare'>"
            "p</SubConfigId><SubConfigId type='configure'>c</SubConfigId></ConfigId>"
        ): "describe name must be a non-empty",
    }
    for text, message in bad.items():
        with pytest.raises(ECCValueError, match=message):
            ConfigId.from_xml(text)


def test_config_names_must_be_file_names() -> None:
    for name in ("", "a b", "../x", "x/y", "tab\t", 3):
        with pytest.raises(ECCValueError):
            ConfigId(name, "p", "c")  # type: ignore[arg-type]
    with pytest.raises(ECCValueError, match="three names"):
        ConfigId.parse("a/b")


def test_data_link_set_xml_for_one_and_ten_links() -> None:
    from lxml import etree

    from shiftdesk.daq.ecc import data_link_set_xml

    one = data_link_set_xml([LINK])
    assert one == (
        '<DataLinkSet><DataLink><DataSender id="CoBo[0]"/><DataRouter name="data0" '
        'ipAddress="127.0.0.1" port="46005" type="TCP"/></DataLink></DataLinkSet>'
    )
    links = [DataLink(f"CoBo[{i}]", f"192.168.41.{60 + i}", 46005, "tcp") for i in range(10)]
    root = etree.fromstring(data_link_set_xml(links))
    assert [el.tag for el in root] == ["DataLink"] * 10
    for i, el in enumerate(root):
        assert [c.tag for c in el] == ["DataSender", "DataRouter"]
        assert dict(el[0].attrib) == {"id": f"CoBo[{i}]"}
        assert dict(el[1].attrib) == {
            "ipAddress": f"192.168.41.{60 + i}",
            "port": "46005",
            "type": "TCP",
        }
    assert parse_data_link_set(data_link_set_xml(links)) == links
    assert DataLink.from_xml(LINK.to_xml()) == LINK


def test_data_links_refuse_bad_values() -> None:
    good = {"sender": "CoBo[0]", "ip": "10.0.0.1", "port": 46005, "type": "TCP"}
    bad = {
        "sender": ["CoBo", "CoBo[]", "0[1]", "CoBo[0] ", "CoBo[0].", None],
        "ip": ["daq-host", "300.1.1.1", "", 12],
        "port": [0, 65536, -1, "46x", True, 4.5, None],
        "type": ["UDP", "", None],
    }
    for field, values in bad.items():
        for value in values:
            with pytest.raises(ECCValueError, match=field if field != "sender" else "sender"):
                DataLink(**{**good, field: value})  # type: ignore[arg-type]
    assert DataLink("Mutant[master]", " 10.0.0.1 ", "46005", "zbuf").type == "ZBUF"
    assert DataLink("CoBo[Crate0Slot0].Asad[0]", "::1", 1, "Debug").ip == "::1"
    with pytest.raises(ECCValueError, match="name"):
        DataLink("CoBo[0]", "10.0.0.1", 1, "TCP", name=" ")
    with pytest.raises(ECCValueError, match="no 'port'"):
        no_port = '<DataRouter ipAddress="10.0.0.1" type="TCP"/>'
        DataLink.from_xml(f'<DataLink><DataSender id="CoBo[0]"/>{no_port}</DataLink>')
    with pytest.raises(ECCValueError, match="DataSender"):
        DataLink.from_xml("<DataLink/>")
    with pytest.raises(ECCValueError, match="expected DataLink"):
        from shiftdesk.daq.ecc import data_link_set_xml

        data_link_set_xml(["CoBo[0]"])  # type: ignore[list-item]


def test_connections_are_kept_alive_and_renewed(ecc_server: SimulatedECC) -> None:
    from shiftdesk.daq.simulator.server import MAX_KEEP_ALIVE

    ecc = ECCClient(ecc_server.url)
    for _ in range(MAX_KEEP_ALIVE + 20):
        assert ecc.get_state()[0] is State.IDLE
    # One connection until the server's keep-alive limit closes it, then a second one.
    assert ecc_server.connections == 2
