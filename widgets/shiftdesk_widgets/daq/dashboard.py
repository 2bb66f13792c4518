"""The DAQ shift dashboard: run information, ECC servers, data routers, log, system buttons.

Everything shown comes from the stored state (:meth:`DAQSystem.snapshot`), read by an
asyncio :class:`~shiftdesk_widgets._async.Ticker` on the kernel's loop; the hardware is
polled by the core's poller, never by the view. Buttons hand their call to a background
thread and return at once; the outcome is shown by the next tick.
"""

from __future__ import annotations

import html
import os
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from shiftdesk.daq.commands import CommandHandle
from shiftdesk.daq.poller import Poller as StatePoller
from shiftdesk.daq.poller import ensure_poller
from shiftdesk.daq.snapshot import Snapshot
from shiftdesk.daq.system import DAQSystem
from shiftdesk_widgets._async import Ticker, tick_until
from shiftdesk_widgets.daq._common import Background, classed, error_text, message_html
from shiftdesk_widgets.daq.controls import SystemButtons
from shiftdesk_widgets.daq.demo import Demo
from shiftdesk_widgets.daq.log_panel import LogPanel
from shiftdesk_widgets.daq.routers import RouterTable
from shiftdesk_widgets.daq.run_info import RunInfo
from shiftdesk_widgets.daq.servers import ServerTable

if TYPE_CHECKING:
    from shiftdesk_widgets.daq.runsheet import RunSheetEditor

#: Seconds between two reads of the stored state (the core's poller period adds to it).
DEFAULT_INTERVAL = 0.5
#: Ticks between reloads of the run sheet and of the user's rights (slow-changing).
SLOW_EVERY = 10
#: The dashboard's tabs.
TAB_TITLES = ("Run control", "Run sheet")


class DAQDashboard(w.VBox):
    """The shift crew's view of the active experiment's DAQ.

    Parameters
    ----------
    system : DAQSystem, optional
        The system to show (default: the active experiment, as the current user).
    interval : float
        Seconds between reads of the stored state (≤ 1 s keeps changes visible within
        the 2 s the shift crews are promised, with the core poller's period).
    state_poller : shiftdesk.daq.poller.Poller, optional
        A core poller this dashboard owns (stopped by :meth:`close`).
    """

    def __init__(
        self,
        system: DAQSystem | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
        state_poller: StatePoller | None = None,
    ) -> None:
        self.system = system or DAQSystem()
        self.state_poller = state_poller
        self.background = Background()
        self.can_operate = self.system.can_operate
        self.snapshot: Snapshot | None = None
        self.ticks = 0
        self._asked_configs = False
        self.demo: Demo | None = None
        #: The servers are simulated (the demo): the page says so.
        self.simulated = False
        self._following: list[tuple[str, CommandHandle]] = []

        self.messages = classed(w.HTML(), "sd-daq-messages")
        self.expert = classed(
            w.ToggleButton(description="Expert", icon="user-secret",
                           tooltip="per-server commands"),
            "sd-daq-expert-toggle",
        )  # fmt: skip
        self.expert.observe(lambda _c: self.refresh(), "value")
        self.run_info = RunInfo(
            self._set_number, self._set_header, self.edit_runsheet, self._last_run
        )
        self.system_buttons = SystemButtons(self.system_command)
        self.servers = ServerTable(
            self.select_config, self.refresh_configs, self.server_command, self.system.server_log
        )
        self.routers = RouterTable()
        self.log_panel = LogPanel()
        # the Run sheet tab is built when first picked (or :attr:`runsheet` read): ~100
        # widgets, a plot and the run sheet's read fewer before the page shows
        self._runsheet: RunSheetEditor | None = None
        control = w.VBox(
            [
                self.run_info,
                self.system_buttons,
                w.HBox(
                    [w.HTML("<h4>ECC servers</h4>"), self.expert],
                    layout=w.Layout(align_items="center", grid_gap="16px"),
                ),
                self.servers,
                w.HTML("<h4>Data routers</h4>"),
                self.routers,
                self.log_panel,
            ]
        )
        self.tabs = classed(
            w.Tab([control, w.VBox()], titles=TAB_TITLES, selected_index=0), "sd-daq-tabs"
        )
        self.tabs.observe(self._on_tab, "selected_index")
        self.who = classed(w.HTML(), "sd-daq-user")
        self._show_user()
        super().__init__([self.who, self.messages, self.tabs])
        classed(self, "sd-daq-dashboard")
        if not self.can_operate:
            self.message(
                "info",
                "you may watch this experiment; only its operators may send commands "
                "or edit the run sheet",
            )
        self.poller = Ticker(self.tick, interval)
        self.tick()
        self.poller.start()

    @classmethod
    def start(cls, **kwargs: Any) -> DAQDashboard:
        """The dashboard for the configured experiment, or the demo when there is none.

        With an active experiment, the core poller runs in this kernel when no
        ``shiftdesk daq poll`` is running (:func:`~shiftdesk.daq.poller.ensure_poller`).
        Without one, simulated ECC servers are started
        (:func:`~shiftdesk_widgets.daq.demo.start_demo`) so there is something to operate.
        In a user server of ``shiftdesk hub --demo`` (``SHIFTDESK_DAQ_HUB_DEMO=1``) the
        hub's services run the simulated servers and the poller: the dashboard watches
        that shared system and never starts servers of its own.
        """
        from shiftdesk.daq.experiment import active_experiment
        from shiftdesk.errors import NotFound
        from shiftdesk.storage import get_database
        from shiftdesk_widgets.daq.demo import DEMO_EXPERIMENT, start_demo

        if os.environ.get("SHIFTDESK_DAQ_HUB_DEMO") == "1":
            # ``shiftdesk hub --demo``: the hub's services run the simulated servers and
            # the poller for everyone; watch that shared system, never start another.
            from shiftdesk.daq.routers import LocalRouters

            deadline = time.monotonic() + 30
            while True:  # the hub's daq-simulator service may still be seeding it
                try:
                    shared = DAQSystem(routers=LocalRouters())
                    break
                except NotFound:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            ensure_poller(shared.database)  # only while the hub's poller is down
            return cls._simulated(cls(shared, **kwargs))
        try:
            name: str | None = active_experiment(get_database()).name
        except NotFound:
            name = None
        if name in (None, DEMO_EXPERIMENT):
            from shiftdesk.daq.routers import LocalRouters

            if name is not None:
                shared = DAQSystem(routers=LocalRouters())
                if shared.snapshot().poller_alive:  # another kernel runs the demo: watch it
                    return cls._simulated(cls(shared, **kwargs))
            demo = start_demo()
            try:
                dashboard = cls(demo.system, state_poller=demo.poller, **kwargs)
            except BaseException:
                demo.stop()
                raise
            dashboard.demo = demo
            return cls._simulated(dashboard)
        system = DAQSystem()
        # This process polls only when no ``shiftdesk daq poll`` does (shared per process:
        # not this view's to stop).
        ensure_poller(system.database)
        return cls(system, **kwargs)

    @staticmethod
    def _simulated(dashboard: DAQDashboard) -> DAQDashboard:
        dashboard.simulated = True
        dashboard._show_user()
        return dashboard

    def _show_user(self) -> None:
        """The page's one heading, who is watching and whether they may operate."""
        who = html.escape(str(self.system.identity))
        mode = "operator" if self.can_operate else "read-only"
        demo = " · demo: the ECC servers are simulated" if self.simulated else ""
        self.who.value = f"<h2>DAQ shift</h2><small>user: {who} ({mode}){demo}</small>"

    # -- messages ------------------------------------------------------------------------
    def message(self, kind: str, text: str) -> None:
        """Show one message (info, warning or error) at the top."""
        self.messages.value = message_html(kind, text)

    # -- actions (return at once; outcomes shown by the tick) ----------------------------
    def _submit(
        self, label: str, call: Any, done: str | None = None, outcome: str | None = None
    ) -> None:
        """Run ``call`` in the background; say ``label…`` now and ``done`` when sent.

        A command's outcome is said when it ends, as ``outcome: <its message>``
        (``label`` by default): ``Describe all: done in 1.2 s``.
        """
        self.message("info", f"{label}…")

        def ok(result: Any) -> None:
            if isinstance(result, CommandHandle):  # its outcome is shown when it ends
                self._following.append((outcome or label, result))
            self.message("info", done or f"{label}: sent")

        self.background.submit(label, call, ok)
        self._safely(self.refresh)  # buttons turn off at once while the call is on its way

    def _safely(self, action: Any) -> None:
        try:
            action()
        except Exception as exc:  # a locked or missing database must not end the polling
            self.message("error", f"cannot read the DAQ state: {error_text(exc)}")

    def _report_commands(self) -> None:
        """Say how the commands this view sent ended (they run in the core's threads)."""
        still = []
        for label, handle in self._following:
            handle.refresh()
            if not handle.finished:
                still.append((label, handle))
            elif handle.ok:
                self.message("info", f"{label}: {handle.message or 'done'}")
            else:
                failed = "; ".join(f"{s.name}: {s.message}" for s in handle.steps
                                   if s.status == "failed")  # fmt: skip
                self.message(
                    "error",
                    f"{label} failed: {handle.error or handle.message}"
                    + (f" ({failed})" if failed and failed not in (handle.error or "") else ""),
                )
        self._following = still

    def system_command(self, name: str) -> None:
        """Send a system command: Describe, Prepare, Configure, Start, Stop or Reset."""
        daq = self.system
        if name == "Start":
            title, run_class = self.run_info.title.value, self.run_info.run_class.value
            number = self.run_info.number.value
            self._submit(
                f"Start run {number}",
                lambda: daq.start(title, run_class, run_number=number),
                f"Start run {number}: sent, the run opens once every server runs",
                "Start",  # its message names the run: "Start: run 4 started"
            )
        elif name == "Stop":
            self._submit("Stop run", daq.stop, "Stop run: sent; files are organised after", "Stop")
        elif name == "Reset":
            self._submit("Reset", daq.reset)
        else:
            self._submit(f"{name} all", lambda: daq.command(name))

    def server_command(self, server: str, command: str) -> None:
        """Expert: one command on one server."""
        self._submit(
            f"{command} {server}", lambda: self.system.server_command(server, command.lower()
                                                                      if command == "Reset"
                                                                      else command)
        )  # fmt: skip

    def select_config(self, server: str, config: tuple[str, str, str]) -> None:
        """Select a config for one server (checked against its GetConfigIDs answer)."""
        label = config[0] if len(set(config)) == 1 else "/".join(config)
        self._submit(
            f"Select {label} for {server}",
            lambda: self.system.select_config(config, server=server),
            f"{server}: config {label} selected",
        )

    def refresh_configs(self, server: str | None = None) -> None:
        """Ask servers for their config sets (GetConfigIDs) for the pickers."""
        self._submit(
            f"Reading configs of {server or 'every server'}",
            lambda: self.system.refresh_configs(server),
            "config lists updated",
        )

    def _set_number(self, number: int) -> None:
        self._submit(
            f"Next run number {number}",
            lambda: self.system.set_next_run_number(number),
            f"the next run will be run {number}",
        )

    def _set_header(self, title: str, run_class: str) -> None:
        number = self.snapshot.run_number if self.snapshot else None
        if number is None:
            return
        try:
            self.system.runsheet.update(number, title=title, run_class=run_class)
        except Exception as exc:  # refused edits are shown, never raised into the frontend
            self.message("error", f"run {number} not changed: {error_text(exc)}")
            return
        self._reload_runsheet()

    @property
    def runsheet(self) -> RunSheetEditor:
        """The run sheet editor (the Run sheet tab), built now if it was not."""
        if self._runsheet is None:
            # imported here: its figure's bqplot (and pandas with it) is ~0.5 s of a
            # fresh kernel, and the first screen has no figure
            from shiftdesk_widgets.daq.runsheet import RunSheetEditor

            editor = self._runsheet = RunSheetEditor(self.system)
            control, placeholder = self.tabs.children
            with self.tabs.hold_sync():
                self.tabs.children = [control, editor]
                self.tabs.titles = TAB_TITLES
            placeholder.close()
            editor.show_figure(self.tabs.selected_index == 1)
        return self._runsheet

    def _on_tab(self, _change: object) -> None:
        if self.tabs.selected_index == 1 or self._runsheet is not None:
            self.runsheet.show_figure(self.tabs.selected_index == 1)

    def _reload_runsheet(self) -> None:
        """Show the stored run sheet again (once it is built: it reads it when built)."""
        if self._runsheet is not None:
            self._runsheet.reload()

    def _last_run(self) -> tuple[str, str] | None:
        """The newest run's title and class (for "Same as previous")."""
        runs = (self._runsheet.runs if self._runsheet is not None else None) or self.system.runs()
        return (runs[-1].title, runs[-1].run_class) if runs else None

    def edit_runsheet(self) -> None:
        """Open the run sheet editor on the current (or last) run."""
        snap = self.snapshot
        self.tabs.selected_index = 1
        if snap is not None and snap.run_number is not None:
            self.runsheet.select_run(snap.run_number)
        else:
            self.runsheet.reload()

    # -- observing -----------------------------------------------------------------------
    def tick(self) -> bool:
        """One poll: show finished calls' outcomes, then the stored state. Never raises."""
        for label, outcome, on_ok in self.background.collect():
            if isinstance(outcome, BaseException):
                self.message("error", f"{label} — {error_text(outcome)}")
            elif on_ok is not None:
                on_ok(outcome)
        self.ticks += 1
        if self.ticks % SLOW_EVERY == 0:
            self._safely(lambda: setattr(self, "can_operate", self.system.can_operate))
        self._safely(self._report_commands)
        self._safely(self.refresh)
        return True

    def refresh(self) -> None:
        """Read the stored state once and show it."""
        snap = self.system.snapshot()
        previous, self.snapshot = self.snapshot, snap
        busy = self.background.busy
        self.run_info.update(snap, self.can_operate, busy)
        self.system_buttons.update(snap, self.can_operate, busy)
        self.servers.update(snap, self.can_operate, self.expert.value)
        self.routers.update(snap)
        self.log_panel.update(self.system.log(25), self.system.commands(3))
        if (
            not self._asked_configs
            and snap.servers
            and any(not s.available_configs and s.online for s in snap.servers)
        ):
            self._asked_configs = True  # once: fill the pickers without a click
            self.background.submit("Reading configs", lambda: self.system.refresh_configs(), None)
        runs_moved = previous is None or (previous.run_number, previous.next_run_number) != (
            snap.run_number,
            snap.next_run_number,
        )
        if runs_moved or self.ticks % SLOW_EVERY == 0:
            self._reload_runsheet()

    def server_status(self, name: str) -> str:
        """The state text the server's row shows now (for scripts and tests)."""
        import re

        return re.sub(r"<[^>]+>", "", self.servers.rows[name].status.value).strip()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait for the calls this view sent, then show the state (scripts and tests)."""
        self.background.wait(timeout)
        self.tick()

    def wait_for(self, condition: Any, timeout: float = 20.0, interval: float = 0.05) -> None:
        """Tick until ``condition(self)`` holds (scripts and tests; the browser needs none)."""
        tick_until(
            self.tick, lambda: condition(self), timeout=timeout, interval=interval,
            what=lambda: f"the DAQ dashboard (it shows {self.snapshot!r}; message: "
            f"{self.messages.value})",
        )  # fmt: skip

    def close(self) -> None:
        """Stop polling (and the core poller and demo servers this view owns)."""
        # getattr: ipywidgets also calls close() on a half-built view being collected
        for owned in ("poller", "background", "state_poller", "demo"):
            thing = getattr(self, owned, None)
            if thing is not None:
                getattr(thing, "close" if owned == "background" else "stop")()
        super().close()
