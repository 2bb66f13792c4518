"""DAQ: experiments, ECC servers, data routers and sources, runs, run sheet, command log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daq_experiments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("operator_group", sa.String(length=255), nullable=False),
        sa.Column("operators", sa.Text(), nullable=False),
        sa.Column("next_run_number", sa.Integer(), nullable=True),
        sa.Column("poll_period_s", sa.Float(), nullable=False),
        sa.Column("poller_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_daq_experiments_active", "daq_experiments", ["active"])

    op.create_table(
        "daq_calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("command_id", sa.String(length=36), nullable=True),
        sa.Column("server", sa.String(length=128), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["daq_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_daq_calls_command_id", "daq_calls", ["command_id"])
    op.create_index("ix_daq_calls_experiment_id", "daq_calls", ["experiment_id"])

    op.create_table(
        "daq_commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("steps_json", sa.Text(), nullable=False),
        sa.Column("run_number", sa.Integer(), nullable=True),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["experiment_id"], ["daq_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_daq_commands_experiment_id", "daq_commands", ["experiment_id"])
    op.create_index("ix_daq_commands_status", "daq_commands", ["status"])

    op.create_table(
        "daq_data_routers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("link_type", sa.String(length=8), nullable=False),
        sa.Column("ssh_host", sa.String(length=255), nullable=True),
        sa.Column("ssh_user", sa.String(length=255), nullable=True),
        sa.Column("ssh_port", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=1024), nullable=True),
        sa.Column("clean", sa.Boolean(), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["experiment_id"], ["daq_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("experiment_id", "name", name="uq_daq_router_name"),
    )
    op.create_index("ix_daq_data_routers_experiment_id", "daq_data_routers", ["experiment_id"])

    op.create_table(
        "daq_ecc_servers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("config_describe", sa.String(length=255), nullable=True),
        sa.Column("config_prepare", sa.String(length=255), nullable=True),
        sa.Column("config_configure", sa.String(length=255), nullable=True),
        sa.Column("available_configs", sa.Text(), nullable=False),
        sa.Column("config_root", sa.String(length=1024), nullable=False),
        sa.Column("log_path", sa.String(length=1024), nullable=False),
        sa.Column("state", sa.Integer(), nullable=True),
        sa.Column("transition", sa.Integer(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["experiment_id"], ["daq_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("experiment_id", "name", name="uq_daq_ecc_name"),
    )
    op.create_index("ix_daq_ecc_servers_experiment_id", "daq_ecc_servers", ["experiment_id"])

    op.create_table(
        "daq_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["daq_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_daq_log_created_at", "daq_log", ["created_at"])
    op.create_index("ix_daq_log_experiment_id", "daq_log", ["experiment_id"])

    op.create_table(
        "daq_observables",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value_type", sa.String(length=16), nullable=False),
        sa.Column("units", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["daq_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("experiment_id", "name", name="uq_daq_observable"),
    )
    op.create_index("ix_daq_observables_experiment_id", "daq_observables", ["experiment_id"])

    op.create_table(
        "daq_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("run_number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("run_class", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("config_names", sa.Text(), nullable=False),
        sa.Column("started_by", sa.String(length=255), nullable=False),
        sa.Column("files_organized", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["daq_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("experiment_id", "run_number", name="uq_daq_run_number"),
    )
    op.create_index("ix_daq_runs_experiment_id", "daq_runs", ["experiment_id"])

    op.create_table(
        "daq_data_sources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.Column("ecc_server_id", sa.Integer(), nullable=False),
        sa.Column("data_router_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["data_router_id"], ["daq_data_routers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ecc_server_id"], ["daq_ecc_servers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["experiment_id"], ["daq_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("experiment_id", "kind", "instance", name="uq_daq_source"),
    )
    op.create_index("ix_daq_data_sources_data_router_id", "daq_data_sources", ["data_router_id"])
    op.create_index("ix_daq_data_sources_ecc_server_id", "daq_data_sources", ["ecc_server_id"])
    op.create_index("ix_daq_data_sources_experiment_id", "daq_data_sources", ["experiment_id"])

    op.create_table(
        "daq_measurements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("observable_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["observable_id"], ["daq_observables.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["daq_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "observable_id", name="uq_daq_measurement"),
    )
    op.create_index("ix_daq_measurements_observable_id", "daq_measurements", ["observable_id"])
    op.create_index("ix_daq_measurements_run_id", "daq_measurements", ["run_id"])


def downgrade() -> None:
    op.drop_table("daq_measurements")
    op.drop_table("daq_data_sources")
    op.drop_table("daq_runs")
    op.drop_table("daq_observables")
    op.drop_table("daq_log")
    op.drop_table("daq_ecc_servers")
    op.drop_table("daq_data_routers")
    op.drop_table("daq_commands")
    op.drop_table("daq_calls")
    op.drop_table("daq_experiments")
