"""Twin from a scan: fit a body model's shape, pose and translation to a scan.

The fit works through the :class:`~bodies.model.BodyModel` interface only, so it runs the same
for Anny and SMPL-X. It runs in stages:

1. placement: the start pose (a preset) is put on the scan's floor and centre, the shape is
   moved along its height gradient until the body is as tall as the scan, and the best of twelve
   turns about +Y is kept (a scan may face any way; when a turn 120 degrees or more away scores
   nearly as well, both are settled and searched and the better kept). When the placement steps
   end, the limbs are searched (:mod:`bodies.limbs`: arm grids over shoulder, elbow and hand,
   random turns of every limb, scored by the two-way scan <-> body distance) so an arm held
   close to the torso or twisted does not start in a local minimum;
2. fit: the named joints' rotations (:data:`~bodies.model.NAMED_JOINTS`, root included; other
   joints stay at the preset), the shape and the translation minimise a robust two-way distance:
   scan -> body surface (closest point on the body's triangles) and body vertices -> scan,
   with Geman-McClure penalties whose scale shrinks from 5 cm to 1 cm, plus priors keeping the
   pose near the start preset and the shape near the average. A body -> scan pair is ignored
   when the vertex is far from the scan (truncation), when its offset runs along the surface
   rather than along the normal (a vertex over a hole of the scan reaching for the hole's rim),
   or when the scan point lies much nearer another part of the body (a hand the scan missed,
   next to the thigh). An end part (hand, foot, head) with most of its surface uncovered by the
   scan is left out of the body -> scan term and, from half the fit on, reset to the relaxed
   preset's rotation and held (``FitSettings.unseen_share``). Two solvers share the work:

   - every ``gn_every`` steps a Gauss-Newton (Levenberg-Marquardt) solve moves the shape, the
     named joints and the translation together (:func:`_gauss_newton`: finite-difference
     Jacobians from two batched forwards, point-to-plane residuals reweighted as the
     Geman-McClure loss weighs them, a trust region on each joint's turn and on the shape);
     shape values that trade off against each other (gender, weight, muscle, proportions) move
     together here, where gradient steps crept along them (a scan of a 0.89-gender body ended at
     0.58 after 200 Adam steps, at 0.92 with the solves);
   - between solves, Adam steps move the joints and translation (the shape held: those steps
     reuse the model's rest body and are cheap), correspondences recomputed every
     ``refresh_every`` steps on fresh random subsets (a few thousand scan points and body
     vertices);
   - ``gn_final`` more solves end the fit.

3. detail (optional, ``FitSettings.detail``): per-vertex offsets along the body's normals (hair,
   tight clothing), smooth and bounded, kept apart from the body parameters.
4. quality gate (:mod:`bodies.quality`): per body part (:mod:`bodies.parts`), the scan -> body
   p95 and the share of the part's surface no scan point covers; a part over the limits marks
   the fit poor (``FitResult.quality``, ``fit_report.json`` "quality"; docs/measurements.md).

Before all this the scan is cleaned (:func:`~bodies.scan.clean_scan`: floor/turntable plane,
stray clusters, voxel decimation of large scans); a floor found there also anchors the feet
(gently: ``floor_weight``; a strong pull on the single lowest vertex tipped the ankles and traded
leg length against height).
Distances reported are from the (cleaned) scan points to the fitted body's surface (exact
point-to-triangle), in millimetres; large scans are measured on a seeded subset of
``FitSettings.measure_points`` (30k) points.

Speed: torch runs on one thread during the fit (``torch_threads``: on 2 busy cores two threads
were ~3x slower on these small tensors). An Anny forward+backward with the shape held costs
~10-40 ms; a Gauss-Newton solve ~0.3-0.4 s (the body skinned in 7 shapes and 48 poses, one rest
body for the poses, plus a correspondence refresh); correspondences use half the samples in the
first half of the fit, the scan's k-d tree is built once and the body's is rebuilt every 4
refreshes. The placement, the four-turn search and the final exact distances on 30k points
take ~3 s.

Measured (anny 0.6.2, 2 shared cores, 150 steps, synthetic 200k-point scans with 20 % of the
surface cut away, 2 mm noise and a floor, ~140k points after cleaning; 15 scans: seeds 1000-1002
and 2000-2005 looked at while tuning, 3000-3005 not): 12.5-21 s of CPU per fit depending on the
load (benchmarks/fit.py: 15.6-21.5 s wall at load average 4); vertex-to-vertex error to the true
body 0.6-4.1 mm (mean 1.7 mm); p95 scan -> body 4.1-5.3 mm; tape measurements' mean error under
3 mm each. Weak spots: a joint the scan does not see stays near the preset (a hand cut away
whole: 28 mm on that hand), a large hole over the pelvis left 3.8 mm v2v and p95 5.3 mm, and age
trades off against the other phenotype values (-0.1 on a few scans, a few mm on the girths).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.spatial import cKDTree

from engine.errors import InputError
from engine.geometry import closest_on_triangles as _closest_on_triangles
from engine.geometry import vertex_areas, vertex_normals
from engine.storage import atomic_path, private_dir, write_json
from engine.types import PathLikeStr

from .model import NAMED_JOINTS, BodyModel
from .limbs import ChamferProbe, search_limbs
from .parts import PART_NAMES, body_parts
from .poses import pose_preset
from .quality import QualityLimits, part_quality
from .scan import CleanSettings, Scan, clean_scan, load_scan
from .twin import Twin

#: default number of optimisation steps (see the module docstring for measured times).
DEFAULT_ITERATIONS = 150


@dataclass
class FitSettings:
    """Knobs of :func:`fit_scan`. Distances are metres unless the name says otherwise."""

    scan_samples: int = 3000
    """scan points used per correspondence refresh."""
    body_samples: int = 3000
    """body vertices used per correspondence refresh."""
    refresh_every: int = 2
    """steps between correspondence refreshes."""
    shape_every: int = 3
    """the shape takes a gradient step every this many steps (1: every step). A step with the
    shape frozen reuses the model's rest body and costs ~1/6 of one that moves the shape (Anny:
    ~40 ms against ~250 ms for a forward and backward pass on 2 cores)."""
    coarse_fraction: float = 0.5
    """share of the steps run on half of ``scan_samples``/``body_samples`` (coarse to fine)."""
    torch_threads: int = 1
    """torch intra-op threads during the fit (restored after; 0 leaves torch's setting). The
    body model's tensors are small: on 2 busy cores one thread ran a shape step in 55 ms against
    190 ms with two (thread hand-offs cost more than they share)."""
    measure_points: int = 30_000
    """scan points (a seeded random subset) whose exact distance to the body is reported; 0: all.
    Measured on a fitted 140k-point scan: 30k points gave the same mean (1.71 mm), p95 (4.14 against
    4.15 mm) and quality verdict as 50k in 1.06 s of CPU against 1.52 s."""
    placement_fraction: float = 0.12
    """share of the iterations spent on translation + root rotation + shape only."""
    lr_translation: float = 0.004
    """Adam step size for translation (metres per step at most, roughly)."""
    lr_pose: float = 0.02
    """Adam step size for joint rotations (radians)."""
    lr_shape: float = 0.04
    """Adam step size for shape (logits for bounded shapes, raw parameters otherwise)."""
    sigma_start: float = 0.05
    """Geman-McClure scale at the start of the fit."""
    sigma_end: float = 0.01
    """Geman-McClure scale at the end."""
    body_to_scan_weight: float = 0.5
    """weight of the body -> scan term relative to scan -> body."""
    body_to_scan_truncate: float = 3.0
    """body vertices further than this many sigmas from the scan are ignored (holes)."""
    body_to_scan_cos: float = 0.5
    """body -> scan pairs whose offset makes a cosine below this with the body's normal are
    ignored (a vertex over a hole pulled sideways to the hole's rim); 0 keeps them all."""
    body_to_scan_free: float = 0.005
    """offsets shorter than this (metres) are kept whatever their direction (sensor noise)."""
    body_to_scan_excess: float = 0.01
    """body -> scan pairs are ignored when the vertex is this much further (metres) from its
    scan point than the body's surface is (the point belongs to another part of the body, e.g.
    a thigh beside a hand the scan missed); 0 keeps them all."""
    shape_solver: str = "gauss-newton"
    """how the shape moves: ``"gauss-newton"`` (every ``gn_every`` steps, shape and translation
    solved with the pose held, :func:`_shape_gauss_newton`; the gradient steps leave the shape
    alone) or ``"adam"`` (a gradient step every ``shape_every`` steps)."""
    gn_every: int = 8
    """steps between Gauss-Newton shape solves."""
    gn_final: int = 4
    """Gauss-Newton shape solves after the last step."""
    gn_pose: bool = True
    """the Gauss-Newton solves move the named joints' rotations too (root only while placing)."""
    gn_pose_damping: float = 0.05
    """damping added to each rotation's diagonal (per rad^2, in the loss's cm^2 units): a joint the
    scan barely sees (a hand or foot in a hole) moves little per solve."""
    gn_max_turn: float = 0.15
    """a solve's step is scaled down so that no joint turns more than this (radians)."""
    gn_max_shape: float = 0.08
    """... and no shape value moves more than this share of its range (unbounded: this much)."""
    gn_damping: float = 0.001
    """Levenberg-Marquardt damping (a share of the normal matrix's diagonal)."""
    pose_prior: float = 0.03
    """weight of the squared rotation (rad^2) away from the start preset, per joint (not root)."""
    shape_prior: float = 0.001
    """weight of the squared shape offset from the average (bounded: as a fraction of the range)."""
    yaw_search: bool = True
    """try twelve turns about +Y (30 degrees apart) at placement and keep the best."""
    limb_search: bool = True
    """when the placement ends (root, shape and translation settled), search each arm's shoulder
    and elbow over grids of hypotheses and refine every limb by random turns, keeping what best
    explains the scan (:mod:`bodies.limbs`; ~1-2 s). An arm hanging close to the torso or twisted was otherwise left 20 cm off on 2 of 4
    held-out scans."""
    flip_check: bool = True
    """with ``limb_search``: when the best start turned 120 degrees or more from the first scores
    within ``flip_ratio`` of it, settle both (three Gauss-Newton solves of root, shape and
    translation, the arm grids and one round of limb turns) and keep the better (a scan whose hands
    meet in front of the thighs fitted back to front: v2v 262 mm)."""
    flip_ratio: float = 1.3
    """see ``flip_check``."""
    unseen_share: float = 0.7
    """an end part (``unseen_joints``: hands, feet, head) with more than this share of its surface
    (vertex areas) without a scan point within ``quality.coverage_mm`` is *unseen*: its joint is
    reset to ``unseen_prior``'s rotation and held there for the rest of the fit (the scan cannot
    say where it is; left free, a hand inside a hole was pulled against the thigh's points: 68 mm
    mean vertex error on that hand). Checked when the placement ends and at every Gauss-Newton
    solve (``unseen_after``); 0 or more than 1 turns it off."""
    unseen_after: float = 0.5
    """share of the steps after which an unseen end part is held; before, it is only left out of
    the body -> scan term, so that a part the placement left
    off its scan points can still be pulled onto them (a whole scan's hands and feet were 74-83 %
    uncovered when the placement ended, 80 steps)."""
    unseen_prior: str = "relaxed"
    """pose preset (:mod:`bodies.poses`) whose rotation an unseen end part takes."""
    unseen_joints: tuple[str, ...] = ("left_wrist", "right_wrist", "left_ankle", "right_ankle", "head")
    """the end parts' joints that ``unseen_share`` watches (named joints with no named joint below)."""
    floor_weight: float = 0.2
    """weight of (lowest body point - floor height)^2 in cm^2 when the scan had a floor."""
    detail: bool = False
    """run the detail stage: per-vertex offsets along the body's normals (hair, tight clothing),
    kept apart from the body parameters (``detail_offsets.npz``), not in ``body.ply``."""
    detail_iterations: int = 60
    """steps of the detail stage."""
    detail_smooth: float = 20.0
    """weight of the offsets' Laplacian (neighbours' mean minus own), cm^2."""
    detail_max: float = 0.05
    """offsets are bounded to +-this many metres."""
    quality: QualityLimits = field(default_factory=QualityLimits)
    """limits of the per-part quality gate (:mod:`bodies.quality`)."""


@dataclass
class FitResult:
    """Outcome of :func:`fit_scan`.

    Attributes:
        twin: the fitted :class:`~bodies.twin.Twin` (source names the scan and its hash).
        mean_mm, median_mm, p95_mm: distance from every scan point to the fitted body surface.
        start_mean_mm: the same mean for the placed but unfitted start body (on a subsample).
        seconds: wall time of the fit, placement to final distances.
        iterations: optimisation steps run.
        n_points: scan points (after cleaning and decimation).
        n_measured: scan points whose distances make mean/median/p95 (a seeded subset of
            ``FitSettings.measure_points`` on large scans, exact point-to-triangle distances).
        model: body model name.
        units: the scan's units ("m", "cm", "mm") and whether they were assumed.
        history: (step, loss, sigma) every few steps.
        coverage: share of the body's surface vertices with a scan point within 1 cm.
        scan_inliers: share of scan points within 1 cm of the body's surface.
        scan_info: the scan's detected units, up axis, floor and cleaning report.
        detail_offsets: (V,) float32 metres along the body's vertex normals, or None.
        detail_mean_mm: scan -> (body + offsets) mean distance, when the detail stage ran.
        quality: the per-part gate (:func:`bodies.quality.part_quality`): ``poor``,
            ``poor_parts``, ``messages`` ("left forearm: 64 % of its surface has no scan within
            20 mm"), ``limits`` and ``parts`` (per part: points, p95_mm, uncovered, poor, why).
    """

    twin: Twin
    mean_mm: float
    median_mm: float
    p95_mm: float
    start_mean_mm: float
    seconds: float
    iterations: int
    n_points: int
    model: str
    units: str
    units_assumed: bool = True
    synthetic: bool = False
    settings: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    coverage: float = float("nan")
    scan_inliers: float = float("nan")
    scan_info: dict = field(default_factory=dict)
    detail_offsets: np.ndarray | None = None
    detail_mean_mm: float | None = None
    n_measured: int = 0
    quality: dict = field(default_factory=dict)

    @property
    def poor(self) -> bool:
        """True when the quality gate marked a body part poor."""
        return bool(self.quality.get("poor"))

    def to_report(self) -> dict:
        """JSON-serialisable summary for ``fit_report.json``."""
        return {
            "model": self.model,
            "scan": self.twin.source.get("scan"),
            "scan_sha256": self.twin.source.get("scan_sha256"),
            "synthetic": self.synthetic,
            "units": self.units,
            "units_assumed": self.units_assumed,
            "n_points": self.n_points,
            "n_measured": self.n_measured,
            "iterations": self.iterations,
            "seconds": round(self.seconds, 2),
            "mean_mm": round(self.mean_mm, 3),
            "median_mm": round(self.median_mm, 3),
            "p95_mm": round(self.p95_mm, 3),
            "start_mean_mm": round(self.start_mean_mm, 3),
            "coverage": round(self.coverage, 4),
            "scan_inliers_1cm": round(self.scan_inliers, 4),
            "distance": "scan point (after cleaning and decimation) to fitted body surface",
            "scan_info": self.scan_info,
            "quality": self.quality,
            "detail": None if self.detail_offsets is None else {
                "file": "detail_offsets.npz",
                "mean_mm": None if self.detail_mean_mm is None else round(self.detail_mean_mm, 3),
                "max_offset_mm": round(float(np.abs(self.detail_offsets).max()) * 1000.0, 2),
            },
            "shape": dict(zip(self.settings.get("shape_labels", []), self.twin.shape)),
            "settings": {k: v for k, v in self.settings.items() if k != "shape_labels"},
        }


# --- public API --------------------------------------------------------------------------------
def fit_scan(
    model: BodyModel,
    scan: Scan | PathLikeStr,
    iterations: int = DEFAULT_ITERATIONS,
    seed: int = 0,
    pose_init: str = "relaxed",
    progress=None,
    settings: FitSettings | None = None,
    clean: CleanSettings | bool = True,
    units: str | None = "auto",
    up: str = "auto",
) -> FitResult:
    """Fit ``model`` to a scan.

    Args:
        model: any :class:`~bodies.model.BodyModel` (Anny, SMPL-X).
        scan: a :class:`~bodies.scan.Scan` or a path (read with :func:`~bodies.scan.load_scan`,
            metres, +Y up).
        iterations: optimisation steps (placement + fit). Fewer is faster and coarser.
        seed: seeds the random subsets; the same inputs give the same twin.
        pose_init: pose preset the fit starts from (and its pose prior is centred on).
        progress: an object with ``update(done, note)`` (e.g. :class:`engine.progress.Progress`)
            or a callable ``progress(done, total, note)``; called every few steps.
        settings: :class:`FitSettings`; defaults otherwise.
        clean: :class:`~bodies.scan.CleanSettings`, True (defaults) or False: remove a floor
            plane and stray clusters and decimate large scans first (:func:`~bodies.scan.clean_scan`).
        units, up: passed to :func:`~bodies.scan.load_scan` when ``scan`` is a path.

    Returns:
        :class:`FitResult` with the twin (canonical frame, metres, placed on the scan) and
        scan -> body surface distances in millimetres.
    """
    cfg = settings or FitSettings()
    threads = torch.get_num_threads()
    if cfg.torch_threads > 0:
        torch.set_num_threads(cfg.torch_threads)
    try:
        return _fit_scan(model, scan, iterations, seed, pose_init, progress, cfg, clean, units, up)
    finally:
        torch.set_num_threads(threads)


def _fit_scan(model, scan, iterations, seed, pose_init, progress, cfg, clean, units, up) -> FitResult:
    start = time.monotonic()
    if not isinstance(scan, Scan):
        scan = load_scan(scan, units=units, up=up)
    if clean is not False and "cleaning" not in scan.metadata:
        scan = clean_scan(scan, clean if isinstance(clean, CleanSettings) else None)
    iterations = int(iterations)
    if iterations < 1:
        raise InputError(f"iterations must be at least 1, got {iterations}")
    rng = np.random.default_rng(seed)
    device = model._device()

    pts = np.asarray(scan.points, dtype=np.float64)
    scan_tree = cKDTree(pts)
    faces_np = model.faces_numpy().astype(np.int64)
    faces_t = torch.as_tensor(faces_np, device=device)
    used = np.unique(faces_np)  # vertices on the surface

    # 1. placement -----------------------------------------------------------------------------
    shape0 = model.default_shape(1).detach().clone()
    pose0 = pose_preset(model, pose_init).detach().clone()
    floor = scan.floor_y
    bottom = float(pts[:, 1].min()) if floor is None else min(float(floor), float(pts[:, 1].min()))
    shape0 = _match_height(model, shape0, pose0, float(pts[:, 1].max()) - bottom)
    root = model.pose_index("pelvis")
    probe = pts[rng.choice(len(pts), size=min(len(pts), 3000), replace=False)]
    scored = []
    yaws = tuple(float(a) for a in range(0, 360, 30)) if cfg.yaw_search else (0.0,)
    for yaw in yaws:
        pose_y = _turn_root(pose0, root, math.radians(yaw))
        with torch.no_grad():
            verts = model(shape0, pose_y).vertices[0].cpu().numpy().astype(np.float64)
        trans = _place(verts[used], pts, bottom)
        scored.append((_chamfer(verts[used] + trans, probe, scan_tree, trunc=0.15), yaw, pose_y, trans))
    scored.sort(key=lambda x: x[0])
    starts = [scored[0]]
    if cfg.limb_search and cfg.flip_check:  # the best start turned well away from the first, if close
        far = [c for c in scored[1:] if abs((c[1] - scored[0][1] + 180.0) % 360.0 - 180.0) >= 120.0]
        if far and far[0][0] < cfg.flip_ratio * scored[0][0]:
            starts.append(far[0])
    limb_info: dict = {}
    adjacency = _vertex_faces(faces_np, len(verts))
    if cfg.limb_search:
        def settle(shape, pose, trans):  # root, shape and translation: a few coarse solves
            bounds = model.shape_bounds()
            b = None if bounds is None else tuple(torch.as_tensor(x, dtype=torch.float32).reshape(1, -1) for x in bounds)
            t = torch.as_tensor(trans[None], dtype=torch.float32)
            for sigma in (0.05, 0.04, 0.03):
                shape, pose, t = _gauss_newton(
                    model, shape, pose, t,
                    lambda v: _match(v, faces_np, adjacency, used, pts, scan_tree, 1500, 1500, rng, None), sigma, cfg,
                    b, model.default_shape(1), floor, rows=[root], preset=pose, root=root)
            return shape, pose, t[0].double().numpy()

        if len(starts) > 1:
            best, limb_info = _search_starts(model, shape0, starts, pts, scan_tree, faces_np, rng, settle)
            shape0 = best[4]
        else:
            best = starts[0]
    else:
        best = starts[0]
    _, yaw0, pose0, trans0 = best[:4]
    with torch.no_grad():
        v_start = model(shape0, pose0).vertices[0].cpu().numpy().astype(np.float64) + trans0
    start_mean_mm = 1000.0 * float(point_surface_distance(probe, v_start, faces_np, adjacency=adjacency)[0].mean())

    # 2. fit -----------------------------------------------------------------------------------
    rows = sorted({model.pose_index(n) for n in NAMED_JOINTS})
    rows_t = torch.tensor(rows, dtype=torch.long, device=device)
    not_root = torch.tensor([r != root for r in rows], dtype=torch.bool, device=device)
    bounds = model.shape_bounds()
    if bounds is not None:
        lo, hi = (torch.as_tensor(b, dtype=torch.float32, device=device).reshape(1, -1) for b in bounds)
        frac = ((shape0 - lo) / (hi - lo)).clamp(1e-3, 1 - 1e-3)
        shape_var = torch.log(frac / (1 - frac)).clone().requires_grad_(True)
    else:
        lo = hi = None
        shape_var = shape0.clone().requires_grad_(True)
    shape_avg = model.default_shape(1).detach()
    base_pose = pose0.detach().clone()
    preset_named = base_pose[:, rows_t].clone()
    named = base_pose[:, rows_t].clone().requires_grad_(True)
    trans = torch.tensor(trans0[None], dtype=torch.float32, device=device).requires_grad_(True)

    def current_shape():
        if lo is None:
            return shape_var
        return lo + (hi - lo) * torch.sigmoid(shape_var)

    def current_pose():
        return base_pose.index_copy(1, rows_t, named)

    # end parts the scan does not show: left out of the body -> scan term while unseen, and reset
    # to the prior preset's rotation and held once the fit is far enough along
    parts = body_parts(model)
    col_of = {r: k for k, r in enumerate(rows)}
    held: dict[int, torch.Tensor] = {}  # column of ``named`` -> its held rotation (3,)
    unseen_report: dict = {}
    prior = pose_preset(model, cfg.unseen_prior) if 0.0 < cfg.unseen_share <= 1.0 else None
    b_pool = used  # body vertices matched to the scan (an unseen part's are left out)
    unseen_now: list = []

    def apply_held():
        with torch.no_grad():
            for k, value in held.items():
                named[0, k] = value

    def check_unseen(v_np, t_frac):
        """Update the unseen parts from the body ``v_np``; True when a part was newly held."""
        nonlocal b_pool, unseen_now
        if prior is None:
            return False
        watch = [j for j in cfg.unseen_joints if col_of[model.pose_index(j)] not in held]
        found = _unseen_parts(v_np, faces_np, parts, watch, scan_tree, cfg.quality.coverage_mm / 1000.0,
                              cfg.unseen_share)
        unseen_now = sorted(found)
        newly = False
        if t_frac >= cfg.unseen_after:
            for joint, share in found.items():
                r = model.pose_index(joint)
                held[col_of[r]] = prior[0, r].to(named.dtype).clone()
                unseen_report[PART_NAMES[joint]] = {"uncovered": round(share, 3), "step": step}
                newly = True
        out = [parts.vertices_of(j) for j in cfg.unseen_joints
               if j in found or col_of[model.pose_index(j)] in held]
        b_pool = used[~np.isin(used, np.concatenate(out))] if out else used
        return newly  # applied after this step's update (the step's graph uses ``named``)

    def free_rows():
        return [r for r in rows if col_of[r] not in held]

    optim = torch.optim.Adam(
        [
            {"params": [trans], "lr": cfg.lr_translation},
            {"params": [named], "lr": cfg.lr_pose},
            {"params": [shape_var], "lr": cfg.lr_shape},
        ]
    )
    base_lrs = [g["lr"] for g in optim.param_groups]
    n_place = max(1, int(round(cfg.placement_fraction * iterations))) if iterations > 10 else 0
    n_scan = min(cfg.scan_samples, len(pts))
    n_body = min(cfg.body_samples, len(used))
    history = []
    corr = None
    tree_cache: dict = {}
    note_every = max(1, iterations // 50)
    for step in range(iterations):
        newly_held = False
        t = step / max(1, iterations - 1)
        sigma = cfg.sigma_start * (cfg.sigma_end / cfg.sigma_start) ** t
        lr_scale = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))
        placing = step < n_place
        if cfg.limb_search and step == n_place and step > 0:  # the root has settled: search the limbs
            # end parts the scan does not show from where the placement left them are left out of
            # the fine fit's body -> scan term until the check at half the fit decides whether
            # they are held (matched, a missing hand's vertices pulled the arm to the thigh's points)
            if prior is not None:
                with torch.no_grad():
                    v_now = model(current_shape().detach(), current_pose().detach(), trans.detach()).vertices[0]
                check_unseen(v_now.double().cpu().numpy(), t)
                limb_info["unseen_at_search"] = [PART_NAMES[j] for j in unseen_now]
            new_pose, limb_info["search"] = _refine_limbs(
                model, current_shape().detach(), current_pose().detach(), trans.detach(), pts, scan_tree, faces_np, rng)
            with torch.no_grad():
                named.copy_(new_pose[:, rows_t])
            optim.state.clear()
        gn = cfg.shape_solver == "gauss-newton"
        move_shape = not gn and (step % max(1, cfg.shape_every) == 0 or step == iterations - 1)
        if gn and step > 0 and step % max(1, cfg.gn_every) == 0:
            coarse = step < cfg.coarse_fraction * iterations
            ns, nb = (max(1, n_scan // 2), max(1, n_body // 2)) if coarse else (n_scan, n_body)
            new_shape, new_pose, new_trans = _gauss_newton(
                model, current_shape().detach(), current_pose().detach(), trans.detach(),
                lambda v: _match(v, faces_np, adjacency, used, pts, scan_tree, ns, nb, rng, None, pool=b_pool), sigma,
                cfg,
                None if lo is None else (lo, hi), shape_avg, floor,
                rows=(free_rows() if cfg.gn_pose and not placing else [root]) if cfg.gn_pose else (), preset=base_pose,
                root=root)
            _set_shape(shape_var, new_shape, lo, hi)
            with torch.no_grad():
                trans.copy_(new_trans)
                named.copy_(new_pose[:, rows_t])
            if cfg.gn_pose:
                optim.state.clear()  # the moments point where the solve has already gone
        for g, base in zip(optim.param_groups, base_lrs):
            g["lr"] = base * lr_scale
        shp = current_shape() if move_shape else current_shape().detach()
        out = model(shp, current_pose(), trans)
        verts = out.vertices[0]
        if corr is None or step % cfg.refresh_every == 0:
            v_np = verts.detach().cpu().numpy().astype(np.float64)
            coarse = step < cfg.coarse_fraction * iterations
            ns, nb = (max(1, n_scan // 2), max(1, n_body // 2)) if coarse else (n_scan, n_body)
            corr = _correspondences(v_np, faces_np, adjacency, used, pts, scan_tree, ns, nb, rng, device, tree_cache,
                                   check=cfg.body_to_scan_cos > 0 or cfg.body_to_scan_excess > 0, pool=b_pool)
            newly_held = step > n_place and step % max(1, cfg.gn_every) == 0 and check_unseen(v_np, t)
        loss = _data_loss(verts, faces_t, corr, sigma, cfg)
        if floor is not None and cfg.floor_weight > 0:
            loss = loss + cfg.floor_weight * ((verts[:, 1].min() - floor) * 100.0).pow(2)
        pose_dev = (named - preset_named)[0, not_root]
        loss = loss + cfg.pose_prior * pose_dev.pow(2).sum()
        if lo is None:
            loss = loss + cfg.shape_prior * (shp - shape_avg).pow(2).sum()
        else:
            loss = loss + cfg.shape_prior * ((shp - shape_avg) / (hi - lo)).pow(2).sum()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        if placing:  # translation, root rotation and shape only
            keep = torch.zeros_like(named.grad)
            keep[0, ~not_root] = named.grad[0, ~not_root]
            named.grad = keep
        optim.step()
        if held:
            apply_held()
        if newly_held:
            optim.state.clear()
        if step % note_every == 0 or step == iterations - 1:
            value = float(loss.detach())
            history.append([step, round(value, 6), round(sigma, 4)])
            _report(progress, step + 1, iterations, f"loss {value:.4f}")

    if cfg.shape_solver == "gauss-newton" and cfg.gn_final > 0:
        new_shape, new_pose, new_trans = _gauss_newton(
            model, current_shape().detach(), current_pose().detach(), trans.detach(),
            lambda v: _match(v, faces_np, adjacency, used, pts, scan_tree, n_scan, n_body, rng, None, pool=b_pool),
            sigma, cfg,
            None if lo is None else (lo, hi), shape_avg, floor, rows=free_rows() if cfg.gn_pose else (),
            preset=base_pose, root=root, iterations=cfg.gn_final)
        _set_shape(shape_var, new_shape, lo, hi)
        with torch.no_grad():
            trans.copy_(new_trans)
            named.copy_(new_pose[:, rows_t])

    # 3. measure -------------------------------------------------------------------------------
    with torch.no_grad():
        shape_f, pose_f, trans_f = current_shape().detach(), current_pose().detach(), trans.detach()
        v_final = model(shape_f, pose_f, trans_f).vertices[0].cpu().numpy().astype(np.float64)
    if 0 < cfg.measure_points < len(pts):
        m_pts = pts[np.sort(np.random.default_rng(seed).choice(len(pts), cfg.measure_points, replace=False))]
    else:
        m_pts = pts
    dist, m_face, m_bary = point_surface_distance(m_pts, v_final, faces_np, adjacency=adjacency)
    dist = dist * 1000.0
    d_body = scan_tree.query(v_final[used], distance_upper_bound=0.0101)[0]
    coverage = float(np.isfinite(d_body).mean())
    quality = part_quality(v_final, faces_np, body_parts(model), m_pts, dist, m_face, m_bary, scan_tree=scan_tree,
                           limits=cfg.quality)

    # 4. detail (optional) ---------------------------------------------------------------------
    detail = detail_mean = None
    if cfg.detail:
        detail = fit_detail(v_final, faces_np, pts, cfg, rng, used)
        v_detail = v_final + vertex_normals(v_final, faces_np) * detail[:, None]
        detail_mean = float(point_surface_distance(pts, v_detail, faces_np, adjacency=adjacency)[0].mean()) * 1000.0

    seconds = time.monotonic() - start
    source = scan.source_info()
    source.pop("n_points", None)
    twin = Twin.from_tensors(model, shape_f, pose_f, trans_f, pose_name=pose_init, source=source)
    settings_dict = asdict(cfg)
    settings_dict.update(seed=seed, pose_init=pose_init, start_yaw_deg=yaw0, shape_labels=list(model.shape_labels),
                         limb_search_result=limb_info, unseen_parts=unseen_report)
    scan_info = {
        "units": scan.units,
        "units_source": scan.metadata.get("units_source"),
        "units_detected": scan.metadata.get("units_detected"),
        "up": scan.up,
        "up_method": scan.metadata.get("up_method"),
        "floor_y_m": None if scan.floor_y is None else round(float(scan.floor_y), 5),
        "height_m": scan.metadata.get("height_m"),
        "n_points_file": scan.metadata.get("n_points_file"),
        "cleaning": scan.metadata.get("cleaning"),
    }
    return FitResult(
        twin=twin,
        mean_mm=float(dist.mean()),
        median_mm=float(np.median(dist)),
        p95_mm=float(np.percentile(dist, 95)),
        start_mean_mm=start_mean_mm,
        seconds=seconds,
        iterations=iterations,
        n_points=int(len(pts)),
        n_measured=int(len(m_pts)),
        model=model.name,
        units=scan.units,
        units_assumed=not scan.units_given,
        synthetic=scan.synthetic,
        settings=settings_dict,
        history=history,
        coverage=coverage,
        scan_inliers=float((dist < 10.0).mean()),
        scan_info=scan_info,
        detail_offsets=None if detail is None else detail.astype(np.float32),
        detail_mean_mm=detail_mean,
        quality=quality,
    )


def fit_scans(model: BodyModel, scans, seed: int = 0, **kw) -> list[FitResult]:
    """Fit several scans, one after another, each seeded from ``seed`` and its position in the
    list (``seed + i``), so the same list gives the same twins.

    Args:
        model: any :class:`~bodies.model.BodyModel`.
        scans: sequence of :class:`~bodies.scan.Scan` or paths.
        **kw: passed to :func:`fit_scan` (iterations, settings, clean, units, up, progress, ...).

    Returns:
        One :class:`FitResult` per scan, in order.
    """
    return [fit_scan(model, scan, seed=seed + i, **kw) for i, scan in enumerate(scans)]


def fit_to_folder(
    model: BodyModel, scan: Scan | PathLikeStr, out_dir: PathLikeStr, measure_pose: str = "a-pose", **kw
) -> FitResult:
    """:func:`fit_scan`, then write the twin folder, each file atomically:

    - ``twin.json`` and ``body.ply`` (canonical frame, metres, model topology; :meth:`Twin.save`);
    - ``body_scanframe.ply``: the same body in the scan file's own units and axes;
    - ``fit_report.json``: :meth:`FitResult.to_report` (mean, median, p95 scan -> body mm,
      coverage, seconds, detected units / up axis / floor, cleaning);
    - ``measurements.json``: tape measurements of the fitted shape in ``measure_pose``
      (:func:`bodies.measure.measure_model`, cm);
    - ``detail_offsets.npz`` (only with ``settings.detail``): ``offsets`` (V,) float32 metres
      along the body's vertex normals; not applied to ``body.ply``.

    A scan not marked synthetic is a real person's: ``out_dir`` is made private (0700, files 0600,
    :func:`engine.storage.private_dir`); a synthetic one's folder follows the umask.
    """
    from engine.meshio import save_ply

    from .measure import measure_model

    if not isinstance(scan, Scan):
        scan = load_scan(scan, units=kw.pop("units", "auto"), up=kw.pop("up", "auto"))
    result = fit_scan(model, scan, **kw)
    out_dir = Path(out_dir)
    if not scan.synthetic:  # a real person's body: her twin folder is hers alone (docs/rights.md)
        private_dir(out_dir)
    result.twin.save(out_dir, model)
    verts, faces, _ = result.twin.body(model)
    save_ply(
        out_dir / "body_scanframe.ply",
        scan.to_file_frame(verts).astype(np.float32),
        faces,
        comments=[f"atelier twin body, model {model.name}, in the scan's frame: units {scan.units}, up {scan.up}"],
    )
    if result.detail_offsets is not None:
        with atomic_path(out_dir / "detail_offsets.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, offsets=result.detail_offsets, model=np.array(model.name),
                         note=np.array("metres along the body's vertex normals; add to body.ply's vertices"))
    meas = measure_model(model, torch.tensor([result.twin.shape], dtype=torch.float32), pose=measure_pose)
    write_json(out_dir / "measurements.json", {
        "units": "cm",
        "pose": measure_pose,
        "model": model.name,
        "definitions": "docs/measurements.md",
        "measurements": meas,
    })
    write_json(out_dir / "fit_report.json", result.to_report())
    return result


def fit_detail(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, cfg: FitSettings | None = None,
               rng: np.random.Generator | None = None, used: np.ndarray | None = None) -> np.ndarray:
    """The detail layer: per-vertex offsets along the body's normals that bring the surface onto
    the scan (hair, tight clothing), smooth (Laplacian) and bounded.

    Args:
        vertices: (V, 3) float, metres, the fitted body; faces: (F, 3) int; points: (N, 3) scan.

    Returns:
        (V,) float64 offsets, metres; zero where no scan point is near (holes).
    """
    cfg = cfg or FitSettings()
    rng = rng or np.random.default_rng(0)
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    used = np.unique(f) if used is None else used
    normals = vertex_normals(v, f)
    tree = cKDTree(points)
    # each vertex's target offset: the mean signed normal distance of the scan points near it
    d, nn = tree.query(v[used], k=8, distance_upper_bound=0.03)
    ok = np.isfinite(d)
    nn_safe = np.where(ok, nn, 0)
    signed = ((points[nn_safe] - v[used][:, None]) * normals[used][:, None]).sum(-1)
    w = ok.astype(np.float64)
    target = np.zeros(len(v))
    weight = np.zeros(len(v))
    target[used] = (signed * w).sum(1) / np.maximum(w.sum(1), 1)
    weight[used] = (w.sum(1) >= 3).astype(np.float64)
    # smooth with the graph Laplacian: minimise weight (o - t)^2 + smooth * |L o|^2 (Jacobi steps)
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    adj = coo_matrix((np.ones(len(edges) * 2), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
                     shape=(len(v), len(v))).tocsr()
    adj.data[:] = 1.0
    deg = np.maximum(np.asarray(adj.sum(1)).ravel(), 1)
    lam = cfg.detail_smooth * 1e-2
    o = target * weight
    for _ in range(int(cfg.detail_iterations)):
        nbr = adj @ o / deg
        o = (weight * target + lam * nbr) / (weight + lam)
    return np.clip(o, -cfg.detail_max, cfg.detail_max)




def point_surface_distance(
    points: np.ndarray,
    vertices: np.ndarray,
    faces: np.ndarray,
    k: int = 2,
    adjacency: tuple[np.ndarray, np.ndarray] | None = None,
    exact: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance from points to a triangle mesh's surface (closest point on any triangle).

    A first answer comes from the triangles around each point's ``k`` nearest vertices. With
    ``exact`` it is then checked against every triangle whose centroid lies within that
    distance plus the triangle's own radius (centroid to farthest corner), which is every
    triangle that could be closer; triangles are grouped by radius so the few large ones do not
    widen the search for all.

    Args:
        points: (N, 3) float, metres.
        vertices: (V, 3) float, metres; faces: (F, 3) int.

    Returns:
        distance (N,) float64 metres, face index (N,) int64, barycentric coordinates (N, 3)
        of the closest surface point.
    """
    points = np.asarray(points, dtype=np.float64)
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if adjacency is None:
        adjacency = _vertex_faces(faces, len(vertices))
    dist, fid, bary = _closest_via_neighbours(points, vertices, faces, adjacency, _SurfaceTree(vertices, faces), k)
    if not exact:
        return dist, fid, bary
    tri = vertices[faces]
    centroid = tri.mean(axis=1)
    radius = np.linalg.norm(tri - centroid[:, None], axis=2).max(axis=1)
    cuts = np.unique(np.quantile(radius, [0.5, 0.9, 0.99, 1.0]))
    lower = -np.inf
    for cut in cuts:
        group = np.flatnonzero((radius > lower) & (radius <= cut))
        lower = cut
        if not len(group):
            continue
        gtree = cKDTree(centroid[group])
        for s in range(0, len(points), 4096):
            sl = slice(s, s + 4096)
            hits = gtree.query_ball_point(points[sl], dist[sl] + cut + 1e-9)
            lengths = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
            if not lengths.sum():
                continue
            pi = np.repeat(np.arange(len(hits)), lengths) + s
            fi = group[np.concatenate([np.asarray(h, dtype=np.int64) for h in hits if len(h)])]
            d, b = _closest_on_triangles(points[pi], tri[fi, 0], tri[fi, 1], tri[fi, 2])
            order = np.lexsort((d, pi))  # by point, then distance
            first = order[np.r_[True, pi[order][1:] != pi[order][:-1]]]
            p_best, d_best = pi[first], d[first]
            better = d_best < dist[p_best]
            upd = p_best[better]
            dist[upd], fid[upd], bary[upd] = d_best[better], fi[first][better], b[first][better]
    return dist, fid, bary


# --- internals ---------------------------------------------------------------------------------
def _report(progress, done: int, total: int, note: str) -> None:
    if progress is None:
        return
    if hasattr(progress, "update"):
        progress.update(done, note)
    else:
        progress(done, total, note)


def _vertex_faces(faces: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """(V, M) padded face indices around each vertex (-1 = none) and (V,) counts."""
    flat_v = faces.reshape(-1)
    flat_f = np.repeat(np.arange(len(faces)), 3)
    order = np.argsort(flat_v, kind="stable")
    flat_v, flat_f = flat_v[order], flat_f[order]
    counts = np.bincount(flat_v, minlength=n_vertices)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    table = -np.ones((n_vertices, max(1, int(counts.max()))), dtype=np.int64)
    col = np.arange(len(flat_v)) - starts[flat_v]
    table[flat_v, col] = flat_f
    return table, counts


class _SurfaceTree:
    """k-d tree over the vertices that some face uses (a model may carry loose vertices)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, used: np.ndarray | None = None):
        self.used = np.unique(faces) if used is None else used
        self.tree = cKDTree(vertices[self.used])

    def query(self, p, k):
        d, i = self.tree.query(p, k=k)
        return d, self.used[i]


def _closest_via_neighbours(points, vertices, faces, adjacency, tree, k):
    """Best triangle among those around each point's k nearest vertices (``tree``: a
    :class:`_SurfaceTree`)."""
    table = adjacency[0]
    k = min(k, len(tree.used))
    n = len(points)
    dist = np.full(n, np.inf)
    fid = np.zeros(n, dtype=np.int64)
    bary = np.zeros((n, 3))
    chunk = max(1, 200_000 // (k * table.shape[1]))
    for s in range(0, n, chunk):
        p = points[s : s + chunk]
        _, nn = tree.query(p, k=k)
        nn = nn.reshape(len(p), -1)
        cand = table[nn].reshape(len(p), -1)  # (n, k*M)
        valid = cand >= 0
        cand_safe = np.where(valid, cand, 0)
        tri = vertices[faces[cand_safe]]  # (n, C, 3, 3)
        pp = np.broadcast_to(p[:, None, :], tri.shape[:2] + (3,))
        d, b = _closest_on_triangles(pp.reshape(-1, 3), *(tri[:, :, i].reshape(-1, 3) for i in range(3)))
        d = np.where(valid.reshape(-1), d, np.inf).reshape(len(p), -1)
        j = np.argmin(d, axis=1)
        r = np.arange(len(p))
        dist[s : s + chunk] = d[r, j]
        fid[s : s + chunk] = cand_safe[r, j]
        bary[s : s + chunk] = b.reshape(len(p), -1, 3)[r, j]
    return dist, fid, bary


def _match(v_np, faces_np, adjacency, used, pts, scan_tree, n_scan, n_body, rng, cache=None, check=True,
           pool=None) -> dict:
    """Fresh random subsets and their matches (numpy, float64 metres): scan points -> closest
    body surface point (face + barycentrics), body vertices (of ``pool``, default ``used``) ->
    nearest scan point, with what :func:`_data_loss` needs to judge each body -> scan pair."""
    # drawn with replacement: a few repeats cost nothing, a permutation of a large scan does
    s_idx = rng.integers(0, len(pts), size=n_scan) if n_scan < len(pts) else np.arange(len(pts))
    sp = pts[s_idx]
    # the body's vertex tree is rebuilt every few refreshes: it only proposes candidate
    # triangles (measured on the current vertices), and the body moves < 1 mm a step
    if cache is None or cache.get("age", 99) >= 4:
        cache = {} if cache is None else cache
        cache.update(tree=_SurfaceTree(v_np, faces_np, used), age=0)
    cache["age"] += 1
    tree = cache["tree"]
    _, fid, bary = _closest_via_neighbours(sp, v_np, faces_np, adjacency, tree, 1)
    pool = used if pool is None else pool
    b_idx = pool[rng.integers(0, len(pool), size=n_body)] if n_body < len(pool) else pool
    d_b, nn = scan_tree.query(v_np[b_idx])
    target = pts[nn]
    # How well each body -> scan pair holds up: (a) the offset's cosine with the body's normal
    # (a vertex inside a hole of the scan finds the hole's rim sideways, along the surface);
    # (b) how much further the vertex is from its scan point than the body is (a scan point
    # that another part of the body already explains, e.g. the thigh next to a hand whose own
    # points are missing).
    cos = excess = np.zeros(len(b_idx))
    normals = None
    if check:
        normals = _vertex_normals_at(v_np, faces_np, adjacency, b_idx)
        cos = np.abs(((target - v_np[b_idx]) * normals).sum(axis=1)) / np.maximum(d_b, 1e-9)
        # the body's distance to the scan point, from its nearest vertex (at most ~half an edge
        # more than the distance to the surface: the test errs towards keeping a pair)
        excess = d_b - tree.query(target, k=1)[0]
    return {"scan_points": sp, "face": fid, "bary": bary, "body_index": b_idx, "body_target": target,
            "body_dist": d_b, "body_cos": cos, "body_excess": excess, "body_normals": normals}


def _vertex_normals_at(v_np, faces_np, adjacency, idx) -> np.ndarray:
    """(len(idx), 3) unit area-weighted normals of vertices ``idx``."""
    around = adjacency[0][idx]
    tri = v_np[faces_np[np.maximum(around, 0)]]  # (n, M, 3, 3)
    fn = np.cross(tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :])
    vn = np.where((around >= 0)[..., None], fn, 0.0).sum(axis=1)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def _correspondences(v_np, faces_np, adjacency, used, pts, scan_tree, n_scan, n_body, rng, device, cache=None,
                     check=True, pool=None):
    """:func:`_match` as tensors on ``device``."""
    m = _match(v_np, faces_np, adjacency, used, pts, scan_tree, n_scan, n_body, rng, cache, check, pool)
    f32 = dict(dtype=torch.float32, device=device)
    return {
        "scan_points": torch.as_tensor(m["scan_points"], **f32),
        "face": torch.as_tensor(m["face"], dtype=torch.long, device=device),
        "bary": torch.as_tensor(m["bary"], **f32),
        "body_index": torch.as_tensor(m["body_index"], dtype=torch.long, device=device),
        "body_target": torch.as_tensor(m["body_target"], **f32),
        "body_dist": torch.as_tensor(m["body_dist"], **f32),
        "body_cos": torch.as_tensor(m["body_cos"], **f32),
        "body_excess": torch.as_tensor(m["body_excess"], **f32),
    }


def _gauss_newton(model, shape, pose, trans, m_fn, sigma, cfg, bounds, shape_avg, floor, rows=(), preset=None,
                  root=None, iterations=1):
    """Gauss-Newton (Levenberg-Marquardt) steps on the shape, the pose rows ``rows`` and the
    translation together. The vertices' derivatives come from finite differences: one batched
    forward with each shape value nudged, one with each rotation component of ``rows`` nudged
    (the same body skinned in every pose). Residuals are point-to-plane (scan point -> body
    surface along the face normal, body vertex -> scan point along the vertex normal), weighted
    as the Geman-McClure loss weighs them (iteratively reweighted least squares), plus the shape
    and pose priors and the floor.

    Args:
        shape: (1, S) raw shape; pose: (1, P, 3); trans: (1, 3) (all detached).
        m_fn: ``m_fn(vertices (V, 3) float64) -> dict`` of :func:`_match`.
        bounds: (lo, hi) (1, S) tensors, or None.
        rows: pose rows solved for; preset: (1, P, 3) centre of the pose prior; root: the root's
            row (no prior).

    Returns:
        (shape (1, S), pose (1, P, 3), trans (1, 3)) tensors.
    """
    n_s = shape.shape[1]
    rows = list(rows)
    n_p = 3 * len(rows)
    lo, hi = bounds if bounds is not None else (None, None)
    span = (hi - lo)[0].double().cpu().numpy() if lo is not None else np.ones(n_s)
    h_s = 0.01 * span if lo is not None else np.full(n_s, 0.05)
    h_p = 0.01
    s = shape[0].double().cpu().numpy().copy()
    t = trans[0].double().cpu().numpy().copy()
    pz = pose[0].double().cpu().numpy().copy()
    avg = shape_avg[0].double().cpu().numpy()
    pre = None if preset is None else preset[0].double().cpu().numpy()
    faces = model.faces_numpy()
    s2 = (sigma * 100.0) ** 2
    f32 = dict(dtype=torch.float32, device=shape.device)
    for _ in range(int(iterations)):
        batch = np.repeat(s[None], n_s + 1, axis=0)
        batch[1:] += np.diag(h_s)
        t_t = torch.as_tensor(t[None], **f32)
        p_t = torch.as_tensor(pz[None], **f32)
        with torch.no_grad():
            v = model(torch.as_tensor(batch, **f32), p_t.expand(n_s + 1, -1, -1), t_t.expand(n_s + 1, -1)).vertices
            v = v.double().cpu().numpy()
            v0 = v[0]
            jac = [(v[1:] - v0) / h_s[:, None, None]]  # (S, V, 3) metres per unit
            if n_p:
                poses = np.repeat(pz[None], n_p, axis=0)
                for k, r in enumerate(rows):
                    for c in range(3):
                        poses[3 * k + c, r, c] += h_p
                vp = model(torch.as_tensor(s[None], **f32), torch.as_tensor(poses, **f32), t_t).vertices
                jac.append((vp.double().cpu().numpy() - v0) / h_p)
        jac = np.concatenate(jac)  # (K, V, 3)
        n_x = len(jac) + 3
        m = m_fn(v0)
        a_rows, res, wts = [], [], []
        # scan -> body, along the face normal
        f = faces[m["face"]]
        tri = v0[f]
        fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-12)
        q = (m["bary"][:, :, None] * tri).sum(axis=1)
        diff = m["scan_points"] - q
        jq = np.einsum("nb,kncd,nd->nk", m["bary"], jac[:, f], fn)  # (n, K)
        d2 = (diff ** 2).sum(1) * 1e4
        a_rows.append(np.concatenate([jq, fn], axis=1) * 100.0)
        res.append((diff * fn).sum(1) * 100.0)
        wts.append((s2 / (d2 + s2)) ** 2 / len(d2))
        # body -> scan, along the vertex normal, the pairs the loss keeps
        b = m["body_index"]
        keep = m["body_dist"] < cfg.body_to_scan_truncate * sigma
        if cfg.body_to_scan_cos > 0:
            keep &= (m["body_cos"] >= cfg.body_to_scan_cos) | (m["body_dist"] < cfg.body_to_scan_free)
        if cfg.body_to_scan_excess > 0:
            keep &= m["body_excess"] < cfg.body_to_scan_excess
        if keep.any() and cfg.body_to_scan_weight > 0:
            b = b[keep]
            vn = m["body_normals"][keep] if m["body_normals"] is not None else \
                _vertex_normals_at(v0, faces, _vertex_faces(faces, len(v0)), b)
            diff = m["body_target"][keep] - v0[b]
            d2 = (diff ** 2).sum(1) * 1e4
            a_rows.append(np.concatenate([np.einsum("knd,nd->nk", jac[:, b], vn), vn], axis=1) * 100.0)
            res.append((diff * vn).sum(1) * 100.0)
            wts.append(cfg.body_to_scan_weight * (s2 / (d2 + s2)) ** 2 / len(d2))
        a_m = np.concatenate(a_rows)
        r = np.concatenate(res)
        w = np.concatenate(wts)
        hess = (a_m * w[:, None]).T @ a_m
        grad = (a_m * w[:, None]).T @ r
        # priors: shape_prior * ((s - avg) / span)^2, pose_prior * (rotation - preset)^2
        pw = cfg.shape_prior / span ** 2
        hess[:n_s, :n_s] += np.diag(pw)
        grad[:n_s] -= pw * (s - avg)
        if n_p and pre is not None:
            for k, r_ in enumerate(rows):
                if r_ == root:
                    continue
                sl = slice(n_s + 3 * k, n_s + 3 * k + 3)
                hess[sl, sl] += cfg.pose_prior * np.eye(3)
                grad[sl] -= cfg.pose_prior * (pz[r_] - pre[r_])
        if floor is not None and cfg.floor_weight > 0:
            k = int(np.argmin(v0[:, 1]))
            row = np.concatenate([jac[:, k, 1], [0.0, 1.0, 0.0]]) * 100.0
            hess += cfg.floor_weight * np.outer(row, row)
            grad += cfg.floor_weight * row * (floor - v0[k, 1]) * 100.0
        damp = cfg.gn_damping * np.diag(hess) + 1e-9
        damp[n_s:n_x - 3] += cfg.gn_pose_damping
        hess += np.diag(damp)
        step = np.linalg.solve(hess, grad)
        if n_p:  # a trust region for the rotations: no joint turns more than gn_max_turn a step
            turn = np.linalg.norm(step[n_s:n_x - 3].reshape(-1, 3), axis=1).max()
            if turn > cfg.gn_max_turn:
                step *= cfg.gn_max_turn / turn
        move = np.abs(step[:n_s] / span).max() if n_s else 0.0
        if move > cfg.gn_max_shape:  # and for the shape, as a share of each value's range
            step *= cfg.gn_max_shape / move
        s = s + step[:n_s]
        for k, r_ in enumerate(rows):
            pz[r_] += step[n_s + 3 * k: n_s + 3 * k + 3]
        t = t + step[n_x - 3:]
        if lo is not None:
            lo_n, hi_n = lo[0].double().cpu().numpy(), hi[0].double().cpu().numpy()
            s = np.clip(s, lo_n + 1e-3 * span, hi_n - 1e-3 * span)
    return torch.as_tensor(s[None], **f32), torch.as_tensor(pz[None], **f32), torch.as_tensor(t[None], **f32)


def _gm(d2: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure penalty on squared distances (m^2), scaled so it is d^2 in cm^2 near 0."""
    s2 = (sigma * 100.0) ** 2
    d2 = d2 * 1e4
    return s2 * d2 / (d2 + s2)


def _data_loss(verts, faces_t, corr, sigma, cfg: FitSettings) -> torch.Tensor:
    tri = verts[faces_t[corr["face"]]]  # (n, 3, 3)
    q = (corr["bary"][:, :, None] * tri).sum(dim=1)
    s2b = _gm((corr["scan_points"] - q).pow(2).sum(-1), sigma).mean()
    vb = verts[corr["body_index"]]
    d2 = (vb - corr["body_target"]).pow(2).sum(-1)
    keep = corr["body_dist"] < cfg.body_to_scan_truncate * sigma
    if cfg.body_to_scan_cos > 0:
        keep &= (corr["body_cos"] >= cfg.body_to_scan_cos) | (corr["body_dist"] < cfg.body_to_scan_free)
    if cfg.body_to_scan_excess > 0:
        keep &= corr["body_excess"] < cfg.body_to_scan_excess
    keep = keep.float()
    b2s = (_gm(d2, sigma) * keep).sum() / keep.sum().clamp(min=1.0)
    return s2b + cfg.body_to_scan_weight * b2s


def _set_shape(shape_var: torch.Tensor, shape: torch.Tensor, lo, hi) -> None:
    """Write a raw shape into the optimised variable (logits of the position between the bounds
    for bounded shapes)."""
    with torch.no_grad():
        if lo is None:
            shape_var.copy_(shape)
        else:
            frac = ((shape - lo) / (hi - lo)).clamp(1e-4, 1 - 1e-4)
            shape_var.copy_(torch.log(frac / (1 - frac)))


def _match_height(model: BodyModel, shape: torch.Tensor, pose: torch.Tensor, target: float, steps: int = 4):
    """Move the shape along the gradient of body height (Newton steps) until the posed body is
    ``target`` metres tall; bounded shapes stay inside their bounds."""
    bounds = model.shape_bounds()
    shape = shape.clone()
    for _ in range(steps):
        s = shape.clone().requires_grad_(True)
        y = model(s, pose).vertices[0, :, 1]
        h = y.max() - y.min()
        err = target - float(h.detach())
        if abs(err) < 0.002:
            break
        (g,) = torch.autograd.grad(h, s)
        gn = float(g.pow(2).sum())
        if gn < 1e-12:
            break
        shape = (shape + err * g / gn).detach()
        if bounds is not None:
            lo, hi = (torch.as_tensor(b, dtype=shape.dtype).reshape(1, -1) for b in bounds)
            shape = torch.minimum(torch.maximum(shape, lo + 0.02 * (hi - lo)), hi - 0.02 * (hi - lo))
    return shape.detach()


def _search_starts(model, shape0, starts, pts, scan_tree, faces_np, rng, settle=None):
    """:func:`bodies.limbs.search_limbs` (arm grids, one refinement round) from each start (score, yaw,
    pose (1, P, 3), translation (3,)), after ``settle(shape, pose, trans) -> (shape, pose,
    trans)`` when given (several starts: each is settled before they are compared); returns the
    start with the best two-way distance after its search, (score, yaw, pose, translation,
    shape), and a report."""
    parts = body_parts(model)
    probe = None
    best, report = None, {"starts": []}
    for _, yaw, pose, trans in starts:
        shape = shape0
        if settle is not None:
            shape, pose, trans = settle(shape0, pose, trans)
        t = torch.as_tensor(trans[None], dtype=torch.float32)
        if probe is None:
            with torch.no_grad():
                v0 = model(shape, pose, t).vertices[0].double().cpu().numpy()
            probe = ChamferProbe(pts, scan_tree, vertex_areas(v0, faces_np), rng)
        new_pose, info = search_limbs(model, shape, pose, t, parts, probe, rng, refine_rounds=(8.0,))
        with torch.no_grad():
            v = model(shape, new_pose, t).vertices[0].double().cpu().numpy()
        score = probe.score(v)
        report["starts"].append({"yaw_deg": yaw, "score_mm": round(1000 * score, 2), "limbs": info})
        if best is None or score < best[0]:
            best = (score, yaw, new_pose, trans, shape)
    report["kept_yaw_deg"] = best[1]
    return best, report


def _refine_limbs(model, shape, pose, trans, pts, scan_tree, faces_np, rng):
    """:func:`bodies.limbs.search_limbs` (arm grids and refinement) on the placed body; returns
    (pose (1, P, 3), report)."""
    with torch.no_grad():
        v0 = model(shape, pose, trans).vertices[0].double().cpu().numpy()
    probe = ChamferProbe(pts, scan_tree, vertex_areas(v0, faces_np), rng)
    return search_limbs(model, shape, pose, trans, body_parts(model), probe, rng)


def _unseen_parts(v_np, faces_np, parts, joints, scan_tree, cover_m, share) -> dict:
    """{joint: uncovered share} of the ``joints`` whose part has more than ``share`` of its surface
    (vertex areas) with no scan point within ``cover_m`` metres."""
    out = {}
    if not joints:
        return out
    area = vertex_areas(v_np, faces_np)
    for joint in joints:
        idx = parts.vertices_of(joint)
        idx = idx[area[idx] > 0]
        if not len(idx):
            continue
        d = scan_tree.query(v_np[idx], distance_upper_bound=cover_m)[0]
        a = area[idx]
        uncovered = float(a[~np.isfinite(d)].sum() / a.sum())
        if uncovered > share:
            out[joint] = uncovered
    return out


def _turn_root(pose: torch.Tensor, root: int, yaw: float) -> torch.Tensor:
    """Pose with its root rotation turned by ``yaw`` radians about +Y (world axes)."""
    if yaw == 0.0:
        return pose.clone()
    from scipy.spatial.transform import Rotation

    r = Rotation.from_rotvec([0.0, yaw, 0.0]) * Rotation.from_rotvec(pose[0, root].double().cpu().numpy())
    out = pose.clone()
    out[0, root] = torch.as_tensor(r.as_rotvec(), dtype=pose.dtype)
    return out


def _place(verts: np.ndarray, pts: np.ndarray, floor: float | None = None) -> np.ndarray:
    """(3,) translation putting the body's feet on the scan's floor (``floor``, or the lowest
    scan point) and its box centre (x, z) on the scan's."""
    lo_v, hi_v = verts.min(0), verts.max(0)
    lo_s, hi_s = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
    lo_s[1] = pts[:, 1].min() if floor is None else floor
    c_v, c_s = 0.5 * (lo_v + hi_v), 0.5 * (lo_s + hi_s)
    return np.array([c_s[0] - c_v[0], lo_s[1] - lo_v[1], c_s[2] - c_v[2]])


def _chamfer(verts: np.ndarray, probe: np.ndarray, scan_tree: cKDTree, trunc: float) -> float:
    """Symmetric truncated mean nearest-neighbour distance, metres (vertices only)."""
    # queries stop at ``trunc`` (answering inf, clipped below): a badly turned body is far away
    d1 = cKDTree(verts).query(probe, distance_upper_bound=trunc)[0]
    d2 = scan_tree.query(verts[:: max(1, len(verts) // 3000)], distance_upper_bound=trunc)[0]
    return float(np.minimum(d1, trunc).mean() + np.minimum(d2, trunc).mean())


__all__ = ["fit_scan", "fit_scans", "fit_to_folder", "fit_detail", "FitResult", "FitSettings", "point_surface_distance", "DEFAULT_ITERATIONS"]
