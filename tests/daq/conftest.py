"""DAQ fixtures: simulated GET ECC servers on loopback ports (real HTTP, no mocks).

* ``ecc_server``: one :class:`~shiftdesk.daq.simulator.SimulatedECC` (fast transitions,
  config set ``default`` describing ``CoBo[0]``, GRAW files in ``tmp_path/router``).
* ``ecc_servers``: a factory, ``ecc_servers(n, **options)`` -> a started
  :class:`~shiftdesk.daq.simulator.SimulatedCluster`; every cluster is stopped afterwards.

Both forget the process's cached zeep clients and call history around each test, so one
test never sees another's connections or records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shiftdesk.daq.ecc import clear_call_history, forget_clients
from shiftdesk.daq.execution import stop_executors
from shiftdesk.daq.simulator import SimulatedCluster, SimulatedECC


@pytest.fixture(autouse=True)
def _fresh_ecc_clients() -> Iterator[None]:
    forget_clients()
    clear_call_history()
    yield
    for executor in stop_executors():  # the command executors this test's systems started
        executor.database.dispose()  # it may have reconnected after the test disposed it
    forget_clients()
    clear_call_history()


@pytest.fixture
def ecc_server(tmp_path: Path) -> Iterator[SimulatedECC]:
    """One simulated ECC server, stopped after the test."""
    server = SimulatedECC(name="ECC_test", data_dir=tmp_path / "router", graw_interval=0.05)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ecc_servers(tmp_path: Path) -> Iterator[Callable[..., SimulatedCluster]]:
    """Factory: ``ecc_servers(n, **options)`` starts ``n`` simulated ECC servers."""
    clusters: list[SimulatedCluster] = []

    def start(n: int = 3, **options: Any) -> SimulatedCluster:
        options.setdefault("data_dir", tmp_path / f"routers{len(clusters)}")
        cluster = SimulatedCluster(n, **options)
        clusters.append(cluster)
        return cluster

    try:
        yield start
    finally:
        for cluster in clusters:
            cluster.stop()
