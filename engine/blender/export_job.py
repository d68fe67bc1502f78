"""Blender export job (worker side; imports bpy): build a scene of named objects and save a .blend.

Spec (written by :func:`scenes.export.export_blend`; canonical frame, converted here):

- ``meshes``: ``[{"name", "npz", "color": RGBA, "smooth"}]`` (bodies and garments);
- ``cameras``: ``[Camera.to_dict()]`` named ``<twin>_<shot>`` (objects ``cam_<twin>_<shot>``);
- ``lights``: ``[{"name", "direction", "color", "intensity"}]`` directional (objects ``light_<name>``);
- ``backdrop`` RGBA, ``ambient`` RGB (the world colour), ``engine``, ``samples``,
  ``resolution`` [w, h], ``out`` (the .blend path), ``scene_name``.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from engine.blender.render_job import _add_camera, _add_light, _add_mesh, _setup_scene


def run(spec: dict, workdir) -> dict:
    engine = spec.get("engine", "workbench")
    # render_job's scene setup reads the same keys as a render spec (engine, samples, ambient, meshes)
    scene = _setup_scene({**spec, "engine": engine, "samples": spec.get("samples", 16),
                          "ambient": spec.get("ambient", (0.25, 0.25, 0.25))})
    scene.name = spec.get("scene_name", "atelier")
    scene.render.resolution_x, scene.render.resolution_y = (int(x) for x in spec.get("resolution", (512, 512)))
    backdrop = spec.get("backdrop", [1, 1, 1, 0])
    scene.render.film_transparent = float(backdrop[3]) == 0.0
    if float(backdrop[3]) > 0.0:
        scene.world.color = tuple(backdrop[:3])
    objects = []
    for m in spec["meshes"]:
        objects.append(_add_mesh(m, engine).name)
    for light in spec.get("lights", []):
        obj = _add_light(light)
        obj.name = "light_" + light["name"]
        objects.append(obj.name)
    first = None
    for cam in spec.get("cameras", []):
        obj = _add_camera(cam)
        objects.append(obj.name)
        first = first or obj
    if first is not None:
        scene.camera = first
    out = Path(spec["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.part.blend")
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp), compress=True, copy=True)
    os.replace(tmp, out)
    print("PROGRESS export 1/1", flush=True)
    return {"blend": str(out), "objects": objects, "blender_version": bpy.app.version_string}
