"""Defects between a catalog's rows, edges and store, and the repairs an admin runs.

CRDS's server checked each file's fields against the file (``check_defects``) and had a
``repair_<field>`` per field; here: a file missing from the store, a size or SHA-1
differing from its row, a mapping's stored edges differing from its file, an edge to a
mapping the catalog lacks.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from shiftdesk.catalog import naming
from shiftdesk.catalog.records import CatalogEdgeRecord, CatalogFileRecord
from shiftdesk.catalog.store import ContentStore, sha1_of
from shiftdesk.errors import CatalogError
from shiftdesk.gate.forward import through_gate

if TYPE_CHECKING:
    from shiftdesk.catalog.mappings import Mapping
    from shiftdesk.identity import Identity
    from shiftdesk.storage import Database

__all__ = ["Defect", "DefectsMixin"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Defect:
    """Something wrong between the catalog's rows, edges and store.

    ``kind`` is ``missing-file``, ``size-mismatch``, ``sha1-mismatch``, ``edges`` (a
    mapping's stored edges differ from its file) or ``missing-child`` (an edge to a
    mapping the catalog does not hold: import it; nothing else repairs it).
    """

    name: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.kind}: {self.detail}"


def _target(catalog: Any) -> str:
    return f"catalog {catalog.observatory}"


class DefectsMixin:
    """The defect checks and repairs of :class:`~shiftdesk.catalog.catalog.Catalog`."""

    if TYPE_CHECKING:
        observatory: str
        database: Database
        identity: Identity
        store: ContentStore

        def _require_admin(self, what: str) -> None: ...

        def _begin_write(self, s: Session) -> None: ...

        def _record(self, name: str) -> CatalogFileRecord: ...

        def _load_mapping(self, name: str) -> Mapping: ...

        def _forget_contexts(self) -> None: ...

        def _log(
            self, s: Session, action: str, names: Any, detail: str = "", *, audit: bool = True
        ) -> None: ...

    def check_defects(self, *, verify_checksum: bool = True) -> builtins.list[Defect]:
        """What is wrong between rows, edges and store: a file missing from the store, a
        size or SHA-1 differing from its row, a mapping whose edges differ from its file,
        an edge to a mapping the catalog lacks."""
        defects: builtins.list[Defect] = []
        with self.database.session() as s:
            files = s.execute(
                select(
                    CatalogFileRecord.name,
                    CatalogFileRecord.type,
                    CatalogFileRecord.size,
                    CatalogFileRecord.sha1sum,
                )
                .where(CatalogFileRecord.observatory == self.observatory)
                .order_by(CatalogFileRecord.name)
            ).all()
            edges: dict[str, set[tuple[str, str]]] = {}
            for parent, child, kind in s.execute(
                select(
                    CatalogEdgeRecord.parent, CatalogEdgeRecord.child, CatalogEdgeRecord.child_type
                ).where(CatalogEdgeRecord.observatory == self.observatory)
            ):
                edges.setdefault(parent, set()).add((child, kind))
        names = {row[0] for row in files}
        for name, type_, size, sha in files:
            path = self.store.path(name)
            if not path.is_file():
                defects.append(Defect(name, "missing-file", f"{path} is not there"))
                continue
            actual = path.stat().st_size
            if actual != size:
                defects.append(
                    Defect(name, "size-mismatch", f"{actual} bytes in the store, {size} cataloged")
                )
                continue
            if verify_checksum:
                digest, _ = sha1_of(path)
                if digest != sha:
                    defects.append(
                        Defect(
                            name, "sha1-mismatch", f"sha1 {digest} in the store, {sha} cataloged"
                        )
                    )
                    continue
            if type_ == "mapping":
                try:
                    mapping = self._load_mapping(name)
                except CatalogError as exc:
                    defects.append(Defect(name, "sha1-mismatch", str(exc)))
                    continue
                want = {(c, "mapping") for c in mapping.mapping_children()}
                want |= {(c, "reference") for c in mapping.reference_children()}
                if want != edges.get(name, set()):
                    defects.append(Defect(name, "edges", "its stored edges differ from its file"))
        for parent, children in sorted(edges.items()):
            for child, kind in sorted(children):
                if kind == "mapping" and child not in names:
                    defects.append(
                        Defect(parent, "missing-child", f"names {child}, which the catalog lacks")
                    )
        return defects

    @through_gate("catalog.repair", target=_target)
    def repair(
        self, source: str | None = None, *, kinds: Sequence[str] | None = None
    ) -> builtins.list[Defect]:
        """Repair what :meth:`check_defects` finds (administrators only).

        A missing or damaged file is restored from ``source`` (a folder, or a CRDS cache
        holding ``mappings/<obs>`` and ``references/<obs>``) when a file of that name
        there has the cataloged SHA-1; a size differing from a stored file whose SHA-1 is
        the cataloged one is corrected in the row; a mapping's edges are rebuilt from its
        file. An
        edge to a missing mapping is not repaired here: import that mapping.

        Returns
        -------
        list of Defect
            The defects repaired.
        """
        self._require_admin("repair a catalog")
        wanted = set(kinds) if kinds is not None else None
        repaired: builtins.list[Defect] = []
        removed = self.store.clean_incoming()
        for defect in self.check_defects():
            if wanted is not None and defect.kind not in wanted:
                continue
            if defect.kind == "size-mismatch":
                # the stored file is the cataloged one (same SHA-1): the row's size is wrong
                record = self._record(defect.name)
                digest, size = sha1_of(self.store.path(defect.name))
                if digest == record.sha1sum:
                    with self.database.session() as s:
                        self._begin_write(s)
                        s.execute(
                            update(CatalogFileRecord)
                            .where(
                                CatalogFileRecord.observatory == self.observatory,
                                CatalogFileRecord.name == defect.name,
                            )
                            .values(size=size)
                        )
                    repaired.append(defect)
                    continue
            if defect.kind in ("missing-file", "size-mismatch", "sha1-mismatch") and source:
                record = self._record(defect.name)
                candidate = _find_in(Path(source), defect.name, self.observatory)
                if candidate is None or sha1_of(candidate)[0] != record.sha1sum:
                    continue
                staged = self.store.stage(defect.name, source=candidate)
                self.store.restore(staged)
                repaired.append(defect)
            elif defect.kind == "edges":
                mapping = self._load_mapping(defect.name)
                with self.database.session() as s:
                    self._begin_write(s)
                    s.query(CatalogEdgeRecord).filter(
                        CatalogEdgeRecord.observatory == self.observatory,
                        CatalogEdgeRecord.parent == defect.name,
                    ).delete()
                    rows = [
                        {
                            "observatory": self.observatory,
                            "parent": defect.name,
                            "child": c,
                            "child_type": "mapping",
                        }
                        for c in mapping.mapping_children()
                    ]
                    rows += [
                        {
                            "observatory": self.observatory,
                            "parent": defect.name,
                            "child": c,
                            "child_type": "reference",
                        }
                        for c in mapping.reference_children()
                    ]
                    if rows:
                        s.execute(insert(CatalogEdgeRecord), rows)
                repaired.append(defect)
        if repaired:
            with self.database.session() as s:
                for defect in repaired:
                    self._log(s, "repair", [defect.name], f"{defect.kind}: {defect.detail}")
            self._forget_contexts()
        if removed:
            log.info("removed %d temporary files of interrupted imports", removed)
        return repaired


def _find_in(source: Path, name: str, observatory: str) -> Path | None:
    sub = "mappings" if naming.is_mapping(name) else "references"
    for candidate in (source / name, source / sub / observatory / name, source / sub / name):
        if candidate.is_file():
            return candidate
    return None
