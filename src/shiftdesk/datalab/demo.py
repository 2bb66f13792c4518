"""The demo data session: small simulated frames of a star field with a variable star.

Seven 128 × 128 frames with a TAN WCS pointed at M51's position: five in ``rp`` taken
20 minutes apart (the variable star brightens and fades across them), two in ``gp``.
Everything is generated from fixed seeds, so every demo has the same pixels.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from shiftdesk.identity import Identity
    from shiftdesk.storage import Database

#: the demo session's name
NAME = "M51 demo"
#: frame size (rows, columns)
SHAPE = (128, 128)
#: where the frames point (ICRS degrees)
CENTER = (202.4696, 47.1952)
#: arcsec per pixel
SCALE = 0.6
#: (x, y, flux) of the steady stars (0-based pixels)
STARS = (
    (30.0, 40.0, 9000.0),
    (90.0, 30.0, 6000.0),
    (60.0, 95.0, 12000.0),
    (100.0, 100.0, 4000.0),
    (20.0, 110.0, 5000.0),
    (75.0, 60.0, 7000.0),
)
#: (x, y, mean flux) of the variable star
VARIABLE = (45.0, 70.0, 8000.0)
#: its period (days) and relative amplitude
PERIOD_DAYS, AMPLITUDE = 0.05, 0.4
#: (filter, index within the filter) of each frame
FRAMES = tuple(("rp", i) for i in range(5)) + tuple(("gp", i) for i in range(2))
_MJD0 = 60370.125


def frame_data(filt: str, index: int) -> tuple[np.ndarray, float]:
    """The pixels of one demo frame and its MJD."""
    mjd = _MJD0 + index * 20 / 1440 + (0.2 if filt == "gp" else 0.0)
    rng = np.random.default_rng(1000 * (filt == "gp") + index)
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    sigma = 2.2 / 2.3548 * (1.0 + 0.05 * index)
    image = np.full(SHAPE, 200.0)
    scale = 0.7 if filt == "gp" else 1.0
    variable = VARIABLE[2] * (1 + AMPLITUDE * math.sin(2 * math.pi * mjd / PERIOD_DAYS))
    for x, y, flux in (*STARS, (VARIABLE[0], VARIABLE[1], variable)):
        image += (
            scale * flux / (2 * np.pi * sigma**2)
            * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
        )  # fmt: skip
    image += rng.normal(0.0, 5.0, SHAPE)
    return image.astype("float32"), mjd


def write_frames(folder: Path) -> list[Path]:
    """Write the seven demo frames into ``folder`` (as ``m51_<filter>_<n>.fits``)."""
    from astropy.io import fits
    from astropy.time import Time
    from astropy.wcs import WCS

    folder.mkdir(parents=True, exist_ok=True)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(CENTER)
    wcs.wcs.crpix = [(SHAPE[1] + 1) / 2, (SHAPE[0] + 1) / 2]
    wcs.wcs.cdelt = [-SCALE / 3600, SCALE / 3600]
    wcs.wcs.cunit = ["deg", "deg"]
    paths = []
    for filt, index in FRAMES:
        data, mjd = frame_data(filt, index)
        header = wcs.to_header()
        header["OBJECT"] = "M51"
        header["FILTER"] = filt
        header["EXPTIME"] = 60.0
        header["MJD-OBS"] = mjd
        header["DATE-OBS"] = Time(mjd, format="mjd").isot
        path = folder / f"m51_{filt}_{index + 1:03d}.fits"
        hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, header=header, name="SCI")])
        hdus.writeto(path, overwrite=True)
        paths.append(path)
    return paths


def seed_demo(database: Database, identity: Identity) -> str:
    """Make the demo session (once) for ``identity``, with the seven frames added."""
    from shiftdesk.datalab.session import DataSession
    from shiftdesk.storage.boundary import is_user_role
    from shiftdesk.storage.database import data_dir

    if database.engine.dialect.name == "postgresql" and not is_user_role(database):
        # the hub seeding as the tables' owner: the frames would land in its own folder,
        # which no user server reads; each user's dashboard makes the session on first open
        return f"data session {NAME!r}: made by each user's dashboard when first opened"
    for session in DataSession.list(database=database, identity=identity):
        if session.name == NAME and session.owner == identity.name:
            return f"data session {NAME!r} ({len(session.inputs)} frames)"
    paths = write_frames(data_dir() / "datalab-demo")
    session = DataSession.create(
        NAME,
        description="Simulated frames: a star field with a variable star, rp and gp.",
        database=database,
        identity=identity,
    )
    session.add_inputs(paths)
    return f"data session {NAME!r}: {len(paths)} simulated frames (5 rp, 2 gp)"
