"""Hub settings: strict reading, LDAP validation, checks at start, and the generated config
loaded by JupyterHub's own config loader (traitlets) into the real JupyterHub classes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shiftdesk import cli
from shiftdesk.hub import (
    DEMO_USERS,
    HubSettings,
    HubSettingsError,
    HubStartError,
    load_settings,
    preflight,
    render_config,
    write_demo_settings,
)
from shiftdesk.hub.config import RUN_MARKER, config_values

LDAP_TOML = """
[hub]
ip = "0.0.0.0"
port = 8443
state_dir = "state"
admin_users = ["hubadmin"]

[auth]
type = "ldap"

[auth.ldap]
server_address = "127.0.0.1"
server_port = {port}
tls_strategy = "before_bind"
bind_dn_template = ["uid={{username}},ou=people,dc=example,dc=org"]
connect_timeout = 2

[auth.ldap.group_map]
"cn=refl-operators,ou=groups,dc=example,dc=org" = "operators-refl"
"cn=staff,ou=groups,dc=example,dc=org" = "staff"

[accounts]
mode = "{mode}"

[database]
url = "postgresql+psycopg://shiftdesk@127.0.0.1:{db_port}/shiftdesk"
user_url = "postgresql+psycopg:///shiftdesk?host=/run/postgresql"

[dashboards.reflectometry]
title = "Reflectometry"
notebook = "reflectometry.ipynb"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write(tmp_path: Path, text: str, name: str = "hub.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _ldap_settings(tmp_path: Path, port: int | None = None, mode: str = "shared") -> HubSettings:
    text = LDAP_TOML.format(port=port or _free_port(), db_port=_free_port(), mode=mode)
    return load_settings(_write(tmp_path, text))


@pytest.fixture
def demo(tmp_path: Path) -> HubSettings:
    """The demo as a non-root user gets it: one shared account (SQLite, no gate)."""
    path = write_demo_settings(_free_port(), tmp_path / "demo-state", accounts=False)
    return load_settings(path)


# -- reading ---------------------------------------------------------------------------------


def test_demo_settings_have_the_demo_users_and_groups(demo: HubSettings) -> None:
    assert set(demo.auth.demo.users) == {"operator", "alice", "bob", "viewer"}
    assert demo.user_groups() == {
        "catalog-roman": ["alice"],
        "operators-demo": ["operator"],
        "staff": ["alice", "bob", "operator"],
    }
    for name, (password, groups) in DEMO_USERS.items():
        assert demo.auth.demo.users[name].password == password
        assert demo.auth.demo.users[name].groups == groups
    assert demo.hub.ip == "127.0.0.1"
    assert demo.database_url().startswith("sqlite:///")
    assert str(demo.hub.state_dir) in demo.database_url()
    assert "reflectometry" in demo.dashboards


@pytest.mark.parametrize(
    ("snippet", "key"),
    [
        ("[hub]\nprot = 8000\n", "hub.prot"),
        ("[hubb]\nport = 8000\n", "hubb"),
        ('[auth]\ntype = "demo"\n[auth.demo.users.al]\npassword = "abcd"\ngroup = ["x"]\n',
         "auth.demo.users.al.group"),
        ("[culling]\nidle_timeout = 5\n", "culling.idle_timeout"),
        ('[dashboards.refl]\ntitle = "R"\nnotebook = "reflectometry.ipynb"\nrole = "x"\n',
         "dashboards.refl.role"),
    ],
)  # fmt: skip
def test_unknown_keys_are_refused_naming_key_and_file(
    tmp_path: Path, snippet: str, key: str
) -> None:
    path = _write(tmp_path, snippet)
    with pytest.raises(HubSettingsError) as err:
        load_settings(path)
    message = str(err.value)
    assert f"unknown key {key!r}" in message
    assert str(path) in message
    assert "Known keys there" in message


@pytest.mark.parametrize(
    ("snippet", "key", "words"),
    [
        ('[hub]\nport = "8000"\n', "hub.port", "whole number"),
        ("[hub]\nport = 70000\n", "hub.port", "TCP port"),
        ('[database]\nurl = "mysql://x/y"\n', "database.url", "postgresql"),
        ("[culling]\nkernel_idle_timeout = 0\n", "culling.kernel_idle_timeout", "positive"),
        ("[spawner]\nwarm_kernels = -1\n", "spawner.warm_kernels", "0 to 8"),
        ("[spawner]\nwarm_kernels = 50\n", "spawner.warm_kernels", "0 to 8"),
        ('[dashboards.refl]\ntitle = "R"\nnotebook = "nope.ipynb"\n',
         "dashboards.refl.notebook", "does not exist"),
        ('[dashboards.refl]\ntitle = "R"\nnotebook = "../README.md"\n',
         "dashboards.refl.notebook", "inside"),
        ('[dashboards.refl]\nnotebook = "reflectometry.ipynb"\n', "dashboards.refl.title",
         "required"),
        ('[hub]\nip = "0.0.0.0"\n', "auth.type", "loopback"),
        ('[auth]\ntype = "pam"\n', "auth.type", "ldap"),
        ('[services.wallboard]\nenabled = true\nnotebook = "reflectometry.ipynb"\n',
         "services.wallboard.groups", "groups"),
    ],
)  # fmt: skip
def test_bad_values_name_the_key(tmp_path: Path, snippet: str, key: str, words: str) -> None:
    demo_users = '\n[auth.demo.users.alice]\npassword = "alice-demo"\n'
    text = snippet if "[auth]" in snippet else snippet + demo_users
    with pytest.raises(HubSettingsError) as err:
        load_settings(_write(tmp_path, text))
    assert f": {key}:" in str(err.value)
    assert words in str(err.value)


def test_demo_settings_survive_an_odd_state_folder_name(tmp_path: Path) -> None:
    state = tmp_path / 'shift "A" \\ desk'
    settings = load_settings(write_demo_settings(8123, state))
    assert settings.hub.state_dir == state.resolve()
    assert settings.hub.port == 8123


def test_missing_and_broken_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(HubSettingsError, match="cannot read the hub settings file"):
        load_settings(tmp_path / "absent.toml")
    with pytest.raises(HubSettingsError, match="is not valid TOML"):
        load_settings(_write(tmp_path, "[hub\nport = 1\n"))


def test_relative_paths_are_relative_to_the_settings_file(tmp_path: Path) -> None:
    settings = _ldap_settings(tmp_path)
    assert settings.hub.state_dir == (tmp_path / "state").resolve()


# -- LDAP ------------------------------------------------------------------------------------


def test_ldap_settings_are_read(tmp_path: Path) -> None:
    ldap = _ldap_settings(tmp_path, port=1389).auth.ldap
    assert ldap is not None
    assert ldap.server_port == 1389
    assert ldap.bind_dn_template == ("uid={username},ou=people,dc=example,dc=org",)
    assert ldap.group_map["cn=staff,ou=groups,dc=example,dc=org"] == "staff"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (('server_address = "127.0.0.1"', 'server_address = "ldaps://x.org"'),
         "auth.ldap.server_address"),
        (('bind_dn_template = ["uid={{username}},ou=people,dc=example,dc=org"]',
          'bind_dn_template = ["uid=fixed,ou=people"]'), "auth.ldap.bind_dn_template"),
        (('bind_dn_template = ["uid={{username}},ou=people,dc=example,dc=org"]',
          "bind_dn_template = []"), "auth.ldap.bind_dn_template"),
        (('tls_strategy = "before_bind"', 'tls_strategy = "starttls"'), "auth.ldap.tls_strategy"),
        (('"cn=staff,ou=groups,dc=example,dc=org" = "staff"', '"staff" = "staff"'),
         "auth.ldap.group_map"),
        (('"cn=staff,ou=groups,dc=example,dc=org" = "staff"',
          '"cn=staff,ou=groups,dc=example,dc=org" = "Staff Members"'),
         "auth.ldap.group_map"),
        (("connect_timeout = 2", "conect_timeout = 2"), "auth.ldap.conect_timeout"),
        (('server_address = "127.0.0.1"', "server_adress = 1"), "auth.ldap.server_adress"),
    ],
)  # fmt: skip
def test_ldap_settings_are_validated(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    old, new = change
    text = LDAP_TOML.replace(old, new).format(port=1389, db_port=5432, mode="shared")
    assert text != LDAP_TOML.format(port=1389, db_port=5432, mode="shared")
    with pytest.raises(HubSettingsError) as err:
        load_settings(_write(tmp_path, text))
    assert key in str(err.value)


def test_ldap_without_any_way_in_is_refused(tmp_path: Path) -> None:
    text = LDAP_TOML.format(port=1389, db_port=5432, mode="shared")
    text = text[: text.index("[auth.ldap.group_map]")] + text[text.index("[accounts]") :]
    with pytest.raises(HubSettingsError, match="nobody could log in"):
        load_settings(_write(tmp_path, text))


def test_unreachable_ldap_server_fails_at_start_not_at_login(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    settings = _ldap_settings(tmp_path, port=port)
    with pytest.raises(HubStartError) as err:
        preflight(settings)
    message = str(err.value)
    assert f"cannot reach the LDAP server 127.0.0.1:{port}" in message
    assert "auth.ldap.server_address" in message


def test_reachable_ldap_server_passes_and_the_database_is_checked_next(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        settings = _ldap_settings(tmp_path, port=port)
        # the LDAP port answers; nothing listens at the PostgreSQL URL's port, so the
        # next check, the database, is the one that fails
        with pytest.raises(HubStartError) as err:
            preflight(settings)
    assert "shiftdesk database" in str(err.value)
    assert "database.url" in str(err.value)


# -- checks at start -------------------------------------------------------------------------


def test_missing_configured_sqlite_database_fails_at_start(tmp_path: Path) -> None:
    missing = tmp_path / "srv" / "shiftdesk.sqlite"
    path = _write(
        tmp_path,
        f"""
        [hub]
        port = {_free_port()}
        [auth.demo.users.alice]
        password = "alice-demo"
        [accounts]
        mode = "shared"
        [database]
        url = "sqlite:///{missing}"
        """,
    )
    with pytest.raises(HubStartError) as err:
        preflight(load_settings(path))
    assert f"{missing} does not exist" in str(err.value)
    assert "shiftdesk db upgrade" in str(err.value)
    assert not missing.exists()  # nothing half-created


def test_unreachable_postgresql_fails_at_start(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""
        [hub]
        port = {_free_port()}
        [auth.demo.users.alice]
        password = "alice-demo"
        [accounts]
        mode = "shared"
        [database]
        url = "postgresql+psycopg://nobody@127.0.0.1:{_free_port()}/shiftdesk"
        """,
    )
    with pytest.raises(HubStartError, match="Cannot connect to the database"):
        preflight(load_settings(path))


def test_port_in_use_missing_proxy_and_missing_service_fail_at_start(
    tmp_path: Path, demo: HubSettings
) -> None:
    import dataclasses

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = dataclasses.replace(
            demo, hub=dataclasses.replace(demo.hub, port=busy.getsockname()[1])
        )
        with pytest.raises(HubStartError, match="in use"):
            preflight(taken)
    no_proxy = dataclasses.replace(
        demo, hub=dataclasses.replace(demo.hub, proxy_command=(str(tmp_path / "no-chp"),))
    )
    with pytest.raises(HubStartError, match=r"hub\.proxy_command"):
        preflight(no_proxy)
    broken = dataclasses.replace(
        demo.services.daq_poller, enabled=True, command=(sys.executable, "-m", "no_such_mod")
    )
    poller = dataclasses.replace(
        demo, services=dataclasses.replace(demo.services, daq_poller=broken)
    )
    with pytest.raises(HubStartError, match=r"services\.daq_poller .* does not run"):
        preflight(poller)


def test_demo_preflight_creates_the_shared_database(demo: HubSettings) -> None:
    lines = preflight(demo)
    assert any("configurable-http-proxy" in line for line in lines)
    assert (demo.hub.state_dir / "shiftdesk.sqlite").exists()


def test_cli_reports_bad_settings_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "[hub]\nprot = 1\n")
    assert cli.main(["hub", "--settings", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("shiftdesk: ") and "unknown key 'hub.prot'" in err
    assert "Traceback" not in err
    assert cli.main(["hub"]) == 2
    assert cli.main(["hub", "--settings", str(path), "--state-dir", str(tmp_path)]) == 2


# -- the generated config in JupyterHub's own loader -----------------------------------------


def _load_config(text: str, tmp_path: Path) -> Any:
    from traitlets.config.loader import PyFileConfigLoader

    path = tmp_path / "jupyterhub_config.py"
    path.write_text(text)
    return PyFileConfigLoader(path.name, path=str(tmp_path)).load_config()


def _render(settings: HubSettings, tmp_path: Path) -> str:
    return render_config(
        settings, run_dir=tmp_path / "run", run_id="run-1", hub_port=18081, proxy_api_port=18001
    )


def _check_against_classes(config: Any, classes: list[type]) -> None:
    """Every configured trait exists (and is configurable) on its class."""
    by_name = {cls.__name__: cls for cls in classes}
    for section, values in config.items():
        traits = by_name[section].class_traits(config=True)
        unknown = sorted(set(values) - set(traits))
        assert not unknown, f"{section} has no configurable traits {unknown}"


def test_demo_config_loads_into_jupyterhub(demo: HubSettings, tmp_path: Path) -> None:
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import Authenticator
    from jupyterhub.proxy import ConfigurableHTTPProxy
    from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner, Spawner

    config = _load_config(_render(demo, tmp_path), tmp_path)
    _check_against_classes(
        config,
        [
            JupyterHub,
            Spawner,
            LocalProcessSpawner,
            SimpleLocalProcessSpawner,
            Authenticator,
            ConfigurableHTTPProxy,
        ],
    )
    hub = JupyterHub(config=config)  # traitlets validates every value on assignment
    proxy = ConfigurableHTTPProxy(config=config)
    assert proxy.command[0].endswith("configurable-http-proxy")
    assert proxy.api_url == "http://127.0.0.1:18001"
    assert hub.port == demo.hub.port and hub.ip == "127.0.0.1"
    assert hub.default_url == "/hub/home"
    assert set(hub.load_groups) == {"catalog-roman", "operators-demo", "staff"}
    # the demo DAQ: simulated ECC servers and the poller, run once for everyone
    assert [s["name"] for s in hub.services] == [
        "idle-culler",
        "daq-simulator",
        "daq-poller",
        "job-workers",
    ]
    assert hub.services[1]["command"][-2:] == ["-m", "shiftdesk.hub.daq_demo"]
    assert config.Spawner.environment["SHIFTDESK_DAQ_HUB_DEMO"] == "1"
    culler = hub.services[0]["command"]
    assert "--timeout=3600" in culler and "--cull-every=300" in culler

    # the demo authenticator accepts exactly the demo logins
    auth_cls = config.JupyterHub.authenticator_class
    auth = auth_cls(config=config)
    import asyncio

    async def login(name: str, password: str) -> str | None:
        return await auth.authenticate(None, {"username": name, "password": password})

    assert asyncio.run(login("alice", "alice-demo")) == "alice"
    assert asyncio.run(login("alice", "bob-demo")) is None
    assert asyncio.run(login("mallory", "alice-demo")) is None
    assert auth.allowed_users == set(DEMO_USERS)

    spawner_class = config.JupyterHub.spawner_class
    assert issubclass(spawner_class, LocalProcessSpawner)
    spawner = spawner_class(config=config)
    assert spawner.account_template == ""  # everything as the hub's own account
    assert spawner.notebook_dir == str(demo.spawner.notebook_dir)
    assert "--MappingKernelManager.cull_idle_timeout=900" in spawner.args
    assert spawner.home_dir_template.endswith("/users/{username}")
    assert spawner.interrupt_timeout == 5


def test_spawner_environment_gives_the_core_the_hub_identity(
    demo: HubSettings, tmp_path: Path
) -> None:
    """The environment the spawner builds makes current_identity() the hub user + groups."""
    config = _load_config(_render(demo, tmp_path), tmp_path)
    groups = [SimpleNamespace(name="staff"), SimpleNamespace(name="operators-demo")]
    fake_spawner = SimpleNamespace(user=SimpleNamespace(name="operator", groups=groups))
    env = {
        key: value(fake_spawner) if callable(value) else value
        for key, value in config.Spawner.environment.items()
    }
    assert env[RUN_MARKER] == "run-1"
    assert env["SHIFTDESK_DATA_DIR"] == f"{demo.hub.state_dir}/users/operator/.shiftdesk"
    assert env["SHIFTDESK_DATABASE_URL"] == demo.database_url()
    # the demo runs the job-worker service: dashboards offer "workers", logs are read there
    assert env["SHIFTDESK_JOB_WORKERS"] == f"{demo.hub.state_dir}/services/jobs"
    assert env["SHIFTDESK_WARM_KERNELS"] == "1"
    code = (
        "import json; from shiftdesk.identity import current_identity as c; i = c();"
        "print(json.dumps([i.name, sorted(i.groups), i.admin]))"
    )
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTDESK_")}
    child_env.update(env, JUPYTERHUB_USER="operator")  # the hub sets JUPYTERHUB_USER itself
    out = subprocess.run(
        [sys.executable, "-c", code], env=child_env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == ["operator", ["operators-demo", "staff"], False]


# ldap3 2.9.1 still reads pyasn1's old tagMap/typeMap names on import; not ours to fix
@pytest.mark.filterwarnings("ignore:(tagMap|typeMap) is deprecated:DeprecationWarning")
def test_ldap_config_loads_into_ldapauthenticator(tmp_path: Path) -> None:
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import Authenticator
    from jupyterhub.proxy import ConfigurableHTTPProxy
    from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner, Spawner
    from ldapauthenticator import LDAPAuthenticator

    settings = _ldap_settings(tmp_path, port=1389)
    config = _load_config(_render(settings, tmp_path), tmp_path)
    _check_against_classes(
        config,
        [
            JupyterHub,
            Spawner,
            LocalProcessSpawner,
            SimpleLocalProcessSpawner,
            Authenticator,
            LDAPAuthenticator,
            ConfigurableHTTPProxy,
        ],
    )
    hub = JupyterHub(config=config)
    assert hub.authenticator_class is LDAPAuthenticator
    assert hub.ip == "0.0.0.0" and hub.load_groups == {}
    auth = LDAPAuthenticator(config=config)
    assert auth.server_address == "127.0.0.1" and auth.server_port == 1389
    assert auth.bind_dn_template == ["uid={username},ou=people,dc=example,dc=org"]
    assert auth.manage_groups is True
    assert auth.admin_users == {"hubadmin"}
    assert set(auth.allowed_groups) == {
        "cn=refl-operators,ou=groups,dc=example,dc=org",
        "cn=staff,ou=groups,dc=example,dc=org",
    }
    # LDAP group DNs found at login become hub groups (case of the DN does not matter)
    hook = config.Authenticator.post_auth_hook
    found = {"auth_state": {"ldap_groups": ["CN=staff,ou=groups,dc=example,dc=org"]}}
    assert hook(auth, None, {"name": "carol", **found})["groups"] == ["staff"]
    assert hook(auth, None, {"name": "dave", "auth_state": {}})["groups"] == []


def test_config_values_are_plain_literals(demo: HubSettings, tmp_path: Path) -> None:
    values = config_values(demo, run_dir=tmp_path, run_id="r", hub_port=1, proxy_api_port=2)
    json.dumps(values)  # nothing but str/int/bool/list/dict: safe to write as a literal
    assert values["ConfigurableHTTPProxy.pid_file"].endswith("proxy.pid")


# -- per-user accounts -----------------------------------------------------------------------


def test_system_demo_runs_each_user_as_an_account_behind_the_gate(tmp_path: Path) -> None:
    from jupyterhub.app import JupyterHub
    from jupyterhub.spawner import LocalProcessSpawner

    settings = load_settings(write_demo_settings(_free_port(), tmp_path / "s", accounts=True))
    assert settings.accounts.system and settings.embedded_postgres
    assert settings.database_url().startswith("postgresql+psycopg://shiftdesk@/shiftdesk?host=")
    assert settings.user_database_url().startswith("postgresql+psycopg://{role}@/shiftdesk?host=")
    text = render_config(
        settings, run_dir=tmp_path / "run", run_id="r", hub_port=1, proxy_api_port=2, gate_port=19
    )
    config = _load_config(text, tmp_path)
    hub = JupyterHub(config=config)
    services = {s["name"]: s for s in hub.services}
    assert next(iter(services)) == "shiftdesk-gate"
    gate = services["shiftdesk-gate"]
    assert gate["url"] == "http://127.0.0.1:19" and gate["user"] == "shiftdesk"
    assert gate["environment"]["SHIFTDESK_DAQ_ROUTERS"] == "local"
    for name in ("daq-simulator", "daq-poller"):
        assert services[name]["user"] == "shiftdesk"
    # the demo's routers are local folders: the poller checks them (as the gate does)
    assert services["daq-poller"]["environment"]["SHIFTDESK_DAQ_ROUTERS"] == "local"
    # the job workers start as root and become each job's owner
    assert "user" not in services["job-workers"]
    jobs_env = services["job-workers"]["environment"]
    assert jobs_env["SHIFTDESK_JOB_ACCOUNTS"] == "sd-{username}"
    assert jobs_env["SHIFTDESK_JOB_DATABASE"] == settings.user_database_url()
    roles = {r["name"]: r for r in hub.load_roles}
    assert roles["shiftdesk-gate"]["scopes"] == [
        "list:users",
        "read:users:name",
        "read:users:groups",
    ]
    # nothing a server is given names groups, admins or the owner's database
    env = config.Spawner.environment
    for name in ("SHIFTDESK_GROUPS", "SHIFTDESK_ADMINS", "SHIFTDESK_DATABASE_URL"):
        assert name not in env
    assert env["SHIFTDESK_JOB_WORKERS"] == "1"
    spawner_class = config.JupyterHub.spawner_class
    assert issubclass(spawner_class, LocalProcessSpawner)
    assert spawner_class.account_template == "sd-{username}"
    assert spawner_class.create_accounts is True
    assert spawner_class.gate_url == "http://127.0.0.1:19"
    assert spawner_class.home_dir_template == f"{settings.hub.state_dir}/users/{{username}}"


@pytest.mark.parametrize(
    ("database", "key"),
    [
        ('url = "sqlite:////tmp/x.sqlite"', "database.url"),
        ('url = "postgresql+psycopg://shiftdesk@db/shiftdesk"', "database.user_url"),
    ],
)
def test_per_user_accounts_need_postgresql_with_peer_logins(
    tmp_path: Path, database: str, key: str
) -> None:
    path = _write(
        tmp_path,
        f"""
        [hub]
        port = {_free_port()}
        [auth.demo.users.alice]
        password = "alice-demo"
        [database]
        {database}
        """,
    )
    with pytest.raises(HubSettingsError, match=key):
        load_settings(path)


@pytest.mark.parametrize(
    ("template", "problem"),
    [("sd-user", "exactly once"), ("SD-{username}", "a-z"), ("{username}/x", "a-z")],
)
def test_account_templates_are_checked(tmp_path: Path, template: str, problem: str) -> None:
    path = _write(
        tmp_path,
        f"""
        [hub]
        port = {_free_port()}
        [auth.demo.users.alice]
        password = "alice-demo"
        [accounts]
        system_user = "{template}"
        """,
    )
    with pytest.raises(HubSettingsError, match=f"accounts.system_user.*{problem}"):
        load_settings(path)


def test_per_user_accounts_refuse_to_start_without_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shiftdesk.hub import accounts

    settings = load_settings(write_demo_settings(_free_port(), tmp_path / "s", accounts=True))
    monkeypatch.setattr(accounts.os, "geteuid", lambda: 1000)
    monkeypatch.setattr("shiftdesk.hub.boundary.is_root", lambda: False)
    with pytest.raises(HubStartError, match="needs the hub to run as root"):
        preflight(settings)


def test_pg_ident_pattern_maps_accounts_back_to_hub_names() -> None:
    from shiftdesk.hub.accounts import ident_pattern

    assert ident_pattern("sd-{username}") == "/^sd-(.+)$"
    assert ident_pattern("{username}") == "/^(.+)$"
    assert ident_pattern("u.{username}.x") == r"/^u\.(.+)\.x$"
