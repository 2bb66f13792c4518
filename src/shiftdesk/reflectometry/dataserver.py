"""Reduced data from a facility data server, by instrument and run number.

The ORNL reflectivity service read auto-reduced runs from a live data server. Here the
server is any HTTP(S) address given as a URL template, e.g.
``"https://data.example.org/{instrument}/{run}/reduced.txt"`` (``{run:06d}`` works too),
passed in or set in ``SHIFTDESK_DATA_SERVER_URL``.

Before anything is fetched a permission hook decides whether the user may see the run
(``hook(identity, instrument, run) -> bool``). The default hook,
:class:`ExperimentMembership`, reads which runs belong to which experiment and who its
members are from the JSON file named by ``SHIFTDESK_EXPERIMENTS``; with no such file
only administrators may load runs. Every response goes through :func:`load_data`, so a
server error page or a truncated file is refused with the same messages as an upload.

>>> server = DataServer("http://127.0.0.1:8000/{instrument}/{run}/reduced.txt")
>>> server.url_for("REF_L", 1234)
'http://127.0.0.1:8000/REF_L/1234/reduced.txt'
"""

from __future__ import annotations

import json
import os
import re
import string
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shiftdesk.errors import DataError, NotFound, PermissionDenied, ShiftdeskError
from shiftdesk.identity import Identity, current_identity
from shiftdesk.reflectometry.data import MAX_FILE_BYTES, ReflData, load_data

if TYPE_CHECKING:
    from shiftdesk.reflectometry.library import Library

#: Environment variable holding the URL template.
URL_ENV = "SHIFTDESK_DATA_SERVER_URL"
#: Environment variable naming the experiment-membership JSON file of the default hook.
EXPERIMENTS_ENV = "SHIFTDESK_EXPERIMENTS"
#: Seconds to wait for the server to connect and answer.
DEFAULT_TIMEOUT = 10.0
#: Instrument names: letters, digits, ``_`` and ``-`` (they go into a URL path).
INSTRUMENT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$")
#: Largest run number accepted (facility run numbers are well below this).
MAX_RUN = 10**9

PermissionHook = Callable[[Identity, str, int], bool]


class DataServerError(ShiftdeskError):
    """The data server cannot be reached, refuses, or sends something unusable."""


class RunNotFound(DataServerError, NotFound):
    """The data server has no reduced data for this run (HTTP 404)."""


class RunInputError(DataServerError, ValueError):
    """An instrument name or run number as typed cannot be used."""


class DataServerConfigError(DataServerError, ValueError):
    """The URL template or the experiment-membership file is not usable."""


# -- who may load which run -------------------------------------------------------------
@dataclass(frozen=True)
class Experiment:
    """An experiment: a range of runs on one instrument and the people allowed to see them.

    Parameters
    ----------
    name : str
        E.g. ``"IPTS-12345"``. A user in a group of this name is a member too.
    instrument : str
        Instrument name (compared case-insensitively).
    first_run, last_run : int
        Inclusive run-number range.
    members : frozenset of str
        User names.
    groups : frozenset of str
        Groups whose members may see the runs.
    """

    name: str
    instrument: str
    first_run: int
    last_run: int
    members: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)

    def holds(self, instrument: str, run: int) -> bool:
        """Whether ``run`` on ``instrument`` belongs to this experiment."""
        return (
            self.instrument.lower() == instrument.lower() and self.first_run <= run <= self.last_run
        )

    def admits(self, identity: Identity) -> bool:
        """Whether ``identity`` is a member (by name, a listed group, or the experiment's group)."""
        return (
            identity.name in self.members
            or bool(identity.groups & self.groups)
            or self.name in identity.groups
        )


class ExperimentMembership:
    """The default permission hook: experiments with run ranges and members.

    Administrators may load every run; anybody else only runs of an experiment they are
    a member of. Call it as ``hook(identity, instrument, run)``.

    Parameters
    ----------
    experiments : iterable of Experiment
    """

    def __init__(self, experiments: Iterable[Experiment] = ()) -> None:
        self.experiments = list(experiments)

    def experiment_of(self, instrument: str, run: int) -> Experiment | None:
        """The experiment ``run`` belongs to, if any."""
        return next((e for e in self.experiments if e.holds(instrument, run)), None)

    def __call__(self, identity: Identity, instrument: str, run: int) -> bool:
        if identity.admin:
            return True
        experiment = self.experiment_of(instrument, run)
        return experiment is not None and experiment.admits(identity)

    @classmethod
    def from_dict(
        cls, state: Mapping[str, Any], where: str = "experiments"
    ) -> ExperimentMembership:
        """Read the membership layout (what ``SHIFTDESK_EXPERIMENTS`` files hold).

        Examples
        --------
        >>> hook = ExperimentMembership.from_dict({"experiments": [
        ...     {"name": "IPTS-1", "instrument": "REF_L", "runs": [1200, 1299],
        ...      "members": ["alice"], "groups": ["ref_l_staff"]},
        ... ]})
        >>> hook(Identity("alice"), "REF_L", 1234), hook(Identity("bob"), "REF_L", 1234)
        (True, False)

        ``runs`` may also be a single run number; ``groups`` is optional.
        """
        items = state.get("experiments") if isinstance(state, Mapping) else None
        if not isinstance(items, list):
            raise DataServerConfigError(
                f"{where}: expected {{'experiments': [...]}} with one entry per experiment"
            )
        experiments = []
        for number, item in enumerate(items, start=1):
            try:
                runs = item["runs"]
                first, last = (runs, runs) if isinstance(runs, int) else runs
                members = item.get("members", [])
                groups = item.get("groups", [])
                if not all(isinstance(v, str) for v in [*members, *groups]):
                    raise TypeError("members and groups must be lists of names")
                experiments.append(
                    Experiment(
                        name=str(item["name"]),
                        instrument=str(item["instrument"]),
                        first_run=int(first),
                        last_run=int(last),
                        members=frozenset(members),
                        groups=frozenset(groups),
                    )
                )
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise DataServerConfigError(
                    f"{where}: experiment {number} is malformed ({type(exc).__name__}: {exc}); "
                    "each needs name, instrument, runs [first, last] and members"
                ) from None
        return cls(experiments)

    @classmethod
    def from_file(cls, path: str | Path) -> ExperimentMembership:
        """Read a JSON file in the :meth:`from_dict` layout."""
        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataServerConfigError(
                f"cannot read the experiment-membership file {path}: {exc.strerror or exc}"
            ) from exc
        except json.JSONDecodeError as exc:
            raise DataServerConfigError(f"{path} is not valid JSON: {exc}") from exc
        return cls.from_dict(state, where=str(path))

    @classmethod
    def from_env(cls) -> ExperimentMembership:
        """From the file in ``SHIFTDESK_EXPERIMENTS``; no experiments when it is unset."""
        path = os.environ.get(EXPERIMENTS_ENV)
        return cls.from_file(path) if path else cls()


# -- the server --------------------------------------------------------------------------
def check_run(instrument: Any, run: Any) -> tuple[str, int]:
    """Validate an instrument name and a run number as typed by a user."""
    if not isinstance(instrument, str) or not INSTRUMENT_PATTERN.match(instrument.strip()):
        raise RunInputError(
            f"{instrument!r} is not an instrument name: use letters, digits, '_' or '-' "
            "(e.g. REF_L)"
        )
    text = str(run).strip()
    if isinstance(run, bool) or not text.isdigit() or not 0 < int(text) <= MAX_RUN:
        raise RunInputError(f"{run!r} is not a run number: give a positive whole number")
    return instrument.strip(), int(text)


def _check_template(template: str) -> str:
    template = template.strip()
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise DataServerConfigError(f"the data server URL template is malformed: {exc}") from None
    if fields != {"instrument", "run"}:
        raise DataServerConfigError(
            f"the data server URL template must use exactly {{instrument}} and {{run}}, "
            f"not {sorted(fields)}: e.g. http://host/{{instrument}}/{{run}}/reduced.txt"
        )
    scheme = urllib.parse.urlsplit(template).scheme
    if scheme not in ("http", "https"):
        raise DataServerConfigError(
            f"the data server URL must start with http:// or https://, not {scheme or 'nothing'}"
        )
    return template


class DataServer:
    """Loads reduced runs from a facility data server.

    Parameters
    ----------
    url_template : str, optional
        With ``{instrument}`` and ``{run}``; default ``SHIFTDESK_DATA_SERVER_URL``.
    permission : callable, optional
        ``permission(identity, instrument, run) -> bool``; default
        :meth:`ExperimentMembership.from_env`.
    timeout : float
        Seconds to wait for the server.
    max_bytes : int
        Larger responses are refused (reduced R(Q) files are kilobytes).

    Raises
    ------
    DataServerConfigError
        No template configured, or one without both fields or with another scheme.
    """

    def __init__(
        self,
        url_template: str | None = None,
        *,
        permission: PermissionHook | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        template = url_template or os.environ.get(URL_ENV)
        if not template:
            raise DataServerConfigError(
                f"no data server is configured: pass url_template=... or set {URL_ENV} "
                "(e.g. http://host/{instrument}/{run}/reduced.txt)"
            )
        self.url_template = _check_template(template)
        self.permission: PermissionHook = (
            permission if permission is not None else ExperimentMembership.from_env()
        )
        self.timeout = float(timeout)
        self.max_bytes = int(max_bytes)

    def url_for(self, instrument: str, run: int | str) -> str:
        """The address of a run's reduced data."""
        name, number = check_run(instrument, run)
        return self.url_template.format(instrument=urllib.parse.quote(name, safe=""), run=number)

    def check_permission(
        self, instrument: str, run: int | str, identity: Identity | None = None
    ) -> None:
        """Raise :class:`PermissionDenied` unless the user may load this run."""
        name, number = check_run(instrument, run)
        who = identity or current_identity()
        if not self.permission(who, name, number):
            raise PermissionDenied(
                f"{who.name!r} is not a member of the experiment that {name} run {number} "
                "belongs to, so it cannot be loaded; ask the experiment's team to add you"
            )

    def fetch(
        self, instrument: str, run: int | str, identity: Identity | None = None
    ) -> tuple[bytes, str]:
        """Check permission, then download; returns ``(content, file name)``.

        The file name is ``<instrument>_<run>`` with the extension of the server's file.

        Raises
        ------
        PermissionDenied, RunNotFound, DataServerError
        """
        name, number = check_run(instrument, run)
        self.check_permission(name, number, identity)
        url = self.url_for(name, number)
        where = f"{name} run {number} ({url})"
        request = urllib.request.Request(url, headers={"Accept": "text/plain, */*"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                length = response.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > self.max_bytes:
                    raise DataServerError(self._too_big(where, int(length)))
                content = response.read(self.max_bytes + 1)
                content_type = response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response's socket
            if exc.code == 404:
                raise RunNotFound(
                    f"the data server has no reduced data for {name} run {number} "
                    f"(HTTP 404 at {url}); check the run number, or wait for the reduction"
                ) from None
            if exc.code in (401, 403):
                raise DataServerError(
                    f"the data server refused {where} (HTTP {exc.code}); it may need "
                    "credentials shiftdesk does not have"
                ) from None
            raise DataServerError(
                f"the data server answered HTTP {exc.code} ({exc.reason}) for {where}; "
                "try again later"
            ) from None
        except TimeoutError:
            raise DataServerError(
                f"the data server did not answer within {self.timeout:g} s for {where}"
            ) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise DataServerError(
                    f"the data server did not answer within {self.timeout:g} s for {where}"
                ) from None
            raise DataServerError(
                f"cannot reach the data server for {where}: {exc.reason}"
            ) from None
        except OSError as exc:  # connection reset mid-body, ...
            raise DataServerError(f"reading {where} failed: {exc}") from None
        if len(content) > self.max_bytes:
            raise DataServerError(self._too_big(where, len(content)))
        head = content[:512].lstrip().lower()
        if content_type == "text/html" or head.startswith((b"<!doctype html", b"<html")):
            raise DataServerError(
                f"the data server sent a web page, not reduced data, for {where}; check "
                f"the URL template ({self.url_template})"
            )
        # keep the server's extension (.ort selects the ORSO reader), name it after the run
        suffix = Path(urllib.parse.urlsplit(url).path).suffix or ".txt"
        return content, f"{name}_{number}{suffix}"

    def _too_big(self, where: str, size: int) -> str:
        return (
            f"{where} is {size / 1e6:.1f} MB or more; responses over {self.max_bytes} bytes "
            "are refused (a reduced R(Q) file is a few kB): check the URL template"
        )

    def load(
        self,
        instrument: str,
        run: int | str,
        identity: Identity | None = None,
        **load_options: Any,
    ) -> ReflData:
        """Fetch a run and parse it with :func:`load_data` (named ``<instrument>_<run>``).

        ``load_options`` go to :func:`load_data` (``sort``, ``drop_invalid``, ...).

        Raises
        ------
        PermissionDenied, RunNotFound, DataServerError, DataError
        """
        name, number = check_run(instrument, run)
        content, filename = self.fetch(name, number, identity)
        try:
            return load_data(content, filename=filename, **load_options)
        except DataError as exc:
            raise DataError(f"{name} run {number} from the data server: {exc}") from None

    def add_to_library(
        self, instrument: str, run: int | str, library: Library | None = None, **load_options: Any
    ) -> tuple[int, ReflData]:
        """Load a run (as the library's user) and keep it in "my data"; returns ``(id, data)``."""
        from shiftdesk.reflectometry.library import Library

        lib = library or Library()
        name, number = check_run(instrument, run)
        content, filename = self.fetch(name, number, lib.identity)
        try:
            data_id, data = lib.add_data(content, filename, **load_options)
        except DataError as exc:
            raise DataError(f"{name} run {number} from the data server: {exc}") from None
        return data_id, data

    def __repr__(self) -> str:
        return f"<DataServer {self.url_template}>"


def load_run(
    instrument: str,
    run: int | str,
    *,
    url_template: str | None = None,
    identity: Identity | None = None,
    permission: PermissionHook | None = None,
    **load_options: Any,
) -> ReflData:
    """Load a reduced run from the data server (see :class:`DataServer`).

    Examples
    --------
    >>> data = load_run("REF_L", 1234)  # doctest: +SKIP
    """
    server = DataServer(url_template, permission=permission)
    return server.load(instrument, run, identity, **load_options)
