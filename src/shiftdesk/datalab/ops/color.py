"""Colour composites of up to six frames, each shown in its own colour.

Each channel is stretched linearly between its ``zmin`` and ``zmax`` (zscale limits
when not given), tinted with its colour, and the channels are added (clipped to white).
Frames are cropped to their common shape, or aligned on the first channel's WCS.
Outputs are images only (PNG, TIFF), no FITS.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from shiftdesk.datalab.operations import OperationInputError
from shiftdesk.datalab.ops import images
from shiftdesk.datalab.ops.base import (
    Operation,
    OperationResult,
    RunContext,
    choice_field,
    number_field,
    object_schema,
)
from shiftdesk.datalab.ops.images import Frame

#: at most this many channels (as the wizard offers)
MAX_CHANNELS = 6

_CHANNEL = {
    "type": "object",
    "title": "Channel",
    "properties": {
        "file": {
            "type": "string",
            "title": "Frame",
            "description": "The FITS frame shown in this channel's colour.",
            "minLength": 1,
            "x-files": {"min": 1, "max": 1, "single_filter": False},
        },
        "color": {
            "type": "string",
            "title": "Colour",
            "description": "The channel's colour as #rrggbb.",
            "pattern": "^#[0-9a-fA-F]{6}$",
            "x-kind": "color",
            "x-pattern-hint": "a colour written #rrggbb",
        },
        "zmin": number_field(
            "Black level", "Value shown black (empty: zscale).", default=None, nullable=True
        ),
        "zmax": number_field(
            "White level",
            "Value shown at full colour (empty: zscale).",
            default=None,
            nullable=True,
        ),
    },
    "required": ["file", "color"],
    "additionalProperties": False,
}


class ColorImage(Operation):
    """A colour composite of 1-6 frames, each in its own colour."""

    name: ClassVar[str] = "color_image"
    title: ClassVar[str] = "Colour image"
    description: ClassVar[str] = (
        "A colour picture of up to six frames (for example three filters as red, green "
        "and blue), each scaled between its own black and white levels. PNG and TIFF."
    )
    version: ClassVar[str] = "1.0"
    outputs: ClassVar[tuple[str, ...]] = ("images",)
    schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "channels": {
                "type": "array",
                "title": "Colour channels",
                "description": "One to six frames, each with a colour and optional levels.",
                "items": _CHANNEL,
                "minItems": 1,
                "maxItems": MAX_CHANNELS,
                "x-kind": "color-channels",
            },
            "align": choice_field(
                "Alignment",
                "crop: frames already aligned, cropped to the shape they share; wcs: "
                "aligned on the first channel's sky coordinates (each needs a WCS).",
                ["crop", "wcs"],
                "crop",
            ),
        },
        ["channels"],
    )

    def check(self, values: dict[str, Any], frames: dict[str, list[Any]]) -> None:
        frames["channels"] = channel_frames = [
            images.inspect_frame(c["file"], f"channels[{i}].file")
            for i, c in enumerate(values["channels"])
        ]
        for i, frame in enumerate(channel_frames):
            channel = values["channels"][i]
            lo, hi = channel["zmin"], channel["zmax"]
            if lo is not None and hi is not None and lo >= hi:
                raise OperationInputError(
                    f"channels[{i}].zmax",
                    f"the white level ({hi}) must be above the black level ({lo})",
                )
            if values["align"] == "wcs" and images.celestial_wcs(frame) is None:
                raise frame.error("has no celestial WCS; it cannot be aligned (use 'crop')")

    def execute(self, values: dict[str, Any], ctx: RunContext) -> OperationResult:
        from PIL import Image

        frames = ctx.frames["channels"]
        channels = values["channels"]
        if values["align"] == "wcs":
            planes = _aligned(frames, ctx.part(0.0, 0.6))
        else:
            shape = images.common_shape(frames)
            planes = [images.read_image(f, shape) for f in frames]
        ctx.report(0.6, "colour image: combining channels")
        rgb = np.zeros((*planes[0].shape, 3), dtype="f4")
        levels = []
        for i, (plane, channel) in enumerate(zip(planes, channels, strict=True)):
            lo, hi = images.zscale_limits(plane)
            lo = lo if channel["zmin"] is None else float(channel["zmin"])
            hi = hi if channel["zmax"] is None else float(channel["zmax"])
            if hi <= lo:
                raise OperationInputError(
                    f"channels[{i}].zmax",
                    f"the white level ({hi:g}) must be above the black level ({lo:g})",
                )
            colour = np.array(_rgb(channel["color"]), dtype="f4")
            rgb += images.scale_to_unit(plane, lo, hi)[..., None] * colour
            levels.append(
                {"file": frames[i].name, "color": channel["color"], "zmin": lo, "zmax": hi}
            )
        np.clip(rgb, 0.0, 1.0, out=rgb)
        ctx.report(0.8, "colour image: writing")
        preview = images.write_previews(rgb, ctx, "color_image")
        tiff = ctx.output("color_image.tif")
        pixels = (rgb[::-1] * 255 + 0.5).astype(np.uint8)
        Image.fromarray(np.ascontiguousarray(pixels)).save(tiff, format="TIFF")
        return self.result(
            [],
            images=[preview.full, tiff],
            previews={preview.full.name: preview},
            data={"shape": list(planes[0].shape), "channels": levels, "align": values["align"]},
        )


def _aligned(frames: list[Frame], ctx: RunContext) -> list[np.ndarray]:
    """Every frame on the first frame's pixel grid (reprojected on the WCS)."""
    from reproject import reproject_interp

    reference = images.celestial_wcs(frames[0])
    planes = []
    for i, frame in ctx.steps(frames, "colour image: aligning frame {i} of {n}"):
        data = images.read_image(frame)
        if i == 0:
            planes.append(data)
            continue
        array, _ = reproject_interp(
            (data, images.celestial_wcs(frame)), reference, shape_out=frames[0].shape
        )
        planes.append(array)
    return planes


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    text = hex_colour.lstrip("#")
    return (int(text[0:2], 16) / 255, int(text[2:4], 16) / 255, int(text[4:6], 16) / 255)
