"""Editing one Parameter: value, fixed/free, min/max (shown when free), fitted error."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

from shiftdesk.errors import ModelError
from shiftdesk.reflectometry import Parameter
from shiftdesk.reflectometry.parameter import format_value

#: Width of the value box; the range boxes line up under it.
_VALUE_WIDTH = "74px"
#: Room for the "min"/"max" labels (narrower clips "max" to "m…").
_LABEL_WIDTH = "30px"


class ParameterEditor(w.VBox):
    """A compact editor bound to a :class:`~shiftdesk.reflectometry.Parameter`.

    The value and its "fit" box make the first line; min and max (shown while the
    parameter is free) go on lines of their own under it and the fitted error under
    those, so the model table stays narrow enough for its column at 1280 px.

    Bad input (a value outside the range, min > max) is refused by the parameter
    itself; the editor shows the reason through ``on_error`` and restores the field.
    """

    def __init__(self, parameter: Parameter, on_error: Callable[[str], None] | None = None) -> None:
        self.parameter = parameter
        self.on_error = on_error or (lambda _msg: None)
        self._syncing = False
        self.value = w.FloatText(layout=w.Layout(width=_VALUE_WIDTH), continuous_update=False)
        self.free = w.Checkbox(description="fit", indent=False, layout=w.Layout(width="40px"))
        self.min = w.FloatText(continuous_update=False, description="min")
        self.max = w.FloatText(continuous_update=False, description="max")
        for box in (self.min, self.max):
            box.style.description_width = _LABEL_WIDTH
            box.layout.width = "114px"
        self.error = w.HTML()
        self.range_box = w.VBox([self.min, self.max])
        super().__init__(
            [w.HBox([self.value, self.free]), self.range_box, self.error],
            layout=w.Layout(width="118px", overflow="hidden"),
        )
        self.add_class("sd-param")
        self.add_class(f"sd-param-{parameter.path.replace('.', '-')}")
        self.value.observe(self._on_value, "value")
        self.free.observe(self._on_free, "value")
        self.min.observe(self._on_range, "value")
        self.max.observe(self._on_range, "value")
        parameter.observe(self._on_parameter)
        self.sync()

    def close(self) -> None:
        """Detach from the parameter and close the widgets."""
        self.parameter.unobserve(self._on_parameter)
        super().close()

    # -- model → view ------------------------------------------------------------------
    def _on_parameter(self, _param: Parameter, _what: str) -> None:
        self.sync()

    def sync(self) -> None:
        """Show the parameter's current state."""
        p = self.parameter
        self._syncing = True
        try:
            with self.hold_sync():
                self.value.value = p.value
                self.free.value = p.free
                lo, hi = _default_range(p)
                self.min.value = lo
                self.max.value = hi
                self.range_box.layout.display = "" if p.free else "none"
                self.error.value = (
                    f"<span class='sd-error-text'>± {format_value(p.error, None)}</span>"
                    if p.error
                    else ""
                )
                # a derived parameter follows its constraint: shown, not edited
                derived = p.derived
                self.value.disabled = self.free.disabled = derived
                if derived:
                    text = html.escape(p.constraint.text, quote=True)
                    self.error.value += f" <span class='sd-derived' title='{text}'>= derived</span>"
                if p.at_limit:
                    self.error.value += (
                        " <span style='color:#a15c00' title='on range limit'>⚠</span>"
                    )
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
        if not self._syncing:
            self._apply(lambda: setattr(self.parameter, "value", change["new"]))

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
