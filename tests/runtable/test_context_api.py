"""The context-file names and DAMNIT's summary rules, as plain functions (no process needed)."""

import io
import struct
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from shiftdesk.runtable.context.api import Cell, Group, Run, Skip, Variable, normalize_colour
from shiftdesk.runtable.context.contextfile import check, collect
from shiftdesk.runtable.context.summary import (
    CellSummary,
    image_png,
    sparkline_array,
    summarise,
)

# -- Variable, Cell, Group -------------------------------------------------------------------


def test_variable_bare_and_with_arguments() -> None:
    @Variable
    def plain(run):  # type: ignore[no-untyped-def]
        """Docstring as description."""

    @Variable(title="T", summary="mean", units="K", tags="a", data="proc", cluster=True)
    def full(run):  # type: ignore[no-untyped-def]
        pass

    assert (plain.name, plain.title, plain.description) == (
        "plain",
        None,
        "Docstring as description.",
    )
    assert (full.name, full.title, full.summary, full.units, full.tags) == (
        "full",
        "T",
        "mean",
        "K",
        ("a",),
    )
    assert (full.data, full.cluster, full.transient) == ("proc", True, False)
    with pytest.raises(TypeError, match="the context engine calls it"):
        full(lambda run: 1)


def test_cell_colours() -> None:
    assert Cell(1, background="#7CFC00").background == "#7cfc00"
    assert Cell(1, background=(255, 0, 16)).background == "#ff0010"
    assert normalize_colour(None) is None
    with pytest.raises(ValueError, match="hex colour like '#ffcc00'"):
        Cell(1, background="red")
    with pytest.raises(TypeError, match="3 values"):
        Cell(1, background=(1, 2))
    with pytest.raises(ValueError, match="0-255"):
        Cell(1, background=(1, 2, 300))


def test_skip_keeps_its_reason() -> None:
    assert Skip("no scan").reason == "no scan"
    assert str(Skip("no scan")) == "no scan"


def test_groups_name_title_tag_and_link_their_variables() -> None:
    @Group(title="XGM", tags="beam")
    class XGM:
        offset: float = 0.0

        @Variable(title="Energy", tags="xgm")
        def energy(self, run):  # type: ignore[no-untyped-def]
            return 1.0 + self.offset

        @Variable(title="Corrected")
        def corrected(self, run, e: "self#energy"):  # type: ignore[no-untyped-def]  # noqa: F821
            return e

    @Group(title="Hutch")
    class Hutch:
        @Variable(title="Ratio")
        def ratio(self, run, e: "self#xgm.energy"):  # type: ignore[no-untyped-def]  # noqa: F821
            return e

    class Child(XGM):  # inherits the variables and the group's defaults
        @Variable(title="Extra")
        def extra(self, run):  # type: ignore[no-untyped-def]
            return 2

    namespace = {
        "sa1": XGM(offset=1.0),
        "hed": XGM(title="HED XGM", sep=" · ", tags=["hed"]),
        "hutch": Hutch(),
        "child": Child(name="kid", title="Kid"),
    }
    namespace["hutch"].xgm = XGM(title="Inner")  # type: ignore[attr-defined]
    specs = collect(namespace)
    assert check(specs) == []
    assert specs["sa1.energy"].title == "XGM/Energy"
    assert specs["sa1.energy"].tags == ("xgm", "beam")
    assert specs["hed.corrected"].title == "HED XGM · Corrected"
    assert specs["hed.energy"].tags == ("xgm", "hed")
    assert specs["sa1.corrected"].dependencies == ["sa1.energy"]
    assert specs["hutch.ratio"].dependencies == ["hutch.xgm.energy"]
    assert specs["hutch.xgm.energy"].title == "Hutch/Inner/Energy"
    assert {"kid.energy", "kid.corrected", "kid.extra"} <= set(specs)
    assert specs["sa1.energy"].func(None) == 2.0
    # two instances with the class's default title clash, and the check says so
    clash = check(collect({"a": XGM(), "b": XGM()}))
    assert any("same title 'XGM/Energy'" in p.message for p in clash)
    with pytest.raises(TypeError, match="reserved fields"):

        @Group
        class Bad:
            name: str = "x"


def test_run_files_and_h5(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.h5", "a.h5", "sub/c.h5", "notes.txt"):
        with (
            h5py.File(tmp_path / name, "w")
            if name.endswith(".h5")
            else open(tmp_path / name, "w") as handle
        ):
            if name.endswith(".h5"):
                handle["x"] = 1
    run = Run(3, tmp_path, "p1")
    assert [p.name for p in run.files("*.h5")] == ["a.h5", "b.h5"]
    assert [p.name for p in run.files("**/*.h5")] == ["a.h5", "b.h5", "c.h5"]
    with run.open_h5("a.h5") as f:
        assert f["x"][()] == 1
    assert run.h5("sub/c.h5").mode == "r"
    with pytest.raises(FileNotFoundError, match=r"2 files match '\*.h5'.*a.h5, b.h5"):
        run.open_h5("*.h5")
    with pytest.raises(FileNotFoundError, match=r"no file matches 'z\.h5'"):
        run.open_h5("z.h5")
    run.close()


# -- summaries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "number", "text"),
    [
        (3, "integer", 3, None),
        (np.int32(3), "integer", 3, None),
        (2.5, "number", 2.5, None),
        (np.float32(0.5), "number", 0.5, None),
        (True, "boolean", True, None),
        (np.array(7.0), "number", 7.0, None),
        ("LaB6", "string", None, "LaB6"),
        (None, "empty", None, None),
        (np.zeros((2, 3, 4), np.float32), "text", None, "float32: (2, 3, 4)"),
        (xr.DataArray(1.5), "number", 1.5, None),
    ],
)
def test_scalar_and_fallback_rules(value: object, kind: str, number: object, text: object) -> None:
    cell = summarise(value)
    assert (cell.kind, cell.number, cell.text) == (kind, number, text)
    assert type(cell.number) is type(number)


def test_timestamps_and_complex() -> None:
    when = datetime(2026, 3, 14, 9, 5, tzinfo=UTC)
    assert summarise(when).number == when.timestamp()
    assert summarise(np.datetime64("2026-03-14T09:05:00")).number == when.timestamp()
    cell = summarise(1 + 2j)
    assert cell.kind == "complex" and cell.value == 1 + 2j
    assert struct.unpack("<dd", cell.blob or b"") == (1.0, 2.0)


def test_the_named_reduction_and_its_fall_through() -> None:
    data = np.array([1.0, 2.0, 6.0])
    cell = summarise(data, summary="mean")
    assert (cell.kind, cell.number, cell.max_diff) == ("number", 3.0, 5.0)
    assert cell.attributes == {"bold": True, "summary_method": "mean"}
    lines: list[str] = []
    failed = summarise(data, summary="no_such_function", log=lines.append)
    assert failed.kind == "sparkline"
    assert "summary 'no_such_function' failed" in lines[0]
    assert summarise(data, summary="sort").kind == "sparkline"  # not a scalar: default


def test_explicit_summary_value_wins() -> None:
    cell = summarise(np.arange(5), summary="mean", summary_value="five", bold=False)
    assert (cell.kind, cell.text, cell.attributes) == ("string", "five", {"bold": False})
    assert cell.max_diff == 4.0
    with pytest.raises(TypeError, match="summary_value must be a number or a string"):
        summarise(1, summary_value=[1, 2])


def test_bold_only_when_the_value_changed() -> None:
    assert "bold" not in summarise(np.ones(5)).attributes
    assert summarise(np.ones(5)).max_diff == 0.0
    assert summarise(np.array([True, False])).max_diff == 1.0
    assert summarise(np.array([True, True])).max_diff == 0.0
    assert summarise(np.array([np.nan, 1.0, 3.0])).max_diff == 2.0
    assert summarise(np.arange(3), bold=True).attributes["bold"] is True


def test_preview_drives_the_thumbnail_but_text_describes_the_data() -> None:
    cube = np.zeros((3, 4, 5))
    cell = summarise(cube, preview=np.ones((10, 20)))
    assert cell.kind == "thumbnail"
    assert summarise(cube).text == "float64: (3, 4, 5)"


def test_a_dataset_is_text() -> None:
    ds = xr.Dataset({"a": ("x", np.zeros(125_000))})
    assert summarise(ds).text == "Dataset (1.00 MB)"


def test_sparklines_keep_peaks_and_stay_short() -> None:
    y = np.zeros(10_000)
    y[4321] = 9.0
    line = sparkline_array(y)
    assert line.shape[0] == 2 and line.shape[1] <= 210
    assert line[1].max() == 9.0 and 4321 in line[0]
    dates = xr.DataArray(
        [1.0, 2.0], dims=["t"], coords={"t": np.array(["2026-01-01", "2026-01-02"], "M8[s]")}
    )
    assert np.diff(sparkline_array(dates)[0])[0] == 86_400


def test_thumbnails_fit_the_size() -> None:
    png = image_png(np.random.default_rng(0).random((600, 300)))
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (75, 150)
    assert image_png(np.full((4, 4), np.nan)).startswith(b"\x89PNG")


def test_cell_summary_json_round_trip() -> None:
    cell = summarise(np.arange(50.0), units="mm")
    cell.seconds = 0.25
    again = CellSummary.from_json(cell.to_json())
    assert again == cell
    assert isinstance(np.load(io.BytesIO(again.blob or b"")), np.ndarray)
    error = CellSummary.error("nope", "Skip")
    assert error.kind == "skipped" and error.attributes == {"error": "nope", "error_cls": "Skip"}
    assert CellSummary.from_json(summarise(True).to_json()).number is True
    assert CellSummary.from_json(summarise(7).to_json()).number == 7
