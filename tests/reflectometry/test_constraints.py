"""Constraints typed as text: grammar, refusals (hostile input included), derived values,
fits that respect them, save/load, exports."""

from __future__ import annotations

import ast
import builtins
import json
import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shiftdesk.errors import ConstraintError, FitError, ModelError
from shiftdesk.reflectometry import FitProblem, Layer, Medium, ReflData
from shiftdesk.reflectometry.constraints import MAX_LENGTH, parse
from shiftdesk.reflectometry.fitting import FitResult, fit_spec

Q = np.linspace(0.01, 0.2, 120)


def model() -> FitProblem:
    """air | A 120 Å, SLD 4 | B 40 Å, SLD 4 | Si: A and B share the SLD in the truth."""
    return FitProblem(
        front=Medium("air", sld=0.0),
        layers=[
            Layer("A", thickness=120.0, sld=4.0, roughness=3.0),
            Layer("B", thickness=40.0, sld=4.0, roughness=2.0),
        ],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )


def synthetic(fp: FitProblem, seed: int = 7, name: str = "synthetic") -> ReflData:
    """R(Q) of ``fp`` with 3 % Gaussian noise (fixed seed), dQ 2 % FWHM."""
    dq = 0.02 * Q
    r = fp.evaluate(Q, dq=dq).r
    dr = 0.03 * r
    noisy = r + dr * np.random.default_rng(seed).standard_normal(Q.size)
    return ReflData(q=Q, r=noisy, dr=dr, dq=dq, name=name)


# -- grammar --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("B.thickness = 0.08 * A.thickness", "B.thickness = 0.08 * A.thickness"),
        ("B.sld == A.sld", "B.sld = A.sld"),
        ("A.roughness < A.thickness / 4", "A.roughness < A.thickness / 4"),
        ("back.roughness <= 5", "back.roughness <= 5"),
        ("front.sld >= -1", "front.sld >= -1"),
        ("scale > 0.5", "scale > 0.5"),
        (
            "B.roughness = min(A.roughness, sqrt(abs(-A.thickness)) + exp(0) * log(2))",
            "B.roughness = min(A.roughness, sqrt(abs(-A.thickness)) + exp(0) * log(2))",
        ),
        (
            "B.thickness = (A.thickness + 2) ** 0.5 * 3",
            "B.thickness = (A.thickness + 2) ** 0.5 * 3",
        ),
        ("background = max(1e-7, scale * 1e-8, 0)", "background = max(1e-07, scale * 1e-08, 0)"),
    ],
)
def test_accepted_constraints_and_their_canonical_text(text: str, canonical: str) -> None:
    fp = model()
    constraint = fp.constrain(text)
    assert constraint.text == canonical
    assert [c.text for c in fp.constraints] == [canonical]


def test_equality_makes_the_left_parameter_derived() -> None:
    fp = model()
    b = fp.layers["B"].thickness
    fp.constrain("B.thickness = 0.5 * A.thickness")
    assert b.derived and b.fixed and b.value == 60.0
    events: list[str] = []
    fp.observe(events.append)
    fp.layers["A"].thickness.value = 100.0
    assert b.value == 50.0
    assert events == ["values"]  # one event for the edit and the derived value it moves
    # a chain: C follows B which follows A, applied in dependency order
    fp.layers.add("C", thickness=10.0, sld=1.0)
    fp.constrain("C.thickness = B.thickness + 1")
    fp.layers["A"].thickness.value = 80.0
    assert (b.value, fp.layers["C"].thickness.value) == (40.0, 41.0)
    # the derived values are what evaluate computes with
    plain = model()
    plain.layers["A"].thickness.value = 80.0
    plain.layers["B"].thickness.value = 40.0
    plain.layers.add("C", thickness=41.0, sld=1.0)
    np.testing.assert_allclose(fp.evaluate(Q).r, plain.evaluate(Q).r, rtol=1e-12)
    assert "derived" in repr(b)


def test_a_derived_parameter_cannot_be_set_or_freed_until_the_constraint_goes() -> None:
    fp = model()
    b = fp.layers["B"].sld
    fp.constrain("B.sld = A.sld")
    with pytest.raises(ConstraintError, match=r"derived by the constraint 'B.sld = A.sld'"):
        b.fit(1, 6)
    with pytest.raises(ConstraintError, match="derived by the constraint"):
        b.value = 3.0
    assert b.fixed and b.value == 4.0
    removed = fp.unconstrain("B.sld  ==  A.sld")  # found whatever the spacing
    assert removed.text == "B.sld = A.sld"
    assert not b.derived and fp.constraints == []
    b.fit(1, 6)
    b.value = 3.0
    assert fp.layers["A"].sld.value == 4.0


def test_inequalities_are_reported_in_evaluate_terms_not_enforced() -> None:
    fp = model()
    fp.constrain("A.roughness < A.thickness / 100")  # 3 < 1.2: violated now
    assert fp.constraint_violations() == [
        "A.roughness < A.thickness / 100 does not hold with the current values"
    ]
    fp.layers["A"].roughness.value = 1.0
    assert fp.constraint_violations() == []


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("B.sld = 3", "right-hand side is a constant"),
        ("B.sld = 2 * (1 + 3)", "right-hand side is a constant"),
        ("B.thickness * 2 = A.thickness", "left side of '=' must be one parameter"),
        ("B.sld = B.sld * 2", "makes a cycle"),
        ("A.thicknes < 3", "unknown parameter 'A.thicknes'; did you mean 'A.thickness'"),
        ("C.sld = A.sld", "unknown parameter 'C.sld'"),
        ("front.roughness = A.roughness", "unknown parameter 'front.roughness'"),
        ("B.sld", "needs a relation"),
        ("B.sld != A.sld", "'!=', 'in' and 'is' are not supported"),
        ("0 < B.sld < A.sld", "one relation per constraint"),
        ("B.sld = A.sld = 3", "more than one '='"),
        ("3 < 4", "names no parameter"),
        ("B.sld = sqrt(A.sld, 2)", "sqrt() takes 1 argument(s), not 2"),
        ("B.sld = max(A.sld)", "max() takes at least 2 argument(s), not 1"),
        ("B.sld = A.sld // 2", "only the operators + - * / ** are allowed"),
        ("B.sld = A.sld % 2", "only the operators + - * / ** are allowed"),
        ("B.sld = ~A.sld", "only unary '-' and '+' are allowed"),
        ("B.thickness = log(A.sld - 4)", "cannot be computed with the current values"),
        ("B.thickness = A.sld - 10", "below its limit 0"),
        ("", "the constraint is empty"),
        ("B.sld = 1e999", "a number is too large"),
        ("B.sld = A.sld\x00", "control character"),
    ],
)
def test_refused_constraints_say_why_and_change_nothing(text: str, message: str) -> None:
    fp = model()
    fp.constrain("A.roughness < 10")
    before = fp.to_dict()
    with pytest.raises(ConstraintError, match=_escape(message)):
        fp.constrain(text)
    assert fp.to_dict() == before
    assert not any(p.derived for p in fp.parameters().values())


def _escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("B.thickness = 0.5 * * A.thickness", 21),
        ("B.thickness = 0.5 *", 19),
        ("B.sld = A.sld)", 14),
        ("B.sld = A.sld $ 2", 15),
        ("B.sld = [A.sld][0]", 9),
        ("B.sld == 'A.sld'", 10),
        ("B.sld = A.sld + A.__class__", 17),
    ],
)
def test_errors_give_the_column(text: str, column: int) -> None:
    with pytest.raises(ConstraintError, match=f"at column {column}") as info:
        model().constrain(text)
    assert info.value.column == column


def test_a_parameter_constrained_twice_and_cycles_through_chains() -> None:
    fp = model()
    fp.layers.add("C", thickness=10.0)
    fp.constrain("B.thickness = A.thickness / 3")
    with pytest.raises(ConstraintError, match=r"B.thickness is already constrained by"):
        fp.constrain("B.thickness = 2 * C.thickness")
    fp.constrain("C.thickness = B.thickness / 4")
    with pytest.raises(ConstraintError, match=r"makes a cycle: A.thickness would depend on itself"):
        fp.constrain("A.thickness = C.thickness * 12")
    fp.constrain("A.roughness < 10")
    with pytest.raises(ConstraintError, match=r"'A.roughness < 10' is already there"):
        fp.constrain("A.roughness<10")
    assert len(fp.constraints) == 3


def test_a_free_parameter_cannot_become_derived() -> None:
    fp = model()
    fp.layers["B"].sld.fit(1, 6)
    with pytest.raises(ConstraintError, match=r"B.sld is free .* fix it first"):
        fp.constrain("B.sld = A.sld")
    assert not fp.layers["B"].sld.derived and fp.layers["B"].sld.free


HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "B.sld = __import__('os').system('touch {marker}')",
    "B.sld = open('{marker}', 'w').write('x')",
    "B.sld = A.sld.__class__.__mro__[1].__subclasses__()",
    "B.sld = A.__dict__",
    "B.sld = A._name",
    "B.sld = (lambda: open('{marker}', 'w'))()",
    "B.sld = [open('{marker}', 'w') for _ in (1,)][0]",
    "B.sld = {{x: 1 for x in (1,)}}",
    "B.sld = (x for x in ())",
    "B.sld = A.sld if open('{marker}', 'w') else 1",
    "B.sld = (f := open('{marker}', 'w'))",
    'B.sld = f\'{{open("{marker}", "w")}}\'',
    "B.sld = getattr(A, 'sld')",
    "B.sld = eval('1')",
    'B.sld = exec(\'open("{marker}", "w")\')',
    "B.sld = compile('1', 'x', 'eval')",
    "B.sld = sqrt(*[4])",
    "B.sld = max(A.sld, key=open)",
    "B.sld = A.sld[0]",
    "B.sld = A.sld or open('{marker}', 'w')",
    "B.sld = 9 ** 9 ** 9 ** 9",
    "B.sld = A.sld; import os",
    "B.sld = A.sld\nimport os",
    "B.sld = " + "(" * 200 + "A.sld" + ")" * 200,
    "B.sld = " + "-" * 900 + "A.sld",
    "B.sld = " + " + ".join(["A.sld"] * 400),
    "B.sld = " + "A.sld + " * 200 + "1",
    "B.sld = A.sld + " + "1" * (MAX_LENGTH + 10),
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_input_is_refused_and_runs_nothing(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    text = template.format(marker=marker)
    compiled: list[int] = []
    real_compile = builtins.compile

    def only_ast(source: Any, filename: Any, mode: str, flags: int = 0, *a: Any, **k: Any) -> Any:
        compiled.append(flags)
        return real_compile(source, filename, mode, flags, *a, **k)

    def forbidden(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("user text reached eval/exec")

    monkeypatch.setattr(builtins, "compile", only_ast)
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    fp = model()
    with pytest.raises(ConstraintError):
        fp.constrain(text)
    monkeypatch.undo()
    assert not marker.exists()
    # text was at most parsed to a syntax tree, never compiled to code
    assert all(flags & ast.PyCF_ONLY_AST for flags in compiled)
    assert fp.constraints == [] and fp.layers["B"].sld.value == 4.0


def test_parse_refuses_non_text() -> None:
    with pytest.raises(ConstraintError, match="must be text"):
        parse(42)


# -- following the model ----------------------------------------------------------------------


def test_renaming_a_layer_renames_it_in_constraints_and_removing_it_breaks_them() -> None:
    fp = model()
    fp.layers["A"].sld.fit(2, 6)
    fp.data = synthetic(model())
    fp.constrain("B.sld = A.sld")
    fp.rename("A", "Bottom")
    assert [c.text for c in fp.constraints] == ["B.sld = Bottom.sld"]
    fp.layers.remove("Bottom")
    (constraint,) = fp.constraints
    assert "Bottom.sld no longer exists" in str(constraint.problem)
    assert any("no longer exists" in v for v in fp.constraint_violations())
    fp.layers["B"].thickness.fit(10, 80)
    with pytest.raises(FitError, match="a constraint cannot be applied"):
        fp.fit_now("lm")
    fp.unconstrain(0)
    assert not fp.layers["B"].sld.derived


# -- fits -------------------------------------------------------------------------------------


def fit_problem() -> FitProblem:
    fp = model()
    fp.data = synthetic(model())
    fp.layers["A"].sld.value = 3.6
    fp.layers["A"].sld.fit(2.0, 6.0)
    fp.layers["A"].thickness.value = 110.0
    fp.layers["A"].thickness.fit(80.0, 160.0)
    fp.layers["B"].sld.value = 4.4
    fp.layers["B"].thickness.fit(20.0, 60.0)
    return fp


def test_fit_with_an_equality_keeps_it_in_the_result() -> None:
    fp = fit_problem()
    fp.constrain("B.sld = A.sld")
    assert fp.layers["B"].sld.value == 3.6
    result = fp.fit_now("lm")
    assert result.converged, result.warnings
    a, b = result.problem.layers["A"].sld, result.problem.layers["B"].sld
    assert b.value == a.value and b.derived and b.fixed
    assert a.error is not None and abs(a.value - 4.0) < 3 * a.error
    # the derived error is propagated from the covariance: a plain copy has A's error
    assert b.error == pytest.approx(a.error, rel=1e-3)
    assert [row["path"] for row in result.parameters] == ["A.thickness", "A.sld", "B.thickness"]
    assert result.derived == [
        {"path": "B.sld", "value": b.value, "error": b.error, "constraint": "B.sld = A.sld"}
    ]
    assert 0.5 < result.chi2 < 2.0
    # into the model: values, errors, and B.sld still derived
    fp.apply_result(result)
    assert fp.layers["B"].sld.value == fp.layers["A"].sld.value == a.value
    assert fp.layers["B"].sld.error == b.error and fp.layers["B"].sld.derived


@pytest.mark.parametrize("method", ["lm", "amoeba"])
def test_fit_respects_an_inequality(method: str) -> None:
    truth = model()
    truth.layers["B"].sld.value = 1.5  # B stands out from A: its thickness is well defined
    fp = fit_problem()
    fp.data = synthetic(truth)
    fp.layers["B"].sld.value = 1.5
    unconstrained = fp.fit_now("lm")
    assert unconstrained.problem.layers["B"].thickness.value > 38  # the truth is 40
    fp.constrain("B.thickness <= 0.25 * A.thickness")  # 30 Å for A at 120 Å
    result = fp.fit_now(method)
    fitted = result.problem
    b, a = fitted.layers["B"].thickness.value, fitted.layers["A"].thickness.value
    assert b <= 0.25 * a * (1 + 1e-4)  # LM: within its tolerance of the boundary
    assert b == pytest.approx(0.25 * a, rel=0.02)  # pressed against the constraint
    assert result.chi2 > unconstrained.chi2
    assert fitted.constraint_violations() == []
    assert not any("does not satisfy" in w for w in result.warnings)


def test_a_derived_thickness_cannot_go_negative_in_a_fit() -> None:
    fp = fit_problem()
    fp.layers["B"].thickness.fix()
    fp.constrain("B.thickness = A.thickness - 100")
    result = fp.fit_now("lm")
    assert result.problem.layers["B"].thickness.value >= 0


def test_constraints_travel_in_the_fit_spec_json() -> None:
    fp = fit_problem()
    fp.constrain("B.sld = A.sld")
    fp.constrain("A.roughness <= 5")
    spec = json.loads(json.dumps(fit_spec(fp, "lm", {})))
    worker_side = FitProblem.from_dict(spec["problem"])
    assert [c.text for c in worker_side.constraints] == ["B.sld = A.sld", "A.roughness <= 5"]
    result = FitResult.from_dict(json.loads(json.dumps(worker_side.fit_now("lm").to_dict())))
    assert [c.text for c in result.problem.constraints] == ["B.sld = A.sld", "A.roughness <= 5"]
    layers = result.problem.layers
    assert layers["B"].sld.value == layers["A"].sld.value and layers["B"].sld.derived


# -- saving and exports -----------------------------------------------------------------------


def test_constraints_survive_save_and_load_and_old_models_still_load() -> None:
    fp = model()
    old = fp.to_dict()
    assert old["schema"] == "shiftdesk.reflectometry.model/1"  # nothing new: old schema
    fp.constrain("B.thickness = 0.5 * A.thickness")
    fp.constrain("A.roughness < A.thickness / 4")
    state = json.loads(fp.to_json())
    assert state["schema"] == "shiftdesk.reflectometry.model/2"
    assert state["constraints"] == [
        "B.thickness = 0.5 * A.thickness",
        "A.roughness < A.thickness / 4",
    ]
    back = FitProblem.from_json(fp.to_json())
    assert [c.text for c in back.constraints] == [c.text for c in fp.constraints]
    back.layers["A"].thickness.value = 200.0
    assert back.layers["B"].thickness.value == 100.0
    assert FitProblem.from_dict(old).constraints == []
    copy = fp.copy()
    assert [c.text for c in copy.constraints] == [c.text for c in fp.constraints]
    copy.layers["A"].thickness.value = 10.0  # the copy's constraints act on the copy
    assert fp.layers["B"].thickness.value == 60.0 and copy.layers["B"].thickness.value == 5.0


@pytest.mark.parametrize(
    "constraints",
    [["B.sld = 3"], ["B.sld = A.sld", "B.sld = A.isld"], "B.sld = A.sld", ["B.sld = open(1)"]],
)
def test_bad_constraints_in_a_saved_model_are_refused(constraints: object) -> None:
    state = model().to_dict()
    state["schema"] = "shiftdesk.reflectometry.model/2"
    state["constraints"] = constraints
    with pytest.raises(ModelError):
        FitProblem.from_dict(state)


def test_exported_script_and_csv_carry_the_constraints(tmp_path: Path) -> None:
    fp = fit_problem()
    fp.constrain("B.sld = A.sld")
    fp.constrain("B.roughness = min(A.roughness, 2.5) * 1")
    fp.constrain("B.thickness < A.thickness / 2")
    script = tmp_path / "model.py"
    script.write_text(fp.to_refl1d_script())
    namespace = runpy.run_path(str(script))  # our own generated script, not user text
    problem = namespace["problem"]
    labels = problem.labels()
    assert "B.sld" not in labels and "A.sld" in labels  # derived: not a fit parameter
    assert len(problem.constraints) == 1
    expected = fp.evaluate()
    assert problem.chisq() == pytest.approx(expected.chi2 * expected_dof(fp) / problem.dof)
    namespace["m_A_rho"].value = 5.0
    assert float(namespace["m_B_rho"].value) == 5.0

    rows = fp.parameters_csv().splitlines()
    assert rows[0].endswith(",derived from")
    assert "B.sld,3.6,,yes,,,10⁻⁶/Å²,B.sld = A.sld" in rows


def expected_dof(fp: FitProblem) -> int:
    return int(fp.fit_mask().sum()) - len(fp.free_parameters())
