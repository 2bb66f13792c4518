"""Operating-system accounts of a hub with per-user accounts.

Each hub user's server, kernels and jobs run as that user's own account (the name the
settings' ``accounts.system_user`` template gives, ``sd-alice`` in the demo), so the
kernel keeps them out of each other's files and processes and the database knows who
connects (peer authentication). The gate, the DAQ services and the hub's own PostgreSQL
run as the service account (``accounts.service_user``). The demo creates the accounts
it needs; a facility's accounts usually come from its directory (LDAP via sssd) and
must exist already.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path

from shiftdesk.hub.settings import HubStartError

#: what a ``system_user`` template may hold around ``{username}``
_AFFIX = re.compile(r"^[a-z0-9._-]*$")
#: useradd's limit on account names
MAX_NAME = 32


def split_template(template: str) -> tuple[str, str]:
    """The fixed text before and after ``{username}`` in a ``system_user`` template.

    Raises
    ------
    ValueError
        The template has no ``{username}`` or other characters than a-z 0-9 . _ -.
    """
    if template.count("{username}") != 1:
        raise ValueError(f"{template!r} must contain {{username}} exactly once")
    prefix, suffix = template.split("{username}")
    if not _AFFIX.match(prefix) or not _AFFIX.match(suffix):
        raise ValueError(f"{template!r}: around {{username}} use only a-z, 0-9, '.', '_', '-'")
    return prefix, suffix


def account_name(template: str, username: str) -> str:
    """The account of hub user ``username``."""
    return template.format(username=username)


def ident_pattern(template: str) -> str:
    """The pg_ident.conf regular expression mapping accounts back to hub names."""
    prefix, suffix = split_template(template)
    return (
        "/^" + re.sub(r"([.])", r"\\\1", prefix) + "(.+)" + re.sub(r"([.])", r"\\\1", suffix) + "$"
    )


def is_root() -> bool:
    """Whether this process may switch to other accounts."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lookup(name: str) -> pwd.struct_passwd | None:
    """The account ``name``, or ``None``."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def ensure_account(name: str, *, create: bool, what: str) -> pwd.struct_passwd:
    """The account ``name``; created (a system account without login) when allowed.

    Raises
    ------
    HubStartError
        It does not exist and may not be created, or creating it failed.
    """
    found = lookup(name)
    if found is not None:
        return found
    if len(name) > MAX_NAME:
        raise HubStartError(
            f"the account name {name!r} ({what}) is longer than {MAX_NAME} characters; "
            "shorten the user name or accounts.system_user"
        )
    if not create:
        raise HubStartError(
            f"the account {name!r} ({what}) does not exist on this machine. Create it (or "
            "let the facility directory provide it), or set accounts.create = true"
        )
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", "--user-group", name],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    found = lookup(name)
    if found is None:
        raise HubStartError(
            f"cannot create the account {name!r} ({what}): "
            f"{(result.stderr or result.stdout).strip() or 'useradd failed'}"
        )
    return found


def private_folder(path: Path, account: pwd.struct_passwd, mode: int = 0o700) -> Path:
    """Create ``path`` (if needed) owned by ``account`` with ``mode``; returns it.

    Root runs this in folders users own (their home): ``path`` itself is never
    followed if it is a symbolic link (a user's link to ``/etc`` would otherwise be
    handed to them), and the folders above it must be the hub's or that account's own.

    Raises
    ------
    OSError
        ``path`` is a link or not a folder.
    """
    path.mkdir(parents=True, exist_ok=True)
    fd = _open_folder(str(path), path)
    try:
        os.fchown(fd, account.pw_uid, account.pw_gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return path


def _open_folder(name: str, shown: Path, parent: int | None = None) -> int:
    """A descriptor of folder ``name`` (in ``parent``), refusing links and non-folders."""
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OSError(exc.errno, f"{shown} is not a folder (a link or a file)") from None
        raise


def open_private_path(home: Path, parts: tuple[str, ...], account: pwd.struct_passwd) -> int:
    """A descriptor of the folder ``home/<parts...>``, for root to write into safely.

    Each part is made (0700, the account's) when missing, and opened without following
    links, one below the other, and must belong to ``account``: a user who puts a link
    anywhere on the way gets an error, not root writing where the link points.
    """
    fd = _open_folder(str(home), home)
    try:
        where = home
        for part in parts:
            where = where / part
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o700, dir_fd=fd)
                os.chown(part, account.pw_uid, account.pw_gid, dir_fd=fd, follow_symlinks=False)
            inner = _open_folder(part, where, fd)
            os.close(fd)
            fd = inner
            if os.fstat(fd).st_uid != account.pw_uid:
                raise OSError(errno.EPERM, f"{where} does not belong to {account.pw_name}")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _account_may(account: pwd.struct_passwd, test: str, path: Path) -> bool:
    """``test(1)`` run as ``account`` (the kernel's own answer, with every folder above)."""
    result = subprocess.run(
        ["runuser", "-u", account.pw_name, "--", "test", test, str(path)],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    return result.returncode == 0


def can_enter(account: pwd.struct_passwd, path: Path) -> bool:
    """Whether ``account`` can pass through folder ``path`` (and every folder above it)."""
    return _account_may(account, "-x", path)


def readable_by(account: pwd.struct_passwd, path: Path) -> bool:
    """Whether ``account`` can read ``path`` (and traverse every folder above it)."""
    return _account_may(account, "-r", path)


def seed_numba_cache(home: Path, account: pwd.struct_passwd) -> bool:
    """Give a new account the compiled numba kernels the installation already has.

    refl1d and bumps compile their numba kernels once and keep them next to their
    sources (``scripts/setup.sh`` does that, as root). Another account cannot write
    there, so numba ignores that cache and compiles everything again into
    ``~/.cache/numba`` (8 s instead of 2 s for a first import here). The installation's
    files are copied into the account's own ``~/.cache/numba`` (where numba then looks)
    by a process running *as the account*: the folder is the user's, so root never
    writes into it. Nothing is done when it exists already.

    Returns
    -------
    bool
        Whether a copy ran.
    """
    if os.path.lexists(home / ".cache" / "numba"):
        return False
    subprocess.run(
        [sys.executable, "-c", "from shiftdesk.hub.accounts import copy_numba_cache as c; c()"],
        env={"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=str(home), user=account.pw_uid, group=account.pw_gid, extra_groups=[],
        umask=0o077, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    return True


def copy_numba_cache(home: Path | None = None) -> int:
    """Copy the installation's compiled numba files into ``home/.cache/numba`` (run as
    the account that owns ``home``; see :func:`seed_numba_cache`). Returns files copied."""
    import glob
    import shutil
    import sysconfig

    target = (home or Path.home()) / ".cache" / "numba"
    try:
        from numba.core.caching import _CacheLocator
    except ImportError:  # no numba: nothing compiled to share
        return 0
    copied = 0
    site = sysconfig.get_paths()["purelib"]
    for cached in glob.glob(f"{site}/**/__pycache__/*.nb[ic]", recursive=True):
        pycache = os.path.dirname(cached)
        source = os.path.join(
            os.path.dirname(pycache), os.path.basename(cached).split(".")[0] + ".py"
        )
        if not os.path.exists(source):
            continue
        folder = target / _CacheLocator.get_suitable_cache_subpath(source)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(cached, folder)
        copied += 1
    return copied
