"""Layer models: names, ranges and values are validated; list operations, reverse, copy, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from shiftdesk.errors import ModelError
from shiftdesk.reflectometry import FitProblem, Layer, Medium, Parameter, ReflData

Q = np.linspace(0.005, 0.25, 120)


def film() -> FitProblem:
    """air | SiO2 | Si with two free parameters."""
    fp = FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer("SiO2", thickness=100.0, sld=3.47, roughness=2.0)],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )
    fp.layers["SiO2"].thickness.fit(50, 150)
    fp.back.roughness.fit(0, 10)
    return fp


def three_layers() -> FitProblem:
    return FitProblem(
        front=Medium("air", sld=0.0),
        layers=[
            Layer("top", thickness=40.0, sld=6.0, isld=0.02, roughness=4.0),
            Layer("middle", thickness=120.0, sld=1.5, roughness=7.0),
            Layer("bottom", thickness=300.0, sld=4.2, roughness=2.5),
        ],
        back=Medium("Si", sld=2.07, roughness=5.5),
    )


def small_data(n: int = 30) -> ReflData:
    q = np.linspace(0.01, 0.2, n)
    r = np.exp(-30 * q)
    return ReflData(q=q, r=r, dr=0.05 * r, dq=0.02 * q, name="other")


# -- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("my layer", "cannot be used"),
        ("1abc", "cannot be used"),
        ("a-b", "cannot be used"),
        ("", "cannot be empty"),
        ("class", "reserved"),
        ("front", "reserved"),
        ("Back", "reserved"),
        ("a" * 41, "longer than 40 characters"),
        (3, "must be text"),
    ],
)
def test_unusable_layer_names_are_refused(name: object, reason: str) -> None:
    with pytest.raises(ModelError, match=reason):
        Layer(name)  # type: ignore[arg-type]
    fp = film()
    with pytest.raises(ModelError, match=reason):
        fp.layers.add(name)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=reason):
        fp.rename("SiO2", name)  # type: ignore[arg-type]
    assert fp.layers.names == ["SiO2"]
    assert "SiO2.thickness" in fp.parameters()


def test_forty_character_name_is_fine() -> None:
    assert Layer("a" * 40).name == "a" * 40


def test_duplicate_names_are_refused() -> None:
    fp = film()
    with pytest.raises(ModelError, match="'SiO2' is already used"):
        fp.layers.add("SiO2")
    with pytest.raises(ModelError, match="'air' is already used"):
        fp.layers.append(Layer("air"))  # a layer named like the front medium
    with pytest.raises(ModelError, match="'Si' is already used"):
        fp.layers.insert(0, Layer("Si"))  # ... or the back medium
    with pytest.raises(ModelError, match="already used"):
        FitProblem(layers=[Layer("A"), Layer("A")])
    with pytest.raises(ModelError, match="both named"):
        FitProblem(front=Medium("water"), back=Medium("water"))
    fp.layers.add("Cu")
    with pytest.raises(ModelError, match="'SiO2' is already used"):
        fp.layers["Cu"].name = "SiO2"  # rename to a taken name
    with pytest.raises(ModelError, match="'Si' is already used"):
        fp.rename("Cu", "Si")
    with pytest.raises(ModelError, match="'Cu' is already used"):
        fp.rename(fp.back, "Cu")  # a medium renamed like a layer
    assert fp.layers.names == ["SiO2", "Cu"]
    assert fp.describe() == "air | SiO2 | Cu | Si"


# -- ranges and values --------------------------------------------------------------------


def test_min_above_max_is_refused() -> None:
    param = Layer("L", thickness=100).thickness
    with pytest.raises(ModelError, match=r"min \(150\) is greater than max \(50\)"):
        param.fit(150, 50)
    assert param.fixed and param.bounds is None


def test_empty_range_is_refused() -> None:
    param = Layer("L", thickness=100).thickness
    with pytest.raises(ModelError, match="min and max are both 100"):
        param.fit(100, 100)
    assert param.fixed


def test_value_outside_new_range_is_refused_and_range_kept() -> None:
    param = Layer("L", thickness=100).thickness
    param.fit(50, 150)
    with pytest.raises(ModelError, match=r"= 100 is outside its fit range \[120, 200\]"):
        param.fit(120, 200)
    assert param.bounds == (50, 150)
    assert param.free
    fixed = Layer("M", thickness=100).thickness
    with pytest.raises(ModelError, match="outside its fit range"):
        fixed.fit(0, 10)
    assert fixed.fixed and fixed.bounds is None


def test_free_value_outside_its_range_is_refused() -> None:
    fp = film()
    thickness = fp.layers["SiO2"].thickness
    with pytest.raises(ModelError, match=r"'SiO2.thickness' = 200 is outside its fit range"):
        thickness.value = 200
    assert thickness.value == 100
    thickness.value = 150  # the ends are inside
    thickness.fix()
    thickness.value = 200  # a fixed parameter keeps its range but is not bound by it
    assert thickness.value == 200
    with pytest.raises(ModelError, match="outside its fit range"):
        thickness.fit(*thickness.bounds)  # type: ignore[misc]


def test_range_below_physical_limit_is_refused() -> None:
    with pytest.raises(ModelError, match="below the physical limit 0"):
        Layer("L").roughness.fit(-5, 5)


@pytest.mark.parametrize("attr", ["thickness", "roughness", "isld"])
def test_negative_thickness_roughness_isld_are_refused(attr: str) -> None:
    layer = Layer("L")
    with pytest.raises(ModelError, match=rf"'L.{attr}' cannot be -1: it must be ≥ 0"):
        getattr(layer, attr).value = -1
    with pytest.raises(ModelError, match="must be ≥ 0"):
        Layer("M", **{attr: -1.0})
    with pytest.raises(ModelError, match="must be ≥ 0"):
        Medium("Si", roughness=-1.0)


def test_negative_sld_is_allowed() -> None:
    assert Layer("Ti", sld=-1.95).sld.value == -1.95


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "abc", None])
def test_non_numbers_are_refused(bad: object) -> None:
    layer = Layer("L", thickness=100)
    with pytest.raises(ModelError, match="must be a"):
        layer.thickness.value = bad  # type: ignore[assignment]
    with pytest.raises(ModelError, match=r"must be a|needs both min and max"):
        layer.thickness.fit(bad, 200)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"must be a|needs both min and max"):
        layer.sld.fit(0, bad)  # type: ignore[arg-type]
    assert layer.thickness.value == 100 and layer.thickness.fixed


def test_front_medium_cannot_have_roughness() -> None:
    with pytest.raises(ModelError, match="front medium has no roughness"):
        FitProblem(front=Medium("air", roughness=3.0))
    rough_free = Medium("air")
    rough_free.roughness.fit(0, 5)
    with pytest.raises(ModelError, match="front medium has no roughness"):
        FitProblem(front=rough_free)
    fp = film()
    assert "front.roughness" not in fp.parameters()


def test_front_roughness_cannot_be_set_later() -> None:
    """It would be ignored by the calculation, and the model could not be reopened."""
    fp = film()
    with pytest.raises(ModelError, match=r"'front.roughness' cannot be changed: the front medium"):
        fp.front.roughness.value = 5.0
    with pytest.raises(ModelError, match=r"'front.roughness' cannot be fitted"):
        fp.front.roughness.fit(0, 5)
    assert fp.front.roughness.value == 0.0 and fp.front.roughness.fixed
    fp.front.roughness.value = 0.0  # no change is fine
    assert FitProblem.from_json(fp.to_json()).describe() == "air | SiO2 | Si"
    # after reverse() the new front is locked and the old one (now the back) is not
    fp.reverse()
    with pytest.raises(ModelError, match="cannot be changed"):
        fp.front.roughness.value = 1.0
    fp.back.roughness.value = 1.0
    fp.back.roughness.fit(0, 4)
    assert fp.free_parameters()["back.roughness"].bounds == (0, 4)


def test_free_parameter_needs_a_range() -> None:
    with pytest.raises(ModelError, match="free but has no range"):
        Parameter("x", 1.0, fixed=False)


# -- layer list ---------------------------------------------------------------------------


def test_add_insert_remove_move() -> None:
    fp = film()
    added = fp.layers.add("Cu", thickness=30, sld=6.5)
    assert fp.layers.names == ["SiO2", "Cu"]
    assert fp.layers["Cu"] is added and fp.layers[-1] is added
    assert fp.parameter("Cu.thickness").value == 30
    auto = fp.layers.add()
    assert auto.name == "layer1"
    fp.layers.insert(0, Layer("Au", thickness=10, sld=4.5))
    assert fp.layers.names == ["Au", "SiO2", "Cu", "layer1"]
    fp.layers.move("layer1", 1)
    assert fp.layers.names == ["Au", "layer1", "SiO2", "Cu"]
    fp.layers.move(0, 99)  # clipped to the end
    assert fp.layers.names == ["layer1", "SiO2", "Cu", "Au"]
    removed = fp.layers.remove("SiO2")
    assert removed.name == "SiO2"
    assert fp.layers.names == ["layer1", "Cu", "Au"]
    assert not any(path.startswith("SiO2.") for path in fp.parameters())
    assert "SiO2.thickness" not in fp.free_parameters()
    with pytest.raises(KeyError, match="no layer named 'SiO2'"):
        fp.layers["SiO2"]
    with pytest.raises(IndexError):
        fp.layers[7]
    with pytest.raises(ModelError, match="only Layer objects"):
        fp.layers.append(Medium("x"))  # type: ignore[arg-type]
    # a removed layer no longer reports to the problem
    events: list[str] = []
    fp.observe(events.append)
    removed.thickness.value = 77
    assert events == []


def test_move_changes_the_curve() -> None:
    fp = three_layers()
    before = fp.evaluate(Q, resolution=False).r
    fp.layers.move("top", 2)
    after = fp.evaluate(Q, resolution=False).r
    assert fp.layers.names == ["middle", "bottom", "top"]
    assert np.max(np.abs(after / before - 1)) > 0.05


def test_rename_moves_parameter_paths() -> None:
    fp = film()
    fp.rename("SiO2", "oxide")
    params = fp.parameters()
    assert "oxide.thickness" in params and "SiO2.thickness" not in params
    assert params["oxide.thickness"].free
    assert list(fp.free_parameters()) == ["oxide.thickness", "back.roughness"]
    fp.layers["oxide"].name = "SiOx"
    assert fp.parameter("SiOx.thickness").path == "SiOx.thickness"
    # media are addressed by side, so renaming them keeps their paths
    fp.rename(fp.back, "silicon")
    fp.rename("air", "D2O")
    assert fp.describe() == "D2O | SiOx | silicon"
    assert list(fp.parameters()) == [
        "front.sld",
        "front.isld",
        "SiOx.thickness",
        "SiOx.sld",
        "SiOx.isld",
        "SiOx.roughness",
        "back.sld",
        "back.isld",
        "back.roughness",
        "scale",
        "background",
    ]


# -- reverse ------------------------------------------------------------------------------


def test_reverse_twice_gives_the_original_curve() -> None:
    fp = three_layers()
    fp.layers["middle"].thickness.fit(100, 150)
    original = fp.evaluate(Q, resolution=False).r
    state = fp.to_dict()
    fp.reverse()
    assert fp.describe() == "Si | bottom | middle | top | air"
    reversed_r = fp.evaluate(Q, resolution=False).r
    assert np.max(np.abs(reversed_r / original - 1)) > 0.01  # it is a different sample
    fp.reverse()
    assert fp.to_dict() == state
    np.testing.assert_allclose(fp.evaluate(Q, resolution=False).r, original, rtol=1e-12)


def test_reverse_keeps_roughness_at_its_interface() -> None:
    fp = FitProblem(
        front=Medium("air", sld=0.0),
        layers=[
            Layer("A", thickness=50, sld=4.0, roughness=2.0),
            Layer("B", thickness=80, sld=1.0, roughness=3.0),
        ],
        back=Medium("Si", sld=2.07, roughness=4.0),
    )
    fp.layers["B"].roughness.fit(1, 6)
    # interfaces from the front: air/A = 2, A/B = 3, B/Si = 4
    fp.reverse()
    assert fp.describe() == "Si | B | A | air"
    assert fp.front.name == "Si" and fp.back.name == "air"
    assert fp.front.sld.value == 2.07 and fp.back.sld.value == 0.0
    # now: Si/B = 4, B/A = 3, A/air = 2
    assert fp.layers["B"].roughness.value == 4.0
    assert fp.layers["A"].roughness.value == 3.0
    assert fp.back.roughness.value == 2.0
    assert fp.front.roughness.value == 0.0
    # the free range travels with the A/B interface
    assert fp.layers["A"].roughness.free and fp.layers["A"].roughness.bounds == (1, 6)
    assert fp.layers["B"].roughness.fixed
    assert list(fp.free_parameters()) == ["A.roughness"]

    # the same curve as the reversed sample built by hand
    by_hand = FitProblem(
        front=Medium("Si", sld=2.07),
        layers=[
            Layer("B", thickness=80, sld=1.0, roughness=4.0),
            Layer("A", thickness=50, sld=4.0, roughness=3.0),
        ],
        back=Medium("air", sld=0.0, roughness=2.0),
    )
    np.testing.assert_allclose(
        fp.evaluate(Q, resolution=False).r, by_hand.evaluate(Q, resolution=False).r, rtol=1e-12
    )


def test_reverse_without_layers_keeps_the_one_interface() -> None:
    fp = FitProblem(front=Medium("air"), back=Medium("Si", sld=2.07, roughness=4.0))
    fp.reverse()
    assert fp.back.roughness.value == 4.0
    assert fp.front.roughness.value == 0.0


# -- copy and JSON ------------------------------------------------------------------------


def test_copy_is_independent_and_can_take_other_data() -> None:
    fp = film()
    fp.data = small_data(40)
    fp.set_q_range(0.05, 0.15)
    twin = fp.copy()
    assert twin.data is fp.data
    assert (twin.q_min, twin.q_max) == (0.05, 0.15)
    twin.layers["SiO2"].thickness.value = 120
    assert fp.layers["SiO2"].thickness.value == 100

    other = small_data(25)
    moved = fp.copy(data=other)
    assert moved.data is other
    assert (moved.q_min, moved.q_max) == (None, None)  # the old Q range may not fit new data
    assert moved.fit_mask().all()
    curve = moved.evaluate()
    assert curve.q.size == 25 and curve.chi2 is not None
    assert moved.parameter("SiO2.thickness").bounds == (50, 150)

    bare = fp.copy(data=None)
    assert bare.data is None


def test_json_round_trip_keeps_everything() -> None:
    fp = three_layers()
    fp.data = small_data()
    fp.layers["middle"].thickness.fit(100, 150)
    fp.layers["top"].sld.fit(5, 7)
    fp.layers["top"].sld.error = 0.125
    fp.back.roughness.set_range(1, 9)  # a range on a fixed parameter
    fp.background.value = 1e-6
    fp.set_q_range(0.02, None)
    fp.oversampling = 11
    fp.title, fp.notes = "three layers", "made by a test"

    text = fp.to_json()
    json.loads(text)  # valid JSON
    back = FitProblem.from_json(text)

    assert back.describe() == fp.describe()
    for path, param in fp.parameters().items():
        twin = back.parameter(path)
        assert twin.to_dict() == param.to_dict(), path
    assert back.parameter("middle.thickness").free
    assert back.parameter("back.roughness").fixed
    assert back.parameter("back.roughness").bounds == (1, 9)
    assert back.parameter("top.sld").error == 0.125
    assert (back.q_min, back.q_max) == (0.02, None)
    assert back.oversampling == 11
    assert (back.title, back.notes) == ("three layers", "made by a test")
    assert back.data is not None and back.data.fingerprint == fp.data.fingerprint
    a, b = fp.evaluate(), back.evaluate()
    np.testing.assert_array_equal(a.r, b.r)
    assert a.chi2 == b.chi2

    no_data = FitProblem.from_json(fp.to_json(include_data=False))
    assert no_data.data is None
    assert (no_data.q_min, no_data.q_max) == (0.02, None)


@pytest.mark.parametrize(
    "text",
    [
        "not json at all",
        "[1, 2, 3]",
        "null",
        '"a string"',
        json.dumps({"schema": "someone.else/1", "layers": []}),
        json.dumps({"front": {"name": "air"}}),  # no schema
        json.dumps({"schema": "shiftdesk.reflectometry.model/1"}),  # nothing else
        json.dumps(
            {
                "schema": "shiftdesk.reflectometry.model/1",
                "front": {"name": "air"},
                "back": {"name": "Si"},
                "scale": 1,
                "background": {"value": 0},
            }
        ),
        json.dumps(
            {
                "schema": "shiftdesk.reflectometry.model/1",
                "front": {"name": "air"},
                "back": {"name": "Si"},
                "layers": [{"name": "bad name"}],
                "scale": {"value": 1},
                "background": {"value": 0},
            }
        ),
        json.dumps(
            {
                "schema": "shiftdesk.reflectometry.model/1",
                "front": {"name": "air"},
                "back": {"name": "Si"},
                "layers": [{"name": "L", "thickness": {"value": -3}}],
                "scale": {"value": 1},
                "background": {"value": 0},
            }
        ),
    ],
)
def test_from_json_of_garbage_raises_model_error(text: str) -> None:
    with pytest.raises(ModelError):
        FitProblem.from_json(text)


# -- observers ----------------------------------------------------------------------------


def test_observers_hear_values_structure_and_range() -> None:
    fp = film()
    events: list[str] = []
    fp.observe(events.append)

    fp.layers["SiO2"].sld.value = 3.5
    assert events == ["values"]
    fp.layers["SiO2"].sld.value = 3.5  # no change, no event
    fp.scale.value = 0.9
    fp.back.sld.value = 2.1
    assert events == ["values"] * 3

    events.clear()
    fp.layers.add("Cu")
    fp.rename("Cu", "Cu2")
    fp.layers.remove("Cu2")
    fp.layers.add("Au")
    fp.layers.move("Au", 0)
    assert events == ["structure"] * 5

    events.clear()
    fp.layers["Au"].thickness.fit(10, 100)
    fp.layers["Au"].thickness.fix()
    assert events == ["range", "range"]

    events.clear()
    fp.layers["Au"].thickness.value = 20  # a new layer's parameters report too
    with pytest.raises(ModelError):
        fp.layers["SiO2"].thickness.value = 1000  # refused: nothing happened
    assert events == ["values"]

    events.clear()
    fp.data = small_data()
    fp.set_q_range(0.02, 0.1)
    fp.oversampling = None
    assert events == ["data", "settings", "settings"]

    fp.unobserve(events.append)
    events.clear()
    fp.layers["SiO2"].sld.value = 3.0
    assert events == []


def test_parameter_observer() -> None:
    seen: list[tuple[str, str]] = []
    param = Layer("L", thickness=100).thickness
    param.observe(lambda p, what: seen.append((p.path, what)))
    param.value = 110
    param.fit(100, 120)
    assert seen == [("L.thickness", "value"), ("L.thickness", "range")]
