"""Alembic's environment for the rights registry: migrations run on the connection that
:func:`engine.rights.migrations.migrate` passes in (inside its locked transaction), or, from the
``alembic`` command line, on ``$ATELIER_DB_URL``."""

from __future__ import annotations

from alembic import context


def run() -> None:
    conn = context.config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, target_metadata=None, transaction_per_migration=False)
        with context.begin_transaction():
            context.run_migrations()
        return
    from engine.rights.db import create_db_engine, resolve_db_url

    engine = create_db_engine(resolve_db_url())
    with engine.connect() as c:
        context.configure(connection=c, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run()
