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
