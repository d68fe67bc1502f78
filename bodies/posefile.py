"""Pose files: a pose on named joints as JSON (see docs/poses.md).

.. code-block:: json

    {
      "format": "atelier-pose",
      "version": 1,
      "name": "leaning",
      "convention": "anatomical",
      "joints": {
        "left_shoulder": {"raise_": -80, "forward": 6},
        "left_elbow": {"flex": 20},
        "right_hip": {"out": 6}
      },
      "hands": "relaxed"
    }

- ``convention`` ``"anatomical"`` (default): each joint gives the anatomical angles of
  :mod:`bodies.poses` in degrees (``raise_``, ``forward``, ``twist`` for a shoulder...).
  ``"axis-angle"``: each joint gives ``[x, y, z]``, an axis-angle rotation in radians in the
  canonical rest axes at the joint (the pose tensor's own convention); ``"units": "degrees"``
  reads the three numbers as degrees instead.
- ``joints`` uses the names of :data:`bodies.model.NAMED_JOINTS` only; a joint not given rests.
- ``hands``: a :data:`bodies.poses.HAND_SHAPES` name (default ``"flat"``).
- ``straight_arms`` (default true): the angles are written for straight T-pose arms (see
  :func:`bodies.poses.elbow_rest_corrections`).

:func:`load_pose_file` checks everything and raises one InputError naming the file and the bad
entry; :func:`save_pose_file` writes the axis-angle form of any pose on named joints.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import InputError
from engine.types import PathLikeStr

from .model import NAMED_JOINTS

FORMAT = "atelier-pose"
VERSION = 1
CONVENTIONS = ("anatomical", "axis-angle")


@dataclass
class PoseSpec:
    """A pose on named joints, read from a file.

    Attributes:
        name: the pose's name (the file stem when the file gives none).
        joints: {named joint: (x, y, z)} axis-angle, radians, canonical rest axes at the joint.
        hands: hand shape name.
        straight_arms: the rotations assume straight T-pose arms.
    """

    name: str
    joints: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    hands: str = "flat"
    straight_arms: bool = True

    def tensor(self, model, batch: int = 1):
        """(B, P, 3) float32 pose tensor for ``model``."""
        from .poses import pose_tensor

        return pose_tensor(model, self.joints, batch, hands=self.hands, straight_arms=self.straight_arms)


def parse_pose(data: dict, where: str = "pose") -> PoseSpec:
    """A :class:`PoseSpec` from the JSON object of a pose file (``where`` names it in errors)."""
    from .poses import HAND_SHAPES, JOINT_KIND, _KINDS, rotation

    hint = "see docs/poses.md for the pose file format"
    if not isinstance(data, dict):
        raise InputError(f"{where}: a pose file holds one JSON object", hint=hint)
    if data.get("format", FORMAT) != FORMAT:
        raise InputError(f"{where}: format {data.get('format')!r} is not {FORMAT!r}", hint=hint)
    if int(data.get("version", VERSION)) > VERSION:
        raise InputError(f"{where}: pose file version {data['version']} is newer than this Atelier reads ({VERSION})",
                         hint="upgrade Atelier")
    conv = data.get("convention", "anatomical")
    if conv not in CONVENTIONS:
        raise InputError(f"{where}: convention {conv!r} is not one of {', '.join(CONVENTIONS)}", hint=hint)
    units = data.get("units", "radians" if conv == "axis-angle" else "degrees")
    if units not in ("radians", "degrees"):
        raise InputError(f"{where}: units {units!r} must be 'radians' or 'degrees'", hint=hint)
    hands = data.get("hands", "flat")
    if hands not in HAND_SHAPES:
        raise InputError(f"{where}: unknown hand shape {hands!r}", hint=f"choose one of: {', '.join(HAND_SHAPES)}")
    joints_in = data.get("joints", {})
    if not isinstance(joints_in, dict):
        raise InputError(f"{where}: 'joints' must be an object of joint name -> rotation", hint=hint)
    joints = {}
    for name, value in joints_in.items():
        if name not in NAMED_JOINTS:
            raise InputError(f"{where}: unknown joint {name!r}", hint=f"use named joints: {', '.join(NAMED_JOINTS)}")
        if conv == "axis-angle":
            if not (isinstance(value, (list, tuple)) and len(value) == 3
                    and all(isinstance(x, (int, float)) and math.isfinite(x) for x in value)):
                raise InputError(f"{where}: joint {name!r} needs [x, y, z] numbers (axis-angle)", hint=hint)
            k = math.pi / 180.0 if units == "degrees" else 1.0
            joints[name] = tuple(float(x) * k for x in value)
        else:
            names = _KINDS[JOINT_KIND[name]][1]
            if not isinstance(value, dict) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value.values()):
                raise InputError(f"{where}: joint {name!r} needs an object of angle -> degrees ({', '.join(names)})", hint=hint)
            bad = set(value) - set(names)
            if bad:
                raise InputError(f"{where}: joint {name!r} has no angle {sorted(bad)[0]!r}",
                                 hint=f"{name} takes: {', '.join(names)}")
            joints[name] = rotation(name, **{k: float(v) for k, v in value.items()})
    return PoseSpec(name=str(data.get("name") or "pose"), joints=joints, hands=hands,
                    straight_arms=bool(data.get("straight_arms", True)))


def load_pose_file(path: PathLikeStr) -> PoseSpec:
    """Read and check a pose JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read the pose file ({exc.strerror})") from None
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})", hint="see docs/poses.md for the pose file format") from None
    spec = parse_pose(data, str(path))
    if not data.get("name"):
        spec.name = path.stem
    return spec


def save_pose_file(path: PathLikeStr, name: str, joints: dict[str, tuple[float, float, float]],
                   hands: str = "flat", straight_arms: bool = True) -> Path:
    """Write a pose on named joints (axis-angle radians) as a pose file (atomically)."""
    from engine.storage import write_json

    path = Path(path)
    write_json(path, {"format": FORMAT, "version": VERSION, "name": name, "convention": "axis-angle",
                      "units": "radians", "hands": hands, "straight_arms": straight_arms,
                      "joints": {j: [round(float(x), 6) for x in aa] for j, aa in joints.items()}})
    return path


def resolve_pose(model, pose: str, batch: int = 1):
    """(B, P, 3) pose tensor from a preset name or a pose file path (``.json``)."""
    from .poses import POSES, pose_preset

    if pose in POSES:
        return pose_preset(model, pose, batch)
    if pose.endswith(".json") or Path(pose).is_file():
        return load_pose_file(pose).tensor(model, batch)
    return pose_preset(model, pose, batch)  # raises the unknown-pose error with the list
