"""CRDS-style file names: ``<obs>[_<instrument>[_<filekind>]]_<serial>.<ext>``.

Examples: ``roman_0005.pmap``, ``roman_wfi_0004.imap``, ``roman_wfi_flat_0004.rmap``,
``roman_wfi_flat_0004.asdf``. The *series* of a name is the name without its serial
(``roman_wfi_flat.rmap``): every version of one rules file shares it, and the catalog's
counters are kept per series.
"""

from __future__ import annotations

import re

__all__ = ["is_mapping", "make_name", "mapping_kind", "parse_name", "serial", "series"]

_MAPPING_KINDS = {".pmap": "pipeline", ".imap": "instrument", ".rmap": "reference"}
# the serial is the last _<digits> before the extension (the extension may be compound,
# e.g. .tar.gz, but CRDS names have one dot)
_SERIAL = re.compile(r"^(?P<stem>.*?)_(?P<serial>\d+)(?P<ext>\.[^.]+)$")


def _ext(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def is_mapping(name: str) -> bool:
    """True for ``.pmap``, ``.imap`` and ``.rmap`` names."""
    return _ext(name) in _MAPPING_KINDS


def mapping_kind(name: str) -> str | None:
    """``"pipeline"``, ``"instrument"``, ``"reference"`` for mapping names, else None."""
    return _MAPPING_KINDS.get(_ext(name))


def serial(name: str) -> int | None:
    """The trailing ``_NNNN`` serial of a name (``roman_wfi_flat_0004.rmap`` -> 4), or None."""
    match = _SERIAL.match(name)
    return int(match["serial"]) if match else None


def series(name: str) -> str:
    """The name with its serial removed: ``roman_wfi_flat_0004.rmap`` -> ``roman_wfi_flat.rmap``.

    A name without a serial is its own series.
    """
    match = _SERIAL.match(name)
    return f"{match['stem']}{match['ext']}" if match else name


def make_name(observatory: str, instrument: str, filekind: str, serial: int, ext: str) -> str:
    """A CRDS-style name, lower-case, serial zero-padded to at least 4 digits.

    ``make_name("roman", "WFI", "FLAT", 5, "rmap")`` -> ``"roman_wfi_flat_0005.rmap"``;
    an empty instrument or filekind is left out (pmaps, imaps).
    """
    if serial < 0:
        raise ValueError(f"serial must be >= 0, not {serial}")
    parts = [p.lower() for p in (observatory, instrument, filekind) if p]
    ext = ext if ext.startswith(".") else "." + ext
    return "_".join(parts) + f"_{serial:04d}" + ext.lower()


def parse_name(name: str) -> tuple[str, str, str, int | None, str]:
    """Best-effort split of a CRDS-style name into
    ``(observatory, instrument, filekind, serial, ext)``.

    Lower-case parts as written; ``""`` where absent; serial None when there is none.
    The extension has its dot (``".rmap"``). ``roman_wfi_flat_0004.rmap`` ->
    ``("roman", "wfi", "flat", 4, ".rmap")``. A filekind with underscores
    (``jwst_nircam_drizpars_0001.rmap``) keeps them: everything between the instrument
    and the serial is the filekind.
    """
    ext = _ext(name)
    stem = name[: len(name) - len(ext)] if ext else name
    number: int | None = None
    match = re.match(r"^(.*)_(\d+)$", stem)
    if match:
        stem, number = match[1], int(match[2])
    parts = stem.split("_")
    observatory = parts[0] if parts else ""
    instrument = parts[1] if len(parts) > 1 else ""
    filekind = "_".join(parts[2:]) if len(parts) > 2 else ""
    return observatory, instrument, filekind, number, ext
