"""The catalog's storage and API on SQLite, with the real Roman fixture (5 mappings)."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from tests.catalog._trees import ROMAN

from shiftdesk.audit import entries
from shiftdesk.catalog import Catalog, CatalogFile
from shiftdesk.catalog.catalog import BadFileWarning, Lock
from shiftdesk.catalog.mappings import with_checksum
from shiftdesk.catalog.records import CatalogFileRecord, CatalogLockRecord, check_transition
from shiftdesk.catalog.store import ContentStore
from shiftdesk.errors import CatalogError, NotFound, PermissionDenied
from shiftdesk.gate import get_gate
from shiftdesk.identity import Identity, local_identity
from shiftdesk.storage import get_database

MAPPINGS = [
    "roman_0005.pmap",
    "roman_wfi_0004.imap",
    "roman_wfi_dark_0001.rmap",
    "roman_wfi_distortion_0001.rmap",
    "roman_wfi_flat_0004.rmap",
]
HEADER = {
    "ROMAN.META.INSTRUMENT.NAME": "WFI",
    "ROMAN.META.INSTRUMENT.DETECTOR": "WFI01",
    "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT": "F158",
    "ROMAN.META.EXPOSURE.START_TIME": "2021-06-01 00:00:00",
}
# a context without the flat and dark rules: what CRDS's procedure makes before marking bad
CLEAN_IMAP = """header = {
    'derived_from' : 'roman_wfi_0004.imap',
    'instrument' : 'WFI',
    'mapping' : 'INSTRUMENT',
    'name' : 'roman_wfi_0005.imap',
    'observatory' : 'ROMAN',
    'parkey' : ('REFTYPE',),
    'sha1sum' : '',
}

selector = {
    'DARK' : 'N/A',
    'DISTORTION' : 'roman_wfi_distortion_0001.rmap',
    'FLAT' : 'N/A',
}
"""
CLEAN_PMAP = """header = {
    'derived_from' : 'roman_0005.pmap',
    'description' : 'without the flat and dark rules',
    'mapping' : 'PIPELINE',
    'name' : 'roman_0006.pmap',
    'observatory' : 'ROMAN',
    'parkey' : ('ROMAN.META.INSTRUMENT.NAME',),
    'sha1sum' : '',
}

selector = {
    'WFI' : 'roman_wfi_0005.imap',
}
"""


@pytest.fixture
def fixture_folder(tmp_path: Path) -> Path:
    """The five real Roman rules files (byte for byte) and a README beside them, as in
    ../shared/reference/crds."""
    folder = tmp_path / "crds"
    folder.mkdir()
    for name, text in ROMAN.items():
        (folder / name).write_bytes(text.encode())
    (folder / "README.md").write_text("# the Roman fixture\n")
    return folder


@pytest.fixture
def cat(fixture_folder: Path) -> Catalog:
    """The Roman fixture imported, roman_0005.pmap latest."""
    catalog = Catalog.create("roman", description="Roman fixture")
    catalog.add_files([fixture_folder], why="initial import")
    catalog.set_context("latest", "roman_0005.pmap", why="initial import")
    return catalog


def _write(folder: Path, name: str, text: str, *, checksum: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(with_checksum(text) if checksum else text)
    return path


@pytest.fixture
def clean(tmp_path: Path) -> Callable[[Catalog], None]:
    """Add roman_0006.pmap (no flat or dark rules) and make it latest."""

    def make(catalog: Catalog) -> None:
        folder = tmp_path / "clean"
        _write(folder, "roman_wfi_0005.imap", CLEAN_IMAP)
        _write(folder, "roman_0006.pmap", CLEAN_PMAP)
        catalog.add_files([folder], why="clean context")
        catalog.set_context("latest", "roman_0006.pmap", why="leave the flat out")

    return make


def _reference(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def _store_names(catalog: Catalog) -> set[str]:
    return {p.name for p in catalog.folder.rglob("*") if p.is_file()}


# -- import ---------------------------------------------------------------------------------


def test_the_roman_fixture_is_imported_with_its_edges(cat: Catalog, fixture_folder: Path) -> None:
    assert Catalog.list() == ["roman"]
    assert len(cat) == 5  # the README beside the mappings is not data
    for name in MAPPINGS:
        f = cat.file(name)
        assert isinstance(f, CatalogFile)
        assert (f.type, f.state, f.rejected, f.blacklisted) == (
            "mapping",
            "operational",
            False,
            False,
        )
        data = ROMAN[name].encode()
        assert cat.path(name).read_bytes() == data
        assert (f.size, f.sha1sum) == (len(data), hashlib.sha1(data).hexdigest())
        assert f.history[0].action == "add"
    flat = cat.file("roman_wfi_flat_0004.rmap")
    assert (flat.instrument, flat.filekind, flat.kind) == ("WFI", "FLAT", "rmap")
    assert flat.derived_from == "roman_wfi_flat_0001.rmap"
    assert cat.file("roman_0005.pmap").instrument == ""
    assert cat.uses("roman_wfi_flat_0004.rmap") == ["roman_0005.pmap", "roman_wfi_0004.imap"]
    assert cat.uses("roman_wfi_flat_0004.asdf") == [
        "roman_0005.pmap",
        "roman_wfi_0004.imap",
        "roman_wfi_flat_0004.rmap",
    ]
    assert cat.uses("roman_0005.pmap") == []
    # the same files again: nothing new, nothing refused, no copy left behind
    assert cat.add_files([fixture_folder]) == []
    assert _store_names(cat) == set(MAPPINGS)
    assert cat.check_defects() == []


def test_a_crds_cache_folder_is_imported_with_its_references(tmp_path: Path) -> None:
    cache = tmp_path / "crds_cache"
    for name in MAPPINGS:
        (cache / "mappings" / "roman").mkdir(parents=True, exist_ok=True)
        (cache / "mappings" / "roman" / name).write_text(ROMAN[name])
    _reference(cache / "references" / "roman", "roman_wfi_flat_0004.asdf", b"flat")
    _reference(cache / "references" / "jwst", "jwst_miri_flat_0001.fits", b"other observatory")
    _reference(cache / "config" / "roman", "bad_files.txt", b"")
    catalog = Catalog.create("roman")

    added = catalog.add_files(cache)

    assert added == sorted([*MAPPINGS, "roman_wfi_flat_0004.asdf"])
    ref = catalog.file("roman_wfi_flat_0004.asdf")
    assert (ref.type, ref.instrument, ref.filekind, ref.kind) == (
        "reference",
        "WFI",
        "FLAT",
        "asdf",
    )
    assert ref.useafter_date == datetime(2020, 1, 1, tzinfo=UTC)
    assert catalog.path("roman_wfi_flat_0004.asdf").read_bytes() == b"flat"


# -- bad input: a clear error, nothing kept -----------------------------------------------------


def _refused(catalog: Catalog, paths: list[Path], match: str) -> None:
    before = (len(catalog), _store_names(catalog))
    with pytest.raises(CatalogError, match=match):
        catalog.add_files(paths)
    assert (len(catalog), _store_names(catalog)) == before


def test_every_bad_input_is_refused_and_nothing_is_kept(cat: Catalog, tmp_path: Path) -> None:
    good = ROMAN["roman_wfi_dark_0001.rmap"]
    renamed = good.replace("roman_wfi_dark_0001.rmap", "roman_wfi_dark_0002.rmap")
    # a bad sha1sum: the text changed, the header's checksum did not
    bad_sum = _write(tmp_path / "a", "roman_wfi_dark_0002.rmap", renamed, checksum=False)
    _refused(cat, [bad_sum], "sha1sum")
    # a syntax error
    broken = _write(tmp_path / "b", "roman_wfi_dark_0002.rmap", renamed.replace("})", "}"))
    _refused(cat, [broken], "roman_wfi_dark_0002.rmap")
    # executable code is never run
    code = _write(
        tmp_path / "c",
        "roman_wfi_dark_0002.rmap",
        "import os\n" + renamed.replace("'WFI01'", "__import__('os').getcwd()"),
    )
    _refused(cat, [code], "roman_wfi_dark_0002.rmap")
    # a missing child mapping
    imap = ROMAN["roman_wfi_0004.imap"]
    orphan = imap.replace("roman_wfi_0004.imap", "roman_wfi_0009.imap").replace(
        "roman_wfi_flat_0004.rmap", "roman_wfi_flat_0009.rmap"
    )
    _refused(
        cat,
        [_write(tmp_path / "d", "roman_wfi_0009.imap", orphan)],
        "roman_wfi_flat_0009.rmap, which is neither in this import nor in the catalog",
    )
    # a duplicate file under another name (the twin is named)
    cat.add_files([_reference(tmp_path / "e", "roman_wfi_flat_0004.asdf", b"flat field")])
    _refused(
        cat,
        [_reference(tmp_path / "f", "roman_wfi_flat_0005.asdf", b"flat field")],
        "identical to roman_wfi_flat_0004.asdf",
    )
    # a name collision: the same name with other content
    _refused(
        cat,
        [_reference(tmp_path / "g", "roman_wfi_flat_0004.asdf", b"another flat")],
        "cataloged already with other content",
    )
    # two identical files in one batch
    _refused(
        cat,
        [
            _reference(tmp_path / "h", "roman_wfi_dark_0007.asdf", b"dark"),
            _reference(tmp_path / "i", "roman_wfi_dark_0008.asdf", b"dark"),
        ],
        "same file as",
    )
    # another observatory's mapping
    jwst = good.replace("'ROMAN'", "'JWST'").replace("roman_wfi_dark_0001", "jwst_wfi_dark_0001")
    _refused(cat, [_write(tmp_path / "j", "jwst_wfi_dark_0001.rmap", jwst)], "one observatory")


def test_every_problem_of_a_batch_is_reported_at_once(cat: Catalog, tmp_path: Path) -> None:
    good = _reference(tmp_path / "x", "roman_wfi_dark_0002.asdf", b"fine")
    dup = _reference(tmp_path / "y", "roman_wfi_flat_0009.asdf", ROMAN[MAPPINGS[0]].encode())
    broken = _write(tmp_path / "z", "roman_wfi_dark_0003.rmap", "header = {", checksum=False)
    with pytest.raises(CatalogError) as refused:
        cat.add_files([good, dup, broken])
    message = str(refused.value)
    assert "nothing was imported" in message
    assert "roman_wfi_dark_0003.rmap" in message and "identical to roman_0005.pmap" in message
    assert "roman_wfi_dark_0002.asdf" not in cat


def test_a_crash_halfway_through_an_import_leaves_nothing(
    fixture_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog.create("roman")
    commit = ContentStore.commit
    moved: list[str] = []

    def fails_on_the_fourth(self: ContentStore, staged):  # type: ignore[no-untyped-def]
        if len(moved) == 3:
            raise OSError("disk full")
        moved.append(staged.name)
        return commit(self, staged)

    monkeypatch.setattr(ContentStore, "commit", fails_on_the_fourth)
    with pytest.raises(OSError, match="disk full"):
        catalog.add_files([fixture_folder])
    assert len(moved) == 3
    assert len(catalog) == 0 and _store_names(catalog) == set()

    # and a failure after the rows are written: they roll back, the files go
    monkeypatch.setattr(ContentStore, "commit", commit)

    def log_fails(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("crash while writing the history")

    monkeypatch.setattr(Catalog, "_log", log_fails)
    with pytest.raises(RuntimeError, match="crash"):
        catalog.add_files([fixture_folder])
    assert len(catalog) == 0 and _store_names(catalog) == set()
    monkeypatch.undo()
    assert catalog.add_files([fixture_folder]) == MAPPINGS


# -- contexts -------------------------------------------------------------------------------


def test_context_pointers_and_their_history_by_date(
    cat: Catalog, clean: Callable[[Catalog], None]
) -> None:
    t0 = datetime.now(UTC)
    assert cat.context("latest") == "roman_0005.pmap"
    assert cat.context("edit") is None
    cat.set_context("edit", "roman_0005.pmap", why="start editing")
    time.sleep(0.01)
    t1 = datetime.now(UTC)
    time.sleep(0.01)
    clean(cat)
    assert cat.contexts() == {"latest": "roman_0006.pmap", "edit": "roman_0005.pmap"}

    history = cat.context_history()
    assert [(c.context, c.previous, c.why) for c in history] == [
        ("roman_0006.pmap", "roman_0005.pmap", "leave the flat out"),
        ("roman_0005.pmap", "", "initial import"),
    ]
    assert history[0].who == local_identity().name
    assert len(cat.context_history(None)) == 3
    assert [c.context for c in cat.context_history(since=t1)] == ["roman_0006.pmap"]
    assert cat.context_at(t0 - timedelta(days=1)) is None
    assert cat.context_at(t1) == "roman_0005.pmap"
    assert cat.context_at(datetime.now(UTC)) == "roman_0006.pmap"
    assert cat.context_at(t1, "edit") == "roman_0005.pmap"
    # archived <-> operational follows the latest context
    assert cat.file("roman_wfi_flat_0004.rmap").state == "archived"
    assert cat.file("roman_wfi_distortion_0001.rmap").state == "operational"

    with pytest.raises(CatalogError, match="why"):
        cat.set_context("latest", "roman_0005.pmap", why="")
    with pytest.raises(CatalogError, match="not a pipeline context"):
        cat.set_context("latest", "roman_wfi_0004.imap", why="x")
    with pytest.raises(CatalogError, match="not a context pointer"):
        cat.set_context("newest", "roman_0005.pmap", why="x")
    with pytest.raises(NotFound):
        cat.set_context("latest", "roman_0099.pmap", why="x")


def test_a_past_context_change_can_be_recorded(cat: Catalog) -> None:
    past = datetime(2024, 1, 1, tzinfo=UTC)
    cat.set_context("edit", "roman_0005.pmap", why="recorded later", when=past)
    assert cat.context_at(datetime(2024, 6, 1, tzinfo=UTC), "edit") == "roman_0005.pmap"
    assert cat.context_at(datetime(2023, 6, 1, tzinfo=UTC), "edit") is None
    with pytest.raises(CatalogError, match="future"):
        cat.set_context("edit", "roman_0005.pmap", why="x", when=datetime.now(UTC) + timedelta(1))


# -- best references ---------------------------------------------------------------------------


def test_best_references_give_the_readme_answers(cat: Catalog) -> None:
    refs = cat.best_references(HEADER)
    assert refs["distortion"] == "roman_wfi_distortion_0001.asdf"
    assert refs["flat"].startswith("NOT FOUND")  # only GRISM is listed
    assert refs["dark"].startswith("NOT FOUND")  # needs the exposure type
    dark = cat.best_references(
        {**HEADER, "ROMAN.META.EXPOSURE.TYPE": "WFI_IMAGE"}, reftypes=["dark"]
    )
    assert dark == {"dark": "roman_wfi_dark_0001.asdf"}
    assert cat.best_references(HEADER, context="roman_0005.pmap") == refs
    with pytest.raises(CatalogError, match="no edit context"):
        cat.best_references(HEADER, context="edit")
    cat.set_context("edit", "roman_0005.pmap", why="x")
    assert cat.best_references(HEADER, context="edit") == refs
    with pytest.raises(CatalogError, match="not a context"):
        cat.best_references(HEADER, context="roman_wfi_0004.imap")
    # loaded once, then reused
    assert cat.load_context() is cat.load_context("roman_0005.pmap")


# -- bad files ------------------------------------------------------------------------------


def test_marking_a_file_of_the_latest_context_bad_is_refused_with_the_procedure(
    cat: Catalog,
) -> None:
    with pytest.raises(CatalogError) as refused:
        cat.mark_bad(["roman_wfi_flat_0004.rmap"], why="wrong flat")
    message = str(refused.value)
    assert "latest context roman_0005.pmap" in message
    assert "cat.set_context('latest'" in message and "then mark it bad" in message
    assert cat.bad_files() == []
    assert not cat.file("roman_wfi_flat_0004.rmap").rejected
    refusal = entries(action="catalog.mark_bad")[0]
    assert refusal.outcome == "refused"


def test_mark_bad_blacklists_every_context_using_the_rule(
    cat: Catalog, clean: Callable[[Catalog], None]
) -> None:
    clean(cat)
    blacklisted = cat.mark_bad(["roman_wfi_flat_0004.rmap"], why="wrong flat")

    assert blacklisted == ["roman_0005.pmap", "roman_wfi_0004.imap", "roman_wfi_flat_0004.rmap"]
    assert cat.bad_files() == ["roman_wfi_flat_0004.rmap"]
    flat = cat.file("roman_wfi_flat_0004.rmap")
    assert flat.rejected and flat.blacklisted
    assert [e.action for e in flat.history][-1] == "reject"
    pmap = cat.file("roman_0005.pmap")
    assert pmap.blacklisted and not pmap.rejected
    assert pmap.blacklisted_by == ("roman_wfi_flat_0004.rmap",)
    assert pmap.history[-1].action == "blacklist" and "wrong flat" in pmap.history[-1].detail
    assert not cat.file("roman_wfi_dark_0001.rmap").blacklisted
    assert not cat.file("roman_0006.pmap").blacklisted
    # an audit entry per file marked, one for the files it taints, and one for the action
    trail = entries(limit=20, action="catalog.")
    assert {e.target for e in trail if e.action == "catalog.reject"} == {
        "roman roman_wfi_flat_0004.rmap"
    }
    [tainted] = [e for e in trail if e.action == "catalog.blacklist"]
    assert tainted.target == "roman 2 files"
    assert (
        "roman_0005.pmap, roman_wfi_0004.imap" in tainted.detail and "wrong flat" in tainted.detail
    )
    assert any(e.action == "catalog.mark_bad" and e.outcome == "ok" for e in trail)
    # a context with a bad rule is refused for best references, unless allowed
    with pytest.raises(CatalogError, match=r"contains rules marked bad: roman_wfi_flat_0004\.rmap"):
        cat.best_references(HEADER, context="roman_0005.pmap")
    with pytest.warns(BadFileWarning, match="roman_wfi_flat_0004.rmap"):
        refs = cat.best_references(HEADER, context="roman_0005.pmap", allow_bad_rules=True)
    assert refs["distortion"] == "roman_wfi_distortion_0001.asdf"
    assert cat.best_references(HEADER)["flat"] == "NOT FOUND n/a"
    # and it cannot become latest again
    with pytest.raises(CatalogError, match="marked bad"):
        cat.set_context("latest", "roman_0005.pmap", why="back")
    assert cat.browse(bad=True)["name"].tolist() == blacklisted
    # marking it again changes nothing
    assert cat.mark_bad("roman_wfi_flat_0004.rmap", why="still wrong") == []


def test_a_bad_reference_taints_nothing_else(
    cat: Catalog, clean: Callable[[Catalog], None], tmp_path: Path
) -> None:
    cat.add_files([_reference(tmp_path, "roman_wfi_flat_0004.asdf", b"grism flat")])
    clean(cat)

    assert cat.mark_bad(["roman_wfi_flat_0004.asdf"], why="stripes") == ["roman_wfi_flat_0004.asdf"]
    assert cat.bad_files() == ["roman_wfi_flat_0004.asdf"]
    for name in MAPPINGS:
        assert not cat.file(name).blacklisted, name
    grism = {**HEADER, "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT": "GRISM"}
    old = "roman_0005.pmap"
    assert cat.best_references(HEADER, context=old)["distortion"].endswith(".asdf")  # no flat
    with pytest.raises(
        CatalogError, match=r"recommends files marked bad: roman_wfi_flat_0004\.asdf"
    ):
        cat.best_references(grism, context=old)
    with pytest.warns(BadFileWarning):
        refs = cat.best_references(grism, context=old, allow_bad_references=True)
    assert refs["flat"] == "roman_wfi_flat_0004.asdf"


def test_unmark_clears_a_blacklist_only_where_no_bad_rule_remains(
    cat: Catalog, clean: Callable[[Catalog], None]
) -> None:
    clean(cat)
    cat.mark_bad(["roman_wfi_flat_0004.rmap", "roman_wfi_dark_0001.rmap"], why="both wrong")
    assert cat.file("roman_0005.pmap").blacklisted_by == (
        "roman_wfi_dark_0001.rmap",
        "roman_wfi_flat_0004.rmap",
    )

    assert cat.unmark_bad("roman_wfi_flat_0004.rmap", why="it was right") == [
        "roman_wfi_flat_0004.rmap"
    ]
    assert cat.bad_files() == ["roman_wfi_dark_0001.rmap"]
    assert cat.file("roman_wfi_0004.imap").blacklisted  # the dark rule is still bad
    assert cat.file("roman_0005.pmap").blacklisted_by == ("roman_wfi_dark_0001.rmap",)

    assert cat.unmark_bad(["roman_wfi_dark_0001.rmap"], why="right too") == [
        "roman_0005.pmap",
        "roman_wfi_0004.imap",
        "roman_wfi_dark_0001.rmap",
    ]
    assert cat.bad_files() == [] and cat.browse(bad=True).empty
    assert cat.best_references(HEADER, context="roman_0005.pmap")["distortion"].endswith(".asdf")


def test_marking_an_unknown_file_bad_is_refused(cat: Catalog) -> None:
    with pytest.raises(NotFound, match=r"roman_wfi_flat_0099\.rmap"):
        cat.mark_bad(["roman_wfi_flat_0099.rmap"], why="x")
    with pytest.raises(CatalogError, match="why"):
        cat.mark_bad(["roman_wfi_flat_0004.rmap"], why=" ")


# -- browsing -------------------------------------------------------------------------------


def test_browse_filters_sorts_and_limits(cat: Catalog, tmp_path: Path) -> None:
    cat.add_files(
        [
            _reference(tmp_path, "roman_wfi_flat_0004.asdf", b"flat"),
            _reference(tmp_path, "roman_wfi_dark_0001.asdf", b"dark!"),
        ],
        description="small test files",
    )
    frame = cat.browse()
    assert list(frame.columns)[:5] == ["name", "type", "instrument", "filekind", "state"]
    assert len(frame) == 7 and frame["name"].is_monotonic_increasing
    three = cat.browse(instrument="wfi", filekind="FLAT", state="operational")
    assert three["name"].tolist() == ["roman_wfi_flat_0004.asdf", "roman_wfi_flat_0004.rmap"]
    assert cat.browse(type="reference")["description"].tolist() == ["small test files"] * 2
    assert cat.browse(type="mapping", name="*_0004.*map")["name"].tolist() == [
        "roman_wfi_0004.imap",
        "roman_wfi_flat_0004.rmap",
    ]
    assert cat.browse(name="roman_wfi_?lat*")["name"].tolist() == [
        "roman_wfi_flat_0004.asdf",
        "roman_wfi_flat_0004.rmap",
    ]
    assert cat.browse(sort="size", descending=True, limit=1)["name"].tolist() == [
        "roman_wfi_distortion_0001.rmap"
    ]
    assert cat.browse(limit=2, offset=5)["name"].tolist() == [
        "roman_wfi_flat_0004.asdf",
        "roman_wfi_flat_0004.rmap",
    ]
    assert cat.browse(added_before=datetime(2000, 1, 1, tzinfo=UTC)).empty
    assert len(cat.browse(added_after=datetime(2000, 1, 1, tzinfo=UTC))) == 7
    assert cat.browse(bad=False)["rejected"].dtype == bool
    assert str(cat.browse()["added"].dt.tz) == "UTC"
    with pytest.raises(CatalogError, match="sort by one of"):
        cat.browse(sort="colour")
    with pytest.raises(CatalogError, match="not a file state"):
        cat.browse(state="lost")


# -- states, names, locks, permissions --------------------------------------------------------


def test_states_move_only_as_the_server_allows(cat: Catalog) -> None:
    cat.set_state("roman_wfi_dark_0001.rmap", "archived", why="retired")
    assert cat.file("roman_wfi_dark_0001.rmap").state == "archived"
    with pytest.raises(CatalogError, match="from archived it may become: operational"):
        cat.set_state(["roman_wfi_dark_0001.rmap"], "delivered")
    check_transition("x", "uploaded", "delivered")
    for old, new in [
        ("cancelled", "delivered"),
        ("archived", "submitted"),
        ("operational", "lost"),
    ]:
        with pytest.raises(CatalogError):
            check_transition("x", old, new)


def test_next_name_never_repeats_and_mirrors_names_present(cat: Catalog, tmp_path: Path) -> None:
    assert cat.next_name("roman_wfi_flat.rmap") == "roman_wfi_flat_0005.rmap"
    assert cat.next_name("roman_wfi_flat_0004.rmap") == "roman_wfi_flat_0006.rmap"
    assert cat.next_name("roman.pmap") == "roman_0006.pmap"
    cat.add_files([_reference(tmp_path, "roman_wfi_dark_0041.asdf", b"named elsewhere")])
    assert cat.next_name("roman_wfi_dark.asdf") == "roman_wfi_dark_0042.asdf"
    with pytest.raises(CatalogError, match="not a name series"):
        cat.next_name("jwst_miri_flat.rmap")


def test_two_callers_at_once_never_take_the_same_name(cat: Catalog) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def take(_: int) -> str:
        return Catalog.open("roman").next_name("roman_wfi_flat.rmap")

    with ThreadPoolExecutor(4) as pool:
        names = list(pool.map(take, range(24)))
    assert sorted(names) == [f"roman_wfi_flat_{n:04d}.rmap" for n in range(5, 29)]


def _other(catalog: Catalog, name: str, *groups: str) -> Catalog:
    return Catalog.open(catalog.observatory, identity=Identity(name, groups=frozenset(groups)))


def test_locks_per_instrument_expire_and_can_be_forced(cat: Catalog) -> None:
    alice = _other(cat, "alice", "catalog-roman")
    bob = _other(cat, "bob", "catalog-roman")
    lock = alice.lock("wfi", minutes=30)
    assert isinstance(lock, Lock) and (lock.instrument, lock.holder) == ("WFI", "alice")
    assert alice.holds_lock("WFI") and not bob.holds_lock("WFI")
    with pytest.raises(CatalogError, match="locked by alice"):
        bob.lock("WFI")
    # alice's lock lapses
    with get_database().session() as s:
        s.execute(update(CatalogLockRecord).values(expires_at=datetime.now(UTC) - timedelta(1)))
    with pytest.raises(CatalogError, match=r"lapsed.*force=True"):
        bob.lock("WFI")
    taken = bob.lock("WFI", force=True)
    assert (taken.holder, taken.forced_from) == ("bob", "alice")
    assert [(x.instrument, x.holder, x.expired) for x in cat.locks()] == [("WFI", "bob", False)]
    assert entries(action="catalog.lock_forced")[0].detail.startswith("taken over from alice")
    # one instrument per user: locking another releases the first
    bob.lock("CGI")
    assert [(x.instrument, x.holder) for x in cat.locks()] == [("CGI", "bob")]
    assert alice.release() == []
    assert bob.release() == ["CGI"] and cat.locks() == []


def test_only_editors_change_a_catalog_and_everyone_reads_it(cat: Catalog) -> None:
    mallory = _other(cat, "mallory")
    assert not mallory.can_edit
    assert mallory.file("roman_0005.pmap").name == "roman_0005.pmap"
    assert mallory.best_references(HEADER)["distortion"].endswith(".asdf")
    with pytest.raises(PermissionDenied, match="catalog-roman"):
        mallory.set_context("edit", "roman_0005.pmap", why="mine")
    with pytest.raises(PermissionDenied):
        mallory.lock("WFI")
    editor = _other(cat, "erin", "catalog-roman")
    assert editor.can_edit
    editor.set_context("edit", "roman_0005.pmap", why="theirs")
    assert cat.context_history("edit")[0].who == "erin"
    with pytest.raises(PermissionDenied, match="administrators"):
        editor.repair()


def test_changes_run_as_gate_actions_too(cat: Catalog) -> None:
    """What the gate service does for a hub user: the action opens the catalog for them."""
    gate = get_gate()
    name = gate.call("catalog.next_name", observatory="roman", series="roman_wfi_dark.rmap")
    assert name == "roman_wfi_dark_0002.rmap"
    lock = gate.call("catalog.lock", observatory="roman", instrument="WFI", minutes=5)
    assert lock["holder"] == local_identity().name
    assert Lock.from_json(lock).instrument == "WFI"
    with pytest.raises(CatalogError):
        gate.call("catalog.mark_bad", observatory="roman", names=["roman_0005.pmap"], why="x")
    assert entries(action="catalog.mark_bad")[0].via == "local"


# -- defects, export, display ------------------------------------------------------------------


def test_defects_are_found_and_repaired_by_an_administrator(
    cat: Catalog, fixture_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat.path("roman_wfi_dark_0001.rmap").unlink()
    cat.path("roman_wfi_flat_0004.rmap").write_text("# damaged\n")
    with get_database().session() as s:
        s.execute(
            update(CatalogFileRecord)
            .where(CatalogFileRecord.name == "roman_wfi_distortion_0001.rmap")
            .values(size=1)
        )
    found = {(d.name, d.kind) for d in cat.check_defects()}
    assert found == {
        ("roman_wfi_dark_0001.rmap", "missing-file"),
        ("roman_wfi_flat_0004.rmap", "size-mismatch"),
        ("roman_wfi_distortion_0001.rmap", "size-mismatch"),
    }
    monkeypatch.setenv("SHIFTDESK_ADMINS", local_identity().name)
    admin = Catalog.open("roman")
    repaired = admin.repair(str(fixture_folder))
    assert {(d.name, d.kind) for d in repaired} == found
    assert admin.check_defects() == []
    assert admin.path("roman_wfi_flat_0004.rmap").read_bytes() == ROMAN[MAPPINGS[-1]].encode()
    assert admin.file("roman_wfi_dark_0001.rmap").history[-1].action == "repair"


def test_edges_that_differ_from_a_mapping_are_rebuilt(
    cat: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shiftdesk.catalog.records import CatalogEdgeRecord

    with get_database().session() as s:
        s.query(CatalogEdgeRecord).filter(
            CatalogEdgeRecord.parent == "roman_wfi_0004.imap"
        ).delete()
        s.add(
            CatalogEdgeRecord(
                observatory="roman", parent="roman_0005.pmap", child="roman_cgi_0001.imap",
                child_type="mapping",
            )
        )  # fmt: skip
    assert cat.uses("roman_wfi_flat_0004.rmap") == []  # the walk follows the edges
    assert {(d.name, d.kind) for d in cat.check_defects()} == {
        ("roman_wfi_0004.imap", "edges"),
        ("roman_0005.pmap", "edges"),
        ("roman_0005.pmap", "missing-child"),
    }
    monkeypatch.setenv("SHIFTDESK_ADMINS", local_identity().name)
    repaired = Catalog.open("roman").repair(kinds=["edges"])
    assert {d.name for d in repaired} == {"roman_wfi_0004.imap", "roman_0005.pmap"}
    assert cat.check_defects() == []
    assert cat.uses("roman_wfi_flat_0004.rmap") == ["roman_0005.pmap", "roman_wfi_0004.imap"]


def test_export_as_sqlite_in_the_crds_shape(cat: Catalog, tmp_path: Path) -> None:
    path = cat.export(tmp_path / "roman.sqlite")
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"crds_roman_catalog", "crds_roman_context_history", "crds_roman_edges"}
        names = [r[0] for r in conn.execute("SELECT name FROM crds_roman_catalog ORDER BY name")]
        assert names == MAPPINGS
        assert conn.execute("SELECT context FROM crds_roman_context_history").fetchall() == [
            ("roman_0005.pmap",)
        ]
    with pytest.raises(CatalogError, match=r"\.sqlite"):
        cat.export(tmp_path / "roman.csv")


def test_export_as_parquet(cat: Catalog, tmp_path: Path) -> None:
    import pandas as pd

    path = cat.export(tmp_path / "roman.parquet")
    assert sorted(pd.read_parquet(path)["name"]) == MAPPINGS
    history = pd.read_parquet(tmp_path / "roman_context_history.parquet")
    assert list(history["context"]) == ["roman_0005.pmap"]


def test_catalog_and_files_show_themselves(cat: Catalog) -> None:
    assert "5 mappings" in repr(cat) and "latest: roman_0005.pmap" in repr(cat)
    assert "Catalog" in cat._repr_html_() and "roman_0005.pmap" in cat._repr_html_()
    f = cat.file("roman_wfi_flat_0004.rmap")
    assert repr(f).startswith(
        "CatalogFile('roman_wfi_flat_0004.rmap'): mapping WFI FLAT, operational"
    )
    assert "derived from roman_wfi_flat_0001.rmap" in repr(f) and " add: " in repr(f)
    html = f._repr_html_()
    assert "CatalogFile" in html and "roman_wfi_flat_0001.rmap" in html and "<script" not in html
    assert "roman_wfi_flat_0004.rmap" in cat and "nothing.asdf" not in cat


def test_catalogs_are_one_per_observatory(cat: Catalog) -> None:
    with pytest.raises(CatalogError, match="exists"):
        Catalog.create("ROMAN")
    with pytest.raises(CatalogError, match="cannot name an observatory"):
        Catalog.create("../etc")
    with pytest.raises(NotFound, match="there are: roman"):
        Catalog.open("jwst")
    with pytest.raises(CatalogError, match="plain file name"):
        cat.file("../secrets")


def test_the_demo_catalog_is_seeded_through_a_gate_that_takes_plain_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first visit to the catalog dashboard on a hub seeds the demo from the user's
    server through the gate, where only JSON travels (the dates went as datetimes)."""
    from tests._loopback_gate import LoopbackGate

    from shiftdesk.catalog import catalog as catalog_module
    from shiftdesk.catalog.demo import seed_demo

    who = local_identity()
    gate = LoopbackGate(who, {})
    monkeypatch.setattr(catalog_module, "get_gate", lambda: gate)
    said = seed_demo(get_database(), who)
    assert "catalog.set_context" in gate.calls and "roman" in said
    cat = Catalog.open("roman")
    assert cat.contexts() == {"latest": "roman_0002.pmap", "edit": "roman_0003.pmap"}
    assert cat.context_at(datetime(2025, 3, 1, tzinfo=UTC)) == "roman_0001.pmap"
