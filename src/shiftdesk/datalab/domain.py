"""What data sessions bring to the shared machinery (see :mod:`shiftdesk.domains`)."""

from __future__ import annotations

from shiftdesk.domains import Domain
from shiftdesk.jobs.tasks import TaskKind

DOMAIN = Domain(
    name="datalab",
    title="data sessions: FITS frames, registered operations, cached results",
    package="shiftdesk.datalab",
    records=("shiftdesk.datalab.records",),
    migrations="shiftdesk.datalab.migrations",
    job_kinds=(
        TaskKind(
            name="datalab.operation",
            run="shiftdesk.datalab.tasks:run_operation",
            decode="shiftdesk.datalab.tasks:decode",
            # a spare worker has astropy, the operations and jsonschema loaded before a job
            # arrives (importing jsonschema compiles rfc3987 grammars: 1-3 s)
            preload=(
                "shiftdesk.datalab.ops.combine",
                "shiftdesk.datalab.ops.images",
                "shiftdesk.datalab.ops.validation",
                "jsonschema",
            ),
        ),
    ),
    # a shared session's files, published by its owner and fetched by its members
    gate_actions=("shiftdesk.datalab.actions",),
    views="shiftdesk_widgets.datalab.views",
    dashboards=("datalab",),
    seed_demo="shiftdesk.datalab.demo:seed_demo",
    commands="shiftdesk.datalab.commands:add_commands",
)
