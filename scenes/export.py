"""Export a scene for hand work (.blend, through a Blender worker job) or the web (GLB, trimesh).

Both use the scene's drapes (computed once and cached like a campaign's, under ``cache``) and
place each twin at its ``position``. In the .blend every body, garment, camera and light is a
named object (``<twin>_body``, ``<twin>_garment0_tube-dress``, ``cam_<twin>_<shot>``,
``light_<name>``), in Blender's Z-up frame (converted in the worker). The GLB keeps glTF's +Y up
frame, which is Atelier's canonical frame, so no conversion is needed; it holds the meshes with
their colours as PBR materials (no cameras or lights).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.progress import say
from engine.types import PathLikeStr

from .campaign import expand_scene
from .jobs import DRAPE_MANIFEST, _camera, _meshes, run_drape
from .model import Scene, rgba


def _dressed(scene: Scene, cache: Path, quiet: bool = False):
    """[(twin spec, cell inputs of its first shot/format, drape dir)] for each twin, draping as needed."""
    plan = expand_scene(scene)
    out = []
    seen = set()
    for cell in plan.cells:
        if cell.labels["twin"] in seen:
            continue
        seen.add(cell.labels["twin"])
        ddir = cache / cell.drape_key
        if not (ddir / DRAPE_MANIFEST).exists():
            say(f"export: draping {cell.labels['outfit']} on {cell.labels['twin']} (cache {ddir})", quiet)
            run_drape({"kind": "drape", "key": cell.drape_key, "inputs": plan.drapes[cell.drape_key].inputs,
                       "dir": str(ddir), "timeout": scene.drape.timeout_s})
        twin = next(t for t in scene.twins if t.name == cell.labels["twin"])
        out.append((twin, cell.inputs, ddir))
    return out


def _default_cache(path: Path, cache) -> Path:
    c = Path(cache) if cache else path.parent / ".atelier-drapes"
    c.mkdir(parents=True, exist_ok=True)
    return c.resolve()


def scene_meshes(scene: Scene, cache: PathLikeStr | None = None, quiet: bool = False):
    """[(twin name, [RenderMesh] moved to the twin's position, cell inputs)]."""
    cache = _default_cache(Path("."), cache) if cache is None else Path(cache).resolve()
    result = []
    for twin, inputs, ddir in _dressed(scene, cache, quiet):
        meshes = _meshes(ddir, inputs)
        offset = np.asarray(twin.position, dtype=np.float32)
        for m in meshes:
            m.vertices = m.vertices + offset
            m.name = f"{twin.name}_{m.name}"
        result.append((twin.name, meshes, inputs))
    return result


def export_glb(scene: Scene, path: PathLikeStr, cache: PathLikeStr | None = None, quiet: bool = False) -> Path:
    """Write ``path`` (.glb): every body and garment as a named node with a PBR colour."""
    import trimesh

    from engine.storage import atomic_path

    path = Path(path)
    if path.suffix.lower() not in (".glb", ".gltf"):
        raise InputError(f"{path}: a GLB export needs a .glb path")
    sc = trimesh.Scene()
    for _, meshes, _ in scene_meshes(scene, _default_cache(path, cache), quiet):
        for m in meshes:
            colour = (np.asarray(m.color) * 255).round().astype(np.uint8)
            mat = trimesh.visual.material.PBRMaterial(name=f"{m.name}_mat", baseColorFactor=colour,
                                                       metallicFactor=0.0, roughnessFactor=0.8, doubleSided=True)
            tm = trimesh.Trimesh(m.vertices, m.faces, process=False,
                                 visual=trimesh.visual.TextureVisuals(material=mat))
            sc.add_geometry(tm, node_name=m.name, geom_name=m.name)
    with atomic_path(path.with_suffix(".glb")) as tmp:
        tmp.write_bytes(sc.export(file_type="glb"))
    return path.with_suffix(".glb")


def export_blend(scene: Scene, path: PathLikeStr, cache: PathLikeStr | None = None, timeout: float = 300.0,
                 quiet: bool = False) -> Path:
    """Write ``path`` (.blend) with a Blender worker job (``engine.blender.export_job``)."""
    from engine.blender import run_blender_job
    from engine.meshio import save_npz_mesh
    from engine.render.scene import studio_lights

    path = Path(path).resolve()
    if path.suffix.lower() != ".blend":
        raise InputError(f"{path}: a Blender export needs a .blend path")
    work = path.parent / f".{path.stem}_export"
    work.mkdir(parents=True, exist_ok=True)
    meshes, cameras = [], []
    for twin_name, ms, inputs in scene_meshes(scene, _default_cache(path, cache), quiet):
        for i, m in enumerate(ms):
            npz = save_npz_mesh(work / f"{m.name}.npz", m.vertices, m.faces)
            meshes.append({"name": m.name, "npz": str(npz), "color": list(m.color), "smooth": True})
        for s in scene.shots:
            for f in scene.formats[:1]:
                cam = _camera(ms, s.model_dump(), f.model_dump())
                d = cam.to_dict()
                d["name"] = f"{twin_name}_{s.name}"
                cameras.append(d)
    if scene.lights is None:
        lights = [l.to_dict() for l in studio_lights()]
    else:
        lights = [{"name": l.name, "direction": list(l.direction), "color": list(rgba(l.colour))[:3],
                   "intensity": l.intensity} for l in scene.lights]
    spec = {
        "meshes": meshes, "cameras": cameras, "lights": lights,
        "backdrop": list(rgba(scene.backdrop.colour)), "ambient": list(scene.backdrop.ambient),
        "engine": scene.render.engine, "samples": scene.render.samples,
        "resolution": [scene.formats[0].width, scene.formats[0].height],
        "out": str(path), "scene_name": scene.name,
    }
    say(f"export: writing {path} in a Blender worker (log {work / 'blender.log'})", quiet)
    run_blender_job("export", spec, work, timeout=timeout)
    return path


__all__ = ["export_blend", "export_glb", "scene_meshes"]
