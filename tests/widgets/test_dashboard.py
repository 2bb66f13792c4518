"""The reflectometry dashboard driven headless, the way a user drives it in a browser.

No browser and no kernel: buttons are clicked with ``button.click()`` and fields are
typed into by setting ``widget.value``, which runs the same observers the frontend does.
"""

from __future__ import annotations

import base64
import html
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
import pytest

from shiftdesk.identity import Identity
from shiftdesk.reflectometry import FitProblem, Library
from shiftdesk.reflectometry.demo import demo_bytes, starting_problem
from shiftdesk_widgets import ReflectometryDashboard
from shiftdesk_widgets.reflectometry.plots import VIEWS

GOOD = b"# Q R dR\n" + b"".join(
    f"{q:.5f} {np.exp(-q * 60):.6g} {0.05 * np.exp(-q * 60):.6g}\n".encode()
    for q in np.linspace(0.01, 0.2, 40)
)
BAD = b"0.010 1.0 0.05\n0.020 0.5 0.05\n0.030 abc 0.05\n0.040 0.2 0.05\n"


def message(dashboard: ReflectometryDashboard) -> str:
    """The visible text of the message line (HTML tags dropped)."""
    return re.sub(r"<[^>]+>", "", dashboard.messages.value)


def message_kind(dashboard: ReflectometryDashboard) -> str | None:
    found = re.search(r"sd-message-(\w+)", dashboard.messages.value)
    return found.group(1) if found else None


def said(note: w.HTML) -> tuple[str | None, str]:
    """``(kind, visible text)`` of a note shown beside a control."""
    found = re.search(r"sd-note-(\w+)", note.value)
    return (found.group(1) if found else None), html.unescape(re.sub(r"<[^>]+>", "", note.value))


def layer_buttons(dashboard: ReflectometryDashboard, index: int) -> dict[str, w.Button]:
    """The row buttons (by CSS class: sd-insert, sd-up, sd-down, sd-delete) of layer ``index``."""
    rows = [
        child
        for child in dashboard.table.grid.children
        if isinstance(child, w.Box)
        and any("sd-insert" in getattr(b, "_dom_classes", ()) for b in child.children)
    ]
    assert len(rows) == len(dashboard.problem.layers)
    found: dict[str, w.Button] = {}
    for button in rows[index].children:
        for css in button._dom_classes:
            if css.startswith("sd-"):
                found[css] = button
    assert set(found) == {"sd-insert", "sd-up", "sd-down", "sd-delete"}
    return found


def name_box(dashboard: ReflectometryDashboard, name: str) -> w.Text:
    boxes = [
        child
        for child in dashboard.table.grid.children
        if isinstance(child, w.Text) and f"sd-name-{name}" in child._dom_classes
    ]
    assert len(boxes) == 1, f"no single name box for {name!r}"
    return boxes[0]


def layer_names(dashboard: ReflectometryDashboard) -> list[str]:
    return [layer.name for layer in dashboard.problem.layers]


def file_upload_value(content: bytes, name: str) -> tuple[dict[str, Any], ...]:
    """What ipywidgets 8's FileUpload puts in ``.value`` after the user picks one file."""
    return (
        {
            "name": name,
            "type": "text/plain",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        },
    )


def download_links(dashboard: ReflectometryDashboard) -> dict[str, str]:
    """``{file name: decoded text}`` of the links in the Downloads tab."""
    links = re.findall(
        r"<a download='([^']+)' href='data:[^;]+;base64,([^']+)'>", dashboard.downloads.value
    )
    return {name: base64.b64decode(payload).decode() for name, payload in links}


# -- starting ---------------------------------------------------------------------------


def test_start_shows_demo_data_model_and_curves(dashboard: ReflectometryDashboard) -> None:
    assert dashboard.problem.describe() == "air | film2 | film1 | Si"
    assert dashboard.problem.data is not None
    assert len(dashboard.my_data.options) == 1
    assert dashboard.my_data.value == dashboard.data_file_id
    assert len(dashboard.saved_models.options) == 1
    assert len(dashboard.plot.points.x) == len(dashboard.problem.data) == 200
    assert len(dashboard.plot.model.y) == 200
    assert np.all(np.asarray(dashboard.plot.model.y) > 0)
    assert len(dashboard.profile.rho.x) > 10
    assert dashboard.plot.chi2.value.startswith("χ² = ")
    assert "<b>two_layer_film</b>: 200 points" in dashboard.data_label.value


def test_start_twice_does_not_seed_twice() -> None:
    first = ReflectometryDashboard.start()
    second = ReflectometryDashboard.start()
    assert first.my_data.options == second.my_data.options
    assert len(second.saved_models.options) == 1


def test_new_dashboard_without_data_draws_the_model() -> None:
    dashboard = ReflectometryDashboard()
    assert dashboard.problem.data is None
    assert len(dashboard.plot.points.x) == 0
    assert len(dashboard.plot.model.x) > 100
    assert dashboard.plot.chi2.value == ""
    assert "no data" in dashboard.data_label.value


# -- data -------------------------------------------------------------------------------


def test_upload_file_stores_and_plots(dashboard: ReflectometryDashboard) -> None:
    dashboard.upload_file(GOOD, "mine.txt")
    assert "loaded mine.txt: 40 points" in message(dashboard)
    labels = [label for label, _id in dashboard.my_data.options]
    assert any(label.startswith("mine.txt (40 pts)") for label in labels)
    assert dashboard.my_data.value == dashboard.data_file_id
    assert dashboard.problem.data is not None and dashboard.problem.data.name == "mine"
    assert len(dashboard.plot.points.x) == 40
    assert len(dashboard.plot.model.y) == 40
    assert dashboard.plot.chi2.value.startswith("χ² = ")
    assert dashboard.curve is not None and dashboard.curve.chi2 is not None
    assert len(Library().list_data()) == 2


def test_upload_through_file_upload_widget(dashboard: ReflectometryDashboard) -> None:
    dashboard.upload.value = file_upload_value(GOOD, "widget_upload.dat")
    assert "loaded widget_upload.dat" in message(dashboard)
    assert any(label.startswith("widget_upload.dat") for label, _ in dashboard.my_data.options)
    assert len(dashboard.plot.points.x) == 40
    assert dashboard.plot.chi2.value.startswith("χ² = ")
    stored = Library().open_data(dashboard.data_file_id)  # kept byte for byte
    assert len(stored) == 40


def test_bad_upload_shows_error_and_stores_nothing(dashboard: ReflectometryDashboard) -> None:
    before = Library().list_data()
    data_before = dashboard.problem.data
    dashboard.upload.value = file_upload_value(BAD, "broken.txt")
    # said beside the upload, not in the line at the top
    kind, text = said(dashboard.data_note)
    assert kind == "error"
    assert "broken.txt was not loaded" in text
    assert "abc" in text or "line 3" in text, text
    assert Library().list_data() == before
    assert dashboard.problem.data is data_before
    assert len(dashboard.my_data.options) == len(before)
    # the direct call behaves the same
    dashboard.upload_file(b"", "empty.txt")
    assert said(dashboard.data_note)[0] == "error"
    assert Library().list_data() == before


def test_use_stored_data(dashboard: ReflectometryDashboard) -> None:
    demo_id = dashboard.data_file_id
    dashboard.upload_file(GOOD, "mine.txt")
    assert len(dashboard.plot.points.x) == 40
    dashboard.my_data.value = demo_id
    dashboard.load_data_button.click()
    assert "using two_layer_film" in message(dashboard)
    assert dashboard.data_file_id == demo_id
    assert len(dashboard.plot.points.x) == 200


# -- parameters -------------------------------------------------------------------------


def test_edit_value_changes_parameter_and_redraws(dashboard: ReflectometryDashboard) -> None:
    param = dashboard.problem.parameter("film1.thickness")
    before_y = np.array(dashboard.plot.model.y)
    before_chi2 = dashboard.curve.chi2
    dashboard.table.editor("film1.thickness").value.value = 577.6
    assert param.value == 577.6
    after_y = np.array(dashboard.plot.model.y)
    assert after_y.shape == before_y.shape
    assert not np.allclose(after_y, before_y)
    assert dashboard.curve.chi2 < before_chi2  # closer to the truth


def test_edit_on_default_model() -> None:
    dashboard = ReflectometryDashboard()
    before = np.array(dashboard.plot.model.y)
    dashboard.table.editor("film.thickness").value.value = 250.0
    assert dashboard.problem.parameter("film.thickness").value == 250.0
    assert not np.allclose(np.array(dashboard.plot.model.y), before)


def test_refused_value_restores_field(dashboard: ReflectometryDashboard) -> None:
    editor = dashboard.table.editor("film1.roughness")
    editor.value.value = -5.0
    assert said(dashboard.model_note)[0] == "error"
    assert dashboard.problem.parameter("film1.roughness").value == 8.0
    assert editor.value.value == 8.0


def test_free_checkbox_shows_range(dashboard: ReflectometryDashboard) -> None:
    editor = dashboard.table.editor("film1.sld")
    param = dashboard.problem.parameter("film1.sld")
    assert not param.free
    assert editor.range_box.layout.display == "none"
    editor.free.value = True
    assert param.free
    assert editor.range_box.layout.display != "none"
    assert (param.min, param.max) == (editor.min.value, editor.max.value)
    editor.max.value = 4.5
    editor.min.value = 2.5
    assert (param.min, param.max) == (2.5, 4.5)
    editor.free.value = False
    assert not param.free
    assert editor.range_box.layout.display == "none"


def test_min_above_max_is_refused(dashboard: ReflectometryDashboard) -> None:
    editor = dashboard.table.editor("film1.thickness")
    param = dashboard.problem.parameter("film1.thickness")
    assert (param.min, param.max) == (500.0, 650.0)
    editor.min.value = 700.0
    assert said(dashboard.model_note)[0] == "error"
    assert (param.min, param.max) == (500.0, 650.0)
    assert param.free
    assert editor.min.value == 500.0  # the field is restored


# -- layers -----------------------------------------------------------------------------


def test_add_insert_move_delete_layers(dashboard: ReflectometryDashboard) -> None:
    assert layer_names(dashboard) == ["film2", "film1"]
    dashboard.table.add_button.click()
    assert len(dashboard.problem.layers) == 3
    added = layer_names(dashboard)[-1]
    assert layer_names(dashboard)[:2] == ["film2", "film1"]
    assert len(dashboard.plot.model.y) == 200

    layer_buttons(dashboard, 0)["sd-insert"].click()
    names = layer_names(dashboard)
    assert len(names) == 4 and names[1:] == ["film2", "film1", added]
    inserted = names[0]

    buttons = layer_buttons(dashboard, 0)
    assert buttons["sd-up"].disabled
    buttons["sd-down"].click()
    assert layer_names(dashboard) == ["film2", inserted, "film1", added]
    assert layer_buttons(dashboard, 3)["sd-down"].disabled
    layer_buttons(dashboard, 2)["sd-up"].click()
    assert layer_names(dashboard) == ["film2", "film1", inserted, added]

    layer_buttons(dashboard, 3)["sd-delete"].click()
    layer_buttons(dashboard, 2)["sd-delete"].click()
    assert layer_names(dashboard) == ["film2", "film1"]
    # the table follows: one editor per parameter again, bound to the live model
    dashboard.table.editor("film1.thickness").value.value = 570.0
    assert dashboard.problem.parameter("film1.thickness").value == 570.0


def test_table_rebuilds_when_model_changes_in_code(dashboard: ReflectometryDashboard) -> None:
    dashboard.problem.layers.add(thickness=10.0, sld=1.0, roughness=1.0)
    new = layer_names(dashboard)[-1]
    assert dashboard.table.editor(f"{new}.thickness").parameter.value == 10.0


def test_rename_layer(dashboard: ReflectometryDashboard) -> None:
    name_box(dashboard, "film2").value = "oxide"
    assert layer_names(dashboard) == ["oxide", "film1"]
    assert "oxide.thickness" in dashboard.problem.parameters()
    assert dashboard.table.editor("oxide.thickness").parameter.value == 40.0
    name_box(dashboard, "Si").value = "substrate"
    assert dashboard.problem.back.name == "substrate"


def test_bad_rename_is_refused_and_restored(dashboard: ReflectometryDashboard) -> None:
    box = name_box(dashboard, "film2")
    box.value = "my layer"
    kind, text = said(dashboard.model_note)
    assert kind == "error" and "my layer" in text
    assert box.value == "film2"
    assert layer_names(dashboard) == ["film2", "film1"]
    box.value = "film1"  # taken
    assert said(dashboard.model_note)[0] == "error"
    assert box.value == "film2"
    assert layer_names(dashboard) == ["film2", "film1"]


def test_reverse_button(dashboard: ReflectometryDashboard) -> None:
    dashboard.reverse_button.click()
    assert dashboard.problem.describe() == "Si | film1 | film2 | air"
    assert dashboard.problem.front.roughness.value == 0.0
    assert name_box(dashboard, "Si") is not None
    assert dashboard.table.editor("film1.thickness").parameter.value == 560.0
    dashboard.reverse_button.click()
    assert dashboard.problem.describe() == "air | film2 | film1 | Si"


# -- evaluate, view, Q range ------------------------------------------------------------


def test_evaluate_button_shows_chi2(dashboard: ReflectometryDashboard) -> None:
    dashboard.evaluate_button.click()
    kind, text = said(dashboard.model_note)  # beside the button
    assert kind == "info"
    assert text.startswith("χ² = ") and "on 200 points" in text
    shown = float(text.split("=")[1].split()[0])
    assert shown == pytest.approx(dashboard.curve.chi2, rel=1e-3)
    # written as the plot writes it: one number, not two roundings of it
    assert dashboard.plot.chi2.value in text


def test_view_toggle(dashboard: ReflectometryDashboard) -> None:
    plot = dashboard.plot
    assert set(plot.view.options) == set(VIEWS)
    q = np.asarray(plot.model.x)
    r = np.asarray(plot.model.y).copy()
    assert plot.y_axis.scale is plot.y_log
    plot.view.value = "linear R"
    assert plot.y_axis.scale is plot.y_lin
    assert plot.model.scales["y"] is plot.y_lin
    np.testing.assert_allclose(plot.model.y, r)
    plot.view.value = "R·Q⁴"
    assert plot.y_axis.scale is plot.y_log
    np.testing.assert_allclose(plot.model.y, r * q**4)
    np.testing.assert_allclose(
        plot.points.y, dashboard.problem.data.r * dashboard.problem.data.q**4
    )
    plot.view.value = "log R"
    np.testing.assert_allclose(plot.model.y, r)
    # a redraw after an edit keeps the chosen view
    plot.view.value = "R·Q⁴"
    dashboard.table.editor("film1.thickness").value.value = 570.0
    np.testing.assert_allclose(plot.model.y, dashboard.curve.r * q**4)


def test_q_range(dashboard: ReflectometryDashboard) -> None:
    table, problem = dashboard.table, dashboard.problem
    chi2_all = dashboard.curve.chi2
    assert table.q_all.value and table.q_min.disabled
    table.q_all.value = False
    assert not table.q_min.disabled
    table.q_min.value = 0.02
    table.q_max.value = 0.1
    assert (problem.q_min, problem.q_max) == (0.02, 0.1)
    n = int(problem.fit_mask().sum())
    assert 0 < n < 200
    assert dashboard.curve.chi2 != pytest.approx(chi2_all)
    assert len(dashboard.plot.fit_range.x) == 2  # the two range edges are drawn
    dashboard.evaluate_button.click()
    assert f"on {n} points" in said(dashboard.model_note)[1]
    # a refused range (min above max) leaves the range alone
    table.q_min.value = 0.5
    assert said(dashboard.model_note)[0] == "error"
    assert (problem.q_min, problem.q_max) == (0.02, 0.1)
    assert table.q_min.value == 0.02
    table.q_all.value = True
    assert (problem.q_min, problem.q_max) == (None, None)
    assert dashboard.curve.chi2 == pytest.approx(chi2_all)


# -- library ----------------------------------------------------------------------------


def test_save_and_open_models(dashboard: ReflectometryDashboard) -> None:
    dashboard.save_button.click()  # no title
    kind, text = said(dashboard.save_note)  # beside Save, in the page's words
    assert kind == "error" and "title" in text
    assert len(dashboard.saved_models.options) == 1

    dashboard.table.editor("film1.thickness").value.value = 575.0
    dashboard.title.value = "my film"
    dashboard.notes.value = "thicker"
    dashboard.save_button.click()
    assert said(dashboard.save_note) == ("info", "saved as 'my film' in my models")
    assert any(label.startswith("my film #") for label, _ in dashboard.saved_models.options)
    saved_id = dashboard.saved_models.value
    assert saved_id is not None

    # open the demo model: its own data, its own values
    demo_id = next(
        i for label, i in dashboard.saved_models.options if label.startswith("Two-layer")
    )
    dashboard.saved_models.value = demo_id
    dashboard.open_model_button.click()
    assert "opened" in said(dashboard.models_note)[1]
    assert dashboard.problem.parameter("film1.thickness").value == 560.0
    assert dashboard.title.value == "Two-layer film (demo)"
    # the table and plots follow the opened model
    dashboard.table.editor("film1.thickness").value.value = 565.0
    assert dashboard.problem.parameter("film1.thickness").value == 565.0

    dashboard.saved_models.value = saved_id
    dashboard.open_model_button.click()
    assert dashboard.problem.parameter("film1.thickness").value == 575.0
    assert (dashboard.title.value, dashboard.notes.value) == ("my film", "thicker")
    assert dashboard.problem.data is not None and len(dashboard.problem.data) == 200


def test_apply_model_to_current_data(dashboard: ReflectometryDashboard) -> None:
    dashboard.upload_file(GOOD, "other.txt")
    current = dashboard.problem.data
    assert current is not None and current.name == "other"
    dashboard.apply_model_button.click()  # the demo model is selected
    assert "on the current data" in said(dashboard.models_note)[1]
    assert dashboard.problem.data is current
    assert dashboard.problem.describe() == "air | film2 | film1 | Si"
    assert len(dashboard.plot.points.x) == 40
    # "Open" instead brings the model's own data back
    dashboard.open_model_button.click()
    assert dashboard.problem.data.name == "two_layer_film"


def test_two_users_see_only_their_own(dashboard: ReflectometryDashboard) -> None:
    dashboard.upload_file(GOOD, "alice.txt")
    dashboard.title.value = "alice model"
    dashboard.save_button.click()
    alice_data = {i for _label, i in dashboard.my_data.options}
    alice_models = {i for _label, i in dashboard.saved_models.options}

    bob = ReflectometryDashboard(library=Library(identity=Identity("bob")))
    assert "bob" in bob.children[0].value
    # empty lists say so (and choose nothing)
    assert bob.my_data.options == (("no data yet: upload a file", None),)
    assert bob.saved_models.options == (("no saved models yet", None),)
    assert bob.my_fits.options == (("no fits yet: press Fit", None),)
    assert bob.open_fit_button.disabled and bob.open_model_button.disabled
    bob.upload_file(GOOD, "bob.txt")
    assert {i for _label, i in bob.my_data.options}.isdisjoint(alice_data)
    # bob cannot open alice's things, even by id
    bob.saved_models.options = [("alice's", next(iter(alice_models)))]
    bob.saved_models.value = next(iter(alice_models))
    bob.open_model_button.click()
    kind, text = said(bob.models_note)
    assert kind == "error" and "bob" in text
    # and alice does not see bob's file
    dashboard.refresh_lists()
    assert not any("bob.txt" in label for label, _ in dashboard.my_data.options)

    bob_start = ReflectometryDashboard.start(library=Library(identity=Identity("bob")))
    assert {i for _label, i in bob_start.saved_models.options}.isdisjoint(alice_models)


# -- downloads --------------------------------------------------------------------------


def test_downloads(dashboard: ReflectometryDashboard) -> None:
    assert dashboard.downloads.value == ""
    dashboard.prepare_downloads.click()
    files = download_links(dashboard)
    assert len(files) == 4, dashboard.downloads.value
    stem = "Two-layer_film_(demo)"
    assert set(files) == {
        f"{stem}_refl1d.py",
        f"{stem}_model.json",
        f"{stem}_parameters.csv",
        f"{stem}_data_theory.txt",
    }
    model = FitProblem.from_json(files[f"{stem}_model.json"])
    assert model.describe() == "air | film2 | film1 | Si"
    assert "film1.thickness,560.0" in files[f"{stem}_parameters.csv"]
    assert len(files[f"{stem}_data_theory.txt"].strip().splitlines()) >= 200


def test_downloads_without_data_have_no_data_file() -> None:
    dashboard = ReflectometryDashboard()
    dashboard.prepare_downloads.click()
    assert len(download_links(dashboard)) == 3


def _run_script(script: str, tmp_path: Path) -> float:
    path = tmp_path / "model_refl1d.py"
    path.write_text(script + "\nprint('CHISQ', repr(float(problem.chisq())))\n")
    done = subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("CHISQ ")][-1]
    return float(line.split()[1])


def test_refl1d_script_runs_alone_and_matches_chi2(
    dashboard: ReflectometryDashboard, tmp_path: Path
) -> None:
    dashboard.prepare_downloads.click()
    script = download_links(dashboard)["Two-layer_film_(demo)_refl1d.py"]
    chisq = _run_script(script, tmp_path)
    # both are Σ((R - Rₘ)/dR)² / (points - free parameters)
    assert chisq == pytest.approx(dashboard.curve.chi2, rel=1e-6)


def test_refl1d_script_matches_chi2_after_edits(
    dashboard: ReflectometryDashboard, tmp_path: Path
) -> None:
    dashboard.table.editor("film2.sld").free.value = True  # one more free parameter: dof
    dashboard.table.editor("film1.roughness").value.value = 7.0
    dashboard.prepare_downloads.click()
    script = download_links(dashboard)["Two-layer_film_(demo)_refl1d.py"]
    chisq = _run_script(script, tmp_path)
    assert chisq == pytest.approx(dashboard.curve.chi2, rel=1e-6)


def test_refl1d_script_matches_chi2_with_q_range(
    dashboard: ReflectometryDashboard, tmp_path: Path
) -> None:
    dashboard.table.q_all.value = False
    dashboard.table.q_min.value = 0.02
    dashboard.table.q_max.value = 0.15
    dashboard.prepare_downloads.click()
    script = download_links(dashboard)["Two-layer_film_(demo)_refl1d.py"]
    # every point is in the script (smearing sees the whole Q grid), the range only
    # selects the residuals
    assert script.count("= RangeExperiment(in_range") == 1
    chisq = _run_script(script, tmp_path)
    assert chisq == pytest.approx(dashboard.curve.chi2, rel=1e-6)


def test_refl1d_script_with_q_range_and_no_oversampling(
    dashboard: ReflectometryDashboard, tmp_path: Path
) -> None:
    dashboard.problem.oversampling = None
    dashboard.problem.set_q_range(0.03, 0.12)
    dashboard.prepare_downloads.click()
    script = download_links(dashboard)["Two-layer_film_(demo)_refl1d.py"]
    assert "oversample" not in script
    chisq = _run_script(script, tmp_path)
    assert chisq == pytest.approx(dashboard.curve.chi2, rel=1e-6)


# -- widget() entry points --------------------------------------------------------------


def test_fit_problem_widget_is_a_dashboard() -> None:
    problem = starting_problem()
    view = problem.widget()
    assert isinstance(view, ReflectometryDashboard)
    assert view.problem is problem
    assert len(view.plot.points.x) == 200
    problem.parameter("film1.thickness").value = 577.6  # edits in code redraw the view
    assert view.table.editor("film1.thickness").value.value == 577.6
    assert view.curve.chi2 == pytest.approx(problem.evaluate().chi2)


def test_demo_bytes_upload_round_trip(dashboard: ReflectometryDashboard) -> None:
    dashboard.upload.value = file_upload_value(demo_bytes(), "uploaded_film.txt")
    assert "loaded uploaded_film.txt: 200 points" in message(dashboard)


# -- panels: tools, data server, jobs, DREAM posterior ---------------------------------


def test_sld_calculator_result_goes_into_the_picked_layer(
    dashboard: ReflectometryDashboard,
) -> None:
    from shiftdesk_widgets.reflectometry.dashboard import TOOLS_TAB

    assert TOOLS_TAB in dashboard.panels
    calc = dashboard.tools.sld
    assert list(dashboard.sld_target.options) == ["air", "film2", "film1", "Si"]
    calc.formula.value = "D2O"
    calc.density.value = "1.107"
    assert dashboard.last_sld is not None and dashboard.last_sld.sld == pytest.approx(
        6.371, abs=1e-3
    )
    dashboard.sld_target.value = "film2"
    before = dashboard.curve.r.copy()
    dashboard.use_sld_button.click()
    film2 = dashboard.problem.layers["film2"]
    assert film2.sld.value == pytest.approx(6.371, abs=1e-3)
    assert film2.isld.value == pytest.approx(dashboard.last_sld.isld, abs=1e-6)
    assert said(dashboard.sld_note)[1].startswith("film2: SLD 6.37")
    assert not np.allclose(dashboard.curve.r, before)  # the curve follows
    # a layer added later can be picked too
    dashboard.problem.layers.add(name="cap", thickness=10.0, sld=1.0, roughness=2.0)
    assert "cap" in dashboard.sld_target.options


def test_sld_into_a_derived_parameter_is_refused(dashboard: ReflectometryDashboard) -> None:
    dashboard.problem.constrain("film2.sld = film1.sld")
    dashboard.tools.sld.formula.value = "Si"
    dashboard.sld_target.value = "film2"
    dashboard.use_sld_button.click()
    kind, text = said(dashboard.sld_note)
    assert kind == "error" and "follows a constraint" in text
    assert (
        dashboard.problem.layers["film2"].sld.value == dashboard.problem.layers["film1"].sld.value
    )


def _serve_demo() -> Any:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from shiftdesk.reflectometry.demo import demo_d2o_bytes

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/REF_L/1234.txt"
            body = demo_d2o_bytes() if ok else b"not found"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def _load_run(dashboard: ReflectometryDashboard) -> None:
    import time

    panel = dashboard.dataserver
    panel.instrument.value, panel.run.value = "REF_L", "1234"
    assert panel.load()
    deadline = time.monotonic() + 20
    while panel.poll():
        assert time.monotonic() < deadline, "the download did not finish"
        time.sleep(0.02)


@pytest.mark.parametrize("as_dataset", [False, True])
def test_data_server_run_becomes_data_or_a_data_set(
    dashboard: ReflectometryDashboard, monkeypatch: pytest.MonkeyPatch, as_dataset: bool
) -> None:
    from shiftdesk.reflectometry.dataserver import DataServer, Experiment, ExperimentMembership
    from shiftdesk_widgets.reflectometry.dashboard import USE_AS_DATA, USE_AS_DATASET

    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    httpd = _serve_demo()
    try:
        port = httpd.server_address[1]
        # this user is a member (the panel's own tests cover refusals)
        members = ExperimentMembership(
            [
                Experiment(
                    "IPTS-1", "REF_L", 1000, 1999, frozenset({dashboard.library.identity.name})
                )
            ]
        )
        dashboard.dataserver.server = DataServer(
            f"http://127.0.0.1:{port}/{{instrument}}/{{run}}.txt", permission=members
        )
        dashboard.dataserver.load_button.disabled = False
        dashboard.dataserver_use.value = USE_AS_DATASET if as_dataset else USE_AS_DATA
        _load_run(dashboard)
    finally:
        httpd.shutdown()
        httpd.server_close()
    problem = dashboard.problem
    assert "loaded REF_L run 1234" in dashboard.dataserver.status.value, message(dashboard)
    if as_dataset:
        assert list(problem.datasets) == ["d1", "d2"]
        assert problem.data.name == "two_layer_film"
        assert dashboard.edited is problem.dataset("d2")
        assert dashboard.edited.data.r[0] == pytest.approx(0.06387335)
        assert len(dashboard.curves) == 2
    else:
        assert not problem.is_simultaneous, dashboard.dataserver.status.value
        assert problem.data.r[0] == pytest.approx(0.06387335)
        assert dashboard.data_file_id == dashboard.dataserver.data_id is not None
    assert "1234" in message(dashboard) or "REF_L" in message(dashboard)
    assert any(d.id == dashboard.dataserver.data_id for d in dashboard.library.list_data())


def test_jobs_panel_lists_my_fit_and_opens_its_result(
    dashboard: ReflectometryDashboard,
) -> None:
    from shiftdesk_widgets.reflectometry.dashboard import JOBS_TAB

    assert dashboard.panels[JOBS_TAB] is dashboard.jobs
    job = dashboard.problem.fit("lm", title="from code")
    job.result(timeout=120)
    dashboard.jobs.refresh()
    dashboard.jobs.select.value = job.id
    # a different model is open meanwhile; Open result brings the fit back
    dashboard.problem.parameter("film1.thickness").value = 520.0
    dashboard.jobs.open_button.click()
    assert dashboard.last_result is not None
    assert dashboard.problem.parameter("film1.thickness").value == pytest.approx(577.6, abs=3)
    assert "film1.thickness" in dashboard.result_box.value
    assert "reopened the fit: χ² = " in message(dashboard)


def test_dream_result_opens_the_uncertainty_panel(dashboard: ReflectometryDashboard) -> None:
    import dataclasses

    from tests.widgets.test_uncertainty_view import make

    from shiftdesk_widgets.reflectometry.dashboard import UNCERTAINTY_TAB

    assert UNCERTAINTY_TAB not in dashboard.panels  # only once there is a posterior
    lm = starting_problem().fit_now("lm")
    dashboard.show_result(lm)
    assert UNCERTAINTY_TAB not in dashboard.panels
    dream = dataclasses.replace(lm, method="dream", uncertainty=make(1.01, 40))
    dashboard.show_result(dream)
    view = dashboard.panels[UNCERTAINTY_TAB]
    assert view is dashboard.uncertainty
    assert dashboard.tabs.selected_index == list(dashboard.panels).index(UNCERTAINTY_TAB)
    assert "A.thickness" in view.stats.value and "converged" in view.status.value
    # a later fit without a posterior says so instead of showing the old one
    dashboard.show_result(lm)
    assert "no posterior" in view.status.value


def test_close_closes_the_panels(dashboard: ReflectometryDashboard) -> None:
    jobs, server = dashboard.jobs, dashboard.dataserver
    assert jobs.comm is not None and server.comm is not None
    dashboard.close()
    assert jobs.comm is None and server.comm is None
