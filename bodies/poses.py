"""Pose presets defined on named joints, so they mean the same on every backend.

Each preset gives axis-angle rotations (radians) in the canonical frame (+Y up, facing +Z, the
body's left along +X) for named joints; a backend applies each at the model joint that
``named_joint_map`` names. Both backends rest in a T-pose.
"""

from __future__ import annotations

import math

import torch

from .model import BodyModel

_DEG = math.pi / 180.0

#: preset name -> {named joint: (axis-angle x, y, z) radians}
POSES: dict[str, dict[str, tuple[float, float, float]]] = {
    "t-pose": {},
    # Arms lowered 45 degrees from the T-pose: the classic A-pose for draping.
    "a-pose": {
        "left_shoulder": (0.0, 0.0, -45 * _DEG),
        "right_shoulder": (0.0, 0.0, 45 * _DEG),
    },
    # Arms down along the body with a small elbow bend, feet slightly apart.
    "relaxed": {
        "left_shoulder": (0.0, 0.0, -65 * _DEG),
        "right_shoulder": (0.0, 0.0, 65 * _DEG),
        "left_elbow": (0.0, -15 * _DEG, 0.0),
        "right_elbow": (0.0, 15 * _DEG, 0.0),
        "left_hip": (0.0, 0.0, 4 * _DEG),
        "right_hip": (0.0, 0.0, -4 * _DEG),
    },
}


def pose_names() -> list[str]:
    return sorted(POSES)


def pose_preset(model: BodyModel, name: str, batch: int = 1) -> torch.Tensor:
    """(B, P, 3) float32 pose tensor for ``model`` from a preset name."""
    if name not in POSES:
        from engine.errors import InputError

        raise InputError(f"unknown pose {name!r}", hint=f"choose one of: {', '.join(pose_names())}")
    pose = model.zero_pose(batch)
    for joint, aa in POSES[name].items():
        pose[:, model.pose_index(joint)] = torch.tensor(aa, dtype=pose.dtype)
    return pose
