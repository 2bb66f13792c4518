"""The poll service: the one owner of the hardware, reading it and running commands.

Every period it sends GetState to all servers of the active experiment at once (a thread
pool, a short per-call timeout), writes the answers as they come (a hung server never
holds back the others' readings), marks a server Offline after a failed poll, and leaves a
heartbeat so readers can tell a reading older than two periods is stale. Running, it
also executes the stored commands (an :class:`~shiftdesk.daq.execution.Executor`), so a
command outlives the kernel that sent it. Run it as ``shiftdesk daq poll`` or in-process
(``with Poller(db): ...``).

Dashboards never talk to the hardware: they call :func:`read_snapshot`, which reads the
stored state and judges staleness.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select, update

from shiftdesk.daq.commands import active_commands
from shiftdesk.daq.control import ClientFactory, Reading, log_offline_changes, store_readings
from shiftdesk.daq.ecc import ECCClient
from shiftdesk.daq.execution import Executor, local_executor
from shiftdesk.daq.experiment import active_experiment
from shiftdesk.daq.records import (
    DataRouterRecord,
    DataSourceRecord,
    ECCServerRecord,
    ExperimentRecord,
)
from shiftdesk.daq.routers import RouterAccess
from shiftdesk.daq.runs import next_run_number, open_run_record
from shiftdesk.daq.snapshot import (
    RouterView,
    ServerView,
    Snapshot,
    ecc_url,
    now,
    source_views,
    utc,
)
from shiftdesk.errors import NotFound
from shiftdesk.storage import Database, get_database

log = logging.getLogger(__name__)


def read_snapshot(database: Database | None = None) -> Snapshot:
    """The stored state of the active experiment, with staleness judged now.

    This is what dashboards poll: one read of the database, no hardware access.
    """
    db = database or get_database()
    experiment = active_experiment(db)
    commands = active_commands(db, experiment.id)
    # A server stays held until its command has ended, not only its own step: the
    # claim check refuses a new command on it until then, and the buttons must agree
    # (a finished Configure still finishing showed Ready, and Start was refused).
    busy: dict[str, str] = {}
    for command in commands:
        for name in json.loads(command.steps_json or "{}"):
            busy[name] = command.command
    at = now()
    with db.session() as session:
        exp = session.get(ExperimentRecord, experiment.id)
        assert exp is not None
        servers = list(
            session.scalars(
                select(ECCServerRecord)
                .where(ECCServerRecord.experiment_id == exp.id)
                .order_by(ECCServerRecord.id)
            )
        )
        routers = list(
            session.scalars(
                select(DataRouterRecord)
                .where(DataRouterRecord.experiment_id == exp.id)
                .order_by(DataRouterRecord.id)
            )
        )
        sources = source_views(
            list(
                session.scalars(
                    select(DataSourceRecord).where(DataSourceRecord.experiment_id == exp.id)
                )
            ),
            {s.id: s.name for s in servers},
            {r.id: r.name for r in routers},
        )
        run = open_run_record(session, exp.id)
        period = float(exp.poll_period_s or 1.0)
        heartbeat = utc(exp.poller_heartbeat_at)
        snapshot = Snapshot(
            experiment=exp.name,
            taken_at=at,
            poll_period_s=period,
            poller_alive=heartbeat is not None and (at - heartbeat).total_seconds() <= 2 * period,
            servers=tuple(
                ServerView.from_record(
                    s,
                    tuple(src for src in sources if src.server == s.name),
                    period,
                    at,
                    busy.get(s.name),
                )
                for s in servers
            ),
            routers=tuple(RouterView.from_record(r) for r in routers),
            sources=tuple(sources),
            run_number=None if run is None else run.run_number,
            run_started_at=None if run is None else utc(run.started_at),
            run_title="" if run is None else run.title,
            run_class="" if run is None else run.run_class,
            next_run_number=next_run_number(session, exp),
            active_commands=tuple(c.command for c in commands),
        )
    return snapshot


@dataclass(frozen=True)
class Sweep:
    """What one poll sweep did."""

    answered: tuple[str, ...]
    failed: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float
    #: Seconds from the start until every answer received in the sweep was stored
    #: (a hung server's timeout is not in it: its failure is stored after).
    stored_s: float = 0.0


class Poller:
    """Refreshes the active experiment's ECC servers (and routers) into the database.

    Parameters
    ----------
    database : Database, optional
        Where to write (default: the default database).
    period : float
        Seconds between sweeps (stored, so readers judge staleness against it).
    timeout : float, optional
        Per-call GetState timeout (default: ``min(period, 1)``). A server that does not
        answer within it is marked Offline.
    client_factory : callable, optional
        ``factory(url) -> ECCClient`` (default: a client with ``timeout``).
    routers : RouterAccess, optional
        When given, routers are checked for unsorted files every ``router_period`` s.
    router_period : float
        Seconds between router checks.
    max_workers : int
        Calls in flight at once. GetState is short, so a few threads serve many servers;
        more threads only fight over the interpreter lock (measured: 16 beats 128 for 100
        servers), and a hung server holds one thread for at most ``timeout``.
    execute : bool
        While running (:meth:`start`, :meth:`run_forever`), also execute the stored
        commands of the active experiment (default).
    """

    def __init__(
        self,
        database: Database | None = None,
        *,
        period: float = 1.0,
        timeout: float | None = None,
        client_factory: ClientFactory | None = None,
        routers: RouterAccess | None = None,
        router_period: float = 15.0,
        max_workers: int = 16,
        execute: bool = True,
    ) -> None:
        if period <= 0:
            raise ValueError(f"poll period {period!r} must be > 0 seconds")
        self.database = database or get_database()
        self.period = float(period)
        self.timeout = float(timeout if timeout is not None else min(period, 1.0))
        self.routers = routers
        self.router_period = router_period
        self._factory = client_factory or (
            lambda url: ECCClient(url, timeout=self.timeout, connect_timeout=self.timeout)
        )
        self._clients: dict[str, ECCClient] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="daq-poll")
        self._inflight: set[str] = set()
        self._router_inflight: set[str] = set()
        self._setup: tuple[int, list[tuple[str, str]], list[RouterView]] | None = None
        self._last_router_check = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sweeps = 0
        self.execute = execute
        self.executor: Executor | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<DAQ Poller every {self.period:g} s ({state}), {self.sweeps} sweeps>"

    @property
    def running(self) -> bool:
        """Whether the background thread is polling."""
        return self._thread is not None and self._thread.is_alive()

    def _client(self, url: str) -> ECCClient:
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = self._clients[url] = self._factory(url)
            return client

    def _load(self) -> tuple[int, list[tuple[str, str]], list[RouterView]]:
        """(experiment id, (name, url) of every server, routers to check)."""
        experiment = active_experiment(self.database)
        with self.database.session() as session:
            servers = [
                (name, ecc_url(host, port))
                for name, host, port in session.execute(
                    select(ECCServerRecord.name, ECCServerRecord.host, ECCServerRecord.port)
                    .where(ECCServerRecord.experiment_id == experiment.id)
                    .order_by(ECCServerRecord.id)
                )
            ]
            routers = []
            if self.routers is not None:
                routers = [
                    RouterView.from_record(r)
                    for r in session.scalars(
                        select(DataRouterRecord).where(
                            DataRouterRecord.experiment_id == experiment.id
                        )
                    )
                ]
        return experiment.id, servers, routers

    def poll_once(self) -> Sweep:
        """One sweep: GetState on every server at once; readings written as they arrive."""
        t0 = time.monotonic()
        # The setup read at the end of the previous sweep: calls go out at once, and a
        # setup change is seen one sweep later.
        if self._setup is None:
            self._setup = self._load()
        experiment_id, servers, routers = self._setup
        results: queue.SimpleQueue[tuple[str, Reading]] = queue.SimpleQueue()
        sweep_open = [True]
        skipped = []
        expected = 0
        for name, url in servers:
            with self._lock:
                if name in self._inflight:  # still stuck from an earlier sweep
                    skipped.append(name)
                    continue
                self._inflight.add(name)
            self._pool.submit(self._poll_one, experiment_id, name, url, results, sweep_open)
            expected += 1
        answered: list[str] = []
        failed: list[str] = []
        buffer: dict[str, Reading] = {}
        stored = 0.0

        def flush() -> None:
            nonlocal buffer, stored
            if not buffer:
                return
            self._store(experiment_id, buffer)
            if any(not isinstance(r, BaseException) for r in buffer.values()):
                stored = time.monotonic() - t0
            buffer = {}

        # Bounded by the per-call timeout (plus slack for connecting).
        deadline = t0 + 2 * self.timeout + 0.5
        received = 0
        while received < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                # Write when answers stop arriving, so a hung server never delays the rest.
                name, reading = results.get(timeout=min(0.03, remaining) if buffer else remaining)
            except queue.Empty:
                flush()
                continue
            buffer[name] = reading
            received += 1
            (failed if isinstance(reading, BaseException) else answered).append(name)
        with self._lock:
            sweep_open[0] = False  # later answers are stored by their own thread
        while not results.empty():
            name, reading = results.get()
            buffer[name] = reading
            (failed if isinstance(reading, BaseException) else answered).append(name)
        flush()
        self._heartbeat(experiment_id)
        if self.routers is not None and routers:
            self._check_routers(experiment_id, routers)
        self.sweeps += 1
        self._setup = self._load()
        return Sweep(tuple(answered), tuple(failed), tuple(skipped), time.monotonic() - t0, stored)

    def _poll_one(
        self,
        experiment_id: int,
        name: str,
        url: str,
        results: queue.SimpleQueue[tuple[str, Reading]],
        sweep_open: list[bool],
    ) -> None:
        reading = self._get_state(name, url)
        with self._lock:
            if sweep_open[0]:
                results.put((name, reading))
                return
        self._store(experiment_id, {name: reading})  # the sweep gave up waiting for it

    def _get_state(self, name: str, url: str) -> Reading:
        try:
            return self._client(url).get_state(timeout=self.timeout)
        except Exception as exc:  # a failed poll is a reading too: the server is offline
            return exc
        finally:
            with self._lock:
                self._inflight.discard(name)

    def _store(self, experiment_id: int, readings: dict[str, Reading]) -> None:
        try:
            changes = store_readings(self.database, experiment_id, readings, now())
            log_offline_changes(self.database, experiment_id, changes)
        except Exception:  # the poller must outlive a locked database
            log.exception("could not store ECC readings")

    def _heartbeat(self, experiment_id: int) -> None:
        with self.database.session() as session:
            session.execute(
                update(ExperimentRecord)
                .where(ExperimentRecord.id == experiment_id)
                .values(poller_heartbeat_at=now(), poll_period_s=self.period)
            )

    # -- routers -------------------------------------------------------------------------
    def _check_routers(self, experiment_id: int, routers: list[RouterView]) -> None:
        if time.monotonic() - self._last_router_check < self.router_period:
            return
        self._last_router_check = time.monotonic()
        for router in routers:
            with self._lock:
                if router.name in self._router_inflight:
                    continue
                self._router_inflight.add(router.name)
            self._pool.submit(self.check_router, experiment_id, router)

    def check_router(self, experiment_id: int, router: RouterView) -> None:
        """Ask a router's host for unsorted files and store online/clean."""
        assert self.routers is not None
        update: dict[str, object]
        try:
            files = self.routers.unsorted_files(router)
            update = {"online": True, "clean": not files, "error": None}
        except Exception as exc:
            update = {"online": False, "error": str(exc)[:2000]}
        finally:
            with self._lock:
                self._router_inflight.discard(router.name)
        with self.database.session() as session:
            row = session.scalars(
                select(DataRouterRecord).where(
                    DataRouterRecord.experiment_id == experiment_id,
                    DataRouterRecord.name == router.name,
                )
            ).first()
            if row is not None:
                for key, value in update.items():
                    setattr(row, key, value)
                row.checked_at = now()

    # -- running -------------------------------------------------------------------------
    def _start_executor(self) -> None:
        if not self.execute or (self.executor is not None and self.executor.running):
            return
        local = local_executor(self.database)
        if local is not None:  # one a system of this process started: keep it for good
            local.idle_stop = None
            if local.routers is None:
                local.routers = self.routers
            return
        self.executor = Executor(self.database, routers=self.routers).start()

    def start(self) -> Poller:
        """Poll (and execute commands) in a background thread until :meth:`stop`."""
        if self.running:
            return self
        self._start_executor()
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="daq-poller", daemon=True)
        self._thread.start()
        return self

    def run_forever(self) -> None:
        """Sweep every period until :meth:`stop` (errors are logged, never fatal)."""
        self._start_executor()
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                self.poll_once()
            except NotFound:
                pass  # no active experiment yet: keep waiting for one
            except Exception:
                log.exception("DAQ poll sweep failed")
            self._stop.wait(max(0.0, self.period - (time.monotonic() - t0)))

    def stop(self) -> None:
        """Stop the background thread, the executor and the pool (calls in flight end on
        their timeout)."""
        self._stop.set()
        if self.executor is not None:
            self.executor.stop()
            self.executor = None
        if self._thread is not None:
            self._thread.join(self.period + 2 * self.timeout + 1)
            self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Poller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_cli(args: object) -> int:
    """``shiftdesk daq poll``: poll until Ctrl-C (or once with ``--once``)."""
    from shiftdesk.daq.routers import ROUTERS_ENV, routers_from_environment

    period = float(getattr(args, "period", 1.0))
    timeout = getattr(args, "timeout", None)
    # the hub's demo tells its poller the routers are local folders: check them too
    check = getattr(args, "check_routers", False) or os.environ.get(ROUTERS_ENV) == "local"
    routers = routers_from_environment() if check else None
    poller = Poller(period=period, timeout=timeout, routers=routers)
    try:
        if getattr(args, "once", False):
            sweep = poller.poll_once()
            print(
                f"shiftdesk daq poll: {len(sweep.answered)} answered, {len(sweep.failed)} failed "
                f"({', '.join(sweep.failed) or 'none'}) in {sweep.seconds * 1000:.0f} ms"
            )
            print(read_snapshot(poller.database))
            return 0 if not sweep.failed else 1
        print(f"shiftdesk daq poll: every {period:g} s into {poller.database!r} (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            poller.run_forever()
        return 0
    finally:
        poller.stop()


_local_pollers: dict[str, Poller] = {}
_local_lock = threading.Lock()
#: How this process reaches each database's data routers (the last DAQSystem made says).
_router_access: dict[str, RouterAccess] = {}
#: Seconds between router checks when they go over SSH (a directory listing on a remote
#: host per router): slower than the GetState sweep. Local folders are checked every sweep.
REMOTE_ROUTER_PERIOD_S = 15.0


def router_access(database: Database) -> RouterAccess:
    """How this process reaches ``database``'s data routers: as its last
    :class:`~shiftdesk.daq.system.DAQSystem` does, else as the environment says."""
    with _local_lock:
        access = _router_access.get(database.url)
    if access is not None:
        return access
    from shiftdesk.daq.routers import routers_from_environment

    return routers_from_environment()


def use_routers(database: Database, routers: RouterAccess) -> None:
    """Let :func:`ensure_poller` check ``database``'s data routers through ``routers``.

    :class:`~shiftdesk.daq.system.DAQSystem` calls it, so a dashboard's poller looks at
    the routers the way its system does (SSH, or local folders).
    """
    with _local_lock:
        _router_access[database.url] = routers
        local = _local_pollers.get(database.url)
        if local is not None and local.routers is None:
            local.routers = routers
            local.router_period = _router_period(routers, local.period)


def _router_period(routers: RouterAccess, period: float) -> float:
    from shiftdesk.daq.routers import LocalRouters

    return period if isinstance(routers, LocalRouters) else max(period, REMOTE_ROUTER_PERIOD_S)


def ensure_poller(
    database: Database | None = None,
    *,
    period: float = 1.0,
    routers: RouterAccess | None = None,
    router_period: float | None = None,
) -> Poller | None:
    """Start a poller in this process unless one (here or elsewhere) is already polling.

    For dashboards and demos: the dedicated owner is ``shiftdesk daq poll``; when its
    heartbeat is missing, this process takes over (one per process and database). It
    refreshes the ECC servers and the data routers (online, clean).

    Parameters
    ----------
    database : Database, optional
        Default: the default database.
    period : float
        Seconds between GetState sweeps.
    routers : RouterAccess, optional
        How to look into the routers' folders. Default: what the last
        :class:`~shiftdesk.daq.system.DAQSystem` of this database uses, else
        :class:`~shiftdesk.daq.routers.SSHRouters`.
    router_period : float, optional
        Seconds between router checks. Default: every sweep for local folders,
        ``REMOTE_ROUTER_PERIOD_S`` over SSH (a listing per router is costlier).

    Returns
    -------
    Poller or None
        The poller started (or already running) here; None when another process polls,
        and always None in a hub user server (its account may not write the DAQ: the
        hub's poller service polls for everyone).
    """
    from shiftdesk.gate import get_gate

    if get_gate().remote:
        return None
    db = database or get_database()
    with _local_lock:
        access = routers or _router_access.get(db.url)
        local = _local_pollers.get(db.url)
        if local is not None and local.running:
            if local.routers is None and access is not None:
                local.routers = access
                local.router_period = (
                    router_period
                    if router_period is not None
                    else _router_period(access, local.period)
                )
            return local
        try:
            if read_snapshot(db).poller_alive:
                return None
        except NotFound:
            pass  # no experiment yet: poll once there is one
        if access is None:
            from shiftdesk.daq.routers import SSHRouters

            access = SSHRouters()
        every = router_period if router_period is not None else _router_period(access, period)
        poller = _local_pollers[db.url] = Poller(
            db, period=period, routers=access, router_period=every
        ).start()
        return poller
