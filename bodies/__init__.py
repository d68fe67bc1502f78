"""Bodies: body models (Anny by default, SMPL-X from a user folder), scans, fitting, poses, twins.

Use :func:`create` to get a model; it builds one model per process per backend and shares it
(building Anny the first time on a machine takes ~1 minute while it fills its cache).
"""

from __future__ import annotations

import os
from functools import lru_cache

from .model import NAMED_JOINTS, BodyModel, BodyOutput

BACKENDS = ("anny", "anny-detailed", "smplx")


def create(model: str = "anny", smplx_dir: str | None = None, gender: str = "neutral") -> BodyModel:
    """Return the shared body model for a backend.

    Args:
        model: "anny" (default, ships its data), "anny-detailed" (Anny with four extra shape
            values after the six phenotype ones: bust, under-bust, waist and hip girth modifiers
            in [-1, 1]; used for bodies from measurements) or "smplx" (needs the user's SMPL-X files).
        smplx_dir: folder holding ``SMPLX_NEUTRAL.npz`` (or ``smplx/SMPLX_NEUTRAL.npz``);
            defaults to the ``ATELIER_SMPLX_DIR`` environment variable.
        gender: SMPL-X model gender ("neutral", "female", "male").
    """
    if model == "anny":
        return _anny()
    if model == "anny-detailed":
        return _anny_detailed()
    if model == "smplx":
        from .smplx_backend import SMPLXBody

        return _smplx(smplx_dir or os.environ.get("ATELIER_SMPLX_DIR"), gender)
    from engine.errors import InputError

    raise InputError(f"unknown body model {model!r}", hint=f"choose one of: {', '.join(BACKENDS)}")


@lru_cache(maxsize=1)
def _anny():
    try:  # Anny's skinning uses Warp, whose start-up banner would clutter every command's output
        import warp

        warp.config.log_level = warp.LOG_WARNING
    except Exception:  # pragma: no cover - Warp missing or changed: only the banner is at stake
        pass
    from .anny_backend import AnnyBody

    return AnnyBody()


@lru_cache(maxsize=1)
def _anny_detailed():
    from .anny_backend import DETAILED_LOCAL_CHANGES, AnnyBody

    return AnnyBody(local_changes=DETAILED_LOCAL_CHANGES, name="anny-detailed")


@lru_cache(maxsize=4)
def _smplx(smplx_dir, gender):
    from .smplx_backend import SMPLXBody

    return SMPLXBody(smplx_dir, gender=gender)


__all__ = ["create", "BodyModel", "BodyOutput", "NAMED_JOINTS", "BACKENDS"]
