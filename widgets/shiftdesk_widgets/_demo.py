"""Dashboards that open a demo object make it first when it is not there yet."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def open_or_seed(open_: Callable[[str], T], name: str, demo_name: str, seed: str) -> T:
    """``open_(name)``; for the demo's own name, seed the demo (as ``shiftdesk demo``
    does) when it is missing, then open it.

    Parameters
    ----------
    open_ : callable
        Opens the object by name (raises :class:`~shiftdesk.errors.NotFound`).
    name, demo_name : str
        The name asked for, and the demo object's name.
    seed : str
        ``"module:function"`` of the domain's ``seed_demo(database, identity)``.
    """
    from shiftdesk.errors import NotFound

    try:
        return open_(name)
    except NotFound:
        if name != demo_name:
            raise
    from shiftdesk.domains import load
    from shiftdesk.identity import current_identity
    from shiftdesk.storage import get_database

    load(seed)(get_database(), current_identity())
    return open_(name)
