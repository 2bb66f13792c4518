"""Model curves kept on disk, so a model opened again shows its curve at once.

The first model curve in a fresh kernel waits for refl1d, bumps and refl1d's compiled
kernels to load (1.5–2 s of CPU, competing with the browser drawing the page). A model
the user opened before (the dashboard opens their last one) has the same curve as then:
:class:`CurveStore` keeps it, keyed by everything the curve depends on, and gives it
back without loading the engine.

The key is a SHA-256 of the whole problem's JSON (every data set's model, data and
constraints; titles and notes left out), the installed refl1d version and the source of
this package's engine modules: any edit, other data or another engine computes anew.
Files are JSON (never pickles), written whole or not at all; the newest
:data:`KEEP` are kept. A stored file that is unreadable or does not fit the problem is
a miss, never an error.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shiftdesk.reflectometry.curve import Curves, ReflectivityCurve

if TYPE_CHECKING:
    from shiftdesk.reflectometry.problem import FitProblem

#: How many stored curves a folder keeps (the oldest are removed on save).
KEEP = 200
#: Format of the stored files (a reader skips any other).
FORMAT = "shiftdesk.reflectometry.curves/1"
#: The modules whose source decides the curves (the key changes with any of them).
_ENGINE_MODULES = (
    "curve",
    "data",
    "datasets",
    "engine",
    "layers",
    "parameter",
    "problem",
    "resolution",
    "serialisation",
    "constraints",
)


@functools.cache
def engine_identity() -> str:
    """A hash of what computes the curves: refl1d's version and our engine's source.

    Read without importing refl1d (its metadata only), once per process.
    """
    from importlib import metadata

    digest = hashlib.sha256()
    for dist in ("refl1d", "numpy"):
        try:
            digest.update(f"{dist}={metadata.version(dist)};".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist}=?;".encode())
    here = Path(__file__).resolve().parent
    for name in _ENGINE_MODULES:
        digest.update((here / f"{name}.py").read_bytes())
    return digest.hexdigest()


def curve_key(problem: FitProblem) -> str:
    """The key of ``problem``'s curves: the same for the same numbers, data and engine."""
    state = problem.to_dict(include_data=True, child_data=True)
    _drop_texts(state)
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(f"{engine_identity()}\n{text}".encode()).hexdigest()


def _drop_texts(state: dict[str, Any]) -> None:
    """Titles and notes do not change a curve (and a retitled model keeps its curve)."""
    for key in ("title", "notes"):
        state.pop(key, None)
    for entry in state.get("datasets") or []:
        for key in ("title", "notes"):
            entry.pop(key, None)


class CurveStore:
    """Computed model curves on disk, by :func:`curve_key`.

    Parameters
    ----------
    folder : path, optional
        Where the files go (default: ``reflectometry/curves`` in the user's data folder,
        :func:`shiftdesk.storage.data_dir`).
    keep : int
        How many files to keep.

    Examples
    --------
    >>> store = CurveStore(tmp_path)                       # doctest: +SKIP
    >>> store.save(problem, problem.curves())              # doctest: +SKIP
    >>> store.load(problem) is not None                    # doctest: +SKIP
    True
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None, keep: int = KEEP) -> None:
        if folder is None:
            from shiftdesk.storage import data_dir

            folder = data_dir() / "reflectometry" / "curves"
        self.folder = Path(folder)
        self.keep = keep

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, problem: FitProblem) -> Curves | None:
        """``problem``'s curves as stored, or ``None`` when they are not (or unreadable).

        On a hit the problem keeps them as its current curves: its
        :meth:`~shiftdesk.reflectometry.FitProblem.curves` returns them, without
        computing, until the next edit.
        """
        root = problem._top()
        revision = root._revision
        try:
            text = self._path(curve_key(root)).read_text(encoding="utf-8")
            curves = _from_state(root, revision, json.loads(text))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if curves is None or root._revision != revision:
            return None
        root._curves = curves
        return curves

    def save(self, problem: FitProblem, curves: Curves) -> bool:
        """Keep ``curves`` (computed for ``problem`` as it is now); True when written.

        Curves of an older revision of the problem are not written (they are another
        model's). A folder that cannot be written costs the store, never the caller.
        """
        root = problem._top()
        if curves.revision != root._revision or set(curves) != set(root.datasets):
            return False
        try:
            state = _to_state(curves)
            key = curve_key(root)
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._path(key)
            partial = path.with_name(f".{path.name}.{os.getpid()}.part")
            partial.write_text(json.dumps(state, allow_nan=True), encoding="utf-8")
            partial.replace(path)  # a reader sees the old file or the new, never half
            self._prune()
        except (OSError, ValueError):
            return False
        return True

    def _prune(self) -> None:
        files = sorted(self.folder.glob("*.json"), key=_mtime, reverse=True)
        for old in files[self.keep :]:
            old.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float)]


def _to_state(curves: Curves) -> dict[str, Any]:
    by_name = {}
    for name, curve in curves.items():
        depth, sld, isld = curve.profile
        by_name[name] = {
            "q": _floats(curve.q),
            "r": _floats(curve.r),
            "chi2": curve.chi2,
            "in_range": None if curve.in_range is None else [bool(v) for v in curve.in_range],
            "resolution": curve.resolution,
            "oversampling": curve.oversampling,
            "calc_points": curve.calc_points,
            "profile": [_floats(depth), _floats(sld), _floats(isld)],
        }
    return {"format": FORMAT, "curves": by_name}


def _array(values: Any, size: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or (size is not None and array.size != size):
        raise ValueError("stored curve has the wrong shape")
    return array


def _from_state(root: FitProblem, revision: int, state: dict[str, Any]) -> Curves | None:
    """The stored curves for ``root``, or None when they do not fit it."""
    if state.get("format") != FORMAT:
        return None
    stored = state["curves"]
    datasets = root.datasets
    if list(stored) != list(datasets):
        return None
    by_name: dict[str, ReflectivityCurve] = {}
    for name, entry in stored.items():
        data = datasets[name].data
        q = _array(entry["q"])
        if data is not None and (q.size != len(data) or not np.array_equal(q, data.q)):
            return None
        mask = entry["in_range"]
        in_range = None if mask is None else np.asarray(mask, dtype=bool)
        if in_range is not None and in_range.shape != q.shape:
            return None
        chi2 = entry["chi2"]
        if chi2 is not None and not isinstance(chi2, float | int):
            return None
        profile = tuple(_array(column) for column in entry["profile"])
        if len(profile) != 3 or len({column.size for column in profile}) != 1:
            return None
        by_name[name] = ReflectivityCurve(
            q=q,
            r=_array(entry["r"], q.size),
            data=data,
            chi2=None if chi2 is None else float(chi2),
            in_range=in_range,
            resolution=bool(entry["resolution"]),
            oversampling=int(entry["oversampling"]),
            calc_points=int(entry["calc_points"]),
            _profile=profile,
        )
    return Curves(revision, by_name)
