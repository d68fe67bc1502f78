"""Render plain meshes with Blender (Workbench or Cycles) in the worker process (main-process
side; no bpy here).

The meshes travel as ``.npz`` files and the cameras/lights as JSON into a work folder; the job
:mod:`engine.blender.render_job` rebuilds them in Blender's frame and writes one RGBA PNG per
camera. Eevee is offered only on request (``allow_eevee=True``, for GPU machines): on a CPU-only
machine it spends minutes compiling shaders before the first frame.

Outputs: the colour PNGs, and on request a per-pixel id mask from a second, unlit and
unantialiased Workbench pass in flat id colours (``outputs=("mask",)``). Depth and normals are
not produced by this backend (use pyrender or PyTorch3D for those).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..blender.bridge import run_blender_job
from ..errors import InputError
from ..meshio import save_npz_mesh
from ..storage import atomic_path
from ..types import PathLikeStr
from .camera import Camera
from .outputs import check_outputs, id_palette, save_view
from .pyrender_backend import view_filename
from .scene import AMBIENT, TRANSPARENT_WHITE, Light, RenderMesh, studio_lights

#: Engines offered: "workbench" (fast, flat studio shading: previews and tests) and "cycles"
#: (path tracing on the CPU; use few samples on CPU-only machines); "eevee" with allow_eevee.
ENGINES = ("workbench", "cycles")

#: Outputs this backend can write besides colour.
BLENDER_OUTPUTS = ("mask",)


@dataclass(frozen=True)
class CyclesSettings:
    """Cycles' final-quality settings: the defaults of :func:`engine.render.backends.render` and
    what the render job reads (one source per default). Measured on this project's 2-core
    machine with a textured Anny twin with hair (``benchmarks/appearance.py --cycles``)."""

    samples: int = 16
    """most samples per pixel; adaptive sampling stops converged pixels before. With the
    denoiser, 16 samples at threshold 0.05 gave a 1024 px textured twin with hair within 1 level
    of 255 (mean, face crop) of 32 samples at 0.03, in 55 % of its time."""
    adaptive_threshold: float = 0.05
    """adaptive-sampling noise threshold (Blender's default 0.01 is for undenoised finals)."""
    adaptive_min_samples: int = 8
    """samples every pixel gets before adaptive sampling may stop it."""
    denoise: bool = True
    """run the denoiser (OpenImageDenoise ships in the bpy wheel)."""
    denoiser: str = "OPENIMAGEDENOISE"
    denoising_prefilter: str = "FAST"
    """OpenImageDenoise prefilter of its albedo and normal guides: ``FAST`` (the guides as
    rendered; measured 20-25 % of a 384 px frame faster than ``ACCURATE``, no visible change on
    a textured twin) or ``ACCURATE``."""
    max_bounces: int = 4
    """light-path bounce limits: a body, cloth and hair under studio light need few."""
    diffuse_bounces: int = 2
    glossy_bounces: int = 2
    transmission_bounces: int = 2
    transparent_max_bounces: int = 4
    volume_bounces: int = 0
    caustics: bool = False
    """reflective and refractive caustics (noise, nothing a garment needs)."""
    blur_glossy: float = 1.0
    """filter glossy paths (less fireflies from skin and satin highlights)."""
    light_tree: bool = True
    world_sampling: str = "NONE"
    """importance sampling of a flat world colour (an HDRI world is always sampled)."""
    hair_shape: str = "RIBBONS"
    """Cycles curve shape: camera-facing ribbons (fast) or ``THICK`` round curves."""
    hair_subdivisions: int = 2
    """curve subdivisions of each strand segment."""
    subsurface_method: str = "BURLEY"
    """skin subsurface scattering: ``BURLEY`` (Christensen-Burley diffusion: measured ~25 % of a
    frame faster than the random walk, the skin reads the same at a millimetre scale),
    ``RANDOM_WALK_SKIN`` or ``RANDOM_WALK``; a surface may name its own."""

    def job(self) -> dict:
        """The spec's ``cycles`` block (everything but samples, threshold and denoise, which the
        spec carries on their own)."""
        d = asdict(self)
        for k in ("samples", "adaptive_threshold", "denoise"):
            d.pop(k)
        return d


#: The final-quality settings.
FINAL = CyclesSettings()


@dataclass
class BlenderRender:
    """What a Blender render produced.

    Attributes:
        images: colour PNG paths, one per camera.
        ids: (H, W) uint8 id masks per camera (0 background, i + 1 = mesh i), or None.
        labels: mesh names in id order.
        projections: (n_cameras, N, 2) float64 pixel coordinates of ``project_points`` through
            Blender's own cameras (top-left origin, y down), or None.
        seconds_per_view: Blender's render time of each colour view.
    """

    images: list[Path]
    ids: list[np.ndarray] | None
    labels: tuple[str, ...]
    projections: np.ndarray | None
    seconds_per_view: list[float]


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
    outputs: Sequence[str] | None = None,
    device: str = "CPU",
    allow_eevee: bool = False,
    adaptive_threshold: float = 0.0,
    environment: dict | None = None,
) -> list[Path]:
    """Render every camera with Blender to an RGBA PNG in ``out_dir``.

    Args:
        meshes: what to draw, canonical frame (textured meshes get a UV map and an image node).
        cameras: one image per camera; ``Camera.yfov`` becomes Blender's vertical field of view.
        out_dir: folder for ``{prefix}_{i:02d}_{camera.name}.png`` (same names as pyrender's).
        prefix: file name prefix.
        engine: "workbench" (studio-lit previews, the lights are not used), "cycles" (uses
            ``lights`` and ``ambient``) or "eevee" (only with ``allow_eevee``: GPU machines).
        samples: Cycles (Eevee) samples per pixel.
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
        outputs: ``("mask",)`` also writes ``{stem}_mask.png`` + ``{stem}_mask.json`` per view.
        device: Cycles device, "CPU" or "GPU" (every GPU Cycles finds; CPU when none).
        allow_eevee: accept ``engine="eevee"``.
        adaptive_threshold: Cycles adaptive-sampling noise threshold (0 = off: exactly
            ``samples`` per pixel; Blender's default is 0.01).
        environment: an HDRI world for Cycles (``{"path": EXR, "strength"}``, see
            :func:`engine.render.looks.lighting_environment`) in place of the ``ambient`` colour.

    Returns:
        The PNG paths, one per camera, in order.

    Raises:
        InputError: an unknown engine, bad samples count, or an output Blender cannot write.
        JobError: Blender failed or timed out (the message names the kept log).
    """
    result = render_blender_views(
        meshes, cameras, out_dir, prefix=prefix, engine=engine, samples=samples, timeout=timeout, progress=progress,
        lights=lights, background=background, ambient=ambient, denoise=denoise, seed=seed, workdir=workdir,
        keep_workdir=keep_workdir, outputs=outputs, device=device, allow_eevee=allow_eevee,
        adaptive_threshold=adaptive_threshold, environment=environment,
    )
    if result.ids is not None:
        from PIL import Image

        for path, ids, cam in zip(result.images, result.ids, cameras):
            color = np.asarray(Image.open(path).convert("RGBA"))
            from .outputs import RenderedView

            save_view(RenderedView(cam, color, ids=ids, labels=result.labels), path.parent, path.stem)
    return result.images


def render_blender_views(
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
    outputs: Sequence[str] | None = None,
    device: str = "CPU",
    allow_eevee: bool = False,
    project_points: np.ndarray | None = None,
    adaptive_threshold: float = 0.0,
    environment: dict | None = None,
    cycles: CyclesSettings | None = None,
) -> BlenderRender:
    """:func:`render_blender` returning everything the job produced (:class:`BlenderRender`):
    the colour PNGs, the decoded id masks when ``"mask"`` is in ``outputs`` (not written to
    disk here), and the pixel projections of ``project_points`` ((N, 3) canonical metres)
    through Blender's own cameras; ``cycles`` the rest of Cycles' settings (default
    :data:`FINAL`)."""
    wanted = check_outputs(outputs)
    unsupported = [o for o in wanted if o not in ("color",) + BLENDER_OUTPUTS]
    if unsupported:
        raise InputError(
            f"the Blender backend does not write {', '.join(unsupported)}",
            hint="render depth and normals with the pyrender or pytorch3d backend",
        )
    engines = ENGINES + (("eevee",) if allow_eevee else ())
    if engine not in engines:
        hint = (
            "Eevee is not offered by default: on CPU-only machines it compiles shaders for minutes; "
            "pass allow_eevee=True on a GPU machine"
            if engine.startswith("eevee") else None
        )
        raise InputError(f"unknown Blender render engine {engine!r}; choose one of {', '.join(engines)}", hint=hint)
    if int(samples) < 1:
        raise InputError(f"samples must be >= 1, got {samples}")
    if str(device).upper() not in ("CPU", "GPU"):
        raise InputError(f"Cycles device must be CPU or GPU, got {device!r}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = tuple(m.name for m in meshes)
    if not cameras:
        return BlenderRender([], None, labels, None, [])
    if len(set(labels)) != len(labels):
        raise InputError(f"mesh names must be unique, got {list(labels)}")
    work = Path(workdir).resolve() if workdir is not None else out_dir / f".{prefix}_blender"
    work.mkdir(parents=True, exist_ok=True)
    lights = studio_lights() if lights is None else list(lights)
    palette = id_palette(len(meshes))

    mesh_specs = []
    for i, m in enumerate(meshes):
        extra = {"uv": m.uv} if m.uv is not None else {}
        npz = save_npz_mesh(work / f"mesh_{i:03d}.npz", m.vertices, m.faces, **extra)
        mesh_specs.append({
            "name": m.name, "npz": str(npz), "color": list(m.color), "smooth": bool(m.smooth),
            "texture": str(Path(m.texture).resolve()) if m.texture else None,
            "id_color": palette[i + 1].tolist(),
            "material": m.material,
        })
    outputs_png = [out_dir / view_filename(prefix, i, cam) for i, cam in enumerate(cameras)]
    id_pngs = [work / f"ids_{i:03d}.png" for i in range(len(cameras))] if "mask" in wanted else []
    spec = {
        "engine": engine,
        "samples": int(samples),
        "denoise": bool(denoise),
        "adaptive_threshold": float(adaptive_threshold),
        "seed": int(seed),
        "device": str(device).upper(),
        "meshes": mesh_specs,
        "cameras": [c.to_dict() for c in cameras],
        "lights": [light.to_dict() for light in lights],
        "ambient": [float(x) for x in ambient],
        "environment": _environment(environment),
        "cycles": (cycles or FINAL).job(),
        "outputs": [str(p) for p in outputs_png],
        "id_outputs": [str(p) for p in id_pngs],
        "project_points": None if project_points is None else np.asarray(project_points, np.float64).reshape(-1, 3).tolist(),
    }
    job = run_blender_job("render", spec, work, timeout=timeout, progress=progress)
    ids = None
    if id_pngs:
        from PIL import Image

        ids = []
        for png in id_pngs:
            rgba = np.asarray(Image.open(png).convert("RGBA"))
            ids.append(decode_ids_exact(rgba, len(meshes)))
    if float(background[3]) > 0.0:
        for path in outputs_png:
            _composite_over(path, background)
    if not keep_workdir and workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    proj = None
    if project_points is not None and isinstance(job, dict) and job.get("projections") is not None:
        proj = np.asarray(job["projections"], dtype=np.float64)
    secs = list(job.get("seconds_per_view", [])) if isinstance(job, dict) else []
    return BlenderRender(outputs_png, ids, labels, proj, secs)


def _environment(env: dict | None) -> dict | None:
    """An HDRI world for the job spec: its EXR must exist; strength is the exposure."""
    if env is None:
        return None
    path = Path(str(env.get("path", "")))
    if not path.is_file():
        raise InputError(f"HDRI environment {path} not found", hint="choose a lighting preset of engine.render.looks.lighting_names()")
    strength = float(env.get("strength", 1.0))
    if not (np.isfinite(strength) and strength > 0):
        raise InputError(f"HDRI environment strength must be positive, got {strength}")
    return {"path": str(path.resolve()), "strength": strength, "name": env.get("name")}


def decode_ids_exact(rgba: np.ndarray, n: int) -> np.ndarray:
    """Ids of Blender's unantialiased id pass: the nearest :func:`id_palette` colour (raw 8-bit
    values) of every pixel whose alpha is at least one half; 0 elsewhere."""
    pal = np.round(id_palette(n) * 255.0)
    rgb = np.asarray(rgba[..., :3], np.float64)
    d = ((rgb[..., None, :] - pal[None, None, 1:, :]) ** 2).sum(-1)
    ids = (np.argmin(d, axis=-1) + 1).astype(np.uint8)
    ids[rgba[..., 3] < 128] = 0
    return ids


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
