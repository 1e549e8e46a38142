"""Cross-validation ([data] folds): table hps_trial_folds (one row per fold of a trial), the
spread over folds in hps_trials (dev_loss_std, dev_accuracy_std), and both in hps_trial_results.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TRIAL_RESULTS = """
CREATE VIEW hps_trial_results AS
SELECT s.name AS search, t.number, t.state, t.objective, t.train_loss, t.train_accuracy,
       t.dev_loss, t.dev_accuracy, t.test_loss, t.test_accuracy, t.epochs_run, t.duration_s,
       t.n_params, t.diagnosis, t.fail_reason, t.attempt, t.started_at, t.finished_at,
       t.id AS trial_id, s.id AS search_id, t.dev_loss_std, t.dev_accuracy_std
FROM hps_trials t JOIN hps_searches s ON s.id = t.search_id
"""


def upgrade() -> None:
    op.create_table(
        "hps_trial_folds",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("fold", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Double(), nullable=True),
        sa.Column("train_accuracy", sa.Double(), nullable=True),
        sa.Column("dev_loss", sa.Double(), nullable=True),
        sa.Column("dev_accuracy", sa.Double(), nullable=True),
        sa.Column("epochs_run", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["trial_id"], ["hps_trials.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("trial_id", "fold"),
    )
    op.execute("DROP VIEW hps_trial_results")
    with op.batch_alter_table("hps_trials") as batch:
        batch.add_column(sa.Column("dev_loss_std", sa.Double(), nullable=True))
        batch.add_column(sa.Column("dev_accuracy_std", sa.Double(), nullable=True))
    op.execute(TRIAL_RESULTS)


def downgrade() -> None:
    op.execute("DROP VIEW hps_trial_results")
    with op.batch_alter_table("hps_trials") as batch:
        batch.drop_column("dev_accuracy_std")
        batch.drop_column("dev_loss_std")
    op.drop_table("hps_trial_folds")
    op.execute(TRIAL_RESULTS.replace(", t.dev_loss_std, t.dev_accuracy_std", ""))
