"""Cell values: typed user values in, table values and display attributes out.

A stored cell is a summary ``kind`` plus a number, a text and a blob (a PNG thumbnail or
a sparkline). Blob cells also store a placeholder text (``"<thumbnail>"``) so that the
table is read without touching the blobs.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from shiftdesk.errors import DataError

#: the types a user variable can have
USER_TYPES = ("boolean", "integer", "number", "string")
#: summary kinds whose table value is the number
NUMERIC_KINDS = frozenset({"number", "integer", "boolean", "timestamp"})
#: summary kinds whose value is a blob (the table shows a placeholder)
BLOB_KINDS = {"thumbnail": "<thumbnail>", "sparkline": "<sparkline>"}
#: columns every table has; ``comment`` is a user variable of type string
BUILTIN_COLUMNS = ("start_time", "comment")

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


class ValueTypeError(DataError):
    """A user value does not have the column's type."""


@dataclass
class CellValue:
    """One cell as the table and its views show it.

    Attributes
    ----------
    value : object
        The table value: a number, a string, PNG bytes (thumbnail), a 2×N float array
        (sparkline: x then y) or None.
    kind : str
        The summary kind (``number``, ``string``, ``thumbnail``, ``error``, ``skipped`` ...).
    bold, background : display attributes from the context file.
    error, error_cls : why the cell has no value, and the exception's class (``Skip``).
    provenance : ``context``, ``user``, ``run sheet`` or what an external program said.
    who, at : who wrote the value and when.
    units : the cell's own units, when the context gave some.
    max_diff : max − min of the value over the run (bold when > 0).
    """

    value: Any = None
    kind: str = "empty"
    bold: bool = False
    background: Any = None
    error: str | None = None
    error_cls: str | None = None
    provenance: str = "context"
    who: str = ""
    at: datetime | None = None
    units: str | None = None
    max_diff: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        """A deliberate skip, not a failure."""
        return self.kind == "skipped"


def encode_user_value(value: Any, type_: str, name: str) -> tuple[str, float | None, str | None]:
    """``(kind, number, text)`` of a user value, checked against the column's type.

    ``None`` (and an empty string) clears the cell.

    Raises
    ------
    ValueTypeError
        The value does not have the type, with what was given and what is expected.
    """
    if value is None or (isinstance(value, str) and not value.strip() and type_ != "string"):
        return ("empty", None, None)
    if isinstance(value, np.generic):
        value = value.item()
    what = f"{name!r} is {'an' if type_[:1] in 'aeiou' else 'a'} {type_} column"
    if type_ == "string":
        if not isinstance(value, str):
            raise ValueTypeError(f"{what}: give text, not {type(value).__name__} {value!r}")
        if value == "":
            return ("empty", None, None)
        return ("string", None, value)
    if type_ == "boolean":
        if isinstance(value, bool):
            return ("boolean", float(value), None)
        if isinstance(value, numbers.Integral) and value in (0, 1):
            return ("boolean", float(value), None)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return ("boolean", float(value.strip().lower() in _TRUE), None)
        raise ValueTypeError(f"{what}: give True or False (or yes/no), not {value!r}")
    if type_ in ("integer", "number"):
        number: float
        if isinstance(value, bool):
            raise ValueTypeError(f"{what}: give a number, not {value!r}")
        if isinstance(value, numbers.Real):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise ValueTypeError(f"{what}: {value!r} is not a number") from None
        else:
            raise ValueTypeError(f"{what}: give a number, not {type(value).__name__} {value!r}")
        if not math.isfinite(number):
            raise ValueTypeError(f"{what}: {value!r} is not a finite number")
        if type_ == "integer":
            if not number.is_integer():
                raise ValueTypeError(f"{what}: {value!r} is not a whole number")
            return ("integer", number, None)
        return ("number", number, None)
    raise ValueTypeError(f"unknown column type {type_!r}; use one of {', '.join(USER_TYPES)}")


def encode_submitted(value: Any, name: str) -> tuple[str, float | None, str | None]:
    """``(kind, number, text)`` of a value an external program submits (type inferred).

    Raises
    ------
    ValueTypeError
        Not a number, a boolean, a string, a date or None.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return ("empty", None, None)
    if isinstance(value, bool):
        return ("boolean", float(value), None)
    if isinstance(value, numbers.Integral):
        return ("integer", float(value), None)
    if isinstance(value, numbers.Real):
        return ("number", float(value), None)
    if isinstance(value, str):
        return ("string", None, value)
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return ("timestamp", stamp.timestamp(), None)
    raise ValueTypeError(
        f"{name!r}: submitted values are numbers, booleans, text or dates, not "
        f"{type(value).__name__}; store arrays from the context file instead"
    )


def table_value(kind: str, number: float | None, text: str | None) -> Any:
    """The value a cell shows in :meth:`RunTable.table` (blobs as placeholders)."""
    if kind in NUMERIC_KINDS:
        if number is None:
            return None
        if kind == "boolean":
            return bool(number)
        if kind == "integer":
            return int(number)
        if kind == "timestamp":
            return datetime.fromtimestamp(number, tz=UTC)
        return number
    if kind in BLOB_KINDS:
        return BLOB_KINDS[kind]
    if kind in ("error", "skipped", "empty"):
        return None
    return text


def decode_blob(kind: str, blob: bytes | None) -> Any:
    """PNG bytes for a thumbnail; a 2×N float array for a sparkline."""
    from shiftdesk.runtable.context.summary import cell_object

    return cell_object(kind, None, None, None if blob is None else bytes(blob))


def cell_value(
    kind: str,
    number: float | None,
    text: str | None,
    blob: bytes | None,
    max_diff: float | None,
    attributes_json: str | None,
    provenance: str,
    who: str,
    at: datetime | None,
) -> CellValue:
    """A :class:`CellValue` from a stored row's fields."""
    attributes: dict[str, Any] = json.loads(attributes_json or "{}")
    value = decode_blob(kind, blob) if kind in BLOB_KINDS else table_value(kind, number, text)
    return CellValue(
        value=value,
        kind=kind,
        bold=bool(attributes.get("bold", False)),
        background=attributes.get("background"),
        error=attributes.get("error") or (text if kind in ("error", "skipped") else None),
        error_cls=attributes.get("error_cls") or ("Skip" if kind == "skipped" else None),
        provenance=provenance,
        who=who,
        at=at,
        units=attributes.get("units"),
        max_diff=max_diff,
        attributes=attributes,
    )
