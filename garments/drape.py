"""Drape a garment on a body in Blender and check the result (main-process side; no bpy).

:func:`drape_garment` builds the garment around a posed body (:mod:`garments.templates`), runs
the ``drape`` Blender job (:mod:`engine.blender.drape_job`) in a worker process, then validates
the draped cloth against the body: the share of cloth vertices more than 2 mm inside the body
(penetration) must stay under 1 %. Outputs in ``out_dir``:

- ``garment.ply``: the draped cloth, canonical frame, metres, with a per-vertex ``clearance_mm``
  (signed distance to the body, mm, negative inside);
- ``garment.npz``: ``vertices`` (V, 3) float32, ``faces`` (F, 3) int64, ``rest_vertices``,
  ``pin``, ``clearance_mm``;
- ``fit.json``: the clearance to the body (a template has no pattern: no ease table or strain);
- ``dressed.glb``: the body and the garment as two meshes;
- ``drape_report.json``: what was draped and how it went;
- ``blender.log``: Blender's output (kept on success and failure).

A template is not graded: a size is refused (its settings, e.g. ``ease``, shape it). Garments of
every kind, and outfits of several, are requested through :mod:`garments.outfit`.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from bodies.measure import Measurements, measure
from engine.errors import InputError, SimulationError
from engine.meshio import load_npz_mesh, save_npz_mesh, save_ply
from engine.storage import write_json
from engine.types import PathLikeStr

from .clearance import BodyDistance
from .settings import (MAX_FRAMES, MAX_PENETRATION, PENETRATION_DEPTH_M, DrapeResult, DrapeSettings,  # noqa: F401 (re-exported)
                       far_guard, penetration, penetration_guard)
from .templates import GarmentMesh, make_garment

def _mesh_area(v, f) -> float:
    t = np.asarray(v, np.float64)[np.asarray(f)]
    return float(0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum())


def drape_garment(
    body_vertices: np.ndarray,
    body_faces: np.ndarray,
    joints: np.ndarray,
    garment: str | GarmentMesh = "tube-dress",
    out_dir: PathLikeStr = "drape",
    resolution: int = 5000,
    max_frames: int = MAX_FRAMES,
    timeout: float = 900.0,
    progress=None,
    settings: DrapeSettings | None = None,
    garment_settings: dict | None = None,
    size: str | dict | None = None,
    fabric: str | None = None,
    rest_body: tuple | None = None,
    colliders: list | None = None,
) -> DrapeResult:
    """Generate a garment around a posed body, drape it in Blender and validate it.

    A ``garment`` that names a library pattern (``atelier garment list``) or is a
    :class:`~garments.pattern.Pattern` is graded to ``size``, meshed, placed around the body, sewn
    and simulated in ``fabric`` (see :func:`garments.dress.drape_pattern`, which also writes
    ``fit.json`` and ``dressed.glb``); the arguments below apply to both paths.

    Args:
        body_vertices: (V, 3) float32, metres, canonical frame, a T- or A-pose.
        body_faces: (F, 3) int64.
        joints: (16, 3) float32 named joints (NAMED_JOINTS order), metres, canonical frame.
        garment: a template name (see :func:`garments.templates.garment_names`) or a ready
            :class:`GarmentMesh`.
        out_dir: output folder (created).
        resolution: approximate cloth vertex count when ``garment`` is a name.
        max_frames: frame cap (overrides ``settings.max_frames``).
        timeout: seconds before the Blender worker is killed.
        progress: optional callable ``(line: str) -> None`` fed with "frame i/N maxdisp=..." lines.
        settings: :class:`DrapeSettings` for the simulation.
        garment_settings: extra template settings (e.g. {"ease": 0.015}).
        size: pattern garments: a size chart name ("XS".."XXL"), body measurements in cm
            (made-to-measure) or "mtm" (measure this body); default the pattern's base size.
        fabric: a fabric preset name (:func:`garments.fabrics.fabric_names`); default the
            template's cotton-like settings or, for patterns, cotton-jersey.
        rest_body: pattern garments: (vertices, faces, joints) of the rest pose the cloth is
            placed around; the body then moves from it to the given pose while the cloth
            simulates (draping into a pose). Same topology as ``body_vertices``.
        colliders: extra collision meshes [(vertices (V, 3), faces (F, 3)), ...], e.g. draped
            lower layers.

    Returns:
        :class:`DrapeResult`.

    Raises:
        InputError: unknown garment name or bad body arrays.
        SimulationError: the cloth exploded, or more than 1 % of it ended inside the body;
            ``log_path`` names the kept Blender log.
        JobError: the Blender worker crashed or timed out.
    """
    from .pattern import Pattern, library_names

    if isinstance(garment, Pattern) or (isinstance(garment, str) and garment in library_names()):
        from .dress import drape_pattern

        return drape_pattern(body_vertices, body_faces, joints, garment, out_dir, resolution=resolution,
                             max_frames=max_frames, timeout=timeout, progress=progress, settings=settings,
                             size=size, fabric=fabric, rest_body=rest_body, colliders=colliders)
    if size is not None:
        raise InputError(f"template {garment if isinstance(garment, str) else garment.name!r} is not graded, so it "
                         f"cannot take size {size!r}",
                         hint="shape a template with its settings (e.g. ease in metres) or drape a library pattern "
                              "(`atelier garment list`), which grades to XS..XXL or mtm")
    if rest_body is not None:
        raise InputError("a template is generated around the posed body; it cannot drape from a rest pose",
                         hint="leave rest_body out, or drape a library pattern")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    v = np.asarray(body_vertices, dtype=np.float32)
    f = np.asarray(body_faces, dtype=np.int64)
    j = np.asarray(joints, dtype=np.float32)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise InputError(f"drape_garment needs (V, 3) body vertices and (F, 3) faces, got {v.shape}, {f.shape}")
    settings = settings or DrapeSettings()
    settings.max_frames = int(max_frames)
    meas: Measurements = measure(v, f, j)
    if isinstance(garment, GarmentMesh):
        cloth = garment
    else:
        cloth = make_garment(garment, v, f, j, measurements=meas, resolution=int(resolution), **(garment_settings or {}))
    if fabric is not None:
        from .fabrics import cloth_settings

        area = _mesh_area(cloth.vertices, cloth.faces)
        cs, _ = cloth_settings(fabric, area / max(len(cloth.vertices), 1))
        settings.cloth = {**cs, **settings.cloth}

    # Meshes cross into the worker as files; the spec holds absolute paths.
    body_npz = save_npz_mesh(out / "drape_body.npz", v, f)
    cloth_npz = save_npz_mesh(out / "drape_cloth.npz", cloth.vertices, cloth.faces, pin=cloth.pin.astype(np.float32))
    result_npz = out / "drape_result.npz"
    if result_npz.exists():
        result_npz.unlink()
    from engine.blender.specs import ColliderSpec, DrapeJobSpec

    # layering: the body and the draped layers below collide with the cloth
    from .dress import layer_collider_specs

    spec = DrapeJobSpec(
        cloth=str(cloth_npz), out=str(result_npz), **settings.job_fields(),
        colliders=(ColliderSpec(path=str(body_npz), decimate=settings.decimate, thickness_outer=0.003, friction=5.0),
                   *layer_collider_specs(out, colliders)),
        cloth_settings=dict(settings.cloth), collision_settings=dict(settings.collision), garment=cloth.name)
    from engine.blender import run_blender_job

    t0 = time.monotonic()
    job = run_blender_job("drape", spec, workdir=out, timeout=timeout, progress=progress)
    seconds = time.monotonic() - t0
    log_path = Path(job.get("log", out / "blender.log"))

    draped = load_npz_mesh(result_npz)["vertices"].astype(np.float32)
    if draped.shape != cloth.vertices.shape or not np.all(np.isfinite(draped)):
        raise SimulationError(
            f"the drape job returned unusable cloth vertices (shape {draped.shape}, expected {cloth.vertices.shape})",
            hint=f"Blender's output is kept in {log_path}",
            log_path=log_path,
        )
    clearance = BodyDistance(v, f)(draped)
    pen = penetration(clearance)
    clearance_mm = (clearance * 1000.0).astype(np.float32)
    comments = [f"atelier draped garment {cloth.name}, metres, canonical frame (+Y up, facing +Z)",
                "clearance_mm: signed distance to the body in mm, negative inside"]
    ply_path = save_ply(out / "garment.ply", draped, cloth.faces, attributes={"clearance_mm": clearance_mm}, comments=comments)
    npz_path = save_npz_mesh(
        out / "garment.npz", draped, cloth.faces,
        rest_vertices=cloth.vertices, pin=cloth.pin.astype(np.float32), clearance_mm=clearance_mm,
    )
    result = DrapeResult.from_job(job, seconds, pen, out, garment=cloth.name, vertices=draped, faces=cloth.faces,
                                  clearance_mm=clearance_mm, measurements=meas.to_dict(), ply_path=ply_path,
                                  npz_path=npz_path, log_path=log_path)
    fit = template_fit(cloth.name, fabric, clearance_mm, meas)
    write_json(out / "fit.json", fit)
    from .dress import export_glb

    export_glb(out / "dressed.glb", [("body", v, f, (224, 186, 160, 255)), ("garment", draped, cloth.faces, (42, 77, 140, 255))])
    report = result.report()
    report["garment_params"] = cloth.params
    report["simulation"] = {k: val for k, val in asdict(settings).items()}
    report["blender_version"] = job.get("blender_version")
    report["fabric"] = fabric
    report["layers_below"] = len(colliders or [])
    report["ok"] = pen <= MAX_PENETRATION
    report["files"].update({"fit": "fit.json", "glb": "dressed.glb"})
    write_json(result.report_path, report)
    penetration_guard(pen, cloth.name, f"raise the ease or the collision distance; see {ply_path} (clearance_mm) "
                                       f"and {log_path}", log_path)
    far_guard(clearance, cloth.name, f"see {ply_path} (clearance_mm) and {log_path}", log_path)
    return result


def template_fit(name: str, fabric: str | None, clearance_mm: np.ndarray, measurements: Measurements) -> dict:
    """``fit.json`` of a template garment: a template has no flat pattern, so there is no ease
    table or strain, only its clearance to the body (mm) and the body it was built around."""
    c = np.asarray(clearance_mm, np.float64)
    return {
        "garment": name, "kind": "template", "size": None, "fabric": fabric, "regions": {},
        "clearance_mm": {"min": round(float(c.min()), 1), "median": round(float(np.median(c)), 1),
                         "p95": round(float(np.percentile(c, 95)), 1)},
        "measurements": measurements.to_dict(),
        "note": "a template is generated around the body, not cut from a pattern: no ease table or strain; "
                "drape a library pattern (`atelier garment list`) for those",
    }


__all__ = ["DrapeSettings", "DrapeResult", "drape_garment", "template_fit", "penetration", "penetration_guard",
           "PENETRATION_DEPTH_M", "MAX_PENETRATION"]
