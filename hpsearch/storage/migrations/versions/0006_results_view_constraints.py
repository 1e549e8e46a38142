"""The view hps_trial_results shows each trial's ``predict_ms`` and ``feasible`` (migration 0005
added the columns): the view is dropped and created again, on SQLite and PostgreSQL alike.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# 0003's columns in their order, then the new ones at the end (a query reading the columns by
# position keeps working); ``feasible`` is NULL for a search without constraints.
TRIAL_RESULTS = """
CREATE VIEW hps_trial_results AS
SELECT s.name AS search, t.number, t.state, t.objective, t.train_loss, t.train_accuracy,
       t.dev_loss, t.dev_accuracy, t.test_loss, t.test_accuracy, t.epochs_run, t.duration_s,
       t.n_params, t.diagnosis, t.fail_reason, t.attempt, t.started_at, t.finished_at,
       t.id AS trial_id, s.id AS search_id, t.dev_loss_std, t.dev_accuracy_std,
       t.predict_ms, t.feasible
FROM hps_trials t JOIN hps_searches s ON s.id = t.search_id
"""

TRIAL_RESULTS_0005 = TRIAL_RESULTS.replace(",\n       t.predict_ms, t.feasible", "")


def upgrade() -> None:
    op.execute("DROP VIEW hps_trial_results")
    op.execute(TRIAL_RESULTS)


def downgrade() -> None:
    op.execute("DROP VIEW hps_trial_results")
    op.execute(TRIAL_RESULTS_0005)
