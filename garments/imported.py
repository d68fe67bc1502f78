"""Garments made elsewhere: meshes exported from CLO 3D or Marvelous Designer, draped on any twin.

A garment designed in CLO or Marvelous Designer (MD) was sewn and simulated there on the
exporter's own avatar. This module brings its exported mesh in and fits it onto one of our twins:

1. :func:`load_garment_mesh` reads OBJ (one object or group per pattern piece, with UVs and
   materials; CLO and MD write millimetres by default, also centimetres or metres) or GLB/glTF
   (metres), detects the units from the garment's size (a garment is 0.15-2.5 m across) and the up
   axis (Y-up or Z-up), welds the pieces' coincident seam vertices (boundary vertices within
   0.5 mm), drops degenerate and duplicate faces, and keeps per-corner UVs.
2. :func:`align_garment` places it around a twin: with the avatar mesh exported beside it
   (``avatar``), by the transform taking that avatar onto the twin (scale by height, feet on the
   floor, torso centred); otherwise from the garment's bounding box and a region (top, bottom,
   dress, full) mapped to the twin's landmarks. It then widens the garment horizontally, height by
   height, until it clears the twin's girth there, and pushes what is still inside the body out.
3. :func:`drape_imported` drapes it with the Blender cloth job (:mod:`engine.blender.drape_job`)
   in a fabric preset. The cloth's rest lengths are the imported mesh's own (it was sewn in its
   exporter); strain is measured against it. Outputs are those of the other drapes: garment.ply
   (canonical frame, per-vertex ``clearance_mm`` and strain), garment.npz, fit.json (the region
   table of :mod:`garments.fit`), dressed.glb (with the garment's UVs), drape_report.json and
   blender.log. :func:`drape_imported_twin` does the same on a saved twin folder.

Every problem a user can cause (missing, empty, unreadable file, no faces, NaN coordinates, a size
no unit explains) raises :class:`engine.errors.InputError` naming the file, what was wrong and
what to do.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from bodies.model import NAMED_JOINTS
from bodies.scan import UNIT_SCALE, UNIT_WORDS, UP_ROTATIONS
from engine.errors import InputError
from engine.meshio import save_npz_mesh, save_ply
from engine.storage import atomic_path, file_sha256, write_json
from engine.types import PathLikeStr

from .clearance import BodyDistance, closest_points
from .settings import MAX_FRAMES
from .dress import GRAVITY_RAMP_FRAMES, POSE_FRAMES, hand_vertices

_J = {name: i for i, name in enumerate(NAMED_JOINTS)}

#: file suffixes :func:`load_garment_mesh` reads.
SUFFIXES = (".obj", ".glb", ".gltf")
#: a garment's largest extent must fall in this range (metres) in the unit used.
GARMENT_SIZE_M = (0.15, 2.5)
#: the detected unit is the one making the garment closest to this size (log scale), metres.
TYPICAL_SIZE_M = 0.7
#: seam vertices of different pieces closer than this are merged, mm.
WELD_MM = 0.5
#: after welding, a connected part of fewer than this many triangles is a loose bit ...
LOOSE_PART_FACES = 8
#: ... and a mesh with at least :data:`SOUP_MIN_PARTS` loose bits holding more than this
#: fraction of its triangles is a triangle soup that stayed one (its triangles share no corners
#: within the weld distance): it cannot hang as cloth, its pieces fall apart (a soup draped as is
#: ended 7.1 m from the body). A real export's labels and buttons are a few loose parts holding a
#: small share of the triangles; a two-triangle patch is one part.
SOUP_LOOSE_FRACTION = 0.1
SOUP_MIN_PARTS = 10
#: regions :func:`align_garment` knows.
REGIONS = ("top", "bottom", "dress", "full")
#: avatar height assumed when guessing the region of a garment without its avatar, metres.
ASSUMED_AVATAR_HEIGHT_M = 1.7
#: start clearance the placement aims for (cloth to body), metres.
START_CLEARANCE_M = 0.01
#: a start vertex closer to the body than this is pushed out (to START_CLEARANCE_M), metres.
MIN_START_CLEARANCE_M = 0.006
#: the horizontal widening never exceeds this factor.
MAX_WIDEN = 1.6
#: the imported mesh's rest lengths are used when they differ from the start shape's by more than this.
REST_LENGTH_TOLERANCE = 0.002


# --- the imported garment ----------------------------------------------------------------------
@dataclass
class ImportedGarment:
    """A garment mesh read from a CLO / Marvelous Designer export, welded, in metres.

    Attributes:
        name: the file's stem, e.g. "dress" for dress.obj.
        vertices: (V, 3) float32, metres, canonical frame (+Y up), the file's own placement; also
            the cloth's rest shape.
        faces: (F, 3) int64 triangles (polygons fan-triangulated).
        face_uv: (F, 3, 2) float32 texture coordinates of each face corner, or None when the file
            has none (per corner, so the pieces keep their own UVs across the welded seams).
        piece: (V,) int32 index into ``pieces`` of the piece each vertex came from (a welded seam
            vertex belongs to the first).
        pieces: piece names (OBJ groups/objects, glTF nodes).
        materials: material names in the file (OBJ ``usemtl``, glTF materials).
        info: how the file was read: path, sha256, format, units (+ how they were found), up axis
            (+ how), vertex and face counts in the file, vertices merged by welding, faces dropped,
            connected parts before and after welding, whether it has UVs.
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    face_uv: np.ndarray | None
    piece: np.ndarray
    pieces: list
    materials: list
    info: dict = field(default_factory=dict)

    @property
    def num_vertices(self) -> int:
        return len(self.vertices)

    def components(self) -> int:
        """Number of connected parts of the welded mesh."""
        return _components(len(self.vertices), self.faces)


def _components(n: int, faces: np.ndarray) -> int:
    f = np.asarray(faces, np.int64)
    if not len(f):
        return n
    return int(len(_part_face_counts(n, f)))


def _part_face_counts(n: int, faces: np.ndarray) -> np.ndarray:
    """(P,) int64 number of triangles in each connected part of a mesh of ``n`` vertices and
    (F, 3) ``faces`` (parts without faces are not counted)."""
    f = np.asarray(faces, np.int64)
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    counts = np.bincount(lab[f[:, 0]], minlength=lab.max() + 1)
    return counts[counts > 0]


# --- readers -----------------------------------------------------------------------------------
def _read_obj(path: Path):
    """Vertices (N, 3) float64, faces (F, 3) int64, face_uv (F, 3, 2) or None, face piece (F,),
    piece names, material names, from a Wavefront OBJ. Polygons are fan-triangulated; negative
    (relative) indices are resolved."""
    verts: list = []
    uvs: list = []
    tris: list = []
    tri_uv: list = []
    tri_piece: list = []
    pieces: dict[str, int] = {}
    materials: dict[str, int] = {}
    obj_name = grp_name = None
    uv_complete = True
    try:
        fh = open(path, "r", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: could not be opened ({exc.strerror})", hint="check the file's permissions") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            tag = parts[0]
            try:
                if tag == "v":
                    verts.append((float(parts[1]), float(parts[2]), float(parts[3])))
                elif tag == "vt":
                    uvs.append((float(parts[1]), float(parts[2]) if len(parts) > 2 else 0.0))
                elif tag == "f":
                    corners = []
                    for tok in parts[1:]:
                        a = tok.split("/")
                        vi = int(a[0])
                        vi = vi - 1 if vi > 0 else len(verts) + vi
                        ti = None
                        if len(a) > 1 and a[1]:
                            ti = int(a[1])
                            ti = ti - 1 if ti > 0 else len(uvs) + ti
                        corners.append((vi, ti))
                    if len(corners) < 3:
                        continue
                    key = grp_name or obj_name or "garment"
                    pid = pieces.setdefault(key, len(pieces))
                    for k in range(1, len(corners) - 1):
                        c = (corners[0], corners[k], corners[k + 1])
                        tris.append((c[0][0], c[1][0], c[2][0]))
                        if any(t is None for _, t in c):
                            uv_complete = False
                        else:
                            tri_uv.append((c[0][1], c[1][1], c[2][1]))
                        tri_piece.append(pid)
                elif tag == "o":
                    obj_name, grp_name = " ".join(parts[1:]) or None, None
                elif tag == "g":
                    grp_name = " ".join(parts[1:]) or None
                elif tag == "usemtl" and len(parts) > 1:
                    materials.setdefault(" ".join(parts[1:]), len(materials))
            except (ValueError, IndexError):
                raise InputError(
                    f"{path}: line {lineno} is not valid OBJ ({line.strip()[:60]!r})",
                    hint="the file is damaged or truncated; export the garment again",
                ) from None
    v = np.asarray(verts, np.float64).reshape(-1, 3)
    f = np.asarray(tris, np.int64).reshape(-1, 3)
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise InputError(f"{path}: faces refer to vertices that do not exist (index {int(f.max()) + 1} of {len(v)})",
                         hint="the file is damaged or truncated; export the garment again")
    face_uv = None
    if uvs and uv_complete and len(f):
        t = np.asarray(tri_uv, np.int64)
        if t.min() >= 0 and t.max() < len(uvs):
            face_uv = np.asarray(uvs, np.float64)[t]
    names = sorted(pieces, key=pieces.get)
    return v, f, face_uv, np.asarray(tri_piece, np.int32), names, sorted(materials, key=materials.get)


def _read_gltf(path: Path):
    """The same as :func:`_read_obj` from a GLB/glTF scene (every mesh node, its transform
    applied; one piece per node)."""
    import trimesh

    try:
        scene = trimesh.load(path, force="scene", process=False)
    except Exception as exc:  # trimesh raises many kinds on damaged input
        raise InputError(
            f"{path}: could not be read as {path.suffix[1:].upper()} ({type(exc).__name__}: {exc})",
            hint="the file is damaged, truncated or not really this format; export the garment again",
        ) from None
    vs, fs, uvs, piece, names, mats = [], [], [], [], [], []
    offset = 0
    any_uv, all_uv = False, True
    for node in scene.graph.nodes_geometry:
        transform, gname = scene.graph[node]
        geom = scene.geometry.get(gname)
        v = np.asarray(getattr(geom, "vertices", np.zeros((0, 3))), np.float64).reshape(-1, 3)
        f = getattr(geom, "faces", None)
        if not len(v):
            continue
        T = np.asarray(transform, np.float64)
        v = v @ T[:3, :3].T + T[:3, 3]
        f = np.zeros((0, 3), np.int64) if f is None else np.asarray(f, np.int64).reshape(-1, 3)
        visual = getattr(geom, "visual", None)
        uv = getattr(visual, "uv", None) if visual is not None and getattr(visual, "kind", None) == "texture" else None
        if uv is not None and len(uv) == len(v):
            any_uv = True
            uvs.append(np.asarray(uv, np.float64)[f])
        else:
            all_uv = False
            uvs.append(np.zeros((len(f), 3, 2)))
        mat = getattr(getattr(visual, "material", None), "name", None)
        if mat and mat not in mats:
            mats.append(mat)
        piece.append(np.full(len(f), len(names), np.int32))
        names.append(str(node))
        vs.append(v)
        fs.append(f + offset)
        offset += len(v)
    if not vs:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), None, np.zeros(0, np.int32), [], []
    face_uv = np.concatenate(uvs) if any_uv and all_uv else None
    return np.concatenate(vs), np.concatenate(fs), face_uv, np.concatenate(piece), names, mats


# --- detection ---------------------------------------------------------------------------------
def _extent(points: np.ndarray) -> np.ndarray:
    """(3,) robust extent of points along each axis (0.2-99.8 percentile), file units."""
    lo, hi = np.percentile(points, [0.2, 99.8], axis=0)
    return hi - lo


def detect_garment_units(size: float, prefer: str = "mm") -> str | None:
    """The unit ("m", "cm", "mm") in which a garment whose largest extent is ``size`` (file
    units) is 0.15-2.5 m across, the one nearest a typical 0.7 m when two fit (ties go to
    ``prefer``); None if none fits."""
    lo, hi = GARMENT_SIZE_M
    fits = [u for u in ("m", "cm", "mm") if lo <= size * UNIT_SCALE[u] <= hi]
    if not fits:
        return None
    return min(fits, key=lambda u: (abs(math.log(size * UNIT_SCALE[u] / TYPICAL_SIZE_M)), u != prefer))


def detect_garment_up(points_m: np.ndarray) -> tuple[str, str]:
    """Whether a garment (file axes, metres) is Y-up ("y") or Z-up ("z"), and how that was found.

    Exporters place a garment on their avatar, who stands on the floor at the origin: along the up
    axis the garment sits well above zero, along the depth axis it is centred near zero
    ("position"). Otherwise a worn garment is shallower front to back than it is tall or wide
    ("extent": of file Y and Z, the smaller extent is the depth). When neither tells, Y ("default").
    """
    p = np.asarray(points_m, np.float64)
    lo, hi = np.percentile(p, [0.2, 99.8], axis=0)
    mid, ext = (lo + hi) / 2, hi - lo
    y_up = mid[1] > 0.25 and lo[1] > -0.05 and abs(mid[2]) < 0.2
    z_up = mid[2] > 0.25 and lo[2] > -0.05 and abs(mid[1]) < 0.2
    if y_up != z_up:
        return ("y" if y_up else "z"), "position"
    if ext[1] < ext[2] / 1.15:
        return "z", "extent"
    if ext[2] < ext[1] / 1.15:
        return "y", "extent"
    return "y", "default"


def _check_file(path: Path, what: str, suffixes) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found", hint="check the path (and the current folder)")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a {what} file", hint=f"pass one file ({', '.join(suffixes)})")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)", hint=f"the export or copy probably failed; export the {what} again")


# --- welding -----------------------------------------------------------------------------------
def boundary_vertices(faces: np.ndarray) -> np.ndarray:
    """Sorted indices of the vertices on an open edge (an edge used by one triangle only)."""
    f = np.asarray(faces, np.int64)
    e = np.sort(f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    uniq, count = np.unique(e, axis=0, return_counts=True)
    return np.unique(uniq[count == 1])


def weld(vertices: np.ndarray, faces: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Merge boundary vertices closer than ``tolerance`` (the seams of pieces exported unwelded).

    Only vertices on open edges are merged, so two layers of cloth that touch inside a piece stay
    apart. A merged vertex sits at the mean of its group.

    Args:
        vertices: (V, 3) float, any length unit; faces: (F, 3) int; tolerance: same unit.

    Returns:
        (vertices (V', 3), faces (F, 3) re-indexed, old -> new index (V,) int64, vertices merged).
    """
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    remap = np.arange(len(v))
    bnd = boundary_vertices(f) if len(f) else np.zeros(0, np.int64)
    merged = 0
    if len(bnd) > 1:
        pairs = cKDTree(v[bnd]).query_pairs(float(tolerance), output_type="ndarray")
        if len(pairs):
            g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(bnd), len(bnd)))
            _, lab = connected_components(g, directed=False)
            # every group's representative: its smallest vertex index
            rep = np.full(lab.max() + 1, np.iinfo(np.int64).max)
            np.minimum.at(rep, lab, bnd)
            remap[bnd] = rep[lab]
            merged = int(np.sum(remap[bnd] != bnd))
            # the representative moves to its group's mean
            sums = np.zeros((lab.max() + 1, 3))
            np.add.at(sums, lab, v[bnd])
            counts = np.bincount(lab)
            v = v.copy()
            v[rep] = sums / counts[:, None]
    keep = np.unique(remap)
    new_index = np.full(len(v), -1, np.int64)
    new_index[keep] = np.arange(len(keep))
    old_to_new = new_index[remap]
    return v[keep], old_to_new[f], old_to_new, merged


def _clean_faces(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Mask (F,) of faces to keep: not degenerate (a repeated corner or a zero area) and not a
    duplicate of an earlier face; and the counts of each kind dropped."""
    repeated = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
    t = v[f]
    area2 = np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
    edge = np.linalg.norm(t[:, 1] - t[:, 0], axis=1)
    scale = float(np.median(edge[~repeated])) if (~repeated).any() else 1.0
    flat = area2 <= 1e-6 * scale * scale
    degenerate = repeated | flat
    _, first = np.unique(np.sort(f, axis=1), axis=0, return_index=True)
    dup = np.ones(len(f), bool)
    dup[first] = False
    dup &= ~degenerate
    return ~(degenerate | dup), int(degenerate.sum()), int(dup.sum())


def load_garment_mesh(path: PathLikeStr, units: str | None = None, up: str | None = None,
                      weld_mm: float = WELD_MM) -> ImportedGarment:
    """Read a garment mesh exported from CLO 3D, Marvelous Designer or any 3D tool.

    Args:
        path: an .obj (groups/objects as pieces, ``vt`` UVs, ``usemtl`` materials), .glb or .gltf.
        units: the file's length unit, "mm", "cm" or "m"; None or "auto" detects it from the
            garment's size (0.15-2.5 m across in the right unit).
        up: the file's up axis, "y" (CLO/MD default, glTF) or "z" (Blender-style: facing -Y);
            None or "auto" detects it (:func:`detect_garment_up`).
        weld_mm: boundary vertices closer than this (mm) are merged; 0 turns welding off. A
            triangle soup (every triangle with its own three corners) is welded the same way.

    Returns:
        An :class:`ImportedGarment` in metres, canonical frame, the file's own placement.

    Raises:
        InputError: missing, empty, unreadable or unsupported file; no faces; NaN or Inf
            coordinates; a size no unit explains; an unknown unit or axis; a triangle soup that
            stays disconnected after welding (:data:`SOUP_LOOSE_FRACTION`).
    """
    path = Path(path)
    units = None if units in (None, "auto") else str(units).lower()
    up = None if up in (None, "auto") else str(up).lower()
    if units is not None and units not in UNIT_SCALE:
        raise InputError(f"unknown unit {units!r} for {path}", hint="pass --units mm, cm or m (or leave it out to detect)")
    if up is not None and up not in UP_ROTATIONS:
        raise InputError(f"unknown up axis {up!r} for {path}", hint="pass --up y or --up z (or leave it out to detect)")
    _check_file(path, "garment", SUFFIXES)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{path}: unsupported garment format {suffix or '(no suffix)'!r}",
            hint="export the garment from CLO or Marvelous Designer as OBJ (thin, one object per pattern piece is fine) "
                 "or as GLB/glTF",
        )
    if suffix == ".obj":
        v, f, face_uv, face_piece, pieces, materials = _read_obj(path)
    else:
        v, f, face_uv, face_piece, pieces, materials = _read_gltf(path)
    if len(v) == 0:
        raise InputError(f"{path}: contains no vertices",
                         hint=f"the file is empty or not really {suffix[1:].upper()}; export the garment again")
    bad = ~np.isfinite(v).all(axis=1)
    if bad.any():
        raise InputError(f"{path}: {int(bad.sum())} of {len(v)} vertices have NaN or Inf coordinates",
                         hint="the export is broken; simulate and export the garment again, or delete those vertices in a mesh editor")
    if len(f) == 0:
        raise InputError(f"{path}: has {len(v)} vertices but no faces (a point cloud or lines, not a garment surface)",
                         hint="export the garment as a mesh (OBJ or GLB with its faces), not as points or curves")

    # units and axes
    size = float(_extent(v).max())
    detected = detect_garment_units(size, prefer="m" if suffix in (".glb", ".gltf") else "mm")
    if units is None:
        if detected is None:
            lo, hi = GARMENT_SIZE_M
            raise InputError(
                f"{path}: the garment is {size:.4g} units across; in no unit (mm, cm, m) is that a garment's "
                f"{lo}-{hi} m",
                hint="check that the file holds the garment (not a scene or a single patch); pass --units mm, cm or m "
                     "if it really is that size",
            )
        units, units_source = detected, "detected"
    else:
        units_source = "given"
        lo, hi = GARMENT_SIZE_M
        if not lo <= size * UNIT_SCALE[units] <= hi:
            tip = f"it looks like {UNIT_WORDS[detected]}: pass --units {detected}" if detected else "check the units"
            raise InputError(
                f"{path}: with --units {units} the garment is {size * UNIT_SCALE[units]:.3g} m across, outside "
                f"{GARMENT_SIZE_M[0]}-{GARMENT_SIZE_M[1]} m",
                hint=tip,
            )
    v = v * UNIT_SCALE[units]
    if up is None:
        up, up_method = detect_garment_up(v)
    else:
        up_method = "given"
    v = v @ UP_ROTATIONS[up].T

    # clean and weld
    n_file_v, n_file_f = len(v), len(f)
    components_before = _components(len(v), f)
    keep, degenerate, duplicate = _clean_faces(v, f)
    f, face_piece = f[keep], face_piece[keep]
    face_uv = face_uv[keep] if face_uv is not None else None
    tol = float(weld_mm) / 1000.0
    if tol > 0:
        v, f, old_to_new, merged = weld(v, f, tol)
    else:
        used = np.unique(f)
        old_to_new = np.full(len(v), -1, np.int64)
        old_to_new[used] = np.arange(len(used))
        v, f, merged = v[used], old_to_new[f], 0
    keep2, degenerate2, duplicate2 = _clean_faces(v, f)
    f, face_piece = f[keep2], face_piece[keep2]
    face_uv = face_uv[keep2] if face_uv is not None else None
    used = np.unique(f)
    if len(used) < len(v):
        idx = np.full(len(v), -1, np.int64)
        idx[used] = np.arange(len(used))
        v, f = v[used], idx[f]
    if len(f) < 2:
        raise InputError(f"{path}: only {len(f)} usable faces after dropping degenerate ones",
                         hint="the mesh is broken or collapsed; export the garment again")
    parts = _part_face_counts(len(v), f)
    loose = parts[parts < LOOSE_PART_FACES]
    if len(loose) >= SOUP_MIN_PARTS and loose.sum() > SOUP_LOOSE_FRACTION * len(f):
        welded = (f"after welding corners within {float(weld_mm):g} mm" if tol > 0 else "with welding off (weld_mm 0)")
        raise InputError(
            f"{path}: a triangle soup that stays disconnected {welded}: {int(loose.sum())} of its {len(f)} triangles "
            f"lie in {len(loose)} loose bits of fewer than {LOOSE_PART_FACES} triangles (largest part "
            f"{int(parts.max())} triangles); as cloth it would fall apart",
            hint="export the garment with shared vertices (welded, not 'unwelded' or 'split by face'), or merge its "
                 "vertices by distance in a mesh editor; if its corners are a little apart, weld wider "
                 "(--weld-mm 2)")
    piece = np.full(len(v), np.iinfo(np.int32).max, np.int64)
    for k in range(3):
        np.minimum.at(piece, f[:, k], face_piece.astype(np.int64))
    components_after = int(len(parts))
    ext = np.ptp(v, axis=0)
    info = {
        "path": str(path.resolve()),
        "sha256": file_sha256(path),
        "format": suffix[1:],
        "units": units,
        "units_source": units_source,
        "units_detected": detected,
        "up": up,
        "up_method": up_method,
        "size_m": [round(float(x), 4) for x in ext],
        "vertices_file": int(n_file_v),
        "faces_file": int(n_file_f),
        "vertices": int(len(v)),
        "faces": int(len(f)),
        "welded_vertices": int(merged),
        "weld_mm": float(weld_mm),
        "degenerate_faces_dropped": int(degenerate + degenerate2),
        "duplicate_faces_dropped": int(duplicate + duplicate2),
        "pieces": len(pieces),
        "parts_before_weld": int(components_before),
        "parts_after_weld": int(components_after),
        "uv": face_uv is not None,
        "materials": list(materials),
    }
    return ImportedGarment(
        name=path.stem, vertices=v.astype(np.float32), faces=f.astype(np.int64),
        face_uv=None if face_uv is None else face_uv.astype(np.float32), piece=piece.astype(np.int32),
        pieces=list(pieces), materials=list(materials), info=info,
    )


# --- the exporter's avatar ---------------------------------------------------------------------
@dataclass
class Avatar:
    """The avatar a garment was made on, exported beside it.

    Attributes:
        vertices: (N, 3) float32, metres, canonical frame, the file's own placement.
        units, up: the file's unit and up axis (as found or given).
        path: the file.
    """

    vertices: np.ndarray
    units: str
    up: str
    path: Path


def load_avatar(path: PathLikeStr, units: str | None = None, up: str | None = None) -> Avatar:
    """Read the exporter's avatar (any mesh :func:`bodies.scan.load_scan` reads: OBJ, GLB, PLY, ...).

    Its height (0.5-2.5 m) tells the units and its long axis the up axis more surely than the
    garment does, so :func:`drape_imported_twin` reads the garment with the avatar's when they
    are not given.
    """
    from bodies.scan import load_scan

    try:
        scan = load_scan(path, units=units if units not in (None, "auto") else "auto", up=up if up not in (None, "auto") else "auto")
    except InputError as exc:
        raise InputError(f"--avatar {exc.message}", hint=exc.hint) from None
    return Avatar(vertices=scan.points, units=scan.units, up=scan.up, path=Path(path))


# --- placement ---------------------------------------------------------------------------------
@dataclass
class Placement:
    """Where :func:`align_garment` put the garment.

    Attributes:
        vertices: (V, 3) float32 start shape around the body, metres, canonical frame.
        method: "avatar" (the avatar-to-twin transform) or "landmarks" (bounding box + region).
        region: top, bottom, dress or full; region_source: "given" or "detected".
        anchor: what the garment was hung from ("avatar", "shoulders", "armpits", "waist").
        scale: uniform scale applied first (avatar: twin height / avatar height; else 1).
        translation: (3,) metres, applied after the scale.
        widen: (min, max) horizontal widening factor over the garment's height.
        pushed: vertices moved out of the body after the widening.
        outside_pct: % of start vertices with clearance >= 0.
        clearance_mm: min, 1st percentile and median start clearance, mm.
        lean_m: how far (m, horizontally) the middle of the garment's top 15 % of height sits from
            that of its bottom 15 % as exported: a few cm for a garment exported on an avatar in
            the A-pose or T-pose; more when it was exported on a posed avatar (leaning, dancing),
            which the bounding-box placement cannot undo.
    """

    vertices: np.ndarray
    method: str
    region: str
    region_source: str
    anchor: str
    scale: float
    translation: list
    widen: tuple
    pushed: int
    outside_pct: float
    clearance_mm: dict
    lean_m: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("vertices")
        d["widen"] = [round(float(x), 4) for x in self.widen]
        d["translation"] = [round(float(x), 4) for x in self.translation]
        d["scale"] = round(float(self.scale), 5)
        return d


def torso_centre(vertices: np.ndarray) -> np.ndarray:
    """(3,) point under the middle of a standing body's torso: x and z the centre of the torso
    between 60 % and 72 % of the height (arms left out), y the floor (lowest point), metres.
    Needs no joints, so it applies alike to a twin and to an exporter's avatar."""
    v = np.asarray(vertices, np.float64)
    y0 = float(np.percentile(v[:, 1], 0.1))
    h = float(np.percentile(v[:, 1], 99.9)) - y0
    band = v[(v[:, 1] > y0 + 0.60 * h) & (v[:, 1] < y0 + 0.72 * h)]
    if len(band) < 10:
        band = v
    xm = float(np.median(band[:, 0]))
    torso = band[np.abs(band[:, 0] - xm) < 0.1 * h]
    if len(torso) < 10:
        torso = band
    lo, hi = torso.min(0), torso.max(0)
    return np.array([(lo[0] + hi[0]) / 2, y0, (lo[2] + hi[2]) / 2])


def _height(v: np.ndarray) -> float:
    return float(np.percentile(v[:, 1], 99.9) - np.percentile(v[:, 1], 0.1))


#: a garment leaning more than this (m, see :attr:`Placement.lean_m`) was likely exported on a posed avatar
#: (library garments placed on the A-pose body lean 0-3 cm; a Marvelous Designer T-shirt exported
#: mid-dance leaned 9.9 cm)
POSED_LEAN_M = 0.06


def garment_lean(vertices: np.ndarray) -> float:
    """Horizontal distance (m) between the middles (bounding-box centres in x and z) of the
    garment's top 15 % and bottom 15 % of height, canonical frame."""
    v = np.asarray(vertices, np.float64)
    y0, y1 = np.percentile(v[:, 1], [0.2, 99.8])
    band = 0.15 * (y1 - y0)
    top, bottom = v[v[:, 1] > y1 - band], v[v[:, 1] < y0 + band]
    if not len(top) or not len(bottom):
        return 0.0
    mid = lambda q: 0.5 * (q.min(0) + q.max(0))  # noqa: E731
    d = mid(top) - mid(bottom)
    return float(np.hypot(d[0], d[2]))


def garment_region(vertices: np.ndarray, avatar_height: float | None = None) -> str:
    """Guess a garment's region from its vertical extent on its avatar (canonical frame, metres,
    the exporter's placement: feet on y = 0): "bottom" when its top edge is under 67 % of the
    avatar's height (between the waist, ~62 %, and a strapless top's edge under the armpits,
    ~72 %), "top" when its hem is over 47 % (the crotch), or over 40 % with the garment under
    0.72 m long (a long T-shirt's hem on a shorter avatar: a Marvelous Designer T-shirt 0.60 m
    long ended at 46 %), "dress" when its hem is over 15 % (above the ankles), else "full".
    Without the avatar's height 1.7 m is assumed; a
    garment not standing on the floor is judged by its length alone (under 0.8 m: top; under
    1.35 m: dress; else full)."""
    v = np.asarray(vertices, np.float64)
    y0, y1 = np.percentile(v[:, 1], [0.2, 99.8])
    h = float(avatar_height or ASSUMED_AVATAR_HEIGHT_M)
    on_avatar = y0 > -0.05 and y1 < 1.3 * h and y1 > 0.3 * h
    if on_avatar:
        if y1 < 0.67 * h:
            return "bottom"
        if y0 > 0.47 * h or (y0 > 0.40 * h and y1 - y0 < 0.72):
            return "top"
        return "dress" if y0 > 0.15 * h else "full"
    length = y1 - y0
    return "top" if length < 0.8 else ("dress" if length < 1.35 else "full")


def _open_top(vertices: np.ndarray) -> bool:
    """True when the garment's top 3 cm are a band round the body with nothing across it (a
    strapless top, a waistband): seen from above, every 1/16 sector of it holds cloth, all of it
    at least 8 cm from the middle and no sector spans more than 4 cm from the middle outwards.
    Shoulders (cloth running from the neckline out to the shoulder points) fail the test: such a
    garment hangs from the shoulders."""
    v = np.asarray(vertices, np.float64)
    y1 = float(np.percentile(v[:, 1], 99.8))
    top = v[v[:, 1] > y1 - 0.03]
    if len(top) < 16:
        return False
    c = (top.min(0) + top.max(0)) / 2
    d = top[:, [0, 2]] - c[[0, 2]]
    r = np.hypot(d[:, 0], d[:, 1])
    sector = np.floor((np.arctan2(d[:, 1], d[:, 0]) + np.pi) / (2 * np.pi) * 16).astype(int) % 16
    if len(np.unique(sector)) < 16:
        return False
    lo = np.full(16, np.inf)
    hi = np.zeros(16)
    np.minimum.at(lo, sector, r)
    np.maximum.at(hi, sector, r)
    return bool(lo.min() > 0.08 and np.median(hi - lo) < 0.04)


def _shoulder_line(body_v: np.ndarray, joints: np.ndarray) -> float:
    """Height of the top of the shoulders (the torso's highest point under the neck joint), m."""
    from .placement import body_parts

    v = np.asarray(body_v, np.float64)
    j = np.asarray(joints, np.float64)
    torso = body_parts(v, j)["torso"] & (v[:, 1] < j[_J["neck"], 1])
    if not torso.any():
        return float(j[_J["neck"], 1])
    return float(v[torso, 1].max())


def align_garment(garment: ImportedGarment, body_vertices: np.ndarray, body_faces: np.ndarray, joints: np.ndarray,
                  avatar: Avatar | np.ndarray | None = None, region: str | None = None, measurements=None,
                  clearance: float = START_CLEARANCE_M) -> Placement:
    """Place an imported garment around a twin's body so that it starts outside it.

    1. Rigid placement. With the ``avatar``: scale by the twin's height over the avatar's, and
       move the avatar's feet and torso centre (:func:`torso_centre`) onto the twin's. Without:
       the garment keeps its size; its top edge goes to the twin's landmark for its ``region``
       (top, dress, full: the top of the shoulders, or 3 cm under the armpits for a strapless
       one; bottom: the waist) and its bounding box centre onto the twin's torso axis.
    2. Widening: height band by height band (2 cm), the garment is scaled horizontally about the
       torso axis until the cloth there clears the torso or legs by ``clearance`` (up to
       :data:`MAX_WIDEN`); three rounds, smoothed along the height.
    3. Push-out: start vertices still closer than 6 mm to the body (an arm, a shoulder) move out
       along the body's normal to ``clearance``, their neighbours following smoothly; the last
       round moves every vertex still inside exactly to the surface plus ``clearance``.

    Args:
        garment: from :func:`load_garment_mesh`.
        body_vertices, body_faces, joints: the twin's body (canonical frame, metres; 16 named
            joints) in the pose the garment is placed in (the A-pose, like exporters' avatars).
        avatar: the exporter's :class:`Avatar` (or its (N, 3) vertices, metres, canonical frame).
        region: "top", "bottom", "dress" or "full"; None detects it (:func:`garment_region`).
        measurements: the body's :class:`bodies.measure.Measurements` (measured if None).
        clearance: the start clearance aimed for, metres.

    Returns:
        A :class:`Placement`.
    """
    from bodies.measure import measure

    if region is not None and region not in REGIONS:
        raise InputError(f"unknown region {region!r}", hint=f"choose one of: {', '.join(REGIONS)}")
    bv = np.asarray(body_vertices, np.float64)
    bf = np.asarray(body_faces, np.int64)
    j = np.asarray(joints, np.float64)
    g = np.asarray(garment.vertices, np.float64).copy()
    av = None if avatar is None else np.asarray(getattr(avatar, "vertices", avatar), np.float64)
    region_source = "given" if region else "detected"
    region = region or garment_region(g, _height(av) if av is not None else None)
    lean = garment_lean(g)

    if av is not None:
        scale = _height(bv) / max(_height(av), 1e-6)
        ca, ct = torso_centre(av), torso_centre(bv)
        translation = ct - scale * ca
        g = g * scale + translation
        method, anchor = "avatar", "avatar"
    else:
        m = measurements or measure(bv, bf, j)
        scale = 1.0
        y1 = float(np.percentile(g[:, 1], 99.8))
        if region == "bottom":
            target_y, anchor = m.waist_height_m, "waist"
        elif _open_top(g):
            target_y, anchor = m.armpit_height_m - 0.03, "armpits"
        else:
            target_y, anchor = _shoulder_line(bv, j), "shoulders"
        # horizontal centre: the garment's top 15 cm onto the middle of the torso at those heights
        top = g[g[:, 1] > y1 - 0.15]
        cg = (top.min(0) + top.max(0)) / 2
        ct = _torso_axis(bv, bf, j, target_y - 0.15, target_y - 0.01)
        translation = np.array([ct[0] - cg[0], target_y - y1, ct[1] - cg[2]])
        g = g + translation
        method = "landmarks"

    m = measurements or measure(bv, bf, j)
    axis = _torso_axis(bv, bf, j, max(float(g[:, 1].min()), m.crotch_height_m), min(float(g[:, 1].max()), m.armpit_height_m))
    dist = BodyDistance(bv, bf)
    g, widen = _widen(g, bv, j, dist, axis, clearance)
    g, pushed = _push_out(g, garment.faces, dist, clearance)
    sd = dist(g)
    return Placement(
        vertices=g.astype(np.float32), method=method, region=region, region_source=region_source, anchor=anchor,
        scale=float(scale), translation=[float(x) for x in translation], widen=widen, pushed=pushed,
        outside_pct=round(100.0 * float(np.mean(sd >= 0.0)), 3),
        clearance_mm={"min": round(1000 * float(sd.min()), 2), "p1": round(1000 * float(np.percentile(sd, 1)), 2),
                      "median": round(1000 * float(np.median(sd)), 2)},
        lean_m=round(lean, 4),
    )


def _torso_axis(bv: np.ndarray, bf: np.ndarray, j: np.ndarray, ylo: float, yhi: float) -> np.ndarray:
    """(x, z) of the middle of the torso between heights ``ylo`` and ``yhi`` (the mean centre of
    the torso's cross-sections there, arms left out), metres; the hip joints' middle and the spine
    joint's depth when no section is found."""
    from bodies.measure import _Slicer

    s = _Slicer(bv, bf, j)
    centres = []
    for y in np.linspace(min(ylo, yhi), max(ylo, yhi), 5):
        h = s.hull(float(y))
        if h is not None and len(h) >= 3:
            centres.append((h.min(0) + h.max(0)) / 2)
    if not centres:
        return np.array([float(j[[_J["left_hip"], _J["right_hip"]], 0].mean()), float(j[_J["spine"], 2])])
    return np.mean(centres, axis=0)


def _widen(g: np.ndarray, bv: np.ndarray, j: np.ndarray, dist: BodyDistance, axis: np.ndarray, clearance: float,
           rounds: int = 3, band: float = 0.02):
    """Scale the garment horizontally about ``axis``, per 2 cm height band, until it clears the
    torso and legs by ``clearance``; returns (vertices, (min, max) factor)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    from .placement import body_parts

    parts = body_parts(bv, j)
    trunk = parts["torso"] | parts["left_leg"] | parts["right_leg"]
    tree = cKDTree(bv)
    y0 = float(g[:, 1].min())
    nb = max(1, int(np.ceil((float(g[:, 1].max()) - y0) / band)) + 1)
    centres = y0 + band * np.arange(nb)
    total = np.ones(nb)
    for _ in range(rounds):
        sd = dist(g)
        need = np.nonzero(sd < clearance)[0]
        if not len(need):
            break
        _, near = tree.query(g[need])
        r = np.hypot(g[need, 0] - axis[0], g[need, 2] - axis[1])
        ok = trunk[near] & (r > 0.03)
        if not ok.any():
            break
        need, r = need[ok], r[ok]
        s = (r + (clearance - sd[need])) / r
        b = np.clip(np.round((g[need, 1] - y0) / band).astype(int), 0, nb - 1)
        factor = np.ones(nb)
        np.maximum.at(factor, b, s)
        factor = uniform_filter1d(maximum_filter1d(factor, 5, mode="nearest"), 5, mode="nearest")
        factor = np.clip(factor, 1.0, MAX_WIDEN / total)
        if factor.max() <= 1.0005:
            break
        total *= factor
        fv = np.interp(g[:, 1], centres, factor)
        g[:, 0] = axis[0] + fv * (g[:, 0] - axis[0])
        g[:, 2] = axis[1] + fv * (g[:, 2] - axis[1])
    return g, (float(total.min()), float(total.max()))


def _push_out(g: np.ndarray, faces: np.ndarray, dist: BodyDistance, clearance: float, rounds: int = 8):
    """Move vertices closer than :data:`MIN_START_CLEARANCE_M` to the body out to ``clearance``
    along the body's normal, the displacement spread over their neighbours (smooth rounds first,
    then exact ones). Returns (vertices, number of vertices moved)."""
    n = len(g)
    f = np.asarray(faces, np.int64)
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    adj = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(axis=1)).ravel()
    moved = np.zeros(n, bool)
    for k in range(rounds):
        sd, cp, nn = closest_points(dist, g)
        bad = sd < (MIN_START_CLEARANCE_M if k < rounds - 1 else 0.0)
        if not bad.any():
            break
        d = np.zeros_like(g)
        d[bad] = cp[bad] + nn[bad] * clearance - g[bad]
        if k < rounds - 3:
            # spread over the neighbourhood, keeping at least half of each push where it is needed
            for _ in range(4):
                d = 0.5 * d + 0.5 * (adj @ d) / np.maximum(deg, 1)[:, None]
            need = cp[bad] + nn[bad] * clearance - g[bad]
            d[bad] = np.where((np.sum(d[bad] * need, 1) < 0.5 * np.sum(need * need, 1))[:, None], 0.5 * need, d[bad])
        moved |= np.linalg.norm(d, axis=1) > 1e-6
        g = g + d
    return g, int(moved.sum())


# --- strain against the imported rest shape ----------------------------------------------------
def surface_strain(rest: np.ndarray, draped: np.ndarray, faces: np.ndarray,
                   face_uv: np.ndarray | None = None) -> dict:
    """Per-vertex stretch of a draped mesh against its 3D rest shape, %.

    Each triangle's deformation gradient ``F`` (3 x 2) maps the rest triangle (in its own plane)
    to the draped one; its singular values are the principal stretches. With UVs, warp and weft
    are the stretches along the UV v and u axes carried onto the rest triangle (the grain when the
    pattern's grain line runs vertically in the exporter's 2D layout). Vertices take the
    area-weighted mean of their triangles.

    Args:
        rest, draped: (V, 3) float, metres; faces: (F, 3) int; face_uv: (F, 3, 2) or None.

    Returns:
        {"strain_pct": max principal stretch (V,) float32, "strain_min_pct": min principal
        stretch, and with UVs "strain_warp_pct", "strain_weft_pct"}; positive = stretched.
    """
    r = np.asarray(rest, np.float64)
    x = np.asarray(draped, np.float64)
    f = np.asarray(faces, np.int64)
    a1, a2 = r[f[:, 1]] - r[f[:, 0]], r[f[:, 2]] - r[f[:, 0]]
    n = np.cross(a1, a2)
    area = 0.5 * np.linalg.norm(n, axis=1)
    e1 = a1 / np.maximum(np.linalg.norm(a1, axis=1, keepdims=True), 1e-20)
    e2 = np.cross(n / np.maximum(2 * area[:, None], 1e-20), e1)
    D = np.stack([np.stack([np.sum(a1 * e1, 1), np.sum(a2 * e1, 1)], 1),
                  np.stack([np.sum(a1 * e2, 1), np.sum(a2 * e2, 1)], 1)], 1)  # (F, 2, 2): rows e1, e2
    det = D[:, 0, 0] * D[:, 1, 1] - D[:, 0, 1] * D[:, 1, 0]
    ok = np.abs(det) > max(1e-14, 0.02 * float(np.median(np.abs(det))))
    Dinv = np.zeros_like(D)
    Dinv[ok] = np.linalg.inv(D[ok])
    E = np.stack([x[f[:, 1]] - x[f[:, 0]], x[f[:, 2]] - x[f[:, 0]]], axis=2)  # (F, 3, 2)
    F = E @ Dinv  # local rest (e1, e2) -> draped 3D
    C = np.einsum("fki,fkj->fij", F, F)
    tr, dt = C[:, 0, 0] + C[:, 1, 1], C[:, 0, 0] * C[:, 1, 1] - C[:, 0, 1] ** 2
    disc = np.sqrt(np.maximum(tr * tr / 4 - dt, 0.0))
    smax = np.sqrt(np.maximum(tr / 2 + disc, 0.0)) - 1.0
    smin = np.sqrt(np.maximum(tr / 2 - disc, 0.0)) - 1.0
    per_face = {"strain_pct": smax, "strain_min_pct": smin}
    if face_uv is not None:
        uv = np.asarray(face_uv, np.float64)
        U = np.stack([uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]], axis=2)  # (F, 2, 2) columns: uv edges
        udet = U[:, 0, 0] * U[:, 1, 1] - U[:, 0, 1] * U[:, 1, 0]
        uok = ok & (np.abs(udet) > 1e-14)
        Uinv = np.zeros_like(U)
        Uinv[uok] = np.linalg.inv(U[uok])
        J = D @ Uinv  # uv -> local rest coordinates
        for name, col in (("strain_weft_pct", 0), ("strain_warp_pct", 1)):
            dr = J[:, :, col]
            dr = dr / np.maximum(np.linalg.norm(dr, axis=1, keepdims=True), 1e-20)
            per_face[name] = np.where(uok, np.linalg.norm(np.einsum("fij,fj->fi", F, dr), axis=1) - 1.0, 0.0)
    w = 0.5 * np.abs(det) * ok
    out = {}
    for name, s in per_face.items():
        num = np.zeros(len(r))
        den = np.zeros(len(r))
        for k in range(3):
            np.add.at(num, f[:, k], s * w)
            np.add.at(den, f[:, k], w)
        out[name] = (100.0 * num / np.maximum(den, 1e-20)).astype(np.float32)
    return out


# --- outputs -----------------------------------------------------------------------------------
def export_dressed_glb(path: PathLikeStr, body_v, body_f, garment_v, garment_f, face_uv=None) -> Path:
    """Write ``dressed.glb``: the body and the garment (with its UVs when given, split per
    corner as glTF needs), canonical frame (+Y up, as glTF expects), metres."""
    import trimesh

    scene = trimesh.Scene()
    body = trimesh.Trimesh(np.asarray(body_v, np.float64), np.asarray(body_f, np.int64), process=False)
    body.visual.face_colors = np.tile(np.array([224, 186, 160, 255], np.uint8), (len(body_f), 1))
    scene.add_geometry(body, node_name="body", geom_name="body")
    gv = np.asarray(garment_v, np.float64)
    gf = np.asarray(garment_f, np.int64)
    if face_uv is not None:
        # one glTF vertex per distinct (vertex, uv) pair
        key = np.concatenate([gf.reshape(-1, 1).astype(np.float64), np.asarray(face_uv, np.float64).reshape(-1, 2)], 1)
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        material = trimesh.visual.material.PBRMaterial(name="garment", baseColorFactor=[42, 77, 140, 255],
                                                       doubleSided=True)
        mesh = trimesh.Trimesh(gv[uniq[:, 0].astype(np.int64)], inverse.reshape(-1, 3), process=False,
                               visual=trimesh.visual.TextureVisuals(uv=uniq[:, 1:], material=material))
    else:
        mesh = trimesh.Trimesh(gv, gf, process=False)
        mesh.visual.face_colors = np.tile(np.array([42, 77, 140, 255], np.uint8), (len(gf), 1))
    scene.add_geometry(mesh, node_name="garment", geom_name="garment")
    data = scene.export(file_type="glb")
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


def _edge_ratio_spread(a: np.ndarray, b: np.ndarray, faces: np.ndarray) -> float:
    """Largest |length in b / length in a - 1| over the mesh's edges."""
    e = np.unique(np.sort(np.asarray(faces)[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)
    la = np.linalg.norm(a[e[:, 0]] - a[e[:, 1]], axis=1)
    lb = np.linalg.norm(b[e[:, 0]] - b[e[:, 1]], axis=1)
    ok = la > 1e-9
    return float(np.max(np.abs(lb[ok] / la[ok] - 1.0))) if ok.any() else 0.0


def _mesh_area(v, f) -> float:
    t = np.asarray(v, np.float64)[np.asarray(f)]
    return float(0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum())


# --- drape -------------------------------------------------------------------------------------
def drape_imported(body_vertices, body_faces, joints, garment: ImportedGarment, out_dir: PathLikeStr = "drape",
                   avatar: Avatar | np.ndarray | None = None, region: str | None = None, fabric: str | None = None,
                   max_frames: int = MAX_FRAMES, timeout: float = 900.0, progress=None, settings=None,
                   rest_body: tuple | None = None, rest: str = "imported", colliders: list | None = None):
    """Align an imported garment to a body, drape it in Blender and measure the fit.

    Args:
        body_vertices: (V, 3) float32 posed body, metres, canonical frame; body_faces (F, 3);
            joints (16, 3) named joints.
        garment: from :func:`load_garment_mesh`.
        out_dir: output folder (created).
        avatar, region: see :func:`align_garment`.
        fabric: a preset of :mod:`garments.fabrics` (default cotton-jersey).
        max_frames, timeout, progress, settings: as :func:`garments.drape.drape_garment`.
        rest_body: (vertices, faces, joints) of the pose the garment is placed in (the A-pose);
            the body then moves from it into the given pose over :data:`POSE_FRAMES` frames with
            gravity off. None: placed and draped on the given body.
        rest: "imported" (the cloth's rest lengths are the imported mesh's own: the garment keeps
            its real size) or "placed" (those of the aligned start shape: the garment scaled and
            widened to the twin, like a graded pattern).
        colliders: extra collision meshes [(vertices, faces), ...] (draped lower layers).

    Returns:
        :class:`garments.drape.DrapeResult`; ``drape_report.json`` also holds ``import``,
        ``placement``, ``fabric``, ``fit`` and ``strain``.

    Raises:
        InputError: bad arguments. SimulationError: the cloth exploded, more than 1 % of it
        ended over 2 mm inside the body or 0.5 m away from it, or it stopped unsettled and still
        falling (:func:`garments.settings.settle_guard`). JobError: Blender crashed or timed out.
    """
    from bodies.measure import measure
    from .dress import drape_inputs, drape_job_spec, layer_collider_specs, run_drape_spec

    from .settings import (FAR_M, MAX_FAR, MAX_PENETRATION, MAX_UNSETTLED_MM, DrapeResult, far_guard, penetration,
                           penetration_guard, settle_guard)
    from .fabrics import cloth_settings, get_fabric
    from .fit import fit_table

    if rest not in ("imported", "placed"):
        raise InputError(f"unknown rest shape {rest!r}", hint="choose imported or placed")
    out, (v, f, j), (rv, rf, rj), settings = drape_inputs(out_dir, body_vertices, body_faces, joints, settings,
                                                           max_frames, rest_body)
    fab = get_fabric(fabric or "cotton-jersey")
    meas = measure(rv, rf, rj)
    placement = align_garment(garment, rv, rf, rj, avatar=avatar, region=region, measurements=meas)
    if progress is not None and placement.method == "landmarks" and placement.lean_m > POSED_LEAN_M:
        progress(f"warning: {garment.name} leans {100 * placement.lean_m:.0f} cm (exported on a posed avatar?)")
    start = placement.vertices
    rest_v = np.asarray(garment.vertices if rest == "imported" else start, np.float32)
    spread = _edge_ratio_spread(start, rest_v, garment.faces)

    cs, col = cloth_settings(fab, _mesh_area(rest_v, garment.faces) / garment.num_vertices)
    cloth_over = {"quality": 4, **cs, **settings.cloth}
    col_over = {**col, **settings.collision}
    friction = col_over.pop("friction", 5.0)
    keep = hand_vertices(rv, rj).astype(np.float32)
    save_npz_mesh(out / "drape_body.npz", rv, rf, keep=keep)
    target_npz = save_npz_mesh(out / "drape_body_target.npz", v, f, keep=keep) if rest_body is not None else None
    col_specs = [{"path": str(out / "drape_body.npz"), "target": None if target_npz is None else str(target_npz),
                  "decimate": settings.decimate, "thickness_outer": settings.body_thickness, "friction": friction}]
    col_specs += layer_collider_specs(out, colliders)
    extra = {"rest": rest_v} if spread > REST_LENGTH_TOLERANCE else {}
    cloth_npz = save_npz_mesh(out / "drape_cloth.npz", start, garment.faces, **extra)
    pose_frames = min(POSE_FRAMES, max(settings.max_frames // 2, 1)) if rest_body is not None else 0
    spec, result_npz = drape_job_spec(out, settings, garment.name, cloth_npz, col_specs, cloth_over, col_over,
                                      gravity_off_frames=pose_frames,
                                      sew_frames=min(pose_frames + GRAVITY_RAMP_FRAMES, settings.max_frames // 2),
                                      pose_frames=pose_frames)
    job, seconds, log_path, draped = run_drape_spec(spec, out, result_npz, start.shape, timeout, progress)

    clearance_m = BodyDistance(v, f)(draped)
    pen = penetration(clearance_m)
    clearance_mm = (clearance_m * 1000.0).astype(np.float32)
    strains = surface_strain(rest_v, draped, garment.faces, garment.face_uv)
    smax = strains["strain_pct"]
    comments = [f"atelier draped imported garment {garment.name} ({Path(garment.info.get('path', '')).name}) in {fab.name}, "
                "metres, canonical frame",
                "clearance_mm: signed distance to the body in mm, negative inside",
                f"strain_*_pct: stretch against the {'imported mesh' if rest == 'imported' else 'placed start shape'} "
                "(max/min principal; warp/weft along the UV v/u axes), %"]
    ply_path = save_ply(out / "garment.ply", draped, garment.faces, attributes={"clearance_mm": clearance_mm, **strains},
                        comments=comments)
    npz_extra = {"face_uv": garment.face_uv} if garment.face_uv is not None else {}
    npz_path = save_npz_mesh(out / "garment.npz", draped, garment.faces, rest_vertices=rest_v, start_vertices=start,
                             piece=garment.piece, pin=np.zeros(len(draped), np.float32), clearance_mm=clearance_mm,
                             **strains, **npz_extra)
    try:
        posed_meas = measure(v, f, j) if rest_body is not None else meas
    except InputError:
        posed_meas = meas
    table = fit_table(draped, clearance_mm, smax, smax, j, posed_meas, faces=garment.faces, body=(v, f),
                      fabric_stretch_pct=fab.stretch_pct)
    fit = {
        "garment": garment.name, "source": Path(garment.info.get("path", "")).name, "imported": True,
        "size": None, "fabric": fab.name,
        "regions": {r.region: {k: val for k, val in asdict(r).items() if k != "region"} for r in table},
        "strain_pct": {"median": round(float(np.median(smax)), 2), "p98": round(float(np.percentile(smax, 98)), 2),
                       "max": round(float(smax.max()), 2)},
        "clearance_mm": {"min": round(float(clearance_mm.min()), 1), "median": round(float(np.median(clearance_mm)), 1)},
        "units": {"ease": "mm, garment girth minus body girth cut by the same plane (ease_method slice), "
                          "else 2 pi x mean gap (gap)",
                  "strain": f"% max principal stretch against the {rest} rest shape (no flat pattern), "
                            "max = 98th percentile"},
        "note": "imported mesh: strain is measured against the mesh as exported (its own sewn shape), not a flat "
                "pattern; the regions' ease and verdicts are as for pattern garments",
        "thresholds": "garments/data/fit_thresholds.json",
    }
    write_json(out / "fit.json", fit)
    export_dressed_glb(out / "dressed.glb", v, f, draped, garment.faces, garment.face_uv)
    result = DrapeResult.from_job(job, seconds, pen, out, garment=garment.name, vertices=draped, faces=garment.faces,
                                  clearance_mm=clearance_mm, measurements=meas.to_dict(), ply_path=ply_path,
                                  npz_path=npz_path, log_path=log_path)
    report = result.report()
    report.update({
        "imported": True, "fabric": fab.name, "rest": rest, "rest_length_spread_pct": round(100 * spread, 2),
        "import": garment.info, "placement": placement.to_dict(), "fit": fit["regions"], "strain": fit["strain_pct"],
        "posed_from_rest": rest_body is not None, "layers_below": len(colliders or []),
        "blender_version": job.get("blender_version"),
        "simulation": {"cloth": cloth_over, "collision": col_over, "max_frames": settings.max_frames},
        "ok": bool(pen <= MAX_PENETRATION and np.mean(clearance_m > FAR_M) <= MAX_FAR
                   and (result.settled or result.max_displacement_mm <= MAX_UNSETTLED_MM)),
    })
    report["files"].update({"fit": "fit.json", "glb": "dressed.glb"})
    write_json(result.report_path, report)
    posed = (f"the garment leans {100 * placement.lean_m:.0f} cm between its top and its hem, so it was probably "
             f"exported on a posed avatar: export it on the avatar in the A-pose or T-pose, or ") \
        if placement.method == "landmarks" and placement.lean_m > POSED_LEAN_M else ""
    penetration_guard(pen, f"imported {garment.name}", f"{posed}pass the exporter's avatar (--avatar), a --region, or "
                                                      f"more frames; see {ply_path} (clearance_mm) and {log_path}", log_path)
    far_guard(clearance_m, f"imported {garment.name}",
              f"the mesh's pieces may be unconnected (a triangle soup: export it with its pieces' seams sewn) "
              f"or placed away from the avatar; see {ply_path} (clearance_mm) and {log_path}", log_path)
    settle_guard(result.settled, result.frames, result.max_displacement_mm, f"imported {garment.name}",
                 f"the mesh's pieces may be unconnected (export it with its seams sewn), or it was placed off the body "
                 f"(pass --avatar or --region); see drape_report.json, {ply_path} and {log_path}", log_path)
    return result


def drape_imported_twin(twin_dir: PathLikeStr, mesh: PathLikeStr, out_dir: PathLikeStr = "drape",
                        units: str | None = None, up: str | None = None, avatar: PathLikeStr | None = None,
                        region: str | None = None, model=None, pose: str | None = None,
                        weld_mm: float = WELD_MM, **kw):
    """Drape a garment mesh exported from CLO / Marvelous Designer on a saved twin.

    The garment is placed around the twin in the A-pose (the pose exporters' avatars stand in)
    and the body then moves into ``pose`` (default: the twin's own pose) while the cloth
    simulates. Writes ``body.ply`` and ``dressed.json`` beside :func:`drape_imported`'s files.

    Args:
        twin_dir: folder with ``twin.json``.
        mesh: the garment file (.obj, .glb, .gltf).
        units, up: the garment's (and avatar's) unit and up axis; None detects them (from the
            avatar when there is one: a body's height tells the unit more surely).
        avatar: the exporter's avatar mesh, exported with the same settings as the garment.
        region: top, bottom, dress or full (used without an avatar); None detects it.
        model: the twin's body model, or None to build it.
        pose: a pose preset to drape in instead of the twin's own.
        weld_mm: seam welding distance, mm.
        **kw: passed to :func:`drape_imported` (fabric, max_frames, timeout, progress, settings, rest).
    """
    import bodies
    from bodies.poses import pose_preset
    from bodies.twin import Twin

    av = load_avatar(avatar, units, up) if avatar else None
    garment = load_garment_mesh(mesh, units=units or (av.units if av else None), up=up or (av.up if av else None),
                                weld_mm=weld_mm)
    twin = Twin.load(twin_dir)
    if model is None:
        model = bodies.create(twin.model)
    a_pose = pose_preset(model, "a-pose")[0]
    if pose is not None:
        p = pose_preset(model, pose)[0]
        twin = Twin(model=twin.model, shape=twin.shape, pose=p.tolist(), translation=twin.translation,
                    pose_name=pose, source=twin.source)
    verts, faces, joints = twin.body(model)
    rest_twin = Twin(model=twin.model, shape=twin.shape, pose=a_pose.tolist(), translation=twin.translation,
                     pose_name="a-pose", source=twin.source)
    if not np.allclose(np.asarray(twin.pose, np.float32).reshape(-1, 3), a_pose.numpy().reshape(-1, 3), atol=1e-5):
        kw["rest_body"] = rest_twin.body(model)
    out = Path(out_dir)
    save_ply(out / "body.ply", verts, faces,
             comments=[f"atelier posed body ({twin.model}, pose {twin.pose_name or 'fitted'}), metres, canonical frame"])
    write_json(out / "dressed.json", {
        "twin_dir": str(Path(twin_dir).resolve()), "model": twin.model, "pose": twin.pose_name, "source": twin.source,
        "garment": garment.name, "garment_mesh": garment.info["path"], "avatar": str(Path(avatar).resolve()) if avatar else None,
        "size": None, "fabric": kw.get("fabric"),
    })
    return drape_imported(verts, faces, joints, garment, out, avatar=av, region=region, **kw)


__all__ = ["ImportedGarment", "Avatar", "Placement", "load_garment_mesh", "load_avatar", "align_garment",
           "drape_imported", "drape_imported_twin", "surface_strain", "weld", "boundary_vertices",
           "detect_garment_units", "detect_garment_up", "garment_region", "torso_centre", "export_dressed_glb",
           "SUFFIXES", "REGIONS", "WELD_MM"]
