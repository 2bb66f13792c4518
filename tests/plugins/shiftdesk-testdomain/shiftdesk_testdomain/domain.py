"""The test domain's declaration: everything shiftdesk's shared machinery needs."""

from shiftdesk.domains import Domain
from shiftdesk.jobs.tasks import TaskKind

DOMAIN = Domain(
    name="test",
    title="a test domain: tallies",
    package="shiftdesk_testdomain",
    records=("shiftdesk_testdomain.records",),
    migrations="shiftdesk_testdomain.migrations",
    job_kinds=(
        # Exercises the job machinery itself: progress, cancel, and faults on request.
        TaskKind(name="test.sleep", run="shiftdesk_testdomain.tasks:sleep_task"),
    ),
    gate_actions=("shiftdesk_testdomain.actions",),
    views="shiftdesk_testdomain.views",
)
