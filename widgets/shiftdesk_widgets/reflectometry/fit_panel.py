"""Choosing a fitter and where it runs, starting a fit job, following it, stopping it.

Where a fit runs is picked from ``local``, ``workers`` when the hub runs the shared
job-worker service, and the backends named in the settings file
(:mod:`shiftdesk.settings`: ``[backends.<name>]`` tables, e.g. an SSH worker host or a
Dask scheduler). A backend that cannot be reached fails the job with a message; nothing
here raises into the page.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from shiftdesk.errors import ShiftdeskError
from shiftdesk.jobs import Job
from shiftdesk.jobs.workers_backend import BACKEND_NAME, workers_configured
from shiftdesk.reflectometry import METHODS, FitProblem, FitResult, method_settings
from shiftdesk.reflectometry.fitting import FitObstacle, fit_obstacle
from shiftdesk.settings import load_settings
from shiftdesk_widgets._async import Ticker
from shiftdesk_widgets.reflectometry import _warmup
from shiftdesk_widgets.reflectometry.notes import Note, message_html, plain_error

log = logging.getLogger(__name__)

#: Options shown per fitter (the rest keep bumps' defaults).
SHOWN_OPTIONS = {
    "lm": ("steps",),
    "amoeba": ("steps", "starts"),
    "de": ("steps", "pop"),
    "dream": ("samples", "burn", "pop"),
    "newton": ("steps", "starts"),
}


def backend_choices() -> tuple[list[tuple[str, str]], str | None]:
    """``(label, name)`` of every backend a fit can go to, and a settings error if any.

    ``local`` is always there; ``workers`` (the hub's shared job-worker service,
    :mod:`shiftdesk.jobs.job_worker_service`) when the hub says it runs one; the others
    come from the settings file, labelled with their type (``cluster (ssh)``). A broken
    settings file leaves only ``local`` (and ``workers``) and says why.
    """
    choices = [("local", "local")]
    if workers_configured():
        choices.append(("shared job workers", BACKEND_NAME))
    try:
        settings = load_settings()
    except ShiftdeskError as exc:
        return choices, str(exc)
    for name, table in settings.backends.items():
        if name not in [known for _label, known in choices]:
            choices.append((f"{name} ({table.type})", name))
    return choices, None


def obstacle_text(obstacle: FitObstacle) -> str:
    """Why Fit cannot start, in the words of the page (not of the notebook API)."""
    reason = obstacle.reason
    if reason == "no data":
        where = f" for data set {obstacle.dataset!r}" if obstacle.dataset else ""
        return (
            f"there is no data to fit{where}: upload a file, or pick one in my data and press Use"
        )
    if reason == "constraint":
        return (
            f"the constraint {obstacle.path} cannot be applied: correct or remove it under "
            "Constraints"
        )
    if reason == "nothing free":
        return "nothing to fit: tick Fit on a parameter to fit it"
    if reason == "outside range":
        return (
            f"{obstacle.path} is outside its min–max range: change its value or its range "
            "before fitting"
        )
    if reason == "too few points":
        return (
            f"only {obstacle.points} data points in the Q range for {obstacle.free} fitted "
            "parameters: widen the Q range or untick Fit on some parameters"
        )
    return obstacle.message


def duration_text(seconds: float) -> str:
    """``"about 40 s"``, ``"about 3 min"``: a time left, rounded as people say it."""
    if seconds < 10:
        return "a few seconds"
    if seconds < 90:
        return f"about {5 * round(seconds / 5):.0f} s"
    return f"about {round(seconds / 60):.0f} min"


def status_text(job: Job, method: str | None = None) -> str:
    """What a fit job is doing, each fact once: step, χ² so far, time left.

    The job's own message (``"step 7: χ² = 98.1"``) is for job lists; here the numbers
    come from its metrics, so nothing is said twice.
    """
    status = job.status.value
    metrics = job.metrics
    chi2 = metrics.get("chi2")
    if status == "queued":
        return "waiting for a worker…"
    if status == "running":
        if "step" not in metrics:
            said = job.message if job.message not in ("", "running", status) else ""
            text = said or "starting the fit…"
            return text if chi2 is None or "χ²" in text else f"{text} · χ² so far {chi2:.4g}"
        step, steps = int(metrics["step"]), int(metrics.get("steps", 0))
        parts = [f"step {min(step, steps)} of {steps}" if steps else f"step {step}"]
        burn = int(metrics.get("burn", 0))
        if method == "dream" and burn and step <= burn:
            parts[0] += " (burn-in)"
        if chi2 is not None:
            parts.append(f"χ² so far {chi2:.4g}")
        if "remaining" in metrics:
            parts.append(f"{duration_text(metrics['remaining'])} left")
        elif steps:
            parts.append("estimating the time left…")
        return " · ".join(parts)
    if status == "done":
        return "done" if chi2 is None else f"done · χ² = {chi2:.4g}"
    if status == "cancelled":
        return "stopped: the model keeps its values"
    if status == "failed":
        return f"failed: {plain_error(job.error)}"
    return status


class FitPanel(w.VBox):
    """Fit controls for a model: method, options, where to run, Fit, Stop, progress, χ².

    Feedback appears beside the controls: :attr:`note` next to Fit and Stop says why a
    fit did not start, :attr:`status` what the running (or last) fit is doing, with its
    step, χ² so far and (for DREAM) the time left, and :attr:`backend_note` next to the
    "run on" picker why a backend is missing.

    Parameters
    ----------
    get_problem : callable
        Returns the model to fit at the time Fit is pressed.
    on_result : callable
        Called with the :class:`FitResult` when a fit finishes.
    on_message : callable
        Shows a message (kind, text) to the user.
    backend : JobBackend or str, optional
        Where fits run at first (default ``local``); the "run on" picker changes it.
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
        self.backend_picker = w.Dropdown(description="run on", layout=w.Layout(width="300px"))
        self.backend_picker.add_class("sd-backend")
        self.backends_button = w.Button(
            icon="refresh",
            tooltip="re-read the backends from the settings file",
            layout=w.Layout(width="36px"),
        )
        self.backends_button.on_click(lambda _b: self.refresh_backends())
        self.backend_note = Note("sd-backend-note")
        self.options_box = w.HBox()
        self.option_widgets: dict[str, w.Widget] = {}
        self.method.observe(lambda _c: self._build_options(), "value")
        self.fit_button = w.Button(description="Fit", icon="play", button_style="primary")
        self.fit_button.add_class("sd-fit")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.stop_button.add_class("sd-stop")
        self.note = Note("sd-fit-note")
        # shown while a fit is followed (an empty bar before any fit says nothing)
        self.progress = w.FloatProgress(
            min=0.0, max=1.0, layout=w.Layout(width="220px", display="none")
        )
        self.status = w.HTML("")
        self.status.add_class("sd-fit-status")
        self._method: str | None = None
        self.fit_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.poller = Ticker(self.poll, 0.3)
        # the options' defaults come from bumps: in a running kernel once it is loaded
        # in the background (a Fit pressed before that uses bumps' defaults anyway)
        if not _warmup.when_ready(self._build_options):
            self._build_options()
        self.refresh_backends()
        super().__init__(
            [
                w.HBox([self.method, self.options_box], layout=w.Layout(flex_flow="row wrap")),
                w.HBox([self.backend_picker, self.backends_button, self.backend_note]),
                w.HBox(
                    [self.fit_button, self.stop_button, self.note, self.progress, self.status],
                    layout=w.Layout(flex_flow="row wrap", align_items="center"),
                ),
            ]
        )
        self.add_class("sd-fit-panel")

    def refresh_backends(self) -> None:
        """Re-read the backends from the settings file (a broken file keeps ``local``)."""
        choices, problem = backend_choices()
        names = [name for _label, name in choices]
        given = self.backend if isinstance(self.backend, str) else None
        given = given or getattr(self.backend, "name", None)
        if given is not None and given not in names:
            choices.append((str(given), str(given)))
            names.append(str(given))
        current = self.backend_picker.value or given or "local"
        self.backend_picker.options = choices
        self.backend_picker.value = current if current in names else "local"
        if problem is not None:
            self.backend_note.say("error", f"only the local backend is available: {problem}")
        else:
            self.backend_note.clear()

    def _chosen_backend(self) -> Any:
        """The picked backend: the object given to the panel if it is the one picked."""
        name = self.backend_picker.value or "local"
        given = self.backend
        if given is not None and not isinstance(given, str) and getattr(given, "name", "") == name:
            return given
        return name

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
        """Submit the fit job and start following it; returns at once.

        A fit that cannot start says why in :attr:`note`, beside the Fit button.
        """
        if self.job is not None and not self.job.refresh().finished:
            self.note.say("warning", "a fit is running: wait for it, or press Stop first")
            return None
        where = self.backend_picker.value or "local"
        problem = self.get_problem()
        try:
            obstacle = fit_obstacle(problem)
        except ShiftdeskError as exc:
            self.note.say("error", plain_error(str(exc)))
            return None
        if obstacle is not None:
            self.note.say("error", obstacle_text(obstacle))
            return None
        try:
            self.job = problem.fit(
                method=self.method.value, backend=self._chosen_backend(), **self.options()
            )
        except (ShiftdeskError, KeyError) as exc:
            self.note.say("error", plain_error(str(exc).strip("'\"")))
            return None
        except Exception as exc:  # a backend that cannot start (settings, network): shown
            reason = plain_error(str(exc)) if str(exc) else "it did not answer"
            self.note.say("error", f"the fit could not be sent to {where}: {reason}")
            return None
        self.note.clear()
        self._method = self.method.value
        self.fit_button.disabled = True
        self.stop_button.disabled = False
        with self.hold_sync():
            self.progress.value = 0.0
            self.progress.bar_style = ""
            self.progress.layout.display = ""
            self.status.value = "submitted…"
        on = "" if where == "local" else f" on {where}"
        self.on_message("info", f"fit started ({METHODS[self.method.value]}{on})")
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
        try:
            self._method = str(job.spec.get("method") or "") or None
        except (ValueError, TypeError):
            self._method = None
        self.note.clear()
        self.progress.layout.display = ""
        self.poll()
        self.poller.start()

    def curve_changed(self) -> None:
        """The drawn model changed: a finished fit's status no longer describes it."""
        self.note.clear()
        if self.job is not None and not self.job.finished:
            return  # a running fit's progress stays
        with self.hold_sync():
            self.status.value = ""
            self.progress.value = 0.0
            self.progress.bar_style = ""
            self.progress.layout.display = "none"

    def _set_status(self, kind: str | None, text: str) -> None:
        self.status.value = (
            html.escape(text) if kind is None else message_html(kind, text, "sd-fit-outcome")
        )

    def poll(self) -> bool:
        """Update from the job once; returns False when there is nothing left to follow."""
        job = self.job
        if job is None:
            return False
        try:
            job.refresh()
        except ShiftdeskError as exc:
            self._set_status("error", f"cannot follow the fit: {plain_error(str(exc))}")
            return False
        if not job.finished:
            with self.hold_sync():
                self.progress.value = job.progress
                self._set_status(None, status_text(job, self._method))
            return True
        self.fit_button.disabled = False
        self.stop_button.disabled = True
        self.progress.value = job.progress
        status = job.status.value
        if status == "done":
            self.progress.bar_style = "success"
            try:
                result = job.result(timeout=0)
            except ShiftdeskError as exc:
                reason = plain_error(str(exc))
                self._set_status("error", f"the result cannot be read: {reason}")
                self.on_message("error", f"the fit's result cannot be read: {reason}")
                return False
            try:
                self.on_result(result)
            except Exception as exc:  # a view that cannot show it: said, never raised
                log.exception("showing the fit result failed")
                self._set_status("error", f"the result could not be shown: {plain_error(str(exc))}")
                return False
            # set after the result is drawn: the χ² of the curve now shown
            self._set_status(None, f"done · χ² = {result.chi2:.4g}")
        elif status == "cancelled":
            self.progress.bar_style = "warning"
            self._set_status("warning", status_text(job))
            self.on_message("warning", "the fit was stopped; the model keeps its values")
        else:
            self.progress.bar_style = "danger"
            self._set_status("error", status_text(job))
            self.on_message("error", f"the fit failed: {plain_error(job.error)}")
        return False
