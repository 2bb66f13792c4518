"""Simultaneous fits: several data sets, each with its own model, tied parameters, one job."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

import shiftdesk.jobs
from shiftdesk.errors import ConstraintError, FitError, ModelError
from shiftdesk.jobs import JobStatus
from shiftdesk.reflectometry import FitProblem, FitResult, Layer, Library, Medium, ReflData
from shiftdesk.storage import get_database

Q = np.linspace(0.008, 0.25, 200)
TRUE_THICKNESS = 82.0
TRUE_SLD = 3.1
D2O, H2O = 6.36, -0.56


def contrast(solvent_sld: float, thickness: float = TRUE_THICKNESS, sld: float = TRUE_SLD):  # type: ignore[no-untyped-def]
    """Si | film | solvent, measured through the silicon."""
    return FitProblem(
        front=Medium("Si", sld=2.07),
        layers=[Layer("film", thickness=thickness, sld=sld, roughness=4.0)],
        back=Medium("solvent", sld=solvent_sld, roughness=5.0),
    )


def measured(solvent_sld: float, seed: int, name: str) -> ReflData:
    dq = 0.025 * Q
    r = contrast(solvent_sld).evaluate(Q, dq=dq).r
    dr = 0.04 * r + 1e-9
    noisy = r + dr * np.random.default_rng(seed).standard_normal(Q.size)
    return ReflData(q=Q, r=noisy, dr=dr, dq=dq, name=name)


@pytest.fixture
def two_contrasts() -> FitProblem:
    """D2O and H2O data, film thickness and SLD shared, each solvent roughness its own."""
    fp = contrast(D2O, thickness=70.0, sld=2.6)
    fp.dataset_name = "d2o"
    fp.data = measured(D2O, seed=1, name="film in D2O")
    film = fp.layers["film"]
    film.thickness.fit(40.0, 120.0)
    film.sld.fit(1.0, 5.0)
    fp.back.roughness.fit(1.0, 10.0)
    h2o = fp.add_dataset(measured(H2O, seed=2, name="film in H2O"), name="h2o")
    h2o.back.sld.value = H2O
    h2o.back.roughness.value = 3.0
    fp.tie("film.thickness")
    fp.tie("film.sld")
    return fp


def test_a_new_data_set_gets_its_own_copy_of_the_model() -> None:
    fp = contrast(D2O)
    fp.layers["film"].thickness.fit(40, 120)
    data = measured(H2O, seed=3, name="h2o data")
    second = fp.add_dataset(data)
    assert list(fp.datasets) == ["d1", "d2"] and second.dataset_name == "d2"
    assert fp.is_simultaneous and second.data is data
    assert second.describe() == fp.describe()
    assert second.layers["film"].thickness.free  # the copy has the same free parameters
    second.layers["film"].sld.value = 1.0
    assert fp.layers["film"].sld.value == TRUE_SLD  # independent
    paths = list(fp.all_parameters())
    assert "d1.film.thickness" in paths and "d2.film.thickness" in paths
    assert len(paths) == len(set(paths)) == 2 * len(fp.parameters())
    assert fp.parameter("d2.film.sld") is second.layers["film"].sld
    assert fp.parameter("film.sld") is fp.layers["film"].sld
    assert second.parameter("film.sld") is second.layers["film"].sld
    assert fp.dataset("d2") is second and second.datasets == fp.datasets
    with pytest.raises(KeyError, match="no data set 'd9'; data sets are: d1, d2"):
        fp.dataset("d9")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("d1", "already a data set named 'd1'"),
        ("bad name", "cannot be used"),
        ("front", "reserved"),
        ("sqrt", "reserved"),
        ("_x", "cannot be used"),
        (3, "cannot be used"),
    ],
)
def test_bad_data_set_names_are_refused(name: object, message: str) -> None:
    fp = contrast(D2O)
    with pytest.raises(ModelError, match=message):
        fp.add_dataset(measured(H2O, 3, "x"), name=name)  # type: ignore[arg-type]
    assert list(fp.datasets) == ["d1"]


def test_tie_shares_a_parameter_and_fixes_the_copies(two_contrasts: FitProblem) -> None:
    fp = two_contrasts
    h2o = fp.dataset("h2o")
    assert [c.text for c in fp.constraints] == [
        "h2o.film.thickness = film.thickness",
        "h2o.film.sld = film.sld",
    ]
    tied = h2o.layers["film"].thickness
    assert tied.derived and tied.fixed  # it was free (a copy); tying fixed it
    fp.layers["film"].thickness.value = 90.0
    assert tied.value == 90.0
    with pytest.raises(ConstraintError, match="derived"):
        tied.fit(40, 120)
    assert sorted(fp.all_free_parameters()) == [
        "d2o.back.roughness",
        "d2o.film.sld",
        "d2o.film.thickness",
        "h2o.back.roughness",
    ]
    with pytest.raises(ConstraintError, match=r"did you mean 'film\.thickness'"):
        fp.tie("film.thicknes")
    with pytest.raises(ModelError, match="named in constraints"):
        fp.remove_dataset("h2o")
    with pytest.raises(ModelError, match="named in constraints"):
        h2o.dataset_name = "water"
    # a constraint added through the second data set's model names its own parameters
    constraint = h2o.constrain("back.roughness <= film.roughness * 2")
    assert constraint.text == "h2o.back.roughness <= h2o.film.roughness * 2"
    with pytest.raises(ModelError, match="only one data set"):
        contrast(D2O).tie("film.sld")


def test_tie_between_two_further_data_sets() -> None:
    fp = contrast(D2O)
    for name in ("h2o", "cmsi"):
        fp.add_dataset(measured(H2O, 3, name), name=name)
    (constraint,) = fp.tie("film.roughness", "h2o", "cmsi")
    assert constraint.text == "cmsi.film.roughness = h2o.film.roughness"
    fp.dataset("h2o").layers["film"].roughness.value = 7.0
    assert fp.dataset("cmsi").layers["film"].roughness.value == 7.0
    assert fp.layers["film"].roughness.value == 4.0
    (constraint,) = fp.tie("film.sld", "h2o")
    assert constraint.text == "h2o.film.sld = film.sld"


def test_removing_a_data_set() -> None:
    fp = contrast(D2O)
    fp.add_dataset(measured(H2O, 3, "x"), name="h2o")
    removed = fp.remove_dataset("h2o")
    assert list(fp.datasets) == ["d1"] and removed.datasets == {"h2o": removed}
    with pytest.raises(ModelError, match="first data set cannot be removed"):
        fp.remove_dataset("d1")


def test_two_contrasts_recover_the_shared_film(two_contrasts: FitProblem) -> None:
    fp = two_contrasts
    start = {name: curve.chi2 for name, curve in fp.evaluate_all().items()}
    assert list(start) == ["d2o", "h2o"] and all(c is not None and c > 20 for c in start.values())
    result = fp.dataset("h2o").fit_now("lm")  # any data set's model fits them all
    assert result.converged, result.warnings
    assert [row["path"] for row in result.parameters] == [
        "d2o.film.thickness",
        "d2o.film.sld",
        "d2o.back.roughness",
        "h2o.back.roughness",
    ]
    fitted = result.problem
    for path, truth in (("film.thickness", TRUE_THICKNESS), ("film.sld", TRUE_SLD)):
        shared, tied = fitted.parameter(path), fitted.dataset("h2o").parameter(path)
        assert shared.error is not None and abs(shared.value - truth) < 3 * shared.error
        assert tied.value == shared.value and tied.error == pytest.approx(shared.error)
    assert abs(fitted.dataset("h2o").back.roughness.value - 5.0) < 1.5
    assert 0.6 < result.chi2 < 1.6
    derived = {row["path"] for row in result.derived}
    assert derived == {"h2o.film.thickness", "h2o.film.sld"}

    # ± errors go back into every model; the problem itself was not touched by the fit
    assert fp.layers["film"].thickness.value == 70.0
    fp.apply_result(result)
    h2o = fp.dataset("h2o")
    assert fp.layers["film"].thickness.value == fitted.layers["film"].thickness.value
    assert h2o.layers["film"].thickness.value == fp.layers["film"].thickness.value
    assert h2o.layers["film"].thickness.error == pytest.approx(fp.layers["film"].thickness.error)
    assert h2o.back.roughness.error == fitted.dataset("h2o").back.roughness.error
    for name, curve in fp.evaluate_all().items():
        assert curve.chi2 is not None and curve.chi2 < 2, name


@pytest.mark.slow  # a worker process imports refl1d
def test_a_simultaneous_fit_runs_as_one_job(two_contrasts: FitProblem) -> None:
    job = two_contrasts.fit(method="lm")
    assert [d["name"] for d in job.spec["problem"]["datasets"]] == ["h2o"]
    assert job.spec["problem"]["datasets"][0]["data"]["r"]  # the data travels with it
    result = job.result(timeout=120)
    assert isinstance(result, FitResult) and job.status is JobStatus.DONE
    assert [j.id for j in shiftdesk.jobs.list_jobs()] == [job.id]
    local = two_contrasts.fit_now("lm")
    assert result.chi2 == pytest.approx(local.chi2, rel=1e-9)
    assert [r["path"] for r in result.parameters] == [r["path"] for r in local.parameters]
    tied = result.problem.dataset("h2o").layers["film"].thickness
    assert tied.derived and tied.value == result.problem.layers["film"].thickness.value


def test_every_data_set_needs_data_and_counts_for_points(two_contrasts: FitProblem) -> None:
    two_contrasts.dataset("h2o").data = None
    with pytest.raises(FitError, match="no data to fit of data set 'h2o'"):
        two_contrasts.fit_now("lm")


def test_save_load_round_trip(two_contrasts: FitProblem) -> None:
    fp = two_contrasts
    fp.constrain("h2o.back.roughness < back.roughness")
    back = FitProblem.from_json(fp.to_json())
    assert list(back.datasets) == ["d2o", "h2o"]
    assert [c.text for c in back.constraints] == [c.text for c in fp.constraints]
    for name, ds in fp.datasets.items():
        other = back.dataset(name)
        assert other.data is not None and ds.data is not None
        assert other.data.fingerprint == ds.data.fingerprint
        np.testing.assert_array_equal(other.evaluate().r, ds.evaluate().r)
    back.layers["film"].thickness.value = 100.0
    assert back.dataset("h2o").layers["film"].thickness.value == 100.0

    # a saved model keeps its further data sets (they have no data file of their own)
    lib = Library(get_database())
    model_id = lib.save_model(fp, "two contrasts")
    opened = lib.open_model(model_id)
    assert list(opened.datasets) == ["d2o", "h2o"]
    assert opened.dataset("h2o").data is not None
    assert [c.text for c in opened.constraints] == [c.text for c in fp.constraints]
    state = json.loads(fp.to_json(include_data=False))
    assert state["data"] is None and state["datasets"][0]["data"] is not None


def test_exports_have_every_data_set(two_contrasts: FitProblem, tmp_path: Path) -> None:
    fp = two_contrasts
    script = tmp_path / "model.py"
    script.write_text(fp.to_refl1d_script())
    problem = runpy.run_path(str(script))["problem"]  # our generated script
    assert len(list(problem.models)) == 2
    assert sorted(problem.labels()) == sorted(fp.all_free_parameters())
    curves = fp.evaluate_all()
    chi2_sum = sum(
        c.chi2 * (int(ds.fit_mask().sum()) - len(ds.free_parameters()))
        for c, ds in zip(curves.values(), fp.datasets.values(), strict=True)
        if c.chi2 is not None
    )
    points = sum(int(ds.fit_mask().sum()) for ds in fp.datasets.values())
    assert problem.chisq() * problem.dof == pytest.approx(chi2_sum, rel=1e-6)
    assert problem.dof == points - 4
    rows = fp.parameters_csv().splitlines()
    assert any(r.startswith("h2o.film.thickness,") and r.endswith("film.thickness") for r in rows)
    assert any(r.startswith("d2o.back.roughness,") for r in rows)


def _full(name: str) -> dict[str, object]:
    return {"name": name, **contrast(H2O).to_dict(include_data=False)}


@pytest.mark.parametrize(
    ("datasets", "message"),
    [
        ([{"name": "h2o"}], "incomplete or malformed"),  # no model
        ([{k: v for k, v in _full("x").items() if k != "name"}], "incomplete or malformed"),
        (["h2o"], "incomplete or malformed"),
        ([_full("d1")], "already a data set named 'd1'"),
        ([_full("h2o"), _full("h2o")], "already a data set named 'h2o'"),
        ([_full("bad name")], "cannot be used"),
    ],
)
def test_malformed_data_sets_in_a_saved_model_are_refused(datasets: object, message: str) -> None:
    state = contrast(D2O).to_dict()
    state["schema"] = "shiftdesk.reflectometry.model/2"
    state["datasets"] = datasets
    with pytest.raises(ModelError, match=message):
        FitProblem.from_dict(state)
