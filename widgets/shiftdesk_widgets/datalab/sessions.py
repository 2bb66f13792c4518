"""My sessions: pick one to open, make a new one, see them all in a table.

The panel takes plain rows and callbacks (``list_sessions()``, ``create(name)``,
``open_session(id)``), so it works (and is tested) without the data-session core.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.datalab._common import Feedback, attr, classed, table_html, when_text
from shiftdesk_widgets.runtable._calls import Caller, run_now


def session_label(row: Any) -> str:
    """A session as the picker lists it: name · frames · last change."""
    name = str(attr(row, "name", "") or attr(row, "id", ""))
    parts = [name]
    n = attr(row, "n_inputs")
    if n is not None:
        parts.append(f"{n} frame{'s' if n != 1 else ''}")
    when = when_text(attr(row, "modified") or attr(row, "created"))
    if when:
        parts.append(when[:10])
    return " · ".join(parts)


class SessionsPanel(w.VBox):
    """The session picker, a new-session form and the list of my sessions.

    Parameters
    ----------
    list_sessions : callable
        ``list_sessions()`` → rows (objects or dicts) with ``id``, ``name`` and, when
        known, ``created``, ``modified``, ``n_inputs``, ``n_operations``, ``owner``.
    create : callable
        ``create(name)`` → the new session's id.
    open_session : callable
        ``open_session(id)``: show that session on the page.
    caller : callable
        How slow calls run (see :mod:`shiftdesk_widgets.runtable._calls`).
    """

    def __init__(
        self,
        list_sessions: Callable[[], Sequence[Any]],
        create: Callable[[str], Any],
        open_session: Callable[[Any], None],
        *,
        caller: Caller = run_now,
    ) -> None:
        self._list = list_sessions
        self._create = create
        self._open = open_session
        self._caller = caller
        self.rows: list[Any] = []
        self._quiet = False
        self.picker = classed(
            w.Dropdown(description="Session", layout=w.Layout(width="auto", min_width="340px"),
                       style={"description_width": "initial"}),
            "sd-dl-session-picker",
        )  # fmt: skip
        self.picker.observe(self._picked, "value")
        self.name = classed(
            w.Text(placeholder="name of a new session, e.g. M51 night 1",
                   layout=w.Layout(width="280px")),
            "sd-dl-session-name",
        )  # fmt: skip
        self.name.continuous_update = False
        self.create_button = classed(
            w.Button(description="New session", icon="plus", button_style="primary",
                     layout=w.Layout(width="auto")),
            "sd-dl-session-create",
        )  # fmt: skip
        self.create_button.on_click(lambda _b: self.create())
        self.list_button = classed(
            w.ToggleButton(description="All my sessions", icon="list",
                           layout=w.Layout(width="auto")),
            "sd-dl-session-list-toggle",
        )  # fmt: skip
        self.list_button.observe(lambda c: self._show_list(c["new"]), "value")
        self.feedback = Feedback()
        self.table = classed(w.HTML(), "sd-dl-session-table", "sd-dl-scroll")
        self.table.layout.display = "none"
        super().__init__(
            [
                classed(
                    w.HBox(
                        [
                            self.picker,
                            self.name,
                            self.create_button,
                            self.list_button,
                            self.feedback,
                        ]
                    ),
                    "sd-dl-row",
                ),
                self.table,
            ]
        )
        classed(self, "sd-dl-sessions")
        self.refresh()

    @property
    def selected(self) -> Any:
        """The id of the session picked (None: none)."""
        return self.picker.value

    def refresh(self, select: Any = None) -> None:
        """Read my sessions again; pick ``select`` (an id) when given, else keep the pick."""
        try:
            rows = list(self._list())
        except Exception as exc:  # shown beside the picker; the page stays
            self.feedback.error(exc, "sessions could not be listed")
            return
        self.rows = rows
        keep = select if select is not None else self.picker.value
        options = [(session_label(r), attr(r, "id")) for r in rows]
        self._quiet = True
        try:
            self.picker.options = options
            ids = [v for _l, v in options]
            self.picker.value = keep if keep in ids else None
        finally:
            self._quiet = False
        self.picker.disabled = not options
        if not options:
            self.feedback.say("info", "no session yet: name one and press New session")
        elif self.feedback.kind == "info" and not self.feedback.text.startswith("session "):
            self.feedback.clear()
        if self.list_button.value:
            self.table.value = self._table_html()

    def _table_html(self) -> str:
        rows = [
            (attr(r, "name", ""), attr(r, "owner", "") or "", attr(r, "n_inputs", ""),
             attr(r, "n_operations", ""), when_text(attr(r, "created")),
             when_text(attr(r, "modified")))
            for r in self.rows
        ]  # fmt: skip
        return table_html(
            ("name", "owner", "frames", "operations", "created", "last change"), rows,
            empty="no session yet",
        )  # fmt: skip

    def _show_list(self, on: bool) -> None:
        if on:
            self.table.value = self._table_html()
        self.table.layout.display = None if on else "none"

    def _picked(self, change: dict[str, Any]) -> None:
        if self._quiet or change["new"] is None:
            return
        self.show(change["new"])

    def show(self, session_id: Any) -> None:
        """Show session ``session_id`` (picked, or just made)."""
        try:
            self._open(session_id)
        except Exception as exc:  # e.g. not mine, or gone meanwhile
            self.feedback.error(exc, "not opened")
            return
        if self.picker.value != session_id:
            self._quiet = True
            try:
                ids = [v for _l, v in self.picker.options]
                self.picker.value = session_id if session_id in ids else None
            finally:
                self._quiet = False

    def create(self, name: str | None = None) -> None:
        """Make a session named ``name`` (or the one typed) and open it."""
        name = (self.name.value if name is None else name).strip()
        if not name:
            self.feedback.say("warning", "type a name for the new session first")
            return
        self.create_button.disabled = True
        self.feedback.say("busy", f"making session {name!r} …")

        def made(session_id: Any) -> None:
            self.create_button.disabled = False
            self.name.value = ""
            self.refresh(select=session_id)
            self.show(session_id)
            self.feedback.say("info", f"session {name!r} made; add frames below")

        def failed(exc: BaseException) -> None:
            self.create_button.disabled = False
            self.feedback.error(exc, "not made")

        self._caller("create session", lambda: self._create(name), made, failed)
