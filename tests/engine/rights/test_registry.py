"""Registry: migrations, twins, grants, the consent check, revocation and deletion."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from engine.errors import AtelierError, InputError
from engine.rights import (
    LATEST_VERSION, MIGRATIONS, ConsentError, Registry, check_grant, current_version, delete_twin, ledger_rows, migrate,
    record_image, statement,
)
from engine.rights.db import create_db_engine, resolve_db_url

from .conftest import D0, D1, db_arg, make_png, make_twin_folder


def test_migrations_from_empty_database(db_url):
    url = resolve_db_url(db_url)
    engine = create_db_engine(url)
    assert current_version(engine) is None
    assert migrate(engine, target="0001") == ["0001"]
    assert current_version(engine) == "0001"
    assert migrate(engine) == MIGRATIONS[1:] and MIGRATIONS[-1] == LATEST_VERSION
    assert migrate(engine) == []
    insp = sa.inspect(engine)
    assert {"twins", "scans", "bodies", "grants", "ledger", "alembic_version"} <= set(insp.get_table_names())
    assert "fitted_versions" not in insp.get_table_names()  # revision 0002 moved them into bodies
    assert "ix_ledger_twin_time" in {ix["name"] for ix in insp.get_indexes("ledger")}
    assert current_version(engine) == LATEST_VERSION
    engine.dispose()
    # reopening through the registry applies nothing and keeps the data
    with Registry.open(db_url) as reg:
        reg.add_twin("Someone", twin_id="twin-one")
    with Registry.open(db_url) as reg:
        assert [t.id for t in reg.list_twins()] == ["twin-one"]


def test_database_newer_than_code_is_refused(db_url):
    with Registry.open(db_url) as reg:
        with reg.engine.begin() as c:
            c.execute(sa.text("update alembic_version set version_num = '9999'"))
    with pytest.raises(AtelierError, match="newer than this Atelier"):
        Registry.open(db_url)


def test_upgrade_from_a_database_made_before_alembic(tmp_path):
    """A database written by Atelier e411650 (hand-written migrations, schema_version 2) opens:
    its twin, grant and ledger row are kept, its fitted version becomes her registered body."""
    import sqlite3
    from pathlib import Path

    from engine.rights.consent import DrawnBody, clear

    data = tmp_path / "data"
    (data / "fit").mkdir(parents=True)
    (data / "fit" / "twin.json").write_text(
        '{"model": "anny", "shape": [0.3, 0.3, 0.3, 0.3, 0.3, 0.3], "pose": [[0, 0, 0]], "source": {"synthetic": false}}')
    make_png(data / "v.png")
    sql = (Path(__file__).parent / "data" / "legacy_v2.sql").read_text().replace("{DATA}", str(data))
    con = sqlite3.connect(data / "atelier.db")
    con.executescript(sql)
    con.close()
    with Registry.open(data / "atelier.db") as reg:
        assert current_version(reg.engine) == LATEST_VERSION
        assert "schema_version" not in sa.inspect(reg.engine).get_table_names()
        (twin,) = reg.list_twins()
        assert twin.id == "twin-legacy" and twin.contact_ref == "agency #9"
        (row,) = ledger_rows(reg)
        assert (row.twin_id, row.campaign, row.grant_id) == ("twin-legacy", "old", 1)
        (fv,) = reg.fitted_versions("twin-legacy")
        assert fv.path == str(data / "fit" / "twin.json")
        c = clear(reg, DrawnBody.twin(data / "fit"), "print", "FR", when=date(2030, 3, 1))
        assert c.twin_id == "twin-legacy" and c.grant.id == 1  # her body, her grant
        with pytest.raises(ConsentError, match="belongs to twin twin-legacy"):
            clear(reg, DrawnBody.twin(data / "fit"), "print", "FR", twin_id="twin-other", when=date(2030, 3, 1))


def test_db_url_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("ATELIER_DB_URL", f"sqlite:///{tmp_path}/env.db")
    assert resolve_db_url().database == f"{tmp_path}/env.db"
    assert resolve_db_url(tmp_path / "x.db").database == str(tmp_path / "x.db")
    assert resolve_db_url("postgresql://u:secret@host/atelier").get_backend_name() == "postgresql"
    monkeypatch.delenv("ATELIER_DB_URL")
    monkeypatch.chdir(tmp_path)
    assert resolve_db_url().database == str(tmp_path / "atelier-data" / "atelier.db")


def test_add_twin_scan_fit_and_grant(registry, tmp_path):
    twin = registry.add_twin("Ada Example", contact_ref="agency #7")
    assert twin.id.startswith("twin-") and "ada" not in twin.id.lower()
    scan = tmp_path / "scan.ply"
    scan.write_bytes(b"ply\nfake scan")
    s = registry.add_scan(twin.id, scan, scanned_on=date(2029, 12, 1))
    assert len(s.sha256) == 64 and registry.scans(twin.id)[0].scanned_on == date(2029, 12, 1)
    make_twin_folder(tmp_path / "fit")
    f = registry.add_fitted_version(twin.id, tmp_path / "fit")
    assert f.path.endswith("twin.json") and registry.fitted_versions(twin.id)[0].twin_json_sha256 == f.twin_json_sha256
    g = registry.add_grant(twin.id, "Brand", ["Social", "print"], "fr, us-ca", D0, D1)
    assert g.channels == ("social", "print") and g.regions == ("FR", "US-CA")
    assert registry.grants(twin.id) == [g]
    with pytest.raises(InputError, match="unknown channel 'tv'"):
        registry.add_grant(twin.id, "Brand", "tv", "FR", D0, D1)
    with pytest.raises(InputError, match="ends .* before it starts"):
        registry.add_grant(twin.id, "Brand", "social", "FR", D1, D0)
    with pytest.raises(InputError, match="already exists"):
        registry.add_twin("Other", twin_id=twin.id)
    with pytest.raises(InputError, match="not in the registry"):
        registry.add_grant("twin-nobody", "Brand", "social", "FR", D0, D1)


def test_check_passes_inside_channels_regions_dates(registry, twin_grant):
    twin, grant = twin_grant
    for channel, region, when in [
        ("social", "FR", D0), ("e-commerce", "de", D1), ("social", "DE", datetime(2030, 6, 1, 12, tzinfo=timezone.utc)),
    ]:
        assert check_grant(registry, twin.id, channel, region, when).id == grant.id
    world = registry.add_grant(twin.id, "Maison Test", "print", "*", D0, D1)
    assert check_grant(registry, twin.id, "print", "JP", date(2030, 3, 3)).id == world.id


@pytest.mark.parametrize("channel, region, when, says", [
    ("print", "FR", date(2030, 6, 1), "does not include channel 'print'"),
    ("social", "IT", date(2030, 6, 1), "does not include region IT"),
    ("social", "FR", date(2031, 1, 1), "expired on 2030-12-31"),
    ("social", "FR", date(2029, 12, 31), "starts on 2030-01-01"),
])
def test_check_fails_outside_and_names_what_is_missing(registry, twin_grant, channel, region, when, says):
    twin, grant = twin_grant
    with pytest.raises(ConsentError) as info:
        check_grant(registry, twin.id, channel, region, when)
    msg = str(info.value)
    assert f"twin {twin.id}" in msg and f"channel {channel!r}" in msg and f"region {region}" in msg
    assert when.isoformat() in msg and f"grant {grant.id}" in msg and says in msg
    assert info.value.closest == grant and info.value.hint and info.value.exit_code == 4


def test_check_for_unknown_twin_or_no_grants(registry):
    with pytest.raises(ConsentError, match="not in the registry"):
        check_grant(registry, "twin-ghost", "social", "FR", D0)
    registry.add_twin("No Grants", twin_id="twin-bare")
    with pytest.raises(ConsentError, match="the twin has no grants"):
        check_grant(registry, "twin-bare", "social", "FR", D0)
    with pytest.raises(InputError, match="one region, not '\\*'"):
        check_grant(registry, "twin-bare", "social", "*", D0)


def test_revoke_stops_at_once_also_in_another_open_registry(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    # a long-running campaign holds its own registry (its own connections) on the same file
    campaign = Registry.open(db_arg(registry))
    try:
        assert check_grant(campaign, twin.id, "social", "FR", date(2030, 5, 1)).id == grant.id
        revoked = registry.revoke_grant(grant.id)
        assert revoked.revoked_at is not None
        with pytest.raises(ConsentError, match=f"grant {grant.id} .* was revoked at"):
            check_grant(campaign, twin.id, "social", "FR", date(2030, 5, 1))
        # revocation is not retroactive to dates only: a revoked grant covers no date at all
        with pytest.raises(ConsentError):
            check_grant(registry, twin.id, "social", "FR", date(2030, 1, 2))
        # revoking again keeps the first time
        assert registry.revoke_grant(grant.id).revoked_at == revoked.revoked_at
    finally:
        campaign.close()


def test_delete_removes_files_and_keeps_only_anonymous_counts(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    scan = tmp_path / "scans" / "s.ply"
    scan.parent.mkdir()
    scan.write_bytes(b"scan")
    registry.add_scan(twin.id, scan)
    fit = make_twin_folder(tmp_path / "fit")
    (fit / "fit_report.json").write_text("{}")
    for texture in ("albedo.png", "albedo_mask.png", "texture_report.json"):  # her likeness goes with her
        (fit / texture).write_bytes(b"texture")
    registry.add_fitted_version(twin.id, fit / "twin.json")
    imgs = [make_png(tmp_path / "renders" / f"v{i}.png", seed=i) for i in range(3)]
    for p in imgs:
        record_image(registry, twin.id, grant.id, "social", "FR", p, campaign="ss30", when=datetime(2030, 2, 1, tzinfo=timezone.utc))
    other = registry.add_twin("Other Person", twin_id="twin-other")
    og = registry.add_grant(other.id, "B", "social", "*", D0, D1)
    other_img = make_png(tmp_path / "renders" / "other.png", seed=9)
    record_image(registry, other.id, og.id, "social", "FR", other_img)

    rep = delete_twin(registry, twin.id, remove_files=True)
    assert not scan.exists() and not fit.exists() and not any(p.exists() for p in imgs)
    assert other_img.exists()
    assert len(rep.removed_files) == 1 + 3 + 3 + 3 and rep.ledger_rows == 3
    assert not registry.has_twin(twin.id) and registry.grants(twin.id) == [] and registry.scans(twin.id) == []
    rows = ledger_rows(registry, rep.tombstone)
    assert len(rows) == 3 and all(r.image_path is None and r.image_sha256 is None and r.grant_id is None for r in rows)
    assert {(r.channel, r.region, r.campaign) for r in rows} == {("social", "FR", "ss30")}
    assert ledger_rows(registry, twin.id) == []
    assert statement(registry, rep.tombstone, D0, D1).count == 3
    assert len(ledger_rows(registry, other.id)) == 1
    with pytest.raises(ConsentError, match="not in the registry"):
        check_grant(registry, twin.id, "social", "FR", D0)


def test_delete_can_keep_files(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    img = make_png(tmp_path / "r.png")
    record_image(registry, twin.id, grant.id, "social", "FR", img)
    rep = delete_twin(registry, twin.id, remove_files=False)
    assert img.exists() and rep.kept_files == [img.absolute()] and rep.removed_files == []


def test_unusable_databases_are_explained(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="cannot create the rights database"):
        Registry.open(tmp_path / "afile" / "atelier.db")
    with pytest.raises(InputError, match="unknown kind of database"):
        Registry.open("nosuchdb://host/x")


def test_grants_as_people_write_them_region_groups(registry):
    t = registry.add_twin("P", twin_id="twin-p")
    eu = registry.add_grant(t.id, "B", "social", "EU, UK", D0, D1)
    assert len(eu.regions) == 28 and "GB" in eu.regions and "DE" in eu.regions  # expanded when recorded
    for use in ("DE", "fr", "UK", "GB"):
        assert check_grant(registry, t.id, "social", use, D0).id == eu.id
    with pytest.raises(ConsentError, match="does not include region NO"):
        check_grant(registry, t.id, "social", "NO", D0)  # EEA, not EU
    us = registry.add_grant(t.id, "B", "print", "US", D0, D1)
    assert check_grant(registry, t.id, "print", "US-CA", D0).id == us.id  # a state of a granted country
    assert registry.add_grant(t.id, "B", "print", "worldwide", D0, D1).regions == ("*",)
    assert "JP" in registry.add_grant(t.id, "B", "print", "APAC", D0, D1).regions
    with pytest.raises(InputError, match="one region, not 'EU'"):
        check_grant(registry, t.id, "social", "EU", D0)
    with pytest.raises(InputError, match="not an ISO-like code or a region group"):
        registry.add_grant(t.id, "B", "print", "Europe", D0, D1)


def test_grant_terms_with_time_zones(registry):
    t = registry.add_twin("P", twin_id="twin-p")
    nz = registry.add_grant(t.id, "B", "social", "NZ", date(2030, 1, 1), date(2030, 6, 30), time_zone="Pacific/Auckland")
    utc = registry.add_grant(t.id, "B", "print", "NZ", date(2030, 1, 1), date(2030, 6, 30))
    late = datetime(2030, 6, 30, 13, 0, tzinfo=timezone.utc)  # already 1 July, 01:00 in Auckland
    assert check_grant(registry, t.id, "print", "NZ", late).id == utc.id
    with pytest.raises(ConsentError, match="no live consent grant"):
        check_grant(registry, t.id, "social", "NZ", late)
    assert nz.gaps("social", "NZ", late) == ["expired on 2030-06-30"] and utc.gaps("print", "NZ", late) == []
    early = datetime(2029, 12, 31, 12, 0, tzinfo=timezone.utc)  # 1 January, 01:00 in Auckland
    assert check_grant(registry, t.id, "social", "NZ", early).id == nz.id
    assert "(Pacific/Auckland)" in registry.get_grant(nz.id).describe()
    with pytest.raises(InputError, match="unknown time zone"):
        registry.add_grant(t.id, "B", "social", "NZ", D0, D1, time_zone="Mars/Olympus")


def test_grants_show_whole_groups_by_name(registry):
    t = registry.add_twin("P", twin_id="twin-p")
    g = registry.add_grant(t.id, "B", "social", "EEA, UK, US-CA", D0, D1)
    assert "regions EEA, GB, US-CA;" in g.describe()
