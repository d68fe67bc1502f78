"""Small stand-ins for render tests and benchmarks: a garment-like tube built around a body, and
joint markers. Pure geometry (no body model import): callers pass the body's vertices/joints."""

from __future__ import annotations

import numpy as np

from .scene import RenderMesh


def tube_garment(
    body_vertices: np.ndarray,
    y_bottom: float,
    y_top: float,
    ease: float = 0.02,
    torso_half_width: float = 0.2,
    rings: int = 40,
    around: int = 96,
    name: str = "garment",
    color=(0.16, 0.30, 0.55, 1.0),
) -> RenderMesh:
    """An open elliptical tube around the torso from ``y_bottom`` to ``y_top`` (a tube dress).

    Each ring encloses the body's horizontal slice (vertices within ``torso_half_width`` of the
    body's vertical axis, so hanging arms are left out) with ``ease`` metres to spare on its axes.

    Args:
        body_vertices: (V, 3) metres, canonical frame (+Y up, facing +Z).
        y_bottom, y_top: hem and top heights, metres.

    Returns:
        A :class:`RenderMesh` with ``rings * around`` vertices and per-vertex UVs in metres
        (u around at the ring's radius, v up).
    """
    v = np.asarray(body_vertices, dtype=np.float64)
    cx, cz = np.median(v[:, 0]), np.median(v[:, 2])
    ys = np.linspace(y_bottom, y_top, rings)
    theta = np.linspace(0, 2 * np.pi, around, endpoint=False)
    pts, uvs = [], []
    for y in ys:
        sl = v[(np.abs(v[:, 1] - y) < 0.03) & (np.abs(v[:, 0] - cx) < torso_half_width)]
        if len(sl) == 0:
            a = b = 0.15
            ox = oz = 0.0
        else:
            ox = 0.5 * (sl[:, 0].max() + sl[:, 0].min()) - cx
            oz = 0.5 * (sl[:, 2].max() + sl[:, 2].min()) - cz
            a = 0.5 * np.ptp(sl[:, 0]) * 1.08 + ease
            b = 0.5 * np.ptp(sl[:, 2]) * 1.08 + ease
        pts.append(np.c_[cx + ox + a * np.sin(theta), np.full(around, y), cz + oz + b * np.cos(theta)])
        r = 0.5 * (a + b)
        uvs.append(np.c_[theta * r, np.full(around, y)])
    faces = []
    for r in range(rings - 1):
        for k in range(around):
            i0, i1 = r * around + k, r * around + (k + 1) % around
            faces += [[i0, i1, i1 + around], [i0, i1 + around, i0 + around]]
    return RenderMesh(name, np.concatenate(pts), np.asarray(faces), color, uv=np.concatenate(uvs))


def joint_markers(joints: np.ndarray, radius: float = 0.012, names=None) -> list[RenderMesh]:
    """One small sphere per joint (separate meshes, so an id mask tells them apart).

    Args:
        joints: (J, 3) metres, canonical frame.
    """
    import trimesh

    ball = trimesh.creation.icosphere(subdivisions=2, radius=radius)
    out = []
    for i, j in enumerate(np.asarray(joints, dtype=np.float64).reshape(-1, 3)):
        name = names[i] if names is not None else f"joint{i:02d}"
        out.append(RenderMesh(name, ball.vertices + j, ball.faces, (0.9, 0.2, 0.2, 1.0)))
    return out
