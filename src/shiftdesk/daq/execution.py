"""Commands as stored rows, executed by the one process that owns the hardware.

Whoever may send a command (the gate on a hub, the caller's own process standalone)
judges it on the stored snapshot (:mod:`shiftdesk.daq.rules`), claims its servers and
stores it ``queued`` with a *plan*: plain JSON saying which calls go out in which phases,
the states to verify and expect, the run it opens or closes, the routers it organises.
Then it may end: nothing of the command lives in it.

An :class:`Executor` (run by the poll service, ``shiftdesk daq poll``, next to its
GetState sweep; standalone by the first process that sends a command while none runs)
claims queued commands of the active experiment, rebuilds each plan against the stored
setup and runs it on its :class:`~shiftdesk.daq.control.Controller`, reporting every
step to the row. It leaves a heartbeat on the experiment (for senders: is anyone going
to run this?) and on each command it runs (for observers: is its executor still
there?), so a command whose executor died is closed within seconds with a message that
says so (:func:`executor_problem`), and one whose sender died runs to its end.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from shiftdesk.daq import end_of_run, runs
from shiftdesk.daq.commands import LIVE, CommandWriter, create_command
from shiftdesk.daq.control import Controller, Plan, ServerCall, get_controller
from shiftdesk.daq.ecc import ConfigId, DataLink, State
from shiftdesk.daq.errors import DAQStateError
from shiftdesk.daq.experiment import active_experiment
from shiftdesk.daq.records import CommandRecord, ExperimentRecord
from shiftdesk.daq.routers import RouterAccess
from shiftdesk.daq.snapshot import Command, ServerView, Snapshot, now
from shiftdesk.errors import NotFound
from shiftdesk.storage import Database
from shiftdesk.tracking import HOST, owner_alive, seconds_since

log = logging.getLogger(__name__)

#: Seconds between an executor's heartbeats.
HEARTBEAT_S = 1.0
#: An executor silent this long is gone: its queued and running commands are closed.
STALE_S = 8.0
#: An executor a process started for itself (no poll service) stops after this long idle.
IDLE_STOP_S = 60.0
#: Seconds between looks for queued commands (a sender in the same process wakes it).
LOOK_S = 0.05

# -- plans as JSON ---------------------------------------------------------------------


def plan_spec(plan: Plan, kind: str = "transition", **extra: Any) -> dict[str, Any]:
    """The JSON form of ``plan`` (its hooks are named by ``kind`` and ``extra``)."""
    return {
        "kind": kind,
        "command": plan.command.value,
        "phases": [
            [
                {
                    "server": c.server.name,
                    "config": None
                    if c.config is None
                    else [c.config.describe, c.config.prepare, c.config.configure],
                    "links": [[ln.sender, ln.ip, ln.port, ln.type] for ln in c.links],
                }
                for c in phase
            ]
            for phase in plan.phases
        ],
        "expect": None if plan.expect is None else int(plan.expect),
        "verify": {name: int(state) for name, state in plan.verify.items()},
        "servers": [s.name for s in plan.servers],
        **extra,
    }


@dataclass
class Context:
    """What running a plan needs besides the plan: where, for whom, with which access."""

    database: Database
    experiment_id: int
    experiment: str
    owner: str
    routers: RouterAccess


def _views(snap: Snapshot) -> Callable[[str], ServerView]:
    views = {s.name: s for s in snap.servers}

    def view(name: str) -> ServerView:
        if name not in views:
            raise DAQStateError(f"ECC server {name} is no longer in the setup; nothing was sent")
        return views[name]

    return view


def build_plan(spec: dict[str, Any], snap: Snapshot, ctx: Context) -> Plan:
    """The :class:`Plan` of a stored command, against the stored setup now."""
    view = _views(snap)
    phases = [
        [
            ServerCall(
                view(c["server"]),
                None if c["config"] is None else ConfigId(*c["config"]),
                tuple(DataLink(*link) for link in c["links"]),
            )
            for c in phase
        ]
        for phase in spec["phases"]
    ]
    plan = Plan(
        Command(spec["command"]),
        phases,
        None if spec["expect"] is None else State(spec["expect"]),
        servers=[view(name) for name in spec["servers"]],
        verify={name: State(value) for name, value in spec["verify"].items()},
    )
    if spec["kind"] == "start":
        _start_hooks(plan, spec, snap, ctx)
    elif spec["kind"] == "stop":
        _stop_hooks(plan, ctx)
    return plan


def _start_hooks(plan: Plan, spec: dict[str, Any], snap: Snapshot, ctx: Context) -> None:
    run = spec["run"]
    routers = [r for r in snap.routers if r.name in set(spec["routers"])]

    def before(writer: CommandWriter) -> None:
        end_of_run.require_clean_routers(
            ctx.database, ctx.experiment_id, ctx.routers, writer, routers
        )

    def after(writer: CommandWriter) -> str:
        runs.open_run(
            ctx.database,
            ctx.experiment_id,
            run["number"],
            title=run["title"],
            run_class=runs.RunClass.parse(run["class"]),
            config_names=run["configs"],
            user=ctx.owner,
        )
        writer.log(runs.started_message(run["number"], run["class"], run["title"]), "info", "run")
        return f"run {run['number']} started"

    plan.before, plan.after = before, after


def _stop_hooks(plan: Plan, ctx: Context) -> None:
    def after(writer: CommandWriter) -> str:
        number = runs.close_run(ctx.database, ctx.experiment_id)
        if number is None:
            return "stopped (no run was open)"
        writer.log(f"run {number} stopped", "info", "run")
        from shiftdesk.daq.poller import read_snapshot
        from shiftdesk.daq.runsheet import announce_run

        for failure in announce_run(ctx.database, ctx.experiment_id, number, "daq.run_closed"):
            writer.log(failure, "warning", "run")

        store_organize(
            ctx.database, read_snapshot(ctx.database), ctx.owner, number, ctx.routers, True
        )
        wake(ctx.database)
        return f"run {number} stopped; organising its files"

    plan.after = after


def store_organize(
    database: Database,
    snap: Snapshot,
    owner: str,
    run_number: int,
    routers: RouterAccess,
    backup_configs: bool,
) -> str:
    """Store the end-of-run command of ``run_number`` (every router, config backups)."""
    backups: list[ServerView] = []
    if backup_configs and hasattr(routers, "backup_configs"):
        backups = [s for s in snap.servers if s.config_files()]
    experiment = active_experiment(database)
    return create_command(
        database,
        experiment.id,
        "Organize files",
        target="routers",
        owner=owner,
        timeout_s=600.0,
        steps=[r.name for r in snap.routers] + [f"{s.name} configs" for s in backups],
        run_number=run_number,
        plan={
            "kind": "organize",
            "run_number": run_number,
            "routers": [r.name for r in snap.routers],
            "backups": [s.name for s in backups],
        },
    )


def _organize_task(
    spec: dict[str, Any], snap: Snapshot, ctx: Context
) -> Callable[[CommandWriter], str]:
    wanted = set(spec["routers"])
    routers = [r for r in snap.routers if r.name in wanted]
    view = _views(snap)
    backups = [view(name) for name in spec["backups"]]

    def task(writer: CommandWriter) -> str:
        return end_of_run.organize(
            ctx.database, ctx.experiment_id, ctx.experiment, ctx.routers, writer,
            routers, spec["run_number"], backups,
        )  # fmt: skip

    return task


# -- who runs them ---------------------------------------------------------------------


def _rows(result: object) -> int:
    """Rows an UPDATE changed."""
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass
class _Hint:
    controller: Controller | None
    routers: RouterAccess | None


#: What the sender in this process wants its command run with (a test's controller, a
#: system's router access), used when this process's executor claims it.
_hints: dict[str, _Hint] = {}
_executors: dict[str, Executor] = {}
_lock = threading.Lock()


class Executor:
    """Claims and runs the queued commands of the active experiment (one per process).

    Parameters
    ----------
    database : Database
        Where the commands are.
    controller : Controller, optional
        Sends the ECC calls (default: the process's controller for ``database``).
    routers : RouterAccess, optional
        Looks into the data routers (default: what this process's last
        :class:`~shiftdesk.daq.system.DAQSystem` uses, else from the environment).
    idle_stop : float, optional
        Stop after this many seconds without a command (None: run until :meth:`stop`).
    """

    def __init__(
        self,
        database: Database,
        *,
        controller: Controller | None = None,
        routers: RouterAccess | None = None,
        idle_stop: float | None = None,
    ) -> None:
        self.database = database
        self.controller = controller
        self.routers = routers
        self.idle_stop = idle_stop
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._experiment_id: int | None = None
        self._last_heartbeat = 0.0
        self._last_busy = time.monotonic()
        #: commands this executor claimed and may still be running
        self._claimed: set[str] = set()
        self.executed = 0

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<DAQ command executor ({state}), {self.executed} commands run>"

    @property
    def running(self) -> bool:
        """Whether the background thread is taking commands."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def wake(self) -> None:
        """Look for queued commands now."""
        self._wake.set()

    def _controller(self, hint: _Hint | None) -> Controller:
        for candidate in (hint.controller if hint else None, self.controller):
            if candidate is not None and not candidate._closed:
                return candidate
        return get_controller(self.database)

    def _routers(self, hint: _Hint | None) -> RouterAccess:
        for candidate in (hint.routers if hint else None, self.routers):
            if candidate is not None:
                return candidate
        from shiftdesk.daq.poller import router_access

        return router_access(self.database)

    def run_pending(self) -> list[str]:
        """Claim and start every queued command of the active experiment; their ids."""
        if self._experiment_id is None:
            self._experiment_id = active_experiment(self.database).id
        with self.database.session() as session:
            queued = list(
                session.scalars(
                    select(CommandRecord.id)
                    .where(
                        CommandRecord.experiment_id == self._experiment_id,
                        CommandRecord.status == "queued",
                        CommandRecord.plan_json != "",
                    )
                    .order_by(CommandRecord.created_at)
                )
            )
        queued = [command_id for command_id in queued if not self._too_late(command_id)]
        started = [command_id for command_id in queued if self._claim(command_id)]
        if started:
            self._last_busy = time.monotonic()
        return started

    def _too_late(self, command_id: str) -> bool:
        """Close a command queued longer than observers wait for an executor (they have
        told the operator it was abandoned; running it now would surprise them)."""
        cutoff = now() - timedelta(seconds=STALE_S)
        with self.database.session() as session:
            closed = session.execute(
                update(CommandRecord)
                .where(
                    CommandRecord.id == command_id,
                    CommandRecord.status == "queued",
                    CommandRecord.created_at < cutoff,
                )
                .values(status="failed", finished_at=now(), message="abandoned",
                        error=f"abandoned: no process executed it within {STALE_S:g} s; "
                        "send it again if it is still wanted")
            )  # fmt: skip
        return bool(_rows(closed))

    def _claim(self, command_id: str) -> bool:
        LIVE.add(command_id)  # before the row says so: an observer here must not abandon it
        at = now()
        with self.database.session() as session:
            claimed = session.execute(
                update(CommandRecord)
                .where(CommandRecord.id == command_id, CommandRecord.status == "queued")
                .values(status="running", host=HOST, pid=os.getpid(), heartbeat_at=at,
                        started_at=at, message="claimed by the executor")
            )  # fmt: skip
            record = session.get(CommandRecord, command_id) if _rows(claimed) else None
            if record is not None:
                session.expunge(record)
        if record is None:
            LIVE.discard(command_id)
            return False
        self._claimed.add(command_id)
        with _lock:
            hint = _hints.pop(command_id, None)
        writer = CommandWriter(self.database, command_id, record.experiment_id, record.owner)
        try:
            self._launch(record, writer, hint)
        except Exception as exc:  # a plan that cannot run ends here, with the reason
            writer.finish(False, "not sent", f"{type(exc).__name__}: {exc}")
        self.executed += 1
        return True

    def _launch(self, record: CommandRecord, writer: CommandWriter, hint: _Hint | None) -> None:
        from shiftdesk.daq.poller import read_snapshot

        spec = json.loads(record.plan_json)
        snap = read_snapshot(self.database)
        ctx = Context(
            self.database, record.experiment_id, snap.experiment, record.owner,
            self._routers(hint),
        )  # fmt: skip
        controller = self._controller(hint)
        if spec["kind"] == "organize":
            controller.launch_task(writer, _organize_task(spec, snap, ctx))
        else:
            controller.launch(writer, build_plan(spec, snap, ctx))

    def heartbeat(self) -> None:
        """Say this process executes the experiment's commands, and still runs its own."""
        try:
            experiment_id = active_experiment(self.database).id
        except NotFound:
            return
        self._experiment_id = experiment_id
        at = now()
        with self.database.session() as session:
            session.execute(
                update(ExperimentRecord)
                .where(ExperimentRecord.id == experiment_id)
                .values(executor_host=HOST, executor_pid=os.getpid(), executor_heartbeat_at=at)
            )
            mine = session.execute(
                update(CommandRecord)
                .where(
                    CommandRecord.status == "running",
                    CommandRecord.host == HOST,
                    CommandRecord.pid == os.getpid(),
                    CommandRecord.id.in_(list(LIVE)),
                )
                .values(heartbeat_at=at)
            )
        if _rows(mine):
            self._last_busy = time.monotonic()
        self._claimed = {record_id for record_id in self._claimed if record_id in LIVE}

    def _step(self) -> None:
        if time.monotonic() - self._last_heartbeat >= HEARTBEAT_S:
            self._last_heartbeat = time.monotonic()
            self.heartbeat()
        self.run_pending()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except NotFound:
                self._experiment_id = None  # no active experiment yet
            except Exception:
                log.exception("DAQ command executor: a look for commands failed")
            idle = time.monotonic() - self._last_busy
            if self.idle_stop is not None and idle > self.idle_stop:
                # Leave the registry first, then look once more: a sender in this
                # process either saw this executor and is taken now, or starts another.
                with _lock:
                    if _executors.get(self.database.url) is self:
                        del _executors[self.database.url]
                self.run_pending()
                break
            self._wake.wait(LOOK_S)
            self._wake.clear()
        self._stop.set()
        self._release()
        self._drain()

    def _drain(self) -> None:
        """Keep the heartbeat of the commands still running here until they end, so no
        observer takes a stopped executor's running command for abandoned."""
        while any(record_id in LIVE for record_id in self._claimed):
            try:
                self._beat_own()
            except Exception:
                log.exception("DAQ command executor: a heartbeat failed")
            time.sleep(HEARTBEAT_S)

    def _beat_own(self) -> None:
        mine = [record_id for record_id in self._claimed if record_id in LIVE]
        with self.database.session() as session:
            session.execute(
                update(CommandRecord)
                .where(CommandRecord.id.in_(mine), CommandRecord.status == "running")
                .values(heartbeat_at=now())
            )

    def _release(self) -> None:
        """Leave the experiment's executor columns to the next one."""
        try:
            with self.database.session() as session:
                session.execute(
                    update(ExperimentRecord)
                    .where(
                        ExperimentRecord.executor_host == HOST,
                        ExperimentRecord.executor_pid == os.getpid(),
                    )
                    .values(executor_heartbeat_at=None)
                )
        except Exception:  # best effort: a stale heartbeat says the same a moment later
            pass
        with _lock:
            if _executors.get(self.database.url) is self:
                del _executors[self.database.url]

    def start(self) -> Executor:
        """Take commands in a background thread until :meth:`stop`."""
        if self.running:
            return self
        self._stop.clear()
        self._last_busy = time.monotonic()
        with _lock:
            _executors[self.database.url] = self
        self._thread = threading.Thread(target=self._loop, name="daq-executor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop taking commands (commands already running go on to their end)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None


def local_executor(database: Database) -> Executor | None:
    """This process's running executor for ``database``, if any."""
    with _lock:
        executor = _executors.get(database.url)
    return executor if executor is not None and executor.running else None


def executor_elsewhere(database: Database, experiment_id: int) -> bool:
    """Whether another process says it executes the experiment's commands."""
    with database.session() as session:
        row = session.execute(
            select(
                ExperimentRecord.executor_host,
                ExperimentRecord.executor_pid,
                ExperimentRecord.executor_heartbeat_at,
            ).where(ExperimentRecord.id == experiment_id)
        ).first()
    if row is None:
        return False
    return _alive(row[0], row[1], row[2]) and not (row[0] == HOST and row[1] == os.getpid())


def _alive(host: str | None, pid: int | None, heartbeat: datetime | None) -> bool:
    age = seconds_since(heartbeat)
    return age is not None and age <= STALE_S and owner_alive(host, pid) is not False


def dispatch(
    database: Database,
    experiment_id: int,
    command_id: str,
    *,
    controller: Controller | None = None,
    routers: RouterAccess | None = None,
) -> None:
    """See that a stored command gets run: by this process's executor (woken now), by
    another process's, or by one started here when no process executes commands."""
    with _lock:
        _hints[command_id] = _Hint(controller, routers)
        while len(_hints) > 256:  # another process ran the oldest: forget them
            del _hints[next(iter(_hints))]
    executor = local_executor(database)
    if executor is None and not executor_elsewhere(database, experiment_id):
        executor = Executor(
            database, controller=controller, routers=routers, idle_stop=IDLE_STOP_S
        ).start()
    if executor is not None:
        executor.wake()


def wake(database: Database) -> None:
    """Let this process's executor look for queued commands now."""
    executor = local_executor(database)
    if executor is not None:
        executor.wake()


def stop_executors() -> list[Executor]:
    """Stop every executor of this process (tests; commands running go on); them."""
    with _lock:
        executors = list(_executors.values())
        _hints.clear()
    for executor in executors:
        executor.stop()
    return executors


def executor_problem(database: Database, record: CommandRecord) -> str | None:
    """Why a planned command can no longer end on its own, or None while it can.

    Queued: no process executes commands (none started, or its heartbeat stopped).
    Running: the process executing it ended (same host) or stopped reporting.
    """
    if not record.plan_json or record.status not in ("queued", "running"):
        return None
    if record.status == "running":
        mine = record.pid == os.getpid()
        if not mine and owner_alive(record.host, record.pid) is False:
            return (
                f"the process executing it (pid {record.pid}, the DAQ poll service or "
                "the process standing in for it) ended before it finished"
            )
        silent = seconds_since(record.heartbeat_at or record.started_at)
        if silent is not None and silent > STALE_S:
            return (
                f"the process executing it on {record.host} (pid {record.pid}) stopped "
                f"reporting {silent:.0f} s ago"
            )
        return None
    waiting = seconds_since(record.created_at)
    if waiting is None or waiting <= STALE_S:
        return None
    if local_executor(database) is not None or executor_elsewhere(database, record.experiment_id):
        return None
    return (
        "no process executes DAQ commands (start the poll service, `shiftdesk daq poll`, "
        "or send the command again from a process that may run it)"
    )
