"""DAQ control loop: poll sweeps, parallel transitions, state-change latency.

Against simulated GET ECC servers over real HTTP on loopback:

* GetState sweeps through :class:`shiftdesk.daq.Poller` (``poll_once``: every server at
  once, readings stored in the database) of 12 and 100 servers, run by ``shiftdesk daq
  simulate`` in a separate process (so the servers' CPU is not the poller's), with and
  without one *hung* server (a socket that accepts and never answers). With the hung one
  the figure is the time until every other server's reading is stored (targets: 12 ≤ 100 ms,
  100 ≤ 300 ms, hung or not);
* Configure-all on 12 servers with 2 s simulated transitions: command wall time (request to
  confirmed Ready) / the slowest single Configure call, median of 3 (target ≤ 1.2: parallel,
  not serial);
* a state change on a server → visible in :func:`read_snapshot` (what dashboards poll) with
  the poller at its default 1 s period (target ≤ 2 s; the dashboard's own refresh is extra).

Run: ``.venv/bin/python bench/bench_daq_control.py``
"""

from __future__ import annotations

import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from _common import isolate, machine, median, percentile, print_table, ratio_line

FOLDER = isolate()

from shiftdesk.daq.control import Controller  # noqa: E402
from shiftdesk.daq.ecc import State  # noqa: E402
from shiftdesk.daq.poller import Poller, read_snapshot  # noqa: E402
from shiftdesk.daq.routers import LocalRouters  # noqa: E402
from shiftdesk.daq.setup import RouterSpec, ServerSpec, SourceSpec, setup_from  # noqa: E402
from shiftdesk.daq.simulator import SimulatedCluster  # noqa: E402
from shiftdesk.daq.system import DAQSystem  # noqa: E402
from shiftdesk.identity import Identity  # noqa: E402
from shiftdesk.storage import Database  # noqa: E402

ME = Identity("bench", admin=True)
SWEEPS = 15


@contextmanager
def simulated(n: int, *extra: str) -> Iterator[list[tuple[str, int]]]:
    """``shiftdesk daq simulate`` in a child process; yields (host, port) of each server."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "shiftdesk.cli", "daq", "simulate", "--servers", str(n),
         "--base-port", "0", *extra],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    where: list[tuple[str, int]] = []
    try:
        for line in proc.stdout:
            m = re.search(r"http://([\d.]+):(\d+)/", line)
            if m:
                where.append((m.group(1), int(m.group(2))))
            if "stops them" in line:
                break
        assert len(where) == n, f"simulator started {len(where)} of {n} servers"
        yield where
    finally:
        proc.terminate()
        proc.wait(30)


@contextmanager
def hung_server() -> Iterator[tuple[str, int]]:
    """A host that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        sock.close()


def fresh_db(name: str) -> Database:
    """A database of its own for each measurement (one active experiment each)."""
    return Database(f"sqlite:///{FOLDER}/{name}.sqlite")


def experiment(db: Database, endpoints: list[tuple[str, int]], name: str) -> DAQSystem:
    """An experiment with one ECC server (one CoBo) per endpoint."""
    daq = DAQSystem.create(name, database=db, identity=ME, routers=LocalRouters())
    servers = [ServerSpec(f"ECC_{i}", h, p) for i, (h, p) in enumerate(endpoints)]
    routers = [RouterSpec(f"data_{i}", "127.0.0.1", 46005) for i in range(len(endpoints))]
    sources = [SourceSpec("CoBo", str(i), f"ECC_{i}", f"data_{i}") for i in range(len(endpoints))]
    daq.apply_setup(setup_from(servers, routers, sources))
    return daq


def sweeps(n: int) -> dict[str, float]:
    """Median/p95 sweep times (ms) for n servers, and with one of them hung."""
    out: dict[str, float] = {}
    with simulated(n) as where, hung_server() as hung:
        db = fresh_db(f"sweep{n}")
        experiment(db, where, f"sweep{n}")
        poller = Poller(db, period=1.0, timeout=1.0)
        try:
            poller.poll_once()  # connections and clients warm, as in a running poller
            times = [poller.poll_once().seconds * 1000 for _ in range(SWEEPS)]
            out["all"], out["all_p95"] = median(times), percentile(times, 0.95)
        finally:
            poller.stop()
        db.dispose()
        db = fresh_db(f"hung{n}")
        experiment(db, [*where[:-1], hung], f"hung{n}")
        poller = Poller(db, period=1.0, timeout=1.0)
        try:
            poller.poll_once()
            stored = []
            for _ in range(5):
                sweep = poller.poll_once()
                assert len(sweep.answered) == n - 1, sweep
                stored.append(sweep.stored_s * 1000)
                time.sleep(1.1)  # let the hung call time out, as between real sweeps
            snap = read_snapshot(db)
            assert snap.server(f"ECC_{n - 1}").status == "Offline"
            out["hung"], out["hung_p95"] = median(stored), percentile(stored, 0.95)
        finally:
            poller.stop()
        db.dispose()
    return out


def configure_all(repeats: int = 3) -> list[tuple[float, float]]:
    """(wall s, slowest single call s) of Configure-all on 12 servers, 2 s transitions.

    Repeated (Breakup in between) because a loaded machine makes single figures noisy.
    """
    from sqlalchemy import select

    from shiftdesk.daq.records import CallRecord

    out = []
    with simulated(12, "--duration", "2") as where:
        db = fresh_db("configure12")
        controller = Controller(db)
        daq = experiment(db, where, "configure12")
        daq.controller = controller
        for i in range(12):
            daq.select_config(f"cobo{i}", server=f"ECC_{i}")
        daq.describe().wait(60)
        daq.prepare().wait(60)
        for k in range(repeats):
            if k:
                daq.breakup().wait(60)
            t0 = time.perf_counter()
            handle = daq.configure()
            handle.wait(120)
            wall = time.perf_counter() - t0
            with db.session() as session:
                slowest = max(
                    session.scalars(
                        select(CallRecord.duration_s).where(CallRecord.command_id == handle.id)
                    )
                )
            assert all(s.state is State.READY for s in daq.snapshot().servers)
            out.append((wall, slowest))
        controller.close()
        db.dispose()
    return out


def latency(samples: int = 8) -> list[float]:
    """Seconds from a state change on a server to the change in the stored snapshot."""
    results = []
    with SimulatedCluster(12) as cluster:
        db = fresh_db("latency")
        experiment(db, [(s.host, s.port) for s in cluster], "latency")
        with Poller(db, period=1.0):
            time.sleep(1.5)
            states = [State.DESCRIBED, State.IDLE]
            for k in range(samples):
                time.sleep(random.uniform(0.0, 1.0))  # land anywhere in the poll period
                target = states[k % 2]
                t0 = time.perf_counter()
                cluster[k % 12].set_state(target)
                while read_snapshot(db).server(f"ECC_{k % 12}").state is not target:
                    time.sleep(0.01)
                results.append(time.perf_counter() - t0)
        db.dispose()
    return results


def main() -> None:
    print(f"# {machine()}")
    rows = []
    s12 = sweeps(12)
    s100 = sweeps(100)
    for n, s in ((12, s12), (100, s100)):
        rows.append((f"GetState sweep, {n} servers", f"{s['all']:.1f}", f"{s['all_p95']:.1f}"))
        rows.append((f"  one of {n} hung: others stored", f"{s['hung']:.1f}",
                     f"{s['hung_p95']:.1f}"))  # fmt: skip
    print_table(rows, ["poll (ms)", "median", "p95"])
    runs = configure_all()
    for wall, slowest in runs:
        print(
            f"Configure-all, 12 servers, 2 s each: wall {wall:.2f} s, slowest call {slowest:.2f} s"
        )
    ratio = median([wall / slowest for wall, slowest in runs])
    lat = latency()
    print(
        f"state change -> stored snapshot (poll 1 s): median {median(lat):.2f} s, "
        f"max {max(lat):.2f} s over {len(lat)} changes"
    )
    print(ratio_line("daq_sweep12_over_100ms", max(s12["all"], s12["hung"]) / 100.0, 1.0))
    print(ratio_line("daq_sweep100_over_300ms", max(s100["all"], s100["hung"]) / 300.0, 1.0))
    print(ratio_line("daq_state_latency_over_2s", max(lat) / 2.0, 1.0))
    print(ratio_line("daq_configure_all_wall_over_slowest", ratio, 1.2))


if __name__ == "__main__":
    main()
