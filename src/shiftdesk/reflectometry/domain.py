"""What reflectometry brings to the shared machinery (see :mod:`shiftdesk.domains`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shiftdesk.domains import Domain
from shiftdesk.jobs.tasks import TaskKind

if TYPE_CHECKING:
    from shiftdesk.identity import Identity
    from shiftdesk.storage import Database


def seed_demo(database: Database, identity: Identity) -> str:
    """Put the demo data and model in ``identity``'s library (once)."""
    from shiftdesk.reflectometry.demo import seed
    from shiftdesk.reflectometry.library import Library

    data_id, model_id = seed(Library(database, identity))
    return f"reflectometry demo data #{data_id} and model #{model_id}"


DOMAIN = Domain(
    name="reflectometry",
    title="reflectometry fitting",
    package="shiftdesk.reflectometry",
    job_kinds=(
        TaskKind(
            name="reflectometry.fit",
            run="shiftdesk.reflectometry.fitting:run_fit_task",
            decode="shiftdesk.reflectometry.fitting:FitResult.from_dict",
            preload=("shiftdesk.reflectometry.fitting", "refl1d.names", "bumps.fitters"),
        ),
    ),
    views="shiftdesk_widgets.reflectometry.views",
    dashboards=("reflectometry",),
    seed_demo="shiftdesk.reflectometry.domain:seed_demo",
)
