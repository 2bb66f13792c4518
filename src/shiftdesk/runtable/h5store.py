"""Full results of a run table: one HDF5 file per run, in DAMNIT's layout.

Layout of a run file (and of a fragment, which holds the variables of one processing)::

    /<name>/data          the full result: array, number, string; a figure as RGBA pixels
                          (group attr ``_damnit_objtype="image"``); a timestamp as UTC
                          epoch seconds (``_damnit_objtype="timestamp"``)
    /<name>               an xarray object instead: a NetCDF4 group written by h5netcdf
                          (``_damnit_objtype`` ``"dataarray"`` or ``"dataset"``)
    /.reduced/<name>      the table value: scalar, string, PNG bytes (uint8), or a 2×N
                          sparkline (attr ``summary_type="trendline"``); attrs
                          ``summary_method``, ``max_diff``, ``bold``, ``background``
                          (uint8 RGB), ``units``, ``summary_type`` (``timestamp``) and
                          shiftdesk's own ``shiftdesk_kind`` and ``seconds``
    /.preview/<name>      an optional preview (array, DataArray group, figure pixels)
    /.errors/<name>       the message of a failed or skipped variable (attr ``type``:
                          the exception class, ``"Skip"`` for skips)

Writing never leaves a half-written file where a reader looks: :func:`write_fragment`
writes ``<path>.writing.h5`` and renames it; :func:`merge_fragment` takes an exclusive
``fcntl.flock`` on ``<run file>.lock``, merges into a temporary copy of the run file and
``os.replace``-s it, so there is one writer at a time and readers see the old file or the
new one. Files written by DAMNIT itself are read the same way.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import importlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from shiftdesk.errors import StorageError
from shiftdesk.runtable.context.summary import (
    CellSummary,
    as_figure,
    figure_array,
    is_dataset,
    is_figure,
    is_xarray,
)

__all__ = [
    "StoredResult",
    "merge_fragment",
    "read_data",
    "read_error",
    "read_preview",
    "read_summary",
    "variable_names",
    "write_fragment",
]

OBJTYPE = "_damnit_objtype"
#: the name xarray gives the variable of a DataArray saved as a dataset
DATAARRAY_VARIABLE = "__xarray_dataarray_variable__"
DATAARRAY_NAME = "__xarray_dataarray_name__"
_SPECIAL = (".reduced", ".preview", ".errors")
_COMPRESS_ABOVE = 4096  # elements; smaller arrays are stored contiguous
_PNG = b"\x89PNG\r\n\x1a\n"
_SHAPE_TEXT = re.compile(r"^[\w<>|]+: \(.*\)$")


@dataclass(slots=True)
class StoredResult:
    """What one variable contributes to a fragment.

    Attributes
    ----------
    data : object
        The full result (None: nothing under ``<name>/data``).
    summary : CellSummary or None
        The table value (``error``/``skipped`` summaries go to ``.errors``).
    preview : object
        An optional preview (array, DataArray or figure).
    """

    data: Any = None
    summary: CellSummary | None = None
    preview: Any = None


def _h5py() -> Any:
    return importlib.import_module("h5py")


# -- writing ---------------------------------------------------------------------------------


def write_fragment(
    path: str | os.PathLike[str],
    results: Mapping[str, StoredResult | CellSummary | Any],
    *,
    provenance: str = "context.py",
) -> dict[str, str]:
    """Write a fragment: the given variables in the run-file layout, renamed into place.

    Parameters
    ----------
    path : path-like
        The fragment's final path; it is written as ``<path>.writing.h5`` first.
    results : mapping
        Variable name → :class:`StoredResult`, a bare :class:`CellSummary` (summary
        only), or bare data (stored without a summary).
    provenance : str
        Stored as the file attribute ``provenance``.

    Returns
    -------
    dict
        Variables that could not be stored → why (``"cannot store <type>: ..."``). Their
        partial objects are removed and the reason is stored in ``.errors`` instead;
        every other variable is saved.
    """
    final = Path(path)
    tmp = final.with_name(final.name + ".writing.h5")
    h5py = _h5py()
    failures: dict[str, str] = {}
    netcdf: list[tuple[str, Any]] = []
    entries = {name: _entry(value) for name, value in results.items()}
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["provenance"] = provenance
            for group in _SPECIAL:
                f.require_group(group)
            for name, entry in entries.items():
                try:
                    _write_one(f, name, entry, netcdf)
                except Exception as exc:
                    _remove(f, name)
                    netcdf[:] = [(p, o) for p, o in netcdf if p not in (name, f".preview/{name}")]
                    failures[name] = f"cannot store {_type_name(entry.data)}: {exc}"
        for where, obj in netcdf:
            name = where.removeprefix(".preview/")
            try:
                _write_xarray(tmp, where, obj)
            except Exception as exc:
                failures[name] = f"cannot store {_type_name(obj)}: {exc}"
                with h5py.File(tmp, "a") as f:
                    _remove(f, name)
        if failures:
            with h5py.File(tmp, "a") as f:
                for name, message in failures.items():
                    _remove(f, name)
                    ds = f.create_dataset(f".errors/{name}", data=message)
                    ds.attrs["type"] = "TypeError"
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return failures


def _type_name(obj: Any) -> str:
    kind = type(obj)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def _entry(value: StoredResult | CellSummary | Any) -> StoredResult:
    if isinstance(value, StoredResult):
        return value
    if isinstance(value, CellSummary):
        return StoredResult(summary=value)
    return StoredResult(data=value)


def _remove(f: Any, name: str) -> None:
    for where in (name, *(f"{group}/{name}" for group in _SPECIAL)):
        if where in f:
            del f[where]


def _write_one(f: Any, name: str, entry: StoredResult, netcdf: list[tuple[str, Any]]) -> None:
    summary = entry.summary
    if summary is not None:
        if summary.kind in ("error", "skipped"):
            message = summary.text or summary.attributes.get("error") or ""
            ds = f.create_dataset(f".errors/{name}", data=str(message))
            ds.attrs["type"] = str(summary.attributes.get("error_cls") or "Exception")
        elif summary.kind != "empty":
            _write_summary(f, name, summary)
    if entry.data is not None:
        _write_object(f, name, entry.data, netcdf, data=True)
    if entry.preview is not None:
        _write_object(f, f".preview/{name}", entry.preview, netcdf, data=False)
    if name not in f and f".reduced/{name}" not in f and f".errors/{name}" not in f:
        # an empty result (None) still replaces an older value when merged
        f.create_group(name)


def _write_summary(f: Any, name: str, summary: CellSummary) -> None:
    h5py = _h5py()
    kind = summary.kind
    attrs: dict[str, Any] = {"shiftdesk_kind": kind, "seconds": float(summary.seconds)}
    value: Any
    if kind in ("number", "timestamp"):
        value = np.float64(summary.number if summary.number is not None else np.nan)
        if kind == "timestamp":
            attrs["summary_type"] = "timestamp"
    elif kind == "integer":
        value = np.int64(summary.number or 0)
    elif kind == "boolean":
        value = np.bool_(bool(summary.number))
    elif kind == "complex":
        value = np.complex128(summary.value)
    elif kind == "thumbnail":
        value = np.frombuffer(summary.blob or b"", dtype=np.uint8)
    elif kind == "sparkline":
        value = np.asarray(summary.value)
        attrs["summary_type"] = "trendline"
    else:  # string, text
        value = summary.text or ""
    if isinstance(value, str):
        ds = f.create_dataset(f".reduced/{name}", data=value, dtype=h5py.string_dtype())
    else:
        ds = f.create_dataset(f".reduced/{name}", data=value)
    if summary.max_diff is not None:
        attrs["max_diff"] = float(summary.max_diff)
    for key in ("summary_method", "units"):
        if summary.attributes.get(key) is not None:
            attrs[key] = str(summary.attributes[key])
    if summary.attributes.get("bold") is not None:
        attrs["bold"] = bool(summary.attributes["bold"])
    background = summary.attributes.get("background")
    if background:
        attrs["background"] = np.frombuffer(bytes.fromhex(background[1:]), dtype=np.uint8)
    ds.attrs.update(attrs)


def _write_object(
    f: Any, where: str, obj: Any, netcdf: list[tuple[str, Any]], *, data: bool
) -> None:
    """Write ``obj`` at ``where`` (``<where>/data`` for full data); xarray is deferred."""
    h5py = _h5py()
    if is_xarray(obj):
        netcdf.append((where, obj))
        return
    attrs: dict[str, Any] = {}
    value: Any
    if is_figure(obj):
        value = figure_array(as_figure(obj))
        attrs[OBJTYPE] = "image"
    elif isinstance(obj, datetime):
        stamp = obj if obj.tzinfo is not None else obj.replace(tzinfo=UTC)
        value = np.float64(stamp.timestamp())
        attrs[OBJTYPE] = "timestamp"
    elif isinstance(obj, np.datetime64) or (isinstance(obj, np.ndarray) and obj.dtype.kind == "M"):
        value = np.asarray(obj).astype("datetime64[us]").astype(np.int64) / 1e6
        attrs[OBJTYPE] = "timestamp"
    elif isinstance(obj, str):
        value = obj
    elif isinstance(obj, bytes):
        value = np.void(obj)
    else:
        value = np.asarray(obj)
        if value.dtype.hasobject:
            raise TypeError(
                "only numbers, strings, numeric arrays, xarray objects and figures can be stored"
            )
        if value.dtype.kind == "U":
            value = value.astype(h5py.string_dtype())
    target = f"{where}/data" if data else where
    options: dict[str, Any] = {}
    if isinstance(value, np.ndarray) and value.size > _COMPRESS_ABOVE:
        options = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    if isinstance(value, str):
        ds = f.create_dataset(target, data=value, dtype=h5py.string_dtype())
    else:
        ds = f.create_dataset(target, data=value, **options)
    holder = f[where] if data else ds
    holder.attrs.update(attrs)


def _write_xarray(path: Path, group: str, obj: Any) -> None:
    """Save an xarray object as a NetCDF4 group of an existing HDF5 file (h5netcdf)."""
    if is_dataset(obj):
        dataset = obj.copy(deep=False)
        dataset.attrs[OBJTYPE] = "dataset"
    else:
        dataset = obj.to_dataset(name=DATAARRAY_VARIABLE)
        dataset.attrs = dict(obj.attrs)
        dataset[DATAARRAY_VARIABLE].attrs = dict(obj.attrs)
        if obj.name is not None:
            dataset.attrs[DATAARRAY_NAME] = str(obj.name)
        dataset.attrs[OBJTYPE] = "dataarray"
    renames = {k: str(k).replace("/", "_") for k in dataset.data_vars if "/" in str(k)}
    if renames:
        dataset = dataset.rename_vars(renames)
    dataset.to_netcdf(path, mode="a", group=group, engine="h5netcdf")


# -- merging ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(run_file: Path, timeout: float) -> Iterator[None]:
    lock_path = run_file.with_name(run_file.name + ".lock")
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"{run_file} is being written by another process (its lock "
                        f"{lock_path.name} was held for over {timeout:g} s); try again"
                    ) from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fragment_names(f: Any) -> list[str]:
    names: set[str] = {k for k in f if k not in _SPECIAL}
    for group in _SPECIAL:
        if group in f:
            names.update(f[group])
    return sorted(names)


def _is_netcdf(obj: Any) -> bool:
    h5py = _h5py()
    if not isinstance(obj, h5py.Group):
        return False
    if obj.attrs.get(OBJTYPE) in ("dataarray", "dataset"):
        return True
    return any(
        isinstance(child, h5py.Dataset)
        and ("DIMENSION_LIST" in child.attrs or child.attrs.get("CLASS") == b"DIMENSION_SCALE")
        for child in obj.values()
    )


def merge_fragment(
    fragment: str | os.PathLike[str],
    run_file: str | os.PathLike[str],
    *,
    timeout: float = 120.0,
    remove: bool = False,
) -> list[str]:
    """Merge a fragment's variables into a run file, replacing them wholesale.

    One writer at a time (``fcntl.flock`` on ``<run_file>.lock``); the merge goes into a
    temporary copy beside the run file that replaces it with ``os.replace``, so a reader
    never sees a half-written file. Variables of the run file that the fragment does not
    hold are kept as they are.

    Parameters
    ----------
    fragment : path-like
        A file written by :func:`write_fragment` (or DAMNIT's ``*.ready.h5``).
    run_file : path-like
        The run's file (created when missing).
    timeout : float
        Seconds to wait for another writer before giving up.
    remove : bool
        Delete the fragment once merged.

    Returns
    -------
    list of str
        The variables merged.

    Raises
    ------
    StorageError
        The lock was not obtained in time, or the fragment cannot be read.
    """
    h5py = _h5py()
    source = Path(fragment)
    target = Path(run_file)
    try:
        with h5py.File(source, "r") as frag:
            names = _fragment_names(frag)
    except (OSError, KeyError) as exc:
        raise StorageError(f"cannot read the fragment {source}: {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target, timeout):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.merging.h5")
        try:
            if not target.exists():
                shutil.copyfile(source, tmp)
            else:
                shutil.copyfile(target, tmp)
                try:
                    _merge_into(source, tmp, names)
                except OSError as exc:
                    raise StorageError(
                        f"cannot merge into the run file {target} ({exc}); if it is damaged, "
                        "move it away and process the run again"
                    ) from exc
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    if remove:
        source.unlink(missing_ok=True)
    return names


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _merge_into(source: Path, tmp: Path, names: list[str]) -> None:
    h5py = _h5py()
    netcdf: list[str] = []
    with h5py.File(source, "r") as frag, h5py.File(tmp, "a") as out:
        for name in names:
            _remove(out, name)
        for group in _SPECIAL:
            out.require_group(group)
        for name in names:
            if name in frag:
                if _is_netcdf(frag[name]):
                    netcdf.append(name)
                else:
                    frag.copy(frag[name], out, name=name)
            for group in _SPECIAL:
                where = f"{group}/{name}"
                if where in frag:
                    if _is_netcdf(frag[where]):
                        netcdf.append(where)
                    else:
                        frag.copy(frag[where], out[group], name=name)
    # NetCDF groups carry dimension-scale references that an HDF5 copy between files
    # breaks: they go through xarray instead.
    import xarray as xr

    for where in netcdf:
        with xr.open_dataset(source, group=where, engine="h5netcdf", phony_dims="access") as ds:
            loaded = ds.load()
        loaded.to_netcdf(tmp, mode="a", group=where, engine="h5netcdf")


# -- reading ---------------------------------------------------------------------------------


def variable_names(run_file: str | os.PathLike[str]) -> list[str]:
    """The variables a run file (or fragment) holds: data, summaries, previews or errors."""
    with _h5py().File(run_file, "r") as f:
        return _fragment_names(f)


def read_data(run_file: str | os.PathLike[str], name: str) -> Any:
    """The full result of ``name``.

    Returns
    -------
    object
        An ``xarray.DataArray``/``Dataset`` (coordinates and attributes kept), a numpy
        array, a number, a ``str``, a ``datetime`` (UTC) for a timestamp, RGBA pixels for
        a figure; None when the variable has no data (it failed, or returned None).

    Raises
    ------
    KeyError
        The file holds nothing of ``name``.
    """
    with _h5py().File(run_file, "r") as f:
        if name not in f:
            if name in _fragment_names(f):
                return None
            raise KeyError(f"{run_file} holds no variable {name!r}")
        return _read_object(f, name, Path(run_file), data=True)


def read_preview(run_file: str | os.PathLike[str], name: str) -> Any:
    """The preview of ``name`` (array, DataArray or figure pixels), or None."""
    with _h5py().File(run_file, "r") as f:
        where = f".preview/{name}"
        if where not in f:
            return None
        return _read_object(f, where, Path(run_file), data=False)


def _read_object(f: Any, where: str, path: Path, *, data: bool) -> Any:
    h5py = _h5py()
    obj = f[where]
    if _is_netcdf(obj):
        return _read_xarray(path, where, obj.attrs.get(OBJTYPE))
    kind = obj.attrs.get(OBJTYPE)
    if data and isinstance(obj, h5py.Group):
        if "data" not in obj:
            return None
        obj = obj["data"]
    value = _dataset_value(obj)
    if kind == "timestamp":
        if np.ndim(value) == 0:
            return datetime.fromtimestamp(float(value), tz=UTC)
        return (np.asarray(value) * 1e6).astype("datetime64[us]")
    return value


def _dataset_value(ds: Any) -> Any:
    h5py = _h5py()
    if h5py.check_string_dtype(ds.dtype) is not None:
        value = ds.asstr()[()]
        return value if isinstance(value, str) else np.asarray(value, dtype=object)
    value = ds[()]
    if isinstance(value, np.void):
        return value.tobytes()
    if isinstance(value, np.ndarray):
        return value
    return value.item() if isinstance(value, np.generic) else value


def _read_xarray(path: Path, group: str, kind: Any) -> Any:
    import xarray as xr

    with xr.open_dataset(path, group=group, engine="h5netcdf", phony_dims="access") as ds:
        loaded = ds.load()
    attrs = dict(loaded.attrs)
    attrs.pop(OBJTYPE, None)
    if kind == "dataset" or (kind != "dataarray" and len(loaded.data_vars) != 1):
        loaded.attrs = attrs
        return loaded
    (var,) = list(loaded.data_vars)
    array = loaded[var]
    name = attrs.pop(DATAARRAY_NAME, None)
    array.name = name if var == DATAARRAY_VARIABLE else var
    array.attrs = {**attrs, **dict(array.attrs)}
    return array


def read_error(run_file: str | os.PathLike[str], name: str) -> tuple[str, str] | None:
    """``(message, exception class)`` of a failed or skipped ``name``, or None."""
    with _h5py().File(run_file, "r") as f:
        where = f".errors/{name}"
        if where not in f:
            return None
        ds = f[where]
        message = _dataset_value(ds)
        error_cls = ds.attrs.get("type", "Exception")
        if isinstance(error_cls, bytes):
            error_cls = error_cls.decode()
        return str(message), str(error_cls)


def read_summary(run_file: str | os.PathLike[str], name: str) -> CellSummary | None:
    """The table value of ``name``, or None when the file has no summary of it.

    Errors and skips give ``error``/``skipped`` summaries; a variable that returned None
    gives an ``empty`` one.
    """
    error = read_error(run_file, name)
    if error is not None:
        return CellSummary.error(error[0], error[1])
    with _h5py().File(run_file, "r") as f:
        where = f".reduced/{name}"
        if where not in f:
            return CellSummary("empty") if name in f and "data" not in f[name] else None
        return _summary_from(f[where])


def _attr_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _summary_from(ds: Any) -> CellSummary:
    import io

    attrs = dict(ds.attrs)
    kind = _attr_str(attrs["shiftdesk_kind"]) if "shiftdesk_kind" in attrs else None
    summary_type = _attr_str(attrs["summary_type"]) if "summary_type" in attrs else None
    value = _dataset_value(ds)
    cell: CellSummary
    if isinstance(value, str):
        if kind is None:
            kind = "text" if _SHAPE_TEXT.match(value) or value.startswith("Dataset (") else "string"
        cell = CellSummary("text" if kind == "text" else "string", text=value)
    elif summary_type == "timestamp" or kind == "timestamp":
        cell = CellSummary("timestamp", number=float(value))
    elif isinstance(value, np.ndarray):
        if value.dtype == np.uint8 and value.ndim == 1 and value[:8].tobytes() == _PNG:
            cell = CellSummary("thumbnail", blob=value.tobytes())
        elif (
            summary_type == "trendline"
            or kind == "sparkline"
            or (value.ndim == 2 and value.shape[0] == 2 and value.dtype.kind in "iuf")
        ):
            buffer = io.BytesIO()
            np.save(buffer, value.astype(np.float32), allow_pickle=False)
            cell = CellSummary("sparkline", blob=buffer.getvalue())
        elif value.ndim == 1 and value.dtype.kind in "biuf":
            from shiftdesk.runtable.context.summary import sparkline_array

            buffer = io.BytesIO()
            np.save(buffer, sparkline_array(value), allow_pickle=False)
            cell = CellSummary("sparkline", blob=buffer.getvalue())
        else:
            cell = CellSummary("text", text=f"{value.dtype}: {value.shape}")
    elif isinstance(value, bool):
        cell = CellSummary("boolean", number=value)
    elif isinstance(value, int):
        cell = CellSummary("integer", number=value)
    elif isinstance(value, complex):
        import struct

        cell = CellSummary(
            "complex", text=str(value), blob=struct.pack("<dd", value.real, value.imag)
        )
    elif isinstance(value, float):
        cell = CellSummary("number", number=value)
    elif isinstance(value, bytes):
        cell = CellSummary("text", text=f"<{len(value)} bytes>")
    else:
        cell = CellSummary("text", text=str(value))
    if "max_diff" in attrs:
        cell.max_diff = float(attrs["max_diff"])
    if "bold" in attrs:
        cell.attributes["bold"] = bool(attrs["bold"])
    if "background" in attrs:
        rgb = np.asarray(attrs["background"]).astype(int).ravel()
        if rgb.size == 3:
            cell.attributes["background"] = "#" + "".join(f"{int(v):02x}" for v in rgb)
    for key in ("units", "summary_method"):
        if key in attrs:
            cell.attributes[key] = _attr_str(attrs[key])
    if "seconds" in attrs:
        cell.seconds = float(attrs["seconds"])
    return cell
