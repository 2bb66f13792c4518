"""Site and user settings: named job backends, read from a TOML file.

The file is ``SHIFTDESK_SETTINGS`` if set, else ``<data dir>/settings.toml``; a missing
file means "no settings" (the ``local`` backend still works). Each named backend is a
table::

    [backends.cluster]
    type = "ssh"                 # "local", "ssh" or "dask"
    host = "analysis.example.org"
    user = "fitter"
    python = "/opt/shiftdesk/bin/python"
    bootstrap_key = "/etc/shiftdesk/admin_ed25519"   # on a hub: leave it out (the gate has it)
    known_hosts = "/etc/shiftdesk/known_hosts"
    env = { NUMBA_CACHE_DIR = "/scratch/fitter/numba" }   # optional, for the worker

    [backends.dask]
    type = "dask"
    address = "tcp://scheduler.example.org:8786"

Unknown keys and wrong value types are refused with the key and the file named, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shiftdesk.errors import ShiftdeskError

#: Option name -> allowed Python types, per backend type (``type`` itself is implied).
BACKEND_OPTIONS: dict[str, dict[str, tuple[type, ...]]] = {
    "local": {"spare": (bool,)},
    "ssh": {
        "host": (str,),
        "port": (int,),
        "user": (str,),
        "python": (str,),
        "bootstrap_key": (str,),
        "known_hosts": (str,),
        "auto_add_host_keys": (bool,),
        "from_host": (str,),
        "session_idle_hours": (int, float),
        "connect_timeout": (int, float),
        "spare": (bool,),
        "env": (dict,),
    },
    "dask": {
        "address": (str,),
        "connect_timeout": (int, float),
    },
}
#: Options a backend type cannot work without.
REQUIRED_OPTIONS: dict[str, tuple[str, ...]] = {
    "local": (),
    # bootstrap_key: optional, as on a hub the gate installs session keys with its own
    "ssh": ("host", "user", "python"),
    "dask": ("address",),
}
TOP_LEVEL_KEYS = ("backends",)


class SettingsError(ShiftdeskError, ValueError):
    """The settings file cannot be used as written."""


@dataclass(frozen=True)
class BackendSettings:
    """One ``[backends.<name>]`` table.

    Parameters
    ----------
    name : str
        The name jobs are submitted to (``backend="name"``).
    type : str
        ``"local"``, ``"ssh"`` or ``"dask"``.
    options : dict
        The other keys of the table, checked against :data:`BACKEND_OPTIONS`.
    source : Path, optional
        The file it was read from (for messages).
    """

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def where(self) -> str:
        """``[backends.<name>] in <file>``, for messages."""
        return f"[backends.{self.name}] in {self.source or 'the settings'}"


@dataclass(frozen=True)
class Settings:
    """Everything read from the settings file."""

    path: Path | None = None
    backends: dict[str, BackendSettings] = field(default_factory=dict)

    def backend(self, name: str) -> BackendSettings | None:
        """The named backend's table, or ``None`` if the file does not define it."""
        return self.backends.get(name)


def settings_path() -> Path:
    """``SHIFTDESK_SETTINGS`` if set, else ``settings.toml`` in the data folder."""
    explicit = os.environ.get("SHIFTDESK_SETTINGS")
    if explicit:
        return Path(explicit).expanduser()
    from shiftdesk.storage import data_dir

    return data_dir() / "settings.toml"


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and check the settings file.

    Parameters
    ----------
    path : str or Path, optional
        Default: :func:`settings_path`. A missing default file gives empty settings; a
        missing file named explicitly (argument or ``SHIFTDESK_SETTINGS``) is an error.

    Raises
    ------
    SettingsError
        Unreadable file, TOML syntax error, unknown key, wrong type or missing option.
    """
    explicit = path is not None or bool(os.environ.get("SHIFTDESK_SETTINGS"))
    file = Path(path).expanduser() if path is not None else settings_path()
    if not file.exists():
        if explicit:
            raise SettingsError(
                f"the settings file {file} does not exist: create it or fix "
                "SHIFTDESK_SETTINGS (unset it to use <data dir>/settings.toml)"
            )
        return Settings(path=None)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read the settings file {file}: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"the settings file {file} is not valid TOML: {exc}") from exc
    return parse_settings(raw, file)


def parse_settings(raw: dict[str, Any], source: Path | None = None) -> Settings:
    """Check a decoded settings document (see :func:`load_settings`)."""
    where = source or "the settings"
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise SettingsError(
                f"unknown key {key!r} in {where}; allowed at the top level: "
                f"{', '.join(TOP_LEVEL_KEYS)}"
            )
    tables = raw.get("backends", {})
    if not isinstance(tables, dict):
        raise SettingsError(f"'backends' in {where} must be a table of [backends.<name>] tables")
    backends: dict[str, BackendSettings] = {}
    for name, table in tables.items():
        backends[name] = _parse_backend(name, table, where)
    return Settings(path=source, backends=backends)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_env(env: object, label: str) -> None:
    """``env`` is a table of environment variable names to string values."""
    assert isinstance(env, dict)  # checked by the caller
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise SettingsError(
                f"env in {label}: {name!r} is not an environment variable name "
                "(letters, digits and _, not starting with a digit)"
            )
        if not isinstance(value, str):
            raise SettingsError(
                f"env.{name} in {label} must be a string (got {type(value).__name__})"
            )


def _parse_backend(name: str, table: Any, where: object) -> BackendSettings:
    label = f"[backends.{name}] in {where}"
    if not isinstance(table, dict):
        raise SettingsError(f"{label} must be a table (got {type(table).__name__})")
    kind = table.get("type")
    if kind not in BACKEND_OPTIONS:
        raise SettingsError(
            f"{label} needs type = one of {', '.join(repr(t) for t in BACKEND_OPTIONS)} "
            f"(got {kind!r})"
        )
    allowed = BACKEND_OPTIONS[kind]
    options: dict[str, Any] = {}
    for key, value in table.items():
        if key == "type":
            continue
        if key not in allowed:
            raise SettingsError(
                f"unknown key {key!r} in {label} (type {kind!r}); allowed: "
                f"{', '.join(sorted(allowed))}"
            )
        types = allowed[key]
        # bool is an int in Python; a port or timeout of `true` is still a mistake
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join(t.__name__ for t in types)
            raise SettingsError(
                f"{key!r} in {label} must be {names} (got {type(value).__name__} {value!r})"
            )
        if key == "env":
            _check_env(value, label)
        options[key] = value
    missing = [key for key in REQUIRED_OPTIONS[kind] if key not in options]
    if missing:
        raise SettingsError(f"{label} is missing {', '.join(repr(k) for k in missing)}")
    source = where if isinstance(where, Path) else None
    return BackendSettings(name=name, type=kind, options=options, source=source)
