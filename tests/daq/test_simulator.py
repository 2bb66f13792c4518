"""The simulated GET ECC server: wire shapes, state machine, config repo, GRAW files, CLI."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from lxml import etree
from tests._services import service_missing

from shiftdesk.daq import (
    ConfigId,
    DataLink,
    ECCClient,
    ECCError,
    ECCUnreachable,
    ECCValueError,
    State,
    Transition,
)
from shiftdesk.daq.ecc import STATE_MACHINE, TRANSITION_OPERATIONS
from shiftdesk.daq.simulator import (
    REALISTIC_DURATIONS,
    SimulatedCluster,
    SimulatedECC,
    list_config_ids,
    read_senders,
    simulate,
    write_config_set,
)
from shiftdesk.daq.simulator.graw import graw_prefixes

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CONFIG = ConfigId.same("default")
LINK = DataLink("CoBo[0]", "127.0.0.1", 46005)
GRAW_NAME = re.compile(r"^CoBo_AsAd0_\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}_(\d{4})\.graw$")


def post(url: str, body: str, namespace: str = "urn:ecc") -> requests.Response:
    envelope = (
        f'<?xml version="1.0"?><soap-env:Envelope xmlns:soap-env="{ENV}" '
        f'xmlns="{namespace}"><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>'
    )
    return requests.post(url, data=envelope.encode(), timeout=10)


def reply_element(response: requests.Response) -> etree._Element:
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{ENV}}}Envelope" and root.prefix == "SOAP-ENV"
    body = root.find(f"{{{ENV}}}Body")
    assert body is not None
    return body[0]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# -- wire ------------------------------------------------------------------------------


def test_three_reply_shapes_prefixed_wrapper_unqualified_children(
    ecc_server: SimulatedECC,
) -> None:
    shapes = {
        "<GetState/>": ("ResponseState", ["ErrorCode", "ErrorMessage", "State", "Transition"]),
        "<GetConfigIDs/>": ("ResponseText", ["ErrorCode", "ErrorMessage", "Text"]),
        f"<Describe><configID>{etree.tostring(CONFIG.to_element()).decode().replace('<', '&lt;')}"
        "</configID><table/></Describe>": ("ResponseText", ["ErrorCode", "ErrorMessage", "Text"]),
        "<ServerExit/>": ("Response", ["ErrorCode", "ErrorMessage"]),
    }
    for body, (wrapper, children) in shapes.items():
        response = post(ecc_server.url, body)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/xml")
        element = reply_element(response)
        assert element.tag == f"{{urn:ecc}}{wrapper}" and element.prefix == "ecc"
        assert [child.tag for child in element] == children  # no namespace: unqualified
        assert element.findtext("ErrorCode") == "0", element.findtext("ErrorMessage")
    assert ecc_server.state is State.DESCRIBED
    wait_until(lambda: not ecc_server.listening)  # ServerExit stops the server


def test_both_namespaces_and_prefixed_requests_are_understood(ecc_server: SimulatedECC) -> None:
    for namespace in ("urn:ecc", "urn:http://localhost:8083/"):
        element = reply_element(post(ecc_server.url, "<GetState/>", namespace))
        assert element.findtext("State") == "1"
    prefixed = '<e:Special xmlns:e="urn:ecc"><e:command>ls</e:command><e:table/></e:Special>'
    element = reply_element(post(ecc_server.url, prefixed))
    assert element.findtext("Text") == "special command 'ls' done"
    assert ecc_server.requests[-1].params == {"command": "ls", "table": ""}


def test_unknown_operations_and_garbage_get_a_client_fault(ecc_server: SimulatedECC) -> None:
    cases = [
        post(ecc_server.url, "<Reset/>"),
        post(ecc_server.url, "<GetState/>", "urn:other"),
        requests.post(ecc_server.url, data=b"<not-xml", timeout=10),
        requests.post(ecc_server.url, data=b"<Envelope/>", timeout=10),
        post(ecc_server.url, ""),
    ]
    for response in cases:
        assert response.status_code == 500
        fault = reply_element(response)
        assert fault.tag == f"{{{ENV}}}Fault"
        assert fault.findtext("faultcode") == "SOAP-ENV:Client"
    assert "Method 'Reset' not implemented" in cases[0].text
    assert requests.get(ecc_server.url, timeout=10).status_code == 405


def test_prefix_dropping_mode_ignores_only_prefixed_parameters() -> None:
    with SimulatedECC(drop_prefixed_params=True) as server:
        xml = CONFIG.to_xml().replace("<", "&lt;")
        prefixed = (
            f'<ns0:Describe xmlns:ns0="urn:ecc"><ns0:configID>{xml}</ns0:configID>'
            "<ns0:table/></ns0:Describe>"
        )
        element = reply_element(post(server.url, prefixed))
        assert element.findtext("ErrorCode") == str(int(Transition.DESCRIBING))
        assert server.requests[-1].dropped == ["configID", "table"]
        plain = f"<Describe><configID>{xml}</configID><table/></Describe>"
        assert reply_element(post(server.url, plain)).findtext("ErrorCode") == "0"
        assert server.state is State.DESCRIBED


def test_listen_backlog_is_at_least_100(ecc_server: SimulatedECC) -> None:
    ss = shutil.which("ss")
    if ss is None:
        service_missing("ss (iproute2) is needed to read the listen backlog")
    out = subprocess.run(
        [ss, "-ltnH", f"sport = :{ecc_server.port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "LISTEN" and int(out[2]) >= 100


def test_many_concurrent_clients_are_all_answered(ecc_server: SimulatedECC) -> None:
    barrier = threading.Barrier(60)

    def call(_: int) -> int:
        barrier.wait(10)
        return reply_element(post(ecc_server.url, "<GetState/>")).findtext("State")

    with ThreadPoolExecutor(60) as pool:
        assert list(pool.map(call, range(60))) == ["1"] * 60


# -- state machine ------------------------------------------------------------------------


# GET's state machine as the notes give it (SM.h): (operation, from) -> to. Everything
# else is refused with the transition's code.
LEGAL = {
    ("Describe", State.IDLE): State.DESCRIBED,
    ("Prepare", State.DESCRIBED): State.PREPARED,
    ("Configure", State.PREPARED): State.READY,
    ("Start", State.READY): State.RUNNING,
    ("Stop", State.RUNNING): State.READY,
    ("Stop", State.PAUSED): State.READY,
    ("Pause", State.RUNNING): State.PAUSED,
    ("Resume", State.PAUSED): State.RUNNING,
    ("Breakup", State.READY): State.PREPARED,
    ("Breakup", State.RUNNING): State.PREPARED,
    ("Breakup", State.PAUSED): State.PREPARED,
    ("Undo", State.DESCRIBED): State.IDLE,
    ("Undo", State.PREPARED): State.DESCRIBED,
}


def test_every_operation_in_every_state(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url, timeout=10)
    for state in State:
        for transition, op in TRANSITION_OPERATIONS.items():
            ecc_server.set_state(state, senders=["CoBo[0]"])
            target = LEGAL.get((op, state))
            assert STATE_MACHINE[op].get(state) == target
            if target is None:
                with pytest.raises(ECCError) as info:
                    ecc.transition(op, CONFIG, [LINK])
                assert info.value.code == transition, (state, op)
                assert "not allowed" in info.value.message
                assert ecc.get_state() == (state, Transition.NONE)
            else:
                ecc.transition(op, CONFIG, [LINK])
                assert ecc.get_state() == (target, Transition.NONE), (state, op)


def test_transitions_take_their_duration_and_state_shows_meanwhile(tmp_path: Path) -> None:
    assert REALISTIC_DURATIONS["Configure"] > REALISTIC_DURATIONS["Start"]
    with SimulatedECC(durations={"Describe": 30.0}) as server:
        ecc = ECCClient(server.url, timeout=60)
        outcome: list[BaseException] = []

        def describe() -> None:
            try:
                ecc.describe(CONFIG)
            except ECCUnreachable as exc:
                outcome.append(exc)

        thread = threading.Thread(target=describe)
        thread.start()
        assert server.wait_transitioning() is Transition.DESCRIBING
        for _ in range(3):
            assert ecc.get_state() == (State.IDLE, Transition.DESCRIBING)
        server.restart()  # a restart mid-transition drops the call and returns to Idle
        thread.join(10)
        assert not thread.is_alive() and len(outcome) == 1
        assert ecc.get_state() == (State.IDLE, Transition.NONE)
    with pytest.raises(ECCValueError, match="unknown operations"):
        SimulatedECC(durations={"Reset": 1.0}, start=False)
    with pytest.raises(ECCValueError, match="durations must be"):
        SimulatedECC(durations=-1.0, start=False)
    with pytest.raises(ECCValueError, match="graw_interval"):
        SimulatedECC(graw_interval=0, start=False)


def test_a_busy_port_is_refused_and_leaves_nothing_behind(ecc_server: SimulatedECC) -> None:
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("shiftdesk-ecc-configs-*"))
    with pytest.raises(OSError):
        SimulatedECC(port=ecc_server.port)
    assert set(Path(tempfile.gettempdir()).glob("shiftdesk-ecc-configs-*")) <= before


def test_hang_with_a_limit_then_answers(ecc_server: SimulatedECC) -> None:
    ecc_server.inject("hang", "GetState", seconds=0.2)
    assert ECCClient(ecc_server.url, timeout=30).get_state()[0] is State.IDLE


def test_failures_repeat_until_cleared(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url)
    ecc_server.fail("Describe", "Error: no CoBo", code=42, times=None)
    for _ in range(3):
        with pytest.raises(ECCError) as info:
            ecc.describe(CONFIG)
        assert info.value.code == 42
    ecc_server.clear_failures()
    ecc.describe(CONFIG)
    ecc_server.fail(None, "")  # any operation, default message
    with pytest.raises(ECCError, match="Prepare failed"):
        ecc.prepare(CONFIG)
    with pytest.raises(ECCValueError, match="unknown failure kind"):
        ecc_server.inject("explode")
    with pytest.raises(ECCValueError, match="unknown operation"):
        ecc_server.inject("error", "Reset")


def test_restart_returns_to_idle_and_drops_connections(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url)
    ecc.describe(CONFIG)
    ecc_server.refuse()
    assert not ecc_server.listening and ecc_server.state is State.DESCRIBED
    with pytest.raises(ECCUnreachable):
        ecc.get_state()
    ecc_server.restart()
    assert ecc_server.listening
    assert ecc.get_state() == (State.IDLE, Transition.NONE)
    assert ecc_server.senders == []


# -- config repository -----------------------------------------------------------------


def test_config_repository(tmp_path: Path) -> None:
    repo = tmp_path / "configs"
    assert write_config_set(repo, "e20009", ["CoBo[0]", "CoBo[1]", "Mutant[master]"]) == (
        ConfigId.same("e20009")
    )
    write_config_set(repo, "a", ["CoBo[3]"])
    (repo / "describe-half.xcfg").write_text("<Setup/>")
    (repo / "prepare-half.xcfg").write_text("<Setup/>")
    assert list_config_ids(repo) == [ConfigId.same("a"), ConfigId.same("e20009")]
    assert read_senders(repo / "describe-e20009.xcfg") == ["CoBo[0]", "CoBo[1]", "Mutant[master]"]
    (repo / "describe-x.xcfg").write_text(
        '<Setup><DataSender id="CoBo[9]"/><Node id="CoBo"><Instance id="*"/>'
        '<Instance id="4"/></Node></Setup>'
    )
    assert read_senders(repo / "describe-x.xcfg") == ["CoBo[9]", "CoBo[4]"]
    with pytest.raises(ECCValueError, match="describes no data sender"):
        read_senders(repo / "describe-half.xcfg")
    with pytest.raises(ECCValueError, match="at least one"):
        write_config_set(repo, "empty", [])
    with pytest.raises(ECCValueError, match="sender"):
        write_config_set(repo, "bad", ["cobo0"])
    with pytest.raises(ECCValueError, match="does not exist"):
        SimulatedECC(tmp_path / "missing", start=False)


def test_describe_of_a_broken_config_file_is_an_error(ecc_server: SimulatedECC) -> None:
    (ecc_server.config_dir / "describe-broken.xcfg").write_text("<Setup>")
    with pytest.raises(ECCError, match="not valid XML") as info:
        ECCClient(ecc_server.url).describe(ConfigId("broken", "default", "default"))
    assert info.value.code == Transition.DESCRIBING


def test_configure_checks_the_raw_data_links(ecc_server: SimulatedECC) -> None:
    ECCClient(ecc_server.url).describe(CONFIG)
    ECCClient(ecc_server.url).prepare(CONFIG)
    config = CONFIG.to_xml().replace("<", "&lt;")

    def configure(links: str) -> etree._Element:
        body = f"<Configure><configID>{config}</configID><table>{links}</table></Configure>"
        return reply_element(post(ecc_server.url, body))

    router = '<DataLink><DataSender id="CoBo[0]"/><DataRouter ipAddress="127.0.0.1" {}/></DataLink>'
    bad = {
        'port="46005" type="tcp"': "unknown data link type 'tcp'",
        'port="4x" type="TCP"': "invalid data router port '4x'",
        'port="0" type="TCP"': "invalid data router port '0'",
    }
    for attrs, message in bad.items():
        reply = configure(
            f"&lt;DataLinkSet>{router.format(attrs).replace('<', '&lt;')}&lt;/DataLinkSet>"
        )
        assert reply.findtext("ErrorCode") == "3"
        assert message in reply.findtext("ErrorMessage")
    reply = configure("&lt;DataLink/>")
    assert "expected a <DataLinkSet>" in reply.findtext("ErrorMessage")
    assert ecc_server.state is State.PREPARED
    good = router.format('port="46005" type="FDT"').replace("<", "&lt;")
    reply = configure(f"&lt;DataLinkSet>{good}&lt;/DataLinkSet>")
    assert reply.findtext("ErrorCode") == "0"
    assert ecc_server.state is State.READY


# -- GRAW files --------------------------------------------------------------------------


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.graw")) if folder.exists() else []


def test_graw_files_appear_only_while_running(ecc_server: SimulatedECC) -> None:
    assert ecc_server.data_dir is not None
    folder = ecc_server.data_dir
    ecc = ECCClient(ecc_server.url)
    ecc.describe(CONFIG)
    ecc.prepare(CONFIG)
    ecc.configure(CONFIG, [LINK])
    assert _files(folder) == []
    ecc.start()
    wait_until(lambda: len(_files(folder)) >= 3)
    ecc.pause()
    paused = _files(folder)
    time.sleep(0.2)  # several writer intervals (0.05 s): nothing new while paused
    assert _files(folder) == paused
    ecc.resume()
    wait_until(lambda: len(_files(folder)) > len(paused))
    ecc.stop()
    stopped = _files(folder)
    time.sleep(0.2)
    assert _files(folder) == stopped
    matches = [GRAW_NAME.match(name) for name in stopped]
    assert all(matches), stopped
    first_run = [m for m in matches if m and m.group(0).startswith(stopped[0][:35])]
    assert [int(m.group(1)) for m in first_run][:3] == [0, 1, 2]
    assert all(0 < (folder / name).stat().st_size <= 1024 for name in stopped)


def test_graw_file_names_per_sender() -> None:
    assert graw_prefixes(["CoBo[0]"], 2) == ["CoBo_AsAd0", "CoBo_AsAd1"]
    assert graw_prefixes(["CoBo[0]", "CoBo[1]"], 1) == ["CoBo0_AsAd0", "CoBo1_AsAd0"]
    assert graw_prefixes(["Mutant[master]"], 4) == ["Mutant"]


def test_a_restart_while_running_stops_the_files(ecc_server: SimulatedECC) -> None:
    assert ecc_server.data_dir is not None
    ecc_server.set_state(State.RUNNING, senders=["CoBo[0]"])
    wait_until(lambda: len(_files(ecc_server.data_dir)) >= 2)  # type: ignore[arg-type]
    ecc_server.restart()
    after = _files(ecc_server.data_dir)
    time.sleep(0.2)
    assert _files(ecc_server.data_dir) == after


# -- clusters and the command line -------------------------------------------------------


def test_simulate_a_cluster_with_a_mutant(tmp_path: Path) -> None:
    with simulate(3, mutant=True, data_dir=tmp_path / "data", durations=0.0) as cluster:
        assert len(cluster) == 4 and len(set(cluster.urls)) == 4
        assert cluster.configs[-1] == ConfigId.same("mutant")
        assert cluster.mutant is cluster[3]
        ecc = ECCClient(cluster.urls[2])
        assert ecc.get_config_ids() == [
            ConfigId.same(n) for n in ("cobo0", "cobo1", "cobo2", "mutant")
        ]
        assert "CoBo[2]" in ecc.describe(cluster.configs[2])
        assert "Mutant[master]" in ECCClient(cluster.urls[3]).describe(cluster.configs[3])
        assert [s.data_dir for s in cluster] == [tmp_path / "data" / f"data{i}" for i in range(4)]
        config_dir = cluster.config_dir
    assert not config_dir.exists()  # the temporary repository is removed
    assert not any(server.listening for server in cluster)
    with SimulatedCluster(1) as single:
        assert single.mutant is None
    for bad in (0, -1, True):
        with pytest.raises(ECCValueError):
            SimulatedCluster(bad)


def test_a_cluster_on_fixed_ports_with_a_shared_config_folder(tmp_path: Path) -> None:
    with SimulatedCluster(1) as probe:
        base = probe[0].port  # a port that was free a moment ago
    write_config_set(tmp_path, "cobo0", ["CoBo[0]", "CoBo[1]"])  # kept, not overwritten
    with SimulatedCluster(2, base_port=base, config_dir=tmp_path) as cluster:
        assert [s.port for s in cluster] == [base, base + 1]
        assert "CoBo[1]" in ECCClient(cluster.urls[0]).describe(cluster.configs[0])
    assert (tmp_path / "describe-cobo1.xcfg").exists()


def test_the_simulate_command_runs_until_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "shiftdesk.cli", "daq", "simulate", "--servers", "2",
         "--base-port", "0", "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        urls = re.findall(r"http://127\.0\.0\.1:\d+/", "".join(lines))
        assert len(urls) == 2, lines
        ecc = ECCClient(urls[1])
        assert ecc.get_state() == (State.IDLE, Transition.NONE)
        assert ecc.get_config_ids() == [ConfigId.same("cobo0"), ConfigId.same("cobo1")]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped" in out
        with pytest.raises(ECCUnreachable):
            ecc.get_state()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_coupled_cluster_enforces_the_mutant_cobo_order(
    ecc_servers: Callable[..., SimulatedCluster],
) -> None:
    cluster = ecc_servers(2, mutant=True, enforce_mutant_order=True)
    assert cluster.mutant is not None
    cobos = [ECCClient(s.url) for s in cluster.servers[:2]]
    mutant = ECCClient(cluster.mutant.url)
    for ecc, config in zip([*cobos, mutant], cluster.configs, strict=True):
        ecc.describe(config)
    with pytest.raises(ECCError, match="MuTAnT not prepared") as info:
        cobos[0].prepare(cluster.configs[0])
    assert info.value.code == Transition.PREPARING
    mutant.prepare(cluster.configs[2])
    links = [DataLink(s, "127.0.0.1", 46005) for s in ("CoBo[0]", "CoBo[1]", "Mutant[master]")]
    for i, ecc in enumerate([*cobos, mutant]):
        if i < 2:
            ecc.prepare(cluster.configs[i])
        ecc.configure(cluster.configs[i], [links[i]])
    cobos[0].start()
    with pytest.raises(ECCError, match="shelf not ready"):
        mutant.start()
    cobos[1].start()
    mutant.start()
    assert [s.state for s in cluster] == [State.RUNNING] * 3
    with pytest.raises(ECCValueError, match="needs mutant=True"):
        SimulatedCluster(1, enforce_mutant_order=True)
