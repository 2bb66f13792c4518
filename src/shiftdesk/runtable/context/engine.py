"""Check and run context files, always in a separate process (the parent side).

User code never runs in the caller's process: :func:`validate_context`,
:func:`read_variables` and :func:`run_context` start a child Python
(``ctxsupport/shiftdesk_ctxrunner.py``, see :mod:`.runner`) in its own session (process
group), with the ``ctxsupport`` folder on its path so ``from damnit_ctx import ...``
works, and read what it wrote. A child that runs too long, or is cancelled, is killed
with its whole process group.

Decisions worth knowing:

- A run folder that does not exist is refused before anything runs
  (:attr:`RunOutcome.error` says which folder; no cells).
- A context file with errors (:func:`validate_context`) runs nothing; the error lists them.
- A child that dies (``os._exit``, a crash, the time limit) keeps the *summaries* of the
  cells finished before (they are streamed as they finish) but no full data: the
  fragment is written at the end, so :attr:`RunOutcome.fragment` is None. The error
  names the variable that was running.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from shiftdesk.errors import ShiftdeskError
from shiftdesk.runtable.context.summary import CellSummary

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ContextInvalid",
    "ContextProblem",
    "RunOutcome",
    "VariableMeta",
    "read_variables",
    "run_context",
    "validate_context",
]

#: the largest result stored for one cell unless the caller says otherwise (1 GiB)
DEFAULT_MAX_BYTES = 1 << 30

_HERE = Path(__file__).resolve().parent
CTXSUPPORT = _HERE / "ctxsupport"
_ENTRY = CTXSUPPORT / "shiftdesk_ctxrunner.py"
_SRC_ROOT = _HERE.parents[2]  # the folder holding the shiftdesk package


@dataclass(frozen=True, slots=True)
class ContextProblem:
    """One problem of a context file.

    Attributes
    ----------
    line, column : int or None
        Where (1-based) in the file; None when it concerns the whole file.
    message : str
        What is wrong (and what to do).
    severity : {"error", "warning"}
        Errors make the file unusable (saving and running are refused); warnings
        (pyflakes) do not.
    """

    line: int | None
    column: int | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "context file"
        if self.line and self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class VariableMeta:
    """What the run table knows of a context-file variable (a column).

    Attributes
    ----------
    name, title : str
    description, summary, units : str or None
    tags : tuple of str
    data : {"raw", "proc"}
    cluster, transient : bool
    dependencies : tuple of str
        The variables it reads through ``var#`` (globs expanded).
    """

    name: str
    title: str
    description: str | None = None
    summary: str | None = None
    units: str | None = None
    tags: tuple[str, ...] = ()
    data: str = "raw"
    cluster: bool = False
    transient: bool = False
    dependencies: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VariableMeta:
        """From the context process's JSON."""
        return cls(
            name=str(data["name"]),
            title=str(data.get("title") or data["name"]),
            description=data.get("description"),
            summary=data.get("summary") if isinstance(data.get("summary"), str) else None,
            units=data.get("units"),
            tags=tuple(data.get("tags") or ()),
            data=str(data.get("data") or "raw"),
            cluster=bool(data.get("cluster")),
            transient=bool(data.get("transient")),
            dependencies=tuple(data.get("dependencies") or ()),
        )


class ContextInvalid(ShiftdeskError, ValueError):
    """A context file has errors; ``problems`` lists them (warnings included)."""

    def __init__(self, problems: Iterable[ContextProblem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        lines = "\n".join(f"  {p}" for p in errors)
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        super().__init__(f"the context file has {count}:\n{lines}")


@dataclass(slots=True)
class RunOutcome:
    """What processing one run gave.

    Attributes
    ----------
    variables : dict
        The context file's variables (:class:`VariableMeta`) by name.
    cells : dict
        The table values (:class:`~.summary.CellSummary`) by variable name, errors and
        skips included; transient variables have none.
    error : str or None
        Why the run as a whole failed (context errors, time limit, the process died,
        cancelled, a missing run folder); None when it completed (cells may still be
        errors).
    seconds : float
        Wall time, process start included.
    fragment : Path or None
        The HDF5 fragment with the full results, to merge into the run file
        (:func:`shiftdesk.runtable.h5store.merge_fragment`); None when nothing was
        written.
    """

    variables: dict[str, VariableMeta]
    cells: dict[str, CellSummary]
    error: str | None
    seconds: float
    fragment: Path | None


# -- the child process -----------------------------------------------------------------------


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a context process: ctxsupport and shiftdesk on PYTHONPATH, Agg."""
    env = dict(os.environ)
    paths = [str(CTXSUPPORT)]
    if _SRC_ROOT.name not in ("site-packages", "dist-packages"):
        # a source checkout: another interpreter (python=...) finds this shiftdesk too
        paths.append(str(_SRC_ROOT))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONSTARTUP", None)
    if extra:
        env.update(extra)
    return env


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def _context_file(path_or_text: str | os.PathLike[str]) -> Any:
    """A path to the context (a temporary ``context.py`` for text)."""
    if isinstance(path_or_text, os.PathLike):
        yield Path(path_or_text).absolute()
        return
    text = str(path_or_text)
    if "\n" not in text and text.endswith(".py") and Path(text).is_file():
        yield Path(text).absolute()
        return
    folder = Path(tempfile.mkdtemp(prefix="shiftdesk-context-"))
    try:
        path = folder / "context.py"
        path.write_text(text, encoding="utf-8")
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _died(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def _tail(text: str, lines: int = 12) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept)


# -- checking --------------------------------------------------------------------------------


def _check(
    path_or_text: str | os.PathLike[str], timeout: float, python: str
) -> tuple[list[ContextProblem], dict[str, VariableMeta]]:
    with _context_file(path_or_text) as path, tempfile.TemporaryDirectory() as tmp:
        if not path.is_file():
            return [ContextProblem(None, None, f"no context file at {path}")], {}
        output = Path(tmp) / "check.json"
        command = [python, str(_ENTRY), "check", str(path), "--variables", "--output", str(output)]
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_environment(),
            cwd=str(path.parent),
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return [
                ContextProblem(
                    None,
                    None,
                    f"checking the context file took longer than {timeout:g} s and was "
                    "stopped: does its top level run something long (a loop, a data read)? "
                    "Move that into a Variable",
                )
            ], {}
        finally:
            _kill_group(proc)
        if not output.is_file():
            said = _tail(out.decode("utf-8", "replace"))
            return [
                ContextProblem(
                    None,
                    None,
                    f"the process checking the context file {_died(proc.returncode)} "
                    f"before it finished" + (f"; its output:\n{said}" if said else ""),
                )
            ], {}
        payload = json.loads(output.read_text(encoding="utf-8"))
    problems = [
        ContextProblem(p.get("line"), p.get("column"), p["message"], p.get("severity", "error"))
        for p in payload["problems"]
    ]
    variables = {name: VariableMeta.from_json(meta) for name, meta in payload["variables"].items()}
    return problems, variables


def validate_context(
    path_or_text: str | os.PathLike[str], *, timeout: float = 30, python: str = sys.executable
) -> list[ContextProblem]:
    """The problems of a context file, found in a separate process.

    Parameters
    ----------
    path_or_text : path or str
        A ``pathlib.Path`` (or a ``str`` naming an existing ``.py`` file) is read from
        disk; any other string is the context file's text.
    timeout : float
        Seconds the check may take (a context whose top level hangs is killed then, and
        that is an error problem).
    python : str
        The interpreter that runs the context.

    Returns
    -------
    list of ContextProblem
        Empty when the file is fine: errors (syntax, import errors, cycles, missing
        ``var#`` targets, duplicate titles, bad decorator arguments), then pyflakes
        warnings, each with its line.
    """
    return _check(path_or_text, timeout, python)[0]


def read_variables(
    path_or_text: str | os.PathLike[str], *, timeout: float = 30, python: str = sys.executable
) -> dict[str, VariableMeta]:
    """The variables of a context file (name → :class:`VariableMeta`), read in a separate process.

    Raises
    ------
    ContextInvalid
        The file has errors (the message lists them with their lines).
    """
    problems, variables = _check(path_or_text, timeout, python)
    if any(p.severity == "error" for p in problems):
        raise ContextInvalid(problems)
    return variables


# -- running ---------------------------------------------------------------------------------


class _Log:
    """Where the child's output goes: a file, a callable, or only a short tail in memory."""

    def __init__(self, log: str | os.PathLike[str] | Callable[[str], Any] | None) -> None:
        self.tail: deque[str] = deque(maxlen=40)
        self.path: Path | None = None
        self.callback: Callable[[str], Any] | None = None
        self.handle: IO[bytes] | None = None
        self.thread: threading.Thread | None = None
        if callable(log):
            self.callback = log
        elif log is not None:
            self.path = Path(log)
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def stdout(self) -> Any:
        if self.path is not None:
            self.handle = open(self.path, "ab")  # noqa: SIM115 - closed in close()
            return self.handle
        return subprocess.PIPE

    def follow(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.stdout is None:
            return

        def pump(stream: IO[bytes]) -> None:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.tail.append(line)
                if self.callback is not None:
                    with contextlib.suppress(Exception):
                        self.callback(line)

        self.thread = threading.Thread(target=pump, args=(proc.stdout,), daemon=True)
        self.thread.start()

    def close(self) -> str:
        if self.thread is not None:
            self.thread.join(timeout=5)
        if self.handle is not None:
            self.handle.close()
        if self.path is not None and self.path.is_file():
            with open(self.path, "rb") as handle:
                handle.seek(max(0, self.path.stat().st_size - 4000))
                return _tail(handle.read().decode("utf-8", "replace"))
        return _tail("\n".join(self.tail))


def _read_partial(
    path: Path,
) -> tuple[dict[str, CellSummary], str | None, dict[str, VariableMeta]]:
    """Cells streamed before the child stopped, the variable it was computing, the variables."""
    cells: dict[str, CellSummary] = {}
    running: str | None = None
    metas: dict[str, VariableMeta] = {}
    if not path.is_file():
        return cells, None, metas
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the kill
        if item.get("event") == "start":
            running = item["name"]
        elif item.get("event") == "end":
            running = None
        elif item.get("event") == "cell":
            cells[item["name"]] = CellSummary.from_json(item["cell"])
        elif item.get("event") == "variables":
            metas = {n: VariableMeta.from_json(m) for n, m in item["variables"].items()}
    return cells, running, metas


def run_context(
    context: str | os.PathLike[str],
    *,
    run: int,
    run_path: str | os.PathLike[str],
    proposal: str,
    fragment: str | os.PathLike[str],
    variables: Iterable[str] | None = None,
    params: Mapping[str, Any] | None = None,
    timeout: float = 600,
    log: str | os.PathLike[str] | Callable[[str], Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    python: str = sys.executable,
    cancelled: Callable[[], bool] | None = None,
    proposal_path: str | os.PathLike[str] | None = None,
) -> RunOutcome:
    """Execute a context file for one run in a separate process.

    Parameters
    ----------
    context : path or str
        The context file (a path, or its text; see :func:`validate_context`).
    run : int
        The run number (``run.number``, ``meta#run_number``).
    run_path : path
        The run's folder from the table's ``data`` template (``run.path``); it must exist.
    proposal : str
        The run table's name (``run.proposal``, ``meta#proposal``).
    fragment : path
        Where the full results go (an HDF5 fragment; see :mod:`shiftdesk.runtable.h5store`).
    variables : iterable of str, optional
        Globs of variable names or titles to compute (their dependencies come along);
        default all.
    params : mapping, optional
        Values of ``param#`` arguments (JSON-serialisable).
    timeout : float
        Time limit in seconds for the whole run; the process group is killed then.
    log : path or callable, optional
        The run's log: a file (appended to) or a callable given each line.
    max_bytes : int
        Largest result stored for one cell; a bigger one makes that cell an error.
    python : str
        The interpreter that runs the context.
    cancelled : callable, optional
        Polled while the run goes on; returning True kills it.
    proposal_path : path, optional
        The value of ``meta#proposal_path``.

    Returns
    -------
    RunOutcome
        Never raises for a problem of the context or its run: ``error`` says it.
    """
    started = time.monotonic()
    fragment = Path(fragment).absolute()

    def outcome(
        error: str | None,
        cells: dict[str, CellSummary] | None = None,
        metas: dict[str, VariableMeta] | None = None,
        written: Path | None = None,
    ) -> RunOutcome:
        return RunOutcome(
            variables=metas or {},
            cells=cells or {},
            error=error,
            seconds=time.monotonic() - started,
            fragment=written,
        )

    folder = Path(run_path).absolute()
    if not folder.exists():
        return outcome(
            f"the run folder {folder} does not exist (run {run} of {proposal}, from the "
            "table's data template): nothing was computed; check the template or wait "
            "until the run's data is there, then process it again"
        )
    try:
        params_json = json.dumps(dict(params or {}))
    except (TypeError, ValueError) as exc:
        return outcome(f"params must be JSON values (numbers, strings, lists, dicts): {exc}")
    fragment.parent.mkdir(parents=True, exist_ok=True)
    fragment.unlink(missing_ok=True)
    sink = _Log(log)
    with _context_file(context) as path, tempfile.TemporaryDirectory() as tmp:
        if not path.is_file():
            return outcome(f"no context file at {path}")
        summaries = Path(tmp) / "summaries.json"
        partial = Path(tmp) / "summaries.json.partial"
        command = [
            python,
            str(_ENTRY),
            "exec",
            "--context",
            str(path),
            "--run",
            str(int(run)),
            "--run-path",
            str(folder),
            "--proposal",
            str(proposal),
            "--fragment",
            str(fragment),
            "--summaries",
            str(summaries),
            "--params",
            params_json,
            "--max-bytes",
            str(int(max_bytes)),
        ]
        if variables is not None:
            command += ["--variables", json.dumps(list(variables))]
        if proposal_path is not None:
            command += ["--proposal-path", str(proposal_path)]
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=sink.stdout(),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_environment(),
            cwd=str(folder if folder.is_dir() else folder.parent),
        )
        sink.follow(proc)
        stopped: str | None = None
        pause = 0.002
        try:
            while proc.poll() is None:
                if time.monotonic() - started > timeout:
                    stopped = "timeout"
                    break
                if cancelled is not None and cancelled():
                    stopped = "cancelled"
                    break
                time.sleep(pause)
                pause = min(pause * 1.5, 0.05)
        finally:
            _kill_group(proc)  # also whatever the context left running
            proc.wait()
        said = sink.close()
        if proc.stdout is not None:
            proc.stdout.close()

        if stopped is None and summaries.is_file():
            payload = json.loads(summaries.read_text(encoding="utf-8"))
            metas = {n: VariableMeta.from_json(m) for n, m in payload["variables"].items()}
            cells = {n: CellSummary.from_json(c) for n, c in payload["cells"].items()}
            written = Path(payload["fragment"]) if payload.get("fragment") else None
            return outcome(payload.get("error"), cells, metas, written)

        cells, running, metas = _read_partial(partial)
        during = f" while computing {running!r}" if running else ""
        kept = (
            f"the {len(cells)} cell{'s' if len(cells) != 1 else ''} finished before "
            f"({', '.join(cells)}) keep their table values, but no full data was saved "
            "(it is written at the end)"
            if cells
            else "no cell was finished"
        )
        fragment.unlink(missing_ok=True)
        fragment.with_name(fragment.name + ".writing.h5").unlink(missing_ok=True)
        if stopped == "timeout":
            error = (
                f"the time limit of {timeout:g} s was reached{during}; the run's processing "
                f"was stopped. {kept[0].upper()}{kept[1:]}. If the run needs longer, raise "
                "the limit (run_context(timeout=...), or the run table's time limit)"
            )
        elif stopped == "cancelled":
            error = f"cancelled{during}; {kept}"
        else:
            error = (
                f"the context process {_died(proc.returncode)}{during} (os._exit, a crash, or "
                f"out of memory?); {kept}" + (f". Its last output:\n{said}" if said else "")
            )
        return outcome(error, cells, metas, None)
