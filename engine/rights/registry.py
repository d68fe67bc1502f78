"""The rights registry: twins, their scans and fitted versions, and consent grants.

A twin is a real person's likeness. She grants its use to a brand for some channels, regions and
dates (a :class:`Grant`), can revoke a grant at any time, and can ask for the twin to be deleted.
:func:`check_grant` is the gate every render passes before a pixel is drawn; it reads the database
afresh on every call (no cache), so a revocation stops the next check, also in a process that was
already running.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from ..errors import AtelierError, InputError
from ..storage import file_sha256
from ..types import PathLikeStr
from . import db as _db
from .constants import ANY_REGION, CHANNELS
from .audit import seal
from .db import from_db_time, to_db_time, transaction, utcnow
from .identity import mesh_sha256, params_of, params_sha256
from .migrations import migrate

_REGION_RE = re.compile(r"^[A-Z]{2,3}(-[A-Z0-9]{1,3})?$")
_TWIN_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


class ConsentError(AtelierError):
    """No live consent grant covers a twin for a channel, region and date.

    A campaign marks such a cell *refused* (not failed, not retried). Exit code 4.
    """

    exit_code = 4

    def __init__(self, message: str, hint: str | None = None, *, twin_id: str = "", channel: str = "",
                 region: str = "", day: date | None = None, closest: "Grant | None" = None):
        super().__init__(message, hint)
        self.twin_id = twin_id
        self.channel = channel
        self.region = region
        self.day = day
        self.closest = closest


class UnknownTwinError(InputError):
    """A twin id that is not in the registry."""


@dataclass(frozen=True)
class Twin:
    """A person's digital twin as the registry knows it.

    Attributes:
        id: internal id (e.g. ``twin-3f9a0c1d``); it is written into every image, so it must not
            contain the person's name.
        display_name: the name people use for her (only in the registry, never in images).
        contact_ref: where to reach her or her agent (e.g. an agency reference), or None.
        created_at: when the twin was added, aware UTC.
    """

    id: str
    display_name: str
    contact_ref: str | None
    created_at: datetime


@dataclass(frozen=True)
class Scan:
    """A scan of the twin: file hash (hex SHA-256), scan date, path as recorded."""

    id: int
    twin_id: str
    sha256: str | None
    scanned_on: date | None
    path: str | None
    created_at: datetime


@dataclass(frozen=True)
class FittedVersion:
    """A fitted twin (``twin.json``): its SHA-256, path as recorded, when registered."""

    id: int
    twin_id: str
    twin_json_sha256: str | None
    path: str | None
    created_at: datetime


@dataclass(frozen=True)
class Body:
    """A body the registry knows: the identity a render is checked against.

    Attributes:
        sha256: the identity hash: for ``kind == "params"`` the hash of the body model and its
            shape parameters (:func:`engine.rights.consent.params_sha256`, independent of pose and
            of any other field of ``twin.json``); for ``kind == "mesh"`` the hash of a mesh's
            geometry (:func:`engine.rights.consent.mesh_sha256`), e.g. a draped folder's posed body.
        twin_id: the real person's twin, or None for a synthetic body (no person depicted).
        synthetic: True only when a pipeline that made the body from parameters recorded it so.
        model, shape: body model name and shape parameters (``params`` rows).
        file_sha256: SHA-256 of the file registered (``twin.json`` or ``body.ply``).
        derived_from: the id of the body a mesh was posed/draped from.
        made_by: what recorded it (``twins attach``, ``atelier demo``, ``atelier drape``...).
    """

    id: int
    sha256: str
    kind: str
    twin_id: str | None
    synthetic: bool
    model: str | None
    shape: tuple[float, ...] | None
    file_sha256: str | None
    path: str | None
    derived_from: int | None
    made_by: str
    created_at: datetime

    def owner(self) -> str:
        """``twin <id>`` or ``a synthetic body``, for messages."""
        return "a registered synthetic body" if self.twin_id is None else f"twin {self.twin_id}"


@dataclass(frozen=True)
class Grant:
    """A consent grant: ``brand`` may use ``twin_id`` on ``channels`` in ``regions`` from
    ``starts_on`` to ``ends_on`` (both inclusive, calendar dates in the grant's ``time_zone``)
    until ``revoked_at``.

    Attributes:
        regions: upper-case ISO-like codes (``FR``, ``US-CA``) or ``("*",)`` for everywhere.
        revoked_at: aware UTC time of revocation, or None. A revoked grant covers nothing from
            that moment on, whatever date is asked about.
        time_zone: the IANA zone its dates are in (``Europe/Paris``; default ``UTC``): a grant
            "to 30 June" in Paris ends at midnight Paris time.
    """

    id: int
    twin_id: str
    brand: str
    channels: tuple[str, ...]
    regions: tuple[str, ...]
    starts_on: date
    ends_on: date
    created_at: datetime
    revoked_at: datetime | None = None
    time_zone: str = "UTC"

    def local_day(self, when: date | datetime | None = None) -> date:
        """The calendar day of ``when`` (default now) in the grant's time zone; a date is taken as
        it is, a naive datetime as UTC."""
        from zoneinfo import ZoneInfo

        if when is None:
            when = utcnow()
        if not isinstance(when, datetime):
            return _as_date(when)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(ZoneInfo(self.time_zone)).date()

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def gaps(self, channel: str, region: str | None, day: date | datetime) -> list[str]:
        """Why this grant does not cover (channel, region, day); empty when it does. ``region``
        None is a use in no particular region (an internal fit check): only ``*`` covers it.
        ``day`` may be a moment (a datetime): its day in the grant's time zone counts."""
        day = self.local_day(day)
        out = []
        if self.revoked_at is not None:
            out.append(f"was revoked at {self.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
        if channel not in self.channels:
            out.append(f"does not include channel {channel!r} (it has {', '.join(self.channels)})")
        if region is None:
            if ANY_REGION not in self.regions:
                out.append(f"covers only regions {', '.join(self.regions)}, and a use in no particular region "
                           "needs a grant for every region ('*')")
        elif not region_covered(region, self.regions):
            out.append(f"does not include region {region} (it has {', '.join(self.regions)})")
        if day < self.starts_on:
            out.append(f"starts on {self.starts_on.isoformat()}")
        if day > self.ends_on:
            out.append(f"expired on {self.ends_on.isoformat()}")
        return out

    def state(self, today: date | None = None) -> str:
        """``"revoked"``, ``"expired"`` (its last day has passed), ``"not started"`` or ``"live"``
        on ``today`` (default: today, UTC)."""
        today = self.local_day(today)
        if self.revoked_at is not None:
            return "revoked"
        if today > self.ends_on:
            return "expired"
        if today < self.starts_on:
            return "not started"
        return "live"

    def describe(self, today: date | None = None) -> str:
        st = self.state(today)
        state = {"revoked": f"revoked {self.revoked_at:%Y-%m-%d %H:%M} UTC" if self.revoked_at else "",
                 "expired": f"expired (ended {self.ends_on.isoformat()})",
                 "not started": f"not started (starts {self.starts_on.isoformat()})"}.get(st, st)
        return (f"grant {self.id}: {self.brand}; channels {', '.join(self.channels)}; regions "
                f"{', '.join(region_names(self.regions))}; {self.starts_on.isoformat()} to {self.ends_on.isoformat()}"
                f"{'' if self.time_zone == 'UTC' else f' ({self.time_zone})'}; {state}")


@dataclass
class DeletionReport:
    """What :func:`delete_twin` did.

    Attributes:
        tombstone: the anonymous id that replaced the twin id in the ledger.
        removed_files: files deleted (scans, twin parameters, renders).
        missing_files: recorded files that were already gone.
        kept_files: recorded files left in place (``remove_files=False``).
        ledger_rows: ledger rows anonymised (counts by channel, region and date are kept).
    """

    twin_id: str
    tombstone: str
    removed_files: list[Path] = field(default_factory=list)
    missing_files: list[Path] = field(default_factory=list)
    kept_files: list[Path] = field(default_factory=list)
    ledger_rows: int = 0


class Registry:
    """The rights registry on one database (SQLite by default; any SQLAlchemy URL).

    Open it with :meth:`open`; the schema is migrated to the latest version on open. Every method
    runs its own short transaction: nothing is cached, so two registries (two processes) on the
    same database always see each other's committed changes.
    """

    def __init__(self, engine: Engine, url: URL):
        self.engine = engine
        self.url = url

    @classmethod
    def open(cls, db: PathLikeStr | None = None) -> "Registry":
        """Open (creating and migrating if needed) the registry at ``db``: a database URL or a
        SQLite file path; default ``$ATELIER_DB_URL``, else ``./atelier-data/atelier.db``."""
        url = _db.resolve_db_url(db)
        engine = _db.create_db_engine(url)
        try:
            migrate(engine)
        except AtelierError:
            engine.dispose()
            raise
        except sa.exc.SQLAlchemyError as exc:
            engine.dispose()
            raise AtelierError(
                f"cannot open the rights database {url.render_as_string(hide_password=True)}: {exc.orig if hasattr(exc, 'orig') else exc}",
                hint="check the path or URL (--db or ATELIER_DB_URL) and that the database is reachable and writable",
            ) from exc
        return cls(engine, url)

    @classmethod
    def open_existing(cls, db: PathLikeStr | None = None) -> "Registry | None":
        """:meth:`open`, or None when ``db`` is a SQLite file that does not exist yet (nothing
        registered there, so nothing to look up; opening it would create it)."""
        url = _db.resolve_db_url(db)
        p = _db.sqlite_path(url)
        if p is not None and not p.exists():
            return None
        return cls.open(db)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def data_dir(self) -> Path:
        """The project's data folder (the SQLite file's folder, else ``./atelier-data``)."""
        return _db.data_dir_for(self.url)

    # ----------------------------------------------------------------- twins
    def add_twin(self, display_name: str, contact_ref: str | None = None, twin_id: str | None = None) -> Twin:
        """Add a twin. ``twin_id`` defaults to a random ``twin-xxxxxxxx`` (never derived from the name,
        because the id is written into every image)."""
        display_name = (display_name or "").strip()
        if not display_name:
            raise InputError("a twin needs a display name", hint="pass --name 'Name Surname'")
        twin_id = twin_id or f"twin-{secrets.token_hex(4)}"
        if not _TWIN_ID_RE.match(twin_id):
            raise InputError(
                f"twin id {twin_id!r} is not valid",
                hint="use 2-63 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        now = utcnow()
        with transaction(self.engine, write=True) as conn:
            if conn.execute(sa.select(_db.twins.c.id).where(_db.twins.c.id == twin_id)).first():
                raise InputError(f"twin {twin_id} already exists", hint="choose another --id, or leave it out for a random one")
            conn.execute(_db.twins.insert().values(
                id=twin_id, display_name=display_name, contact_ref=contact_ref, created_at=to_db_time(now)))
            seal(conn, "twin.add", "twins", twin_id)
        return Twin(twin_id, display_name, contact_ref, now)

    def get_twin(self, twin_id: str) -> Twin:
        """The twin with ``twin_id``. Raises UnknownTwinError if there is none."""
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(_db.twins).where(_db.twins.c.id == twin_id)).first()
        if row is None:
            raise UnknownTwinError(f"twin {twin_id!r} is not in the registry {self._where()}",
                                   hint="list the twins with `atelier twins list`")
        return _twin(row)

    def has_twin(self, twin_id: str) -> bool:
        with transaction(self.engine) as conn:
            return conn.execute(sa.select(_db.twins.c.id).where(_db.twins.c.id == twin_id)).first() is not None

    def list_twins(self) -> list[Twin]:
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(_db.twins).order_by(_db.twins.c.created_at, _db.twins.c.id)).all()
        return [_twin(r) for r in rows]

    # ----------------------------------------------------- scans and fits
    def add_scan(self, twin_id: str, path: PathLikeStr, scanned_on: date | None = None, sha256: str | None = None) -> Scan:
        """Record a scan file of the twin (its SHA-256 is computed from the file when not given)."""
        self.get_twin(twin_id)
        p = Path(path)
        if sha256 is None:
            if not p.is_file():
                raise InputError(f"scan file not found: {p}", hint="give the path of the scan file to record")
            sha256 = file_sha256(p)
        now = utcnow()
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(_db.scans.insert().values(
                twin_id=twin_id, sha256=sha256, scanned_on=scanned_on, path=str(p.absolute()), created_at=to_db_time(now)))
            sid = res.inserted_primary_key[0]
        return Scan(sid, twin_id, sha256, scanned_on, str(p.absolute()), now)

    def add_fitted_version(self, twin_id: str, twin_json: PathLikeStr, made_by: str = "twins attach --fit") -> FittedVersion:
        """Record a fitted version: the ``twin.json`` file (or its folder) written by ``atelier fit``.

        Its body becomes the twin's: the identity of its model and shape (and the mesh of its
        ``body.ply`` when present) is recorded in :attr:`bodies`, so a render of that body is
        allowed only under this twin's grants and billed to her. Raises InputError when the body
        is already registered to someone else (or as synthetic)."""
        self.get_twin(twin_id)
        row = self.register_twin_folder(twin_json, twin_id=twin_id, made_by=made_by)
        return FittedVersion(row.id, twin_id, row.file_sha256, row.path, row.created_at)

    def register_synthetic(self, twin_json: PathLikeStr, made_by: str) -> "Body":
        """Record the body of a twin folder as synthetic (made from parameters, no person depicted).

        Call it only from the pipeline that generated the body (the demo, ``atelier body``, a
        fit-check population): the registry's record, not the ``synthetic`` flag in the folder's
        files, is what lets a render skip consent. Refused (ConsentError naming her) when the
        shape is a registered person's likeness."""

        model, shape, _ = params_of(twin_json)
        real = self.likeness(model, shape)
        if real is not None:
            raise ConsentError(
                f"{twin_json}: this body is the likeness of twin {real.twin_id} (its shape matches her registered "
                "body), so it cannot be recorded as synthetic", twin_id=real.twin_id,
                hint="render it under her consent grants instead")
        return self.register_twin_folder(twin_json, twin_id=None, made_by=made_by)

    def register_twin_folder(self, twin_json: PathLikeStr, twin_id: str | None, made_by: str) -> "Body":
        """The ``params`` body of a twin folder (and its ``body.ply`` mesh, derived), owned by
        ``twin_id`` (None: synthetic). See :meth:`add_fitted_version` / :meth:`register_synthetic`."""

        model, shape, p = params_of(twin_json)
        body = self.register_body(_params_key(model, shape), "params", twin_id, model=model, shape=shape,
                                  file_sha256=file_sha256(p), path=str(p.absolute()), made_by=made_by)
        ply = p.parent / "body.ply"
        if ply.is_file():
            self.register_body(mesh_sha256(ply), "mesh", twin_id, file_sha256=file_sha256(ply),
                               path=str(ply.absolute()), derived_from=body.id, made_by=made_by)
        return body

    def register_body(self, sha256: str, kind: str, twin_id: str | None, *, model: str | None = None,
                      shape=None, file_sha256: str | None = None, path: str | None = None,
                      derived_from: int | None = None, made_by: str) -> "Body":
        """Record one body identity (idempotent for the same owner).

        Raises:
            InputError: the hash is registered to another owner (the message names it).
        """
        if kind not in ("params", "mesh"):
            raise ValueError(f"body kind must be 'params' or 'mesh', not {kind!r}")
        if twin_id is not None:
            self.get_twin(twin_id)
        try:
            return self._register_body(sha256, kind, twin_id, model, shape, file_sha256, path, derived_from, made_by)
        except sa.exc.IntegrityError:  # another process registered it between our check and insert
            return self._register_body(sha256, kind, twin_id, model, shape, file_sha256, path, derived_from, made_by)

    def _register_body(self, sha256, kind, twin_id, model, shape, file_sha256, path, derived_from, made_by) -> "Body":
        import json as _json

        B = _db.bodies
        now = utcnow()
        with transaction(self.engine, write=True) as conn:
            have = conn.execute(sa.select(B).where(B.c.sha256 == sha256)).first()
            if have is not None:
                if have.twin_id != twin_id:
                    owner = "a synthetic body" if have.twin_id is None else f"the body of twin {have.twin_id}"
                    raise InputError(f"this body ({path or sha256[:12]}) is already registered as {owner}",
                                     hint="a body belongs to one person (or to nobody): register the right folder")
                return _body(have)
            res = conn.execute(B.insert().values(
                sha256=sha256, kind=kind, twin_id=twin_id, synthetic=twin_id is None, model=model,
                shape=None if shape is None else _json.dumps([float(x) for x in shape]),
                file_sha256=file_sha256, path=path, derived_from=derived_from, made_by=made_by,
                created_at=to_db_time(now)))
            bid = res.inserted_primary_key[0]
            seal(conn, "body.register", "bodies", bid)
            return _body(conn.execute(sa.select(B).where(B.c.id == bid)).one())

    def find_body(self, sha256: str) -> "Body | None":
        """The registered body with this identity hash, or None."""
        B = _db.bodies
        with transaction(self.engine) as conn:
            r = conn.execute(sa.select(B).where(B.c.sha256 == sha256)).first()
        return None if r is None else _body(r)

    def get_body(self, body_id: int) -> "Body":
        B = _db.bodies
        with transaction(self.engine) as conn:
            r = conn.execute(sa.select(B).where(B.c.id == int(body_id))).first()
        if r is None:
            raise InputError(f"body {body_id} is not in the registry {self._where()}")
        return _body(r)

    def likeness(self, model: str, shape) -> "Body | None":
        """The registered real person's body whose shape is within :data:`LIKENESS_TOLERANCE` of
        ``shape`` (same model), closest first; None when there is none. A body generated from
        parameters that close is her likeness, whatever the file says."""
        import json as _json

        B = _db.bodies
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(B).where(B.c.kind == "params", B.c.twin_id.is_not(None),
                                                   B.c.model == model, B.c.shape.is_not(None))).all()
        tol = LIKENESS_TOLERANCE.get(model, LIKENESS_TOLERANCE["default"])
        best, best_d = None, None
        for r in rows:
            other = _json.loads(r.shape)
            if len(other) != len(shape):
                continue
            d = max((abs(float(a) - float(b)) for a, b in zip(shape, other)), default=0.0)
            if d <= tol and (best_d is None or d < best_d):
                best, best_d = r, d
        return None if best is None else _body(best)

    def bodies(self, twin_id: str) -> list["Body"]:
        """The bodies registered to a twin, oldest first."""
        B = _db.bodies
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(B).where(B.c.twin_id == twin_id).order_by(B.c.id)).all()
        return [_body(r) for r in rows]

    def check_writable(self) -> None:
        """Raise one clear AtelierError when the database cannot be written (a read-only folder
        or file, a read-only server): call it before the first pixel of a delivery is drawn."""
        p = _db.sqlite_path(self.url)
        what = self.url.render_as_string(hide_password=True)
        if p is not None:
            for target in (p.parent, p):
                if target.exists() and not os.access(target, os.W_OK):
                    raise AtelierError(
                        f"the rights database {p} cannot be written ({'folder' if target == p.parent else 'file'} "
                        f"{target} is read-only): images could be drawn but not recorded in the ledger",
                        hint="make it writable, or point --db / ATELIER_DB_URL at a writable place")
        try:
            with transaction(self.engine, write=True) as conn:
                conn.execute(_db.twins.update().where(sa.false()).values(display_name=""))
        except sa.exc.SQLAlchemyError as exc:
            raise AtelierError(f"the rights database {what} cannot be written: {_reason(exc)}",
                               hint="make it writable, or point --db / ATELIER_DB_URL at a writable place") from None

    def scans(self, twin_id: str) -> list[Scan]:
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(_db.scans).where(_db.scans.c.twin_id == twin_id).order_by(_db.scans.c.id)).all()
        return [Scan(r.id, r.twin_id, r.sha256, r.scanned_on, r.path, from_db_time(r.created_at)) for r in rows]

    def fitted_versions(self, twin_id: str) -> list[FittedVersion]:
        """The twin's registered fitted twin folders (its ``params`` bodies)."""
        return [FittedVersion(b.id, twin_id, b.file_sha256, b.path, b.created_at)
                for b in self.bodies(twin_id) if b.kind == "params"]

    # ---------------------------------------------------------------- grants
    def add_grant(self, twin_id: str, brand: str, channels, regions, starts_on: date, ends_on: date,
                  time_zone: str = "UTC") -> Grant:
        """Record a consent grant. ``channels`` from :data:`CHANNELS`; ``regions`` codes, groups
        (EU, UK, ...) or ``"*"``; dates inclusive, in ``time_zone`` (an IANA name)."""
        time_zone = _check_zone(time_zone)
        self.get_twin(twin_id)
        brand = (brand or "").strip()
        if not brand:
            raise InputError("a grant needs a brand", hint="pass --brand NAME")
        chans = normalise_channels(channels)
        regs = normalise_regions(regions)
        starts_on, ends_on = _as_date(starts_on), _as_date(ends_on)
        if ends_on < starts_on:
            raise InputError(f"the grant ends ({ends_on}) before it starts ({starts_on})", hint="swap --from and --to")
        now = utcnow()
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(_db.grants.insert().values(
                twin_id=twin_id, brand=brand, channels=",".join(chans), regions=",".join(regs),
                starts_on=starts_on, ends_on=ends_on, created_at=to_db_time(now), revoked_at=None,
                time_zone=time_zone))
            gid = res.inserted_primary_key[0]
            seal(conn, "grant.add", "grants", gid)
        return self.get_grant(gid)

    def get_grant(self, grant_id: int) -> Grant:
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(_db.grants).where(_db.grants.c.id == int(grant_id))).first()
        if row is None:
            raise InputError(f"grant {grant_id} is not in the registry {self._where()}",
                             hint="see a twin's grants with `atelier twins show TWIN_ID`")
        return _grant(row)

    def grants(self, twin_id: str) -> list[Grant]:
        """All grants of the twin, live and revoked, oldest first."""
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(_db.grants).where(_db.grants.c.twin_id == twin_id).order_by(_db.grants.c.id)).all()
        return [_grant(r) for r in rows]

    def revoke_grant(self, grant_id: int, at: datetime | None = None) -> Grant:
        """Revoke a grant now (or at ``at``). Takes effect for every later check, in any process.
        Revoking a revoked grant keeps the first revocation time."""
        at = at or utcnow()
        with transaction(self.engine, write=True) as conn:
            row = conn.execute(sa.select(_db.grants).where(_db.grants.c.id == int(grant_id))).first()
            if row is None:
                raise InputError(f"grant {grant_id} is not in the registry {self._where()}",
                                 hint="see a twin's grants with `atelier twins show TWIN_ID`")
            if row.revoked_at is None:
                conn.execute(_db.grants.update().where(_db.grants.c.id == int(grant_id)).values(revoked_at=to_db_time(at)))
                seal(conn, "grant.revoke", "grants", int(grant_id))
            row = conn.execute(sa.select(_db.grants).where(_db.grants.c.id == int(grant_id))).first()
        return _grant(row)

    def _where(self) -> str:
        return f"({self.url.render_as_string(hide_password=True)})"


# ------------------------------------------------------------------ checks
def check_grant(registry: Registry, twin_id: str, channel: str, region: str | None,
                when: date | datetime | None = None) -> Grant:
    """The live grant that covers ``twin_id`` on ``channel`` in ``region`` on ``when`` (default today).

    Call it before any pixel is drawn. It reads the database afresh (no cache): a grant revoked
    a moment ago, in this process or another, no longer covers anything.

    Args:
        when: a date, or a datetime (aware ones are converted to UTC first; naive ones are taken as UTC).

    Returns:
        The covering grant (the one ending last when several do).

    Raises:
        ConsentError: no live grant covers it; the message names the twin, channel, region and
            date, and the closest grant and why it does not cover (expired, revoked, ...).
        InputError: an unknown channel or a malformed region code.
    """
    channel = normalise_channels([channel])[0]
    region = None if region is None else normalise_regions([region], allow_any=False)[0]
    day = _use_day(when)
    moment = when if when is not None else utcnow()  # each grant reads its day in its own zone
    with transaction(registry.engine) as conn:
        exists = conn.execute(sa.select(_db.twins.c.id).where(_db.twins.c.id == twin_id)).first() is not None
        rows = conn.execute(sa.select(_db.grants).where(_db.grants.c.twin_id == twin_id)).all() if exists else []
    what = f"twin {twin_id}, channel {channel!r}, {f'region {region}' if region else 'no particular region'}, on {day.isoformat()}"
    if not exists:
        raise ConsentError(
            f"no consent grant covers {what}: the twin is not in the registry (never added, or deleted)",
            hint="add the twin and a grant: `atelier twins add` then `atelier twins grant`",
            twin_id=twin_id, channel=channel, region=region, day=day)
    grants = [_grant(r) for r in rows]
    live = [g for g in grants if not g.gaps(channel, region, moment)]
    if live:
        return max(live, key=lambda g: (g.ends_on, g.id))
    closest = None
    if grants:
        closest = min(grants, key=lambda g: (len(g.gaps(channel, region, moment)), -g.id))
    if closest is None:
        detail = "the twin has no grants"
    else:
        detail = f"closest is grant {closest.id} ({closest.brand}), which " + "; ".join(closest.gaps(channel, region, moment))
    raise ConsentError(
        f"no live consent grant covers {what}: {detail}",
        hint=(f"ask the twin for a new grant (`atelier twins grant {twin_id} --brand ... --channels {channel} "
              f"--regions {region or '*'} --from ... --to ...`); do not render this image"),
        twin_id=twin_id, channel=channel, region=region, day=day, closest=closest)


# ---------------------------------------------------------------- deletion
#: what a twin folder holds beside twin.json, all of it her personal data: the body, the fit's
#: reports and measurements, and her face and skin texture (bodies.appearance)
TWIN_FOLDER_FILES = ("body.ply", "fit_report.json", "body_scanframe.ply", "measurements.json", "detail_offsets.npz",
                     "albedo.png", "albedo_mask.png", "texture_report.json")


def delete_twin(registry: Registry, twin_id: str, remove_files: bool = True) -> DeletionReport:
    """Delete a twin: its registry rows (twin, scans, fitted versions, grants), and with
    ``remove_files`` the files recorded for it (scan files, ``twin.json`` with the rest of its
    folder, :data:`TWIN_FOLDER_FILES`: body, reports, her texture; and every delivered image in
    the ledger).

    The ledger keeps only anonymous counts: the twin id in its rows is replaced by a random
    tombstone (``deleted-xxxxxxxxxxxx``), image paths and hashes are dropped, grant ids cleared;
    channel, region, campaign, time and row kind stay, so totals still add up. This is the one
    change to ledger rows that the ledger allows.
    """
    registry.get_twin(twin_id)
    files: list[Path] = []
    with transaction(registry.engine) as conn:
        files += [Path(r.path) for r in conn.execute(sa.select(_db.scans.c.path).where(_db.scans.c.twin_id == twin_id)) if r.path]
        for r in conn.execute(sa.select(_db.bodies.c.path).where(_db.bodies.c.twin_id == twin_id)):
            if r.path:
                p = Path(r.path)
                files += [p] + [p.parent / n for n in TWIN_FOLDER_FILES if n in ("body.ply", "fit_report.json")
                                or (p.parent / n).exists()] if p.name == "twin.json" else [p]
        files += [Path(r.image_path) for r in conn.execute(
            sa.select(_db.ledger.c.image_path).where(_db.ledger.c.twin_id == twin_id, _db.ledger.c.kind == "use")) if r.image_path]
    tombstone = f"deleted-{secrets.token_hex(6)}"
    report = DeletionReport(twin_id=twin_id, tombstone=tombstone)
    seen = set()
    for f in files:
        if f in seen:
            continue
        seen.add(f)
        if not remove_files:
            if f.exists():
                report.kept_files.append(f)
            continue
        if f.is_dir():  # only files are removed; a folder recorded by mistake is left alone
            report.kept_files.append(f)
        elif f.exists():
            f.unlink()
            report.removed_files.append(f)
        else:
            report.missing_files.append(f)
    if remove_files:  # remove folders (e.g. a fitted twin's) that the deletion left empty
        for d in sorted({f.parent for f in report.removed_files}, key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
    with transaction(registry.engine, write=True) as conn:
        L = _db.ledger
        ids = [r.id for r in conn.execute(sa.select(L.c.id).where(L.c.twin_id == twin_id).order_by(L.c.id))]
        res = conn.execute(L.update().where(L.c.twin_id == twin_id).values(
            twin_id=tombstone, grant_id=None, image_path=None, image_sha256=None, note=None, idempotency_key=None))
        report.ledger_rows = res.rowcount or 0
        gone = {t.name: [r[0] for r in conn.execute(sa.select(t.c.id).where(t.c.twin_id == twin_id))]
                for t in (_db.bodies, _db.grants)}
        for t in (_db.scans, _db.bodies, _db.grants):
            conn.execute(t.delete().where(t.c.twin_id == twin_id))
        conn.execute(_db.twins.delete().where(_db.twins.c.id == twin_id))
        # the erasure re-seals what it changed, so verification tells it from tampering
        for rid in ids:
            seal(conn, "twin.delete", "ledger", rid)
        for table, rids in gone.items():
            for rid in rids:
                seal(conn, "twin.delete", table, rid)
        seal(conn, "twin.delete", "twins", twin_id)
    return report


# ----------------------------------------------------------------- helpers
def normalise_channels(channels) -> tuple[str, ...]:
    """Channel names (a list or a comma-separated string) -> a sorted tuple from :data:`CHANNELS`."""
    if isinstance(channels, str):
        channels = channels.split(",")
    out = set()
    for c in channels:
        c = c.strip().lower().replace("_", "-")
        if not c:
            continue
        if c in ("ecommerce",):
            c = "e-commerce"
        if c in ("ooh", "outofhome"):
            c = "out-of-home"
        if c not in CHANNELS:
            raise InputError(f"unknown channel {c!r}", hint=f"use one or more of: {', '.join(CHANNELS)}")
        out.add(c)
    if not out:
        raise InputError("no channel given", hint=f"use one or more of: {', '.join(CHANNELS)}")
    return tuple(sorted(out, key=CHANNELS.index))


def region_groups() -> dict:
    """The region groups (EU, EEA, UK, US, APAC, WORLDWIDE) and aliases, from
    ``engine/rights/data/regions.json``: ``{"groups": {name: [codes]}, "aliases": {name: name}}``."""
    import json as _json

    global _REGIONS
    if _REGIONS is None:
        _REGIONS = _json.loads((Path(__file__).parent / "data" / "regions.json").read_text())
    return _REGIONS


_REGIONS: dict | None = None


def normalise_regions(regions, allow_any: bool = True) -> tuple[str, ...]:
    """Region codes and groups (a list or a comma-separated string) -> sorted upper-case ISO codes,
    or ``("*",)``. Groups (``EU``, ``EEA``, ``UK``, ``US``, ``APAC``, ``WORLDWIDE``; see
    :func:`region_groups`) are expanded; ``UK`` is ``GB``. With ``allow_any=False`` (the region of
    one use) a group or ``*`` is refused: a use happens in one place."""
    if isinstance(regions, str):
        regions = regions.split(",")
    data = region_groups()
    out = set()
    for r in regions:
        r = r.strip().upper()
        if not r:
            continue
        name = data["aliases"].get(r, r)
        members = [ANY_REGION] if r == ANY_REGION else data["groups"].get(name)
        if members is not None and (len(members) > 1 or ANY_REGION in members):  # a group of places
            if not allow_any:
                raise InputError(f"a use happens in one region, not {r!r}", hint="name the region, e.g. FR or US-CA")
            if ANY_REGION in members:
                return (ANY_REGION,)
            out.update(members)
            continue
        if members is not None:  # a name for one country (UK -> GB)
            out.update(members)
            continue
        if not _REGION_RE.match(r):
            raise InputError(f"region {r!r} is not an ISO-like code or a region group",
                             hint="use codes like FR, DE, US, US-CA, groups like EU, EEA, UK, APAC, or '*' for everywhere")
        out.add(r)
    if not out:
        raise InputError("no region given", hint="use codes like FR, DE, US-CA, groups like EU, or '*' for everywhere")
    return tuple(sorted(out))


def region_names(regions) -> list[str]:
    """Region codes as people read them: the codes of a whole group (EEA, EU, APAC) shown as its
    name, largest group first; the rest as codes."""
    left = set(regions)
    out = []
    groups = sorted(((n, set(m)) for n, m in region_groups()["groups"].items() if len(m) > 1),
                    key=lambda g: -len(g[1]))
    for name, members in groups:
        if members <= left:
            out.append(name)
            left -= members
    return out + sorted(left)


def region_covered(region: str, regions) -> bool:
    """Whether a use in ``region`` (``FR``, ``US-CA``) is inside a grant's ``regions``: listed, a
    subdivision of a listed country, or the grant covers ``*``."""
    return ANY_REGION in regions or region in regions or region.split("-")[0] in regions


def _as_date(d) -> date:
    if isinstance(d, datetime):
        return d.date()
    if isinstance(d, date):
        return d
    try:
        return date.fromisoformat(str(d))
    except ValueError as exc:
        raise InputError(f"not a date: {d!r}", hint="use YYYY-MM-DD") from exc


def _use_day(when: date | datetime | None) -> date:
    if when is None:
        return utcnow().date()
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            when = when.astimezone(timezone.utc)
        return when.date()
    return _as_date(when)


LIKENESS_TOLERANCE: dict[str, float] = {"anny": 0.02, "smplx": 0.1, "default": 0.02}
"""Largest difference in any shape parameter (the model's own units: Anny's phenotype values lie
in [0, 1], SMPL-X betas are in standard deviations) at which a body generated from parameters is
taken as a registered person's likeness. 0.02 of Anny's height range is about a centimetre."""


def _params_key(model: str, shape) -> str:

    return params_sha256(model, shape)


def _body(r) -> Body:
    import json as _json

    return Body(id=int(r.id), sha256=r.sha256, kind=r.kind, twin_id=r.twin_id, synthetic=bool(r.synthetic),
                model=r.model, shape=None if r.shape is None else tuple(_json.loads(r.shape)),
                file_sha256=r.file_sha256, path=r.path, derived_from=r.derived_from, made_by=r.made_by,
                created_at=from_db_time(r.created_at))


def _reason(exc: Exception) -> str:
    """The driver's message of a database error, without SQLAlchemy's SQL and links."""
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0]


def _twin(r) -> Twin:
    return Twin(r.id, r.display_name, r.contact_ref, from_db_time(r.created_at))


def _grant(r) -> Grant:
    return Grant(
        id=int(r.id), twin_id=r.twin_id, brand=r.brand,
        channels=tuple(c for c in r.channels.split(",") if c),
        regions=tuple(x for x in r.regions.split(",") if x),
        starts_on=r.starts_on, ends_on=r.ends_on,
        created_at=from_db_time(r.created_at), revoked_at=from_db_time(r.revoked_at),
        time_zone=getattr(r, "time_zone", None) or "UTC",
    )


def _check_zone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = (name or "UTC").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {name!r}", hint="use an IANA name such as Europe/Paris, America/New_York or UTC") from None
    return name
