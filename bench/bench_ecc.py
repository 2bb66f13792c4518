"""How fast does shiftdesk refresh the state of many GET ECC servers?

A GetState sweep asks every ECC server for its state at once (a thread pool), as the
DAQ poller does every period. Simulated servers run in a separate process
(``shiftdesk daq simulate``), so the client's CPU is not shared with them in one GIL.

Compared, side by side (alternating blocks, median per sweep):

* shiftdesk: ``ECCClient(url).get_state()`` per server; the zeep client of each server is
  built once and reused (the WSDL is parsed once per process);
* raw, attpc-daq style: a new ``zeep.Client`` (WSDL parse), service and namespace prefix
  built for every call, then ``GetState()`` -- what attpc-daq's ``_get_soap_client()`` did.

Then the same 12-server sweep with one hung server among them (it accepts the request and
never answers): the other 11 states must arrive as fast as in a normal sweep, and the
sweep as a whole ends at the per-call timeout. Last, Configure on 12 servers in
parallel, each taking 2 s (simulated): wall time ÷ the slowest single call.

Targets (issue 4): sweep of 12 ≤ 100 ms, of 100 ≤ 300 ms; with a hung server the others
within the same sweep time; Configure-all wall ÷ slowest ≤ 1.2.

Run: ``.venv/bin/python bench/bench_ecc.py``
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from _common import interleaved, isolate, median, percentile, print_table, ratio_line

POLL_TIMEOUT_S = 1.0  # per-call operation timeout of a poller sweep
ROUNDS = 6


def start_servers(n: int) -> tuple[subprocess.Popen[str], list[str]]:
    """``shiftdesk daq simulate`` in its own process; returns it and the server URLs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "shiftdesk.cli", "daq", "simulate", "--servers", str(n),
         "--base-port", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    urls: list[str] = []
    while len(urls) < n:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator exited before printing its servers")
        urls += re.findall(r"http://127\.0\.0\.1:\d+/", line)
    return proc, urls


def stop_servers(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def raw_get_state(url: str) -> tuple[int, int]:
    """attpc-daq's way: a new zeep Client (parses the WSDL) for every call."""
    import zeep

    from shiftdesk.daq.ecc.client import OfflineTransport, wsdl_path

    client = zeep.Client(wsdl_path(), transport=OfflineTransport())
    client.set_ns_prefix(None, "urn:ecc")
    service = client.create_service("{urn:ecc}ecc", url)
    reply = service.GetState()
    return int(reply.State), int(reply.Transition)


def sweep_once(pool: ThreadPoolExecutor, calls: list[Any]) -> list[Any]:
    return list(pool.map(lambda call: call(), calls))


def sweep_table(n: int) -> tuple[float, float, float]:
    """Median sweep times (s) for n servers: shiftdesk, raw; and shiftdesk p95."""
    from shiftdesk.daq import ECCClient

    proc, urls = start_servers(n)
    try:
        clients = [ECCClient(url, timeout=POLL_TIMEOUT_S, connect_timeout=1.0) for url in urls]
        ours = [c.get_state for c in clients]
        raw = [lambda url=url: raw_get_state(url) for url in urls]
        with ThreadPoolExecutor(max_workers=min(n, 32)) as pool:
            sweep_once(pool, ours)  # warm: one zeep client per server, connections open
            sweep_once(pool, raw)
            times = interleaved(
                {"shiftdesk": lambda: sweep_once(pool, ours), "raw": lambda: sweep_once(pool, raw)},
                rounds=ROUNDS,
                per_round=3,
            )
            states = sweep_once(pool, ours)
        assert all(state[0].label == "Idle" for state in states)
    finally:
        stop_servers(proc)
    return median(times["shiftdesk"]), median(times["raw"]), percentile(times["shiftdesk"], 0.95)


def hung_sweep() -> tuple[float, float, float, str]:
    """12 servers, one hung: (normal sweep, time to the 11 healthy results, total, error)."""
    from shiftdesk.daq import ECCClient
    from shiftdesk.daq.simulator import SimulatedECC

    proc, urls = start_servers(11)
    hung = SimulatedECC(name="hung")
    hung.inject("hang", "GetState", times=None)
    try:
        clients = [ECCClient(u, timeout=POLL_TIMEOUT_S, connect_timeout=1.0) for u in urls]
        hung_client = ECCClient(hung.url, timeout=POLL_TIMEOUT_S, connect_timeout=1.0)
        with ThreadPoolExecutor(max_workers=12) as pool:
            sweep_once(pool, [c.get_state for c in clients])
            normal = []
            for _ in range(10):
                t0 = time.perf_counter()
                sweep_once(pool, [c.get_state for c in clients])
                normal.append(time.perf_counter() - t0)
            healthy_times, totals, error = [], [], ""
            for _ in range(3):
                t0 = time.perf_counter()
                futures = {pool.submit(c.get_state): c for c in [*clients, hung_client]}
                healthy_done = None
                for done in as_completed(futures):
                    if futures[done] is hung_client:
                        try:
                            done.result()
                        except Exception as exc:
                            error = type(exc).__name__
                    else:
                        done.result()
                        if all(f.done() for f, c in futures.items() if c is not hung_client):
                            healthy_done = healthy_done or time.perf_counter() - t0
                totals.append(time.perf_counter() - t0)
                healthy_times.append(healthy_done or float("nan"))
    finally:
        hung.release()
        hung.stop()
        stop_servers(proc)
    return median(normal), median(healthy_times), median(totals), error


def configure_all(n: int = 12, seconds: float = 2.0) -> tuple[float, float]:
    """Configure on n servers in parallel, each taking ``seconds``: (wall, slowest call)."""
    from shiftdesk.daq import DataLink, ECCClient
    from shiftdesk.daq.simulator import SimulatedCluster

    with SimulatedCluster(n, durations={"Configure": seconds}) as cluster:
        clients = [ECCClient(url, timeout=60) for url in cluster.urls]
        for client, config in zip(clients, cluster.configs, strict=True):
            client.describe(config)
            client.prepare(config)

        def configure(i: int) -> float:
            t0 = time.perf_counter()
            link = DataLink(f"CoBo[{i}]", "127.0.0.1", 46005 + i, "TCP")
            clients[i].configure(cluster.configs[i], [link])
            return time.perf_counter() - t0

        with ThreadPoolExecutor(max_workers=n) as pool:
            t0 = time.perf_counter()
            single = list(pool.map(configure, range(n)))
            wall = time.perf_counter() - t0
    return wall, max(single)


def main() -> None:
    isolate()
    import platform

    import zeep

    print(
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} "
        f"cores, load {os.getloadavg()[0]:.1f}; zeep {zeep.__version__}; simulated servers "
        "in a separate process on loopback"
    )
    rows = []
    results = {}
    for n in (12, 100):
        ours, raw, p95 = sweep_table(n)
        results[n] = ours
        rows.append([f"GetState sweep, {n} servers", f"{ours * 1e3:.1f}", f"{p95 * 1e3:.1f}",
                     f"{raw * 1e3:.1f}", f"{raw / ours:.1f}x"])  # fmt: skip
    print_table(rows, ["", "shiftdesk ms", "p95 ms", "raw zeep/call ms", "raw ÷ shiftdesk"])
    normal, healthy, total, error = hung_sweep()
    print(
        f"\n12 servers, one hung (per-call timeout {POLL_TIMEOUT_S:g} s): normal sweep "
        f"{normal * 1e3:.1f} ms; the 11 healthy states in {healthy * 1e3:.1f} ms; sweep over "
        f"after {total * 1e3:.0f} ms (hung server -> {error or 'no error?'})"
    )
    wall, slowest = configure_all()
    print(
        f"Configure on 12 servers (2 s each) in parallel: wall {wall:.2f} s, "
        f"slowest {slowest:.2f} s"
    )
    print(ratio_line("ecc_sweep12_ms_per_100ms", results[12] / 0.100, 1))
    print(ratio_line("ecc_sweep100_ms_per_300ms", results[100] / 0.300, 1))
    print(ratio_line("ecc_hung_sweep_healthy_per_100ms", healthy / 0.100, 1))
    print(ratio_line("ecc_hung_sweep_total_per_timeout", total / POLL_TIMEOUT_S, 1.2))
    print(ratio_line("ecc_configure_all_wall_per_slowest", wall / slowest, 1.2))


if __name__ == "__main__":
    main()
