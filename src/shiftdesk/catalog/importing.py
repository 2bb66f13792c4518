"""Reading files into the catalog: what is given, what is checked, in which order.

An import is all or nothing. Every file is read and checked first (mapping text parsed
safely with its ``sha1sum`` verified; each file copied into the store's folder under a
temporary name and hashed on the way); then every problem of the batch is reported at
once and nothing is kept, or the files are moved into place and their rows written in one
transaction. If that transaction fails, the files this import put in place are removed.

A mapping whose child *mapping* is neither in the batch nor in the catalog is refused: a
context with a hole cannot answer best-references questions, and CRDS's server refuses it
too. A reference an rmap names but that is not in the catalog is accepted (a rules-only
cache, like the Roman fixture, has none); its edge is kept so it is found once imported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from shiftdesk.catalog import naming
from shiftdesk.catalog.mappings import Mapping, Selector, parse_mapping
from shiftdesk.catalog.store import ContentStore, Staged, check_file_name
from shiftdesk.errors import CatalogError

#: files a folder holds beside the data (notes, code) that a folder import leaves out;
#: given by name, any file is imported
_NOT_DATA = re.compile(r"(?i)^(readme|license|copying|notice)(\..*)?$|.*\.(md|rst|py|pyc|ipynb)$")
_MAPPING_EXTS = {".pmap": "pmap", ".imap": "imap", ".rmap": "rmap"}


@dataclass
class Incoming:
    """One file of an import, as read and staged."""

    name: str
    source: Path
    type: str
    kind: str
    mapping: Mapping | None = None
    staged: Staged | None = None
    instrument: str = ""
    filekind: str = ""
    useafter: datetime | None = None
    children: list[tuple[str, str]] = field(default_factory=list)


def expand(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files to import from files and folders.

    A CRDS cache folder (``mappings/<obs>/`` and ``references/<obs>/`` inside) gives the
    files of its ``observatory`` folders; any other folder gives the files below it
    (hidden ones left out).
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            for p in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in p.relative_to(path).parts)
                if p.is_file() and not hidden and not _NOT_DATA.match(p.name):
                    found.append(p)
        else:
            raise CatalogError(f"{path} does not exist: give files or folders to import")
    return found


def _cache_files(files: list[Path], observatory: str) -> list[Path]:
    """Leave out files of other observatories in a CRDS cache layout."""
    kept = []
    for path in files:
        parts = path.parts
        in_cache = len(parts) >= 3 and parts[-3] in ("mappings", "references", "config")
        if in_cache and (parts[-3] == "config" or parts[-2].lower() != observatory):
            continue
        kept.append(path)
    return kept


def _useafter_dates(selector: object) -> dict[str, datetime]:
    """The earliest UseAfter date of each file an rmap selector names."""
    found: dict[str, datetime] = {}
    if not isinstance(selector, Selector):
        return found
    for key, value in selector.entries:
        if isinstance(value, Selector):
            for name, when in _useafter_dates(value).items():
                if name not in found or when < found[name]:
                    found[name] = when
        elif selector.kind == "UseAfter" and isinstance(value, str) and isinstance(key, str):
            try:
                when = datetime.fromisoformat(key.strip()).replace(tzinfo=UTC)
            except ValueError:
                continue
            if value not in found or when < found[value]:
                found[value] = when
    return found


def read(files: list[Path], observatory: str) -> tuple[list[Incoming], list[str]]:
    """Each file as an :class:`Incoming` (mappings parsed), and the problems found."""
    problems: list[str] = []
    incoming: dict[str, Incoming] = {}
    for path in _cache_files(files, observatory):
        name = path.name
        try:
            check_file_name(name)
        except CatalogError as exc:
            problems.append(str(exc))
            continue
        if name in incoming:
            problems.append(f"{name} is given twice ({incoming[name].source} and {path})")
            continue
        ext = Path(name).suffix.lower()
        if ext in _MAPPING_EXTS:
            try:
                mapping = parse_mapping(path.read_bytes(), name)
            except CatalogError as exc:
                problems.append(str(exc))
                continue
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{name} cannot be read as mapping text: {exc}")
                continue
            if mapping.observatory and mapping.observatory != observatory:
                problems.append(
                    f"{name} is a {mapping.observatory.upper()} mapping; this catalog is "
                    f"{observatory!r} (one observatory per catalog)"
                )
                continue
            item = Incoming(name, path, "mapping", _MAPPING_EXTS[ext], mapping=mapping)
            item.instrument = mapping.instrument
            item.filekind = mapping.filekind
            item.children = [(c, "mapping") for c in mapping.mapping_children()]
            item.children += [(c, "reference") for c in mapping.reference_children()]
        else:
            item = Incoming(name, path, "reference", ext.lstrip("."))
            obs, instrument, filekind, _, _ = naming.parse_name(name)
            if obs == observatory:  # a CRDS-style name says what it is until an rmap does
                item.instrument, item.filekind = instrument.upper(), filekind.upper()
        incoming[name] = item
    # a reference takes its instrument, type and date from the rmap of the batch naming it
    for item in incoming.values():
        if item.mapping is not None and item.kind == "rmap":
            dates = _useafter_dates(item.mapping.selector)
            for child, _ in item.children:
                ref = incoming.get(child)
                if ref is not None and ref.type == "reference":
                    ref.instrument, ref.filekind = item.instrument, item.filekind
                    ref.useafter = dates.get(child, ref.useafter)
    return list(incoming.values()), problems


def stage(store: ContentStore, items: list[Incoming]) -> None:
    """Copy every file beside its place in the store, hashing it (see module docstring)."""
    for item in items:  # the bytes as given (line endings too), not the decoded text
        item.staged = store.stage(item.name, source=item.source)


def twins_in_batch(items: list[Incoming]) -> list[str]:
    """Problems: two files of the batch with the same content under different names."""
    seen: dict[str, str] = {}
    problems = []
    for item in items:
        assert item.staged is not None
        twin = seen.setdefault(item.staged.sha1sum, item.name)
        if twin != item.name:
            problems.append(
                f"{item.name} is the same file as {twin} (sha1 {item.staged.sha1sum}); "
                "a file is cataloged under one name only"
            )
    return problems
