"""Panels of the reflectometry dashboard: the fit result, "my models and fits", downloads.

Each panel is a widget that shows what a core object computes: the result panel is
:class:`~shiftdesk.reflectometry.FitResult`'s own view, the downloads are the model's
exports. :class:`~shiftdesk_widgets.reflectometry.dashboard.ReflectometryDashboard`
lays them out and wires their buttons.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from shiftdesk.reflectometry import METHODS, FitProblem, FitResult, ReflectivityCurve
from shiftdesk.reflectometry.data import data_url
from shiftdesk_widgets.reflectometry.notes import Note

#: Colours of the result's status and warnings (the notebook view's CSS is not loaded).
_RESULT_STYLE = (
    "<style>.sd-result .sd-ok {color: #1b7a1b;} .sd-result .sd-bad {color: #b00020;} "
    ".sd-result .sd-warn {color: #a15c00;} "
    ".sd-result td, .sd-result th {padding: 2px 12px 2px 0; text-align: left;}</style>"
)


#: What the result panel says once the model has changed after the fit it showed.
STALE_RESULT = (
    "The model was changed after the last fit, so its χ² and values no longer describe "
    "the curve drawn. Fit again, or reopen the fit under My models and fits."
)


class ResultPanel(w.VBox):
    """The last fit's result: what ``FitResult`` shows in a notebook, with its method.

    Once the drawn model changes (an edit, other data, another model) the result no
    longer describes it: :meth:`mark_stale` replaces it with a note saying so.
    """

    def __init__(self) -> None:
        self.box = w.HTML()
        self.box.add_class("sd-result")
        self.result: FitResult | None = None
        super().__init__([self.box])

    def show(self, result: FitResult) -> None:
        """Show ``result`` (χ², status, fitted and derived values ± errors, warnings)."""
        self.result = result
        method = METHODS.get(result.method, result.method)
        self.box.value = (
            f"{_RESULT_STYLE}<div><b>Fit result</b> · {html.escape(method)}</div>"
            + result._html_body()
        )

    def mark_stale(self) -> None:
        """The drawn model is no longer the fitted one: say so instead of the numbers."""
        if self.result is None:
            return
        self.result = None
        self.box.value = f"<div class='sd-result-stale' style='color:#555'>{STALE_RESULT}</div>"


class LibraryPanel(w.VBox):
    """Title and notes, save; my models (open, apply to the data); my fits (reopen)."""

    def __init__(
        self,
        on_save: Callable[[], Any],
        on_open_model: Callable[[bool], Any],
        on_open_fit: Callable[[], Any],
        on_refresh: Callable[[], Any],
    ) -> None:
        self.title = w.Text(description="title", placeholder="a title for this model")
        self.title.add_class("sd-title")
        self.notes = w.Textarea(description="notes", layout=w.Layout(width="100%", height="60px"))
        self.save_button = w.Button(description="Save model", icon="save")
        self.save_button.add_class("sd-save")
        self.save_button.on_click(lambda _b: on_save())
        # feedback beside the row the user acted on
        self.save_note = Note("sd-save-note")
        self.models_note = Note("sd-models-note")
        self.fits_note = Note("sd-fits-note")
        self.saved_models = w.Dropdown(description="my models", layout=w.Layout(width="360px"))
        self.saved_models.add_class("sd-my-models")
        self.open_model_button = w.Button(description="Open")
        self.open_model_button.on_click(lambda _b: on_open_model(False))
        self.apply_model_button = w.Button(description="Apply to current data")
        self.apply_model_button.on_click(lambda _b: on_open_model(True))
        # wide enough for "<title> · <fitter> · done · <date time>"
        self.my_fits = w.Dropdown(description="my fits", layout=w.Layout(width="520px"))
        self.my_fits.add_class("sd-my-fits")
        self.open_fit_button = w.Button(description="Reopen fit")
        self.open_fit_button.add_class("sd-reopen-fit")
        self.open_fit_button.on_click(lambda _b: on_open_fit())
        self.refresh_button = w.Button(
            icon="refresh", tooltip="refresh the lists", layout=w.Layout(width="40px")
        )
        self.refresh_button.on_click(lambda _b: on_refresh())
        center = w.Layout(align_items="center")
        super().__init__(
            [
                w.HBox([self.title, self.save_button, self.save_note], layout=center),
                self.notes,
                w.HBox(
                    [
                        self.saved_models,
                        self.open_model_button,
                        self.apply_model_button,
                        self.models_note,
                    ],
                    layout=center,
                ),
                w.HBox(
                    [self.my_fits, self.open_fit_button, self.refresh_button, self.fits_note],
                    layout=center,
                ),
            ]
        )


class DownloadsPanel(w.VBox):
    """Links to the refl1d script, the model JSON, the parameters and data with theory."""

    def __init__(
        self,
        problem: Callable[[], FitProblem],
        curve: Callable[[], ReflectivityCurve | None],
    ) -> None:
        self._problem = problem
        self._curve = curve
        self.links = w.HTML()
        self.links.add_class("sd-downloads")
        self.prepare = w.Button(
            description="Prepare downloads", icon="download", layout=w.Layout(width="auto")
        )
        self.prepare.on_click(lambda _b: self.update())
        super().__init__([self.prepare, self.links])

    def update(self) -> None:
        """Build the download links for the current model (and data)."""
        p = self._problem()
        stem = (p.title or (p.data.name if p.data is not None else "model")).replace(" ", "_")
        links = [
            (f"{stem}_refl1d.py", p.to_refl1d_script(), "text/x-python", "refl1d script"),
            (f"{stem}_model.json", p.to_json(), "application/json", "model (JSON)"),
            (f"{stem}_parameters.csv", p.parameters_csv(), "text/csv", "parameters (CSV)"),
        ]
        curve = self._curve()
        if curve is not None and p.data is not None:
            links.append(
                (f"{stem}_data_theory.txt", curve.to_text(), "text/plain", "data with theory")
            )
        self.links.value = (
            "<ul>"
            + "".join(
                f"<li><a download='{html.escape(name)}' href='{data_url(text, mime)}'>"
                f"{html.escape(label)}</a> <small>{html.escape(name)}</small></li>"
                for name, text, mime, label in links
            )
            + "</ul>"
        )
