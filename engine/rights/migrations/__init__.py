"""Schema migrations of the rights registry, by Alembic (SQLAlchemy's migration tool).

The revisions live in ``versions/`` (``0001`` is the schema Atelier had before Alembic, the
hand-written ``schema_version`` 2; each later change is a new revision, never an edit of an old
one). :func:`migrate` brings a database to the latest revision when a registry is opened, in one
transaction that holds the database's write lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL
advisory lock), so two processes opening a new database at once are safe. A database made before
Alembic (a ``schema_version`` table) is recognised and stamped with the matching revision first.

For developers: ``alembic -c engine/rights/migrations/alembic.ini revision -m "..."`` writes a new
revision file (set ``ATELIER_DB_URL`` for ``alembic upgrade``/``current``).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ...errors import AtelierError
from ..db import transaction

HERE = Path(__file__).resolve().parent
LEGACY_TO_REVISION = {1: None, 2: "0001", 3: "0002"}
"""Pre-Alembic ``schema_version`` -> the Alembic revision with the same schema (3 existed only on
a development branch)."""

_ADVISORY_LOCK = 2121


def _config(conn: Connection | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    return [s.revision for s in reversed(list(_script().walk_revisions()))]


def latest_version() -> str:
    """The newest revision id (the head)."""
    return _script().get_current_head()


def current_version(engine: Engine) -> str | None:
    """The database's revision id; None for an empty database. A pre-Alembic database reports the
    revision its ``schema_version`` corresponds to."""
    with transaction(engine) as conn:
        return _current(conn)


def _current(conn: Connection) -> str | None:
    insp = sa.inspect(conn)
    if insp.has_table("alembic_version"):
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    if insp.has_table("schema_version"):
        v = int(conn.execute(sa.text("SELECT max(version) FROM schema_version")).scalar() or 0)
        return LEGACY_TO_REVISION.get(v, f"schema_version {v}")
    return None


def migrate(engine: Engine, target: str | None = None) -> list[str]:
    """Upgrade the database to ``target`` (default: the latest revision). Returns the revisions
    applied, oldest first (empty when it was up to date).

    Raises:
        AtelierError: the database is newer than this Atelier (migrated by a later release).
    """
    from alembic import command
    from alembic.util import CommandError

    target = target or "head"
    known = revisions()
    with transaction(engine, write=True) as conn:
        if conn.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE, on PostgreSQL
            conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK})"))
        _adopt_legacy(conn)
        before = _current(conn)
        if before is not None and before not in known:
            raise AtelierError(
                f"the rights database is at schema revision {before}, newer than this Atelier knows ({known[-1]})",
                hint="upgrade Atelier, or point --db / ATELIER_DB_URL at another database")
        try:
            command.upgrade(_config(conn), target)
        except CommandError as exc:
            raise AtelierError(f"cannot migrate the rights database to {target}: {exc}") from None
        after = _current(conn)
    lo = -1 if before is None else known.index(before)
    return known[lo + 1:known.index(after) + 1] if after else []


def _adopt_legacy(conn: Connection) -> None:
    """A database from before Alembic: finish its hand-written steps, stamp the matching
    revision, drop ``schema_version``."""
    insp = sa.inspect(conn)
    if insp.has_table("alembic_version") or not insp.has_table("schema_version"):
        return
    v = int(conn.execute(sa.text("SELECT max(version) FROM schema_version")).scalar() or 0)
    if v not in LEGACY_TO_REVISION:
        raise AtelierError(
            f"the rights database is at schema version {v}, newer than this Atelier knows",
            hint="upgrade Atelier, or point --db / ATELIER_DB_URL at another database")
    if v == 1:  # the tables without their indexes: revision 0001 minus its indexes
        from .versions import r0001_initial

        r0001_initial.create_indexes(conn)
        v = 2
    from alembic.migration import MigrationContext

    MigrationContext.configure(conn).stamp(_script(), LEGACY_TO_REVISION[v])
    conn.execute(sa.text("DROP TABLE schema_version"))


def __getattr__(name: str):
    if name == "LATEST_VERSION":
        return latest_version()
    if name == "MIGRATIONS":
        return revisions()
    raise AttributeError(name)


__all__ = ["LATEST_VERSION", "MIGRATIONS", "current_version", "latest_version", "migrate", "revisions"]
