"""Plain render inputs shared by every renderer: meshes with a colour, a studio light set and a
background. Everything is in the canonical frame (metres, +Y up, the body faces +Z); the Blender
backend converts at the worker boundary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

RGBA = tuple[float, float, float, float]

#: Default background: white, fully transparent (PNG alpha is the object's coverage).
TRANSPARENT_WHITE: RGBA = (1.0, 1.0, 1.0, 0.0)


def rgba(color, what: str = "colour") -> RGBA:
    """A colour -> (r, g, b, a) linear floats in [0, 1]: ``"#rrggbb"`` / ``"#rrggbbaa"`` (read as
    given, no gamma) or 3-4 floats in [0, 1]; alpha defaults to 1. InputError naming ``what``
    otherwise."""
    if isinstance(color, str):
        h = color.strip().lstrip("#")
        if len(h) not in (6, 8) or any(ch not in "0123456789abcdefABCDEF" for ch in h):
            raise InputError(f"{what}: colour {color!r} must be '#rrggbb' or '#rrggbbaa'")
        c = [int(h[i:i + 2], 16) / 255.0 for i in range(0, len(h), 2)]
    else:
        c = [float(x) for x in np.asarray(color, dtype=np.float64).reshape(-1)]
    if len(c) == 3:
        c.append(1.0)
    if len(c) != 4 or not all(0.0 <= x <= 1.0 for x in c):
        raise InputError(f"{what}: colour must be 3 or 4 floats in [0, 1], got {color!r}")
    return (c[0], c[1], c[2], c[3])


_rgba = rgba


@dataclass
class RenderMesh:
    """One triangle mesh to draw.

    Attributes:
        name: object name (unique within a scene; used as the Blender object name).
        vertices: (V, 3) float32, metres, canonical frame.
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from outside.
        color: RGBA floats in [0, 1] (linear; alpha below 1 is ignored by the silhouette). With a
            texture, the texture is multiplied by this colour.
        smooth: interpolate vertex normals (True) or shade each face flat.
        uv: optional texture coordinates, either (V, 2) float32 one per vertex, or (F, 3, 2)
            float32 one per face corner (a UV atlas with seams, e.g. Anny's: a vertex on a seam
            has a different UV in each face around it); (0, 0) is the image's bottom-left
            corner, (1, 1) its top-right (OpenGL/Blender convention); values outside [0, 1]
            repeat the image (a repeating print).
        texture: optional path of an RGB(A) image sampled with ``uv`` (needs ``uv``).
        material: optional shading hints for the physically based renderer (Cycles), e.g.
            ``{"kind": "skin"}`` or a fabric surface (:mod:`engine.render.surfaces`); the other
            renderers use only ``color`` and ``texture``.
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    color: RGBA = (0.8, 0.8, 0.8, 1.0)
    smooth: bool = True
    uv: np.ndarray | None = None
    texture: str | None = None
    material: dict | None = None

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(np.asarray(self.vertices, dtype=np.float32).reshape(-1, 3))
        self.faces = np.ascontiguousarray(np.asarray(self.faces, dtype=np.int64).reshape(-1, 3))
        self.color = _rgba(self.color, f"mesh {self.name!r}")
        if len(self.vertices) == 0 or len(self.faces) == 0:
            raise InputError(f"mesh {self.name!r} is empty ({len(self.vertices)} vertices, {len(self.faces)} faces)")
        if self.faces.min() < 0 or self.faces.max() >= len(self.vertices):
            raise InputError(
                f"mesh {self.name!r}: face indices must be in [0, {len(self.vertices)}), "
                f"got [{self.faces.min()}, {self.faces.max()}]"
            )
        if not np.all(np.isfinite(self.vertices)):
            raise InputError(f"mesh {self.name!r} has non-finite vertex coordinates")
        if self.uv is not None:
            self.uv = np.ascontiguousarray(np.asarray(self.uv, dtype=np.float32))
            shapes = ((len(self.vertices), 2), (len(self.faces), 3, 2))
            if self.uv.shape not in shapes or not np.all(np.isfinite(self.uv)):
                raise InputError(
                    f"mesh {self.name!r}: uv must be ({len(self.vertices)}, 2) per vertex or "
                    f"({len(self.faces)}, 3, 2) per face corner, finite floats; got shape {self.uv.shape}"
                )
        if self.texture is not None:
            self.texture = str(self.texture)
            if self.uv is None:
                raise InputError(f"mesh {self.name!r} has a texture but no uv", hint="give uv (V, 2) or use looks.cylindrical_uv")
            if not Path(self.texture).is_file():
                raise InputError(f"mesh {self.name!r}: texture image {self.texture} not found")

    @property
    def corner_uvs(self) -> bool:
        """True when ``uv`` is given per face corner ((F, 3, 2))."""
        return self.uv is not None and self.uv.ndim == 3

    def corner_uv(self) -> np.ndarray | None:
        """(F, 3, 2) float32 texture coordinates of every face corner (either form of ``uv``),
        or None without UVs."""
        if self.uv is None:
            return None
        return self.uv if self.uv.ndim == 3 else self.uv[self.faces]

    def unwelded(self) -> dict[str, np.ndarray]:
        """One vertex per face corner, for renderers that take one UV per vertex.

        Returns:
            ``positions`` (3F, 3) float32, ``normals`` (3F, 3) float32 (the shared vertex normals
            when ``smooth``, so a UV seam does not show in the shading; face normals otherwise),
            ``uv`` (3F, 2) float32 or None, ``faces`` (F, 3) int64 = ``arange(3F)``.
        """
        corners = self.faces.reshape(-1)
        normals = self.vertex_normals()[corners] if self.smooth else np.repeat(self.face_normals(), 3, axis=0)
        uv = self.corner_uv()
        return {
            "positions": self.vertices[corners],
            "normals": normals,
            "uv": None if uv is None else np.ascontiguousarray(uv.reshape(-1, 2)),
            "faces": np.arange(len(corners), dtype=np.int64).reshape(-1, 3),
        }

    def vertex_normals(self) -> np.ndarray:
        """(V, 3) float32 unit area-weighted vertex normals, canonical frame."""
        return vertex_normals(self.vertices, self.faces)

    def face_normals(self) -> np.ndarray:
        """(F, 3) float32 unit face normals (counter-clockwise winding), canonical frame."""
        v = self.vertices.astype(np.float64)
        n = np.cross(v[self.faces[:, 1]] - v[self.faces[:, 0]], v[self.faces[:, 2]] - v[self.faces[:, 0]])
        return (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)).astype(np.float32)

    def texture_image(self) -> np.ndarray | None:
        """(H, W, 4) uint8 RGBA texture image (row 0 is the image's top), or None without texture."""
        if self.texture is None:
            return None
        from PIL import Image

        with Image.open(self.texture) as im:
            return np.asarray(im.convert("RGBA"), dtype=np.uint8).copy()


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals.

    Args:
        vertices: (V, 3) float, metres; faces: (F, 3) int, counter-clockwise seen from outside.

    Returns:
        (V, 3) float32 unit normals (an isolated vertex gets (0, 1, 0)).
    """
    from engine.geometry import vertex_normals as unit_normals

    n = unit_normals(np.asarray(vertices, dtype=np.float64), faces)
    isolated = ~np.any(n, axis=1)
    n[isolated] = (0.0, 1.0, 0.0)
    return n.astype(np.float32)


@dataclass
class Light:
    """A directional light (the sun of Blender, ``DirectionalLight`` of pyrender).

    Attributes:
        name: label.
        direction: (3,) canonical frame: the direction the light travels (from the light toward
            the subject), normalised on construction.
        color: RGB floats in [0, 1].
        intensity: irradiance, W/m^2 (Blender sun ``strength``; pyrender ``intensity``).
    """

    name: str
    direction: np.ndarray
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    intensity: float = 3.0

    def __post_init__(self) -> None:
        d = np.asarray(self.direction, dtype=np.float64).reshape(3)
        n = np.linalg.norm(d)
        if not np.isfinite(n) or n < 1e-12:
            raise InputError(f"light {self.name!r}: direction must be a non-zero vector, got {self.direction!r}")
        self.direction = d / n
        self.color = tuple(float(x) for x in self.color)[:3]  # type: ignore[assignment]

    def pose(self) -> np.ndarray:
        """(4, 4) float64 light-to-world transform whose local -Z is ``direction`` (both renderers'
        convention for directional lights); positioned at the origin (position is irrelevant)."""
        z = -self.direction
        helper = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.99 else np.array([1.0, 0.0, 0.0])
        x = np.cross(helper, z)
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2] = x, y, z
        return m

    def to_dict(self) -> dict:
        return {"name": self.name, "direction": self.direction.tolist(), "color": list(self.color), "intensity": self.intensity}


def studio_lights() -> list[Light]:
    """The fixed key / fill / rim set, canonical frame (the body faces +Z).

    Key: from the front-left (the body's right, camera-left seen from the front) and above;
    fill: weaker, from the front-right, lower; rim: from behind and above, so the back view and
    the outline still read. The same directions are used by pyrender and Blender.
    """
    return [
        Light("key", direction=(0.6, -0.55, -0.6), intensity=3.0),
        Light("fill", direction=(-0.7, -0.2, -0.5), intensity=1.2),
        Light("rim", direction=(0.0, -0.5, 1.0), intensity=2.0),
    ]


#: Ambient light level (RGB, linear) added by both renderers so unlit sides are not black.
AMBIENT = (0.25, 0.25, 0.25)

