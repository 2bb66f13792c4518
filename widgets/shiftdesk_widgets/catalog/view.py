"""The catalog dashboard: :class:`CatalogView` over a :class:`~shiftdesk.catalog.Catalog`.

The page a calibration team keeps open: latest and edit contexts at a glance; tabs to
browse files (with a detail pane and mark bad), look up best references, read the context
history with diffs, submit files, list bad files, and see locks and the audit trail.

Every change goes through the catalog's own methods, so its refusals (the mark-bad guard,
permissions, a lock held by someone else) are the core's and are shown beside the control
the user acted on. Slow calls (queries, lookups, submissions) run off the kernel's thread
(:class:`~shiftdesk_widgets.runtable._calls.Background`); their outcome is written on the
kernel's thread. A :class:`~shiftdesk_widgets._async.Ticker` looks for changed context
pointers every few seconds, so a context set elsewhere shows without a reload. Only the
Browse tab is built before the page shows; the others are built when first opened.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time
from typing import Any

import ipywidgets as w
import pandas as pd

from shiftdesk.catalog.catalog import Catalog, CatalogFile
from shiftdesk_widgets._async import Ticker, tick_until
from shiftdesk_widgets.catalog._common import STYLE, classed, error_text
from shiftdesk_widgets.catalog.audit import AuditPanel, LocksPanel
from shiftdesk_widgets.catalog.bestrefs import BestRefsPanel
from shiftdesk_widgets.catalog.browse import BrowsePanel
from shiftdesk_widgets.catalog.contexts import (
    ContextCards,
    ContextsPanel,
    MappingDiff,
    Pointer,
    patterns,
    text_diff,
)
from shiftdesk_widgets.catalog.detail import FileDetailPane, FileDetails
from shiftdesk_widgets.catalog.markbad import BadFilesPanel
from shiftdesk_widgets.catalog.submit import SubmitPanel
from shiftdesk_widgets.catalog.submit import logical as logical_rows
from shiftdesk_widgets.registry import register_view
from shiftdesk_widgets.runtable._calls import Background, Caller, run_now

#: Tab titles, in order (the first is built with the page; the others when opened).
BROWSE, BESTREFS, CONTEXTS, SUBMIT, BAD, LOCKS = (
    "Browse", "Best references", "Contexts", "Submit", "Bad files", "Locks & audit",
)  # fmt: skip
TABS = (BROWSE, BESTREFS, CONTEXTS, SUBMIT, BAD, LOCKS)
#: Fields of a file in the detail pane: (label, CatalogFile attribute).
FIELDS = (
    ("state", "state"), ("type", "type"), ("instrument", "instrument"), ("filekind", "filekind"),
    ("size (bytes)", "size"), ("sha1sum", "sha1sum"), ("derived from", "derived_from"),
    ("description", "description"), ("delivered by", "deliverer"),
    ("uploaded as", "uploaded_as"), ("added", "added"), ("delivered", "delivery_date"),
    ("activated", "activation_date"), ("use after", "useafter_date"),
    ("rejected", "rejected"), ("blacklisted", "blacklisted"),
    ("blacklisted by", "blacklisted_by"),
)  # fmt: skip


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _day(value: Any, end: bool = False) -> datetime:
    """A picked date as the start (or end) of that UTC day."""
    return datetime.combine(value, time.max if end else time.min, tzinfo=UTC)


class CatalogView(w.VBox):
    """The reference-file catalog dashboard.

    Parameters
    ----------
    catalog : Catalog
        The catalog shown (its identity decides what may be changed; the core checks).
    interval : float
        Seconds between looks for changed context pointers (a Ticker on the kernel's loop;
        without a running loop, as in scripts and tests, call :meth:`tick`).
    """

    def __init__(self, catalog: Catalog, *, interval: float = 3.0) -> None:
        self.catalog = catalog
        self.interval = interval
        self._closed = False
        self.background = Background()
        self._caller: Caller = self.background if _loop_running() else run_now
        self.can_edit = self._can_edit()
        self.who_may = (
            f"members of the group {catalog.editor_group!r}" if catalog.editor_group
            else "the catalog's editors"
        )  # fmt: skip
        self._pointers: dict[str, str] = {}

        self.title = classed(w.HTML(self._title_html()), "sd-cat-title")
        self.status = classed(w.HTML(), "sd-cat-live")
        self.cards = ContextCards()
        self.browse = BrowsePanel(self._browse, self._choices, caller=self._caller)
        self.detail = FileDetailPane(
            self._details, self._mark, can_edit=self.can_edit, caller=self._caller,
            on_marked=self._marked, who_may=self.who_may,
        )  # fmt: skip
        classed(self.detail, "sd-cat-pane")
        self.browse.observe(lambda c: self.detail.show(c["new"]), "selected")
        self.browse.layout = w.Layout(flex="3 1 0", min_width="0")
        self.detail.layout = w.Layout(flex="2 1 0", min_width="0")
        browse_tab = classed(
            w.HBox([self.browse, self.detail], layout=w.Layout(width="100%", grid_gap="12px")),
            "sd-cat-browse-tab",
        )
        self._builders: dict[str, Callable[[], w.Widget]] = {
            BESTREFS: self._build_bestrefs,
            CONTEXTS: self._build_contexts,
            SUBMIT: self._build_submit,
            BAD: self._build_bad,
            LOCKS: self._build_locks,
        }
        self.panels: dict[str, w.Widget] = {BROWSE: browse_tab}
        self.tabs = classed(w.Tab([browse_tab, *(w.VBox() for _t in TABS[1:])]), "sd-cat-tabs")
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title)
        self.tabs.observe(self._on_tab, "selected_index")
        bar = classed(w.HBox([self.title, self.status]), "sd-cat-titlebar")
        super().__init__([w.HTML(STYLE), bar, self.cards, self.tabs])
        classed(self, "sd-cat-view")
        self.refresh_contexts()
        self.ticker = Ticker(self.tick, interval)
        self.ticker.start()

    @classmethod
    def start(cls, observatory: str = "roman", **kwargs: Any) -> CatalogView:
        """The view of the catalog of ``observatory`` (``Catalog.open``).

        The demo catalog (``"roman"``) is made first when it does not exist yet (as
        ``shiftdesk demo`` does).
        """
        from shiftdesk.catalog.demo import OBSERVATORY
        from shiftdesk_widgets._demo import open_or_seed

        catalog = open_or_seed(
            Catalog.open, observatory, OBSERVATORY, "shiftdesk.catalog.demo:seed_demo"
        )
        return cls(catalog, **kwargs)

    # -- the page ---------------------------------------------------------------------------
    def _can_edit(self) -> bool:
        try:
            return bool(self.catalog.can_edit)
        except Exception:  # the gate unreachable: read-only until it answers
            return False

    def _title_html(self) -> str:
        cat = self.catalog
        mode = (
            "<span class='sd-cat-badge'>editor</span>" if self.can_edit
            else "<span class='sd-cat-badge sd-cat-badge-ro'>read-only</span>"
        )  # fmt: skip
        return (
            f"<h2>Reference files · {html.escape(cat.observatory.upper())}</h2> "
            f"<small>you are {html.escape(str(cat.identity.name))}</small> {mode}"
        )

    def panel(self, title: str) -> w.Widget:
        """The panel of tab ``title``, built now if it was not."""
        if title not in self.panels:
            index = TABS.index(title)
            built = self._builders[title]()
            self.panels[title] = built
            children = list(self.tabs.children)
            placeholder = children[index]
            placeholder.children = (built,)
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
        if built:  # seen before: read again what may have changed meanwhile
            self._refresh_panel(title)

    def _refresh_panel(self, title: str) -> None:
        panel = self.panels.get(title)
        if panel is None:
            return
        if title == CONTEXTS:
            self.contexts_panel.refresh()
        elif title == BAD:
            self.bad_panel.refresh()
        elif title == LOCKS:
            self.locks_panel.refresh()
            self.audit_panel.refresh()
        elif title in (BESTREFS, SUBMIT):
            getattr(panel, "refresh_contexts", lambda: None)()

    def _build_bestrefs(self) -> w.Widget:
        from shiftdesk.catalog.headers import read_header

        self.bestrefs = BestRefsPanel(
            self._lookup, read_header, self._pmaps, required=self._required,
            example=self._example(), caller=self._caller,
        )  # fmt: skip
        return self.bestrefs

    def _build_contexts(self) -> w.Widget:
        self.contexts_panel = ContextsPanel(
            lambda: self.catalog.context_history(None), self._pmaps, self.diff,
            caller=self._caller,
        )  # fmt: skip
        return self.contexts_panel

    def _build_submit(self) -> w.Widget:
        submit = getattr(self.catalog, "submit", None)
        call = None
        if callable(submit):

            def call(paths: list[Any], derive: str, description: str) -> Any:
                # returns at once; the panel follows its progress
                return submit(paths, derive_from=derive, description=description, wait=False)

        self.submit_panel = SubmitPanel(
            call, self._pmaps, can_edit=self.can_edit, caller=self._caller,
            on_done=self._submission_moved, who_may=self.who_may,
        )  # fmt: skip
        self.submit_locks = LocksPanel(self.catalog.locks)
        return w.VBox(
            [self.submit_panel, w.HTML("<div class='sd-cat-section'>Locks</div>"),
             self.submit_locks]
        )  # fmt: skip

    def _submission_moved(self, what: str) -> None:
        if what == "ready":  # only the lock it took is new
            self.submit_locks.refresh()
            if LOCKS in self.panels:
                self.locks_panel.refresh()
            return
        self._changed()

    def _build_bad(self) -> w.Widget:
        self.bad_panel = BadFilesPanel(
            self.catalog.bad_files, self._mark, blacklisted=self._blacklisted,
            can_edit=self.can_edit, caller=self._caller, on_done=self._marked,
            who_may=self.who_may,
        )  # fmt: skip
        return self.bad_panel

    def _build_locks(self) -> w.Widget:
        from shiftdesk import audit

        self.locks_panel = LocksPanel(self.catalog.locks)
        self.audit_panel = AuditPanel(
            lambda limit, action, actor: audit.entries(
                limit, action=action, actor=actor, database=self.catalog.database
            ),
            caller=self._caller,
        )
        return w.VBox(
            [w.HTML("<div class='sd-cat-section'>Locks</div>"), self.locks_panel,
             w.HTML("<div class='sd-cat-section'>Audit trail</div>"), self.audit_panel]
        )  # fmt: skip

    # -- wiring to the core ------------------------------------------------------------------
    def _browse(self, filters: dict[str, Any], offset: int, limit: int) -> pd.DataFrame:
        search = filters.get("search")
        if search and not any(c in search for c in "*?["):
            search = f"*{search}*"  # a part of a name finds the names holding it
        return self.catalog.browse(
            instrument=filters.get("instrument"),
            filekind=filters.get("filekind"),
            state=filters.get("state"),
            bad=True if filters.get("bad") else None,
            name=search,
            added_after=_day(filters["since"]) if "since" in filters else None,
            added_before=_day(filters["until"], end=True) if "until" in filters else None,
            limit=limit,
            offset=offset,
        )

    def _choices(self) -> dict[str, list[str]]:
        """Filter choices from the rules of the latest and edit contexts (a few mappings),
        not from the files (a catalog may hold a million)."""
        from shiftdesk.catalog.records import STATES

        instruments: set[str] = set()
        kinds: set[str] = set()
        for pmap in {
            p for p in (self.catalog.context("latest"), self.catalog.context("edit")) if p
        }:
            for mapping in self.catalog.load_context(pmap).mappings.values():
                if mapping.kind == "instrument":
                    instruments.add(mapping.instrument)
                    kinds |= {str(k).upper() for k in mapping.selector}
        if not instruments:  # no context yet: what the first files say
            frame = self.catalog.browse(limit=1000)
            instruments = {v for v in frame["instrument"] if v}
            kinds = {v for v in frame["filekind"] if v}
        return {
            "instrument": sorted(i for i in instruments if i),
            "filekind": sorted(kinds),
            "state": list(STATES),
        }

    def _pmaps(self) -> list[str]:
        frame = self.catalog.browse(type="mapping", name="*.pmap", limit=None)
        return sorted(frame["name"], reverse=True)

    def _details(self, name: str) -> FileDetails:
        cat = self.catalog
        f: CatalogFile = cat.file(name)
        fields = [(label, getattr(f, attribute)) for label, attribute in FIELDS
                  if hasattr(f, attribute)]  # fmt: skip
        fields = [
            (label, ("yes" if v else "no") if isinstance(v, bool) else v)
            for label, v in fields
            if v not in (None, "", ()) or isinstance(v, bool)
        ]
        history = [(e.at, e.who, e.action, e.detail) for e in f.history]
        bad = "rejected" if f.rejected else "blacklisted" if f.blacklisted else ""
        details = FileDetails(name, fields, history, cat.uses(name), [], bad)
        latest = cat.context("latest")
        if latest:
            details.context = latest
            try:
                context = cat.load_context(latest)
            except Exception:  # a broken context: the rest of the pane still shows
                return details
            for mapping in context.mappings.values():
                if name in mapping.children():
                    details.patterns += [(mapping.name, p) for p in patterns(mapping, name)]
        return details

    def _mark(self, names: list[str], why: str) -> Any:
        return self.catalog.mark_bad(names, why=why)

    def _marked(self, names: list[str]) -> None:
        self._changed()

    def _blacklisted(self) -> list[tuple[str, str]]:
        # the first 200 (each asks what blacklists it); the Browse tab lists them all
        frame = self.catalog.browse(bad=True, limit=200)
        rows = []
        for name in frame.loc[~frame["rejected"], "name"]:
            try:
                by = ", ".join(self.catalog.file(name).blacklisted_by)
            except Exception:  # gone meanwhile
                continue
            rows.append((str(name), by))
        return rows

    def _lookup(self, header: dict[str, Any], context: str, types: list[str] | None) -> Any:
        return self.catalog.best_references(header, context=context, reftypes=types)

    def _required(self, context: str) -> list[str]:
        keys: list[str] = []
        for names in self.catalog.load_context(context).required_parkeys().values():
            keys += [k for k in names if k not in keys]
        return keys

    def _example(self) -> str:
        """A header to start from: the demo's for the demo catalog, else the keys the
        latest context looks at."""
        if self.catalog.observatory == "roman":
            from shiftdesk.catalog.demo import demo_headers

            header = next(iter(demo_headers()), None)
            if header is not None and self.catalog.context("latest"):
                with _quiet():
                    keys = self._required("latest")
                    return "\n".join(f"{k} = {header.get(k, '')}" for k in keys)
        with _quiet():
            return "\n".join(f"{k} = " for k in self._required("latest"))
        return ""

    def diff(self, old: str, new: str) -> list[MappingDiff]:
        """How context ``new`` differs from ``old``: one entry per changed mapping."""
        try:
            from shiftdesk.catalog.refactor import diff as core_diff
        except ImportError:  # the text diff and the selections compared here
            core_diff = None
        a = self.catalog.load_context(old)
        b = self.catalog.load_context(new)
        pairs = _pairs(a, b)
        out = []
        for left, right in pairs:
            ma = a.mappings.get(left) if left else None
            mb = b.mappings.get(right) if right else None
            if ma is not None and mb is not None and core_diff is not None:
                text, rows = core_diff(ma, mb)
                out.append(MappingDiff(left, right, text, logical_rows(rows)))
                continue
            from shiftdesk_widgets.catalog.contexts import logical_rows as fallback

            out.append(
                MappingDiff(left, right,
                            text_diff(left or "/dev/null", ma.text if ma else "",
                                      right or "/dev/null", mb.text if mb else ""),
                            fallback(ma, mb))
            )  # fmt: skip
        return out

    # -- following changes -------------------------------------------------------------------
    def refresh_contexts(self) -> bool:
        """Read the context pointers; redraw the cards when they moved. True if they did."""
        cat = self.catalog
        pointers = cat.contexts()
        if pointers == self._pointers:
            return False
        history = cat.context_history(None, limit=200)
        shown = []
        for kind in ("latest", "edit"):
            name = pointers.get(kind, "")
            row = next((h for h in history if h.kind == kind and h.context == name), None)
            shown.append(
                Pointer(kind, name, row.at if row else None, row.who if row else "",
                        row.why if row else "")
            )  # fmt: skip
        self.cards.show(shown)
        changed = bool(self._pointers)
        self._pointers = pointers
        return changed

    def _changed(self) -> None:
        """Something was changed from this page: read what shows it again."""
        with _quiet():
            self.refresh_contexts()
        self.browse.show_page(self.browse.offset)
        for title in (CONTEXTS, BAD, LOCKS):
            if title in self.panels:
                self._refresh_panel(title)
        if SUBMIT in self.panels:
            self.submit_locks.refresh()

    def tick(self) -> bool:
        """Look for changes once (context pointers, locks); True keeps the ticker going."""
        if self._closed:
            return False
        try:
            if self.refresh_contexts():
                for title in (CONTEXTS, BESTREFS, SUBMIT):
                    if title in self.panels:
                        self._refresh_panel(title)
            if LOCKS in self.panels:
                self.locks_panel.refresh()
        except Exception as exc:  # shown; the next tick tries again
            self._live(False, error_text(exc))
            return True
        self._live(True)
        return True

    def _live(self, ok: bool, problem: str = "") -> None:
        if ok:
            text = f"● live · {datetime.now():%H:%M:%S}"
            self.status.remove_class("sd-cat-stale")
        else:
            text = f"● not updating: {problem}"
            self.status.add_class("sd-cat-stale")
        self.status.value = (
            f"<span title='checked for changes every {self.interval:g} s'>"
            f"{html.escape(text)}</span>"
        )

    def wait(self, timeout: float = 30.0) -> None:
        """Block until every background call has shown its outcome (scripts, tests)."""
        if isinstance(self._caller, Background):
            self._caller.wait(timeout)

    def wait_for(self, condition: Callable[[CatalogView], bool], timeout: float = 30.0) -> None:
        """Tick until ``condition(self)`` holds (scripts and tests; the browser needs none)."""
        tick_until(self.tick, lambda: condition(self), timeout=timeout, interval=0.1,
                   what=lambda: "the catalog view")  # fmt: skip

    def close(self) -> None:
        """Stop following changes and close."""
        self._closed = True
        ticker = getattr(self, "ticker", None)
        if ticker is not None:
            ticker.stop()
        self.background.close()
        if SUBMIT in getattr(self, "panels", {}):
            self.submit_panel.close()
        super().close()


class _quiet:
    """A block whose failure leaves the page as it was (optional extras of the page)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return kind is not None and issubclass(kind, Exception)


def _pairs(a: Any, b: Any) -> list[tuple[str, str]]:
    """The mappings of two contexts paired by place (pmap; imap per instrument; rmap per
    instrument and type), only the pairs whose names differ."""
    out: list[tuple[str, str]] = []
    if a.pmap != b.pmap:
        out.append((a.pmap, b.pmap))

    def children(context: Any, name: str) -> dict[str, str]:
        mapping = context.mappings.get(name)
        if mapping is None or not isinstance(mapping.selector, dict):
            return {}
        return {str(k).upper(): str(v) for k, v in mapping.selector.items()}

    imaps_a, imaps_b = children(a, a.pmap), children(b, b.pmap)
    for instrument in sorted(set(imaps_a) | set(imaps_b)):
        ia, ib = imaps_a.get(instrument, ""), imaps_b.get(instrument, "")
        if ia != ib:
            out.append((ia if ia in a.mappings else "", ib if ib in b.mappings else ""))
        rmaps_a, rmaps_b = children(a, ia), children(b, ib)
        for reftype in sorted(set(rmaps_a) | set(rmaps_b)):
            ra, rb = rmaps_a.get(reftype, ""), rmaps_b.get(reftype, "")
            if ra != rb and (ra in a.mappings or rb in b.mappings):
                out.append((ra if ra in a.mappings else "", rb if rb in b.mappings else ""))
    return out


@register_view(Catalog)
def catalog_view(catalog: Catalog, **kwargs: Any) -> CatalogView:
    """A catalog opens in its dashboard."""
    return CatalogView(catalog, **kwargs)


class CatalogFileView(FileDetailPane):
    """One catalog file: fields, history, used by, lookup patterns, and mark bad."""

    def __init__(self, file: CatalogFile, **kwargs: Any) -> None:
        catalog = file._catalog
        if catalog is None:
            raise ValueError(f"{file.name} was not read from a catalog; use cat.file(name)")
        helper = _FileHelper(catalog)
        super().__init__(helper.details, helper.mark, can_edit=helper.can_edit, **kwargs)
        self.children = (w.HTML(STYLE), *self.children)
        self.show(file.name)


class _FileHelper:
    """The calls a lone file's pane makes (the dashboard's, without its page)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.can_edit = CatalogView._can_edit(self)  # type: ignore[arg-type]

    def details(self, name: str) -> FileDetails:
        return CatalogView._details(self, name)  # type: ignore[arg-type]

    def mark(self, names: Sequence[str], why: str) -> Any:
        return self.catalog.mark_bad(list(names), why=why)


@register_view(CatalogFile)
def catalog_file_view(file: CatalogFile, **kwargs: Any) -> CatalogFileView:
    """A catalog file opens in its detail pane."""
    return CatalogFileView(file, **kwargs)
