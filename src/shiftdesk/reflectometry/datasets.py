"""The data sets of a simultaneous fit: naming, adding, removing and tying them.

The first data set (the root :class:`~shiftdesk.reflectometry.FitProblem`) keeps the
others and the constraints; every other data set's model points back to it. The
``FitProblem`` methods of the same names call these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shiftdesk.errors import ConstraintError, ModelError
from shiftdesk.expressions import FUNCTIONS
from shiftdesk.reflectometry.data import ReflData
from shiftdesk.reflectometry.layers import RESERVED_NAMES
from shiftdesk.reflectometry.serialisation import from_model_state, model_dict

if TYPE_CHECKING:
    from shiftdesk.reflectometry.constraints import Constraint
    from shiftdesk.reflectometry.problem import FitProblem


def check_name(root: FitProblem, name: object) -> str:
    """``name`` if a new data set of ``root`` may take it; else ModelError."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ModelError(
            f"data set name {name!r} cannot be used: start with a letter and use only "
            "letters, digits and _ (it is written in constraints, e.g. h2o.film.sld)"
        )
    if len(name) > 40 or name.lower() in RESERVED_NAMES or name in FUNCTIONS:
        raise ModelError(f"data set name {name!r} is reserved or too long; choose another")
    if name in by_name(root):
        raise ModelError(f"there is already a data set named {name!r}")
    return name


def rename(dataset: FitProblem, name: str) -> None:
    """Rename one data set (refused while constraints name it)."""
    if name == dataset._dataset_name:
        return
    root = dataset._top()
    check_name(root, name)
    uses = root._constraints.uses_dataset(dataset) if dataset is not root else []
    if uses:
        raise ModelError(
            f"data set {dataset._dataset_name!r} is named in constraints "
            f"({'; '.join(c.text for c in uses)}); remove them before renaming it"
        )
    dataset._dataset_name = name
    root._changed("structure")


def by_name(root: FitProblem) -> dict[str, FitProblem]:
    """Every data set's model by name, the root first."""
    found = {root._dataset_name: root}
    for child in root._children:
        found[child._dataset_name] = child
    return found


def add(root: FitProblem, data: ReflData, name: str | None, model: FitProblem | None) -> FitProblem:
    """Add a data set with a copy of ``model`` (default: the root's model alone)."""
    from shiftdesk.reflectometry.problem import FitProblem

    if not isinstance(data, ReflData):
        raise ModelError(f"data must be ReflData (see load_data), not {type(data).__name__}")
    if name is None:
        i = len(root._children) + 2
        while f"d{i}" in by_name(root):
            i += 1
        name = f"d{i}"
    check_name(root, name)
    source = model if model is not None else root
    if not isinstance(source, FitProblem):
        raise ModelError(f"model must be a FitProblem, not {type(source).__name__}")
    # the model alone: its own data sets and constraints stay where they are
    child = from_model_state(FitProblem, model_dict(source, include_data=False))
    child.set_data(data)
    child._dataset_name = name
    child._root = root
    root._children.append(child)
    root._changed("structure")
    return child


def remove(root: FitProblem, name: str) -> FitProblem:
    """Remove a data set added with :func:`add` (not the root)."""
    child = root.dataset(name)
    if child is root:
        raise ModelError("the first data set cannot be removed; it holds the others")
    uses = root._constraints.uses_dataset(child)
    if uses:
        raise ModelError(
            f"data set {name!r} is named in constraints "
            f"({'; '.join(c.text for c in uses)}); remove them first"
        )
    root._children.remove(child)
    child._root = None
    root._changed("structure")
    return child


def tie(root: FitProblem, path: str, names: tuple[str, ...]) -> list[Constraint]:
    """Constrain ``path`` of data sets to follow a source data set's (see FitProblem.tie)."""
    datasets = by_name(root)
    targets = list(names) or [n for n in datasets if n != root._dataset_name]
    if not targets:
        raise ModelError("there is only one data set: add one with add_dataset(...) first")
    source_name = root._dataset_name
    if targets[0] in datasets and targets[0] != source_name and len(names) > 1:
        source_name, targets = targets[0], targets[1:]
    source = root.dataset(source_name)
    if path not in source.parameters():
        root._constraints.resolve(path, source)  # raises with suggestions
    made: list[Constraint] = []
    prefix = "" if source is root else f"{source_name}."
    try:
        for name in targets:
            target = root.dataset(name)
            if target is source:
                continue
            param = target.parameter(path)
            if param.free and param.constraint is None:
                param.fix()
            made.append(root._constraints.add(f"{name}.{path} = {prefix}{path}"))
    except (ConstraintError, KeyError):
        for constraint in made:
            root._constraints.remove(constraint)
        raise
    root._changed("values")
    return made
