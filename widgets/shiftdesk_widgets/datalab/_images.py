"""FITS images for the page: read the SCI image, stretch it, colour it, make PNG bytes.

Pictures reach the browser as PNG bytes in widgets (never as URLs: the page loads nothing
from other hosts). Large images are shown reduced (block means, at most
:data:`DISPLAY_SIZE` pixels a side); values under the cursor are read from the full array.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Stretches the viewer offers (the first is the default).
STRETCHES = ("zscale", "linear", "log", "asinh", "sqrt")
#: Colour maps the viewer offers (matplotlib names).
COLORMAPS = ("gray", "viridis", "magma", "inferno", "cividis", "gist_heat")
#: The longest side of the image drawn in the viewer.
DISPLAY_SIZE = 1024
#: The longest side of a gallery thumbnail.
THUMB_SIZE = 128


@dataclass
class FitsImage:
    """One 2-D image read from a FITS file (its SCI HDU, else the first 2-D image).

    Attributes
    ----------
    path : Path
    data : ndarray
        The pixels as floats, row 0 at the bottom (as FITS and ds9 show it).
    header : astropy.io.fits.Header
    wcs : astropy.wcs.WCS or None
        The celestial WCS, when the header has one.
    """

    path: Path
    data: np.ndarray
    header: Any
    wcs: Any = None
    _limits: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The file's name."""
        return self.path.name

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (int(self.data.shape[0]), int(self.data.shape[1]))

    def value(self, x: float, y: float) -> float | None:
        """The pixel value at (x, y) (0-based column, row), None outside."""
        col, row = round(x), round(y)
        if 0 <= row < self.data.shape[0] and 0 <= col < self.data.shape[1]:
            return float(self.data[row, col])
        return None

    def sky(self, x: float, y: float) -> tuple[float, float] | None:
        """(RA, Dec) in degrees at pixel (x, y), None without a celestial WCS."""
        if self.wcs is None:
            return None
        try:
            ra, dec = self.wcs.pixel_to_world_values(x, y)
        except Exception:  # a WCS that cannot invert here: no position rather than a crash
            return None
        if not (np.isfinite(ra) and np.isfinite(dec)):
            return None
        return float(ra) % 360.0, float(dec)

    def limits(self, stretch: str) -> tuple[float, float]:
        """Display limits for ``stretch`` (zscale, or the 0.5-99.5 percentiles)."""
        if stretch not in self._limits:
            self._limits[stretch] = display_limits(self.data, stretch)
        return self._limits[stretch]


def read_fits(path: str | os.PathLike[str]) -> FitsImage:
    """Read the image of ``path``: the HDU named SCI, else the first 2-D image.

    Raises
    ------
    ValueError
        Not FITS, or no 2-D image in it.
    """
    from astropy.io import fits

    where = Path(path)
    try:
        with fits.open(where, memmap=False) as hdul:
            hdu = _image_hdu(hdul)
            if hdu is None:
                raise ValueError(f"{where.name} holds no 2-D image")
            data = np.asarray(hdu.data, dtype="f4")
            header = hdu.header.copy()
    except OSError as exc:
        raise ValueError(f"{where.name} is not a readable FITS file ({exc})") from None
    while data.ndim > 2:  # a cube: its first plane
        data = data[0]
    return FitsImage(where, data, header, celestial_wcs(header))


def _image_hdu(hdul: Any) -> Any:
    images = [h for h in hdul if getattr(h, "is_image", False) and h.header.get("NAXIS", 0) >= 2]
    for hdu in images:
        if str(hdu.header.get("EXTNAME", "")).strip().upper() == "SCI":
            return hdu
    return images[0] if images else None


def celestial_wcs(header: Any) -> Any:
    """The header's celestial WCS, or None (no WCS keywords, or a broken WCS)."""
    if "CTYPE1" not in header:
        return None
    import warnings

    from astropy.wcs import WCS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FITSFixedWarning and the like: the page says nothing
            wcs = WCS(header).celestial
    except Exception:  # a broken WCS: pixel values still show
        return None
    return wcs if wcs.has_celestial else None


def display_limits(data: np.ndarray, stretch: str) -> tuple[float, float]:
    """The values shown black and white: zscale for ``zscale``, else percentiles."""
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0, 1.0
    if finite.size > 1_000_000:  # a sample is enough for limits
        finite = finite[:: finite.size // 1_000_000 + 1]
    if stretch == "zscale":
        from astropy.visualization import ZScaleInterval

        lo, hi = ZScaleInterval().get_limits(finite)
    elif stretch == "linear":
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = np.percentile(finite, [0.5, 99.5])
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def stretched(data: np.ndarray, stretch: str, lo: float, hi: float) -> np.ndarray:
    """``data`` scaled to 0-1 between ``lo`` and ``hi`` with ``stretch``; NaN -> 0."""
    unit = (np.asarray(data, dtype="f4") - np.float32(lo)) / np.float32(hi - lo)
    np.clip(unit, 0.0, 1.0, out=unit)
    unit[~np.isfinite(unit)] = 0.0
    if stretch == "log":
        a = 1000.0
        unit = np.log1p(a * unit) / np.log1p(a)
    elif stretch == "asinh":
        unit = np.arcsinh(10.0 * unit) / np.arcsinh(10.0)
    elif stretch == "sqrt":
        unit = np.sqrt(unit)
    return unit.astype("f4", copy=False)


def reduced(data: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """``data`` reduced by block means to at most ``size`` pixels a side, and the factor."""
    factor = max(1, int(np.ceil(max(data.shape) / size)))
    if factor == 1:
        return data, 1
    ny, nx = (data.shape[0] // factor) * factor, (data.shape[1] // factor) * factor
    blocks = data[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        return np.nanmean(blocks, axis=(1, 3)), factor


def png_bytes(unit: np.ndarray, colormap: str = "gray") -> bytes:
    """A PNG of ``unit`` (0-1, row 0 at the bottom) in ``colormap``."""
    from PIL import Image

    if colormap == "gray":
        pixels = (unit * 255 + 0.5).astype(np.uint8)
    else:
        from matplotlib import colormaps

        pixels = (colormaps[colormap](unit, bytes=True))[..., :3]
    image = Image.fromarray(np.ascontiguousarray(pixels[::-1]))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def render(image: FitsImage, stretch: str = "zscale", colormap: str = "gray",
           size: int = DISPLAY_SIZE) -> tuple[bytes, int]:  # fmt: skip
    """The PNG the viewer draws of ``image`` and the reduction factor used."""
    small, factor = reduced(image.data, size)
    lo, hi = image.limits(stretch)
    return png_bytes(stretched(small, stretch, lo, hi), colormap), factor


def thumbnail(path: str | os.PathLike[str], size: int = THUMB_SIZE) -> bytes:
    """A zscaled grey PNG thumbnail of a FITS file, or of a PNG/JPEG given as is."""
    where = Path(path)
    if where.suffix.lower() in (".png", ".jpg", ".jpeg"):
        return thumbnail_of_picture(where, size)
    image = read_fits(where)
    # a coarse stride first: a 4k frame's thumbnail needs not read-average every pixel
    step = max(1, max(image.shape) // (size * 4))
    data = image.data[::step, ::step]
    small, _factor = reduced(data, size)
    lo, hi = display_limits(data, "zscale")
    return png_bytes(stretched(small, "zscale", lo, hi))


def cached_thumbnail(path: str | os.PathLike[str], sha256: str, size: int = THUMB_SIZE) -> bytes:
    """:func:`thumbnail` of a file whose content hash is ``sha256``, kept on disk.

    A session's frames are drawn on every opening of the dashboard; reading each FITS
    file again (and, in a fresh kernel, importing astropy: ~0.5 s) competed with the
    page for the kernel. Keyed by content, so a changed file gets a new thumbnail.
    """
    from shiftdesk.storage import data_dir

    if not sha256.isalnum():  # a key from elsewhere must not name a path
        return thumbnail(path, size)
    folder = data_dir() / "datalab" / "thumbnails"
    stored = folder / f"{sha256}-{size}.png"
    try:
        return stored.read_bytes()
    except OSError:
        pass
    png = thumbnail(path, size)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{sha256}-{size}.{os.getpid()}.part"
        partial.write_bytes(png)
        partial.replace(stored)  # atomic: a reader never sees half a file
    except OSError:  # a read-only or full disk costs the cache, not the thumbnail
        pass
    return png


def thumbnail_of_picture(path: Path, size: int = THUMB_SIZE) -> bytes:
    """A picture (PNG, JPEG) reduced to ``size`` a side, as PNG bytes."""
    from PIL import Image

    with Image.open(path) as picture:
        picture = picture.convert("RGB")
        picture.thumbnail((size, size))
        out = io.BytesIO()
        picture.save(out, format="PNG")
    return out.getvalue()


def line_profile(data: np.ndarray, start: tuple[float, float], end: tuple[float, float]
                 ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Values along the segment ``start`` → ``end`` ((x, y) pixels), one sample per pixel
    of length (nearest pixel): distances from ``start`` and values."""
    (x0, y0), (x1, y1) = start, end
    length = float(np.hypot(x1 - x0, y1 - y0))
    n = max(2, int(np.ceil(length)) + 1)
    xs = np.linspace(x0, x1, n)
    ys = np.linspace(y0, y1, n)
    cols = np.clip(np.rint(xs).astype(int), 0, data.shape[1] - 1)
    rows = np.clip(np.rint(ys).astype(int), 0, data.shape[0] - 1)
    return np.linspace(0.0, length, n), np.asarray(data[rows, cols], dtype=float)
