"""Browse the catalog: filters, a page of files as a list, and the file picked.

Why a list (``ipywidgets.Select``) of aligned monospaced rows rather than a data grid:
picking a row must tell the kernel which file was picked (an HTML table cannot), and a
page of 100 short rows is all the browser gets at once (the catalog may hold a million).
The columns are padded to fixed character widths under a header line of the same widths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import ipywidgets as w
import pandas as pd
import traitlets

from shiftdesk_widgets.catalog._common import Feedback, classed, when_text
from shiftdesk_widgets.runtable._calls import Caller, run_now

#: Rows per page.
PAGE = 100
#: Any value of a filter.
ANY = "any"
#: Columns of the list: (title, frame column candidates, characters).
COLUMNS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("name", ("name",), 34),
    ("state", ("state",), 12),
    ("instrument", ("instrument",), 10),
    ("type", ("filekind",), 11),
    ("added", ("added", "added_at", "delivery_date"), 10),
    ("bad", ("bad",), 11),
)

#: ``browse(filters, offset, limit)`` → a DataFrame of files (one row per file).
BrowseCall = Callable[[dict[str, Any], int, int], pd.DataFrame]


def _value(row: Mapping[str, Any], candidates: Sequence[str]) -> Any:
    for name in candidates:
        if name in row and row[name] is not None:
            try:
                if pd.isna(row[name]):
                    continue
            except (TypeError, ValueError):
                pass
            return row[name]
    return ""


def bad_word(row: Mapping[str, Any]) -> str:
    """``rejected``, ``blacklisted`` or ``""`` for a row of the browse frame."""
    if bool(_value(row, ("rejected",)) or False):
        return "rejected"
    if bool(_value(row, ("blacklisted",)) or False):
        return "blacklisted"
    return ""


def row_text(row: Mapping[str, Any]) -> str:
    """One file as a line of the list (columns padded to :data:`COLUMNS` widths)."""
    parts = []
    for title, candidates, width in COLUMNS:
        if title == "bad":
            text = bad_word(row)
        elif title == "added":
            text = when_text(_value(row, candidates))[:10]
        else:
            text = str(_value(row, candidates))
        if len(text) > width:
            text = text[: width - 1] + "…"
        parts.append(text.ljust(width))
    return " ".join(parts).rstrip()


def header_text() -> str:
    """The list's header line (same widths as :func:`row_text`)."""
    return " ".join(title.ljust(width) for title, _c, width in COLUMNS).rstrip()


class BrowsePanel(w.VBox):
    """Filters, a page of files, and the file picked (:attr:`selected`).

    Parameters
    ----------
    browse : callable
        ``browse(filters, offset, limit)`` → DataFrame with at least ``name``; filters
        are ``instrument``, ``filekind``, ``state``, ``bad`` (bool), ``search`` (part of
        a name), ``since``/``until`` (dates), each only when set.
    choices : callable
        ``choices()`` → ``{"instrument": [...], "filekind": [...], "state": [...]}``.
    caller : Caller
        How the query runs (the view's background caller; default: at once).
    page : int
        Rows per page.

    Attributes
    ----------
    selected : str
        The picked file's name ("" for none); observe it to follow the pick.
    """

    selected = traitlets.Unicode("")

    def __init__(
        self,
        browse: BrowseCall,
        choices: Callable[[], Mapping[str, Sequence[str]]],
        *,
        caller: Caller = run_now,
        page: int = PAGE,
    ) -> None:
        super().__init__()
        self._browse = browse
        self._choices = choices
        self._caller = caller
        self.page_size = page
        self.offset = 0
        self.frame = pd.DataFrame()
        self.more_after = False
        self.queries = 0
        self._pending = False

        def picker(description: str, css: str, width: str) -> w.Dropdown:
            return classed(
                w.Dropdown(options=[ANY], value=ANY, description=description,
                           layout=w.Layout(width="auto", min_width=width),
                           style={"description_width": "initial"}),
                css,
            )  # fmt: skip

        self.instrument = picker("instrument", "sd-cat-f-instrument", "150px")
        self.filekind = picker("type", "sd-cat-f-filekind", "150px")
        self.state = picker("state", "sd-cat-f-state", "170px")
        self.search = classed(
            w.Text(placeholder="part of a name", description="name",
                   continuous_update=False, layout=w.Layout(width="auto", min_width="210px"),
                   style={"description_width": "initial"}),
            "sd-cat-f-search",
        )  # fmt: skip
        self.since = classed(
            w.DatePicker(description="added from", layout=w.Layout(width="auto"),
                         style={"description_width": "initial"}),
            "sd-cat-f-since",
        )  # fmt: skip
        self.until = classed(
            w.DatePicker(description="to", layout=w.Layout(width="auto"),
                         style={"description_width": "initial"}),
            "sd-cat-f-until",
        )  # fmt: skip
        self.bad_only = classed(
            w.Checkbox(description="bad files only", indent=False,
                       layout=w.Layout(width="auto")),
            "sd-cat-f-bad",
        )  # fmt: skip
        self.clear_button = classed(
            w.Button(description="clear filters", icon="times", layout=w.Layout(width="auto")),
            "sd-cat-f-clear",
        )
        self.clear_button.on_click(lambda _b: self.clear_filters())
        for control in (self.instrument, self.filekind, self.state, self.search, self.since,
                        self.until, self.bad_only):  # fmt: skip
            control.observe(self._filters_changed, "value")

        self.prev_button = classed(
            w.Button(icon="chevron-left", tooltip="previous page", layout=w.Layout(width="40px")),
            "sd-cat-prev",
        )
        self.next_button = classed(
            w.Button(icon="chevron-right", tooltip="next page", layout=w.Layout(width="40px")),
            "sd-cat-next",
        )
        self.prev_button.on_click(lambda _b: self.show_page(self.offset - self.page_size))
        self.next_button.on_click(lambda _b: self.show_page(self.offset + self.page_size))
        self.summary = classed(w.HTML(), "sd-cat-summary")
        self.feedback = Feedback()
        self.head = classed(w.HTML(header_text()), "sd-cat-listhead")
        self.list = classed(
            w.Select(options=[], rows=18, layout=w.Layout(width="100%")), "sd-cat-list"
        )
        self.list.observe(self._picked, "value")
        filters = classed(
            w.HBox([self.search, self.instrument, self.filekind, self.state, self.since,
                    self.until, self.bad_only, self.clear_button]),
            "sd-cat-row", "sd-cat-filters",
        )  # fmt: skip
        pager = classed(
            w.HBox([self.prev_button, self.summary, self.next_button, self.feedback]),
            "sd-cat-row", "sd-cat-pager",
        )  # fmt: skip
        self.children = [filters, pager, self.head, self.list]
        classed(self, "sd-cat-browse")
        self._loading = False
        self.refresh_choices()
        self.show_page(0)

    # -- filters ------------------------------------------------------------------------
    def refresh_choices(self) -> None:
        """Read the filter choices again (a new instrument or type may have arrived)."""
        try:
            choices = self._choices()
        except Exception as exc:  # the list still works without choices
            self.feedback.error(exc, "filter choices not read")
            return
        self._loading = True
        try:
            for name, control in (("instrument", self.instrument), ("filekind", self.filekind),
                                  ("state", self.state)):  # fmt: skip
                options = [ANY, *[str(c) for c in choices.get(name, ()) if c]]
                value = control.value if control.value in options else ANY
                control.options = options
                control.value = value
        finally:
            self._loading = False

    def filters(self) -> dict[str, Any]:
        """The filters set now (only those set)."""
        out: dict[str, Any] = {}
        for name, control in (("instrument", self.instrument), ("filekind", self.filekind),
                              ("state", self.state)):  # fmt: skip
            if control.value and control.value != ANY:
                out[name] = control.value
        if self.search.value.strip():
            out["search"] = self.search.value.strip()
        if isinstance(self.since.value, date):
            out["since"] = self.since.value
        if isinstance(self.until.value, date):
            out["until"] = self.until.value
        if self.bad_only.value:
            out["bad"] = True
        return out

    def clear_filters(self) -> None:
        """Every filter back to "any" (one query)."""
        self._loading = True
        try:
            for control in (self.instrument, self.filekind, self.state):
                control.value = ANY
            self.search.value = ""
            self.since.value = None
            self.until.value = None
            self.bad_only.value = False
        finally:
            self._loading = False
        self.show_page(0)

    def _filters_changed(self, _change: Any) -> None:
        if self._loading:
            return
        if self.since.value and self.until.value and self.since.value > self.until.value:
            self.feedback.say("warning", "the 'added from' date is after the 'to' date")
            return
        self.show_page(0)

    # -- pages ---------------------------------------------------------------------------
    def show_page(self, offset: int) -> None:
        """Query the page starting at ``offset`` and show it."""
        offset = max(0, offset)
        filters = self.filters()
        self.feedback.say("busy", "reading…")
        self.queries += 1

        def shown(frame: pd.DataFrame) -> None:
            self.offset = offset
            self.more_after = len(frame) > self.page_size
            self.frame = frame.iloc[: self.page_size].reset_index(drop=True)
            self._draw()
            self.feedback.clear()

        def failed(exc: BaseException) -> None:
            self.feedback.error(exc, "files not read")

        # one row more than a page says whether there is a next page
        self._caller(
            "browse", lambda: self._browse(filters, offset, self.page_size + 1), shown, failed
        )

    def _draw(self) -> None:
        records = self.frame.to_dict("records")
        options = [(row_text(r), str(r.get("name", ""))) for r in records]
        keep = self.list.value if self.list.value in {v for _t, v in options} else None
        self._loading = True
        try:
            self.list.options = options
            self.list.value = keep
        finally:
            self._loading = False
        n = len(records)
        if n:
            more = " and more" if self.more_after else ""
            self.summary.value = f"files {self.offset + 1}–{self.offset + n}{more}"
        else:
            self.summary.value = "no file matches these filters"
        self.prev_button.disabled = self.offset == 0
        self.next_button.disabled = not self.more_after

    @property
    def names(self) -> list[str]:
        """The names on the page shown."""
        return [str(v) for _t, v in self.list.options]

    def pick(self, name: str) -> None:
        """Pick ``name`` if it is on the page (else only set :attr:`selected`)."""
        if name in self.names:
            self.list.value = name
        else:
            self.selected = name

    def _picked(self, change: dict[str, Any]) -> None:
        if self._loading or not change["new"]:
            return
        self.selected = str(change["new"])
