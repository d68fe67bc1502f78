"""Procedural hair: a few styles grown on the twin's scalp, in any colour.

A :class:`HairSpec` names a style of :data:`STYLES` and a colour (``"bob:#3b2a20"`` on the
command line, ``twin.json``'s ``appearance.hair``, a scene). :func:`grow_hair` makes, for one
posed body:

- ``strands``: (S, K, 3) polylines (Cycles draws them as curves with a hair BSDF);
- ``proxy``: a mesh (a cap over the scalp plus ribbon cards along guide strands) for pyrender,
  PyTorch3D and Workbench, so every backend shows the same silhouette.

The hair is grown at rest (T-pose, +Y up, facing +Z) on the scalp (head vertices outside Anny's
face and ear masks, above the nape) as walks over an ellipsoid fitted to the head, then a fall
under gravity; it is moved onto the posed head by the head's rigid motion (a best-fit rotation
of the head's vertices). Hair is only drawn: it never enters the cloth collider, so garments
drape on the body and the hair sits over their neckline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
import numpy as np

from engine.errors import InputError

#: Styles: length below the ellipsoid walk (metres of fall), how strands comb, strand count.
STYLES: dict[str, dict] = {
    "crop": {"walk": 0.0, "fall": 0.0, "lift": 0.06, "comb": "back", "strands": 20000},
    "short": {"walk": 0.55, "fall": 0.0, "lift": 0.10, "comb": "back", "strands": 16000},
    "bob": {"walk": 1.0, "fall": 0.07, "lift": 0.12, "comb": "down", "strands": 20000},
    "long": {"walk": 1.0, "fall": 0.30, "lift": 0.12, "comb": "down", "strands": 24000},
    "ponytail": {"walk": 1.0, "fall": 0.24, "lift": 0.07, "comb": "tie", "strands": 20000},
    "bun": {"walk": 1.0, "fall": 0.0, "lift": 0.07, "comb": "bun", "strands": 20000},
}

#: Named hair colours (sRGB hex), besides any ``#rrggbb``.
HAIR_COLORS = {
    "black": "#16110e", "dark-brown": "#3b2a20", "brown": "#5a3d2b", "auburn": "#7a3b22",
    "blonde": "#b8925e", "platinum": "#d9c9a8", "grey": "#8f8a85", "red": "#8e3a1c",
}


@dataclass(frozen=True)
class HairSpec:
    """A hairstyle and its colour.

    Attributes:
        style: one of :data:`STYLES`, or ``"none"`` (bald).
        color: sRGB hex ``#rrggbb`` (as people pick colours).
        seed: the strands' seed.
    """

    style: str = "short"
    color: str = "#3b2a20"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.style not in STYLES and self.style != "none":
            raise InputError(f"unknown hairstyle {self.style!r}", hint=f"choose one of {', '.join(STYLES)} or none")
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", self.color):
            raise InputError(f"hair colour must be #rrggbb, got {self.color!r}", hint=f"or a name: {', '.join(HAIR_COLORS)}")

    @property
    def linear_rgb(self) -> tuple[float, float, float]:
        """The colour as linear RGB floats (what the renderers take)."""
        from .atlas import srgb_to_linear

        c = np.array([int(self.color[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
        return tuple(float(x) for x in srgb_to_linear(c))

    def to_dict(self) -> dict:
        return {"style": self.style, "color": self.color, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict | None) -> "HairSpec | None":
        if not d:
            return None
        return cls(str(d.get("style", "short")), str(d.get("color", "#3b2a20")), int(d.get("seed", 0)))


def parse_hair(text: str | None) -> HairSpec | None:
    """``"bob:#3b2a20"``, ``"long:blonde"``, ``"crop"`` or ``"none"`` -> :class:`HairSpec` (None
    for ``"none"`` or an empty value).

    Raises:
        InputError: an unknown style or a bad colour.
    """
    if text is None or not str(text).strip() or str(text).strip() == "none":
        return None
    style, _, color = str(text).strip().partition(":")
    color = color.strip() or "#3b2a20"
    color = HAIR_COLORS.get(color, color)
    if not color.startswith("#"):
        color = "#" + color
    return HairSpec(style.strip(), color)


@dataclass
class Hair:
    """Hair grown on one posed body (canonical frame, metres).

    Attributes:
        spec: what was grown.
        strands: (S, K, 3) float32 polylines, root first.
        radius: (K,) float32 strand radius along a strand, metres (root to tip).
        proxy_vertices, proxy_faces: the mesh proxy ((P, 3) float32, (Q, 3) int64): first the
            cap over the scalp (``cap_faces`` faces), then the ribbon cards.
        cap_faces: number of leading proxy faces that form the cap.
    """

    spec: HairSpec
    strands: np.ndarray
    radius: np.ndarray
    proxy_vertices: np.ndarray
    proxy_faces: np.ndarray
    cap_faces: int = 0


# --- the scalp --------------------------------------------------------------------------------


def scalp_faces(model, rest: np.ndarray) -> np.ndarray:
    """(F_s,) indices of the faces of the scalp on the rest body ``rest`` ((V, 3), T-pose)."""
    from .skin import region_masks
    from .atlas import sample_uv

    faces = model.faces_numpy()
    corner_uv = model.corner_uvs()
    if corner_uv is None:
        raise InputError(f"model {model.name!r} has no UV atlas to find the scalp on", hint="use the anny model")
    masks = region_masks(256)
    face_w = sample_uv(masks["face"][..., None], corner_uv.reshape(-1, 2)).reshape(-1, 3).max(axis=1)
    ear_w = sample_uv(masks["ears"][..., None], corner_uv.reshape(-1, 2)).reshape(-1, 3).max(axis=1)
    tri = rest[faces]
    c = tri.mean(axis=1)
    top = rest[:, 1].max()
    head = c[:, 1] > top - 0.26
    # the head: faces above the chin whose centre is within a head-sized ball of the skull centre
    crown = c[:, 1] > top - 0.1
    skull = np.array([np.median(c[head, 0]), top - 0.11, 0.5 * (c[crown, 2].min() + c[crown, 2].max())])
    near = np.linalg.norm((c - skull) / np.array([0.10, 0.13, 0.13]), axis=1) < 1.25
    # the nape line: low at the back, rising to the ears and the temples
    back = (skull[2] - c[:, 2]) / 0.1  # > 0 behind the skull centre
    nape = top - 0.205 + 0.07 * np.clip(1.0 - back, 0.0, 2.0)
    forehead = c[:, 1] > top - 0.055  # the hairline: a little into Anny's face mask
    scalp = head & near & ((face_w < 0.2) | forehead) & (ear_w < 0.2) & (c[:, 1] > nape)
    # eyeballs and the mouth's inside sit in their own UV islands: never scalp
    cu = corner_uv.mean(axis=1)
    scalp &= cu[:, 1] < 0.9
    # nothing near the eyes (eyelashes are helper faces outside the face mask)
    eyes = (cu[:, 1] > 0.9) & (cu[:, 0] > 0.74)
    if eyes.any():
        from scipy.spatial import cKDTree

        d, _ = cKDTree(c[eyes]).query(c, distance_upper_bound=0.05)
        scalp &= ~np.isfinite(d)
    return np.flatnonzero(scalp)


def _rigid(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) minimising |R a + t - b| (Kabsch), both (N, 3)."""
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, cb - r @ ca


# --- growing ------------------------------------------------------------------------------------


def _slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    dot = np.clip(np.einsum("nd,nd->n", a, b), -0.9999, 0.9999)
    om = np.arccos(dot)[:, None]
    so = np.sin(om)
    return (np.sin((1 - t) * om) * a + np.sin(t * om) * b) / so


def grow_hair(spec: HairSpec, model, rest: np.ndarray, posed: np.ndarray, n_points: int = 14,
              strands: int | None = None) -> Hair:
    """Grow ``spec`` on a body.

    Args:
        spec: style and colour.
        model: the body model (for its faces and UV atlas).
        rest: (V, 3) the same body at rest (T-pose), metres, canonical frame.
        posed: (V, 3) the body as it will be drawn (any pose), metres, canonical frame.
        n_points: points per strand.
        strands: strand count (default the style's).

    Returns:
        A :class:`Hair` on the posed head.
    """
    style = STYLES[spec.style]
    rng = np.random.default_rng(spec.seed)
    faces = model.faces_numpy()
    sf = scalp_faces(model, rest)
    tri = rest[faces[sf]]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    n = int(strands or style["strands"])
    pick = rng.choice(len(sf), size=n, p=area / area.sum())
    w = rng.dirichlet((1.0, 1.0, 1.0), size=n)
    roots = np.einsum("nk,nkd->nd", w, tri[pick])
    head_v = np.unique(faces[sf].reshape(-1))
    lo, hi = rest[head_v].min(axis=0), rest[head_v].max(axis=0)
    centre = 0.5 * (lo + hi)
    centre[1] = hi[1] - 0.5 * (hi[2] - lo[2]) * 0.95
    radii = 0.5 * (hi - lo) * np.array([1.0, 1.0, 1.0])
    radii[1] = hi[1] - centre[1]
    d0 = (roots - centre) / radii
    d0 /= np.linalg.norm(d0, axis=1, keepdims=True)
    lift = 1.0 + style["lift"] * (0.35 + 0.65 * rng.random((n, 1)))
    comb = style["comb"]
    horiz = np.c_[d0[:, 0], np.zeros(n), d0[:, 2]]
    if comb in ("back", "down"):
        # part in the middle: strands fall away from the parting; the front ones swept aside
        side = np.where(d0[:, :1] >= 0, 1.0, -1.0)
        front = np.clip(d0[:, 2:3] * 1.6, 0.0, 1.0)
        horiz = horiz * (1 - front) + np.c_[side[:, 0], np.zeros(n), np.zeros(n)] * front
        horiz[:, 2] -= 0.35 if comb == "back" else 0.05
        target = horiz / np.maximum(np.linalg.norm(horiz, axis=1, keepdims=True), 1e-9) * 0.75
        target[:, 1] = -0.66 if comb == "down" else -0.2
    else:
        tie = np.array([0.0, 0.45, -0.9]) if comb == "tie" else np.array([0.0, 0.72, -0.7])
        target = np.repeat(tie[None, :], n, axis=0)
    target /= np.linalg.norm(target, axis=1, keepdims=True)
    k = int(n_points)
    walk = float(style["walk"])
    fall = float(style["fall"])
    if walk == 0.0:  # crop: short stubble along the normal, tilted back
        tips = d0 + np.array([0.0, -0.15, -0.25])
        t = np.linspace(0, 1, k)[None, :, None]
        shell0 = roots
        shell1 = centre + radii * (tips / np.linalg.norm(tips, axis=1, keepdims=True)) * (1.0 + 0.03 / radii.mean())
        pts = shell0[:, None, :] * (1 - t) + shell1[:, None, :] * t
    else:
        k_walk = k if fall == 0.0 and comb != "tie" else max(4, k // 2)
        t = np.linspace(0.0, walk, k_walk)[:, None]
        pts_walk = []
        for s in t[:, 0]:
            d = _slerp(d0, target, np.full((n, 1), s))
            shell = lift + (1 - np.abs(1 - 2 * s)) * 0.03  # a little volume mid-way
            pts_walk.append(centre + radii * d * shell)
        pts = np.stack(pts_walk, axis=1)
        # start at the root itself, joining the ellipsoid walk over its first part
        ease = (1.0 - np.clip(t[:, 0] / max(min(walk, 0.5), 1e-6), 0.0, 1.0)) ** 2
        pts = pts + (roots - pts[:, 0])[:, None, :] * ease[None, :, None]
        if comb == "bun":
            pts = _bun(pts, centre + radii * target[0] * 1.05, rng, k)
        elif comb == "tie":
            pts = _tail(pts, centre + radii * target[0] * 1.08, fall, rng, k)
        elif fall > 0:
            pts = _fall(pts, fall * (0.85 + 0.3 * rng.random(n)), k, rng)
    # keep strands out of the head and body at rest (the fall passes the neck and shoulders)
    pts = _push_out(pts, rest, margin=0.006)
    r, tr = _rigid(rest[head_v], posed[head_v])
    strands_posed = (pts.reshape(-1, 3) @ r.T + tr).reshape(pts.shape).astype(np.float32)
    # drawn strands stand for several real hairs each (a real head has ~100k): thicker than a hair
    radius = np.linspace(0.00016, 0.00005, pts.shape[1]).astype(np.float32)
    cap_v, cap_f = _cap(posed, faces[sf], offset=0.002 + 0.004 * (spec.style != "crop"))
    card_v, card_f = _cards(strands_posed[:: max(1, n // 900)], width=0.012)
    pv = np.concatenate([cap_v, card_v]).astype(np.float32)
    pf = np.concatenate([cap_f, card_f + len(cap_v)]).astype(np.int64)
    return Hair(spec, strands_posed, radius, pv, pf, int(len(cap_f)))


def _fall(pts: np.ndarray, length: np.ndarray, k: int, rng) -> np.ndarray:
    """Continue each strand straight down by ``length`` (N,) metres, slightly outward."""
    n, kw = pts.shape[:2]
    rest = k - kw
    if rest <= 0:
        return pts
    last = pts[:, -1]
    out_dir = np.c_[last[:, 0], np.zeros(n), last[:, 2]]
    out_dir -= np.c_[np.median(last[:, 0]), 0.0, np.median(last[:, 2])]
    out_dir /= np.maximum(np.linalg.norm(out_dir, axis=1, keepdims=True), 1e-9)
    t = np.linspace(0, 1, rest + 1)[1:][None, :, None]
    drop = last[:, None, :] + np.array([0.0, -1.0, 0.0]) * (length[:, None, None] * t)
    drop += out_dir[:, None, :] * (0.012 * t + 0.004 * rng.normal(size=(n, 1, 1)) * t)
    return np.concatenate([pts, drop], axis=1)


def _tail(pts: np.ndarray, tie: np.ndarray, length: float, rng, k: int) -> np.ndarray:
    """Gather strands at ``tie`` and let a ponytail fall from it."""
    n, kw = pts.shape[:2]
    rest = k - kw
    spread = rng.normal(size=(n, 3)) * np.array([0.012, 0.006, 0.010])
    t = np.linspace(0, 1, rest + 1)[1:][None, :, None]
    start = tie + spread * 0.4
    path = start[:, None, :] + np.array([0.0, -1.0, -0.25]) * (length * t) + spread[:, None, :] * (0.4 + 1.2 * t)
    pts = pts.copy()
    pts[:, -1] = start  # the walk ends at the tie
    return np.concatenate([pts, path], axis=1)


def _bun(pts: np.ndarray, tie: np.ndarray, rng, k: int) -> np.ndarray:
    """Wind the strands' ends into a bun (a ball of about 4 cm) at ``tie``."""
    n, kw = pts.shape[:2]
    centre = tie + np.array([0.0, 0.012, -0.028])
    out = pts.copy()
    m = max(3, kw // 3)
    ang0 = rng.uniform(0, 2 * np.pi, n)
    tilt = rng.uniform(-1.0, 1.0, n)
    for j in range(m):
        s = (j + 1) / m
        a = ang0 + s * 2.5 * np.pi
        r = 0.036 * (0.8 + 0.2 * rng.random(n))
        p = np.c_[np.cos(a), tilt * 0.8 * np.sin(a), np.sin(a)]
        p /= np.linalg.norm(p, axis=1, keepdims=True)
        out[:, kw - m + j] = centre + p * r[:, None]
    return out


def _push_out(pts: np.ndarray, body: np.ndarray, margin: float) -> np.ndarray:
    """Move strand points that are within ``margin`` of the body's vertices out along the
    direction from the nearest vertex (a cheap stand-in for a collision, good for hair)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(body)
    p = pts.reshape(-1, 3).copy()
    for _ in range(3):
        d, i = tree.query(p, distance_upper_bound=margin * 3, workers=2)
        close = np.isfinite(d) & (d < margin * 2)
        if not close.any():
            break
        v = p[close] - body[i[close]]
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
        p[close] = body[i[close]] + v * margin * 2
    return p.reshape(pts.shape)


def _cap(posed: np.ndarray, cap_faces: np.ndarray, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """The scalp faces lifted ``offset`` metres along the vertex normals (a closed-looking cap)."""
    from engine.geometry import vertex_normals

    used = np.unique(cap_faces.reshape(-1))
    remap = -np.ones(len(posed), dtype=np.int64)
    remap[used] = np.arange(len(used))
    n = vertex_normals(np.asarray(posed, np.float64), cap_faces)
    v = posed[used] + n[used] * offset
    return v, remap[cap_faces]


def _cards(strands: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Ribbon cards along strands ((S, K, 3)): a strip ``width`` wide (tapering to the tip),
    turned to face away from the strands' centre."""
    s, k = strands.shape[:2]
    tangent = np.gradient(strands, axis=1)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=-1, keepdims=True), 1e-9)
    outward = strands - strands.reshape(-1, 3).mean(axis=0)
    side = np.cross(tangent, outward)
    side /= np.maximum(np.linalg.norm(side, axis=-1, keepdims=True), 1e-9)
    half = (0.5 * width * np.linspace(1.0, 0.4, k))[None, :, None]
    left, right = strands - side * half, strands + side * half
    v = np.stack([left, right], axis=2).reshape(-1, 3)  # (S * K * 2, 3)
    base = (np.arange(s)[:, None] * k + np.arange(k - 1)[None, :]).reshape(-1) * 2
    f = np.concatenate([np.c_[base, base + 1, base + 2], np.c_[base + 1, base + 3, base + 2]])
    return v, f
