"""Reference-file submissions: checks, official names, new rules, then confirm or cancel.

What CRDS's server does with "Submit References" (notes §1.5), as tracked work:

1. :meth:`SubmissionsMixin.submit` sends the files (their bytes: on a hub the gate cannot
   read the caller's folders) to ``catalog.start_submission``, which stores them in a
   staging folder inside the catalog's store, stores a ``queued`` row and starts the
   preparation in the process that owns the catalog (the gate service on a hub, this
   process standalone). It returns at once; the caller follows the row.
2. The preparation (:func:`prepare`) reads each file's header, checks it (format, the keys
   its rmap selects on, a useafter date, no twin in the catalog or the batch), takes the
   instrument's lock for the submitter, gives each file its official name from the
   locked counters, inserts the references into copies of their rmaps at the
   Match/UseAfter place, makes the new imaps and pmap, and records the text and logical
   diffs and the collisions (another pending submission derived from the same mapping,
   or a mapping derived from it already cataloged). Any check that fails ends it
   ``failed``, with every problem listed, and its staging folder removed.
3. :meth:`Submission.confirm` (the submitter, holding the lock) delivers the files: they
   enter the catalog ``delivered`` and the new pmap becomes the edit context; the lock is
   released. :meth:`Submission.cancel` removes the staging folder. Either way an audit
   entry says who decided. Serial numbers taken by a cancelled submission are not given
   again (as in CRDS: names sort in time).

A crash halfway leaves nothing half-made in the catalog: until confirm, a submission's
files exist only in its staging folder; confirm imports them in one transaction (all or
nothing) and can be repeated after a failure.
"""

from __future__ import annotations

import base64
import builtins
import json
import os
import shutil
import threading
import uuid
from collections.abc import Mapping as AnyMapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select

from shiftdesk.catalog import delivery, naming
from shiftdesk.catalog.headers import is_readable, normalize_header, read_header
from shiftdesk.catalog.submission_records import CatalogSubmissionRecord
from shiftdesk.display import html_repr
from shiftdesk.errors import CatalogError, NotFound, PermissionDenied
from shiftdesk.gate.forward import through_gate
from shiftdesk.tracking import HOST, TrackedHandle, owner_alive, utcnow

if TYPE_CHECKING:
    from shiftdesk.catalog.catalog import Catalog
    from shiftdesk.catalog.mappings import Mapping
    from shiftdesk.catalog.selection import Context

#: the most a submission may carry in all (its bytes travel to the gate in one request)
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
#: how long the submitter's instrument lock lasts from the preparation (renewed by confirm)
LOCK_MINUTES = 60.0
#: header keys naming a reference's type, instrument and useafter date, by preference
_REFTYPE_KEYS = ("ROMAN.META.REFTYPE", "META.REFTYPE", "REFTYPE", "FILETYPE")
_INSTRUMENT_KEYS = ("ROMAN.META.INSTRUMENT.NAME", "META.INSTRUMENT.NAME", "INSTRUME")
_USEAFTER_KEYS = ("ROMAN.META.USEAFTER", "META.USEAFTER", "USEAFTER")


def _first(header: AnyMapping[str, Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = header.get(key)
        if value not in (None, ""):
            return str(value).strip()
    return ""


@dataclass(frozen=True)
class Check:
    """One finding of a submission's checks."""

    file: str
    level: str  # "ok", "warning" or "error"
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.level}: {self.message}"


def _staging_root(catalog: Catalog) -> Path:
    # inside the store's folder: written by whoever owns the store (the gate on a hub),
    # on the same file system, so delivery is a rename
    return Path(catalog.store.folder) / ".submissions"


class SubmissionsMixin:
    """The submission methods of :class:`~shiftdesk.catalog.catalog.Catalog`."""

    def submit(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        headers: AnyMapping[str, AnyMapping[str, Any]] | None = None,
        derive_from: str = "edit",
        description: str = "",
        wait: bool = True,
        timeout: float = 300.0,
    ) -> Submission:
        """Submit reference files: checks, official names and new rules, to confirm.

        Parameters
        ----------
        paths : path or list of paths
            The reference files (FITS or ASDF; the names they have now are kept as
            ``uploaded_as``: official names are given).
        headers : dict, optional
            ``{file name: header dict}``: the values the rmap selects on and the reference
            type (``REFTYPE``), instrument and ``USEAFTER`` date; read from the files
            when not given (per file).
        derive_from : str
            The context the new rules derive from: ``"edit"`` (default), ``"latest"`` or
            a pmap name.
        description : str
            What the files are and why they are delivered (required).
        wait : bool
            Return once the checks and new mappings are ready (default), or at once
            (follow the returned handle; its progress shows as the work goes on).
        timeout : float
            Seconds to wait when ``wait`` is true.

        Returns
        -------
        Submission
            Ready to :meth:`~Submission.confirm` or :meth:`~Submission.cancel` (if its
            checks passed: see ``status``, ``error`` and ``checks``).

        Raises
        ------
        CatalogError
            No files, a file that does not exist, no description, too much data.
        """
        cat = cast("Catalog", self)
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        files = [Path(p) for p in paths]
        if not files:
            raise CatalogError("no files to submit: give the paths of the reference files")
        if not str(description).strip():
            raise CatalogError(
                "say what the files are (description=...): it goes in the catalog and its history"
            )
        uploads: dict[str, str] = {}
        total = 0
        for path in files:
            if not path.is_file():
                raise CatalogError(f"{path}: no such file; give the paths of reference files")
            if naming.is_mapping(path.name):
                raise CatalogError(
                    f"{path.name} is a mapping: submissions carry reference files, and the "
                    "new rmaps, imaps and pmap are made for them"
                )
            if path.name in uploads:
                raise CatalogError(f"{path.name} is given twice: give each file once")
            total += path.stat().st_size
            if total > MAX_UPLOAD_BYTES:
                raise CatalogError(
                    f"the files come to more than {MAX_UPLOAD_BYTES // 2**20} MB; submit them "
                    "in smaller batches"
                )
            uploads[path.name] = base64.b64encode(path.read_bytes()).decode("ascii")
        given = {str(k): dict(v) for k, v in (headers or {}).items()}
        unknown = sorted(set(given) - set(uploads))
        if unknown:
            raise CatalogError(
                f"headers= names files that are not submitted: {', '.join(unknown)}; key it "
                "by the files' names (without folders)"
            )
        ident = cat._start_submission(uploads, given, derive_from, str(description))
        handle = Submission(cat, ident)
        if wait:
            handle.wait(timeout)
        return handle

    @through_gate("catalog.start_submission")
    def _start_submission(
        self,
        uploads: dict[str, str],
        headers: dict[str, dict[str, Any]],
        derive_from: str,
        description: str,
    ) -> str:
        cat = cast("Catalog", self)
        cat._require_editor("submit files")
        pmap = cat._resolve(derive_from)
        ident = uuid.uuid4().hex
        staging = _staging_root(cat) / ident
        incoming = staging / "uploads"
        incoming.mkdir(parents=True)
        try:
            for name, data in uploads.items():
                safe = Path(name).name
                if safe != name or name.startswith("."):
                    raise CatalogError(f"{name!r} is not a plain file name")
                (incoming / name).write_bytes(base64.b64decode(data))
            plan = {"headers": headers}
            with cat.database.session() as s:
                s.add(CatalogSubmissionRecord(
                    id=ident, observatory=cat.observatory, submitter=cat.identity.name,
                    description=description, derive_from=derive_from, derived_context=pmap,
                    plan=json.dumps(plan), staging=str(staging), status="queued",
                    message="waiting to be prepared",
                ))  # fmt: skip
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _start_preparation(cat, ident)
        return ident

    def submission(self, ident: str) -> Submission:
        """The submission ``ident`` (as :meth:`submit` returned it)."""
        cat = cast("Catalog", self)
        return Submission(cat, ident)

    def submissions(self, *, pending: bool = False) -> builtins.list[Submission]:
        """This catalog's submissions, newest first (``pending``: those awaiting a decision)."""
        cat = cast("Catalog", self)
        with cat.database.session() as s:
            query = select(CatalogSubmissionRecord.id).where(
                CatalogSubmissionRecord.observatory == cat.observatory
            )
            if pending:
                query = query.where(CatalogSubmissionRecord.outcome == "pending")
            ids = s.scalars(query.order_by(CatalogSubmissionRecord.created_at.desc())).all()
        return [Submission(cat, i) for i in ids]

    @through_gate("catalog.confirm_submission")
    def _confirm_submission(self, ident: str) -> builtins.list[str]:
        cat = cast("Catalog", self)
        return _confirm(cat, ident)

    @through_gate("catalog.cancel_submission")
    def _cancel_submission(self, ident: str) -> None:
        cat = cast("Catalog", self)
        _cancel(cat, ident)


# -- the preparation ----------------------------------------------------------------------


def _start_preparation(catalog: Catalog, ident: str) -> None:
    """Prepare in a thread of this process (which owns the catalog's store)."""
    from shiftdesk.catalog.catalog import Catalog

    # its own handle: the caller's may be used from its thread meanwhile
    worker = Catalog.open(
        catalog.observatory,
        database=catalog.database,
        identity=catalog.identity,
        gate=catalog.gate,
        via=catalog._via,
    )
    thread = threading.Thread(
        target=prepare, args=(worker, ident), name=f"sd-catalog-submission-{ident[:8]}",
        daemon=True,
    )  # fmt: skip
    thread.start()


def _update(catalog: Catalog, ident: str, **values: Any) -> None:
    with catalog.database.session() as s:
        record = s.get(CatalogSubmissionRecord, ident)
        if record is None:
            raise NotFound(f"no submission {ident}")
        for key, value in values.items():
            setattr(record, key, value)


def prepare(catalog: Catalog, ident: str) -> None:
    """Prepare submission ``ident`` (see the module docstring); never raises."""
    _update(catalog, ident, status="running", host=HOST, pid=os.getpid(), started_at=utcnow(),
            progress=0.02, message="reading the files")  # fmt: skip
    try:
        plan = _prepare(catalog, ident)
    except Exception as exc:  # every failure ends the row, with a reason the user can act on
        with catalog.database.session() as s:
            record = s.get(CatalogSubmissionRecord, ident)
            staging = Path(record.staging) if record is not None else None
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        checks = getattr(exc, "checks", None)
        plan_text = json.dumps({"checks": checks}) if checks else "{}"
        _update(catalog, ident, status="failed", finished_at=utcnow(), outcome="cancelled",
                error=str(exc), message="checks failed" if checks else "failed",
                plan=plan_text)  # fmt: skip
        return
    _update(catalog, ident, status="done", progress=1.0, finished_at=utcnow(),
            message="ready: confirm to deliver, or cancel", plan=json.dumps(plan))  # fmt: skip


class _ChecksFailed(CatalogError):
    def __init__(self, checks: list[Check]) -> None:
        errors = [c for c in checks if c.level == "error"]
        super().__init__(
            f"{len(errors)} check{'s' if len(errors) != 1 else ''} failed; nothing was "
            "submitted:\n- " + "\n- ".join(f"{c.file}: {c.message}" for c in errors)
        )
        self.checks = [c.__dict__ for c in checks]


@dataclass
class _File:
    uploaded_as: str
    path: Path
    header: dict[str, Any]
    reftype: str = ""
    instrument: str = ""
    useafter: str = ""
    rmap: str = ""
    sha1sum: str = ""
    size: int = 0
    name: str = ""


def _read_files(
    catalog: Catalog, staging: Path, given: dict[str, dict[str, Any]], context: Context
) -> tuple[list[_File], list[Check]]:
    from shiftdesk.catalog.store import sha1_of

    checks: list[Check] = []
    files: list[_File] = []
    for path in sorted((staging / "uploads").iterdir()):
        name = path.name
        try:
            if name in given:
                header = normalize_header(given[name])
            elif is_readable(name):
                header = read_header(path)
            else:
                raise CatalogError(
                    "not a FITS or ASDF file, and no header was given for it (headers=)"
                )
        except CatalogError as exc:
            checks.append(Check(name, "error", str(exc).removeprefix(f"{name}: ")))
            continue
        item = _File(name, path, header)
        item.sha1sum, item.size = sha1_of(path)
        item.reftype = _first(header, _REFTYPE_KEYS).upper()
        item.instrument = _first(header, _INSTRUMENT_KEYS).upper()
        item.useafter = _first(header, _USEAFTER_KEYS)
        problems = []
        if not item.reftype:
            problems.append(f"the header names no reference type ({' or '.join(_REFTYPE_KEYS)})")
        if not item.instrument:
            problems.append(f"the header names no instrument ({' or '.join(_INSTRUMENT_KEYS)})")
        if not item.useafter:
            problems.append(
                f"the header has no useafter date ({' or '.join(_USEAFTER_KEYS)}): say from "
                "when the file applies"
            )
        if not problems:
            item.rmap = _rmap_for(context, item, problems)
        if item.rmap:
            needed = _match_keys(context.mappings[item.rmap])
            missing = [k for k in needed if k.upper() not in header]
            if missing:
                problems.append(
                    f"the header lacks {', '.join(missing)}, which {item.rmap} selects on"
                )
        for problem in problems:
            checks.append(Check(name, "error", problem))
        if not problems:
            checks.append(Check(name, "ok", f"{item.instrument} {item.reftype}, into {item.rmap}"))
            files.append(item)
    return files, checks


def _rmap_for(context: Context, item: _File, problems: list[str]) -> str:
    pmap = context.mappings[context.pmap]
    imap_name = next(
        (v for k, v in pmap.selector.items() if str(k).upper() == item.instrument), None
    )
    if imap_name is None or imap_name not in context.mappings:
        problems.append(f"{context.pmap} has no rules for the instrument {item.instrument}")
        return ""
    imap = context.mappings[imap_name]
    rmap = next((v for k, v in imap.selector.items() if str(k).upper() == item.reftype), None)
    if rmap is None or rmap not in context.mappings:
        problems.append(
            f"{imap_name} has no rules for {item.reftype} files "
            f"({rmap or 'no entry'}); a new reference type needs its rmap first"
        )
        return ""
    return str(rmap)


def _groups(rmap: Mapping) -> list[tuple[str, ...]]:
    return [tuple(g) if isinstance(g, tuple) else (g,) for g in rmap.parkey]


def _match_keys(rmap: Mapping) -> list[str]:
    """The header keys an rmap matches on (not those of its UseAfter level)."""
    groups = _groups(rmap)
    return [str(k) for g in (groups[:-1] if len(groups) > 1 else groups) for k in g]


def _insertion_header(rmap: Mapping, item: _File) -> dict[str, Any]:
    """The file's header with the rmap's date keys set from its useafter date."""
    header = dict(item.header)
    groups = _groups(rmap)
    if len(groups) > 1:
        when = item.useafter.replace("T", " ")
        date_keys = [str(k).upper() for k in groups[-1]]
        if len(date_keys) == 1:
            header[date_keys[0]] = when
        else:  # DATE-OBS, TIME-OBS
            day, _, clock = when.partition(" ")
            header[date_keys[0]] = day
            header[date_keys[1]] = clock or "00:00:00"
    return header


def _prepare(catalog: Catalog, ident: str) -> dict[str, Any]:
    from shiftdesk.catalog import refactor
    from shiftdesk.catalog.records import CatalogFileRecord

    with catalog.database.session() as s:
        record = s.get(CatalogSubmissionRecord, ident)
        assert record is not None
        staging = Path(record.staging)
        given = json.loads(record.plan or "{}").get("headers", {})
        pmap = record.derived_context
    context = catalog.load_context(pmap)
    files, checks = _read_files(catalog, staging, given, context)
    _update(catalog, ident, progress=0.25, message="checking for twins")
    sums: dict[str, str] = {}
    for item in files:
        if item.sha1sum in sums:
            twin = sums[item.sha1sum]
            message = f"identical to {twin} in this submission"
            checks.append(Check(item.uploaded_as, "error", message))
        sums.setdefault(item.sha1sum, item.uploaded_as)
    with catalog.database.session() as s:
        twins = dict(
            s.execute(
                select(CatalogFileRecord.sha1sum, CatalogFileRecord.name).where(
                    CatalogFileRecord.observatory == catalog.observatory,
                    CatalogFileRecord.sha1sum.in_(list(sums)),
                )
            ).all()
        )
    for item in files:
        if item.sha1sum in twins:
            checks.append(Check(item.uploaded_as, "error",
                                f"identical to {twins[item.sha1sum]}, cataloged already "
                                f"(sha1 {item.sha1sum})"))  # fmt: skip
    if any(c.level == "error" for c in checks):
        raise _ChecksFailed(checks)
    instruments = sorted({f.instrument for f in files})
    if len(instruments) > 1:
        raise CatalogError(
            f"the files are for several instruments ({', '.join(instruments)}): submit each "
            "instrument's files separately (each takes its instrument's lock)"
        )
    instrument = instruments[0]
    _update(catalog, ident, instrument=instrument, progress=0.35,
            message=f"taking the lock on {instrument}")  # fmt: skip
    catalog.lock(instrument, minutes=LOCK_MINUTES)
    _update(catalog, ident, progress=0.45, message="giving official names")
    for item in files:
        ext = "".join(Path(item.uploaded_as).suffixes[-1:]) or ".fits"
        series = f"{catalog.observatory}_{instrument.lower()}_{item.reftype.lower()}{ext}"
        item.name = catalog.next_name(series)
    _update(catalog, ident, progress=0.6, message="inserting into the rules")
    by_rmap: dict[str, list[_File]] = {}
    for item in files:
        by_rmap.setdefault(item.rmap, []).append(item)
    new_rmaps: list[Mapping] = []
    old_of: dict[str, str] = {}
    for rmap_name, items in sorted(by_rmap.items()):
        current = context.mappings[rmap_name]
        new_name = catalog.next_name(rmap_name)
        for item in items:
            placed = refactor.insert_reference(
                current, item.name, _insertion_header(current, item), new_name=new_name
            )
            # successive files of one rmap go into the same new version, derived from the
            # context's rmap (not from the intermediate version)
            current = _derived(placed, rmap_name)
        new_rmaps.append(current)
        old_of[current.name] = rmap_name
    _update(catalog, ident, progress=0.75, message="making the new imap and pmap")
    contexts = refactor.new_context(context, new_rmaps, lambda m: catalog.next_name(m.name))
    new_mappings = [*new_rmaps, *contexts]
    for mapping in contexts:
        old_of[mapping.name] = mapping.derived_from
    diffs: dict[str, dict[str, Any]] = {}
    for mapping in new_mappings:
        old = context.mappings[old_of[mapping.name]]
        text, rows = refactor.diff(old, mapping)
        diffs[mapping.name] = {"derived_from": old.name, "text": text,
                               "logical": [_json_row(r) for r in rows]}  # fmt: skip
    _update(catalog, ident, progress=0.85, message="looking for collisions")
    collisions = _collisions(catalog, ident, [old_of[m.name] for m in new_mappings])
    ready = staging / "ready"
    ready.mkdir(exist_ok=True)
    for item in files:
        os.replace(item.path, ready / item.name)
    for mapping in new_mappings:
        (ready / mapping.name).write_text(mapping.text, encoding="utf-8")
    return {
        "headers": given,
        "files": [
            {
                "uploaded_as": f.uploaded_as,
                "name": f.name,
                "reftype": f.reftype,
                "instrument": f.instrument,
                "useafter": f.useafter,
                "rmap": f.rmap,
                "sha1sum": f.sha1sum,
                "size": f.size,
            }
            for f in files
        ],
        "new_mappings": [m.name for m in new_mappings],
        "new_context": contexts[-1].name,
        "diffs": diffs,
        "collisions": collisions,
        "checks": [c.__dict__ for c in checks],
    }


def _derived(mapping: Mapping, parent: str) -> Mapping:
    """``mapping`` with ``derived_from`` naming ``parent`` (its first predecessor, not the
    intermediate version successive insertions made)."""
    from shiftdesk.catalog.mappings import replace

    header = dict(mapping.header)
    header["derived_from"] = parent
    return replace(mapping, header, mapping.selector)


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "change": row["change"],
        "path": [str(p) if not isinstance(p, str) else p for p in row["path"]],
        "old": row["old"] if isinstance(row["old"], str | int | float | None) else str(row["old"]),
        "new": row["new"] if isinstance(row["new"], str | int | float | None) else str(row["new"]),
    }


def _collisions(catalog: Catalog, ident: str, parents: list[str]) -> list[str]:
    """Other work derived from the same mappings: pending submissions, cataloged files."""
    from shiftdesk.catalog.records import CatalogFileRecord

    wanted = set(parents)
    found: list[str] = []
    with catalog.database.session() as s:
        others = s.scalars(
            select(CatalogSubmissionRecord).where(
                CatalogSubmissionRecord.observatory == catalog.observatory,
                CatalogSubmissionRecord.outcome == "pending",
                CatalogSubmissionRecord.status == "done",
                CatalogSubmissionRecord.id != ident,
            )
        ).all()
        for other in others:
            theirs = json.loads(other.plan or "{}").get("diffs", {})
            shared = sorted(wanted & {d.get("derived_from") for d in theirs.values()})
            if shared:
                found.append(
                    f"submission {other.id[:8]} by {other.submitter} (pending) also derives "
                    f"from {', '.join(shared)}: whichever is confirmed second replaces the "
                    "other's rules unless it is prepared again"
                )
        rows = s.execute(
            select(CatalogFileRecord.name, CatalogFileRecord.derived_from).where(
                CatalogFileRecord.observatory == catalog.observatory,
                CatalogFileRecord.derived_from.in_(sorted(wanted)),
            )
        ).all()
    for name, parent in rows:
        found.append(
            f"{name}, cataloged already, derives from {parent} too: this submission does "
            "not contain its changes"
        )
    return found


# -- confirm and cancel -------------------------------------------------------------------


def _open_record(catalog: Catalog, ident: str) -> CatalogSubmissionRecord:
    with catalog.database.session() as s:
        record = s.get(CatalogSubmissionRecord, ident)
        if record is None or record.observatory != catalog.observatory:
            raise NotFound(f"no submission {ident} in the {catalog.observatory} catalog")
        s.expunge(record)
        return record


def _decide_check(catalog: Catalog, record: CatalogSubmissionRecord, what: str) -> None:
    if record.outcome != "pending":
        raise CatalogError(f"submission {record.id[:8]} is {record.outcome} already")
    if record.submitter != catalog.identity.name and not catalog.identity.admin:
        raise PermissionDenied(
            f"submission {record.id[:8]} is {record.submitter}'s: only they (or an "
            f"administrator) may {what} it"
        )


def _confirm(catalog: Catalog, ident: str) -> list[str]:
    record = _open_record(catalog, ident)
    _decide_check(catalog, record, "confirm")
    if record.status != "done":
        raise CatalogError(
            f"submission {ident[:8]} is {record.status}"
            + (f" ({record.error})" if record.error else "")
            + ": only a prepared submission can be confirmed"
        )
    if not catalog.holds_lock(record.instrument):
        raise CatalogError(
            f"your lock on {record.instrument} lapsed (or was taken over), so the rules may "
            f"have changed since submission {ident[:8]} was prepared: cancel it and submit "
            "again"
        )
    plan = json.loads(record.plan)
    ready = Path(record.staging) / "ready"
    names = [f["name"] for f in plan["files"]] + list(plan["new_mappings"])
    # where the catalog delivers (an administrator's setting) is checked before anything
    # changes: a missing or unwritable folder refuses the confirm, with nothing half-made
    delivers = delivery.ready(catalog) is not None
    catalog._add_files(
        [str(ready / n) for n in names],
        why=f"submission {ident[:8]}: {record.description}",
        description=record.description,
        state="delivered",
    )
    _keep_uploaded_names(catalog, plan["files"])
    if delivers:  # otherwise the files stay delivered, in the catalog only
        delivery.send(catalog, names, description=record.description, submission=ident)
    catalog.set_context(
        "edit", plan["new_context"], why=f"submission {ident[:8]}: {record.description}"
    )
    done = f"confirmed: {plan['new_context']} is the edit context"
    _update(catalog, ident, outcome="confirmed", decided_by=catalog.identity.name,
            decided_at=utcnow(), message=done)  # fmt: skip
    shutil.rmtree(record.staging, ignore_errors=True)
    catalog.release(record.instrument)
    return sorted(names)


def _keep_uploaded_names(catalog: Catalog, files: list[dict[str, Any]]) -> None:
    """The names the files had when submitted (the import saw their official names)."""
    from sqlalchemy import update

    from shiftdesk.catalog.records import CatalogFileRecord

    with catalog.database.session() as s:
        for entry in files:
            s.execute(
                update(CatalogFileRecord)
                .where(
                    CatalogFileRecord.observatory == catalog.observatory,
                    CatalogFileRecord.name == entry["name"],
                )
                .values(uploaded_as=entry["uploaded_as"])
            )


def _cancel(catalog: Catalog, ident: str) -> None:
    record = _open_record(catalog, ident)
    _decide_check(catalog, record, "cancel")
    _update(catalog, ident, outcome="cancelled", decided_by=catalog.identity.name,
            decided_at=utcnow(),
            message="cancelled", **({} if record.status in ("done", "failed") else
                                    {"status": "cancelled", "finished_at": utcnow()}))  # fmt: skip
    shutil.rmtree(record.staging, ignore_errors=True)
    if record.instrument and catalog.holds_lock(record.instrument):
        catalog.release(record.instrument)


# -- the handle ---------------------------------------------------------------------------


class Submission(TrackedHandle[CatalogSubmissionRecord]):
    """A submission of reference files: its progress, findings, and the decision to make.

    Attributes (once prepared): :attr:`files` (each file's official name, type, rmap and
    useafter), :attr:`new_mappings`, :attr:`diffs` (``{mapping: {"derived_from", "text",
    "logical"}}``), :attr:`collisions` and :attr:`checks`.
    """

    def __init__(self, catalog: Catalog, ident: str) -> None:
        self.catalog = catalog
        self.id = ident
        self.refresh()

    def _read(self) -> CatalogSubmissionRecord:
        return _open_record(self.catalog, self.id)

    def _reconcile(self, record: CatalogSubmissionRecord) -> CatalogSubmissionRecord:
        if record.status in ("queued", "running") and owner_alive(record.host, record.pid) is False:
            # the process preparing it is gone: it will not finish
            record.status = "failed"
            record.error = "the process preparing this submission stopped; submit again"
        return record

    def _label(self) -> str:
        return f"submission {self.id[:8]}"

    def _timeout_hint(self) -> str:
        return "it goes on: look again with .refresh(), or wait longer with .wait()"

    @property
    def _plan(self) -> dict[str, Any]:
        try:
            value = json.loads(self._record.plan or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def status(self) -> str:
        """The preparation's state: queued, running, done, failed or cancelled."""
        return self._status

    @property
    def outcome(self) -> str:
        """pending (to decide), confirmed or cancelled."""
        return self._record.outcome

    @property
    def submitter(self) -> str:
        """Who submitted it."""
        return self._record.submitter

    @property
    def description(self) -> str:
        """What the files are."""
        return self._record.description

    @property
    def instrument(self) -> str:
        """The instrument whose rules it changes."""
        return self._record.instrument

    @property
    def derived_context(self) -> str:
        """The pmap its new rules derive from."""
        return self._record.derived_context

    @property
    def files(self) -> builtins.list[dict[str, Any]]:
        """The submitted files: ``uploaded_as``, official ``name``, ``reftype``, ``rmap``, ..."""
        return list(self._plan.get("files", []))

    @property
    def new_mappings(self) -> builtins.list[str]:
        """The new rmaps, imaps and (last) the new pmap."""
        return list(self._plan.get("new_mappings", []))

    @property
    def new_context(self) -> str | None:
        """The new pmap (the edit context once confirmed)."""
        value = self._plan.get("new_context")
        return str(value) if value else None

    @property
    def diffs(self) -> dict[str, dict[str, Any]]:
        """Per new mapping: ``derived_from``, the unified ``text`` diff, the ``logical`` rows."""
        return dict(self._plan.get("diffs", {}))

    @property
    def collisions(self) -> builtins.list[str]:
        """Warnings: other work derived from the same mappings."""
        return list(self._plan.get("collisions", []))

    @property
    def checks(self) -> builtins.list[Check]:
        """What the checks found, file by file (errors end the submission)."""
        return [Check(**c) for c in self._plan.get("checks", []) or []]

    def confirm(self) -> builtins.list[str]:
        """Deliver: the files enter the catalog and the new pmap becomes the edit context.

        Returns
        -------
        list of str
            The files delivered (references and new mappings).

        Raises
        ------
        CatalogError
            Not prepared (or failed), decided already, or the lock lapsed (submit again).
        PermissionDenied
            Not the submitter (nor an administrator).
        """
        delivered = self.catalog._confirm_submission(self.id)
        self.refresh()
        return list(delivered)

    def cancel(self) -> None:
        """Drop it: nothing of it stays but its row and the audit entry."""
        self.catalog._cancel_submission(self.id)
        self.refresh()

    def _repr_html_(self) -> str:
        from shiftdesk.display import table

        rows = [
            ("status", f"{self.status} · {self.outcome}"),
            ("submitter", self.submitter),
            ("derived from", self.derived_context),
            ("files", ", ".join(f"{f['uploaded_as']} → {f['name']}" for f in self.files) or "–"),
            ("new mappings", ", ".join(self.new_mappings) or "–"),
            ("collisions", "; ".join(self.collisions) or "none"),
        ]
        if self.error:
            rows.append(("error", self.error))
        return html_repr("Submission", self._label(), repr(self), table(rows))
