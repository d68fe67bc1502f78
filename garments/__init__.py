"""Garments: templates generated around a posed body, Blender cloth draping, fit checks.

- :func:`make_garment` / :data:`GARMENTS` / :func:`garment_names` build a cloth mesh by name
  (:mod:`garments.templates`).
- :class:`GarmentRequest` (a pattern, template or mesh file; size; fabric; colour; layer) and
  :class:`Outfit` (several, layered) are what every surface asks for; :func:`drape_twin` /
  :func:`drape_outfit` drape them in layer order (:mod:`garments.outfit`); :func:`drape_garment`
  drapes one on a body in a Blender worker and validates it (:mod:`garments.drape`).
- :func:`signed_distance` measures cloth-to-body clearance (:mod:`garments.clearance`).
- Sewing patterns (:mod:`garments.pattern`, library in ``garments/library``, format in
  docs/patterns.md), sizes (:mod:`garments.sizes`), fabrics (:mod:`garments.fabrics`), the
  Cusick drape test (:mod:`garments.cusick`) and fit numbers (:mod:`garments.fit`); a library
  name passed to :func:`drape_garment` / :func:`drape_twin` drapes the pattern
  (:mod:`garments.dress`).
- Garments made elsewhere (CLO 3D / Marvelous Designer OBJ or GLB exports):
  :func:`load_garment_mesh` reads and welds one, :func:`drape_imported` /
  :func:`drape_imported_twin` align it to a twin and drape it (:mod:`garments.imported`).
"""

from .clearance import BodyDistance, signed_distance
from .drape import DrapeResult, DrapeSettings, drape_garment
from .fabrics import Fabric, fabric_names, get_fabric
from .imported import ImportedGarment, drape_imported, drape_imported_twin, load_garment_mesh
from .outfit import GarmentRequest, Outfit, OutfitResult, drape_outfit, drape_twin
from .pattern import Pattern, library_names, library_pattern, load_pattern
from .sizes import grade, size_names
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
    "Pattern",
    "load_pattern",
    "library_names",
    "library_pattern",
    "grade",
    "size_names",
    "Fabric",
    "fabric_names",
    "get_fabric",
    "ImportedGarment",
    "load_garment_mesh",
    "drape_imported",
    "drape_imported_twin",
    "GarmentRequest",
    "Outfit",
    "OutfitResult",
    "drape_outfit",
]
