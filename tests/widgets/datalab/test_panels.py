"""The data-session panels over plain data and callbacks (no session, no database)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from shiftdesk.datalab import OperationInputError, operations
from shiftdesk_widgets.datalab import _images
from shiftdesk_widgets.datalab.chain import layout, svg
from shiftdesk_widgets.datalab.gallery import ALL, Gallery, GalleryItem, InputsPanel
from shiftdesk_widgets.datalab.lightcurve import CurveResult, LightCurvePanel
from shiftdesk_widgets.datalab.running import OpRow, RunningPanel
from shiftdesk_widgets.datalab.sessions import SessionsPanel
from shiftdesk_widgets.datalab.viewer import INSPECT, PROFILE, ImageViewer, pointer_pixel
from shiftdesk_widgets.datalab.wizard import ChannelsField, FileChoice, OperationWizard


def text(value: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", value))).strip()


def frame(path: Path, value: float = 10.0, filt: str = "rp", wcs: bool = True) -> Path:
    data = np.full((40, 50), value, dtype="f4")
    data[20, 30] = 500.0
    header = fits.Header()
    if wcs:
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [150.0, 2.0]
        w.wcs.crpix = [25.5, 20.5]
        w.wcs.cdelt = [-1 / 3600, 1 / 3600]
        header.update(w.to_header())
    header["FILTER"] = filt
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, header, name="SCI")]).writeto(path)
    return path


# -- sessions ---------------------------------------------------------------------------------


class FakeSessions:
    def __init__(self) -> None:
        self.rows = [
            {"id": 1, "name": "M51 night 1", "owner": "alice", "n_inputs": 3,
             "created": "2026-03-01T02:00:00", "modified": "2026-03-01T04:00:00"}
        ]  # fmt: skip
        self.opened: list[Any] = []

    def create(self, name: str) -> int:
        self.rows.insert(0, {"id": len(self.rows) + 1, "name": name, "owner": "alice"})
        return len(self.rows)


def test_sessions_are_listed_made_and_opened() -> None:
    fake = FakeSessions()
    panel = SessionsPanel(lambda: fake.rows, fake.create, fake.opened.append)
    assert panel.picker.options[0][0] == "M51 night 1 · 3 frames · 2026-03-01"
    panel.picker.value = 1
    assert fake.opened == [1]
    panel.create_button.click()
    assert panel.feedback.kind == "warning" and "type a name" in panel.feedback.text
    panel.name.value = "M51 night 2"
    panel.create_button.click()
    assert fake.opened == [1, 2] and panel.picker.value == 2
    assert "session 'M51 night 2' made" in panel.feedback.text and panel.name.value == ""
    panel.list_button.value = True
    assert "M51 night 2" in text(panel.table.value) and panel.table.layout.display is None


def test_a_refused_session_is_said_beside_the_picker() -> None:
    def refuse(_id: Any) -> None:
        raise PermissionError("data session 1 belongs to 'bob' and is not shared with 'alice'")

    panel = SessionsPanel(lambda: FakeSessions().rows, lambda n: 1, refuse)
    panel.picker.value = 1
    assert panel.feedback.kind == "error"
    assert panel.feedback.text.startswith("not opened: data session 1 belongs to 'bob'")


# -- galleries --------------------------------------------------------------------------------


def items() -> list[GalleryItem]:
    return [
        GalleryItem("a.fits", "a.fits", "rp", "2026-03-01T03:00:00", "M51",
                    thumbnail=lambda: _images.png_bytes(np.zeros((4, 4), "f4"))),
        GalleryItem("b.fits", "b.fits", "gp", "2026-03-01T03:20:00", "M51"),
        GalleryItem("c.fits", "c.fits", "rp", "2026-03-01T03:40:00", "NGC 1"),
    ]  # fmt: skip


def test_gallery_filters_searches_picks_and_makes_thumbnails() -> None:
    viewed: list[str] = []
    picked: list[list[str]] = []
    gallery = Gallery(on_view=viewed.append)
    gallery.on_select = picked.append
    gallery.set_items(items())
    assert list(gallery.filter.options) == [ALL, "gp", "rp"]
    card = gallery.cards["a.fits"]
    assert card.has_thumb and bytes(card.image.value).startswith(b"\x89PNG")
    assert "rp · 2026-03-01 03:00" in text(card.caption.value)
    gallery.filter.value = "rp"
    assert [i.key for i in gallery.shown] == ["a.fits", "c.fits"]
    gallery.search.value = "ngc"
    assert [i.key for i in gallery.shown] == ["c.fits"]
    gallery.search.value = ""
    gallery.pick_all.click()
    assert gallery.selected == ["a.fits", "c.fits"] and picked[-1] == ["a.fits", "c.fits"]
    assert "2 picked" in gallery.summary.value
    gallery.cards["a.fits"].pick.value = False
    assert gallery.selected == ["c.fits"]
    gallery.cards["c.fits"].view_button.click()
    assert viewed == ["c.fits"]


def test_gallery_shows_a_page_then_more() -> None:
    gallery = Gallery(page_size=2)
    gallery.set_items(items())
    assert len(gallery.box.children) == 2 and gallery.more.layout.display is None
    gallery.more.click()
    assert len(gallery.box.children) == 3 and gallery.more.layout.display == "none"


def test_an_upload_goes_to_the_session_as_files() -> None:
    seen: list[list[str]] = []

    def add(paths: list[Path]) -> None:
        seen.append([p.read_bytes().decode() for p in paths])

    panel = InputsPanel(add, Gallery())
    panel.add([("m51_r_001.fits", b"one"), ("m51_r_002.fits.fz", b"two")])
    assert seen == [["one", "two"]]
    assert panel.feedback.text == "2 frames added: m51_r_001.fits, m51_r_002.fits.fz"

    def refuse(paths: list[Path]) -> None:
        raise OperationInputError("inputs", f"{paths[0].name}: not a readable FITS file")

    panel.set_add(refuse)
    panel.add([("notes.txt", b"hello")])
    assert panel.feedback.kind == "error"
    assert panel.feedback.text == "not added: inputs: notes.txt: not a readable FITS file"
    panel.set_add(None, "you read alice's session")
    assert panel.upload.disabled and panel.feedback.text == "you read alice's session"


# -- the wizard -------------------------------------------------------------------------------


FILES = [
    FileChoice("r1 · rp", "/d/r1.fits", "rp"),
    FileChoice("r2 · rp", "/d/r2.fits", "rp"),
    FileChoice("r3 · rp", "/d/r3.fits", "rp"),
    FileChoice("g1 · gp", "/d/g1.fits", "gp"),
    FileChoice("median.fits · #1 Median", "/out/median.fits", kind="output"),
]


def wizard(validate: Any = None, run: Any = None, **kwargs: Any) -> OperationWizard:
    described = {n: op.describe() for n, op in operations.available().items()}
    return OperationWizard(described, lambda: FILES, validate or (lambda n, v: v),
                           run, **kwargs)  # fmt: skip


def test_the_form_is_built_from_the_schema_with_defaults() -> None:
    wz = wizard()
    assert wz.name == "median" and wz.run_button.description == "Run median"
    form = wz.form
    assert form is not None
    # the session's own frames, not the outputs, until frames are picked
    assert form.values() == {"input_files": ["/d/r1.fits", "/d/r2.fits", "/d/r3.fits",
                                             "/d/g1.fits"]}  # fmt: skip
    assert "2 or more frames" in form.fields["input_files"].hint.value
    phot = wz.choose("aperture_photometry")
    assert phot is not None
    values = phot.values()
    # one filter wanted: the commonest filter's frames
    assert values["input_files"] == ["/d/r1.fits", "/d/r2.fits", "/d/r3.fits"]
    assert values["aperture_radius"] == 5.0 and values["max_comparison_stars"] == 10
    assert isinstance(values["max_comparison_stars"], int)
    assert "target" not in values  # left empty: the operation says it is needed
    assert "above 0, at most 100 pixel" in text(phot.fields["aperture_radius"].hint.value)
    sub = wz.choose("subtraction")
    assert sub is not None and sub.values()["subtraction_file"] == "/out/median.fits"
    period = wz.choose("period_search")
    assert period is not None
    assert period.values()["fap_method"] == "baluev" and period.values()["minimum_period"] is None


def test_frames_picked_in_a_gallery_fill_the_form() -> None:
    wz = wizard()
    wz.pick(["/d/r2.fits", "/d/g1.fits"])
    assert wz.form is not None and wz.form.values()["input_files"] == ["/d/r2.fits", "/d/g1.fits"]
    colour = wz.choose("color_image")
    assert colour is not None
    channels = colour.values()["channels"]
    # blue to red by filter: gp blue, rp red
    assert [c["file"] for c in channels] == ["/d/g1.fits", "/d/r2.fits"]
    assert [c["color"] for c in channels] == ["#2962ff", "#ff1744"]


def test_a_refusal_is_shown_under_the_field_it_names() -> None:
    def validate(name: str, values: dict[str, Any]) -> Any:
        return operations.validate(name, values)

    wz = wizard(validate)
    form = wz.choose("aperture_photometry")
    assert form is not None
    form.fields["target"].set(150.0, 2.0)  # type: ignore[attr-defined]
    form.fields["aperture_radius"].text.value = "-3"
    wz.check_button.click()
    assert form.errors == {"aperture_radius": "-3.0 must be greater than 0"}
    assert "sd-dl-invalid" in form.fields["aperture_radius"]._dom_classes
    assert wz.feedback.text == "not ready: see Aperture radius above"
    form.fields["aperture_radius"].text.value = "5"
    form.clear_errors()
    assert form.errors == {}


def test_a_refused_channel_is_named_in_words() -> None:
    def validate(name: str, values: dict[str, Any]) -> Any:
        raise OperationInputError("channels[1].zmax", "must be above the black level")

    wz = wizard(validate)
    form = wz.choose("color_image")
    assert form is not None and isinstance(form.fields["channels"], ChannelsField)
    wz.check()
    assert form.errors == {"channels": "channel 2, White level: must be above the black level"}


def test_run_checks_then_starts_and_says_so() -> None:
    started: list[Any] = []
    runs: list[tuple[str, dict[str, Any]]] = []

    class Handle:
        cached = True

    def run(name: str, values: dict[str, Any]) -> Handle:
        runs.append((name, values))
        return Handle()

    wz = wizard(lambda n, v: {**v, "checked": True}, None, on_started=started.append)
    assert wz.run_button.disabled
    wz.set_run(run)
    assert not wz.run_button.disabled
    wz.run_button.click()
    assert runs[0][0] == "median" and runs[0][1]["checked"] is True
    assert len(started) == 1
    assert wz.feedback.text == "Median started (an identical earlier result is reused)"


# -- running, chain ---------------------------------------------------------------------------


def test_running_rows_follow_progress_and_cancel() -> None:
    cancelled: list[Any] = []
    panel = RunningPanel(cancelled.append)
    panel.update(OpRow(7, "#7 Median of 3 frames", "running", 0.4, "median: rows 1-512"))
    row = panel.rows[7]
    assert row.bar.value == pytest.approx(0.4) and "median: rows 1-512" in text(row.state.value)
    assert panel.active == [7] and row.dismiss.layout.display == "none"
    row.cancel.click()
    assert cancelled == [7] and row.feedback.text == "cancelling …"
    panel.update(OpRow(7, "#7 Median of 3 frames", "cancelled", 0.4, "cancelled"))
    assert panel.active == [] and row.cancel.layout.display == "none"
    assert row.bar.bar_style == "warning" and row.feedback.text == ""
    why = "JobError: m51_3.fits: has no celestial WCS"
    panel.update(OpRow(8, "#8 Stack", "failed", 0.1, "failed", error=why,
                       error_field="input_files"))  # fmt: skip
    assert text(panel.rows[8].state.value) == "failed input_files: m51_3.fits: has no celestial WCS"
    panel.dismiss(7)
    assert 7 not in panel.rows and panel.children == (panel.rows[8],)
    panel.update(OpRow(9, "#9 Median", "done", 1.0, "done", cached=True, outputs=["median.fits"]))
    assert text(panel.rows[9].state.value) == "done cached 1 output"


def test_the_chain_puts_each_operation_right_of_what_it_used() -> None:
    graph = {
        "nodes": [
            *({"id": f"input:{i}", "kind": "input", "label": f"r{i}.fits"} for i in range(3)),
            {"id": "input:x", "kind": "input", "label": "unused.fits"},
            {"id": "op:1", "kind": "operation", "label": "median", "status": "done"},
            {"id": "op:2", "kind": "operation", "label": "subtraction", "status": "running"},
        ],
        "edges": [
            *({"from": f"input:{i}", "to": "op:1"} for i in range(3)),
            {"from": "input:0", "to": "op:2"},
            {"from": "op:1", "to": "op:2"},
        ],
    }
    laid = layout(graph)
    boxes = laid["boxes"]
    frames = [b for b in boxes.values() if b["kind"] == "input"]
    assert sorted(b["label"] for b in frames) == ["2 frames", "r0.fits", "unused.fits"]
    assert boxes["op:2"]["x"] > boxes["op:1"]["x"] > frames[0]["x"]
    assert ("op:1", "op:2") in laid["links"]
    drawing = svg(graph)
    assert drawing.startswith("<svg") and "#2 · running" in drawing and "http" not in \
        drawing.replace("http://www.w3.org/2000/svg", "")  # fmt: skip


# -- viewer and plots -------------------------------------------------------------------------


def test_viewer_reads_values_sky_positions_and_a_profile(tmp_path: Path) -> None:
    viewer = ImageViewer(lambda: [("a.fits", str(tmp_path / "a.fits"))])
    frame(tmp_path / "a.fits")
    viewer.picker.value = str(tmp_path / "a.fits")
    assert viewer.feedback.text == "a.fits · 50 × 40 px · WCS"
    assert bytes(viewer.png.value).startswith(b"\x89PNG") and list(viewer.mark.x) == [-0.5, 49.5]
    viewer.click(30, 20)
    readout = text(viewer.readout.value)
    # 5.5 pixels (arcsec) east and 0.5 north of the reference pixel (150, +2)
    assert "value 500" in readout and "RA, Dec 09:59:59.63 +02:00:00.5" in readout
    assert viewer.position is not None and viewer.position[1] == pytest.approx(2.0, abs=1e-3)
    first = viewer.png.value
    viewer.stretch.value = "log"
    viewer.colormap.value = "viridis"
    assert viewer.png.value != first
    viewer.mode.value = PROFILE
    viewer.click(20, 20)
    assert "now click the line's end" in viewer.profile_note.value
    viewer.click(40, 20)
    distance, values = viewer.profile_values
    assert distance[-1] == pytest.approx(20.0) and values.max() == 500.0
    assert "NAXIS1" in viewer.header.value
    viewer.zoom_in.click()
    assert viewer.xs.max - viewer.xs.min == pytest.approx(25.0)
    viewer.zoom_fit.click()
    assert viewer.xs.max - viewer.xs.min == pytest.approx(50.0)
    viewer.mode.value = INSPECT
    assert viewer.figure.interaction is None


def test_viewer_says_a_frame_without_wcs_and_a_bad_file(tmp_path: Path) -> None:
    viewer = ImageViewer()
    viewer.show(frame(tmp_path / "b.fits", wcs=False))
    viewer.click(1, 1)
    assert "no WCS in the header" in text(viewer.readout.value)
    (tmp_path / "c.fits").write_text("not fits")
    viewer.show(tmp_path / "c.fits")
    assert viewer.feedback.kind == "error" and viewer.feedback.text.startswith("not shown: c.fits")


def lines(viewer: ImageViewer) -> list[str]:
    """The readout's lines, as the page shows them."""
    return [text(part) for part in viewer.readout.value.split("</div>") if part.strip()]


def test_the_readout_follows_the_pointer_and_keeps_the_marked_point(tmp_path: Path) -> None:
    viewer = ImageViewer()
    viewer.show(frame(tmp_path / "a.fits"))
    assert lines(viewer)[0] == "point at the image: pixel value and sky position"
    viewer.hover(30, 20)  # the bright pixel's centre
    assert lines(viewer) == ["x 30.0 y 20.0 · value 500",
                             "RA, Dec 09:59:59.63 +02:00:00.5 (149.99847°, +2.00014°)"]  # fmt: skip
    viewer.hover(30.4, 19.6)  # still in that pixel; the sky position is the pointer's own
    assert lines(viewer)[0] == "x 30.4 y 19.6 · value 500"
    # 0.4 px (0.4" / cos 2°) east and 0.4 px south of the pixel's centre
    assert lines(viewer)[1] == "RA, Dec 09:59:59.61 +02:00:00.1 (149.99836°, +2.00003°)"
    assert viewer.pointed == (30.4, 19.6)
    assert viewer.position is None and viewer.points.x.size == 0  # moving marks nothing
    viewer.hover(52.0, 10.0)  # right of the frame (zoomed out, or panned)
    assert lines(viewer) == ["x 52.0 y 10.0 · outside the image", ""]
    viewer.leave()  # nothing marked: the hint again, not a stale value
    assert lines(viewer)[0] == "point at the image: pixel value and sky position"
    assert viewer.pointed is None

    viewer.click(10, 10)
    assert lines(viewer)[0] == "marked x 10.0 y 10.0 · value 10"
    assert viewer.position is not None and list(viewer.points.x) == [10]
    viewer.hover(30, 20)
    assert lines(viewer)[0] == "x 30.0 y 20.0 · value 500"
    viewer.leave()  # the marked point (its red cross is on the image) is read again
    assert lines(viewer)[0] == "marked x 10.0 y 10.0 · value 10"
    assert "RA, Dec 10:00:00.97 +01:59:50.5" in lines(viewer)[1]  # 9.5" south of row 19.5

    viewer.show(frame(tmp_path / "b.fits", wcs=False))  # another frame: nothing marked
    viewer.hover(1, 1)
    assert lines(viewer) == ["x 1.0 y 1.0 · value 10", "no WCS in the header"]
    viewer.leave()
    assert lines(viewer)[0] == "point at the image: pixel value and sky position"


# The viewer's figure as Chromium lays it out: its element is 636 × 560 px; the frame is
# 50 × 40, so the figure keeps the ratio 1.25 and draws 636 × 508.8 px from the top left;
# less the margins (left 56, right 10, top 10, bottom 40) the plot area is at (56, 10) and
# 570 × 458.8 px. Pixel (30, 20)'s centre is 30.5/50 of the way across, 20.5/40 up.
BOX = {"boundingRectWidth": 636, "boundingRectHeight": 560}
BRIGHT = (56 + 570 * 30.5 / 50, 10 + 458.8 * (1 - 20.5 / 40))


def move(x: float, y: float, stamp: float, kind: str = "mousemove") -> dict[str, Any]:
    """An ipyevents message of the pointer at (x, y) px in the figure's element."""
    return {"event": kind, "relativeX": round(x), "relativeY": round(y), "timeStamp": stamp,
            **BOX}  # fmt: skip


def test_pointer_events_from_the_browser_are_read_as_pixels(tmp_path: Path) -> None:
    viewer = ImageViewer()
    viewer.show(frame(tmp_path / "a.fits"))
    pointer = viewer.pointer
    assert pointer.source is viewer.figure
    assert set(pointer.watched_events) == {"mousemove", "mouseleave"}
    assert (pointer.throttle_or_debounce, pointer.wait) == ("throttle", 50)  # ≤ 20 a second
    assert not viewer.xs.allow_padding and not viewer.ys.allow_padding

    x, y = pointer_pixel(move(*BRIGHT, 1.0), viewer.figure, viewer.xs, viewer.ys) or (0, 0)
    assert x == pytest.approx(30.0, abs=0.1) and y == pytest.approx(20.0, abs=0.1)
    pointer._handle_mouse_msg(None, move(*BRIGHT, 10.0), [])  # as the comm delivers it
    assert "value 500" in lines(viewer)[0]
    # the plot area's corners are the scales' ends: the frame's outer pixel edges
    corner = pointer_pixel(move(56, 468, 2.0), viewer.figure, viewer.xs, viewer.ys)
    assert corner == pytest.approx((-0.5, -0.5), abs=0.1)
    assert pointer_pixel(move(56, 470, 2.0), viewer.figure, viewer.xs, viewer.ys) is None
    # the axes' margin is not the image: the readout goes back as when the pointer leaves
    viewer.pointer_event(move(20, 200, 20.0))
    assert viewer.pointed is None and lines(viewer)[0].startswith("point at the image")

    # zoomed in about the centre (x 12 to 37, y 9.5 to 29.5), the same place in the page
    # is 0.61 of the way across and 0.4875 of the way down those
    viewer.zoom(0.5)
    viewer.pointer_event(move(*BRIGHT, 30.0))
    assert viewer.pointed == pytest.approx((27.25, 19.75), abs=0.05)

    # the throttled last move can arrive after the leave it preceded: it is dropped
    viewer.fit()
    viewer.pointer_event(move(*BRIGHT, 40.0))
    viewer.pointer_event(move(0, 0, 50.0, "mouseleave"))
    viewer.pointer_event(move(*BRIGHT, 45.0))
    assert viewer.pointed is None and lines(viewer)[0].startswith("point at the image")
    viewer.pointer_event(move(*BRIGHT, 60.0))  # back over the image
    assert "value 500" in lines(viewer)[0]


def test_light_curves_and_periodograms_are_drawn() -> None:
    t = np.linspace(60000, 60002, 40)
    y = 1 + 0.1 * np.sin(2 * np.pi * t / 0.5)
    phot = {"filter": "rp", "comparison_stars": [{}, {}],
            "light_curve": [{"time": a, "relative_flux": b, "relative_flux_error": 0.01}
                            for a, b in zip(t, y, strict=True)]}  # fmt: skip
    period = {"frequency": [1.0, 2.0, 3.0], "power": [0.1, 0.9, 0.2], "best_period": 0.5,
              "false_alarm_probability": 1e-5, "fap_method": "baluev", "n_points": 40,
              "time_span": 2.0}  # fmt: skip
    results = [CurveResult(1, "#1 photometry", phot),
               CurveResult(2, "#2 period search", period, (t, y, None)),
               CurveResult(3, "#3 median", {"crop": None})]  # fmt: skip
    panel = LightCurvePanel(lambda: results)
    assert [r.key for r in panel.results] == [1, 2] and panel.picker.value == 2
    assert panel.drawn == {"periodogram", "phased"}
    assert "best period 0.5 d" in panel.summary.value
    assert list(panel.periodogram.marker.x) == [2.0, 2.0]
    assert not panel.periodogram.slot.shown  # figures join the page when the tab shows
    panel.shown = True
    assert panel.periodogram.slot.shown and panel.phased.slot.shown
    panel.picker.value = 1
    assert panel.drawn == {"curve"} and len(panel.curve.points.x) == 40
    assert "40 points · filter rp · 2 comparison star(s)" in panel.summary.value
