"""Lock status and the audit trail of the catalog's actions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.catalog._common import Feedback, attr, classed, table_html, when_text
from shiftdesk_widgets.runtable._calls import Caller, run_now

#: ``entries(limit, action, actor)`` → audit entries (``shiftdesk.audit.entries``).
EntriesCall = Callable[[int, str | None, str | None], Iterable[Any]]


def _remaining(expires: Any) -> str:
    if not isinstance(expires, datetime):
        return when_text(expires)
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    left = (expires - datetime.now(UTC)).total_seconds()
    if left <= 0:
        return f"lapsed at {expires:%H:%M} UTC (a teammate may take it over)"
    minutes = int(left // 60)
    return f"{minutes} min left (until {expires:%H:%M} UTC)"


def lock_rows(locks: Iterable[Any]) -> list[tuple[str, str, str, str]]:
    """(what, held by, since, expiry) of the catalog's locks."""
    rows = []
    for lock in locks:
        rows.append(
            (
                str(attr(lock, "name", attr(lock, "instrument", "")) or ""),
                str(attr(lock, "holder", attr(lock, "who", "")) or ""),
                when_text(attr(lock, "acquired_at", attr(lock, "since"))),
                _remaining(attr(lock, "expires_at", attr(lock, "expires"))),
            )
        )
    return rows


class LocksPanel(w.VBox):
    """Who holds which lock (instrument and user locks of submissions), and until when."""

    def __init__(self, locks: Callable[[], Iterable[Any]] | None) -> None:
        self._locks = locks
        self.listing = classed(w.HTML(), "sd-cat-locks")
        self.feedback = Feedback()
        super().__init__([self.listing, self.feedback])
        self.refresh()

    def refresh(self) -> None:
        """Read the locks again."""
        if self._locks is None:
            self.listing.value = "<div class='sd-cat-muted'>this catalog keeps no locks yet</div>"
            return
        try:
            rows = lock_rows(self._locks())
        except Exception as exc:  # shown here; the rest of the page is unaffected
            self.feedback.error(exc, "locks not read")
            return
        self.feedback.clear()
        self.rows = rows
        self.listing.value = table_html(
            ("lock", "held by", "since (UTC)", "expires"), rows, mono=(0,),
            empty="no lock is held: anyone allowed may submit",
        )  # fmt: skip


class AuditPanel(w.VBox):
    """The newest audit entries of the catalog's actions (on a hub: your own; admins: all).

    Parameters
    ----------
    entries : callable
        ``entries(limit, action, actor)``.
    """

    def __init__(self, entries: EntriesCall, *, caller: Caller = run_now, limit: int = 50) -> None:
        self._entries = entries
        self._caller = caller
        self.rows: list[tuple[Any, ...]] = []
        self.limit = classed(
            w.Dropdown(options=[25, 50, 100, 500], value=limit, description="newest",
                       layout=w.Layout(width="auto"), style={"description_width": "initial"}),
            "sd-cat-audit-limit",
        )  # fmt: skip
        self.actor = classed(
            w.Text(placeholder="anyone", description="who", continuous_update=False,
                   layout=w.Layout(width="auto", min_width="180px"),
                   style={"description_width": "initial"}),
            "sd-cat-audit-actor",
        )  # fmt: skip
        self.refresh_button = classed(
            w.Button(description="Refresh", icon="refresh", layout=w.Layout(width="auto")),
            "sd-cat-audit-refresh",
        )
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.limit.observe(lambda _c: self.refresh(), "value")
        self.actor.observe(lambda _c: self.refresh(), "value")
        self.feedback = Feedback()
        self.listing = classed(w.HTML(), "sd-cat-audit", "sd-cat-scroll")
        super().__init__(
            [
                classed(w.HBox([self.limit, self.actor, self.refresh_button, self.feedback]),
                        "sd-cat-row"),
                self.listing,
            ]
        )  # fmt: skip
        classed(self, "sd-cat-audit-panel")
        self.refresh()

    def refresh(self) -> None:
        """Read the newest entries again."""
        limit, actor = int(self.limit.value), self.actor.value.strip() or None
        self.feedback.say("busy", "reading…")

        def shown(entries: Iterable[Any]) -> None:
            self.rows = [
                (when_text(attr(e, "at")), attr(e, "actor", ""), attr(e, "action", ""),
                 attr(e, "target", ""), attr(e, "outcome", ""), attr(e, "detail", ""))
                for e in entries
            ]  # fmt: skip
            self.listing.value = table_html(
                ("when (UTC)", "who", "action", "target", "outcome", "detail"), self.rows,
                mono=(3,), nowrap=(0, 1, 2, 3, 4), empty="no catalog action recorded yet",
            )  # fmt: skip
            self.feedback.clear()

        def failed(exc: BaseException) -> None:
            self.feedback.error(exc, "audit trail not read")

        self._caller("audit", lambda: self._entries(limit, "catalog.", actor), shown, failed)
