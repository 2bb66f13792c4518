"""What reflectometry brings to the shared machinery (see :mod:`shiftdesk.domains`)."""

from shiftdesk.domains import Domain
from shiftdesk.jobs.tasks import TaskKind

DOMAIN = Domain(
    name="reflectometry",
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
)
