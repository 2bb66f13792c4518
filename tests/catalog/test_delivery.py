"""Deliveries to an archive pipeline: the directory-rename protocol, explicit states, and
the files' states following them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tests.catalog._trees import new_flat as _flat

from shiftdesk.audit import entries
from shiftdesk.catalog import Catalog
from shiftdesk.catalog import delivery as delivery_module
from shiftdesk.catalog.delivery import Delivery, DirectoryRenameProtocol, Outgoing, walk
from shiftdesk.catalog.demo import seed_demo
from shiftdesk.catalog.submission import Submission
from shiftdesk.errors import CatalogError, PermissionDenied
from shiftdesk.gate import get_gate
from shiftdesk.identity import Identity, current_identity
from shiftdesk.storage import get_database

NEW = ["roman_wfi_flat_0016.asdf", "roman_wfi_flat_0003.rmap", "roman_wfi_0004.imap",
       "roman_0004.pmap"]  # fmt: skip


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    """The demo catalog (roman_0002.pmap latest, roman_0003.pmap edit)."""
    seed_demo(get_database(), current_identity())
    return Catalog.open("roman")


@pytest.fixture
def outbox(tmp_path: Path, cat: Catalog) -> Path:
    """A delivery folder an administrator set for the catalog."""
    folder = tmp_path / "pipeline" / "deliveries"
    folder.mkdir(parents=True)
    _admin(cat).set_delivery_folder(str(folder), why="the archive's drop folder")
    return folder


def _admin(catalog: Catalog) -> Catalog:
    return Catalog.open(catalog.observatory, identity=Identity("root", admin=True))


def _submission(cat: Catalog, tmp_path: Path) -> Submission:
    sub = cat.submit([_flat(tmp_path / "in")], description="2026 F087 flat for WFI01")
    assert sub.status == "done", sub.error
    return sub


def _states(cat: Catalog, names: list[str] = NEW) -> set[str]:
    return {cat.file(n).state for n in names}


def _rename(folder: Path, old: str, new: str | None) -> None:
    """What the archive pipeline does: rename the manifest (None: remove it, archived)."""
    source = folder / f"opus_1_i{old}"
    if new is None:
        source.unlink()
    else:
        source.rename(folder / f"opus_1_i{new}")


def test_the_shortest_walk_between_states_is_every_allowed_move() -> None:
    assert walk("delivered", "archived") == ["submitted", "archiving", "archived"]
    assert walk("delivered", "archiving-failed") == ["submitted", "archiving-failed"]
    assert walk("archiving-failed", "archived") == ["archiving", "archived"]
    assert walk("archived", "archived") == []
    assert walk("archived", "submitted") is None
    assert walk("cancelled", "delivered") is None


def test_a_confirmed_submission_is_delivered_and_followed_to_operational(
    cat: Catalog, outbox: Path, tmp_path: Path
) -> None:
    assert cat.delivery_folder == outbox.resolve()
    sub = _submission(cat, tmp_path)
    sub.confirm()
    [d] = cat.deliveries()
    assert (d.serial, d.handle, d.state, d.submission) == (1, "opus_1_i.cat", "delivered", sub.id)
    assert sorted(d.files) == sorted(NEW)
    # the manifest, written last; the files beside it are the store's own (hard links)
    lines = (outbox / "opus_1_i.cat").read_text().splitlines()
    assert sorted(lines) == sorted(f"{n} I {'R' if n.endswith('.asdf') else 'M'}" for n in NEW)
    assert sorted(p.name for p in outbox.iterdir()) == sorted([*NEW, "opus_1_i.cat"])
    for name in NEW:
        assert os.path.samefile(outbox / name, cat.path(name))
    assert _states(cat) == {"delivered"}
    assert cat.poll_deliveries() == []  # nothing moved yet

    _rename(outbox, ".cat", ".cat_SUBMIT")
    [moved] = cat.poll_deliveries()
    assert moved.state == "submitted" and _states(cat) == {"submitted"}
    _rename(outbox, ".cat_SUBMIT", ".cat_PROC")
    assert [x.state for x in cat.poll_deliveries()] == ["archiving"]
    assert _states(cat) == {"archiving"}
    _rename(outbox, ".cat_PROC", None)
    assert [x.state for x in cat.poll_deliveries()] == ["archived"]
    assert _states(cat) == {"archived"}
    assert cat.delivery(1).state == "archived" and cat.poll_deliveries() == []
    # every move is in the file's history, and the delivery's in the audit trail
    history = [e.action for e in cat.file("roman_wfi_flat_0016.asdf").history]
    assert history[-4:] == ["deliver", "state submitted", "state archiving", "state archived"]
    details = [e.detail for e in entries(action="catalog.delivery")]
    assert "archiving → archived" in details and "delivered → submitted" in details
    # the operator makes the new context latest: its archived files become operational
    cat.set_context("latest", "roman_0004.pmap", why="2026 flats")
    assert _states(cat) == {"operational"}


def test_a_pipeline_that_skips_states_still_moves_files_through_each(
    cat: Catalog, outbox: Path, tmp_path: Path
) -> None:
    _submission(cat, tmp_path).confirm()
    # the latest context is set while the files are still with the pipeline
    cat.set_context("latest", "roman_0004.pmap", why="early")
    assert _states(cat) == {"delivered"}
    _rename(outbox, ".cat", None)
    [moved] = cat.poll_deliveries()
    assert moved.state == "archived"
    # archived files of the latest context become operational
    assert _states(cat) == {"operational"}
    history = [e.action for e in cat.file("roman_0004.pmap").history]
    assert history[-4:] == ["state submitted", "state archiving", "state archived",
                            "state operational"]  # fmt: skip


def test_an_archiving_failure_is_followed_and_may_be_retried(
    cat: Catalog, outbox: Path, tmp_path: Path
) -> None:
    _submission(cat, tmp_path).confirm()
    _rename(outbox, ".cat", ".cat_ERROR")
    [failed] = cat.poll_deliveries()
    assert failed.state == "archiving-failed" and _states(cat) == {"archiving-failed"}
    # a state that cannot follow is noted, not taken
    _rename(outbox, ".cat_ERROR", ".cat_SUBMIT")
    [noted] = cat.poll_deliveries()
    assert noted.state == "archiving-failed" and "cannot follow" in noted.message
    assert cat.poll_deliveries() == []  # said once
    _rename(outbox, ".cat_SUBMIT", ".cat_PROC")
    [retried] = cat.poll_deliveries()
    assert (retried.state, retried.message) == ("archiving", "")
    assert _states(cat) == {"archiving"}


def test_an_unmounted_delivery_folder_is_never_read_as_archived(
    cat: Catalog, outbox: Path, tmp_path: Path
) -> None:
    _submission(cat, tmp_path).confirm()
    outbox.rename(outbox.with_name("elsewhere"))
    [d] = cat.poll_deliveries()
    assert d.state == "delivered" and "is not there" in d.message
    assert _states(cat) == {"delivered"}


def test_a_missing_or_unwritable_folder_refuses_the_confirm_with_nothing_made(
    cat: Catalog, outbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = _submission(cat, tmp_path)
    before = len(cat)
    outbox.rmdir()
    with pytest.raises(CatalogError, match=r"does not exist.*nothing was delivered"):
        sub.confirm()
    outbox.mkdir()
    monkeypatch.setattr(delivery_module.os, "access", lambda *a, **k: False)
    with pytest.raises(CatalogError, match="cannot be written"):
        sub.confirm()
    monkeypatch.undo()
    assert len(cat) == before and cat.deliveries() == [] and list(outbox.iterdir()) == []
    sub.refresh()
    assert sub.outcome == "pending"
    sub.confirm()  # once the folder is usable
    assert [d.state for d in cat.deliveries()] == ["delivered"]


def test_a_delivery_failing_halfway_leaves_nothing_and_confirm_can_be_repeated(
    cat: Catalog, outbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = _submission(cat, tmp_path)
    mkstemp = delivery_module.tempfile.mkstemp

    def full(*args: Any, **kwargs: Any) -> Any:
        if Path(kwargs.get("dir", "")) == outbox:  # the delivery folder fills up
            raise OSError(28, "No space left on device")
        return mkstemp(*args, **kwargs)

    monkeypatch.setattr(delivery_module.tempfile, "mkstemp", full)
    with pytest.raises(CatalogError, match=r"No space left.*nothing of the delivery"):
        sub.confirm()
    assert list(outbox.iterdir()) == []  # the links made before the manifest are gone
    assert cat.deliveries() == []
    monkeypatch.undo()
    sub.confirm()  # repeated: the files are cataloged already, the delivery is made now
    assert sub.outcome == "confirmed"
    [d] = cat.deliveries()
    assert d.serial == 1 and (outbox / d.handle).is_file()


def test_the_protocol_refuses_a_folder_holding_another_file_of_a_name(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    ok = tmp_path / "a.asdf"
    ok.write_bytes(b"a")
    other = tmp_path / "b.asdf"
    other.write_bytes(b"b")
    (folder / "b.asdf").write_bytes(b"not b")
    protocol = DirectoryRenameProtocol(folder)
    with pytest.raises(CatalogError, match=r"holds another b\.asdf"):
        protocol.send(7, "I", [Outgoing("a.asdf", ok, "R"), Outgoing("b.asdf", other, "R")])
    assert sorted(p.name for p in folder.iterdir()) == ["b.asdf"]


def test_links_fall_back_to_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    source = tmp_path / "a.asdf"
    source.write_bytes(b"abc")

    def cross_device(*args: Any) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(delivery_module.os, "link", cross_device)
    handle = DirectoryRenameProtocol(folder).send(3, "I", [Outgoing("a.asdf", source, "R")])
    assert handle == "opus_3_i.cat"
    assert (folder / "a.asdf").read_bytes() == b"abc"
    assert not os.path.samefile(folder / "a.asdf", source)
    assert (folder / handle).read_text() == "a.asdf I R\n"
    assert DirectoryRenameProtocol(folder).state(handle) == "delivered"


def test_a_delivery_not_taken_yet_can_be_cancelled(
    cat: Catalog, outbox: Path, tmp_path: Path
) -> None:
    _submission(cat, tmp_path).confirm()
    with pytest.raises(CatalogError, match=r"edit context roman_0004.pmap uses .*set_context"):
        cat.cancel_delivery(1, why="wrong flat")
    cat.set_context("edit", "roman_0003.pmap", why="back, the flat was wrong")
    with pytest.raises(PermissionDenied, match="only they"):
        Catalog.open("roman", identity=Identity("erin", groups=frozenset({"catalog-roman"}))
                     ).cancel_delivery(1, why="not mine")  # fmt: skip
    done = cat.cancel_delivery("opus_1_i.cat", why="wrong flat")
    assert done.state == "cancelled" and done.message == "wrong flat"
    assert list(outbox.iterdir()) == []  # the manifest and the links are gone
    assert _states(cat) == {"cancelled"}
    assert cat.poll_deliveries() == []  # a cancelled delivery is not polled
    with pytest.raises(CatalogError, match="is cancelled"):
        cat.cancel_delivery(1, why="again")


def test_a_delivery_the_pipeline_took_cannot_be_cancelled_but_a_failed_one_can(
    cat: Catalog, outbox: Path, tmp_path: Path
) -> None:
    _submission(cat, tmp_path).confirm()
    cat.set_context("edit", "roman_0003.pmap", why="back")
    _rename(outbox, ".cat", ".cat_SUBMIT")
    # taken meanwhile (not polled yet): the rename wins, nothing changes
    with pytest.raises(CatalogError, match=r"taken opus_1_i\.cat meanwhile"):
        cat.cancel_delivery(1, why="too late")
    assert (outbox / "opus_1_i.cat_SUBMIT").is_file() and _states(cat) == {"delivered"}
    cat.poll_deliveries()
    with pytest.raises(CatalogError, match="is submitted"):
        cat.cancel_delivery(1, why="too late")
    _rename(outbox, ".cat_SUBMIT", ".cat_ERROR")
    cat.poll_deliveries()
    assert cat.cancel_delivery(1, why="given up").state == "cancelled"
    assert _states(cat) == {"cancelled"}
    assert not any(p.name.startswith("opus_1") for p in outbox.iterdir())


def test_without_a_delivery_folder_confirmed_files_stay_delivered(
    cat: Catalog, tmp_path: Path
) -> None:
    assert cat.delivery_folder is None
    _submission(cat, tmp_path).confirm()
    assert cat.deliveries() == [] and _states(cat) == {"delivered"}
    with pytest.raises(CatalogError, match="delivers nowhere"):
        cat.deliver(NEW)


def test_files_delivered_by_hand_and_never_twice(
    cat: Catalog, tmp_path: Path, outbox: Path
) -> None:
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "roman_wfi_dark_0099.asdf").write_bytes(b"a dark")
    cat.add_files([folder], state="delivered", why="by hand")
    d = cat.deliver("roman_wfi_dark_0099.asdf", description="a dark")
    assert isinstance(d, Delivery) and d.files == ("roman_wfi_dark_0099.asdf",)
    with pytest.raises(CatalogError, match="already given to the archive pipeline"):
        cat.deliver(["roman_wfi_dark_0099.asdf"])
    with pytest.raises(CatalogError, match="only delivered files"):
        cat.deliver(["roman_0002.pmap"])


def test_only_administrators_set_where_a_catalog_delivers(cat: Catalog, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    editor = Catalog.open("roman", identity=Identity("erin", groups=frozenset({"catalog-roman"})))
    with pytest.raises(PermissionDenied, match="administrators"):
        editor.set_delivery_folder(str(folder))
    admin = _admin(cat)
    with pytest.raises(CatalogError, match="absolute"):
        admin.set_delivery_folder("drop")
    with pytest.raises(CatalogError, match="inside the catalog's store"):
        admin.set_delivery_folder(str(cat.folder / "references"))
    with pytest.raises(CatalogError, match="does not exist"):
        admin.set_delivery_folder(str(tmp_path / "nowhere"))
    admin.set_delivery_folder(str(folder))
    assert cat.delivery_folder == folder.resolve()
    admin.set_delivery_folder(None)
    assert cat.delivery_folder is None


def test_deliveries_run_as_gate_actions(cat: Catalog, outbox: Path, tmp_path: Path) -> None:
    _submission(cat, tmp_path).confirm()
    _rename(outbox, ".cat", ".cat_PROC")
    gate = get_gate()
    [moved] = gate.call("catalog.poll_deliveries", observatory="roman")
    assert Delivery.from_json(moved).state == "archiving"
    with pytest.raises(PermissionDenied):
        # the local user is no administrator here: the folder stays the administrator's
        gate.call("catalog.set_delivery_folder", observatory="roman", folder=str(tmp_path))
    assert cat.delivery_folder == outbox.resolve()
