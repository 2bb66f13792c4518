"""Submissions on the demo catalog: checks, official names, new rules, confirm and cancel."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from tests.catalog._trees import new_flat as _flat

from shiftdesk.audit import entries
from shiftdesk.catalog import Catalog, refactor
from shiftdesk.catalog.demo import seed_demo
from shiftdesk.catalog.headers import read_header
from shiftdesk.catalog.records import CatalogLockRecord
from shiftdesk.catalog.submission import Submission
from shiftdesk.catalog.submission_records import CatalogSubmissionRecord
from shiftdesk.errors import CatalogError, PermissionDenied
from shiftdesk.identity import Identity, current_identity
from shiftdesk.storage import get_database
from shiftdesk.tracking import utcnow

EXPOSURE = {
    "ROMAN.META.INSTRUMENT.NAME": "WFI",
    "ROMAN.META.INSTRUMENT.DETECTOR": "WFI01",
    "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT": "F087",
    "ROMAN.META.EXPOSURE.TYPE": "WFI_IMAGE",
    "ROMAN.META.EXPOSURE.START_TIME": "2026-03-01T00:00:00",
}


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    """The demo catalog: roman_0002.pmap latest, roman_0003.pmap edit."""
    seed_demo(get_database(), current_identity())
    return Catalog.open("roman")


def _as(catalog: Catalog, name: str, *groups: str) -> Catalog:
    return Catalog.open(catalog.observatory, identity=Identity(name, groups=frozenset(groups)))


def test_a_flat_is_named_inserted_and_becomes_the_edit_context_on_confirm(
    cat: Catalog, tmp_path: Path
) -> None:
    before = len(cat)
    sub = cat.submit([_flat(tmp_path / "in")], description="2026 F087 flat for WFI01")
    assert sub.status == "done", sub.error
    assert sub.outcome == "pending"
    [entry] = sub.files
    assert entry["uploaded_as"] == "new_flat.asdf"
    assert entry["name"] == "roman_wfi_flat_0016.asdf"  # after the demo's 15 flats
    assert sub.new_mappings == [
        "roman_wfi_flat_0003.rmap",
        "roman_wfi_0004.imap",
        "roman_0004.pmap",
    ]
    assert sub.new_context == "roman_0004.pmap"
    assert [c.level for c in sub.checks] == ["ok"]
    rows = sub.diffs["roman_wfi_flat_0003.rmap"]["logical"]
    assert rows == [
        {
            "change": "added",
            "path": ["('WFI01', 'F087')", "2026-02-01 00:00:00"],
            "old": None,
            "new": "roman_wfi_flat_0016.asdf",
        }
    ]
    assert sub.diffs["roman_wfi_flat_0003.rmap"]["derived_from"] == "roman_wfi_flat_0002.rmap"
    assert (
        "+        '2026-02-01 00:00:00' : 'roman_wfi_flat_0016.asdf',"
        in (sub.diffs["roman_wfi_flat_0003.rmap"]["text"])
    )
    # nothing enters the catalog before confirm; the submitter holds the instrument
    assert len(cat) == before and "roman_0004.pmap" not in cat
    assert cat.holds_lock("WFI")

    delivered = sub.confirm()
    assert sub.outcome == "confirmed"
    assert set(delivered) == {"roman_wfi_flat_0016.asdf", *sub.new_mappings}
    assert len(cat) == before + 4
    assert cat.context("edit") == "roman_0004.pmap"
    assert cat.context("latest") == "roman_0002.pmap"  # set by an operator, not a submission
    assert cat.file("roman_wfi_flat_0016.asdf").state == "delivered"
    assert cat.file("roman_wfi_flat_0016.asdf").uploaded_as == "new_flat.asdf"
    assert cat.file("roman_wfi_flat_0003.rmap").derived_from == "roman_wfi_flat_0002.rmap"
    assert cat.best_references(EXPOSURE, context="edit")["flat"] == "roman_wfi_flat_0016.asdf"
    assert cat.best_references(EXPOSURE)["flat"] == "roman_wfi_flat_0001.asdf"
    assert not cat.holds_lock("WFI")
    assert not Path(sub._record.staging).exists()
    # the delivered file is the submitted one, under its official name
    assert read_header(cat.path("roman_wfi_flat_0016.asdf"))["ROMAN.META.USEAFTER"] == (
        "2026-02-01T00:00:00"
    )


def test_two_files_of_one_rmap_go_into_one_new_version(cat: Catalog, tmp_path: Path) -> None:
    a = _flat(tmp_path / "in", "a.asdf", seed=1)
    b = _flat(tmp_path / "in", "b.asdf", seed=2, useafter="2026-04-01T00:00:00")
    sub = cat.submit([a, b], description="two flats")
    assert sub.status == "done", sub.error
    assert [f["name"] for f in sub.files] == [
        "roman_wfi_flat_0016.asdf",
        "roman_wfi_flat_0017.asdf",
    ]
    assert sub.new_mappings[0] == "roman_wfi_flat_0003.rmap"
    assert len(sub.diffs["roman_wfi_flat_0003.rmap"]["logical"]) == 2
    sub.confirm()
    exposure = dict(EXPOSURE, **{"ROMAN.META.EXPOSURE.START_TIME": "2026-05-01T00:00:00"})
    assert cat.best_references(exposure, context="edit")["flat"] == "roman_wfi_flat_0017.asdf"


def test_cancel_leaves_nothing_but_the_row_and_the_audit_entry(
    cat: Catalog, tmp_path: Path
) -> None:
    before = sorted(cat.browse(limit=1000)["name"])
    sub = cat.submit([_flat(tmp_path / "in")], description="changed my mind")
    staging = Path(sub._record.staging)
    assert staging.exists()
    sub.cancel()
    assert sub.outcome == "cancelled"
    assert not staging.exists()
    assert sorted(cat.browse(limit=1000)["name"]) == before
    assert cat.context("edit") == "roman_0003.pmap"
    assert not cat.holds_lock("WFI")
    assert any(e.action == "catalog.cancel_submission" for e in entries(limit=50))
    with pytest.raises(CatalogError, match="cancelled already"):
        sub.confirm()


def test_wait_false_returns_at_once_and_the_handle_follows_the_work(
    cat: Catalog, tmp_path: Path
) -> None:
    sub = cat.submit([_flat(tmp_path / "in")], description="later", wait=False)
    assert isinstance(sub, Submission)
    assert sub.status in ("queued", "running", "done")
    sub.wait(60)
    assert sub.status == "done" and sub.progress == 1.0
    assert [s.id for s in cat.submissions(pending=True)] == [sub.id]
    assert cat.submission(sub.id).new_context == "roman_0004.pmap"


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        ({"instrument": {"name": "WFI", "optical_element": "F087"}},
         "lacks ROMAN.META.INSTRUMENT.DETECTOR, which roman_wfi_flat_0002.rmap selects on"),
        ({"useafter": ""}, "no useafter date"),
        ({"reftype": ""}, "names no reference type"),
        ({"reftype": "GAIN"}, "has no rules for GAIN files"),
        ({"instrument": {"name": "NIRCAM", "detector": "WFI01", "optical_element": "F087"}},
         "has no rules for the instrument NIRCAM"),
    ],
)  # fmt: skip
def test_a_header_the_rules_cannot_place_fails_the_checks_naming_it(
    cat: Catalog, tmp_path: Path, meta: dict[str, Any], words: str
) -> None:
    before = len(cat)
    sub = cat.submit([_flat(tmp_path / "in", **meta)], description="bad header")
    assert sub.status == "failed"
    assert words in (sub.error or "")
    assert [c.level for c in sub.checks] == ["error"]
    assert not Path(sub._record.staging).exists()
    assert len(cat) == before and cat.context("edit") == "roman_0003.pmap"


def test_a_file_identical_to_a_cataloged_one_is_refused_naming_its_twin(
    cat: Catalog, tmp_path: Path
) -> None:
    twin = tmp_path / "copy.asdf"
    twin.write_bytes(cat.path("roman_wfi_flat_0001.asdf").read_bytes())
    sub = cat.submit([twin], description="a copy")
    assert sub.status == "failed"
    assert "identical to roman_wfi_flat_0001.asdf" in (sub.error or "")


def test_headers_given_by_hand_replace_the_files_own(cat: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "table.txt"
    path.write_text("a reference of a format shiftdesk does not read\n")
    header = {
        "ROMAN.META.REFTYPE": "READNOISE",
        "ROMAN.META.INSTRUMENT.NAME": "WFI",
        "ROMAN.META.INSTRUMENT.DETECTOR": "WFI02",
        "ROMAN.META.USEAFTER": "2026-01-15 00:00:00",
    }
    sub = cat.submit([path], headers={"table.txt": header}, description="typed header")
    assert sub.status == "done", sub.error
    # a series per extension, as CRDS's counters are (the demo's read noise files are .asdf)
    assert sub.files[0]["name"] == "roman_wfi_readnoise_0001.txt"
    with pytest.raises(CatalogError, match="names files that are not submitted"):
        cat.submit([path], headers={"other.asdf": header}, description="x")


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda cat, p: cat.submit([], description="x"), "no files to submit"),
        (lambda cat, p: cat.submit([p / "missing.asdf"], description="x"), "no such file"),
        (lambda cat, p: cat.submit([p / "in" / "new_flat.asdf"], description=" "), "say what"),
        (lambda cat, p: cat.submit([cat.path("roman_0001.pmap")], description="x"), "is a mapping"),
    ],
)  # fmt: skip
def test_bad_submissions_are_refused_before_anything_is_sent(
    cat: Catalog, tmp_path: Path, call: Any, words: str
) -> None:
    _flat(tmp_path / "in")
    with pytest.raises(CatalogError, match=words):
        call(cat, tmp_path)
    assert cat.submissions() == []


def test_another_users_lock_on_the_instrument_fails_the_submission(
    cat: Catalog, tmp_path: Path
) -> None:
    bob = _as(cat, "bob", "catalog-roman")
    bob.lock("WFI", minutes=30)
    alice = _as(cat, "alice", "catalog-roman")
    sub = alice.submit([_flat(tmp_path / "in")], description="while bob holds WFI")
    assert sub.status == "failed"
    assert "WFI is locked by bob" in (sub.error or "")


def test_only_editors_submit_and_only_the_submitter_decides(cat: Catalog, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied, match="may not submit files"):
        _as(cat, "visitor").submit([_flat(tmp_path / "in")], description="x")
    sub = _as(cat, "alice", "catalog-roman").submit([_flat(tmp_path / "in")], description="x")
    other = _as(cat, "bob", "catalog-roman").submission(sub.id)
    with pytest.raises(PermissionDenied, match="alice's"):
        other.confirm()
    with pytest.raises(PermissionDenied, match="alice's"):
        other.cancel()


def test_a_confirm_after_the_lock_lapsed_is_refused(cat: Catalog, tmp_path: Path) -> None:
    sub = cat.submit([_flat(tmp_path / "in")], description="slow to decide")
    with cat.database.session() as s:
        s.execute(
            update(CatalogLockRecord)
            .where(CatalogLockRecord.observatory == "roman")
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    with pytest.raises(CatalogError, match="lock on WFI lapsed"):
        sub.confirm()
    assert "roman_0004.pmap" not in cat and sub.refresh().outcome == "pending"
    sub.cancel()


def test_two_pending_submissions_from_one_rmap_are_told_of_each_other(
    cat: Catalog, tmp_path: Path
) -> None:
    first = cat.submit([_flat(tmp_path / "a", seed=1)], description="first")
    second = cat.submit(
        [_flat(tmp_path / "b", seed=2, useafter="2026-06-01T00:00:00")], description="second"
    )
    assert first.collisions == []
    assert any(first.id[:8] in c and "roman_wfi_flat_0002.rmap" in c for c in second.collisions)
    # the names never collide: the counters are locked
    assert first.new_mappings[0] != second.new_mappings[0]


def test_a_crash_halfway_leaves_nothing_half_made(
    cat: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sorted(cat.browse(limit=1000)["name"])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(refactor, "new_context", broken)
    sub = cat.submit([_flat(tmp_path / "in")], description="crashes")
    assert sub.status == "failed" and "the disk went away" in (sub.error or "")
    assert not Path(sub._record.staging).exists()
    assert sorted(cat.browse(limit=1000)["name"]) == before
    assert cat.context("edit") == "roman_0003.pmap"


def test_a_confirm_that_fails_halfway_can_be_repeated(
    cat: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = cat.submit([_flat(tmp_path / "in")], description="flaky")
    real = Catalog.set_context

    def failing(self: Catalog, *args: Any, **kwargs: Any) -> None:
        raise CatalogError("the database went away")

    monkeypatch.setattr(Catalog, "set_context", failing)
    with pytest.raises(CatalogError, match="went away"):
        sub.confirm()
    assert sub.refresh().outcome == "pending" and cat.context("edit") == "roman_0003.pmap"
    monkeypatch.setattr(Catalog, "set_context", real)
    sub.confirm()
    assert cat.context("edit") == "roman_0004.pmap"


def test_a_preparation_whose_process_died_shows_as_failed(cat: Catalog) -> None:
    with cat.database.session() as s:
        s.add(CatalogSubmissionRecord(
            id="f" * 32, observatory="roman", submitter=cat.identity.name, description="x",
            derive_from="edit", derived_context="roman_0003.pmap", status="running",
            host=__import__("shiftdesk.tracking").tracking.HOST, pid=2**22 + 12345,
        ))  # fmt: skip
    sub = cat.submission("f" * 32)
    assert sub.status == "failed" and "stopped" in (sub.error or "")
