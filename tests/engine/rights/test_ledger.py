"""Ledger: append-only records, statements with a rate and CSV, reconciliation in both directions."""

from __future__ import annotations

import csv
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from engine.errors import InputError
from engine.rights import ledger_rows, live_uses, reconcile, record_image, stamp_png, statement, void_record

from .conftest import D0, D1, make_png


def _t(month, day=1):
    return datetime(2030, month, day, 12, tzinfo=timezone.utc)


def test_record_is_idempotent_and_checks_its_inputs(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    img = make_png(tmp_path / "a.png")
    r1 = record_image(registry, twin.id, grant.id, "social", "FR", img, campaign="c1")
    r2 = record_image(registry, twin.id, grant.id, "social", "FR", img, campaign="c1")
    assert r1 == r2 and len(ledger_rows(registry)) == 1
    assert r1.image_path == str(img.absolute()) and len(r1.image_sha256) == 64
    with pytest.raises(InputError, match="does not exist"):
        record_image(registry, twin.id, grant.id, "social", "FR", tmp_path / "missing.png")
    other = registry.add_twin("Other", twin_id="twin-other")
    with pytest.raises(InputError, match=f"grant {grant.id} is not a grant of twin twin-other"):
        record_image(registry, other.id, grant.id, "social", "FR", img)


def test_void_appends_a_compensating_row(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    r = record_image(registry, twin.id, grant.id, "social", "FR", make_png(tmp_path / "a.png"))
    v = void_record(registry, r.id, "test")
    assert v.kind == "void" and v.voids_id == r.id
    assert void_record(registry, r.id, "again") == v
    rows = ledger_rows(registry, twin.id)
    assert [x.kind for x in rows] == ["use", "void"] and rows[0] == r  # the use row is untouched
    assert live_uses(registry, twin.id) == []


def test_statement_totals_with_rate_and_writes_csv(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    for i, (month, channel) in enumerate([(1, "social"), (2, "social"), (2, "e-commerce"), (3, "social"), (12, "social")]):
        record_image(registry, twin.id, grant.id, channel, "FR", make_png(tmp_path / f"{i}.png", seed=i),
                     campaign="ss30", when=_t(month, 15))
    voided = record_image(registry, twin.id, grant.id, "social", "DE", make_png(tmp_path / "v.png", seed=99), when=_t(2, 20))
    void_record(registry, voided.id, "test")

    st = statement(registry, twin.id, date(2030, 2, 1), date(2030, 3, 31), rate="12.50", currency="EUR")
    assert st.count == 3 and st.voided == 1
    assert st.total == Decimal("37.50")
    assert st.by_channel() == {"social": 2, "e-commerce": 1}
    assert all(ln.brand == "Maison Test" for ln in st.lines)
    assert "owed: 3 x 12.50 EUR = 37.50 EUR" in st.format()

    path = st.write_csv(tmp_path / "out" / "st.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 4 and rows[-1]["ledger_id"] == "TOTAL" and rows[-1]["amount"] == "37.50 EUR"
    assert [r["amount"] for r in rows[:-1]] == ["12.50"] * 3
    assert {r["channel"] for r in rows[:-1]} == {"social", "e-commerce"}

    whole = statement(registry, twin.id, D0, D1)
    assert whole.count == 5 and whole.total is None
    assert statement(registry, twin.id, date(2030, 1, 15), date(2030, 1, 15), rate=3).total == Decimal("3.00")
    with pytest.raises(InputError, match="rate"):
        statement(registry, twin.id, D0, D1, rate="-1")
    with pytest.raises(InputError, match="before it starts"):
        statement(registry, twin.id, D1, D0)


def _stamped(path, twin_id, grant_id, seed, **extra):
    make_png(path, seed=seed)
    stamp_png(path, {"twin_id": twin_id, "grant_id": grant_id, "scene_hash": "abc", "channel": "social",
                     "region": "FR", "campaign": "ss30", "created": "2030-04-01T10:00:00+00:00", **extra})
    return path


def test_reconcile_records_unrecorded_images_and_voids_missing_ones(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    out = tmp_path / "campaign"
    recorded = _stamped(out / "cell1" / "v0.png", twin.id, grant.id, 1)
    record_image(registry, twin.id, grant.id, "social", "FR", recorded, campaign="ss30")
    gone = _stamped(out / "cell1" / "v1.png", twin.id, grant.id, 2)
    gone_row = record_image(registry, twin.id, grant.id, "social", "FR", gone, campaign="ss30")
    gone.unlink()
    crashed = _stamped(out / "cell2" / "v0.png", twin.id, grant.id, 3)  # written, never recorded
    make_png(out / "not-ours.png", seed=4)  # no Atelier metadata: ignored
    stranger = _stamped(out / "cell3" / "v0.png", "twin-unknown", 77, 5)
    elsewhere = _stamped(tmp_path / "other" / "v.png", twin.id, grant.id, 6)
    record_image(registry, twin.id, grant.id, "social", "FR", elsewhere)
    elsewhere.unlink()  # outside the folder: left alone

    rep = reconcile(registry, out)
    assert [r.image_path for r in rep.recorded] == [str(crashed.absolute())]
    new = rep.recorded[0]
    assert (new.twin_id, new.grant_id, new.channel, new.region, new.campaign) == (twin.id, grant.id, "social", "FR", "ss30")
    assert new.recorded_at == datetime(2030, 4, 1, 10, tzinfo=timezone.utc)
    assert [v.voids_id for v in rep.voided] == [gone_row.id]
    assert [p for p, _ in rep.orphans] == [stranger] and "twin-unknown" in rep.orphans[0][1]

    live = {r.image_path for r in live_uses(registry, twin.id)}
    on_disk = {str(p.absolute()) for p in (recorded, crashed)}
    assert live & {str(p.absolute()) for p in out.rglob("*.png")} == on_disk  # no image without a record
    assert live == on_disk | {str(elsewhere.absolute())}  # no record without an image in the folder
    assert reconcile(registry, out).recorded == [] and reconcile(registry, out).voided == []


def test_reconcile_voids_a_record_whose_image_changed(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    p = _stamped(tmp_path / "c" / "v.png", twin.id, grant.id, 1)
    old = record_image(registry, twin.id, grant.id, "social", "FR", p)
    _stamped(p, twin.id, grant.id, 2)  # re-rendered in place with different pixels
    rep = reconcile(registry, tmp_path / "c")
    assert [v.voids_id for v in rep.voided] == [old.id]
    assert len(rep.recorded) == 1 and rep.recorded[0].image_sha256 != old.image_sha256
    assert len(live_uses(registry, twin.id)) == 1
