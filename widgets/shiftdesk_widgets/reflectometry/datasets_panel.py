"""Data sets of a simultaneous fit: add and remove them, pick the model to edit, tie."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

from shiftdesk.errors import ModelError
from shiftdesk.reflectometry import FitProblem, ReflData


class DatasetsPanel(w.VBox):
    """Manage the data sets of a :class:`~shiftdesk.reflectometry.FitProblem`.

    Parameters
    ----------
    problem : FitProblem
        The problem (its first data set).
    get_data : callable
        Returns the data to add as a new data set (the dashboard's selection in "my
        data"), or raises ``ModelError`` / returns None with a reason shown.
    on_select : callable
        Called with a data set's model when the user picks which model to edit.
    """

    def __init__(
        self,
        problem: FitProblem,
        get_data: Callable[[], ReflData | None],
        on_select: Callable[[FitProblem], None],
    ) -> None:
        self.problem = problem
        self.get_data = get_data
        self.on_select = on_select
        self._syncing = False
        # descriptions and buttons sized to their words (the defaults cut them short:
        # "edit mode…", "Tie across data …")
        wide_label = {"description_width": "100px"}
        self.selector = w.Dropdown(
            description="edit model of", layout=w.Layout(width="320px"), style=wide_label
        )
        self.selector.add_class("sd-dataset-select")
        self.selector.observe(self._on_select, "value")
        self.name = w.Text(
            description="name",
            placeholder="e.g. h2o",
            layout=w.Layout(width="320px"),
            style=wide_label,
        )
        self.name.add_class("sd-dataset-name")
        self.add_button = w.Button(
            description="Add data set",
            icon="plus",
            tooltip="add the data selected in 'my data' as another data set, fitted together",
            layout=w.Layout(width="auto"),
        )
        self.add_button.add_class("sd-add-dataset")
        self.add_button.on_click(lambda _b: self.add())
        self.remove_button = w.Button(
            description="Remove data set", icon="trash", layout=w.Layout(width="auto")
        )
        self.remove_button.add_class("sd-remove-dataset")
        self.remove_button.on_click(lambda _b: self.remove())
        self.tie_parameter = w.Dropdown(
            description="tie", layout=w.Layout(width="320px"), style=wide_label
        )
        self.tie_parameter.add_class("sd-tie-parameter")
        self.tie_button = w.Button(
            description="Tie across data sets",
            icon="link",
            tooltip="every other data set's parameter follows the first data set's",
            layout=w.Layout(width="auto"),
        )
        self.tie_button.add_class("sd-tie")
        self.tie_button.on_click(lambda _b: self.tie())
        self.summary = w.HTML()
        self.error = w.HTML()
        self.error.add_class("sd-dataset-error")
        super().__init__(
            [
                w.HBox([self.selector, self.remove_button]),
                w.HBox([self.name, self.add_button]),
                w.HBox([self.tie_parameter, self.tie_button]),
                self.error,
                self.summary,
            ]
        )
        self.add_class("sd-datasets-panel")
        problem.observe(self._on_problem)
        self.sync()

    def set_problem(self, problem: FitProblem) -> None:
        """Manage another problem's data sets."""
        self.problem.unobserve(self._on_problem)
        self.problem = problem
        problem.observe(self._on_problem)
        self.error.value = ""
        self.sync()

    def close(self) -> None:
        """Stop observing the problem and close the widgets."""
        self.problem.unobserve(self._on_problem)
        super().close()

    def _on_problem(self, what: str) -> None:
        if what in ("structure", "data", "range"):
            self.sync()

    # -- view --------------------------------------------------------------------------
    @property
    def selected(self) -> FitProblem:
        """The data set's model chosen for editing."""
        name = self.selector.value
        datasets = self.problem.datasets
        return datasets.get(name, self.problem) if name else self.problem

    def sync(self) -> None:
        """Show the problem's data sets and tie-able parameters."""
        datasets = self.problem.datasets
        self._syncing = True
        try:
            options = [
                (f"{name}: {ds.data.name if ds.data is not None else 'no data'}", name)
                for name, ds in datasets.items()
            ]
            current = self.selector.value
            self.selector.options = options
            self.selector.value = current if current in datasets else next(iter(datasets))
            paths = list(self.problem.parameters())
            keep = self.tie_parameter.value
            self.tie_parameter.options = paths
            self.tie_parameter.value = keep if keep in paths else (paths[0] if paths else None)
        finally:
            self._syncing = False
        several = len(datasets) > 1
        self.tie_button.disabled = self.tie_parameter.disabled = not several
        self.remove_button.disabled = self.selector.value == self.problem.dataset_name
        rows = "".join(
            f"<li><b>{html.escape(name)}</b>: {html.escape(ds.describe())}, "
            f"{len(ds.data) if ds.data is not None else 0} points, "
            f"{len(ds.free_parameters())} free</li>"
            for name, ds in datasets.items()
        )
        note = "" if several else "<small>one data set: add another to fit them together</small>"
        self.summary.value = f"<ul class='sd-dataset-list'>{rows}</ul>{note}"

    def _on_select(self, _change: dict[str, object]) -> None:
        if self._syncing:
            return
        self.remove_button.disabled = self.selector.value == self.problem.dataset_name
        self.on_select(self.selected)

    def select(self, name: str) -> None:
        """Edit data set ``name``'s model."""
        self.selector.value = name

    # -- actions -----------------------------------------------------------------------
    def _fail(self, message: str) -> None:
        self.error.value = f"<div style='color:#b00020'>{html.escape(message)}</div>"

    def add(self) -> FitProblem | None:
        """Add the selected data as a new data set (named as typed); select it."""
        try:
            data = self.get_data()
        except ModelError as exc:
            self._fail(str(exc))
            return None
        if data is None:
            self._fail("pick a data file in 'my data' (or upload one) to add as a data set")
            return None
        try:
            child = self.problem.add_dataset(data, name=self.name.value.strip() or None)
        except ModelError as exc:
            self._fail(str(exc))
            return None
        self.error.value = ""
        self.name.value = ""
        self.sync()
        self.select(child.dataset_name)
        return child

    def remove(self) -> None:
        """Remove the data set being edited (not the first)."""
        name = self.selector.value
        try:
            self.problem.remove_dataset(name)
        except (ModelError, KeyError) as exc:
            self._fail(str(exc).strip("'\""))
            return
        self.error.value = ""
        self.sync()
        self.select(self.problem.dataset_name)

    def tie(self) -> None:
        """Tie the chosen parameter of every other data set to the first data set's."""
        path = self.tie_parameter.value
        if not path:
            return
        try:
            made = self.problem.tie(path)
        except ModelError as exc:
            self._fail(str(exc))
            return
        self.error.value = (
            "<div style='color:#1b5e20'>tied: "
            + html.escape("; ".join(c.text for c in made))
            + "</div>"
        )
