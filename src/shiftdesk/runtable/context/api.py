"""What a context file writes: :class:`Variable`, :class:`Cell`, :class:`Group`, :class:`Skip`.

A context file is a plain Python file of decorated functions, in DAMNIT's syntax::

    from damnit_ctx import Cell, Skip, Variable      # or: from shiftdesk.runtable import ...

    @Variable(title="XGM/Energy", summary="mean", units="µJ", tags=["beam"])
    def xgm_energy(run):
        "Mean pulse energy."
        with run.open_h5("xgm.h5") as f:
            return f["energy"][:]

    @Variable
    def doubled(run, energy: "var#xgm_energy", n: "meta#run_number"):
        return Cell(energy * 2, bold=n % 2 == 0)

The first argument of a variable is the :class:`Run`; the others are filled in by their
string annotations:

================================  ========================================================
``"var#name"``                    the result of another variable (``cell.data``)
``"var#xgm*"``                    a dict name → result of every variable matching the glob
``"meta#run_number"``             the run number (``int``)
``"meta#proposal"``               the run table's name (``str``)
``"meta#run_path"``               the run's folder (``pathlib.Path``)
``"meta#proposal_path"``          the table's data folder, when the caller gives one
``"param#name"``                  a value passed to the processing (``params=``)
``"self#name"``                   inside a :func:`Group`: a sibling variable of the group
================================  ========================================================

A parameter's default is used when its source is missing, failed or skipped; without a
default the cell becomes a dependency error naming the chain (or a skip, when every
cause upstream was a :class:`Skip`).

Nothing here runs user code by itself: the context engine executes context files in a
separate process (:mod:`shiftdesk.runtable.context.engine`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import importlib
import inspect
import numbers
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "Cell",
    "DependencyError",
    "Group",
    "Run",
    "Skip",
    "Variable",
]

#: the ``data=`` values a variable accepts
DATA_KINDS = ("raw", "proc")


class Skip(Exception):
    """Raise in a variable to mark its cell *skipped* (not an error) with a reason.

    Parameters
    ----------
    reason : str
        Why there is no value (shown on the cell), e.g. ``"run is not a scan"``.
    """

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class DependencyError(Exception):
    """A variable was not computed because a variable it depends on has no value.

    Parameters
    ----------
    message : str
        The whole explanation, naming the chain (``"depends on 'b' → 'a', which failed:
        ZeroDivisionError: division by zero"``).
    chain : sequence of str
        The variables from the direct dependency to the one that failed.
    """

    def __init__(self, message: str, chain: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.chain = tuple(chain)


class Variable:
    """Decorator that makes a function a run-table variable (a column).

    Usable bare (``@Variable``) or with arguments (``@Variable(title=...)``). The
    variable's name is the function's name (``<group>.<name>`` inside a :func:`Group`).

    Parameters
    ----------
    title : str, optional
        The column title (default: the name). ``/`` makes hierarchical headers.
        Titles must be unique in a context file.
    description : str, optional
        The header tooltip (default: the function's docstring).
    summary : str, optional
        Name of a numpy reduction (``"mean"``, ``"nanmax"``, ``"sum"``...) that turns an
        array result into the table value: ``np.<summary>(data)``.
    data : {"raw", "proc"}, optional
        Which data triggers the variable (default ``"raw"``); a variable depending on a
        ``proc`` variable becomes ``proc``.
    cluster : bool
        Heavy work that belongs on a big node; a dependent becomes ``cluster`` too.
    tags : str or iterable of str, optional
        Tags to pick groups of columns.
    transient : bool
        The result is passed to dependents but not stored (it may be any object).
    units : str, optional
        Units of the value (shown in the header).
    """

    def __init__(
        self,
        title: str | Callable[..., Any] | None = None,
        description: str | None = None,
        summary: str | None = None,
        data: str | None = None,
        cluster: bool = False,
        tags: str | Iterable[str] | None = None,
        transient: bool = False,
        units: str | None = None,
    ) -> None:
        self.description = description
        self.summary = summary
        self.data = data
        self.cluster = cluster
        self.tags: tuple[Any, ...] | Any = (tags,) if isinstance(tags, str) else tags
        if isinstance(self.tags, Iterable) and not isinstance(self.tags, str):
            self.tags = tuple(self.tags)
        self.transient = transient
        self.units = units
        self.func: Callable[..., Any] | None = None
        self.name: str | None = None
        self.title: str | None
        if callable(title):  # bare @Variable
            self.title = None
            self(title)
        else:
            self.title = title

    def __call__(self, func: Callable[..., Any]) -> Variable:
        """Decorate ``func`` (``@Variable(...)`` form); return the variable."""
        if self.func is not None:
            raise TypeError(f"variable {self.name!r} is not callable: the context engine calls it")
        if not callable(func):
            raise TypeError(f"@Variable decorates a function, not {type(func).__name__}")
        self.func = func
        self.name = getattr(func, "__name__", None)
        if self.description is None:
            doc = getattr(func, "__doc__", None)
            self.description = _clean_doc(doc) if doc else None
        return self

    def __repr__(self) -> str:
        return f"Variable({self.name!r}, title={self.title!r})"


def _clean_doc(doc: str) -> str:
    return inspect.cleandoc(doc)


class Cell:
    """A result with display options: what a variable may return instead of bare data.

    Parameters
    ----------
    data : object
        The full result (number, string, array, xarray object, figure, None).
    summary_value : number or str, optional
        The table value, instead of the one computed from ``data``.
    bold : bool, optional
        Show the cell bold (True) or never bold (False); by default a value that changed
        during the run (max − min > 0) is bold.
    background : str or (int, int, int), optional
        Cell background, ``'#rrggbb'`` or an RGB triple 0-255.
    preview : array or figure, optional
        What a detail view shows instead of ``data`` (a 1-D/2-D array or a figure); the
        thumbnail or sparkline is made from it too.
    units : str, optional
        Units of this value (overrides the variable's ``units``).
    summary : str, optional
        A numpy reduction name, overriding the variable's ``summary``.
    """

    def __init__(
        self,
        data: Any,
        summary: str | None = None,
        summary_value: Any = None,
        bold: bool | None = None,
        background: str | Sequence[int] | None = None,
        *,
        preview: Any = None,
        units: str | None = None,
    ) -> None:
        self.data = data
        self.summary = summary
        self.summary_value = summary_value
        self.bold = None if bold is None else bool(bold)
        self.background = normalize_colour(background)
        self.preview = preview
        self.units = units

    def __repr__(self) -> str:
        return f"Cell({type(self.data).__name__}, summary_value={self.summary_value!r})"


def normalize_colour(colour: str | Sequence[int] | None) -> str | None:
    """``'#rrggbb'`` (lower case) for a hex string or an RGB triple; None stays None.

    Raises
    ------
    ValueError, TypeError
        For anything else, saying what is expected.
    """
    if colour is None:
        return None
    if isinstance(colour, str):
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", colour):
            raise ValueError(f"background {colour!r}: give a hex colour like '#ffcc00'")
        return colour.lower()
    if isinstance(colour, Sequence) or hasattr(colour, "__len__"):
        values: list[Any] = list(colour)
        if len(values) != 3:
            raise TypeError(f"background needs 3 values (R, G, B), not {len(values)}")
        if not all(isinstance(v, numbers.Real) and 0 <= float(v) <= 255 for v in values):
            raise ValueError(f"background {values!r}: R, G, B must be numbers 0-255")
        return "#" + "".join(f"{int(v):02x}" for v in values)
    raise TypeError(f"background must be '#rrggbb' or (R, G, B), not {type(colour).__name__}")


# -- groups ----------------------------------------------------------------------------------

_GROUP_FIELDS = ("name", "title", "tags", "sep")


def Group(
    _cls: type | None = None,
    *,
    title: str | None = None,
    tags: str | Iterable[str] | None = None,
    sep: str = "/",
) -> Any:
    """Class decorator: a reusable, configurable group of variables (DAMNIT's ``@Group``).

    The class becomes a keyword-only dataclass with four extra fields, ``name``,
    ``title``, ``tags`` and ``sep``. Each instance assigned to a global of the context
    file contributes its ``@Variable`` methods (inherited ones too) as variables named
    ``<instance name>.<method name>`` (the instance name defaults to the global's name)
    and titled ``<group title><sep><variable title>``; group tags are added to each
    variable's. Methods take ``self`` first, then the run. ``"self#name"`` annotations
    depend on a sibling variable of the same instance (``"self#child.name"`` on one of
    a nested group held in an attribute); ``"var#..."`` names a full variable name.

    Parameters
    ----------
    title : str, optional
        Default title of instances (an instance's own ``title=`` wins; default: its name).
    tags : str or iterable of str, optional
        Default tags of instances (inherited from a decorated base class when not given).
    sep : str
        Default separator between the group title and the variable title.

    Notes
    -----
    Supported from DAMNIT: naming, titles, tags, ``self#`` links, nesting (an attribute
    holding another group instance) and inheritance. Not supported: ``Pipeline``.
    """

    def wrap(cls: type) -> type:
        clash = sorted(set(_GROUP_FIELDS) & set(getattr(cls, "__annotations__", {})))
        if clash:
            raise TypeError(
                f"group {cls.__name__} cannot define the reserved fields {', '.join(clash)}"
            )
        inherited: dict[str, Any] = {}
        for base in cls.__mro__[1:]:
            config = base.__dict__.get("__shiftdesk_group__")
            if config is not None:
                inherited = dict(config)
                break
        config = {
            "title": title if title is not None else inherited.get("title"),
            "tags": _tags_tuple(tags) if tags is not None else inherited.get("tags", ()),
            "sep": sep,
        }
        annotations = dict(inspect.get_annotations(cls))
        annotations.update({"name": "str | None", "title": "str | None", "tags": "Any"})
        annotations["sep"] = "str"
        cls.__annotations__ = annotations
        cls.name = dataclasses.field(default=None, kw_only=True)  # type: ignore[attr-defined]
        cls.title = dataclasses.field(default=config["title"], kw_only=True)  # type: ignore[attr-defined]
        cls.tags = dataclasses.field(default=config["tags"], kw_only=True)  # type: ignore[attr-defined]
        cls.sep = dataclasses.field(default=config["sep"], kw_only=True)  # type: ignore[attr-defined]
        cls.__shiftdesk_group__ = config  # type: ignore[attr-defined]
        original = cls.__dict__.get("__post_init__")

        def __post_init__(self: Any) -> None:
            self.tags = _tags_tuple(self.tags)
            if original is not None:
                original(self)

        cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
        return dataclasses.dataclass(cls, kw_only=True)

    if _cls is not None:
        return wrap(_cls)
    return wrap


def _tags_tuple(tags: Any) -> tuple[str, ...]:
    if tags is None:
        return ()
    if isinstance(tags, str):
        return (tags,)
    return tuple(tags)


def is_group_instance(obj: Any) -> bool:
    """Whether ``obj`` is an instance of a :func:`Group` class."""
    return not isinstance(obj, type) and hasattr(type(obj), "__shiftdesk_group__")


def group_variables(cls: type) -> dict[str, Variable]:
    """The ``@Variable`` methods of a group class, inherited ones first (overrides win)."""
    found: dict[str, Variable] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Variable):
                found[attr] = value
    return found


# -- the run ---------------------------------------------------------------------------------


class Run:
    """The first argument of every variable: one run of the table.

    Parameters
    ----------
    number : int
        The run number.
    path : pathlib.Path
        The run's folder (or file), from the table's ``data`` template.
    proposal : str
        The run table's name.

    Attributes
    ----------
    number : int
    path : pathlib.Path
    proposal : str
    """

    def __init__(self, number: int, path: Path, proposal: str) -> None:
        self.number = int(number)
        self.path = Path(path)
        self.proposal = proposal
        self._open: list[Any] = []

    def __repr__(self) -> str:
        return f"Run({self.number}, path={str(self.path)!r}, proposal={self.proposal!r})"

    def files(self, pattern: str = "*") -> list[Path]:
        """The run's files matching a glob ``pattern`` (``"**/*.h5"`` recurses), sorted.

        A run whose ``path`` is a single file gives that file when its name matches.
        """
        if self.path.is_file():
            return [self.path] if fnmatch.fnmatch(self.path.name, pattern) else []
        return sorted(p for p in self.path.glob(pattern) if p.is_file())

    def open_h5(self, name_or_pattern: str) -> Any:
        """Open one HDF5 file of the run read-only (an ``h5py.File``).

        Parameters
        ----------
        name_or_pattern : str
            A path relative to the run folder, or a glob that matches exactly one file.

        Raises
        ------
        FileNotFoundError
            No such file, or the glob matches none or several (they are named).
        """
        h5py = importlib.import_module("h5py")
        candidate = self.path / name_or_pattern if self.path.is_dir() else self.path
        if candidate.is_file() and (self.path.is_dir() or candidate == self.path):
            target = candidate
        else:
            matches = self.files(name_or_pattern)
            if not matches:
                raise FileNotFoundError(f"no file matches {name_or_pattern!r} in {self.path}")
            if len(matches) > 1:
                names = ", ".join(str(m.relative_to(self.path)) for m in matches[:10])
                raise FileNotFoundError(
                    f"{len(matches)} files match {name_or_pattern!r} in {self.path} ({names}); "
                    "give a pattern that matches one"
                )
            target = matches[0]
        handle = h5py.File(target, "r")
        self._open.append(handle)
        return handle

    h5 = open_h5

    def close(self) -> None:
        """Close every file opened with :meth:`open_h5` (the engine does it at the end)."""
        for handle in self._open:
            with contextlib.suppress(Exception):
                handle.close()
        self._open.clear()
