"""What a panel says beside the control the user acted on: one line, in the page's words.

Shared by the dashboards' panels: :class:`Feedback` (the line), :func:`error_text` (a
refused or failed call in the core's own words, without exception class names),
:func:`message_html`, :func:`classed` and :func:`attr`.
"""

from __future__ import annotations

import html
from typing import Any, ClassVar

import ipywidgets as w

from shiftdesk_widgets._text import plain_error

#: colour of each kind of message
COLORS = {"info": "#1b5e20", "warning": "#a15c00", "error": "#b00020", "busy": "#37474f"}


def classed(widget: Any, *classes: str) -> Any:
    """Add CSS classes to ``widget`` and return it (for building layouts inline)."""
    for css in classes:
        widget.add_class(css)
    return widget


def message_html(kind: str, text: str) -> str:
    """One message line (``kind``: info, warning, error or busy)."""
    color = COLORS.get(kind, "#333")
    return (
        f"<div class='sd-message sd-message-{kind}' style='color:{color}'>{html.escape(text)}</div>"
    )


def error_text(exc: BaseException) -> str:
    """What a user reads for a refused or failed call: the core's own words.

    An error naming a form field (``.field`` and ``.reason``, as operation inputs do)
    reads ``"field: reason"``.
    """
    reason = getattr(exc, "reason", None)
    field = getattr(exc, "field", None)
    if isinstance(reason, str) and reason:
        return plain_error(f"{field}: {reason}" if field else reason)
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return plain_error(str(exc.args[0]))
    return plain_error(str(exc) or type(exc).__name__)


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``obj[name]`` (rows may be objects, dicts or named tuples)."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    try:
        return getattr(obj, name, default)
    except Exception:  # a property that reads the database may fail; the page goes on
        return default


class Feedback(w.HTML):
    """The line beside a control that says what came of the user's action.

    ``kind`` and ``text`` keep the last message (the tests read them); a dashboard's
    subclass names its CSS class in :attr:`css`.
    """

    css: ClassVar[str] = "sd-feedback"

    def __init__(self) -> None:
        super().__init__(layout=w.Layout(width="auto", min_width="0"))
        self.kind = ""
        self.text = ""
        self.add_class(self.css)

    def say(self, kind: str, text: str) -> None:
        """Show one message."""
        self.kind, self.text = kind, text
        self.value = message_html(kind, text)

    def error(self, exc: BaseException, doing: str = "") -> None:
        """Show a refused or failed call (``doing``: what was tried, e.g. "not marked bad")."""
        reason = error_text(exc)
        self.say("error", f"{doing}: {reason}" if doing else reason)

    def clear(self) -> None:
        """Show nothing."""
        self.kind, self.text = "", ""
        self.value = ""
