"""``shiftdesk daq simulate``: run simulated ECC servers in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from shiftdesk.daq.simulator.cluster import SimulatedCluster
from shiftdesk.daq.simulator.server import REALISTIC_DURATIONS


def run(args: argparse.Namespace) -> int:
    """Start the servers, print where they are, and wait for Ctrl-C or SIGTERM."""
    durations: float | dict[str, float] | None = None
    if args.realistic:
        durations = dict(REALISTIC_DURATIONS)
    elif args.duration is not None:
        durations = float(args.duration)
    cluster = SimulatedCluster(
        args.servers,
        mutant=args.mutant,
        config_dir=args.config_dir,
        data_dir=args.data_dir,
        base_port=args.base_port,
        host=args.host,
        durations=durations,
        drop_prefixed_params=args.drop_prefixed,
        graw_interval=args.graw_interval,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"shiftdesk: {len(cluster)} simulated ECC server(s), configs in {cluster.config_dir}")
        for server, config in zip(cluster.servers, cluster.configs, strict=True):
            data = f", GRAW files in {server.data_dir}" if server.data_dir else ""
            print(f"  {server.name:<14} {server.url}  config {config}{data}")
        print("shiftdesk: Ctrl-C or SIGTERM stops them")
        sys.stdout.flush()
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        cluster.stop()
    print("shiftdesk: simulated ECC servers stopped")
    return 0
