"""The Cusick drape test in Blender: a 30 cm circle of fabric clamped over an 18 cm disc.

The drape coefficient is ``DC = (A_shadow - A_disc) / (A_specimen - A_disc)``: the share of the
overhanging ring that still shows in the vertical shadow of the draped specimen (1 = stiff as a
board, 0 = hangs straight down). The shadow area is measured by rasterising the draped triangles'
projection on the horizontal plane on a 1 mm grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.meshio import load_npz_mesh, save_npz_mesh

from .fabrics import cloth_settings, get_fabric
from .mesher import triangulate_polygon

SPECIMEN_D = 0.30
DISC_D = 0.18


@dataclass
class CusickResult:
    """One drape test: ``fabric``, ``coefficient`` (DC, 0..1), ``published`` (lo, hi) range,
    ``in_range``, ``frames``, ``settled``, ``vertices``, ``seconds``."""

    fabric: str
    coefficient: float
    published: tuple
    in_range: bool
    frames: int
    settled: bool
    vertices: int
    seconds: float


def shadow_area(vertices: np.ndarray, faces: np.ndarray, cell: float = 0.001) -> float:
    """Area (m^2) of the union of the triangles' projections on the horizontal (x, z) plane."""
    p = np.asarray(vertices, np.float64)[:, [0, 2]]
    lo, hi = p.min(0) - cell, p.max(0) + cell
    nx, ny = (np.ceil((hi - lo) / cell)).astype(int) + 1
    xs = lo[0] + (np.arange(nx) + 0.5) * cell
    ys = lo[1] + (np.arange(ny) + 0.5) * cell
    hit = np.zeros((nx, ny), bool)
    for a, b, c in p[np.asarray(faces)]:
        tlo = np.floor((np.minimum(np.minimum(a, b), c) - lo) / cell).astype(int)
        thi = np.ceil((np.maximum(np.maximum(a, b), c) - lo) / cell).astype(int)
        gx, gy = np.meshgrid(xs[tlo[0]:thi[0] + 1], ys[tlo[1]:thi[1] + 1], indexing="ij")
        q = np.stack([gx, gy], -1)

        def side(u, v):
            return (v[0] - u[0]) * (q[..., 1] - u[1]) - (v[1] - u[1]) * (q[..., 0] - u[0])

        s1, s2, s3 = side(a, b), side(b, c), side(c, a)
        inside = ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))
        hit[tlo[0]:thi[0] + 1, tlo[1]:thi[1] + 1] |= inside
    return float(hit.sum()) * cell * cell


def drape_coefficient(vertices, faces, specimen_d: float = SPECIMEN_D, disc_d: float = DISC_D) -> float:
    a_s, a_d = np.pi * (specimen_d / 2) ** 2, np.pi * (disc_d / 2) ** 2
    return float((shadow_area(vertices, faces) - a_d) / (a_s - a_d))


def _disc(d: float, n: int = 48):
    """A closed flat cylinder (2 cm thick), top at y = 0, canonical frame."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.stack([d / 2 * np.cos(a), np.zeros(n), d / 2 * np.sin(a)], 1)
    v = np.concatenate([ring, ring - [0, 0.02, 0], [[0, 0, 0], [0, -0.02, 0]]])
    f = []
    for i in range(n):
        j = (i + 1) % n
        f += [[2 * n, j, i], [2 * n + 1, n + i, n + j], [i, j, n + j], [i, n + j, n + i]]
    return v.astype(np.float32), np.asarray(f, np.int64)


def cusick_test(fabric: str, out_dir, edge_m: float = 0.012, max_frames: int = 80, timeout: float = 300.0) -> CusickResult:
    """Drape a 30 cm circle of ``fabric`` over an 18 cm disc in Blender and measure its DC."""
    import time

    from engine.blender import run_blender_job

    fab = get_fabric(fabric)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    n = int(np.ceil(np.pi * SPECIMEN_D / edge_m))
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts, tri = triangulate_polygon(np.stack([np.cos(a), np.sin(a)], 1) * SPECIMEN_D / 2, edge_m)
    # a slight random offset breaks the perfect symmetry, as a real specimen's does (seeded)
    rng = np.random.default_rng(0)
    pts = pts + rng.normal(scale=edge_m * 0.02, size=pts.shape)
    v = np.stack([pts[:, 0], np.full(len(pts), 0.006), pts[:, 1]], 1).astype(np.float32)
    tri = tri[:, [0, 2, 1]]  # counter-clockwise seen from above (+Y)
    dv, df = _disc(DISC_D)
    area = np.pi * (SPECIMEN_D / 2) ** 2
    cs, col = cloth_settings(fab, area / len(v))
    col.pop("friction", None)
    save_npz_mesh(out / "disc.npz", dv, df)
    # the tester clamps the specimen between two discs: the part over the disc is pinned (without
    # the clamp a stiff specimen slides off the disc once it buckles)
    pin = (np.hypot(v[:, 0], v[:, 2]) < DISC_D / 2 - 0.5 * edge_m).astype(np.float32)
    save_npz_mesh(out / "specimen.npz", v, tri, pin=pin)
    from engine.blender.specs import ColliderSpec, DrapeJobSpec

    spec = DrapeJobSpec(cloth=str(out / "specimen.npz"), out=str(out / "draped.npz"),
                        colliders=(ColliderSpec(str(out / "disc.npz"), thickness_outer=0.002),),
                        max_frames=max_frames, min_frames=20, settle_mm=0.5, settle_frames=3, settle_window=1,
                        explode_m=0.5, cloth_settings={"quality": 6, **cs},
                        collision_settings={**col, "distance_min": 0.003}, gravity=(0.0, -9.81, 0.0),
                        garment=f"cusick-{fab.name}")
    t0 = time.monotonic()
    job = run_blender_job("drape", spec, workdir=out, timeout=timeout)
    dv2 = load_npz_mesh(out / "draped.npz")["vertices"]
    dc = drape_coefficient(dv2, tri)
    lo, hi = fab.drape_coefficient
    return CusickResult(fab.name, round(dc, 3), (lo, hi), bool(lo <= dc <= hi), int(job["frames"]), bool(job["settled"]),
                        len(v), round(time.monotonic() - t0, 1))


__all__ = ["cusick_test", "drape_coefficient", "shadow_area", "CusickResult", "SPECIMEN_D", "DISC_D"]
