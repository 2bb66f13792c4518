"""What each job kind runs and how its result is read back.

Kinds name their functions as ``"module:attribute"`` strings so that importing the
job machinery stays cheap and a worker imports only what its job needs. Each domain
declares its kinds in its :class:`~shiftdesk.domains.Domain`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class TaskContext(Protocol):
    """What a running task may use to talk back to the job."""

    def progress(self, fraction: float, message: str = "", **metrics: float) -> None:
        """Report progress in [0, 1], a short message and numbers such as chi2."""

    def log(self, text: str) -> None:
        """Append a line to the job's log."""

    def cancelled(self) -> bool:
        """True once someone asked the job to stop."""


@dataclass(frozen=True)
class TaskKind:
    """A job kind: the task to run and the decoder of its JSON result."""

    name: str
    run: str
    decode: str | None = None
    preload: tuple[str, ...] = ()

    def load_run(self) -> Callable[[dict[str, Any], TaskContext], dict[str, Any]]:
        """Import the task function."""
        return _load(self.run)

    def decode_result(self, result: dict[str, Any]) -> Any:
        """Turn the stored JSON result into the domain object."""
        if self.decode is None:
            return result
        return _load(self.decode)(result)


def _load(ref: str) -> Any:
    from shiftdesk.domains import load  # not at the top: the domains module imports this one

    return load(ref)


_KINDS: dict[str, TaskKind] = {}


def register(kind: TaskKind) -> TaskKind:
    """Make a job kind known in this process (domains declare theirs in their
    :class:`~shiftdesk.domains.Domain`, which every process sees; this is for tests)."""
    _KINDS[kind.name] = kind
    return kind


def known_kinds() -> dict[str, TaskKind]:
    """Every job kind: the domains' and those registered in this process."""
    from shiftdesk.domains import job_kinds

    return {**job_kinds(), **_KINDS}


def get_kind(name: str) -> TaskKind:
    """Look a job kind up."""
    kinds = known_kinds()
    try:
        return kinds[name]
    except KeyError:
        raise KeyError(
            f"unknown job kind {name!r}; known: {', '.join(sorted(kinds))} "
            "(a kind comes with the domain that declares it: is that package installed here?)"
        ) from None


def preload_modules() -> list[str]:
    """Modules a spare worker imports ahead of time."""
    return sorted({m for kind in known_kinds().values() for m in kind.preload})
