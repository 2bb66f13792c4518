"""The SLD and capacity calculator panels, driven headless as a user would."""

from __future__ import annotations

import html
import re

import pytest

from shiftdesk.reflectometry.tools import SLDResult
from shiftdesk_widgets.reflectometry.tools_panel import (
    CapacityCalculator,
    SLDCalculator,
    ToolsPanel,
)


def text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def test_sld_panel_updates_live_and_shows_errors() -> None:
    panel = SLDCalculator()
    # starts on Si with its known density
    assert panel.result is not None and round(panel.result.sld, 3) == 2.074
    assert "2.0737" in text(panel.output.value)
    panel.formula.value = "D2O"  # no known density: the panel says what to do
    assert panel.result is None and panel.output.value == ""
    assert "knows no density for 'D2O'" in text(panel.error.value)
    panel.density.value = "1.107"
    assert round(panel.result.sld, 3) == 6.371
    assert panel.error.value == "" and "6.3712" in text(panel.output.value)
    panel.density.value = "0"
    assert "positive" in text(panel.error.value) and panel.result is None
    panel.density.value = "dense"
    assert "must be a number or empty" in text(panel.error.value)
    panel.density.value = ""
    panel.formula.value = "H2O<script>"
    assert "not a chemical formula" in text(panel.error.value)
    assert "<script>" not in panel.error.value  # escaped


def test_sld_panel_calculate_button_and_wavelength() -> None:
    panel = SLDCalculator(formula="Gd")
    before = panel.result
    assert before is not None
    panel.wavelength.value = 1.8
    assert panel.result is not None and panel.result.wavelength == 1.8
    assert panel.result.isld != pytest.approx(before.isld, rel=0.05)
    panel.wavelength.value = -1.0
    assert "wavelength" in text(panel.error.value)
    panel.wavelength.value = 6.0
    panel.error.value = "stale"
    panel.button.click()
    assert panel.error.value == "" and panel.result.isld == pytest.approx(before.isld)


def test_capacity_panel_defaults_are_the_original_form() -> None:
    panel = CapacityCalculator()
    shown = text(panel.output.value)
    assert "0.7859 mAh" in shown and "3578.6 mAh/g" in shown
    assert "C/3" in shown and "0.262 mA" in shown and "0.1572 mA" in shown
    panel.radius.value = 1.0
    assert panel.result is not None and panel.result.mAh == pytest.approx(0.7859 / 4, rel=1e-3)
    panel.formula.value = "Li15Si4"
    assert panel.result is None and "knows no density" in text(panel.error.value)
    panel.density.value = "1.18"
    assert panel.result is not None and panel.error.value == ""
    panel.thickness.value = 0.0
    assert "thickness" in text(panel.error.value) and panel.output.value == ""


def test_tools_panel_holds_both_and_reports_sld_results() -> None:
    seen: list[SLDResult] = []
    tools = ToolsPanel(on_sld=seen.append)
    assert tools.children == (tools.sld, tools.capacity)
    assert tools.titles == ("SLD", "Capacity")
    tools.sld.formula.value = "Cu"
    assert [r.formula for r in seen] == ["Cu"]
    tools.sld.formula.value = "Nope"
    assert len(seen) == 1  # errors are not reported as results
