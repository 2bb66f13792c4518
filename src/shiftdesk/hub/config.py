"""Write a run folder for JupyterHub from :class:`~shiftdesk.hub.settings.HubSettings`.

The run folder holds ``jupyterhub_config.py`` (plain assignments; every value comes from
the settings), ``templates/home.html`` (the start page), ``templates/spawn_pending.html``
(the page shown while a server starts) and nothing else. The start page
is a hub template rather than a hub service: the hub already knows who is logged in and
their groups, so a template needs no extra process, port or OAuth round trip, and it is
the page the hub shows after login anyway (``/hub/home``).
"""

from __future__ import annotations

import json
import os
import pprint
import random
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shiftdesk.daq.routers import ROUTERS_ENV
from shiftdesk.hub.daqnet import ADDRESS as DAQ_ADDRESS
from shiftdesk.hub.settings import HubSettings, HubStartError
from shiftdesk.voila_template import TEMPLATE as VOILA_TEMPLATE
from shiftdesk.voila_template import install as install_voila_template

ROOT = Path(__file__).resolve().parents[3]
#: where scripts/setup.sh installs configurable-http-proxy
LOCAL_PROXY = ROOT / ".hub-node" / "node_modules" / ".bin" / "configurable-http-proxy"
#: JupyterLab extensions a dashboard never uses, which the browser then does not load:
#: jupyterlab-plotly (installed with bumps' plotly) alone is 4.8 MB of JavaScript a page
#: would otherwise parse before drawing anything; ipydatagrid's (when installed) asks for
#: bqplot ~0.5 and warns on every page
UNUSED_LAB_EXTENSIONS = (
    "jupyterlab-plotly",
    "@voila-dashboards/jupyterlab-preview",
    "ipydatagrid",
)
#: Voilà options for every page we serve: shiftdesk's page template (no request to other
#: hosts; a banner at once when the page has lost its kernel), and no unused extensions
VOILA_ARGS = (
    f"--VoilaConfiguration.template={VOILA_TEMPLATE}",
    # one option per item: traitlets deprecates the list syntax for containers
    *(f"--VoilaConfiguration.extension_denylist={name}" for name in UNUSED_LAB_EXTENSIONS),
)


def voila_args() -> tuple[str, ...]:
    """:data:`VOILA_ARGS`, after making sure Voilà finds shiftdesk's page template."""
    install_voila_template()
    return VOILA_ARGS


def voila_config_dir(settings: HubSettings) -> Path:
    """The folder of the ``voila.json`` the user servers read (``JUPYTER_CONFIG_PATH``).

    Voilà inside a Jupyter server (``/voila/render/...``) takes its settings only from
    ``voila.json`` files on the Jupyter config path, never from the server's command line,
    so :data:`VOILA_ARGS` do not reach it; this file carries the same settings.
    """
    return settings.hub.state_dir / "voila-config"


def write_voila_config(folder: Path) -> Path:
    """Write ``folder/voila.json`` (readable by every account) with :data:`VOILA_ARGS`'s
    settings; returns its path."""
    install_voila_template()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    path = folder / "voila.json"
    settings = {
        "VoilaConfiguration": {
            "template": VOILA_TEMPLATE,
            "extension_denylist": list(UNUSED_LAB_EXTENSIONS),
        }
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    tmp.chmod(0o644)
    tmp.replace(path)
    return path


#: the user servers' kernel manager: a warm kernel ready for the next dashboard opened
WARM_KERNEL_MANAGER = "shiftdesk.hub.warm_kernels.WarmKernelManager"
#: environment variable marking every process a hub run starts (see ``run.py``)
RUN_MARKER = "SHIFTDESK_HUB_RUN"
#: set to 1 in user servers when the hub runs the demo DAQ (read by the DAQ dashboard)
SHARED_ENV = "SHIFTDESK_DAQ_HUB_DEMO"
#: kernel messages a shared page needs for widgets: no execute_request from browsers
WIDGET_MESSAGES = [
    "comm_open",
    "comm_close",
    "comm_msg",
    "comm_info_request",
    "kernel_info_request",
    "shutdown_request",
]
#: service slot → (hub service name, default command after the ``shiftdesk`` program);
#: the DAQ and jobs parts provide the programs, an empty default means "give a command"
#: the gate service (per-user accounts): its hub service name and program
GATE_SERVICE = "shiftdesk-gate"
GATE_COMMAND = ("-m", "shiftdesk.hub.gate_service")
SERVICE_SLOTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # the simulator first: it seeds the demo experiment the poller then polls
    "daq_simulator": ("daq-simulator", ("-m", "shiftdesk.hub.daq_demo")),
    "daq_poller": ("daq-poller", ("daq", "poll")),
    "job_workers": ("job-workers", ("-m", "shiftdesk.jobs.job_worker_service")),
}


def service_command(settings: HubSettings, slot: str) -> list[str]:
    """The command of a service slot (settings first, else the slot's default), or ``[]``."""
    configured = getattr(settings.services, slot).command
    if configured:
        return list(configured)
    default = SERVICE_SLOTS[slot][1]
    if default[:1] == ("-m",):  # a module of this package: run by this Python
        return [sys.executable, *default]
    return [_venv_bin("shiftdesk"), *default] if default else []


def shared_daq_environment(settings: HubSettings) -> dict[str, str]:
    """Environment telling DAQ dashboards that the hub runs the demo DAQ (or nothing).

    With the ``daq_simulator`` service on, the dashboards of every user server watch
    the one shared system instead of starting simulated servers of their own.
    """
    return {SHARED_ENV: "1"} if settings.services.daq_simulator.enabled else {}


START_PAGE = """\
{% extends "templates/home.html" %}
{% block main %}
{% set my_groups = user.groups | map(attribute='name') | list %}
<div class="container sd-start">
  <h1 class="h3">shiftdesk</h1>
  <p class="sd-whoami">Signed in as <strong>{{ user.name }}</strong>
  {%- if my_groups %} · groups: <span class="sd-groups">{{ my_groups | join(', ') }}</span>
  {%- else %} · <span class="sd-no-groups">in no group: you can use your own data and fits;
  ask the facility to add you to an operators or staff group for more</span>{% endif %}</p>
  <h2 class="h4">Dashboards</h2>
  <ul class="sd-dashboards list-group mb-4">
  {% for dash in shiftdesk_dashboards %}
    {% if not dash.groups or (dash.groups | select('in', my_groups) | list) %}
    <li class="list-group-item sd-dashboard" data-dashboard="{{ dash.key }}">
      <a class="sd-dashboard-link" href="{{ base_url }}spawn/{{ user.escaped_name }}?next={{
        (user.url ~ 'voila/render/' ~ dash.notebook) | urlencode }}">{{ dash.title }}</a>
      {% if dash.description %}<div class="text-muted small">{{ dash.description }}</div>{% endif %}
    </li>
    {% endif %}
  {% else %}
    <li class="list-group-item">No dashboards are configured.</li>
  {% endfor %}
  {% for svc in shiftdesk_pages %}
    {% if svc.groups | select('in', my_groups) | list %}
    <li class="list-group-item sd-dashboard" data-dashboard="{{ svc.key }}">
      <a class="sd-dashboard-link" href="{{ svc.url }}">{{ svc.title }}</a>
    </li>
    {% endif %}
  {% endfor %}
  </ul>
</div>
{{ super() }}
{% endblock main %}
"""


#: The page shown while a user's server starts: what is happening and how long it takes
SPAWN_PENDING_PAGE = """\
{% extends "templates/spawn_pending.html" %}
{% block message %}
<p class="sd-spawn-message"><strong>Starting your shiftdesk server</strong> (your own Python
sessions for the dashboards). This usually takes 3 to 10 s; <span id="sd-spawn-clock"></span></p>
<p>The dashboard opens by itself when the server is ready.</p>
<script>
  (function () {
    var started = Date.now();
    function tick() {
      var el = document.getElementById("sd-spawn-clock");
      if (el) el.textContent = Math.round((Date.now() - started) / 1000) + " s so far.";
    }
    tick();
    setInterval(tick, 1000);
  })();
</script>
{% endblock message %}
"""


def find_proxy(settings: HubSettings) -> list[str]:
    """The configurable-http-proxy command: settings, then ``.hub-node/``, then ``PATH``.

    Raises
    ------
    HubStartError
        It is not installed.
    """
    if settings.hub.proxy_command:
        program = settings.hub.proxy_command[0]
        if not (Path(program).is_file() or shutil.which(program)):
            raise HubStartError(
                f"hub.proxy_command in {settings.where}: {program!r} is not an installed "
                "program. Give the path of configurable-http-proxy, or remove the key to use "
                "the one scripts/setup.sh installs."
            )
        return list(settings.hub.proxy_command)
    if LOCAL_PROXY.exists():
        return [str(LOCAL_PROXY)]
    found = shutil.which("configurable-http-proxy")
    if found:
        return [found]
    raise HubStartError(
        "configurable-http-proxy (JupyterHub's proxy, a Node program) is not installed. "
        "Run `bash scripts/setup.sh` (it installs it into .hub-node/), or "
        "`npm install -g configurable-http-proxy@5`, or set hub.proxy_command in "
        f"{settings.where}."
    )


def _venv_bin(name: str) -> str:
    """A console script next to this Python (the hub must use the same environment)."""
    path = Path(sys.executable).with_name(name)
    return str(path) if path.exists() else (shutil.which(name) or name)


@dataclass(frozen=True)
class RunFolder:
    """What :func:`write_run_folder` produced.

    Parameters
    ----------
    config : Path
        The generated ``jupyterhub_config.py``.
    run_id : str
        Value of ``SHIFTDESK_HUB_RUN`` in every process of this run.
    hub_port, proxy_api_port : int
        The internal ports chosen.
    proxy_pid_file : Path
        Where the proxy writes its PID.
    gate_port : int
        The gate service's port (0 without per-user accounts).
    """

    config: Path
    run_id: str
    hub_port: int
    proxy_api_port: int
    proxy_pid_file: Path
    gate_port: int = 0


def gate_url(gate_port: int) -> str:
    """Where the gate service listens (loopback)."""
    return f"http://127.0.0.1:{gate_port}"


def job_accounts_environment(settings: HubSettings) -> dict[str, str]:
    """What the job-worker service needs to run each job as its submitter's account."""
    s = settings
    if not s.accounts.system:
        return {}
    return {
        "SHIFTDESK_JOB_ACCOUNTS": s.accounts.system_user,
        "SHIFTDESK_JOB_HOMES": s.user_home_template,
        "SHIFTDESK_JOB_DATABASE": s.user_database_url(),
    }


def catalog_folder(settings: HubSettings) -> Path:
    """Where the hub's reference-file catalogs keep their files (see
    :mod:`shiftdesk.catalog.store`): the gate writes there, every user server reads."""
    return settings.hub.state_dir / "catalog"


def datalab_folder(settings: HubSettings) -> Path:
    """Where the gate keeps the files of shared data sessions (see
    :mod:`shiftdesk.datalab.sharing`): the gate's alone; members fetch through it."""
    return settings.hub.state_dir / "datalab-shared"


def services(
    settings: HubSettings, run_id: str, *, gate_port: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The hub-managed services and the roles they need.

    With per-user accounts the gate service comes first, and every service but the
    job workers (which become each job's submitter) and the idle culler runs as
    ``accounts.service_user``.

    Returns
    -------
    services, roles : list of dict
        Entries for ``c.JupyterHub.services`` and ``c.JupyterHub.load_roles``.
    """
    s = settings
    python = sys.executable
    base_env = {
        RUN_MARKER: run_id,
        "SHIFTDESK_DATABASE_URL": s.database_url(),
        "SHIFTDESK_DATA_DIR": str(s.hub.state_dir / "services"),
        "PYTHONUNBUFFERED": "1",
    }
    as_service: dict[str, Any] = {}
    if s.accounts.system:
        # never root: a service's own files and processes are the service account's
        as_service = {"user": s.accounts.service_user, "cwd": str(s.hub.state_dir / "services")}
    out: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = []
    if s.accounts.system:
        out.append(
            {
                "name": GATE_SERVICE,
                "url": gate_url(gate_port),
                "command": [python, *GATE_COMMAND],
                "environment": dict(
                    base_env,
                    SHIFTDESK_DATA_DIR=str(s.hub.state_dir / "services" / "gate"),
                    # the reference-file catalogs' files: written by the gate, read by all
                    SHIFTDESK_CATALOG_DIR=str(catalog_folder(s)),
                    # shared data sessions' files: sent by their owners, fetched by members
                    SHIFTDESK_DATALAB_SHARED_DIR=str(datalab_folder(s)),
                    **({ROUTERS_ENV: "local"} if s.services.daq_simulator.enabled else {}),
                ),
                **as_service,
            }
        )
        roles.append(
            {
                "name": "shiftdesk-gate",
                "services": [GATE_SERVICE],
                # the admin flags of users (the administrator role follows them)
                # (and their groups, which the database keeps for group:NAME shares)
                "scopes": ["list:users", "read:users:name", "read:users:groups"],
            }
        )
    if s.culling.enabled:
        out.append(
            {
                "name": "idle-culler",
                "command": [
                    python,
                    "-m",
                    "jupyterhub_idle_culler",
                    f"--timeout={s.culling.server_idle_timeout}",
                    f"--cull-every={s.culling.server_interval}",
                ],
                "environment": {RUN_MARKER: run_id},
            }
        )
        roles.append(
            {
                "name": "shiftdesk-idle-culler",
                "services": ["idle-culler"],
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            }
        )
    for slot, (name, _) in SERVICE_SLOTS.items():
        if getattr(s.services, slot).enabled:
            jobs = slot == "job_workers"
            extra = job_accounts_environment(s) if jobs else {}
            if slot == "daq_simulator" and s.accounts.system:
                # the demo's DAQ network: an address only the service account may reach
                extra = {"SHIFTDESK_DAQ_SIM_HOST": DAQ_ADDRESS}
            if slot == "daq_poller" and s.services.daq_simulator.enabled:
                # the simulator's data routers are local folders: the poller checks them
                extra = {ROUTERS_ENV: "local"}
            out.append(
                {
                    "name": name,
                    "command": service_command(s, slot),
                    "environment": dict(base_env, **extra),
                    # the hub restarts a managed service that exits; jobs resume from the DB
                    **({} if jobs else as_service),
                }
            )
            roles.append(
                {
                    "name": f"shiftdesk-{name}",
                    "services": [name],
                    "scopes": ["list:users", "read:users", "read:groups"],
                }
            )
    wall = s.services.wallboard
    if wall.enabled:
        out.append(
            {
                "name": "wallboard",
                "url": f"http://127.0.0.1:{free_port()}",
                "command": [
                    # a service account's passwd home may be /nonexistent, and the hub
                    # sets HOME from it: give the page server its own folder
                    *(
                        ["/usr/bin/env", f"HOME={s.hub.state_dir / 'services' / 'wallboard'}"]
                        if s.accounts.system
                        else []
                    ),
                    _venv_bin("jupyterhub-singleuser"),
                    *(["--allow-root"] if _is_root() else []),
                    f"--ServerApp.root_dir={s.spawner.notebook_dir}",
                    f"--ServerApp.default_url=/voila/render/{wall.notebook}",
                    "--ServerApp.terminals_enabled=False",
                    f"--ServerApp.kernel_manager_class={WARM_KERNEL_MANAGER}",
                    *voila_args(),
                    # a shared page: widgets only, no code from the browser (notes §1.2)
                    f"--MappingKernelManager.allowed_message_types={WIDGET_MESSAGES!r}",
                    f"--MappingKernelManager.cull_idle_timeout={s.culling.kernel_idle_timeout}",
                    f"--MappingKernelManager.cull_interval={s.culling.kernel_interval}",
                ],
                "environment": dict(
                    base_env,
                    **shared_daq_environment(s),
                    HOME=str(s.hub.state_dir / "services" / "wallboard"),
                    JUPYTER_CONFIG_PATH=str(voila_config_dir(s)),
                    SHIFTDESK_WARM_KERNELS=str(s.spawner.warm_kernels),
                    JUPYTERHUB_SINGLEUSER_APP="jupyter_server",
                ),
                "oauth_no_confirm": True,
                **as_service,
            }
        )
        roles.append(
            {
                "name": "shiftdesk-wallboard-viewers",
                "groups": list(wall.groups),
                "scopes": ["access:services!service=wallboard"],
            }
        )
    return out, roles


def _ephemeral_range() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now.

    Chosen at random *below* the kernel's ephemeral range: ports the OS hands out to
    outgoing connections and ``bind(0)`` callers come from that range, so a port taken
    from it could be grabbed by another program between this check and the hub's use.
    """
    ephemeral = _ephemeral_range()
    for _ in range(200):
        port = random.randrange(20000, 32000)
        if port in ephemeral:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def spawner_options(settings: HubSettings, gate_port: int = 0) -> dict[str, Any]:
    """The options of the user servers' spawner (see ``_hubside.shiftdesk_spawner``)."""
    s = settings
    options: dict[str, Any] = {"home_dir_template": s.user_home_template}
    if s.accounts.system:
        options.update(
            account_template=s.accounts.system_user,
            create_accounts=s.accounts.create,
            owner_database_url=s.database_url(),
            user_database_url=s.user_database_url(),
            gate_url=gate_url(gate_port),
        )
    return options


def config_values(
    settings: HubSettings,
    *,
    run_dir: Path,
    run_id: str,
    hub_port: int,
    proxy_api_port: int,
    gate_port: int = 0,
) -> dict[str, Any]:
    """Every ``c.<Class>.<trait>`` the generated config sets, as ``{"Class.trait": value}``.

    Callables (authenticator class, per-user environment, LDAP group hook) are written
    as code by :func:`render_config`; they are absent here.
    """
    s = settings
    state = s.hub.state_dir
    svc, roles = services(s, run_id, gate_port=gate_port)
    dashboards = [
        {
            "key": key,
            "title": d.title,
            "notebook": d.notebook,
            "description": d.description,
            "groups": list(d.groups),
        }
        for key, d in s.dashboards.items()
    ]
    pages = []
    if s.services.wallboard.enabled:
        pages.append(
            {
                "key": "wallboard",
                "title": "Wallboard (shared status page)",
                "url": f"/services/wallboard/voila/render/{s.services.wallboard.notebook}",
                "groups": list(s.services.wallboard.groups),
            }
        )
    singleuser_args = [
        f"--MappingKernelManager.cull_idle_timeout={s.culling.kernel_idle_timeout}",
        f"--MappingKernelManager.cull_interval={s.culling.kernel_interval}",
        "--MappingKernelManager.cull_connected=False",
        f"--ServerApp.terminals_enabled={s.spawner.terminals}",
        f"--ServerApp.kernel_manager_class={WARM_KERNEL_MANAGER}",
        *voila_args(),
    ]
    if _is_root():
        singleuser_args.insert(0, "--allow-root")  # the one-machine spawner runs as the hub's user
    values: dict[str, Any] = {
        "JupyterHub.ip": s.hub.ip,
        "JupyterHub.port": s.hub.port,
        "JupyterHub.hub_ip": "127.0.0.1",
        "JupyterHub.hub_port": hub_port,
        "JupyterHub.db_url": s.hub_db_url(),
        "JupyterHub.cookie_secret_file": str(state / "jupyterhub_cookie_secret"),
        "JupyterHub.pid_file": str(run_dir / "jupyterhub.pid"),
        "JupyterHub.log_level": s.hub.log_level.upper(),
        "JupyterHub.cleanup_servers": True,
        "JupyterHub.cleanup_proxy": True,
        "JupyterHub.default_url": "/hub/home",
        # a start slower than 1 s shows the page that says what is happening and how long
        # it takes (SPAWN_PENDING_PAGE) rather than a blank tab for up to 10 s (a setting
        # of the hub's request handlers, not a trait)
        "JupyterHub.tornado_settings": {"slow_spawn_timeout": 1},
        "JupyterHub.template_paths": [str(run_dir / "templates")],
        "JupyterHub.template_vars": {
            "shiftdesk_dashboards": dashboards,
            "shiftdesk_pages": pages,
        },
        "JupyterHub.load_groups": {g: {"users": u} for g, u in s.user_groups().items()},
        "JupyterHub.services": svc,
        "JupyterHub.load_roles": roles,
        "Authenticator.admin_users": sorted(s.hub.admin_users),
        "ConfigurableHTTPProxy.command": find_proxy(s),
        "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{proxy_api_port}",
        "ConfigurableHTTPProxy.pid_file": str(run_dir / "proxy.pid"),
        "ConfigurableHTTPProxy.should_start": True,
        "Spawner.cmd": [_venv_bin("jupyterhub-singleuser")],
        "Spawner.args": singleuser_args,
        "Spawner.notebook_dir": str(s.spawner.notebook_dir),
        "Spawner.default_url": "/voila/tree",
        "Spawner.start_timeout": s.spawner.start_timeout,
        "Spawner.http_timeout": s.spawner.start_timeout,
        # a user server gets SIGINT first; jupyter-server stops its kernels and exits
        "LocalProcessSpawner.interrupt_timeout": 5,
        "LocalProcessSpawner.term_timeout": 5,
    }
    if s.auth.type == "demo":
        values["Authenticator.allowed_users"] = sorted(s.auth.demo.users)
    else:
        ldap = s.auth.ldap
        assert ldap is not None  # validated
        values.update(
            {
                "JupyterHub.authenticator_class": "ldapauthenticator.LDAPAuthenticator",
                "LDAPAuthenticator.server_address": ldap.server_address,
                "LDAPAuthenticator.server_port": ldap.server_port,
                "LDAPAuthenticator.tls_strategy": ldap.tls_strategy,
                "LDAPAuthenticator.bind_dn_template": list(ldap.bind_dn_template),
                "LDAPAuthenticator.allowed_groups": sorted(ldap.group_map),
                "LDAPAuthenticator.group_search_filter": ldap.group_search_filter,
                "LDAPAuthenticator.allowed_users": sorted(ldap.allowed_users),
                "LDAPAuthenticator.allow_all": ldap.allow_all,
                "Authenticator.manage_groups": True,
            }
        )
        if not ldap.group_map:
            del values["LDAPAuthenticator.allowed_groups"]
            del values["LDAPAuthenticator.group_search_filter"]
    return values


def _py(value: Any) -> str:
    """A Python literal for a config value (every value is a plain str/int/bool/list/dict)."""
    return pprint.pformat(value, width=96, sort_dicts=False)


def render_config(
    settings: HubSettings,
    *,
    run_dir: Path,
    run_id: str,
    hub_port: int,
    proxy_api_port: int,
    gate_port: int = 0,
) -> str:
    """The text of ``jupyterhub_config.py`` for these settings."""
    s = settings
    values = config_values(
        s,
        run_dir=run_dir,
        run_id=run_id,
        hub_port=hub_port,
        proxy_api_port=proxy_api_port,
        gate_port=gate_port,
    )
    lines = [
        f"# Generated by `shiftdesk hub` from {s.where}. Do not edit: change the settings",
        "# file and start again (the file is rewritten at every start).",
        "from shiftdesk.hub import _hubside",
        "",
        "c = get_config()  # noqa: F821 - provided by JupyterHub's config loader",
        "",
    ]
    for key, value in values.items():
        lines.append(f"c.{key} = {_py(value)}")
    lines += [
        "",
        "# per user: own data folder; without per-user accounts also the database and the",
        "# hub groups for shiftdesk's permission checks (with them, the spawner sets the",
        "# user's own database URL and the gate, which asks the hub for groups)",
        "c.Spawner.environment = {",
        f"    {RUN_MARKER!r}: {run_id!r},",
        *(
            ()
            if s.accounts.system
            else (
                f"    'SHIFTDESK_DATABASE_URL': {s.database_url()!r},",
                f"    'SHIFTDESK_ADMINS': {','.join(sorted(s.hub.admin_users))!r},",
            )
        ),
        "    'PYTHONUNBUFFERED': '1',",
        f"    'JUPYTER_CONFIG_PATH': {str(voila_config_dir(s))!r},",
        f"    'SHIFTDESK_WARM_KERNELS': {str(s.spawner.warm_kernels)!r},",
        *(f"    {k!r}: {v!r}," for k, v in shared_daq_environment(s).items()),
        # the dashboards offer "workers"; logs() reads the service's folder (with
        # per-user accounts the workers write into the owner's own data folder instead)
        *(
            (
                "    'SHIFTDESK_JOB_WORKERS': "
                f"{'1' if s.accounts.system else str(s.hub.state_dir / 'services' / 'jobs')!r},",
            )
            if s.services.job_workers.enabled
            else ()
        ),
        f"    **_hubside.user_environment({str(s.hub.state_dir)!r}, "
        f"accounts={s.accounts.system!r}),",
        "}",
    ]
    options = _py(spawner_options(s, gate_port))
    lines.append(f"c.JupyterHub.spawner_class = _hubside.shiftdesk_spawner(**{options})")
    if s.auth.type == "demo":
        passwords = {name: u.password for name, u in s.auth.demo.users.items()}
        lines.append(
            f"c.JupyterHub.authenticator_class = _hubside.demo_authenticator({_py(passwords)})"
        )
    elif s.auth.ldap is not None and s.auth.ldap.group_map:
        hook = f"_hubside.ldap_group_hook({_py(s.auth.ldap.group_map)})"
        lines.append(f"c.Authenticator.post_auth_hook = {hook}")
    return "\n".join(lines) + "\n"


def write_run_folder(
    settings: HubSettings, *, run_id: str, hub_port: int, proxy_api_port: int, gate_port: int = 0
) -> RunFolder:
    """Write ``<state_dir>/run/`` (config and start page) for one start of the hub.

    Parameters
    ----------
    settings : HubSettings
        The deployment.
    run_id : str
        Marker put into the environment of every process the hub starts.
    hub_port, proxy_api_port : int
        Internal ports (already chosen; not 0).

    Returns
    -------
    RunFolder
    """
    state = settings.hub.state_dir
    run_dir = state / "run"
    write_voila_config(voila_config_dir(settings))
    (run_dir / "templates").mkdir(parents=True, exist_ok=True)
    (state / "users").mkdir(parents=True, exist_ok=True)
    (state / "services" / "wallboard").mkdir(parents=True, exist_ok=True)
    text = render_config(
        settings,
        run_dir=run_dir,
        run_id=run_id,
        hub_port=hub_port,
        proxy_api_port=proxy_api_port,
        gate_port=gate_port,
    )
    config = run_dir / "jupyterhub_config.py"
    # write-then-rename: a crash never leaves a half-written config behind
    pages = (
        (run_dir / "templates" / "home.html", START_PAGE),
        (run_dir / "templates" / "spawn_pending.html", SPAWN_PENDING_PAGE),
        (config, text),
    )
    for path, content in pages:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)
    # cookie secret and passwords: for the hub's user only. With per-user accounts
    # the state folder lets them pass (0711) to their own homes below users/, and
    # everything else in it is the hub's or the service account's alone.
    os.chmod(state, 0o711 if settings.accounts.system else 0o700)
    os.chmod(run_dir, 0o700)
    os.chmod(config, 0o600)
    if settings.accounts.system:
        os.chmod(state / "users", 0o711)
        for name in ("jupyterhub.sqlite", "jupyterhub_cookie_secret", "hub-demo.toml"):
            if (state / name).exists():
                os.chmod(state / name, 0o600)
    return RunFolder(
        config=config,
        run_id=run_id,
        hub_port=hub_port,
        proxy_api_port=proxy_api_port,
        proxy_pid_file=run_dir / "proxy.pid",
        gate_port=gate_port,
    )
