"""Aperture photometry of a target over frames of one filter, and a period search.

**Aperture photometry** (photutils): comparison stars are found in the first frame
(DAOStarFinder; bright, isolated, away from the target and the edges, not saturated)
and followed on the sky (each frame's WCS). In every frame the target and each
comparison star get the aperture sum minus the local background (sigma-clipped median
of the annulus times the aperture's area). The relative flux is the target's flux over
the comparison stars' summed flux. Times are MJD (UTC) at mid-exposure: ``MJD-OBS`` or
``DATE-OBS``, plus half of ``EXPTIME`` when the header has it.

**Period search** (astropy's Lomb-Scargle) of a light curve: an earlier photometry
result's data, or times and values given.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from shiftdesk.datalab.operations import OperationInputError
from shiftdesk.datalab.ops import images, plots
from shiftdesk.datalab.ops.base import (
    Operation,
    OperationResult,
    RunContext,
    choice_field,
    files_field,
    number_field,
    object_schema,
    position_field,
)
from shiftdesk.datalab.ops.images import Frame

#: sigma of the clipping of backgrounds (frame and annuli)
CLIP_SIGMA = 3.0
#: a comparison star must be this many outer-annulus radii from the target
TARGET_CLEARANCE = 2.0
#: a peak above this fraction of the SATURATE card's value marks a star saturated
SATURATION_FRACTION = 0.9


# -- aperture photometry ----------------------------------------------------------------------


class AperturePhotometry(Operation):
    """Light curve of a target against comparison stars, over frames of one filter."""

    name: ClassVar[str] = "aperture_photometry"
    title: ClassVar[str] = "Aperture photometry"
    description: ClassVar[str] = (
        "The light curve of a target (RA, Dec) relative to comparison stars found in "
        "the frames: aperture sums minus the annulus background, frame by frame. The "
        "frames must be in one filter and have a WCS."
    )
    version: ClassVar[str] = "1.0"
    category: ClassVar[str] = "photometry"
    outputs: ClassVar[tuple[str, ...]] = ("data", "images")
    schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "input_files": files_field(
                "Input frames",
                "Frames of one filter with a celestial WCS and an observation time.",
                single_filter=True,
            ),
            "target": position_field("Target", "The target's position (ICRS, degrees)."),
            "aperture_radius": number_field(
                "Aperture radius",
                "Radius of the circular aperture.",
                default=5.0,
                exclusive_minimum=0,
                maximum=100,
                unit="pixel",
            ),
            "annulus_inner": number_field(
                "Annulus inner radius",
                "Inner radius of the background annulus.",
                default=8.0,
                exclusive_minimum=0,
                maximum=200,
                unit="pixel",
            ),
            "annulus_outer": number_field(
                "Annulus outer radius",
                "Outer radius of the background annulus.",
                default=12.0,
                exclusive_minimum=0,
                maximum=300,
                unit="pixel",
            ),
            "fwhm": number_field(
                "Star FWHM",
                "Typical full width at half maximum of stars (to find them).",
                default=3.0,
                minimum=0.5,
                maximum=50,
                unit="pixel",
            ),
            "detection_threshold": number_field(
                "Detection threshold",
                "A comparison star's peak must be this many background sigmas high.",
                default=5.0,
                minimum=1,
                maximum=1000,
                unit="sigma",
            ),
            "min_comparison_stars": number_field(
                "Fewest comparison stars",
                "Fail when fewer usable stars are found.",
                default=3,
                minimum=1,
                maximum=50,
                integer=True,
            ),
            "max_comparison_stars": number_field(
                "Most comparison stars",
                "Use at most this many (the brightest).",
                default=10,
                minimum=1,
                maximum=50,
                integer=True,
            ),
        },
        ["input_files", "target"],
    )

    def check(self, values: dict[str, Any], frames: dict[str, list[Any]]) -> None:
        r, inner, outer = (
            values["aperture_radius"],
            values["annulus_inner"],
            values["annulus_outer"],
        )
        if inner < r:
            raise OperationInputError(
                "annulus_inner", f"{inner} is inside the aperture (radius {r}); make it >= {r}"
            )
        if outer <= inner:
            raise OperationInputError(
                "annulus_outer", f"{outer} must be larger than the inner radius {inner}"
            )
        if values["min_comparison_stars"] > values["max_comparison_stars"]:
            raise OperationInputError(
                "min_comparison_stars",
                f"{values['min_comparison_stars']} is more than max_comparison_stars "
                f"({values['max_comparison_stars']})",
            )
        inside = 0
        for frame in frames["input_files"]:
            wcs = images.celestial_wcs(frame)
            if wcs is None:
                raise frame.error("has no celestial WCS; the target cannot be located")
            frame_time(frame)
            x, y = _target_pixel(wcs, values["target"])
            inside += _fits(frame.shape, x, y, outer)
        if not inside:
            target = values["target"]
            raise OperationInputError(
                "target",
                f"RA {target['ra']:.5f}, Dec {target['dec']:.5f} (with its annulus) falls "
                "in none of the frames",
            )

    def execute(self, values: dict[str, Any], ctx: RunContext) -> OperationResult:
        frames = ctx.frames["input_files"]
        r = float(values["aperture_radius"])
        r_in, r_out = float(values["annulus_inner"]), float(values["annulus_outer"])
        ctx.report(0.0, "photometry: finding comparison stars")
        comps = find_comparison_stars(frames[0], values)
        ctx.report(0.15, f"photometry: {len(comps)} comparison star(s)")
        rows: list[dict[str, Any]] = []
        excluded: list[dict[str, str]] = []
        part = ctx.part(0.15, 0.9)
        for _, frame in part.steps(frames, "photometry: frame {i} of {n}"):
            row = _measure_frame(frame, values["target"], comps, r, r_in, r_out)
            if isinstance(row, str):
                excluded.append({"file": frame.name, "reason": row})
            else:
                rows.append(row)
        if not rows:
            raise OperationInputError("target", "could not be measured in any frame")
        used = _usable_comparisons(rows, len(comps))
        if len(used) < values["min_comparison_stars"]:
            raise OperationInputError(
                "min_comparison_stars",
                f"only {len(used)} comparison star(s) could be measured in every frame "
                f"(at least {values['min_comparison_stars']} asked)",
            )
        for row in rows:
            _relative(row, used)
        rows.sort(key=lambda row: row["time"])
        ctx.report(0.9, "photometry: plot")
        good = [row for row in rows if np.isfinite(row["relative_flux"])]
        preview = plots.light_curve(
            ctx,
            "light_curve",
            [row["time"] for row in good],
            [row["relative_flux"] for row in good],
            [row["relative_flux_error"] for row in good],
            title=f"target / {len(used)} comparison star(s), filter {frames[0].filter}",
        )
        data = {
            "target": dict(values["target"]),
            "filter": frames[0].filter,
            "apertures": {"radius": r, "annulus_inner": r_in, "annulus_outer": r_out},
            "time": "MJD (UTC) at mid-exposure",
            "comparison_stars": [c for i, c in enumerate(comps) if i in used],
            "light_curve": rows,
            "excluded": excluded,
        }
        return self.result(previews={preview.full.name: preview}, data=data)


def frame_time(frame: Frame) -> float:
    """MJD (UTC) at mid-exposure: ``MJD-OBS`` or ``DATE-OBS``, plus ``EXPTIME / 2``.

    Raises
    ------
    OperationInputError
        Neither card, or one that cannot be read as a time.
    """
    from astropy.time import Time

    header = frame.header
    mjd = header.get("MJD-OBS")
    if isinstance(mjd, int | float):
        start = float(mjd)
    elif header.get("DATE-OBS"):
        try:
            start = float(Time(str(header["DATE-OBS"]), scale="utc").mjd)
        except ValueError:
            raise frame.error(f"DATE-OBS {header['DATE-OBS']!r} is not a date and time") from None
    else:
        raise frame.error("has no observation time (MJD-OBS or DATE-OBS card)")
    exptime = header.get("EXPTIME")
    if isinstance(exptime, int | float) and exptime > 0:
        start += float(exptime) / 2 / 86400.0
    return start


def _target_pixel(wcs: Any, target: dict[str, float]) -> tuple[float, float]:
    from astropy.coordinates import SkyCoord

    x, y = wcs.world_to_pixel(SkyCoord(target["ra"], target["dec"], unit="deg"))
    return float(x), float(y)


def _fits(shape: tuple[int, int], x: float, y: float, radius: float) -> bool:
    """Whether a circle of ``radius`` around (x, y) lies inside the image."""
    ny, nx = shape
    return bool(
        np.isfinite(x)
        and np.isfinite(y)
        and radius - 0.5 <= x <= nx - 0.5 - radius
        and radius - 0.5 <= y <= ny - 0.5 - radius
    )


def find_comparison_stars(frame: Frame, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Bright, isolated, unsaturated stars of ``frame`` away from the target and the
    edges, brightest first (at most ``max_comparison_stars``), with their sky positions.

    Raises
    ------
    OperationInputError
        (field ``min_comparison_stars``) Fewer than ``min_comparison_stars`` found.
    """
    from astropy.stats import sigma_clipped_stats
    from photutils.detection import DAOStarFinder
    from photutils.utils.exceptions import NoDetectionsWarning

    data = images.read_image(frame)
    _, median, std = sigma_clipped_stats(data, sigma=CLIP_SIGMA, mask=~np.isfinite(data))
    finder = DAOStarFinder(
        threshold=float(values["detection_threshold"]) * float(std),
        fwhm=float(values["fwhm"]),
        exclude_border=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)  # none found: said below
        table = finder(np.nan_to_num(data - median, nan=0.0))
    wcs = images.celestial_wcs(frame)
    tx, ty = _target_pixel(wcs, values["target"])
    outer = float(values["annulus_outer"])
    stars: list[dict[str, Any]] = []
    if table is not None:
        xs = np.asarray(table["x_centroid" if "x_centroid" in table.colnames else "xcentroid"])
        ys = np.asarray(table["y_centroid" if "y_centroid" in table.colnames else "ycentroid"])
        flux = np.asarray(table["flux"], dtype=float)
        peak = np.asarray(table["peak"], dtype=float) + median
        saturate = frame.header.get("SATURATE")
        limit = (
            SATURATION_FRACTION * float(saturate)
            if isinstance(saturate, int | float) and saturate > 0
            else np.inf
        )
        for i in np.argsort(-flux):
            x, y = float(xs[i]), float(ys[i])
            others = np.hypot(xs - x, ys - y)
            others[i] = np.inf
            if (
                np.hypot(x - tx, y - ty) >= TARGET_CLEARANCE * outer
                and _fits(frame.shape, x, y, outer)
                and others.min() > outer  # a neighbour would spoil the annulus
                and peak[i] < limit
            ):
                sky = wcs.pixel_to_world(x, y)
                stars.append(
                    {
                        "id": len(stars) + 1,
                        "ra": float(sky.ra.deg),
                        "dec": float(sky.dec.deg),
                        "x": x,
                        "y": y,
                        "flux": float(flux[i]),
                    }
                )
            if len(stars) == values["max_comparison_stars"]:
                break
    if len(stars) < values["min_comparison_stars"]:
        raise OperationInputError(
            "min_comparison_stars",
            f"{frame.name}: found {len(stars)} usable comparison star(s), at least "
            f"{values['min_comparison_stars']} are needed; lower the detection threshold "
            "or the number asked",
        )
    return stars


def measure(
    data: np.ndarray,
    positions: np.ndarray,
    radius: float,
    inner: float,
    outer: float,
    gain: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background-subtracted aperture fluxes at ``positions`` (N x 2 of x, y), their
    errors and the per-pixel backgrounds.

    flux = aperture sum - (sigma-clipped annulus median) x aperture area; the error
    adds the source's Poisson noise (``flux / gain``, in the data's units), the sky's
    per-pixel scatter over the aperture, and the uncertainty of the background level.
    """
    from astropy.stats import SigmaClip
    from photutils.aperture import (
        ApertureStats,
        CircularAnnulus,
        CircularAperture,
        aperture_photometry,
    )

    aperture = CircularAperture(positions, r=radius)
    annulus = CircularAnnulus(positions, r_in=inner, r_out=outer)
    bad = ~np.isfinite(data)
    stats = ApertureStats(
        data, annulus, mask=bad, sigma_clip=SigmaClip(sigma=CLIP_SIGMA, maxiters=10)
    )
    background = np.atleast_1d(np.asarray(stats.median, dtype=float))
    scatter = np.atleast_1d(np.asarray(stats.std, dtype=float))
    n_sky = np.atleast_1d(np.asarray(stats.sum_aper_area.value, dtype=float))
    table = aperture_photometry(data, aperture, mask=bad)
    total = np.asarray(table["aperture_sum"], dtype=float)
    area = aperture.area
    flux = total - background * area
    variance = np.maximum(flux, 0.0) / gain + area * scatter**2 + (area * scatter) ** 2 / n_sky
    return flux, np.sqrt(variance), background


def _measure_frame(
    frame: Frame,
    target: dict[str, float],
    comps: list[dict[str, Any]],
    r: float,
    r_in: float,
    r_out: float,
) -> dict[str, Any] | str:
    """One light-curve row, or why the frame is left out."""
    from astropy.coordinates import SkyCoord

    wcs = images.celestial_wcs(frame)
    tx, ty = _target_pixel(wcs, target)
    if not _fits(frame.shape, tx, ty, r_out):
        return "the target (with its annulus) is outside the frame"
    data = images.read_image(frame)
    if comps:
        sky = SkyCoord([c["ra"] for c in comps], [c["dec"] for c in comps], unit="deg")
        cx, cy = (np.atleast_1d(np.asarray(v, dtype=float)) for v in wcs.world_to_pixel(sky))
    else:
        cx = cy = np.zeros(0)
    positions = np.column_stack([np.r_[tx, cx], np.r_[ty, cy]])
    gain = frame.header.get("GAIN")
    gain = float(gain) if isinstance(gain, int | float) and gain > 0 else 1.0
    flux, error, background = measure(data, positions, r, r_in, r_out, gain)
    inside = np.array([_fits(frame.shape, x, y, r_out) for x, y in positions])
    flux[~inside] = np.nan
    error[~inside] = np.nan
    return {
        "file": frame.name,
        "time": frame_time(frame),
        "date_obs": str(frame.header.get("DATE-OBS", "")),
        "x": tx,
        "y": ty,
        "target_flux": float(flux[0]),
        "target_flux_error": float(error[0]),
        "background": float(background[0]),
        "comparison_fluxes": [float(v) for v in flux[1:]],
        "comparison_flux_errors": [float(v) for v in error[1:]],
    }


def _usable_comparisons(rows: list[dict[str, Any]], n: int) -> list[int]:
    """Indices of the comparison stars with a positive flux in every measured frame."""
    return [
        i
        for i in range(n)
        if all(
            np.isfinite(row["comparison_fluxes"][i]) and row["comparison_fluxes"][i] > 0
            for row in rows
        )
    ]


def _relative(row: dict[str, Any], used: list[int]) -> None:
    """Add the comparison ensemble's flux and the relative flux (with errors) to ``row``."""
    fluxes = [row["comparison_fluxes"][i] for i in used]
    errors = [row["comparison_flux_errors"][i] for i in used]
    row["comparison_fluxes"] = fluxes
    row["comparison_flux_errors"] = errors
    comp = float(sum(fluxes))
    comp_err = float(np.sqrt(sum(e**2 for e in errors)))
    target, target_err = row["target_flux"], row["target_flux_error"]
    rel = target / comp
    row["comparison_flux"] = comp
    row["comparison_flux_error"] = comp_err
    row["relative_flux"] = rel
    row["relative_flux_error"] = abs(rel) * float(
        np.hypot(target_err / target if target else np.inf, comp_err / comp)
    )


# -- period search ----------------------------------------------------------------------------

#: most frequencies a periodogram may have (its arrays travel in the result's JSON)
MAX_FREQUENCIES = 200_000
#: fewest finite points a period search takes
MIN_POINTS = 5
#: candidate periods reported
N_CANDIDATES = 5

_ARRAY_OR_NULL = {"type": ["array", "null"], "items": {"type": "number"}, "default": None}


class PeriodSearch(Operation):
    """Lomb-Scargle periodogram of a light curve, with the false-alarm probability."""

    name: ClassVar[str] = "period_search"
    title: ClassVar[str] = "Period search"
    description: ClassVar[str] = (
        "The Lomb-Scargle periodogram of a light curve (an aperture photometry result, "
        "or times and values), its best period and that peak's false-alarm probability."
    )
    version: ClassVar[str] = "1.0"
    category: ClassVar[str] = "photometry"
    outputs: ClassVar[tuple[str, ...]] = ("data", "images")
    schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "photometry": {
                "type": ["object", "null"],
                "title": "Light curve from photometry",
                "description": "The data of an aperture photometry result (or the whole "
                "result); give this or times and values.",
                "default": None,
                "x-kind": "operation-result",
                "x-operation": "aperture_photometry",
            },
            "times": {
                **_ARRAY_OR_NULL,
                "title": "Times (days)",
                "description": "Observation times, e.g. MJD.",
            },
            "values": {
                **_ARRAY_OR_NULL,
                "title": "Values",
                "description": "Flux or magnitude at each time.",
            },
            "errors": {
                **_ARRAY_OR_NULL,
                "title": "Errors",
                "description": "Optional 1-sigma error of each value.",
            },
            "value_key": choice_field(
                "Light-curve column",
                "Which photometry column to search.",
                ["relative_flux", "target_flux"],
                "relative_flux",
            ),
            "minimum_period": number_field(
                "Shortest period",
                "Empty: from the sampling (pseudo-Nyquist).",
                default=None,
                exclusive_minimum=0,
                nullable=True,
                unit="day",
            ),
            "maximum_period": number_field(
                "Longest period",
                "Empty: the time span.",
                default=None,
                exclusive_minimum=0,
                nullable=True,
                unit="day",
            ),
            "samples_per_peak": number_field(
                "Samples per peak",
                "Frequency grid density.",
                default=10,
                minimum=1,
                maximum=100,
                integer=True,
            ),
            "fap_method": choice_field(
                "False-alarm method",
                "How the false-alarm probability is estimated.",
                ["baluev", "davies", "naive", "bootstrap"],
                "baluev",
            ),
        },
        [],
    )

    def check(self, values: dict[str, Any], frames: dict[str, list[Any]]) -> None:
        light_curve(values)
        lo, hi = values["minimum_period"], values["maximum_period"]
        if lo is not None and hi is not None and lo >= hi:
            raise OperationInputError(
                "maximum_period", f"{hi} must be longer than the shortest period {lo}"
            )

    def execute(self, values: dict[str, Any], ctx: RunContext) -> OperationResult:
        from astropy.timeseries import LombScargle

        t, y, dy = light_curve(values)
        ls = LombScargle(t, y, dy)
        grid = {
            "samples_per_peak": int(values["samples_per_peak"]),
            "minimum_frequency": (
                1.0 / values["maximum_period"] if values["maximum_period"] else None
            ),
            "maximum_frequency": (
                1.0 / values["minimum_period"] if values["minimum_period"] else None
            ),
        }
        frequency = ls.autofrequency(**grid)
        if frequency.size > MAX_FREQUENCIES:
            raise OperationInputError(
                "minimum_period",
                f"the frequency grid would have {frequency.size} points (at most "
                f"{MAX_FREQUENCIES}); give a longer shortest period or fewer samples per peak",
            )
        # the grid's last step may overshoot the shortest period asked for
        top = grid["maximum_frequency"]
        frequency = frequency[(frequency > 0) & (frequency <= (top or np.inf) * (1 + 1e-12))]
        ctx.report(0.1, f"period search: {frequency.size} frequencies")
        power = np.asarray(ls.power(frequency), dtype=float)
        best = int(np.argmax(power))
        limits = {
            "samples_per_peak": grid["samples_per_peak"],
            "minimum_frequency": float(frequency[0]),
            "maximum_frequency": float(frequency[-1]),
        }
        method = values["fap_method"]
        kwds = {"random_seed": 0} if method == "bootstrap" else None

        def fap(p: float) -> float:
            return float(ls.false_alarm_probability(p, method=method, method_kwds=kwds, **limits))

        ctx.report(0.5, "period search: false-alarm probability")
        candidates = [
            {
                "period": float(1 / frequency[i]),
                "frequency": float(frequency[i]),
                "power": float(power[i]),
                "false_alarm_probability": fap(float(power[i])),
            }
            for i in _peaks(power, N_CANDIDATES)
        ]
        best_period = float(1 / frequency[best])
        best_fap = candidates[0]["false_alarm_probability"] if candidates else fap(power[best])
        ctx.report(0.8, "period search: plots")
        shown = {}
        for preview in (
            plots.periodogram(ctx, "periodogram", frequency, power, best_period, best_fap),
            plots.phased(ctx, "phased", t, y, dy, best_period),
        ):
            shown[preview.full.name] = preview
        data = {
            "best_period": best_period,
            "best_frequency": float(frequency[best]),
            "best_power": float(power[best]),
            "false_alarm_probability": best_fap,
            "fap_method": method,
            "candidates": candidates,
            "n_points": int(t.size),
            "time_span": float(t.max() - t.min()),
            "frequency": frequency.tolist(),
            "power": power.tolist(),
        }
        return self.result(previews=shown, data=data)


def light_curve(values: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Times, values and errors (or None) of the period search's input, finite only.

    Raises
    ------
    OperationInputError
        Both or neither source given, lengths that differ, too few points.
    """
    photometry = values.get("photometry")
    given = values.get("times") is not None or values.get("values") is not None
    if photometry is not None and given:
        raise OperationInputError(
            "photometry", "give either a photometry result or times and values, not both"
        )
    if photometry is not None:
        # the result's data, or the whole result (OperationResult.to_dict())
        source = photometry.get("data", photometry)
        rows = source.get("light_curve") if isinstance(source, dict) else None
        if not isinstance(rows, list):
            raise OperationInputError(
                "photometry", "holds no light_curve: give an aperture photometry result"
            )
        key = values["value_key"]
        try:
            t = np.array([row["time"] for row in rows], dtype=float)
            y = np.array([_num(row[key]) for row in rows], dtype=float)
            dy: np.ndarray | None = np.array(
                [_num(row.get(f"{key}_error")) for row in rows], dtype=float
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OperationInputError(
                "photometry", f"a light-curve row lacks a number for {exc}"
            ) from None
        field = "photometry"
    else:
        if values.get("times") is None:
            raise OperationInputError("times", "is required (or give a photometry result instead)")
        if values.get("values") is None:
            raise OperationInputError("values", "is required with times")
        t = np.asarray(values["times"], dtype=float)
        y = np.asarray(values["values"], dtype=float)
        dy = None if values.get("errors") is None else np.asarray(values["errors"], dtype=float)
        for name, array in (("values", y), ("errors", dy)):
            if array is not None and array.size != t.size:
                raise OperationInputError(name, f"has {array.size} numbers but times has {t.size}")
        field = "values"
    keep = np.isfinite(t) & np.isfinite(y)
    if dy is not None and field == "photometry" and not np.isfinite(dy[keep]).any():
        dy = None  # rows without errors: an unweighted search
    if dy is not None:
        bad = keep & ~(np.isfinite(dy) & (dy > 0))
        if bad.any() and field == "values":
            raise OperationInputError(
                "errors", f"must be positive numbers; item {int(np.argmax(bad))} is not"
            )
        keep &= ~bad
    t, y = t[keep], y[keep]
    dy = dy[keep] if dy is not None else None
    if t.size < MIN_POINTS:
        raise OperationInputError(
            field, f"has {t.size} usable point(s); a period search needs at least {MIN_POINTS}"
        )
    if np.ptp(t) <= 0:
        raise OperationInputError(field, "all points have the same time")
    return t, y, dy


def _num(value: Any) -> float:
    return np.nan if value is None else float(value)


def _peaks(power: np.ndarray, count: int) -> list[int]:
    """Indices of the ``count`` highest local maxima of ``power``, highest first."""
    if power.size < 3:
        return [int(np.argmax(power))]
    inner = np.flatnonzero((power[1:-1] > power[:-2]) & (power[1:-1] >= power[2:])) + 1
    ends = [i for i in (0, power.size - 1) if power[i] == power.max()]
    found = np.r_[inner, ends].astype(int)
    return [int(i) for i in found[np.argsort(-power[found])][:count]]
