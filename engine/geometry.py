"""Geometry kernels shared by the stages (numpy, vectorised)."""

from __future__ import annotations

import numpy as np


def _dot(x, y):
    return x[:, 0] * y[:, 0] + x[:, 1] * y[:, 1] + x[:, 2] * y[:, 2]


def closest_on_triangles(p, a, b, c):
    """Closest points on triangles (a, b, c) to points p, all (M, 3): distances (M,) and
    barycentric coordinates (M, 3) (Ericson, Real-Time Collision Detection, 5.1.5)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = _dot(ab, ap), _dot(ac, ap)
    bp = p - b
    d3, d4 = _dot(ab, bp), _dot(ac, bp)
    cp = p - c
    d5, d6 = _dot(ab, cp), _dot(ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v = np.where(denom != 0, vb / denom, 1.0 / 3.0)
        w = np.where(denom != 0, vc / denom, 1.0 / 3.0)
        bary = np.stack([1 - v - w, v, w], axis=1)
        # edges and corners, later rules taking precedence (as in the sequential algorithm)
        m = (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)
        t = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        bary[m] = np.stack([np.zeros(m.sum()), 1 - t[m], t[m]], axis=1)
        m = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
        t = d2 / (d2 - d6)
        bary[m] = np.stack([1 - t[m], np.zeros(m.sum()), t[m]], axis=1)
        m = (d6 >= 0) & (d5 <= d6)
        bary[m] = (0.0, 0.0, 1.0)
        m = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
        t = d1 / (d1 - d3)
        bary[m] = np.stack([1 - t[m], t[m], np.zeros(m.sum())], axis=1)
        m = (d3 >= 0) & (d4 <= d3)
        bary[m] = (0.0, 1.0, 0.0)
        m = (d1 <= 0) & (d2 <= 0)
        bary[m] = (1.0, 0.0, 0.0)
    bary = np.nan_to_num(bary, nan=1.0 / 3.0)
    q = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
    return np.linalg.norm(p - q, axis=1), bary


def closest_points_on_triangles(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Closest points on triangles to points, broadcasting: ``p`` (..., 3) and ``tri``
    (..., 3, 3) (corners a, b, c) -> (..., 3) closest points, same units."""
    p, tri = np.broadcast_arrays(np.asarray(p, dtype=np.float64)[..., None, :], np.asarray(tri, dtype=np.float64))
    shape = tri.shape[:-2]
    t = tri.reshape(-1, 3, 3)
    _, bary = closest_on_triangles(p.reshape(-1, 3, 3)[:, 0], t[:, 0], t[:, 1], t[:, 2])
    return np.einsum("mk,mkd->md", bary, t).reshape(*shape, 3)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) area-weighted unit vertex normals, in the vertices' float dtype; a vertex in no face
    gets (0, 0, 0).

    Args:
        vertices: (V, 3) float; faces: (F, 3) int, counter-clockwise seen from outside.
    """
    v = np.asarray(vertices)
    f = np.asarray(faces, dtype=np.int64)
    tri = v[f]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 x area
    n = np.zeros_like(v, dtype=fn.dtype)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def vertex_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V,) float64: a third of the area of the faces around each vertex, square metres (0 for a
    vertex on no face). vertices: (V, 3) metres; faces: (F, 3) int."""
    tri = np.asarray(vertices, np.float64)[faces]
    fa = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    va = np.zeros(len(vertices))
    for k in range(3):  # corner by corner (the sums of the scan samplers' area weights stay as they were)
        np.add.at(va, faces[:, k], fa / 3.0)
    return va
