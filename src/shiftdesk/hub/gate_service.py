"""The gate service: runs actions on shared state for whoever the hub says the caller is.

``python -m shiftdesk.hub.gate_service`` is the ``shiftdesk-gate`` service of a hub with
per-user accounts. It runs under the service account, holds the only database
connection that may change shared tables, and answers on loopback:

``GET /api/whoami``
    The caller's name, hub groups and admin flag.
``POST /api/actions/<name>``
    ``{"args": {...}}``: run a registered action (:mod:`shiftdesk.gate.actions`) as the
    caller; ``{"result": ...}`` or ``{"error": {"type", "message"}}``.
``POST /api/audit``
    ``{"action", "target", "detail"}``: record a refusal a user server noticed.
``GET /api/health``
    No authentication; for the hub's start checks.

Who the caller is comes only from the ``Authorization: token ...`` header: the gate
asks the hub (``GET /hub/api/user`` with that token), which answers with the token's
owner and their groups *now*, so a group change on the hub counts from the next
request. No token, an unknown, expired or revoked token, a service's token, and any
attempt to name a user in a header or the request body are refused; every refusal and
every action is written to the audit trail with the identity the hub gave.

Every few seconds the gate also brings the database's administrator role in line with
the hub's admin users.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from tornado import httpclient, web
from tornado.ioloop import IOLoop, PeriodicCallback

from shiftdesk.audit import record
from shiftdesk.errors import NotFound, PermissionDenied, ShiftdeskError
from shiftdesk.gate import run_action
from shiftdesk.gate.actions import ActionContext
from shiftdesk.identity import Identity
from shiftdesk.storage import Database, get_database

#: request headers that name a user: a gate behind no proxy never needs them
FORGED_HEADERS = ("X-Forwarded-User", "X-Remote-User", "Remote-User", "X-Shiftdesk-User")
#: body keys (outside ``args``) that try to say who the caller is
FORGED_KEYS = ("user", "username", "identity", "as_user", "groups", "admin")
#: seconds a verified token is reused for ``whoami`` (never for actions)
WHOAMI_CACHE = 1.0
#: seconds between full admin synchronisations (a caller's own flag is synced at once)
ADMIN_SYNC = 30.0
#: the actor of refusals before anyone is identified
NOBODY = "(no valid token)"


class Refusal(Exception):
    """A request the gate refuses before any action runs."""

    def __init__(self, status: int, message: str, actor: str = NOBODY) -> None:
        super().__init__(message)
        self.status = status
        self.actor = actor


class GateState:
    """What every request shares: the hub's API, the database, the action threads.

    Parameters
    ----------
    hub_api : str
        The hub's REST API URL (``JUPYTERHUB_API_URL``).
    service_token : str
        The gate's own hub token (for the admin list).
    database : Database
        The shared database, opened as the table owner.
    threads : int
        Actions run at most this many at once.
    """

    def __init__(
        self, hub_api: str, service_token: str, database: Database, *, threads: int = 8
    ) -> None:
        self.hub_api = hub_api.rstrip("/")
        self.service_token = service_token
        self.database = database
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gate-action")
        self.resources: dict[str, Any] = {}
        self._seen: dict[str, tuple[float, Identity]] = {}
        self.http = httpclient.AsyncHTTPClient()
        self._admins: dict[str, bool] = {}
        # (when the hub said it, admin flag) per user, from token checks: a periodic sync
        # whose user list is older than that does not undo it
        self._admin_said: dict[str, tuple[float, bool]] = {}
        # one change of the administrator role at a time, so an older answer cannot land
        # after a newer one
        self._admin_lock = threading.Lock()
        # each user's hub groups as last written to group_members, and when a token check
        # said them (newer than a periodic list, as for the admin flag)
        self._groups: dict[str, frozenset[str]] = {}
        self._groups_said: dict[str, float] = {}

    def _sync_one(self, who: Identity) -> None:
        from shiftdesk.storage.boundary import set_admin

        try:
            with self._admin_lock:
                if set_admin(self.database, who.name, who.admin):
                    print(
                        f"shiftdesk-gate: administrator role {'+' if who.admin else '-'}{who.name}",
                        flush=True,
                    )
                self._admins[who.name] = who.admin
        except Exception as exc:  # the periodic sync tries again
            print(f"shiftdesk-gate: admin sync of {who.name} failed: {exc}", file=sys.stderr)

    async def identify(self, token: str, *, fresh: bool) -> Identity:
        """The hub's answer for ``token`` (cached briefly unless ``fresh``)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._seen.get(key)
        if not fresh and cached is not None and time.monotonic() - cached[0] < WHOAMI_CACHE:
            return cached[1]
        reply = await self.http.fetch(
            f"{self.hub_api}/user",
            headers={"Authorization": f"token {token}"},
            raise_error=False,
            request_timeout=10,
        )
        if reply.code in (401, 403, 404):
            raise Refusal(
                403,
                "the hub does not accept this token (unknown, expired or revoked): the gate "
                "acts only for the holder of a valid hub token. A user server has one in "
                "JUPYTERHUB_API_TOKEN; restart your server if it was stopped.",
            )
        if reply.code != 200:
            raise Refusal(503, f"the hub did not answer the token check (HTTP {reply.code})")
        model = json.loads(reply.body or b"{}")
        if model.get("kind") != "user":
            raise Refusal(
                403,
                f"this token belongs to a {model.get('kind', 'non-user')} "
                f"({model.get('name')!r}), not a user: the gate acts only for users",
            )
        who = Identity(
            str(model["name"]),
            frozenset(str(g) for g in model.get("groups") or ()),
            bool(model.get("admin")),
        )
        self._seen[key] = (time.monotonic(), who)
        self._admin_said[who.name] = (time.monotonic(), who.admin)
        self._groups_said[who.name] = time.monotonic()
        if self._groups.get(who.name) != who.groups:
            # the database's idea of this user's groups follows before the request is
            # answered (a row shared with group:NAME becomes readable, or stops being)
            await asyncio.get_running_loop().run_in_executor(
                self.pool, self._apply_groups, {who.name: who.groups}, None
            )
        if self._admins.get(who.name) is not None and self._admins[who.name] != who.admin:
            # the hub changed this user's admin flag: the database follows before this
            # request is answered, so nothing the caller does next still sees the old role
            await asyncio.get_running_loop().run_in_executor(self.pool, self._sync_one, who)
        if len(self._seen) > 10_000:  # tokens of stopped servers: forget the oldest
            for old in sorted(self._seen, key=lambda k: self._seen[k][0])[:5_000]:
                self._seen.pop(old, None)
        return who

    def audit(self, actor: str, action: str, target: str, outcome: str, detail: str) -> None:
        """Record an entry (refusals before an action runs, reports from user servers)."""
        try:
            record(action, target, outcome, detail, actor=actor, via="gate", database=self.database)
        except Exception as exc:  # the answer to the caller does not depend on it
            print(f"shiftdesk-gate: cannot write the audit trail: {exc}", file=sys.stderr)

    def _apply_admins(self, said: dict[str, bool], asked: float) -> list[str]:
        """Make the database's administrators those of the hub's list asked for at ``asked``.

        A token check answered after ``asked`` is newer than the list and wins for its user.
        """
        from shiftdesk.storage.boundary import sync_admins

        with self._admin_lock:
            flags = dict(said)
            for name, (when, admin) in list(self._admin_said.items()):
                if when > asked:
                    flags[name] = admin
            changed = sync_admins(self.database, [n for n, admin in flags.items() if admin])
            self._admins = flags
            return changed

    def _apply_groups(self, said: dict[str, frozenset[str]], asked: float | None) -> int:
        """Write the users' hub groups to ``group_members``; from a list asked for at
        ``asked``, users a newer token check spoke for are left as that check said."""
        from shiftdesk.storage.boundary import sync_groups

        with self._admin_lock:
            wanted = {
                name: groups
                for name, groups in said.items()
                if asked is None or self._groups_said.get(name, 0.0) <= asked
            }
            try:
                changed = sync_groups(self.database, wanted)
            except Exception as exc:  # the periodic sync tries again
                print(f"shiftdesk-gate: group sync failed: {exc}", file=sys.stderr, flush=True)
                return 0
            self._groups.update(wanted)
            return changed

    async def sync_admins(self) -> None:
        """Make the database's administrators the hub's admin users, and its group
        memberships the hub's groups."""
        try:
            asked = time.monotonic()
            reply = await self.http.fetch(
                f"{self.hub_api}/users?limit=100000",
                headers={"Authorization": f"token {self.service_token}"},
                raise_error=False,
                request_timeout=10,
            )
            if reply.code != 200:
                return
            users = json.loads(reply.body or b"[]")
            said = {u["name"]: bool(u.get("admin")) for u in users}
            loop = asyncio.get_running_loop()
            changed = await loop.run_in_executor(self.pool, self._apply_admins, said, asked)
            groups = {
                u["name"]: frozenset(str(g) for g in u.get("groups") or ())
                for u in users
                if "groups" in u  # the models carry groups with read:users:groups
            }
            if groups:
                await loop.run_in_executor(self.pool, self._apply_groups, groups, asked)
            for change in changed:
                print(f"shiftdesk-gate: administrator role {change}", flush=True)
        except Exception as exc:  # retried at the next tick
            print(f"shiftdesk-gate: admin sync failed: {exc}", file=sys.stderr, flush=True)


class _Handler(web.RequestHandler):
    """JSON in and out; refusals audited."""

    @property
    def gate(self) -> GateState:
        state: GateState = self.settings["gate"]
        return state

    def check_xsrf_cookie(self) -> None:
        """No cookies are used: the token header is the only credential."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    def reply(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.finish(json.dumps(body, default=str))

    def refuse(self, status: int, kind: str, message: str) -> None:
        self.reply(status, {"error": {"type": kind, "message": message}})

    async def caller(self, *, fresh: bool) -> Identity:
        """The verified caller, or a :class:`Refusal`."""
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() not in ("token", "bearer") or not token:
            raise Refusal(
                401,
                "no hub token: send 'Authorization: token <token>' (a user server's "
                "JUPYTERHUB_API_TOKEN); the gate acts for nobody else",
            )
        who = await self.gate.identify(token, fresh=fresh)
        forged = [h for h in FORGED_HEADERS if h in self.request.headers]
        if forged:
            raise Refusal(
                400,
                f"refused: the request names a user in {', '.join(forged)}; the gate takes "
                f"who you are only from your token (you are {who.name!r})",
                who.name,
            )
        return who

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise Refusal(400, "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise Refusal(400, "the request body must be a JSON object")
        return data

    def fail(self, exc: Refusal, action: str) -> None:
        self.gate.audit(
            exc.actor,
            action,
            self.request.path,
            "refused",
            f"{exc} (from {self.request.remote_ip})",
        )
        self.refuse(exc.status, "GateRefused", str(exc))


class WhoAmIHandler(_Handler):
    """``GET /api/whoami``."""

    async def get(self) -> None:
        try:
            who = await self.caller(fresh=False)
        except Refusal as exc:
            self.fail(exc, "gate.whoami")
            return
        self.reply(200, {"name": who.name, "groups": sorted(who.groups), "admin": who.admin})


def _status(exc: BaseException) -> int:
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, ShiftdeskError | ValueError):
        return 409
    if isinstance(exc, TypeError):
        return 400
    return 500


class ActionHandler(_Handler):
    """``POST /api/actions/<name>``."""

    async def post(self, name: str) -> None:
        try:
            who = await self.caller(fresh=True)
            data = self.body()
            forged = [k for k in FORGED_KEYS if k in data]
            if forged:
                raise Refusal(
                    400,
                    f"refused: the request says who the caller is ({', '.join(forged)}); "
                    f"the gate takes that only from your token (you are {who.name!r})",
                    who.name,
                )
            args = data.get("args") or {}
            if not isinstance(args, dict):
                raise Refusal(400, "'args' must be a JSON object", who.name)
        except Refusal as exc:
            self.fail(exc, name)
            return
        ctx = ActionContext(who, self.gate.database, self.gate.resources)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self.gate.pool, lambda: run_action(name, args, ctx, via="gate")
            )
        except BaseException as exc:
            status = _status(exc)
            if status == 500:
                print(f"shiftdesk-gate: {name} by {who.name} failed: {exc!r}", file=sys.stderr)
            if isinstance(exc, TypeError):
                message = f"bad arguments for {name}: {exc}"
            else:
                message = str(exc) or type(exc).__name__
            self.refuse(status, type(exc).__name__, message)
            return
        self.reply(200, {"result": result})


class AuditHandler(_Handler):
    """``POST /api/audit``: a refusal noticed in a user server, stamped with the caller."""

    async def post(self) -> None:
        try:
            who = await self.caller(fresh=False)
            data = self.body()
        except Refusal as exc:
            self.fail(exc, "gate.audit")
            return
        action = str(data.get("action") or "report")[:64]
        target = str(data.get("target") or "")[:255]
        detail = str(data.get("detail") or "")[:4000]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self.gate.pool,
            lambda: record(action, target, "refused", detail, actor=who.name, via="kernel",
                           database=self.gate.database),
        )  # fmt: skip
        self.reply(200, {"recorded": True})


class HealthHandler(_Handler):
    """``GET /api/health``: answers when the gate runs (no authentication)."""

    def get(self) -> None:
        self.reply(200, {"ok": True})


def make_app(state: GateState) -> web.Application:
    """The gate's tornado application."""
    return web.Application(
        [
            (r"/api/whoami", WhoAmIHandler),
            (r"/api/actions/([a-z][a-z0-9_.]*)", ActionHandler),
            (r"/api/audit", AuditHandler),
            (r"/api/health", HealthHandler),
        ],
        gate=state,
        xsrf_cookies=False,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the gate until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m shiftdesk.hub.gate_service", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--threads", type=int, default=8, help="actions run at once")
    args = parser.parse_args(argv)
    url = os.environ.get("JUPYTERHUB_SERVICE_URL", "")
    hub_api = os.environ.get("JUPYTERHUB_API_URL", "")
    if not url or not hub_api:
        print(
            "shiftdesk-gate: JUPYTERHUB_SERVICE_URL and JUPYTERHUB_API_URL are not set: the "
            "gate runs as a hub service (services.gate in the hub settings)",
            file=sys.stderr,
        )
        return 2
    parts = urlsplit(url)
    database = get_database()
    state = GateState(
        hub_api, os.environ.get("JUPYTERHUB_API_TOKEN", ""), database, threads=args.threads
    )
    app = make_app(state)
    app.listen(parts.port or 80, address=parts.hostname or "127.0.0.1")
    loop = IOLoop.current()
    sync = PeriodicCallback(state.sync_admins, ADMIN_SYNC * 1000)
    sync.start()
    loop.add_callback(state.sync_admins)

    def stop(signum: int, frame: object) -> None:
        loop.add_callback_from_signal(loop.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"shiftdesk-gate: listening on {url} ({database!r})", flush=True)
    loop.start()
    sync.stop()
    state.pool.shutdown(wait=True, cancel_futures=True)
    print("shiftdesk-gate: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
