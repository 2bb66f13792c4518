"""Who may read and who may edit a run table (checked in the core, whatever the UI shows).

A table belongs to its owner. ``members`` read it; ``editors`` also edit comments and
user variables, submit values, change the context file and (re)process runs. Both are
lists of user names and ``group:NAME`` entries (hub groups); ``*`` among the members
lets every user read. Administrators may do everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shiftdesk.errors import PermissionDenied
from shiftdesk.identity import Identity

#: a run table's name: what URLs, the CLI and file names carry
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
EVERYONE = "*"


def parse_people(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """A members or editors list from a comma-separated string or an iterable.

    Raises
    ------
    ValueError
        An entry is empty after ``group:`` or holds a comma.
    """
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else list(value)
    people: list[str] = []
    for part in parts:
        entry = str(part).strip()
        if not entry:
            continue
        if "," in entry or entry == "group:":
            raise ValueError(
                f"{entry!r} is not a user name or group:NAME; give people as a list, "
                "e.g. ['alice', 'group:operators']"
            )
        if entry not in people:
            people.append(entry)
    return tuple(people)


def join_people(people: Iterable[str]) -> str:
    """The stored form of a people list."""
    return ",".join(people)


def _matches(identity: Identity, people: Iterable[str]) -> bool:
    for entry in people:
        if entry == EVERYONE or entry == identity.name:
            return True
        if entry.startswith("group:") and entry[6:] in identity.groups:
            return True
    return False


def may_read(identity: Identity, owner: str, members: str, editors: str) -> bool:
    """Whether ``identity`` may see a table with these owner, members and editors."""
    if identity.admin or identity.name == owner:
        return True
    return _matches(identity, parse_people(members)) or _matches(identity, parse_people(editors))


def may_edit(identity: Identity, owner: str, editors: str) -> bool:
    """Whether ``identity`` may change a table's comments, values, context and runs."""
    if identity.admin or identity.name == owner:
        return True
    return _matches(identity, (e for e in parse_people(editors) if e != EVERYONE))


def refuse_read(identity: Identity, name: str) -> PermissionDenied:
    """The refusal for a user who may not see table ``name``."""
    return PermissionDenied(
        f"{identity.name!r} may not see run table {name!r}: ask its owner to add you to "
        "its members (RunTable.set_people(members=[...]))"
    )


def refuse_edit(identity: Identity, name: str, what: str) -> PermissionDenied:
    """The refusal for a reader who may not change table ``name``."""
    return PermissionDenied(
        f"{identity.name!r} may read run table {name!r} but not {what}: only its owner "
        "and editors may; ask its owner to add you (or your group) to its editors"
    )
