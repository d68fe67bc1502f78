"""Looks: garment colourways, skin tones, studio lighting presets, backdrops and a ground shadow.

A :class:`Look` is applied in two places, the same way for every backend:

1. before rendering, :func:`apply_look` gives each mesh its colour, texture and UVs and
   :func:`lighting_preset` gives the lights and ambient level;
2. after rendering (over a transparent film), :func:`compose` paints the backdrop, a soft ground
   shadow under the feet, and the rendered subject over them.

Colours are linear RGB(A) floats in [0, 1], as :class:`~engine.render.scene.RenderMesh` takes
them. Print tiles are in metres on the cloth, so a 10 cm check stays 10 cm whatever the size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import InputError
from .camera import Camera
from .scene import AMBIENT, Light, RenderMesh, _rgba, studio_lights

#: Skin tones, linear RGB (a light-to-deep range; pick by name or pass any RGB).
SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "porcelain": (0.87, 0.72, 0.64),
    "light": (0.80, 0.64, 0.53),
    "medium": (0.66, 0.47, 0.35),
    "tan": (0.55, 0.37, 0.25),
    "brown": (0.38, 0.24, 0.16),
    "deep": (0.22, 0.14, 0.10),
}


def skin_tone(tone) -> tuple[float, float, float, float]:
    """RGBA of a named tone (:data:`SKIN_TONES`) or of an RGB(A) given directly."""
    if isinstance(tone, str):
        if tone not in SKIN_TONES:
            raise InputError(f"unknown skin tone {tone!r}", hint=f"choose one of {', '.join(SKIN_TONES)} or give RGB")
        return (*SKIN_TONES[tone], 1.0)
    return _rgba(tone, "skin tone")


# --- UVs ----------------------------------------------------------------------------------------


def cylindrical_uv(vertices: np.ndarray, tile_m: float = 1.0, center_xz: Sequence[float] | None = None) -> np.ndarray:
    """UVs in metres around the vertical axis: u = arc length at the mesh's mean radius, v = height.

    Args:
        vertices: (V, 3) metres, canonical frame.
        tile_m: metres of cloth per texture repeat (u and v are divided by it).
        center_xz: the axis' (x, z); default the vertices' centroid.

    Returns:
        (V, 2) float32 texture coordinates (a seam at the back, azimuth 180 degrees).
    """
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    c = np.mean(v[:, [0, 2]], axis=0) if center_xz is None else np.asarray(center_xz, dtype=np.float64)
    dx, dz = v[:, 0] - c[0], v[:, 2] - c[1]
    radius = float(np.mean(np.hypot(dx, dz))) or 1.0
    theta = np.arctan2(dx, dz)  # 0 at the front (+Z), +-pi at the back
    u = theta * radius
    return (np.c_[u, v[:, 1]] / float(tile_m)).astype(np.float32)


# --- colourways -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Colourway:
    """How a garment is coloured.

    Attributes:
        kind: ``"flat"`` (one colour), ``"texture"`` (an image mapped once over the garment's UVs)
            or ``"print"`` (an image repeated every ``tile_m`` metres).
        color: RGB(A) linear; multiplies the image for textures and prints.
        image: image path for ``texture`` and ``print``.
        tile_m: print repeat, metres of cloth per tile.
    """

    kind: str = "flat"
    color: tuple = (0.16, 0.30, 0.55, 1.0)
    image: str | None = None
    tile_m: float = 0.12

    def __post_init__(self) -> None:
        if self.kind not in ("flat", "texture", "print"):
            raise InputError(f"unknown colourway kind {self.kind!r}; choose flat, texture or print")
        if self.kind != "flat":
            if not self.image or not Path(self.image).is_file():
                raise InputError(f"colourway {self.kind!r} needs an image file, got {self.image!r}")
        if not self.tile_m > 0:
            raise InputError(f"print tile must be positive metres, got {self.tile_m}")


def _garment_uv(mesh: RenderMesh, cw: Colourway) -> np.ndarray:
    if cw.kind == "print":
        if mesh.uv is not None:  # the pattern's UVs are taken to be in metres
            return (mesh.uv / cw.tile_m).astype(np.float32)
        return cylindrical_uv(mesh.vertices, cw.tile_m)
    if mesh.uv is not None:
        return mesh.uv
    # One image around the garment: u in [0, 1] around, v in [0, 1] bottom to top.
    uv = cylindrical_uv(mesh.vertices, 1.0)
    u = (np.arctan2(*(mesh.vertices[:, [0, 2]] - mesh.vertices[:, [0, 2]].mean(0)).T) / (2 * math.pi)) + 0.5
    y = mesh.vertices[:, 1]
    v = (y - y.min()) / max(float(np.ptp(y)), 1e-9)
    uv[:, 0], uv[:, 1] = u, v
    return uv.astype(np.float32)


# --- lighting -------------------------------------------------------------------------------------

#: Lighting presets (see :func:`lighting_preset`).
LIGHTING = ("soft", "high-key", "dramatic")


def lighting_preset(name: str = "soft") -> tuple[list[Light], tuple[float, float, float]]:
    """Directional lights and ambient RGB of a studio preset (canonical frame, body facing +Z).

    - ``soft``: key from the front-left above, weaker fill front-right, rim from behind
      (:func:`~engine.render.scene.studio_lights`), ambient 0.25;
    - ``high-key``: e-commerce: a strong frontal key and two side fills, bright ambient (0.5),
      few shadows;
    - ``dramatic``: a hard side key from camera-left, a faint fill, a strong rim, dark ambient.
    """
    if name == "soft":
        return studio_lights(), AMBIENT
    if name == "high-key":
        return [
            Light("key", direction=(0.0, -0.35, -1.0), intensity=3.0),
            Light("fill_left", direction=(0.9, -0.2, -0.5), intensity=1.5),
            Light("fill_right", direction=(-0.9, -0.2, -0.5), intensity=1.5),
            Light("rim", direction=(0.0, -0.3, 1.0), intensity=1.0),
        ], (0.5, 0.5, 0.5)
    if name == "dramatic":
        return [
            Light("key", direction=(1.0, -0.45, -0.25), intensity=4.5),
            Light("fill", direction=(-0.6, -0.1, -0.6), intensity=0.3),
            Light("rim", direction=(-0.4, -0.6, 1.0), intensity=3.0),
        ], (0.06, 0.06, 0.07)
    raise InputError(f"unknown lighting preset {name!r}", hint=f"choose one of {', '.join(LIGHTING)}")


# --- backdrops ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backdrop:
    """What is behind the subject.

    Attributes:
        kind: ``"transparent"`` (PNG alpha stays coverage), ``"solid"``, ``"gradient"`` (``color``
            at the top to ``color2`` at the bottom) or ``"image"`` (scaled to cover the frame).
        color, color2: RGB floats in [0, 1] (display values, written as they are).
        image: image path for ``kind = "image"``.
    """

    kind: str = "transparent"
    color: tuple = (1.0, 1.0, 1.0)
    color2: tuple = (0.82, 0.82, 0.84)
    image: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("transparent", "solid", "gradient", "image"):
            raise InputError(f"unknown backdrop {self.kind!r}; choose transparent, solid, gradient or image")
        if self.kind == "image" and (not self.image or not Path(self.image).is_file()):
            raise InputError(f"image backdrop needs an image file, got {self.image!r}")

    def pixels(self, width: int, height: int) -> np.ndarray | None:
        """(H, W, 3) float32 in [0, 1], or None when transparent."""
        if self.kind == "transparent":
            return None
        if self.kind == "solid":
            return np.broadcast_to(np.asarray(self.color[:3], np.float32), (height, width, 3)).copy()
        if self.kind == "gradient":
            t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
            top, bottom = np.asarray(self.color[:3], np.float32), np.asarray(self.color2[:3], np.float32)
            return np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).copy()
        from PIL import Image

        with Image.open(self.image) as im:
            im = im.convert("RGB")
            scale = max(width / im.width, height / im.height)
            size = (max(width, math.ceil(im.width * scale)), max(height, math.ceil(im.height * scale)))
            im = im.resize(size, Image.BILINEAR)
            left, top = (size[0] - width) // 2, (size[1] - height) // 2
            return np.asarray(im.crop((left, top, left + width, top + height)), np.float32) / 255.0


# --- the look -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """Everything about appearance that is not geometry.

    Attributes:
        skin: a :data:`SKIN_TONES` name or RGB for the meshes named in ``body_names``.
        garment: the colourway of every other mesh, unless ``garments`` names it.
        garments: {mesh name: Colourway} per garment.
        lighting: a :data:`LIGHTING` preset.
        backdrop: the backdrop.
        ground_shadow: draw a soft contact shadow under the feet (needs a non-transparent
            backdrop; on a transparent one it is drawn as partly opaque black).
        shadow_opacity: darkest shadow, in [0, 1].
        shadow_softness: blur radius as a fraction of the image height.
        body_names: meshes that get the skin tone.
    """

    skin: object = "light"
    garment: Colourway = field(default_factory=Colourway)
    garments: Mapping[str, Colourway] = field(default_factory=dict)
    lighting: str = "soft"
    backdrop: Backdrop = field(default_factory=Backdrop)
    ground_shadow: bool = False
    shadow_opacity: float = 0.45
    shadow_softness: float = 0.015
    body_names: tuple[str, ...] = ("body",)

    def lights(self) -> tuple[list[Light], tuple[float, float, float]]:
        return lighting_preset(self.lighting)


#: Named looks for the command line.
LOOKS = {
    "studio": Look(),
    "ecommerce": Look(lighting="high-key", backdrop=Backdrop("solid", (1.0, 1.0, 1.0)), ground_shadow=True),
    "campaign": Look(lighting="dramatic", backdrop=Backdrop("gradient", (0.30, 0.30, 0.33), (0.08, 0.08, 0.09)), ground_shadow=True),
}


def get_look(look: "Look | str | None") -> Look:
    if look is None:
        return Look()
    if isinstance(look, Look):
        return look
    if look not in LOOKS:
        raise InputError(f"unknown look {look!r}", hint=f"choose one of {', '.join(LOOKS)}")
    return LOOKS[look]


def apply_look(meshes: Sequence[RenderMesh], look: Look | str | None) -> list[RenderMesh]:
    """Copies of ``meshes`` with the look's skin tone and colourways (textures get UVs: the
    mesh's own, scaled per metre for prints, or cylindrical ones when it has none)."""
    look = get_look(look)
    out = []
    for m in meshes:
        if m.name in look.body_names:
            material = m.material or {"kind": "skin"}
            if m.texture is not None and m.uv is not None:  # the twin's own albedo (bodies.appearance)
                out.append(replace(m, color=(1.0, 1.0, 1.0, 1.0), material=material))
            else:
                out.append(replace(m, color=skin_tone(look.skin), texture=None, material=material))
            continue
        if (m.material or {}).get("kind") == "hair" and m.name not in look.garments:
            out.append(m)  # hair keeps its own colour (bodies.appearance.hair)
            continue
        cw = look.garments.get(m.name, look.garment)
        color = _rgba(cw.color, f"colourway of {m.name!r}")
        if cw.kind == "flat":
            out.append(replace(m, color=color, texture=None))
        else:
            out.append(replace(m, color=color, uv=_garment_uv(m, cw), texture=str(cw.image)))
    return out


def ground_shadow(camera: Camera, meshes: Sequence[RenderMesh], softness: float = 0.015, falloff_m: float = 0.12) -> np.ndarray:
    """A soft contact shadow on the floor under the body, as seen by ``camera``.

    The vertices are dropped onto the floor (the lowest vertex' height), weighted by
    ``exp(-height / falloff_m)`` so the feet and hems count most, splatted into the image and
    blurred.

    Returns:
        (H, W) float32 shadow strength in [0, 1].
    """
    from PIL import Image, ImageFilter

    v = np.concatenate([m.vertices for m in meshes]).astype(np.float64)
    floor = v[:, 1].min()
    w = np.exp(-(v[:, 1] - floor) / falloff_m)
    keep = w > 0.02
    p = v[keep].copy()
    p[:, 1] = floor
    uv = camera.project(p)
    ok = np.all(np.isfinite(uv), axis=1)
    H, W = camera.height, camera.width
    img = np.zeros((H, W), np.float64)
    x = np.clip(uv[ok, 0].astype(int), 0, W - 1)
    y = np.clip(uv[ok, 1].astype(int), 0, H - 1)
    inside = (uv[ok, 0] >= 0) & (uv[ok, 0] < W) & (uv[ok, 1] >= 0) & (uv[ok, 1] < H)
    np.add.at(img, (y[inside], x[inside]), w[keep][ok][inside])
    if img.max() <= 0:
        return np.zeros((H, W), np.float32)
    # Fill the footprint, then soften.
    r = max(1.0, softness * H)
    im = Image.fromarray((img > 0).astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3))
    im = im.filter(ImageFilter.GaussianBlur(radius=r))
    s = np.asarray(im, np.float32) / 255.0
    return np.clip(s / max(float(s.max()), 1e-6), 0.0, 1.0).astype(np.float32)


def compose(color: np.ndarray, look: Look | str | None, camera: Camera | None = None, meshes: Sequence[RenderMesh] = ()) -> np.ndarray:
    """Put a rendered view over the look's backdrop and ground shadow.

    Args:
        color: (H, W, 4) uint8 RGBA rendered over a transparent film (straight alpha).
        look: the look (its backdrop and ground shadow are used).
        camera, meshes: needed for the ground shadow.

    Returns:
        (H, W, 4) uint8 RGBA: opaque over a backdrop; with a transparent backdrop the subject
        keeps its alpha (and the shadow, if any, becomes partly opaque black).
    """
    look = get_look(look)
    rgba = np.asarray(color, np.float32) / 255.0
    h, w = rgba.shape[:2]
    a = rgba[..., 3:4]
    bg = look.backdrop.pixels(w, h)
    shadow = None
    if look.ground_shadow and camera is not None and len(meshes):
        shadow = ground_shadow(camera, meshes, look.shadow_softness)[..., None] * float(look.shadow_opacity)
    if bg is None:
        if shadow is None:
            return np.asarray(color, np.uint8).copy()
        out_a = a + shadow * (1 - a)
        out_rgb = np.where(out_a > 0, rgba[..., :3] * a / np.maximum(out_a, 1e-6), 0.0)
        out = np.concatenate([out_rgb, out_a], axis=-1)
    else:
        if shadow is not None:
            bg = bg * (1.0 - shadow)
        out = np.concatenate([rgba[..., :3] * a + bg * (1 - a), np.ones_like(a)], axis=-1)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
