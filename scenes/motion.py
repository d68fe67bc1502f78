"""Motion: a dressed twin that moves, with its cloth simulated over the moving body.

A motion is one of

- ``catwalk``: a procedural model walk (:class:`Catwalk`: step length, cadence, arm swing, hip
  sway, a turn at the end);
- pose keyframes: ``"keys:contrapposto@0,hand-on-hip@2,..."`` (preset names or pose files at
  seconds), interpolated joint by joint (spherical interpolation of each rotation, smoothstep in
  time);
- a BVH clip (``walk.bvh``), retargeted frame by frame onto the named joints (:mod:`bodies.bvh`)
  and resampled to the video's frame rate;
- ``turntable``: the twin holds a pose (``pose``) while the camera spins once.

:func:`animate` turns a twin and a garment draped in the A-pose (a folder written by
``atelier drape``) into PNG frames, an MP4, the garment's Alembic cache and the dressed twin as
USD. The body is posed per frame in this process (one batched forward per chunk of frames) and
stands on the floor; a pre-roll moves it from the drape's A-pose into the motion's first pose
while the cloth follows, then lets the cloth settle; the pre-roll is simulated and dropped. Every
output frame is measured: the share of cloth vertices more than 2 mm inside the body and the
largest per-frame cloth displacement (an explosion shows as metres). Camera moves: ``fixed``
(frames the whole motion), ``follow`` (tracks the pelvis) and ``turntable`` (one turn over the
clip); a spin set for e-commerce is ``turntable`` with 24, 36 or 72 frames.

Consent: a synthetic twin (its ``twin.json`` says so) depicts no person; a real twin's video needs
a live grant for the channel and region, checked before any frame is drawn and again before
delivery, and the delivered MP4 is one use of the twin in the ledger. Every frame carries the AI
disclosure (PNG text + XMP) and the MP4 carries it as container metadata.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError
from engine.types import PathLikeStr

CAMERAS = ("fixed", "follow", "turntable")
DEFAULT_FPS = 30
#: cloth solver steps per frame while the body moves. Measured (M A-line skirt, 1,568 vertices,
#: catwalk, 2 cores): at quality 4 and 15 fps the thighs pushed through the skirt (5-8 % of its
#: vertices > 2 mm inside in most frames); at quality 8 and 30 fps no frame had any (0.35 s per
#: simulated frame).
ANIMATE_QUALITY = 8
#: cloth collision settings while the body moves, over the drape's own. The drape clamps collision
#: impulses (``impulse_clamp`` 0.01) against jumps while the cloth settles; a swinging thigh must
#: push the cloth as fast as it moves, and with the clamp it tunnelled through the trouser leg.
#: Measured (M straight trousers, 2,154 vertices, 0.6 s catwalk + 24 pre-roll, 2 cores): clamped,
#: worst frame 4.8 % of vertices > 2 mm inside (the left thigh out of its leg); unclamped, 0.0 %.
ANIMATE_COLLISION: dict = {"impulse_clamp": 0.0}
#: the moving body collider's Blender collision settings (thickness metres)
BODY_COLLIDER: dict = {"thickness_outer": 0.003, "thickness_inner": 0.01, "cloth_friction": 5.0, "damping": 0.5}
#: cloth deeper than this inside the body counts as penetrating (the drape's own criterion)
PENETRATION_DEPTH_M = 0.002


@dataclass(frozen=True)
class Catwalk:
    """A procedural catwalk.

    Attributes:
        step_m: length of one step (heel to heel), metres; a runway walk is 0.65-0.75.
        cadence_spm: steps per minute (runway ~110-120).
        arm_swing_deg: forward/back swing of each arm about the shoulder, degrees.
        hip_sway_deg: side tilt of the pelvis each step, degrees (the runway's hip action).
        hip_yaw_deg: turn of the pelvis with each stride, degrees.
        thigh_swing_deg: forward/back swing of each thigh, degrees.
        knee_swing_deg: extra knee bend in the swing phase, degrees.
        cross_deg: legs drawn in towards the midline (one foot in front of the other), degrees.
        turn_s: seconds of the turn at the end (0: no turn); the walker slows, turns 180 degrees
            about the vertical and stops.
    """

    step_m: float = 0.7
    cadence_spm: float = 116.0
    arm_swing_deg: float = 14.0
    hip_sway_deg: float = 4.0
    hip_yaw_deg: float = 6.0
    thigh_swing_deg: float = 22.0
    knee_swing_deg: float = 45.0
    cross_deg: float = 3.0
    turn_s: float = 1.5

    @property
    def speed_mps(self) -> float:
        return self.step_m * self.cadence_spm / 60.0


def _smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def catwalk_poses(seconds: float, fps: int = DEFAULT_FPS, walk: Catwalk = Catwalk()):
    """Per-frame poses of a catwalk: (list of {named joint: axis-angle}, (N, 3) translations,
    metres, before the floor constraint). The walk goes along +Z from the origin."""
    from bodies.poses import rotation

    n = max(int(round(seconds * fps)), 1)
    t = np.arange(n) / fps
    phase = 2 * np.pi * t * (walk.cadence_spm / 60.0) / 2  # one gait cycle = two steps
    # the turn at the end, when the clip is long enough to walk before it (twice the turn)
    turning = walk.turn_s > 0 and seconds >= 2 * walk.turn_s
    turn = _smooth((t - (seconds - walk.turn_s)) / walk.turn_s) if turning else np.zeros(n)
    amp = 1.0 - turn  # the gait fades out during the turn
    heading = np.pi * turn
    speed = walk.speed_mps * amp
    pos = np.zeros((n, 3))
    for k in range(1, n):
        d = np.array([math.sin(heading[k]), 0.0, math.cos(heading[k])])
        pos[k] = pos[k - 1] + d * speed[k] / fps
    poses = []
    for k in range(n):
        s, c, a = math.sin(phase[k]), math.cos(phase[k]), amp[k]
        j = {}
        for side, sgn in (("left", 1.0), ("right", -1.0)):
            ls, lc = sgn * s, sgn * c  # the right leg is half a cycle behind
            j[f"{side}_hip"] = rotation(f"{side}_hip", flex=a * walk.thigh_swing_deg * ls + 3 * a, out=-walk.cross_deg * a)
            j[f"{side}_knee"] = rotation(f"{side}_knee", flex=4 + a * walk.knee_swing_deg * max(0.0, lc) ** 1.5)
            j[f"{side}_ankle"] = rotation(f"{side}_ankle", point=a * (12 * max(0.0, -ls) - 6 * max(0.0, ls)))
            j[f"{side}_shoulder"] = rotation(f"{side}_shoulder", raise_=-80, forward=-a * walk.arm_swing_deg * ls + 3)
            j[f"{side}_elbow"] = rotation(f"{side}_elbow", flex=14 + a * 8 * max(0.0, -ls))
        j["pelvis"] = rotation("pelvis", yaw=math.degrees(heading[k]) + a * walk.hip_yaw_deg * s,
                               roll=a * walk.hip_sway_deg * c)
        j["spine"] = rotation("spine", turn=-a * walk.hip_yaw_deg * 1.2 * s, side=-a * walk.hip_sway_deg * 0.6 * c)
        j["head"] = rotation("head", turn=-a * walk.hip_yaw_deg * 0.3 * s)
        poses.append(j)
    return poses, pos


def _slerp_joints(a: dict, b: dict, w: float) -> dict:
    from scipy.spatial.transform import Rotation, Slerp

    out = {}
    for joint in set(a) | set(b):
        ra = Rotation.from_rotvec(a.get(joint, (0.0, 0.0, 0.0)))
        rb = Rotation.from_rotvec(b.get(joint, (0.0, 0.0, 0.0)))
        r = Slerp([0.0, 1.0], Rotation.concatenate([ra, rb]))([w])[0]
        out[joint] = tuple(float(x) for x in r.as_rotvec())
    return out


def keyframe_poses(keys: list[tuple[float, dict]], seconds: float, fps: int = DEFAULT_FPS):
    """Per-frame poses between keyframes ``[(time s, {named joint: axis-angle})]`` (sorted by
    time; held before the first and after the last), smoothstep in time, slerp per joint."""
    if not keys:
        raise InputError("a keyframe motion needs at least one key")
    keys = sorted(keys, key=lambda k: k[0])
    n = max(int(round(seconds * fps)), 1)
    poses = []
    for k in range(n):
        t = k / fps
        if t <= keys[0][0]:
            poses.append(dict(keys[0][1]))
            continue
        if t >= keys[-1][0]:
            poses.append(dict(keys[-1][1]))
            continue
        i = max(i for i in range(len(keys)) if keys[i][0] <= t)
        (t0, p0), (t1, p1) = keys[i], keys[i + 1]
        poses.append(_slerp_joints(p0, p1, float(_smooth((t - t0) / max(t1 - t0, 1e-9)))))
    return poses, np.zeros((n, 3))


def parse_keys(spec: str) -> list[tuple[float, dict]]:
    """``"keys:NAME@T,NAME@T,..."`` (preset names or pose files, seconds) -> keyframes."""
    from bodies.posefile import load_pose_file
    from bodies.poses import FASHION_POSES, POSES

    body = spec[5:] if spec.startswith("keys:") else spec
    keys = []
    for item in filter(None, (x.strip() for x in body.split(","))):
        name, _, at = item.rpartition("@")
        if not name:
            raise InputError(f"keyframe {item!r}: write NAME@SECONDS", hint="e.g. keys:contrapposto@0,hand-on-hip@2")
        try:
            t = float(at)
        except ValueError:
            raise InputError(f"keyframe {item!r}: {at!r} is not a time in seconds") from None
        if name in POSES:
            keys.append((t, dict(POSES[name]), name in FASHION_POSES))
        else:
            keys.append((t, load_pose_file(name).joints, True))
    return [(t, j) for t, j, _ in keys]


def bvh_poses(path: PathLikeStr, seconds: float | None, fps: int = DEFAULT_FPS, hip_height_m: float = 0.9,
              start_s: float = 0.0, facing_deg: float = 0.0):
    """Per-frame poses of a BVH clip resampled to ``fps`` (nearest clip frame), from ``start_s``
    for ``seconds`` (None: to the end)."""
    from bodies.bvh import Retargeter, read_bvh

    clip = read_bvh(path)
    rt = Retargeter(clip, hip_height_m=hip_height_m, facing_deg=facing_deg)
    dur = len(clip) * clip.frame_time
    if seconds is None:
        seconds = dur - start_s
    n = max(int(round(seconds * fps)), 1)
    poses, trans = [], []
    for k in range(n):
        idx = min(int(round((start_s + k / fps) / clip.frame_time)), len(clip) - 1)
        r = rt.frame(idx)
        poses.append(r.joints)
        trans.append(r.translation)
    return poses, np.asarray(trans)


def body_frames(model, shape: torch.Tensor, poses: list[dict], translations: np.ndarray, hands: str | None = "relaxed",
                floor: bool = True, chunk: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Pose the body for every frame: ((N, V, 3) float32 vertices, (N, J, 3) joints), metres,
    canonical frame. ``floor`` puts each frame's lowest vertex on y = 0 (the feet on the ground)."""
    from bodies.poses import pose_tensor

    verts, joints = [], []
    with torch.no_grad():
        for s in range(0, len(poses), chunk):
            pose = torch.cat([pose_tensor(model, p, hands=hands) for p in poses[s:s + chunk]])
            t = torch.as_tensor(np.asarray(translations[s:s + chunk]), dtype=torch.float32)
            out = model(shape=shape.expand(len(pose), -1), pose=pose, translation=t)
            v, j = out.vertices, out.joints
            if floor:
                lift = -v[..., 1].amin(dim=1)
                v = v.clone()
                j = j.clone()
                v[..., 1] += lift[:, None]
                j[..., 1] += lift[:, None]
            verts.append(v.numpy().astype(np.float32))
            joints.append(j.numpy().astype(np.float32))
    return np.concatenate(verts), np.concatenate(joints)


def preroll_poses(start: dict, first: dict, frames: int, start_translation=None, first_translation=None):
    """``frames`` poses moving from ``start`` (the drape's pose) to ``first`` over the first two
    thirds, then holding while the cloth settles; (list, (frames, 3) translations)."""
    move = max(int(round(frames * 2 / 3)), 1)
    t0 = np.zeros(3) if start_translation is None else np.asarray(start_translation, float)
    t1 = np.zeros(3) if first_translation is None else np.asarray(first_translation, float)
    poses, trans = [], []
    for k in range(frames):
        w = float(_smooth((k + 1) / move))
        poses.append(_slerp_joints(start, first, w))
        trans.append(t0 + (t1 - t0) * w)
    return poses, np.asarray(trans).reshape(-1, 3)


def cameras(kind: str, bodies_v: np.ndarray, joints: np.ndarray, width: int, height: int, yfov_deg: float = 30.0,
            elevation_deg: float = 4.0):
    """One camera per frame: ``fixed`` looks head-on down the path from its far end, ``follow``
    tracks the pelvis at a fixed distance, ``turntable`` turns once around the body over the
    frames (frame 0 in front, counter-clockwise seen from above)."""
    from engine.render.camera import Camera

    if kind not in CAMERAS:
        raise InputError(f"unknown camera move {kind!r}", hint=f"choose one of: {', '.join(CAMERAS)}")
    n = len(bodies_v)
    yfov = math.radians(yfov_deg)
    aspect = width / height
    per_frame_h = float(np.max(bodies_v[..., 1].max(axis=1) - bodies_v[..., 1].min(axis=1)))
    out = []
    if kind == "fixed":
        # head-on from the end of the path (a runway shot): the body fills the frame at its
        # nearest point and is smaller further away
        lo, hi = bodies_v.reshape(-1, 3).min(0), bodies_v.reshape(-1, 3).max(0)
        half = max(per_frame_h / 2, (hi[0] - lo[0]) / 2 / aspect, 0.3) * 1.12
        target = np.array([(lo[0] + hi[0]) / 2, per_frame_h / 2, lo[2]])
        pos = np.array([target[0], per_frame_h / 2 + 0.05, hi[2] + half / math.tan(yfov / 2) + 0.2])
        for k in range(n):
            out.append(Camera(position=pos, target=target, yfov=yfov, width=width, height=height, name=f"f{k:04d}"))
        return out
    half = per_frame_h / 2 * 1.12
    dist = half / math.tan(yfov / 2) + 0.3
    for k in range(n):
        pelvis = joints[k, 0]
        target = np.array([pelvis[0], per_frame_h / 2, pelvis[2]])
        az = 2 * math.pi * k / n if kind == "turntable" else math.radians(20)
        d = np.array([math.sin(az), math.sin(math.radians(elevation_deg)), math.cos(az)])
        out.append(Camera(position=target + dist * d / np.linalg.norm(d), target=target, yfov=yfov, width=width,
                          height=height, name=f"f{k:04d}"))
    return out


@dataclass
class AnimationResult:
    """What :func:`animate` wrote and measured.

    Attributes:
        out_dir: the output folder; ``frames``: PNG paths (one per output frame); ``mp4``,
        ``alembic``, ``usd``: paths (None when not made); ``report``: ``animation.json``.
        per_frame: [{"frame", "penetration_pct", "max_displacement_mm"}] per output frame.
        worst_penetration_pct: the worst frame's share of cloth vertices > 2 mm inside the body.
        seconds_per_frame: cloth simulation seconds per simulated frame.
    """

    out_dir: Path
    frames: list[Path]
    mp4: Path | None
    alembic: Path | None
    usd: Path | None
    report: Path
    per_frame: list[dict] = field(default_factory=list)
    worst_penetration_pct: float = 0.0
    seconds_per_frame: float = 0.0
    preroll: int = 0


def motion_poses(motion: str, seconds: float, fps: int, hip_height_m: float, pose: str | None = None,
                 walk: Catwalk = Catwalk()):
    """(poses, translations, straight_arms) for a motion spec (see the module docstring)."""
    from bodies.posefile import load_pose_file
    from bodies.poses import FASHION_POSES, POSES

    if motion == "catwalk":
        p, t = catwalk_poses(seconds, fps, walk)
        return p, t
    if motion == "turntable":
        name = pose or "soft-elbows"
        joints = dict(POSES[name]) if name in POSES else load_pose_file(name).joints
        n = max(int(round(seconds * fps)), 1)
        return [joints] * n, np.zeros((n, 3))
    if motion.startswith("keys:"):
        return keyframe_poses(parse_keys(motion), seconds, fps)
    if motion.lower().endswith(".bvh"):
        return bvh_poses(motion, seconds, fps, hip_height_m=hip_height_m)
    if motion in FASHION_POSES:
        n = max(int(round(seconds * fps)), 1)
        return [dict(POSES[motion])] * n, np.zeros((n, 3))
    raise InputError(f"unknown motion {motion!r}",
                     hint="use catwalk, turntable, keys:POSE@S,POSE@S,... or a .bvh clip")


def animate(
    twin_dir: PathLikeStr,
    drape_dir: PathLikeStr,
    out_dir: PathLikeStr,
    motion: str = "catwalk",
    seconds: float = 8.0,
    fps: int = DEFAULT_FPS,
    size: tuple[int, int] = (540, 960),
    camera: str = "follow",
    preroll: int = 24,
    pose: str | None = None,
    decimate: float = 0.2,
    cloth_settings: dict | None = None,
    collision_settings: dict | None = None,
    body_collider: dict | None = None,
    frames: int | None = None,
    exports: bool = True,
    consent=None,
    timeout: float = 3600.0,
    progress=None,
    walk: Catwalk = Catwalk(),
    clearance=None,
    campaign: str | None = None,
    c2pa=None,
    deliver: bool = True,
) -> AnimationResult:
    """Animate a twin wearing a garment draped on it in the A-pose.

    Args:
        twin_dir: the twin folder (``twin.json``).
        drape_dir: a folder written by ``atelier drape`` in the A-pose (``garment.ply``); its
            ``body.ply`` must be the twin's A-pose body (same vertex count).
        out_dir: gets ``frames/frame_0001.png``..., ``animation.mp4``, ``garment.abc``,
            ``dressed.usdc`` and ``animation.json`` (per-frame figures).
        motion: see :func:`motion_poses`; ``seconds`` x ``fps`` output frames (or ``frames``).
        size: (width, height) pixels, both even (H.264 yuv420p).
        camera: a :data:`CAMERAS` move (``turntable`` motions default to the turntable camera).
        preroll: simulated frames from the A-pose drape into the first pose, not output.
        consent: ``(twin_id, channel, region, db)`` for a real person's twin, or None for a
            synthetic twin (refused otherwise).
        clearance: a clearance from :func:`engine.rights.consent.clear` the caller already has
            (a campaign cell's), used instead of ``consent``.
        campaign: the campaign the video belongs to (in its disclosure and ledger row).
        c2pa: the user's :class:`engine.rights.C2paCredentials` to sign the MP4 with a C2PA
            manifest (``video/mp4``), or None.
        deliver: False for a caller that cleared the body before and delivers the MP4 itself (a
            campaign cell: the runner's delivery hook); nothing is cleared, disclosed or
            recorded here then.

    The MP4 is delivered through :func:`engine.rights.deliver.deliver` (the grant re-checked,
    the disclosure remuxed into the container, an optional C2PA manifest, one ledger row under an
    idempotency key for a real twin).
    """
    import bodies
    from bodies.twin import Twin
    from engine.blender import run_blender_job
    from engine.meshio import load_ply
    from engine.render.video import write_mp4
    from engine.rights.deliver import deliver as deliver_files
    from engine.storage import json_sha256, write_json
    from garments.clearance import BodyDistance

    twin_dir, drape_dir, out_dir = Path(twin_dir), Path(drape_dir), Path(out_dir)
    w, h = (int(x) for x in size)
    if w % 2 or h % 2 or w < 16 or h < 16:
        raise InputError(f"video size {w}x{h}: width and height must be even and at least 16 px",
                         hint="H.264 in yuv420p needs even dimensions, e.g. 540x960 or 1080x1920")
    if fps < 1 or seconds <= 0:
        raise InputError(f"--seconds {seconds} --fps {fps}: need a positive duration and frame rate")
    if preroll < 0:
        raise InputError(f"pre-roll {preroll} frames: must be 0 or more")
    twin = Twin.load(twin_dir)
    if deliver and clearance is None:
        clearance = _authorise(consent, twin_dir)
    layer_dirs, layer_colours = _drape_layers(drape_dir)
    garment_ply = layer_dirs[-1] / "garment.ply"
    model = bodies.create(twin.model)
    shape, _, base_t = twin.tensors()
    from bodies.poses import POSES, pose_tensor

    a_pose = dict(POSES["a-pose"])
    with torch.no_grad():
        rest = model(shape=shape, pose=pose_tensor(model, a_pose, straight_arms=False), translation=base_t)
    hip_height = float(rest.joints[0, 0, 1])
    if frames is not None:
        seconds = frames / fps
    m_poses, m_trans = motion_poses(motion, seconds, fps, hip_height, pose=pose, walk=walk)
    if frames is not None:
        m_poses, m_trans = m_poses[:frames], m_trans[:frames]
    n_out = len(m_poses)
    if camera == "follow" and motion == "turntable":
        camera = "turntable"
    # The pre-roll starts from the drape's own body: the A-pose as the drape was made (T-pose
    # forearms of the older presets), then straight-arm rotations from the first motion frame on.
    from bodies.poses import elbow_rest_corrections
    from scipy.spatial.transform import Rotation

    corr = elbow_rest_corrections(model)
    start = dict(a_pose)
    for j, c in corr.items():  # the A-pose's forearms in straight-arm terms: undo the correction
        start[j] = tuple(Rotation.from_matrix(c).inv().as_rotvec())
    p_poses, p_trans = preroll_poses(start, m_poses[0], preroll, None, m_trans[0])
    all_poses = p_poses + list(m_poses)
    all_trans = np.concatenate([p_trans.reshape(-1, 3), np.asarray(m_trans).reshape(-1, 3)]) + base_t.numpy()
    hands = "relaxed"
    verts, joints = body_frames(model, shape, [start] + all_poses, np.concatenate([base_t.numpy(), all_trans]),
                                hands=hands)
    # frame 0 is the drape's A-pose (flat hands, as draped); keep the drape's exact body there
    faces = model.faces_numpy()
    db = drape_dir / "body.ply"
    if db.is_file():
        bv, _, _ = load_ply(db)
        if len(bv) == verts.shape[1]:
            verts[0] = bv
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "work"
    work.mkdir(exist_ok=True)
    np.savez(work / "body_frames.npz", frames=verts, faces=faces)
    total_pre = preroll + 1  # frame 0 (the drape) plus the pre-roll
    cams = cameras(camera, verts[total_pre:], joints[total_pre:], w, h)
    colliders = []
    if pose and motion == "turntable":
        from bodies.poses import SEATED_POSES, stool_for

        if pose in SEATED_POSES:
            sv, sf = stool_for(verts[total_pre], joints[total_pre])
            np.savez(work / "stool.npz", vertices=sv, faces=sf)
            colliders = [{"path": str((work / "stool.npz").resolve())}]
    t0 = time.monotonic()
    # An outfit's layers are simulated in order, innermost first; each collides with the body and
    # with the simulated frames of the layers under it, and the last job draws them all.
    below, jobs, cloth_all = [], [], []
    for i, layer_dir in enumerate(layer_dirs):
        last = i == len(layer_dirs) - 1
        lw = work if len(layer_dirs) == 1 else work / f"layer{i}"
        lw.mkdir(exist_ok=True)
        cv, cf, _ = load_ply(layer_dir / "garment.ply")
        np.savez(lw / "cloth.npz", **_cloth_arrays(layer_dir, cv, cf, verts, faces))
        _sew, _pin, drape_cloth, drape_collision = _drape_physics(layer_dir, len(cv))
        spec = {
            "body": str((work / "body_frames.npz").resolve()), "cloth": str((lw / "cloth.npz").resolve()),
            "preroll": total_pre, "decimate": float(decimate), "fps": int(fps),
            "cloth_settings": {**drape_cloth, "quality": ANIMATE_QUALITY, **(cloth_settings or {})},
            "collision_settings": {**drape_collision, **ANIMATE_COLLISION, **(collision_settings or {})},
            "body_collider": {**BODY_COLLIDER, **(body_collider or {})},
            "colliders": colliders, "layers_below": list(below),
            "garment_color": layer_colours[i], "render": last,
            "cameras": [c.to_dict() for c in cams], "frames_dir": str((out_dir / "frames").resolve()),
            "cloth_out": str((lw / "cloth_frames.npz").resolve()),
            "alembic": str((out_dir / "garment.abc").resolve()) if exports and last else None,
            "usd": str((out_dir / "dressed.usdc").resolve()) if exports and last else None,
            "lights": [], "engine": "workbench",
        }
        left = max(10.0, timeout - (time.monotonic() - t0))
        jobs.append(run_blender_job("animate", spec, lw, timeout=left, progress=progress))
        with np.load(lw / "cloth_frames.npz") as z:
            cloth_all.append(z["frames"])
        below.append({"path": str((lw / "cloth_frames.npz").resolve()), "color": layer_colours[i]})
    job = jobs[-1]
    cloth_frames = np.concatenate(cloth_all, axis=1)  # (N, all layers' vertices, 3)
    if len(layer_dirs) > 1:
        np.savez(work / "cloth_frames.npz", frames=cloth_frames,
                 layer_vertices=np.array([c.shape[1] for c in cloth_all], np.int64))
    per_frame = []
    disp = np.max([j["max_displacement_mm"][total_pre - 1:] for j in jobs], axis=0).tolist() if jobs else []
    for k in range(n_out):
        d = BodyDistance(verts[total_pre + k], faces)(cloth_frames[k])
        per_frame.append({"frame": k + 1, "penetration_pct": round(100.0 * float(np.mean(d < -PENETRATION_DEPTH_M)), 3),
                          "max_displacement_mm": disp[k] if k < len(disp) else None})
    frames_png = [Path(p) for p in job["images"]]
    scene_hash = json_sha256({"twin": str(twin_dir), "motion": motion, "n": n_out})
    mp4 = None
    if frames_png:
        # the video is the delivery (one use of the twin, through the one delivery path); its
        # frames are parts of it: disclosed (and labelled as the channel wants), not recorded
        mp4 = write_mp4(frames_png, out_dir / "animation.mp4", fps=fps)
        if deliver:
            deliver_files(clearance, [mp4], scene_hash, campaign, scope=str(out_dir.resolve()), c2pa=c2pa)
            _disclose_frames(frames_png, clearance.disclosure(scene_hash, campaign))
    worst = max((f["penetration_pct"] for f in per_frame), default=0.0)
    report = write_json(out_dir / "animation.json", {
        "motion": motion, "fps": fps, "output_frames": n_out, "preroll_frames": total_pre,
        "camera": camera, "size": [w, h], "garment": str(garment_ply), "twin": str(twin_dir),
        "worst_penetration_pct": worst, "seconds_per_frame": sum(j["seconds_per_frame"] for j in jobs),
        "sim_seconds": sum(j["sim_seconds"] for j in jobs), "render_seconds": job["render_seconds"],
        "total_seconds": time.monotonic() - t0, "layers": [str(d) for d in layer_dirs],
        "cloth_vertices": [j["cloth_vertices"] for j in jobs] if len(jobs) > 1 else job["cloth_vertices"],
        "per_frame": per_frame,
        "walk": asdict(walk) if motion == "catwalk" else None, "exports": job["exports"],
        "blender_version": job["blender_version"],
    })
    ex = job["exports"]
    return AnimationResult(out_dir=out_dir, frames=frames_png, mp4=mp4,
                           alembic=Path(ex["alembic"]) if "alembic" in ex else None,
                           usd=Path(ex["usd"]) if "usd" in ex else None, report=report, per_frame=per_frame,
                           worst_penetration_pct=worst, seconds_per_frame=sum(j["seconds_per_frame"] for j in jobs),
                           preroll=total_pre)


def _drape_layers(drape_dir: Path) -> tuple[list[Path], list[list[float]]]:
    """The garment folders of a drape, innermost first, and their colours: the folder itself
    for one garment, ``layers/<i>-<name>/`` of an outfit (its ``outfit.json``)."""
    import json

    outfit = drape_dir / "outfit.json"
    if outfit.is_file():
        data = json.loads(outfit.read_text())
        dirs = [drape_dir / d for d in data.get("layers", ["."])]
        colours = [list(c) for c in data.get("colours", [])]
    else:
        dirs, colours = [drape_dir], []
    for d in dirs:
        if not (d / "garment.ply").is_file():
            raise InputError(f"{d / 'garment.ply'}: missing", hint="drape the garment first: atelier drape --twin DIR "
                                                                     "--garment NAME --pose a-pose --out DRAPE_DIR")
    default = [0.25, 0.35, 0.6, 1.0]
    colours = [(colours[i] if i < len(colours) else default) for i in range(len(dirs))]
    return dirs, [list(c) + [1.0] * (4 - len(c)) for c in colours]


def _cloth_arrays(layer_dir: Path, cv: np.ndarray, cf: np.ndarray, verts: np.ndarray, faces: np.ndarray) -> dict:
    """The animate job's cloth arrays of one garment draped on ``verts[0]``: its seams, and its
    pinned edges (waistbands) with their goals following the body frame by frame: each keeps its
    offset from its closest body vertex, turned as that vertex's normal turns (a translation
    alone put the waistband 8 cm inside the waist after the catwalk's 180-degree turn)."""
    sew, pin, _c, _k = _drape_physics(layer_dir, len(cv))
    arrays = {"vertices": cv.astype(np.float32), "faces": cf.astype(np.int64)}
    if sew is not None:
        arrays["sew"] = sew
    if pin is not None:
        from scipy.spatial import cKDTree

        arrays["pin"] = pin
        idx = np.nonzero(pin > 0)[0]
        _d, nn = cKDTree(verts[0].astype(np.float64)).query(cv[idx].astype(np.float64))
        normals = _vertex_normals(verts, faces, nn)  # (T, P, 3)
        offset = (cv[idx] - verts[0, nn]).astype(np.float64)
        goal = np.repeat(cv[None].astype(np.float32), len(verts), axis=0)
        goal[:, idx] = verts[:, nn] + _turn(normals[0][None], normals, offset[None])
        arrays["goal_frames"] = goal
    return arrays


def _vertex_normals(verts: np.ndarray, faces: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Unit normals (T, len(which), 3) of body vertices ``which`` in every frame of ``verts``
    (T, V, 3): the area-weighted mean of their faces' normals."""
    uniq, inv = np.unique(which, return_inverse=True)
    mask = np.isin(faces, uniq).any(axis=1)
    fs = faces[mask]
    v = verts.astype(np.float64)
    fn = np.cross(v[:, fs[:, 1]] - v[:, fs[:, 0]], v[:, fs[:, 2]] - v[:, fs[:, 0]])  # (T, F', 3)
    pos = {int(u): i for i, u in enumerate(uniq)}
    acc = np.zeros((len(v), len(uniq), 3))
    for c in range(3):
        rows = np.array([pos.get(int(x), -1) for x in fs[:, c]])
        ok = rows >= 0
        np.add.at(acc, (slice(None), rows[ok]), fn[:, ok])
    acc /= np.maximum(np.linalg.norm(acc, axis=2, keepdims=True), 1e-12)
    return acc[:, inv]


def _turn(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x`` turned by the smallest rotation that takes unit vectors ``a`` to ``b`` (broadcast)."""
    k = np.cross(a, b)
    sin = np.linalg.norm(k, axis=-1, keepdims=True)
    cos = np.sum(a * b, axis=-1, keepdims=True)
    k = k / np.maximum(sin, 1e-12)
    return x * cos + np.cross(k, x) * sin + k * np.sum(k * x, axis=-1, keepdims=True) * (1 - cos)


def _drape_physics(drape_dir: Path, n_vertices: int):
    """(seam pairs (E, 2) or None, pin weights (C,) or None, cloth settings, collision settings)
    of the drape that made the garment: a pattern garment's panels are held together by sewing
    springs, its elastic waistband is pinned to the body, and its fabric's mass and stiffness must
    stay what the drape used, or the cloth stretches and slides off."""
    import json

    sew = pin = None
    npz = drape_dir / "garment.npz"
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as z:
            if len(z["vertices"]) == n_vertices:
                if "sew" in z.files and len(z["sew"]):
                    sew = np.asarray(z["sew"], np.int64)
                if "pin" in z.files and np.any(z["pin"] > 0):
                    pin = np.asarray(z["pin"], np.float32)
    cloth, collision = {}, {}
    job = drape_dir / "drape_job.json"
    if job.is_file():
        try:
            spec = json.loads(job.read_text()).get("spec", {})
        except ValueError:
            spec = {}
        cloth = {k: v for k, v in spec.get("cloth_settings", {}).items() if k not in ("shrink_min", "shrink_max")}
        collision = dict(spec.get("collision_settings", {}))
    if sew is None:
        cloth.pop("use_sewing_springs", None)
    return sew, pin, cloth, collision


# --- consent (the same checks as an image; see docs/rights.md) -------------------------------------


def _authorise(consent, twin_dir: Path):
    """The clearance for drawing the twin in ``twin_dir`` (engine.rights.consent.clear, the one
    consent path for images and videos): a registered synthetic body, or a real twin's body with
    a live grant for the use. ``consent`` is ``(twin_id, channel, region, db)`` or None."""
    from engine.rights import Registry
    from engine.rights.consent import DrawnBody, clear

    twin_id, channel, region, db = consent if consent is not None else (None, "internal-fit-check", None, None)
    return clear(Registry.open(db), DrawnBody.twin(twin_dir), channel, region, twin_id=twin_id)


def _disclose_frames(frames: list[Path], info: dict) -> None:
    """The AI disclosure on every PNG frame, with the visible label where the channel wants one
    (as the MP4 got it from the delivery)."""
    from engine.rights.disclosure import add_visible_label, needs_visible_label, stamp_png

    label = needs_visible_label(info["channel"])
    for p in frames:
        if label:
            add_visible_label(p)
        stamp_png(p, info)
