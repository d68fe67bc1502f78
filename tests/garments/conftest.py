"""Shared fixtures of the garment tests."""

import pytest

from bodies.poses import pose_preset


@pytest.fixture(scope="module")
def body(anny_model):
    """The default Anny body in the A-pose: (vertices (V, 3), faces (F, 3), joints (16, 3)), metres."""
    out = anny_model(pose=pose_preset(anny_model, "a-pose"))
    return out.vertices[0].numpy(), out.faces.numpy(), out.joints[0].numpy()
