"""Fit numbers: per-vertex strain against the flat pattern, per-region ease and a verdict.

Strain: each cloth triangle's deformation gradient ``F`` (3 x 2) maps its flat pattern shape to
its draped shape; warp strain is ``|F g| - 1`` along the panel's grain ``g`` and weft strain
``|F g_perp| - 1`` across it (in %, positive = stretched). A vertex takes the area-weighted mean
of its triangles. Regions (bust, waist, hips, shoulders, upper arm, thigh) select cloth vertices
near the body landmarks; their ease is the garment's tape girth minus the body's, both cut by the same
plane (:func:`sliced_ease`; where the garment does not go round the region, ``2 pi x mean gap``), their
max strain the 98th percentile of the larger of warp and weft strain, and their verdict comes from
``garments/data/fit_thresholds.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodies.measure import Measurements
from bodies.model import NAMED_JOINTS

THRESHOLDS = Path(__file__).resolve().parent / "data" / "fit_thresholds.json"
REGIONS = ("bust", "waist", "hips", "shoulders", "upper_arm", "thigh")
_J = {name: i for i, name in enumerate(NAMED_JOINTS)}


def strain(flat: np.ndarray, draped: np.ndarray, faces: np.ndarray, grain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex warp and weft strain, %.

    Args:
        flat: (V, 2) float flat pattern coordinates, metres.
        draped: (V, 3) float draped positions, metres.
        faces: (F, 3) int triangles.
        grain: (V, 2) or (2,) unit warp direction in the flat frame.

    Returns:
        (warp (V,) float32 %, weft (V,) float32 %); vertices in no triangle get 0.
    """
    flat = np.asarray(flat, np.float64)
    x = np.asarray(draped, np.float64)
    f = np.asarray(faces, np.int64)
    g = np.broadcast_to(np.asarray(grain, np.float64), (len(flat), 2))
    d1 = flat[f[:, 1]] - flat[f[:, 0]]
    d2 = flat[f[:, 2]] - flat[f[:, 0]]
    D = np.stack([d1, d2], axis=2)  # (F, 2, 2) columns
    det = D[:, 0, 0] * D[:, 1, 1] - D[:, 0, 1] * D[:, 1, 0]
    ok = np.abs(det) > max(1e-14, 0.02 * float(np.median(np.abs(det))))  # skip slivers
    Dinv = np.zeros_like(D)
    Dinv[ok] = np.linalg.inv(D[ok])
    E = np.stack([x[f[:, 1]] - x[f[:, 0]], x[f[:, 2]] - x[f[:, 0]]], axis=2)  # (F, 3, 2)
    F = E @ Dinv  # (F, 3, 2)
    gf = g[f].mean(1)
    gf = gf / np.maximum(np.linalg.norm(gf, axis=1, keepdims=True), 1e-12)
    gp = np.stack([-gf[:, 1], gf[:, 0]], 1)
    warp = np.linalg.norm(np.einsum("fij,fj->fi", F, gf), axis=1) - 1.0
    weft = np.linalg.norm(np.einsum("fij,fj->fi", F, gp), axis=1) - 1.0
    area = 0.5 * np.abs(det) * ok
    out = []
    for s in (warp, weft):
        num = np.zeros(len(flat))
        den = np.zeros(len(flat))
        for k in range(3):
            np.add.at(num, f[:, k], s * area)
            np.add.at(den, f[:, k], area)
        out.append((100.0 * num / np.maximum(den, 1e-20)).astype(np.float32))
    return out[0], out[1]


def load_thresholds(path=None) -> dict:
    """The verdict thresholds file as a dict (see ``garments/data/fit_thresholds.json``)."""
    return json.loads(Path(path or THRESHOLDS).read_text())


def _region_thresholds(region: str, th: dict) -> dict:
    return {**th["default"], **th.get("regions", {}).get(region, {})}


def tight_strain(region: str, thresholds: dict | None = None, fabric_stretch_pct: float | None = None) -> float:
    """Strain (%) above which a region is tight: the region's ``tight_strain_pct``, or for a fabric
    that stretches (a knit) ``stretch_share`` of its stretch when that is more (a jersey of 30 %
    stretch worn 10 % stretched is a close fit, not a tight one; a poplin 10 % stretched is tight)."""
    th = thresholds or load_thresholds()
    limit = float(_region_thresholds(region, th)["tight_strain_pct"])
    if fabric_stretch_pct is not None:
        limit = max(limit, float(th.get("stretch_share", 0.0)) * float(fabric_stretch_pct))
    return limit


def verdict(region: str, ease_mm: float, max_strain_pct: float, thresholds: dict | None = None,
            fabric_stretch_pct: float | None = None) -> str:
    """"tight", "fitted", "relaxed" or "loose" for a region's ease (mm) and max strain (%);
    ``fabric_stretch_pct``: the fabric's stretch (see :func:`tight_strain`)."""
    th = thresholds or load_thresholds()
    t = _region_thresholds(region, th)
    if ease_mm < t["tight_below_mm"] or max_strain_pct > tight_strain(region, th, fabric_stretch_pct):
        return "tight"
    if ease_mm < t["fitted_below_mm"]:
        return "fitted"
    if ease_mm < t["relaxed_below_mm"]:
        return "relaxed"
    return "loose"


def _near_segment(p, a, b, radius):
    ab = b - a
    t = np.clip((p - a) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1) < radius, t


def region_masks(draped: np.ndarray, joints: np.ndarray, m: Measurements, band: float = 0.025,
                 arm_vertices: np.ndarray | None = None) -> dict:
    """Cloth vertices of each body region: name -> (V,) bool.

    bust/waist/hips: within ``band`` m of the landmark height and within 0.3 m of the body's
    vertical axis (not on a sleeve); shoulders: between the armpit and the shoulder joints' height
    + 8 cm, within 12 cm of a shoulder joint; upper arm: around the middle third of a shoulder-elbow
    segment; thigh: around the upper third of a hip-knee segment, under the crotch.
    ``arm_vertices``: (V,) bool, the vertices of the garment's sleeves when known: the upper arm is
    then on the sleeves only (not the side of the bodice under the arm; none for a sleeveless
    garment) and bust, waist and hips leave the sleeves out.
    """
    p = np.asarray(draped, np.float64)
    j = np.asarray(joints, np.float64)
    mid_x = j[[_J["left_hip"], _J["right_hip"]], 0].mean()
    mid_z = j[_J["spine"], 2]
    horiz = np.hypot(p[:, 0] - mid_x, p[:, 2] - mid_z)
    arms = np.zeros(len(p), bool)
    for s in ("left", "right"):
        near, _ = _near_segment(p, j[_J[f"{s}_shoulder"]], j[_J[f"{s}_wrist"]], 0.09)
        arms |= near & (np.abs(p[:, 0] - mid_x) > np.abs(j[_J[f"{s}_shoulder"], 0] - mid_x))
    out = {}
    for name, y in (("bust", m.chest_height_m), ("waist", m.waist_height_m), ("hips", m.hips_height_m)):
        out[name] = (np.abs(p[:, 1] - y) < band) & (horiz < 0.3) & ~arms
    sh = np.zeros(len(p), bool)
    for s in ("left", "right"):
        js = j[_J[f"{s}_shoulder"]]
        sh |= (np.linalg.norm(p - js, axis=1) < 0.12) & (p[:, 1] > m.armpit_height_m)
    out["shoulders"] = sh
    ua = np.zeros(len(p), bool)
    th = np.zeros(len(p), bool)
    for s in ("left", "right"):
        near, t = _near_segment(p, j[_J[f"{s}_shoulder"]], j[_J[f"{s}_elbow"]], 0.10)
        ua |= near & (t > 0.33) & (t < 0.67)
        near, t = _near_segment(p, j[_J[f"{s}_hip"]], j[_J[f"{s}_knee"]], 0.14)
        th |= near & (t > 0.15) & (t < 0.45) & (p[:, 1] < m.crotch_height_m)
    if arm_vertices is not None:
        sleeve = np.asarray(arm_vertices, bool)
        ua &= sleeve
        for name in ("bust", "waist", "hips"):
            out[name] &= ~sleeve
    out["upper_arm"] = ua
    out["thigh"] = th
    return out


@dataclass
class RegionFit:
    """Fit of one body region.

    Attributes:
        region: region name (:data:`REGIONS`).
        vertices: cloth vertices in the region.
        mean_gap_mm: mean cloth-to-body clearance of those vertices, mm.
        ease_mm: garment girth minus body girth, mm (``ease_method`` says how it was found).
        max_strain_pct: 98th percentile of the larger of warp and weft strain, %.
        verdict: "tight", "fitted", "relaxed" or "loose".
        ease_method: "slice" (tape girths of the garment and the body cut by the same plane) or
            "gap" (2 pi x mean gap, where the garment does not go round the region).
        garment_girth_mm, body_girth_mm: the two girths for "slice", else None.
    """

    region: str
    vertices: int
    mean_gap_mm: float
    ease_mm: float
    max_strain_pct: float
    verdict: str
    ease_method: str = "gap"
    garment_girth_mm: float | None = None
    body_girth_mm: float | None = None


def region_planes(joints: np.ndarray, m: Measurements) -> dict:
    """Region -> list of (origin (3,), unit normal (3,), max_radius m) tape planes, canonical frame,
    metres: horizontal planes at the bust, waist and hip heights through the body's vertical axis,
    and for each side a plane across the bone at mid upper arm and at the upper third of the thigh."""
    j = np.asarray(joints, np.float64)
    mid = np.array([j[[_J["left_hip"], _J["right_hip"]], 0].mean(), 0.0, j[_J["spine"], 2]])
    up = np.array([0.0, 1.0, 0.0])
    out = {name: [(mid + up * y, up, 0.45)] for name, y in
           (("bust", m.chest_height_m), ("waist", m.waist_height_m), ("hips", m.hips_height_m))}
    for region, (a, b, t) in (("upper_arm", ("shoulder", "elbow", 0.5)), ("thigh", ("hip", "knee", 0.3))):
        planes = []
        for side in ("left", "right"):
            pa, pb = j[_J[f"{side}_{a}"]], j[_J[f"{side}_{b}"]]
            planes.append((pa + t * (pb - pa), (pb - pa) / max(np.linalg.norm(pb - pa), 1e-9), 0.2))
        out[region] = planes
    return out


def weld_seams(faces, sew) -> np.ndarray:
    """Faces with each seam pair's vertices merged into one (the panels of a sewn pattern are
    separate pieces of mesh joined only by sewing springs; a plane cut through the welded mesh
    goes round the garment in one loop). Degenerate faces are dropped."""
    f = np.asarray(faces, np.int64)
    pairs = np.asarray(sew, np.int64).reshape(-1, 2)
    if not len(pairs):
        return f
    parent = np.arange(int(max(f.max(), pairs.max())) + 1)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    remap = np.array([root(i) for i in range(len(parent))])
    w = remap[f]
    keep = (w[:, 0] != w[:, 1]) & (w[:, 1] != w[:, 2]) & (w[:, 0] != w[:, 2])
    return w[keep]


def tape_girth(vertices, faces, origin, normal, max_radius: float) -> float:
    """Tape length round a garment cut by a plane, metres: the perimeter of the convex hull of every
    point of the cut within ``max_radius`` of ``origin``. A tape goes round the outermost cloth
    whether or not the cut is one closed loop (a plane through an armhole opening cuts a bodice in
    pieces). NaN when the hull does not enclose ``origin``."""
    from scipy.spatial import ConvexHull

    from bodies.measure import _inside, _perimeter, _plane_basis, slice_plane

    n = np.asarray(normal, np.float64)
    n = n / max(np.linalg.norm(n), 1e-12)
    o = np.asarray(origin, np.float64)
    pieces = slice_plane(vertices, faces, o, n)
    if not pieces:
        return float("nan")
    u, w = _plane_basis(n)
    pts = np.concatenate(pieces) - o
    uv = np.stack([pts @ u, pts @ w], axis=1)
    uv = uv[np.linalg.norm(uv, axis=1) <= max_radius]
    if len(uv) < 3:
        return float("nan")
    try:
        hull = uv[ConvexHull(uv).vertices]
    except Exception:  # all points on a line
        return float("nan")
    return _perimeter(hull) if _inside(hull, np.zeros(2)) else float("nan")


def sliced_ease(draped, faces, body_vertices, body_faces, joints, m: Measurements, sew=None,
                arm_vertices=None) -> dict:
    """Region -> (garment girth mm, body girth mm) where the garment goes round the region.

    Both girths are tape lengths (convex hull perimeters, :func:`bodies.measure.plane_circumference`)
    of the garment and of the body cut by the same plane (:func:`region_planes`); limbs average the
    two sides. Regions where the cut misses the garment or the body are left out. ``sew``: the
    garment's seam pairs, welded first (:func:`weld_seams`) so a cut goes round all its panels.
    ``arm_vertices``: (V,) bool, the sleeves' vertices. With them, the bust, waist and hips tapes
    leave the sleeves out (a sleeve hanging beside the chest is not part of its girth) and go round
    every cut point of the other panels (:func:`tape_girth`), so a cut through an armhole opening
    still measures the bodice (the shortest loop round the middle was one panel and its chord).
    """
    from bodies.measure import plane_circumference

    faces = np.asarray(faces, np.int64)
    trunk = faces[~np.asarray(arm_vertices, bool)[faces[:, 0]]] if arm_vertices is not None else faces
    if sew is not None:
        faces, trunk = weld_seams(faces, sew), weld_seams(trunk, sew)
    out = {}
    for region, planes in region_planes(joints, m).items():
        g, b = [], []
        for origin, normal, rmax in planes:
            if region in ("bust", "waist", "hips") and arm_vertices is not None:
                gg = tape_girth(draped, trunk, origin, normal, max_radius=rmax + 0.1)
            else:
                gg = plane_circumference(draped, faces, origin, normal, max_radius=rmax + 0.1)
            bb = plane_circumference(body_vertices, body_faces, origin, normal, max_radius=rmax)
            if np.isfinite(gg) and np.isfinite(bb):
                g.append(gg)
                b.append(bb)
        if g:
            out[region] = (1000.0 * float(np.mean(g)), 1000.0 * float(np.mean(b)))
    return out


def fit_table(draped, clearance_mm, warp_pct, weft_pct, joints, m: Measurements, thresholds=None,
              faces=None, body=None, sew=None, arm_vertices=None, fabric_stretch_pct=None) -> list[RegionFit]:
    """:class:`RegionFit` for every region the garment covers (regions with < 5 vertices are left out).

    Args:
        draped: (V, 3) cloth vertices, metres, canonical frame; clearance_mm, warp_pct, weft_pct: (V,).
        joints: (16, 3) NAMED_JOINTS; m: the body's :class:`Measurements`.
        faces: (F, 3) cloth triangles and body: (vertices, faces) of the body: when both are given,
            ease is the sliced girth difference (:func:`sliced_ease`) wherever the garment goes round
            the region; otherwise (and elsewhere) 2 pi x the mean gap.
        sew: (E, 2) seam vertex pairs of a sewn pattern; arm_vertices: (V,) bool, its sleeve
            vertices (see :func:`sliced_ease` and :func:`region_masks`).
        fabric_stretch_pct: the fabric's stretch, % (see :func:`tight_strain`).
    """
    th = thresholds or load_thresholds()
    rows = []
    s = np.maximum(np.asarray(warp_pct), np.asarray(weft_pct))
    sliced = sliced_ease(draped, faces, body[0], body[1], joints, m, sew=sew, arm_vertices=arm_vertices) if faces is not None and body is not None else {}
    for name, mask in region_masks(draped, joints, m, arm_vertices=arm_vertices).items():
        if mask.sum() < 5:
            continue
        gap = float(np.mean(clearance_mm[mask]))
        mx = float(np.percentile(s[mask], 98))
        if name in sliced:
            gg, bg = sliced[name]
            ease = gg - bg
            rows.append(RegionFit(name, int(mask.sum()), round(gap, 2), round(ease, 1), round(mx, 2),
                                  verdict(name, ease, mx, th, fabric_stretch_pct), "slice", round(gg, 1), round(bg, 1)))
        else:
            ease = 2.0 * np.pi * gap
            rows.append(RegionFit(name, int(mask.sum()), round(gap, 2), round(ease, 1), round(mx, 2),
                                  verdict(name, ease, mx, th, fabric_stretch_pct)))
    return rows


__all__ = ["strain", "verdict", "tight_strain", "tape_girth", "load_thresholds", "region_masks", "region_planes", "sliced_ease", "fit_table", "RegionFit",
           "REGIONS", "THRESHOLDS"]
