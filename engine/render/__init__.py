"""Renderers that draw plain meshes with cameras and lights (no bodies, no garments here).

One camera rig (:class:`Camera`, :func:`turntable`) drives every backend so their pixels agree:

- :func:`render_pyrender` — headless OpenGL (EGL or OSMesa), fast previews and tests;
- :func:`render_blender` — Blender Workbench (previews) or Cycles (final) in the worker process;
- :func:`render_pytorch3d_arrays` — PyTorch3D, every view in one batched call (optional extra);
- :func:`render` — one dispatcher over the three (``backend="auto"``), with looks applied;
- :func:`make_contact_sheet` — a labelled grid of the views.

Shots (:mod:`.shots`), channel formats (:mod:`.formats`), looks (:mod:`.looks`) and per-pixel
outputs (:mod:`.outputs`) are shared by every backend.

Importing this package imports neither pyrender nor bpy; each backend loads its library when it
is first used.
"""

from .camera import Camera, fit_distance, frame_meshes, turntable
from .scene import AMBIENT, TRANSPARENT_WHITE, Light, RenderMesh, studio_lights
from .outputs import RenderedView, save_view, silhouette_iou
from .pyrender_backend import render_pyrender, render_pyrender_arrays, select_platform
from .blender_backend import render_blender, render_blender_views
from .pytorch3d_backend import render_pytorch3d_arrays
from .contact_sheet import make_contact_sheet
from .formats import Format, make_format, parse_format
from .shots import Shot, named_shot, parse_shots, shot_cameras, turntable_shots
from .looks import Backdrop, Colourway, Look, apply_look, compose
from .backends import render, render_dressed_folder

__all__ = [
    "AMBIENT",
    "Backdrop",
    "Colourway",
    "Format",
    "Look",
    "Shot",
    "apply_look",
    "compose",
    "make_format",
    "named_shot",
    "parse_format",
    "parse_shots",
    "render",
    "render_blender_views",
    "render_dressed_folder",
    "render_pytorch3d_arrays",
    "save_view",
    "shot_cameras",
    "silhouette_iou",
    "turntable_shots",
    "TRANSPARENT_WHITE",
    "Camera",
    "Light",
    "RenderMesh",
    "RenderedView",
    "fit_distance",
    "frame_meshes",
    "make_contact_sheet",
    "render_blender",
    "render_pyrender",
    "render_pyrender_arrays",
    "select_platform",
    "studio_lights",
    "turntable",
]
