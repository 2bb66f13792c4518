"""A DAQ to play with: an experiment wired to simulated ECC servers.

``seed_demo(cluster)`` stores an experiment whose setup is a running
:class:`~shiftdesk.daq.simulator.SimulatedCluster` (one ECC server and one local data
router folder per CoBo, the MuTAnT's server last), with each server's config selected
and a few run-sheet observables, so a dashboard or notebook has something real to drive.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from shiftdesk.daq.commands import active_commands
from shiftdesk.daq.ecc import ConfigId
from shiftdesk.daq.errors import SetupError
from shiftdesk.daq.experiment import active_experiment, create_experiment
from shiftdesk.daq.routers import LocalRouters
from shiftdesk.daq.runs import close_run
from shiftdesk.daq.setup import (
    RouterSpec,
    ServerSpec,
    Setup,
    SourceSpec,
    easy_setup,
    setup_from,
)
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.snapshot import COBO, MUTANT, ROUTER_PORT
from shiftdesk.daq.system import DAQSystem
from shiftdesk.errors import NotFound
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


# -- the demo experiment on simulated servers (the dashboard's demo and the hub's) --------
def open_demo_experiment(
    name: str,
    *,
    database: Database,
    identity: Identity,
    refused: str,
    operators: Sequence[str] = (),
    operator_group: str | None = None,
) -> None:
    """Make the demo experiment ``name`` the active one, creating it when none is active.

    Commands and a run the previous simulated servers left open are closed: those
    servers are gone, and new ones start Idle.

    Raises
    ------
    SetupError
        Another experiment is active (``refused`` says what to do): a demo never
        touches a configured system.
    """
    try:
        active = active_experiment(database)
    except NotFound:
        active = None
    if active is not None and active.name != name:
        raise SetupError(f"experiment {active.name!r} is {refused}")
    if active is None:
        create_experiment(
            name,
            operators=operators,
            operator_group=operator_group,
            database=database,
            identity=identity,
        )
    experiment = active_experiment(database)
    active_commands(database, experiment.id)
    close_run(database, experiment.id)


def apply_demo_setup(system: DAQSystem, cluster: SimulatedCluster, data_folder: Path) -> None:
    """Describe ``cluster`` (a CoBo server per board and the MuTAnT) to ``system``, with
    local router folders ``data_folder/data<i>`` (created)."""
    n_cobos = len(cluster) - 1
    for i in range(n_cobos + 1):
        (data_folder / f"data{i}").mkdir(parents=True, exist_ok=True)
    system.apply_setup(
        easy_setup(
            n_cobos,
            ecc_host=urlsplit(cluster[0].url).hostname or "127.0.0.1",
            ecc_port=cluster[0].port,
            one_server_per_cobo=True,
            step="port",
            mutant=True,
            router_host="127.0.0.1",
            router_folder=str(data_folder / "data{i}"),
        )
    )


def select_demo_configs(system: DAQSystem, n_cobos: int) -> None:
    """Read the servers' configurations and pick the simulator's own for each."""
    system.refresh_configs()
    for i in range(n_cobos):
        system.select_config(ConfigId.same(f"cobo{i}"), server=f"ECC_{i}")
    system.select_config(ConfigId.same("mutant"), server="ECC_mutant")
