"""A scan's colour onto a twin's UV atlas: ``albedo.png`` + ``albedo_mask.png``.

For each texel of the twin's atlas (:mod:`.atlas`), the point on the fitted body in the scan's
pose (the twin's ``body.ply``) looks up the scan:

- a scan mesh: a ray along the body's normal, both ways, up to ``max_distance_m`` each, to a
  scan face turned less than ``max_angle_deg`` from that normal; the closest scan point under
  the same limits as a fallback (:mod:`.raycast`, a Warp kernel over the scan's BVH); the colour
  interpolated from the scan's vertex colours; the validity mask says which texels found one;
- a point cloud: the scan points in a thin cylinder along the body's normal (within
  ``max_distance_m`` along it and ``tangential_m`` across it), weighted by how close to the
  normal line they are; the closest point within ``tangential_m`` as a fallback.

Texels nothing was found for (holes: armpits, crotch, soles, top of the head) are filled from
the mirrored side of the body (x -> -x at rest) where that was seen, then by smooth inpainting
(inverse-distance weights over the nearest seen texels in 3D, so fills never jump across a UV
seam). A white-balance step removes a colour cast that pulls the skin off the skin-tone locus.
Finally a gutter is dilated around every UV island.

The texture is the person's likeness: it is written only into her twin folder (private, 0600
files for a real person, through :func:`engine.storage.atomic_path`), hashed in ``twin.json``
and deleted with the folder.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.storage import atomic_path, file_sha256, read_json, write_json
from engine.types import PathLikeStr

from .atlas import Atlas, dilate, linear_to_srgb, srgb_to_linear, to_png_rgb

#: mask values in ``albedo_mask.png``.
MASK_SEEN, MASK_FILLED, MASK_OUTSIDE = 255, 128, 0


@dataclass(frozen=True)
class TransferSettings:
    """Knobs of :func:`transfer_texture`. Lengths in metres."""

    size: int = 2048
    """atlas size in texels (2048 default, 4096 on request)."""
    max_distance_m: float = 0.02
    """a scan point further than this from the body's surface is not its colour (the fit's p95
    error is a few mm; a hole's rim is further)."""
    max_angle_deg: float = 60.0
    """scan faces turned further than this from the body's normal are not used (by the ray
    along the normal or by the closest-point fallback)."""
    tangential_m: float = 0.006
    """point clouds: radius of the cylinder along the normal."""
    mirror: bool = True
    """fill unseen texels from the mirrored side first."""
    white_balance: bool = True
    """remove a colour cast (see :func:`white_balance_gains`)."""
    gutter_px: int = 8
    """texels of gutter dilated around each UV island."""
    inpaint_neighbours: int = 16
    """seen texels averaged for each inpainted one."""
    eye_color: tuple | None = (0.12, 0.05, 0.02)
    """linear RGB of procedurally painted irises over the eyeballs (scanners rarely capture
    eyes); None keeps what the scan saw."""


@dataclass
class TransferResult:
    """Outputs of :func:`transfer_texture`.

    Attributes:
        albedo: (S, S, 3) uint8 sRGB texture.
        mask: (S, S) uint8: 255 seen in the scan, 128 filled, 0 outside the atlas.
        report: coverage_pct (seen share of the atlas' texels), filled_pct, mirrored_pct,
            inpainted_pct, white_balance gains, size, seconds.
    """

    albedo: np.ndarray
    mask: np.ndarray
    report: dict = field(default_factory=dict)


def _scan_mesh_lookup(points, colors_lin, scan_faces, p, n, cfg: TransferSettings):
    """(colours (M, 3) linear, valid (M,), how (M,) int8 of :mod:`.raycast`) of a scan mesh."""
    from .raycast import normal_lookup

    hit = normal_lookup(points, scan_faces, p, n, cfg.max_distance_m, cfg.max_angle_deg)
    tri = np.asarray(scan_faces, np.int64)[np.maximum(hit.face, 0)]
    col = np.einsum("mk,mkc->mc", hit.bary, colors_lin[tri])
    return col, hit.valid, hit.kind


#: texels looked up in the scan cloud at a time: the lookup's (texels, k, 3) float64 arrays for all
#: of a 2048^2 atlas at once made a 200k-point coloured fit peak at 3.1 GB (issue 22)
CLOUD_LOOKUP_CHUNK = 65_536


def _scan_cloud_lookup(points, colors_lin, p, n, cfg: TransferSettings, k: int = 8):
    from scipy.spatial import cKDTree

    pts = np.asarray(points, np.float64)
    tree = cKDTree(pts)
    col = np.zeros((len(p), np.shape(colors_lin)[1]), np.float64)
    ok = np.zeros(len(p), bool)
    for s in range(0, len(p), CLOUD_LOOKUP_CHUNK):
        sl = slice(s, s + CLOUD_LOOKUP_CHUNK)
        col[sl], ok[sl] = _cloud_chunk(tree, pts, colors_lin, p[sl], n[sl], cfg, k)
    return col, ok


def _cloud_chunk(tree, pts, colors_lin, p, n, cfg: TransferSettings, k: int):
    d, idx = tree.query(p, k=k, distance_upper_bound=cfg.max_distance_m, workers=2)
    found = np.isfinite(d)
    idx = np.where(found, idx, 0)
    off = pts[idx] - p[:, None, :]
    along = np.einsum("mkd,md->mk", off, n)
    tang = np.linalg.norm(off - along[..., None] * n[:, None, :], axis=-1)
    inside = found & (tang < cfg.tangential_m)
    w = np.where(inside, np.exp(-(tang / (0.5 * cfg.tangential_m)) ** 2), 0.0)
    ok = w.sum(axis=1) > 1e-6
    col = np.einsum("mk,mkc->mc", w, colors_lin[idx]) / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    # fallback: the closest point, if it is near enough across the normal
    near = ~ok & found[:, 0] & (tang[:, 0] < 2 * cfg.tangential_m)
    col[near] = colors_lin[idx[near, 0]]
    return col, ok | near


def white_balance_gains(colors_lin: np.ndarray, threshold: float = 0.025) -> np.ndarray:
    """(3,) per-channel gains that move the median seen colour onto the skin-tone locus (the
    chromaticities of ``engine.render.looks.SKIN_TONES``) when it is further than
    ``threshold`` from it in rg-chromaticity; ones otherwise (no cast to correct)."""
    from engine.render.looks import SKIN_TONES

    med = np.median(np.asarray(colors_lin, np.float64).reshape(-1, 3), axis=0)
    if not np.all(med > 1e-4):
        return np.ones(3)
    tones = np.array(list(SKIN_TONES.values()), np.float64)
    chroma = tones / tones.sum(axis=1, keepdims=True)
    c = med / med.sum()
    best, dist = None, np.inf
    for a, b in zip(chroma[:-1], chroma[1:]):  # the locus as a polyline light -> deep
        t = np.clip(np.dot(c - a, b - a) / max(np.dot(b - a, b - a), 1e-12), 0.0, 1.0)
        q = a + t * (b - a)
        if np.linalg.norm(q - c) < dist:
            best, dist = q, float(np.linalg.norm(q - c))
    if dist <= threshold:
        return np.ones(3)
    gains = best / c
    return gains / np.dot(gains, [0.2126, 0.7152, 0.0722]) * 1.0  # keep the luminance


def transfer_texture(
    atlas: Atlas,
    body_vertices: np.ndarray,
    faces: np.ndarray,
    rest_vertices: np.ndarray,
    scan_points: np.ndarray,
    scan_colors: np.ndarray,
    scan_faces: np.ndarray | None = None,
    settings: TransferSettings | None = None,
    corner_uv: np.ndarray | None = None,
) -> TransferResult:
    """Transfer a scan's colour onto a body's UV atlas.

    Args:
        atlas: the body model's atlas at the wanted size.
        body_vertices: (V, 3) the fitted body in the scan's pose and placement, metres, canonical.
        faces: (F, 3) the body's faces (the atlas' faces).
        rest_vertices: (V, 3) the body at rest (T-pose, symmetric), for the mirror and inpainting.
        scan_points: (N, 3) metres, canonical frame (as :func:`bodies.scan.load_scan` gives them).
        scan_colors: (N, 3) uint8 sRGB.
        scan_faces: (G, 3) the scan's faces, or None for a point cloud.
        settings: :class:`TransferSettings`.
        corner_uv: (F, 3, 2) the atlas' corner UVs, to find the eyeballs for ``eye_color``.

    Raises:
        InputError: colours and points disagree in number, or nothing of the scan is near the body.
    """
    from scipy.spatial import cKDTree

    cfg = settings or TransferSettings()
    t0 = time.monotonic()
    scan_colors = np.asarray(scan_colors)
    if scan_colors.shape != (len(scan_points), 3):
        raise InputError(f"scan colours must be ({len(scan_points)}, 3), got {scan_colors.shape}")
    lin = srgb_to_linear(scan_colors.astype(np.float64) / 255.0)
    p = atlas.points(body_vertices, faces)
    n = atlas.normals(body_vertices, faces)
    how = None
    if scan_faces is not None and len(scan_faces):
        col, seen, how = _scan_mesh_lookup(scan_points, lin, scan_faces, p, n, cfg)
    else:
        col, seen = _scan_cloud_lookup(scan_points, lin, p, n, cfg)
    m = len(p)
    if seen.sum() < 0.01 * m:
        raise InputError(
            f"only {seen.sum()} of {m} texels found a scan point within {cfg.max_distance_m * 1000:.0f} mm",
            hint="the twin does not overlay this scan: transfer from the scan it was fitted to",
        )
    gains = white_balance_gains(col[seen]) if cfg.white_balance else np.ones(3)
    col = np.clip(col * gains[None, :], 0.0, 1.0)
    rest = atlas.points(rest_vertices, faces)
    filled_m = np.zeros(m, dtype=bool)
    mirrored = 0
    spacing = np.sqrt(_area(rest_vertices, faces) / max(m, 1))
    if cfg.mirror and (~seen).any():
        src = _subsample(np.flatnonzero(seen), 400_000)  # the tree's size bounds the cost
        tree = cKDTree(rest[src])
        q = rest[~seen] * np.array([-1.0, 1.0, 1.0])
        reach = 3 * spacing * np.sqrt(max(seen.sum() / len(src), 1.0)) + 0.002
        d, j = tree.query(q, distance_upper_bound=reach, workers=2)
        ok = np.isfinite(d)
        hole = np.flatnonzero(~seen)
        col[hole[ok]] = col[src[j[ok]]]
        filled_m[hole[ok]] = True
        mirrored = int(ok.sum())
    known = seen | filled_m
    inpainted = 0
    if (~known).any():
        src = _subsample(np.flatnonzero(known), 150_000)  # a smooth fill needs no dense source
        k = min(cfg.inpaint_neighbours, len(src))
        tree = cKDTree(rest[src])
        d, j = tree.query(rest[~known], k=k, workers=2)
        d, j = d.reshape(len(d), -1), j.reshape(len(j), -1)
        w = 1.0 / np.maximum(d, spacing) ** 2
        col[~known] = np.einsum("mk,mkc->mc", w, col[src][j]) / w.sum(axis=1, keepdims=True)
        inpainted = int((~known).sum())
        filled_m[~known] = True
    if cfg.eye_color is not None:
        from .skin import paint_eyes

        col = paint_eyes(atlas, rest_vertices, faces, col, cfg.eye_color, corner_uv)
    covered = atlas.covered()
    albedo = dilate(atlas.image(to_png_rgb(col)), covered, cfg.gutter_px)
    mask = atlas.image(np.where(seen, MASK_SEEN, MASK_FILLED).astype(np.uint8))
    report = {
        "size": atlas.size,
        "texels": m,
        "coverage_pct": round(100.0 * seen.sum() / m, 2),
        "filled_pct": round(100.0 * filled_m.sum() / m, 2),
        "mirrored_pct": round(100.0 * mirrored / m, 2),
        "inpainted_pct": round(100.0 * inpainted / m, 2),
        "white_balance_gains": [round(float(g), 4) for g in gains],
        "source": "mesh" if scan_faces is not None and len(scan_faces) else "points",
        # a scan mesh: texels found by the ray along the normal, and by the closest-point fallback
        **({"ray_pct": round(100.0 * float((how == 1).sum()) / m, 2),
            "closest_pct": round(100.0 * float((how == 2).sum()) / m, 2)} if how is not None else {}),
        "seconds": round(time.monotonic() - t0, 2),
        "settings": asdict(cfg),
    }
    return TransferResult(albedo, mask, report)


def _subsample(idx: np.ndarray, at_most: int) -> np.ndarray:
    """Every n-th of ``idx`` so that at most ``at_most`` remain (deterministic)."""
    step = max(1, int(np.ceil(len(idx) / at_most)))
    return idx[::step]


def _area(v, f) -> float:
    v = np.asarray(v, np.float64)
    t = v[np.asarray(f)]
    return float(0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum())


# --- the twin folder --------------------------------------------------------------------------------

ALBEDO, ALBEDO_MASK, REPORT = "albedo.png", "albedo_mask.png", "texture_report.json"


def texture_twin(twin_dir: PathLikeStr, scan, model, settings: TransferSettings | None = None) -> dict | None:
    """Transfer ``scan``'s colour onto the twin in ``twin_dir`` and record it.

    Writes ``albedo.png``, ``albedo_mask.png`` and ``texture_report.json`` into the twin folder
    (atomically; 0600 in a real person's private folder) and an ``appearance.albedo`` entry in
    ``twin.json`` (file names, SHA-256 of both images, coverage and filled %).

    Args:
        twin_dir: a folder written by ``atelier fit`` (twin.json).
        scan: the :class:`bodies.scan.Scan` the twin was fitted to (as loaded, not cleaned).
        model: the twin's body model.

    Returns:
        The report, or None when there is nothing to transfer (the scan has no colour, or the
        model has no UV atlas): the twin then renders with a skin tone.
    """
    from PIL import Image

    from ..twin import Twin
    from . import body_atlas, rest_vertices
    from .skin import check_size

    cfg = settings or TransferSettings()
    if scan.colors is None:
        return None
    atlas = body_atlas(model, check_size(cfg.size))
    if atlas is None:
        return None
    twin_dir = Path(twin_dir)
    twin = Twin.load(twin_dir)
    verts, faces, _ = twin.body(model)
    result = transfer_texture(atlas, verts, faces, rest_vertices(model), scan.points, scan.colors, scan.faces, cfg,
                              corner_uv=model.corner_uvs())
    with atomic_path(twin_dir / ALBEDO) as tmp:
        Image.fromarray(result.albedo).save(tmp, format="PNG")
    with atomic_path(twin_dir / ALBEDO_MASK) as tmp:
        Image.fromarray(result.mask).save(tmp, format="PNG")
    report = {**result.report, "scan_sha256": scan.sha256}
    write_json(twin_dir / REPORT, report)
    entry = {
        "albedo": ALBEDO, "albedo_sha256": file_sha256(twin_dir / ALBEDO),
        "mask": ALBEDO_MASK, "mask_sha256": file_sha256(twin_dir / ALBEDO_MASK),
        "size": result.report["size"], "coverage_pct": result.report["coverage_pct"],
        "filled_pct": result.report["filled_pct"], "colour_space": "sRGB",
    }
    set_appearance(twin_dir, albedo=entry)
    return report


def set_appearance(twin_dir: PathLikeStr, **entries) -> dict:
    """Merge ``entries`` into ``twin.json``'s ``appearance`` block (atomically). Returns it."""
    path = Path(twin_dir) / "twin.json"
    data = read_json(path)
    appearance = dict(data.get("appearance") or {})
    appearance.update(entries)
    data["appearance"] = appearance
    write_json(path, data)
    return appearance


def twin_albedo(twin_dir: PathLikeStr) -> Path | None:
    """The twin's albedo image if twin.json records one and its hash matches, else None."""
    twin_dir = Path(twin_dir)
    try:
        entry = (read_json(twin_dir / "twin.json").get("appearance") or {}).get("albedo")
    except (OSError, ValueError):
        return None
    if not entry:
        return None
    path = twin_dir / entry.get("albedo", ALBEDO)
    if not path.is_file() or file_sha256(path) != entry.get("albedo_sha256"):
        return None
    return path


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> CIE L*a*b* (D65 white)."""
    lin = srgb_to_linear(rgb)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    e = 216 / 24389
    f = np.where(xyz > e, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of L*a*b* arrays (..., 3) (kL = kC = kH = 1)."""
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, np.float64), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, np.float64), -1, 0)
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    cm = 0.5 * (c1 + c2)
    g = 0.5 * (1 - np.sqrt(cm ** 7 / (cm ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dL = L2 - L1
    dC = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    Lm = 0.5 * (L1 + L2)
    cmp_ = 0.5 * (c1p + c2p)
    hs = h1p + h2p
    hm = np.where(np.abs(h1p - h2p) > 180, np.where(hs < 360, (hs + 360) / 2, (hs - 360) / 2), hs / 2)
    hm = np.where(c1p * c2p == 0, hs, hm)
    t = (1 - 0.17 * np.cos(np.radians(hm - 30)) + 0.24 * np.cos(np.radians(2 * hm))
         + 0.32 * np.cos(np.radians(3 * hm + 6)) - 0.20 * np.cos(np.radians(4 * hm - 63)))
    d_theta = 30 * np.exp(-(((hm - 275) / 25) ** 2))
    rc = 2 * np.sqrt(cmp_ ** 7 / (cmp_ ** 7 + 25.0 ** 7))
    sl = 1 + 0.015 * (Lm - 50) ** 2 / np.sqrt(20 + (Lm - 50) ** 2)
    sc = 1 + 0.045 * cmp_
    sh = 1 + 0.015 * cmp_ * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    return np.sqrt((dL / sl) ** 2 + (dC / sc) ** 2 + (dH / sh) ** 2 + rt * (dC / sc) * (dH / sh))


def albedo_error(albedo_a: np.ndarray, albedo_b: np.ndarray) -> np.ndarray:
    """Per-texel CIEDE2000 difference of two sRGB uint8 images (..., 3)."""
    a = srgb_to_lab(np.asarray(albedo_a, np.float64)[..., :3] / 255.0)
    b = srgb_to_lab(np.asarray(albedo_b, np.float64)[..., :3] / 255.0)
    return ciede2000(a, b)
