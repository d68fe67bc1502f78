"""A small synthetic SMPL-X model file for tests (no real SMPL-X data, nothing licence-gated).

SMPL-X model files are the user's own and never shipped, so tests build a stand-in with the same
layout that ``smplx``'s real loader accepts: SMPL-X's 10,475 vertices (``smplx`` picks extra
joints by fixed SMPL-X vertex ids), 55 joints in SMPL-X order with SMPL-X's kinematic tree, and
the keys the loader reads.

The geometry is a crude 1.70 m person built from tubes around the bones: T-pose, +Y up, facing
+Z, the body's left along +X, feet on y = 0 (the canonical frame). The joint regressor places
every joint exactly at its designed position, skinning weights bind each tube to its bone, and
``betas[0]`` scales the body about the floor (beta0 = +1 makes it 3 % taller), ``betas[1]`` adds
girth; the other shape directions are small seeded noise. Pose correctives and expression
directions are zero, so the file compresses to a few MB.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SMPLX_NUM_VERTICES = 10475
SMPLX_NUM_JOINTS = 55
#: beta0 = +1 scales the synthetic body by this factor minus one (3 % taller).
BETA0_SCALE = 0.03
SYNTH_HEIGHT = 1.70

#: SMPL-X joint names in model order (body 0-21, face 22-24, left hand 25-39, right hand 40-54).
SMPLX_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "jaw", "left_eye_smplhf", "right_eye_smplhf",
    *[f"left_{f}{i}" for f in ("index", "middle", "pinky", "ring", "thumb") for i in (1, 2, 3)],
    *[f"right_{f}{i}" for f in ("index", "middle", "pinky", "ring", "thumb") for i in (1, 2, 3)],
)

#: Parent of each SMPL-X joint (-1 for the root).
SMPLX_PARENTS = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)

_J = {n: i for i, n in enumerate(SMPLX_JOINT_NAMES)}


def _designed_joints() -> np.ndarray:
    """(55, 3) float64 rest joint positions, metres, canonical frame, left side at +X."""
    left = {
        "hip": (0.09, 0.88, 0.0),
        "knee": (0.09, 0.50, 0.01),
        "ankle": (0.09, 0.08, -0.01),
        "foot": (0.09, 0.03, 0.11),
        "collar": (0.07, 1.40, 0.0),
        "shoulder": (0.18, 1.42, 0.0),
        "elbow": (0.45, 1.42, 0.0),
        "wrist": (0.70, 1.42, 0.0),
        "eye_smplhf": (0.03, 1.62, 0.08),
    }
    pos = {
        "pelvis": (0.0, 0.95, 0.0),
        "spine1": (0.0, 1.05, 0.0),
        "spine2": (0.0, 1.18, 0.0),
        "spine3": (0.0, 1.30, 0.0),
        "neck": (0.0, 1.47, 0.0),
        "head": (0.0, 1.56, 0.0),
        "jaw": (0.0, 1.53, 0.05),
    }
    for name, (x, y, z) in left.items():
        pos[f"left_{name}"] = (x, y, z)
        pos[f"right_{name}"] = (-x, y, z)
    # fingers: three joints each, fanned out in z along the hand (thumb forward)
    for k, finger in enumerate(("index", "middle", "pinky", "ring", "thumb")):
        z = {"index": 0.02, "middle": 0.0, "ring": -0.02, "pinky": -0.04, "thumb": 0.05}[finger]
        x0 = 0.74 if finger == "thumb" else 0.79
        for i in (1, 2, 3):
            pos[f"left_{finger}{i}"] = (x0 + 0.025 * (i - 1), 1.42, z)
            pos[f"right_{finger}{i}"] = (-(x0 + 0.025 * (i - 1)), 1.42, z)
    return np.array([pos[n] for n in SMPLX_JOINT_NAMES], dtype=np.float64)


@dataclass
class _Tube:
    """A closed tube of rings around the segment start -> end, skinned to one joint."""

    start: tuple[float, float, float]
    end: tuple[float, float, float]
    radius: tuple[float, float]
    joint: str
    rounded: bool = False  # radius shrinks towards both ends (head, hands, feet)


def _tubes() -> list[_Tube]:
    tubes = [
        _Tube((0.0, 0.84, 0.0), (0.0, 1.00, 0.0), (0.16, 0.11), "pelvis"),
        _Tube((0.0, 1.00, 0.0), (0.0, 1.12, 0.0), (0.15, 0.10), "spine1"),
        _Tube((0.0, 1.12, 0.0), (0.0, 1.25, 0.0), (0.16, 0.11), "spine2"),
        _Tube((0.0, 1.25, 0.0), (0.0, 1.45, 0.0), (0.17, 0.11), "spine3"),
        _Tube((0.0, 1.43, 0.0), (0.0, 1.52, 0.0), (0.05, 0.05), "neck"),
        _Tube((0.0, 1.50, 0.01), (0.0, SYNTH_HEIGHT, 0.01), (0.09, 0.10), "head", rounded=True),
    ]
    for side, s in (("left", 1.0), ("right", -1.0)):
        tubes += [
            _Tube((s * 0.14, 1.42, 0.0), (s * 0.45, 1.42, 0.0), (0.05, 0.05), f"{side}_shoulder"),
            _Tube((s * 0.45, 1.42, 0.0), (s * 0.70, 1.42, 0.0), (0.04, 0.04), f"{side}_elbow"),
            _Tube((s * 0.70, 1.42, 0.0), (s * 0.86, 1.42, 0.0), (0.025, 0.05), f"{side}_wrist", rounded=True),
            _Tube((s * 0.09, 0.90, 0.0), (s * 0.09, 0.50, 0.01), (0.075, 0.075), f"{side}_hip"),
            _Tube((s * 0.09, 0.50, 0.01), (s * 0.09, 0.08, -0.01), (0.05, 0.05), f"{side}_knee"),
            _Tube((s * 0.09, 0.04, -0.06), (s * 0.09, 0.04, 0.19), (0.04, 0.04), f"{side}_ankle", rounded=True),
        ]
    return tubes


def _tube_mesh(tube: _Tube, rings: int, segments: int):
    """Vertices (rings*segments + 2, 3), faces (local indices), axis points (per vertex)."""
    a, b = np.asarray(tube.start, float), np.asarray(tube.end, float)
    d = (b - a) / np.linalg.norm(b - a)
    helper = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, d)
    u /= np.linalg.norm(u)
    w = np.cross(d, u)  # u x w = d: rings run counter-clockwise about d, normals point out
    if abs(d[1]) > 0.9:  # vertical tubes: u along x so radius[0] is the width
        u = np.array([1.0, 0.0, 0.0]) * np.sign(d[1])
        w = np.cross(d, u)
    t = np.linspace(0.0, 1.0, rings)
    theta = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    scale = np.ones_like(t)
    if tube.rounded:
        scale = np.sqrt(np.clip(1.0 - (2 * t - 1) ** 2, 0.0, 1.0)) * 0.8 + 0.2
    centres = a + t[:, None] * (b - a)
    ring = tube.radius[0] * np.cos(theta)[:, None] * u + tube.radius[1] * np.sin(theta)[:, None] * w
    verts = centres[:, None, :] + scale[:, None, None] * ring[None]
    verts = verts.reshape(-1, 3)
    axis = np.repeat(centres, segments, axis=0)
    verts = np.vstack([verts, a, b])
    axis = np.vstack([axis, a, b])
    faces = []
    idx = np.arange(rings * segments).reshape(rings, segments)
    for i in range(rings - 1):
        for j in range(segments):
            p, q = idx[i, j], idx[i, (j + 1) % segments]
            r, s = idx[i + 1, j], idx[i + 1, (j + 1) % segments]
            faces += [(p, q, r), (q, s, r)]
    c0, c1 = rings * segments, rings * segments + 1
    for j in range(segments):
        faces.append((c0, idx[0, (j + 1) % segments], idx[0, j]))
        faces.append((c1, idx[-1, j], idx[-1, (j + 1) % segments]))
    return verts, np.array(faces, dtype=np.int64), axis


def _regressor_row(verts: np.ndarray, target: np.ndarray, k: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights (summing to 1) of ``k`` vertices near ``target`` whose weighted mean
    is exactly ``target`` (least-norm affine weights)."""
    idx = np.argsort(np.linalg.norm(verts - target, axis=1))[:k]
    a = np.vstack([verts[idx].T, np.ones(k)])
    w = np.linalg.lstsq(a, np.append(target, 1.0), rcond=None)[0]
    return idx, w


@functools.lru_cache(maxsize=2)
def _synthetic_arrays_cached(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    joints = _designed_joints()
    segments = 24
    tubes = _tubes()
    lengths = np.array([np.linalg.norm(np.subtract(t.end, t.start)) for t in tubes])
    budget = SMPLX_NUM_VERTICES - 2 * len(tubes)
    rings = np.maximum(3, np.floor(lengths / lengths.sum() * budget / segments)).astype(int)
    parts_v, parts_f, parts_axis, parts_joint = [], [], [], []
    offset = 0
    for tube, n in zip(tubes, rings):
        v, f, ax = _tube_mesh(tube, int(n), segments)
        parts_v.append(v)
        parts_f.append(f + offset)
        parts_axis.append(ax)
        parts_joint.append(np.full(len(v), _J[tube.joint]))
        offset += len(v)
    verts = np.vstack(parts_v)
    axis = np.vstack(parts_axis)
    vjoint = np.concatenate(parts_joint)
    # Pad to SMPL-X's vertex count with unreferenced copies of the top of the head.
    pad = SMPLX_NUM_VERTICES - len(verts)
    assert pad >= 0, pad
    top = int(np.argmax(verts[:, 1]))
    verts = np.vstack([verts, np.repeat(verts[top : top + 1], pad, axis=0)])
    axis = np.vstack([axis, np.repeat(axis[top : top + 1], pad, axis=0)])
    vjoint = np.concatenate([vjoint, np.full(pad, vjoint[top])])
    faces = np.vstack(parts_f)
    n_v = len(verts)

    weights = np.zeros((n_v, SMPLX_NUM_JOINTS), dtype=np.float32)
    weights[np.arange(n_v), vjoint] = 1.0

    j_regressor = np.zeros((SMPLX_NUM_JOINTS, n_v), dtype=np.float64)
    for j in range(SMPLX_NUM_JOINTS):
        idx, w = _regressor_row(verts, joints[j])
        j_regressor[j, idx] = w

    shapedirs = np.zeros((n_v, 3, 400), dtype=np.float32)
    shapedirs[:, :, 0] = BETA0_SCALE * verts  # uniform scale about the origin on the floor
    shapedirs[:, :, 1] = 0.15 * (verts - axis)  # girth: 15 % more radius per unit beta1
    shapedirs[:, :, 2:10] = rng.normal(0.0, 0.002, size=(n_v, 3, 8))

    kintree = np.zeros((2, SMPLX_NUM_JOINTS), dtype=np.int64)
    kintree[0] = SMPLX_PARENTS
    kintree[0, 0] = 4294967295  # what the released files store for "no parent"
    kintree[1] = np.arange(SMPLX_NUM_JOINTS)

    n_f = len(faces)
    hand_curl = np.tile([0.0, 0.0, 0.15], 15).astype(np.float32)
    return {
        "v_template": verts.astype(np.float32),
        "f": faces.astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": np.zeros((n_v, 3, (SMPLX_NUM_JOINTS - 1) * 9), dtype=np.float32),
        "J_regressor": j_regressor.astype(np.float32),
        "weights": weights,
        "kintree_table": kintree,
        "hands_componentsl": np.eye(45, dtype=np.float32),
        "hands_componentsr": np.eye(45, dtype=np.float32),
        "hands_meanl": hand_curl,
        "hands_meanr": -hand_curl,
        "lmk_faces_idx": rng.integers(0, n_f, size=51).astype(np.int64),
        "lmk_bary_coords": np.full((51, 3), 1.0 / 3.0, dtype=np.float32),
        "dynamic_lmk_faces_idx": rng.integers(0, n_f, size=(79, 17)).astype(np.int64),
        "dynamic_lmk_bary_coords": np.full((79, 17, 3), 1.0 / 3.0, dtype=np.float32),
    }


def synthetic_smplx_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """The synthetic model's arrays (fresh copies), keyed as in a SMPL-X ``.npz``.

    ``v_template`` (10475, 3) float32 metres, canonical frame; ``f`` (F, 3) uint32;
    ``shapedirs`` (10475, 3, 400); ``posedirs`` (10475, 3, 486) zeros; ``J_regressor``
    (55, 10475); ``weights`` (10475, 55); ``kintree_table`` (2, 55); hand PCA/means; landmarks.
    """
    return {k: v.copy() for k, v in _synthetic_arrays_cached(seed).items()}


def designed_joints() -> dict[str, np.ndarray]:
    """SMPL-X joint name -> (3,) designed rest position of the synthetic body, metres."""
    return dict(zip(SMPLX_JOINT_NAMES, _designed_joints()))


def model_path(folder: Path | str, layout: str = "nested", gender: str = "neutral", ext: str = "npz") -> Path:
    """Where a model file goes: ``folder/smplx/SMPLX_<G>.<ext>`` (nested, smplx's own layout)
    or ``folder/SMPLX_<G>.<ext>`` (flat)."""
    if layout not in ("nested", "flat"):
        raise ValueError(f"layout must be 'nested' or 'flat', got {layout!r}")
    folder = Path(folder)
    sub = folder / "smplx" if layout == "nested" else folder
    return sub / f"SMPLX_{gender.upper()}.{ext}"


def write_npz(path: Path | str, arrays: dict) -> Path:
    """Write ``arrays`` as a compressed ``.npz`` at ``path`` (object values are pickled, as
    ``np.savez`` does). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def write_synthetic_smplx(folder: Path | str, layout: str = "nested", gender: str = "neutral", seed: int = 0) -> Path:
    """Write the synthetic SMPL-X model under ``folder`` and return the ``.npz`` path.

    Args:
        folder: the folder a user would pass as ``--smplx-dir``.
        layout: "nested" -> ``folder/smplx/SMPLX_NEUTRAL.npz``; "flat" -> ``folder/SMPLX_NEUTRAL.npz``.
        gender: goes into the file name only.
        seed: seeds the small random shape directions.
    """
    return write_npz(model_path(folder, layout, gender), synthetic_smplx_arrays(seed))


# --- a tripwire for "was anything unpickled?" -----------------------------------------------------

UNPICKLED: list[str] = []


def _tripwire(tag: str) -> dict:
    UNPICKLED.append(tag)
    return {"tripped": tag}


class UnpickleTripwire:
    """An object that records its own unpickling in :data:`UNPICKLED` (stands in for the
    arbitrary code a malicious pickle could run)."""

    def __init__(self, tag: str = "tripwire"):
        self.tag = tag

    def __reduce__(self):
        return (_tripwire, (self.tag,))


def object_array(value) -> np.ndarray:
    """A 0-d object array holding ``value`` (what ``np.savez`` writes for a dict entry)."""
    out = np.empty((), dtype=object)
    out[()] = value
    return out
