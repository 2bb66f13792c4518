"""Experiments: which one is active, and who may operate it.

Operators of an experiment are the members of its hub group (``operators-<name>`` unless
configured otherwise), the users on its configured operator list (until hub groups
exist everywhere), and administrators. Everyone else sees the DAQ read-only; the check
lives here, in the core, so no view can bypass it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select

from shiftdesk.daq.errors import DAQStateError, SetupError
from shiftdesk.daq.records import ECCServerRecord, ExperimentRecord, RunRecord
from shiftdesk.errors import NotFound, PermissionDenied
from shiftdesk.identity import Identity
from shiftdesk.storage import Database

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def default_operator_group(name: str) -> str:
    """The hub group whose members operate experiment ``name``."""
    return f"operators-{name}"


def operator_list(record: ExperimentRecord) -> list[str]:
    """The configured operator user names of an experiment."""
    return [u.strip() for u in (record.operators or "").split(",") if u.strip()]


def is_operator(identity: Identity, record: ExperimentRecord) -> bool:
    """Whether ``identity`` may send commands and edit the run sheet of ``record``."""
    group = record.operator_group or default_operator_group(record.name)
    return identity.admin or group in identity.groups or identity.name in operator_list(record)


def require_operator(identity: Identity, record: ExperimentRecord, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``identity`` operates ``record``."""
    if is_operator(identity, record):
        return
    group = record.operator_group or default_operator_group(record.name)
    listed = ", ".join(operator_list(record)) or "none"
    raise PermissionDenied(
        f"{identity.name!r} may not {action} in experiment {record.name!r}: only members of "
        f"the group {group!r} or the configured operators ({listed}) may. The DAQ stays "
        "visible read-only; ask the run coordinator to add you."
    )


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SetupError(
            f"experiment name {name!r} is not usable: use letters, digits, '_', '.', '-' "
            "(it becomes a folder name on the data routers), at most 128 characters"
        )
    return name


def active_experiment(database: Database) -> ExperimentRecord:
    """The active experiment's row.

    Raises
    ------
    NotFound
        When no experiment is active (create one with :func:`create_experiment`).
    """
    with database.session() as session:
        record = session.scalars(
            select(ExperimentRecord).where(ExperimentRecord.active.is_(True))
        ).first()
        if record is None:
            raise NotFound(
                "no DAQ experiment is active: create one with "
                "shiftdesk.daq.create_experiment('e20009', operators=[...])"
            )
        session.expunge(record)
    return record


def _may_manage(identity: Identity, session: object, current: ExperimentRecord | None) -> bool:
    return identity.admin or current is None or is_operator(identity, current)


def _refuse_switch_while_busy(session: object, current: ExperimentRecord) -> None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    busy = session.scalars(
        select(ECCServerRecord.name).where(
            ECCServerRecord.experiment_id == current.id,
            ECCServerRecord.state.is_not(None),
            ECCServerRecord.state > 1,
        )
    ).all()
    open_run = session.scalars(
        select(RunRecord.run_number).where(
            RunRecord.experiment_id == current.id, RunRecord.stopped_at.is_(None)
        )
    ).first()
    if busy or open_run is not None:
        reasons = [f"run {open_run} is open"] if open_run is not None else []
        if busy:
            reasons.append(f"ECC servers not Idle: {', '.join(busy)}")
        raise DAQStateError(
            f"experiment {current.name!r} is still in use ({'; '.join(reasons)}): stop the "
            "run and reset every ECC server to Idle before switching"
        )


def create_experiment(
    name: str,
    *,
    operators: Iterable[str] = (),
    operator_group: str | None = None,
    activate: bool = True,
    database: Database,
    identity: Identity,
) -> None:
    """Create an experiment (and make it the active one unless ``activate=False``).

    Parameters
    ----------
    name : str
        Unique name; it also names the per-run folders on the data routers.
    operators : iterable of str
        User names allowed to operate it (besides the group and administrators).
    operator_group : str, optional
        Hub group of its operators (default ``operators-<name>``).

    Raises
    ------
    SetupError
        Bad or duplicate name.
    PermissionDenied
        Only administrators or operators of the active experiment may create one (anyone
        may create the first).
    DAQStateError
        Activating while the current experiment has an open run or non-idle servers.
    """
    _check_name(name)
    users = sorted({u.strip() for u in operators if u and u.strip()})
    if any("," in u for u in users):
        raise SetupError(f"operator names cannot contain commas: {users}")
    with database.session() as session:
        current = session.scalars(
            select(ExperimentRecord).where(ExperimentRecord.active.is_(True))
        ).first()
        if not _may_manage(identity, session, current):
            assert current is not None
            require_operator(identity, current, "create experiments")
        if session.scalars(select(ExperimentRecord).where(ExperimentRecord.name == name)).first():
            raise SetupError(f"an experiment named {name!r} exists already; pick another name")
        if activate and current is not None:
            _refuse_switch_while_busy(session, current)
            current.active = False
        session.add(
            ExperimentRecord(
                name=name,
                active=activate,
                operator_group=operator_group or default_operator_group(name),
                operators=",".join(users),
                poll_period_s=1.0,
            )
        )


def activate_experiment(name: str, *, database: Database, identity: Identity) -> None:
    """Make ``name`` the active experiment (refused while the current one is in use)."""
    with database.session() as session:
        target = session.scalars(
            select(ExperimentRecord).where(ExperimentRecord.name == name)
        ).first()
        if target is None:
            raise NotFound(f"no experiment named {name!r}")
        current = session.scalars(
            select(ExperimentRecord).where(ExperimentRecord.active.is_(True))
        ).first()
        if current is not None and current.id == target.id:
            return
        if not (identity.admin or is_operator(identity, target)):
            require_operator(identity, target, "activate the experiment")
        if current is not None:
            _refuse_switch_while_busy(session, current)
            current.active = False
            session.flush()
        target.active = True


def set_operators(
    operators: Iterable[str],
    *,
    operator_group: str | None = None,
    database: Database,
    identity: Identity,
) -> None:
    """Replace the active experiment's operator list (operators and admins only)."""
    users = sorted({u.strip() for u in operators if u and u.strip()})
    with database.session() as session:
        record = session.scalars(
            select(ExperimentRecord).where(ExperimentRecord.active.is_(True))
        ).first()
        if record is None:
            raise NotFound("no DAQ experiment is active")
        require_operator(identity, record, "change the operator list")
        record.operators = ",".join(users)
        if operator_group is not None:
            record.operator_group = operator_group
