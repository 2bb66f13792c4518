"""A live view of one job: status, progress, log, Stop."""

from __future__ import annotations

import html

import ipywidgets as w

from shiftdesk.jobs import Job
from shiftdesk_widgets._async import Ticker
from shiftdesk_widgets._text import job_state_html, plain_error
from shiftdesk_widgets.registry import register_view


@register_view(Job)
class JobView(w.VBox):
    """Progress bar, status line, log and a Stop button for a :class:`~shiftdesk.jobs.Job`."""

    def __init__(self, job: Job, interval: float = 0.5) -> None:
        self.job = job
        self.progress = w.FloatProgress(min=0.0, max=1.0, description="progress")
        self.status = w.HTML()
        # not ``self.log``: that name is the Logger trait every ipywidgets Widget has
        self.log_box = w.Textarea(layout=w.Layout(width="100%", height="160px"), disabled=True)
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger")
        self.stop_button.on_click(lambda _b: self.job.cancel())
        super().__init__([w.HBox([self.progress, self.stop_button]), self.status, self.log_box])
        self.add_class("sd-job-view")
        self.poller = Ticker(self.update, interval)
        self.update()
        self.poller.start()

    def update(self) -> bool:
        """Refresh from the database; returns False once the job is finished."""
        job = self.job.refresh()
        with self.hold_sync():
            self.progress.value = job.progress
            self.status.value = job_state_html(job) + (
                f" <span style='color:#b00020'>{html.escape(plain_error(job.error))}</span>"
                if job.error
                else ""
            )
            self.stop_button.disabled = job.finished
            if job.finished:
                self.log_box.value = job.logs()
        return not job.finished
