"""The catalog's content store: the files themselves, one folder per observatory.

Layout (the CRDS cache's, so a store folder can serve as ``CRDS_PATH``-like input)::

    <root>/<observatory>/mappings/<name>      .pmap .imap .rmap
    <root>/<observatory>/references/<name>    everything else

``<root>`` is ``SHIFTDESK_CATALOG_DIR`` if set, else ``<data dir>/catalog``. On a hub the
gate service writes it (its own account); user servers only read it, so the gate's
``SHIFTDESK_CATALOG_DIR`` must be a folder every user can read and only the gate can write.

Files are written atomically: copied into a hidden temporary file in the target folder,
hashed while copied, flushed to disk, then renamed into place with :func:`os.replace`, so
a reader never sees half a file and a crash leaves at worst a temporary file (which
:meth:`ContentStore.discard` and the next import's clean-up remove).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shiftdesk.catalog import naming
from shiftdesk.errors import CatalogError
from shiftdesk.storage.database import data_dir

#: environment variable naming the folder holding every observatory's store
ROOT_ENV = "SHIFTDESK_CATALOG_DIR"
_CHUNK = 1 << 20
_TEMP_PREFIX = ".incoming-"


def catalog_root() -> Path:
    """The folder holding each observatory's store (``SHIFTDESK_CATALOG_DIR``, else
    ``<data dir>/catalog``)."""
    configured = os.environ.get(ROOT_ENV, "").strip()
    return Path(configured) if configured else data_dir() / "catalog"


def check_file_name(name: str) -> str:
    """``name`` if it can name a file of the catalog (a plain file name, no folders).

    Raises
    ------
    CatalogError
        It holds a folder separator, starts with a dot or is empty.
    """
    if (
        not isinstance(name, str)
        or not name
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or len(name) > 255
    ):
        raise CatalogError(
            f"{name!r} cannot name a catalog file: give a plain file name (no folders, not "
            "starting with '.', at most 255 characters), e.g. 'roman_wfi_flat_0004.asdf'"
        )
    return name


def sha1_of(path: Path) -> tuple[str, int]:
    """The SHA-1 (hex) and size of the file at ``path``, read in chunks."""
    digest = hashlib.sha1(usedforsecurity=False)
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class Staged:
    """A file copied into the store's folder under a temporary name, not yet in place."""

    name: str
    temp: Path
    final: Path
    sha1sum: str
    size: int


class ContentStore:
    """The files of one observatory's catalog.

    Parameters
    ----------
    folder : path
        The observatory's folder (``<root>/<observatory>``).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"ContentStore({str(self.folder)!r})"

    def path(self, name: str) -> Path:
        """Where file ``name`` is (or would be) kept."""
        check_file_name(name)
        sub = "mappings" if naming.is_mapping(name) else "references"
        return self.folder / sub / name

    def ensure(self) -> None:
        """Make the store's folders (readable by everyone, as user servers read them)."""
        # the writer may run with umask 077 (the hub's services do): the store's own folder
        # and its two subfolders are opened to readers explicitly
        for folder in (self.folder, self.folder / "mappings", self.folder / "references"):
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # a folder someone else made stays theirs
                os.chmod(folder, 0o755)

    # -- writing -----------------------------------------------------------------------
    def stage(self, name: str, *, source: Path | None = None, data: bytes | None = None) -> Staged:
        """Copy ``source`` (or ``data``) beside where ``name`` goes, hashing it on the way.

        Nothing is in place until :meth:`commit`; :meth:`discard` removes the copy.
        """
        final = self.path(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX + name + ".", dir=final.parent)
        # everyone reads the catalog (on a hub, user servers read what the gate wrote);
        # mkstemp's 0600 would keep the file to its writer
        os.fchmod(fd, 0o644)
        temp = Path(temp_name)
        digest = hashlib.sha1(usedforsecurity=False)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                if data is not None:
                    digest.update(data)
                    out.write(data)
                    size = len(data)
                else:
                    assert source is not None
                    with open(source, "rb") as handle:
                        while chunk := handle.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o644)  # user servers read the store
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return Staged(name, temp, final, digest.hexdigest(), size)

    def commit(self, staged: Staged) -> bool:
        """Move a staged file into place; False (and the copy dropped) when the very same
        file is there already.

        Raises
        ------
        CatalogError
            A different file of that name is in the store.
        """
        if staged.final.exists():
            present, _ = sha1_of(staged.final)
            staged.temp.unlink(missing_ok=True)
            if present == staged.sha1sum:
                return False
            raise CatalogError(
                f"the store already holds a different {staged.name} ({staged.final}); "
                "nothing of this import was kept"
            )
        os.replace(staged.temp, staged.final)
        return True

    def restore(self, staged: Staged) -> None:
        """Put a staged file in place over whatever is there (repairs)."""
        os.replace(staged.temp, staged.final)

    def discard(self, staged: Staged) -> None:
        """Forget a staged copy."""
        staged.temp.unlink(missing_ok=True)

    def remove(self, name: str) -> None:
        """Delete file ``name`` from the store (undoing an import that failed)."""
        self.path(name).unlink(missing_ok=True)

    def clean_incoming(self) -> int:
        """Remove temporary files an interrupted import left; how many were removed."""
        removed = 0
        for sub in ("mappings", "references"):
            folder = self.folder / sub
            if not folder.is_dir():
                continue
            for leftover in folder.glob(_TEMP_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
                    removed += 1
        return removed
