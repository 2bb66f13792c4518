"""The hub settings file: a small TOML schema, read strictly.

A deployment is described by one TOML file (see ``docs/deployment.md``)::

    [hub]
    ip = "127.0.0.1"
    port = 8000
    state_dir = "/var/lib/shiftdesk-hub"

    [auth]
    type = "ldap"

    [auth.ldap]
    server_address = "ldap.example.org"
    bind_dn_template = ["uid={username},ou=people,dc=example,dc=org"]
    group_map = { "cn=refl-operators,ou=groups,dc=example,dc=org" = "operators-refl" }

    [database]
    url = "postgresql+psycopg://shiftdesk@db.example.org/shiftdesk"

    [dashboards.reflectometry]
    title = "Reflectometry"
    notebook = "reflectometry.ipynb"

Every table and key is known: an unknown one is refused with its name and the file,
so a typo never silently falls back to a default. Relative paths are relative to the
settings file's folder.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shiftdesk.errors import ShiftdeskError

#: the repository's notebooks folder: where the dashboards live in a source checkout
NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"

# JupyterHub refuses other group and user names; checking here gives the error at load time.
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,254}$")
_DASHBOARD_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_TLS = ("on_connect", "before_bind", "insecure")


class HubSettingsError(ShiftdeskError, ValueError):
    """The hub settings file cannot be used as written."""


class HubStartError(ShiftdeskError, RuntimeError):
    """The hub cannot start: something it needs (proxy, database, LDAP server, port) is missing."""


# -- the schema ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubSection:
    """``[hub]``: where the hub listens and keeps its state.

    Parameters
    ----------
    ip, port : str, int
        Public address of the proxy (what users open in their browser).
    hub_port, proxy_api_port : int
        Internal ports of the hub and of the proxy's REST API on 127.0.0.1;
        0 picks free ones at start.
    state_dir : Path
        Folder for the hub's database, cookie secret, generated config, logs and the
        per-user folders. Default: ``hub-state`` next to the settings file.
    admin_users : tuple of str
        Hub administrators; shiftdesk also lets them see every user's objects.
    db_url : str
        JupyterHub's own database (users, servers, tokens). Default: SQLite in ``state_dir``.
    proxy_command : tuple of str
        The configurable-http-proxy command; default: ``.hub-node/`` of the source
        checkout, then ``PATH``.
    log_level : str
        JupyterHub's log level.
    """

    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 0
    proxy_api_port: int = 0
    state_dir: Path = Path("hub-state")
    admin_users: tuple[str, ...] = ()
    db_url: str = ""
    proxy_command: tuple[str, ...] = ()
    log_level: str = "INFO"


@dataclass(frozen=True)
class DemoUser:
    """``[auth.demo.users.<name>]``: a demo login (no OS account is needed).

    Parameters
    ----------
    password : str
        The demo password (printed at start; demos only).
    groups : tuple of str
        Hub groups the user is in, e.g. ``operators-demo``, ``staff``.
    """

    password: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoAuth:
    """``[auth.demo]``: fixed demo logins, only allowed on a loopback address."""

    users: dict[str, DemoUser] = field(default_factory=dict)


@dataclass(frozen=True)
class LdapAuth:
    """``[auth.ldap]``: login against a facility LDAP/AD (ldapauthenticator).

    Parameters
    ----------
    server_address : str
        Host name or IP address of the LDAP server.
    server_port : int
        Its port (636 for LDAPS, 389 with ``tls_strategy = "before_bind"``).
    tls_strategy : str
        ``on_connect`` (LDAPS), ``before_bind`` (StartTLS) or ``insecure``.
    bind_dn_template : tuple of str
        DN templates with ``{username}``, tried in order.
    group_map : dict
        LDAP group DN → hub group name (e.g. ``operators-refl``, ``staff``). Membership
        is looked up at every login; hub groups follow LDAP.
    group_search_filter : str
        Filter that finds the user (``{userdn}``, ``{uid}``) in a group entry.
    allowed_users : tuple of str
        Users allowed in without being in a mapped group.
    allow_all : bool
        Let every LDAP user log in (otherwise only mapped groups and ``allowed_users``).
    connect_timeout : float
        Seconds to wait for the server's TCP port at start.
    """

    server_address: str
    bind_dn_template: tuple[str, ...]
    server_port: int = 636
    tls_strategy: str = "on_connect"
    group_map: dict[str, str] = field(default_factory=dict)
    group_search_filter: str = "(|(member={userdn})(uniqueMember={userdn})(memberUid={uid}))"
    allowed_users: tuple[str, ...] = ()
    allow_all: bool = False
    connect_timeout: float = 5.0


@dataclass(frozen=True)
class AuthSection:
    """``[auth]``: ``type = "demo"`` or ``"ldap"`` and the matching sub-table."""

    type: str = "demo"
    demo: DemoAuth = field(default_factory=DemoAuth)
    ldap: LdapAuth | None = None


@dataclass(frozen=True)
class AccountsSection:
    """``[accounts]``: whose operating-system account each server and service runs as.

    Parameters
    ----------
    mode : str
        ``system`` (default): each user's server, kernels and jobs run as that user's
        own account, shared state lives in PostgreSQL with one role per user, and
        changes to it go through the gate service: a user's own code cannot act as
        anyone else. Needs the hub to run as root. ``shared``: everything runs as the
        hub's own account with no boundary between users (one person trying the
        dashboards; never for several people).
    system_user : str
        The account of hub user ``{username}``; ``"{username}"`` when the facility's
        directory provides the accounts, ``"sd-{username}"`` in the demo.
    create : bool
        Create missing accounts (system accounts without login or home); the demo does.
    service_user : str
        The account of the gate, the DAQ services and the hub's own PostgreSQL.
    """

    mode: str = "system"
    system_user: str = "{username}"
    create: bool = False
    service_user: str = "shiftdesk"

    @property
    def system(self) -> bool:
        """Whether users run under their own accounts."""
        return self.mode == "system"


@dataclass(frozen=True)
class DatabaseSection:
    """``[database]``: the shiftdesk database every user server and service shares.

    Parameters
    ----------
    url : str
        SQLAlchemy URL of the owner of the tables (``postgresql+psycopg://...``), used
        by the hub and its services. Default: with ``accounts.mode = "system"`` the
        hub's own PostgreSQL in ``state_dir/postgres``; otherwise SQLite in ``state_dir``.
    user_url : str
        With ``accounts.mode = "system"`` and a ``url`` of your own: the URL user
        servers connect with, without a user name (e.g.
        ``postgresql+psycopg:///shiftdesk?host=/run/postgresql``); the hub adds each
        user's role, and the server must authenticate it by peer (same machine).
    create : bool
        Create (and migrate) the database at start when it does not exist yet. Off in
        production: a missing database then stops the hub with a clear error instead of
        silently starting on an empty one.
    """

    url: str = ""
    user_url: str = ""
    create: bool = False


@dataclass(frozen=True)
class CullingSection:
    """``[culling]``: stop idle user servers (hub service) and idle kernels (in each server).

    All times are in seconds.
    """

    enabled: bool = True
    server_idle_timeout: int = 3600
    server_interval: int = 300
    kernel_idle_timeout: int = 900
    kernel_interval: int = 60


@dataclass(frozen=True)
class SpawnerSection:
    """``[spawner]``: the per-user servers (local processes on this machine).

    Parameters
    ----------
    notebook_dir : Path
        Folder the dashboards are served from. Default: the checkout's ``notebooks/``.
    start_timeout : int
        Seconds a server may take to start before the spawn counts as failed.
    terminals : bool
        Allow terminals in user servers (off: the demo spawner gives no OS isolation).
    warm_kernels : int
        Kernels each user server keeps started, with the dashboards' libraries loaded,
        for the next dashboard opened (0: none; each costs the memory of a kernel).
    """

    notebook_dir: Path = NOTEBOOKS
    start_timeout: int = 60
    terminals: bool = False
    warm_kernels: int = 1


@dataclass(frozen=True)
class Dashboard:
    """``[dashboards.<key>]``: a Voilà dashboard listed on the start page.

    Parameters
    ----------
    title : str
        Link text.
    notebook : str
        Path of the notebook, relative to ``spawner.notebook_dir``.
    description : str
        One line under the link.
    groups : tuple of str
        Hub groups that see the link; empty: everyone. Listing is a convenience:
        permissions are enforced in the core.
    """

    title: str
    notebook: str
    description: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSlot:
    """``[services.<name>]``: a hub-managed service that runs once for everyone.

    Parameters
    ----------
    enabled : bool
        Run it.
    command : tuple of str
        The program to run; default: the slot's own (``shiftdesk daq poll`` for the DAQ
        poller, ``python -m shiftdesk.jobs.job_worker_service`` for the job workers). The
        hub restarts it when it exits.
    groups : tuple of str
        Groups that may open it in a browser (only for services with a web page).
    notebook : str
        The page it serves (wallboard only), relative to ``spawner.notebook_dir``.
    """

    enabled: bool = False
    command: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    notebook: str = ""


@dataclass(frozen=True)
class ServicesSection:
    """``[services]``: the slots for shared services (filled by the DAQ and jobs parts).

    ``daq_simulator`` runs simulated ECC servers for the ``demo`` experiment
    (:mod:`shiftdesk.hub.daq_demo`); for demos only, never next to real hardware.
    """

    daq_poller: ServiceSlot = field(default_factory=ServiceSlot)
    daq_simulator: ServiceSlot = field(default_factory=ServiceSlot)
    job_workers: ServiceSlot = field(default_factory=ServiceSlot)
    wallboard: ServiceSlot = field(default_factory=ServiceSlot)


@dataclass(frozen=True)
class HubSettings:
    """A whole settings file. Build it with :func:`load_settings` or :func:`demo_settings`.

    Parameters
    ----------
    hub, auth, accounts, database, culling, spawner, services
        The sections of the same names.
    dashboards : dict
        Dashboard key → :class:`Dashboard`.
    source : Path or None
        The file it was read from (for messages).
    """

    hub: HubSection = field(default_factory=HubSection)
    auth: AuthSection = field(default_factory=AuthSection)
    accounts: AccountsSection = field(default_factory=AccountsSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    culling: CullingSection = field(default_factory=CullingSection)
    spawner: SpawnerSection = field(default_factory=SpawnerSection)
    dashboards: dict[str, Dashboard] = field(default_factory=dict)
    services: ServicesSection = field(default_factory=ServicesSection)
    source: Path | None = field(default=None, metadata={"internal": True})

    @property
    def where(self) -> str:
        """The settings file, for messages."""
        return str(self.source) if self.source else "the hub settings"

    @property
    def user_home_template(self) -> str:
        """Each user's home folder, ``{username}`` standing for the hub user."""
        return str(self.hub.state_dir / "users" / "{username}")

    @property
    def embedded_postgres(self) -> bool:
        """Whether the hub runs its own PostgreSQL (per-user accounts, no database.url)."""
        return self.accounts.system and not self.database.url

    def database_url(self) -> str:
        """The URL of the shared database's owner (the hub and its services use it)."""
        if self.database.url:
            return self.database.url
        if self.embedded_postgres:
            from sqlalchemy.engine import URL

            return URL.create(
                "postgresql+psycopg",
                username="shiftdesk",
                database="shiftdesk",
                query={"host": str(self.hub.state_dir / "postgres" / "socket")},
            ).render_as_string(hide_password=False)
        return f"sqlite:///{self.hub.state_dir / 'shiftdesk.sqlite'}"

    def user_database_url(self) -> str:
        """The URL user servers connect with, ``{role}`` standing for their role."""
        if self.database.user_url:
            from sqlalchemy.engine import make_url

            url = make_url(self.database.user_url).set(username="ROLE")
            return url.render_as_string(hide_password=False).replace("ROLE@", "{role}@", 1)
        return self.database_url().replace("shiftdesk@", "{role}@", 1)

    def hub_db_url(self) -> str:
        """JupyterHub's own database URL."""
        return self.hub.db_url or f"sqlite:///{self.hub.state_dir / 'jupyterhub.sqlite'}"

    def user_groups(self) -> dict[str, list[str]]:
        """Demo groups → member names (empty for LDAP: groups come from LDAP at login)."""
        groups: dict[str, list[str]] = {}
        if self.auth.type == "demo":
            for name, user in sorted(self.auth.demo.users.items()):
                for group in user.groups:
                    groups.setdefault(group, []).append(name)
        return groups


# -- reading ---------------------------------------------------------------------------------


def _fail(where: str, key: str, problem: str) -> HubSettingsError:
    return HubSettingsError(f"{where}: {key}: {problem}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, where: str, base: Path) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (tuples, paths, tables)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(value, inner[0], key, where, base)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(where, key, f"must be a table, not {value!r}")
        return _build(tp, value, key, where, base)  # type: ignore[arg-type]
    if origin is tuple:
        (item,) = typing.get_args(tp)[:1]
        if isinstance(value, str):
            value = [value]  # one DN template or one group may be written without a list
        if not isinstance(value, list):
            raise _fail(where, key, f"must be a list of {_type_name(item)}, not {value!r}")
        return tuple(_coerce(v, item, f"{key}[{i}]", where, base) for i, v in enumerate(value))
    if origin is dict:
        _, item = typing.get_args(tp)
        if not isinstance(value, dict):
            raise _fail(where, key, f"must be a table, not {value!r}")
        return {str(k): _coerce(v, item, f"{key}.{k}", where, base) for k, v in value.items()}
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise _fail(where, key, f"must be a path (a non-empty string), not {value!r}")
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base / path).resolve()
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, key, f"must be true or false, not {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, key, f"must be a whole number, not {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(where, key, f"must be a number, not {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(where, key, f"must be a string, not {value!r}")
        return value
    raise TypeError(f"no reader for {tp!r}")  # pragma: no cover - schema bug


def _build(cls: type, table: dict[str, Any], prefix: str, where: str, base: Path) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        name = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        section = f"[{prefix}]" if prefix else "the top level"
        raise HubSettingsError(
            f"{where}: unknown key {name!r} in {section}. Known keys there: "
            f"{', '.join(sorted(fields))}. Fix the spelling or remove it."
        )
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in table:
            values[name] = _coerce(table[name], hints[name], key, where, base)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _fail(where, key, "is required")
    return cls(**values)


def _validate(s: HubSettings) -> None:
    """Checks across keys; raise :class:`HubSettingsError` naming the key."""
    w = s.where
    for key, port in (
        ("hub.port", s.hub.port),
        ("hub.hub_port", s.hub.hub_port),
        ("hub.proxy_api_port", s.hub.proxy_api_port),
    ):
        if not 0 <= port <= 65535 or (key == "hub.port" and port == 0):
            raise _fail(w, key, f"{port} is not a usable TCP port (1-65535)")
    if s.hub.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise _fail(w, "hub.log_level", f"{s.hub.log_level!r} is not a log level")
    for url_key, url in (("hub.db_url", s.hub.db_url), ("database.url", s.database.url)):
        if url and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
            raise _fail(w, url_key, f"{url!r} is not a sqlite:/// or postgresql+psycopg:// URL")
    for name in s.hub.admin_users:
        if not _NAME.match(name):
            raise _fail(w, "hub.admin_users", f"{name!r} is not a valid hub user name")
    _validate_accounts(s)
    if s.auth.type not in ("demo", "ldap"):
        raise _fail(w, "auth.type", f'{s.auth.type!r}: use "demo" or "ldap"')
    if s.auth.type == "demo":
        if not s.auth.demo.users:
            raise _fail(w, "auth.demo.users", "add at least one [auth.demo.users.<name>] table")
        if s.hub.ip not in ("127.0.0.1", "localhost", "::1"):
            raise _fail(
                w,
                "auth.type",
                f"demo logins have fixed passwords, so they only listen on loopback; hub.ip is "
                f'{s.hub.ip!r}. Use type = "ldap" for a real deployment.',
            )
        for name, user in s.auth.demo.users.items():
            if not _NAME.match(name):
                raise _fail(w, f"auth.demo.users.{name}", "is not a valid hub user name")
            if len(user.password) < 4:
                raise _fail(w, f"auth.demo.users.{name}.password", "needs at least 4 characters")
            _check_groups(w, f"auth.demo.users.{name}.groups", user.groups)
    if s.auth.type == "ldap":
        _validate_ldap(w, s.auth.ldap)
    for key, value in (
        ("culling.server_idle_timeout", s.culling.server_idle_timeout),
        ("culling.server_interval", s.culling.server_interval),
        ("culling.kernel_idle_timeout", s.culling.kernel_idle_timeout),
        ("culling.kernel_interval", s.culling.kernel_interval),
        ("spawner.start_timeout", s.spawner.start_timeout),
    ):
        if value <= 0:
            raise _fail(w, key, f"must be a positive number of seconds, not {value}")
    if not 0 <= s.spawner.warm_kernels <= 8:
        raise _fail(w, "spawner.warm_kernels", f"must be 0 to 8, not {s.spawner.warm_kernels}")
    if not s.spawner.notebook_dir.is_dir():
        raise _fail(w, "spawner.notebook_dir", f"{s.spawner.notebook_dir} is not a folder")
    for key, dash in s.dashboards.items():
        if not _DASHBOARD_KEY.match(key):
            raise _fail(w, f"dashboards.{key}", "use lowercase letters, digits, - and _")
        _check_notebook(s, f"dashboards.{key}.notebook", dash.notebook)
        _check_groups(w, f"dashboards.{key}.groups", dash.groups)
    wall = s.services.wallboard
    if wall.enabled:
        _check_notebook(s, "services.wallboard.notebook", wall.notebook)
        if not wall.groups:
            raise _fail(w, "services.wallboard.groups", "name the groups that may open it")
    for key in ("daq_poller", "daq_simulator", "job_workers", "wallboard"):
        _check_groups(w, f"services.{key}.groups", getattr(s.services, key).groups)


def _validate_accounts(s: HubSettings) -> None:
    w, acc = s.where, s.accounts
    if acc.mode not in ("system", "shared"):
        raise _fail(w, "accounts.mode", f'{acc.mode!r}: use "system" or "shared"')
    from shiftdesk.hub.accounts import split_template

    try:
        split_template(acc.system_user)
    except ValueError as exc:
        raise _fail(w, "accounts.system_user", str(exc)) from None
    if not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", acc.service_user):
        raise _fail(w, "accounts.service_user", f"{acc.service_user!r} is not an account name")
    if not acc.system:
        return
    if s.database.url.startswith("sqlite"):
        raise _fail(
            w,
            "database.url",
            'per-user accounts (accounts.mode = "system") need PostgreSQL: SQLite has no '
            "roles to keep users apart. Remove database.url (the hub runs its own) or give "
            "a postgresql+psycopg:// URL",
        )
    if s.database.url and not s.database.user_url:
        raise _fail(
            w,
            "database.user_url",
            "with a database.url of your own, give the URL user servers connect with "
            "(without a user name; peer authentication), e.g. "
            '"postgresql+psycopg:///shiftdesk?host=/run/postgresql"',
        )
    if s.database.user_url and not s.database.user_url.startswith("postgresql"):
        raise _fail(w, "database.user_url", "must be a postgresql+psycopg:// URL")


def _check_groups(where: str, key: str, groups: tuple[str, ...]) -> None:
    for group in groups:
        if not _NAME.match(group):
            raise _fail(where, key, f"{group!r} is not a valid hub group name (a-z, 0-9, .-_@)")


def _check_notebook(s: HubSettings, key: str, notebook: str) -> None:
    if not notebook or notebook.startswith("/") or ".." in Path(notebook).parts:
        raise _fail(s.where, key, f"{notebook!r}: give a path inside spawner.notebook_dir")
    if not (s.spawner.notebook_dir / notebook).is_file():
        raise _fail(s.where, key, f"{notebook!r} does not exist in {s.spawner.notebook_dir}")


def _validate_ldap(where: str, ldap: LdapAuth | None) -> None:
    if ldap is None:
        raise _fail(where, "auth.ldap", 'type = "ldap" needs an [auth.ldap] table')
    if not ldap.server_address.strip() or "/" in ldap.server_address:
        raise _fail(
            where, "auth.ldap.server_address", "give a host name or IP address (no ldap:// URL)"
        )
    if not 0 < ldap.server_port <= 65535:
        raise _fail(where, "auth.ldap.server_port", f"{ldap.server_port} is not a TCP port")
    if ldap.tls_strategy not in _TLS:
        raise _fail(where, "auth.ldap.tls_strategy", f"use one of {', '.join(_TLS)}")
    if not ldap.bind_dn_template:
        raise _fail(where, "auth.ldap.bind_dn_template", "give at least one DN template")
    for template in ldap.bind_dn_template:
        if "{username}" not in template or "=" not in template:
            raise _fail(
                where,
                "auth.ldap.bind_dn_template",
                f"{template!r} must be a DN containing {{username}}, "
                "e.g. uid={username},ou=people,dc=example,dc=org",
            )
    for dn, group in ldap.group_map.items():
        if "=" not in dn:
            raise _fail(where, "auth.ldap.group_map", f"{dn!r} is not an LDAP group DN")
        _check_groups(where, f"auth.ldap.group_map.{dn!r}", (group,))
    if "{userdn}" not in ldap.group_search_filter and "{uid}" not in ldap.group_search_filter:
        raise _fail(
            where, "auth.ldap.group_search_filter", "must use {userdn} or {uid} to find the user"
        )
    if not (ldap.group_map or ldap.allowed_users or ldap.allow_all):
        raise _fail(
            where,
            "auth.ldap",
            "nobody could log in: map some groups (group_map), list allowed_users, "
            "or set allow_all = true",
        )
    if ldap.connect_timeout <= 0:
        raise _fail(where, "auth.ldap.connect_timeout", "must be positive")


def settings_from_dict(table: dict[str, Any], *, source: Path | None = None) -> HubSettings:
    """Build and validate settings from a parsed TOML table.

    Parameters
    ----------
    table : dict
        The parsed file.
    source : Path, optional
        The file it came from; relative paths are relative to its folder.

    Raises
    ------
    HubSettingsError
        Unknown or missing keys, wrong types, invalid values.
    """
    where = str(source) if source else "the hub settings"
    base = source.resolve().parent if source else Path.cwd()
    settings = _build(HubSettings, table, "", where, base)
    settings = dataclasses.replace(settings, source=source)
    if "hub" not in table or "state_dir" not in table.get("hub", {}):
        hub = dataclasses.replace(settings.hub, state_dir=(base / "hub-state").resolve())
        settings = dataclasses.replace(settings, hub=hub)
    _validate(settings)
    return settings


def load_settings(path: str | Path) -> HubSettings:
    """Read a hub settings TOML file.

    Parameters
    ----------
    path : str or Path
        The settings file.

    Returns
    -------
    HubSettings

    Raises
    ------
    HubSettingsError
        The file is missing, is not TOML, or has unknown keys or bad values (the
        message names the key and the file).
    """
    path = Path(path).expanduser().resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HubSettingsError(f"cannot read the hub settings file {path}: {exc.strerror}") from exc
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HubSettingsError(f"{path} is not valid TOML: {exc}") from exc
    return settings_from_dict(table, source=path)


# -- the demo --------------------------------------------------------------------------------

#: demo logins: name → (password, groups). Printed at start and documented.
DEMO_USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "operator": ("operator-demo", ("operators-demo", "staff")),
    # the demo catalog's editors are the hub group catalog-roman
    "alice": ("alice-demo", ("catalog-roman", "staff")),
    "bob": ("bob-demo", ("staff",)),
    "viewer": ("viewer-demo", ()),
}


def demo_toml(port: int, state_dir: Path, *, accounts: bool | None = None) -> str:
    """The demo deployment's settings file text (loopback, demo logins).

    Parameters
    ----------
    port : int
        Public port on 127.0.0.1.
    state_dir : Path
        Where the hub keeps its state.
    accounts : bool, optional
        Run every demo user under their own account (``sd-<name>``, created), with the
        hub's own PostgreSQL and the gate. Default: when running as root, which that
        needs; otherwise everything runs as you, on SQLite, with no boundary.
    """
    import os

    if accounts is None:
        accounts = hasattr(os, "geteuid") and os.geteuid() == 0
    lines = [
        "# shiftdesk hub demo settings (written by `shiftdesk hub --demo`).",
        "# Loopback only: the demo logins below have fixed passwords.",
        "[hub]",
        'ip = "127.0.0.1"',
        f"port = {port}",
        f"state_dir = {json.dumps(str(state_dir))}",  # a JSON string is a TOML basic string
        "",
        "[auth]",
        'type = "demo"',
        "",
    ]
    for name, (password, groups) in DEMO_USERS.items():
        lines += [
            f"[auth.demo.users.{name}]",
            f'password = "{password}"',
            "groups = [" + ", ".join(f'"{g}"' for g in groups) + "]",
            "",
        ]
    if accounts:
        lines += [
            "# every demo user's server, kernels and jobs run as their own account (sd-<name>,",
            "# created); shared state in the hub's own PostgreSQL, changed through the gate",
            "[accounts]",
            'mode = "system"',
            'system_user = "sd-{username}"',
            "create = true",
            "",
        ]
    else:
        lines += [
            "# not root: every demo login runs as this account, with no boundary between them",
            "[accounts]",
            'mode = "shared"',
            "",
        ]
    lines += [
        "[database]",
        "create = true",
        "",
        "[culling]",
        "server_idle_timeout = 3600",
        "kernel_idle_timeout = 900",
        "",
        "[dashboards.reflectometry]",
        'title = "Reflectometry"',
        'notebook = "reflectometry.ipynb"',
        'description = "Load reflectivity data, build layer models and fit them."',
        "",
        "[dashboards.daq]",
        'title = "DAQ shift"',
        'notebook = "daq.ipynb"',
        'description = "Run control of the (simulated) GET electronics and the run sheet; '
        'operators-demo may operate it, everyone else watches."',
        "",
        "[dashboards.runtable]",
        'title = "Run table"',
        'notebook = "runtable.ipynb"',
        'description = "Every run of the demo beamline with variables computed from a context '
        'file: comments, typed values, filters, plots, reprocessing."',
        "",
        "[dashboards.datalab]",
        'title = "Data sessions"',
        'notebook = "datalab.ipynb"',
        'description = "Your FITS frames in sessions: median, stack, subtraction, colour images, '
        'aperture photometry and period searches, with cached results."',
        "",
        "[dashboards.catalog]",
        'title = "Reference files"',
        'notebook = "catalog.ipynb"',
        'description = "The demo Roman reference-file catalog: latest and edit contexts, best '
        'references for a header, bad files, submissions of new reference files."',
        "",
        "# simulated ECC servers for the experiment 'demo', and the poller that refreshes",
        "# their state into the shared database (hub-managed: restarted when they exit)",
        "[services.daq_simulator]",
        "enabled = true",
        "",
        "[services.daq_poller]",
        "enabled = true",
        "",
        "[services.job_workers]",
        "enabled = true",
        "",
    ]
    return "\n".join(lines)
