"""The database layer under the rights registry: one SQLAlchemy Core engine per database URL.

SQLite is the default (one file, ``./atelier-data/atelier.db``); any URL SQLAlchemy understands
works the same way, so a team can share a PostgreSQL database
(``postgresql+psycopg://user@host/atelier``; install its driver, e.g. ``pip install psycopg``).

The tables below describe the schema *after* every Alembic revision in
:mod:`engine.rights.migrations` has been applied; queries use them. The revisions create the
tables with their own frozen definitions, so changing this file never rewrites history.

Times are stored as naive UTC ``DATETIME`` values and returned as timezone-aware UTC
``datetime`` objects; dates (grant start and end, scan dates) are plain ``DATE`` values.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from ..errors import AtelierError, InputError, MissingDependencyError

DEFAULT_DATA_DIR = Path("atelier-data")
"""Default data folder, relative to the working directory."""

DEFAULT_DB_NAME = "atelier.db"
ENV_DB_URL = "ATELIER_DB_URL"

metadata = sa.MetaData()

twins = sa.Table(
    "twins",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("contact_ref", sa.String(500)),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

scans = sa.Table(
    "scans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("twin_id", sa.String(64), sa.ForeignKey("twins.id"), nullable=False),
    sa.Column("sha256", sa.String(64)),
    sa.Column("scanned_on", sa.Date),
    sa.Column("path", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

bodies = sa.Table(
    "bodies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),  # the body's identity hash
    sa.Column("kind", sa.String(8), nullable=False),  # "params" (model + shape) or "mesh" (a drawn mesh)
    sa.Column("twin_id", sa.String(64), sa.ForeignKey("twins.id")),  # NULL: a synthetic body
    sa.Column("synthetic", sa.Boolean, nullable=False),
    sa.Column("model", sa.String(32)),
    sa.Column("shape", sa.Text),  # JSON list of the model's shape parameters ("params" rows)
    sa.Column("file_sha256", sa.String(64)),  # the twin.json (params) or mesh file as registered
    sa.Column("path", sa.Text),
    sa.Column("derived_from", sa.Integer),  # for a posed/draped mesh: the bodies.id it was made from
    sa.Column("made_by", sa.String(200), nullable=False),  # what recorded it (a command, a pipeline stage)
    sa.Column("created_at", sa.DateTime, nullable=False),
)
"""Every body the registry knows, real or synthetic: a render may draw a body only when its hash
is here (see :mod:`engine.rights.consent`). Replaces v1's ``fitted_versions`` (migration 3)."""

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("twin_id", sa.String(64), sa.ForeignKey("twins.id"), nullable=False),
    sa.Column("brand", sa.String(200), nullable=False),
    sa.Column("channels", sa.Text, nullable=False),  # comma-separated, sorted
    sa.Column("regions", sa.Text, nullable=False),  # comma-separated upper-case codes, or "*"
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("ends_on", sa.Date, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    sa.Column("time_zone", sa.String(64), nullable=False),  # IANA zone of starts_on/ends_on (0004)
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(8), nullable=False),  # "use" or "void"
    sa.Column("voids_id", sa.Integer),  # for "void" rows: the id of the "use" row it cancels
    sa.Column("twin_id", sa.String(64), nullable=False),  # no foreign key: deletion leaves a tombstone
    sa.Column("grant_id", sa.Integer),
    sa.Column("campaign", sa.String(200)),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("region", sa.String(16), nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("image_sha256", sa.String(64)),
    sa.Column("image_path", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("idempotency_key", sa.String(64)),  # "use" rows: one delivery, recorded once (unique index)
)


audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),  # who: $ATELIER_ACTOR or user@host
    sa.Column("action", sa.String(32), nullable=False),  # twin.add, grant.add, grant.revoke, delivery, ...
    sa.Column("table_name", sa.String(32), nullable=False),
    sa.Column("row_id", sa.String(64), nullable=False),
    sa.Column("row_sha256", sa.String(64)),  # the row's content hash; NULL: the row was removed
    sa.Column("prev_sha256", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
)
"""The append-only audit chain (see :mod:`engine.rights.audit`)."""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def to_db_time(t: datetime | None) -> datetime | None:
    """Aware (or naive = UTC) datetime -> naive UTC for storage."""
    if t is None:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc).replace(tzinfo=None)
    return t


def from_db_time(t: datetime | None) -> datetime | None:
    """Stored naive UTC datetime -> aware UTC datetime."""
    if t is None:
        return None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def resolve_db_url(db: str | os.PathLike | None = None) -> URL:
    """The database URL to use: ``db`` if given, else ``$ATELIER_DB_URL``, else the default SQLite file.

    ``db`` (or the variable) may be a URL (``sqlite:///atelier.db``, ``postgresql+psycopg://...``)
    or a plain file path, taken as a SQLite file. The default is ``./atelier-data/atelier.db``.
    """
    raw = db if db is not None else os.environ.get(ENV_DB_URL) or None
    if raw is None:
        return URL.create("sqlite", database=str((DEFAULT_DATA_DIR / DEFAULT_DB_NAME).absolute()))
    raw = os.fspath(raw)
    if "://" not in raw:
        return URL.create("sqlite", database=str(Path(raw).expanduser().absolute()))
    try:
        return make_url(raw)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError
        raise InputError(
            f"not a database URL: {raw!r} ({exc})",
            hint="use sqlite:///path/to/atelier.db, postgresql+psycopg://user@host/db, or a plain file path",
        ) from exc


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def data_dir_for(url: URL) -> Path:
    """The project's data folder: the SQLite file's folder, else ``./atelier-data``."""
    p = sqlite_path(url)
    return p.parent if p is not None else DEFAULT_DATA_DIR.absolute()


def make_private_file(p: Path) -> None:
    """Create the SQLite file ``p`` readable and writable by its owner only (0600; a new folder
    for it 0700), whatever the umask; an existing file of ours is set back to 0600. The registry
    holds people's names, contacts and pay: nobody else on the machine may read it. SQLite gives
    its journal and WAL files the database file's mode."""
    if not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(p.parent, 0o700)
    if not p.exists():
        try:
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except PermissionError:
            return  # a read-only folder: Registry.open says so, in its own words
    try:
        if p.stat().st_uid == os.getuid() and p.stat().st_mode & 0o077:
            os.chmod(p, 0o600)
    except OSError:
        pass


def create_db_engine(url: URL) -> Engine:
    """A SQLAlchemy engine for ``url``.

    SQLite gets real transactions (SQLAlchemy emits ``BEGIN``; write transactions use
    ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing), foreign keys on, and a
    30 s busy timeout, so a campaign and a ``twins revoke`` in another process can share the file.
    """
    backend = url.get_backend_name()
    kwargs: dict = {}
    if backend == "sqlite":
        p = sqlite_path(url)
        if p is not None:
            try:
                make_private_file(p)
            except OSError as exc:
                raise InputError(f"cannot create the rights database {p}: {exc.strerror}",
                                 hint="choose a writable place with --db FILE or ATELIER_DB_URL") from None
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["connect_args"] = {"check_same_thread": False}
            kwargs["poolclass"] = StaticPool
    try:
        engine = sa.create_engine(url, **kwargs)
    except sa.exc.NoSuchModuleError as exc:
        raise InputError(
            f"unknown kind of database in {url.render_as_string(hide_password=True)}",
            hint="use sqlite:///path/to/atelier.db or postgresql+psycopg://user@host/db",
        ) from exc
    except ImportError as exc:  # the DBAPI driver of a non-default database
        name = getattr(exc, "name", None) or str(exc)
        raise MissingDependencyError(
            f"the database URL {url.render_as_string(hide_password=True)} needs the Python driver {name!r}, "
            "which is not installed",
            hint="install the driver (e.g. pip install psycopg for postgresql+psycopg://), or use SQLite",
        ) from exc
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    # Let SQLAlchemy (not the sqlite3 module) decide where transactions begin, so DDL in a
    # migration is transactional too.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    # WAL: readers never wait for the writer, and a writer waits (busy timeout) instead of failing
    cur.execute("PRAGMA journal_mode")
    if cur.fetchone()[0] not in ("wal", "memory"):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
        except Exception:  # a read-only folder: keep the rollback journal, the write check says why
            pass
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("atelier_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextlib.contextmanager
def transaction(engine: Engine, write: bool = False) -> Iterator[Connection]:
    """A connection inside one transaction, committed when the block succeeds.

    ``write=True`` takes SQLite's write lock up front, so two writers never deadlock.
    Every call opens a fresh transaction: nothing is cached between calls, so a revocation
    committed by another process is seen by the next check.
    """
    try:
        with engine.connect() as conn:
            if write:
                conn = conn.execution_options(atelier_write=True)
            with conn.begin():
                yield conn
    except sa.exc.IntegrityError:
        raise  # a race between two writers: the callers that expect one catch it and read the winner's row
    except sa.exc.SQLAlchemyError as exc:
        # a read-only file or folder, a full disk, a server gone, a file that is not (or no longer) a
        # database, a table or column edited away, mid-query as well as at the start: one message, no SQL
        raise DatabaseError(engine.url, exc) from None
    except (ValueError, TypeError) as exc:
        if not _raised_by_sqlalchemy(exc):
            raise
        # a stored value SQLAlchemy cannot turn back into its type (a date edited into a word)
        raise DatabaseError(engine.url, ValueError(f"a stored value is damaged ({exc})")) from None


def _raised_by_sqlalchemy(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside SQLAlchemy (its result processors), not by the caller's code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "sqlalchemy" in tb.tb_frame.f_code.co_filename


class DatabaseError(AtelierError):
    """The rights database cannot be read or written (read-only, locked past the busy timeout,
    unreachable, damaged, of another schema), whenever in a query that happens. Its message names the database and the driver's reason, never the SQL."""

    def __init__(self, url: URL, exc: Exception):
        orig = getattr(exc, "orig", None)
        reason = str(orig if orig is not None else exc).splitlines()[0]
        where = url.render_as_string(hide_password=True)
        p = sqlite_path(url)
        if p is not None:
            ro = [t for t in (p.parent, p) if t.exists() and not os.access(t, os.W_OK)]
            if ro:
                reason += f" ({'folder' if ro[0] == p.parent else 'file'} {ro[0]} is read-only)"
        super().__init__(f"the rights database {where} cannot be used: {reason}",
                         hint="check that it is writable by you (its folder too, for SQLite) and reachable; "
                              "choose another with --db or ATELIER_DB_URL")
        self.reason = reason
