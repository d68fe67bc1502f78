"""Place flat pattern panels around a posed body by their placement hints.

Each panel is wrapped on a cylinder around the body region it covers (the torso, an arm or a
leg): the panel's ``x = 0`` line faces the placement side, its x runs around the cylinder as arc
length and its y along the axis, the anchor point sitting at the placement landmark. The
cylinder's radius is the region's largest distance from the axis over the panel's height plus a
clearance, one radius per panel, so the wrap keeps the flat pattern's lengths (Blender takes the
cloth's rest lengths from its start shape). Cloth vertices that still start inside the body or
within 3 mm of it (where regions meet: sleeve caps at the shoulder, trouser tops around the hips)
are pushed out along the body's normal; only there does the start shape differ from the pattern.
"""

from __future__ import annotations

import numpy as np

from bodies.measure import Measurements, _Slicer
from bodies.model import NAMED_JOINTS
from engine.errors import InputError

from .clearance import BodyDistance, closest_points
from .mesher import ClothPattern, seam_pairs

_J = {name: i for i, name in enumerate(NAMED_JOINTS)}

_SEGMENTS = {
    "torso": [("pelvis", "spine"), ("spine", "neck")],
    "head": [("neck", "head")],
    "left_arm": [("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist")],
    "right_arm": [("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist")],
    "left_leg": [("left_hip", "left_knee"), ("left_knee", "left_ankle")],
    "right_leg": [("right_hip", "right_knee"), ("right_knee", "right_ankle")],
}


def body_parts(vertices: np.ndarray, joints: np.ndarray) -> dict:
    """Label body vertices by their nearest bone: part name -> (V,) bool mask."""
    v = np.asarray(vertices, np.float64)
    j = np.asarray(joints, np.float64)
    names, dists = [], []
    for part, segs in _SEGMENTS.items():
        d = np.full(len(v), np.inf)
        for a, b in segs:
            pa, pb = j[_J[a]], j[_J[b]]
            ab = pb - pa
            t = np.clip((v - pa) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0)
            d = np.minimum(d, np.linalg.norm(v - (pa + t[:, None] * ab), axis=1))
        names.append(part)
        dists.append(d)
    lab = np.argmin(np.stack(dists), axis=0)
    return {n: lab == i for i, n in enumerate(names)}


def landmark_heights(m: Measurements, joints: np.ndarray) -> dict:
    """Landmark name -> height above the floor, metres (canonical frame)."""
    j = np.asarray(joints, np.float64)
    return {
        "neck": float(j[_J["neck"], 1]),
        "shoulder": float(max(j[_J["left_shoulder"], 1], j[_J["right_shoulder"], 1])),
        "armpit": m.armpit_height_m, "chest": m.chest_height_m, "waist": m.waist_height_m,
        "hips": m.hips_height_m, "crotch": m.crotch_height_m,
        "knee": float(j[[_J["left_knee"], _J["right_knee"]], 1].mean()),
    }


def _frame(region: str, side: str, j: np.ndarray, mid: np.ndarray):
    """(root (3,), up-axis u (3,), front f (3,), side s (3,)) of a region's cylinder."""
    if region == "torso":
        root = np.array([mid[0], 0.0, mid[1]])
        u = np.array([0.0, 1.0, 0.0])
        ref = np.array([0.0, 0.0, 1.0])
    else:
        sidename, limb = region.split("_")
        a, b = (f"{sidename}_shoulder", f"{sidename}_wrist") if limb == "arm" else (f"{sidename}_hip", f"{sidename}_ankle")
        root = j[_J[a]].copy()
        u = j[_J[a]] - j[_J[b]]
        u = u / np.linalg.norm(u)
        ref = np.array([0.0, 1.0, 0.0]) if side == "top" else np.array([0.0, 0.0, 1.0])
    f = ref - (ref @ u) * u
    if np.linalg.norm(f) < 1e-6:
        f = np.array([0.0, 0.0, 1.0]) - u[2] * u
    f = f / np.linalg.norm(f)
    s = np.cross(u, f)
    return root, u, f, s


_THETA0 = {"front": 0.0, "top": 0.0, "left": np.pi / 2, "back": np.pi, "right": -np.pi / 2}


def place_pattern(
    cloth: ClothPattern,
    vertices: np.ndarray,
    faces: np.ndarray,
    joints: np.ndarray,
    measurements: Measurements,
    clearance: float = 0.015,
    distance: BodyDistance | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """3D start positions of a meshed pattern around a posed body, and its seam pairs.

    Args:
        cloth: the flat meshed pattern (:func:`garments.mesher.mesh_pattern`).
        vertices, faces, joints: the body, metres, canonical frame (an A-pose or T-pose).
        measurements: the body's measurements (landmark heights).
        clearance: gap left between the cloth and the body, metres.

    Returns:
        (positions (V, 3) float32 metres canonical, sew (E, 2) int64 seam vertex pairs with each
        seam's direction chosen so the pairs start closest together).
    """
    v = np.asarray(vertices, np.float64)
    j = np.asarray(joints, np.float64)
    s = _Slicer(v, faces, j)
    parts = body_parts(v, j)
    marks = landmark_heights(measurements, j)
    out = np.zeros((cloth.num_vertices, 3))
    for pm, panel in zip(cloth.panels, cloth.pattern.panels.values()):
        pl = panel.placement
        root, u, f, sd = _frame(pl.region, pl.side, j, s.mid)
        anchor = np.asarray(panel.points[pl.anchor], np.float64) / 100.0
        xy = cloth.flat[pm.vertices]
        t = xy[:, 1] - anchor[1] + pl.offset_cm / 100.0
        if pl.landmark != "root":
            if pl.landmark not in marks:
                raise InputError(f"panel {panel.name!r}: unknown landmark {pl.landmark!r}", hint=f"use one of: root, {', '.join(marks)}")
            t = t + (marks[pl.landmark] - root[1]) / u[1] if abs(u[1]) > 0.2 else t
        # region vertices: the part itself, plus the same side of the lower torso for a leg
        mask = parts["torso"].copy() if pl.region == "torso" else parts[pl.region].copy()
        if pl.region.endswith("leg"):
            sign = 1.0 if pl.region.startswith("left") else -1.0
            mask |= parts["torso"] & (sign * (v[:, 0] - s.mid[0]) > -0.02) & (v[:, 1] < marks["waist"] + 0.08)
        rv = v[mask] - root
        rt = rv @ u
        rr = np.linalg.norm(rv - rt[:, None] * u, axis=1)
        # radius per 2 cm band along the axis (the largest distance in the band and its neighbours)
        bins = np.arange(t.min() - 0.04, t.max() + 0.06, 0.02)
        rad = np.zeros(len(bins))
        for k, b in enumerate(bins):
            sel = np.abs(rt - b) < 0.03
            rad[k] = np.percentile(rr[sel], 99) if sel.sum() > 5 else 0.0
        if not np.any(rad > 0):
            raise InputError(f"panel {panel.name!r} does not reach its body region {pl.region!r}",
                             hint="check its placement anchor, landmark and offset_cm")
        rad = np.where(rad > 0, rad, rad[rad > 0].min() if pl.region != "torso" else rad.max())
        # one radius per panel: wrapping a flat panel on a cylinder keeps every length, so the
        # cloth starts at its pattern's rest lengths (Blender takes rest lengths from the start)
        radius = np.full(len(t), float(rad.max()) + clearance)
        theta = _THETA0[pl.side] + (xy[:, 0] - anchor[0] * 0.0) / radius
        out[pm.vertices] = root + t[:, None] * u + radius[:, None] * (np.cos(theta)[:, None] * f + np.sin(theta)[:, None] * sd)
    distance = distance or BodyDistance(v, faces)
    dist, q, n = closest_points(distance, out)
    bad = dist < 0.003
    out[bad] = q[bad] + n[bad] * clearance
    rev = []
    for i, (seam, r) in enumerate(zip(cloth.pattern.seams, cloth.seam_reverse)):
        if r is not None:
            rev.append(r)
            continue
        by = {p.name: p for p in cloth.panels}
        a = by[seam.a[0]].edges[seam.a[1]]
        b = by[seam.b[0]].edges[seam.b[1]]
        fwd = np.linalg.norm(out[a] - out[b], axis=1).mean()
        bwd = np.linalg.norm(out[a] - out[b[::-1]], axis=1).mean()
        rev.append(bool(bwd < fwd))
    return out.astype(np.float32), seam_pairs(cloth, rev)


__all__ = ["place_pattern", "body_parts", "landmark_heights"]
