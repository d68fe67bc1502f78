"""Mesh IO for meshes that cross process boundaries and for user-facing outputs.

PLY is written here directly (binary little-endian) so that per-vertex attributes such as strain
or clearance travel with the mesh and open in MeshLab/Blender; reading uses trimesh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError
from .storage import atomic_path
from .types import PathLikeStr


def save_ply(
    path: PathLikeStr,
    vertices: np.ndarray,
    faces: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    attributes: dict[str, np.ndarray] | None = None,
    comments: list[str] | None = None,
) -> Path:
    """Write a binary PLY atomically.

    Args:
        vertices: (V, 3) float, metres.
        faces: (F, 3) int or None for a point cloud.
        colors: (V, 3) or (V, 4) uint8 per-vertex colour, optional.
        attributes: extra per-vertex float32 scalars, name -> (V,) array.
        comments: lines written as PLY comments (e.g. "synthetic scan").
    """
    v = np.asarray(vertices, dtype=np.float32).reshape(-1, 3)
    n = len(v)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    cols = [v[:, 0], v[:, 1], v[:, 2]]
    props = ["float x", "float y", "float z"]
    if colors is not None:
        c = np.asarray(colors, dtype=np.uint8).reshape(n, -1)
        for i, name in enumerate(["red", "green", "blue", "alpha"][: c.shape[1]]):
            fields.append((name, "u1"))
            cols.append(c[:, i])
            props.append(f"uchar {name}")
    for name, values in (attributes or {}).items():
        a = np.asarray(values, dtype=np.float32).reshape(n)
        fields.append((name, "<f4"))
        cols.append(a)
        props.append(f"float {name}")
    vert = np.empty(n, dtype=fields)
    for (name, _), col in zip(fields, cols):
        vert[name] = col
    header = ["ply", "format binary_little_endian 1.0"]
    header += [f"comment {c}" for c in (comments or [])]
    header += [f"element vertex {n}"] + [f"property {p}" for p in props]
    face_bytes = b""
    if faces is not None and len(faces):
        f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
        face = np.empty(len(f), dtype=[("n", "u1"), ("i", "<i4", (3,))])
        face["n"] = 3
        face["i"] = f
        header += [f"element face {len(f)}", "property list uchar int vertex_indices"]
        face_bytes = face.tobytes()
    header.append("end_header")
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(("\n".join(header) + "\n").encode("ascii"))
            fh.write(vert.tobytes())
            fh.write(face_bytes)
    return path


def load_ply(path: PathLikeStr) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """Read a PLY written by :func:`save_ply` (or any PLY trimesh reads).

    Returns:
        vertices (V, 3) float32, faces (F, 3) int64 or None, and extra per-vertex attributes.
    """
    import trimesh

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    obj = trimesh.load(path, process=False, maintain_order=True)
    attrs: dict[str, np.ndarray] = {}
    meta = getattr(obj, "metadata", {}) or {}
    ply_raw = meta.get("_ply_raw", {}).get("vertex", {}).get("data")
    if ply_raw is not None and getattr(ply_raw, "dtype", None) is not None and ply_raw.dtype.names:
        for name in ply_raw.dtype.names:
            if name not in ("x", "y", "z", "red", "green", "blue", "alpha"):
                attrs[name] = np.asarray(ply_raw[name], dtype=np.float32).reshape(-1)
    faces = np.asarray(obj.faces, dtype=np.int64) if hasattr(obj, "faces") and len(obj.faces) else None
    return np.asarray(obj.vertices, dtype=np.float32), faces, attrs


def save_npz_mesh(path: PathLikeStr, vertices: np.ndarray, faces: np.ndarray | None = None, **extra) -> Path:
    """Write a mesh as ``.npz`` (``vertices`` float32, ``faces`` int64, extras), atomically."""
    path = Path(path)
    arrays = {"vertices": np.asarray(vertices, dtype=np.float32)}
    if faces is not None:
        arrays["faces"] = np.asarray(faces, dtype=np.int64)
    arrays.update({k: np.asarray(v) for k, v in extra.items()})
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return path


def load_npz_mesh(path: PathLikeStr) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
