"""The ECC server table: state, transition spinner, offline/stale, config picker, log, expert."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence

import ipywidgets as w

from shiftdesk.daq.snapshot import RESET_COMMAND, Command, ServerView, Snapshot
from shiftdesk.daq.system import LogEntry
from shiftdesk_widgets.daq._common import SPINNER, badge, classed, css_name, error_text

#: ``load_log(server)``: what happened to the server, newest first
#: (:meth:`~shiftdesk.daq.system.DAQSystem.server_log`).
LogSource = Callable[[str], Sequence[LogEntry]]
#: What each expert button does, for its tooltip.
EXPERT_HELP = {
    "Describe": "Idle → Described",
    "Prepare": "Described → Prepared",
    "Configure": "Prepared → Ready",
    "Start": "Ready → Running (runs are started with Start run)",
    "Stop": "Running → Ready (runs are stopped with Stop run)",
    "Breakup": "Ready → Prepared",
    "Undo": "Described → Idle, Prepared → Described",
    "Reset": "one step back (Undo, Breakup or Stop, as the state needs)",
}

#: Per-server expert commands, in button order ("Reset" steps back one state).
EXPERT_COMMANDS = ("Describe", "Prepare", "Configure", "Start", "Stop", "Breakup", "Undo", "Reset")
_WIDTHS = ("110px", "190px", "120px", "230px", "70px")
#: Seconds a picked config is shown before the stored one wins again (a selection that
#: never arrives, e.g. refused, must not leave the picker showing something untrue)
PICK_GRACE = 15.0


def config_label(config: Sequence[str]) -> str:
    """``cobo0`` when the three names agree, else ``describe/prepare/configure``."""
    return config[0] if len(set(config)) == 1 else "/".join(config)


def server_legal(server: ServerView) -> set[str]:
    """Expert commands legal on ``server`` now (online, fresh, not busy)."""
    if server.state is None or not server.online or server.stale or server.transitioning:
        return set()
    legal = {c.value for c in Command if server.state in c.allowed_from}
    if server.state in RESET_COMMAND:
        legal.add("Reset")
    return legal


def status_html(server: ServerView) -> str:
    """The state cell: spinner while transitioning, red when offline, amber when stale."""
    text = server.status
    if server.busy_command is not None and server.online and not server.stale:
        text = f"{server.busy_command}…" if server.transition.value == 0 else f"{text}…"
    elif server.transitioning and server.online:
        text = f"{text}…"
    spin = SPINNER if server.transitioning and server.online else ""
    age = server.age_s
    title = "" if age is None else f" title='last answer {age:.1f} s ago'"
    extra = ""
    if not server.online and server.error:
        extra = (
            "<div class='sd-daq-error' style='color:#b00020;font-size:85%'>"
            f"{html.escape(server.error[:200])}</div>"
        )
    return f"<span class='sd-daq-state'{title}>{spin}{badge(text)}</span>{extra}"


def log_html(entries: Sequence[LogEntry], error: str = "") -> str:
    """A server's log, newest first, in a scrolling box (``error``: its last one)."""
    lines = [
        f"<div class='sd-daq-log-{html.escape(e.level)}'>{e.at:%H:%M:%S} "
        f"<b>{html.escape(e.level)}</b> {html.escape(e.message)}"
        + (f" <small>({html.escape(e.user)})</small>" if e.user else "")
        + "</div>"
        for e in entries
    ]
    if error:
        lines.insert(0, f"<div style='color:#b00020'>{html.escape(error)}</div>")
    return (
        "<div style='font-family:monospace;font-size:85%;line-height:1.5;max-height:200px;"
        "overflow:auto'>" + ("".join(lines) or "<i>nothing logged for this server</i>") + "</div>"
    )


class ServerRow(w.VBox):
    """One ECC server: a row of cells, then its expert buttons and log (hidden).

    Parameters
    ----------
    name : str
        The server.
    on_select, on_refresh_configs, on_command
        As for :class:`ServerTable`.
    load_log : callable
        ``load_log(name)``: the server's log, newest first; read only while it is shown.
    """

    def __init__(
        self,
        name: str,
        on_select: Callable[[str, tuple[str, str, str]], None],
        on_refresh_configs: Callable[[str], None],
        on_command: Callable[[str, str], None],
        load_log: LogSource,
    ) -> None:
        self.name = name
        self._on_select = on_select
        self._load_log = load_log
        self._updating = False
        # the config just picked, shown until the stored state has it (or PICK_GRACE ends)
        self._picking: tuple[object, float] | None = None
        self.label = w.HTML(layout=w.Layout(width=_WIDTHS[0]))
        self.address = w.HTML(layout=w.Layout(width=_WIDTHS[1]))
        self.status = classed(w.HTML(layout=w.Layout(width=_WIDTHS[2])), "sd-daq-status")
        self.config = classed(
            w.Dropdown(options=[("— none —", None)], value=None,
                       tooltip=f"the config {name} is described, prepared and configured with",
                       layout=w.Layout(width=_WIDTHS[3])),
            "sd-daq-config",
        )  # fmt: skip
        self.config.observe(self._picked, "value")
        self.refresh_configs = classed(
            w.Button(icon="refresh", tooltip="ask the server for its configs (GetConfigIDs)",
                     layout=w.Layout(width="40px")),
            "sd-daq-refresh-configs",
        )  # fmt: skip
        self.refresh_configs.on_click(lambda _b: on_refresh_configs(self.name))
        self.show_log = classed(
            w.ToggleButton(description="log", icon="list-alt",
                           tooltip=f"show or hide what happened to {name}",
                           layout=w.Layout(width=_WIDTHS[4])),
            "sd-daq-show-log",
        )  # fmt: skip
        self.show_log.observe(lambda _c: self._toggle_log(), "value")
        self.buttons: dict[str, w.Button] = {}
        for command in EXPERT_COMMANDS:
            button = classed(
                w.Button(
                    description=command,
                    tooltip=f"{command} {name} alone: {EXPERT_HELP[command]}",
                    layout=w.Layout(width="90px"),
                ),
                "sd-daq-expert",
                f"sd-daq-expert-{command.lower()}",
            )
            button.on_click(lambda _b, c=command: on_command(self.name, c))
            self.buttons[command] = button
        self.expert = classed(
            w.HBox(list(self.buttons.values()), layout=w.Layout(display="none")),
            "sd-daq-expert-row",
        )
        self.log_box = classed(w.HTML(layout=w.Layout(display="none")), "sd-daq-server-log")
        self.row = w.HBox(
            [
                self.label,
                self.address,
                self.status,
                self.config,
                self.refresh_configs,
                self.show_log,
            ]
        )
        super().__init__([self.row, self.expert, self.log_box])
        classed(self, "sd-daq-server", f"sd-daq-server-{css_name(name)}")
        self.view: ServerView | None = None

    def _picked(self, change: dict[str, object]) -> None:
        if self._updating or change["new"] is None:
            return
        value = change["new"]
        assert isinstance(value, tuple)
        self._picking = (value, time.monotonic())
        self._on_select(self.name, value)

    def _toggle_log(self) -> None:
        self.log_box.layout.display = "" if self.show_log.value else "none"
        self.show_log_entries()

    def show_log_entries(self) -> None:
        """Read and show the server's log (only while it is shown: one query)."""
        if not self.show_log.value:
            return
        error = self.view.error if self.view is not None and self.view.error else ""
        try:
            entries = self._load_log(self.name)
        except Exception as exc:  # shown in the box, never raised into the frontend
            error = f"cannot read the log of {self.name}: {error_text(exc)}"
            entries = []
        self.log_box.value = log_html(entries, error)

    def update(self, server: ServerView, can_operate: bool, expert: bool) -> None:
        """Show the stored state of ``server`` (and its log when shown)."""
        self.view = server
        self.label.value = f"<b>{html.escape(server.name)}</b>"
        senders = ", ".join(s.sender for s in server.sources)
        self.address.value = (
            f"<code>{html.escape(server.host)}:{server.port}</code>"
            f"<br><small>{html.escape(senders)}</small>"
        )
        self.status.value = status_html(server)
        options: list[tuple[str, object]] = [("— none —", None)]
        options += [(config_label(c), tuple(c)) for c in server.available_configs]
        selected = tuple(server.config) if server.config else None
        if selected is not None and selected not in [o[1] for o in options]:
            options.append((config_label(selected) + " (not offered)", selected))
        # While a pick is on its way the stored config is still the old one: showing it
        # would snap the picker back (and a second pick of the old value would then be
        # no change at all, never sent)
        if self._picking is not None and (
            selected == self._picking[0] or time.monotonic() - self._picking[1] > PICK_GRACE
        ):
            self._picking = None
        shown = self._picking[0] if self._picking is not None else selected
        self._updating = True
        try:
            if list(self.config.options) != options:
                self.config.options = options
            if self.config.value != shown:
                self.config.value = shown
        finally:
            self._updating = False
        self.config.disabled = not can_operate or server.transitioning
        legal = server_legal(server)
        for command, button in self.buttons.items():
            button.disabled = not (can_operate and command in legal)
        self.expert.layout.display = "" if expert else "none"
        self.show_log_entries()


class ServerTable(w.VBox):
    """Every ECC server of the experiment, one :class:`ServerRow` each.

    Parameters
    ----------
    on_select : callable
        ``on_select(server, (describe, prepare, configure))`` when a config is picked.
    on_refresh_configs : callable
        ``on_refresh_configs(server)`` for the refresh button.
    on_command : callable
        ``on_command(server, command)`` for the expert buttons.
    load_log : callable
        ``load_log(server)``: a server's log, newest first, for its "log" button.
    """

    def __init__(
        self,
        on_select: Callable[[str, tuple[str, str, str]], None],
        on_refresh_configs: Callable[[str], None],
        on_command: Callable[[str, str], None],
        load_log: LogSource,
    ) -> None:
        self._callbacks = (on_select, on_refresh_configs, on_command, load_log)
        self.rows: dict[str, ServerRow] = {}
        header = w.HBox(
            [
                w.HTML(f"<b>{title}</b>", layout=w.Layout(width=width))
                for title, width in zip(
                    ("ECC server", "address · sources", "state", "config", ""),
                    _WIDTHS,
                    strict=True,
                )
            ]
        )
        self.header = header
        super().__init__([header])
        classed(self, "sd-daq-servers")

    def update(self, snap: Snapshot, can_operate: bool, expert: bool) -> None:
        """Show the snapshot (rows are rebuilt only when the setup changed)."""
        names = [s.name for s in snap.servers]
        if names != list(self.rows):
            self.rows = {name: ServerRow(name, *self._callbacks) for name in names}
            self.children = [self.header, *self.rows.values()]
        for server in snap.servers:
            self.rows[server.name].update(server, can_operate, expert)
