"""Commands are rows the hardware owner runs: they outlive their sender, and a dead
executor is noticed within seconds (real processes, killed with SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from tests.daq._system import daq_system
from tests.daq._system import until as _until

from shiftdesk.daq.commands import CommandHandle, create_command
from shiftdesk.daq.ecc import State
from shiftdesk.daq.execution import STALE_S, Executor, executor_elsewhere, stop_executors
from shiftdesk.daq.poller import Poller
from shiftdesk.daq.records import CommandRecord
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.snapshot import now

Cluster = Callable[..., SimulatedCluster]

SENDER = """
import sys, time
from shiftdesk.daq.routers import LocalRouters
from shiftdesk.daq.system import DAQSystem
handle = DAQSystem(routers=LocalRouters()).configure()
print(handle.id, flush=True)
time.sleep(600)
"""
EXECUTOR = """
from shiftdesk.daq.poller import Poller
from shiftdesk.daq.routers import LocalRouters
Poller(period=0.3, routers=LocalRouters()).run_forever()
"""


@contextmanager
def _process(code: str) -> Iterator[subprocess.Popen[str]]:
    env = dict(os.environ, JUPYTERHUB_USER="alice")  # standalone: the operator
    with subprocess.Popen([sys.executable, "-c", code], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:  # fmt: skip
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def test_a_command_outlives_the_kernel_that_sent_it(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        poller = Poller(daq.database, period=0.3).start()  # the poll service: runs commands
        try:
            daq.describe().wait(10)
            daq.prepare().wait(10)
            for sim in cluster:
                sim.hold()
            with _process(SENDER) as sender:
                assert sender.stdout is not None
                command_id = sender.stdout.readline().strip()
                for sim in cluster:
                    sim.wait_transitioning(10)
                os.kill(sender.pid, signal.SIGKILL)  # the kernel is culled mid-Configure
                sender.wait(10)
            # Another kernel sees the command and its progress.
            handle = CommandHandle(command_id, daq.database).refresh()
            assert handle.status == "running" and handle.command == "Configure"
            assert {s.status for s in handle.steps} == {"running"}
            for sim in cluster:
                sim.release()
            assert handle.wait(15).ok
            assert all(sim.state is State.READY for sim in cluster)
            assert daq.snapshot().state is State.READY
        finally:
            for sim in cluster:
                sim.release()
            poller.stop()


def test_a_dead_executor_is_noticed_at_once_with_a_clear_message(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        with _process(EXECUTOR) as executor:
            _until(lambda: executor_elsewhere(daq.database, daq.experiment_id))
            daq.describe().wait(10)  # run by the other process, not this one
            with daq.database.session() as session:
                row = session.get(CommandRecord, daq.commands()[0].id)
                assert row is not None and row.pid == executor.pid
            for sim in cluster:
                sim.hold()
            try:
                handle = daq.prepare()
                for sim in cluster:
                    sim.wait_transitioning(10)
                t0 = time.monotonic()
                os.kill(executor.pid, signal.SIGKILL)
                executor.wait(10)
                handle.wait(10, check=False)
                assert time.monotonic() - t0 < 5  # not a transition timeout
            finally:
                for sim in cluster:
                    sim.release()
        assert handle.status == "failed"
        assert "abandoned" in (handle.error or "")
        assert f"pid {executor.pid}" in (handle.error or "") and "ended" in (handle.error or "")
        # Nothing executes commands now: this process stands in for the poll service.
        _until(lambda: daq.snapshot().active_commands == ())
        daq.refresh()
        assert daq.snapshot().state is State.PREPARED  # the servers finished on their own
        assert daq.configure().wait(10).ok


def test_a_queued_command_nobody_runs_is_closed_clearly(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        stop_executors()
        command_id = create_command(
            daq.database, daq.experiment_id, "Describe", target="all", owner="alice",
            timeout_s=300, steps=["ECC_0"], plan={"kind": "transition"},
        )  # fmt: skip
        assert CommandHandle(command_id, daq.database).status == "queued"
        with daq.database.session() as session:
            row = session.get(CommandRecord, command_id)
            assert row is not None
            row.created_at = now() - timedelta(seconds=STALE_S + 1)
        handle = CommandHandle(command_id, daq.database).refresh()
        assert handle.status == "failed"
        assert "no process executes DAQ commands" in (handle.error or "")


def test_an_executor_that_comes_late_does_not_run_a_command_already_given_up(
    ecc_servers: Cluster,
) -> None:
    # Observers told the operator it was abandoned; a poll service restarted later must
    # not send that Describe out of the blue.
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        stop_executors()
        command_id = create_command(
            daq.database, daq.experiment_id, "Describe", target="all", owner="alice",
            timeout_s=300, steps=["ECC_0"], plan={"kind": "transition"},
        )  # fmt: skip
        with daq.database.session() as session:
            row = session.get(CommandRecord, command_id)
            assert row is not None
            row.created_at = now() - timedelta(seconds=STALE_S + 1)
        assert Executor(daq.database).run_pending() == []
        handle = CommandHandle(command_id, daq.database).refresh()
        assert handle.status == "failed"
        assert "send it again" in (handle.error or "")


def test_a_stopped_executor_keeps_its_running_command_alive(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1, durations=8.0)
    with daq_system(cluster) as daq:
        stop_executors()
        executor = Executor(daq.database).start()
        handle = daq.describe()
        _until(lambda: handle.refresh().status == "running", 10)
        executor.stop()  # stops taking commands; the Describe goes on to its end
        stopped = now()
        time.sleep(2.5)
        # its heartbeat goes on, so observers elsewhere do not take it for abandoned
        with daq.database.session() as session:
            row = session.get(CommandRecord, handle.id)
            assert row is not None and row.status == "running"
            beat = row.heartbeat_at
        assert beat is not None and beat.replace(tzinfo=stopped.tzinfo) > stopped
        assert handle.wait(30).status == "done", handle.error
        assert daq.servers["ECC_0"].state is State.DESCRIBED


@pytest.mark.postgres
def test_commands_run_by_the_executor_on_postgresql(
    postgres_url: str, ecc_servers: Cluster
) -> None:
    from shiftdesk.storage import Database

    cluster = ecc_servers(2)
    with daq_system(cluster, database=Database(postgres_url)) as daq:
        poller = Poller(daq.database, period=0.3).start()
        try:
            for step in (daq.describe, daq.prepare, daq.configure):
                handle = step().wait(10)
                with daq.database.session() as session:
                    row = session.get(CommandRecord, handle.id)
                    assert row is not None and row.heartbeat_at is not None
            assert daq.servers["ECC_1"].state is State.READY
        finally:
            poller.stop()
