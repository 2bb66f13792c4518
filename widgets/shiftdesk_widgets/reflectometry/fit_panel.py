"""Choosing a fitter, starting a fit job, following it, stopping it, showing its result."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from shiftdesk.errors import ShiftdeskError
from shiftdesk.jobs import Job
from shiftdesk.reflectometry import METHODS, FitProblem, FitResult, method_settings
from shiftdesk_widgets._async import Poller

#: Options shown per fitter (the rest keep bumps' defaults).
SHOWN_OPTIONS = {
    "lm": ("steps",),
    "amoeba": ("steps", "starts"),
    "de": ("steps", "pop"),
    "dream": ("samples", "burn", "pop"),
    "newton": ("steps", "starts"),
}


class FitPanel(w.VBox):
    """Fit controls for a model: method, options, Fit, Stop, progress and χ².

    Parameters
    ----------
    get_problem : callable
        Returns the model to fit at the time Fit is pressed.
    on_result : callable
        Called with the :class:`FitResult` when a fit finishes.
    on_message : callable
        Shows a message (kind, text) to the user.
    """

    def __init__(
        self,
        get_problem: Callable[[], FitProblem],
        on_result: Callable[[FitResult], None],
        on_message: Callable[[str, str], None],
        backend: Any = None,
    ) -> None:
        self.get_problem = get_problem
        self.on_result = on_result
        self.on_message = on_message
        self.backend = backend
        self.job: Job | None = None
        self.method = w.Dropdown(
            options=[(label, key) for key, label in METHODS.items()],
            value="lm",
            description="fitter",
        )
        self.method.add_class("sd-method")
        self.options_box = w.HBox()
        self.option_widgets: dict[str, w.Widget] = {}
        self.method.observe(lambda _c: self._build_options(), "value")
        self.fit_button = w.Button(description="Fit", icon="play", button_style="primary")
        self.fit_button.add_class("sd-fit")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.stop_button.add_class("sd-stop")
        self.progress = w.FloatProgress(min=0.0, max=1.0, layout=w.Layout(width="220px"))
        self.status = w.HTML("")
        self.status.add_class("sd-fit-status")
        self.fit_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.poller = Poller(self.poll, 0.3)
        self._build_options()
        super().__init__(
            [
                w.HBox([self.method, self.options_box]),
                w.HBox([self.fit_button, self.stop_button, self.progress, self.status]),
            ]
        )
        self.add_class("sd-fit-panel")

    def _build_options(self) -> None:
        defaults = method_settings(self.method.value)
        self.option_widgets = {}
        for name in SHOWN_OPTIONS[self.method.value]:
            default = defaults[name]
            box: w.Widget
            if isinstance(default, int) and not isinstance(default, bool):
                box = w.BoundedIntText(
                    value=default,
                    min=1,
                    max=10_000_000,
                    description=name,
                    layout=w.Layout(width="170px"),
                )
            else:
                box = w.FloatText(
                    value=float(default), description=name, layout=w.Layout(width="170px")
                )
            box.style.description_width = "60px"
            self.option_widgets[name] = box
        self.options_box.children = list(self.option_widgets.values())

    def options(self) -> dict[str, Any]:
        """The options set in the panel."""
        return {name: box.value for name, box in self.option_widgets.items()}

    # -- actions -------------------------------------------------------------------------
    def start(self) -> Job | None:
        """Submit the fit job and start following it; returns at once."""
        if self.job is not None and not self.job.refresh().finished:
            self.on_message("warning", "a fit is already running; stop it first")
            return None
        try:
            self.job = self.get_problem().fit(
                method=self.method.value, backend=self.backend, **self.options()
            )
        except ShiftdeskError as exc:
            self.on_message("error", str(exc))
            return None
        self.fit_button.disabled = True
        self.stop_button.disabled = False
        self.progress.value = 0.0
        self.progress.bar_style = ""
        self.status.value = "submitted…"
        self.on_message("info", f"fit started ({METHODS[self.method.value]})")
        self.poller.start()
        return self.job

    def stop(self) -> None:
        """Cancel the running fit."""
        if self.job is not None:
            self.job.cancel()
            self.status.value = "stopping…"

    def follow(self, job: Job) -> None:
        """Show an existing job (e.g. reopened from "my fits")."""
        self.job = job
        self.poll()
        self.poller.start()

    def poll(self) -> bool:
        """Update from the job once; returns False when there is nothing left to follow."""
        job = self.job
        if job is None:
            return False
        job.refresh()
        metrics = job.metrics
        chi2 = f" · χ² = {metrics['chi2']:.4g}" if "chi2" in metrics else ""
        with self.hold_sync():
            self.progress.value = job.progress
            self.status.value = f"{html.escape(job.status.value)}: {html.escape(job.message)}{chi2}"
        if not job.finished:
            return True
        self.fit_button.disabled = False
        self.stop_button.disabled = True
        status = job.status.value
        if status == "done":
            self.progress.bar_style = "success"
            result = job.result()
            self.on_result(result)
        elif status == "cancelled":
            self.progress.bar_style = "warning"
            self.on_message("warning", "the fit was stopped; the model keeps its values")
        else:
            self.progress.bar_style = "danger"
            self.on_message("error", f"the fit failed: {job.error}")
        return False
