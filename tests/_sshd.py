"""A real OpenSSH server on a loopback port, for the SSH job backend and DAQ end-of-run tests.

The server runs Debian's ``/usr/sbin/sshd`` with its own configuration, host key, pid file
and log in a temporary folder, listens on 127.0.0.1 only, and admits exactly one account,
``sdworker`` (created on first use; the tests must run as root to create it). Only public
key logins are allowed; :attr:`SSHServer.admin_key` is the key the tests use to set things
up, like the key a facility admin installs by hand before the first remote fit.

Use it through the fixtures in ``tests/conftest.py``::

    def test_something(ssh_server: SSHServer) -> None:
        ssh_server.host, ssh_server.port, ssh_server.user, ssh_server.known_hosts

``ssh_server`` resets the account between tests (authorized_keys back to the admin key,
the home folder emptied of everything but ``.ssh``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
ACCOUNT = "sdworker"


class SSHDUnavailable(RuntimeError):
    """sshd cannot run here; the message says what to install or change."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_account(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise SSHDUnavailable(
            f"the SSH tests need a test account {name!r}; run them as root so they can create "
            f"it, or create it yourself (useradd -m {name})"
        )
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    # '*' instead of useradd's '!': no password, but not "locked", which sshd would refuse
    # even for key logins when PAM is off.
    subprocess.run(["usermod", "-p", "*", name], check=True)
    return pwd.getpwnam(name)


def _let_account_run_python(python: Path) -> None:
    """Give other users traverse (x) permission on the folders above the test interpreter.

    The venv's interpreter links into /root/.pyenv, and /root is 0700; without this the
    worker account could not start ``python -m shiftdesk.jobs.worker``. Only the x bit
    is added (no listing), and only on folders that lack it.
    """
    real = python.resolve()
    for folder in [*reversed(real.parents), *reversed(Path(sys.prefix).resolve().parents)]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(folder, mode | stat.S_IXOTH)


@dataclass
class SSHServer:
    """A running sshd on 127.0.0.1 and the facts a client needs to reach it."""

    folder: Path
    port: int
    user: str
    home: Path
    uid: int
    gid: int
    admin_key: Path
    known_hosts: Path
    host_key_line: str
    python: str = sys.executable
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def authorized_keys_path(self) -> Path:
        return self.home / ".ssh" / "authorized_keys"

    @property
    def log_path(self) -> Path:
        return self.folder / "sshd.log"

    def authorized_keys(self) -> list[str]:
        """The account's authorized_keys lines (without blank lines)."""
        if not self.authorized_keys_path.exists():
            return []
        return [ln for ln in self.authorized_keys_path.read_text().splitlines() if ln.strip()]

    def give(self, path: Path) -> None:
        """Hand ``path`` (recursively) to the test account, as files it created would be."""
        for root, dirs, files in os.walk(path):
            os.chown(root, self.uid, self.gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), self.uid, self.gid, follow_symlinks=False)

    def shared_folder(self, name: str) -> Path:
        """A fresh folder in the account's home owned by the account (and writable by root)."""
        path = self.home / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        self.give(path)
        return path

    def reset(self) -> None:
        """Back to a clean account: only the admin key authorized, nothing else in home."""
        ssh_dir = self.home / ".ssh"
        for entry in self.home.iterdir():
            if entry == ssh_dir:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        ssh_dir.mkdir(exist_ok=True)
        admin_pub = Path(f"{self.admin_key}.pub").read_text().strip()
        self.authorized_keys_path.write_text(admin_pub + " shiftdesk-test-admin\n")
        self.give(ssh_dir)
        os.chmod(ssh_dir, 0o700)
        os.chmod(self.authorized_keys_path, 0o600)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start sshd (again) on :attr:`port` and wait until it answers with its banner."""
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            [str(SSHD), "-D", "-f", str(self.folder / "sshd_config"), "-E", str(self.log_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SSHDUnavailable(
                    f"sshd exited with {self.process.returncode}: "
                    f"{self.log_path.read_text() if self.log_path.exists() else ''}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-2.0"):
                        return
            except OSError:
                time.sleep(0.05)
        raise SSHDUnavailable(f"sshd did not answer on port {self.port} within 15 s")

    def stop(self) -> None:
        """Stop sshd; the port refuses connections afterwards."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def start_sshd() -> SSHServer:
    """Create the account, keys and configuration, and start sshd on a free loopback port."""
    if not SSHD.exists():
        raise SSHDUnavailable("OpenSSH server is not installed: run bash scripts/setup.sh")
    account = _ensure_account(ACCOUNT)
    if os.geteuid() == 0:
        _let_account_run_python(Path(sys.executable))
    # sshd's privilege separation folder; Debian's init script normally makes it.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    folder = Path(tempfile.mkdtemp(prefix="shiftdesk-sshd-"))
    host_key = folder / "ssh_host_ed25519_key"
    admin_key = folder / "admin_ed25519"
    for key in (host_key, admin_key):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key.name, "-f", str(key)],
            check=True,
        )
    port = _free_port()
    (folder / "sshd_config").write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {folder / 'sshd.pid'}",
                "AuthorizedKeysFile .ssh/authorized_keys",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                # the account's home is made by useradd; tests rewrite files in it as root
                "StrictModes no",
                f"AllowUsers {ACCOUNT}",
                "PermitRootLogin no",
                "UseDNS no",
                "MaxStartups 100:30:200",
                "MaxSessions 64",
                "Subsystem sftp internal-sftp",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    host_pub = Path(f"{host_key}.pub").read_text().split()
    host_key_line = f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}"
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(host_key_line + "\n")

    server = SSHServer(
        folder=folder,
        port=port,
        user=ACCOUNT,
        home=Path(account.pw_dir),
        uid=account.pw_uid,
        gid=account.pw_gid,
        admin_key=admin_key,
        known_hosts=known_hosts,
        host_key_line=host_key_line,
    )
    server.home.mkdir(parents=True, exist_ok=True)
    server.reset()
    server.start()
    return server
