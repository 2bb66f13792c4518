"""Contexts: latest and edit at a glance, the context history, a diff of any two.

The panels take plain data and callbacks (testable without a catalog):

- :class:`ContextCards` shows where the pointers point, since when, who set them and why;
- :class:`ContextsPanel` lists the history and diffs two contexts with ``diff(old, new)``,
  which returns one :class:`MappingDiff` per changed mapping (text and logical rows).

The pure helpers below (:func:`text_diff`, :func:`logical_rows`, :func:`selections`)
compute a diff from parsed mappings when the core has no diff of its own.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.catalog._common import Feedback, attr, classed, table_html, when_text
from shiftdesk_widgets.runtable._calls import Caller, run_now

#: Header of a logical diff table.
LOGICAL_HEADER = ("change", "where", "old", "new")


@dataclass(frozen=True)
class Pointer:
    """Where a context pointer points: ``kind`` (latest, edit), ``context``, since when."""

    kind: str
    context: str
    at: Any = None
    who: str = ""
    why: str = ""


@dataclass(frozen=True)
class HistoryRow:
    """One change of a context pointer."""

    at: Any
    context: str
    who: str = ""
    why: str = ""
    kind: str = "latest"


@dataclass
class MappingDiff:
    """How one mapping changed between two contexts.

    Attributes
    ----------
    old, new : str
        The mapping names ("" when added or removed).
    text : str
        A unified diff of the texts.
    rows : list of tuple
        Logical rows (change, where, old, new).
    """

    old: str
    new: str
    text: str
    rows: list[tuple[str, ...]] = field(default_factory=list)


def history_row(row: Any) -> HistoryRow:
    """A :class:`HistoryRow` of whatever the core gives (tuple, dict, object)."""
    if isinstance(row, HistoryRow):
        return row
    if isinstance(row, (tuple, list)):
        at, context, who, why, *rest = [*row, "", "", ""][:5]
        return HistoryRow(
            at, str(context), str(who or ""), str(why or ""), str(rest[0] or "latest")
        )
    return HistoryRow(
        attr(row, "at", attr(row, "date")),
        str(attr(row, "context", "")),
        str(attr(row, "who", "") or ""),
        str(attr(row, "why", "") or ""),
        str(attr(row, "kind", "latest") or "latest"),
    )


# ------------------------------------------------------------------------------- diffs


def text_diff(old_name: str, old: str, new_name: str, new: str) -> str:
    """A unified diff of two mapping texts."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), fromfile=old_name, tofile=new_name, n=2
        )
    )


def _key_text(key: Any) -> str:
    if isinstance(key, tuple):
        return ", ".join(str(k) for k in key)
    return str(key)


def selections(mapping: Any) -> dict[tuple[str, ...], str]:
    """Every selection path of a mapping → what it selects.

    A pmap or imap gives ``(key,) → child``; an rmap's selector tree gives one path of
    keys per leaf (``("WFI01, F158", "2025-05-01 00:00:00") → "roman_wfi_flat_0007.asdf"``).
    """
    from shiftdesk.catalog.mappings import Selector

    out: dict[tuple[str, ...], str] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, Selector):
            for key, value in node.entries:
                walk(value, (*path, _key_text(key)))
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, _key_text(key)))
        elif isinstance(node, tuple):
            out[path] = ", ".join(str(v) for v in node)
        else:
            out[path] = str(node)

    walk(mapping.selector, ())
    return out


def logical_rows(old: Any, new: Any) -> list[tuple[str, ...]]:
    """Added, deleted and replaced selections between two parsed mappings."""
    before = selections(old) if old is not None else {}
    after = selections(new) if new is not None else {}
    rows: list[tuple[str, ...]] = []
    for path in sorted(set(before) | set(after)):
        where = " · ".join(path)
        if path not in before:
            rows.append(("added", where, "", after[path]))
        elif path not in after:
            rows.append(("deleted", where, before[path], ""))
        elif before[path] != after[path]:
            rows.append(("replaced", where, before[path], after[path]))
    return rows


def patterns(rmap: Any, filename: str) -> list[dict[str, str]]:
    """Under which keys ``rmap`` selects ``filename``: one dict per place (parkey → value).

    The rmap's ``parkey`` groups name the keys of each selector level (Match's keys
    first, then UseAfter's date); a level without names is called by its selector class.
    """
    from shiftdesk.catalog.mappings import Selector

    groups = list(rmap.parkey)
    found: list[dict[str, str]] = []
    if isinstance(rmap.selector, dict):  # a pmap or imap: one key per child
        key = str(groups[0]) if groups else "key"
        return [{key: str(k)} for k, v in rmap.selector.items() if v == filename]

    def names_for(level: int, node: Any) -> list[str]:
        if level < len(groups):
            group = groups[level]
            return [str(k) for k in (group if isinstance(group, tuple) else (group,))]
        return [getattr(node, "kind", "key")]

    def walk(node: Any, level: int, where: dict[str, str]) -> None:
        if isinstance(node, Selector):
            names = names_for(level, node)
            for key, value in node.entries:
                values = [str(k) for k in key] if isinstance(key, tuple) else [str(key)]
                here = dict(where)
                if len(values) == len(names):
                    here.update(zip(names, values, strict=True))
                else:
                    here[" ".join(names) or node.kind] = ", ".join(values)
                walk(value, level + 1, here)
        elif node == filename or (isinstance(node, tuple) and filename in node):
            found.append(where)

    walk(rmap.selector, 0, {})
    return found


# ------------------------------------------------------------------------------- widgets


class ContextCards(w.HBox):
    """Latest and edit contexts at a glance: name, since when, who set it and why."""

    def __init__(self) -> None:
        self.cards: dict[str, w.HTML] = {}
        for kind in ("latest", "edit"):
            self.cards[kind] = classed(w.HTML(), "sd-cat-card", f"sd-cat-card-{kind}")
            self.cards[kind].layout = w.Layout(flex="1 1 320px", min_width="0")
        super().__init__(list(self.cards.values()), layout=w.Layout(width="100%"))
        classed(self, "sd-cat-cards")
        self.pointers: dict[str, Pointer] = {}

    def show(self, pointers: Iterable[Pointer]) -> None:
        """Draw the cards of ``pointers`` (unchanged ones are not redrawn)."""
        for pointer in pointers:
            if self.pointers.get(pointer.kind) == pointer or pointer.kind not in self.cards:
                continue
            self.pointers[pointer.kind] = pointer
            title = {"latest": "latest context (in use)", "edit": "edit context (next)"}
            meta = []
            if pointer.at:
                meta.append(f"since {html.escape(when_text(pointer.at))} UTC")
            if pointer.who:
                meta.append(f"by {html.escape(pointer.who)}")
            why = f"<div class='sd-cat-card-meta'>{html.escape(pointer.why)}</div>" \
                if pointer.why else ""  # fmt: skip
            self.cards[pointer.kind].value = (
                f"<div class='sd-cat-card-title'>{title[pointer.kind]}</div>"
                f"<div class='sd-cat-card-name'>{html.escape(pointer.context or '(none)')}</div>"
                f"<div class='sd-cat-card-meta'>{' · '.join(meta)}</div>{why}"
            )


def diff_html(parts: Sequence[MappingDiff]) -> str:
    """The logical rows, then the coloured text diff, of each changed mapping."""
    if not parts:
        return "<div class='sd-cat-muted'>the two contexts select the same files</div>"
    out = []
    for part in parts:
        title = f"{part.old} → {part.new}" if part.old and part.new else (part.new or part.old)
        out.append(f"<div class='sd-cat-section sd-cat-mono'>{html.escape(title)}</div>")
        out.append(table_html(LOGICAL_HEADER, part.rows, mono=(1, 2, 3), empty="no logical change"))
        lines = []
        for line in part.text.splitlines():
            css = ""
            if line.startswith("+") and not line.startswith("+++"):
                css = "sd-cat-add"
            elif line.startswith("-") and not line.startswith("---"):
                css = "sd-cat-del"
            elif line.startswith("@@"):
                css = "sd-cat-hunk"
            escaped = html.escape(line)
            lines.append(f"<span class='{css}'>{escaped}</span>" if css else escaped)
        if lines:
            out.append(f"<div class='sd-cat-diff'>{chr(10).join(lines)}</div>")
    return "".join(out)


class ContextsPanel(w.VBox):
    """The context history and a diff of any two contexts.

    Parameters
    ----------
    history : callable
        ``history()`` → rows (:class:`HistoryRow`, or tuples/dicts the core gives), newest
        first or not (shown newest first).
    contexts : callable
        ``contexts()`` → every pipeline context's name (for the diff pickers).
    diff : callable
        ``diff(old, new)`` → list of :class:`MappingDiff`.
    caller : Caller
        How slow calls run (the view's background caller; default: at once).
    """

    def __init__(
        self,
        history: Callable[[], Iterable[Any]],
        contexts: Callable[[], Sequence[str]],
        diff: Callable[[str, str], Sequence[MappingDiff]],
        *,
        caller: Caller = run_now,
        shown: int = 4,
    ) -> None:
        self._history = history
        self._contexts = contexts
        self._diff = diff
        self._caller = caller
        self.shown_rows = shown
        self.rows: list[HistoryRow] = []
        self.history_html = classed(w.HTML(), "sd-cat-history")
        self.more = classed(
            w.Button(description="show all", icon="list", layout=w.Layout(width="auto")),
            "sd-cat-history-more",
        )
        self.more.layout.align_self = "flex-start"
        self.more.on_click(self._toggle_more)
        self.old = classed(
            w.Dropdown(description="from", layout=w.Layout(width="auto", min_width="230px"),
                       style={"description_width": "40px"}),
            "sd-cat-diff-old",
        )  # fmt: skip
        self.new = classed(
            w.Dropdown(description="to", layout=w.Layout(width="auto", min_width="230px"),
                       style={"description_width": "24px"}),
            "sd-cat-diff-new",
        )  # fmt: skip
        self.diff_button = classed(
            w.Button(description="Show differences", icon="columns", button_style="primary",
                     layout=w.Layout(width="auto")),
            "sd-cat-diff-button",
        )  # fmt: skip
        self.diff_button.on_click(lambda _b: self.show_diff())
        self.feedback = Feedback()
        self.diff_view = classed(w.HTML(), "sd-cat-diff-view")
        picker = classed(
            w.HBox([self.old, self.new, self.diff_button, self.feedback]), "sd-cat-row"
        )
        super().__init__(
            [
                w.HTML("<div class='sd-cat-section'>Context history</div>"),
                self.history_html,
                self.more,
                w.HTML("<div class='sd-cat-section'>Differences between two contexts</div>"),
                picker,
                self.diff_view,
            ]
        )
        classed(self, "sd-cat-contexts")
        self.refresh()

    def refresh(self) -> None:
        """Read the history and the contexts again."""
        try:
            rows = [history_row(r) for r in self._history()]
            names = list(self._contexts())
        except Exception as exc:  # shown where the history goes; the page stays up
            self.feedback.error(exc, "history not read")
            return
        rows.sort(key=lambda r: (when_text(r.at), r.context), reverse=True)
        self.rows = rows
        self._draw_history()
        names = sorted(set(names) | {r.context for r in rows}, reverse=True)
        old, new = self.old.value, self.new.value
        self.old.options = names
        self.new.options = names
        latest = [r.context for r in rows if r.kind == "latest"]
        if new not in names:
            new = names[0] if names else None
        if old not in names:
            # default: the latest context against the newest one (what the next change does)
            old = (
                latest[0] if latest and latest[0] != new else (names[1] if len(names) > 1 else new)
            )
        self.old.value, self.new.value = old, new

    def _draw_history(self) -> None:
        shown = self.rows if self.shown_rows <= 0 else self.rows[: self.shown_rows]
        self.history_html.value = table_html(
            ("when (UTC)", "pointer", "context", "who", "why"),
            [(when_text(r.at), r.kind, r.context, r.who, r.why) for r in shown],
            mono=(2,),
            nowrap=(0, 1, 2),
            empty="no context was set yet",
        )
        hidden = len(self.rows) - len(shown)
        self.more.layout.display = None if hidden or self.shown_rows <= 0 else "none"
        self.more.description = (
            "show fewer" if self.shown_rows <= 0 else f"show all ({hidden} more)"
        )
        if self.shown_rows <= 0 and len(self.rows) <= 4:
            self.more.layout.display = "none"

    def _toggle_more(self, _button: Any = None) -> None:
        self.shown_rows = 4 if self.shown_rows <= 0 else 0
        self._draw_history()

    def show_diff(self, old: str | None = None, new: str | None = None) -> None:
        """Diff two contexts (default: the pickers' choice) and show it."""
        old = old or self.old.value
        new = new or self.new.value
        if not old or not new:
            self.feedback.say("warning", "pick two contexts to compare")
            return
        if old == new:
            self.feedback.say("warning", f"both sides are {old}: pick two different contexts")
            return
        self.feedback.say("busy", f"comparing {old} with {new}…")
        self.diff_button.disabled = True

        def shown(parts: Sequence[MappingDiff]) -> None:
            self.diff_button.disabled = False
            self.parts = list(parts)
            self.diff_view.value = diff_html(self.parts)
            changed = len(self.parts)
            self.feedback.say(
                "info", f"{old} → {new}: {changed} mapping{'s' if changed != 1 else ''} differ"
            )

        def failed(exc: BaseException) -> None:
            self.diff_button.disabled = False
            self.feedback.error(exc, "no diff")

        self._caller("diff", lambda: self._diff(old, new), shown, failed)
