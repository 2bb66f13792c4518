"""The hub's trust boundary, attacked from a user's own kernel.

One hub per module, from a settings file like the demo's (per-user accounts, the hub's
own PostgreSQL, the gate, simulated ECC servers, the job-worker service) with one more
login, ``chief``, a hub administrator. Each attacker is a real user: logged in over
HTTP, with their own server, running code in their own kernel through the server's
Jupyter API, exactly as they could from a notebook. Every attack must be refused with a
clear message, change nothing, and show in the audit trail (or, for what the operating
system or PostgreSQL refuse before shiftdesk sees anything, in their own logs).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.e2e._hubuser import HubUser, Kernel
from tests.e2e.test_hub import (
    RunningHub,
    _cmdline,
    _descendants,
    _environ,
    _free_port,
    _require_proxy,
    _running_hub,
    _uid,
    state_folder,
)

from shiftdesk.hub import demo_toml, load_settings
from shiftdesk.storage import Database

PASSWORDS = {
    "operator": "operator-demo",
    "alice": "alice-demo",
    "bob": "bob-demo",
    "viewer": "viewer-demo",
    "chief": "chief-demo",
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """The demo deployment plus an administrator, with per-user accounts."""
    if os.geteuid() != 0:
        from tests._services import service_missing

        service_missing("the trust-boundary tests run users under their own accounts: run as root")
    _require_proxy()
    tmp = tmp_path_factory.mktemp("boundary")
    port, state = _free_port(), state_folder("boundary")
    state.mkdir(parents=True)
    settings = state / "hub.toml"
    body = demo_toml(port, state, accounts=True)
    body = body.replace("[hub]\n", '[hub]\nadmin_users = ["chief"]\n', 1)
    body += '\n[auth.demo.users.chief]\npassword = "chief-demo"\ngroups = ["staff"]\n'
    settings.write_text(body)
    settings.chmod(0o600)  # demo passwords, like the demo's own settings file
    with _running_hub(tmp, [f"--settings={settings}"], port, state) as running:
        deadline = time.monotonic() + 60
        while "daq-simulator: experiment 'demo'" not in running.log.read_text(errors="replace"):
            assert time.monotonic() < deadline, running.log.read_text()[-4000:]
            time.sleep(0.3)
        running.settings = load_settings(settings)  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def users(hub: RunningHub) -> Iterator[dict[str, HubUser]]:
    """Every login, logged in, with a server of their own."""
    logged = {name: HubUser(hub.url, name, pw).login() for name, pw in PASSWORDS.items()}
    for user in logged.values():
        user.start_server()
    yield logged


@pytest.fixture(scope="module")
def owner(hub: RunningHub) -> Iterator[Database]:
    """The database as its owner (this test runs as root: peer-mapped to the owner role)."""
    db = Database(hub.settings.database_url(), migrate=False)  # type: ignore[attr-defined]
    yield db
    db.dispose()


@pytest.fixture
def kernels(users: dict[str, HubUser]) -> Iterator[dict[str, Kernel]]:
    """A fresh kernel per user for one test (made on first use)."""
    made: dict[str, Kernel] = {}

    class Lazy(dict[str, Kernel]):
        def __missing__(self, name: str) -> Kernel:
            made[name] = self[name] = users[name].kernel()
            return made[name]

    yield Lazy()
    for kernel in made.values():
        kernel.close()


def _audit(owner: Database, actor: str, since: int) -> list[tuple[str, str, str, str]]:
    with owner.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT action, target, outcome, via FROM audit_log "
                "WHERE actor = :a AND id > :s ORDER BY id"
            ),
            {"a": actor, "s": since},
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _last_audit_id(owner: Database) -> int:
    with owner.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar() or 0)


def _count(owner: Database, sql: str) -> int:
    with owner.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


# -- identity ---------------------------------------------------------------------------------

ENV_ATTACKS = {
    "JUPYTERHUB_USER": "alice",
    "SHIFTDESK_GROUPS": "operators-demo",
    "SHIFTDESK_ADMINS": "viewer",
}


@pytest.mark.e2e
@pytest.mark.parametrize("variable", list(ENV_ATTACKS))
def test_identity_claimed_in_the_environment_is_refused(
    variable: str, kernels: dict[str, Kernel], owner: Database
) -> None:
    since = _last_audit_id(owner)
    runs = _count(owner, "SELECT count(*) FROM daq_runs")
    value = ENV_ATTACKS[variable]
    out = (
        kernels["viewer"]
        .run(
            f"import os\nos.environ[{variable!r}] = {value!r}\n"
            "from shiftdesk.daq import DAQSystem\n"
            "from shiftdesk.reflectometry.library import Library\n"
            "for attempt in (lambda: DAQSystem().start('by viewer', 'Testing'),\n"
            "                lambda: DAQSystem().runsheet.update(0, title='x'),\n"
            "                lambda: Library().list_models()):\n"
            "    try:\n"
            "        attempt()\n"
            "        print('DONE')\n"
            "    except Exception as exc:\n"
            "        print('REFUSED', type(exc).__name__, exc)\n"
        )
        .ok()
    )
    assert "DONE" not in out, out
    assert out.count("REFUSED IdentityRefused") == 3, out
    assert f"{variable}={value!r} claims otherwise" in out
    assert "this server belongs to 'viewer' (as the hub says)" in out
    assert _count(owner, "SELECT count(*) FROM daq_runs") == runs
    entries = _audit(owner, "viewer", since)
    assert [e[0] for e in entries].count("identity") == 3, entries
    assert all(e[2] == "refused" for e in entries)


@pytest.mark.e2e
def test_an_object_claiming_operator_rights_is_refused_by_the_gate(
    kernels: dict[str, Kernel], owner: Database
) -> None:
    """Bypassing current_identity() (a system built with a made-up identity) gains
    nothing: the gate acts for the token's owner, with the hub's groups."""
    since = _last_audit_id(owner)
    state = _count(owner, "SELECT count(*) FROM daq_commands")
    out = (
        kernels["viewer"]
        .run(
            "from shiftdesk.daq import DAQSystem\n"
            "from shiftdesk.identity import Identity\n"
            "fake = Identity('operator', frozenset({'operators-demo'}), admin=True)\n"
            "daq = DAQSystem(identity=fake)\n"
            "for name, call in (('describe', daq.describe),\n"
            "                   ('runsheet', lambda: daq.runsheet.add_observable('x', 'float')),\n"
            "                   ('run number', lambda: daq.set_next_run_number(99))):\n"
            "    try:\n"
            "        call()\n"
            "        print('DONE', name)\n"
            "    except Exception as exc:\n"
            "        print('REFUSED', name, type(exc).__name__, exc)\n"
        )
        .ok()
    )
    assert "DONE" not in out, out
    assert "REFUSED describe PermissionDenied 'viewer' may not send Describe" in out, out
    assert "REFUSED runsheet PermissionDenied 'viewer' may not edit the run sheet" in out
    assert "REFUSED run number PermissionDenied 'viewer' may not set the run number" in out
    assert _count(owner, "SELECT count(*) FROM daq_commands") == state
    refused = [(a, o, v) for a, _, o, v in _audit(owner, "viewer", since)]
    assert refused == [
        ("daq.command", "refused", "gate"),
        ("daq.runsheet.add_observable", "refused", "gate"),
        ("daq.set_next_run_number", "refused", "gate"),
    ]


# -- other users' rows ------------------------------------------------------------------------


@pytest.mark.e2e
def test_other_users_data_models_and_jobs_cannot_be_seen_or_changed(
    kernels: dict[str, Kernel], owner: Database
) -> None:
    seed = (
        "from shiftdesk.reflectometry.demo import seed\n"
        "from shiftdesk.reflectometry.library import Library\n"
        "print(seed(Library()))\n"
    )
    kernels["alice"].run(seed).ok()
    kernels["bob"].run(seed).ok()
    job = (
        kernels["alice"]
        .run(
            "from shiftdesk.jobs import submit_job\n"
            "job = submit_job('test.sleep', {'steps': 600, 'delay': 0.1}, title='alice sleeps')\n"
            "print(job.id)\n"
        )
        .ok()
        .strip()
    )
    with owner.engine.connect() as conn:
        model = conn.execute(text("SELECT id FROM saved_models WHERE owner = 'alice'")).scalar()
        data = conn.execute(text("SELECT id FROM data_files WHERE owner = 'alice'")).scalar()
    since = _last_audit_id(owner)
    out = (
        kernels["bob"]
        .run(
            "from sqlalchemy import text\n"
            "from shiftdesk.identity import Identity\n"
            "from shiftdesk.jobs import Job, list_jobs\n"
            "from shiftdesk.reflectometry.library import Library\n"
            "from shiftdesk.storage import get_database\n"
            "mine = Library()\n"
            "as_alice = Library(identity=Identity('alice'))\n"
            "print('MODELS', [m.owner for m in mine.list_models()], as_alice.list_models())\n"
            f"for name, call in (('model', lambda: mine.open_model({model})),\n"
            f"                   ('data', lambda: as_alice.open_data({data})),\n"
            f"                   ('delete', lambda: as_alice.delete_model({model})),\n"
            f"                   ('job', lambda: Job({job!r}).cancel())):\n"
            "    try:\n"
            "        call()\n"
            "        print('DONE', name)\n"
            "    except Exception as exc:\n"
            "        print('REFUSED', name, type(exc).__name__, exc)\n"
            "print('JOBS', [j.owner for j in list_jobs()])\n"
            "with get_database().engine.connect() as conn:\n"
            "    print('ROWS', conn.execute(text(\"SELECT count(*) FROM saved_models WHERE owner = 'alice'\")).scalar())\n"  # noqa: E501
            f"    print('CANCEL', conn.execute(text(\"UPDATE jobs SET cancel_requested = true WHERE id = '{job}'\")).rowcount)\n"  # noqa: E501
            "    conn.commit()\n"
            "    try:\n"
            "        conn.execute(text(\"INSERT INTO saved_models (owner, domain, title, notes, model_json, created_at, updated_at) VALUES ('alice', 'x', 'planted', '', '{}', now(), now())\"))\n"  # noqa: E501
            "        print('PLANTED')\n"
            "    except Exception as exc:\n"
            "        print('REFUSED insert', type(exc).__name__, str(exc).splitlines()[0])\n"
        )
        .ok()
    )
    assert "DONE" not in out and "PLANTED" not in out, out
    assert "MODELS ['bob'] []" in out, out
    assert f"REFUSED model NotFound no saved model {model} of yours ('bob')" in out
    assert f"REFUSED data NotFound no data file {data} of yours ('alice')" in out
    assert "REFUSED delete NotFound" in out
    assert f"REFUSED job NotFound no job with id {job!r} that 'bob' may see" in out
    assert "JOBS []" in out or "'alice'" not in out.split("JOBS", 1)[1].split("\n")[0]
    assert "ROWS 0" in out and "CANCEL 0" in out
    assert "new row violates row-level security policy for table" in out
    assert "REFUSED insert ProgrammingError (psycopg.errors.InsufficientPrivilege)" in out
    # nothing changed for alice
    with owner.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT cancel_requested FROM jobs WHERE id = :i"), {"i": job}
            ).scalar()
            is False
        )
        assert (
            conn.execute(text("SELECT count(*) FROM saved_models WHERE title = 'planted'")).scalar()
            == 0
        )
        assert (
            conn.execute(
                text("SELECT count(*) FROM saved_models WHERE id = :i"), {"i": model}
            ).scalar()
            == 1
        )
    actions = [(a, o) for a, _, o, _ in _audit(owner, "bob", since)]
    assert actions.count(("library.open", "refused")) == 3, actions
    assert ("jobs.open", "refused") in actions
    kernels["alice"].run(f"from shiftdesk.jobs import Job\nJob({job!r}).cancel()").ok()


# -- the database itself ----------------------------------------------------------------------


@pytest.mark.e2e
def test_the_database_cannot_be_opened_as_anyone_else(
    hub: RunningHub, kernels: dict[str, Kernel]
) -> None:
    state = hub.state.resolve()
    socket = state / "postgres" / "socket"
    out = (
        kernels["viewer"]
        .run(
            "import psycopg, sqlite3\n"
            f"for role in ('alice', 'operator', 'shiftdesk', 'postgres'):\n"
            "    try:\n"
            f"        psycopg.connect(host={str(socket)!r}, user=role, dbname='shiftdesk')\n"
            "        print('CONNECTED', role)\n"
            "    except psycopg.OperationalError as exc:\n"
            "        print('REFUSED', role, str(exc).strip().splitlines()[-1])\n"
            "for host in ('127.0.0.1', 'localhost'):\n"
            "    try:\n"
            "        psycopg.connect(host=host, user='shiftdesk', dbname='shiftdesk', connect_timeout=3)\n"  # noqa: E501
            "        print('CONNECTED tcp', host)\n"
            "    except psycopg.OperationalError as exc:\n"
            "        print('REFUSED tcp', host)\n"
            "with psycopg.connect(host="
            f"{str(socket)!r}, user='viewer', dbname='shiftdesk', autocommit=True) as conn:\n"
            "    for sql in ('SET ROLE alice', 'SET SESSION AUTHORIZATION alice',\n"
            "                'SET ROLE shiftdesk',\n"
            "                'ALTER TABLE jobs DISABLE ROW LEVEL SECURITY', 'CREATE TEMP TABLE t (i int)',\n"  # noqa: E501
            "                'SELECT * FROM pg_authid'):\n"
            "        try:\n"
            "            conn.execute(sql)\n"
            "            print('DONE', sql)\n"
            "        except psycopg.Error as exc:\n"
            "            print('REFUSED', sql, '|', str(exc).splitlines()[0])\n"
            f"for path in ({str(state / 'jupyterhub.sqlite')!r}, {str(state / 'postgres' / 'data' / 'PG_VERSION')!r},\n"  # noqa: E501
            f"             {str(state / 'run' / 'jupyterhub_config.py')!r}, {str(state / 'hub.toml')!r}):\n"  # noqa: E501
            "    try:\n"
            "        open(path, 'rb').read(16)\n"
            "        print('READ', path)\n"
            "    except PermissionError as exc:\n"
            "        print('REFUSED file', path)\n"
            "try:\n"
            f"    sqlite3.connect('file:{state / 'jupyterhub.sqlite'}?mode=ro', uri=True).execute('select 1 from users').fetchall()\n"  # noqa: E501
            "    print('READ sqlite')\n"
            "except sqlite3.Error as exc:\n"
            "    print('REFUSED sqlite', exc)\n"
        )
        .ok()
    )
    assert "CONNECTED" not in out and "DONE" not in out and "READ" not in out, out
    for role in ("alice", "operator", "shiftdesk", "postgres"):
        line = next(x for x in out.splitlines() if x.startswith(f"REFUSED {role} "))
        assert f'FATAL:  Peer authentication failed for user "{role}"' in line, out
    assert "REFUSED tcp 127.0.0.1" in out and "REFUSED tcp localhost" in out
    assert "REFUSED SET ROLE alice | permission denied to set role" in out
    assert "REFUSED SET SESSION AUTHORIZATION alice | permission denied" in out
    assert "REFUSED ALTER TABLE jobs DISABLE ROW LEVEL SECURITY | must be owner" in out
    assert "REFUSED CREATE TEMP TABLE t (i int) | permission denied" in out
    assert "REFUSED SELECT * FROM pg_authid | permission denied" in out
    assert out.count("REFUSED file") == 4 and "REFUSED sqlite" in out
    # PostgreSQL's own log has each refused login, with the account that tried
    log = (state / "postgres" / "server.log").read_text(errors="replace")
    assert 'Peer authentication failed for user "alice"' in log
    assert 'authenticated as "sd-viewer"' in log


@pytest.mark.e2e
def test_other_users_folders_logs_keys_and_tokens_are_out_of_reach(
    hub: RunningHub, kernels: dict[str, Kernel], users: dict[str, HubUser]
) -> None:
    home = hub.state.resolve() / "users" / "alice"
    services = str(hub.state.resolve() / "services")
    # alice makes a job log and an SSH key folder of her own first
    kernels["alice"].run(
        "import os\n"
        "from shiftdesk.storage import data_dir\n"
        "(data_dir() / 'ssh').mkdir(exist_ok=True)\n"
        "(data_dir() / 'ssh' / 'id_ed25519').write_text('secret')\n"
        "print(oct(os.stat(data_dir()).st_mode))\n"
    ).ok()
    servers = [
        p
        for p in _descendants(hub.proc.pid)
        if "jupyterhub-singleuser" in _cmdline(p) and _environ(p).get("JUPYTERHUB_USER") == "alice"
    ]
    assert servers
    out = (
        kernels["viewer"]
        .run(
            "import os\n"
            f"for path in ({str(home)!r}, {str(home / '.shiftdesk' / 'jobs')!r},\n"
            f"             {str(home / '.shiftdesk' / 'ssh' / 'id_ed25519')!r},\n"
            f"             '/proc/{servers[0]}/environ', {services!r}):\n"
            "    try:\n"
            "        os.listdir(path) if not path.endswith(('id_ed25519', 'environ')) else open(path).read()\n"  # noqa: E501
            "        print('READ', path)\n"
            "    except PermissionError:\n"
            "        print('REFUSED', path)\n"
            "try:\n"
            f"    os.kill({servers[0]}, 0)\n"
            "    print('SIGNAL sent')\n"
            "except PermissionError:\n"
            "    print('REFUSED signal')\n"
            "print('HOME', oct(os.stat(os.environ['HOME']).st_mode & 0o777))\n"
        )
        .ok()
    )
    assert "READ" not in out and "SIGNAL sent" not in out, out
    assert out.count("REFUSED /") == 5 and "REFUSED signal" in out, out
    assert "HOME 0o700" in out


@pytest.mark.e2e
def test_the_ecc_servers_answer_only_the_gate(
    hub: RunningHub, kernels: dict[str, Kernel], owner: Database
) -> None:
    """GET ECC servers take SOAP from anyone who can connect: the demo keeps them on a
    DAQ network (their own address) that user kernels cannot reach."""
    assert "DAQ network: the simulated ECC servers listen on 127.0.0.2" in hub.log.read_text()
    out = (
        kernels["operator"]
        .run(
            "import urllib.request\n"
            "from shiftdesk.daq import DAQSystem\n"
            "daq = DAQSystem()\n"
            "url = daq.snapshot().servers[0].url\n"
            "print('URL', url)\n"
            "try:\n"
            "    urllib.request.urlopen(url, timeout=5)\n"
            "    print('REACHED')\n"
            "except OSError as exc:\n"
            "    print('REFUSED', exc)\n"
            "print('LIVE', daq.refresh().overall)\n"  # through the gate: works
        )
        .ok()
    )
    assert "URL http://127.0.0.2:" in out, out
    assert "REACHED" not in out and "REFUSED <urlopen error [Errno 111] Connection refused>" in out
    assert "LIVE Stale" not in out and "LIVE Offline" not in out, out


COMMAND_ATTACKS = """
import json
from sqlalchemy import text
from shiftdesk.daq.execution import Executor
from shiftdesk.storage import get_database
db = get_database()
plan = json.dumps({'kind': 'transition', 'phases': []})
attacks = {
    'store a command': "INSERT INTO daq_commands (id, experiment_id, command, target, owner, "
        "status, progress, message, steps_json, timeout_s, host, pid, plan_json, created_at) "
        "SELECT 'forged', id, 'Start', 'all', 'operator', 'queued', 0, 'queued', '{}', 60, "
        "'h', 1, :plan, now() FROM daq_experiments LIMIT 1",
    'rewrite a plan': "UPDATE daq_commands SET plan_json = :plan, status = 'queued'",
    'pose as the executor': "UPDATE daq_experiments SET executor_pid = 1, "
        "executor_heartbeat_at = now()",
}
for name, sql in attacks.items():
    try:
        with db.engine.begin() as conn:
            done = conn.execute(text(sql), {'plan': plan}).rowcount
        print('DONE', name, done)
    except Exception as exc:
        print('REFUSED', name, type(exc).__name__)
# an executor in the kernel: claiming (the conditional UPDATE the poll service makes) is
# refused whether or not a command is queued
for name, call in (('claim commands', lambda: Executor(db)._claim('any-command')),
                   ('heartbeat', lambda: Executor(db).heartbeat())):
    try:
        call()
        print('DONE', name)
    except Exception as exc:
        print('REFUSED', name, type(exc).__name__)
"""


@pytest.mark.e2e
def test_an_operator_cannot_store_rewrite_or_run_commands_past_the_gate(
    kernels: dict[str, Kernel], owner: Database
) -> None:
    """Commands are rows the poll service runs: an operator's own kernel can neither store
    nor rewrite one, nor pose as the executor; only the gate, after its checks, stores."""
    before = _count(owner, "SELECT count(*) FROM daq_commands WHERE status = 'queued'")
    out = kernels["operator"].run(COMMAND_ATTACKS).ok()
    assert "DONE" not in out, out
    for name in ("store a command", "rewrite a plan", "pose as the executor"):
        assert f"REFUSED {name}" in out, out
    assert "REFUSED claim commands" in out and "REFUSED heartbeat" in out, out
    assert _count(owner, "SELECT count(*) FROM daq_commands WHERE id = 'forged'") == 0
    after = _count(owner, "SELECT count(*) FROM daq_commands WHERE status = 'queued'")
    assert after == before


# -- the gate ---------------------------------------------------------------------------------


GATE_CALL = """
import json, os, urllib.request, urllib.error
def call(token, headers=(), body=None, path='/api/actions/daq.set_next_run_number'):
    payload = body if body is not None else {'args': {'experiment': 'demo', 'number': 77}}
    request = urllib.request.Request(os.environ['SHIFTDESK_GATE_URL'] + path,
                                     data=json.dumps(payload).encode(), method='POST')
    if token:
        request.add_header('Authorization', 'token ' + token)
    for name, value in headers:
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b'{}')
mine = os.environ['JUPYTERHUB_API_TOKEN']
"""


@pytest.mark.e2e
def test_the_gate_believes_only_the_hub_about_tokens(
    hub: RunningHub, kernels: dict[str, Kernel], users: dict[str, HubUser], owner: Database
) -> None:
    expiring = users["viewer"].new_token(note="short", expires_in=1)
    # the token of alice's server as it was (read here as root), then revoked by a stop
    alice = users["alice"]
    (server,) = [
        p
        for p in _descendants(hub.proc.pid)
        if "jupyterhub-singleuser" in _cmdline(p) and _environ(p).get("JUPYTERHUB_USER") == "alice"
    ]
    revoked = _environ(server)["JUPYTERHUB_API_TOKEN"]
    alice.stop_server()
    deadline = time.monotonic() + 30
    while alice.api("GET", "/hub/api/users/alice").json().get("servers"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    time.sleep(1.5)  # the short token has expired by now
    since = _last_audit_id(owner)
    number = _count(owner, "SELECT coalesce(next_run_number, -1) FROM daq_experiments")
    cases = {
        "none": "call(None)",
        "garbage": "call('not-a-token')",
        "expired": f"call({expiring!r})",
        "revoked": f"call({revoked!r})",
        "header": "call(mine, headers=[('X-Forwarded-User', 'operator')])",
        "body": "call(mine, body={'user': 'operator', 'args': {'experiment': 'demo', 'number': 77}})",  # noqa: E501
        "mine": "call(mine)",
    }
    code = GATE_CALL + "".join(f"print({k!r}, json.dumps({v}))\n" for k, v in cases.items())
    out = kernels["viewer"].run(code).ok()
    got = {
        line.split(" ", 1)[0].strip("'"): json.loads(line.split(" ", 1)[1])
        for line in out.strip().splitlines()
    }
    assert got["none"][0] == 401 and "no hub token" in got["none"][1]["error"]["message"]
    for case in ("garbage", "expired", "revoked"):
        status, body = got[case]
        assert status == 403, (case, got[case])
        assert "the hub does not accept this token" in body["error"]["message"]
    for case in ("header", "body"):
        status, body = got[case]
        assert status == 400, (case, got[case])
        assert "you are 'viewer'" in body["error"]["message"]
    status, body = got["mine"]
    assert status == 403 and "'viewer' may not set the run number" in body["error"]["message"]
    assert _count(owner, "SELECT coalesce(next_run_number, -1) FROM daq_experiments") == number
    anonymous = _audit(owner, "(no valid token)", since)
    assert len(anonymous) == 4 and all(e[2] == "refused" for e in anonymous), anonymous
    viewer = [(a, o) for a, _, o, _ in _audit(owner, "viewer", since)]
    assert viewer == [("daq.set_next_run_number", "refused")] * 3, viewer
    alice.start_server()


# -- groups change on the hub -----------------------------------------------------------------


@pytest.mark.e2e
def test_an_operator_removed_from_the_group_is_refused_at_once(
    kernels: dict[str, Kernel], users: dict[str, HubUser], owner: Database
) -> None:
    chief = users["chief"]
    op = kernels["operator"]
    setup = "from shiftdesk.daq import DAQSystem\ndaq = DAQSystem()\n"
    op.run(setup).ok()
    first = op.run("print(daq.refresh().overall)\n").ok()
    assert first.strip() in ("Idle", "Described", "Prepared", "Ready", "Running"), first

    def set_member(member: bool) -> None:
        reply = chief.api(
            "POST" if member else "DELETE",
            "/hub/api/groups/operators-demo/users",
            json={"users": ["operator"]},
        )
        assert reply.status_code == 200, reply.text

    since = _last_audit_id(owner)
    set_member(False)
    try:
        out = op.run(
            "try:\n"
            "    daq.set_next_run_number(daq.next_run_number)\n"
            "    print('DONE')\n"
            "except Exception as exc:\n"
            "    print('REFUSED', type(exc).__name__, exc)\n"
        ).ok()
        assert "REFUSED PermissionDenied 'operator' may not set the run number" in out, out
        # the dashboard's buttons follow too (the identity cache lasts 2 s)
        out = op.run(
            "import time\n"
            "for _ in range(40):\n"
            "    if not daq.can_operate:\n"
            "        break\n"
            "    time.sleep(0.2)\n"
            "print('CAN', daq.can_operate)\n"
        ).ok()
        assert "CAN False" in out, out
    finally:
        set_member(True)
    out = op.run("daq.set_next_run_number(daq.next_run_number)\nprint('DONE')\n").ok()
    assert "DONE" in out
    outcomes = [(a, o) for a, _, o, _ in _audit(owner, "operator", since)]
    assert outcomes == [
        ("daq.set_next_run_number", "refused"),
        ("daq.set_next_run_number", "ok"),
    ]


# -- jobs of the shared service ---------------------------------------------------------------


@pytest.mark.e2e
def test_the_job_workers_run_each_job_as_its_owner(
    hub: RunningHub, kernels: dict[str, Kernel], owner: Database
) -> None:
    out = (
        kernels["bob"]
        .run(
            "from shiftdesk.jobs import submit_job\n"
            "job = submit_job('test.sleep', {'steps': 40, 'delay': 0.1}, backend='workers')\n"
            "print(job.id)\n"
        )
        .ok()
    )
    job = out.strip()
    bob = __import__("pwd").getpwnam("sd-bob")
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while not workers:
        assert time.monotonic() < deadline, "no worker process started"
        workers = [
            p
            for p in _descendants(hub.proc.pid)
            if "shiftdesk.jobs.worker" in _cmdline(p) and job in _cmdline(p)
        ]
        time.sleep(0.2)
    env = _environ(workers[0])
    assert _uid(workers[0]) == bob.pw_uid
    assert env["SHIFTDESK_DATABASE_URL"].startswith("postgresql+psycopg://bob@/shiftdesk?")
    assert "JUPYTERHUB_API_TOKEN" not in env
    done = (
        kernels["bob"]
        .run(
            f"from shiftdesk.jobs import Job\nj = Job({job!r}).wait(120)\nprint(j.status.value)\n"
            f"print(j.logs()[-200:])\n"
        )
        .ok()
    )
    assert done.startswith("done"), done
    log = hub.state.resolve() / "users" / "bob" / ".shiftdesk" / "jobs" / f"{job}.log"
    stat = log.stat()
    assert (stat.st_uid, stat.st_mode & 0o777) == (bob.pw_uid, 0o600)
    with owner.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT owner FROM jobs WHERE id = :i"), {"i": job}).scalar() == "bob"
        )


@pytest.mark.e2e
def test_a_link_in_a_users_folder_does_not_steer_the_job_workers(
    hub: RunningHub, kernels: dict[str, Kernel]
) -> None:
    """The job-worker service (root) writes each job's log into its owner's folder; a
    link the owner puts there must not make it write (as root) where the link points."""
    out = (
        kernels["bob"]
        .run(
            "import os, shutil\n"
            "from shiftdesk.jobs import submit_job\n"
            "from shiftdesk.storage import data_dir\n"
            "jobs = data_dir() / 'jobs'\n"
            "shutil.rmtree(jobs, ignore_errors=True)\n"
            "os.symlink('/root', jobs)\n"
            "job = submit_job('test.sleep', {'steps': 2, 'delay': 0.01}, backend='workers')\n"
            "import time\n"
            "deadline = time.monotonic() + 60\n"
            "while not job.refresh().finished and time.monotonic() < deadline:\n"
            "    time.sleep(0.2)\n"
            "print('STATUS', job.status.value, '|', job.error)\n"
            "print('ID', job.id)\n"
            "os.unlink(jobs)\n"
        )
        .ok()
    )
    job = out.split("ID ", 1)[1].split()[0]
    assert "STATUS failed" in out and "jobs is not a folder" in out, out
    assert not Path(f"/root/{job}.log").exists()


CATALOG_SETUP = """
import tempfile
from pathlib import Path
from shiftdesk.catalog import Catalog
from shiftdesk.catalog.demo import CONTEXTS, write_demo_files, write_reference
cat = Catalog.create('roman', description='boundary test')
with tempfile.TemporaryDirectory() as tmp:
    cat.add_files(write_demo_files(tmp), why='demo')
for name, when, why in CONTEXTS:
    if when is not None:
        cat.set_context('latest', name, why=why, when=when)
    cat.set_context('edit', name, why=why, when=when)
new = Path(tempfile.mkdtemp()) / 'flat_2026.asdf'
write_reference(new, {'reftype': 'FLAT', 'useafter': '2026-02-01T00:00:00', 'instrument':
                {'name': 'WFI', 'detector': 'WFI01', 'optical_element': 'F087'}}, seed=7)
sub = cat.submit([new], description='a 2026 flat')
print('PREPARED', sub.status, sub.error, sub.new_context)
sub.confirm()
print('EDIT', cat.context('edit'), cat.path('roman_0004.pmap'))
"""

CATALOG_ATTACKS = """
from shiftdesk.catalog import Catalog
from shiftdesk.errors import PermissionDenied
cat = Catalog.open('roman')
print('READS', cat.best_references({'ROMAN.META.INSTRUMENT.NAME': 'WFI',
      'ROMAN.META.INSTRUMENT.DETECTOR': 'WFI01', 'ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT': 'F087',
      'ROMAN.META.EXPOSURE.START_TIME': '2026-03-01 00:00:00'}, context='edit', reftypes=['flat']))
for name, attack in [
    ('mark bad', lambda: cat.mark_bad(['roman_wfi_flat_0001.rmap'], why='x')),
    ('set latest', lambda: cat.set_context('latest', 'roman_0004.pmap', why='x')),
    ('write the store', lambda: open(cat.path('roman_0004.pmap'), 'a').write('x')),
    ('add a file to the store', lambda: open(cat.folder / 'mine.rmap', 'w').write('x')),
    ('write the table', lambda: cat.database.engine.begin().__enter__().exec_driver_sql(
        "UPDATE catalog_contexts SET context = 'roman_0001.pmap'")),
    ('import a path on the gate', lambda: cat.gate.call('catalog.add_files', observatory='roman',
        paths=['/etc/passwd'], why='', description='', state='operational')),
]:
    try:
        attack()
        print('DONE', name)
    except Exception as exc:
        print('REFUSED', name, type(exc).__name__)
"""


@pytest.mark.e2e
def test_a_catalog_is_changed_only_by_its_editors_through_the_gate(
    kernels: dict[str, Kernel], owner: Database
) -> None:
    """alice (hub group catalog-roman) makes a catalog and confirms a submission through
    the gate; bob reads it but can change neither its rows, its files nor its contexts,
    not even by asking the gate to read a path for him."""
    out = kernels["alice"].run(CATALOG_SETUP).ok()
    assert "PREPARED done None roman_0004.pmap" in out, out
    assert "EDIT roman_0004.pmap" in out, out
    attacks = kernels["bob"].run(CATALOG_ATTACKS).ok()
    assert "READS {'flat': 'roman_wfi_flat_0016.asdf'}" in attacks, attacks
    assert "DONE" not in attacks, attacks
    for name in ("mark bad", "set latest", "write the store", "add a file to the store",
                 "write the table", "import a path on the gate"):  # fmt: skip
        assert f"REFUSED {name}" in attacks, attacks
    latest = _count(
        owner, "SELECT count(*) FROM catalog_contexts WHERE context = 'roman_0002.pmap'"
    )
    assert latest == 1
    assert _count(owner, "SELECT count(*) FROM catalog_files WHERE rejected") == 0


DATALAB_SETUP = """
import hashlib, tempfile
from pathlib import Path
from shiftdesk.datalab import DataSession
from shiftdesk.datalab.demo import write_frames
frames = write_frames(Path(tempfile.mkdtemp()))
s = DataSession.create('boundary: shared with staff')
s.add_inputs(frames[:3])
op = s.run('median', input_files=s.inputs)
out = op.result(timeout=120)
s.share(project='staff')
private = DataSession.create('boundary: alice alone')
hidden = private.add_inputs(frames[3:4])[0]
print('SESSION', s.id, op.id)
print('STORE', s.inputs[0].path)
print('INPUTS', ' '.join(i.sha256 for i in s.inputs))
print('OUTPUT', out.files[0].name, hashlib.sha256(out.files[0].read_bytes()).hexdigest())
print('HIDDEN', hidden.sha256)
"""

DATALAB_MEMBER = """
import base64, hashlib
from shiftdesk.datalab import DataSession
from shiftdesk.gate import get_gate
s = DataSession.open({session})
print('COPIES', ' '.join(hashlib.sha256(i.path.read_bytes()).hexdigest() for i in s.inputs))
print('FIRST', s.inputs[0].path)
out = s.operation({op}).result(timeout=60)
print('OUTPUT', out.files[0].name, hashlib.sha256(out.files[0].read_bytes()).hexdigest())
print('AT', out.files[0])
for name, attack in [
    ("read the owner's store", lambda: open({store!r}, 'rb').read()),
    ('fetch a file the session does not name', lambda: get_gate().call(
        'datalab.fetch', session={session}, sha256={hidden!r})),
    ("publish into the owner's session", lambda: get_gate().call(
        'datalab.publish', session={session}, sha256={first!r}, size=4, offset=0,
        data=base64.b64encode(b'fake').decode())),
]:
    try:
        attack()
        print('DONE', name)
    except Exception as exc:
        print('REFUSED', name, type(exc).__name__, str(exc)[:200])
"""

DATALAB_OUTSIDER = """
from shiftdesk.gate import get_gate
from shiftdesk.datalab import DataSession
for name, attack in [
    ('open the session', lambda: DataSession.open({session})),
    ("fetch the session's frame", lambda: get_gate().call(
        'datalab.fetch', session={session}, sha256={first!r})),
]:
    try:
        attack()
        print('DONE', name)
    except Exception as exc:
        print('REFUSED', name, type(exc).__name__, str(exc)[:200])
"""


@pytest.mark.e2e
def test_a_shared_data_sessions_files_reach_its_members_through_the_gate_only(
    hub: RunningHub, kernels: dict[str, Kernel], owner: Database
) -> None:
    """alice shares a session with the hub group staff: bob (staff) reads copies of its
    frames and results, fetched through the gate into his own folder, never alice's
    folder itself; he cannot fetch a file the session does not name, nor publish into
    it; viewer (no group) gets nothing."""
    since = _last_audit_id(owner)
    setup = kernels["alice"].run(DATALAB_SETUP).ok()
    facts = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in setup.splitlines() if line}
    session, op = facts["SESSION"].split()
    inputs = facts["INPUTS"].split()
    names = {
        "session": session, "op": op, "store": facts["STORE"], "hidden": facts["HIDDEN"],
        "first": inputs[0],
    }  # fmt: skip
    member = kernels["bob"].run(DATALAB_MEMBER.format(**names)).ok()
    assert f"COPIES {' '.join(inputs)}" in member, member
    assert f"OUTPUT {facts['OUTPUT']}" in member, member
    bob_home = hub.state.resolve() / "users" / "bob"
    for line in member.splitlines():
        if line.startswith(("FIRST ", "AT ")):
            copy = Path(line.split(" ", 1)[1])
            assert bob_home in copy.parents, member
            stat = copy.stat()
            assert stat.st_uid == __import__("pwd").getpwnam("sd-bob").pw_uid
    assert "DONE" not in member, member
    assert "REFUSED read the owner's store PermissionError" in member, member
    assert "REFUSED fetch a file the session does not name NotFound" in member, member
    assert "REFUSED publish into the owner's session PermissionDenied" in member, member
    outsider = kernels["viewer"].run(DATALAB_OUTSIDER.format(**names)).ok()
    assert "DONE" not in outsider, outsider
    assert "REFUSED open the session NotFound" in outsider, outsider
    assert "REFUSED fetch the session's frame PermissionDenied" in outsider, outsider
    # the published files are the gate's alone, one per content
    folder = hub.state.resolve() / "datalab-shared"
    service = __import__("pwd").getpwnam(hub.settings.accounts.service_user)  # type: ignore[attr-defined]
    stat = folder.stat()
    assert (stat.st_uid, stat.st_mode & 0o777) == (service.pw_uid, 0o700)
    published = {p.name for p in folder.rglob("*") if p.is_file()}
    assert set(inputs) <= published and facts["HIDDEN"] not in published
    refusals = [(a, o) for a, _t, o, _v in _audit(owner, "viewer", since)]
    assert ("datalab.fetch", "refused") in refusals, refusals
    assert ("datalab.publish", "refused") in [
        (a, o) for a, _t, o, _v in _audit(owner, "bob", since)
    ]


@pytest.mark.e2e
def test_an_administrator_sees_every_users_rows_until_the_hub_takes_it_back(
    kernels: dict[str, Kernel], users: dict[str, HubUser]
) -> None:
    chief = kernels["chief"]
    listing = (
        "from shiftdesk.reflectometry.library import Library\n"
        "from shiftdesk.identity import current_identity\n"
        "print(current_identity().admin, sorted({m.owner for m in Library().list_models()}))\n"
    )
    seed = (
        "from shiftdesk.reflectometry.demo import seed\n"
        "from shiftdesk.reflectometry.library import Library\n"
        "seed(Library())\n"
    )
    for name in ("chief", "alice", "bob"):
        kernels[name].run(seed).ok()
    assert "True ['alice', 'bob', 'chief']" in chief.run(listing).ok()
    # the last test of the module: chief stays demoted
    reply = users["chief"].api("PATCH", "/hub/api/users/chief", json={"admin": False})
    assert reply.status_code == 200, reply.text
    deadline = time.monotonic() + 10
    while True:
        out = chief.run(listing).ok()
        if "False ['chief']" in out:
            break
        assert time.monotonic() < deadline, out
        time.sleep(1)
    # no longer an admin in the database either, whatever the object claims
    forced = chief.run(
        "from shiftdesk.identity import Identity\n"
        "lib = Library(identity=Identity('chief', admin=True))\n"
        "print(sorted({m.owner for m in lib.list_models()}))\n"
    ).ok()
    assert forced.strip() == "['chief']", forced
