"""Checking an operation's inputs against its schema and its files' headers.

Messages name the field as a form shows it (``input_files``, ``channels[2].zmax``) and
say what is allowed; the first problem in schema order is reported.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from shiftdesk.datalab.operations import OperationInputError


def to_json_values(value: Any) -> Any:
    """``value`` with path-likes as strings, numpy numbers as Python numbers and tuples
    as lists (what a notebook passes, as JSON would carry it)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [to_json_values(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): to_json_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_values(v) for v in value]
    return value


def fill_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` with the schema's defaults for missing object properties (recursively,
    into array items too)."""
    if isinstance(value, dict) and "properties" in schema:
        for key, sub in schema["properties"].items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = fill_defaults(sub, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [fill_defaults(schema["items"], v) for v in value]
    return value


def check_schema(schema: Mapping[str, Any], inputs: Any) -> dict[str, Any]:
    """``inputs`` as JSON values with defaults filled, valid against ``schema``.

    Raises
    ------
    OperationInputError
        The first problem, naming its field.
    """
    import jsonschema

    if not isinstance(inputs, Mapping):
        raise OperationInputError(
            None, f"the inputs must be a dict of field -> value, not {type(inputs).__name__}"
        )
    values = fill_defaults(schema, to_json_values(inputs))
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(values))
    if errors:
        order = list(schema.get("properties", {}))

        def rank(error: Any) -> tuple[int, int, str]:
            path = list(error.absolute_path)
            top = path[0] if path else ""
            return (order.index(top) if top in order else -1, len(path), error.message)

        error = min(errors, key=rank)
        raise OperationInputError(_field_name(error), _reason(error, schema))
    return dict(values)


def _field_name(error: Any) -> str | None:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = _missing_property(error)
        if missing:
            path.append(missing)
    if error.validator == "additionalProperties":
        extra = _extra_properties(error)
        if extra:
            path.append(extra[0])
    if not path:
        return None
    text = str(path[0])
    for part in path[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _missing_property(error: Any) -> str | None:
    required = error.validator_value
    present = error.instance if isinstance(error.instance, Mapping) else {}
    return next((k for k in required if k not in present), None)


def _extra_properties(error: Any) -> list[str]:
    allowed = set(error.schema.get("properties", {}))
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    return sorted(k for k in instance if k not in allowed)


_TYPE_WORDS = {
    "array": "a list",
    "string": "a text",
    "number": "a number",
    "integer": "a whole number",
    "object": "an object",
    "boolean": "true or false",
    "null": "empty",
}


def _reason(error: Any, root: Mapping[str, Any]) -> str:
    kind = error.validator
    value = error.instance
    rule = error.validator_value
    if kind == "required":
        return "is required"
    if kind == "additionalProperties":
        allowed = ", ".join(error.schema.get("properties", {}))
        return f"is not an input of this operation (its inputs are: {allowed})"
    if kind == "type":
        kinds = [rule] if isinstance(rule, str) else list(rule)
        wanted = " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)
        return f"must be {wanted}, not {value!r}"
    if kind == "minimum":
        return f"{value} is below the minimum {rule}"
    if kind == "maximum":
        return f"{value} is above the maximum {rule}"
    if kind == "exclusiveMinimum":
        return f"{value} must be greater than {rule}"
    if kind == "exclusiveMaximum":
        return f"{value} must be less than {rule}"
    if kind == "enum":
        return f"{value!r} is not one of {', '.join(map(repr, rule))}"
    what = "file(s) given" if "x-files" in error.schema else "item(s)"
    if kind == "minItems":
        return f"{len(value)} {what}; at least {rule} are needed"
    if kind == "maxItems":
        return f"{len(value)} {what}; at most {rule} are allowed"
    if kind == "minLength":
        return "must not be empty"
    if kind == "pattern":
        hint = error.schema.get("x-pattern-hint", f"the pattern {rule}")
        return f"{value!r} is not {hint}"
    return str(error.message)


def check_files(schema: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Open the files of every top-level ``x-files`` field (headers only) and check
    their counts, that each is FITS with a 2-D image, and the filter rules.

    Returns
    -------
    dict
        Field -> list of :class:`~shiftdesk.datalab.ops.images.Frame`.
    """
    from shiftdesk.datalab.ops.images import inspect_frame

    frames: dict[str, list[Any]] = {}
    for key, spec in schema.get("properties", {}).items():
        rule = spec.get("x-files")
        if rule is None or key not in values or values[key] is None:
            continue
        paths = values[key] if isinstance(values[key], list) else [values[key]]
        check_count(key, len(paths), int(rule.get("min", 1)), int(rule.get("max", 999)))
        found = [inspect_frame(p, key) for p in paths]
        check_filters(key, found, bool(rule.get("single_filter")), rule.get("filters"))
        frames[key] = found
    return frames


def check_count(field: str, count: int, minimum: int, maximum: int) -> None:
    """Refuse fewer than ``minimum`` or more than ``maximum`` files."""
    if count < minimum:
        raise OperationInputError(field, f"{count} file(s) given; at least {minimum} are needed")
    if count > maximum:
        raise OperationInputError(field, f"{count} file(s) given; at most {maximum} are allowed")


def check_filters(
    field: str, frames: list[Any], single_filter: bool, allowed: list[str] | None
) -> None:
    """Refuse frames in more than one filter (when asked) or in a filter not allowed."""
    if allowed is not None:
        for frame in frames:
            if frame.filter not in allowed:
                raise frame.error(
                    f"is in filter {frame.filter!r}; this operation takes {', '.join(allowed)}"
                )
    if single_filter and len({f.filter for f in frames}) > 1:
        groups: dict[str | None, list[str]] = {}
        for frame in frames:
            groups.setdefault(frame.filter, []).append(frame.name)
        listed = "; ".join(
            f"{filt if filt is not None else 'no FILTER card'}: {', '.join(names[:3])}"
            + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            for filt, names in groups.items()
        )
        raise OperationInputError(
            field, f"the frames must all be in one filter, but they are in several ({listed})"
        )
