"""The data router table: address, link type, online, clean (no unsorted GRAW files)."""

from __future__ import annotations

import html

import ipywidgets as w

from shiftdesk.daq.snapshot import RouterView, Snapshot
from shiftdesk_widgets.daq._common import badge, classed, css_name


def router_row(router: RouterView) -> str:
    """One table row of ``router``."""
    online = "Unknown" if router.checked_at is None else ("Online" if router.online else "Offline")
    if router.checked_at is None or not router.online:
        files = "Unknown"
    else:
        files = {True: "Clean", False: "Unsorted files", None: "Unknown"}[router.clean]
    error = (
        f"<br><small style='color:#b00020'>{html.escape(router.error[:200])}</small>"
        if router.error
        else ""
    )
    return (
        f"<tr class='sd-daq-router sd-daq-router-{css_name(router.name)}'>"
        f"<td><b>{html.escape(router.name)}</b></td>"
        f"<td><code>{html.escape(router.host)}:{router.port}</code></td>"
        f"<td>{html.escape(router.link_type)}</td>"
        f"<td class='sd-daq-router-online'>{badge(online)}</td>"
        f"<td class='sd-daq-router-clean'>{badge(files)}{error}</td>"
        f"<td><small>{html.escape(router.folder or 'found over SSH')}</small></td></tr>"
    )


class RouterTable(w.HTML):
    """Every data router of the experiment as an HTML table (read-only)."""

    def __init__(self) -> None:
        super().__init__()
        classed(self, "sd-daq-routers")

    def update(self, snap: Snapshot) -> None:
        """Show the stored router checks."""
        if not snap.routers:
            self.value = "<i>no data routers are set up</i>"
            return
        rows = "".join(router_row(r) for r in snap.routers)
        self.value = (
            "<table class='sd-daq-router-table' cellpadding='4'>"
            "<tr><th>data router</th><th>address</th>"
            "<th>type</th><th>online</th><th>files</th><th>folder</th></tr>"
            f"{rows}</table>"
        )
