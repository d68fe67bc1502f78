"""The audit chain: every change to the registry's people, bodies, grants and ledger, append-only,
with who and when, each entry's hash chaining the previous one.

Each change appends, in the same transaction as the change itself, an ``audit`` row naming the
table and row it sealed and the SHA-256 of that row's content as stored
(:func:`row_sha256`); the entry's own hash covers the previous entry's hash, so the entries form a
chain. :func:`verify` walks the chain and compares every current row with its last seal: a row
changed, added or removed by hand (or an audit entry edited) is reported. Rows of a deleted twin
are re-sealed by the deletion itself (``twin.delete``), so an erasure is not tampering.

The chain holds hashes, not content: erasing a person removes her data from the tables and the
audit keeps nothing of hers but hashes.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import AtelierError
from . import db as _db
from .db import to_db_time, transaction, utcnow

AUDITED = ("twins", "bodies", "grants", "ledger")
"""The tables whose every row is sealed in the audit chain."""

GENESIS = "0" * 64
_LOCK = 2122


class AuditError(AtelierError):
    """``atelier ledger verify`` found rows or audit entries changed outside Atelier. Exit code 5."""

    exit_code = 5


def actor() -> str:
    """Who makes the change: ``$ATELIER_ACTOR``, else ``user@host``."""
    who = os.environ.get("ATELIER_ACTOR")
    if who:
        return who[:200]
    try:
        user = getpass.getuser()
    except Exception:  # no user name (a container without passwd entry)
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"[:200]


def _plain(v):
    if isinstance(v, datetime):
        return to_db_time(v).isoformat(timespec="microseconds")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return int(v)
    return v


def row_sha256(row) -> str:
    """The SHA-256 of a row's content as stored (column name -> value, canonical JSON)."""
    data = {k: _plain(v) for k, v in dict(row._mapping).items()}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def entry_sha256(prev: str, at: str, who: str, action: str, table: str, row_id: str, row_sha: str | None) -> str:
    """An audit entry's hash: it covers the previous entry's hash and everything the entry says."""
    text = "\x00".join([prev, at, who, action, table, row_id, row_sha or "-"])
    return hashlib.sha256(text.encode()).hexdigest()


def seal(conn: Connection, action: str, table: str, row_id, who: str | None = None) -> None:
    """Append the audit entry for the current content of ``table``'s row ``row_id`` (or its
    removal, when the row is gone), inside the caller's write transaction."""
    t = _db.metadata.tables[table]
    pk = list(t.primary_key.columns)[0]
    row = conn.execute(sa.select(t).where(pk == row_id)).first()
    _append(conn, action, table, str(row_id), None if row is None else row_sha256(row), who)


def _append(conn: Connection, action: str, table: str, row_id: str, row_sha: str | None, who: str | None) -> None:
    A = _db.audit
    if conn.dialect.name == "postgresql":  # one chain: appends are serialised (SQLite: BEGIN IMMEDIATE)
        conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
    prev = conn.execute(sa.select(A.c.sha256).order_by(A.c.id.desc()).limit(1)).scalar() or GENESIS
    at = to_db_time(utcnow())
    who = who or actor()
    at_s = at.isoformat(timespec="microseconds")
    conn.execute(A.insert().values(at=at, actor=who, action=action, table_name=table, row_id=row_id,
                                   row_sha256=row_sha, prev_sha256=prev,
                                   sha256=entry_sha256(prev, at_s, who, action, table, row_id, row_sha)))


@dataclass
class VerifyReport:
    """What :func:`verify` found.

    Attributes:
        entries: audit entries checked.
        rows: current rows checked.
        problems: one line per finding (a broken link, a row changed/added/removed by hand).
    """

    entries: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(registry) -> VerifyReport:
    """Check the audit chain and every audited row against its last seal."""
    A = _db.audit
    rep = VerifyReport()
    last: dict[tuple[str, str], str | None] = {}
    with transaction(registry.engine) as conn:
        prev = GENESIS
        for e in conn.execute(sa.select(A).order_by(A.c.id)):
            rep.entries += 1
            at_s = _plain(e.at)
            want = entry_sha256(prev, at_s, e.actor, e.action, e.table_name, e.row_id, e.row_sha256)
            if e.prev_sha256 != prev or e.sha256 != want:
                rep.problems.append(f"audit entry {e.id} ({e.action} {e.table_name} {e.row_id}, {at_s}) was changed "
                                    "by hand: the chain breaks there")
            prev = e.sha256
            last[(e.table_name, e.row_id)] = e.row_sha256
        for table in AUDITED:
            t = _db.metadata.tables[table]
            pk = list(t.primary_key.columns)[0]
            seen = set()
            for row in conn.execute(sa.select(t).order_by(pk)):
                rep.rows += 1
                rid = str(row._mapping[pk.name])
                seen.add(rid)
                sealed = last.get((table, rid), "missing")
                if sealed == "missing":
                    rep.problems.append(f"{table} row {rid} was added by hand (no audit entry)")
                elif sealed is None:
                    rep.problems.append(f"{table} row {rid} was put back by hand after it was removed")
                elif sealed != row_sha256(row):
                    rep.problems.append(f"{table} row {rid} was changed by hand (it differs from its audit seal)")
            for (tb, rid), sealed in last.items():
                if tb == table and sealed is not None and rid not in seen:
                    rep.problems.append(f"{table} row {rid} was removed by hand")
    return rep


def seal_all(conn: Connection, action: str = "migration") -> int:
    """Seal every row of the audited tables as they are (a database that had no audit chain, or
    a migration that changed an audited table's columns, which changes every row's hash).
    Returns how many rows were sealed."""
    n = 0
    for table in AUDITED:
        t = sa.Table(table, sa.MetaData(), autoload_with=conn)  # as the database has it now
        pk = list(t.primary_key.columns)[0]
        for row in conn.execute(sa.select(t).order_by(pk)).all():
            _append(conn, action, table, str(row._mapping[pk.name]), row_sha256(row), "atelier migration")
            n += 1
    return n


__all__ = ["AUDITED", "AuditError", "VerifyReport", "actor", "row_sha256", "seal", "seal_all", "verify"]
