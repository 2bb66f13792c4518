"""Constraints between fit parameters, typed as text and parsed by a whitelisted grammar.

A constraint is one relation between expressions over named parameters::

    B.thickness = 0.08 * A.thickness     # B.thickness becomes derived (refl1d .equals)
    B.sld = A.sld
    A.roughness < A.thickness / 4        # a fit-problem constraint (bumps penalty)
    back.roughness <= 5

Grammar (nothing else is accepted):

* parameter names: ``Layer.param`` (``thickness``, ``sld``, ``isld``, ``roughness``),
  ``front.sld``, ``back.roughness``, ``scale``, ``background``; in a problem with several
  data sets a name may be qualified by the data set's name: ``h2o.A.thickness``,
  ``h2o.scale``. Unqualified names belong to the data set the constraint is added to
  (the first data set when added through the main problem);
* numbers, unary ``-`` and ``+``, ``+ - * / **`` and parentheses;
* calls of ``min``, ``max``, ``abs``, ``sqrt``, ``exp`` and ``log``;
* one relation: ``=`` (or ``==``), ``<``, ``<=``, ``>``, ``>=``.

The text is parsed into a syntax tree with :func:`ast.parse` and that tree is walked
by :func:`parse`, which builds shiftdesk's own small expression tree from the allowed
node types and refuses everything else. User text is never compiled to code, executed
or evaluated by Python: values are computed by :func:`evaluate` from the tree, and fits
get bumps expressions built from it (:func:`to_bumps`).
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shiftdesk.errors import ConstraintError

if TYPE_CHECKING:
    from shiftdesk.reflectometry.parameter import Parameter
    from shiftdesk.reflectometry.problem import FitProblem

#: Longest constraint text accepted (characters).
MAX_LENGTH = 1000
#: Deepest nesting of parentheses accepted before parsing.
MAX_PARENTHESES = 20
#: Deepest expression tree accepted (operators and calls nested in each other).
MAX_DEPTH = 40
#: Most nodes (numbers, names, operators) in one constraint.
MAX_NODES = 300
#: Relative tolerance within which an inequality counts as satisfied (fits approach a
#: constraint's boundary to within their own tolerance).
TOLERANCE = 1e-4
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


# -- expression tree ----------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    """A number."""

    value: float


@dataclass(frozen=True)
class Ref:
    """A parameter name as written (``"A.thickness"``), not yet looked up."""

    name: str
    column: int


@dataclass(frozen=True, eq=False)
class Var:
    """A parameter found in a data set's model."""

    dataset: FitProblem
    param: Parameter


@dataclass(frozen=True)
class Unary:
    """``-x`` or ``+x``."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    """``a op b`` for op in + - * / **."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    """A call of one of :data:`FUNCTIONS`."""

    func: str
    args: tuple[Node, ...]


Node = Num | Ref | Var | Unary | Binary | Call


@dataclass(frozen=True)
class Parsed:
    """A parsed but unbound constraint: ``left relation right``."""

    relation: str
    left: Node
    right: Node


def walk(node: Node) -> Iterator[Node]:
    """Every node of a tree (depth-first)."""
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


# -- parsing ------------------------------------------------------------------------------
def _error(text: str, message: str, column: int | None = None) -> ConstraintError:
    where = f" at column {column}" if column is not None else ""
    shown = text if len(text) <= 80 else text[:77] + "..."
    return ConstraintError(f"constraint {shown!r}: {message}{where}", column=column)


def parse(text: object) -> Parsed:
    """Parse constraint text into a :class:`Parsed` relation (names not looked up).

    Raises
    ------
    ConstraintError
        For anything outside the grammar, with the column (1-based) where possible.
    """
    if not isinstance(text, str):
        raise ConstraintError(f"a constraint must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ConstraintError(
            f"the constraint is {len(text)} characters long; at most {MAX_LENGTH} are accepted"
        )
    source = text.strip()
    if not source:
        raise ConstraintError(
            "the constraint is empty: write e.g. 'B.thickness = 0.08 * A.thickness'"
        )
    for i, char in enumerate(source):
        if not char.isprintable():
            raise _error(source, f"it contains the control character {char!r}", i + 1)
    depth = 0
    for i, char in enumerate(source):
        if char in "([{":
            depth += 1
            if depth > MAX_PARENTHESES:
                raise _error(
                    source, f"parentheses are nested deeper than {MAX_PARENTHESES} levels", i + 1
                )
        elif char in ")]}":
            depth -= 1
    # '=' reads better than '==' for "is derived as"; the Python grammar wants '=='
    lone = [m.start() for m in _LONE_EQUALS.finditer(source)]
    if len(lone) > 1:
        raise _error(source, "it has more than one '='; write one relation", lone[1] + 1)
    shift_at = lone[0] if lone else None
    python = source if shift_at is None else source[:shift_at] + "=" + source[shift_at:]

    def column(python_col: int) -> int:
        """1-based column in the user's text of a 0-based character index into ``python``."""
        if shift_at is not None and python_col > shift_at:
            python_col -= 1
        return python_col + 1

    def node_column(node: ast.AST) -> int:
        byte_col = getattr(node, "col_offset", 0)
        chars = len(python.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
        return column(chars)

    try:
        tree = ast.parse(python, mode="eval")
    except SyntaxError as exc:
        reason = (exc.msg or "invalid syntax").split(" (")[0]
        offset = exc.offset
        if not offset or offset < 1 or offset > len(python):
            # Python reports "0" when the text stops in the middle of an expression
            reason += "; the expression is incomplete"
            offset = len(python)
        raise _error(source, f"syntax error ({reason})", column(offset - 1)) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise _error(source, f"it cannot be read ({type(exc).__name__})") from None

    nodes = 0

    def convert(node: ast.AST, depth: int) -> Node:
        nonlocal nodes
        nodes += 1
        if nodes > MAX_NODES:
            raise _error(source, f"it has more than {MAX_NODES} terms")
        if depth > MAX_DEPTH:
            raise _error(source, f"it is nested deeper than {MAX_DEPTH} levels")
        col = node_column(node)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                what = "a string" if isinstance(value, str | bytes) else repr(value)
                raise _error(source, f"{what} is not allowed; use numbers", col)
            try:
                number = float(value)
            except OverflowError:
                raise _error(source, "a number is too large", col) from None
            if not math.isfinite(number):
                raise _error(source, "a number is too large", col)
            return Num(number)
        if isinstance(node, ast.UnaryOp):
            op = _UNARY.get(type(node.op))
            if op is None:
                raise _error(source, "only unary '-' and '+' are allowed", col)
            return Unary(op, convert(node.operand, depth + 1))
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise _error(
                    source, "only the operators + - * / ** are allowed", node_column(node.right)
                )
            return Binary(op, convert(node.left, depth + 1), convert(node.right, depth + 1))
        if isinstance(node, ast.Name | ast.Attribute):
            return Ref(_dotted(source, node, col), col)
        if isinstance(node, ast.Call):
            func = node.func
            if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
                raise _error(
                    source,
                    "only min, max, abs, sqrt, exp and log can be called",
                    col,
                )
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise _error(source, f"{func.id}() takes plain arguments only", col)
            least, most = FUNCTIONS[func.id]
            count = len(node.args)
            if count < least or (most is not None and count > most):
                wanted = f"{least}" if least == most else f"at least {least}"
                raise _error(source, f"{func.id}() takes {wanted} argument(s), not {count}", col)
            return Call(func.id, tuple(convert(a, depth + 1) for a in node.args))
        kind = _REFUSED.get(type(node).__name__, f"'{type(node).__name__}'")
        raise _error(source, f"{kind} is not allowed in a constraint", col)

    body = tree.body
    if not isinstance(body, ast.Compare):
        convert(body, 0)  # refuses anything outside the grammar first, with its column
        raise _error(
            source,
            "it needs a relation: '=' (derived), '<', '<=', '>' or '>=' between two "
            "expressions, e.g. 'B.thickness = 0.08 * A.thickness'",
        )
    if len(body.ops) != 1:
        raise _error(source, "write one relation per constraint (no chains like a < b < c)")
    relation = _COMPARE.get(type(body.ops[0]))
    if relation is None:
        raise _error(
            source,
            "the relation must be '=', '<', '<=', '>' or '>=' ('!=', 'in' and 'is' are "
            "not supported)",
            node_column(body.comparators[0]),
        )
    left = convert(body.left, 0)
    right = convert(body.comparators[0], 0)
    return Parsed(relation, left, right)


def _dotted(source: str, node: ast.AST, col: int) -> str:
    parts: list[str] = []
    current = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        raise _error(
            source,
            "attribute access is only allowed in parameter names like 'A.thickness'",
            col,
        )
    parts.append(current.id)
    parts.reverse()
    for part in parts:
        if part.startswith("_"):
            raise _error(source, f"names starting with '_' ({part!r}) are not allowed", col)
    if len(parts) > 3:
        raise _error(
            source,
            f"{'.'.join(parts)!r} is not a parameter name: use 'Layer.param' or "
            "'dataset.Layer.param'",
            col,
        )
    return ".".join(parts)


# -- evaluation ---------------------------------------------------------------------------
_FLOAT_OPS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": math.pow,  # float power: no huge integers, no complex results
}
_FLOAT_FUNCS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
}


def evaluate(node: Node, value_of: Callable[[Var], float] | None = None) -> float:
    """The value of a bound tree with current parameter values.

    Raises
    ------
    ArithmeticError, ValueError
        On division by zero, overflow, log or sqrt of a negative number, ...
    """
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):
        return float(node.param.value) if value_of is None else value_of(node)
    if isinstance(node, Unary):
        inner = evaluate(node.operand, value_of)
        return -inner if node.op == "-" else inner
    if isinstance(node, Binary):
        return _FLOAT_OPS[node.op](evaluate(node.left, value_of), evaluate(node.right, value_of))
    if isinstance(node, Call):
        return float(_FLOAT_FUNCS[node.func](*(evaluate(a, value_of) for a in node.args)))
    raise TypeError(f"unbound name {node!r}")  # Ref: bind() first


def to_bumps(node: Node, lookup: Callable[[Parameter], Any]) -> Any:
    """A bumps expression (or float) for a bound tree; ``lookup`` maps our parameters."""
    import bumps.parameter as bp
    from bumps import pmath

    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):
        return lookup(node.param)
    if isinstance(node, Unary):
        inner = to_bumps(node.operand, lookup)
        return -inner if node.op == "-" else inner
    if isinstance(node, Binary):
        left, right = to_bumps(node.left, lookup), to_bumps(node.right, lookup)
        if node.op == "**":
            return left**right
        return _FLOAT_OPS[node.op](left, right)
    if isinstance(node, Call):
        args = [to_bumps(a, lookup) for a in node.args]
        funcs: dict[str, Callable[..., Any]] = {
            "min": bp.min,
            "max": bp.max,
            "abs": abs,
            "sqrt": pmath.sqrt,
            "exp": pmath.exp,
            "log": pmath.log,
        }
        return funcs[node.func](*args)
    raise TypeError(f"unbound name {node!r}")


def to_text(node: Node, name_of: Callable[[Var], str]) -> str:
    """The expression as text, parameters named by ``name_of``."""
    return ast.unparse(_to_ast(node, name_of))


def _to_ast(node: Node, name_of: Callable[[Var], str]) -> ast.expr:
    if isinstance(node, Num):
        value = node.value
        number: float | int = int(value) if value.is_integer() and abs(value) < 1e15 else value
        return ast.Constant(number)
    if isinstance(node, Ref | Var):
        name = node.name if isinstance(node, Ref) else name_of(node)
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


# -- constraints bound to a problem ------------------------------------------------------
@dataclass(eq=False)
class Constraint:
    """One constraint of a :class:`~shiftdesk.reflectometry.FitProblem`.

    Attributes
    ----------
    relation : str
        ``"="`` (the left parameter is derived) or ``"<"``, ``"<="``, ``">"``, ``">="``.
    left, right : Node
        The two sides, with parameters bound to the model's :class:`Parameter` objects.
    problem : str or None
        Why the constraint cannot be applied right now (e.g. a layer it names was
        removed, or its value is out of bounds), else ``None``.
    """

    relation: str
    left: Node
    right: Node
    owner: ConstraintSet = field(repr=False)
    problem: str | None = None

    @property
    def equality(self) -> bool:
        """True when the constraint makes its left parameter derived."""
        return self.relation == "="

    @property
    def target(self) -> Var | None:
        """The derived parameter of an equality."""
        return self.left if self.equality and isinstance(self.left, Var) else None

    def variables(self) -> list[Var]:
        """Every parameter the constraint names (left side first)."""
        return [n for side in (self.left, self.right) for n in walk(side) if isinstance(n, Var)]

    @property
    def text(self) -> str:
        """The constraint as text, with the parameters' current names."""
        name = self.owner.name_of
        return f"{to_text(self.left, name)} {self.relation} {to_text(self.right, name)}"

    def satisfied(self, tolerance: float = TOLERANCE) -> bool | None:
        """Whether an inequality holds now, up to ``tolerance`` relative to the sides' size.

        ``None`` for equalities or when a side cannot be computed.
        """
        if self.equality:
            return None
        try:
            a, b = evaluate(self.left), evaluate(self.right)
        except (ArithmeticError, ValueError):
            return None
        slack = tolerance * max(abs(a), abs(b), 1e-12)
        return bool(
            _COMPARISONS[self.relation](a, b + slack if "<" in self.relation else b - slack)
        )

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        state = f" ({self.problem})" if self.problem else ""
        return f"<Constraint {self.text}{state}>"


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class ConstraintSet:
    """The constraints of a fit problem (kept by its first data set).

    Parameters
    ----------
    root : FitProblem
        The problem whose data sets the constraints' names refer to.
    """

    def __init__(self, root: FitProblem) -> None:
        self.root = root
        self._items: list[Constraint] = []

    def __iter__(self) -> Iterator[Constraint]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Constraint:
        return self._items[index]

    @property
    def texts(self) -> list[str]:
        """The constraints as text (what is saved)."""
        return [c.text for c in self._items]

    # -- names -------------------------------------------------------------------------
    def name_of(self, var: Var) -> str:
        """The name of a parameter as written in constraint text (relative to the root)."""
        path = var.param.path
        if var.dataset is self.root:
            return path
        return f"{var.dataset.dataset_name}.{path}"

    def _candidates(self, default: FitProblem) -> list[str]:
        names = list(default.parameters())
        datasets = self.root.datasets
        if len(datasets) > 1:
            for ds_name, ds in datasets.items():
                names += [f"{ds_name}.{path}" for path in ds.parameters()]
        return names

    def resolve(self, name: str, default: FitProblem) -> Var:
        """Find the parameter ``name`` (see the module docstring for the forms)."""
        own = default.parameters()
        if name in own:
            return Var(default, own[name])
        datasets = self.root.datasets
        head, _, rest = name.partition(".")
        if rest and head in datasets:
            params = datasets[head].parameters()
            if rest in params:
                return Var(datasets[head], params[rest])
        close = difflib.get_close_matches(name, self._candidates(default), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        if not close:
            known = ", ".join(list(own)[:12])
            hint = f"; parameters are named like: {known}"
            if len(datasets) > 1:
                hint += f" (qualify with a data set: {', '.join(datasets)})"
        raise ConstraintError(f"unknown parameter {name!r}{hint}")

    def _bind(self, node: Node, default: FitProblem, text: str) -> Node:
        if isinstance(node, Ref):
            try:
                return self.resolve(node.name, default)
            except ConstraintError as exc:
                raise ConstraintError(
                    f"constraint {text!r}: {exc} (column {node.column})", column=node.column
                ) from None
        if isinstance(node, Unary):
            return Unary(node.op, self._bind(node.operand, default, text))
        if isinstance(node, Binary):
            return Binary(
                node.op,
                self._bind(node.left, default, text),
                self._bind(node.right, default, text),
            )
        if isinstance(node, Call):
            return Call(node.func, tuple(self._bind(a, default, text) for a in node.args))
        return node

    # -- adding and removing -------------------------------------------------------------
    def add(self, text: object, default: FitProblem | None = None) -> Constraint:
        """Parse, check and add one constraint; nothing changes when it is refused."""
        parsed = parse(text)
        assert isinstance(text, str)
        source = text.strip()
        default = default or self.root
        left = self._bind(parsed.left, default, source)
        right = self._bind(parsed.right, default, source)
        constraint = Constraint(parsed.relation, left, right, owner=self)
        if constraint.equality:
            self._check_equality(constraint, source)
        else:
            self._check_inequality(constraint, source)
        new_text = constraint.text
        if any(c.text == new_text for c in self._items):
            raise ConstraintError(f"the constraint {new_text!r} is already there")
        self._items.append(constraint)
        target = constraint.target
        if target is not None:
            target.param.constraint = constraint
            target.param._notify("range")  # views show it as derived now
        self.update()
        return constraint

    def _check_equality(self, constraint: Constraint, text: str) -> None:
        target = constraint.left
        if not isinstance(target, Var):
            raise ConstraintError(
                f"constraint {text!r}: the left side of '=' must be one parameter, the one "
                "that becomes derived, e.g. 'B.thickness = 0.08 * A.thickness'"
            )
        name = self.name_of(target)
        inputs = [n for n in walk(constraint.right) if isinstance(n, Var)]
        if not inputs:
            raise ConstraintError(
                f"constraint {text!r}: the right-hand side is a constant; to keep {name} at "
                "a value, set the value and leave the parameter fixed"
            )
        for existing in self._items:
            other = existing.target
            if other is not None and other.param is target.param:
                raise ConstraintError(
                    f"{name} is already constrained by {existing.text!r}; a parameter can "
                    "be derived by one constraint only (remove that one first)"
                )
        if target.param.free:
            raise ConstraintError(
                f"{name} is free (fitted) but this constraint derives it from other "
                "parameters: fix it first (untick 'fit'); it will follow the constraint"
            )
        # a cycle: the target is (through other equalities) an input of its own inputs
        derived = {
            id(c.target.param): c for c in self._items if c.target is not None and not c.problem
        }
        seen: set[int] = set()
        stack = [v.param for v in inputs]
        while stack:
            param = stack.pop()
            if param is target.param:
                raise ConstraintError(
                    f"constraint {text!r} makes a cycle: {name} would depend on itself "
                    "(through " + (", ".join(self._chain(derived, inputs)) or name) + ")"
                )
            if id(param) in seen:
                continue
            seen.add(id(param))
            upstream = derived.get(id(param))
            if upstream is not None:
                stack.extend(v.param for v in walk(upstream.right) if isinstance(v, Var))
        try:
            value = evaluate(constraint.right)
        except (ArithmeticError, ValueError) as exc:
            raise ConstraintError(
                f"constraint {text!r} cannot be computed with the current values ({exc})"
            ) from None
        self._check_value(target, value, text)

    @staticmethod
    def _chain(derived: dict[int, Constraint], inputs: list[Var]) -> list[str]:
        return [derived[id(v.param)].text for v in inputs if id(v.param) in derived]

    def _check_value(self, target: Var, value: float, text: str) -> None:
        param = target.param
        if not math.isfinite(value):
            raise ConstraintError(f"constraint {text!r} gives {value} with the current values")
        if param.lower_limit is not None and value < param.lower_limit:
            raise ConstraintError(
                f"constraint {text!r} gives {self.name_of(target)} = {value:g} with the "
                f"current values, below its limit {param.lower_limit:g}; change the values "
                "or the constraint"
            )

    def _check_inequality(self, constraint: Constraint, text: str) -> None:
        if not constraint.variables():
            raise ConstraintError(
                f"constraint {text!r} names no parameter: it is always true or always false"
            )
        for side in (constraint.left, constraint.right):
            try:
                evaluate(side)
            except (ArithmeticError, ValueError) as exc:
                raise ConstraintError(
                    f"constraint {text!r} cannot be computed with the current values ({exc})"
                ) from None

    def remove(self, which: int | str | Constraint) -> Constraint:
        """Remove a constraint by position, text or object; a derived parameter is freed."""
        constraint = self.find(which)
        self._items.remove(constraint)
        target = constraint.target
        if target is not None and target.param.constraint is constraint:
            target.param.constraint = None
            target.param._notify("range")
        return constraint

    def find(self, which: int | str | Constraint) -> Constraint:
        """A constraint by position, text (spacing ignored) or object."""
        if isinstance(which, Constraint):
            if which in self._items:
                return which
        elif isinstance(which, int) and not isinstance(which, bool):
            if -len(self._items) <= which < len(self._items):
                return self._items[which]
        elif isinstance(which, str):
            wanted = _normalise(which)
            for constraint in self._items:
                if _normalise(constraint.text) == wanted:
                    return constraint
            try:  # the same constraint written differently: compare the canonical text
                key = _normalise(self._canonical(which))
            except ConstraintError:
                key = None
            for constraint in self._items:
                if key is not None and _normalise(constraint.text) == key:
                    return constraint
        listing = "; ".join(self.texts) or "none"
        raise KeyError(f"no constraint {which!r}; the constraints are: {listing}")

    def _canonical(self, text: str) -> str:
        parsed = parse(text)
        left = self._bind(parsed.left, self.root, text)
        right = self._bind(parsed.right, self.root, text)
        return Constraint(parsed.relation, left, right, owner=self).text

    def clear(self) -> None:
        """Remove every constraint."""
        for constraint in list(self._items):
            self.remove(constraint)

    # -- keeping values in step ----------------------------------------------------------
    def check(self) -> None:
        """Mark constraints whose parameters left the model (a layer or data set removed)."""
        datasets = self.root.datasets
        live = {id(p) for ds in datasets.values() for p in ds.parameters().values()}
        for constraint in self._items:
            missing = [v for v in constraint.variables() if id(v.param) not in live]
            if missing:
                constraint.problem = (
                    f"{', '.join(v.param.path for v in missing)} no longer exists in the "
                    "model; remove this constraint"
                )
            elif constraint.problem and "no longer exists" in constraint.problem:
                constraint.problem = None

    def ordered_equalities(self) -> list[Constraint]:
        """Applicable equalities, each after the ones its inputs depend on."""
        active = [c for c in self._items if c.equality and not _missing(c)]
        by_target = {id(c.target.param): c for c in active if c.target is not None}
        done: set[int] = set()
        order: list[Constraint] = []

        def visit(constraint: Constraint, depth: int) -> None:
            if id(constraint) in done or depth > len(active):
                return
            for var in walk(constraint.right):
                if isinstance(var, Var) and id(var.param) in by_target:
                    visit(by_target[id(var.param)], depth + 1)
            done.add(id(constraint))
            order.append(constraint)

        for constraint in active:
            visit(constraint, 0)
        return order

    def update(self) -> list[Parameter]:
        """Recompute derived values; returns the parameters whose value changed."""
        self.check()
        changed: list[Parameter] = []
        for constraint in self.ordered_equalities():
            target = constraint.target
            assert target is not None
            try:
                value = evaluate(constraint.right)
                if not math.isfinite(value):
                    raise ValueError(f"gives {value}")
                limit = target.param.lower_limit
                if limit is not None and value < limit:
                    raise ValueError(f"gives {value:g}, below the limit {limit:g}")
            except (ArithmeticError, ValueError) as exc:
                constraint.problem = f"cannot be applied with the current values: {exc}"
                continue
            constraint.problem = None
            if target.param._derive(value):
                changed.append(target.param)
        return changed

    def violations(self) -> list[str]:
        """Messages for inequalities that do not hold and constraints that cannot apply."""
        out = []
        for constraint in self._items:
            if constraint.problem:
                out.append(f"{constraint.text}: {constraint.problem}")
            elif constraint.satisfied() is False:
                out.append(f"{constraint.text} does not hold with the current values")
        return out

    def uses_dataset(self, dataset: FitProblem) -> list[Constraint]:
        """The constraints naming a parameter of ``dataset``."""
        return [c for c in self._items if any(v.dataset is dataset for v in c.variables())]


def _missing(constraint: Constraint) -> bool:
    return bool(constraint.problem and "no longer exists" in constraint.problem)


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("==", "=")


def texts_of(items: Iterable[Constraint]) -> list[str]:
    """The text of each constraint."""
    return [c.text for c in items]
