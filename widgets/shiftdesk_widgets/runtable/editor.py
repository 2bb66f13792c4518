"""The context file in an editor: Validate lists problems by line; Save refuses errors."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.runtable._calls import Caller, run_now
from shiftdesk_widgets.runtable.grid import error_text

ValidateCallback = Callable[[str], list[Any]]
SaveCallback = Callable[[str], Any]


@dataclass(frozen=True)
class Problem:
    """One problem of a context file, as the editor lists it."""

    message: str
    line: int | None = None
    severity: str = "error"  # or "warning" (pyflakes): warnings do not block saving

    @classmethod
    def of(cls, problem: Any) -> Problem:
        """From the core's problem object, a mapping, a ``(line, message)`` pair or text."""
        if isinstance(problem, Problem):
            return problem
        if isinstance(problem, str):
            return cls(problem)
        if isinstance(problem, tuple) and len(problem) == 2:
            return cls(str(problem[1]), int(problem[0]) if problem[0] is not None else None)

        def get(*keys: str) -> Any:
            for key in keys:
                if isinstance(problem, Mapping) and key in problem:
                    return problem[key]
                if not isinstance(problem, Mapping) and hasattr(problem, key):
                    return getattr(problem, key)
            return None

        line = get("line", "lineno")
        severity = str(get("severity", "level", "kind") or "error").lower()
        return cls(
            message=str(get("message", "text") or problem),
            line=int(line) if line is not None else None,
            severity="warning" if severity.startswith("warn") else "error",
        )


class ContextEditor(w.VBox):
    """Edit the context file; Validate and Save.

    Parameters
    ----------
    text : str
        The stored context file.
    validate : callable
        ``validate(text) -> list of problems`` (objects with ``message``, ``line``,
        ``severity``; mappings, pairs or strings are read too).
    save : callable
        ``save(text)`` stores it; an exception's message is shown.
    can_edit : bool
        False shows the file read-only.
    caller : callable, optional
        Runs the checks and the save (default: at once; the dashboard passes a
        :class:`~shiftdesk_widgets.runtable._calls.Background`, as validating runs a
        subprocess).
    """

    def __init__(
        self,
        text: str,
        validate: ValidateCallback,
        save: SaveCallback,
        *,
        can_edit: bool = True,
        caller: Caller = run_now,
    ) -> None:
        self.validate_call = validate
        self.save_call = save
        self.caller = caller
        self.can_edit = can_edit
        self.working = False
        self._saved_ok = False
        #: ``on_saved(text)`` after a save (the dashboard reads the new columns then).
        self.on_saved: Callable[[str], Any] | None = None
        self.saved_text = text
        self.problems: list[Problem] = []
        self._validated: str | None = None
        self.text = w.Textarea(
            value=text, continuous_update=False, layout=w.Layout(width="100%", height="460px")
        )
        self.text.add_class("sd-rt-context-text")
        self.text.disabled = not can_edit
        self.text.observe(lambda _c: self._changed(), "value")
        self.validate_button = w.Button(description="Validate", icon="check")
        self.validate_button.add_class("sd-rt-validate")
        self.validate_button.on_click(lambda _b: self.validate())
        self.save_button = w.Button(description="Save", icon="save", button_style="primary")
        self.save_button.add_class("sd-rt-save-context")
        self.save_button.on_click(lambda _b: self.save())
        self.revert_button = w.Button(description="Revert", icon="undo")
        self.revert_button.add_class("sd-rt-revert-context")
        self.revert_button.on_click(lambda _b: self.revert())
        self.status = w.HTML()
        self.status.add_class("sd-rt-context-status")
        self.problem_list = w.HTML()
        self.problem_list.add_class("sd-rt-problems")
        super().__init__(
            [
                w.HBox([self.validate_button, self.save_button, self.revert_button, self.status]),
                self.problem_list,
                self.text,
            ]
        )
        self.add_class("sd-rt-context")
        self._changed()

    def set_can_edit(self, can_edit: bool) -> None:
        """Editable or read-only from now on (the user's rights changed)."""
        self.can_edit = can_edit
        self.text.disabled = not can_edit
        self._changed()

    @property
    def errors(self) -> list[Problem]:
        """The problems that block saving."""
        return [p for p in self.problems if p.severity == "error"]

    def _changed(self) -> None:
        modified = self.text.value != self.saved_text
        stale = self._validated != self.text.value
        self.save_button.disabled = (
            self.working or not self.can_edit or not modified or (not stale and bool(self.errors))
        )
        self.validate_button.disabled = self.working
        self.revert_button.disabled = self.working or not self.can_edit or not modified
        if self.working:
            return
        if not self.can_edit:
            self._status("#555", "read-only: you may not edit this table's context file")
        elif modified:
            self._status("#a15c00", "modified, not saved")
        else:
            self._status("#555", "saved")

    def _status(self, color: str, text: str) -> None:
        self.status.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def _show_problems(self) -> None:
        if not self.problems:
            self.problem_list.value = "<div style='color:#1b5e20'>✓ no problems found</div>"
            return
        items = []
        lines = (self._validated or "").splitlines()
        for p in sorted(self.problems, key=lambda p: (p.severity != "error", p.line or 0)):
            where = f"line {p.line}: " if p.line is not None else ""
            source = ""
            if p.line is not None and 1 <= p.line <= len(lines) and lines[p.line - 1].strip():
                # the line itself: the text box has no line numbers to look it up by
                source = f" <code>{html.escape(lines[p.line - 1].strip()[:120])}</code>"
            items.append(
                f"<li class='sd-rt-problem-{p.severity}'><b>{p.severity}</b> "
                f"{html.escape(where + p.message)}{source}</li>"
            )
        count = len(self.errors)
        head = (
            f"<b style='color:#b00020'>{count} error{'s' if count != 1 else ''}: "
            "fix before saving</b>"
            if count
            else "<b style='color:#a15c00'>warnings only: saving is allowed</b>"
        )
        self.problem_list.value = f"{head}<ul>{''.join(items)}</ul>"

    def _work(self, what: str) -> None:
        self.working = True
        self._changed()
        self._status("#0b5394", what)

    def _check(self, text: str) -> list[Problem]:
        """The problems of ``text`` (a checker that fails is an error: nothing is saved)."""
        try:
            return [Problem.of(p) for p in self.validate_call(text) or []]
        except Exception as exc:  # the checker itself failed: say so, block saving
            return [Problem(f"could not validate: {error_text(exc)}")]

    def _checked(self, text: str, problems: list[Problem]) -> None:
        self.working = False
        self.problems = problems
        self._validated = text
        self._show_problems()
        self._changed()

    def validate(self) -> list[Problem]:
        """Check the text and list its problems (returned when checked at once)."""
        text = self.text.value
        self._work("validating…")
        self.caller("validate", lambda: self._check(text),
                    lambda found: self._checked(text, found),
                    lambda exc: self._checked(text, [Problem(error_text(exc))]))  # fmt: skip
        return self.problems

    def save(self) -> bool:
        """Validate, then store the text unless it has errors.

        Returns True when saved (when the save ran at once; with a background caller the
        outcome shows in the status later).
        """
        if not self.can_edit:
            self._status("#b00020", "not saved: you may not edit this context file")
            return False
        text = self.text.value

        def work() -> tuple[list[Problem], BaseException | None]:
            found = self._check(text)
            if any(p.severity == "error" for p in found):
                return found, None
            try:
                self.save_call(text)
            except Exception as exc:  # the core's refusal, shown next to the button
                return found, exc
            return found, None

        self._saved_ok = False
        self._work("validating and saving…")
        self.caller("save", work, lambda outcome: self._saved(text, *outcome),
                    lambda exc: self._saved(text, self.problems, exc))  # fmt: skip
        return self._saved_ok

    def _saved(self, text: str, problems: list[Problem], exc: BaseException | None) -> None:
        self._checked(text, problems)
        if self.errors:
            self._status("#b00020", "not saved: fix the errors listed first")
        elif exc is not None:
            self._status("#b00020", f"not saved: {error_text(exc)}")
        else:
            self.saved_text = text
            self._saved_ok = True
            self._changed()
            self._status("#1b5e20", "saved: new runs use it; reprocess older runs to update them")
            if self.on_saved is not None:
                self.on_saved(text)

    def revert(self) -> None:
        """Back to the stored text."""
        self.text.value = self.saved_text
        self.problems = []
        self.problem_list.value = ""
        self._changed()

    def reload(self, text: str) -> None:
        """The stored text changed elsewhere: take it unless the user has edits."""
        modified = self.text.value != self.saved_text
        self.saved_text = text
        if not modified:
            self.text.value = text
        self._changed()
        if modified and text != self.text.value:
            self._status("#a15c00", "changed elsewhere since you started editing: Revert to see it")
