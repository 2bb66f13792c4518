"""Best references: our compiled rules against the crds package, on trees built here."""

from __future__ import annotations

import random

import pytest
from tests.catalog._trees import (
    DET,
    EXP,
    OPT,
    ROMAN,
    ROMAN_HEADER,
    START,
    M,
    U,
    crds_offline,
    pmap_text,
    rmap_text,
    synthetic_tree,
    write_tree,
)

from shiftdesk.catalog.mappings import parse_mapping
from shiftdesk.catalog.selection import Context
from shiftdesk.errors import CatalogError


def context(files: dict[str, str], pmap: str) -> Context:
    return Context.load(pmap, lambda name: parse_mapping(files[name], name))


@pytest.fixture
def tree(tmp_path, monkeypatch):
    files = synthetic_tree()
    write_tree(tmp_path, files)
    return files, crds_offline(monkeypatch, tmp_path)


def test_the_readme_answers_on_the_real_tree(tree):
    files, crds_best = tree
    ctx = context(files, "roman_0005.pmap")
    got = ctx.best_references(ROMAN_HEADER)
    assert got["distortion"] == "roman_wfi_distortion_0001.asdf"
    assert got["dark"] == "roman_wfi_dark_0001.asdf"
    assert got["flat"].startswith("NOT FOUND ")  # only GRISM is listed
    no_type = {k: v for k, v in ROMAN_HEADER.items() if k != EXP}
    assert ctx.best_references(no_type)["dark"].startswith("NOT FOUND ")
    assert got == crds_best("roman_0005.pmap", ROMAN_HEADER)
    grism = {**ROMAN_HEADER, OPT: "GRISM"}
    assert ctx.best_references(grism)["flat"] == "roman_wfi_flat_0004.asdf"
    assert ctx.best_references(grism, ["FLAT"]) == {"flat": "roman_wfi_flat_0004.asdf"}


def test_the_closure_and_what_it_names():
    files = synthetic_tree()
    ctx = context(files, "roman_0005.pmap")
    assert set(ctx.mappings) == set(ROMAN)
    assert ctx.references() == {
        "roman_wfi_dark_0001.asdf",
        "roman_wfi_distortion_0001.asdf",
        "roman_wfi_flat_0004.asdf",
    }
    assert ctx.required_parkeys()["flat"] == ["ROMAN.META.INSTRUMENT.NAME", DET, OPT, START]
    assert ctx.required_parkeys()["dark"] == ["ROMAN.META.INSTRUMENT.NAME", DET, EXP, START]


# values chosen around the rmaps' keys: exact, case, *, N/A, ANY, or-glob members,
# dates before, on and after each UseAfter date in both spellings, garbage
DETECTORS = ["WFI01", "WFI02", "WFI03", "WFI04", "WFI05", "WFI06", "WFI07", "WFI08",
             "WFI09", "WFI10", "*", "N/A", "wfi01", " WFI02 "]  # fmt: skip
OPTICS = ["F158", "F062", "F087", "F1X", "F129", "GRISM", "PRISM", "W146", "DARK", "ANY",
          "N/A", "f158"]  # fmt: skip
EXPOSURES = ["WFI_IMAGE", "WFI_GRISM", "WFI_DARK", "wfi_image"]
DATES = ["2018-01-01T00:00:00", "2019-06-01 00:00:00", "2020-01-01 00:00:00",
         "2020-01-01T00:00:00", "2020-06-01T00:00:00", "2021-01-01 00:00:00",
         "2021-01-01T00:00:00", "2021-01-01T00:00:00.5", "2021-02-01T00:00:00",
         "2022-06-15 12:30:00", "2022-06-15T12:30:01", "2023-05-05", "garbage",
         "2021-13-01T00:00:00"]  # fmt: skip
TYPES = ["flat", "dark", "photom", "mask", "gain", "ipc", "readnoise", "linearity", "refpix",
         "distortion", "bogus", "FLAT"]  # fmt: skip


def random_header(rng: random.Random) -> dict[str, object]:
    header: dict[str, object] = {"ROMAN.META.INSTRUMENT.NAME": rng.choice(["WFI", "wfi"])}
    for key, values in ((DET, DETECTORS), (OPT, OPTICS), (EXP, EXPOSURES), (START, DATES)):
        if rng.random() < 0.93:  # sometimes missing
            header[key if rng.random() < 0.7 else key.lower()] = rng.choice(values)
    if rng.random() < 0.1:  # archive-style META.* keys, which the crds client maps
        header = {k.removeprefix("ROMAN.").removeprefix("roman."): v for k, v in header.items()}
    if rng.random() < 0.1:
        header["SOMETHING.ELSE"] = rng.random()
    return header


def test_answers_equal_the_crds_package_for_many_headers(tree):
    files, crds_best = tree
    contexts = {p: context(files, p) for p in ("roman_0005.pmap", "roman_0100.pmap")}
    rng = random.Random(20250712)
    compared = ambiguous = found = 0
    for _ in range(1500):
        header = random_header(rng)
        pmap = rng.choice(sorted(contexts))
        reftypes = None if rng.random() < 0.7 else rng.sample(TYPES, 3)
        expected = crds_best(pmap, header, reftypes)
        got = contexts[pmap].best_references(header, reftypes)
        for reftype, answer in expected.items():
            if isinstance(answer, tuple):
                # crds hands back the tuple of tied file names; we name the tie instead
                ambiguous += 1
                assert got[reftype].startswith("NOT FOUND More than one match clause matched")
                assert all(repr(name) in got[reftype] for name in set(answer))
                got[reftype] = answer
            elif not answer.startswith("NOT FOUND"):
                found += 1
        assert got == expected, (pmap, header, reftypes)
        compared += 1
    # the loop reached every kind of answer
    assert compared == 1500 and ambiguous > 20 and found > 1000


def test_a_selection_of_known_answers(tree):
    files, crds_best = tree
    ctx = context(files, "roman_0100.pmap")
    base = {"ROMAN.META.INSTRUMENT.NAME": "WFI", EXP: "WFI_IMAGE"}

    def best(reftype: str, **values: str) -> str:
        header = {**base, DET: values["det"], OPT: values.get("opt", "F158"),
                  START: values.get("date", "2021-06-01 00:00:00")}  # fmt: skip
        answer = ctx.best_references(header, [reftype])[reftype]
        assert answer == crds_best("roman_0100.pmap", header, [reftype])[reftype]
        return answer

    # UseAfter: the latest date not after the exposure's, both spellings of keys;
    # WFI01/F158 ties with WFI01/* (a `*` key weighs as an exact one): UseAfters merged
    assert best("photom", det="WFI01", date="2020-06-01 00:00:00") == "roman_wfi_photom_0001.asdf"
    assert best("photom", det="WFI01", date="2021-06-01 00:00:00") == "roman_wfi_photom_0002.asdf"
    assert best("photom", det="WFI01", date="2022-07-01 00:00:00") == "roman_wfi_photom_0003.asdf"
    assert best("photom", det="WFI01", date="2019-06-01 00:00:00") == "roman_wfi_photom_0004.asdf"
    # CRDS compares a 'T'-spelled key as text: during 2021-01-01 it is not reached yet
    assert best("photom", det="WFI01", date="2021-01-01 10:00:00") == "roman_wfi_photom_0001.asdf"
    # or-globs, N/A (weight 0) and glob patterns
    assert best("photom", det="WFI03", opt="F087") == "roman_wfi_photom_0005.asdf"
    assert best("photom", det="WFI02", opt="W146") == "roman_wfi_photom_0006.asdf"
    assert best("photom", det="WFI04", opt="F129") == "roman_wfi_photom_0007.asdf"
    # N/A and OMIT values in an rmap
    assert best("photom", det="WFI05", opt="GRISM") == "NOT FOUND n/a"
    omitted = {**base, DET: "WFI06", OPT: "GRISM", START: "2021-06-01 00:00:00"}
    assert "photom" not in ctx.best_references(omitted)
    assert "photom" not in crds_best("roman_0100.pmap", omitted)
    # exact beats N/A: WFI08 matches two or-globs at equal weight (merged) and N/A/F158
    assert best("mask", det="WFI08", date="2021-06-01 00:00:00") == "roman_wfi_mask_0002.asdf"
    # on a date both merged UseAfters list, the greater name wins (as in CRDS)
    assert best("mask", det="WFI08", date="2022-06-01 00:00:00") == "roman_wfi_mask_0004.asdf"
    assert best("mask", det="WFI10", opt="F158") == "roman_wfi_mask_0005.asdf"
    # merge_overlaps off: a tie is an ambiguity error
    assert best("ipc", det="WFI02") == "NOT FOUND More than one match clause matched."
    # not required: a miss is n/a; the imap's N/A type: n/a; OMIT left out
    assert best("readnoise", det="WFI09") == "NOT FOUND n/a"
    assert best("linearity", det="WFI01") == "NOT FOUND n/a"
    assert "refpix" not in ctx.best_references({**base, DET: "WFI01"})
    assert "refpix" not in ctx.best_references({**base, DET: "WFI01"}, ["refpix"])
    assert best("bogus", det="WFI01") == "NOT FOUND Unknown reference type 'bogus'"
    # before every date, and an unreadable date
    assert best("photom", det="WFI03", opt="F087", date="2019-01-01") == "NOT FOUND No match found."
    assert "Invalid date/time format" in best("photom", det="WFI01", date="soon")
    # a plain-file tie: crds returns a tuple, we name both files
    header = {**base, DET: "WFI02", OPT: "F158", START: "2021-06-01 00:00:00"}
    answer = ctx.best_references(header, ["gain"])["gain"]
    assert "'roman_wfi_gain_0001.asdf'" in answer and "'roman_wfi_gain_0002.asdf'" in answer


def test_header_without_or_with_an_unknown_instrument(tree):
    files, crds_best = tree
    ctx = context(files, "roman_0005.pmap")
    with pytest.raises(CatalogError, match=r"no 'ROMAN.META.INSTRUMENT.NAME' keyword"):
        ctx.best_references({DET: "WFI01"})
    with pytest.raises(CatalogError, match=r"unknown instrument 'NIRCAM'.*knows WFI"):
        ctx.best_references({"ROMAN.META.INSTRUMENT.NAME": "NIRCAM"})
    with pytest.raises(Exception, match="Unknown instrument"):
        crds_best("roman_0005.pmap", {"ROMAN.META.INSTRUMENT.NAME": "NIRCAM"})


def test_rmaps_with_features_we_do_not_compile_are_answered_by_crds(tmp_path, monkeypatch):
    files = dict(ROMAN)
    # an rmap_relevance expression: crds evaluates it (we hand the rmap to crds)
    files["roman_wfi_flat_0004.rmap"] = rmap_text(
        "roman_wfi_flat_0004.rmap", "FLAT", ((DET, OPT), (START,)),
        M({("WFI01", "GRISM"): U({"2020-01-01 00:00:00": "roman_wfi_flat_0004.asdf"})}),
        rmap_relevance=f"({OPT} != 'GRISM')",
    )  # fmt: skip
    write_tree(tmp_path, files)
    crds_best = crds_offline(monkeypatch, tmp_path)
    ctx = context(files, "roman_0005.pmap")
    grism = {**ROMAN_HEADER, OPT: "GRISM"}
    assert ctx.best_references(grism)["flat"] == "NOT FOUND n/a"
    assert ctx.best_references(grism) == crds_best("roman_0005.pmap", grism)


def test_a_missing_child_names_parent_and_child():
    files = dict(ROMAN)
    del files["roman_wfi_flat_0004.rmap"]
    with pytest.raises(
        CatalogError, match=r"roman_wfi_0004.imap names roman_wfi_flat_0004.rmap, which is missing"
    ):
        context(files, "roman_0005.pmap")


def test_a_bad_child_names_its_parent():
    files = dict(ROMAN)
    files["roman_wfi_flat_0004.rmap"] = files["roman_wfi_flat_0004.rmap"].replace("GRISM", "PRISM")
    with pytest.raises(
        CatalogError,
        match=r"cannot load roman_wfi_flat_0004.rmap \(named by roman_wfi_0004.imap\).*sha1sum",
    ):
        context(files, "roman_0005.pmap")


def test_a_child_of_the_wrong_kind_is_refused():
    files = dict(ROMAN)
    files["roman_0007.pmap"] = pmap_text("roman_0007.pmap", {"WFI": "roman_wfi_flat_0004.rmap"})
    with pytest.raises(
        CatalogError,
        match=r"roman_0007.pmap names roman_wfi_flat_0004.rmap as a child, but it is a reference",
    ):
        context(files, "roman_0007.pmap")
    with pytest.raises(CatalogError, match=r"roman_wfi_0004.imap is not a pipeline mapping"):
        context(files, "roman_wfi_0004.imap")
