"""A context file in DAMNIT's syntax, used by the context-engine tests.

The run folder the tests make holds ``xgm.h5`` (dataset ``energy``) and ``extra.h5``.
The string annotations (``"var#..."``) are DAMNIT's, not type hints.
"""
# ruff: noqa: F821

import numpy as np
import xarray as xr
from damnit_ctx import Cell, Group, Skip, Variable


@Variable(title="XGM/Energy", summary="mean", units="µJ", tags=["beam", "xgm"])
def xgm_energy(run):
    """Pulse energy per train."""
    with run.open_h5("xgm.h5") as f:
        return f["energy"][:]


@Variable(title="XGM/Trace", tags="beam")
def xgm_trace(run, energy: "var#xgm_energy"):
    """The energy as a DataArray over trains."""
    trains = np.arange(1000, 1000 + len(energy))
    return xr.DataArray(energy, dims=["trainId"], coords={"trainId": trains}, attrs={"units": "µJ"})


@Variable(title="XGM/Names")
def xgm_names(run, parts: "var#xgm_*"):
    """The other XGM variables, through a glob."""
    return ",".join(sorted(parts))


@Variable(title="Detector")
def detector(run):
    """A 2-D image."""
    return np.arange(48 * 64, dtype=np.float64).reshape(48, 64)


@Variable(title="Figure")
def figure(run):
    """A matplotlib figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    fig.add_subplot().plot([1, 3, 2])
    return fig


@Variable(title="Peaks")
def peaks(run, energy: "var#xgm_energy"):
    """A Cell with an explicit table value and display options."""
    return Cell(energy, summary_value="3 peaks", bold=False, background="#7cfc00")


@Variable(title="Scan")
def scan(run, number: "meta#run_number"):
    """Skipped on even runs."""
    if number % 2 == 0:
        raise Skip("run is not a scan")
    return number


@Variable(title="Broken")
def broken(run):
    """Always fails."""
    return 1 / 0


@Variable(title="After broken")
def after_broken(run, value: "var#broken"):
    """Depends on a failing variable."""
    return value


@Variable(title="After after broken")
def after_after(run, value: "var#after_broken"):
    """Two links from the failure."""
    return value


@Variable(title="With default")
def with_default(run, value: "var#broken" = -1):
    """The default stands in for the failed dependency."""
    return value


@Variable(title="Meta")
def meta(run, proposal: "meta#proposal", number: "meta#run_number", path: "meta#run_path"):
    """The run's metadata as text."""
    return f"{proposal}/{number}/{path.name}/{len(run.files('*.h5'))}"


@Variable(title="Level")
def level(run, value: "param#level"):
    """A parameter passed to the processing."""
    return value * 2


@Variable(transient=True)
def helper(run):
    """Any object, passed on but not stored."""
    return {"a": 1}


@Variable(title="Uses helper")
def uses_helper(run, h: "var#helper"):
    """Reads a transient variable."""
    return h["a"] + 1


@Group(title="Diag", tags=["diag"])
class Diagnostics:
    """A reusable group of variables."""

    offset: float = 0.0

    @Variable(title="Base")
    def base(self, run):
        return 10.0 + self.offset

    @Variable(title="Doubled")
    def doubled(self, run, base: "self#base"):
        return base * 2


diag = Diagnostics(offset=1.0)
