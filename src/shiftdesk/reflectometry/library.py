"""A user's reflectometry library: my data, my saved models, my fits."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from shiftdesk.audit import refused
from shiftdesk.display import html_repr, table
from shiftdesk.errors import ModelError, NotFound, PermissionDenied
from shiftdesk.identity import Identity, current_identity
from shiftdesk.jobs import Job, list_jobs
from shiftdesk.reflectometry.data import ReflData, load_data
from shiftdesk.reflectometry.fitting import KIND, FitResult
from shiftdesk.reflectometry.problem import FitProblem
from shiftdesk.storage import Database, DataFileRecord, SavedModelRecord, get_database

DOMAIN = "reflectometry"


@dataclass(frozen=True)
class DataEntry:
    """A stored data file as listed in "my data"."""

    id: int
    name: str
    owner: str
    n_points: int
    created_at: datetime


@dataclass(frozen=True)
class ModelEntry:
    """A saved model as listed in "my models"."""

    id: int
    title: str
    notes: str
    owner: str
    data_file_id: int | None
    updated_at: datetime


class Library:
    """The current user's data files, saved models and fits.

    Parameters
    ----------
    database : Database, optional
        Default: the default database.
    identity : Identity, optional
        Default: the current user. Users see only their own items unless admin.
    """

    def __init__(self, database: Database | None = None, identity: Identity | None = None):
        self.database = database or get_database()
        self.identity = identity or current_identity()

    def _check(self, owner: str, what: str) -> None:
        if not self.identity.can_read(owner):
            message = f"{what} belongs to {owner!r}; {self.identity.name!r} may not open it"
            refused("library.open", what, message, database=self.database)
            raise PermissionDenied(message)

    def _missing(self, what: str) -> NotFound:
        """Not found, or (with row-level security) not the caller's: both refused alike."""
        message = f"no {what} of yours ({self.identity.name!r}): it does not exist or is not yours"
        refused("library.open", what, message, database=self.database)
        return NotFound(message)

    # -- data ----------------------------------------------------------------------------
    def add_data(self, content: bytes, filename: str, **load_options: Any) -> tuple[int, ReflData]:
        """Parse an uploaded file and keep it (byte for byte); returns ``(id, data)``.

        The file is parsed first, so a bad file is refused before anything is stored.
        """
        data = load_data(content, filename=filename, **load_options)
        with self.database.session() as session:
            record = DataFileRecord(
                owner=self.identity.name,
                name=filename[:255],
                domain=DOMAIN,
                content=content,
                size=len(content),
                n_points=len(data),
            )
            session.add(record)
            session.flush()
            data_id = record.id
        return data_id, data

    def list_data(self) -> list[DataEntry]:
        """My data files, newest first."""
        query = (
            select(DataFileRecord)
            .where(DataFileRecord.domain == DOMAIN)
            .order_by(DataFileRecord.created_at.desc(), DataFileRecord.id.desc())
        )
        if not self.identity.admin:
            query = query.where(DataFileRecord.owner == self.identity.name)
        with self.database.session() as session:
            return [
                DataEntry(r.id, r.name, r.owner, r.n_points, r.created_at)
                for r in session.scalars(query)
            ]

    def open_data(self, data_id: int) -> ReflData:
        """Load a stored data file."""
        with self.database.session() as session:
            record = session.get(DataFileRecord, data_id)
            if record is None:
                raise self._missing(f"data file {data_id}")
            self._check(record.owner, f"data file {data_id}")
            content, name = record.content, record.name
        return load_data(content, filename=name)

    # -- models --------------------------------------------------------------------------
    def save_model(
        self,
        problem: FitProblem,
        title: str,
        notes: str = "",
        *,
        data_file_id: int | None = None,
        model_id: int | None = None,
    ) -> int:
        """Save (or overwrite ``model_id``) a model without its data; returns its id."""
        title = title.strip()
        if not title:
            raise ModelError("give the model a title before saving it")
        state = problem.to_dict(include_data=False)
        state["title"], state["notes"] = title, notes
        with self.database.session() as session:
            if model_id is not None:
                record = session.get(SavedModelRecord, model_id)
                if record is None:
                    raise self._missing(f"saved model {model_id}")
                self._check(record.owner, f"model {model_id}")
            else:
                record = SavedModelRecord(owner=self.identity.name, domain=DOMAIN)
                session.add(record)
            record.title = title[:255]
            record.notes = notes
            record.model_json = json.dumps(state)
            record.data_file_id = data_file_id
            session.flush()
            saved_id = record.id
        problem.title, problem.notes = title, notes
        return saved_id

    def list_models(self) -> list[ModelEntry]:
        """My saved models, most recently changed first."""
        query = (
            select(SavedModelRecord)
            .where(SavedModelRecord.domain == DOMAIN)
            .order_by(SavedModelRecord.updated_at.desc(), SavedModelRecord.id.desc())
        )
        if not self.identity.admin:
            query = query.where(SavedModelRecord.owner == self.identity.name)
        with self.database.session() as session:
            return [
                ModelEntry(r.id, r.title, r.notes, r.owner, r.data_file_id, r.updated_at)
                for r in session.scalars(query)
            ]

    def open_model(self, model_id: int, data: ReflData | bool | None = True) -> FitProblem:
        """Open a saved model; with its stored data file (default), or on ``data``."""
        with self.database.session() as session:
            record = session.get(SavedModelRecord, model_id)
            if record is None:
                raise self._missing(f"saved model {model_id}")
            self._check(record.owner, f"model {model_id}")
            state = json.loads(record.model_json)
            data_file_id = record.data_file_id
        problem = FitProblem.from_dict(state)
        if isinstance(data, ReflData):
            problem.data = data
        elif data is True and data_file_id is not None:
            # the data file may have been deleted: the model still opens
            with contextlib.suppress(NotFound, PermissionDenied):
                problem.data = self.open_data(data_file_id)
        return problem

    def delete_model(self, model_id: int) -> None:
        """Delete a saved model of mine."""
        with self.database.session() as session:
            record = session.get(SavedModelRecord, model_id)
            if record is None:
                raise self._missing(f"saved model {model_id}")
            self._check(record.owner, f"model {model_id}")
            session.delete(record)

    # -- fits ----------------------------------------------------------------------------
    def list_fits(self, limit: int = 100) -> list[Job]:
        """My fit jobs, newest first."""
        return list_jobs(kind=KIND, limit=limit, database=self.database, identity=self.identity)

    def open_fit(self, job_id: str) -> tuple[FitProblem, FitResult | None]:
        """The model a fit started from (with its data), and its result when done."""
        job = Job(job_id, self.database, self.identity)
        problem = FitProblem.from_dict(job.spec["problem"])
        result = None
        if job.status.value == "done":
            result = job.result()
        return problem, result

    def _repr_html_(self) -> str:
        data = [(d.id, d.name, d.n_points) for d in self.list_data()[:10]]
        models = [(m.id, m.title) for m in self.list_models()[:10]]
        body = "<div>data</div>" + table(data, ["id", "name", "points"])
        body += "<div>models</div>" + table(models, ["id", "title"])
        return html_repr("Library", self.identity.name, repr(self), body)

    def __repr__(self) -> str:
        return f"<Library of {self.identity.name} in {self.database!r}>"
