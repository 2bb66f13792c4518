"""What the run table brings to the shared machinery (see :mod:`shiftdesk.domains`)."""

from __future__ import annotations

import argparse
import json

from shiftdesk.domains import Domain
from shiftdesk.jobs.tasks import TaskKind


def _open(name: str):  # type: ignore[no-untyped-def]
    from shiftdesk.runtable.table import RunTable

    return RunTable.open(name)


def _runs(text: str) -> list[int]:
    """``"3"``, ``"1,2,5"`` or ``"10-20"`` (and mixes) to run numbers."""
    numbers: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, last = (int(x) for x in part.split("-", 1))
            numbers.update(range(first, last + 1))
        elif part:
            numbers.add(int(part))
    return sorted(numbers)


def _list(_args: argparse.Namespace) -> int:
    from shiftdesk.runtable.table import RunTable

    for name in RunTable.list():
        print(name)
    return 0


def _create(args: argparse.Namespace) -> int:
    from shiftdesk.runtable.table import RunTable

    rt = RunTable.create(
        args.name, data=args.data, context=args.context, title=args.title or "",
        experiment=args.experiment, members=args.members, editors=args.editors,
    )  # fmt: skip
    print(f"created run table {rt.name!r}: data {rt.data_template}, results in {rt.folder}")
    return 0


def _notify(args: argparse.Namespace) -> int:
    rt = _open(args.name)
    for run in _runs(args.runs):
        handle = rt.add_run(run)
        print(f"run {run}: " + ("queued for processing" if handle else "known already"))
    return 0


def _process(args: argparse.Namespace) -> int:
    rt = _open(args.name)
    runs = "all" if args.runs == "all" else _runs(args.runs)
    params = json.loads(args.params) if args.params else None
    handles = rt.process(runs, variables=args.variables, params=params)
    print(f"{len(handles)} runs queued (at most {rt.concurrent_jobs} at once)")
    if args.wait:
        failed = 0
        for handle in handles:
            handle.wait()
            if handle.status != "done":
                failed += 1
                print(f"run {handle.run}: {handle.status}: {handle.message}")
        return 1 if failed else 0
    return 0


def _watch(args: argparse.Namespace) -> int:
    from shiftdesk.runtable.watcher import watch

    try:
        watch(_open(args.name), interval=args.interval)
    except KeyboardInterrupt:
        return 0
    return 0


def _import(args: argparse.Namespace) -> int:
    from shiftdesk.runtable.table import RunTable

    rt = RunTable.import_damnit(args.folder, name=args.name, data=args.data)
    print(f"imported {args.folder} as run table {rt.name!r}: {len(rt)} runs")
    return 0


def _export(args: argparse.Namespace) -> int:
    path = _open(args.name).export(args.path)
    print(f"wrote {path}")
    return 0


def add_commands(parser: argparse.ArgumentParser) -> None:
    """``shiftdesk runtable list|create|notify|process|watch|import-damnit|export``."""
    sub = parser.add_subparsers(dest="runtable_command", required=True)
    sub.add_parser("list", help="the run tables you may open").set_defaults(func=_list)
    create = sub.add_parser("create", help="make a run table")
    create.add_argument("name")
    create.add_argument("--data", required=True, help="run data template, e.g. /raw/r{run:04d}")
    create.add_argument("--context", help="context file (.py)")
    create.add_argument("--title")
    create.add_argument("--experiment", help="DAQ experiment whose runs arrive here")
    create.add_argument("--members", help="comma-separated readers (users, group:NAME, *)")
    create.add_argument("--editors", help="comma-separated editors (users, group:NAME)")
    create.set_defaults(func=_create)
    notify = sub.add_parser("notify", help="say runs exist (idempotent): row, then processing")
    notify.add_argument("name")
    notify.add_argument("runs", help="run numbers: 7, 1,2,5 or 10-20")
    notify.set_defaults(func=_notify)
    process = sub.add_parser("process", help="(re)process runs")
    process.add_argument("name")
    process.add_argument("runs", help="run numbers (7, 1,2,5, 10-20) or all")
    process.add_argument("--variables", nargs="*", help="only these variables (globs)")
    process.add_argument("--params", help="JSON object for param# arguments")
    process.add_argument("--wait", action="store_true", help="wait for every run to finish")
    process.set_defaults(func=_process)
    watch = sub.add_parser("watch", help="add runs whose data folder appears (Ctrl-C stops)")
    watch.add_argument("name")
    watch.add_argument("--interval", type=float, default=2.0, help="seconds between looks")
    watch.set_defaults(func=_watch)
    damnit = sub.add_parser("import-damnit", help="a new run table from a DAMNIT folder")
    damnit.add_argument("folder")
    damnit.add_argument("--name", help="the new table's name (default: the proposal)")
    damnit.add_argument("--data", help="run data template (default: the proposal's raw folder)")
    damnit.set_defaults(func=_import)
    export = sub.add_parser("export", help="write a table to .csv, .xlsx or .md")
    export.add_argument("name")
    export.add_argument("path")
    export.set_defaults(func=_export)


DOMAIN = Domain(
    name="runtable",
    title="run tables: per-run variables from a context file",
    package="shiftdesk.runtable",
    records=("shiftdesk.runtable.records",),
    migrations="shiftdesk.runtable.migrations",
    job_kinds=(
        TaskKind(
            name="runtable.process",
            run="shiftdesk.runtable.processing:process_run",
            preload=("shiftdesk.runtable.processing", "shiftdesk.runtable.context.engine"),
        ),
    ),
    gate_actions=("shiftdesk.runtable.actions",),
    views="shiftdesk_widgets.runtable.view",
    dashboards=("runtable",),
    seed_demo="shiftdesk.runtable.demo:seed_demo",
    commands="shiftdesk.runtable.domain:add_commands",
    listeners=(
        ("daq.run_closed", "shiftdesk.runtable.daq_link:on_run_closed"),
        ("daq.run_updated", "shiftdesk.runtable.daq_link:on_run_updated"),
    ),
)
