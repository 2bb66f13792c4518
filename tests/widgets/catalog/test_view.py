"""CatalogView over the demo catalog in a throwaway SQLite database (the test's data folder)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from shiftdesk.catalog import Catalog
from shiftdesk.catalog.demo import seed_demo, write_reference
from shiftdesk.identity import Identity
from shiftdesk.storage import get_database
from shiftdesk_widgets import view
from shiftdesk_widgets.catalog.view import (
    BAD,
    BESTREFS,
    CONTEXTS,
    LOCKS,
    SUBMIT,
    CatalogFileView,
    CatalogView,
)

#: a calibration scientist of the catalog's editor group
CAL = Identity("carol", groups=frozenset({"catalog-roman"}))
#: someone who may only read
READER = Identity("rita")


def text(value: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", value))).strip()


@pytest.fixture
def cat() -> Catalog:
    seed_demo(get_database(), Identity("admin", admin=True))
    return Catalog.open("roman", identity=CAL)


@pytest.fixture
def dash(cat: Catalog) -> CatalogView:
    return CatalogView(cat)


def test_first_screen_shows_the_contexts_and_a_page_of_files(dash: CatalogView) -> None:
    latest = text(dash.cards.cards["latest"].value)
    assert "roman_0002.pmap" in latest and "since 2025-06-02 14:30 UTC" in latest
    assert "new F158 flats" in latest and "by admin" in latest
    assert "roman_0003.pmap" in text(dash.cards.cards["edit"].value)
    assert "editor" in dash.title.value and "carol" in dash.title.value
    assert len(dash.browse.names) == len(dash.catalog) < 100
    # the other tabs are built when opened, not before the page shows
    assert set(dash.panels) == {"Browse"}
    assert all(not box.children for box in dash.tabs.children[1:])
    assert not dash.ticker.running  # no event loop here: the test ticks


def test_filters_and_the_detail_pane(dash: CatalogView) -> None:
    browse = dash.browse
    browse.filekind.value = "FLAT"
    assert browse.names and all("flat" in n for n in browse.names)
    browse.search.value = "rmap"
    assert browse.names == ["roman_wfi_flat_0001.rmap", "roman_wfi_flat_0002.rmap"]
    browse.clear_button.click()
    browse.list.value = "roman_wfi_flat_0013.asdf"  # the 2025 F158 flat of WFI01
    body = text(dash.detail.body.value)
    assert "roman_wfi_flat_0013.asdf" in body and "operational" in body
    # where the latest context selects it: the rmap's Match keys and UseAfter date
    assert "roman_wfi_flat_0002.rmap" in body
    assert "WFI01 F158 2025-05-01 00:00:00" in body
    assert "roman_0002.pmap" in body  # used by, up to the pmaps
    assert dash.detail.mark_box.layout.display is None


def test_best_references_for_a_typed_header(dash: CatalogView) -> None:
    panel = dash.show_tab(BESTREFS)
    assert "ROMAN.META.INSTRUMENT.DETECTOR = WFI01" in panel.header.value  # an example
    panel.button.click()
    assert panel.result["flat"] == "roman_wfi_flat_0001.asdf"  # WFI01 F087
    assert panel.result["dark"] == "roman_wfi_dark_0001.asdf"
    assert "types found" in panel.feedback.text
    panel.header.value = panel.header.value.replace("2025-08-01", "2026-02-01")
    panel.context.value = "edit"  # the 2026 darks are in the edit context only
    panel.button.click()
    assert panel.result["dark"] == "roman_wfi_dark_0004.asdf"
    panel.header.value = "ROMAN.META.INSTRUMENT.NAME = NIRCAM"
    panel.button.click()
    assert panel.feedback.kind == "error" and "unknown instrument 'NIRCAM'" in panel.feedback.text
    assert "Error" not in panel.feedback.text


def test_best_references_for_an_uploaded_asdf_file(dash: CatalogView, tmp_path: Path) -> None:
    from tests.widgets.catalog.test_panels import upload

    exposure = tmp_path / "exposure.asdf"
    meta = {"instrument": {"name": "WFI", "detector": "WFI02", "optical_element": "F213"},
            "exposure": {"type": "WFI_IMAGE", "start_time": "2025-09-01T00:00:00"}}  # fmt: skip
    write_reference(exposure, meta, seed=1)
    panel = dash.show_tab(BESTREFS)
    panel.upload.value = (upload("exposure.asdf", exposure.read_bytes()),)
    assert "header of exposure.asdf" in panel.upload_feedback.text
    assert "ROMAN.META.INSTRUMENT.DETECTOR = WFI02" in panel.header.value
    panel.button.click()
    assert panel.result["flat"] == "roman_wfi_flat_0007.asdf"  # WFI02 F213


def test_context_history_and_diff(dash: CatalogView) -> None:
    panel = dash.show_tab(CONTEXTS)
    history = text(panel.history_html.value)
    assert "roman_0003.pmap" in history and "2026 darks (in review)" in history
    assert (panel.old.value, panel.new.value) == ("roman_0002.pmap", "roman_0003.pmap")
    panel.diff_button.click()
    names = [(p.old, p.new) for p in panel.parts]
    assert ("roman_wfi_dark_0001.rmap", "roman_wfi_dark_0002.rmap") in names
    assert ("roman_0002.pmap", "roman_0003.pmap") in names
    shown = text(panel.diff_view.value)
    assert "roman_wfi_dark_0004.asdf" in shown and "added" in shown
    assert "3 mappings differ" in panel.feedback.text


def test_mark_bad_is_refused_for_the_latest_and_shown_beside_the_button(
    dash: CatalogView, cat: Catalog
) -> None:
    dash.browse.search.value = "flat_0002.rmap"
    dash.browse.list.value = "roman_wfi_flat_0002.rmap"
    form = dash.detail.mark_form
    assert form is not None
    form.why.value = "wrong flats"
    form.button.click()
    assert form.feedback.kind == "error"
    assert "used by the latest context roman_0002.pmap" in form.feedback.text
    assert "not marked bad" in form.feedback.text and "Error" not in form.feedback.text
    assert cat.bad_files() == []


def test_mark_bad_of_an_old_rule_blacklists_its_contexts(dash: CatalogView, cat: Catalog) -> None:
    dash.browse.list.value = "roman_wfi_flat_0001.rmap"
    form = dash.detail.mark_form
    assert form is not None
    form.why.value = "superseded flats had a gradient"
    form.button.click()
    assert form.feedback.kind == "info" and "marked bad" in form.feedback.text
    assert cat.bad_files() == ["roman_wfi_flat_0001.rmap"]
    assert "rejected" in dash.detail.body.value
    dash.browse.bad_only.value = True
    assert "roman_0001.pmap" in dash.browse.names and "roman_0002.pmap" not in dash.browse.names
    bad = dash.show_tab(BAD)
    assert "roman_wfi_flat_0001.rmap" in bad.names
    assert "roman_0001.pmap" in text(bad.listing.value)  # blacklisted, because of the rmap
    dash.show_tab(LOCKS)
    assert "catalog.reject" in dash.audit_panel.listing.value


def test_a_context_set_elsewhere_shows_at_the_next_tick(dash: CatalogView, cat: Catalog) -> None:
    dash.show_tab(CONTEXTS)
    cat.set_context("latest", "roman_0003.pmap", why="2026 darks approved")
    dash.tick()
    latest = text(dash.cards.cards["latest"].value)
    assert "roman_0003.pmap" in latest and "2026 darks approved" in latest
    assert "2026 darks approved" in text(dash.contexts_panel.history_html.value)
    assert "live" in dash.status.value


def test_a_reader_sees_the_catalog_but_no_change_buttons(cat: Catalog) -> None:
    dash = CatalogView(Catalog.open("roman", identity=READER))
    assert "read-only" in dash.title.value
    dash.browse.list.value = "roman_wfi_flat_0001.rmap"
    form = dash.detail.mark_form
    assert form is not None and form.button.disabled
    assert "only members of the group 'catalog-roman' may mark files bad" in form.feedback.text
    dash.show_tab(SUBMIT)
    assert dash.submit_panel.submit_button.disabled


def test_submit_tab_degrades_or_submits(dash: CatalogView) -> None:
    box = dash.show_tab(SUBMIT)
    panel = dash.submit_panel
    assert box.children[0] is panel
    if not hasattr(dash.catalog, "submit"):
        assert panel.feedback.text == "submissions arrive with the next change"
    assert "no lock is held" in dash.submit_locks.listing.value


def test_objects_open_in_their_views(cat: Catalog) -> None:
    assert isinstance(view(cat), CatalogView)
    pane = view(cat.file("roman_wfi_dark_0001.asdf"))
    assert isinstance(pane, CatalogFileView)
    assert "roman_wfi_dark_0001.rmap" in pane.body.value


def test_a_submission_from_the_page_becomes_the_edit_context(
    dash: CatalogView, cat: Catalog, tmp_path: Path
) -> None:
    from tests.widgets.catalog.test_panels import upload

    flat = tmp_path / "flat_2026.asdf"
    write_reference(flat, {"reftype": "FLAT", "useafter": "2026-02-01T00:00:00",
                           "pedigree": "GROUND", "author": "carol", "description": "2026 flat",
                           "instrument": {"name": "WFI", "detector": "WFI01",
                                          "optical_element": "F158"}}, seed=99)  # fmt: skip
    dash.show_tab(SUBMIT)
    panel = dash.submit_panel
    panel.upload.value = (upload(flat.name, flat.read_bytes()),)
    panel.description.value = "2026 F158 flat for WFI01"
    panel.submit_button.click()
    panel.wait(60)
    assert "ready" in panel.feedback.text, panel.feedback.text
    shown = text(panel.result.value)
    assert "flat_2026.asdf" in shown and "roman_wfi_flat_0016.asdf" in shown
    assert "WFI01, F158 · 2026-02-01 00:00:00" in shown  # the logical diff's place
    assert "carol" in text(dash.submit_locks.listing.value)  # the instrument lock it took
    panel.confirm_button.click()
    assert "roman_0004.pmap is the edit context" in panel.feedback.text
    assert cat.context("edit") == "roman_0004.pmap"
    assert "roman_0004.pmap" in text(dash.cards.cards["edit"].value)
    assert "roman_wfi_flat_0016.asdf" in dash.browse.names
