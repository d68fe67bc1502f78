"""Drape one cloth mesh over colliders with Blender's cloth solver (worker side: imports bpy).

The spec is the JSON form of :class:`engine.blender.specs.DrapeJobSpec` (typed, versioned, shared
with the callers; unknown or missing keys and another version are refused). Paths are absolute,
meshes canonical-frame metres in ``.npz`` files with ``vertices`` (V, 3) float32 and ``faces``
(F, 3) int64:

- ``cloth``: garment mesh .npz; an optional ``pin`` (V,) float32 array becomes the pin group.
- ``out``: .npz to write with the draped ``vertices`` (canonical frame, metres, the last frame),
  ``mean_vertices`` (each vertex's mean position over the last ``settle_window`` frames: the
  settled shape, without the buzz of cloth resting against the body) and ``faces``.
- ``max_frames`` (int), ``settle_mm`` (max per-frame vertex displacement counted as settled),
  ``settle_frames`` (consecutive settled frames needed), ``min_frames``, ``settle_window`` (the
  test compares each vertex's mean position over the last that many frames with its mean over the
  same number before, per frame, see :class:`SettleTest`; 1 = frame to frame),
  ``settle_air_damping`` (air damping reached over the 10 frames after the seams have closed and
  gravity is on, when higher than the cloth's own), ``explode_m`` (per-frame displacement that
  counts as an explosion).
- ``cloth_settings``: overrides of the cloth settings below (Blender ``ClothSettings`` attribute names);
  ``collision_settings``: overrides of ``ClothCollisionSettings``; ``gravity``: canonical (3,) m/s^2.

And, for patterns, imported meshes and layers:

- ``colliders``: :class:`~engine.blender.specs.ColliderSpec` entries ``{"path": npz, "decimate":
  ratio, "target": npz or null, "thickness_outer": m, "thickness_inner": m, "friction": f}`` (a
  ``keep`` (V,) array in the npz marks vertices the decimation spares, the hands): the body first,
  then the draped lower layers. A ``target`` (same vertex count) animates the collider from its rest
  shape to the target over ``pose_frames`` frames (draping into a pose); a decimated animated
  collider is baked first and the target carried to its vertices through the closest triangles.
- in the cloth .npz: ``rest`` (V, 3) float32, the flat pattern (canonical frame, metres) used as
  the cloth's rest shape (rest lengths and rest angles; bpy 5.0.1 ignores ``rest_shape_key``, so
  this is a shape key switched on at frame 2 under a dynamic base mesh, see :func:`run`); ``sew`` (E, 2) int64 seam vertex
  pairs, added as loose edges that Blender's sewing springs pull shut; ``shrink`` (V,) float32
  weights of elastic edges (the shrink vertex group); ``pin_target`` (V, 3) float32, where the
  pinned vertices go (canonical frame, metres) over ``pose_frames`` frames while the body moves into
  a pose (a shape key of the cloth's input mesh, which Blender reads as the pins' goal; not with
  ``rest``, whose shape key would move the goals to the flat pattern).
- ``gravity_off_frames``: gravity stays off for these frames (the sewing phase), then
  ``gravity_ramp_frames``: gravity fades in over these frames.
- ``sew_frames``: frames during which the settle test does not apply (seams still closing).
- ``snapshot_every``: when > 0, also write ``<out stem>_frames.npz`` with the cloth every that
  many frames (``frame_<n>`` arrays, canonical frame), to look at how a drape went.

Prints ``PROGRESS frame i/N maxdisp=...mm net=...mm/frame`` each frame. Raises an exception with
``error_kind = "SimulationError"`` on NaN/Inf or a per-frame displacement over ``explode_m``.
"""

from __future__ import annotations

import os
import time

import bpy
import numpy as np

from engine.frames import blender_to_canonical, canonical_to_blender

#: Cotton-like defaults (Blender's cotton preset, lighter and with more air damping so a hanging
#: garment settles in tens of frames, and quality 4 instead of 5 for speed).
CLOTH_DEFAULTS = {
    "quality": 4,
    "mass": 0.15,
    "air_damping": 2.0,
    "tension_stiffness": 15.0,
    "compression_stiffness": 15.0,
    "shear_stiffness": 15.0,
    "bending_stiffness": 0.5,
    "tension_damping": 5.0,
    "compression_damping": 5.0,
    "shear_damping": 5.0,
    "bending_damping": 0.5,
    "pin_stiffness": 1.0,
}
COLLISION_DEFAULTS = {
    "use_collision": True,
    "distance_min": 0.005,
    "collision_quality": 2,
    "use_self_collision": False,
}


class SettleTest:
    """The settle test, fed one frame's cloth positions at a time.

    Each vertex's mean position over the last ``window`` frames is compared with its mean over the
    ``window`` frames before; a frame is calm when no vertex's mean moved more than ``settle_mm`` per
    frame (the distance divided by ``window``), and the cloth has settled after ``settle_frames``
    calm frames in a row. A vertex that drifts at a steady speed reads that speed; one that buzzes
    a few mm round a fixed place against the body (measured at armholes, cuffs and waistbands)
    reads the little its mean moves. ``window`` 1 is the plain frame-to-frame test.
    """

    def __init__(self, first: np.ndarray, settle_mm: float, settle_frames: int, window: int):
        self.settle_mm, self.settle_frames, self.window = float(settle_mm), int(settle_frames), max(int(window), 1)
        self.history = [np.asarray(first, np.float64)]
        self.calm = 0
        self.net_mm = float("nan")

    def update(self, cur: np.ndarray) -> bool:
        """Add a frame; True once settled (``net_mm``: the largest move of a vertex's mean
        position per frame, mm; over the frames so far while fewer than 2 x window)."""
        w = self.window
        self.history = (self.history + [np.asarray(cur, np.float64)])[-2 * w:]
        h = len(self.history) // 2
        recent, before = np.mean(self.history[-h:], axis=0), np.mean(self.history[:h], axis=0)
        self.net_mm = 1000.0 * float(np.linalg.norm(recent - before, axis=1).max()) / (len(self.history) - h)
        full = len(self.history) == 2 * w
        self.calm = self.calm + 1 if full and self.net_mm < self.settle_mm else 0
        return self.calm >= self.settle_frames


class SimulationFailed(RuntimeError):
    """Reported to the main process as engine.errors.SimulationError."""

    error_kind = "SimulationError"

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def _load(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _make_object(name: str, vertices_canonical: np.ndarray, faces: np.ndarray, loose_edges=None):
    """A mesh object in the scene from canonical-frame vertices (converted to Blender's frame);
    ``loose_edges`` (E, 2) are added as edges without faces (sewing springs)."""
    if loose_edges is not None and len(loose_edges):
        verts = canonical_to_blender(np.asarray(vertices_canonical, dtype=np.float64))
        mesh = bpy.data.meshes.new(name)
        mesh.from_pydata([tuple(map(float, v)) for v in verts], [tuple(map(int, e)) for e in loose_edges],
                         [tuple(map(int, f)) for f in faces])
        mesh.update(calc_edges=True)
        obj = bpy.data.objects.new(name, mesh)
        bpy.context.scene.collection.objects.link(obj)
        return obj
    verts = canonical_to_blender(np.asarray(vertices_canonical, dtype=np.float64)).astype(np.float32)
    faces = np.asarray(faces, dtype=np.int64)
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", verts.reshape(-1))
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.reshape(-1).astype(np.int32))
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", (np.arange(len(faces)) * 3).astype(np.int32))
    mesh.polygons.foreach_set("loop_total", np.full(len(faces), 3, dtype=np.int32))
    mesh.update(calc_edges=True)
    mesh.validate()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _evaluated_vertices(obj) -> np.ndarray:
    """(V, 3) float64 world coordinates of the evaluated mesh, Blender frame."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(depsgraph)
    mesh = ev.data
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3).astype(np.float64)
    mw = np.array(ev.matrix_world)
    return co @ mw[:3, :3].T + mw[:3, 3]


def _add_collider(spec_c, name: str, pose_frames: int):
    """The collision object(s) of a :class:`~engine.blender.specs.ColliderSpec`: one, or two when its mesh marks ``keep``
    vertices (the hands): the faces among them go undecimated into a second object, so a cuff
    resting on a hand meets its real shape (Blender's Decimate, limited by a vertex group, collapsed
    the rest of the body to a spike instead)."""
    data = _load(spec_c.path)
    ratio = float(spec_c.decimate)
    target = _load(spec_c.target)["vertices"] if spec_c.target else None
    keep = data.get("keep")
    faces = np.asarray(data["faces"], np.int64)
    if keep is not None and ratio < 0.999 and np.any(keep > 0):
        kept = np.all(keep[faces] > 0, axis=1)
        for part, sel, r in ((name, ~kept, ratio), (name + "_kept", kept, 1.0)):
            used = np.unique(faces[sel])
            index = np.full(len(data["vertices"]), -1, np.int64)
            index[used] = np.arange(len(used))
            _collider_object(part, data["vertices"][used], index[faces[sel]],
                             None if target is None else np.asarray(target)[used], r, spec_c, pose_frames)
        return
    _collider_object(name, data["vertices"], faces, target, ratio, spec_c, pose_frames)


def _collider_object(name, vertices, faces, target, ratio, spec_c, pose_frames):
    """One collision object: ``vertices`` (canonical) and ``faces``, decimated to ``ratio``,
    moving to ``target`` (same vertex count, or None) over ``pose_frames``."""
    obj = _make_object(name, vertices, faces)
    if ratio < 0.999:
        dec = obj.modifiers.new("Decimate", "DECIMATE")
        dec.decimate_type = "COLLAPSE"
        dec.ratio = ratio
        if target is not None:
            # Bake the decimation so the mesh topology is fixed, then carry the target pose over
            # to the decimated vertices through their closest triangles of the full rest mesh.
            from mathutils.bvhtree import BVHTree

            rest_b = canonical_to_blender(np.asarray(vertices, dtype=np.float64))
            depsgraph = bpy.context.evaluated_depsgraph_get()
            baked = bpy.data.meshes.new_from_object(obj.evaluated_get(depsgraph))
            obj.modifiers.remove(dec)
            old = obj.data
            obj.data = baked
            bpy.data.meshes.remove(old)
            faces = np.asarray(faces, dtype=np.int64)
            tree = BVHTree.FromPolygons([tuple(map(float, p)) for p in rest_b], [tuple(map(int, f)) for f in faces])
            co = np.empty(len(baked.vertices) * 3, dtype=np.float32)
            baked.vertices.foreach_get("co", co)
            co = co.reshape(-1, 3).astype(np.float64)
            tgt_b = canonical_to_blender(np.asarray(target, dtype=np.float64))
            mapped = np.empty_like(co)
            for i, p in enumerate(co):
                loc, _n, fi, _d = tree.find_nearest(tuple(p))
                a, b, c = rest_b[faces[fi]]
                w = _barycentric(np.array(loc), a, b, c)
                mapped[i] = w @ tgt_b[faces[fi]] + (p - np.array(loc))
            target_b = mapped
        else:
            target_b = None
    else:
        target_b = None if target is None else canonical_to_blender(np.asarray(target, dtype=np.float64))
    if target_b is not None:
        obj.shape_key_add(name="Basis", from_mix=False)
        key = obj.shape_key_add(name="pose", from_mix=False)
        key.data.foreach_set("co", target_b.astype(np.float32).reshape(-1))
        key.value = 0.0
        key.keyframe_insert("value", frame=1)
        key.value = 1.0
        key.keyframe_insert("value", frame=1 + max(1, pose_frames))
    obj.modifiers.new("Collision", "COLLISION")
    col = obj.collision
    col.thickness_outer = float(spec_c.thickness_outer)
    col.thickness_inner = float(spec_c.thickness_inner)
    col.cloth_friction = float(spec_c.friction)
    col.damping = 0.5
    return obj


def _barycentric(p, a, b, c):
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = v0 @ v0, v0 @ v1, v1 @ v1
    d20, d21 = v2 @ v0, v2 @ v1
    den = d00 * d11 - d01 * d01
    if abs(den) < 1e-20:
        return np.array([1.0, 0.0, 0.0])
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    return np.array([1.0 - v - w, v, w])


def run(spec: dict, workdir) -> dict:
    """Run the drape job of ``spec``, the JSON form of :class:`engine.blender.specs.DrapeJobSpec`
    (refused when of another version or with unknown or missing keys)."""
    from engine.blender.specs import DrapeJobSpec

    s = DrapeJobSpec.from_dict(spec)
    scene = bpy.context.scene
    cloth = _load(s.cloth)
    max_frames = int(s.max_frames)
    min_frames = int(s.min_frames)
    settle_mm = float(s.settle_mm)
    settle_frames = int(s.settle_frames)
    # cloth resting on the body buzzes 1-6 mm from one frame to the next at a few contact vertices
    # (armholes, cuffs; measured on the library tops) round places that do not move, which a
    # one-frame test never calls settled: SettleTest compares mean positions over windows of frames
    window = int(s.settle_window)
    explode_m = float(s.explode_m)

    pose_frames = int(s.pose_frames)
    colliders = s.colliders
    for i, c in enumerate(colliders):
        _add_collider(c, "body" if i == 0 else f"collider{i}", pose_frames)

    sew = cloth.get("sew")
    cloth_obj = _make_object("cloth", cloth["vertices"], cloth["faces"], loose_edges=sew)
    pin = cloth.get("pin")
    mod = cloth_obj.modifiers.new("Cloth", "CLOTH")
    settings = mod.settings
    for key, val in {**CLOTH_DEFAULTS, **s.cloth_settings}.items():
        setattr(settings, key, val)
    for key, val in {**COLLISION_DEFAULTS, **s.collision_settings}.items():
        setattr(mod.collision_settings, key, val)
    if pin is not None and np.any(pin > 0):
        group = cloth_obj.vertex_groups.new(name="pin")
        for w in np.unique(pin[pin > 0]):
            group.add([int(i) for i in np.nonzero(pin == w)[0]], float(w), "REPLACE")
        settings.vertex_group_mass = "pin"
    if sew is not None and len(sew):
        settings.use_sewing_springs = True
    rest = cloth.get("rest")
    pin_target = cloth.get("pin_target")
    if pin_target is not None:
        if rest is not None:
            raise ValueError("the cloth has both 'rest' and 'pin_target'; the drape job takes one or the other")
        # without a dynamic mesh the solver keeps the rest lengths of frame 1 and reads only the
        # pinned vertices' goals from its input each frame: a shape key carries them into the pose
        cloth_obj.shape_key_add(name="Basis", from_mix=False)
        key = cloth_obj.shape_key_add(name="pose", from_mix=False)
        key.data.foreach_set("co", canonical_to_blender(np.asarray(pin_target, np.float64)).astype(np.float32).reshape(-1))
        key.value = 0.0
        key.keyframe_insert("value", frame=1)
        key.value = 1.0
        key.keyframe_insert("value", frame=1 + max(1, pose_frames))
    if rest is not None:
        # Rest lengths from the flat pattern. Measured with bpy 5.0.1: ``rest_shape_key`` is
        # ignored, but with a dynamic base mesh the solver re-reads its rest lengths from the
        # modifier's input every frame while the cloth keeps its simulated positions. So the input
        # is the start shape at frame 1 (the cloth's initial positions) and the flat pattern from
        # frame 2 on (its rest lengths and flat rest angles); sewing springs keep rest length 0.
        # (Blending the two shapes over several frames was tried: the blend's lengths are shorter
        # than both, which squeezes the cloth into the body.)
        cloth_obj.shape_key_add(name="Basis", from_mix=False)
        key = cloth_obj.shape_key_add(name="flat", from_mix=False)
        flat = canonical_to_blender(np.asarray(rest, dtype=np.float64)).astype(np.float32)
        key.data.foreach_set("co", flat.reshape(-1))
        key.value = 0.0
        key.keyframe_insert("value", frame=1)
        key.value = 1.0
        key.keyframe_insert("value", frame=2)
        settings.use_dynamic_mesh = True
    shrink = cloth.get("shrink")
    if shrink is not None and np.any(shrink > 0):
        group = cloth_obj.vertex_groups.new(name="shrink")
        for w in np.unique(shrink[shrink > 0]):
            group.add([int(i) for i in np.nonzero(shrink == w)[0]], float(w), "REPLACE")
        settings.vertex_group_shrink = "shrink"
    ramp = int(s.gravity_ramp_frames)
    off = int(s.gravity_off_frames)
    if ramp > 0 or off > 0:
        ew = settings.effector_weights
        ew.gravity = 0.0
        ew.keyframe_insert("gravity", frame=1)
        if off > 0:
            ew.keyframe_insert("gravity", frame=1 + off)
        ew.gravity = 1.0
        ew.keyframe_insert("gravity", frame=1 + off + max(ramp, 1))
    quiet_frames = max(int(s.sew_frames), pose_frames, ramp + off)
    settle_air = float(s.settle_air_damping)
    if settle_air > settings.air_damping:
        # once the seams are closed and gravity is on, heavier air damping calms the slow swing of
        # a hem (the resting shape does not depend on damping, only how long it takes to get there)
        settings.keyframe_insert("air_damping", frame=1 + quiet_frames)
        settings.air_damping = settle_air
        settings.keyframe_insert("air_damping", frame=1 + quiet_frames + 10)

    scene.use_gravity = True
    g = np.asarray(s.gravity, dtype=np.float64)
    scene.gravity = tuple(float(x) for x in canonical_to_blender(g))
    scene.frame_start = 1
    scene.frame_end = max_frames + 1
    mod.point_cache.frame_start = 1
    mod.point_cache.frame_end = max_frames + 1

    scene.frame_set(1)
    prev = _evaluated_vertices(cloth_obj)
    n_v = len(cloth["vertices"])
    if len(prev) != n_v:
        raise RuntimeError(f"cloth has {len(prev)} evaluated vertices, expected {n_v}")
    settled = False
    settle = SettleTest(prev, settle_mm, settle_frames, window)
    maxdisp = float("nan")
    frames = 0
    snap_every = int(s.snapshot_every)
    snaps = {"frame_0": blender_to_canonical(prev).astype(np.float32)} if snap_every > 0 else None
    t0 = time.monotonic()
    for frame in range(2, max_frames + 2):
        scene.frame_set(frame)
        cur = _evaluated_vertices(cloth_obj)
        frames += 1
        if snaps is not None and frames % snap_every == 0:
            snaps[f"frame_{frames}"] = blender_to_canonical(cur).astype(np.float32)
        if not np.all(np.isfinite(cur)):
            raise SimulationFailed(
                f"cloth simulation exploded at frame {frames}: non-finite vertex positions",
                hint="lower the cloth stiffness or raise the quality (steps per frame)",
            )
        maxdisp = float(np.linalg.norm(cur - prev, axis=1).max())
        if maxdisp > explode_m:
            raise SimulationFailed(
                f"cloth simulation exploded at frame {frames}: a vertex moved {maxdisp:.2f} m in one frame "
                f"(limit {explode_m} m)",
                hint="check the cloth settings and that the garment starts outside the body",
            )
        prev = cur
        calm = settle.update(cur)
        print(f"PROGRESS frame {frames}/{max_frames} maxdisp={maxdisp * 1000:.2f}mm net={settle.net_mm:.2f}mm/frame", flush=True)
        if frames >= max(min_frames, quiet_frames) and calm:
            settled = True
            break
    elapsed = time.monotonic() - t0

    out_verts = blender_to_canonical(prev).astype(np.float32)
    mean_verts = blender_to_canonical(np.mean(settle.history[-settle.window:], axis=0)).astype(np.float32)
    out = str(s.out)
    tmp = out + ".part.npz"
    np.savez(tmp, vertices=out_verts, mean_vertices=mean_verts, faces=np.asarray(cloth["faces"], dtype=np.int64))
    os.replace(tmp, out)
    if snaps is not None:
        np.savez(out[:-4] + "_frames.npz", **snaps)
    return {
        "frames": frames,
        "settled": settled,
        "max_displacement_mm": maxdisp * 1000.0,
        "window_displacement_mm": settle.net_mm,
        "settle_window": settle.window,
        "mean_frames": min(settle.window, len(settle.history)),
        "seconds_per_frame": elapsed / max(frames, 1),
        "sim_seconds": elapsed,
        "cloth_vertices": n_v,
        "colliders": len(colliders),
        "blender_version": bpy.app.version_string,
    }
