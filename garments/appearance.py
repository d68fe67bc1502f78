"""What a dressed twin looks like when drawn: the one function every surface calls (``atelier
render`` and its named shots, the demo, campaign cells, scene files and the ``scenes`` API).

:func:`dressed_meshes` takes the plain meshes of a drape (the body named ``"body"`` and the
garments) and gives back what the renderers draw:

- the body with the twin's albedo on its corner UVs when the twin folder has a texture and the
  mesh has the model's topology (:func:`bodies.appearance.folder.twin_meshes`), with Cycles skin
  shading either way;
- the twin's hair (twin.json's, or the one asked for: ``"bob:#3b2a20"``, ``"none"``) as a mesh
  proxy, with strands for Cycles;
- each garment with its fabric's surface (weave or knit bump, sheen, gloss: the fabric registry).

:func:`drape_folder_meshes` does the same for a folder written by ``atelier drape`` (it reads the
twin and the fabrics from ``dressed.json`` and the layers' ``drape_report.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from engine.render.scene import RenderMesh
from engine.render.surfaces import fabric_surface, skin_surface
from engine.storage import read_json
from engine.types import PathLikeStr


def _needs_model(twin_dir: Path | None, hair) -> bool:
    """True when the body model must be built: the twin has a texture, or hair is to be grown."""
    from bodies.appearance.folder import twin_hair
    from bodies.appearance.hair import parse_hair
    from bodies.appearance.transfer import twin_albedo

    if twin_dir is not None and twin_albedo(twin_dir) is not None:
        return True
    if hair == "twin":
        return twin_dir is not None and twin_hair(twin_dir) is not None
    return (parse_hair(hair) if isinstance(hair, str) else hair) is not None


def dressed_meshes(
    meshes: Sequence[RenderMesh],
    twin_dir: PathLikeStr | None = None,
    model: str | object = "anny",
    shape: Sequence[float] | None = None,
    hair="twin",
    fabrics: Mapping[str, str | None] | None = None,
    workdir: PathLikeStr | None = None,
) -> list[RenderMesh]:
    """The twin's appearance on a drape's meshes (see the module docstring).

    Args:
        meshes: the body (named ``"body"``, canonical frame, metres) and the garments.
        twin_dir: the twin folder (``twin.json``, maybe ``albedo.png``), or None for a synthetic
            body (no texture; hair only when ``hair`` names a style).
        model: the body model or its name (built only when a texture or hair needs it).
        shape: a synthetic body's shape values (for sizing its hair).
        hair: ``"twin"`` (what twin.json records), a ``"style[:colour]"`` text
            (:func:`bodies.appearance.hair.parse_hair`), a HairSpec, or None / ``"none"``.
        fabrics: {garment mesh name: fabric name of the registry}; garments not named keep no
            surface (flat shading).
        workdir: where the hair strands file goes (default a temporary folder).

    Returns:
        New meshes: the body (textured or skin-toned), then the hair, then the garments.
    """
    from garments.fabrics import get_fabric

    twin_dir = Path(twin_dir) if twin_dir is not None else None
    if twin_dir is not None and not (twin_dir / "twin.json").is_file():
        twin_dir = None
    out: list[RenderMesh] = []
    for m in meshes:
        if m.name == "body":
            if _needs_model(twin_dir, hair):
                import bodies
                from bodies.appearance.folder import twin_meshes

                body_model = bodies.create(model) if isinstance(model, str) else model
                out += twin_meshes(twin_dir, m.vertices, m.faces, body_model, hair=hair, workdir=workdir, shape=shape)
            else:
                out.append(_skin_only(m, model))
        elif (fabrics or {}).get(m.name):
            out.append(RenderMesh(m.name, m.vertices, m.faces, color=m.color, smooth=m.smooth, uv=m.uv,
                                  texture=m.texture, material=fabric_surface(get_fabric(fabrics[m.name]).to_dict())))
        else:
            out.append(m)
    return out


def _skin_only(body: RenderMesh, model) -> RenderMesh:
    """The body with Cycles skin shading (Anny's subsurface map when the model is Anny's), without
    building the model."""
    from dataclasses import replace

    name = model if isinstance(model, str) else getattr(model, "name", "")
    sss = None
    if str(name).startswith("anny"):
        from bodies.appearance.skin import anny_texture_dir

        path = anny_texture_dir() / "sss.png"
        sss = str(path) if path.is_file() else None
    return replace(body, material=body.material or skin_surface(sss))


def drape_folder_meshes(drape_dir: PathLikeStr, meshes: Sequence[RenderMesh], hair="twin",
                        fabrics: Mapping[str, str | None] | None = None) -> list[RenderMesh]:
    """:func:`dressed_meshes` for a folder written by ``atelier drape``: the twin folder and model
    from its ``dressed.json``; each garment's fabric from ``fabrics`` (mesh name -> fabric its
    drape used), else dressed.json's one fabric. Unchanged without ``dressed.json``."""
    drape_dir = Path(drape_dir)
    dressed = drape_dir / "dressed.json"
    if not dressed.exists():
        return list(meshes)
    info = read_json(dressed)
    one = info.get("fabric") if isinstance(info.get("fabric"), str) else None
    per_mesh = {m.name: (fabrics or {}).get(m.name) or one for m in meshes if m.name != "body"}
    twin_dir = Path(info["twin_dir"]) if info.get("twin_dir") else None
    if not info.get("model"):
        twin_dir = None
    return dressed_meshes(meshes, twin_dir, info.get("model") or "anny", hair=hair, fabrics=per_mesh,
                          workdir=drape_dir / ".atelier")


__all__ = ["dressed_meshes", "drape_folder_meshes"]
