"""Limb search: start each arm and leg of a fit where the scan shows it, not where the preset put it.

A gradient fit started from the relaxed preset finds an arm hanging a little away from its
start, but an arm held close to the torso, bent at the elbow or twisted can sit in a local
minimum: the forearm lies against the hip or the thigh, where the scan has points too, and the
loss around it is flat. :func:`search_limbs` leaves that basin before the fine fit starts:

1. hypotheses: for each arm a grid over the shoulder's lowering (0, 30, 50, 66, 82 degrees from
   the T-pose), its swing forward or back (-22, 0, 22 degrees, for the three lowest) and the
   elbow's bend (straight, or 35 degrees with the arm twisted -30, 0, 30 degrees at the
   shoulder), plus the arm as it is (44 + 1); around the best three, a finer grid over the elbow's bend (0, 20, 40, 60 degrees)
   and the upper arm's twist along itself (-50 to 50 degrees in 25-degree steps): 60 more; then,
   around the best two, the hand: the forearm twisted -50, 0, 50 degrees along itself by the
   wrist turned -30, 0, 30 degrees about y and z (54 more);
2. each hypothesis is skinned (one batched forward with the shape held) and scored by the
   two-way distance between the scan and the body (a symmetric chamfer over a seeded subset of
   scan points and area-weighted body vertices, truncated at :data:`TRUNCATE_M`): scan -> body
   rewards an arm that explains the scan's arm points, body -> scan punishes an arm put where
   the scan has nothing;
3. the best few are refined by seeded random turns of the shoulder, elbow and wrist (two rounds,
   10 then 4 degrees); the legs get only this refinement (their preset is close already).

The arms go one after the other (each scored with the other as it stands), then the legs.
:func:`chamfer_score` is also what compares a body with its front/back flip.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from .model import BodyModel
from .parts import LIMBS, BodyParts

#: scan <-> body distances are truncated here (metres): a limb far off costs the same however far.
TRUNCATE_M = 0.08
#: scan points within this of the body's other parts (their sampled vertices) are taken as theirs
#: when a limb is scored (metres; about the sampled vertices' spacing).
NEAR_M = 0.012
#: the arm grid, degrees (see the module docstring).
ARM_DOWN_DEG = (0.0, 30.0, 50.0, 66.0, 82.0)
ARM_SWING_DEG = (-22.0, 0.0, 22.0)
ELBOW_BEND_DEG = (35.0,)
ARM_TWIST_DEG = (-30.0, 0.0, 30.0)
#: the second grid, around the best three arms: elbow bend and the upper arm's twist, degrees.
ELBOW_FINE_DEG = (0.0, 20.0, 40.0, 60.0)
TWIST_FINE_DEG = (-50.0, -25.0, 0.0, 25.0, 50.0)
#: the hand grid, around the best two arms: the forearm's twist along itself and the wrist's turns.
FOREARM_TWIST_DEG = (-50.0, 0.0, 50.0)
WRIST_DEG = (-30.0, 0.0, 30.0)


class ChamferProbe:
    """A seeded subset of the scan and of the body's vertices for fast two-way distances.

    Args:
        points: (N, 3) float64 scan points, metres; scan_tree: their k-d tree.
        area: (V,) vertex areas (0 for vertices on no face); rng: seeds the subsets.
    """

    def __init__(self, points: np.ndarray, scan_tree: cKDTree, area: np.ndarray, rng: np.random.Generator,
                 n_scan: int = 5000, n_body: int = 4000):
        self.scan_tree = scan_tree
        self.probe = points[rng.choice(len(points), size=min(n_scan, len(points)), replace=False)]
        p = area / area.sum()
        self.body = np.unique(rng.choice(len(area), size=n_body, p=p))

    def score(self, verts: np.ndarray) -> float:
        """Two-way truncated mean distance (metres) between the scan and one body (V, 3)."""
        tau = TRUNCATE_M
        v = verts[self.body]
        d1 = np.minimum(cKDTree(v).query(self.probe, distance_upper_bound=tau)[0], tau).mean()
        d2 = np.minimum(self.scan_tree.query(v, distance_upper_bound=tau)[0], tau).mean()
        return float(d1 + d2)

    def part_scorer(self, verts: np.ndarray, moving: np.ndarray):
        """A function scoring bodies (K, V, 3) that differ from ``verts`` (V, 3) only on the
        vertices ``moving`` (a limb): returns (K,) :meth:`score` values, the rest of the body's
        share computed once here."""
        tau = TRUNCATE_M
        is_moving = np.isin(self.body, moving)
        rest, mov = self.body[~is_moving], self.body[is_moving]
        d_rest = np.minimum(cKDTree(verts[rest]).query(self.probe, distance_upper_bound=tau)[0], tau)
        b_rest = np.minimum(self.scan_tree.query(verts[rest], distance_upper_bound=tau)[0], tau).sum()
        # only scan points that the rest of the body leaves unexplained can change the scan ->
        # body term; the others add the same to every score
        open_ = d_rest > NEAR_M
        const = d_rest[~open_].sum()
        sel, d_sel = self.probe[open_], d_rest[open_]
        n_probe, n_body = len(self.probe), len(self.body)

        def scorer(batch: np.ndarray) -> np.ndarray:
            limbs = batch[:, mov]  # (K, L, 3)
            s2b = np.array([np.minimum(d_sel, cKDTree(limb).query(sel, distance_upper_bound=tau)[0]).sum()
                            for limb in limbs])
            b = np.minimum(self.scan_tree.query(limbs.reshape(-1, 3), distance_upper_bound=tau)[0], tau)
            return (const + s2b) / n_probe + (b_rest + b.reshape(len(limbs), -1).sum(1)) / n_body

        return scorer


def _rotvec(m: np.ndarray) -> np.ndarray:
    return Rotation.from_matrix(m).as_rotvec()


def _arm_grid(side_sign: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(shoulder rotvec, elbow rotvec) hypotheses for one arm (left: +1, right: -1)."""
    out = []
    rx = lambda a: Rotation.from_rotvec([math.radians(a), 0.0, 0.0])  # noqa: E731
    for down in ARM_DOWN_DEG:
        rz = Rotation.from_rotvec([0.0, 0.0, -side_sign * math.radians(down)])
        for swing in (ARM_SWING_DEG if down >= 45.0 else (0.0,)):  # a raised arm: swinging it twists it
            bends = [(0.0, 0.0)] + [(b, t) for b in ELBOW_BEND_DEG for t in ARM_TWIST_DEG]
            for bend, twist in bends:
                shoulder = (rx(swing) * rz * rx(twist)).as_rotvec()
                elbow = np.array([0.0, -side_sign * math.radians(bend), 0.0])
                out.append((shoulder, elbow))
    return out


def _elbow_grid(arm: np.ndarray, side_sign: float) -> list[np.ndarray]:
    """Hypotheses from one arm (3, 3) rows (shoulder, elbow, wrist): the elbow bent by each of
    :data:`ELBOW_FINE_DEG`, the upper arm twisted along itself by each of :data:`TWIST_FINE_DEG`."""
    out = []
    shoulder = Rotation.from_rotvec(arm[0])
    for twist in TWIST_FINE_DEG:
        tw = (shoulder * Rotation.from_rotvec([math.radians(twist), 0.0, 0.0])).as_rotvec()
        for bend in ELBOW_FINE_DEG:
            c = arm.copy()
            c[0] = tw
            c[1] = np.array([arm[1][0], -side_sign * math.radians(bend), 0.0])
            out.append(c)
    return out


def _hand_grid(arm: np.ndarray) -> list[np.ndarray]:
    """Hypotheses from one arm (3, 3) rows: the forearm twisted along itself by each of
    :data:`FOREARM_TWIST_DEG`, the wrist turned by each of :data:`WRIST_DEG` about y and z."""
    out = []
    elbow, wrist = Rotation.from_rotvec(arm[1]), Rotation.from_rotvec(arm[2])
    for twist in FOREARM_TWIST_DEG:
        e = (elbow * Rotation.from_rotvec([math.radians(twist), 0.0, 0.0])).as_rotvec()
        for wy in WRIST_DEG:
            for wz in WRIST_DEG:
                c = arm.copy()
                c[1] = e
                c[2] = (wrist * Rotation.from_rotvec([0.0, math.radians(wy), math.radians(wz)])).as_rotvec()
                out.append(c)
    return out


def search_limbs(model: BodyModel, shape: torch.Tensor, pose: torch.Tensor, trans: torch.Tensor,
                 parts: BodyParts, probe: ChamferProbe, rng: np.random.Generator, arms_grid: bool = True,
                 refine_rounds: tuple[float, ...] = (10.0, 4.0), n_refine: int = 16) -> tuple[torch.Tensor, dict]:
    """Move each limb's joints to the hypothesis that best explains the scan.

    Args:
        model: the body model; shape (1, S), pose (1, P, 3), trans (1, 3): the current body
            (detached; the shape is held, so every hypothesis reuses one rest body).
        parts: :func:`bodies.parts.body_parts` of the model; probe: :class:`ChamferProbe`.
        rng: seeds the refinement turns.
        arms_grid: run the arm grid (else the arms are only refined).

    Returns:
        (the new pose (1, P, 3), a report {limb: {"before_mm", "after_mm", "hypotheses"}}).
    """
    pose = pose.detach().clone()
    report = {}
    for limb, joints in LIMBS.items():
        rows = [model.pose_index(j) for j in joints]
        moving = parts.vertices_of(joints[0], below=True)
        is_arm = "arm" in limb
        base = pose[0, rows].double().numpy().copy()  # (3, 3): root-to-tip joints
        cands = [base]
        if is_arm and arms_grid:
            sign = 1.0 if limb.startswith("left") else -1.0
            for shoulder, elbow in _arm_grid(sign):
                c = base.copy()
                c[0], c[1] = shoulder, elbow
                cands.append(c)
        with torch.no_grad():
            v_now = model(shape, pose, trans).vertices[0].double().cpu().numpy()
        scorer = probe.part_scorer(v_now, moving)
        scores = _score(model, shape, pose, trans, rows, cands, scorer)
        before = float(scores[0])
        best = [cands[i] for i in np.argsort(scores)[:3]]
        best_score = float(scores.min())
        n_tried = len(cands)
        if is_arm and arms_grid:  # the forearm: elbow bend x twist along the upper arm, for the best three
            cands = list(best) + [c for b in best for c in _elbow_grid(b, sign)]
            scores = _score(model, shape, pose, trans, rows, cands, scorer)
            n_tried += len(cands)
            best = [cands[i] for i in np.argsort(scores)[:3]]
            best_score = float(scores.min())
        if is_arm and arms_grid:  # the hand: forearm twist x wrist turns, around the best three
            cands = list(best) + [c for b in best[:2] for c in _hand_grid(b)]
            scores = _score(model, shape, pose, trans, rows, cands, scorer)
            n_tried += len(cands)
            best = [cands[i] for i in np.argsort(scores)[:3]]
            best_score = float(scores.min())
        for sigma_deg in refine_rounds:
            sig = math.radians(sigma_deg if is_arm else 0.5 * sigma_deg)
            cands = list(best)
            for k in range(n_refine):
                c = best[k % len(best)].copy()
                c += rng.normal(0.0, sig, c.shape)
                cands.append(c)
            scores = _score(model, shape, pose, trans, rows, cands, scorer)
            n_tried += len(cands)
            best = [cands[i] for i in np.argsort(scores)[:3]]
            best_score = float(scores.min())
        pose[0, rows] = torch.as_tensor(best[0], dtype=pose.dtype)
        report[limb] = {"before_mm": round(1000 * before, 2), "after_mm": round(1000 * best_score, 2),
                        "hypotheses": n_tried}
    return pose, report


def _score(model, shape, pose, trans, rows, cands, scorer) -> np.ndarray:
    poses = pose.repeat(len(cands), 1, 1)
    for k, c in enumerate(cands):
        poses[k, rows] = torch.as_tensor(c, dtype=poses.dtype)
    with torch.no_grad():
        v = model(shape.expand(len(cands), -1), poses, trans.expand(len(cands), -1)).vertices
    return scorer(v.double().cpu().numpy())


__all__ = ["ChamferProbe", "search_limbs", "TRUNCATE_M"]
