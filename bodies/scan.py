"""Body scans in: read a scan file, check it, and bring it into the canonical frame.

:func:`load_scan` reads PLY (ASCII or binary, mesh or point cloud), OBJ, STL, GLB/glTF (every mesh
of the scene, placed by its node transform), XYZ/TXT point lists and NPZ files holding a
``points`` or ``vertices`` array. It returns a :class:`Scan` whose points are float32 metres in
the canonical frame (+Y up). The scan keeps its own placement: nothing is centred or moved, so a
twin fitted to it overlays the original file.

Every problem a user can cause (missing, empty, damaged or implausible file) raises
:class:`engine.errors.InputError` naming the file, what was wrong and what to do.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.frames import blender_to_canonical
from engine.storage import file_sha256
from engine.types import PathLikeStr

#: metres per unit for each accepted length unit.
UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}
UNIT_WORDS = {"m": "metres", "cm": "centimetres", "mm": "millimetres"}
#: a whole body must be this tall (metres, along the up axis) to be fitted.
HEIGHT_RANGE_M = (0.5, 2.5)
#: fewer points than this is too sparse to fit a body to.
MIN_POINTS = 500
#: file suffixes read through trimesh, and those read here directly.
MESH_SUFFIXES = (".ply", ".obj", ".stl", ".glb", ".gltf", ".off")
POINT_SUFFIXES = (".xyz", ".txt", ".pts", ".csv")
NPZ_SUFFIXES = (".npz",)
SUPPORTED = MESH_SUFFIXES + POINT_SUFFIXES + NPZ_SUFFIXES


@dataclass
class Scan:
    """A body scan in the canonical frame.

    Attributes:
        points: (N, 3) float32, metres, canonical frame (+Y up); the scan's own placement.
        faces: (F, 3) int64 indices into ``points``, or None for a point cloud.
        normals: (N, 3) float32 unit normals in the canonical frame, or None when unknown.
        path: the file read.
        sha256: hex SHA-256 of the file's bytes.
        units: the file's length unit, "m", "cm" or "mm" (points are converted to metres).
        units_given: True if the caller named the unit, False if metres were assumed.
        up: the file's up axis, "y" (canonical) or "z" (converted).
        comments: comment lines found in the file (PLY header comments, leading ``#`` lines).
        metadata: extra facts: ``format``, ``n_faces``, ``height_m``, ...
    """

    points: np.ndarray
    faces: np.ndarray | None
    normals: np.ndarray | None
    path: Path
    sha256: str
    units: str = "m"
    units_given: bool = False
    up: str = "y"
    comments: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        return int(len(self.points))

    @property
    def height_m(self) -> float:
        """Extent along +Y, metres."""
        return float(np.ptp(self.points[:, 1])) if len(self.points) else 0.0

    @property
    def synthetic(self) -> bool:
        """True when the file says it is synthetic (e.g. a scan from :mod:`bodies.synthetic`)."""
        return any("synthetic" in c.lower() for c in self.comments)

    def source_info(self) -> dict:
        """Provenance for ``Twin.source``: path, hash, synthetic flag, units."""
        return {
            "scan": str(self.path),
            "scan_sha256": self.sha256,
            "synthetic": self.synthetic,
            "units": self.units,
            "units_assumed": not self.units_given,
            "up": self.up,
            "n_points": self.n_points,
        }


def load_scan(path: PathLikeStr, units: str | None = None, up: str = "y") -> Scan:
    """Read and check a body scan.

    Args:
        path: a .ply, .obj, .stl, .glb/.gltf, .off, .xyz/.txt/.pts/.csv or .npz file.
        units: the file's length unit ("m", "cm", "mm"); None assumes metres and refuses a scan
            whose height is implausible in metres, suggesting the unit that would fit.
        up: the file's up axis: "y" (canonical, glTF, most scanners) or "z" (Blender-style,
            converted with :func:`engine.frames.blender_to_canonical`).

    Returns:
        A :class:`Scan` in metres, canonical frame.

    Raises:
        InputError: missing, empty, unreadable or damaged file; no points; NaN/Inf coordinates;
            fewer than :data:`MIN_POINTS` points; a height outside 0.5-2.5 m in the units used.
    """
    path = Path(path)
    if units is not None:
        units = str(units).lower()
        if units not in UNIT_SCALE:
            raise InputError(f"unknown unit {units!r} for {path}", hint="pass --units m, cm or mm")
    up = str(up).lower()
    if up not in ("y", "z"):
        raise InputError(f"unknown up axis {up!r} for {path}", hint="pass --up y (canonical) or --up z (Blender-style)")
    if not path.exists():
        raise InputError(f"{path}: file not found", hint="check the path (and the current folder)")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a scan file", hint=f"pass one scan file ({', '.join(SUPPORTED)})")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)", hint="the export or copy probably failed; export the scan again")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(
            f"{path}: unsupported scan format {suffix or '(no suffix)'!r}",
            hint=f"export the scan as one of: {', '.join(SUPPORTED)}",
        )

    if suffix in MESH_SUFFIXES:
        points, faces, normals, comments = _read_trimesh(path, suffix)
    elif suffix in NPZ_SUFFIXES:
        points, faces, normals, comments = _read_npz(path)
    else:
        points, faces, normals, comments = _read_point_list(path)

    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(points) == 0:
        raise InputError(
            f"{path}: contains no points",
            hint=f"the file may be damaged or not really {suffix[1:].upper()}; export the scan again",
        )
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise InputError(
            f"{path}: {int(bad.sum())} of {len(points)} points have NaN or Inf coordinates",
            hint="remove the invalid points in the scanner software (or a mesh editor) and export again",
        )
    if len(points) < MIN_POINTS:
        raise InputError(
            f"{path}: only {len(points)} points; at least {MIN_POINTS} are needed to fit a body",
            hint="export the full-resolution scan (not a preview or a decimated copy)",
        )
    if faces is not None:
        faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
        if len(faces) == 0:
            faces = None
        elif faces.min() < 0 or faces.max() >= len(points):
            raise InputError(
                f"{path}: faces refer to points that do not exist (index {int(faces.max())} of {len(points)})",
                hint="the file is damaged; export the scan again",
            )

    if up == "z":
        points = blender_to_canonical(points)
        if normals is not None:
            normals = blender_to_canonical(normals)
    scale = UNIT_SCALE[units or "m"]
    points = points * scale
    _check_height(path, points, units, up)

    if normals is not None:
        normals = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
        if normals.shape != points.shape or not np.isfinite(normals).all():
            normals = None
        else:
            length = np.linalg.norm(normals, axis=1, keepdims=True)
            normals = np.where(length > 0, normals / np.maximum(length, 1e-12), 0.0)

    return Scan(
        points=points.astype(np.float32),
        faces=faces,
        normals=None if normals is None else normals.astype(np.float32),
        path=path,
        sha256=file_sha256(path),
        units=units or "m",
        units_given=units is not None,
        up=up,
        comments=comments,
        metadata={
            "format": suffix[1:],
            "n_faces": 0 if faces is None else int(len(faces)),
            "height_m": round(float(np.ptp(points[:, 1])), 4),
        },
    )


# --- checks ----------------------------------------------------------------------------------
def _check_height(path: Path, points_m: np.ndarray, units: str | None, up: str) -> None:
    """Refuse a scan whose height along +Y is implausible for a whole body, saying why."""
    lo, hi = HEIGHT_RANGE_M
    height = float(np.ptp(points_m[:, 1]))
    if lo <= height <= hi:
        return
    used = units or "m"
    raw = height / UNIT_SCALE[used]  # height in the file's own units
    plausible = [u for u in ("mm", "cm", "m") if lo <= raw * UNIT_SCALE[u] <= hi]
    # a scan saved with the other up axis: its height then lies along canonical z either way
    extents = np.ptp(points_m, axis=0)
    other_up = "z" if up == "y" else "y"
    other_axis = 2
    sideways = lo <= float(extents[other_axis]) <= hi and float(extents[other_axis]) > 2 * height
    if units is None:
        msg = f"{path}: scan is {raw:.4g} units tall"
        if plausible and plausible[0] != "m":
            u = plausible[0]
            raise InputError(
                f"{msg}: it looks like {UNIT_WORDS[u]}",
                hint=f"pass --units {u} (metres are assumed when --units is not given)",
            )
        if sideways:
            raise InputError(
                f"{msg} along the up axis ({up}) but {float(extents[other_axis]):.3g} along another: "
                "it looks like it was saved with a different up axis",
                hint=f"pass --up {other_up}",
            )
        raise InputError(
            f"{msg} along the up axis ({up}); a whole body is {lo}-{hi} m tall in metres, "
            f"{lo * 100:.0f}-{hi * 100:.0f} in centimetres or {lo * 1000:.0f}-{hi * 1000:.0f} in millimetres",
            hint="check that the file holds one whole standing body, and pass --units and --up to match it",
        )
    msg = f"{path}: scan is {height:.3g} m tall with --units {used} ({raw:.4g} {used}), outside {lo}-{hi} m"
    if plausible and plausible[0] != used:
        raise InputError(
            f"{msg}: it looks like {UNIT_WORDS[plausible[0]]}", hint=f"pass --units {plausible[0]}"
        )
    if sideways:
        raise InputError(f"{msg}; another axis is {float(extents[other_axis]):.3g} m", hint=f"pass --up {other_up}")
    raise InputError(msg, hint="check that the file holds one whole standing body and the units are right")


# --- readers ---------------------------------------------------------------------------------
def _read_trimesh(path: Path, suffix: str):
    """Points, faces, normals, comments from a mesh/scene file via trimesh."""
    import trimesh

    try:
        obj = trimesh.load(path, process=False, maintain_order=True)
    except Exception as exc:  # trimesh raises many kinds on damaged input
        raise InputError(
            f"{path}: could not be read as {suffix[1:].upper()} ({type(exc).__name__}: {exc})",
            hint="the file is damaged, truncated or not really this format; export the scan again",
        ) from None
    comments = _file_comments(path, suffix)
    if isinstance(obj, trimesh.Scene):
        points, faces = _flatten_scene(obj)
        normals = None
        if faces is not None and len(faces):
            try:
                normals = trimesh.Trimesh(points, faces, process=False).vertex_normals
            except Exception:
                normals = None
        return points, faces, normals, comments
    points = np.asarray(getattr(obj, "vertices", np.zeros((0, 3))), dtype=np.float64)
    faces = getattr(obj, "faces", None)
    faces = np.asarray(faces, dtype=np.int64) if faces is not None and len(faces) else None
    normals = None
    if faces is not None and len(points):
        try:
            normals = np.asarray(obj.vertex_normals, dtype=np.float64)
        except Exception:
            normals = None
    else:
        raw = (getattr(obj, "metadata", {}) or {}).get("_ply_raw", {}).get("vertex", {}).get("data")
        names = getattr(getattr(raw, "dtype", None), "names", None) or ()
        if all(n in names for n in ("nx", "ny", "nz")):
            normals = np.stack([raw["nx"], raw["ny"], raw["nz"]], axis=-1).astype(np.float64).reshape(-1, 3)
    return points, faces, normals, comments


def _flatten_scene(scene):
    """Concatenate every geometry of a trimesh Scene in world coordinates (node transforms
    applied). Returns points (N, 3) float64 and faces (F, 3) int64 or None."""
    pts, tris = [], []
    offset = 0
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geom = scene.geometry.get(name)
        v = np.asarray(getattr(geom, "vertices", np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
        if not len(v):
            continue
        v = v @ np.asarray(transform)[:3, :3].T + np.asarray(transform)[:3, 3]
        f = getattr(geom, "faces", None)
        if f is not None and len(f):
            tris.append(np.asarray(f, dtype=np.int64) + offset)
        pts.append(v)
        offset += len(v)
    if not pts:
        return np.zeros((0, 3)), None
    points = np.concatenate(pts)
    # faces are only meaningful if every part has them; a mixed scene is treated as points
    faces = np.concatenate(tris) if tris and sum(len(t) for t in tris) and len(tris) == len(pts) else None
    return points, faces


def _file_comments(path: Path, suffix: str) -> list[str]:
    """Comment lines: PLY header ``comment``/``obj_info`` lines, or leading ``#`` lines."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return []
    out: list[str] = []
    if suffix == ".ply":
        end = head.find(b"end_header")
        text = head[: end if end >= 0 else len(head)].decode("latin-1", errors="replace")
        for line in text.splitlines():
            line = line.strip()
            for key in ("comment ", "obj_info "):
                if line.startswith(key):
                    out.append(line[len(key):].strip())
    elif suffix in (".obj", ".off") or suffix in POINT_SUFFIXES:
        for line in head.decode("latin-1", errors="replace").splitlines()[:200]:
            s = line.strip()
            if s.startswith("#"):
                out.append(s.lstrip("#").strip())
            elif s:
                break
    return [c for c in out if c]


def _read_point_list(path: Path):
    """XYZ/TXT/PTS/CSV: one point per line, x y z first (spaces, tabs or commas), ``#`` comments."""
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: is not a text point list (it holds binary data)",
            hint="a point list has one 'x y z' line per point; export the scan as PLY or XYZ text",
        ) from None
    comments = _file_comments(path, path.suffix.lower())
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        s = line.split("#", 1)[0].strip().replace(",", " ").replace(";", " ")
        if not s:
            continue
        parts = s.split()
        if len(parts) < 3:
            raise InputError(
                f"{path}: line {i} has {len(parts)} value(s); a point needs x y z",
                hint="a point list has one 'x y z' line per point (extra columns are ignored)",
            )
        try:
            rows.append([float(parts[0]), float(parts[1]), float(parts[2])])
        except ValueError:
            if not rows:  # a header line such as "x y z"
                continue
            raise InputError(
                f"{path}: line {i} is not numbers: {line.strip()[:60]!r}",
                hint="a point list has one 'x y z' line per point",
            ) from None
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3), None, None, comments


def _read_npz(path: Path):
    """NPZ with ``points`` or ``vertices`` (N, 3); optional ``faces``, ``normals``, ``comments``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.files)
            key = "points" if "points" in keys else "vertices" if "vertices" in keys else None
            if key is None:
                raise InputError(
                    f"{path}: has no 'points' or 'vertices' array (it has: {', '.join(keys) or 'nothing'})",
                    hint="save the scan with np.savez(path, points=array_of_shape_N_by_3)",
                )
            points = np.asarray(z[key], dtype=np.float64)
            faces = np.asarray(z["faces"]) if "faces" in keys else None
            normals = np.asarray(z["normals"], dtype=np.float64) if "normals" in keys else None
            comments = [str(c) for c in np.atleast_1d(z["comments"])] if "comments" in keys else []
    except InputError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise InputError(
            f"{path}: could not be read as NPZ ({type(exc).__name__}: {exc})",
            hint="the file is damaged or holds Python objects; save plain arrays with np.savez",
        ) from None
    if points.ndim != 2 or points.shape[-1] != 3:
        raise InputError(
            f"{path}: '{key}' has shape {points.shape}; expected (N, 3)",
            hint="save the scan points as an (N, 3) array",
        )
    if faces is not None and (faces.ndim != 2 or faces.shape[-1] != 3 or not np.issubdtype(faces.dtype, np.integer)):
        faces = None
    return points, faces, normals, comments


__all__ = ["Scan", "load_scan", "UNIT_SCALE", "HEIGHT_RANGE_M", "MIN_POINTS", "SUPPORTED"]
