"""Deliveries of confirmed files to an archive pipeline, each with an explicit state.

CRDS's server hands confirmed files to the archive pipeline through a shared folder
(notes §1.9): it links the files there and writes a manifest ``opus_<id>_<op>.cat``
(lines ``<file> <I or D> <kind>``); the pipeline then renames the manifest as it works:
``.cat`` delivered, ``.cat_SUBMIT`` submitted, ``.cat_PROC`` archiving, ``.cat_ERROR``
archiving-failed, and removes it once the files are archived. The server re-read the
folder on every page; here the state is a row of its own
(:class:`~shiftdesk.catalog.records.CatalogDeliveryRecord`), and
:meth:`DeliveriesMixin.poll_deliveries` brings it (and its files' states) up to what
the pipeline shows, one allowed transition at a time.

The folder a catalog delivers to is an administrator's setting
(:meth:`DeliveriesMixin.set_delivery_folder`), read by the gate from the database: no
caller names where the gate writes. A catalog without the setting delivers nowhere: its
confirmed files stay ``delivered``.

:class:`DeliveryProtocol` is what a delivery needs of the other side (send, report a
state, take back); :class:`DirectoryRenameProtocol` is the adapter for the
directory-rename protocol above.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, cast

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from shiftdesk.catalog import graph, naming
from shiftdesk.catalog.records import (
    ACTIVE_STATES,
    TRANSITIONS,
    CatalogContextRecord,
    CatalogCounterRecord,
    CatalogDeliveryRecord,
    CatalogDeliverySettingRecord,
    CatalogFileRecord,
    check_transition,
)
from shiftdesk.display import html_repr
from shiftdesk.display import table as html_table
from shiftdesk.errors import CatalogError, NotFound, PermissionDenied
from shiftdesk.gate.forward import through_gate
from shiftdesk.storage.models import AuditRecord
from shiftdesk.tracking import as_utc, utcnow

if TYPE_CHECKING:
    from shiftdesk.catalog.catalog import Catalog
    from shiftdesk.catalog.store import ContentStore
    from shiftdesk.identity import Identity
    from shiftdesk.storage import Database

__all__ = [
    "DeliveriesMixin",
    "Delivery",
    "DeliveryProtocol",
    "DirectoryRenameProtocol",
    "Outgoing",
    "walk",
]

#: the states in which a delivery is still the pipeline's (polled until it settles)
OPEN_STATES = ("delivered", "submitted", "archiving", "archiving-failed")
#: the name of the counter series numbering a catalog's deliveries (CRDS's ``delivery_id``)
SERIAL_SERIES = "delivery_id"


def walk(old: str, new: str) -> builtins.list[str] | None:
    """The states from ``old`` to ``new``, each an allowed transition (``[]`` when equal;
    None when ``new`` cannot be reached), shortest first: a pipeline that skipped a state
    (``.cat`` straight to ``.cat_PROC``) still moves a file through every one."""
    if old == new:
        return []
    seen = {old}
    queue: deque[tuple[str, builtins.list[str]]] = deque([(old, [])])
    while queue:
        state, path = queue.popleft()
        for step in sorted(TRANSITIONS.get(state, frozenset())):
            if step in seen:
                continue
            if step == new:
                return [*path, step]
            seen.add(step)
            queue.append((step, [*path, step]))
    return None


class Outgoing(NamedTuple):
    """A file to deliver: its catalog name, where it is (the store), M(apping) or R(eference)."""

    name: str
    source: Path
    kind: str


# -- the protocol -------------------------------------------------------------------------


class DeliveryProtocol(ABC):
    """How deliveries reach an archive pipeline and how their state is read back."""

    #: the name stored with each delivery
    name: ClassVar[str]

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`CatalogError` unless a delivery can be sent now."""

    @abstractmethod
    def send(self, serial: int, operation: str, files: Sequence[Outgoing]) -> str:
        """Send a delivery whole, or nothing of it; its handle (what :meth:`state` takes).

        Raises
        ------
        CatalogError
            It could not be sent (nothing of it is left on the other side).
        """

    @abstractmethod
    def state(self, handle: str) -> str:
        """The state the pipeline shows for delivery ``handle`` (one of the file states).

        Raises
        ------
        CatalogError
            The state cannot be read now (the catalog then keeps what it knew).
        """

    @abstractmethod
    def withdraw(self, handle: str, names: Sequence[str]) -> None:
        """Take back a delivery the pipeline has not taken (or that failed).

        Raises
        ------
        CatalogError
            The pipeline has it (nothing was changed).
        """

    def finish_withdrawal(self, handle: str) -> None:  # noqa: B027 (optional step)
        """Forget what :meth:`withdraw` left to mark the withdrawal (once it is recorded)."""


#: the manifest's suffix for each state the pipeline shows, most advanced first
_SUFFIXES = (
    (".cat_ERROR", "archiving-failed"),
    (".cat_PROC", "archiving"),
    (".cat_SUBMIT", "submitted"),
    (".cat", "delivered"),
)
_WITHDRAWN = ".withdrawn"


class DirectoryRenameProtocol(DeliveryProtocol):
    """CRDS's directory-rename protocol on a delivery folder the pipeline watches.

    :meth:`send` links each file into the folder (``os.link``; a copy, written under a
    hidden name and renamed into place, where links cannot be made, e.g. across file
    systems), then writes the manifest ``opus_<serial>_<op>.cat`` last, under a hidden
    name renamed into place, so the pipeline never sees half a delivery. Manifest lines
    are ``<file> <I or D> <M or R>`` (mapping or reference).

    :meth:`state` reads the manifest's suffix; a manifest that is gone means archived,
    but only while the folder itself is there (an unmounted folder is an error, never
    "archived").
    """

    name = "directory-rename"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"DirectoryRenameProtocol({str(self.folder)!r})"

    @staticmethod
    def manifest(serial: int, operation: str) -> str:
        """The manifest's name for delivery ``serial`` of ``operation`` (I or D)."""
        return f"opus_{int(serial)}_{operation.lower()}.cat"

    def check(self) -> None:
        """Raise :class:`CatalogError` unless the folder exists and can be written."""
        if not self.folder.is_dir():
            raise CatalogError(
                f"the delivery folder {self.folder} does not exist (or is not a folder), so "
                "nothing was delivered: an administrator makes it, or sets another with "
                "cat.set_delivery_folder(...)"
            )
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise CatalogError(
                f"the delivery folder {self.folder} cannot be written by {_account()}, so "
                "nothing was delivered: an administrator gives that account write access, "
                "or sets another folder with cat.set_delivery_folder(...)"
            )

    def _stem(self, handle: str) -> str:
        if not handle.endswith(".cat") or "/" in handle or handle.startswith("."):
            raise CatalogError(f"{handle!r} is not a delivery manifest's name")
        return handle[: -len(".cat")]

    def send(self, serial: int, operation: str, files: Sequence[Outgoing]) -> str:
        """Link the files and write the manifest (see the class docstring)."""
        if operation not in ("I", "D"):
            raise CatalogError(f"a delivery inserts (I) or deletes (D), not {operation!r}")
        self.check()
        handle = self.manifest(serial, operation)
        stem = self._stem(handle)
        taken = [self.folder / (stem + suffix) for suffix, _ in _SUFFIXES]
        if any(p.exists() for p in taken):
            raise CatalogError(
                f"the delivery folder {self.folder} holds a manifest of delivery {serial} "
                "already; nothing was delivered (ask an administrator to look at the folder)"
            )
        made: builtins.list[Path] = []
        temp: Path | None = None
        try:
            for item in files:
                target = self.folder / item.name
                if target.exists() or target.is_symlink():
                    if _same_file(item.source, target):
                        continue
                    raise CatalogError(
                        f"the delivery folder {self.folder} holds another {item.name}; "
                        "nothing was delivered"
                    )
                _link_or_copy(item.source, target)
                made.append(target)
            lines = "".join(f"{i.name} {operation} {i.kind}\n" for i in files)
            fd, temp_name = tempfile.mkstemp(prefix=f".{handle}.", dir=self.folder)
            temp = Path(temp_name)
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(lines)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o644)  # the pipeline runs as its own account
            os.replace(temp, self.folder / handle)  # the delivery appears whole, at once
            temp = None
        except BaseException as exc:
            if temp is not None:
                temp.unlink(missing_ok=True)
            for path in made:
                with contextlib.suppress(OSError):
                    path.unlink()
            if isinstance(exc, OSError):
                raise CatalogError(
                    f"delivering to {self.folder} failed ({exc.strerror or exc}); nothing of "
                    "the delivery was left there"
                ) from exc
            raise
        return handle

    def state(self, handle: str) -> str:
        """The manifest's state: its suffix, ``archived`` when it is gone, ``cancelled``
        when it was withdrawn."""
        stem = self._stem(handle)
        if not self.folder.is_dir():
            raise CatalogError(
                f"the delivery folder {self.folder} is not there (unmounted?): the state of "
                f"{handle} cannot be read"
            )
        if (self.folder / f".{handle}{_WITHDRAWN}").exists():
            return "cancelled"
        for suffix, state in _SUFFIXES:
            if (self.folder / (stem + suffix)).exists():
                return state
        return "archived"

    def withdraw(self, handle: str, names: Sequence[str]) -> None:
        """Rename the manifest away (atomic: either this or the pipeline's rename wins),
        then remove the files' links. The hidden marker left says "withdrawn" until
        :meth:`finish_withdrawal`."""
        stem = self._stem(handle)
        marker = self.folder / f".{handle}{_WITHDRAWN}"
        for suffix in (".cat", ".cat_ERROR"):
            try:
                os.rename(self.folder / (stem + suffix), marker)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise CatalogError(
                    f"{handle} could not be taken back from {self.folder}: {exc.strerror or exc}"
                ) from exc
            break
        else:
            if not marker.exists():
                raise CatalogError(
                    f"the archive pipeline has taken {handle} meanwhile ({self.state(handle)}): "
                    "it can no longer be cancelled"
                )
        for name in names:
            with contextlib.suppress(OSError):
                (self.folder / _plain_name(name)).unlink(missing_ok=True)

    def finish_withdrawal(self, handle: str) -> None:
        """Remove the withdrawal's marker."""
        (self.folder / f".{handle}{_WITHDRAWN}").unlink(missing_ok=True)


def _plain_name(name: str) -> str:
    """``name`` if it is a plain file name (a manifest line never names a folder)."""
    if Path(name).name != name or name.startswith("."):
        raise CatalogError(f"{name!r} is not a plain file name")
    return name


def _account() -> str:
    try:
        import pwd

        return f"the account {pwd.getpwuid(os.geteuid()).pw_name!r} that delivers"
    except (ImportError, KeyError):  # pragma: no cover - not POSIX
        return "the account that delivers"


def _same_file(a: Path, b: Path) -> bool:
    from shiftdesk.catalog.store import sha1_of

    try:
        return os.path.samefile(a, b) or sha1_of(a) == sha1_of(b)
    except OSError:
        return False


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
        return
    except FileExistsError:
        raise
    except OSError:
        pass  # another file system, or one without hard links: copy
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    temp = Path(temp_name)
    try:
        shutil.copyfile(source, temp)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def protocol_for(name: str, folder: str | os.PathLike[str]) -> DeliveryProtocol:
    """The adapter of protocol ``name`` on ``folder``."""
    if name == DirectoryRenameProtocol.name:
        return DirectoryRenameProtocol(folder)
    raise CatalogError(f"no delivery protocol {name!r} (there is: {DirectoryRenameProtocol.name})")


# -- the value object ---------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One delivery of a catalog's files to the archive pipeline (see the module docstring)."""

    serial: int
    handle: str
    state: str
    files: tuple[str, ...]
    operation: str
    protocol: str
    folder: str
    submission: str
    delivered_by: str
    description: str
    message: str
    created_at: datetime
    changed_at: datetime

    def __str__(self) -> str:
        text = f"{self.handle}: {self.state}, {len(self.files)} files by {self.delivered_by}"
        return text + (f" ({self.message})" if self.message else "")

    def to_json(self) -> dict[str, Any]:
        """The delivery as JSON (what a gate action returns)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["files"] = list(self.files)
        out["created_at"] = self.created_at.isoformat()
        out["changed_at"] = self.changed_at.isoformat()
        return out

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Delivery:
        """The delivery of an action's JSON result."""
        fields = dict(value)
        fields["files"] = tuple(fields["files"])
        fields["created_at"] = datetime.fromisoformat(fields["created_at"])
        fields["changed_at"] = datetime.fromisoformat(fields["changed_at"])
        return cls(**fields)

    @classmethod
    def of(cls, record: CatalogDeliveryRecord) -> Delivery:
        """The delivery of a stored row."""
        return cls(
            serial=int(record.serial),
            handle=record.handle,
            state=record.state,
            files=tuple(n for n in record.files.splitlines() if n),
            operation=record.operation,
            protocol=record.protocol,
            folder=record.folder,
            submission=record.submission,
            delivered_by=record.delivered_by,
            description=record.description,
            message=record.message,
            created_at=as_utc(record.created_at),  # type: ignore[arg-type]
            changed_at=as_utc(record.changed_at),  # type: ignore[arg-type]
        )

    def _repr_html_(self) -> str:
        rows = [
            ["state", self.state],
            ["files", ", ".join(self.files)],
            ["delivered by", self.delivered_by],
            ["when (UTC)", f"{self.created_at:%Y-%m-%d %H:%M:%S}"],
            ["where", f"{self.folder} ({self.protocol})"],
        ]
        if self.message:
            rows.append(["note", self.message])
        return html_repr("Delivery", self.handle, str(self), html_table(rows))


def _target(catalog: Any) -> str:
    return f"catalog {catalog.observatory}"


# -- what the gate does -------------------------------------------------------------------


def _setting(catalog: Catalog) -> CatalogDeliverySettingRecord | None:
    with catalog.database.session() as s:
        row = s.get(CatalogDeliverySettingRecord, catalog.observatory)
        if row is not None:
            s.expunge(row)
        return row


def ready(catalog: Catalog) -> DeliveryProtocol | None:
    """The catalog's delivery adapter, checked usable now; None when it delivers nowhere.

    Raises
    ------
    CatalogError
        A delivery folder is set but missing or not writable.
    """
    row = _setting(catalog)
    if row is None:
        return None
    protocol = protocol_for(row.protocol, row.folder)
    protocol.check()
    return protocol


def _next_serial(s: Session, observatory: str) -> int:
    row = s.scalars(
        select(CatalogCounterRecord)
        .where(
            CatalogCounterRecord.observatory == observatory,
            CatalogCounterRecord.series == SERIAL_SERIES,
        )
        .with_for_update()
    ).first()
    if row is None:
        row = CatalogCounterRecord(observatory=observatory, series=SERIAL_SERIES, counter=0)
        s.add(row)
    row.counter = int(row.counter or 0) + 1
    s.flush()
    return int(row.counter)


def _audit(s: Session, catalog: Catalog, action: str, target: str, detail: str) -> None:
    s.execute(
        insert(AuditRecord),
        [{"at": utcnow(), "actor": catalog.identity.name, "action": action[:64],
          "target": f"{catalog.observatory} {target}"[:255], "outcome": "ok",
          "detail": detail[:4000], "via": catalog._via}],
    )  # fmt: skip


def send(
    catalog: Catalog, names: Sequence[str], *, description: str, submission: str = ""
) -> Delivery | None:
    """Deliver cataloged files (state ``delivered``) where the catalog delivers.

    None when the catalog delivers nowhere. A submission delivered already (a confirm
    repeated after a failure) is not delivered again: its delivery is returned.

    Raises
    ------
    CatalogError
        The folder is missing or not writable, a file is not ``delivered``, or is in
        another delivery (nothing was delivered).
    """
    protocol = ready(catalog)
    if protocol is None:
        return None
    names = builtins.list(dict.fromkeys(names))
    if not names:
        raise CatalogError("nothing to deliver: name the files")
    with catalog.database.session() as s:
        catalog._begin_write(s)
        if submission:
            earlier = s.scalars(
                select(CatalogDeliveryRecord).where(
                    CatalogDeliveryRecord.observatory == catalog.observatory,
                    CatalogDeliveryRecord.submission == submission,
                    CatalogDeliveryRecord.state != "cancelled",
                )
            ).first()
            if earlier is not None:
                return Delivery.of(earlier)
        records = catalog._existing(s, names)
        wrong = [f"{n} is {records[n].state}" for n in names if records[n].state != "delivered"]
        if wrong:
            raise CatalogError(
                "only delivered files go to the archive pipeline: " + "; ".join(wrong)
            )
        busy = _in_deliveries(s, catalog.observatory, names)
        if busy:
            raise CatalogError(
                "already given to the archive pipeline: "
                + "; ".join(f"{n} in {h}" for n, h in sorted(busy.items()))
            )
        serial = _next_serial(s, catalog.observatory)
        outgoing = [
            Outgoing(n, catalog.store.path(n), "M" if naming.is_mapping(n) else "R") for n in names
        ]
        handle = protocol.send(serial, "I", outgoing)
        try:
            now = utcnow()
            record = CatalogDeliveryRecord(
                observatory=catalog.observatory, serial=serial, operation="I",
                protocol=protocol.name, handle=handle,
                folder=str(getattr(protocol, "folder", "")), files="\n".join(names),
                state="delivered", submission=submission, delivered_by=catalog.identity.name,
                description=description, message="", created_at=now, changed_at=now,
            )  # fmt: skip
            s.add(record)
            catalog._log(s, "deliver", names, f"{handle}: {description}".strip(": "))
            s.flush()
            result = Delivery.of(record)
            s.commit()
        except BaseException:
            # the row is not there: the pipeline must not take what the catalog forgot
            with contextlib.suppress(CatalogError):
                protocol.withdraw(handle, names)
                protocol.finish_withdrawal(handle)
            raise
    return result


def _in_deliveries(s: Session, observatory: str, names: Sequence[str]) -> dict[str, str]:
    """Which of ``names`` a delivery not cancelled holds: ``{name: handle}``."""
    wanted = set(names)
    found: dict[str, str] = {}
    rows = s.execute(
        select(CatalogDeliveryRecord.handle, CatalogDeliveryRecord.files).where(
            CatalogDeliveryRecord.observatory == observatory,
            CatalogDeliveryRecord.state != "cancelled",
        )
    )
    for handle, files in rows:
        for name in set(files.splitlines()) & wanted:
            found[name] = handle
    return found


def _pointers(s: Session, observatory: str) -> dict[str, str]:
    return {
        str(kind): str(pmap)
        for kind, pmap in s.execute(
            select(CatalogContextRecord.kind, CatalogContextRecord.context).where(
                CatalogContextRecord.observatory == observatory
            )
        )
    }


class DeliveriesMixin:
    """The delivery methods of :class:`~shiftdesk.catalog.catalog.Catalog`."""

    if TYPE_CHECKING:
        observatory: str
        database: Database
        identity: Identity
        store: ContentStore
        folder: Path
        _via: str

        def _require_editor(self, what: str) -> None: ...

        def _require_admin(self, what: str) -> None: ...

        def _begin_write(self, s: Session) -> None: ...

        def _existing(self, s: Session, names: Sequence[str]) -> dict[str, CatalogFileRecord]: ...

        def _log(
            self, s: Session, action: str, names: Any, detail: str = "", *, audit: bool = True
        ) -> None: ...

    # -- the setting ---------------------------------------------------------------------
    @property
    def delivery_folder(self) -> Path | None:
        """The folder the catalog delivers confirmed files to (None: nowhere)."""
        row = _setting(cast("Catalog", self))
        return None if row is None else Path(row.folder)

    @through_gate("catalog.set_delivery_folder", target=_target)
    def set_delivery_folder(self, folder: str | None, *, why: str = "") -> None:
        """Deliver confirmed files to ``folder`` from now on (None: deliver nowhere).

        Administrators only: the gate writes there, so who sets it is whom the gate
        trusts. The folder must exist, be writable by the account that delivers (on a hub
        the gate service's) and lie outside the catalog's store.

        Raises
        ------
        PermissionDenied
            Not an administrator.
        CatalogError
            Not an absolute path, missing, not writable, or inside the store.
        """
        self._require_admin("set where a catalog delivers")
        with self.database.session() as s:
            self._begin_write(s)
            row = s.get(CatalogDeliverySettingRecord, self.observatory)
            if folder is None or not str(folder).strip():
                if row is not None:
                    s.delete(row)
                return
            where = Path(str(folder))
            if not where.is_absolute():
                raise CatalogError(f"give the delivery folder as an absolute path, not {folder!r}")
            where = Path(os.path.realpath(where))
            store = Path(os.path.realpath(self.folder))
            if where == store or store in where.parents:
                raise CatalogError(
                    f"{where} is inside the catalog's store ({store}); deliver elsewhere"
                )
            DirectoryRenameProtocol(where).check()
            if row is None:
                row = CatalogDeliverySettingRecord(observatory=self.observatory)
                s.add(row)
            row.protocol = DirectoryRenameProtocol.name
            row.folder, row.set_by, row.set_at = str(where), self.identity.name, utcnow()

    # -- reading -------------------------------------------------------------------------
    def deliveries(
        self, *, state: str | None = None, limit: int | None = None
    ) -> builtins.list[Delivery]:
        """The catalog's deliveries, newest first (optionally in one ``state``), as last
        recorded (:meth:`poll_deliveries` brings them up to date)."""
        query = select(CatalogDeliveryRecord).where(
            CatalogDeliveryRecord.observatory == self.observatory
        )
        if state is not None:
            query = query.where(CatalogDeliveryRecord.state == state)
        query = query.order_by(CatalogDeliveryRecord.serial.desc())
        if limit is not None:
            query = query.limit(max(1, int(limit)))
        with self.database.session() as s:
            return [Delivery.of(r) for r in s.scalars(query)]

    def delivery(self, serial: int | str) -> Delivery:
        """Delivery ``serial`` (its number, or its manifest's name)."""
        with self.database.session() as s:
            return Delivery.of(self._delivery_row(s, serial))

    def _delivery_row(self, s: Session, serial: int | str) -> CatalogDeliveryRecord:
        column = CatalogDeliveryRecord.serial
        key: int | str = serial
        if isinstance(serial, str) and not serial.isdigit():
            column = CatalogDeliveryRecord.handle  # type: ignore[assignment]
        else:
            key = int(serial)
        row = s.scalars(
            select(CatalogDeliveryRecord).where(
                CatalogDeliveryRecord.observatory == self.observatory, column == key
            )
        ).first()
        if row is None:
            raise NotFound(f"the {self.observatory} catalog has no delivery {serial}")
        return row

    # -- changing ------------------------------------------------------------------------
    def deliver(self, names: str | Sequence[str], *, description: str = "") -> Delivery:
        """Deliver cataloged ``delivered`` files to the archive pipeline (a confirmed
        submission does this itself when the catalog has a delivery folder).

        Raises
        ------
        CatalogError
            No delivery folder is set, it is missing or not writable, or a file is not
            ``delivered`` or is in another delivery (nothing was delivered).
        """
        names = [names] if isinstance(names, str) else builtins.list(names)
        return Delivery.from_json(self._deliver(names, description))

    @through_gate("catalog.deliver", target=_target)
    def _deliver(self, names: builtins.list[str], description: str) -> dict[str, Any]:
        self._require_editor("deliver files")
        done = send(cast("Catalog", self), names, description=description)
        if done is None:
            raise CatalogError(
                f"the {self.observatory} catalog delivers nowhere: an administrator sets its "
                "folder with cat.set_delivery_folder(...)"
            )
        return done.to_json()

    def poll_deliveries(self) -> builtins.list[Delivery]:
        """Read the pipeline's state of every open delivery and move each (and its files)
        there, through every state between; archived files of the latest context become
        operational. Returns the deliveries that changed."""
        return [Delivery.from_json(d) for d in self._poll_deliveries()]

    @through_gate("catalog.poll_deliveries", target=_target)
    def _poll_deliveries(self) -> builtins.list[dict[str, Any]]:
        # anyone may ask: it only records what the pipeline did, and takes no arguments
        with self.database.session() as s:
            open_rows = s.scalars(
                select(CatalogDeliveryRecord).where(
                    CatalogDeliveryRecord.observatory == self.observatory,
                    CatalogDeliveryRecord.state.in_(OPEN_STATES),
                )
            ).all()
            targets = [(r.id, r.protocol, r.folder, r.handle) for r in open_rows]
        seen: dict[int, tuple[str, str]] = {}  # id -> (state, or "" when unreadable; why)
        for ident, protocol, folder, handle in targets:
            try:
                seen[ident] = (protocol_for(protocol, folder).state(handle), "")
            except CatalogError as exc:
                seen[ident] = ("", str(exc))
        changed: builtins.list[Delivery] = []
        if not seen:
            return []
        with self.database.session() as s:
            self._begin_write(s)
            pointers = _pointers(s, self.observatory)
            latest = pointers.get("latest")
            in_latest = graph.closure(s, self.observatory, [latest]) if latest else set()
            for ident, (observed, problem) in seen.items():
                row = s.get(CatalogDeliveryRecord, ident)
                if row is None or row.state not in OPEN_STATES:
                    continue
                before = (row.state, row.message)
                if not observed:
                    row.message = problem
                elif observed != row.state:
                    steps = walk(row.state, observed)
                    if steps is None:
                        row.message = (
                            f"the pipeline shows it {observed}, which cannot follow "
                            f"{row.state}; it stays {row.state}"
                        )
                    else:
                        self._follow(s, row, steps, in_latest)
                else:
                    row.message = ""
                if (row.state, row.message) != before:
                    row.changed_at = utcnow()
                    s.flush()
                    changed.append(Delivery.of(row))
        return [d.to_json() for d in changed]

    def _follow(
        self,
        s: Session,
        row: CatalogDeliveryRecord,
        steps: builtins.list[str],
        in_latest: set[str],
    ) -> None:
        """Move delivery ``row`` and its files through ``steps``, each an allowed move."""
        names = [n for n in row.files.splitlines() if n]
        files = s.scalars(
            select(CatalogFileRecord).where(
                CatalogFileRecord.observatory == self.observatory,
                CatalogFileRecord.name.in_(names),
            )
        ).all()
        target = steps[-1]
        why = f"{row.handle}: the archive pipeline shows it {target}"
        for record in files:
            if target == "archived" and record.state in ACTIVE_STATES:
                continue  # made operational meanwhile: archiving does not take that back
            path = walk(record.state, target)
            if path is None:
                continue  # moved by hand somewhere the delivery cannot take it
            for step in path:
                check_transition(record.name, record.state, step)
                record.state = step
                self._log(s, f"state {step}", [record.name], why)
            if record.state == "archived" and record.name in in_latest:
                check_transition(record.name, "archived", "operational")
                record.state = "operational"
                if record.activation_date is None:
                    record.activation_date = utcnow()
                self._log(s, "state operational", [record.name], f"{why}; in the latest context")
        old = row.state
        for step in steps:
            check_transition(row.handle, row.state, step)
            row.state = step
        row.message = ""
        _audit(s, cast("Catalog", self), "catalog.delivery", row.handle,
               f"{old} → {' → '.join(steps)}")  # fmt: skip

    def cancel_delivery(self, serial: int | str, *, why: str) -> Delivery:
        """Take back a delivery the pipeline has not taken (``delivered``) or that failed
        (``archiving-failed``): its manifest and links go, it and its files become
        ``cancelled``. The deliverer or an administrator may.

        Refused while the latest or edit context uses one of its files: point them at a
        context without them first (``cat.set_context("edit", ..., why=...)``).

        Raises
        ------
        CatalogError
            The pipeline has it, a context uses its files, or no reason was given.
        """
        if not why or not str(why).strip():
            raise CatalogError("say why the delivery is cancelled (why=...)")
        return Delivery.from_json(self._cancel_delivery(str(serial), str(why)))

    @through_gate("catalog.cancel_delivery", target=_target)
    def _cancel_delivery(self, serial: str, why: str) -> dict[str, Any]:
        self._require_editor("cancel deliveries")
        with self.database.session() as s:
            self._begin_write(s)
            row = self._delivery_row(s, serial)
            if row.delivered_by != self.identity.name and not self.identity.admin:
                raise PermissionDenied(
                    f"{row.handle} is {row.delivered_by}'s delivery: only they (or an "
                    "administrator) may cancel it"
                )
            if row.state not in ("delivered", "archiving-failed"):
                raise CatalogError(
                    f"{row.handle} is {row.state}: only a delivery the pipeline has not taken "
                    "(delivered) or one that failed (archiving-failed) can be cancelled"
                )
            names = [n for n in row.files.splitlines() if n]
            pointers = _pointers(s, self.observatory)
            for kind, pmap in sorted(pointers.items()):
                used = sorted(set(names) & graph.closure(s, self.observatory, [pmap]))
                if used:
                    raise CatalogError(
                        f"the {kind} context {pmap} uses {', '.join(used)} of {row.handle}: "
                        f"point it at a context without them first (cat.set_context({kind!r}, "
                        "'<pmap>', why=...)), then cancel"
                    )
            records = self._existing(s, names)
            for record in records.values():  # before anything is taken back
                check_transition(record.name, record.state, "cancelled")
            protocol = protocol_for(row.protocol, row.folder)
            protocol.withdraw(row.handle, names)  # refused if the pipeline took it meanwhile
            for record in records.values():
                record.state = "cancelled"
            self._log(s, "state cancelled", names, f"{row.handle} cancelled: {why}")
            old = row.state
            row.state, row.message, row.changed_at = "cancelled", why, utcnow()
            _audit(s, cast("Catalog", self), "catalog.delivery", row.handle,
                   f"{old} → cancelled: {why}")  # fmt: skip
            s.flush()
            result = Delivery.of(row)
            s.commit()
        # recorded: the marker that told a poll "withdrawn" meanwhile can go
        protocol.finish_withdrawal(result.handle)
        return result.to_json()
