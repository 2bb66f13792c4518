"""shiftdesk's Voilà page template, and its installation where Voilà looks for templates.

Voilà finds templates only under ``<jupyter data dir>/voila/templates/<name>``; the
template ships inside this package and :func:`install` copies it there (into the running
Python's prefix, or the user's Jupyter data folder when the prefix is read-only) before a
dashboard server starts. The page is Voilà's "lab" page with two changes a shift needs:
nothing is fetched from other hosts, and a banner shows at once when the page has lost
its kernel (``sd_connection.js``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from importlib import resources
from pathlib import Path

#: The template's name (``--VoilaConfiguration.template``)
TEMPLATE = "shiftdesk"


class TemplateInstallError(RuntimeError):
    """The template could not be written where Voilà looks for it."""


def _source_files() -> dict[str, bytes]:
    folder = resources.files(__name__).joinpath(TEMPLATE)
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file()}


def _candidates() -> list[Path]:
    from jupyter_core.paths import jupyter_data_dir

    return [
        Path(sys.prefix) / "share" / "jupyter" / "voila" / "templates" / TEMPLATE,
        Path(jupyter_data_dir()) / "voila" / "templates" / TEMPLATE,
    ]


def installed(target: Path) -> bool:
    """True when ``target`` holds this version of the template, file for file."""
    try:
        return all((target / name).read_bytes() == data for name, data in _source_files().items())
    except OSError:
        return False


def install() -> Path:
    """Make Voilà find this version of the template; returns the folder it is in.

    Each file is written whole (a temporary file renamed over the old one), so a Voilà
    already serving pages never reads half a template.

    Raises
    ------
    TemplateInstallError
        When neither the Python prefix nor the user's Jupyter data folder is writable.
    """
    files = _source_files()
    problems = []
    for target in _candidates():
        if installed(target):
            return target
        try:
            target.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{name}.")
                try:
                    with os.fdopen(fd, "wb") as out:
                        out.write(data)
                    os.chmod(tmp, 0o644)  # read by every account's Voilà on a hub
                    os.replace(tmp, target / name)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
            target.chmod(0o755)
            return target
        except OSError as exc:
            problems.append(f"{target}: {exc}")
    raise TemplateInstallError(
        "cannot install shiftdesk's Voilà template where Voilà looks for it ("
        + "; ".join(problems)
        + "): make one of these folders writable, or run 'shiftdesk dashboards' once as the "
        "environment's owner"
    )
