"""SMPL-X body model backend (the user's own licence-gated model file, loaded through ``smplx``).

SMPL-X files are licence-gated and non-commercial: users download ``SMPLX_NEUTRAL.npz`` (or the
female/male files) from the SMPL-X site themselves and point Atelier at it with ``--smplx-dir`` or
``ATELIER_SMPLX_DIR``. Atelier never ships or downloads them.

SMPL-X's frame is already the canonical frame (+Y up, facing +Z, the body's left along +X, metres)
and its pose convention is the interface's: axis-angle rotations in canonical axes at rest, carried
by the parents. Its rest pose is a T-pose. So this backend only selects parameters and joints:

- ``shape``: (B, 10) betas, unbounded, 0 is SMPL-X's mean body.
- ``pose``: (B, 22, 3): row 0 is ``global_orient`` (named "pelvis"), rows 1-21 the 21 SMPL-X
  body joints in SMPL-X order. Hands rest flat, the face neutral (jaw, eyes, expression zero).

Safety: ``smplx`` opens ``.npz`` files with ``allow_pickle=True``, and unpickling runs code. Before
anything reaches ``smplx`` the file is opened here with ``allow_pickle=False`` and every entry is
read. A file whose every entry is a plain array goes to ``smplx`` as it is. The released SMPL-X
files also carry name tables (``joint2num``, ``part2num``) stored as pickled objects that
``smplx`` does not need: those are never unpickled; the plain arrays ``smplx`` reads are copied
into a temporary file and that copy is what ``smplx`` opens. A file where a needed array is a
pickled object is refused with the recipe to re-save it.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError, MissingDependencyError

from .model import BodyModel

GENDERS = ("neutral", "female", "male")

#: Keys ``smplx.SMPLX`` reads from a model file; a file missing one is refused.
REQUIRED_KEYS = (
    "v_template",
    "f",
    "shapedirs",
    "posedirs",
    "J_regressor",
    "weights",
    "kintree_table",
    "hands_componentsl",
    "hands_componentsr",
    "hands_meanl",
    "hands_meanr",
    "lmk_faces_idx",
    "lmk_bary_coords",
)
#: Keys ``smplx`` reads only with ``use_face_contour=True``; copied along when present.
OPTIONAL_KEYS = ("dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords")

NUM_BETAS = 10
NUM_EXPRESSION = 10
NUM_HAND_POSE = 45  # 15 joints x 3, full axis-angle (no PCA)

#: SMPL-X's 22 body joints in model order; row i of ``pose`` rotates joint i (0 = global_orient).
SMPLX_BODY_JOINTS = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)

#: NAMED_JOINTS -> SMPL-X joint. "left_shoulder" is SMPL-X's upper-arm joint (16), not the collar.
SMPLX_JOINT_MAP = {
    "pelvis": "pelvis",
    "spine": "spine2",
    "neck": "neck",
    "head": "head",
    "left_shoulder": "left_shoulder",
    "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow",
    "right_elbow": "right_elbow",
    "left_wrist": "left_wrist",
    "right_wrist": "right_wrist",
    "left_hip": "left_hip",
    "right_hip": "right_hip",
    "left_knee": "left_knee",
    "right_knee": "right_knee",
    "left_ankle": "left_ankle",
    "right_ankle": "right_ankle",
}

_WHERE_HINT = (
    "pass --smplx-dir DIR or set ATELIER_SMPLX_DIR=DIR, where DIR holds SMPLX_NEUTRAL.npz "
    "(or smplx/SMPLX_NEUTRAL.npz). SMPL-X model files are licence-gated: download them yourself "
    "from the SMPL-X website (smpl-x.is.tue.mpg.de) after accepting its licence; Atelier never "
    "ships them. Or use the default body model (--model anny), which needs no download."
)

_PKL_HINT = (
    "convert it to a plain-array .npz once (in an environment that has chumpy installed if the "
    "pickle needs it): python -c \"import pickle, numpy as np; "
    "d = pickle.load(open('SMPLX_NEUTRAL.pkl', 'rb'), encoding='latin1'); "
    "a = {k: np.asarray(v.toarray() if hasattr(v, 'toarray') else v) for k, v in d.items()}; "
    "np.savez('SMPLX_NEUTRAL.npz', **{k: v for k, v in a.items() if v.dtype != object})\" "
    "and put SMPLX_NEUTRAL.npz where the .pkl is (the SMPL-X site also offers the .npz directly)"
)

_RESAVE_HINT = (
    "re-save it as plain arrays, only if you trust where the file came from: python -c \"import "
    "numpy as np; d = np.load('IN.npz', allow_pickle=True); np.savez('OUT.npz', **{k: "
    "np.asarray(d[k].tolist() if d[k].dtype == object else d[k]) for k in d.files "
    "if k not in ('joint2num', 'part2num')})\" (or download the .npz again from the SMPL-X site)"
)


def resolve_model_file(smplx_dir, gender: str = "neutral") -> Path:
    """Find the SMPL-X model file for ``gender``.

    Args:
        smplx_dir: a folder holding ``SMPLX_<GENDER>.npz``, a folder holding
            ``smplx/SMPLX_<GENDER>.npz`` (smplx's own layout), or the ``.npz`` file itself
            (then ``gender`` is not used to pick it). None means not configured.
        gender: "neutral", "female" or "male".

    Returns:
        The ``.npz`` path. Raises InputError when nothing usable is there (a ``.pkl`` model is
        refused with the recipe to convert it).
    """
    if gender not in GENDERS:
        raise InputError(f"unknown SMPL-X gender {gender!r}", hint=f"choose one of: {', '.join(GENDERS)}")
    if smplx_dir is None or str(smplx_dir).strip() == "":
        raise InputError("the SMPL-X body model needs the SMPL-X model files, and none were given", hint=_WHERE_HINT)
    path = Path(os.path.expanduser(str(smplx_dir)))
    if path.is_file():
        if path.suffix.lower() == ".pkl":
            raise InputError(f"{path}: SMPL-X .pkl models are not loaded (unpickling runs code)", hint=_PKL_HINT)
        if path.suffix.lower() != ".npz":
            raise InputError(f"{path}: not a SMPL-X model file (expected a .npz)", hint=_WHERE_HINT)
        return path
    if not path.is_dir():
        raise InputError(f"{path}: no such SMPL-X file or folder", hint=_WHERE_HINT)
    name = f"SMPLX_{gender.upper()}"
    for folder in (path, path / "smplx"):
        if (folder / f"{name}.npz").is_file():
            return folder / f"{name}.npz"
    for folder in (path, path / "smplx"):
        if (folder / f"{name}.pkl").is_file():
            raise InputError(
                f"{folder / (name + '.pkl')}: only a .pkl SMPL-X model is here; Atelier loads .npz "
                "models only (unpickling runs code)",
                hint=_PKL_HINT,
            )
    raise InputError(f"{path}: no {name}.npz here or in {path / 'smplx'}", hint=_WHERE_HINT)


def inspect_model_file(path: Path) -> tuple[list[str], list[str]]:
    """Open a SMPL-X ``.npz`` without unpickling and read every entry.

    Returns:
        (plain keys, pickled-object keys). Raises InputError when the file is not a readable
        ``.npz``, when a key ``smplx`` needs is missing, or when a needed key holds pickled
        objects.
    """
    plain, pickled = [], []
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npz model file ({exc})", hint=_WHERE_HINT) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InputError(f"{path}: a single .npy array, not a SMPL-X .npz model", hint=_WHERE_HINT)
    with data:
        for key in data.files:
            try:
                np.asarray(data[key])
            except ValueError as exc:
                if "allow_pickle" not in str(exc) and "pickled" not in str(exc):
                    raise InputError(f"{path}: entry {key!r} is unreadable ({exc})", hint=_RESAVE_HINT) from None
                pickled.append(key)
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise InputError(f"{path}: entry {key!r} is unreadable ({exc})", hint=_RESAVE_HINT) from None
            else:
                plain.append(key)
    missing = [k for k in REQUIRED_KEYS if k not in plain and k not in pickled]
    if missing:
        raise InputError(
            f"{path}: not a SMPL-X model file: missing {', '.join(repr(k) for k in missing)}",
            hint="use an SMPLX_<GENDER>.npz from the SMPL-X website, unmodified",
        )
    needed_pickled = [k for k in REQUIRED_KEYS + OPTIONAL_KEYS if k in pickled]
    if needed_pickled:
        raise InputError(
            f"{path}: {', '.join(repr(k) for k in needed_pickled)} hold pickled Python objects, not "
            "plain arrays; Atelier does not unpickle model files (unpickling runs code)",
            hint=_RESAVE_HINT,
        )
    return plain, pickled


def _load_smplx_module(path: Path, gender: str):
    """Build ``smplx.SMPLX`` from a checked file; stateless (no parameters), flat hands."""
    try:
        import smplx
    except ImportError:
        raise MissingDependencyError(
            "the SMPL-X body model needs the 'smplx' package", hint="pip install smplx==0.1.28 (Atelier's pinned version)"
        ) from None
    plain, pickled = inspect_model_file(path)
    kwargs = dict(
        gender=gender,
        num_betas=NUM_BETAS,
        num_expression_coeffs=NUM_EXPRESSION,
        use_pca=False,
        flat_hand_mean=True,
        use_face_contour=False,
        batch_size=1,
        ext="npz",
        dtype=torch.float32,
        # No stateful parameters: every input is passed to forward with the caller's batch.
        create_betas=False,
        create_global_orient=False,
        create_body_pose=False,
        create_left_hand_pose=False,
        create_right_hand_pose=False,
        create_jaw_pose=False,
        create_leye_pose=False,
        create_reye_pose=False,
        create_expression=False,
        create_transl=False,
    )
    if not pickled:
        return smplx.SMPLX(str(path), **kwargs)
    # Some entries (the released files' joint2num/part2num tables) are pickled objects smplx
    # does not need: hand smplx a copy of the plain arrays so nothing is ever unpickled.
    keep = [k for k in REQUIRED_KEYS + OPTIONAL_KEYS if k in plain]
    with tempfile.TemporaryDirectory(prefix="atelier-smplx-") as tmp:
        clean = Path(tmp) / f"SMPLX_{gender.upper()}.npz"
        with np.load(path, allow_pickle=False) as data, open(clean, "wb") as fh:
            # smplx turns float data into float32 anyway: a float32 copy is half the size.
            np.savez(fh, **{k: _float32(data[k]) for k in keep})
        return smplx.SMPLX(str(clean), **kwargs)


def _float32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a


class SMPLXBody(BodyModel):
    """SMPL-X behind the :class:`~bodies.model.BodyModel` interface.

    Args:
        smplx_dir: folder with ``SMPLX_<GENDER>.npz`` or ``smplx/SMPLX_<GENDER>.npz``, or the
            ``.npz`` itself; None raises InputError saying how to provide it.
        gender: "neutral" (default), "female" or "male".

    Attributes:
        model_file: the ``.npz`` that was loaded.
        smplx: the ``smplx.SMPLX`` module (a submodule, so ``.to(device)`` moves its data).
    """

    name = "smplx"

    def __init__(self, smplx_dir=None, gender: str = "neutral"):
        super().__init__()
        self.gender = gender
        self.model_file = resolve_model_file(smplx_dir, gender)
        self.smplx = _load_smplx_module(self.model_file, gender)
        n_joints = int(self.smplx.J_regressor.shape[0])
        if n_joints < len(SMPLX_BODY_JOINTS) or self.smplx.get_num_verts() < 1:
            raise InputError(f"{self.model_file}: not a SMPL-X model ({n_joints} joints)")
        self.shape_labels = tuple(f"beta{i}" for i in range(NUM_BETAS))
        self.pose_joint_names = SMPLX_BODY_JOINTS
        self.named_joint_map = dict(SMPLX_JOINT_MAP)
        idx = [SMPLX_BODY_JOINTS.index(SMPLX_JOINT_MAP[n]) for n in SMPLX_JOINT_MAP]
        self.register_buffer("_named_idx", torch.tensor(idx, dtype=torch.long), persistent=False)
        self._faces = np.ascontiguousarray(self.smplx.faces_tensor.cpu().numpy().astype(np.int64))

    def default_shape(self, batch: int = 1) -> torch.Tensor:
        """(B, 10) float32 zeros: SMPL-X's mean body."""
        return torch.zeros(batch, self.num_shape, dtype=torch.float32, device=self._device())

    def shape_bounds(self):
        return None

    def faces_numpy(self) -> np.ndarray:
        """(F, 3) int64 triangle indices (20,908 for the released SMPL-X)."""
        return self._faces

    def _forward_native(self, shape: torch.Tensor, pose: torch.Tensor):
        """(B, 10) betas, (B, 22, 3) axis-angle -> vertices (B, V, 3), named joints (B, 16, 3),
        rest_min_y (B,): float32, metres, canonical frame, SMPL-X's own origin (before the
        feet are put on y = 0)."""
        m = self.smplx
        dtype = m.shapedirs.dtype
        batch = pose.shape[0]
        device = m.shapedirs.device
        pose = pose.to(device=device, dtype=dtype)

        def zeros(n):
            return torch.zeros(batch, n, dtype=dtype, device=device)

        out = m(
            betas=shape.to(device=device, dtype=dtype),
            global_orient=pose[:, 0],
            body_pose=pose[:, 1:].reshape(batch, -1),
            left_hand_pose=zeros(NUM_HAND_POSE),
            right_hand_pose=zeros(NUM_HAND_POSE),
            jaw_pose=zeros(3),
            leye_pose=zeros(3),
            reye_pose=zeros(3),
            expression=zeros(m.num_expression_coeffs),
            transl=zeros(3),
            return_verts=True,
            return_shaped=True,
        )
        joints = out.joints.index_select(1, self._named_idx)
        # The unposed shaped body (v_shaped) is the zero pose: the feet of the rest T-pose.
        rest_min_y = out.v_shaped[..., 1].amin(dim=1)
        return out.vertices.float(), joints.float(), rest_min_y.float()
