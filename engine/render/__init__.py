"""Renderers that draw plain meshes with cameras and lights (no bodies, no garments here).

One camera rig (:class:`Camera`, :func:`turntable`) drives every backend so their pixels agree:

- :func:`render_pyrender` — headless OpenGL (EGL or OSMesa), fast previews and tests;
- :func:`render_blender` — Blender Workbench (previews) or Cycles (final) in the worker process;
- :func:`make_contact_sheet` — a labelled grid of the views.

Importing this package imports neither pyrender nor bpy; each backend loads its library when it
is first used.
"""

from .camera import Camera, fit_distance, frame_meshes, turntable
from .scene import AMBIENT, TRANSPARENT_WHITE, Light, RenderMesh, studio_lights
from .pyrender_backend import RenderedView, render_pyrender, render_pyrender_arrays, select_platform
from .blender_backend import render_blender
from .contact_sheet import make_contact_sheet

__all__ = [
    "AMBIENT",
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
