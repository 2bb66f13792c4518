"""A small run table as plain data (no core): values, columns, cells and states."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
import pandas as pd

from shiftdesk_widgets.runtable.cells import Cell, Column, RowState


def png(array: np.ndarray) -> bytes:
    """A greyscale PNG of a 2-D uint8 array (no imaging library needed)."""
    height, width = array.shape
    raw = b"".join(b"\x00" + bytes(row) for row in array.astype(np.uint8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


COLUMNS: dict[str, Any] = {
    "start_time": {"title": "start time"},
    "comment": {"type": "string"},
    "xgm_energy": {"title": "XGM energy", "units": "µJ", "tags": ["xgm"],
                   "description": "mean pulse energy at the XGM"},
    "xgm_trend": {"title": "XGM trend", "tags": ["xgm"], "description": "energy over the run"},
    "detector_image": {"title": "detector", "tags": ["detector"],
                       "description": "mean detector image"},
    "motor_x": {"title": "motor x", "units": "mm", "tags": ["motors"],
                "description": "sample stage x"},
    "sample": {"title": "sample", "type": "string", "description": "what is in the beam"},
    "temperature": {"title": "temperature", "type": "number", "units": "K",
                    "description": "cryostat reading"},
    "good": {"title": "good run", "type": "boolean"},
    "shots": {"title": "shots", "type": "integer"},
}  # fmt: skip


def table(runs: int = 12) -> tuple[pd.DataFrame, dict[str, Any], dict[tuple[int, str], Cell],
                                    dict[int, RowState]]:  # fmt: skip
    """A frame as ``RunTable.table()`` gives it, with cells and states."""
    rng = np.random.default_rng(1)
    index = pd.Index(range(1, runs + 1), name="run")
    frame = pd.DataFrame(
        {
            "start_time": pd.date_range("2026-07-01 08:00", periods=runs, freq="7min"),
            "comment": [f"scan {i}" if i % 3 else "" for i in index],
            "xgm_energy": np.round(rng.normal(800, 40, runs), 2),
            "xgm_trend": "<sparkline>",
            "detector_image": "<thumbnail>",
            "motor_x": np.round(np.linspace(-2, 2, runs), 3),
            "sample": ["LaB6" if i < runs // 2 else "Si" for i in index],
            "temperature": [291.5 if i % 2 else np.nan for i in index],
            "good": [True if i % 4 else None for i in index],
            "shots": [1000 * i for i in index],
        },
        index=index,
    ).astype({"sample": object, "good": object, "comment": object})
    cells: dict[tuple[int, str], Cell] = {}
    image = np.add.outer(np.arange(24), np.arange(36)) * 4
    for run in index:
        x = np.arange(40.0)
        cells[run, "xgm_trend"] = Cell(value=np.vstack([x, np.sin(x / 5 + run)]))
        cells[run, "detector_image"] = Cell(value=png((image + 9 * int(run)) % 256))
    cells[2, "xgm_energy"] = Cell(
        value=None, error="division by zero", error_cls="ZeroDivisionError"
    )
    frame.loc[2, "xgm_energy"] = np.nan
    cells[3, "motor_x"] = Cell(value=None, error="no motor data in this run", error_cls="Skip")
    frame.loc[3, "motor_x"] = np.nan
    cells[4, "motor_x"] = Cell(value=frame.loc[4, "motor_x"], bold=True)
    cells[5, "xgm_energy"] = Cell(value=frame.loc[5, "xgm_energy"], background="#ffe082")
    cells[6, "temperature"] = Cell(value=291.5, provenance="cryostat", who="svc-cryo")
    frame.loc[6, "temperature"] = 291.5
    states = {
        runs: RowState("running", "started 10 s ago", "41"),
        runs - 1: RowState("queued"),
        1: RowState("failed", "time limit of 600 s reached"),
    }
    states.update({r: RowState("done") for r in index if r not in states})  # fmt: skip
    return frame, COLUMNS, cells, states


def columns() -> dict[str, Column]:
    """The columns as :class:`Column` objects."""
    return {name: Column.from_info(name, info) for name, info in COLUMNS.items()}


def big_table(runs: int = 3000, variables: int = 100) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A wide frame the size of a long beamtime: ``runs`` rows, ``variables`` numbers."""
    rng = np.random.default_rng(2)
    index = pd.Index(range(1, runs + 1), name="run")
    data: dict[str, Any] = {
        "start_time": pd.date_range("2026-07-01", periods=runs, freq="2min"),
        "comment": pd.Series([""] * runs, index=index, dtype=object),
    }
    info: dict[str, Any] = {"comment": {"type": "string"}}
    for i in range(variables):
        name = f"var_{i:03d}"
        data[name] = rng.normal(size=runs)
        info[name] = {"title": f"variable {i}", "units": "V", "tags": [f"group{i % 5}"]}
    return pd.DataFrame(data, index=index), info
