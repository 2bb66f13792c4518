"""SLD and battery-capacity calculators against the ORNL service's published anchors."""

from __future__ import annotations

import json

import pytest

from shiftdesk.reflectometry.tools import CalculatorError, capacity, sld


@pytest.mark.parametrize(
    ("formula", "density", "expected"),
    [("Si", 2.33, 2.074), ("D2O", 1.107, 6.371), ("H2O", 1.0, -0.561), ("SiO2", 2.2, 3.475)],
)
def test_sld_anchors(formula: str, density: float, expected: float) -> None:
    result = sld(formula, density=density)
    assert round(result.sld, 3) == expected
    assert result.formula == formula and result.density == density and result.wavelength == 6.0


def test_sld_of_an_element_uses_its_known_density() -> None:
    result = sld("Si")
    assert result.density == pytest.approx(2.33)
    assert round(result.sld, 3) == 2.074
    assert round(result.incoherent, 3) == 0.063
    assert result.isld > 0


def test_wavelength_reaches_periodictable() -> None:
    short, long = sld("Cu", wavelength=1.8), sld("Cu", wavelength=6.0)
    assert short.wavelength == 1.8 and long.wavelength == 6.0
    # Cu is a 1/v absorber: nothing depends on λ; Gd has a resonance: everything does
    assert (short.sld, short.isld) == pytest.approx((long.sld, long.isld))
    gd_short, gd_long = sld("Gd", wavelength=1.8), sld("Gd", wavelength=6.0)
    assert gd_short.isld != pytest.approx(gd_long.isld, rel=0.05)


def test_density_in_the_argument_overrides_the_known_one() -> None:
    assert sld("Si", density=2.33 / 2).sld == pytest.approx(sld("Si").sld / 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"formula": "Li15Si4"}, "knows no density for 'Li15Si4'"),
        ({"formula": "Xy2O", "density": 1.0}, "not a chemical formula"),
        ({"formula": "si", "density": 1.0}, "case matters"),
        ({"formula": "Si(", "density": 1.0}, "not a chemical formula"),
        ({"formula": "", "density": 1.0}, "give a chemical formula"),
        ({"formula": "H" * 500, "density": 1.0}, "characters are accepted"),
        ({"formula": "Si", "density": 0}, "must be a positive number"),
        ({"formula": "Si", "density": -2.33}, "must be a positive number"),
        ({"formula": "Si", "density": "heavy"}, "must be a number"),
        ({"formula": "Si", "wavelength": 0}, "wavelength"),
        ({"formula": "Si", "wavelength": float("nan")}, "wavelength"),
    ],
)
def test_sld_bad_input(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CalculatorError, match=message) as info:
        sld(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_capacity_of_the_original_forms_defaults() -> None:
    result = capacity("Si", 2.0, 75.0, 3.75, 1)
    # 3578.6 mAh/g with today's Si mass (28.085): "3578" in the issue, "3579" in the
    # original code's docstring and the battery literature
    assert 3578 < result.mAh_per_g < 3579
    assert round(result.mAh, 3) == 0.786
    assert round(result.c_rate(3), 3) == 0.262
    assert round(result.c_rate(5), 3) == 0.157
    assert set(result.c_rates) == {"C/1", "C/2", "C/3", "C/5", "C/10", "C/20"}
    assert result.c_rates["C/1"] == pytest.approx(result.mAh)
    assert result.c_rates["C/20"] == pytest.approx(result.mAh / 20)
    assert result.c_rate(0.5) == pytest.approx(2 * result.mAh)  # 2C
    assert "0.7859 mAh" in repr(result) and "mAh" in result._repr_html_()


def test_capacity_scales_with_geometry_and_charge() -> None:
    base = capacity("Si", 1.0, 50.0, 1.0)
    assert capacity("Si", 2.0, 50.0, 1.0).mAh == pytest.approx(4 * base.mAh)
    assert capacity("Si", 1.0, 100.0, 1.0).mAh == pytest.approx(2 * base.mAh)
    assert capacity("Si", 1.0, 50.0, 1.0, valence_change=2).mAh_per_g == pytest.approx(
        2 * base.mAh_per_g
    )
    # a compound needs its density given
    lfp = capacity("LiFePO4", 1.0, 100.0, 1.0, density=3.6)
    assert lfp.mAh_per_g == pytest.approx(169.9, abs=0.1)  # the textbook LiFePO4 figure


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("Fe2O3", 1.0, 10.0, 2.0), {}, "knows no density"),
        (("Si", 0.0, 75.0, 3.75), {}, "radius"),
        (("Si", 2.0, -75.0, 3.75), {}, "thickness"),
        (("Si", 2.0, 75.0, 0.0), {}, "carriers"),
        (("Si", 2.0, 75.0, 3.75), {"valence_change": 0}, "oxidation-state"),
        (("Si", 2.0, 75.0, 3.75), {"density": 0}, "density"),
        (("Qq", 2.0, 75.0, 3.75), {"density": 1.0}, "not a chemical formula"),
    ],
)
def test_capacity_bad_input(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(CalculatorError, match=message):
        capacity(*args, **kwargs)  # type: ignore[arg-type]


def test_bad_c_rate() -> None:
    with pytest.raises(CalculatorError, match="C-rate"):
        capacity("Si", 2.0, 75.0, 3.75).c_rate(0)


def test_results_are_plain_values() -> None:
    result = sld("D2O", density=1.107)
    assert json.loads(json.dumps(result.__dict__))["sld"] == pytest.approx(6.371, abs=1e-3)
    assert "6.371" in repr(result) and "6.371" in result._repr_html_()
