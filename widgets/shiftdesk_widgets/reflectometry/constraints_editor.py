"""Typing constraints between parameters: a text box with Add, the list with Remove."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

from shiftdesk.errors import ConstraintError, ModelError
from shiftdesk.reflectometry import Constraint, FitProblem

HELP = (
    "One relation per line, e.g. <code>B.thickness = 0.08 * A.thickness</code> "
    "(B follows A), <code>A.roughness &lt; A.thickness / 4</code>, "
    "<code>back.roughness &lt;= 5</code>. Names: <code>Layer.param</code> "
    "(thickness, sld, isld, roughness), <code>front.sld</code>, <code>back.roughness</code>, "
    "<code>scale</code>, <code>background</code>; another data set's: "
    "<code>h2o.Layer.param</code>. Allowed: numbers, + − * / **, ( ), min, max, abs, sqrt, "
    "exp, log."
)


class ConstraintsEditor(w.VBox):
    """Add and remove the constraints of a :class:`~shiftdesk.reflectometry.FitProblem`.

    A refused constraint is explained in the panel itself (with the column of a syntax
    error marked) and the typed text stays for correcting.

    Parameters
    ----------
    problem : FitProblem
        The problem whose constraints are edited (any of its data sets' models).
    on_change : callable, optional
        Called after a constraint was added or removed.
    """

    def __init__(self, problem: FitProblem, on_change: Callable[[], None] | None = None) -> None:
        self.problem = problem
        self.on_change = on_change or (lambda: None)
        self.text = w.Text(
            placeholder="e.g. B.thickness = 0.08 * A.thickness",
            layout=w.Layout(width="420px"),
        )
        self.text.add_class("sd-constraint-text")
        self.add_button = w.Button(description="Add", icon="plus")
        self.add_button.add_class("sd-add-constraint")
        self.add_button.on_click(lambda _b: self.add())
        self.error = w.HTML()
        self.error.add_class("sd-constraint-error")
        self.list_box = w.VBox()
        self.list_box.add_class("sd-constraint-list")
        self.remove_buttons: list[w.Button] = []
        super().__init__(
            [
                w.HTML(f"<small>{HELP}</small>"),
                w.HBox([self.text, self.add_button]),
                self.error,
                self.list_box,
            ]
        )
        self.add_class("sd-constraints-editor")
        problem.observe(self._on_problem)
        self.rebuild()

    def set_problem(self, problem: FitProblem) -> None:
        """Edit another problem's constraints."""
        self.problem.unobserve(self._on_problem)
        self.problem = problem
        problem.observe(self._on_problem)
        self.error.value = ""
        self.rebuild()

    def close(self) -> None:
        """Stop observing the problem and close the widgets."""
        self.problem.unobserve(self._on_problem)
        super().close()

    def _on_problem(self, _what: str) -> None:
        # texts follow renamed layers; an inequality's ✓/✗ follows the values
        self.refresh()

    def refresh(self) -> None:
        """Show the problem's constraints, changing only the rows whose text changed.

        Every edit of the model comes here (a "fit" tick too): with the same number of
        constraints only the labels that differ are sent to the page, not a new list.
        """
        constraints = self.problem.constraints
        if len(constraints) != len(self._labels):
            self.rebuild()
            return
        for label, constraint in zip(self._labels, constraints, strict=True):
            text = _row_html(constraint)
            if label.value != text:
                label.value = text

    # -- actions -----------------------------------------------------------------------
    def add(self, text: str | None = None) -> Constraint | None:
        """Add the typed constraint (or ``text``); returns it, or None when refused."""
        typed = self.text.value if text is None else text
        try:
            constraint = self.problem.constrain(typed)
        except ModelError as exc:
            self.show_error(typed, exc)
            return None
        self.text.value = ""
        self.error.value = ""
        self.rebuild()
        self.on_change()
        return constraint

    def remove(self, index: int) -> None:
        """Remove the constraint at ``index`` of the list."""
        try:
            self.problem.unconstrain(index)
        except (KeyError, ModelError) as exc:
            self.error.value = _error_html(str(exc).strip("'\""))
            return
        self.error.value = ""
        self.rebuild()
        self.on_change()

    def show_error(self, text: str, exc: Exception) -> None:
        """Explain why ``text`` was refused; mark the column of a syntax error."""
        body = _error_html(str(exc))
        column = getattr(exc, "column", None) if isinstance(exc, ConstraintError) else None
        source = text.strip()
        if column is not None and 1 <= column <= len(source) + 1 and len(source) <= 200:
            before, at, after = source[: column - 1], source[column - 1 : column], source[column:]
            body += (
                "<pre class='sd-constraint-caret'>"
                f"{html.escape(before)}<u style='color:#b00020'>{html.escape(at or ' ')}</u>"
                f"{html.escape(after)}</pre>"
            )
        self.error.value = body

    # -- view --------------------------------------------------------------------------
    def rebuild(self) -> None:
        """Recreate the list from the problem's constraints."""
        for old in self.list_box.children:
            for child in getattr(old, "children", ()):
                child.close()
            old.close()
        rows: list[w.Widget] = []
        self.remove_buttons = []
        self._labels: list[w.HTML] = []
        for index, constraint in enumerate(self.problem.constraints):
            button = w.Button(
                icon="trash", tooltip="remove this constraint", layout=w.Layout(width="36px")
            )
            button.add_class("sd-remove-constraint")
            button.on_click(lambda _b, i=index: self.remove(i))
            self.remove_buttons.append(button)
            label = w.HTML(_row_html(constraint))
            label.add_class("sd-constraint")
            self._labels.append(label)
            rows.append(w.HBox([button, label]))
        if not rows:
            rows.append(w.HTML("<i>no constraints</i>"))
        self.list_box.children = rows

    @property
    def texts(self) -> list[str]:
        """The constraints shown, as text."""
        return [c.text for c in self.problem.constraints]


def _row_html(constraint: Constraint) -> str:
    text = f"<code>{html.escape(constraint.text)}</code>"
    if constraint.problem:
        return f"{text} <span style='color:#b00020'>⚠ {html.escape(constraint.problem)}</span>"
    if constraint.equality:
        target = constraint.target
        value = f" = {target.param.value:.6g}" if target is not None else ""
        return f"{text} <small>(derived{html.escape(value)})</small>"
    if constraint.satisfied() is False:
        return f"{text} <span style='color:#a15c00'>✗ does not hold now</span>"
    return f"{text} <span style='color:#1b5e20'>✓</span>"


def _error_html(message: str) -> str:
    return f"<div style='color:#b00020'>{html.escape(message)}</div>"
