"""My jobs on every backend: status, progress, runtime, backend, log, Cancel, Open result.

The list comes from :func:`shiftdesk.jobs.list_jobs`, which returns only the current
user's jobs (the core enforces it, not this view). The panel re-reads the database on
the kernel's event loop (:class:`~shiftdesk_widgets._async.Ticker`); under pytest there
is no loop and tests call :meth:`JobsPanel.refresh` themselves.

"Open result" does not decide what opening means: it calls the callbacks registered with
:meth:`JobsPanel.on_open_result` with the job and its decoded result (a dashboard shows
a fit result, a notebook may just keep it).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from shiftdesk.identity import Identity, current_identity
from shiftdesk.jobs import Job, JobStatus, list_jobs
from shiftdesk.storage import Database, get_database
from shiftdesk_widgets._async import Ticker
from shiftdesk_widgets._text import job_state_html, plain_error

ResultCallback = Callable[[Job, Any], None]

_STATUS_MARK = {
    JobStatus.QUEUED: "…",
    JobStatus.RUNNING: "▶",
    JobStatus.DONE: "✓",
    JobStatus.FAILED: "✗",
    JobStatus.CANCELLED: "■",
}


def _runtime(job: Job) -> str:
    seconds = job.runtime
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def job_label(job: Job) -> str:
    """One line per job: status, progress, runtime, backend, title."""
    title = job.title or job.kind
    if len(title) > 48:
        title = title[:47] + "…"
    return (
        f"{_STATUS_MARK[job.status]} {job.status.value:<9} {job.progress:>4.0%} "
        f"{_runtime(job):>8}  {job.backend:<10.10} {title}"
    )


class JobsPanel(w.VBox):
    """The current user's jobs on every backend, with a log view, Cancel and Open result.

    Parameters
    ----------
    database : Database, optional
        Where jobs are stored (default: the default database).
    identity : Identity, optional
        Whose jobs to show (default: the current user). Others' jobs never appear.
    interval : float
        Seconds between refreshes while the kernel's event loop runs.
    limit : int
        Most jobs listed (newest first).
    """

    def __init__(
        self,
        database: Database | None = None,
        identity: Identity | None = None,
        *,
        interval: float = 1.0,
        limit: int = 50,
    ) -> None:
        self.database = database or get_database()
        self.identity = identity or current_identity()
        self.limit = limit
        self.jobs: dict[str, Job] = {}
        self._callbacks: list[ResultCallback] = []
        self._log_shown_for: tuple[str, str, int] | None = None

        # the list's lines are padded into columns: they need a fixed-width font
        self.header = w.HTML(
            "<style>.sd-jobs-panel select{font-family:monospace}</style>"
            "<pre style='margin:0'>  status    prog  runtime  backend    title</pre>"
        )
        self.select = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.empty = w.HTML("<i>No jobs yet.</i>")
        self.progress = w.FloatProgress(min=0.0, max=1.0, description="progress")
        self.details = w.HTML()
        # not ``self.log``: that name is the Logger trait every ipywidgets Widget has
        self.log_box = w.Textarea(layout=w.Layout(width="100%", height="180px"), disabled=True)
        self.cancel_button = w.Button(description="Cancel", icon="stop", button_style="danger")
        self.open_button = w.Button(description="Open result", icon="folder-open")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.message = w.HTML()
        self.cancel_button.on_click(lambda _b: self.cancel_selected())
        self.open_button.on_click(lambda _b: self.open_selected())
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.select.observe(lambda _change: self._show_selected(), names="value")
        super().__init__(
            [
                w.HBox([w.HTML("<b>My jobs</b>"), self.refresh_button]),
                self.header,
                self.select,
                self.empty,
                w.HBox([self.progress, self.cancel_button, self.open_button]),
                self.details,
                self.message,
                self.log_box,
            ]
        )
        self.add_class("sd-jobs-panel")
        self.poller = Ticker(self.refresh, interval)
        self.refresh()
        self.poller.start()

    # -- observers ---------------------------------------------------------------------
    def on_open_result(self, callback: ResultCallback) -> None:
        """Call ``callback(job, result)`` when the user opens a finished job's result."""
        self._callbacks.append(callback)

    # -- state -------------------------------------------------------------------------
    @property
    def selected(self) -> Job | None:
        """The job selected in the list."""
        value = self.select.value
        return self.jobs.get(value) if value else None

    def refresh(self) -> bool:
        """Re-read my jobs and the selected job's details; returns True (keep polling)."""
        jobs = list_jobs(database=self.database, identity=self.identity, limit=self.limit)
        self.jobs = {job.id: job for job in jobs}
        options = [(job_label(job), job.id) for job in jobs]
        current = self.select.value
        with self.hold_sync():
            if options != list(self.select.options):
                self.select.options = options
                if current in self.jobs:
                    self.select.value = current
                elif jobs:
                    self.select.value = jobs[0].id
            self.empty.layout.display = "none" if jobs else None
        self._show_selected()
        return True

    def _show_selected(self) -> None:
        job = self.selected
        with self.hold_sync():
            if job is None:
                self.progress.value = 0.0
                self.details.value = ""
                self.log_box.value = ""
                self.cancel_button.disabled = True
                self.open_button.disabled = True
                return
            self.progress.value = job.progress
            error = (
                f"<br><span style='color:#b00020'>{html.escape(plain_error(job.error))}</span>"
                if job.error
                else ""
            )
            host = html.escape(job._record.host or "")
            self.details.value = (
                f"<b>{html.escape(job.title or job.kind)}</b> · {html.escape(job.kind)} · "
                f"{job_state_html(job)} · "
                f"backend {html.escape(job.backend)}{' on ' + host if host else ''} · "
                f"runtime {_runtime(job)}{error}"
            )
            self.cancel_button.disabled = job.finished
            self.open_button.disabled = job.status is not JobStatus.DONE
            # the log is re-read only when the job changed (it can be long)
            stamp = (job.id, job.status.value, len(job._record.log or ""))
            if stamp != self._log_shown_for:
                self._log_shown_for = stamp
                self.log_box.value = job.logs()

    # -- actions -----------------------------------------------------------------------
    def cancel_selected(self) -> None:
        """Ask the selected job to stop (returns at once; the list shows when it has)."""
        job = self.selected
        if job is None or job.finished:
            return
        try:
            job.cancel()
        except Exception as exc:
            self.message.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"
            return
        self.message.value = f"cancel requested for {html.escape(job.title or job.id[:8])}"
        self.refresh()

    def open_selected(self) -> Any:
        """Decode the selected job's result and hand it to the callbacks; returns it."""
        job = self.selected
        if job is None or job.refresh().status is not JobStatus.DONE:
            self.message.value = "select a finished (done) job to open its result"
            return None
        try:
            result = job.result(timeout=0)
        except Exception as exc:
            self.message.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"
            return None
        self.message.value = f"opened the result of {html.escape(job.title or job.id[:8])}"
        for callback in list(self._callbacks):
            callback(job, result)
        return result

    def close(self) -> None:
        """Stop polling and close the widgets."""
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.stop()
        super().close()
