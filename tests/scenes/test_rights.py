"""Consent in campaigns: cells of a registered twin need a live grant for the campaign's channel
and the locale's region; refused cells are not failures; delivered PNGs are stamped and recorded."""

from __future__ import annotations

import datetime as dt

from engine.rights import Registry, ledger_rows
from engine.rights.disclosure import read_disclosure
from scenes.campaign import expand
from scenes.io import load_campaign
from scenes.runner import run_plan

CAMPAIGN = """\
name = "consent-check"
channel = "e-commerce"
rights_db = "{db}"
[[twins]]
name = "mia"
registry_id = "{twin}"
shape = [0.2, 0.4, 0.5, 0.45, 0.55, 0.5]
[[twins]]
name = "synth"
shape = [0.8, 0.5, 0.6, 0.5, 0.6, 0.5]
[[outfits]]
name = "navy"
garments = [{{template = "tube-dress", colour = "#1d2b4f"}}]
[[shots]]
name = "front"
[[locales]]
name = "france"
region = "FR"
[[locales]]
name = "italy"
region = "IT"
[[formats]]
name = "thumb"
width = 64
height = 64
[drape]
resolution = 300
max_frames = 3
min_frames = 2
"""


def test_grants_decide_cells_and_images_are_recorded(tmp_path):
    db = tmp_path / "rights.db"
    reg = Registry.open(str(db))
    twin = reg.add_twin("Mia (test person)")
    # mia's body is given by its shape in the campaign: the registry records it as hers
    from engine.rights.consent import params_sha256

    shape = [0.2, 0.4, 0.5, 0.45, 0.55, 0.5]
    reg.register_body(params_sha256("anny", shape), "params", twin.id, model="anny", shape=shape, made_by="test")
    today = dt.date.today()
    grant = reg.add_grant(twin.id, "Maison", ["e-commerce"], ["FR"], today - dt.timedelta(days=1),
                          today + dt.timedelta(days=10))
    path = tmp_path / "c.toml"
    path.write_text(CAMPAIGN.format(db=db, twin=twin.id))
    plan = expand(load_campaign(path))
    assert len(plan.cells) == 4

    summary = run_plan(plan, tmp_path / "out", workers=1, executor="inline", cache=tmp_path / "cache", quiet=True)
    refused = {r["label"].split("/")[0] + "/" + r["label"].split("/")[-2] for r in summary.refused}
    assert refused == {"mia/italy"}  # no grant for IT; the synthetic twin needs none
    assert summary.rendered == 3 and not summary.failed

    rows = ledger_rows(reg, twin.id)
    assert len(rows) == 1 and rows[0].grant_id == grant.id and rows[0].region == "FR"
    info = read_disclosure(rows[0].image_path)
    assert info["twin_id"] == twin.id and info["campaign"] == "consent-check"

    # revoke: a new run refuses every cell of the registered twin, none is drawn or recorded
    reg.revoke_grant(grant.id)
    again = run_plan(plan, tmp_path / "out2", workers=1, executor="inline", cache=tmp_path / "cache", quiet=True)
    assert {r["label"].split("/")[0] for r in again.refused} == {"mia"}
    assert len(again.refused) == 2 and again.rendered == 2
    assert len(ledger_rows(reg, twin.id)) == 1
