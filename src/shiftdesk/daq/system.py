"""The DAQ system of the active experiment: the API shift crews and dashboards use.

:class:`DAQSystem` reads the stored setup, state and runs, and sends commands. A command
is judged on the stored snapshot by the rules of :mod:`shiftdesk.daq.rules`, stored with
its plan and run by the one process that owns the hardware (the poll service, or this
process standing in for it: :mod:`shiftdesk.daq.execution`). Every command returns a
:class:`~shiftdesk.daq.commands.CommandHandle` at once; its progress is recorded in the
database for every observer, and it goes on when the process that sent it ends (unless
that process was itself standing in for the poll service). The ``controller`` and
``routers`` given to a system apply only to commands this process executes; those a
poll service executes use its own.

Besides the state rules, it enforces:

* the caller never waits on the hardware: a command is judged on the poller's stored
  readings when they are at most two poll periods old (else on a parallel GetState with
  the short state timeout), and reads every server back live as its first step when it
  runs, failing without sending anything when the states moved meanwhile;
* a run is recorded only when every server reports Running, and closed only when every
  one has stopped; Start is refused while a data router holds unsorted GRAW files;
* only operators of the experiment may send commands or edit the run sheet.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select

from shiftdesk.daq import rules
from shiftdesk.daq import runs as runs_
from shiftdesk.daq.commands import ACTIVE, CommandHandle, create_command
from shiftdesk.daq.control import (
    Controller,
    Plan,
    call_failure_message,
    get_controller,
    log_offline_changes,
    store_readings,
)
from shiftdesk.daq.ecc import ConfigId, ECCCall, State, call_history
from shiftdesk.daq.ecc_server import ECCServer
from shiftdesk.daq.errors import DAQStateError, SetupError
from shiftdesk.daq.execution import dispatch, plan_spec, store_organize
from shiftdesk.daq.experiment import (
    active_experiment,
    create_experiment,
    is_operator,
    require_operator,
)
from shiftdesk.daq.poller import read_snapshot, use_routers
from shiftdesk.daq.records import (
    CallRecord,
    CommandRecord,
    ECCServerRecord,
    ExperimentRecord,
    LogRecord,
)
from shiftdesk.daq.routers import RouterAccess, SSHRouters
from shiftdesk.daq.runs import Run, RunClass
from shiftdesk.daq.runsheet import RunSheet
from shiftdesk.daq.setup import Setup, apply_setup, easy_setup
from shiftdesk.daq.snapshot import (
    Command,
    ServerView,
    Snapshot,
    now,
    utc,
)
from shiftdesk.gate import Gate, get_gate
from shiftdesk.gate.forward import through_gate
from shiftdesk.identity import Identity, current_identity
from shiftdesk.storage import Database, get_database


def _experiment(system: DAQSystem) -> str:
    return f"experiment {system.experiment_name}"


@dataclass(frozen=True)
class LogEntry:
    """One line of the shift log."""

    at: datetime
    level: str
    source: str
    message: str
    user: str


class DAQSystem:
    """The active experiment's DAQ: setup, state, commands, runs and run sheet.

    Parameters
    ----------
    database : Database, optional
        Default: the default database.
    identity : Identity, optional
        Who acts (default: the current user). Non-operators get a read-only system.
    controller : Controller, optional
        Who sends the commands (default: this process's controller for the database).
    routers : RouterAccess, optional
        How data-router folders are inspected (default: :class:`SSHRouters` with the
        user's SSH keys; :class:`~shiftdesk.daq.routers.LocalRouters` for local folders).
    gate : Gate, optional
        How changes are made (default: :func:`~shiftdesk.gate.get_gate`). In a hub user
        server it is the gate service: commands, setup and run-sheet edits are sent
        there and run by the one process that owns the hardware, for the user the hub
        says you are; reading stays here.

    Examples
    --------
    A whole run from a notebook (handles return at once; ``wait()`` is for scripts)::

        daq = DAQSystem()
        daq.easy_setup(4, ecc_host="192.168.41.10", one_server_per_cobo=True)
        daq.select_config("e20009")      # one name for describe/prepare/configure
        daq.describe().wait(); daq.prepare().wait(); daq.configure().wait()
        snap = daq.snapshot()            # what dashboards poll: stored state only
        snap.overall, snap.legal, snap.next_run_number   # 'Ready', [Start, Breakup], 12
        daq.start("beam on target", "Beam").wait()
        daq.runsheet.update(12, {"Beam current": 3.2})
        daq.stop()                       # files are organised in the background after
    """

    def __init__(
        self,
        database: Database | None = None,
        identity: Identity | None = None,
        *,
        controller: Controller | None = None,
        routers: RouterAccess | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.database = database or get_database()
        self.gate = gate if gate is not None else get_gate()
        self.identity = identity or current_identity()
        record = active_experiment(self.database)
        self.experiment_id = record.id
        self.experiment_name = record.name
        self.controller = controller or get_controller(self.database)
        self.routers: RouterAccess = routers if routers is not None else SSHRouters()
        use_routers(self.database, self.routers)  # a dashboard's poller checks them alike
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls,
        name: str,
        *,
        operators: Sequence[str] = (),
        operator_group: str | None = None,
        database: Database | None = None,
        identity: Identity | None = None,
        **kwargs: object,
    ) -> DAQSystem:
        """Create experiment ``name``, make it active and return its system.

        On a hub (remote gate) the gate creates it, for the user the hub says you are.
        """
        db = database or get_database()
        given = kwargs.get("gate")
        gate = cast(Gate, given) if given is not None else get_gate()
        if gate.remote:
            gate.call(
                "daq.create",
                name=name,
                operators=list(operators),
                operator_group=operator_group,
            )
            return cls(db, identity, **kwargs)  # type: ignore[arg-type]
        who = identity or current_identity()
        create_experiment(
            name, operators=operators, operator_group=operator_group, database=db, identity=who
        )
        return cls(db, who, **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return repr(self.snapshot())

    # -- the gate ------------------------------------------------------------------------
    def _gate_args(self) -> dict[str, Any]:
        return {"experiment": self.experiment_name}

    def _from_gate(self, action: str, result: Any) -> Any:
        """What a method returns here, from its action's JSON result (see daq.actions)."""
        if not isinstance(result, dict):
            return result
        if "command_id" in result:
            return CommandHandle(str(result["command_id"]), self.database)
        if "configs" in result:
            return {
                name: [ConfigId(*c) for c in configs] for name, configs in result["configs"].items()
            }
        if result.get("snapshot"):
            return self.snapshot()
        return result

    def _repr_html_(self) -> str:
        return self.snapshot()._repr_html_()

    def widget(self) -> Any:
        """The live shift dashboard of this system (needs ``shiftdesk[widgets]``)."""
        from shiftdesk._views import view

        return view(self)

    # -- permissions ---------------------------------------------------------------------
    def _record(self) -> ExperimentRecord:
        with self.database.session() as session:
            record = session.get(ExperimentRecord, self.experiment_id)
            if record is None:
                raise DAQStateError(f"experiment {self.experiment_name!r} was deleted")
            session.expunge(record)
        return record

    @property
    def can_operate(self) -> bool:
        """Whether this user may send commands and edit the run sheet.

        On a hub the gate is asked (the hub's groups now, so a dashboard follows a
        group change); the gate checks again at every command anyway.
        """
        who = self.gate.whoami() if self.gate.remote else self.identity
        return is_operator(who, self._record())

    def _authorize(self, action: str) -> None:
        require_operator(self.identity, self._record(), action)

    # -- observing -----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The stored state (what the poller last wrote), staleness judged now."""
        snap = read_snapshot(self.database)
        if snap.experiment != self.experiment_name:
            raise DAQStateError(
                f"the active experiment is now {snap.experiment!r}, not "
                f"{self.experiment_name!r}: make a new DAQSystem"
            )
        return snap

    @property
    def servers(self) -> dict[str, ECCServer]:
        """Every ECC server of the setup as an :class:`~shiftdesk.daq.ecc_server.ECCServer`,
        by name, in setup order."""
        return {view.name: ECCServer(self, view.name) for view in self.snapshot().servers}

    def server(self, name: str) -> ECCServer:
        """One ECC server by name (KeyError if the setup has none of that name)."""
        return ECCServer(self, name)

    @through_gate("daq.refresh", target=_experiment)
    def refresh(self) -> Snapshot:
        """Read every server now (GetState, short timeout), store it, return the snapshot."""
        servers = self.snapshot().servers
        readings = self.controller.read_states(servers)
        changes = store_readings(self.database, self.experiment_id, readings, now())
        log_offline_changes(self.database, self.experiment_id, changes)
        return self.snapshot()

    def log(self, limit: int = 50, source: str | None = None) -> list[LogEntry]:
        """The newest shift-log entries (commands, errors, servers going offline), newest
        first; ``source`` keeps those of one server, router or ``"run"``."""
        query = select(LogRecord).where(LogRecord.experiment_id == self.experiment_id)
        if source is not None:
            query = query.where(LogRecord.source == source)
        with self.database.session() as session:
            rows = session.scalars(query.order_by(LogRecord.id.desc()).limit(limit)).all()
            return [
                LogEntry(utc(r.created_at) or now(), r.level, r.source, r.message, r.user)
                for r in rows
            ]

    def commands(self, limit: int = 20) -> list[CommandHandle]:
        """The newest commands, newest first."""
        with self.database.session() as session:
            ids = session.scalars(
                select(CommandRecord.id)
                .where(CommandRecord.experiment_id == self.experiment_id)
                .order_by(CommandRecord.created_at.desc())
                .limit(limit)
            ).all()
        return [CommandHandle(i, self.database) for i in ids]

    def calls(self, server: str | None = None, limit: int = 50) -> list[CallRecord]:
        """The audit trail of ECC operations sent by commands (who, when, outcome), newest
        first; ``server`` limits it to one server."""
        query = select(CallRecord).where(CallRecord.experiment_id == self.experiment_id)
        if server is not None:
            query = query.where(CallRecord.server == server)
        with self.database.session() as session:
            rows = list(session.scalars(query.order_by(CallRecord.id.desc()).limit(limit)))
            for row in rows:
                session.expunge(row)
        return rows

    def server_log(self, server: str, limit: int = 50) -> list[LogEntry]:
        """What happened to one server, newest first (at most ``limit`` entries).

        The ECC calls commands sent it, each with its outcome and duration
        (``Describe: done in 0.3 s``, ``Start: failed — <the server's error>``), its
        part of the commands still in flight (``Configure: sent``), and its own
        shift-log entries (going offline, coming back, commands asked of it alone). A
        failed call is shown once, as the call.
        """
        calls = self.calls(server, limit)
        entries = [
            LogEntry(
                (utc(c.started_at) or now()) + timedelta(seconds=c.duration_s or 0.0),
                "info" if c.ok else "error",
                server,
                f"{c.operation}: done in {c.duration_s:.1f} s"
                if c.ok
                else f"{c.operation}: failed — {c.message}",
                c.owner,
            )
            for c in calls
        ]
        shown = {call_failure_message(c.operation, server, c.message) for c in calls if not c.ok}
        entries += [e for e in self.log(limit, source=server) if e.message not in shown]
        with self.database.session() as session:
            active = session.scalars(
                select(CommandRecord).where(
                    CommandRecord.experiment_id == self.experiment_id,
                    CommandRecord.status.in_(ACTIVE),
                )
            ).all()
            for record in active:
                step = json.loads(record.steps_json or "{}").get(server)
                if step and step.get("status") in ("pending", "running"):
                    at = datetime.fromisoformat(step["at"]) if step.get("at") else None
                    entries.append(
                        LogEntry(
                            utc(at or record.started_at or record.created_at) or now(),
                            "info",
                            server,
                            f"{record.command}: {step.get('message') or step['status']}",
                            record.owner,
                        )
                    )
        return sorted(entries, key=lambda e: e.at, reverse=True)[:limit]

    def wire_history(self, server: str) -> list[ECCCall]:
        """The raw SOAP request and reply of this process's recent calls to ``server``
        (expert view: exactly what went over the wire), oldest first."""
        return call_history(self.snapshot().server(server).url)

    # -- setup ---------------------------------------------------------------------------
    @through_gate("daq.apply_setup", target=_experiment)
    def apply_setup(self, setup: Setup) -> Snapshot:
        """Replace servers, routers and sources by ``setup`` (atomically)."""
        self._authorize("change the DAQ setup")
        apply_setup(self.database, self.experiment_id, setup)
        return self.snapshot()

    def easy_setup(self, n_cobos: int, **kwargs: object) -> Snapshot:
        """:func:`~shiftdesk.daq.setup.easy_setup` and store it (replacing the old setup)."""
        return self.apply_setup(easy_setup(n_cobos, **kwargs))  # type: ignore[arg-type]

    @through_gate("daq.refresh_configs", target=_experiment)
    def refresh_configs(self, server: str | None = None) -> dict[str, list[ConfigId]]:
        """Ask servers for their config sets (GetConfigIDs) and store them for the picker."""
        servers = self._servers(server)
        found: dict[str, list[ConfigId] | BaseException] = {}

        def one(s: ServerView) -> list[ConfigId] | BaseException:
            try:
                return self.controller.client(s.url).get_config_ids(
                    timeout=max(5.0, self.controller.state_timeout)
                )
            except Exception as exc:
                return exc

        with ThreadPoolExecutor(max_workers=min(32, max(1, len(servers)))) as pool:
            for s, result in zip(servers, pool.map(one, servers), strict=True):
                found[s.name] = result
        errors = {n: r for n, r in found.items() if isinstance(r, BaseException)}
        with self.database.session() as session:
            for row in self._server_rows(session):
                got = found.get(row.name)
                if isinstance(got, list):
                    row.available_configs = json.dumps(
                        [[c.describe, c.prepare, c.configure] for c in got]
                    )
        if errors:
            raise DAQStateError(
                "could not read the config sets of "
                + "; ".join(f"{n}: {e}" for n, e in errors.items())
            )
        return {n: r for n, r in found.items() if isinstance(r, list)}

    @through_gate("daq.select_config", target=_experiment)
    def select_config(
        self, config: ConfigId | str | Sequence[str], server: str | None = None
    ) -> None:
        """Select the config (describe/prepare/configure names) of one server or all.

        Names are checked against the server's config set (GetConfigIDs); a name it does
        not have is refused.
        """
        self._authorize("select configs")
        chosen = rules.as_config(config)
        servers = self._servers(server)
        if any(not s.available_configs for s in servers):
            self.refresh_configs(server)
            servers = self._servers(server)
        triple = (chosen.describe, chosen.prepare, chosen.configure)
        for s in servers:
            if triple not in s.available_configs:
                offered = ", ".join("/".join(c) for c in s.available_configs) or "none"
                raise SetupError(
                    f"ECC server {s.name} has no config {'/'.join(triple)}; it offers: {offered}"
                )
        names = {s.name for s in servers}
        with self.database.session() as session:
            for row in self._server_rows(session):
                if row.name in names:
                    row.config_describe, row.config_prepare, row.config_configure = triple

    def _server_rows(self, session: object) -> list[ECCServerRecord]:
        from sqlalchemy.orm import Session

        assert isinstance(session, Session)
        return list(
            session.scalars(
                select(ECCServerRecord).where(ECCServerRecord.experiment_id == self.experiment_id)
            )
        )

    def _servers(self, name: str | None = None) -> list[ServerView]:
        snap = self.snapshot()
        if name is None:
            if not snap.servers:
                raise SetupError("no ECC servers are set up: run easy_setup() first")
            return list(snap.servers)
        return [snap.server(name)]

    # -- commands ------------------------------------------------------------------------
    def _fresh(self, server: str | None = None) -> Snapshot:
        """The snapshot a command is judged on, without blocking the caller.

        The poller's stored readings when every server concerned (all, or ``server``)
        was read within the last two poll periods; otherwise a live GetState of those
        servers, in parallel with the short state timeout. Either way the command reads
        the states again as its first step when it runs (:attr:`Plan.verify`).
        """
        snap = self.snapshot()
        views = list(snap.servers) if server is None else [snap.server(server)]
        if views and all(rules.recent(snap, s) for s in views):
            return snap
        readings = self.controller.read_states(views)
        changes = store_readings(self.database, self.experiment_id, readings, now())
        log_offline_changes(self.database, self.experiment_id, changes)
        return self.snapshot()

    def _check_system(self, command: Command) -> Snapshot:
        snap = self._fresh()
        rules.check_system(snap, command)
        return snap

    def _store(self, label: str, target: str, steps: list[str], timeout_s: float,
               plan: dict[str, Any], run_number: int | None = None) -> CommandHandle:  # fmt: skip
        """Store the command (claiming its devices) and see that the hardware owner runs it."""
        command_id = create_command(
            self.database, self.experiment_id, label, target=target, owner=self.identity.name,
            timeout_s=timeout_s, steps=steps, run_number=run_number, plan=plan,
        )  # fmt: skip
        dispatch(
            self.database, self.experiment_id, command_id,
            controller=self.controller, routers=self.routers,
        )  # fmt: skip
        return CommandHandle(command_id, self.database)

    def _launch(
        self,
        plan: Plan,
        target: str,
        run_number: int | None = None,
        kind: str = "transition",
        **extra: Any,
    ) -> CommandHandle:
        label = {Command.START: "Start run", Command.STOP: "Stop run"}.get(
            plan.command, plan.command.value
        )
        return self._store(
            label,
            target,
            [c.server.name for phase in plan.phases for c in phase],
            self.controller.transition_timeout * max(1, len(plan.phases)) + 30,
            plan_spec(plan, kind, **extra),
            run_number,
        )

    @through_gate("daq.command", target=_experiment)
    def command(self, command: Command | str) -> CommandHandle:
        """Send a system-wide transition (to every server, in the ordering rules).

        Start and Stop are :meth:`start` and :meth:`stop` (they open and close runs).
        """
        cmd = Command(command) if not isinstance(command, Command) else command
        if cmd in (Command.START, Command.STOP):
            return self.start() if cmd is Command.START else self.stop()
        self._authorize(f"send {cmd}")
        with self._lock:
            snap = self._check_system(cmd)
            state = snap.state
            assert state is not None
            if cmd is Command.BREAKUP and snap.run_number is not None:
                raise DAQStateError(
                    f"{cmd} refused: run {snap.run_number} is open; Stop it first (Stop "
                    "closes the run and organises its files)"
                )
            plan = Plan(
                cmd, rules.phases(snap, cmd), cmd.target(state),
                verify=rules.expected_states(snap),
            )  # fmt: skip
            return self._launch(plan, "all")

    def describe(self) -> CommandHandle:
        """Describe every server (CoBos first, then the MuTAnT)."""
        return self.command(Command.DESCRIBE)

    def prepare(self) -> CommandHandle:
        """Prepare every server (the MuTAnT first, then the CoBos)."""
        return self.command(Command.PREPARE)

    def configure(self) -> CommandHandle:
        """Configure every server with its data links (CoBos first, then the MuTAnT)."""
        return self.command(Command.CONFIGURE)

    def breakup(self) -> CommandHandle:
        """Breakup every server (Ready → Prepared)."""
        return self.command(Command.BREAKUP)

    def undo(self) -> CommandHandle:
        """Undo every server one step (Prepared → Described → Idle)."""
        return self.command(Command.UNDO)

    @through_gate("daq.reset", target=_experiment)
    def reset(self) -> CommandHandle:
        """Step the whole system back one state (Stop, Breakup or Undo as fits)."""
        self._authorize("send Reset")
        return self.command(rules.reset_command(self._fresh()))

    @through_gate("daq.server_command", target=_experiment)
    def server_command(self, server: str, command: Command | str) -> CommandHandle:
        """Expert: one transition on one server (``"reset"`` steps it back one state)."""
        self._authorize(f"send {command} to {server}")
        with self._lock:
            snap = self._fresh(server)
            view = snap.server(server)
            cmd = rules.check_server(view, command)
            assert view.state is not None
            plan = Plan(
                cmd,
                [[rules.server_call(snap, view, cmd)]],
                cmd.target(view.state),
                verify=rules.expected_states(snap, view),
            )
            return self._launch(plan, server)

    # -- runs ----------------------------------------------------------------------------
    @property
    def next_run_number(self) -> int:
        """The number the next run will get (shown before Start)."""
        return self.snapshot().next_run_number

    @through_gate("daq.set_next_run_number", target=_experiment)
    def set_next_run_number(self, number: int) -> None:
        """Choose the next run's number (refused when a run already has it)."""
        self._authorize("set the run number")
        runs_.set_next_run_number(self.database, self.experiment_id, number)

    @through_gate("daq.start", target=_experiment)
    def start(
        self,
        title: str = "",
        run_class: str | RunClass = RunClass.TESTING,
        run_number: int | None = None,
    ) -> CommandHandle:
        """Start a run: CoBos first, then the MuTAnT; the run is recorded once all run.

        Refused at once when the system is not Ready, the run number is taken, or a run is
        open; the command fails (without sending Start) when a data router still holds
        unsorted GRAW files.
        """
        self._authorize("start runs")
        cls = RunClass.parse(run_class)
        with self._lock:
            snap = self._check_system(Command.START)
            number = snap.next_run_number if run_number is None else run_number
            runs_.check_run_number(number)
            with self.database.session() as session:
                if runs_.run_number_used(session, self.experiment_id, number):
                    raise DAQStateError(f"run {number} exists already: pick an unused number")
                if snap.run_number is not None:
                    raise DAQStateError(f"run {snap.run_number} is still open: stop it first")
            configs = ", ".join(sorted({s.config[2] for s in snap.servers if s.config}))
            plan = Plan(
                Command.START,
                rules.phases(snap, Command.START),
                State.RUNNING,
                verify=rules.expected_states(snap),
            )
            run = {"number": number, "title": title, "class": cls.value, "configs": configs}
            return self._launch(
                plan, "all", number, "start", run=run, routers=[r.name for r in snap.routers]
            )

    @through_gate("daq.stop", target=_experiment)
    def stop(self) -> CommandHandle:
        """Stop the run: the MuTAnT first, then the CoBos; closed once all have stopped.

        The end of run (moving the GRAW files into ``<experiment>/run_NNNN/``) then runs
        as its own command in the background.
        """
        self._authorize("stop runs")
        with self._lock:
            snap = self._fresh()
            if snap.run_number is not None and snap.state is State.READY:
                # Every server already stopped (a failed Stop finished by hand): confirm
                # their state and close the run without sending anything.
                plan = Plan(Command.STOP, [], State.READY, servers=list(snap.servers))
                return self._launch(plan, "all", snap.run_number, "stop")
            snap = self._check_system(Command.STOP)
            plan = Plan(
                Command.STOP,
                rules.phases(snap, Command.STOP),
                State.READY,
                verify=rules.expected_states(snap),
            )
            return self._launch(plan, "all", snap.run_number, "stop")

    @through_gate("daq.organize_files", target=_experiment)
    def organize_files(self, run_number: int, *, backup_configs: bool = False) -> CommandHandle:
        """Move every router's GRAW files into ``<experiment>/run_NNNN/`` (background).

        Safe to repeat: a second pass moves nothing. Routers turn clean when done. With
        ``backup_configs`` (as at the end of a run) the selected config files of every ECC
        server with a ``config_root`` are also copied into the run's backup folder.
        """
        self._authorize("organise run files")
        runs_.check_run_number(run_number)
        snap = self.snapshot()
        if snap.run_number == run_number:
            raise DAQStateError(
                f"run {run_number} is still being taken: its files are organised after Stop"
            )
        command_id = store_organize(
            self.database, snap, self.identity.name, run_number, self.routers, backup_configs
        )
        dispatch(
            self.database, self.experiment_id, command_id,
            controller=self.controller, routers=self.routers,
        )  # fmt: skip
        return CommandHandle(command_id, self.database)

    def runs(self) -> list[Run]:
        """Every run of the experiment with its measurements."""
        return self.runsheet.runs()

    @property
    def current_run(self) -> Run | None:
        """The open run, if one is being taken."""
        for run in reversed(self.runs()):
            if run.is_open:
                return run
        return None

    @property
    def runsheet(self) -> RunSheet:
        """The experiment's run sheet (edits need operator rights)."""
        return RunSheet(
            self.database,
            self.experiment_id,
            self._authorize,
            gate=self.gate,
            experiment=self.experiment_name,
            identity=self.identity,
        )

    def close(self) -> None:
        """Nothing to release per system (the controller is shared per process)."""
