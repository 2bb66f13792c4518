"""Image operations checked against numpy (and reproject) on frames the tests make."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image
from tests.datalab._frames import tan_wcs, write_frame

from shiftdesk.datalab import OperationCancelled, operations
from shiftdesk.datalab.ops import combine


def _frames(folder: Path, shapes: list[tuple[int, int]], **kwargs: object) -> list[Path]:
    return [
        write_frame(folder / f"f{i}.fits", shape=shape, noise=5.0, seed=i, **kwargs)  # type: ignore[arg-type]
        for i, shape in enumerate(shapes)
    ]


def _sci(path: Path) -> np.ndarray:
    return np.asarray(fits.getdata(path, extname="SCI"))


def _pixels(path: Path) -> np.ndarray:
    with fits.open(path) as hdul:
        hdu = hdul["SCI"] if "SCI" in hdul else hdul[0]
        return np.asarray(hdu.data, dtype="f4")


def _cropped_stack(paths: list[Path]) -> np.ndarray:
    arrays = [_pixels(p) for p in paths]
    ny = min(a.shape[0] for a in arrays)
    nx = min(a.shape[1] for a in arrays)
    return np.stack([a[:ny, :nx] for a in arrays])


def test_median_equals_numpy_on_the_cropped_stack(tmp_path: Path) -> None:
    paths = _frames(tmp_path, [(40, 50), (42, 50), (40, 53), (41, 52)])
    result = operations.run("median", {"input_files": [str(p) for p in paths]}, tmp_path / "out")
    (out,) = result.files
    np.testing.assert_array_equal(_sci(out), np.median(_cropped_stack(paths), axis=0))
    assert result.data["shape"] == [40, 50]
    assert result.data["cropped"] == ["f1.fits", "f2.fits", "f3.fits"]


def test_median_in_many_strips_equals_numpy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 7 rows per strip: several strips and a short last one
    monkeypatch.setattr(combine, "STRIP_BYTES", 3 * 50 * 4 * 7)
    paths = _frames(tmp_path, [(40, 50)] * 3)
    progress: list[float] = []
    result = operations.run(
        "median",
        {"input_files": [str(p) for p in paths]},
        tmp_path / "out",
        progress=lambda f, _m: progress.append(f),
    )
    np.testing.assert_array_equal(_sci(result.files[0]), np.median(_cropped_stack(paths), axis=0))
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert len(progress) > 6  # one report per strip


def test_median_of_tile_compressed_and_plain_frames(tmp_path: Path) -> None:
    plain = write_frame(tmp_path / "a.fits", noise=5, seed=1)
    packed = write_frame(tmp_path / "b.fits.fz", noise=5, seed=2, compressed=True)
    primary = write_frame(tmp_path / "c.fits", noise=5, seed=3, extname=None)
    with fits.open(packed) as hdul:
        assert isinstance(hdul["SCI"], fits.CompImageHDU)
    paths = [plain, packed, primary]
    result = operations.run("median", {"input_files": [str(p) for p in paths]}, tmp_path / "out")
    np.testing.assert_array_equal(_sci(result.files[0]), np.median(_cropped_stack(paths), axis=0))


def test_median_leaves_nan_pixels_out(tmp_path: Path) -> None:
    data = [np.random.default_rng(i).normal(100, 5, (20, 30)) for i in range(3)]
    data[0][5, 5] = np.nan
    data[0][6, 6] = data[1][6, 6] = data[2][6, 6] = np.nan
    paths = [write_frame(tmp_path / f"n{i}.fits", d) for i, d in enumerate(data)]
    result = operations.run("median", {"input_files": [str(p) for p in paths]}, tmp_path / "out")
    got = _sci(result.files[0])
    stack = np.stack([d.astype("f4") for d in data])
    assert got[5, 5] == np.median(stack[1:, 5, 5])
    assert np.isnan(got[6, 6])
    mask = np.ones(got.shape, bool)
    mask[5, 5] = mask[6, 6] = False
    np.testing.assert_array_equal(got[mask], np.median(stack, axis=0)[mask])


def test_outputs_name_their_inputs_and_operation_and_get_previews(tmp_path: Path) -> None:
    paths = _frames(tmp_path, [(40, 50), (40, 50)])
    result = operations.run("median", {"input_files": [str(p) for p in paths]}, tmp_path / "out")
    (out,) = result.files
    with fits.open(out) as hdul:
        assert hdul[1].name == "SCI"
        head = hdul[0].header
        assert head["DLABOP"] == "median" and head["DLABVER"] == "1.0"
        assert head["DLNINP"] == 2
        assert (head["DLIN0001"], head["DLIN0002"]) == ("f0.fits", "f1.fits")
        history = "\n".join(str(h) for h in head["HISTORY"])
        assert "median" in history and "f0.fits" in history and "f1.fits" in history
        sci = hdul["SCI"].header
        assert sci["FILTER"] == "rp" and sci["CTYPE1"] == "RA---TAN"  # the first input's cards
    preview = result.previews[out.name]
    assert set(result.images) == {preview.full, preview.thumbnail}
    with Image.open(preview.full) as full, Image.open(preview.thumbnail) as thumb:
        assert full.size == (50, 40)
        assert max(thumb.size) <= 256


def test_large_previews_get_a_small_thumbnail(tmp_path: Path) -> None:
    paths = _frames(tmp_path, [(300, 520), (300, 520)])
    result = operations.run("stack", {"input_files": [str(p) for p in paths]}, tmp_path / "out")
    preview = result.previews["stack.fits"]
    with Image.open(preview.full) as full, Image.open(preview.thumbnail) as thumb:
        assert full.size == (520, 300)
        assert thumb.size == (256, 148)


def test_simple_stack_is_the_sum_cropped(tmp_path: Path) -> None:
    paths = _frames(tmp_path, [(30, 40), (32, 41), (30, 45)], header={"EXPTIME": 30.0})
    result = operations.run("stack", {"input_files": [str(p) for p in paths]}, tmp_path / "out")
    stack = _cropped_stack(paths)
    np.testing.assert_allclose(_sci(result.files[0]), stack.sum(axis=0), rtol=1e-6)
    assert fits.getheader(result.files[0], extname="SCI")["EXPTIME"] == 90.0
    assert result.data["mode"] == "simple"


def test_reprojected_stack_aligns_frames_on_the_sky(tmp_path: Path) -> None:
    from reproject import reproject_interp
    from reproject.mosaicking import find_optimal_celestial_wcs
    from tests.datalab._frames import CENTER

    shape = (40, 40)
    star = [(CENTER[0], CENTER[1], 5000.0)]
    # the same star on the sky, frames pointed 3 and 5 pixels apart
    centers = [CENTER, (CENTER[0] + 3 / 3600, CENTER[1]), (CENTER[0], CENTER[1] + 5 / 3600)]
    paths = [
        write_frame(tmp_path / f"r{i}.fits", shape=shape, sky_stars=star, center=c, sky=10.0)
        for i, c in enumerate(centers)
    ]
    result = operations.run(
        "stack", {"input_files": [str(p) for p in paths], "mode": "reproject"}, tmp_path / "out"
    )
    out = result.files[0]
    data = _sci(out)
    # independently: the same reprojection summed, cropped to where all frames overlap
    inputs = [
        (fits.getdata(p, extname="SCI"), tan_wcs(shape, c))
        for p, c in zip(paths, centers, strict=True)
    ]
    wcs_out, shape_out = find_optimal_celestial_wcs([(shape, w) for _, w in inputs])
    total = np.zeros(shape_out)
    for array, wcs in inputs:
        projected, footprint = reproject_interp((array, wcs), wcs_out, shape_out=shape_out)
        total += np.where(footprint > 0, np.nan_to_num(projected), np.nan)
    finite = total[np.isfinite(total)]
    assert data.shape[0] < shape_out[0] or data.shape[1] < shape_out[1]  # cropped
    np.testing.assert_allclose(np.nanmax(data), finite.max(), rtol=1e-5)
    # the star is where the output's WCS says it is, with three frames' flux
    from astropy.wcs import WCS

    x, y = WCS(fits.getheader(out, extname="SCI")).world_to_pixel_values(*CENTER)
    peak = np.unravel_index(np.nanargmax(data), data.shape)
    assert abs(peak[1] - x) <= 1 and abs(peak[0] - y) <= 1
    assert result.data["reprojected"] is True


def test_subtraction_is_each_input_minus_the_frame(tmp_path: Path) -> None:
    paths = _frames(tmp_path, [(30, 40)] * 3)
    sky = write_frame(tmp_path / "sky.fits.fz", shape=(30, 40), noise=2, seed=9, compressed=True)
    result = operations.run(
        "subtraction",
        {"input_files": [str(p) for p in paths], "subtraction_file": str(sky)},
        tmp_path / "out",
    )
    assert [p.name for p in result.files] == ["f0_sub.fits", "f1_sub.fits", "f2_sub.fits"]
    minus = fits.getdata(sky, extname="SCI")
    for path, out in zip(paths, result.files, strict=True):
        np.testing.assert_array_equal(_sci(out), fits.getdata(path, extname="SCI") - minus)
        assert fits.getheader(out)["DLIN0002"] == "sky.fits.fz"
    assert set(result.previews) == {p.name for p in result.files}
    assert len(result.images) == 6


def test_normalization_divides_by_the_median(tmp_path: Path) -> None:
    data = np.random.default_rng(3).normal(250, 10, (20, 24))
    data[0, 0] = np.nan
    path = write_frame(tmp_path / "flat.fits", data, dtype="f8")
    result = operations.run("normalization", {"input_files": [str(path)]}, tmp_path / "out")
    expected = data / np.nanmedian(data)
    got = _sci(result.files[0])
    assert got.dtype == np.dtype(">f8")
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert result.data["medians"]["flat.fits"] == pytest.approx(np.nanmedian(data))


def test_same_names_in_two_folders_give_two_outputs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = write_frame(tmp_path / "a" / "x.fits")
    two = write_frame(tmp_path / "b" / "x.fits", sky=200.0)
    result = operations.run(
        "normalization", {"input_files": [str(one), str(two)]}, tmp_path / "out"
    )
    assert [p.name for p in result.files] == ["x_norm.fits", "x-2_norm.fits"]


def test_color_image_tints_and_adds_channels(tmp_path: Path) -> None:
    shape = (20, 30)
    ramp = np.tile(np.linspace(0, 100, shape[1]), (shape[0], 1))
    red = write_frame(tmp_path / "r.fits", ramp)
    blue = write_frame(tmp_path / "b.fits.fz", ramp[:, ::-1].copy(), compressed=True)
    result = operations.run(
        "color_image",
        {
            "channels": [
                {"file": str(red), "color": "#ff0000", "zmin": 0, "zmax": 100},
                {"file": str(blue), "color": "#0000FF", "zmin": 0, "zmax": 100},
            ]
        },
        tmp_path / "out",
    )
    assert result.files == ()
    names = sorted(p.name for p in result.images)
    assert names == ["color_image.png", "color_image.tif", "color_image_thumb.png"]
    for name in ("color_image.png", "color_image.tif"):
        with Image.open(tmp_path / "out" / name) as image:
            rgb = np.asarray(image.convert("RGB"))
        assert rgb.shape == (*shape, 3)
        assert tuple(rgb[0, -1]) == (255, 0, 0)  # right: red channel full, blue empty
        assert tuple(rgb[0, 0]) == (0, 0, 255)
        assert (rgb[..., 1] == 0).all()
    levels = result.data["channels"]
    assert levels[0]["zmin"] == 0 and levels[1]["color"] == "#0000FF"


def test_color_image_levels_default_to_zscale(tmp_path: Path) -> None:
    from astropy.visualization import ZScaleInterval

    path = write_frame(tmp_path / "g.fits", noise=5, seed=4)
    result = operations.run(
        "color_image", {"channels": [{"file": str(path), "color": "#00ff00"}]}, tmp_path / "out"
    )
    lo, hi = ZScaleInterval().get_limits(fits.getdata(path, extname="SCI"))
    assert result.data["channels"][0]["zmin"] == pytest.approx(lo, rel=1e-5)
    assert result.data["channels"][0]["zmax"] == pytest.approx(hi, rel=1e-5)


def test_cancelling_stops_and_removes_the_files_written(tmp_path: Path) -> None:
    paths = _frames(tmp_path, [(20, 20)] * 4)
    out = tmp_path / "out"
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 4  # after two frames were written

    with pytest.raises(OperationCancelled):
        operations.run(
            "normalization", {"input_files": [str(p) for p in paths]}, out, cancelled=cancelled
        )
    assert list(out.iterdir()) == []


def test_color_image_aligns_channels_on_the_wcs(tmp_path: Path) -> None:
    from tests.datalab._frames import CENTER

    star = [(CENTER[0], CENTER[1], 20000.0)]
    red = write_frame(tmp_path / "r.fits", shape=(40, 40), sky_stars=star, sky=0.0)
    shifted = (CENTER[0] - 6 / 3600, CENTER[1] + 4 / 3600)  # the star 6 px left, 4 px down
    blue = write_frame(tmp_path / "b.fits", shape=(40, 40), sky_stars=star, sky=0.0, center=shifted)
    channels = [
        {"file": str(red), "color": "#ff0000", "zmin": 0, "zmax": 100},
        {"file": str(blue), "color": "#0000ff", "zmin": 0, "zmax": 100},
    ]
    for align, both in (("crop", False), ("wcs", True)):
        result = operations.run(
            "color_image", {"channels": channels, "align": align}, tmp_path / align
        )
        with Image.open(result.previews["color_image.png"].full) as image:
            rgb = np.asarray(image.convert("RGB"))[::-1]  # back to FITS row order
        star_pixel = rgb[20, 20]  # the star in the red frame (CRPIX 20.5 -> pixel 19.5)
        assert star_pixel[0] == 255
        assert bool(star_pixel[2] == 255) is both


def test_color_image_alignment_needs_a_wcs(tmp_path: Path) -> None:
    from shiftdesk.datalab import OperationInputError

    one = write_frame(tmp_path / "one.fits")
    bare = write_frame(tmp_path / "bare.fits", center=None)
    channels = [{"file": str(one), "color": "#ff0000"}, {"file": str(bare), "color": "#00ff00"}]
    with pytest.raises(OperationInputError) as err:
        operations.validate("color_image", {"channels": channels, "align": "wcs"})
    assert err.value.field == "channels[1].file"
    assert "bare.fits" in str(err.value) and "no celestial WCS" in str(err.value)


def test_a_frame_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    """Inspections are remembered per unchanged file: a file written anew under the same
    name is read again, and a caller changing the header it got changes nobody else's."""
    from shiftdesk.datalab.ops.images import inspect_frame

    path = write_frame(tmp_path / "f.fits", stars=[(10, 10, 500)], shape=(40, 40), filter="rp")
    first = inspect_frame(path, "input_files")
    assert first.shape == (40, 40) and first.filter == "rp"
    first.header["FILTER"] = "changed by a caller"
    again = inspect_frame(path, "other_field")
    assert again.header["FILTER"] == "rp" and again.field == "other_field"

    write_frame(path, stars=[(10, 10, 500)], shape=(30, 50), filter="gp")
    rewritten = inspect_frame(path, "input_files")
    assert rewritten.shape == (30, 50) and rewritten.filter == "gp"
