"""Type aliases used across Atelier. Shapes, dtypes, units and frames are in the names' docs."""

from __future__ import annotations

from os import PathLike
from typing import Union

import numpy as np

PathLikeStr = Union[str, PathLike]

Vertices = np.ndarray
"""(V, 3) float32, metres, canonical frame (+Y up, facing +Z, feet on y = 0)."""

Faces = np.ndarray
"""(F, 3) int64 vertex indices, counter-clockwise seen from outside."""

Points = np.ndarray
"""(N, 3) float32 points, metres, canonical frame unless a docstring says otherwise."""

Matrix4 = np.ndarray
"""(4, 4) float64 homogeneous transform."""
