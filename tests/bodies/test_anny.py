import numpy as np
import torch

from bodies.model import NAMED_JOINTS
from bodies.poses import pose_preset


def test_anny_canonical_output(anny_model):
    out = anny_model()
    v = out.vertices[0]
    assert out.vertices.shape == (1, 13718, 3) and out.vertices.dtype == torch.float32
    assert out.faces.shape == (27420, 3)
    assert out.joints.shape == (1, len(NAMED_JOINTS), 3)
    assert abs(float(v[:, 1].min())) < 1e-4  # feet on y = 0
    height = float(v[:, 1].max())
    assert 1.4 < height < 2.0
    j = {n: out.joints[0, i].numpy() for i, n in enumerate(NAMED_JOINTS)}
    assert j["left_shoulder"][0] > 0.1 and j["right_shoulder"][0] < -0.1  # left is +X
    assert j["head"][1] > j["neck"][1] > j["pelvis"][1] > j["left_knee"][1] > j["left_ankle"][1]
    # zero pose is a T-pose: elbows level with shoulders
    assert abs(j["left_elbow"][1] - j["left_shoulder"][1]) < 0.02
    # toes point forward (+Z)
    feet = v[v[:, 1] < 0.03]
    assert float(feet[:, 2].max()) > 0.1


def test_a_pose_lowers_arms_symmetrically(anny_model):
    out = anny_model(pose=pose_preset(anny_model, "a-pose"))
    j = {n: out.joints[0, i].numpy() for i, n in enumerate(NAMED_JOINTS)}
    d = j["left_elbow"] - j["left_shoulder"]
    angle = np.degrees(np.arctan2(-d[1], d[0]))
    assert 40 < angle < 50
    assert np.allclose(j["left_wrist"][[1, 2]], j["right_wrist"][[1, 2]], atol=1e-3)


def test_translation_and_batch(anny_model):
    shape = torch.tensor([[0.5] * 6, [0.5, 0.5, 0.5, 0.5, 1.0, 0.5]])
    out = anny_model(shape=shape, translation=torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    h = out.vertices[..., 1].amax(1)
    assert h[1] > h[0] + 0.1
    assert abs(float(out.vertices[1, :, 0].mean() - out.vertices[0, :, 0].mean()) - 1.0) < 0.01


def test_gradients_flow(anny_model):
    shape = torch.full((1, 6), 0.5, requires_grad=True)
    pose = torch.zeros(1, anny_model.num_pose, 3, requires_grad=True)
    out = anny_model(shape=shape, pose=pose)
    out.vertices.pow(2).sum().backward()
    assert shape.grad.abs().sum() > 0 and pose.grad.abs().sum() > 0


def test_detailed_anny_adds_girth_dimensions_after_the_phenotype(anny_model):
    import bodies

    detailed = bodies.create("anny-detailed")
    assert detailed.name == "anny-detailed" and anny_model.num_shape == 6
    assert detailed.shape_labels[:6] == anny_model.shape_labels and detailed.num_shape == 10
    assert "measure-waist-circ" in detailed.shape_labels
    shape = detailed.default_shape(1)
    assert torch.all(shape[0, 6:] == 0.0)
    lo, hi = detailed.shape_bounds()
    assert float(lo[6]) == -1.0 and float(hi[6]) == 1.0
    with torch.no_grad():
        same = detailed(shape).vertices
        plain = anny_model(anny_model.default_shape(1)).vertices
        shape[0, detailed.shape_labels.index("measure-waist-circ")] = 1.0
        wider = detailed(shape).vertices
    assert float((same - plain).abs().max()) < 1e-5  # no change at zero
    moved = (wider - same).norm(dim=-1)[0]
    assert 0.005 < float(moved.max()) < 0.1
    assert abs(float(wider[0, :, 1].min())) < 1e-5  # feet stay on y = 0


def test_forward_is_the_same_with_and_without_shape_gradient(anny_model):
    shape = anny_model.default_shape(2)
    shape[1, 3] = 0.8
    pose = anny_model.zero_pose(2)
    with torch.no_grad():
        a = anny_model(shape, pose).vertices
        b = anny_model(shape, pose).vertices  # cached rest body
    c = anny_model(shape.clone().requires_grad_(True), pose).vertices
    assert torch.equal(a, b) and float((a - c.detach()).abs().max()) < 1e-6
    assert float(a[:, :, 1].min(dim=1).values.abs().max()) < 1e-5


def test_one_body_many_poses_matches_one_by_one(anny_model):
    """One shape expanded over a batch of poses (the fit's finite differences) skins one rest
    body for every pose; each pose's body is the body that pose gives on its own."""
    from bodies.synthetic import random_pose

    rng = np.random.default_rng(11)
    shape = torch.tensor([[0.3, 0.6, 0.4, 0.7, 0.55, 0.45]])
    poses = torch.cat([random_pose(anny_model, "relaxed", rng) for _ in range(3)])
    with torch.no_grad():
        batch = anny_model(shape, poses, torch.tensor([[0.1, 0.0, -0.2]]))
        for i in range(3):
            one = anny_model(shape, poses[i : i + 1], torch.tensor([[0.1, 0.0, -0.2]]))
            assert torch.allclose(batch.vertices[i], one.vertices[0], atol=1e-5)
            assert torch.allclose(batch.joints[i], one.joints[0], atol=1e-5)
