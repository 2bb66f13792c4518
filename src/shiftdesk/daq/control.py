"""The controller: the one place in a process that sends commands to the ECC servers.

Commands run on a thread pool, in parallel across servers, each call with a long
transition timeout (GET transitions are synchronous and Configure can take minutes, notes
§1.3), in ordered phases (MuTAnT before or after the CoBos, notes §1.6). Progress goes to
the command's record in the database, so the caller gets a handle at once and any
dashboard can follow; :meth:`CommandHandle.wait` blocks for scripts and tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update

from shiftdesk.daq.commands import CommandWriter, write_log
from shiftdesk.daq.ecc import (
    ConfigId,
    DataLink,
    ECCClient,
    ECCValueError,
    State,
    Transition,
    parse_data_senders,
)
from shiftdesk.daq.errors import DAQStateError
from shiftdesk.daq.records import ECCServerRecord
from shiftdesk.daq.snapshot import Command, ServerView, now
from shiftdesk.storage import Database

#: ``factory(url) -> client`` (the ECC client contract; tests may pass their own).
ClientFactory = Callable[[str], ECCClient]
#: A GetState outcome: the reading, or why there is none.
Reading = tuple[State, Transition] | BaseException

TRANSITION_TIMEOUT_S = 300.0
STATE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class ServerCall:
    """One server's part of a phase: the server, and what Describe/Prepare/Configure send."""

    server: ServerView
    config: ConfigId | None = None
    links: tuple[DataLink, ...] = ()


@dataclass
class Plan:
    """A command as phases of parallel calls, and the state every server must end in."""

    command: Command
    phases: list[list[ServerCall]]
    expect: State | None
    before: Callable[[CommandWriter], None] | None = None
    after: Callable[[CommandWriter], str] | None = None
    servers: list[ServerView] = field(default_factory=list)
    #: The state each server was judged to be in when the command was accepted (often
    #: the poller's stored reading): read back live before anything is sent.
    verify: dict[str, State] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.servers:
            self.servers = [c.server for phase in self.phases for c in phase]


def store_readings(
    database: Database, experiment_id: int, readings: dict[str, Reading], at: datetime
) -> list[tuple[str, bool]]:
    """Write GetState outcomes to the servers' rows in one transaction.

    A reading sets the state and marks the server online; a failure marks it offline
    with the error and keeps the last state (shown as Offline, then stale). Returns the
    servers whose online flag changed, as ``(name, online)``.
    """
    changed: list[tuple[str, bool]] = []
    if not readings:
        return changed
    table = ECCServerRecord
    with database.session() as session:
        # Plain column reads and one bulk UPDATE by primary key: a 100-server sweep
        # costs one short transaction, not 100 ORM objects.
        rows = session.execute(
            select(
                table.id, table.name, table.state, table.transition, table.online,
                table.polled_at,
            ).where(table.experiment_id == experiment_id, table.name.in_(list(readings)))
        ).all()  # fmt: skip
        updates: list[dict[str, object]] = []
        for row_id, name, old_state, old_transition, online, polled_at in rows:
            outcome = readings[name]
            was_online, first = bool(online), polled_at is None
            values: dict[str, object] = {"id": row_id, "polled_at": at}
            if isinstance(outcome, BaseException):
                values.update(online=False, error=str(outcome)[:2000] or type(outcome).__name__)
            else:
                state, transition = int(outcome[0]), int(outcome[1])
                if old_state != state or old_transition != transition or not was_online:
                    values["changed_at"] = at
                values.update(
                    state=state, transition=transition, online=True, error=None, seen_at=at
                )
            updates.append(values)
            now_online = bool(values["online"])
            # First failure counts as going offline; first success is not "back online".
            if (now_online != was_online and not first) or (first and not now_online):
                changed.append((name, now_online))
        if updates:
            session.execute(update(table), updates)
    return changed


def _check_senders(call: ServerCall, reply: str) -> BaseException | None:
    """Describe answers with the data senders of the config: they must be our sources."""
    expected = {src.sender for src in call.server.sources}
    if not expected or not reply.strip():
        return None
    try:
        described = set(parse_data_senders(reply))
    except ECCValueError as exc:
        return exc
    missing = sorted(expected - described)
    if not missing:
        return None
    config = call.config.describe if call.config is not None else "?"
    return DAQStateError(
        f"{call.server.name}: describe config {config!r} has data senders "
        f"{sorted(described) or 'none'}, but the setup expects {missing} on this server. "
        "Undo, then select the describe config of these sources (or fix the setup)"
    )


class Controller:
    """Sends commands to ECC servers from a thread pool; one per process and database.

    Parameters
    ----------
    database : Database
        Where commands, calls and readings are written.
    client_factory : callable, optional
        ``factory(url) -> ECCClient``; default ``ECCClient(url, timeout=transition_timeout)``.
    transition_timeout : float
        Seconds one transition call may take (GET answers when the transition is done).
    state_timeout : float
        Seconds a GetState may take before the server counts as not answering.
    max_workers : int
        Calls in flight at once (transitions block their thread for their whole length).
    """

    def __init__(
        self,
        database: Database,
        *,
        client_factory: ClientFactory | None = None,
        transition_timeout: float = TRANSITION_TIMEOUT_S,
        state_timeout: float = STATE_TIMEOUT_S,
        max_workers: int = 128,
    ) -> None:
        self.database = database
        self.transition_timeout = transition_timeout
        self.state_timeout = state_timeout
        self._factory = client_factory or (
            lambda url: ECCClient(url, timeout=transition_timeout, connect_timeout=2.0)
        )
        self._clients: dict[str, ECCClient] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="daq-call")
        self._threads: set[threading.Thread] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"<DAQ Controller on {self.database!r}, {len(self._threads)} commands running>"

    def client(self, url: str) -> ECCClient:
        """The one client of this process for ``url`` (reused: no WSDL parse per call)."""
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = self._clients[url] = self._factory(url)
            return client

    # -- reading -------------------------------------------------------------------------
    def read_states(
        self, servers: Sequence[ServerView], timeout: float | None = None
    ) -> dict[str, Reading]:
        """GetState on every server at once; a server that does not answer gives its error."""
        limit = self.state_timeout if timeout is None else timeout

        def one(server: ServerView) -> Reading:
            try:
                return self.client(server.url).get_state(timeout=limit)
            except Exception as exc:  # every failure is a reading: "not answering"
                return exc

        futures = {s.name: self._pool.submit(one, s) for s in servers}
        return {name: f.result() for name, f in futures.items()}

    # -- commands ------------------------------------------------------------------------
    def launch(self, writer: CommandWriter, plan: Plan) -> None:
        """Run ``plan`` in the background; the caller already holds the command's id."""
        if self._closed:
            raise RuntimeError("this DAQ controller was closed; make a new DAQSystem")
        thread = threading.Thread(
            target=self._run, args=(writer, plan), name=f"daq-{plan.command}", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def launch_task(self, writer: CommandWriter, task: Callable[[CommandWriter], str]) -> None:
        """Run a non-ECC command (end-of-run file moves) in the background."""
        thread = threading.Thread(
            target=self._run_task, args=(writer, task), name="daq-task", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _run_task(self, writer: CommandWriter, task: Callable[[CommandWriter], str]) -> None:
        try:
            writer.start()
            writer.finish(True, task(writer))
        except Exception as exc:
            writer.finish(False, "failed", f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _run(self, writer: CommandWriter, plan: Plan) -> None:
        try:
            started = time.monotonic()
            writer.start()
            problem = self._verify(writer, plan)
            if problem:
                writer.finish(False, "refused", problem)
                return
            if plan.before is not None:
                plan.before(writer)
            failed = self._phases(writer, plan)
            if failed:
                # Some servers moved and some did not: store what they are now, so the
                # next command is not judged on the readings from before this one.
                self._store_states(writer, plan.servers)
                reasons = "; ".join(f"{name}: {error}" for name, error in failed)
                writer.finish(False, "failed", reasons)
                return
            problem = self._confirm(writer, plan)
            if problem:
                writer.finish(False, "not confirmed", problem)
                return
            message = plan.after(writer) if plan.after is not None else ""
            writer.finish(True, message or f"done in {time.monotonic() - started:.1f} s")
        except Exception as exc:  # the record must end, whatever happened
            writer.finish(False, "failed", f"{exc}")
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _phases(self, writer: CommandWriter, plan: Plan) -> list[tuple[str, BaseException]]:
        """Send the phases in order; the servers that failed, with why."""
        failed: list[tuple[str, BaseException]] = []
        for n, phase in enumerate(plan.phases):
            if failed:  # a failed phase stops the sequence: later servers are not touched
                for call in phase:
                    writer.step(call.server.name, "skipped", "earlier phase failed")
                continue
            if len(plan.phases) > 1:
                names = ", ".join(c.server.name for c in phase)
                writer.progress(f"phase {n + 1}/{len(plan.phases)}: {names}")
            # One write marks the whole phase as sent, so no call waits for the database.
            writer.steps({c.server.name: ("running", "sent") for c in phase})
            futures: dict[str, Future[BaseException | None]] = {
                call.server.name: self._pool.submit(self._call, writer, plan.command, call)
                for call in phase
            }
            wait_futures(list(futures.values()))
            for name, future in futures.items():
                error = future.result()
                if error is not None:
                    failed.append((name, error))
        return failed

    def _call(
        self, writer: CommandWriter, command: Command, call: ServerCall
    ) -> BaseException | None:
        name = call.server.name
        started, t0 = now(), time.monotonic()
        error: BaseException | None = None
        try:
            text = self.client(call.server.url).transition(
                command.value, call.config, call.links, timeout=self.transition_timeout
            )
            if command is Command.DESCRIBE:
                error = _check_senders(call, text)
        except Exception as exc:  # reported per server, never raised into the pool
            error = exc
        duration = time.monotonic() - t0
        # Step messages never repeat the command or server: views put them in front.
        step = ("done", f"done in {duration:.1f} s") if error is None else ("failed", str(error))
        record = {
            "server": name,
            "operation": command.value,
            "started": started,
            "duration_s": duration,
            "error": error,
        }
        writer.steps({name: step}, call=record)
        if error is not None:
            writer.log(call_failure_message(command.value, name, str(error)), "error", name)
        return error

    def _store_states(self, writer: CommandWriter, servers: Sequence[ServerView]) -> None:
        try:
            readings = self.read_states(servers)
            changes = store_readings(self.database, writer.experiment_id, readings, now())
            log_offline_changes(self.database, writer.experiment_id, changes)
        except Exception:  # best effort: the poller stores them on its next sweep anyway
            pass

    def _verify(self, writer: CommandWriter, plan: Plan) -> str | None:
        """Read the servers live before sending: the command was judged on a stored
        reading, which may be up to two poll periods old. None when they agree."""
        if not plan.verify:
            return None
        servers = [s for s in plan.servers if s.name in plan.verify]
        writer.progress("checking the servers' states")
        readings = self.read_states(servers)
        changes = store_readings(self.database, writer.experiment_id, readings, now())
        log_offline_changes(self.database, writer.experiment_id, changes)
        wrong = []
        for name, reading in readings.items():
            expected = plan.verify[name]
            if isinstance(reading, BaseException):
                wrong.append(f"{name} did not answer ({reading})")
            elif reading[0] != expected or reading[1] != Transition.NONE:
                now_is = reading[0].label
                if reading[1] != Transition.NONE:
                    now_is += f", {Transition(reading[1]).label}"
                wrong.append(f"{name} is {now_is}, not {expected.label}")
        if not wrong:
            return None
        return (
            "not sent: the servers' live state differs from the stored one "
            f"it was accepted on ({'; '.join(wrong)}). Look at the refreshed state and send "
            "it again if it is still legal"
        )

    def _confirm(self, writer: CommandWriter, plan: Plan) -> str | None:
        """Read every server back; the command counts only if all reached the state."""
        if plan.expect is None:
            return None
        readings = self.read_states(plan.servers)
        store_readings(self.database, writer.experiment_id, readings, now())
        wrong = []
        for name, reading in readings.items():
            if isinstance(reading, BaseException):
                wrong.append(f"{name} did not answer ({reading})")
            elif reading[0] != plan.expect:
                wrong.append(f"{name} is {reading[0].label}")
        if wrong:
            return f"not every server is {plan.expect.label} after it: " + "; ".join(wrong)
        return None

    # -- lifetime ------------------------------------------------------------------------
    def join(self, timeout: float | None = None) -> bool:
        """Wait for running commands; True if none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            threads[0].join(remaining)

    def close(self, wait: bool = True) -> None:
        """Stop accepting commands; with ``wait`` let running ones finish first."""
        self._closed = True
        if wait:
            self.join()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


_controllers: dict[str, Controller] = {}
_controllers_lock = threading.Lock()


def get_controller(database: Database) -> Controller:
    """The process's controller for ``database`` (made on first use)."""
    with _controllers_lock:
        controller = _controllers.get(database.url)
        if controller is None or controller._closed:
            controller = _controllers[database.url] = Controller(database)
        return controller


def call_failure_message(operation: str, server: str, error: str) -> str:
    """The shift-log line of an ECC call that failed (a server's log shows the call
    itself instead, so it recognises the line by this text)."""
    return f"{operation} failed on {server}: {error}"


def log_offline_changes(
    database: Database, experiment_id: int, changes: list[tuple[str, bool]]
) -> None:
    """Shift-log entries for servers that went offline or came back."""
    for name, online in changes:
        write_log(
            database,
            experiment_id,
            f"ECC server {name} is {'back online' if online else 'offline (no answer)'}",
            "info" if online else "warning",
            name,
        )
