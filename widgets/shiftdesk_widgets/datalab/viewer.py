"""The image viewer: a FITS frame with zoom, pan, stretch and colour map; the pixel value
and sky position under the pointer; a line profile between two clicks; the header.

The frame is drawn as a PNG (stretched and coloured here, reduced to at most
:data:`~shiftdesk_widgets.datalab._images.DISPLAY_SIZE` pixels a side) in a bqplot
``Image`` mark on pixel-coordinate scales, so zooming and panning happen in the browser
and values are read from the full-resolution array in the kernel.

bqplot's image mark reports clicks only, so the pointer's moves come from an ipyevents
``Event`` on the figure: ``mousemove`` (throttled in the browser to one message per
:data:`POINTER_WAIT_MS`, the last position always sent) and ``mouseleave``. A move gives
the pointer's place in the figure's element (``relativeX``, ``relativeY`` and the element's
size); :func:`pointer_pixel` turns it into pixel coordinates as bqplot lays the figure out
(the element trimmed to the aspect ratio, less ``fig_margin``; the scales' current ``min``
and ``max``, which pan and zoom change and bqplot sends back). A click marks a point (a
red cross): its readout stays when the pointer leaves the image, its sky position is what
the operation form's "From the viewer" takes, and in profile mode two clicks are the
line's ends.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np
from ipyevents import Event

from shiftdesk_widgets._figures import FigureSlot
from shiftdesk_widgets.datalab._common import Feedback, classed
from shiftdesk_widgets.datalab._images import (
    COLORMAPS,
    STRETCHES,
    FitsImage,
    line_profile,
    read_fits,
    render,
    thumbnail_of_picture,
)
from shiftdesk_widgets.runtable._calls import Caller, run_now

#: What a click does, by mode.
PAN, INSPECT, PROFILE = "Pan & zoom", "Inspect", "Profile"
#: The browser sends the pointer's position at most once per this many ms (20 a second).
POINTER_WAIT_MS = 50
#: What the readout says before the pointer is on a frame.
HINT = (
    "point at the image: pixel value and sky position",
    "click: mark a point (the readout keeps it when the pointer leaves)",
)


def sexagesimal(ra: float, dec: float) -> str:
    """RA as h:m:s and Dec as d:m:s (ICRS)."""
    h = ra / 15.0
    hh, mm = int(h), int((h % 1) * 60)
    ss = ((h * 60) % 1) * 60
    sign = "-" if dec < 0 else "+"
    d = abs(dec)
    dd, dm = int(d), int((d % 1) * 60)
    ds = ((d * 60) % 1) * 60
    return f"{hh:02d}:{mm:02d}:{ss:05.2f} {sign}{dd:02d}:{dm:02d}:{ds:04.1f}"


def readout_lines(image: FitsImage, x: float, y: float) -> tuple[str, str]:
    """The readout's two lines about pixel (x, y): position and value; sky position."""
    value = image.value(x, y)
    where = f"x {x:.1f}  y {y:.1f}"
    if value is None:
        return f"{where} · outside the image", ""
    sky = image.sky(x, y)
    if sky is not None:
        ra, dec = sky
        second = f"RA, Dec {sexagesimal(ra, dec)} ({ra:.5f}°, {dec:+.5f}°)"
    else:
        second = "no WCS in the header" if image.wcs is None else "no sky position here"
    return f"{where} · value {value:.6g}", second


def readout_html(first: str, second: str, *, label: str = "", muted: bool = False) -> str:
    """The readout's two lines (always two, so the page below does not move)."""
    # its own line height: an HTML widget's (28 px in JupyterLab) would push line 2 out
    style = "line-height: 1.4; white-space: nowrap; overflow: hidden; text-overflow: ellipsis"
    tag = f"<span class='sd-dl-muted'>{html.escape(label)}</span> " if label else ""
    cls = " class='sd-dl-muted'" if muted else ""
    return (
        f"<div{cls} style='{style}'>{tag}{html.escape(first)}</div>"
        f"<div{cls} style='{style}'>{html.escape(second) or '&nbsp;'}</div>"
    )


def plot_area(figure: bq.Figure, width: float, height: float) -> tuple[float, float, float, float]:
    """(left, top, width, height) of ``figure``'s plot area in its element of
    ``width`` × ``height`` CSS px, as bqplot lays it out (``auto_layout`` off): the element
    trimmed to the aspect-ratio bounds from its top left corner, less ``fig_margin``."""
    if width > 0 and height > 0:
        ratio = width / height
        low, high = float(figure.min_aspect_ratio), float(figure.max_aspect_ratio)
        if ratio < low:
            height = width / low
        elif ratio > high:
            width = height * high
    margin = figure.fig_margin
    left, top = float(margin["left"]), float(margin["top"])
    return left, top, width - left - float(margin["right"]), height - top - float(margin["bottom"])


def pointer_pixel(
    event: dict[str, Any], figure: bq.Figure, xs: bq.LinearScale, ys: bq.LinearScale
) -> tuple[float, float] | None:
    """Pixel (x, y) under the pointer of an ipyevents mouse ``event`` on ``figure``, whose
    plot area spans the scales ``xs``/``ys`` exactly (no padding); None off the plot area."""
    try:
        rx, ry = float(event["relativeX"]), float(event["relativeY"])
        width, height = float(event["boundingRectWidth"]), float(event["boundingRectHeight"])
        x0, x1, y0, y1 = float(xs.min), float(xs.max), float(ys.min), float(ys.max)
    except (KeyError, TypeError, ValueError):
        return None
    left, top, plot_w, plot_h = plot_area(figure, width, height)
    if plot_w < 1 or plot_h < 1:
        return None
    fx, fy = (rx - left) / plot_w, (ry - top) / plot_h
    if not (0.0 <= fx <= 1.0 and 0.0 <= fy <= 1.0):
        return None
    return x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)


def header_html(header: Any) -> str:
    """A FITS header as its 80-column cards."""
    try:
        text = header.tostring(sep="\n", endcard=False, padding=False)
    except AttributeError:
        text = "\n".join(f"{k:8} = {v!r}" for k, v in dict(header).items())
    return f"<div class='sd-dl-header'>{html.escape(text)}</div>"


class ImageViewer(w.VBox):
    """A FITS frame (or a picture) to look at closely.

    Parameters
    ----------
    files : callable
        ``files()`` → (label, path) of what the viewer may open (the session's frames
        and the outputs).
    caller : callable
        How frames are read and drawn (off the kernel's thread in a kernel).
    """

    def __init__(
        self,
        files: Callable[[], Sequence[tuple[str, str]]] | None = None,
        *,
        caller: Caller = run_now,
    ) -> None:
        self._files = files
        self._caller = caller
        self.image: FitsImage | None = None
        self.path: str | None = None
        self.factor = 1
        self.clicks: list[tuple[float, float]] = []
        self.position: tuple[float, float] | None = None
        #: the point last clicked (pixels), whose readout shows when the pointer is away
        self.marked: tuple[float, float] | None = None
        #: the pixel under the pointer, None while it is off the image's plot area
        self.pointed: tuple[float, float] | None = None
        self._moved_at = self._left_at = float("-inf")
        self._quiet = False
        self.picker = classed(
            w.Dropdown(description="Frame", layout=w.Layout(width="auto", min_width="360px"),
                       style={"description_width": "initial"}),
            "sd-dl-viewer-picker",
        )  # fmt: skip
        self.picker.observe(self._picked, "value")
        self.stretch = classed(
            w.Dropdown(options=list(STRETCHES), value=STRETCHES[0], description="Stretch",
                       layout=w.Layout(width="170px"), style={"description_width": "initial"}),
            "sd-dl-stretch",
        )  # fmt: skip
        self.colormap = classed(
            w.Dropdown(options=list(COLORMAPS), value=COLORMAPS[0], description="Colours",
                       layout=w.Layout(width="180px"), style={"description_width": "initial"}),
            "sd-dl-colormap",
        )  # fmt: skip
        self.stretch.observe(lambda _c: self.redraw(), "value")
        self.colormap.observe(lambda _c: self.redraw(), "value")
        self.mode = classed(
            w.ToggleButtons(options=[INSPECT, PROFILE, PAN], value=INSPECT,
                            tooltips=["click: mark a point (its value and sky position)",
                                      "click twice: the values along the line between",
                                      "drag to pan, wheel to zoom"],
                            style={"button_width": "auto"}),
            "sd-dl-mode",
        )  # fmt: skip
        self.mode.observe(lambda c: self._set_mode(c["new"]), "value")
        self.zoom_in = classed(
            w.Button(icon="search-plus", tooltip="zoom in", layout=w.Layout(width="40px")),
            "sd-dl-zoom-in",
        )
        self.zoom_out = classed(
            w.Button(icon="search-minus", tooltip="zoom out", layout=w.Layout(width="40px")),
            "sd-dl-zoom-out",
        )
        self.zoom_fit = classed(
            w.Button(description="Fit", icon="expand", tooltip="the whole frame",
                     layout=w.Layout(width="auto")),
            "sd-dl-zoom-fit",
        )  # fmt: skip
        self.zoom_in.on_click(lambda _b: self.zoom(0.5))
        self.zoom_out.on_click(lambda _b: self.zoom(2.0))
        self.zoom_fit.on_click(lambda _b: self.fit())
        self.feedback = Feedback()
        # two lines, always: the readout changes as the pointer moves, the page must not
        self.readout = classed(
            w.HTML(readout_html(*HINT, muted=True),
                   layout=w.Layout(height="40px", overflow="hidden", width="100%")),
            "sd-dl-readout",
        )  # fmt: skip

        # no padding: the frame fills the plot area, whose edges are then the scales' ends
        # (what pointer_pixel counts on; the crosses' Scatter would pad them otherwise)
        self.xs = bq.LinearScale(min=-0.5, max=0.5, allow_padding=False)
        self.ys = bq.LinearScale(min=-0.5, max=0.5, allow_padding=False)
        self.png = w.Image(value=b"", format="png")
        self.mark = bq.Image(image=self.png, scales={"x": self.xs, "y": self.ys},
                             x=[-0.5, 0.5], y=[-0.5, 0.5])  # fmt: skip
        self.mark.on_element_click(self._clicked)
        self.points = bq.Scatter(x=[], y=[], scales={"x": self.xs, "y": self.ys},
                                 colors=["#ff1744"], default_size=48, marker="cross")  # fmt: skip
        self.segment = bq.Lines(x=[], y=[], scales={"x": self.xs, "y": self.ys},
                                colors=["#ff1744"], stroke_width=1.5)  # fmt: skip
        self.panzoom = bq.interacts.PanZoom(scales={"x": [self.xs], "y": [self.ys]})
        axes = [
            bq.Axis(scale=self.xs, label="x (pixel)", grid_lines="none"),
            bq.Axis(scale=self.ys, side="left", label="y (pixel)", grid_lines="none"),
        ]
        self.figure = bq.Figure(
            marks=[self.mark, self.segment, self.points], axes=axes, padding_x=0, padding_y=0,
            fig_margin={"top": 10, "bottom": 40, "left": 56, "right": 10},
            layout=w.Layout(width="100%", height="560px"),
        )  # fmt: skip
        self.figure.add_class("sd-dl-viewer-figure")
        # the pointer's moves over the figure (bqplot's image mark tells clicks only)
        self.pointer = Event(
            source=self.figure, watched_events=["mousemove", "mouseleave"],
            throttle_or_debounce="throttle", wait=POINTER_WAIT_MS,
        )  # fmt: skip
        self.pointer.on_dom_event(self.pointer_event)
        self.slot = FigureSlot(self.figure)
        self.slot.layout.width = "100%"

        self.profile_x = bq.LinearScale()
        self.profile_y = bq.LinearScale()
        self.profile_line = bq.Lines(x=[0, 1], y=[0, 0],
                                     scales={"x": self.profile_x, "y": self.profile_y},
                                     colors=["#1565c0"])  # fmt: skip
        self.profile_figure = bq.Figure(
            marks=[self.profile_line],
            axes=[bq.Axis(scale=self.profile_x, label="distance (pixel)"),
                  bq.Axis(scale=self.profile_y, side="left", label="value",
                          tick_format=".4g")],
            fig_margin={"top": 10, "bottom": 40, "left": 64, "right": 10},
            layout=w.Layout(width="100%", height="240px"),
        )  # fmt: skip
        self.profile_figure.add_class("sd-dl-profile-figure")
        self.profile_slot = FigureSlot(self.profile_figure)
        self.profile_note = classed(w.HTML(), "sd-dl-profile-note")

        self.header_button = classed(
            w.ToggleButton(description="FITS header", icon="list-alt",
                           layout=w.Layout(width="auto")),
            "sd-dl-header-toggle",
        )  # fmt: skip
        self.header = classed(w.HTML(), "sd-dl-header-box")
        self.header.layout.display = "none"
        self.header_button.observe(lambda c: self._show_header(c["new"]), "value")
        self._shown = False

        tools = classed(
            w.HBox([self.stretch, self.colormap, self.mode, self.zoom_in, self.zoom_out,
                    self.zoom_fit]),
            "sd-dl-row",
        )  # fmt: skip
        side = classed(
            w.VBox([w.HTML("<div class='sd-dl-section'>Line profile</div>"), self.profile_note,
                    self.profile_slot, self.header_button, self.header],
                   layout=w.Layout(flex="1 1 340px", min_width="300px")),
            "sd-dl-side",
        )  # fmt: skip
        # the frame keeps its aspect (about 560 px high): the side panel takes the rest. The
        # readout is above it: right by the image, however much of the box the frame fills
        main = w.VBox([self.readout, self.slot], layout=w.Layout(flex="0 1 640px", min_width="0"))
        super().__init__(
            [
                classed(w.HBox([self.picker, self.feedback]), "sd-dl-row"),
                tools,
                classed(
                    w.HBox([main, side], layout=w.Layout(width="100%", align_items="flex-start")),
                    "sd-dl-row",
                    "sd-dl-viewer-body",
                ),
            ]
        )
        classed(self, "sd-dl-viewer")
        self._say_profile()
        self.refresh_files()

    # -- showing ----------------------------------------------------------------------------
    @property
    def shown(self) -> bool:
        """Whether the figures are in the page (the tab is open)."""
        return self._shown

    @shown.setter
    def shown(self, on: bool) -> None:
        self._shown = bool(on)
        self.slot.shown = self._shown and bool(self.png.value)
        self.profile_slot.shown = self._shown and len(self.clicks) == 2

    def refresh_files(self) -> None:
        """Read the list of frames the viewer may open again."""
        if self._files is None:
            return
        try:
            files = list(self._files())
        except Exception:  # the list keeps what it had
            return
        self._quiet = True
        try:
            self.picker.options = [("— pick a frame —", None), *files]
            paths = [p for _l, p in files]
            self.picker.value = self.path if self.path in paths else None
        finally:
            self._quiet = False

    def _picked(self, change: dict[str, Any]) -> None:
        if not self._quiet and change["new"] is not None:
            self.show(change["new"])

    def show(self, path: str | os.PathLike[str]) -> None:
        """Read ``path`` (a FITS frame, or a PNG/JPEG picture) and show it."""
        path = str(path)
        self.feedback.say("busy", f"reading {Path(path).name} …")
        stretch, colormap = self.stretch.value, self.colormap.value

        def load() -> tuple[FitsImage | None, bytes, int, tuple[int, int]]:
            if Path(path).suffix.lower() in (".png", ".jpg", ".jpeg"):
                from PIL import Image

                with Image.open(path) as picture:
                    size = picture.size
                data = thumbnail_of_picture(Path(path), 2048)
                return None, data, 1, (size[1], size[0])
            image = read_fits(path)
            png, factor = render(image, stretch, colormap)
            return image, png, factor, image.shape

        def show(loaded: tuple[FitsImage | None, bytes, int, tuple[int, int]]) -> None:
            image, png, factor, shape = loaded
            self.image, self.path, self.factor = image, path, factor
            self._quiet = True
            try:
                if path not in [p for _l, p in self.picker.options]:
                    self.picker.options = [*self.picker.options, (Path(path).name, path)]
                self.picker.value = path
            finally:
                self._quiet = False
            self._draw(png, shape)
            self.clicks = []
            self.marked = self.pointed = None
            self.points.x, self.points.y = [], []
            self.segment.x, self.segment.y = [], []
            self._say_profile()
            self.profile_slot.shown = False
            self.header.value = header_html(image.header) if image is not None else ""
            self.header_button.disabled = image is None
            ny, nx = shape
            wcs = "" if image is None else (" · WCS" if image.wcs is not None else " · no WCS")
            self.feedback.say("info", f"{Path(path).name} · {nx} × {ny} px{wcs}")
            self.readout.value = (
                readout_html(*HINT, muted=True) if image is not None else
                readout_html("a picture: no pixel values to read", "", muted=True)
            )  # fmt: skip

        self._caller("open frame", load, show, lambda exc: self.feedback.error(exc, "not shown"))

    def _draw(self, png: bytes, shape: tuple[int, int]) -> None:
        ny, nx = shape
        self.png.value = png
        # the PNG covers whole blocks: a reduced image ends where its last block ends
        cover_x = (nx // self.factor) * self.factor if self.factor > 1 else nx
        cover_y = (ny // self.factor) * self.factor if self.factor > 1 else ny
        self.mark.x = [-0.5, cover_x - 0.5]
        self.mark.y = [-0.5, cover_y - 0.5]
        ratio = max(0.2, min(5.0, nx / max(ny, 1)))
        self.figure.min_aspect_ratio = ratio
        self.figure.max_aspect_ratio = ratio
        self.fit()
        self.slot.shown = self._shown

    def redraw(self) -> None:
        """Draw the frame again with the stretch and colour map chosen."""
        image = self.image
        if image is None:
            return
        stretch, colormap = self.stretch.value, self.colormap.value

        def show(made: tuple[bytes, int]) -> None:
            if self.image is image:
                self.png.value = made[0]

        self._caller("redraw", lambda: render(image, stretch, colormap), show,
                     lambda exc: self.feedback.error(exc, "not redrawn"))  # fmt: skip

    # -- zoom and pan ------------------------------------------------------------------------
    def fit(self) -> None:
        """Show the whole frame."""
        x0, x1 = self.mark.x
        y0, y1 = self.mark.y
        self.xs.min, self.xs.max = float(x0), float(x1)
        self.ys.min, self.ys.max = float(y0), float(y1)

    def zoom(self, factor: float) -> None:
        """Zoom about the centre of the view (``factor`` < 1 zooms in)."""
        for scale in (self.xs, self.ys):
            lo, hi = float(scale.min), float(scale.max)
            mid, half = (lo + hi) / 2, (hi - lo) / 2 * factor
            scale.min, scale.max = mid - half, mid + half

    def _set_mode(self, mode: str) -> None:
        # panning takes the pointer's drags; clicks go to the image otherwise
        self.figure.interaction = self.panzoom if mode == PAN else None
        if mode == PROFILE:
            self.clicks = []
            self._say_profile()

    # -- the pointer -------------------------------------------------------------------------
    def pointer_event(self, event: dict[str, Any]) -> None:
        """An ipyevents message from the figure: a move shows the pixel under the pointer,
        leaving the figure (or its plot area) shows the marked point again.

        Moves are throttled in the browser, so the last move before the pointer left can
        arrive after the leave: a message older than the last one handled is dropped.
        """
        kind = event.get("event")
        try:
            stamp = float(event.get("timeStamp", 0.0))
        except (TypeError, ValueError):
            stamp = 0.0
        if kind == "mouseleave":
            self._left_at = max(self._left_at, stamp)
            self.leave()
            return
        if kind != "mousemove" or stamp < self._left_at or stamp < self._moved_at:
            return
        self._moved_at = stamp
        at = pointer_pixel(event, self.figure, self.xs, self.ys)
        if at is None:
            self.leave()
        else:
            self.hover(*at)

    def hover(self, x: float, y: float) -> None:
        """The pointer at pixel (x, y): the readout says its value and sky position."""
        image = self.image
        if image is None:
            return
        self.pointed = (x, y)
        self.readout.value = readout_html(*readout_lines(image, x, y))

    def leave(self) -> None:
        """The pointer off the image: the readout shows the marked point, or the hint."""
        self.pointed = None
        image = self.image
        if image is None:
            return
        if self.marked is None:
            self.readout.value = readout_html(*HINT, muted=True)
        else:
            self.readout.value = readout_html(*readout_lines(image, *self.marked), label="marked")

    # -- clicks --------------------------------------------------------------------------------
    def _clicked(self, _mark: Any, event: dict[str, Any]) -> None:
        data = event.get("data", {})
        if "click_x" in data and "click_y" in data:
            self.click(float(data["click_x"]), float(data["click_y"]))

    def click(self, x: float, y: float) -> None:
        """A click at pixel (x, y): a marked point (the readout, the sky position), and in
        profile mode one of the line's ends."""
        image = self.image
        if image is None:
            return
        self.marked = (x, y)
        self.readout.value = readout_html(*readout_lines(image, x, y), label="marked")
        sky = image.sky(x, y)
        if sky is not None:
            self.position = sky
        if self.mode.value == PROFILE:
            self.clicks = [*self.clicks, (x, y)] if len(self.clicks) < 2 else [(x, y)]
            self.points.x = [c[0] for c in self.clicks]
            self.points.y = [c[1] for c in self.clicks]
            if len(self.clicks) == 2:
                self.profile(*self.clicks)
            else:
                self.segment.x, self.segment.y = [], []
                self._say_profile()
        else:
            self.points.x, self.points.y = [x], [y]

    def profile(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Draw the values along ``start`` → ``end`` (pixels)."""
        if self.image is None:
            return
        distance, values = line_profile(self.image.data, start, end)
        self.clicks = [start, end]
        self.segment.x = [start[0], end[0]]
        self.segment.y = [start[1], end[1]]
        finite = values[np.isfinite(values)]
        self.profile_line.x = distance
        self.profile_line.y = np.where(np.isfinite(values), values, np.nan)
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            pad = (hi - lo) * 0.05 or 1.0
            self.profile_y.min, self.profile_y.max = lo - pad, hi + pad
        self.profile_x.min, self.profile_x.max = 0.0, float(max(distance[-1], 1.0))
        self.profile_note.value = (
            f"<div class='sd-dl-muted'>({start[0]:.0f}, {start[1]:.0f}) → ({end[0]:.0f}, "
            f"{end[1]:.0f}) · {distance[-1]:.1f} px · min {np.nanmin(values):.4g} · "
            f"max {np.nanmax(values):.4g}</div>"
        )
        self.profile_slot.shown = self._shown

    @property
    def profile_values(self) -> tuple[np.ndarray, np.ndarray]:
        """The profile drawn: distances and values (tests read it)."""
        return np.asarray(self.profile_line.x), np.asarray(self.profile_line.y)

    def _say_profile(self) -> None:
        if self.mode.value == PROFILE:
            said = "click the line's start, then its end" if not self.clicks else \
                "now click the line's end"  # fmt: skip
        else:
            said = f"choose {PROFILE}, then click two points of the image"
        self.profile_note.value = f"<div class='sd-dl-muted'>{said}</div>"

    def _show_header(self, on: bool) -> None:
        self.header.layout.display = None if on else "none"
