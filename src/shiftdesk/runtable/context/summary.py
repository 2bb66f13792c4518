"""The table value of a cell (:class:`CellSummary`), computed from a result by DAMNIT's rules.

:func:`summarise` turns what a variable returned into the value the table shows:

1. ``Cell(summary_value=...)`` when given;
2. else the named numpy reduction (``summary="mean"`` → ``np.mean(data)``), when it
   gives a scalar (a failing or non-scalar reduction falls through, noted in the log);
3. else, from ``Cell(preview=...)`` if given, otherwise the data: a scalar as is
   (number, integer, boolean, complex, timestamp, string); a 1-D array → ``sparkline``;
   a 2-D array or a matplotlib figure → ``thumbnail`` (a PNG at most
   :data:`THUMBNAIL_SIZE` px); any other array → ``text`` ``"<dtype>: <shape>"``; an
   ``xarray.Dataset`` → ``text`` ``"Dataset (x.xx MB)"``; None → ``empty``.

An array result whose values changed during the run (``nanmax - nanmin > 0``; a boolean
array holding both values) gets ``max_diff`` and ``attributes["bold"] = True``, unless
``Cell(bold=False)``. xarray objects are summarised like their values (a 1-D DataArray's
coordinate becomes the sparkline's x).

Nothing here imports matplotlib: 2-D thumbnails are encoded with numpy and zlib (viridis
colours); a figure is rendered by its own (already imported) matplotlib.
"""

from __future__ import annotations

import base64
import io
import itertools
import math
import struct
import sys
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

__all__ = [
    "THUMBNAIL_SIZE",
    "CellSummary",
    "SummaryKind",
    "sparkline_array",
    "summarise",
]

SummaryKind = Literal[
    "number",
    "integer",
    "boolean",
    "string",
    "complex",
    "timestamp",
    "thumbnail",
    "sparkline",
    "text",
    "empty",
    "error",
    "skipped",
]


def cell_object(kind: str, number: float | None, text: str | None, blob: bytes | None) -> Any:
    """A stored cell as one Python object.

    A float (number, integer, boolean), text (string, text), a timezone-aware datetime
    (timestamp), a complex number, PNG bytes (thumbnail), a 2×N float array (sparkline),
    or None (empty, error, skipped: their text is the reason, not a value).
    """
    if kind in ("number", "integer", "boolean"):
        return number
    if kind in ("string", "text"):
        return text
    if kind == "timestamp" and number is not None:
        return datetime.fromtimestamp(number, tz=UTC)
    if kind == "complex" and blob is not None:
        real, imag = struct.unpack("<dd", blob)
        return complex(real, imag)
    if kind == "thumbnail":
        return blob
    if kind == "sparkline" and blob is not None:
        return np.load(io.BytesIO(blob), allow_pickle=False)
    return None


#: the longest side of a thumbnail, in pixels
THUMBNAIL_SIZE = 150
#: the most points a sparkline keeps (min and max of each bucket)
SPARKLINE_POINTS = 200
#: a value counts as changed during the run above this max − min (DAMNIT's GUI threshold)
BOLD_THRESHOLD = 1e-9


@dataclass(slots=True)
class CellSummary:
    """The table value of one cell, as the run table stores and shows it.

    Attributes
    ----------
    kind : str
        One of ``number``, ``integer``, ``boolean``, ``string``, ``complex``,
        ``timestamp``, ``thumbnail``, ``sparkline``, ``text``, ``empty``, ``error``,
        ``skipped``.
    number : float, int, bool or None
        The value of ``number`` (float), ``integer`` (int), ``boolean`` (bool) and
        ``timestamp`` (UTC epoch seconds) cells.
    text : str or None
        The value of ``string`` and ``text`` cells; ``str(complex)`` of ``complex``
        cells; the message of ``error`` and ``skipped`` cells.
    blob : bytes or None
        PNG bytes of a ``thumbnail``; for a ``sparkline``, ``np.save`` bytes of a 2×N
        float32 array (x row, y row); for ``complex``, 16 packed little-endian doubles
        (real, imaginary) as DAMNIT stores them.
    max_diff : float or None
        max − min of the data when it is an array (the value changed during the run).
    attributes : dict
        Optional keys: ``bold`` (bool), ``background`` (``'#rrggbb'``), ``units``,
        ``summary_method`` (the numpy reduction's name), ``error`` and ``error_cls``
        (message and exception class of ``error``/``skipped`` cells).
    seconds : float
        How long the variable took to compute.
    """

    kind: SummaryKind
    number: float | None = None
    text: str | None = None
    blob: bytes | None = None
    max_diff: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def value(self) -> Any:
        """The cell's value as a Python object (see :func:`cell_object`)."""
        return cell_object(self.kind, self.number, self.text, self.blob)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``blob`` as base64 text)."""
        return {
            "kind": self.kind,
            "number": self.number,
            "text": self.text,
            "blob": base64.b64encode(self.blob).decode("ascii") if self.blob is not None else None,
            "max_diff": self.max_diff,
            "attributes": dict(self.attributes),
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellSummary:
        """The summary :meth:`to_json` gave."""
        blob = data.get("blob")
        number = data.get("number")
        kind = data["kind"]
        if number is not None:
            if kind == "integer":
                number = int(number)
            elif kind == "boolean":
                number = bool(number)
            else:
                number = float(number)
        return cls(
            kind=kind,
            number=number,
            text=data.get("text"),
            blob=base64.b64decode(blob) if blob is not None else None,
            max_diff=data.get("max_diff"),
            attributes=dict(data.get("attributes") or {}),
            seconds=float(data.get("seconds") or 0.0),
        )

    @classmethod
    def error(
        cls, message: str, error_cls: str, *, seconds: float = 0.0, skipped: bool = False
    ) -> CellSummary:
        """An ``error`` cell (``skipped`` when ``skipped`` or ``error_cls == "Skip"``)."""
        kind: SummaryKind = "skipped" if skipped or error_cls == "Skip" else "error"
        return cls(
            kind=kind,
            text=message,
            attributes={"error": message, "error_cls": error_cls},
            seconds=seconds,
        )


# -- summarising -----------------------------------------------------------------------------


def _module_class(obj: Any, module: str, name: str) -> bool:
    """isinstance(obj, module.name) without importing ``module``."""
    mod = sys.modules.get(module)
    return mod is not None and isinstance(obj, getattr(mod, name, ()))


def is_figure(obj: Any) -> bool:
    """A matplotlib Figure (or Axes), checked without importing matplotlib."""
    return _module_class(obj, "matplotlib.figure", "Figure") or _module_class(
        obj, "matplotlib.axes", "Axes"
    )


def is_xarray(obj: Any) -> bool:
    """An xarray DataArray or Dataset, checked without importing xarray."""
    return _module_class(obj, "xarray", "DataArray") or _module_class(obj, "xarray", "Dataset")


def is_dataset(obj: Any) -> bool:
    """An xarray Dataset."""
    return _module_class(obj, "xarray", "Dataset")


def as_figure(obj: Any) -> Any:
    """The Figure of an Axes; a Figure as is."""
    if _module_class(obj, "matplotlib.axes", "Axes"):
        return obj.get_figure()
    return obj


def _scalar(value: Any) -> CellSummary | None:
    """A scalar summary for a number, bool, complex, str, timestamp or 0-D array; else None."""
    if isinstance(value, str):
        return CellSummary("string", text=value)
    if isinstance(value, bytes):
        return CellSummary("text", text=f"<{len(value)} bytes>")
    if isinstance(value, datetime):
        stamp = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return CellSummary("timestamp", number=stamp.timestamp())
    if is_xarray(value) and not is_dataset(value) and value.ndim == 0:
        value = value.values
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool | np.bool_):
        return CellSummary("boolean", number=bool(value))
    if isinstance(value, int | np.integer):
        return CellSummary("integer", number=int(value))
    if isinstance(value, float | np.floating):
        return CellSummary("number", number=float(value))
    if isinstance(value, complex | np.complexfloating):
        c = complex(value)
        return CellSummary("complex", text=str(c), blob=struct.pack("<dd", c.real, c.imag))
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return CellSummary("empty")
        seconds = value.astype("datetime64[us]").astype(np.int64) / 1e6
        return CellSummary("timestamp", number=float(seconds))
    if isinstance(value, str | np.str_):
        return CellSummary("string", text=str(value))
    return None


def _values(data: Any) -> np.ndarray:
    """The numpy values of an array-like (xarray DataArray → ``.values``)."""
    if is_xarray(data):
        return np.asarray(data.values)
    return np.asarray(data)


def max_diff(data: Any) -> float | None:
    """``nanmax - nanmin`` of a numeric array with more than one element (bool: 1 if mixed)."""
    if is_dataset(data) or not (isinstance(data, np.ndarray) or is_xarray(data)):
        return None
    values = _values(data)
    if values.size <= 1:
        return None
    if values.dtype == np.bool_:
        return 1.0 if values.any() and not values.all() else 0.0
    if values.dtype.kind not in "iuf":
        return None
    with np.errstate(all="ignore"):
        if values.dtype.kind == "f" and np.isnan(values).all():
            return None
        diff = float(np.nanmax(values)) - float(np.nanmin(values))
    return abs(diff) if math.isfinite(diff) else None


def summarise(
    data: Any,
    *,
    summary: str | None = None,
    summary_value: Any = None,
    preview: Any = None,
    bold: bool | None = None,
    background: str | None = None,
    units: str | None = None,
    log: Any = None,
) -> CellSummary:
    """The table value of a result, by the rules in the module docstring.

    Parameters
    ----------
    data : object
        The full result (already checked storable).
    summary : str, optional
        Name of a numpy reduction.
    summary_value : object, optional
        An explicit table value (number or string).
    preview : object, optional
        What thumbnails and sparklines are made from instead of ``data``.
    bold, background, units
        Display attributes (``bold=None``: bold when the value changed during the run).
    log : callable, optional
        Called with a line when a reduction fails and the rules fall through.

    Returns
    -------
    CellSummary
    """
    cell = _summary_of(data, summary, summary_value, preview, log)
    diff = max_diff(data)
    if diff is not None:
        cell.max_diff = diff
    if bold is not None:
        cell.attributes["bold"] = bool(bold)
    elif diff is not None and diff > BOLD_THRESHOLD:
        cell.attributes["bold"] = True
    if background is not None:
        cell.attributes["background"] = background
    if units is not None:
        cell.attributes["units"] = units
    if summary is not None and summary_value is None:
        cell.attributes["summary_method"] = summary
    return cell


def _summary_of(
    data: Any, summary: str | None, summary_value: Any, preview: Any, log: Any
) -> CellSummary:
    if summary_value is not None:
        explicit = _scalar(summary_value)
        if explicit is None:
            raise TypeError(
                f"summary_value must be a number or a string, not {type(summary_value).__name__}"
            )
        return explicit
    if summary is not None and data is not None:
        try:
            reduced = getattr(np, summary)(_values(data))
            result = _scalar(np.asarray(reduced)) if np.ndim(reduced) == 0 else None
        except Exception as exc:
            result = None
            if log is not None:
                log(f"summary {summary!r} failed ({type(exc).__name__}: {exc}); using the default")
        if result is not None:
            return result
    source = preview if preview is not None else data
    if source is None:
        return CellSummary("empty")
    scalar = _scalar(source)
    if scalar is not None:
        return scalar
    if is_dataset(source):
        return CellSummary("text", text=f"Dataset ({source.nbytes / 1e6:.2f} MB)")
    if is_figure(source):
        return CellSummary("thumbnail", blob=figure_png(as_figure(source)))
    values = _values(source)
    if values.ndim == 1 and values.dtype.kind in "biuf":
        return CellSummary("sparkline", blob=_npy(sparkline_array(source)))
    if values.ndim == 2 and values.dtype.kind in "biuf":
        return CellSummary("thumbnail", blob=image_png(values))
    full = _values(data) if data is not None and not is_figure(data) else values
    return CellSummary("text", text=f"{full.dtype}: {full.shape}")


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def sparkline_array(data: Any, points: int = SPARKLINE_POINTS) -> np.ndarray:
    """A 2×N float32 (x, y) array of a 1-D array, at most about ``points`` long.

    x is the DataArray's coordinate when numeric or a datetime (epoch seconds), else the
    index. Long lines keep the min and max of each bucket, so peaks survive.
    """
    y = _values(data).astype(np.float64).ravel()
    x: np.ndarray | None = None
    if is_xarray(data) and data.dims and data.dims[0] in data.coords:
        coord = np.asarray(data.coords[data.dims[0]].values)
        if coord.shape == y.shape:
            if coord.dtype.kind == "M":
                x = coord.astype("datetime64[ns]").astype(np.int64) / 1e9
            elif coord.dtype.kind in "biuf":
                x = coord.astype(np.float64)
    if x is None:
        x = np.arange(y.size, dtype=np.float64)
    if y.size > points:
        buckets = max(1, points // 2)
        edges = np.linspace(0, y.size, buckets + 1).astype(int)
        keep: list[int] = []
        for start, stop in itertools.pairwise(edges):
            if stop <= start:
                continue
            chunk = y[start:stop]
            if np.isnan(chunk).all():
                keep.append(start)
                continue
            lo = start + int(np.nanargmin(chunk))
            hi = start + int(np.nanargmax(chunk))
            keep.extend(sorted({lo, hi}))
        index = np.asarray(keep, dtype=int)
        x, y = x[index], y[index]
    return np.vstack([x, y]).astype(np.float32)


# -- PNG without matplotlib ------------------------------------------------------------------

# viridis at 16 evenly spaced points (matplotlib's colour map, interpolated linearly)
_VIRIDIS = np.array(
    [
        [68, 1, 84],
        [72, 26, 108],
        [71, 47, 125],
        [65, 68, 135],
        [57, 86, 140],
        [49, 104, 142],
        [42, 120, 142],
        [35, 136, 142],
        [31, 152, 139],
        [34, 168, 132],
        [53, 183, 121],
        [84, 197, 104],
        [122, 209, 81],
        [165, 219, 54],
        [210, 226, 27],
        [253, 231, 37],
    ],
    dtype=np.float64,
)


def _lut() -> np.ndarray:
    stops = np.linspace(0, 1, len(_VIRIDIS))
    grid = np.linspace(0, 1, 256)
    return np.stack([np.interp(grid, stops, _VIRIDIS[:, c]) for c in range(3)], axis=1).astype(
        np.uint8
    )


def png_encode(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 array."""
    height, width = rgb.shape[:2]
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def image_png(image: np.ndarray, size: int = THUMBNAIL_SIZE) -> bytes:
    """A viridis thumbnail of a 2-D array (longest side ≤ ``size``; NaN shown as the minimum).

    Colours span the 1 %–99 % quantiles, as DAMNIT's thumbnails do.
    """
    values = np.asarray(image, dtype=np.float64)
    height, width = values.shape
    if height == 0 or width == 0:
        return png_encode(np.zeros((1, 1, 3), np.uint8))
    scale = min(1.0, size / max(height, width))
    rows = np.linspace(0, height - 1, max(1, round(height * scale))).round().astype(int)
    cols = np.linspace(0, width - 1, max(1, round(width * scale))).round().astype(int)
    small = values[np.ix_(rows, cols)]
    finite = small[np.isfinite(small)]
    if finite.size:
        lo, hi = np.quantile(finite, [0.01, 0.99])
    else:
        lo, hi = 0.0, 1.0
    with np.errstate(all="ignore"):
        norm = (small - lo) / (hi - lo) if hi > lo else np.zeros_like(small)
    norm = np.nan_to_num(norm, nan=0.0, posinf=1.0, neginf=0.0).clip(0, 1)
    rgb = _lut()[(norm * 255).astype(np.uint8)]
    return png_encode(np.ascontiguousarray(rgb))


def figure_png(fig: Any, size: int = THUMBNAIL_SIZE) -> bytes:
    """A PNG of a matplotlib figure, its longest side at most ``size`` px."""
    width, height = fig.get_size_inches()
    dpi = size / max(width, height, 1e-6)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def figure_array(fig: Any) -> np.ndarray:
    """The RGBA pixels of a figure (what the full data of a figure result is)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()
