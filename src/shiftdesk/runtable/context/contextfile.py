"""Load, check and execute a context file: the code that runs in the context process.

Never imported by a kernel or a service to run user code: :mod:`.runner` uses it inside
the child process that :mod:`.engine` starts. It is importable (and tested) anywhere
because it runs nothing on import.

- :func:`load` compiles the file with its real file name (tracebacks and problems name
  its lines), executes it as a module, and collects the variables: module-level
  ``@Variable`` functions and the variables of module-level :func:`~.api.Group`
  instances (``<group>.<name>``).
- :func:`check` finds what makes a context file unusable (errors) or suspicious
  (warnings): bad names, ``data``, ``tags``, ``units`` or ``summary``; arguments without
  a source; unknown annotation prefixes; ``var#`` targets that do not exist; dependency
  cycles (the cycle is named); duplicate titles; a ``raw`` variable that depends on a
  ``proc`` one. :func:`pyflakes_problems` adds pyflakes' messages as warnings.
- :func:`execute` runs the variables of one run in dependency order, each isolated.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shiftdesk.runtable.context.api import (
    DATA_KINDS,
    Cell,
    DependencyError,
    Run,
    Skip,
    Variable,
    group_variables,
    is_group_instance,
)
from shiftdesk.runtable.context.summary import (
    CellSummary,
    as_figure,
    is_dataset,
    is_figure,
    is_xarray,
    summarise,
)

__all__ = [
    "META_KEYS",
    "Problem",
    "VarSpec",
    "check",
    "execute",
    "load",
    "pyflakes_problems",
]

#: the ``meta#`` keys a variable may ask for
META_KEYS = ("run_number", "proposal", "proposal_path", "run_path")
#: the annotation prefixes the engine knows
PREFIXES = ("var#", "self#", "meta#", "param#", "mymdc#")
_MODULE_NAME = "shiftdesk_context"


@dataclass(slots=True)
class Problem:
    """One problem of a context file (lines and columns are 1-based; None: whole file)."""

    message: str
    line: int | None = None
    column: int | None = None
    severity: str = "error"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "severity": self.severity,
        }


@dataclass(slots=True)
class Param:
    """One argument of a variable after the run."""

    name: str
    annotation: str | None
    has_default: bool
    default: Any = None


@dataclass(slots=True)
class VarSpec:
    """A variable of a loaded context file, ready to run."""

    name: str
    title: str
    description: str | None
    summary: str | None
    units: Any
    tags: Any
    data: Any
    cluster: bool
    transient: bool
    func: Callable[..., Any]
    params: list[Param]
    line: int | None
    dependencies: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        """The variable's metadata (what the run table stores about a column)."""
        tags = self.tags if isinstance(self.tags, tuple | list) else ()
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "summary": self.summary,
            "units": self.units if isinstance(self.units, str) else None,
            "tags": [str(t) for t in tags],
            "data": self.data if self.data in DATA_KINDS else "raw",
            "cluster": bool(self.cluster),
            "transient": bool(self.transient),
            "dependencies": list(self.dependencies),
        }


# -- loading ---------------------------------------------------------------------------------


class ContextLoadError(Exception):
    """The context file cannot be compiled or executed; ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _line_in(tb: types.TracebackType | None, filename: str) -> int | None:
    line = None
    for frame in traceback.extract_tb(tb):
        if frame.filename == filename:
            line = frame.lineno
    return line


def load(path: str | Path) -> dict[str, VarSpec]:
    """Compile and execute a context file; return its variables by name (file order).

    Raises
    ------
    ContextLoadError
        A syntax error, or an exception while executing the file's top level (an import
        error, ...), with the line of the context file where it happened.
    """
    path = Path(path)
    filename = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContextLoadError(Problem(f"cannot read the context file {path}: {exc}")) from exc
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        column = exc.offset if exc.offset and exc.offset > 0 else None
        raise ContextLoadError(
            Problem(f"{type(exc).__name__}: {exc.msg}", exc.lineno, column)
        ) from exc
    module = types.ModuleType(_MODULE_NAME)
    module.__file__ = filename
    sys.modules[_MODULE_NAME] = module
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ModuleNotFoundError):
            message += f" (is it installed for {sys.executable}?)"
        line = _line_in(exc.__traceback__, filename)
        if isinstance(exc, SyntaxError) and line is None:
            line = exc.lineno
        raise ContextLoadError(Problem(message, line)) from exc
    return collect(module.__dict__)


def _annotation(raw: Any) -> str | None:
    """A parameter's annotation text; a quoted string (``from __future__ import annotations``
    turns ``"var#x"`` into ``"'var#x'"``) is unquoted."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        import ast

        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        return value if isinstance(value, str) else text
    return text


def _params(func: Callable[..., Any], skip: int) -> tuple[list[Param], list[str]]:
    problems: list[str] = []
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        return [], [f"cannot read the arguments: {exc}"]
    parameters = list(signature.parameters.values())
    if len(parameters) < skip:
        what = "self and the run" if skip == 2 else "the run"
        return [], [f"takes no argument for {what}: write def f({'self, ' * (skip - 1)}run, ...)"]
    params = []
    for p in parameters[skip:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = _annotation(p.annotation)
        has_default = p.default is not p.empty
        params.append(Param(p.name, annotation, has_default, p.default if has_default else None))
    return params, problems


def _spec(
    var: Variable,
    name: str,
    title: str,
    func: Callable[..., Any],
    skip: int,
    tags: Any,
    rename_self: Callable[[str], str] | None = None,
) -> VarSpec:
    assert var.func is not None
    params, problems = _params(var.func, skip)
    if rename_self is not None:
        for p in params:
            if p.annotation and p.annotation.startswith("self#"):
                p.annotation = "var#" + rename_self(p.annotation.removeprefix("self#"))
    code = getattr(var.func, "__code__", None)
    return VarSpec(
        name=name,
        title=title,
        description=var.description,
        summary=var.summary,
        units=var.units,
        tags=tags,
        data=var.data,
        cluster=bool(var.cluster),
        transient=bool(var.transient),
        func=func,
        params=params,
        line=code.co_firstlineno if code is not None else None,
        problems=problems,
    )


def collect(namespace: Mapping[str, Any]) -> dict[str, VarSpec]:
    """The variables of an executed context file's namespace (groups expanded)."""
    specs: dict[str, VarSpec] = {}
    seen: set[int] = set()
    for global_name, value in list(namespace.items()):
        if isinstance(value, Variable) and value.func is not None:
            if id(value) in seen:
                continue
            seen.add(id(value))
            name = value.name or global_name
            spec = _spec(value, name, value.title or name, value.func, 1, value.tags)
            specs[name] = spec
        elif is_group_instance(value):
            if id(value) in seen:
                continue
            seen.add(id(value))
            prefix = value.name or global_name
            _expand_group(value, prefix, value.title or prefix, (), specs, seen)
    return specs


def _prefixed(prefix: str, target: str) -> str:
    return f"{prefix}.{target}"


def _expand_group(
    instance: Any,
    prefix: str,
    title: str,
    outer_tags: tuple[str, ...],
    specs: dict[str, VarSpec],
    seen: set[int],
) -> None:
    sep = getattr(instance, "sep", "/") or "/"
    group_tags = tuple(outer_tags) + tuple(getattr(instance, "tags", ()) or ())
    for method, var in group_variables(type(instance)).items():
        if var.func is None:
            continue
        name = f"{prefix}.{var.name or method}"
        own = var.tags if isinstance(var.tags, tuple) else ()
        tags = tuple(dict.fromkeys((*own, *group_tags)))
        spec = _spec(
            var,
            name,
            f"{title}{sep}{var.title or var.name}",
            functools.partial(var.func, instance),
            2,
            tags,
            rename_self=functools.partial(_prefixed, prefix),
        )
        specs[name] = spec
    children = {**vars(type(instance)), **vars(instance)}
    for attr, child in children.items():
        if attr.startswith("__") or not is_group_instance(child) or id(child) in seen:
            continue
        seen.add(id(child))
        child_title = child.title or child.name or attr
        _expand_group(
            child, f"{prefix}.{attr}", f"{title}{sep}{child_title}", group_tags, specs, seen
        )


# -- checking --------------------------------------------------------------------------------


def _targets(spec: VarSpec, names: Iterable[str]) -> tuple[list[str], list[str]]:
    """(dependencies, missing exact targets) of a variable."""
    names = list(names)
    deps: list[str] = []
    missing: list[str] = []
    for p in spec.params:
        if not p.annotation or not p.annotation.startswith("var#"):
            continue
        target = p.annotation.removeprefix("var#")
        if any(ch in target for ch in "*?["):
            deps.extend(n for n in names if fnmatch.fnmatchcase(n, target) and n != spec.name)
        elif target in names:
            deps.append(target)
        else:
            missing.append(target)
    return list(dict.fromkeys(deps)), missing


def _cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    from graphlib import CycleError, TopologicalSorter

    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = list(exc.args[1])
        # graphlib gives the cycle from a node back to itself, in dependency order;
        # show it as "a depends on b depends on a"
        return cycle[::-1]
    return None


def check(specs: dict[str, VarSpec]) -> list[Problem]:
    """The problems of the loaded variables (errors, then warnings); fills dependencies.

    Also applies DAMNIT's promotions: a variable depending on a ``proc`` variable
    becomes ``proc``, one depending on a ``cluster`` variable becomes ``cluster``.
    """
    import numpy as np

    problems: list[Problem] = []

    def error(spec: VarSpec, message: str, severity: str = "error") -> None:
        problems.append(Problem(f"variable {spec.name!r}: {message}", spec.line, None, severity))

    names = list(specs)
    for spec in specs.values():
        for message in spec.problems:
            error(spec, message)
        if not all(part.isidentifier() for part in spec.name.split(".")):
            error(spec, "the name is not a Python identifier (or dotted name)")
        if spec.data is not None and spec.data not in DATA_KINDS:
            error(spec, f"data={spec.data!r}: use 'raw' or 'proc'")
        tags = spec.tags
        if tags is not None and not (
            isinstance(tags, tuple | list) and all(isinstance(t, str) and t for t in tags)
        ):
            error(spec, f"tags={tags!r}: give a non-empty string or a list of them")
        if spec.units is not None and not (isinstance(spec.units, str) and spec.units):
            error(spec, f"units={spec.units!r}: give a non-empty string")
        if not isinstance(spec.title, str) or not spec.title:
            error(spec, f"title={spec.title!r}: give a non-empty string")
        if spec.summary is not None and not (
            isinstance(spec.summary, str) and callable(getattr(np, spec.summary, None))
        ):
            error(
                spec,
                f"summary={spec.summary!r} is not a numpy function "
                "(use a name like 'mean', 'nanmean', 'sum', 'std', 'max')",
            )
        for p in spec.params:
            if p.annotation is None:
                if not p.has_default:
                    error(
                        spec,
                        f"argument {p.name!r} has no source: annotate it with "
                        "'var#name', 'meta#run_number', 'param#name'... or give it a default",
                    )
                continue
            prefix = p.annotation.split("#", 1)[0] + "#" if "#" in p.annotation else None
            if prefix not in PREFIXES:
                if not p.has_default:
                    error(
                        spec,
                        f"argument {p.name!r} is annotated {p.annotation!r}, which names no "
                        f"source (use one of {', '.join(x + '...' for x in PREFIXES)})",
                    )
                continue
            key = p.annotation[len(prefix) :]
            if not key:
                error(spec, f"argument {p.name!r}: {p.annotation!r} names nothing after '#'")
            elif prefix == "meta#" and key not in META_KEYS:
                error(
                    spec,
                    f"argument {p.name!r}: unknown {p.annotation!r} "
                    f"(known: {', '.join('meta#' + k for k in META_KEYS)})",
                )
            elif prefix == "mymdc#":
                error(
                    spec,
                    f"argument {p.name!r}: {p.annotation!r} comes from European XFEL's "
                    "metadata catalogue, which is not available here; the argument gets its "
                    "default, or the cell is a dependency error",
                    "warning",
                )
            elif prefix == "self#":
                error(spec, f"argument {p.name!r}: 'self#' only works inside a @Group class")
        deps, missing = _targets(spec, names)
        spec.dependencies = deps
        for target in missing:
            error(spec, f"depends on 'var#{target}', which is not a variable of this file")
        for p in spec.params:
            if p.annotation and p.annotation.startswith("var#"):
                target = p.annotation.removeprefix("var#")
                if any(ch in target for ch in "*?[") and not any(
                    fnmatch.fnmatchcase(n, target) and n != spec.name for n in names
                ):
                    error(spec, f"'var#{target}' matches no variable", "warning")

    graph = {name: spec.dependencies for name, spec in specs.items()}
    cycle = _cycle(graph)
    if cycle is not None:
        first = specs[cycle[0]]
        problems.append(
            Problem(
                "dependency cycle: "
                + " → ".join(repr(n) for n in cycle)
                + " (a variable cannot depend on itself, directly or through others)",
                first.line,
            )
        )
    else:
        _promote(specs, problems)

    by_title: dict[str, list[VarSpec]] = {}
    for spec in specs.values():
        if isinstance(spec.title, str):
            by_title.setdefault(spec.title, []).append(spec)
    for title, same in by_title.items():
        if len(same) > 1:
            listed = ", ".join(repr(s.name) for s in same)
            problems.append(
                Problem(
                    f"variables {listed} have the same title {title!r}; titles must be unique",
                    same[1].line,
                )
            )
    problems.sort(key=lambda p: (p.severity != "error", p.line or 0))
    return problems


def _promote(specs: dict[str, VarSpec], problems: list[Problem]) -> None:
    for name in _order(specs, list(specs)):
        spec = specs[name]
        deps = [specs[d] for d in spec.dependencies]
        proc = [d.name for d in deps if d.data == "proc"]
        if proc:
            if spec.data == "raw":
                problems.append(
                    Problem(
                        f"variable {name!r} has data='raw' but depends on proc variables "
                        f"({', '.join(proc)}): remove data='raw' or write data='proc'",
                        spec.line,
                    )
                )
            else:
                spec.data = "proc"
        if any(d.cluster for d in deps):
            spec.cluster = True


def pyflakes_problems(path: str | Path) -> list[Problem]:
    """pyflakes' messages for a context file, as warnings.

    Names pyflakes reads in string annotations (``var``, ``meta`` of ``"var#x"``) are not
    reported.
    """
    import importlib

    checker = importlib.import_module("pyflakes.checker")
    messages = importlib.import_module("pyflakes.messages")

    path = Path(path)
    source = path.read_text(encoding="utf-8")
    import ast

    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError:
        return []
    found = checker.Checker(tree, filename=str(path))
    prefixes = {p.rstrip("#") for p in PREFIXES} | {"input"}
    problems = []
    for message in sorted(found.messages, key=lambda m: (m.lineno, m.col)):
        if isinstance(message, messages.UndefinedName) and message.message_args[0] in prefixes:
            continue
        if isinstance(message, messages.ForwardAnnotationSyntaxError):
            continue
        text = message.message % message.message_args
        problems.append(Problem(text, message.lineno, (message.col or 0) + 1, "warning"))
    return problems


# -- executing -------------------------------------------------------------------------------


def _order(specs: Mapping[str, VarSpec], selected: list[str]) -> list[str]:
    """Selected variables in dependency order, file order among independent ones."""
    done: set[str] = set()
    order: list[str] = []
    pending = list(selected)
    while pending:
        for name in pending:
            if all(d in done or d not in pending for d in specs[name].dependencies):
                order.append(name)
                done.add(name)
                pending.remove(name)
                break
        else:  # a cycle: check() reports it; run what is left in file order
            order.extend(pending)
            break
    return order


def select(specs: Mapping[str, VarSpec], patterns: Iterable[str] | None) -> list[str]:
    """The variables matching any glob (name or title), plus their dependencies, file order.

    Raises
    ------
    ValueError
        No variable matches.
    """
    if patterns is None:
        return list(specs)
    patterns = list(patterns)
    chosen = {
        name
        for name, spec in specs.items()
        if any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(spec.title, p) for p in patterns)
    }
    if not chosen:
        raise ValueError(
            f"no variable matches {patterns}; the variables are: {', '.join(specs) or 'none'}"
        )
    stack = list(chosen)
    while stack:
        for dep in specs[stack.pop()].dependencies:
            if dep not in chosen:
                chosen.add(dep)
                stack.append(dep)
    return [name for name in specs if name in chosen]


@dataclass(slots=True)
class _Failure:
    """Why a variable has no value, for its dependents."""

    chain: list[str]
    cause: str  # "failed", "skipped", "none"
    message: str


@dataclass(slots=True)
class Outcome:
    """What :func:`execute` produced."""

    cells: dict[str, CellSummary] = field(default_factory=dict)
    stored: dict[str, Any] = field(default_factory=dict)  # name -> StoredResult


class _Missing(Exception):
    def __init__(self, failure: _Failure | None, message: str) -> None:
        super().__init__(message)
        self.failure = failure


def _dependency_exception(problems: list[tuple[str, _Failure]]) -> Exception:
    dep, failure = problems[0]
    chain = [dep, *failure.chain]
    arrow = " → ".join(repr(n) for n in chain)
    if failure.cause == "failed":
        text = f"depends on {arrow}, which failed: {failure.message}"
    elif failure.cause == "skipped":
        text = f"depends on {arrow}, which was skipped: {failure.message}"
    elif failure.cause == "none":
        text = f"depends on {arrow}, which has no value (returned None)"
    else:
        text = f"depends on {arrow}: {failure.message}"
    if len(problems) > 1:
        others = ", ".join(repr(d) for d, _ in problems[1:])
        text += f" (and on {others}, which have no value either)"
    exc: Exception
    if all(f.cause in ("skipped", "none") for _, f in problems):
        exc = Skip(text)
    else:
        exc = DependencyError(text, chain)
    # what dependents of this variable report: the same root, one link longer
    setattr(exc, "_shiftdesk_failure", _Failure(chain, failure.cause, failure.message))  # noqa: B010
    return exc


def _storable(data: Any) -> Any:
    """``data`` as it will be stored, or TypeError("cannot store ...")."""
    import datetime as dt

    import numpy as np

    if data is None or isinstance(data, str | bytes | bool | int | float | complex):
        return data
    if isinstance(data, dt.datetime | np.generic):
        if isinstance(data, np.generic) and data.dtype.hasobject:
            raise TypeError(f"cannot store {type(data).__name__}")
        return data
    if is_figure(data):
        return as_figure(data)
    if is_xarray(data):
        dtypes = [v.dtype for v in data.variables.values()] if is_dataset(data) else [data.dtype]
        if any(d.hasobject for d in dtypes):
            raise TypeError(
                f"cannot store {type(data).__name__} holding Python objects (dtype object)"
            )
        return data
    if isinstance(data, np.ndarray | list | tuple):
        array = np.asarray(data)
        if array.dtype.hasobject:
            raise TypeError(
                f"cannot store {type(data).__name__} of Python objects (dtype object): "
                "return numbers, strings or numeric arrays"
            )
        if array.dtype.kind == "m":
            raise TypeError(f"cannot store {type(data).__name__} of timedelta64")
        return array
    raise TypeError(
        f"cannot store {type(data).__name__}: a variable returns a number, a string, a "
        "numeric array, an xarray object, a matplotlib figure or None (transient=True "
        "keeps any object for other variables without storing it)"
    )


def _nbytes(data: Any) -> int:
    if data is None:
        return 0
    if isinstance(data, str):
        return len(data.encode("utf-8", "replace"))
    if isinstance(data, bytes):
        return len(data)
    nbytes = getattr(data, "nbytes", None)
    if isinstance(nbytes, int | float):
        return int(nbytes)
    return 0


def _size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes} B"


def execute(
    specs: Mapping[str, VarSpec],
    run: Run,
    *,
    selected: list[str] | None = None,
    params: Mapping[str, Any] | None = None,
    proposal_path: Path | None = None,
    max_bytes: int | None = None,
    on_start: Callable[[str], None] | None = None,
    on_cell: Callable[[str, CellSummary], None] | None = None,
    on_end: Callable[[str], None] | None = None,
    log: Callable[[str], None] = print,
) -> Outcome:
    """Run the (selected) variables for one run, each isolated; never raises for a variable.

    Parameters
    ----------
    specs : mapping
        The checked variables (:func:`load`, :func:`check`).
    run : Run
        The run passed as first argument.
    selected : list of str, optional
        Names to run (default all), dependencies included (:func:`select`).
    params : mapping, optional
        Values of ``param#`` arguments.
    proposal_path : Path, optional
        The value of ``meta#proposal_path``.
    max_bytes : int, optional
        Largest result stored per cell; a bigger one makes the cell an error.
    on_start, on_cell, on_end : callable, optional
        Called with the name when a variable starts, with its summary when its cell is
        ready (not for transient variables), and with the name when it ends.
    log : callable
        Where progress lines go (the process log).

    Returns
    -------
    Outcome
        Cells by name (transient variables have none) and what to store.
    """
    from shiftdesk.runtable.h5store import StoredResult

    params = dict(params or {})
    names = selected if selected is not None else list(specs)
    outcome = Outcome()
    values: dict[str, Any] = {}
    failures: dict[str, _Failure] = {}

    def source(spec: VarSpec, p: Param) -> Any:
        annotation = p.annotation or ""
        if annotation.startswith("var#"):
            target = annotation.removeprefix("var#")
            if any(ch in target for ch in "*?["):
                matched = [d for d in spec.dependencies if fnmatch.fnmatchcase(d, target)]
                found = {d: values[d] for d in matched if d in values}
                if not found and p.has_default:
                    return p.default
                return found
            if target in values:
                return values[target]
            if p.has_default:
                return p.default
            failure = failures.get(target) or _Failure([], "failed", "it did not run")
            raise _Missing(failure, target)
        if annotation.startswith("meta#"):
            key = annotation.removeprefix("meta#")
            known = {
                "run_number": run.number,
                "proposal": run.proposal,
                "run_path": run.path,
                "proposal_path": proposal_path,
            }
            if known.get(key) is not None:
                return known[key]
            if p.has_default:
                return p.default
            raise _Missing(None, f"{annotation} is not known for this run table")
        if annotation.startswith("param#"):
            key = annotation.removeprefix("param#")
            if key in params:
                return params[key]
            if p.has_default:
                return p.default
            raise _Missing(
                None,
                f"needs {annotation}, which was not given (process(..., params={{{key!r}: ...}}))",
            )
        if annotation.startswith("mymdc#"):
            if p.has_default:
                return p.default
            raise _Missing(
                None,
                f"needs {annotation} from European XFEL's metadata catalogue, which is not "
                "available here; give the argument a default",
            )
        if p.has_default:
            return p.default
        raise _Missing(None, f"argument {p.name!r} has no source")

    for name in _order(specs, names):
        spec = specs[name]
        if on_start is not None:
            on_start(name)
        started = time.perf_counter()
        cell: CellSummary | None = None
        stored: Any = None
        try:
            kwargs: dict[str, Any] = {}
            missing: list[tuple[str, _Failure]] = []
            for p in spec.params:
                try:
                    kwargs[p.name] = source(spec, p)
                except _Missing as gap:
                    if gap.failure is not None:
                        missing.append((str(gap), gap.failure))
                    else:
                        raise DependencyError(str(gap)) from None
            if missing:
                raise _dependency_exception(missing)
            result = spec.func(run, **kwargs)
            seconds = time.perf_counter() - started
            if spec.transient:
                value = result.data if isinstance(result, Cell) else result
                if value is None:
                    failures[name] = _Failure([], "none", "")
                else:
                    values[name] = value
                log(f"Computed {name} (transient) in {seconds:.3f} s")
            else:
                wrapped = result if isinstance(result, Cell) else Cell(result)
                data = _storable(wrapped.data)
                preview = _storable(wrapped.preview) if wrapped.preview is not None else None
                size = _nbytes(data) + _nbytes(preview)
                if max_bytes is not None and size > max_bytes:
                    raise ResultTooLarge(
                        f"the result is {_size(size)} ({type(data).__name__}), over the limit of "
                        f"{_size(max_bytes)} per cell (max_bytes); return something smaller "
                        "(a reduction, a downsampled array) or raise the limit"
                    )
                cell = summarise(
                    data,
                    summary=wrapped.summary or spec.summary,
                    summary_value=wrapped.summary_value,
                    preview=preview,
                    bold=wrapped.bold,
                    background=wrapped.background,
                    units=wrapped.units or (spec.units if isinstance(spec.units, str) else None),
                    log=log,
                )
                cell.seconds = seconds
                if data is None:
                    failures[name] = _Failure([], "none", "")
                else:
                    values[name] = data
                stored = StoredResult(data=data, summary=cell, preview=preview)
                log(f"Computed {name} in {seconds:.3f} s")
        except Skip as exc:
            seconds = time.perf_counter() - started
            reason = str(exc.reason or exc) or "skipped"
            failures[name] = _chain_of(exc, reason, "skipped")
            cell = CellSummary.error(reason, "Skip", seconds=seconds)
            log(f"Skipped {name}: {reason}")
        except (Exception, SystemExit) as exc:
            seconds = time.perf_counter() - started
            error_cls = type(exc).__name__
            message = str(exc) if str(exc) else error_cls
            failures[name] = _chain_of(exc, f"{error_cls}: {message}", "failed")
            cell = CellSummary.error(message, error_cls, seconds=seconds)
            if isinstance(exc, DependencyError):
                log(f"Not computed {name}: {message}")
            else:
                log(f"Failed {name} after {seconds:.3f} s: {error_cls}: {message}")
                shown = exc.with_traceback(exc.__traceback__.tb_next if exc.__traceback__ else None)
                log("".join(traceback.format_exception(shown)).rstrip())
        if on_end is not None:
            on_end(name)
        if spec.transient:
            continue
        if cell is not None:
            outcome.cells[name] = cell
            outcome.stored[name] = stored if stored is not None else StoredResult(summary=cell)
            if on_cell is not None:
                on_cell(name, cell)
    run.close()
    return outcome


class ResultTooLarge(Exception):
    """A result over the per-cell size limit (``max_bytes``)."""


def _chain_of(exc: BaseException, message: str, cause: str) -> _Failure:
    """The failure record of a variable: its own, or the upstream one it carries."""
    carried = getattr(exc, "_shiftdesk_failure", None)
    if isinstance(carried, _Failure):
        return carried
    return _Failure([], cause, message)
