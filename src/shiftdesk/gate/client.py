"""The user server's side of the gate: JSON over HTTP with the server's hub token.

The token (``JUPYTERHUB_API_TOKEN``, which the hub gives every user server) is the only
thing the gate believes: it asks the hub whose token it is and which groups they are in.
Nothing else the request carries (a user name, a header) changes who the caller is.
Errors come back with their kind and message and are raised here as the same
shiftdesk exception, so a refusal reads the same in a notebook as without a hub.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from shiftdesk.errors import NotFound, PermissionDenied, ShiftdeskError, StorageError
from shiftdesk.identity import Identity

#: seconds a whoami answer is reused (groups changed on the hub show after at most this)
WHOAMI_TTL = 2.0


class GateUnavailable(StorageError):
    """The gate service does not answer."""


class GateRefused(PermissionDenied):
    """The gate did not accept the caller (no token, or a token the hub does not know)."""


def _error_classes() -> dict[str, type[BaseException]]:
    """Exception kinds the gate may send back, by class name.

    Every :class:`~shiftdesk.errors.ShiftdeskError` subclass loaded in this process: a
    caller of a domain's action has loaded that domain's errors.
    """
    found: dict[str, type[BaseException]] = {}
    pending: list[type[BaseException]] = [ShiftdeskError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    found["ValueError"] = ValueError
    found["TypeError"] = TypeError
    found["GateRefused"] = GateRefused
    return found


def raise_from_reply(status: int, body: dict[str, Any]) -> None:
    """Raise the exception an error reply of the gate describes."""
    error = body.get("error") or {}
    kind = str(error.get("type") or "")
    message = str(error.get("message") or f"the gate answered HTTP {status}")
    cls = _error_classes().get(kind)
    if cls is None:
        cls = PermissionDenied if status in (401, 403) else ShiftdeskError
    raise cls(message)


class RemoteGate:
    """Actions run by the gate service for the holder of ``token``.

    Parameters
    ----------
    url : str
        The gate's base URL (``SHIFTDESK_GATE_URL``).
    token : str
        This server's hub API token.
    timeout : float
        Seconds to wait for an answer.
    """

    remote = True

    def __init__(self, url: str, token: str, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._whoami: tuple[float, Identity] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteGate({self.url!r})"

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read() or b"{}")
            except ValueError:
                body = {}
            raise_from_reply(exc.code, body if isinstance(body, dict) else {})
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GateUnavailable(
                f"the shiftdesk gate at {self.url} does not answer ({reason}); nothing was "
                "changed. It is a hub service: the hub restarts it within seconds, so try "
                "again; if it stays down, tell the hub administrator."
            ) from exc

    def whoami(self) -> Identity:
        """Who the hub says this server's token belongs to (name, live groups, admin)."""
        with self._lock:
            cached = self._whoami
            if cached is not None and time.monotonic() - cached[0] < WHOAMI_TTL:
                return cached[1]
        body = self._request("GET", "/api/whoami")
        who = Identity(
            str(body["name"]), frozenset(body.get("groups") or ()), bool(body.get("admin"))
        )
        with self._lock:
            self._whoami = (time.monotonic(), who)
        return who

    def call(self, action: str, **args: Any) -> Any:
        """Run ``action`` in the gate service; returns its JSON result."""
        if not action or "/" in action:
            raise NotFound(f"no gate action {action!r}")
        body = self._request("POST", f"/api/actions/{action}", {"args": args})
        return body.get("result") if isinstance(body, dict) else None

    def report(self, action: str, target: str, detail: str) -> None:
        """Record a refusal the core noticed in this server (the gate stamps who we are)."""
        self._request("POST", "/api/audit", {"action": action, "target": target, "detail": detail})
