import numpy as np
import pytest
import torch
import trimesh

from bodies.measure import measure, measure_body, slice_loops
from bodies.poses import pose_preset
from engine.errors import InputError


def _body(model, pose="a-pose", shape=None):
    out = model(shape=shape, pose=pose_preset(model, pose))
    return out.vertices[0].numpy(), out.faces.numpy(), out.joints[0].numpy()


@pytest.fixture(scope="module")
def default_a(anny_model):
    return _body(anny_model)


def test_slice_of_a_cylinder_is_one_loop_with_its_circumference():
    # trimesh builds cylinders along z: turn it upright (+Y)
    upright = trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])
    cyl = trimesh.creation.cylinder(radius=0.15, height=1.0, sections=256, transform=upright)
    loops = slice_loops(cyl.vertices, cyl.faces, 0.1)
    assert len(loops) == 1
    from scipy.spatial import ConvexHull

    hull = ConvexHull(loops[0][:, [0, 2]])
    assert hull.area == pytest.approx(2 * np.pi * 0.15, rel=1e-3)  # 2-D "area" is the perimeter
    assert np.allclose(loops[0][:, 1], 0.1)
    two = trimesh.util.concatenate([cyl, cyl.copy().apply_translation([1.0, 0.0, 0.0])])
    assert len(slice_loops(two.vertices, two.faces, 0.0)) == 2
    assert slice_loops(cyl.vertices, cyl.faces, 5.0) == []


def test_default_body_measurements_are_plausible(default_a):
    m = measure_body(*default_a)
    assert 140 < m["height_cm"] < 200
    assert 75 < m["chest_cm"] < 115
    assert 55 < m["waist_cm"] < 100
    assert 80 < m["hips_cm"] < 120
    assert 25 < m["shoulder_width_cm"] < 50
    assert m["waist_cm"] < m["chest_cm"] and m["waist_cm"] < m["hips_cm"]
    # landmarks in anatomical order
    assert m["crotch_height_m"] <= m["hips_height_m"] < m["waist_height_m"] < m["chest_height_m"] < m["armpit_height_m"]
    assert m["armpit_height_m"] < m["height_cm"] / 100 * 0.85


def test_heavier_body_measures_larger(anny_model, default_a):
    heavy = _body(anny_model, shape=torch.tensor([[0.5, 0.5, 0.5, 1.0, 0.5, 0.5]]))
    a, b = measure(*default_a), measure(*heavy)
    assert b.chest_cm > a.chest_cm + 1.0
    assert b.waist_cm > a.waist_cm + 2.0
    assert b.hips_cm > a.hips_cm + 2.0


def test_t_and_a_pose_agree_below_the_arms(anny_model, default_a):
    t = measure(*_body(anny_model, "t-pose"))
    a = measure(*default_a)
    assert abs(t.waist_cm - a.waist_cm) < 1.0
    assert abs(t.hips_cm - a.hips_cm) < 1.0
    assert abs(t.chest_cm - a.chest_cm) < 4.0
    assert t.height_cm == pytest.approx(a.height_cm, abs=0.5)


def test_bad_inputs_raise_input_error(default_a):
    v, f, j = default_a
    with pytest.raises(InputError):
        measure_body(v, f, j[:5])
    with pytest.raises(InputError):
        # upside down: shoulders below the hips
        measure_body(v * np.array([1, -1, 1], dtype=np.float32), f, j * np.array([1, -1, 1], dtype=np.float32))


# --- tape measurements ---------------------------------------------------------------------------
from bodies.measure import TAPE_KEYS, measure_model, plane_circumference, tape_measurements  # noqa: E402


def test_plane_circumference_of_a_tilted_cylinder_and_a_box():
    tilt = trimesh.transformations.rotation_matrix(0.6, [1, 0, 0])
    cyl = trimesh.creation.cylinder(radius=0.05, height=0.6, sections=256, transform=tilt)
    axis = tilt[:3, :3] @ np.array([0.0, 0.0, 1.0])
    c = plane_circumference(cyl.vertices, cyl.faces, axis * 0.1, axis)
    assert c == pytest.approx(2 * np.pi * 0.05, rel=2e-3)
    # a horizontal cut of the tilted cylinder is an ellipse: longer
    assert plane_circumference(cyl.vertices, cyl.faces, axis * 0.1, [0, 1, 0]) > c * 1.05
    box = trimesh.creation.box(extents=[0.3, 1.0, 0.2])
    assert plane_circumference(box.vertices, box.faces, [0, 0.1, 0], [0, 1, 0]) == pytest.approx(1.0, rel=1e-6)
    # a plane that misses the shape, and a piece larger than allowed
    assert np.isnan(plane_circumference(box.vertices, box.faces, [0, 2.0, 0], [0, 1, 0]))
    assert np.isnan(plane_circumference(box.vertices, box.faces, [0, 0.1, 0], [0, 1, 0], max_radius=0.1))


def test_tape_measurements_are_plausible_on_anny(anny_model, default_a):
    t = tape_measurements(*default_a)
    m = t.to_dict()
    assert list(m) == list(TAPE_KEYS) and all(v is not None for v in m.values()), m
    assert 140 < m["height_cm"] < 200
    assert 60 < m["waist_cm"] < m["hips_cm"] < 130 and m["underbust_cm"] < m["bust_cm"]
    assert m["waist_cm"] < m["high_hip_cm"] < m["hips_cm"] + 1
    assert 25 < m["neck_cm"] < 45 and 30 < m["shoulder_width_cm"] < 55
    assert 45 < m["arm_length_cm"] < 70 and 60 < m["inseam_cm"] < 95
    assert m["calf_cm"] < m["thigh_cm"] < 75 and 20 < m["upper_arm_cm"] < 40
    lm = t.landmarks
    assert lm["crotch"] < lm["hips"] < lm["high_hip"] < lm["waist"] < lm["underbust"] < lm["bust"] < lm["neck"]
    # the existing keys used by garments are unchanged
    body = measure_body(*default_a)
    assert body["chest_cm"] == pytest.approx(m["bust_cm"], abs=0.01)
    assert {"chest_cm", "waist_cm", "hips_cm", "height_cm", "shoulder_width_cm", "chest_depth_cm",
            "waist_height_m"} <= set(body)


def test_heavier_body_measures_larger(anny_model):
    light = measure_model(anny_model, torch.tensor([[0.5, 0.5, 0.5, 0.2, 0.5, 0.5]]))
    heavy = measure_model(anny_model, torch.tensor([[0.5, 0.5, 0.5, 0.8, 0.5, 0.5]]))
    for k in ("bust_cm", "waist_cm", "hips_cm", "thigh_cm", "upper_arm_cm"):
        assert heavy[k] > light[k] + 1.0, k
