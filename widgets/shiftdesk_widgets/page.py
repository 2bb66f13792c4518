"""A dashboard's page: on screen at once, with the dashboard built into it after the cell.

In Voilà the page's HTML is sent once the notebook's cell returns; the browser then spends
most of a second loading its JavaScript before it asks the kernel for the widgets. A
notebook that imports and builds its dashboard in the cell makes those two waits follow
each other. In a Voilà kernel a :class:`Page` is a small box that the cell returns at
once; the dashboard's imports (bqplot, pandas, SQLAlchemy), its database and its widgets
are built on the kernel's event loop right after the cell, while the browser loads the
page. The kernel handles one message at a time, so the page's request for the widgets'
state is answered once the dashboard is in the box: the browser gets the whole dashboard
in one go, as before, only sooner.

The widgets built after the cell are not announced one by one (no ``comm_open``), and
nothing about them or the page is sent while it is built: the page's request for the
state is how the browser learns of them. The browser may connect while the dashboard is
being built (Jupyter server forwards the kernel's messages from its first one on), and an
announcement of a box whose children were announced before it connected makes a model the
browser can never complete (ipywidgets' manager keeps it, broken); an update for a comm
it does not know yet is an error in its console.

Elsewhere (JupyterLab, a script, plain pytest) the dashboard is built at once, in the cell.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import importlib
import logging
import os
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as w

log = logging.getLogger(__name__)

#: dashboard name → ``"module:Class"`` whose ``start(*args, **kwargs)`` builds it
DASHBOARDS: dict[str, str] = {
    "reflectometry": "shiftdesk_widgets.reflectometry:ReflectometryDashboard",
    "daq": "shiftdesk_widgets.daq:DAQDashboard",
    "runtable": "shiftdesk_widgets.runtable.view:RunTableView",
    "catalog": "shiftdesk_widgets.catalog.view:CatalogView",
    "datalab": "shiftdesk_widgets.datalab.dashboard:DatalabView",
}

#: what a page says it is opening, by dashboard name
TITLES: dict[str, str] = {
    "reflectometry": "reflectometry dashboard",
    "daq": "DAQ run control",
    "runtable": "run table",
    "catalog": "reference-file catalog",
    "datalab": "data sessions",
}

_STYLE = """<style>
.sd-page-loading { color: #555; font-size: 1.1em; padding: 0.5em 0; }
.sd-page-error { border-left: 4px solid #c62828; padding: 0.4em 0.8em; background: #fdecea; }
.sd-page-error { line-height: 1.5; }
.sd-page-error pre { white-space: pre-wrap; font-size: 0.85em; line-height: 1.3; }
</style>"""


class Page(w.VBox):
    """A box that shows the widget ``build()`` returns, built after the current cell.

    Parameters
    ----------
    build : callable
        Makes the view (no arguments). In a Voilà kernel whose page has not loaded yet
        it runs on the event loop once the cell that made the page has returned;
        elsewhere at once.
    title : str, optional
        What the page shows until the view is there ("Opening the <title>…").

    Raises
    ------
    Exception
        Whatever ``build()`` raises, when it runs in the cell; after the cell the page
        shows it instead (and :attr:`error` holds it).

    Attributes
    ----------
    view : ipywidgets.Widget or None
        The view, once built.
    error : Exception or None
        Why the view could not be built; the page then shows it.

    Examples
    --------
    A dashboard notebook's whole cell::

        from shiftdesk_widgets.page import Page

        page = Page.start("reflectometry")
        page
    """

    def __init__(self, build: Callable[[], w.Widget], *, title: str = "dashboard") -> None:
        self.view: w.Widget | None = None
        self.error: Exception | None = None
        self._builder = build
        self._title = title
        self._loading = w.HTML(
            f'{_STYLE}<div class="sd-page-loading">Opening the {html.escape(title)}…</div>'
        )
        super().__init__([self._loading])
        self.add_class("sd-page")
        if _page_not_loaded_yet():
            asyncio.get_running_loop().call_soon(self._build_after_cell)
        else:
            try:
                self.view = self._show(self._builder())
            except BaseException:
                self._loading.close()
                self.close()
                raise

    @classmethod
    def start(cls, dashboard: str, *args: Any, **kwargs: Any) -> Page:
        """The page of a dashboard: ``dashboard`` is a name of :data:`DASHBOARDS` or a
        ``"module:Class"``; the page shows ``Class.start(*args, **kwargs)``.

        Raises
        ------
        ValueError
            ``dashboard`` is neither a known name nor of the form ``"module:Class"``
            (raised at once, in the cell).
        """
        target = DASHBOARDS.get(dashboard, dashboard)
        module, _, name = target.partition(":")
        if not module or not name:
            known = ", ".join(sorted(DASHBOARDS))
            raise ValueError(
                f"no dashboard {dashboard!r}: give one of {known}, "
                "or a view class as 'module:Class' (its start() builds the dashboard)"
            )

        def build() -> w.Widget:
            view_class = getattr(importlib.import_module(module), name)
            view: w.Widget = view_class.start(*args, **kwargs)
            return view

        return cls(build, title=TITLES.get(dashboard, name))

    def _show(self, view: w.Widget) -> w.Widget:
        """Show ``view`` in the page, in place of what it showed; returns it."""
        self.children = [view]
        self._loading.close()
        return view

    def _build_after_cell(self) -> None:
        with _unannounced(self, self._loading):
            self._build_and_show()

    def _build_and_show(self) -> None:
        """Build the view now (once) and show it, or show why it could not be built."""
        if self.view is not None or self.error is not None:
            return
        try:
            view = self._builder()
        except Exception as exc:  # shown on the page: the cell has returned
            log.exception("building the %s failed", self._title)
            self.error = exc
            detail = "".join(traceback.format_exception(exc))
            self.children = [
                w.HTML(
                    f'{_STYLE}<div class="sd-page-error"><b>The {html.escape(self._title)} '
                    f"could not be opened:</b> {html.escape(str(exc) or type(exc).__name__)}"
                    "<br>Reload the page to try again; if it fails again, give this to "
                    "whoever runs shiftdesk here."
                    f"<details><summary>details</summary><pre>{html.escape(detail)}</pre>"
                    "</details></div>"
                )
            ]
            self._loading.close()
        else:
            self.view = self._show(view)


def _page_not_loaded_yet() -> bool:
    """In a Voilà kernel, on its event loop, before the page has asked for the widgets'
    state (its control comm is not open): building after the cell is safe and gains."""
    if not os.environ.get("VOILA_KERNEL_ID"):  # set by Voilà before the notebook runs
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return w.Widget._control_comm is None


@contextlib.contextmanager
def _unannounced(*widgets: w.Widget) -> Iterator[None]:
    """Inside, the widgets made get comms registered with the kernel but not announced
    (no ``comm_open``), and neither they nor ``widgets`` send anything (updates, closes):
    the page gets the state of them all when it asks for it, after this.

    Their comms have no kernel meanwhile, which is how ipywidgets knows not to serialize
    and send their changes; they get it back (ipykernel's) on the way out.
    """
    import comm

    silenced: list[tuple[Any, Any]] = []

    def silence(made: Any) -> None:
        silenced.append((made, getattr(made, "kernel", None)))
        made.publish_msg = _drop  # a close, or a send ipywidgets does not check
        if hasattr(made, "kernel"):
            made.kernel = None

    create = comm.create_comm

    def create_quietly(**kwargs: Any) -> Any:
        """The comm ipywidgets' ``Widget.open`` asks for, made without its ``comm_open``
        (``open`` still serializes the state once: that makes the widget's default
        layout and style, which the page's state request must not meet half-made)."""
        made = create(primary=False, **kwargs)  # not primary: made without opening its peer
        comm.get_comm_manager().register_comm(made)
        silence(made)
        return made

    for widget in widgets:
        if widget.comm is not None:
            silence(widget.comm)
    comm.create_comm = create_quietly
    try:
        yield
    finally:
        comm.create_comm = create
        kernel = _kernel()
        for made, had in silenced:
            vars(made).pop("publish_msg", None)  # the class's again
            if hasattr(made, "kernel"):
                made.kernel = had if had is not None else kernel


def _kernel() -> Any:
    """The running ipykernel, or None."""
    from ipykernel.kernelbase import Kernel

    return Kernel.instance() if Kernel.initialized() else None


def _drop(*args: Any, **kwargs: Any) -> None:
    """A comm's message the page must not get (it asks for the state instead)."""
