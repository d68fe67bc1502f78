"""Pose library figures: joint-limit check and self-penetration of every preset on Anny (and on a
SMPL-X model when ATELIER_SMPLX_DIR is set), and optionally a small picture of each preset.

    .venv/bin/python benchmarks/poses.py                        # the table
    .venv/bin/python benchmarks/poses.py --pictures docs/poses  # plus docs/poses/<name>.png (200x300)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def picture(vertices, faces, path: Path, width: int = 200, height: int = 300, stool=None) -> None:
    """A three-quarter view of a posed body (pyrender), RGB PNG, palette-quantised to stay small."""
    import numpy as np
    from PIL import Image

    from engine.render.camera import Camera
    from engine.render.pyrender_backend import render_pyrender_arrays
    from engine.render.scene import RenderMesh

    lo, hi = vertices.min(0), vertices.max(0)
    c = (lo + hi) / 2
    d = (hi[1] - lo[1]) * 1.1 / (2 * np.tan(np.radians(15)))
    a = np.radians(30)
    cam = Camera(position=c + d * np.array([np.sin(a), 0.05, np.cos(a)]), target=c, width=width, height=height)
    meshes = [RenderMesh(name="body", vertices=vertices, faces=faces, color=(0.82, 0.7, 0.6, 1.0))]
    if stool is not None:
        meshes.append(RenderMesh(name="stool", vertices=stool[0], faces=stool[1], color=(0.3, 0.3, 0.35, 1.0)))
    img = np.asarray(render_pyrender_arrays(meshes, [cam], background=(1, 1, 1, 1))[0].color)[..., :3]
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(img).quantize(64).save(path, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pictures", default=None, help="folder for one PNG per preset")
    args = ap.parse_args()
    import torch

    import bodies
    from bodies.poses import (CONTACT_ALLOWANCE_PCT, FASHION_POSES, POSES, SEATED_POSES, check_joint_limits, posed_body,
                              stool_for)
    from bodies.selfcontact import SelfPenetrationCheck

    models = [bodies.create("anny")]
    if os.environ.get("ATELIER_SMPLX_DIR"):
        models.append(bodies.create("smplx"))
    for model in models:
        with torch.no_grad():
            rest = model()
        check = SelfPenetrationCheck(rest.vertices[0].numpy(), rest.joints[0].numpy(), model.faces_numpy())
        print(f"\n{model.name}: {check.idx.size} vertices tested")
        print(f"{'pose':22s} {'limits':>7s} {'self-pen %':>10s} {'allowed':>8s} {'s':>5s}  parts")
        for name in ["t-pose", "a-pose", "relaxed", *FASHION_POSES]:
            t0 = time.perf_counter()
            with torch.no_grad():
                out, _ = posed_body(model, name)
            v = out.vertices[0].numpy()
            r = check(v)
            lim = "ok" if not check_joint_limits(POSES[name]) else "OUT"
            print(f"{name:22s} {lim:>7s} {r.percent:10.2f} {CONTACT_ALLOWANCE_PCT.get(name, 1.0):8.1f} "
                  f"{time.perf_counter() - t0:5.1f}  {r.parts}")
            if args.pictures and model.name == "anny" and name in FASHION_POSES:
                folder = Path(args.pictures)
                folder.mkdir(parents=True, exist_ok=True)
                stool = stool_for(v, out.joints[0].numpy()) if name in SEATED_POSES else None
                picture(v, model.faces_numpy(), folder / f"{name}.png", stool=stool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
