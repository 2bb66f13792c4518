"""A closed dashboard tab ends its kernel (standalone Voilà, shiftdesk's page template).

Voilà's page asks its server to shut the kernel down when the tab closes (a beacon to
``voila/api/shutdown`` carrying the ``_xsrf`` cookie's value). Standalone Voilà never set
that cookie, so the server refused the request (403) and every closed page's kernel ran
on, pollers and all, until the server stopped. The template now sets the cookie.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
from tests.e2e._browser import browser_page, require_playwright, voila


def _kernels_of(port: str) -> list[int]:
    """Kernel processes whose parent is the Voilà server listening on ``port``."""
    server = None
    procs: dict[int, tuple[int, bytes]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        procs[int(entry)] = (ppid, cmdline)
        if f"--port={port}".encode() in cmdline:
            server = int(entry)
    assert server is not None, f"no Voilà server on port {port}"
    kernels = [pid for pid, (ppid, cmd) in procs.items()
               if ppid == server and b"ipykernel_launcher" in cmd]  # fmt: skip
    return kernels


def _until(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_leaving_the_page_ends_its_kernel(tmp_path: Path) -> None:
    notebook = tmp_path / "page.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import ipywidgets as w\nw.HTML('<b class=\"mark\">up</b>')")
    ]
    nbformat.write(nb, notebook)
    sync_playwright = require_playwright()
    log = tmp_path / "voila.log"
    with (
        voila(notebook, tmp_path / "data", log) as url,
        sync_playwright() as pw,
        browser_page(pw, tmp_path / "page.png") as (page, errors),
    ):
        port = url.rsplit(":", 1)[1].strip("/")
        page.goto(url)
        page.wait_for_selector(".mark", timeout=120_000)
        assert len(_kernels_of(port)) == 1
        assert any(c["name"] == "_xsrf" for c in page.context.cookies())
        page.goto("about:blank")  # the user leaves the page (as a closed tab, a reload)
        assert _until(lambda: not _kernels_of(port), 30), "the left page's kernel still runs"
        assert errors == []
    assert "403 POST /voila/api/shutdown" not in log.read_text(errors="replace")
