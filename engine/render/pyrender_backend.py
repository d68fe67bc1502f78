"""Headless OpenGL rendering with pyrender (EGL or OSMesa), for fast previews and tests.

PyOpenGL fixes its platform (EGL, OSMesa, GLX) the first time it is imported, so the platform is
chosen before pyrender is imported: if ``PYOPENGL_PLATFORM`` is set it is used as given;
otherwise EGL and then OSMesa are each tried in a short child process (an 8x8 offscreen render)
and the first that works is written to ``PYOPENGL_PLATFORM`` for this process.

The camera is :class:`engine.render.camera.Camera` with its ``yfov`` and aspect ratio handed to
``pyrender.PerspectiveCamera`` unchanged, so pixels agree with :meth:`Camera.project`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import MissingDependencyError
from ..storage import atomic_path
from ..types import PathLikeStr
from .camera import Camera
from .outputs import RenderedView, check_outputs, save_view, decode_ids, id_palette, world_to_camera_normals
from .scene import AMBIENT, TRANSPARENT_WHITE, Light, RenderMesh, studio_lights

#: Platforms tried, in order, when PYOPENGL_PLATFORM is unset.
PLATFORMS = ("egl", "osmesa")

_PROBE = """
import numpy as np, pyrender
s = pyrender.Scene()
s.add(pyrender.PerspectiveCamera(yfov=0.5), pose=np.eye(4))
r = pyrender.OffscreenRenderer(8, 8)
r.render(s, flags=pyrender.RenderFlags.RGBA)
r.delete()
print("ATELIER_GL_OK")
"""

_INSTALL_HINT = (
    "install a headless OpenGL driver: EGL (Debian/Ubuntu: apt-get install libegl1 libgl1-mesa-dri) "
    "or OSMesa (apt-get install libosmesa6; needs PyOpenGL >= 3.1.7), or set PYOPENGL_PLATFORM "
    "to a platform that works here"
)

_chosen: str | None = None


def probe_platform(platform: str, timeout: float = 60.0) -> tuple[bool, str]:
    """Try an 8x8 offscreen pyrender render with ``PYOPENGL_PLATFORM=platform`` in a child process.

    Returns:
        (works, last lines of the child's output when it failed).
    """
    env = dict(os.environ, PYOPENGL_PLATFORM=platform)
    try:
        out = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s"
    if out.returncode == 0 and "ATELIER_GL_OK" in out.stdout:
        return True, ""
    tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["(no output)"]
    return False, tail[0]


def select_platform() -> str:
    """Choose and set ``PYOPENGL_PLATFORM`` for this process (once), before pyrender is imported.

    Raises:
        MissingDependencyError: neither EGL nor OSMesa can render here.
    """
    global _chosen
    if _chosen is not None:
        return _chosen
    preset = os.environ.get("PYOPENGL_PLATFORM")
    if preset:
        _chosen = preset
        return preset
    if "OpenGL" in sys.modules:
        # PyOpenGL already picked its platform in this process; changing the variable now would
        # not take effect. Use whatever it picked and let a failure surface at render time.
        _chosen = ""
        return _chosen
    platform = choose_platform()
    os.environ["PYOPENGL_PLATFORM"] = platform
    _chosen = platform
    return platform


def choose_platform(probe=probe_platform, platforms: Sequence[str] = PLATFORMS) -> str:
    """The first of ``platforms`` for which ``probe(platform)`` reports success.

    Raises:
        MissingDependencyError: none works; the message gives each one's failure.
    """
    reasons = []
    for platform in platforms:
        ok, why = probe(platform)
        if ok:
            return platform
        reasons.append(f"{platform}: {why}")
    raise MissingDependencyError(
        "pyrender cannot create a headless OpenGL context (tried EGL and OSMesa): " + "; ".join(reasons),
        hint=_INSTALL_HINT,
    )


def _import_pyrender():
    select_platform()
    try:
        import pyrender
    except Exception as exc:  # ImportError, or PyOpenGL failing to load the chosen platform
        raise MissingDependencyError(
            f"pyrender is not importable (PYOPENGL_PLATFORM={os.environ.get('PYOPENGL_PLATFORM', '')!r}): {exc}",
            hint="pip install pyrender; " + _INSTALL_HINT,
        ) from exc
    return pyrender


def _material(pyrender, m: RenderMesh):
    kw = {}
    img = m.texture_image()
    if img is not None:
        sampler = pyrender.Sampler(wrapS=pyrender.GLTF.REPEAT, wrapT=pyrender.GLTF.REPEAT)
        kw["baseColorTexture"] = pyrender.Texture(source=img, source_channels="RGBA", sampler=sampler)
    return pyrender.MetallicRoughnessMaterial(
        baseColorFactor=np.asarray(m.color, dtype=np.float64),
        metallicFactor=0.0,
        roughnessFactor=0.8,
        doubleSided=True,
        **kw,
    )


def _primitive_arrays(m: RenderMesh) -> dict:
    """Vertex arrays of one mesh: shared vertices when smooth with per-vertex (or no) UVs; one
    vertex per face corner when flat or when the UVs are per corner (seams stay sharp)."""
    if m.smooth and not m.corner_uvs:
        arrays = {"positions": m.vertices, "normals": m.vertex_normals(), "indices": m.faces.astype(np.uint32)}
        if m.uv is not None:
            arrays["texcoord_0"] = m.uv
        arrays["world_normals"] = arrays["normals"]
        return arrays
    u = m.unwelded()
    arrays = {
        "positions": u["positions"],
        "normals": u["normals"],
        "indices": u["faces"].astype(np.uint32),
        "world_normals": u["normals"],
    }
    if u["uv"] is not None:
        arrays["texcoord_0"] = u["uv"]
    return arrays


def _build_scene(pyrender, meshes: Sequence[RenderMesh], lights: Sequence[Light], background, ambient, normals_pass: bool = False):
    """A pyrender scene; returns (scene, colour nodes, normal-pass nodes (empty unless asked))."""
    scene = pyrender.Scene(bg_color=np.asarray(background, dtype=np.float64), ambient_light=np.asarray(ambient))
    color_nodes, normal_nodes = [], []
    for m in meshes:
        a = _primitive_arrays(m)
        prim = pyrender.Primitive(
            positions=a["positions"], normals=a["normals"], texcoord_0=a.get("texcoord_0"),
            indices=a["indices"], material=_material(pyrender, m), mode=pyrender.GLTF.TRIANGLES,
        )
        color_nodes.append(scene.add(pyrender.Mesh([prim], name=m.name), name=m.name))
        if normals_pass:
            # Unlit (FLAT) pass whose vertex colour encodes the world normal as (n + 1) / 2.
            enc = np.clip((a["world_normals"] + 1.0) * 0.5, 0.0, 1.0).astype(np.float32)
            white = pyrender.MetallicRoughnessMaterial(baseColorFactor=np.ones(4), doubleSided=True)
            nprim = pyrender.Primitive(
                positions=a["positions"], normals=a["normals"], color_0=np.c_[enc, np.ones(len(enc), np.float32)],
                indices=a["indices"], material=white, mode=pyrender.GLTF.TRIANGLES,
            )
            node = scene.add(pyrender.Mesh([nprim], name=m.name + "__normals"), name=m.name + "__normals")
            node.mesh.is_visible = False
            normal_nodes.append(node)
    for light in lights:
        scene.add(
            pyrender.DirectionalLight(color=np.asarray(light.color), intensity=light.intensity),
            pose=light.pose(),
            name=light.name,
        )
    return scene, color_nodes, normal_nodes


def _set_visible(nodes, visible: bool) -> None:
    for node in nodes:
        node.mesh.is_visible = visible


def render_pyrender_arrays(
    meshes: Sequence[RenderMesh],
    cameras: Sequence[Camera],
    lights: Sequence[Light] | None = None,
    background=TRANSPARENT_WHITE,
    ambient=AMBIENT,
    with_depth: bool = False,
    outputs: Sequence[str] | None = None,
) -> list[RenderedView]:
    """Render every camera and return the images in memory.

    Args:
        meshes: what to draw, canonical frame (textured meshes sample their image with REPEAT).
        cameras: one image per camera (sizes may differ).
        lights: directional lights (default :func:`studio_lights`).
        background: RGBA in [0, 1]; alpha 0 makes the background transparent.
        ambient: RGB ambient light.
        with_depth: also return the depth buffer (same as ``"depth"`` in ``outputs``).
        outputs: any of ``"depth"``, ``"normals"``, ``"mask"`` (see :mod:`engine.render.outputs`);
            normals come from an unlit pass whose vertex colours encode the normals (8 bits a
            channel, ~0.5 degree), ids from pyrender's segmentation pass decoded against the
            coverage of the colour pass.

    Returns:
        One :class:`RenderedView` per camera, in order.

    Raises:
        MissingDependencyError: no headless OpenGL platform works.
    """
    wanted = set(check_outputs(outputs))
    if with_depth:
        wanted.add("depth")
    pyrender = _import_pyrender()
    if not cameras:
        return []
    lights = studio_lights() if lights is None else list(lights)
    scene, color_nodes, normal_nodes = _build_scene(pyrender, meshes, lights, background, ambient, "normals" in wanted)
    labels = tuple(m.name for m in meshes)
    palette = np.round(id_palette(len(meshes)) * 255.0)
    seg_map = {node: palette[i + 1] for i, node in enumerate(color_nodes)}
    try:
        # One context for all views (the scene's meshes bind to it); resized between cameras.
        renderer = pyrender.OffscreenRenderer(cameras[0].width, cameras[0].height)
    except Exception as exc:
        raise MissingDependencyError(
            f"pyrender could not open an offscreen OpenGL context "
            f"(PYOPENGL_PLATFORM={os.environ.get('PYOPENGL_PLATFORM', '')!r}): {exc}",
            hint=_INSTALL_HINT,
        ) from exc
    flags = pyrender.RenderFlags.RGBA
    cam_node = None
    out = []
    try:
        for cam in cameras:
            pc = pyrender.PerspectiveCamera(yfov=cam.yfov, aspectRatio=cam.aspect, znear=cam.znear, zfar=cam.zfar)
            if cam_node is not None:
                scene.remove_node(cam_node)
            cam_node = scene.add(pc, pose=cam.pose(), name="camera")
            renderer.viewport_width, renderer.viewport_height = cam.width, cam.height
            color, depth = renderer.render(scene, flags=flags)
            color = np.ascontiguousarray(color, dtype=np.uint8)
            view = RenderedView(cam, color, np.asarray(depth, dtype=np.float32) if "depth" in wanted else None, labels=labels)
            covered = color[..., 3] >= 128 if float(background[3]) == 0.0 else np.asarray(depth) > 0
            if "normals" in wanted:
                _set_visible(color_nodes, False)
                _set_visible(normal_nodes, True)
                try:
                    enc, _ = renderer.render(scene, flags=pyrender.RenderFlags.FLAT | pyrender.RenderFlags.RGBA)
                finally:
                    _set_visible(normal_nodes, False)
                    _set_visible(color_nodes, True)
                n_world = np.asarray(enc[..., :3], dtype=np.float64) / 255.0 * 2.0 - 1.0
                n_cam = world_to_camera_normals(n_world, cam)
                # Two-sided surfaces (an open garment's inside): make every normal face the camera.
                n_cam = np.where(n_cam[..., 2:3] < 0, -n_cam, n_cam)
                n_cam[~covered] = 0.0
                view.normals = n_cam.astype(np.float32)
            if "mask" in wanted:
                seg, _ = renderer.render(scene, flags=pyrender.RenderFlags.SEG, seg_node_map=seg_map)
                view.ids = decode_ids(np.asarray(seg)[..., :3], covered, len(meshes))
            out.append(view)
    finally:
        renderer.delete()
    return out


def view_filename(prefix: str, index: int, camera: Camera) -> str:
    """File name of view ``index``: ``{prefix}_{index:02d}_{camera.name}.png``."""
    return f"{prefix}_{index:02d}_{camera.name}.png"


def render_pyrender(
    meshes: Sequence[RenderMesh],
    cameras: Sequence[Camera],
    out_dir: PathLikeStr,
    prefix: str = "pyrender",
    lights: Sequence[Light] | None = None,
    background=TRANSPARENT_WHITE,
    ambient=AMBIENT,
    outputs: Sequence[str] | None = None,
) -> list[Path]:
    """Render every camera to an RGBA PNG in ``out_dir``, written atomically.

    Files are named ``{prefix}_{i:02d}_{camera.name}.png``; alpha is coverage when the background
    alpha is 0. Extra ``outputs`` (depth, normals, mask) are written next to each PNG with the
    suffixes of :func:`engine.render.outputs.save_view`. See :func:`render_pyrender_arrays` for
    the arguments.

    Returns:
        The colour PNG paths, one per camera, in order.
    """
    views = render_pyrender_arrays(meshes, cameras, lights=lights, background=background, ambient=ambient, outputs=outputs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, view in enumerate(views):
        stem = view_filename(prefix, i, view.camera)[: -len(".png")]
        paths.append(save_view(view, out_dir, stem)["color"])
    return paths
