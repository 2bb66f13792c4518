"""The ``shiftdesk`` command: demo dashboards, database upgrades, job listings."""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shiftdesk.hub.settings import HubSettings
    from shiftdesk.identity import Identity
    from shiftdesk.storage import Database

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

#: A subcommand: parsed arguments in, exit code out.
Command = Callable[[argparse.Namespace], int]


def clear_errors(func: Command) -> Command:
    """Turn what a user can cause (a bad path, a bad value, a refusal) into one line on
    stderr and exit code 1, never a traceback; a file's error names the file."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        from shiftdesk.errors import ShiftdeskError

        try:
            return func(args)
        except (ShiftdeskError, OSError, ValueError) as exc:
            text = str(exc)
            if isinstance(exc, OSError) and exc.filename:
                text = f"{exc.filename}: {exc.strerror or exc}"
            print(f"shiftdesk: {text}", file=sys.stderr)
            return 1

    return run


def _dashboards() -> list[str]:
    """Every domain's dashboard notebooks."""
    from shiftdesk.domains import all_domains

    return [name for domain in all_domains().values() for name in domain.dashboards]


def _seed_demo(database: Database, identity: Identity) -> list[str]:
    """Every domain's demo data for ``identity``: what each did."""
    from shiftdesk.domains import all_domains, load

    return [
        load(domain.seed_demo)(database, identity)
        for domain in all_domains().values()
        if domain.seed_demo
    ]


def _demo(args: argparse.Namespace) -> int:
    from shiftdesk.hub.config import voila_args
    from shiftdesk.identity import current_identity
    from shiftdesk.storage import get_database

    db = get_database()
    done = _seed_demo(db, current_identity())
    print(f"shiftdesk: database {db!r}; {'; '.join(done) or 'no demo data'}")
    if args.seed_only:
        return 0
    dashboards = _dashboards() if args.dashboard == "all" else [args.dashboard]
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
        *voila_args(),
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
    """Put every domain's demo data in place for each demo user.

    Seeded into the database the user servers share, as each demo user, before anyone
    logs in: a first dashboard or notebook finds them already there. Idempotent.
    """
    import os

    from shiftdesk.catalog.store import ROOT_ENV
    from shiftdesk.hub.config import catalog_folder
    from shiftdesk.identity import Identity
    from shiftdesk.storage import Database

    db = Database(settings.database_url())
    folder = catalog_folder(settings)
    before = os.environ.get(ROOT_ENV)
    os.environ[ROOT_ENV] = str(folder)  # the demo catalog's files go where the gate writes
    try:
        users = settings.auth.demo.users
        for name, user in users.items():
            _seed_demo(db, Identity(name, groups=frozenset(user.groups)))
    finally:
        db.dispose()
        if before is None:
            os.environ.pop(ROOT_ENV, None)
        else:
            os.environ[ROOT_ENV] = before
    if settings.accounts.system and folder.exists():
        import pwd

        from shiftdesk.hub.boundary import hand_over

        # seeded as root: the gate (the service account) writes there from now on
        hand_over(folder, pwd.getpwnam(settings.accounts.service_user))
    return [f"demo data: every dashboard's demo data for {', '.join(users)}"]


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


def _audit(args: argparse.Namespace) -> int:
    from shiftdesk.audit import entries

    found = entries(args.limit, actor=args.actor, action=args.action, outcome=args.outcome)
    for entry in reversed(found):
        print(entry)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``shiftdesk`` console script."""
    parser = argparse.ArgumentParser(prog="shiftdesk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="seed demo data and start a dashboard")
    demo.add_argument(
        "dashboard",
        nargs="?",
        choices=["all", *_dashboards()],
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
    from shiftdesk.domains import all_domains, load

    for domain in all_domains().values():
        if domain.commands:
            load(domain.commands)(
                sub.add_parser(domain.name, help=f"{domain.title or domain.name} tools")
            )
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
