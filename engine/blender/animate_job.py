"""Animate cloth over a moving body and render the frames (worker side: imports bpy).

Spec (written by :func:`scenes.motion.animate`; paths absolute, everything canonical-frame metres):

- ``body``: ``.npz`` with ``frames`` (T, V, 3) float32, the body per simulated frame (pre-roll
  first), and ``faces`` (F, 3) int64.
- ``cloth``: ``.npz`` with ``vertices`` (C, 3) float32, the garment draped on frame 0's body, and
  ``faces``; optional ``sew`` (E, 2) seam pairs (loose edges for the sewing springs, as draped),
  ``pin`` (C,) pin weights and ``goal_frames`` (T, C, 3): where the pinned vertices (an elastic
  waistband) are held each frame (a Mesh Cache under the Cloth modifier, which Blender reads as
  the pins' goals).
- ``preroll``: the first that many simulated frames are not output (the body moves from the
  drape's pose into the motion's first pose while the cloth follows).
- ``decimate``: collider Decimate ratio (the collider's topology is baked once on frame 0 and each
  frame's body carried to it through the closest triangles, so it never changes).
- ``colliders``: extra static colliders (``{"path": npz}``, e.g. a stool), also rendered.
- ``layers_below``: an outfit's layers already simulated (``{"path": cloth_out npz of an earlier
  job, "color"}``): each collides with this cloth through its ``all_frames`` (a Mesh Cache, the
  Collision after it), and is rendered and exported with it from its output ``frames``.
- ``garment_color``: RGBA of this garment in the images.
- ``cloth_settings`` / ``collision_settings``: overrides as in the drape job; ``explode_m``;
  ``body_collider``: the moving body's Blender collision settings (``thickness_outer``...).
- ``cameras``: one :meth:`Camera.to_dict` per output frame; ``frames_dir``: where
  ``frame_0001.png``... go (RGBA, written atomically); ``engine`` ("workbench"); ``render``: false
  to skip the images.
- ``cloth_out``: ``.npz`` to write with ``frames`` (N, C, 3) float32, the cloth of each output frame,
  ``all_frames`` (T, C, 3), every simulated frame (for a layer over it), and ``faces``.
- ``alembic``: path of the garment's Alembic cache (output frames 1..N) or null;
  ``usd``: path of the dressed, animated twin as USD (body and garment) or null; ``fps``.

The body moves through a Mesh Cache modifier (a PC2 file) and its Collision modifier comes after
it, so the cloth meets the deformed body; the cloth's point cache range is set to the whole
simulation (Blender's default would stop at frame 250) and the frames are stepped in order. Once
simulated, the cloth too is replayed from a PC2 of its output frames, so rendering and the
exports read exactly what was simulated. Prints ``PROGRESS sim i/T`` and ``PROGRESS frame i/N``.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import bpy
import numpy as np

from engine.blender.drape_job import (
    CLOTH_DEFAULTS, COLLISION_DEFAULTS, SimulationFailed, _barycentric, _evaluated_vertices, _load, _make_object,
)
from engine.blender.render_job import _add_camera, _add_light, _material, _render_to, _setup_scene
from engine.frames import blender_to_canonical, canonical_to_blender


def write_pc2(path: Path, frames_blender: np.ndarray) -> Path:
    """A PC2 point cache (T, V, 3) float32 in Blender's frame; sample 0 plays at the modifier's
    ``frame_start``."""
    frames = np.ascontiguousarray(frames_blender, dtype="<f4")
    with open(path, "wb") as fh:
        fh.write(struct.pack("<12siiffi", b"POINTCACHE2\0", 1, frames.shape[1], 0.0, 1.0, frames.shape[0]))
        fh.write(frames.tobytes())
    return path


def _mesh_cache(obj, pc2: Path):
    mod = obj.modifiers.new("MeshCache", "MESH_CACHE")
    mod.cache_format = "PC2"
    mod.filepath = str(pc2)
    mod.frame_start = 1.0
    mod.play_mode = "SCENE"
    mod.time_mode = "FRAME"
    return mod


def _collider_frames(frames_c: np.ndarray, faces: np.ndarray, ratio: float, workdir: Path, settings: dict | None = None):
    """The decimated collider object animated through ``frames_c`` (T, V, 3) canonical."""
    from mathutils.bvhtree import BVHTree

    obj = _make_object("collider", frames_c[0], faces)
    rest_b = canonical_to_blender(np.asarray(frames_c[0], np.float64))
    if ratio < 0.999:
        dec = obj.modifiers.new("Decimate", "DECIMATE")
        dec.decimate_type = "COLLAPSE"
        dec.ratio = ratio
        baked = bpy.data.meshes.new_from_object(obj.evaluated_get(bpy.context.evaluated_depsgraph_get()))
        obj.modifiers.remove(dec)
        old = obj.data
        obj.data = baked
        bpy.data.meshes.remove(old)
    co = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3).astype(np.float64)
    tree = BVHTree.FromPolygons([tuple(map(float, p)) for p in rest_b], [tuple(map(int, f)) for f in faces])
    tri = np.empty(len(co), np.int64)
    bary = np.empty((len(co), 3))
    for i, p in enumerate(co):
        loc, _n, fi, _d = tree.find_nearest(tuple(p))
        tri[i] = fi
        a, b, c = rest_b[faces[fi]]
        bary[i] = _barycentric(np.array(loc), a, b, c)
    frames_b = canonical_to_blender(np.asarray(frames_c, np.float64))
    corners = frames_b[:, faces[tri]]  # (T, n, 3, 3)
    dec_frames = np.einsum("nk,tnkd->tnd", bary, corners)
    _mesh_cache(obj, write_pc2(workdir / "collider.pc2", dec_frames))
    obj.modifiers.new("Collision", "COLLISION")  # after the Mesh Cache: the cloth meets the moving body
    col = obj.collision
    for key, val in {"thickness_outer": 0.003, "thickness_inner": 0.01, "cloth_friction": 5.0, "damping": 0.5,
                     **(settings or {})}.items():
        setattr(col, key, val)
    obj.hide_render = True
    return obj


def run(spec: dict, workdir) -> dict:
    workdir = Path(workdir)
    scene = bpy.context.scene
    body = _load(spec["body"])
    frames_c = np.asarray(body["frames"], np.float32)
    faces = np.asarray(body["faces"], np.int64)
    cloth = _load(spec["cloth"])
    total = int(len(frames_c))
    preroll = int(spec.get("preroll", 0))
    n_out = total - preroll
    if n_out < 1:
        raise ValueError(f"{total} simulated frames leave nothing after a pre-roll of {preroll}")
    explode_m = float(spec.get("explode_m", 0.5))

    _collider_frames(frames_c, faces, float(spec.get("decimate", 0.2)), workdir, spec.get("body_collider"))
    statics = []
    for i, c in enumerate(spec.get("colliders") or []):
        data = _load(c["path"])
        obj = _make_object(f"prop{i}", data["vertices"], data["faces"])
        obj.modifiers.new("Collision", "COLLISION")
        obj.collision.thickness_outer = 0.003
        statics.append(obj)

    lower = []  # an outfit's layers below, as simulated: moving colliders
    for i, lb in enumerate(spec.get("layers_below") or []):
        data = _load(lb["path"])
        obj = _make_object(f"garment_below{i}", data["all_frames"][0], data["faces"])
        mc = _mesh_cache(obj, write_pc2(workdir / f"layer{i}.pc2",
                                        canonical_to_blender(np.asarray(data["all_frames"], np.float64))))
        obj.modifiers.new("Collision", "COLLISION")  # after the Mesh Cache: this cloth meets the moving layer
        obj.collision.thickness_outer = float(lb.get("thickness_outer", 0.003))
        obj.collision.thickness_inner = 0.005
        obj.collision.cloth_friction = 5.0
        lower.append((obj, mc, np.asarray(data["frames"], np.float64), lb.get("color", (0.3, 0.3, 0.3, 1.0))))

    # a pattern garment's panels stay joined by their seams: loose edges the sewing springs hold
    cloth_obj = _make_object("garment", cloth["vertices"], cloth["faces"], loose_edges=cloth.get("sew"))
    goal_mod = None
    if cloth.get("goal_frames") is not None:
        # pinned vertices (a waistband) follow their goals: the cloth's input mesh, animated
        goal_mod = _mesh_cache(cloth_obj, write_pc2(workdir / "garment_goal.pc2",
                                                    canonical_to_blender(np.asarray(cloth["goal_frames"], np.float64))))
    mod = cloth_obj.modifiers.new("Cloth", "CLOTH")
    for key, val in {**CLOTH_DEFAULTS, **spec.get("cloth_settings", {})}.items():
        setattr(mod.settings, key, val)
    pin = cloth.get("pin")
    if pin is not None and np.any(pin > 0):
        group = cloth_obj.vertex_groups.new(name="pin")
        for w in np.unique(pin[pin > 0]):
            group.add([int(i) for i in np.nonzero(pin == w)[0]], float(w), "REPLACE")
        mod.settings.vertex_group_mass = "pin"
    for key, val in {**COLLISION_DEFAULTS, **spec.get("collision_settings", {})}.items():
        setattr(mod.collision_settings, key, val)
    scene.use_gravity = True
    scene.gravity = tuple(float(x) for x in canonical_to_blender(np.array([0.0, -9.81, 0.0])))
    fps = int(spec.get("fps", 30))
    scene.render.fps = fps
    scene.frame_start = 1
    scene.frame_end = total
    mod.point_cache.frame_start = 1
    mod.point_cache.frame_end = total  # explicit: the default ends at frame 250

    scene.frame_set(1)
    prev = _evaluated_vertices(cloth_obj)
    sim = np.empty((total, len(prev), 3), np.float32)
    sim[0] = blender_to_canonical(prev)
    maxdisp = []
    t0 = time.monotonic()
    for frame in range(2, total + 1):
        scene.frame_set(frame)
        cur = _evaluated_vertices(cloth_obj)
        if not np.all(np.isfinite(cur)):
            raise SimulationFailed(f"cloth animation exploded at frame {frame}: non-finite vertex positions",
                                   hint="lower the cloth stiffness, raise the quality or slow the motion")
        d = float(np.linalg.norm(cur - prev, axis=1).max())
        if d > explode_m:
            raise SimulationFailed(f"cloth animation exploded at frame {frame}: a vertex moved {d:.2f} m in one frame "
                                   f"(limit {explode_m} m)", hint="slow the motion or lengthen the pre-roll")
        maxdisp.append(d)
        sim[frame - 1] = blender_to_canonical(cur)
        prev = cur
        print(f"PROGRESS sim {frame}/{total} maxdisp={d * 1000:.1f}mm", flush=True)
    sim_seconds = time.monotonic() - t0

    out_cloth = sim[preroll:]
    tmp = str(spec["cloth_out"]) + ".part.npz"
    np.savez(tmp, frames=out_cloth, all_frames=sim, faces=np.asarray(cloth["faces"], np.int64))
    os.replace(tmp, spec["cloth_out"])

    # Replay: the output frames only, from caches (what was simulated, nothing re-simulated).
    for obj in list(scene.objects):
        if obj.name.startswith("collider"):
            bpy.data.objects.remove(obj, do_unlink=True)
    cloth_obj.modifiers.remove(mod)
    if goal_mod is not None:
        cloth_obj.modifiers.remove(goal_mod)
    _mesh_cache(cloth_obj, write_pc2(workdir / "garment.pc2", canonical_to_blender(out_cloth.astype(np.float64))))
    for i, (obj, mc, out_frames, _colour) in enumerate(lower):  # the layers below: their output frames
        for m in list(obj.modifiers):
            obj.modifiers.remove(m)
        _mesh_cache(obj, write_pc2(workdir / f"layer{i}_out.pc2", canonical_to_blender(out_frames)))
        obj.data.shade_smooth()
    body_obj = _make_object("body", frames_c[preroll], faces)
    _mesh_cache(body_obj, write_pc2(workdir / "body.pc2", canonical_to_blender(frames_c[preroll:].astype(np.float64))))
    for obj in (body_obj, cloth_obj):
        obj.data.shade_smooth()
    scene.frame_start = 1
    scene.frame_end = n_out

    images = []
    render_seconds = 0.0
    if spec.get("render", True):
        engine = spec.get("engine", "workbench")
        meshes = [{"name": "body", "color": spec.get("body_color", [0.8, 0.66, 0.56, 1.0])},
                  {"name": "garment", "color": spec.get("garment_color", [0.25, 0.35, 0.6, 1.0])}]
        _setup_scene({"engine": engine, "meshes": meshes, "ambient": spec.get("ambient", (0.25, 0.25, 0.25)),
                      "samples": int(spec.get("samples", 16))})
        scene.render.film_transparent = False
        scene.world.color = tuple(spec.get("background", (0.93, 0.93, 0.93)))[:3]
        for obj, m in zip((body_obj, cloth_obj), meshes):
            obj.color = tuple(m["color"])
            obj.data.materials.append(_material(m["name"] + "_mat", m["color"], engine))
        for i, (obj, _mc, _f, colour) in enumerate(lower):
            obj.color = tuple(colour)
            obj.data.materials.append(_material(f"layer{i}_mat", colour, engine))
        for i, obj in enumerate(statics):
            obj.color = (0.35, 0.33, 0.3, 1.0)
            obj.data.materials.append(_material(f"prop{i}_mat", obj.color, engine))
        for light in spec.get("lights", []):
            _add_light(light)
        frames_dir = Path(spec["frames_dir"])
        frames_dir.mkdir(parents=True, exist_ok=True)
        cameras = spec["cameras"]
        if len(cameras) != n_out:
            raise ValueError(f"{len(cameras)} cameras for {n_out} output frames")
        t1 = time.monotonic()
        cam_obj = None
        for k in range(n_out):
            scene.frame_set(k + 1)
            if cam_obj is not None:
                bpy.data.objects.remove(cam_obj, do_unlink=True)
            cam_obj = _add_camera(cameras[k])
            scene.camera = cam_obj
            scene.render.resolution_x = int(cameras[k]["width"])
            scene.render.resolution_y = int(cameras[k]["height"])
            out = frames_dir / f"frame_{k + 1:04d}.png"
            _render_to(scene, out)
            images.append(str(out))
            print(f"PROGRESS frame {k + 1}/{n_out}", flush=True)
        render_seconds = time.monotonic() - t1

    exports = {}
    if spec.get("alembic"):
        garments = {cloth_obj, *(obj for obj, *_ in lower)}
        for obj in scene.objects:
            obj.select_set(obj in garments)
        bpy.context.view_layer.objects.active = cloth_obj
        path = Path(spec["alembic"])
        tmp = path.with_name(f".{path.stem}.part.abc")
        bpy.ops.wm.alembic_export(filepath=str(tmp), start=1, end=n_out, selected=True, flatten=False,
                                  export_hair=False, export_particles=False)
        os.replace(tmp, path)
        exports["alembic"] = str(path)
    if spec.get("usd"):
        for obj in scene.objects:
            obj.select_set(obj in (body_obj, cloth_obj) or any(obj is o for o, *_ in lower))
        path = Path(spec["usd"])
        tmp = path.with_name(f".{path.stem}.part{path.suffix}")
        scene.frame_set(1)
        bpy.ops.wm.usd_export(filepath=str(tmp), selected_objects_only=True, export_animation=True,
                              export_materials=False, export_cameras=False, export_lights=False)
        os.replace(tmp, path)
        exports["usd"] = str(path)
    return {
        "simulated_frames": total,
        "preroll": preroll,
        "output_frames": n_out,
        "max_displacement_mm": [round(1000 * d, 2) for d in maxdisp],
        "sim_seconds": sim_seconds,
        "seconds_per_frame": sim_seconds / max(total - 1, 1),
        "render_seconds": render_seconds,
        "images": images,
        "cloth_vertices": int(len(prev)),
        "exports": exports,
        "blender_version": bpy.app.version_string,
    }
