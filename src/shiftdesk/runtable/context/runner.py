"""The context process: check a context file, or execute it for one run.

::

    python -m shiftdesk.runtable.context.runner check CONTEXT_PATH [--variables] [--output OUT.json]
    python -m shiftdesk.runtable.context.runner exec --context PATH --run N --run-path P \\
        --proposal NAME --fragment OUT.h5 --summaries OUT.json \\
        [--variables JSON-list-of-globs] [--params JSON] [--max-bytes N] [--proposal-path P]

``check`` prints (or writes to ``--output``) a JSON list of problems (``line``,
``column``, ``message``, ``severity``); with ``--variables`` a JSON object
``{"problems": [...], "variables": {name: metadata}}``.

``exec`` runs the variables, writes the full results to the HDF5 fragment
(:func:`shiftdesk.runtable.h5store.write_fragment`) and the summaries to the JSON file
``{"variables": {...}, "cells": {name: CellSummary.to_json()}, "error": str | None,
"problems": [...], "fragment": path | None}``. While it runs it appends one JSON line per
event to ``<summaries>.partial`` (``{"event": "variables"|"start"|"cell"|"end", "name":
...}``), so a parent can tell which variable was running when the process died and keep
the cells finished before (and the variables' metadata). Progress ("Computed x in
0.012 s") and tracebacks go to stdout/stderr, which the parent sends to the run's log.

The parent (:mod:`shiftdesk.runtable.context.engine`) starts this through
``ctxsupport/shiftdesk_ctxrunner.py``, which avoids importing ``shiftdesk.runtable``'s
``__init__`` (and with it the rest of the run table) in the context process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, path)


def _check(args: argparse.Namespace) -> int:
    from shiftdesk.runtable.context.contextfile import (
        ContextLoadError,
        check,
        load,
        pyflakes_problems,
    )

    path = Path(args.context)
    variables: dict[str, Any] = {}
    try:
        specs = load(path)
    except ContextLoadError as exc:
        problems = [exc.problem]
        if not exc.problem.message.startswith(("SyntaxError", "IndentationError", "TabError")):
            problems += pyflakes_problems(path)
    else:
        problems = check(specs) + pyflakes_problems(path)
        variables = {name: spec.meta() for name, spec in specs.items()}
    listed = [p.to_json() for p in problems]
    payload: Any = {"problems": listed, "variables": variables} if args.variables else listed
    if args.output:
        _write_json(Path(args.output), payload)
    else:
        sys.stdout.write(json.dumps(payload, indent=1) + "\n")
    return 0


def _exec(args: argparse.Namespace) -> int:
    from shiftdesk.runtable.context.api import Run
    from shiftdesk.runtable.context.contextfile import (
        ContextLoadError,
        check,
        execute,
        load,
        select,
    )
    from shiftdesk.runtable.context.summary import CellSummary

    started = time.perf_counter()
    summaries = Path(args.summaries)
    partial = summaries.with_name(summaries.name + ".partial")
    events = open(partial, "a", encoding="utf-8")  # noqa: SIM115 - closed in finally

    def event(kind: str, name: str, **extra: Any) -> None:
        events.write(json.dumps({"event": kind, "name": name, **extra}) + "\n")
        events.flush()

    def log(line: str) -> None:
        print(line, flush=True)

    payload: dict[str, Any] = {
        "variables": {},
        "cells": {},
        "error": None,
        "problems": [],
        "fragment": None,
    }
    try:
        try:
            specs = load(args.context)
        except ContextLoadError as exc:
            where = f"line {exc.problem.line}: " if exc.problem.line else ""
            payload["error"] = f"the context file cannot be loaded: {where}{exc.problem.message}"
            payload["problems"] = [exc.problem.to_json()]
            _write_json(summaries, payload)
            return 1
        problems = check(specs)
        payload["problems"] = [p.to_json() for p in problems]
        payload["variables"] = {name: spec.meta() for name, spec in specs.items()}
        event("variables", "", variables=payload["variables"])
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            listed = "; ".join((f"line {p.line}: " if p.line else "") + p.message for p in errors)
            payload["error"] = f"the context file has errors, nothing was run: {listed}"
            _write_json(summaries, payload)
            return 1
        try:
            patterns = json.loads(args.variables) if args.variables else None
            params = json.loads(args.params) if args.params else {}
            selected = select(specs, patterns)
        except ValueError as exc:
            payload["error"] = str(exc)
            _write_json(summaries, payload)
            return 1
        run = Run(args.run, Path(args.run_path), args.proposal)
        log(
            f"Processing run {args.run} of {args.proposal} ({len(selected)} variables) "
            f"with {args.context}"
        )
        outcome = execute(
            specs,
            run,
            selected=selected,
            params=params,
            proposal_path=Path(args.proposal_path) if args.proposal_path else None,
            max_bytes=args.max_bytes,
            on_start=lambda name: event("start", name),
            on_cell=lambda name, cell: event("cell", name, cell=cell.to_json()),
            on_end=lambda name: event("end", name),
            log=log,
        )
        if outcome.stored:
            from shiftdesk.runtable.h5store import write_fragment

            failures = write_fragment(args.fragment, outcome.stored)
            for name, message in failures.items():
                seconds = outcome.cells[name].seconds
                outcome.cells[name] = CellSummary.error(message, "TypeError", seconds=seconds)
                log(f"Not stored {name}: {message}")
            payload["fragment"] = str(args.fragment)
        payload["cells"] = {name: cell.to_json() for name, cell in outcome.cells.items()}
        log(f"Done in {time.perf_counter() - started:.3f} s")
        _write_json(summaries, payload)
        return 0
    finally:
        events.close()


def main(argv: list[str] | None = None) -> int:
    """Run the ``check`` or ``exec`` command; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m shiftdesk.runtable.context.runner")
    commands = parser.add_subparsers(dest="command", required=True)
    chk = commands.add_parser("check", help="list the problems of a context file (JSON)")
    chk.add_argument("context")
    chk.add_argument("--variables", action="store_true", help="also give the variables")
    chk.add_argument("--output", help="write the JSON here instead of stdout")
    run = commands.add_parser("exec", help="execute a context file for one run")
    run.add_argument("--context", required=True)
    run.add_argument("--run", type=int, required=True)
    run.add_argument("--run-path", required=True)
    run.add_argument("--proposal", required=True)
    run.add_argument("--fragment", required=True)
    run.add_argument("--summaries", required=True)
    run.add_argument("--variables", help="JSON list of globs (names or titles)")
    run.add_argument("--params", help="JSON object of param# values")
    run.add_argument("--max-bytes", type=int, default=None)
    run.add_argument("--proposal-path", default=None)
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args)
    return _exec(args)


if __name__ == "__main__":
    sys.exit(main())
