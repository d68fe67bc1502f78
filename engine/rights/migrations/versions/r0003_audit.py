"""The audit chain: every change to twins, bodies, grants and the ledger is sealed, with who and
when, each entry chaining the previous one's hash. The rows already there are sealed as they are.

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


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("table_name", sa.String(32), nullable=False),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("row_sha256", sa.String(64)),
        sa.Column("prev_sha256", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_row", "audit", ["table_name", "row_id"])
    from engine.rights.audit import seal_all

    seal_all(op.get_bind(), "migration 0003")


def downgrade() -> None:
    raise NotImplementedError("the rights registry is not downgraded: restore a backup instead")
