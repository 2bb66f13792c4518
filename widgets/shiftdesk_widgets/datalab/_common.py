"""Pieces the data-session panels share: feedback lines, state badges, the page's style.

Feedback shows beside the control the user acted on, in the page's words: an error is the
core's message without its exception class (:func:`~shiftdesk_widgets._text.plain_error`).
"""

from __future__ import annotations

import asyncio
import html
from datetime import date, datetime
from enum import Enum
from typing import Any

from shiftdesk_widgets._feedback import COLORS as COLORS
from shiftdesk_widgets._feedback import Feedback as _Feedback
from shiftdesk_widgets._feedback import attr as attr
from shiftdesk_widgets._feedback import classed as classed
from shiftdesk_widgets._feedback import error_text as error_text
from shiftdesk_widgets._feedback import message_html as message_html

#: Operation states that will not change any more.
FINAL = frozenset({"done", "completed", "failed", "cancelled", "canceled", "error"})
#: Badge colours of an operation's state (background, text).
STATE_COLORS = {
    "queued": ("#eceff1", "#37474f"),
    "pending": ("#eceff1", "#37474f"),
    "running": ("#e3f2fd", "#0d47a1"),
    "done": ("#e8f5e9", "#1b5e20"),
    "completed": ("#e8f5e9", "#1b5e20"),
    "failed": ("#fde7e9", "#b00020"),
    "error": ("#fde7e9", "#b00020"),
    "cancelled": ("#fff3e0", "#a84300"),
    "canceled": ("#fff3e0", "#a84300"),
}

#: The page's style: every data-session class starts with ``sd-dl-``.
STYLE = """<style>
.sd-dl-view {gap: 6px;}
.sd-dl-view .widget-html-content {line-height: 1.4;}
.sd-dl-titlebar {align-items: baseline; gap: 12px; flex-wrap: wrap;}
.sd-dl-titlebar h2 {margin: 4px 0;}
.sd-dl-live {color: #2e7d32; font-size: 12px;}
.sd-dl-live.sd-dl-stale {color: #b00020;}
.sd-dl-row {align-items: center; flex-wrap: wrap; gap: 4px 8px;}
.sd-dl-feedback {min-width: 0;}
.sd-dl-row > .sd-dl-feedback {flex: 1 1 220px;}
.sd-dl-feedback .sd-message {white-space: normal; overflow-wrap: anywhere; line-height: 1.35;}
.sd-dl-muted {color: #78909c;}
.sd-dl-section {margin: 8px 0 2px 0; font-weight: 600; color: #37474f;}
.sd-dl-badge {display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
  white-space: nowrap;}
.sd-dl-mono {font-family: monospace;}
.sd-dl-cards {flex-wrap: wrap; gap: 8px; align-items: flex-start;}
.sd-dl-card {border: 1px solid #cfd8dc; border-radius: 6px; padding: 4px; width: 148px;
  background: #fafbfc; gap: 2px; align-items: center;}
.sd-dl-card.sd-dl-picked {border-color: #1565c0; box-shadow: 0 0 0 1px #1565c0;}
.sd-dl-card-bar {gap: 4px;}
.sd-dl-card .sd-dl-caption {font-size: 11.5px; line-height: 1.3; width: 138px;}
.sd-dl-caption .sd-dl-name {font-family: monospace; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap;}
.sd-dl-caption .sd-dl-meta {color: #546e7a; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap;}
.sd-dl-thumb {background: #263238;}
.sd-dl-thumb img {object-fit: contain;}
table.sd-dl-table {border-collapse: collapse; font-size: 13px; width: 100%;}
table.sd-dl-table th {text-align: left; background: #eceff1; padding: 3px 8px;}
table.sd-dl-table td {padding: 2px 8px; border-bottom: 1px solid #eceff1; vertical-align: top;
  overflow-wrap: anywhere;}
.sd-dl-scroll {max-height: 420px; overflow-y: auto;}
.sd-dl-header {font-family: monospace; font-size: 12px; white-space: pre; overflow: auto;
  max-height: 360px; background: #fafafa; border: 1px solid #eceff1; padding: 4px 6px;}
.sd-dl-field {gap: 0; margin: 2px 0 6px 0;}
.sd-dl-field-label {font-weight: 600; font-size: 13px; color: #37474f;}
.sd-dl-field-hint {font-size: 12px; color: #607d8b; line-height: 1.3;}
.sd-dl-field-error {font-size: 12.5px; color: #b00020; line-height: 1.3;}
.sd-dl-field.sd-dl-invalid .widget-text input, .sd-dl-field.sd-dl-invalid select {
  border-color: #b00020;}
.sd-dl-oprow {align-items: center; gap: 4px 10px; flex-wrap: wrap; padding: 2px 0;
  border-bottom: 1px solid #eceff1;}
.sd-dl-oprow .sd-dl-optitle {flex: 0 1 260px; min-width: 160px;}
.sd-dl-oprow .sd-dl-opstate {flex: 1 1 240px; min-width: 0;}
.sd-dl-opstate .sd-dl-msg {overflow-wrap: anywhere; font-size: 12.5px;}
.sd-dl-chain svg {max-width: 100%; height: auto;}
.sd-dl-readout {font-family: monospace; font-size: 12.5px; min-height: 3.2em;}
.sd-dl-side {min-width: 0; gap: 4px;}
.sd-dl-row.sd-dl-viewer-body {align-items: flex-start;}
</style>"""


def loop_running() -> bool:
    """Whether this thread runs an event loop (a kernel does; plain scripts and tests not)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def state_name(status: Any) -> str:
    """An operation's status as a lower-case word (enums by their value)."""
    if isinstance(status, Enum):
        status = status.value
    return str(status or "").strip().lower() or "queued"


def state_badge(status: Any, cached: bool = False) -> str:
    """A coloured badge of an operation's state (``cached`` adds a second badge)."""
    name = state_name(status)
    bg, fg = STATE_COLORS.get(name, ("#eceff1", "#37474f"))
    out = (
        f"<span class='sd-dl-badge sd-dl-state-{html.escape(name)}' "
        f"style='background:{bg};color:{fg}'>{html.escape(name)}</span>"
    )
    if cached:
        out += (
            " <span class='sd-dl-badge sd-dl-cached' style='background:#ede7f6;color:#4527a0' "
            "title='an identical earlier request: its stored result was served'>cached</span>"
        )
    return out


def when_text(value: Any) -> str:
    """A date or time for the page (minutes; ``""`` when unknown)."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    text = str(value)
    # FITS DATE-OBS: 2026-03-01T02:13:45.123 -> minutes
    if len(text) >= 16 and text[10] == "T":
        return f"{text[:10]} {text[11:16]}"
    return text


def table_html(header: tuple[str, ...], rows: list[tuple[Any, ...]], *, raw: tuple[int, ...] = (),
               empty: str = "nothing to show") -> str:  # fmt: skip
    """An HTML table; columns in ``raw`` are HTML already."""
    if not rows:
        return f"<div class='sd-dl-muted'>{html.escape(empty)}</div>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{v if i in raw else html.escape('' if v is None else str(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table class='sd-dl-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Feedback(_Feedback):
    """The line beside a control that says what came of the user's action."""

    css = "sd-dl-feedback"
