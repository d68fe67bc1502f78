"""Body parts: each vertex of a body model labelled with the named joint that carries it.

The parts are found through the :class:`~bodies.model.BodyModel` interface only, so they mean the
same on Anny and SMPL-X: every named joint (:data:`~bodies.model.NAMED_JOINTS`) is turned a little
about each axis in one batched forward, and a vertex moved by a joint's turn as far as a point
rigidly attached to it would move is carried by that joint (its skinning weights, summed over the
joint's whole chain below it). A vertex belongs to the deepest named joint that carries at least
half of it: the forearm is the part of the elbow, the hand that of the wrist, the chest that of the
spine. The named joints' own tree (which joint's turn moves which joint) comes out of the same
forward.

Part names are the ones people read: ``PART_NAMES`` (``left_elbow`` -> "left forearm").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import NAMED_JOINTS, BodyModel

#: named joint -> the body part it carries, as printed in reports.
PART_NAMES = {
    "pelvis": "pelvis",
    "spine": "torso",
    "neck": "neck",
    "head": "head",
    "left_shoulder": "left upper arm",
    "right_shoulder": "right upper arm",
    "left_elbow": "left forearm",
    "right_elbow": "right forearm",
    "left_wrist": "left hand",
    "right_wrist": "right hand",
    "left_hip": "left thigh",
    "right_hip": "right thigh",
    "left_knee": "left lower leg",
    "right_knee": "right lower leg",
    "left_ankle": "left foot",
    "right_ankle": "right foot",
}

#: the joints of each limb, root to tip (the fit's limb search turns these).
LIMBS = {
    "left arm": ("left_shoulder", "left_elbow", "left_wrist"),
    "right arm": ("right_shoulder", "right_elbow", "right_wrist"),
    "left leg": ("left_hip", "left_knee", "left_ankle"),
    "right leg": ("right_hip", "right_knee", "right_ankle"),
}


@dataclass(frozen=True)
class BodyParts:
    """Vertex labels of one body model.

    Attributes:
        joints: the named joints, in :data:`NAMED_JOINTS` order; ``names``: their part names.
        label: (V,) int64 index into ``joints`` for every vertex (-1: a vertex no face uses).
        parent: (J,) int64 index of each named joint's nearest named ancestor (-1 for the root).
    """

    joints: tuple[str, ...]
    names: tuple[str, ...]
    label: np.ndarray
    parent: np.ndarray

    def index(self, joint: str) -> int:
        return self.joints.index(joint)

    def vertices_of(self, joint: str, below: bool = False) -> np.ndarray:
        """Vertex indices of a joint's part (``below``: and of every part under it in the tree)."""
        j = self.index(joint)
        want = {j}
        if below:
            grew = True
            while grew:
                grew = False
                for k, p in enumerate(self.parent):
                    if p in want and k not in want:
                        want.add(k)
                        grew = True
        return np.flatnonzero(np.isin(self.label, sorted(want)))


_CACHE: dict[int, BodyParts] = {}


def body_parts(model: BodyModel) -> BodyParts:
    """The parts of ``model``'s vertices (computed once per model object, ~0.3 s for Anny)."""
    key = id(model)
    if key not in _CACHE:
        _CACHE[key] = _compute(model)
    return _CACHE[key]


def _compute(model: BodyModel, h: float = 0.02) -> BodyParts:
    joints = NAMED_JOINTS
    rows = [model.pose_index(n) for n in joints]
    shape = model.default_shape(1)
    base = model.zero_pose(1)
    poses = base.repeat(3 * len(rows) + 1, 1, 1)
    for k, r in enumerate(rows):
        for c in range(3):
            poses[1 + 3 * k + c, r, c] += h
    with torch.no_grad():
        out = model(shape.expand(len(poses), -1), poses)
    v = out.vertices.double().cpu().numpy()
    jp = out.joints.double().cpu().numpy()
    v0, j0 = v[0], jp[0]
    n_j = len(joints)
    # carried share: |displacement|^2 summed over the three axes is 2 h^2 |r|^2 w^2 for a point at
    # distance r from the joint carried with weight w (small turns)
    carried = np.zeros((n_j, len(v0)))
    moves_joint = np.zeros((n_j, n_j), dtype=bool)
    for k in range(n_j):
        d = v[1 + 3 * k: 4 + 3 * k] - v0  # (3, V, 3)
        r2 = ((v0 - j0[k]) ** 2).sum(1)
        carried[k] = np.sqrt((d ** 2).sum((0, 2)) / np.maximum(2 * h * h * r2, 1e-12))
        dj = np.linalg.norm(jp[1 + 3 * k: 4 + 3 * k] - j0, axis=2).max(0)
        rj = np.linalg.norm(j0 - j0[k], axis=1)
        moves_joint[k] = dj > 0.5 * h * rj
        moves_joint[k, k] = False
    # the tree: a joint's parent is the deepest other joint whose turn moves it
    depth = moves_joint.sum(0)  # how many joints move each joint
    parent = -np.ones(n_j, dtype=np.int64)
    for k in range(n_j):
        above = np.flatnonzero(moves_joint[:, k])
        if len(above):
            parent[k] = above[np.argmax(depth[above])]
    # a vertex's part: the deepest joint carrying at least half of it
    held = carried >= 0.5
    score = np.where(held, depth[:, None].astype(np.float64), -1.0)
    label = np.argmax(score, axis=0).astype(np.int64)
    used = np.zeros(len(v0), dtype=bool)
    used[model.faces_numpy().reshape(-1)] = True
    label[~used | ~held.any(0)] = -1
    label[used & ~held.any(0)] = int(np.argmin(depth))  # nothing carries it: the root's
    return BodyParts(joints=tuple(joints), names=tuple(PART_NAMES[n] for n in joints), label=label, parent=parent)


__all__ = ["BodyParts", "body_parts", "PART_NAMES", "LIMBS"]
