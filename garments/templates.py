"""Garment templates: cloth meshes generated around a posed body from its measurements.

A template builds the garment directly in 3D around the body (no flat pattern yet): each garment
is a tube of rings following the body's horizontal cross-sections (see :mod:`bodies.measure`),
pushed outward by an ease so the cloth starts a little outside the body everywhere. The rest
shape of the cloth is the generated mesh itself (Blender's cloth takes its rest edge lengths from
it). Pinned vertices (``pin`` weight 1) are held in place by the simulation.

Registry: :data:`GARMENTS` maps a name to its builder; :func:`make_garment` builds by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bodies.measure import Measurements, _Slicer, measure
from bodies.model import NAMED_JOINTS
from engine.errors import InputError

from .clearance import BodyDistance

_J = {name: i for i, name in enumerate(NAMED_JOINTS)}


@dataclass
class GarmentMesh:
    """A cloth mesh ready to drape.

    Attributes:
        name: template name, e.g. "tube-dress".
        vertices: (V, 3) float32, metres, canonical frame; also the cloth's rest shape.
        faces: (F, 3) int64, counter-clockwise seen from outside the garment.
        pin: (V,) float32 in [0, 1]: 1 holds the vertex in place (Blender's pin vertex group).
        params: the numbers the template used (ease, heights, ring counts), JSON-serialisable.
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    pin: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def num_vertices(self) -> int:
        return len(self.vertices)


@dataclass
class TubeDressSettings:
    """Settings of the tube dress.

    Attributes:
        resolution: approximate number of cloth vertices (1-2k for tests, 4-6k for renders).
        ease: gap between the body's convex cross-section and the cloth, metres.
        flare: extra radius at the hem over the hips' radius, metres (grows linearly below the hips).
        top: the landmark the top edge hangs from: "armpit" (a tube dress) or "waist" (a skirt).
        top_drop: the top edge sits this far under that landmark, metres.
        hem_above_knee: the hem sits this far above the knee joints (negative: below), metres.
        pin_rings: how many rings from the top edge are pinned (held in place).
    """

    resolution: int = 1500
    ease: float = 0.012
    flare: float = 0.05
    top: str = "armpit"
    top_drop: float = 0.03
    hem_above_knee: float = 0.0
    pin_rings: int = 1


@dataclass
class SkirtSettings(TubeDressSettings):
    """A tube dress hung from the waist: a flared skirt to just above the knees."""

    top: str = "waist"
    top_drop: float = 0.0
    flare: float = 0.08
    hem_above_knee: float = 0.05


def _ray_hull_radius(hull: np.ndarray, center: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Distance from ``center`` along each direction (cos a, sin a) in (x, z) to the boundary of
    convex polygon ``hull`` (H, 2); the center must be inside. Returns (A,) metres."""
    p0 = hull - center
    p1 = np.roll(p0, -1, axis=0)
    d = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (A, 2)
    e = p1 - p0  # (H, 2)
    # solve t * d = p0 + s * e for each (ray, edge)
    den = d[:, None, 0] * e[None, :, 1] - d[:, None, 1] * e[None, :, 0]  # (A, H)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (p0[None, :, 0] * e[None, :, 1] - p0[None, :, 1] * e[None, :, 0]) / den
        s = (p0[None, :, 0] * d[:, None, 1] - p0[None, :, 1] * d[:, None, 0]) / den
    ok = (np.abs(den) > 1e-12) & (s >= -1e-9) & (s <= 1 + 1e-9) & (t > 0)
    t = np.where(ok, t, np.inf)
    r = t.min(axis=1)
    if not np.all(np.isfinite(r)):
        # the center is outside the hull: fall back to the farthest hull vertex
        r = np.where(np.isfinite(r), r, np.linalg.norm(p0, axis=1).max())
    return r


def _tube_faces(n_rings: int, n_around: int) -> np.ndarray:
    """(F, 3) int64 triangles of a ring-major tube grid (ring k, index i -> k * n_around + i),
    diagonals alternating so the cloth has no preferred shear direction."""
    k, i = np.meshgrid(np.arange(n_rings - 1), np.arange(n_around), indexing="ij")
    k, i = k.ravel(), i.ravel()
    a = k * n_around + i
    b = k * n_around + (i + 1) % n_around
    c = (k + 1) * n_around + i
    d = (k + 1) * n_around + (i + 1) % n_around
    flip = ((k + i) % 2).astype(bool)
    t1 = np.where(flip[:, None], np.stack([a, c, d], 1), np.stack([a, c, b], 1))
    t2 = np.where(flip[:, None], np.stack([a, d, b], 1), np.stack([b, c, d], 1))
    return np.concatenate([t1, t2]).astype(np.int64)


def _orient_outward(vertices: np.ndarray, faces: np.ndarray, axis_xz: np.ndarray) -> np.ndarray:
    """Flip all faces if most face normals point toward the tube's axis."""
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    c = tri.mean(1)
    radial = c[:, [0, 2]] - axis_xz
    if np.mean(np.sum(n[:, [0, 2]] * radial, axis=1) > 0) < 0.5:
        faces = faces[:, [0, 2, 1]]
    return faces


def tube_dress(
    vertices: np.ndarray,
    faces: np.ndarray,
    joints: np.ndarray,
    measurements: Measurements | None = None,
    settings: TubeDressSettings | None = None,
    **overrides,
) -> GarmentMesh:
    """A sleeveless, strapless tube from just under the armpits to about the knees, slightly flared.

    Each ring follows the convex cross-section of the torso at its height (widened by ``ease``,
    and by the neighbouring rings' sections so the cloth between rings clears the body too); below
    the hips the rings keep the hips' section and flare out linearly to ``flare`` at the hem. The
    top ring is pinned.

    Args:
        vertices: (V, 3) body vertices, metres, canonical frame, T- or A-pose.
        faces: (F, 3) body triangles.
        joints: (16, 3) named joints, metres, canonical frame.
        measurements: the body's :class:`~bodies.measure.Measurements` (measured if None).
        settings: :class:`TubeDressSettings`; keyword ``overrides`` replace its fields.

    Returns:
        A :class:`GarmentMesh` with ``resolution`` vertices, give or take a ring.
    """
    return _tube_garment("tube-dress", vertices, faces, joints, measurements, settings or TubeDressSettings(), overrides)


def skirt(
    vertices: np.ndarray,
    faces: np.ndarray,
    joints: np.ndarray,
    measurements: Measurements | None = None,
    settings: SkirtSettings | None = None,
    **overrides,
) -> GarmentMesh:
    """A flared skirt from the waist to just above the knees, its waistband pinned.

    Built like :func:`tube_dress` (same arguments), with :class:`SkirtSettings`.
    """
    return _tube_garment("skirt", vertices, faces, joints, measurements, settings or SkirtSettings(), overrides)


def _tube_garment(name, vertices, faces, joints, measurements, settings, overrides) -> GarmentMesh:
    for k, val in overrides.items():
        if not hasattr(settings, k):
            raise InputError(f"{name} has no setting {k!r}", hint=f"settings: {', '.join(vars(settings))}")
        setattr(settings, k, val)
    m = measurements or measure(vertices, faces, joints)
    s = _Slicer(vertices, faces, joints)
    distance = BodyDistance(vertices, faces)
    landmarks = {"armpit": m.armpit_height_m, "waist": m.waist_height_m}
    if settings.top not in landmarks:
        raise InputError(f"{name}: unknown top landmark {settings.top!r}", hint=f"choose one of: {', '.join(landmarks)}")
    y_top = landmarks[settings.top] - settings.top_drop
    # The arms can overhang the top edge (a T-pose's arms sit just above the armpit): lower the
    # top by a centimetre at a time until the cloth clears the whole body by half the ease.
    for _ in range(12):
        garment = _tube_mesh(name, s, m, settings, y_top)
        if distance(garment.vertices).min() >= 0.5 * settings.ease:
            break
        y_top -= 0.01
    return garment


def _tube_mesh(name: str, s: _Slicer, m: Measurements, settings: TubeDressSettings, y_top: float) -> GarmentMesh:
    """The ring mesh of a tube garment whose top edge is at ``y_top`` (see :func:`tube_dress`)."""
    j = s.j
    y_knee = float(j[[_J["left_knee"], _J["right_knee"]], 1].mean())
    y_hem = y_knee + settings.hem_above_knee
    y_hips = m.hips_height_m
    if not y_top > y_hips > y_hem:
        raise InputError(
            f"{name}: top {y_top:.2f} m, hips {y_hips:.2f} m and hem {y_hem:.2f} m are out of order",
            hint="is the body upright, in the canonical frame, in a T- or A-pose?",
        )
    length = y_top - y_hem
    circ = max(m.chest_cm, m.hips_cm) / 100.0 + 2 * np.pi * (settings.ease + settings.flare)
    res = max(int(settings.resolution), 64)
    n_around = max(16, int(round(np.sqrt(res * circ / length))))
    n_rings = max(4, int(round(res / n_around)))
    ys = np.linspace(y_top, y_hem, n_rings)
    dy = abs(ys[1] - ys[0])

    # Cross-sections at and between the ring heights (every ~5 mm) so nothing pokes between rings.
    center = np.array([s.mid[0], 0.0])
    hulls = {}
    zc = []
    for y in ys:
        h = s.hull(y)
        if h is not None:
            zc.append(h[:, 1].mean())
    center[1] = float(np.mean(zc)) if zc else s.mid[1]
    angles = np.linspace(0.0, 2 * np.pi, n_around, endpoint=False)
    sub = max(1, int(np.ceil(dy / 0.005)))

    def radius_at(y: float) -> np.ndarray:
        key = round(y, 5)
        if key not in hulls:
            h = s.hull(y)
            hulls[key] = np.zeros(n_around) if h is None else _ray_hull_radius(h, center, angles)
        return hulls[key]

    hips_r = np.max([radius_at(y) for y in np.linspace(y_hips - 0.02, y_hips + 0.02, 5)], axis=0)
    radii = np.zeros((n_rings, n_around))
    for k, y in enumerate(ys):
        probe = np.linspace(y - dy, y + dy, 2 * sub + 1)
        probe = probe[(probe <= y_top + 1e-9) & (probe > 0.0)]
        r = np.max([radius_at(float(p)) for p in probe], axis=0)
        if y < y_hips:
            frac = (y_hips - y) / max(y_hips - y_hem, 1e-6)
            r = np.maximum(r, hips_r) + settings.flare * frac
        radii[k] = r + settings.ease
    # smooth around each ring a little (keeps the cloth clear: smoothing uses the max of neighbours)
    radii = np.maximum(radii, 0.5 * (np.roll(radii, 1, axis=1) + np.roll(radii, -1, axis=1)))

    x = center[0] + radii * np.cos(angles)[None]
    z = center[1] + radii * np.sin(angles)[None]
    y = np.repeat(ys[:, None], n_around, axis=1)
    verts = np.stack([x, y, z], axis=-1).reshape(-1, 3).astype(np.float32)
    tris = _orient_outward(verts, _tube_faces(n_rings, n_around), center)
    pin = np.zeros(len(verts), dtype=np.float32)
    pin[: max(0, settings.pin_rings) * n_around] = 1.0
    params = {
        "ease_m": settings.ease,
        "flare_m": settings.flare,
        "top_m": round(float(y_top), 4),
        "hem_m": round(float(y_hem), 4),
        "hips_m": round(float(y_hips), 4),
        "rings": n_rings,
        "around": n_around,
        "pinned": int(pin.sum()),
    }
    return GarmentMesh(name, verts, tris, pin, params)


#: garment name -> builder ``(vertices, faces, joints, measurements=None, **settings) -> GarmentMesh``
GARMENTS = {
    "tube-dress": tube_dress,
    "skirt": skirt,
}


def garment_names() -> list[str]:
    """Names of the garment templates, sorted."""
    return sorted(GARMENTS)


def make_garment(name: str, vertices, faces, joints, measurements: Measurements | None = None, **settings) -> GarmentMesh:
    """Build garment ``name`` around a posed body.

    Args:
        name: a key of :data:`GARMENTS`.
        vertices, faces, joints: the posed body (canonical frame, metres), see :func:`tube_dress`.
        measurements: the body's measurements, or None to measure it here.
        **settings: the template's settings (e.g. ``resolution=1000``, ``ease=0.015``).

    Raises:
        InputError: unknown garment name (the message lists the known ones) or setting.
    """
    if name not in GARMENTS:
        raise InputError(f"unknown garment {name!r}", hint=f"choose one of: {', '.join(garment_names())}")
    return GARMENTS[name](vertices, faces, joints, measurements=measurements, **settings)


__all__ = ["GarmentMesh", "TubeDressSettings", "SkirtSettings", "skirt", "GARMENTS", "garment_names", "make_garment", "tube_dress"]
