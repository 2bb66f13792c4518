"""ContextEditor: Validate lists problems by line; Save refused while errors remain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from shiftdesk_widgets.runtable.editor import ContextEditor, Problem

GOOD = "from shiftdesk.runtable import Variable\n\n@Variable\ndef x(run):\n    return 1\n"
BAD = GOOD + "\n@Variable\ndef y(run):\n    return undefined(\n"


@dataclass
class CoreProblem:
    """What the core's validate() returns."""

    line: int | None
    column: int | None
    message: str
    severity: str


class Store:
    def __init__(self) -> None:
        self.saved: list[str] = []
        self.refuse: Exception | None = None

    def validate(self, text: str) -> list[Any]:
        problems: list[Any] = []
        if "undefined(\n" in text:
            problems.append(CoreProblem(9, 21, "'(' was never closed", "error"))
        if "import os" in text:
            problems.append(CoreProblem(1, 1, "'os' imported but unused", "warning"))
        return problems

    def save(self, text: str) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.saved.append(text)


@pytest.fixture
def store() -> Store:
    return Store()


def test_validate_shows_problems_with_line_numbers(store: Store) -> None:
    editor = ContextEditor(GOOD, store.validate, store.save)
    editor.text.value = BAD
    editor.validate_button.click()
    assert "line 9: &#x27;(&#x27; was never closed" in editor.problem_list.value
    assert "<code>return undefined(</code>" in editor.problem_list.value  # the line itself
    assert "1 error: fix before saving" in editor.problem_list.value
    assert editor.save_button.disabled
    editor.text.value = "import os\n" + GOOD
    editor.validate_button.click()
    assert "warnings only" in editor.problem_list.value and "line 1:" in editor.problem_list.value
    assert not editor.save_button.disabled
    editor.text.value = GOOD + "\n"
    editor.validate_button.click()
    assert "no problems found" in editor.problem_list.value


def test_save_is_refused_while_there_are_errors(store: Store) -> None:
    editor = ContextEditor(GOOD, store.validate, store.save)
    assert editor.save_button.disabled  # nothing changed
    editor.text.value = BAD
    assert not editor.save_button.disabled  # not validated yet: Save validates first
    assert "modified, not saved" in editor.status.value
    assert not editor.save()
    assert store.saved == [] and "fix the errors" in editor.status.value
    assert editor.save_button.disabled
    editor.text.value = BAD.replace("undefined(", "undefined()")
    editor.save_button.click()
    assert store.saved == [editor.text.value] and "saved" in editor.status.value
    assert editor.save_button.disabled and editor.saved_text == editor.text.value


def test_a_refusal_of_the_core_is_shown(store: Store) -> None:
    store.refuse = PermissionError("viewer may not edit the context file of demo")
    editor = ContextEditor(GOOD, store.validate, store.save)
    editor.text.value = GOOD + "# more\n"
    assert not editor.save()
    assert "viewer may not edit the context file of demo" in editor.status.value


def test_a_failing_checker_blocks_saving(store: Store) -> None:
    def broken(_text: str) -> list[Any]:
        raise RuntimeError("validator timed out")

    editor = ContextEditor(GOOD, broken, store.save)
    editor.text.value = GOOD + "# more\n"
    assert not editor.save()
    assert "could not validate: validator timed out" in editor.problem_list.value


def test_revert_and_reload(store: Store) -> None:
    editor = ContextEditor(GOOD, store.validate, store.save)
    editor.text.value = BAD
    editor.revert_button.click()
    assert editor.text.value == GOOD and editor.revert_button.disabled
    editor.reload(GOOD + "# from elsewhere\n")
    assert editor.text.value.endswith("# from elsewhere\n")
    editor.text.value = "mine"
    editor.reload("theirs")
    assert editor.text.value == "mine" and "changed elsewhere" in editor.status.value


def test_read_only(store: Store) -> None:
    editor = ContextEditor(GOOD, store.validate, store.save, can_edit=False)
    assert editor.text.disabled and editor.save_button.disabled
    assert "read-only" in editor.status.value
    assert not editor.save() and store.saved == []
    editor.validate_button.click()  # still allowed to check
    assert "no problems found" in editor.problem_list.value


def test_problem_from_other_shapes() -> None:
    assert Problem.of((3, "bad")) == Problem("bad", 3)
    assert Problem.of("text") == Problem("text")
    assert Problem.of({"lineno": 2, "text": "w", "level": "WARNING"}) == Problem("w", 2, "warning")
