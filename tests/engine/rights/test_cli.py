"""`atelier twins ...` and `atelier ledger ...` end to end, through an argparse parser built here."""

from __future__ import annotations

import argparse
import csv
import re

import pytest

from engine.errors import InputError
from engine.rights import ConsentError, Registry, record_image
from engine.rights.cli import add_parsers, run

from .conftest import make_png


def parser():
    p = argparse.ArgumentParser(prog="atelier")
    add_parsers(p.add_subparsers(dest="command"))
    return p


def cli(*argv):
    return run(parser().parse_args(list(argv)))


@pytest.fixture
def env(tmp_path, monkeypatch):
    db = tmp_path / "data" / "atelier.db"
    monkeypatch.setenv("ATELIER_DB_URL", f"sqlite:///{db}")
    monkeypatch.chdir(tmp_path)
    return db


def test_help_texts(capsys):
    for argv in (["twins", "--help"], ["twins", "grant", "--help"], ["ledger", "statement", "--help"]):
        with pytest.raises(SystemExit) as info:
            parser().parse_args(argv)
        assert info.value.code == 0
    text = capsys.readouterr().out
    for word in ("revoke", "delete", "--channels", "out-of-home", "--rate", "--csv", "ATELIER_DB_URL"):
        assert word in text
    assert cli("twins") == 2 and "ACTION" in capsys.readouterr().out


def test_twins_and_ledger_end_to_end(env, tmp_path, capsys):
    scan = tmp_path / "scan.ply"
    scan.write_bytes(b"ply fake")
    assert cli("twins", "add", "--name", "Test Person", "--contact", "agency #1", "--scan", str(scan)) == 0
    out = capsys.readouterr().out
    twin_id = re.search(r"added twin (twin-[0-9a-f]{8})", out).group(1)
    assert env.exists()  # the env var picked the database

    assert cli("twins", "grant", twin_id, "--brand", "Maison", "--channels", "social,print", "--regions", "FR",
               "--from", "2030-01-01", "--to", "2030-12-31") == 0
    grant_id = int(re.search(r"grant (\d+):", capsys.readouterr().out).group(1))
    assert cli("twins", "list") == 0 and twin_id in capsys.readouterr().out
    assert cli("twins", "show", twin_id) == 0
    shown = capsys.readouterr().out
    assert "Test Person" in shown and "Maison" in shown and "scans (1)" in shown
    assert "not started (starts 2030-01-01)" in shown  # a grant for later is not called live
    assert cli("twins", "check", twin_id, "--channel", "print", "--region", "FR", "--date", "2030-03-01") == 0

    with Registry.open() as reg:  # a render delivers two images
        for i in range(2):
            record_image(reg, twin_id, grant_id, "social", "FR", make_png(tmp_path / "out" / f"{i}.png", seed=i))
    assert cli("ledger", "statement", "--twin", twin_id, "--from", "2000-01-01", "--to", "2100-01-01",
               "--rate", "10", "--currency", "EUR", "--csv", str(tmp_path / "st.csv")) == 0
    out = capsys.readouterr().out
    assert "owed: 2 x 10 EUR = 20.00 EUR" in out
    rows = list(csv.DictReader((tmp_path / "st.csv").open()))
    assert len(rows) == 3 and rows[-1]["amount"] == "20.00 EUR"
    assert cli("ledger", "statement", "--twin", twin_id, "--from", "2000-01-01", "--to", "2100-01-01") == 0
    assert (env.parent / "statements" / f"statement-{twin_id}-2000-01-01-2100-01-01.csv").exists()

    (tmp_path / "out" / "0.png").unlink()
    assert cli("ledger", "reconcile", str(tmp_path / "out")) == 0
    out = capsys.readouterr().out
    assert "voided #1" in out and "0 recorded, 1 voided, 0 not recordable" in out

    assert cli("twins", "revoke", str(grant_id)) == 0
    assert "revoked grant" in capsys.readouterr().out
    with pytest.raises(ConsentError, match="was revoked at"):
        cli("twins", "check", twin_id, "--channel", "print", "--region", "FR", "--date", "2030-03-01")

    with pytest.raises(InputError, match="cannot be undone"):
        cli("twins", "delete", twin_id)
    assert cli("twins", "delete", twin_id, "--yes") == 0
    out = capsys.readouterr().out
    assert "3 ledger row(s) anonymised as deleted-" in out and not scan.exists()  # 2 uses + 1 void
    assert not (tmp_path / "out" / "1.png").exists()
    assert cli("twins", "list") == 0 and "no twins" in capsys.readouterr().out


def test_db_option_overrides_env_and_bad_input(env, tmp_path, capsys):
    other = tmp_path / "other.db"
    assert cli("twins", "add", "--name", "A", "--id", "twin-a", "--db", str(other)) == 0
    assert other.exists() and not env.exists()
    with pytest.raises(SystemExit):
        parser().parse_args(["twins", "grant", "twin-a", "--brand", "B", "--channels", "social", "--regions", "FR",
                             "--from", "1st of May", "--to", "2030-01-01"])
    assert "not a date" in capsys.readouterr().err
    with pytest.raises(InputError, match="unknown channel 'billboard'") as info:
        cli("twins", "grant", "twin-a", "--db", str(other), "--brand", "B", "--channels", "billboard",
            "--regions", "FR", "--from", "2030-01-01", "--to", "2030-02-01")
    assert "out-of-home" in info.value.hint
    with pytest.raises(InputError, match="not in the registry"):
        cli("twins", "show", "twin-zzz", "--db", str(other))


def test_list_shows_expired_and_revoked_grants_as_such(env, capsys):
    assert cli("twins", "add", "--name", "P", "--id", "twin-p") == 0
    assert cli("twins", "grant", "twin-p", "--brand", "Old", "--channels", "social", "--regions", "FR",
               "--from", "2020-01-01", "--to", "2020-12-31") == 0
    assert cli("twins", "grant", "twin-p", "--brand", "Now", "--channels", "social", "--regions", "FR",
               "--from", "2020-01-01", "--to", "2099-12-31") == 0
    assert cli("twins", "grant", "twin-p", "--brand", "Gone", "--channels", "social", "--regions", "FR",
               "--from", "2020-01-01", "--to", "2099-12-31") == 0
    gone = int(re.findall(r"grant (\d+):", capsys.readouterr().out)[-1])
    assert cli("twins", "revoke", str(gone)) == 0
    capsys.readouterr()
    assert cli("twins", "list") == 0
    out = capsys.readouterr().out
    assert "grants: 1 live, 1 expired, 1 revoked" in out
    assert re.search(r"Old; .*expired \(ended 2020-12-31\)", out) and re.search(r"Now; .*; live$", out, re.M)
    assert re.search(r"Gone; .*; revoked ", out)


def test_ledger_verify_finds_a_row_changed_by_hand(env, tmp_path, capsys):
    import sqlalchemy as sa

    from engine.rights.audit import AuditError

    assert cli("twins", "add", "--name", "P", "--id", "twin-p") == 0
    assert cli("twins", "grant", "twin-p", "--brand", "B", "--channels", "social", "--regions", "FR",
               "--from", "2020-01-01", "--to", "2099-12-31") == 0
    with Registry.open() as reg:
        for i in range(3):
            record_image(reg, "twin-p", 1, "social", "FR", make_png(tmp_path / f"{i}.png", seed=i))
    assert cli("twins", "revoke", "1") == 0
    capsys.readouterr()
    assert cli("ledger", "verify") == 0
    assert "audit chain intact" in capsys.readouterr().out
    with Registry.open() as reg, reg.engine.begin() as c:  # someone edits the database directly
        c.execute(sa.text("UPDATE ledger SET twin_id = 'twin-q' WHERE id = 2"))
        c.execute(sa.text("UPDATE grants SET revoked_at = NULL WHERE id = 1"))
    with pytest.raises(AuditError, match="ledger row 2 was changed by hand") as info:
        cli("ledger", "verify")
    assert "grants row 1 was changed by hand" in info.value.message and info.value.exit_code == 5
    with Registry.open() as reg, reg.engine.begin() as c:
        c.execute(sa.text("DELETE FROM ledger WHERE id = 3"))
        c.execute(sa.text("UPDATE audit SET actor = 'someone else' WHERE id = 2"))
    with pytest.raises(AuditError) as info:
        cli("ledger", "verify")
    assert "ledger row 3 was removed by hand" in info.value.message
    assert "audit entry 2 " in info.value.message and "chain breaks" in info.value.message
