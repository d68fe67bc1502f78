"""Drape a garment on a body in Blender and check the result (main-process side; no bpy).

:func:`drape_garment` builds the garment around a posed body (:mod:`garments.templates`), runs
the ``drape`` Blender job (:mod:`engine.blender.drape_job`) in a worker process, then validates
the draped cloth against the body: the share of cloth vertices more than 2 mm inside the body
(penetration) must stay under 1 %. Outputs in ``out_dir``:

- ``garment.ply``: the draped cloth, canonical frame, metres, with a per-vertex ``clearance_mm``
  (signed distance to the body, mm, negative inside);
- ``garment.npz``: ``vertices`` (V, 3) float32, ``faces`` (F, 3) int64, ``rest_vertices``,
  ``pin``, ``clearance_mm``;
- ``drape_report.json``: what was draped and how it went;
- ``blender.log``: Blender's output (kept on success and failure).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bodies.measure import Measurements, measure
from engine.errors import InputError, SimulationError
from engine.meshio import load_npz_mesh, save_npz_mesh, save_ply
from engine.storage import write_json
from engine.types import PathLikeStr

from .clearance import BodyDistance
from .templates import GarmentMesh, make_garment

#: a cloth vertex deeper than this inside the body counts as penetrating, metres.
PENETRATION_DEPTH_M = 0.002
#: the drape fails when more than this fraction of cloth vertices penetrate.
MAX_PENETRATION = 0.01
#: the frame cap of every drape (DrapeSettings, drape_garment, pattern and imported drapes, the
#: drape benchmark): in the benchmark the slowest drape, the M poplin shift dress on the average
#: body, settles at frame 218, the others by 188 (2,000 vertices); a drape stops once it settles
MAX_FRAMES = 250


@dataclass
class DrapeSettings:
    """Simulation settings passed to the Blender job.

    Attributes:
        max_frames: frame cap (24 frames per simulated second).
        min_frames: frames always simulated before the settle test applies.
        settle_mm: a frame counts as calm when no cloth vertex's mean position over the last
            ``settle_window`` frames moved more than this per frame (mm) from its mean over the
            ``settle_window`` frames before.
        settle_frames: consecutive calm frames that end the simulation.
        settle_window: frames averaged by the settle test: a vertex buzzing a few mm round a fixed
            place against the body is calm, one drifting is not; 1 compares consecutive frames only.
        decimate: collider Decimate ratio (0.2 keeps 20 % of the body's triangles).
        explode_m: per-frame vertex displacement treated as an explosion, metres.
        cloth: overrides of Blender ClothSettings (e.g. {"quality": 5, "mass": 0.3}).
        collision: overrides of Blender ClothCollisionSettings (e.g. {"distance_min": 0.004}).
        gravity: (3,) canonical-frame gravity, m/s^2.
        body_thickness: outer collision thickness of the body collider, metres (pattern drapes).
        rest_from: where a pattern garment's rest lengths come from: "start" (default), its start
            shape, whose edges :func:`garments.placement.relax_lengths` brings to the flat pattern's
            lengths; or "flat", the flat pattern itself through Blender's dynamic mesh (exact
            lengths and flat rest angles, but measured with bpy 5.0.1 the cloth then creeps up the
            body, several cm over 10 frames, wherever it touches it).
        settle_air_damping: air damping the cloth reaches over the 10 frames after its seams have
            closed and gravity is on, when higher than the fabric's own: a hem swinging slowly under
            light damping kept an 8k-vertex T-shirt from settling in 120 frames; damping changes how
            long the cloth takes to come to rest, not where (0: the fabric's own throughout; Blender
            caps it at 10, the default: with 5, the 8k T-shirt settled at frames 61-92, with 10 at 69
            and the same strain).
        turn_up: a pattern garment's sleeves and trouser legs longer than the body's arms and legs
            start turned up at the wrist and above the floor (the length turned up is in
            ``fit.json``, ``turned_up_cm``); False lets them hang past the hands and below the feet,
            where they may not settle (see :mod:`garments.placement`, SLEEVE_PAST_WRIST).
        snapshot_every: when > 0, the job also writes ``drape_result_frames.npz``, the cloth every
            that many frames (to look at how a drape went).
    """

    max_frames: int = MAX_FRAMES
    min_frames: int = 5
    settle_mm: float = 1.0
    settle_frames: int = 3
    settle_window: int = 4
    settle_air_damping: float = 10.0
    decimate: float = 0.2
    explode_m: float = 0.5
    cloth: dict = field(default_factory=dict)
    collision: dict = field(default_factory=dict)
    gravity: tuple = (0.0, -9.81, 0.0)
    body_thickness: float = 0.006
    snapshot_every: int = 0
    rest_from: str = "start"
    turn_up: bool = True

    def job_fields(self) -> dict:
        """The drape job's spec entries (:mod:`engine.blender.drape_job`) that come from these
        settings alone: frame cap, settle test, explosion limit, gravity."""
        return {"max_frames": self.max_frames, "min_frames": self.min_frames, "settle_mm": self.settle_mm,
                "settle_frames": self.settle_frames, "settle_window": self.settle_window,
                "settle_air_damping": self.settle_air_damping, "explode_m": self.explode_m,
                "gravity": [float(x) for x in self.gravity]}


@dataclass
class DrapeResult:
    """Outcome of one drape.

    Attributes:
        garment: template name.
        vertices: (V, 3) float32 draped cloth, metres, canonical frame.
        faces: (F, 3) int64 cloth triangles.
        clearance_mm: (V,) float32 signed distance of each cloth vertex to the body, mm (+ outside).
        frames: frames simulated.
        settled: True if the cloth came to rest before the frame cap.
        max_displacement_mm: the largest vertex move in the last frame, mm.
        window_displacement_mm: the largest move per frame of a vertex's mean position over the
            last ``settle_window`` frames, mm (what the settle test looks at); None from older jobs.
        seconds: wall time of the Blender job (start-up included), s.
        seconds_per_frame: simulation time per frame, s.
        penetration_pct: % of cloth vertices more than 2 mm inside the body.
        measurements: the body measurements the garment was built from (cm / m).
        ply_path, npz_path, report_path, log_path: the files written in ``out_dir``.
    """

    garment: str
    vertices: np.ndarray
    faces: np.ndarray
    clearance_mm: np.ndarray
    frames: int
    settled: bool
    max_displacement_mm: float
    seconds: float
    seconds_per_frame: float
    penetration_pct: float
    measurements: dict
    ply_path: Path
    npz_path: Path
    report_path: Path
    log_path: Path
    window_displacement_mm: float | None = None

    @classmethod
    def from_job(cls, job: dict, seconds: float, penetration_fraction: float, out: Path, **fields) -> "DrapeResult":
        """A result from the drape job's report ``job`` (frames, settled, last displacement, seconds
        per frame), the wall ``seconds``, the penetration as a fraction, and the other attributes;
        ``report_path`` is ``out/drape_report.json``."""
        return cls(frames=int(job["frames"]), settled=bool(job["settled"]),
                   max_displacement_mm=float(job["max_displacement_mm"]),
                   window_displacement_mm=(float(job["window_displacement_mm"]) if "window_displacement_mm" in job else None),
                   seconds=seconds,
                   seconds_per_frame=float(job["seconds_per_frame"]), penetration_pct=penetration_fraction * 100.0,
                   report_path=Path(out) / "drape_report.json", **fields)

    def report(self) -> dict:
        """The JSON-serialisable summary written to ``drape_report.json``."""
        return {
            "garment": self.garment,
            "vertices": int(len(self.vertices)),
            "faces": int(len(self.faces)),
            "frames": int(self.frames),
            "settled": bool(self.settled),
            "seconds": round(float(self.seconds), 2),
            "seconds_per_frame": round(float(self.seconds_per_frame), 4),
            "penetration_pct": round(float(self.penetration_pct), 4),
            "max_displacement_mm": round(float(self.max_displacement_mm), 3),
            "window_displacement_mm": (round(float(self.window_displacement_mm), 3)
                                       if self.window_displacement_mm is not None else None),
            "clearance_mm": {
                "min": round(float(self.clearance_mm.min()), 2),
                "median": round(float(np.median(self.clearance_mm)), 2),
                "max": round(float(self.clearance_mm.max()), 2),
            },
            "measurements": self.measurements,
            "files": {
                "ply": self.ply_path.name,
                "npz": self.npz_path.name,
                "log": self.log_path.name,
            },
            "units": {"length": "m", "clearance": "mm", "frame": "canonical: +Y up, facing +Z, feet on y=0"},
        }


def _mesh_area(v, f) -> float:
    t = np.asarray(v, np.float64)[np.asarray(f)]
    return float(0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum())


def penetration(clearance_m: np.ndarray, depth: float = PENETRATION_DEPTH_M) -> float:
    """Fraction of (V,) signed distances (metres) deeper than ``depth`` inside the body."""
    c = np.asarray(clearance_m)
    return float(np.mean(c < -depth)) if len(c) else 0.0


def penetration_guard(fraction: float, what: str, hint: str, log_path) -> None:
    """Raise SimulationError (keeping ``log_path``) when more than :data:`MAX_PENETRATION` of a
    drape's cloth vertices ended deeper than :data:`PENETRATION_DEPTH_M` inside the body.

    Args:
        fraction: :func:`penetration` of the draped cloth. what: the cloth, as named in the message.
        hint: what the user can do about it.
    """
    if fraction > MAX_PENETRATION:
        raise SimulationError(
            f"penetration guard: {fraction * 100:.1f} % of the {what} cloth vertices ended more than "
            f"{PENETRATION_DEPTH_M * 1000:.0f} mm inside the body (limit {MAX_PENETRATION * 100:.0f} %)",
            hint=hint, log_path=log_path)


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
    spec = {
        "body": str(body_npz),
        "cloth": str(cloth_npz),
        "out": str(result_npz),
        **settings.job_fields(),
        "decimate": settings.decimate,
        "cloth_settings": dict(settings.cloth),
        "collision_settings": dict(settings.collision),
        "garment": cloth.name,
    }
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
    report = result.report()
    report["garment_params"] = cloth.params
    report["simulation"] = {k: val for k, val in asdict(settings).items()}
    report["blender_version"] = job.get("blender_version")
    report["ok"] = pen <= MAX_PENETRATION
    write_json(result.report_path, report)
    penetration_guard(pen, cloth.name, f"raise the ease or the collision distance; see {ply_path} (clearance_mm) "
                                       f"and {log_path}", log_path)
    return result


def drape_twin(
    twin_dir: PathLikeStr,
    garment: str = "tube-dress",
    out_dir: PathLikeStr = "drape",
    model=None,
    pose: str | None = None,
    **kw,
) -> DrapeResult:
    """Drape a garment on a saved twin.

    Args:
        twin_dir: folder with ``twin.json`` (see :class:`bodies.twin.Twin`).
        garment: template name or :class:`GarmentMesh`.
        out_dir: output folder.
        model: the twin's body model, or None to build it with ``bodies.create(twin.model)``.
        pose: a pose preset name (e.g. "a-pose", "hand-on-hip") or a pose file (.json, see
            docs/poses.md) to drape in instead of the twin's own pose. A
            pattern garment is placed around the twin in the A-pose and the body then moves into
            this pose while the cloth simulates (unless it is the A-pose itself).
        **kw: passed to :func:`drape_garment` (resolution, max_frames, timeout, progress, size,
            fabric, settings, ...). ``size="mtm"`` grades a pattern to the twin's measurements.
    """
    import bodies
    from bodies.poses import pose_preset
    from bodies.twin import Twin

    twin = Twin.load(twin_dir)
    if model is None:
        model = bodies.create(twin.model)
    if pose is not None:
        from bodies.posefile import resolve_pose

        p = resolve_pose(model, pose)[0]  # a preset name or a pose file (.json)
        twin = Twin(
            model=twin.model, shape=twin.shape, pose=p.tolist(), translation=twin.translation,
            pose_name=pose, source=twin.source,
        )
    verts, faces, joints = twin.body(model)
    from .pattern import Pattern, library_names

    is_pattern = isinstance(garment, Pattern) or (isinstance(garment, str) and garment in library_names())
    if is_pattern and "rest_body" not in kw:
        rest = Twin(model=twin.model, shape=twin.shape, pose=pose_preset(model, "a-pose")[0].tolist(),
                    translation=twin.translation, pose_name="a-pose", source=twin.source)
        rv, rf, rj = rest.body(model)
        if pose is None or pose != "a-pose":
            kw["rest_body"] = (rv, rf, rj)
        if kw.get("size") == "mtm":
            from bodies.measure import measure as _measure

            from .sizes import mtm_measurements

            kw["size"] = mtm_measurements(_measure(rv, rf, rj))
    # The posed collider goes beside the garment so the folder is a complete dressed twin.
    save_ply(Path(out_dir) / "body.ply", verts, faces,
             comments=[f"atelier posed body ({twin.model}, pose {twin.pose_name or 'fitted'}), metres, canonical frame"])
    write_json(Path(out_dir) / "dressed.json", {
        "twin_dir": str(Path(twin_dir).resolve()), "model": twin.model, "pose": twin.pose_name,
        "source": twin.source, "garment": garment if isinstance(garment, str) else garment.name,
        "size": kw.get("size") if isinstance(kw.get("size"), (str, type(None))) else "mtm", "fabric": kw.get("fabric"),
    })
    return drape_garment(verts, faces, joints, garment=garment, out_dir=out_dir, **kw)


__all__ = ["DrapeSettings", "DrapeResult", "drape_garment", "drape_twin", "penetration", "penetration_guard",
           "PENETRATION_DEPTH_M", "MAX_PENETRATION"]
