"""Shot definitions and auto-framing: named shots, turntables and detail crops, in real units.

A :class:`Shot` says where the camera stands (azimuth around the body, elevation or a camera
height in metres), what lens it has (a focal length in millimetres or a vertical field of view)
and what it must keep in view (the whole dressed body, a named body region, or explicit bounds),
with a free margin. :func:`shot_cameras` turns shots into :class:`~engine.render.camera.Camera`
objects for one image size; every backend renders those cameras the same way.

Conventions (canonical frame, metres, +Y up, the body faces +Z, its left side on +X):

- azimuth 0 is the front (camera on +Z); it grows counter-clockwise seen from above, so 90 stands
  on +X and sees the body's *left* side, 180 is the back, 270 the body's right side;
- focal lengths are full-frame equivalents: the 36 mm side of a 36 x 24 mm sensor spans the
  image's longer side (Blender's default ``sensor_width = 36`` with ``sensor_fit = 'AUTO'``), so
  a 50 mm lens on a portrait 4:5 image has ``yfov = 2 atan(18 / 50)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np

from ..errors import InputError
from .camera import Camera, _box_corners, fit_distance

#: Full-frame sensor long side, millimetres.
FULL_FRAME_MM = 36.0


def focal_to_yfov(focal_mm: float, width: int, height: int, sensor_mm: float = FULL_FRAME_MM) -> float:
    """Vertical field of view, radians, of a ``focal_mm`` lens on a full-frame-equivalent sensor
    whose ``sensor_mm`` side spans the image's longer side."""
    if not focal_mm > 0:
        raise InputError(f"focal length must be positive millimetres, got {focal_mm}")
    half = 0.5 * sensor_mm * (1.0 if height >= width else height / width)
    return 2.0 * math.atan(half / float(focal_mm))


def yfov_to_focal(yfov: float, width: int, height: int, sensor_mm: float = FULL_FRAME_MM) -> float:
    """Inverse of :func:`focal_to_yfov`: the full-frame-equivalent focal length, millimetres."""
    half = 0.5 * sensor_mm * (1.0 if height >= width else height / width)
    return half / math.tan(yfov / 2.0)


# --- body regions -----------------------------------------------------------------------------

#: Region -> (joints that bound it, padding in metres, fallback height band as fractions of the
#: body's height above its lowest point). Joint names are bodies.model.NAMED_JOINTS.
REGIONS: dict[str, tuple[tuple[str, ...], float, tuple[float, float]]] = {
    "head": (("head", "neck"), 0.13, (0.83, 1.0)),
    "upper-body": (("neck", "left_shoulder", "right_shoulder", "spine", "pelvis", "left_hip", "right_hip"), 0.10, (0.45, 0.88)),
    "waist": (("spine", "pelvis", "left_hip", "right_hip"), 0.10, (0.45, 0.68)),
    "lower-body": (("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"), 0.10, (0.0, 0.56)),
    "legs": (("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"), 0.10, (0.0, 0.5)),
    "feet": (("left_ankle", "right_ankle"), 0.10, (0.0, 0.09)),
}


def region_names() -> list[str]:
    return sorted(REGIONS)


def _hull_points(points: np.ndarray) -> np.ndarray:
    """The convex hull's vertices (enough for framing: a perspective projection's extremes over
    a convex set are at its vertices); all points when the hull cannot be built."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) <= 64:
        return pts
    try:
        from scipy.spatial import ConvexHull

        return pts[ConvexHull(pts).vertices]
    except Exception:
        return pts


def region_points(
    vertices: np.ndarray,
    region: str | None = None,
    joints: Mapping[str, Sequence[float]] | None = None,
    bounds: tuple | None = None,
) -> np.ndarray:
    """The points a shot must keep in view.

    Args:
        vertices: (V, 3) all vertices of the dressed body (body and garments), metres, canonical.
        region: None (the whole body) or a key of :data:`REGIONS`.
        joints: optional {joint name: (3,)} (``dict(zip(NAMED_JOINTS, joints))``); a region is then
            the joints' box grown by the region's padding; without joints it is a height band.
        bounds: explicit (min (3,), max (3,)) box, metres; overrides ``region``.

    Returns:
        (N, 3) float64 points: the vertices inside the region's box (their convex hull), or the
        box's 8 corners when no vertex falls inside.

    Raises:
        InputError: unknown region, missing joints.
    """
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    if bounds is not None:
        lo, hi = (np.asarray(b, dtype=np.float64).reshape(3) for b in bounds)
    elif region is None:
        return _hull_points(v)
    else:
        if region not in REGIONS:
            raise InputError(f"unknown body region {region!r}", hint=f"choose one of {', '.join(region_names())}")
        names, pad, band = REGIONS[region]
        if joints is not None:
            missing = [n for n in names if n not in joints]
            if missing:
                raise InputError(f"region {region!r} needs joints {missing}")
            j = np.array([np.asarray(joints[n], dtype=np.float64).reshape(3) for n in names])
            lo, hi = j.min(axis=0) - pad, j.max(axis=0) + pad
        else:
            vmin, vmax = v.min(axis=0), v.max(axis=0)
            h = vmax[1] - vmin[1]
            lo = np.array([vmin[0], vmin[1] + band[0] * h, vmin[2]])
            hi = np.array([vmax[0], vmin[1] + band[1] * h, vmax[2]])
    inside = np.all((v >= lo) & (v <= hi), axis=1)
    if inside.sum() >= 4:
        return _hull_points(v[inside])
    return _box_corners(lo, hi)  # a coarse mesh with no vertex inside: frame the box itself


# --- shots ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shot:
    """One camera placement, independent of the image size.

    Attributes:
        name: label used in file names (``front``, ``az045``, ``detail-head``...).
        azimuth_deg: around the vertical axis; 0 = front (+Z), 90 = the body's left side (+X).
        elevation_deg: camera elevation above the framed points' centre, degrees (used when
            ``camera_height`` is None).
        camera_height: camera height above the floor (y = 0), metres; the camera then tilts to
            look at the framed points' centre.
        focal_mm: full-frame-equivalent focal length, millimetres (see :func:`focal_to_yfov`);
            wins over ``yfov_deg``.
        yfov_deg: vertical field of view, degrees, when ``focal_mm`` is None.
        region: None for the whole dressed body, or a key of :data:`REGIONS` (a detail crop).
        bounds: explicit ((3,), (3,)) box to frame, metres; wins over ``region``.
        margin: free border, fraction of the image width / height on each side, in [0, 0.5).
    """

    name: str
    azimuth_deg: float = 0.0
    elevation_deg: float = 5.0
    camera_height: float | None = None
    focal_mm: float | None = None
    yfov_deg: float = 30.0
    region: str | None = None
    bounds: tuple | None = None
    margin: float = 0.08

    def yfov(self, width: int, height: int) -> float:
        """Vertical field of view for an image of this size, radians."""
        if self.focal_mm is not None:
            return focal_to_yfov(self.focal_mm, width, height)
        return math.radians(self.yfov_deg)


#: Named shots and their azimuths, degrees.
NAMED_AZIMUTHS = {
    "front": 0.0,
    "three-quarter": 45.0,
    "three-quarter-left": 45.0,
    "left": 90.0,
    "back-three-quarter": 135.0,
    "back": 180.0,
    "right": 270.0,
    "three-quarter-right": 315.0,
}


def named_shot(name: str, **overrides) -> Shot:
    """A named shot: one of :data:`NAMED_AZIMUTHS`, or ``detail-<region>`` (front detail crop of
    a region of :data:`REGIONS`, 85 mm lens, 6 % margin). ``overrides`` set any :class:`Shot` field.

    Raises:
        InputError: unknown name.
    """
    if name in NAMED_AZIMUTHS:
        return Shot(name=name, azimuth_deg=NAMED_AZIMUTHS[name], **overrides)
    if name.startswith("detail-"):
        region = name[len("detail-"):]
        if region not in REGIONS:
            raise InputError(f"unknown detail region {region!r}", hint=f"choose one of {', '.join(region_names())}")
        kw = {"focal_mm": 85.0, "margin": 0.06, "elevation_deg": 0.0, **overrides}
        return Shot(name=name, region=region, **kw)
    raise InputError(
        f"unknown shot {name!r}",
        hint=f"choose one of {', '.join(NAMED_AZIMUTHS)}, detail-<{'|'.join(region_names())}> or turntable:N",
    )


def turntable_shots(n_views: int = 8, start_azimuth_deg: float = 0.0, **common) -> list[Shot]:
    """``n_views`` shots evenly spaced over 360 degrees, named ``az000``, ``az045``..."""
    if n_views < 1:
        raise InputError(f"a turntable needs at least one view, got {n_views}")
    shots = []
    for i in range(n_views):
        az = (start_azimuth_deg + 360.0 * i / n_views) % 360.0
        shots.append(Shot(name=f"az{int(round(az)) % 360:03d}", azimuth_deg=az, **common))
    return shots


def parse_shots(spec: str, **common) -> list[Shot]:
    """Parse a comma-separated shot list: names of :func:`named_shot` and ``turntable:N``.

    Example: ``"front,three-quarter,back,detail-head,turntable:8"``. ``common`` sets shared
    :class:`Shot` fields (``focal_mm``, ``camera_height``, ``margin``...).
    """
    shots: list[Shot] = []
    for item in (s.strip() for s in str(spec).split(",")):
        if not item:
            continue
        if item.startswith("turntable"):
            _, _, n = item.partition(":")
            try:
                shots += turntable_shots(int(n) if n else 8, **common)
            except ValueError:
                raise InputError(f"bad turntable spec {item!r}", hint="write turntable:8") from None
        else:
            shots.append(named_shot(item, **common))
    if not shots:
        raise InputError(f"no shots in {spec!r}")
    names = [s.name for s in shots]
    if len(set(names)) != len(names):
        raise InputError(f"shot names repeat in {spec!r}: {names}")
    return shots


# --- cameras ----------------------------------------------------------------------------------


def _fits(cam: Camera, points: np.ndarray, margin: float) -> bool:
    uv = cam.project(points)
    if not np.all(np.isfinite(uv)) or np.any(cam.depth(points) <= cam.znear):
        return False
    lo = np.array([margin * cam.width, margin * cam.height]) - 1e-6
    hi = np.array([(1 - margin) * cam.width, (1 - margin) * cam.height]) + 1e-6
    return bool(np.all(uv >= lo) and np.all(uv <= hi))


def _horizontal(az_deg: float) -> np.ndarray:
    az = math.radians(az_deg)
    return np.array([math.sin(az), 0.0, math.cos(az)])


def _camera(shot: Shot, center, points, width, height, param: float) -> Camera:
    """Camera of ``shot`` at distance parameter ``param`` (distance along the view direction, or
    the horizontal distance when the shot fixes the camera height)."""
    yfov = shot.yfov(width, height)
    if shot.camera_height is None:
        el = math.radians(shot.elevation_deg)
        d = math.cos(el) * _horizontal(shot.azimuth_deg) + np.array([0.0, math.sin(el), 0.0])
        position = center + param * d
    else:
        position = center + param * _horizontal(shot.azimuth_deg)
        position[1] = float(shot.camera_height)
    dist = float(np.linalg.norm(position - center))
    extent = float(np.max(np.linalg.norm(points - center, axis=1))) if len(points) else 0.0
    znear = max(1e-3, 0.5 * (dist - extent)) if dist > extent else 1e-3
    return Camera(position=position, target=center, yfov=yfov, width=width, height=height, name=shot.name,
                  znear=znear, zfar=dist + extent + 1.0)


def _fit_param(shot: Shot, center, points, width, height) -> float:
    yfov = shot.yfov(width, height)
    if shot.camera_height is None:
        el = math.radians(shot.elevation_deg)
        if abs(shot.elevation_deg) >= 89.0:
            raise InputError(f"shot {shot.name!r}: elevation must be within (-89, 89) degrees")
        d = math.cos(el) * _horizontal(shot.azimuth_deg) + np.array([0.0, math.sin(el), 0.0])
        return fit_distance(center, d, points, yfov, width / height, shot.margin)
    # Fixed height: smallest horizontal distance at which every point fits (bisection).
    lo, hi = 1e-3, 1.0
    while not _fits(_camera(shot, center, points, width, height, hi), points, shot.margin):
        hi *= 2.0
        if hi > 1e4:
            raise InputError(f"shot {shot.name!r}: cannot frame the region from height {shot.camera_height} m")
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if _fits(_camera(shot, center, points, width, height, mid), points, shot.margin):
            hi = mid
        else:
            lo = mid
    return hi


def shot_cameras(
    shots: Sequence[Shot],
    vertices: np.ndarray,
    width: int = 512,
    height: int = 512,
    joints: Mapping[str, Sequence[float]] | None = None,
    same_distance: bool = True,
) -> list[Camera]:
    """Cameras for ``shots`` framing a dressed body in images of ``width`` x ``height``.

    Each camera looks at the centre of the box of the points it frames (:func:`region_points`)
    and stands at the smallest distance that keeps them all inside the image with the shot's
    margin. With ``same_distance``, shots that frame the same thing with the same lens, height
    and margin share the largest of their distances, so the body keeps its size across a
    turntable or a front/back/side set.

    Args:
        shots: the shots, in order.
        vertices: (V, 3) all vertices of the dressed body, metres, canonical frame (or a list of
            meshes / arrays, whose vertices are stacked).
        width, height: image size, pixels.
        joints: optional {joint name: (3,)} for region shots.

    Returns:
        One camera per shot, named after it.
    """
    if not isinstance(vertices, np.ndarray):
        vertices = np.concatenate([np.asarray(getattr(m, "vertices", m), dtype=np.float64).reshape(-1, 3) for m in vertices])
    cache: dict = {}
    plans = []
    for shot in shots:
        key = (shot.region, None if shot.bounds is None else tuple(map(tuple, np.asarray(shot.bounds, float))))
        if key not in cache:
            pts = region_points(vertices, shot.region, joints, shot.bounds)
            cache[key] = (pts, (pts.min(axis=0) + pts.max(axis=0)) / 2.0)
        pts, center = cache[key]
        plans.append((shot, key, pts, center, _fit_param(shot, center, pts, width, height)))
    if same_distance:
        groups: dict = {}
        for shot, key, _, _, p in plans:
            g = (key, shot.focal_mm, shot.yfov_deg, shot.camera_height, shot.elevation_deg, shot.margin)
            groups[g] = max(groups.get(g, 0.0), p)
        plans = [
            (s, k, pts, c, groups[(k, s.focal_mm, s.yfov_deg, s.camera_height, s.elevation_deg, s.margin)])
            for s, k, pts, c, _ in plans
        ]
    return [_camera(shot, center, pts, width, height, p) for shot, _, pts, center, p in plans]


def with_defaults(shots: Sequence[Shot], **fields) -> list[Shot]:
    """Copies of ``shots`` with ``fields`` replaced (e.g. a common focal length)."""
    return [replace(s, **fields) for s in shots]
