"""The DAQ demo: simulated ECC servers, an easy setup on them, and a little history.

Used by ``notebooks/daq.ipynb`` (and so ``shiftdesk demo daq``) when no experiment is
configured. Everything runs in the kernel: the simulated servers on loopback ports, the
core poller, and data routers whose folders are local (files are organised without SSH).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from shiftdesk.daq.demo import apply_demo_setup, open_demo_experiment, select_demo_configs
from shiftdesk.daq.poller import Poller as StatePoller
from shiftdesk.daq.records import RunRecord
from shiftdesk.daq.routers import LocalRouters
from shiftdesk.daq.runs import FIRST_RUN_NUMBER
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.snapshot import now
from shiftdesk.daq.system import DAQSystem
from shiftdesk.identity import Identity, current_identity
from shiftdesk.storage import Database, data_dir, get_database

DEMO_EXPERIMENT = "demo"
#: The demo's run sheet columns: (name, type, units, comment).
OBSERVABLES = (
    ("beam energy", "float", "MeV/u", "from the accelerator log"),
    ("gas pressure", "float", "Torr", "detector gas"),
    ("trigger rate", "integer", "Hz", ""),
    ("target", "string", "", "gas and purity"),
)
#: Earlier runs shown in the sheet and plot: (title, class, values).
HISTORY = (
    ("pulser check", "Pulser", {"beam energy": 0.0, "gas pressure": 150.0, "trigger rate": 60}),
    ("first beam", "Beam", {"beam energy": 9.2, "gas pressure": 150.0, "trigger rate": 410}),
    ("beam, higher pressure", "Beam", {"beam energy": 9.2, "gas pressure": 200.0,
                                       "trigger rate": 385}),
)  # fmt: skip


@dataclass
class Demo:
    """A running DAQ demo: the system, its simulated servers and the core poller."""

    system: DAQSystem
    cluster: SimulatedCluster
    poller: StatePoller
    folder: Path
    stopped: bool = field(default=False)

    def stop(self) -> None:
        """Stop the poller and the simulated servers."""
        if not self.stopped:
            self.stopped = True
            self.poller.stop()
            self.cluster.stop()


def _cluster(n_cobos: int, folder: Path, durations: float, attempts: int = 30) -> SimulatedCluster:
    """Servers on consecutive ports (an easy setup steps the port from the first)."""
    last: OSError | None = None
    for _ in range(attempts):
        base = random.randrange(20000, 60000)
        try:
            return SimulatedCluster(
                n_cobos, mutant=True, base_port=base, data_dir=folder, durations=durations
            )
        except OSError as exc:  # a port in the range is taken: try another range
            last = exc
    raise RuntimeError(f"no {n_cobos + 1} free consecutive ports found for the demo: {last}")


def _seed(system: DAQSystem) -> None:
    """Observables and a few finished runs, once per demo experiment."""
    sheet = system.runsheet
    if sheet.observables():
        return
    for name, kind, units, comment in OBSERVABLES:
        sheet.add_observable(name, kind, units=units, comment=comment)
    start = now() - timedelta(hours=len(HISTORY) + 1)
    with system.database.session() as session:
        for i, (title, run_class, _values) in enumerate(HISTORY):
            began = start + timedelta(hours=i)
            session.add(
                RunRecord(
                    experiment_id=system.experiment_id,
                    run_number=FIRST_RUN_NUMBER + i,
                    title=title,
                    run_class=run_class,
                    started_at=began,
                    stopped_at=began + timedelta(minutes=40),
                    config_names="demo history",
                    started_by=system.identity.name,
                    files_organized=True,
                )
            )
    for i, (_title, _cls, values) in enumerate(HISTORY):
        sheet.update(FIRST_RUN_NUMBER + i, {**values, "target": "He:CO2 90:10"})


def start_demo(
    n_cobos: int = 2,
    *,
    database: Database | None = None,
    identity: Identity | None = None,
    period: float = 0.5,
    durations: float = 0.3,
) -> Demo:
    """Start simulated ECC servers and point the demo experiment at them.

    Parameters
    ----------
    n_cobos : int
        CoBos (one simulated ECC server each); a MuTAnT server comes on top.
    database, identity
        Where the demo is stored and who operates it (default: the current user).
    period : float
        Core poller period (s).
    durations : float
        Seconds every simulated transition takes (long enough to see the spinner).

    Raises
    ------
    SetupError
        When another experiment is active: the demo never touches a configured system.
    """
    db = database or get_database()
    who = identity or current_identity()
    open_demo_experiment(
        DEMO_EXPERIMENT,
        operators=[who.name],
        database=db,
        identity=who,
        refused=(
            "configured: the demo only runs when none is "
            "(use DAQDashboard(DAQSystem()) for the configured one)"
        ),
    )
    # Fresh folders per start, so files left by an earlier kernel never block Start.
    folder = data_dir() / "daq-demo" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    cluster = _cluster(n_cobos, folder, durations)
    try:
        routers = LocalRouters()
        system = DAQSystem(db, who, routers=routers)
        apply_demo_setup(system, cluster, folder)
        _seed(system)
        poller = StatePoller(db, period=period, routers=routers, router_period=2 * period)
        poller.poll_once()
        select_demo_configs(system, n_cobos)
        poller.start()
    except BaseException:
        cluster.stop()
        raise
    return Demo(system, cluster, poller, folder)
