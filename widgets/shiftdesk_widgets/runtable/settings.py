"""A user's choice of columns, filters and sort: a plain dict, and what it selects.

The dict is what the core stores per user (``RunTable.save_view_settings``)::

    {
        "order": ["start_time", "comment", "xgm_energy", ...],   # column order
        "hidden": ["raw_path"],                                   # columns not shown
        "tags": ["xgm"],                # only columns with one of these tags ([] = all)
        "filters": {
            "xgm_energy": {"kind": "range", "min": 0.5, "max": None},
            "comment": {"kind": "text", "contains": "beam"},
            "sample": {"kind": "has_value", "value": True},
        },
        "sort": {"by": "run", "descending": True},
        "page_size": 25,
    }

Everything here is pure (DataFrame in, runs or names out), so it is tested without widgets.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from shiftdesk_widgets.runtable.cells import Column

#: Columns that are not variables but always exist (the run number is the index).
FIXED = ("start_time", "comment")
#: Filter kinds.
FILTER_KINDS = ("range", "text", "has_value")
PAGE_SIZES = (10, 25, 50, 100)

DEFAULT: dict[str, Any] = {
    "order": [],
    "hidden": [],
    "tags": [],
    "filters": {},
    "sort": {"by": "run", "descending": True},
    "page_size": 25,
}


def normalise(settings: Mapping[str, Any] | None, columns: Sequence[str]) -> dict[str, Any]:
    """``settings`` completed with defaults, its order holding exactly ``columns``.

    Names no longer in the table are dropped; columns the settings do not know yet (a
    variable added to the context file) come last, in the table's order.
    """
    result = copy.deepcopy(DEFAULT)
    for key, value in (settings or {}).items():
        if key in result:
            result[key] = copy.deepcopy(value)
    known = set(columns)
    order = [c for c in result["order"] if c in known]
    order += [c for c in columns if c not in set(order)]
    result["order"] = order
    result["hidden"] = [c for c in result["hidden"] if c in known]
    result["filters"] = {
        k: dict(v)
        for k, v in dict(result["filters"]).items()
        if (k in known or k == "run") and isinstance(v, Mapping) and v.get("kind") in FILTER_KINDS
    }
    sort = dict(result["sort"] or {})
    if sort.get("by") not in known and sort.get("by") != "run":
        sort = dict(DEFAULT["sort"])
    result["sort"] = {"by": sort.get("by", "run"), "descending": bool(sort.get("descending"))}
    result["tags"] = [str(t) for t in result["tags"]]
    if result["page_size"] not in PAGE_SIZES:
        result["page_size"] = DEFAULT["page_size"]
    return result


def visible_columns(settings: Mapping[str, Any], columns: Mapping[str, Column]) -> list[str]:
    """The columns shown, in order: not hidden, and in one of the chosen tags if any."""
    hidden = set(settings.get("hidden", ()))
    tags = set(settings.get("tags", ()))
    shown = []
    for name in settings.get("order", ()):
        column = columns.get(name)
        if column is None or name in hidden:
            continue
        if tags and name not in FIXED and not tags.intersection(column.tags):
            continue
        shown.append(name)
    return shown


def _numeric(series: pd.Series) -> pd.Series:
    if series.dtype == bool:
        return series.astype(float)
    return pd.to_numeric(series, errors="coerce")


def _present(series: pd.Series) -> pd.Series:
    present = series.notna()
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        present &= series.astype(str) != ""
    return present


def filter_mask(frame: pd.DataFrame, filters: Mapping[str, Mapping[str, Any]]) -> pd.Series:
    """Which rows pass every filter (True for all when there is none)."""
    mask = pd.Series(True, index=frame.index)
    for name, spec in filters.items():
        if name == "run":
            series = pd.Series(frame.index, index=frame.index)
        elif name in frame.columns:
            series = frame[name]
        else:
            continue
        kind = spec.get("kind")
        if kind == "range":
            numbers = _numeric(series)
            low, high = spec.get("min"), spec.get("max")
            keep = numbers.notna()
            if low is not None:
                keep &= numbers >= float(low)
            if high is not None:
                keep &= numbers <= float(high)
            mask &= keep
        elif kind == "text":
            text = str(spec.get("contains", ""))
            if text:
                contains = series.astype(str).str.contains(text, case=False, regex=False)
                mask &= contains.fillna(False) & _present(series)
        elif kind == "has_value":
            present = _present(series)
            mask &= present if spec.get("value", True) else ~present
    return mask


def ordered_runs(frame: pd.DataFrame, settings: Mapping[str, Any]) -> list[int]:
    """The runs shown, filtered and sorted as the settings say (missing values last)."""
    mask = filter_mask(frame, settings.get("filters", {}))
    sort = settings.get("sort") or {}
    by = sort.get("by", "run")
    descending = bool(sort.get("descending", False))
    index = frame.index[mask.to_numpy()]
    if by == "run" or by not in frame.columns:
        runs = np.sort(index.to_numpy())
        return [int(r) for r in (runs[::-1] if descending else runs)]
    series = frame.loc[index, by]
    numbers = _numeric(series)
    if numbers.notna().sum() >= max(1, _present(series).sum() // 2) and not (
        pd.api.types.is_datetime64_any_dtype(series)
    ):
        key = numbers
    elif pd.api.types.is_datetime64_any_dtype(series):
        key = series
    else:
        key = series.where(_present(series)).astype("string").str.lower()
    order = pd.DataFrame({"key": key.to_numpy(), "run": index.to_numpy()})
    order = order.sort_values(
        ["key", "run"], ascending=[not descending, not descending], na_position="last"
    )
    return [int(r) for r in order["run"]]


def describe_filter(name: str, spec: Mapping[str, Any]) -> str:
    """A filter as a short phrase (``xgm_energy ≥ 0.5``)."""
    kind = spec.get("kind")
    if kind == "range":
        low, high = spec.get("min"), spec.get("max")
        if low is not None and high is not None:
            return f"{low:g} ≤ {name} ≤ {high:g}"
        if low is not None:
            return f"{name} ≥ {low:g}"
        if high is not None:
            return f"{name} ≤ {high:g}"
        return f"{name} is a number"
    if kind == "text":
        return f"{name} contains “{spec.get('contains', '')}”"
    return f"{name} has a value" if spec.get("value", True) else f"{name} is empty"
