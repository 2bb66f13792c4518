"""Reflectivity data R(Q): loading text and ORSO files, with every bad input explained."""

from __future__ import annotations

import base64
import hashlib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shiftdesk.display import html_repr, table
from shiftdesk.errors import DataError

#: Largest data file accepted, in bytes. Reduced R(Q) files are kilobytes; anything this
#: big is almost certainly the wrong file (an event file, an image).
MAX_FILE_BYTES = 50 * 1024 * 1024

#: dQ given to 3-column files, as a fraction of Q (FWHM), as the ORNL service did.
DEFAULT_DQ_FRACTION = 0.03

#: FWHM = SIGMA_TO_FWHM * σ for a Gaussian resolution.
SIGMA_TO_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))

FloatArray = NDArray[np.float64]


@dataclass(eq=False)
class ReflData:
    """A reflectivity data set.

    Attributes
    ----------
    q : ndarray
        Momentum transfer in 1/Å, strictly increasing.
    r, dr : ndarray
        Reflectivity and its 1-σ uncertainty (``dr > 0``).
    dq : ndarray
        Q resolution as FWHM in 1/Å (``dq_sigma`` gives the Gaussian σ).
    name : str
        Short name (the file stem by default).
    source : str
        Where it came from (file name or description).
    """

    q: FloatArray
    r: FloatArray
    dr: FloatArray
    dq: FloatArray
    name: str = "data"
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.q, self.r, self.dr, self.dq = (
            np.ascontiguousarray(a, dtype=float) for a in (self.q, self.r, self.dr, self.dq)
        )
        validate_arrays(self.q, self.r, self.dr, self.dq, where=self.name)

    def __len__(self) -> int:
        return int(self.q.size)

    @property
    def dq_sigma(self) -> FloatArray:
        """Q resolution as a Gaussian 1-σ width (what refl1d expects)."""
        return self.dq / SIGMA_TO_FWHM

    @property
    def q_range(self) -> tuple[float, float]:
        """Smallest and largest Q."""
        return float(self.q[0]), float(self.q[-1])

    @property
    def fingerprint(self) -> str:
        """A short hash of the numbers, to recognise the same data again."""
        digest = hashlib.sha1()
        for array in (self.q, self.r, self.dr, self.dq):
            digest.update(array.tobytes())
        return digest.hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists of floats), used to ship data to fit workers."""
        return {
            "name": self.name,
            "source": self.source,
            "q": self.q.tolist(),
            "r": self.r.tolist(),
            "dr": self.dr.tolist(),
            "dq": self.dq.tolist(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> ReflData:
        """Inverse of :meth:`to_dict`."""
        return cls(
            q=np.asarray(state["q"], dtype=float),
            r=np.asarray(state["r"], dtype=float),
            dr=np.asarray(state["dr"], dtype=float),
            dq=np.asarray(state["dq"], dtype=float),
            name=state.get("name", "data"),
            source=state.get("source", ""),
        )

    def to_text(self) -> str:
        """The data as a four-column text file (Q R dR dQ, dQ as FWHM)."""
        buffer = io.StringIO()
        np.savetxt(
            buffer,
            np.column_stack([self.q, self.r, self.dr, self.dq]),
            header=f"{self.name}\nQ (1/A)  R  dR  dQ (FWHM, 1/A)",
            fmt="%.10g",
        )
        return buffer.getvalue()

    def __repr__(self) -> str:
        lo, hi = self.q_range
        return f"<ReflData {self.name!r}: {len(self)} points, Q {lo:.4g}–{hi:.4g} 1/Å>"

    def _repr_html_(self) -> str:
        lo, hi = self.q_range
        rows = [
            ("points", str(len(self))),
            ("Q range", f"{lo:.4g} – {hi:.4g} 1/Å"),
            ("R range", f"{float(self.r.min()):.3g} – {float(self.r.max()):.3g}"),
            ("dQ/Q (FWHM)", f"{float(np.median(self.dq / self.q)) * 100:.2g} % (median)"),
            ("source", self.source),
        ]
        return html_repr("ReflData", self.name, repr(self), table(rows))

    def widget(self) -> Any:
        """An interactive plot of the data (needs ``shiftdesk[widgets]``)."""
        from shiftdesk._views import view

        return view(self)


def validate_arrays(
    q: FloatArray,
    r: FloatArray,
    dr: FloatArray,
    dq: FloatArray,
    *,
    where: str = "data",
    lines: NDArray[np.intp] | None = None,
) -> None:
    """Refuse data that refl1d would silently mis-handle.

    Rows are reported as 1-based points, or as file line numbers when ``lines`` gives
    the source line of every point.
    """

    def _rows(indices: NDArray[np.intp]) -> str:
        return _points(indices, lines)

    n = q.size
    if n == 0:
        raise DataError(f"{where}: no data points")
    if not (r.size == dr.size == dq.size == n):
        raise DataError(f"{where}: Q, R, dR and dQ must have the same length")
    if n < 2:
        raise DataError(f"{where}: only one data point; a reflectivity curve needs several")
    for label, array in (("Q", q), ("R", r), ("dR", dr), ("dQ", dq)):
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise DataError(
                f"{where}: {label} is not a finite number (NaN or inf) at "
                f"{_rows(bad)}; remove those rows"
            )
    bad = np.flatnonzero(q <= 0)
    if bad.size:
        raise DataError(f"{where}: Q must be positive; {_rows(bad)} are ≤ 0")
    bad = np.flatnonzero(dr <= 0)
    if bad.size:
        raise DataError(
            f"{where}: dR must be positive (it weights the fit); {_rows(bad)} have "
            "dR ≤ 0. Fix the uncertainties or drop those points (drop_invalid=True)"
        )
    bad = np.flatnonzero(r < 0)
    if bad.size:
        raise DataError(
            f"{where}: R is negative at {_rows(bad)} (over-subtracted background?). "
            "Drop those points (drop_invalid=True) or fix the reduction"
        )
    bad = np.flatnonzero(dq < 0)
    if bad.size:
        raise DataError(f"{where}: dQ is negative at {_rows(bad)}")
    steps = np.diff(q)
    dup = np.flatnonzero(steps == 0)
    if dup.size:
        raise DataError(
            f"{where}: duplicate Q values at {_rows(dup + 1)} "
            f"(Q = {q[dup[0]]:g}); merge or remove the repeated rows"
        )
    back = np.flatnonzero(steps < 0)
    if back.size:
        raise DataError(
            f"{where}: Q is not sorted: {_rows(back[:1] + 1)} (Q = {q[back[0] + 1]:g}) comes "
            "after a larger Q; sort the file by Q or load it with sort=True"
        )


def _points(
    indices: NDArray[np.intp], lines: NDArray[np.intp] | None = None, limit: int = 5
) -> str:
    """``point(s) 3, 4`` (1-based), or ``line(s) 7, 8`` when source lines are known."""
    numbers = [int(i) + 1 if lines is None else int(lines[i]) for i in indices]
    shown = ", ".join(str(i) for i in numbers[:limit])
    more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return ("point(s) " if lines is None else "line(s) ") + shown + more


def _parse_text(text: str, where: str) -> tuple[NDArray[np.float64], list[int]]:
    """Parse whitespace/comma separated columns; returns the table and source line numbers."""
    rows: list[list[float]] = []
    lines: list[int] = []
    width: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.replace(",", " ").replace(";", " ").split()
        try:
            values = [float(item) for item in fields]
        except ValueError:
            bad = next(item for item in fields if not _is_float(item))
            if not rows and width is None and all(not _is_float(item) for item in fields):
                # a column header such as "Q R dR dQ": skip it
                continue
            raise DataError(
                f"{where}, line {number}: {bad!r} is not a number. Every row must hold "
                "numbers only (Q R dR [dQ]); mark comments with #"
            ) from None
        if width is None:
            width = len(values)
            if width not in (3, 4):
                raise DataError(
                    f"{where}, line {number}: found {width} column(s); expected 4 (Q R dR dQ, "
                    "dQ as FWHM) or 3 (Q R dR, dQ taken as 3 % of Q)"
                )
        elif len(values) != width:
            raise DataError(
                f"{where}, line {number}: {len(values)} column(s) where earlier rows have "
                f"{width}; every row needs the same columns"
            )
        rows.append(values)
        lines.append(number)
    if not rows:
        raise DataError(f"{where}: the file holds no data rows (empty, or comments only)")
    return np.asarray(rows, dtype=float), lines


def _is_float(item: str) -> bool:
    try:
        float(item)
    except ValueError:
        return False
    return True


def _read_source(source: str | Path | bytes, filename: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        content = bytes(source)
        if len(content) > MAX_FILE_BYTES:
            raise DataError(_too_big(filename or "upload", len(content)))
        return content, filename or "upload.txt"
    if isinstance(source, str) and "\n" in source:
        # the contents of a file passed as text (os.stat would say "File name too long")
        raise DataError(
            "load_data was given text with line breaks instead of a file path: pass the "
            "contents as bytes (text.encode()) together with filename=..."
        )
    path = Path(source)
    try:
        if not path.exists():
            raise DataError(f"no such data file: {path}")
        if path.is_dir():
            raise DataError(f"{path} is a folder, not a data file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError(_too_big(str(path), size))
        return path.read_bytes(), filename or path.name
    except OSError as exc:  # unreadable file, name too long, ...
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _too_big(name: str, size: int) -> str:
    return (
        f"{name} is {size / 1e6:.1f} MB; data files over {MAX_FILE_BYTES // (1024 * 1024)} MB "
        "are refused. A reduced R(Q) file is usually a few kB: check you picked the right file"
    )


def load_data(
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    name: str | None = None,
    dq_fraction: float = DEFAULT_DQ_FRACTION,
    sort: bool = False,
    drop_invalid: bool = False,
) -> ReflData:
    """Load reflectivity data from a text or ORSO file.

    Parameters
    ----------
    source : str, Path or bytes
        A path, or the bytes of an uploaded file (then give ``filename``).
    filename : str, optional
        Name of an uploaded file; ``.ort`` selects the ORSO reader.
    name : str, optional
        Name of the data set (defaults to the file stem).
    dq_fraction : float
        For three-column files, dQ (FWHM) as a fraction of Q.
    sort : bool
        Sort rows by Q instead of refusing unsorted files.
    drop_invalid : bool
        Drop rows with dR ≤ 0 or R < 0 (reported in ``meta["dropped"]``) instead of refusing.

    Returns
    -------
    ReflData

    Raises
    ------
    DataError
        With the line and the reason for any row that cannot be used.

    Notes
    -----
    Text files hold columns Q R dR dQ with dQ as FWHM (the SNS convention); a
    three-column file gets dQ = ``dq_fraction`` × Q. Lines starting with ``#`` are
    comments. ORSO ``.ort`` files are read with orsopy and their resolution column
    is converted from σ to FWHM when the file says so.
    """
    content, fname = _read_source(source, filename)
    stem = Path(fname).stem or "data"
    where = fname
    if not content.strip():
        raise DataError(f"{where} is empty")
    lines: NDArray[np.intp] | None = None
    if fname.lower().endswith((".ort", ".orso")):
        q, r, dr, dq = _load_orso(content, where)
    else:
        try:
            text = content.decode("utf-8-sig")  # Excel and Notepad start with a BOM
        except UnicodeDecodeError:
            try:
                text = content.decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any bytes
                raise DataError(f"{where} is not a text file") from None
        if "\x00" in text:
            raise DataError(f"{where} looks like a binary file, not columns of numbers")
        table, line_numbers = _parse_text(text, where)
        lines = np.asarray(line_numbers, dtype=np.intp)
        q, r, dr = table[:, 0], table[:, 1], table[:, 2]
        dq = table[:, 3] if table.shape[1] == 4 else dq_fraction * q
    meta: dict[str, str] = {}
    if sort:
        order = np.argsort(q, kind="stable")
        q, r, dr, dq = q[order], r[order], dr[order], dq[order]
        lines = None if lines is None else lines[order]
    if drop_invalid:
        keep = np.isfinite(q) & np.isfinite(r) & np.isfinite(dr) & (dr > 0) & (r >= 0)
        dropped = int((~keep).sum())
        if dropped:
            meta["dropped"] = str(dropped)
            q, r, dr, dq = q[keep], r[keep], dr[keep], dq[keep]
            lines = None if lines is None else lines[keep]
    # check here, where the file name and line numbers are known (ReflData checks again)
    validate_arrays(q, r, dr, dq, where=where, lines=lines)
    return ReflData(q=q, r=r, dr=dr, dq=dq, name=name or stem, source=fname, meta=meta)


def _load_orso(content: bytes, where: str) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    from orsopy.fileio import load_orso

    # a file object, not a path: orsopy leaves a file it opened itself open when parsing fails
    text = io.StringIO(content.decode("utf-8-sig", errors="replace"))
    try:
        datasets = load_orso(text)
    except Exception as exc:  # orsopy raises many types for malformed headers
        raise DataError(f"{where}: not a readable ORSO file ({exc})") from exc
    if not datasets:
        raise DataError(f"{where}: the ORSO file holds no data set")
    dataset = datasets[0]
    table = np.asarray(dataset.data, dtype=float)
    if table.ndim != 2 or table.shape[1] < 3:
        raise DataError(f"{where}: ORSO data needs at least the columns Qz, R, sR")
    q, r, dr = table[:, 0], table[:, 1], table[:, 2]
    if table.shape[1] >= 4:
        dq = table[:, 3].copy()
        columns = dataset.info.columns
        value_is = getattr(columns[3], "value_is", None) if len(columns) > 3 else None
        if value_is is None or str(value_is).lower() == "sigma":
            dq = dq * SIGMA_TO_FWHM
    else:
        dq = DEFAULT_DQ_FRACTION * q
    return q, r, dr, dq


def data_url(text: str, mime: str = "text/plain") -> str:
    """A ``data:`` URL for a download link."""
    return f"data:{mime};base64," + base64.b64encode(text.encode()).decode()
