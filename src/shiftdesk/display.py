"""Static notebook representations shared by every domain object.

Like xarray, each ``_repr_html_`` carries a plain-text fallback that untrusted or
CSS-less renderers show, and a rich block that the embedded CSS reveals. No
JavaScript, threads or network calls happen in a repr.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

_CSS = """
<style>
.sd-wrap .sd-text-fallback {display: none;}
.sd-wrap .sd-rich {display: block !important; font-size: 13px;}
.sd-rich .sd-kind {color: var(--jp-ui-font-color2, #666); margin-right: .4em;}
.sd-rich table.sd-table {border-collapse: collapse; margin-top: .3em;}
.sd-rich table.sd-table th, .sd-rich table.sd-table td {
  padding: 1px 8px; text-align: left; border-bottom: 1px solid #ddd;}
.sd-rich .sd-warn {color: #a15c00;}
.sd-rich .sd-bad {color: #b00020;}
.sd-rich .sd-ok {color: #1b7a1b;}
</style>
"""


def escape(value: object) -> str:
    """HTML-escape ``str(value)``."""
    return html.escape(str(value))


def table(rows: Iterable[Sequence[object]], header: Sequence[str] | None = None) -> str:
    """An HTML table; every cell is escaped unless it is a :class:`Markup`."""
    head = ""
    if header:
        head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='sd-table'>{head}{body}</table>"


class Markup(str):
    """A string that is already safe HTML."""


def _cell(value: object) -> str:
    return str(value) if isinstance(value, Markup) else escape(value)


def html_repr(kind: str, title: str, text: str, body: str = "") -> str:
    """Wrap a rich body and its text fallback the way every shiftdesk object shows itself."""
    return (
        f"{_CSS}<div class='sd-wrap'>"
        f"<pre class='sd-text-fallback'>{escape(text)}</pre>"
        f"<div class='sd-rich' style='display:none'>"
        f"<span class='sd-kind'>{escape(kind)}</span><b>{escape(title)}</b>{body}</div></div>"
    )
