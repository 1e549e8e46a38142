"""Initial tables: searches, trials, trial params, epochs, models.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hps_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "running",
                "finished",
                "interrupted",
                "failed",
                name="search_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("config", JSON, nullable=False),
        sa.Column("objectives", JSON, nullable=False),
        sa.Column("directions", JSON, nullable=False),
        sa.Column("sampler", sa.String(length=255), nullable=True),
        sa.Column("pruner", sa.String(length=255), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("dataset", sa.String(length=255), nullable=True),
        sa.Column("hpsearch_version", sa.String(length=40), nullable=True),
        sa.Column("lease_host", sa.String(length=255), nullable=True),
        sa.Column("lease_pid", sa.Integer(), nullable=True),
        sa.Column("lease_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_ttl_s", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hps_searches")),
        sa.UniqueConstraint("name", name=op.f("uq_hps_searches_name")),
    )
    op.create_table(
        "hps_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "running",
                "complete",
                "pruned",
                "failed",
                name="trial_state",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column("epochs_run", sa.Integer(), nullable=True),
        sa.Column("objective", sa.Double(), nullable=True),
        sa.Column("objective_values", JSON, nullable=True),
        sa.Column("train_loss", sa.Double(), nullable=True),
        sa.Column("train_accuracy", sa.Double(), nullable=True),
        sa.Column("dev_loss", sa.Double(), nullable=True),
        sa.Column("dev_accuracy", sa.Double(), nullable=True),
        sa.Column("test_loss", sa.Double(), nullable=True),
        sa.Column("test_accuracy", sa.Double(), nullable=True),
        sa.Column("n_params", sa.Integer(), nullable=True),
        sa.Column("diagnosis", sa.String(length=64), nullable=True),
        sa.Column("avoidable_bias", sa.Double(), nullable=True),
        sa.Column("variance", sa.Double(), nullable=True),
        sa.Column(
            "fail_reason",
            sa.Enum(
                "diverged",
                "timeout",
                "worker lost",
                "driver lost",
                "memory",
                "error",
                name="fail_reason",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("error_text", sa.Text(), nullable=True),
        sa.Column("diverged_epoch", sa.Integer(), nullable=True),
        sa.Column("node_id", sa.String(length=255), nullable=True),
        sa.Column("worker_id", sa.String(length=255), nullable=True),
        sa.Column("queue_s", sa.Double(), nullable=True),
        sa.Column("startup_s", sa.Double(), nullable=True),
        sa.Column("train_s", sa.Double(), nullable=True),
        sa.Column("report_s", sa.Double(), nullable=True),
        sa.Column("environment", JSON, nullable=True),
        sa.Column("dataset_hash", sa.String(length=128), nullable=True),
        sa.Column("nonfinite", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["hps_searches.id"],
            name=op.f("fk_hps_trials_search_id_hps_searches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hps_trials")),
        sa.UniqueConstraint("search_id", "number", name=op.f("uq_hps_trials_search_id_number")),
    )
    with op.batch_alter_table("hps_trials", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hps_trials_search_state_objective",
            ["search_id", "state", "objective"],
            unique=False,
        )

    op.create_table(
        "hps_epochs",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Double(), nullable=True),
        sa.Column("train_accuracy", sa.Double(), nullable=True),
        sa.Column("dev_loss", sa.Double(), nullable=True),
        sa.Column("dev_accuracy", sa.Double(), nullable=True),
        sa.Column("epoch_s", sa.Double(), nullable=True),
        sa.Column("elapsed_s", sa.Double(), nullable=True),
        sa.Column("nonfinite", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["hps_trials.id"],
            name=op.f("fk_hps_epochs_trial_id_hps_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", "epoch", name=op.f("pk_hps_epochs")),
    )
    op.create_table(
        "hps_models",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["hps_trials.id"],
            name=op.f("fk_hps_models_trial_id_hps_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", name=op.f("pk_hps_models")),
    )
    op.create_table(
        "hps_trial_params",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value_float", sa.Double(), nullable=True),
        sa.Column("value_text", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["hps_trials.id"],
            name=op.f("fk_hps_trial_params_trial_id_hps_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", "name", name=op.f("pk_hps_trial_params")),
    )
    with op.batch_alter_table("hps_trial_params", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hps_trial_params_name_value", ["name", "value_float"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hps_trial_params", schema=None) as batch_op:
        batch_op.drop_index("ix_hps_trial_params_name_value")

    op.drop_table("hps_trial_params")
    op.drop_table("hps_models")
    op.drop_table("hps_epochs")
    with op.batch_alter_table("hps_trials", schema=None) as batch_op:
        batch_op.drop_index("ix_hps_trials_search_state_objective")

    op.drop_table("hps_trials")
    op.drop_table("hps_searches")
