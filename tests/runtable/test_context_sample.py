"""A context file in DAMNIT's syntax run for real: every kind of result, its cell and its data."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from shiftdesk.runtable import h5store
from shiftdesk.runtable.context.engine import RunOutcome, run_context, validate_context
from shiftdesk.runtable.context.summary import THUMBNAIL_SIZE

SAMPLE = Path(__file__).parent / "contexts" / "sample_context.py"
ENERGY = np.linspace(1.0, 2.0, 50)


def png_size(blob: bytes) -> tuple[int, int]:
    assert blob.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", blob[16:24])
    return width, height


def make_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    with h5py.File(folder / "xgm.h5", "w") as f:
        f["energy"] = ENERGY
    with h5py.File(folder / "extra.h5", "w") as f:
        f["x"] = 1
    return folder


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, RunOutcome]:
    base = tmp_path_factory.mktemp("sample")
    results = {}
    for number in (4, 5):
        folder = make_run(base / "raw" / f"r{number:04d}")
        results[number] = run_context(
            SAMPLE,
            run=number,
            run_path=folder,
            proposal="p4507",
            fragment=base / "frag" / f"r{number:04d}.h5",
            params={"level": 2},
            timeout=120,
        )
    return results


def test_the_sample_validates_clean() -> None:
    assert validate_context(SAMPLE) == []


def test_the_run_completes_with_every_variable(outcomes: dict[int, RunOutcome]) -> None:
    outcome = outcomes[4]
    assert outcome.error is None
    assert outcome.fragment is not None and outcome.fragment.is_file()
    assert not Path(str(outcome.fragment) + ".writing.h5").exists()
    assert set(outcome.variables) == set(outcome.cells) | {"helper"}  # transient: no cell
    assert outcome.variables["helper"].transient
    assert outcome.seconds > 0
    assert all(cell.seconds >= 0 for cell in outcome.cells.values())


def test_a_reduced_1d_array(outcomes: dict[int, RunOutcome]) -> None:
    cell = outcomes[4].cells["xgm_energy"]
    assert cell.kind == "number"
    assert cell.number == pytest.approx(1.5)
    assert cell.max_diff == pytest.approx(1.0)
    assert cell.attributes == {"bold": True, "units": "µJ", "summary_method": "mean"}
    meta = outcomes[4].variables["xgm_energy"]
    assert (meta.title, meta.units, meta.tags) == ("XGM/Energy", "µJ", ("beam", "xgm"))
    assert meta.description == "Pulse energy per train."


def test_an_xarray_line_is_a_sparkline_and_keeps_its_coords(
    outcomes: dict[int, RunOutcome],
) -> None:
    outcome = outcomes[4]
    cell = outcome.cells["xgm_trace"]
    assert cell.kind == "sparkline" and cell.attributes["bold"] is True
    line = np.load(io.BytesIO(cell.blob or b""))
    assert line.dtype == np.float32 and line.shape == (2, 50)
    np.testing.assert_allclose(line[0], np.arange(1000, 1050))
    np.testing.assert_allclose(line[1], ENERGY, rtol=1e-6)
    assert outcome.fragment is not None
    data = h5store.read_data(outcome.fragment, "xgm_trace")
    assert isinstance(data, xr.DataArray)
    assert data.dims == ("trainId",) and data.attrs["units"] == "µJ"
    np.testing.assert_array_equal(data.coords["trainId"], np.arange(1000, 1050))
    np.testing.assert_allclose(data.values, ENERGY)


def test_a_2d_image_is_a_small_thumbnail(outcomes: dict[int, RunOutcome]) -> None:
    outcome = outcomes[4]
    cell = outcome.cells["detector"]
    assert cell.kind == "thumbnail"
    assert png_size(cell.blob or b"") == (64, 48)
    assert cell.max_diff == pytest.approx(48 * 64 - 1)
    assert outcome.fragment is not None
    image = h5store.read_data(outcome.fragment, "detector")
    assert image.shape == (48, 64)


def test_a_figure_is_a_thumbnail_and_pixels(outcomes: dict[int, RunOutcome]) -> None:
    outcome = outcomes[4]
    cell = outcome.cells["figure"]
    assert cell.kind == "thumbnail"
    width, height = png_size(cell.blob or b"")
    assert max(width, height) <= THUMBNAIL_SIZE and width > height
    assert outcome.fragment is not None
    pixels = h5store.read_data(outcome.fragment, "figure")
    assert pixels.ndim == 3 and pixels.shape[2] == 4 and pixels.dtype == np.uint8


def test_a_cell_with_summary_value_bold_and_background(outcomes: dict[int, RunOutcome]) -> None:
    outcome = outcomes[4]
    cell = outcome.cells["peaks"]
    assert (cell.kind, cell.text) == ("string", "3 peaks")
    assert cell.attributes["bold"] is False  # changed during the run, but Cell(bold=False)
    assert cell.attributes["background"] == "#7cfc00"
    assert outcome.fragment is not None
    stored = h5store.read_summary(outcome.fragment, "peaks")
    assert stored is not None
    assert (stored.text, stored.attributes["background"], stored.attributes["bold"]) == (
        "3 peaks",
        "#7cfc00",
        False,
    )
    np.testing.assert_allclose(h5store.read_data(outcome.fragment, "peaks"), ENERGY)


def test_skip_on_even_runs(outcomes: dict[int, RunOutcome]) -> None:
    even, odd = outcomes[4].cells["scan"], outcomes[5].cells["scan"]
    assert (even.kind, even.text, even.attributes["error_cls"]) == (
        "skipped",
        "run is not a scan",
        "Skip",
    )
    assert (odd.kind, odd.number) == ("integer", 5)
    assert outcomes[4].fragment is not None
    assert h5store.read_error(outcomes[4].fragment, "scan") == ("run is not a scan", "Skip")


def test_a_failure_and_its_dependents(outcomes: dict[int, RunOutcome]) -> None:
    cells = outcomes[4].cells
    assert cells["broken"].kind == "error"
    assert cells["broken"].attributes == {
        "error": "division by zero",
        "error_cls": "ZeroDivisionError",
    }
    assert cells["after_broken"].text == (
        "depends on 'broken', which failed: ZeroDivisionError: division by zero"
    )
    assert cells["after_after"].text == (
        "depends on 'after_broken' → 'broken', which failed: ZeroDivisionError: division by zero"
    )
    assert cells["after_after"].attributes["error_cls"] == "DependencyError"
    assert cells["with_default"].number == -1  # the default stands in


def test_meta_param_glob_transient_and_group(outcomes: dict[int, RunOutcome]) -> None:
    outcome = outcomes[4]
    cells = outcome.cells
    assert cells["meta"].text == "p4507/4/r0004/2"
    assert cells["level"].number == 4
    assert cells["xgm_names"].text == "xgm_energy,xgm_trace"
    assert cells["uses_helper"].number == 2
    assert "helper" not in cells
    assert cells["diag.base"].number == 11.0
    assert cells["diag.doubled"].number == 22.0
    base = outcome.variables["diag.doubled"]
    assert (base.title, base.tags, base.dependencies) == ("Diag/Doubled", ("diag",), ("diag.base",))


def test_the_fragment_holds_damnit_layout(outcomes: dict[int, RunOutcome]) -> None:
    fragment = outcomes[4].fragment
    assert fragment is not None
    with h5py.File(fragment, "r") as f:
        assert {".reduced", ".errors", ".preview"} <= set(f)
        assert f[".reduced/xgm_energy"].attrs["summary_method"] == "mean"
        assert f[".reduced/xgm_trace"].attrs["summary_type"] == "trendline"
        png = f[".reduced/detector"][()]
        assert png.dtype == np.uint8 and png[:8].tobytes() == b"\x89PNG\r\n\x1a\n"
        assert f["xgm_trace"].attrs["_damnit_objtype"] == "dataarray"
        assert f["figure"].attrs["_damnit_objtype"] == "image"
        assert f[".errors/broken"].attrs["type"] == "ZeroDivisionError"
    names = h5store.variable_names(fragment)
    assert "helper" not in names and "broken" in names and "diag.doubled" in names
    # the PNG decodes (it is a real PNG, not only its header)
    blob = outcomes[4].cells["detector"].blob or b""
    assert zlib.decompress(blob[blob.index(b"IDAT") + 4 : blob.index(b"IEND") - 8])
