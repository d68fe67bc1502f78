"""Atelier engine core: geometry types, mesh IO, frames and units, the Blender worker bridge,
renderers for plain meshes with cameras and lights, and storage helpers.

This package never imports ``bpy``: Blender code runs in a separate worker process
(``engine.blender.worker``), so a Blender crash fails one job, not the caller.
"""

__version__ = "0.1.0"
