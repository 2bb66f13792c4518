"""The table to a file: CSV, Excel or Markdown, written whole then renamed."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

#: the formats :func:`export_frame` writes, by suffix
FORMATS = (".csv", ".xlsx", ".md")


def export_frame(frame: pd.DataFrame, path: Path, *, title: str = "") -> Path:
    """Write ``frame`` to ``path`` in the format its suffix names.

    Dates are written in UTC (Excel has no time zones); blob cells keep their
    placeholders. A failure leaves no partial file behind.

    Raises
    ------
    ValueError
        An unknown suffix.
    """
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot export to {path.name!r}: give a file name ending in "
            f"{', '.join(FORMATS[:-1])} or {FORMATS[-1]}"
        )
    out = frame.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.DatetimeTZDtype):
            out[name] = out[name].dt.tz_convert("UTC").dt.tz_localize(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".csv":
            out.to_csv(temporary)
        elif suffix == ".xlsx":
            with pd.ExcelWriter(temporary, engine="openpyxl") as writer:
                out.to_excel(writer, sheet_name=re.sub(r"[][:*?/\\]", "_", title or "runs")[:31])
        else:
            shown = out.astype(object).where(out.notna(), "")
            text = shown.to_markdown(floatfmt=".6g")
            heading = f"# {title}\n\n" if title else ""
            temporary.write_text(heading + text + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
