"""Recursive queries over the catalog's mapping edges (SQLite and PostgreSQL alike).

Edges are stored by name (:class:`~shiftdesk.catalog.records.CatalogEdgeRecord`), so
"who uses this file" walks child → parent and "what is inside this context" walks
parent → child, each one ``WITH RECURSIVE`` statement. ``UNION`` (not ``UNION ALL``)
drops names already reached, so a walk ends even on a malformed cycle.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

_UP = """
WITH RECURSIVE up(name) AS (
  SELECT e.parent FROM catalog_edges e WHERE e.observatory = :obs AND e.child IN :names
  UNION
  SELECT e.parent FROM catalog_edges e JOIN up ON e.child = up.name WHERE e.observatory = :obs
)
"""

_DOWN = """
WITH RECURSIVE down(name) AS (
  SELECT f.name FROM catalog_files f WHERE f.observatory = :obs AND f.name IN :names
  UNION
  SELECT e.child FROM catalog_edges e JOIN down ON e.parent = down.name
  WHERE e.observatory = :obs {only_mappings}
)
"""


def _names(statement: str) -> object:
    return text(statement).bindparams(bindparam("names", expanding=True))


def ancestors(session: Session, observatory: str, names: Collection[str]) -> set[str]:
    """Every mapping that uses one of ``names``, up to the pmaps (``names`` left out
    unless one uses another)."""
    if not names:
        return set()
    statement = _names(_UP + "SELECT name FROM up")
    rows = session.execute(statement, {"obs": observatory, "names": list(names)})  # type: ignore[call-overload]
    return {r[0] for r in rows}


def unblacklisted_ancestors(
    session: Session, observatory: str, names: Collection[str]
) -> list[str]:
    """The ancestors of ``names`` (and ``names``) not blacklisted yet, sorted."""
    if not names:
        return []
    statement = _names(
        _UP + "SELECT f.name FROM catalog_files f WHERE f.observatory = :obs "
        "AND NOT f.blacklisted AND (f.name IN (SELECT name FROM up) OR f.name IN :names) "
        "ORDER BY f.name"
    )
    rows = session.execute(statement, {"obs": observatory, "names": list(names)})  # type: ignore[call-overload]
    return [r[0] for r in rows]


def blacklist(
    session: Session, observatory: str, marked: Collection[str], rules: Collection[str]
) -> list[str]:
    """Set ``blacklisted`` on ``marked`` and every mapping using one of ``rules``, in one
    statement; the names it set (those not blacklisted before), sorted."""
    if not marked:
        return []
    statement = text(
        "UPDATE catalog_files SET blacklisted = :yes WHERE observatory = :obs "
        "AND NOT blacklisted AND (name IN :marked OR name IN (" + _UP + "SELECT name FROM up)) "
        "RETURNING name"
    ).bindparams(bindparam("names", expanding=True), bindparam("marked", expanding=True))
    rows = session.execute(
        statement,
        {"obs": observatory, "names": list(rules), "marked": list(marked), "yes": True},
    )
    return sorted(r[0] for r in rows.all())


def closure(
    session: Session, observatory: str, roots: Collection[str], *, mappings_only: bool = False
) -> set[str]:
    """``roots`` and every file inside them that the catalog holds, followed down the
    edges (only mapping children with ``mappings_only``)."""
    if not roots:
        return set()
    only = "AND e.child_type = 'mapping'" if mappings_only else ""
    statement = _names(_DOWN.format(only_mappings=only) + "SELECT name FROM down")
    rows = session.execute(statement, {"obs": observatory, "names": list(roots)})  # type: ignore[call-overload]
    return {r[0] for r in rows}


def rejected_inside(session: Session, observatory: str, root: str) -> list[str]:
    """The rejected files among ``root`` and the mappings nested inside it, sorted
    (CRDS's ``blacklisted_by``)."""
    statement = _names(
        _DOWN.format(only_mappings="AND e.child_type = 'mapping'")
        + "SELECT f.name FROM catalog_files f JOIN down ON f.name = down.name "
        "WHERE f.observatory = :obs AND f.rejected ORDER BY f.name"
    )
    rows = session.execute(statement, {"obs": observatory, "names": [root]})  # type: ignore[call-overload]
    return [r[0] for r in rows]


def missing_children(
    session: Session, observatory: str, roots: Collection[str]
) -> list[tuple[str, str]]:
    """``(parent, child)`` for every mapping edge under ``roots`` whose child mapping is
    not in the catalog."""
    if not roots:
        return []
    statement = _names(
        _DOWN.format(only_mappings="AND e.child_type = 'mapping'")
        + "SELECT e.parent, e.child FROM catalog_edges e JOIN down ON e.parent = down.name "
        "WHERE e.observatory = :obs AND e.child_type = 'mapping' AND NOT EXISTS "
        "(SELECT 1 FROM catalog_files f WHERE f.observatory = :obs AND f.name = e.child) "
        "ORDER BY e.parent, e.child"
    )
    rows = session.execute(statement, {"obs": observatory, "names": list(roots)})  # type: ignore[call-overload]
    return [(r[0], r[1]) for r in rows]
