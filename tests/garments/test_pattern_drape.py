import json

import numpy as np
import pytest
import trimesh

from bodies.twin import Twin
from engine.errors import SimulationError
from engine.meshio import load_ply
from garments import dress
from garments.cusick import cusick_test, drape_coefficient
from garments.drape import DrapeSettings, drape_garment
from garments.outfit import drape_twin

pytestmark = pytest.mark.blender


def test_drape_coefficient_of_flat_and_hanging_cloth():
    # a flat 30 cm disc shadows everything (DC 1); one shrunk to the 18 cm disc shadows nothing more (DC 0)
    a = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    ring = np.stack([np.cos(a), np.zeros(64), np.sin(a)], 1)
    v = np.concatenate([[[0, 0, 0]], ring * 0.15])
    f = np.array([[0, 1 + (i + 1) % 64, 1 + i] for i in range(64)])
    assert drape_coefficient(v, f) == pytest.approx(1.0, abs=0.03)
    assert drape_coefficient(v * [0.6, 1, 0.6], f) == pytest.approx(0.0, abs=0.03)


def test_cusick_silk_drapes_more_than_poplin(tmp_path):
    silk = cusick_test("silk-charmeuse", tmp_path / "silk", edge_m=0.03, max_frames=30)
    poplin = cusick_test("cotton-poplin", tmp_path / "poplin", edge_m=0.03, max_frames=30)
    assert 0.0 < silk.coefficient < poplin.coefficient <= 1.0
    assert silk.published == (0.2, 0.4) and isinstance(silk.in_range, bool)


def test_t_shirt_drapes_into_a_pose_with_fit_numbers(anny_model, tmp_path):
    twin = Twin.from_tensors(anny_model, anny_model.default_shape(), anny_model.zero_pose(), [0.0, 0.0, 0.0], pose_name="t-pose")
    twin.save(tmp_path / "twin", anny_model)
    out = tmp_path / "out"
    res = drape_twin(tmp_path / "twin", "t-shirt", out, model=anny_model, pose="relaxed", size="M",
                     fabric="cotton-jersey", resolution=700, max_frames=12)
    assert 500 < len(res.vertices) < 900 and res.frames <= 12
    assert res.penetration_pct <= 1.0
    v, f, attrs = load_ply(out / "garment.ply")
    assert {"clearance_mm", "strain_warp_pct", "strain_weft_pct", "strain_pct"} <= set(attrs)
    # most of the cloth is barely stretched against its flat pattern
    assert abs(float(np.median(attrs["strain_warp_pct"]))) < 5.0
    fit = json.loads((out / "fit.json").read_text())
    assert fit["size"] == "M" and fit["fabric"] == "cotton-jersey"
    assert {"bust", "waist", "shoulders"} <= set(fit["regions"])
    for row in fit["regions"].values():
        assert row["verdict"] in ("tight", "fitted", "relaxed", "loose")
    report = json.loads((out / "drape_report.json").read_text())
    assert report["posed_from_rest"] is True and report["ok"] is True
    scene = trimesh.load(out / "dressed.glb")
    assert len(scene.geometry) == 2
    assert res.log_path.exists() and "PROGRESS frame" in res.log_path.read_text()
    # the body moved: the posed body's arms are lower than the A-pose's
    body_v, _, _ = load_ply(out / "body.ply")
    assert np.isfinite(body_v).all()


def test_layering_top_over_a_draped_skirt(body, tmp_path):
    v, f, j = body
    bottom = drape_garment(v, f, j, "a-line-skirt", tmp_path / "skirt", resolution=500, max_frames=8, fabric="cotton-poplin")
    top = drape_garment(v, f, j, "t-shirt", tmp_path / "top", resolution=600, max_frames=16,
                        colliders=[(bottom.vertices, bottom.faces)])
    assert top.penetration_pct <= 1.0
    report = json.loads((tmp_path / "top" / "drape_report.json").read_text())
    assert report["layers_below"] == 1
    assert "collider1" not in report  # the colliders went into the job spec, not the report
    spec = json.loads((tmp_path / "top" / "drape_job.json").read_text())["spec"]
    assert len(spec["colliders"]) == 2


def test_pattern_penetration_guard_keeps_the_log(body, tmp_path, monkeypatch):
    v, f, j = body
    real = dress.place_pattern

    def inside(*a, **k):
        pos, sew = real(*a, **k)
        axis = np.array([pos[:, 0].mean(), 0, pos[:, 2].mean()])
        return (axis + (pos - axis) * [0.5, 1.0, 0.5]).astype(np.float32), sew

    monkeypatch.setattr(dress, "place_pattern", inside)
    with pytest.raises(SimulationError) as info:
        drape_garment(v, f, j, "a-line-skirt", tmp_path, resolution=400, max_frames=3)
    assert "penetration guard" in str(info.value)
    assert info.value.log_path.exists()


def test_pattern_explosion_guard(body, tmp_path):
    v, f, j = body
    with pytest.raises(SimulationError) as info:
        drape_garment(v, f, j, "shift-dress", tmp_path, resolution=400, max_frames=8,
                      settings=DrapeSettings(gravity=(0.0, -2.0e4, 0.0)))
    assert "exploded" in str(info.value)
    assert "SimulationFailed" in info.value.log_path.read_text()


def test_elastic_waistband_holds_the_skirt_at_the_waist(body, tmp_path):
    v, f, j = body
    res = drape_garment(v, f, j, "a-line-skirt", tmp_path, resolution=500, max_frames=40)
    z = np.load(tmp_path / "garment.npz")
    band = z["pin"] > 0
    assert 10 < band.sum() < 0.2 * len(band)  # the waistband's vertices, pinned
    start_y, end_y = z["rest_vertices"][band, 1], res.vertices[band, 1]
    # with gravity on since frame 20 the band is where the start shape put it, round the waist ...
    assert np.abs(end_y - start_y).max() < 0.005
    assert abs(float(np.median(end_y)) - float(dress.measure(v, f, j).waist_height_m)) < 0.06
    # ... and snug: the start clearance off the body, not inside it
    assert 0.0 < float(np.median(res.clearance_mm[band])) < 25.0


def test_pinned_vertices_follow_the_body_into_a_pose():
    rest = np.array([[0.0, 1.0, 0.0], [0.0, 0.5, 0.0], [1.0, 1.0, 0.0]])
    target = rest + [[0.0, 0.1, 0.0], [0.0, 0.0, 0.0], [0.2, 0.0, 0.0]]
    start = np.array([[0.0, 1.01, 0.02], [0.01, 0.52, 0.0], [0.5, 0.2, 0.0]], np.float32)
    moved = dress.follow_body(start, np.array([True, True, False]), rest, target)
    assert moved[0] == pytest.approx(start[0] + [0.0, 0.1, 0.0])  # went with the body point beside it
    assert moved[1] == pytest.approx(start[1])
    assert moved[2] == pytest.approx(start[2])  # not pinned: left to the simulation


def test_too_long_trousers_drape_turned_up_and_settle(body, tmp_path):
    # XXL trousers on the average body: hanging free (turn_up=False) their legs start 5 cm below
    # the soles, catch under the feet and were still moving at frame 200; turned up they settle
    v, f, j = body
    r = drape_garment(v, f, j, "straight-trousers", tmp_path, resolution=600, size="XXL", max_frames=120)
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert set(fit["turned_up_cm"]) == {"left_leg", "right_leg"} and min(fit["turned_up_cm"].values()) > 3.0
    assert json.loads(r.report_path.read_text())["turned_up_cm"] == fit["turned_up_cm"]
    assert r.settled
    assert float(r.vertices[:, 1].min()) > float(v[:, 1].min())  # nothing under the soles
