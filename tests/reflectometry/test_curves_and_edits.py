"""FitProblem.curves() (cached, observed), the Q-range and data edits, and use_sld()."""

from __future__ import annotations

import numpy as np
import pytest
from tests.reflectometry.test_constraints import model  # air | A | B | Si

from shiftdesk.errors import ConstraintError, ModelError
from shiftdesk.reflectometry import Layer, ReflData
from shiftdesk.reflectometry.curve import Curves
from shiftdesk.reflectometry.problem import MODEL_GRID
from shiftdesk.reflectometry.tools import sld

Q = np.linspace(0.01, 0.2, 80)


def data(name: str = "made", shift: float = 0.0) -> ReflData:
    r = model().evaluate(Q + shift, dq=0.02 * (Q + shift)).r
    return ReflData(q=Q + shift, r=r, dr=0.05 * r, dq=0.02 * (Q + shift), name=name)


# -- curves -------------------------------------------------------------------------------
def test_curves_are_computed_once_per_revision() -> None:
    fp = model()
    fp.data = data()
    first = fp.curves()
    assert isinstance(first, Curves) and list(first) == ["d1"]
    assert fp.curves() is first  # nothing changed: kept
    curve = first["d1"]
    assert curve.data is fp.data and curve.chi2 is not None and curve.chi2 < 1e-20
    assert curve.residuals is not None and curve.residuals.shape == Q.shape
    depth, rho, _irho = curve.profile
    assert depth.size == rho.size > 10
    fp.layers["A"].thickness.value = 121.0
    second = fp.curves()
    assert second is not first and second.revision > first.revision
    assert second.first.chi2 is not None and second.first.chi2 > 0
    assert np.allclose(fp.evaluate().r, second.first.r)


def test_every_kind_of_edit_invalidates_the_curves() -> None:
    fp = model()
    fp.data = data()
    edits = [
        lambda: fp.set_q_range(0.05, 0.15),
        lambda: setattr(fp, "oversampling", None),
        lambda: fp.layers["A"].thickness.fit(100, 140),  # dof: χ² changes
        lambda: fp.layers.append(Layer("C", thickness=10, sld=1.0)),
        lambda: fp.constrain("B.sld = A.sld / 2"),
        lambda: fp.set_data(data("other")),
    ]
    for edit in edits:
        before = fp.curves()
        edit()
        assert fp.curves() is not before


def test_curves_of_several_data_sets_and_a_model_without_data() -> None:
    fp = model()
    child = fp.add_dataset(data("h2o"), "h2o")
    curves = child.curves()  # any data set gives the whole problem's curves
    assert list(curves) == ["d1", "h2o"] and curves is fp.curves()
    assert np.array_equal(curves["d1"].q, MODEL_GRID) and curves["d1"].chi2 is None
    assert curves["h2o"].chi2 is not None
    assert curves.chi2 == {"d1": None, "h2o": curves["h2o"].chi2}
    assert set(fp.evaluate_all()) == {"d1", "h2o"}
    child.layers["A"].sld.value = 4.5  # an edit of the second data set's model
    assert fp.curves() is not curves
    assert "h2o" in repr(curves) and "revision" in curves._repr_html_()


def test_curve_listeners_hear_edits_that_change_the_curves() -> None:
    fp = model()
    fp.data = data()
    child = fp.add_dataset(data("h2o"), "h2o")
    calls: list[int] = []

    def listener() -> None:
        calls.append(fp.curves().revision)

    child.observe_curves(listener)  # (kept by the first data set)
    fp.layers["A"].thickness.value = 125.0
    assert len(calls) == 1 and calls[-1] == fp.curves().revision
    child.layers["B"].thickness.value = 45.0
    assert len(calls) == 2
    fp.layers["A"].thickness.fit(100, 150)  # free/fixed and limits: no redraw
    assert len(calls) == 2
    fp.constrain("h2o.A.thickness = A.thickness")
    assert len(calls) >= 3 and fp.curves().revision == calls[-1]
    fp.unobserve_curves(listener)
    heard = len(calls)
    fp.layers["A"].thickness.value = 126.0
    assert len(calls) == heard


def test_a_failing_evaluation_raises_and_caches_nothing() -> None:
    fp = model()
    fp.data = data()
    good = fp.curves()
    fp.layers["A"].thickness.value = 130.0
    fp._curves = None  # (as if never computed)
    assert fp.curves() is not good


# -- Q range and data ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("q_min", "q_max", "message"),
    [
        (0.15, 0.05, r"Q min \(0.15\) must be below Q max \(0.05\)"),
        (0.1, 0.1, "must be below Q max"),
        (-0.01, None, "cannot be negative"),
        (None, -1.0, "cannot be negative"),
        (float("nan"), None, "finite numbers"),
        (None, float("inf"), "finite numbers"),
        ("low", None, "Q min must be a number, not 'low'"),
        (0.5, 0.9, "no data point lies in the Q range"),
    ],
)
def test_bad_q_ranges_are_refused_and_change_nothing(
    q_min: object, q_max: object, message: str
) -> None:
    fp = model()
    fp.data = data()
    fp.set_q_range(0.02, 0.18)
    events: list[str] = []
    fp.observe(events.append)
    with pytest.raises(ModelError, match=message):
        fp.set_q_range(q_min, q_max)  # type: ignore[arg-type]
    assert (fp.q_min, fp.q_max) == (0.02, 0.18) and events == []
    with pytest.raises(ModelError, match=message):
        fp.set_data(data("other"), q_min, q_max)  # type: ignore[arg-type]
    assert fp.data is not None and fp.data.name == "made"


def test_set_data_starts_a_new_q_range() -> None:
    fp = model()
    fp.data = data()
    fp.set_q_range(0.05, 0.1)
    events: list[str] = []
    fp.observe(events.append)
    fp.data = data("kept range")  # assigning keeps the range
    assert (fp.q_min, fp.q_max) == (0.05, 0.1)
    fp.set_data(data("shifted", shift=0.1))
    assert (fp.q_min, fp.q_max) == (None, None) and fp.fit_mask().all()
    fp.set_data(data("third"), 0.03, None)
    assert (fp.q_min, fp.q_max) == (0.03, None) and events == ["data", "data", "data"]
    fp.set_data(None)
    assert fp.data is None and fp.q_min is None
    with pytest.raises(ModelError, match="data must be ReflData"):
        fp.set_data("file.txt")  # type: ignore[arg-type]


# -- the SLD calculator's result into a layer ---------------------------------------------
def test_use_sld_copies_a_calculated_sld_into_a_layer() -> None:
    fp = model()
    result = sld("SiO2", density=2.2)
    events: list[str] = []
    fp.observe(events.append)
    layer = fp.use_sld("B", result)
    assert layer is fp.layers["B"]
    assert layer.sld.value == round(result.sld, 4)
    assert layer.isld.value == round(result.isld, 6)
    assert events == ["values"]  # one change for both values
    fp.use_sld(fp.back, 2.5)
    assert fp.back.sld.value == 2.5 and fp.back.isld.value == 0.0
    fp.use_sld("front", 0.5, 0.01)
    assert (fp.front.sld.value, fp.front.isld.value) == (0.5, 0.01)


def test_use_sld_into_a_data_sets_model() -> None:
    fp = model()
    child = fp.add_dataset(data("h2o"), "h2o")
    child.use_sld("A", 5.0)
    assert child.layers["A"].sld.value == 5.0 and fp.layers["A"].sld.value == 4.0


@pytest.mark.parametrize(
    ("layer", "value", "error", "message"),
    [
        ("C", 3.0, ModelError, "no layer 'C' in the model; pick one of air, A, B, Si"),
        ("A", float("nan"), ModelError, "the SLD must be a finite number"),
        ("A", "3", ModelError, "sld must be a number or an SLD result"),
        ("B", 3.0, ConstraintError, r"B.sld follows a constraint \(B.sld = A.sld / 2\)"),
    ],
)
def test_use_sld_refusals_change_nothing(
    layer: str, value: object, error: type[Exception], message: str
) -> None:
    fp = model()
    fp.constrain("B.sld = A.sld / 2")
    before = fp.to_dict()
    with pytest.raises(error, match=message):
        fp.use_sld(layer, value)  # type: ignore[arg-type]
    assert fp.to_dict() == before


def test_use_sld_rolls_back_when_the_second_value_is_refused() -> None:
    fp = model()
    layer = fp.layers["A"]
    layer.isld.fit(0.0, 1e-4)  # the calculated iSLD of gold is above this range
    layer.sld.error = 0.01
    before = fp.to_dict()
    events: list[str] = []
    fp.observe(events.append)
    with pytest.raises(ModelError, match="outside its fit range"):
        fp.use_sld("A", sld("Au", density=19.3))
    assert fp.to_dict() == before and layer.sld.error == 0.01 and events == []


def test_use_sld_refuses_a_tied_parameter_and_foreign_layers() -> None:
    fp = model()
    fp.add_dataset(data("h2o"), "h2o")
    fp.tie("A.sld")
    with pytest.raises(ConstraintError, match=r"h2o\.A\.sld = A\.sld"):
        fp.dataset("h2o").use_sld("A", 3.0)
    with pytest.raises(ModelError, match="is not a layer of this model"):
        fp.use_sld(Layer("X", thickness=1, sld=1), 3.0)
    with pytest.raises(ModelError, match="give isld only with a number"):
        fp.use_sld("A", sld("Si"), 0.1)
