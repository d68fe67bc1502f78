"""Per-view render outputs shared by every backend: colour, depth, normals and an id mask.

- colour: (H, W, 4) uint8 RGBA, straight alpha; alpha is coverage over a transparent background.
- depth: (H, W) float32 distance along the camera axis, metres; 0 where nothing was drawn.
- normals: (H, W, 3) float32 unit normals in the camera frame (OpenGL: x right, y up, z toward the
  viewer, so a surface facing the camera has z > 0); 0 where nothing was drawn.
- ids: (H, W) uint8 mask: 0 = background, ``i + 1`` = the i-th mesh of the scene (``labels[i]``
  names it: ``body``, ``garment``...). A pixel belongs to a mesh where its coverage is at least
  one half (the same rule as :attr:`RenderedView.mask`).

On disk (:func:`save_view`): ``{stem}.png`` (RGBA), ``{stem}_depth.npy`` (float32 metres) and
``{stem}_depth.png`` (16-bit millimetres), ``{stem}_normals.png`` (RGB = (n + 1) / 2),
``{stem}_mask.png`` (8-bit ids) with the legend in ``{stem}_mask.json``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import InputError
from ..storage import atomic_path, write_json
from ..types import PathLikeStr
from .camera import Camera

#: Outputs a render can produce; "color" always is.
OUTPUTS = ("color", "depth", "normals", "mask")


def check_outputs(outputs: Iterable[str] | None) -> tuple[str, ...]:
    """Validate and normalise an output list (``None`` -> ``("color",)``); "color" is always included.

    Raises:
        InputError: an unknown output name.
    """
    wanted = ["color"] + [o for o in (outputs or ()) if o != "color"]
    bad = [o for o in wanted if o not in OUTPUTS]
    if bad:
        raise InputError(f"unknown render output(s) {bad}; choose from {', '.join(OUTPUTS)}")
    return tuple(dict.fromkeys(wanted))


@dataclass
class RenderedView:
    """One rendered view.

    Attributes:
        camera: the camera used.
        color: (H, W, 4) uint8 RGBA; alpha is coverage (0 = background when it is transparent).
        depth: (H, W) float32 distance along the camera axis, metres; 0 where nothing was drawn.
            None unless depth was asked for.
        normals: (H, W, 3) float32 camera-frame unit normals (z toward the viewer); 0 outside.
            None unless asked for.
        ids: (H, W) uint8: 0 background, i + 1 for ``labels[i]``. None unless asked for.
        labels: mesh names in id order (id 1 is ``labels[0]``).
    """

    camera: Camera
    color: np.ndarray
    depth: np.ndarray | None = None
    normals: np.ndarray | None = None
    ids: np.ndarray | None = None
    labels: tuple[str, ...] = field(default_factory=tuple)

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool: alpha >= 128 (at least half of the pixel covered)."""
        return self.color[..., 3] >= 128

    def mask_of(self, label: str) -> np.ndarray:
        """(H, W) bool pixels of the mesh named ``label`` (needs ``ids``)."""
        if self.ids is None:
            raise ValueError("this view was rendered without the 'mask' output")
        if label not in self.labels:
            raise KeyError(f"no mesh {label!r} in {self.labels}")
        return self.ids == self.labels.index(label) + 1


# --- id palette -------------------------------------------------------------------------------


def id_palette(n: int) -> np.ndarray:
    """(n + 1, 3) float64 colours in [0, 1] for ids 0..n (0: black = background).

    Ids are told apart by the *direction* of their colour (see :func:`decode_ids`), so a pixel
    that an antialiasing renderer blended with the black background still decodes to its id.
    """
    cols = [(0.0, 0.0, 0.0)]
    golden = 0.618033988749895
    for i in range(n):
        h = (i * golden) % 1.0
        s = 1.0 if (i // 6) % 2 == 0 else 0.55
        cols.append(colorsys.hsv_to_rgb(h, s, 1.0))
    return np.asarray(cols, dtype=np.float64)


def decode_ids(rgb: np.ndarray, covered: np.ndarray, n: int) -> np.ndarray:
    """Ids of an id-colour render.

    Args:
        rgb: (H, W, 3) uint8 or float render of :func:`id_palette` colours (flat, unlit).
        covered: (H, W) bool pixels that belong to some mesh (coverage >= 1/2).
        n: number of meshes.

    Returns:
        (H, W) uint8: 0 outside ``covered``; elsewhere the id whose colour direction is nearest
        (a covered pixel left black by the id pass takes the nearest decoded pixel's id), so
        ``ids > 0`` equals ``covered``.
    """
    c = np.asarray(rgb, dtype=np.float64)
    if c.max() > 1.0:
        c = c / 255.0
    pal = id_palette(n)[1:]
    pal = pal / np.linalg.norm(pal, axis=1, keepdims=True)
    norm = np.linalg.norm(c, axis=-1, keepdims=True)
    cos = (c / np.maximum(norm, 1e-9)) @ pal.T
    ids = (np.argmax(cos, axis=-1) + 1).astype(np.uint8)
    dark = norm[..., 0] < 0.02
    ids[dark] = 0
    holes = covered & dark
    if holes.any() and (ids > 0).any():
        # Covered pixels the id pass left black (its rasterisation differs from the colour
        # pass' by a sample at the outline): take the nearest decoded id.
        from scipy.ndimage import distance_transform_edt

        _, (iy, ix) = distance_transform_edt(ids == 0, return_indices=True)
        ids[holes] = ids[iy[holes], ix[holes]]
    ids[~covered] = 0
    return ids


# --- normals ----------------------------------------------------------------------------------


def world_to_camera_normals(normals_world: np.ndarray, camera: Camera) -> np.ndarray:
    """(..., 3) canonical-frame normals -> (..., 3) float32 camera-frame unit normals (zeros stay 0)."""
    r = camera.view_matrix()[:3, :3]
    n = np.asarray(normals_world, dtype=np.float64) @ r.T
    length = np.linalg.norm(n, axis=-1, keepdims=True)
    return np.where(length > 1e-9, n / np.maximum(length, 1e-9), 0.0).astype(np.float32)


def encode_normals(normals: np.ndarray) -> np.ndarray:
    """(H, W, 3) unit normals -> (H, W, 3) uint8 RGB ((n + 1) / 2; zero normals become 0)."""
    n = np.asarray(normals, dtype=np.float64)
    out = np.clip((n + 1.0) * 0.5 * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out[np.linalg.norm(n, axis=-1) < 1e-6] = 0
    return out


# --- files ------------------------------------------------------------------------------------


def _save_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(array, mode=mode).save(tmp, format="PNG")
    return path


def save_view(view: RenderedView, out_dir: PathLikeStr, stem: str) -> dict[str, Path]:
    """Write a view's outputs atomically (see the module doc for names and encodings).

    Returns:
        {"color": path, "depth": path (.npy), "depth_png": ..., "normals": ..., "mask": ...,
        "mask_legend": ...} for the outputs the view holds.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"color": _save_png(out / f"{stem}.png", np.ascontiguousarray(view.color, dtype=np.uint8))}
    if view.depth is not None:
        npy = out / f"{stem}_depth.npy"
        with atomic_path(npy) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, view.depth.astype(np.float32))
        paths["depth"] = npy
        mm = np.clip(np.round(view.depth * 1000.0), 0, 65535).astype(np.uint16)
        paths["depth_png"] = _save_png(out / f"{stem}_depth.png", mm)
    if view.normals is not None:
        paths["normals"] = _save_png(out / f"{stem}_normals.png", encode_normals(view.normals))
    if view.ids is not None:
        paths["mask"] = _save_png(out / f"{stem}_mask.png", view.ids.astype(np.uint8), mode="L")
        legend = {"0": "background", **{str(i + 1): name for i, name in enumerate(view.labels)}}
        paths["mask_legend"] = write_json(out / f"{stem}_mask.json", legend)
    return paths


def silhouette_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (H, W) bool masks (1.0 when both are empty)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def mask_centroids(ids: np.ndarray, n: int) -> np.ndarray:
    """(n, 2) float64 (x, y) pixel centroids of ids 1..n (pixel centres at +0.5); NaN when absent."""
    out = np.full((n, 2), np.nan)
    ys, xs = np.nonzero(ids)
    vals = ids[ys, xs]
    for k in range(1, n + 1):
        sel = vals == k
        if sel.any():
            out[k - 1] = [xs[sel].mean() + 0.5, ys[sel].mean() + 0.5]
    return out


__all__: Sequence[str] = [
    "OUTPUTS",
    "RenderedView",
    "check_outputs",
    "decode_ids",
    "encode_normals",
    "id_palette",
    "mask_centroids",
    "save_view",
    "silhouette_iou",
    "world_to_camera_normals",
]
