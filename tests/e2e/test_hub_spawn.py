"""A spawn that fails, through the demo hub: the user is told why, nobody else notices.

The hub and browser fixtures are those of ``test_hub.py`` (one ``shiftdesk hub --demo``
for this module). Two users' servers cannot start, for reasons found on real machines:
bob's folder under the hub's state folder (``users/bob``) is a file, and viewer's folder
holds a file where the server keeps its runtime files, so that server dies while
starting. Each sees, within seconds, a page saying what failed and what to do; alice's
server, started at the same time, works; the hub keeps running; once bob's folder is
fixed, his server starts.
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tests.e2e import test_hub
from tests.e2e.test_hub import RunningHub, _login

#: test_hub.py's fixtures: the demo hub (one for this module) and Chromium
hub = test_hub.hub
browser = test_hub.browser

#: the start of every message about a server that cannot start
CANNOT_START = "Your server could not start"


def _failure_text(page: Any, timeout: float) -> str:
    """The page's text once it says the server could not start (error or pending page)."""
    page.get_by_text(CANNOT_START).first.wait_for(timeout=timeout * 1000)
    return str(page.inner_text("body"))


@pytest.mark.e2e
@pytest.mark.slow
def test_a_spawn_that_fails_tells_the_user_why_and_leaves_others_alone(
    hub: RunningHub, browser: Any, tmp_path: Path
) -> None:
    users = hub.state.resolve() / "users"
    (users / "bob").write_text("not a folder\n")
    (users / "viewer").mkdir()
    (users / "viewer" / ".local").write_text("not a folder either\n")
    pages: list[Any] = []

    def home(name: str) -> Any:
        page = _login(browser, hub, name, f"{name}-demo")
        pages.append(page)
        page.wait_for_url(f"{hub.url}/hub/home", timeout=30_000)
        return page

    def open_dashboard(page: Any) -> float:
        page.click(".sd-dashboard[data-dashboard='reflectometry'] a")
        return time.monotonic()

    try:
        # all three start at once: alice's server comes up while the others fail
        alice = home("alice")
        alice.goto(f"{hub.url}/hub/spawn/alice", timeout=30_000)
        viewer = home("viewer")
        viewer_clicked = open_dashboard(viewer)
        bob = home("bob")
        bob_clicked = open_dashboard(bob)

        text = _failure_text(bob, timeout=20)
        bob_seconds = time.monotonic() - bob_clicked
        assert f"its folder cannot be used ({users / 'bob'} is a file, not a folder)" in text
        assert "Ask the hub administrator to fix it" in text
        assert "Traceback" not in text and "didn't respond" not in text
        # the administrator fixes bob's folder; bob starts again (checked below)
        (users / "bob").unlink()
        bob.goto(f"{hub.url}/hub/spawn/bob", timeout=30_000)

        # viewer's server starts, dies on its runtime folder, and the hub says so at once
        # rather than after the minute it waits for a server to answer
        text = _failure_text(viewer, timeout=45)
        viewer_seconds = time.monotonic() - viewer_clicked
        assert "it stopped while starting (exit code 1)" in text
        assert "Ask the hub administrator to fix it" in text
        assert "Traceback" not in text
        print(f"failure shown after {bob_seconds:.1f} s (bob), {viewer_seconds:.1f} s (viewer)")

        # alice is not affected: her server answers under her name
        alice.wait_for_url(f"{hub.url}/user/alice/**", timeout=60_000)
        response = alice.goto(f"{hub.url}/user/alice/api/status")
        assert response is not None and response.status == 200, response and response.status

        # the hub is still up for everyone
        assert hub.proc.poll() is None
        with urllib.request.urlopen(f"{hub.url}/hub/api/", timeout=10) as resp:
            assert resp.status == 200

        # doing what the message says works: with the folder fixed, bob's server starts
        bob.wait_for_url(f"{hub.url}/user/bob/**", timeout=60_000)
        assert (users / "bob").is_dir()
    except BaseException:
        for i, page in enumerate(pages):
            with contextlib.suppress(Exception):
                page.screenshot(path=str(tmp_path / f"page{i}.png"), full_page=True)
        print(f"screenshots in {tmp_path}")
        raise
    finally:
        for page in pages:
            page.context.close()
