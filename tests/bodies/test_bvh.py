"""BVH retargeting onto the named joints: a clip the test writes comes back with known angles."""

from __future__ import annotations

import numpy as np
import pytest

from bodies.bvh import Retargeter, read_bvh, write_bvh
from bodies.poses import joint_angles
from engine.errors import InputError

ROT = ["Zrotation", "Xrotation", "Yrotation"]
ROOT = ["Xposition", "Yposition", "Zposition", *ROT]


def skeleton(arms_down: bool = False):
    """A CMU-style skeleton in centimetres, hips 100 cm above the feet's end sites."""
    arm = (0.0, -28.0, 0.0) if arms_down else (28.0, 0.0, 0.0)
    fore = (0.0, -25.0, 0.0) if arms_down else (25.0, 0.0, 0.0)
    mirror = lambda v: (-v[0], v[1], v[2])  # noqa: E731
    joints = [
        ("Hips", -1, (0.0, 100.0, 0.0), ROOT),          # 0
        ("LeftUpLeg", 0, (9.0, 0.0, 0.0), ROT),         # 1
        ("LeftLeg", 1, (0.0, -45.0, 0.0), ROT),         # 2
        ("LeftFoot", 2, (0.0, -49.6, 0.0), ROT),        # 3
        ("RightUpLeg", 0, (-9.0, 0.0, 0.0), ROT),       # 4
        ("RightLeg", 4, (0.0, -45.0, 0.0), ROT),        # 5
        ("RightFoot", 5, (0.0, -49.6, 0.0), ROT),       # 6
        ("Spine", 0, (0.0, 10.0, 0.0), ROT),            # 7
        ("Spine1", 7, (0.0, 20.0, 0.0), ROT),           # 8
        ("Neck", 8, (0.0, 20.0, 0.0), ROT),             # 9
        ("Head", 9, (0.0, 10.0, 0.0), ROT),             # 10
        ("LeftArm", 8, (16.0, 15.0, 0.0), ROT),         # 11
        ("LeftForeArm", 11, arm, ROT),                  # 12
        ("LeftHand", 12, fore, ROT),                    # 13
        ("RightArm", 8, (-16.0, 15.0, 0.0), ROT),       # 14
        ("RightForeArm", 14, mirror(arm), ROT),         # 15
        ("RightHand", 15, mirror(fore), ROT),           # 16
    ]
    hand = (0.0, -8.0, 0.0) if arms_down else (8.0, 0.0, 0.0)
    ends = {3: (0.0, -5.4, 12.0), 6: (0.0, -5.4, 12.0), 10: (0.0, 15.0, 0.0), 13: hand, 16: mirror(hand)}
    return joints, ends


def channel(joints, name: str, ch: str) -> int:
    k = 0
    for n, _, _, chans in joints:
        if n == name:
            return k + chans.index(ch)
        k += len(chans)
    raise KeyError(name)


@pytest.fixture
def clip_path(tmp_path):
    joints, ends = skeleton()
    n = sum(len(j[3]) for j in joints)
    frames = np.zeros((3, n))
    frames[:, channel(joints, "Hips", "Yposition")] = 0.0
    # frame 1: left elbow bent 60 degrees forward, left knee 45 back, hips turned 30 to the left
    frames[1, channel(joints, "LeftForeArm", "Yrotation")] = -60.0
    frames[1, channel(joints, "LeftLeg", "Xrotation")] = 45.0
    frames[1, channel(joints, "Hips", "Yrotation")] = 30.0
    # frame 2: walked 100 cm forwards, 5 cm lower
    frames[2, channel(joints, "Hips", "Zposition")] = 100.0
    frames[2, channel(joints, "Hips", "Yposition")] = -5.0
    return write_bvh(tmp_path / "clip.bvh", joints, frames, ends=ends)


def test_read_bvh_parses_hierarchy_and_frames(clip_path):
    clip = read_bvh(clip_path)
    assert len(clip.joints) == 17 and clip.joints[0].name == "Hips"
    assert clip.frames.shape == (3, 6 + 16 * 3)
    assert clip.fps == pytest.approx(30.0, rel=1e-3)
    assert clip.joints[3].end is not None


def test_rest_frame_of_a_t_pose_clip_is_the_zero_pose(clip_path):
    r = Retargeter(read_bvh(clip_path), hip_height_m=0.9).frame(0)
    for joint, aa in r.joints.items():
        assert np.linalg.norm(aa) < 1e-6, joint
    assert np.abs(r.translation).max() < 1e-6


def test_known_joint_angles_come_back(clip_path):
    r = Retargeter(read_bvh(clip_path), hip_height_m=0.9).frame(1)
    assert joint_angles("left_elbow", r.joints["left_elbow"])["flex"] == pytest.approx(60.0, abs=0.5)
    assert joint_angles("left_knee", r.joints["left_knee"])["flex"] == pytest.approx(45.0, abs=0.5)
    assert joint_angles("pelvis", r.joints["pelvis"])["yaw"] == pytest.approx(30.0, abs=0.5)
    # the children of the turned hips are not turned again
    assert np.linalg.norm(r.joints["spine"]) < 1e-6


def test_root_translation_is_scaled_to_the_body(clip_path):
    rt = Retargeter(read_bvh(clip_path), hip_height_m=0.9)
    assert rt.scale == pytest.approx(0.9 / 100.0, rel=1e-6)  # the feet's end sites 100 cm below the hips
    t = rt.frame(2).translation
    assert t[2] == pytest.approx(100.0 * 0.9 / 100.0, rel=1e-6)
    assert t[1] == pytest.approx(-5.0 * 0.9 / 100.0, rel=1e-6)


def test_rest_pose_offsets_of_an_arms_down_clip(tmp_path):
    joints, ends = skeleton(arms_down=True)
    n = sum(len(j[3]) for j in joints)
    path = write_bvh(tmp_path / "down.bvh", joints, np.zeros((1, n)), ends=ends)
    r = Retargeter(read_bvh(path), hip_height_m=0.9).frame(0)
    left = joint_angles("left_shoulder", r.joints["left_shoulder"])
    right = joint_angles("right_shoulder", r.joints["right_shoulder"])
    assert left["raise_"] == pytest.approx(-90.0, abs=0.5) and right["raise_"] == pytest.approx(-90.0, abs=0.5)
    assert np.linalg.norm(r.joints["left_elbow"]) < 1e-6  # the forearm continues the upper arm


def test_retargeted_frame_bends_the_body_model(clip_path, anny_model):
    import torch

    from bodies.model import NAMED_JOINTS
    from bodies.poses import pose_tensor

    r = Retargeter(read_bvh(clip_path), hip_height_m=0.9).frame(1)
    with torch.no_grad():
        j = anny_model(pose=pose_tensor(anny_model, r.joints)).joints[0].numpy()
    n = list(NAMED_JOINTS)
    u = j[n.index("left_elbow")] - j[n.index("left_shoulder")]
    f = j[n.index("left_wrist")] - j[n.index("left_elbow")]
    angle = np.degrees(np.arccos(u @ f / np.linalg.norm(u) / np.linalg.norm(f)))
    assert angle == pytest.approx(60.0, abs=3.0)


def test_malformed_bvh_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n")
    with pytest.raises(InputError, match="bad.bvh"):
        read_bvh(bad)
    (tmp_path / "x.bvh").write_text("hello")
    with pytest.raises(InputError, match="not a BVH"):
        read_bvh(tmp_path / "x.bvh")
