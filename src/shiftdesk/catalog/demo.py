"""The demo catalog: Roman-shaped rules and small reference files that shiftdesk makes.

Three pipeline contexts of one instrument (WFI), the shape of STScI's Roman tree in
``roman_0005.pmap`` (pmap → imap → one rmap per reference type, Match on detector and
optical element or exposure type, then UseAfter on the exposure's start time):

- ``roman_0001.pmap``: darks, flats, distortions and read noise for detectors WFI01–WFI03;
- ``roman_0002.pmap``: new F158 flats from 2025 (``roman_wfi_flat_0002.rmap``);
- ``roman_0003.pmap``: 2026 darks (``roman_wfi_dark_0002.rmap``), the edit context.

The reference files are ASDF files of a few kilobytes whose ``roman.meta`` says what
they are, so the catalog reads their headers as it would real ones. Everything is made
from fixed numbers: the same files, byte for byte, for a given asdf version (so seeding
twice finds them already in the catalog).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from shiftdesk.identity import Identity
    from shiftdesk.storage import Database

#: the demo catalog's observatory
OBSERVATORY = "roman"
DETECTORS = ("WFI01", "WFI02", "WFI03")
FILTERS = ("F087", "F158", "F213", "GRISM")
#: (context, when it became latest or None for the edit context, why)
CONTEXTS = (
    ("roman_0001.pmap", "2025-01-10T09:00:00", "initial delivery of WFI rules"),
    ("roman_0002.pmap", "2025-06-02T14:30:00", "new F158 flats from the 2025 flat-field campaign"),
    ("roman_0003.pmap", None, "2026 darks (in review)"),
)
_START = "ROMAN.META.EXPOSURE.START_TIME"
_DETECTOR = "ROMAN.META.INSTRUMENT.DETECTOR"


@dataclass(frozen=True)
class _Reference:
    name: str
    reftype: str
    detector: str
    useafter: str
    match: str  # optical element or exposure type (or-glob allowed), "" for none
    description: str


def _references() -> dict[str, list[_Reference]]:
    """Per rmap name, the references it selects."""
    out: dict[str, list[_Reference]] = {}
    serial = {"dark": 0, "flat": 0, "distortion": 0, "readnoise": 0}

    def ref(kind: str, det: str, after: str, match: str, what: str) -> _Reference:
        serial[kind] += 1
        name = f"roman_wfi_{kind}_{serial[kind]:04d}.asdf"
        return _Reference(name, kind.upper(), det, after, match, what)

    first = "2020-01-01 00:00:00"
    darks = [ref("dark", d, first, "WFI_IMAGE|WFI_GRISM", f"ground dark {d}") for d in DETECTORS]
    flats = [ref("flat", d, first, f, f"ground flat {d} {f}") for d in DETECTORS for f in FILTERS]
    distortion = "F087|F158|F213|GRISM"
    dist = [
        ref("distortion", d, "2020-01-01T00:00:00", distortion, f"distortion {d}")
        for d in DETECTORS
    ]
    noise = [ref("readnoise", d, first, "", f"read noise {d}") for d in DETECTORS]
    flats_2025 = [
        ref("flat", d, "2025-05-01 00:00:00", "F158", f"2025 campaign flat {d} F158")
        for d in DETECTORS
    ]
    darks_2026 = [
        ref("dark", d, "2026-01-01 00:00:00", "WFI_IMAGE|WFI_GRISM", f"2026 dark {d}")
        for d in DETECTORS
    ]
    out["roman_wfi_dark_0001.rmap"] = darks
    out["roman_wfi_dark_0002.rmap"] = darks + darks_2026
    out["roman_wfi_flat_0001.rmap"] = flats
    out["roman_wfi_flat_0002.rmap"] = flats + flats_2025
    out["roman_wfi_distortion_0001.rmap"] = dist
    out["roman_wfi_readnoise_0001.rmap"] = noise
    return out


#: reference type → (Match parkeys after the detector, description)
_KINDS = {
    "DARK": (("ROMAN.META.EXPOSURE.TYPE",), "Dark"),
    "FLAT": (("ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT",), "Flat Field"),
    "DISTORTION": (("ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT",), "Distortion"),
    "READNOISE": ((), "Read Noise"),
}


def _literal(value: Any) -> str:
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _header_text(header: dict[str, Any]) -> str:
    lines = ["header = {"]
    lines += [f"    {k!r} : {_literal(v)}," for k, v in sorted(header.items())]
    return "\n".join(lines) + "\n}\n"


def _rmap_text(name: str, derived_from: str, refs: list[_Reference]) -> str:
    kind = refs[0].reftype
    extra, descr = _KINDS[kind]
    header = {
        "classes": ("Match", "UseAfter"),
        "derived_from": derived_from,
        "file_ext": ".asdf",
        "filekind": kind,
        "filetype": kind,
        "instrument": "WFI",
        "mapping": "REFERENCE",
        "name": name,
        "observatory": "ROMAN",
        "parkey": ((_DETECTOR, *extra), (_START,)),
        "sha1sum": "0",
        "suffix": kind.lower(),
        "text_descr": descr,
    }
    groups: dict[tuple[str, ...], dict[str, str]] = {}
    for r in refs:
        key: tuple[str, ...] = (r.detector, r.match) if extra else (r.detector,)
        groups.setdefault(key, {})[r.useafter] = r.name
    body = ["selector = Match({"]
    for match in sorted(groups):
        body.append(f"    {_literal(match)} : UseAfter({{")
        body += [f"        {d!r} : {f!r}," for d, f in sorted(groups[match].items())]
        body.append("    }),")
    body.append("})")
    return _header_text(header) + "\n" + "\n".join(body) + "\n"


def _context_text(name: str, kind: str, derived_from: str, children: dict[str, str]) -> str:
    header: dict[str, Any] = {
        "derived_from": derived_from,
        "mapping": kind,
        "name": name,
        "observatory": "ROMAN",
        "sha1sum": "0",
    }
    if kind == "PIPELINE":
        header["parkey"] = ("ROMAN.META.INSTRUMENT.NAME",)
        header["description"] = "shiftdesk demo rules"
    else:
        header["instrument"] = "WFI"
        header["parkey"] = ("REFTYPE",)
    body = ["selector = {"] + [f"    {k!r} : {v!r}," for k, v in sorted(children.items())]
    return _header_text(header) + "\n" + "\n".join(body) + "\n}\n"


def _imaps() -> dict[str, tuple[str, dict[str, str]]]:
    """imap name → (derived from, reftype → rmap)."""
    base = {
        "DARK": "roman_wfi_dark_0001.rmap",
        "DISTORTION": "roman_wfi_distortion_0001.rmap",
        "FLAT": "roman_wfi_flat_0001.rmap",
        "READNOISE": "roman_wfi_readnoise_0001.rmap",
    }
    second = {**base, "FLAT": "roman_wfi_flat_0002.rmap"}
    third = {**second, "DARK": "roman_wfi_dark_0002.rmap"}
    return {
        "roman_wfi_0001.imap": ("shiftdesk demo", base),
        "roman_wfi_0002.imap": ("roman_wfi_0001.imap", second),
        "roman_wfi_0003.imap": ("roman_wfi_0002.imap", third),
    }


def mapping_texts() -> dict[str, str]:
    """Every demo mapping's name → text, with its sha1sum written."""
    from shiftdesk.catalog.mappings import with_checksum

    texts: dict[str, str] = {}
    refs = _references()
    for name, chosen in refs.items():
        serial = int(name.rsplit("_", 1)[1].split(".")[0])
        parent = (
            name.replace(f"_{serial:04d}", f"_{serial - 1:04d}") if serial > 1 else "shiftdesk demo"
        )
        texts[name] = _rmap_text(name, parent, chosen)
    for name, (parent, children) in _imaps().items():
        texts[name] = _context_text(name, "INSTRUMENT", parent, children)
    for i, (name, _when, _why) in enumerate(CONTEXTS, start=1):
        parent = f"roman_{i - 1:04d}.pmap" if i > 1 else "shiftdesk demo"
        texts[name] = _context_text(name, "PIPELINE", parent, {"WFI": f"roman_wfi_{i:04d}.imap"})
    return {name: with_checksum(text) for name, text in texts.items()}


def write_reference(path: Path, ref_header: dict[str, Any], seed: int) -> None:
    """A small ASDF reference file with ``roman.meta`` and an 8×8 array."""
    import asdf

    rng = np.random.default_rng(seed)
    tree = {"roman": {"meta": ref_header, "data": rng.normal(1.0, 0.01, (8, 8)).astype("f4")}}
    temporary = path.with_name(f".{path.name}.tmp")
    asdf.AsdfFile(tree).write_to(temporary, include_block_index=False)
    temporary.replace(path)


def reference_headers() -> dict[str, dict[str, Any]]:
    """Every demo reference's name → its ``roman.meta`` tree."""
    out: dict[str, dict[str, Any]] = {}
    for refs in _references().values():
        for r in refs:
            instrument: dict[str, Any] = {"name": "WFI", "detector": r.detector}
            meta: dict[str, Any] = {
                "reftype": r.reftype,
                "useafter": r.useafter.replace(" ", "T"),
                "pedigree": "DUMMY",
                "author": "shiftdesk demo",
                "description": r.description,
                "instrument": instrument,
            }
            if r.reftype in ("FLAT", "DISTORTION"):
                instrument["optical_element"] = r.match
            if r.reftype == "DARK":
                meta["exposure"] = {"type": r.match}
            out[r.name] = meta
    return out


def write_demo_files(folder: str | Path) -> list[Path]:
    """Write the demo's mappings and references into ``folder`` (made if missing).

    Returns
    -------
    list of Path
        Every file written, mappings first.
    """
    where = Path(folder)
    where.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in mapping_texts().items():
        path = where / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for i, (name, meta) in enumerate(sorted(reference_headers().items())):
        path = where / name
        write_reference(path, meta, seed=i)
        written.append(path)
    return written


def demo_headers() -> Iterable[dict[str, Any]]:
    """Exposure headers to try best references with (one per detector and filter)."""
    for det in DETECTORS:
        for elem in FILTERS:
            yield {
                "ROMAN.META.INSTRUMENT.NAME": "WFI",
                _DETECTOR: det,
                "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT": elem,
                "ROMAN.META.EXPOSURE.TYPE": "WFI_GRISM" if elem == "GRISM" else "WFI_IMAGE",
                _START: "2025-08-01T00:00:00",
            }


def seed_demo(database: Database, identity: Identity) -> str:
    """Make the demo catalog (once): its files, the three contexts and their history."""
    import tempfile
    from datetime import datetime

    from shiftdesk.catalog.catalog import Catalog
    from shiftdesk.errors import NotFound

    try:
        cat = Catalog.open(OBSERVATORY, database=database, identity=identity)
        return f"catalog {OBSERVATORY!r} ({len(cat)} files)"
    except NotFound:
        pass
    cat = Catalog.create(OBSERVATORY, database=database, identity=identity)
    with tempfile.TemporaryDirectory(prefix="shiftdesk-catalog-demo-") as tmp:
        cat.add_files(write_demo_files(tmp), why="shiftdesk demo catalog")
    for name, when, why in CONTEXTS:
        if when is None:
            cat.set_context("edit", name, why=why)
        else:
            # as text: through a hub's gate only plain values travel
            at = datetime.fromisoformat(when).replace(tzinfo=UTC).isoformat()
            cat.set_context("latest", name, why=why, when=at)
            cat.set_context("edit", name, why=why, when=at)
    return f"catalog {OBSERVATORY!r} ({len(cat)} files, latest {cat.context('latest')})"
