"""The run table dashboard: :class:`RunTableView` over a :class:`~shiftdesk.runtable.RunTable`.

The view composes the panels of this package (grid, columns and filters, plots, context
editor, processing, export) and wires them to the core: edits, saves and processing go
through the table's methods, so a refusal (:class:`~shiftdesk.errors.PermissionDenied`,
a value of the wrong type) is the core's and is shown where the user acted. A
:class:`~shiftdesk_widgets._async.Ticker` on the kernel's loop asks the table what
changed about once a second (:meth:`RunTable.changes`, a few indexed reads) and redraws
only the rows of runs that changed.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from shiftdesk.runtable import RunMetadata, RunTable
from shiftdesk_widgets._async import Ticker, tick_until
from shiftdesk_widgets.registry import register_view
from shiftdesk_widgets.runtable._calls import Background, Caller, run_now
from shiftdesk_widgets.runtable.cells import Cell, Column, RowState
from shiftdesk_widgets.runtable.columns import ColumnsPanel
from shiftdesk_widgets.runtable.editor import ContextEditor
from shiftdesk_widgets.runtable.export import ExportPanel
from shiftdesk_widgets.runtable.grid import RunGrid, error_text
from shiftdesk_widgets.runtable.processing import ProcessingPanel

if TYPE_CHECKING:
    from shiftdesk.runtable import CellValue
    from shiftdesk_widgets.runtable.plots import PlotPanel

#: Placeholders the table shows for blob cells, by summary kind.
_BLOBS = {"thumbnail": "<thumbnail>", "sparkline": "<sparkline>"}
#: More changed runs than this in one tick: the whole table is read again (one query).
RELOAD_ABOVE = 50
#: The titles of the view's tabs.
TAB_TITLES = ("Table", "Context file")

_VIEW_STYLE = """<style>
.sd-rt-view {gap: 4px;}
.sd-rt-titlebar {align-items: baseline; gap: 12px; flex-wrap: wrap;}
.sd-rt-titlebar h2 {margin: 4px 0;}
.sd-rt-live {color: #2e7d32; font-size: 12px;}
.sd-rt-live.sd-rt-stale {color: #b00020;}
.sd-rt-badge {display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  background: #eceff1; color: #37474f;}
.sd-rt-badge-ro {background: #fff3e0; color: #a84300;}
.sd-rt-toolbar {align-items: center; flex-wrap: wrap; gap: 4px;}
</style>"""


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def to_cell(value: CellValue) -> Cell:
    """The grid's :class:`Cell` of a core ``CellValue``."""
    error_cls = value.error_cls
    if value.skipped and error_cls is None:
        error_cls = "Skip"
    return Cell(
        value=value.value,
        bold=bool(value.bold),
        background=value.background,
        error=value.error,
        error_cls=error_cls,
        provenance=value.provenance if value.provenance not in ("context", "user") else None,
        who=value.who or None,
        at=value.at,
        units=value.units,
    )


def table_value(value: CellValue) -> Any:
    """What a cell puts in the table frame (blobs as their placeholder, errors as None)."""
    if value.error is not None:
        return None
    if value.kind in _BLOBS:
        return _BLOBS[value.kind]
    return value.value


def to_state(state: Any) -> RowState:
    """The grid's :class:`RowState` of a core ``RunState``."""
    return RowState(state.status or "", state.message or "", state.job)


def to_columns(columns: Mapping[str, Any]) -> dict[str, Column]:
    """Grid columns of the core's ``ColumnInfo`` (submitted values say so in the tooltip)."""
    result = {}
    for name, info in columns.items():
        column = Column.from_info(name, info)
        if name == "start_time" and not column.units:  # the core's times are UTC
            column = Column(name, column.title, column.description, "UTC", column.tags)
        if getattr(info, "source", "") == "submitted" and not column.description:
            column = Column(column.name, column.title, "submitted by an external program",
                            column.units, column.tags, column.type)  # fmt: skip
        result[name] = column
    return result


class RunTableView(w.VBox):
    """The live run table: grid, columns and filters, plots, context file, processing.

    Parameters
    ----------
    table : RunTable
        The table shown (its identity decides what may be edited; the core checks).
    interval : float
        Seconds between looks for changes (a Ticker on the kernel's loop; without a
        running loop, as in plain scripts and tests, call :meth:`tick`).
    page_size : int, optional
        Rows per page (default: the user's saved choice, else 25).
    """

    def __init__(
        self, table: RunTable, *, interval: float = 1.0, page_size: int | None = None
    ) -> None:
        self.table = table
        self.interval = interval
        self._closed = False
        self.last_tick = 0.0
        self.seq = table.seq  # before the first read: nothing that follows is missed
        columns = table.columns()
        frame = table.table()
        settings = self._load_settings()
        if page_size is not None:
            settings["page_size"] = page_size
        self.can_edit = table.can_edit
        # slow calls (validation in a subprocess, queueing runs, exports) leave the kernel
        # free when it runs an event loop; without one (scripts, tests) they run at once
        self.background = Background()
        caller: Caller = self.background if _loop_running() else run_now
        self._caller = caller
        self._reloading = False
        self.grid = RunGrid(
            frame,
            to_columns(columns),
            states={r: to_state(s) for r, s in table.states().items()},
            settings=settings,
            on_edit=self._edit,
            fetch=self._fetch,
            can_edit=self.can_edit,
        )
        # what the first screen does not show is built when first opened (or its attribute
        # read): Columns & filters (~90 widget models), the plots (~45, and bqplot with
        # them) and the context file's editor (its tab, ~20)
        self._columns_panel: ColumnsPanel | None = None
        self._plots: PlotPanel | None = None
        self._editor: ContextEditor | None = None
        self.processing = ProcessingPanel(
            self._process,
            table.cancel,
            table.log,
            self._variables(columns),
            lambda: list(self.grid.selected),
            can_edit=self.can_edit,
            interval=interval,
            caller=caller,
        )
        self.export = ExportPanel(table.export, table.name, caller=caller)

        self.status = w.HTML()
        self.status.add_class("sd-rt-live")
        self.title = w.HTML(self._title_html())
        self.title.add_class("sd-rt-title")
        self.columns_button = w.ToggleButton(
            description="Columns & filters", icon="columns", layout=w.Layout(width="170px")
        )
        self.columns_button.add_class("sd-rt-columns-toggle")
        self.plot_button = w.ToggleButton(
            description="Plot", icon="line-chart", layout=w.Layout(width="100px")
        )
        self.plot_button.add_class("sd-rt-plot-toggle")
        self.columns_button.observe(lambda c: self._show(self.columns_panel, c["new"]), "value")
        self.plot_button.observe(self._plot_toggled, "value")
        self._toolbar = toolbar = w.HBox([self.columns_button, self.plot_button, self.export])
        toolbar.add_class("sd-rt-toolbar")
        self._table_tab = table_tab = w.VBox(self._table_parts())
        # the editor takes its tab's place when the tab is first picked (or editor read)
        self.tabs = w.Tab([table_tab, w.VBox()], titles=TAB_TITLES, selected_index=0)
        self.tabs.add_class("sd-rt-tabs")
        self.tabs.observe(self._tab_picked, "selected_index")
        bar = w.HBox([self.title, self.status])
        bar.add_class("sd-rt-titlebar")
        super().__init__([w.HTML(_VIEW_STYLE), bar, self.tabs])
        self.add_class("sd-rt-view")
        if not self.can_edit:
            self.grid.say(
                "info",
                f"you may read run table {table.name}; only its owner and editors may "
                "type values, change the context file or process runs",
            )
        self._live(True)
        self.ticker = Ticker(self.tick, interval)
        self.ticker.start()

    @classmethod
    def start(cls, name: str = "demo", **kwargs: Any) -> RunTableView:
        """The view of the run table ``name`` (``RunTable.open(name)``).

        The demo table (``"demo"``) is made first when it does not exist yet (as
        ``shiftdesk demo`` does: simulated runs, queued for processing).
        """
        from shiftdesk.runtable.demo import NAME
        from shiftdesk_widgets._demo import open_or_seed

        table = open_or_seed(RunTable.open, name, NAME, "shiftdesk.runtable.demo:seed_demo")
        return cls(table, **kwargs)

    # -- wiring to the core ---------------------------------------------------------------
    def _title_html(self) -> str:
        rt = self.table
        title = html.escape(rt.title or rt.name)
        mode = (
            "<span class='sd-rt-badge'>editor</span>"
            if rt.can_edit
            else "<span class='sd-rt-badge sd-rt-badge-ro'>read-only</span>"
        )
        return (
            f"<h2>Run table · {title}</h2> <small>{html.escape(rt.name)} · owner "
            f"{html.escape(rt.owner)} · you are {html.escape(str(rt.identity.name))}</small> "
            f"{mode}"
        )

    def _load_settings(self) -> dict[str, Any]:
        try:
            return dict(self.table.view_settings())
        except Exception:  # a broken record must not stop the table from showing
            return {}

    def _save_settings(self, settings: dict[str, Any]) -> None:
        self.table.save_view_settings(settings)

    def _edit(self, run: int, name: str, value: Any) -> None:
        self.table.set(run, name, value)

    def _fetch(self, runs: list[int]) -> dict[tuple[int, str], Cell]:
        return {key: to_cell(cell) for key, cell in self.table.cells(runs).items()}

    def _load(self, run: int, name: str) -> Any:
        return self.table[run, name].read()  # type: ignore[union-attr]

    def _validate(self, text: str) -> list[Any]:
        return list(self.table.validate(text))

    def _save_context(self, text: str) -> None:
        self.table.save_context(text)  # the new columns are read by editor.on_saved

    def _process(self, runs: Any, variables: list[str] | None) -> Any:
        return self.table.process(runs, variables=variables)

    @staticmethod
    def _variables(columns: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [
            (f"{info.title or name} ({name})" if info.title and info.title != name else name, name)
            for name, info in columns.items()
            if getattr(info, "source", "context") == "context"
        ]

    def _table_parts(self) -> list[w.DOMWidget]:
        """The Table tab: toolbar, processing, the panels built so far, the grid."""
        panels = [p for p in (self._columns_panel, self._plots) if p is not None]
        return [self._toolbar, self.processing, *panels, self.grid]

    @property
    def columns_panel(self) -> ColumnsPanel:
        """Columns & filters (shown by its toggle), built now if it was not."""
        if self._columns_panel is None:
            panel = self._columns_panel = ColumnsPanel(self.grid, on_change=self._save_settings)
            self._show(panel, self.columns_button.value)
            self._table_tab.children = self._table_parts()
        return self._columns_panel

    @property
    def plots(self) -> PlotPanel:
        """The plots (shown by the Plot toggle), built now if they were not."""
        if self._plots is None:
            # imported here: bqplot is not needed before the plots are
            from shiftdesk_widgets.runtable.plots import PlotPanel

            # built hidden, from the table as it is now; the toggle shows it
            self._plots = PlotPanel(self.grid, load=self._load)
            self._table_tab.children = self._table_parts()
        return self._plots

    @property
    def editor(self) -> ContextEditor:
        """The context file's editor (the second tab), built now if it was not."""
        if self._editor is None:
            editor = self._editor = ContextEditor(
                self.table.context_text,
                self._validate,
                self._save_context,
                can_edit=self.can_edit,
                caller=self._caller,
            )
            editor.on_saved = lambda _text: self._columns_changed()
            table_tab, placeholder = self.tabs.children
            with self.tabs.hold_sync():
                self.tabs.children = [table_tab, editor]
                self.tabs.titles = TAB_TITLES
            placeholder.close()
        return self._editor

    def _tab_picked(self, change: dict[str, Any]) -> None:
        if change["new"] == 1:
            self.editor  # noqa: B018 (built on first sight)

    @staticmethod
    def _show(panel: w.DOMWidget, on: bool) -> None:
        panel.layout.display = None if on else "none"

    # -- following changes ---------------------------------------------------------------
    def tick(self) -> bool:
        """Look for changes once and redraw what changed; True keeps the ticker going."""
        if self._closed:
            return False
        try:
            changes = self.table.changes(self.seq)
            if changes:
                self.apply_changes(changes)
            self.seq = changes.seq
        except Exception as exc:  # shown; the next tick tries again
            self._live(False, error_text(exc))
            return True
        self.last_tick = time.monotonic()
        self._live(True)
        return True

    def apply_changes(self, changes: Any) -> list[int]:
        """Redraw after ``changes`` (a :class:`~shiftdesk.runtable.Changes`).

        Returns
        -------
        list of int
            The runs whose rows were redrawn.
        """
        if changes.columns or changes.settings:
            # the table's own record (context file, people, title) may have changed too
            if not changes.settings:
                self.table.refresh()
            self.title.value = self._title_html()
            if self._editor is not None:  # (built later, it reads the table's text then)
                self._editor.reload(self.table.context_text)
            self._permissions_changed()
        if changes.columns:
            self._columns_changed()
        runs = sorted(changes.runs)
        if not runs:
            return []
        if len(runs) > RELOAD_ABOVE:
            return self._reload(runs)
        return self.update_runs(runs)

    def update_runs(self, runs: Iterable[int]) -> list[int]:
        """Read some runs again (values, cells, states) and redraw their rows."""
        rows: dict[int, dict[str, Any]] = {}
        cells: dict[tuple[int, str], Cell] = {}
        states: dict[int, RowState] = {}
        names = [n for n in self.grid.frame.columns if n != "start_time"]
        for run in runs:
            try:
                meta = self.table[run]
            except LookupError:  # gone meanwhile
                continue
            assert isinstance(meta, RunMetadata)
            row: dict[str, Any] = dict.fromkeys(names)
            row["start_time"] = meta.start_time
            for name, cell in meta.cells.items():
                row[name] = table_value(cell)
                cells[run, name] = to_cell(cell)
            rows[run] = row
            states[run] = RowState(meta.status or "", meta.message or "", meta.job_id)
        if not rows:
            return []
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "run"
        frame["start_time"] = pd.to_datetime(frame["start_time"], utc=True)
        redrawn = self.grid.update_rows(frame, cells=cells, states=states)
        self._after_rows()
        return redrawn

    def _reload(self, runs: list[int]) -> list[int]:
        """Many runs changed (a reprocess of all): read the whole table again.

        In a kernel the read (about a second at 3,000 runs × 100 variables) happens off
        its thread and the page is redrawn when it is there; later ticks meanwhile do not
        start another.
        """
        if self._reloading:
            return []
        self._reloading = True
        table = self.table
        redrawn: list[int] = []

        def read() -> tuple[pd.DataFrame, dict[int, RowState]]:
            return table.table(), {r: to_state(s) for r, s in table.states().items()}

        def apply(result: tuple[pd.DataFrame, dict[int, RowState]]) -> None:
            self._reloading = False
            redrawn.extend(self.grid.replace(*result))
            self._after_rows()

        def failed(exc: BaseException) -> None:
            self._reloading = False
            self._live(False, error_text(exc))

        self._caller("reload", read, apply, failed)
        return redrawn

    def _plot_toggled(self, change: dict[str, Any]) -> None:
        plots = self.plots
        plots.shown = change["new"]
        if change["new"]:
            plots.refresh_choices()  # columns may have got their first values

    def _after_rows(self) -> None:
        if self._plots is not None and self._plots.shown:
            self._plots.refresh_choices()

    def _permissions_changed(self) -> None:
        can_edit = self.table.can_edit
        if can_edit == self.can_edit:
            return
        self.can_edit = can_edit
        self.grid.set_can_edit(can_edit)
        if self._editor is not None:  # (built later, it takes self.can_edit then)
            self._editor.set_can_edit(can_edit)
        self.processing.set_can_edit(can_edit)
        if can_edit:
            self.grid.say("info", f"you may now edit run table {self.table.name}")
        else:
            self.grid.say("warning", f"run table {self.table.name} is now read-only for you")

    def _columns_changed(self) -> None:
        columns = self.table.columns()
        self.grid.set_columns(to_columns(columns))
        if self._plots is not None:  # (built later, they read the grid's columns then)
            self._plots.refresh_choices()
        self.processing.set_variables(self._variables(columns))
        if self._columns_panel is not None:  # (built later, it shows them as they are then)
            self._columns_panel.refresh()

    def _live(self, ok: bool, problem: str = "") -> None:
        if ok:
            text = f"● live · {datetime.now():%H:%M:%S}"
            self.status.remove_class("sd-rt-stale")
        else:
            text = f"● not updating: {problem}"
            self.status.add_class("sd-rt-stale")
        self.status.value = f"<span title='checked for changes every {self.interval:g} s'>" \
            f"{html.escape(text)}</span>"  # fmt: skip

    def wait_for(
        self, condition: Callable[[RunTableView], bool], timeout: float = 30.0,
        interval: float = 0.1,
    ) -> None:  # fmt: skip
        """Tick until ``condition(self)`` holds (scripts and tests; the browser needs none)."""
        tick_until(self.tick, lambda: condition(self), timeout=timeout, interval=interval,
                   what=lambda: "the run table view")  # fmt: skip

    def close(self) -> None:
        """Stop following changes and close."""
        self._closed = True
        for owned in ("ticker",):
            thing = getattr(self, owned, None)
            if thing is not None:
                thing.stop()
        processing = getattr(self, "processing", None)
        if processing is not None:
            processing.close()
        background = getattr(self, "background", None)
        if background is not None:
            background.close()
        super().close()


@register_view(RunTable)
def runtable_view(table: RunTable, **kwargs: Any) -> RunTableView:
    """A run table opens in its live dashboard."""
    return RunTableView(table, **kwargs)


class RunMetadataView(w.VBox):
    """One run of a table as a list: variable, value (thumbnails, sparklines), reasons.

    Parameters
    ----------
    meta : RunMetadata
        The run (``rt[run]``).
    columns : mapping, optional
        The table's columns (titles, units, descriptions); default: read from the table.
    """

    def __init__(self, meta: RunMetadata, columns: Mapping[str, Any] | None = None) -> None:
        from shiftdesk_widgets.runtable.cells import STYLE, cell_html, state_html

        if columns is None:
            try:
                columns = RunTable.open(meta.table).columns()
            except Exception:  # the run alone still shows
                columns = {}
        shown = to_columns(columns)
        rows = []
        names = [n for n in shown if n in meta.cells] + [n for n in meta.cells if n not in shown]
        for name in names:
            column = shown.get(name) or Column(name)
            cell = to_cell(meta.cells[name])
            rows.append(
                f"<tr><th title='{html.escape(column.description or name, quote=True)}' "
                f"style='text-align:left;padding-right:12px'>{html.escape(column.label)}</th>"
                f"<td>{cell_html(cell.value, cell, 260, column)}</td></tr>"
            )
        when = f"{meta.start_time:%Y-%m-%d %H:%M:%S} UTC" if meta.start_time else "unknown"
        state = state_html(RowState(meta.status, meta.message, meta.job_id), 110)
        self.html = w.HTML(
            STYLE
            + f"<div class='sd-rt-table'><b>Run {meta.run}</b> of {html.escape(meta.table)} · "
            f"started {html.escape(when)}<div style='display:flex'>{state}</div>"
            f"<table class='sd-rt-run-cells'>{''.join(rows)}</table></div>"
        )
        super().__init__([self.html])
        self.add_class("sd-rt-run-view")


@register_view(RunMetadata)
def run_view(meta: RunMetadata, **kwargs: Any) -> RunMetadataView:
    """One run shows its values as a list."""
    return RunMetadataView(meta, **kwargs)
