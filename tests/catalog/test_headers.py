"""Headers read from FITS and ASDF files as the rules name their keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from shiftdesk.catalog.demo import write_reference
from shiftdesk.catalog.headers import normalize_header, read_header
from shiftdesk.errors import CatalogError


def test_an_asdf_tree_becomes_dotted_upper_case_keys_without_its_arrays(tmp_path: Path) -> None:
    path = tmp_path / "roman_wfi_flat_0001.asdf"
    meta = {
        "reftype": "FLAT",
        "useafter": "2020-01-01T00:00:00",
        "instrument": {"name": "WFI", "detector": "WFI01", "optical_element": "F158"},
    }
    write_reference(path, meta, seed=1)
    header = read_header(path)
    assert header["ROMAN.META.INSTRUMENT.DETECTOR"] == "WFI01"
    assert header["ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT"] == "F158"
    assert header["ROMAN.META.USEAFTER"] == "2020-01-01T00:00:00"
    assert not any(key.startswith("ROMAN.DATA") for key in header)
    assert not any(key.startswith("ASDF_LIBRARY") for key in header)


def test_a_fits_header_merges_the_first_extension_without_overriding(tmp_path: Path) -> None:
    primary = fits.PrimaryHDU()
    primary.header["INSTRUME"] = "COS"
    primary.header["DETECTOR"] = "FUV"
    primary.header["HISTORY"] = "made for a test"
    ext = fits.ImageHDU(np.zeros((4, 4), dtype="f4"))
    ext.header["DETECTOR"] = "NUV"  # the primary's value wins
    ext.header["DATE-OBS"] = "2024-03-01"
    path = tmp_path / "x.fits"
    fits.HDUList([primary, ext]).writeto(path)
    header = read_header(path)
    assert header["INSTRUME"] == "COS" and header["DETECTOR"] == "FUV"
    assert header["DATE-OBS"] == "2024-03-01"
    assert "HISTORY" not in header


def test_a_tile_compressed_fits_file_is_read(tmp_path: Path) -> None:
    primary = fits.PrimaryHDU()
    primary.header["INSTRUME"] = "SINISTRO"
    comp = fits.CompImageHDU(np.ones((8, 8), dtype="f4"), name="SCI")
    comp.header["FILTER"] = "rp"
    path = tmp_path / "frame.fits.fz"
    fits.HDUList([primary, comp]).writeto(path)
    header = read_header(path)
    assert header["INSTRUME"] == "SINISTRO" and header["FILTER"] == "rp"


_CUT_ASDF = b"#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n--- !core/asdf-1.1.0\nroman: {meta: ["


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("missing.asdf", None, "no such file"),
        ("notes.txt", b"hello", "not a FITS or ASDF file"),
        ("cut.asdf", _CUT_ASDF, "cannot be read as ASDF"),
        ("cut.fits", b"SIMPLE  =                    T", "cannot be read as FITS"),
    ],
)  # fmt: skip
def test_unreadable_files_are_refused_with_what_to_do(
    tmp_path: Path, name: str, content: bytes | None, words: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CatalogError, match=words):
        read_header(path)


def test_a_typed_header_is_upper_cased_and_conflicting_spellings_refused() -> None:
    assert normalize_header({" roman.meta.instrument.name ": "WFI"}) == {
        "ROMAN.META.INSTRUMENT.NAME": "WFI"
    }
    with pytest.raises(CatalogError, match="given twice"):
        normalize_header({"Detector": "WFI01", "DETECTOR": "WFI02"})
