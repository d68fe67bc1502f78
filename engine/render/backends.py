"""One entry point for every renderer, and the dressed-folder render the CLI calls.

:func:`render` draws meshes from cameras with ``backend`` = ``"pytorch3d"`` (batched, GPU),
``"pyrender"`` (headless OpenGL, previews) or ``"blender"`` (Workbench previews, Cycles finals);
``"auto"`` picks PyTorch3D only when it is installed *and* CUDA is present (its CPU rasteriser is
brute force), otherwise pyrender. A :class:`~engine.render.looks.Look` is applied the same way for
every backend: colours/textures and lights before, backdrop and ground shadow after.

:func:`render_dressed_folder` renders a folder written by ``atelier drape`` (``body.ply`` plus
``garment*.ply``) with a shot list in one or more channel formats.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..storage import write_json
from ..types import PathLikeStr
from .blender_backend import FINAL
from .camera import Camera
from .formats import Format, parse_format
from .looks import Look, apply_look, compose, get_look
from .outputs import RenderedView, check_outputs, save_view
from .pyrender_backend import view_filename
from .scene import TRANSPARENT_WHITE, Light, RenderMesh
from .shots import Shot, parse_shots, shot_cameras

BACKENDS = ("auto", "pytorch3d", "pyrender", "blender")


def choose_backend(backend: str = "auto") -> str:
    """Resolve ``"auto"``: ``"pytorch3d"`` when it is importable and CUDA is available, else
    ``"pyrender"``. Other names are checked and returned.

    Raises:
        InputError: an unknown backend name.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown render backend {backend!r}", hint=f"choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    from .pytorch3d_backend import default_device, pytorch3d_available

    if default_device() == "cuda" and pytorch3d_available():
        return "pytorch3d"
    return "pyrender"


def render(
    meshes: Sequence[RenderMesh],
    cameras: Sequence[Camera],
    backend: str = "auto",
    look: Look | str | None = None,
    outputs: Sequence[str] | None = None,
    out_dir: PathLikeStr | None = None,
    prefix: str | None = None,
    lights: Sequence[Light] | None = None,
    ambient=None,
    blender_engine: str = "workbench",
    samples: int = FINAL.samples,
    denoise: bool = FINAL.denoise,
    adaptive_threshold: float = FINAL.adaptive_threshold,
    device: str | None = None,
    progress: Callable[[str], None] | None = None,
    timeout: float = 1800.0,
    seed: int = 0,
) -> list[RenderedView]:
    """Render ``meshes`` from every camera with one backend.

    Args:
        meshes: canonical frame, metres. With a ``look``, meshes named in ``look.body_names`` get
            its skin tone and the others its colourways.
        cameras: one view per camera.
        backend: see :data:`BACKENDS` and :func:`choose_backend`.
        look: a :class:`Look` or a name of :data:`engine.render.looks.LOOKS`; None keeps the
            meshes' colours, the default lights and a transparent background.
        outputs: extra outputs ("depth", "normals", "mask"); Blender writes only "mask".
        out_dir: when given, every view is written there (:func:`engine.render.outputs.save_view`)
            as ``{prefix}_{i:02d}_{camera.name}.png`` and siblings.
        prefix: file prefix (default: the backend's name).
        lights, ambient: override the look's lighting (an HDRI look then lights Cycles with them
            too, instead of with its map).
        blender_engine, samples, denoise: Blender's engine ("workbench", "cycles"), Cycles samples
            and denoiser.
        adaptive_threshold: Cycles adaptive-sampling noise threshold (0 renders exactly
            ``samples`` per pixel). These three are the final-quality defaults
            (:class:`engine.render.blender_backend.CyclesSettings`).
        device: PyTorch3D's torch device, or "GPU" for Cycles; default automatic (PyTorch3D)
            and CPU (Cycles).
        progress: callable fed short progress lines.
        timeout: Blender worker timeout, seconds.
        seed: Cycles noise seed (the same seed gives the same noise).

    Returns:
        One :class:`RenderedView` per camera, in order, colour composed with the look.
    """
    name = choose_backend(backend)
    wanted = check_outputs(outputs)
    lk = get_look(look) if look is not None else None
    environment = None
    if lk is not None:
        meshes = apply_look(meshes, lk)
        if name == "blender" and lights is None and ambient is None:
            environment = lk.environment()
        if environment is not None:
            lights = []  # Cycles is lit by the HDRI itself (its world), not by the fast renderers' stand-in
        preset_lights, preset_ambient = lk.lights()
        lights = preset_lights if lights is None else lights
        ambient = preset_ambient if ambient is None else ambient
    from .scene import AMBIENT

    ambient = AMBIENT if ambient is None else ambient
    if name == "pyrender":
        from .pyrender_backend import render_pyrender_arrays

        views = render_pyrender_arrays(meshes, cameras, lights=lights, background=TRANSPARENT_WHITE, ambient=ambient, outputs=wanted)
    elif name == "pytorch3d":
        from .pytorch3d_backend import render_pytorch3d_arrays

        views = render_pytorch3d_arrays(meshes, cameras, lights=lights, ambient=ambient, outputs=wanted, device=device)
    else:
        import tempfile

        from PIL import Image

        from .blender_backend import render_blender_views

        with tempfile.TemporaryDirectory(prefix="atelier_blender_") as tmp:
            res = render_blender_views(
                meshes, cameras, tmp, prefix="view", engine=blender_engine, samples=samples, denoise=denoise,
                adaptive_threshold=adaptive_threshold, lights=lights, ambient=ambient, outputs=wanted, progress=progress, timeout=timeout,
                seed=seed, environment=environment,
                device="GPU" if str(device).upper() == "GPU" else "CPU",
            )
            views = []
            for i, (cam, path) in enumerate(zip(cameras, res.images)):
                color = np.asarray(Image.open(path).convert("RGBA")).copy()
                views.append(RenderedView(cam, color, ids=None if res.ids is None else res.ids[i], labels=res.labels))
    if lk is not None:
        for v in views:
            v.color = compose(v.color, lk, v.camera, meshes)
    if out_dir is not None:
        pre = prefix or name
        for i, v in enumerate(views):
            save_view(v, out_dir, view_filename(pre, i, v.camera)[: -len(".png")])
    return views


# --- dressed folders --------------------------------------------------------------------------


def load_dressed_folder(folder: PathLikeStr) -> list[RenderMesh]:
    """RenderMeshes of a folder from ``atelier drape``: ``body.ply`` (named "body") and every
    ``garment*.ply`` (named after the file), canonical frame, metres, default colours (a look
    recolours them).

    Raises:
        InputError: the folder or its body is missing, or a file has no faces.
    """
    from ..meshio import load_ply

    folder = Path(folder)
    body = folder / "body.ply"
    if not body.is_file():
        raise InputError(f"{body}: missing", hint="render a folder written by `atelier drape` (body.ply + garment.ply)")
    paths = [("body", body)] + [(p.stem, p) for p in sorted(folder.glob("garment*.ply"))]
    layers = dressed_layers(folder)
    if len(layers) > 1:
        paths = [("body", body)] + [(name, folder / d / "garment.ply") for name, d, _ in layers]
    meshes = []
    for name, path in paths:
        v, f, _ = load_ply(path)
        if f is None or len(f) == 0:
            raise InputError(f"{path}: has no faces", hint="render a folder written by `atelier drape`")
        meshes.append(RenderMesh(name, v, f))
    return meshes


def dressed_layers(folder: PathLikeStr) -> list[tuple[str, str, tuple]]:
    """The garment layers of a drape folder of an outfit, from its ``outfit.json``:
    ``[(mesh name "garment_<i>-<name>", folder relative to ``folder``, RGBA colour)]``, innermost
    first; empty for a folder of one garment or without ``outfit.json``."""
    import json

    path = Path(folder) / "outfit.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    dirs = data.get("layers") or []
    colours = data.get("colours") or [None] * len(dirs)
    if len(dirs) < 2:
        return []
    return [(f"garment_{Path(d).name}", d, tuple(c) if c else None) for d, c in zip(dirs, colours)]


def render_dressed_folder(
    folder: PathLikeStr,
    out: PathLikeStr,
    backend: str = "auto",
    shots: str | Sequence[Shot] = "front,three-quarter,left,back,right",
    formats: Sequence[str | Format] = ("1:1@512",),
    look: Look | str | None = "studio",
    outputs: Sequence[str] | None = None,
    joints: Mapping[str, Sequence[float]] | None = None,
    blender_engine: str = "workbench",
    samples: int = FINAL.samples,
    contact_sheet: bool = True,
    progress: Callable[[str], None] | None = None,
    meshes: Sequence[RenderMesh] | None = None,
    **render_kw,
) -> dict:
    """Render a dressed-twin folder with a shot list, once per channel format.

    Writes ``out/<format label>/<backend>_<i>_<shot>.png`` (and the extra outputs' siblings),
    ``out/<format label>/contact_sheet.png`` and ``out/render.json`` (what was rendered, with the
    cameras and seconds per format).

    Args:
        folder: ``atelier drape`` output (``body.ply``, ``garment*.ply``).
        out: output folder.
        backend: see :func:`render`.
        shots: a :func:`engine.render.shots.parse_shots` spec or a list of shots.
        formats: :func:`engine.render.formats.parse_format` specs or formats.
        look: a look or its name.
        outputs: extra outputs ("depth", "normals", "mask").
        joints: optional {joint name: (3,)} for detail crops (else height bands are used).
        blender_engine, samples: Blender settings.
        contact_sheet: write one sheet per format.
        meshes: the folder's meshes as the caller built them (e.g. the app's, with the twin's
            texture and hair); default :func:`load_dressed_folder`.

    Returns:
        The manifest written to ``render.json``.
    """
    from .contact_sheet import make_contact_sheet

    meshes = list(meshes) if meshes is not None else load_dressed_folder(folder)
    shot_list = parse_shots(shots) if isinstance(shots, str) else list(shots)
    fmts = [f if isinstance(f, Format) else parse_format(f) for f in formats]
    name = choose_backend(backend)
    out = Path(out)
    vertices = np.concatenate([m.vertices for m in meshes])
    manifest = {"folder": str(Path(folder).resolve()), "backend": name, "look": look if isinstance(look, str) else None,
                "shots": [s.name for s in shot_list], "formats": {}}
    for fmt in fmts:
        cams = shot_cameras(shot_list, vertices, width=fmt.width, height=fmt.height, joints=joints)
        sub = out / fmt.label
        if progress:
            progress(f"{name}: {len(cams)} shots at {fmt.width}x{fmt.height} ({fmt.name})")
        t0 = time.monotonic()
        views = render(meshes, cams, backend=name, look=look, outputs=outputs, out_dir=sub, prefix=name,
                       blender_engine=blender_engine, samples=samples, progress=progress, **render_kw)
        seconds = time.monotonic() - t0
        images = [sub / view_filename(name, i, v.camera) for i, v in enumerate(views)]
        entry = {"width": fmt.width, "height": fmt.height, "images": [str(p) for p in images],
                 "cameras": [c.to_dict() for c in cams], "seconds": seconds}
        if contact_sheet and images:
            sheet = make_contact_sheet(images, sub / "contact_sheet.png", columns=min(len(images), 5),
                                       labels=[c.name for c in cams], title=f"{name} {fmt.name} {fmt.width}x{fmt.height}")
            entry["contact_sheet"] = str(sheet)
        manifest["formats"][fmt.label] = entry
    write_json(out / "render.json", manifest)
    return manifest
