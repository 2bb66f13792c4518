"""The catalog on a real PostgreSQL behind the trust boundary.

Every catalog table is ``shared``: a user's own connection (their role) reads it and
cannot change a row; changes reach it only through the gate (here: the action run as the
gate service runs it, with the table owner's connection and the verified caller).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.catalog._trees import ROMAN

from shiftdesk.audit import entries
from shiftdesk.catalog import Catalog
from shiftdesk.catalog.records import TABLES
from shiftdesk.errors import CatalogError, PermissionDenied, StorageError
from shiftdesk.gate import LocalGate, run_action
from shiftdesk.gate.actions import ActionContext
from shiftdesk.identity import Identity
from shiftdesk.storage import Database
from shiftdesk.storage.boundary import ensure_user_role, secure, unprotected_tables

pytestmark = pytest.mark.postgres

HEADER = {
    "ROMAN.META.INSTRUMENT.NAME": "WFI",
    "ROMAN.META.INSTRUMENT.DETECTOR": "WFI01",
    "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT": "F158",
    "ROMAN.META.EXPOSURE.START_TIME": "2021-06-01 00:00:00",
}


@pytest.fixture
def hub(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Database, Database, Identity]]:
    """A secured database, a user's own connection, and that user as the hub says (an
    editor of the roman catalog); the Roman fixture imported through the gate."""
    suffix = uuid.uuid4().hex[:6]
    name = f"cal_{suffix}"
    owner = Database(postgres_url)
    secure(owner)
    ensure_user_role(owner, name)
    host = postgres_url.split("@", 1)[1]
    user = Database(f"postgresql+psycopg://{name}@{host}")
    who = Identity(name, groups=frozenset({"catalog-roman"}))
    folder = tmp_path / "crds"
    folder.mkdir()
    for file, content in ROMAN.items():
        (folder / file).write_text(content)
    gate = ActionContext(who, owner)
    run_action("catalog.create", {"observatory": "roman"}, gate, via="gate")
    # the gate reads no path a caller names: the files travel as their bytes
    uploads = {f.name: base64.b64encode(f.read_bytes()).decode() for f in folder.iterdir()}
    run_action("catalog.add_files", _args(uploads=uploads), gate, via="gate")
    run_action(
        "catalog.set_context",
        _args(kind="latest", context="roman_0005.pmap", why="initial import"),
        gate,
        via="gate",
    )
    try:
        yield owner, user, who
    finally:
        user.dispose()
        owner.dispose()


def _args(**args: object) -> dict[str, object]:
    defaults = {"why": "", "description": "", "state": "operational"} if "uploads" in args else {}
    return {"observatory": "roman", **defaults, **args}


def test_catalog_tables_are_protected(hub) -> None:  # type: ignore[no-untyped-def]
    owner, _, _ = hub
    with owner.engine.connect() as conn:
        assert unprotected_tables(conn) == []
        secured = dict(
            conn.execute(
                text("SELECT relname, relrowsecurity FROM pg_class WHERE relname LIKE 'catalog_%'")
            ).all()
        )
    assert {t: secured.get(t) for t in TABLES} == dict.fromkeys(TABLES, True)


def test_a_user_reads_the_catalog_but_cannot_write_it(hub) -> None:  # type: ignore[no-untyped-def]
    owner, user, who = hub
    cat = Catalog.open("roman", database=user, identity=who, gate=LocalGate(who))
    assert len(cat) == 5 and cat.context("latest") == "roman_0005.pmap"
    assert cat.uses("roman_wfi_flat_0004.rmap") == ["roman_0005.pmap", "roman_wfi_0004.imap"]
    assert cat.best_references(HEADER)["distortion"] == "roman_wfi_distortion_0001.asdf"
    assert cat.browse(filekind="FLAT")["name"].tolist() == ["roman_wfi_flat_0004.rmap"]
    assert [c.context for c in cat.context_history()] == ["roman_0005.pmap"]

    with user.engine.connect() as conn:
        for statement in (
            "UPDATE catalog_files SET rejected = true",
            "DELETE FROM catalog_edges",
            "INSERT INTO catalog_contexts (observatory, kind, context, changed_by, changed_at) "
            "VALUES ('roman', 'edit', 'roman_0005.pmap', 'me', now())",
            "UPDATE catalog_counters SET counter = 0",
        ):
            with pytest.raises(Exception, match="permission denied"):
                conn.execute(text(statement))
            conn.rollback()
    # the API in the user's own process, bypassing the gate, is refused by the database
    with pytest.raises(StorageError, match="gate"):
        cat.set_context("edit", "roman_0005.pmap", why="not through the gate")
    with owner.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM catalog_contexts")).scalar() == 1


def test_the_gate_path_changes_the_catalog_for_the_verified_caller(hub) -> None:  # type: ignore[no-untyped-def]
    owner, user, who = hub
    gate = ActionContext(who, owner)
    run_action(
        "catalog.set_context",
        _args(kind="edit", context="roman_0005.pmap", why="start editing"),
        gate,
        via="gate",
    )
    name = run_action("catalog.next_name", _args(series="roman_wfi_flat.rmap"), gate, via="gate")
    assert name == "roman_wfi_flat_0005.rmap"
    lock = run_action("catalog.lock", _args(instrument="WFI", minutes=5), gate, via="gate")
    assert lock["holder"] == who.name
    with pytest.raises(CatalogError, match=r"latest context roman_0005\.pmap"):
        run_action(
            "catalog.mark_bad", _args(names=["roman_wfi_flat_0004.rmap"], why="x"), gate, via="gate"
        )
    # someone outside the group is refused by the action's own check
    stranger = ActionContext(Identity(f"not_{who.name}"), owner)
    with pytest.raises(Exception, match="catalog-roman"):
        run_action("catalog.lock", _args(instrument="CGI"), stranger, via="gate")

    cat = Catalog.open("roman", database=user, identity=who, gate=LocalGate(who))
    assert cat.contexts() == {"latest": "roman_0005.pmap", "edit": "roman_0005.pmap"}
    assert [(x.instrument, x.holder) for x in cat.locks()] == [("WFI", who.name)]
    # the user reads their own audit entries, written by the gate in their name
    mine = {(e.action, e.outcome) for e in entries(limit=50, database=user)}
    assert ("catalog.set_context", "ok") in mine and ("catalog.mark_bad", "refused") in mine
    assert ("catalog.add", "ok") in mine  # a row per imported file


def test_the_gate_reads_no_path_a_caller_names(hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An editor asking the gate to import a path (one of the gate's own files, say) or
    to keep a new catalog's files in a folder of their choosing is refused."""
    owner, _, who = hub
    secret = tmp_path / "gate-secret.rmap"
    secret.write_text("the gate's own file\n")
    gate = ActionContext(who, owner)
    with pytest.raises(TypeError):
        run_action("catalog.add_files", _args(paths=[str(secret)]), gate, via="gate")
    with pytest.raises(PermissionDenied, match="only administrators choose where"):
        run_action("catalog.create", {"observatory": "jwst", "folder": str(tmp_path)}, gate,
                   via="gate")  # fmt: skip
    assert "gate-secret.rmap" not in Catalog.open("roman", database=owner, identity=who)
    assert Catalog.list(database=owner) == ["roman"]
