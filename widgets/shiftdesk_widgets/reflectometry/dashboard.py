"""The reflectometry dashboard: data, model table, live curves, fits, library, downloads.

With several data sets (a simultaneous fit) the table edits the model picked in the
"Data sets" section, the plots show every data set, and one fit fits them all. The
panels under the plots add the planning calculators (an SLD can be copied into a
layer), runs from the facility data server, my jobs on every backend, and the DREAM
posterior of the fit shown last.

Every number on the page belongs to the curve drawn: when the drawn curves change (an
edit, other data, another model) the texts about the previous curve (the χ² of an
Evaluate, the last fit's status and result, the top line's fit message) are cleared or
marked, while the plot's own χ² follows the new curve. Feedback on an action is shown
beside its control (:class:`~shiftdesk_widgets.reflectometry.notes.Note`); the message
line at the top reports what changed the whole page (data loaded, a fit started or done).
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

import ipywidgets as w

from shiftdesk.errors import ShiftdeskError
from shiftdesk.reflectometry import FitProblem, FitResult, Layer, Library, Medium, ReflData
from shiftdesk.reflectometry.curve_store import CurveStore
from shiftdesk.reflectometry.problem import MODEL_GRID  # noqa: F401  (kept importable here)
from shiftdesk.reflectometry.tools import SLDResult
from shiftdesk_widgets.jobs_panel import JobsPanel
from shiftdesk_widgets.reflectometry import _warmup
from shiftdesk_widgets.reflectometry.constraints_editor import ConstraintsEditor
from shiftdesk_widgets.reflectometry.dataserver_panel import DataServerPanel
from shiftdesk_widgets.reflectometry.datasets_panel import DatasetsPanel
from shiftdesk_widgets.reflectometry.fit_panel import FitPanel
from shiftdesk_widgets.reflectometry.model_table import ModelTable
from shiftdesk_widgets.reflectometry.notes import Note, message_html, plain_error
from shiftdesk_widgets.reflectometry.panels import DownloadsPanel, LibraryPanel, ResultPanel
from shiftdesk_widgets.reflectometry.plots import PlotEntry, ProfilePlot, ReflectivityPlot
from shiftdesk_widgets.reflectometry.tools_panel import ToolsPanel
from shiftdesk_widgets.reflectometry.uncertainty_view import UncertaintyView

#: The page's own CSS (Voilà loads no notebook CSS): the value boxes of the model table
#: without spinner arrows (room for a fitted 578.29 in the narrow column), tab titles
#: wide enough for "Uncertainty (DREAM)", notes spaced from the control they follow.
PAGE_STYLE = """<style>
.sd-reflectometry-dashboard .sd-param input[type=number]::-webkit-inner-spin-button,
.sd-reflectometry-dashboard .sd-param input[type=number]::-webkit-outer-spin-button {
  -webkit-appearance: none; margin: 0;
}
.sd-reflectometry-dashboard .sd-param input[type=number] {
  -moz-appearance: textfield; appearance: textfield;
}
.sd-reflectometry-dashboard .sd-dashboard-tabs {
  --jp-widgets-horizontal-tab-width: 180px;
}
.sd-reflectometry-dashboard .sd-note-box { margin-left: 8px; }
</style>"""
#: Tab titles of the built-in panels (tests and notebooks look them up by title).
DOWNLOADS_TAB = "Downloads"
TOOLS_TAB = "Tools"
DATA_SERVER_TAB = "Facility data"
JOBS_TAB = "My jobs"
UNCERTAINTY_TAB = "Uncertainty (DREAM)"
#: Titles of the sections under the model table (built when first opened).
DATASETS_SECTION = "Data sets (simultaneous fit)"
CONSTRAINTS_SECTION = "Constraints"
#: Choices for a run loaded from the data server.
USE_AS_DATA = "data of the edited model"
USE_AS_DATASET = "a new data set"
#: Shown while the fitting engine loads in a fresh kernel (the data is drawn already).
LOADING_MESSAGE = "loading the fitting engine: the model curve follows in a few seconds"
#: Seconds after the first model curve before the local backend's spare worker starts:
#: its refl1d import would otherwise compete for the CPU with the page being drawn.
BACKEND_DELAY = 2.0
#: Seconds after a deferred first curve at which it is sent to the page again.
RESEND_DELAYS = (1.0, 3.0, 8.0)
#: Seconds after the notebook cell before the engine loads when the first screen needs
#: it not (the model's curve was stored): the page is drawn meanwhile, uncontended.
WARMUP_DELAY = 2.5


def default_problem() -> FitProblem:
    """The model a new dashboard starts with."""
    return FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer("film", thickness=100.0, sld=3.5, roughness=3.0)],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )


class ReflectometryDashboard(w.VBox):
    """Everything a reflectometry user does in one view.

    Parameters
    ----------
    problem : FitProblem, optional
        The model to start with (default: air | film | Si).
    library : Library, optional
        The user's data, models and fits (default: the current user's).
    backend : JobBackend or str, optional
        Where fits run (default: local processes).
    """

    def __init__(
        self,
        problem: FitProblem | None = None,
        library: Library | None = None,
        backend: Any = None,
    ) -> None:
        self.library = library or Library()
        self.problem = problem or default_problem()
        self.data_file_id: int | None = None
        self.last_result: FitResult | None = None
        self.curve = None
        self.curves: list[PlotEntry] = []
        self.messages = w.HTML()
        self.messages.add_class("sd-messages")
        #: the top line speaks of the drawn curve (a χ²): cleared when the curve changes
        self._message_about_curve = False
        #: the problem's curves drawn last (a new object once the problem changed)
        self._drawn_curves: Any = None
        #: set while a fit result is drawn: its curve is the one its texts describe
        self._showing_result = False

        # data
        self.upload = w.FileUpload(
            accept=".txt,.dat,.csv,.ort,.refl", multiple=False, description="Upload data"
        )
        self.upload.add_class("sd-upload")
        self.upload.observe(self._on_upload, "value")
        self.my_data = w.Dropdown(description="my data", layout=w.Layout(width="320px"))
        self.my_data.add_class("sd-my-data")
        self.load_data_button = w.Button(description="Use", icon="folder-open")
        self.load_data_button.add_class("sd-use-data")
        self.load_data_button.on_click(lambda _b: self._open_data())
        self.data_note = Note("sd-data-note")
        self.data_label = w.HTML()

        # model: refused edits and Evaluate's χ² show beside Evaluate, under the table
        self.model_note = Note("sd-model-note")
        self.table = ModelTable(self.problem, on_error=lambda m: self.model_note.say("error", m))
        self.evaluate_button = w.Button(description="Evaluate", icon="calculator")
        self.evaluate_button.add_class("sd-evaluate")
        self.evaluate_button.on_click(lambda _b: self.evaluate(announce=True))
        self.reverse_button = w.Button(
            description="Reverse model",
            icon="exchange",
            tooltip="swap front and back media, reverse the layers",
        )
        self.reverse_button.on_click(
            lambda _b: self._safely(self.edited.reverse, note=self.model_note)
        )

        # data sets and constraints: closed sections, each built when first opened (or
        # its attribute read), ~50 widgets fewer before the page shows
        self._sections: dict[str, Any] = {
            DATASETS_SECTION: lambda: DatasetsPanel(
                self.problem, self._data_for_new_dataset, self._edit_dataset
            ),
            CONSTRAINTS_SECTION: lambda: ConstraintsEditor(self.problem),
        }
        self._built_sections: dict[str, w.Widget] = {}
        self.model_tools = w.Accordion(
            [w.VBox() for _ in self._sections], titles=tuple(self._sections)
        )
        self.model_tools.add_class("sd-model-tools")
        self.model_tools.observe(self._on_section, "selected_index")

        # fit
        self.fit_panel = FitPanel(lambda: self.problem, self._on_fit_result, self.message, backend)
        self.result_panel = ResultPanel()
        self.result_box = self.result_panel.box

        # plots
        self.plot = ReflectivityPlot()
        self.profile = ProfilePlot()

        # library and downloads
        self.library_panel = LibraryPanel(
            self.save_model, self.open_model, self.open_fit, self.refresh_lists
        )
        lp = self.library_panel
        self.title, self.notes, self.save_button = lp.title, lp.notes, lp.save_button
        self.saved_models, self.my_fits = lp.saved_models, lp.my_fits
        self.open_model_button, self.apply_model_button = (
            lp.open_model_button,
            lp.apply_model_button,
        )
        self.open_fit_button, self.refresh_button = lp.open_fit_button, lp.refresh_button
        self.save_note, self.models_note, self.fits_note = (
            lp.save_note,
            lp.models_note,
            lp.fits_note,
        )

        left = w.VBox(
            [
                w.HTML("<h3>Data</h3>"),
                w.HBox(
                    [self.upload, self.my_data, self.load_data_button, self.data_note],
                    layout=w.Layout(align_items="center", flex_flow="row wrap"),
                ),
                self.data_label,
                w.HTML("<h3>Model</h3>"),
                self.table,
                w.HBox(
                    [self.evaluate_button, self.reverse_button, self.model_note],
                    layout=w.Layout(align_items="center"),
                ),
                self.model_tools,
                w.HTML("<h3>Fit</h3>"),
                self.fit_panel,
                self.result_panel,
            ],
            layout=w.Layout(width="58%"),
        )
        right = w.VBox([self.plot, self.profile], layout=w.Layout(width="42%"))
        # further panels (tools, jobs, ...) are added with add_panel()
        self.tabs = w.Tab()
        self.tabs.add_class("sd-dashboard-tabs")
        self.panels: dict[str, w.Widget] = _Panels(self)
        self.add_panel("My models and fits", self.library_panel)

        # Downloads, Tools, Facility data and My jobs are built on first use (their tab
        # picked, or the attribute read): ~140 widgets and a settings read fewer before
        # the page shows.
        self._lazy: dict[str, Any] = {
            DOWNLOADS_TAB: lambda: DownloadsPanel(lambda: self.problem, lambda: self.curve),
            TOOLS_TAB: self._build_tools,
            DATA_SERVER_TAB: self._build_dataserver,
            JOBS_TAB: self._build_jobs,
        }
        self._built: dict[str, w.Widget] = {}
        self.last_sld: SLDResult | None = None
        for title in self._lazy:
            self.add_panel(title, w.VBox())
        self.tabs.observe(self._on_tab, "selected_index")
        # the DREAM posterior: added with the first DREAM result
        self.uncertainty: UncertaintyView | None = None
        super().__init__(
            [
                w.HTML(
                    f"{PAGE_STYLE}<h2>Reflectometry</h2>"
                    f"<small>user: {html.escape(str(self.library.identity))}</small>"
                ),
                self.messages,
                w.HBox([left, right]),
                self.tabs,
            ]
        )
        self.add_class("sd-reflectometry-dashboard")
        self.problem.observe_curves(self._on_curves)
        self.problem.observe(self._on_problem)
        self.refresh_lists()
        self._after_first_curve: list[Any] = []
        #: curves computed before, by model (the first curve without loading the engine)
        self.curve_store = CurveStore()
        # In a running kernel the engine loads in the background, so the page shows
        # seconds earlier: with the model curve stored from an earlier opening, or with
        # the data alone and the curve following once the engine is loaded.
        self.engine_pending = _warmup.when_ready(self._on_engine_ready)
        stored = self.engine_pending and self.curve_store.load(self.problem) is not None
        self.curve_pending = self.engine_pending and not stored
        if self.curve_pending:
            self._draw_data_only()
        else:
            self.refresh()
            if stored:  # nothing on the first screen needs the engine: load it after
                _warmup.defer(WARMUP_DELAY)
            else:
                self.store_curves()

    @classmethod
    def start(cls, library: Library | None = None, backend: Any = None) -> ReflectometryDashboard:
        """The dashboard as a user first sees it: the demo model on the demo data.

        The demo data and model are added to the user's library once, so "my data"
        and "my models" are never empty on a first visit.
        """
        from shiftdesk.jobs import get_backend
        from shiftdesk.reflectometry.demo import seed

        lib = library or Library()
        data_id, model_id = seed(lib)
        dashboard = cls(problem=lib.open_model(model_id), library=lib, backend=backend)
        dashboard.data_file_id = data_id
        dashboard.my_data.value = data_id
        dashboard.saved_models.value = model_id
        if backend is None or isinstance(backend, str):
            name = backend or "local"
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                # no kernel loop: create the backend now, its spare worker imports
                # refl1d while the user reads
                get_backend(name, lib.database)
            else:
                # in a kernel: only once the page shows its model curve
                dashboard._after_first_curve.append(
                    lambda: loop.call_later(BACKEND_DELAY, dashboard._create_backend, name)
                )
                if not dashboard.engine_pending:
                    dashboard._run_after_first_curve()
        return dashboard

    def _create_backend(self, name: str) -> None:
        from shiftdesk.jobs import get_backend

        try:
            get_backend(name, self.library.database)
        except ShiftdeskError as exc:
            self.message("error", f"backend {name!r}: {exc}")

    def _on_engine_ready(self) -> None:
        """The engine is loaded (warm-up done): draw the model curve, then the rest."""
        self.engine_pending = False
        redrawn = self.curve_pending  # (an edit, or the stored curve, may have drawn it)
        if redrawn:
            self.refresh()
            self.store_curves()
        if LOADING_MESSAGE in self.messages.value:
            self.messages.value = ""
        self._run_after_first_curve()
        if w.Widget._control_comm is not None:
            # The page asked for the widgets' state already and may still be building
            # them from it (a slow machine: even after a stored curve's deferred warm-up):
            # an update arriving for a model it has not built yet is dropped (ipywidgets'
            # frontend), so send the redrawn parts and the fit options again shortly.
            loop = asyncio.get_running_loop()
            for delay in RESEND_DELAYS:
                loop.call_later(delay, self._resend_drawn)

    def store_curves(self) -> bool:
        """Keep the curves drawn now (when they are the problem's current ones) for the
        next opening of this model; True when stored."""
        curves = self._drawn_curves
        return curves is not None and self.curve_store.save(self.problem, curves)

    def _resend_drawn(self) -> None:
        """Send the full state of what the first model curve changed to the page again."""
        for root in (self.plot, self.profile, self.messages, self.data_label, self.fit_panel):
            for widget in _subtree(root):
                widget.send_state()

    def _run_after_first_curve(self) -> None:
        steps, self._after_first_curve = self._after_first_curve, []
        for step in steps:
            step()

    def close(self) -> None:
        """Stop the panels' pollers and the download thread, then close the widgets."""
        self.fit_panel.poller.stop()
        self.problem.unobserve_curves(self._on_curves)
        self.problem.unobserve(self._on_problem)
        self.table.close()  # it follows the problem: stop that, and free its widgets
        if JOBS_TAB in self._built:
            self.jobs.close()
        if DATA_SERVER_TAB in self._built:
            self.dataserver.close()
        super().close()

    # -- panels built on first use -------------------------------------------------------
    def _panel(self, title: str) -> w.Widget:
        """The lazily built panel ``title``, built now if it was not."""
        if title not in self._built:
            placeholder = dict.__getitem__(self.panels, title)
            self._built[title] = self._lazy[title]()
            self.add_panel(title, self._built[title])
            placeholder.close()
        return self._built[title]

    def _on_tab(self, change: dict[str, Any]) -> None:
        index = change["new"]
        titles = list(self.panels)
        title = titles[index] if index is not None and 0 <= index < len(titles) else None
        # the posterior's figures leave the page with their tab (first: building a lazy
        # panel below re-creates the tabs after it in the browser)
        if self.uncertainty is not None:
            self.uncertainty.show_figures(title == UNCERTAINTY_TAB)
        if title in self._lazy:
            self._panel(title)

    def _section(self, title: str) -> w.Widget:
        """The section ``title`` under the model table, built now if it was not."""
        if title not in self._built_sections:
            built = self._built_sections[title] = self._sections[title]()
            children = list(self.model_tools.children)
            index = list(self._sections).index(title)
            placeholder, children[index] = children[index], built
            self.model_tools.children = children
            placeholder.close()
        return self._built_sections[title]

    def _on_section(self, change: dict[str, Any]) -> None:
        index = change["new"]
        if index is not None and 0 <= index < len(self._sections):
            self._section(list(self._sections)[index])

    @property
    def datasets_panel(self) -> DatasetsPanel:
        """The data sets of a simultaneous fit (the first section under the table)."""
        return self._section(DATASETS_SECTION)  # type: ignore[return-value]

    @property
    def constraints_editor(self) -> ConstraintsEditor:
        """The constraints between parameters (the second section under the table)."""
        return self._section(CONSTRAINTS_SECTION)  # type: ignore[return-value]

    @property
    def downloads_panel(self) -> DownloadsPanel:
        """Links to the model, the refl1d script and the data (the Downloads tab)."""
        return self._panel(DOWNLOADS_TAB)  # type: ignore[return-value]

    @property
    def downloads(self) -> w.HTML:
        """The download links (made by :attr:`prepare_downloads`)."""
        return self.downloads_panel.links

    @property
    def prepare_downloads(self) -> w.Button:
        """Makes the download links for the model shown."""
        return self.downloads_panel.prepare

    def _build_tools(self) -> w.Widget:
        # the latest SLD result can be copied into a layer of the edited model
        self._tools = ToolsPanel(on_sld=self._on_sld)
        self.last_sld = self._tools.sld.result  # (calculated once before we listened)
        self._sld_target = w.Dropdown(description="layer", layout=w.Layout(width="240px"))
        self._sld_target.add_class("sd-sld-target")
        self._use_sld_button = w.Button(
            description="Use SLD in layer",
            icon="arrow-left",
            tooltip="copy the calculated SLD and iSLD into the layer's parameters",
        )
        self._use_sld_button.add_class("sd-use-sld")
        self._use_sld_button.on_click(lambda _b: self.use_sld())
        self._sld_note = Note("sd-sld-note")
        panel = w.VBox(
            [
                self._tools,
                w.HBox(
                    [self._sld_target, self._use_sld_button, self._sld_note],
                    layout=w.Layout(align_items="center"),
                ),
            ]
        )
        self._built[TOOLS_TAB] = panel  # (so that the sync below finds it)
        self._sync_sld_targets()
        return panel

    def _build_dataserver(self) -> w.Widget:
        # runs from the facility data server
        self._dataserver = DataServerPanel(library=self.library, on_data=self._on_server_data)
        self._dataserver_use = w.RadioButtons(
            options=[USE_AS_DATA, USE_AS_DATASET], value=USE_AS_DATA, description="use as"
        )
        self._dataserver_use.add_class("sd-ds-use")
        return w.VBox([self._dataserver, self._dataserver_use])

    def _build_jobs(self) -> w.Widget:
        # my jobs on every backend; "Open result" opens the fit in the dashboard
        self._jobs = JobsPanel(database=self.library.database, identity=self.library.identity)
        self._jobs.on_open_result(lambda job, _result: self.open_fit(job.id))
        return self._jobs

    @property
    def tools(self) -> ToolsPanel:
        """The planning calculators (the Tools tab)."""
        self._panel(TOOLS_TAB)
        return self._tools

    @property
    def sld_target(self) -> w.Dropdown:
        """The layer "Use SLD in layer" writes to (Tools tab)."""
        self._panel(TOOLS_TAB)
        return self._sld_target

    @property
    def use_sld_button(self) -> w.Button:
        """Copies the calculated SLD into the picked layer (Tools tab)."""
        self._panel(TOOLS_TAB)
        return self._use_sld_button

    @property
    def sld_note(self) -> Note:
        """What "Use SLD in layer" did, beside it (Tools tab)."""
        self._panel(TOOLS_TAB)
        return self._sld_note

    @property
    def dataserver(self) -> DataServerPanel:
        """Runs from the facility data server (the Facility data tab)."""
        self._panel(DATA_SERVER_TAB)
        return self._dataserver

    @property
    def dataserver_use(self) -> w.RadioButtons:
        """Whether a loaded run becomes the edited model's data or a new data set."""
        self._panel(DATA_SERVER_TAB)
        return self._dataserver_use

    @property
    def jobs(self) -> JobsPanel:
        """My jobs on every backend (the My jobs tab)."""
        self._panel(JOBS_TAB)
        return self._jobs

    # -- layout --------------------------------------------------------------------------
    def add_panel(self, title: str, widget: w.Widget) -> w.Widget:
        """Add a tab to the panels under the plots (replacing one of the same title)."""
        self.panels[title] = widget
        self.tabs.children = list(self.panels.values())
        self.tabs.titles = tuple(self.panels)
        return widget

    def show_panel(self, title: str) -> w.Widget:
        """Bring the panel with this title to the front."""
        self.tabs.selected_index = list(self.panels).index(title)  # (builds a lazy one)
        return self.panels[title]

    # -- messages ------------------------------------------------------------------------
    def message(self, kind: str, text: str, *, about_curve: bool = False) -> None:
        """Show one message (info, warning or error) at the top.

        With ``about_curve`` the message speaks of the curve drawn now (a χ²) and is
        cleared as soon as another curve is drawn.
        """
        self.messages.value = message_html(kind, text, "sd-message")
        self._message_about_curve = about_curve

    def clear_message(self) -> None:
        """Empty the message line at the top."""
        self.messages.value = ""
        self._message_about_curve = False

    def _safely(self, action: Any, note: Note | None = None) -> Any:
        """``action()``; a refusal is shown in ``note`` (beside the control), else on top."""
        try:
            return action()
        except (ShiftdeskError, KeyError) as exc:
            text = plain_error(str(exc).strip("'\""))
            if note is not None:
                note.say("error", text)
            else:
                self.message("error", text)
            return None

    # -- model ---------------------------------------------------------------------------
    @property
    def edited(self) -> FitProblem:
        """The data set's model the table edits (the problem itself unless one is picked)."""
        return self.table.problem

    def set_problem(self, problem: FitProblem) -> None:
        """Show and edit another model (what the top line said was about the last one)."""
        self.problem.unobserve_curves(self._on_curves)
        self.problem.unobserve(self._on_problem)
        self.problem = problem
        problem.observe_curves(self._on_curves)
        problem.observe(self._on_problem)
        self.clear_message()
        self.table.set_problem(problem)
        # (a section not built yet is built on the problem shown then)
        for section in self._built_sections.values():
            section.set_problem(problem)
        self.title.value, self.notes.value = problem.title, problem.notes
        self.refresh()

    def _on_curves(self) -> None:
        """The problem's curves changed (an edit): draw the new ones."""
        self.refresh()

    def _on_problem(self, what: str) -> None:
        """Any edit (a "fit" tick too) answers a refusal of Fit shown beside it."""
        self.fit_panel.note.clear()

    def _curve_changed(self) -> None:
        """Another curve is drawn: texts about the previous one are cleared or marked."""
        if self._showing_result:
            return  # the result's texts follow, about this very curve
        self.model_note.clear()
        if self._message_about_curve:
            self.clear_message()
        self.fit_panel.curve_changed()
        self.result_panel.mark_stale()
        if self.uncertainty is not None:
            self.uncertainty.mark_stale()

    def _edit_dataset(self, dataset: FitProblem) -> None:
        """Let the table edit one data set's model."""
        if dataset is self.table.problem:
            return
        self.table.set_problem(dataset)
        self.refresh()
        self.message("info", f"editing the model of data set {dataset.dataset_name!r}")

    def _data_for_new_dataset(self) -> ReflData | None:
        if self.my_data.value is None:
            return None
        data = self._safely(lambda: self.library.open_data(self.my_data.value))
        return data if isinstance(data, ReflData) else None

    def evaluate(self, announce: bool = False) -> None:
        """Evaluate the model now (the curves also redraw on every change).

        With ``announce`` (the Evaluate button) the χ² of the curve drawn is said beside
        the button, as the plot shows it, until another curve is drawn.
        """
        self.refresh()
        if not announce or self.curve is None:
            return
        if self.problem.is_simultaneous:
            parts = [
                f"{e.name}: χ² = {e.curve.chi2:.4g}"
                for e in self.curves
                if e.curve is not None and e.curve.chi2 is not None
            ]
            self.model_note.say("info", " · ".join(parts) or "no data to compare with")
        elif self.curve.chi2 is not None:
            points = int(self.problem.fit_mask().sum())
            self.model_note.say("info", f"χ² = {self.curve.chi2:.4g} on {points} points")
        else:
            self.model_note.say("info", "no data to compare with: load data to get a χ²")

    def refresh(self) -> None:
        """Draw every data set's curve and profile (``problem.curves()``, computed once)."""
        try:
            curves = self.problem.curves()
        except ShiftdeskError as exc:
            self.message("error", str(exc))
            return
        self.curve_pending = False
        datasets = self.problem.datasets
        self._draw([PlotEntry(name, datasets[name].data, curve) for name, curve in curves.items()])
        if curves is not self._drawn_curves:
            self._drawn_curves = curves
            self._curve_changed()

    def _draw_data_only(self) -> None:
        """The data sets without their model curves (while the engine loads)."""
        self._draw([PlotEntry(name, ds.data, None) for name, ds in self.problem.datasets.items()])
        self.message("info", LOADING_MESSAGE)

    def _draw(self, entries: list[PlotEntry]) -> None:
        problem = self.problem
        self.curves = entries
        self.curve = entries[0].curve
        self.plot.show_many(entries, q_range=(problem.q_min, problem.q_max))
        self.profile.show_many([(e.name, e.curve) for e in entries])
        self._sync_sld_targets()
        data = self.edited.data
        self.data_label.value = (
            "no data: load a file to fit"
            if data is None
            else f"<b>{html.escape(data.name)}</b>: {len(data)} points, "
            f"Q {data.q[0]:.4g}–{data.q[-1]:.4g} 1/Å"
        )

    # -- data ----------------------------------------------------------------------------
    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        self.upload_file(bytes(item["content"]), item["name"])

    def upload_file(self, content: bytes, filename: str) -> None:
        """Store an uploaded file in "my data" and fit the model to it."""
        try:
            data_id, data = self.library.add_data(content, filename)
        except ShiftdeskError as exc:
            self.data_note.say("error", f"{filename} was not loaded: {plain_error(str(exc))}")
            return
        self.data_note.clear()
        self.data_file_id = data_id
        self._use_data(data)
        self.refresh_lists()
        self.my_data.value = data_id
        self.message("info", f"loaded {filename}: {len(data)} points")

    def _open_data(self) -> None:
        if self.my_data.value is None:
            self.data_note.say("warning", "pick a data file in my data first (or upload one)")
            return
        data = self._safely(lambda: self.library.open_data(self.my_data.value), self.data_note)
        if data is not None:
            self.data_note.clear()
            self.data_file_id = self.my_data.value
            self._use_data(data)
            self.message("info", f"using {data.name}")

    def _on_server_data(self, data: ReflData) -> None:
        """A run came from the data server: the edited model's data, or a new data set."""
        if self.dataserver_use.value == USE_AS_DATASET:
            added = self._safely(lambda: self.problem.add_dataset(data))
            if added is not None:
                self.datasets_panel.sync()
                self.datasets_panel.select(added.dataset_name)
                self._edit_dataset(added)
                self.message(
                    "info",
                    f"added {data.name} as data set {added.dataset_name!r}: {len(data)} points",
                )
        else:
            self.data_file_id = self.dataserver.data_id
            self._use_data(data)
            self.message("info", f"using {data.name} from the data server: {len(data)} points")
        self.refresh_lists()

    # -- tools ---------------------------------------------------------------------------
    def _on_sld(self, result: SLDResult) -> None:
        self.last_sld = result
        self.use_sld_button.disabled = False

    def _sync_sld_targets(self) -> None:
        if TOOLS_TAB not in self._built:
            return  # synced when the Tools tab is built
        names = [slab.name for slab in (self.edited.front, *self.edited.layers, self.edited.back)]
        if list(self.sld_target.options) != names:
            keep = self.sld_target.value
            self.sld_target.options = names
            self.sld_target.value = (
                keep if keep in names else (names[1] if len(names) > 2 else names[0])
            )

    def use_sld(self, layer: str | None = None) -> None:
        """Copy the SLD calculator's last result into a layer (default: the one picked)."""
        self._panel(TOOLS_TAB)  # (its first calculation is the default result)
        result = self.last_sld
        if result is None:
            self.sld_note.say("warning", "calculate an SLD above first")
            return
        name = layer or self.sld_target.value
        try:
            slab = self.edited.use_sld(name, result)
        except ShiftdeskError as exc:
            self.sld_note.say("error", plain_error(str(exc)))
            return
        self.sld_note.say(
            "info",
            f"{name}: SLD {slab.sld.value:g}, iSLD {slab.isld.value:g} "
            f"(from {result.formula} at {result.density:g} g/cm³)",
        )

    def _use_data(self, data: Any) -> None:
        self.edited.set_data(data)  # the data set being edited; its whole Q range

    # -- fits ----------------------------------------------------------------------------
    def _on_fit_result(self, result: FitResult) -> None:
        """A fit run from the Fit button finished: show it, select it in "my fits"."""
        job = self.fit_panel.job
        self.show_result(result, job_id=job.id if job is not None else None)

    def show_result(
        self, result: FitResult, *, reopened: bool = False, job_id: str | None = None
    ) -> None:
        """Put fitted values ± errors into the model, draw it and report the fit.

        Parameters
        ----------
        result : FitResult
            The fit to show.
        reopened : bool
            A fit reopened from "my fits" (or the jobs panel), not one just finished.
        job_id : str, optional
            The fit's job, selected in "my fits".
        """
        self.last_result = result
        self._showing_result = True
        try:
            if result.problem is not self.problem:
                self.problem.apply_result(result)  # (redraws: the fitted curve)
            self.refresh()
        finally:
            self._showing_result = False
        self.result_panel.show(result)
        self._show_uncertainty(result)
        chi2 = f"χ² = {result.chi2:.4g}"
        if reopened:
            self.message("info", f"reopened the fit: {chi2}", about_curve=True)
        elif result.converged and not result.warnings:
            self.message("info", f"fit done: {chi2}", about_curve=True)
        else:
            self.message(
                "warning",
                f"fit done ({chi2}) with warnings: " + "; ".join(result.warnings),
                about_curve=True,
            )
        self.refresh_lists(select_fit=job_id)

    def _show_uncertainty(self, result: FitResult) -> None:
        """A DREAM result opens the posterior panel; other results update it if shown."""
        if result.uncertainty is None:
            if self.uncertainty is not None:
                self.uncertainty.show(result)  # says there is no posterior for this fit
            return
        if self.uncertainty is None:
            self.uncertainty = UncertaintyView()
            # its tab is not open yet: the figures join once it is (_on_tab)
            self.uncertainty.show_figures(False)
            self.add_panel(UNCERTAINTY_TAB, self.uncertainty)
        self.uncertainty.show(result)
        self.show_panel(UNCERTAINTY_TAB)

    # -- library -------------------------------------------------------------------------
    def refresh_lists(self, *, select_fit: str | None = None) -> None:
        """Reload "my data", "my models" and "my fits".

        Each list keeps its selection; one whose selection is gone selects its first
        entry (the newest fit), and an empty one shows what to do instead of a blank.
        ``select_fit`` selects that fit (one just finished).
        """
        lib = self.library
        try:
            data = lib.list_data()
            models = lib.list_models()
            fits = lib.list_fits(limit=50)
        except ShiftdeskError as exc:
            self.message("error", str(exc))
            return
        _fill(
            self.my_data,
            [(f"{d.name} ({d.n_points} pts) #{d.id}", d.id) for d in data],
            "no data yet: upload a file",
        )
        _fill(
            self.saved_models,
            [(f"{m.title} #{m.id}", m.id) for m in models],
            "no saved models yet",
        )
        _fill(
            self.my_fits,
            [(f"{j.title} · {j.status.value} · {j.created_at:%Y-%m-%d %H:%M}", j.id) for j in fits],
            "no fits yet: press Fit",
            select=select_fit,
        )
        self.open_fit_button.disabled = not fits
        self.open_model_button.disabled = self.apply_model_button.disabled = not models
        self.load_data_button.disabled = not data

    def save_model(self) -> int | None:
        """Save the model with the title and notes typed in (the outcome shows beside Save)."""
        title = self.title.value.strip()
        if not title:
            self.save_note.say("error", "type a title for the model, then press Save model")
            return None
        saved = self._safely(
            lambda: self.library.save_model(
                self.problem, title, self.notes.value, data_file_id=self.data_file_id
            ),
            self.save_note,
        )
        if saved is not None:
            self.store_curves()
            self.refresh_lists()
            self.saved_models.value = saved
            self.save_note.say("info", f"saved as {title!r} in my models")
        return saved  # type: ignore[no-any-return]

    def open_model(self, apply_to_data: bool = False) -> None:
        """Open the selected saved model (on its own data, or on the current data)."""
        model_id = self.saved_models.value
        if model_id is None:
            self.models_note.say("warning", "choose a model in my models first")
            return
        data = self.problem.data if apply_to_data else True
        problem = self._safely(
            lambda: self.library.open_model(model_id, data=data), self.models_note
        )
        if problem is not None:
            self.set_problem(problem)
            self.models_note.say(
                "info",
                f"opened {problem.title!r}" + (" on the current data" if apply_to_data else ""),
            )

    def open_fit(self, job_id: str | None = None) -> None:
        """Reopen a fit (default: the one selected): its model, data and (when done) result."""
        job_id = job_id or self.my_fits.value
        if job_id is None:
            self.fits_note.say("warning", "choose a fit in my fits first")
            return
        opened = self._safely(lambda: self.library.open_fit(job_id), self.fits_note)
        if opened is None:
            return
        problem, result = opened
        self.set_problem(problem)
        self.fits_note.say("info", "reopened: its model, data and result are shown above")
        if result is not None:
            self.show_result(result, reopened=True, job_id=job_id)
        else:
            from shiftdesk.jobs import Job

            self.fit_panel.follow(Job(job_id, self.library.database, self.library.identity))

    # -- downloads -----------------------------------------------------------------------
    def update_downloads(self) -> None:
        """Build the download links for the current model (and data)."""
        self.downloads_panel.update()


def _fill(
    dropdown: w.Dropdown,
    options: list[tuple[str, Any]],
    placeholder: str,
    select: Any = None,
) -> None:
    """Set a list's options, keeping its selection (else ``select``, else the first).

    An empty list shows ``placeholder`` (value None) rather than a blank box.
    """
    keep = dropdown.value
    values = [value for _label, value in options]
    if not options:
        options, index = [(placeholder, None)], 0
    elif select in values:
        index = values.index(select)
    else:
        index = values.index(keep) if keep in values else 0
    if list(dropdown.options) != options:
        dropdown.options = options
    # by index: a value of None would select nothing (a blank box, not the placeholder)
    if dropdown.index != index:
        dropdown.index = index


def _subtree(root: w.Widget) -> list[w.Widget]:
    """``root`` and every widget reachable from its traits (children, marks, scales, ...)."""
    seen: dict[str, w.Widget] = {}
    todo = [root]
    while todo:
        widget = todo.pop()
        if widget.comm is None or widget.model_id in seen:
            continue
        seen[widget.model_id] = widget
        for name in widget.keys:
            value = getattr(widget, name, None)
            for item in value if isinstance(value, list | tuple) else (value,):
                if isinstance(item, w.Widget):
                    todo.append(item)
    return list(seen.values())


class _Panels(dict[str, w.Widget]):
    """The dashboard's panels by title; looking up a lazily built one builds it."""

    def __init__(self, dashboard: ReflectometryDashboard) -> None:
        super().__init__()
        self._dashboard = dashboard

    def __getitem__(self, title: str) -> w.Widget:
        if title in getattr(self._dashboard, "_lazy", {}):
            return self._dashboard._panel(title)
        return super().__getitem__(title)
