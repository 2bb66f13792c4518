"""What the DAQ brings to the shared machinery (see :mod:`shiftdesk.domains`)."""

from __future__ import annotations

import argparse

from shiftdesk.domains import Domain


def _simulate(args: argparse.Namespace) -> int:
    from shiftdesk.daq.simulator.cli import run

    return run(args)


def _poll(args: argparse.Namespace) -> int:
    from shiftdesk.daq.poller import run_cli

    return run_cli(args)


def add_commands(parser: argparse.ArgumentParser) -> None:
    """``shiftdesk daq simulate`` and ``shiftdesk daq poll``."""
    daq_sub = parser.add_subparsers(dest="daq_command", required=True)
    sim = daq_sub.add_parser("simulate", help="run simulated GET ECC servers (Ctrl-C stops)")
    sim.add_argument("--servers", type=int, default=1, help="number of CoBo ECC servers")
    sim.add_argument("--mutant", action="store_true", help="add a MuTAnT ECC server")
    sim.add_argument("--base-port", type=int, default=8083, help="port of the first (0: any)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--config-dir", help="config repository (default: a temporary one)")
    sim.add_argument("--data-dir", help="GRAW files go to <data-dir>/data<i> while running")
    sim.add_argument("--duration", type=float, help="seconds per transition (default 0)")
    sim.add_argument("--realistic", action="store_true", help="slow, realistic transitions")
    sim.add_argument("--drop-prefixed", action="store_true", help="ignore ns0: parameters")
    sim.add_argument("--graw-interval", type=float, default=0.5, help="s between GRAW files")
    sim.set_defaults(func=_simulate)
    poll = daq_sub.add_parser("poll", help="refresh the ECC servers' state into the database")
    poll.add_argument("--period", type=float, default=1.0, help="seconds between sweeps")
    poll.add_argument("--timeout", type=float, help="GetState timeout (default: min(period, 1))")
    poll.add_argument("--once", action="store_true", help="one sweep, print the state, exit")
    poll.add_argument("--check-routers", action="store_true", help="check routers over SSH")
    poll.set_defaults(func=_poll)


DOMAIN = Domain(
    name="daq",
    title="GET DAQ run control",
    package="shiftdesk.daq",
    records=("shiftdesk.daq.records",),
    gate_actions=("shiftdesk.daq.actions",),
    views="shiftdesk_widgets.daq.views",
    dashboards=("daq",),
    commands="shiftdesk.daq.domain:add_commands",
)
