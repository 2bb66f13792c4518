"""The content key and the store: what makes two requests identical, where files go."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.datalab._frames import write_frame

from shiftdesk.datalab import operations
from shiftdesk.datalab.cache import (
    cache_key,
    file_sha256,
    map_files,
    owner_folder,
    result_folder,
    store_file,
)
from shiftdesk.datalab.demo import FRAMES, write_frames


@pytest.fixture
def two(tmp_path: Path) -> list[Path]:
    return [
        write_frame(tmp_path / "a.fits", stars=[(10, 10, 500)]),
        write_frame(tmp_path / "b.fits", stars=[(30, 20, 700)]),
    ]


def _key(name: str, inputs: dict[str, object], version: str | None = None) -> str:
    op = operations.get(name)
    values = op.validate(inputs)
    hashes: dict[str, str] = {}
    map_files(op.input_schema, values, lambda _f, p: hashes.setdefault(p, file_sha256(p)))
    return cache_key(op.name, version or op.version, op.input_schema, values, hashes)


def test_the_key_covers_contents_not_names(two: list[Path], tmp_path: Path) -> None:
    key = _key("median", {"input_files": [str(p) for p in two]})
    renamed = tmp_path / "other"
    renamed.mkdir()
    copies = [shutil.copy(p, renamed / f"x_{p.name}") for p in two]
    assert _key("median", {"input_files": [str(p) for p in copies]}) == key
    changed = write_frame(renamed / "x_b.fits", stars=[(30, 20, 701)])
    assert _key("median", {"input_files": [copies[0], str(changed)]}) != key


def test_the_key_covers_operation_version_and_parameters(two: list[Path]) -> None:
    files = [str(p) for p in two]
    stack = _key("stack", {"input_files": files})
    assert stack == _key("stack", {"input_files": files, "mode": "simple"})  # defaults filled
    assert stack != _key("stack", {"input_files": files, "mode": "reproject"})
    assert stack != _key("median", {"input_files": files})
    assert stack != _key("stack", {"input_files": files}, version="99")
    assert len(stack) == 64 and int(stack, 16) >= 0


def test_files_nested_in_fields_are_keyed_by_content(two: list[Path], tmp_path: Path) -> None:
    schema = operations.get("color_image").input_schema
    value = {"channels": [{"file": "a", "color": "#ff0000"}, {"file": "b", "color": "#00ff00"}]}
    seen: list[tuple[str, object]] = []
    map_files(schema, value, lambda field, item: seen.append((field, item)))
    assert seen == [("channels[0].file", "a"), ("channels[1].file", "b")]
    channels = [{"file": str(two[0]), "color": "#ff0000"}]
    copy = shutil.copy(two[0], tmp_path / "renamed.fits")
    assert _key("color_image", {"channels": channels}) == _key(
        "color_image", {"channels": [{"file": str(copy), "color": "#ff0000"}]}
    )
    assert _key("color_image", {"channels": channels}) != _key(
        "color_image", {"channels": [{"file": str(two[0]), "color": "#0000ff"}]}
    )


def test_the_store_keeps_one_copy_per_content_and_owner(two: list[Path], tmp_path: Path) -> None:
    sha = file_sha256(two[0])
    first = store_file("alice", two[0], sha, "a.fits")
    copy = shutil.copy(two[0], tmp_path / "same.fits")
    assert store_file("alice", Path(copy), sha, "same.fits") == first
    assert first.read_bytes() == two[0].read_bytes() and first.name == "a.fits"
    theirs = store_file("bob", two[0], sha, "a.fits")
    assert theirs != first and theirs.is_relative_to(owner_folder("bob"))
    assert result_folder("alice", "ab" * 32, 7).is_relative_to(owner_folder("alice"))
    assert result_folder("alice", "ab" * 32, 7) != result_folder("alice", "ab" * 32, 8)
    for bad in ("", "..", "a/b"):
        with pytest.raises(ValueError):
            owner_folder(bad)


def test_the_demo_frames_are_deterministic_images(tmp_path: Path) -> None:
    first = write_frames(tmp_path / "one")
    second = write_frames(tmp_path / "two")
    assert len(first) == len(FRAMES) == 7
    # the DATE card aside (none is written), the same bytes every time
    assert [file_sha256(p) for p in first] == [file_sha256(p) for p in second]
    values = operations.validate("median", {"input_files": [str(p) for p in first[:5]]})
    assert len(values["input_files"]) == 5
