"""``shiftdesk datalab ...``: data sessions from a shell.

``shiftdesk datalab cleanup [--older-than DAYS] [--dry-run] [--json]`` removes what your
data sessions no longer use (see :mod:`shiftdesk.datalab.cleanup`): results and stored
frames nothing refers to, half-written copies older than an hour and, with
``--older-than``, results unused for that many days that no session's latest operations
use. ``--dry-run`` lists what would go and the bytes it would free, removing nothing.

A problem is one line on stderr and exit code 1 (a bad argument: argparse's usage line and
exit code 2), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shiftdesk.cli import clear_errors

if TYPE_CHECKING:
    from shiftdesk.datalab.cleanup import Removal


def days(text: str) -> float:
    """``--older-than``'s value: a number of days, 0 or more (argparse calls it)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"takes a number of days, 0 or more (e.g. 30 or 0.5), not {text!r}"
        )
    return value


def _as_dict(r: Removal) -> dict[str, Any]:
    return {
        "kind": r.kind,
        "path": str(r.path),
        "bytes": r.bytes,
        "reason": r.reason,
        "result_id": r.result_id,
    }


def _line(r: Removal, folder: Path) -> str:
    from shiftdesk.datalab.cleanup import size_text

    path = r.path.relative_to(folder) if r.path.is_relative_to(folder) else r.path
    return f"{r.kind:<15} {size_text(r.bytes):>9}  {path}"


@clear_errors
def _cleanup(args: argparse.Namespace) -> int:
    from shiftdesk.datalab import cleanup

    planned = cleanup.plan(older_than=args.older_than)
    folder = planned.folder
    if args.dry_run:
        if args.json:
            items = [_as_dict(r) for r in planned]
            answer = {"dry_run": True, "folder": str(folder), "bytes": planned.bytes}
            print(json.dumps({**answer, "items": items}, indent=1))
            return 0
        if not len(planned):
            print(f"nothing to remove in {folder}")
            return 0
        print(f"would remove from {folder} (dry run: nothing removed):")
        for r in planned:
            print(f"  {_line(r, folder)}  ({r.reason})")
        print(f"would free {cleanup.size_text(planned.bytes)} ({planned.summary()})")
        return 0
    done = cleanup.apply(planned)
    if args.json:
        answer = {"dry_run": False, "folder": str(folder), "bytes": done.bytes}
        items = [_as_dict(r) for r in done.removed]
        kept = [{**_as_dict(r), "why": why} for r, why in done.kept]
        print(json.dumps({**answer, "items": items, "kept": kept}, indent=1))
        return 0
    for r in done.removed:
        print(f"removed  {_line(r, folder)}")
    for r, why in done.kept:
        print(f"kept     {_line(r, folder)}: {why}")
    if done.removed:
        print(f"{len(done.removed)} removed from {folder}: {cleanup.size_text(done.bytes)} freed")
    else:
        print(f"nothing removed from {folder}")
    return 0


def add_commands(parser: argparse.ArgumentParser) -> None:
    """``shiftdesk datalab cleanup``."""
    sub = parser.add_subparsers(dest="datalab_command", required=True)
    p = sub.add_parser(
        "cleanup",
        help="remove results and stored frames your sessions no longer use",
        description="Remove results and stored frames that your data sessions no longer "
        "use, and half-written copies older than an hour; never a file a session or an "
        "operation still refers to, only in your own folder.",
    )
    p.add_argument(
        "--older-than",
        type=days,
        metavar="DAYS",
        help="also remove results unused for DAYS days that no session's latest "
        "operations use (0: whatever their age)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list what would go and the bytes; remove nothing"
    )
    p.add_argument("--json", action="store_true", help="the answer as JSON")
    p.set_defaults(func=_cleanup)
