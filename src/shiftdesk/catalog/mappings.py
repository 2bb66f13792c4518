"""CRDS mapping files (.pmap, .imap, .rmap): a safe parser, checksums and the CRDS layout.

A mapping file is a restricted Python literal file::

    header = {'name' : 'roman_wfi_flat_0004.rmap', 'mapping' : 'REFERENCE', ...}
    comment = \"\"\"optional\"\"\"
    selector = Match({('WFI01', 'GRISM') : UseAfter({'2020-01-01 00:00:00' : 'x.asdf'})})

:func:`parse_mapping` reads it with :mod:`ast`, walking only literals and calls of the
known selector classes; nothing in the text is ever evaluated, so a file with an import,
a lambda, a name or an attribute in it is refused (with its line) instead of run.
"""

from __future__ import annotations

import ast
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shiftdesk.errors import CatalogError

__all__ = [
    "SELECTOR_CLASSES",
    "SPECIAL_VALUES",
    "Mapping",
    "Selector",
    "checksum",
    "format_mapping",
    "load_mapping",
    "parse_mapping",
    "with_checksum",
]

#: the selector classes a mapping may call (CRDS's ``crds.core.selectors.SELECTORS``)
SELECTOR_CLASSES = frozenset(
    {"Match", "UseAfter", "VersionAfter", "SelectVersion", "ClosestTime",
     "GeometricallyNearest", "Bracket"}
)  # fmt: skip
#: values that are not files: "not applicable" and "leave the type out" (CRDS's spellings)
NA_VALUES = frozenset({"N/A", "TEMP_N/A", "n/a", "temp_n/a"})
OMIT_VALUES = frozenset({"OMIT", "TEMP_OMIT", "omit"})
SPECIAL_VALUES = NA_VALUES | OMIT_VALUES
_KINDS = {"PIPELINE": "pipeline", "INSTRUMENT": "instrument", "REFERENCE": "reference"}


@dataclass(frozen=True)
class Selector:
    """One selector call of an rmap, e.g. ``Match({...})`` or ``UseAfter({...})``.

    Attributes
    ----------
    kind : str
        The class name as written (``"Match"``, ``"UseAfter"``, ...).
    entries : tuple of (key, value)
        The dict items in file order; a value is a file name (str) or a nested Selector.
    """

    kind: str
    entries: tuple[tuple[Any, Any], ...]

    def values(self) -> list[Any]:
        """The values (file names or nested selectors) in file order."""
        return [value for _, value in self.entries]

    def leaves(self) -> list[str]:
        """Every file name (and special value) this selector tree can return."""
        out: list[str] = []
        for value in self.values():
            if isinstance(value, Selector):
                out.extend(value.leaves())
            elif isinstance(value, tuple):
                out.extend(str(v) for v in value)
            else:
                out.append(str(value))
        return out


@dataclass(frozen=True)
class Mapping:
    """One parsed mapping file.

    Attributes
    ----------
    name : str
        The file name, e.g. ``"roman_wfi_flat_0004.rmap"``.
    text : str
        The file text as read (or as written, for generated mappings).
    header : dict
        The header, keys lower-case, values as literals (tuples stay tuples).
    selector : dict or Selector
        A plain ``dict`` for pmaps and imaps; a :class:`Selector` tree for rmaps.
    kind : str
        ``"pipeline"``, ``"instrument"`` or ``"reference"`` (from ``header["mapping"]``).
    comment : str or None
        The optional ``comment`` block.
    """

    name: str
    text: str
    header: dict[str, Any]
    selector: Any
    kind: str
    comment: str | None = field(default=None, compare=False)

    @property
    def observatory(self) -> str:
        """The observatory, lower-case (``"roman"``)."""
        return str(self.header.get("observatory", "")).lower()

    @property
    def instrument(self) -> str:
        """The instrument, upper-case; ``""`` for a pmap."""
        return "" if self.kind == "pipeline" else str(self.header.get("instrument", "")).upper()

    @property
    def filekind(self) -> str:
        """The reference type, upper-case; ``""`` unless an rmap."""
        return str(self.header.get("filekind", "")).upper() if self.kind == "reference" else ""

    @property
    def derived_from(self) -> str:
        """The mapping this one was made from (its predecessor)."""
        return str(self.header.get("derived_from", ""))

    @property
    def sha1sum(self) -> str:
        """The checksum the header states."""
        return str(self.header.get("sha1sum", ""))

    @property
    def parkey(self) -> tuple[Any, ...]:
        """The header parameter names the selector matches on (nested tuples for rmaps)."""
        return tuple(self.header.get("parkey", ()))

    def _selections(self) -> list[str]:
        if isinstance(self.selector, Selector):
            return self.selector.leaves()
        if isinstance(self.selector, dict):
            return [str(v) for v in self.selector.values()]
        return []

    def mapping_children(self) -> list[str]:
        """The mappings this one names: a pmap's imaps, an imap's rmaps (N/A, OMIT left out)."""
        if self.kind == "reference":
            return []
        return sorted({v for v in self._selections() if v not in SPECIAL_VALUES})

    def reference_children(self) -> list[str]:
        """The reference files an rmap names (N/A left out); ``[]`` for other mappings."""
        if self.kind != "reference":
            return []
        return sorted({v for v in self._selections() if v not in SPECIAL_VALUES})

    def children(self) -> list[str]:
        """Every file this mapping names, sorted, unique."""
        return sorted(set(self.mapping_children()) | set(self.reference_children()))

    def __repr__(self) -> str:
        return f"Mapping({self.name!r}, kind={self.kind!r})"


# ----------------------------------------------------------------------------- checksums


def _without_checksum_lines(text: str) -> str:
    return "".join(line for line in text.splitlines(True) if "sha1sum" not in line)


def checksum(text: str) -> str:
    """The CRDS checksum of mapping text: SHA-1 (hex) of the text without every line
    that contains ``sha1sum``.

    Parameters
    ----------
    text : str
        The mapping file text.

    Returns
    -------
    str
        40 hex digits.
    """
    return hashlib.sha1(_without_checksum_lines(text).encode("utf-8")).hexdigest()


def with_checksum(text: str) -> str:
    """``text`` with its ``'sha1sum' : '...'`` header value rewritten to :func:`checksum`.

    Raises
    ------
    CatalogError
        When the text has no sha1sum header line to rewrite.
    """
    lines = text.splitlines(True)
    value = checksum(text)
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("'sha1sum'", '"sha1sum"')) and ":" in stripped:
            indent = line[: len(line) - len(stripped)]
            end = "\n" if line.endswith("\n") else ""
            lines[i] = f"{indent}'sha1sum' : '{value}',{end}"
            return "".join(lines)
    raise CatalogError(
        "mapping text has no 'sha1sum' header line to rewrite; "
        "add \"'sha1sum' : ''\" to its header (or write it with format_mapping)"
    )


# ----------------------------------------------------------------------------- parsing


def _where(name: str, node: ast.AST | None) -> str:
    line = getattr(node, "lineno", None)
    return f"{name}, line {line}" if line else name


class _Literal:
    """Turns the ast of a mapping's right-hand sides into values, refusing anything else."""

    def __init__(self, name: str) -> None:
        self.name = name

    def refuse(self, node: ast.AST, what: str) -> CatalogError:
        return CatalogError(
            f"{_where(self.name, node)}: {what} is not allowed in a mapping file (only literals "
            f"and the selector classes {', '.join(sorted(SELECTOR_CLASSES))}); the file is not "
            "loaded: fix or replace it"
        )

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (str, int, float, bool)) or node.value is None:
                return node.value
            raise self.refuse(node, f"the constant {node.value!r}")
        if isinstance(node, ast.Tuple):
            return tuple(self.value(elt) for elt in node.elts)
        if isinstance(node, ast.List):
            return [self.value(elt) for elt in node.elts]
        if isinstance(node, ast.Dict):
            return self.dict_(node)
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float))
            and not isinstance(node.operand.value, bool)
        ):
            number = node.operand.value
            return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.refuse(node, _describe(node))

    def dict_(self, node: ast.Dict) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:
                raise self.refuse(node, "a ** expansion")
            key = self.value(key_node)
            if isinstance(key, (list, dict, Selector)):
                raise self.refuse(key_node, "a list, dict or selector as a key")
            if key in out:
                raise CatalogError(
                    f"{_where(self.name, key_node)}: the key {key!r} appears twice (the second "
                    "would silently replace the first); remove one of them"
                )
            out[key] = self.value(value_node)
        return out

    def call(self, node: ast.Call) -> Selector:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in SELECTOR_CLASSES:
            raise self.refuse(node, f"the call {ast.unparse(func)}(...)")
        if node.keywords or len(node.args) != 1 or not isinstance(node.args[0], ast.Dict):
            raise CatalogError(
                f"{_where(self.name, node)}: {func.id}(...) must have exactly one argument, "
                "a {key : value} dict; fix the selector"
            )
        entries = self.dict_(node.args[0])
        for key, value in entries.items():
            if not isinstance(value, (str, Selector, tuple)):
                raise CatalogError(
                    f"{_where(self.name, node)}: {func.id} key {key!r} selects {value!r}, "
                    "which is neither a file name nor a nested selector"
                )
        return Selector(func.id, tuple(entries.items()))


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"attribute access ({ast.unparse(node)})"
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    if isinstance(node, ast.Lambda):
        return "a lambda"
    if isinstance(node, ast.Call):
        return f"the call {ast.unparse(node.func)}(...)"
    return f"the expression {ast.unparse(node)!r}" if hasattr(ast, "unparse") else "an expression"


def _parse_text(text: str, name: str) -> tuple[dict[str, Any], Any, str | None]:
    try:
        tree = ast.parse(text, filename=name, mode="exec")
    except SyntaxError as exc:
        raise CatalogError(
            f"{name}, line {exc.lineno}: syntax error ({exc.msg}); the file is not a valid "
            "mapping: fix or replace it"
        ) from None
    literal = _Literal(name)
    found: dict[str, Any] = {}
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            continue  # a bare string (docstring-like): inert
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id in ("header", "selector", "comment")
        ):
            what = "an import" if isinstance(stmt, (ast.Import, ast.ImportFrom)) else None
            what = what or f"the statement {ast.unparse(stmt)[:60]!r}"
            raise CatalogError(
                f"{_where(name, stmt)}: {what} is not allowed; a mapping holds only "
                "'header = {...}', an optional 'comment = \"\"\"...\"\"\"' and 'selector = ...'"
            )
        target = stmt.targets[0].id
        if target in found:
            raise CatalogError(f"{_where(name, stmt)}: '{target}' is assigned twice; keep one")
        found[target] = literal.value(stmt.value)
    for required in ("header", "selector"):
        if required not in found:
            raise CatalogError(f"{name}: no '{required} = ...' in the file; it is not a mapping")
    header = found["header"]
    if not isinstance(header, dict):
        raise CatalogError(f"{name}: 'header' must be a dict")
    comment = found.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise CatalogError(f"{name}: 'comment' must be a string")
    return {str(k).lower(): v for k, v in header.items()}, found["selector"], comment


def parse_mapping(
    text: str | bytes, name: str | None = None, *, check_checksum: bool = True
) -> Mapping:
    """Parse mapping text safely (nothing in it is evaluated).

    Parameters
    ----------
    text : str or bytes
        The file text (bytes are decoded as UTF-8).
    name : str, optional
        The file name; the header's ``name`` must equal it. Defaults to the header's.
    check_checksum : bool
        Verify the header's ``sha1sum`` against :func:`checksum` of the text.

    Returns
    -------
    Mapping

    Raises
    ------
    CatalogError
        Syntax errors, anything but literals and selector calls, a missing or wrong
        header field, a name that differs from the header's, a wrong checksum.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CatalogError(f"{name or 'mapping'}: not UTF-8 text ({exc})") from None
    where = name or "mapping text"
    header, selector, comment = _parse_text(text, where)
    stated = header.get("name")
    if not isinstance(stated, str) or not stated:
        raise CatalogError(f"{where}: the header has no 'name'; add the file name to it")
    if name is not None and os.path.basename(name) != stated:
        raise CatalogError(
            f"{where}: the header names the file {stated!r}, not {os.path.basename(name)!r}; "
            "rename the file or fix its header (and its sha1sum)"
        )
    kind = _KINDS.get(str(header.get("mapping", "")).upper())
    if kind is None:
        raise CatalogError(
            f"{stated}: header 'mapping' is {header.get('mapping')!r}; expected PIPELINE, "
            "INSTRUMENT or REFERENCE"
        )
    if "parkey" not in header or not isinstance(header["parkey"], tuple):
        raise CatalogError(f"{stated}: the header needs a 'parkey' tuple")
    if kind == "reference":
        if not isinstance(selector, Selector):
            raise CatalogError(f"{stated}: an rmap's selector must be a selector call (Match(...))")
        for key in ("observatory", "instrument", "filekind"):
            if not header.get(key):
                raise CatalogError(f"{stated}: the rmap header needs '{key}'")
    elif not isinstance(selector, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in selector.items()
    ):
        raise CatalogError(f"{stated}: a {kind} mapping's selector must be a {{str : str}} dict")
    if check_checksum:
        stated_sum = header.get("sha1sum")
        if not stated_sum:
            raise CatalogError(
                f"{stated}: the header has no 'sha1sum'; write it with with_checksum() or load "
                "with check_checksum=False"
            )
        actual = checksum(text)
        if actual != stated_sum:
            raise CatalogError(
                f"{stated}: sha1sum mismatch: the header says {stated_sum}, the text gives "
                f"{actual}; the file was changed after its checksum was written (re-deliver it, "
                "or rewrite the sum with with_checksum() if the change is intended)"
            )
    return Mapping(stated, text, header, selector, kind, comment)


def load_mapping(path: str | os.PathLike[str], *, check_checksum: bool = True) -> Mapping:
    """Read and parse the mapping file at ``path`` (see :func:`parse_mapping`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the mapping ({exc.strerror})") from None
    return parse_mapping(data, path.name, check_checksum=check_checksum)


# ----------------------------------------------------------------------------- formatting


def _format_value(value: Any, indent: int) -> str:
    if isinstance(value, Selector):
        return _format_selector(value, indent)
    if isinstance(value, dict):
        return _format_dict(value, indent, sort=True)
    return repr(value)


def _format_dict(items: dict[Any, Any], indent: int, *, sort: bool) -> str:
    pad = " " * 4 * indent
    pairs = sorted(items.items(), key=lambda kv: _sort_key(kv[0])) if sort else items.items()
    lines = ["{"]
    for key, value in pairs:
        lines.append(f"{pad}    {key!r} : {_format_value(value, indent + 1)},")
    lines.append(pad + "}")
    return "\n".join(lines)


def _sort_key(key: Any) -> tuple[str, str]:
    # keys of one dict share a type in practice; sort by type name then repr so a mixed
    # dict still formats deterministically
    return (type(key).__name__, repr(key)) if not isinstance(key, str) else ("str", key)


def _format_selector(selector: Selector, indent: int) -> str:
    # CRDS writes selector entries sorted by key (as its Selector.format does)
    body = _format_dict(dict(selector.entries), indent, sort=True)
    return f"{selector.kind}({body})"


def format_mapping(header: dict[str, Any], selector: Any, comment: str | None = None) -> str:
    """Mapping text in CRDS's layout (header keys sorted, 4-space indents), checksum written.

    Parameters
    ----------
    header : dict
        The header; its ``sha1sum`` is (re)computed.
    selector : dict or Selector
        A ``{key: name}`` dict (pmap, imap) or a :class:`Selector` tree (rmap).
    comment : str, optional
        Written as a ``comment = \"\"\"...\"\"\"`` block between header and selector.
    """
    header = {str(k).lower(): v for k, v in header.items()}
    header["sha1sum"] = ""
    parts = [f"header = {_format_dict(header, 0, sort=True)}\n"]
    if comment is not None:
        parts.append(f'comment = """{comment}"""\n')
    parts.append(f"selector = {_format_value(selector, 0)}\n")
    return with_checksum("\n".join(parts))


def replace(mapping: Mapping, header: dict[str, Any], selector: Any) -> Mapping:
    """A new :class:`Mapping` with ``header`` and ``selector``, text formatted and summed."""
    text = format_mapping(header, selector, mapping.comment)
    return parse_mapping(text, str(header["name"]))
