"""The demo run table: simulated runs of a beamline and a context file computing from them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shiftdesk.errors import NotFound

if TYPE_CHECKING:
    from shiftdesk.identity import Identity
    from shiftdesk.storage import Database

#: the demo table's name
NAME = "demo"
#: how many runs the demo starts with
RUNS = 12
#: the demo context file (stored as text: it imports damnit_ctx, which only the runner provides)
CONTEXT = Path(__file__).with_name("context.txt")


def write_run(folder: Path, run: int, seed: int | None = None) -> Path:
    """Write a simulated run's ``data.h5`` into ``folder/r{run:04d}`` (written, then renamed)."""
    import h5py

    rng = np.random.default_rng(run if seed is None else seed)
    where = folder / f"r{run:04d}"
    where.mkdir(parents=True, exist_ok=True)
    level = 800 + 40 * np.sin(run / 3)
    energy = rng.normal(level, 15, 200) + np.linspace(0, 10 * np.cos(run), 200)
    yy, xx = np.mgrid[0:64, 0:64]
    centre = 32 + 6 * np.sin(run)
    image = rng.poisson(5, (64, 64)) + 80 * np.exp(-((xx - centre) ** 2 + (yy - 32) ** 2) / 30)
    temporary = where / ".data.h5.tmp"
    with h5py.File(temporary, "w") as f:
        f["xgm/energy"] = energy.astype("float32")
        f["detector/image"] = image.astype("float32")
        f["motors/x"] = 1.5 * run
        f["sample/temperature"] = 0.0 if run % 5 == 0 else 290.0 + rng.normal(0, 0.3)
    temporary.replace(where / "data.h5")
    return where


def seed_demo(database: Database, identity: Identity) -> str:
    """Make the demo run table (once) with its runs, and queue their processing.

    The runs are only queued: the first editor who opens the table starts the jobs (so
    that a hub seeding demo data never runs them with its own rights).
    """
    from shiftdesk.runtable.table import RunTable
    from shiftdesk.storage.database import data_dir

    try:
        rt = RunTable.open(NAME, database=database, identity=identity)
        return f"run table {NAME!r} ({len(rt)} runs)"
    except NotFound:
        pass
    if _seeded_by_a_service(database):
        # a hub seeding for its users: the table is made by the first user who opens the
        # dashboard, in their own session (owner, data and jobs theirs, never the hub's)
        return f"run table {NAME!r}: made by the first user who opens the run table dashboard"
    raw, results = data_dir() / "runtable-demo" / "raw", data_dir() / "runtable-demo" / "results"
    for run in range(1, RUNS + 1):
        write_run(raw, run)
    try:
        rt = RunTable.create(
            NAME,
            data=str(raw / "r{run:04d}"),
            folder=results,
            context=CONTEXT,
            title="Demo beamline: simulated runs",
            members="*",
            editors="group:staff",  # the demo hub's staff comment and reprocess; others read
            concurrent_jobs=4,
            database=database,
            identity=identity,
        )
    except FileExistsError:  # someone else made it meanwhile
        return f"run table {NAME!r} (made by another user)"
    rt.add_user_variable("sample", "string", description="what is in the beam")
    rt.add_user_variable("good", "boolean", title="good run")
    rt.add_runs(range(1, RUNS + 1), process=False)
    rt.process(range(1, RUNS + 1), start=False)
    rt.set(3, "comment", "beam lost at 12:03")
    rt.set(2, "sample", "LaB6")
    return f"run table {NAME!r}: {RUNS} simulated runs queued for processing"


def _seeded_by_a_service(database: Database) -> bool:
    """Whether a service (the hub, as the tables' owner) seeds a shared database."""
    from shiftdesk.storage.boundary import is_user_role

    return database.engine.dialect.name == "postgresql" and not is_user_role(database)
