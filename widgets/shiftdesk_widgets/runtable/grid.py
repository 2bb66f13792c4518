"""The run table as a grid: one row per run, a page at a time, live row updates.

Why not ipydatagrid: its canvas cannot show hover text (error and skip reasons, header
descriptions, who submitted a value), edits are all-or-nothing for the whole grid, and it
sends the whole table to the browser (about 6 s to a first screen at 3,000 runs × 100
variables here). This grid sends one page of rows as HTML segments; editable columns
(comment, user variables) are real inputs. A row update rewrites only that row's
widgets, so its cost does not grow with the table.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets

# the style classes ipywidgets 8 does not export at the top level
from ipywidgets.widgets.widget_bool import CheckboxStyle
from ipywidgets.widgets.widget_description import DescriptionStyle
from ipywidgets.widgets.widget_string import HTMLStyle, TextStyle

from shiftdesk_widgets.runtable.cells import (
    PLACEHOLDERS,
    STYLE,
    Cell,
    Column,
    RowState,
    cell_html,
    column_width,
    header_html,
    is_missing,
    parse_user_value,
    shown_text,
    state_html,
)
from shiftdesk_widgets.runtable.settings import PAGE_SIZES, normalise, ordered_runs, visible_columns

#: ``on_edit(run, name, value)``: stores a typed value; raises with a message to refuse it.
EditCallback = Callable[[int, str, Any], Any]
#: ``fetch(runs) -> {(run, name): Cell}``: the display attributes of some runs' cells.
FetchCallback = Callable[[list[int]], Mapping[tuple[int, str], Cell]]

STATE_W, RUN_W, SELECT_W, MARK_W = 92, 58, 30, 18
_BOOL_OPTIONS = [("", None), ("yes", True), ("no", False)]


def error_text(exc: BaseException) -> str:
    """The message a user reads for a refused call."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


@dataclass
class _Segment:
    kind: str  # "html" or "edit"
    names: list[str]
    widget: w.DOMWidget
    mark: w.HTML | None = None


@dataclass
class _Row:
    select: w.Checkbox
    lead: w.HTML
    segments: list[_Segment]
    box: w.HBox
    run: int | None = None
    drawn: dict[int, str] = field(default_factory=dict)


def _classed(widget: Any, *classes: str) -> Any:
    for css in classes:
        widget.add_class(css)
    return widget


class _RowLook:
    """The layouts and styles every row of one grid shares.

    Each ipywidgets widget otherwise gets a ``Layout`` and a ``Style`` model of its own,
    each one more for the browser to create: a row was ~40 models, ~16 with these. None
    of them is changed for one row (an unused row is hidden by a class, not its layout).
    """

    def __init__(self) -> None:
        self.plain = w.Layout()
        self.html = HTMLStyle()
        self.checkbox = CheckboxStyle()
        self.text = TextStyle()
        self.dropdown = DescriptionStyle()
        self._widths: dict[int, w.Layout] = {}

    def width(self, px: int) -> w.Layout:
        """The layout ``width: px`` (one per width)."""
        layout = self._widths.get(px)
        if layout is None:
            layout = self._widths[px] = w.Layout(width=f"{px}px")
        return layout


class RunGrid(w.VBox):
    """The run table: a page of runs, live updates, typed editing and row selection.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per run (index ``run``): ``start_time``, ``comment`` and the variables'
        table values; blobs may be placeholders (``"<thumbnail>"``) filled by ``fetch``.
    columns : mapping of str to Column or dict, optional
        Titles, units, descriptions, tags and user types of the columns (default: from
        the frame; ``comment`` is an editable string).
    cells : mapping of (run, name) to Cell, optional
        Display attributes and blobs (bold, background, errors, provenance).
    states : mapping of run to RowState, optional
        Each run's processing state.
    settings : dict, optional
        Column order, hidden columns, tags, filters, sort, page size (see
        :mod:`shiftdesk_widgets.runtable.settings`).
    on_edit : callable, optional
        ``on_edit(run, name, value)`` stores an edit; its exception's message is shown
        next to the cell. Without it the grid is read-only.
    fetch : callable, optional
        ``fetch(runs)`` gives the cells of runs about to be shown (only a page at a time).
    can_edit : bool
        False shows editable columns read-only (the core refuses anyway).

    Attributes
    ----------
    selected : list of int
        The selected runs (observe it to follow the selection).
    """

    selected = traitlets.List(traitlets.Int())
    settings_version = traitlets.Int(0)

    def __init__(
        self,
        frame: pd.DataFrame,
        columns: Mapping[str, Any] | None = None,
        *,
        cells: Mapping[tuple[int, str], Cell] | None = None,
        states: Mapping[int, RowState] | None = None,
        settings: Mapping[str, Any] | None = None,
        on_edit: EditCallback | None = None,
        fetch: FetchCallback | None = None,
        can_edit: bool = True,
    ) -> None:
        super().__init__()
        self.on_edit = on_edit
        self.fetch = fetch
        self.can_edit = can_edit and on_edit is not None
        self.frame = self._frame(frame)
        self.columns: dict[str, Column] = {}
        self.cells: dict[int, dict[str, Cell]] = {}
        self._fetched: set[int] = set()
        self.states: dict[int, RowState] = dict(states or {})
        self.page = 0
        self._order: list[int] = []
        self._shown: list[str] = []
        self._widths: dict[str, int] = {}
        self._rows: list[_Row] = []
        self._look = _RowLook()
        #: the row widgets' segments for the columns shown (relayout)
        self._row_plan: list[tuple[str, list[str]]] = []
        self._loading = False
        #: How many times a run's row was drawn (a check that updates stay local).
        self.row_draws = 0
        self._refused: dict[tuple[int, str], tuple[Any, str]] = {}
        #: How many times the row widgets were built (only when the columns shown change).
        self.rebuilds = 0
        self._layout_key: tuple[Any, ...] | None = None
        self._head_cells: list[w.HTML] = []
        self._set_columns(columns)
        self.settings = normalise(settings, list(self.frame.columns))
        for (run, name), cell in (cells or {}).items():
            self.cells.setdefault(int(run), {})[name] = cell

        self.message = _classed(w.HTML(), "sd-rt-message")
        self.summary = _classed(w.HTML(), "sd-rt-summary")
        self.prev_button = _classed(
            w.Button(icon="chevron-left", tooltip="previous page", layout=w.Layout(width="40px")),
            "sd-rt-prev",
        )
        self.next_button = _classed(
            w.Button(icon="chevron-right", tooltip="next page", layout=w.Layout(width="40px")),
            "sd-rt-next",
        )
        self.prev_button.on_click(lambda _b: self.show_page(self.page - 1))
        self.next_button.on_click(lambda _b: self.show_page(self.page + 1))
        self.page_size = _classed(
            w.Dropdown(options=list(PAGE_SIZES), value=self.settings["page_size"],
                       description="rows", layout=w.Layout(width="140px"),
                       style={"description_width": "36px"}),
            "sd-rt-page-size",
        )  # fmt: skip
        self.page_size.observe(self._page_size_changed, "value")
        self.goto = _classed(
            w.Text(placeholder="go to run", continuous_update=False,
                   layout=w.Layout(width="110px")),
            "sd-rt-goto",
        )  # fmt: skip
        self.goto.observe(self._goto, "value")
        self.selection_label = _classed(w.HTML(), "sd-rt-selection")
        self.clear_button = _classed(
            w.Button(description="clear selection", layout=w.Layout(width="130px")),
            "sd-rt-clear",
        )
        self.clear_button.on_click(lambda _b: self.select([]))
        self.pager = _classed(
            w.HBox([self.prev_button, self.summary, self.next_button, self.page_size,
                    self.goto, self.selection_label, self.clear_button]),
            "sd-rt-pager",
        )  # fmt: skip
        self.select_page = w.Checkbox(
            indent=False, tooltip="select the runs on this page", layout=w.Layout(width="26px")
        )
        self.select_page.observe(self._select_page, "value")
        self.header = _classed(w.HBox(), "sd-rt-headrow")
        self.body = w.VBox()
        self.scroll = _classed(w.VBox([self.header, self.body]), "sd-rt-scroll")
        self.children = [w.HTML(STYLE), self.message, self.pager, self.scroll]
        _classed(self, "sd-rt-table")
        self.observe(self._selection_changed, "selected")
        self.relayout()

    # -- data ---------------------------------------------------------------------------
    @staticmethod
    def _frame(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.index = pd.Index([int(r) for r in frame.index], name="run")
        for name in ("start_time", "comment"):
            if name not in frame.columns:
                frame[name] = None
        return frame

    def _set_columns(self, columns: Mapping[str, Any] | None) -> None:
        given = {name: Column.from_info(name, info) for name, info in (columns or {}).items()}
        for name in given:
            if name not in self.frame.columns:
                self.frame[name] = None
        result: dict[str, Column] = {}
        for name in self.frame.columns:
            column = given.get(name) or Column(name)
            if name == "comment" and column.type is None:
                column = Column(
                    "comment",
                    title=column.title or "comment",
                    description=column.description or "the shift crew's comment on the run",
                    type="string",
                )
            if name == "start_time" and not column.title:
                column = Column("start_time", title="start time", description="when the run began")
            result[name] = column
        self.columns = result

    def set_columns(self, columns: Mapping[str, Any]) -> None:
        """New column information (a variable added, a description changed); redraws."""
        self._set_columns(columns)
        self.settings = normalise(self.settings, list(self.frame.columns))
        self.relayout()

    def set_can_edit(self, can_edit: bool) -> None:
        """Editable or read-only from now on (the user's rights changed); redraws."""
        can_edit = can_edit and self.on_edit is not None
        if can_edit != self.can_edit:
            self.can_edit = can_edit
            self.relayout()

    def cell(self, run: int, name: str) -> Cell | None:
        """The display attributes of one cell, if any were given."""
        return self.cells.get(run, {}).get(name)

    def value(self, run: int, name: str) -> Any:
        """One cell's table value (a blob from its cell when there is one)."""
        cell = self.cell(run, name)
        if cell is not None and cell.value is not None:
            return cell.value
        if name == "run":
            return run
        value = self.frame.at[run, name]
        return None if is_missing(value) else value

    @property
    def runs(self) -> list[int]:
        """The runs shown (after filters), in their order."""
        return list(self._order)

    def _store(self, run: int, values: Mapping[str, Any]) -> None:
        added = False
        for name, value in values.items():
            if name not in self.frame.columns:
                self.frame[name] = pd.Series(None, index=self.frame.index, dtype=object)
                added = True
            try:
                self.frame.at[run, name] = value
            except (TypeError, ValueError):
                self.frame[name] = self.frame[name].astype(object)
                self.frame.at[run, name] = value
        if added:
            self._set_columns(self.columns)
            self.settings = normalise(self.settings, list(self.frame.columns))

    def _add_runs(self, rows: pd.DataFrame, new: list[int]) -> None:
        """Append new runs' rows (their columns may be new too), keeping column dtypes."""
        addition = rows.loc[[r for r in rows.index if int(r) in set(new)]]
        index = pd.Index([*self.frame.index, *new], name="run")
        names = list(self.frame.columns) + [c for c in addition.columns if c not in self.frame]
        data: dict[str, pd.Series] = {}
        for name in names:
            if name in self.frame.columns:
                column = self.frame[name]
            else:
                column = pd.Series(None, index=self.frame.index, dtype=object)
            if name in addition.columns:
                values = pd.Series(addition[name].to_numpy(), index=pd.Index(new), name=name)
                if values.isna().all():
                    merged = column.reindex(index)
                else:
                    if len(column) == 0 or column.isna().all():
                        with contextlib.suppress(TypeError, ValueError):
                            column = column.astype(values.dtype)  # takes the new type
                    merged = pd.concat([column, values])
            else:
                merged = column.reindex(index)
            merged.index = index
            data[name] = merged
        self.frame = pd.DataFrame(data, index=index)
        if len(self.frame.columns) != len(self.columns):
            self._set_columns(self.columns)
            self.settings = normalise(self.settings, list(self.frame.columns))

    def update_rows(
        self,
        rows: pd.DataFrame,
        cells: Mapping[tuple[int, str], Cell] | None = None,
        states: Mapping[int, RowState] | None = None,
    ) -> list[int]:
        """Put the given runs' rows in (new runs are added); redraws only what changed.

        Parameters
        ----------
        rows : pandas.DataFrame
            The changed runs (index ``run``), all columns or some.
        cells, states : mapping, optional
            Their cells (replacing those held for these runs) and processing states.

        Returns
        -------
        list of int
            The runs redrawn on the current page.
        """
        changed = [int(r) for r in rows.index]
        known = set(self.frame.index)
        new = [r for r in changed if r not in known]
        names = list(self.frame.columns)
        if new:
            self._add_runs(rows, new)
        for run, row in rows.iterrows():
            if int(run) in known:
                self._store(int(run), row.to_dict())
        if cells is not None:
            for run in changed:
                self.cells.pop(run, None)
            for (run, name), cell in cells.items():
                self.cells.setdefault(int(run), {})[name] = cell
            self._fetched.update(changed)
        else:
            self._fetched.difference_update(changed)
        if states:
            self.states.update({int(r): s for r, s in states.items()})
        if list(self.frame.columns) != names or self._widths_changed(rows):
            # a new variable (a column more), or a column's first thumbnails or sparklines
            # (a wider column): the row widgets are laid out again, once
            self.set_columns(self.columns)
            return [r for r in self.page_runs if r in set(changed)]
        return self._refresh(changed, reorder=True)

    def _widths_changed(self, rows: pd.DataFrame) -> bool:
        for name in rows.columns:
            if name not in self._widths:
                continue
            values = [v for v in rows[name] if isinstance(v, str) and v in PLACEHOLDERS]
            if not values:
                continue
            kind = "thumbnail" if values[0] in ("<thumbnail>", "<image>") else "sparkline"
            if self._widths[name] != column_width(self.columns[name], kind):
                return True
        return False

    def replace(
        self, frame: pd.DataFrame, states: Mapping[int, RowState] | None = None
    ) -> list[int]:
        """Take a whole new table (after many runs changed at once); redraws the page.

        Cheaper than :meth:`update_rows` for thousands of runs: the frame is taken as it
        is and only the rows shown are drawn again (each only where its HTML changed).

        Returns
        -------
        list of int
            The runs on the current page (all drawn again).
        """
        names = list(self.frame.columns)
        self.frame = self._frame(frame)
        if list(self.frame.columns) != names:
            self._set_columns(self.columns)
            self.settings = normalise(self.settings, list(self.frame.columns))
        self.cells.clear()
        self._fetched.clear()
        if states:
            self.states.update({int(r): s for r, s in states.items()})
        if list(self.frame.columns) != names:
            self.relayout()
        else:
            self._order = ordered_runs(self.frame, self.settings)
            self.page = min(self.page, self._last_page())
            self._draw_page(force=None)
            self._update_summary()
        return self.page_runs

    def set_states(self, states: Mapping[int, RowState]) -> list[int]:
        """New processing states; redraws the rows shown whose state changed."""
        changed = [int(r) for r, s in states.items() if self.states.get(int(r)) != s]
        self.states.update({int(r): s for r, s in states.items()})
        return self._refresh(changed, reorder=False)

    def _refresh(self, changed: Iterable[int], *, reorder: bool) -> list[int]:
        changed = set(changed)
        if reorder:
            before = self._page_runs()
            self._order = ordered_runs(self.frame, self.settings)
            after = self._page_runs()
            self._update_summary()
            if before != after:
                # positions moved (a new run on top, a sort key changed): redraw the page,
                # rows whose run and content did not change are not sent again
                self._draw_page(force=changed)
                return [r for r in after if r in changed or r not in before]
        redrawn = []
        for row in self._rows:
            if row.run is not None and row.run in changed:
                self._ensure_cells([row.run])
                self._draw_row(row, row.run, force=True)
                redrawn.append(row.run)
        return redrawn

    # -- layout -------------------------------------------------------------------------
    def _kind(self, name: str) -> str:
        series = self.frame[name]
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            sample = series.dropna()
            if len(sample):
                texts = sample.astype(str)
                if (texts == "<thumbnail>").any() or (texts == "<image>").any():
                    return "thumbnail"
                if (texts == "<sparkline>").any():
                    return "sparkline"
                first = sample.iloc[-1]
                if isinstance(first, (bytes, bytearray)):
                    return "thumbnail"
                if isinstance(first, np.ndarray):
                    return "sparkline"
        for cells in self.cells.values():
            cell = cells.get(name)
            if cell is not None and isinstance(cell.value, (bytes, bytearray)):
                return "thumbnail"
            if cell is not None and isinstance(cell.value, np.ndarray):
                return "sparkline"
        return ""

    def _plan(self) -> list[tuple[str, list[str]]]:
        plan: list[tuple[str, list[str]]] = []
        for name in self._shown:
            if self.columns[name].editable:
                plan.append(("edit", [name]))
            elif plan and plan[-1][0] == "html":
                plan[-1][1].append(name)
            else:
                plan.append(("html", [name]))
        return plan

    def relayout(self) -> None:
        """Lay the table out again (after columns, order, filters, sort or page size changed).

        Row widgets are rebuilt only when the columns shown, their widths or the page size
        changed; a new filter or sort only redraws the page into the same widgets.
        """
        self._shown = visible_columns(self.settings, self.columns)
        self._widths = {n: column_width(self.columns[n], self._kind(n)) for n in self._shown}
        self._order = ordered_runs(self.frame, self.settings)
        plan = self._plan()
        sort = self.settings["sort"]
        lead_head = (
            f"<div class='sd-rt-cell sd-rt-head' style='width:{STATE_W}px' "
            "title='processing state (hover a row for the message)'>state</div>"
            f"<div class='sd-rt-cell sd-rt-head' style='width:{RUN_W}px' title='run number'>"
            f"run{self._sortmark('run', sort)}</div>"
        )
        values = [lead_head] + [
            "".join(
                header_html(
                    self.columns[n],
                    self._widths[n],
                    sort=self._sort_dir(n, sort),
                    filtered=n in self.settings["filters"],
                )
                for n in names
            )
            for _kind, names in plan
        ]
        size = int(self.settings["page_size"])
        key = (
            tuple((kind, tuple(names)) for kind, names in plan),
            tuple(self._widths.items()),
            tuple(self.columns[n].type for n in self._shown),
            size,
            self.can_edit,
        )
        if key != self._layout_key:
            self._layout_key = key
            self._head_cells = [_classed(w.HTML(v), "sd-rt-seg") for v in values]
            lead = _classed(w.HBox([self.select_page, self._head_cells[0]]), "sd-rt-lead")
            self.header.children = [lead, *self._head_cells[1:]]
            # rows are made as a page needs them (_draw_page), up to the page size: a table
            # of 12 runs does not send the browser 13 hidden rows of ~40 widgets each
            self._row_plan = plan
            self._rows = []
            self.body.children = []
            self.rebuilds += 1
        else:
            for cell, value in zip(self._head_cells, values, strict=True):
                if cell.value != value:
                    cell.value = value
        self.page = min(self.page, self._last_page())
        self._draw_page(force=None)
        self._update_summary()

    @staticmethod
    def _sort_dir(name: str, sort: Mapping[str, Any]) -> str:
        if sort.get("by") != name:
            return ""
        return "desc" if sort.get("descending") else "asc"

    def _sortmark(self, name: str, sort: Mapping[str, Any]) -> str:
        direction = self._sort_dir(name, sort)
        if not direction:
            return ""
        return f" <span class='sd-rt-sortmark'>{'▼' if direction == 'desc' else '▲'}</span>"

    def _make_row(self, plan: list[tuple[str, list[str]]]) -> _Row:
        # every widget is a model the browser makes: the row's cells are its own children,
        # with no box around the checkbox and the state, nor around an input and its mark
        look = self._look
        select = _classed(
            w.Checkbox(indent=False, layout=look.width(26), style=look.checkbox),
            "sd-rt-lead", "sd-rt-lead-select",
        )  # fmt: skip
        lead = _classed(
            w.HTML(layout=look.plain, style=look.html), "sd-rt-seg", "sd-rt-lead", "sd-rt-lead-run"
        )
        segments: list[_Segment] = []
        children: list[w.DOMWidget] = [select, lead]
        for kind, names in plan:
            if kind == "html":
                widget = _classed(w.HTML(layout=look.plain, style=look.html), "sd-rt-seg")
                segments.append(_Segment("html", names, widget))
                children.append(widget)
                continue
            name = names[0]
            column = self.columns[name]
            width = self._widths[name]
            layout = look.width(width - MARK_W)
            editor: w.DOMWidget
            if column.type == "boolean":
                editor = w.Dropdown(
                    options=_BOOL_OPTIONS, value=None, layout=layout, style=look.dropdown
                )
            else:
                editor = w.Text(continuous_update=False, layout=layout, style=look.text)
            _classed(editor, "sd-rt-edit", f"sd-rt-edit-{name}")
            editor.disabled = not self.can_edit
            mark = _classed(w.HTML(layout=look.width(MARK_W), style=look.html), "sd-rt-editmark")
            segments.append(_Segment("edit", names, editor, mark))
            children += [editor, mark]
        row = _Row(select, lead, segments,
                   _classed(w.HBox(children, layout=look.plain), "sd-rt-row"))  # fmt: skip
        select.observe(lambda change, r=row: self._row_selected(r, change["new"]), "value")
        for segment in segments:
            if segment.kind == "edit":
                segment.widget.observe(
                    lambda change, r=row, s=segment: self._edited(r, s, change["new"]), "value"
                )
        return row

    # -- drawing ------------------------------------------------------------------------
    def _last_page(self) -> int:
        size = int(self.settings["page_size"])
        return max(0, (len(self._order) - 1) // size)

    def _page_runs(self) -> list[int]:
        size = int(self.settings["page_size"])
        return self._order[self.page * size : (self.page + 1) * size]

    def _ensure_cells(self, runs: list[int]) -> None:
        missing = [r for r in runs if r not in self._fetched]
        if not missing or self.fetch is None:
            self._fetched.update(missing)
            return
        try:
            fetched = self.fetch(missing)
        except Exception as exc:  # shown, the values from the table still are
            self.say("error", f"cell details not loaded: {error_text(exc)}")
            return
        for run in missing:
            self.cells.pop(run, None)
        for (run, name), cell in fetched.items():
            self.cells.setdefault(int(run), {})[name] = cell
        self._fetched.update(missing)

    def _draw_page(self, force: Iterable[int] | None) -> None:
        """Show the current page; ``force`` lists the runs to redraw (None: all).

        A run already on the page keeps its row widgets (a new run on top moves the rows
        down instead of redrawing them): only new and forced runs are drawn.
        """
        runs = self._page_runs()
        self._ensure_cells(runs)
        forced = set(self._order) if force is None else set(force)
        wanted = set(runs)
        by_run = {row.run: row for row in self._rows if row.run in wanted}
        free = [row for row in self._rows if row.run not in by_run]
        rows: list[_Row] = []
        for run in runs:
            row = by_run.get(run) or (free.pop(0) if free else self._make_row(self._row_plan))
            self._draw_row(row, run, force=run in forced or run != row.run)
            rows.append(row)
        for row in free:
            self._draw_row(row, None, force=True)
        rows += free
        if [id(r) for r in rows] != [id(r) for r in self._rows]:
            self._rows = rows
            self.body.children = [r.box for r in rows]
        self.prev_button.disabled = self.page <= 0
        self.next_button.disabled = self.page >= self._last_page()
        self._sync_page_checkbox()

    def _draw_row(self, row: _Row, run: int | None, *, force: bool) -> None:
        if row.run != run:  # the row's class names its run (for the browser and its tests)
            if row.run is not None:
                row.box.remove_class(f"sd-rt-r{row.run}")
            if run is not None:
                row.box.add_class(f"sd-rt-r{run}")
        if run is None:
            row.run = None
            row.box.add_class("sd-rt-unused")
            return
        if not force and row.run == run:
            return
        row.run = run
        self.row_draws += 1
        row.box.remove_class("sd-rt-unused")
        self._loading = True
        try:
            row.select.value = run in set(self.selected)
            lead = state_html(self.states.get(run), STATE_W) + (
                f"<div class='sd-rt-cell sd-rt-run' style='width:{RUN_W}px'>{run}</div>"
            )
            if row.lead.value != lead:
                row.lead.value = lead
            for segment in row.segments:
                if segment.kind == "html":
                    value = "".join(
                        cell_html(
                            self._frame_value(run, n), self.cell(run, n), self._widths[n],
                            self.columns[n],
                        )
                        for n in segment.names
                    )  # fmt: skip
                    if segment.widget.value != value:
                        segment.widget.value = value
                else:
                    self._draw_editor(segment, run)
        finally:
            self._loading = False
        if run in set(self.selected):
            row.box.add_class("sd-rt-selected")
        else:
            row.box.remove_class("sd-rt-selected")

    def _frame_value(self, run: int, name: str) -> Any:
        return self.frame.at[run, name]

    def _draw_editor(self, segment: _Segment, run: int) -> None:
        name = segment.names[0]
        column = self.columns[name]
        value = self._frame_value(run, name)
        cell = self.cell(run, name)
        editor = segment.widget
        if column.type == "boolean":
            shown = None if is_missing(value) else bool(value)
            if editor.value != shown:
                editor.value = shown
        else:
            text = shown_text(value, column.type)
            if editor.value != text:
                editor.value = text
        hover = column.description or column.label
        if cell is not None and cell.who:
            at = f" at {cell.at:%Y-%m-%d %H:%M}" if hasattr(cell.at, "strftime") else ""
            hover = f"set by {cell.who}{at}"
        if not self.can_edit:
            hover += " (read-only)"
        editor.tooltip = hover
        refused = self._refused.get((run, name))
        if refused is not None:  # what was typed stays, with the reason, until edited again
            typed, reason = refused
            if typed is not None and editor.value != typed:
                editor.value = typed
            self._mark_refused(segment, reason)
            return
        editor.remove_class("sd-rt-invalid")
        if segment.mark is not None and segment.mark.value:
            segment.mark.value = ""

    def show_page(self, page: int) -> None:
        """Show page ``page`` (0-based; clipped to the pages there are)."""
        self.page = max(0, min(page, self._last_page()))
        self._draw_page(force=None)
        self._update_summary()

    def show_run(self, run: int) -> bool:
        """Go to the page with ``run``; False when it is not shown (filtered out)."""
        if run not in self._order:
            return False
        self.show_page(self._order.index(run) // int(self.settings["page_size"]))
        return True

    def _update_summary(self) -> None:
        size = int(self.settings["page_size"])
        total = len(self.frame)
        shown = len(self._order)
        first = self.page * size + 1 if shown else 0
        last = min(shown, (self.page + 1) * size)
        filtered = f" (filtered from {total:,})" if shown != total else ""
        self.summary.value = (
            f"<span class='sd-rt-count'>runs {first}–{last} of {shown:,}{filtered} · "
            f"page {self.page + 1} of {self._last_page() + 1}</span>"
        )

    # -- settings -----------------------------------------------------------------------
    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """Take a new choice of columns, filters, sort and page size; redraws."""
        self.settings = normalise(settings, list(self.frame.columns))
        self._loading = True
        try:
            self.page_size.value = self.settings["page_size"]
        finally:
            self._loading = False
        self.page = 0
        self.relayout()
        self.settings_version += 1

    def _page_size_changed(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        settings = dict(self.settings, page_size=int(change["new"]))
        self.apply_settings(settings)

    def _goto(self, change: dict[str, Any]) -> None:
        text = str(change["new"]).strip()
        if not text:
            return
        try:
            run = int(text)
        except ValueError:
            self.say("error", f"not a run number: {text!r}")
            return
        if self.show_run(run):
            self.say("info", f"run {run} is on this page")
        elif run in self.frame.index:
            self.say("warning", f"run {run} is hidden by the filters")
        else:
            self.say("warning", f"there is no run {run} in this table")

    # -- selection ----------------------------------------------------------------------
    def select(self, runs: Iterable[int]) -> None:
        """Select ``runs`` (the plot follows)."""
        self.selected = sorted({int(r) for r in runs})

    def _row_selected(self, row: _Row, value: bool) -> None:
        if self._loading or row.run is None:
            return
        chosen = set(self.selected)
        if value:
            chosen.add(row.run)
        else:
            chosen.discard(row.run)
        self.select(chosen)

    def _select_page(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        runs = set(self._page_runs())
        chosen = set(self.selected)
        self.select(chosen | runs if change["new"] else chosen - runs)

    def _selection_changed(self, _change: dict[str, Any]) -> None:
        chosen = set(self.selected)
        self._loading = True
        try:
            for row in self._rows:
                if row.run is None:
                    continue
                on = row.run in chosen
                if row.select.value != on:
                    row.select.value = on
                if on:
                    row.box.add_class("sd-rt-selected")
                else:
                    row.box.remove_class("sd-rt-selected")
        finally:
            self._loading = False
        self._sync_page_checkbox()
        count = len(chosen)
        if count == 0:
            self.selection_label.value = "<span class='sd-rt-muted'>no run selected</span>"
        else:
            shown = ", ".join(str(r) for r in sorted(chosen)[:8]) + ("…" if count > 8 else "")
            self.selection_label.value = f"selected: <b>{count}</b> ({html.escape(shown)})"
        self.clear_button.disabled = count == 0

    def _sync_page_checkbox(self) -> None:
        runs = self._page_runs()
        on = bool(runs) and set(runs) <= set(self.selected)
        self._loading = True
        try:
            self.select_page.value = on
        finally:
            self._loading = False

    # -- editing ------------------------------------------------------------------------
    def say(self, kind: str, text: str) -> None:
        """Show a message above the table."""
        color = {"info": "#1b5e20", "warning": "#a15c00", "error": "#b00020"}.get(kind, "#333")
        self.message.value = (
            f"<div class='sd-message sd-message-{kind}' style='color:{color}'>"
            f"{html.escape(text)}</div>"
        )

    def _edited(self, row: _Row, segment: _Segment, new: Any) -> None:
        if self._loading or row.run is None:
            return
        run, name = row.run, segment.names[0]
        column = self.columns[name]
        self.edit(run, name, new if column.type == "boolean" else str(new), _segment=segment)

    def edit(self, run: int, name: str, value: Any, *, _segment: _Segment | None = None) -> bool:
        """Store ``value`` (typed text or a typed value) in an editable cell.

        Returns True when stored; otherwise the reason is shown next to the cell and above
        the table.
        """
        column = self.columns.get(name)
        if column is None or not column.editable:
            self._refuse(run, name, f"{name} cannot be edited", _segment)
            return False
        if self.on_edit is None or not self.can_edit:
            self._refuse(run, name, "this table is read-only for you", _segment, value)
            return False
        try:
            typed = parse_user_value(value, column.type or "string") if isinstance(
                value, str
            ) else value  # fmt: skip
            self.on_edit(run, name, typed)
        except Exception as exc:  # the callback's refusal, shown where the user typed
            self._refuse(run, name, error_text(exc), _segment, value)
            return False
        self._refused.pop((run, name), None)
        self._store(run, {name: typed})
        if _segment is not None:
            _segment.widget.remove_class("sd-rt-invalid")
            if _segment.mark is not None:
                _segment.mark.value = "<span style='color:#2e7d32' title='saved'>✓</span>"
        shown = "(empty)" if typed is None else shown_text(typed, column.type)
        self.say("info", f"run {run} · {column.title or name}: {shown} saved")
        return True

    def _refuse(
        self, run: int, name: str, text: str, segment: _Segment | None, value: Any = None
    ) -> None:
        title = self.columns[name].title or name if name in self.columns else name
        self.say("error", f"run {run} · {title} not saved: {text}")
        if name in self.columns and self.columns[name].editable:
            # kept until the next edit of the cell: a redraw (a poll) shows it again
            self._refused[run, name] = (value, text)
        if segment is None:
            segment = self._segment_of(run, name)
        if segment is not None:
            self._mark_refused(segment, text)

    @staticmethod
    def _mark_refused(segment: _Segment, text: str) -> None:
        segment.widget.add_class("sd-rt-invalid")
        if segment.mark is not None:
            mark = (
                f"<span class='sd-rt-refused' title='{html.escape(text, quote=True)}'>⚠"
                f"<span class='sd-rt-bubble'>{html.escape(text)}</span></span>"
            )
            if segment.mark.value != mark:
                segment.mark.value = mark

    def _segment_of(self, run: int, name: str) -> _Segment | None:
        for row in self._rows:
            if row.run == run:
                for segment in row.segments:
                    if segment.kind == "edit" and segment.names == [name]:
                        return segment
        return None

    def editor(self, run: int, name: str) -> Any:
        """The input of an editable cell of a run on this page (None if not shown)."""
        segment = self._segment_of(run, name)
        return segment.widget if segment is not None else None

    def row_html(self, run: int) -> str:
        """The HTML drawn for ``run`` on this page ('' if not shown): for tests and checks."""
        for row in self._rows:
            if row.run == run:
                parts = [row.lead.value]
                parts += [s.widget.value for s in row.segments if s.kind == "html"]
                return "".join(str(p) for p in parts)
        return ""

    @property
    def page_runs(self) -> list[int]:
        """The runs on the current page, top to bottom."""
        return [r.run for r in self._rows if r.run is not None]

    @property
    def shown_columns(self) -> list[str]:
        """The columns shown, in order."""
        return list(self._shown)

    def header_html(self) -> str:
        """The header row's HTML (titles, tooltips, marks)."""
        return "".join(str(cell.value) for cell in self._head_cells)
