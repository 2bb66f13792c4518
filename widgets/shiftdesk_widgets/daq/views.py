"""The views of the DAQ's objects (registered when the domain's views load)."""

from __future__ import annotations

from typing import Any

from shiftdesk.daq import DAQSystem, ECCServer
from shiftdesk_widgets.daq.dashboard import DAQDashboard
from shiftdesk_widgets.daq.server_view import ECCServerView
from shiftdesk_widgets.registry import register_view


@register_view(DAQSystem)
def system_view(system: DAQSystem, **kwargs: Any) -> DAQDashboard:
    """A DAQ system opens in the shift dashboard."""
    return DAQDashboard(system, **kwargs)


@register_view(ECCServer)
def server_view(server: ECCServer, **kwargs: Any) -> ECCServerView:
    """One ECC server opens in its dashboard row (commands, config, log)."""
    return ECCServerView(server, **kwargs)
