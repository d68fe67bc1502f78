"""Grant terms with time zones: the IANA zone a grant's first and last day are in (UTC for the
grants already recorded). The grants' content changes, so every row is sealed again.

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


def upgrade() -> None:
    op.add_column("grants", sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"))
    from engine.rights.audit import seal_all

    seal_all(op.get_bind(), "migration 0004")


def downgrade() -> None:
    raise NotImplementedError("the rights registry is not downgraded: restore a backup instead")
