"""Where each texel's body point finds the scan: a ray along the body's normal, both ways, with
the closest point as a fallback (a Warp kernel over the scan's BVH; Warp is Anny's dependency).

For each query point ``p`` with unit body normal ``n``:

1. two rays from ``p``, along ``+n`` and ``-n``, each at most ``max_distance_m`` long; the nearer
   hit whose scan face turns less than ``max_angle_deg`` from ``n`` wins (a ray finds the surface
   the body's normal points at, so a concave place such as the inner thigh reads its own skin,
   not the other thigh's, which faces the opposite way);
2. else the closest scan point within ``max_distance_m``, under the same angle limit;
3. else nothing (the texel is a hole, filled later).

The scan's winding is read first from a sample of the queries (the orientation under which more
rays are accepted), so a scan written inside out still works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ``kind`` values of :class:`Lookup`.
NONE, RAY, CLOSEST = 0, 1, 2

_KERNEL = None


@dataclass
class Lookup:
    """What each query point found on the scan.

    Attributes:
        face: (M,) int64 scan face (-1 where nothing was found).
        bary: (M, 3) float64 barycentric weights of that face's three vertices.
        kind: (M,) int8 :data:`NONE`, :data:`RAY` or :data:`CLOSEST`.
        distance: (M,) float32 metres from the query point to the point found (inf for none).
    """

    face: np.ndarray
    bary: np.ndarray
    kind: np.ndarray
    distance: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """(M,) bool: a scan point was found."""
        return self.kind != NONE


def _kernel():
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    import warp as wp

    @wp.kernel
    def normal_ray_or_closest(
        mesh: wp.uint64,
        points: wp.array(dtype=wp.vec3),
        normals: wp.array(dtype=wp.vec3),
        max_d: float,
        min_cos: float,
        orient: float,
        face: wp.array(dtype=wp.int32),
        bu: wp.array(dtype=wp.float32),
        bv: wp.array(dtype=wp.float32),
        kind: wp.array(dtype=wp.int32),
        dist: wp.array(dtype=wp.float32),
    ):
        i = wp.tid()
        p = points[i]
        n = normals[i]
        best = max_d * 2.0
        f = int(-1)
        u = float(0.0)
        v = float(0.0)
        k = int(0)
        h = wp.mesh_query_ray(mesh, p, n, max_d)
        if h.result:
            if wp.dot(h.normal, n) * orient >= min_cos:
                best = h.t
                f = h.face
                u = h.u
                v = h.v
                k = 1
        h2 = wp.mesh_query_ray(mesh, p, -n, max_d)
        if h2.result:
            if h2.t < best and wp.dot(h2.normal, n) * orient >= min_cos:
                best = h2.t
                f = h2.face
                u = h2.u
                v = h2.v
                k = 1
        if k == 0:
            q = wp.mesh_query_point_no_sign(mesh, p, max_d)
            if q.result:
                fn = wp.mesh_eval_face_normal(mesh, q.face)
                if wp.dot(fn, n) * orient >= min_cos:
                    c = wp.mesh_eval_position(mesh, q.face, q.u, q.v)
                    best = wp.length(c - p)
                    f = q.face
                    u = q.u
                    v = q.v
                    k = 2
        face[i] = f
        bu[i] = u
        bv[i] = v
        kind[i] = k
        dist[i] = best

    _KERNEL = normal_ray_or_closest
    return _KERNEL


def normal_lookup(
    scan_points: np.ndarray,
    scan_faces: np.ndarray,
    points: np.ndarray,
    normals: np.ndarray,
    max_distance_m: float = 0.02,
    max_angle_deg: float = 60.0,
) -> Lookup:
    """For each point, the scan along its normal (both ways), else the closest scan point.

    Args:
        scan_points: (N, 3) scan vertices, metres, canonical frame.
        scan_faces: (G, 3) scan faces.
        points: (M, 3) query points on the body (texels), metres, same frame.
        normals: (M, 3) unit body normals at them.
        max_distance_m: longest ray each way, and the farthest closest point accepted.
        max_angle_deg: scan faces turned further than this from the body's normal are refused.
    """
    import warp as wp

    kernel = _kernel()
    sv = np.ascontiguousarray(np.asarray(scan_points, np.float32))
    sf = np.ascontiguousarray(np.asarray(scan_faces, np.int32))
    points = np.ascontiguousarray(points, np.float32)
    normals = np.ascontiguousarray(normals, np.float32)
    min_cos = float(np.cos(np.radians(max_angle_deg)))
    device = "cpu"
    with wp.ScopedDevice(device):
        mesh = wp.Mesh(points=wp.array(sv, dtype=wp.vec3), indices=wp.array(sf.reshape(-1), dtype=wp.int32))

        def run(p_np, n_np, orient):
            m = len(p_np)
            p, n = wp.array(p_np, dtype=wp.vec3), wp.array(n_np, dtype=wp.vec3)
            out = [wp.empty(m, dtype=t) for t in (wp.int32, wp.float32, wp.float32, wp.int32, wp.float32)]
            wp.launch(kernel, dim=m, inputs=[mesh.id, p, n, float(max_distance_m), min_cos, orient], outputs=out)
            wp.synchronize_device(device)
            return [a.numpy() for a in out]

        # the scan's winding: the orientation under which a sample's rays are accepted more often
        sample = np.arange(0, len(points), max(1, len(points) // 20000))
        rays = {o: int((run(points[sample], normals[sample], o)[3] == RAY).sum()) for o in (1.0, -1.0)}
        f, u, v, k, d = run(points, normals, 1.0 if rays[1.0] >= rays[-1.0] else -1.0)
    f, k = f.astype(np.int64), k.astype(np.int8)
    u, v = u.astype(np.float64), v.astype(np.float64)
    d = np.where(k != NONE, d, np.inf).astype(np.float32)
    bary = np.c_[u, v, 1.0 - u - v]  # Warp: u v0 + v v1 + (1 - u - v) v2
    return Lookup(f, bary, k, d)


__all__ = ["CLOSEST", "Lookup", "NONE", "RAY", "normal_lookup"]
