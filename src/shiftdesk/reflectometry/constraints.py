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

The grammar is :mod:`shiftdesk.expressions` (domain-free): :func:`parse` reads the text
into its small expression tree, refusing everything else, and this module binds the
names to the model's parameters (:class:`Var`). User text is never compiled to code,
executed or evaluated by Python: values are computed by :func:`evaluate` from the tree,
and fits get bumps expressions built from it (:func:`to_bumps`).
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shiftdesk import expressions
from shiftdesk.errors import ConstraintError
from shiftdesk.expressions import (
    BINARY_OPERATIONS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    MAX_PARENTHESES,
    RELATIONS,
    Binary,
    Bound,
    Call,
    ExpressionError,
    Node,
    Num,
    Unary,
    walk,
)
from shiftdesk.expressions import Name as Ref
from shiftdesk.expressions import Relation as Parsed

if TYPE_CHECKING:
    from shiftdesk.reflectometry.parameter import Parameter
    from shiftdesk.reflectometry.problem import FitProblem

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "MAX_PARENTHESES",
    "RELATIONS",
    "TOLERANCE",
    "Binary",
    "Call",
    "Constraint",
    "ConstraintSet",
    "Node",
    "Num",
    "Parsed",
    "Ref",
    "Unary",
    "Var",
    "evaluate",
    "parse",
    "texts_of",
    "to_bumps",
    "to_text",
    "walk",
]

#: Relative tolerance within which an inequality counts as satisfied (fits approach a
#: constraint's boundary to within their own tolerance).
TOLERANCE = 1e-4
#: How constraint text is named in messages, and the parameter names it takes.
GRAMMAR = expressions.Grammar(
    label="constraint",
    article="a",
    example="B.thickness = 0.08 * A.thickness",
    max_name_parts=3,
    name_kind="parameter name",
    name_example="'A.thickness'",
    name_form="'Layer.param' or 'dataset.Layer.param'",
)


@dataclass(frozen=True, eq=False)
class Var(Bound):
    """A parameter found in a data set's model."""

    dataset: FitProblem
    param: Parameter

    def value(self) -> float:
        return float(self.param.value)


def parse(text: object) -> Parsed:
    """Parse constraint text into a :class:`Parsed` relation (names not looked up).

    Raises
    ------
    ConstraintError
        For anything outside the grammar, with the column (1-based) where possible.
    """
    try:
        return expressions.parse_relation(text, GRAMMAR)
    except ExpressionError as exc:
        raise ConstraintError(str(exc), column=exc.column) from None


def evaluate(node: Node, value_of: Callable[[Var], float] | None = None) -> float:
    """The value of a bound tree with current parameter values.

    Raises
    ------
    ArithmeticError, ValueError
        On division by zero, overflow, log or sqrt of a negative number, ...
    """
    if value_of is None:
        return expressions.evaluate(node)

    def leaf(item: Ref | Bound) -> float:
        if not isinstance(item, Var):
            raise TypeError(f"unbound name {item!r}")  # Ref: bind() first
        return value_of(item)

    return expressions.evaluate(node, leaf)


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
        return BINARY_OPERATIONS[node.op](left, right)
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

    def name(leaf: Bound) -> str:
        assert isinstance(leaf, Var)
        return name_of(leaf)

    return expressions.to_text(node, name)


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
        def resolve(ref: Ref) -> Node:
            try:
                return self.resolve(ref.name, default)
            except ConstraintError as exc:
                raise ConstraintError(
                    f"constraint {text!r}: {exc} (column {ref.column})", column=ref.column
                ) from None

        return expressions.bind(node, resolve)

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
