"""The schema before Alembic (hand-written schema_version 2): twins, scans, fitted versions,
consent grants, the usage ledger, and the indexes for grant checks, statements and reconciliation.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twins",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("contact_ref", sa.String(500)),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("twin_id", sa.String(64), sa.ForeignKey("twins.id"), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("scanned_on", sa.Date),
        sa.Column("path", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "fitted_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("twin_id", sa.String(64), sa.ForeignKey("twins.id"), nullable=False),
        sa.Column("twin_json_sha256", sa.String(64)),
        sa.Column("path", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("twin_id", sa.String(64), sa.ForeignKey("twins.id"), nullable=False),
        sa.Column("brand", sa.String(200), nullable=False),
        sa.Column("channels", sa.Text, nullable=False),
        sa.Column("regions", sa.Text, nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("voids_id", sa.Integer),
        sa.Column("twin_id", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.Integer),
        sa.Column("campaign", sa.String(200)),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("image_sha256", sa.String(64)),
        sa.Column("image_path", sa.Text),
        sa.Column("note", sa.Text),
    )
    create_indexes(op.get_bind())


def create_indexes(conn) -> None:
    """The indexes of the old schema_version 2 (also used to finish a schema_version 1 database)."""
    conn.execute(sa.text("CREATE INDEX ix_grants_twin ON grants (twin_id)"))
    conn.execute(sa.text("CREATE INDEX ix_ledger_twin_time ON ledger (twin_id, recorded_at)"))
    conn.execute(sa.text("CREATE INDEX ix_ledger_image_path ON ledger (image_path)"))
    conn.execute(sa.text("CREATE INDEX ix_ledger_voids ON ledger (voids_id)"))


def downgrade() -> None:
    for t in ("ledger", "grants", "fitted_versions", "scans", "twins"):
        op.drop_table(t)
