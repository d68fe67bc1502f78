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


def test_jpg_cells_revoked_mid_run_leave_nothing_and_resume_works(tmp_path):
    """A grant revoked while a cell renders: the cell's JPG and manifest are removed (not left as
    "finished"), a later --resume neither stops nor bills, and once a new grant exists the cell is
    rendered, disclosed and recorded once; every manifest's hash is its delivered file's."""
    from engine.rights.consent import params_sha256
    from engine.storage import file_sha256, read_json
    from scenes.rights import consent_hooks

    db = tmp_path / "rights.db"
    reg = Registry.open(str(db))
    twin = reg.add_twin("Mia (test person)")
    shape = [0.2, 0.4, 0.5, 0.45, 0.55, 0.5]
    reg.register_body(params_sha256("anny", shape), "params", twin.id, model="anny", shape=shape, made_by="test")
    today = dt.date.today()
    grant = reg.add_grant(twin.id, "Maison", ["e-commerce"], ["FR"], today, today + dt.timedelta(days=10))
    path = tmp_path / "c.toml"
    text = CAMPAIGN.format(db=db, twin=twin.id).replace('height = 64\n', 'height = 64\ntype = "jpg"\n', 1)
    path.write_text(text.replace('[[locales]]\nname = "italy"\nregion = "IT"\n', ""))
    plan = expand(load_campaign(path))
    out, cache = tmp_path / "out", tmp_path / "cache"

    authorise, deliver = consent_hooks(plan)
    calls = {"n": 0}

    def revoking_authorise(cell):  # the grant goes away right after mia's cell is submitted
        ok = authorise(cell)
        if cell.labels["twin"] == "mia":
            calls["n"] += 1
            if calls["n"] == 2:
                reg.revoke_grant(grant.id)
        return ok

    first = run_plan(plan, out, workers=1, executor="inline", cache=cache, quiet=True,
                     authorise=revoking_authorise, deliver=deliver)
    assert [r["label"].split("/")[0] for r in first.refused] == ["mia"] and first.rendered == 1
    mia_cell = next(c for c in plan.cells if c.labels["twin"] == "mia")
    assert not (out / "cells" / mia_cell.id).exists()  # no image, no manifest
    assert ledger_rows(reg, twin.id) == []

    again = run_plan(plan, out, workers=1, executor="inline", cache=cache, quiet=True, resume=True)
    assert [r["label"].split("/")[0] for r in again.refused] == ["mia"] and not again.failed

    reg.add_grant(twin.id, "Maison", ["e-commerce"], ["FR"], today, today + dt.timedelta(days=10))
    final = run_plan(plan, out, workers=1, executor="inline", cache=cache, quiet=True, resume=True)
    assert final.rendered == 1 and not final.refused and not final.failed
    (row,) = ledger_rows(reg, twin.id)
    assert row.image_path.endswith(".jpg")
    info = read_disclosure(row.image_path)
    assert info["twin_id"] == twin.id and info["ai_generated"] and "trainedAlgorithmicMedia" in info["digital_source_type"]
    for cell in plan.cells:
        folder = out / "cells" / cell.id
        for o in read_json(folder / "manifest.json")["outputs"]:
            assert o["sha256"] == file_sha256(folder / o["file"])  # manifests tell the truth
            assert read_disclosure(folder / o["file"])["ai_generated"]
    # resuming once more delivers nothing twice
    run_plan(plan, out, workers=1, executor="inline", cache=cache, quiet=True, resume=True)
    assert len(ledger_rows(reg, twin.id)) == 1
