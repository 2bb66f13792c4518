"""Every dashboard, as a shift crew meets it, in a real browser at three widths.

Each dashboard is served by standalone Voilà with shiftdesk's page options and loaded in
Chromium at 1280, 1600 and 1920 px wide. A load fails on any console error or warning, any
uncaught error, any request to a host other than the page's own (control-room networks
are often offline), and any label, value, button or tab title cut short by its box, on the
first screen and in every tab. Then the page loses its kernel, as when a server is culled,
stopped or restarted: within 5 s it must say so unmistakably (a banner over a veil that
keeps clicks off stale controls), and recover by itself when the server answers again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e._browser import ROOT, chromium, voila
from tests.e2e._shiftready import WIDTHS, clipped, connection_banner, wait_banner, watch

#: notebook → a selector present once the dashboard has drawn its first screen
DASHBOARDS = {
    "catalog": ".sd-cat-view",
    "datalab": ".sd-dl-view",
    "reflectometry": ".sd-refl-plot",
    "daq": ".sd-daq-servers",
    "runtable": ".sd-rt-view",
}
#: the promise to a shift crew: a lost connection shows within this many seconds
SHOWN_WITHIN = 5.0
#: the id of the page's kernel, from the page's own configuration
KERNEL_ID = "() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
#: true once the page runs on a kernel other than ``first`` (a reload streams the page in)
NEW_KERNEL = """(first) => {
    const el = document.getElementById('jupyter-config-data');
    try { return JSON.parse(el.textContent).kernelId !== first; } catch (e) { return false; }
}"""
#: every tab title on the page that is shown (tabs inside tabs appear once theirs is open)
TAB_TITLES = """() => [...document.querySelectorAll('.lm-TabBar-tab')]
    .filter(t => t.offsetParent !== null).map(t => t.textContent.trim())"""


@contextlib.contextmanager
def _dashboard(name: str, tmp: Path) -> Iterator[str]:
    data = tmp / f"{name}-data"
    data.mkdir()
    with voila(ROOT / "notebooks" / f"{name}.ipynb", data, tmp / f"{name}-voila.log") as url:
        yield url


def _open(browser: Any, url: str, ready: str, width: int) -> tuple[Any, Any]:
    page = browser.new_page(viewport={"width": width, "height": 1000})
    seen = watch(page, url)
    page.goto(url, timeout=120_000)
    page.wait_for_selector(ready, timeout=120_000)
    page.wait_for_timeout(1500)  # figures draw after the widgets show
    return page, seen


def _open_panels(page: Any, where: str, found: dict[str, list[dict[str, Any]]]) -> None:
    """Open each panel behind a toggle button here (columns, plots, expert mode), record
    what it shows clipped, and close it again."""
    closed = ".widget-toggle-button:visible:not(.mod-active):not([disabled])"
    titles = [t.strip() for t in page.locator(closed).all_inner_texts()][:10]
    for title in titles:
        toggle = page.locator(closed, has_text=title).first
        if not toggle.count():
            continue
        toggle.click()
        page.wait_for_timeout(700)
        found[f"{where}, panel {title!r} open"] = clipped(page)
        page.locator(".widget-toggle-button.mod-active", has_text=title).first.click()
        page.wait_for_timeout(300)


def _visit_tabs(page: Any) -> dict[str, list[dict[str, Any]]]:
    """Open every tab (and the tabs inside them) and the panels in each once; what each
    showed clipped."""
    found: dict[str, list[dict[str, Any]]] = {"first screen": clipped(page)}
    _open_panels(page, "first screen", found)
    done: set[str] = set()
    for _ in range(30):  # a bound: tabs inside tabs are discovered as they open
        todo = [t for t in page.evaluate(TAB_TITLES) if t not in done]
        if not todo:
            break
        title = todo[0]
        done.add(title)
        tab = page.locator(".lm-TabBar-tab:visible", has_text=title).first
        tab.click()
        page.wait_for_timeout(700)
        found[f"tab {title!r}"] = clipped(page)
        _open_panels(page, f"tab {title!r}", found)
    return found


def _delete_kernel(url: str, kernel_id: str) -> None:
    """Shut the kernel down through the server's API, as culling or an admin does."""
    # the server wants a cookie and a header that agree (tornado's double-submit XSRF check)
    request = urllib.request.Request(
        f"{url}api/kernels/{kernel_id}", method="DELETE",
        headers={"Cookie": "_xsrf=shift-ready", "X-XSRFToken": "shift-ready"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204


def _lose_the_kernel(page: Any, url: str, name: str, shots: Path) -> None:
    """Shut the page's kernel down; the page must say so at once, then recover."""
    assert connection_banner(page) is None, "a banner on a live page"
    first_kernel = page.evaluate(KERNEL_ID)
    # the server culls (or an admin stops) the page's kernel: gone once the call returns
    _delete_kernel(url, first_kernel)
    lost_at = time.monotonic()
    banner = wait_banner(page, SHOWN_WITHIN)
    took = time.monotonic() - lost_at
    page.screenshot(path=str(shots / f"{name}-lost.png"))
    assert banner is not None, f"no banner {SHOWN_WITHIN:g} s after the kernel was deleted"
    assert "nothing on this page is live" in banner["text"] or "ended" in banner["text"]
    assert "Last update from the server" in banner["text"], banner
    # the veil keeps clicks off the stale controls
    veiled = page.evaluate("() => document.elementFromPoint(innerWidth / 2, innerHeight / 2).id")
    assert veiled in ("sd-connection-veil", "sd-connection"), veiled
    print(f"{name}: banner after {took:.2f} s: {banner['text']}")

    # the server answers without the kernel: the page reloads with a new, live one
    page.wait_for_function(NEW_KERNEL, arg=first_kernel, timeout=60_000)
    page.wait_for_selector(DASHBOARDS[name], timeout=120_000)
    page.wait_for_timeout(1000)
    assert connection_banner(page) is None, "the banner stayed after the page recovered"


@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_clean_unclipped_and_shows_a_lost_kernel(name: str, tmp_path: Path) -> None:
    problems: list[str] = []
    with _dashboard(name, tmp_path) as url, chromium() as browser:
        for width in WIDTHS:
            page, seen = _open(browser, url, DASHBOARDS[name], width)
            try:
                for where, cut in _visit_tabs(page).items():
                    problems += [
                        f"{width} px, {where}: {c['text']!r} needs {c['content']} px, "
                        f"has {c['box']} px ({c['where']})"
                        for c in cut
                    ]
                page.wait_for_timeout(500)
                problems += [f"{width} px: {p}" for p in seen.problems()]
            finally:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(tmp_path / f"{name}-{width}.png"), full_page=True)
                if width != WIDTHS[-1]:
                    page.close()
        assert not problems, f"{name} dashboard:\n" + "\n".join(problems)
        _lose_the_kernel(page, url, name, tmp_path)


def _kernel_pids(voila_pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(voila_pid)],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    return [int(line.split()[0]) for line in out.splitlines() if "ipykernel" in line]


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_a_stopped_server_and_a_dead_kernel_show_at_once(tmp_path: Path) -> None:
    """The two other ways a page loses its kernel: the kernel process dies (the server
    restarts it, without the page's widgets), and the whole server stops."""
    name = "daq"
    with _dashboard(name, tmp_path) as url, chromium() as browser:
        page, _seen = _open(browser, url, DASHBOARDS[name], 1600)
        voila_pid = int(
            subprocess.run(
                ["pgrep", "-f", "-n", f"voila.*--port={url.rsplit(':', 1)[1].strip('/')}"],
                capture_output=True, text=True, check=True,
            ).stdout.split()[0]
        )  # fmt: skip
        kernels = _kernel_pids(voila_pid)
        assert kernels, "no kernel process under Voilà"
        lost_at = time.monotonic()
        for pid in kernels:
            os.kill(pid, signal.SIGKILL)
        banner = wait_banner(page, SHOWN_WITHIN)
        assert banner is not None, f"no banner {SHOWN_WITHIN:g} s after the kernel died"
        print(f"dead kernel: banner after {time.monotonic() - lost_at:.2f} s: {banner['text']}")
        assert banner["state"] == "kernel-lost", banner
        # recovers: a reload with a new kernel
        page.wait_for_selector("#sd-connection", state="detached", timeout=60_000)
        page.wait_for_selector(DASHBOARDS[name], timeout=120_000)

        # now the whole server goes away
        page.wait_for_timeout(1000)
        lost_at = time.monotonic()
        os.kill(voila_pid, signal.SIGTERM)
        banner = wait_banner(page, SHOWN_WITHIN)
        page.screenshot(path=str(tmp_path / "server-stopped.png"))
        assert banner is not None, f"no banner {SHOWN_WITHIN:g} s after the server stopped"
        print(f"stopped server: banner after {time.monotonic() - lost_at:.2f} s: {banner['text']}")
        assert "Last update from the server" in banner["text"]
