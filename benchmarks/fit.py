"""Benchmark: scan -> twin on synthetic scans that look like real ones.

Each scan: a random Anny body (plausible adult phenotype) in a jittered A-pose or relaxed pose,
200k points sampled on its surface with 20 % of the surface cut away in patches, 2 mm Gaussian
noise along the normals, a floor disc under the feet, then written in random units (m, cm, mm)
with a random up axis (y, z, -y, x). The fit runs as ``atelier fit --units auto`` does
(up axis and units detected, floor and clutter removed). These scans use their own seeds
(1000+) and are never used to tune the tests.

Run: ``.venv/bin/python benchmarks/fit.py [--scans 3] [--points 200000] [--iterations N]`` (default: the
fit's own default, :data:`bodies.fit.DEFAULT_ITERATIONS`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bodies  # noqa: E402
from bodies.fit import DEFAULT_ITERATIONS, fit_to_folder  # noqa: E402
from bodies.measure import TAPE_KEYS, measure_model  # noqa: E402
from bodies.scan import UNIT_SCALE, UP_ROTATIONS  # noqa: E402
from bodies.synthetic import random_pose, random_shape  # noqa: E402
from engine.meshio import save_ply  # noqa: E402
from engine.storage import read_json  # noqa: E402

TARGETS = {"seconds": 30.0, "v2v_mm": 10.0, "p95_mm": 5.0, "tape_mae_mm": 10.0}


def make_scan(model, path: Path, seed: int, n_points: int):
    """Write one benchmark scan; returns (true vertices (V,3) canonical metres, shape, facts)."""
    rng = np.random.default_rng(seed)
    shape = random_shape(model, rng)
    pose = random_pose(model, "a-pose" if rng.random() < 0.5 else "relaxed", rng)
    trans = torch.tensor([[rng.uniform(-0.2, 0.2), 0.0, rng.uniform(-0.2, 0.2)]], dtype=torch.float32)
    with torch.no_grad():
        out = model(shape, pose, trans)
    v = out.vertices[0].numpy().astype(np.float64)
    f = out.faces.numpy()
    tri = v[f]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(fn, axis=1)
    fn /= np.maximum(2 * area[:, None], 1e-12)
    centroid = tri.mean(1)
    # cut 20 % of the surface area away in patches
    removed = np.zeros(len(f), dtype=bool)
    while area[removed].sum() < 0.2 * area.sum():
        c = centroid[rng.choice(len(f), p=area / area.sum())]
        removed |= np.linalg.norm(centroid - c, axis=1) < rng.uniform(0.04, 0.12)
    keep = np.flatnonzero(~removed)
    p = area[keep] / area[keep].sum()
    fid = keep[rng.choice(len(keep), size=n_points, p=p)]
    uv = rng.random((n_points, 2))
    flip = uv.sum(1) > 1
    uv[flip] = 1 - uv[flip]
    t = v[f[fid]]
    pts = t[:, 0] + uv[:, :1] * (t[:, 1] - t[:, 0]) + uv[:, 1:] * (t[:, 2] - t[:, 0])
    pts += fn[fid] * rng.normal(0, 0.002, (n_points, 1))
    # floor disc under the feet
    n_floor = n_points // 6
    r = 0.7 * np.sqrt(rng.random(n_floor))
    a = rng.uniform(0, 2 * np.pi, n_floor)
    floor = np.stack([trans[0, 0].item() + r * np.cos(a), rng.normal(0, 0.002, n_floor) + v[:, 1].min(),
                      trans[0, 2].item() + r * np.sin(a)], axis=1)
    pts = np.concatenate([pts, floor])
    units = str(rng.choice(["m", "cm", "mm"]))
    up = str(rng.choice(["y", "z", "-y", "x"]))
    file_pts = (pts @ UP_ROTATIONS[up]) / UNIT_SCALE[units]
    save_ply(path, file_pts.astype(np.float32), comments=["SYNTHETIC benchmark scan; not a real person"])
    return v, shape, {"units": units, "up": up, "n_points": len(pts)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", type=int, default=3)
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS,
                    help=f"optimisation steps per fit (default {DEFAULT_ITERATIONS}, the fit's default)")
    ap.add_argument("--seed", type=int, default=1000)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    model = bodies.create("anny")
    rows = []
    tape_err = {k: [] for k in TAPE_KEYS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.scans):
            seed = args.seed + i
            path = Path(tmp) / f"scan{i}.ply"
            true_v, true_shape, facts = make_scan(model, path, seed, args.points)
            t0 = time.monotonic()
            res = fit_to_folder(model, path, Path(tmp) / f"twin{i}", iterations=args.iterations, units="auto",
                                seed=seed, measure_pose="a-pose")
            seconds = time.monotonic() - t0
            fit_v, _, _ = res.twin.body(model)
            v2v = float(np.linalg.norm(fit_v - true_v, axis=1).mean()) * 1000.0
            true_m = measure_model(model, true_shape)
            got_m = read_json(Path(tmp) / f"twin{i}" / "measurements.json")["measurements"]
            for k in TAPE_KEYS:
                if true_m.get(k) is not None and got_m.get(k) is not None:
                    tape_err[k].append(abs(got_m[k] - true_m[k]) * 10.0)
            info = res.scan_info
            rows.append((seed, facts["units"], info["units"], facts["up"], info["up"], info["cleaning"]["floor_points"],
                         seconds, v2v, res.mean_mm, res.p95_mm))
            print(f"scan {seed}: units {facts['units']}->{info['units']} up {facts['up']}->{info['up']} "
                  f"floor removed {info['cleaning']['floor_points']} pts, {seconds:.1f} s, v2v {v2v:.1f} mm, "
                  f"mean {res.mean_mm:.2f} mm, p95 {res.p95_mm:.2f} mm", flush=True)
    arr = np.array([r[6:] for r in rows], dtype=np.float64)
    print()
    print(f"{'target':<34}{'measured':>12}{'limit':>10}  met")
    checks = [
        ("200k-point scan to twin (s, max)", arr[:, 0].max(), TARGETS["seconds"]),
        ("vertex-to-vertex error (mm, mean)", arr[:, 1].mean(), TARGETS["v2v_mm"]),
        ("p95 scan-to-body (mm, mean)", arr[:, 3].mean(), TARGETS["p95_mm"]),
    ]
    for k in TAPE_KEYS:
        if tape_err[k]:
            checks.append((f"tape {k[:-3]} MAE (mm)", float(np.mean(tape_err[k])), TARGETS["tape_mae_mm"]))
    met_all = True
    for name, val, lim in checks:
        ok = val <= lim
        met_all &= ok
        print(f"{name:<34}{val:>12.2f}{lim:>10.1f}  {'yes' if ok else 'NO'}")
    ok_detect = all(r[1] == r[2] and r[3] == r[4] for r in rows)
    print(f"{'units and up axis detected':<34}{sum(r[1] == r[2] and r[3] == r[4] for r in rows):>9}/{len(rows):<2}"
          f"{'':>10}  {'yes' if ok_detect else 'NO'}")
    print("all targets met" if met_all and ok_detect else "some targets NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
