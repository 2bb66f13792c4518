"""The domain-free expression grammar: parsing, errors with columns, evaluation."""

from __future__ import annotations

import math
import re

import pytest

from shiftdesk import expressions
from shiftdesk.expressions import (
    Binary,
    Bound,
    ExpressionError,
    Grammar,
    Name,
    Num,
    evaluate,
    names,
    parse_expression,
    parse_relation,
    to_text,
)


def test_evaluates_over_named_values() -> None:
    tree = parse_expression("2 * a.b + max(c, 1) - -x ** 2")
    assert names(tree) == ["a.b", "c", "x"]
    assert evaluate(tree, {"a.b": 1.5, "c": 0.0, "x": 3.0}) == 2 * 1.5 + 1 + 9
    assert evaluate(parse_expression("sqrt(16) + log(exp(2)) + abs(-1) + min(3, 4, 5)")) == 10
    assert evaluate(parse_expression("1e3 / 4")) == 250.0


def test_a_callable_gives_values_and_bound_leaves_answer_themselves() -> None:
    tree = parse_expression("a + b")
    assert evaluate(tree, lambda leaf: 10.0 if leaf.name == "a" else 1.0) == 11.0  # type: ignore[union-attr]

    class Const(Bound):
        def value(self) -> float:
            return 4.0

    bound = expressions.bind(tree, lambda _name: Const())
    assert evaluate(bound) == 8.0
    assert to_text(bound, lambda _leaf: "k") == "k + k"


def test_unknown_names_and_arithmetic_errors() -> None:
    with pytest.raises(ExpressionError, match=r"unknown name 'b' at column 5") as info:
        evaluate(parse_expression("a + b"), {"a": 1.0})
    assert info.value.column == 5
    with pytest.raises(ZeroDivisionError):
        evaluate(parse_expression("1 / a"), {"a": 0.0})
    with pytest.raises(ValueError):
        evaluate(parse_expression("log(a)"), {"a": -1.0})


def test_relations() -> None:
    parsed = parse_relation("B.x = 0.08 * A.x")
    assert parsed.relation == "="
    assert parsed.left == Name("B.x", 1)
    assert parsed.right == Binary("*", Num(0.08), Name("A.x", 14))
    assert parse_relation("a >= 2").relation == ">="
    assert parse_relation("a == b").relation == "="
    assert to_text(parsed.right) == "0.08 * A.x"


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("2 * * a", "syntax error", 5),
        ("2 *", "the expression is incomplete", 3),
        ("a)", "syntax error", 2),
        ("a $ 2", "syntax error", 3),
        ("[a][0]", "indexing (subscripts) is not allowed in an expression", 1),
        ("'a'", "a string is not allowed; use numbers", 1),
        ("a + a.__class__", "names starting with '_'", 5),
        ("a // 2", "only the operators + - * / ** are allowed", 6),
        ("~a", "only unary '-' and '+' are allowed", 1),
        ("open(a)", "only min, max, abs, sqrt, exp and log can be called", 1),
        ("sqrt(a, 2)", "sqrt() takes 1 argument(s), not 2", 1),
        ("max(a)", "max() takes at least 2 argument(s), not 1", 1),
        ("max(a, b=1)", "takes plain arguments only", 1),
        ("a if b else c", "an if-expression is not allowed", 1),
        ("lambda: 1", "a lambda is not allowed", 1),
        ("a < b", "a comparison is not allowed here", 5),
        ("a\x00", "control character", 2),
        ("1e999", "a number is too large", 1),
        ("(a).b", None, None),
    ],
)
def test_refusals_say_why_and_where(text: str, message: str | None, column: int | None) -> None:
    if message is None:  # attribute access on a parenthesised name is a plain name
        assert names(parse_expression(text)) == ["a.b"]
        return
    with pytest.raises(ExpressionError, match=re.escape(message)) as info:
        parse_expression(text)
    assert info.value.column == column
    if column is not None:
        assert f"at column {column}" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "it needs a relation"),
        ("a != b", "'!=', 'in' and 'is' are not supported"),
        ("0 < a < b", "one relation per expression"),
        ("a = b = 3", "more than one '='"),
    ],
)
def test_relation_refusals(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse_relation(text)


def test_limits_and_non_text() -> None:
    with pytest.raises(ExpressionError, match="must be text"):
        parse_expression(3)
    with pytest.raises(ExpressionError, match="the expression is empty"):
        parse_expression("   ")
    with pytest.raises(ExpressionError, match="characters long"):
        parse_expression("a+" * 600 + "a")
    with pytest.raises(ExpressionError, match="parentheses are nested deeper"):
        parse_expression("(" * 30 + "a" + ")" * 30)
    with pytest.raises(ExpressionError, match="more than 300 terms"):
        parse_expression("max(" + ",".join(["a"] * 320) + ")")
    with pytest.raises(ExpressionError, match="nested deeper than 40"):
        parse_expression("-" * 60 + "a")


def test_a_grammar_names_the_text_and_limits_names() -> None:
    grammar = Grammar(
        label="filter",
        article="a",
        example="run > 10",
        max_name_parts=1,
        name_kind="column name",
        name_form="'run'",
        functions={"abs": (1, 1)},
    )
    with pytest.raises(ExpressionError, match=r"filter 'a.b > 1': 'a.b' is not a column name"):
        parse_relation("a.b > 1", grammar)
    with pytest.raises(ExpressionError, match="only abs can be called"):
        parse_expression("sqrt(a)", grammar)
    with pytest.raises(ExpressionError, match=r"the filter is empty: write e.g. 'run > 10'"):
        parse_relation("", grammar)
    assert math.isclose(evaluate(parse_expression("abs(-run)", grammar), {"run": 2}), 2.0)
