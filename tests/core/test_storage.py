"""shiftdesk.storage.Database against real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from tests._services import service_missing

from shiftdesk.errors import SchemaTooNewError, StorageError
from shiftdesk.storage import Base, Database, DataFileRecord, JobRecord, SavedModelRecord
from shiftdesk.storage.database import _version_folders, declared_heads

TABLES = (
    {"data_files", "saved_models", "jobs", "audit_log", "test_tallies", "group_members"}
    | {
        f"daq_{name}"
        for name in (
            "experiments",
            "ecc_servers",
            "data_routers",
            "data_sources",
            "runs",
            "observables",
            "measurements",
            "commands",
            "calls",
            "log",
        )
    }
    | {
        f"runtable_{name}"
        for name in ("tables", "members", "variables", "runs", "values", "view_settings")
    }
    | {
        f"catalog_{name}"
        for name in (
            "catalogs",
            "files",
            "edges",
            "contexts",
            "context_history",
            "counters",
            "locks",
            "file_events",
            "submissions",
            "delivery_settings",
            "deliveries",
        )
    }
    | {f"datalab_{name}" for name in ("sessions", "members", "inputs", "operations", "results")}
)


@pytest.fixture
def open_db() -> Iterator[Callable[..., Database]]:
    """Open :class:`Database` objects and close all their connections after the test."""
    opened: list[Database] = []

    def _open(url: str, **kwargs: object) -> Database:
        db = Database(url, **kwargs)  # type: ignore[arg-type]
        opened.append(db)
        return db

    yield _open
    for db in opened:
        db.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shiftdesk.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each supported kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shiftdesk.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


def _table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _schema_differences(db: Database, metadata: sa.MetaData) -> list[object]:
    from shiftdesk.domains import load_records

    load_records()  # every domain's tables in Base.metadata, whatever this run imported
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def _data_file(owner: str = "alice", name: str = "film.txt") -> DataFileRecord:
    content = b"# q R dR\n0.01 1.0 0.01\n0.02 0.5 0.01\n"
    return DataFileRecord(owner=owner, name=name, content=content, size=len(content), n_points=2)


def _count(db: Database, model: type[Base]) -> int:
    with db.session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


# -- schema -------------------------------------------------------------------------------


def test_fresh_database_migrates_from_empty_to_head(
    db_url: str, open_db: Callable[..., Database]
) -> None:
    assert _table_names(db_url) == set()

    db = open_db(db_url)

    assert db.current_revision() == db.head_revision()
    assert _table_names(db_url) == TABLES | {"alembic_version"}
    # Opening it again is a no-op, not a second migration.
    assert open_db(db_url).current_revision() == db.head_revision()


def test_heads_read_from_the_revision_files_are_alembics(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        assert declared_heads(_version_folders()) == frozenset(db._script().get_heads())
        assert db.head_revisions() == frozenset(db._script().get_heads())
    finally:
        db.dispose()


def test_opening_a_database_at_its_newest_schema_does_not_import_alembic(
    db_url: str, open_db: Callable[..., Database]
) -> None:
    open_db(db_url)  # migrated to the newest schema
    code = (
        "import sys; from shiftdesk.storage import Database; "
        "Database(sys.argv[1]).dispose(); print('alembic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, db_url], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_revision_files_not_plain_enough_are_left_to_alembic(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text('"""A."""\nrevision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision: str = "b"\ndown_revision = ("a",)\n')
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\ndepends_on = "b"\n')
    assert declared_heads([tmp_path]) == {"b", "c"}
    # set again below the functions: the whole file is read (the last one counts)
    (tmp_path / "f.py").write_text(
        'revision = "f"\ndown_revision = "c"\n\ndef upgrade():\n    pass\n\nrevision = "g"\n'
    )
    assert declared_heads([tmp_path]) == {"b", "g"}
    (tmp_path / "d.py").write_text('revision = "d"\ndown_revision = pick("c")\n')
    assert declared_heads([tmp_path]) is None
    (tmp_path / "d.py").unlink()
    (tmp_path / "e.pyc").write_bytes(b"")  # a revision without source
    assert declared_heads([tmp_path]) is None


def test_opening_a_database_imports_no_domains_tables(tmp_path: Path) -> None:
    # a dashboard's fresh kernel pays for what it imports; its own domain's code brings
    # its tables, and who needs every table (migrations, the hub's grants) loads them
    import subprocess
    import sys

    Database(f"sqlite:///{tmp_path / 'x.db'}").dispose()  # made and migrated here
    code = (
        "import sys\n"
        "from shiftdesk.storage import Database\n"
        f"Database('sqlite:///{tmp_path / 'x.db'}')\n"  # at its newest schema
        "print(sorted(m for m in sys.modules if m.endswith('.records')))\n"
        "from shiftdesk.storage.boundary import _tables\n"
        "print('catalog_files' in _tables(), 'daq_runs' in _tables())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[-2:] == ["[]", "True True"], out.stdout


def test_migrated_schema_matches_the_models(db_url: str, open_db: Callable[..., Database]) -> None:
    db = open_db(db_url)

    assert _schema_differences(db, Base.metadata) == []

    # The comparison itself can see a difference (otherwise the check above proves nothing).
    changed = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["jobs"].append_column(sa.Column("extra", sa.Integer(), nullable=True))
    differences = _schema_differences(db, changed)
    assert len(differences) == 1
    assert differences[0][0] == "add_column"  # type: ignore[index]


def test_downgrade_to_base_then_upgrade(db_url: str, open_db: Callable[..., Database]) -> None:
    db = open_db(db_url)

    db.downgrade("base")
    assert db.current_revision() is None
    assert _table_names(db_url) & TABLES == set()

    db.upgrade()
    assert db.current_revision() == db.head_revision()
    assert _schema_differences(db, Base.metadata) == []


def test_migrate_false_refuses_an_empty_database(
    db_url: str, open_db: Callable[..., Database]
) -> None:
    with pytest.raises(StorageError, match="shiftdesk db upgrade"):
        open_db(db_url, migrate=False)
    assert _table_names(db_url) & TABLES == set()


def test_schema_from_a_newer_shiftdesk_is_refused_untouched(
    db_url: str, open_db: Callable[..., Database]
) -> None:
    db = open_db(db_url)
    with db.session() as session:
        session.add(_data_file())
    # one branch's newest revision (the core's history has the domains' branches beside it,
    # each with its own row)
    heads = sorted(db.head_revisions())
    core_head = next(head for head in heads if not head.startswith("test_"))
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE alembic_version SET version_num = '9999_future' WHERE version_num = :v"
            ),
            {"v": core_head},
        )
    db.dispose()

    with pytest.raises(SchemaTooNewError, match="9999_future") as excinfo:
        open_db(db_url)
    assert "newer shiftdesk" in str(excinfo.value)

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
            expected = sorted("9999_future" if head == core_head else head for head in heads)
            assert sorted(v[0] for v in versions) == expected
            assert conn.execute(sa.text("SELECT owner, name FROM data_files")).all() == [
                ("alice", "film.txt")
            ]
            assert set(sa.inspect(conn).get_table_names()) == TABLES | {"alembic_version"}
    finally:
        engine.dispose()


# -- sessions -----------------------------------------------------------------------------


def test_row_written_in_a_session_is_read_back(
    db_url: str, open_db: Callable[..., Database]
) -> None:
    db = open_db(db_url)
    with db.session() as session:
        record = _data_file()
        session.add(record)
        session.flush()
        file_id = record.id
        session.add(
            SavedModelRecord(
                owner="alice", title="SiO2 on Si", model_json="{}", data_file_id=file_id
            )
        )
        session.add(JobRecord(id="0" * 36, kind="refl1d.fit", owner="alice", spec_json="{}"))

    # A different Database object (its own connections) sees the committed rows.
    other = open_db(db_url)
    with other.session() as session:
        loaded = session.get(DataFileRecord, file_id)
        assert loaded is not None
        assert (loaded.owner, loaded.name, loaded.n_points) == ("alice", "film.txt", 2)
        assert loaded.content == _data_file().content
        assert loaded.domain == "reflectometry"
        assert loaded.created_at is not None
        model = session.scalars(sa.select(SavedModelRecord)).one()
        assert (model.title, model.data_file_id, model.notes) == ("SiO2 on Si", file_id, "")
        job = session.get(JobRecord, "0" * 36)
        assert job is not None
        assert (job.status, job.progress, job.cancel_requested) == ("queued", 0.0, False)


def test_exception_in_a_session_rolls_everything_back(
    db_url: str, open_db: Callable[..., Database]
) -> None:
    db = open_db(db_url)

    with pytest.raises(RuntimeError, match="boom"), db.session() as session:
        session.add(_data_file(name="first.txt"))
        session.flush()  # the row reached the database inside the transaction...
        raise RuntimeError("boom")

    assert _count(db, DataFileRecord) == 0  # ...and is gone after the rollback


def test_database_error_in_a_session_rolls_back_and_becomes_storage_error(
    db_url: str, open_db: Callable[..., Database]
) -> None:
    db = open_db(db_url)

    with pytest.raises(StorageError, match="Database error on") as excinfo, db.session() as s:
        s.add(_data_file(name="good.txt"))
        s.flush()
        s.add(DataFileRecord(owner=None, name="bad.txt", content=b"", size=0, n_points=0))
    assert isinstance(excinfo.value.__cause__, sa.exc.IntegrityError)

    assert _count(db, DataFileRecord) == 0


# -- bad inputs (SQLite) ------------------------------------------------------------------


def test_locked_sqlite_database_raises_storage_error(
    tmp_path: Path, sqlite_url: str, open_db: Callable[..., Database]
) -> None:
    db = open_db(sqlite_url, busy_timeout=0.2)
    holder = sqlite3.connect(tmp_path / "shiftdesk.sqlite", isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageError, match="locked") as excinfo, db.session() as session:
            session.add(_data_file())
        assert "Nothing was written" in str(excinfo.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert _count(db, DataFileRecord) == 0
    with db.session() as session:  # works again once the lock is gone
        session.add(_data_file())
    assert _count(db, DataFileRecord) == 1


def test_read_only_sqlite_database_raises_storage_error(
    tmp_path: Path, sqlite_url: str, open_db: Callable[..., Database]
) -> None:
    path = tmp_path / "shiftdesk.sqlite"
    writable = open_db(sqlite_url)
    with writable.session() as session:
        session.add(_data_file())
    writable.dispose()

    # chmod does not stop root, so ask SQLite itself for a read-only connection.
    readonly = open_db(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert _count(readonly, DataFileRecord) == 1  # reading works

    with pytest.raises(StorageError, match="read-only"), readonly.session() as session:
        session.add(_data_file(name="second.txt"))

    assert _count(open_db(sqlite_url), DataFileRecord) == 1


def test_sqlite_in_a_missing_folder_raises_storage_error(
    tmp_path: Path, open_db: Callable[..., Database]
) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'shiftdesk.sqlite'}"
    with pytest.raises(StorageError, match="cannot be opened"):
        open_db(url)


@pytest.mark.postgres
def test_unreachable_postgres_raises_storage_error(open_db: Callable[..., Database]) -> None:
    import importlib.util
    import socket

    if importlib.util.find_spec("psycopg") is None:
        service_missing('psycopg is not installed: pip install -e ".[postgres]"')

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://shiftdesk:secret@127.0.0.1:{port}/shiftdesk"

    with pytest.raises(StorageError, match="Cannot connect") as excinfo:
        open_db(url)
    assert "secret" not in str(excinfo.value)  # no password in messages
