"""Safe arithmetic expressions over named values, typed as text by users.

Used for fit constraints (``B.thickness = 0.08 * A.thickness``) and for anything else a
user writes as a formula over named quantities. The grammar, and nothing else:

* names, optionally dotted (``x``, ``A.thickness``, ``h2o.A.thickness``); no part may
  start with ``_``;
* numbers, unary ``-`` and ``+``, ``+ - * / **`` and parentheses;
* calls of ``min``, ``max``, ``abs``, ``sqrt``, ``exp`` and ``log`` (or the functions a
  :class:`Grammar` allows);
* for :func:`parse_relation`, one relation: ``=`` (or ``==``), ``<``, ``<=``, ``>``,
  ``>=``.

The text is parsed with :func:`ast.parse` and that tree is walked into the small tree of
this module (:class:`Num`, :class:`Name`, :class:`Unary`, :class:`Binary`,
:class:`Call`), refusing every other node type. User text is never compiled to code,
executed or evaluated by Python: :func:`evaluate` computes values from the tree. Every
refusal is an :class:`ExpressionError` whose ``column`` (1-based) points at the place in
the text, where there is one.

>>> evaluate(parse_expression("2 * a.b + max(c, 1)"), {"a.b": 1.5, "c": 0.0})
4.0

A caller that resolves names itself (a fit model's parameters) replaces each
:class:`Name` by a :class:`Bound` leaf of its own, which :func:`evaluate` asks for its
value.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from shiftdesk.errors import ExpressionError

#: Longest text accepted (characters).
MAX_LENGTH = 1000
#: Deepest nesting of parentheses accepted before parsing.
MAX_PARENTHESES = 20
#: Deepest expression tree accepted (operators and calls nested in each other).
MAX_DEPTH = 40
#: Most nodes (numbers, names, operators) in one expression.
MAX_NODES = 300
#: Callable functions and their (min, max) number of arguments (None: no maximum).
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "min": (2, None),
    "max": (2, None),
    "abs": (1, 1),
    "sqrt": (1, 1),
    "exp": (1, 1),
    "log": (1, 1),
}
RELATIONS = ("=", "<", "<=", ">", ">=")
_COMPARE = {ast.Eq: "=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_UNARY = {ast.USub: "-", ast.UAdd: "+"}
#: What refused node types are called in messages.
_REFUSED = {
    "Lambda": "a lambda",
    "ListComp": "a comprehension",
    "SetComp": "a comprehension",
    "DictComp": "a comprehension",
    "GeneratorExp": "a comprehension",
    "Subscript": "indexing (subscripts)",
    "Slice": "a slice",
    "JoinedStr": "a string",
    "FormattedValue": "a string",
    "List": "a list",
    "Tuple": "a tuple (or a stray comma)",
    "Set": "a set",
    "Dict": "a dict",
    "IfExp": "an if-expression",
    "BoolOp": "'and'/'or'",
    "Compare": "a second comparison",
    "NamedExpr": "':='",
    "Await": "'await'",
    "Yield": "'yield'",
    "YieldFrom": "'yield'",
    "Starred": "'*' unpacking",
}
_LONE_EQUALS = re.compile(r"(?<![<>=!])=(?!=)")

#: Arithmetic of :class:`Binary` nodes on floats.
BINARY_OPERATIONS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": math.pow,  # float power: no huge integers, no complex results
}
#: The float implementation of each function in :data:`FUNCTIONS`.
FUNCTION_IMPLEMENTATIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
}


@dataclass(frozen=True)
class Grammar:
    """How one kind of user text is named in messages, and what names it takes.

    Attributes
    ----------
    label : str
        What the text is called in messages (``"expression"``, ``"constraint"``).
    article : str
        Its indefinite article (``"an"``, ``"a"``).
    example : str
        A valid example, shown when the text is empty or lacks a relation.
    max_name_parts : int or None
        Most dot-separated parts of a name (``None``: any number).
    name_kind : str
        What a name is called in messages (``"name"``, ``"parameter name"``).
    name_example : str
        One name, quoted, for messages (``"'A.thickness'"``).
    name_form : str
        The forms names take, for messages (``"'Layer.param' or 'dataset.Layer.param'"``).
    functions : dict
        Callable functions and their (min, max) number of arguments.
    """

    label: str = "expression"
    article: str = "an"
    example: str = "2 * x + 1"
    max_name_parts: int | None = None
    name_kind: str = "name"
    name_example: str = "'a.b'"
    name_form: str = "'name' or 'group.name'"
    functions: Mapping[str, tuple[int, int | None]] = field(default_factory=lambda: dict(FUNCTIONS))


#: The default grammar (names in messages: "expression").
EXPRESSION = Grammar()


# -- expression tree ----------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    """A number."""

    value: float


@dataclass(frozen=True)
class Name:
    """A name as written (``"A.thickness"``), not yet looked up; ``column`` is 1-based."""

    name: str
    column: int


class Bound:
    """Base class of a leaf a caller binds a :class:`Name` to (e.g. a fit parameter)."""

    def value(self) -> float:
        """The leaf's current value."""
        raise NotImplementedError


@dataclass(frozen=True)
class Unary:
    """``-x`` or ``+x``."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    """``a op b`` for op in ``+ - * / **``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    """A call of one of the grammar's functions."""

    func: str
    args: tuple[Node, ...]


Node = Num | Name | Bound | Unary | Binary | Call


@dataclass(frozen=True)
class Relation:
    """A parsed relation: ``left relation right`` (relation in :data:`RELATIONS`)."""

    relation: str
    left: Node
    right: Node


def walk(node: Node) -> Iterator[Node]:
    """Every node of a tree (depth-first, left to right)."""
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, Unary):
            stack.append(item.operand)
        elif isinstance(item, Binary):
            stack.extend((item.right, item.left))
        elif isinstance(item, Call):
            stack.extend(reversed(item.args))


def names(node: Node) -> list[str]:
    """The names an (unbound) tree uses, each once, in the order written."""
    found: dict[str, None] = {}
    for item in walk(node):
        if isinstance(item, Name):
            found.setdefault(item.name)
    return list(found)


def bind(node: Node, resolve: Callable[[Name], Node]) -> Node:
    """A copy of the tree with every :class:`Name` replaced by ``resolve(name)``."""
    if isinstance(node, Name):
        return resolve(node)
    if isinstance(node, Unary):
        return Unary(node.op, bind(node.operand, resolve))
    if isinstance(node, Binary):
        return Binary(node.op, bind(node.left, resolve), bind(node.right, resolve))
    if isinstance(node, Call):
        return Call(node.func, tuple(bind(a, resolve) for a in node.args))
    return node


# -- parsing ------------------------------------------------------------------------------
def error(grammar: Grammar, text: str, message: str, column: int | None = None) -> ExpressionError:
    """An :class:`ExpressionError` naming ``text`` (shortened) and the column."""
    where = f" at column {column}" if column is not None else ""
    shown = text if len(text) <= 80 else text[:77] + "..."
    return ExpressionError(f"{grammar.label} {shown!r}: {message}{where}", column=column)


def parse_expression(text: object, grammar: Grammar = EXPRESSION) -> Node:
    """Parse an expression (no relation) into a tree of unbound names.

    Raises
    ------
    ExpressionError
        For anything outside the grammar, with the column (1-based) where possible.
    """
    parser = _Parser(text, grammar, relation=False)
    tree = parser.tree.body
    if isinstance(tree, ast.Compare):
        raise error(
            grammar,
            parser.source,
            "a comparison is not allowed here; write an expression",
            parser.node_column(tree.comparators[0]),
        )
    return parser.convert(tree, 0)


def parse_relation(text: object, grammar: Grammar = EXPRESSION) -> Relation:
    """Parse ``left relation right`` (``=`` or ``==``, ``<``, ``<=``, ``>``, ``>=``).

    Refuses text as :func:`parse_expression` does, and a missing, chained or unknown
    relation (:class:`ExpressionError`, with the column where possible).
    """
    parser = _Parser(text, grammar, relation=True)
    source = parser.source
    body = parser.tree.body
    if not isinstance(body, ast.Compare):
        parser.convert(body, 0)  # refuses anything outside the grammar first, with its column
        raise error(
            grammar,
            source,
            "it needs a relation: '=' (derived), '<', '<=', '>' or '>=' between two "
            f"expressions, e.g. {grammar.example!r}",
        )
    if len(body.ops) != 1:
        raise error(
            grammar,
            source,
            f"write one relation per {grammar.label} (no chains like a < b < c)",
        )
    relation = _COMPARE.get(type(body.ops[0]))
    if relation is None:
        raise error(
            grammar,
            source,
            "the relation must be '=', '<', '<=', '>' or '>=' ('!=', 'in' and 'is' are "
            "not supported)",
            parser.node_column(body.comparators[0]),
        )
    left = parser.convert(body.left, 0)
    right = parser.convert(body.comparators[0], 0)
    return Relation(relation, left, right)


class _Parser:
    """Checks the raw text, runs :func:`ast.parse` and converts allowed nodes."""

    def __init__(self, text: object, grammar: Grammar, *, relation: bool) -> None:
        label = grammar.label
        if not isinstance(text, str):
            raise ExpressionError(
                f"{grammar.article} {label} must be text, not {type(text).__name__}"
            )
        if len(text) > MAX_LENGTH:
            raise ExpressionError(
                f"the {label} is {len(text)} characters long; at most {MAX_LENGTH} are accepted"
            )
        source = text.strip()
        if not source:
            raise ExpressionError(f"the {label} is empty: write e.g. {grammar.example!r}")
        self.grammar = grammar
        self.source = source
        for i, char in enumerate(source):
            if not char.isprintable():
                raise error(grammar, source, f"it contains the control character {char!r}", i + 1)
        depth = 0
        for i, char in enumerate(source):
            if char in "([{":
                depth += 1
                if depth > MAX_PARENTHESES:
                    raise error(
                        grammar,
                        source,
                        f"parentheses are nested deeper than {MAX_PARENTHESES} levels",
                        i + 1,
                    )
            elif char in ")]}":
                depth -= 1
        self.shift_at: int | None = None
        python = source
        if relation:
            # '=' reads better than '==' for "is derived as"; the Python grammar wants '=='
            lone = [m.start() for m in _LONE_EQUALS.finditer(source)]
            if len(lone) > 1:
                raise error(
                    grammar, source, "it has more than one '='; write one relation", lone[1] + 1
                )
            if lone:
                self.shift_at = lone[0]
                python = source[: lone[0]] + "=" + source[lone[0] :]
        self.python = python
        self.nodes = 0
        try:
            self.tree = ast.parse(python, mode="eval")
        except SyntaxError as exc:
            reason = (exc.msg or "invalid syntax").split(" (")[0]
            offset = exc.offset
            if not offset or offset < 1 or offset > len(python):
                # Python reports "0" when the text stops in the middle of an expression
                reason += "; the expression is incomplete"
                offset = len(python)
            raise error(
                grammar, source, f"syntax error ({reason})", self.column(offset - 1)
            ) from None
        except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
            raise error(grammar, source, f"it cannot be read ({type(exc).__name__})") from None

    def column(self, python_col: int) -> int:
        """1-based column in the user's text of a 0-based character index into ``python``."""
        if self.shift_at is not None and python_col > self.shift_at:
            python_col -= 1
        return python_col + 1

    def node_column(self, node: ast.AST) -> int:
        byte_col = getattr(node, "col_offset", 0)
        chars = len(self.python.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
        return self.column(chars)

    def fail(self, message: str, column: int | None = None) -> ExpressionError:
        return error(self.grammar, self.source, message, column)

    def convert(self, node: ast.AST, depth: int) -> Node:
        grammar = self.grammar
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(f"it has more than {MAX_NODES} terms")
        if depth > MAX_DEPTH:
            raise self.fail(f"it is nested deeper than {MAX_DEPTH} levels")
        col = self.node_column(node)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                what = "a string" if isinstance(value, str | bytes) else repr(value)
                raise self.fail(f"{what} is not allowed; use numbers", col)
            try:
                number = float(value)
            except OverflowError:
                raise self.fail("a number is too large", col) from None
            if not math.isfinite(number):
                raise self.fail("a number is too large", col)
            return Num(number)
        if isinstance(node, ast.UnaryOp):
            op = _UNARY.get(type(node.op))
            if op is None:
                raise self.fail("only unary '-' and '+' are allowed", col)
            return Unary(op, self.convert(node.operand, depth + 1))
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise self.fail(
                    "only the operators + - * / ** are allowed", self.node_column(node.right)
                )
            return Binary(
                op, self.convert(node.left, depth + 1), self.convert(node.right, depth + 1)
            )
        if isinstance(node, ast.Name | ast.Attribute):
            return Name(self.dotted(node, col), col)
        if isinstance(node, ast.Call):
            func = node.func
            functions = grammar.functions
            if not isinstance(func, ast.Name) or func.id not in functions:
                listed = list(functions)
                allowed = (
                    ", ".join(listed[:-1]) + " and " + listed[-1]
                    if len(listed) > 1
                    else "".join(listed)
                )
                raise self.fail(f"only {allowed or 'no functions'} can be called", col)
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise self.fail(f"{func.id}() takes plain arguments only", col)
            least, most = functions[func.id]
            count = len(node.args)
            if count < least or (most is not None and count > most):
                wanted = f"{least}" if least == most else f"at least {least}"
                raise self.fail(f"{func.id}() takes {wanted} argument(s), not {count}", col)
            return Call(func.id, tuple(self.convert(a, depth + 1) for a in node.args))
        kind = _REFUSED.get(type(node).__name__, f"'{type(node).__name__}'")
        raise self.fail(f"{kind} is not allowed in {grammar.article} {grammar.label}", col)

    def dotted(self, node: ast.AST, col: int) -> str:
        parts: list[str] = []
        current = node
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            raise self.fail(
                f"attribute access is only allowed in {self.grammar.name_kind}s like "
                f"{self.grammar.name_example}",
                col,
            )
        parts.append(current.id)
        parts.reverse()
        for part in parts:
            if part.startswith("_"):
                raise self.fail(f"names starting with '_' ({part!r}) are not allowed", col)
        most = self.grammar.max_name_parts
        if most is not None and len(parts) > most:
            raise self.fail(
                f"{'.'.join(parts)!r} is not a {self.grammar.name_kind}: "
                f"use {self.grammar.name_form}",
                col,
            )
        return ".".join(parts)


# -- evaluation ---------------------------------------------------------------------------
def evaluate(
    node: Node,
    values: Mapping[str, float] | Callable[[Name | Bound], float] | None = None,
) -> float:
    """The value of a tree.

    Parameters
    ----------
    node : Node
        A tree from :func:`parse_expression` (or one side of a :class:`Relation`).
    values : mapping or callable, optional
        A :class:`Name`'s value: ``values[name]`` (a mapping) or ``values(leaf)`` (a
        callable, also asked for :class:`Bound` leaves). Without it, bound leaves give
        their own :meth:`Bound.value`.

    Raises
    ------
    ExpressionError
        For a name ``values`` does not know.
    ArithmeticError, ValueError
        On division by zero, overflow, log or sqrt of a negative number, ...
    """
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name | Bound):
        if callable(values):
            return float(values(node))
        if isinstance(node, Bound):
            return float(node.value())
        if values is None or node.name not in values:
            raise ExpressionError(
                f"unknown name {node.name!r} at column {node.column}", column=node.column
            )
        return float(values[node.name])
    if isinstance(node, Unary):
        inner = evaluate(node.operand, values)
        return -inner if node.op == "-" else inner
    if isinstance(node, Binary):
        return BINARY_OPERATIONS[node.op](evaluate(node.left, values), evaluate(node.right, values))
    return float(FUNCTION_IMPLEMENTATIONS[node.func](*(evaluate(a, values) for a in node.args)))


def to_text(node: Node, name_of: Callable[[Bound], str] | None = None) -> str:
    """The expression as canonical text; bound leaves are named by ``name_of``."""
    return ast.unparse(_to_ast(node, name_of))


def _to_ast(node: Node, name_of: Callable[[Bound], str] | None) -> ast.expr:
    if isinstance(node, Num):
        value = node.value
        number: float | int = int(value) if value.is_integer() and abs(value) < 1e15 else value
        return ast.Constant(number)
    if isinstance(node, Name | Bound):
        if isinstance(node, Name):
            name = node.name
        elif name_of is not None:
            name = name_of(node)
        else:
            raise TypeError(f"no name for the bound leaf {node!r}")
        parts = name.split(".")
        expr: ast.expr = ast.Name(parts[0], ast.Load())
        for part in parts[1:]:
            expr = ast.Attribute(expr, part, ast.Load())
        return expr
    if isinstance(node, Unary):
        op: ast.unaryop = ast.USub() if node.op == "-" else ast.UAdd()
        return ast.UnaryOp(op, _to_ast(node.operand, name_of))
    if isinstance(node, Binary):
        ops = {v: k for k, v in _BINARY.items()}
        return ast.BinOp(_to_ast(node.left, name_of), ops[node.op](), _to_ast(node.right, name_of))
    return ast.Call(ast.Name(node.func, ast.Load()), [_to_ast(a, name_of) for a in node.args], [])
