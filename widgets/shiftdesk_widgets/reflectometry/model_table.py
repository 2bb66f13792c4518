"""The layer model as a table: front medium, layers (add, insert, delete, move, rename), back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import ipywidgets as w
from ipywidgets.widgets.widget_string import TextStyle

from shiftdesk.errors import ModelError
from shiftdesk.reflectometry import FitProblem
from shiftdesk.reflectometry.layers import _Slab
from shiftdesk_widgets.reflectometry.parameter_editor import ParameterEditor, SharedLook

COLUMNS = ("thickness", "sld", "isld", "roughness")
HEADERS = ("", "name", "thickness (Å)", "SLD (10⁻⁶/Å²)", "iSLD (10⁻⁶/Å²)", "roughness σ (Å)", "")
GLOBALS = ("scale", "background")
W = TypeVar("W", bound=w.Widget)


class _TableLook(SharedLook):
    """The shared layouts and styles of one table: its editors' and its own cells'."""

    def __init__(self) -> None:
        super().__init__()
        self.name = w.Layout(width="80px")
        # "background" in bold needs ~90 px (80 px let it run under its value box)
        self.global_label = w.Layout(width="100px", min_width="100px")
        self.button = w.Layout(width="32px", padding="0")
        self.actions = w.Layout(grid_template_columns="32px 32px", grid_gap="2px")
        self.q = w.Layout(width="170px")
        self.text_style = TextStyle()
        self.button_style = w.ButtonStyle()


class ModelTable(w.VBox):
    """Edit a :class:`~shiftdesk.reflectometry.FitProblem`'s layers and global parameters.

    The table rebuilds itself when the model's structure changes (from here or from
    code); value edits go straight to the parameters.
    """

    #: the widgets closed with the table besides the rows (none until ``__init__`` made them)
    _kept: tuple[w.Widget, ...] = ()

    def __init__(self, problem: FitProblem, on_error: Callable[[str], None] | None = None):
        self.on_error = on_error or (lambda _msg: None)
        self.problem = problem
        self._editors: list[ParameterEditor] = []
        #: the cells made by the last rebuild (closed by the next one)
        self._cells: list[w.Widget] = []
        # one set of layouts and styles for every cell: each widget's own would be two
        # more models for the browser to create
        look = self._look = _TableLook()
        self.grid = w.GridBox(
            layout=w.Layout(
                # narrow enough for the dashboard's model column from 1280 px wide up
                grid_template_columns="50px 82px repeat(4, max-content) max-content",
                grid_gap="2px 6px",
                align_items="center",
            )
        )
        self.add_button = w.Button(
            description="Add layer", icon="plus", layout=look.plain, style=look.button_style
        )
        self.add_button.add_class("sd-add-layer")
        self.add_button.on_click(
            lambda _b: self._run(
                lambda: self.problem.layers.add(thickness=50.0, sld=2.0, roughness=3.0)
            )
        )
        self.globals_box = w.VBox(layout=look.plain)
        self.q_min = w.FloatText(
            description="Q min",
            continuous_update=False,
            layout=look.q,
            style=look.number_style,
        )
        self.q_max = w.FloatText(
            description="Q max",
            continuous_update=False,
            layout=look.q,
            style=look.number_style,
        )
        self.q_all = w.Checkbox(
            description="whole Q range",
            value=True,
            indent=False,
            layout=look.plain,
            style=look.checkbox_style,
        )
        for box in (self.q_min, self.q_max, self.q_all):
            box.observe(self._on_q_range, "value")
        self._syncing = False
        # cells that stay the same whatever the model: made once, kept by rebuilds
        self._headers = [self._html(f"<b>{h}</b>") for h in HEADERS]
        self._front_cells = [self._html("front"), *(self._html("") for _ in range(3))]
        self._back_cells = [self._html("back"), *(self._html("") for _ in range(2))]
        self._global_labels = [self._html(f"<b>{name}</b>", look.global_label) for name in GLOBALS]
        self._q_row = w.HBox([self.q_all, self.q_min, self.q_max], layout=look.plain)
        super().__init__(
            [self.grid, self.add_button, self.globals_box, self._q_row], layout=look.plain
        )
        self._kept = (
            *self._headers,
            *self._front_cells,
            *self._back_cells,
            *self._global_labels,
            self._q_row,
            self.q_all,
            self.q_min,
            self.q_max,
            self.globals_box,
            self.add_button,
            self.grid,
            self.grid.layout,
        )
        self.add_class("sd-model-table")
        problem.observe(self._on_problem)
        self.rebuild()

    def set_problem(self, problem: FitProblem) -> None:
        """Show another model."""
        self.problem.unobserve(self._on_problem)
        self.problem = problem
        problem.observe(self._on_problem)
        self.rebuild()

    def close(self) -> None:
        """Stop following the model and close every widget of the table."""
        # ipywidgets also calls close() when a widget is collected, perhaps half made
        if self._kept:
            self.problem.unobserve(self._on_problem)
            self._clear()
        for part in self._kept:
            part.close()
        super().close()
        if self._kept:
            self._look.close()

    def _on_problem(self, what: str) -> None:
        if what == "structure":
            self.rebuild()
        elif what in ("data", "settings"):
            self._sync_q_range()

    def _run(self, action: Callable[[], object]) -> None:
        try:
            action()
        except (ModelError, KeyError, IndexError) as exc:
            self.on_error(str(exc).strip("'\""))

    # -- building ------------------------------------------------------------------------
    def _html(self, text: str, layout: w.Layout | None = None) -> w.HTML:
        return w.HTML(text, layout=layout or self._look.plain, style=self._look.html_style)

    def _cell(self, widget: W) -> W:
        """``widget``, remembered to be closed by the next rebuild."""
        self._cells.append(widget)
        return widget

    def _editor(self, param: object) -> ParameterEditor:
        editor = ParameterEditor(
            param,  # type: ignore[arg-type]
            on_error=self.on_error,
            look=self._look,
        )
        self._editors.append(editor)
        return editor

    def _name_box(self, slab: _Slab) -> w.Text:
        box = w.Text(
            value=slab.name,
            continuous_update=False,
            layout=self._look.name,
            style=self._look.text_style,
        )
        box.add_class(f"sd-name-{slab.name}")

        def rename(change: dict[str, object]) -> None:
            new = str(change["new"]).strip()
            if new == slab.name:
                return
            try:
                self.problem.rename(slab, new)
            except ModelError as exc:
                self.on_error(str(exc))
                box.value = slab.name

        box.observe(rename, "value")
        return self._cell(box)

    def _actions(self, index: int, layer: _Slab, count: int) -> w.GridBox:
        """The insert, up, down and delete buttons of the layer at ``index``."""
        look, layers = self._look, self.problem.layers
        buttons = []
        for icon, tooltip, css in (
            ("plus", "insert a layer above", "sd-insert"),
            ("arrow-up", "move up", "sd-up"),
            ("arrow-down", "move down", "sd-down"),
            ("trash", "delete layer", "sd-delete"),
        ):
            button = self._cell(
                w.Button(icon=icon, tooltip=tooltip, layout=look.button, style=look.button_style)
            )
            button.add_class(css)
            buttons.append(button)
        insert, up, down, delete = buttons
        insert.on_click(
            lambda _b: self._run(
                lambda: layers.add(index=index, thickness=50.0, sld=2.0, roughness=3.0)
            )
        )
        up.on_click(lambda _b: self._run(lambda: layers.move(layer, index - 1)))
        down.on_click(lambda _b: self._run(lambda: layers.move(layer, index + 1)))
        delete.on_click(lambda _b: self._run(lambda: layers.remove(layer)))
        up.disabled = index == 0
        down.disabled = index == count - 1
        # two by two: four buttons in a row made the table too wide
        return self._cell(w.GridBox(buttons, layout=look.actions))

    def _clear(self) -> None:
        """Close the editors and cells of the last rebuild."""
        for editor in self._editors:
            editor.close()
        for cell in self._cells:
            cell.close()
        self._editors, self._cells = [], []

    def rebuild(self) -> None:
        """Recreate the rows from the model."""
        old = (self._editors, self._cells)
        self._editors, self._cells = [], []
        p = self.problem
        blank = iter(self._front_cells[1:])
        # front medium: no thickness, no roughness of its own
        cells: list[w.Widget] = [
            *self._headers,
            self._front_cells[0],
            self._name_box(p.front),
            next(blank),
            self._editor(p.front.sld),
            self._editor(p.front.isld),
            next(blank),
            next(blank),
        ]
        count = len(p.layers)
        for index, layer in enumerate(p.layers):
            cells += [self._cell(self._html(f"layer {index + 1}")), self._name_box(layer)]
            cells += [self._editor(getattr(layer, attr)) for attr in COLUMNS]
            cells.append(self._actions(index, layer, count))
        back_label, *back_blank = self._back_cells
        cells += [
            back_label,
            self._name_box(p.back),
            back_blank[0],
            self._editor(p.back.sld),
            self._editor(p.back.isld),
            self._editor(p.back.roughness),
            back_blank[1],
        ]
        self.grid.children = cells
        self.globals_box.children = [
            self._cell(w.HBox([label, self._editor(param)], layout=self._look.plain))
            for label, param in zip(self._global_labels, (p.scale, p.background), strict=True)
        ]
        # the new rows are shown: the old ones can go (editors and cells alike)
        new = (self._editors, self._cells)
        self._editors, self._cells = old
        self._clear()
        self._editors, self._cells = new
        self._sync_q_range()

    def editor(self, path: str) -> ParameterEditor:
        """The editor of a parameter by path (``"SiO2.thickness"``)."""
        for editor in self._editors:
            if editor.parameter.path == path:
                return editor
        raise KeyError(path)

    # -- Q range -------------------------------------------------------------------------
    def _sync_q_range(self) -> None:
        p = self.problem
        self._syncing = True
        try:
            data = p.data
            lo = p.q_min if p.q_min is not None else (float(data.q[0]) if data is not None else 0.0)
            hi = (
                p.q_max if p.q_max is not None else (float(data.q[-1]) if data is not None else 0.0)
            )
            self.q_min.value, self.q_max.value = lo, hi
            self.q_all.value = p.q_min is None and p.q_max is None
            self.q_min.disabled = self.q_max.disabled = self.q_all.value or data is None
        finally:
            self._syncing = False

    def _on_q_range(self, _change: dict[str, object]) -> None:
        if self._syncing:
            return
        if self.q_all.value:
            self._run(lambda: self.problem.set_q_range(None, None))
        else:
            self._run(lambda: self.problem.set_q_range(self.q_min.value, self.q_max.value))
        self._sync_q_range()
