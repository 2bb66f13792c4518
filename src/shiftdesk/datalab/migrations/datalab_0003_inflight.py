"""Data sessions: one running job per owner and request (in-flight deduplication).

A partial unique index on ``datalab_operations (owner, cache_key)`` over the rows that
run a job of their own (queued or running, not ``cached``): two identical requests of one
user made while the first still runs cannot both start a job; the second joins the
first (``cached`` True, the first's job). Another user's rows never collide (the owner
is part of the index).

Rows written before this revision may hold two such requests at once (a double click
whose jobs are still going): all but the oldest of each are marked ``cached`` first, as
a joined request is. They still follow their own job and settle as before.

Revision ID: datalab_0003_inflight
Revises: datalab_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "datalab_0003_inflight"
down_revision = "datalab_0002"
branch_labels = None
depends_on = None

#: as :data:`shiftdesk.datalab.records.RUNNING_WHERE` (a revision keeps its own copy)
_RUNNING = "status IN ('queued', 'running') AND NOT cached"
_INDEX = "uq_datalab_operations_running"


def upgrade() -> None:
    ops = sa.table(
        "datalab_operations",
        sa.column("id", sa.Integer()),
        sa.column("owner", sa.String()),
        sa.column("cache_key", sa.String()),
        sa.column("status", sa.String()),
        sa.column("cached", sa.Boolean()),
    )
    older = ops.alias("older")
    running = (ops.c.status.in_(("queued", "running")), ops.c.cached.is_(False))
    op.execute(
        ops.update()
        .where(
            *running,
            sa.exists().where(
                older.c.owner == ops.c.owner,
                older.c.cache_key == ops.c.cache_key,
                older.c.status.in_(("queued", "running")),
                older.c.cached.is_(False),
                older.c.id < ops.c.id,
            ),
        )
        .values(cached=True)
    )
    op.create_index(
        _INDEX,
        "datalab_operations",
        ["owner", "cache_key"],
        unique=True,
        sqlite_where=sa.text(_RUNNING),
        postgresql_where=sa.text(_RUNNING),
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="datalab_operations")
