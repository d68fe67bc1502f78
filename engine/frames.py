"""Frames and units.

Canonical frame (everything inside Atelier): right-handed, metres, +Y up, the body faces +Z,
feet on y = 0 (the SMPL-X convention). Blender is Z-up and faces -Y: the conversion happens in
:func:`canonical_to_blender` / :func:`blender_to_canonical` and nowhere else. Anny's native frame
is Blender's (Z-up, facing -Y), so it converts with the same matrices.
"""

from __future__ import annotations

import numpy as np

#: Rotation taking Z-up/facing -Y (Blender, Anny) coordinates to the canonical frame.
#: x' = x, y' = z, z' = -y.
ZUP_TO_CANONICAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
CANONICAL_TO_ZUP = ZUP_TO_CANONICAL.T

CM_PER_M = 100.0
MM_PER_M = 1000.0


def canonical_to_blender(points: np.ndarray) -> np.ndarray:
    """(..., 3) canonical-frame points -> (..., 3) Blender-frame points (same units)."""
    return np.asarray(points) @ CANONICAL_TO_ZUP.T


def blender_to_canonical(points: np.ndarray) -> np.ndarray:
    """(..., 3) Blender-frame points -> (..., 3) canonical-frame points (same units)."""
    return np.asarray(points) @ ZUP_TO_CANONICAL.T


def canonical_matrix_to_blender(matrix: np.ndarray) -> np.ndarray:
    """(4, 4) object-to-world transform in the canonical frame -> the same in Blender's frame."""
    c = np.eye(4)
    c[:3, :3] = CANONICAL_TO_ZUP
    return c @ np.asarray(matrix, dtype=np.float64) @ c.T


def m_to_cm(x):
    return np.asarray(x) * CM_PER_M


def m_to_mm(x):
    return np.asarray(x) * MM_PER_M
