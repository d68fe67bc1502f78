"""Scenes: the scene and campaign model, the artists' scripting API, campaign batches.

``import scenes as sc`` gives the API of :mod:`scenes.api` (``sc.scene``, ``sc.twin``,
``sc.outfit``, ``sc.garment``, ``sc.render``, ``sc.save``, ``sc.load``, ``sc.run_campaign``,
``sc.export_blend``, ``sc.export_glb`` ...). Importing it does not import pyrender, bpy or Ray.
"""

from .api import *  # noqa: F401,F403
from .api import __all__  # noqa: F401
