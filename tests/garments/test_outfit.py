"""The garment request and outfits: parsing, refusals, the layer guard, a 2-layer drape."""

import json

import numpy as np
import pytest
import trimesh

from engine.errors import InputError
from engine.meshio import load_ply
from garments.clearance import BodyDistance
from garments.outfit import GarmentRequest, Outfit, drape_outfit, layer_penetration


def test_requests_resolve_kind_fabric_aliases_and_sizes():
    r = GarmentRequest("t-shirt", size="m", fabric="jersey", colour="#ff0000", layer=1)
    assert (r.kind, r.size, r.fabric, r.layer) == ("pattern", "M", "cotton-jersey", 1)
    assert r.colour == pytest.approx((1.0, 0.0, 0.0, 1.0))
    # the old scene fabric names are aliases of the calibrated presets of the one registry
    assert GarmentRequest("tube-dress", fabric="silk").fabric == "silk-charmeuse"
    assert GarmentRequest("tube-dress", fabric="cotton").fabric == "cotton-poplin"
    assert GarmentRequest("tube-dress", fabric="denim").fabric == "denim"
    assert GarmentRequest("t-shirt", size="MTM").size == "mtm"
    assert GarmentRequest("tube-dress").kind == "template"


@pytest.mark.parametrize("kw, words", [
    ({"garment": "tube-dress", "size": "M"}, "not graded"),
    ({"garment": "t-shirt", "size": "XXXL"}, "unknown size"),
    ({"garment": "t-shirt", "fabric": "chainmail"}, "unknown fabric"),
    ({"garment": "t-shirt", "settings": {"ease": 0.02}}, "takes no settings"),
    ({"garment": "skirt", "settings": {"eas": 0.02}}, "no setting eas"),
    ({"garment": "ball-gown"}, "unknown garment"),
    ({"garment": "missing.obj"}, "does not exist"),
    ({"garment": "t-shirt", "layer": 12}, "layer"),
])
def test_bad_requests_are_refused_with_a_message(kw, words):
    with pytest.raises(InputError) as info:
        GarmentRequest(**kw)
    assert words in info.value.message


def test_outfit_file_layers_in_order_and_refuses_unknown_keys(tmp_path):
    f = tmp_path / "look.toml"
    f.write_text('name = "tee-over-trousers"\nsize = "L"\n'
                 '[[garments]]\npattern = "t-shirt"\nfabric = "jersey"\ncolour = "#c03030"\nlayer = 1\n'
                 '[[garments]]\npattern = "straight-trousers"\nfabric = "denim"\nlayer = 0\n')
    o = Outfit.load(f)
    assert o.name == "tee-over-trousers"
    assert [g.name for g in o.layered()] == ["straight-trousers", "t-shirt"]
    assert all(g.size == "L" for g in o.garments)
    assert Outfit.load(f).to_dict() == o.to_dict()
    f.write_text('[[garments]]\npattern = "t-shirt"\nsleeves = "long"\n')
    with pytest.raises(InputError, match="unknown keys sleeves"):
        Outfit.load(f)
    assert [g.layer for g in Outfit.of("straight-trousers", "t-shirt").garments] == [0, 1]


def _tube(radius, y0, y1, n=48, rings=20):
    """An open cylinder along +Y (outward normals), (vertices, faces)."""
    m = trimesh.creation.cylinder(radius=radius, height=y1 - y0, sections=n)
    m.apply_translation([0, 0, 0])
    m.vertices[:, [1, 2]] = m.vertices[:, [2, 1]]
    m.vertices[:, 1] += 0.5 * (y0 + y1)
    keep = np.abs(m.face_normals[:, 1]) < 0.5  # drop the caps: an open tube like a trouser leg
    m = trimesh.Trimesh(m.vertices, m.faces[keep])
    m = m.subdivide().subdivide()
    return np.asarray(m.vertices), np.asarray(m.faces)


def test_layer_penetration_reads_inside_against_the_body():
    body = trimesh.creation.cylinder(radius=0.15, height=1.0, sections=64)
    body.vertices[:, [1, 2]] = body.vertices[:, [2, 1]]
    body.faces = body.faces[:, ::-1] if body.volume < 0 else body.faces
    body.apply_translation([0, 0.5, 0])
    bd = BodyDistance(body.vertices, body.faces)
    iv, i_f = _tube(0.17, 0.2, 0.6)  # the inner layer: 2 cm off the body
    outside, _ = _tube(0.19, 0.3, 0.5)
    inside, _ = _tube(0.16, 0.3, 0.5)
    above, _ = _tube(0.155, 0.65, 0.9)  # tight on the body above the inner layer's open end
    assert layer_penetration(outside, iv, i_f, bd)[0] == 0.0
    frac, depth = layer_penetration(inside, iv, i_f, bd)
    assert frac > 0.95 and np.median(depth) == pytest.approx(0.01, abs=0.002)
    assert layer_penetration(above, iv, i_f, bd)[0] == 0.0


@pytest.mark.blender
def test_top_over_trousers_drapes_outside_the_trousers(body, tmp_path):
    v, f, j = body
    outfit = Outfit.of("straight-trousers", "t-shirt", size="M")
    res = drape_outfit(outfit, (v, f, j), tmp_path, resolution=600, max_frames=16)
    trousers, top = res.layers
    # the layer guard's own figure, and the same measured here: <= 1 % of the T-shirt's vertices
    # more than 2 mm inside the trousers, none far inside the body
    frac, depth = layer_penetration(top.vertices, trousers.vertices, trousers.faces, BodyDistance(v, f))
    assert frac <= 0.01
    assert res.layer_penetration_pct[1]["0-straight-trousers"] == pytest.approx(frac * 100, abs=1e-3)
    assert top.penetration_pct <= 1.0 and trousers.penetration_pct <= 1.0
    # the T-shirt hangs over the trousers where they overlap: over the waistband, not under it
    assert float(np.percentile(depth[depth > 0], 99) if (depth > 0).any() else 0.0) < 0.01
    gv, gf, attrs = load_ply(tmp_path / "garment.ply")
    assert len(gv) == len(trousers.vertices) + len(top.vertices)
    assert set(np.unique(attrs["layer"])) == {0.0, 1.0}
    report = json.loads((tmp_path / "drape_report.json").read_text())
    assert [layer["name"] for layer in report["layers"]] == ["0-straight-trousers", "1-t-shirt"]
    assert report["ok"] is True
    assert (tmp_path / "layers" / "1-t-shirt" / "fit.json").exists()
    assert len(trimesh.load(tmp_path / "dressed.glb").geometry) == 3
    spec = json.loads((tmp_path / "layers" / "1-t-shirt" / "drape_job.json").read_text())["spec"]
    assert len(spec["colliders"]) == 2  # the body and the trousers
