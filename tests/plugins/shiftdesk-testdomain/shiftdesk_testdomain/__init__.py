"""A test domain: a tally a user counts up (see ``domain.py`` for what it plugs in).

Importing the package stays cheap (the domain registry imports ``domain.py`` in every
process that opens a database): names load on first use.
"""

from typing import TYPE_CHECKING

from shiftdesk._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"Tally": "shiftdesk_testdomain.tally"})
__all__ = ["Tally"]

if TYPE_CHECKING:
    from shiftdesk_testdomain.tally import Tally
