"""Opening the database: URL resolution, engine setup, schema checks, error translation."""

from __future__ import annotations

import ast
import contextlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from shiftdesk.errors import SchemaTooNewError, StorageError

MIGRATIONS = Path(__file__).with_name("migrations")
#: The two names each revision file sets that decide which revisions are the newest.
_REVISION_NAMES = ("revision", "down_revision")


def _version_folders() -> list[Path]:
    """Every folder of revision files: the core's history and each domain's branch."""
    from shiftdesk.domains import migration_folders

    return [MIGRATIONS / "versions", *migration_folders()]


def declared_heads(folders: list[Path]) -> frozenset[str] | None:
    """The newest revisions in ``folders``, read from each revision file's own
    ``revision = ...`` and ``down_revision = ...`` lines, without importing Alembic.

    A head is a revision no other revision names as its ``down_revision`` (as Alembic
    has it; ``depends_on`` and branch labels do not change which revisions are heads).
    Opening a database at its newest schema needs only these: importing Alembic and
    loading every revision module took 0.2–0.7 s of each fresh kernel, i.e. of every
    dashboard opened in Voilà. Returns None, and Alembic decides, when a file sets them
    other than as plain literals, or a folder holds revision files Alembic would read
    and this does not (compiled ones without source).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return None
        for name in names:
            if name.startswith(("__init__", ".#")):
                continue
            if name.endswith((".pyc", ".pyo")):
                return None  # a sourceless revision: Alembic's to read
            if not name.endswith(".py"):
                continue
            found = _revision_lines(folder / name)
            if found is None:
                return None
            revision, down = found
            revisions.add(revision)
            parents.update(down)
    return frozenset(revisions - parents) if revisions else None


#: the first top-level function or class of a revision file (its header ends there)
_BODY = re.compile(rb"^(?:def|async def|class) ", re.MULTILINE)
#: a top-level assignment of the names above
_SETS_REVISION = re.compile(rb"^(?:revision|down_revision)\b", re.MULTILINE)


def _revision_lines(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """``(revision, down_revisions)`` of one revision file, or None if not plain literals.

    Only the file's header (up to its first function) is parsed when the names are set
    there and not again below, as Alembic's template writes them: parsing the whole
    migration costs ~10 times more.
    """
    try:
        source = path.read_bytes()
    except OSError:
        return None
    body = _BODY.search(source)
    if body is not None and not _SETS_REVISION.search(source, body.start()):
        header = _parse_revision_lines(source[: body.start()], path)
        if header is not None:
            return header
    return _parse_revision_lines(source, path)


def _parse_revision_lines(source: bytes, path: Path) -> tuple[str, tuple[str, ...]] | None:
    try:
        tree = ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError):
        return None
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in _REVISION_NAMES:
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                return None
    revision, down = values.get("revision"), values.get("down_revision", "?")
    if not isinstance(revision, str):
        return None
    if down is None:
        return revision, ()
    if isinstance(down, str):
        return revision, (down,)
    if isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
        return revision, tuple(down)
    return None


def data_dir() -> Path:
    """The per-user folder for shiftdesk's own files (database, job logs).

    ``SHIFTDESK_DATA_DIR`` overrides the platform default
    (``~/.local/share/shiftdesk`` on Linux).
    """
    path = Path(os.environ.get("SHIFTDESK_DATA_DIR") or platformdirs.user_data_dir("shiftdesk"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_database_url() -> str:
    """``SHIFTDESK_DATABASE_URL`` if set, else an SQLite file in :func:`data_dir`."""
    url = os.environ.get("SHIFTDESK_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{data_dir() / 'shiftdesk.sqlite'}"


def _describe(url: str) -> str:
    """A URL fit for messages: no password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def translate_error(exc: SQLAlchemyError, url: str) -> StorageError:
    """Turn a driver error into a message that says what to do."""
    text_ = str(getattr(exc, "orig", exc)).lower()
    where = _describe(url)
    if "database is locked" in text_:
        return StorageError(
            f"The database {where} is locked by another process and stayed locked for the "
            "whole wait. Nothing was written. Close other programs that write to it (or a "
            "stuck kernel) and try again; for many concurrent users use PostgreSQL "
            "(SHIFTDESK_DATABASE_URL)."
        )
    if "readonly" in text_ or "read-only" in text_ or "read only" in text_:
        return StorageError(
            f"The database {where} is read-only, so nothing was saved. Make the file and its "
            "folder writable, or point SHIFTDESK_DATABASE_URL (or SHIFTDESK_DATA_DIR) at a "
            "writable location."
        )
    if "unable to open database" in text_:
        return StorageError(
            f"The database {where} cannot be opened: its folder is missing or not writable. "
            "Set SHIFTDESK_DATA_DIR or SHIFTDESK_DATABASE_URL to a writable place."
        )
    if "row-level security" in text_:
        return StorageError(
            f"The database {where} refused to store a row for another user: your database "
            "account may only write its own rows (what the hub says you are). Nothing was "
            "written."
        )
    if "permission denied" in text_:
        return StorageError(
            f"The database {where} refused this: your database account may not change it "
            f"({getattr(exc, 'orig', exc)}). Shared state (the DAQ, its run sheet, "
            "experiments) is changed through the shiftdesk gate on a hub, which checks your "
            "hub groups. Nothing was written."
        )
    if "peer authentication failed" in text_ or "pg_hba.conf rejects" in text_:
        return StorageError(
            f"The database {where} refused the connection: on the hub, each account connects "
            "only as its own user, as the database checks itself. Use the "
            "SHIFTDESK_DATABASE_URL your server was started with."
        )
    if any(m in text_ for m in ("connection refused", "could not connect", "connection failed")):
        return StorageError(
            f"Cannot connect to the database {where}: is the server running and the URL in "
            "SHIFTDESK_DATABASE_URL right?"
        )
    return StorageError(f"Database error on {where}: {getattr(exc, 'orig', exc)}")


def _sqlite_pragmas(dbapi_connection: object, _record: object, busy_timeout: float = 10.0) -> None:
    # WAL lets a worker process write progress while kernels read; the busy timeout
    # turns short lock contention into a wait instead of an immediate error.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    cursor.execute("PRAGMA foreign_keys = ON")
    # A read-only file cannot switch journal mode; reads still work.
    with contextlib.suppress(Exception):
        cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


class Database:
    """A shiftdesk database: engine, session factory and schema management.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL. Defaults to :func:`default_database_url`.
    migrate : bool
        Upgrade an older schema to the current one when opened (default). With
        ``False`` an out-of-date schema raises :class:`~shiftdesk.errors.StorageError`.
    busy_timeout : float
        Seconds SQLite waits for a lock before giving up.
    """

    def __init__(
        self, url: str | None = None, *, migrate: bool = True, busy_timeout: float = 10.0
    ) -> None:
        self.url = url or default_database_url()
        connect_args: dict[str, object] = {}
        if self.url.startswith("sqlite"):
            connect_args = {"timeout": busy_timeout, "check_same_thread": False}
        self.engine: Engine = create_engine(self.url, connect_args=connect_args, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(
                self.engine,
                "connect",
                lambda conn, record: _sqlite_pragmas(conn, record, busy_timeout),
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Not every domain's tables (load_records): each domain's code imports its own
        # records before it queries them, and no table refers to another domain's. Who
        # needs them all imports them (migrations, the hub's grants): importing them here
        # cost every dashboard's fresh kernel ~0.2 s for tables it never reads.
        try:
            self.ensure_schema(migrate=migrate)
        except BaseException:
            self.engine.dispose()  # don't leak pooled connections of a refused database
            raise

    def __repr__(self) -> str:
        return f"Database({_describe(self.url)!r})"

    # -- schema --------------------------------------------------------------------------
    def _alembic_config(self) -> object:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        # The core's history plus each domain's own branch of revisions.
        folders = _version_folders()
        cfg.set_main_option("path_separator", "os")
        cfg.set_main_option("version_locations", os.pathsep.join(str(f) for f in folders))
        return cfg

    def _script(self) -> Any:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config())  # type: ignore[arg-type]

    def head_revisions(self) -> frozenset[str]:
        """The newest migrations this installation knows (the core's and each domain's).

        Read from the revision files (:func:`declared_heads`); Alembic reads them only
        when those files are not plain enough for that.
        """
        heads = declared_heads(_version_folders())
        if heads is None:
            heads = frozenset(self._script().get_heads())
        return heads

    def head_revision(self) -> str:
        """The newest migrations this installation knows, as one text (``a+b`` for several
        branches); compare with :meth:`current_revision`."""
        return "+".join(sorted(self.head_revisions()))

    def current_revisions(self) -> frozenset[str]:
        """The migrations the database is at (empty for an empty database)."""
        try:
            with self.engine.connect() as conn:
                if not inspect(conn).has_table("alembic_version"):
                    return frozenset()
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
                return frozenset(row[0] for row in rows)
        except (OperationalError, ProgrammingError) as exc:
            raise translate_error(exc, self.url) from exc

    def current_revision(self) -> str | None:
        """The migrations the database is at (as :meth:`head_revision` writes them), or
        ``None`` for an empty database."""
        current = self.current_revisions()
        return "+".join(sorted(current)) if current else None

    def ensure_schema(self, *, migrate: bool = True) -> None:
        """Check the schema version and upgrade it when allowed.

        A database at the newest schema costs one query and a read of the revision
        files; Alembic is imported only when the schema is older or newer.
        """
        current = self.current_revisions()
        heads = self.head_revisions()
        if current == heads:
            return
        script = self._script()
        known = {rev.revision for rev in script.walk_revisions()}
        unknown = sorted(current - known)
        if unknown:
            raise SchemaTooNewError(
                f"The database {_describe(self.url)} has schema version {'+'.join(unknown)!r}, "
                f"which this shiftdesk ({self.head_revision()!r} is its newest) does not know: "
                "it was written by a newer shiftdesk, or by a domain package not installed "
                "here. Upgrade shiftdesk (pip install -U shiftdesk) or install that package "
                "rather than using this installation on it; nothing was changed."
            )
        if not migrate:
            raise StorageError(
                f"The database {_describe(self.url)} is at schema {self.current_revision()!r} "
                f"but this shiftdesk needs {self.head_revision()!r}. Run `shiftdesk db "
                "upgrade` (back it up first)."
            )
        self.upgrade()

    def upgrade(self, revision: str = "heads") -> None:
        """Apply migrations up to ``revision`` (``alembic upgrade``; default: every
        branch's newest)."""
        from alembic import command

        cfg = self._alembic_config()
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn  # type: ignore[attr-defined]
                command.upgrade(cfg, revision)  # type: ignore[arg-type]
        except (OperationalError, ProgrammingError) as exc:
            if "permission denied" in str(getattr(exc, "orig", exc)).lower():
                raise StorageError(
                    f"The database {_describe(self.url)} needs an upgrade to schema "
                    f"{self.head_revision()!r}, which only its owner may do (your account may "
                    "not change tables). Ask the hub administrator: the hub upgrades it when "
                    "it starts (or `shiftdesk db upgrade` as the owner). Nothing was changed."
                ) from exc
            raise translate_error(exc, self.url) from exc

    def downgrade(self, revision: str) -> None:
        """Revert migrations down to ``revision`` (``"base"`` empties the database)."""
        from alembic import command

        cfg = self._alembic_config()
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn  # type: ignore[attr-defined]
            command.downgrade(cfg, revision)  # type: ignore[arg-type]

    # -- sessions ------------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back (nothing half-written) on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise translate_error(exc, self.url) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


_databases: dict[str, Database] = {}
_lock = threading.Lock()


def get_database(url: str | None = None) -> Database:
    """The shared :class:`Database` for ``url`` (default: :func:`default_database_url`)."""
    url = url or default_database_url()
    with _lock:
        db = _databases.get(url)
        if db is None:
            db = _databases[url] = Database(url)
        return db


def reset_default_databases() -> None:
    """Forget cached databases (tests, or after changing ``SHIFTDESK_DATABASE_URL``)."""
    with _lock:
        for db in _databases.values():
            db.dispose()
        _databases.clear()
