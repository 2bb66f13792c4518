"""What the DAQ brings to the shared machinery (see :mod:`shiftdesk.domains`)."""

from shiftdesk.domains import Domain

DOMAIN = Domain(
    name="daq",
    package="shiftdesk.daq",
    records=("shiftdesk.daq.records",),
    gate_actions=("shiftdesk.daq.actions",),
    views="shiftdesk_widgets.daq.views",
)
