"""Headers of exposures and reference files, as the rules read them.

CRDS rules name header keys the way each observatory's files carry them: FITS cards
(``DETECTOR``, ``DATE-OBS``) for HST, and dotted paths into the ASDF tree for Roman
(``ROMAN.META.INSTRUMENT.DETECTOR``) and JWST's data models (``META.INSTRUMENT.NAME``).
:func:`read_header` turns a FITS or ASDF file into that flat dictionary, keys upper-case,
values plain strings and numbers, so that the same header serves a best-references lookup
and a submission's placement of a new reference in its rmap.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from shiftdesk.errors import CatalogError

#: suffixes read as FITS (tile-compressed ``.fits.fz`` too)
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.fz", ".fits.gz")
#: suffixes read as ASDF
ASDF_SUFFIXES = (".asdf",)
#: ASDF tree keys that describe the file, not the data (left out of headers)
_ASDF_BOOKKEEPING = {"asdf_library", "history"}
#: FITS cards that are commentary, not values
_FITS_COMMENTARY = {"", "COMMENT", "HISTORY"}


def is_readable(name: str) -> bool:
    """Whether :func:`read_header` knows the file's format from its name."""
    lower = name.lower()
    return lower.endswith(FITS_SUFFIXES) or lower.endswith(ASDF_SUFFIXES)


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a FITS or ASDF file, flat, keys upper-case.

    Parameters
    ----------
    path : str or path-like
        A FITS file (the primary header, then the first extension's cards that the
        primary lacks) or an ASDF file (every scalar of the tree under dotted, upper-case
        paths, e.g. ``ROMAN.META.EXPOSURE.START_TIME``; arrays are left out and never read).

    Returns
    -------
    dict
        Key to value (str, int, float or bool; times as ISO strings).

    Raises
    ------
    CatalogError
        The file is missing, of another format, or cannot be read as its suffix says.
    """
    where = Path(path)
    if not where.is_file():
        raise CatalogError(f"{where}: no such file: give the path of a FITS or ASDF file")
    lower = where.name.lower()
    try:
        if lower.endswith(ASDF_SUFFIXES):
            return _asdf_header(where)
        if lower.endswith(FITS_SUFFIXES):
            return _fits_header(where)
    except CatalogError:
        raise
    except Exception as exc:  # the libraries' own errors, worded for the user below
        raise CatalogError(
            f"{where.name}: cannot be read as {'ASDF' if lower.endswith('.asdf') else 'FITS'} "
            f"({exc}): check that the file is complete and of the format its name says"
        ) from exc
    raise CatalogError(
        f"{where.name}: not a FITS or ASDF file (the name ends in neither "
        f"{', '.join(FITS_SUFFIXES + ASDF_SUFFIXES)}): headers are read from those only; "
        "type the header's keys instead"
    )


def _asdf_header(path: Path) -> dict[str, Any]:
    import asdf

    # lazy and without memory mapping: only the tree is read, never an array's blocks
    with asdf.open(path, lazy_load=True, memmap=False) as af:
        tree = {k: v for k, v in af.tree.items() if k not in _ASDF_BOOKKEEPING}
        return dict(_flatten(tree, ""))


def _flatten(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            yield from _flatten(value, name)
        return
    value = _plain(node)
    if value is not None:
        yield prefix.upper(), value


def _plain(value: Any) -> Any:
    """A scalar as str/int/float/bool, or None for what a header cannot hold (arrays)."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, _dt.datetime):
        return value.isoformat(sep="T")
    iso = getattr(value, "isot", None)  # astropy Time
    if isinstance(iso, str):
        return iso
    if hasattr(value, "shape") or isinstance(value, list | tuple | bytes):
        return None
    if hasattr(value, "item"):  # numpy scalars
        try:
            return _plain(value.item())
        except (TypeError, ValueError):
            return None
    return None


def _fits_header(path: Path) -> dict[str, Any]:
    from astropy.io import fits

    header: dict[str, Any] = {}
    # our own handle: astropy leaves its own open when a truncated file fails to parse
    with path.open("rb") as handle, fits.open(handle, memmap=False, lazy_load_hdus=True) as hdus:
        for hdu in hdus[:2]:
            for card in hdu.header.cards:
                key = str(card.keyword).upper()
                if key in _FITS_COMMENTARY or key in header:
                    continue
                value = _plain(card.value)
                if value is not None:
                    header[key] = value
    if not header:
        raise CatalogError(f"{path.name}: the FITS file has no header cards")
    return header


def normalize_header(header: Mapping[str, Any]) -> dict[str, Any]:
    """A header typed by hand or read from a file, keys upper-case and stripped.

    Raises
    ------
    CatalogError
        Two keys differ only in case with different values (which one is meant is unclear).
    """
    out: dict[str, Any] = {}
    for key, value in header.items():
        name = str(key).strip().upper()
        if not name:
            continue
        if name in out and out[name] != value:
            raise CatalogError(
                f"header key {name!r} is given twice with different values "
                f"({out[name]!r} and {value!r}): keep one"
            )
        out[name] = value
    return out
