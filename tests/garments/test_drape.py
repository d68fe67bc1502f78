import json

import numpy as np
import pytest

from bodies.twin import Twin
from engine.errors import SimulationError
from engine.meshio import load_ply
from garments.drape import DrapeResult, DrapeSettings, drape_garment, penetration
from garments.outfit import drape_twin
from garments.templates import GarmentMesh, make_garment

pytestmark = pytest.mark.blender


def test_penetration_fraction():
    assert penetration(np.array([0.01, -0.001, -0.003, 0.0])) == pytest.approx(0.25)
    assert penetration(np.array([])) == 0.0


def test_low_res_tube_dress_drapes_on_a_twin(anny_model, tmp_path):
    twin = Twin.from_tensors(anny_model, anny_model.default_shape(), anny_model.zero_pose(), [0.0, 0.0, 0.0], pose_name="t-pose")
    twin.save(tmp_path / "twin", anny_model)
    lines = []
    res = drape_twin(tmp_path / "twin", "tube-dress", tmp_path / "out", model=anny_model, pose="a-pose",
                     resolution=1000, max_frames=20, progress=lines.append)
    assert isinstance(res, DrapeResult)
    assert res.penetration_pct < 1.0
    assert np.all(np.isfinite(res.vertices)) and res.vertices.shape == (len(res.clearance_mm), 3)
    assert 900 < len(res.vertices) < 1200
    assert 1 <= res.frames <= 20 and len(lines) == res.frames and lines[0].startswith("frame 1/20")
    assert res.seconds_per_frame > 0
    # the cloth moved under gravity but stayed on the body (median clearance a few cm at most)
    rest = np.load(res.npz_path)["rest_vertices"]
    assert np.abs(res.vertices - rest).max() > 0.001
    assert 0.0 < np.median(res.clearance_mm) < 60.0
    # files: PLY with clearance, npz, report, log
    v, f, attrs = load_ply(res.ply_path)
    assert v.shape == res.vertices.shape and f.shape == res.faces.shape
    assert np.allclose(attrs["clearance_mm"], res.clearance_mm, atol=1e-3)
    report = json.loads(res.report_path.read_text())
    assert report["garment"] == "tube-dress" and report["ok"] is True
    assert report["frames"] == res.frames and report["vertices"] == len(res.vertices)
    assert 75 < report["measurements"]["chest_cm"] < 115
    assert res.log_path.exists() and "PROGRESS frame" in res.log_path.read_text()


def test_garment_inside_the_body_fails_validation(body, tmp_path):
    v, f, j = body
    g = make_garment("tube-dress", v, f, j, resolution=600)
    # shrink the dress toward its axis: most of it now starts inside the body
    axis = g.vertices[:, [0, 2]].mean(0)
    inner = g.vertices.copy()
    inner[:, [0, 2]] = axis + 0.6 * (inner[:, [0, 2]] - axis)
    bad = GarmentMesh("tube-dress", inner, g.faces, g.pin, g.params)
    with pytest.raises(SimulationError) as info:
        drape_garment(v, f, j, garment=bad, out_dir=tmp_path, max_frames=3)
    assert "inside the body" in str(info.value)
    assert info.value.log_path.exists()
    report = json.loads((tmp_path / "drape_report.json").read_text())
    assert report["ok"] is False and report["penetration_pct"] > 1.0


def test_explosion_is_a_simulation_error(body, tmp_path):
    v, f, j = body
    settings = DrapeSettings(gravity=(0.0, -2.0e4, 0.0))
    with pytest.raises(SimulationError) as info:
        drape_garment(v, f, j, out_dir=tmp_path, resolution=400, max_frames=5, settings=settings)
    assert "exploded" in str(info.value)
    assert info.value.log_path.exists()
    assert "SimulationFailed" in info.value.log_path.read_text()
    assert not (tmp_path / "garment.ply").exists()
