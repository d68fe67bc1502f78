"""The Atelier application: the ``atelier`` command's dispatcher (:mod:`atelier.cli`), the staged
pipeline behind ``demo``/``fit``/``drape``/``render`` (:mod:`atelier.pipeline`).

This is the top layer: it may import every package (engine, bodies, garments, scenes) and none of
them imports it.
"""

from engine import __version__

__all__ = ["__version__"]
