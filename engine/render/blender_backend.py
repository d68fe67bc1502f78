"""Render plain meshes with Blender (Workbench or Cycles) in the worker process (main-process
side; no bpy here).

The meshes travel as ``.npz`` files and the cameras/lights as JSON into a work folder; the job
:mod:`engine.blender.render_job` rebuilds them in Blender's frame and writes one RGBA PNG per
camera. Eevee is deliberately not offered: on a CPU-only machine it spends minutes compiling
shaders before the first frame.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..blender.bridge import run_blender_job
from ..errors import InputError
from ..meshio import save_npz_mesh
from ..storage import atomic_path
from ..types import PathLikeStr
from .camera import Camera
from .pyrender_backend import view_filename
from .scene import AMBIENT, TRANSPARENT_WHITE, Light, RenderMesh, studio_lights

#: Engines offered: "workbench" (fast, flat studio shading: previews and tests) and "cycles"
#: (path tracing on the CPU; use few samples on CPU-only machines).
ENGINES = ("workbench", "cycles")


def render_blender(
    meshes: Sequence[RenderMesh],
    cameras: Sequence[Camera],
    out_dir: PathLikeStr,
    prefix: str = "blender",
    engine: str = "workbench",
    samples: int = 16,
    timeout: float = 600.0,
    progress: Callable[[str], None] | None = None,
    lights: Sequence[Light] | None = None,
    background=TRANSPARENT_WHITE,
    ambient=AMBIENT,
    denoise: bool = False,
    seed: int = 0,
    workdir: PathLikeStr | None = None,
    keep_workdir: bool = False,
) -> list[Path]:
    """Render every camera with Blender to an RGBA PNG in ``out_dir``.

    Args:
        meshes: what to draw, canonical frame.
        cameras: one image per camera; ``Camera.yfov`` becomes Blender's vertical field of view.
        out_dir: folder for ``{prefix}_{i:02d}_{camera.name}.png`` (same names as pyrender's).
        prefix: file name prefix.
        engine: "workbench" (studio-lit previews, the lights are not used) or "cycles" (uses
            ``lights`` and ``ambient``; CPU).
        samples: Cycles samples per pixel.
        timeout: seconds before the Blender worker is killed (:class:`engine.errors.JobError`).
        progress: optional callable fed ``"view i/N"`` after each view.
        lights: directional lights (default :func:`studio_lights`).
        background: RGBA in [0, 1]; with alpha 0 the PNG alpha is coverage, otherwise the image
            is composited over this colour (after rendering with a transparent film).
        ambient: RGB world colour (Cycles' ambient light).
        denoise: run Cycles' denoiser (helps at low sample counts).
        seed: Cycles sampling seed (same seed, same noise).
        workdir: folder for the job spec, meshes and ``blender.log``; default
            ``out_dir/.{prefix}_blender``. Kept when the job fails.
        keep_workdir: keep it after success too.

    Returns:
        The PNG paths, one per camera, in order.

    Raises:
        InputError: an unknown engine or bad samples count.
        JobError: Blender failed or timed out (the message names the kept log).
    """
    if engine not in ENGINES:
        hint = "Eevee is not offered: on CPU-only machines it compiles shaders for minutes" if engine.startswith("eevee") else None
        raise InputError(f"unknown Blender render engine {engine!r}; choose one of {', '.join(ENGINES)}", hint=hint)
    if int(samples) < 1:
        raise InputError(f"samples must be >= 1, got {samples}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if not cameras:
        return []
    names = [m.name for m in meshes]
    if len(set(names)) != len(names):
        raise InputError(f"mesh names must be unique, got {names}")
    work = Path(workdir).resolve() if workdir is not None else out_dir / f".{prefix}_blender"
    work.mkdir(parents=True, exist_ok=True)
    lights = studio_lights() if lights is None else list(lights)

    mesh_specs = []
    for i, m in enumerate(meshes):
        npz = save_npz_mesh(work / f"mesh_{i:03d}.npz", m.vertices, m.faces)
        mesh_specs.append({"name": m.name, "npz": str(npz), "color": list(m.color), "smooth": bool(m.smooth)})
    outputs = [out_dir / view_filename(prefix, i, cam) for i, cam in enumerate(cameras)]
    spec = {
        "engine": engine,
        "samples": int(samples),
        "denoise": bool(denoise),
        "seed": int(seed),
        "meshes": mesh_specs,
        "cameras": [c.to_dict() for c in cameras],
        "lights": [light.to_dict() for light in lights],
        "ambient": [float(x) for x in ambient],
        "outputs": [str(p) for p in outputs],
    }
    run_blender_job("render", spec, work, timeout=timeout, progress=progress)
    if float(background[3]) > 0.0:
        for path in outputs:
            _composite_over(path, background)
    if not keep_workdir and workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return outputs


def _composite_over(path: Path, background) -> None:
    """Replace an RGBA PNG by itself composited over ``background`` (straight alpha), atomically."""
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGBA"), dtype=np.float32) / 255.0
    bg = np.asarray(background, dtype=np.float32)
    a = img[..., 3:4]
    rgb = img[..., :3] * a + bg[:3] * bg[3] * (1.0 - a)
    alpha = a + bg[3] * (1.0 - a)
    out_rgb = np.where(alpha > 0, rgb / np.maximum(alpha, 1e-6), 0.0)
    out = np.concatenate([out_rgb, alpha], axis=-1)
    with atomic_path(path) as tmp:
        Image.fromarray(np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)).save(tmp, format="PNG")
