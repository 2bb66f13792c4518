"""New rules from a submission: a reference inserted into an rmap, new imaps and a new pmap.

What CRDS's ``crds.refactoring`` does for the server (insert at the Match/UseAfter place,
``get_update_map`` + ``generate_new_contexts``), on our parsed mappings: every generated
mapping is written in CRDS's layout with ``derived_from`` naming its predecessor and its
``sha1sum`` computed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from collections.abc import Mapping as AnyMapping
from typing import Any

from shiftdesk.catalog.mappings import Mapping, Selector, format_mapping, parse_mapping
from shiftdesk.catalog.selection import Context
from shiftdesk.errors import CatalogError

__all__ = ["diff", "insert_reference", "new_context", "replace_children"]


def _rebuilt(mapping: Mapping, selector: Any, new_name: str) -> Mapping:
    header = dict(mapping.header)
    header["name"] = new_name
    header["derived_from"] = mapping.name
    text = format_mapping(header, selector, mapping.comment)
    return parse_mapping(text, new_name)


def _condition_key(key: Any) -> tuple[str, ...]:
    from crds.core import selectors

    return tuple(selectors.MatchSelector.condition_key(key))


def _date(value: Any, name: str, reference: str) -> str:
    from crds.core import timestamp

    try:
        return str(timestamp.reformat_date(str(value).strip()))
    except Exception as exc:  # crds raises assorted errors for unreadable dates
        raise CatalogError(
            f"{reference}: {name} = {value!r} is not a date ({exc}); give it as "
            "'YYYY-MM-DD HH:MM:SS'"
        ) from None


def insert_reference(
    rmap: Mapping, reference: str, header: AnyMapping[str, Any], *, new_name: str
) -> Mapping:
    """A new rmap with ``reference`` placed where its header selects it.

    The Match key is the header's values of the rmap's parameters (or-globs and ``N/A``
    as written); an equal key (as CRDS conditions keys) is descended into, otherwise a
    new entry is added. At the UseAfter level an equal date is replaced, a new one added.

    Parameters
    ----------
    rmap : Mapping
        The rmap to derive from.
    reference : str
        The reference file name to insert.
    header : mapping
        The reference's matching values (keys in any case).
    new_name : str
        The new rmap's name; its ``derived_from`` is ``rmap.name``.

    Raises
    ------
    CatalogError
        Not an rmap, a parameter missing from ``header`` (named), an unreadable date, or a
        selector class other than Match/UseAfter at an insertion level.
    """
    if rmap.kind != "reference":
        raise CatalogError(f"{rmap.name} is a {rmap.kind} mapping: references go into rmaps")
    upper = {str(k).upper(): v for k, v in header.items()}
    groups = [g if isinstance(g, tuple) else (g,) for g in rmap.parkey]
    for group in groups:
        for key in group:
            if str(key).upper() not in upper:
                raise CatalogError(
                    f"{reference}: the header lacks {key!r}, which {rmap.name} selects on; "
                    "add it to the file's header (or pass it in headers=)"
                )
    kinds = _level_kinds(rmap.selector, len(groups))

    def place(node: Selector | None, depth: int) -> Any:
        if depth == len(groups):
            return reference
        kind = node.kind if node is not None else kinds[depth]
        params = groups[depth]
        entries = dict(node.entries) if node is not None else {}
        if kind == "Match":
            values = tuple(str(upper[str(p).upper()]) for p in params)
            key: Any = values if len(values) > 1 else values[0]
            wanted = _condition_key(key)
            for existing in entries:
                if _condition_key(existing) == wanted:
                    key = existing
                    break
        elif kind == "UseAfter":
            raw = " ".join(str(upper[str(p).upper()]).strip() for p in params)
            key = _date(raw, " ".join(map(str, params)), reference)
            for existing in entries:
                if _date(existing, "UseAfter key", rmap.name) == key:
                    key = existing
                    break
        else:
            raise CatalogError(
                f"{rmap.name}: cannot insert into a {kind} selector (only Match and UseAfter); "
                "edit this rmap by hand"
            )
        below = entries.get(key)
        entries[key] = place(below if isinstance(below, Selector) else None, depth + 1)
        return Selector(kind, tuple(entries.items()))

    return _rebuilt(rmap, place(rmap.selector, 0), new_name)


def _level_kinds(selector: Selector, depth: int) -> list[str]:
    """The selector class at each nesting level (from the first entry of each level)."""
    kinds = []
    node: Any = selector
    for _ in range(depth):
        if isinstance(node, Selector):
            kinds.append(node.kind)
            node = node.entries[0][1] if node.entries else None
        else:
            kinds.append("UseAfter" if kinds else "Match")
    return kinds


def _replace_leaves(node: Any, replacements: dict[str, str]) -> Any:
    if isinstance(node, Selector):
        return Selector(
            node.kind, tuple((k, _replace_leaves(v, replacements)) for k, v in node.entries)
        )
    if isinstance(node, dict):
        return {k: replacements.get(v, v) for k, v in node.items()}
    if isinstance(node, str):
        return replacements.get(node, node)
    return node


def replace_children(mapping: Mapping, replacements: dict[str, str], *, new_name: str) -> Mapping:
    """A copy of ``mapping`` naming ``replacements[old]`` wherever it named ``old``.

    For new imaps and pmaps; ``derived_from`` is ``mapping.name``, the checksum written.
    """
    return _rebuilt(mapping, _replace_leaves(mapping.selector, replacements), new_name)


def new_context(
    context: Context, new_rmaps: list[Mapping], names: Callable[[Mapping], str]
) -> list[Mapping]:
    """The new imaps and the new pmap that put ``new_rmaps`` into ``context``.

    Each new rmap replaces the rmap of its (instrument, type) in the context (or is added
    as a new type); each affected imap gets a new version, then the pmap.

    Parameters
    ----------
    context : Context
        The context derived from.
    new_rmaps : list of Mapping
        The new rmaps (from :func:`insert_reference`).
    names : callable
        ``names(old_mapping)`` -> the next official name in ``old_mapping``'s series.

    Returns
    -------
    list of Mapping
        The new imaps (sorted by name) and, last, the new pmap.
    """
    pmap = context.mappings[context.pmap]
    imap_of = {str(k).upper(): v for k, v in pmap.selector.items()}
    updates: dict[str, dict[str, str]] = {}  # imap name -> {filekind as written: new rmap}
    for rmap in new_rmaps:
        if rmap.kind != "reference":
            raise CatalogError(f"{rmap.name} is not an rmap")
        imap_name = imap_of.get(rmap.instrument)
        if imap_name is None or imap_name not in context.mappings:
            raise CatalogError(
                f"{rmap.name}: the context {context.pmap} has no instrument context for "
                f"{rmap.instrument}; add the instrument first"
            )
        imap = context.mappings[imap_name]
        spelled = next((k for k in imap.selector if str(k).upper() == rmap.filekind), rmap.filekind)
        update = updates.setdefault(imap_name, {})
        if spelled in update:
            raise CatalogError(
                f"two new rmaps for {rmap.instrument} {rmap.filekind}: {update[spelled]} and "
                f"{rmap.name}; submit one"
            )
        update[spelled] = rmap.name
    new_imaps: dict[str, Mapping] = {}
    for imap_name, update in sorted(updates.items()):
        imap = context.mappings[imap_name]
        selector = dict(imap.selector)
        selector.update(update)
        new_imaps[imap_name] = _rebuilt(imap, selector, names(imap))
    pmap_selector = {
        k: new_imaps[v].name if v in new_imaps else v for k, v in pmap.selector.items()
    }
    new_pmap = _rebuilt(pmap, pmap_selector, names(pmap))
    return [*sorted(new_imaps.values(), key=lambda m: m.name), new_pmap]


def _flatten(node: Any, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    out: dict[tuple[Any, ...], Any] = {}
    items = node.entries if isinstance(node, Selector) else node.items()
    for key, value in items:
        here = (*path, key)
        if isinstance(value, Selector):
            out.update(_flatten(value, here))
        else:
            out[here] = value
    return out


def diff(old: Mapping, new: Mapping) -> tuple[str, list[dict[str, Any]]]:
    """The text diff and the logical diff of two mappings.

    Returns
    -------
    text : str
        A unified diff of the texts.
    rows : list of dict
        One per change: ``{"change": "added" | "replaced" | "deleted", "path": key path
        (selector keys, outermost first; ``("header", key)`` for header fields), "old":
        value or None, "new": value or None}``; sha1sum, name and derived_from changes are
        left out (every new version changes them).
    """
    text = "".join(
        difflib.unified_diff(
            old.text.splitlines(True), new.text.splitlines(True), old.name, new.name
        )
    )
    rows: list[dict[str, Any]] = []
    skip = {"sha1sum", "name", "derived_from"}
    for key in sorted((old.header.keys() | new.header.keys()) - skip):
        _compare(rows, ("header", key), old.header.get(key), new.header.get(key))
    before, after = _flatten(old.selector), _flatten(new.selector)
    for path in [*before, *(p for p in after if p not in before)]:
        _compare(rows, path, before.get(path), after.get(path))
    return text, rows


def _compare(rows: list[dict[str, Any]], path: tuple[Any, ...], old: Any, new: Any) -> None:
    if old == new:
        return
    change = "added" if old is None else "deleted" if new is None else "replaced"
    rows.append({"change": change, "path": path, "old": old, "new": new})
