"""Remote path rules of the end of run: run folder names, GRAW files, ``~`` handling.

Remote paths are POSIX paths on the DAQ host, never local :class:`pathlib.Path`
objects, so they are handled with :mod:`posixpath`.
"""

from __future__ import annotations

import posixpath

from shiftdesk.daq.remote.errors import InvalidNameError

#: Extension of the files GET's dataRouter writes.
GRAW_SUFFIX = ".graw"


def run_folder_name(run_number: int) -> str:
    """``run_NNNN``: the run number zero-padded to 4 digits (as attpc-daq names them).

    Parameters
    ----------
    run_number : int
        A run number, ``>= 0``.

    Raises
    ------
    InvalidNameError
        When the run number is not a non-negative integer.
    """
    if isinstance(run_number, bool) or not isinstance(run_number, int) or run_number < 0:
        raise InvalidNameError(
            f"run number {run_number!r} is not a non-negative integer; pass the run's number"
        )
    return f"run_{run_number:04d}"


def check_folder_name(name: str, what: str = "experiment name") -> str:
    """Return ``name`` if it can be one folder name on the host, else raise.

    Any character is allowed except ``/`` and NUL (the names never reach a shell
    unquoted), and ``.``/``..``/empty names are refused because they would put files
    outside the intended folder.

    Raises
    ------
    InvalidNameError
        When ``name`` is empty, ``.``, ``..``, or holds ``/`` or NUL.
    """
    if not isinstance(name, str) or name.strip() in ("", ".", "..") or "/" in name or "\0" in name:
        raise InvalidNameError(
            f"{what} {name!r} cannot be used as a folder name: it must be non-empty, not "
            f"'.' or '..', and hold no '/' or NUL character"
        )
    return name


def remote_path(path: str) -> str:
    """``path`` as the SSH account sees it, with a leading ``~`` made relative to home.

    SFTP and commands run over SSH both start in the account's home folder, so
    ``~/x`` becomes ``x``; quoting (which every command does) would otherwise stop the
    shell from expanding ``~``.

    Raises
    ------
    InvalidNameError
        For an empty path, a NUL character, or ``~user`` (another account's home).
    """
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidNameError(f"remote path {path!r} is empty or holds a NUL character")
    if path == "~":
        return "."
    if path.startswith("~/"):
        return path[2:] or "."
    if path.startswith("~"):
        raise InvalidNameError(
            f"remote path {path!r} names another account's home; give an absolute path"
        )
    return path


def is_graw(name: str) -> bool:
    """Whether a file name is a GRAW data file (``*.graw``, any case)."""
    return name.lower().endswith(GRAW_SUFFIX) and not name.startswith(".")


def join(*parts: str) -> str:
    """Join remote path parts (POSIX)."""
    return posixpath.join(*parts)
