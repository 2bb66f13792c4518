"""Mapping files: the safe parser, checksums, CRDS's layout, names."""

from __future__ import annotations

import pytest
from tests.catalog._trees import ROMAN, synthetic_tree

from shiftdesk.catalog.mappings import (
    Selector,
    checksum,
    format_mapping,
    load_mapping,
    parse_mapping,
    with_checksum,
)
from shiftdesk.catalog.naming import (
    is_mapping,
    make_name,
    mapping_kind,
    parse_name,
    serial,
    series,
)
from shiftdesk.errors import CatalogError

FLAT = "roman_wfi_flat_0004.rmap"


def test_real_roman_files_parse_with_their_checksums(tmp_path):
    for name, text in ROMAN.items():
        (tmp_path / name).write_text(text)
        mapping = load_mapping(tmp_path / name)
        assert mapping.name == name
        assert mapping.sha1sum == checksum(text)
    flat = parse_mapping(ROMAN[FLAT], FLAT)
    assert flat.kind == "reference"
    assert (flat.observatory, flat.instrument, flat.filekind) == ("roman", "WFI", "FLAT")
    assert flat.derived_from == "roman_wfi_flat_0001.rmap"
    assert flat.parkey == (
        ("ROMAN.META.INSTRUMENT.DETECTOR", "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT"),
        ("ROMAN.META.EXPOSURE.START_TIME",),
    )
    assert flat.header["classes"] == ("Match", "UseAfter")
    assert flat.reference_children() == ["roman_wfi_flat_0004.asdf"]
    assert flat.mapping_children() == []
    pmap = parse_mapping(ROMAN["roman_0005.pmap"])
    assert (pmap.kind, pmap.instrument, pmap.filekind) == ("pipeline", "", "")
    assert pmap.children() == ["roman_wfi_0004.imap"]
    imap = parse_mapping(ROMAN["roman_wfi_0004.imap"])
    assert imap.mapping_children() == [
        "roman_wfi_dark_0001.rmap",
        "roman_wfi_distortion_0001.rmap",
        "roman_wfi_flat_0004.rmap",
    ]


def test_format_reproduces_the_real_files_byte_for_byte():
    for name, text in ROMAN.items():
        mapping = parse_mapping(text, name)
        assert format_mapping(mapping.header, mapping.selector, mapping.comment) == text


def test_the_checksum_agrees_with_crds():
    from crds.core import rmap as crds_rmap

    for name, text in synthetic_tree().items():
        mapping = parse_mapping(text, name)  # checks our sum
        crds_mapping = crds_rmap.ReferenceMapping if mapping.kind == "reference" else None
        if crds_mapping is not None:
            assert crds_mapping._get_checksum(None, text) == mapping.sha1sum


def test_imap_na_and_omit_are_not_children():
    files = synthetic_tree()
    imap = parse_mapping(files["roman_wfi_0100.imap"])
    assert "N/A" not in imap.mapping_children() and "OMIT" not in imap.mapping_children()
    assert len(imap.mapping_children()) == 8
    photom = parse_mapping(files["roman_wfi_photom_0001.rmap"])
    assert "N/A" not in photom.reference_children()
    assert "OMIT" not in photom.reference_children()


def test_a_changed_file_fails_its_checksum():
    text = ROMAN[FLAT].replace("'GRISM'", "'PRISM'")
    with pytest.raises(CatalogError, match=r"roman_wfi_flat_0004.rmap: sha1sum mismatch"):
        parse_mapping(text, FLAT)
    assert parse_mapping(text, FLAT, check_checksum=False).reference_children()
    fixed = with_checksum(text)
    assert parse_mapping(fixed, FLAT).sha1sum == checksum(text)


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("__import__('os').system('echo pwned')", r"the call __import__\('os'\)\.system"),
        ("(lambda: 1)()", "the call lambda"),
        ("os.path", r"attribute access \(os.path\)"),
        ("open('x').read()", r"the call open\('x'\)\.read"),
        ("UseAfter({'2020-01-01 00:00:00': ''.join(['a', 'b'])})", r"the call ''\.join"),
        ("Match({('A',): lambda: 1})", "a lambda"),
        ("some_name", "the name 'some_name'"),
        ("Match({'A': 'a.asdf'}) + 1", "expression"),
        ("eval('1')", "the call eval"),
    ],
)
def test_executable_code_is_refused_with_its_line(code, what):
    text = ROMAN[FLAT].replace(
        "('WFI01', 'GRISM') : UseAfter({", f"('WFI01', 'GRISM') : {code}, ('X', 'Y') : UseAfter({{"
    )
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "('X', 'Y')" in row)
    with pytest.raises(CatalogError, match=rf"{FLAT}, line {line}: .*{what}") as info:
        parse_mapping(text, FLAT, check_checksum=False)
    assert "not allowed" in str(info.value)


def test_statements_other_than_the_three_assignments_are_refused():
    text = "import os\n" + ROMAN[FLAT]
    with pytest.raises(CatalogError, match=rf"{FLAT}, line 1: an import is not allowed"):
        parse_mapping(text, FLAT, check_checksum=False)
    text = ROMAN[FLAT] + "\nprint('hi')\n"
    with pytest.raises(CatalogError, match=r"line \d+: the statement \"print"):
        parse_mapping(text, FLAT, check_checksum=False)


def test_a_syntax_error_names_the_line():
    text = ROMAN[FLAT].replace("'flat',\n", "'flat'\n")  # a missing comma
    with pytest.raises(CatalogError, match=rf"{FLAT}, line 1[4-6]: syntax error"):
        parse_mapping(text, FLAT, check_checksum=False)


def test_a_header_name_that_differs_from_the_file_name_is_refused():
    with pytest.raises(CatalogError, match=r"names the file 'roman_wfi_flat_0004.rmap', not "):
        parse_mapping(ROMAN[FLAT], "roman_wfi_flat_0005.rmap")


def test_duplicate_keys_are_refused():
    text = ROMAN["roman_wfi_0004.imap"].replace(
        "'FLAT' : 'roman_wfi_flat_0004.rmap',",
        "'FLAT' : 'roman_wfi_flat_0004.rmap',\n    'FLAT' : 'roman_wfi_flat_0003.rmap',",
    )
    with pytest.raises(CatalogError, match=r"line 15: the key 'FLAT' appears twice"):
        parse_mapping(text, check_checksum=False)


def test_missing_header_fields_are_refused():
    text = format_mapping({"name": "x_0001.pmap", "mapping": "CONTEXT", "parkey": ("A",)}, {})
    with pytest.raises(CatalogError, match=r"expected PIPELINE, INSTRUMENT or REFERENCE"):
        parse_mapping(text)
    text = format_mapping(
        {"name": "x_a_b_0001.rmap", "mapping": "REFERENCE", "parkey": (("A",),)},
        Selector("Match", (("V", "f.fits"),)),
    )
    with pytest.raises(CatalogError, match=r"needs 'observatory'"):
        parse_mapping(text)


def test_format_then_parse_round_trips_a_generated_rmap():
    files = synthetic_tree()
    photom = parse_mapping(files["roman_wfi_photom_0001.rmap"])
    again = parse_mapping(format_mapping(photom.header, photom.selector))
    assert again.selector == photom.selector
    assert again.text == photom.text


def test_names():
    assert is_mapping("roman_0005.pmap") and not is_mapping("roman_wfi_flat_0004.asdf")
    assert mapping_kind("roman_wfi_0004.imap") == "instrument"
    assert mapping_kind("x.rmap") == "reference" and mapping_kind("x.fits") is None
    assert serial("roman_wfi_flat_0004.rmap") == 4 and serial("hst.pmap") is None
    assert serial("jwst_miri_dark_99991.fits") == 99991
    assert series("roman_wfi_flat_0004.rmap") == "roman_wfi_flat.rmap"
    assert series("roman_0005.pmap") == "roman.pmap"
    assert series("hst.pmap") == "hst.pmap"
    assert make_name("roman", "WFI", "FLAT", 5, "rmap") == "roman_wfi_flat_0005.rmap"
    assert make_name("roman", "", "", 12345, ".pmap") == "roman_12345.pmap"
    assert parse_name("roman_wfi_flat_0004.rmap") == ("roman", "wfi", "flat", 4, ".rmap")
    assert parse_name("jwst_nircam_drizpars_0001.rmap")[2] == "drizpars"
    assert parse_name("jwst_miri_abc_def_0002.fits") == ("jwst", "miri", "abc_def", 2, ".fits")
    assert parse_name("roman_0005.pmap") == ("roman", "", "", 5, ".pmap")
