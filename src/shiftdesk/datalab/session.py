"""Data sessions: frames gathered under a name, operations run on them as persisted jobs,
results served from a content-addressed store.

::

    from shiftdesk.datalab import DataSession
    s = DataSession.create("M51 night 1")
    s.add_inputs(["m51_r_001.fits", "m51_r_002.fits.fz", "m51_r_003.fits"])
    op = s.run("median", input_files=s.inputs)      # returns at once: a job underneath
    out = op.result(timeout=60)                     # OperationResult
    s.run("subtraction", input_files=s.inputs, subtraction_file=out.files[0])
    s.operations                                    # the history, with the chain

A session, its inputs and its operations belong to their owner; :meth:`DataSession.share`
lets others (users, a project's ``group:NAME``) read it. What a user's own kernel may
read and change is enforced by the database (row-level security on PostgreSQL); the
checks here say the same thing on SQLite and give the clear message.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from shiftdesk.datalab import cache
from shiftdesk.datalab.records import (
    DataSessionMemberRecord,
    DataSessionRecord,
    OperationRecord,
    ResultRecord,
    SessionInputRecord,
)
from shiftdesk.display import Markup, escape, html_repr, table
from shiftdesk.errors import JobError, JobTimeout, NotFound, PermissionDenied
from shiftdesk.identity import Identity, current_identity
from shiftdesk.storage import Database, get_database
from shiftdesk.tracking import ACTIVE, as_utc, utcnow

if TYPE_CHECKING:
    from shiftdesk.datalab.ops.base import OperationResult
    from shiftdesk.gate import Gate
    from shiftdesk.jobs.job import Job

__all__ = ["DataSession", "SessionInput", "SessionOperation"]

#: header cards a gallery shows, read when a frame is added
HEADER_CARDS = ("DATE-OBS", "FILTER", "OBJECT", "EXPTIME")
#: an operation that has had no job this long after it was asked for never started
_UNSTARTED_AFTER_S = 120.0
#: the field name add_inputs' messages use
INPUTS_FIELD = "inputs"


# -- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionInput(os.PathLike[str]):
    """A frame of a session: usable wherever a path is (``os.fspath`` gives its file).

    Attributes
    ----------
    id : int
        Its row id.
    session_id : int
        The session it belongs to.
    name : str
        The file name it was added as (unique within the session).
    sha256 : str
        Its content's SHA-256: what results are keyed by.
    size : int
        Bytes.
    path : Path
        The file to read: the stored copy in the owner's store (kept once per content);
        for someone else on a hub, who may not open the owner's folder, a copy in their
        own data folder, fetched through the gate the first time ``path`` is read (see
        :mod:`shiftdesk.datalab.sharing`).
    header : dict
        ``DATE-OBS``, ``FILTER``, ``OBJECT``, ``EXPTIME`` (those present) and ``shape``.
    added_at : datetime
    """

    id: int
    session_id: int
    name: str
    sha256: str
    size: int
    _path: Path
    header: dict[str, Any] = field(default_factory=dict, compare=False)
    added_at: datetime | None = None
    #: fetches the local copy ``_path`` (a reader on a hub); None: ``_path`` is the file
    _fetch: Callable[[SessionInput], Any] | None = field(default=None, compare=False, repr=False)

    @property
    def path(self) -> Path:
        """The file to read (fetched first when it is a copy not made yet)."""
        if self._fetch is not None and not self._path.is_file():
            self._fetch(self)
        return self._path

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def filter(self) -> str | None:
        """The ``FILTER`` card, if any."""
        value = self.header.get("FILTER")
        return None if value is None else str(value)

    @property
    def date_obs(self) -> str | None:
        """The ``DATE-OBS`` card, if any."""
        value = self.header.get("DATE-OBS")
        return None if value is None else str(value)

    @property
    def object(self) -> str | None:
        """The ``OBJECT`` card, if any."""
        value = self.header.get("OBJECT")
        return None if value is None else str(value)

    @property
    def exptime(self) -> float | None:
        """The ``EXPTIME`` card (seconds), if any."""
        value = self.header.get("EXPTIME")
        return None if value is None else float(value)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the image."""
        rows, columns = self.header.get("shape", (0, 0))
        return int(rows), int(columns)

    def __repr__(self) -> str:
        facts = ", ".join(
            str(v)
            for v in (self.filter, self.date_obs, f"{self.shape[0]}×{self.shape[1]}")
            if v is not None
        )
        return f"<SessionInput {self.name} ({facts}) sha256:{self.sha256[:12]}>"

    @classmethod
    def _of(cls, record: SessionInputRecord, reader: DataSession | None = None) -> SessionInput:
        """The input of ``record``; as ``reader`` reads it (a copy of their own on a hub
        when it is someone else's session)."""
        header = json.loads(record.header_json or "{}")
        if "shape" in header:
            header["shape"] = tuple(header["shape"])
        path, fetch = Path(record.path), None
        if reader is not None and reader._copies:
            from shiftdesk.datalab import sharing

            path = sharing.input_copy(reader.identity, reader.owner, record.sha256, record.name)
            fetch = reader._fetch_input
        return cls(
            id=record.id,
            session_id=record.session_id,
            name=record.name,
            sha256=record.sha256,
            size=int(record.size),
            _path=path,
            header=header,
            added_at=as_utc(record.added_at),
            _fetch=fetch,
        )


@dataclass
class _Prepared:
    """A frame read and stored, not yet in the session."""

    name: str
    sha256: str
    size: int
    path: Path
    header: dict[str, Any]


def _prepare(path: str | os.PathLike[str], owner: str, field_name: str) -> _Prepared:
    """Check a file is FITS with an image (headers only), hash it, copy it into the store.

    Raises
    ------
    OperationInputError
        Naming ``field_name`` and the file.
    """
    from shiftdesk.datalab.ops.images import inspect_frame

    frame = inspect_frame(path, field_name)
    source = Path(path)
    header: dict[str, Any] = {}
    for card in HEADER_CARDS:
        value = frame.header.get(card)
        if value is not None and not isinstance(value, bool | int | float | str):
            value = str(value)
        if value is not None:
            header[card] = value.strip() if isinstance(value, str) else value
    header["shape"] = list(frame.shape)
    sha = cache.file_sha256(source)
    stored = cache.store_file(owner, source, sha, source.name)
    return _Prepared(source.name, sha, source.stat().st_size, stored, header)


def _unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``stem_2.fits`` etc. when the session already has a frame so named."""
    if name not in taken:
        return name
    lower = name.lower()
    suffix = next(
        (s for s in (".fits.fz", ".fits.gz", ".fits", ".fit", ".fts") if lower.endswith(s)), ""
    )
    stem = name[: len(name) - len(suffix)] if suffix else name
    n = 2
    while f"{stem}_{n}{suffix}" in taken:
        n += 1
    return f"{stem}_{n}{suffix}"


# -- people -----------------------------------------------------------------------------------


def _people(entries: Iterable[str]) -> builtins.list[str]:
    out: builtins.list[str] = []
    for entry in entries:
        text = str(entry).strip()
        if not text or "," in text or text == "group:":
            raise ValueError(
                f"{entry!r} is not a user name, group:NAME or *; give one entry a value"
            )
        if text not in out:
            out.append(text)
    return out


def _matches(identity: Identity, entries: Iterable[str]) -> bool:
    for entry in entries:
        if entry in ("*", identity.name):
            return True
        if entry.startswith("group:") and entry[6:] in identity.groups:
            return True
    return False


# -- the session ------------------------------------------------------------------------------


class DataSession:
    """A named set of FITS frames and the operations run on them.

    Make one with :meth:`create`, find them with :meth:`list`, reopen one with
    :meth:`open`. A session is its owner's; others read it once it is shared with them
    (:meth:`share`) and cannot change it.

    On a hub, where every user's files are their own, the frames and results of a
    session shared with you are copies in your own data folder, fetched through the gate
    when first read; its owner's server publishes them to the gate (:meth:`publish`, see
    :mod:`shiftdesk.datalab.sharing`). Standalone everything is read where it is.

    Attributes
    ----------
    id : int
    database : Database
    identity : Identity
        Who is looking (the owner, or a member reading a shared session).
    gate : Gate
        How shared files travel (the hub's gate service; in this process standalone).
    """

    def __init__(
        self,
        record: DataSessionRecord,
        database: Database,
        identity: Identity,
        gate: Gate | None = None,
    ) -> None:
        self.id = record.id
        self.database = database
        self.identity = identity
        self._record = record
        self._gate = gate

    @property
    def gate(self) -> Gate:
        """The gate the session's shared files go through (:func:`shiftdesk.gate.get_gate`
        unless one was given)."""
        if self._gate is None:
            from shiftdesk.gate import get_gate

            self._gate = get_gate()
        return self._gate

    @property
    def _copies(self) -> bool:
        """Whether the caller reads the session's files as copies (on a hub, not theirs)."""
        from shiftdesk.datalab import sharing

        return sharing.copies_needed(self.gate, self.identity, self.owner)

    # -- making and finding ------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        name: str,
        *,
        description: str = "",
        database: Database | None = None,
        identity: Identity | None = None,
        gate: Gate | None = None,
    ) -> DataSession:
        """A new, empty session owned by the current user.

        Parameters
        ----------
        name : str
            What the session is called (need not be unique).
        description : str
            A note shown with it.
        """
        if not name or not name.strip():
            raise ValueError("a data session needs a name, e.g. 'M51 night 1'")
        db = database or get_database()
        who = identity or current_identity()
        with db.session() as s:
            record = DataSessionRecord(
                owner=who.name,
                name=name.strip()[:255],
                description=description,
                shared_with="",
                created_at=utcnow(),
                modified_at=utcnow(),
            )
            s.add(record)
            s.flush()
            s.expunge(record)
        return cls(record, db, who, gate)

    @classmethod
    def open(
        cls,
        id: int,
        *,
        database: Database | None = None,
        identity: Identity | None = None,
        gate: Gate | None = None,
    ) -> DataSession:
        """The session ``id``, if the caller may read it.

        Raises
        ------
        NotFound
            No such session, or (on a hub's database) one the caller may not see.
        PermissionDenied
            It exists but is neither the caller's nor shared with them.
        """
        db = database or get_database()
        who = identity or current_identity()
        record, members = _read_session(db, int(id))
        if record is None:
            raise NotFound(f"no data session {id} that {who.name!r} may see")
        if not (who.admin or who.name == record.owner or _matches(who, members)):
            from shiftdesk.audit import refused

            message = (
                f"data session {id} belongs to {record.owner!r} and is not shared with "
                f"{who.name!r}; ask them to share it (DataSession.share)"
            )
            refused("datalab.open", f"data session {id}", message, database=db)
            raise PermissionDenied(message)
        session = cls(record, db, who, gate)
        if members and who.name == record.owner:
            # what an earlier run could not publish (the job-worker service cannot reach
            # the gate for its owner) goes now, without holding up the caller
            session._publish_later()
        return session

    @classmethod
    def list(
        cls,
        *,
        database: Database | None = None,
        identity: Identity | None = None,
        gate: Gate | None = None,
    ) -> builtins.list[DataSession]:
        """The caller's sessions and those shared with them, most recently changed first."""
        db = database or get_database()
        who = identity or current_identity()
        condition = cache.sessions_shared_with(who)(DataSessionRecord)
        with db.session() as s:
            records = builtins.list(
                s.scalars(
                    select(DataSessionRecord)
                    .where(condition)
                    .order_by(DataSessionRecord.modified_at.desc(), DataSessionRecord.id.desc())
                )
            )
            for record in records:
                s.expunge(record)
        return [cls(r, db, who, gate) for r in records]

    def refresh(self) -> DataSession:
        """Re-read the session's row (name, sharing)."""
        record, _members = _read_session(self.database, self.id)
        if record is None:
            raise NotFound(f"data session {self.id} is gone (deleted, or no longer shared)")
        self._record = record
        return self

    # -- properties --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The session's name."""
        return self._record.name

    @property
    def description(self) -> str:
        """A note about the session."""
        return self._record.description

    @property
    def owner(self) -> str:
        """The user the session belongs to."""
        return self._record.owner

    @property
    def shared_with(self) -> tuple[str, ...]:
        """Users and ``group:NAME`` entries who may read the session (``*``: everyone)."""
        return tuple(e for e in self._record.shared_with.split(",") if e)

    @property
    def read_only(self) -> bool:
        """True when the caller may only read it (shared with them)."""
        return self.identity.name != self.owner and not self.identity.admin

    @property
    def created_at(self) -> datetime | None:
        """When it was made (UTC)."""
        return as_utc(self._record.created_at)

    @property
    def modified_at(self) -> datetime | None:
        """When frames or operations were last added (UTC)."""
        return as_utc(self._record.modified_at)

    def _require_owner(self, what: str) -> None:
        if self.identity.name != self.owner:
            raise PermissionDenied(
                f"data session {self.id} ({self.name!r}) belongs to {self.owner!r}; "
                f"{self.identity.name!r} may read it but not {what}. Make a session of "
                "your own (DataSession.create) and run the operation there: a result its "
                "owner shared with you is served from the cache"
            )

    # -- inputs ------------------------------------------------------------------------------
    @property
    def inputs(self) -> builtins.list[SessionInput]:
        """The session's frames, in the order they were added."""
        with self.database.session() as s:
            rows = s.scalars(
                select(SessionInputRecord)
                .where(SessionInputRecord.session_id == self.id)
                .order_by(SessionInputRecord.position, SessionInputRecord.id)
            ).all()
            return [SessionInput._of(r, self) for r in rows]

    def add_inputs(
        self, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
    ) -> builtins.list[SessionInput]:
        """Add FITS frames: each is checked (headers only), copied into the owner's store
        (once per content) and recorded with its name, size, hash and header facts.

        All or nothing: if one file is refused, none is added. A frame whose content the
        session already has is not added twice (its existing input is returned).

        Parameters
        ----------
        paths : path or list of paths
            Plain or tile-compressed FITS files with a 2-D image.

        Returns
        -------
        list of SessionInput
            The inputs for ``paths``, in order.

        Raises
        ------
        OperationInputError
            (field ``inputs``) A file is missing, not FITS, or holds no image; the
            message names it.
        """
        self._require_owner("add frames to it")
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        prepared = [_prepare(p, self.owner, INPUTS_FIELD) for p in paths]
        added = self._insert_inputs(prepared)
        if self.shared_with:
            self._publish_now("frames added")
        return added

    def _insert_inputs(self, prepared: builtins.list[_Prepared]) -> builtins.list[SessionInput]:
        if not prepared:
            return []
        with self.database.session() as s:
            record = s.get(DataSessionRecord, self.id, with_for_update=True)
            if record is None:
                raise NotFound(f"data session {self.id} is gone")
            rows = s.scalars(
                select(SessionInputRecord).where(SessionInputRecord.session_id == self.id)
            ).all()
            by_hash = {r.sha256: r for r in rows}
            taken = {r.name for r in rows}
            position = max((r.position for r in rows), default=-1)
            out: builtins.list[SessionInputRecord] = []
            for item in prepared:
                existing = by_hash.get(item.sha256)
                if existing is None:
                    position += 1
                    name = _unique_name(item.name, taken)
                    taken.add(name)
                    existing = SessionInputRecord(
                        session_id=self.id,
                        owner=self.owner,
                        name=name,
                        sha256=item.sha256,
                        size=item.size,
                        path=str(item.path),
                        header_json=json.dumps(item.header),
                        position=position,
                        added_at=utcnow(),
                    )
                    s.add(existing)
                    by_hash[item.sha256] = existing
                out.append(existing)
            record.modified_at = utcnow()
            s.flush()
            return [SessionInput._of(r) for r in out]

    def remove_inputs(self, inputs: Iterable[SessionInput | str]) -> int:
        """Take frames out of the session (by input or name); operations that used them
        keep their record. Returns how many were removed."""
        self._require_owner("remove its frames")
        items = builtins.list(inputs)
        ids = [i.id for i in items if isinstance(i, SessionInput)]
        names = [i for i in items if isinstance(i, str)]
        with self.database.session() as s:
            rows = s.scalars(
                select(SessionInputRecord).where(
                    SessionInputRecord.session_id == self.id,
                    SessionInputRecord.id.in_(ids) | SessionInputRecord.name.in_(names),
                )
            ).all()
            for row in rows:
                s.delete(row)
            return len(rows)

    # -- operations --------------------------------------------------------------------------
    def run(self, operation: str, /, *, backend: Any = None, **inputs: Any) -> SessionOperation:
        """Ask for an operation on the session's frames; returns at once.

        The inputs are checked first (a bad request raises here, naming the field). An
        identical earlier request (same operation and version, same frame contents, same
        parameters) of the caller, or of a session shared with them, is served from the
        store without running anything (:attr:`SessionOperation.cached`); otherwise a
        persisted job runs it.

        Parameters
        ----------
        operation : str
            A name from ``operations.available()``.
        backend : JobBackend or str, optional
            Where the job runs (default ``"local"``).
        **inputs
            The operation's inputs (its ``input_schema``). Files may be
            :class:`SessionInput` objects, names of the session's frames, output files
            of the session's earlier operations (``op.result().files[0]``), or other
            FITS files, which are added to the session. A
            :class:`SessionOperation` (or its result) stands for its result's data
            (period search on a photometry run).

        Raises
        ------
        OperationInputError
            Unknown operation (the message lists the available ones) or a refused input.
        PermissionDenied
            The caller only reads this session.
        """
        from shiftdesk.datalab import operations
        from shiftdesk.datalab.ops.base import OperationResult

        self._require_owner("run operations in it")
        op = operations.get(operation)
        schema = op.input_schema
        index = self._file_index()
        pending: dict[str, _Prepared] = {}
        upstream: set[int] = set()

        def resolve(field_name: str, item: Any) -> Any:
            return self._resolve_file(field_name, item, index, pending)

        plain: dict[str, Any] = {}
        for key, value in inputs.items():
            if isinstance(value, SessionOperation):
                upstream.add(value.id)
                value = value.result().data
            elif isinstance(value, OperationResult):
                value = value.data
            plain[key] = value
        resolved = cache.map_files(schema, plain, resolve)
        values = op.validate(resolved)
        hashes: dict[str, str] = {}
        files: builtins.list[dict[str, Any]] = []

        def record_file(field_name: str, path: Any) -> Any:
            info = index.get(_norm(path)) or _pending_info(pending.get(_norm(path)))
            hashes[str(path)] = info["sha256"]
            files.append({"field": field_name, **info, "path": str(path)})
            if info.get("made_by") is not None:
                upstream.add(int(info["made_by"]))
            return path

        cache.map_files(schema, values, record_file)
        key = cache.cache_key(op.name, op.version, schema, values, hashes)
        handle = self._start(op, values, files, sorted(upstream), key, pending, backend)
        if handle.finished and self.shared_with:
            self._publish_later()  # served from the store: its outputs, for the readers
        return handle

    def _resolve_file(
        self,
        field_name: str,
        item: Any,
        index: dict[str, dict[str, Any]],
        pending: dict[str, _Prepared],
    ) -> Any:
        """The stored path of a file the caller named (an input, a name, an output, or a
        new file, which is read and stored to be added)."""
        from shiftdesk.datalab.operations import OperationInputError

        if isinstance(item, SessionInput):
            if item.session_id != self.id:
                raise OperationInputError(
                    field_name,
                    f"{item.name} is a frame of session {item.session_id}, not of "
                    f"this one ({self.id}); add it here first (add_inputs)",
                )
            return str(item.path)
        if not isinstance(item, str | os.PathLike):
            return item  # validation says what is wrong with it
        text = os.fspath(item)
        found = index.get(_norm(text))
        if found is not None:
            return found["path"]
        by_name = [v for v in index.values() if v["made_by"] is None and v["name"] == text]
        if by_name:
            return by_name[0]["path"]
        if not Path(text).is_file():
            raise OperationInputError(
                field_name, f"{text}: no such file, and this session has no frame so named"
            )
        prepared = _prepare(text, self.owner, field_name)
        pending[_norm(prepared.path)] = prepared
        return str(prepared.path)

    def _file_index(self) -> dict[str, dict[str, Any]]:
        """Normalised path -> what is known of it: the session's frames and the output
        files of its finished operations (with the operation that made them)."""
        index: dict[str, dict[str, Any]] = {}
        with self.database.session() as s:
            for r in s.scalars(
                select(SessionInputRecord).where(SessionInputRecord.session_id == self.id)
            ):
                index[_norm(r.path)] = {
                    "name": r.name,
                    "sha256": r.sha256,
                    "path": r.path,
                    "made_by": None,
                }
            rows = s.execute(
                select(OperationRecord.id, ResultRecord.folder, ResultRecord.hashes_json)
                .join(ResultRecord, ResultRecord.id == OperationRecord.result_id)
                .where(OperationRecord.session_id == self.id, OperationRecord.status == "done")
                .order_by(OperationRecord.id)
            ).all()
        for op_id, folder, hashes_json in rows:
            for rel, sha in json.loads(hashes_json or "{}").items():
                path = str(Path(folder) / rel)
                index.setdefault(
                    _norm(path),
                    {"name": Path(rel).name, "sha256": sha, "path": path, "made_by": int(op_id)},
                )
        return index

    def _start(
        self,
        op: Any,
        values: dict[str, Any],
        files: builtins.list[dict[str, Any]],
        upstream: builtins.list[int],
        key: str,
        pending: dict[str, _Prepared],
        backend: Any,
    ) -> SessionOperation:
        """Record the request and serve it: the stored result of ``key``, else the job of
        an identical request of the owner that is running now (joined), else a new job.

        A joined request (``cached`` True, its ``job_id`` the running request's job)
        follows that job and ends as it ends: done with the same result, or failed or
        cancelled with its reason. Only the owner's own requests are joined (another
        user's never; a member of a shared session is served its owner's result once it
        is stored, as before). The partial unique index ``uq_datalab_operations_running``
        lets one request per owner and key run a job of its own, so two calls at once
        (threads, kernels) start one job: the one whose row is refused tries again and
        joins. A running request whose job is not recorded yet is waited for (its kernel
        is submitting it) for at most :data:`cache.JOIN_WAIT_S` seconds; after that it is
        taken to have stopped, marked failed, and this request runs its own job.
        """
        from sqlalchemy import update
        from sqlalchemy.exc import IntegrityError

        from shiftdesk.errors import StorageError
        from shiftdesk.jobs.submit import submit_job

        if pending:
            self._insert_inputs(builtins.list(pending.values()))
        inputs_json = json.dumps({"values": values, "upstream": upstream})

        def request_row(s: Any, **state: Any) -> OperationRecord:
            """The request's row, added to ``s`` (queued and not cached unless ``state``
            says otherwise), the session touched."""
            fields: dict[str, Any] = {
                "status": "queued",
                "progress": 0.0,
                "message": "queued",
                "cached": False,
                **state,
            }
            row = OperationRecord(
                session_id=self.id,
                owner=self.owner,
                operation=op.name,
                version=op.version,
                cache_key=key,
                inputs_json=inputs_json,
                files_json=json.dumps(files),
                created_at=utcnow(),
                **fields,
            )
            s.add(row)
            session_row = s.get(DataSessionRecord, self.id)
            if session_row is not None:
                session_row.modified_at = utcnow()
            return row

        deadline = time.monotonic() + cache.JOIN_WAIT_S
        delay, refused = 0.005, 0
        row: OperationRecord | None = None
        while True:
            try:
                with self.database.session() as s:
                    stored = cache.find_result(s, self.identity, key)
                    running = None if stored else cache.running_request(s, self.owner, key)
                    if running is not None:
                        s.expunge(running)
                    else:
                        served: dict[str, Any] = {}
                        if stored is not None:
                            served = {
                                "status": "done",
                                "progress": 1.0,
                                "cached": True,
                                "result_id": stored.id,
                                "folder": stored.folder,
                                "message": "served from the store (an identical request ran "
                                "before)",
                                "finished_at": utcnow(),
                            }
                        row = request_row(s, **served)
                        s.flush()  # a second runner of the key is refused here
                        s.expunge(row)
            except StorageError as exc:
                # an identical request took the key (or a result went) meanwhile: look again
                refused += 1
                if isinstance(exc.__cause__, IntegrityError) and refused < 50:
                    continue
                raise
            if running is None:
                break
            # an identical request of the owner runs: follow it once its job is known, and
            # once it is known to be still going (a job that ended unseen settles it now)
            try:
                first = DataSession.open(
                    running.session_id, database=self.database, identity=self.identity
                )
                leader = SessionOperation(running, first).refresh()
            except NotFound:
                continue  # its session was deleted meanwhile
            if leader.finished:
                continue  # served from the store now, or run again
            if leader.job_id is not None:
                with self.database.session() as s:
                    again = cache.running_request(s, self.owner, key)
                    if again is None or again.id != leader.id:
                        continue
                    joined = request_row(
                        s,
                        cached=True,
                        job_id=leader.job_id,
                        folder=leader._record.folder
                        or str(cache.result_folder(self.owner, key, leader.id)),
                        message=f"joined a running identical request (#{leader.id})",
                    )
                    s.flush()
                    s.expunge(joined)
                return SessionOperation(joined, self)
            if time.monotonic() > deadline:
                # its kernel stopped while submitting the job: it never will
                with self.database.session() as s:
                    s.execute(
                        update(OperationRecord)
                        .where(
                            OperationRecord.id == leader.id,
                            OperationRecord.status.in_(ACTIVE),
                            OperationRecord.job_id.is_(None),
                        )
                        .values(
                            status="failed",
                            message="failed",
                            finished_at=utcnow(),
                            error=f"its job was not started within {cache.JOIN_WAIT_S:g} s "
                            "(the kernel stopped while submitting it?); an identical "
                            "request ran instead",
                        )
                        .execution_options(synchronize_session=False)
                    )
                continue
            time.sleep(delay)
            delay = min(0.1, delay * 2)
        assert row is not None
        handle = SessionOperation(row, self)
        if stored is not None:
            return handle
        folder = cache.result_folder(self.owner, key, row.id)
        spec = {
            "operation": op.name,
            "version": op.version,
            "inputs": values,
            "folder": str(folder),
            "key": key,
        }
        try:
            job = submit_job(
                "datalab.operation",
                spec,
                title=f"{op.name} · {self.name}"[:255],
                backend=backend,
                database=self.database,
                identity=self.identity,
            )
        except Exception as exc:
            handle._update(
                status="failed",
                error=f"could not start the job: {exc}",
                message="failed",
                finished_at=utcnow(),
            )
            raise
        handle._update(job_id=job.id, folder=str(folder))
        return handle

    @property
    def operations(self) -> builtins.list[SessionOperation]:
        """The session's operations, oldest first, each refreshed (status, progress, cached,
        inputs and outputs: enough to draw the chain)."""
        with self.database.session() as s:
            rows = s.scalars(
                select(OperationRecord)
                .where(OperationRecord.session_id == self.id)
                .order_by(OperationRecord.id)
            ).all()
            for row in rows:
                s.expunge(row)
        handles = [SessionOperation(r, self) for r in rows]
        for handle in handles:
            if not handle.finished:
                handle.refresh()
        return handles

    def operation(self, id: int) -> SessionOperation:
        """One operation of the session by its id."""
        with self.database.session() as s:
            row = s.get(OperationRecord, int(id))
            if row is None or row.session_id != self.id:
                raise NotFound(f"data session {self.id} has no operation {id}")
            s.expunge(row)
        return SessionOperation(row, self).refresh()

    def graph(self) -> dict[str, builtins.list[dict[str, Any]]]:
        """The chain as nodes and edges (frames and operations; an edge from each input
        to the operation that used it, and from an operation to the one using its output)."""
        nodes: builtins.list[dict[str, Any]] = [
            {"id": f"input:{i.sha256}", "kind": "input", "label": i.name} for i in self.inputs
        ]
        edges: builtins.list[dict[str, Any]] = []
        for op in self.operations:
            nodes.append(
                {
                    "id": f"op:{op.id}",
                    "kind": "operation",
                    "label": op.operation,
                    "status": op.status,
                    "cached": op.cached,
                }
            )
            for f in op.inputs:
                source = f"op:{f['made_by']}" if f.get("made_by") else f"input:{f['sha256']}"
                edges.append({"from": source, "to": f"op:{op.id}", "field": f["field"]})
            for up in op.upstream:
                if not any(e["from"] == f"op:{up}" and e["to"] == f"op:{op.id}" for e in edges):
                    edges.append({"from": f"op:{up}", "to": f"op:{op.id}", "field": "data"})
        return {"nodes": nodes, "edges": edges}

    # -- sharing and the rest -------------------------------------------------------------------
    def share(self, *people: str, project: str | None = None) -> DataSession:
        """Let others read the session (its frames, operations and results); the owner alone
        changes it.

        Parameters
        ----------
        *people : str
            User names, ``group:NAME`` entries, or ``*`` for everyone.
        project : str, optional
            A project (hub group) name, ``"m51-team"`` or ``"group:m51-team"``.

        Notes
        -----
        On a hub's PostgreSQL, row-level security matches user names and ``*``; a
        ``group:NAME`` entry is honoured there once the hub lists the group's members
        (as it does for run tables), and everywhere the core checks the caller's groups.
        """
        self._require_owner("share it")
        entries = _people(people)
        if project:
            entries += _people([project if project.startswith("group:") else f"group:{project}"])
        self._set_members(builtins.list(self.shared_with) + entries)
        if self.shared_with:
            self._publish_now("shared")
        return self

    def unshare(self, *people: str) -> DataSession:
        """Stop sharing with ``people`` (all of them when none are given)."""
        self._require_owner("change who reads it")
        gone = set(_people(people))
        return self._set_members([e for e in self.shared_with if gone and e not in gone])

    def _set_members(self, entries: builtins.list[str]) -> DataSession:
        unique = _people(entries)
        with self.database.session() as s:
            record = s.get(DataSessionRecord, self.id, with_for_update=True)
            if record is None:
                raise NotFound(f"data session {self.id} is gone")
            record.shared_with = ",".join(unique)
            s.execute(
                delete(DataSessionMemberRecord).where(DataSessionMemberRecord.session_id == self.id)
            )
            for entry in unique:
                s.add(DataSessionMemberRecord(session_id=self.id, member=entry, owner=self.owner))
        return self.refresh()

    # -- its files for others on a hub ----------------------------------------------------------
    def publish(self) -> int:
        """Send the session's files that its readers cannot have yet to the hub's gate.

        On a hub the session's frames and results stay in your own folder, which nobody
        else may open; the gate keeps a copy of each, once, for those you share the
        session with (see :mod:`shiftdesk.datalab.sharing`). This runs by itself when
        you share the session, add frames to a shared one, when an operation of a
        shared session ends, and when you open a shared session; call it after a
        failure to publish was reported. Standalone it does nothing (no copies are
        needed).

        Returns
        -------
        int
            How many files were sent.

        Raises
        ------
        PermissionDenied
            The session is not yours.
        """
        from shiftdesk.datalab import sharing

        self._require_owner("publish its files")
        if not self.gate.remote:
            return 0
        return sharing.publish(self.gate, self.id, self._own_files())

    def _own_files(self) -> dict[str, Path]:
        """SHA-256 -> file of the owner's, for every frame and output of the session."""
        from shiftdesk.datalab import sharing

        files: dict[str, Path] = {}
        with self.database.session() as s:
            for sha, path in s.execute(
                select(SessionInputRecord.sha256, SessionInputRecord.path).where(
                    SessionInputRecord.session_id == self.id,
                    SessionInputRecord.owner == self.owner,
                )
            ):
                files.setdefault(sha, Path(path))
            rows = s.execute(
                select(ResultRecord.folder, ResultRecord.hashes_json)
                .join(OperationRecord, OperationRecord.result_id == ResultRecord.id)
                .where(
                    OperationRecord.session_id == self.id,
                    OperationRecord.status == "done",
                    ResultRecord.owner == self.owner,
                )
            ).all()
        for folder, hashes_json in rows:
            for sha, output in sharing.output_files(folder, json.loads(hashes_json or "{}")):
                files.setdefault(sha, output)
        return files

    def _publish_now(self, why: str) -> int:
        """:meth:`publish`, a failure told (not raised): the next publish sends it."""
        from shiftdesk.datalab import sharing

        if not self.gate.remote:
            return 0
        return sharing.publish_quietly(self.publish, f"data session {self.id} {why}")

    def _publish_later(self) -> None:
        """:meth:`_publish_now` in a thread of its own (one at a time per session)."""
        if not self.gate.remote:
            return
        with _publishing_lock:
            if self.id in _publishing:
                return
            _publishing.add(self.id)

        def run() -> None:
            try:
                self._publish_now("opened or run")
            finally:
                with _publishing_lock:
                    _publishing.discard(self.id)

        threading.Thread(target=run, name=f"datalab-publish-{self.id}", daemon=True).start()

    def _fetch_input(self, item: SessionInput) -> None:
        """Make the local copy of a frame of someone else's session (through the gate)."""
        from shiftdesk.datalab import sharing

        sharing.fetch(self.gate, self.id, item.sha256, item._path)

    def rename(self, name: str) -> DataSession:
        """Give the session another name."""
        self._require_owner("rename it")
        if not name.strip():
            raise ValueError("a data session needs a name")
        with self.database.session() as s:
            record = s.get(DataSessionRecord, self.id)
            if record is None:
                raise NotFound(f"data session {self.id} is gone")
            record.name = name.strip()[:255]
        return self.refresh()

    def delete(self) -> None:
        """Delete the session, its frames' records and its operations (stored results
        stay: another session or an identical request may use them)."""
        self._require_owner("delete it")
        for op in self.operations:
            if not op.finished:
                op.cancel()
        with self.database.session() as s:
            s.execute(delete(DataSessionRecord).where(DataSessionRecord.id == self.id))

    def widget(self) -> Any:
        """The session's dashboard view (needs ``shiftdesk[widgets]``)."""
        from shiftdesk._views import view

        return view(self)

    # -- display -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        with self.database.session() as s:
            n_inputs = s.scalar(
                select(func.count()).where(SessionInputRecord.session_id == self.id)
            )
            n_ops = s.scalar(select(func.count()).where(OperationRecord.session_id == self.id))
        shared = f", shared with {', '.join(self.shared_with)}" if self.shared_with else ""
        return (
            f"<DataSession {self.id} {self.name!r} of {self.owner}: {n_inputs} frames, "
            f"{n_ops} operations{shared}>"
        )

    def _repr_html_(self) -> str:
        inputs = self.inputs
        ops = self.operations
        frames = table(
            [
                (
                    i.name,
                    i.filter or "",
                    i.date_obs or "",
                    "" if i.exptime is None else f"{i.exptime:g} s",
                    f"{i.shape[0]}×{i.shape[1]}",
                    i.sha256[:12],
                )
                for i in inputs
            ],
            ["frame", "filter", "DATE-OBS", "EXPTIME", "shape", "sha256"],
        )
        history = table(
            [
                (
                    f"#{o.id}",
                    o.operation,
                    o.status + (" (cached)" if o.cached else ""),
                    f"{o.progress:.0%} {o.message}",
                    ", ".join(f["name"] for f in o.inputs),
                    ", ".join(p.name for p in o.outputs),
                )
                for o in ops
            ],
            ["", "operation", "status", "progress", "inputs", "outputs"],
        )
        body = Markup(
            f"<div>owner {escape(self.owner)}"
            + (f" · shared with {escape(', '.join(self.shared_with))}" if self.shared_with else "")
            + f"</div><h4>{len(inputs)} frames</h4>{frames}<h4>{len(ops)} operations</h4>{history}"
        )
        return html_repr("DataSession", self.name, repr(self), body)


#: sessions whose files a thread of this process is publishing
_publishing: set[int] = set()
_publishing_lock = threading.Lock()


def _norm(path: Any) -> str:
    """A path as the file index keys it (absolute, symlinks resolved)."""
    return str(Path(os.fspath(path)).resolve())


def _pending_info(prepared: _Prepared | None) -> dict[str, Any]:
    if prepared is None:  # validate() checked every file exists; a new one is always pending
        raise KeyError("a file of the request is neither in the session nor being added")
    return {
        "name": prepared.name,
        "sha256": prepared.sha256,
        "path": str(prepared.path),
        "made_by": None,
    }


def _read_session(
    database: Database, session_id: int
) -> tuple[DataSessionRecord | None, builtins.list[str]]:
    with database.session() as s:
        record = s.get(DataSessionRecord, session_id)
        if record is None:
            return None, []
        members = builtins.list(
            s.scalars(
                select(DataSessionMemberRecord.member).where(
                    DataSessionMemberRecord.session_id == session_id,
                    DataSessionMemberRecord.owner == record.owner,
                )
            )
        )
        s.expunge(record)
    return record, members


# -- operations ---------------------------------------------------------------------------------


class SessionOperation:
    """An operation asked for in a session: its inputs, its job, how it ended, its result.

    ``status`` is ``queued``, ``running``, ``done``, ``failed`` or ``cancelled``;
    :attr:`cached` says a stored result was served without running anything. Reading
    the state (:meth:`refresh`, :meth:`wait`, :meth:`result`) follows the operation's
    row, which its job keeps up to date, and (for its owner) the job itself; once it
    ended the operation is settled: its result is stored for identical requests, or the
    reason it failed is kept.
    """

    def __init__(self, record: OperationRecord, session: DataSession) -> None:
        self.id = record.id
        self.session = session
        self._record = record
        self._job: Job | None = None
        self._result: OperationResult | None = None
        self._mirrored = 0.0

    # -- state -------------------------------------------------------------------------------
    @property
    def operation(self) -> str:
        """The operation's name, e.g. ``"median"``."""
        return self._record.operation

    @property
    def version(self) -> str:
        """The operation's version the request was keyed (and run) with."""
        return self._record.version

    @property
    def key(self) -> str:
        """The content key of the request (SHA-256)."""
        return self._record.cache_key

    @property
    def status(self) -> str:
        """queued, running, done, failed or cancelled (as of the last refresh)."""
        return self._record.status

    @property
    def finished(self) -> bool:
        """True once it ended (done, failed or cancelled)."""
        return self._record.status not in ACTIVE

    @property
    def progress(self) -> float:
        """Progress in [0, 1]."""
        return float(self._record.progress or 0.0)

    @property
    def message(self) -> str:
        """The latest progress message (or how it ended)."""
        return self._record.message or ""

    @property
    def error(self) -> str | None:
        """Why it failed, as the user should read it."""
        return self._record.error

    @property
    def error_field(self) -> str | None:
        """The input a refused request's failure is about (``""``: the inputs as a whole;
        None: not an input error)."""
        return self._record.error_field

    @property
    def cached(self) -> bool:
        """True when an identical earlier request's result was served."""
        return bool(self._record.cached)

    @property
    def job_id(self) -> str | None:
        """The id of the job that runs (ran) it; None when served from the store."""
        return self._record.job_id

    @property
    def created_at(self) -> datetime | None:
        """When it was asked for (UTC)."""
        return as_utc(self._record.created_at)

    @property
    def finished_at(self) -> datetime | None:
        """When it ended (UTC)."""
        return as_utc(self._record.finished_at)

    @property
    def parameters(self) -> dict[str, Any]:
        """The validated inputs (defaults filled; files as stored paths)."""
        return dict(json.loads(self._record.inputs_json)["values"])

    @property
    def upstream(self) -> builtins.list[int]:
        """Ids of the session's operations whose outputs (files or data) this one used."""
        return builtins.list(json.loads(self._record.inputs_json).get("upstream", []))

    @property
    def inputs(self) -> builtins.list[dict[str, Any]]:
        """Each input file: ``field``, ``name``, ``sha256``, ``path`` and ``made_by`` (the
        id of the operation that made it, None for a frame added to the session)."""
        return builtins.list(json.loads(self._record.files_json or "[]"))

    @property
    def outputs(self) -> builtins.list[Path]:
        """The output files (FITS, then images) once done; empty before."""
        if self.status != "done":
            return []
        try:
            result = self.result(timeout=0)
        except (JobError, NotFound, PermissionDenied):
            return []
        return [*result.files, *result.images]

    @property
    def job(self) -> Job | None:
        """The job handle (only its owner may read a job)."""
        if self._job is None and self._record.job_id is not None:
            from shiftdesk.jobs.job import Job

            self._job = Job(self._record.job_id, self.session.database, self.session.identity)
        return self._job

    # -- following the job ---------------------------------------------------------------------
    def refresh(self) -> SessionOperation:
        """Re-read the operation.

        Anyone who may read the session reads the operation's row, which the job running
        it keeps up to date (status, progress and message while it runs, then how it
        ended; see :mod:`shiftdesk.datalab.state`). Its owner, who alone may read the
        job, also takes the live state from the job and settles the operation once the
        job has ended, if the job did not (a vanished worker makes it failed).
        """
        db = self.session.database
        was_active = not self.finished
        with db.session() as s:
            row = s.get(OperationRecord, self.id)
            if row is None:
                raise NotFound(f"operation {self.id} is gone (its session was deleted?)")
            s.expunge(row)
        self._record = row
        if self.finished or self.session.identity.name != row.owner:
            # a member reads the row the job writes; only the owner reads the job
            if was_active and self.status == "done":
                self._ended()
            return self
        if row.job_id is None:
            age = (utcnow() - (as_utc(row.created_at) or utcnow())).total_seconds()
            if age > _UNSTARTED_AFTER_S:
                self._update(
                    status="failed",
                    message="failed",
                    finished_at=utcnow(),
                    error="the operation's job was never started (the kernel "
                    "stopped while submitting it); run it again",
                )
            return self
        try:
            job = self.job
            assert job is not None
            job.refresh()
        except (NotFound, PermissionDenied) as exc:
            self._update(
                status="failed",
                message="failed",
                finished_at=utcnow(),
                error=f"its job is gone: {exc}",
            )
            return self
        if job.finished:
            self._settle(job)
            if self.status == "done":
                self._ended()
        else:
            # live state shown from the job row
            self._record.status = job.status.value
            self._record.progress = job.progress
            self._record.message = job.message
            self._mirror(job)
        return self

    def _mirror(self, job: Job) -> None:
        """Copy a running job's progress into the operation's row, for those who read the
        session but not the job, when its worker cannot (no database on SSH or Dask; a
        local or service worker writes the row itself: :mod:`shiftdesk.datalab.state`)."""
        from shiftdesk.datalab.state import ROW_INTERVAL, ROW_WRITING_BACKENDS, write_progress

        if job._record.backend in ROW_WRITING_BACKENDS or job.status.value != "running":
            return
        now = time.monotonic()
        if now - self._mirrored < ROW_INTERVAL:
            return
        self._mirrored = now
        with contextlib.suppress(Exception):  # shown here anyway; the row is for others
            write_progress(
                self.session.database,
                self.id,
                progress=job.progress,
                message=job.message,
                key=self.key,
                job_id=job.id,
            )

    def _ended(self) -> None:
        """The owner saw the operation end: its outputs go to the gate for the session's
        readers on a hub (in a thread: the job may have sent them already)."""
        session = self.session
        if session.identity.name == session.owner and session.shared_with:
            session._publish_later()

    def _update(self, **fields: Any) -> None:
        with self.session.database.session() as s:
            row = s.get(OperationRecord, self.id)
            if row is None:
                return
            for name, value in fields.items():
                setattr(row, name, value)
            s.flush()
            s.expunge(row)
        self._record = row

    def _settle(self, job: Job) -> None:
        """Move the operation to its final state from its finished job (once: when its
        task settled it already, the row is left as the task wrote it)."""
        from shiftdesk.datalab.state import settle
        from shiftdesk.datalab.tasks import INPUT_ERROR_TAG

        status = job.status.value
        raw = None
        if status == "done" and job._record.result_json:
            raw = json.loads(job._record.result_json)
            if raw.get("cancelled"):
                status = "cancelled"
        error = error_field = None
        if status == "failed":
            error = job.error or "the job failed"
            for line in reversed(job.logs().splitlines()):
                if line.startswith(INPUT_ERROR_TAG):
                    told = json.loads(line[len(INPUT_ERROR_TAG) :])
                    # "" marks an input error about the inputs as a whole (no field)
                    error, error_field = told["reason"], told["field"] or ""
                    break
        row = settle(
            self.session.database,
            self.id,
            status=status,
            raw=raw,
            job_id=job.id,
            progress=job.progress,
            error=error,
            error_field=error_field,
            finished_at=job.finished_at,
        )
        if row is not None:
            self._record = row

    def wait(self, timeout: float | None = None, poll: float = 0.1) -> SessionOperation:
        """Block until the operation has ended (or ``timeout`` seconds pass).

        Raises
        ------
        JobTimeout
            Still queued or running after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while not self.refresh().finished:
            if deadline is not None and time.monotonic() > deadline:
                raise JobTimeout(
                    f"operation {self.id} ({self.operation}) is still {self.status} after "
                    f"{timeout:g} s ({self.progress:.0%}: {self.message}); wait longer or "
                    "cancel() it"
                )
            time.sleep(delay)
            delay = min(poll, delay * 2)
        return self

    def result(self, timeout: float | None = None) -> OperationResult:
        """Wait for the operation and return what it made.

        On a hub, someone else's result (a session shared with you, or one served to
        you from another owner's store) is copies in your own data folder, fetched
        through the gate (see :mod:`shiftdesk.datalab.sharing`).

        Returns
        -------
        OperationResult
            ``files`` (FITS), ``images`` (PNG, TIFF), ``previews``, ``data``.

        Raises
        ------
        OperationInputError
            It failed on an input (the field and the reason).
        OperationCancelled
            It was cancelled.
        JobError
            It failed otherwise (the reason), or its result is no longer readable.
        JobTimeout
            Not finished within ``timeout`` seconds.
        NotFound
            Its result is not readable (deleted, no longer shared), or on a hub its
            owner's server has not published its files within ``timeout`` seconds (10 s
            without one).
        """
        from shiftdesk.datalab.operations import OperationCancelled, OperationInputError
        from shiftdesk.datalab.ops.base import OperationResult

        if self._result is not None:
            return self._result
        if not self.finished:
            self.wait(timeout)
        if self.status == "failed":
            if self.error_field is not None:
                raise OperationInputError(self.error_field or None, self.error or "refused")
            raise JobError(f"operation {self.id} ({self.operation}) failed: {self.error}")
        if self.status == "cancelled":
            raise OperationCancelled(f"operation {self.id} ({self.operation}) was cancelled")
        with self.session.database.session() as s:
            stored = (
                s.get(ResultRecord, self._record.result_id)
                if self._record.result_id is not None
                else None
            )
            if stored is None:
                raise NotFound(
                    f"the result of operation {self.id} is not readable: deleted, or its "
                    "owner no longer shares it with you"
                )
            text, folder = stored.result_json, stored.folder
            owner, key, hashes = stored.owner, stored.cache_key, stored.hashes_json
        from shiftdesk.datalab import sharing

        reader = self.session
        if sharing.copies_needed(reader.gate, reader.identity, owner):
            wait = sharing.PUBLISH_WAIT if timeout is None else timeout
            self._result = self._copied(text, owner, key, json.loads(hashes or "{}"), wait)
        else:
            self._result = OperationResult.from_json(text, base=folder)
        return self._result

    def _copied(
        self, text: str, owner: str, key: str, hashes: dict[str, str], wait: float
    ) -> OperationResult:
        """The result as copies in the reader's own data folder (on a hub, someone else's
        result), each fetched through the gate unless it is there already (waiting up to
        ``wait`` seconds for its owner's server to publish it). Only outputs the stored
        result names with their hash are kept, each inside its folder."""
        from shiftdesk.datalab import sharing
        from shiftdesk.datalab.ops.base import OperationResult

        reader = self.session
        base = sharing.result_copy(reader.identity, owner, key)
        fetched: set[str] = set()
        for sha, path in sharing.output_files(str(base), hashes):
            sharing.fetch(reader.gate, reader.id, sha, path, wait=wait)
            fetched.add(str(path.relative_to(base)))

        def kept(rel: Any) -> bool:
            inside = sharing.relative_output(str(rel))
            return inside is not None and str(inside) in fetched

        value = json.loads(text)
        value["files"] = [p for p in value.get("files", ()) if kept(p)]
        value["images"] = [p for p in value.get("images", ()) if kept(p)]
        value["previews"] = {
            name: v
            for name, v in value.get("previews", {}).items()
            if kept(v.get("full")) and kept(v.get("thumbnail"))
        }
        return OperationResult.from_dict(value, base=base)

    def cancel(self) -> None:
        """Ask the operation to stop; it ends cancelled (nothing of it is kept)."""
        if self.session.identity.name != self._record.owner:
            raise PermissionDenied(
                f"operation {self.id} belongs to {self._record.owner!r}; only they may cancel it"
            )
        if self.refresh().finished:
            return
        job = self.job
        if job is not None:
            job.cancel()
        self.refresh()

    # -- display -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        extra = " (cached)" if self.cached else ""
        tail = f": {self.error}" if self.error else (f": {self.message}" if self.message else "")
        return (
            f"<SessionOperation #{self.id} {self.operation} {self.version} {self.status}{extra} "
            f"{self.progress:.0%}{tail}>"
        )

    def _repr_html_(self) -> str:
        rows: builtins.list[tuple[object, object]] = [
            ("operation", f"{self.operation} {self.version}"),
            ("status", self.status + (" (served from the store)" if self.cached else "")),
            ("progress", f"{self.progress:.0%} {self.message}"),
            (
                "inputs",
                ", ".join(
                    f["name"] + (f" (from #{f['made_by']})" if f.get("made_by") else "")
                    for f in self.inputs
                ),
            ),
            ("key", self.key[:16]),
        ]
        if self.error:
            rows.append(
                ("error", (f"{self.error_field}: " if self.error_field else "") + self.error)
            )
        if self.status == "done":
            rows.append(("outputs", ", ".join(p.name for p in self.outputs)))
        return html_repr(
            "SessionOperation", f"#{self.id} {self.operation}", repr(self), table(rows)
        )

    def widget(self) -> Any:
        """A live view of the operation (needs ``shiftdesk[widgets]``)."""
        from shiftdesk._views import view

        return view(self)
