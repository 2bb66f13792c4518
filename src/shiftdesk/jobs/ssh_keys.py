"""Per-session SSH keys for the SSH backend, and safe edits of a remote ``authorized_keys``.

The first remote submission of a session makes a fresh ed25519 pair, installs the public
half on the worker account (``from="<submitting host>"`` restricted, no forwarding, with a
marker comment) using the facility's bootstrap key, and uses it from then on. Logout
(:func:`shiftdesk.jobs.ssh.end_session`) or a long idle removes the line from the worker
and deletes the local pair. The private key is written 0600 and never logged.

Every kernel of the user shares the session key (it is kept in the data folder): making
one happens under a file lock (:func:`session_lock`), so a kernel warming the backend at
server start and another submitting at the same moment end up with one key, not two.

``authorized_keys`` is changed under a lock (an atomic ``mkdir`` of a lock folder next
to it, which needs nothing but SFTP on the worker) and replaced atomically (write a
temporary file, then ``posix-rename`` over the old one), keeping every other line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import paramiko  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

MARKER_PREFIX = "shiftdesk-session-"
AUTHORIZED_KEYS = ".ssh/authorized_keys"
LOCK_DIR = ".ssh/shiftdesk-authorized_keys.lock"
#: Seconds to wait for another client's lock on authorized_keys before giving up.
LOCK_WAIT = 15.0
#: A lock older than this was left by a client that died; it is broken.
STALE_LOCK = 120.0
#: What may appear in ``from="..."``: host names, addresses, patterns, CIDR.
_FROM_OK = re.compile(r"^[A-Za-z0-9.:*?,/_%\-\[\]]+$")
#: Options on every session key line: the key can run commands, nothing else.
KEY_OPTIONS = "no-agent-forwarding,no-port-forwarding,no-X11-forwarding,no-pty"


class AuthorizedKeysError(OSError):
    """authorized_keys on the worker could not be changed (lock held, no permission)."""


@dataclass
class SessionKey:
    """A session key pair kept in ``folder`` (``id_ed25519`` + ``session.json``)."""

    folder: Path
    marker: str
    public: str
    host: str
    port: int
    user: str
    created: float
    last_used: float

    @property
    def private_path(self) -> Path:
        """The 0600 private key file."""
        return self.folder / "id_ed25519"

    def pkey(self) -> paramiko.PKey:
        """The private key, for paramiko."""
        return paramiko.Ed25519Key.from_private_key_file(str(self.private_path))

    def matches(self, host: str, port: int, user: str) -> bool:
        """Whether this key was made for this worker account."""
        return (self.host, self.port, self.user) == (host, port, user)

    def idle(self, now: float | None = None) -> float:
        """Seconds since the key was last used."""
        return (now or time.time()) - self.last_used

    def touch(self) -> None:
        """Record a use (for the idle expiry)."""
        self.last_used = time.time()
        self._save()

    def _save(self) -> None:
        state = {k: v for k, v in asdict(self).items() if k != "folder"}
        tmp = self.folder / f".session.json.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.folder / "session.json")


def load_session(folder: Path) -> SessionKey | None:
    """The session key kept in ``folder``, or None if there is none (or it is damaged)."""
    try:
        state = json.loads((folder / "session.json").read_text())
        key = SessionKey(folder=folder, **state)
    except (OSError, ValueError, TypeError):
        return None
    return key if key.private_path.exists() else None


@contextlib.contextmanager
def session_lock(folder: Path) -> Iterator[None]:
    """Hold the lock on the session key kept in ``folder`` (across processes).

    The lock file sits next to the folder (which is deleted with the key) and is the
    user's alone (0600, its parent 0700).
    """
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder.parent / f".{folder.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def create_session(folder: Path, host: str, port: int, user: str) -> SessionKey:
    """Make a fresh ed25519 pair in ``folder`` (private key 0600, created so, never wider)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    path = folder / "id_ed25519"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    now = time.time()
    key = SessionKey(
        folder=folder,
        marker=f"{MARKER_PREFIX}{uuid.uuid4().hex}",
        public=public,
        host=host,
        port=port,
        user=user,
        created=now,
        last_used=now,
    )
    key._save()
    return key


def delete_local(folder: Path) -> None:
    """Remove the local key pair and its state (overwriting the private key first)."""
    private = folder / "id_ed25519"
    with contextlib.suppress(OSError):
        size = private.stat().st_size
        with open(private, "r+b") as handle:
            handle.write(b"\0" * size)
    for name in ("id_ed25519", "session.json"):
        (folder / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def authorized_line(key: SessionKey, from_host: str) -> str:
    """The authorized_keys line for ``key``, usable only from ``from_host``."""
    if not _FROM_OK.match(from_host):
        raise ValueError(
            f'{from_host!r} cannot be used in from="...": give a host name, address or '
            "pattern (letters, digits and . : * ? , / - _ only)"
        )
    return f'from="{from_host}",{KEY_OPTIONS} {key.public} {key.marker}'


@contextlib.contextmanager
def _locked(sftp: paramiko.SFTPClient) -> Iterator[None]:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            sftp.mkdir(LOCK_DIR, 0o700)
            break
        except OSError:
            with contextlib.suppress(OSError):
                age = time.time() - (sftp.stat(LOCK_DIR).st_mtime or 0)
                if age > STALE_LOCK:
                    sftp.rmdir(LOCK_DIR)
                    continue
            if time.monotonic() > deadline:
                raise AuthorizedKeysError(
                    f"~/{LOCK_DIR} on the worker has been held for more than {LOCK_WAIT:g} s "
                    "by another client; try again (remove it if no shiftdesk client is running)"
                ) from None
            time.sleep(0.1)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            sftp.rmdir(LOCK_DIR)


def edit_authorized_keys(
    sftp: paramiko.SFTPClient, change: Callable[[list[str]], list[str]]
) -> None:
    """Rewrite the worker's authorized_keys as ``change(lines)``, locked and atomically."""
    with contextlib.suppress(OSError):
        sftp.mkdir(".ssh", 0o700)
    with _locked(sftp):
        try:
            with sftp.open(AUTHORIZED_KEYS, "r") as handle:
                lines = handle.read().decode("utf-8", errors="surrogateescape").splitlines()
        except FileNotFoundError:
            lines = []
        new = change(lines)
        if new == lines:
            return
        tmp = f".ssh/authorized_keys.shiftdesk-{uuid.uuid4().hex}"
        body = "".join(line + "\n" for line in new).encode("utf-8", errors="surrogateescape")
        try:
            with sftp.open(tmp, "w") as handle:
                handle.chmod(0o600)
                handle.write(body)
            sftp.posix_rename(tmp, AUTHORIZED_KEYS)
        except OSError as exc:
            with contextlib.suppress(OSError):
                sftp.remove(tmp)
            raise AuthorizedKeysError(
                f"could not rewrite ~/{AUTHORIZED_KEYS} on the worker: {exc}"
            ) from exc


def install_key(sftp: paramiko.SFTPClient, line: str, marker: str) -> None:
    """Add ``line`` (replacing any older line with the same marker)."""
    edit_authorized_keys(sftp, lambda lines: [x for x in lines if marker not in x] + [line])


def remove_key(sftp: paramiko.SFTPClient, marker: str) -> None:
    """Drop every line carrying ``marker``; other lines stay as they were."""
    edit_authorized_keys(sftp, lambda lines: [x for x in lines if marker not in x])


def pkey_from_file(path: Path) -> paramiko.PKey:
    """Load a private key file of any type paramiko knows (the bootstrap key)."""
    return paramiko.PKey.from_path(path)
