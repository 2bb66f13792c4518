"""New rules from a submission: insertion into an rmap, new imaps and pmaps, diffs."""

from __future__ import annotations

import pytest
from tests.catalog._trees import DET, OPT, ROMAN, ROMAN_HEADER, START, crds_offline, write_tree

from shiftdesk.catalog.mappings import checksum, parse_mapping
from shiftdesk.catalog.naming import make_name, parse_name, serial
from shiftdesk.catalog.refactor import diff, insert_reference, new_context, replace_children
from shiftdesk.catalog.selection import Context
from shiftdesk.errors import CatalogError

FLAT = "roman_wfi_flat_0004.rmap"


def next_name(mapping):  # type: ignore[no-untyped-def]
    observatory, instrument, filekind, number, ext = parse_name(mapping.name)
    return make_name(observatory, instrument, filekind, (number or 0) + 1, ext)


def test_insert_adds_a_match_case_and_crds_selects_it(tmp_path, monkeypatch):
    flat = parse_mapping(ROMAN[FLAT], FLAT)
    ref_header = {DET.lower(): "WFI02", OPT: "F158", START: "2024-03-01T00:00:00"}
    new = insert_reference(
        flat, "roman_wfi_flat_0005.asdf", ref_header, new_name="roman_wfi_flat_0005.rmap"
    )
    assert new.name == "roman_wfi_flat_0005.rmap"
    assert new.derived_from == FLAT
    assert new.sha1sum == checksum(new.text)
    assert new.reference_children() == ["roman_wfi_flat_0004.asdf", "roman_wfi_flat_0005.asdf"]
    assert dict(new.selector.entries)[("WFI02", "F158")].entries == (
        ("2024-03-01 00:00:00", "roman_wfi_flat_0005.asdf"),
    )
    # the whole chain: new imap and pmap, each derived from its predecessor
    old_ctx = Context.load("roman_0005.pmap", lambda n: parse_mapping(ROMAN[n], n))
    made = new_context(old_ctx, [new], next_name)
    assert [m.name for m in made] == ["roman_wfi_0005.imap", "roman_0006.pmap"]
    imap, pmap = made
    assert imap.derived_from == "roman_wfi_0004.imap" and pmap.derived_from == "roman_0005.pmap"
    assert imap.selector["FLAT"] == "roman_wfi_flat_0005.rmap"
    assert imap.selector["DARK"] == "roman_wfi_dark_0001.rmap"
    assert pmap.selector == {"WFI": "roman_wfi_0005.imap"}
    files = {**ROMAN, **{m.name: m.text for m in [new, *made]}}
    ctx = Context.load("roman_0006.pmap", lambda n: parse_mapping(files[n], n))
    header = {**ROMAN_HEADER, DET: "WFI02", START: "2024-06-01T00:00:00"}
    assert ctx.best_references(header, ["flat"]) == {"flat": "roman_wfi_flat_0005.asdf"}
    write_tree(tmp_path, files)
    crds_best = crds_offline(monkeypatch, tmp_path)
    assert ctx.best_references(header) == crds_best("roman_0006.pmap", header)
    # the old context still gives the old answer
    assert old_ctx.best_references(header, ["flat"])["flat"].startswith("NOT FOUND")


def test_insert_on_an_equal_key_and_date_replaces():
    flat = parse_mapping(ROMAN[FLAT], FLAT)
    header = {DET: "WFI01", OPT: "grism", START: "2020-01-01 00:00:00"}
    new = insert_reference(
        flat, "roman_wfi_flat_0009.asdf", header, new_name="roman_wfi_flat_0005.rmap"
    )
    assert new.reference_children() == ["roman_wfi_flat_0009.asdf"]
    later = insert_reference(
        new, "roman_wfi_flat_0010.asdf", {**header, START: "2021-01-01T00:00:00"},
        new_name="roman_wfi_flat_0006.rmap",
    )  # fmt: skip
    assert dict(later.selector.entries)[("WFI01", "GRISM")].entries == (
        ("2020-01-01 00:00:00", "roman_wfi_flat_0009.asdf"),
        ("2021-01-01 00:00:00", "roman_wfi_flat_0010.asdf"),
    )
    text, rows = diff(new, later)
    assert "+        '2021-01-01 00:00:00' : 'roman_wfi_flat_0010.asdf'," in text
    assert rows == [
        {
            "change": "added",
            "path": (("WFI01", "GRISM"), "2021-01-01 00:00:00"),
            "old": None,
            "new": "roman_wfi_flat_0010.asdf",
        }
    ]
    _, rows = diff(flat, new)
    assert rows == [
        {
            "change": "replaced",
            "path": (("WFI01", "GRISM"), "2020-01-01 00:00:00"),
            "old": "roman_wfi_flat_0004.asdf",
            "new": "roman_wfi_flat_0009.asdf",
        }
    ]


def test_a_header_lacking_a_parkey_is_refused_naming_it():
    flat = parse_mapping(ROMAN[FLAT], FLAT)
    with pytest.raises(CatalogError, match=rf"x.asdf: the header lacks '{OPT}'"):
        insert_reference(flat, "x.asdf", {DET: "WFI01", START: "2020-01-01"}, new_name="y.rmap")
    with pytest.raises(CatalogError, match=r"x.asdf: .* = 'someday' is not a date"):
        insert_reference(
            flat, "x.asdf", {DET: "WFI01", OPT: "F158", START: "someday"}, new_name="y.rmap"
        )
    pmap = parse_mapping(ROMAN["roman_0005.pmap"])
    with pytest.raises(CatalogError, match=r"references go into rmaps"):
        insert_reference(pmap, "x.asdf", {}, new_name="y.pmap")


def test_replace_children_and_a_new_type():
    imap = parse_mapping(ROMAN["roman_wfi_0004.imap"])
    new = replace_children(
        imap,
        {"roman_wfi_dark_0001.rmap": "roman_wfi_dark_0002.rmap"},
        new_name="roman_wfi_0005.imap",
    )
    assert new.mapping_children()[0] == "roman_wfi_dark_0002.rmap"
    assert new.derived_from == "roman_wfi_0004.imap" and serial(new.name) == 5
    _, rows = diff(imap, new)
    assert rows == [
        {"change": "replaced", "path": ("DARK",), "old": "roman_wfi_dark_0001.rmap",
         "new": "roman_wfi_dark_0002.rmap"}
    ]  # fmt: skip
    # an rmap of a type the imap lacks is added to it
    photom = parse_mapping(
        ROMAN[FLAT]
        .replace("'FLAT'", "'PHOTOM'")
        .replace("roman_wfi_flat_0004.rmap", "roman_wfi_photom_0001.rmap"),
        check_checksum=False,
    )
    ctx = Context.load("roman_0005.pmap", lambda n: parse_mapping(ROMAN[n], n))
    imap2, _pmap = new_context(ctx, [photom], next_name)
    assert imap2.selector["PHOTOM"] == "roman_wfi_photom_0001.rmap"
    assert len(imap2.selector) == 4
