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

import grp
import os
import pwd
import re
import shutil
import subprocess
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
    """Create ``path`` (if needed) owned by ``account`` with ``mode``; returns it."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, account.pw_uid, account.pw_gid)
    os.chmod(path, mode)
    return path


def group_of(account: pwd.struct_passwd) -> str:
    """The name of the account's primary group."""
    return grp.getgrgid(account.pw_gid).gr_name


def can_enter(account: pwd.struct_passwd, path: Path) -> bool:
    """Whether ``account`` can pass through folder ``path`` (and every folder above it)."""
    result = subprocess.run(
        ["runuser", "-u", account.pw_name, "--", "test", "-x", str(path)],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    return result.returncode == 0


def readable_by(account: pwd.struct_passwd, path: Path) -> bool:
    """Whether ``account`` can read ``path`` (and traverse every folder above it)."""
    result = subprocess.run(
        ["runuser", "-u", account.pw_name, "--", "test", "-r", str(path)],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    return result.returncode == 0


def seed_numba_cache(home: Path, account: pwd.struct_passwd) -> int:
    """Give a new account the compiled numba kernels the installation already has.

    refl1d and bumps compile their numba kernels once and keep them next to their
    sources (``scripts/setup.sh`` does that, as root). Another account cannot write
    there, so numba ignores that cache and compiles everything again into
    ``~/.cache/numba`` (8 s instead of 2 s for a first import here). Copying the
    installation's files into the account's own ``~/.cache/numba`` (where numba then
    looks) spares that; the copies are the account's, made from files only root could
    write. Nothing is done when the folder exists already.

    Returns
    -------
    int
        Files copied.
    """
    import glob
    import shutil
    import sysconfig

    target = home / ".cache" / "numba"
    if target.exists():
        return 0
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
    for root, dirs, files in os.walk(home / ".cache"):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, account.pw_uid, account.pw_gid)
    return copied
