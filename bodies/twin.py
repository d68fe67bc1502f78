"""A twin: a body model plus the parameters fitted to one person's scan.

On disk a twin is a folder with ``twin.json`` (model, parameters, units, the scan's hash) and
``body.ply`` (the posed body, canonical frame, metres). Other stages read the folder, never the
scan.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine import __version__
from engine.errors import InputError
from engine.meshio import save_ply
from engine.storage import read_json, write_json
from engine.types import PathLikeStr

from .model import NAMED_JOINTS, BodyModel

TWIN_FORMAT = 1


#: bounds of a twin file's numbers, far outside anything a fit writes (Anny's phenotype is 0-1,
#: SMPL-X's betas within +-5, axis-angle within +-pi, a body within metres of the origin): a
#: number beyond them is a damaged or hand-edited file, not a body.
MAX_ABS_SHAPE = 100.0
MAX_ABS_POSE_RAD = 4 * math.pi
MAX_ABS_TRANSLATION_M = 100.0


def _numbers(value, what: str, bound: float) -> list[float]:
    """A twin file's list of numbers, flattened, finite and within +-``bound``; ValueError else."""
    a = np.asarray(value, dtype=np.float64).reshape(-1)
    if not len(a):
        raise ValueError(f"{what} is empty")
    if not np.all(np.isfinite(a)) or np.abs(a).max() > bound:
        raise ValueError(f"{what} holds NaN, infinite or out-of-range numbers (beyond +-{bound:g})")
    return [float(x) for x in a]


@dataclass
class Twin:
    """Fitted body parameters.

    Attributes:
        model: backend name ("anny" or "smplx").
        shape: (S,) the backend's shape parameters.
        pose: (P, 3) axis-angle radians, canonical world-aligned axes (see bodies.model).
        translation: (3,) metres, canonical frame.
        pose_name: the preset the pose started from, if any.
        source: where the twin came from: {"scan": path, "scan_sha256": hex, "synthetic": bool, ...}.
        appearance: see the field's note below.
        units: always {"length": "m", "frame": "canonical: +Y up, facing +Z, feet on y=0"}.
    """

    model: str
    shape: list[float]
    pose: list[list[float]]
    translation: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    pose_name: str | None = None
    source: dict = field(default_factory=dict)
    units: dict = field(
        default_factory=lambda: {"length": "m", "frame": "canonical: right-handed, +Y up, facing +Z, feet on y=0"}
    )
    appearance: dict = field(default_factory=dict)
    """texture and hair (:mod:`bodies.appearance`): ``{"albedo": {file, sha256, coverage...},
    "hair": {"style", "color"}}``; empty for a plain twin (a skin tone, no hair)."""

    # --- tensors -----------------------------------------------------------------------------
    def tensors(self, device="cpu"):
        """(1, S), (1, P, 3), (1, 3) float32 tensors for ``BodyModel.forward``."""
        shape = torch.tensor([self.shape], dtype=torch.float32, device=device)
        pose = torch.tensor([self.pose], dtype=torch.float32, device=device)
        trans = torch.tensor([self.translation], dtype=torch.float32, device=device)
        return shape, pose, trans

    def body(self, model: BodyModel):
        """Vertices (V, 3) float32, faces (F, 3) int64, named joints (J, 3) — canonical, metres."""
        if model.name != self.model:
            raise InputError(f"twin was fitted with {self.model!r} but the model given is {model.name!r}")
        try:
            with torch.no_grad():
                out = model(*self.tensors())
        except ValueError as exc:  # parameters of another size than the model's (a twin.json edited by hand)
            raise InputError(f"the twin's parameters do not fit the {model.name} body model: {exc}",
                             hint="re-run `atelier fit` (or `atelier body`) to write the twin again") from None
        return out.vertices[0].cpu().numpy(), out.faces.cpu().numpy(), out.joints[0].cpu().numpy()

    @classmethod
    def from_tensors(cls, model: BodyModel, shape, pose, translation, **kw) -> "Twin":
        return cls(
            model=model.name,
            shape=[float(x) for x in torch.as_tensor(shape).reshape(-1)],
            pose=torch.as_tensor(pose).reshape(-1, 3).tolist(),
            translation=[float(x) for x in torch.as_tensor(translation).reshape(-1)],
            **kw,
        )

    # --- files -------------------------------------------------------------------------------
    def save(self, folder: PathLikeStr, model: BodyModel) -> Path:
        """Write ``twin.json`` and ``body.ply`` into ``folder`` (atomically). Returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        verts, faces, joints = self.body(model)
        save_ply(folder / "body.ply", verts, faces, comments=[f"atelier twin body, model {self.model}, metres, canonical frame"])
        data = {
            "format": TWIN_FORMAT,
            "engine_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **asdict(self),
            "shape_labels": list(model.shape_labels),
            "joints": {n: [round(float(c), 5) for c in joints[i]] for i, n in enumerate(NAMED_JOINTS)},
        }
        write_json(folder / "twin.json", data)
        return folder

    @classmethod
    def load(cls, folder: PathLikeStr) -> "Twin":
        """Read ``folder/twin.json``; raises InputError naming what is missing."""
        folder = Path(folder)
        path = folder / "twin.json" if folder.is_dir() or not folder.suffix else folder
        if not path.exists():
            raise InputError(
                f"{path}: no twin here",
                hint="make one with `atelier fit SCAN --out DIR` and pass that DIR",
            )
        try:
            data = read_json(path)
            if not isinstance(data, dict):
                raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
            twin = cls(
                model=str(data["model"]),
                shape=_numbers(data["shape"], "shape", MAX_ABS_SHAPE),
                pose=np.reshape(_numbers(data["pose"], "pose", MAX_ABS_POSE_RAD), (-1, 3)).tolist(),
                translation=_numbers(data.get("translation", [0.0, 0.0, 0.0]), "translation", MAX_ABS_TRANSLATION_M),
                pose_name=data.get("pose_name"),
                source=data.get("source", {}),
                appearance=dict(data.get("appearance") or {}),
            )
            if len(twin.translation) != 3:
                raise ValueError(f"translation has {len(twin.translation)} numbers, not 3")
            if not isinstance(twin.source, dict) or not (twin.pose_name is None or isinstance(twin.pose_name, str)):
                raise ValueError("source must be an object and pose_name a string")
            return twin
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(f"{path}: not a valid twin file ({exc})", hint="re-run `atelier fit`") from None

    def body_arrays(self, model: BodyModel) -> dict[str, np.ndarray]:
        verts, faces, joints = self.body(model)
        return {"vertices": verts, "faces": faces, "joints": joints}
