"""Drape a sewing pattern on a body: grade, mesh, place, sew and simulate, then measure the fit.

:func:`drape_pattern` is what :func:`garments.drape.drape_garment` runs for a library pattern or a
:class:`~garments.pattern.Pattern`. Outputs in ``out_dir`` (besides drape_garment's files):

- ``garment.ply``: the draped cloth (canonical frame, metres, the last frame) with per-vertex
  ``clearance_mm``, ``strain_warp_pct``, ``strain_weft_pct`` and ``strain_pct`` (the larger of the
  two): the strain map, measured on the mean shape over the settle window and smoothed
  (:func:`garments.fit.strain_field`), and ``strain_raw_pct`` (unsmoothed, for comparison);
- ``garment.npz``: also ``flat`` (V, 2) metres, the pattern coordinates, ``sew`` pairs,
  ``settled_vertices`` (the mean shape the fit numbers are measured on) and ``edge`` (hems, seam
  allowances and turned-up cloth, left out of the regions' strain);
- ``fit.json``: the region table (ease mm, max strain %, verdict) and the strain summary;
- ``dressed.glb``: the body and the garment as two meshes (opens in any glTF viewer);
- ``pattern.json``: the graded pattern that was draped.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from bodies.measure import measure
from engine.errors import InputError, SimulationError
from engine.meshio import load_npz_mesh, save_npz_mesh, save_ply
from engine.storage import atomic_path, write_json

from .clearance import BodyDistance
from .settings import MAX_FRAMES
from .fabrics import cloth_settings, get_fabric
from .fit import chart_girths_mm, fit_table, strain_field
from .mesher import edge_for_vertices, mesh_pattern
from .pattern import Pattern, library_pattern
from .placement import place_pattern, thin_body
from .sizes import grade

#: frames the seams get to close while the collider grows from :func:`thin_body` to the body (gravity off)
GROW_FRAMES = 15
#: the same when draping into a pose (the collider also moves from the rest pose to the target)
POSE_FRAMES = 25
#: gravity then fades in over these frames
GRAVITY_RAMP_FRAMES = 5
#: kept for callers: the sewing phase of an A-pose drape
SEW_FRAMES = GROW_FRAMES
#: clamp on the collision impulses of pattern drapes (Blender ClothCollisionSettings.impulse_clamp)
IMPULSE_CLAMP = 0.01
#: the same while the body moves into a pose (0.01 let the arms push the sleeves into the torso)
POSED_IMPULSE_CLAMP = 0.03
#: the collider's start shape keeps this share of each body vertex's distance to its bone
THIN_FACTOR = 1.0


#: Elastic edges (waistbands, cuffs) are pinned where the start shape puts them: snug round the
#: body, the start clearance off it, following the body when it moves into a pose. Measured on the
#: M A-line skirt and straight trousers (average body, 2,000 vertices): with the waistband's rest
#: lengths shrunk instead, a 4 % shrink let the skirt slide 7 cm down to the hips, and 12 % held it
#: but the band, pressed into the waist, buzzed 3-6 mm a frame (net over 3 frames) and neither
#: garment settled in 120 frames; pinned, the trousers settle by frame 73 and the skirt by 150.
#: The pin's weight (1: held fully; Blender's pin group):
ELASTIC_PIN = 1.0
#: with ``rest_from="flat"`` the pin cannot be used (Blender then reads the flat pattern as the
#: pinned vertices' goal), so elastic edges shrink their rest lengths by this share instead
ELASTIC_SHRINK = 0.12


#: hands keep all their triangles in the collider while the rest of the body is decimated: a
#: long sleeve's cuff resting on a hand decimated to 20 % caught on its facets and flapped
#: 2-10 mm a frame for 200 frames (the M button shirt on the average body; whole hands: settled at
#: frame 87). The 3,300 hand vertices of an Anny body about double the collider's triangles.
KEEP_HANDS = True


def hand_vertices(vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(V,) bool: the body's hand vertices, from 3 cm before each wrist joint outwards along the
    forearm (and within 25 cm of the wrist); none when :data:`KEEP_HANDS` is off."""
    from bodies.model import NAMED_JOINTS

    v = np.asarray(vertices, np.float64)
    out = np.zeros(len(v), bool)
    if not KEEP_HANDS:
        return out
    for side in ("left", "right"):
        e, w = (np.asarray(joints[NAMED_JOINTS.index(f"{side}_{n}")], np.float64) for n in ("elbow", "wrist"))
        u = (w - e) / max(float(np.linalg.norm(w - e)), 1e-9)
        out |= ((v - w) @ u > -0.03) & (np.linalg.norm(v - w, axis=1) < 0.25)
    return out


def crop_collider(body_vertices, body_faces, cloth, margin_m: float, also=None) -> tuple[np.ndarray, np.ndarray]:
    """The body's collider cut down to the triangles near the cloth: (kept vertex indices (K,)
    int64 into ``body_vertices``, their faces (G, 3) int64 renumbered). A triangle is kept when a
    vertex of it lies within ``margin_m`` (metres) of a cloth vertex; ``margin_m <= 0`` keeps the
    whole body. Body and cloth in the same frame (the rest body and the cloth's start shape); a
    posed body with the same vertices takes the same indices; ``also``: that posed body's (V, 3)
    vertices, whose vertices near the cloth are kept too (a body part the pose brings to it)."""
    from scipy.spatial import cKDTree

    bv = np.asarray(body_vertices, np.float64)
    bf = np.asarray(body_faces, np.int64)
    if margin_m <= 0 or not len(cloth):
        return np.arange(len(bv)), bf
    tree = cKDTree(np.asarray(cloth, np.float64))
    near = np.isfinite(tree.query(bv, distance_upper_bound=float(margin_m))[0])
    if also is not None:
        near |= np.isfinite(tree.query(np.asarray(also, np.float64), distance_upper_bound=float(margin_m))[0])
    faces = bf[near[bf].any(1)]
    used = np.unique(faces)
    remap = np.full(len(bv), -1, np.int64)
    remap[used] = np.arange(len(used))
    return used, remap[faces]


def follow_body(start: np.ndarray, which: np.ndarray, rest_body: np.ndarray, target_body: np.ndarray) -> np.ndarray:
    """(V, 3) float32: ``start`` with the ``which`` vertices carried along with the body from
    ``rest_body`` to ``target_body`` (same vertex count): each moves as its closest body vertex does."""
    from scipy.spatial import cKDTree

    out = np.asarray(start, np.float32).copy()
    idx = np.nonzero(which)[0]
    if len(idx):
        _d, nn = cKDTree(np.asarray(rest_body, np.float64)).query(out[idx].astype(np.float64))
        out[idx] += (np.asarray(target_body, np.float64)[nn] - np.asarray(rest_body, np.float64)[nn]).astype(np.float32)
    return out


def cloth_edge_length(pattern: Pattern, resolution) -> float:
    """Edge length (m) for a resolution: a float under 1 is an edge length in metres, a number
    from 50 up an approximate vertex count."""
    r = float(resolution)
    if r < 1.0:
        return r
    return edge_for_vertices(pattern, int(r))


def export_glb(path, parts: list) -> Path:
    """Write a binary glTF of meshes ``[(name, vertices (V, 3), faces (F, 3), rgba or None)]``
    (canonical frame: +Y up, as glTF expects, metres)."""
    import trimesh

    scene = trimesh.Scene()
    for name, v, f, rgba in parts:
        mesh = trimesh.Trimesh(np.asarray(v, np.float64), np.asarray(f, np.int64), process=False)
        if rgba is not None:
            mesh.visual.face_colors = np.tile(np.asarray(rgba, np.uint8), (len(f), 1))
        scene.add_geometry(mesh, node_name=name, geom_name=name)
    data = scene.export(file_type="glb")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)


def flat_rest(cloth) -> np.ndarray:
    """(V, 3) float32 rest shape of a meshed pattern: every panel flat in the x-y plane (metres,
    canonical frame), panels side by side 1 m apart. The cloth solver takes its rest lengths and
    rest angles from it, so the draped strain is measured against the real flat pattern."""
    rest = np.zeros((cloth.num_vertices, 3), np.float32)
    rest[:, :2] = cloth.flat
    rest[:, 0] += cloth.panel_of.astype(np.float32) * 1.0
    return rest


def drape_pattern(body_vertices, body_faces, joints, garment, out_dir, resolution=5000, max_frames=MAX_FRAMES,
                  timeout=900.0, progress=None, settings=None, size=None, fabric=None, rest_body=None,
                  colliders=None, clearance: float = 0.012):
    """Grade, mesh, place, sew and drape a pattern garment; see :func:`garments.drape.drape_garment`.

    Returns a :class:`garments.drape.DrapeResult` whose ``report_path`` JSON also has ``size``,
    ``fabric``, ``fit`` and ``strain``.
    """
    from .settings import MAX_PENETRATION, DrapeResult, far_guard, penetration, penetration_guard

    out, (v, f, j), (rv, rf, rj), settings = drape_inputs(out_dir, body_vertices, body_faces, joints, settings,
                                                           max_frames, rest_body)
    if settings.rest_from not in ("start", "flat"):
        raise InputError(f"unknown rest_from {settings.rest_from!r}", hint="use 'start' or 'flat'")
    pattern = garment if isinstance(garment, Pattern) else library_pattern(garment)
    meas = measure(rv, rf, rj)
    if size == "mtm":
        from .sizes import mtm_measurements

        size = mtm_measurements(meas)
    graded = grade(pattern, size) if size is not None else pattern
    fab = get_fabric(fabric or "cotton-jersey")
    cloth = mesh_pattern(graded, cloth_edge_length(graded, resolution))
    placed = {}
    start, sew = place_pattern(cloth, rv, rf, rj, meas, clearance=clearance, turn_up=settings.turn_up, info=placed)
    cs, col = cloth_settings(fab, cloth.flat_area_m2() / cloth.num_vertices)
    cloth_over = {"quality": 4, "use_sewing_springs": True, "sewing_force_max": 0.0, "shrink_min": 0.0,
                  "shrink_max": 1.0,
                  **cs, **settings.cloth}
    # impulse_clamp: without it (bpy 5.0.1) the body's collision impulses pump a garment that rests
    # on the shoulders upwards, several cm over 40 frames; 0.01 stops that and keeps penetration
    # under the guard (measured on the library T-shirt: 0.002 let the sleeves through the arms)
    clamp = IMPULSE_CLAMP if rest_body is None else POSED_IMPULSE_CLAMP
    col_over = {**col, "impulse_clamp": clamp, **settings.collision}
    elastic = cloth.elastic > 0
    flat_rest_lengths = settings.rest_from == "flat"
    shrink = cloth.elastic * (ELASTIC_SHRINK if flat_rest_lengths else 0.0)
    # The collider starts as the body drawn in towards its bones and grows into the (posed) body
    # while the seams close with gravity off, so no sewing spring pulls cloth through the body.
    keep = hand_vertices(rv, rj).astype(np.float32)
    save_npz_mesh(out / "drape_body.npz", rv, rf)
    # near the cloth in the rest pose or in the target pose (a hand brought to the hip)
    used, cf = crop_collider(rv, rf, start, settings.collider_margin,
                             also=None if rest_body is None else np.asarray(v))
    start_npz = save_npz_mesh(out / "drape_body_start.npz", thin_body(rv, rj, THIN_FACTOR)[used], cf, keep=keep[used])
    target_npz = save_npz_mesh(out / "drape_body_target.npz", np.asarray(v)[used], cf, keep=keep[used])
    col_specs = [{"path": str(start_npz), "target": str(target_npz), "decimate": settings.decimate,
                  "thickness_outer": settings.body_thickness, "friction": col_over.get("friction", 5.0)}]
    if rest_body is None and THIN_FACTOR >= 1.0:
        col_specs[0].update(path=str(target_npz), target=None)
    pose_frames = POSE_FRAMES if rest_body is not None else GROW_FRAMES
    col_specs += layer_collider_specs(out, colliders)
    extra = {"rest": flat_rest(cloth)} if flat_rest_lengths else {}
    if elastic.any() and not flat_rest_lengths:
        extra["pin"] = np.where(elastic, ELASTIC_PIN, 0.0).astype(np.float32)
        if rest_body is not None:
            extra["pin_target"] = follow_body(start, elastic, rv, v)
    cloth_npz = save_npz_mesh(out / "drape_cloth.npz", start, cloth.faces, sew=sew,
                              shrink=shrink.astype(np.float32), **extra)
    col_over.pop("friction", None)
    spec, result_npz = drape_job_spec(out, settings, pattern.name, cloth_npz, col_specs, cloth_over, col_over,
                                      gravity_off_frames=min(pose_frames, settings.max_frames // 2),
                                      sew_frames=min(pose_frames + GRAVITY_RAMP_FRAMES, settings.max_frames // 2),
                                      pose_frames=min(pose_frames, max(settings.max_frames // 2, 1)))
    job, seconds, log_path, draped = run_drape_spec(spec, out, result_npz, start.shape, timeout, progress)
    settled = settled_vertices(result_npz, draped)
    body_distance = BodyDistance(v, f)
    clearance_m = body_distance(draped)
    pen = penetration(clearance_m)
    clearance_mm = (clearance_m * 1000.0).astype(np.float32)
    settled_clearance_mm = (body_distance(settled) * 1000.0).astype(np.float32)
    grain = cloth.grain[cloth.panel_of]
    sf = strain_field(cloth.flat, settled, cloth.faces, grain, edge_m=cloth.edge_m,
                      exclude=placed.get("turned_up_vertices"))
    warp, weft, smax = sf.warp, sf.weft, sf.strain
    # seams left open (sewing springs not fully closed), mm
    gap_mm = np.linalg.norm(settled[sew[:, 0]] - settled[sew[:, 1]], axis=1) * 1000.0 if len(sew) else np.zeros(1)
    ply_path = save_ply(out / "garment.ply", draped, cloth.faces, attributes={
        "clearance_mm": clearance_mm, "strain_warp_pct": warp, "strain_weft_pct": weft, "strain_pct": smax,
        "strain_raw_pct": np.maximum(sf.raw_warp, sf.raw_weft)},
        comments=[f"atelier draped pattern {pattern.name} size {graded.size} in {fab.name}, metres, canonical frame",
                  "clearance_mm: signed distance to the body in mm, negative inside",
                  "strain_*_pct: stretch against the flat pattern along the grain (warp) and across it (weft), %, "
                  f"of the mean shape over the settle window, smoothed (sigma {1000 * sf.sigma_m:.0f} mm; raw: unsmoothed)"])
    npz_path = save_npz_mesh(out / "garment.npz", draped, cloth.faces, rest_vertices=start, flat=cloth.flat.astype(np.float32),
                             sew=sew, pin=extra.get("pin", np.zeros(len(draped), np.float32)), clearance_mm=clearance_mm,
                             strain_warp_pct=warp, strain_weft_pct=weft, settled_vertices=settled,
                             edge=sf.edge.astype(np.float32))
    posed_meas = meas if rest_body is None else _safe_measure(v, f, j, meas)
    arm_panel = np.array([pnl.placement.region.endswith("arm") for pnl in cloth.pattern.panels.values()])
    table = fit_table(settled, settled_clearance_mm, warp, weft, j, posed_meas, faces=cloth.faces, body=(v, f), sew=sew,
                      arm_vertices=arm_panel[cloth.panel_of], fabric_stretch_pct=fab.stretch_pct, flat=cloth.flat,
                      edge=sf.edge, grain=grain,
                      size_girths_mm=chart_girths_mm(size.upper() if isinstance(size, str)
                                                     else (pattern.base_size if size is None else None)))
    fit = {
        "garment": pattern.name, "size": graded.size, "fabric": fab.name,
        "regions": {r.region: {k: val for k, val in asdict(r).items() if k != "region"} for r in table},
        "strain_pct": {"warp_median": round(float(np.median(warp)), 2), "weft_median": round(float(np.median(weft)), 2),
                       "p98": round(float(np.percentile(smax, 98)), 2), "max": round(float(smax.max()), 2),
                       "raw_p98": round(float(np.percentile(np.maximum(sf.raw_warp, sf.raw_weft), 98)), 2),
                       "settle_frames_averaged": int(job.get("mean_frames", 1) if settled is not draped else 1),
                       "smoothing_sigma_mm": round(1000.0 * sf.sigma_m, 1)},
        "seam_gap_mm": {"median": round(float(np.median(gap_mm)), 1), "p95": round(float(np.percentile(gap_mm, 95)), 1)},
        "clearance_mm": {"min": round(float(clearance_mm.min()), 1), "median": round(float(np.median(clearance_mm)), 1)},
        "turned_up_cm": placed.get("turned_up_cm", {}),
        "units": {"ease": "mm, garment girth minus body girth cut by the same plane (ease_method slice), "
                           "else 2 pi x mean gap (gap)",
                  "strain": "% against the flat pattern, of the mean shape over the settle window, smoothed; "
                            "strain_pct = area-weighted median over the region's cloth away from hems and seam "
                            "allowances, max_strain_pct = its 98th percentile, girth_strain_pct = stretch of the "
                            "cloth round the region's tape planes"},
        "thresholds": "garments/data/fit_thresholds.json",
    }
    write_json(out / "fit.json", fit)
    export_glb(out / "dressed.glb", [("body", v, f, (224, 186, 160, 255)), ("garment", draped, cloth.faces, (42, 77, 140, 255))])
    write_json(out / "pattern.json", graded.to_dict())
    result = DrapeResult.from_job(job, seconds, pen, out, garment=pattern.name, vertices=draped, faces=cloth.faces,
                                  clearance_mm=clearance_mm, measurements=meas.to_dict(), ply_path=ply_path,
                                  npz_path=npz_path, log_path=log_path)
    report = result.report()
    report.update({"size": graded.size, "fabric": fab.name, "fit": fit["regions"], "strain": fit["strain_pct"],
                   "seam_gap_mm": fit["seam_gap_mm"], "turned_up_cm": fit["turned_up_cm"], "panels": len(cloth.panels), "seams": len(pattern.seams),
                   "cloth_edge_m": round(cloth.edge_m, 4), "posed_from_rest": rest_body is not None,
                   "layers_below": len(colliders or []), "blender_version": job.get("blender_version"),
                   "simulation": {"cloth": spec.cloth_settings, "collision": col_over, "max_frames": settings.max_frames},
                   "ok": pen <= MAX_PENETRATION})
    report["files"].update({"fit": "fit.json", "glb": "dressed.glb", "pattern": "pattern.json"})
    write_json(result.report_path, report)
    penetration_guard(pen, pattern.name, f"try a larger size, more frames or a finer collider; see {ply_path} "
                                         f"(clearance_mm) and {log_path}", log_path)
    far_guard(clearance_m, pattern.name, f"check the pattern's placement; see {ply_path} (clearance_mm) and {log_path}",
              log_path)
    return result


def drape_inputs(out_dir, body_vertices, body_faces, joints, settings, max_frames, rest_body):
    """Checked inputs of a drape: (output folder, created; (v, f, j) posed body; (rv, rf, rj) the
    rest body, the posed one when ``rest_body`` is None; settings, a new DrapeSettings when None,
    with ``max_frames``). Raises InputError on bad shapes."""
    from .settings import DrapeSettings

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    v = np.asarray(body_vertices, np.float32)
    f = np.asarray(body_faces, np.int64)
    j = np.asarray(joints, np.float32)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise InputError(f"drape needs (V, 3) body vertices and (F, 3) faces, got {v.shape}, {f.shape}")
    settings = settings or DrapeSettings()
    settings.max_frames = int(max_frames)
    if rest_body is not None:
        rv, rf, rj = (np.asarray(a) for a in rest_body)
        if rv.shape != v.shape:
            raise InputError(f"rest body has {rv.shape} vertices, the posed body {v.shape}", hint="use the same body model")
    else:
        rv, rf, rj = v, f, j
    return out, (v, f, j), (rv, rf, rj), settings


def layer_collider_specs(out: Path, colliders) -> list[dict]:
    """Collider specs of the draped layers below and of props (``[(vertices, faces)]``, or
    ``(vertices, faces, start)`` for a prop that moves from ``start`` into place over the pose
    frames), saved in ``out``."""
    specs = []
    for i, (cv, cf, *start) in enumerate(colliders or []):
        start = start[0] if start else None
        first = cv if start is None else start
        pth = save_npz_mesh(out / f"drape_collider{i + 1}.npz", np.asarray(first, np.float32), np.asarray(cf, np.int64))
        spec = {"path": str(pth), "decimate": 1.0, "thickness_outer": 0.002, "friction": 5.0}
        if start is not None:
            spec["target"] = str(save_npz_mesh(out / f"drape_collider{i + 1}_target.npz", np.asarray(cv, np.float32),
                                               np.asarray(cf, np.int64)))
        specs.append(spec)
    return specs


def drape_job_spec(out: Path, settings, name: str, cloth_npz: Path, col_specs: list, cloth_over: dict, col_over: dict,
                   gravity_off_frames: int, sew_frames: int, pose_frames: int) -> tuple:
    """The drape job's :class:`~engine.blender.specs.DrapeJobSpec` from the DrapeSettings and the
    garment's own parts, and the result path (an old result there is removed)."""
    result_npz = out / "drape_result.npz"
    result_npz.unlink(missing_ok=True)
    from engine.blender.specs import DrapeJobSpec

    spec = DrapeJobSpec(
        cloth=str(cloth_npz), out=str(result_npz), colliders=tuple(col_specs), **settings.job_fields(),
        cloth_settings=cloth_over, collision_settings=col_over, garment=name,
        gravity_off_frames=gravity_off_frames, gravity_ramp_frames=GRAVITY_RAMP_FRAMES,
        sew_frames=sew_frames, pose_frames=pose_frames, snapshot_every=int(settings.snapshot_every))
    return spec, result_npz


def run_drape_spec(spec, out: Path, result_npz: Path, shape: tuple, timeout: float, progress=None):
    """Run the Blender drape job ``spec`` in ``out`` and read its cloth back.

    Returns (job report, seconds, Blender log path, draped (V, 3) float32 vertices); raises
    SimulationError (keeping the log) when the result is not ``shape`` or not finite.
    """
    from engine.blender import run_blender_job

    t0 = time.monotonic()
    job = run_blender_job("drape", spec, workdir=out, timeout=timeout, progress=progress)
    seconds = time.monotonic() - t0
    log_path = Path(job.get("log", out / "blender.log"))
    draped = load_npz_mesh(result_npz)["vertices"].astype(np.float32)
    if draped.shape != tuple(shape) or not np.all(np.isfinite(draped)):
        raise SimulationError(f"the drape job returned unusable cloth vertices (shape {draped.shape}, expected {tuple(shape)})",
                              hint=f"Blender's output is kept in {log_path}", log_path=log_path)
    return job, seconds, log_path, draped


def settled_vertices(result_npz: Path, draped: np.ndarray) -> np.ndarray:
    """(V, 3) float32: the drape job's ``mean_vertices`` (each vertex's mean position over the
    settle window, see :mod:`engine.blender.drape_job`), or ``draped`` (the last frame) for a job
    that did not write them."""
    try:
        mean = load_npz_mesh(result_npz).get("mean_vertices")
    except (OSError, KeyError, ValueError):
        mean = None
    if mean is None or np.shape(mean) != np.shape(draped) or not np.all(np.isfinite(mean)):
        return draped
    return np.asarray(mean, np.float32)


def _safe_measure(v, f, j, fallback):
    try:
        return measure(v, f, j)
    except InputError:
        return fallback


__all__ = ["drape_pattern", "export_glb", "cloth_edge_length", "drape_inputs", "run_drape_spec", "settled_vertices",
           "SEW_FRAMES"]
