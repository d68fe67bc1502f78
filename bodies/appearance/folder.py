"""A twin folder's appearance: after the fit (texture from the scan, the hairstyle) and at render
time (the meshes every renderer draws: the textured body and the hair)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from engine.meshio import save_npz_mesh
from engine.render.scene import RenderMesh
from engine.render.surfaces import skin_surface
from engine.storage import read_json
from engine.types import PathLikeStr

from .hair import HairSpec, grow_hair, parse_hair
from .transfer import TransferSettings, set_appearance, texture_twin, twin_albedo


def after_fit(twin_dir: PathLikeStr, scan, model, texture: bool = True, texture_size: int = 2048,
              hair: str | HairSpec | None = None, quiet: bool = False) -> dict:
    """The appearance steps after ``atelier fit``: the scan's colour onto the twin's atlas
    (when the scan has colour and the model an atlas) and the hairstyle recorded in twin.json.

    Returns:
        ``{"texture": report or None, "hair": {...} or None}``; prints one line per step unless
        ``quiet``.
    """
    from engine.progress import say

    out = {"texture": None, "hair": None}
    if texture:
        report = texture_twin(twin_dir, scan, model, TransferSettings(size=int(texture_size)))
        out["texture"] = report
        if report is None:
            why = "the scan has no colour" if scan.colors is None else f"model {model.name} has no UV atlas"
            say(f"        texture  none ({why}): the twin renders with a skin tone", quiet)
        else:
            say(f"        texture  {Path(twin_dir) / 'albedo.png'} {report['size']}x{report['size']}: "
                f"{report['coverage_pct']:.1f} % seen in the scan, {report['filled_pct']:.1f} % filled "
                f"({report['mirrored_pct']:.1f} % mirrored, {report['inpainted_pct']:.1f} % inpainted) "
                f"in {report['seconds']:.1f} s", quiet)
    spec = parse_hair(hair) if isinstance(hair, str) else hair
    if spec is not None:
        set_appearance(twin_dir, hair=spec.to_dict())
        out["hair"] = spec.to_dict()
        say(f"        hair     {spec.style} {spec.color}", quiet)
    return out


def twin_hair(twin_dir: PathLikeStr) -> HairSpec | None:
    """The hairstyle twin.json records, or None."""
    try:
        data = read_json(Path(twin_dir) / "twin.json")
    except (OSError, ValueError):
        return None
    return HairSpec.from_dict((data.get("appearance") or {}).get("hair"))


def twin_meshes(
    twin_dir: PathLikeStr | None,
    vertices: np.ndarray,
    faces: np.ndarray,
    model,
    hair: str | HairSpec | None = "twin",
    workdir: PathLikeStr | None = None,
    name: str = "body",
    shape=None,
) -> list[RenderMesh]:
    """What to draw for a twin's body in any pose: the body (with its albedo and corner UVs when
    the twin has a texture and the mesh has the model's topology; skin shading for Cycles) and
    its hair (a mesh proxy; Cycles also draws the strands).

    Args:
        twin_dir: the twin folder (twin.json, maybe albedo.png), or None for a synthetic body
            (no texture; hair only when ``hair`` names a style; ``shape`` its phenotype).
        vertices: (V, 3) the body as it will be drawn (e.g. a drape folder's body.ply), metres.
        faces: (F, 3) its faces.
        model: the twin's body model.
        hair: ``"twin"`` (what twin.json says), a :class:`HairSpec`, a ``"style:#rrggbb"`` text,
            or None / ``"none"`` for none.
        workdir: where the strands file goes (default a temporary folder that lives as long as
            the process).
        name: the body mesh's name (looks give meshes of this name the skin).
        shape: the body's shape values when there is no twin folder (default the model's).
    """
    import torch

    from .skin import anny_texture_dir

    twin_dir = Path(twin_dir) if twin_dir is not None else None
    v = np.asarray(vertices, np.float32)
    f = np.asarray(faces, np.int64)
    same_topology = len(f) == len(model.faces_numpy()) and np.array_equal(f, model.faces_numpy())
    sss = anny_texture_dir() / "sss.png" if model.corner_uvs() is not None else None
    surface = skin_surface(str(sss) if sss is not None and sss.is_file() else None)
    albedo = twin_albedo(twin_dir) if twin_dir is not None else None
    if albedo is not None and same_topology:
        body = RenderMesh(name, v, f, color=(1.0, 1.0, 1.0, 1.0), uv=model.corner_uvs(), texture=str(albedo), material=surface)
    else:
        body = RenderMesh(name, v, f, color=(0.80, 0.64, 0.53, 1.0), material=surface if sss else None)
    meshes = [body]
    if hair == "twin":
        spec = twin_hair(twin_dir) if twin_dir is not None else None
    else:
        spec = parse_hair(hair) if isinstance(hair, str) else hair
    if spec is None or not same_topology:
        return meshes
    from ..twin import Twin

    if twin_dir is not None:
        shape = Twin.load(twin_dir).shape
    with torch.no_grad():
        betas = model.default_shape(1) if shape is None else torch.tensor([list(shape)], dtype=torch.float32)
        rest = model(betas, model.zero_pose(1)).vertices[0].cpu().numpy().astype(np.float64)
    grown = grow_hair(spec, model, rest, v.astype(np.float64))
    work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="atelier_hair_"))
    strands = save_npz_mesh(work / "hair_strands.npz", grown.proxy_vertices[:1], strands=grown.strands, radius=grown.radius)
    material = {"kind": "hair", "strands_npz": str(strands.resolve()), "cap_faces": int(grown.cap_faces),
                "color": list(spec.linear_rgb), "roughness": 0.35, "radial_roughness": 0.4}
    meshes.append(RenderMesh("hair", grown.proxy_vertices, grown.proxy_faces, color=(*spec.linear_rgb, 1.0), material=material))
    return meshes
