"""Stored model curves: the same curve back for the same model, data and engine only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from shiftdesk.reflectometry import FitProblem, Layer, Medium, ReflData
from shiftdesk.reflectometry import curve_store as curve_store_module
from shiftdesk.reflectometry.curve import Curves
from shiftdesk.reflectometry.curve_store import CurveStore, curve_key

Q = np.linspace(0.01, 0.2, 120)


def film(thickness: float = 100.0) -> FitProblem:
    fp = FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer("film", thickness=thickness, sld=3.5, roughness=3.0)],
        back=Medium("Si", sld=2.07, roughness=3.0),
        title="film on Si",
    )
    r = fp.evaluate(Q, dq=0.03 * Q).r
    fp.data = ReflData(q=Q, r=r * 1.02, dr=0.05 * r, dq=0.03 * Q, name="measured")
    return fp


def reopened(fp: FitProblem) -> FitProblem:
    """The same model as a fresh kernel gets it (from its JSON: new objects)."""
    return FitProblem.from_json(fp.to_json())


def stored_and_reloaded(
    fp: FitProblem, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Curves, FitProblem, Curves]:
    """``fp``'s curves computed and stored, then loaded for a fresh copy of ``fp`` (any
    computation from then on fails the test)."""
    computed = fp.curves()
    store = CurveStore(folder)
    assert store.save(fp, computed)
    again = reopened(fp)

    def refuse(self: FitProblem, *, resolution: bool) -> None:
        raise AssertionError("the curves were computed, not loaded")

    monkeypatch.setattr(FitProblem, "_evaluate_datasets", refuse)
    loaded = store.load(again)
    assert loaded is not None
    return computed, again, loaded


def test_a_stored_curve_comes_back_for_the_same_model_without_computing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed, again, loaded = stored_and_reloaded(film(), tmp_path, monkeypatch)
    assert again.curves() is loaded  # the problem keeps them until an edit
    curve, original = loaded.first, computed.first
    np.testing.assert_array_equal(curve.q, original.q)
    np.testing.assert_array_equal(curve.r, original.r)
    assert curve.chi2 == original.chi2 and curve.chi2 is not None
    np.testing.assert_array_equal(curve.in_range, original.in_range)
    for column, expected in zip(curve.profile, original.profile, strict=True):
        np.testing.assert_array_equal(column, expected)
    assert curve.data is again.data  # the problem's own data object
    assert curve.calc_points == original.calc_points
    assert curve.to_text() == original.to_text()


def test_any_edit_other_data_or_another_engine_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fp = film()
    store = CurveStore(tmp_path)
    store.save(fp, fp.curves())

    edited = reopened(fp)
    edited.layers["film"].thickness.value = 101.0
    assert store.load(edited) is None

    range_changed = reopened(fp)
    range_changed.set_q_range(0.02, 0.15)
    assert store.load(range_changed) is None

    other_data = reopened(fp)
    data = other_data.data
    assert data is not None
    other_data.data = ReflData(q=data.q, r=data.r * 1.01, dr=data.dr, dq=data.dq, name="x")
    assert store.load(other_data) is None

    retitled = reopened(fp)
    retitled.title, retitled.notes = "another title", "and notes"
    assert store.load(retitled) is not None  # texts do not change a curve

    monkeypatch.setattr(curve_store_module, "engine_identity", lambda: "another engine")
    assert store.load(reopened(fp)) is None


def test_an_edit_after_loading_computes_the_new_curve(tmp_path: Path) -> None:
    fp = film()
    store = CurveStore(tmp_path)
    store.save(fp, fp.curves())
    again = reopened(fp)
    loaded = store.load(again)
    assert loaded is not None
    again.layers["film"].thickness.value = 140.0
    fresh = again.curves()
    assert fresh is not loaded
    np.testing.assert_allclose(fresh.first.r, film(140.0).curves().first.r)


def test_curves_of_an_older_revision_are_not_stored(tmp_path: Path) -> None:
    fp = film()
    old = fp.curves()
    fp.layers["film"].thickness.value = 120.0
    store = CurveStore(tmp_path / "curves")
    assert not store.save(fp, old)
    assert not (tmp_path / "curves").exists()


def test_simultaneous_data_sets_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fp = film()
    data = fp.data
    assert data is not None
    second = fp.add_dataset(
        ReflData(q=data.q, r=data.r * 0.9, dr=data.dr, dq=data.dq, name="second"), name="d2"
    )
    second.back.sld.value = 4.0
    fp.tie("film.thickness")
    computed, again, loaded = stored_and_reloaded(fp, tmp_path, monkeypatch)
    assert list(loaded) == ["d1", "d2"]
    np.testing.assert_array_equal(loaded["d2"].r, computed["d2"].r)
    assert loaded["d2"].data is again.dataset("d2").data


def test_a_model_without_data_round_trips(tmp_path: Path) -> None:
    fp = FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer("film", thickness=80.0, sld=2.0, roughness=2.0)],
        back=Medium("Si", sld=2.07),
    )
    store = CurveStore(tmp_path)
    assert store.save(fp, fp.curves())
    loaded = store.load(reopened(fp))
    assert loaded is not None and loaded.first.data is None and loaded.first.chi2 is None
    np.testing.assert_array_equal(loaded.first.r, fp.curves().first.r)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        '{"format": "something else", "curves": {}}',
        '{"format": "shiftdesk.reflectometry.curves/1", "curves": {"d1": {"q": [1, 2]}}}',
        '{"format": "shiftdesk.reflectometry.curves/1", "curves": {"other": {}}}',
        '{"format": "shiftdesk.reflectometry.curves/1", "curves": []}',
    ],
    ids=["empty", "not-json", "other-format", "truncated", "other-data-sets", "not-a-mapping"],
)
def test_a_damaged_file_is_a_miss_not_an_error(tmp_path: Path, content: str) -> None:
    fp = film()
    store = CurveStore(tmp_path)
    store.save(fp, fp.curves())
    (tmp_path / f"{curve_key(fp)}.json").write_text(content)
    again = reopened(fp)
    assert store.load(again) is None
    assert again.curves().first.chi2 is not None  # computed as usual


def test_a_stored_curve_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    fp = film()
    store = CurveStore(tmp_path)
    store.save(fp, fp.curves())
    path = tmp_path / f"{curve_key(fp)}.json"
    path.write_text(path.read_text().replace('"r": [', '"r": [1.0, ', 1))
    assert store.load(reopened(fp)) is None


def test_only_the_newest_files_are_kept(tmp_path: Path) -> None:
    store = CurveStore(tmp_path, keep=3)
    kept = []
    for i, thickness in enumerate((50.0, 60.0, 70.0, 80.0, 90.0)):
        fp = film(thickness)
        assert store.save(fp, fp.curves())
        path = tmp_path / f"{curve_key(fp)}.json"
        os.utime(path, (1_000_000 + i, 1_000_000 + i))  # a clear order on any file system
        kept.append(path.name)
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    assert len(names) == 3 and set(names) <= set(kept)
    # (the prune after the fifth save removed two of the four older files)
    assert kept[-1] in names


def test_an_unwritable_folder_costs_the_store_not_the_caller(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = CurveStore(blocker / "curves")
    fp = film()
    assert store.save(fp, fp.curves()) is False
    assert store.load(fp) is None


def test_the_default_folder_is_the_users_data_folder(tmp_path: Path) -> None:
    from shiftdesk.storage import data_dir

    assert CurveStore().folder == data_dir() / "reflectometry" / "curves"
