"""Body identities: the hashes by which the rights registry knows a body (a twin folder's model
and shape parameters, or a drawn mesh's geometry). Used by the registry and by consent, which
both import it; it imports neither."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import PathLikeStr

MESH_QUANTUM_M = 1e-4
"""Vertex positions are rounded to 0.1 mm before a mesh is hashed, so the same body written by
two processes (or read back through another PLY reader) has the same identity."""


def params_sha256(model: str, shape) -> str:
    """The identity hash of a body generated from ``model`` with ``shape`` parameters (rounded to
    1e-6): hex SHA-256. Pose, translation and every other field do not enter it."""
    data = {"model": str(model), "shape": [round(float(x), 6) + 0.0 for x in shape]}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def params_of(twin_json: PathLikeStr) -> tuple[str, list[float], Path]:
    """(model, shape, path of twin.json) of a twin folder or ``twin.json`` file."""
    p = Path(twin_json)
    if p.is_dir():
        p = p / "twin.json"
    try:
        data = json.loads(p.read_text())
        return str(data["model"]), [float(x) for x in data["shape"]], p
    except FileNotFoundError:
        raise InputError(f"{p}: no twin here", hint="give a folder written by `atelier fit` or `atelier body`") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{p}: not a valid twin file ({exc})", hint="re-run `atelier fit`") from None


def mesh_sha256(path: PathLikeStr) -> str:
    """The identity hash of a mesh file as it is drawn: faces and vertex positions rounded to
    :data:`MESH_QUANTUM_M` (hex SHA-256; comments and file layout do not enter it)."""
    from ..meshio import load_ply

    v, f, _ = load_ply(path)
    h = hashlib.sha256()
    h.update(np.round(np.asarray(v, np.float64) / MESH_QUANTUM_M).astype("<i8").tobytes())
    h.update(b"faces")
    if f is not None:
        h.update(np.asarray(f).astype("<i8").tobytes())
    return h.hexdigest()
