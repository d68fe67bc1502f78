"""Pipeline stages: resume stamps, consent before rendering, disclosure in every PNG."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import trimesh

from engine.meshio import save_ply
from atelier.pipeline import Consent, Stages, stage_render
from engine.storage import write_json


def _dressed(folder, synthetic: bool):
    body = trimesh.creation.capsule(height=1.2, radius=0.18)
    body.apply_translation([0, 0.8, 0])
    body.vertices[:, [1, 2]] = body.vertices[:, [2, 1]]  # capsule along +Y
    body.vertices[:, 1] += 0.8 - body.vertices[:, 1].min() + 0.0
    dress = trimesh.creation.cylinder(radius=0.22, height=0.6)
    dress.vertices[:, [1, 2]] = dress.vertices[:, [2, 1]]
    dress.vertices[:, 1] += 0.9
    save_ply(folder / "body.ply", body.vertices, body.faces)
    save_ply(folder / "garment.ply", dress.vertices, dress.faces)
    write_json(folder / "dressed.json", {"source": {"synthetic": synthetic}, "garment": "tube-dress"})
    return folder


def _register(db, drape, twin_id=None):
    """Record the dressed folder's body in the registry: as synthetic (what the pipeline that made
    a synthetic body does) or as ``twin_id``'s."""
    from engine.rights import Registry
    from engine.rights.consent import mesh_sha256

    with Registry.open(db) as reg:
        reg.register_body(mesh_sha256(drape / "body.ply"), "mesh", twin_id, path=str(drape / "body.ply"),
                          made_by="test")


def test_synthetic_body_renders_with_disclosure_and_resumes(tmp_path):
    from engine.rights.disclosure import read_disclosure

    drape = _dressed(tmp_path / "drape", synthetic=True)
    db = str(tmp_path / "rights.db")
    _register(db, drape)
    out = tmp_path / "out"
    images = stage_render(drape, out, Stages(out), views=3, size=64, renderers=("pyrender",), quiet=True,
                          consent=Consent(None, db=db))
    paths = images["pyrender"]
    assert len(paths) == 3 and all(p.exists() for p in paths)
    info = read_disclosure(paths[0])
    assert info["twin_id"] == "synthetic"
    assert (out / "contact_sheet.png").exists()
    assert read_disclosure(out / "contact_sheet.png")["ai_generated"]
    # a second run finds the stage finished and does not redraw
    before = [p.stat().st_mtime_ns for p in paths]
    again = stage_render(drape, out, Stages(out), views=3, size=64, renderers=("pyrender",), quiet=True,
                         consent=Consent(None, db=db))
    assert again["pyrender"] == paths
    assert [p.stat().st_mtime_ns for p in paths] == before


def test_an_unregistered_body_is_refused_whatever_dressed_json_says(tmp_path):
    from engine.rights import ConsentError

    drape = _dressed(tmp_path / "drape", synthetic=True)  # the editable flag says synthetic
    with pytest.raises(ConsentError, match="unregistered body"):
        stage_render(drape, tmp_path / "out", Stages(tmp_path / "out"), views=1, size=32,
                     renderers=("pyrender",), quiet=True, consent=Consent(None, db=str(tmp_path / "rights.db")))
    assert not (tmp_path / "out" / "renders").exists()


def test_real_twin_grant_checked_then_images_recorded(tmp_path):
    from engine.rights import ConsentError, Registry, ledger_rows

    db = str(tmp_path / "rights.db")
    reg = Registry.open(db)
    twin = reg.add_twin("Test Person")
    today = dt.date.today()
    grant = reg.add_grant(twin.id, "Maison", ["e-commerce"], ["FR"], today - dt.timedelta(days=1), today + dt.timedelta(days=30))
    drape = _dressed(tmp_path / "drape", synthetic=False)
    _register(db, drape, twin.id)

    # wrong region: refused before anything is drawn
    with pytest.raises(ConsentError):
        stage_render(drape, tmp_path / "no", Stages(tmp_path / "no"), views=2, size=32, renderers=("pyrender",),
                     quiet=True, consent=Consent(twin.id, "e-commerce", "IT", db))
    assert not (tmp_path / "no" / "renders").exists()

    out = tmp_path / "out"
    images = stage_render(drape, out, Stages(out), views=2, size=32, renderers=("pyrender",), quiet=True,
                          consent=Consent(twin.id, "e-commerce", "FR", db))
    rows = ledger_rows(reg, twin.id)
    assert len(rows) == 2
    assert {r.grant_id for r in rows} == {grant.id}

    # revoking stops the next render at once
    reg.revoke_grant(grant.id)
    with pytest.raises(ConsentError):
        stage_render(drape, tmp_path / "out2", Stages(tmp_path / "out2"), views=2, size=32,
                     renderers=("pyrender",), quiet=True, consent=Consent(twin.id, "e-commerce", "FR", db))
    assert len(images["pyrender"]) == 2
