"""Editing one Parameter: value, fixed/free, min/max (shown when free), fitted error."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

# the style classes ipywidgets 8 does not export at the top level
from ipywidgets.widgets.widget_bool import CheckboxStyle
from ipywidgets.widgets.widget_description import DescriptionStyle
from ipywidgets.widgets.widget_string import HTMLStyle

from shiftdesk.errors import ModelError
from shiftdesk.reflectometry import Parameter
from shiftdesk.reflectometry.parameter import format_value

#: Width of the value box; the range boxes line up under it.
_VALUE_WIDTH = "74px"
#: Room for the "min"/"max" labels (narrower clips "max" to "m…").
_LABEL_WIDTH = "30px"
#: Significant digits a value box shows: a fitted 578.289728107804 fills the box as
#: 578.29, and is kept in full by the parameter (the box only shows it).
SHOWN_DIGITS = 6
#: A line of the editor's grid of its own, under the value and its "fit" box (the page's
#: ipywidgets apply a child's ``grid_area``, not its ``grid_column``).
WHOLE_LINE = "auto / 1 / auto / -1"


def shown_value(value: float) -> float:
    """``value`` as its box shows it: rounded to :data:`SHOWN_DIGITS` significant digits."""
    return float(f"{value:.{SHOWN_DIGITS}g}")


class SharedLook:
    """Layouts and styles that many parameter editors (and a table's cells) share.

    Each ipywidgets widget otherwise gets a ``Layout`` and a ``Style`` model of its own,
    and every model is one more for the browser to create when the page opens. The
    editors of one table use one set instead. Nothing here may be changed for one
    widget only: an editor's range box, whose ``display`` follows its parameter, keeps a
    layout of its own. Make one set per table (not one per process), so that closing one
    table does not take the look of another with it.
    """

    def __init__(self) -> None:
        #: all defaults: for boxes and labels that set no layout
        self.plain = w.Layout()
        # value and "fit" on the first line; the range and the error on lines of their own
        self.editor = w.Layout(
            width="118px", overflow="hidden", grid_template_columns="max-content max-content"
        )
        self.whole_line = w.Layout(grid_area=WHOLE_LINE)
        self.value = w.Layout(width=_VALUE_WIDTH)
        self.free = w.Layout(width="40px")
        self.bound = w.Layout(width="114px")
        self.number_style = DescriptionStyle()
        self.bound_style = DescriptionStyle(description_width=_LABEL_WIDTH)
        self.checkbox_style = CheckboxStyle()
        self.html_style = HTMLStyle()

    def widgets(self) -> list[w.Widget]:
        """Every layout and style of the set."""
        return [part for part in vars(self).values() if isinstance(part, w.Widget)]

    def close(self) -> None:
        """Close the layouts and styles (once no widget that uses them is shown)."""
        for part in self.widgets():
            part.close()


class ParameterEditor(w.GridBox):
    """A compact editor bound to a :class:`~shiftdesk.reflectometry.Parameter`.

    The value and its "fit" box make the first line; min and max (shown while the
    parameter is free) go on lines of their own under it and the fitted error under
    those, so the model table stays narrow enough for its column at 1280 px. The lines
    are the rows of one grid (no box per line).

    Bad input (a value outside the range, min > max) is refused by the parameter
    itself; the editor shows the reason through ``on_error`` and restores the field.

    Parameters
    ----------
    parameter
        The parameter to edit.
    on_error
        Called with the reason when the parameter refuses an edit.
    look
        Layouts and styles shared with other editors (a table passes one set to all of
        its editors); by default the editor makes its own.

    Notes
    -----
    The min and max fields are made the first time the parameter is free or
    :attr:`min`, :attr:`max` or :attr:`range_box` is read, and the line under them
    the first time it has something to say (a fitted error, "derived", a limit) or
    :attr:`error` is read: most parameters of a model stay fixed and unfitted, and
    hidden or empty widgets would cost the browser as much as shown ones.
    """

    #: the widgets inside the editor, closed with it (none until ``__init__`` made them)
    _parts: tuple[w.Widget, ...] = ()
    _range: tuple[w.FloatText, w.FloatText, w.VBox] | None = None
    _error: w.HTML | None = None

    def __init__(
        self,
        parameter: Parameter,
        on_error: Callable[[str], None] | None = None,
        *,
        look: SharedLook | None = None,
    ) -> None:
        self.parameter = parameter
        self.on_error = on_error or (lambda _msg: None)
        self._syncing = False
        self._own_look = look is None
        self._look = look if look is not None else SharedLook()
        look = self._look
        self.value = w.FloatText(
            layout=look.value, style=look.number_style, continuous_update=False
        )
        self.free = w.Checkbox(
            description="fit", indent=False, layout=look.free, style=look.checkbox_style
        )
        self._parts = (self.value, self.free)
        super().__init__([self.value, self.free], layout=look.editor)
        self.add_class("sd-param")
        self.add_class(f"sd-param-{parameter.path.replace('.', '-')}")
        self.value.observe(self._on_value, "value")
        self.free.observe(self._on_free, "value")
        parameter.observe(self._on_parameter)
        self.sync()

    @property
    def min(self) -> w.FloatText:
        """The field of the range's lower end."""
        return self._range_widgets()[0]

    @property
    def max(self) -> w.FloatText:
        """The field of the range's upper end."""
        return self._range_widgets()[1]

    @property
    def range_box(self) -> w.VBox:
        """The box of the min and max fields, hidden while the parameter is fixed."""
        return self._range_widgets()[2]

    @property
    def error(self) -> w.HTML:
        """The line under the value: the fitted error, "derived", a range limit reached."""
        if self._error is None:
            look = self._look
            self._error = w.HTML(layout=look.whole_line, style=look.html_style)
            self._lay_out()
        return self._error

    def _lay_out(self) -> None:
        """The grid's rows: value and "fit", then the range box and the error line once made."""
        rows = [self._range[2] if self._range is not None else None, self._error]
        self.children = [self.value, self.free, *(row for row in rows if row is not None)]

    def _range_widgets(self) -> tuple[w.FloatText, w.FloatText, w.VBox]:
        if self._range is None:
            p, look = self.parameter, self._look
            lo, hi = _default_range(p)
            low, high = (
                w.FloatText(
                    value=value,
                    description=label,
                    continuous_update=False,
                    layout=look.bound,
                    style=look.bound_style,
                )
                for value, label in ((lo, "min"), (hi, "max"))
            )
            # a layout of its own: its display follows this parameter only
            box = w.VBox(
                [low, high],
                layout=w.Layout(display="" if p.free else "none", grid_area=WHOLE_LINE),
            )
            low.observe(self._on_range, "value")
            high.observe(self._on_range, "value")
            self._range = (low, high, box)
            self._lay_out()
        return self._range

    def close(self) -> None:
        """Detach from the parameter and close the widgets."""
        # ipywidgets also calls close() when a widget is collected, perhaps half made
        if self._parts:
            self.parameter.unobserve(self._on_parameter)
        parts = list(self._parts)
        if self._error is not None:
            parts.append(self._error)
        if self._range is not None:
            parts += [*self._range, self._range[2].layout]
        for part in parts:
            part.close()
        super().close()
        if self._parts and self._own_look:
            self._look.close()

    # -- model → view ------------------------------------------------------------------
    def _on_parameter(self, _param: Parameter, _what: str) -> None:
        self.sync()

    def sync(self) -> None:
        """Show the parameter's current state."""
        p = self.parameter
        self._syncing = True
        try:
            with self.hold_sync():
                # a box keeps the value it shows unless that differs beyond its digits
                if shown_value(self.value.value) != shown_value(p.value):
                    self.value.value = shown_value(p.value)
                self.free.value = p.free
                if p.free or self._range is not None:
                    low, high, box = self._range_widgets()
                    low.value, high.value = _default_range(p)
                    box.layout.display = "" if p.free else "none"
                note = (
                    f"<span class='sd-error-text'>± {format_value(p.error, None)}</span>"
                    if p.error
                    else ""
                )
                # a derived parameter follows its constraint: shown, not edited
                derived = p.derived
                self.value.disabled = self.free.disabled = derived
                if derived:
                    text = html.escape(p.constraint.text, quote=True)
                    note += f" <span class='sd-derived' title='{text}'>= derived</span>"
                if p.at_limit:
                    note += " <span style='color:#a15c00' title='on range limit'>⚠</span>"
                if note or self._error is not None:
                    self.error.value = note
        finally:
            self._syncing = False

    # -- view → model ------------------------------------------------------------------
    def _apply(self, action: Callable[[], object]) -> None:
        try:
            action()
        except ModelError as exc:
            self.on_error(str(exc))
            self.sync()

    def _on_value(self, change: dict[str, object]) -> None:
        if self._syncing:
            return
        new = change["new"]
        # the rounded value shown is the parameter's: only a real edit changes it
        if isinstance(new, float) and new == shown_value(self.parameter.value):
            return
        self._apply(lambda: setattr(self.parameter, "value", new))

    def _on_free(self, change: dict[str, object]) -> None:
        if self._syncing:
            return
        if change["new"]:
            self._apply(lambda: self.parameter.fit(self.min.value, self.max.value))
        else:
            self._apply(self.parameter.fix)

    def _on_range(self, _change: dict[str, object]) -> None:
        if self._syncing:
            return
        if self.parameter.free:
            self._apply(lambda: self.parameter.fit(self.min.value, self.max.value))
        else:
            self._apply(lambda: self.parameter.set_range(self.min.value, self.max.value))


def _default_range(p: Parameter) -> tuple[float, float]:
    """The range shown before the user sets one: around the value, within limits."""
    if p.bounds is not None:
        return p.bounds
    value = p.value
    if value == 0:
        lo, hi = (0.0, 1.0) if p.name != "background" else (0.0, 1e-5)
    else:
        lo, hi = sorted((value * 0.5, value * 1.5))
    if p.lower_limit is not None:
        lo = max(lo, p.lower_limit)
    return lo, hi
