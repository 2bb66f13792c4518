"""The data-session dashboard: :class:`DatalabView` over :class:`~shiftdesk.datalab.DataSession`.

What an observer keeps open during a night: their sessions; a session's frames as a
gallery (upload adds more); the operation wizard (the form built from the operation's
schema, checked before it runs, refusals shown on the field); the operations running,
with progress bars; the history and the chain of operations; the outputs as a gallery;
the image viewer; light curves and periodograms.

Slow calls (adding frames, checking and starting an operation, reading a frame, making
thumbnails) run off the kernel's thread (:class:`~shiftdesk_widgets.runtable._calls.Background`)
and their outcome is written on the kernel's thread. A
:class:`~shiftdesk_widgets._async.Ticker` on the kernel's loop reads the running
operations four times a second, so progress shows within a second of being reported.
Only the first tab is built before the page shows; the others when first opened.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import ipywidgets as w

from shiftdesk_widgets._async import Ticker, tick_until
from shiftdesk_widgets.datalab import _images
from shiftdesk_widgets.datalab._common import (
    STYLE,
    Feedback,
    attr,
    classed,
    error_text,
    loop_running,
    state_badge,
    table_html,
    when_text,
)
from shiftdesk_widgets.datalab.chain import ChainGraph
from shiftdesk_widgets.datalab.gallery import Gallery, GalleryItem, InputsPanel
from shiftdesk_widgets.datalab.lightcurve import CurveResult, LightCurvePanel, light_curve_arrays
from shiftdesk_widgets.datalab.running import OpRow, RunningPanel
from shiftdesk_widgets.datalab.sessions import SessionsPanel
from shiftdesk_widgets.datalab.viewer import ImageViewer
from shiftdesk_widgets.datalab.wizard import FileChoice, OperationWizard
from shiftdesk_widgets.runtable._calls import Background, Caller, run_now

#: Tab titles, in order (the first is built with the page; the others when opened).
INPUTS, NEW, OPERATIONS, OUTPUTS, VIEWER, CURVES = (
    "Frames", "New operation", "History & chain", "Outputs", "Viewer", "Light curves",
)  # fmt: skip
TABS = (INPUTS, NEW, OPERATIONS, OUTPUTS, VIEWER, CURVES)
#: Seconds between reads of the whole operation list (operations started elsewhere).
LIST_EVERY = 2.0


def _fits_name(path: str) -> bool:
    lower = path.lower()
    return lower.endswith((".fits", ".fit", ".fts", ".fits.fz", ".fz", ".fits.gz"))


class DatalabView(w.VBox):
    """The data-session dashboard.

    Parameters
    ----------
    session : DataSession, optional
        The session shown first (None: none until one is picked or made).
    interval : float
        Seconds between reads of the running operations (a Ticker on the kernel's loop;
        without a running loop, as in scripts and tests, call :meth:`tick`).
    database, identity : optional
        Where sessions are and who looks (default: the configured ones).
    """

    def __init__(
        self,
        session: Any = None,
        *,
        interval: float = 0.25,
        database: Any = None,
        identity: Any = None,
    ) -> None:
        self.database = database
        self.identity = identity
        self.interval = interval
        self._closed = False
        self.session: Any = None
        self.handles: dict[Any, Any] = {}
        self._results: dict[Any, Any] = {}
        self._seen_ops: set[Any] = set()
        self._last_list = 0.0
        self.last_tick = 0.0
        self.background = Background()
        self._caller: Caller = self.background if loop_running() else run_now
        # the registry imports every operation (astropy, photutils): ~0.5 s of a fresh
        # kernel that the first screen (sessions and frames) does not need
        self._described: dict[str, dict[str, Any]] | None = None
        self._titles: dict[str, str] | None = None

        self.title = classed(w.HTML(), "sd-dl-title")
        self.status = classed(w.HTML(), "sd-dl-live")
        self.sessions = SessionsPanel(self._list_sessions, self._create, self.open_session,
                                      caller=self._caller)  # fmt: skip
        self.running = RunningPanel(self._cancel)
        self.inputs_gallery = Gallery(on_view=self.view, caller=self._caller,
                                      empty="no frame yet: add FITS frames above")  # fmt: skip
        self.inputs_gallery.on_select = self._picked
        self.inputs = InputsPanel(None, self.inputs_gallery, caller=self._caller,
                                  on_added=lambda _r: self._inputs_changed())  # fmt: skip
        self._builders: dict[str, Callable[[], w.Widget]] = {
            NEW: self._build_wizard,
            OPERATIONS: self._build_history,
            OUTPUTS: self._build_outputs,
            VIEWER: self._build_viewer,
            CURVES: self._build_curves,
        }
        self.panels: dict[str, w.Widget] = {INPUTS: self.inputs}
        self.tabs = classed(w.Tab([self.inputs, *(w.VBox() for _t in TABS[1:])]), "sd-dl-tabs")
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title)
        self.tabs.observe(self._on_tab, "selected_index")
        bar = classed(w.HBox([self.title, self.status]), "sd-dl-titlebar")
        running_head = w.HTML("<div class='sd-dl-section'>Running</div>")
        super().__init__([w.HTML(STYLE), bar, self.sessions, running_head, self.running,
                          self.tabs])  # fmt: skip
        classed(self, "sd-dl-view")
        if session is not None:
            self.show_session(session)
        else:
            self._title()
        self.ticker = Ticker(self.tick, interval)
        self.ticker.start()
        self._live(True)

    @property
    def described(self) -> dict[str, dict[str, Any]]:
        """Every registered operation's description (its form's schema), by name."""
        if self._described is None:
            from shiftdesk.datalab import operations

            self._described = {n: op.describe() for n, op in operations.available().items()}
        return self._described

    @property
    def titles(self) -> dict[str, str]:
        """Operation titles by name."""
        if self._titles is None:
            self._titles = {n: d.get("title", n) for n, d in self.described.items()}
        return self._titles

    @classmethod
    def start(cls, session: int | str | None = None, **kwargs: Any) -> DatalabView:
        """The dashboard on ``session`` (an id or a name), else on my latest session.

        When I have no session yet, the demo session is made first (as ``shiftdesk demo``
        does: small frames of one field in three filters).
        """
        from shiftdesk.datalab import DataSession

        sessions = DataSession.list()
        if not sessions:
            _seed_demo()
            sessions = DataSession.list()
        chosen = None
        if isinstance(session, int):
            chosen = DataSession.open(session)
        elif isinstance(session, str):
            chosen = next((s for s in sessions if s.name == session), None)
            if chosen is None:
                raise LookupError(f"no data session named {session!r} of yours")
        elif sessions:
            chosen = sessions[0]
        return cls(chosen, **kwargs)

    # -- sessions ---------------------------------------------------------------------------
    def _kw(self) -> dict[str, Any]:
        kw = {}
        if self.database is not None:
            kw["database"] = self.database
        if self.identity is not None:
            kw["identity"] = self.identity
        return kw

    def _list_sessions(self) -> list[dict[str, Any]]:
        from shiftdesk.datalab import DataSession

        return [
            {"id": s.id, "name": s.name, "owner": s.owner, "created": s.created_at,
             "modified": s.modified_at}
            for s in DataSession.list(**self._kw())
        ]  # fmt: skip

    def _create(self, name: str) -> Any:
        from shiftdesk.datalab import DataSession

        return DataSession.create(name, **self._kw()).id

    def open_session(self, session_id: Any) -> None:
        """Show session ``session_id`` (it must be mine or shared with me)."""
        from shiftdesk.datalab import DataSession

        if self.session is not None and self.session.id == session_id:
            return
        self.show_session(DataSession.open(session_id, **self._kw()))

    def show_session(self, session: Any) -> None:
        """Show ``session`` (a :class:`~shiftdesk.datalab.DataSession`)."""
        self.session = session
        self.handles = {}
        self._results = {}
        self._seen_ops = set()
        self.running.dismissed = set()
        self.sessions.refresh(select=session.id)
        read_only = bool(attr(session, "read_only", False))
        why = f"you read {session.owner}'s session; only they add frames or run operations"
        self.inputs.set_add(None if read_only else self._add_inputs, why if read_only else "")
        self._inputs_changed(picked=[])
        self._read_operations(show_finished=False)
        if NEW in self.panels:
            self.wizard.set_run(None if read_only else self._run, why if read_only else "")
            self.wizard.refresh_files()
        for title in (OPERATIONS, OUTPUTS, VIEWER, CURVES):
            if title in self.panels:
                self._refresh_panel(title)
        self._title()

    def _title(self) -> None:
        s = self.session
        if s is None:
            self.title.value = "<h2>Data sessions</h2> <small>no session open</small>"
            return
        badge = ("<span class='sd-dl-badge' style='background:#fff3e0;color:#a84300'>"
                 "read-only</span>" if attr(s, "read_only", False) else "")  # fmt: skip
        self.title.value = (
            f"<h2>Data sessions · {html.escape(s.name)}</h2> <small>#{s.id} · owner "
            f"{html.escape(str(s.owner))}</small> {badge}"
        )

    # -- frames -------------------------------------------------------------------------------
    def _add_inputs(self, paths: list[Path]) -> Any:
        return self.session.add_inputs(paths)

    def _input_items(self) -> list[GalleryItem]:
        if self.session is None:
            return []
        items = []
        for i in self.session.inputs:
            path = str(i.path)
            items.append(
                GalleryItem(
                    key=path, name=i.name, filter=i.filter or "", date=i.date_obs or "",
                    object=i.object or "", exptime=i.exptime, shape=i.shape,
                    thumbnail=lambda p=path, h=i.sha256: _images.cached_thumbnail(p, h),
                )
            )  # fmt: skip
        return items

    def _inputs_changed(self, picked: list[str] | None = None) -> None:
        try:
            items = self._input_items()
        except Exception as exc:  # said beside the upload; the gallery keeps what it had
            self.inputs.feedback.error(exc, "frames not read")
            return
        self.inputs_gallery.set_items(items)
        if picked is not None:
            self.inputs_gallery.select(picked)
        if NEW in self.panels:
            self.wizard.refresh_files()
        if VIEWER in self.panels:
            self.viewer.refresh_files()

    def _picked(self, keys: list[str]) -> None:
        if NEW in self.panels:
            self.wizard.pick(keys)

    # -- operations -----------------------------------------------------------------------------
    def _run(self, name: str, values: dict[str, Any]) -> Any:
        return self.session.run(name, **values)

    def _validate(self, name: str, values: dict[str, Any]) -> Any:
        from shiftdesk.datalab import operations

        return operations.validate(name, values)

    def _cancel(self, key: Any) -> None:
        handle = self.handles.get(key)
        if handle is None:
            raise LookupError(f"operation {key} is not on this page")
        handle.cancel()
        self.running.update(self.row(handle))

    def _started(self, handle: Any) -> None:
        self.handles[handle.id] = handle
        self._seen_ops.add(handle.id)
        self.running.update(self.row(handle))
        if handle.finished:  # served from the store: its outputs are there already
            self._operations_finished()

    def row(self, handle: Any) -> OpRow:
        """The running list's row of an operation handle."""
        names = [str(f.get("name", "")) for f in attr(handle, "inputs", []) or []]
        n = len(names)
        title = self.titles.get(handle.operation, handle.operation)
        label = f"#{handle.id} {title}" + (f" of {n} frame{'s' if n != 1 else ''}" if n else "")
        outputs: list[str] = []
        if handle.status == "done":
            # what it made, not the previews of it
            outputs = [p.name for p in self._outputs_of(handle) if not p.stem.endswith("_thumb")]
            outputs = [
                n
                for n in outputs
                if not any(n == Path(f).stem + ".png" for f in outputs if _fits_name(f))
            ]
        return OpRow(
            key=handle.id, title=label, status=handle.status, progress=handle.progress,
            message=handle.message, cached=handle.cached, error=handle.error or "",
            error_field=handle.error_field or "", when=when_text(handle.created_at)[11:],
            operation=handle.operation, inputs=names, outputs=outputs,
            upstream=list(attr(handle, "upstream", []) or []),
        )  # fmt: skip

    def _result(self, handle: Any) -> Any:
        if handle.id not in self._results:
            self._results[handle.id] = handle.result(timeout=0)
        return self._results[handle.id]

    def _outputs_of(self, handle: Any) -> list[Path]:
        try:
            result = self._result(handle)
        except Exception:  # unreadable (deleted, unshared): no outputs shown
            return []
        return [*result.files, *result.images]

    def _read_operations(self, show_finished: bool = True) -> list[Any]:
        """Read the session's operations; new ones join the running list (those still
        running, or ended since the page looked, when ``show_finished``)."""
        if self.session is None:
            return []
        ops = list(self.session.operations)
        rows = []
        for op in ops:
            known = op.id in self._seen_ops
            self.handles[op.id] = op
            self._seen_ops.add(op.id)
            if not op.finished or (show_finished and not known) or op.id in self.running.rows:
                rows.append(self.row(op))
        if show_finished:
            for row in rows:
                self.running.update(row)
        else:
            self.running.show(rows)
        self._last_list = time.monotonic()
        return ops

    def _operations_finished(self) -> None:
        """Something ended: its outputs join the galleries, lists, chain and curves."""
        if NEW in self.panels:
            self.wizard.refresh_files()
        for title in (OPERATIONS, OUTPUTS, VIEWER, CURVES):
            if title in self.panels:
                self._refresh_panel(title)

    # -- lists the panels use ------------------------------------------------------------------
    def _done(self) -> list[Any]:
        return [h for _k, h in sorted(self.handles.items()) if h.status == "done"]

    def _files(self) -> list[FileChoice]:
        out = []
        if self.session is None:
            return out
        for i in self.session.inputs:
            facts = " · ".join(p for p in (i.filter or "", when_text(i.date_obs or "")) if p)
            out.append(FileChoice(f"{i.name}" + (f" · {facts}" if facts else ""), str(i.path),
                                  i.filter or ""))  # fmt: skip
        for h in self._done():
            for p in self._outputs_of(h):
                if _fits_name(str(p)):
                    title = self.titles.get(h.operation, h.operation)
                    out.append(FileChoice(f"{p.name} · #{h.id} {title}", str(p), kind="output"))
        return out

    def _viewable(self) -> list[tuple[str, str]]:
        out = [(c.label, c.path) for c in self._files()]
        for h in self._done():
            for p in self._outputs_of(h):
                if p.suffix.lower() in (".png", ".jpg", ".jpeg") and not p.stem.endswith("_thumb"):
                    out.append((f"{p.name} · #{h.id} {self.titles.get(h.operation, '')}", str(p)))
        return out

    def _result_choices(self, operation: str) -> list[tuple[str, Any]]:
        out = []
        for h in self._done():
            if h.operation == operation:
                try:
                    data = self._result(h).data
                except Exception:  # unreadable: not offered
                    continue
                out.append((f"#{h.id} {self.titles.get(operation, operation)} · "
                            f"{when_text(h.created_at)}", data))  # fmt: skip
        return out

    def _output_items(self) -> list[GalleryItem]:
        items = []
        for h in reversed(self._done()):
            try:
                result = self._result(h)
            except Exception:  # unreadable: left out
                continue
            files = {p.name: p for p in result.files}
            title = self.titles.get(h.operation, h.operation)
            for name, preview in result.previews.items():
                target = files.get(name, preview.full)
                kind = "fits" if target in result.files else "image"
                items.append(
                    GalleryItem(
                        key=str(target), name=Path(target).name, kind=kind,
                        note=f"#{h.id} {title}" + (" · cached" if h.cached else ""),
                        thumbnail=lambda t=preview.thumbnail: Path(t).read_bytes(),
                    )
                )  # fmt: skip
        return items

    def _curves(self) -> list[CurveResult]:
        out = []
        for h in self._done():
            if h.operation not in ("aperture_photometry", "period_search"):
                continue
            try:
                data = self._result(h).data
            except Exception:  # unreadable: not offered
                continue
            series = None
            if h.operation == "period_search":
                params = attr(h, "parameters", {}) or {}
                if isinstance(params.get("photometry"), dict):
                    phot = params["photometry"].get("data", params["photometry"])
                    series = light_curve_arrays(phot, params.get("value_key", "relative_flux"))
                elif params.get("times") and params.get("values"):
                    series = (params["times"], params["values"], params.get("errors"))
            label = f"#{h.id} {self.titles.get(h.operation, h.operation)} · " \
                f"{when_text(h.created_at)}"  # fmt: skip
            out.append(CurveResult(h.id, label, data, series))
        return out

    # -- tabs ----------------------------------------------------------------------------------
    def panel(self, title: str) -> w.Widget:
        """The panel of tab ``title``, built now if it was not."""
        if title not in self.panels:
            built = self._builders[title]()
            self.panels[title] = built
            self.tabs.children[TABS.index(title)].children = (built,)
        return self.panels[title]

    def show_tab(self, title: str) -> w.Widget:
        """Open tab ``title`` (building it) and return its panel."""
        self.tabs.selected_index = TABS.index(title)
        return self.panel(title)

    def _on_tab(self, change: dict[str, Any]) -> None:
        index = change["new"]
        if index is None or not 0 <= index < len(TABS):
            return
        title = TABS[index]
        built = title in self.panels
        self.panel(title)
        if built and title in (OPERATIONS, OUTPUTS, CURVES):
            self._refresh_panel(title)
        # figures are in the page only while their tab shows (see _figures.FigureSlot)
        if VIEWER in self.panels:
            self.viewer.shown = title == VIEWER
        if CURVES in self.panels:
            self.curves.shown = title == CURVES

    def _refresh_panel(self, title: str) -> None:
        try:
            if title == OPERATIONS:
                self._draw_history()
            elif title == OUTPUTS:
                self.outputs_gallery.set_items(self._output_items())
            elif title == VIEWER:
                self.viewer.refresh_files()
            elif title == CURVES:
                self.curves.refresh()
        except Exception as exc:  # the live line says so; the next change tries again
            self._live(False, error_text(exc))

    def _build_wizard(self) -> w.Widget:
        read_only = self.session is not None and bool(attr(self.session, "read_only", False))
        run = self._run if self.session is not None and not read_only else None
        self.wizard = OperationWizard(
            self.described, self._files, self._validate, run,
            results=self._result_choices,
            position=lambda: self.viewer.position if VIEWER in self.panels else None,
            on_started=self._started, caller=self._caller,
        )  # fmt: skip
        if run is None:
            self.wizard.set_run(None, "you read this session; only its owner runs operations"
                                if read_only else "open or make a session first")  # fmt: skip
        if self.inputs_gallery.selected:
            self.wizard.pick(self.inputs_gallery.selected)
        return self.wizard

    def _build_history(self) -> w.Widget:
        self.history = classed(w.HTML(), "sd-dl-history", "sd-dl-scroll")
        self.chain = ChainGraph()
        self._draw_history()
        return w.VBox([w.HTML("<div class='sd-dl-section'>Chain of operations</div>"),
                       self.chain, w.HTML("<div class='sd-dl-section'>History</div>"),
                       self.history])  # fmt: skip

    def _draw_history(self) -> None:
        graph: dict[str, Any] = {"nodes": [], "edges": []}
        if self.session is not None:
            graph = self.session.graph()
            for node in graph["nodes"]:
                if node.get("kind") == "operation":
                    node["title"] = self.titles.get(node.get("label", ""), node.get("label"))
        self.chain.show(graph)
        rows = []
        for _k, h in sorted(self.handles.items(), reverse=True):
            names = [str(f.get("name", "")) for f in h.inputs]
            used = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            took = ""
            if h.finished_at and h.created_at:
                took = f"{(h.finished_at - h.created_at).total_seconds():.1f} s"
            said = h.error or (h.message if h.message not in (h.status, "done") else "")
            rows.append(
                (f"#{h.id}", self.titles.get(h.operation, h.operation),
                 state_badge(h.status, h.cached), html.escape(said), used,
                 when_text(h.created_at), took)
            )  # fmt: skip
        self.history.value = table_html(
            ("#", "operation", "state", "message", "frames", "asked", "took"), rows,
            raw=(2,), empty="no operation yet",
        )  # fmt: skip

    def _build_outputs(self) -> w.Widget:
        self.outputs_gallery = Gallery(on_view=self.view, selectable=False, caller=self._caller,
                                       empty="no output yet: run an operation")  # fmt: skip
        self.outputs_gallery.set_items(self._output_items())
        return self.outputs_gallery

    def _build_viewer(self) -> w.Widget:
        self.viewer = ImageViewer(self._viewable, caller=self._caller)
        return self.viewer

    def _build_curves(self) -> w.Widget:
        self.curves = LightCurvePanel(self._curves)
        return self.curves

    def view(self, path: str) -> None:
        """Open ``path`` in the viewer tab."""
        self.show_tab(VIEWER)
        self.viewer.show(path)

    # -- following the operations --------------------------------------------------------------
    def tick(self) -> bool:
        """Read the running operations once; True keeps the ticker going."""
        if self._closed:
            return False
        if self.session is None:
            return True
        try:
            ended = False
            for key in self.running.active:
                handle = self.handles.get(key)
                if handle is None:
                    continue
                handle.refresh()
                self.running.update(self.row(handle))
                ended |= handle.finished
            if time.monotonic() - self._last_list > LIST_EVERY:
                before = {k for k, h in self.handles.items() if h.finished}
                self._read_operations()
                ended |= any(h.finished and k not in before for k, h in self.handles.items())
            if ended:
                self._operations_finished()
        except Exception as exc:  # shown; the next tick tries again
            self._live(False, error_text(exc))
            return True
        self.last_tick = time.monotonic()
        self._live(True)
        return True

    def _live(self, ok: bool, problem: str = "") -> None:
        if ok:
            text = f"● live · {datetime.now():%H:%M:%S}"
            self.status.remove_class("sd-dl-stale")
        else:
            text = f"● not updating: {problem}"
            self.status.add_class("sd-dl-stale")
        value = (f"<span title='running operations read every {self.interval:g} s'>"
                 f"{html.escape(text)}</span>")  # fmt: skip
        if self.status.value != value:
            self.status.value = value

    def wait(self, timeout: float = 30.0) -> None:
        """Block until every background call has shown its outcome (scripts, tests)."""
        if isinstance(self._caller, Background):
            self._caller.wait(timeout)

    def wait_for(self, condition: Callable[[DatalabView], bool], timeout: float = 60.0) -> None:
        """Tick until ``condition(self)`` holds (scripts and tests; the browser needs none)."""
        tick_until(self.tick, lambda: condition(self), timeout=timeout, interval=0.05,
                   what=lambda: "the data-session view")  # fmt: skip

    def close(self) -> None:
        """Stop following the operations and close."""
        self._closed = True
        ticker = getattr(self, "ticker", None)
        if ticker is not None:
            ticker.stop()
        self.background.close()
        super().close()


def _seed_demo() -> None:
    """Make the demo session (when the core has one)."""
    try:
        from shiftdesk.datalab.demo import seed_demo
    except ImportError:  # no demo yet: the page starts with no session
        return
    from shiftdesk.identity import current_identity
    from shiftdesk.storage import get_database

    seed_demo(get_database(), current_identity())


class OperationView(w.VBox):
    """One operation: its progress while it runs, then its outputs and data.

    Parameters
    ----------
    handle : SessionOperation
        The operation (``s.run(...)`` returns it).
    interval : float
        Seconds between reads while it runs (a Ticker on the kernel's loop; call
        :meth:`tick` without one).
    """

    def __init__(self, handle: Any, *, interval: float = 0.25) -> None:
        self.handle = handle
        self._closed = False
        self.running = RunningPanel(self._cancel)
        self.outputs = Gallery(selectable=False, empty="no output yet")
        self.outputs.layout.display = "none"
        self.data = classed(w.HTML(), "sd-dl-op-data")
        self.feedback = Feedback()
        super().__init__([w.HTML(STYLE), self.running, self.outputs, self.data])
        classed(self, "sd-dl-view", "sd-dl-op-view")
        self._titles: dict[str, str] = {}
        self.running.show([self._row()])
        self._shown_result = False
        if handle.finished:
            self._finish()
        self.ticker = Ticker(self.tick, interval)
        self.ticker.start()

    def _row(self) -> OpRow:
        return DatalabView.row(self, self.handle)  # type: ignore[arg-type]

    @property
    def titles(self) -> dict[str, str]:
        """Operation titles by name."""
        if not self._titles:
            from shiftdesk.datalab import operations

            self._titles = {n: op.title for n, op in operations.available().items()}
        return self._titles

    def _outputs_of(self, handle: Any) -> list[Path]:
        try:
            result = handle.result(timeout=0)
        except Exception:  # unreadable: no outputs shown
            return []
        return [*result.files, *result.images]

    def _cancel(self, _key: Any) -> None:
        self.handle.cancel()
        self.running.update(self._row())

    def tick(self) -> bool:
        """Read the operation once; True while it runs."""
        if self._closed:
            return False
        try:
            self.handle.refresh()
        except Exception:  # the next tick tries again
            return True
        self.running.update(self._row())
        if self.handle.finished:
            self._finish()
            return False
        return True

    def _finish(self) -> None:
        if self._shown_result or self.handle.status != "done":
            return
        self._shown_result = True
        try:
            result = self.handle.result(timeout=0)
        except Exception as exc:  # said where the outputs would be
            self.data.value = f"<div class='sd-dl-muted'>{html.escape(error_text(exc))}</div>"
            return
        files = {p.name: p for p in result.files}
        items = [
            GalleryItem(key=str(files.get(n, pv.full)), name=Path(files.get(n, pv.full)).name,
                        thumbnail=pv.thumbnail.read_bytes() if pv.thumbnail.exists() else None)
            for n, pv in result.previews.items()
        ]  # fmt: skip
        if items:
            self.outputs.set_items(items)
            self.outputs.layout.display = None
        simple = {k: v for k, v in result.data.items()
                  if isinstance(v, str | int | float | bool) or v is None}  # fmt: skip
        if simple:
            rows = [(k.replace("_", " "), v if not isinstance(v, float) else f"{v:.6g}")
                    for k, v in simple.items()]  # fmt: skip
            self.data.value = table_html(("", "value"), rows)

    def close(self) -> None:
        """Stop following the operation and close."""
        self._closed = True
        self.ticker.stop()
        super().close()
