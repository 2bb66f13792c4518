"""The reference-file catalog: rules contexts, best references, bad files, submissions.

What STScI's CRDS server does for HST, JWST and Roman, as Python objects::

    from shiftdesk.catalog import Catalog, CatalogFile
    cat = Catalog.create("roman")            # Catalog.open("roman") later
    cat.add_files(paths)                     # mappings and references (a CRDS cache folder too)
    cat.set_context("latest", "roman_0005.pmap", why="initial import")
    cat.best_references(header)              # {"dark": "roman_wfi_dark_0001.asdf", ...}
    cat.mark_bad(["roman_wfi_flat_0004.rmap"], why="wrong flat")

A pipeline context (.pmap) selects an instrument context (.imap) per instrument, which
selects a reference mapping (.rmap) per reference type, whose Match/UseAfter selector picks
a reference file from an exposure's header. Names load on first use.
"""

from typing import TYPE_CHECKING

from shiftdesk._lazy import lazy_exports

_EXPORTS = {
    "Catalog": "shiftdesk.catalog.catalog",
    "CatalogFile": "shiftdesk.catalog.catalog",
    "Context": "shiftdesk.catalog.selection",
    "Mapping": "shiftdesk.catalog.mappings",
    "parse_mapping": "shiftdesk.catalog.mappings",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = ["Catalog", "CatalogFile", "Context", "Mapping", "parse_mapping"]

if TYPE_CHECKING:
    from shiftdesk.catalog.catalog import Catalog, CatalogFile
    from shiftdesk.catalog.mappings import Mapping, parse_mapping
    from shiftdesk.catalog.selection import Context
