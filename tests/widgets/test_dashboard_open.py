"""Opening the dashboard in a kernel: the page first, the engine warm-up after it.

In a running event loop (a Jupyter/Voilà kernel) ``ReflectometryDashboard.start()``
returns with the data drawn and the model curve pending; the curve, the fitter's options
and the local backend follow once the background warm-up is done. Secondary tabs are
built on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import pytest

from shiftdesk.jobs import shutdown_backends
from shiftdesk.reflectometry import FitProblem
from shiftdesk.reflectometry.curve_store import CurveStore
from shiftdesk_widgets import ReflectometryDashboard
from shiftdesk_widgets.reflectometry import _warmup
from shiftdesk_widgets.reflectometry import dashboard as dashboard_module
from shiftdesk_widgets.reflectometry.dashboard import (
    DATA_SERVER_TAB,
    JOBS_TAB,
    LOADING_MESSAGE,
    TOOLS_TAB,
)


async def _until(condition: object, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def run_then_stop_backends(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``scenario`` in an event loop (as in a kernel), then stop the backends made."""
    try:
        asyncio.run(scenario())
    finally:
        shutdown_backends()


def fresh_kernel(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """As in a fresh kernel: nothing warmed up yet; returns the backends the dashboard
    creates (recorded, not started), which it does at once once the engine is loaded."""
    monkeypatch.setattr(_warmup, "_future", None)
    monkeypatch.setattr(_warmup, "_thread", None)
    monkeypatch.setattr(_warmup, "_not_before", 0.0)
    monkeypatch.setattr(_warmup, "_page_deadline", None)
    monkeypatch.setattr(_warmup, "_page_done", False)
    monkeypatch.setattr(dashboard_module, "BACKEND_DELAY", 0.0)
    created: list[str] = []
    monkeypatch.setattr(
        ReflectometryDashboard, "_create_backend", lambda self, name: created.append(name)
    )
    return created


def test_start_in_a_running_loop_draws_the_model_after_the_warm_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = fresh_kernel(monkeypatch)

    async def scenario() -> None:
        dash = ReflectometryDashboard.start()
        try:
            # returned at once: data drawn, model pending, no fitter options yet
            assert dash.curve_pending and dash.curve is None
            assert len(dash.plot.points.x) > 0 and len(dash.plot.model.x) == 0
            assert LOADING_MESSAGE in dash.messages.value
            assert dash.fit_panel.option_widgets == {}
            assert created == []  # the spare worker waits for the page
            await _until(lambda: not dash.curve_pending)
            assert dash.curve is not None and dash.curve.chi2 is not None
            assert len(dash.plot.model.x) == len(dash.plot.points.x)
            assert LOADING_MESSAGE not in dash.messages.value
            assert set(dash.fit_panel.option_widgets)  # built from bumps' defaults
            await _until(lambda: created == ["local"])
        finally:
            dash.close()

    run_then_stop_backends(scenario)


@pytest.mark.parametrize("page", ["asks for its state", "never asks"])
def test_in_voila_the_engine_loads_once_the_page_has_its_widgets(
    page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No stored curve: the data shows first; the engine's load waits until the page
    has asked for the widgets' state (it would slow the page's JavaScript and the state
    reply), or PAGE_WAIT at most."""
    import ipywidgets as w

    created = fresh_kernel(monkeypatch)
    monkeypatch.setenv("VOILA_KERNEL_ID", "0a1b2c")
    monkeypatch.setattr(w.Widget, "_control_comm", None)
    asks = page == "asks for its state"
    monkeypatch.setattr(_warmup, "PAGE_WAIT", 30.0 if asks else 1.0)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        dash = ReflectometryDashboard.start()
        t0 = loop.time()
        try:
            assert dash.curve_pending
            await asyncio.sleep(0.5)
            assert _warmup._thread is not None, "the warm-up started before the page asked"
            if asks:
                w.Widget._control_comm = object()  # (the page's control comm, opened)
            # started: well before PAGE_WAIT once the page asked; else after it
            await _until(lambda: _warmup._thread is None, timeout=20.0)
            if not asks:
                assert loop.time() - t0 >= 1.0
            await _until(lambda: not dash.curve_pending)
            assert dash.curve is not None and len(dash.plot.model.x) > 0
            await _until(lambda: created == ["local"])
        finally:
            dash.close()

    run_then_stop_backends(scenario)


def test_an_edit_before_the_warm_up_ends_draws_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_warmup, "_future", None)
    monkeypatch.setattr(ReflectometryDashboard, "_create_backend", lambda self, name: None)

    async def scenario() -> None:
        dash = ReflectometryDashboard.start()
        try:
            assert dash.curve_pending
            dash.problem.layers["film1"].thickness.value = 500.0
            assert not dash.curve_pending and dash.curve is not None
            await _until(_warmup.ready)
            await asyncio.sleep(0.1)  # the warm-up's callback ran: it redraws nothing new
            assert dash.problem.layers["film1"].thickness.value == 500.0
            assert LOADING_MESSAGE not in dash.messages.value
        finally:
            dash.close()

    asyncio.run(scenario())


def test_a_model_opened_before_shows_its_stored_curve_and_loads_the_engine_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = ReflectometryDashboard.start()  # an earlier opening: its curve is stored
    assert first.curve is not None
    expected = first.curve.r.copy()
    first.close()
    created = fresh_kernel(monkeypatch)  # then a fresh kernel
    monkeypatch.setattr(dashboard_module, "WARMUP_DELAY", 0.6)

    async def scenario() -> None:
        dash = ReflectometryDashboard.start()
        try:
            # the first screen has the model curve, without the engine
            assert dash.engine_pending and not dash.curve_pending
            assert dash.curve is not None and dash.curve.chi2 is not None
            np.testing.assert_array_equal(dash.curve.r, expected)
            assert len(dash.plot.model.x) == len(dash.plot.points.x)
            assert LOADING_MESSAGE not in dash.messages.value
            await asyncio.sleep(0.3)
            # the engine loads after the page is drawn, the spare worker after it
            assert _warmup._thread is not None and not _warmup.ready()
            assert created == [] and dash.fit_panel.option_widgets == {}
            await _until(_warmup.ready)
            await _until(lambda: created == ["local"])
            assert not dash.engine_pending
            assert set(dash.fit_panel.option_widgets)
        finally:
            dash.close()

    asyncio.run(scenario())


def test_a_saved_model_keeps_its_curve_for_its_next_opening() -> None:
    dash = ReflectometryDashboard.start()
    try:
        dash.problem.layers["film1"].thickness.value = 600.0
        dash.title.value = "thicker"
        assert dash.save_model() is not None
        again = FitProblem.from_json(dash.problem.to_json())
        stored = CurveStore().load(again)
        assert stored is not None
        np.testing.assert_array_equal(stored.first.r, dash.problem.curves().first.r)
    finally:
        dash.close()


def test_secondary_tabs_are_built_on_first_use() -> None:
    dash = ReflectometryDashboard()
    try:
        titles = list(dash.panels)
        assert {TOOLS_TAB, DATA_SERVER_TAB, JOBS_TAB} <= set(titles)
        assert dash._built == {}
        # picking the tab (what a click in the browser does) builds its panel
        dash.tabs.selected_index = titles.index(JOBS_TAB)
        assert dash.tabs.children[titles.index(JOBS_TAB)] is dash.jobs
        assert set(dash._built) == {JOBS_TAB}
        # reading the attribute builds too, and the tab shows the built panel
        tools = dash.tools
        assert dash.panels[TOOLS_TAB].children[0] is tools
        assert dash.tabs.children[titles.index(TOOLS_TAB)] is dash.panels[TOOLS_TAB]
        assert list(dash.sld_target.options) == ["air", "film", "Si"]
        assert list(dash.panels) == titles  # same tabs, same order
    finally:
        dash.close()
