"""A FitProblem to and from JSON: shiftdesk's model schema (what is saved and travels to workers).

:class:`~shiftdesk.reflectometry.FitProblem` calls these from ``to_dict``,
``from_dict``, ``to_json`` and ``from_json``; they are the one place that knows the
schema.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shiftdesk.errors import ConstraintError, ModelError
from shiftdesk.reflectometry.data import ReflData
from shiftdesk.reflectometry.layers import Layer, Medium

if TYPE_CHECKING:
    from shiftdesk.reflectometry.problem import FitProblem

#: Written when a model uses constraints or several data sets.
SCHEMA = "shiftdesk.reflectometry.model/2"
#: Written for models without them, so older shiftdesk versions (and workers) still read
#: them; read as before.
SCHEMA_V1 = "shiftdesk.reflectometry.model/1"
#: Name of the first data set until the user names it.
FIRST_DATASET = "d1"


def to_dict(
    problem: FitProblem, *, include_data: bool = True, child_data: bool = True
) -> dict[str, Any]:
    """JSON-ready state of the whole problem (see :meth:`FitProblem.to_dict`)."""
    root = problem._top()
    state = model_dict(root, include_data=include_data)
    if root._children or len(root._constraints) or root._dataset_name != FIRST_DATASET:
        state["schema"] = SCHEMA
        state["dataset_name"] = root._dataset_name
        state["datasets"] = [
            {"name": child._dataset_name, **model_dict(child, include_data=child_data)}
            for child in root._children
        ]
        state["constraints"] = root._constraints.texts
    return state


def model_dict(problem: FitProblem, *, include_data: bool = True) -> dict[str, Any]:
    """One data set's model alone (schema ``/1``: no data sets, no constraints)."""
    data = problem._data
    return {
        "schema": SCHEMA_V1,
        "title": problem.title,
        "notes": problem.notes,
        "front": problem.front.to_dict(),
        "layers": [layer.to_dict() for layer in problem.layers],
        "back": problem.back.to_dict(),
        "scale": problem.scale.to_dict(),
        "background": problem.background.to_dict(),
        "q_min": problem._q_min,
        "q_max": problem._q_max,
        "oversampling": problem._oversampling,
        "data": data.to_dict() if include_data and data is not None else None,
    }


def from_dict(cls: type[FitProblem], state: dict[str, Any]) -> FitProblem:
    """Build a problem from :func:`to_dict` output (either schema), validating everything."""
    schema = state.get("schema") if isinstance(state, dict) else None
    if schema not in (SCHEMA, SCHEMA_V1):
        raise ModelError(
            f"not a shiftdesk reflectometry model (schema {schema!r}, expected {SCHEMA!r})"
        )
    problem = from_model_state(cls, state)
    if schema == SCHEMA_V1:
        return problem
    try:
        name = state.get("dataset_name", FIRST_DATASET)
        if name != FIRST_DATASET:
            problem._check_dataset_name(name)
            problem._dataset_name = name
        for entry in state.get("datasets") or []:
            child = from_model_state(cls, entry)
            problem._check_dataset_name(entry["name"])
            child._dataset_name = entry["name"]
            child._root = problem
            problem._children.append(child)
        constraints = state.get("constraints") or []
        if not isinstance(constraints, list):
            raise TypeError("constraints must be a list of text")
        for text in constraints:
            problem._constraints.add(text)
        problem._apply_constraints()
    except ConstraintError as exc:
        raise ModelError(f"the model's constraints cannot be restored: {exc}") from exc
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ModelError(
            f"the model is incomplete or malformed ({type(exc).__name__}: {exc})"
        ) from exc
    return problem


def from_model_state(cls: type[FitProblem], state: dict[str, Any]) -> FitProblem:
    """One model (no data sets, no constraints) from its JSON state."""
    try:
        front = Medium.from_dict(state["front"])
        back = Medium.from_dict(state["back"])
        layers = [Layer.from_dict(item) for item in state.get("layers", [])]
        data = ReflData.from_dict(state["data"]) if state.get("data") else None
        problem = cls(
            front=front,
            layers=layers,
            back=back,
            data=data,
            oversampling=state.get("oversampling", "auto"),
            title=state.get("title", ""),
            notes=state.get("notes", ""),
        )
        problem.scale.update_from_dict(state["scale"])
        problem.background.update_from_dict(state["background"])
        if data is not None:
            problem.set_q_range(state.get("q_min"), state.get("q_max"))
        else:
            problem._q_min, problem._q_max = state.get("q_min"), state.get("q_max")
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        # a hand-edited or truncated file: say so instead of a bare KeyError
        raise ModelError(
            f"the model is incomplete or malformed ({type(exc).__name__}: {exc})"
        ) from exc
    return problem


def to_json(problem: FitProblem, *, include_data: bool = True, indent: int | None = 2) -> str:
    """The model as JSON text (download, save)."""
    return json.dumps(to_dict(problem, include_data=include_data), indent=indent)


def from_json(cls: type[FitProblem], text: str) -> FitProblem:
    """Inverse of :func:`to_json`."""
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"not valid JSON: {exc}") from exc
    return from_dict(cls, state)
