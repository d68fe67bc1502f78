"""The one consent path (engine.rights.consent.clear): a body may be drawn only when the registry
knows it; a real person's body only under her own live grant, billed to her."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import numpy as np
import pytest

from engine.rights import ConsentError, ledger_rows
from engine.rights.consent import DrawnBody, clear, mesh_sha256, params_sha256, record_draped_body
from engine.rights.disclosure import read_disclosure
from engine.storage import read_json, write_json

from .conftest import D0, D1, db_arg, make_twin_folder

WHEN = date(2030, 6, 1)


@pytest.fixture
def two_twins(registry, tmp_path):
    """Ada (no print grant) and Bea (a print grant), each with her fitted body registered."""
    ada = registry.add_twin("Ada", twin_id="twin-ada")
    bea = registry.add_twin("Bea", twin_id="twin-bea")
    registry.add_grant(bea.id, "Maison", "print", "FR", D0, D1)
    a_dir = make_twin_folder(tmp_path / "ada", shape=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7), offset=0.0)
    b_dir = make_twin_folder(tmp_path / "bea", shape=(0.7, 0.6, 0.5, 0.4, 0.3, 0.2), offset=0.5)
    registry.add_fitted_version(ada.id, a_dir)
    registry.add_fitted_version(bea.id, b_dir)
    return a_dir, b_dir


def test_a_body_is_billed_to_its_twin_not_the_id_typed(registry, two_twins):
    a_dir, b_dir = two_twins
    # bypass 1: Ada's body with Bea's id (Bea has the print grant)
    with pytest.raises(ConsentError, match="belongs to twin twin-ada, not to twin twin-bea") as e:
        clear(registry, DrawnBody.mesh(a_dir / "body.ply"), "print", "FR", twin_id="twin-bea", when=WHEN)
    assert e.value.twin_id == "twin-ada"
    # Ada's body without an id: her own grants decide, and she has none for print
    with pytest.raises(ConsentError, match="twin twin-ada.*the twin has no grants"):
        clear(registry, DrawnBody.mesh(a_dir / "body.ply"), "print", "FR", when=WHEN)
    # Bea's body, with or without her id: cleared, and the clearance names her
    for tid in (None, "twin-bea"):
        c = clear(registry, DrawnBody.mesh(b_dir / "body.ply"), "print", "FR", twin_id=tid, when=WHEN)
        assert c.twin_id == "twin-bea" and c.grant.brand == "Maison" and not c.synthetic
    # a twin folder's body (generated from twin.json) is found by its parameters
    assert clear(registry, DrawnBody.twin(b_dir), "print", "FR", when=WHEN).twin_id == "twin-bea"


def test_the_synthetic_flag_in_files_decides_nothing(registry, two_twins, tmp_path):
    a_dir, _ = two_twins
    # bypass 2: a real person's twin folder edited to say synthetic is still her body
    tj = read_json(a_dir / "twin.json")
    tj["source"]["synthetic"] = True
    write_json(a_dir / "twin.json", tj)
    with pytest.raises(ConsentError, match="twin twin-ada"):
        clear(registry, DrawnBody.twin(a_dir), "social", "FR", when=WHEN)
    # ... and so is her shape nudged a little (a likeness), and her shape typed into a campaign
    tj["shape"] = [x + 0.005 for x in tj["shape"]]
    write_json(a_dir / "twin.json", tj)
    with pytest.raises(ConsentError, match="twin twin-ada"):
        clear(registry, DrawnBody.twin(a_dir), "social", "FR", when=WHEN)
    with pytest.raises(ConsentError, match="twin twin-ada"):
        clear(registry, DrawnBody.generated("anny", tj["shape"], "campaign twin 'x'"), "social", "FR", when=WHEN)
    # a folder nobody registered is refused, whatever it says about itself
    other = make_twin_folder(tmp_path / "stranger", shape=(0.9, 0.1, 0.9, 0.1, 0.9, 0.1), synthetic=True, offset=2.0)
    for body in (DrawnBody.twin(other), DrawnBody.mesh(other / "body.ply")):
        with pytest.raises(ConsentError, match="unregistered body"):
            clear(registry, body, "social", "FR", when=WHEN)
    # once the pipeline that made it records it as synthetic, it needs no consent and bills nobody
    registry.register_synthetic(other, made_by="test population")
    c = clear(registry, DrawnBody.twin(other), "social", "FR", when=WHEN)
    assert c.synthetic and c.grant is None and c.disclosure()["twin_id"] == "synthetic"
    with pytest.raises(ConsentError, match="registered synthetic body, not twin twin-ada"):
        clear(registry, DrawnBody.twin(other), "social", "FR", twin_id="twin-ada", when=WHEN)
    # a person's likeness cannot be recorded as synthetic
    with pytest.raises(ConsentError, match="likeness of twin twin-ada"):
        registry.register_synthetic(a_dir, made_by="test")


def test_generated_bodies_far_from_everyone_are_synthetic(registry, two_twins):
    c = clear(registry, DrawnBody.generated("anny", [0.95, 0.05, 0.95, 0.05, 0.95, 0.05], "campaign twin 'g'"),
              "social", "FR", when=WHEN)
    assert c.synthetic
    with pytest.raises(ConsentError, match="unregistered body.*twin twin-bea"):
        clear(registry, DrawnBody.generated("anny", [0.95, 0.05, 0.95, 0.05, 0.95, 0.05], "campaign twin 'g'"),
              "print", "FR", twin_id="twin-bea", when=WHEN)


def test_identity_ignores_pose_and_file_layout(tmp_path):
    assert params_sha256("anny", [0.5, 0.25]) == params_sha256("anny", [0.5000000001, 0.25])
    assert params_sha256("anny", [0.5, 0.25]) != params_sha256("smplx", [0.5, 0.25])
    d = make_twin_folder(tmp_path / "t")
    h = mesh_sha256(d / "body.ply")
    from engine.meshio import load_ply, save_ply

    v, f, _ = load_ply(d / "body.ply")
    save_ply(tmp_path / "again.ply", v + np.float32(1e-6), f, comments=["another comment"])
    assert mesh_sha256(tmp_path / "again.ply") == h
    save_ply(tmp_path / "moved.ply", v + np.float32(0.01), f)
    assert mesh_sha256(tmp_path / "moved.ply") != h


def test_a_drape_of_a_registered_body_is_hers(registry, two_twins, tmp_path):
    a_dir, _ = two_twins
    drape = make_twin_folder(tmp_path / "drape", offset=0.25)  # stands in for the posed body
    row = record_draped_body(registry, a_dir, drape / "body.ply", "test drape")
    assert row.twin_id == "twin-ada" and row.kind == "mesh"
    with pytest.raises(ConsentError, match="twin twin-ada"):
        clear(registry, DrawnBody.mesh(drape / "body.ply"), "print", "FR", twin_id="twin-bea", when=WHEN)
    # a twin.json changed between hashing and draping is not trusted
    assert record_draped_body(registry, a_dir, drape / "body.ply", "x", twin_json_sha256="0" * 64) is None


def test_expired_and_revoked_grants_are_listed_as_such(registry, two_twins):
    g = registry.add_grant("twin-ada", "Old", "social", "FR", date(2020, 1, 1), date(2020, 12, 31))
    assert g.state() == "expired" and "expired (ended 2020-12-31)" in g.describe()
    live = registry.grants("twin-bea")[0]
    assert live.state(date(2030, 5, 1)) == "live" and live.state(date(2029, 5, 1)) == "not started"
    assert registry.revoke_grant(live.id).state() == "revoked"


# --- the two bypasses of the issue, through the `atelier render` command -------------------------
def _drape_folder(folder, offset):
    import trimesh

    from engine.meshio import save_ply

    folder.mkdir(parents=True)
    body = trimesh.creation.capsule(height=1.2, radius=0.18)
    body.vertices[:, [1, 2]] = body.vertices[:, [2, 1]]
    body.vertices[:, 1] += 0.8 - body.vertices[:, 1].min() + offset
    dress = trimesh.creation.cylinder(radius=0.22, height=0.6)
    dress.vertices[:, [1, 2]] = dress.vertices[:, [2, 1]]
    dress.vertices[:, 1] += 0.9
    save_ply(folder / "body.ply", body.vertices, body.faces)
    save_ply(folder / "garment.ply", dress.vertices, dress.faces)
    write_json(folder / "dressed.json", {"source": {"synthetic": False}, "garment": "tube-dress"})
    return folder


def _render(*args):
    return subprocess.run([sys.executable, "-m", "atelier.cli", "render", *args, "--renderer", "pyrender",
                           "--views", "1", "--size", "32", "--quiet"], capture_output=True, text=True, timeout=600)


def test_render_command_refuses_both_bypasses(registry, tmp_path):
    from engine.rights.registry import Registry

    today = date.today()
    ada = registry.add_twin("Ada", twin_id="twin-ada")
    bea = registry.add_twin("Bea", twin_id="twin-bea")
    registry.add_grant(bea.id, "Maison", "print", "FR", today, today)
    a_drape = _drape_folder(tmp_path / "ada-drape", 0.0)
    registry.register_body(mesh_sha256(a_drape / "body.ply"), "mesh", ada.id, made_by="test drape")
    db = db_arg(registry)

    # 1. Ada's drape rendered with Bea's id: refused, naming Ada; nothing drawn, nothing billed
    r = _render(str(a_drape), "--twin-id", bea.id, "--channel", "print", "--region", "FR", "--db", db,
                "--out", str(tmp_path / "out1"))
    assert r.returncode == 4, r.stderr
    assert "belongs to twin twin-ada" in r.stderr and "Traceback" not in r.stderr
    assert not list((tmp_path / "out1").rglob("*.png"))

    # 2. dressed.json edited to say synthetic, no --twin-id: still Ada's body, and she has no grant
    write_json(a_drape / "dressed.json", {"source": {"synthetic": True}, "garment": "tube-dress"})
    r = _render(str(a_drape), "--channel", "social", "--region", "FR", "--db", db, "--out", str(tmp_path / "out2"))
    assert r.returncode == 4 and "twin twin-ada" in r.stderr and "Traceback" not in r.stderr
    assert not list((tmp_path / "out2").rglob("*.png"))

    # an unregistered body: refused as such
    stranger = _drape_folder(tmp_path / "s", 0.3)
    r = _render(str(stranger), "--channel", "print", "--region", "FR", "--db", db, "--out", str(tmp_path / "out3"))
    assert r.returncode == 4 and "unregistered body" in r.stderr
    with Registry.open(db) as reg:
        assert ledger_rows(reg) == []

    # Ada's body under Ada's own grant: drawn, stamped with her id, billed to her
    registry.add_grant(ada.id, "Maison", "print", "FR", today, today)
    r = _render(str(a_drape), "--channel", "print", "--region", "FR", "--db", db, "--out", str(tmp_path / "ok"))
    assert r.returncode == 0, r.stderr
    pngs = sorted((tmp_path / "ok" / "renders").rglob("*.png"))
    assert pngs and read_disclosure(pngs[0])["twin_id"] == "twin-ada"
    assert {row.twin_id for row in ledger_rows(registry)} == {"twin-ada"} and len(ledger_rows(registry)) == len(pngs)
