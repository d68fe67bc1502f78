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
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import MissingDependencyError
from ..storage import atomic_path
from ..types import PathLikeStr
from .camera import Camera
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


@dataclass
class RenderedView:
    """One rendered view.

    Attributes:
        camera: the camera used.
        color: (H, W, 4) uint8 RGBA; alpha is coverage (0 = background when it is transparent).
        depth: (H, W) float32 distance along the camera axis, metres; 0 where nothing was drawn.
            None unless depth was asked for.
    """

    camera: Camera
    color: np.ndarray
    depth: np.ndarray | None = None

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool: alpha >= 128 (at least half of the pixel covered)."""
        return self.color[..., 3] >= 128


def _build_scene(pyrender, meshes: Sequence[RenderMesh], lights: Sequence[Light], background, ambient):
    import trimesh

    scene = pyrender.Scene(bg_color=np.asarray(background, dtype=np.float64), ambient_light=np.asarray(ambient))
    for m in meshes:
        tm = trimesh.Trimesh(vertices=m.vertices, faces=m.faces, process=False)
        material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=np.asarray(m.color, dtype=np.float64),
            metallicFactor=0.0,
            roughnessFactor=0.8,
            doubleSided=True,
        )
        scene.add(pyrender.Mesh.from_trimesh(tm, material=material, smooth=m.smooth), name=m.name)
    for light in lights:
        scene.add(
            pyrender.DirectionalLight(color=np.asarray(light.color), intensity=light.intensity),
            pose=light.pose(),
            name=light.name,
        )
    return scene


def render_pyrender_arrays(
    meshes: Sequence[RenderMesh],
    cameras: Sequence[Camera],
    lights: Sequence[Light] | None = None,
    background=TRANSPARENT_WHITE,
    ambient=AMBIENT,
    with_depth: bool = False,
) -> list[RenderedView]:
    """Render every camera and return the images in memory.

    Args:
        meshes: what to draw, canonical frame.
        cameras: one image per camera (sizes may differ).
        lights: directional lights (default :func:`studio_lights`).
        background: RGBA in [0, 1]; alpha 0 makes the background transparent.
        ambient: RGB ambient light.
        with_depth: also return the depth buffer.

    Returns:
        One :class:`RenderedView` per camera, in order.

    Raises:
        MissingDependencyError: no headless OpenGL platform works.
    """
    pyrender = _import_pyrender()
    if not cameras:
        return []
    lights = studio_lights() if lights is None else list(lights)
    scene = _build_scene(pyrender, meshes, lights, background, ambient)
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
            out.append(RenderedView(cam, color, np.asarray(depth, dtype=np.float32) if with_depth else None))
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
) -> list[Path]:
    """Render every camera to an RGBA PNG in ``out_dir``, written atomically.

    Files are named ``{prefix}_{i:02d}_{camera.name}.png``; alpha is coverage when the background
    alpha is 0. See :func:`render_pyrender_arrays` for the arguments.

    Returns:
        The PNG paths, one per camera, in order.
    """
    from PIL import Image

    views = render_pyrender_arrays(meshes, cameras, lights=lights, background=background, ambient=ambient)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, view in enumerate(views):
        path = out_dir / view_filename(prefix, i, view.camera)
        with atomic_path(path) as tmp:
            Image.fromarray(view.color).save(tmp, format="PNG")
        paths.append(path)
    return paths
