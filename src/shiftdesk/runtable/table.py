"""The run table: one row per run, one column per variable, live.

A :class:`RunTable` is a handle on a stored table. Reads check that the caller may see
it, writes that they may edit it (see :mod:`.access`); values computed from the context
file come from persisted jobs (:mod:`.processing`), never from the caller's process.
"""

from __future__ import annotations

import builtins
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, select, text, update

from shiftdesk.display import html_repr
from shiftdesk.display import table as html_table
from shiftdesk.errors import DataError, NotFound
from shiftdesk.gate import Gate, get_gate
from shiftdesk.gate.forward import through_gate
from shiftdesk.identity import Identity, current_identity
from shiftdesk.runtable import access
from shiftdesk.runtable import store as rstore
from shiftdesk.runtable.records import (
    RunRecord,
    RunTableMemberRecord,
    RunTableRecord,
    RunTableSettingsRecord,
    RunTableVariableRecord,
    RunValueRecord,
)
from shiftdesk.runtable.values import (
    BUILTIN_COLUMNS,
    USER_TYPES,
    CellValue,
    cell_value,
    encode_submitted,
    encode_user_value,
    table_value,
)
from shiftdesk.storage import Database, get_database
from shiftdesk.storage.database import data_dir
from shiftdesk.tracking import as_utc, utcnow

if TYPE_CHECKING:
    from shiftdesk.runtable.context.engine import ContextProblem
    from shiftdesk.runtable.metadata import RunMetadata, VariableData
    from shiftdesk.runtable.processing import RunProcessing

#: what ``process`` accepts for "every run of the table"
ALL = "all"
#: seconds between two :meth:`RunTable.pump` calls made by :meth:`RunTable.changes`
PUMP_PERIOD = 10.0


@dataclass(frozen=True)
class ColumnInfo:
    """A column of the table: where it comes from and how it is shown.

    ``type`` is None for computed variables and one of ``boolean``, ``integer``,
    ``number``, ``string`` for user variables (which people type into). ``source`` is
    ``builtin``, ``context``, ``user`` or ``submitted``.
    """

    name: str
    title: str = ""
    description: str = ""
    units: str = ""
    tags: tuple[str, ...] = ()
    type: str | None = None
    source: str = "context"
    summary: str | None = None

    @property
    def editable(self) -> bool:
        """People may type into it."""
        return self.type is not None


@dataclass(frozen=True)
class RunState:
    """A run's processing state: ``""`` (never), queued, running, done, failed, cancelled."""

    status: str = ""
    message: str = ""
    job: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Changes:
    """What changed since a change number (see :meth:`RunTable.changes`)."""

    seq: int
    runs: frozenset[int] = frozenset()
    columns: bool = False
    settings: bool = False
    new_runs: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.runs or self.columns or self.settings)


def _target(table: RunTable) -> str:
    return f"run table {table.name}"


def _people_text(value: str | Iterable[str] | None) -> str:
    return access.join_people(access.parse_people(value))


def _read_context_argument(context: str | os.PathLike[str] | None) -> str:
    if context is None:
        return ""
    if isinstance(context, os.PathLike) or (
        "\n" not in str(context) and str(context).endswith(".py")
    ):
        path = Path(context)
        if not path.is_file():
            raise FileNotFoundError(
                f"context file {str(path)!r} does not exist; give the path of a Python file "
                "(or its text)"
            )
        return path.read_text(encoding="utf-8")
    return str(context)


def check_template(data: str) -> str:
    """The ``data`` template, checked: it must name the run as ``{run}`` (formats allowed).

    Raises
    ------
    ValueError
        No ``{run}`` field, another field, or a format that does not take an integer.
    """
    template = os.fspath(data)
    if "{run" not in template:
        raise ValueError(
            f"the data template {template!r} has no {{run}} field; say where each run's "
            "data are, e.g. '/data/p4507/raw/r{run:04d}'"
        )
    try:
        template.format(run=1)
    except (KeyError, IndexError) as exc:
        raise ValueError(
            f"the data template {template!r} names {exc} besides {{run}}; only {{run}} "
            "(with a format such as {run:04d}) is filled in"
        ) from None
    except ValueError as exc:
        raise ValueError(f"the data template {template!r} cannot be filled in: {exc}") from None
    return template


class RunTable:
    """A live table of runs and the variables computed for them.

    Open one with :meth:`open` or make one with :meth:`create`; see the package
    docstring for a tour.
    """

    def __init__(
        self,
        snapshot: rstore.Snapshot,
        database: Database,
        identity: Identity,
        gate: Gate | None = None,
    ) -> None:
        self._table = snapshot
        self.database = database
        self.identity = identity
        self.gate: Gate = gate if gate is not None else get_gate()
        self._pumped = 0.0

    # -- making and finding tables ------------------------------------------------------
    @classmethod
    def create(
        cls,
        name: str,
        *,
        data: str | os.PathLike[str],
        context: str | os.PathLike[str] | None = None,
        title: str = "",
        experiment: str | None = None,
        folder: str | os.PathLike[str] | None = None,
        members: str | Iterable[str] | None = None,
        editors: str | Iterable[str] | None = None,
        backend: str = "local",
        concurrent_jobs: int = 15,
        time_limit: float = 600.0,
        database: Database | None = None,
        identity: Identity | None = None,
    ) -> RunTable:
        """Make a new run table owned by the current user.

        Parameters
        ----------
        name : str
            Unique name (letters, digits, ``_.-``), e.g. the proposal ``"p4507"``.
        data : str
            Where each run's data are: a path template with ``{run}``, e.g.
            ``"/data/p4507/raw/r{run:04d}"``.
        context : str or path, optional
            The context file (a path ending in ``.py``, or its text). It is validated in a
            separate process first; a table with an invalid context is not created.
        title : str
            What the table is, for people.
        experiment : str, optional
            The DAQ experiment whose closing runs arrive here.
        folder : path, optional
            Where the per-run HDF5 results go (default ``<data dir>/runtable/<name>``).
        members, editors : list of str, optional
            Who may read and who may edit (user names, ``group:NAME``, ``*`` for all).
        backend : str
            The job backend that processes runs (``local``, ``workers``, ``ssh``, ``dask``).
        concurrent_jobs : int
            At most this many runs are processed at once.
        time_limit : float
            Seconds one run's processing may take before it is stopped.

        Raises
        ------
        ValueError
            A bad name, template, limit or people list (the message says which).
        FileExistsError
            A table of that name exists.
        shiftdesk.runtable.ContextInvalid
            The context file has errors (each with its line).
        """
        db = database or get_database()
        who = identity or current_identity()
        if not access.NAME_PATTERN.match(name or ""):
            raise ValueError(
                f"{name!r} cannot name a run table: use 1-128 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit (e.g. 'p4507')"
            )
        template = check_template(os.fspath(data))
        if concurrent_jobs < 1:
            raise ValueError(f"concurrent_jobs must be at least 1, not {concurrent_jobs}")
        if not time_limit > 0:
            raise ValueError(f"time_limit must be a positive number of seconds, not {time_limit}")
        context_text = _read_context_argument(context)
        variables = _checked_variables(context_text) if context_text.strip() else {}
        where = Path(folder) if folder is not None else data_dir() / "runtable" / name
        with db.session() as s:
            if s.scalars(select(RunTableRecord.id).where(RunTableRecord.name == name)).first():
                raise FileExistsError(
                    f"a run table named {name!r} exists; open it with RunTable.open({name!r}) "
                    "or choose another name"
                )
            now = utcnow()
            record = RunTableRecord(
                name=name, title=title, owner=who.name, experiment=experiment,
                data_template=template, folder=str(where), context_text=context_text,
                context_version=1 if context_text else 0, members=_people_text(members),
                editors=_people_text(editors), backend=backend,
                concurrent_jobs=int(concurrent_jobs), time_limit_s=float(time_limit), seq=1,
                created_at=now, updated_at=now,
            )  # fmt: skip
            s.add(record)
            s.flush()
            snapshot = rstore.Snapshot.of(record)
            _sync_members(s, snapshot)
            rstore.ensure_variable(s, snapshot, "comment", 1, source="user", type_="string",
                                   title="comment")  # fmt: skip
            store_context_variables(s, snapshot, variables, 1)
        where.mkdir(parents=True, exist_ok=True)
        if context_text:
            _write_context_file(where, context_text)
        return cls(snapshot, db, who)

    @classmethod
    def open(
        cls,
        name: str,
        *,
        database: Database | None = None,
        identity: Identity | None = None,
        gate: Gate | None = None,
    ) -> RunTable:
        """Open the run table ``name``.

        Raises
        ------
        NotFound
            No such table.
        PermissionDenied
            The caller is not among its owner, members or editors.
        """
        db = database or get_database()
        who = identity or current_identity()
        snapshot = rstore.read_table(db, name=name)
        if not access.may_read(who, snapshot.owner, snapshot.members, snapshot.editors):
            raise access.refuse_read(who, name)
        table = cls(snapshot, db, who, gate)
        table.pump()
        return table

    @classmethod
    def list(
        cls, *, database: Database | None = None, identity: Identity | None = None
    ) -> list[str]:
        """The names of the tables the caller may open."""
        db = database or get_database()
        who = identity or current_identity()
        with db.session() as s:
            rows = s.execute(
                select(
                    RunTableRecord.name,
                    RunTableRecord.owner,
                    RunTableRecord.members,
                    RunTableRecord.editors,
                ).order_by(RunTableRecord.name)
            ).all()
        return [r[0] for r in rows if access.may_read(who, r[1], r[2], r[3])]

    @classmethod
    def import_damnit(
        cls,
        folder: str | os.PathLike[str],
        *,
        name: str | None = None,
        data: str | None = None,
        database: Database | None = None,
        identity: Identity | None = None,
        **options: Any,
    ) -> RunTable:
        """A new run table from an existing DAMNIT folder (see :mod:`.damnit_import`)."""
        from shiftdesk.runtable.damnit_import import import_damnit

        return import_damnit(
            cls, folder, name=name, data=data, database=database, identity=identity, **options
        )

    # -- the gate (changes go through it on a hub; see shiftdesk.gate.forward) -------------
    def _gate_args(self) -> dict[str, Any]:
        return {"table": self.name}

    def _from_gate(self, action: str, result: Any) -> Any:
        """What a method returns here, from its action's JSON result (see ``actions``)."""
        from shiftdesk.runtable import processing

        self.refresh()
        if action in ("runtable.process",):
            return [processing.RunProcessing(self, int(r)) for r in result]
        if action == "runtable.add_run":
            return None if result is None else processing.RunProcessing(self, int(result))
        if action == "runtable.set":
            run, name = int(result["run"]), str(result["name"])
            return self.cells([run], [name]).get((run, name)) or CellValue(kind="empty")
        if action == "runtable.add_user_variable":
            return self.columns()[str(result)]
        if action == "runtable.save_context":
            from shiftdesk.runtable.context.engine import ContextProblem

            return [ContextProblem(**p) for p in result]
        return result

    # -- what the table is ---------------------------------------------------------------
    @property
    def id(self) -> int:
        """The table's database id."""
        return self._table.id

    @property
    def name(self) -> str:
        """The table's unique name (the ``meta#proposal`` of the context file)."""
        return self._table.name

    @property
    def title(self) -> str:
        """What the table is, for people."""
        return self._table.title

    @property
    def owner(self) -> str:
        """Who owns the table (processing runs with their rights)."""
        return self._table.owner

    @property
    def experiment(self) -> str | None:
        """The DAQ experiment whose runs arrive here."""
        return self._table.experiment

    @property
    def data_template(self) -> str:
        """The path template of each run's data."""
        return self._table.data_template

    @property
    def folder(self) -> Path:
        """Where the per-run HDF5 results are."""
        return Path(self._table.folder)

    @property
    def context_text(self) -> str:
        """The current context file."""
        return self._table.context_text

    @property
    def context_version(self) -> int:
        """How many times the context file was saved."""
        return self._table.context_version

    @property
    def members(self) -> tuple[str, ...]:
        """Who may read (besides the owner and editors)."""
        return access.parse_people(self._table.members)

    @property
    def editors(self) -> tuple[str, ...]:
        """Who may edit (besides the owner)."""
        return access.parse_people(self._table.editors)

    @property
    def concurrent_jobs(self) -> int:
        """At most this many runs are processed at once."""
        return self._table.concurrent_jobs

    @property
    def time_limit(self) -> float:
        """Seconds one run's processing may take."""
        return self._table.time_limit_s

    @property
    def backend(self) -> str:
        """The job backend that processes runs."""
        return self._table.backend

    @property
    def can_edit(self) -> bool:
        """Whether the caller may change values, the context file and processing."""
        return access.may_edit(self.identity, self._table.owner, self._table.editors)

    def refresh(self) -> RunTable:
        """Re-read the table's settings (another user may have changed them)."""
        self._table = rstore.read_table(self.database, id=self.id)
        return self

    def run_path(self, run: int) -> Path:
        """Where run ``run``'s data are (the data template filled in)."""
        return Path(self._table.data_template.format(run=int(run)))

    def run_file(self, run: int) -> Path:
        """The HDF5 file holding run ``run``'s full results."""
        return self.folder / f"r{int(run):04d}.h5"

    def _require_edit(self, what: str) -> None:
        self.refresh()  # rights as they are now, not as when the table was opened
        if not self.can_edit:
            raise access.refuse_edit(self.identity, self.name, what)

    # -- the context file ----------------------------------------------------------------
    def validate(
        self, context: str | os.PathLike[str] | None = None
    ) -> builtins.list[ContextProblem]:
        """Check a context file (default: the table's) in a separate process.

        Returns
        -------
        list of ContextProblem
            Errors and warnings with their line numbers; ``[]`` when all is well.
        """
        from shiftdesk.runtable.context.engine import validate_context

        source = self.context_text if context is None else _read_context_argument(context)
        return list(validate_context(source))

    @through_gate("runtable.save_context", target=_target)
    def save_context(self, context: str | os.PathLike[str]) -> builtins.list[ContextProblem]:
        """Replace the context file (refused while it has errors).

        Values already computed stay until runs are reprocessed.

        Returns
        -------
        list of ContextProblem
            The warnings (pyflakes) of the saved file.

        Raises
        ------
        ContextInvalid
            The file has errors; nothing was saved.
        PermissionDenied
            The caller may not edit the table.
        """
        self._require_edit("change its context file")
        from shiftdesk.runtable.context.engine import validate_context

        source = _read_context_argument(context)
        problems = list(validate_context(source)) if source.strip() else []
        variables = _checked_variables(source, problems) if source.strip() else {}
        with rstore.write(self.database, self.id) as (s, seq):
            users = set(
                s.scalars(
                    select(RunTableVariableRecord.name).where(
                        RunTableVariableRecord.table_id == self.id,
                        RunTableVariableRecord.source == "user",
                    )
                )
            )
            clash = sorted(set(variables) & (users | set(BUILTIN_COLUMNS)))
            if clash:
                from shiftdesk.runtable.context.engine import ContextInvalid

                raise ContextInvalid(
                    [_problem(f"variable {n!r} has the name of a user column; rename it")
                     for n in clash]
                )  # fmt: skip
            s.execute(
                update(RunTableRecord)
                .where(RunTableRecord.id == self.id)
                .values(context_text=source, context_version=RunTableRecord.context_version + 1)
                .execution_options(synchronize_session=False)
            )
            store_context_variables(s, self._table, variables, seq)
        _write_context_file(self.folder, source)
        self.refresh()
        return [p for p in problems if p.severity != "error"]

    # -- columns --------------------------------------------------------------------------
    def columns(self) -> dict[str, ColumnInfo]:
        """Every column in table order: ``start_time``, ``comment``, then the variables."""
        with self.database.session() as s:
            records = s.scalars(
                select(RunTableVariableRecord)
                .where(RunTableVariableRecord.table_id == self.id)
                .order_by(RunTableVariableRecord.position)
            ).all()
            columns = {
                "start_time": ColumnInfo(
                    "start_time", "start time", "when the run started (UTC)", source="builtin"
                )
            }
            for r in records:
                columns[r.name] = ColumnInfo(
                    name=r.name, title=r.title or r.name, description=r.description,
                    units=r.units, tags=tuple(json.loads(r.tags_json or "[]")), type=r.type,
                    source=r.source, summary=r.summary,
                )  # fmt: skip
        comment = columns.pop("comment", None)
        ordered = {"start_time": columns.pop("start_time")}
        if comment is not None:
            ordered["comment"] = comment
        ordered.update(columns)
        return ordered

    @through_gate("runtable.add_user_variable", target=_target)
    def add_user_variable(
        self,
        name: str,
        type: str = "string",
        *,
        title: str = "",
        description: str = "",
        units: str = "",
        tags: Sequence[str] = (),
    ) -> ColumnInfo:
        """Add a column people type into (boolean, integer, number or string).

        Raises
        ------
        ValueError
            A bad name or type, or a column of that name exists with another source or type.
        PermissionDenied
            The caller may not edit the table.
        """
        self._require_edit("add columns")
        if type not in USER_TYPES:
            raise ValueError(
                f"{type!r} is not a user-variable type; use one of {', '.join(USER_TYPES)}"
            )
        if not name or not name.isidentifier() or name in BUILTIN_COLUMNS:
            raise ValueError(
                f"{name!r} cannot name a column: use a Python identifier other than "
                f"{' and '.join(BUILTIN_COLUMNS)} (e.g. 'sample_name')"
            )
        with rstore.write(self.database, self.id) as (s, seq):
            existing = s.scalars(
                select(RunTableVariableRecord).where(
                    RunTableVariableRecord.table_id == self.id,
                    RunTableVariableRecord.name == name,
                )
            ).first()
            if existing is not None:
                if existing.source == "user" and existing.type == type:
                    return self.columns()[name]
                raise ValueError(
                    f"the table has a column {name!r} already ({existing.source}"
                    f"{', ' + existing.type if existing.type else ''}); choose another name"
                )
            rstore.ensure_variable(
                s, self._table, name, seq, source="user", type_=type, title=title or name,
                description=description, units=units, tags=tags,
            )  # fmt: skip
        return self.columns()[name]

    # -- runs ------------------------------------------------------------------------------
    def runs(self) -> builtins.list[int]:
        """The run numbers of the table, ascending."""
        with self.database.session() as s:
            return list(
                s.scalars(
                    select(RunRecord.run)
                    .where(RunRecord.table_id == self.id)
                    .order_by(RunRecord.run)
                )
            )

    @through_gate("runtable.add_run", target=_target)
    def add_run(
        self, run: int, *, start_time: datetime | None = None, process: bool = True
    ) -> RunProcessing | None:
        """Say that run ``run`` exists: its row appears at once, then it is processed.

        Idempotent: a run the table has already does not run again (use :meth:`process`
        to reprocess). This is what the DAQ, the folder watcher and ``shiftdesk runtable
        notify`` call.

        Returns
        -------
        RunProcessing or None
            The processing handle of a new run (None when the run was known or
            ``process`` is False, or when the table has no context file).
        """
        from shiftdesk.runtable import processing

        self._require_edit("add runs")
        number = _run_number(run)
        with rstore.write(self.database, self.id) as (s, seq):
            added = rstore.ensure_runs(s, self._table, [number], seq,
                                       start_times={number: as_utc(start_time)})  # fmt: skip
            queue = process and bool(added) and bool(self._table.context_text.strip())
            if queue:
                processing.mark_queued(s, self._table, [number], seq, None, None)
        if not queue:
            return None
        processing.dispatch(self.database, self.id)
        return processing.RunProcessing(self, number)

    @through_gate("runtable.add_runs", target=_target)
    def add_runs(self, runs: Iterable[int], *, process: bool = True) -> builtins.list[int]:
        """Say that several runs exist (see :meth:`add_run`); returns those that are new."""
        from shiftdesk.runtable import processing

        self._require_edit("add runs")
        numbers = _run_numbers(runs)
        with rstore.write(self.database, self.id) as (s, seq):
            added = rstore.ensure_runs(s, self._table, numbers, seq)
            queue = process and bool(added) and bool(self._table.context_text.strip())
            if queue:
                processing.mark_queued(s, self._table, added, seq, None, None)
        if queue:
            processing.dispatch(self.database, self.id)
        return added

    @through_gate("runtable.set_start_time", target=_target)
    def set_start_time(self, run: int, start_time: datetime) -> None:
        """Record when run ``run`` started (the DAQ knows it; a notice may not)."""
        self._require_edit("change runs")
        number = _run_number(run)
        with rstore.write(self.database, self.id) as (s, seq):
            s.execute(
                update(RunRecord)
                .where(RunRecord.table_id == self.id, RunRecord.run == number)
                .values(start_time=as_utc(start_time), seq=seq)
            )

    @through_gate("runtable.process", target=_target)
    def process(
        self,
        runs: int | Iterable[int] | str = ALL,
        *,
        variables: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        start: bool = True,
    ) -> builtins.list[RunProcessing]:
        """(Re)compute the context's variables for runs, one persisted job per run.

        Parameters
        ----------
        runs : int, iterable of int or ``"all"``
            Which runs; runs the table does not have yet are added.
        variables : list of str, optional
            Only these variables (globs allowed, e.g. ``["xgm*"]``) and what they need.
        params : dict, optional
            Values for the context's ``param#name`` arguments (JSON-ready).
        start : bool
            Start jobs now (default); False only queues the runs for the next
            :meth:`pump`.

        Returns
        -------
        list of RunProcessing
            One per run, with ``.status``, ``.result(timeout=...)``, ``.cancel()`` and
            ``.logs()``. At most :attr:`concurrent_jobs` run at once; the others wait.

        Raises
        ------
        ValueError
            The table has no context file, or ``params`` is not JSON-ready.
        PermissionDenied
            The caller may not edit the table.
        """
        from shiftdesk.runtable import processing

        self._require_edit("process runs")
        if not self._table.context_text.strip():
            self.refresh()
        if not self._table.context_text.strip():
            raise ValueError(
                f"run table {self.name!r} has no context file yet; save one with "
                "save_context(...) before processing"
            )
        numbers = self.runs() if runs == ALL else _run_numbers(runs)
        try:
            json.dumps(dict(params or {}))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"params must be JSON-ready values: {exc}") from None
        if variables is not None:
            variables = [str(v) for v in ([variables] if isinstance(variables, str) else variables)]
        with rstore.write(self.database, self.id) as (s, seq):
            rstore.ensure_runs(s, self._table, numbers, seq)
            processing.mark_queued(s, self._table, numbers, seq, variables, dict(params or {}))
        if start:
            processing.dispatch(self.database, self.id)
        return [processing.RunProcessing(self, n) for n in numbers]

    @through_gate("runtable.cancel", target=_target)
    def cancel(self, runs: int | Iterable[int] | str = ALL) -> builtins.list[int]:
        """Stop the processing of runs (queued ones never start); returns those affected."""
        from shiftdesk.runtable import processing

        self._require_edit("cancel processing")
        numbers = None if runs == ALL else _run_numbers(runs)
        return processing.cancel(self.database, self._table, numbers)

    def log(self, run: int) -> str:
        """The log of run ``run``'s latest processing job ("" when it has none)."""
        from shiftdesk.runtable import processing

        return processing.run_log(self.database, self.id, _run_number(run))

    def states(self, runs: Iterable[int] | None = None) -> dict[int, RunState]:
        """Each run's processing state."""
        query = select(
            RunRecord.run, RunRecord.status, RunRecord.message, RunRecord.job_id,
            RunRecord.status_at,
        ).where(RunRecord.table_id == self.id)  # fmt: skip
        if runs is not None:
            query = query.where(RunRecord.run.in_(_run_numbers(runs)))
        with self.database.session() as s:
            rows = s.execute(query).all()
        return {
            r[0]: RunState(
                "queued" if r[1] == "submitted" else r[1], r[2] or "", r[3], as_utc(r[4])
            )
            for r in rows
        }

    # -- values ----------------------------------------------------------------------------
    def _column(self, name: str) -> ColumnInfo:
        columns = self.columns()
        if name not in columns:
            raise NotFound(
                f"run table {self.name!r} has no column {name!r}; add_user_variable({name!r}, "
                f"type=...) makes one (columns: {', '.join(columns)})"
            )
        return columns[name]

    @through_gate("runtable.set", target=_target)
    def set(self, run: int, name: str, value: Any) -> CellValue:
        """Type a value into a user column (or the comment) of a run.

        ``None`` clears the cell. Who and when are kept with the value; reprocessing
        never touches it.

        Raises
        ------
        ValueTypeError
            The value does not have the column's type (the message says which).
        NotFound
            No such run or column.
        PermissionDenied
            The caller may not edit the table, or the column is computed.
        """
        self._require_edit("change values")
        number = _run_number(run)
        column = self._column(name)
        if column.type is None:
            raise DataError(
                f"{name!r} is computed ({column.source}); only user columns and the comment "
                "take typed values (add_user_variable makes one)"
            )
        kind, num, txt = encode_user_value(value, column.type, name)
        now = utcnow()
        with rstore.write(self.database, self.id) as (s, seq):
            if s.get(RunRecord, (self.id, number)) is None:
                raise NotFound(
                    f"run table {self.name!r} has no run {number}; add_run({number}) first"
                )
            if kind == "empty":
                s.execute(
                    delete(RunValueRecord).where(
                        RunValueRecord.table_id == self.id,
                        RunValueRecord.run == number,
                        RunValueRecord.name == name,
                    )
                )
                s.execute(
                    update(RunRecord)
                    .where(RunRecord.table_id == self.id, RunRecord.run == number)
                    .values(seq=seq)
                )
            else:
                row = rstore.value_row(
                    self._table, number, name, kind, num, txt,
                    provenance="user", who=self.identity.name, at=now, seq=seq,
                )  # fmt: skip
                rstore.upsert_values(s, [row])
        return CellValue(
            value=table_value(kind, num, txt), kind=kind, provenance="user",
            who=self.identity.name, at=now,
        )  # fmt: skip

    @through_gate("runtable.submit", target=_target)
    def submit(
        self,
        run: int,
        values: Mapping[str, Any],
        *,
        provenance: str = "external",
        units: Mapping[str, str] | None = None,
        titles: Mapping[str, str] | None = None,
    ) -> int:
        """Add values from an external program (a cryostat, a run sheet) to a run.

        Each name becomes a column when new (source ``submitted``); values are numbers,
        booleans, text or dates. A run the table does not have yet is added (not
        processed).

        Returns
        -------
        int
            How many values were stored.

        Raises
        ------
        ValueTypeError
            A value of another kind (the message names it); nothing was stored.
        DataError
            A name is a computed or user column.
        """
        self._require_edit("submit values")
        number = _run_number(run)
        encoded = {}
        for name, value in values.items():
            if not str(name).isidentifier():
                raise DataError(f"{name!r} cannot name a column: use a Python identifier")
            encoded[str(name)] = encode_submitted(value, str(name))
        columns = self.columns()
        taken = [n for n in encoded if n in columns and columns[n].source != "submitted"]
        if taken:
            raise DataError(
                f"{', '.join(map(repr, taken))} {'is' if len(taken) == 1 else 'are'} "
                f"{' / '.join(sorted({columns[n].source for n in taken}))} column(s); "
                "submit under another name (set() types into user columns)"
            )
        now = utcnow()
        with rstore.write(self.database, self.id) as (s, seq):
            rstore.ensure_runs(s, self._table, [number], seq)
            for name in encoded:
                rstore.ensure_variable(
                    s, self._table, name, seq, source="submitted",
                    title=(titles or {}).get(name, name), units=(units or {}).get(name, ""),
                )  # fmt: skip
            rows = [
                rstore.value_row(
                    self._table, number, name, kind, num, txt,
                    provenance=provenance, who=self.identity.name, at=now, seq=seq,
                )
                for name, (kind, num, txt) in encoded.items()
            ]  # fmt: skip
            rstore.upsert_values(s, rows)
        return len(rows)

    def cells(
        self, runs: Iterable[int] | None = None, names: Iterable[str] | None = None
    ) -> dict[tuple[int, str], CellValue]:
        """Every stored cell of runs (default all) with its display attributes and blobs."""
        query = select(
            RunValueRecord.run, RunValueRecord.name, RunValueRecord.kind, RunValueRecord.number,
            RunValueRecord.text, RunValueRecord.blob, RunValueRecord.max_diff,
            RunValueRecord.attributes_json, RunValueRecord.provenance, RunValueRecord.who,
            RunValueRecord.at,
        ).where(RunValueRecord.table_id == self.id)  # fmt: skip
        if runs is not None:
            query = query.where(RunValueRecord.run.in_(_run_numbers(runs)))
        if names is not None:
            query = query.where(RunValueRecord.name.in_(list(names)))
        with self.database.session() as s:
            rows = s.execute(query).all()
        return {(r[0], r[1]): cell_value(*r[2:10], as_utc(r[10])) for r in rows}

    def table(self, variables: Sequence[str] | None = None) -> pd.DataFrame:
        """The table as a pandas DataFrame: one row per run (index ``run``).

        Columns: ``start_time``, ``comment``, then the variables in column order. Numbers
        are floats (user integer and boolean columns keep their type), thumbnails and
        sparklines show as ``"<thumbnail>"``/``"<sparkline>"`` (``rt[run, name].read()``
        gives the data), cells without a value are NaN/None. One ordered read and a pivot.
        """
        columns = self.columns()
        order = [c for c in columns if c != "start_time"]
        if variables is not None:
            wanted = list(variables)
            unknown = [v for v in wanted if v not in columns]
            if unknown:
                raise NotFound(f"no column(s) {', '.join(map(repr, unknown))} in {self.name!r}")
            order = [c for c in wanted if c != "start_time"]
        with self.database.engine.connect() as conn:
            runs = conn.execute(
                text("SELECT run, start_time FROM runtable_runs WHERE table_id = :t ORDER BY run"),
                {"t": self.id},
            ).all()
            # the DB-API cursor directly: 300,000 cells without a SQLAlchemy row object each
            cells = _raw_rows(
                conn, "SELECT run, name, number, text FROM runtable_values WHERE table_id = ?",
                (self.id,),
            )  # fmt: skip
        index = pd.Index([r[0] for r in runs], name="run", dtype="int64")
        start = (
            pd.to_datetime([r[1] for r in runs], utc=True)
            if runs
            else pd.DatetimeIndex([], tz="UTC")
        )
        frame = _pivot(cells, index, order)
        frame.insert(
            0, "start_time", start if len(index) else pd.Series([], dtype="datetime64[ns, UTC]")
        )
        return _typed(frame, columns)

    def __getitem__(self, key: int | tuple[int, str]) -> RunMetadata | VariableData:
        from shiftdesk.runtable.metadata import RunMetadata, VariableData

        if isinstance(key, tuple):
            run, name = key
            self._column(name)
            return VariableData(self, _run_number(run), name)
        return RunMetadata.load(self, _run_number(key))

    def __contains__(self, run: object) -> bool:
        try:
            number = _run_number(run)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        with self.database.session() as s:
            return s.get(RunRecord, (self.id, number)) is not None

    def __len__(self) -> int:
        with self.database.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM runtable_runs WHERE table_id = :t"), {"t": self.id}
                ).scalar_one()
            )

    def pump(self) -> builtins.list[int]:
        """Start queued runs while slots are free, and free the slots of lost jobs.

        Jobs do this themselves as they finish; this covers runs queued while no job ran
        (the demo's seeding, a worker killed without a word). Editors' views call it now
        and then; for readers it does nothing. Returns the runs submitted.
        """

        self._pumped = time.monotonic()
        if not self.can_edit:
            return []
        with self.database.engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM runtable_runs WHERE table_id = :t "
                    "AND status IN ('queued', 'submitted', 'running')"
                ),
                {"t": self.id},
            ).scalar_one()
        if not waiting:
            return []
        return self.start_waiting()

    @through_gate("runtable.start_waiting", target=_target)
    def start_waiting(self) -> builtins.list[int]:
        """Free the slots of lost jobs and start queued runs (see :meth:`pump`)."""
        from shiftdesk.runtable import processing

        self._require_edit("start processing")
        processing.reconcile(self.database, self.id)
        return processing.dispatch(self.database, self.id)

    # -- following changes --------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """The table's change number now (pass it to :meth:`changes` later)."""
        with self.database.engine.connect() as conn:
            value = conn.execute(
                text("SELECT seq FROM runtable_tables WHERE id = :t"), {"t": self.id}
            ).scalar_one_or_none()
        if value is None:
            raise NotFound(f"run table {self.name!r} is gone")
        return int(value)

    def changes(self, since: int) -> Changes:
        """What changed after change number ``since``: runs (values, states), columns.

        A view keeps the returned ``seq`` and asks again with it; each call is a few
        indexed reads, whatever the table's size. Every :data:`PUMP_PERIOD` seconds it
        also calls :meth:`pump`.
        """
        if time.monotonic() - self._pumped > PUMP_PERIOD:
            self.pump()
        with self.database.engine.connect() as conn:
            seq = conn.execute(
                text("SELECT seq FROM runtable_tables WHERE id = :t"), {"t": self.id}
            ).scalar_one_or_none()
            if seq is None:
                raise NotFound(f"run table {self.name!r} is gone")
            if seq <= since:
                return Changes(int(seq))
            params = {"t": self.id, "s": since}
            value_runs = conn.execute(
                text("SELECT DISTINCT run FROM runtable_values WHERE table_id = :t AND seq > :s"),
                params,
            ).all()
            run_rows = conn.execute(
                text("SELECT run, added_at FROM runtable_runs WHERE table_id = :t AND seq > :s"),
                params,
            ).all()
            columns = conn.execute(
                text("SELECT count(*) FROM runtable_variables WHERE table_id = :t AND seq > :s"),
                params,
            ).scalar_one()
        runs = {r[0] for r in value_runs} | {r[0] for r in run_rows}
        changed_table = not runs and not columns
        if changed_table:
            self.refresh()
        return Changes(
            int(seq), frozenset(runs), bool(columns), settings=changed_table,
            new_runs=frozenset(),
        )  # fmt: skip

    # -- people and views ------------------------------------------------------------------
    @through_gate("runtable.set_people", target=_target)
    def set_people(
        self,
        *,
        members: str | Iterable[str] | None = None,
        editors: str | Iterable[str] | None = None,
    ) -> None:
        """Change who may read (members) and who may edit (editors): the owner only."""
        if not (self.identity.admin or self.identity.name == self.owner):
            raise access.refuse_edit(self.identity, self.name, "change who may see or edit it")
        values: dict[str, str] = {}
        if members is not None:
            values["members"] = _people_text(members)
        if editors is not None:
            values["editors"] = _people_text(editors)
        with rstore.write(self.database, self.id) as (s, _seq):
            if values:
                s.execute(
                    update(RunTableRecord).where(RunTableRecord.id == self.id).values(**values)
                )
            s.flush()
            record = s.get(RunTableRecord, self.id)
            assert record is not None
            s.refresh(record)
            _sync_members(s, rstore.Snapshot.of(record))
        self.refresh()

    def _settings_record(self, s: Any) -> RunTableSettingsRecord | None:
        return s.scalars(
            select(RunTableSettingsRecord).where(
                RunTableSettingsRecord.owner == self.identity.name,
                RunTableSettingsRecord.table_id == self.id,
            )
        ).first()

    def view_settings(self) -> dict[str, Any]:
        """The caller's saved view of this table (column order, hidden, filters, sort)."""
        with self.database.session() as s:
            record = self._settings_record(s)
            return dict(json.loads(record.settings_json)) if record is not None else {}

    def save_view_settings(self, settings: Mapping[str, Any]) -> None:
        """Remember the caller's view of this table (any JSON-ready dict)."""
        try:
            payload = json.dumps(dict(settings))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"view settings must be JSON-ready: {exc}") from None
        with self.database.session() as s:
            record = self._settings_record(s)
            if record is None:
                record = RunTableSettingsRecord(owner=self.identity.name, table_id=self.id)
                s.add(record)
            record.settings_json = payload
            record.updated_at = utcnow()

    # -- export ------------------------------------------------------------------------------
    def export(
        self, path: str | os.PathLike[str], *, variables: Sequence[str] | None = None
    ) -> Path:
        """Write the table to ``.csv``, ``.xlsx`` or ``.md`` (by the suffix); returns the path."""
        from shiftdesk.runtable.export import export_frame

        return export_frame(self.table(variables), Path(path), title=self.title or self.name)

    # -- display -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        shown = len(self.columns()) - 1
        return f"<RunTable {self.name!r} of {self.owner}: {len(self)} runs, {shown} columns>"

    def _repr_html_(self) -> str:
        frame = self.table()
        tail = frame.tail(10)
        rows = [
            [str(run)] + [_short(v) for v in row]
            for run, row in zip(tail.index, tail.itertuples(index=False), strict=True)
        ]
        body = (
            f"<div>{len(frame)} runs · data {self.data_template} · owner {self.owner}</div>"
            + html_table(rows, ["run", *map(str, frame.columns)])
        )
        return html_repr("RunTable", self.title or self.name, repr(self), body)


# -- helpers -----------------------------------------------------------------------------------
def _run_number(run: int) -> int:
    if isinstance(run, bool) or not isinstance(run, (int, np.integer)):
        if isinstance(run, str) and run.strip().isdigit():
            return int(run)
        raise TypeError(f"a run number is a non-negative integer, not {run!r}")
    if run < 0:
        raise ValueError(f"a run number is a non-negative integer, not {run}")
    return int(run)


def _run_numbers(runs: int | Iterable[int] | str) -> list[int]:
    if isinstance(runs, (int, np.integer, str)):
        return [_run_number(runs)]  # type: ignore[arg-type]
    return sorted({_run_number(r) for r in runs})


def _short(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)[:40]


def _problem(message: str) -> Any:
    from shiftdesk.runtable.context.engine import ContextProblem

    return ContextProblem(line=None, column=None, message=message, severity="error")


def _checked_variables(source: str, problems: list[Any] | None = None) -> dict[str, Any]:
    """The context's variables, or ContextInvalid with its errors."""
    from shiftdesk.runtable.context.engine import ContextInvalid, read_variables, validate_context

    found = problems if problems is not None else list(validate_context(source))
    errors = [p for p in found if p.severity == "error"]
    if errors:
        raise ContextInvalid(errors)
    return dict(read_variables(source))


def store_context_variables(
    s: Any, table: rstore.Snapshot, variables: Mapping[str, Any], seq: int
) -> None:
    """Make the context's variables columns, updating titles, units and tags."""
    existing = {
        r.name: r
        for r in s.scalars(
            select(RunTableVariableRecord).where(RunTableVariableRecord.table_id == table.id)
        )
    }
    for name, meta in variables.items():
        tags = getattr(meta, "tags", ()) or ()
        tags = [tags] if isinstance(tags, str) else list(tags)
        fields = {
            "title": getattr(meta, "title", None) or name,
            "description": getattr(meta, "description", None) or "",
            "units": getattr(meta, "units", None) or "",
            "summary": getattr(meta, "summary", None),
        }
        record = existing.get(name)
        if record is None:
            rstore.ensure_variable(s, table, name, seq, source="context", tags=tags, **fields)
            continue
        changed = (
            any(getattr(record, k) != v for k, v in fields.items())
            or json.loads(record.tags_json) != tags
            or record.source != "context"
        )
        if changed:
            for k, v in fields.items():
                setattr(record, k, v)
            record.tags_json = json.dumps(tags)
            record.source = "context"
            record.seq = seq


def _sync_members(s: Any, table: rstore.Snapshot) -> None:
    """The members table as row-level security reads it (user names and ``*``).

    Group entries are expanded by the hub's gate, which knows the groups; here they are
    kept as written (a user name never starts with ``group:``).
    """
    wanted = set(access.parse_people(table.members)) | set(access.parse_people(table.editors))
    s.execute(delete(RunTableMemberRecord).where(RunTableMemberRecord.table_id == table.id))
    for member in sorted(wanted):
        s.add(RunTableMemberRecord(table_id=table.id, member=member, owner=table.owner))


def _write_context_file(folder: Path, source: str) -> None:
    """Keep ``<folder>/context.py`` as the saved context (written whole, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".context.py.{os.getpid()}.tmp"
    temporary.write_text(source, encoding="utf-8")
    os.replace(temporary, folder / "context.py")


def _raw_rows(conn: Any, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders) read with the connection's DB-API cursor."""
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _pivot(cells: Sequence[Any], index: pd.Index, order: list[str]) -> pd.DataFrame:
    """Long cells to a wide frame: numbers into one float grid, texts into object columns."""
    frame = pd.DataFrame(
        np.full((len(index), len(order)), np.nan), index=index, columns=pd.Index(order)
    )
    if not cells:
        return frame
    long = pd.DataFrame.from_records(cells, columns=["run", "name", "number", "text"])
    rows = index.get_indexer(long["run"])
    cols = pd.Index(order).get_indexer(long["name"])
    known = (rows >= 0) & (cols >= 0)
    texts = long["text"].to_numpy(dtype=object)
    has_text = long["text"].notna().to_numpy() & known
    numeric = known & ~has_text
    grid = frame.to_numpy(copy=True)
    grid[rows[numeric], cols[numeric]] = long["number"].to_numpy(dtype="float64")[numeric]
    frame = pd.DataFrame(grid, index=index, columns=pd.Index(order))
    for col in np.unique(cols[has_text]):
        mask = has_text & (cols == col)
        column = frame.iloc[:, col]
        values = column.to_numpy(dtype=object) if column.notna().any() else np.full(
            len(index), None, dtype=object
        )  # fmt: skip
        values[rows[mask]] = texts[mask]
        frame[order[col]] = values
    return frame


def _typed(frame: pd.DataFrame, columns: Mapping[str, ColumnInfo]) -> pd.DataFrame:
    for name, info in columns.items():
        if name not in frame.columns or info.type is None:
            continue
        series = frame[name]
        if info.type == "integer":
            frame[name] = pd.to_numeric(series, errors="coerce").astype("Int64")
        elif info.type == "boolean":
            frame[name] = pd.to_numeric(series, errors="coerce").astype("boolean")
        elif info.type == "number":
            frame[name] = pd.to_numeric(series, errors="coerce")
        else:
            frame[name] = series.astype(object).where(series.notna(), None)
    return frame
