"""Operations combining frames into one: median and stack (sum).

Neither holds the whole stack in memory: the median reads strips of rows from every
frame (``hdu.section``) and takes the median strip by strip; the stack adds one frame
at a time. Both crop frames of different shapes to the common shape (from the origin);
the stack's reproject mode instead aligns the frames on their WCS.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import numpy as np

from shiftdesk.datalab.ops import images
from shiftdesk.datalab.ops.base import (
    Operation,
    OperationResult,
    RunContext,
    choice_field,
    files_field,
    object_schema,
)
from shiftdesk.datalab.ops.images import Frame

#: bytes of pixels the median reads per strip (all frames together); the strip's
#: median is taken in place, so this is about the extra memory of the median
STRIP_BYTES = 48 * 2**20
#: the largest output a reprojected stack may have (pixels): frames scattered over
#: the sky would otherwise ask for a huge, mostly empty canvas
MAX_REPROJECT_PIXELS = 100_000_000


def _crop_note(frames: list[Frame], shape: tuple[int, int]) -> dict[str, Any]:
    cropped = [f.name for f in frames if f.shape != shape]
    return {"shape": list(shape), "cropped": cropped}


class Median(Operation):
    """Pixel median of two or more frames, cropped to their common shape."""

    name: ClassVar[str] = "median"
    title: ClassVar[str] = "Median"
    description: ClassVar[str] = (
        "The median of each pixel over two or more frames (cropped to the shape they "
        "share). NaN pixels are left out of a pixel's median."
    )
    version: ClassVar[str] = "1.0"
    schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "input_files": files_field(
                "Input frames",
                "Two or more FITS frames; larger ones are cropped to the smallest shape.",
                minimum=2,
            )
        },
        ["input_files"],
    )

    def execute(self, values: dict[str, Any], ctx: RunContext) -> OperationResult:
        frames = ctx.frames["input_files"]
        shape = images.common_shape(frames)
        median = strip_median(frames, shape, ctx.part(0.0, 0.85))
        out = ctx.output("median.fits")
        images.write_fits(
            out,
            median,
            like=frames[0],
            operation=self.name,
            version=self.version,
            inputs=frames,
        )
        ctx.report(0.9, "median: previews")
        preview = images.write_previews(median, ctx, "median")
        return self.result([out], previews={out.name: preview}, data=_crop_note(frames, shape))


def strip_median(frames: list[Frame], shape: tuple[int, int], ctx: RunContext) -> np.ndarray:
    """The pixel median of ``frames`` cropped to ``shape``, read strip by strip.

    Peak memory is one strip of every frame (about :data:`STRIP_BYTES`) plus the output.
    NaN pixels are left out of their pixel's median (all NaN: NaN).

    Raises
    ------
    OperationInputError
        A frame has no finite pixel.
    """
    ny, nx = shape
    n = len(frames)
    dtype = images.output_dtype(frames)
    rows = max(1, min(ny, STRIP_BYTES // (n * nx * dtype.itemsize)))
    out = np.empty(shape, dtype=dtype)
    buf = np.empty((n, rows, nx), dtype=dtype)
    seen_finite = np.zeros(n, dtype=bool)
    with contextlib.ExitStack() as opened:
        hdus = [opened.enter_context(images.open_image(f)) for f in frames]
        for r0 in range(0, ny, rows):
            r1 = min(ny, r0 + rows)
            ctx.report(r0 / ny, f"median: rows {r0 + 1}-{r1} of {ny}")
            strip = buf[:, : r1 - r0]
            for i, hdu in enumerate(hdus):
                strip[i] = hdu.section[r0:r1, :nx]
                if not seen_finite[i]:
                    # usually true at the first strip, then never checked again
                    seen_finite[i] = bool(np.isfinite(strip[i]).any())
            # in place: the strip is scratch, and np.median would otherwise copy it
            med = np.median(strip, axis=0, overwrite_input=True)
            nan = np.isnan(med)
            if nan.any():
                # np.median gives NaN wherever a frame has one; take those pixels'
                # median over their finite values (partitioning kept each column whole)
                column = strip[:, nan]
                some = np.isfinite(column).any(axis=0)
                filled = np.full(column.shape[1], np.nan, dtype=dtype)
                filled[some] = np.nanmedian(column[:, some], axis=0)
                med[nan] = filled
            out[r0:r1] = med
    for frame, ok in zip(frames, seen_finite, strict=True):
        if not ok:
            raise frame.error("has no finite pixel (every value is NaN or infinite)")
    ctx.report(1.0, "median: done")
    return out


class Stack(Operation):
    """Sum of two or more frames: cropped to the common shape, or aligned on the WCS."""

    name: ClassVar[str] = "stack"
    title: ClassVar[str] = "Stack"
    description: ClassVar[str] = (
        "The sum of two or more frames. 'simple' adds pixel to pixel (cropped to the "
        "shape they share); 'reproject' aligns the frames on their sky coordinates (WCS) "
        "first and keeps the region every frame covers."
    )
    version: ClassVar[str] = "1.0"
    schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "input_files": files_field(
                "Input frames", "Two or more FITS frames to add.", minimum=2
            ),
            "mode": choice_field(
                "Stacking mode",
                "simple: pixel by pixel; reproject: aligned on the WCS (each frame needs "
                "a celestial WCS).",
                ["simple", "reproject"],
                "simple",
            ),
        },
        ["input_files"],
    )

    def check(self, values: dict[str, Any], frames: dict[str, list[Any]]) -> None:
        if values["mode"] == "reproject":
            for frame in frames["input_files"]:
                if images.celestial_wcs(frame) is None:
                    raise frame.error(
                        "has no celestial WCS (CTYPE/CRVAL/CRPIX cards); it cannot be "
                        "reprojected: solve it first, or use mode 'simple'"
                    )

    def execute(self, values: dict[str, Any], ctx: RunContext) -> OperationResult:
        frames = ctx.frames["input_files"]
        work = ctx.part(0.0, 0.85)
        wcs_header = None
        if values["mode"] == "reproject":
            total, wcs_header, data = _reprojected_sum(frames, work)
        else:
            shape = images.common_shape(frames)
            total = _simple_sum(frames, shape, work)
            data = _crop_note(frames, shape)
        exptime = [f.header.get("EXPTIME") for f in frames]
        cards = {}
        if all(isinstance(t, int | float) for t in exptime):
            cards["EXPTIME"] = (float(sum(exptime)), "[s] sum of the inputs' exposure times")
        out = ctx.output("stack.fits")
        images.write_fits(
            out,
            total,
            like=frames[0],
            operation=self.name,
            version=self.version,
            inputs=frames,
            parameters={"mode": values["mode"]},
            wcs_header=wcs_header,
            cards=cards,
        )
        ctx.report(0.9, "stack: previews")
        preview = images.write_previews(total, ctx, "stack")
        data["mode"] = values["mode"]
        return self.result([out], previews={out.name: preview}, data=data)


def _simple_sum(frames: list[Frame], shape: tuple[int, int], ctx: RunContext) -> np.ndarray:
    """Sum over frames, one at a time; a NaN pixel is left out (NaN in every frame: NaN)."""
    dtype = images.output_dtype(frames)
    total = np.zeros(shape, dtype=dtype)
    count = np.zeros(shape, dtype=np.int32)
    for _, frame in ctx.steps(frames, "stack: frame {i} of {n}"):
        data = images.read_image(frame, shape)
        finite = np.isfinite(data)
        total += np.where(finite, data, 0)
        count += finite
    total[count == 0] = np.nan
    return total


def _reprojected_sum(
    frames: list[Frame], ctx: RunContext
) -> tuple[np.ndarray, Any, dict[str, Any]]:
    """Sum of the frames reprojected onto the celestial WCS that covers them all, cropped
    to the box where every frame has data (pixels inside it some frame misses: NaN)."""
    from reproject import reproject_interp
    from reproject.mosaicking import find_optimal_celestial_wcs

    wcses = [images.celestial_wcs(f) for f in frames]
    wcs_out, shape_out = find_optimal_celestial_wcs(
        [(f.shape, w) for f, w in zip(frames, wcses, strict=True)]
    )
    if shape_out[0] * shape_out[1] > MAX_REPROJECT_PIXELS:
        raise frames[0].error(
            f"the frames together span {shape_out[1]} x {shape_out[0]} pixels on the sky, "
            "more than a stack can hold: are they of one field?"
        )
    dtype = images.output_dtype(frames)
    total = np.zeros(shape_out, dtype=dtype)
    coverage = np.zeros(shape_out, dtype=np.int32)
    for i, frame in ctx.steps(frames, "stack: reprojecting frame {i} of {n}"):
        data = images.read_image(frame)
        array, footprint = reproject_interp((data, wcses[i]), wcs_out, shape_out=shape_out)
        good = (footprint > 0) & np.isfinite(array)
        total[good] += array[good]
        coverage += good
    everywhere = coverage == len(frames)
    if not everywhere.any():
        raise frames[0].error(
            "the frames do not overlap on the sky: no pixel is covered by every frame"
        )
    rows = np.flatnonzero(everywhere.any(axis=1))
    cols = np.flatnonzero(everywhere.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    total = total[box]
    total[~everywhere[box]] = np.nan
    wcs_crop = wcs_out[box]
    note = {
        "shape": list(total.shape),
        "reprojected": True,
        "covered_fraction": float(everywhere[box].mean()),
    }
    return total, wcs_crop.to_header(), note
