"""Short messages shown where the user acted: beside the button or field they used.

The dashboard's message line at the top is out of sight once the page is scrolled, so a
refused action (Fit with nothing to fit, Save without a title, ...) answers next to its
own control, in the words of the page rather than of the notebook API.
"""

from __future__ import annotations

import html

import ipywidgets as w

from shiftdesk_widgets._text import plain_error

__all__ = ["COLORS", "Note", "message_html", "plain_error"]

#: Text colours of the message kinds (the notebook's CSS is not loaded in Voilà).
COLORS = {"info": "#1b5e20", "warning": "#a15c00", "error": "#b00020"}


def message_html(kind: str, text: str, css: str) -> str:
    """``text`` as one coloured line with the classes ``css`` and ``css-kind``."""
    color = COLORS.get(kind, "#333")
    return f"<div class='{css} {css}-{kind}' style='color:{color}'>{html.escape(text)}</div>"


class Note(w.HTML):
    """One line of feedback beside a control; empty until something is said.

    Parameters
    ----------
    css : str
        Class of the widget (for tests and the page); each message also carries
        ``sd-note`` and ``sd-note-<kind>``.
    """

    def __init__(self, css: str) -> None:
        super().__init__()
        self.add_class("sd-note-box")
        self.add_class(css)
        #: the kind (info, warning, error) and plain text of what is shown, or None / ""
        self.kind: str | None = None
        self.text = ""

    def say(self, kind: str, text: str) -> None:
        """Show ``text`` (kind: info, warning or error)."""
        self.kind, self.text = kind, text
        self.value = message_html(kind, text, "sd-note")

    def clear(self) -> None:
        """Show nothing."""
        self.kind, self.text = None, ""
        if self.value:
            self.value = ""
