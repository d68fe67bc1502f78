"""The pose library: named-joint presets within joint limits, without self-penetration, on both
backends; fingers where Anny has them; pose files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import bodies
from bodies.model import NAMED_JOINTS
from bodies.posefile import load_pose_file, parse_pose, resolve_pose, save_pose_file
from bodies.poses import (
    CONTACT_ALLOWANCE_PCT, FASHION_POSES, POSES, check_joint_limits, fashion_pose_names, floor_translation, joint_angles, pose_preset,
    posed_body, rotation, stool_for,
)
from bodies.selfcontact import SelfPenetrationCheck
from engine.errors import InputError
from tests import smplx_synth as synth

#: the most a preset may push of the skin inside another body part (percent of vertices):
#: resting contact (a hand on a hip, an arm against the side) reads a few tenths.
MAX_SELF_PENETRATION_PCT = 1.0


def _angle(j, a, b, c):
    n = list(NAMED_JOINTS)
    u = j[n.index(b)] - j[n.index(a)]
    v = j[n.index(c)] - j[n.index(b)]
    return math.degrees(math.acos(float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))))


def test_library_has_the_fashion_poses_on_named_joints():
    names = fashion_pose_names()
    assert len(names) >= 12
    for want in ("contrapposto", "hand-on-hip", "hands-on-hips", "walking-stride", "three-quarter-turn",
                 "arms-crossed", "hand-at-collar", "hands-behind-back", "crossed-ankles", "over-the-shoulder",
                 "soft-elbows", "seated-stool"):
        assert want in names and want in POSES
    for name in names:
        assert set(POSES[name]) <= set(NAMED_JOINTS), name


@pytest.mark.parametrize("name", sorted(POSES))
def test_every_preset_is_within_joint_limits(name):
    assert check_joint_limits(POSES[name]) == []


def test_joint_angles_read_back_what_rotation_wrote():
    for joint, angles in (("left_shoulder", dict(raise_=-40, forward=-14, twist=18)),
                          ("right_shoulder", dict(raise_=-60, forward=35, twist=-10)),
                          ("left_hip", dict(flex=30, out=5, twist=10)), ("right_knee", dict(flex=45)),
                          ("spine", dict(bend=10, side=-5, turn=20)), ("right_ankle", dict(point=20, turn_out=5))):
        back = joint_angles(joint, rotation(joint, **angles))
        for k, v in angles.items():
            assert back[k] == pytest.approx(v, abs=1e-6), (joint, k)


def test_limits_catch_an_impossible_knee_and_elbow():
    bad = {"left_knee": rotation("left_knee", flex=-40), "right_elbow": rotation("right_elbow", flex=170)}
    found = {(v.joint, v.angle) for v in check_joint_limits(bad)}
    assert found == {("left_knee", "flex"), ("right_elbow", "flex")}


@pytest.fixture(scope="module")
def anny_check(anny_model):
    with torch.no_grad():
        rest = anny_model()
    return SelfPenetrationCheck(rest.vertices[0].numpy(), rest.joints[0].numpy(), anny_model.faces_numpy())


@pytest.mark.parametrize("name", ["t-pose", "a-pose", "relaxed", *FASHION_POSES])
def test_anny_presets_do_not_pass_through_themselves(name, anny_model, anny_check):
    with torch.no_grad():
        v = anny_model(pose=pose_preset(anny_model, name)).vertices[0].numpy()
    r = anny_check(v)
    print(f"{name}: {r.percent:.2f} % of {r.sampled} vertices inside another part {r.parts}")
    assert r.percent <= CONTACT_ALLOWANCE_PCT.get(name, MAX_SELF_PENETRATION_PCT), (name, r.parts)


def test_self_penetration_check_sees_an_arm_through_the_torso(anny_model, anny_check):
    # the upper arm swung 80 degrees across the chest with the forearm folded back into it
    j = {"left_shoulder": rotation("left_shoulder", raise_=-20, forward=130),
         "left_elbow": rotation("left_elbow", flex=150)}
    from bodies.poses import pose_tensor

    with torch.no_grad():
        v = anny_model(pose=pose_tensor(anny_model, j)).vertices[0].numpy()
    r = anny_check(v)
    assert r.percent > 2 * MAX_SELF_PENETRATION_PCT and r.count > 100


def test_anny_hands_are_relaxed_not_flat(anny_model):
    names = anny_model.pose_joint_names
    pose = pose_preset(anny_model, "soft-elbows")
    for bone in ("finger2-1.L", "finger3-2.R", "finger1-1.L"):
        assert torch.linalg.norm(pose[0, names.index(bone)]) > math.radians(5)
    # the flat-hand presets the garments were tuned on keep flat hands
    assert torch.count_nonzero(pose_preset(anny_model, "a-pose")[0, names.index("finger2-1.L")]) == 0


def test_elbow_flex_means_the_same_bend_on_both_backends(anny_model, tmp_path_factory):
    smplx_model = bodies.create("smplx", smplx_dir=str(_synth_dir(tmp_path_factory)))
    for model in (anny_model, smplx_model):
        with torch.no_grad():
            j = model(pose=pose_preset(model, "soft-elbows")).joints[0].numpy()
        assert _angle(j, "left_shoulder", "left_elbow", "left_wrist") == pytest.approx(28.0, abs=4.0), model.name
        assert _angle(j, "right_shoulder", "right_elbow", "right_wrist") == pytest.approx(28.0, abs=4.0), model.name


_SYNTH = {}


def _synth_dir(factory):
    if "dir" not in _SYNTH:
        folder = factory.mktemp("smplx_poses")
        synth.write_synthetic_smplx(folder, layout="nested")
        _SYNTH["dir"] = folder
    return _SYNTH["dir"]


def test_presets_apply_on_smplx(tmp_path_factory):
    model = bodies.create("smplx", smplx_dir=str(_synth_dir(tmp_path_factory)))
    with torch.no_grad():
        rest = model()
        check = SelfPenetrationCheck(rest.vertices[0].numpy(), rest.joints[0].numpy(), model.faces_numpy())
        for name in FASHION_POSES:
            out, t = posed_body(model, name)
            v = out.vertices[0].numpy()
            assert np.isfinite(v).all() and abs(float(v[:, 1].min())) < 1e-5, name
            assert not np.allclose(v, rest.vertices[0].numpy()), name
            r = check(v)
            # the synthetic body is tubes that overlap at every joint: only gross failures show
            assert r.percent < 15.0, (name, r.parts)


def test_seated_pose_sits_on_its_stool(anny_model):
    out, _ = posed_body(anny_model, "seated-stool")
    v, j = out.vertices[0].numpy(), out.joints[0].numpy()
    sv, sf = stool_for(v, j)
    top = float(sv[:, 1].max())
    hip_y = float(j[list(NAMED_JOINTS).index("left_hip"), 1])
    assert 0.3 < top < hip_y
    assert sf.max() < len(sv)
    # seated, the feet stay on the floor
    assert abs(float(v[:, 1].min())) < 1e-5


def test_floor_translation_puts_the_lowest_vertex_on_the_floor():
    v = torch.tensor([[[0.0, 0.3, 0.0], [0.0, 1.0, 0.0]], [[0.0, -0.2, 0.0], [0.0, 1.0, 0.0]]])
    t = floor_translation(v)
    assert torch.allclose((v + t[:, None])[..., 1].amin(dim=1), torch.zeros(2))


# --- pose files ----------------------------------------------------------------------------------


def test_pose_file_round_trip(tmp_path, anny_model):
    path = save_pose_file(tmp_path / "p.json", "contra", POSES["contrapposto"], hands="relaxed")
    spec = load_pose_file(path)
    assert spec.name == "contra" and spec.hands == "relaxed"
    assert torch.allclose(spec.tensor(anny_model), pose_preset(anny_model, "contrapposto"), atol=1e-5)
    assert torch.allclose(resolve_pose(anny_model, str(path)), pose_preset(anny_model, "contrapposto"), atol=1e-5)


def test_anatomical_pose_file(tmp_path):
    path = tmp_path / "lean.json"
    path.write_text(json.dumps({"format": "atelier-pose", "version": 1, "joints": {
        "left_shoulder": {"raise_": -80, "forward": 6}, "right_knee": {"flex": 20}}}))
    spec = load_pose_file(path)
    assert spec.name == "lean"
    assert joint_angles("right_knee", spec.joints["right_knee"])["flex"] == pytest.approx(20.0)


@pytest.mark.parametrize("data, match", [
    ({"joints": {"left_thumb": [0, 0, 0]}, "convention": "axis-angle"}, "unknown joint 'left_thumb'"),
    ({"joints": {"left_knee": {"bend": 10}}}, "no angle 'bend'"),
    ({"joints": {"left_knee": [0, 0]}, "convention": "axis-angle"}, r"\[x, y, z\]"),
    ({"hands": "claw"}, "unknown hand shape"),
    ({"format": "other"}, "format"),
])
def test_bad_pose_files_are_one_clear_error(data, match):
    with pytest.raises(InputError, match=match):
        parse_pose(data, "p.json")
