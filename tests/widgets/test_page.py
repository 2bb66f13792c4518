"""A dashboard's page: in Voilà the cell returns at once, the dashboard is built after it.

Headless tests of :class:`shiftdesk_widgets.page.Page` (in a Voilà kernel's loop or not, a
builder that fails, bad names), the dashboard notebooks' one cell, and the reflectometry
notebook in a real kernel as Voilà runs it: the cell returns before bqplot or SQLAlchemy
is imported; the dashboard is built after it without announcing its widgets one by one;
the state a page asks for (ipywidgets' control comm) holds the whole dashboard, every
reference in it resolved.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest

from shiftdesk_widgets.page import DASHBOARDS, Page

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


class Greeting(w.HTML):
    """A tiny view class for ``Page.start("module:Class")``."""

    @classmethod
    def start(cls, name: str, punctuation: str = ".") -> Greeting:
        return cls(f"hello {name}{punctuation}")


@pytest.fixture
def voila_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a kernel Voilà started, whose page has not loaded the widgets yet."""
    monkeypatch.setenv("VOILA_KERNEL_ID", "0a1b2c")
    monkeypatch.setattr(w.Widget, "_control_comm", None)


def test_without_an_event_loop_the_view_is_built_at_once(voila_kernel: None) -> None:
    view = w.HTML("the view")
    page = Page(lambda: view)
    assert page.view is view and page.error is None
    assert page.children == (view,)
    assert "sd-page" in page._dom_classes


@pytest.mark.parametrize("where", ["not voila", "page loaded"])
def test_outside_a_loading_voila_page_the_view_is_built_in_the_cell(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JupyterLab (no Voilà), or a page that has its widgets already: nothing gains from
    waiting, and a connected page must see every widget announced."""
    if where == "not voila":
        monkeypatch.delenv("VOILA_KERNEL_ID", raising=False)
    else:
        monkeypatch.setenv("VOILA_KERNEL_ID", "0a1b2c")
        monkeypatch.setattr(w.Widget, "_control_comm", object())

    async def cell() -> None:
        page = Page(lambda: w.HTML("the view"))
        assert page.view is not None and page.children == (page.view,)

    asyncio.run(cell())


def test_in_a_voila_kernel_the_view_is_built_after_the_cell(voila_kernel: None) -> None:
    built: list[str] = []

    def build() -> w.Widget:
        built.append("built")
        return w.HTML("the view")

    async def cell() -> None:
        page = Page(build, title="test dashboard")
        # the cell goes on (and returns) before the view exists: the page shows a note
        assert built == [] and page.view is None
        (loading,) = page.children
        assert "Opening the test dashboard…" in loading.value
        await asyncio.sleep(0)  # the kernel's loop runs once the cell returned
        assert built == ["built"]
        assert page.children == (page.view,)
        assert loading.comm is None  # the note's widget is closed, not left behind
        page._build_and_show()  # built once
        assert built == ["built"]

    asyncio.run(cell())


def test_a_failing_build_shows_why_on_the_page_and_does_not_reach_the_loop(
    voila_kernel: None,
) -> None:
    errors: list[Any] = []

    def build() -> w.Widget:
        raise RuntimeError("database <locked> by another process")

    async def cell() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        page = Page(build, title="run table")
        await asyncio.sleep(0)
        assert page.view is None
        assert isinstance(page.error, RuntimeError)
        (message,) = page.children
        text = message.value
        assert "The run table could not be opened" in text
        assert "database &lt;locked&gt; by another process" in text  # escaped, not markup
        assert "<locked>" not in text
        assert "Reload the page" in text
        assert "Traceback" in text  # the details, folded
        page._build_and_show()  # a failed page does not try again behind the user's back
        assert page.children == (message,)

    asyncio.run(cell())
    assert errors == []


def test_start_builds_a_named_or_given_view_class_with_its_arguments() -> None:
    page = Page.start(f"{__name__}:Greeting", "shift", punctuation="!")
    assert isinstance(page.view, Greeting)
    assert page.view.value == "hello shift!"


@pytest.mark.parametrize("name", ["reflectometrie", "", "shiftdesk_widgets.daq", ":Greeting"])
def test_start_refuses_an_unknown_dashboard_in_the_cell(name: str) -> None:
    with pytest.raises(ValueError, match="reflectometry") as info:
        Page.start(name)
    assert "module:Class" in str(info.value)


def test_in_the_cell_a_missing_module_or_class_is_raised_there() -> None:
    """(JupyterLab, a script): the traceback belongs under the cell."""
    with pytest.raises(ModuleNotFoundError, match=r"shiftdesk_widgets\.nowhere"):
        Page.start("shiftdesk_widgets.nowhere:View")
    with pytest.raises(AttributeError, match="Nobody"):
        Page.start(f"{__name__}:Nobody")


def test_after_the_cell_a_missing_module_is_shown_on_the_page(voila_kernel: None) -> None:
    async def cell() -> Page:
        page = Page.start("shiftdesk_widgets.nowhere:View")
        await asyncio.sleep(0)
        return page

    page = asyncio.run(cell())
    assert isinstance(page.error, ModuleNotFoundError)
    assert "The View could not be opened" in page.children[0].value
    assert "shiftdesk_widgets.nowhere" in page.children[0].value


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_dashboard_names_a_view_class_with_start(name: str) -> None:
    import importlib

    module, _, cls = DASHBOARDS[name].partition(":")
    assert callable(getattr(importlib.import_module(module), cls).start)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_each_dashboard_notebook_is_one_cell_opening_its_page(name: str) -> None:
    notebook = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    assert all(c.get("outputs", []) == [] for c in notebook["cells"])
    (code,) = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code.startswith("from shiftdesk_widgets.page import Page\n\n")
    assert f'page = Page.start("{name}"' in code
    assert code.endswith("\npage")


def _run(client: Any, code: str) -> tuple[str, list[dict[str, Any]]]:
    """Run ``code`` in the kernel: its stdout (fails on an error), and every message
    the kernel published until it was done with it (whatever their parent)."""
    msg_id = client.execute(code)
    out: list[str] = []
    messages: list[dict[str, Any]] = []
    while True:
        msg = client.get_iopub_msg(timeout=120)
        messages.append(msg)
        mine = msg["parent_header"].get("msg_id") == msg_id
        if mine and msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        if mine and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = client.get_shell_msg(timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out), messages


#: what the page's JavaScript gets for its ``request_states``, checked in the kernel:
#: the page's box shows the dashboard, and every widget a state names is in the reply
_STATES_PROBE = """
import json, re
from ipywidgets import Widget
reply = []
class _Comm:  # stands for the page's control comm: collects the kernel's answer
    def send(self, data, buffers=None):
        reply.append(data)
Widget._control_comm = _Comm()
Widget._handle_control_comm_msg({"content": {"data": {"method": "request_states"}}})
states = reply[0]["states"]
refs = set(re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(states)))
root = states[page.model_id]["state"]["children"]
print(json.dumps({
    "root": root, "view": "IPY_MODEL_" + page.view.model_id,
    "missing": sorted(refs - set(states)), "count": len(states),
    "dashboard": "sd-reflectometry-dashboard" in page.view._dom_classes,
}))
"""


def test_in_voila_the_notebook_returns_first_and_the_page_gets_the_whole_dashboard(
    tmp_path: Path,
) -> None:
    """The reflectometry notebook's cell in an ipykernel, as Voilà runs it: it returns
    without importing bqplot, pandas or SQLAlchemy; the dashboard is built after it
    without a ``comm_open`` per widget; the state the page asks for is all of it."""
    import os

    from jupyter_client.manager import start_new_kernel

    notebook = json.loads((NOTEBOOKS / "reflectometry.ipynb").read_text())
    (code,) = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    env = {**os.environ, "VOILA_KERNEL_ID": "test-kernel"}
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        probe = (
            "\nimport sys\nprint(sorted(m for m in ('bqplot', 'sqlalchemy') if m in sys.modules))"
        )
        # the notebook's cell, then (in the same cell) what it has imported so far
        printed, first = _run(kc, code + probe)
        assert printed.strip() == "[]"
        # the next cell runs after the build: it finds the dashboard in the page
        printed, second = _run(kc, _STATES_PROBE)
        shown = json.loads(printed)
        assert shown["dashboard"] and shown["root"] == [shown["view"]]
        assert shown["missing"] == [] and shown["count"] > 100
        # announced: the page and its note (in the cell), none of the dashboard's widgets
        opened = [
            m["content"]["data"]["state"]["_model_name"]
            for m in first + second
            if m["msg_type"] == "comm_open"
        ]
        assert sorted(opened) == ["HTMLModel", "HTMLStyleModel", "LayoutModel",
                                  "LayoutModel", "VBoxModel"]  # fmt: skip
        # and after the cell, while the dashboard was built, no widget message at all
        # (a page connecting meanwhile must not get part of the picture)
        assert [m["msg_type"] for m in second if m["msg_type"].startswith("comm")] == []
        # once built, the dashboard's widgets send their changes to the page as usual
        _, third = _run(kc, "page.view.messages.value = 'after the build'")
        sent = [m["content"]["data"] for m in third if m["msg_type"] == "comm_msg"]
        assert {
            "method": "update",
            "state": {"value": "after the build"},
            "buffer_paths": [],
        } in sent
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
