"""Versioned schema migrations for the rights registry.

The database records its version in a ``schema_version`` table (one row per applied step).
:data:`MIGRATIONS` is the ordered list of steps; :func:`migrate` applies the missing ones, each in
its own transaction together with its version row, when a registry is opened. A step is frozen
once released: it defines the tables it creates itself instead of reusing :mod:`engine.rights.db`,
so a later change to the current schema is a new step, never an edit of an old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import AtelierError
from .db import to_db_time, transaction, utcnow

_version_meta = sa.MetaData()
schema_version = sa.Table(
    "schema_version",
    _version_meta,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class Migration:
    """One schema step.

    Attributes:
        version: its number, 1, 2, ... in order.
        description: one line saying what it changes.
        apply: a function that changes the schema through the given connection (inside a transaction).
    """

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_tables(conn: Connection) -> None:
    m = sa.MetaData()
    sa.Table(
        "twins", m,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("contact_ref", sa.String(500)),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "scans", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("twin_id", sa.String(64), sa.ForeignKey("twins.id"), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("scanned_on", sa.Date),
        sa.Column("path", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "fitted_versions", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("twin_id", sa.String(64), sa.ForeignKey("twins.id"), nullable=False),
        sa.Column("twin_json_sha256", sa.String(64)),
        sa.Column("path", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "grants", m,
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
    sa.Table(
        "ledger", m,
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
    m.create_all(conn)


def _v2_indexes(conn: Connection) -> None:
    m = sa.MetaData()
    g = sa.Table("grants", m, autoload_with=conn)
    lg = sa.Table("ledger", m, autoload_with=conn)
    sa.Index("ix_grants_twin", g.c.twin_id).create(conn)
    sa.Index("ix_ledger_twin_time", lg.c.twin_id, lg.c.recorded_at).create(conn)
    sa.Index("ix_ledger_image_path", lg.c.image_path).create(conn)
    sa.Index("ix_ledger_voids", lg.c.voids_id).create(conn)


def _v3_bodies(conn: Connection) -> None:
    m = sa.MetaData()
    sa.Table("twins", m, autoload_with=conn)
    bodies = sa.Table(
        "bodies", m,
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
    bodies.create(conn)
    sa.Index("ix_bodies_twin", bodies.c.twin_id).create(conn)
    # v1's fitted versions knew only the twin.json file hash: they become bodies keyed by it (a
    # body registered again with `twins attach --fit` gets its shape identity).
    old = sa.Table("fitted_versions", m, autoload_with=conn)
    for r in conn.execute(sa.select(old)).all():
        if r.twin_json_sha256 and not conn.execute(
                sa.select(bodies.c.id).where(bodies.c.sha256 == r.twin_json_sha256)).first():
            conn.execute(bodies.insert().values(
                sha256=r.twin_json_sha256, kind="params", twin_id=r.twin_id, synthetic=False,
                file_sha256=r.twin_json_sha256, path=r.path, made_by="migration 3 (fitted version)",
                created_at=r.created_at))
    old.drop(conn)
    conn.execute(sa.text("ALTER TABLE ledger ADD COLUMN idempotency_key VARCHAR(64)"))
    lg = sa.Table("ledger", sa.MetaData(), autoload_with=conn)
    sa.Index("ux_ledger_idempotency", lg.c.idempotency_key, unique=True).create(conn)


MIGRATIONS: list[Migration] = [
    Migration(1, "twins, scans, fitted versions, consent grants and the usage ledger", _v1_tables),
    Migration(2, "indexes for grant checks, statements and reconciliation", _v2_indexes),
    Migration(3, "bodies (the identity of every body a render may draw) replace fitted versions; "
                 "ledger idempotency keys", _v3_bodies),
]
LATEST_VERSION = MIGRATIONS[-1].version


def current_version(engine: Engine) -> int:
    """The schema version of the database (0 for an empty database)."""
    with transaction(engine) as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return 0
        v = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        return int(v or 0)


def migrate(engine: Engine, target: int | None = None) -> list[int]:
    """Apply the missing migration steps up to ``target`` (default: the latest), in order.

    Returns the versions applied (empty when the database was up to date). Each step and its
    ``schema_version`` row commit together; a step that fails leaves the database at the
    previous version. Two processes opening a new database at once are safe: the writer lock is
    taken before the version is read.

    Raises:
        AtelierError: the database is newer than this Atelier (it was migrated by a later release).
    """
    target = LATEST_VERSION if target is None else target
    applied: list[int] = []
    for step in MIGRATIONS:
        if step.version > target:
            break
        with transaction(engine, write=True) as conn:
            if conn.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE, on PostgreSQL
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(2121)"))
            _version_meta.create_all(conn, checkfirst=True)
            have = int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)
            if have > LATEST_VERSION:
                raise AtelierError(
                    f"the rights database is at schema version {have}, newer than this Atelier knows ({LATEST_VERSION})",
                    hint="upgrade Atelier, or point --db / ATELIER_DB_URL at another database",
                )
            if step.version <= have:
                continue
            step.apply(conn)
            conn.execute(
                schema_version.insert().values(
                    version=step.version, description=step.description, applied_at=to_db_time(utcnow())
                )
            )
            applied.append(step.version)
    return applied
