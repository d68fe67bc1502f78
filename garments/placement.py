"""Place flat pattern panels around a posed body by their placement hints.

Torso panels wrap an oval around the torso row by row, sized to the garment's girth in each row
(:class:`_TorsoWrap`), and bend over the shoulders above the shoulder line (:class:`_TopProfile`);
panels anchored near the shoulders hang from them. Limb panels wrap a tube around their limb (the
panel's ``x = 0`` line facing the placement side, x as arc length around it, y along its axis),
wide enough per band to close; a sleeve moves along its arm to meet its armhole. Seam pairs then
close (:func:`_close_seams`), the edges are relaxed back to the flat pattern's lengths
(:func:`relax_lengths`) and start points inside the body move out (:func:`_push_out`). The drape
job takes the cloth's rest lengths from this start shape (see :mod:`garments.dress`). The details
and the measurements behind them are in docs/patterns.md.
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


def _rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) the smallest rotation taking unit vector ``a`` to unit vector ``b``."""
    c = float(a @ b)
    k = np.cross(a, b)
    sn = float(np.linalg.norm(k))
    if sn < 1e-9:
        return np.eye(3)
    k = k / sn
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + sn * K + (1.0 - c) * (K @ K)


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
CLOSE_SHARE = 1.0
#: corner radius (m) with which a torso panel bends from the chest or back over the shoulders
FOLD_RADIUS = 0.04
#: a torso panel anchored within this distance (m) below the shoulder line hangs from the shoulders
HANG_REACH = 0.15
#: Sleeves and trouser legs longer than the limb start turned up, as a tailor would turn up a
#: hem: a sleeve reaches at most SLEEVE_PAST_WRIST (m) past the wrist joint along the forearm, a
#: trouser leg's hem stays HEM_ABOVE_FLOOR (m) above the body's lowest point, and the length past
#: that folds back up the outside of the limb round a crease of TURN_UP_RADIUS (m). Measured on the
#: XXL button shirt and straight trousers on the average body (2,000 vertices, 200 frames): hanging
#: free, the shirt's cuffs (4.3 cm past the wrists) flapped on the backs of the hands and the
#: trouser legs (5 cm below the soles) caught under the feet and rode up the shins; neither settled.
#: The library's M garments on the same body reach 1.8 cm past the wrist and 3.5 cm above the floor.
#: (a 5 mm crease left the XXL shirt's right cuff crumpled and flapping 2-5 mm a frame; with 10 mm
#: it settled in jersey, poplin and denim at frames 69-109). Less than TURN_UP_MIN (m) past the limit
#: is left as it is (the library's M button shirt reaches 3 mm past it and settles).
SLEEVE_PAST_WRIST = 0.02
HEM_ABOVE_FLOOR = 0.03
TURN_UP_RADIUS = 0.01
TURN_UP_MIN = 0.01
#: iterations of the body-aware relax after the push-out, its momentum and how often (iterations)
#: it puts the cloth back outside the body. Measured on the M T-shirt (3,000 vertices, average
#: body): 300 plain iterations left the shoulder and upper-arm strain at 24-27 % (98th percentile);
#: 500 with momentum 0.95, projecting every 10, bring them to 6-10 % (placement 2 s -> 5 s).
RELAX_ITERATIONS = 500
RELAX_MOMENTUM = 0.95
RELAX_PROJECT_EVERY = 10


class _TopProfile:
    """The top of the body seen from the front: per 1 cm band of x, the highest point of the torso
    and arms below the neck joint (the shoulder line) and the depth (z) of the body's mid-plane
    there. A torso panel that reaches above it bends over the shoulders (:meth:`fold`)."""

    def __init__(self, v: np.ndarray, parts: dict, j: np.ndarray, clearance: float):
        keep = (parts["torso"] | parts["left_arm"] | parts["right_arm"]) & (v[:, 1] < j[_J["neck"], 1])
        p = v[keep]
        self.x0 = float(p[:, 0].min())
        nb = int(np.ceil((p[:, 0].max() - self.x0) / 0.01)) + 1
        b = np.clip(((p[:, 0] - self.x0) / 0.01).astype(int), 0, nb - 1)
        top = np.full(nb, -np.inf)
        np.maximum.at(top, b, p[:, 1])
        ok = np.isfinite(top)
        idx = np.arange(nb)
        top = np.interp(idx, idx[ok], top[ok])
        top = np.maximum(top, np.maximum(np.roll(top, 1), np.roll(top, -1)))  # a band and its neighbours
        # the neck is a column, not a top: in front of and behind it the bend takes the height of
        # the shoulder line at the neck's sides and stops short of the neck (``hmin``)
        self.hmin = np.zeros(nb)
        ny = j[_J["neck"], 1] + 0.02
        neck = v[parts["torso"] | parts["head"]]
        neck = neck[np.abs(neck[:, 1] - ny) < 0.01]
        neck_band = np.zeros(nb, bool)
        if len(neck):
            cx = 0.5 * (neck[:, 0].min() + neck[:, 0].max())
            half = 0.5 * (neck[:, 0].max() - neck[:, 0].min())
            neck_band = np.abs(self.x0 + idx * 0.01 - cx) < half + 0.01
            if neck_band.any() and not neck_band.all():
                top[neck_band] = top[~neck_band][np.abs(idx[~neck_band] - idx[neck_band].mean()).argsort()[:2]].mean()
                self.hmin[neck_band] = 0.5 * (neck[:, 2].max() - neck[:, 2].min()) + clearance
                self.neck_z = 0.5 * (neck[:, 2].max() + neck[:, 2].min())
        zc = np.zeros(nb)
        for k in range(nb):
            near = (np.abs(b - k) <= 1) & (p[:, 1] > top[k] - 0.04)
            zc[k] = 0.5 * (p[near, 2].min() + p[near, 2].max()) if near.any() else np.nan
        ok = np.isfinite(zc)
        zc = np.interp(idx, idx[ok], zc[ok])
        if neck_band.any() and not neck_band.all():
            zc[neck_band] = self.neck_z
        self.top, self.zc, self.clearance = top + clearance, zc, clearance

    def _at(self, arr, x):
        k = np.clip(np.rint((np.asarray(x) - self.x0) / 0.01).astype(int), 0, len(arr) - 1)
        return arr[k]

    def _bend(self, p: np.ndarray, facing: float):
        """Per point: (shoulder line height plus clearance, mid-plane z, horizontal distance from
        the mid-plane d (at least 1 cm), corner radius, arc length past the start of the bend)."""
        top, zc = self._at(self.top, p[:, 0]), self._at(self.zc, p[:, 0])
        d = np.maximum(facing * (p[:, 2] - zc), 0.01)
        rho = np.minimum(d, FOLD_RADIUS)
        return top, zc, d, rho, p[:, 1] - (top - rho)

    def excess(self, p: np.ndarray, facing: float) -> tuple[np.ndarray, np.ndarray]:
        """(arc length past the start of the bend (<= 0: below it), arc length from there to the
        mid-plane) for points ``p`` (N, 3) of a panel facing ``facing`` (+1 front, -1 back)."""
        _top, _zc, d, rho, e = self._bend(p, facing)
        return e, 0.5 * np.pi * rho + (d - rho)

    def fold(self, p: np.ndarray, facing: float) -> np.ndarray:
        """Bend points above the shoulder line over the top of the body: up the front (or back) to
        the shoulder line less the corner radius, round the corner, then level towards the
        mid-plane (arc length kept, so the panel keeps its lengths). Points may run up to 3 cm
        past the mid-plane."""
        out = np.array(p, np.float64)
        top, zc, d, rho, e = self._bend(out, facing)
        sel = e > 0
        if not sel.any():
            return out
        e, d, rho, top, zc = e[sel], d[sel], rho[sel], top[sel], zc[sel]
        phi = np.minimum(e / rho, 0.5 * np.pi)
        level = np.maximum(e - 0.5 * np.pi * rho, 0.0)
        y = top - rho + rho * np.sin(phi)
        h = np.maximum(d - rho + rho * np.cos(phi) - level, np.maximum(self._at(self.hmin, out[sel, 0]), -0.03))
        out[sel, 1] = y
        out[sel, 2] = zc + facing * h
        return out


def _row_widths(x: np.ndarray, t: np.ndarray, bins: np.ndarray, half: float = 0.015) -> np.ndarray:
    """A panel's flat width (m) in each band ``bins`` of its height coordinate ``t`` (0 outside)."""
    w = np.zeros(len(bins))
    for i, b in enumerate(bins):
        sel = np.abs(t - b) < half
        if sel.sum() >= 2:
            w[i] = float(np.ptp(x[sel]))
    return w


class _TorsoWrap:
    """Torso panels wrap, row by row, on an oval around the torso: per 1 cm band of height, the
    torso slice's half-width and its front and back depths (from the mid-plane) plus the clearance,
    scaled up so the oval's perimeter is at least the garment's girth there (the torso panels'
    widths added up). Front and back panels of equal width then meet at the sides, seams closed;
    above the armpit the oval keeps the armpit's size (the panels narrow there: the armholes).
    A panel's flat x is arc length along the oval from its side's centre line."""

    def __init__(self, s: _Slicer, marks: dict, clearance: float, panels: list):
        ts = np.concatenate([t for _x, t in panels]) if panels else np.zeros(1)
        y_lo, y_hi = float(ts.min()) - 0.02, float(ts.max()) + 0.02
        self.y = np.arange(y_lo, y_hi + 0.01, 0.01)
        self.zc = float(s.mid[1])
        top = min(marks["armpit"] - 0.04, y_hi)  # from just under the armpit up, slices would include the arms
        ax = np.full(len(self.y), np.nan)
        bf, bb, cx = ax.copy(), ax.copy(), ax.copy()
        for i, y in enumerate(self.y):
            if y > top + 0.005:
                continue
            pts = s.torso(y)
            if pts is None or len(pts) < 3:
                continue
            cx[i] = 0.5 * (pts[:, 0].min() + pts[:, 0].max())
            ax[i] = 0.5 * np.ptp(pts[:, 0])
            bf[i] = max(pts[:, 2].max() - self.zc, 0.03)
            bb[i] = max(self.zc - pts[:, 2].min(), 0.03)
        ok = np.isfinite(ax)
        if not ok.any():
            raise InputError("the garment's torso panels do not reach the body's torso",
                             hint="check the panels' placement landmarks and offsets")
        idx = np.arange(len(self.y))
        for arr in (ax, bf, bb, cx):
            arr[:] = np.interp(idx, idx[ok], arr[ok])  # above the armpit and past the ends: the nearest slice
        for arr in (ax, bf, bb):  # a band and its neighbours (slices miss a bust point by a centimetre)
            arr[:] = np.maximum(arr, np.maximum(np.r_[arr[:1], arr[:-1]], np.r_[arr[1:], arr[-1:]]))
        girth = np.zeros(len(self.y))
        for x, t in panels:
            girth += _row_widths(x, t, self.y, 0.015)
        has = girth > 0
        if has.any():  # rows past the panels' ends take the nearest row's girth (else the hem curls in)
            girth = np.interp(idx, idx[has], girth[has])
        smooth = np.ones(7) / 7.0  # over 7 cm, so the oval changes smoothly from row to row
        for arr in (ax, bf, bb, cx, girth):
            arr[:] = np.convolve(np.pad(arr, 3, mode="edge"), smooth, mode="valid")
        self.phi = np.linspace(-np.pi, np.pi, 1441)
        self.a, self.bf, self.bb, self.cx = ax + clearance, bf + clearance, bb + clearance, cx
        self.ka = np.ones(len(self.y))
        self.kb = np.ones(len(self.y))
        self.arc = []
        for i in range(len(self.y)):
            per = self._perimeter(i)
            if girth[i] > per:
                self.ka[i] = self.kb[i] = girth[i] / per
            xs, zs = self._oval(i, self.phi)
            arc = np.r_[0.0, np.cumsum(np.hypot(np.diff(xs), np.diff(zs)))]
            self.arc.append(arc - np.interp(0.0, self.phi, arc))  # 0 at the front centre

    def _perimeter(self, i: int) -> float:
        xs, zs = self._oval(i, self.phi)
        return float(np.hypot(np.diff(xs), np.diff(zs)).sum())

    def _oval(self, i: int, phi: np.ndarray):
        b = np.where(np.abs(phi) <= 0.5 * np.pi, self.bf[i], self.bb[i])
        return self.cx[i] + self.ka[i] * self.a[i] * np.sin(phi), self.zc + self.kb[i] * b * np.cos(phi)

    def axis(self, t: np.ndarray) -> np.ndarray:
        i = np.clip(np.rint((np.asarray(t) - self.y[0]) / 0.01).astype(int), 0, len(self.y) - 1)
        return np.stack([self.cx[i], np.asarray(t, np.float64), np.full(len(i), self.zc)], axis=1)

    def place(self, x: np.ndarray, t: np.ndarray, theta0: float) -> np.ndarray:
        """(N, 3) points for flat x (arc length from the side's centre line) at heights ``t``."""
        x = np.asarray(x, np.float64)
        t = np.asarray(t, np.float64)
        i = np.clip(np.rint((t - self.y[0]) / 0.01).astype(int), 0, len(self.y) - 1)
        out = np.zeros((len(x), 3))
        out[:, 1] = t
        for row in np.unique(i):
            sel = i == row
            arc = self.arc[row]
            per = arc[-1] - arc[0]
            s0 = float(np.interp(theta0 if theta0 <= np.pi else theta0 - 2 * np.pi, self.phi, arc)) if theta0 != np.pi else arc[-1]
            target = s0 + x[sel]
            target = (target - arc[0]) % per + arc[0]
            phi = np.interp(target, arc, self.phi)
            xs, zs = self._oval(row, phi)
            out[sel, 0], out[sel, 2] = xs, zs
        return out


def _flat3(cloth: ClothPattern) -> np.ndarray:
    """(V, 3) the flat pattern in 3D (z = 0): only its edge lengths are used."""
    return np.c_[cloth.flat, np.zeros(cloth.num_vertices)]


def relax_lengths(points: np.ndarray, faces: np.ndarray, rest: np.ndarray, iterations: int = 120,
                  stiffness: float = 0.5, distance: BodyDistance | None = None, clearance: float = 0.0,
                  project_every: int = 20, sew: np.ndarray | None = None, momentum: float = 0.0) -> np.ndarray:
    """Bring a placed cloth's edge lengths back to the flat pattern's (Jacobi position-based
    projection, no body): the fold over the shoulders, the oval wrap and the seams' start leave
    some edges stretched or squashed, and the drape takes its rest lengths from its start shape.

    Args:
        points: (V, 3) start positions, metres. faces: (F, 3). rest: (V, 3) rest shape (same edges).
        distance, clearance: with a body, every ``project_every`` iterations the points closer to
            it than half the clearance go to the closest body point plus the clearance, so the
            relaxed cloth stays outside.
        sew: (E, 2) seam vertex pairs, pulled together as edges of rest length 0 (so seams stay
            closed while the panels relax).
        momentum: each step adds this share of the previous step (heavy-ball acceleration; 0.95
            reaches in 500 iterations what plain Jacobi steps reach in several thousand). A point
            put back outside the body loses its momentum.

    Returns:
        (V, 3) float64 with the edges near their rest lengths (the shape otherwise kept).
    """
    p = np.array(points, np.float64)
    f = np.asarray(faces, np.int64)
    e = np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1), axis=0)
    r = np.asarray(rest, np.float64)
    l0 = np.linalg.norm(r[e[:, 0]] - r[e[:, 1]], axis=1)
    if sew is not None and len(sew):
        e = np.concatenate([e, np.asarray(sew, np.int64).reshape(-1, 2)])
        l0 = np.concatenate([l0, np.zeros(len(sew))])
    deg = np.bincount(e.ravel(), minlength=len(p)).astype(np.float64)[:, None]
    step = np.zeros_like(p)
    near = np.arange(len(p))
    for it in range(int(iterations)):
        if distance is not None and it % project_every == project_every - 1:
            if (it // project_every) % 5 == 0:  # every 5th projection looks at all points, the others at those near the body
                near = np.nonzero(distance(p) < clearance + 0.03)[0]
            inside = near[distance(p[near]) < 0.5 * clearance] if len(near) else near
            if len(inside):
                _d, q, n = closest_points(distance, p[inside])
                p[inside] = q + n * clearance
                step[inside] = 0.0
        d = p[e[:, 1]] - p[e[:, 0]]
        length = np.maximum(np.linalg.norm(d, axis=1), 1e-9)
        corr = (stiffness * 0.5 * (length - l0) / length)[:, None] * d
        # per-vertex sums of the edge corrections (bincount: np.add.at took 2.6 of the 13 s that
        # placing the 8k-vertex T-shirt took)
        acc = np.stack([np.bincount(e[:, 0], corr[:, k], len(p)) - np.bincount(e[:, 1], corr[:, k], len(p))
                        for k in range(3)], axis=1)
        step = acc / np.maximum(deg, 1.0) + momentum * step
        p += step
    return p


def _armhole_shift(cloth: ClothPattern, pm, by_name: dict, t: np.ndarray, out: np.ndarray,
                   root: np.ndarray, u: np.ndarray) -> float:
    """How far (m) to move a sleeve along its arm so that its seams to the (already placed) torso
    panels start level with them: the mean position along the arm of the torso side of those seams
    minus the sleeve side's. 0 when the sleeve has no seam to a torso panel."""
    local = np.full(cloth.num_vertices, -1)
    local[pm.vertices] = np.arange(len(pm.vertices))
    mine, theirs = [], []
    torso = {q.name for q, pnl in zip(cloth.panels, cloth.pattern.panels.values()) if pnl.placement.region == "torso"}
    for seam in cloth.pattern.seams:
        for me, other in ((seam.a, seam.b), (seam.b, seam.a)):
            if me[0] == pm.name and other[0] in torso:
                mine.append(np.asarray(pm.edges[me[1]]))
                theirs.append(np.asarray(by_name[other[0]].edges[other[1]]))
    if not mine:
        return 0.0
    mine_t = t[local[np.concatenate(mine)]]
    their_t = (out[np.concatenate(theirs)] - root) @ u
    return float(their_t.mean() - mine_t.mean())


_THETA0 = {"front": 0.0, "top": 0.0, "left": np.pi / 2, "back": np.pi, "right": -np.pi / 2}


def _turn_up(t: np.ndarray, t_lim: float, rho: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fold a limb panel's axial coordinates ``t`` (m, decreasing towards the hand or foot) back
    at ``t_lim``: a point ``e`` past it goes round a half circle of radius ``rho`` (default
    TURN_UP_RADIUS) and then ``e`` minus the half circle back up. Arc length along the axis is
    kept, so the panel keeps its lengths. Returns (folded t, extra radius (m) off the limb: 0
    before the fold, 2 rho after)."""
    rho = TURN_UP_RADIUS if rho is None else rho
    t = np.asarray(t, np.float64)
    e = t_lim - t
    past = e > 0
    tf, extra = t.copy(), np.zeros(len(t))
    if past.any():
        ee = e[past]
        phi = np.minimum(ee / rho, np.pi)
        tf[past] = t_lim - rho * np.sin(phi) + np.maximum(ee - np.pi * rho, 0.0)
        extra[past] = rho * (1.0 - np.cos(phi))
    return tf, extra


def _limb_limit(region: str, j: np.ndarray, root: np.ndarray, u: np.ndarray, limb_len: float, floor: float) -> float | None:
    """The axial coordinate (m, along ``u`` from ``root``) past which a limb panel is turned up:
    SLEEVE_PAST_WRIST past the wrist along the forearm, or where the leg's axis comes down to
    HEM_ABOVE_FLOOR above ``floor``. None for a leg whose axis is not steep enough to say."""
    side = region.split("_")[0]
    if region.endswith("arm"):
        return -limb_len - float(np.linalg.norm(j[_J[f"{side}_elbow"]] - j[_J[f"{side}_wrist"]])) - SLEEVE_PAST_WRIST
    if u[1] < 0.5:
        return None
    return (floor + HEM_ABOVE_FLOOR - float(root[1])) / float(u[1])


def _push_out(points: np.ndarray, axis_pt: np.ndarray, distance: BodyDistance, clearance: float,
              march: np.ndarray | None = None, step: float = 0.004, steps: int = 60) -> np.ndarray:
    """Move start points that lie inside the body (or closer than half the clearance) outward
    along their own cylinder's radius until they are ``clearance`` outside, so a panel always starts
    on the outer side of the body part it wraps (a sleeve cap over the shoulder, not through it);
    points that find no way out in ``steps`` steps go to the closest body point plus the clearance
    along its normal. Only the start shape changes: the rest shape stays the flat pattern.

    Args:
        points: (N, 3) float64 start positions, metres, canonical frame.
        axis_pt: (N, 3) the point of each one's cylinder axis at its height.
        march: (N,) bool, the points that march out along their radius (torso panels); the
            others (limb panels, whose radius near the armpit or crotch points into the torso) go
            straight to the closest body point plus the clearance. None: all march.
    """
    out = np.array(points, np.float64)
    radial = out - axis_pt  # from the axis point (or from straight below it: upwards)
    radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
    near = distance(out) < 0.5 * clearance
    if march is not None and (near & ~march).any():
        jump = np.nonzero(near & ~march)[0]
        _d, q, n = closest_points(distance, out[jump])
        out[jump] = q + n * clearance
        near &= march
    todo = np.nonzero(near)[0]
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
    clearance: float = 0.012,
    distance: BodyDistance | None = None,
    close_seams: bool = True,
    turn_up: bool = True,
    info: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """3D start positions of a meshed pattern around a posed body, and its seam pairs.

    Args:
        cloth: the flat meshed pattern (:func:`garments.mesher.mesh_pattern`).
        vertices, faces, joints: the body, metres, canonical frame (an A-pose or T-pose).
        measurements: the body's measurements (landmark heights).
        clearance: gap left between the cloth and the body, metres.
        close_seams: start the seams nearly closed (see :func:`_close_seams`).
        turn_up: turn up sleeves and legs that reach past the limb's limit (see SLEEVE_PAST_WRIST).
        info: a dict that receives ``turned_up_cm`` (region -> cm turned up), ``too_long_cm``
            (region -> cm the flat panel reaches past the limit, turned up or not) and
            ``turned_up_vertices`` ((V,) bool, the cloth past the fold).

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
    profile = _TopProfile(v, parts, j, clearance)
    panels = list(zip(cloth.panels, cloth.pattern.panels.values()))
    # first pass: each panel's height coordinate along its region's axis
    frames, ts = [], []
    for pm, panel in panels:
        pl = panel.placement
        root, u, f, sd = _frame(pl.region, pl.side, j, s.mid)
        anchor = np.asarray(panel.points[pl.anchor], np.float64) / 100.0
        t = cloth.flat[pm.vertices][:, 1] - anchor[1] + pl.offset_cm / 100.0
        if pl.landmark != "root":
            if pl.landmark not in marks:
                raise InputError(f"panel {panel.name!r}: unknown landmark {pl.landmark!r}", hint=f"use one of: root, {', '.join(marks)}")
            t = t + (marks[pl.landmark] - root[1]) / u[1] if abs(u[1]) > 0.2 else t
        frames.append((root, u, f, sd, anchor))
        ts.append(t)
    torso = _TorsoWrap(s, marks, clearance, [(cloth.flat[pm.vertices][:, 0], t) for (pm, panel), t in zip(panels, ts)
                                             if panel.placement.region == "torso"])
    # A torso panel anchored near or above the shoulder line (a shirt's or dress's shoulder seam
    # end) hangs from the top of the body: the hanging panels move up or down together (by their
    # mean shift, so front and back side seams start level) until their anchors sit about on the
    # mid-plane; panels anchored lower (skirts, trousers) stay where they are.
    shifts = {}
    for k, ((pm, panel), (root, u, f, sd, anchor)) in enumerate(zip(panels, frames)):
        pl = panel.placement
        if pl.region == "torso" and pl.side in ("front", "back"):
            ta = pl.offset_cm / 100.0 + ((marks[pl.landmark] - root[1]) if pl.landmark != "root" else 0.0)
            pa = torso.place(np.array([anchor[0]]), np.array([ta]), _THETA0[pl.side])
            e, need = profile.excess(pa, 1.0 if pl.side == "front" else -1.0)
            if e[0] > -HANG_REACH:
                shifts[k] = float(need[0] - e[0])
    hang = float(np.mean(list(shifts.values()))) if shifts else 0.0
    if shifts:  # the oval's rows follow the panels' new heights (else its girth rows are off by the shift)
        for k in shifts:
            ts[k] = ts[k] + hang
        torso = _TorsoWrap(s, marks, clearance, [(cloth.flat[pm.vertices][:, 0], t) for (pm, panel), t in zip(panels, ts)
                                                 if panel.placement.region == "torso"])
    march = np.zeros(cloth.num_vertices, bool)
    turned, too_long = {}, {}
    turned_cloth = np.zeros(cloth.num_vertices, bool)
    floor = float(v[:, 1].min())
    by_name = {pm.name: pm for pm in cloth.panels}
    # torso panels first: a sleeve is then moved along its arm to meet its armhole
    order = sorted(range(len(panels)), key=lambda i: panels[i][1].placement.region != "torso")
    for k in order:
        (pm, panel), (root, u, f, sd, anchor), t = panels[k], frames[k], ts[k]
        pl = panel.placement
        xy = cloth.flat[pm.vertices]
        if pl.region.endswith("arm"):
            t = t + _armhole_shift(cloth, pm, by_name, t, out, root, u)
        if pl.region == "torso":
            march[pm.vertices] = True
            pts = torso.place(xy[:, 0], t, _THETA0[pl.side])
            axis_pt[pm.vertices] = torso.axis(t)
            if pl.side in ("front", "back"):
                pts = profile.fold(pts, 1.0 if pl.side == "front" else -1.0)
            out[pm.vertices] = pts
            # above the armpit (shoulders, neck) a point that starts inside goes to the closest
            # body point instead of marching out along its radius (which runs into the arm or head)
            high = axis_pt[pm.vertices, 1] > marks["armpit"] - 0.02
            march[pm.vertices[high]] = False
            continue
        # a limb: the region's vertices (for a leg, plus the same side of the lower torso)
        mask = parts[pl.region].copy()
        if pl.region.endswith("leg"):
            sign = 1.0 if pl.region.startswith("left") else -1.0
            mask |= parts["torso"] & (sign * (v[:, 0] - s.mid[0]) > -0.02) & (v[:, 1] < marks["waist"] + 0.08)
        rv = v[mask] - root
        side_name = pl.region.split("_")[0]
        limb_len = float(np.linalg.norm(j[_J[f"{side_name}_shoulder"]] - j[_J[f"{side_name}_elbow"]])) \
            if pl.region.endswith("arm") else 0.0
        rt = rv @ u
        rr = np.linalg.norm(rv - rt[:, None] * u, axis=1)
        t_lim = _limb_limit(pl.region, j, root, u, limb_len, floor)
        if t_lim is not None and t.min() < t_lim - TURN_UP_MIN:
            too_long[pl.region] = max(too_long.get(pl.region, 0.0), round(100.0 * (t_lim - float(t.min())), 1))
        if turn_up and pl.region in too_long:
            tf, extra = _turn_up(t, t_lim)
            turned[pl.region] = too_long[pl.region]
            turned_cloth[pm.vertices[extra > 0]] = True
        else:
            tf, extra = t, np.zeros(len(t))
        bend = None
        if pl.region.endswith("arm"):  # a sleeve follows the forearm past the elbow (its own axis)
            elbow = j[_J[f"{side_name}_elbow"]]
            u2 = elbow - j[_J[f"{side_name}_wrist"]]
            u2 = u2 / np.linalg.norm(u2)
            bend = (elbow, u2, _rotation(u, u2))
            fore = rt < -limb_len
            w = v[mask][fore] - elbow
            s2 = w @ u2
            rt[fore] = -limb_len + s2
            rr[fore] = np.linalg.norm(w - s2[:, None] * u2, axis=1)
        # body radius per 2 cm band along the axis (the largest distance in the band and its neighbours)
        bins = np.arange(t.min() - 0.04, t.max() + 0.06, 0.02)
        rad = np.zeros(len(bins))
        below = rt < -0.45 * limb_len if pl.region.endswith("arm") else np.ones(len(rt), bool)
        for b_i, b in enumerate(bins):
            # the shoulder joint: its torso-side vertices would blow the sleeve up, so an arm band
            # looks only at vertices below it (a band centred just below, whose 3 cm window reached
            # into it, made one sleeve of the heavy body 14 cm round instead of 6)
            sel = (np.abs(rt - b) < 0.03) & below
            if pl.region.endswith("arm") and b > -0.45 * limb_len:
                continue
            rad[b_i] = np.percentile(rr[sel], 95) if sel.sum() > 5 else 0.0
        if not np.any(rad > 0):
            raise InputError(f"panel {panel.name!r} does not reach its body region {pl.region!r}",
                             hint="check its placement anchor, landmark and offset_cm")
        ok = rad > 0
        rad = np.interp(np.arange(len(bins)), np.nonzero(ok)[0], rad[ok])
        # per band, the tube is at least wide enough for the region's panels to close around it
        # (a sleeve: its own width; a trouser leg: front plus back), and clears the body part
        girth = np.zeros(len(bins))
        for k2, ((pm2, panel2), t2) in enumerate(zip(panels, ts)):
            if panel2.placement.region == pl.region:
                girth += _row_widths(cloth.flat[pm2.vertices][:, 0], t if k2 == k else t2, bins)
        # (a sleeve or leg narrower than the part plus the clearance still starts closed, nearer)
        # (a turned-up point: the body's radius where it now is, the girth of its own row)
        radius = np.maximum(np.interp(tf, bins, rad + min(clearance, 0.005)), np.interp(t, bins, girth / (2.0 * np.pi)))
        theta = _THETA0[pl.side] + xy[:, 0] / radius
        radius = radius + extra
        t = tf
        base = root + t[:, None] * u
        fv = np.broadcast_to(f, base.shape).copy()
        sv = np.broadcast_to(sd, base.shape).copy()
        if bend is not None:
            elbow, u2, rot = bend
            fore = t < -limb_len
            base[fore] = elbow + (t[fore] + limb_len)[:, None] * u2
            fv[fore], sv[fore] = rot @ f, rot @ sd
        axis_pt[pm.vertices] = base
        out[pm.vertices] = base + radius[:, None] * (np.cos(theta)[:, None] * fv + np.sin(theta)[:, None] * sv)
    distance = distance or BodyDistance(v, faces)
    rev = _orient(cloth, out)
    if close_seams:
        out = _close_seams(cloth, out, seam_pairs(cloth, rev))
    pairs = seam_pairs(cloth, rev)
    out = relax_lengths(out, cloth.faces, _flat3(cloth), sew=pairs if close_seams else None)
    out = _push_out(out, axis_pt, distance, clearance, march)
    # the push-out stretches the edges around the points it moved: relax again while keeping the
    # cloth outside the body, and whatever is still inside goes to the closest body point
    out = relax_lengths(out, cloth.faces, _flat3(cloth), iterations=RELAX_ITERATIONS, distance=distance,
                        clearance=clearance, project_every=RELAX_PROJECT_EVERY, momentum=RELAX_MOMENTUM,
                        sew=pairs if close_seams else None)
    out = _push_out(out, axis_pt, distance, clearance, np.zeros(len(out), bool))
    if info is not None:
        info["turned_up_cm"] = turned
        info["too_long_cm"] = too_long
        info["turned_up_vertices"] = turned_cloth
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


def _close_seams(cloth: ClothPattern, out: np.ndarray, pairs: np.ndarray, sigma: float = 0.05,
                 share: float = CLOSE_SHARE) -> np.ndarray:
    """Start the seams (nearly) closed, the rest of each panel following with a Gaussian falloff
    (``sigma`` metres, measured on the flat pattern), so sleeve caps meet their armholes before the
    simulation starts instead of being pulled there, possibly through the body, by the sewing
    springs. A seam between a torso panel and a limb panel (a sleeve cap) closes fully with the
    limb side moving onto the torso side, which stays; on other seams both sides move ``share`` of
    the way to the midpoint. :func:`relax_lengths` then evens out the lengths this distorts."""
    if not len(pairs):
        return out
    torso = np.array([pnl.placement.region == "torso" for pnl in cloth.pattern.panels.values()])
    ta, tb = torso[cloth.panel_of[pairs[:, 0]]], torso[cloth.panel_of[pairs[:, 1]]]
    sa = np.where(ta & ~tb, 0.0, np.where(tb & ~ta, 1.0, 0.5 * share))  # share of the gap a moves
    sb = np.where(tb & ~ta, 0.0, np.where(ta & ~tb, 1.0, 0.5 * share))
    gap = out[pairs[:, 1]] - out[pairs[:, 0]]
    idx = np.concatenate([pairs[:, 0], pairs[:, 1]])
    disp = np.concatenate([sa[:, None] * gap, -sb[:, None] * gap])
    moving = np.linalg.norm(disp, axis=1) > 0
    idx, disp = idx[moving], disp[moving]
    res = out.copy()
    for pi in range(len(cloth.panels)):
        mine = cloth.panel_of[idx] == pi
        if not mine.any():
            continue
        verts = np.nonzero(cloth.panel_of == pi)[0]
        d2 = ((cloth.flat[verts][:, None, :] - cloth.flat[idx[mine]][None]) ** 2).sum(-1)
        w = np.exp(-d2 / (2.0 * sigma**2))
        res[verts] += (w @ disp[mine]) / np.maximum(w.sum(1), 1.0)[:, None]
    return res


__all__ = ["place_pattern", "body_parts", "landmark_heights", "thin_body", "relax_lengths"]
