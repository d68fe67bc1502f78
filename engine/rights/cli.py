"""The ``atelier twins`` and ``atelier ledger`` commands.

``add_parsers(subparsers)`` adds both to the ``atelier`` parser; ``run(args)`` executes a parsed
command and returns the exit code. User errors are raised as AtelierError subclasses (the main
CLI prints them with their hint); a missing grant is a ConsentError (exit code 4).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from ..errors import InputError
from .constants import CHANNELS

# The database layer (SQLAlchemy) is imported when a command runs, not when the parser is built,
# so `atelier --help` stays fast.

COMMANDS = ("twins", "ledger")

_DB_HELP = ("rights database: a SQLite file path or a database URL (sqlite:///..., postgresql+psycopg://...); "
            "default $ATELIER_DB_URL, else ./atelier-data/atelier.db")


def _date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {s!r} (use YYYY-MM-DD)") from None


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, metavar="URL_OR_FILE", help=_DB_HELP)


def add_parsers(subparsers) -> None:
    """Add the ``twins`` and ``ledger`` commands to an argparse sub-parser collection."""
    fmt = argparse.RawDescriptionHelpFormatter
    tw = subparsers.add_parser(
        "twins",
        help="the rights registry: twins, their scans and fits, consent grants",
        description=(
            "A twin is a real person's likeness. Record her twin, its scans and fitted versions, and the consent "
            "grants she gives a brand (channels, regions, dates). Every render checks a live grant first; a "
            "revoked grant stops further renders at once; deleting a twin removes its files and anonymises "
            "the ledger."
        ),
        formatter_class=fmt,
    )
    tw.set_defaults(_rights_parser=tw, _rights_group="twins")
    ts = tw.add_subparsers(dest="twins_command", metavar="ACTION")

    p = ts.add_parser("add", help="add a twin (prints its id)",
                      description="Add a twin. Its id is random (twin-xxxxxxxx) unless --id is given: the id is "
                                  "written into every image, so never put the person's name in it.")
    p.add_argument("--name", required=True, help="display name (kept in the registry only, never in images)")
    p.add_argument("--contact", default=None, metavar="REF", help="contact reference, e.g. an agency reference")
    p.add_argument("--id", dest="twin_id", default=None, help="internal id to use instead of a random one")
    p.add_argument("--scan", action="append", default=[], metavar="FILE", help="record a scan file (repeatable)")
    p.add_argument("--scan-date", type=_date, default=None, metavar="YYYY-MM-DD", help="date the scans were taken")
    p.add_argument("--fit", action="append", default=[], metavar="TWIN_DIR",
                   help="record a fitted version: the folder (or twin.json) written by `atelier fit` (repeatable)")
    _db(p)
    p.set_defaults(_rights_run=_add)

    p = ts.add_parser("attach", help="record more scans or fitted versions of a twin",
                      description="Record scan files and fitted versions (twin.json) of an existing twin, with their SHA-256.")
    p.add_argument("twin", metavar="TWIN_ID")
    p.add_argument("--scan", action="append", default=[], metavar="FILE", help="scan file (repeatable)")
    p.add_argument("--scan-date", type=_date, default=None, metavar="YYYY-MM-DD", help="date the scans were taken")
    p.add_argument("--fit", action="append", default=[], metavar="TWIN_DIR", help="fitted twin folder or twin.json (repeatable)")
    _db(p)
    p.set_defaults(_rights_run=_attach)

    p = ts.add_parser("list", help="list the twins", description="List the twins with their live grant count.")
    _db(p)
    p.set_defaults(_rights_run=_list)

    p = ts.add_parser("show", help="show a twin: scans, fitted versions, grants",
                      description="Show a twin with its scans, fitted versions, grants (live and revoked) and image count.")
    p.add_argument("twin", metavar="TWIN_ID")
    _db(p)
    p.set_defaults(_rights_run=_show)

    p = ts.add_parser(
        "grant", help="record a consent grant",
        description=(f"Record that the twin consents to BRAND using her likeness on CHANNELS in REGIONS from --from to "
                     f"--to (inclusive dates, in --tz).\nChannels: {', '.join(CHANNELS)}.\nRegions: ISO-like codes "
                     f"(FR, DE, US-CA), groups (EU, EEA, UK, US, APAC, worldwide) or '*' for everywhere."),
        formatter_class=fmt,
    )
    p.add_argument("twin", metavar="TWIN_ID")
    p.add_argument("--brand", required=True, help="the brand the grant is given to")
    p.add_argument("--channels", required=True, metavar="LIST", help=f"comma-separated: {', '.join(CHANNELS)}")
    p.add_argument("--regions", required=True, metavar="LIST", help="comma-separated region codes, or '*'")
    p.add_argument("--from", dest="start", required=True, type=_date, metavar="YYYY-MM-DD", help="first day covered")
    p.add_argument("--to", dest="end", required=True, type=_date, metavar="YYYY-MM-DD", help="last day covered")
    p.add_argument("--tz", default="UTC", metavar="ZONE",
                   help="time zone of the dates, an IANA name such as Europe/Paris (default UTC)")
    _db(p)
    p.set_defaults(_rights_run=_grant)

    p = ts.add_parser("revoke", help="revoke consent grants (effective at once)",
                      description="Revoke grants now. Every later check fails, also in campaigns already running; "
                                  "images delivered before stay in the ledger.")
    p.add_argument("grants", nargs="+", type=int, metavar="GRANT_ID")
    _db(p)
    p.set_defaults(_rights_run=_revoke)

    p = ts.add_parser("check", help="check whether a live grant covers a use",
                      description="Exit 0 and print the covering grant, or exit 4 naming what is missing.")
    p.add_argument("twin", metavar="TWIN_ID")
    p.add_argument("--channel", required=True, help=f"one of: {', '.join(CHANNELS)}")
    p.add_argument("--region", required=True, help="region code, e.g. FR")
    p.add_argument("--date", type=_date, default=None, metavar="YYYY-MM-DD", help="day of use (default today, UTC)")
    _db(p)
    p.set_defaults(_rights_run=_check)

    p = ts.add_parser(
        "delete", help="delete a twin, its files and its grants; anonymise its ledger rows",
        description=("Delete a twin from the registry with its scans, fitted versions and grants, remove the recorded "
                     "files (scans, twin.json/body.ply, delivered images) unless --keep-files, and replace the twin id "
                     "in the ledger by an anonymous tombstone (counts are kept, paths and hashes dropped). "
                     "This cannot be undone: pass --yes."),
    )
    p.add_argument("twin", metavar="TWIN_ID")
    p.add_argument("--keep-files", action="store_true", help="leave the files on disk (only the records go)")
    p.add_argument("--yes", action="store_true", help="confirm the deletion")
    _db(p)
    p.set_defaults(_rights_run=_delete)

    lg = subparsers.add_parser(
        "ledger", help="the usage ledger: statements, reconciliation and the audit check",
        description="The append-only record of every delivered image: statements of uses and amounts owed, and "
                    "reconciliation of the ledger with the images on disk after a crash.",
    )
    lg.set_defaults(_rights_parser=lg, _rights_group="ledger")
    ls = lg.add_subparsers(dest="ledger_command", metavar="ACTION")
    p = ls.add_parser(
        "statement", help="print and write (CSV) a twin's uses and the amount owed",
        description=("List the images of the twin delivered from --from to --to (inclusive, UTC dates), voided records "
                     "left out, with the amount owed at --rate per image. Writes a CSV (one line per image and a TOTAL "
                     "line) to --csv, default DATA_DIR/statements/statement-TWIN-FROM-TO.csv."),
    )
    p.add_argument("--twin", required=True, metavar="TWIN_ID", help="twin id (or a deleted twin's tombstone)")
    p.add_argument("--from", dest="start", required=True, type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--to", dest="end", required=True, type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--rate", default=None, metavar="AMOUNT", help="amount owed per image, e.g. 12.50")
    p.add_argument("--currency", default=None, metavar="CODE", help="currency shown with amounts, e.g. EUR")
    p.add_argument("--csv", default=None, metavar="FILE", help="where to write the CSV statement")
    _db(p)
    p.set_defaults(_rights_run=_statement)

    p = ls.add_parser(
        "reconcile", help="make the ledger and the images in a folder agree (after a crash)",
        description=("Record images under FOLDER that carry Atelier metadata but have no ledger record (from their "
                     "metadata), and void records whose image under FOLDER is missing. Safe to run at any time."),
    )
    p.add_argument("folder", metavar="FOLDER")
    _db(p)
    p.set_defaults(_rights_run=_reconcile)

    _add_verify(ls)


def _add_verify(ls) -> None:
    p = ls.add_parser(
        "verify", help="check the audit chain: report any row or audit entry changed by hand",
        description=("Every change to twins, bodies, grants and the ledger is sealed in an append-only audit chain "
                     "(who, when, the row's hash, the previous entry's hash). Walk the chain and compare each row "
                     "with its last seal: exit 0 when all agree, exit 5 naming every row changed, added or removed "
                     "outside Atelier."),
    )
    _db(p)
    p.set_defaults(_rights_run=_verify)


def run(args: argparse.Namespace, out=None) -> int:
    """Execute a parsed ``twins``/``ledger`` command; returns the exit code (0 on success).
    AtelierError subclasses propagate to the caller, which prints them."""
    from .registry import Registry

    out = out or sys.stdout
    fn = getattr(args, "_rights_run", None)
    if fn is None:
        parser = getattr(args, "_rights_parser", None)
        if parser is not None:
            parser.print_help(file=out)
        return 2
    with Registry.open(args.db) as reg:
        return fn(reg, args, out)


# ------------------------------------------------------------------ actions
def _say(out, msg: str = "") -> None:
    print(msg, file=out)


def _record_files(reg, twin_id: str, args, out) -> None:
    for s in args.scan:
        sc = reg.add_scan(twin_id, s, scanned_on=args.scan_date)
        _say(out, f"  scan {sc.id}: {sc.path} sha256 {sc.sha256[:16]}...")
    for f in args.fit:
        fv = reg.add_fitted_version(twin_id, f)
        _say(out, f"  fitted version {fv.id}: {fv.path} sha256 {fv.twin_json_sha256[:16]}...")


def _add(reg, args, out) -> int:
    t = reg.add_twin(args.name, contact_ref=args.contact, twin_id=args.twin_id)
    _say(out, f"added twin {t.id} ({t.display_name})")
    _record_files(reg, t.id, args, out)
    _say(out, f"next: atelier twins grant {t.id} --brand ... --channels ... --regions ... --from ... --to ...")
    return 0


def _attach(reg, args, out) -> int:
    if not args.scan and not args.fit:
        raise InputError("nothing to attach", hint="pass --scan FILE and/or --fit TWIN_DIR")
    reg.get_twin(args.twin)
    _say(out, f"twin {args.twin}:")
    _record_files(reg, args.twin, args, out)
    return 0


def _list(reg, args, out) -> int:
    twins = reg.list_twins()
    if not twins:
        _say(out, f"no twins in {reg.url.render_as_string(hide_password=True)}; add one with `atelier twins add --name ...`")
        return 0
    for t in twins:
        grants = reg.grants(t.id)
        states = [g.state() for g in grants]
        counts = ", ".join(f"{states.count(s)} {s}" for s in ("live", "not started", "expired", "revoked")
                           if states.count(s) or s == "live")
        _say(out, f"{t.id}  {t.display_name}  created {t.created_at:%Y-%m-%d}  grants: {counts}")
        for g in grants:
            _say(out, f"    {g.describe()}")
    return 0


def _show(reg, args, out) -> int:
    from .ledger import live_uses

    t = reg.get_twin(args.twin)
    _say(out, f"twin {t.id}")
    _say(out, f"  name:    {t.display_name}")
    _say(out, f"  contact: {t.contact_ref or '-'}")
    _say(out, f"  created: {t.created_at:%Y-%m-%d %H:%M} UTC")
    scans = reg.scans(t.id)
    _say(out, f"  scans ({len(scans)}):")
    for s in scans:
        _say(out, f"    {s.id}: {s.path} {s.scanned_on or ''} sha256 {(s.sha256 or '')[:16]}")
    fits = reg.fitted_versions(t.id)
    _say(out, f"  fitted versions ({len(fits)}):")
    for f in fits:
        _say(out, f"    {f.id}: {f.path} sha256 {(f.twin_json_sha256 or '')[:16]}")
    grants = reg.grants(t.id)
    _say(out, f"  grants ({len(grants)}):")
    for g in grants:
        _say(out, f"    {g.describe()}")
    _say(out, f"  delivered images: {len(live_uses(reg, t.id))}")
    return 0


def _grant(reg, args, out) -> int:
    g = reg.add_grant(args.twin, args.brand, args.channels, args.regions, args.start, args.end, time_zone=args.tz)
    _say(out, f"recorded {g.describe()}")
    return 0


def _revoke(reg, args, out) -> int:
    for gid in args.grants:
        g = reg.revoke_grant(gid)
        _say(out, f"revoked {g.describe()}")
    return 0


def _check(reg, args, out) -> int:
    from .registry import check_grant

    g = check_grant(reg, args.twin, args.channel, args.region, args.date)
    _say(out, f"covered by {g.describe()}")
    return 0


def _delete(reg, args, out) -> int:
    from .registry import delete_twin

    if not args.yes:
        t = reg.get_twin(args.twin)
        raise InputError(f"deleting twin {t.id} ({t.display_name}) cannot be undone",
                         hint=f"run again with --yes: atelier twins delete {t.id} --yes")
    rep = delete_twin(reg, args.twin, remove_files=not args.keep_files)
    _say(out, f"deleted twin {rep.twin_id}: {len(rep.removed_files)} file(s) removed, "
              f"{len(rep.missing_files)} already gone, {len(rep.kept_files)} kept; "
              f"{rep.ledger_rows} ledger row(s) anonymised as {rep.tombstone}")
    return 0


def _statement(reg, args, out) -> int:
    from .ledger import statement

    st = statement(reg, args.twin, args.start, args.end, rate=args.rate, currency=args.currency)
    _say(out, st.format())
    path = Path(args.csv) if args.csv else (
        reg.data_dir / "statements" / f"statement-{args.twin}-{args.start.isoformat()}-{args.end.isoformat()}.csv")
    st.write_csv(path)
    _say(out, f"  CSV: {path}")
    return 0


def _reconcile(reg, args, out) -> int:
    from .ledger import reconcile

    folder = Path(args.folder)
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}", hint="give the output folder of a render or campaign")
    rep = reconcile(reg, folder)
    for r in rep.recorded:
        _say(out, f"recorded #{r.id}: {r.image_path} (twin {r.twin_id}, grant {r.grant_id})")
    for r in rep.voided:
        _say(out, f"voided #{r.voids_id}: {r.image_path} ({r.note})")
    for p, why in rep.orphans:
        _say(out, f"not recorded: {p}: {why}")
    _say(out, "ledger and images agree" if rep.clean else
         f"{len(rep.recorded)} recorded, {len(rep.voided)} voided, {len(rep.orphans)} not recordable")
    return 0


def _verify(reg, args, out) -> int:
    from .audit import AuditError, verify

    rep = verify(reg)
    if not rep.ok:
        raise AuditError(
            f"the rights database does not match its audit chain ({len(rep.problems)} finding(s) in {rep.entries} "
            "entries):\n  " + "\n  ".join(rep.problems),
            hint="someone changed the database outside Atelier: restore those rows from a backup and find out who")
    _say(out, f"audit chain intact: {rep.entries} entries; {rep.rows} rows of twins, bodies, grants and the ledger "
              "match their seals")
    return 0
