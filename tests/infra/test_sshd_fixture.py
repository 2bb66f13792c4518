"""The loopback sshd fixture works: key login, the venv's Python, refusal of unknown keys."""

from __future__ import annotations

import subprocess

from tests._sshd import SSHServer


def _ssh(server: SSHServer, key: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh", "-i", key, "-p", str(server.port),
            "-o", f"UserKnownHostsFile={server.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            f"{server.user}@{server.host}", command,
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_admin_key_logs_in_and_runs_shiftdesk_python(ssh_server: SSHServer) -> None:
    result = _ssh(
        ssh_server,
        str(ssh_server.admin_key),
        f"whoami && {ssh_server.python} -c 'import shiftdesk; print(shiftdesk.__name__)'",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [ssh_server.user, "shiftdesk"]


def test_unknown_key_is_refused(ssh_server: SSHServer, tmp_path) -> None:
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    result = _ssh(ssh_server, str(key), "true")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr
