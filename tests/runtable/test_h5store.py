"""Per-run HDF5 files: fragments, the locked atomic merge, readers, and DAMNIT's own files."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from tests.runtable.damnit_fixture import (
    COMPUTED,
    expected_value,
    make_damnit_folder,
    png_bytes,
    trendline,
)

from shiftdesk.errors import StorageError
from shiftdesk.runtable import h5store
from shiftdesk.runtable.context.summary import CellSummary, summarise
from shiftdesk.runtable.h5store import StoredResult


def trace(offset: float = 0.0) -> xr.DataArray:
    return xr.DataArray(
        np.arange(5.0) + offset,
        dims=["trainId"],
        coords={"trainId": np.arange(100, 105)},
        attrs={"units": "µJ"},
        name="energy",
    )


def results(prefix: str = "", offset: float = 0.0) -> dict[str, object]:
    arr = np.arange(6.0).reshape(2, 3) + offset
    return {
        f"{prefix}array": StoredResult(data=arr, summary=summarise(arr)),
        f"{prefix}trace": StoredResult(data=trace(offset), summary=summarise(trace(offset))),
        f"{prefix}dataset": StoredResult(
            data=xr.Dataset({"a": ("x", np.arange(3))}, attrs={"note": "hi"})
        ),
        f"{prefix}text": StoredResult(data="LaB6", summary=summarise("LaB6")),
        f"{prefix}number": StoredResult(data=2.5 + offset, summary=summarise(2.5 + offset)),
        f"{prefix}failed": CellSummary.error("division by zero", "ZeroDivisionError"),
    }


def test_a_fragment_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "frag.h5"
    when = datetime(2026, 3, 14, 9, 5, tzinfo=UTC)
    entries = results() | {
        "when": StoredResult(data=when, summary=summarise(when)),
        "cube": np.zeros((2, 3, 4), np.float32),
        "big": StoredResult(data=np.arange(10_000.0), preview=np.arange(10.0)),
        "preview_da": StoredResult(data=np.arange(3), preview=trace()),
        "nothing": StoredResult(summary=CellSummary("empty")),
    }
    assert h5store.write_fragment(path, entries) == {}
    assert not (tmp_path / "frag.h5.writing.h5").exists()
    assert h5store.variable_names(path) == sorted(entries)
    np.testing.assert_array_equal(h5store.read_data(path, "array"), np.arange(6.0).reshape(2, 3))
    da = h5store.read_data(path, "trace")
    assert isinstance(da, xr.DataArray) and da.name == "energy"
    assert da.attrs == {"units": "µJ"}
    np.testing.assert_array_equal(da.coords["trainId"], np.arange(100, 105))
    ds = h5store.read_data(path, "dataset")
    assert isinstance(ds, xr.Dataset) and ds.attrs == {"note": "hi"}
    assert h5store.read_data(path, "text") == "LaB6"
    assert h5store.read_data(path, "number") == 2.5
    assert h5store.read_data(path, "when") == when
    assert h5store.read_data(path, "failed") is None
    assert h5store.read_data(path, "cube").shape == (2, 3, 4)
    np.testing.assert_array_equal(h5store.read_preview(path, "big"), np.arange(10.0))
    assert isinstance(h5store.read_preview(path, "preview_da"), xr.DataArray)
    assert h5store.read_preview(path, "array") is None
    assert h5store.read_error(path, "failed") == ("division by zero", "ZeroDivisionError")
    assert h5store.read_error(path, "array") is None
    for name in ("array", "trace", "text", "number", "when"):
        assert h5store.read_summary(path, name) == entries[name].summary  # type: ignore[attr-defined]
    assert h5store.read_summary(path, "failed") == entries["failed"]
    assert h5store.read_summary(path, "cube") is None  # data without a summary
    assert h5store.read_summary(path, "nothing") == CellSummary("empty")
    assert h5store.read_data(path, "nothing") is None
    with h5py.File(path, "r") as f:
        assert f["big/data"].compression == "gzip"
    with pytest.raises(KeyError, match="holds no variable 'nope'"):
        h5store.read_data(path, "nope")


def test_unstorable_entries_become_errors_and_the_rest_is_written(tmp_path: Path) -> None:
    path = tmp_path / "frag.h5"
    failures = h5store.write_fragment(
        path,
        {
            "objects": StoredResult(data=np.array([object()], dtype=object)),
            "bad_attrs": StoredResult(data=xr.DataArray([1, 2], attrs={"x": {"nested": 1}})),
            "ok": 1.5,
        },
    )
    assert set(failures) == {"objects", "bad_attrs"}
    assert failures["objects"].startswith("cannot store numpy.ndarray")
    assert failures["bad_attrs"].startswith("cannot store xarray.core.dataarray.DataArray")
    assert h5store.read_data(path, "ok") == 1.5
    assert h5store.read_error(path, "objects") == (failures["objects"], "TypeError")
    with h5py.File(path, "r") as f:
        assert "objects" not in f and "bad_attrs" not in f


def test_merging_replaces_variables_wholesale_and_keeps_the_others(tmp_path: Path) -> None:
    run_file = tmp_path / "r0001.h5"
    first, second = tmp_path / "a.h5", tmp_path / "b.h5"
    h5store.write_fragment(first, results())
    h5store.write_fragment(
        second,
        {
            "trace": StoredResult(data=trace(10.0), summary=summarise(trace(10.0))),
            "failed": StoredResult(data=3.0, summary=summarise(3.0)),
            "array": CellSummary.error("now broken", "RuntimeError"),
            "extra": StoredResult(data="new"),
        },
    )
    assert h5store.merge_fragment(first, run_file) == sorted(results())
    assert h5store.merge_fragment(second, run_file, remove=True) == [
        "array",
        "extra",
        "failed",
        "trace",
    ]
    assert not second.exists() and first.exists()
    assert set(h5store.variable_names(run_file)) == set(results()) | {"extra"}
    np.testing.assert_array_equal(h5store.read_data(run_file, "trace").values, np.arange(5.0) + 10)
    assert h5store.read_error(run_file, "failed") is None  # the error went with the old value
    assert h5store.read_data(run_file, "failed") == 3.0
    assert h5store.read_data(run_file, "array") is None  # the old data went with the error
    assert h5store.read_error(run_file, "array") == ("now broken", "RuntimeError")
    assert h5store.read_data(run_file, "text") == "LaB6"  # untouched
    assert isinstance(h5store.read_data(run_file, "dataset"), xr.Dataset)
    assert not list(tmp_path.glob(".*merging*"))
    assert (tmp_path / "r0001.h5.lock").exists()
    # a third merge still reads the xarray groups that earlier merges wrote
    third = tmp_path / "c.h5"
    h5store.write_fragment(third, {"other": 1})
    h5store.merge_fragment(third, run_file)
    assert h5store.read_data(run_file, "trace").attrs["units"] == "µJ"
    # a variable that now returns None loses its old value
    fourth = tmp_path / "d.h5"
    h5store.write_fragment(fourth, {"text": StoredResult(summary=CellSummary("empty"))})
    h5store.merge_fragment(fourth, run_file)
    assert h5store.read_data(run_file, "text") is None
    assert h5store.read_summary(run_file, "text") == CellSummary("empty")


def test_a_damaged_run_file_is_refused_and_kept(tmp_path: Path) -> None:
    run_file = tmp_path / "r0009.h5"
    run_file.write_bytes(b"half a file")
    frag = tmp_path / "f.h5"
    h5store.write_fragment(frag, {"x": 1})
    with pytest.raises(StorageError, match=r"cannot merge into the run file .*move it away"):
        h5store.merge_fragment(frag, run_file)
    assert run_file.read_bytes() == b"half a file"
    assert not list(tmp_path.glob(".*merging*"))


def test_two_processes_merging_at_once_keep_both(tmp_path: Path) -> None:
    run_file = tmp_path / "r0002.h5"
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        import numpy as np
        import xarray as xr
        from shiftdesk.runtable import h5store

        tag, folder = sys.argv[1], Path(sys.argv[2])
        for i in range(5):
            frag = folder / f"{tag}-{i}.h5"
            da = xr.DataArray(np.arange(4.0) + i, dims=["x"], coords={"x": np.arange(4)})
            h5store.write_fragment(frag, {f"{tag}_{i}": da, f"{tag}_n{i}": float(i)})
            h5store.merge_fragment(frag, folder / "r0002.h5", remove=True)
        """
    )
    reader = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from shiftdesk.runtable import h5store

        path, stop = Path(sys.argv[1]), Path(sys.argv[2])
        reads = 0
        while not stop.exists():
            if path.exists():
                names = h5store.variable_names(path)  # raises on a half-written file
                for name in names[:2]:
                    h5store.read_summary(path, name)
                reads += 1
            time.sleep(0.005)
        print(reads)
        """
    )
    stop = tmp_path / "stop"
    watcher = subprocess.Popen(
        [sys.executable, "-c", reader, str(run_file), str(stop)], stdout=subprocess.PIPE
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, tag, str(tmp_path)]) for tag in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    stop.touch()
    out, _ = watcher.communicate(timeout=60)
    assert watcher.returncode == 0  # a reader never saw a half-written file
    assert int(out) > 0
    names = set(h5store.variable_names(run_file))
    expected = {f"{t}_{k}{i}" for t in "ab" for k in ("", "n") for i in range(5)}
    assert names == expected
    for tag in "ab":
        for i in range(5):
            np.testing.assert_array_equal(
                h5store.read_data(run_file, f"{tag}_{i}").values, np.arange(4.0) + i
            )
    assert not list(tmp_path.glob("*.h5.writing.h5")) and not list(tmp_path.glob(".*merging*"))


def test_a_held_lock_makes_the_merge_wait_then_give_up(tmp_path: Path) -> None:
    run_file = tmp_path / "r0003.h5"
    frag = tmp_path / "f.h5"
    h5store.write_fragment(frag, {"x": 1})
    with open(tmp_path / "r0003.h5.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        with pytest.raises(StorageError, match=r"being written by another process.*try again"):
            h5store.merge_fragment(frag, run_file, timeout=0.2)
    assert not run_file.exists()
    h5store.merge_fragment(frag, run_file)
    assert h5store.read_data(run_file, "x") == 1


def test_a_broken_fragment_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(StorageError, match="cannot read the fragment"):
        h5store.merge_fragment(bad, tmp_path / "r.h5")


# -- DAMNIT's files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def damnit_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_damnit_folder(tmp_path_factory.mktemp("damnit") / "amore", runs=4)
    return folder / "extracted_data" / "p1234_r1.h5"


def test_damnit_summaries_are_read(damnit_h5: Path) -> None:
    run = 1
    assert set(h5store.variable_names(damnit_h5)) == set(COMPUTED)
    for name in COMPUTED:
        exp = expected_value(name, run)
        cell = h5store.read_summary(damnit_h5, name)
        assert cell is not None, name
        assert cell.kind == exp["kind"], (name, cell)
        if exp["kind"] in ("number", "integer", "timestamp"):
            assert cell.number == pytest.approx(exp["number"]), name
        if "text" in exp and exp["kind"] in ("string", "text"):
            assert cell.text == exp["text"], name
        if exp["kind"] in ("error", "skipped"):
            assert (cell.text, cell.attributes["error_cls"]) == (exp["error"], exp["error_cls"])
    assert h5store.read_summary(damnit_h5, "detector_image").blob == png_bytes(seed=run)
    sparkline = h5store.read_summary(damnit_h5, "trace")
    assert sparkline is not None
    np.testing.assert_allclose(sparkline.value, trendline(run).astype(np.float32))
    energy = h5store.read_summary(damnit_h5, "xgm_energy")
    assert energy is not None
    assert energy.attributes == {"units": "µJ", "summary_method": "mean"}
    assert energy.max_diff == pytest.approx(0.1)
    phase = h5store.read_summary(damnit_h5, "phase")
    assert phase is not None and phase.value == complex(1, -1)
    motor = h5store.read_summary(damnit_h5, "motor_scan")
    assert motor is not None and motor.attributes["bold"] is True


def test_damnit_data_is_read(damnit_h5: Path) -> None:
    da = h5store.read_data(damnit_h5, "trace")
    assert isinstance(da, xr.DataArray)
    assert da.dims == ("trainId",) and da.attrs["units"] == "µJ"
    np.testing.assert_array_equal(da.coords["trainId"], np.arange(1000, 1020))
    assert h5store.read_data(damnit_h5, "sample_name") == "sample-1"
    assert h5store.read_data(damnit_h5, "n_trains") == 101
    assert h5store.read_data(damnit_h5, "cube").shape == (4, 5, 6)
    assert h5store.read_data(damnit_h5, "phase") == complex(1, -1)
    when = h5store.read_data(damnit_h5, "scan_start")
    assert isinstance(when, datetime)
    assert when.timestamp() == pytest.approx(expected_value("scan_start", 1)["number"])
    assert h5store.read_data(damnit_h5, "bad") is None
    assert h5store.read_error(damnit_h5, "bad") == ("division by zero", "ZeroDivisionError")


def test_merging_into_a_damnit_file_keeps_its_netcdf_groups(
    damnit_h5: Path, tmp_path: Path
) -> None:
    run_file = tmp_path / "p1234_r1.h5"
    run_file.write_bytes(damnit_h5.read_bytes())
    frag = tmp_path / "frag.h5"
    h5store.write_fragment(frag, {"n_trains": StoredResult(data=7, summary=summarise(7))})
    h5store.merge_fragment(frag, run_file)
    assert h5store.read_data(run_file, "n_trains") == 7
    assert isinstance(h5store.read_data(run_file, "trace"), xr.DataArray)
    assert h5store.read_data(run_file, "sample_name") == "sample-1"
