"""SMPL-X backend, exercised through the real ``smplx`` loader on a synthetic model file
(tests/smplx_synth.py: SMPL-X's layout and vertex count, a crude 1.70 m tube person)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

import bodies
from bodies.model import NAMED_JOINTS
from bodies.poses import pose_preset
from bodies.smplx_backend import SMPLX_BODY_JOINTS, SMPLXBody
from bodies.twin import Twin
from engine.errors import InputError
from engine.meshio import load_ply
from tests import smplx_synth as synth


@pytest.fixture(scope="module")
def nested_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smplx_nested")
    synth.write_synthetic_smplx(folder, layout="nested")
    return folder


@pytest.fixture(scope="module")
def flat_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smplx_flat")
    synth.write_synthetic_smplx(folder, layout="flat")
    return folder


@pytest.fixture(scope="module")
def model(nested_dir):
    return bodies.create("smplx", smplx_dir=str(nested_dir))


@pytest.fixture(autouse=True)
def _no_unpickling():
    synth.UNPICKLED.clear()
    yield
    assert synth.UNPICKLED == [], f"something unpickled a model file entry: {synth.UNPICKLED}"


def joints_of(out, b=0):
    return {n: out.joints[b, i].detach().numpy() for i, n in enumerate(NAMED_JOINTS)}


# --- loading ----------------------------------------------------------------------------------


def test_create_loads_the_nested_layout(model, nested_dir):
    assert isinstance(model, SMPLXBody) and model.name == "smplx"
    assert model.model_file == nested_dir / "smplx" / "SMPLX_NEUTRAL.npz"
    assert model.shape_labels == tuple(f"beta{i}" for i in range(10))
    assert model.pose_joint_names == SMPLX_BODY_JOINTS and model.num_pose == 22
    assert model.pose_joint_names[0] == "pelvis" and model.pose_index("pelvis") == 0
    assert model.pose_index("left_shoulder") == 16 and model.pose_index("right_elbow") == 19
    assert bodies.create("smplx", smplx_dir=str(nested_dir)) is model  # shared per process


def test_flat_layout_and_direct_file_give_the_same_body(model, flat_dir):
    flat = SMPLXBody(flat_dir)
    direct = SMPLXBody(flat_dir / "SMPLX_NEUTRAL.npz")
    with torch.no_grad():
        ref = model().vertices
        assert torch.equal(flat().vertices, ref)
        assert torch.equal(direct().vertices, ref)


def test_model_is_stateless_and_its_data_are_buffers(model):
    # smplx's stateful parameters are not created: every input goes through forward.
    assert list(model.parameters()) == []
    names = dict(model.named_buffers())
    for key in ("smplx.v_template", "smplx.shapedirs", "smplx.posedirs", "smplx.J_regressor",
                "smplx.lbs_weights", "smplx.faces_tensor", "_named_idx"):
        assert key in names, key


# --- forward ----------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 3])
def test_forward_shapes(model, batch):
    with torch.no_grad():
        out = model(shape=torch.zeros(batch, 10), pose=torch.zeros(batch, 22, 3))
    assert out.vertices.shape == (batch, 10475, 3) and out.vertices.dtype == torch.float32
    assert out.joints.shape == (batch, len(NAMED_JOINTS), 3) and out.joints.dtype == torch.float32
    assert out.faces.dtype == torch.int64 and out.faces.shape == model.faces_numpy().shape
    expected_faces = synth.synthetic_smplx_arrays()["f"].astype(np.int64)
    assert np.array_equal(model.faces_numpy(), expected_faces)


def test_rest_body_stands_on_the_floor_in_canonical_frame(model):
    with torch.no_grad():
        out = model()
    v = out.vertices[0].numpy()
    assert abs(v[:, 1].min()) < 1e-4
    assert abs(v[:, 1].max() - synth.SYNTH_HEIGHT) < 1e-3
    j = joints_of(out)
    assert j["left_shoulder"][0] > 0.1 and j["right_shoulder"][0] < -0.1  # left is +X
    assert j["head"][1] > j["neck"][1] > j["spine"][1] > j["pelvis"][1] > j["left_knee"][1] > j["left_ankle"][1]
    feet = v[v[:, 1] < 0.05]
    assert feet[:, 2].max() > 0.15  # toes point forward (+Z)


def test_named_joints_are_the_smplx_joints(model):
    """Each named joint is the SMPL-X joint the map names (synthetic joints sit at designed
    positions; the collar, spine1/3 and the foot would be elsewhere)."""
    with torch.no_grad():
        j = joints_of(model())
    designed = synth.designed_joints()
    for name, smplx_name in model.named_joint_map.items():
        err_mm = 1000 * np.linalg.norm(j[name] - designed[smplx_name])
        assert err_mm < 0.5, (name, smplx_name, err_mm)
    assert abs(j["left_shoulder"][0] - 0.18) < 1e-3  # the upper-arm joint, not the collar (0.07)


def test_a_pose_lowers_the_arms_45_degrees(model):
    with torch.no_grad():
        out = model(pose=pose_preset(model, "a-pose"))
    j = joints_of(out)
    d = j["left_elbow"] - j["left_shoulder"]
    assert j["left_elbow"][1] < j["left_shoulder"][1] - 0.1
    assert 44 < math.degrees(math.atan2(-d[1], d[0])) < 46
    assert np.allclose(j["left_wrist"] * [-1, 1, 1], j["right_wrist"], atol=1e-4)
    assert abs(float(out.vertices[0, :, 1].min())) < 1e-4  # legs did not move


def test_pose_rows_rotate_their_own_joint(model):
    pose = model.zero_pose()
    pose[0, model.pose_index("left_knee")] = torch.tensor([math.pi / 2, 0.0, 0.0])
    with torch.no_grad():
        rest, bent = joints_of(model()), joints_of(model(pose=pose))
    assert np.allclose(bent["right_ankle"], rest["right_ankle"], atol=1e-5)
    assert np.allclose(bent["left_knee"], rest["left_knee"], atol=1e-5)
    # +90 degrees about +X swings the shin from -Y to -Z (backwards), as for a real knee bend
    shin = bent["left_ankle"] - bent["left_knee"]
    assert shin[2] < -0.35 and abs(shin[1]) < 0.02


def test_global_orient_turns_the_body_about_the_pelvis(model):
    pose = model.zero_pose()
    pose[0, 0] = torch.tensor([0.0, math.pi, 0.0])
    with torch.no_grad():
        rest, turned = joints_of(model()), joints_of(model(pose=pose))
    assert np.allclose(turned["pelvis"], rest["pelvis"], atol=1e-5)
    assert turned["left_shoulder"][0] < -0.1  # facing -Z now, so the left side is at -X


def test_beta0_changes_height_and_feet_stay_on_the_floor(model):
    shape = torch.zeros(3, 10)
    shape[1, 0] = 2.0
    shape[2, 0] = -2.0
    translation = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.5, 0.0]])
    with torch.no_grad():
        out = model(shape=shape, translation=translation)
    v = out.vertices.numpy()
    heights = v[..., 1].max(1) - v[..., 1].min(1)
    expected = synth.SYNTH_HEIGHT * (1 + synth.BETA0_SCALE * shape[:, 0].numpy())
    assert np.allclose(heights, expected, atol=2e-3)
    assert heights[1] > heights[0] + 0.08
    assert np.allclose(v[:2, :, 1].min(1), 0.0, atol=1e-4)
    assert abs(v[2, :, 1].min() - 0.5) < 1e-4 and abs(v[2, :, 0].mean() - v[0, :, 0].mean() - 1.0) < 0.01


def test_gradients_flow_to_betas_and_pose(model):
    shape = torch.zeros(2, 10, requires_grad=True)
    pose = torch.zeros(2, 22, 3)
    pose[:, model.pose_index("left_elbow"), 1] = 0.3
    pose.requires_grad_(True)
    out = model(shape=shape, pose=pose)
    (out.vertices.pow(2).sum() + out.joints.pow(2).sum()).backward()
    assert shape.grad[:, 0].abs().min() > 0 and shape.grad[:, 1].abs().min() > 0
    assert pose.grad[:, model.pose_index("left_elbow")].abs().sum() > 0


# --- where the file comes from -----------------------------------------------------------------


def test_env_var_names_the_folder(flat_dir, monkeypatch):
    monkeypatch.setenv("ATELIER_SMPLX_DIR", str(flat_dir))
    bodies._smplx.cache_clear()
    try:
        m = bodies.create("smplx")
        assert m.model_file == flat_dir / "SMPLX_NEUTRAL.npz"
    finally:
        bodies._smplx.cache_clear()


def test_no_folder_says_how_to_provide_one(monkeypatch):
    monkeypatch.delenv("ATELIER_SMPLX_DIR", raising=False)
    bodies._smplx.cache_clear()
    with pytest.raises(InputError) as err:
        bodies.create("smplx")
    text = str(err.value)
    assert "--smplx-dir" in text and "ATELIER_SMPLX_DIR" in text and "licence" in text


def test_missing_folder_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such SMPL-X file or folder"):
        SMPLXBody(tmp_path / "nowhere")
    with pytest.raises(InputError, match="SMPLX_NEUTRAL.npz") as err:
        SMPLXBody(tmp_path)
    assert "--smplx-dir" in str(err.value)


def test_gender_picks_the_file(nested_dir):
    with pytest.raises(InputError, match="SMPLX_FEMALE"):
        SMPLXBody(nested_dir, gender="female")
    with pytest.raises(InputError, match="unknown SMPL-X gender"):
        SMPLXBody(nested_dir, gender="robot")


@pytest.mark.parametrize("where", ["flat", "nested", "direct"])
def test_pkl_model_is_refused_with_a_conversion_recipe(tmp_path, where):
    pkl = synth.model_path(tmp_path, "nested" if where == "nested" else "flat", ext="pkl")
    pkl.parent.mkdir(parents=True, exist_ok=True)
    pkl.write_bytes(pickle.dumps(synth.UnpickleTripwire("pkl")))
    with pytest.raises(InputError) as err:
        SMPLXBody(pkl if where == "direct" else tmp_path)
    text = str(err.value)
    assert ".pkl" in text and "np.savez" in text and "SMPLX_NEUTRAL.npz" in text and "latin1" in text


# --- what the file holds -----------------------------------------------------------------------


def test_needed_array_holding_pickled_objects_is_refused_before_smplx_reads_it(tmp_path):
    arrays = synth.synthetic_smplx_arrays()
    arrays["weights"] = synth.object_array(synth.UnpickleTripwire("weights"))
    path = synth.write_npz(synth.model_path(tmp_path, "flat"), arrays)
    with pytest.raises(InputError) as err:
        SMPLXBody(tmp_path)
    text = str(err.value)
    assert "'weights'" in text and "pickled" in text and "np.savez" in text
    assert synth.UNPICKLED == []
    # the tripwire works: loading the way smplx does would have run it
    with np.load(path, allow_pickle=True) as data:
        data["weights"]
    assert synth.UNPICKLED == ["weights"]
    synth.UNPICKLED.clear()


def test_pickled_name_tables_are_never_unpickled(tmp_path, model):
    """The released files carry joint2num/part2num as pickled dicts; they are left unread and
    smplx gets the plain arrays only."""
    arrays = synth.synthetic_smplx_arrays()
    arrays["joint2num"] = synth.object_array(synth.UnpickleTripwire("joint2num"))
    arrays["part2num"] = synth.object_array(synth.UnpickleTripwire("part2num"))
    synth.write_npz(synth.model_path(tmp_path, "nested"), arrays)
    m = SMPLXBody(tmp_path)
    assert synth.UNPICKLED == []
    with torch.no_grad():
        assert torch.equal(m().vertices, model().vertices)


def test_missing_key_is_named(tmp_path):
    arrays = synth.synthetic_smplx_arrays()
    del arrays["weights"], arrays["lmk_faces_idx"]
    synth.write_npz(synth.model_path(tmp_path, "flat"), arrays)
    with pytest.raises(InputError, match="missing 'weights', 'lmk_faces_idx'"):
        SMPLXBody(tmp_path)


def test_a_file_that_is_not_an_npz_is_refused(tmp_path):
    (tmp_path / "SMPLX_NEUTRAL.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(InputError, match="not a readable .npz"):
        SMPLXBody(tmp_path)


# --- twins -------------------------------------------------------------------------------------


def test_twin_round_trip_with_smplx(model, tmp_path):
    shape = torch.zeros(1, 10)
    shape[0, 0] = 1.0
    pose = pose_preset(model, "a-pose")
    translation = torch.tensor([[0.0, 0.0, 0.2]])
    twin = Twin.from_tensors(model, shape, pose, translation, pose_name="a-pose", source={"synthetic": True})
    twin.save(tmp_path / "twin", model)
    back = Twin.load(tmp_path / "twin")
    assert back.model == "smplx" and back.pose_name == "a-pose"
    assert np.allclose(back.shape, shape[0].numpy()) and np.array(back.pose).shape == (22, 3)
    verts, faces, joints = back.body(model)
    with torch.no_grad():
        ref = model(shape, pose, translation)
    assert np.allclose(verts, ref.vertices[0].numpy(), atol=1e-6)
    ply_v, ply_f, _ = load_ply(tmp_path / "twin" / "body.ply")
    assert ply_v.shape == (10475, 3) and ply_f.shape == faces.shape
    assert np.allclose(ply_v, verts, atol=1e-6)
