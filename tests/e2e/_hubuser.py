"""A hub user driven over HTTP, as a user's own browser or script would: log in, get a
token, start their server, and run code in a kernel of it (the Jupyter REST and
websocket APIs of their server). The attack tests use it to be that user."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
import websocket


@dataclass
class RunResult:
    """What a cell printed, and the error it raised (``ename: evalue``), if any."""

    stdout: str
    error: str | None

    def ok(self) -> str:
        assert self.error is None, self.error
        return self.stdout


class Kernel:
    """A kernel of a user's server, over its websocket."""

    def __init__(self, user: HubUser, kernel_id: str) -> None:
        self.user = user
        self.id = kernel_id
        url = (
            user.base.replace("http://", "ws://")
            + f"/user/{user.name}/api/kernels/{kernel_id}/channels"
        )
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: token {user.token}"], timeout=120
        )
        self.session = uuid.uuid4().hex

    def run(self, code: str, timeout: float = 120.0) -> RunResult:
        """Execute ``code``; return its output and error."""
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": self.user.name,
                        "session": self.session,
                        "date": "",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        out: list[str] = []
        error: str | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = self.ws.recv()
            if isinstance(raw, bytes):
                continue
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            content = msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                out.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                return RunResult("".join(out), error)
        raise TimeoutError(f"no answer to {code[:80]!r} within {timeout} s")

    def close(self) -> None:
        self.ws.close()
        self.user.api("DELETE", f"/user/{self.user.name}/api/kernels/{self.id}")


@dataclass
class HubUser:
    """A logged-in hub user with an API token of their own."""

    base: str
    name: str
    password: str
    cookies: Any = field(default_factory=requests.cookies.RequestsCookieJar)
    token: str = ""

    def _session(self) -> requests.Session:
        """A short-lived session with this user's cookies (closed by its caller)."""
        s = requests.Session()
        s.cookies.update(self.cookies)
        s.headers["Connection"] = "close"  # no pooled socket outlives the call
        return s

    def login(self) -> HubUser:
        with self._session() as s:
            self._login(s)
            self.cookies = s.cookies
        self.token = self.new_token(note="tests")
        return self

    def _login(self, s: requests.Session) -> None:
        s.get(f"{self.base}/hub/login", timeout=30)
        reply = s.post(
            f"{self.base}/hub/login",
            data={
                "username": self.name,
                "password": self.password,
                "_xsrf": s.cookies.get("_xsrf", ""),
            },
            timeout=30,
            allow_redirects=False,
        )
        assert reply.status_code in (302, 303), (reply.status_code, reply.text[:500])

    def new_token(self, *, note: str, expires_in: int | None = None) -> str:
        """A fresh API token of this user (made the way a user makes one, with the cookie)."""
        body: dict[str, Any] = {"note": note}
        if expires_in is not None:
            body["expires_in"] = expires_in
        with self._session() as s:
            reply = s.post(
                f"{self.base}/hub/api/users/{self.name}/tokens",
                json=body,
                headers={"X-XSRFToken": s.cookies.get("_xsrf", "")},
                timeout=30,
            )
        assert reply.status_code == 201, (reply.status_code, reply.text[:500])
        return str(reply.json()["token"])

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request with this user's token."""
        headers = dict(kwargs.pop("headers", {}) or {})
        headers.setdefault("Authorization", f"token {self.token}")
        headers.setdefault("Connection", "close")  # no pooled socket outlives the call
        with requests.Session() as s:
            return s.request(method, self.base + path, headers=headers, timeout=60, **kwargs)

    def start_server(self, timeout: float = 120.0) -> None:
        """Start this user's server (if needed) and wait until it answers."""
        reply = self.api("POST", f"/hub/api/users/{self.name}/server")
        assert reply.status_code in (201, 202, 400), (reply.status_code, reply.text[:500])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/hub/api/users/{self.name}").json()
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}'s server did not start within {timeout} s")

    def stop_server(self) -> None:
        self.api("DELETE", f"/hub/api/users/{self.name}/server")

    def kernel(self) -> Kernel:
        """A new kernel in this user's server."""
        reply = self.api("POST", f"/user/{self.name}/api/kernels", json={"name": "python3"})
        assert reply.status_code == 201, (reply.status_code, reply.text[:500])
        return Kernel(self, reply.json()["id"])
