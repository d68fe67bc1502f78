"""Fabric presets (``garments/data/fabrics.json``) and their mapping to Blender cloth settings.

A :class:`Fabric` holds physical values (areal density g/m^2, thickness, stretch, friction) and
the Blender stiffnesses calibrated with the Cusick drape test (:mod:`garments.cusick`), plus the
published drape-coefficient range of its fabric class. :func:`cloth_settings` turns one into the
``cloth`` / ``collision`` overrides of :class:`garments.drape.DrapeSettings` for a mesh with a
given area per vertex (Blender's mass is per vertex).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.errors import InputError

FABRIC_FILE = Path(__file__).resolve().parent / "data" / "fabrics.json"
#: Blender's cloth mass is per vertex and its stiffnesses are tuned for vertex masses of 0.1-1 kg
#: (its own presets: silk 0.15, cotton 0.3, denim 1). A physical vertex mass (density x area,
#: ~1e-5 kg) makes every preset board-stiff, so the mapping is: 0.0025 kg per g/m^2 at the
#: reference vertex area (a 1.5 cm mesh), scaled with the actual area per vertex so that the
#: garment's total mass does not change with the resolution.
MASS_PER_GSM = 0.0025
REFERENCE_VERTEX_AREA_M2 = 1.95e-4
#: Blender collider friction per unit of a preset's friction coefficient (see :func:`cloth_settings`)
FRICTION_PER_COEFFICIENT = 45.0


@dataclass
class Fabric:
    """One fabric preset.

    Attributes:
        name: preset name (lowercase with hyphens), e.g. "cotton-jersey".
        description: what it is.
        density_gsm: areal density, g/m^2.
        thickness_mm: thickness, mm (sets the collision distance).
        stretch_pct: elongation under a light pull, % (informational; reflected in ``tension``).
        friction: cloth-on-body friction coefficient.
        tension, shear, bending: Blender cloth stiffnesses (tension also used for compression).
        air_damping: Blender air damping.
        drape_coefficient: (lo, hi) published Cusick drape coefficient range of the fabric class.
    """

    name: str
    description: str
    density_gsm: float
    thickness_mm: float
    stretch_pct: float
    friction: float
    tension: float
    shear: float
    bending: float
    air_damping: float
    drape_coefficient: tuple

    def to_dict(self) -> dict:
        return asdict(self)


def _load() -> dict:
    return json.loads(FABRIC_FILE.read_text())


def fabric_names() -> list[str]:
    """Preset names, sorted."""
    return sorted(_load()["fabrics"])


def get_fabric(name: str) -> Fabric:
    """A preset by name (or alias: cotton, jersey, silk, wool). InputError if unknown."""
    data = _load()
    key = data.get("aliases", {}).get(name, name)
    if key not in data["fabrics"]:
        raise InputError(f"unknown fabric {name!r}", hint=f"choose one of: {', '.join(sorted(data['fabrics']))}")
    d = dict(data["fabrics"][key])
    d["drape_coefficient"] = tuple(d["drape_coefficient"])
    return Fabric(name=key, **d)


def drape_source_note() -> str:
    """Where the drape coefficient ranges come from."""
    return _load()["drape_coefficient_source"]


def cloth_settings(fabric: Fabric | str, area_per_vertex_m2: float) -> tuple[dict, dict]:
    """Blender overrides for a fabric: (ClothSettings dict, ClothCollisionSettings dict).

    Args:
        fabric: a :class:`Fabric` or preset name.
        area_per_vertex_m2: cloth area divided by vertex count, m^2 (see :data:`MASS_PER_GSM`).
    """
    fab = get_fabric(fabric) if isinstance(fabric, str) else fabric
    mass = max(fab.density_gsm * MASS_PER_GSM * float(area_per_vertex_m2) / REFERENCE_VERTEX_AREA_M2, 1e-4)
    cloth = {
        "mass": mass,
        "tension_stiffness": fab.tension,
        "compression_stiffness": fab.tension,
        "shear_stiffness": fab.shear,
        "bending_stiffness": fab.bending,
        "air_damping": fab.air_damping,
    }
    # the collider's friction. Blender's cloth collision takes 1/100 of it as a Coulomb coefficient
    # per collision impulse (collision.cc: pdef_cfrict * 0.01), applied every substep; measured on
    # a tilted board, 45 x the coefficient holds jersey (0.6) at 20 degrees and lets it slide at
    # 40 (its friction angle: 31). The earlier 5 + 10 x coefficient made every fabric nearly
    # frictionless (jersey slid on a 15 degree board) and loose dresses rocked on the bust.
    collision = {"distance_min": max(0.005, fab.thickness_mm / 1000.0 + 0.0045), "collision_quality": 3,
                 "friction": FRICTION_PER_COEFFICIENT * fab.friction}
    return cloth, collision


__all__ = ["Fabric", "FABRIC_FILE", "fabric_names", "get_fabric", "cloth_settings", "drape_source_note"]
