"""Helpers for the DAQ model tests: a DAQSystem wired to a simulated cluster (real HTTP)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shiftdesk.daq.control import Controller
from shiftdesk.daq.demo import cluster_setup
from shiftdesk.daq.routers import LocalRouters, RouterAccess
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.system import DAQSystem
from shiftdesk.identity import Identity
from shiftdesk.storage import Database

OPERATOR = Identity("alice")
VISITOR = Identity("mallory")


@contextmanager
def daq_system(
    cluster: SimulatedCluster,
    *,
    routers: RouterAccess | None = None,
    identity: Identity = OPERATOR,
    transition_timeout: float = 30.0,
    state_timeout: float = 1.0,
    select: bool = True,
    database: Database | None = None,
) -> Iterator[DAQSystem]:
    """An experiment whose setup is ``cluster``, configs selected, controller closed after
    (in ``database``, default: the test's own SQLite file; disposed after)."""
    db = database or Database()
    controller = Controller(db, transition_timeout=transition_timeout, state_timeout=state_timeout)
    try:
        system = DAQSystem.create(
            "e20009",
            operators=[OPERATOR.name],
            database=db,
            identity=identity,
            controller=controller,
            routers=routers or LocalRouters(),
        )
        system.apply_setup(cluster_setup(cluster))
        if select:
            for i, sim in enumerate(cluster):
                name = "ECC_mutant" if sim.name == "ECC_mutant" else f"ECC_{i}"
                system.select_config(cluster.configs[i], server=name)
        yield system
    finally:
        controller.close(wait=False)
        db.dispose()


def until(check: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait until ``check()`` holds (fail the test after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
