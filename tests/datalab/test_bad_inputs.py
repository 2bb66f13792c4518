"""Bad input: each refused with a message naming the field (and the file), nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from tests.datalab._frames import write_frame

from shiftdesk.datalab import OperationInputError, operations


def _refused(name: str, inputs: dict[str, Any], out: Path, field: str, *words: str) -> str:
    with pytest.raises(OperationInputError) as err:
        operations.run(name, inputs, out)
    assert err.value.field == field, str(err.value)
    message = str(err.value)
    assert message.startswith(f"{field}: ")
    for word in words:
        assert word in message, message
    assert not out.exists() or list(out.iterdir()) == []  # nothing half-made
    return message


@pytest.fixture
def two(tmp_path: Path) -> list[str]:
    return [str(write_frame(tmp_path / f"ok{i}.fits", noise=3, seed=i)) for i in range(2)]


def test_a_file_that_is_not_fits(tmp_path: Path, two: list[str]) -> None:
    text = tmp_path / "notes.fits"
    text.write_text("not a FITS file at all\n" * 200)
    _refused(
        "median", {"input_files": [*two, str(text)]}, tmp_path / "out",
        "input_files", "notes.fits", "not a readable FITS file",
    )  # fmt: skip


def test_a_missing_file(tmp_path: Path, two: list[str]) -> None:
    _refused(
        "median", {"input_files": [*two, str(tmp_path / "gone.fits")]}, tmp_path / "out",
        "input_files", "gone.fits", "no such file",
    )  # fmt: skip


def test_a_fits_without_image_data(tmp_path: Path, two: list[str]) -> None:
    table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=[1.0, 2.0])])
    path = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    _refused(
        "median", {"input_files": [*two, str(path)]}, tmp_path / "out",
        "input_files", "table.fits", "no image data",
    )  # fmt: skip


def test_a_cube_is_not_an_image(tmp_path: Path, two: list[str]) -> None:
    path = tmp_path / "cube.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((3, 4, 5), "f4"))]).writeto(path)
    _refused(
        "stack", {"input_files": [*two, str(path)]}, tmp_path / "out",
        "input_files", "cube.fits", "3-D",
    )  # fmt: skip


def test_subtraction_refuses_other_shapes_where_median_crops(tmp_path: Path) -> None:
    small = write_frame(tmp_path / "small.fits", shape=(30, 40))
    big = write_frame(tmp_path / "big.fits", shape=(32, 40))
    _refused(
        "subtraction",
        {"input_files": [str(big)], "subtraction_file": str(small)},
        tmp_path / "out",
        "input_files",
        "big.fits",
        "small.fits",
        "40 x 32",
        "40 x 30",
    )
    result = operations.run("median", {"input_files": [str(small), str(big)]}, tmp_path / "ok")
    assert result.data["cropped"] == ["big.fits"]


def test_reproject_needs_a_wcs_and_names_the_file(tmp_path: Path, two: list[str]) -> None:
    bare = write_frame(tmp_path / "no_wcs.fits", center=None)
    _refused(
        "stack", {"input_files": [*two, str(bare)], "mode": "reproject"}, tmp_path / "out",
        "input_files", "no_wcs.fits", "no celestial WCS",
    )  # fmt: skip
    operations.run("stack", {"input_files": [*two, str(bare)]}, tmp_path / "simple")


@pytest.mark.parametrize("name", ["median", "stack", "normalization"])
def test_a_nan_only_frame(tmp_path: Path, two: list[str], name: str) -> None:
    path = write_frame(tmp_path / "blank.fits", np.full((48, 64), np.nan))
    _refused(
        name, {"input_files": [*two, str(path)]}, tmp_path / "out",
        "input_files", "blank.fits", "no finite pixel",
    )  # fmt: skip


def test_a_nan_only_frame_to_subtract(tmp_path: Path, two: list[str]) -> None:
    path = write_frame(tmp_path / "blank.fits", np.full((48, 64), np.nan))
    _refused(
        "subtraction", {"input_files": two, "subtraction_file": str(path)}, tmp_path / "out",
        "subtraction_file", "blank.fits", "no finite pixel",
    )  # fmt: skip


def test_too_few_and_too_many_files(tmp_path: Path, two: list[str]) -> None:
    _refused(
        "median", {"input_files": two[:1]}, tmp_path / "out",
        "input_files", "1 file(s) given", "at least 2",
    )  # fmt: skip
    many = [f"frame_{i}.fits" for i in range(1000)]  # refused before any is opened
    _refused(
        "median", {"input_files": many}, tmp_path / "out",
        "input_files", "1000 file(s) given", "at most 999",
    )  # fmt: skip
    channels = [{"file": two[0], "color": "#ffffff"}] * 7
    _refused(
        "color_image", {"channels": channels}, tmp_path / "out",
        "channels", "7 item(s)", "at most 6",
    )  # fmt: skip
    _refused("stack", {}, tmp_path / "out", "input_files", "is required")


def test_frames_in_more_than_one_filter(tmp_path: Path) -> None:
    frames = [write_frame(tmp_path / f"r{i}.fits", filter="rp") for i in range(3)]
    frames.append(write_frame(tmp_path / "g.fits", filter="gp"))
    frames.append(write_frame(tmp_path / "none.fits", filter=None))
    message = _refused(
        "aperture_photometry",
        {"input_files": [str(p) for p in frames], "target": {"ra": 150.0, "dec": 2.0}},
        tmp_path / "out",
        "input_files",
        "one filter",
        "rp: r0.fits, r1.fits, r2.fits",
        "gp: g.fits",
        "no FILTER card: none.fits",
    )
    assert "several" in message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"aperture_radius": -1}, "aperture_radius", ["-1", "greater than 0"]),
        ({"aperture_radius": 500}, "aperture_radius", ["above the maximum 100"]),
        ({"aperture_radius": "big"}, "aperture_radius", ["must be a number"]),
        ({"min_comparison_stars": 2.5}, "min_comparison_stars", ["whole number"]),
        ({"annulus_inner": 3}, "annulus_inner", ["inside the aperture"]),
        ({"annulus_outer": 8}, "annulus_outer", ["larger than the inner radius 8"]),
        ({"target": {"ra": 400, "dec": 0}}, "target.ra", ["above the maximum 360"]),
        ({"target": {"ra": 10}}, "target.dec", ["is required"]),
        ({"target": {"ra": 10.0, "dec": -30.0}}, "target", ["falls in none of the frames"]),
        ({"min_comparison_stars": 9, "max_comparison_stars": 4}, "min_comparison_stars", ["9"]),
        ({"colour": "red"}, "colour", ["not an input", "aperture_radius"]),
    ],
)
def test_photometry_parameters_out_of_range(
    tmp_path: Path, two: list[str], change: dict[str, Any], field: str, words: list[str]
) -> None:
    inputs = {"input_files": two, "target": {"ra": 150.0, "dec": 2.0}, **change}
    _refused("aperture_photometry", inputs, tmp_path / "out", field, *words)


def test_photometry_needs_a_wcs_and_a_time(tmp_path: Path, two: list[str]) -> None:
    target = {"ra": 150.0, "dec": 2.0}
    bare = write_frame(tmp_path / "bare.fits", center=None)
    _refused(
        "aperture_photometry", {"input_files": [*two, str(bare)], "target": target},
        tmp_path / "out", "input_files", "bare.fits", "no celestial WCS",
    )  # fmt: skip
    timeless = write_frame(tmp_path / "when.fits", date_obs=None)
    _refused(
        "aperture_photometry", {"input_files": [*two, str(timeless)], "target": target},
        tmp_path / "out", "input_files", "when.fits", "MJD-OBS or DATE-OBS",
    )  # fmt: skip
    odd = write_frame(tmp_path / "odd.fits", date_obs="yesterday")
    _refused(
        "aperture_photometry", {"input_files": [*two, str(odd)], "target": target},
        tmp_path / "out", "input_files", "odd.fits", "'yesterday'",
    )  # fmt: skip


def test_colour_channel_rules(tmp_path: Path, two: list[str]) -> None:
    out = tmp_path / "out"
    _refused(
        "color_image", {"channels": [{"file": two[0], "color": "red"}]}, out,
        "channels[0].color", "#rrggbb",
    )  # fmt: skip
    _refused(
        "color_image",
        {"channels": [{"file": two[0], "color": "#ff0000"},
                      {"file": two[1], "color": "#00ff00", "zmin": 5, "zmax": 5}]},
        out, "channels[1].zmax", "above the black level",
    )  # fmt: skip
    _refused(
        "color_image", {"channels": [{"file": str(tmp_path / "x.fits"), "color": "#00ff00"}]},
        out, "channels[0].file", "no such file",
    )  # fmt: skip
    _refused("color_image", {"channels": [{"color": "#00ff00"}]}, out, "channels[0].file")


def test_choices_and_period_search_inputs(tmp_path: Path, two: list[str]) -> None:
    out = tmp_path / "out"
    _refused(
        "stack", {"input_files": two, "mode": "mosaic"}, out,
        "mode", "'mosaic'", "'simple', 'reproject'",
    )  # fmt: skip
    _refused("period_search", {}, out, "times", "is required")
    _refused(
        "period_search", {"times": [1, 2, 3, 4, 5, 6], "values": [1, 2, 3]}, out,
        "values", "3 numbers", "times has 6",
    )  # fmt: skip
    _refused(
        "period_search", {"times": [1, 2, 3], "values": [1, 2, 3]}, out,
        "values", "3 usable point(s)", "at least 5",
    )  # fmt: skip
    series = {"times": [1.0, 2, 3, 4, 5, 6], "values": [1.0, 2, 1, 2, 1, 2]}
    _refused(
        "period_search", {**series, "photometry": {"light_curve": []}}, out,
        "photometry", "not both",
    )  # fmt: skip
    _refused(
        "period_search", {**series, "errors": [1, 1, 0, 1, 1, 1]}, out,
        "errors", "positive", "item 2",
    )  # fmt: skip
    _refused(
        "period_search", {**series, "minimum_period": 2, "maximum_period": 1}, out,
        "maximum_period", "longer",
    )  # fmt: skip
    _refused(
        "period_search", {**series, "samples_per_peak": 0}, out,
        "samples_per_peak", "below the minimum 1",
    )  # fmt: skip
    _refused("period_search", {"photometry": {"rows": []}}, out, "photometry", "light_curve")


def test_inputs_that_are_not_a_dict() -> None:
    with pytest.raises(OperationInputError) as err:
        operations.validate("median", ["a.fits", "b.fits"])  # type: ignore[arg-type]
    assert err.value.field is None
    assert "must be a dict" in str(err.value)


def test_a_filter_the_operation_does_not_take(tmp_path: Path) -> None:
    from typing import ClassVar

    from shiftdesk.datalab.ops.arithmetic import Normalization
    from shiftdesk.datalab.ops.base import files_field, object_schema

    class RedOnly(Normalization):
        name: ClassVar[str] = "red_only"
        schema: ClassVar[dict[str, Any]] = object_schema(
            {"input_files": files_field("Frames", "Red frames.", filters=["rp", "ip"])},
            ["input_files"],
        )

    red = write_frame(tmp_path / "red.fits", filter="ip")
    green = write_frame(tmp_path / "green.fits", filter="gp")
    assert RedOnly().validate({"input_files": [str(red)]})["input_files"] == [str(red)]
    with pytest.raises(OperationInputError) as err:
        RedOnly().validate({"input_files": [str(red), str(green)]})
    assert (
        str(err.value) == "input_files: green.fits: is in filter 'gp'; this operation takes rp, ip"
    )
