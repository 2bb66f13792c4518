"""One file of the catalog: its fields, history, the mappings that use it, and the lookup
patterns under which the latest context selects it; with a form to mark it bad."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.catalog._common import Feedback, cell, classed, table_html, when_text
from shiftdesk_widgets.catalog.markbad import MarkBadForm, MarkCall
from shiftdesk_widgets.runtable._calls import Caller, run_now


@dataclass
class FileDetails:
    """What the detail pane shows of one file (the view fills it from the catalog).

    Attributes
    ----------
    name : str
        The file's name.
    fields : list of (label, value)
        Its catalog fields, in the order shown.
    history : list of (when, who, action, detail)
        Its own history, oldest first.
    used_by : list of str
        The mappings that use it, up to the pmaps.
    patterns : list of (rmap, {parkey: value})
        Where the latest context selects it (empty for a file it does not select).
    bad : str
        ``"rejected"``, ``"blacklisted"`` or ``""``.
    context : str
        The context the patterns come from.
    """

    name: str
    fields: list[tuple[str, Any]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    used_by: list[str] = field(default_factory=list)
    patterns: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    bad: str = ""
    context: str = ""


def patterns_html(details: FileDetails) -> str:
    """The lookup patterns as one table per rmap (its parkeys as columns)."""
    if not details.patterns:
        where = f" {html.escape(details.context)}" if details.context else ""
        return (
            f"<div class='sd-cat-muted'>the latest context{where} does not select this file</div>"
        )
    out = []
    by_rmap: dict[str, list[dict[str, str]]] = {}
    for rmap, keys in details.patterns:
        by_rmap.setdefault(rmap, []).append(keys)
    for rmap, rows in by_rmap.items():
        columns: list[str] = []
        for keys in rows:
            columns += [k for k in keys if k not in columns]
        short = [c.rsplit(".", 1)[-1].lower() for c in columns]
        out.append(f"<div class='sd-cat-muted sd-cat-mono'>{html.escape(rmap)}</div>")
        table = table_html(short, [[k.get(c, "") for c in columns] for k in rows],
                           mono=range(len(columns)))  # fmt: skip
        # the full key names show on hover (ROMAN.META.INSTRUMENT.DETECTOR is long)
        for full, brief in zip(columns, short, strict=True):
            table = table.replace(
                f"<th>{html.escape(brief)}</th>",
                f"<th title='{html.escape(full, quote=True)}'>{html.escape(brief)}</th>",
                1,
            )
        out.append(table)
    return "".join(out)


def details_html(details: FileDetails) -> str:
    """Fields, history and "used by" of one file as HTML."""
    badge = ""
    if details.bad:
        badge = f" <span class='sd-cat-badge sd-cat-badge-bad'>{html.escape(details.bad)}</span>"
    fields = "".join(
        f"<tr><th>{html.escape(label)}</th><td class='sd-cat-mono'>{cell(value)}</td></tr>"
        for label, value in details.fields
    )
    history = table_html(
        ("when (UTC)", "who", "what", "detail"),
        [(when_text(h[0]), *h[1:4]) for h in details.history],
        nowrap=(0,),
        empty="no history recorded",
    )
    used = (
        "<div class='sd-cat-mono'>"
        + "<br>".join(html.escape(n) for n in details.used_by)
        + "</div>"
        if details.used_by
        else "<div class='sd-cat-muted'>no mapping uses this file</div>"
    )
    return (
        f"<div class='sd-cat-section sd-cat-mono'>{html.escape(details.name)}{badge}</div>"
        f"<table class='sd-cat-table sd-cat-fields'>{fields}</table>"
        f"<div class='sd-cat-section'>Lookup patterns</div>{patterns_html(details)}"
        f"<div class='sd-cat-section'>Used by</div>{used}"
        f"<div class='sd-cat-section'>History</div>{history}"
    )


class FileDetailPane(w.VBox):
    """The picked file's details, and a form to mark it bad.

    Parameters
    ----------
    load : callable
        ``load(name)`` → :class:`FileDetails`.
    mark : callable, optional
        ``mark(names, why)``; without it there is no form.
    """

    def __init__(
        self,
        load: Callable[[str], FileDetails],
        mark: MarkCall | None = None,
        *,
        can_edit: bool = True,
        caller: Caller = run_now,
        on_marked: Callable[[list[str]], None] | None = None,
        who_may: str = "the catalog's editors",
    ) -> None:
        self._load = load
        self._caller = caller
        self.on_marked = on_marked
        self.name = ""
        self.details: FileDetails | None = None
        self._keep_message = ""
        self.body = classed(
            w.HTML("<div class='sd-cat-muted'>pick a file in the list to see it here</div>"),
            "sd-cat-detail-body",
        )
        self.feedback = Feedback()
        children: list[w.Widget] = [self.feedback, self.body]
        self.mark_form: MarkBadForm | None = None
        if mark is not None:
            self.mark_form = MarkBadForm(
                mark, names=lambda: [self.name] if self.name else [], can_edit=can_edit,
                caller=caller, on_done=self._marked, who_may=who_may,
            )  # fmt: skip
            self.mark_box = w.VBox(
                [w.HTML("<div class='sd-cat-section'>Mark this file bad</div>"), self.mark_form]
            )
            self.mark_box.layout.display = "none"
            children.append(self.mark_box)
        super().__init__(children, layout=w.Layout(min_width="0"))
        classed(self, "sd-cat-detail")

    def show(self, name: str) -> None:
        """Read file ``name`` and show it."""
        self.name = name
        if not name:
            return
        self.feedback.say("busy", f"reading {name}…")

        def shown(details: FileDetails) -> None:
            if details.name != self.name:  # another file was picked meanwhile
                return
            self.details = details
            self.body.value = details_html(details)
            self.feedback.clear()
            if self.mark_form is not None:
                kept = self._keep_message
                self._keep_message = ""
                # a bad file cannot be marked again; what was just done stays said
                self.mark_box.layout.display = "none" if details.bad and not kept else None
                self.mark_form.set_can_edit(self.mark_form.can_edit)
                if kept:
                    self.mark_form.feedback.say("info", kept)
                elif self.mark_form.can_edit:
                    self.mark_form.feedback.clear()

        def failed(exc: BaseException) -> None:
            self.feedback.error(exc, f"{name} not read")

        self._caller("file", lambda: self._load(name), shown, failed)

    def _marked(self, names: list[str]) -> None:
        # the pane is redrawn for the marked file; it keeps saying what was done
        self._keep_message = self.mark_form.feedback.text if self.mark_form else ""
        self.show(self.name)
        if self.on_marked is not None:
            self.on_marked(names)

    def refresh(self) -> None:
        """Read the shown file again."""
        if self.name:
            self.show(self.name)


def fields_of(obj: Any, names: Sequence[tuple[str, str]]) -> list[tuple[str, Any]]:
    """``(label, value)`` of the attributes of ``obj`` (missing ones left out)."""
    out = []
    for label, attribute in names:
        if hasattr(obj, attribute):
            out.append((label, getattr(obj, attribute)))
    return out
