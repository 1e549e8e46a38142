"""Why a search stopped before its trial budget (time budget, target, patience): a nullable
``stop_reason`` on hps_searches.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Plain ALTER TABLE (SQLite >= 3.35 adds and drops a column in place): a batch copy of the
# table would break the views that read it.
def upgrade() -> None:
    op.add_column("hps_searches", sa.Column("stop_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("hps_searches", "stop_reason")
