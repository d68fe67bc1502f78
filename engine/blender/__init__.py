"""The Blender worker bridge.

The main process never imports ``bpy``. It writes a JSON job spec plus mesh files into a work
folder and runs ``python -m engine.blender.worker JOB.json`` in a child process (bpy from PyPI is
a Python module, so the child is this same interpreter). The child's output is kept in
``blender.log`` beside the spec and shown when a job fails. Modules in this package whose names
end in ``_job`` and ``worker`` run inside the child and may import bpy; this ``__init__`` and
``bridge`` must not.
"""

from .bridge import run_blender_job

__all__ = ["run_blender_job"]
