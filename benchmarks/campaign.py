"""Campaign throughput: cells per minute with 1 and 2 local workers, and Ray vs local.

    .venv/bin/python benchmarks/campaign.py [--size 256] [--renderer pyrender|blender] [--out DIR]

Runs the same 24-cell campaign (2 synthetic twins x 2 outfits x 3 shots x 2 locales, coarse
cloth) into a fresh output folder per configuration. The drapes are made once first into a
shared cache, so the figures are render throughput; executor start-up (spawning workers, starting Ray) is
timed apart; the drape time is
printed separately. Prints a table; writes it as JSON beside the outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

CAMPAIGN = """\
name = "bench"
[[twins]]
name = "ava"
shape = [0.2, 0.4, 0.5, 0.45, 0.55, 0.5]
[[twins]]
name = "ben"
shape = [0.8, 0.5, 0.6, 0.5, 0.6, 0.5]
[[outfits]]
name = "navy"
garments = [{{template = "tube-dress", colour = "#1d2b4f"}}]
[[outfits]]
name = "rust"
garments = [{{template = "tube-dress", colour = "#a8432b"}}]
[[shots]]
name = "front"
[[shots]]
name = "side"
azimuth_deg = 90
[[shots]]
name = "back"
azimuth_deg = 180
[[locales]]
name = "eu"
backdrop = {{colour = "#f0f0f0"}}
[[locales]]
name = "jp"
backdrop = {{colour = "#fbeee6"}}
[[formats]]
name = "bench"
width = {size}
height = {size}
[render]
renderer = "{renderer}"
[drape]
resolution = 600
max_frames = 8
min_frames = 2
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--renderer", default="pyrender", choices=["pyrender", "blender"])
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one, removed)")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()

    from scenes.campaign import expand
    from scenes.io import load_campaign
    from scenes.executor import make_executor
    from scenes.runner import CampaignRunner, run_plan

    work = Path(args.out or tempfile.mkdtemp(prefix="atelier-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "bench.toml"
    path.write_text(CAMPAIGN.format(size=args.size, renderer=args.renderer))
    plan = expand(load_campaign(path))
    cache = work / "drapes"

    t0 = time.monotonic()
    warm = run_plan(plan, work / "warm", workers=2, cache=cache, quiet=True)
    drape_s = time.monotonic() - t0
    print(f"drapes: {warm.drapes_made} made in {drape_s:.0f} s (with {warm.rendered} cells, 2 workers); "
          f"cache {cache}", file=sys.stderr)

    configs = [("local", 1), ("local", 2)]
    if not args.no_ray:
        try:
            import ray  # noqa: F401

            configs.append(("ray", 2))
        except ImportError:
            print("ray is not installed: skipping the Ray row", file=sys.stderr)
    rows = []
    for kind, workers in configs:
        out = work / f"{kind}-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        env = {"PYOPENGL_PLATFORM": os.environ["PYOPENGL_PLATFORM"]}
        if workers > 1:
            share = str(max(1, (os.cpu_count() or 1) // workers))
            env.update(LP_NUM_THREADS=share, OMP_NUM_THREADS=share)
        t = time.monotonic()
        ex = make_executor(kind, workers, env=env)
        start_s = time.monotonic() - t
        try:
            t = time.monotonic()
            s = CampaignRunner(plan, out, ex, cache=cache, quiet=True).run()
            wall = time.monotonic() - t
        finally:
            ex.close()
        rows.append({"executor": kind, "workers": workers, "cells": s.rendered, "failed": len(s.failed),
                     "start_s": round(start_s, 1), "seconds": round(wall, 1),
                     "cells_per_min": round(s.rendered / wall * 60, 1)})
        print(f"  {kind} x{workers}: {s.rendered} cells in {wall:.1f} s", file=sys.stderr)

    base = rows[0]["cells_per_min"]
    local2 = next(r for r in rows if r["executor"] == "local" and r["workers"] == 2)["cells_per_min"]
    print(f"\ncampaign: {len(plan.cells)} cells, {args.renderer} {args.size}x{args.size}, {os.cpu_count()} CPUs")
    print(f"{'executor':<10}{'workers':>8}{'cells':>7}{'start s':>9}{'seconds':>10}{'cells/min':>11}{'speed-up':>10}{'vs local':>10}")
    for r in rows:
        vs = f"{r['cells_per_min'] / local2:.2f}" if r["workers"] == 2 else ""
        print(f"{r['executor']:<10}{r['workers']:>8}{r['cells']:>7}{r['start_s']:>9.1f}{r['seconds']:>10.1f}{r['cells_per_min']:>11.1f}"
              f"{r['cells_per_min'] / base:>10.2f}{vs:>10}")
    (work / "benchmark.json").write_text(json.dumps({"rows": rows, "drape_s": drape_s, "size": args.size,
                                                     "renderer": args.renderer}, indent=2))
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
