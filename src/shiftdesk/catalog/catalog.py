"""The catalog: an observatory's rules and reference files, their contexts and bad files.

A :class:`Catalog` is a handle on stored rows (:mod:`.records`) and a content store
(:mod:`.store`). Reading needs nothing but the database and the store folder; every
change is a method marked :func:`~shiftdesk.gate.forward.through_gate`, so on a hub it
runs in the gate service for the caller the hub verified (who must be an editor of the
catalog: a member of its hub group ``catalog-<observatory>``, a listed editor, or an
administrator), and standalone it runs here. Each change writes its rows, its files'
history lines and its audit entries in one transaction.
"""

from __future__ import annotations

import builtins
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from shiftdesk.catalog import graph, importing, naming
from shiftdesk.catalog.defects import Defect, DefectsMixin
from shiftdesk.catalog.delivery import DeliveriesMixin
from shiftdesk.catalog.locks import Lock, LocksMixin
from shiftdesk.catalog.records import (
    CONTEXT_KINDS,
    FILE_TYPES,
    IMPORTED_STATE,
    STATES,
    CatalogContextHistoryRecord,
    CatalogContextRecord,
    CatalogCounterRecord,
    CatalogEdgeRecord,
    CatalogFileEventRecord,
    CatalogFileRecord,
    CatalogRecord,
    check_transition,
)
from shiftdesk.catalog.store import ContentStore, catalog_root, check_file_name
from shiftdesk.catalog.submission import SubmissionsMixin
from shiftdesk.display import html_repr
from shiftdesk.display import table as html_table
from shiftdesk.errors import CatalogError, NotFound, PermissionDenied
from shiftdesk.gate import Gate, get_gate
from shiftdesk.gate.forward import through_gate
from shiftdesk.identity import Identity, current_identity
from shiftdesk.storage import Database, get_database
from shiftdesk.tracking import as_utc, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from shiftdesk.catalog.selection import Context

__all__ = [
    "BadFileWarning",
    "Catalog",
    "CatalogFile",
    "ContextChange",
    "Defect",
    "FileEvent",
    "Lock",
]


_OBSERVATORY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: columns of :meth:`Catalog.browse`, in order
BROWSE_COLUMNS = (
    "name",
    "type",
    "instrument",
    "filekind",
    "state",
    "rejected",
    "blacklisted",
    "size",
    "added",
    "delivery_date",
    "activation_date",
    "useafter_date",
    "derived_from",
    "deliverer",
    "description",
    "sha1sum",
)
_SORTS = {
    "name": CatalogFileRecord.name,
    "added": CatalogFileRecord.added_at,
    "size": CatalogFileRecord.size,
    "state": CatalogFileRecord.state,
    "instrument": CatalogFileRecord.instrument,
    "filekind": CatalogFileRecord.filekind,
    "type": CatalogFileRecord.type,
    "delivery_date": CatalogFileRecord.delivery_date,
    "activation_date": CatalogFileRecord.activation_date,
    "useafter_date": CatalogFileRecord.useafter_date,
}
_BROWSE_SELECT = (
    CatalogFileRecord.name,
    CatalogFileRecord.type,
    CatalogFileRecord.instrument,
    CatalogFileRecord.filekind,
    CatalogFileRecord.state,
    CatalogFileRecord.rejected,
    CatalogFileRecord.blacklisted,
    CatalogFileRecord.size,
    CatalogFileRecord.added_at,
    CatalogFileRecord.delivery_date,
    CatalogFileRecord.activation_date,
    CatalogFileRecord.useafter_date,
    CatalogFileRecord.derived_from,
    CatalogFileRecord.deliverer,
    CatalogFileRecord.description,
    CatalogFileRecord.sha1sum,
)
#: loaded contexts kept per (store folder, pmap); mapping files never change under a name
_CONTEXT_CACHE: OrderedDict[tuple[str, str], Context] = OrderedDict()
_CONTEXT_CACHE_SIZE = 16
_cache_lock = threading.Lock()


class BadFileWarning(UserWarning):
    """Best references used a context or recommended a file that is marked bad."""


def default_editor_group(observatory: str) -> str:
    """The hub group whose members change catalog ``observatory``."""
    return f"catalog-{observatory}"


def _glob_to_like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


# -- small value objects ----------------------------------------------------------------------


@dataclass(frozen=True)
class FileEvent:
    """A line of a file's history."""

    at: datetime
    who: str
    action: str
    detail: str

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.who} {self.action}" + (
            f": {self.detail}" if self.detail else ""
        )


@dataclass(frozen=True)
class ContextChange:
    """One change of a context pointer: from ``at`` on, ``kind`` was ``context``."""

    at: datetime
    kind: str
    context: str
    previous: str
    who: str
    why: str

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind} {self.context} ({self.who}: {self.why})"


class ContextHistory(builtins.list[ContextChange]):
    """Context changes, newest first, shown as a table in a notebook."""

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self) or "(no context changes)"

    def _repr_html_(self) -> str:
        rows = [
            [f"{c.at:%Y-%m-%d %H:%M:%S}", c.kind, c.context, c.previous, c.who, c.why] for c in self
        ]
        header = ["when (UTC)", "pointer", "context", "before", "who", "why"]
        return html_repr(
            "Context history", f"{len(self)} changes", str(self), html_table(rows, header)
        )


@dataclass(frozen=True)
class CatalogFile:
    """A file of a catalog, as stored when it was read (see :meth:`Catalog.file`).

    ``blacklisted_by`` lists the rejected files among this one and the mappings nested
    inside it; ``history`` is the file's history, oldest first.
    """

    name: str
    observatory: str
    type: str
    kind: str
    state: str
    instrument: str
    filekind: str
    size: int
    sha1sum: str
    derived_from: str
    rejected: bool
    blacklisted: bool
    description: str
    deliverer: str
    uploaded_as: str
    added: datetime
    delivery_date: datetime | None
    activation_date: datetime | None
    useafter_date: datetime | None
    blacklisted_by: tuple[str, ...] = ()
    history: tuple[FileEvent, ...] = ()
    _catalog: Catalog | None = field(default=None, repr=False, compare=False)

    @property
    def bad(self) -> bool:
        """Rejected itself, or using a rejected mapping."""
        return self.rejected or self.blacklisted

    @property
    def path(self) -> Path:
        """The file in the catalog's store."""
        assert self._catalog is not None
        return self._catalog.path(self.name)

    def uses(self) -> builtins.list[str]:
        """The mappings that use this file, up to the pmaps."""
        assert self._catalog is not None
        return self._catalog.uses(self.name)

    def __str__(self) -> str:
        flags = " REJECTED" if self.rejected else ""
        flags += " BLACKLISTED" if self.blacklisted else ""
        return f"{self.name} ({self.type}, {self.state}{flags})"

    def widget(self) -> Any:
        """The file's detail pane (needs ``shiftdesk[widgets]``)."""
        from shiftdesk._views import view

        return view(self)

    def __repr__(self) -> str:
        what = " ".join(p for p in (self.instrument, self.filekind) if p)
        text_ = f"CatalogFile({self.name!r}): {self.type}{' ' + what if what else ''}, {self.state}"
        text_ += f", {self.size:,} bytes, sha1 {self.sha1sum}"
        if self.rejected:
            text_ += ", REJECTED"
        if self.blacklisted:
            text_ += f", BLACKLISTED by {', '.join(self.blacklisted_by) or '?'}"
        if self.derived_from:
            text_ += f"\n  derived from {self.derived_from}"
        return text_ + "".join(f"\n  {event}" for event in self.history)

    def _repr_html_(self) -> str:
        rows = [
            ["type", f"{self.type} ({self.kind})"],
            ["state", self.state],
            ["instrument", self.instrument or "—"],
            ["filekind", self.filekind or "—"],
            ["size", f"{self.size:,} bytes"],
            ["sha1sum", self.sha1sum],
            ["derived from", self.derived_from or "—"],
            ["description", self.description or "—"],
            ["delivered by", self.deliverer or "—"],
            ["added", f"{self.added:%Y-%m-%d %H:%M:%S}"],
            ["rejected", "yes" if self.rejected else "no"],
            [
                "blacklisted",
                ("yes, by " + ", ".join(self.blacklisted_by)) if self.blacklisted else "no",
            ],
        ]
        if self.useafter_date is not None:
            rows.append(["use after", f"{self.useafter_date:%Y-%m-%d %H:%M:%S}"])
        body = html_table(rows)
        if self.history:
            body += "<div>history</div>" + html_table(
                [[f"{e.at:%Y-%m-%d %H:%M:%S}", e.who, e.action, e.detail] for e in self.history]
            )
        title = self.name + (" (bad)" if self.bad else "")
        return html_repr("CatalogFile", title, str(self), body)


def _file_of(record: CatalogFileRecord, catalog: Catalog | None, **extra: Any) -> CatalogFile:
    return CatalogFile(
        name=record.name,
        observatory=record.observatory,
        type=record.type,
        kind=record.kind,
        state=record.state,
        instrument=record.instrument,
        filekind=record.filekind,
        size=int(record.size),
        sha1sum=record.sha1sum,
        derived_from=record.derived_from,
        rejected=bool(record.rejected),
        blacklisted=bool(record.blacklisted),
        description=record.description,
        deliverer=record.deliverer,
        uploaded_as=record.uploaded_as,
        added=as_utc(record.added_at),  # type: ignore[arg-type]
        delivery_date=as_utc(record.delivery_date),
        activation_date=as_utc(record.activation_date),
        useafter_date=as_utc(record.useafter_date),
        _catalog=catalog,
        **extra,
    )


def _target(catalog: Catalog) -> str:
    return f"catalog {catalog.observatory}"


class Catalog(SubmissionsMixin, LocksMixin, DefectsMixin, DeliveriesMixin):
    """An observatory's reference-file catalog.

    Make one with :meth:`create`, open it with :meth:`open`; see the package docstring.
    """

    def __init__(
        self,
        record: CatalogRecord,
        database: Database,
        identity: Identity,
        gate: Gate | None = None,
        *,
        via: str = "local",
    ) -> None:
        self.observatory: str = record.observatory
        self.description: str = record.description
        self.folder = Path(record.folder)
        self.editor_group: str = record.editor_group
        self.editors: tuple[str, ...] = tuple(e for e in record.editors.split(",") if e)
        self.database = database
        self.identity = identity
        self.gate: Gate = gate if gate is not None else get_gate()
        self.store = ContentStore(self.folder)
        # who writes the audit rows of per-file changes: the gate service, or this process
        self._via = via

    # -- making and finding catalogs ---------------------------------------------------
    @classmethod
    def create(
        cls,
        observatory: str,
        *,
        description: str = "",
        editors: Iterable[str] = (),
        editor_group: str | None = None,
        folder: str | Path | None = None,
        database: Database | None = None,
        identity: Identity | None = None,
        gate: Gate | None = None,
    ) -> Catalog:
        """Make the catalog of ``observatory`` (one per observatory).

        Parameters
        ----------
        observatory : str
            E.g. ``"roman"`` (lower-cased).
        description : str
            What it is, for people.
        editors : iterable of str
            Users who may change it besides the hub group and administrators; the creator
            is added.
        editor_group : str, optional
            The hub group of its editors (default ``catalog-<observatory>``).
        folder : path, optional
            Its content store (default ``<SHIFTDESK_CATALOG_DIR or data dir/catalog>/<obs>``).

        Raises
        ------
        CatalogError
            A bad observatory name, or a catalog of it exists.
        """
        db = database or get_database()
        gate = gate if gate is not None else get_gate()
        obs = str(observatory).strip().lower()
        if gate.remote:
            gate.call(
                "catalog.create",
                observatory=obs,
                description=description,
                editors=list(editors),
                editor_group=editor_group,
                folder=None if folder is None else str(folder),
            )
            return cls.open(obs, database=db, identity=identity, gate=gate)
        who = identity or current_identity()
        if not _OBSERVATORY.match(obs):
            raise CatalogError(
                f"{observatory!r} cannot name an observatory: use a lower-case word of letters, "
                "digits and '_' (e.g. 'roman', 'jwst', 'hst')"
            )
        people = sorted({e.strip() for e in editors if e and e.strip()} | {who.name})
        if any("," in p for p in people):
            raise CatalogError(f"editor names cannot contain commas: {people}")
        where = Path(folder) if folder is not None else catalog_root() / obs
        with db.session() as s:
            if s.scalar(select(CatalogRecord.id).where(CatalogRecord.observatory == obs)):
                raise CatalogError(
                    f"a catalog of {obs!r} exists; open it with Catalog.open({obs!r})"
                )
            record = CatalogRecord(
                observatory=obs,
                description=description,
                folder=str(where),
                editor_group=editor_group or default_editor_group(obs),
                editors=",".join(people),
                created_by=who.name,
                created_at=utcnow(),
            )
            s.add(record)
            s.flush()
            s.expunge(record)
            ContentStore(where).ensure()
        return cls(record, db, who, gate)

    @classmethod
    def open(
        cls,
        observatory: str,
        *,
        database: Database | None = None,
        identity: Identity | None = None,
        gate: Gate | None = None,
        via: str = "local",
    ) -> Catalog:
        """Open the catalog of ``observatory``.

        Raises
        ------
        NotFound
            There is none (the message lists those there are).
        """
        db = database or get_database()
        obs = str(observatory).strip().lower()
        with db.session() as s:
            record = s.scalars(
                select(CatalogRecord).where(CatalogRecord.observatory == obs)
            ).first()
            if record is None:
                known = s.scalars(
                    select(CatalogRecord.observatory).order_by(CatalogRecord.observatory)
                ).all()
                raise NotFound(
                    f"there is no catalog of {obs!r} (there are: {', '.join(known) or 'none'}); "
                    f"make it with Catalog.create({obs!r})"
                )
            s.expunge(record)
        return cls(record, db, identity or current_identity(), gate, via=via)

    @classmethod
    def list(cls, *, database: Database | None = None) -> builtins.list[str]:
        """The observatories that have a catalog."""
        db = database or get_database()
        with db.session() as s:
            return builtins.list(
                s.scalars(select(CatalogRecord.observatory).order_by(CatalogRecord.observatory))
            )

    # -- the gate ------------------------------------------------------------------------
    def _gate_args(self) -> dict[str, Any]:
        return {"observatory": self.observatory}

    def _from_gate(self, action: str, result: Any) -> Any:
        """What a method returns here, from its action's JSON result (see ``actions``)."""
        if action == "catalog.lock":
            return Lock.from_json(result)
        if action == "catalog.repair":
            return [Defect(**d) for d in result]
        return result

    # -- permissions ---------------------------------------------------------------------
    def _is_editor(self, who: Identity) -> bool:
        return who.admin or self.editor_group in who.groups or who.name in self.editors

    @property
    def can_edit(self) -> bool:
        """Whether the current user may change this catalog (on a hub the gate is asked,
        with the hub's groups now; it checks again at every change anyway)."""
        who = self.gate.whoami() if self.gate.remote else self.identity
        return self._is_editor(who)

    def _require_editor(self, what: str) -> None:
        if self._is_editor(self.identity):
            return
        raise PermissionDenied(
            f"{self.identity.name!r} may not {what} in the {self.observatory} catalog: only "
            f"members of the hub group {self.editor_group!r}, its editors "
            f"({', '.join(self.editors) or 'none'}) and administrators may. Reading stays open "
            "to everyone; ask an administrator to add you to the group."
        )

    def _require_admin(self, what: str) -> None:
        if not self.identity.admin:
            raise PermissionDenied(
                f"only administrators may {what} ({self.identity.name!r} is not one)"
            )

    # -- transactions --------------------------------------------------------------------
    def _begin_write(self, s: Session) -> None:
        """Start a change of this catalog: its row is written first, so one change at a
        time goes on (SQLite's writer lock is taken now rather than upgraded later; on
        PostgreSQL the row stays locked until commit)."""
        s.execute(
            update(CatalogRecord)
            .where(CatalogRecord.observatory == self.observatory)
            .values(observatory=CatalogRecord.observatory)
        )

    def _log(
        self, s: Session, action: str, names: Iterable[str], detail: str = "", *, audit: bool = True
    ) -> None:
        """History lines (and audit entries) for files, in the change's own transaction.

        The audit rows are written here, not by :func:`shiftdesk.audit.record`, so that they
        commit or roll back with the change and thousands of them cost one statement; the
        writer is the table owner (the gate, or SQLite standalone), which writes the audit
        table directly, as ``record`` itself does there.
        """
        names = builtins.list(names)
        if not names:
            return
        conn = s.connection()
        now = _driver_time(conn, utcnow())
        who = self.identity.name[:255]
        obs = self.observatory
        _bulk_insert(
            conn,
            "catalog_file_events",
            ("observatory", "name", "at", "who", "action", "detail"),
            [(obs, n, now, who, action[:32], detail) for n in names],
        )
        if audit:
            _bulk_insert(
                conn,
                "audit_log",
                ("at", "actor", "action", "target", "outcome", "detail", "via"),
                [
                    (now, who, f"catalog.{action}"[:64], f"{obs} {n}"[:255], "ok", detail[:4000],
                     self._via)
                    for n in names
                ],
            )  # fmt: skip

    # -- files -----------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """The file ``name`` in the catalog's store.

        Raises
        ------
        NotFound
            The catalog has no such file.
        """
        self._record(name)
        return self.store.path(name)

    def _record(self, name: str) -> CatalogFileRecord:
        check_file_name(name)
        with self.database.session() as s:
            record = s.scalars(
                select(CatalogFileRecord).where(
                    CatalogFileRecord.observatory == self.observatory,
                    CatalogFileRecord.name == name,
                )
            ).first()
            if record is None:
                raise NotFound(f"the {self.observatory} catalog has no file {name!r}")
            s.expunge(record)
        return record

    def file(self, name: str) -> CatalogFile:
        """The file ``name``: its fields, what blacklists it, its history.

        Raises
        ------
        NotFound
            The catalog has no such file.
        """
        record = self._record(name)
        with self.database.session() as s:
            by = graph.rejected_inside(s, self.observatory, name) if record.blacklisted else []
            events = s.scalars(
                select(CatalogFileEventRecord)
                .where(
                    CatalogFileEventRecord.observatory == self.observatory,
                    CatalogFileEventRecord.name == name,
                )
                .order_by(CatalogFileEventRecord.at, CatalogFileEventRecord.id)
            ).all()
            lines = [FileEvent(as_utc(e.at), e.who, e.action, e.detail) for e in events]  # type: ignore[arg-type]
            # a blacklist is a consequence of rules marked bad: told from their reject
            # lines (a rule used by 80,000 contexts writes no 80,000 history lines)
            causes = [n for n in by if n != name]
            if causes:
                rejects = s.scalars(
                    select(CatalogFileEventRecord)
                    .where(
                        CatalogFileEventRecord.observatory == self.observatory,
                        CatalogFileEventRecord.name.in_(causes),
                        CatalogFileEventRecord.action == "reject",
                    )
                    .order_by(CatalogFileEventRecord.at, CatalogFileEventRecord.id)
                ).all()
                lines += [
                    FileEvent(as_utc(e.at), e.who, "blacklist", f"uses {e.name}: {e.detail}")  # type: ignore[arg-type]
                    for e in rejects
                ]
                lines.sort(key=lambda e: e.at)
        return _file_of(record, self, blacklisted_by=tuple(by), history=tuple(lines))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        with self.database.session() as s:
            return bool(
                s.scalar(
                    select(CatalogFileRecord.id).where(
                        CatalogFileRecord.observatory == self.observatory,
                        CatalogFileRecord.name == name,
                    )
                )
            )

    def __len__(self) -> int:
        with self.database.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(CatalogFileRecord)
                    .where(CatalogFileRecord.observatory == self.observatory)
                )
                or 0
            )

    def uses(self, name: str) -> builtins.list[str]:
        """The mappings that use file ``name``, up to the pmaps, sorted."""
        check_file_name(name)
        with self.database.session() as s:
            return sorted(graph.ancestors(s, self.observatory, [name]))

    def bad_files(self) -> builtins.list[str]:
        """The rejected files, sorted (what clients need: CRDS's ``bad_files_list``)."""
        with self.database.session() as s:
            return builtins.list(
                s.scalars(
                    select(CatalogFileRecord.name)
                    .where(
                        CatalogFileRecord.observatory == self.observatory,
                        CatalogFileRecord.rejected,
                    )
                    .order_by(CatalogFileRecord.name)
                )
            )

    def counts(self) -> dict[str, int]:
        """How many mappings, references and bad (rejected) files the catalog holds."""
        with self.database.session() as s:
            rows = s.execute(
                select(
                    CatalogFileRecord.type,
                    func.count(),
                    func.sum(
                        # a portable count of rejected rows
                        text("CASE WHEN rejected THEN 1 ELSE 0 END")
                    ),
                )
                .where(CatalogFileRecord.observatory == self.observatory)
                .group_by(CatalogFileRecord.type)
            ).all()
        out = {"mapping": 0, "reference": 0, "rejected": 0}
        for kind, n, bad in rows:
            out[kind] = int(n)
            out["rejected"] += int(bad or 0)
        return out

    # -- importing -------------------------------------------------------------------------
    def add_files(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        why: str = "",
        description: str = "",
        state: str = IMPORTED_STATE,
    ) -> builtins.list[str]:
        """Import mapping and reference files (files, folders, or a CRDS cache folder).

        All or nothing: every problem of the batch is reported at once and then nothing is
        kept. Checked: mapping syntax (read safely, never run) and embedded ``sha1sum``;
        the observatory; a file identical to one already cataloged under another name
        (its twin is named); a name already cataloged with other content; a mapping whose
        child mapping is neither in the batch nor in the catalog. A file already cataloged
        with the same content is skipped. See :mod:`.importing`.

        On a hub the gate reads the paths: give files in a folder it can read.

        Parameters
        ----------
        paths : path or list of paths
            Files and folders.
        why : str
            Why they are imported (the files' history and the audit trail say it).
        description : str
            What the files are, for references (mappings carry their own).
        state : str
            The state the files come in with (imported files are ``operational``).

        Returns
        -------
        list of str
            The names added, sorted.

        Raises
        ------
        CatalogError
            Any problem above (nothing was imported).
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        if not self.gate.remote:
            self._require_editor("import files")
            return self._add_files(
                [str(p) for p in paths], why=why, description=description, state=state
            )
        # on a hub the gate reads no path a caller names (it could name the gate's own
        # files and publish them in the store): the files travel as their bytes
        uploads = _uploads(importing.expand(paths), self.observatory)
        return self._add_uploads(uploads, why=why, description=description, state=state)

    @through_gate("catalog.add_files", target=_target)
    def _add_uploads(
        self, uploads: dict[str, str], *, why: str, description: str, state: str
    ) -> builtins.list[str]:
        """Import files sent as ``{name: base64 bytes}`` (what the gate receives)."""
        import base64
        import shutil
        import uuid

        self._require_editor("import files")
        self.store.ensure()
        incoming = Path(self.store.folder) / f".incoming-{uuid.uuid4().hex}"
        incoming.mkdir()
        try:
            for name, data in uploads.items():
                (incoming / check_file_name(name)).write_bytes(base64.b64decode(data))
            return self._add_files([str(incoming)], why=why, description=description, state=state)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)

    def _add_files(
        self, paths: builtins.list[str], *, why: str, description: str, state: str
    ) -> builtins.list[str]:
        """Import files this process reads (standalone, or the gate's own staging)."""
        self._require_editor("import files")
        if state not in STATES:
            raise CatalogError(f"{state!r} is not a file state; the states are {', '.join(STATES)}")
        items, problems = importing.read(importing.expand(paths), self.observatory)
        if not items and not problems:
            raise CatalogError(f"no files to import in {', '.join(str(p) for p in paths)}")
        self.store.ensure()
        placed: builtins.list[str] = []
        try:
            importing.stage(self.store, items)
            problems += importing.twins_in_batch(items)
            with self.database.session() as s:
                self._begin_write(s)
                new, more = self._check_against_catalog(s, items)
                problems += more
                if problems:
                    raise CatalogError("nothing was imported:\n- " + "\n- ".join(problems))
                for item in new:
                    assert item.staged is not None
                    if self.store.commit(item.staged):
                        placed.append(item.name)
                self._insert_files(s, new, description, state, why)
        except BaseException:
            for item in items:
                if item.staged is not None:
                    self.store.discard(item.staged)
            for name in placed:  # the rows rolled back: the files go too
                self.store.remove(name)
            raise
        for item in items:  # copies of files cataloged already (committed ones are gone)
            if item.staged is not None:
                self.store.discard(item.staged)
        return sorted(i.name for i in new)

    def _check_against_catalog(
        self, s: Session, items: builtins.list[importing.Incoming]
    ) -> tuple[builtins.list[importing.Incoming], builtins.list[str]]:
        """The items not cataloged yet, and the problems against what is cataloged."""
        problems: builtins.list[str] = []
        names = [i.name for i in items]
        sums = [i.staged.sha1sum for i in items if i.staged is not None]
        known: dict[str, str] = {}
        twins: dict[str, str] = {}
        for chunk in _chunks(names):
            for name, sha in s.execute(
                select(CatalogFileRecord.name, CatalogFileRecord.sha1sum).where(
                    CatalogFileRecord.observatory == self.observatory,
                    CatalogFileRecord.name.in_(chunk),
                )
            ):
                known[name] = sha
        for chunk in _chunks(sums):
            for name, sha in s.execute(
                select(CatalogFileRecord.name, CatalogFileRecord.sha1sum).where(
                    CatalogFileRecord.observatory == self.observatory,
                    CatalogFileRecord.sha1sum.in_(chunk),
                )
            ):
                twins[sha] = name
        new = []
        for item in items:
            assert item.staged is not None
            sha = item.staged.sha1sum
            if item.name in known:
                if known[item.name] != sha:
                    problems.append(
                        f"{item.name} is cataloged already with other content (sha1 "
                        f"{known[item.name]}, this one {sha}): a name is never reused; give "
                        "the new file a new name"
                    )
                continue  # the very same file: already there
            if sha in twins:
                problems.append(
                    f"{item.name} is identical to {twins[sha]}, cataloged already (sha1 {sha}); "
                    "a file is cataloged under one name only"
                )
                continue
            new.append(item)
        batch = {i.name for i in items}
        wanted = {c for i in new for c, t in i.children if t == "mapping" and c not in batch}
        present: set[str] = set()
        for chunk in _chunks(sorted(wanted)):
            present.update(
                s.scalars(
                    select(CatalogFileRecord.name).where(
                        CatalogFileRecord.observatory == self.observatory,
                        CatalogFileRecord.name.in_(chunk),
                    )
                )
            )
        for item in new:
            missing = [
                c
                for c, t in item.children
                if t == "mapping" and c not in batch and c not in present
            ]
            if missing:
                problems.append(
                    f"{item.name} names {', '.join(missing)}, which is neither in this import nor "
                    "in the catalog: import the whole context (its imaps and rmaps) together"
                )
        # references the batch brings whose rmap is cataloged already take its type and date
        orphans = [i for i in new if i.type == "reference" and not i.filekind]
        if orphans:
            self._describe_from_catalog(s, orphans)
        return new, problems

    def _describe_from_catalog(self, s: Session, refs: builtins.list[importing.Incoming]) -> None:
        by_name = {r.name: r for r in refs}
        rows = s.execute(
            select(
                CatalogEdgeRecord.child, CatalogFileRecord.instrument, CatalogFileRecord.filekind
            )
            .join(
                CatalogFileRecord,
                and_(
                    CatalogFileRecord.observatory == CatalogEdgeRecord.observatory,
                    CatalogFileRecord.name == CatalogEdgeRecord.parent,
                ),
            )
            .where(
                CatalogEdgeRecord.observatory == self.observatory,
                CatalogEdgeRecord.child.in_(list(by_name)),
            )
        )
        for child, instrument, filekind in rows:
            by_name[child].instrument, by_name[child].filekind = instrument, filekind

    def _insert_files(
        self,
        s: Session,
        items: builtins.list[importing.Incoming],
        description: str,
        state: str,
        why: str,
    ) -> None:
        now = utcnow()
        who = self.identity.name
        rows = []
        edges = []
        for item in items:
            assert item.staged is not None
            mapping = item.mapping
            rows.append(
                {
                    "observatory": self.observatory,
                    "name": item.name,
                    "type": item.type,
                    "kind": item.kind,
                    "instrument": item.instrument,
                    "filekind": item.filekind,
                    "size": item.staged.size,
                    "sha1sum": item.staged.sha1sum,
                    "state": state,
                    "rejected": False,
                    "blacklisted": False,
                    "derived_from": mapping.derived_from[:255] if mapping is not None else "",
                    "description": str(mapping.header.get("description", ""))
                    if mapping is not None
                    else description,
                    "deliverer": who,
                    "uploaded_as": item.source.name,
                    "added_at": now,
                    "delivery_date": now,
                    "activation_date": now if state == "operational" else None,
                    "useafter_date": item.useafter,
                }
            )
            edges += [
                {"observatory": self.observatory, "parent": item.name, "child": c, "child_type": t}
                for c, t in item.children
            ]
        if rows:
            s.execute(insert(CatalogFileRecord), rows)
        if edges:
            s.execute(insert(CatalogEdgeRecord), edges)
        self._log(s, "add", [i.name for i in items], why or description or "imported")
        self._mirror(s, [i.name for i in items])

    # -- counters --------------------------------------------------------------------------
    def _mirror(self, s: Session, names: Iterable[str]) -> None:
        """Raise each series' counter to at least the serials of ``names`` (CRDS's mirror)."""
        highest: dict[str, int] = {}
        for name in names:
            number = naming.serial(name)
            if number is not None:
                key = naming.series(name)
                highest[key] = max(highest.get(key, 0), number)
        for key, number in highest.items():
            self._counter_at_least(s, key, number)

    def _counter_at_least(self, s: Session, series: str, number: int) -> int:
        row = s.scalars(
            select(CatalogCounterRecord)
            .where(
                CatalogCounterRecord.observatory == self.observatory,
                CatalogCounterRecord.series == series,
            )
            .with_for_update()  # SELECT ... FOR UPDATE on PostgreSQL; SQLite holds the writer lock
        ).first()
        if row is None:
            s.add(CatalogCounterRecord(observatory=self.observatory, series=series, counter=number))
            s.flush()
            return number
        if row.counter < number:
            row.counter = number
            s.flush()
        return int(row.counter)

    @through_gate("catalog.next_name", target=_target)
    def next_name(self, series: str) -> str:
        """The next official name of ``series`` (e.g. ``"roman_wfi_flat.rmap"``, or any
        name of it): its counter is raised past every serial already cataloged, then
        taken, so two callers never get the same name.

        Raises
        ------
        CatalogError
            ``series`` is not a name series (``<obs>[_<instr>[_<kind>]].<ext>``).
        """
        self._require_editor("take new file names")
        key = naming.series(check_file_name(series))
        match = re.match(r"^(?P<stem>.+)(?P<ext>\.[A-Za-z0-9]+)$", key)
        if match is None or (
            not key.startswith(self.observatory + "_")
            and not key.startswith(self.observatory + ".")
        ):
            raise CatalogError(
                f"{series!r} is not a name series of the {self.observatory} catalog, e.g. "
                f"'{self.observatory}_wfi_flat.rmap' or '{self.observatory}.pmap'"
            )
        with self.database.session() as s:
            self._begin_write(s)
            like = _glob_to_like(match["stem"]) + "\\_%" + _glob_to_like(match["ext"])
            present = s.scalars(
                select(CatalogFileRecord.name).where(
                    CatalogFileRecord.observatory == self.observatory,
                    CatalogFileRecord.name.like(like, escape="\\"),
                )
            )
            floor = max(
                (naming.serial(n) or 0 for n in present if naming.series(n) == key), default=0
            )
            number = self._counter_at_least(s, key, floor) + 1
            s.execute(
                update(CatalogCounterRecord)
                .where(
                    CatalogCounterRecord.observatory == self.observatory,
                    CatalogCounterRecord.series == key,
                )
                .values(counter=number)
            )
        return f"{match['stem']}_{number:04d}{match['ext']}"

    # -- contexts --------------------------------------------------------------------------
    def context(self, kind: str = "latest") -> str | None:
        """The pmap a context pointer (``latest``, ``edit``, ``build``) points at, or None."""
        if kind not in CONTEXT_KINDS:
            raise CatalogError(
                f"{kind!r} is not a context pointer; they are {', '.join(CONTEXT_KINDS)}"
            )
        with self.database.session() as s:
            return s.scalar(
                select(CatalogContextRecord.context).where(
                    CatalogContextRecord.observatory == self.observatory,
                    CatalogContextRecord.kind == kind,
                )
            )

    def contexts(self) -> dict[str, str]:
        """Every context pointer that is set: ``{"latest": ..., "edit": ...}``."""
        with self.database.session() as s:
            rows = s.execute(
                select(CatalogContextRecord.kind, CatalogContextRecord.context).where(
                    CatalogContextRecord.observatory == self.observatory
                )
            ).all()
        pairs = [(str(kind), str(pmap)) for kind, pmap in rows]
        return dict(sorted(pairs, key=lambda pair: CONTEXT_KINDS.index(pair[0])))

    def _resolve(self, context: str | None) -> str:
        if context is None or context in CONTEXT_KINDS:
            kind = context or "latest"
            pmap = self.context(kind)
            if pmap is None:
                raise CatalogError(
                    f"the {self.observatory} catalog has no {kind} context yet: set it with "
                    f"cat.set_context({kind!r}, '<name>.pmap', why=...), or name a pmap"
                )
            return pmap
        if naming.mapping_kind(context) != "pipeline":
            raise CatalogError(
                f"{context!r} is not a context: give a .pmap name or one of "
                + ", ".join(CONTEXT_KINDS)
            )
        return context

    @through_gate("catalog.set_context", target=_target)
    def set_context(
        self, kind: str, context: str, *, why: str, when: datetime | str | None = None
    ) -> None:
        """Point ``kind`` (``latest``, ``edit`` or ``build``) at pmap ``context``.

        Each change is a row of the context history (who, when, why). Making a context
        latest makes its files ``operational`` (those ``archived``) and the files of the
        previous latest context no longer in use ``archived``, as CRDS's server does.

        Parameters
        ----------
        kind : str
            ``latest``, ``edit`` or ``build``.
        context : str
            A ``.pmap`` of the catalog.
        why : str
            The reason, for the history.
        when : datetime, optional
            When the change took effect, for recording a past change (an import of a
            server's history, a demo); not in the future. The pointer follows it unless
            a later change is recorded. Default: now.

        Raises
        ------
        CatalogError
            Not a pmap of the catalog, a context with a missing mapping, a context that
            contains a rejected mapping, a file not delivered yet, or no reason given.
        """
        self._require_editor("set contexts")
        if kind not in CONTEXT_KINDS:
            raise CatalogError(
                f"{kind!r} is not a context pointer; they are {', '.join(CONTEXT_KINDS)}"
            )
        if not why or not str(why).strip():
            raise CatalogError(
                "say why the context changes (why=...): it goes in the context history"
            )
        if naming.mapping_kind(context) != "pipeline":
            raise CatalogError(f"{context!r} is not a pipeline context (.pmap)")
        now = utcnow()
        at = (
            now
            if when is None
            else _aware(datetime.fromisoformat(when) if isinstance(when, str) else when)
        )
        if at > now:
            raise CatalogError(
                f"a context change cannot be dated in the future ({at:%Y-%m-%d %H:%M})"
            )
        record = self._record(context)
        if record.state in ("uploaded", "cancelled"):
            raise CatalogError(f"{context} is {record.state}: only delivered contexts can be set")
        with self.database.session() as s:
            self._begin_write(s)
            holes = graph.missing_children(s, self.observatory, [context])
            if holes:
                raise CatalogError(
                    f"{context} cannot be a context: "
                    + "; ".join(f"{p} names {c}, which the catalog lacks" for p, c in holes)
                )
            bad = graph.rejected_inside(s, self.observatory, context)
            if bad:
                raise CatalogError(
                    f"{context} contains files marked bad ({', '.join(bad)}): make a context "
                    "without them first"
                )
            pointer = s.get(CatalogContextRecord, (self.observatory, kind))
            previous = pointer.context if pointer is not None else ""
            current = pointer is None or at >= _aware(pointer.changed_at)
            if pointer is None:
                s.add(
                    CatalogContextRecord(
                        observatory=self.observatory,
                        kind=kind,
                        context=context,
                        changed_by=self.identity.name,
                        changed_at=at,
                    )
                )
            elif current:
                pointer.context, pointer.changed_by = context, self.identity.name
                pointer.changed_at = at
            s.add(
                CatalogContextHistoryRecord(
                    observatory=self.observatory,
                    kind=kind,
                    context=context,
                    previous=previous,
                    at=at,
                    who=self.identity.name,
                    why=str(why),
                )
            )
            self._log(s, f"set {kind}", [context], str(why), audit=False)
            if kind == "latest" and current and previous != context:
                self._activate(s, context, previous, at)
        self._forget_contexts()

    def _activate(self, s: Session, context: str, previous: str, now: datetime) -> None:
        """archived ↔ operational for the files entering and leaving the latest context."""
        entering = graph.closure(s, self.observatory, [context])
        leaving = graph.closure(s, self.observatory, [previous]) - entering if previous else set()
        for chunk in _chunks(sorted(entering)):
            s.execute(
                update(CatalogFileRecord)
                .where(
                    CatalogFileRecord.observatory == self.observatory,
                    CatalogFileRecord.name.in_(chunk),
                    CatalogFileRecord.state == "archived",
                )
                .values(state="operational")
            )
            s.execute(
                update(CatalogFileRecord)
                .where(
                    CatalogFileRecord.observatory == self.observatory,
                    CatalogFileRecord.name.in_(chunk),
                    CatalogFileRecord.activation_date.is_(None),
                )
                .values(activation_date=now)
            )
        for chunk in _chunks(sorted(leaving)):
            s.execute(
                update(CatalogFileRecord)
                .where(
                    CatalogFileRecord.observatory == self.observatory,
                    CatalogFileRecord.name.in_(chunk),
                    CatalogFileRecord.state == "operational",
                )
                .values(state="archived")
            )

    def context_history(
        self,
        kind: str | None = "latest",
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> ContextHistory:
        """Changes of a context pointer (every pointer with ``kind=None``), newest first,
        optionally between two dates."""
        query = select(CatalogContextHistoryRecord).where(
            CatalogContextHistoryRecord.observatory == self.observatory
        )
        if kind is not None:
            query = query.where(CatalogContextHistoryRecord.kind == kind)
        if since is not None:
            query = query.where(CatalogContextHistoryRecord.at >= _aware(since))
        if until is not None:
            query = query.where(CatalogContextHistoryRecord.at <= _aware(until))
        query = query.order_by(
            CatalogContextHistoryRecord.at.desc(), CatalogContextHistoryRecord.id.desc()
        )
        if limit is not None:
            query = query.limit(max(1, int(limit)))
        with self.database.session() as s:
            rows = s.scalars(query).all()
            return ContextHistory(
                ContextChange(as_utc(r.at), r.kind, r.context, r.previous, r.who, r.why)  # type: ignore[arg-type]
                for r in rows
            )

    def context_at(self, when: datetime, kind: str = "latest") -> str | None:
        """The pmap ``kind`` pointed at, at time ``when`` (naive times are UTC); None
        before its first setting."""
        with self.database.session() as s:
            return s.scalar(
                select(CatalogContextHistoryRecord.context)
                .where(
                    CatalogContextHistoryRecord.observatory == self.observatory,
                    CatalogContextHistoryRecord.kind == kind,
                    CatalogContextHistoryRecord.at <= _aware(when),
                )
                .order_by(
                    CatalogContextHistoryRecord.at.desc(), CatalogContextHistoryRecord.id.desc()
                )
                .limit(1)
            )

    # -- best references -------------------------------------------------------------------
    def _load_mapping(self, name: str) -> Any:
        from shiftdesk.catalog.mappings import parse_mapping

        path = self.store.path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CatalogError(
                f"{name} is not in the {self.observatory} catalog's store ({path}); "
                "import it (cat.add_files) or run cat.check_defects()"
            ) from None
        return parse_mapping(data, name)

    def load_context(self, context: str | None = None) -> Context:
        """The rules of a context (a pmap name, a pointer, None for latest), loaded from
        the store and kept for the next call."""
        from shiftdesk.catalog.selection import Context

        pmap = self._resolve(context)
        key = (str(self.folder), pmap)
        with _cache_lock:
            found = _CONTEXT_CACHE.get(key)
            if found is not None:
                _CONTEXT_CACHE.move_to_end(key)
                return found
        loaded = Context.load(pmap, self._load_mapping)
        with _cache_lock:
            _CONTEXT_CACHE[key] = loaded
            while len(_CONTEXT_CACHE) > _CONTEXT_CACHE_SIZE:
                _CONTEXT_CACHE.popitem(last=False)
        return loaded

    def _forget_contexts(self) -> None:
        # contexts do not change under a name, but a repaired store may differ: start over
        with _cache_lock:
            for key in [k for k in _CONTEXT_CACHE if k[0] == str(self.folder)]:
                del _CONTEXT_CACHE[key]

    def best_references(
        self,
        header: dict[str, Any],
        context: str | None = None,
        reftypes: Sequence[str] | None = None,
        *,
        allow_bad_rules: bool = False,
        allow_bad_references: bool = False,
    ) -> dict[str, str]:
        """The best reference of each type for an exposure ``header``, as the CRDS client
        answers: ``{"dark": "roman_wfi_dark_0001.asdf", "flat": "NOT FOUND No match found."}``.

        Parameters
        ----------
        header : dict
            Header keywords (any case), e.g. ``{"ROMAN.META.INSTRUMENT.NAME": "WFI", ...}``.
        context : str, optional
            A pmap name, or ``latest`` (the default), ``edit`` or ``build``.
        reftypes : list of str, optional
            Only these types (default: every type of the instrument).
        allow_bad_rules : bool
            Answer from a context containing a rejected mapping (with a warning).
        allow_bad_references : bool
            Recommend rejected reference files (with a warning).

        Raises
        ------
        CatalogError
            No such context, a context with a rejected mapping, or a rejected reference
            recommended, unless allowed.
        """
        loaded = self.load_context(context)
        bad = set(self.bad_files())
        bad_rules = sorted(bad & set(loaded.mappings))
        if bad_rules:
            message = (
                f"context {loaded.pmap} contains rules marked bad: {', '.join(bad_rules)}. "
                "Use a context without them (cat.context('latest')), or pass "
                "allow_bad_rules=True to use it anyway"
            )
            if not allow_bad_rules:
                raise CatalogError(message)
            warnings.warn(message, BadFileWarning, stacklevel=2)
        result = loaded.best_references(header, reftypes)
        bad_refs = sorted({v for v in result.values() if v in bad})
        if bad_refs:
            message = (
                f"context {loaded.pmap} recommends files marked bad: {', '.join(bad_refs)}. "
                "Use a newer context, or pass allow_bad_references=True to use them anyway"
            )
            if not allow_bad_references:
                raise CatalogError(message)
            warnings.warn(message, BadFileWarning, stacklevel=2)
        return result

    # -- bad files -------------------------------------------------------------------------
    def _existing(self, s: Session, names: Sequence[str]) -> dict[str, CatalogFileRecord]:
        for name in names:
            check_file_name(name)
        found: dict[str, CatalogFileRecord] = {}
        for chunk in _chunks(builtins.list(names)):
            for record in s.scalars(
                select(CatalogFileRecord).where(
                    CatalogFileRecord.observatory == self.observatory,
                    CatalogFileRecord.name.in_(chunk),
                )
            ):
                found[record.name] = record
        missing = [n for n in names if n not in found]
        if missing:
            raise NotFound(f"the {self.observatory} catalog has no file {', '.join(missing)}")
        return found

    @through_gate("catalog.mark_bad", target=_target)
    def mark_bad(self, names: str | Sequence[str], *, why: str) -> builtins.list[str]:
        """Mark files bad: each is *rejected*, and it and every mapping using it
        *blacklisted* (a recursive query up the edges), in one transaction with an audit
        entry per file.

        Refused while the latest context uses one of them. CRDS's procedure: make a
        context without the file, make it latest with :meth:`set_context`, then mark the
        file bad.

        Returns
        -------
        list of str
            The files newly blacklisted (the marked ones included), sorted.

        Raises
        ------
        CatalogError
            The latest context uses a file, or no reason was given.
        NotFound
            A name the catalog does not hold.
        """
        self._require_editor("mark files bad")
        names = [names] if isinstance(names, str) else builtins.list(dict.fromkeys(names))
        if not names:
            return []
        if not why or not str(why).strip():
            raise CatalogError(
                "say why the files are bad (why=...): clients and the history show it"
            )
        with self.database.session() as s:
            self._begin_write(s)
            records = self._existing(s, names)
            latest = s.scalar(
                select(CatalogContextRecord.context).where(
                    CatalogContextRecord.observatory == self.observatory,
                    CatalogContextRecord.kind == "latest",
                )
            )
            # walking down the latest context is small (one context's files), walking up
            # from a widely used rule is not
            roots = [latest] if latest else []
            inside = sorted(set(names) & graph.closure(s, self.observatory, roots))
            if inside:
                raise CatalogError(
                    f"{', '.join(inside)} {'is' if len(inside) == 1 else 'are'} used by the "
                    f"latest context {latest}, so clients would be refused it. First make a "
                    "context without it (submit a replacement, or derive a new pmap that "
                    "leaves it out), make that context latest with "
                    "cat.set_context('latest', '<new>.pmap', why=...), then mark it bad"
                )
            # the blacklist climbs from rejected mappings only: a bad reference taints no rules
            rules = [n for n in names if records[n].type == "mapping"]
            fresh = graph.blacklist(s, self.observatory, names, rules)
            s.execute(
                update(CatalogFileRecord)
                .where(
                    CatalogFileRecord.observatory == self.observatory,
                    CatalogFileRecord.name.in_(names),
                )
                .values(rejected=True)
            )
            self._log(s, "reject", names, str(why))
            tainted = [n for n in fresh if n not in set(names)]
            # the tainted files' histories tell it from the reject lines (see file()); the
            # audit trail gets one entry for them all (a rule used by 80,000 contexts would
            # otherwise write 80,000 history lines and as many audit rows)
            if tainted:
                shown = ", ".join(tainted[:20]) + (" ..." if len(tainted) > 20 else "")
                _bulk_insert(
                    s.connection(),
                    "audit_log",
                    ("at", "actor", "action", "target", "outcome", "detail", "via"),
                    [(_driver_time(s.connection(), utcnow()), self.identity.name[:255],
                      "catalog.blacklist", f"{self.observatory} {len(tainted)} files", "ok",
                      f"uses {', '.join(names)}: {why}; {shown}"[:4000], self._via)],
                )  # fmt: skip
        return fresh

    @through_gate("catalog.unmark_bad", target=_target)
    def unmark_bad(self, names: str | Sequence[str], *, why: str) -> builtins.list[str]:
        """Take files off the bad list: no longer rejected, and the blacklist cleared from
        them and the mappings using them, where no other rejected file remains inside.

        Returns
        -------
        list of str
            The files whose blacklist was cleared, sorted.
        """
        self._require_editor("unmark bad files")
        names = [names] if isinstance(names, str) else builtins.list(dict.fromkeys(names))
        if not why or not str(why).strip():
            raise CatalogError("say why the files are good again (why=...)")
        with self.database.session() as s:
            self._begin_write(s)
            self._existing(s, names)
            s.execute(
                update(CatalogFileRecord)
                .where(
                    CatalogFileRecord.observatory == self.observatory,
                    CatalogFileRecord.name.in_(names),
                )
                .values(rejected=False)
            )
            affected = graph.ancestors(s, self.observatory, names) | set(names)
            still_rejected = s.execute(
                select(CatalogFileRecord.name, CatalogFileRecord.type).where(
                    CatalogFileRecord.observatory == self.observatory, CatalogFileRecord.rejected
                )
            ).all()
            rules = [n for n, t in still_rejected if t == "mapping"]
            still = {n for n, _ in still_rejected} | graph.ancestors(s, self.observatory, rules)
            cleared = sorted(affected - still)
            blacklisted: set[str] = set()
            for chunk in _chunks(cleared):
                blacklisted.update(
                    s.scalars(
                        select(CatalogFileRecord.name).where(
                            CatalogFileRecord.observatory == self.observatory,
                            CatalogFileRecord.name.in_(chunk),
                            CatalogFileRecord.blacklisted,
                        )
                    )
                )
                s.execute(
                    update(CatalogFileRecord)
                    .where(
                        CatalogFileRecord.observatory == self.observatory,
                        CatalogFileRecord.name.in_(chunk),
                    )
                    .values(blacklisted=False)
                )
            self._log(s, "unreject", names, str(why))
            self._log(s, "unblacklist", sorted(blacklisted - set(names)), str(why))
        return sorted(blacklisted)

    # -- states ----------------------------------------------------------------------------
    @through_gate("catalog.set_state", target=_target)
    def set_state(self, names: str | Sequence[str], state: str, *, why: str = "") -> None:
        """Move files to ``state`` (see :data:`~shiftdesk.catalog.records.TRANSITIONS`).

        Raises
        ------
        CatalogError
            A transition that is not allowed (nothing is changed).
        """
        self._require_editor("change file states")
        names = [names] if isinstance(names, str) else builtins.list(dict.fromkeys(names))
        with self.database.session() as s:
            self._begin_write(s)
            records = self._existing(s, names)
            for name in names:
                check_transition(name, records[name].state, state)
            now = utcnow()
            for name in names:
                record = records[name]
                record.state = state
                if state == "delivered" and record.delivery_date is None:
                    record.delivery_date = now
                if state == "operational" and record.activation_date is None:
                    record.activation_date = now
            self._log(s, f"state {state}", names, why)

    # -- browsing --------------------------------------------------------------------------
    def browse(
        self,
        *,
        instrument: str | None = None,
        filekind: str | None = None,
        state: str | None = None,
        type: str | None = None,
        bad: bool | None = None,
        name: str | None = None,
        added_after: datetime | None = None,
        added_before: datetime | None = None,
        sort: str = "name",
        descending: bool = False,
        limit: int | None = 100,
        offset: int = 0,
    ) -> pd.DataFrame:
        """The catalog's files as a table, filtered and sorted.

        Parameters
        ----------
        instrument, filekind : str, optional
            E.g. ``"WFI"``, ``"FLAT"`` (any case).
        state : str, optional
            One of :data:`~shiftdesk.catalog.records.STATES`.
        type : str, optional
            ``"mapping"`` or ``"reference"``.
        bad : bool, optional
            Only bad files (rejected or blacklisted), or only good ones.
        name : str, optional
            A glob on the name, e.g. ``"*flat*.rmap"``.
        added_after, added_before : datetime, optional
            When files were added.
        sort : str
            ``name``, ``added``, ``size``, ``state``, ``instrument``, ``filekind``,
            ``type`` or a date column.
        descending : bool
            Newest / largest / last first.
        limit : int, optional
            At most this many rows (None: all).
        offset : int
            Skip this many first.
        """
        import pandas as pd

        if sort not in _SORTS:
            raise CatalogError(f"cannot sort by {sort!r}; sort by one of {', '.join(_SORTS)}")
        if state is not None and state not in STATES:
            raise CatalogError(f"{state!r} is not a file state; the states are {', '.join(STATES)}")
        if type is not None and type not in FILE_TYPES:
            raise CatalogError(f"type is 'mapping' or 'reference', not {type!r}")
        f = CatalogFileRecord
        query = select(*_BROWSE_SELECT).where(f.observatory == self.observatory)
        if instrument is not None:
            query = query.where(f.instrument == instrument.upper())
        if filekind is not None:
            query = query.where(f.filekind == filekind.upper())
        if state is not None:
            query = query.where(f.state == state)
        if type is not None:
            query = query.where(f.type == type)
        if bad is True:
            query = query.where(or_(f.rejected, f.blacklisted))
        elif bad is False:
            query = query.where(~f.rejected, ~f.blacklisted)
        if name is not None:
            query = query.where(f.name.like(_glob_to_like(name), escape="\\"))
        if added_after is not None:
            query = query.where(f.added_at >= _aware(added_after))
        if added_before is not None:
            query = query.where(f.added_at <= _aware(added_before))
        column = _SORTS[sort]
        query = query.order_by(column.desc() if descending else column.asc())
        if sort != "name":
            query = query.order_by(f.name)
        if limit is not None:
            query = query.limit(max(0, int(limit)))
        if offset:
            query = query.offset(int(offset))
        with self.database.engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pd.DataFrame.from_records(rows, columns=builtins.list(BROWSE_COLUMNS))
        for col in ("added", "delivery_date", "activation_date", "useafter_date"):
            frame[col] = pd.to_datetime(frame[col], utc=True)
        frame["rejected"] = frame["rejected"].astype(bool)
        frame["blacklisted"] = frame["blacklisted"].astype(bool)
        return frame

    # -- export ----------------------------------------------------------------------------
    def export(self, path: str | Path) -> Path:
        """Write the catalog to ``path``: ``.sqlite``/``.db`` (tables
        ``crds_<obs>_catalog``, ``crds_<obs>_context_history``, ``crds_<obs>_edges``, the
        shape of CRDS's ``--fetch-sqlite-db``) or ``.parquet`` (the files; the history and
        edges beside it as ``<stem>_context_history.parquet`` and ``<stem>_edges.parquet``).

        Raises
        ------
        CatalogError
            Another suffix, or Parquet without ``pyarrow`` installed.
        """
        from shiftdesk.catalog import export as _export

        return _export.export(self, Path(path))

    # -- showing ---------------------------------------------------------------------------
    def widget(self) -> Any:
        """The catalog's dashboard (needs ``shiftdesk[widgets]``)."""
        from shiftdesk._views import view

        return view(self)

    def __repr__(self) -> str:
        try:
            counts = self.counts()
            pointers = self.contexts()
        except Exception:  # a repr never raises
            return f"Catalog({self.observatory!r})"
        text_ = (
            f"Catalog({self.observatory!r}): {counts['mapping']} mappings, "
            f"{counts['reference']} references, {counts['rejected']} bad"
        )
        for kind, pmap in pointers.items():
            text_ += f"\n  {kind}: {pmap}"
        return text_ + f"\n  store: {self.folder}"

    def _repr_html_(self) -> str:
        counts = self.counts()
        pointers = self.contexts()
        rows = [[kind, pmap] for kind, pmap in pointers.items()] or [["contexts", "none set yet"]]
        rows += [
            ["mappings", f"{counts['mapping']:,}"],
            ["references", f"{counts['reference']:,}"],
            ["bad (rejected)", f"{counts['rejected']:,}"],
            ["store", str(self.folder)],
            [
                "editors",
                f"group {self.editor_group}; " + (", ".join(self.editors) or "no one else"),
            ],
        ]
        locks = self.locks()
        if locks:
            rows.append(["locks", "; ".join(str(lock) for lock in locks)])
        title = f"{self.observatory} {self.description}".strip()
        return html_repr("Catalog", title, repr(self), html_table(rows))


def _driver_time(conn: Connection, when: datetime) -> Any:
    """``when`` as the driver stores it for a ``DateTime(timezone=True)`` column (SQLite:
    SQLAlchemy's text form, in UTC; PostgreSQL: the aware datetime)."""
    if conn.dialect.name == "sqlite":
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return when


def _bulk_insert(
    conn: Connection, table: str, columns: Sequence[str], rows: builtins.list[tuple[Any, ...]]
) -> None:
    """``executemany`` at the driver (no per-row statement compiling): a blacklist may write
    a history line and an audit row for each of tens of thousands of files."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    conn.exec_driver_sql(sql, rows)


#: the most one import sends to the gate (its bytes travel in one request)
MAX_IMPORT_BYTES = 512 * 1024 * 1024


def _uploads(files: Sequence[Path], observatory: str) -> dict[str, str]:
    """``{name: base64 bytes}`` of the files an import names (read by the caller)."""
    import base64

    found = importing._cache_files(builtins.list(files), observatory)
    out: dict[str, str] = {}
    total = 0
    for path in found:
        if path.name in out:
            raise CatalogError(
                f"two files named {path.name} are given ({path}); a catalog holds one file "
                "per name: import them separately"
            )
        total += path.stat().st_size
        if total > MAX_IMPORT_BYTES:
            raise CatalogError(
                f"the files come to more than {MAX_IMPORT_BYTES // 2**20} MB: import them in "
                "smaller batches (or ask an administrator to import a whole cache on the "
                "gate's host)"
            )
        out[path.name] = base64.b64encode(path.read_bytes()).decode("ascii")
    if not out:
        raise CatalogError("no files to import in what was given")
    return out


def _aware(when: datetime) -> datetime:
    return as_utc(when)  # type: ignore[return-value]


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[builtins.list[str]]:
    """``items`` in slices (SQLite limits the variables of one statement)."""
    items = builtins.list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]
