"""Place flat pattern panels around a posed body by their placement hints.

Each panel is wrapped on a cylinder around the body region it covers (the torso, an arm from
shoulder to elbow, or a leg): the panel's ``x = 0`` line faces the placement side, its x runs
around the cylinder as arc length and its y along the axis, the anchor point sitting at the
placement landmark. The radius clears the region by ``clearance`` (one radius per panel; a limb
panel is at least wide enough to close around its share of the circle). Seam pairs then move part
of the way towards each other (:func:`_close_seams`) and start points inside the body move out
(:func:`_push_out`). The start shape need not keep the pattern's lengths: the drape job takes the
cloth's rest lengths from the flat pattern (see :mod:`engine.blender.drape_job`).
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
        a, b = (f"{sidename}_shoulder", f"{sidename}_elbow") if limb == "arm" else (f"{sidename}_hip", f"{sidename}_ankle")
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


def thin_body(vertices: np.ndarray, joints: np.ndarray, factor: float = 0.6) -> np.ndarray:
    """The body drawn in towards its bones: each vertex keeps ``factor`` of its distance to the
    nearest bone segment of its part (:func:`body_parts`). Used as the collider's start shape while
    the seams close (sewing lines between panels then pass outside the body instead of through it),
    growing back to the real body before gravity comes on.

    Args:
        vertices: (V, 3) float, metres, canonical frame. joints: (16, 3) NAMED_JOINTS order.

    Returns:
        (V, 3) float32, metres, canonical frame, same topology.
    """
    v = np.asarray(vertices, np.float64)
    j = np.asarray(joints, np.float64)
    out = v.copy()
    for part, mask in body_parts(v, j).items():
        best = np.full(int(mask.sum()), np.inf)
        foot = np.zeros((int(mask.sum()), 3))
        p = v[mask]
        for a, b in _SEGMENTS[part]:
            pa, pb = j[_J[a]], j[_J[b]]
            ab = pb - pa
            t = np.clip((p - pa) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0)
            q = pa + t[:, None] * ab
            d = np.linalg.norm(p - q, axis=1)
            closer = d < best
            best[closer] = d[closer]
            foot[closer] = q[closer]
        out[mask] = foot + (p - foot) * float(factor)
    return out.astype(np.float32)


#: the share of the way to their midpoint that seam pairs move before the simulation starts
CLOSE_SHARE = 0.5

_THETA0 = {"front": 0.0, "top": 0.0, "left": np.pi / 2, "back": np.pi, "right": -np.pi / 2}


def _push_out(points: np.ndarray, axis_pt: np.ndarray, distance: BodyDistance, clearance: float,
              step: float = 0.004, steps: int = 60) -> np.ndarray:
    """Move start points that lie inside the body (or closer than half the clearance) outward
    along their own cylinder's radius until they are ``clearance`` outside, so a panel always starts
    on the outer side of the body part it wraps (a sleeve cap over the shoulder, not through it);
    points that find no way out in ``steps`` steps go to the closest body point plus the clearance
    along its normal. Only the start shape changes: the rest shape stays the flat pattern.

    Args:
        points: (N, 3) float64 start positions, metres, canonical frame.
        axis_pt: (N, 3) the point of each one's cylinder axis at its height.
    """
    out = np.array(points, np.float64)
    radial = out - axis_pt  # from the axis point (or from straight below it: upwards)
    radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
    todo = np.nonzero(distance(out) < 0.5 * clearance)[0]
    for _ in range(steps):
        if not len(todo):
            break
        out[todo] += radial[todo] * step
        todo = todo[distance(out[todo]) < clearance]
    if len(todo):
        _d, q, n = closest_points(distance, out[todo])
        out[todo] = q + n * clearance
    return out


def place_pattern(
    cloth: ClothPattern,
    vertices: np.ndarray,
    faces: np.ndarray,
    joints: np.ndarray,
    measurements: Measurements,
    clearance: float = 0.015,
    distance: BodyDistance | None = None,
    close_seams: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """3D start positions of a meshed pattern around a posed body, and its seam pairs.

    Args:
        cloth: the flat meshed pattern (:func:`garments.mesher.mesh_pattern`).
        vertices, faces, joints: the body, metres, canonical frame (an A-pose or T-pose).
        measurements: the body's measurements (landmark heights).
        clearance: gap left between the cloth and the body, metres.
        close_seams: start the seams nearly closed (see :func:`_close_seams`).

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
    axis_pt = np.zeros((cloth.num_vertices, 3))
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
            if pl.region.endswith("arm") and b > -0.10:
                continue  # the shoulder joint: its torso-side vertices would blow the sleeve up
            rad[k] = np.percentile(rr[sel], 99 if pl.region == "torso" else 95) if sel.sum() > 5 else 0.0
        if not np.any(rad > 0):
            raise InputError(f"panel {panel.name!r} does not reach its body region {pl.region!r}",
                             hint="check its placement anchor, landmark and offset_cm")
        rad = np.where(rad > 0, rad, rad[rad > 0].min() if pl.region != "torso" else rad.max())
        # one radius per panel: wrapping a flat panel on a cylinder keeps every length, so the
        # cloth starts at its pattern's rest lengths (Blender takes rest lengths from the start)
        # a limb panel is at least wide enough to close around its share of the circle (a sleeve:
        # the whole circle; a trouser leg's front or back: half), so its seams start close
        span = 2.0 * np.pi / max(1, sum(q.placement.region == pl.region for q in cloth.pattern.panels.values()))
        fit_r = float(np.ptp(xy[:, 0])) / span if pl.region != "torso" else 0.0
        radius = np.full(len(t), max(float(rad.max()) + clearance, fit_r))
        theta = _THETA0[pl.side] + (xy[:, 0] - anchor[0] * 0.0) / radius
        axis_pt[pm.vertices] = root + t[:, None] * u
        out[pm.vertices] = axis_pt[pm.vertices] + radius[:, None] * (np.cos(theta)[:, None] * f + np.sin(theta)[:, None] * sd)
        if pl.region == "torso":
            # above the armpit a torso panel leaves the body upwards (over the shoulder, not
            # sideways through the arm): its push-out direction is +Y there
            high = axis_pt[pm.vertices, 1] > marks["armpit"] - 0.02
            axis_pt[pm.vertices[high]] -= np.array([0.0, 1.0, 0.0])
    distance = distance or BodyDistance(v, faces)
    rev = _orient(cloth, out)
    if close_seams:
        out = _close_seams(cloth, out, seam_pairs(cloth, rev))
    out = _push_out(out, axis_pt, distance, clearance)
    return out.astype(np.float32), seam_pairs(cloth, _orient(cloth, out))


def _orient(cloth: ClothPattern, out: np.ndarray) -> list:
    """Per seam: pair its second edge reversed (True) when that starts the pairs closer together."""
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
    return rev


def _close_seams(cloth: ClothPattern, out: np.ndarray, pairs: np.ndarray, sigma: float = 0.04,
                 share: float = CLOSE_SHARE) -> np.ndarray:
    """Start the seams (nearly) closed: both vertices of each seam pair move to their midpoint and
    the rest of each panel follows with a Gaussian falloff (``sigma`` metres, measured on the flat
    pattern), so panels fold over the shoulders and sleeve caps meet their armholes before the
    simulation starts instead of being pulled there, possibly through the body, by the sewing
    springs. The rest shape is still the flat pattern, so this distortion relaxes."""
    if not len(pairs):
        return out
    mid = 0.5 * (out[pairs[:, 0]] + out[pairs[:, 1]])
    mid_a = out[pairs[:, 0]] + share * (mid - out[pairs[:, 0]])
    mid_b = out[pairs[:, 1]] + share * (mid - out[pairs[:, 1]])
    idx = np.concatenate([pairs[:, 0], pairs[:, 1]])
    disp = np.concatenate([mid_a - out[pairs[:, 0]], mid_b - out[pairs[:, 1]]])
    res = out.copy()
    for pi in range(len(cloth.panels)):
        mine = cloth.panel_of[idx] == pi
        if not mine.any():
            continue
        verts = np.nonzero(cloth.panel_of == pi)[0]
        d2 = ((cloth.flat[verts][:, None, :] - cloth.flat[idx[mine]][None]) ** 2).sum(-1)
        w = np.exp(-d2 / (2.0 * sigma**2))
        res[verts] += (w @ disp[mine]) / (w.sum(1) + 1.0)[:, None]
    return res


__all__ = ["place_pattern", "body_parts", "landmark_heights", "thin_body"]
