"""Mark files bad: a form beside the file (or for a list of names) and the bad-files list.

The catalog refuses to mark a file the latest context uses (build a clean context first,
make it latest, then mark the file bad, as CRDS's server enforces); its message is shown
next to the button the user pressed, in the core's words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.catalog._common import Feedback, classed, table_html
from shiftdesk_widgets.runtable._calls import Caller, run_now

#: ``mark(names, why)``: marks the files bad (raises with the core's reason to refuse).
MarkCall = Callable[[list[str], str], Any]


def split_names(text: str) -> list[str]:
    """File names typed one per line or separated by commas or spaces."""
    return [n for n in re.split(r"[\s,;]+", text) if n]


class MarkBadForm(w.VBox):
    """Why, a "Mark bad" button and what came of it.

    Parameters
    ----------
    mark : callable
        ``mark(names, why)``.
    names : callable, optional
        The files to mark (default: typed in a box of this form).
    can_edit : bool
        False: the button is off and the form says who may mark files bad.
    caller : Caller
        How the call runs.
    on_done : callable, optional
        ``on_done(names)`` after files were marked (the view refreshes what shows them).
    """

    def __init__(
        self,
        mark: MarkCall,
        *,
        names: Callable[[], list[str]] | None = None,
        can_edit: bool = True,
        caller: Caller = run_now,
        on_done: Callable[[list[str]], None] | None = None,
        who_may: str = "the catalog's editors",
    ) -> None:
        self._mark = mark
        self._names = names
        self._caller = caller
        self.on_done = on_done
        self.who_may = who_may
        self.names_box = classed(
            w.Textarea(placeholder="file names, one per line",
                       layout=w.Layout(width="100%", height="70px")),
            "sd-cat-mark-names",
        )  # fmt: skip
        self.why = classed(
            w.Text(placeholder="why (required; goes into the audit trail)", description="why",
                   layout=w.Layout(width="auto", flex="1 1 240px", min_width="200px"),
                   style={"description_width": "initial"}),
            "sd-cat-mark-why",
        )  # fmt: skip
        self.button = classed(
            w.Button(description="Mark bad", icon="ban", button_style="danger",
                     layout=w.Layout(width="auto")),
            "sd-cat-mark-button",
        )  # fmt: skip
        self.button.on_click(lambda _b: self.submit())
        self.feedback = Feedback()
        row = classed(w.HBox([self.why, self.button]), "sd-cat-row")
        children: list[w.Widget] = [row, self.feedback]
        if names is None:
            children.insert(0, self.names_box)
        super().__init__(children, layout=w.Layout(width="100%"))
        classed(self, "sd-cat-markbad")
        self.set_can_edit(can_edit)

    def set_can_edit(self, can_edit: bool) -> None:
        """Turn the form on or off (the core checks anyway)."""
        self.can_edit = can_edit
        self.button.disabled = not can_edit
        self.why.disabled = not can_edit
        if not can_edit:
            self.feedback.say("info", f"only {self.who_may} may mark files bad")
        elif self.feedback.kind == "info" and "may mark" in self.feedback.text:
            self.feedback.clear()

    def targets(self) -> list[str]:
        """The files this form would mark."""
        if self._names is not None:
            return [n for n in self._names() if n]
        return split_names(self.names_box.value)

    def submit(self) -> None:
        """Mark the files bad (what came of it shows beside the button)."""
        names = self.targets()
        why = self.why.value.strip()
        if not names:
            self.feedback.say("warning", "name the files to mark bad first")
            return
        if not why:
            self.feedback.say("warning", "say why the files are bad (it goes into the audit trail)")
            return
        said = ", ".join(names)
        self.feedback.say("busy", f"marking {said} bad…")
        self.button.disabled = True

        def done(_result: Any) -> None:
            self.button.disabled = not self.can_edit
            self.feedback.say(
                "info",
                f"{said} marked bad; every context using {'them' if len(names) > 1 else 'it'} "
                "is now blacklisted",
            )
            self.why.value = ""
            if self._names is None:
                self.names_box.value = ""
            if self.on_done is not None:
                self.on_done(names)

        def refused(exc: BaseException) -> None:
            self.button.disabled = not self.can_edit
            self.feedback.error(exc, f"{said} not marked bad")

        self._caller("mark bad", lambda: self._mark(names, why), done, refused)


class BadFilesPanel(w.VBox):
    """The rejected files (what clients need), and a form to mark more.

    Parameters
    ----------
    bad_files : callable
        ``bad_files()`` → the rejected names.
    mark : callable
        ``mark(names, why)``.
    blacklisted : callable, optional
        ``blacklisted()`` → rows (name, blacklisted by) of files made bad by a bad child.
    """

    def __init__(
        self,
        bad_files: Callable[[], Iterable[str]],
        mark: MarkCall,
        *,
        blacklisted: Callable[[], Sequence[tuple[str, str]]] | None = None,
        can_edit: bool = True,
        caller: Caller = run_now,
        on_done: Callable[[list[str]], None] | None = None,
        who_may: str = "the catalog's editors",
    ) -> None:
        self._bad_files = bad_files
        self._blacklisted = blacklisted
        self.listing = classed(w.HTML(), "sd-cat-bad-list")
        self.feedback = Feedback()

        def marked(names: list[str]) -> None:
            self.refresh()
            if on_done is not None:
                on_done(names)

        self.form = MarkBadForm(mark, can_edit=can_edit, caller=caller, on_done=marked,
                                who_may=who_may)  # fmt: skip
        super().__init__(
            [
                w.HTML("<div class='sd-cat-section'>Rejected files</div>"),
                self.listing,
                self.feedback,
                w.HTML(
                    "<div class='sd-cat-section'>Mark files bad</div><div class='sd-cat-muted'>"
                    "A file the latest context uses cannot be marked bad: make a context "
                    "without it, set that context latest, then mark the file.</div>"
                ),
                self.form,
            ]
        )
        classed(self, "sd-cat-badfiles")
        self.refresh()

    def refresh(self) -> None:
        """Read the bad files again."""
        try:
            names = sorted(self._bad_files())
            black = list(self._blacklisted()) if self._blacklisted else []
        except Exception as exc:  # shown here; the form still works
            self.feedback.error(exc, "bad files not read")
            return
        self.names = names
        rows = [(n, "rejected", "") for n in names]
        rows += [(n, "blacklisted", by) for n, by in black if n not in names]
        self.listing.value = table_html(
            ("file", "flag", "because of"), rows, mono=(0, 2), empty="no file is marked bad"
        )
