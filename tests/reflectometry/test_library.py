"""The reflectometry Library: my data, my models, my fits, and nobody else's."""

from __future__ import annotations

import numpy as np
import pytest

from shiftdesk.errors import DataError, ModelError, NotFound, PermissionDenied
from shiftdesk.identity import Identity
from shiftdesk.reflectometry import FitProblem, FitResult, Layer, Library, Medium, ReflData
from shiftdesk.storage import get_database

ALICE = Identity("alice")
BOB = Identity("bob")
ROOT = Identity("root", admin=True)


def data_file(thickness: float = 100.0, n: int = 60) -> bytes:
    """A four-column file made from air | SiO2 | Si, 5 % error bars."""
    q = np.linspace(0.01, 0.2, n)
    r = model(thickness).evaluate(q, dq=0.03 * q).r
    table = np.column_stack([q, r, 0.05 * r, 0.03 * q])
    lines = "\n".join(" ".join(f"{v:.10g}" for v in row) for row in table)
    return ("# Q R dR dQ\n" + lines + "\n").encode()


def model(thickness: float = 100.0) -> FitProblem:
    return FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer("SiO2", thickness=thickness, sld=3.47, roughness=2.0)],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )


def library(who: Identity) -> Library:
    return Library(get_database(), who)


# -- data ---------------------------------------------------------------------------------


def test_add_and_open_data() -> None:
    lib = library(ALICE)
    content = data_file()
    data_id, data = lib.add_data(content, "sio2.txt")
    assert len(data) == 60 and data.name == "sio2"
    [entry] = lib.list_data()
    assert (entry.id, entry.name, entry.owner, entry.n_points) == (data_id, "sio2.txt", "alice", 60)
    again = lib.open_data(data_id)
    assert again.fingerprint == data.fingerprint
    with pytest.raises(NotFound):
        lib.open_data(data_id + 1000)


def test_bad_file_stores_nothing() -> None:
    lib = library(ALICE)
    with pytest.raises(DataError, match=r"bad\.txt, line 2"):
        lib.add_data(b"0.01 1 0.1\n0.02 oops 0.1\n", "bad.txt")
    with pytest.raises(DataError, match="empty"):
        lib.add_data(b"", "empty.txt")
    assert lib.list_data() == []


def test_others_cannot_open_or_list_my_data() -> None:
    alice, bob = library(ALICE), library(BOB)
    data_id, _ = alice.add_data(data_file(), "alice.txt")
    bob_id, _ = bob.add_data(data_file(120), "bob.txt")
    with pytest.raises(PermissionDenied, match="belongs to 'alice'"):
        bob.open_data(data_id)
    assert [e.id for e in bob.list_data()] == [bob_id]
    assert [e.id for e in alice.list_data()] == [data_id]
    assert {e.owner for e in library(ROOT).list_data()} == {"alice", "bob"}
    assert len(library(ROOT).open_data(data_id)) == 60


# -- models -------------------------------------------------------------------------------


def test_save_model_needs_a_title() -> None:
    lib = library(ALICE)
    for title in ("", "   "):
        with pytest.raises(ModelError, match="title"):
            lib.save_model(model(), title)
    assert lib.list_models() == []


def test_save_and_open_round_trip() -> None:
    lib = library(ALICE)
    data_id, data = lib.add_data(data_file(), "sio2.txt")
    fp = model(95.0)
    fp.data = data
    fp.layers["SiO2"].thickness.fit(50, 150)
    fp.layers["SiO2"].thickness.error = 0.5
    model_id = lib.save_model(fp, "  oxide  ", "first try", data_file_id=data_id)
    assert fp.title == "oxide" and fp.notes == "first try"

    [entry] = lib.list_models()
    assert (entry.id, entry.title, entry.notes, entry.owner, entry.data_file_id) == (
        model_id,
        "oxide",
        "first try",
        "alice",
        data_id,
    )
    opened = lib.open_model(model_id)
    assert opened.title == "oxide"
    assert opened.parameters().keys() == fp.parameters().keys()
    for path, param in fp.parameters().items():
        assert opened.parameter(path).to_dict() == param.to_dict(), path
    assert opened.data is not None and opened.data.fingerprint == data.fingerprint
    np.testing.assert_array_equal(opened.evaluate().r, fp.evaluate().r)

    bare = lib.open_model(model_id, data=None)
    assert bare.data is None

    # overwrite in place
    fp.layers["SiO2"].thickness.value = 110
    assert lib.save_model(fp, "oxide v2", model_id=model_id) == model_id
    assert [m.title for m in lib.list_models()] == ["oxide v2"]
    assert lib.open_model(model_id).parameter("SiO2.thickness").value == 110


def test_open_model_on_other_data() -> None:
    lib = library(ALICE)
    data_id, _ = lib.add_data(data_file(100, n=60), "first.txt")
    model_id = lib.save_model(model(), "oxide", data_file_id=data_id)
    other = ReflData(
        q=np.linspace(0.02, 0.1, 17),
        r=np.linspace(1.0, 0.001, 17),
        dr=np.full(17, 0.01),
        dq=np.full(17, 0.001),
        name="other",
    )
    opened = lib.open_model(model_id, data=other)
    assert opened.data is other
    curve = opened.evaluate()
    assert curve.q.size == 17 and curve.chi2 is not None


def test_model_opens_without_a_data_file_i_may_not_read() -> None:
    alice, bob = library(ALICE), library(BOB)
    bob_data, _ = bob.add_data(data_file(), "bob.txt")
    model_id = alice.save_model(model(), "borrowed", data_file_id=bob_data)
    assert alice.open_model(model_id).data is None  # alice may not read bob's file


def test_others_cannot_open_list_change_or_delete_my_models() -> None:
    alice, bob = library(ALICE), library(BOB)
    model_id = alice.save_model(model(), "mine")
    with pytest.raises(PermissionDenied, match="belongs to 'alice'"):
        bob.open_model(model_id)
    with pytest.raises(PermissionDenied):
        bob.save_model(model(50), "stolen", model_id=model_id)
    with pytest.raises(PermissionDenied):
        bob.delete_model(model_id)
    assert bob.list_models() == []
    assert alice.open_model(model_id).parameter("SiO2.thickness").value == 100
    assert [m.title for m in library(ROOT).list_models()] == ["mine"]

    alice.delete_model(model_id)
    assert alice.list_models() == []
    with pytest.raises(NotFound):
        alice.open_model(model_id)


# -- fits ---------------------------------------------------------------------------------


def test_open_fit_returns_the_start_and_the_result() -> None:
    lib = Library()  # the current user, like fp.fit()
    _, data = lib.add_data(data_file(100.0), "sio2.txt")
    fp = model(90.0)
    fp.data = data
    fp.layers["SiO2"].thickness.fit(50, 150)
    job = fp.fit(method="lm", title="oxide fit")
    assert [j.id for j in lib.list_fits()] == [job.id]
    result = job.result(timeout=120)

    start, fitted = lib.open_fit(job.id)
    assert start.parameter("SiO2.thickness").value == 90.0
    assert start.data is not None and start.data.fingerprint == data.fingerprint
    assert isinstance(fitted, FitResult)
    assert fitted.problem.parameter("SiO2.thickness").value == pytest.approx(100.0, abs=0.5)
    assert fitted.chi2 == result.chi2
    assert lib.list_fits()[0].title == "oxide fit"

    with pytest.raises(PermissionDenied):
        library(BOB).open_fit(job.id)
    assert library(BOB).list_fits() == []
