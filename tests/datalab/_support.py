"""Helpers the data-session tests share: an operation of the test's own, registered
through a distribution on this process's path and its workers'; a PostgreSQL database
and a connection as a user's own role."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shiftdesk.datalab import operations
from shiftdesk.identity import Identity
from shiftdesk.jobs import shutdown_backends
from shiftdesk.storage import Database, reset_default_databases


def registered_operation(
    folder: Path, monkeypatch: pytest.MonkeyPatch, op: str, module: str, cls: str, source: str
) -> Iterator[str]:
    """Register class ``cls`` of a module ``module`` (its ``source``) as the operation ``op``
    through a distribution of its own; yields ``op``, then removes it again."""
    dist = folder / f"{op}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {op.replace('_', '-')}\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        f"[shiftdesk.datalab.operations]\n{op} = {module}:{cls}\n"
    )
    (folder / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(folder))
    # the job workers are other processes: they find it on PYTHONPATH
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    operations.available(refresh=True)
    yield op
    monkeypatch.undo()
    sys.modules.pop(module, None)
    operations.available(refresh=True)


def user_database(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> tuple[Database, Identity]:
    """A secured PostgreSQL database and a connection as a user's own role (under
    row-level security); the default database points at it for the job workers."""
    from shiftdesk.storage.boundary import ensure_user_role, secure

    url = str(request.getfixturevalue("postgres_url"))
    owner = Database(url)
    secure(owner)
    who = Identity(f"alice_{uuid.uuid4().hex[:6]}")
    ensure_user_role(owner, who.name)
    user = Database(f"postgresql+psycopg://{who.name}@{url.split('@', 1)[1]}")
    monkeypatch.setenv("SHIFTDESK_DATABASE_URL", url)
    reset_default_databases()

    def close() -> None:
        shutdown_backends()  # the spare workers of the user's local backend
        user.dispose()
        owner.dispose()

    request.addfinalizer(close)
    return user, who
