"""Body scans in: read a scan file, check it, and bring it into the canonical frame.

:func:`load_scan` reads PLY (ASCII or binary, mesh or point cloud), OBJ, STL, GLB/glTF (every mesh
of the scene, placed by its node transform), XYZ/TXT point lists and NPZ files holding a
``points`` or ``vertices`` array. It returns a :class:`Scan` whose points are float32 metres in
the canonical frame (+Y up). The scan keeps its own placement: nothing is centred or moved, so a
twin fitted to it overlays the original file (:meth:`Scan.to_file_frame` maps canonical points
back into the file's own units and axes).

Units and up axis:

- ``units="auto"`` (the default) detects the unit from the body's height: 0.5-2.5 in metres,
  39.4-98.5 in inches, 98.5-250 in centimetres, 500-2500 in millimetres (:data:`DETECT_RANGES`;
  scanners often export millimetres). A scan whose height fits no unit is refused, saying why.
  ``"m"``, ``"cm"``, ``"mm"``, ``"in"`` override the detection; a body outside 0.5-2.5 m after
  conversion is refused.
- ``up="auto"`` (the default) detects which file axis points up, sign included (``x``, ``y``,
  ``z``, ``-x``, ``-y``, ``-z``): from a floor or turntable plane when the scan has one (its
  normal, towards the body), otherwise from the body's extent (the longest axis; between two
  similar ones, a T-pose's height and arm span, the one along which the body is not
  mirror-symmetric), the sign from which end is wider (the feet) than the other (the head). The
  facing direction is left to the fit, which tries four turns.

:func:`clean_scan` then removes a floor/turntable plane, stray clusters away from the body and
decimates large scans on a voxel grid, recording what it removed in ``metadata["cleaning"]``.

Every problem a user can cause (missing, empty, damaged or implausible file) raises
:class:`engine.errors.InputError` naming the file, what was wrong and what to do.
"""

from __future__ import annotations

import warnings
import zipfile
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from engine.errors import InputError
from engine.storage import file_sha256
from engine.types import PathLikeStr

#: a scan with more points than this is thinned as it is read, every k-th point kept (k the
#: smallest that leaves at most this many): the fit decimates to 150k points anyway, and a 5M-point
#: scan read whole took 30-65 s and over 2.7 GB (issue 22; docs/measurements.md).
MAX_READ_POINTS = 1_500_000
#: text scans larger than this are read in blocks of :data:`READ_BLOCK_BYTES` (thinned as above),
#: never as one string, bytes.
LARGE_TEXT_BYTES = 32 << 20
READ_BLOCK_BYTES = 16 << 20

#: metres per unit for each accepted length unit.
UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254}
UNIT_WORDS = {"m": "metres", "cm": "centimetres", "mm": "millimetres", "in": "inches"}
#: a whole body must be this tall (metres, along the up axis) to be fitted.
HEIGHT_RANGE_M = (0.5, 2.5)
#: heights (file units) from which each unit is detected, so that at most one fits. Inches and
#: centimetres overlap: 40-98 units is a 1.0-2.5 m person in inches or a 0.4-1 m child in
#: centimetres. Scans are of adults far more often (a 68-unit scan read as centimetres gave a 68 cm
#: twin with 141 cm shoulders), so those heights read as inches; a body under 1 m in centimetres
#: needs ``--units cm``.
DETECT_RANGES = {"m": (0.5, 2.5), "in": (39.4, 98.5), "cm": (98.5, 250.0), "mm": (500.0, 2500.0)}
#: fewer points than this is too sparse to fit a body to.
MIN_POINTS = 500
#: file suffixes read through trimesh, and those read here directly.
MESH_SUFFIXES = (".ply", ".obj", ".stl", ".glb", ".gltf", ".off")
POINT_SUFFIXES = (".xyz", ".txt", ".pts", ".csv")
NPZ_SUFFIXES = (".npz",)
SUPPORTED = MESH_SUFFIXES + POINT_SUFFIXES + NPZ_SUFFIXES
#: up-axis labels -> proper rotation (3, 3) taking the file's axes to the canonical frame (+Y up).
UP_ROTATIONS = {
    "y": np.eye(3),
    "z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),  # Blender: facing -Y -> +Z
    "-y": np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]),
    "-z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "x": np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    "-x": np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
}
UP_CHOICES = ("auto",) + tuple(UP_ROTATIONS)
UNIT_CHOICES = ("auto",) + tuple(UNIT_SCALE)


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
        units_given: True if the caller named the unit (``--units m/cm/mm``), False if it was
            assumed (metres) or detected (``auto``).
        up: the file's up axis, one of :data:`UP_ROTATIONS` (``"y"``: canonical, ``"z"``:
            Blender-style, ``"-y"``: upside down, ...).
        rotation: (3, 3) float64 proper rotation taking the file's axes to the canonical frame.
        floor_y: height of a removed floor/turntable plane, metres, canonical frame, or None.
        comments: comment lines found in the file (PLY header comments, leading ``#`` lines).
        metadata: extra facts: ``format``, ``n_faces``, ``height_m``, ...
        colors: (N, 3) uint8 sRGB colour of each point as the file gives it (per-vertex colour
            of a PLY/OBJ, or a textured OBJ/GLB's base-colour image sampled at each vertex's UV),
            or None when the file has no colour (the twin then gets a skin tone).
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
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    floor_y: float | None = None
    colors: np.ndarray | None = None

    @property
    def scale(self) -> float:
        """Metres per file unit."""
        return UNIT_SCALE[self.units]

    def to_file_frame(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) canonical-frame metres -> (..., 3) float64 in the file's own units and axes
        (so a fitted body overlays the original scan in any viewer)."""
        p = np.asarray(points, dtype=np.float64)
        return (p @ np.asarray(self.rotation)) / self.scale

    def to_canonical(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) points in the file's units and axes -> (..., 3) float64 canonical metres."""
        return (np.asarray(points, dtype=np.float64) @ np.asarray(self.rotation).T) * self.scale

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
            "units_detected": self.metadata.get("units_detected"),
            "up": self.up,
            "up_detected": self.metadata.get("up_method"),
            "n_points": self.n_points,
            "colour": self.colors is not None,
        }


def load_scan(path: PathLikeStr, units: str | None = "auto", up: str = "auto") -> Scan:
    """Read and check a body scan.

    Args:
        path: a .ply, .obj, .stl, .glb/.gltf, .off, .xyz/.txt/.pts/.csv or .npz file.
        units: the file's length unit: ``"auto"`` (default; None means the same) detects it
            from the body's height and refuses a height that fits no unit; ``"m"``, ``"cm"``,
            ``"mm"`` are taken as given.
        up: the file's up axis: ``"auto"`` (default, detected, see the module docstring), or one
            of ``"y"`` (canonical, glTF, most scanners), ``"z"`` (Blender-style, converted with
            :func:`engine.frames.blender_to_canonical`), ``"-y"``, ``"-z"``, ``"x"``, ``"-x"``.

    Returns:
        A :class:`Scan` in metres, canonical frame; ``metadata`` holds ``units_detected``,
        ``up_method`` and ``height_m``.

    Raises:
        InputError: missing, empty, unreadable or damaged file; no points; NaN/Inf coordinates;
            fewer than :data:`MIN_POINTS` points; a height outside 0.5-2.5 m in the units used.
    """
    path = Path(path)
    units = "auto" if units is None else str(units).lower()
    if units not in UNIT_CHOICES:
        raise InputError(f"unknown unit {units!r} for {path}", hint="pass --units m, cm, mm, in or auto")
    up = str(up).lower()
    if up not in UP_CHOICES:
        raise InputError(
            f"unknown up axis {up!r} for {path}",
            hint="pass --up auto (detect), y (canonical), z (Blender-style), -y, -z, x or -x",
        )
    if not path.exists():
        raise InputError(f"{path}: file not found", hint="check the path (and the current folder)")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a scan file", hint=f"pass one scan file ({', '.join(SUPPORTED)})")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)", hint="the export or copy probably failed; export the scan again")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise InputError(f"{path}: permission denied (the file cannot be read)",
                         hint="ask its owner for read access, or copy it somewhere you can read") from None
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(
            f"{path}: unsupported scan format {suffix or '(no suffix)'!r}",
            hint=f"export the scan as one of: {', '.join(SUPPORTED)}",
        )

    thinned = _read_large(path, suffix)
    n_file = None
    if thinned is not None:
        points, normals, colors, n_file, every = thinned
        faces, comments = None, _file_comments(path, suffix)
    elif suffix in MESH_SUFFIXES:
        points, faces, normals, comments, colors = _read_trimesh(path, suffix)
    elif suffix in NPZ_SUFFIXES:
        points, faces, normals, comments = _read_npz(path)
        colors = None
    else:
        points, faces, normals, comments = _read_point_list(path)
        colors = None

    points = np.asarray(points, dtype=np.float64)
    if points.size % 3 or (points.ndim == 2 and points.shape[1] != 3):
        raise InputError(f"{path}: its vertices are not (x, y, z) triples ({points.size} numbers, shape {points.shape})",
                         hint=f"the file is damaged or not really {suffix[1:].upper()}; export the scan again")
    points = points.reshape(-1, 3)
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

    if up == "auto":
        up, up_method = detect_up(points)
    else:
        up_method = "given"
    rotation = UP_ROTATIONS[up]
    points = points @ rotation.T
    if normals is not None:
        normals = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
        if normals.shape == points.shape:
            normals = normals @ rotation.T
    raw_height = _robust_height(points)
    detected = detect_units(raw_height)
    if units == "auto":
        if detected is None:
            _check_height(path, points, None, up, raw_height)  # raises, explaining why
        used = detected
    else:
        used = units
    points = points * UNIT_SCALE[used]
    _check_height(path, points, used, up, raw_height * UNIT_SCALE[used])

    if normals is not None:
        if normals.shape != points.shape or not np.isfinite(normals).all():
            normals = None
        else:
            length = np.linalg.norm(normals, axis=1, keepdims=True)
            normals = np.where(length > 0, normals / np.maximum(length, 1e-12), 0.0)

    if colors is not None and (colors.shape != (len(points), 3)):
        colors = None
    return Scan(
        colors=colors,
        points=points.astype(np.float32),
        faces=faces,
        normals=None if normals is None else normals.astype(np.float32),
        path=path,
        sha256=file_sha256(path),
        units=used,
        units_given=units in UNIT_SCALE,
        up=up,
        comments=comments,
        rotation=rotation.copy(),
        metadata={
            "format": suffix[1:],
            "n_faces": 0 if faces is None else int(len(faces)),
            "n_points_file": int(n_file if n_file is not None else len(points)),
            "thinned_every": int(every) if thinned is not None else None,
            "height_m": round(raw_height * UNIT_SCALE[used], 4),
            "height_file_units": round(raw_height, 4),
            "units_detected": detected,
            "units_source": "given" if units in UNIT_SCALE else "detected",
            "up_method": up_method,
        },
    )


# --- detection -------------------------------------------------------------------------------
def _robust_height(points: np.ndarray) -> float:
    """Extent along +Y (file units) ignoring far stray points: points more than 10 % of the
    central 99 % range beyond it are left out."""
    y = points[:, 1]
    lo, hi = np.percentile(y, [0.5, 99.5])
    r = max(hi - lo, 1e-12)
    keep = y[(y >= lo - 0.1 * r) & (y <= hi + 0.1 * r)]
    return float(np.ptp(keep)) if len(keep) else float(np.ptp(y))


def detect_units(height: float) -> str | None:
    """The unit ("m", "in", "cm", "mm") a body ``height`` (file units) is read in, or None: the
    one of :data:`DETECT_RANGES` it falls in (the ranges do not overlap)."""
    for u, (lo, hi) in DETECT_RANGES.items():
        if lo <= height <= hi:
            return u
    return None


def detect_up(points: np.ndarray, sample: int = 200_000, seed: int = 0) -> tuple[str, str]:
    """Which file axis points up, sign included.

    Args:
        points: (N, 3) float, the file's own units and axes (any units: the tests are ratios).

    Returns:
        (label, method): label one of :data:`UP_ROTATIONS`; method "floor" (the normal of a
        floor/turntable plane at one end of an axis), "extent" (the only long axis) or
        "asymmetry" (of two long axes, the one the body is not mirror-symmetric along), with
        the sign from which end is wider (feet) in the last two.
    """
    p = np.asarray(points, dtype=np.float64)
    if len(p) > sample:
        p = p[np.random.default_rng(seed).choice(len(p), sample, replace=False)]
    lo, hi = np.percentile(p, 0.5, axis=0), np.percentile(p, 99.5, axis=0)
    ext = np.maximum(hi - lo, 1e-12)
    emax = float(ext.max())
    names = "xyz"
    # 1. a floor or turntable: a thin, dense, wide slab at one end of an axis
    best = None
    for a in range(3):
        others = [i for i in range(3) if i != a]
        for sign, end in ((1, lo[a]), (-1, hi[a])):
            slab = p[np.abs(p[:, a] - end) < 0.012 * emax]
            if len(slab) < 0.04 * len(p):
                continue
            spread = np.percentile(slab[:, others], 95, axis=0) - np.percentile(slab[:, others], 5, axis=0)
            area = float(spread[0] * spread[1]) / emax**2
            if area > 0.12 and (best is None or len(slab) > best[0]):
                best = (len(slab), a, sign)
    if best is not None:
        _, a, sign = best
        return ("" if sign > 0 else "-") + names[a], "floor"
    # 2. the long axis; a T-pose has two (height and arm span): the body is mirror-symmetric
    # left-right, not head-to-feet
    cand = [a for a in range(3) if ext[a] >= 0.75 * emax]
    if len(cand) == 1:
        a, method = cand[0], "extent"
    else:
        def asym(axis):
            h, _ = np.histogram(p[:, axis], bins=40, range=(lo[axis], hi[axis]))
            return float(np.abs(h - h[::-1]).sum()) / max(1, h.sum())

        a, method = max(cand, key=asym), "asymmetry"
    # sign: the feet end (two feet, apart) is wider than the head end
    others = [i for i in range(3) if i != a]

    def end_area(end):
        slab = p[np.abs(p[:, a] - end) < 0.06 * ext[a]]
        if len(slab) < 10:
            return 0.0
        spread = np.percentile(slab[:, others], 98, axis=0) - np.percentile(slab[:, others], 2, axis=0)
        return float(spread[0] * spread[1])

    sign = 1 if end_area(lo[a]) >= end_area(hi[a]) else -1
    return ("" if sign > 0 else "-") + names[a], method


# --- checks ----------------------------------------------------------------------------------
def _check_height(path: Path, points_m: np.ndarray, units: str | None, up: str, height: float) -> None:
    """Refuse a scan whose height along +Y (``height``, metres in the unit used; robust to stray
    points) is implausible for a whole body, saying why and what to pass. ``units`` is the unit
    given, or None where no unit was given and none fits (``height`` is then in file units)."""
    lo, hi = HEIGHT_RANGE_M
    if lo <= height <= hi:
        return
    used = units or "m"
    raw = height / UNIT_SCALE[used]  # height in the file's own units
    plausible = detect_units(raw)
    extents = np.ptp(points_m, axis=0)
    other = int(np.argmax([extents[0], 0.0, extents[2]]))
    up_hint = "pass --up auto to detect the up axis, or name it (--up y, z, -y, -z, x, -x)"
    if units is None:
        msg = f"{path}: scan is {raw:.4g} units tall"
        if float(extents[other]) > 2 * height:
            raise InputError(
                f"{msg} along the up axis ({up}) but {float(extents[other]) / UNIT_SCALE[used]:.4g} along another: "
                "it looks like it was saved with a different up axis",
                hint=up_hint,
            )
        raise InputError(
            f"{msg} along the up axis ({up}); a whole body is detected at "
            + ", ".join(f"{a:g}-{b:g} in {UNIT_WORDS[u]}" for u, (a, b) in DETECT_RANGES.items()),
            hint="check that the file holds one whole standing body, and pass --units and --up to match it",
        )
    msg = f"{path}: scan is {height:.3g} m tall with --units {used} ({raw:.4g} {used}), outside {lo}-{hi} m"
    if plausible and plausible != used:
        raise InputError(f"{msg}: it looks like {UNIT_WORDS[plausible]}", hint=f"pass --units {plausible} (or --units auto)")
    if float(extents[other]) > 2 * height:
        raise InputError(f"{msg}; another axis is {float(extents[other]):.3g} m", hint=up_hint)
    raise InputError(msg, hint="check that the file holds one whole standing body and the units are right")


# --- readers ---------------------------------------------------------------------------------
# --- large scans, thinned as they are read ----------------------------------------------------
_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def _read_large(path: Path, suffix: str):
    """(points (M, 3) float64, normals or None, colours (M, 3) uint8 or None, points in the file,
    k) for a scan of more than :data:`MAX_READ_POINTS` points, every k-th point read; None for a
    smaller scan or a layout read the ordinary way (PLY lists in the vertex element, GLB...).

    Binary PLY is mapped (:func:`numpy.memmap`) and sliced; ASCII PLY, OBJ and point lists are read
    in blocks of :data:`READ_BLOCK_BYTES`, only the kept lines parsed. Memory stays in proportion
    to the points kept, not to the file. Faces are not read (the fit uses points)."""
    if suffix == ".ply":
        return _read_large_ply(path)
    if path.stat().st_size <= LARGE_TEXT_BYTES:
        return None
    if suffix == ".obj":
        return _read_large_text(path, lambda line: line.startswith(b"v "), 2)
    if suffix in POINT_SUFFIXES:
        return _read_large_text(path, lambda line: bool(line.strip()) and not line.lstrip().startswith(b"#"), 0)
    return None


def _ply_header(path: Path):
    """(format, [(element, count, [(type, name)] with None for a list)], data offset), or None."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    end = head.find(b"end_header")
    nl = head.find(b"\n", end) if end >= 0 else -1
    if not head.startswith(b"ply") or nl < 0:
        return None
    fmt, elements = None, []
    for line in head[:end].decode("ascii", "replace").splitlines():
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "format":
                fmt = parts[1]
            elif parts[0] == "element":
                elements.append((parts[1], int(parts[2]), []))
            elif parts[0] == "property" and elements:
                elements[-1][2].append(None if parts[1] == "list" else (parts[1], parts[-1]))
        except (IndexError, ValueError):
            return None
    return fmt, elements, nl + 1


def _read_large_ply(path: Path):
    head = _ply_header(path)
    if head is None:
        return None
    fmt, elements, offset = head
    if not elements or elements[0][0] != "vertex" or elements[0][1] <= MAX_READ_POINTS:
        return None
    _, n, props = elements[0]
    names = [p[1] for p in props if p is not None]
    if None in props or not {"x", "y", "z"} <= set(names) or any(p[0] not in _PLY_TYPES for p in props):
        return None
    every = -(-n // MAX_READ_POINTS)
    if fmt in ("binary_little_endian", "binary_big_endian"):
        order = "<" if fmt == "binary_little_endian" else ">"
        dtype = np.dtype([(name, order + _PLY_TYPES[t]) for t, name in props])
        have = path.stat().st_size - offset
        if have < n * dtype.itemsize:
            raise InputError(
                f"{path}: truncated: its header promises {n} vertices ({n * dtype.itemsize} bytes), the file holds "
                f"{max(have, 0)} bytes after it",
                hint="the export or copy did not finish; export the scan again")
        rows = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(n,))[::every]
        cols = {name: np.array(rows[name]) for name in names}
        del rows
    elif fmt == "ascii":
        table = _read_large_ascii_ply(path, offset, n, len(props), every)
        cols = {name: table[:, i] for i, name in enumerate(names)}
    else:
        return None
    return _columns(cols, n, every)


def _columns(cols: dict, n: int, every: int):
    points = np.stack([cols["x"], cols["y"], cols["z"]], axis=1).astype(np.float64)
    normals = (np.stack([cols["nx"], cols["ny"], cols["nz"]], axis=1).astype(np.float64)
               if {"nx", "ny", "nz"} <= set(cols) else None)
    colors = None
    if {"red", "green", "blue"} <= set(cols):
        c = np.stack([cols["red"], cols["green"], cols["blue"]], axis=1).astype(np.float64)
        colors = np.clip(c * (255.0 if c.max(initial=0) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return points, normals, colors, int(n), int(every)


def _blocks(fh, start: bytes = b""):
    """The rest of ``fh`` in blocks of about :data:`READ_BLOCK_BYTES`, each ending at a line end."""
    carry = start
    while True:
        chunk = fh.read(READ_BLOCK_BYTES)
        if not chunk:
            if carry:
                yield carry
            return
        chunk = carry + chunk
        cut = chunk.rfind(b"\n")
        if cut < 0:
            carry = chunk
            continue
        yield chunk[: cut + 1]
        carry = chunk[cut + 1:]


def _parse_rows(path: Path, lines: list, ncols: int, skip: int) -> np.ndarray:
    """(len(lines), ncols or 3) float64 from text lines of numbers (``skip`` leading bytes dropped,
    commas and semicolons as spaces); InputError naming a line that is not numbers."""
    body = b"\n".join(ln[skip:] if skip else ln for ln in lines).replace(b",", b" ").replace(b";", b" ")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = np.fromstring(body.decode("ascii", "replace"), dtype=np.float64, sep=" ")
    if ncols >= 3 and values.size == len(lines) * ncols:
        return values.reshape(len(lines), ncols)
    rows = []
    for ln in lines:
        parts = ln[skip:].replace(b",", b" ").replace(b";", b" ").split()
        try:
            rows.append([float(x) for x in parts[:3]])
            if len(parts) < 3:
                raise ValueError
        except ValueError:
            raise InputError(f"{path}: a point line is not x y z numbers: {ln.strip()[:60].decode('ascii', 'replace')!r}",
                             hint="a scan has one 'x y z' line per point; export the scan again") from None
    return np.asarray(rows, dtype=np.float64)


def _read_large_ascii_ply(path: Path, offset: int, n: int, ncols: int, every: int) -> np.ndarray:
    out, seen = [], 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        for block in _blocks(fh):
            lines = block.split(b"\n")[:-1]
            keep = lines[(-seen) % every: max(0, n - seen): every]
            seen += len(lines)
            if keep:
                out.append(_parse_rows(path, keep, ncols, 0))
            if seen >= n:
                break
    if seen < n:
        raise InputError(f"{path}: truncated: its header promises {n} vertices, the file holds {seen} lines",
                         hint="the export or copy did not finish; export the scan again")
    return np.concatenate(out) if out else np.zeros((0, ncols))


def _is_number_line(line: bytes) -> bool:
    parts = line.replace(b",", b" ").replace(b";", b" ").split()
    try:
        float(parts[0])
        return True
    except (IndexError, ValueError):
        return False


def _read_large_text(path: Path, is_point, skip: int):
    """OBJ ``v`` lines (``skip`` 2) or point-list lines (``skip`` 0, a header line allowed before
    the first number), every k-th kept; None when the file holds at most MAX_READ_POINTS points
    (as estimated from its first block: an OBJ whose faces follow its vertices is thinned a little
    more than it needs)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:  # k from the first block's points per byte (no counting pass)
        first = next(_blocks(fh, b"\n"), b"")
    per_byte = (first.count(b"\nv ") if skip else first.count(b"\n") - first.count(b"\n#") - first.count(b"\n\n")) \
        / max(len(first), 1)
    n = int(per_byte * size * 1.02)  # 2 % spare for lines of uneven length
    if n <= MAX_READ_POINTS:
        return None
    every = -(-n // MAX_READ_POINTS)
    out, seen, first_block = [], 0, True
    with open(path, "rb") as fh:
        for block in _blocks(fh):
            n_lines = block.count(b"\n")
            if skip:  # OBJ: a block of v lines only (the usual: vertices first) needs no filtering
                n_v = block.count(b"\nv ") + block.startswith(b"v ")
                pure = n_v == n_lines
                if not n_v:
                    continue
            else:
                pure = b"#" not in block and b"\n\n" not in block and not block.startswith(b"\n")
            lines = block.split(b"\n")[:-1] if pure else [ln for ln in block.split(b"\n") if is_point(ln)]
            if first_block and not skip:
                while lines and not _is_number_line(lines[0]):  # "x y z" and other header lines
                    lines.pop(0)
                first_block = False
            keep = lines[(-seen) % every:: every]
            seen += len(lines)
            if keep:
                ncols = len(keep[0][skip:].replace(b",", b" ").replace(b";", b" ").split())
                out.append(_parse_rows(path, keep, ncols, skip)[:, :3])
    points = np.concatenate(out) if out else np.zeros((0, 3))
    return points, None, None, int(seen), int(every)


def _read_trimesh(path: Path, suffix: str):
    """Points, faces, normals, comments, colours from a mesh/scene file via trimesh; a file that
    trimesh cannot make sense of, while loading or after (its arrays are built lazily), is an
    InputError."""
    import trimesh

    try:
        obj = trimesh.load(path, process=False, maintain_order=True)
        return _trimesh_arrays(trimesh, obj, path, suffix)
    except InputError:
        raise
    except Exception as exc:  # trimesh raises many kinds on damaged input
        raise InputError(
            f"{path}: could not be read as {suffix[1:].upper()} ({type(exc).__name__}: {exc})",
            hint="the file is damaged, truncated or not really this format; export the scan again",
        ) from None


def _trimesh_arrays(trimesh, obj, path: Path, suffix: str):
    comments = _file_comments(path, suffix)
    if isinstance(obj, trimesh.Scene):
        points, faces = _flatten_scene(obj)
        normals = None
        if faces is not None and len(faces):
            try:
                normals = trimesh.Trimesh(points, faces, process=False).vertex_normals
            except Exception:
                normals = None
        return points, faces, normals, comments, _scene_colors(obj, len(points))
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
    return points, faces, normals, comments, _visual_colors(obj, len(points))


def _visual_colors(geom, n: int) -> np.ndarray | None:
    """(n, 3) uint8 sRGB per-vertex colour of a trimesh geometry: its vertex colours, or its
    base-colour texture sampled at each vertex's UV; None when it has no colour."""
    try:
        colors = getattr(geom, "colors", None)  # PointCloud
        if colors is not None and len(colors) == n and n:
            c = np.asarray(colors)
        else:
            visual = getattr(geom, "visual", None)
            kind = getattr(visual, "kind", None)
            if kind == "texture":
                c = np.asarray(visual.to_color().vertex_colors)
            elif kind in ("vertex", "face"):
                c = np.asarray(visual.vertex_colors)
            else:
                return None
    except Exception:  # a texture trimesh cannot sample (missing image): no colour, not an error
        return None
    if c.ndim != 2 or len(c) != n or c.shape[1] < 3:
        return None
    return np.ascontiguousarray(c[:, :3], dtype=np.uint8)


def _scene_colors(scene, n: int) -> np.ndarray | None:
    """Colours of :func:`_flatten_scene`'s points, in its order; None unless every part has some."""
    parts = []
    for node in scene.graph.nodes_geometry:
        _, name = scene.graph[node]
        geom = scene.geometry.get(name)
        k = len(getattr(geom, "vertices", ()))
        if not k:
            continue
        c = _visual_colors(geom, k)
        if c is None:
            return None
        parts.append(c)
    if not parts:
        return None
    out = np.concatenate(parts)
    return out if len(out) == n else None


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
    """XYZ/TXT/PTS/CSV: one point per line, x y z first (spaces, tabs, commas or semicolons),
    ``#`` comments, an optional header line. Extra columns (normals, colours) are ignored.

    Millions of lines are parsed in one vectorised pass (:func:`numpy.fromstring`); only a file
    whose lines do not all hold the same number of values falls back to a line-by-line reader,
    which names the first bad line."""
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: is not a text point list (it holds binary data)",
            hint="a point list has one 'x y z' line per point; export the scan as PLY or XYZ text",
        ) from None
    comments = _file_comments(path, path.suffix.lower())
    fast = _parse_points_fast(text)
    if fast is not None:
        return fast, None, None, comments
    return _parse_points_slow(path, text), None, None, comments


def _parse_points_fast(text: str) -> np.ndarray | None:
    """(N, 3) float64 from a uniform numeric table, or None when the slow reader must look."""
    # skip leading comment, blank and header lines (at most a few)
    pos = 0
    ncols = 0
    for _ in range(64):
        end = text.find("\n", pos)
        line = text[pos : len(text) if end < 0 else end]
        s = line.split("#", 1)[0].strip().replace(",", " ").replace(";", " ")
        if s:
            try:
                ncols = len([float(x) for x in s.split()])
                break
            except ValueError:
                pass  # a header such as "x y z"
        if end < 0:
            return np.zeros((0, 3))
        pos = end + 1
    if ncols < 3:
        return None
    body = text[pos:]
    if "#" in body:
        return None
    if "," in body or ";" in body:
        body = body.replace(",", " ").replace(";", " ")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = np.fromstring(body, dtype=np.float64, sep=" ")
    raw = np.frombuffer(body.encode("ascii", errors="replace"), dtype=np.uint8)
    nonspace = np.cumsum(raw > 32)
    newlines = np.flatnonzero(raw == 10)
    ends = np.concatenate([newlines, [len(raw) - 1]]) if len(raw) else np.zeros(0, dtype=np.int64)
    counts = np.diff(np.concatenate([[0], nonspace[ends]])) if len(raw) else np.zeros(0)
    n_lines = int((counts > 0).sum())
    if values.size != n_lines * ncols:
        return None
    return values.reshape(n_lines, ncols)[:, :3]


def _parse_points_slow(path: Path, text: str) -> np.ndarray:
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
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


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


# --- cleaning --------------------------------------------------------------------------------
@dataclass
class CleanSettings:
    """Knobs of :func:`clean_scan`. Lengths are metres (canonical frame)."""

    remove_floor: bool = True
    """find and remove a floor or turntable plane under the feet."""
    floor_band: float = 0.15
    """the plane is searched among points this far above the scan's lowest point."""
    floor_min_fraction: float = 0.03
    """a plane needs at least this share of all points to count as a floor."""
    floor_min_area: float = 0.25
    """... and to spread over at least this many square metres (feet cover ~0.1 m^2)."""
    floor_tolerance: float = 0.008
    """points closer to the plane than this (and every point below it) are removed."""
    remove_clusters: bool = True
    """remove stray clusters away from the body."""
    cluster_voxel: float = 0.04
    """voxel size of the cluster grid."""
    cluster_reach: int = 2
    """voxels this many cells apart are connected (bridges gaps up to ~reach x voxel)."""
    cluster_min_fraction: float = 0.01
    """clusters with fewer points than this share of the largest one are removed."""
    max_points: int = 150_000
    """larger scans are decimated on a voxel grid (one averaged point per cell) to at most this."""
    check_body: bool = True
    """refuse a scan that is not one standing person (:func:`check_standing_body`)."""
    seed: int = 0


def clean_scan(scan: Scan, settings: CleanSettings | None = None) -> Scan:
    """Remove a floor/turntable plane and stray clusters, and decimate a large scan.

    Args:
        scan: a :class:`Scan` (canonical frame, metres).
        settings: :class:`CleanSettings`.

    Returns:
        A new :class:`Scan` (points (M, 3) float32, canonical metres; faces dropped when points
        were removed) with ``floor_y`` set when a floor was found and ``metadata["cleaning"]``:
        ``{"floor": {...} or None, "floor_points", "cluster_points", "clusters_removed",
        "decimated_from", "n_points"}``.

    Raises:
        InputError: fewer than :data:`MIN_POINTS` points are left, or what is left is not one
            standing person (:func:`check_standing_body`).
    """
    cfg = settings or CleanSettings()
    pts = np.asarray(scan.points, dtype=np.float64)
    keep = np.ones(len(pts), dtype=bool)
    report: dict = {"n_points_in": int(len(pts)), "floor": None, "floor_points": 0, "cluster_points": 0,
                    "clusters_removed": 0, "decimated_from": None}
    floor_y = scan.floor_y
    if cfg.remove_floor:
        plane = find_floor(pts, cfg)
        if plane is not None:
            normal, offset, info = plane
            h = pts @ normal - offset  # signed height above the plane
            floor_mask = h < cfg.floor_tolerance
            keep &= ~floor_mask
            report["floor"] = info
            report["floor_points"] = int(floor_mask.sum())
            floor_y = float(info["height_m"])
    if cfg.remove_clusters and keep.sum() > 0:
        idx = np.flatnonzero(keep)
        stray, n_removed = stray_clusters(pts[idx], cfg.cluster_voxel, cfg.cluster_reach, cfg.cluster_min_fraction)
        keep[idx[stray]] = False
        report["cluster_points"] = int(stray.sum())
        report["clusters_removed"] = int(n_removed)
    out = pts[keep]
    normals = None if scan.normals is None else np.asarray(scan.normals)[keep]
    colors = None if scan.colors is None else np.asarray(scan.colors)[keep]
    if len(out) > cfg.max_points:
        report["decimated_from"] = int(len(out))
        out, normals = voxel_decimate(out, cfg.max_points, normals)
        colors = None  # the texture transfer reads the full scan (bodies.appearance.transfer)
    if len(out) < MIN_POINTS:
        raise InputError(
            f"{scan.path}: only {len(out)} points are left after removing the floor and stray clusters",
            hint="check the scan holds a whole body; pass --keep-floor / --keep-clutter to keep every point",
        )
    report["n_points"] = int(len(out))
    if cfg.check_body:
        report["body_check"] = check_standing_body(out, scan.path)
    changed = len(out) != len(pts)
    meta = dict(scan.metadata)
    meta["cleaning"] = report
    meta["height_m"] = round(float(out[:, 1].max() - (floor_y if floor_y is not None else out[:, 1].min())), 4)
    return replace(
        scan,
        points=out.astype(np.float32),
        faces=None if changed else scan.faces,
        normals=None if normals is None else np.asarray(normals, dtype=np.float32),
        floor_y=floor_y,
        metadata=meta,
        colors=colors,
    )


def _spread(xz: np.ndarray, q: float = 2.0) -> float:
    """Width (m) of a horizontal slice along its widest direction: the ``q``-th to (100 - q)-th
    percentile along its principal axis, so a few stray points do not count and the body's
    unknown turn about +Y does not matter."""
    if len(xz) < 10:
        return 0.0
    c = xz - xz.mean(0)
    axis = np.linalg.eigh(np.cov(c.T))[1][:, -1]
    lo, hi = np.percentile(c @ axis, [q, 100.0 - q])
    return float(hi - lo)


def check_standing_body(points: np.ndarray, path=None) -> dict:
    """Refuse points that are not one standing person, before a fit makes a body of them.

    Two tests, on horizontal slices of the cleaned scan (canonical frame, metres):

    - narrow: at 20-50 % of the height (legs and hips, below an A-pose's hands) the middle 70 % of
      no slice (15th-85th percentile of its occupied cells) is wider than 0.38 of the height.
      Measured: random Anny scans 0.13-0.28, two people side by side over 1, two people read
      lying down (a wrong up axis) 0.45-0.5.
    - a head: the top 8 % of the height (the head of a standing person) is at most 0.75 of the
      width at 78-84 % (the shoulders and upper arms); random Anny scans measure 0.39-0.53 (a
      T-pose 0.13), a box or a column about 1.

    Returns:
        ``{"width_to_height": float, "head_to_shoulder": float}``.

    Raises:
        InputError: what was seen (too wide for one person, or no head), naming the file.
    """
    p = np.asarray(points, dtype=np.float64)
    y0, height = float(p[:, 1].min()), float(np.ptp(p[:, 1]))
    where = f"{path}: " if path is not None else ""

    def band(a: float, b: float) -> np.ndarray:
        """The slice seen from above, one point per occupied 1.5 cm cell: surface counts, not
        points (a mesh's fingers hold many vertices, a scanner's near patch many points)."""
        sel = (p[:, 1] >= y0 + a * height) & (p[:, 1] <= y0 + b * height)
        return np.unique(np.floor(p[sel][:, [0, 2]] / 0.015), axis=0) * 0.015

    # proportions: legs and hips (below the hands of an A-pose) are far narrower than tall
    widest, at = max((_spread(band(a, a + 0.1), q=15.0), a) for a in (0.2, 0.3, 0.4))
    if widest > 0.38 * height:
        raise InputError(
            f"{where}this does not look like one standing person: the middle 70 % of it is {100 * widest:.0f} cm "
            f"wide at {100 * (at + 0.05):.0f} % of its {100 * height:.0f} cm height (a person: at most a third of her "
            "height at legs and hips); several people side by side, a body lying down, or a wrong up axis",
            hint="scan one person standing upright; if the up axis was detected wrongly, name it (--up y, z, ...)",
        )
    head, shoulders = _spread(band(0.92, 1.0)), _spread(band(0.78, 0.84))
    ratio = head / shoulders if shoulders > 0 else 1.0
    if ratio > 0.75:
        raise InputError(
            f"{where}this does not look like a standing person: the top of the scan is {100 * head:.0f} cm wide, "
            f"{ratio:.2f} of the {100 * shoulders:.0f} cm at shoulder height (a head is 0.3-0.5 of the shoulders)",
            hint="scan one person standing upright, head up (an object, or a body lying down, cannot be fitted)",
        )
    return {"width_to_height": round(widest / height, 3), "head_to_shoulder": round(ratio, 3)}


def find_floor(points: np.ndarray, settings: CleanSettings | None = None):
    """A floor or turntable plane under the body (canonical frame, metres).

    RANSAC over the points in the lowest ``floor_band``: planes within 15 degrees of horizontal,
    scored by inliers within ``floor_tolerance``; kept when the inliers are many
    (``floor_min_fraction``), spread wide (``floor_min_area``, wider than two feet) and the body
    stands on it (at least 90 % of the points above it).

    Returns:
        None, or (normal (3,) unit, pointing up; offset (plane: normal . p = offset); info dict
        with ``height_m`` (the plane's height under the body's centre), ``tilt_deg``,
        ``inliers``, ``area_m2``).
    """
    cfg = settings or CleanSettings()
    p = np.asarray(points, dtype=np.float64)
    y0 = float(p[:, 1].min())
    band = p[p[:, 1] < y0 + cfg.floor_band]
    if len(band) < cfg.floor_min_fraction * len(p) or len(band) < 50:
        return None
    rng = np.random.default_rng(cfg.seed)
    sample = band[rng.choice(len(band), min(len(band), 4000), replace=False)]
    best = None
    for _ in range(150):
        a, b, c = sample[rng.choice(len(sample), 3, replace=False)]
        n = np.cross(b - a, c - a)
        ln = np.linalg.norm(n)
        if ln < 1e-9:
            continue
        n = n / ln
        if n[1] < 0:
            n = -n
        if n[1] < math.cos(math.radians(15.0)):
            continue
        score = int((np.abs(sample @ n - a @ n) < cfg.floor_tolerance).sum())
        if best is None or score > best[0]:
            best = (score, n, float(a @ n))
    if best is None:
        return None
    _, n, d = best
    # refine on all band inliers (least squares, SVD)
    for _ in range(2):
        inl = band[np.abs(band @ n - d) < cfg.floor_tolerance]
        if len(inl) < 3:
            return None
        c = inl.mean(axis=0)
        _, _, vt = np.linalg.svd(inl - c, full_matrices=False)
        n = vt[-1] if vt[-1][1] > 0 else -vt[-1]
        d = float(c @ n)
    inl = band[np.abs(band @ n - d) < cfg.floor_tolerance]
    spread = np.percentile(inl[:, [0, 2]], 97, axis=0) - np.percentile(inl[:, [0, 2]], 3, axis=0)
    area = float(spread[0] * spread[1])
    above = float((p @ n - d > -cfg.floor_tolerance).mean())
    if len(inl) < cfg.floor_min_fraction * len(p) or area < cfg.floor_min_area or above < 0.9:
        return None
    centre = np.median(p, axis=0)
    height = (d - n[0] * centre[0] - n[2] * centre[2]) / n[1]
    info = {
        "height_m": round(float(height), 5),
        "normal": [round(float(x), 5) for x in n],
        "tilt_deg": round(math.degrees(math.acos(min(1.0, float(n[1])))), 3),
        "inliers": int(len(inl)),
        "area_m2": round(area, 3),
    }
    return n, d, info


def stray_clusters(points: np.ndarray, voxel: float = 0.04, reach: int = 2, min_fraction: float = 0.05):
    """Points in clusters well away from the main body.

    The points are binned on a voxel grid; occupied voxels up to ``reach`` cells apart are
    connected; components holding fewer than ``min_fraction`` of the largest component's points
    are stray.

    Args:
        points: (N, 3) float, metres.

    Returns:
        (stray (N,) bool mask, number of stray components).
    """
    p = np.asarray(points, dtype=np.float64)
    if len(p) == 0:
        return np.zeros(0, dtype=bool), 0
    cells = np.floor((p - p.min(axis=0)) / voxel).astype(np.int64) + reach
    dims = cells.max(axis=0) + reach + 1
    keys = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    ux = uniq // (dims[1] * dims[2])
    uy = (uniq // dims[2]) % dims[1]
    uz = uniq % dims[2]
    rows, cols = [], []
    r = range(-reach, reach + 1)
    for dx in r:
        for dy in r:
            for dz in r:
                if (dx, dy, dz) <= (0, 0, 0):
                    continue  # each pair once
                nk = ((ux + dx) * dims[1] + (uy + dy)) * dims[2] + (uz + dz)
                j = np.searchsorted(uniq, nk)
                j = np.minimum(j, len(uniq) - 1)
                hit = uniq[j] == nk
                rows.append(np.flatnonzero(hit))
                cols.append(j[hit])
    rows = np.concatenate(rows)
    cols = np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(uniq), len(uniq)))
    ncomp, labels = connected_components(graph, directed=False)
    comp_points = np.bincount(labels, weights=counts, minlength=ncomp)
    stray_comp = comp_points < min_fraction * comp_points.max()
    return stray_comp[labels[inverse.reshape(-1)]], int(stray_comp.sum())


#: :func:`voxel_decimate` searches its cell size on a sample of this many times ``max_points``
#: points first (when there are more) ...
DECIMATE_SAMPLE_FACTOR = 3
#: ... aiming there at this share of ``max_points`` cells: a sample of 3x as many points as cells
#: leaves about 5 % of the cells the full set fills empty.
DECIMATE_SAMPLE_TARGET = 0.93


def voxel_decimate(points: np.ndarray, max_points: int, normals: np.ndarray | None = None):
    """Average the points in each cell of a voxel grid, the cell grown until at most
    ``max_points`` remain.

    Args:
        points: (N, 3) float, metres; normals: (N, 3) or None.

    Returns:
        (points (M, 3) float64, normals (M, 3) or None), M <= max_points.
    """
    p = np.asarray(points, dtype=np.float64)
    if len(p) <= max_points:
        return p, normals
    ext = np.ptp(p, axis=0).max()
    size = max(1e-4, ext / 2000.0)
    origin = p.min(axis=0)

    def cells_of(q, size):
        cells = np.floor((q - origin) / size).astype(np.int64)
        dims = cells.max(axis=0) + 1
        return (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]

    if len(p) > DECIMATE_SAMPLE_FACTOR * max_points:
        # search the cell size on a fixed random sample first (each try sorts its keys: on 1.25M
        # points a try cost 0.4 s and it took five), then on all the points from there (one or two)
        sample = p[np.random.default_rng(0).choice(len(p), DECIMATE_SAMPLE_FACTOR * max_points, replace=False)]
        target = int(max_points * DECIMATE_SAMPLE_TARGET)
        while True:
            n = len(np.unique(cells_of(sample, size)))
            if n <= target:
                break
            size *= 1.25 * math.sqrt(n / target) ** 0.5
    while True:
        uniq, inverse = np.unique(cells_of(p, size), return_inverse=True)
        if len(uniq) <= max_points:
            break
        size *= 1.02 * math.sqrt(len(uniq) / max_points)  # a surface's cells go as 1 / size^2
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse, minlength=len(uniq)).astype(np.float64)
    out = np.stack([np.bincount(inverse, weights=p[:, k], minlength=len(uniq)) for k in range(3)], axis=1)
    out /= counts[:, None]
    n_out = None
    if normals is not None:
        nn = np.asarray(normals, dtype=np.float64)
        n_out = np.stack([np.bincount(inverse, weights=nn[:, k], minlength=len(uniq)) for k in range(3)], axis=1)
        n_out /= np.maximum(np.linalg.norm(n_out, axis=1, keepdims=True), 1e-12)
    return out, n_out


__all__ = [
    "Scan", "load_scan", "clean_scan", "CleanSettings", "detect_up", "detect_units", "find_floor",
    "stray_clusters", "voxel_decimate", "UNIT_SCALE", "UP_ROTATIONS", "HEIGHT_RANGE_M", "MIN_POINTS", "SUPPORTED",
]
