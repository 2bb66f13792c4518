"""The ``shiftdesk`` command: demo dashboards, database upgrades, job listings."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shiftdesk.hub.settings import HubSettings

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
DASHBOARDS = ("reflectometry", "daq")


def _demo(args: argparse.Namespace) -> int:
    from shiftdesk.hub.config import VOILA_ARGS
    from shiftdesk.reflectometry.demo import seed
    from shiftdesk.storage import get_database

    db = get_database()
    data_id, model_id = seed()
    print(f"shiftdesk: database {db!r}; demo data #{data_id}, demo model #{model_id}")
    if args.seed_only:
        return 0
    dashboards = DASHBOARDS if args.dashboard == "all" else (args.dashboard,)
    for name in dashboards:
        if not (NOTEBOOKS / f"{name}.ipynb").exists():
            print(f"shiftdesk: no dashboard notebook at {NOTEBOOKS / name}.ipynb", file=sys.stderr)
            return 2
    # One dashboard: Voilà serves that notebook at /. All: Voilà serves the notebooks folder
    # (a page listing them, each rendered at /voila/render/<name>.ipynb).
    target = NOTEBOOKS if args.dashboard == "all" else NOTEBOOKS / f"{args.dashboard}.ipynb"
    voila = shutil.which("voila") or str(Path(sys.executable).with_name("voila"))
    command = [
        voila,
        str(target),
        f"--port={args.port}",
        "--Voila.ip=127.0.0.1",
        "--no-browser",
        "--MappingKernelManager.cull_interval=60",
        "--MappingKernelManager.cull_idle_timeout=900",
        *VOILA_ARGS,
    ]
    base = f"http://127.0.0.1:{args.port}"
    if args.dashboard == "all":
        for name in dashboards:
            print(f"shiftdesk: {name} dashboard at {base}/voila/render/{name}.ipynb")
        print(f"shiftdesk: all notebooks at {base}/ (Ctrl-C stops)")
    else:
        print(f"shiftdesk: {args.dashboard} dashboard at {base}/ (Ctrl-C stops)")
    sys.stdout.flush()
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return


def _db(args: argparse.Namespace) -> int:
    from shiftdesk.storage import Database

    db = Database(migrate=False) if args.action == "current" else None
    if args.action == "current":
        assert db is not None
        print(f"{db!r}: {db.current_revision()} (newest known: {db.head_revision()})")
        return 0
    db = Database()  # opening migrates to head
    print(f"{db!r} is at {db.current_revision()}")
    return 0


def _jobs(args: argparse.Namespace) -> int:
    from shiftdesk.jobs import list_jobs

    for job in list_jobs(limit=args.limit):
        print(f"{job.id}  {job.status.value:<9} {job.progress:>4.0%}  {job.kind:<20} {job.title}")
    return 0


def _seed_demo_hub(settings: HubSettings) -> list[str]:
    """Put the reflectometry demo data and model into each demo user's library.

    Seeded into the database the user servers share, as each demo user, before anyone
    logs in: a first dashboard or notebook finds them already there. Idempotent.
    """
    from shiftdesk.identity import Identity
    from shiftdesk.reflectometry.demo import seed
    from shiftdesk.reflectometry.library import Library
    from shiftdesk.storage import Database

    db = Database(settings.database_url())
    try:
        users = settings.auth.demo.users
        for name, user in users.items():
            seed(Library(db, Identity(name, groups=frozenset(user.groups))))
    finally:
        db.dispose()
    return [f"demo data: reflectometry demo data and model for {', '.join(users)}"]


def _demo_roles(settings: HubSettings) -> list[str]:
    """Banner lines saying what the demo logins may do."""
    group = "operators-demo"  # the operators of the demo experiment (hub.daq_demo)
    operators = ", ".join(settings.user_groups().get(group, [])) or "nobody"
    return [
        "everyone fits their own data (demo data and model are in each library) and "
        "watches the DAQ;",
        f"{operators} ({group}) also runs it: Describe, Prepare, Configure, Start, Stop, run sheet",
    ]


def _hub(args: argparse.Namespace) -> int:
    from shiftdesk import hub
    from shiftdesk.hub.accounts import is_root
    from shiftdesk.storage import data_dir

    if args.demo == bool(args.settings) or (args.state_dir and not args.demo):
        print("shiftdesk hub: give --demo [--state-dir DIR] or --settings FILE", file=sys.stderr)
        return 2
    if args.demo:
        if args.state_dir:
            state = Path(args.state_dir)
        elif is_root():
            # each demo user's account must be able to pass through to its own home,
            # which a folder under /root never lets it
            state = Path("/var/lib/shiftdesk/hub-demo")
        else:
            state = data_dir() / "hub-demo"
        path = hub.write_demo_settings(args.port or 8000, state)
        settings = hub.load_settings(path)
        banner = [*hub.demo_banner(settings), *_demo_roles(settings)]
    else:
        settings = hub.load_settings(args.settings)
        if args.port:
            from dataclasses import replace

            settings = replace(settings, hub=replace(settings.hub, port=args.port))
        banner = []
    if args.check:
        for line in hub.preflight(settings):
            print(f"shiftdesk hub: {line}")
        print(f"shiftdesk hub: {settings.where} is fine")
        return 0
    return hub.run_hub(settings, banner=banner, prepare=_seed_demo_hub if args.demo else None)


def _daq_simulate(args: argparse.Namespace) -> int:
    from shiftdesk.daq.simulator.cli import run

    return run(args)


def _audit(args: argparse.Namespace) -> int:
    from shiftdesk.audit import entries

    found = entries(args.limit, actor=args.actor, action=args.action, outcome=args.outcome)
    for entry in reversed(found):
        print(entry)
    return 0


def _daq_poll(args: argparse.Namespace) -> int:
    from shiftdesk.daq.poller import run_cli

    return run_cli(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``shiftdesk`` console script."""
    parser = argparse.ArgumentParser(prog="shiftdesk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="seed demo data and start a dashboard")
    demo.add_argument(
        "dashboard",
        nargs="?",
        choices=["all", *DASHBOARDS],
        default="all",
        help="which dashboard (default all; daq: run control on simulated ECC servers)",
    )
    demo.add_argument("--port", type=int, default=8866)
    demo.add_argument("--seed-only", action="store_true", help="only put demo data in place")
    demo.set_defaults(func=_demo)
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade", "current"])
    db.set_defaults(func=_db)
    jobs = sub.add_parser("jobs", help="list my jobs")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.set_defaults(func=_jobs)
    audit = sub.add_parser(
        "audit", help="the audit trail, oldest first (yours; everyone's for administrators)"
    )
    audit.add_argument("--limit", type=int, default=50, help="the newest N entries")
    audit.add_argument("--actor", help="only this user's entries")
    audit.add_argument("--action", help="only this action (a prefix ending in '.': a family)")
    audit.add_argument("--outcome", choices=["ok", "refused", "failed"])
    audit.set_defaults(func=_audit)
    hub = sub.add_parser("hub", help="start the JupyterHub deployment (demo or settings file)")
    hub.add_argument("--demo", action="store_true", help="loopback demo with demo logins")
    hub.add_argument("--settings", help="the deployment's settings file (TOML)")
    hub.add_argument("--port", type=int, help="public port (demo default 8000)")
    hub.add_argument("--state-dir", help="demo state folder (default: data folder/hub-demo)")
    hub.add_argument("--check", action="store_true", help="check settings and services, then exit")
    hub.set_defaults(func=_hub)
    daq = sub.add_parser("daq", help="GET DAQ tools")
    daq_sub = daq.add_subparsers(dest="daq_command", required=True)
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
    sim.set_defaults(func=_daq_simulate)
    poll = daq_sub.add_parser("poll", help="refresh the ECC servers' state into the database")
    poll.add_argument("--period", type=float, default=1.0, help="seconds between sweeps")
    poll.add_argument("--timeout", type=float, help="GetState timeout (default: min(period, 1))")
    poll.add_argument("--once", action="store_true", help="one sweep, print the state, exit")
    poll.add_argument("--check-routers", action="store_true", help="check routers over SSH")
    poll.set_defaults(func=_daq_poll)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as exc:  # a clear one-line error for the shell, not a traceback
        from shiftdesk.errors import ShiftdeskError

        if isinstance(exc, ShiftdeskError):
            print(f"shiftdesk: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
