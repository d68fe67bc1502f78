"""Garments: templates generated around a posed body, Blender cloth draping, fit checks.

- :func:`make_garment` / :data:`GARMENTS` / :func:`garment_names` build a cloth mesh by name
  (:mod:`garments.templates`).
- :func:`drape_garment` / :func:`drape_twin` drape it in a Blender worker and validate it
  (:mod:`garments.drape`).
- :func:`signed_distance` measures cloth-to-body clearance (:mod:`garments.clearance`).
"""

from .clearance import BodyDistance, signed_distance
from .drape import DrapeResult, DrapeSettings, drape_garment, drape_twin
from .templates import GARMENTS, GarmentMesh, garment_names, make_garment

__all__ = [
    "GARMENTS",
    "GarmentMesh",
    "garment_names",
    "make_garment",
    "DrapeSettings",
    "DrapeResult",
    "drape_garment",
    "drape_twin",
    "BodyDistance",
    "signed_distance",
]
