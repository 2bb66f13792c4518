"""Simulated GET ECC servers for tests, benchmarks and demos.

:class:`SimulatedECC` is one ``getEccSoapServer`` on a loopback port; :func:`simulate`
runs several. ``shiftdesk daq simulate`` runs them from the shell.
"""

from shiftdesk.daq.simulator.cluster import SimulatedCluster, simulate
from shiftdesk.daq.simulator.configs import list_config_ids, read_senders, write_config_set
from shiftdesk.daq.simulator.graw import GrawWriter
from shiftdesk.daq.simulator.server import (
    FAILURE_KINDS,
    FAST_DURATIONS,
    REALISTIC_DURATIONS,
    Failure,
    SimulatedECC,
)

__all__ = [
    "FAILURE_KINDS",
    "FAST_DURATIONS",
    "REALISTIC_DURATIONS",
    "Failure",
    "GrawWriter",
    "SimulatedCluster",
    "SimulatedECC",
    "list_config_ids",
    "read_senders",
    "simulate",
    "write_config_set",
]
