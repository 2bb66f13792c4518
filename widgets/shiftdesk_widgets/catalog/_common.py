"""Pieces the catalog panels share: feedback lines, small HTML tables, the page's style.

Feedback is shown beside the control the user acted on (each panel owns a
:class:`Feedback` line next to its buttons), in the page's words: an error is the core's
message without its exception class (:func:`~shiftdesk_widgets._text.plain_error`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from shiftdesk_widgets._feedback import COLORS as COLORS
from shiftdesk_widgets._feedback import Feedback as _Feedback
from shiftdesk_widgets._feedback import attr as attr
from shiftdesk_widgets._feedback import classed as classed
from shiftdesk_widgets._feedback import error_text as error_text
from shiftdesk_widgets._feedback import message_html as message_html

#: The page's style: every catalog class starts with ``sd-cat-``.
STYLE = """<style>
.sd-cat-view {gap: 6px;}
.sd-cat-view .widget-html-content, .sd-cat-detail .widget-html-content {line-height: 1.4;}
.sd-cat-nowrap {white-space: nowrap;}
.sd-cat-titlebar {align-items: baseline; gap: 12px; flex-wrap: wrap;}
.sd-cat-titlebar h2 {margin: 4px 0;}
.sd-cat-badge {display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  background: #eceff1; color: #37474f;}
.sd-cat-badge-ro {background: #fff3e0; color: #a84300;}
.sd-cat-badge-bad {background: #fde7e9; color: #b00020;}
.sd-cat-live {color: #2e7d32; font-size: 12px;}
.sd-cat-live.sd-cat-stale {color: #b00020;}
.sd-cat-row {align-items: center; flex-wrap: wrap; gap: 4px 8px;}
.sd-cat-feedback {min-width: 0;}
.sd-cat-row > .sd-cat-feedback {flex: 1 1 240px;}
.sd-cat-feedback .sd-message {white-space: normal; overflow-wrap: anywhere; line-height: 1.35;}
.sd-cat-cards {gap: 8px; flex-wrap: wrap;}
.sd-cat-card {border: 1px solid #cfd8dc; border-radius: 6px; padding: 6px 12px;
  flex: 1 1 320px; min-width: 0; background: #fafbfc;}
.sd-cat-card .sd-cat-card-title {font-size: 12px; color: #546e7a; text-transform: uppercase;
  letter-spacing: .04em;}
.sd-cat-card .sd-cat-card-name {font-size: 17px; font-weight: 600; font-family: monospace;}
.sd-cat-card .sd-cat-card-meta {font-size: 12px; color: #455a64; overflow-wrap: anywhere;}
table.sd-cat-table {border-collapse: collapse; font-size: 13px; width: 100%;}
table.sd-cat-table th {text-align: left; background: #eceff1; padding: 3px 8px;
  position: sticky; top: 0;}
table.sd-cat-table td {padding: 2px 8px; border-bottom: 1px solid #eceff1; vertical-align: top;
  overflow-wrap: anywhere;}
table.sd-cat-table td.sd-cat-mono, .sd-cat-mono {font-family: monospace;}
table.sd-cat-fields th {width: 9em; background: none; position: static; color: #546e7a;
  font-weight: normal;}
.sd-cat-scroll {max-height: 420px; overflow-y: auto;}
.sd-cat-list select {font-family: monospace; font-size: 12.5px;}
.sd-cat-listhead {font-family: monospace; font-size: 12.5px; white-space: pre; color: #546e7a;
  padding-left: 4px; overflow: hidden;}
.sd-cat-diff {font-family: monospace; font-size: 12px; white-space: pre; overflow-x: auto;
  background: #fafafa; border: 1px solid #eceff1; padding: 4px 6px; margin: 2px 0 8px 0;
  max-height: 360px; overflow-y: auto;}
.sd-cat-diff .sd-cat-add {color: #1b5e20; background: #e8f5e9;}
.sd-cat-diff .sd-cat-del {color: #b00020; background: #fde7e9;}
.sd-cat-diff .sd-cat-hunk {color: #6a1b9a;}
.sd-cat-found {color: #1b5e20;}
.sd-cat-notfound {color: #a15c00;}
.sd-cat-bad {color: #b00020; font-weight: 600;}
.sd-cat-muted {color: #78909c;}
.sd-cat-section {margin: 8px 0 2px 0; font-weight: 600; color: #37474f;}
.sd-cat-pane {border-left: 1px solid #eceff1; padding-left: 10px; min-width: 0;}
</style>"""


def when_text(value: Any) -> str:
    """A date or time for the page (UTC minutes; ``""`` when unknown)."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
        return f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"
    except (ValueError, TypeError):
        return str(value)


def cell(value: Any) -> str:
    """One table cell's text, escaped (dates as :func:`when_text`)."""
    if isinstance(value, (datetime, date)):
        return html.escape(when_text(value))
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, (list, tuple, set, frozenset)):
        return html.escape(", ".join(str(v) for v in value))
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (ValueError, TypeError):
        pass
    return html.escape(str(value))


def table_html(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    css: str = "",
    mono: Iterable[int] = (),
    raw: Iterable[int] = (),
    nowrap: Iterable[int] = (),
    empty: str = "nothing to show",
) -> str:
    """An HTML table; columns in ``mono`` are monospaced, those in ``raw`` are HTML already,
    those in ``nowrap`` keep to one line (dates, names: the free text column wraps instead)."""
    mono, raw, nowrap = set(mono), set(raw), set(nowrap)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            text = str(value) if i in raw else cell(value)
            css_names = ["sd-cat-mono"] * (i in mono) + ["sd-cat-nowrap"] * (i in nowrap)
            klass = f" class='{' '.join(css_names)}'" if css_names else ""
            cells.append(f"<td{klass}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return f"<div class='sd-cat-muted'>{html.escape(empty)}</div>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return (
        f"<table class='sd-cat-table {css}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


class Feedback(_Feedback):
    """The line beside a control that says what came of the user's action."""

    css = "sd-cat-feedback"
