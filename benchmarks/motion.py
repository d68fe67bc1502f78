"""Motion benchmark: a catwalk with cloth, and the garment x pose matrix.

1. ``catwalk``: an 8 s catwalk at 30 fps (240 frames plus pre-roll) of a synthetic twin wearing the
   garments of ``--drape`` folders (draped in the A-pose by ``atelier drape``): seconds per
   simulated frame (goal <= 0.5 s on 2 cores), worst-frame penetration % (cloth vertices more than
   2 mm inside the body; goal <= 1 %), the largest per-frame displacement (an explosion reads in
   metres), and the frame-to-frame jitter of cloth over a still body part (mm: the cloth vertices
   over the upper back moving relative to the body under it, in the last second before the
   turn). ``--drape`` may be an
   outfit's drape (``T-shirt over trousers``: its layers are simulated in order); the figures are
   then also given per layer.
2. ``poses``: for each library garment x fashion pose, drape into the pose (placed in the A-pose,
   the body moved into the pose while the cloth simulates, then settled): settled / frames /
   seconds / penetration.

    .venv/bin/python benchmarks/motion.py catwalk --twin TWIN --drape DRAPE_DIR [--seconds 8]
    .venv/bin/python benchmarks/motion.py poses --twin TWIN --garments t-shirt,a-line-skirt --resolution 2000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def catwalk(args) -> None:
    import numpy as np

    from scenes.motion import animate

    out = Path(args.out or tempfile.mkdtemp(prefix="atelier-motion-"))
    t0 = time.perf_counter()
    res = animate(args.twin, args.drape, out, motion="catwalk", seconds=args.seconds, fps=args.fps,
                  size=tuple(int(x) for x in args.size.split("x")), camera="follow", preroll=args.preroll,
                  exports=not args.no_exports, timeout=args.timeout)
    wall = time.perf_counter() - t0
    with np.load(out / "work" / "cloth_frames.npz") as z:
        cloth = z["frames"]
    with np.load(out / "work" / "body_frames.npz") as z:
        body = z["frames"][res.preroll:]
    # jitter over a still part: the cloth over the upper back (it faces -Z while the walker goes
    # along +Z), moving relative to the body vertex under it, frame to frame, over the last second
    # before the turn (in the turn the whole body rotates; relative to the body it is still still)
    from scipy.spatial import cKDTree

    from scenes.motion import Catwalk

    turn = int(round(Catwalk().turn_s * args.fps)) if args.seconds >= 2 * Catwalk().turn_s else 0
    end = len(cloth) - turn
    a = max(0, end - args.fps)
    ref = cloth[a]
    upper = (ref[:, 1] > np.percentile(ref[:, 1], 80)) & (ref[:, 2] < np.median(ref[:, 2]))
    _d, nn = cKDTree(body[a]).query(ref[upper])
    rel = cloth[a:end, upper] - body[a:end, nn]
    jitter = float(np.linalg.norm(np.diff(rel, axis=0), axis=2).mean() * 1000) if upper.any() else float("nan")
    disp = [f["max_displacement_mm"] for f in res.per_frame if f["max_displacement_mm"] is not None]
    # per layer (an outfit's drape): the worst frame's share of that layer's vertices > 2 mm inside
    from garments.clearance import BodyDistance
    from scenes.motion import PENETRATION_DEPTH_M

    with np.load(out / "work" / "body_frames.npz") as z:
        bfaces = z["faces"]
    with np.load(out / "work" / "cloth_frames.npz") as z:
        counts = list(z["layer_vertices"]) if "layer_vertices" in z.files else [cloth.shape[1]]
    layers = {}
    starts = np.cumsum([0] + counts)
    names = json.loads((out / "animation.json").read_text()).get("layers") or [str(args.drape)]
    dist = [BodyDistance(body[k], bfaces)(cloth[k]) for k in range(len(cloth))]
    for name, a, b in zip(names, starts[:-1], starts[1:]):
        pct = [100.0 * float(np.mean(d[a:b] < -PENETRATION_DEPTH_M)) for d in dist]
        layers[Path(name).name] = {"vertices": int(b - a), "worst_frame_penetration_pct": round(max(pct), 3),
                                   "worst_frame": int(np.argmax(pct)) + 1, "mean_penetration_pct": round(float(np.mean(pct)), 3)}
    spf = res.seconds_per_frame
    goals = {"seconds_per_frame <= 0.5": spf <= 0.5, "worst_frame_penetration <= 1 %": res.worst_penetration_pct <= 1.0,
             "no explosion": not bool(disp and max(disp) > 500)}
    print(json.dumps({
        "output_frames": len(res.per_frame), "preroll_frames": res.preroll,
        "seconds_per_simulated_frame": round(res.seconds_per_frame, 3), "goal_s": 0.5,
        "worst_frame_penetration_pct": res.worst_penetration_pct, "goal_pct": 1.0,
        "max_frame_displacement_mm": max(disp) if disp else None, "explosion": bool(disp and max(disp) > 500),
        "upper_back_jitter_mm_per_frame": round(jitter, 2), "wall_seconds": round(wall, 1), "out": str(out),
        "layers": layers, "load_average": [round(x, 2) for x in os.getloadavg()],
        "goals_met": goals,
    }, indent=2))


def _inside_stool(cloth, stool_ply, margin=0.002) -> float:
    """Percent of cloth vertices more than ``margin`` m inside the seated pose's stool."""
    import numpy as np

    from engine.meshio import load_ply

    sv, _, _ = load_ply(stool_ply)
    c = sv[:, [0, 2]].mean(0)
    r = np.abs(sv[:, 0] - c[0]).max()
    rad = np.hypot(cloth[:, 0] - c[0], cloth[:, 2] - c[1])
    return 100.0 * float(np.mean((rad < r - margin) & (cloth[:, 1] < sv[:, 1].max() - margin) & (cloth[:, 1] > margin)))


def poses(args) -> None:
    from bodies.poses import fashion_pose_names
    from garments.outfit import drape_twin

    names = args.poses.split(",") if args.poses else fashion_pose_names()
    print(f"{'garment':18s} {'pose':20s} {'settled':>7s} {'frames':>6s} {'s':>6s} {'pen %':>6s}")
    for garment in args.garments.split(","):
        for pose in names:
            out = Path(tempfile.mkdtemp(prefix=f"atelier-pose-{garment}-{pose}-"))
            t0 = time.perf_counter()
            try:
                r = drape_twin(args.twin, garment, out, pose=pose, resolution=args.resolution, timeout=args.timeout)
                stool = ""
                if (out / "stool.ply").is_file():  # the seated pose: cloth inside the stool, %
                    stool = f" stool {_inside_stool(r.vertices, out / 'stool.ply'):.2f}"
                print(f"{garment:18s} {pose:20s} {str(r.settled):>7s} {r.frames:6d} "
                      f"{time.perf_counter() - t0:6.0f} {r.penetration_pct:6.2f}{stool}", flush=True)
            except Exception as exc:  # a failed cell is a figure too
                print(f"{garment:18s} {pose:20s} {'FAIL':>7s} {'':6s} {time.perf_counter() - t0:6.0f} {type(exc).__name__}: "
                      f"{str(exc)[:60]}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("catwalk")
    c.add_argument("--twin", required=True)
    c.add_argument("--drape", required=True, help="a drape folder made in the A-pose")
    c.add_argument("--seconds", type=float, default=8.0)
    c.add_argument("--fps", type=int, default=30)
    c.add_argument("--preroll", type=int, default=24)
    c.add_argument("--size", default="270x480")
    c.add_argument("--out", default=None)
    c.add_argument("--no-exports", action="store_true")
    c.add_argument("--timeout", type=float, default=7200.0)
    p = sub.add_parser("poses")
    p.add_argument("--twin", required=True)
    p.add_argument("--garments", default="t-shirt,a-line-skirt,straight-trousers,shift-dress,button-shirt")
    p.add_argument("--poses", default=None, help="comma list (default: the fashion library)")
    p.add_argument("--resolution", type=float, default=2000)
    p.add_argument("--timeout", type=float, default=1800.0)
    args = ap.parse_args()
    catwalk(args) if args.what == "catwalk" else poses(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
