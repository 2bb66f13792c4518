"""Operations on each frame by itself: subtraction of one frame, normalization.

Both write one output per input and read one frame at a time. Subtraction refuses
frames whose shape differs from the subtracted frame's (cropping would subtract pixels
of another part of the sky or detector); normalization takes any shapes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from shiftdesk.datalab.ops import images
from shiftdesk.datalab.ops.base import (
    Operation,
    OperationResult,
    Preview,
    RunContext,
    files_field,
    object_schema,
)


class Subtraction(Operation):
    """Each input frame minus one frame (a dark, a bias, a sky or an earlier median)."""

    name: ClassVar[str] = "subtraction"
    title: ClassVar[str] = "Subtraction"
    description: ClassVar[str] = (
        "Each input frame minus one frame of the same shape (for example a median of "
        "the session's frames, a dark or a sky frame)."
    )
    version: ClassVar[str] = "1.0"
    schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "input_files": files_field(
                "Input frames", "The frames to subtract from (one output each)."
            ),
            "subtraction_file": files_field(
                "Frame to subtract",
                "One frame, of the same shape as every input.",
                minimum=1,
                maximum=1,
            ),
        },
        ["input_files", "subtraction_file"],
    )

    def check(self, values: dict[str, Any], frames: dict[str, list[Any]]) -> None:
        (subtracted,) = frames["subtraction_file"]
        for frame in frames["input_files"]:
            if frame.shape != subtracted.shape:
                raise frame.error(
                    f"is {_shape(frame.shape)} but {subtracted.name} is "
                    f"{_shape(subtracted.shape)}; subtraction needs one shape (it does "
                    "not crop: pixels would no longer match)"
                )

    def execute(self, values: dict[str, Any], ctx: RunContext) -> OperationResult:
        frames = ctx.frames["input_files"]
        (subtracted,) = ctx.frames["subtraction_file"]
        minus = images.read_image(subtracted)
        files, previews = [], {}
        stems = images.unique_stems(frames)
        for i, frame in ctx.steps(frames, "subtraction: frame {i} of {n}"):
            result = images.read_image(frame) - minus
            out = ctx.output(f"{stems[i]}_sub.fits")
            images.write_fits(
                out,
                result.astype(images.output_dtype([frame, subtracted]), copy=False),
                like=frame,
                operation=self.name,
                version=self.version,
                inputs=[frame, subtracted],
                parameters={"subtraction_file": subtracted.name},
            )
            previews[out.name] = images.write_previews(result, ctx, f"{stems[i]}_sub")
            files.append(out)
        return self.result(files, previews=previews, data={"subtracted": subtracted.name})


class Normalization(Operation):
    """Each frame divided by its median."""

    name: ClassVar[str] = "normalization"
    title: ClassVar[str] = "Normalization"
    description: ClassVar[str] = (
        "Each frame divided by the median of its finite pixels (a flat field or frames "
        "of different exposure brought to one level)."
    )
    version: ClassVar[str] = "1.0"
    schema: ClassVar[dict[str, Any]] = object_schema(
        {"input_files": files_field("Input frames", "The frames to normalize (one output each).")},
        ["input_files"],
    )

    def execute(self, values: dict[str, Any], ctx: RunContext) -> OperationResult:
        frames = ctx.frames["input_files"]
        files: list[Any] = []
        previews: dict[str, Preview] = {}
        medians: dict[str, float] = {}
        stems = images.unique_stems(frames)
        for i, frame in ctx.steps(frames, "normalization: frame {i} of {n}"):
            data = images.read_image(frame)
            median = float(np.median(data[np.isfinite(data)]))
            if median == 0.0:
                raise frame.error("has median 0; it cannot be normalized by its median")
            normalized = data / data.dtype.type(median)
            out = ctx.output(f"{stems[i]}_norm.fits")
            images.write_fits(
                out,
                normalized,
                like=frame,
                operation=self.name,
                version=self.version,
                inputs=[frame],
                cards={"DLNORM": (median, "the median this image was divided by")},
            )
            previews[out.name] = images.write_previews(normalized, ctx, f"{stems[i]}_norm")
            files.append(out)
            medians[frame.name] = median
        return self.result(files, previews=previews, data={"medians": medians})


def _shape(shape: tuple[int, int]) -> str:
    return f"{shape[1]} x {shape[0]} pixels"
