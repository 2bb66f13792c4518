"""DAQ commands are executed by the hardware owner: the stored plan and liveness columns.

``daq_commands.plan_json`` holds what a command does (phases of ECC calls, the run it
opens, the routers it organises), so the process that stored it may end at once;
``daq_commands.heartbeat_at`` is refreshed by the process executing it. The experiment
records which process executes its commands and when it last said so.

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("daq_commands") as batch:
        batch.add_column(sa.Column("plan_json", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    # The default only fills the rows already there; new rows always say what they do.
    with op.batch_alter_table("daq_commands") as batch:
        batch.alter_column("plan_json", existing_type=sa.Text(), server_default=None)
    with op.batch_alter_table("daq_experiments") as batch:
        batch.add_column(sa.Column("executor_host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("executor_pid", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("executor_heartbeat_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("daq_experiments") as batch:
        batch.drop_column("executor_heartbeat_at")
        batch.drop_column("executor_pid")
        batch.drop_column("executor_host")
    with op.batch_alter_table("daq_commands") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("plan_json")
