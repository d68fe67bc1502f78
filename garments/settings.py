"""What every drape shares, whatever the garment kind (template, pattern, imported mesh): the
frame cap, :class:`DrapeSettings`, :class:`DrapeResult` and the penetration guard.

The drape modules (:mod:`garments.drape` for templates, :mod:`garments.dress` for patterns,
:mod:`garments.imported` for meshes made elsewhere, :mod:`garments.outfit` for several layers)
import it; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import SimulationError

#: a cloth vertex deeper than this inside the body counts as penetrating, metres.
PENETRATION_DEPTH_M = 0.002
#: the drape fails when more than this fraction of cloth vertices penetrate.
MAX_PENETRATION = 0.01
#: a cloth vertex farther than this from the body has left it (a worn garment's hem or cuff is
#: within 0.3 m of the body in every library drape), metres ...
FAR_M = 0.5
#: ... and the drape fails when more than this fraction of its vertices did (a triangle-soup
#: mesh whose pieces fell apart ended 7.1 m away).
MAX_FAR = 0.01
#: a drape that did not settle fails when a cloth vertex still moved more than this in its last
#: frame, mm: the cloth is falling or flying apart, not being worn. Measured: the imported dress
#: stopped at 6 frames in tests/garments/test_imported.py (gravity just ramped up) moved 24 mm in
#: its last frame (40 mm over the settle window); a cloth falling freely for a quarter of a second
#: moves g t / 24 fps = 100 mm a frame; the triangle soup of issue 22 moved 259 mm.
MAX_UNSETTLED_MM = 100.0
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
        collider_margin: pattern drapes collide only with the body's triangles within this
            distance (metres) of the cloth's start shape (0: the whole body). The cloth starts a
            few cm off the body where it will hang, so a T-shirt's collider loses the legs, head
            and hands (the hands alone are 3,300 undecimated vertices, :data:`garments.dress.KEEP_HANDS`).
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
    collider_margin: float = 0.12
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


def far_guard(clearance_m: np.ndarray, what: str, hint: str, log_path) -> None:
    """Raise SimulationError (keeping ``log_path``) when more than :data:`MAX_FAR` of a drape's
    cloth vertices (``clearance_m``: (V,) signed distances to the body, metres) ended farther
    than :data:`FAR_M` from the body: the cloth fell off or flew apart instead of being worn."""
    c = np.asarray(clearance_m, dtype=np.float64)
    far = float(np.mean(c > FAR_M)) if len(c) else 0.0
    if far > MAX_FAR:
        raise SimulationError(
            f"the {what} cloth left the body: {far * 100:.1f} % of its vertices ended more than {FAR_M:.1f} m from it "
            f"(farthest {float(c.max()):.2f} m; limit {MAX_FAR * 100:.0f} %)",
            hint=hint, log_path=log_path)


def settle_guard(settled: bool, frames: int, last_motion_mm: float, what: str, hint: str, log_path) -> None:
    """Raise SimulationError (keeping ``log_path``) when a drape stopped at its frame cap without
    settling while a cloth vertex still moved more than :data:`MAX_UNSETTLED_MM` in the last frame
    (``last_motion_mm``, the job's ``max_displacement_mm``): what was written is a cloth in mid-air,
    not a drape. A drape that merely did not settle by a low ``--max-frames`` passes."""
    if not settled and float(last_motion_mm) > MAX_UNSETTLED_MM:
        raise SimulationError(
            f"settle guard: the {what} cloth did not settle in {int(frames)} frames and was still moving "
            f"{float(last_motion_mm):.0f} mm a frame at the end (limit {MAX_UNSETTLED_MM:.0f} mm): it is falling or "
            "flying apart, not being worn",
            hint=hint, log_path=log_path)


__all__ = ["DrapeSettings", "DrapeResult", "penetration", "penetration_guard", "far_guard", "settle_guard",
           "PENETRATION_DEPTH_M", "MAX_PENETRATION", "FAR_M", "MAX_FAR", "MAX_UNSETTLED_MM", "MAX_FRAMES"]
