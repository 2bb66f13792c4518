"""A shared session's files on a hub: published by their owner, fetched by its members,
both through the gate.

On a hub every user's files are their own: a session's frames and results lie in its
owner's data folder, which no other account may open. Its members (and administrators)
read the session's rows; its files reach them this way:

publishing
    When the owner shares a session, adds frames to a shared one, and when an operation
    of a shared session finishes, the owner's server (or the job, which runs as the
    owner) sends the files the gate does not have yet, as their bytes, to the gate
    action ``datalab.publish``. The gate takes a file only from the session's owner
    (the caller the hub names), only when it is one the session's records name (a frame
    with that SHA-256, or an output of one of its finished operations) and only when the
    bytes hash to it; it keeps it in its own folder (:func:`shared_root`, the service
    account's alone), one copy per owner and content.
fetching
    A member's server asks ``datalab.fetch`` for a file by the session and the file's
    SHA-256. The gate answers only a caller who may read that session (its owner, an
    administrator, a user or ``group:NAME`` it is shared with: the groups are the
    hub's) and only for a file the session names; the member's server checks the hash
    again and keeps the copy in its own data folder
    (``<data>/datalab/<member>/shared/<owner>/...``), where :attr:`SessionInput.path
    <shiftdesk.datalab.session.SessionInput.path>`, :attr:`SessionOperation.outputs
    <shiftdesk.datalab.session.SessionOperation.outputs>` and
    :meth:`SessionOperation.result <shiftdesk.datalab.session.SessionOperation.result>`
    point, fetched the first time they are asked for.

Standalone (no hub: the gate runs in this process, one operating-system user) nothing
is copied: every path is the owner's own file, as it always was.

Bytes travel base64-encoded in JSON, :data:`CHUNK` bytes a call.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shiftdesk.datalab import cache
from shiftdesk.datalab.records import (
    DataSessionMemberRecord,
    DataSessionRecord,
    OperationRecord,
    ResultRecord,
    SessionInputRecord,
)
from shiftdesk.errors import NotFound, PermissionDenied, ShiftdeskError
from shiftdesk.identity import Identity

if TYPE_CHECKING:
    from shiftdesk.gate import Gate
    from shiftdesk.storage import Database

#: environment variable naming the gate's folder of published files (set by the hub)
ROOT_ENV = "SHIFTDESK_DATALAB_SHARED_DIR"
#: bytes a publish or fetch call carries at most
CHUNK = 8 * 1024 * 1024
#: seconds ``SessionOperation.result()`` (no timeout) waits for the owner's server to
#: publish the outputs of an operation that has just ended
PUBLISH_WAIT = 10.0
#: the largest file a session may publish
MAX_FILE_BYTES = 8 * 1024**3
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: one writer at a time per published file (the gate runs actions on threads): a file
#: takes the lock its hash picks
_LOCKS = tuple(threading.Lock() for _ in range(64))


class SharingError(ShiftdeskError):
    """A file cannot be published or fetched as asked (bad bytes, bad offsets)."""


class NotPublished(NotFound):
    """A session's file its owner's server has not sent to the gate (yet)."""


# -- where files are --------------------------------------------------------------------------


def shared_root() -> Path:
    """The gate's folder of published files: ``SHIFTDESK_DATALAB_SHARED_DIR``, else
    ``<data dir>/datalab-shared`` (on a hub, the service account's alone)."""
    from shiftdesk.storage.database import data_dir

    configured = os.environ.get(ROOT_ENV, "").strip()
    return Path(configured) if configured else data_dir() / "datalab-shared"


def check_sha256(value: Any) -> str:
    """``value`` if it is a SHA-256 in lower-case hex.

    Raises
    ------
    ValueError
        It is not.
    """
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise ValueError(f"{value!r} is not a SHA-256 (64 lower-case hex digits)")
    return value


def published_path(owner: str, sha256: str) -> Path:
    """Where the gate keeps ``owner``'s published file of content ``sha256``."""
    cache.owner_folder(owner)  # the same rule for the owner's name
    sha = check_sha256(sha256)
    return shared_root() / owner / sha[:2] / sha


def copies_needed(gate: Gate, identity: Identity, owner: str) -> bool:
    """Whether ``identity`` reads ``owner``'s files through copies: on a hub (the gate is
    a service) and not their own."""
    return bool(getattr(gate, "remote", False)) and identity.name != owner


def _plain(name: str) -> bool:
    return (
        bool(name)
        and name not in (".", "..")
        and not name.startswith(".")
        and not any(c in name for c in "/\\\0")
    )


def copy_root(identity: Identity, owner: str) -> Path:
    """Where ``identity``'s server keeps its copies of ``owner``'s files."""
    cache.owner_folder(owner)
    return cache.owner_folder(identity.name) / "shared" / owner


def input_copy(identity: Identity, owner: str, sha256: str, name: str) -> Path:
    """The local copy of a frame of ``owner``'s (named as in the session when the name
    is a plain file name, else by its hash)."""
    sha = check_sha256(sha256)
    return copy_root(identity, owner) / "store" / sha[:2] / sha / (name if _plain(name) else sha)


def result_copy(identity: Identity, owner: str, key: str) -> Path:
    """The folder of the local copies of the result ``key`` of ``owner``'s."""
    check_sha256(key)
    return copy_root(identity, owner) / "results" / key[:2] / key


def relative_output(rel: str) -> Path | None:
    """An output's path relative to its result folder, if it stays inside it."""
    path = Path(rel)
    if path.is_absolute() or not path.parts or not all(_plain(p) for p in path.parts):
        return None
    return path


# -- what a session holds (the gate's view) -----------------------------------------------------


@dataclass(frozen=True)
class SessionFile:
    """A file a session names: a frame, or an output of one of its finished operations.

    Attributes
    ----------
    sha256 : str
    owner : str
        Whose copy it is (the session's owner; for an output served from another
        owner's stored result, that owner).
    path : Path
        The file in the owner's data folder.
    size : int or None
        Bytes, when the records say (frames).
    kind : str
        ``input`` or ``output``.
    """

    sha256: str
    owner: str
    path: Path
    size: int | None
    kind: str


def session_members(s: Session, record: DataSessionRecord) -> builtins.list[str]:
    """Who a session is shared with (the rows of its owner only)."""
    return builtins.list(
        s.scalars(
            select(DataSessionMemberRecord.member).where(
                DataSessionMemberRecord.session_id == record.id,
                DataSessionMemberRecord.owner == record.owner,
            )
        )
    )


def may_read(s: Session, identity: Identity, record: DataSessionRecord) -> bool:
    """Whether ``identity`` may read the session (owner, administrator, or shared with
    them by name, ``*`` or one of their groups)."""
    from shiftdesk.datalab.session import _matches

    if identity.admin or identity.name == record.owner:
        return True
    return _matches(identity, session_members(s, record))


def session_files(
    s: Session, record: DataSessionRecord, identity: Identity
) -> dict[str, SessionFile]:
    """The files of a session ``identity`` may be given, by SHA-256: its frames and the
    outputs of its finished operations whose stored result they may read.

    Only rows of the session's owner count (another user may not add a row that names
    someone else's session into it); an output of a result stored by another owner
    counts only for someone that result is served to (see
    :func:`shiftdesk.datalab.cache.may_read_result`).
    """
    files: dict[str, SessionFile] = {}
    for row in s.scalars(
        select(SessionInputRecord).where(
            SessionInputRecord.session_id == record.id,
            SessionInputRecord.owner == record.owner,
        )
    ):
        files.setdefault(
            row.sha256,
            SessionFile(row.sha256, record.owner, Path(row.path), int(row.size), "input"),
        )
    results = s.scalars(
        select(ResultRecord)
        .join(OperationRecord, OperationRecord.result_id == ResultRecord.id)
        .where(
            OperationRecord.session_id == record.id,
            OperationRecord.owner == record.owner,
            OperationRecord.status == "done",
        )
        .order_by(ResultRecord.id)
        .distinct()
    ).all()
    for result in results:
        if result.owner != record.owner and not cache.may_read_result(s, identity, result):
            continue
        for rel, sha in json.loads(result.hashes_json or "{}").items():
            inside = relative_output(rel)
            if inside is None or not isinstance(sha, str) or not _SHA256.fullmatch(sha):
                continue
            path = Path(result.folder) / inside
            files.setdefault(sha, SessionFile(sha, result.owner, path, None, "output"))
    return files


def _session(s: Session, session_id: Any) -> DataSessionRecord:
    try:
        number = int(session_id)
    except (TypeError, ValueError):
        raise ValueError(f"{session_id!r} is not a data session id") from None
    record = s.get(DataSessionRecord, number)
    if record is None:
        raise NotFound(f"no data session {number}")
    return record


# -- the gate's side ---------------------------------------------------------------------------


def _lock(sha: str) -> threading.Lock:
    return _LOCKS[int(sha[:8], 16) % len(_LOCKS)]


def _owned(s: Session, identity: Identity, session_id: Any, what: str) -> DataSessionRecord:
    record = _session(s, session_id)
    if record.owner != identity.name:
        # who owns it is not said: the session may be one the caller may not even see
        raise PermissionDenied(
            f"data session {record.id} is not yours ({identity.name!r}); only its owner may {what}"
        )
    return record


def missing(
    database: Database, identity: Identity, session_id: Any
) -> builtins.list[dict[str, Any]]:
    """The files of the caller's session the gate does not have yet (the gate action
    ``datalab.missing``): ``[{"sha256", "size"}]`` (size None when not recorded).

    Only files the caller may publish: their own (not outputs another owner stored).
    """
    with database.session() as s:
        record = _owned(s, identity, session_id, "publish its files")
        files = session_files(s, record, identity)
    return [
        {"sha256": f.sha256, "size": f.size}
        for f in files.values()
        if f.owner == identity.name and not published_path(f.owner, f.sha256).is_file()
    ]


def receive(
    database: Database,
    identity: Identity,
    session_id: Any,
    sha256: Any,
    *,
    size: Any,
    offset: Any,
    data: Any,
) -> dict[str, Any]:
    """Take one piece of a file of the caller's session (the gate action
    ``datalab.publish``); the file is kept once its last piece came and its bytes hash
    to ``sha256``.

    Raises
    ------
    PermissionDenied
        The session is not the caller's, or the file is another owner's.
    NotFound
        No such session, or the session names no file ``sha256``.
    SharingError
        A piece out of order, a size the records contradict, bytes that do not hash to
        ``sha256`` (nothing is kept).
    """
    sha = check_sha256(sha256)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_BYTES:
        raise SharingError(f"size {size!r} is not a file size (at most {MAX_FILE_BYTES} bytes)")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= size:
        raise SharingError(f"offset {offset!r} is not within the file's {size} bytes")
    try:
        piece = base64.b64decode(str(data), validate=True)
    except (binascii.Error, ValueError):
        raise SharingError("the data is not base64") from None
    if len(piece) > CHUNK or offset + len(piece) > size:
        raise SharingError(
            f"a piece of {len(piece)} bytes at {offset} does not fit a file of {size} bytes "
            f"(pieces hold at most {CHUNK} bytes)"
        )
    with database.session() as s:
        record = _owned(s, identity, session_id, "publish its files")
        found = session_files(s, record, identity).get(sha)
    if found is None:
        raise NotFound(
            f"data session {record.id} names no file with SHA-256 {sha}: only its frames "
            "and the outputs of its finished operations are published"
        )
    if found.owner != identity.name:
        raise PermissionDenied(
            f"{sha[:12]}… is an output of {found.owner!r}'s stored result; only they publish it"
        )
    if found.size is not None and found.size != size:
        raise SharingError(f"{sha[:12]}… is {found.size} bytes by the records, not {size}")
    target = published_path(identity.name, sha)
    if target.is_file():
        return {"sha256": sha, "received": size, "complete": True}
    incoming = target.parent / f".{sha}.incoming"
    with _lock(sha):
        if target.is_file():
            return {"sha256": sha, "received": size, "complete": True}
        target.parent.mkdir(parents=True, exist_ok=True)
        have = incoming.stat().st_size if incoming.is_file() else 0
        if offset > have:
            raise SharingError(
                f"a piece at {offset} of {sha[:12]}… came before the bytes from {have}: "
                f"send from {have}"
            )
        with open(incoming, "r+b" if incoming.exists() and offset else "wb") as f:
            f.seek(offset)
            f.write(piece)
            f.truncate(offset + len(piece))
        received = offset + len(piece)
        if received < size:
            return {"sha256": sha, "received": received, "complete": False}
        got = cache.file_sha256(incoming)
        if got != sha:
            incoming.unlink(missing_ok=True)
            raise SharingError(
                f"the bytes sent for {sha[:12]}… hash to {got[:12]}…: nothing was kept "
                "(the file changed since it was added?)"
            )
        os.chmod(incoming, 0o600)
        os.replace(incoming, target)
    return {"sha256": sha, "received": size, "complete": True}


def serve(
    database: Database,
    identity: Identity,
    session_id: Any,
    sha256: Any,
    *,
    offset: Any = 0,
    length: Any = CHUNK,
) -> dict[str, Any]:
    """A piece of a published file of a session the caller may read (the gate action
    ``datalab.fetch``): ``{"sha256", "size", "offset", "data"}`` (base64).

    Raises
    ------
    PermissionDenied
        The session is neither the caller's nor shared with them.
    NotFound
        No such session, the session names no such file (or none the caller may
        read), or its owner has not published it yet.
    """
    sha = check_sha256(sha256)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError(f"offset {offset!r} is not a byte position")
    if not isinstance(length, int) or isinstance(length, bool) or not 0 < length <= CHUNK:
        raise ValueError(f"length {length!r} is not between 1 and {CHUNK}")
    with database.session() as s:
        record = _session(s, session_id)
        if not may_read(s, identity, record):
            raise PermissionDenied(
                f"data session {record.id} is not shared with {identity.name!r}; its files "
                "are not yours to fetch"
            )
        found = session_files(s, record, identity).get(sha)
    if found is None:
        raise NotFound(
            f"data session {record.id} names no file with SHA-256 {sha} that "
            f"{identity.name!r} may read (its frames and the outputs of its finished "
            "operations)"
        )
    path = published_path(found.owner, sha)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(offset)
            piece = f.read(length)
    except FileNotFoundError:
        raise NotPublished(
            f"{found.kind} {sha[:12]}… of data session {record.id} is not published yet: "
            f"{found.owner!r}'s server publishes a shared session's files when it is shared, "
            "when frames are added and when an operation ends; ask them to open the "
            "session (or call DataSession.publish())"
        ) from None
    return {
        "sha256": sha,
        "size": size,
        "offset": offset,
        "data": base64.b64encode(piece).decode("ascii"),
    }


# -- the owner's side ------------------------------------------------------------------------------


def publish(gate: Gate, session_id: int, files: dict[str, Path]) -> int:
    """Send the files of the caller's session the gate lacks; returns how many were sent.

    Parameters
    ----------
    gate : Gate
        The hub's gate (nothing is sent to a gate in this process).
    session_id : int
    files : dict
        SHA-256 -> the owner's file, for every file of the session (the gate says which
        it lacks).
    """
    if not getattr(gate, "remote", False):
        return 0
    wanted = gate.call("datalab.missing", session=int(session_id)) or []
    sent = 0
    for item in wanted:
        sha = str(item.get("sha256"))
        path = files.get(sha)
        if path is None or not path.is_file():
            continue  # a file gone from the owner's folder: nothing to send
        size = path.stat().st_size
        with open(path, "rb") as f:
            offset = 0
            while True:
                piece = f.read(CHUNK)
                reply = gate.call(
                    "datalab.publish",
                    session=int(session_id),
                    sha256=sha,
                    size=size,
                    offset=offset,
                    data=base64.b64encode(piece).decode("ascii"),
                )
                offset += len(piece)
                if reply.get("complete") or not piece:
                    break
        sent += 1
    return sent


def fetch(gate: Gate, session_id: int, sha256: str, target: Path, *, wait: float = 0.0) -> Path:
    """The local copy ``target`` of a session's file, fetched through the gate when it is
    not there yet (checked against its SHA-256, written whole, then renamed).

    Parameters
    ----------
    wait : float
        Seconds to keep asking while the owner's server has not published the file yet
        (it does so as an operation ends).

    Raises
    ------
    NotPublished
        Not published within ``wait`` seconds.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            return _fetch_once(gate, session_id, sha256, target)
        except NotPublished:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


def _fetch_once(gate: Gate, session_id: int, sha256: str, target: Path) -> Path:
    if target.is_file():
        return target
    sha = check_sha256(sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    digest = hashlib.sha256()
    try:
        with open(temporary, "wb") as f:
            offset = 0
            while True:
                reply = gate.call(
                    "datalab.fetch", session=int(session_id), sha256=sha, offset=offset
                )
                piece = base64.b64decode(reply["data"])
                f.write(piece)
                digest.update(piece)
                offset += len(piece)
                if not piece or offset >= int(reply["size"]):
                    break
        if digest.hexdigest() != sha:
            raise SharingError(
                f"the gate sent bytes for {sha[:12]}… that hash to {digest.hexdigest()[:12]}…; "
                "nothing was kept"
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def publish_quietly(publish_call: Any, what: str) -> int:
    """Run a publish; a failure is told on stderr, never raised (the next one retries)."""
    try:
        return int(publish_call())
    except Exception as exc:
        print(
            f"datalab: {what}: its files were not all published for its members ({exc}); "
            "they are sent again when the session is next shared, opened or run, or by "
            "DataSession.publish()",
            file=sys.stderr,
            flush=True,
        )
        return 0


def output_files(folder: str, hashes: dict[str, str]) -> Iterable[tuple[str, Path]]:
    """(SHA-256, path) of a stored result's outputs that stay inside its folder."""
    for rel, sha in hashes.items():
        inside = relative_output(rel)
        if inside is not None and isinstance(sha, str) and _SHA256.fullmatch(sha):
            yield sha, Path(folder) / inside
