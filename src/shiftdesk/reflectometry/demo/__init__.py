"""Demo data and a starting model, so a new user has something to fit at once."""

from __future__ import annotations

from importlib.resources import files

from shiftdesk.reflectometry.data import ReflData, load_data
from shiftdesk.reflectometry.layers import Layer, Medium
from shiftdesk.reflectometry.library import Library
from shiftdesk.reflectometry.problem import FitProblem

DEMO_FILE = "two_layer_film.txt"
DEMO_TITLE = "Two-layer film (demo)"
#: The same film with D2O as front medium: a second contrast for simultaneous fits
#: (made by ``make_d2o_contrast.py`` in this folder).
D2O_FILE = "two_layer_film_d2o.txt"


def demo_bytes() -> bytes:
    """The demo data file: a synthetic two-layer film on Si with 5 % noise."""
    return files(__name__).joinpath(DEMO_FILE).read_bytes()


def demo_data() -> ReflData:
    """The demo data set."""
    return load_data(demo_bytes(), filename=DEMO_FILE)


def demo_d2o_bytes() -> bytes:
    """The second contrast: the demo film with D2O (SLD 6.36) as front medium."""
    return files(__name__).joinpath(D2O_FILE).read_bytes()


def demo_d2o_data() -> ReflData:
    """The second contrast as data (see :func:`demo_d2o_bytes`)."""
    return load_data(demo_d2o_bytes(), filename=D2O_FILE)


def starting_problem(data: ReflData | None = None) -> FitProblem:
    """A two-layer model off the truth, thicknesses free, ready to fit to the demo data."""
    problem = FitProblem(
        front=Medium("air", sld=0.0),
        layers=[
            Layer("film2", thickness=40.0, sld=6.0, roughness=5.0),
            Layer("film1", thickness=560.0, sld=3.5, roughness=8.0),
        ],
        back=Medium("Si", sld=2.07, roughness=3.0),
        data=data if data is not None else demo_data(),
        title=DEMO_TITLE,
    )
    problem.layers["film1"].thickness.fit(500.0, 650.0)
    problem.layers["film2"].thickness.fit(20.0, 70.0)
    return problem


def seed(library: Library | None = None) -> tuple[int, int]:
    """Put the demo data and model in the user's library once; returns their ids."""
    lib = library or Library()
    for entry in lib.list_models():
        mine = entry.owner == lib.identity.name  # an administrator lists everyone's
        if mine and entry.title == DEMO_TITLE and entry.data_file_id is not None:
            return entry.data_file_id, entry.id
    data_id, data = lib.add_data(demo_bytes(), DEMO_FILE)
    model_id = lib.save_model(
        starting_problem(data),
        DEMO_TITLE,
        "Synthetic data; the truth is film1 577.6 Å, film2 44.75 Å.",
        data_file_id=data_id,
    )
    return data_id, model_id
