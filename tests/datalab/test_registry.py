"""The operation registry: entry points, schemas, validation, results as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest
from tests.datalab._frames import write_frame

from shiftdesk.datalab import Operation, OperationInputError, OperationResult, Preview, operations
from shiftdesk.errors import ShiftdeskError

NAMES = {
    "median",
    "stack",
    "subtraction",
    "normalization",
    "color_image",
    "aperture_photometry",
    "period_search",
}


def test_the_seven_operations_are_registered_with_a_valid_schema() -> None:
    found = operations.available()
    assert set(found) >= NAMES
    assert operations.problems() == {}
    for name, op in found.items():
        assert isinstance(op, Operation)
        assert op.name == name
        assert op.title and op.description and op.version
        schema = op.input_schema
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        for field, spec in schema["properties"].items():
            assert spec.get("title"), f"{name}.{field} has no title"
            assert spec.get("description"), f"{name}.{field} has no description"
        json.dumps(op.describe())  # what a page receives is JSON


def test_the_schema_declares_files_ranges_choices_and_a_position() -> None:
    median = operations.get("median").input_schema["properties"]["input_files"]
    assert median["x-files"]["min"] == 2 and median["minItems"] == 2
    photometry = operations.get("aperture_photometry").input_schema["properties"]
    assert photometry["input_files"]["x-files"]["single_filter"] is True
    assert photometry["target"]["x-kind"] == "sky-position"
    assert photometry["aperture_radius"]["default"] == 5.0
    assert photometry["aperture_radius"]["exclusiveMinimum"] == 0
    assert operations.get("stack").input_schema["properties"]["mode"]["enum"] == [
        "simple",
        "reproject",
    ]
    assert operations.get("color_image").input_schema["properties"]["channels"]["maxItems"] == 6


def test_input_schema_is_a_copy() -> None:
    op = operations.get("median")
    op.input_schema["properties"].clear()
    assert "input_files" in op.input_schema["properties"]


def test_validate_fills_defaults_and_takes_paths_and_numpy_numbers(tmp_path: Path) -> None:
    import numpy as np

    a = write_frame(tmp_path / "a.fits")
    b = write_frame(tmp_path / "b.fits")
    values = operations.validate("stack", {"input_files": (a, b)})
    assert values == {"input_files": [str(a), str(b)], "mode": "simple"}
    json.dumps(values)
    periods = operations.validate(
        "period_search",
        {"times": np.arange(6.0), "values": np.ones(6), "samples_per_peak": np.int64(3)},
    )
    assert periods["samples_per_peak"] == 3 and periods["fap_method"] == "baluev"
    assert periods["photometry"] is None


def test_an_unknown_operation_lists_the_available_ones() -> None:
    with pytest.raises(OperationInputError) as err:
        operations.get("mean")
    assert err.value.field == "operation"
    assert "'mean'" in str(err.value)
    for name in NAMES:
        assert name in str(err.value)
    assert isinstance(err.value, ShiftdeskError) and isinstance(err.value, ValueError)


def _fake_distribution(folder: Path, lines: str) -> None:
    info = folder / "shiftdesk_fake_ops-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: shiftdesk-fake-ops\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(f"[shiftdesk.datalab.operations]\n{lines}\n")


def test_a_broken_entry_point_is_a_problem_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fake_ops.py").write_text(
        "from shiftdesk.datalab.ops.combine import Median\n"
        "class Mean(Median):\n"
        "    name = 'mean'\n"
        "    title = 'Mean'\n"
        "class Misnamed(Median):\n"
        "    name = 'something_else'\n"
        "not_an_operation = 42\n"
    )
    _fake_distribution(
        tmp_path,
        "mean = fake_ops:Mean\n"
        "broken = no_such_module_here:Thing\n"
        "misnamed = fake_ops:Misnamed\n"
        "number = fake_ops:not_an_operation\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        found = operations.available(refresh=True)
        problems = operations.problems()
        assert "mean" in found and found["mean"].title == "Mean"  # another package adds one
        assert set(found) >= NAMES
        assert set(problems) == {"broken", "misnamed", "number"}
        assert "No module named 'no_such_module_here'" in problems["broken"]
        assert "something_else" in problems["misnamed"]
        assert "neither an Operation" in problems["number"]
        with pytest.raises(OperationInputError, match="failed to load"):
            operations.get("broken")
    finally:
        monkeypatch.undo()
        sys.modules.pop("fake_ops", None)
        operations.available(refresh=True)
    assert operations.problems() == {}


def test_a_result_travels_as_json_with_paths_relative_to_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "results" / "abc"
    result = OperationResult(
        operation="median",
        version="1.0",
        files=(out / "median.fits",),
        images=(out / "median.png", out / "median_thumb.png"),
        previews={"median.fits": Preview(out / "median.png", out / "median_thumb.png")},
        data={"shape": [4, 5], "nan": float("nan")},
    )
    text = result.to_json(relative_to=out)
    assert str(tmp_path) not in text
    assert json.loads(text)["data"]["nan"] is None  # JSON has no NaN
    moved = tmp_path / "elsewhere"
    back = OperationResult.from_json(text, base=moved)
    assert back.files == (moved / "median.fits",)
    assert back.previews["median.fits"].thumbnail == moved / "median_thumb.png"
    absolute = OperationResult.from_json(result.to_json())
    assert absolute.files == result.files and absolute.images == result.images
