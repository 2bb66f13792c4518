"""Small synthetic FITS frames for the datalab tests: Gaussian stars on a flat sky,
a TAN WCS, a filter and an observation time; plain or tile-compressed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

#: the sky position the frames point at (degrees)
CENTER = (150.0, 2.0)
#: arcsec per pixel
SCALE = 1.0


def tan_wcs(
    shape: tuple[int, int], center: tuple[float, float] = CENTER, scale: float = SCALE
) -> WCS:
    """A north-up TAN WCS with ``center`` at the middle of an image of ``shape``."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(center)
    wcs.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    wcs.wcs.cdelt = [-scale / 3600, scale / 3600]
    wcs.wcs.cunit = ["deg", "deg"]
    return wcs


def gaussian_stars(
    shape: tuple[int, int], stars: Sequence[tuple[float, float, float]], fwhm: float = 3.0
) -> np.ndarray:
    """Gaussian stars ``(x, y, total flux)`` (0-based pixel centres) on a zero image."""
    sigma = fwhm / 2.3548
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape)
    for x, y, flux in stars:
        image += (
            flux
            / (2 * np.pi * sigma**2)
            * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
        )
    return image


def sky_positions(
    stars: Sequence[tuple[float, float, float]],
    shape: tuple[int, int],
    center: tuple[float, float] = CENTER,
) -> list[tuple[float, float, float]]:
    """``(ra, dec, flux)`` of pixel stars ``(x, y, flux)`` in a frame of ``shape``."""
    wcs = tan_wcs(shape, center)
    out = []
    for x, y, flux in stars:
        ra, dec = wcs.pixel_to_world_values(x, y)
        out.append((float(ra), float(dec), flux))
    return out


def write_frame(
    path: Path,
    data: np.ndarray | None = None,
    *,
    shape: tuple[int, int] = (48, 64),
    stars: Sequence[tuple[float, float, float]] = (),
    sky_stars: Sequence[tuple[float, float, float]] = (),
    sky: float = 100.0,
    noise: float = 0.0,
    seed: int = 0,
    center: tuple[float, float] | None = CENTER,
    filter: str | None = "rp",
    date_obs: str | None = "2024-03-01T03:00:00",
    mjd_obs: float | None = None,
    exptime: float | None = 60.0,
    compressed: bool = False,
    extname: str | None = "SCI",
    dtype: str = "f4",
    header: dict[str, Any] | None = None,
) -> Path:
    """Write a frame; return its path.

    ``data`` is written as given; otherwise ``sky`` + Gaussian ``stars`` (pixel
    positions) + ``sky_stars`` (``(ra, dec, flux)``, placed through the frame's WCS) +
    Gaussian noise of ``noise`` sigma. ``center=None`` writes no WCS. ``extname=None``
    puts the image in the primary HDU.
    """
    wcs = tan_wcs(shape if data is None else data.shape, center) if center else None
    if data is None:
        pixel_stars = list(stars)
        if sky_stars:
            assert wcs is not None, "sky_stars need a WCS"
            for ra, dec, flux in sky_stars:
                x, y = wcs.world_to_pixel_values(ra, dec)
                pixel_stars.append((float(x), float(y), flux))
        data = sky + gaussian_stars(shape, pixel_stars)
        if noise:
            data = data + np.random.default_rng(seed).normal(0, noise, shape)
    head = fits.Header()
    if wcs is not None:
        head.update(wcs.to_header())
    for key, value in (
        ("FILTER", filter),
        ("DATE-OBS", date_obs),
        ("MJD-OBS", mjd_obs),
        ("EXPTIME", exptime),
    ):
        if value is not None:
            head[key] = value
    head.update(header or {})
    array = np.asarray(data, dtype=dtype)
    if compressed:
        # lossless: the tests compare pixel values with numpy
        hdu: Any = fits.CompImageHDU(
            array, header=head, name=extname or "SCI", compression_type="GZIP_2", quantize_level=0.0
        )
        hdus = [fits.PrimaryHDU(), hdu]
    elif extname is None:
        hdus = [fits.PrimaryHDU(array, header=head)]
    else:
        hdus = [fits.PrimaryHDU(), fits.ImageHDU(array, header=head, name=extname)]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path
