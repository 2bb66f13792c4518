"""The demo hub's DAQ: simulated ECC servers as a hub-managed service.

``python -m shiftdesk.hub.daq_demo`` is the ``daq-simulator`` service of
``shiftdesk hub --demo``. It starts simulated ECC servers (CoBos and a MuTAnT) on
loopback, points the shared database's ``demo`` experiment at them (creating it on
first start, operated by the hub group ``operators-demo``), selects each server's
config, and waits for SIGTERM. The ``daq-poller`` service (``shiftdesk daq poll``)
refreshes their state into the same database, so every user's DAQ dashboard watches
one system. User servers get ``SHIFTDESK_DAQ_HUB_DEMO=1`` so a dashboard never starts
simulated servers of its own there.

Why a service rather than the launcher: the hub restarts a service that exits, so a
crashed simulator comes back (on new ports; the stored setup follows it), and it is
stopped with everything else the hub started.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from shiftdesk.daq.demo import apply_demo_setup, open_demo_experiment, select_demo_configs
from shiftdesk.daq.errors import SetupError
from shiftdesk.daq.routers import LocalRouters
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.system import DAQSystem
from shiftdesk.hub.config import SHARED_ENV
from shiftdesk.identity import Identity
from shiftdesk.storage import Database, data_dir, get_database

#: the experiment the demo hub drives (its operators: hub group ``operators-demo``)
EXPERIMENT = "demo"
#: who the service acts as: it sets the demo up before any operator logs in
SERVICE_IDENTITY = Identity("shiftdesk-daq-simulator", admin=True)
__all__ = ["EXPERIMENT", "SHARED_ENV", "main", "seed", "start_cluster"]

OBSERVABLES = (
    ("beam energy", "float", "MeV/u", "from the accelerator log"),
    ("gas pressure", "float", "Torr", "detector gas"),
    ("trigger rate", "integer", "Hz", ""),
)


#: where the simulated servers listen (set by the hub: its own address on a DAQ network)
HOST_ENV = "SHIFTDESK_DAQ_SIM_HOST"


def start_cluster(
    folder: Path, n_cobos: int, durations: float, host: str = "127.0.0.1"
) -> SimulatedCluster:
    """Simulated servers on consecutive free ports; configs kept in ``folder/configs``."""
    last: OSError | None = None
    for _ in range(30):
        base = random.randrange(20000, 32000)  # below the ephemeral range, like the hub
        try:
            return SimulatedCluster(
                n_cobos,
                mutant=True,
                base_port=base,
                host=host,
                config_dir=folder / "configs",
                data_dir=folder / "data",
                durations=durations,
            )
        except OSError as exc:  # a port of the range is taken: try another range
            last = exc
    raise SetupError(f"no {n_cobos + 1} free consecutive ports for the simulated servers: {last}")


def seed(cluster: SimulatedCluster, folder: Path, database: Database) -> DAQSystem:
    """Point the ``demo`` experiment at ``cluster`` (create it first if needed).

    Raises
    ------
    SetupError
        Another experiment is active: the demo never touches a configured system.
    """
    (folder / "configs").mkdir(parents=True, exist_ok=True)
    who = SERVICE_IDENTITY
    open_demo_experiment(
        EXPERIMENT,
        operator_group=f"operators-{EXPERIMENT}",
        database=database,
        identity=who,
        refused=(
            f"active in {database!r}: the demo DAQ only runs when none (or its own) is. "
            "Disable services.daq_simulator."
        ),
    )
    n = len(cluster) - 1
    system = DAQSystem(database, who, routers=LocalRouters())
    apply_demo_setup(system, cluster, folder / "data")
    sheet = system.runsheet
    if not sheet.observables():
        for name, kind, units, comment in OBSERVABLES:
            sheet.add_observable(name, kind, units=units, comment=comment)
    select_demo_configs(system, n)
    return system


def main(argv: list[str] | None = None) -> int:
    """Run the service until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m shiftdesk.hub.daq_demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cobos", type=int, default=2, help="CoBo servers (a MuTAnT on top)")
    parser.add_argument("--duration", type=float, default=0.3, help="seconds per transition")
    parser.add_argument("--folder", help="configs and GRAW files (default: data folder/daq)")
    parser.add_argument(
        "--host",
        default=os.environ.get(HOST_ENV, "127.0.0.1"),
        help=f"address to listen on (default: ${HOST_ENV} or 127.0.0.1)",
    )
    args = parser.parse_args(argv)
    folder = Path(args.folder) if args.folder else data_dir() / "daq"
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cluster = start_cluster(folder, args.cobos, args.duration, args.host)
    try:
        system = seed(cluster, folder, get_database())
        print(
            f"daq-simulator: experiment {EXPERIMENT!r} on "
            f"{', '.join(s.name for s in system.snapshot().servers)} "
            f"({', '.join(cluster.urls)})",
            flush=True,
        )
        done.wait()
    finally:
        cluster.stop()
    print("daq-simulator: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
