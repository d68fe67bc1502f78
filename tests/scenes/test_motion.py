"""Motion: catwalk / keyframes / BVH poses, cameras, and a 10-frame cloth animation in Blender."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bodies.poses import POSES, check_joint_limits, joint_angles, pose_tensor
from engine.errors import InputError
from scenes.motion import Catwalk, cameras, catwalk_poses, keyframe_poses, motion_poses, parse_keys


def test_catwalk_walks_forward_at_its_speed_and_turns_at_the_end():
    walk = Catwalk(turn_s=1.0)
    poses, trans = catwalk_poses(4.0, 30, walk)
    assert len(poses) == 120 and trans.shape == (120, 3)
    # before the turn it walks along +Z at step x cadence
    speed = (trans[60, 2] - trans[30, 2]) / 1.0
    assert speed == pytest.approx(walk.speed_mps, rel=0.02)
    assert joint_angles("pelvis", poses[-1]["pelvis"])["yaw"] == pytest.approx(180.0, abs=5.0) or \
        abs(joint_angles("pelvis", poses[-1]["pelvis"])["yaw"]) == pytest.approx(180.0, abs=5.0)
    for p in poses[::10]:
        assert check_joint_limits(p) == []
    # the legs alternate: half a cycle apart
    k = 7
    lf = joint_angles("left_hip", poses[k]["left_hip"])["flex"]
    rf = joint_angles("right_hip", poses[k]["right_hip"])["flex"]
    assert (lf - 3) * (rf - 3) < 0


def test_keyframes_interpolate_between_poses():
    keys = parse_keys("keys:soft-elbows@0,contrapposto@1")
    poses, _ = keyframe_poses(keys, 1.0, 10)
    assert len(poses) == 10
    assert np.allclose(poses[0]["left_elbow"], POSES["soft-elbows"]["left_elbow"])
    a = joint_angles("left_knee", POSES["contrapposto"]["left_knee"])["flex"]
    mid = joint_angles("left_knee", poses[5]["left_knee"])["flex"]
    assert 0.2 * a < mid < 0.9 * a


def test_bad_motions_are_clear_errors():
    with pytest.raises(InputError, match="unknown motion"):
        motion_poses("moonwalk", 1.0, 30, 0.9)
    with pytest.raises(InputError, match="NAME@SECONDS"):
        parse_keys("keys:@1")


def test_turntable_camera_turns_once_around_the_body():
    v = np.random.default_rng(0).normal(size=(24, 50, 3)) * 0.2 + [0, 0.9, 0]
    j = np.zeros((24, 16, 3)) + [0, 0.9, 0]
    cams = cameras("turntable", v, j, 64, 96)
    az = [math.degrees(math.atan2(c.position[0] - c.target[0], c.position[2] - c.target[2])) % 360 for c in cams]
    assert az[0] == pytest.approx(0.0, abs=1e-6) and az[6] == pytest.approx(90.0, abs=1e-6)
    assert all(c.width == 64 and c.height == 96 for c in cams)


# --- the Blender animation -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dressed(tmp_path_factory, anny_model):
    """A synthetic twin and a coarse tube skirt around its A-pose body (a drape folder)."""
    from bodies.twin import Twin
    from engine.meshio import save_ply
    from engine.render.demo import tube_garment

    root = tmp_path_factory.mktemp("motion")
    shape = anny_model.default_shape()
    twin = Twin.from_tensors(anny_model, shape, anny_model.zero_pose(), torch.zeros(3), source={"synthetic": True})
    twin.save(root / "twin", anny_model)
    with torch.no_grad():
        out = anny_model(shape=shape, pose=pose_tensor(anny_model, POSES["a-pose"], straight_arms=False))
    v = out.vertices[0].numpy()
    skirt = tube_garment(v, 0.55, 0.95, ease=0.03, rings=10, around=28)
    save_ply(root / "drape" / "garment.ply", skirt.vertices, skirt.faces)
    save_ply(root / "drape" / "body.ply", v, anny_model.faces_numpy())
    return root


@pytest.mark.blender
def test_ten_frame_catwalk_writes_video_exports_and_drops_the_preroll(dressed):
    pytest.importorskip("av", reason="PyAV is not installed")
    from engine.render.video import probe_mp4
    from engine.rights.disclosure import read_disclosure
    from scenes.motion import animate

    from engine.rights import Registry

    with Registry.open() as registry:  # the pipeline that made the body records it as synthetic
        registry.register_synthetic(dressed / "twin", "tests/scenes/test_motion.py")
    from engine.rights import C2paCredentials, c2pa_available, read_c2pa

    creds = None  # sign the MP4 where c2pa-python and cryptography (for the test CA) are installed
    try:
        from tests.engine.rights.certs import make_chain
    except ImportError:
        make_chain = None
    if c2pa_available() and make_chain is not None:
        creds = C2paCredentials(*make_chain())
    out = dressed / "anim"
    res = animate(dressed / "twin", dressed / "drape", out, motion="catwalk", frames=10, size=(64, 96),
                  camera="follow", preroll=4, decimate=0.05, timeout=900, c2pa=creds)
    assert len(res.frames) == 10 and sorted(p.name for p in (out / "frames").glob("*.png"))[-1] == "frame_0010.png"
    assert len(list((out / "frames").glob("*.png"))) == 10
    info = probe_mp4(res.mp4)
    assert (info.codec, info.pix_fmt, info.frames, info.width, info.height) == ("h264", "yuv420p", 10, 64, 96)
    assert info.metadata.get("ai_generated") == "true"
    assert read_disclosure(res.frames[0]).get("twin_id") == "synthetic"
    assert read_disclosure(res.mp4).get("twin_id") == "synthetic"  # delivered: the disclosure in the container
    if creds is not None:  # and a C2PA manifest for video/mp4
        assert read_c2pa(res.mp4)["validation_codes"] == ["signingCredential.untrusted"]
    # the pre-roll (4 frames + the drape's frame) was simulated and is not in the output
    assert res.preroll == 5
    with np.load(out / "work" / "cloth_frames.npz") as z:
        assert z["frames"].shape[0] == 10
    body = np.load(out / "work" / "body_frames.npz")["frames"]
    assert body.shape[0] == 15
    # every output frame is measured
    assert len(res.per_frame) == 10 and all(f["max_displacement_mm"] is not None for f in res.per_frame)
    assert res.worst_penetration_pct < 5.0
    # Alembic and USD with the animated mesh, one time sample per output frame
    assert res.alembic.is_file() and res.alembic.stat().st_size > 0
    pytest.importorskip("pxr", reason="usd-core is not installed")
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(res.usd))
    meshes = [p for p in stage.Traverse() if p.GetTypeName() == "Mesh"]
    names = {p.GetName() for p in meshes}
    assert any("garment" in n for n in names) and any("body" in n for n in names)
    garment = next(p for p in meshes if "garment" in p.GetName())
    samples = UsdGeom.Mesh(garment).GetPointsAttr().GetTimeSamples()
    assert len(samples) == 10
    body_mesh = next(p for p in meshes if "body" in p.GetName())
    assert len(UsdGeom.Mesh(body_mesh).GetPointsAttr().GetTimeSamples()) == 10


def test_odd_video_size_is_refused_before_anything_runs(dressed):
    from scenes.motion import animate

    with pytest.raises(InputError, match="even"):
        animate(dressed / "twin", dressed / "drape", dressed / "odd", frames=2, size=(63, 96))


@pytest.mark.blender
def test_an_outfits_layers_animate_in_order_each_over_the_ones_below(dressed):
    """Two layers (an inner and a wider outer tube): the outer is simulated over the body and the
    inner one's simulated frames, both are in the frames, the figures and the USD."""
    pytest.importorskip("av", reason="PyAV is not installed")
    import json
    import shutil

    from engine.meshio import load_ply, save_ply
    from engine.render.demo import tube_garment
    from engine.rights import Registry
    from scenes.motion import animate

    with Registry.open() as registry:
        registry.register_synthetic(dressed / "twin", "tests/scenes/test_motion.py")
    outfit = dressed / "outfit"
    body, bf, _ = load_ply(dressed / "drape" / "body.ply")
    (outfit / "layers" / "0-inner").mkdir(parents=True)
    shutil.copy(dressed / "drape" / "garment.ply", outfit / "layers" / "0-inner" / "garment.ply")
    outer = tube_garment(body, 0.6, 1.0, ease=0.06, rings=8, around=24)
    save_ply(outfit / "layers" / "1-outer" / "garment.ply", outer.vertices, outer.faces)
    save_ply(outfit / "body.ply", body, bf)
    (outfit / "outfit.json").write_text(json.dumps({"layers": ["layers/0-inner", "layers/1-outer"],
                                                    "colours": [[0.2, 0.3, 0.6, 1.0], [0.7, 0.2, 0.2, 1.0]]}))
    inner_n = len(load_ply(outfit / "layers" / "0-inner" / "garment.ply")[0])
    res = animate(dressed / "twin", outfit, dressed / "anim2", motion="catwalk", frames=4, size=(64, 96),
                  preroll=3, decimate=0.05, timeout=900)
    with np.load(dressed / "anim2" / "work" / "cloth_frames.npz") as z:
        assert z["frames"].shape == (4, inner_n + len(outer.vertices), 3)
        assert list(z["layer_vertices"]) == [inner_n, len(outer.vertices)]
    assert len(res.frames) == 4 and len(res.per_frame) == 4 and res.worst_penetration_pct < 5.0
    # the outer layer (red) is drawn over the inner one
    from PIL import Image

    px = np.asarray(Image.open(res.frames[-1]).convert("RGB")).reshape(-1, 3).astype(int)
    assert np.sum((px[:, 0] > 120) & (px[:, 1] < 90)) > 20
    pytest.importorskip("pxr", reason="usd-core is not installed")
    from pxr import Usd

    stage = Usd.Stage.Open(str(res.usd))
    names = {p.GetName() for p in stage.Traverse() if p.GetTypeName() == "Mesh"}
    assert sum("garment" in n for n in names) == 2


def test_pinned_waistband_goals_turn_with_the_body(tmp_path):
    """A pinned vertex keeps its offset from the body turned with the body's surface: after a
    180-degree turn it is outside the back, not inside (a translation alone put a waistband
    8 cm inside the waist at the end of the catwalk)."""
    import trimesh
    from scipy.spatial.transform import Rotation

    from scenes.motion import _cloth_arrays

    body = trimesh.creation.cylinder(radius=0.15, height=0.4, sections=48)
    v0 = np.asarray(body.vertices, np.float32)
    turned = Rotation.from_euler("y", 180, degrees=True).apply(v0).astype(np.float32)
    verts = np.stack([v0, turned])
    cv = np.array([[0.0, 0.0, 0.155], [0.0, 0.1, 0.3]], np.float32)  # 5 mm in front of the surface; a free one
    np.savez(tmp_path / "garment.npz", vertices=cv, pin=np.array([1.0, 0.0], np.float32))
    goal = _cloth_arrays(tmp_path, cv, np.zeros((0, 3), np.int64), verts, np.asarray(body.faces))["goal_frames"]
    np.testing.assert_allclose(goal[0, 0], cv[0], atol=1e-6)
    np.testing.assert_allclose(goal[1, 0], [0.0, 0.0, -0.155], atol=0.003)  # outside the back now
    np.testing.assert_allclose(goal[1, 1], cv[1])  # unpinned vertices keep their place
