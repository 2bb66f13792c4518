"""The constraints editor driven headless: type, Add, see errors in the panel, Remove."""

from __future__ import annotations

import html
import re

import numpy as np

from shiftdesk.reflectometry import FitProblem, Layer, Library, Medium
from shiftdesk_widgets import ReflectometryDashboard
from shiftdesk_widgets.reflectometry.constraints_editor import ConstraintsEditor
from shiftdesk_widgets.reflectometry.model_table import ModelTable


def model() -> FitProblem:
    return FitProblem(
        front=Medium("air", sld=0.0),
        layers=[
            Layer("A", thickness=100.0, sld=4.0, roughness=3.0),
            Layer("B", thickness=40.0, sld=2.0, roughness=2.0),
        ],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )


def visible(html_text: str) -> str:
    """The text a user reads (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def type_and_add(editor: ConstraintsEditor, text: str) -> None:
    editor.text.value = text
    editor.add_button.click()


def test_add_shows_the_constraint_and_the_table_shows_a_derived_parameter() -> None:
    fp = model()
    table = ModelTable(fp)
    editor = ConstraintsEditor(fp)
    assert "no constraints" in visible(editor.list_box.children[0].value)
    type_and_add(editor, "B.thickness = 0.5 * A.thickness")
    assert [c.text for c in fp.constraints] == ["B.thickness = 0.5 * A.thickness"]
    assert editor.text.value == "" and editor.error.value == ""
    (row,) = editor.list_box.children
    assert "B.thickness = 0.5 * A.thickness" in visible(row.children[1].value)
    assert "derived = 50" in visible(row.children[1].value)
    b = table.editor("B.thickness")
    assert b.value.disabled and b.free.disabled and "derived" in b.error.value
    assert b.value.value == 50.0
    table.editor("A.thickness").value.value = 120.0  # typed into the table
    assert b.value.value == 60.0  # the derived field follows
    assert "derived = 60" in visible(editor.list_box.children[0].children[1].value)


def test_a_refused_constraint_is_explained_in_the_panel_and_the_text_kept() -> None:
    fp = model()
    editor = ConstraintsEditor(fp)
    type_and_add(editor, "B.thickness = 0.5 * * A.thickness")
    assert fp.constraints == []
    assert editor.text.value == "B.thickness = 0.5 * * A.thickness"  # kept for correcting
    message = visible(editor.error.value)
    assert "syntax error" in message and "at column 21" in message
    assert "<u style='color:#b00020'>*</u>" in editor.error.value  # the column is marked
    type_and_add(editor, "B.sld = C.sld")
    assert "unknown parameter 'C.sld'" in visible(editor.error.value)
    type_and_add(editor, "B.sld = A.sld")  # corrected: the error goes
    assert editor.error.value == "" and len(fp.constraints) == 1


def test_hostile_input_is_refused_in_the_panel(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fp = model()
    editor = ConstraintsEditor(fp)
    marker = tmp_path / "pwned"
    type_and_add(editor, f"B.sld = __import__('os').system('touch {marker}')")
    assert "only min, max, abs, sqrt, exp and log can be called" in visible(editor.error.value)
    type_and_add(editor, "B.sld = A.__class__")
    assert "names starting with '_'" in visible(editor.error.value)
    assert fp.constraints == [] and not marker.exists()


def test_remove_frees_the_parameter_again() -> None:
    fp = model()
    table = ModelTable(fp)
    editor = ConstraintsEditor(fp)
    type_and_add(editor, "B.sld = A.sld")
    type_and_add(editor, "A.roughness < A.thickness / 4")
    assert len(editor.remove_buttons) == 2
    editor.remove_buttons[0].click()
    assert [c.text for c in fp.constraints] == ["A.roughness < A.thickness / 4"]
    b = table.editor("B.sld")
    assert not b.value.disabled and not b.free.disabled
    b.value.value = 1.5
    assert fp.layers["B"].sld.value == 1.5


def test_the_list_follows_renames_and_values() -> None:
    fp = model()
    editor = ConstraintsEditor(fp)
    type_and_add(editor, "A.roughness < A.thickness / 20")  # 3 < 5
    assert "✓" in editor.list_box.children[0].children[1].value
    fp.layers["A"].thickness.value = 50.0  # 3 < 2.5 no longer holds
    assert "does not hold now" in visible(editor.list_box.children[0].children[1].value)
    fp.rename("A", "Bottom")
    assert editor.texts == ["Bottom.roughness < Bottom.thickness / 20"]
    fp.layers.remove("Bottom")
    assert "no longer exists" in visible(editor.list_box.children[0].children[1].value)


def test_dashboard_constraints_redraw_and_reach_the_fit_result() -> None:
    fp = model()
    q = np.linspace(0.01, 0.2, 80)
    truth = model()
    truth.layers["B"].sld.value = 4.0
    from shiftdesk.reflectometry import ReflData

    r = truth.evaluate(q, dq=0.02 * q).r
    fp.data = ReflData(q=q, r=r, dr=0.03 * r, dq=0.02 * q, name="made")
    fp.layers["A"].sld.fit(2.0, 6.0)
    dashboard = ReflectometryDashboard(problem=fp, library=Library())
    editor = dashboard.constraints_editor
    assert editor in dashboard.model_tools.children
    before = np.array(dashboard.plot.model.y)
    type_and_add(editor, "B.sld = A.sld")
    assert not np.allclose(np.array(dashboard.plot.model.y), before)  # redrawn
    result = fp.fit_now("lm")
    dashboard.show_result(result)
    assert "B.sld = A.sld" in visible(dashboard.result_box.value)  # derived row
    assert fp.layers["B"].sld.value == fp.layers["A"].sld.value
    assert abs(fp.layers["A"].sld.value - 4.0) < 0.05


def test_model_edits_update_the_rows_in_place_and_only_what_changed() -> None:
    """A "fit" tick or a value change reaches the editor; the list is not rebuilt (no new
    widgets for the page), only a label whose text changed is updated."""
    fp = model()
    editor = ConstraintsEditor(fp)
    type_and_add(editor, "B.thickness = 0.5 * A.thickness")
    type_and_add(editor, "A.sld > B.sld")
    rows = editor.list_box.children
    labels = [row.children[1] for row in rows]
    sent: list[str] = []
    for label in labels:
        label.observe(lambda change: sent.append(change["new"]), "value")

    fp.parameter("A.roughness").fit(1.0, 5.0)  # unrelated to both constraints
    assert editor.list_box.children == rows and sent == []

    fp.parameter("A.thickness").value = 120.0  # the derived value follows
    assert editor.list_box.children == rows
    assert [visible(t) for t in sent] == ["B.thickness = 0.5 * A.thickness (derived = 60)"]

    fp.parameter("B.sld").value = 5.0  # the inequality no longer holds
    assert editor.list_box.children == rows
    assert "does not hold now" in visible(labels[1].value)

    editor.remove(0)  # a different number of constraints: the list is rebuilt
    assert len(editor.list_box.children) == 1 and editor.list_box.children[0] is not rows[1]
