"""A DAQ to play with: an experiment wired to simulated ECC servers.

``seed_demo(cluster)`` stores an experiment whose setup is a running
:class:`~shiftdesk.daq.simulator.SimulatedCluster` (one ECC server and one local data
router folder per CoBo, the MuTAnT's server last), with each server's config selected
and a few run-sheet observables, so a dashboard or notebook has something real to drive.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from shiftdesk.daq.model import COBO, MUTANT, ROUTER_PORT
from shiftdesk.daq.routers import LocalRouters
from shiftdesk.daq.setup import RouterSpec, ServerSpec, Setup, SourceSpec, setup_from
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.system import DAQSystem
from shiftdesk.identity import Identity, current_identity
from shiftdesk.storage import Database, get_database


def cluster_setup(cluster: SimulatedCluster) -> Setup:
    """The setup of a simulated cluster: server ``i`` drives ``CoBo[i]`` (or the MuTAnT)."""
    servers, routers, sources = [], [], []
    for i, sim in enumerate(cluster):
        url = urlsplit(sim.url)
        mutant = sim is cluster.mutant
        label = "mutant" if mutant else str(i)
        folder = None
        if sim.data_dir is not None:
            sim.data_dir.mkdir(parents=True, exist_ok=True)
            folder = str(sim.data_dir)
        servers.append(
            ServerSpec(
                f"ECC_{label}",
                url.hostname or "127.0.0.1",
                url.port or 8083,
                config_root=str(cluster.config_dir),
            )
        )
        routers.append(RouterSpec(f"data_{label}", "127.0.0.1", ROUTER_PORT + i, folder=folder))
        sources.append(
            SourceSpec(
                MUTANT if mutant else COBO,
                "master" if mutant else str(i),
                f"ECC_{label}",
                f"data_{label}",
            )
        )
    return setup_from(servers, routers, sources)


def seed_demo(
    cluster: SimulatedCluster,
    *,
    experiment: str = "demo",
    operators: Sequence[str] = (),
    database: Database | None = None,
    identity: Identity | None = None,
) -> DAQSystem:
    """Create (and activate) ``experiment`` driving ``cluster``; returns its system.

    The current user is an operator unless ``operators`` says otherwise. Routers are
    the simulator's local GRAW folders, inspected with :class:`LocalRouters`.
    """
    db = database or get_database()
    who = identity or current_identity()
    daq = DAQSystem.create(
        experiment,
        operators=list(operators) or [who.name],
        database=db,
        identity=who,
        routers=LocalRouters(),
    )
    daq.apply_setup(cluster_setup(cluster))
    for view, config in zip(daq.snapshot().servers, cluster.configs, strict=True):
        daq.select_config(config, server=view.name)
    sheet = daq.runsheet
    sheet.add_observable("Beam current", "float", units="pA", comment="Faraday cup")
    sheet.add_observable("Gas", "string", comment="fill gas")
    sheet.add_observable("Pressure", "integer", units="Torr")
    return daq
