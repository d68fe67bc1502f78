"""Signed distance from cloth points to a closed body mesh (numpy + scipy, no rtree needed).

Positive outside the body, negative inside. The closest point is found exactly among the
triangles nearest each query (by centroid, a k-d tree); the sign comes from the normal of the
closest triangle, choosing among triangles that tie for the minimum (closest point on a shared
edge or vertex) the one the point lies most squarely above. This is exact for points near a
closed, outward-oriented, reasonably fine mesh such as Anny's or SMPL-X's.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from engine.geometry import closest_points_on_triangles


class BodyDistance:
    """Signed distances to one body mesh, reusable for many queries.

    Args:
        vertices: (V, 3) float, metres, canonical frame.
        faces: (F, 3) int, counter-clockwise seen from outside.
        k: candidate triangles per query point.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, k: int = 16):
        self.v = np.asarray(vertices, dtype=np.float64)
        self.f = np.asarray(faces, dtype=np.int64)
        tri = self.v[self.f]
        self.tri = tri
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        self.normals = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)
        self.tree = cKDTree(tri.mean(1))
        self.k = min(k, len(self.f))

    def __call__(self, points: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """(N, 3) points, metres -> (N,) float64 signed distance, metres, positive outside."""
        return closest_points(self, points, chunk)[0]


def signed_distance(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Signed distance of (N, 3) points to the closed mesh (vertices, faces): (N,) float64 metres,
    positive outside, negative inside. Canonical frame, metres."""
    return BodyDistance(vertices, faces)(points)


__all__ = ["BodyDistance", "signed_distance", "closest_points"]


def closest_points(dist: BodyDistance, points: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest body points to (N, 3) points: (signed distance (N,) m, closest points (N, 3) m,
    outward unit normals (N, 3) of the closest triangles). Canonical frame, metres."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    sd = np.empty(len(pts))
    cp = np.empty((len(pts), 3))
    nn = np.empty((len(pts), 3))
    for s in range(0, len(pts), chunk):
        p = pts[s : s + chunk]
        _, idx = dist.tree.query(p, k=dist.k)
        idx = idx.reshape(len(p), -1)
        t = dist.tri[idx]
        q = closest_points_on_triangles(p[:, None], t)
        diff = p[:, None] - q
        d = np.linalg.norm(diff, axis=2)
        dmin = d.min(axis=1, keepdims=True)
        near = d <= dmin + 1e-7
        cos = np.einsum("nkd,nkd->nk", diff, dist.normals[idx]) / np.maximum(d, 1e-12)
        best = np.where(near, np.abs(cos), -1.0).argmax(axis=1)
        r = np.arange(len(p))
        sign = np.sign(cos[r, best])
        sign[sign == 0] = 1.0
        sd[s : s + chunk] = sign * dmin[:, 0]
        cp[s : s + chunk] = q[r, best]
        nn[s : s + chunk] = dist.normals[idx[r, best]]
    return sd, cp, nn
