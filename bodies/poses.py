"""Pose presets defined on named joints, so they mean the same on every backend.

Each preset gives axis-angle rotations (radians) in the canonical frame (+Y up, facing +Z, the
body's left along +X) for named joints (:data:`bodies.model.NAMED_JOINTS`); a backend applies each
at the model joint that ``named_joint_map`` names. Both backends rest in a T-pose. A rotation is
expressed in the rest (world-aligned) axes at its joint and carried by its parents, so an elbow
bend stays an elbow bend whatever the shoulder does.

The fashion presets are written in anatomical angles (degrees) through the helpers below, one
parameterisation per kind of joint, and :func:`joint_angles` reads any rotation back in the same
terms, which is what :data:`JOINT_LIMITS` bounds (the right side is the mirror image of the left:
a rotation vector (x, y, z) on the right reads as (x, -y, -z) on the left):

- ``arm`` (shoulder): ``raise_`` = elevation of the upper arm above the horizontal (-90 hangs it
  down), ``forward`` = its swing in front of the frontal plane (positive in front), ``twist``
  about the arm (positive turns the elbow's bend upwards then backwards).
- ``elbow`` / ``wrist``: ``flex`` bends towards the front of the T-pose (the palm side),
  ``side`` bends within the T-pose's horizontal plane's normal, ``twist`` about the bone.
- ``leg`` (hip) / ``knee``: ``flex`` swings the thigh forward (hip) or the shin backwards (knee),
  ``out`` abducts (away from the midline), ``twist`` turns the toes outwards.
- ``ankle``: ``point`` plantar-flexes (toes down), ``turn_out`` points the toes outwards,
  ``roll`` rolls the sole inwards.
- ``trunk`` (spine, neck, head): ``bend`` forwards, ``side`` towards the body's own side
  (positive towards its left), ``turn`` towards its left.
- the root (pelvis) is free: ``yaw`` turns the whole body towards its left, ``pitch`` tips it
  forwards, ``roll`` towards its left.

Fingers are not named joints; where a backend has finger bones (Anny: ``finger1-1.L`` ...
``finger5-3.R``, thumb first) a preset's hand shape (:data:`HAND_SHAPES`) curls them, so hands
are relaxed rather than flat paddles. SMPL-X presets keep its flat hands (the backend passes zero
hand poses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .model import NAMED_JOINTS, BodyModel

_DEG = math.pi / 180.0

# --- anatomical parameterisations -----------------------------------------------------------------

#: joint kind -> (scipy intrinsic Euler order, friendly angle names in that order, sign of each
#: friendly angle relative to the Euler angle for the LEFT side).
_KINDS: dict[str, tuple[str, tuple[str, str, str], tuple[float, float, float]]] = {
    "arm": ("YZX", ("forward", "raise_", "twist"), (-1.0, 1.0, 1.0)),
    "elbow": ("YZX", ("flex", "side", "twist"), (-1.0, 1.0, 1.0)),
    "wrist": ("YZX", ("flex", "side", "twist"), (-1.0, 1.0, 1.0)),
    "leg": ("XZY", ("flex", "out", "twist"), (-1.0, 1.0, 1.0)),
    "knee": ("XZY", ("flex", "out", "twist"), (1.0, 1.0, 1.0)),
    "ankle": ("XYZ", ("point", "turn_out", "roll"), (1.0, 1.0, -1.0)),
    "trunk": ("XZY", ("bend", "side", "turn"), (1.0, -1.0, 1.0)),
    "root": ("YXZ", ("yaw", "pitch", "roll"), (1.0, 1.0, -1.0)),
}

#: named joint -> kind of parameterisation.
JOINT_KIND = {
    "pelvis": "root", "spine": "trunk", "neck": "trunk", "head": "trunk",
    "left_shoulder": "arm", "right_shoulder": "arm", "left_elbow": "elbow", "right_elbow": "elbow",
    "left_wrist": "wrist", "right_wrist": "wrist", "left_hip": "leg", "right_hip": "leg",
    "left_knee": "knee", "right_knee": "knee", "left_ankle": "ankle", "right_ankle": "ankle",
}

#: Range of motion per named joint, degrees, in :func:`joint_angles`' terms (the right side
#: mirrored). Figures are the usual active ranges of motion of an adult (AAOS tables, rounded
#: generously: these limits catch authoring mistakes and broken retargeting, not athletes).
#: ``turn_out``/``twist`` of the hip and the arm twist include the fashion stances that need them.
JOINT_LIMITS: dict[str, dict[str, tuple[float, float]]] = {
    "spine": {"bend": (-30, 60), "side": (-35, 35), "turn": (-45, 45)},
    "neck": {"bend": (-45, 60), "side": (-40, 40), "turn": (-70, 70)},
    "head": {"bend": (-40, 40), "side": (-30, 30), "turn": (-50, 50)},
    "shoulder": {"forward": (-75, 150), "raise_": (-95, 180), "twist": (-100, 120)},
    "elbow": {"flex": (-10, 150), "side": (-30, 30), "twist": (-90, 90)},
    "wrist": {"flex": (-80, 80), "side": (-45, 45), "twist": (-90, 90)},
    "hip": {"flex": (-30, 125), "out": (-35, 50), "twist": (-45, 50)},
    "knee": {"flex": (-5, 150), "out": (-12, 12), "twist": (-30, 30)},
    "ankle": {"point": (-30, 55), "turn_out": (-35, 35), "roll": (-35, 35)},
}


def _side(joint: str) -> float:
    return -1.0 if joint.startswith("right_") else 1.0


def _limit_key(joint: str) -> str:
    return joint.split("_", 1)[1] if "_" in joint else joint


def rotation(joint: str, **angles: float) -> tuple[float, float, float]:
    """Axis-angle (x, y, z) radians for a named joint from anatomical angles in degrees (see the
    module docstring for each kind's names; unnamed angles are 0). The right side mirrors the left."""
    from scipy.spatial.transform import Rotation

    order, names, signs = _KINDS[JOINT_KIND[joint]]
    unknown = set(angles) - set(names)
    if unknown:
        raise ValueError(f"{joint}: unknown angle(s) {sorted(unknown)}; this joint takes {names}")
    euler = [s * float(angles.get(n, 0.0)) for n, s in zip(names, signs)]
    rv = Rotation.from_euler(order, euler, degrees=True).as_rotvec()
    if _side(joint) < 0:
        rv = rv * np.array([1.0, -1.0, -1.0])
    return tuple(float(x) for x in rv)


def joint_angles(joint: str, axis_angle) -> dict[str, float]:
    """The anatomical angles (degrees) of a named joint's axis-angle rotation (inverse of
    :func:`rotation`)."""
    from scipy.spatial.transform import Rotation

    order, names, signs = _KINDS[JOINT_KIND[joint]]
    rv = np.asarray(axis_angle, dtype=np.float64).reshape(3)
    if _side(joint) < 0:
        rv = rv * np.array([1.0, -1.0, -1.0])
    import warnings

    with warnings.catch_warnings():  # at gimbal lock (an arm straight down) the twist is folded into the swing
        warnings.simplefilter("ignore", UserWarning)
        euler = Rotation.from_rotvec(rv).as_euler(order, degrees=True)
    return {n: float(s * e) for n, s, e in zip(names, signs, euler)}


@dataclass(frozen=True)
class LimitViolation:
    """One anatomical angle outside :data:`JOINT_LIMITS`: ``joint``, ``angle`` name, its
    ``value`` and the allowed ``low``/``high``, degrees."""

    joint: str
    angle: str
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.joint}.{self.angle} = {self.value:.0f} deg outside [{self.low:.0f}, {self.high:.0f}]"


def check_joint_limits(joints: dict[str, tuple[float, float, float]], tolerance_deg: float = 0.5) -> list[LimitViolation]:
    """Violations of :data:`JOINT_LIMITS` in a pose on named joints ({joint: axis-angle radians});
    an empty list when every angle is within range. The root (pelvis) is free."""
    out = []
    for joint, aa in joints.items():
        limits = JOINT_LIMITS.get(_limit_key(joint))
        if joint not in JOINT_KIND or limits is None:
            continue
        for name, value in joint_angles(joint, aa).items():
            lo, hi = limits[name]
            if value < lo - tolerance_deg or value > hi + tolerance_deg:
                out.append(LimitViolation(joint, name, value, lo, hi))
    return out


def _pose(**joints: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    """{named joint: axis-angle} from {named joint: {angle name: degrees}}."""
    return {j: rotation(j, **a) for j, a in joints.items()}


def _both(kind: str, **angles: float) -> dict[str, dict[str, float]]:
    """The same anatomical angles on the left and right joint of ``kind`` (mirrored)."""
    return {f"left_{kind}": dict(angles), f"right_{kind}": dict(angles)}


# --- presets --------------------------------------------------------------------------------------

#: preset name -> {named joint: (axis-angle x, y, z) radians}
POSES: dict[str, dict[str, tuple[float, float, float]]] = {
    "t-pose": {},
    # Arms lowered 45 degrees from the T-pose: the classic A-pose for draping.
    "a-pose": {
        "left_shoulder": (0.0, 0.0, -45 * _DEG),
        "right_shoulder": (0.0, 0.0, 45 * _DEG),
    },
    # Arms down along the body with a small elbow bend, feet slightly apart.
    "relaxed": {
        "left_shoulder": (0.0, 0.0, -65 * _DEG),
        "right_shoulder": (0.0, 0.0, 65 * _DEG),
        "left_elbow": (0.0, -15 * _DEG, 0.0),
        "right_elbow": (0.0, 15 * _DEG, 0.0),
        "left_hip": (0.0, 0.0, 4 * _DEG),
        "right_hip": (0.0, 0.0, -4 * _DEG),
    },
}

#: The fashion library: name -> {named joint: {anatomical angle: degrees}}. Written for a body
#: whose zero pose is a T-pose; see the module docstring for the angle names.
FASHION_POSES: dict[str, dict[str, dict[str, float]]] = {
    # weight on the right leg, left knee soft, hips tilted, shoulders counter-tilted
    "contrapposto": {
        "pelvis": {"roll": -4},
        "spine": {"side": 6},
        "neck": {"side": -3},
        "left_shoulder": {"raise_": -78, "forward": 6},
        "right_shoulder": {"raise_": -76, "forward": 4},
        "left_elbow": {"flex": 12}, "right_elbow": {"flex": 18},
        "left_hip": {"flex": 8, "out": 1, "twist": 12}, "left_knee": {"flex": 16},
        "left_ankle": {"point": 6, "turn_out": 6},
        "right_hip": {"out": 6, "twist": 4},
    },
    "hand-on-hip": {
        "pelvis": {"roll": -3},
        "spine": {"side": 4},
        "left_shoulder": {"raise_": -35, "forward": -18, "twist": 50},
        "left_elbow": {"flex": 125},
        "left_wrist": {"flex": -12, "side": 10},
        "right_shoulder": {"raise_": -77, "forward": 4},
        "right_elbow": {"flex": 12},
        "left_hip": {"flex": 6, "out": 2, "twist": 10}, "left_knee": {"flex": 12},
        "right_hip": {"out": 6},
    },
    "hands-on-hips": {
        **_both("shoulder", raise_=-35, forward=-18, twist=50),
        **_both("elbow", flex=125),
        **_both("wrist", flex=-12, side=10),
        **_both("hip", out=5),
    },
    "walking-stride": {
        "pelvis": {"yaw": 6},
        "spine": {"turn": -8, "bend": 2},
        "left_hip": {"flex": 24, "out": 2}, "left_knee": {"flex": 8}, "left_ankle": {"point": -8},
        "right_hip": {"flex": -14, "out": 2}, "right_knee": {"flex": 22}, "right_ankle": {"point": 18},
        "left_shoulder": {"raise_": -78, "forward": -12}, "left_elbow": {"flex": 12},
        "right_shoulder": {"raise_": -78, "forward": 20}, "right_elbow": {"flex": 28},
    },
    "three-quarter-turn": {
        "pelvis": {"yaw": 35},
        "spine": {"turn": -10},
        "neck": {"turn": -15},
        "head": {"turn": -10},
        "left_shoulder": {"raise_": -76, "forward": 5}, "left_elbow": {"flex": 15},
        "right_shoulder": {"raise_": -76, "forward": 8}, "right_elbow": {"flex": 20},
        "left_hip": {"flex": 6, "twist": 14}, "left_knee": {"flex": 10},
        "right_hip": {"out": 5},
    },
    # folded in front at the waist, the left forearm above the right, fists meeting in the middle
    # (forearms that truly interlock pass through each other with linear blend skinning)
    "arms-crossed": {
        "left_shoulder": {"raise_": -55, "forward": 50},
        "left_elbow": {"flex": 100},
        "right_shoulder": {"raise_": -70, "forward": 30},
        "right_elbow": {"flex": 85},
        "left_hip": {"out": 4}, "right_hip": {"out": 4},
    },
    "hand-at-collar": {
        "right_shoulder": {"raise_": -35, "forward": 65, "twist": -60},
        "right_elbow": {"flex": 140},
        "right_wrist": {"flex": 10},
        "left_shoulder": {"raise_": -76, "forward": 4}, "left_elbow": {"flex": 14},
        "right_hip": {"flex": 6, "twist": 10}, "right_knee": {"flex": 12},
        "left_hip": {"out": 5},
        "head": {"turn": -8, "bend": -4},
    },
    "hands-behind-back": {
        "left_shoulder": {"raise_": -40, "forward": -70, "twist": 115},
        "left_elbow": {"flex": 70},
        "right_shoulder": {"raise_": -40, "forward": -70, "twist": 115},
        "right_elbow": {"flex": 70},
        "spine": {"bend": -4},
        "left_hip": {"out": 4}, "right_hip": {"out": 4},
    },
    "crossed-ankles": {
        "pelvis": {"roll": -3},
        "spine": {"side": 4},
        "left_hip": {"flex": 4, "out": -9, "twist": 8}, "left_knee": {"flex": 6},
        "left_ankle": {"point": 14, "turn_out": 8},
        "right_hip": {"out": 5},
        "left_shoulder": {"raise_": -76, "forward": 4}, "left_elbow": {"flex": 14},
        "right_shoulder": {"raise_": -78, "forward": 4}, "right_elbow": {"flex": 12},
    },
    "over-the-shoulder": {
        "pelvis": {"yaw": -150},
        "spine": {"turn": 30},
        "neck": {"turn": 45},
        "head": {"turn": 30, "bend": -3},
        "left_shoulder": {"raise_": -76, "forward": -4}, "left_elbow": {"flex": 14},
        "right_shoulder": {"raise_": -74, "forward": 12}, "right_elbow": {"flex": 18},
        "left_hip": {"flex": 8, "twist": 8}, "left_knee": {"flex": 14},
        "right_hip": {"out": 4},
    },
    "soft-elbows": {
        "left_shoulder": {"raise_": -74, "forward": 6}, "left_elbow": {"flex": 28},
        "right_shoulder": {"raise_": -74, "forward": 6}, "right_elbow": {"flex": 28},
        "left_wrist": {"flex": 8}, "right_wrist": {"flex": 8},
        "left_hip": {"out": 4}, "right_hip": {"out": 4},
    },
    # seated on a stool (see :func:`stool_for`): thighs forward, shins down, hands on the thighs
    "seated-stool": {
        "left_hip": {"flex": 70, "out": 6, "twist": 4}, "left_knee": {"flex": 72},
        "right_hip": {"flex": 64, "out": 4, "twist": 4}, "right_knee": {"flex": 85},
        "spine": {"bend": -6},
        "left_shoulder": {"raise_": -70, "forward": 15}, "left_elbow": {"flex": 30},
        "right_shoulder": {"raise_": -70, "forward": 15}, "right_elbow": {"flex": 30},
    },
}

POSES.update({name: _pose(**joints) for name, joints in FASHION_POSES.items()})

#: Measured self-penetration allowance (percent of skin vertices inside another body part) of
#: presets whose parts rest on each other: crossed forearms lie on each other and linear blend
#: skinning sinks the contact (~2.5 % of the vertices, forearm into forearm); hands behind the back
#: rest on the back and buttocks (~3.9 %). Every other preset stays under 1 % (see
#: tests/bodies/test_poses.py and docs/poses.md).
CONTACT_ALLOWANCE_PCT: dict[str, float] = {"arms-crossed": 3.5, "hands-behind-back": 4.5}

#: Presets that sit on a stool (:func:`stool_for` builds it; it is a collider in drapes/animations).
SEATED_POSES = ("seated-stool",)

# --- hands ----------------------------------------------------------------------------------------

#: Finger joint names as written in hand shapes: ``<finger><joint>`` with finger thumb, index,
#: middle, ring, pinky and joint 1 (knuckle) to 3 (tip).
FINGERS = ("thumb", "index", "middle", "ring", "pinky")

#: Anny bone for each (finger, joint): MakeHuman numbers fingers 1 (thumb) to 5 (pinky).
ANNY_FINGER_BONES = {f"{f}{j}": f"finger{i + 1}-{j}" for i, f in enumerate(FINGERS) for j in (1, 2, 3)}

#: hand shape -> {finger joint: curl in degrees}: the finger bends towards the palm. A relaxed
#: hand curls more towards the little finger (a natural cascade), the thumb rests beside the index.
HAND_SHAPES: dict[str, dict[str, float]] = {
    "flat": {},
    "relaxed": {
        "thumb1": 8, "thumb2": 10, "thumb3": 10,
        "index1": 14, "index2": 22, "index3": 12,
        "middle1": 18, "middle2": 28, "middle3": 14,
        "ring1": 22, "ring2": 32, "ring3": 16,
        "pinky1": 26, "pinky2": 36, "pinky3": 18,
    },
    "soft-fist": {
        "thumb1": 15, "thumb2": 25, "thumb3": 25,
        "index1": 45, "index2": 70, "index3": 40,
        "middle1": 50, "middle2": 75, "middle3": 40,
        "ring1": 55, "ring2": 75, "ring3": 40,
        "pinky1": 60, "pinky2": 75, "pinky3": 40,
    },
}

#: preset -> hand shape of both hands (presets not listed keep flat hands: the T/A/relaxed poses
#: that garments were tuned on).
PRESET_HANDS: dict[str, str] = {name: "relaxed" for name in FASHION_POSES}
PRESET_HANDS["arms-crossed"] = "soft-fist"

#: Curl axis of the fingers in the rest pose, left hand (canonical frame, measured on Anny: the
#: hands point forward-outwards, palms down, so a positive turn about this axis bends the fingers
#: down towards the palm); the right hand mirrors it.
_ANNY_CURL_AXIS_LEFT = np.array([1.0, 0.0, -0.6]) / math.hypot(1.0, 0.6)


def hand_rotations(shape: str, side: str) -> dict[str, tuple[float, float, float]]:
    """{Anny finger bone name: axis-angle radians} for a hand shape on ``side`` ("left"/"right")."""
    if shape not in HAND_SHAPES:
        from engine.errors import InputError

        raise InputError(f"unknown hand shape {shape!r}", hint=f"choose one of: {', '.join(HAND_SHAPES)}")
    suffix = ".L" if side == "left" else ".R"
    axis = _ANNY_CURL_AXIS_LEFT * (np.array([1.0, -1.0, -1.0]) if side == "right" else 1.0)
    out = {}
    for joint, deg in HAND_SHAPES[shape].items():
        out[ANNY_FINGER_BONES[joint] + suffix] = tuple(float(x) for x in axis * deg * _DEG)
    return out


# --- API ------------------------------------------------------------------------------------------


def pose_names() -> list[str]:
    return sorted(POSES)


def fashion_pose_names() -> list[str]:
    """The fashion library's presets, in the order of :data:`FASHION_POSES`."""
    return list(FASHION_POSES)


def _unknown(name: str):
    from engine.errors import InputError

    return InputError(f"unknown pose {name!r}", hint=f"choose one of: {', '.join(pose_names())}")


_STRAIGHT_CACHE: dict[int, dict[str, np.ndarray]] = {}


def elbow_rest_corrections(model: BodyModel) -> dict[str, np.ndarray]:
    """{"left_elbow"/"right_elbow": (3, 3) rotation} that straightens each forearm of the model's
    zero pose onto its upper arm's line (Anny rests with its forearms turned ~43 degrees forwards;
    SMPL-X's are straight: identity). Library poses are written for straight T-pose arms and go
    through this, so an elbow's ``flex`` means the same bend on every backend."""
    key = id(model)
    if key not in _STRAIGHT_CACHE:
        with torch.no_grad():
            j = model(pose=model.zero_pose(1)).joints[0].double().cpu().numpy()
        names = list(NAMED_JOINTS)
        out = {}
        for side in ("left", "right"):
            u = j[names.index(f"{side}_elbow")] - j[names.index(f"{side}_shoulder")]
            f = j[names.index(f"{side}_wrist")] - j[names.index(f"{side}_elbow")]
            out[f"{side}_elbow"] = _align(f, u)
        _STRAIGHT_CACHE[key] = out
    return _STRAIGHT_CACHE[key]


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) smallest rotation turning direction ``a`` onto direction ``b``."""
    from scipy.spatial.transform import Rotation

    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    if s < 1e-9:
        return np.eye(3)
    angle = math.atan2(s, float(a @ b))
    return Rotation.from_rotvec(axis / s * angle).as_matrix()


def pose_tensor(model: BodyModel, joints: dict[str, tuple[float, float, float]], batch: int = 1,
                hands: str | None = None, extra: dict[str, tuple[float, float, float]] | None = None,
                straight_arms: bool = True) -> torch.Tensor:
    """(B, P, 3) float32 pose for ``model`` from rotations on named joints (axis-angle radians).

    Args:
        joints: {named joint: (x, y, z)}; a name outside NAMED_JOINTS is an InputError.
        hands: a :data:`HAND_SHAPES` name applied where the model has finger bones, or None.
        extra: rotations on the model's own joint names (e.g. Anny's ``clavicle.L``), applied
            where the model has them.
        straight_arms: the rotations are written for straight T-pose arms: each elbow's rotation
            is applied after :func:`elbow_rest_corrections` (the T/A/relaxed presets predate this
            and pass False).
    """
    from scipy.spatial.transform import Rotation

    from engine.errors import InputError

    pose = model.zero_pose(batch)
    joints = dict(joints)
    if straight_arms:
        for joint, corr in elbow_rest_corrections(model).items():
            user = Rotation.from_rotvec(np.asarray(joints.get(joint, (0.0, 0.0, 0.0)), np.float64)).as_matrix()
            joints[joint] = tuple(Rotation.from_matrix(user @ corr).as_rotvec())
    for joint, aa in joints.items():
        if joint not in NAMED_JOINTS:
            raise InputError(f"unknown joint {joint!r} in a pose", hint=f"use named joints: {', '.join(NAMED_JOINTS)}")
        pose[:, model.pose_index(joint)] = torch.tensor(aa, dtype=pose.dtype)
    model_rot = dict(extra or {})
    if hands and hands != "flat":
        for side in ("left", "right"):
            model_rot.update(hand_rotations(hands, side))
    names = model.pose_joint_names
    for bone, aa in model_rot.items():
        if bone in names:
            pose[:, names.index(bone)] = torch.tensor(aa, dtype=pose.dtype)
    if straight_arms:
        _arm_rows_in_t_pose_axes(model, pose)
    return pose


def _arm_rows_in_t_pose_axes(model: BodyModel, pose: torch.Tensor) -> None:
    """Anny turns its upper arms from its native rest (arms ~48 degrees down) to the T-pose under
    the user's rotation, so the rows of the joints below a shoulder act in the native arm's axes.
    Conjugating them by that turn C (row = C^T R C) makes them act in the T-pose's axes, as the
    library's angles (and the finger curl axis) are written. No-op for backends without it."""
    corr = getattr(model, "_rest_correction", None)
    parents = getattr(getattr(model, "anny", None), "bone_parents", None)
    if corr is None or parents is None:
        return
    from .rotations import axis_angle_to_matrix

    names = model.pose_joint_names
    parents = list(parents)
    for side in ("left", "right"):
        sh = model.pose_index(f"{side}_shoulder")
        c = corr[sh].to(pose.dtype)
        below = [i for i in range(len(names)) if _descends(i, sh, parents)]
        if torch.allclose(c, torch.eye(3, dtype=c.dtype)) or not below:
            continue
        r = axis_angle_to_matrix(pose[:, below].reshape(-1, 3))
        r = c.T @ r @ c
        pose[:, below] = _matrix_to_axis_angle(r).reshape(pose.shape[0], len(below), 3)


def _descends(i: int, ancestor: int, parents: list[int]) -> bool:
    p = parents[i]
    while p >= 0:
        if p == ancestor:
            return True
        p = parents[p]
    return False


def _matrix_to_axis_angle(r: torch.Tensor) -> torch.Tensor:
    from scipy.spatial.transform import Rotation

    return torch.as_tensor(Rotation.from_matrix(r.detach().double().cpu().numpy()).as_rotvec(), dtype=torch.float32)


def pose_preset(model: BodyModel, name: str, batch: int = 1) -> torch.Tensor:
    """(B, P, 3) float32 pose tensor for ``model`` from a preset name (fingers curled where the
    model has finger bones and the preset asks for a hand shape)."""
    if name not in POSES:
        raise _unknown(name)
    return pose_tensor(model, POSES[name], batch, hands=PRESET_HANDS.get(name), straight_arms=name in FASHION_POSES)


def floor_translation(vertices: torch.Tensor) -> torch.Tensor:
    """(B, 3) float32 translation that puts the lowest vertex of (B, V, 3) posed vertices on
    y = 0 (a seated or mid-stride body stands on the floor rather than hanging from its rest
    height). Add it to the translation the vertices were made with."""
    t = torch.zeros(vertices.shape[0], 3, dtype=torch.float32, device=vertices.device)
    t[:, 1] = -vertices[..., 1].amin(dim=1).float()
    return t


def posed_body(model: BodyModel, name: str, shape: torch.Tensor | None = None):
    """A preset on one body, standing on the floor: (BodyOutput, (1, 3) translation used)."""
    pose = pose_preset(model, name)
    out = model(shape=shape, pose=pose)
    t = floor_translation(out.vertices)
    out.vertices = out.vertices + t[:, None]
    out.joints = out.joints + t[:, None]
    return out, t


def stool_for(vertices: np.ndarray, joints: np.ndarray, height_gap_m: float = 0.0,
              top_m: float = 0.34, segments: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A round stool under a seated body: (V, 3) float32 vertices, (F, 3) int64 faces, a closed
    cylinder (outward faces), canonical frame, metres.

    The top is at the lowest point of the buttocks (body vertices behind the knees and below the
    hips), so the stool supports the body; ``top_m`` is the seat's diameter.
    """
    v = np.asarray(vertices, np.float64)
    j = np.asarray(joints, np.float64)
    names = list(NAMED_JOINTS)
    hip = (j[names.index("left_hip")] + j[names.index("right_hip")]) / 2
    knee_z = min(j[names.index("left_knee")][2], j[names.index("right_knee")][2])
    sel = (v[:, 2] < knee_z - 0.12) & (v[:, 1] < hip[1]) & (v[:, 1] > hip[1] - 0.25) & (np.abs(v[:, 0] - hip[0]) < 0.2)
    top = float(v[sel, 1].min()) - height_gap_m if np.any(sel) else float(hip[1] - 0.1)
    centre = np.array([hip[0], 0.0, hip[2] - 0.02])
    r = top_m / 2
    theta = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack([r * np.cos(theta), np.zeros_like(theta), -r * np.sin(theta)], 1)
    bottom, upper = centre + ring, centre + ring + [0.0, top, 0.0]
    verts = np.vstack([bottom, upper, centre, centre + [0.0, top, 0.0]])
    n = segments
    faces = []
    for i in range(n):
        k = (i + 1) % n
        faces += [(i, k, n + k), (i, n + k, n + i)]  # side
        faces.append((2 * n + 1, n + i, n + k))  # top
        faces.append((2 * n, k, i))  # bottom
    return verts.astype(np.float32), np.asarray(faces, np.int64)
