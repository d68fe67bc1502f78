"""Benchmark: 5M-point scans in every format, read and cleaned (and, with ``--fit``, fitted).

Issue 22's goal: a 5M-point scan fits in at most 15 s and 1.5 GB whatever its format. The scans
are Anny's average body in the A-pose, ``--points`` points sampled on its surface with 2 mm noise
and a floor disc under the feet (5 % of the points), in millimetres, +Y up, written once into
``--cache`` as binary PLY, ASCII PLY, OBJ (``v`` lines only) and XYZ text.

Each row runs in a fresh process (so its peak RSS is its own, read with ``os.wait4``):

- ``load+clean``: :func:`bodies.scan.load_scan` then :func:`bodies.scan.clean_scan`, what every
  fit starts with (large scans are thinned as they are read, then voxel-decimated);
- ``fit`` (with ``--fit``): the whole ``atelier fit SCAN --out DIR -q --no-texture``.

Run: ``nice -n 10 .venv/bin/python benchmarks/scan_load.py [--points 5000000] [--fit]
[--formats ply-binary,ply-ascii,obj,xyz]``; note the load (``uptime``) beside the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL_S = 15.0
GOAL_MB = 1500.0
FORMATS = ("ply-binary", "ply-ascii", "obj", "xyz")
SUFFIX = {"ply-binary": ".ply", "ply-ascii": ".ply", "obj": ".obj", "xyz": ".xyz"}


def make_points(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) float32 millimetres: Anny's average A-pose body surface (2 mm noise) and a floor disc."""
    import trimesh

    import bodies
    from bodies.poses import pose_preset

    model = bodies.create("anny")
    out = model(pose=pose_preset(model, "a-pose"))
    mesh = trimesh.Trimesh(out.vertices[0].numpy(), out.faces.numpy(), process=False)
    rng = np.random.default_rng(seed)
    n_floor = n // 20
    body, face = trimesh.sample.sample_surface(mesh, n - n_floor, seed=seed)
    body = body + mesh.face_normals[face] * rng.normal(0, 0.002, (len(body), 1))
    r, a = 0.6 * np.sqrt(rng.random(n_floor)), rng.random(n_floor) * 2 * np.pi
    floor = np.stack([r * np.cos(a), rng.normal(0, 0.001, n_floor), r * np.sin(a)], 1)
    return (np.concatenate([body, floor]) * 1000.0).astype(np.float32)


def _text_lines(p: np.ndarray, prefix: str = "") -> bytes:
    """One '[prefix]x y z' line per point, 2 decimals (mm), fast (no per-line Python formatting)."""
    q = np.round(p.astype(np.float64) * 100).astype(np.int64)
    cols = []
    for k in range(3):
        v = q[:, k]
        sign = np.where(v < 0, "-", "")
        a = np.abs(v)
        cols.append(np.char.add(np.char.add(sign, (a // 100).astype(str)),
                                np.char.add(".", np.char.zfill((a % 100).astype(str), 2))))
    lines = np.char.add(np.char.add(np.char.add(prefix + "", cols[0]), " "), np.char.add(np.char.add(cols[1], " "), cols[2]))
    return ("\n".join(lines.tolist()) + "\n").encode()


def write_scans(n: int, cache: Path, formats) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    paths = {f: cache / f"scan-{n}-{f}{SUFFIX[f]}" for f in formats}
    if all(p.exists() for p in paths.values()):
        return paths
    p = make_points(n)
    head = f"ply\nformat {{}} 1.0\nelement vertex {n}\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    for f, path in paths.items():
        if path.exists():
            continue
        tmp = path.with_suffix(".part")
        if f == "ply-binary":
            tmp.write_bytes(head.format("binary_little_endian").encode() + p.astype("<f4").tobytes())
        elif f == "ply-ascii":
            tmp.write_bytes(head.format("ascii").encode() + _text_lines(p))
        elif f == "obj":
            tmp.write_bytes(b"# benchmark scan, millimetres\n" + _text_lines(p, "v "))
        else:
            tmp.write_bytes(_text_lines(p))
        tmp.replace(path)
    return paths


#: run in the child: the step, then its own peak RSS (VmHWM: the high-water mark of this process's
#: memory, which starts afresh at exec, unlike getrusage's ru_maxrss, inherited from the parent)
_CHILD = """
import sys, time
t0 = time.monotonic()
if sys.argv[1] == "load":
    from bodies.scan import clean_scan, load_scan
    s = clean_scan(load_scan(sys.argv[2]))
    note = f"{s.metadata['n_points_file']} points in the file, {s.metadata.get('thinned_every') or 1}:1 read, {len(s.points)} kept, height {s.metadata['height_m']} m"
else:
    from atelier.cli import main
    rc = main(["fit", sys.argv[2], "--out", sys.argv[3], "-q", "--no-texture"])
    note = f"exit {rc}"
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(f"RESULT {time.monotonic() - t0:.2f} {int(hwm) / 1024:.0f} {note}")
"""


def run_measured(args: list[str]) -> tuple[float, float, int, str]:
    """(wall seconds in the child, its peak RSS MB, exit status, its note or output tail)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not line:
        return float("nan"), float("nan"), proc.returncode or 1, (proc.stdout + proc.stderr).strip()[-300:]
    _, sec, mb, note = line[-1].split(" ", 3)
    return float(sec), float(mb), 0, note


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=5_000_000)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "atelier-scan-bench"))
    ap.add_argument("--fit", action="store_true", help="also run the whole `atelier fit` on each scan")
    args = ap.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    paths = write_scans(args.points, Path(args.cache), formats)
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores; {args.points} points per scan")
    print(f"{'format':<11} {'step':<10} {'MB file':>8} {'seconds':>8} {'peak MB':>8}  goal (<= {GOAL_S:.0f} s, <= {GOAL_MB:.0f} MB)")
    met = []
    for f in formats:
        path = paths[f]
        size = path.stat().st_size / 1e6
        s, mb, rc, text = run_measured(["load", str(path)])
        ok = rc == 0 and s <= GOAL_S and mb <= GOAL_MB
        print(f"{f:<11} {'load+clean':<10} {size:8.0f} {s:8.1f} {mb:8.0f}  {'met' if ok else 'NOT met'}  {text}")
        if args.fit:
            with tempfile.TemporaryDirectory() as d:
                s, mb, rc, text = run_measured(["fit", str(path), str(Path(d) / "twin")])
            ok = rc == 0 and s <= GOAL_S and mb <= GOAL_MB
            print(f"{f:<11} {'fit':<10} {size:8.0f} {s:8.1f} {mb:8.0f}  {'met' if ok else 'NOT met'}  {text}")
        met.append(ok)
    print(f"goal met for {sum(met)} of {len(met)} formats" + (" (the whole fit)" if args.fit else " (load+clean)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
