"""Triangulate pattern panels into one flat cloth mesh with seam vertex pairs.

Each panel's outline is sampled with one vertex every ``edge_m`` metres (the two edges of a seam
get the same number of vertices, so they pair one to one), the inside is filled with a
hexagonal lattice of the same spacing, and the points are triangulated with scipy's Delaunay,
keeping the triangles whose centres lie inside the outline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import Delaunay

from engine.errors import InputError

from .pattern import Pattern


def _inside(poly: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(N,) bool: points (N, 2) inside the closed polygon (M, 2) (even-odd rule)."""
    x, y = pts[:, 0][:, None], pts[:, 1][:, None]
    x0, y0 = poly[:, 0][None], poly[:, 1][None]
    x1, y1 = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
    cond = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (np.sum(cond & (x < xc), axis=1) % 2) == 1


def _dist_to_polyline(poly: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(N,) distance of points (N, 2) to the closed polygon's edges."""
    a = poly[None]
    b = np.roll(poly, -1, axis=0)[None]
    p = pts[:, None]
    ab = b - a
    t = np.clip(np.sum((p - a) * ab, axis=2) / np.maximum(np.sum(ab * ab, axis=2), 1e-20), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=2).min(axis=1)


def triangulate_polygon(outline: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Mesh the inside of a closed counter-clockwise polygon.

    Args:
        outline: (N, 2) float boundary points (not repeated at the end), any unit.
        spacing: target edge length, same unit.

    Returns:
        (points (V, 2) float64 with the N outline points first, triangles (F, 3) int64
        counter-clockwise).
    """
    outline = np.asarray(outline, dtype=np.float64)
    lo, hi = outline.min(0), outline.max(0)
    dy = spacing * np.sqrt(3) / 2
    ys = np.arange(lo[1] + dy / 2, hi[1], dy)
    rows = [np.stack([np.arange(lo[0] + (0.5 * spacing if k % 2 else 0.0) + spacing / 4, hi[0], spacing),
                      np.full(len(np.arange(lo[0] + (0.5 * spacing if k % 2 else 0.0) + spacing / 4, hi[0], spacing)), y)], 1)
            for k, y in enumerate(ys)]
    grid = np.concatenate(rows) if rows else np.zeros((0, 2))
    if len(grid):
        keep = _inside(outline, grid)
        grid = grid[keep]
    if len(grid):
        grid = grid[_dist_to_polyline(outline, grid) > 0.55 * spacing]
    pts = np.concatenate([outline, grid])
    tri = Delaunay(pts).simplices.astype(np.int64)
    c = pts[tri].mean(1)
    tri = tri[_inside(outline, c)]
    # drop slivers made only of boundary points that span a concave notch
    a, b, cc = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    area = 0.5 * ((b[:, 0] - a[:, 0]) * (cc[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (cc[:, 0] - a[:, 0]))
    tri = np.where((area < 0)[:, None], tri[:, [0, 2, 1]], tri)
    area = np.abs(area)
    tri = tri[area > 0.05 * spacing**2]  # an equilateral triangle has 0.43 h^2
    used = np.zeros(len(pts), bool)
    used[tri.ravel()] = True
    used[: len(outline)] = True
    remap = np.cumsum(used) - 1
    return pts[used], remap[tri].astype(np.int64)


@dataclass
class PanelMesh:
    """Where one panel lives in the cloth mesh.

    Attributes:
        name: panel name.
        vertices: (n,) int64 indices of the panel's vertices in the cloth mesh.
        edges: edge name -> (k,) int64 cloth vertex indices along the edge, start to end.
    """

    name: str
    vertices: np.ndarray
    edges: dict


@dataclass
class ClothPattern:
    """A pattern meshed flat.

    Attributes:
        pattern: the (graded) :class:`~garments.pattern.Pattern`.
        flat: (V, 2) float64 panel coordinates, metres (each panel in its own frame).
        faces: (F, 3) int64 counter-clockwise seen from the outside.
        panel_of: (V,) int64 panel index (order of ``panels``).
        panels: list of :class:`PanelMesh`.
        sew: (E, 2) int64 seam vertex pairs.
        elastic: (V,) float32, 1 on elastic edges.
        grain: (P, 2) float64 unit warp direction per panel.
        edge_m: sampling distance, metres.
    """

    pattern: Pattern
    flat: np.ndarray
    faces: np.ndarray
    panel_of: np.ndarray
    panels: list
    sew: np.ndarray
    elastic: np.ndarray
    grain: np.ndarray
    edge_m: float
    seam_reverse: list = field(default_factory=list)

    @property
    def num_vertices(self) -> int:
        return len(self.flat)

    def flat_area_m2(self) -> float:
        t = self.flat[self.faces]
        return float(0.5 * np.abs(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])).sum())


def edge_for_vertices(pattern: Pattern, vertices: int) -> float:
    """Sampling distance (metres) that meshes ``pattern`` into about ``vertices`` vertices."""
    area = sum(p.area_cm2() for p in pattern.panels.values()) / 1e4
    # a hexagonal lattice of spacing h has 2 / (sqrt(3) h^2) points per unit area
    return float(np.sqrt(2.0 * area / (np.sqrt(3.0) * max(int(vertices), 50))))


def mesh_pattern(pattern: Pattern, edge_m: float = 0.02) -> ClothPattern:
    """Mesh every panel of ``pattern`` with about ``edge_m`` metre edges and pair its seams.

    Seam pairs run start-to-start (or start-to-end when the seam says ``reverse``; when it says
    nothing the placement decides, see :func:`garments.placement.orient_seams`).
    """
    if not 0.002 <= edge_m <= 0.2:
        raise InputError(f"cloth edge length {edge_m} m is out of range", hint="use 0.005 to 0.05 m")
    step_cm = edge_m * 100.0
    counts = {}
    for s in pattern.seams:
        la = pattern.panels[s.a[0]].edge_length(s.a[1])
        lb = pattern.panels[s.b[0]].edge_length(s.b[1])
        n = max(1, int(np.ceil(max(la, lb) / step_cm)))
        counts[s.a] = counts[s.b] = n
    flat, faces, panel_of, panels, elastic, grain = [], [], [], [], [], []
    offset = 0
    for pi, panel in enumerate(pattern.panels.values()):
        outline, edge_idx = [], {}
        k = 0
        for e in panel.edges:
            n = counts.get((panel.name, e.name)) or max(1, int(np.ceil(panel.edge_length(e) / step_cm)))
            pts = panel.edge_points(e, n)
            outline.append(pts[:-1])
            edge_idx[e.name] = np.arange(k, k + n + 1)
            k += n
        outline = np.concatenate(outline)
        nb = len(outline)
        for name in edge_idx:
            edge_idx[name] = edge_idx[name] % nb
        pts, tri = triangulate_polygon(outline, step_cm)
        el = np.zeros(len(pts), np.float32)
        for name in panel.elastic:
            el[edge_idx[name]] = 1.0
        flat.append(pts / 100.0)
        faces.append(tri + offset)
        panel_of.append(np.full(len(pts), pi))
        elastic.append(el)
        grain.append(panel.grain)
        panels.append(PanelMesh(panel.name, np.arange(offset, offset + len(pts)),
                                {n: idx + offset for n, idx in edge_idx.items()}))
        offset += len(pts)
    cp = ClothPattern(pattern, np.concatenate(flat), np.concatenate(faces), np.concatenate(panel_of), panels,
                      np.zeros((0, 2), np.int64), np.concatenate(elastic), np.asarray(grain, float), edge_m)
    cp.seam_reverse = [bool(s.reverse) if s.reverse is not None else None for s in pattern.seams]
    return cp


def seam_pairs(cloth: ClothPattern, reverse: list) -> np.ndarray:
    """(E, 2) int64 vertex pairs of every seam, ``reverse[i]`` flipping seam i's second edge."""
    by_name = {p.name: p for p in cloth.panels}
    pairs = []
    for s, rev in zip(cloth.pattern.seams, reverse):
        a = by_name[s.a[0]].edges[s.a[1]]
        b = by_name[s.b[0]].edges[s.b[1]]
        if rev:
            b = b[::-1]
        pairs.append(np.stack([a, b], 1))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    p = np.concatenate(pairs)
    p = p[p[:, 0] != p[:, 1]]
    p = np.unique(np.sort(p, axis=1), axis=0)
    return p.astype(np.int64)


__all__ = ["triangulate_polygon", "PanelMesh", "ClothPattern", "mesh_pattern", "seam_pairs", "edge_for_vertices"]
