"""FITS frames in and out: the SCI image of plain or tile-compressed FITS, output files
that say how they were made, and zscale previews.

Reading goes through astropy's ``hdu.section``, which reads only the rows asked for,
from a plain file (memory-mapped) or from the tiles of a compressed one (``.fits.fz``);
so an operation holds one strip or one frame at a time, never a whole stack.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from shiftdesk.datalab.operations import OperationInputError
from shiftdesk.datalab.ops.base import Preview, RunContext

#: longest side of a thumbnail preview (pixels)
THUMBNAIL_SIZE = 256
#: name suffixes dropped from an input's name to make an output's stem
_SUFFIXES = (".fits.fz", ".fits.gz", ".fits", ".fit", ".fts", ".fz")
#: header cards an output's SCI header must not copy from an input: structure,
#: compression, scaling and checksums belong to the file they were written for
_STRUCTURAL = re.compile(
    r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|XTENSION|PCOUNT|GCOUNT|EXTNAME|EXTVER|BSCALE|BZERO|"
    r"BLANK|CHECKSUM|DATASUM|Z[A-Z0-9_]*|TFIELDS|TTYPE\d+|TFORM\d+|THEAP)$"
)
#: WCS cards (dropped when an output gets a new WCS)
_WCS_CARD = re.compile(
    r"^(WCSAXES|CTYPE\d|CRPIX\d|CRVAL\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|"
    r"PS\d_\d+|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|WCSNAME|MJDREF|"
    r"[AB]P?_ORDER|[AB]P?_\d+_\d+|[AB]P?_DMAX)$"
)


@dataclass(frozen=True)
class Frame:
    """One input file's SCI image, as its header describes it (pixels not read).

    Attributes
    ----------
    path : Path
    field : str
        The input field that named it (for messages).
    hdu : int
        Index of the SCI image HDU in the file.
    shape : tuple of int
        (rows, columns).
    header : astropy.io.fits.Header
        The SCI HDU's header, with the primary header's cards it lacks.
    filter : str or None
        The ``FILTER`` card (stripped), if any.
    dtype : numpy.dtype
        What reading gives (after BSCALE/BZERO): float32 or float64.
    """

    path: Path
    field: str
    hdu: int
    shape: tuple[int, int]
    header: fits.Header
    filter: str | None
    dtype: np.dtype[Any]

    @property
    def name(self) -> str:
        """The file's name."""
        return self.path.name

    @property
    def stem(self) -> str:
        """The name without its FITS suffix (``m51_r_002.fits.fz`` -> ``m51_r_002``)."""
        lower = self.name.lower()
        for suffix in _SUFFIXES:
            if lower.endswith(suffix):
                return self.name[: -len(suffix)]
        return self.path.stem

    def error(self, reason: str) -> OperationInputError:
        """An input error about this file."""
        return OperationInputError(self.field, f"{self.name}: {reason}")


def inspect_frame(path: str | os.PathLike[str], field: str) -> Frame:
    """The :class:`Frame` of ``path``: the HDU named ``SCI``, else the first HDU with a
    2-D image (primary, image extension or tile-compressed).

    Raises
    ------
    OperationInputError
        (naming ``field`` and the file) Missing, not FITS, no image, not 2-D.
    """
    where = Path(path)
    try:
        stat = where.stat()
    except OSError:
        stat = None
    if stat is None or not where.is_file():
        raise OperationInputError(field, f"{where}: no such file")
    # a repeated request checks the same frames again: their headers are read once while
    # the file is unchanged (same place, inode, size and modification time)
    key = (str(where.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    known = _inspected.get(key)
    if known is None:
        known = _inspect(where, field)
        if len(_inspected) >= _INSPECTED_MAX:
            _inspected.pop(next(iter(_inspected)))
        _inspected[key] = known
    return dataclasses.replace(known, path=where, field=field, header=known.header.copy())


#: frames inspected, by (resolved path, inode, size, mtime): the oldest go first
_inspected: dict[tuple[str, int, int, int], Frame] = {}
_INSPECTED_MAX = 512


def _inspect(where: Path, field: str) -> Frame:
    """:func:`inspect_frame`, reading the file."""
    try:
        with fits.open(where, memmap=True) as hdul:
            hdus = list(hdul)  # reads every header, never the data
            primary = hdus[0].header
            index = _sci_index(hdus)
            if index is None:
                raise OperationInputError(
                    field, f"{where.name}: holds no image data (no SCI or 2-D image HDU)"
                )
            hdu = hdus[index]
            header = hdu.header.copy()
            naxis = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, int(header["NAXIS"]) + 1)]
    except OperationInputError:
        raise
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        # astropy says "No SIMPLE card found ..." (OSError) for a file of another kind
        raise OperationInputError(
            field, f"{where.name}: not a readable FITS file ({exc})"
        ) from None
    if len(naxis) != 2:
        raise OperationInputError(
            field, f"{where.name}: the image is {len(naxis)}-D ({naxis}); a 2-D image is needed"
        )
    if min(naxis) < 1:
        raise OperationInputError(field, f"{where.name}: the image is empty ({naxis})")
    for card in primary.cards:
        key = card.keyword
        if key and key not in header and not _STRUCTURAL.match(key) and key not in _COMMENTARY:
            header[key] = (card.value, card.comment)
    value = header.get("FILTER")
    filt = str(value).strip() if value is not None and str(value).strip() else None
    bitpix = int(header.get("ZBITPIX", header.get("BITPIX", -32)))
    dtype = np.dtype("f8") if bitpix in (-64, 32, 64) else np.dtype("f4")
    return Frame(where, field, index, (naxis[1], naxis[0]), header, filt, dtype)


_COMMENTARY = {"", "COMMENT", "HISTORY"}


def _sci_index(hdus: Sequence[Any]) -> int | None:
    images = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)
    with_image = [
        i
        for i, hdu in enumerate(hdus)
        if isinstance(hdu, images) and int(hdu.header.get("NAXIS", 0)) >= 1
    ]
    for i in with_image:
        if str(hdus[i].header.get("EXTNAME", "")).strip().upper() == "SCI":
            return i
    return with_image[0] if with_image else None


@contextlib.contextmanager
def open_image(frame: Frame) -> Iterator[Any]:
    """The frame's SCI HDU, open for ``hdu.section[rows, cols]`` reads."""
    # not memory-mapped: a section then reads its rows with seek + read, and the
    # process never maps (and counts as resident) the whole files of a large stack
    with fits.open(frame.path, memmap=False) as hdul:
        yield hdul[frame.hdu]


def read_image(frame: Frame, shape: tuple[int, int] | None = None) -> np.ndarray:
    """The frame's pixels as floats (cropped to ``shape`` from the origin, if given).

    Raises
    ------
    OperationInputError
        The frame has no finite pixel.
    """
    ny, nx = shape or frame.shape
    with open_image(frame) as hdu:
        data = np.asarray(hdu.section[:ny, :nx], dtype=frame.dtype)
    if not np.isfinite(data).any():
        raise frame.error("has no finite pixel (every value is NaN or infinite)")
    return data


def common_shape(frames: Sequence[Frame]) -> tuple[int, int]:
    """The largest shape every frame covers (from the origin)."""
    return min(f.shape[0] for f in frames), min(f.shape[1] for f in frames)


def output_dtype(frames: Sequence[Frame]) -> np.dtype[Any]:
    """float64 when an input has 64-bit (or 32-bit integer) pixels, else float32."""
    return np.dtype("f8") if any(f.dtype == np.dtype("f8") for f in frames) else np.dtype("f4")


def unique_stems(frames: Sequence[Frame]) -> list[str]:
    """Each frame's stem, made unique (``a``, ``a-2``) when two inputs share a name."""
    seen: dict[str, int] = {}
    stems = []
    for frame in frames:
        n = seen.get(frame.stem, 0) + 1
        seen[frame.stem] = n
        stems.append(frame.stem if n == 1 else f"{frame.stem}-{n}")
    return stems


def celestial_wcs(frame: Frame) -> Any:
    """The frame's celestial WCS (an ``astropy.wcs.WCS``), or None without one."""
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        # headers from many telescopes need astropy's fixes (dates, units); fine here
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(frame.header, naxis=2)
        except Exception:
            return None
    return wcs if wcs.has_celestial and wcs.naxis == 2 else None


# -- output -----------------------------------------------------------------------------------


def write_fits(
    path: Path,
    data: np.ndarray,
    *,
    like: Frame,
    operation: str,
    version: str,
    inputs: Sequence[Frame],
    parameters: dict[str, Any] | None = None,
    wcs_header: fits.Header | None = None,
    cards: dict[str, Any] | None = None,
) -> Path:
    """Write ``data`` as the image HDU ``SCI`` of a new FITS file.

    The SCI header copies ``like``'s cards (its WCS too, unless ``wcs_header`` gives a
    new one); the primary header names the operation (``DLABOP``, ``DLABVER``), the
    inputs (``DLNINP``, ``DLIN0001``...; also as HISTORY) and the parameters (HISTORY).
    """
    import shiftdesk

    sci_header = fits.Header()
    for card in like.header.cards:
        key = card.keyword
        if not key or _STRUCTURAL.match(key) or (wcs_header is not None and _WCS_CARD.match(key)):
            continue
        if key in _COMMENTARY:
            if key == "HISTORY":  # the inputs' processing history stays readable
                sci_header.add_history(str(card.value))
            continue
        sci_header[key] = (card.value, card.comment)
    if wcs_header is not None:
        sci_header.update(wcs_header)
    for key, value in (cards or {}).items():
        sci_header[key] = value

    primary = fits.PrimaryHDU()
    head = primary.header
    head["DLABOP"] = (operation, "shiftdesk datalab operation")
    head["DLABVER"] = (version, "version of the operation")
    head["SDVER"] = (shiftdesk.__version__, "shiftdesk version")
    head["DATE"] = (_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"), "file written (UTC)")
    head["DLNINP"] = (len(inputs), "number of input files")
    for i, frame in enumerate(inputs[:9999], start=1):
        head[f"DLIN{i:04d}"] = (frame.name, "input file")
    head.add_history(f"shiftdesk datalab {operation} {version} of {len(inputs)} input(s):")
    for frame in inputs:
        head.add_history(f"  {frame.name}")
    if parameters:
        for key, value in parameters.items():
            head.add_history(f"  {key} = {value}")
    sci = fits.ImageHDU(np.asarray(data), header=sci_header, name="SCI")
    fits.HDUList([primary, sci]).writeto(path, overwrite=True)
    return path


def zscale_limits(data: np.ndarray) -> tuple[float, float]:
    """The zscale display limits of the finite pixels (IRAF's algorithm, astropy)."""
    from astropy.visualization import ZScaleInterval

    finite = data[np.isfinite(data)] if not np.isfinite(data).all() else data
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = ZScaleInterval().get_limits(finite)
    return float(lo), float(hi)


def scale_to_unit(data: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``data`` mapped linearly so ``lo`` -> 0 and ``hi`` -> 1, clipped; NaN -> 0."""
    span = hi - lo if hi > lo else 1.0
    out = (np.asarray(data, dtype="f4") - np.float32(lo)) / np.float32(span)
    np.clip(out, 0.0, 1.0, out=out)
    out[~np.isfinite(out)] = 0.0
    return out


def write_previews(data: np.ndarray, folder_out: RunContext, stem: str) -> Preview:
    """A full-size and a thumbnail PNG of ``data``, zscale-stretched, north-up as FITS
    shows it (row 0 at the bottom).

    Parameters
    ----------
    data : ndarray
        2-D image, or (rows, columns, 3) RGB in [0, 1].
    folder_out : RunContext
        Where the files are registered (``ctx.output(name)``).
    stem : str
        ``<stem>.png`` and ``<stem>_thumb.png`` are written.
    """
    from PIL import Image

    if data.ndim == 2:
        lo, hi = zscale_limits(data)
        pixels = (scale_to_unit(data, lo, hi) * 255 + 0.5).astype(np.uint8)
        image = Image.fromarray(np.ascontiguousarray(pixels[::-1]))
    else:
        pixels = (np.clip(data, 0, 1) * 255 + 0.5).astype(np.uint8)
        image = Image.fromarray(np.ascontiguousarray(pixels[::-1]))
    full = folder_out.output(f"{stem}.png")
    # a low compression level: a 2k x 2k preview in ~0.1 s instead of ~0.4 s
    image.save(full, format="PNG", compress_level=1)
    thumb = folder_out.output(f"{stem}_thumb.png")
    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    image.save(thumb, format="PNG")
    return Preview(full, thumb)
