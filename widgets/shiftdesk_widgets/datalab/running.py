"""Operations in flight: one row each with a progress bar, its message and Cancel.

The panel draws rows from plain :class:`OpRow` values; the dashboard reads the
operations' handles on the kernel's loop (a :class:`~shiftdesk_widgets._async.Ticker`
every quarter second) and hands the rows over, so progress shows within a second of
being reported. Finished operations stay in the list, with their outcome, until
dismissed.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w

from shiftdesk_widgets._text import plain_error
from shiftdesk_widgets.datalab._common import FINAL, Feedback, classed, state_badge, state_name


@dataclass
class OpRow:
    """One operation as the page shows it.

    Attributes
    ----------
    key : int or str
        The operation's id.
    title : str
        What it is ("Median of 3 frames").
    status : str
        queued, running, done, failed or cancelled.
    progress : float
        0-1.
    message : str
        The latest progress message.
    cached : bool
        An identical earlier request's result was served.
    error : str
        Why it failed.
    error_field : str
        The input the failure is about.
    when : str
        When it was asked for.
    inputs : list of str
        Names of its input files.
    outputs : list of str
        Names of its output files (once done).
    upstream : list
        Keys of the operations whose outputs it used.
    """

    key: Any
    title: str
    status: str = "queued"
    progress: float = 0.0
    message: str = ""
    cached: bool = False
    error: str = ""
    error_field: str = ""
    when: str = ""
    operation: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    upstream: list[Any] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """True once it will not change any more."""
        return state_name(self.status) in FINAL

    def state_html(self) -> str:
        """The state badge and what it says (the error for a failure)."""
        status = state_name(self.status)
        if status in ("failed", "error"):
            where = f"{self.error_field}: " if self.error_field else ""
            said = where + plain_error(self.error or self.message)
        elif status in ("done", "completed"):
            said = self.message if self.message not in ("", "done") else ""
            if self.outputs:
                n = len(self.outputs)
                said = (said + " · " if said else "") + f"{n} output{'s' if n != 1 else ''}"
        else:
            said = self.message if self.message != status else ""
        text = f" <span class='sd-dl-msg'>{html.escape(said)}</span>" if said else ""
        return f"<div>{state_badge(status, self.cached)}{text}</div>"


#: Progress bar colours by state.
_BAR_STYLES = {"done": "success", "completed": "success", "failed": "danger", "error": "danger",
               "cancelled": "warning"}  # fmt: skip


class _Row(w.HBox):
    def __init__(self, row: OpRow, panel: RunningPanel) -> None:
        self.key = row.key
        self.title = classed(w.HTML(), "sd-dl-optitle")
        self.bar = classed(
            w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="200px")),
            "sd-dl-progress",
        )
        self.state = classed(w.HTML(), "sd-dl-opstate")
        self.cancel = classed(
            w.Button(description="Cancel", icon="stop", layout=w.Layout(width="auto")),
            "sd-dl-cancel",
        )
        self.cancel.on_click(lambda _b: panel.cancel(self.key))
        self.dismiss = classed(
            w.Button(icon="times", tooltip="take it off this list (the history keeps it)",
                     layout=w.Layout(width="36px")),
            "sd-dl-dismiss",
        )  # fmt: skip
        self.dismiss.on_click(lambda _b: panel.dismiss(self.key))
        self.feedback = Feedback()
        super().__init__([self.title, self.bar, self.state, self.cancel, self.dismiss,
                          self.feedback])  # fmt: skip
        classed(self, "sd-dl-oprow")
        self.row: OpRow | None = None
        self.show(row)

    def show(self, row: OpRow) -> None:
        if row == self.row:
            return
        self.row = row
        when = f" <span class='sd-dl-muted'>· {html.escape(row.when)}</span>" if row.when else ""
        self.title.value = f"<div><b>{html.escape(row.title)}</b>{when}</div>"
        status = state_name(row.status)
        done = status in ("done", "completed")
        self.bar.value = 1.0 if done else max(0.0, min(1.0, row.progress))
        self.bar.bar_style = _BAR_STYLES.get(status, "info")
        if row.finished:
            self.feedback.clear()
        self.bar.description = ""
        self.state.value = row.state_html()
        self.cancel.layout.display = "none" if row.finished else None
        self.dismiss.layout.display = None if row.finished else "none"


class RunningPanel(w.VBox):
    """Operations of the session that run (and those that ended while the page was open).

    Parameters
    ----------
    cancel : callable
        ``cancel(key)`` asks the operation to stop.
    """

    def __init__(self, cancel: Callable[[Any], None]) -> None:
        self._cancel = cancel
        self.rows: dict[Any, _Row] = {}
        self.dismissed: set[Any] = set()
        self.empty = classed(
            w.HTML("<div class='sd-dl-muted'>no operation running; start one under "
                   "New operation</div>"),
            "sd-dl-running-empty",
        )  # fmt: skip
        super().__init__([self.empty])
        classed(self, "sd-dl-running")

    def show(self, rows: Iterable[OpRow]) -> None:
        """Draw ``rows`` (rows dismissed earlier stay away; others are added or updated)."""
        keep = []
        for row in rows:
            if row.key in self.dismissed:
                continue
            widget = self.rows.get(row.key)
            if widget is None:
                widget = self.rows[row.key] = _Row(row, self)
            else:
                widget.show(row)
            keep.append(widget)
        for key in [k for k, r in self.rows.items() if r not in keep]:
            self.rows.pop(key).close()
        self.children = tuple(keep) if keep else (self.empty,)

    def update(self, row: OpRow) -> None:
        """Redraw one row (added when new)."""
        if row.key in self.dismissed:
            return
        widget = self.rows.get(row.key)
        if widget is None:
            widget = self.rows[row.key] = _Row(row, self)
            self.children = (*(c for c in self.children if c is not self.empty), widget)
        else:
            widget.show(row)

    @property
    def active(self) -> list[Any]:
        """Keys of the rows still running or queued."""
        return [k for k, r in self.rows.items() if r.row is not None and not r.row.finished]

    def cancel(self, key: Any) -> None:
        """Ask operation ``key`` to stop (the Cancel button)."""
        row = self.rows.get(key)
        try:
            self._cancel(key)
        except Exception as exc:  # e.g. not the owner: said beside the button
            if row is not None:
                row.feedback.error(exc, "not cancelled")
            return
        if row is not None:
            row.feedback.say("info", "cancelling …")

    def dismiss(self, key: Any) -> None:
        """Take a finished row off the list."""
        self.dismissed.add(key)
        widget = self.rows.pop(key, None)
        if widget is not None:
            widget.close()
        rest = [c for c in self.children if c is not widget and c is not self.empty]
        self.children = tuple(rest) if rest else (self.empty,)
