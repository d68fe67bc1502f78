"""Self-penetration of a posed body: how much of the skin passes inside another part of the body.

A point just outside the skin (a vertex pushed ``offset_m`` out along its normal) has a
generalised winding number of about 0 with respect to the closed body surface; if it lies inside
another part (a forearm sunk into the torso, a thigh into the other thigh) its winding number is
about 1. :func:`self_penetration` counts such vertices. Vertices that are already "inside" in the
rest T-pose (eyeballs inside the head, the mouth, skin folds) are structural and are not counted
in other poses. Each penetrating vertex is attributed to a body part (the bone segments between
named joints, assigned in the rest pose) for the report. (A depth is not reported: pushing a
vertex along its normal measures the part it sank into, not how deep, and nearest-surface
distances need a part segmentation finer than bone segments give at the armpits and groin.)

All arrays: metres, canonical frame. Winding numbers by Van Oosterom and Strackee's solid angle
formula with Warp's fast (dipole-approximated) winding numbers over a BVH: milliseconds a pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import NAMED_JOINTS

#: bone segments between named joints; a vertex's part is the nearest segment in the rest pose.
SEGMENTS = (
    ("pelvis", "spine"), ("spine", "neck"), ("neck", "head"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
)
#: body part of each segment (segments of one part do not count as penetrating each other)
_PART = ("torso", "torso", "head", "l_upperarm", "l_forearm", "r_upperarm", "r_forearm",
         "l_thigh", "l_shin", "r_thigh", "r_shin")


_KERNEL = None


def _inside_kernel():
    """The Warp kernel (built on first use; Warp caches the compiled code under ~/.cache/warp)."""
    global _KERNEL
    if _KERNEL is None:
        import warp as wp

        @wp.kernel
        def inside_kernel(mesh: wp.uint64, pts: wp.array(dtype=wp.vec3), out: wp.array(dtype=float)):
            i = wp.tid()
            q = wp.mesh_query_point_sign_winding_number(mesh, pts[i], 1.0e6, 2.0, 0.5)
            out[i] = q.sign

        _KERNEL = inside_kernel
    return _KERNEL


def inside_mesh(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(N,) bool: each of the (N, 3) points lies inside the mesh (V, 3), (F, 3) by its generalised
    winding number (> 0.5; Warp's fast winding numbers, robust to small holes)."""
    import warp as wp

    wp.config.log_level = wp.LOG_WARNING
    with wp.ScopedDevice("cpu"):
        mesh = wp.Mesh(points=wp.array(np.asarray(vertices, np.float32), dtype=wp.vec3),
                       indices=wp.array(np.asarray(faces, np.int32).reshape(-1), dtype=wp.int32),
                       support_winding_number=True)
        pts = wp.array(np.asarray(points, np.float32), dtype=wp.vec3)
        out = wp.zeros(len(points), dtype=float)
        wp.launch(_inside_kernel(), dim=len(points), inputs=[mesh.id, pts, out])
        return out.numpy() < 0


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)


def body_parts(rest_vertices: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """(V,) int part index (into the parts of :data:`SEGMENTS`) of each vertex, by the nearest
    bone segment in the rest pose."""
    v = np.asarray(rest_vertices, np.float64)
    j = np.asarray(rest_joints, np.float64)
    names = list(NAMED_JOINTS)
    parts = sorted(set(_PART), key=_PART.index)
    best = np.full(len(v), np.inf)
    label = np.zeros(len(v), np.int64)
    for (a, b), part in zip(SEGMENTS, _PART):
        p, q = j[names.index(a)], j[names.index(b)]
        d = q - p
        t = np.clip(((v - p) @ d) / max(d @ d, 1e-12), 0.0, 1.0)
        dist = np.linalg.norm(v - (p + t[:, None] * d), axis=1)
        closer = dist < best
        best[closer] = dist[closer]
        label[closer] = parts.index(part)
    return label


@dataclass
class SelfPenetration:
    """Self-penetration figures of one posed body.

    Attributes:
        fraction: share of the sampled vertices inside another part of the body (0-1).
        count: number of such sampled vertices.
        sampled: number of vertices tested (every ``stride``-th vertex, minus the structural ones).
        parts: {part name: penetrating vertex count}.
    """

    fraction: float
    count: int
    sampled: int
    parts: dict[str, int]

    @property
    def percent(self) -> float:
        return 100.0 * self.fraction


class SelfPenetrationCheck:
    """Measures :class:`SelfPenetration` of poses of one body (shape), reusing its rest pose.

    Args:
        rest_vertices, rest_joints: the body in its rest T-pose, (V, 3) and (J, 3), metres.
        faces: (F, 3) int triangles.
        stride: test every ``stride``-th vertex (1: all of them).
        offset_m: how far out along its normal a vertex is tested (skin resting on skin counts
            only when it is that much inside).
    """

    def __init__(self, rest_vertices, rest_joints, faces, stride: int = 1, offset_m: float = 0.003):
        self.faces = np.asarray(faces, np.int64)
        self.offset = float(offset_m)
        used = np.unique(self.faces)
        idx = used[::max(int(stride), 1)]
        rest = np.asarray(rest_vertices, np.float64)
        self.idx = idx[~self._inside(rest, idx)]  # vertices inside in the rest pose are structural
        self.part = body_parts(rest, rest_joints)
        self.part_names = sorted(set(_PART), key=_PART.index)

    def _inside(self, vertices: np.ndarray, idx: np.ndarray, offset: float | None = None) -> np.ndarray:
        n = vertex_normals(vertices, self.faces)
        off = self.offset if offset is None else offset
        return inside_mesh(vertices[idx] + off * n[idx], vertices, self.faces)

    def __call__(self, vertices) -> SelfPenetration:
        """Figures for (V, 3) posed vertices of the same body."""
        v = np.asarray(vertices, np.float64)
        inside = self.idx[self._inside(v, self.idx)]
        parts: dict[str, int] = {}
        for p in np.unique(self.part[inside]):
            parts[self.part_names[int(p)]] = int(np.sum(self.part[inside] == p))
        return SelfPenetration(fraction=len(inside) / max(len(self.idx), 1), count=int(len(inside)),
                               sampled=int(len(self.idx)), parts=parts)


def self_penetration(model, name_or_pose, shape=None, stride: int = 1) -> SelfPenetration:
    """Self-penetration of a pose preset name (or a (1, P, 3) pose tensor) on ``model``."""
    from .poses import pose_preset

    pose = pose_preset(model, name_or_pose) if isinstance(name_or_pose, str) else name_or_pose
    with torch.no_grad():
        rest = model(shape=shape)
        posed = model(shape=shape, pose=pose)
    check = SelfPenetrationCheck(rest.vertices[0].numpy(), rest.joints[0].numpy(), model.faces_numpy(), stride=stride)
    return check(posed.vertices[0].numpy())
