"""What every operation shares: the base class, its result, and what a run is given.

An operation is a stateless object with a ``name``, a ``title``, a ``description``, a
``version`` and an ``input_schema`` (JSON Schema). :meth:`Operation.validate` checks a
request against the schema and the files' headers; :meth:`Operation.run` validates, then
calls the subclass's :meth:`Operation.execute` with a :class:`RunContext`.

Schema conventions beyond standard JSON Schema (keywords starting ``x-``; validators
ignore them, the form builder and :meth:`Operation.validate` read them):

``"x-files": {"min": 2, "max": 999, "single_filter": true, "filters": ["rp", "ip"]}``
    The field holds FITS paths (an array of strings, or one string for exactly one
    file). Each must exist and hold a 2-D image; ``single_filter`` asks every frame of
    the field to carry the same ``FILTER`` card; ``filters`` lists the allowed ones.
``"x-kind": "sky-position"``
    An object ``{"ra": deg, "dec": deg}`` (ICRS).
``"x-kind": "color"``
    A ``#rrggbb`` string.
``"x-kind": "operation-result"``
    The ``data`` of an earlier operation's result (``"x-operation"`` names which).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from shiftdesk.datalab.operations import OperationCancelled

ProgressCallback = Callable[[float, str], None]
CancelledCallback = Callable[[], bool]

#: the JSON Schema dialect of every input schema
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


# -- results -------------------------------------------------------------------------------


class Preview(NamedTuple):
    """The two preview images of one output: full size and a thumbnail (PNG)."""

    full: Path
    thumbnail: Path


@dataclass(frozen=True)
class OperationResult:
    """What a run produced. Travels as JSON (:meth:`to_json`), never as a pickle.

    Attributes
    ----------
    operation, version : str
        The operation and its version that made the result.
    files : tuple of Path
        Output FITS files (image in the HDU named ``SCI``).
    images : tuple of Path
        Every image written: previews of the FITS outputs, colour composites, plots
        (PNG, TIFF).
    previews : dict
        Output name (a FITS file's or an image's name) -> :class:`Preview`.
    data : dict
        JSON values (light curves, periodograms, numbers about the run).
    """

    operation: str
    version: str
    files: tuple[Path, ...] = ()
    images: tuple[Path, ...] = ()
    previews: dict[str, Preview] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, relative_to: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """The result as JSON values.

        Parameters
        ----------
        relative_to : path, optional
            Write paths relative to this folder (a results folder that may move);
            every path must lie inside it. Otherwise paths are written as they are.
        """
        base = Path(relative_to) if relative_to is not None else None

        def out(path: Path) -> str:
            return str(path.relative_to(base)) if base is not None else str(path)

        return {
            "operation": self.operation,
            "version": self.version,
            "files": [out(p) for p in self.files],
            "images": [out(p) for p in self.images],
            "previews": {
                k: {"full": out(v.full), "thumbnail": out(v.thumbnail)}
                for k, v in self.previews.items()
            },
            "data": self.data,
        }

    @classmethod
    def from_dict(
        cls, value: Mapping[str, Any], base: str | os.PathLike[str] | None = None
    ) -> OperationResult:
        """The result :meth:`to_dict` gave; relative paths are resolved against ``base``."""
        root = Path(base) if base is not None else None

        def path(text: str) -> Path:
            p = Path(text)
            return root / p if root is not None and not p.is_absolute() else p

        return cls(
            operation=str(value["operation"]),
            version=str(value["version"]),
            files=tuple(path(p) for p in value.get("files", ())),
            images=tuple(path(p) for p in value.get("images", ())),
            previews={
                k: Preview(path(v["full"]), path(v["thumbnail"]))
                for k, v in value.get("previews", {}).items()
            },
            data=dict(value.get("data", {})),
        )

    def to_json(self, relative_to: str | os.PathLike[str] | None = None) -> str:
        """:meth:`to_dict` as JSON text (no NaN: they are written as null)."""
        return json.dumps(_json_clean(self.to_dict(relative_to)), allow_nan=False)

    @classmethod
    def from_json(cls, text: str, base: str | os.PathLike[str] | None = None) -> OperationResult:
        """The result :meth:`to_json` gave."""
        return cls.from_dict(json.loads(text), base)


def _json_clean(value: Any) -> Any:
    """``value`` with non-finite floats as None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_clean(v) for v in value]
    return value


# -- running -------------------------------------------------------------------------------


class RunContext:
    """What :meth:`Operation.execute` is given: where to write, how to report.

    Parameters
    ----------
    output_dir : Path
        The folder outputs go to (exists).
    progress : callable
        ``progress(fraction, message)``.
    cancelled : callable
        True once the run should stop.
    start, stop : float
        The part of the overall progress this context reports into (see :meth:`part`).
    written : list of Path, optional
        Shared with the parent context: files written so far.
    frames : dict, optional
        Field -> frames read while validating (so a run reads each header once).
    """

    def __init__(
        self,
        output_dir: Path,
        progress: ProgressCallback,
        cancelled: CancelledCallback,
        start: float = 0.0,
        stop: float = 1.0,
        written: list[Path] | None = None,
        frames: dict[str, list[Any]] | None = None,
    ) -> None:
        self.output_dir = output_dir
        #: field -> the frames validation read (headers; see Operation.check)
        self.frames: dict[str, list[Any]] = frames if frames is not None else {}
        self._progress = progress
        self._cancelled = cancelled
        self._start = start
        self._stop = stop
        #: files this run wrote (removed if it fails or is cancelled)
        self.written: list[Path] = written if written is not None else []

    def report(self, fraction: float, message: str) -> None:
        """Report ``fraction`` (0-1) of this part done; stop if the run was cancelled.

        Raises
        ------
        OperationCancelled
            ``cancelled()`` returned True.
        """
        self.check_cancelled()
        f = min(1.0, max(0.0, float(fraction)))
        self._progress(self._start + f * (self._stop - self._start), message)

    def check_cancelled(self) -> None:
        """Raise :class:`OperationCancelled` when the run should stop."""
        if self._cancelled():
            raise OperationCancelled("the operation was cancelled")

    def part(self, start: float, stop: float) -> RunContext:
        """A context whose 0-1 is ``start``-``stop`` of this one (a phase of the run)."""
        span = self._stop - self._start
        return RunContext(
            self.output_dir,
            self._progress,
            self._cancelled,
            self._start + start * span,
            self._start + stop * span,
            self.written,
            self.frames,
        )

    def output(self, name: str) -> Path:
        """The path of a new output file ``name`` in the output folder (registered, so a
        failed run removes it)."""
        path = self.output_dir / name
        self.written.append(path)
        return path

    def steps(self, items: Sequence[Any], message: str) -> Iterator[tuple[int, Any]]:
        """``enumerate(items)``, reporting ``message`` (formatted with ``i``, ``n``,
        ``item``) before each item and 100 % after the last."""
        n = len(items)
        for i, item in enumerate(items):
            self.report(i / max(n, 1), message.format(i=i + 1, n=n, item=item))
            yield i, item
        self.report(1.0, message.format(i=n, n=n, item=""))


def _no_progress(fraction: float, message: str) -> None:
    pass


def _never() -> bool:
    return False


# -- schema helpers -------------------------------------------------------------------------


def files_field(
    title: str,
    description: str,
    *,
    minimum: int = 1,
    maximum: int = 999,
    single_filter: bool = False,
    filters: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A field of FITS paths: an array when ``maximum > 1``, one string otherwise."""
    rule: dict[str, Any] = {"min": minimum, "max": maximum, "single_filter": single_filter}
    if filters is not None:
        rule["filters"] = list(filters)
    if maximum == 1:
        return {
            "type": "string",
            "title": title,
            "description": description,
            "minLength": 1,
            "x-files": rule,
        }
    return {
        "type": "array",
        "title": title,
        "description": description,
        "items": {"type": "string", "minLength": 1},
        "minItems": minimum,
        "maxItems": maximum,
        "x-files": rule,
    }


def number_field(
    title: str,
    description: str,
    *,
    default: float | None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    integer: bool = False,
    nullable: bool = False,
    unit: str | None = None,
) -> dict[str, Any]:
    """A number (or integer) with a range and a default; ``nullable`` allows null."""
    kind = "integer" if integer else "number"
    spec: dict[str, Any] = {
        "type": [kind, "null"] if nullable else kind,
        "title": title,
        "description": description,
    }
    if default is not None or nullable:
        spec["default"] = default
    for key, value in (
        ("minimum", minimum),
        ("maximum", maximum),
        ("exclusiveMinimum", exclusive_minimum),
    ):
        if value is not None:
            spec[key] = value
    if unit:
        spec["x-unit"] = unit
    return spec


def choice_field(
    title: str, description: str, choices: Sequence[str], default: str
) -> dict[str, Any]:
    """One of ``choices`` (``enum``), ``default`` first in the form."""
    return {
        "type": "string",
        "title": title,
        "description": description,
        "enum": list(choices),
        "default": default,
    }


def position_field(title: str, description: str) -> dict[str, Any]:
    """A sky position ``{"ra": deg, "dec": deg}`` (ICRS)."""
    return {
        "type": "object",
        "title": title,
        "description": description,
        "x-kind": "sky-position",
        "properties": {
            "ra": {"type": "number", "title": "RA (deg)", "minimum": 0, "maximum": 360},
            "dec": {"type": "number", "title": "Dec (deg)", "minimum": -90, "maximum": 90},
        },
        "required": ["ra", "dec"],
        "additionalProperties": False,
    }


def object_schema(properties: dict[str, dict[str, Any]], required: Sequence[str]) -> dict[str, Any]:
    """The schema of an operation's inputs: an object with these properties, no others."""
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


# -- the base class --------------------------------------------------------------------------


class Operation:
    """An operation of data sessions. Subclasses set the class attributes and
    implement :meth:`execute` (and :meth:`check` for rules across fields).

    Attributes
    ----------
    name : str
        The registry name (the entry point's name).
    title : str
        A short title for menus.
    description : str
        One or two sentences for the wizard.
    version : str
        Changes whenever the output for the same inputs may change (cached results of
        another version are not reused).
    category : str
        ``"image"`` or ``"photometry"`` (groups the wizard's list).
    outputs : tuple of str
        What a result holds: some of ``"fits"``, ``"images"``, ``"data"``.
    schema : dict
        The JSON Schema of the inputs (read it through :attr:`input_schema`).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    version: ClassVar[str]
    category: ClassVar[str] = "image"
    outputs: ClassVar[tuple[str, ...]] = ("fits", "images")
    schema: ClassVar[dict[str, Any]]

    @property
    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of the inputs (a copy: change it freely)."""
        return copy.deepcopy(self.schema)

    def describe(self) -> dict[str, Any]:
        """Everything a page needs to offer this operation, as JSON values."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "version": self.version,
            "category": self.category,
            "outputs": list(self.outputs),
            "input_schema": self.input_schema,
        }

    def __repr__(self) -> str:
        return f"<Operation {self.name} {self.version}>"

    # -- validation ----------------------------------------------------------------------

    def validate(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``inputs`` (schema, files, rules across fields); return them as JSON
        values with the defaults filled.

        Raises
        ------
        OperationInputError
            Naming the field (and the file) that is wrong.
        """
        return self._checked(inputs)[0]

    def _checked(self, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """The validated inputs and the frames read on the way (field -> frames)."""
        from shiftdesk.datalab.ops import validation

        values = validation.check_schema(self.schema, inputs)
        frames = validation.check_files(self.schema, values)
        self.check(values, frames)
        return values, frames

    def check(self, values: dict[str, Any], frames: dict[str, list[Any]]) -> None:
        """Rules across fields, after the schema and the files passed (override).

        Parameters
        ----------
        values : dict
            The inputs, defaults filled.
        frames : dict
            Field -> the :class:`~shiftdesk.datalab.ops.images.Frame` of each file
            (headers only) of every top-level ``x-files`` field. A check that reads
            other files (nested fields) may add them here: :meth:`execute` gets this
            dict as ``ctx.frames``.
        """

    # -- running -------------------------------------------------------------------------

    def run(
        self,
        inputs: Mapping[str, Any],
        output_dir: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
        cancelled: CancelledCallback | None = None,
    ) -> OperationResult:
        """Validate ``inputs`` and run, writing into ``output_dir``.

        Parameters
        ----------
        inputs : mapping
            JSON values (file paths as strings, numbers); validated again here, as a
            persisted job may run long after it was asked for.
        output_dir : path
            Created if missing. Files of a failed or cancelled run are removed.
        progress : callable, optional
            ``progress(fraction, message)``.
        cancelled : callable, optional
            Polled between steps (strips, frames).

        Raises
        ------
        OperationInputError
            Bad inputs (before anything is written), or a frame that turns out to have
            no finite pixel.
        OperationCancelled
            ``cancelled()`` returned True.
        """
        values, frames = self._checked(inputs)
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        ctx = RunContext(folder, progress or _no_progress, cancelled or _never, frames=frames)
        ctx.report(0.0, f"{self.title}: starting")
        try:
            result = self.execute(values, ctx)
        except BaseException:
            for path in ctx.written:
                path.unlink(missing_ok=True)
            raise
        ctx.report(1.0, f"{self.title}: done")
        return result

    def execute(self, values: dict[str, Any], ctx: RunContext) -> OperationResult:
        """Do the work on validated ``values``; write through ``ctx.output(name)``."""
        raise NotImplementedError

    def result(
        self,
        files: Sequence[Path] = (),
        images: Sequence[Path] = (),
        previews: Mapping[str, Preview] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> OperationResult:
        """An :class:`OperationResult` of this operation (``images`` gets the previews
        added after the images given)."""
        shown = dict(previews or {})
        all_images = list(images)
        for preview in shown.values():
            for p in preview:
                if p not in all_images:
                    all_images.append(p)
        return OperationResult(
            operation=self.name,
            version=self.version,
            files=tuple(files),
            images=tuple(all_images),
            previews=shown,
            data=dict(data or {}),
        )
