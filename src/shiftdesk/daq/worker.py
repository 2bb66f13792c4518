"""Old path of :mod:`shiftdesk.daq.ssh_hosts` (the SSH interface to the DAQ hosts).

Kept importable for code that still names it; new code imports from
:mod:`shiftdesk.daq.ssh_hosts` (or ``shiftdesk.daq``).
"""

from shiftdesk.daq.ssh_hosts import *  # noqa: F403
from shiftdesk.daq.ssh_hosts import __all__ as _all

__all__ = list(_all)
