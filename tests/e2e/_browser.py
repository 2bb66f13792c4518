"""What the browser tests share: Debian's Chromium driven by Playwright, and Voilà on a notebook.

The tests never download a browser: Playwright launches ``/usr/bin/chromium`` with the flags
this machine needs (without the background-networking flags Chromium's own connections are
refused by the closed network, many at a time).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests._services import service_missing

from shiftdesk.hub.config import voila_args

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Headings on the page (h1, h2), trimmed
HEADINGS = "() => [...document.querySelectorAll('h1, h2')].map(h => h.textContent.trim())"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until ``url`` answers 200; fail with the server's log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args!r} exited with code {proc.returncode}:\n{log.read_text()}")
        # refused / reset while it starts
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"no answer from {url} in {timeout:g} s:\n{log.read_text()}")
        time.sleep(0.2)


@contextlib.contextmanager
def voila(notebook: Path, data: Path, log: Path) -> Iterator[str]:
    """Run Voilà on ``notebook`` with ``data`` as shiftdesk's data folder; yields the page URL.

    The environment is the test's own (so ``SHIFTDESK_SETTINGS`` and the like set with
    monkeypatch reach the kernel), without a database URL or a hub user.
    """
    executable = Path(sys.executable).with_name("voila")
    if not executable.exists():
        service_missing(f"voila is not installed next to {sys.executable}: pip install voila")
    env = dict(os.environ, SHIFTDESK_DATA_DIR=str(data), PYTHONUNBUFFERED="1")
    for name in ("SHIFTDESK_DATABASE_URL", "JUPYTERHUB_USER", "SHIFTDESK_ADMINS"):
        env.pop(name, None)
    port = free_port()
    where = notebook.relative_to(ROOT) if notebook.is_relative_to(ROOT) else notebook
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(executable), str(where), f"--port={port}",
             "--no-browser", "--Voila.ip=127.0.0.1", *voila_args()],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        # a static file: a GET of the page itself would start a kernel of its own
        wait_for_http(f"{base}/voila/static/favicon.ico", proc, log, timeout=60)
        yield f"{base}/"
    finally:
        proc.terminate()  # voila shuts its kernels (and what they started) down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        print(f"--- voila log ({log}) ---\n{log.read_text(errors='replace')[-5000:]}")


def require_playwright() -> Any:
    """Playwright's ``sync_playwright``, after checking Chromium is installed."""
    if not CHROMIUM.exists():
        service_missing(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing('playwright is not installed: pip install -e ".[test]"')
    return sync_playwright


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, launched by Playwright, closed afterwards."""
    sync_playwright = require_playwright()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def browser_page(
    pw: Any, screenshot: Path, *, width: int = 1600, height: int = 1200
) -> Iterator[tuple[Any, list[str]]]:
    """A Chromium page and the list its page errors go to; a full-page screenshot on failure."""
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        page = browser.new_page(viewport={"width": width, "height": height})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield page, errors
        except BaseException:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(screenshot), full_page=True)
                print(f"screenshot: {screenshot}")
            raise
    finally:
        browser.close()
