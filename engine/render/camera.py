"""Pinhole cameras shared by every renderer, and turntable rigs that frame a body automatically.

All positions are in the canonical frame (metres, +Y up, the body faces +Z). A camera follows the
OpenGL convention in its own frame: it looks down its local -Z with +Y up and +X to the right.
Image coordinates put the origin at the top-left corner, x to the right, y down; pixel ``(i, j)``
covers ``[i, i + 1) x [j, j + 1)`` so its centre is at ``(i + 0.5, j + 0.5)``.

The vertical field of view ``yfov`` is the one number every backend honours exactly (pyrender's
``PerspectiveCamera.yfov``; Blender's camera with ``sensor_fit = 'VERTICAL'``); the horizontal
field of view follows from the aspect ratio ``width / height``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def _as_vec3(x) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"camera vector must be finite, got {v}")
    return v


@dataclass
class Camera:
    """A perspective camera.

    Attributes:
        position: (3,) float64, metres, canonical frame: the centre of projection.
        target: (3,) float64, metres, canonical frame: the point seen at the image centre.
        up: (3,) float64, canonical frame: the direction that appears upwards in the image
            (need not be exactly orthogonal to the view direction, must not be parallel to it).
        yfov: vertical field of view, radians, in (0, pi).
        width: image width, pixels.
        height: image height, pixels.
        name: short label used in file names (``front``, ``az045``...).
        znear: near clipping distance, metres.
        zfar: far clipping distance, metres.
    """

    position: np.ndarray
    target: np.ndarray
    up: np.ndarray = field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))
    yfov: float = math.radians(30.0)
    width: int = 512
    height: int = 512
    name: str = "view"
    znear: float = 0.01
    zfar: float = 100.0

    def __post_init__(self) -> None:
        self.position = _as_vec3(self.position)
        self.target = _as_vec3(self.target)
        self.up = _as_vec3(self.up)
        self.width = int(self.width)
        self.height = int(self.height)
        self.yfov = float(self.yfov)
        if not (0.0 < self.yfov < math.pi):
            raise ValueError(f"yfov must be in (0, pi) radians, got {self.yfov}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not (0.0 < self.znear < self.zfar):
            raise ValueError(f"need 0 < znear < zfar, got {self.znear}, {self.zfar}")
        forward = self.target - self.position
        if np.linalg.norm(forward) < 1e-9:
            raise ValueError("camera position and target coincide")
        if np.linalg.norm(np.cross(forward, self.up)) < 1e-9 * np.linalg.norm(forward) * max(np.linalg.norm(self.up), 1e-12):
            raise ValueError("camera up vector is parallel to the view direction (or zero)")

    # --- intrinsics -------------------------------------------------------------------------

    @property
    def aspect(self) -> float:
        """width / height."""
        return self.width / self.height

    @property
    def xfov(self) -> float:
        """Horizontal field of view, radians (derived from ``yfov`` and the aspect ratio)."""
        return 2.0 * math.atan(math.tan(self.yfov / 2.0) * self.aspect)

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (equal along x and y: square pixels)."""
        return 0.5 * self.height / math.tan(self.yfov / 2.0)

    def intrinsics(self) -> np.ndarray:
        """(3, 3) float64 pinhole matrix K for the top-left-origin, y-down pixel convention."""
        f = self.focal_px
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])

    # --- extrinsics -------------------------------------------------------------------------

    def pose(self) -> np.ndarray:
        """(4, 4) float64 camera-to-world transform (columns: right, up, back, position)."""
        forward = self.target - self.position
        forward = forward / np.linalg.norm(forward)
        right = np.cross(forward, self.up)
        right = right / np.linalg.norm(right)
        true_up = np.cross(right, forward)
        m = np.eye(4)
        m[:3, 0] = right
        m[:3, 1] = true_up
        m[:3, 2] = -forward
        m[:3, 3] = self.position
        return m

    def view_matrix(self) -> np.ndarray:
        """(4, 4) float64 world-to-camera transform (OpenGL: the camera looks down -Z, +Y up)."""
        pose = self.pose()
        r = pose[:3, :3]
        v = np.eye(4)
        v[:3, :3] = r.T
        v[:3, 3] = -r.T @ pose[:3, 3]
        return v

    def projection_matrix(self) -> np.ndarray:
        """(4, 4) float64 OpenGL projection matrix (clip space, NDC in [-1, 1], same as pyrender)."""
        t = math.tan(self.yfov / 2.0)
        n, f = self.znear, self.zfar
        p = np.zeros((4, 4))
        p[0, 0] = 1.0 / (self.aspect * t)
        p[1, 1] = 1.0 / t
        p[2, 2] = (f + n) / (n - f)
        p[2, 3] = 2.0 * f * n / (n - f)
        p[3, 2] = -1.0
        return p

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) canonical points -> (N, 3) float64 camera-frame points (in view: z < 0)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        v = self.view_matrix()
        return pts @ v[:3, :3].T + v[:3, 3]

    def depth(self, points: np.ndarray) -> np.ndarray:
        """(N,) float64 distance in front of the camera along its axis, metres (positive in view)."""
        return -self.to_camera(points)[:, 2]

    def project(self, points: np.ndarray) -> np.ndarray:
        """Project canonical points to pixel coordinates.

        Args:
            points: (N, 3) float, metres, canonical frame.

        Returns:
            (N, 2) float64 pixel coordinates, origin at the image's top-left corner, x right,
            y down; pixel centres at +0.5. Points behind the camera give NaN.
        """
        cam = self.to_camera(points)
        z = -cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = self.focal_px
            u = self.width / 2.0 + f * cam[:, 0] / z
            v = self.height / 2.0 - f * cam[:, 1] / z
        out = np.stack([u, v], axis=1)
        out[z <= 0] = np.nan
        return out

    # --- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-serialisable description (used to hand the camera to the Blender worker)."""
        return {
            "name": self.name,
            "position": self.position.tolist(),
            "target": self.target.tolist(),
            "up": self.up.tolist(),
            "yfov": self.yfov,
            "width": self.width,
            "height": self.height,
            "znear": self.znear,
            "zfar": self.zfar,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Camera":
        return cls(**{k: d[k] for k in ("position", "target", "up", "yfov", "width", "height", "name", "znear", "zfar") if k in d})


def frame_meshes(meshes) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounds of meshes or vertex arrays.

    Args:
        meshes: iterable of objects with a ``vertices`` attribute (e.g. RenderMesh) or (V, 3) arrays,
            metres, canonical frame.

    Returns:
        (min (3,), max (3,)) float64, metres, canonical frame.
    """
    chunks = []
    for m in meshes:
        v = getattr(m, "vertices", m)
        v = np.asarray(v, dtype=np.float64).reshape(-1, 3)
        if len(v):
            chunks.append(v)
    if not chunks:
        raise ValueError("frame_meshes needs at least one non-empty mesh")
    allv = np.concatenate(chunks)
    return allv.min(axis=0), allv.max(axis=0)


def _box_corners(bmin: np.ndarray, bmax: np.ndarray) -> np.ndarray:
    """(8, 3) corners of an axis-aligned box."""
    idx = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    return np.where(idx == 0, bmin, bmax)


def fit_distance(
    center: np.ndarray,
    direction: np.ndarray,
    points: np.ndarray,
    yfov: float,
    aspect: float,
    margin: float = 0.08,
    up=(0.0, 1.0, 0.0),
) -> float:
    """Smallest distance along ``direction`` from ``center`` at which a camera looking at ``center``
    sees every point inside the image, at least ``margin`` x image size away from each border.

    Args:
        center: (3,) look-at point, metres, canonical frame.
        direction: (3,) unit vector from ``center`` to the camera.
        points: (N, 3) points that must fit (e.g. the 8 bbox corners).
        yfov: vertical field of view, radians; aspect: width / height.
        margin: fraction of the image width (height) kept free on the left and right (top and
            bottom); in [0, 0.5).

    Returns:
        distance, metres (closed form: for each point, depth = d - (p - c).dir must exceed
        |lateral offset| / (tan(half fov) * (1 - 2 margin))).
    """
    if not (0.0 <= margin < 0.5):
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    c = _as_vec3(center)
    d = _as_vec3(direction)
    d = d / np.linalg.norm(d)
    forward = -d
    right = np.cross(forward, _as_vec3(up))
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    rel = np.asarray(points, dtype=np.float64).reshape(-1, 3) - c
    along = rel @ d
    scale = 1.0 - 2.0 * margin
    tx = math.tan(yfov / 2.0) * aspect * scale
    ty = math.tan(yfov / 2.0) * scale
    need_x = along + np.abs(rel @ right) / tx
    need_y = along + np.abs(rel @ true_up) / ty
    dist = float(max(need_x.max(), need_y.max()))
    # Stay clear of the box itself (a degenerate box would give 0).
    return max(dist, float(along.max()) + 1e-3, 1e-3)


def turntable(
    bounds_min,
    bounds_max,
    n_views: int = 8,
    width: int = 512,
    height: int = 512,
    yfov_deg: float = 30.0,
    elevation_deg: float = 5.0,
    margin: float = 0.08,
    start_azimuth_deg: float = 0.0,
) -> list[Camera]:
    """Cameras on a circle around the vertical (+Y) axis through the centre of a bounding box.

    View 0 (at ``start_azimuth_deg = 0``) stands in front of the body, on +Z, looking toward -Z.
    The azimuth grows counter-clockwise seen from above (a rotation about +Y: view at 90 degrees
    stands on +X). Each camera looks at the box centre from ``elevation_deg`` above the horizontal;
    its distance is chosen per view so that all 8 box corners project inside the image with
    ``margin`` (a fraction of the width/height) free on every side. All views use one distance
    (the largest needed), so the body keeps its size across the turntable.

    Args:
        bounds_min, bounds_max: (3,) box corners, metres, canonical frame.
        n_views: number of cameras, evenly spaced over 360 degrees.
        width, height: image size, pixels.
        yfov_deg: vertical field of view, degrees.
        elevation_deg: camera elevation above the box centre's height, degrees.
        margin: free border as a fraction of the image size, in [0, 0.5).
        start_azimuth_deg: azimuth of view 0, degrees.

    Returns:
        ``n_views`` cameras named ``az000``, ``az045``... (azimuth in whole degrees).
    """
    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    bmin = _as_vec3(bounds_min)
    bmax = _as_vec3(bounds_max)
    if np.any(bmax < bmin):
        raise ValueError(f"bounds_max must be >= bounds_min, got {bmin} .. {bmax}")
    center = (bmin + bmax) / 2.0
    corners = _box_corners(bmin, bmax)
    yfov = math.radians(yfov_deg)
    aspect = width / height
    elev = math.radians(elevation_deg)
    if abs(elevation_deg) >= 89.0:
        raise ValueError(f"elevation_deg must be within (-89, 89), got {elevation_deg}")
    dirs = []
    for i in range(n_views):
        az = math.radians(start_azimuth_deg + 360.0 * i / n_views)
        dirs.append(np.array([math.cos(elev) * math.sin(az), math.sin(elev), math.cos(elev) * math.cos(az)]))
    dist = max(fit_distance(center, d, corners, yfov, aspect, margin) for d in dirs)
    size = float(np.linalg.norm(bmax - bmin))
    cams = []
    for i, d in enumerate(dirs):
        az_deg = (start_azimuth_deg + 360.0 * i / n_views) % 360.0
        cams.append(
            Camera(
                position=center + dist * d,
                target=center,
                up=np.array([0.0, 1.0, 0.0]),
                yfov=yfov,
                width=width,
                height=height,
                name=f"az{int(round(az_deg)) % 360:03d}",
                znear=max(1e-3, 0.05 * (dist - size / 2.0)) if dist > size / 2.0 else 1e-3,
                zfar=dist + size + 1.0,
            )
        )
    return cams
