"""The usage ledger: an append-only record of every delivered image, statements of what is owed,
and reconciliation after a crash.

Rows are only ever appended. A record that turns out to be wrong (its image is gone) is cancelled
by appending a ``void`` row that points at it, never by editing or deleting it; the one exception
is :func:`engine.rights.registry.delete_twin`, which anonymises a deleted twin's rows.

Crash safety: :func:`record_image` is called once the image file is complete (written atomically)
and is idempotent for the same file and content, so a resumed cell can call it again.
:func:`reconcile` closes the remaining gap in both directions: an image with Atelier provenance
metadata but no record gets its record (from the metadata), a record whose image is missing is
voided. After it, there is no image without a record and no record without an image.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import sqlalchemy as sa

from ..errors import InputError
from ..storage import atomic_path, file_sha256
from ..types import PathLikeStr
from . import db as _db
from .audit import seal
from .db import from_db_time, to_db_time, transaction, utcnow
from .registry import Registry, _as_date, normalise_channels, normalise_regions

USE = "use"
VOID = "void"


@dataclass(frozen=True)
class LedgerRow:
    """One ledger row.

    Attributes:
        kind: ``"use"`` (a delivered image) or ``"void"`` (cancels the use row ``voids_id``).
        twin_id: the twin, or a ``deleted-...`` tombstone after the twin was deleted.
        recorded_at: aware UTC time of delivery (for a use) or of voiding.
        image_sha256: hex SHA-256 of the delivered file (None once anonymised).
        image_path: absolute path of the delivered file (None once anonymised).
    """

    id: int
    kind: str
    twin_id: str
    grant_id: int | None
    campaign: str | None
    channel: str
    region: str
    recorded_at: datetime
    image_sha256: str | None
    image_path: str | None
    voids_id: int | None = None
    note: str | None = None


def record_image(
    registry: Registry,
    twin_id: str,
    grant_id: int | None,
    channel: str,
    region: str,
    image_path: PathLikeStr,
    campaign: str | None = None,
    when: datetime | None = None,
    sha256: str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
) -> LedgerRow:
    """Append the record of one delivered image; call it after the file is complete.

    Idempotent: if a record with the same ``idempotency_key`` exists (see
    :func:`engine.rights.deliver.idempotency_key`), or, without a key, a live record for the same
    path and content, it is returned and nothing is appended. Two processes recording the same
    key at once append one row: the database's unique index decides. The grant is not re-checked
    here (it was checked before rendering); an image that exists is recorded so that the twin is
    paid for it.

    Raises:
        InputError: the image file does not exist, or the grant belongs to another twin.
    """
    p = Path(image_path).absolute()
    if not p.is_file():
        raise InputError(f"cannot record {p}: the image file does not exist", hint="record an image after it is written")
    sha256 = sha256 or file_sha256(p)
    channel = normalise_channels([channel])[0]
    region = normalise_regions([region], allow_any=False)[0]
    when = when or utcnow()
    L = _db.ledger
    try:
        return _append_use(registry, twin_id, grant_id, channel, region, p, campaign, when, sha256, note,
                           idempotency_key)
    except sa.exc.IntegrityError:
        if idempotency_key is None:
            raise
        # another process recorded the same delivery between our check and our insert
        with transaction(registry.engine) as conn:
            return _row(conn.execute(sa.select(L).where(L.c.idempotency_key == idempotency_key)).one())


def _append_use(registry, twin_id, grant_id, channel, region, p, campaign, when, sha256, note,
                idempotency_key) -> LedgerRow:
    L = _db.ledger
    with transaction(registry.engine, write=True) as conn:
        if grant_id is not None:
            g = conn.execute(sa.select(_db.grants.c.twin_id).where(_db.grants.c.id == int(grant_id))).first()
            if g is None or g.twin_id != twin_id:
                raise InputError(f"grant {grant_id} is not a grant of twin {twin_id}",
                                 hint="record the image with the grant returned by check_grant for this twin")
        same = None
        if idempotency_key is not None:
            same = conn.execute(sa.select(L).where(L.c.idempotency_key == idempotency_key)).first()
        if same is None:  # the same file and content recorded already (e.g. by reconcile)
            same = conn.execute(
                sa.select(L).where(L.c.kind == USE, L.c.image_path == str(p), L.c.image_sha256 == sha256,
                                   L.c.id.not_in(_voided_ids()))
            ).first()
        if same is not None:
            return _row(same)
        res = conn.execute(L.insert().values(
            kind=USE, voids_id=None, twin_id=twin_id, grant_id=None if grant_id is None else int(grant_id),
            campaign=campaign, channel=channel, region=region, recorded_at=to_db_time(when),
            image_sha256=sha256, image_path=str(p), note=note, idempotency_key=idempotency_key))
        rid = res.inserted_primary_key[0]
        seal(conn, "delivery", "ledger", rid)
        return _row(conn.execute(sa.select(L).where(L.c.id == rid)).one())


def recorded_paths(registry: Registry, paths) -> set[str]:
    """The absolute paths among ``paths`` that have a live use record."""
    L = _db.ledger
    wanted = [str(Path(p).absolute()) for p in paths]
    if not wanted:
        return set()
    with transaction(registry.engine) as conn:
        rows = conn.execute(sa.select(L.c.image_path).where(
            L.c.kind == USE, L.c.image_path.in_(wanted), L.c.id.not_in(_voided_ids()))).all()
    return {r.image_path for r in rows}


def void_record(registry: Registry, use_id: int, reason: str) -> LedgerRow:
    """Cancel a use row by appending a ``void`` row that points at it (the use row stays).
    Voiding a row that is already void returns the existing void row."""
    L = _db.ledger
    with transaction(registry.engine, write=True) as conn:
        use = conn.execute(sa.select(L).where(L.c.id == int(use_id), L.c.kind == USE)).first()
        if use is None:
            raise InputError(f"ledger row {use_id} is not a use record", hint="void only 'use' rows")
        prior = conn.execute(sa.select(L).where(L.c.kind == VOID, L.c.voids_id == int(use_id))).first()
        if prior is not None:
            return _row(prior)
        res = conn.execute(L.insert().values(
            kind=VOID, voids_id=int(use_id), twin_id=use.twin_id, grant_id=use.grant_id, campaign=use.campaign,
            channel=use.channel, region=use.region, recorded_at=to_db_time(utcnow()),
            image_sha256=use.image_sha256, image_path=use.image_path, note=reason))
        seal(conn, "void", "ledger", res.inserted_primary_key[0])
        return _row(conn.execute(sa.select(L).where(L.c.id == res.inserted_primary_key[0])).one())


def ledger_rows(registry: Registry, twin_id: str | None = None) -> list[LedgerRow]:
    """Every row (uses and voids) of a twin (or of all twins), in order."""
    L = _db.ledger
    q = sa.select(L).order_by(L.c.id)
    if twin_id is not None:
        q = q.where(L.c.twin_id == twin_id)
    with transaction(registry.engine) as conn:
        return [_row(r) for r in conn.execute(q)]


def live_uses(registry: Registry, twin_id: str | None = None) -> list[LedgerRow]:
    """The use rows that no void row cancels."""
    L = _db.ledger
    q = sa.select(L).where(L.c.kind == USE, L.c.id.not_in(_voided_ids())).order_by(L.c.id)
    if twin_id is not None:
        q = q.where(L.c.twin_id == twin_id)
    with transaction(registry.engine) as conn:
        return [_row(r) for r in conn.execute(q)]


# --------------------------------------------------------------- statement
@dataclass(frozen=True)
class StatementLine:
    """One use on a statement; ``amount`` is the rate (None without a rate)."""

    row: LedgerRow
    brand: str | None
    amount: Decimal | None


@dataclass(frozen=True)
class Statement:
    """The uses of a twin from ``start`` to ``end`` (inclusive, UTC dates) and what is owed.

    Attributes:
        lines: the live uses, oldest first (voided records are left out).
        rate: amount owed per image, or None.
        total: ``rate * count``, rounded to cents, or None without a rate.
        voided: how many records in the period were voided (not owed).
    """

    twin_id: str
    start: date
    end: date
    lines: list[StatementLine]
    rate: Decimal | None
    total: Decimal | None
    currency: str | None = None
    voided: int = 0

    @property
    def count(self) -> int:
        return len(self.lines)

    @property
    def rows(self) -> list[LedgerRow]:
        return [ln.row for ln in self.lines]

    def by_channel(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ln in self.lines:
            out[ln.row.channel] = out.get(ln.row.channel, 0) + 1
        return out

    CSV_COLUMNS = ("ledger_id", "recorded_at", "twin_id", "grant_id", "brand", "campaign", "channel",
                   "region", "image_sha256", "image_path", "amount")

    def to_csv(self) -> str:
        """The statement as CSV text: one line per use, then a TOTAL line."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.CSV_COLUMNS)
        for ln in self.lines:
            r = ln.row
            w.writerow([r.id, r.recorded_at.isoformat(timespec="seconds"), r.twin_id, r.grant_id or "", ln.brand or "",
                        r.campaign or "", r.channel, r.region, r.image_sha256 or "", r.image_path or "",
                        "" if ln.amount is None else f"{ln.amount}"])
        cur = f" {self.currency}" if self.currency else ""
        w.writerow(["TOTAL", f"{self.start.isoformat()}..{self.end.isoformat()}", self.twin_id, "", "", "", "", "",
                    f"{self.count} images", "", "" if self.total is None else f"{self.total}{cur}"])
        return buf.getvalue()

    def write_csv(self, path: PathLikeStr) -> Path:
        """Write :meth:`to_csv` atomically. Returns the path."""
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(self.to_csv())
        return path

    def format(self) -> str:
        """A human-readable statement."""
        out = [f"Statement for twin {self.twin_id}, {self.start.isoformat()} to {self.end.isoformat()} (UTC)"]
        if not self.lines:
            out.append("  no images delivered in this period")
        for ln in self.lines:
            r = ln.row
            amt = "" if ln.amount is None else f"  {ln.amount}"
            out.append(f"  #{r.id:<6} {r.recorded_at:%Y-%m-%d %H:%M}  grant {r.grant_id}  {ln.brand or '-'}  "
                       f"{r.campaign or '-'}  {r.channel}  {r.region}  {(r.image_sha256 or '')[:12]}{amt}")
        chans = ", ".join(f"{k} {v}" for k, v in self.by_channel().items())
        out.append(f"  images: {self.count}" + (f" ({chans})" if chans else "")
                   + (f"; {self.voided} voided record(s) not counted" if self.voided else ""))
        if self.total is not None:
            cur = f" {self.currency}" if self.currency else ""
            out.append(f"  owed: {self.count} x {self.rate}{cur} = {self.total}{cur}")
        return "\n".join(out)


def statement(registry: Registry, twin_id: str, start: date | str, end: date | str,
              rate: Decimal | float | str | None = None, currency: str | None = None) -> Statement:
    """The statement of ``twin_id``'s delivered images from ``start`` to ``end`` (inclusive, UTC),
    with the amount owed at ``rate`` per image.

    Raises:
        InputError: end before start, or a rate that is not a non-negative number.
    """
    start, end = _as_date(start), _as_date(end)
    if end < start:
        raise InputError(f"the statement period ends ({end}) before it starts ({start})", hint="swap --from and --to")
    rate_d = _as_rate(rate)
    L, G = _db.ledger, _db.grants
    t0 = datetime.combine(start, datetime.min.time())
    t1 = datetime.combine(end + timedelta(days=1), datetime.min.time())
    in_period = sa.and_(L.c.twin_id == twin_id, L.c.recorded_at >= t0, L.c.recorded_at < t1)
    with transaction(registry.engine) as conn:
        rows = conn.execute(
            sa.select(L, G.c.brand).select_from(L.outerjoin(G, G.c.id == L.c.grant_id))
            .where(in_period, L.c.kind == USE, L.c.id.not_in(_voided_ids())).order_by(L.c.recorded_at, L.c.id)
        ).all()
        voided = conn.execute(
            sa.select(sa.func.count()).select_from(L).where(in_period, L.c.kind == USE, L.c.id.in_(_voided_ids()))
        ).scalar()
    lines = [StatementLine(_row(r), r.brand, rate_d) for r in rows]
    total = None if rate_d is None else (rate_d * len(lines)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return Statement(twin_id, start, end, lines, rate_d, total, currency, int(voided or 0))


# --------------------------------------------------------------- reconcile
@dataclass
class ReconcileReport:
    """What :func:`reconcile` did.

    Attributes:
        recorded: records added for images that had none.
        voided: void rows appended for records whose image is missing (or was replaced).
        orphans: images with Atelier metadata that cannot be recorded (unknown twin, missing fields).
    """

    recorded: list[LedgerRow] = field(default_factory=list)
    voided: list[LedgerRow] = field(default_factory=list)
    orphans: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.recorded or self.voided or self.orphans)


def reconcile(registry: Registry, folder: PathLikeStr) -> ReconcileReport:
    """Make the ledger and the images (PNG, JPEG, WebP) under ``folder`` agree (run it when a campaign resumes).

    - An image with Atelier provenance metadata (:func:`engine.rights.disclosure.read_disclosure`)
      and no live record of that path and content gets a record built from its metadata.
    - A live record whose path is under ``folder`` and whose file is missing, or whose file now
      has different content, is voided (a compensating row; the content that is there now is
      recorded like any unrecorded image).
    Images without Atelier metadata are not ours and are ignored.
    """
    from .disclosure import read_disclosure  # late: disclosure is independent of the database

    folder = Path(folder).absolute()
    report = ReconcileReport()
    L = _db.ledger
    prefix = str(folder).rstrip("/") + "/"
    with transaction(registry.engine) as conn:
        recs = [_row(r) for r in conn.execute(
            sa.select(L).where(L.c.kind == USE, L.c.id.not_in(_voided_ids()),
                               L.c.image_path.startswith(prefix, autoescape=True)).order_by(L.c.id))]
    by_path: dict[str, list[LedgerRow]] = {}
    for r in recs:
        by_path.setdefault(r.image_path, []).append(r)

    hashes: dict[str, str] = {}
    for path_s, rows in by_path.items():
        p = Path(path_s)
        if not p.is_file():
            for r in rows:
                report.voided.append(void_record(registry, r.id, "image missing at reconcile"))
            continue
        hashes[path_s] = sha = file_sha256(p)
        for r in rows:
            if r.image_sha256 != sha:
                report.voided.append(void_record(registry, r.id, "image content changed at reconcile"))

    from .disclosure import IMAGE_SUFFIXES

    found = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES] if folder.is_dir() else []
    for p in sorted(found):
        if p.name.startswith(".") and ".part" in p.name:  # an unfinished atomic write or delivery
            continue
        info = read_disclosure(p)
        if not info.get("twin_id"):
            continue
        key = str(p.absolute())
        sha = hashes.get(key) or file_sha256(p)
        if any(r.image_sha256 == sha for r in by_path.get(key, [])):
            continue
        missing = [k for k in ("channel", "region") if not info.get(k)]
        if missing:
            report.orphans.append((p, f"its metadata lacks {', '.join(missing)}"))
            continue
        if not registry.has_twin(info["twin_id"]):
            report.orphans.append((p, f"twin {info['twin_id']} is not in the registry"))
            continue
        when = _parse_time(info.get("created")) or datetime.fromtimestamp(p.stat().st_mtime, timezone.utc)
        try:
            grant_id = int(info["grant_id"]) if info.get("grant_id") not in (None, "") else None
            region = "ZZ" if info["region"] == "*" else info["region"]  # a use in no particular region
            row = record_image(registry, info["twin_id"], grant_id, info["channel"], region, p,
                               campaign=info.get("campaign") or None, when=when, sha256=sha,
                               note="recorded by reconcile")
        except InputError as exc:
            report.orphans.append((p, exc.message))
            continue
        report.recorded.append(row)
    return report


# ----------------------------------------------------------------- helpers
def _voided_ids():
    v = _db.ledger.alias("v")
    return sa.select(v.c.voids_id).where(v.c.kind == VOID, v.c.voids_id.is_not(None))


def _row(r) -> LedgerRow:
    return LedgerRow(
        id=int(r.id), kind=r.kind, twin_id=r.twin_id, grant_id=r.grant_id, campaign=r.campaign,
        channel=r.channel, region=r.region, recorded_at=from_db_time(r.recorded_at),
        image_sha256=r.image_sha256, image_path=r.image_path, voids_id=r.voids_id, note=r.note,
    )


def _as_rate(rate) -> Decimal | None:
    if rate is None:
        return None
    try:
        d = Decimal(str(rate))
    except InvalidOperation as exc:
        raise InputError(f"not an amount: {rate!r}", hint="give the rate per image as a number, e.g. --rate 12.50") from exc
    if not d.is_finite() or d < 0:
        raise InputError(f"the rate must be a non-negative amount, got {rate!r}", hint="e.g. --rate 12.50")
    return d


def _parse_time(s) -> datetime | None:
    if not s:
        return None
    try:
        t = datetime.fromisoformat(str(s))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
