"""The submission wizard: files in, checks and new rules out, then confirm or cancel.

Three steps, as CRDS's "Submit References" pages: (1) pick reference files, the context
to derive from and a description; (2) the catalog checks the files, names them and makes
the new rmaps, imap and pmap, shown with their diffs, collisions and check results; (3)
confirm (the new pmap becomes the edit context, the files are delivered) or cancel
(nothing remains but the audit row). The submission runs off the kernel's thread.
"""

from __future__ import annotations

import html
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w

from shiftdesk_widgets._async import Ticker
from shiftdesk_widgets._text import plain_error
from shiftdesk_widgets.catalog._common import Feedback, attr, classed, table_html
from shiftdesk_widgets.catalog.bestrefs import upload_items
from shiftdesk_widgets.catalog.contexts import MappingDiff, diff_html
from shiftdesk_widgets.runtable._calls import Caller, run_now

#: What the panel says while the catalog cannot take submissions yet.
NOT_YET = "submissions arrive with the next change"

#: ``submit(paths, derive_from, description)`` → a submission (``files``, ``new_mappings``,
#: ``diffs``, ``collisions``, ``checks``, ``confirm()``, ``cancel()``); it may return before
#: the submission is prepared (``finished`` False): its ``refresh()``, ``progress`` and
#: ``message`` are then followed until it is.
SubmitCall = Callable[[list[Path], str, str], Any]


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, (str, bytes)):
        return [value]
    return list(value)


def files_rows(sub: Any) -> list[tuple[str, str]]:
    """(uploaded as, official name) of a submission's files."""
    rows = []
    for item in _listed(attr(sub, "files")):
        if isinstance(item, tuple) and len(item) == 2:
            rows.append((str(item[0]), str(item[1])))
        else:
            rows.append((str(attr(item, "uploaded_as", "") or ""), str(attr(item, "name", item))))
    return rows


def check_rows(sub: Any) -> list[tuple[str, str, str]]:
    """(file, level, message) of a submission's checks."""
    rows = []
    for item in _listed(attr(sub, "checks")):
        if isinstance(item, tuple):
            if len(item) == 2 and isinstance(item[1], (list, tuple)):  # file → messages
                rows += [(str(item[0]), "", str(m)) for m in item[1]]
                continue
            rows.append(tuple(str(x) for x in (*item, "", "", ""))[:3])  # type: ignore[arg-type]
        elif isinstance(item, str):
            rows.append(("", "", item))
        else:
            rows.append(
                (str(attr(item, "file", attr(item, "name", "")) or ""),
                 str(attr(item, "level", attr(item, "severity", "")) or ""),
                 str(attr(item, "message", item)))
            )  # fmt: skip
    return rows


def _finished(sub: Any) -> bool:
    """Whether a submission handle is past its preparation (no ``finished``: it is)."""
    return bool(getattr(sub, "finished", True))


def diffs_of(sub: Any) -> list[MappingDiff]:
    """A submission's diffs as :class:`MappingDiff` (whatever shape the core gives)."""
    out = []
    for item in _listed(attr(sub, "diffs")):
        if isinstance(item, MappingDiff):
            out.append(item)
            continue
        if isinstance(item, tuple) and len(item) == 2:
            title, value = item
            if isinstance(value, dict):  # {new mapping: {derived_from, text, logical}}
                out.append(
                    MappingDiff(str(value.get("derived_from", "") or ""), str(title),
                                str(value.get("text", "") or ""),
                                logical(value.get("logical", value.get("rows", [])) or []))
                )  # fmt: skip
                continue
            if isinstance(value, tuple) and len(value) == 2:
                text, rows = value
            else:
                text, rows = str(value), []
            old, _sep, new = str(title).partition(" -> ")
            out.append(MappingDiff(old if new else "", new or old, str(text), logical(rows)))
            continue
        text = str(attr(item, "text", "") or "")
        out.append(
            MappingDiff(str(attr(item, "old", "") or ""), str(attr(item, "new", "") or ""), text,
                        logical(attr(item, "rows", []) or []))
        )  # fmt: skip
    return out


def logical(rows: Iterable[Any]) -> list[tuple[str, ...]]:
    """Logical diff rows as (change, where, old, new) from dicts or tuples."""
    out: list[tuple[str, ...]] = []
    for row in rows:
        if isinstance(row, dict):
            path = row.get("path", ())
            where = (
                " · ".join(_text(p) for p in path) if isinstance(path, (tuple, list)) else str(path)
            )
            out.append(
                (str(row.get("change", "")), where, _text(row.get("old")), _text(row.get("new")))
            )
        else:
            out.append(tuple(_text(v) for v in row))
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith("(") and value.endswith(")"):
        # a Match key stored as its repr (the plan is JSON): "('WFI01', 'F158')"
        import ast

        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    return str(value)


def submission_html(sub: Any) -> str:
    """A submission's result page: files, new rules, collisions, checks, diffs."""
    parts = [
        "<div class='sd-cat-section'>Files (official names)</div>",
        table_html(("uploaded as", "name in the catalog"), files_rows(sub), mono=(0, 1)),
        "<div class='sd-cat-section'>New rules</div>",
        "<div class='sd-cat-mono'>"
        + "<br>".join(html.escape(str(m)) for m in _listed(attr(sub, "new_mappings")))
        + "</div>",
    ]
    collisions = [str(c) for c in _listed(attr(sub, "collisions"))]
    if collisions:
        parts.append("<div class='sd-cat-section sd-cat-bad'>Collisions</div>")
        parts.append("<br>".join(f"<span class='sd-cat-notfound'>{html.escape(c)}</span>"
                                 for c in collisions))  # fmt: skip
    checks = check_rows(sub)
    parts.append("<div class='sd-cat-section'>Checks</div>")
    parts.append(table_html(("file", "level", "message"), checks, mono=(0,),
                            empty="every check passed"))  # fmt: skip
    parts.append("<div class='sd-cat-section'>Differences</div>")
    parts.append(diff_html(diffs_of(sub)))
    return "".join(parts)


class SubmitPanel(w.VBox):
    """The submission wizard.

    Parameters
    ----------
    submit : callable or None
        ``submit(paths, derive_from, description)`` → a submission; None while the
        catalog takes none (the panel says :data:`NOT_YET`).
    contexts : callable
        ``contexts()`` → pipeline contexts one may derive from besides edit and latest.
    can_edit : bool
        False: the panel says who may submit and its buttons are off.
    """

    def __init__(
        self,
        submit: SubmitCall | None,
        contexts: Callable[[], Sequence[str]],
        *,
        can_edit: bool = True,
        caller: Caller = run_now,
        on_done: Callable[[str], None] | None = None,
        who_may: str = "the catalog's editors",
        interval: float = 0.5,
    ) -> None:
        self._submit = submit
        self.interval = interval
        self.ticker: Ticker | None = None
        self._contexts = contexts
        self._caller = caller
        self.on_done = on_done
        self.who_may = who_may
        self.submission: Any = None
        self._folder: Path | None = None
        self.upload = classed(
            w.FileUpload(multiple=True, description="Pick reference files",
                         layout=w.Layout(width="auto")),
            "sd-cat-submit-upload",
        )  # fmt: skip
        self.upload.observe(self._picked, "value")
        self.picked = classed(w.HTML(), "sd-cat-submit-picked")
        self.derive = classed(
            w.Dropdown(description="derive from",
                       layout=w.Layout(width="auto", min_width="280px"),
                       style={"description_width": "initial"}),
            "sd-cat-submit-derive",
        )  # fmt: skip
        self.description = classed(
            w.Text(placeholder="what these files are and why (required)", description="description",
                   layout=w.Layout(width="auto", flex="1 1 300px", min_width="240px"),
                   style={"description_width": "initial"}),
            "sd-cat-submit-description",
        )  # fmt: skip
        self.submit_button = classed(
            w.Button(description="Check and make new rules", icon="cogs",
                     button_style="primary", layout=w.Layout(width="auto")),
            "sd-cat-submit-button",
        )  # fmt: skip
        self.submit_button.on_click(lambda _b: self.start())
        self.feedback = Feedback()
        self.progress = classed(
            w.FloatProgress(value=0, min=0, max=1, layout=w.Layout(width="240px")),
            "sd-cat-submit-progress",
        )
        self.progress.layout.display = "none"
        self.result = classed(w.HTML(), "sd-cat-submit-result")
        self.confirm_button = classed(
            w.Button(description="Confirm", icon="check", button_style="success",
                     layout=w.Layout(width="auto")),
            "sd-cat-submit-confirm",
        )  # fmt: skip
        self.cancel_button = classed(
            w.Button(description="Cancel submission", icon="times", button_style="warning",
                     layout=w.Layout(width="auto")),
            "sd-cat-submit-cancel",
        )  # fmt: skip
        self.confirm_button.on_click(lambda _b: self.finish(True))
        self.cancel_button.on_click(lambda _b: self.finish(False))
        self.decide_feedback = Feedback()
        self.decide = classed(
            w.HBox([self.confirm_button, self.cancel_button, self.decide_feedback]), "sd-cat-row"
        )
        self.decide.layout.display = "none"
        steps = w.HTML(
            "<div class='sd-cat-muted'>1 · pick reference files and the context to derive "
            "from · 2 · the catalog checks them, names them and makes new rules · 3 · "
            "confirm (the new context becomes the edit context) or cancel</div>"
        )
        super().__init__(
            [
                steps,
                classed(w.HBox([self.upload, self.picked]), "sd-cat-row"),
                classed(w.HBox([self.derive, self.description]), "sd-cat-row"),
                classed(w.HBox([self.submit_button, self.progress, self.feedback]), "sd-cat-row"),
                # the decision above the results: the diffs of many files are long
                self.decide,
                self.result,
            ]
        )
        classed(self, "sd-cat-submit")
        self.refresh_contexts()
        self.set_can_edit(can_edit)

    @property
    def available(self) -> bool:
        """Whether the catalog takes submissions."""
        return self._submit is not None

    def set_can_edit(self, can_edit: bool) -> None:
        """Turn the wizard on or off (the core checks anyway)."""
        self.can_edit = can_edit
        off = not (can_edit and self.available)
        for control in (self.upload, self.derive, self.description, self.submit_button):
            control.disabled = off
        if not self.available:
            self.feedback.say("info", NOT_YET)
        elif not can_edit:
            self.feedback.say("info", f"only {self.who_may} may submit files")
        elif self.feedback.kind == "info" and self.submission is None:
            self.feedback.clear()

    def refresh_contexts(self) -> None:
        """Read the contexts one may derive from again."""
        try:
            names = list(self._contexts())
        except Exception:  # edit and latest still work
            names = []
        options = [("edit context", "edit"), ("latest context", "latest")]
        options += [(n, n) for n in sorted(names, reverse=True)]
        value = self.derive.value
        self.derive.options = options
        self.derive.value = value if value in {v for _l, v in options} else "edit"

    def _picked(self, change: dict[str, Any]) -> None:
        names = [n for n, _c in upload_items(change["new"])]
        self.picked.value = (
            f"<span class='sd-cat-mono'>{html.escape(', '.join(names))}</span>" if names else ""
        )

    def _write_uploads(self) -> list[Path]:
        self._discard_folder()
        self._folder = Path(tempfile.mkdtemp(prefix="shiftdesk-submit-"))
        paths = []
        for name, content in upload_items(self.upload.value):
            path = self._folder / Path(name).name
            path.write_bytes(content)
            paths.append(path)
        return paths

    def _discard_folder(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def start(self, paths: list[Path] | None = None) -> None:
        """Submit the picked files (or ``paths``); the result shows with Confirm/Cancel."""
        if self._submit is None:
            self.feedback.say("info", NOT_YET)
            return
        if self.submission is not None:
            self.feedback.say("warning", "confirm or cancel the submission shown first")
            return
        description = self.description.value.strip()
        if paths is None:
            if not upload_items(self.upload.value):
                self.feedback.say("warning", "pick the reference files to submit first")
                return
            if not description:
                self.feedback.say("warning", "describe the files first (it goes into the catalog)")
                return
            paths = self._write_uploads()
        elif not description:
            description = "submitted from the dashboard"
        derive = self.derive.value or "edit"
        submit = self._submit
        self.submit_button.disabled = True
        self.progress.value = 0
        self.progress.layout.display = None
        self.feedback.say("busy", f"checking {len(paths)} file(s) and making new rules from the "
                                  f"{derive} context…")  # fmt: skip

        def started(sub: Any) -> None:
            self.submission = sub
            if _finished(sub):
                self._prepared(sub)
                return
            # prepared in the catalog's own worker: follow its progress on the kernel's loop
            self.ticker = Ticker(self.poll, self.interval)
            self.ticker.start()

        def failed(exc: BaseException) -> None:
            self.submit_button.disabled = not self.can_edit
            self.progress.layout.display = "none"
            self._discard_folder()
            self.feedback.error(exc, "not submitted")

        self._caller("submit", lambda: submit(paths, derive, description), started, failed)

    def poll(self) -> bool:
        """Read the submission's progress once; True while it is being prepared."""
        sub = self.submission
        if sub is None:
            return False
        try:
            sub.refresh()
        except Exception as exc:  # said; the next poll tries again
            self.feedback.error(exc, "progress not read")
            return True
        if not _finished(sub):
            self.progress.value = float(getattr(sub, "progress", 0.0) or 0.0)
            message = str(getattr(sub, "message", "") or "")
            if message:
                self.feedback.say("busy", message)
            return True
        self._prepared(sub)
        return False

    def wait(self, timeout: float = 60.0) -> None:
        """Poll until the submission is prepared (scripts, tests; the page polls itself)."""
        import time

        deadline = time.monotonic() + timeout
        while self.poll():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the submission was not prepared in {timeout:g} s")
            time.sleep(0.1)

    def _prepared(self, sub: Any) -> None:
        """The checks and new rules are there (or the preparation failed): show them."""
        self.progress.value = 1
        self.progress.layout.display = "none"
        self.result.value = submission_html(sub)
        status = str(getattr(sub, "status", "done") or "done")
        if status != "done":
            self.submission = None
            self.submit_button.disabled = not self.can_edit
            self._discard_folder()
            reason = getattr(sub, "error", None) or f"the submission is {status}"
            self.feedback.say("error", f"not ready: {plain_error(str(reason))}")
            return
        news = [str(m) for m in _listed(attr(sub, "new_mappings"))]
        pmap = next((m for m in news if m.endswith(".pmap")), "")
        self.feedback.say("info", "ready: check the new rules below, then confirm or cancel"
                          + (f" (new context {pmap})" if pmap else ""))  # fmt: skip
        self.decide.layout.display = None
        self.decide_feedback.clear()
        self.confirm_button.disabled = self.cancel_button.disabled = False
        if self.on_done is not None:  # (the lock it took shows)
            self.on_done("ready")

    def finish(self, confirm: bool) -> None:
        """Confirm or cancel the submission shown."""
        sub = self.submission
        if sub is None:
            self.decide_feedback.say("warning", "there is no submission to confirm or cancel")
            return
        word = "confirm" if confirm else "cancel"
        self.confirm_button.disabled = self.cancel_button.disabled = True
        self.decide_feedback.say("busy", f"{'confirming' if confirm else 'cancelling'}…")

        def done(_result: Any) -> None:
            self.submission = None
            self.decide_feedback.clear()
            self._discard_folder()
            self.decide.layout.display = "none"
            self.submit_button.disabled = not self.can_edit
            self.upload.value = ()
            self.picked.value = ""
            self.description.value = ""
            self.result.value = ""  # the Contexts tab diffs it from now on
            if confirm:
                news = [str(m) for m in _listed(attr(sub, "new_mappings"))]
                pmap = next((m for m in news if m.endswith(".pmap")), "the new context")
                self.feedback.say(
                    "info",
                    f"confirmed: {pmap} is the edit context and the files are delivered; the "
                    "Contexts tab shows what changed",
                )
            else:
                self.feedback.say("info", "cancelled: nothing was added to the catalog")
            if self.on_done is not None:
                self.on_done(word)

        def refused(exc: BaseException) -> None:
            self.confirm_button.disabled = self.cancel_button.disabled = False
            self.decide_feedback.error(exc, f"not {word}ed" if confirm else "not cancelled")

        call = sub.confirm if confirm else sub.cancel
        self._caller(word, call, done, refused)

    def close(self) -> None:
        """Stop following, remove uploaded copies, then close."""
        if self.ticker is not None:
            self.ticker.stop()
        self._discard_folder()
        super().close()
