"""Choosing a fitter and where it runs, starting a fit job, following it, stopping it.

Where a fit runs is picked from ``local``, ``workers`` when the hub runs the shared
job-worker service, and the backends named in the settings file
(:mod:`shiftdesk.settings`: ``[backends.<name>]`` tables, e.g. an SSH worker host or a
Dask scheduler). A backend that cannot be reached fails the job with a message; nothing
here raises into the page.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from shiftdesk.errors import ShiftdeskError
from shiftdesk.jobs import Job
from shiftdesk.jobs.workers_backend import BACKEND_NAME, workers_configured
from shiftdesk.reflectometry import METHODS, FitProblem, FitResult, method_settings
from shiftdesk.settings import load_settings
from shiftdesk_widgets._async import Ticker
from shiftdesk_widgets.reflectometry import _warmup

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
        choices.append(("workers (shared job workers)", BACKEND_NAME))
    try:
        settings = load_settings()
    except ShiftdeskError as exc:
        return choices, str(exc)
    for name, table in settings.backends.items():
        if name not in [known for _label, known in choices]:
            choices.append((f"{name} ({table.type})", name))
    return choices, None


class FitPanel(w.VBox):
    """Fit controls for a model: method, options, where to run, Fit, Stop, progress, χ².

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
        self.backend_picker = w.Dropdown(description="run on", layout=w.Layout(width="260px"))
        self.backend_picker.add_class("sd-backend")
        self.backends_button = w.Button(
            icon="refresh",
            tooltip="re-read the backends from the settings file",
            layout=w.Layout(width="36px"),
        )
        self.backends_button.on_click(lambda _b: self.refresh_backends())
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
        self.poller = Ticker(self.poll, 0.3)
        # the options' defaults come from bumps: in a running kernel once it is loaded
        # in the background (a Fit pressed before that uses bumps' defaults anyway)
        if not _warmup.when_ready(self._build_options):
            self._build_options()
        self.refresh_backends()
        super().__init__(
            [
                w.HBox([self.method, self.options_box], layout=w.Layout(flex_flow="row wrap")),
                w.HBox([self.backend_picker, self.backends_button]),
                w.HBox(
                    [self.fit_button, self.stop_button, self.progress, self.status],
                    layout=w.Layout(flex_flow="row wrap"),
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
            self.on_message("error", f"only the local backend is available: {problem}")

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
        """Submit the fit job and start following it; returns at once."""
        if self.job is not None and not self.job.refresh().finished:
            self.on_message("warning", "a fit is already running; stop it first")
            return None
        where = self.backend_picker.value or "local"
        try:
            self.job = self.get_problem().fit(
                method=self.method.value, backend=self._chosen_backend(), **self.options()
            )
        except (ShiftdeskError, KeyError) as exc:
            self.on_message("error", str(exc).strip("'\""))
            return None
        except Exception as exc:  # a backend that cannot start (settings, network): shown
            self.on_message(
                "error", f"the fit could not be sent to {where!r}: {type(exc).__name__}: {exc}"
            )
            return None
        self.fit_button.disabled = True
        self.stop_button.disabled = False
        self.progress.value = 0.0
        self.progress.bar_style = ""
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
        self.poll()
        self.poller.start()

    def poll(self) -> bool:
        """Update from the job once; returns False when there is nothing left to follow."""
        job = self.job
        if job is None:
            return False
        try:
            job.refresh()
        except ShiftdeskError as exc:
            self.on_message("error", f"cannot follow the fit: {exc}")
            return False
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
            try:
                result = job.result(timeout=0)
            except ShiftdeskError as exc:
                self.on_message("error", f"the fit's result cannot be read: {exc}")
                return False
            self.on_result(result)
        elif status == "cancelled":
            self.progress.bar_style = "warning"
            self.on_message("warning", "the fit was stopped; the model keeps its values")
        else:
            self.progress.bar_style = "danger"
            self.on_message("error", f"the fit failed: {job.error}")
        return False
