"""Finding GET processes (``dataRouter``, ``getEccSoapServer``) from ``ps`` output.

The host runs one command that prints the process table twice (``comm`` then
``args``), and the matching happens here, in Python, where it is tested. A process
matches a name when its command name or the base name of its ``argv[0]`` is that name;
Linux truncates command names to 15 characters (``getEccSoapServe``), so a command
name equal to the first 15 characters matches too.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable

#: Process names of the GET software.
DATA_ROUTER = "dataRouter"
ECC_SERVER = "getEccSoapServer"

#: Linux keeps this many characters of a command name (TASK_COMM_LEN - 1).
_COMM_LEN = 15
_MARK = "--shiftdesk-args--"

#: Prints ``pid comm`` lines, a marker, then ``pid args`` lines (POSIX ``ps``; also macOS).
PS_COMMAND = f"ps -A -o pid= -o comm=; echo {_MARK}; ps -A -o pid= -o args="


def _split(line: str) -> tuple[int, str] | None:
    parts = line.strip().split(None, 1)
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1]


def _matches(name: str, comm: str, argv0: str) -> bool:
    comm_base = posixpath.basename(comm)
    if comm_base == name or (len(comm) == _COMM_LEN and name.startswith(comm)):
        return True
    return posixpath.basename(argv0) == name


def parse_ps(output: str, names: Iterable[str]) -> dict[str, list[int]]:
    """Pids of the processes called each of ``names`` in :data:`PS_COMMAND` output.

    Parameters
    ----------
    output : str
        What :data:`PS_COMMAND` printed.
    names : iterable of str
        Process names to look for.

    Returns
    -------
    dict
        ``{name: [pid, ...]}`` with every name present (an empty list when none runs).
    """
    comms: dict[int, str] = {}
    args: dict[int, str] = {}
    target = comms
    for line in output.splitlines():
        if line.strip() == _MARK:
            target = args
            continue
        parsed = _split(line)
        if parsed is not None:
            target[parsed[0]] = parsed[1]
    found: dict[str, list[int]] = {name: [] for name in names}
    for pid in sorted(set(comms) | set(args)):
        comm = comms.get(pid, "")
        arg_line = args.get(pid, "")
        argv0 = arg_line.split(None, 1)[0] if arg_line.strip() else ""
        for name in found:
            if _matches(name, comm, argv0):
                found[name].append(pid)
    return found


def cwd_command(pids: Iterable[int]) -> str:
    """A shell command printing ``pid<TAB>working folder`` for each pid.

    It reads ``/proc/<pid>/cwd`` where there is a ``/proc`` (Linux) and asks ``lsof``
    otherwise (macOS); a pid whose folder cannot be read (another account's process, or
    one that exited) prints an empty folder.
    """
    quoted = " ".join(shlex.quote(str(int(pid))) for pid in pids)
    return (
        f"for p in {quoted}; do "
        'if [ -d "/proc/$p" ]; then c=$(readlink "/proc/$p/cwd" 2>/dev/null) || c=""; '
        # only without /proc: lsof would report an unreadable link as a "name" here
        "elif command -v lsof >/dev/null 2>&1; then "
        'c=$(lsof -a -p "$p" -d cwd -Fn 2>/dev/null | sed -n "s/^n//p" | head -n 1); '
        'else c=""; fi; '
        'printf \'%s\\t%s\\n\' "$p" "$c"; done'
    )


def parse_cwd(output: str) -> dict[int, str | None]:
    """``{pid: folder}`` from :func:`cwd_command` output (``None`` when unreadable)."""
    result: dict[int, str | None] = {}
    for line in output.splitlines():
        pid, _, folder = line.partition("\t")
        if pid.strip().isdigit():
            # anything but an absolute path is an error text, not a folder
            result[int(pid)] = folder if folder.startswith("/") else None
    return result
