"""Mapping trees for the catalog's rules-engine tests, and the crds package run offline.

``ROMAN`` holds the five real Roman rules files of ``../shared/reference/crds`` byte for
byte (spacetelescope/crds-cache-test @ 81acbb5, mappings/roman/; STScI CRDS rules files,
third-party test data: see that folder's README for provenance and license status).
``synthetic_tree()`` adds rmaps we write ourselves for the cases the real tree lacks.
"""

# ruff: noqa: E501
from __future__ import annotations

from pathlib import Path
from typing import Any

from shiftdesk.catalog.mappings import Selector, format_mapping

ROMAN: dict[str, str] = {
    "roman_0005.pmap": """\
header = {
    'derived_from' : 'roman_0004.pmap',
    'description' : 'Initial delivery',
    'mapping' : 'PIPELINE',
    'name' : 'roman_0005.pmap',
    'observatory' : 'ROMAN',
    'parkey' : ('ROMAN.META.INSTRUMENT.NAME',),
    'sha1sum' : 'a599010ee1825db853cd4ccf38859a8f1eaa29f3',
}

selector = {
    'WFI' : 'roman_wfi_0004.imap',
}
""",
    "roman_wfi_0004.imap": """\
header = {
    'derived_from' : 'roman_wfi_0003.imap',
    'instrument' : 'WFI',
    'mapping' : 'INSTRUMENT',
    'name' : 'roman_wfi_0004.imap',
    'observatory' : 'ROMAN',
    'parkey' : ('REFTYPE',),
    'sha1sum' : 'b34790b118373fc1de0ace3039dae9a0d3169a72',
}

selector = {
    'DARK' : 'roman_wfi_dark_0001.rmap',
    'DISTORTION' : 'roman_wfi_distortion_0001.rmap',
    'FLAT' : 'roman_wfi_flat_0004.rmap',
}
""",
    "roman_wfi_dark_0001.rmap": """\
header = {
    'classes' : ('Match', 'UseAfter'),
    'derived_from' : 'Hand made 2020-02-10',
    'file_ext' : '.asdf',
    'filekind' : 'DARK',
    'filetype' : 'DARK',
    'instrument' : 'WFI',
    'ld_tpn' : 'wfi_dark_ld.tpn',
    'mapping' : 'REFERENCE',
    'name' : 'roman_wfi_dark_0001.rmap',
    'observatory' : 'ROMAN',
    'parkey' : (('ROMAN.META.INSTRUMENT.DETECTOR', 'ROMAN.META.EXPOSURE.TYPE'), ('ROMAN.META.EXPOSURE.START_TIME',)),
    'sha1sum' : '4daba428da2d06e7fb3a52836927176ec3a519b5',
    'suffix' : 'dark',
    'text_descr' : 'Dark',
    'tpn' : 'wfi_dark.tpn',
}

selector = Match({
    ('WFI01', 'WFI_IMAGE') : UseAfter({
        '2020-01-01 00:00:00' : 'roman_wfi_dark_0001.asdf',
    }),
})
""",
    "roman_wfi_distortion_0001.rmap": """\
header = {
    'classes' : ('Match', 'UseAfter'),
    'derived_from' : 'roman_wfi_distortion.rmap',
    'file_ext' : '.asdf',
    'filekind' : 'DISTORTION',
    'filetype' : 'DISTORTION',
    'instrument' : 'WFI',
    'ld_tpn' : 'wfi_distortion_ld.tpn',
    'mapping' : 'REFERENCE',
    'name' : 'roman_wfi_distortion_0001.rmap',
    'observatory' : 'ROMAN',
    'parkey' : (('ROMAN.META.INSTRUMENT.DETECTOR', 'ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT'), ('ROMAN.META.EXPOSURE.START_TIME',)),
    'sha1sum' : '642a007d89ae3d9f2e718b9bf43c49b60ac79632',
    'suffix' : 'distortion',
    'text_descr' : 'Distortion',
    'tpn' : 'wfi_distortion.tpn',
}

selector = Match({
    ('WFI01', 'DARK|F062|F087|F106|F129|F158|F184|F213|GRISM|PRISM|W146') : UseAfter({
        '2020-01-01T00:00:00' : 'roman_wfi_distortion_0001.asdf',
    }),
})
""",
    "roman_wfi_flat_0004.rmap": """\
header = {
    'classes' : ('Match', 'UseAfter'),
    'derived_from' : 'roman_wfi_flat_0001.rmap',
    'file_ext' : '.asdf',
    'filekind' : 'FLAT',
    'filetype' : 'FLAT',
    'instrument' : 'WFI',
    'ld_tpn' : 'wfi_flat_ld.tpn',
    'mapping' : 'REFERENCE',
    'name' : 'roman_wfi_flat_0004.rmap',
    'observatory' : 'ROMAN',
    'parkey' : (('ROMAN.META.INSTRUMENT.DETECTOR', 'ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT'), ('ROMAN.META.EXPOSURE.START_TIME',)),
    'sha1sum' : 'c664b0bf71da10a04823b0d4bee0f61992d5089e',
    'suffix' : 'flat',
    'text_descr' : 'Flat Field',
    'tpn' : 'wfi_flat.tpn',
}

selector = Match({
    ('WFI01', 'GRISM') : UseAfter({
        '2020-01-01 00:00:00' : 'roman_wfi_flat_0004.asdf',
    }),
})
""",
}

#: the answers ../shared/reference/crds/README.md lists for the real tree
ROMAN_HEADER = {
    "ROMAN.META.INSTRUMENT.NAME": "WFI",
    "ROMAN.META.INSTRUMENT.DETECTOR": "WFI01",
    "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT": "F158",
    "ROMAN.META.EXPOSURE.START_TIME": "2021-06-01T12:00:00",
    "ROMAN.META.EXPOSURE.TYPE": "WFI_IMAGE",
}

DET = "ROMAN.META.INSTRUMENT.DETECTOR"
OPT = "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT"
EXP = "ROMAN.META.EXPOSURE.TYPE"
START = "ROMAN.META.EXPOSURE.START_TIME"


def rmap_text(
    name: str,
    filekind: str,
    parkey: tuple[Any, ...],
    selector: Selector,
    **extra: Any,
) -> str:
    """A Roman WFI rmap in CRDS's layout (checksum written)."""
    header = {
        "classes": ("Match", "UseAfter"),
        "derived_from": "synthetic",
        "file_ext": ".asdf",
        "filekind": filekind,
        "instrument": "WFI",
        "mapping": "REFERENCE",
        "name": name,
        "observatory": "ROMAN",
        "parkey": parkey,
        **extra,
    }
    return format_mapping(header, selector)


def imap_text(name: str, selector: dict[str, str], instrument: str = "WFI") -> str:
    header = {
        "derived_from": "synthetic",
        "instrument": instrument,
        "mapping": "INSTRUMENT",
        "name": name,
        "observatory": "ROMAN",
        "parkey": ("REFTYPE",),
    }
    return format_mapping(header, selector)


def pmap_text(name: str, selector: dict[str, str]) -> str:
    header = {
        "derived_from": "synthetic",
        "mapping": "PIPELINE",
        "name": name,
        "observatory": "ROMAN",
        "parkey": ("ROMAN.META.INSTRUMENT.NAME",),
    }
    return format_mapping(header, selector)


def M(entries: dict[Any, Any]) -> Selector:
    return Selector("Match", tuple(entries.items()))


def U(entries: dict[str, Any]) -> Selector:
    return Selector("UseAfter", tuple(entries.items()))


def synthetic_tree() -> dict[str, str]:
    """The real Roman tree plus roman_0100.pmap -> roman_wfi_0100.imap with synthetic
    rmaps: ``*``, N/A, or-globs, exact-beats-star weights, ties (merged UseAfters and
    plain files), several UseAfter dates in both spellings, reffile_required NO,
    N/A and OMIT values, merge_overlaps off, an imap with N/A and OMIT types."""
    files = dict(ROMAN)
    two = ((DET, OPT), (START,))
    files["roman_wfi_photom_0001.rmap"] = rmap_text(
        "roman_wfi_photom_0001.rmap", "PHOTOM", two,
        M({
            ("WFI01", "F158"): U({
                "2020-01-01 00:00:00": "roman_wfi_photom_0001.asdf",
                "2021-01-01T00:00:00": "roman_wfi_photom_0002.asdf",
                "2022-06-15 12:30:00": "roman_wfi_photom_0003.asdf",
            }),
            ("WFI01", "*"): U({"2019-01-01 00:00:00": "roman_wfi_photom_0004.asdf"}),
            ("WFI02|WFI03", "F062|F087"): U({"2020-01-01 00:00:00": "roman_wfi_photom_0005.asdf"}),
            ("WFI02", "N/A"): U({"2021-03-01 00:00:00": "roman_wfi_photom_0006.asdf"}),
            ("WFI04", "F1*"): U({"2020-01-01 00:00:00": "roman_wfi_photom_0007.asdf"}),
            ("WFI05", "GRISM"): U({"2020-01-01 00:00:00": "N/A"}),
            ("WFI06", "GRISM"): U({"2020-01-01 00:00:00": "OMIT"}),
        }),
    )  # fmt: skip
    # ties: WFI07|WFI08 and WFI08|WFI09 both match WFI08 exactly: UseAfters merged
    files["roman_wfi_mask_0001.rmap"] = rmap_text(
        "roman_wfi_mask_0001.rmap", "MASK", two,
        M({
            ("WFI07|WFI08", "*"): U({
                "2020-01-01 00:00:00": "roman_wfi_mask_0001.asdf",
                "2022-01-01 00:00:00": "roman_wfi_mask_0003.asdf",
            }),
            ("WFI08|WFI09", "*"): U({
                "2021-01-01 00:00:00": "roman_wfi_mask_0002.asdf",
                "2022-01-01 00:00:00": "roman_wfi_mask_0004.asdf",
            }),
            ("N/A", "F158"): U({"2020-06-01 00:00:00": "roman_wfi_mask_0005.asdf"}),
        }),
    )  # fmt: skip
    # a Match straight to files: a tie of two files
    files["roman_wfi_gain_0001.rmap"] = rmap_text(
        "roman_wfi_gain_0001.rmap", "GAIN", ((DET,),),
        M({
            "WFI01|WFI02": "roman_wfi_gain_0001.asdf",
            "WFI02|WFI03": "roman_wfi_gain_0002.asdf",
            "WFI04": "roman_wfi_gain_0003.asdf",
            "*": "roman_wfi_gain_0004.asdf",
        }),
        classes=("Match",),
    )  # fmt: skip
    # merge_overlaps off: a tie is an error
    files["roman_wfi_ipc_0001.rmap"] = rmap_text(
        "roman_wfi_ipc_0001.rmap", "IPC", two,
        M({
            ("WFI01|WFI02", "*"): U({"2020-01-01 00:00:00": "roman_wfi_ipc_0001.asdf"}),
            ("WFI02|WFI03", "*"): U({"2020-01-01 00:00:00": "roman_wfi_ipc_0002.asdf"}),
        }),
        merge_overlaps="False",
    )  # fmt: skip
    # a type that is not required: a miss is N/A
    files["roman_wfi_readnoise_0001.rmap"] = rmap_text(
        "roman_wfi_readnoise_0001.rmap", "READNOISE", ((DET, EXP), (START,)),
        M({
            ("WFI01", "WFI_IMAGE"): U({"2020-01-01 00:00:00": "roman_wfi_readnoise_0001.asdf"}),
            ("WFI02", "WFI_IMAGE|WFI_GRISM"): U({
                "2020-01-01 00:00:00": "roman_wfi_readnoise_0002.asdf",
                "2023-01-01 00:00:00": "roman_wfi_readnoise_0003.asdf",
            }),
        }),
        reffile_required="NO",
    )  # fmt: skip
    files["roman_wfi_0100.imap"] = imap_text(
        "roman_wfi_0100.imap",
        {
            "DARK": "roman_wfi_dark_0001.rmap",
            "DISTORTION": "roman_wfi_distortion_0001.rmap",
            "FLAT": "roman_wfi_flat_0004.rmap",
            "GAIN": "roman_wfi_gain_0001.rmap",
            "IPC": "roman_wfi_ipc_0001.rmap",
            "LINEARITY": "N/A",
            "MASK": "roman_wfi_mask_0001.rmap",
            "PHOTOM": "roman_wfi_photom_0001.rmap",
            "READNOISE": "roman_wfi_readnoise_0001.rmap",
            "REFPIX": "OMIT",
        },
    )
    files["roman_0100.pmap"] = pmap_text("roman_0100.pmap", {"WFI": "roman_wfi_0100.imap"})
    return files


def write_tree(folder: Path, files: dict[str, str], observatory: str = "roman") -> Path:
    """Write ``files`` into ``folder/mappings/<observatory>/`` (a CRDS cache layout)."""
    where = folder / "mappings" / observatory
    where.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (where / name).write_text(text)
    return where


def crds_offline(monkeypatch: Any, folder: Path) -> Any:
    """The crds package pointed at ``folder`` (a CRDS cache), local mode, no server:
    returns ``best(pmap, header, reftypes)`` computing CRDS's local bestrefs."""
    monkeypatch.setenv("CRDS_PATH", str(folder))
    # an address nothing answers at (and that names the observatory, as crds reads it)
    monkeypatch.setenv("CRDS_SERVER_URL", "https://roman-crds-offline.invalid")
    monkeypatch.setenv("CRDS_MODE", "local")
    monkeypatch.setenv("CRDS_OBSERVATORY", "roman")
    for key in ("CRDS_READONLY_CACHE", "CRDS_MAPPATH", "CRDS_REFPATH", "CRDS_CFGPATH"):
        monkeypatch.delenv(key, raising=False)
    from crds.core import heavy_client, utils

    utils.clear_function_caches()  # crds caches mappings by name across tests

    def best(
        pmap: str, header: dict[str, Any], reftypes: list[str] | None = None
    ) -> dict[str, str]:
        # what crds.getrecommendations does in local mode, minus its server-config checks
        params = heavy_client.check_parameters(header)
        params = utils.get_locator_module("roman").dataset_to_ref_header(params)
        return dict(heavy_client.hv_best_references(pmap, params, reftypes))

    return best


def new_flat(folder: Path, name: str = "new_flat.asdf", *, seed: int = 99, **meta: Any) -> Path:
    """A small ASDF flat for WFI01 F087, useafter 2026-02-01 (``meta`` overrides fields):
    a reference to submit to the demo catalog."""
    from shiftdesk.catalog.demo import write_reference

    folder.mkdir(parents=True, exist_ok=True)
    tree: dict[str, Any] = {
        "reftype": "FLAT",
        "useafter": "2026-02-01T00:00:00",
        "description": "2026 flat",
        "instrument": {"name": "WFI", "detector": "WFI01", "optical_element": "F087"},
    }
    tree.update(meta)
    path = folder / name
    write_reference(path, tree, seed=seed)
    return path
