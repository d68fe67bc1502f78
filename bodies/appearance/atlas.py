"""A body's UV atlas as texels: which face and barycentric point each texel of an N x N image
covers, so colours can be computed in 3D (on the body's surface) and stored in the image.

Texel (row r, column c) of an N x N image has its centre at u = (c + 0.5) / N,
v = 1 - (r + 0.5) / N (row 0 is the image's top; UV (0, 0) is its bottom-left, as OpenGL and
Blender read it). Texels outside every UV island are empty; :func:`dilate` fills a gutter around
the islands with the nearest island colour so that filtering across an island's edge (bilinear
lookups, mipmaps) never reads the empty background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import InputError


@dataclass(frozen=True)
class Atlas:
    """The texels of a UV atlas that lie inside a face.

    Attributes:
        size: the image is ``size`` x ``size`` texels.
        texels: (M,) int64 flat indices (row * size + column) of the covered texels.
        face: (M,) int64 the face each covered texel lies in.
        bary: (M, 3) float32 barycentric coordinates of the texel centre in that face (sum 1).
    """

    size: int
    texels: np.ndarray
    face: np.ndarray
    bary: np.ndarray

    def covered(self) -> np.ndarray:
        """(size, size) bool: texels inside a face."""
        m = np.zeros(self.size * self.size, dtype=bool)
        m[self.texels] = True
        return m.reshape(self.size, self.size)

    def points(self, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """(M, 3) float64: each covered texel's point on the surface ``vertices``/``faces``
        (any pose of the same topology; metres, canonical frame)."""
        v = np.asarray(vertices, dtype=np.float64)
        tri = v[np.asarray(faces)[self.face]]  # (M, 3, 3)
        return np.einsum("mk,mkd->md", self.bary.astype(np.float64), tri)

    def normals(self, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """(M, 3) float64 unit normals at the texels (vertex normals interpolated)."""
        from engine.geometry import vertex_normals

        n = vertex_normals(np.asarray(vertices, dtype=np.float64), faces)
        out = np.einsum("mk,mkd->md", self.bary.astype(np.float64), n[np.asarray(faces)[self.face]])
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def image(self, values: np.ndarray, fill=0.0) -> np.ndarray:
        """(size, size, C) image with ``values`` ((M, C) or (M,)) at the covered texels."""
        values = np.asarray(values)
        shape = (self.size * self.size,) + values.shape[1:]
        out = np.full(shape, fill, dtype=values.dtype)
        out[self.texels] = values
        return out.reshape((self.size, self.size) + values.shape[1:])

    def sample(self, image: np.ndarray) -> np.ndarray:
        """(M, ...) the values of an image of this atlas' size at the covered texels."""
        img = np.asarray(image)
        if img.shape[:2] != (self.size, self.size):
            raise InputError(f"image is {img.shape[1]}x{img.shape[0]}, the atlas {self.size}x{self.size}")
        return img.reshape((self.size * self.size,) + img.shape[2:])[self.texels]


def rasterize_atlas(corner_uv: np.ndarray, size: int, chunk: int = 4000) -> Atlas:
    """The texels covered by each face of a UV atlas.

    Args:
        corner_uv: (F, 3, 2) float texture coordinates per face corner, (0, 0) bottom-left.
        size: image size in texels (square).
        chunk: faces rasterised per vectorised step (bounds memory).

    Returns:
        An :class:`Atlas`. Where UV islands overlap, the later face wins.
    """
    uv = np.asarray(corner_uv, dtype=np.float64)
    if uv.ndim != 3 or uv.shape[1:] != (3, 2):
        raise InputError(f"corner UVs must be (F, 3, 2), got {uv.shape}")
    size = int(size)
    if size < 8:
        raise InputError(f"atlas size must be at least 8 texels, got {size}")
    # texel-space coordinates: x = column, y = row, texel centres at integers
    xy = np.empty_like(uv)
    xy[..., 0] = uv[..., 0] * size - 0.5
    xy[..., 1] = (1.0 - uv[..., 1]) * size - 0.5
    face_map = np.full(size * size, -1, dtype=np.int64)
    bary_map = np.zeros((size * size, 3), dtype=np.float32)
    lo = np.clip(np.ceil(xy.min(axis=1)), 0, size - 1).astype(np.int64)
    hi = np.clip(np.floor(xy.max(axis=1)), 0, size - 1).astype(np.int64)
    w = np.maximum(hi[:, 0] - lo[:, 0] + 1, 0)
    h = np.maximum(hi[:, 1] - lo[:, 1] + 1, 0)
    for start in range(0, len(uv), chunk):
        sl = slice(start, start + chunk)
        n = (w[sl] * h[sl]).astype(np.int64)
        if n.sum() == 0:
            continue
        fid = np.repeat(np.arange(start, start + len(n)), n)
        first = np.repeat(np.cumsum(n) - n, n)
        local = np.arange(int(n.sum())) - first
        ww = w[fid]
        px = lo[fid, 0] + local % ww
        py = lo[fid, 1] + local // ww
        a, b, c = xy[fid, 0], xy[fid, 1], xy[fid, 2]
        d = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
        ok = np.abs(d) > 1e-12
        d = np.where(ok, d, 1.0)
        l0 = ((b[:, 1] - c[:, 1]) * (px - c[:, 0]) + (c[:, 0] - b[:, 0]) * (py - c[:, 1])) / d
        l1 = ((c[:, 1] - a[:, 1]) * (px - c[:, 0]) + (a[:, 0] - c[:, 0]) * (py - c[:, 1])) / d
        l2 = 1.0 - l0 - l1
        eps = -1e-6
        inside = ok & (l0 >= eps) & (l1 >= eps) & (l2 >= eps)
        idx = (py * size + px)[inside]
        face_map[idx] = fid[inside]
        bary_map[idx] = np.stack([l0, l1, l2], axis=1)[inside]
    texels = np.flatnonzero(face_map >= 0)
    bary = np.clip(bary_map[texels], 0.0, 1.0)
    bary /= np.maximum(bary.sum(axis=1, keepdims=True), 1e-12)
    return Atlas(size, texels, face_map[texels], bary.astype(np.float32))


def dilate(image: np.ndarray, valid: np.ndarray, pixels: int = 8) -> np.ndarray:
    """Copy of ``image`` whose invalid texels within ``pixels`` of a valid one take the nearest
    valid texel's value (the gutter around UV islands).

    Args:
        image: (H, W) or (H, W, C) array.
        valid: (H, W) bool.
        pixels: gutter width, texels.
    """
    from scipy.ndimage import distance_transform_edt

    valid = np.asarray(valid, dtype=bool)
    if valid.all() or not valid.any():
        return np.array(image, copy=True)
    dist, (iy, ix) = distance_transform_edt(~valid, return_indices=True)
    out = np.asarray(image)[iy, ix]
    keep = valid | (dist > pixels)
    out[keep] = np.asarray(image)[keep]
    return out


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear values in [0, 1] -> sRGB-encoded."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)


def to_png_rgb(linear: np.ndarray) -> np.ndarray:
    """Linear RGB floats -> uint8 sRGB."""
    return np.clip(linear_to_srgb(linear) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def sample_uv(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear samples of an (H, W, C) image at texture coordinates ``uv`` ((N, 2), (0, 0) the
    image's bottom-left, clamped to the edge). Returns (N, C) float64."""
    img = np.asarray(image, dtype=np.float64)
    h, w = img.shape[:2]
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    x = np.clip(uv[:, 0] * w - 0.5, 0, w - 1)
    y = np.clip((1.0 - uv[:, 1]) * h - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
