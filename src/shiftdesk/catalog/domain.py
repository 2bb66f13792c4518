"""What the reference-file catalog brings to the shared machinery (see :mod:`shiftdesk.domains`)."""

from __future__ import annotations

from shiftdesk.domains import Domain

DOMAIN = Domain(
    name="catalog",
    title="reference-file catalog: rules contexts, best references, bad files",
    package="shiftdesk.catalog",
    records=("shiftdesk.catalog.records", "shiftdesk.catalog.submission_records"),
    migrations="shiftdesk.catalog.migrations",
    gate_actions=("shiftdesk.catalog.actions",),
    views="shiftdesk_widgets.catalog.view",
    dashboards=("catalog",),
    seed_demo="shiftdesk.catalog.demo:seed_demo",
    commands="shiftdesk.catalog.commands:add_commands",
)
