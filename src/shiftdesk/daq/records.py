"""DAQ tables: experiments, ECC servers, data routers and sources, runs, run sheet, command log.

They live with the storage layer (and are imported by :mod:`shiftdesk.storage.models`) so
that ``Base.metadata`` always holds every table, whatever the caller imported first; the
domain API over them is :mod:`shiftdesk.daq`. Every change here needs a migration.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shiftdesk.storage.models import Base, table_access, utcnow
from shiftdesk.tracking import TrackedColumns


class ExperimentRecord(Base):
    """An experiment: the unit that owns servers, routers, runs and the run sheet.

    Exactly one experiment is active at a time; operators are the members of the hub
    group ``operator_group`` or the users listed in ``operators`` (comma separated).
    """

    __tablename__ = "daq_experiments"
    __table_args__ = table_access("shared")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    operator_group: Mapped[str] = mapped_column(String(255), default="")
    operators: Mapped[str] = mapped_column(Text, default="")
    next_run_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    poll_period_s: Mapped[float] = mapped_column(Float, default=2.0)
    poller_heartbeat_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    #: The process executing the experiment's commands (the poll service, or a
    #: standalone process when none runs) and when it last said it is alive.
    executor_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    executor_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    executor_heartbeat_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ECCServerRecord(Base):
    """One GET ECC SOAP server, its selected configuration and its last polled state."""

    __tablename__ = "daq_ecc_servers"
    __table_args__ = table_access(
        "shared", UniqueConstraint("experiment_id", "name", name="uq_daq_ecc_name")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("daq_experiments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=8083)
    config_describe: Mapped[str | None] = mapped_column(String(255), nullable=True)
    config_prepare: Mapped[str | None] = mapped_column(String(255), nullable=True)
    config_configure: Mapped[str | None] = mapped_column(String(255), nullable=True)
    available_configs: Mapped[str] = mapped_column(Text, default="[]")
    config_root: Mapped[str] = mapped_column(String(1024), default="")
    log_path: Mapped[str] = mapped_column(String(1024), default="")
    state: Mapped[int | None] = mapped_column(Integer, nullable=True)
    transition: Mapped[int] = mapped_column(Integer, default=0)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DataRouterRecord(Base):
    """A dataRouter process: where sources send data, and where the GRAW files land."""

    __tablename__ = "daq_data_routers"
    __table_args__ = table_access(
        "shared", UniqueConstraint("experiment_id", "name", name="uq_daq_router_name")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("daq_experiments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=46005)
    link_type: Mapped[str] = mapped_column(String(8), default="TCP")
    ssh_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ssh_user: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    folder: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    clean: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DataSourceRecord(Base):
    """A CoBo or MuTAnT: driven by one ECC server, sending to one data router."""

    __tablename__ = "daq_data_sources"
    __table_args__ = table_access(
        "shared", UniqueConstraint("experiment_id", "kind", "instance", name="uq_daq_source")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("daq_experiments.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    instance: Mapped[str] = mapped_column(String(64))
    ecc_server_id: Mapped[int] = mapped_column(
        ForeignKey("daq_ecc_servers.id", ondelete="CASCADE"), index=True
    )
    data_router_id: Mapped[int] = mapped_column(
        ForeignKey("daq_data_routers.id", ondelete="CASCADE"), index=True
    )


class RunRecord(Base):
    """One run: number, run sheet header, and when the electronics confirmed start and stop."""

    __tablename__ = "daq_runs"
    __table_args__ = table_access(
        "shared", UniqueConstraint("experiment_id", "run_number", name="uq_daq_run_number")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("daq_experiments.id", ondelete="CASCADE"), index=True
    )
    run_number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255), default="")
    run_class: Mapped[str] = mapped_column(String(16), default="Testing")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    config_names: Mapped[str] = mapped_column(Text, default="")
    started_by: Mapped[str] = mapped_column(String(255), default="")
    files_organized: Mapped[bool] = mapped_column(Boolean, default=False)


class ObservableRecord(Base):
    """A run-sheet column: a typed quantity measured once per run."""

    __tablename__ = "daq_observables"
    __table_args__ = table_access(
        "shared", UniqueConstraint("experiment_id", "name", name="uq_daq_observable")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("daq_experiments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    value_type: Mapped[str] = mapped_column(String(16))
    units: Mapped[str] = mapped_column(String(64), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class MeasurementRecord(Base):
    """The value of one observable in one run, stored as text and typed on read."""

    __tablename__ = "daq_measurements"
    __table_args__ = table_access(
        "shared", UniqueConstraint("run_id", "observable_id", name="uq_daq_measurement")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("daq_runs.id", ondelete="CASCADE"), index=True)
    observable_id: Mapped[int] = mapped_column(
        ForeignKey("daq_observables.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str] = mapped_column(Text)


class CommandRecord(TrackedColumns, Base):
    """A command sent to the DAQ (a transition, a run start/stop, an end-of-run step).

    Stored ``queued`` with its ``plan_json`` by whoever may send it (the gate on a hub,
    the caller's process standalone), then claimed, run and reported on by the one
    process that owns the hardware (``host``, ``pid``; it refreshes ``heartbeat_at``).
    Every dashboard reads status, progress and the per-server outcome (``steps_json``).
    Commands without a plan are driven by the process that stored them.
    """

    __tablename__ = "daq_commands"
    __table_args__ = table_access("shared")

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("daq_experiments.id", ondelete="CASCADE"), index=True
    )
    command: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(255), default="")
    owner: Mapped[str] = mapped_column(String(255))
    steps_json: Mapped[str] = mapped_column(Text, default="{}")
    run_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timeout_s: Mapped[float] = mapped_column(Float, default=300.0)
    host: Mapped[str] = mapped_column(String(255), default="")  # not null here
    #: What to do, for the executing process (see :mod:`shiftdesk.daq.execution`).
    plan_json: Mapped[str] = mapped_column(Text, default="")
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CallRecord(Base):
    """One ECC operation sent over the wire: who, when, which server, how it ended."""

    __tablename__ = "daq_calls"
    __table_args__ = table_access("shared")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("daq_experiments.id", ondelete="CASCADE"), index=True
    )
    command_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    server: Mapped[str] = mapped_column(String(128))
    operation: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(255))
    ok: Mapped[bool] = mapped_column(Boolean)
    error_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)


class LogRecord(Base):
    """An entry of the shift log panel: commands, errors, servers going offline."""

    __tablename__ = "daq_log"
    __table_args__ = table_access("shared")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("daq_experiments.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[str] = mapped_column(String(8), default="info")
    source: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text)
    user: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
