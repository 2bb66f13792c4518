"""Planning calculators as panels: neutron SLD of a material, battery electrode capacity.

Each panel recalculates as soon as an input changes (the calculators take microseconds)
and on its Calculate button; bad input shows as a message in the panel, never raises.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from shiftdesk.display import table
from shiftdesk.reflectometry.tools import (
    DEFAULT_WAVELENGTH,
    CalculatorError,
    Capacity,
    SLDResult,
    capacity,
    sld,
)

_LABEL_WIDTH = "150px"


def _field(widget: w.Widget, css: str) -> w.Widget:
    widget.style.description_width = _LABEL_WIDTH
    widget.layout.width = "320px"
    widget.add_class(css)
    return widget


def _optional_number(text: str, what: str) -> float | None:
    """``None`` for an empty box, else the number typed (a clear error otherwise)."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise CalculatorError(f"{what} must be a number or empty, not {text!r}") from None


class _Calculator(w.VBox):
    """Inputs, a Calculate button, a result table and an error line."""

    title = ""

    def __init__(self, inputs: list[w.Widget], css: str) -> None:
        self._listeners: list[Callable[[Any], None]] = []
        self.button = w.Button(description="Calculate", icon="calculator")
        self.button.add_class(f"{css}-calculate")
        self.output = w.HTML()
        self.output.add_class(f"{css}-result")
        self.error = w.HTML()
        self.error.add_class(f"{css}-error")
        self.button.on_click(lambda _b: self.calculate())
        for box in inputs:
            box.observe(lambda _c: self.calculate(), "value")
        super().__init__(
            [
                w.HTML(f"<b>{html.escape(self.title)}</b>"),
                *inputs,
                self.button,
                self.output,
                self.error,
            ]
        )
        self.add_class(css)

    def _compute(self) -> Any:
        raise NotImplementedError

    def _render(self, result: Any) -> str:
        raise NotImplementedError

    def calculate(self) -> Any:
        """Recalculate from the inputs; returns the result, or None after showing an error."""
        try:
            result = self._compute()
        except CalculatorError as exc:
            self.result = None
            self.output.value = ""
            self.error.value = f"<span class='sd-bad'>⚠ {html.escape(str(exc))}</span>"
            return None
        self.result = result
        self.error.value = ""
        self.output.value = self._render(result)
        for listener in list(self._listeners):
            listener(result)
        return result

    def on_result(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener(result)`` after every successful calculation."""
        self._listeners.append(listener)


class SLDCalculator(_Calculator):
    """Neutron SLD, absorption and incoherent SLD from a formula, density and wavelength.

    Parameters
    ----------
    formula : str
        Starting formula.
    density : float, optional
        Starting density (g/cm³); empty uses the density periodictable knows.
    """

    title = "Neutron SLD calculator"
    result: SLDResult | None

    def __init__(self, formula: str = "Si", density: float | None = None) -> None:
        self.formula = _field(
            w.Text(value=formula, description="formula", continuous_update=False), "sd-sld-formula"
        )
        self.density = _field(
            w.Text(
                value="" if density is None else f"{density:g}",
                description="density (g/cm³)",
                placeholder="known for elements",
                continuous_update=False,
            ),
            "sd-sld-density",
        )
        self.wavelength = _field(
            w.FloatText(value=DEFAULT_WAVELENGTH, description="wavelength (Å)"),
            "sd-sld-wavelength",
        )
        self.result = None
        super().__init__([self.formula, self.density, self.wavelength], "sd-sld")
        self.calculate()

    def _compute(self) -> SLDResult:
        density = _optional_number(self.density.value, "the density")
        return sld(self.formula.value, density=density, wavelength=self.wavelength.value)

    def _render(self, result: SLDResult) -> str:
        rows = [
            ("SLD", f"{result.sld:.4f}"),
            ("absorption (iSLD)", f"{result.isld:.4g}"),
            ("incoherent SLD", f"{result.incoherent:.4g}"),
            ("density used (g/cm³)", f"{result.density:g}"),
        ]
        return table(rows, ["10⁻⁶/Å²", ""])


class CapacityCalculator(_Calculator):
    """Capacity and C-rate currents of a disc-shaped thin-film battery electrode.

    The starting values are the ORNL calculator's: Si, 2 cm radius, 75 nm, 3.75 Li per
    Si, oxidation-state change 1.
    """

    title = "Battery capacity and C-rate calculator"
    result: Capacity | None

    def __init__(self) -> None:
        self.formula = _field(
            w.Text(value="Si", description="electrode formula", continuous_update=False),
            "sd-cap-formula",
        )
        self.radius = _field(w.FloatText(value=2.0, description="radius (cm)"), "sd-cap-radius")
        self.thickness = _field(
            w.FloatText(value=75.0, description="thickness (nm)"), "sd-cap-thickness"
        )
        self.carriers = _field(
            w.FloatText(value=3.75, description="carriers / formula unit"), "sd-cap-carriers"
        )
        self.valence = _field(
            w.FloatText(value=1.0, description="oxidation-state change"), "sd-cap-valence"
        )
        self.density = _field(
            w.Text(
                value="",
                description="density (g/cm³)",
                placeholder="known for elements",
                continuous_update=False,
            ),
            "sd-cap-density",
        )
        self.result = None
        super().__init__(
            [
                self.formula,
                self.radius,
                self.thickness,
                self.carriers,
                self.valence,
                self.density,
            ],
            "sd-cap",
        )
        self.calculate()

    def _compute(self) -> Capacity:
        return capacity(
            self.formula.value,
            self.radius.value,
            self.thickness.value,
            self.carriers.value,
            valence_change=self.valence.value,
            density=_optional_number(self.density.value, "the density"),
        )

    def _render(self, result: Capacity) -> str:
        rows: list[tuple[str, str]] = [
            ("capacity", f"{result.mAh:.4g} mAh"),
            ("specific capacity", f"{result.mAh_per_g:.5g} mAh/g"),
            ("electrode mass", f"{result.mass_g * 1e3:.4g} mg"),
        ]
        rows += [(rate, f"{current:.4g} mA") for rate, current in result.c_rates.items()]
        return table(rows)


class ToolsPanel(w.Tab):
    """Both calculators in tabs, ready to drop into a dashboard.

    Parameters
    ----------
    on_sld : callable, optional
        Called with every new :class:`SLDResult` (e.g. to copy an SLD into a layer).
    """

    def __init__(self, on_sld: Callable[[SLDResult], None] | None = None) -> None:
        self.sld = SLDCalculator()
        self.capacity = CapacityCalculator()
        if on_sld is not None:
            self.sld.on_result(on_sld)
        super().__init__(children=[self.sld, self.capacity])
        self.titles = ("SLD", "Capacity")
        self.add_class("sd-tools")
