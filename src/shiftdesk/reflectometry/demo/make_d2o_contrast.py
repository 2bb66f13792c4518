"""How ``two_layer_film_d2o.txt`` (the demo's second contrast) was made.

The same film as ``two_layer_film.txt`` measured a second time with D2O instead of air
as the front (incident) medium: a contrast-variation pair for simultaneous fits. The
truth is the first file's (film2 44.75 Å SLD 6.0 σ 5, film1 577.6 Å SLD 3.5 σ 8, Si
2.07 σ 3) with front SLD 6.36 (D2O). R is computed by shiftdesk (refl1d) on the first
file's Q and dQ points, then 5 % Gaussian noise is added (seed 20261122); dR is 5 % of
the noiseless R.

Run from the repository root to write the file again (the result is identical)::

    python -m shiftdesk.reflectometry.demo.make_d2o_contrast
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shiftdesk.reflectometry import FitProblem, Layer, Medium
from shiftdesk.reflectometry.demo import demo_data

OUTPUT = Path(__file__).with_name("two_layer_film_d2o.txt")
D2O_SLD = 6.36
SEED = 20261122
NOISE = 0.05


def truth_d2o() -> FitProblem:
    """The true model of the D2O contrast."""
    return FitProblem(
        front=Medium("D2O", sld=D2O_SLD),
        layers=[
            Layer("film2", thickness=44.75, sld=6.0, roughness=5.0),
            Layer("film1", thickness=577.6, sld=3.5, roughness=8.0),
        ],
        back=Medium("Si", sld=2.07, roughness=3.0),
        data=demo_data(),
    )


def make() -> str:
    """The file's text."""
    data = demo_data()
    r_true = truth_d2o().evaluate().r
    rng = np.random.default_rng(SEED)
    r = r_true * (1.0 + NOISE * rng.standard_normal(r_true.size))
    dr = NOISE * r_true
    lines = [
        "# shiftdesk demo data: the two-layer film with D2O as front medium (second contrast),",
        f"# 5 % Gaussian noise (seed {SEED}); made by make_d2o_contrast.py",
        "# truth: D2O (SLD 6.36) | film2 44.75 A SLD 6.0 sigma 5 | film1 577.6 A SLD 3.5 "
        "sigma 8 | Si 2.07 sigma 3",
        "# columns: Q (1/A)  R  dR  dQ (FWHM, 2.5 % of Q)",
    ]
    lines += [
        f"{q:.8g} {ri:.8g} {dri:.8g} {dq:.8g}"
        for q, ri, dri, dq in zip(data.q, r, dr, data.dq, strict=True)
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(make())
    print(f"wrote {OUTPUT}")
