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
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..types import PathLikeStr as PathLike
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

#: Studio lighting presets (see :func:`lighting_preset`); the HDRI presets ``hdri-<name>`` are
#: listed by :func:`lighting_names`.
LIGHTING = ("soft", "high-key", "dramatic")

#: Prefix of the HDRI lighting presets (``hdri-forest``...).
HDRI_PREFIX = "hdri-"


def hdri_folder() -> Path | None:
    """The CC0 HDRIs the installed bpy wheel ships (``<bpy>/<version>/datafiles/studiolights/world``),
    found without importing bpy; None when bpy is not installed or ships none. They are used in
    place, never copied."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("bpy")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        found = sorted(Path(root).glob("*/datafiles/studiolights/world"))
        if found and any(found[-1].glob("*.exr")):
            return found[-1]
    return None


def hdri_names() -> tuple[str, ...]:
    """Names of the shipped HDRIs (``city``, ``forest``, ``studio``...), sorted; empty without bpy."""
    folder = hdri_folder()
    return tuple(sorted(p.stem for p in folder.glob("*.exr"))) if folder is not None else ()


def lighting_names() -> tuple[str, ...]:
    """Every lighting preset: the studio rigs (:data:`LIGHTING`), then ``hdri-<name>`` per HDRI."""
    return LIGHTING + tuple(HDRI_PREFIX + n for n in hdri_names())


def hdri_path(name: str) -> Path:
    """The EXR of an HDRI preset (``hdri-forest`` or ``forest``).

    Raises:
        InputError: an unknown name (the hint lists the names), or no HDRIs installed.
    """
    stem = name[len(HDRI_PREFIX):] if name.startswith(HDRI_PREFIX) else name
    names = hdri_names()
    if not names:
        raise InputError(f"lighting preset {name!r} needs the HDRIs of the bpy wheel, which is not installed",
                         hint=f"install bpy or choose one of {', '.join(LIGHTING)}")
    if stem not in names:
        raise InputError(f"unknown HDRI lighting preset {name!r}",
                         hint=f"choose one of {', '.join(HDRI_PREFIX + n for n in names)} or {', '.join(LIGHTING)}")
    return hdri_folder() / f"{stem}.exr"


def read_exr(path: PathLike) -> np.ndarray:
    """(H, W, 3) float32 linear RGB radiance of an OpenEXR file (decoded by FFmpeg through PyAV;
    row 0 is the image's top)."""
    import av

    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            rgb = frame.to_ndarray()  # planar gbrpf32le comes back as (H, W, 3) RGB
    except (av.FFmpegError, StopIteration, OSError) as exc:
        raise InputError(f"{path}: cannot read it as an OpenEXR image ({exc})") from None
    return np.maximum(np.nan_to_num(np.asarray(rgb, np.float32)[..., :3]), 0.0)


def _studio_mean_radiance() -> float:
    """Mean radiance over all directions of the ``soft`` rig (ambient + each sun's E / 4 pi): what
    a white diffuse sphere shows on average, the exposure the HDRI presets are scaled to."""
    lights, ambient = studio_lights(), AMBIENT
    return float(np.mean(ambient)) + sum(light.intensity * float(np.mean(light.color)) for light in lights) / (4 * math.pi)


@lru_cache(maxsize=16)
def hdri_lighting(name: str, key_cone_deg: float = 25.0) -> tuple[tuple[Light, ...], tuple[float, float, float], float]:
    """The fast renderers' stand-in for an HDRI preset, and its exposure.

    The equirectangular map (Blender's: +Z up at the top row, the centre column looking along
    Blender's +X, u growing toward -Y) is integrated over solid angle. Its brightest direction
    (the ``key_cone_deg`` cone that holds the most light: the sun, or a studio's softboxes)
    becomes a directional key light carrying the radiance above the surroundings inside that
    cone; everything else becomes the ambient level (its mean radiance). Both are scaled by the exposure that gives the map the ``soft``
    rig's mean radiance, and Cycles draws the map itself at the same exposure (world strength).

    Returns:
        (lights (one key, canonical frame, W/m^2), ambient RGB, exposure).
    """
    from ..frames import ZUP_TO_CANONICAL

    rgb = read_exr(hdri_path(name)).astype(np.float64)
    h, w = rgb.shape[:2]
    elev = math.pi / 2 - (np.arange(h) + 0.5) / h * math.pi
    phi = (0.5 - (np.arange(w) + 0.5) / w) * 2 * math.pi
    domega = (np.cos(elev) * (math.pi / h) * (2 * math.pi / w))[:, None] * np.ones((1, w))
    ce, se = np.cos(elev)[:, None], np.sin(elev)[:, None]
    zup = np.stack(np.broadcast_arrays(ce * np.cos(phi)[None], ce * np.sin(phi)[None], se), axis=-1)
    dirs = zup @ ZUP_TO_CANONICAL.T  # (H, W, 3) canonical directions toward the sky
    lum = rgb @ np.array([0.2126, 0.7152, 0.0722])
    # the key: the cone of ``key_cone_deg`` holding the most light (candidates on a coarse grid),
    # then the light-weighted mean direction inside it
    cos_cone = math.cos(math.radians(key_cone_deg))
    step = max(1, h // 32)
    cand = dirs[step // 2::step, step // 2::step].reshape(-1, 3)
    fine = max(1, h // 128)
    pts = dirs[fine // 2::fine, fine // 2::fine].reshape(-1, 3)
    power = (lum * domega)[fine // 2::fine, fine // 2::fine].reshape(-1) * fine * fine
    best = cand[int(np.argmax(((cand @ pts.T) > cos_cone).astype(np.float32) @ power.astype(np.float32)))]
    inside = dirs @ best > cos_cone
    mean_dir = ((lum * domega)[inside][:, None] * dirs[inside]).sum(0)
    d0 = mean_dir / max(float(np.linalg.norm(mean_dir)), 1e-12)
    cone = dirs @ d0 > math.cos(math.radians(key_cone_deg))
    wsum = domega[~cone].sum()
    base = (rgb[~cone] * domega[~cone, None]).sum(0) / max(wsum, 1e-12)  # radiance around the key
    excess = np.maximum(rgb[cone] - base, 0.0)
    key_e = (excess * domega[cone, None]).sum(0)  # irradiance (W/m^2) the key carries, RGB
    total = (rgb * domega[..., None]).sum((0, 1))
    ambient = (total - key_e) / (4 * math.pi)
    mean_lum = float(total @ np.array([0.2126, 0.7152, 0.0722])) / (4 * math.pi)
    exposure = _studio_mean_radiance() / max(mean_lum, 1e-9)
    key_e, ambient = key_e * exposure, ambient * exposure
    peak = float(key_e.max())
    lights = (Light("key", direction=-d0, color=tuple(key_e / peak) if peak > 0 else (1.0, 1.0, 1.0), intensity=peak),) if peak > 0 else ()
    return lights, tuple(float(x) for x in ambient), float(exposure)


def lighting_environment(name: str) -> dict | None:
    """What Cycles lights an HDRI preset with: ``{"path": EXR, "strength": exposure, "name"}``
    (the world's environment texture); None for the studio rigs."""
    if not name.startswith(HDRI_PREFIX):
        return None
    return {"name": name, "path": str(hdri_path(name)), "strength": hdri_lighting(name)[2]}


def lighting_preset(name: str = "soft") -> tuple[list[Light], tuple[float, float, float]]:
    """Directional lights and ambient RGB of a preset (canonical frame, body facing +Z).

    - ``soft``: key from the front-left above, weaker fill front-right, rim from behind
      (:func:`~engine.render.scene.studio_lights`), ambient 0.25;
    - ``high-key``: e-commerce: a strong frontal key and two side fills, bright ambient (0.5),
      few shadows;
    - ``dramatic``: a hard side key from camera-left, a faint fill, a strong rim, dark ambient;
    - ``hdri-<name>``: one of the bpy wheel's CC0 HDRIs (:func:`hdri_names`): Cycles lights the
      scene with the map itself (:func:`lighting_environment`); these lights are the fast
      renderers' stand-in (:func:`hdri_lighting`: its brightest direction as a key, the rest as
      ambient).
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
    if isinstance(name, str) and name.startswith(HDRI_PREFIX):
        lights, ambient, _ = hdri_lighting(name)
        return [replace_light(l) for l in lights], ambient
    raise InputError(f"unknown lighting preset {name!r}", hint=f"choose one of {', '.join(lighting_names())}")


def replace_light(light: Light) -> Light:
    """A fresh copy of a (cached) light, so callers may change it."""
    return Light(light.name, light.direction.copy(), tuple(light.color), float(light.intensity))


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
        lighting: a lighting preset (:func:`lighting_names`): a studio rig of :data:`LIGHTING`
            or an HDRI ``hdri-<name>``.
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

    def __post_init__(self) -> None:
        if self.lighting not in LIGHTING:
            if not (isinstance(self.lighting, str) and self.lighting.startswith(HDRI_PREFIX)):
                raise InputError(f"unknown lighting preset {self.lighting!r}", hint=f"choose one of {', '.join(lighting_names())}")
            hdri_path(self.lighting)  # an unknown HDRI is refused here, listing the names

    def lights(self) -> tuple[list[Light], tuple[float, float, float]]:
        """(directional lights, ambient RGB) of the lighting preset (an HDRI's stand-in for the
        fast renderers)."""
        return lighting_preset(self.lighting)

    def environment(self) -> dict | None:
        """The world environment Cycles lights an HDRI preset with (:func:`lighting_environment`),
        or None for a studio rig."""
        return lighting_environment(self.lighting)


#: Named looks for the command line.
LOOKS = {
    "studio": Look(),
    "ecommerce": Look(lighting="high-key", backdrop=Backdrop("solid", (1.0, 1.0, 1.0)), ground_shadow=True),
    "campaign": Look(lighting="dramatic", backdrop=Backdrop("gradient", (0.30, 0.30, 0.33), (0.08, 0.08, 0.09)), ground_shadow=True),
    # one look per HDRI of the bpy wheel (hdri-city, hdri-forest...): lit by the map, on a soft grey
    **{HDRI_PREFIX + n: Look(lighting=HDRI_PREFIX + n, backdrop=Backdrop("gradient", (0.86, 0.86, 0.87), (0.62, 0.62, 0.64)),
                             ground_shadow=True) for n in hdri_names()},
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
