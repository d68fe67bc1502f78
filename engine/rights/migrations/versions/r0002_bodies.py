"""Bodies: the identity (model + shape, or mesh geometry) of every body a render may draw, real
or synthetic, replacing fitted_versions; idempotency keys on ledger rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bodies = op.create_table(
        "bodies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("twin_id", sa.String(64), sa.ForeignKey("twins.id")),
        sa.Column("synthetic", sa.Boolean, nullable=False),
        sa.Column("model", sa.String(32)),
        sa.Column("shape", sa.Text),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("path", sa.Text),
        sa.Column("derived_from", sa.Integer),
        sa.Column("made_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_bodies_twin", "bodies", ["twin_id"])
    # A fitted version knew only its twin.json's file hash: it becomes a body known by that hash
    # (registering the folder again with `twins attach --fit` adds its shape identity).
    conn = op.get_bind()
    old = sa.table("fitted_versions", sa.column("twin_id", sa.String), sa.column("twin_json_sha256", sa.String),
                   sa.column("path", sa.Text), sa.column("created_at", sa.DateTime))
    seen = set()
    for r in conn.execute(sa.select(old)).all():
        if r.twin_json_sha256 and r.twin_json_sha256 not in seen:
            seen.add(r.twin_json_sha256)
            conn.execute(bodies.insert().values(
                sha256=r.twin_json_sha256, kind="params", twin_id=r.twin_id, synthetic=False,
                file_sha256=r.twin_json_sha256, path=r.path, made_by="migration 0002 (a fitted version)",
                created_at=r.created_at))
    op.drop_table("fitted_versions")
    op.add_column("ledger", sa.Column("idempotency_key", sa.String(64)))
    op.create_index("ux_ledger_idempotency", "ledger", ["idempotency_key"], unique=True)


def downgrade() -> None:
    raise NotImplementedError("the rights registry is not downgraded: restore a backup instead")
