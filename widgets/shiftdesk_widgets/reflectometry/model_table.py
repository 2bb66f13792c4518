"""The layer model as a table: front medium, layers (add, insert, delete, move, rename), back."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from shiftdesk.errors import ModelError
from shiftdesk.reflectometry import FitProblem
from shiftdesk.reflectometry.layers import _Slab
from shiftdesk_widgets.reflectometry.parameter_editor import ParameterEditor

COLUMNS = ("thickness", "sld", "isld", "roughness")
HEADERS = ("", "name", "thickness (Å)", "SLD (10⁻⁶/Å²)", "iSLD (10⁻⁶/Å²)", "roughness σ (Å)", "")


def _small_button(icon: str, tooltip: str, css: str) -> w.Button:
    button = w.Button(icon=icon, tooltip=tooltip, layout=w.Layout(width="32px", padding="0"))
    button.add_class(css)
    return button


class ModelTable(w.VBox):
    """Edit a :class:`~shiftdesk.reflectometry.FitProblem`'s layers and global parameters.

    The table rebuilds itself when the model's structure changes (from here or from
    code); value edits go straight to the parameters.
    """

    def __init__(self, problem: FitProblem, on_error: Callable[[str], None] | None = None):
        self.on_error = on_error or (lambda _msg: None)
        self.problem = problem
        self._editors: list[ParameterEditor] = []
        self.grid = w.GridBox(
            layout=w.Layout(
                # narrow enough for the dashboard's model column from 1280 px wide up
                grid_template_columns="50px 82px repeat(4, max-content) max-content",
                grid_gap="2px 6px",
                align_items="center",
            )
        )
        self.add_button = w.Button(description="Add layer", icon="plus")
        self.add_button.add_class("sd-add-layer")
        self.add_button.on_click(
            lambda _b: self._run(lambda: problem.layers.add(thickness=50.0, sld=2.0, roughness=3.0))
        )
        self.globals_box = w.VBox()
        self.q_min = w.FloatText(
            description="Q min", continuous_update=False, layout=w.Layout(width="170px")
        )
        self.q_max = w.FloatText(
            description="Q max", continuous_update=False, layout=w.Layout(width="170px")
        )
        self.q_all = w.Checkbox(description="whole Q range", value=True, indent=False)
        for box in (self.q_min, self.q_max, self.q_all):
            box.observe(self._on_q_range, "value")
        self._syncing = False
        super().__init__(
            [
                self.grid,
                self.add_button,
                self.globals_box,
                w.HBox([self.q_all, self.q_min, self.q_max]),
            ]
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
    def _editor(self, param: object) -> ParameterEditor:
        editor = ParameterEditor(param, on_error=self.on_error)  # type: ignore[arg-type]
        self._editors.append(editor)
        return editor

    def _name_box(self, slab: _Slab) -> w.Text:
        box = w.Text(value=slab.name, continuous_update=False, layout=w.Layout(width="80px"))
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
        return box

    def rebuild(self) -> None:
        """Recreate the rows from the model."""
        for editor in self._editors:
            editor.close()
        self._editors = []
        p = self.problem
        cells: list[w.Widget] = [w.HTML(f"<b>{h}</b>") for h in HEADERS]
        blank = lambda: w.HTML("")  # noqa: E731
        # front medium: no thickness, no roughness of its own
        cells += [
            w.HTML("front"),
            self._name_box(p.front),
            blank(),
            self._editor(p.front.sld),
            self._editor(p.front.isld),
            blank(),
            blank(),
        ]
        count = len(p.layers)
        for index, layer in enumerate(p.layers):
            # two by two: four buttons in a row made the table too wide
            actions = w.GridBox(
                [
                    _small_button("plus", "insert a layer above", "sd-insert"),
                    _small_button("arrow-up", "move up", "sd-up"),
                    _small_button("arrow-down", "move down", "sd-down"),
                    _small_button("trash", "delete layer", "sd-delete"),
                ],
                layout=w.Layout(grid_template_columns="32px 32px", grid_gap="2px"),
            )
            insert, up, down, delete = actions.children
            insert.on_click(
                lambda _b, i=index: self._run(
                    lambda: p.layers.add(index=i, thickness=50.0, sld=2.0, roughness=3.0)
                )
            )
            up.on_click(lambda _b, lay=layer, i=index: self._run(lambda: p.layers.move(lay, i - 1)))
            down.on_click(
                lambda _b, lay=layer, i=index: self._run(lambda: p.layers.move(lay, i + 1))
            )
            delete.on_click(lambda _b, lay=layer: self._run(lambda: p.layers.remove(lay)))
            up.disabled = index == 0
            down.disabled = index == count - 1
            cells += [w.HTML(f"layer {index + 1}"), self._name_box(layer)]
            cells += [self._editor(getattr(layer, attr)) for attr in COLUMNS]
            cells.append(actions)
        cells += [
            w.HTML("back"),
            self._name_box(p.back),
            blank(),
            self._editor(p.back.sld),
            self._editor(p.back.isld),
            self._editor(p.back.roughness),
            blank(),
        ]
        self.grid.children = cells
        self.globals_box.children = [
            w.HBox([w.HTML("<b>scale</b>", layout=w.Layout(width="80px")), self._editor(p.scale)]),
            w.HBox(
                [
                    w.HTML("<b>background</b>", layout=w.Layout(width="80px")),
                    self._editor(p.background),
                ]
            ),
        ]
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
