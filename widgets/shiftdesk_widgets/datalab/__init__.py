"""The data-session dashboard (:class:`~shiftdesk_widgets.datalab.dashboard.DatalabView`).

Panels take plain data and callbacks, so each is usable (and testable) alone:
:mod:`~.sessions` (my sessions), :mod:`~.gallery` (frames and outputs as thumbnails,
upload), :mod:`~.wizard` (the operation form built from its JSON Schema),
:mod:`~.running` (progress bars), :mod:`~.chain` (the chain of operations),
:mod:`~.viewer` (the image viewer) and :mod:`~.lightcurve` (light curves and
periodograms). The dashboard module is imported on first use (it imports the core).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DatalabView", "OperationView"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from shiftdesk_widgets.datalab import dashboard

        return getattr(dashboard, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
