"""The model table is cheap for the browser: few widget models, shared looks, no leaks.

Every ipywidgets model (a widget, and each widget's own ``Layout`` and ``Style``) is one
more for the browser to create when the dashboard opens. The table shares layouts and
styles between its cells and makes a parameter's min/max fields only once the parameter
is free; these tests hold it to that without changing what a user can do.
"""

from __future__ import annotations

import warnings

import ipywidgets as w

from shiftdesk.reflectometry import FitProblem
from shiftdesk.reflectometry.demo import starting_problem
from shiftdesk_widgets.reflectometry.model_table import ModelTable
from shiftdesk_widgets.reflectometry.parameter_editor import ParameterEditor, SharedLook

#: The demo model's table made 433 models before layouts and styles were shared and the
#: range fields of fixed parameters were left out (about 140), and about 110 since an
#: editor's lines are rows of one grid and its error line is made when it has a text.
DEMO_TABLE_MODELS = 120
#: A fixed, unfitted parameter's editor with a shared look: its grid, value, "fit" box.
FIXED_EDITOR_MODELS = 3


def open_models() -> set[str]:
    """The ids of the widget models open in this process."""
    with warnings.catch_warnings():
        # Widget.widgets is deprecated, but it is the registry of open models
        warnings.simplefilter("ignore", DeprecationWarning)
        return set(w.Widget.widgets)


def descendants(widget: w.Widget) -> list[w.Widget]:
    """``widget`` and every widget shown inside it."""
    found = [widget]
    for child in getattr(widget, "children", ()):
        found += descendants(child)
    return found


def range_fields(editor: ParameterEditor) -> list[w.FloatText]:
    """The min/max fields the editor shows (or hides) now."""
    return [
        x
        for x in descendants(editor)
        if isinstance(x, w.FloatText) and x.description in ("min", "max")
    ]


def test_demo_table_makes_few_models() -> None:
    problem = starting_problem()
    before = open_models()
    table = ModelTable(problem)
    made = open_models() - before
    assert len(made) <= DEMO_TABLE_MODELS, len(made)
    # ... and an editor of a fixed parameter adds only its own few widgets
    before = open_models()
    extra = ParameterEditor(problem.back.sld, look=table._look)
    assert len(open_models() - before) == FIXED_EDITOR_MODELS
    extra.close()
    table.close()


def test_rebuild_and_close_leave_no_model_open() -> None:
    before = open_models()
    table = ModelTable(starting_problem())
    shown = open_models() - before
    layers = table.problem.layers
    layers.add(thickness=10.0, sld=1.0, roughness=2.0)  # rebuilds
    layers.remove(layers[len(layers) - 1])  # and again, with the first layers back
    # the rebuilt rows replace the old ones instead of piling up next to them
    assert len(open_models() - before) == len(shown)
    table.close()
    assert open_models() - before == set()


def test_fixed_parameter_gets_its_range_fields_when_freed() -> None:
    problem = starting_problem()
    table = ModelTable(problem)
    editor = table.editor("film1.sld")
    param = problem.parameter("film1.sld")
    assert not param.free and range_fields(editor) == []
    editor.free.value = True  # the user ticks "fit"
    assert param.free
    low, high = range_fields(editor)
    assert (low, high) == (editor.min, editor.max)
    assert editor.range_box.layout.display != "none"
    assert (param.min, param.max) == (low.value, high.value) == (1.75, 5.25)
    high.value = 4.5
    low.value = 2.5
    assert (param.min, param.max) == (2.5, 4.5)
    # the fields look as they always did: narrow labels, lined up under the value
    assert low.style.description_width == "30px" and low.layout.width == "114px"
    assert editor.value.layout.width == "74px" and editor.layout.width == "118px"
    editor.free.value = False
    assert not param.free and editor.range_box.layout.display == "none"
    table.close()


def test_range_of_a_fixed_parameter_can_be_set_before_freeing_it() -> None:
    problem = starting_problem()
    table = ModelTable(problem)
    editor = table.editor("film2.roughness")
    param = problem.parameter("film2.roughness")
    assert editor.range_box.layout.display == "none"  # made on request, still hidden
    editor.max.value = 9.0
    editor.min.value = 1.0
    assert param.fixed and param.bounds == (1.0, 9.0)
    editor.free.value = True
    assert param.free and param.bounds == (1.0, 9.0)
    table.close()


def test_freeing_from_code_shows_the_range_fields() -> None:
    problem = starting_problem()
    table = ModelTable(problem)
    editor = table.editor("back.roughness")
    problem.parameter("back.roughness").fit(1.0, 6.0)
    assert [f.value for f in range_fields(editor)] == [1.0, 6.0]
    assert editor.range_box.layout.display != "none"
    table.close()


def test_shared_looks_stay_as_made_and_range_boxes_are_per_editor() -> None:
    problem = starting_problem()
    table = ModelTable(problem)
    look = table._look
    made = {id(part): part.get_state() for part in look.widgets()}
    first, second = table.editor("film1.sld"), table.editor("film2.sld")
    assert first.value.layout is second.value.layout  # shared, not one per widget
    first.free.value = True
    second.free.value = True
    assert first.range_box.layout is not second.range_box.layout
    first.free.value = False  # hides the first editor's range only
    assert first.range_box.layout.display == "none"
    assert second.range_box.layout.display != "none"
    table.editor("film1.thickness").min.value = 700.0  # refused, field restored
    problem.layers.add(thickness=10.0, sld=1.0, roughness=2.0)
    assert {id(part): part.get_state() for part in table._look.widgets()} == made
    table.close()


def test_closing_one_table_leaves_another_working() -> None:
    one, two = ModelTable(starting_problem()), ModelTable(starting_problem())
    one.close()
    assert all(part.comm is not None for part in two._look.widgets())
    editor = two.editor("film1.thickness")
    assert editor.layout.comm is not None and editor.value.style.comm is not None
    editor.value.value = 570.0
    assert two.problem.parameter("film1.thickness").value == 570.0
    two.close()


def test_editor_on_its_own_closes_its_own_look() -> None:
    problem = starting_problem()
    before = open_models()
    editor = ParameterEditor(problem.parameter("film1.thickness"))
    assert isinstance(editor._look, SharedLook) and range_fields(editor)  # free: shown
    editor.close()
    assert open_models() - before == set()


def test_add_layer_goes_to_the_model_shown() -> None:
    first, second = starting_problem(), starting_problem()
    table = ModelTable(first)
    table.set_problem(second)
    table.add_button.click()
    assert (len(first.layers), len(second.layers)) == (2, 3)
    assert len([c for c in table.grid.children if isinstance(c, w.Text)]) == 5
    table.close()


def _is_actions(cell: w.Widget) -> bool:
    """A layer's insert/up/down/delete buttons (a grid; an editor is a grid too)."""
    return isinstance(cell, w.GridBox) and not isinstance(cell, ParameterEditor)


def test_layer_buttons_still_act_on_their_row() -> None:
    problem: FitProblem = starting_problem()
    table = ModelTable(problem)
    rows = [c for c in table.grid.children if _is_actions(c)]
    insert, up, _down, _delete = rows[1].children
    assert up.layout is insert.layout and not up.disabled
    up.click()
    assert [layer.name for layer in problem.layers] == ["film1", "film2"]
    rows = [c for c in table.grid.children if _is_actions(c)]
    _insert, _up, _down, delete = rows[0].children
    delete.click()
    assert [layer.name for layer in problem.layers] == ["film2"]
    table.close()
