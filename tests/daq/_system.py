"""Helpers for the DAQ model tests: a DAQSystem wired to a simulated cluster (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from shiftdesk.daq.control import Controller
from shiftdesk.daq.model import COBO, MUTANT
from shiftdesk.daq.routers import LocalRouters, RouterAccess
from shiftdesk.daq.setup import RouterSpec, ServerSpec, SourceSpec, setup_from
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.system import DAQSystem
from shiftdesk.identity import Identity
from shiftdesk.storage import Database

OPERATOR = Identity("alice")
VISITOR = Identity("mallory")


def setup_for(cluster: SimulatedCluster):  # type: ignore[no-untyped-def]
    """Servers on the cluster's ports, one router per server on its GRAW folder."""
    servers, routers, sources = [], [], []
    for i, sim in enumerate(cluster):
        url = urlsplit(sim.url)
        mutant = sim.name == "ECC_mutant"
        label = "mutant" if mutant else str(i)
        servers.append(ServerSpec(f"ECC_{label}", url.hostname or "127.0.0.1", url.port or 0))
        folder = None
        if sim.data_dir is not None:
            sim.data_dir.mkdir(parents=True, exist_ok=True)
            folder = str(sim.data_dir)
        routers.append(RouterSpec(f"data_{label}", "127.0.0.1", 46005 + i, folder=folder))
        sources.append(
            SourceSpec(
                MUTANT if mutant else COBO,
                "master" if mutant else str(i),
                f"ECC_{label}",
                f"data_{label}",
            )
        )
    return setup_from(servers, routers, sources)


@contextmanager
def daq_system(
    cluster: SimulatedCluster,
    *,
    routers: RouterAccess | None = None,
    identity: Identity = OPERATOR,
    transition_timeout: float = 30.0,
    select: bool = True,
) -> Iterator[DAQSystem]:
    """An experiment whose setup is ``cluster``, configs selected, controller closed after."""
    db = Database()
    controller = Controller(db, transition_timeout=transition_timeout, state_timeout=1.0)
    try:
        system = DAQSystem.create(
            "e20009",
            operators=[OPERATOR.name],
            database=db,
            identity=identity,
            controller=controller,
            routers=routers or LocalRouters(),
        )
        system.apply_setup(setup_for(cluster))
        if select:
            for i, sim in enumerate(cluster):
                name = "ECC_mutant" if sim.name == "ECC_mutant" else f"ECC_{i}"
                system.select_config(cluster.configs[i], server=name)
        yield system
    finally:
        controller.close(wait=False)
        db.dispose()
