"""The shift log (commands, errors, servers going offline) and the commands in flight."""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as w

from shiftdesk.daq.commands import CommandHandle
from shiftdesk.daq.system import LogEntry
from shiftdesk_widgets.daq._common import COLORS, classed


def command_html(command: CommandHandle) -> str:
    """One command: what, who, status, a progress bar and its message or error."""
    color = {"done": COLORS["info"], "failed": COLORS["error"]}.get(command.status, "#333")
    steps = ", ".join(
        f"{html.escape(s.name)}: {html.escape(s.status)}" for s in command.steps if s.status
    )
    error = (
        f"<div style='color:{COLORS['error']}'>{html.escape(command.error)}</div>"
        if command.error
        else ""
    )
    when = f"{command.created_at:%H:%M:%S}" if command.created_at else ""
    # The message says the outcome ("done in 1.2 s", "run 4 started", "refused"), coloured
    # by the status; the status word stands alone only when there is no message.
    return (
        f"<div class='sd-daq-command sd-daq-command-{html.escape(command.status)}'>"
        f"{when} <b>{html.escape(command.command)}</b> → {html.escape(command.target)} "
        f"by {html.escape(command.owner)}: "
        f"<progress max='1' value='{command.progress:.3f}' style='width:80px'></progress> "
        f"<span style='color:{color}'>{html.escape(command.message or command.status)}</span>"
        f"<br><small>{steps}</small>{error}</div>"
    )


class LogPanel(w.VBox):
    """Recent commands (with progress) above the newest shift-log entries."""

    def __init__(self) -> None:
        self.commands = classed(w.HTML(), "sd-daq-commands")
        self.entries = classed(w.HTML(), "sd-daq-log")
        super().__init__(
            [w.HTML("<b>Commands</b>"), self.commands, w.HTML("<b>Log</b>"), self.entries]
        )
        classed(self, "sd-daq-log-panel")

    def update(self, log: Sequence[LogEntry], commands: Sequence[CommandHandle]) -> None:
        """Show ``log`` (newest first) and ``commands``."""
        self.commands.value = "".join(command_html(c) for c in commands) or "<i>none yet</i>"
        rows = "".join(
            f"<tr class='sd-daq-log-{html.escape(e.level)}' "
            f"style='color:{COLORS.get(e.level, '#333')}'>"
            f"<td>{e.at:%H:%M:%S}</td><td>{html.escape(e.level)}</td>"
            f"<td>{html.escape(e.source)}</td><td>{html.escape(e.user)}</td>"
            f"<td>{html.escape(e.message)}</td></tr>"
            for e in log
        )
        self.entries.value = (
            "<div style='max-height:220px;overflow:auto;line-height:1.35'>"
            "<table style='font-size:90%' cellpadding='2'>"
            f"{rows}</table></div>"
            if rows
            else "<i>nothing logged yet</i>"
        )
