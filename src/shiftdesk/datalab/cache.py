"""Content addressing: file hashes, the result key, where files live, stored results.

A result's key is the SHA-256 of (operation name, operation version, the validated
inputs with every file path replaced by its content's SHA-256). File names do not count
(the same frame under another name finds the same result); the version does (a new
version of an operation recomputes). Results are stored per owner: the key is looked up
among the caller's own results and those of sessions shared with them, never others'.

Files live under the shiftdesk data folder, per owner::

    <data>/datalab/<owner>/store/<aa>/<sha256>/<name>     frames added to sessions
    <data>/datalab/<owner>/results/<aa>/<key>.<op id>/    an operation's outputs
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shiftdesk.datalab.records import (
    DataSessionMemberRecord,
    DataSessionRecord,
    OperationRecord,
    ResultRecord,
)
from shiftdesk.identity import Identity

#: bytes read at a time while hashing
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's content (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def owner_folder(owner: str) -> Path:
    """The owner's data-session folder (under the shiftdesk data folder)."""
    from shiftdesk.storage.database import data_dir

    if not owner or "/" in owner or owner in (".", ".."):
        raise ValueError(f"{owner!r} cannot name a folder")
    return data_dir() / "datalab" / owner


def store_path(owner: str, sha256: str, name: str) -> Path:
    """Where a frame of this content is kept (its first name, in a folder of its hash)."""
    folder = owner_folder(owner) / "store" / sha256[:2] / sha256
    existing = sorted(folder.glob("*")) if folder.is_dir() else []
    return existing[0] if existing else folder / name


def store_file(owner: str, source: Path, sha256: str, name: str) -> Path:
    """Copy ``source`` into the owner's store (once per content); return the stored path."""
    target = store_path(owner, sha256, name)
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        # fresh again: cleanup leaves files younger than an hour, so a frame re-added
        # while a cleanup runs is not taken from under its new input row
        os.utime(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, temporary)
    # written whole, then renamed: a reader never sees half a frame
    os.replace(temporary, target)
    return target


def result_folder(owner: str, key: str, operation_id: int) -> Path:
    """The folder of one operation's outputs (one per request, so two identical requests
    running at once never write into each other's files)."""
    return owner_folder(owner) / "results" / key[:2] / f"{key}.{operation_id}"


# -- the key --------------------------------------------------------------------------------


def map_files(schema: Mapping[str, Any], value: Any, fn: Callable[[str, Any], Any]) -> Any:
    """``value`` with ``fn(field, item)`` applied to every file item of the schema's
    ``x-files`` fields (at any depth); ``field`` is the form's name (``channels[1].file``).

    Values that do not have the schema's shape are passed through (validation says what
    is wrong with them).
    """
    return _map(schema, value, fn, "")


def _map(schema: Mapping[str, Any], value: Any, fn: Callable[[str, Any], Any], at: str) -> Any:
    if "x-files" in schema:
        if isinstance(value, list | tuple):
            return [fn(at, v) for v in value]
        return None if value is None else fn(at, value)
    props = schema.get("properties")
    if isinstance(props, Mapping) and isinstance(value, Mapping):
        out = dict(value)
        for key, sub in props.items():
            if key in out:
                out[key] = _map(sub, out[key], fn, f"{at}.{key}" if at else key)
        return out
    items = schema.get("items")
    if isinstance(items, Mapping) and isinstance(value, list | tuple):
        return [_map(items, v, fn, f"{at}[{i}]") for i, v in enumerate(value)]
    return value


def cache_key(
    operation: str,
    version: str,
    schema: Mapping[str, Any],
    values: Mapping[str, Any],
    hashes: Mapping[str, str],
) -> str:
    """The key of a request: operation, version, inputs with files as content hashes.

    Parameters
    ----------
    operation, version : str
        The operation's name and version.
    schema : mapping
        Its input schema (says which inputs are files).
    values : mapping
        The validated inputs (``operations.validate``: defaults filled).
    hashes : mapping
        File path (as in ``values``) -> SHA-256 of its content.
    """

    def content(_field: str, path: Any) -> str:
        return "sha256:" + hashes[str(path)]

    addressed = map_files(schema, dict(values), content)
    text = json.dumps(
        {"operation": operation, "version": version, "inputs": addressed},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


# -- stored results ---------------------------------------------------------------------------


def _member_entries(identity: Identity) -> list[str]:
    return [identity.name, "*", *(f"group:{g}" for g in sorted(identity.groups))]


def find_result(session: Session, identity: Identity, key: str) -> ResultRecord | None:
    """The stored result of ``key`` that ``identity`` may be served: their own first, then
    one of an owner who shares a session that asked for it with them.

    The condition is written out here too (not only left to row-level security) so that
    SQLite, which has no roles, scopes results the same way.
    """
    own = session.scalar(
        select(ResultRecord).where(
            ResultRecord.owner == identity.name, ResultRecord.cache_key == key
        )
    )
    if own is not None:
        return own
    shared = (
        select(ResultRecord)
        .join(
            OperationRecord,
            (OperationRecord.owner == ResultRecord.owner)
            & (OperationRecord.cache_key == ResultRecord.cache_key),
        )
        .join(
            DataSessionRecord,
            (DataSessionRecord.id == OperationRecord.session_id)
            & (DataSessionRecord.owner == OperationRecord.owner),
        )
        .join(
            DataSessionMemberRecord,
            (DataSessionMemberRecord.session_id == DataSessionRecord.id)
            & (DataSessionMemberRecord.owner == DataSessionRecord.owner),
        )
        .where(
            ResultRecord.cache_key == key,
            ResultRecord.owner != identity.name,
            DataSessionMemberRecord.member.in_(_member_entries(identity)),
        )
        .order_by(ResultRecord.id)
        .limit(1)
    )
    return session.scalar(shared)


def may_read_result(session: Session, identity: Identity, record: ResultRecord) -> bool:
    """Whether ``identity`` may read a stored result (its owner, an admin, or a member of
    a session of the owner that asked for it)."""
    if identity.admin or record.owner == identity.name:
        return True
    found = find_result(session, identity, record.cache_key)
    return found is not None and found.id == record.id


def sessions_shared_with(identity: Identity) -> Callable[[Any], Any]:
    """A condition on ``DataSessionRecord``: shared with ``identity`` (for listings)."""

    def condition(model: Any) -> Any:
        members = select(DataSessionMemberRecord.session_id).where(
            DataSessionMemberRecord.member.in_(_member_entries(identity)),
            DataSessionMemberRecord.owner == model.owner,
        )
        return or_(model.owner == identity.name, model.id.in_(members))

    return condition


def tree_size(paths: Iterable[Path]) -> int:
    """Total bytes of the files that exist among ``paths``."""
    return sum(p.stat().st_size for p in paths if p.is_file())


# -- requests in flight, leftovers ------------------------------------------------------------

#: seconds an identical request waits for the running one's job to be recorded (its
#: kernel is submitting it, normally a few milliseconds) before taking that kernel to
#: have stopped and running its own (see ``DataSession.run``)
JOIN_WAIT_S = 30.0


def running_request(session: Session, owner: str, key: str) -> OperationRecord | None:
    """The request of ``owner`` for ``key`` that runs a job of its own now (queued or
    running, not ``cached``), which an identical request joins; None when there is none.

    Only the owner's own: another user's identical request is never joined (nor its
    result served). The index ``uq_datalab_operations_running`` keeps this to one row.
    """
    return session.scalar(
        select(OperationRecord)
        .where(
            OperationRecord.owner == owner,
            OperationRecord.cache_key == key,
            OperationRecord.status.in_(("queued", "running")),
            OperationRecord.cached.is_(False),
        )
        .order_by(OperationRecord.id)
        .limit(1)
    )


#: a half-written copy of :func:`store_file` (``.<name>.<pid>.tmp``)
_TEMPORARY = re.compile(r"^\..+\.\d+\.tmp$")


def is_temporary(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a half-written copy, as :func:`store_file` writes one before
    renaming it (left behind by a kernel that stopped while copying)."""
    return bool(_TEMPORARY.match(Path(path).name))


def result_operation_id(folder: str | os.PathLike[str]) -> tuple[str, int] | None:
    """``(key, operation id)`` of a results folder named as :func:`result_folder` names
    one (``<key>.<operation id>``); None for any other name."""
    head, dot, tail = Path(folder).name.rpartition(".")
    if not dot or not tail.isdigit() or len(head) != 64:
        return None
    try:
        int(head, 16)
    except ValueError:
        return None
    return head, int(tail)
