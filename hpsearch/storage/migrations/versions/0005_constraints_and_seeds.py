"""Satisficing metrics and warm starts: per-trial ``predict_ms``, ``feasible`` and
``constraint_values`` on hps_trials; ``seeded_from`` on hps_searches.

- ``predict_ms``: milliseconds to label 1,000 dev samples on one thread (a satisficing metric);
- ``feasible``: NULL when the search has no constraints, else whether every constraint held;
- ``constraint_values``: one number per constraint, <= 0 when it holds (Optuna's convention);
- ``seeded_from``: what a warm-started search learned from (searches, trials used, skipped).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


# Plain ALTER TABLE, as in 0004: a batch copy of the table would break the views that read it.
def upgrade() -> None:
    op.add_column("hps_trials", sa.Column("predict_ms", sa.Double(), nullable=True))
    op.add_column("hps_trials", sa.Column("feasible", sa.Boolean(), nullable=True))
    op.add_column("hps_trials", sa.Column("constraint_values", _JSON, nullable=True))
    op.add_column("hps_searches", sa.Column("seeded_from", _JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("hps_searches", "seeded_from")
    op.drop_column("hps_trials", "constraint_values")
    op.drop_column("hps_trials", "feasible")
    op.drop_column("hps_trials", "predict_ms")
