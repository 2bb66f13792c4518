"""The reference-file catalog dashboard (:class:`~shiftdesk_widgets.catalog.view.CatalogView`).

Panels take plain data and callbacks, so each is usable (and testable) alone:
:mod:`~.browse` (filters and a page of files), :mod:`~.detail` (one file),
:mod:`~.bestrefs`, :mod:`~.contexts` (pointers, history, diffs), :mod:`~.markbad`,
:mod:`~.submit` (the submission wizard) and :mod:`~.audit` (locks, audit trail).
The view module is imported on first use (it imports the catalog core).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CatalogFileView", "CatalogView"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from shiftdesk_widgets.catalog import view

        return getattr(view, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
