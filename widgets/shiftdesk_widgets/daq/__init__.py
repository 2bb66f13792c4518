"""The DAQ shift dashboard and run sheet editor (views over :mod:`shiftdesk.daq`)."""

from shiftdesk_widgets.daq.controls import SystemButtons
from shiftdesk_widgets.daq.dashboard import DAQDashboard
from shiftdesk_widgets.daq.demo import Demo, start_demo
from shiftdesk_widgets.daq.log_panel import LogPanel
from shiftdesk_widgets.daq.routers import RouterTable
from shiftdesk_widgets.daq.run_info import RunInfo
from shiftdesk_widgets.daq.runsheet import RunSheetEditor
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
