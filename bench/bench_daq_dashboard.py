"""DAQ dashboard: a state change on a server → shown in the dashboard widget.

Three simulated GET ECC servers over real HTTP on loopback; the core poller
(:class:`shiftdesk.daq.poller.Poller`) runs in its thread at its default 1 s period and
the :class:`~shiftdesk_widgets.daq.DAQDashboard` refreshes from the stored state with
its own asyncio poller at its default 0.5 s interval, on an asyncio loop as in a kernel
(no browser: the figure ends when the widget's state holds the new value, which is what
the frontend is then sent). A server's state is changed at a random moment
(``SimulatedECC.set_state``) and the time until the server's row shows it is measured,
alternating Idle ↔ Described.

Prints ``RATIO daq_dashboard_state_latency_p95_over_2s`` (p95 ÷ 2 s, target ≤ 1: the
issue's "a state change on a server shows in the dashboard state ≤ 2 s later").

Run: ``.venv/bin/python bench/bench_daq_dashboard.py``
"""

from __future__ import annotations

import asyncio
import random
import time
import warnings

from _common import isolate, machine, median, percentile, print_table, ratio_line

FOLDER = isolate()
# bqscales passes metadata the old traitlets way; not ours, and harmless here.
warnings.filterwarnings("ignore", "metadata .* was set from the constructor", DeprecationWarning)

from shiftdesk.daq.control import Controller  # noqa: E402
from shiftdesk.daq.ecc import State  # noqa: E402
from shiftdesk.daq.poller import Poller  # noqa: E402
from shiftdesk.daq.routers import LocalRouters  # noqa: E402
from shiftdesk.daq.setup import RouterSpec, ServerSpec, SourceSpec, setup_from  # noqa: E402
from shiftdesk.daq.simulator import SimulatedCluster  # noqa: E402
from shiftdesk.daq.system import DAQSystem  # noqa: E402
from shiftdesk.identity import Identity  # noqa: E402
from shiftdesk.storage import Database  # noqa: E402
from shiftdesk_widgets.daq import DAQDashboard  # noqa: E402

SAMPLES = 20
SERVERS = 3
TARGET_S = 2.0
ME = Identity("bench", admin=True)


def system(cluster: SimulatedCluster) -> DAQSystem:
    """An experiment whose ECC servers are ``cluster``."""
    servers, routers, sources = [], [], []
    for i, sim in enumerate(cluster):
        servers.append(ServerSpec(f"ECC_{i}", "127.0.0.1", sim.port))
        routers.append(RouterSpec(f"data_{i}", "127.0.0.1", 46005 + i))
        sources.append(SourceSpec("CoBo", str(i), f"ECC_{i}", f"data_{i}"))
    db = Database()
    daq = DAQSystem.create(
        "bench", database=db, identity=ME, controller=Controller(db), routers=LocalRouters()
    )
    daq.apply_setup(setup_from(servers, routers, sources))
    return daq


async def measure(daq: DAQSystem, cluster: SimulatedCluster) -> list[float]:
    """Seconds from ``set_state`` to the row's new text, ``SAMPLES`` times."""
    dashboard = DAQDashboard(daq)  # its poller starts on this (running) loop
    assert dashboard.poller.running, "the dashboard poller did not start on the loop"
    try:
        deadline = time.monotonic() + 10
        while dashboard.server_status("ECC_1") != "Idle":
            assert time.monotonic() < deadline, dashboard.server_status("ECC_1")
            await asyncio.sleep(0.01)
        latencies = []
        for n in range(SAMPLES):
            target = State.DESCRIBED if n % 2 == 0 else State.IDLE
            await asyncio.sleep(random.uniform(0.3, 1.7))  # any phase of both pollers
            t0 = time.perf_counter()
            cluster[1].set_state(target)
            while dashboard.server_status("ECC_1") != target.label:
                await asyncio.sleep(0.005)
            latencies.append(time.perf_counter() - t0)
        return latencies
    finally:
        dashboard.close()


def main() -> None:
    print(f"# {machine()}")
    with SimulatedCluster(SERVERS) as cluster:
        daq = system(cluster)
        poller = Poller(daq.database).start()  # default period (1 s)
        try:
            latencies = asyncio.run(measure(daq, cluster))
        finally:
            poller.stop()
            daq.controller.close(wait=False)
    print_table(
        [
            (
                f"state change -> dashboard row (poller {poller.period:g} s, view 0.5 s)",
                f"{median(latencies):.2f}",
                f"{percentile(latencies, 0.95):.2f}",
                f"{max(latencies):.2f}",
                len(latencies),
            )
        ],
        ["", "p50 s", "p95 s", "max s", "samples"],
    )
    print(ratio_line("daq_dashboard_state_latency_p95_over_2s",
                     percentile(latencies, 0.95) / TARGET_S, 1.0))  # fmt: skip


if __name__ == "__main__":
    main()
