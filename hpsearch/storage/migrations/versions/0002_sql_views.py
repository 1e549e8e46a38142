"""Plain-SQL view hps_trial_results: one row per trial with its search's name.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TRIAL_RESULTS = """
CREATE VIEW hps_trial_results AS
SELECT s.name AS search, t.number, t.state, t.objective, t.train_loss, t.train_accuracy,
       t.dev_loss, t.dev_accuracy, t.test_loss, t.test_accuracy, t.epochs_run, t.duration_s,
       t.n_params, t.diagnosis, t.fail_reason, t.attempt, t.started_at, t.finished_at,
       t.id AS trial_id, s.id AS search_id
FROM hps_trials t JOIN hps_searches s ON s.id = t.search_id
"""


def upgrade() -> None:
    op.execute(TRIAL_RESULTS)


def downgrade() -> None:
    op.execute("DROP VIEW hps_trial_results")
