"""SSH workers on a hub: the gate installs session keys, users never hold the bootstrap key.

A real OpenSSH server on loopback (``ssh_server``). The user's backend has no
``bootstrap_key``; the gate's settings (``SHIFTDESK_SETTINGS`` of this process, as in
the gate service) have it. A loopback gate plays the service, acting as ``alice``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests._loopback_gate import LoopbackGate
from tests._sshd import SSHServer
from tests.jobs.test_ssh_backend import session_lines

from shiftdesk.audit import entries
from shiftdesk.errors import PermissionDenied
from shiftdesk.identity import Identity
from shiftdesk.jobs import ssh as ssh_module
from shiftdesk.jobs import submit_job
from shiftdesk.jobs.ssh import SSHBackend, SSHBackendError, SSHConfig
from shiftdesk.storage import get_database

ALICE = Identity("alice")


def _user_config(server: SSHServer) -> SSHConfig:
    """The backend as a user's settings describe it: no bootstrap key."""
    return SSHConfig(
        name="worker",
        host=server.host,
        port=server.port,
        user=server.user,
        python=server.python,
        known_hosts=server.known_hosts,
        spare=False,
        connect_timeout=5,
    )


@pytest.fixture
def gate(ssh_server: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoopbackGate:
    # the gate's own settings, with the bootstrap key
    settings = tmp_path / "gate-settings.toml"
    settings.write_text(
        "[backends.worker]\n"
        'type = "ssh"\n'
        f'host = "{ssh_server.host}"\n'
        f"port = {ssh_server.port}\n"
        f'user = "{ssh_server.user}"\n'
        f'python = "{ssh_server.python}"\n'
        f'bootstrap_key = "{ssh_server.admin_key}"\n'
        f'known_hosts = "{ssh_server.known_hosts}"\n'
    )
    monkeypatch.setenv("SHIFTDESK_SETTINGS", str(settings))
    loopback = LoopbackGate(ALICE, {})
    monkeypatch.setattr(ssh_module, "get_gate", lambda: loopback)
    return loopback


def test_the_gate_installs_and_removes_a_users_session_key(
    ssh_server: SSHServer, gate: LoopbackGate
) -> None:
    backend = SSHBackend(_user_config(ssh_server), get_database())
    try:
        job = submit_job("test.sleep", {"steps": 2, "delay": 0}, backend=backend, identity=ALICE)
        assert job.result(timeout=60) == {"steps": 2}
        assert gate.calls == ["jobs.ssh_authorize"]
        (line,) = session_lines(ssh_server)
        assert line.startswith('from="127.0.0.1",no-agent-forwarding')
        assert " shiftdesk-session-alice-" in line
        backend.end_session()
        assert session_lines(ssh_server) == []
    finally:
        backend.close()
    done = [(e.actor, e.action, e.outcome, e.via) for e in entries(action="jobs.")]
    assert ("alice", "jobs.ssh_authorize", "ok", "gate") in done


def test_the_gate_refuses_foreign_backends_keys_and_markers(
    ssh_server: SSHServer, gate: LoopbackGate
) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOther"
    target: dict[str, Any] = {
        "host": ssh_server.host,
        "port": ssh_server.port,
        "user": ssh_server.user,
    }
    with pytest.raises(PermissionDenied, match="knows no SSH backend 'elsewhere'"):
        gate.call("jobs.ssh_authorize", backend="elsewhere", public_key=key, **target)
    with pytest.raises(PermissionDenied, match="not root@"):
        gate.call(
            "jobs.ssh_authorize", backend="worker", public_key=key, **dict(target, user="root")
        )
    with pytest.raises(ValueError, match="one ssh-ed25519 public key"):
        gate.call(
            "jobs.ssh_authorize",
            backend="worker",
            public_key=key + '\ncommand="sh" ssh-ed25519 AAAA',
            **target,
        )
    with pytest.raises(PermissionDenied, match="not a session key of 'alice'"):
        gate.call("jobs.ssh_revoke", backend="worker", marker="shiftdesk-session-bob-123")
    assert session_lines(ssh_server) == []
    refused = [e for e in entries(action="jobs.") if e.outcome == "refused"]
    assert len(refused) == 4 and {e.actor for e in refused} == {"alice"}


def test_without_a_gate_a_backend_needs_its_bootstrap_key(
    ssh_server: SSHServer, tmp_path: Path
) -> None:
    backend = SSHBackend(_user_config(ssh_server), get_database())
    try:
        with pytest.raises(SSHBackendError, match="has no bootstrap_key"):
            backend.connect()
    finally:
        backend.close()
