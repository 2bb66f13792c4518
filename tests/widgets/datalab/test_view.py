"""DatalabView over real data sessions (SQLite in the test's data folder, local jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shiftdesk.datalab import DataSession
from shiftdesk_widgets.datalab.dashboard import (
    CURVES,
    NEW,
    OPERATIONS,
    OUTPUTS,
    VIEWER,
    DatalabView,
    OperationView,
)
from shiftdesk_widgets.registry import view


@pytest.fixture
def dashboard() -> DatalabView:
    v = DatalabView.start()
    yield v
    v.close()


def test_start_opens_the_demo_session_with_its_frames(dashboard: DatalabView) -> None:
    assert dashboard.session.name == "M51 demo"
    assert "Data sessions · M51 demo" in dashboard.title.value
    gallery = dashboard.inputs_gallery
    assert len(gallery.items) == 7 and set(gallery.filter.options) == {"all filters", "gp", "rp"}
    assert all(c.has_thumb for c in gallery.cards.values())
    # only the first tab is built before the page shows, without the operations'
    # registry (importing every operation is the wizard's cost, not the first screen's)
    assert set(dashboard.panels) == {"Frames"}
    assert dashboard._described is None
    assert "median" in dashboard.described and dashboard.titles["median"] == "Median"


def test_frame_thumbnails_are_kept_by_content(tmp_path: Path) -> None:
    from shiftdesk.storage import data_dir
    from shiftdesk_widgets.datalab import _images

    view = DatalabView.start()
    try:
        first = view.session.inputs[0]
    finally:
        view.close()
    stored = data_dir() / "datalab" / "thumbnails" / f"{first.sha256}-{_images.THUMB_SIZE}.png"
    assert stored.read_bytes() == _images.thumbnail(first.path)  # made at the first opening
    copy = tmp_path / "frame.fits"
    copy.write_bytes(Path(first.path).read_bytes())
    stored.write_bytes(b"kept")  # served from the store from now on, the file not read
    assert _images.cached_thumbnail(copy, first.sha256) == b"kept"
    # another content is another thumbnail; a key that is not a hash is never a path
    other = _images.cached_thumbnail(copy, "0" * 64)
    assert other.startswith(b"\x89PNG") and other != b"kept"
    assert _images.cached_thumbnail(copy, "../x").startswith(b"\x89PNG")
    assert not (data_dir() / "datalab" / "x-128.png").exists()


def test_a_median_runs_from_the_wizard_and_its_output_is_viewed(dashboard: DatalabView) -> None:
    gallery = dashboard.inputs_gallery
    gallery.filter.value = "rp"
    gallery.pick_all.click()
    wizard = dashboard.show_tab(NEW)
    assert wizard.form.values()["input_files"] == gallery.selected
    wizard.run_button.click()
    assert wizard.feedback.text == "Median started; its progress shows under Running"
    dashboard.wait_for(lambda v: not v.running.active, timeout=120)
    (row,) = dashboard.running.rows.values()
    assert row.row.title == "#1 Median of 5 frames" and row.row.status == "done"
    assert row.row.outputs == ["median.fits"] and row.bar.value == 1.0

    outputs = dashboard.show_tab(OUTPUTS)
    assert [i.name for i in outputs.items] == ["median.fits"]
    outputs.cards[outputs.items[0].key].view_button.click()
    viewer = dashboard.panels[VIEWER]
    assert dashboard.tabs.selected_index == 4 and viewer.shown
    assert viewer.feedback.text == "median.fits · 128 × 128 px · WCS"
    viewer.click(45, 70)
    assert "RA, Dec 13:29:" in viewer.readout.value

    # the output chains into the next operation: the frame to subtract is the median
    dashboard.show_tab(NEW)
    form = wizard.choose("subtraction")
    assert form.values()["subtraction_file"].endswith("median.fits")
    wizard.run()
    dashboard.wait_for(lambda v: not v.running.active, timeout=120)
    dashboard.show_tab(OPERATIONS)
    chain = dashboard.chain.drawing.value
    assert "#1 · done" in chain and "#2 · done" in chain and "Subtraction" in chain
    assert "Median" in dashboard.history.value


def test_an_identical_request_is_served_from_the_store(dashboard: DatalabView) -> None:
    wizard = dashboard.show_tab(NEW)
    wizard.run()
    dashboard.wait_for(lambda v: not v.running.active, timeout=120)
    wizard.run()
    assert wizard.feedback.text == "Median started (an identical earlier result is reused)"
    second = dashboard.running.rows[2].row
    assert second.cached and second.status == "done"
    assert "cached" in dashboard.running.rows[2].state.value


def test_a_refused_request_is_shown_on_the_field(dashboard: DatalabView) -> None:
    wizard = dashboard.show_tab(NEW)
    form = wizard.choose("median")
    form.fields["input_files"].pick(form.fields["input_files"].value()[:1])
    wizard.run()
    assert form.errors == {"input_files": "1 file(s) given; at least 2 are needed"}
    assert wizard.feedback.text == "not started: see Input frames above"
    assert not dashboard.running.rows


def test_a_new_session_gets_uploaded_frames(dashboard: DatalabView, tmp_path: Path) -> None:
    demo = dashboard.session.inputs[0].path
    panel = dashboard.sessions
    panel.name.value = "M51 night 2"
    panel.create_button.click()
    assert dashboard.session.name == "M51 night 2" and not dashboard.inputs_gallery.items
    dashboard.inputs.add([("m51_extra.fits", Path(demo).read_bytes())])
    assert dashboard.inputs.feedback.text == "1 frame added: m51_extra.fits"
    assert [i.name for i in dashboard.inputs_gallery.items] == ["m51_extra.fits"]
    dashboard.inputs.add([("notes.fits", b"not a FITS file")])
    assert dashboard.inputs.feedback.kind == "error"
    assert "notes.fits" in dashboard.inputs.feedback.text
    assert "Error:" not in dashboard.inputs.feedback.text
    panel.picker.value = next(v for label, v in panel.picker.options if "M51 demo" in label)
    assert dashboard.session.name == "M51 demo"


def test_light_curves_tab_waits_for_photometry(dashboard: DatalabView) -> None:
    curves = dashboard.show_tab(CURVES)
    assert curves.shown and curves.empty.layout.display is None and not curves.results


def test_a_session_and_an_operation_have_views() -> None:
    # registered by the views module (the domain names it once it declares its views)
    import shiftdesk_widgets.datalab.views  # noqa: F401

    DatalabView.start().close()
    session = DataSession.list()[0]
    page = view(session)
    assert isinstance(page, DatalabView) and page.session.id == session.id
    page.close()
    handle = session.run("median", input_files=session.inputs[:2])
    op_view = view(handle)
    assert isinstance(op_view, OperationView)
    handle.wait(120)
    while op_view.tick():
        pass
    assert op_view.running.rows[handle.id].row.status == "done"
    assert [i.name for i in op_view.outputs.items] == ["median.fits"]
    op_view.close()
