"""Root working in folders users own: links a user plants there lead nowhere.

The hub (root) makes each user's folders, and the job-worker service (root) writes each
job's log into its owner's data folder. A user owns those folders and may replace any
of them with a symbolic link to a place of root's; these tests plant such links and
check that root refuses them and changes nothing where they point. They run as root
with the ``nobody`` account as the user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests._services import service_missing

from shiftdesk.hub.accounts import open_private_path, private_folder, seed_numba_cache


@pytest.fixture
def nobody() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        service_missing("these tests act as root for another account: run them as root")
    return pwd.getpwnam("nobody")


@pytest.fixture
def home(nobody: pwd.struct_passwd) -> Iterator[Path]:
    """A home of ``nobody`` that ``nobody`` can reach (pytest's own tmp is root's alone),
    and next to it a root-owned folder for links to point at."""
    base = Path(tempfile.mkdtemp(prefix="shiftdesk-accounts-", dir="/tmp"))
    os.chmod(base, 0o711)
    folder = base / "home"
    folder.mkdir()
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    os.chmod(folder, 0o700)
    (base / "roots").mkdir(mode=0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_planted_link_is_never_given_to_the_user(home: Path, nobody: pwd.struct_passwd) -> None:
    roots = home.parent / "roots"
    (home / ".shiftdesk").symlink_to(roots)
    with pytest.raises(OSError, match="is not a folder"):
        private_folder(home / ".shiftdesk", nobody)
    assert os.stat(roots).st_uid == 0 and os.stat(roots).st_mode & 0o777 == 0o755


def test_a_link_anywhere_on_the_way_to_a_job_log_is_refused(
    home: Path, nobody: pwd.struct_passwd
) -> None:
    roots = home.parent / "roots"
    fd = open_private_path(home, (".shiftdesk", "jobs"), nobody)
    os.close(fd)
    jobs = home / ".shiftdesk" / "jobs"
    assert os.stat(jobs).st_uid == nobody.pw_uid and os.stat(jobs).st_mode & 0o777 == 0o700
    jobs.rmdir()
    jobs.symlink_to(roots)
    with pytest.raises(OSError, match="jobs is not a folder"):
        open_private_path(home, (".shiftdesk", "jobs"), nobody)
    os.unlink(jobs)
    (home / ".shiftdesk").rmdir()
    (home / ".shiftdesk").symlink_to(roots)
    with pytest.raises(OSError, match=r"\.shiftdesk is not a folder"):
        open_private_path(home, (".shiftdesk", "jobs"), nobody)
    assert list(roots.iterdir()) == [] and os.stat(roots).st_uid == 0


def test_a_folder_of_someone_else_on_the_way_is_refused(
    home: Path, nobody: pwd.struct_passwd
) -> None:
    (home / ".shiftdesk").mkdir()  # made by root here, as if another account's
    with pytest.raises(OSError, match="does not belong to nobody"):
        open_private_path(home, (".shiftdesk",), nobody)


def test_the_numba_cache_is_copied_by_the_account_itself(
    home: Path, nobody: pwd.struct_passwd
) -> None:
    assert seed_numba_cache(home, nobody)
    compiled = list((home / ".cache" / "numba").glob("*/*.nbc"))
    assert compiled and {p.stat().st_uid for p in compiled} == {nobody.pw_uid}
    assert not seed_numba_cache(home, nobody)  # there already: nothing to do


def test_a_linked_cache_folder_gets_nothing_from_root(
    home: Path, nobody: pwd.struct_passwd
) -> None:
    roots = home.parent / "roots"
    (home / ".cache").symlink_to(roots)
    seed_numba_cache(home, nobody)  # the copy runs as nobody, who may not write there
    assert list(roots.iterdir()) == [] and os.stat(roots).st_uid == 0
