"""Bodies without a scan: from a tailor's measurements, or from a phenotype (age, weight, ...).

:func:`body_from_measurements` moves an Anny body's phenotype (gender, age, muscle, weight,
height, proportions, each in [0, 1]) until its tape measurements (:mod:`bodies.measure`, taken
in the A-pose) match the ones given, and reports what is left (the residuals, cm).

The circumferences are made differentiable by freezing, for a few steps at a time, which mesh
edges each landmark's slice crosses and in which order they make the slice's convex outline; the
slice heights follow the body's height. Every few steps the landmarks are found again on the
new body (the full, non-differentiable :func:`~bodies.measure.tape_measurements`), and the fit
ends when every residual is under ``tolerance_cm``, or after ``rounds``.

:func:`body_from_phenotype` maps people's words to Anny's parameters: age in years through
Anny's own morphological-age anchors (``anny/data/shape_calibration``), height in cm and weight
in kg by matching the body (Newton steps on the ``height`` and ``weight`` parameters; the weight
from the body's volume at 980 kg/m^3, as Anny's ``Anthropometry`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import ConvexHull

from engine.errors import InputError

from .measure import _Slicer, tape_measurements
from .model import BodyModel
from .poses import pose_preset
from .twin import Twin

#: measurements :func:`body_from_measurements` can match: key -> landmark name in
#: ``TapeMeasurements.landmarks`` (torso circumferences) or None (height).
TARGETS = {
    "height_cm": None,
    "bust_cm": "bust",
    "underbust_cm": "underbust",
    "waist_cm": "waist",
    "high_hip_cm": "high_hip",
    "hips_cm": "hips",
}
#: fall-back anchors (years -> Anny age) when anny's calibration file cannot be read.
AGE_YEARS = (0.0, 1.0, 4.0, 11.0, 16.0, 18.0, 64.0, 110.0)
AGE_PARAM = (0.0, 0.05, 0.215, 0.415, 0.67, 0.77, 0.83, 1.0)
#: density used to turn the body's volume into a weight, kg/m^3 (as anny.anthropometry).
DENSITY = 980.0
GENDER_WORDS = {"male": 0.0, "man": 0.0, "m": 0.0, "female": 1.0, "woman": 1.0, "f": 1.0, "neutral": 0.5}


@dataclass
class MeasuredBody:
    """A body made from measurements or a phenotype.

    Attributes:
        shape: (S,) the model's shape parameters (Anny: phenotype in [0, 1]).
        measurements: tape measurements of the result, cm (:data:`~bodies.measure.TAPE_KEYS`).
        targets: the measurements asked for, cm.
        residuals: {key: result - target} cm, for each target.
        converged: every residual under the tolerance.
        steps: optimisation steps run.
        phenotype: the inputs in people's units (age years, weight kg, ...) when made from them.
    """

    shape: list[float]
    measurements: dict
    targets: dict = field(default_factory=dict)
    residuals: dict = field(default_factory=dict)
    converged: bool = True
    steps: int = 0
    phenotype: dict = field(default_factory=dict)

    def twin(self, model: BodyModel, pose: str = "a-pose", source: dict | None = None) -> Twin:
        """A :class:`~bodies.twin.Twin` of this body in a pose preset, feet on y = 0."""
        return Twin.from_tensors(model, torch.tensor([self.shape]), pose_preset(model, pose), torch.zeros(1, 3),
                                 pose_name=pose, source=source or {"synthetic": True, "from": "measurements"})

    def report(self) -> dict:
        return {
            "shape": self.shape,
            "measurements_cm": self.measurements,
            "targets_cm": self.targets,
            "residuals_cm": {k: round(v, 2) for k, v in self.residuals.items()},
            "max_abs_residual_cm": round(max((abs(v) for v in self.residuals.values()), default=0.0), 2),
            "converged": self.converged,
            "steps": self.steps,
            "phenotype": self.phenotype,
        }


def _one_thread(fn):
    """Run ``fn`` with one torch thread (restored after): the body model's tensors are small and
    on 2 busy cores one thread is ~3x faster than two."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(n)

    return wrapper


# --- age ---------------------------------------------------------------------------------------
def age_anchors() -> tuple[np.ndarray, np.ndarray]:
    """(years (K,), Anny age parameter (K,)) float64, from the installed anny's calibration file
    when it can be read (``morphological_age_mapping``), else :data:`AGE_YEARS`/:data:`AGE_PARAM`."""
    try:
        from anny.paths import get_anny_root_dir

        d = torch.load(Path(get_anny_root_dir()) / "data" / "shape_calibration" / "girls.pth", weights_only=True,
                       map_location="cpu")["morphological_age_mapping"]
        return d["morphological_age_anchors"].double().numpy(), d["anny_age_anchors"].double().numpy()
    except Exception:
        return np.array(AGE_YEARS), np.array(AGE_PARAM)


def age_to_param(years: float) -> float:
    """Anny ``age`` in [0, 1] for an age in years (piecewise linear between Anny's anchors)."""
    y = float(years)
    xs, ps = age_anchors()
    if not xs[0] <= y <= xs[-1]:
        raise InputError(f"age {years} years is outside the body model's range ({xs[0]:g}-{xs[-1]:g} years)")
    return float(np.interp(y, xs, ps))


def param_to_age(p: float) -> float:
    """Years for an Anny ``age`` parameter (inverse of :func:`age_to_param`)."""
    xs, ps = age_anchors()
    return float(np.interp(float(p), ps, xs))


def gender_value(gender) -> float:
    """Anny ``gender`` (0 male ... 1 female) from a word or a number in [0, 1]."""
    if isinstance(gender, str) and gender.strip().lower() in GENDER_WORDS:
        return GENDER_WORDS[gender.strip().lower()]
    try:
        g = float(gender)
    except (TypeError, ValueError):
        raise InputError(f"unknown gender {gender!r}", hint="pass female, male, neutral or a number from 0 (male) to 1 (female)") from None
    if not 0.0 <= g <= 1.0:
        raise InputError(f"gender {g} is outside 0 (male) .. 1 (female)")
    return g


# --- from phenotype --------------------------------------------------------------------------
@_one_thread
def body_from_phenotype(
    model: BodyModel,
    gender="neutral",
    age: float | None = None,
    height_cm: float | None = None,
    weight_kg: float | None = None,
    muscle: float = 0.5,
    proportions: float = 0.5,
) -> MeasuredBody:
    """An Anny body from a phenotype in people's units.

    Args:
        gender: "female", "male", "neutral" or 0 (male) .. 1 (female).
        age: years (None: Anny's average adult, parameter 0.5).
        height_cm: standing height, cm (None: the average for the rest).
        weight_kg: body weight, kg, from the body's volume (None: average weight).
        muscle, proportions: Anny parameters in [0, 1].

    Returns:
        :class:`MeasuredBody` (residuals for height and weight when given).
    """
    _need_anny(model)
    labels = list(model.shape_labels)
    shape = model.default_shape(1).clone()
    shape[0, labels.index("gender")] = gender_value(gender)
    if age is not None:
        shape[0, labels.index("age")] = age_to_param(age)
    for name, x in (("muscle", muscle), ("proportions", proportions)):
        if not 0.0 <= float(x) <= 1.0:
            raise InputError(f"{name} {x} is outside 0..1")
        shape[0, labels.index(name)] = float(x)
    targets, residuals = {}, {}
    for _ in range(3):  # height and weight interact a little: alternate
        if height_cm is not None:
            shape = _newton(model, shape, labels.index("height"), lambda s: _height(model, s) * 100.0, float(height_cm))
        if weight_kg is not None:
            shape = _newton(model, shape, labels.index("weight"), lambda s: _mass(model, s), float(weight_kg))
    meas = _tape(model, shape)
    if height_cm is not None:
        targets["height_cm"] = float(height_cm)
        residuals["height_cm"] = meas["height_cm"] - float(height_cm)
    if weight_kg is not None:
        targets["weight_kg"] = float(weight_kg)
        residuals["weight_kg"] = float(_mass(model, shape)) - float(weight_kg)
    return MeasuredBody(
        shape=[float(x) for x in shape[0]],
        measurements=meas,
        targets=targets,
        residuals=residuals,
        converged=all(abs(r) < 1.0 for r in residuals.values()),
        phenotype={"gender": gender, "age_years": age, "height_cm": height_cm, "weight_kg": weight_kg,
                   "muscle": muscle, "proportions": proportions,
                   "weight_kg_result": round(float(_mass(model, shape)), 2)},
    )


def _newton(model, shape, index, fn, target, steps: int = 8):
    """Move one bounded parameter (secant steps) until ``fn(shape)`` equals ``target``; stays in
    [0, 1] (the closest reachable value when the target is out of range)."""
    s = shape.clone()
    x0, f0 = float(s[0, index]), float(fn(s))
    x1 = min(1.0, x0 + 0.1) if x0 < 0.9 else x0 - 0.1
    s[0, index] = x1
    f1 = float(fn(s))
    for _ in range(steps):
        if abs(f1 - target) < 0.02 or abs(f1 - f0) < 1e-9:
            break
        x2 = float(np.clip(x1 + (target - f1) * (x1 - x0) / (f1 - f0), 0.0, 1.0))
        s[0, index] = x2
        x0, f0, x1, f1 = x1, f1, x2, float(fn(s))
        if x2 in (0.0, 1.0) and (f1 - target) * (f0 - target) > 0 and x0 == x2:
            break
    return s


def _height(model, shape) -> float:
    with torch.no_grad():
        y = model(shape, pose_preset(model, "a-pose")).vertices[0, :, 1]
    return float(y.max() - y.min())


def _mass(model, shape) -> float:
    """Body weight, kg: the closed mesh's volume (divergence theorem) times :data:`DENSITY`."""
    with torch.no_grad():
        v = model(shape).vertices[0].double()
    f = torch.as_tensor(model.faces_numpy())
    tri = v[f]
    vol = (torch.cross(tri[:, 0], tri[:, 1], dim=-1) * tri[:, 2]).sum() / 6.0
    return float(vol.abs()) * DENSITY


def _tape(model, shape, pose: str = "a-pose") -> dict:
    with torch.no_grad():
        out = model(shape, pose_preset(model, pose))
    t = tape_measurements(out.vertices[0].numpy(), out.faces.numpy(), out.joints[0].numpy())
    return t.to_dict()


def _need_anny(model: BodyModel) -> None:
    labels = set(model.shape_labels)
    need = {"gender", "age", "muscle", "weight", "height", "proportions"}
    if not need <= labels:
        raise InputError(
            f"bodies from measurements or a phenotype need Anny's phenotype parameters; {model.name!r} has {sorted(labels)}",
            hint="use --model anny",
        )


# --- from measurements -----------------------------------------------------------------------
@_one_thread
def body_from_measurements(
    model: BodyModel,
    targets: dict,
    gender=None,
    age: float | None = None,
    tolerance_cm: float = 1.0,
    rounds: int = 8,
    steps_per_round: int = 25,
    prior: float = 0.02,
    start=None,
) -> MeasuredBody:
    """An Anny body whose tape measurements match ``targets``.

    Args:
        model: Anny (the phenotype parameters are what moves).
        targets: {key: cm} with keys from :data:`TARGETS` (``height_cm``, ``bust_cm``,
            ``underbust_cm``, ``waist_cm``, ``high_hip_cm``, ``hips_cm``).
        gender: fixes Anny's gender ("female", "male", 0..1); None lets the fit choose.
        age: fixes the age, years; None keeps an adult age (25 years) fixed.
        tolerance_cm: stop when every residual is below this.
        rounds: landmark re-detections at most; steps_per_round: Adam steps between them.
        prior: weight pulling the free parameters towards the average (per unit of their range
            squared, against residuals in cm^2).
        start: (S,) or (6,) shape to start from (e.g. the result of a fit with plain Anny when
            ``model`` is ``anny-detailed``); None: the average adult.

    ``model`` may be ``bodies.create("anny-detailed")``: its bust, under-bust, waist and hip
    girth modifiers are free too, which reaches combinations the six phenotype values cannot.

    Returns:
        :class:`MeasuredBody` with the residuals (result - target, cm) and ``converged``.

    Raises:
        InputError: unknown target names, or values far outside human ranges.
    """
    _need_anny(model)
    targets = {str(k): float(v) for k, v in targets.items() if v is not None}
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        raise InputError(f"cannot match {', '.join(unknown)} yet", hint=f"give some of: {', '.join(TARGETS)}")
    if not targets:
        raise InputError("no measurements given", hint="pass at least --height (cm) and one of --bust, --waist, --hips")
    ranges = {"height_cm": (100.0, 220.0)}
    for k, v in targets.items():
        lo, hi = ranges.get(k, (40.0, 200.0))
        if not lo <= v <= hi:
            raise InputError(f"{k[:-3]} {v:g} cm is outside {lo:g}-{hi:g} cm", hint="measurements are in centimetres")
    labels = list(model.shape_labels)
    shape0 = model.default_shape(1).clone() if start is None else torch.as_tensor(
        np.asarray(start, dtype=np.float32)[None][:, : len(labels)]).clone()
    if shape0.shape[1] < len(labels):  # a 6-value start for a model with extra dimensions
        shape0 = torch.cat([shape0, model.default_shape(1)[:, shape0.shape[1]:]], dim=1)
    if start is None or age is not None:
        shape0[0, labels.index("age")] = age_to_param(25.0 if age is None else age)
    fixed = {labels.index("age")}
    if gender is not None:
        shape0[0, labels.index("gender")] = gender_value(gender)
        fixed.add(labels.index("gender"))
    free = torch.tensor([i not in fixed for i in range(len(labels))])
    lo, hi = (torch.as_tensor(b, dtype=torch.float32).reshape(1, -1) for b in model.shape_bounds())
    centre = model.default_shape(1)
    frac = ((shape0 - lo) / (hi - lo)).clamp(0.02, 0.98)
    logits = torch.log(frac / (1 - frac)).clone().requires_grad_(True)
    base = shape0.clone()

    def current():
        return torch.where(free[None], lo + (hi - lo) * torch.sigmoid(logits), base)

    pose = pose_preset(model, "a-pose")
    faces = model.faces_numpy()
    optim = torch.optim.Adam([logits], lr=0.08)
    steps = 0
    meas = None
    residuals: dict = {}
    for _ in range(int(rounds)):
        with torch.no_grad():
            out = model(current(), pose)
        v0, j0 = out.vertices[0].double().numpy(), out.joints[0].double().numpy()
        tape = tape_measurements(v0, faces, j0)
        meas = tape.to_dict()
        residuals = {k: float(meas[k]) - t for k, t in targets.items() if meas.get(k) is not None}
        if len(residuals) == len(targets) and all(abs(r) < tolerance_cm for r in residuals.values()):
            break
        # freeze the slices: crossing edges and outline order at each landmark
        h0 = float(np.ptp(v0[:, 1]))
        floor0 = float(v0[:, 1].min())
        slicer = _Slicer(v0, faces, j0)
        frozen = {}
        for k in targets:
            mark = TARGETS[k]
            if mark is None:
                continue
            y = tape.landmarks.get(mark)
            if y is None or not np.isfinite(y):
                continue
            edges = _outline_edges(v0, faces, slicer, y)
            if edges is not None:
                frozen[k] = ((y - floor0) / h0, edges)
        for _ in range(int(steps_per_round)):
            verts = model(current(), pose).vertices[0]
            y_min = verts[:, 1].min()
            height = verts[:, 1].max() - y_min
            loss = torch.zeros(())
            for k, t in targets.items():
                if k == "height_cm":
                    m = height * 100.0
                elif k in frozen:
                    rel, (ea, eb) = frozen[k]
                    m = _outline_length(verts, ea, eb, y_min + rel * height) * 100.0
                else:
                    continue
                loss = loss + (m - t).pow(2)
            loss = loss + prior * (((current() - centre) / (hi - lo))[free[None]]).pow(2).sum() * 100.0
            optim.zero_grad()
            loss.backward()
            optim.step()
            steps += 1
    shape = current().detach()
    if meas is None or steps:
        meas = _tape(model, shape)
        residuals = {k: float(meas[k]) - t for k, t in targets.items() if meas.get(k) is not None}
    return MeasuredBody(
        shape=[float(x) for x in shape[0]],
        measurements=meas,
        targets=targets,
        residuals=residuals,
        converged=len(residuals) == len(targets) and all(abs(r) < tolerance_cm for r in residuals.values()),
        steps=steps,
        phenotype={"gender": gender, "age_years": 25.0 if age is None else age},
    )


def _outline_edges(v, faces, slicer: _Slicer, y: float):
    """(ea, eb) int arrays: the mesh edges whose crossings with ``Y = y`` make the convex
    outline of the torso slice, in outline order; None when the torso is not found."""
    f = np.asarray(faces, dtype=np.int64)
    s = v[:, 1] - y
    s = np.where(s == 0.0, 1e-9, s)
    a = f.reshape(-1)
    b = f[:, [1, 2, 0]].reshape(-1)
    cross = (s[a] > 0) != (s[b] > 0)
    ea, eb = np.minimum(a[cross], b[cross]), np.maximum(a[cross], b[cross])
    key = np.unique(ea * len(v) + eb)
    ea, eb = key // len(v), key % len(v)
    t = s[ea] / (s[ea] - s[eb])
    pts = v[ea] + t[:, None] * (v[eb] - v[ea])
    torso = slicer.torso(y)
    if torso is None:
        return None
    # the crossing points that belong to the torso slice
    from scipy.spatial import cKDTree

    d, _ = cKDTree(torso).query(pts)
    sel = d < 1e-9
    if sel.sum() < 3:
        return None
    xz = pts[sel][:, [0, 2]]
    try:
        hull = ConvexHull(xz).vertices
    except Exception:
        return None
    idx = np.flatnonzero(sel)[hull]
    return ea[idx], eb[idx]


def _outline_length(verts: torch.Tensor, ea, eb, y) -> torch.Tensor:
    """Perimeter (metres, differentiable) of the polygon through the crossings of the edges
    (ea, eb) with the plane ``Y = y``, in the given order."""
    va, vb = verts[torch.as_tensor(ea)], verts[torch.as_tensor(eb)]
    t = (y - va[:, 1]) / (vb[:, 1] - va[:, 1])
    p = va + t[:, None] * (vb - va)
    xz = p[:, [0, 2]]
    return (xz - torch.roll(xz, 1, dims=0)).norm(dim=1).sum()


__all__ = [
    "MeasuredBody", "TARGETS", "body_from_measurements", "body_from_phenotype", "age_to_param", "param_to_age",
    "age_anchors", "gender_value",
]
