"""The DAQ shift dashboard and run sheet editor (views over :mod:`shiftdesk.daq`)."""

from typing import Any

from shiftdesk_widgets.daq.controls import SystemButtons
from shiftdesk_widgets.daq.dashboard import DAQDashboard
from shiftdesk_widgets.daq.demo import Demo, start_demo
from shiftdesk_widgets.daq.log_panel import LogPanel
from shiftdesk_widgets.daq.routers import RouterTable
from shiftdesk_widgets.daq.run_info import RunInfo
from shiftdesk_widgets.daq.servers import ServerRow, ServerTable

__all__ = [
    "DAQDashboard",
    "Demo",
    "LogPanel",
    "RouterTable",
    "RunInfo",
    "RunSheetEditor",
    "ServerRow",
    "ServerTable",
    "SystemButtons",
    "start_demo",
]


def __getattr__(name: str) -> Any:
    # the run sheet editor brings bqplot and pandas (~0.5 s of a fresh kernel), which the
    # dashboard's first screen does not need: imported when first asked for
    if name == "RunSheetEditor":
        from shiftdesk_widgets.daq.runsheet import RunSheetEditor

        return RunSheetEditor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
