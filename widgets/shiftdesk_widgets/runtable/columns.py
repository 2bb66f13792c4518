"""Taming a wide table: show, hide and reorder columns, pick them by tag, filter, sort.

Every change becomes a new settings dict (:mod:`shiftdesk_widgets.runtable.settings`)
applied to the grid and handed to ``on_change`` (the view stores it per user).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.runtable.grid import RunGrid, error_text
from shiftdesk_widgets.runtable.settings import describe_filter

SettingsCallback = Callable[[dict[str, Any]], Any]
_KINDS = [("range", "range"), ("contains", "text"), ("has a value", "has"), ("is empty", "empty")]


def _classed(widget: Any, *classes: str) -> Any:
    for css in classes:
        widget.add_class(css)
    return widget


def _number(text: str, what: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} is not a number: {text!r}") from None


class ColumnsPanel(w.VBox):
    """Column choice, tags, filters and sort of a :class:`RunGrid`.

    Parameters
    ----------
    grid : RunGrid
        The grid it controls.
    on_change : callable, optional
        ``on_change(settings)`` after every change (to remember it for the user); an
        exception's message is shown in the panel.
    """

    def __init__(self, grid: RunGrid, on_change: SettingsCallback | None = None) -> None:
        self.grid = grid
        self.on_change = on_change
        self._loading = False
        self.message = _classed(w.HTML(), "sd-rt-columns-message")
        lay = w.Layout(width="260px", height="180px")
        self.search = _classed(
            w.Text(placeholder="find a column", layout=w.Layout(width="260px")),
            "sd-rt-column-search",
        )
        self.search.observe(lambda _c: self._fill_lists(), "value")
        self.shown = _classed(w.SelectMultiple(layout=lay), "sd-rt-shown")
        self.hidden = _classed(w.SelectMultiple(layout=lay), "sd-rt-hidden")
        self.hide_button = _classed(w.Button(description="Hide", icon="eye-slash"), "sd-rt-hide")
        self.show_button = _classed(w.Button(description="Show", icon="eye"), "sd-rt-show")
        self.up_button = _classed(w.Button(description="Left", icon="arrow-left"), "sd-rt-up")
        self.down_button = _classed(w.Button(description="Right", icon="arrow-right"), "sd-rt-down")
        self.all_button = _classed(w.Button(description="Show all"), "sd-rt-show-all")
        small = w.Layout(width="110px")
        for button in (self.hide_button, self.show_button, self.up_button, self.down_button,
                       self.all_button):  # fmt: skip
            button.layout = small
        self.hide_button.on_click(lambda _b: self.hide(list(self.shown.value)))
        self.show_button.on_click(lambda _b: self.show(list(self.hidden.value)))
        self.up_button.on_click(lambda _b: self.move(list(self.shown.value), -1))
        self.down_button.on_click(lambda _b: self.move(list(self.shown.value), +1))
        self.all_button.on_click(lambda _b: self.show_all())

        self.tags_box = _classed(w.HBox(), "sd-rt-tags")
        self.tag_buttons: dict[str, w.ToggleButton] = {}

        self.filter_column = _classed(
            w.Dropdown(description="filter", layout=w.Layout(width="260px"),
                       style={"description_width": "40px"}),
            "sd-rt-filter-column",
        )  # fmt: skip
        self.filter_kind = _classed(
            w.Dropdown(options=_KINDS, value="range", layout=w.Layout(width="120px")),
            "sd-rt-filter-kind",
        )
        self.filter_kind.observe(lambda _c: self._kind_inputs(), "value")
        self.filter_min = _classed(
            w.Text(placeholder="min", layout=w.Layout(width="90px")), "sd-rt-filter-min"
        )
        self.filter_max = _classed(
            w.Text(placeholder="max", layout=w.Layout(width="90px")), "sd-rt-filter-max"
        )
        self.filter_text = _classed(
            w.Text(placeholder="text", layout=w.Layout(width="180px", display="none")),
            "sd-rt-filter-text",
        )
        self.filter_add = _classed(
            w.Button(description="Apply filter", icon="filter", layout=w.Layout(width="120px")),
            "sd-rt-filter-add",
        )
        self.filter_add.on_click(lambda _b: self.add_filter_from_inputs())
        self.filters_box = _classed(w.VBox(), "sd-rt-filters")

        self.sort_by = _classed(
            w.Dropdown(description="sort by", layout=w.Layout(width="260px"),
                       style={"description_width": "50px"}),
            "sd-rt-sort-by",
        )  # fmt: skip
        self.descending = _classed(w.Checkbox(description="descending", indent=False),
                                   "sd-rt-sort-desc")  # fmt: skip
        for widget in (self.sort_by, self.descending):
            widget.observe(lambda _c: self._sort_changed(), "value")

        lists = w.HBox(
            [
                w.VBox([w.HTML("<b>Shown</b> (in order)"), self.shown]),
                w.VBox([self.hide_button, self.show_button, self.up_button, self.down_button,
                        self.all_button], layout=w.Layout(justify_content="center")),
                w.VBox([w.HTML("<b>Hidden</b>"), self.hidden]),
            ]
        )  # fmt: skip
        super().__init__(
            [
                self.message,
                w.HBox(
                    [w.HTML("<b>Tags</b>&nbsp;"), self.tags_box],
                    layout=w.Layout(align_items="center"),
                ),
                self.search,
                lists,
                w.HBox([self.sort_by, self.descending]),
                w.HBox([self.filter_column, self.filter_kind, self.filter_min, self.filter_max,
                        self.filter_text, self.filter_add]),
                self.filters_box,
            ]
        )  # fmt: skip
        _classed(self, "sd-rt-columns", "sd-rt-panel")
        grid.observe(self._grid_changed, "settings_version")
        self.refresh()

    # -- reading the grid ---------------------------------------------------------------
    def _label(self, name: str) -> str:
        column = self.grid.columns[name]
        label = column.label
        return label if label == name else f"{label} ({name})"

    def refresh(self) -> None:
        """Show the grid's current settings and columns."""
        self._loading = True
        try:
            self._fill_lists()
            self._fill_tags()
            names = list(self.grid.settings["order"])
            options = [("run", "run")] + [(self._label(n), n) for n in names]
            chosen = self.filter_column.value
            self.filter_column.options = options
            names_here = [v for _l, v in options]
            variables = [n for n in names_here if n not in ("run", "start_time", "comment")]
            if chosen in names_here:
                self.filter_column.value = chosen
            elif names_here:
                self.filter_column.value = variables[0] if variables else names_here[0]
            self.sort_by.options = options
            sort = self.grid.settings["sort"]
            self.sort_by.value = sort["by"]
            self.descending.value = bool(sort["descending"])
            self._fill_filters()
            self._kind_inputs()
        finally:
            self._loading = False

    def _fill_lists(self) -> None:
        settings = self.grid.settings
        needle = self.search.value.strip().lower()
        hidden = set(settings["hidden"])

        def matches(name: str) -> bool:
            return not needle or needle in self._label(name).lower()

        self.shown.options = [
            (self._label(n), n) for n in settings["order"] if n not in hidden and matches(n)
        ]
        self.hidden.options = [
            (self._label(n), n) for n in settings["order"] if n in hidden and matches(n)
        ]

    def _fill_tags(self) -> None:
        tags = sorted({t for c in self.grid.columns.values() for t in c.tags})
        chosen = set(self.grid.settings["tags"])
        if list(self.tag_buttons) != tags:
            self.tag_buttons = {}
            for tag in tags:
                button = _classed(
                    w.ToggleButton(description=tag, layout=w.Layout(width="auto")),
                    "sd-rt-tag",
                )
                button.observe(lambda _c: self._tags_changed(), "value")
                self.tag_buttons[tag] = button
            self.tags_box.children = list(self.tag_buttons.values()) or [
                w.HTML("<i>no tags in this table</i>")
            ]
        for tag, button in self.tag_buttons.items():
            button.value = tag in chosen

    def _fill_filters(self) -> None:
        rows = []
        for name, spec in self.grid.settings["filters"].items():
            remove = _classed(
                w.Button(icon="times", tooltip="remove this filter", layout=w.Layout(width="36px")),
                "sd-rt-filter-remove",
            )
            remove.on_click(lambda _b, n=name: self.remove_filter(n))
            rows.append(w.HBox([w.HTML(f"⧩ {describe_filter(name, spec)}"), remove]))
        self.filters_box.children = rows

    def _kind_inputs(self) -> None:
        kind = self.filter_kind.value
        self.filter_min.layout.display = self.filter_max.layout.display = (
            None if kind == "range" else "none"
        )
        self.filter_text.layout.display = None if kind == "text" else "none"

    # -- changing -----------------------------------------------------------------------
    def say(self, kind: str, text: str) -> None:
        """A message at the top of the panel."""
        color = {"info": "#1b5e20", "warning": "#a15c00", "error": "#b00020"}.get(kind, "#333")
        self.message.value = f"<div style='color:{color}'>{text}</div>"

    def apply(self, settings: dict[str, Any]) -> None:
        """Apply ``settings`` to the grid, show them, and hand them to ``on_change``."""
        self.grid.apply_settings(settings)

    def _grid_changed(self, _change: dict[str, Any]) -> None:
        # every change of the grid's settings (here or its own page size) is remembered
        self.refresh()
        if self.on_change is not None:
            try:
                self.on_change(copy.deepcopy(self.grid.settings))
            except Exception as exc:  # shown: the choice still applies in this page
                self.say("warning", f"not remembered: {error_text(exc)}")

    def _settings(self) -> dict[str, Any]:
        return copy.deepcopy(self.grid.settings)

    def hide(self, names: list[str]) -> None:
        """Hide columns."""
        settings = self._settings()
        settings["hidden"] = list(dict.fromkeys(settings["hidden"] + names))
        self.apply(settings)

    def show(self, names: list[str]) -> None:
        """Show hidden columns."""
        settings = self._settings()
        settings["hidden"] = [n for n in settings["hidden"] if n not in set(names)]
        self.apply(settings)

    def show_all(self) -> None:
        """Show every column (and forget the tag choice)."""
        settings = self._settings()
        settings["hidden"], settings["tags"] = [], []
        self.apply(settings)

    def move(self, names: list[str], step: int) -> None:
        """Move columns left (``step`` < 0) or right among the shown ones."""
        if not names:
            self.say("warning", "pick columns in the Shown list first")
            return
        settings = self._settings()
        order: list[str] = settings["order"]
        hidden = set(settings["hidden"])
        visible = [n for n in order if n not in hidden]
        moving = set(names)
        seq = visible if step < 0 else visible[::-1]
        for i in range(1, len(seq)):
            if seq[i] in moving and seq[i - 1] not in moving:
                seq[i - 1], seq[i] = seq[i], seq[i - 1]
        visible = seq if step < 0 else seq[::-1]
        it = iter(visible)
        settings["order"] = [n if n in hidden else next(it) for n in order]
        self.apply(settings)
        self.shown.value = tuple(n for n in names if n in dict(self.shown.options).values())

    def _tags_changed(self) -> None:
        if self._loading:
            return
        settings = self._settings()
        settings["tags"] = [t for t, b in self.tag_buttons.items() if b.value]
        self.apply(settings)

    def _sort_changed(self) -> None:
        if self._loading or self.sort_by.value is None:
            return
        settings = self._settings()
        settings["sort"] = {"by": self.sort_by.value, "descending": bool(self.descending.value)}
        self.apply(settings)

    def set_filter(self, name: str, spec: dict[str, Any]) -> None:
        """Add or replace the filter of column ``name``."""
        settings = self._settings()
        settings["filters"][name] = spec
        self.apply(settings)

    def remove_filter(self, name: str) -> None:
        """Drop the filter of column ``name``."""
        settings = self._settings()
        settings["filters"].pop(name, None)
        self.apply(settings)

    def add_filter_from_inputs(self) -> None:
        """The filter typed in the inputs, applied."""
        name, kind = self.filter_column.value, self.filter_kind.value
        if name is None:
            return
        try:
            if kind == "range":
                low = _number(self.filter_min.value, "min")
                high = _number(self.filter_max.value, "max")
                if low is not None and high is not None and low > high:
                    raise ValueError(f"min {low:g} is above max {high:g}")
                spec: dict[str, Any] = {"kind": "range", "min": low, "max": high}
            elif kind == "text":
                if not self.filter_text.value.strip():
                    raise ValueError("type the text the column must contain")
                spec = {"kind": "text", "contains": self.filter_text.value.strip()}
            else:
                spec = {"kind": "has_value", "value": kind == "has"}
        except ValueError as exc:
            self.say("error", f"filter not applied: {error_text(exc)}")
            return
        self.set_filter(name, spec)
        shown = len(self.grid.runs)
        self.say("info", f"{describe_filter(name, spec)}: {shown} runs shown")
