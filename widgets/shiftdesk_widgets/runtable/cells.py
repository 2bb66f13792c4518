"""What one run-table cell is and how it is drawn: plain data in, HTML out.

The grid draws every cell from a :class:`Column` (title, units, description, type) and a
:class:`Cell` (value and display attributes: bold, background, error or skip reason,
provenance). Nothing here knows the core: the run table's view turns the core's records
into these, and tests build them by hand.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

#: User-variable types and what an edit of each must parse as.
USER_TYPES = ("boolean", "integer", "number", "string")
#: Error classes shown as "skipped" (grey, reason on hover) rather than as errors.
SKIP_CLASSES = frozenset({"Skip", "SourceNameError"})
#: Processing states a row can be in, and how each is drawn (symbol, CSS class).
STATES = {
    "queued": ("⋯", "sd-rt-queued"),
    "running": ("⚙", "sd-rt-running"),
    "done": ("✓", "sd-rt-done"),
    "failed": ("✗", "sd-rt-failed"),
    "cancelled": ("⊘", "sd-rt-failed"),
}
#: Placeholders ``RunTable.table()`` puts where a cell holds a blob.
PLACEHOLDERS = frozenset({"<thumbnail>", "<sparkline>", "<ndarray>", "<image>"})

ROW_HEIGHT = 34
SPARK_W, SPARK_H = 84, 24
THUMB_H = 30


@dataclass(frozen=True)
class Column:
    """One column of the run table.

    Parameters
    ----------
    name : str
        The variable's name (``comment`` and ``start_time`` are columns too).
    title : str
        What the header shows (default: the name).
    description : str
        The header's tooltip.
    units : str
        Shown in the header after the title.
    tags : tuple of str
        Groups the column belongs to (to pick columns by tag).
    type : str or None
        None for a computed variable; ``boolean``, ``integer``, ``number`` or ``string``
        for a user variable, which is editable.
    """

    name: str
    title: str = ""
    description: str = ""
    units: str = ""
    tags: tuple[str, ...] = ()
    type: str | None = None

    @property
    def label(self) -> str:
        """Title and units, as the header shows them."""
        title = self.title or self.name
        return f"{title} [{self.units}]" if self.units else title

    @property
    def editable(self) -> bool:
        """A user variable (or the comment): typed into by people."""
        return self.type is not None

    @classmethod
    def from_info(cls, name: str, info: Any) -> Column:
        """A column from a mapping or an object with the same field names."""
        if isinstance(info, Column):
            return info

        def get(key: str, default: Any) -> Any:
            if isinstance(info, Mapping):
                value = info.get(key, default)
            else:
                value = getattr(info, key, default)
            return default if value is None and default is not None else value

        tags = get("tags", ())
        if isinstance(tags, str):
            tags = (tags,)
        return cls(
            name=name,
            title=str(get("title", "") or ""),
            description=str(get("description", "") or ""),
            units=str(get("units", "") or ""),
            tags=tuple(str(t) for t in tags or ()),
            type=get("type", None),
        )


@dataclass
class Cell:
    """One cell's value and display attributes.

    Parameters
    ----------
    value : object
        A number, a string, PNG bytes (a thumbnail), a 2×N array (a sparkline: x then y)
        or None.
    bold : bool
        The value changed during the run.
    background : str or sequence of int, optional
        ``"#rrggbb"`` or an RGB triple.
    error : str, optional
        Why the cell has no value.
    error_cls : str, optional
        The error's class; ``Skip`` (and missing-data errors) show as skipped.
    provenance : str, optional
        Who submitted the value when not the context file (``"cryostat"``).
    who, at : optional
        Who wrote the value and when (shown on hover).
    units : str, optional
        The cell's own units when they differ from the column's.
    """

    value: Any = None
    bold: bool = False
    background: Any = None
    error: str | None = None
    error_cls: str | None = None
    provenance: str | None = None
    who: str | None = None
    at: Any = None
    units: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        """An intentional skip (or missing data), not a failure of the code."""
        return self.error is not None and (self.error_cls or "") in SKIP_CLASSES


@dataclass(frozen=True)
class RowState:
    """A run's processing state (``queued``, ``running``, ``done``, ``failed``)."""

    status: str = ""
    message: str = ""
    job: str | None = None


def is_missing(value: Any) -> bool:
    """None, NaN, NaT, ``pd.NA`` and empty text count as no value."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (bytes, bytearray, memoryview, np.ndarray)):
        return False
    try:
        return bool(pd.api.types.is_scalar(value) and pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_number(value: Any) -> str:
    """A number as a shift operator reads it: 4 significant digits, whole numbers whole."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    if number != 0 and (abs(number) >= 1e5 or abs(number) < 1e-3):
        return f"{number:.3e}"
    return f"{number:.4g}"


def _color(background: Any) -> str | None:
    if background is None:
        return None
    if isinstance(background, str):
        return background if background.startswith("#") or background.isalpha() else None
    try:
        r, g, b = (int(c) for c in list(background)[:3])
    except (TypeError, ValueError):
        return None
    return f"rgb({r},{g},{b})"


def sparkline_svg(data: Any) -> str:
    """A 2×N (x, y) or 1-D array as a small inline SVG line."""
    arr = np.asarray(data, dtype=float)
    if arr.ndim == 1:
        x, y = np.arange(arr.size, dtype=float), arr
    elif arr.ndim == 2 and arr.shape[0] == 2:
        x, y = arr[0], arr[1]
    else:
        return html.escape(f"{arr.dtype}: {arr.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size == 0:
        return "<span class='sd-rt-muted'>no data</span>"
    x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
    sx = (SPARK_W - 2) / (x1 - x0) if x1 > x0 else 0.0
    sy = (SPARK_H - 4) / (y1 - y0) if y1 > y0 else 0.0
    px = 1 + (x - x0) * sx
    py = SPARK_H - 2 - (y - y0) * sy
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
    return (
        f"<svg class='sd-rt-spark' width='{SPARK_W}' height='{SPARK_H}' "
        f"viewBox='0 0 {SPARK_W} {SPARK_H}'><polyline points='{pts}' fill='none' "
        "stroke='#1f77b4' stroke-width='1.3'/></svg>"
    )


def thumbnail_html(png: bytes) -> str:
    """PNG bytes as a small image (larger on hover)."""
    data = base64.b64encode(bytes(png)).decode()
    return f"<img class='sd-rt-thumb' src='data:image/png;base64,{data}' alt='thumbnail'>"


def _is_png(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview)) and bytes(value[:8]) == (
        b"\x89PNG\r\n\x1a\n"
    )


def value_html(value: Any) -> tuple[str, str]:
    """The cell's content and its kind (number, text, thumbnail, sparkline, time, empty)."""
    if is_missing(value):
        return "", "empty"
    if _is_png(value):
        return thumbnail_html(value), "thumbnail"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return value_html(value.item())
        return sparkline_svg(value), "sparkline"
    if isinstance(value, (numbers.Number, np.number, np.bool_)) and not isinstance(value, complex):
        return html.escape(format_number(value)), "number"
    if isinstance(value, datetime):
        return html.escape(f"{value:%Y-%m-%d %H:%M}"), "time"
    if hasattr(value, "strftime"):
        return html.escape(value.strftime("%Y-%m-%d %H:%M")), "time"
    text = str(value)
    if text in PLACEHOLDERS:
        return f"<span class='sd-rt-muted'>{html.escape(text)}</span>", "text"
    return html.escape(text), "text"


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def cell_html(value: Any, cell: Cell | None, width: int, column: Column | None = None) -> str:
    """One cell as a fixed-width ``div`` (value, markers, hover text)."""
    if cell is not None and cell.value is not None:
        value = cell.value
    classes = ["sd-rt-cell"]
    style = [f"width:{width}px"]
    hover: list[str] = []
    if cell is not None and cell.error is not None:
        if cell.skipped:
            classes.append("sd-rt-skipped")
            body = "skipped"
            hover.append(f"skipped: {cell.error}")
        else:
            classes.append("sd-rt-error")
            body = "⚠ error"
            kind = f"{cell.error_cls}: " if cell.error_cls else ""
            hover.append(f"{kind}{cell.error}")
        content = f"<span class='sd-rt-reason'>{html.escape(body)}</span>"
    else:
        content, kind = value_html(value)
        classes.append(f"sd-rt-{kind}")
        if kind == "text" and content:
            hover.append(str(value))
    if cell is not None:
        if cell.bold:
            classes.append("sd-rt-bold")
            hover.append("changed during the run")
        color = _color(cell.background)
        if color:
            style.append(f"background:{color}")
        units = cell.units
        if units and (column is None or units != column.units):
            content += f" <small>{html.escape(units)}</small>"
        if cell.provenance:
            classes.append("sd-rt-submitted")
            by = f" by {cell.who}" if cell.who else ""
            at = f" at {cell.at:%Y-%m-%d %H:%M}" if hasattr(cell.at, "strftime") else ""
            hover.append(f"submitted by {cell.provenance}{by}{at}")
            content = f"<span class='sd-rt-prov'></span>{content}"
        elif cell.who and column is not None and column.editable:
            at = f" at {cell.at:%Y-%m-%d %H:%M}" if hasattr(cell.at, "strftime") else ""
            hover.append(f"set by {cell.who}{at}")
    title = f" title='{_attr(chr(10).join(hover))}'" if hover else ""
    return f"<div class='{' '.join(classes)}' style='{';'.join(style)}'{title}>{content}</div>"


def state_html(state: RowState | None, width: int) -> str:
    """The processing-state cell of a row (message and job on hover)."""
    if state is None or not state.status:
        return f"<div class='sd-rt-cell sd-rt-state' style='width:{width}px'></div>"
    symbol, css = STATES.get(state.status, ("", ""))
    hover = state.status + (f": {state.message}" if state.message else "")
    if state.job:
        hover += f"\njob {state.job}"
    return (
        f"<div class='sd-rt-cell sd-rt-state {css}' style='width:{width}px' "
        f"title='{_attr(hover)}'>{symbol} {html.escape(state.status)}</div>"
    )


def header_html(column: Column, width: int, *, sort: str = "", filtered: bool = False) -> str:
    """One header cell: title and units, description on hover, sort and filter marks."""
    hover = column.description or column.label
    if column.editable:
        hover += f"\n(editable: {column.type})"
    if column.tags:
        hover += "\ntags: " + ", ".join(column.tags)
    marks = ""
    if sort:
        marks += f" <span class='sd-rt-sortmark'>{'▼' if sort == 'desc' else '▲'}</span>"
    if filtered:
        marks += " <span class='sd-rt-filtermark' title='filtered'>⧩</span>"
    edit = " sd-rt-head-edit" if column.editable else ""
    return (
        f"<div class='sd-rt-cell sd-rt-head{edit}' style='width:{width}px' "
        f"title='{_attr(hover)}'>{html.escape(column.label)}{marks}</div>"
    )


def column_width(column: Column, kind: str = "") -> int:
    """A column's width in pixels, from its name, type and content kind."""
    if column.name == "comment":
        return 240
    if column.name == "start_time":
        return 136
    if column.type == "string":
        return 160
    if column.type is not None:
        return 110
    if kind == "sparkline":
        return SPARK_W + 14
    if kind == "thumbnail":
        return 90
    width = 8 + 7 * len(column.label)
    return max(84, min(width, 170))


def parse_user_value(text: str, type_: str) -> Any:
    """A typed value from what was typed (empty text removes the value).

    Raises
    ------
    ValueError
        The text is not of the column's type; the message says so.
    """
    text = text.strip()
    if text == "":
        return None
    if type_ == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"not a whole number: {text!r}") from None
    if type_ == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"not a number: {text!r}") from None
    if type_ == "boolean":
        lowered = text.lower()
        if lowered in ("yes", "true", "1", "y"):
            return True
        if lowered in ("no", "false", "0", "n"):
            return False
        raise ValueError(f"not yes or no: {text!r}")
    return text


def shown_text(value: Any, type_: str | None) -> str:
    """A stored user value as it shows in its input."""
    if is_missing(value):
        return ""
    if type_ == "boolean" or isinstance(value, (bool, np.bool_)):
        return "yes" if bool(value) else "no"
    if isinstance(value, (numbers.Real, np.integer, np.floating)):
        # a typed number shows in full (4 significant digits would change it when saved)
        return format_number(value) if type_ != "number" else repr(float(value))
    return str(value)


STYLE = """<style>
.sd-rt-table {font-size: 13px; font-family: var(--jp-ui-font-family, sans-serif);}
.sd-rt-scroll {overflow: auto; max-height: 72vh; border: 1px solid #c8c8c8;}
.sd-rt-scroll > .widget-vbox, .sd-rt-scroll .sd-rt-row {width: max-content;}
/* ipywidgets' boxes scroll (overflow: auto): between the rows and .sd-rt-scroll each one
   became the sticky lead's scroll container, and the lead scrolled away with the row */
.sd-rt-scroll > .widget-vbox {overflow: visible !important;}
.sd-rt-scroll > .sd-rt-headrow {width: max-content; min-width: 100%;
  overflow: visible !important;}
.sd-rt-row, .sd-rt-headrow {gap: 0; margin: 0 !important; flex-wrap: nowrap;}
.sd-rt-row > *, .sd-rt-headrow > * {margin: 0 !important; flex: none;}
.sd-rt-row {border-bottom: 1px solid #e4e4e4; height: 34px !important; min-height: 34px;
  align-items: center; overflow: visible !important;}
.sd-rt-lead {position: sticky; left: 0; z-index: 2; background: inherit; gap: 0;
  align-items: center;}
.sd-rt-lead > * {margin: 0 !important; flex: none;}
.sd-rt-row .sd-rt-lead {background: #fff;}
.sd-rt-row > .sd-rt-lead-select {height: 100%; align-items: center;}
.sd-rt-row > .sd-rt-lead-run {left: 26px;}
.sd-rt-row > .sd-rt-edit, .sd-rt-row > .sd-rt-editmark {line-height: normal;}
.sd-rt-row > .sd-rt-editmark {height: var(--jp-widgets-inline-height, 28px);}
.sd-rt-row.sd-rt-unused {display: none !important;}
.sd-rt-row.sd-rt-selected .sd-rt-lead {background: #e3effc;}
.sd-rt-row:nth-child(even) {background: #fafafa;}
.sd-rt-row.sd-rt-selected {background: #e3effc;}
.sd-rt-headrow {position: sticky; top: 0; z-index: 3; background: #eef1f5;
  border-bottom: 2px solid #b8c0cc; align-items: stretch;}
.sd-rt-seg {display: flex; line-height: normal; overflow: visible !important; gap: 0;}
.sd-rt-seg > * {margin: 0 !important; flex: none;}
.sd-rt-seg .widget-text, .sd-rt-seg .widget-dropdown {margin: 0 !important;}
.sd-rt-seg > .widget-html-content {display: flex; align-items: center; height: 100%;}
.sd-rt-cell {box-sizing: border-box; flex: none; overflow: hidden; white-space: nowrap;
  text-overflow: ellipsis; padding: 0 6px; height: 33px; line-height: 33px;
  border-right: 1px solid #ececec; position: relative;}
.sd-rt-head {font-weight: 600; white-space: normal; line-height: 15px; height: auto;
  min-height: 34px; display: flex; align-items: center; padding: 3px 6px; color: #1d2a3a;}
.sd-rt-head-edit {color: #0b5394;}
.sd-rt-number, .sd-rt-time {text-align: right; font-variant-numeric: tabular-nums;}
.sd-rt-bold {font-weight: 700;}
.sd-rt-muted, .sd-rt-empty {color: #999;}
.sd-rt-error {background: #fff3e0; border-left: 4px solid #f57c00; color: #a84300;}
.sd-rt-skipped {background: #f0f0f0; border-left: 4px solid #9e9e9e; color: #707070;
  font-style: italic;}
.sd-rt-prov {position: absolute; top: 0; right: 0; width: 0; height: 0;
  border-top: 8px solid #7b1fa2; border-left: 8px solid transparent;}
.sd-rt-thumb {height: 30px; vertical-align: middle; image-rendering: auto;
  transition: transform .1s;}
.sd-rt-thumbnail {overflow: visible;}
.sd-rt-thumb:hover {transform: scale(5); transform-origin: left top; position: relative;
  z-index: 20; box-shadow: 0 2px 8px rgba(0,0,0,.35); background: white;}
.sd-rt-spark {vertical-align: middle;}
.sd-rt-state {font-weight: 600;}
.sd-rt-queued {color: #6d6d6d;} .sd-rt-running {color: #0b5394;}
.sd-rt-done {color: #2e7d32;} .sd-rt-failed {color: #b00020; background: #fdecea;}
.sd-rt-run {font-weight: 700; text-align: right;}
.sd-rt-edit input, .sd-rt-edit select {height: 28px; font-size: 13px;}
.sd-rt-edit.sd-rt-invalid input {border: 2px solid #b00020; background: #fdecea;}
.sd-rt-editmark {width: 18px; color: #b00020; font-weight: 700; text-align: center;
  overflow: visible !important;}
.sd-rt-editmark .widget-html-content {overflow: visible;}
.sd-rt-refused {position: relative;}
.sd-rt-bubble {position: absolute; right: 0; top: 22px; z-index: 30; background: #b00020;
  color: #fff; padding: 2px 6px; border-radius: 3px; font-size: 12px; font-weight: 400;
  line-height: 18px; white-space: nowrap; box-shadow: 0 1px 4px rgba(0,0,0,.3);}
.sd-rt-message .sd-message-error {color: #b00020;}
.sd-rt-bar {align-items: center; flex-wrap: wrap;}
.sd-rt-pager {align-items: center;}
.sd-rt-sortmark, .sd-rt-filtermark {color: #0b5394;}
.sd-rt-problems li.sd-rt-problem-error {color: #b00020;}
.sd-rt-problems li.sd-rt-problem-warning {color: #a15c00;}
.sd-rt-context textarea {font-family: var(--jp-code-font-family, monospace);
  font-size: 13px; line-height: 1.35;}
.sd-rt-log pre {max-height: 320px; overflow: auto; background: #1e1e1e; color: #e0e0e0;
  padding: 6px; font-size: 12px; line-height: 1.35; margin: 0; white-space: pre-wrap;}
.sd-rt-panel {border: 1px solid #d5d9e0; border-radius: 4px; padding: 6px;
  background: #fbfcfe;}
</style>"""
