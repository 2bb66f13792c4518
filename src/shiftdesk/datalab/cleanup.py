"""Removing what data sessions no longer use: results and stored frames nothing refers to,
results unused for a while, half-written copies.

::

    from shiftdesk.datalab import cleanup
    plan = cleanup.plan()              # what would go, nothing removed: print(plan)
    plan.bytes                         # bytes it would free
    done = cleanup.apply(plan)         # removes what is still unused now
    cleanup.plan(older_than=30)        # also results unused for 30 days that no
                                       # session's latest operations use

Or from a shell: ``shiftdesk datalab cleanup [--older-than DAYS] [--dry-run]``.

Only the caller's own folder (``<data>/datalab/<user>``) and their own stored results are
looked at. What goes:

``orphaned result``
    A stored result (its row and its folder) that no operation refers to (by its result,
    its folder, or a file of it used as an input): its sessions were deleted. An identical
    request computes it again.
``orphaned folder``
    A results folder without a stored result whose operation is not running: what a
    failed, cancelled or dropped run left, or the folder of a deleted session's run.
``orphaned frame``
    A stored frame that no session's input and no operation refers to (its sessions were
    deleted, or it was taken out of them).
``temporary file``
    A half-written copy (``.<name>.<pid>.tmp``) of a kernel that stopped while copying.
``old result`` (only with ``older_than``)
    A stored result unused for that many days (neither made nor served since) that is
    not used by a session's latest operations: for each session and operation, the
    newest one that is done, and every operation whose result or outputs those used,
    back along the chain (queued and running operations, and what they use, are kept
    too). Operations that used it keep their row; their result reads as deleted.

A file is never removed while a session's input or an operation refers to it, and files
(or folders without a stored result) younger than :data:`MIN_AGE_S` are left alone,
being written or added. :func:`apply` checks each item again as it removes it: a stored
result is locked, its users counted again and then deleted in one transaction (a request
served it at that moment either keeps it or, if it came second, runs again); a frame is
set aside under a temporary name, its users counted again, and put back if one appeared.

References are those the caller can read: on SQLite every user's rows, on a hub's
PostgreSQL their own and those of sessions shared with them. Another user's operation
that was served one of your results keeps it only where it can be seen; a result is its
owner's to keep or remove.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from shiftdesk.datalab import cache
from shiftdesk.datalab.records import OperationRecord, ResultRecord, SessionInputRecord
from shiftdesk.display import Markup, escape, html_repr, table
from shiftdesk.errors import PermissionDenied
from shiftdesk.identity import Identity, current_identity
from shiftdesk.storage import Database, get_database
from shiftdesk.tracking import ACTIVE, as_utc, utcnow

__all__ = [
    "MIN_AGE_S",
    "CleanupPlan",
    "CleanupReport",
    "Removal",
    "apply",
    "plan",
]

#: seconds: younger files, and results folders without a stored result whose newest file
#: is younger, are never removed (a frame being added, a run being written, a copy
#: being made); half-written copies go once they are older
MIN_AGE_S = 3600.0

ORPHANED_RESULT = "orphaned result"
OLD_RESULT = "old result"
ORPHANED_FOLDER = "orphaned folder"
ORPHANED_FRAME = "orphaned frame"
TEMPORARY = "temporary file"
#: every kind of removal, in the order a plan lists them
KINDS = (ORPHANED_RESULT, OLD_RESULT, ORPHANED_FOLDER, ORPHANED_FRAME, TEMPORARY)


# -- what a plan holds --------------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    """One thing a cleanup removes.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS` (``"orphaned result"``, ``"old result"``, ...).
    path : Path
        The file or folder.
    bytes : int
        Its size (a folder: its files').
    reason : str
        Why it goes, for a person.
    result_id : int or None
        The stored result removed with it (results only).
    """

    kind: str
    path: Path
    bytes: int
    reason: str
    result_id: int | None = None

    @property
    def _ident(self) -> tuple[str, int | None]:
        return str(self.path), self.result_id

    def __str__(self) -> str:
        return f"{self.kind:<15} {size_text(self.bytes):>9}  {self.path}  ({self.reason})"


@dataclass(frozen=True)
class CleanupPlan:
    """What a cleanup would remove (made by :func:`plan`; nothing is removed yet).

    Attributes
    ----------
    owner : str
        Whose folder and results.
    folder : Path
        Their data-session folder.
    removals : tuple of Removal
        What would go, by kind then path.
    older_than : float or None
        Days: old results were asked for too.
    min_age : float
        Seconds: younger files were left alone.
    made_at : datetime
    """

    owner: str
    folder: Path
    removals: tuple[Removal, ...]
    older_than: float | None = None
    min_age: float = MIN_AGE_S
    made_at: datetime = field(default_factory=utcnow)

    @property
    def bytes(self) -> int:
        """Bytes the removals would free."""
        return sum(r.bytes for r in self.removals)

    def __len__(self) -> int:
        return len(self.removals)

    def __iter__(self) -> Iterator[Removal]:
        return iter(self.removals)

    def by_kind(self) -> dict[str, list[Removal]]:
        """The removals grouped by kind (kinds with none left out)."""
        out: dict[str, list[Removal]] = {}
        for r in self.removals:
            out.setdefault(r.kind, []).append(r)
        return out

    def summary(self) -> str:
        """One line: how many items of each kind, and the bytes."""
        if not self.removals:
            return "nothing to remove"
        kinds = ", ".join(
            f"{len(v)} {k}{'s' if len(v) > 1 else ''}" for k, v in self.by_kind().items()
        )
        return f"{kinds}: {size_text(self.bytes)}"

    def __str__(self) -> str:
        lines = [f"cleanup of {self.folder} ({self.owner}): {self.summary()}"]
        lines += [f"  {r}" for r in self.removals]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<CleanupPlan of {self.owner}: {self.summary()}>"

    def _repr_html_(self) -> str:
        rows = [
            (r.kind, size_text(r.bytes), _relative(r.path, self.folder), r.reason) for r in self
        ]
        body = Markup(
            f"<div>{escape(str(self.folder))}</div>" + table(rows, ["kind", "size", "path", "why"])
        )
        return html_repr("CleanupPlan", self.owner, repr(self), body)


@dataclass(frozen=True)
class CleanupReport:
    """What :func:`apply` did.

    Attributes
    ----------
    removed : tuple of Removal
        What was removed.
    kept : tuple of (Removal, str)
        What the plan named but was left, and why (used again, gone, an error).
    """

    owner: str
    folder: Path
    removed: tuple[Removal, ...]
    kept: tuple[tuple[Removal, str], ...] = ()

    @property
    def bytes(self) -> int:
        """Bytes freed."""
        return sum(r.bytes for r in self.removed)

    def __str__(self) -> str:
        freed = size_text(self.bytes)
        lines = [f"removed {len(self.removed)} items from {self.folder}: {freed} freed"]
        lines += [f"  {r}" for r in self.removed]
        lines += [f"  kept {r.path}: {why}" for r, why in self.kept]
        return "\n".join(lines)

    def __repr__(self) -> str:
        kept = f", {len(self.kept)} kept" if self.kept else ""
        return (
            f"<CleanupReport of {self.owner}: {len(self.removed)} removed, "
            f"{size_text(self.bytes)} freed{kept}>"
        )


# -- making a plan -------------------------------------------------------------------------------


def plan(
    *,
    older_than: float | None = None,
    min_age: float = MIN_AGE_S,
    database: Database | None = None,
    identity: Identity | None = None,
) -> CleanupPlan:
    """What a cleanup of the caller's folder would remove (nothing is removed).

    Parameters
    ----------
    older_than : float, optional
        Days. Also remove stored results unused for that long that no session's latest
        operations use (see the module's description). ``0`` takes every such result
        whatever its age.
    min_age : float
        Seconds (default an hour): files younger than this are left alone (half-written
        copies go once older).

    Raises
    ------
    ValueError
        ``older_than`` or ``min_age`` is not a number of 0 or more.
    """
    return _plan(
        _days(older_than),
        _seconds(min_age),
        database or get_database(),
        identity or current_identity(),
    )


def _plan(older_than: float | None, min_age: float, db: Database, who: Identity) -> CleanupPlan:
    root = cache.owner_folder(who.name)
    now = utcnow()
    with db.session() as s:
        ops = _ops(s)
        inputs = _input_paths(s, select(SessionInputRecord.path))
        results = list(
            s.execute(
                select(ResultRecord.id, ResultRecord.folder, ResultRecord.created_at).where(
                    ResultRecord.owner == who.name
                )
            ).all()
        )
    refs = _References(ops)
    removals: list[Removal] = []
    recorded: set[str] = set()
    for rid, folder, created_at in results:
        path = Path(folder)
        real = _real(path)
        recorded.add(real)
        if not _inside(real, root):
            continue  # not in the caller's folder (the data folder moved?): left alone
        verdict = _verdict(rid, real, as_utc(created_at), refs, now, older_than)
        if verdict is not None:
            kind, reason = verdict
            removals.append(Removal(kind, path, _tree_bytes(path), reason, rid))
    removals += _scan_results(root, recorded, refs, min_age)
    removals += _scan_store(root, inputs | refs.files, min_age)
    removals.sort(key=lambda r: (KINDS.index(r.kind), str(r.path)))
    return CleanupPlan(who.name, root, tuple(removals), older_than, min_age, now)


def _days(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"older_than is a number of days (0 or more), e.g. 30; not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"older_than is a number of days, 0 or more (e.g. 30); not {value!r}")
    return float(value)


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"min_age is a number of seconds (0 or more); not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"min_age is a number of seconds, 0 or more; not {value!r}")
    return float(value)


# -- who refers to what ----------------------------------------------------------------------


@dataclass
class _Op:
    """What a cleanup reads of an operation row."""

    id: int
    session_id: int
    owner: str
    operation: str
    status: str
    result_id: int | None
    folder: str | None  # realpath
    files: list[str]  # realpaths of its input files
    made_by: list[int]  # operations of its session whose outputs it used
    upstream: list[int]
    created_at: datetime | None


def _ops(s: Session, *where: Any) -> list[_Op]:
    """The operations the caller may read (those matching ``where``)."""
    rows = s.execute(
        select(
            OperationRecord.id,
            OperationRecord.session_id,
            OperationRecord.owner,
            OperationRecord.operation,
            OperationRecord.status,
            OperationRecord.result_id,
            OperationRecord.folder,
            OperationRecord.files_json,
            OperationRecord.inputs_json,
            OperationRecord.created_at,
        ).where(*where)
    ).all()
    out = []
    for r in rows:
        files = _json(r.files_json, [])
        meta = _json(r.inputs_json, {})
        out.append(
            _Op(
                id=r.id,
                session_id=r.session_id,
                owner=r.owner,
                operation=r.operation,
                status=r.status,
                result_id=r.result_id,
                folder=_real(r.folder) if r.folder else None,
                files=[_real(f["path"]) for f in files if isinstance(f, dict) and f.get("path")],
                made_by=[
                    int(f["made_by"])
                    for f in files
                    if isinstance(f, dict) and isinstance(f.get("made_by"), int)
                ],
                upstream=[int(u) for u in (meta.get("upstream") or []) if isinstance(u, int)]
                if isinstance(meta, dict)
                else [],
                created_at=as_utc(r.created_at),
            )
        )
    return out


class _References:
    """Which operations refer to which stored results, results folders and files."""

    def __init__(self, ops: Sequence[_Op]) -> None:
        self.ops = list(ops)
        self.by_result: dict[int, list[_Op]] = defaultdict(list)
        #: results folder -> operations running into it now (queued, running; joined
        #: ones too) or whose stored result it holds (done)
        self.by_folder: dict[str, list[_Op]] = defaultdict(list)
        #: results folder -> operations that used a file of it as an input
        self.by_input: dict[str, list[_Op]] = defaultdict(list)
        self.files: set[str] = set()
        self.running: set[int] = set()
        for op in self.ops:
            if op.status in ACTIVE:
                self.running.add(op.id)
            if op.result_id is not None:
                self.by_result[op.result_id].append(op)
            if op.folder and (op.status in ACTIVE or op.status == "done"):
                self.by_folder[op.folder].append(op)
            for f in op.files:
                self.files.add(f)
                folder = _result_folder_of(f)
                if folder is not None:
                    self.by_input[folder].append(op)
        self.protected = _protected(self.ops)

    def users(self, result_id: int | None, folder: str) -> list[_Op]:
        """The operations that refer to a stored result or its folder (each once)."""
        found = {o.id: o for o in (*self.by_folder.get(folder, ()), *self.by_input.get(folder, ()))}
        if result_id is not None:
            found.update((o.id, o) for o in self.by_result.get(result_id, ()))
        return list(found.values())

    def folder_in_use(self, folder: str, op_id: int) -> bool:
        """Whether a results folder without a stored result is still needed: the run that
        writes it (operation ``op_id``, or one that joined it) is going on, or an
        operation used one of its files. A done operation whose row names it does not
        count: its stored result is gone (its row reads so)."""
        if op_id in self.running or self.by_input.get(folder):
            return True
        return any(o.status in ACTIVE for o in self.by_folder.get(folder, ()))


def _protected(ops: Iterable[_Op]) -> set[int]:
    """Ids of each session's latest operations (per operation, the newest done one), the
    queued and running ones, and everything they used, back along the chain."""
    latest: dict[tuple[int, str], int] = {}
    keep: set[int] = set()
    by_id: dict[int, _Op] = {}
    for op in ops:
        by_id[op.id] = op
        if op.status == "done":
            at = (op.session_id, op.operation)
            latest[at] = max(latest.get(at, op.id), op.id)
        elif op.status in ACTIVE:
            keep.add(op.id)
    keep |= set(latest.values())
    stack = list(keep)
    while stack:
        found = by_id.get(stack.pop())
        if found is None:
            continue
        for used in (*found.upstream, *found.made_by):
            if used not in keep:
                keep.add(used)
                stack.append(used)
    return keep


def _verdict(
    result_id: int | None,
    folder: str,
    created_at: datetime | None,
    refs: _References,
    now: datetime,
    older_than: float | None,
) -> tuple[str, str] | None:
    """(kind, reason) when a stored result goes; None when it stays."""
    users = refs.users(result_id, folder)
    if not users:
        return ORPHANED_RESULT, "no operation refers to it (its sessions were deleted)"
    if older_than is None or any(u.id in refs.protected for u in users):
        return None
    times = [t for t in (created_at, *(u.created_at for u in users)) if t is not None]
    last = max(times) if times else None
    if last is not None and now - last < timedelta(days=older_than):
        return None
    age = "" if last is None else f" for {(now - last).total_seconds() / 86400:.0f} days"
    return OLD_RESULT, (
        f"unused{age}, and no session's latest operations use it ({len(users)} older "
        f"operation{'s' if len(users) > 1 else ''} refer to it)"
    )


def _input_paths(s: Session, query: Any) -> set[str]:
    return {_real(p) for p in s.scalars(query) if p}


# -- the folders -----------------------------------------------------------------------------------


def _scan_results(
    root: Path, recorded: set[str], refs: _References, min_age: float
) -> list[Removal]:
    """Results folders without a stored result whose run is over, and old copies."""
    out: list[Removal] = []
    base = root / "results"
    for shard in _entries(base):
        if not shard.is_dir(follow_symlinks=False):
            out += _temporary(Path(shard.path), min_age)
            continue
        for entry in _entries(Path(shard.path)):
            path = Path(entry.path)
            if not entry.is_dir(follow_symlinks=False):
                out += _temporary(path, min_age)
                continue
            real = _real(path)
            if real in recorded:
                continue  # a stored result's: decided with it
            named = cache.result_operation_id(path)
            if named is None:
                continue  # not a folder this module made: left alone
            if refs.folder_in_use(real, named[1]) or _newest(path) > time.time() - min_age:
                continue
            out.append(
                Removal(
                    ORPHANED_FOLDER,
                    path,
                    _tree_bytes(path),
                    "no stored result and no running operation: a failed, cancelled or "
                    "dropped run, or one of a deleted session",
                )
            )
    return out


def _scan_store(root: Path, referenced: set[str], min_age: float) -> list[Removal]:
    """Stored frames nothing refers to, and half-written copies."""
    out: list[Removal] = []
    for shard in _entries(root / "store"):
        if not shard.is_dir(follow_symlinks=False):
            out += _temporary(Path(shard.path), min_age)
            continue
        for content in _entries(Path(shard.path)):
            if not content.is_dir(follow_symlinks=False):
                out += _temporary(Path(content.path), min_age)
                continue
            for entry in _entries(Path(content.path)):
                path = Path(entry.path)
                if not entry.is_file(follow_symlinks=False):
                    continue  # a folder or a link: not something the store writes
                if cache.is_temporary(path):
                    out += _temporary(path, min_age)
                    continue
                stat = entry.stat(follow_symlinks=False)
                if _real(path) in referenced or stat.st_mtime > time.time() - min_age:
                    continue
                out.append(
                    Removal(
                        ORPHANED_FRAME,
                        path,
                        stat.st_size,
                        "no session's input and no operation refers to it",
                    )
                )
    return out


def _temporary(path: Path, min_age: float) -> list[Removal]:
    """``path`` as a removal when it is a half-written copy old enough."""
    if not cache.is_temporary(path) or path.is_symlink() or not path.is_file():
        return []
    stat = path.stat()
    if stat.st_mtime > time.time() - min_age:
        return []
    hours = (time.time() - stat.st_mtime) / 3600
    return [Removal(TEMPORARY, path, stat.st_size, f"a half-written copy, {hours:.0f} h old")]


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


# -- removing --------------------------------------------------------------------------------------


def apply(
    plan: CleanupPlan,
    *,
    database: Database | None = None,
    identity: Identity | None = None,
) -> CleanupReport:
    """Remove what ``plan`` names and is still unused now.

    Each item is checked again first (the plan may be old): what is used again, or
    gone, is left and reported in :attr:`CleanupReport.kept`.

    Raises
    ------
    PermissionDenied
        The plan is another user's.
    """
    db = database or get_database()
    who = identity or current_identity()
    if plan.owner != who.name:
        raise PermissionDenied(
            f"this cleanup plan is of {plan.owner!r}'s folder; {who.name!r} cleans only "
            "their own (cleanup.plan() makes yours)"
        )
    fresh = {r._ident: r for r in _plan(plan.older_than, plan.min_age, db, who)}
    removed: list[Removal] = []
    kept: list[tuple[Removal, str]] = []
    for item in plan.removals:
        now_item = fresh.get(item._ident)
        if now_item is None:
            kept.append((item, "used again, or gone, since the plan was made"))
            continue
        try:
            why = _remove(now_item, plan, db, who)
        except OSError as exc:
            why = f"could not remove it: {exc}"
        if why:
            kept.append((item, why))
        else:
            removed.append(now_item)
    return CleanupReport(who.name, plan.folder, tuple(removed), tuple(kept))


def _remove(item: Removal, plan: CleanupPlan, db: Database, who: Identity) -> str:
    """Remove one item after checking it again; "" when removed, else why it stays."""
    root = plan.folder
    if not _inside(_real(item.path), root):
        return "outside the caller's folder"
    if item.kind in (ORPHANED_RESULT, OLD_RESULT):
        assert item.result_id is not None
        why = _delete_result(item.result_id, db, who, plan)
        if why:
            return why
        _rmtree(item.path)
        return ""
    if item.kind == ORPHANED_FOLDER:
        named = cache.result_operation_id(item.path)
        assert named is not None
        with db.session() as s:
            ops = _ops(s, _refers_to_folder(item.path, named[1]))
            recorded = s.scalar(
                select(ResultRecord.id).where(
                    ResultRecord.owner == who.name, ResultRecord.folder == str(item.path)
                )
            )
        if recorded is not None or _References(ops).folder_in_use(_real(item.path), named[1]):
            return "in use again"
        _rmtree(item.path)
        return ""
    if item.kind == ORPHANED_FRAME:
        return _remove_frame(item.path, db)
    if item.kind == TEMPORARY:
        if not _temporary(item.path, plan.min_age):
            return "no longer an old half-written copy"
        item.path.unlink(missing_ok=True)
        return ""
    return f"unknown kind {item.kind!r}"


def _delete_result(result_id: int, db: Database, who: Identity, plan: CleanupPlan) -> str:
    """Delete a stored result's row if it still goes, in one transaction that holds it:
    an operation that refers to it meanwhile either committed first (it is counted and
    the result stays) or waits and is refused (its request looks again and runs)."""
    with db.session() as s:
        if s.get_bind().dialect.name == "sqlite":
            # take SQLite's writer lock before reading: nothing commits in between
            s.execute(
                update(ResultRecord)
                .where(ResultRecord.id == result_id)
                .values(id=ResultRecord.id)
                .execution_options(synchronize_session=False)
            )
        row = s.scalar(select(ResultRecord).where(ResultRecord.id == result_id).with_for_update())
        if row is None or row.owner != who.name:
            return "gone"
        real = _real(row.folder)
        named = cache.result_operation_id(row.folder)
        ops = _ops(
            s,
            or_(
                OperationRecord.result_id == result_id,
                _refers_to_folder(Path(row.folder), named[1] if named else None),
            ),
        )
        sessions = {o.session_id for o in ops}
        if sessions and plan.older_than is not None:
            seen = {o.id for o in ops}
            ops += [
                o for o in _ops(s, OperationRecord.session_id.in_(sessions)) if o.id not in seen
            ]
        verdict = _verdict(
            result_id, real, as_utc(row.created_at), _References(ops), utcnow(), plan.older_than
        )
        if verdict is None:
            return "used again"
        s.delete(row)
    return ""


def _refers_to_folder(folder: Path, op_id: int | None) -> Any:
    """A condition on operations that may refer to a results folder (checked exactly in
    Python: the JSON of input files holds its name)."""
    conditions = [
        OperationRecord.folder == str(folder),
        OperationRecord.files_json.contains(folder.name, autoescape=True),
    ]
    if op_id is not None:
        conditions.append(OperationRecord.id == op_id)
    return or_(*conditions)


def _remove_frame(path: Path, db: Database) -> str:
    """Set a stored frame aside, count its users again, then remove it (or put it back)."""
    sha = path.parent.name

    def used() -> bool:
        with db.session() as s:
            inputs = _input_paths(
                s, select(SessionInputRecord.path).where(SessionInputRecord.sha256 == sha)
            )
            ops = _ops(s, OperationRecord.files_json.contains(sha, autoescape=True))
        real = _real(path)
        return real in inputs or any(real in o.files for o in ops)

    if used():
        return "in use again"
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return "gone"
    if used():
        if path.exists():  # added again meanwhile: a fresh copy is in place
            aside.unlink(missing_ok=True)
        else:
            os.replace(aside, path)
        return "in use again"
    aside.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # the content's folder, when it held only this copy
    return ""


# -- small things ----------------------------------------------------------------------------------


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text or "null") or default
    except ValueError:
        return default


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(path))


def _inside(real: str, root: Path) -> bool:
    base = _real(root)
    return real != base and real.startswith(base.rstrip(os.sep) + os.sep)


def _result_folder_of(real: str) -> str | None:
    """The results folder (``.../results/<aa>/<key>.<id>``) a file is in, if any."""
    path = Path(real)
    for parent in path.parents:
        if cache.result_operation_id(parent) is not None and parent.parent.parent.name == "results":
            return str(parent)
    return None


def _tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (links not followed; 0 when it is missing)."""
    if path.is_symlink() or not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _newest(path: Path) -> float:
    """The newest modification time under ``path`` (the folder's own included)."""
    newest = path.lstat().st_mtime
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
    return newest


def _rmtree(path: Path) -> None:
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def size_text(nbytes: float) -> str:
    """Bytes for a person: ``512 B``, ``1.5 kB``, ``12.0 MB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.0f} B"
