"""Render benchmark: 8 turntable views of a dressed twin (Anny in an A-pose + a tube garment) at
512 and 1024 px with every available backend; seconds per view and peak memory.

Targets (2 CPU cores): pyrender <= 2 s for all 8 views at 512 px; Blender Cycles <= 30 s per
1024 px view at the default final settings (64 samples, adaptive threshold 0.01, denoiser, as
``engine.render.render``).

Each (backend, size) runs in its own child process so peak memory (max RSS of the process and of
its Blender worker; CUDA peak for PyTorch3D) is its own.

    .venv/bin/python benchmarks/render.py                 # all backends, 8 views
    .venv/bin/python benchmarks/render.py --cycles-views 2  # fewer Cycles views (seconds per view)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

CYCLES_SAMPLES = int(os.environ.get("ATELIER_BENCH_CYCLES_SAMPLES", "64"))
CYCLES_ADAPTIVE = 0.01  # engine.render.backends.render's default noise threshold
TARGETS = {("pyrender", 512): ("all 8 views", 2.0), ("cycles", 1024): ("per view", 30.0)}


def dressed_twin():
    import numpy as np
    import torch

    import bodies
    from bodies.poses import pose_preset
    from engine.render.demo import tube_garment
    from engine.render.scene import RenderMesh

    model = bodies.create("anny")
    with torch.no_grad():
        out = model.forward(model.default_shape(1), pose_preset(model, "a-pose"), torch.zeros(1, 3))
    v = out.vertices[0].numpy()
    v = v - [0, v[:, 1].min(), 0]
    h = float(v[:, 1].max())
    return [RenderMesh("body", v, out.faces.numpy(), (0.8, 0.64, 0.53, 1.0)), tube_garment(v, 0.42 * h, 0.70 * h)]


def one(backend: str, size: int, views: int) -> dict:
    """Run one measurement in this process; returns a JSON-able dict."""
    from engine.render import frame_meshes, turntable

    meshes = dressed_twin()
    cams = turntable(*frame_meshes(meshes), n_views=8, width=size, height=size)[:views]
    faces = sum(len(m.faces) for m in meshes)
    extra = {}
    if backend == "pyrender":
        from engine.render import render_pyrender_arrays

        render_pyrender_arrays(meshes, cams[:1])  # warm-up: EGL context and shader compile
        t0 = time.perf_counter()
        render_pyrender_arrays(meshes, cams)
        total = time.perf_counter() - t0
    elif backend == "pytorch3d":
        import torch

        from engine.render.pytorch3d_backend import default_device, render_pytorch3d_arrays

        dev = default_device()
        render_pytorch3d_arrays(meshes, cams[:1], device=dev)
        if dev == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        render_pytorch3d_arrays(meshes, cams, device=dev)
        if dev == "cuda":
            torch.cuda.synchronize()
            extra["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        total = time.perf_counter() - t0
        extra["device"] = dev
    else:
        from engine.render.blender_backend import render_blender_views

        engine = "cycles" if backend == "cycles" else "workbench"
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = render_blender_views(meshes, cams, tmp, engine=engine, samples=CYCLES_SAMPLES, denoise=engine == "cycles",
                                       adaptive_threshold=CYCLES_ADAPTIVE if engine == "cycles" else 0.0, timeout=3600)
            total = time.perf_counter() - t0
        extra["blender_render_s_per_view"] = sum(res.seconds_per_view) / len(cams)
        extra["wall_incl_startup_s"] = total
        total = sum(res.seconds_per_view)
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"backend": backend, "size": size, "views": len(cams), "faces": faces, "total_s": total,
            "s_per_view": total / len(cams), "peak_rss_mb": rss / 1024.0, **extra}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="pyrender,workbench,cycles,pytorch3d")
    ap.add_argument("--sizes", default="512,1024")
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--cycles-views", type=int, default=8, help="views rendered with Cycles (it is slow on CPU)")
    ap.add_argument("--one", nargs=3, metavar=("BACKEND", "SIZE", "VIEWS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print("RESULT " + json.dumps(one(args.one[0], int(args.one[1]), int(args.one[2]))), flush=True)
        return 0
    rows = []
    for backend in args.backends.split(","):
        if backend == "pytorch3d":
            from engine.render.pytorch3d_backend import default_device, pytorch3d_available

            if not pytorch3d_available():
                rows.append({"backend": backend, "skipped": "PyTorch3D (optional extra) is not installed"})
                continue
            if default_device() != "cuda":
                rows.append({"backend": backend, "skipped": "no CUDA: PyTorch3D's CPU rasteriser is brute force (~35 s a view)"})
                continue
        for size in (int(s) for s in args.sizes.split(",")):
            n = args.cycles_views if backend == "cycles" else args.views
            proc = subprocess.run([sys.executable, __file__, "--one", backend, str(size), str(n)], capture_output=True, text=True, cwd=ROOT)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                rows.append({"backend": backend, "size": size, "error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]})
                continue
            rows.append(json.loads(line[len("RESULT "):]))
            print(f"  done {backend} {size}: {rows[-1]['s_per_view']:.2f} s/view", file=sys.stderr, flush=True)
    print(f"\n{'backend':<10} {'size':>5} {'views':>5} {'faces':>7} {'s/view':>8} {'total s':>8} {'peak MB':>8}  target")
    for r in rows:
        if "skipped" in r or "error" in r:
            print(f"{r['backend']:<10} {'':>5} {'':>5} {'':>7} {'':>8} {'':>8} {'':>8}  {r.get('skipped') or r.get('error')}")
            continue
        tgt = TARGETS.get((r["backend"], r["size"]))
        note = ""
        if tgt:
            what, limit = tgt
            value = r["s_per_view"] * 8 if what == "all 8 views" else r["s_per_view"]
            note = f"{what} <= {limit:g} s: {value:.2f} s -> {'MET' if value <= limit else 'NOT MET'}"
        peak = r.get("cuda_peak_mb", r["peak_rss_mb"])
        print(f"{r['backend']:<10} {r['size']:>5} {r['views']:>5} {r['faces']:>7} {r['s_per_view']:>8.3f} {r['total_s']:>8.2f} {peak:>8.0f}  {note}")
    print("\nworkbench/cycles s/view: Blender's own render time per view (the worker's start-up, ~3-5 s, is extra);"
          f" cycles at {CYCLES_SAMPLES} samples (adaptive {CYCLES_ADAPTIVE}) + denoiser on CPU. peak MB: max RSS of the process and its Blender worker"
          " (CUDA peak allocation for pytorch3d on GPU).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
