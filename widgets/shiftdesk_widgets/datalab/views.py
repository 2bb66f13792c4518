"""Which view shows a data session and an operation (``obj.widget()``).

The data-session domain names this module as its views (``shiftdesk.datalab.domain``),
so it is imported when a session or an operation first asks for its widget.
"""

from __future__ import annotations

from typing import Any

from shiftdesk.datalab.session import DataSession, SessionOperation
from shiftdesk_widgets.datalab.dashboard import DatalabView, OperationView
from shiftdesk_widgets.registry import register_view


@register_view(DataSession)
def session_view(session: DataSession, **kwargs: Any) -> DatalabView:
    """A data session opens in the dashboard."""
    return DatalabView(session, **kwargs)


@register_view(SessionOperation)
def operation_view(handle: SessionOperation, **kwargs: Any) -> OperationView:
    """An operation shows its progress, then its outputs."""
    return OperationView(handle, **kwargs)
