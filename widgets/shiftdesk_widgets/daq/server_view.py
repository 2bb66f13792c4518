"""The view of one :class:`~shiftdesk.daq.ecc_server.ECCServer`: the dashboard's server row.

The same :class:`~shiftdesk_widgets.daq.servers.ServerRow` as in the shift dashboard
(state with spinner, config picker, per-server commands, the server's log tail), bound to
one server object and refreshed from the stored state.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from shiftdesk.daq.ecc_server import ECCServer
from shiftdesk_widgets._async import Ticker
from shiftdesk_widgets.daq._common import classed, error_text, message_html
from shiftdesk_widgets.daq.servers import ServerRow


class ECCServerView(w.VBox):
    """One ECC server, live: its row with commands and log shown.

    Parameters
    ----------
    server : ECCServer
        The server to show and drive (commands need operator rights).
    interval : float
        Seconds between reads of the stored state.
    """

    def __init__(self, server: ECCServer, interval: float = 0.5) -> None:
        self.server = server
        self.messages = classed(w.HTML(), "sd-daq-messages")
        self.row = ServerRow(
            server.name,
            self._select,
            self._refresh_configs,
            self._command,
            lambda _name: server.log(),
        )
        self.row.show_log.value = True
        title = w.HTML(f"<b>ECC server {html.escape(server.name)}</b>")
        super().__init__([title, self.row, self.messages])
        classed(self, "sd-daq-server-view")
        self.can_operate = server.can_operate
        self.refresh()
        self.poller = Ticker(self.tick, interval)
        self.poller.start()

    def message(self, kind: str, text: str) -> None:
        """Show one line above nothing else (info, warning or error)."""
        self.messages.value = message_html(kind, text)

    def _safely(self, action: Any, label: str) -> Any:
        try:
            return action()
        except Exception as exc:  # shown, never raised into the widget machinery
            self.message("error", f"{label} — {error_text(exc)}")
            return None

    def _select(self, name: str, config: tuple[str, str, str]) -> None:
        self._safely(lambda: self.server.select_config(config), f"select config of {name}")
        self.refresh()

    def _refresh_configs(self, name: str) -> None:
        self._safely(self.server.refresh_configs, f"read the configs of {name}")
        self.refresh()

    def _command(self, name: str, command: str) -> None:
        handle = self._safely(lambda: self.server.send(command), f"{command} on {name}")
        if handle is not None:
            self.message("info", f"{command} sent to {name}")
        self.refresh()

    def refresh(self) -> None:
        """Read the stored state once and show it."""
        self.row.update(self.server.view, self.can_operate, True)

    def tick(self) -> bool:
        """One poll: show the stored state (errors are shown, polling goes on)."""
        self._safely(self.refresh, "refresh")
        return True

    def close(self) -> None:
        """Stop polling."""
        poller = getattr(self, "poller", None)  # close() may come on a half-built view
        if poller is not None:
            poller.stop()
        super().close()
