"""Basic body measurements from a posed body mesh (canonical frame, metres in, centimetres out).

All measurements are taken on a body standing in the canonical frame (+Y up, facing +Z, feet on
y = 0) in a T-pose or an A-pose (arms held away from the torso, so a horizontal slice through the
torso does not touch the arms).

Landmarks (joint names from :data:`bodies.model.NAMED_JOINTS`):

- **height**: highest vertex y minus lowest vertex y.
- A **torso slice** at height ``y``: the mesh's triangles are cut by the plane ``Y = y`` into closed
  loops; the torso loop is the one whose (x, z) polygon contains the body's midline point
  (the mean x of the hip joints, the z of the spine joint). Below the crotch no loop contains the
  midline; the torso slice is then every loop whose centroid lies between the two hip joints
  widened by 2x (both legs, never a hand). A **circumference** is the perimeter of the convex hull
  of the slice in the (x, z) plane: a tape measure held around the body.
- **chest** (bust): the torso slice with the largest front-to-back depth in the band from 35 % to
  75 % of the way from the spine joint up to the shoulder joints, and in any case below the
  armpit (the highest level where the arms are separate loops from the torso).
- **waist**: the narrowest torso circumference between 25 % and 80 % of the way from the hip joints
  up to the chest level (at or near the spine joint on most bodies).
- **crotch**: the lowest level (searched upward from ``hip - 0.4 * (hip - knee)``) whose torso
  loop contains the midline point.
- **hips**: the widest torso circumference from the crotch up to ``hip + 0.05 m`` (the buttocks
  sit a little below Anny's and SMPL-X's hip joints).
- **shoulder width**: the distance between the two shoulder joints (the heads of the upper arms).
  It does not change with the arms' pose; it reads 2-4 cm less than a tape's biacromial
  (shoulder point to shoulder point) breadth.
- **armpit**: the highest level below the shoulder joints at which both arms are loops of their
  own, separate from the torso loop.

Heights of the landmarks are returned in metres (``*_height_m``) for placing garments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import ConvexHull

from engine.errors import InputError

from .model import NAMED_JOINTS

_J = {name: i for i, name in enumerate(NAMED_JOINTS)}


@dataclass
class Measurements:
    """Body measurements.

    Attributes:
        height_cm: standing height (top of head to soles), cm.
        chest_cm, waist_cm, hips_cm: horizontal circumferences (convex hull perimeter), cm.
        shoulder_width_cm: outer deltoid to outer deltoid, cm.
        chest_height_m, waist_height_m, hips_height_m, armpit_height_m: landmark heights above
            the floor, metres, canonical frame.
        chest_depth_cm: front-to-back depth of the chest slice, cm.
    """

    height_cm: float
    chest_cm: float
    waist_cm: float
    hips_cm: float
    shoulder_width_cm: float
    chest_height_m: float
    waist_height_m: float
    hips_height_m: float
    armpit_height_m: float
    crotch_height_m: float
    chest_depth_cm: float

    def to_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def slice_loops(vertices: np.ndarray, faces: np.ndarray, y: float) -> list[np.ndarray]:
    """Cut the mesh with the horizontal plane ``Y = y``.

    Args:
        vertices: (V, 3) float, metres, canonical frame.
        faces: (F, 3) int triangle indices.
        y: plane height, metres.

    Returns:
        A list of (N_i, 3) float64 arrays, one per connected piece of the cut (a closed loop on a
        closed mesh); points are unordered.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    s = v[:, 1] - y
    # nudge vertices lying exactly on the plane to keep every crossing strict
    s = np.where(s == 0.0, 1e-9, s)
    above = s[f] > 0
    count = above.sum(1)
    tri = np.nonzero((count == 1) | (count == 2))[0]
    if len(tri) == 0:
        return []
    ft = f[tri]
    a = ft[:, [0, 1, 2]]
    b = ft[:, [1, 2, 0]]
    crosses = (s[a] > 0) != (s[b] > 0)
    ea = a[crosses].reshape(-1, 2)
    eb = b[crosses].reshape(-1, 2)
    t = s[ea] / (s[ea] - s[eb])
    points = v[ea] + t[..., None] * (v[eb] - v[ea])
    keys = np.minimum(ea, eb) * len(v) + np.maximum(ea, eb)
    uniq, inverse = np.unique(keys.reshape(-1), return_inverse=True)
    inverse = inverse.reshape(-1, 2)
    upts = np.zeros((len(uniq), 3))
    upts[inverse.reshape(-1)] = points.reshape(-1, 3)
    n = len(uniq)
    graph = coo_matrix((np.ones(len(inverse)), (inverse[:, 0], inverse[:, 1])), shape=(n, n))
    ncomp, labels = connected_components(graph, directed=False)
    return [upts[labels == c] for c in range(ncomp)]


def _hull_xz(points: np.ndarray) -> np.ndarray | None:
    """(H, 2) convex hull polygon (counter-clockwise in x, z) of (N, 3) points, or None."""
    xz = points[:, [0, 2]]
    if len(xz) < 3:
        return None
    try:
        hull = ConvexHull(xz)
    except Exception:  # degenerate (collinear) slice
        return None
    return xz[hull.vertices]


def _perimeter(poly: np.ndarray) -> float:
    return float(np.linalg.norm(poly - np.roll(poly, 1, axis=0), axis=1).sum())


def _inside(poly: np.ndarray, p: np.ndarray) -> bool:
    """Is 2-D point ``p`` inside convex polygon ``poly`` (either orientation)?"""
    d = np.roll(poly, -1, axis=0) - poly
    r = p[None] - poly
    cross = d[:, 0] * r[:, 1] - d[:, 1] * r[:, 0]
    return bool(np.all(cross >= 0) or np.all(cross <= 0))


class _Slicer:
    """Torso slices of one body, cached by height."""

    def __init__(self, vertices, faces, joints):
        self.v = np.asarray(vertices, dtype=np.float64)
        self.f = np.asarray(faces, dtype=np.int64)
        self.j = np.asarray(joints, dtype=np.float64)
        hips_x = self.j[[_J["left_hip"], _J["right_hip"]], 0]
        self.mid = np.array([hips_x.mean(), self.j[_J["spine"], 2]])
        self.leg_halfwidth = max(0.05, 2.0 * float(np.abs(hips_x - hips_x.mean()).max()))
        self._cache: dict[float, tuple] = {}

    def loops(self, y: float):
        key = round(float(y), 5)
        if key not in self._cache:
            self._cache[key] = slice_loops(self.v, self.f, key)
        return self._cache[key]

    def torso(self, y: float) -> np.ndarray | None:
        """(N, 3) points of the torso slice at ``y`` (see the module doc), or None."""
        loops = self.loops(y)
        for loop in loops:
            hull = _hull_xz(loop)
            if hull is not None and _inside(hull, self.mid):
                return loop
        keep = [lp for lp in loops if abs(lp[:, 0].mean() - self.mid[0]) < self.leg_halfwidth and len(lp) >= 3]
        if not keep:
            return None
        return np.concatenate(keep)

    def hull(self, y: float) -> np.ndarray | None:
        pts = self.torso(y)
        return None if pts is None else _hull_xz(pts)

    def circumference(self, y: float) -> float:
        h = self.hull(y)
        return float("nan") if h is None else _perimeter(h)

    def depth(self, y: float) -> float:
        pts = self.torso(y)
        return float("nan") if pts is None else float(np.ptp(pts[:, 2]))

    def arms_separate(self, y: float) -> bool:
        """True when the slice at ``y`` holds a loop on each side that is not the torso loop."""
        torso = self.torso(y)
        left = right = False
        for loop in self.loops(y):
            if torso is not None and len(loop) == len(torso) and np.array_equal(loop, torso):
                continue
            cx = loop[:, 0].mean() - self.mid[0]
            if cx > self.leg_halfwidth:
                left = True
            elif cx < -self.leg_halfwidth:
                right = True
        return left and right


def armpit_height(slicer: _Slicer, step: float = 0.005) -> float:
    """Highest y below the shoulder joints where both arms are separate loops, metres."""
    j = slicer.j
    top = float(min(j[_J["left_shoulder"], 1], j[_J["right_shoulder"], 1]))
    bottom = float(j[_J["spine"], 1])
    for y in np.arange(top, bottom, -step):
        if slicer.arms_separate(y):
            return float(y)
    return bottom


def crotch_height(slicer: _Slicer, step: float = 0.005) -> float:
    """Lowest y (searching up from ``hip - 0.4 (hip - knee)``) whose torso loop contains the
    midline point, metres."""
    j = slicer.j
    y_hip = float(j[[_J["left_hip"], _J["right_hip"]], 1].mean())
    y_knee = float(j[[_J["left_knee"], _J["right_knee"]], 1].mean())
    for y in np.arange(y_hip - 0.4 * (y_hip - y_knee), y_hip, step):
        for loop in slicer.loops(y):
            hull = _hull_xz(loop)
            if hull is not None and _inside(hull, slicer.mid):
                return float(y)
    return y_hip


def _body_arrays(vertices, faces, joints):
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    j = np.asarray(joints, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise InputError(f"measure_body needs (V, 3) vertices and (F, 3) faces, got {v.shape} and {f.shape}")
    if j.shape != (len(NAMED_JOINTS), 3):
        raise InputError(f"measure_body needs ({len(NAMED_JOINTS)}, 3) joints in NAMED_JOINTS order, got {j.shape}")
    return v, f, j


def measure(vertices, faces, joints, step: float = 0.005) -> Measurements:
    """Measure a posed body. See the module docstring for the landmark definitions.

    Args:
        vertices: (V, 3) float, metres, canonical frame, T- or A-pose.
        faces: (F, 3) int triangle indices (a closed mesh).
        joints: (16, 3) float named joints (NAMED_JOINTS order), metres, canonical frame.
        step: spacing of the slices searched for the landmarks, metres.
    """
    v, f, j = _body_arrays(vertices, faces, joints)
    s = _Slicer(v, f, j)
    y_sh = float(min(j[_J["left_shoulder"], 1], j[_J["right_shoulder"], 1]))
    y_sp = float(j[_J["spine"], 1])
    y_hip = float(j[[_J["left_hip"], _J["right_hip"]], 1].mean())
    y_knee = float(j[[_J["left_knee"], _J["right_knee"]], 1].mean())
    if not (y_sh > y_sp > y_hip > y_knee):
        raise InputError(
            "measure_body needs an upright body (shoulders above spine above hips above knees)",
            hint="measure the body in the canonical frame (+Y up) in a T- or A-pose",
        )
    y_arm = armpit_height(s, step)

    def best(lo, hi, fn, pick):
        ys = np.arange(lo, hi + 1e-9, step)
        vals = np.array([fn(y) for y in ys])
        ok = np.isfinite(vals)
        if not ok.any():
            raise InputError("could not find the torso in the body's horizontal slices",
                             hint="is the body closed, upright and in the canonical frame?")
        i = pick(np.where(ok, vals, np.nan))
        return float(ys[i]), float(vals[i])

    chest_lo = y_sp + 0.35 * (y_sh - y_sp)
    chest_hi = min(y_sp + 0.75 * (y_sh - y_sp), y_arm - 0.01)
    chest_hi = max(chest_hi, chest_lo)
    y_chest, depth = best(chest_lo, chest_hi, s.depth, np.nanargmax)
    chest = s.circumference(y_chest)
    y_waist, waist = best(y_hip + 0.25 * (y_chest - y_hip), y_hip + 0.8 * (y_chest - y_hip), s.circumference, np.nanargmin)
    y_crotch = crotch_height(s, step)
    y_hips, hips = best(y_crotch, y_hip + 0.05, s.circumference, np.nanargmax)
    shoulder = float(np.linalg.norm(j[_J["left_shoulder"]] - j[_J["right_shoulder"]]))

    return Measurements(
        height_cm=float(np.ptp(v[:, 1])) * 100.0,
        chest_cm=chest * 100.0,
        waist_cm=waist * 100.0,
        hips_cm=hips * 100.0,
        shoulder_width_cm=shoulder * 100.0,
        chest_height_m=y_chest,
        waist_height_m=y_waist,
        hips_height_m=y_hips,
        armpit_height_m=y_arm,
        crotch_height_m=y_crotch,
        chest_depth_cm=depth * 100.0,
    )


def measure_body(vertices, faces, joints) -> dict:
    """Measure a posed body; returns :meth:`Measurements.to_dict` (cm for lengths, m for heights).

    Args:
        vertices: (V, 3) float, metres, canonical frame, T- or A-pose.
        faces: (F, 3) int triangle indices.
        joints: (16, 3) float named joints in NAMED_JOINTS order, metres, canonical frame.

    Returns:
        {"height_cm", "chest_cm", "waist_cm", "hips_cm", "shoulder_width_cm", "chest_height_m",
        "waist_height_m", "hips_height_m", "armpit_height_m", "crotch_height_m", "chest_depth_cm"}.
    """
    return measure(vertices, faces, joints).to_dict()


# --- tape measurements -------------------------------------------------------------------------
#: keys of :func:`tape_measurements`, in the order a tailor writes them down (all cm).
TAPE_KEYS = (
    "height_cm", "bust_cm", "underbust_cm", "waist_cm", "high_hip_cm", "hips_cm", "neck_cm",
    "shoulder_width_cm", "arm_length_cm", "inseam_cm", "thigh_cm", "upper_arm_cm", "calf_cm",
)


def slice_plane(vertices: np.ndarray, faces: np.ndarray, origin, normal) -> list[np.ndarray]:
    """Cut a mesh with any plane (through ``origin``, perpendicular to ``normal``).

    Args:
        vertices: (V, 3) float, metres; faces: (F, 3) int; origin, normal: (3,) float.

    Returns:
        A list of (N_i, 3) float64 arrays, one per connected piece of the cut (unordered points).
    """
    v = np.asarray(vertices, dtype=np.float64)
    n = np.asarray(normal, dtype=np.float64)
    n = n / max(np.linalg.norm(n), 1e-12)
    o = np.asarray(origin, dtype=np.float64)
    basis = _plane_basis(n)
    # rotate so the plane is horizontal (y = 0) and reuse the horizontal slicer
    local = (v - o) @ np.stack([basis[0], n, basis[1]], axis=1)
    loops = slice_loops(local, faces, 0.0)
    back = np.stack([basis[0], n, basis[1]], axis=0)
    return [lp @ back + o for lp in loops]


def _plane_basis(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane perpendicular to unit ``n`` (right-handed with it)."""
    helper = np.array([0.0, 0.0, 1.0]) if abs(n[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(n, helper)
    u /= np.linalg.norm(u)
    w = np.cross(u, n)
    return u, w


def plane_circumference(vertices, faces, origin, normal, max_radius: float = 0.25) -> float:
    """Tape length around the piece of a plane cut that encloses ``origin``: the perimeter of
    that piece's convex hull in the plane, metres (NaN when no piece encloses it, or the piece
    reaches further than ``max_radius`` from ``origin``, i.e. the limb merges with the torso).

    Args:
        vertices: (V, 3) float, metres; faces: (F, 3) int; origin, normal: (3,) float.
    """
    n = np.asarray(normal, dtype=np.float64)
    n = n / max(np.linalg.norm(n), 1e-12)
    o = np.asarray(origin, dtype=np.float64)
    u, w = _plane_basis(n)
    best = None
    for loop in slice_plane(vertices, faces, o, n):
        uv = np.stack([(loop - o) @ u, (loop - o) @ w], axis=1)
        if len(uv) < 3:
            continue
        try:
            hull = uv[ConvexHull(uv).vertices]
        except Exception:
            continue
        if _inside(hull, np.zeros(2)):
            if np.linalg.norm(uv, axis=1).max() > max_radius:
                return float("nan")
            length = _perimeter(hull)
            best = length if best is None else min(best, length)
    return float("nan") if best is None else best


@dataclass
class TapeMeasurements:
    """Tailor's measurements of a body (see docs/measurements.md for every landmark).

    Attributes:
        values: {key: cm} for :data:`TAPE_KEYS` (NaN where a landmark was not found).
        landmarks: {name: height in metres above the floor (canonical frame)}.
    """

    values: dict
    landmarks: dict

    def to_dict(self) -> dict:
        return {k: (None if not np.isfinite(v) else round(float(v), 2)) for k, v in self.values.items()}


def tape_measurements(vertices, faces, joints, step: float = 0.005) -> TapeMeasurements:
    """Measure a body like a tailor's tape (cm): circumferences are convex lengths of plane
    slices (horizontal on the torso, perpendicular to the bone on limbs and neck), lengths run
    between surface landmarks.

    Args:
        vertices: (V, 3) float, metres, canonical frame, standing in an A- or T-pose.
        faces: (F, 3) int triangle indices (a closed mesh).
        joints: (16, 3) float named joints (NAMED_JOINTS order), metres, canonical frame.
        step: spacing of the slices searched for landmarks, metres.

    Returns:
        :class:`TapeMeasurements`.
    """
    v, f, j = _body_arrays(vertices, faces, joints)
    base = measure(v, f, j, step=step)
    s = _Slicer(v, f, j)
    floor = float(v[:, 1].min())
    val: dict = {"height_cm": base.height_cm, "bust_cm": base.chest_cm, "waist_cm": base.waist_cm,
                 "hips_cm": base.hips_cm}
    marks = {"bust": base.chest_height_m, "waist": base.waist_height_m, "hips": base.hips_height_m,
             "crotch": base.crotch_height_m, "armpit": base.armpit_height_m}

    # under-bust: UNDERBUST_LEVEL of the way down from the bust level to the waist level
    y_ub = underbust_level(base.chest_height_m, base.waist_height_m)
    val["underbust_cm"] = s.circumference(y_ub) * 100.0 if np.isfinite(y_ub) else float("nan")
    marks["underbust"] = y_ub
    # high hip: halfway between the waist and hip levels
    y_hh = 0.5 * (base.waist_height_m + base.hips_height_m)
    val["high_hip_cm"] = s.circumference(y_hh) * 100.0
    marks["high_hip"] = y_hh

    # neck: perpendicular to the neck (neck joint -> head joint), 40 % of the way up
    a, b = j[_J["neck"]], j[_J["head"]]
    val["neck_cm"] = plane_circumference(v, f, a + 0.4 * (b - a), b - a, max_radius=0.15) * 100.0
    marks["neck"] = float((a + 0.4 * (b - a))[1])

    # shoulder points: the top of the body straight above each shoulder joint
    sp = {}
    for side in ("left", "right"):
        js = j[_J[f"{side}_shoulder"]]
        near = np.linalg.norm(v[:, [0, 2]] - js[[0, 2]], axis=1) < 0.025
        near &= v[:, 1] > js[1] - 0.02
        sp[side] = v[near][np.argmax(v[near][:, 1])] if near.any() else js + np.array([0.0, 0.05, 0.0])
    marks["shoulder_point"] = float(0.5 * (sp["left"][1] + sp["right"][1]))
    val["shoulder_width_cm"] = _back_arc(s, sp["left"], sp["right"]) * 100.0

    # arm length: shoulder point -> elbow -> wrist (the tape over a slightly bent arm)
    arms = []
    for side in ("left", "right"):
        e, w = j[_J[f"{side}_elbow"]], j[_J[f"{side}_wrist"]]
        arms.append(np.linalg.norm(sp[side] - e) + np.linalg.norm(e - w))
    val["arm_length_cm"] = float(np.mean(arms)) * 100.0
    # inseam: crotch to floor
    val["inseam_cm"] = (base.crotch_height_m - floor) * 100.0

    # limbs: largest perpendicular circumference in a band along the bone, mean of both sides
    def limb(joint_a, joint_b, t_lo, t_hi, max_radius):
        out = []
        for side in ("left", "right"):
            a, b = j[_J[f"{side}_{joint_a}"]], j[_J[f"{side}_{joint_b}"]]
            c = [plane_circumference(v, f, a + t * (b - a), b - a, max_radius) for t in np.linspace(t_lo, t_hi, 7)]
            c = [x for x in c if np.isfinite(x)]
            if c:
                out.append(max(c))
        return float(np.mean(out)) * 100.0 if out else float("nan")

    # thigh: just below the crotch (from 3 cm below it, 10 % further down the thigh)
    ys_hip = float(j[[_J["left_hip"], _J["right_hip"]], 1].mean())
    ys_knee = float(j[[_J["left_knee"], _J["right_knee"]], 1].mean())
    t0 = float(np.clip((ys_hip - (base.crotch_height_m - 0.03)) / max(ys_hip - ys_knee, 1e-6), 0.05, 0.6))
    val["thigh_cm"] = limb("hip", "knee", t0, t0 + 0.1, 0.16)
    val["upper_arm_cm"] = limb("shoulder", "elbow", 0.35, 0.65, 0.10)
    val["calf_cm"] = limb("knee", "ankle", 0.15, 0.5, 0.12)
    return TapeMeasurements(values={k: float(val[k]) for k in TAPE_KEYS},
                            landmarks={k: round(float(x), 4) for k, x in marks.items()})


#: the under-bust level's place between the bust level (0) and the waist level (1). Measured on
#: 7 fitted benchmark scans (benchmarks/fit.py, the twin's shape against the true one): the tape
#: at 0.3 of the way differed by 2.2 mm on average (0.2: 2.2, 0.4: 2.7, 0.5: 2.7 mm); the former
#: rule (where the front of the torso had dropped 75 % of the way to its lowest point in the 12 cm
#: below the bust, 0.2-0.57 of the way on random bodies) jumped between slices: 5.5 mm, up to 14.
UNDERBUST_LEVEL = 0.3


def underbust_level(bust_y: float, waist_y: float) -> float:
    """Height (metres) of the under-bust tape: :data:`UNDERBUST_LEVEL` of the way from the bust
    level ``bust_y`` down to the waist level ``waist_y`` (both metres, canonical frame). Both
    landmarks move smoothly with the body, so the level does too."""
    return float(bust_y - UNDERBUST_LEVEL * (bust_y - waist_y))


def _back_arc(s: _Slicer, left: np.ndarray, right: np.ndarray) -> float:
    """Length over the back between the shoulder points, metres: the back half of the convex
    outline of the body's slice 4 cm below them, between the verticals through the points, plus
    the rise from that slice up to each point."""
    y = 0.5 * (left[1] + right[1]) - 0.04
    loops = s.loops(y)
    pts = [lp for lp in loops if lp[:, 0].min() < max(left[0], right[0]) and lp[:, 0].max() > min(left[0], right[0])]
    if not pts:
        return float("nan")
    xz = np.concatenate(pts)[:, [0, 2]]
    try:
        hull = xz[ConvexHull(xz).vertices]
    except Exception:
        return float("nan")
    x_lo, x_hi = sorted((right[0], left[0]))
    zc = float(np.median(xz[:, 1]))
    # densely resample the hull, keep its back side between the verticals
    dense = []
    for p, q in zip(hull, np.roll(hull, -1, axis=0)):
        t = np.linspace(0.0, 1.0, 20, endpoint=False)[:, None]
        dense.append(p + t * (q - p))
    dense = np.concatenate(dense)
    back = dense[(dense[:, 1] < zc) & (dense[:, 0] >= x_lo) & (dense[:, 0] <= x_hi)]
    if len(back) < 2:
        return float("nan")
    back = back[np.argsort(back[:, 0])]
    arc = float(np.linalg.norm(np.diff(back, axis=0), axis=1).sum())
    rise = 0.5 * (left[1] + right[1]) - y
    return arc + 2 * rise


def measure_model(model, shape, pose: str = "a-pose") -> dict:
    """Tape measurements (cm, :func:`tape_measurements`) of a body model's shape in a standard
    pose (default A-pose), so a twin is measured the same way whatever pose it was scanned in.

    Args:
        model: a :class:`~bodies.model.BodyModel`; shape: (1, S) float32 tensor.
        pose: pose preset name (:mod:`bodies.poses`).
    """
    import torch

    from .poses import pose_preset

    with torch.no_grad():
        out = model(shape, pose_preset(model, pose))
    t = tape_measurements(out.vertices[0].cpu().numpy(), out.faces.cpu().numpy(), out.joints[0].cpu().numpy())
    d = t.to_dict()
    d["landmarks_m"] = t.landmarks
    return d


__all__ = [
    "Measurements", "measure", "measure_body", "slice_loops", "armpit_height", "crotch_height",
    "TAPE_KEYS", "TapeMeasurements", "tape_measurements", "measure_model", "slice_plane", "plane_circumference",
    "underbust_level", "UNDERBUST_LEVEL",
]
