"""BVH motion capture: read a clip and retarget its frames onto the named joints.

A BVH file is a skeleton (joints with rest offsets and rotation channels) and a table of frames.
Retargeting here works in world space, joint by joint, so it does not care how the clip's
skeleton is built or what its rest pose is:

1. For each named joint the clip's bone (the joint to its mapped child) has a rest direction, from
   the offsets, and Atelier's T-pose bone has its own (:data:`CANONICAL_BONES`). The rest-pose
   offset ``A`` is the smallest rotation taking the canonical direction onto the clip's.
2. In a frame, the clip joint's world rotation ``G`` (the product of its chain's channel
   rotations) carries that bone: Atelier's joint gets the world rotation ``W = G A``.
3. The pose tensor's rotations are carried by the parents: each named joint's entry is
   ``W_parent^-1 W``, with the parents of :data:`NAMED_PARENTS`.
4. The root moves by the clip's root translation times the root scale: the canonical rest hip
   height over the clip's (its hips above its lowest end site in the rest pose).

A clip whose rest pose is a T-pose and whose frame is that rest pose gives the zero pose; a clip
resting in an A-pose gives the arms' A-pose at its rest frame. The clip must be Y-up (the BVH
convention); ``facing`` turns a clip that faces another way than +Z. Units do not matter (the root
scale takes them out). The result is for :func:`bodies.poses.pose_tensor` with straight arms.

Joint names: :data:`DEFAULT_JOINT_MAP` knows CMU's (as converted by cgspeed: Hips, LeftUpLeg...),
Mixamo's (``mixamorig:`` prefix removed) and a few other common spellings; pass ``joint_map`` for
others. CMU's motion-capture library (mocap.cs.cmu.edu) may be used in commercial products, not
resold; AMASS/LAFAN1 and similar collections are non-commercial and must not be used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.types import PathLikeStr

from .model import NAMED_JOINTS

#: parent of each named joint in the chain of named joints (None: the root).
NAMED_PARENTS = {
    "pelvis": None, "spine": "pelvis", "neck": "spine", "head": "neck",
    "left_shoulder": "spine", "right_shoulder": "spine",
    "left_elbow": "left_shoulder", "right_elbow": "right_shoulder",
    "left_wrist": "left_elbow", "right_wrist": "right_elbow",
    "left_hip": "pelvis", "right_hip": "pelvis", "left_knee": "left_hip", "right_knee": "right_hip",
    "left_ankle": "left_knee", "right_ankle": "right_knee",
}

#: the bone each named joint turns: its child named joint (None: the bone ends at the joint's own
#: first child in the clip, e.g. the hand, the toes, the head's end site).
_CHILD = {
    "pelvis": "spine", "spine": "neck", "neck": "head", "head": None,
    "left_shoulder": "left_elbow", "right_shoulder": "right_elbow",
    "left_elbow": "left_wrist", "right_elbow": "right_wrist", "left_wrist": None, "right_wrist": None,
    "left_hip": "left_knee", "right_hip": "right_knee", "left_knee": "left_ankle", "right_knee": "right_ankle",
    "left_ankle": None, "right_ankle": None,
}

#: direction of each named joint's bone in Atelier's T-pose (canonical frame).
CANONICAL_BONES = {
    "pelvis": (0.0, 1.0, 0.0), "spine": (0.0, 1.0, 0.0), "neck": (0.0, 1.0, 0.0), "head": (0.0, 1.0, 0.0),
    "left_shoulder": (1.0, 0.0, 0.0), "left_elbow": (1.0, 0.0, 0.0), "left_wrist": (1.0, 0.0, 0.0),
    "right_shoulder": (-1.0, 0.0, 0.0), "right_elbow": (-1.0, 0.0, 0.0), "right_wrist": (-1.0, 0.0, 0.0),
    "left_hip": (0.0, -1.0, 0.0), "left_knee": (0.0, -1.0, 0.0), "left_ankle": (0.0, -0.45, 1.0),
    "right_hip": (0.0, -1.0, 0.0), "right_knee": (0.0, -1.0, 0.0), "right_ankle": (0.0, -0.45, 1.0),
}

#: clip joint name (lower case, prefixes such as ``mixamorig:`` removed) -> named joint.
DEFAULT_JOINT_MAP = {
    "hips": "pelvis", "pelvis": "pelvis", "root": "pelvis",
    "spine1": "spine", "spine": "spine", "chest": "spine",
    "neck": "neck", "neck1": "neck", "head": "head",
    "leftarm": "left_shoulder", "leftupperarm": "left_shoulder", "lshoulder": "left_shoulder",
    "leftforearm": "left_elbow", "leftlowerarm": "left_elbow", "lforearm": "left_elbow",
    "lefthand": "left_wrist", "lhand": "left_wrist",
    "rightarm": "right_shoulder", "rightupperarm": "right_shoulder", "rshoulder": "right_shoulder",
    "rightforearm": "right_elbow", "rightlowerarm": "right_elbow", "rforearm": "right_elbow",
    "righthand": "right_wrist", "rhand": "right_wrist",
    "leftupleg": "left_hip", "leftthigh": "left_hip", "lthigh": "left_hip", "lhip": "left_hip",
    "leftleg": "left_knee", "leftshin": "left_knee", "lshin": "left_knee",
    "leftfoot": "left_ankle", "lfoot": "left_ankle",
    "rightupleg": "right_hip", "rightthigh": "right_hip", "rthigh": "right_hip", "rhip": "right_hip",
    "rightleg": "right_knee", "rightshin": "right_knee", "rshin": "right_knee",
    "rightfoot": "right_ankle", "rfoot": "right_ankle",
}

_AXES = {"X": 0, "Y": 1, "Z": 2}


@dataclass
class BvhJoint:
    """One joint of a BVH skeleton: ``offset`` (3,) from its parent in the clip's units,
    ``channels`` (e.g. Xposition ... Zrotation), ``children`` indices, ``end`` (3,) offset of its
    End Site or None."""

    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    end: np.ndarray | None = None
    first_channel: int = 0


@dataclass
class BvhClip:
    """A parsed BVH file: ``joints`` (root first), ``frames`` (N, C) float64 channel values
    (degrees, clip units), ``frame_time`` seconds."""

    joints: list[BvhJoint]
    frames: np.ndarray
    frame_time: float
    path: str = ""

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time if self.frame_time > 0 else 0.0

    def __len__(self) -> int:
        return len(self.frames)


def read_bvh(path: PathLikeStr) -> BvhClip:
    """Parse a BVH file. Raises InputError naming the file and the line for a malformed one."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the BVH file ({exc.strerror})") from None
    return parse_bvh(text, str(path))


def parse_bvh(text: str, where: str = "BVH") -> BvhClip:
    tokens = text.split()
    pos = 0
    hint = "a BVH file starts with HIERARCHY, ROOT name { OFFSET x y z CHANNELS n ... } and then MOTION"

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise InputError(f"{where}: the file ends too early", hint=hint)
        pos += 1
        return tokens[pos - 1]

    def number() -> float:
        tok = take()
        try:
            return float(tok)
        except ValueError:
            raise InputError(f"{where}: expected a number, found {tok!r}", hint=hint) from None

    if take().upper() != "HIERARCHY":
        raise InputError(f"{where}: not a BVH file (no HIERARCHY)", hint=hint)
    joints: list[BvhJoint] = []
    n_channels = 0
    stack: list[int] = []
    tok = take()
    if tok.upper() != "ROOT":
        raise InputError(f"{where}: expected ROOT, found {tok!r}", hint=hint)
    pending = ("joint", take())
    while True:
        kind, name = pending
        if take() != "{":
            raise InputError(f"{where}: expected '{{' after {name}", hint=hint)
        if kind == "end":
            if take().upper() != "OFFSET":
                raise InputError(f"{where}: End Site needs an OFFSET", hint=hint)
            joints[stack[-1]].end = np.array([number(), number(), number()])
            if take() != "}":
                raise InputError(f"{where}: expected '}}' after End Site", hint=hint)
        else:
            parent = stack[-1] if stack else -1
            if take().upper() != "OFFSET":
                raise InputError(f"{where}: joint {name} needs an OFFSET", hint=hint)
            j = BvhJoint(name=name, parent=parent, offset=np.array([number(), number(), number()]))
            if take().upper() != "CHANNELS":
                raise InputError(f"{where}: joint {name} needs CHANNELS", hint=hint)
            n = int(number())
            j.channels = [take() for _ in range(n)]
            j.first_channel = n_channels
            n_channels += n
            joints.append(j)
            if parent >= 0:
                joints[parent].children.append(len(joints) - 1)
            stack.append(len(joints) - 1)
        # children or close
        while True:
            tok = take()
            up = tok.upper()
            if up == "JOINT":
                pending = ("joint", take())
                break
            if up == "END":
                take()  # "Site"
                pending = ("end", "End Site")
                break
            if tok == "}":
                if kind == "end":
                    kind = "joint"  # the End Site's brace was consumed above; this closes its joint
                stack.pop()
                if not stack:
                    pending = None
                    break
                continue
            raise InputError(f"{where}: unexpected {tok!r} in the hierarchy", hint=hint)
        if pending is None:
            break
    if take().upper() != "MOTION":
        raise InputError(f"{where}: expected MOTION after the hierarchy", hint=hint)
    take()  # Frames:
    n_frames = int(number())
    if take().lower() != "frame" or take().lower() != "time:":
        raise InputError(f"{where}: expected 'Frame Time:'", hint=hint)
    frame_time = number()
    values = tokens[pos:pos + n_frames * n_channels]
    if len(values) < n_frames * n_channels:
        raise InputError(f"{where}: {n_frames} frames of {n_channels} channels announced, "
                         f"only {len(values) // max(n_channels, 1)} complete frames present", hint=hint)
    try:
        frames = np.asarray(values, dtype=np.float64).reshape(n_frames, n_channels)
    except ValueError:
        raise InputError(f"{where}: the motion table holds something that is not a number", hint=hint) from None
    return BvhClip(joints=joints, frames=frames, frame_time=frame_time, path=where)


def _axis_rot(axis: int, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    if axis == 0:
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == 1:
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _local(joint: BvhJoint, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(3, 3) rotation and (3,) translation of a joint in one frame (rotations composed in the
    channels' order, as BVH does: v_parent = R v_local + offset + translation)."""
    r = np.eye(3)
    t = np.zeros(3)
    for k, ch in enumerate(joint.channels):
        v = row[joint.first_channel + k]
        kind = ch[1:].lower()
        axis = _AXES.get(ch[0].upper())
        if axis is None:
            continue
        if kind == "rotation":
            r = r @ _axis_rot(axis, v)
        elif kind == "position":
            t[axis] = v
    return r, t


def _world(clip: BvhClip, row: np.ndarray | None):
    """World rotations (J, 3, 3) and positions (J, 3) of the clip's joints for a frame (None:
    the rest pose, every channel zero)."""
    n = len(clip.joints)
    rot = np.zeros((n, 3, 3))
    pos = np.zeros((n, 3))
    for i, j in enumerate(clip.joints):
        if row is None:
            r, t = np.eye(3), np.zeros(3)
        else:
            r, t = _local(j, row)
        if j.parent < 0:
            rot[i] = r
            pos[i] = j.offset + t
        else:
            rot[i] = rot[j.parent] @ r
            pos[i] = pos[j.parent] + rot[j.parent] @ (j.offset + t)
    return rot, pos


def _normalise_name(name: str) -> str:
    n = name.split(":")[-1].split("|")[-1]
    return n.replace("_", "").replace(" ", "").lower()


def match_joints(clip: BvhClip, joint_map: dict[str, str] | None = None) -> dict[str, int]:
    """{named joint: clip joint index}. ``joint_map`` maps clip joint names (as written) to named
    joints and takes precedence over :data:`DEFAULT_JOINT_MAP`. The first clip joint matching a
    name wins (CMU's "Spine" before "Spine1" gives the lower spine: "spine1" is preferred when
    both are present). Raises InputError when a joint the retargeting needs is missing."""
    out: dict[str, int] = {}
    by_norm = {}
    for i, j in enumerate(clip.joints):
        by_norm.setdefault(_normalise_name(j.name), i)
    if joint_map:
        for clip_name, named in joint_map.items():
            if named not in NAMED_JOINTS:
                raise InputError(f"joint map: {named!r} is not a named joint", hint=f"use: {', '.join(NAMED_JOINTS)}")
            idx = next((i for i, j in enumerate(clip.joints) if j.name == clip_name), None)
            if idx is None:
                raise InputError(f"joint map: the clip has no joint {clip_name!r}")
            out[named] = idx
    for norm, named in DEFAULT_JOINT_MAP.items():
        if named not in out and norm in by_norm:
            out[named] = by_norm[norm]
    if "spine1" in by_norm and (not joint_map or "spine" not in joint_map.values()):
        out["spine"] = by_norm["spine1"]
    missing = [n for n in ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee") if n not in out]
    if missing:
        raise InputError(f"{clip.path}: no clip joint found for {', '.join(missing)}",
                         hint="pass a joint map (clip joint name -> named joint), e.g. {\"LHipJoint\": \"left_hip\"}")
    return out


def _bone_direction(clip: BvhClip, pos: np.ndarray, named: str, idx: int, matched: dict[str, int]):
    """Direction of a named joint's bone in clip world coordinates from joint positions ``pos``
    (any frame), or None when the clip has nothing past the joint."""
    child = _CHILD[named]
    if child is not None and child in matched:
        d = pos[matched[child]] - pos[idx]
    else:
        j = clip.joints[idx]
        if j.children:
            d = pos[j.children[0]] - pos[idx]
        elif j.end is not None:
            return None  # resolved by the caller with the rest rotation (end offsets are local)
        else:
            return None
    n = np.linalg.norm(d)
    return d / n if n > 1e-9 else None


def _align(a, b) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    a = np.asarray(a, float) / np.linalg.norm(a)
    b = np.asarray(b, float) / np.linalg.norm(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    c = float(a @ b)
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return Rotation.from_rotvec(perp / np.linalg.norm(perp) * math.pi).as_matrix()
    return Rotation.from_rotvec(axis / s * math.atan2(s, c)).as_matrix()


@dataclass
class Retargeted:
    """A clip frame on the named joints: ``joints`` {named joint: axis-angle radians},
    ``translation`` (3,) metres (canonical frame, add to the body's placement), ``scale`` the
    root scale used (canonical metres per clip unit)."""

    joints: dict[str, tuple[float, float, float]]
    translation: np.ndarray
    scale: float


class Retargeter:
    """Retargets frames of one clip onto the named joints.

    Args:
        clip: the parsed BVH.
        hip_height_m: the target body's hip height (pelvis above the floor in its rest pose),
            metres; the root scale is this over the clip's rest hip height.
        joint_map: extra clip joint name -> named joint entries.
        facing_deg: turn the clip about +Y by this many degrees first (a clip facing +X needs -90).
        centre: subtract the first frame's horizontal root position (the walk starts at the origin).
    """

    def __init__(self, clip: BvhClip, hip_height_m: float = 0.9, joint_map: dict[str, str] | None = None,
                 facing_deg: float = 0.0, centre: bool = True):
        if len(clip) == 0:
            raise InputError(f"{clip.path}: the clip has no frames")
        self.clip = clip
        self.matched = match_joints(clip, joint_map)
        self.face = _axis_rot(1, facing_deg)
        rest_rot, rest_pos = _world(clip, None)
        self.rest_pos = rest_pos
        # rest-pose offsets: canonical bone -> clip rest bone
        self.align = {}
        for named, idx in self.matched.items():
            d = _bone_direction(clip, rest_pos, named, idx, self.matched)
            if d is None:
                j = clip.joints[idx]
                d = j.end / np.linalg.norm(j.end) if j.end is not None and np.linalg.norm(j.end) > 1e-9 else None
            if d is None:
                d = np.asarray(CANONICAL_BONES[named], float)
            self.align[named] = _align(CANONICAL_BONES[named], self.face @ d)
        lowest = min(float(p[1]) for p in self._end_points(rest_pos))
        clip_hip = float(rest_pos[self.matched["pelvis"]][1]) - lowest
        if clip_hip <= 1e-9:
            raise InputError(f"{clip.path}: the clip's hips are not above its feet in the rest pose",
                             hint="a BVH must be Y-up; give facing/joint map for unusual skeletons")
        self.scale = float(hip_height_m) / clip_hip
        self.hip_height = float(hip_height_m)
        self.floor = lowest
        first = self._root(clip.frames[0])
        self.origin = np.array([first[0], 0.0, first[2]]) if centre else np.zeros(3)

    def _end_points(self, pos):
        pts = []
        for i, j in enumerate(self.clip.joints):
            if not j.children:
                pts.append(pos[i] + (j.end if j.end is not None else 0.0))
        return pts or [pos[0]]

    def _root(self, row) -> np.ndarray:
        _, pos = _world(self.clip, row)
        return self.face @ pos[self.matched["pelvis"]]

    def frame(self, k: int) -> Retargeted:
        """Frame ``k`` (0-based) of the clip on the named joints."""
        if not 0 <= k < len(self.clip):
            raise InputError(f"{self.clip.path}: no frame {k} (the clip has {len(self.clip)})")
        from scipy.spatial.transform import Rotation

        row = self.clip.frames[k]
        rot, pos = _world(self.clip, row)
        world = {n: self.face @ rot[i] @ self.face.T @ self.align[n] for n, i in self.matched.items()}
        joints = {}
        for named in NAMED_JOINTS:
            if named not in world:
                continue
            parent = NAMED_PARENTS[named]
            while parent is not None and parent not in world:
                parent = NAMED_PARENTS[parent]
            w_parent = world[parent] if parent is not None else np.eye(3)
            local = w_parent.T @ world[named]
            joints[named] = tuple(float(x) for x in Rotation.from_matrix(local).as_rotvec())
        root = self.face @ pos[self.matched["pelvis"]]
        t = self.scale * (root - self.origin - np.array([0.0, self.floor, 0.0]))
        t[1] -= self.hip_height
        return Retargeted(joints=joints, translation=t, scale=self.scale)

    def frames(self, start: int = 0, stop: int | None = None, step: int = 1) -> list[Retargeted]:
        return [self.frame(k) for k in range(start, len(self.clip) if stop is None else stop, step)]


def write_bvh(path: PathLikeStr, joints: list[tuple[str, int, tuple[float, float, float], list[str]]],
              frames: np.ndarray, frame_time: float = 1 / 30, ends: dict[int, tuple[float, float, float]] | None = None) -> Path:
    """Write a BVH file (for tests and exports).

    Args:
        joints: (name, parent index or -1, offset, channels) in depth-first order, root first.
        frames: (N, C) channel values, degrees / units.
        ends: {joint index: End Site offset} for leaf joints.
    """
    ends = ends or {}
    children: dict[int, list[int]] = {i: [] for i in range(len(joints))}
    for i, (_, parent, _, _) in enumerate(joints):
        if parent >= 0:
            children[parent].append(i)
    lines = ["HIERARCHY"]

    def emit(i: int, depth: int) -> None:
        name, parent, off, ch = joints[i]
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if parent < 0 else 'JOINT'} {name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        lines.append(f"{pad}  CHANNELS {len(ch)} {' '.join(ch)}")
        for c in children[i]:
            emit(c, depth + 1)
        if not children[i]:
            e = ends.get(i, (0.0, 0.0, 0.0))
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    frames = np.atleast_2d(np.asarray(frames, np.float64))
    lines += ["MOTION", f"Frames: {len(frames)}", f"Frame Time: {frame_time:.6f}"]
    lines += [" ".join(f"{x:.6f}" for x in row) for row in frames]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path
