"""New run folders: find runs whose data folder exists, and add those the table lacks.

The data template's one ``{run}`` path component becomes a pattern matched against the
entries of its parent folder; components after it must exist too. Polling, not
inotify: data often live on network filesystems where change notices do not arrive.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shiftdesk.runtable.table import RunTable

_FIELD = re.compile(r"\{run(?::([^}]*))?\}")


def _component_pattern(component: str) -> re.Pattern[str]:
    parts: list[str] = []
    last = 0
    for match in _FIELD.finditer(component):
        parts.append(re.escape(component[last : match.start()]))
        parts.append(r"(?P<run>\d+)" if "(?P<run>" not in "".join(parts) else r"(?P=run)")
        last = match.end()
    parts.append(re.escape(component[last:]))
    return re.compile("^" + "".join(parts) + "$")


def runs_on_disk(template: str) -> dict[int, float]:
    """Run numbers whose data path exists, with the path's modification time.

    Raises
    ------
    ValueError
        ``{run}`` appears in more than one path component, or in none.
    """
    path = Path(template)
    components = path.parts
    holding = [i for i, part in enumerate(components) if _FIELD.search(part)]
    if len(holding) != 1:
        raise ValueError(
            f"the data template {template!r} must name {{run}} in exactly one folder or file "
            "name to be watched"
        )
    index = holding[0]
    parent = Path(*components[:index]) if index else Path(".")
    rest = components[index + 1 :]
    pattern = _component_pattern(components[index])
    found: dict[int, float] = {}
    try:
        entries = list(os.scandir(parent))
    except FileNotFoundError:
        return {}
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        number = int(match.group("run"))
        target = Path(entry.path, *rest)
        if template.format(run=number) != str(target):
            continue  # r7 does not match r{run:04d}
        try:
            found[number] = target.stat().st_mtime
        except (FileNotFoundError, NotADirectoryError):
            continue
    return found


def scan(rt: RunTable) -> list[int]:
    """Add the runs whose data folder exists and which the table lacks; returns them."""
    known: set[int] = set(rt.runs())
    added = []
    for number, mtime in sorted(runs_on_disk(rt.data_template).items()):
        if number in known:
            continue
        rt.add_run(number, start_time=datetime.fromtimestamp(mtime, tz=UTC))
        added.append(number)
    return added


def watch(
    rt: RunTable,
    *,
    interval: float = 2.0,
    stop: Callable[[], bool] | None = None,
    report: Callable[[str], None] = print,
) -> None:
    """Scan every ``interval`` seconds until ``stop()`` says so (or Ctrl-C)."""
    report(f"watching {rt.data_template} for new runs of {rt.name!r} every {interval:g} s")
    while not (stop is not None and stop()):
        try:
            added = scan(rt)
        except OSError as exc:  # a network filesystem hiccup: say so, try again
            report(f"could not list the data folder: {exc}")
            added = []
        if added:
            report(f"new runs: {', '.join(map(str, added))}")
        time.sleep(interval)
