"""Sizes: grading a pattern from a size chart, and made-to-measure from a twin's measurements.

The size chart (``garments/data/size_chart.json``, editable; or any file of the same shape) gives
body measurements in cm per size, XS to XXL. A pattern is drawn in its ``base_size``; each grade
rule moves one pattern point by ``sum(rate[m] * (target[m] - base[m]))`` cm along x and y, where
``rate`` is cm of point movement per cm of measurement ``m``. Curve control points follow the mean
movement of their edge's two ends. Made-to-measure uses the same rules with a twin's measured
values in place of a size's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.types import PathLikeStr

from .pattern import Edge, Pattern

SIZE_CHART = Path(__file__).resolve().parent / "data" / "size_chart.json"
#: measurements a size chart row holds, cm
MEASUREMENTS = ("chest", "waist", "hips", "height", "shoulder_width", "upper_arm", "thigh")
#: what bodies.measure's joint-to-joint shoulder width reads short of a biacromial breadth, cm
SHOULDER_JOINT_TO_BREADTH_CM = 4.0


def load_size_chart(path: PathLikeStr | None = None) -> dict:
    """``{"order": [...], "sizes": {name: {measurement: cm}}}`` from a size chart file."""
    path = Path(path) if path else SIZE_CHART
    try:
        data = json.loads(path.read_text())
        sizes = {str(k).upper(): {m: float(v[m]) for m in MEASUREMENTS} for k, v in data["sizes"].items()}
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a usable size chart ({exc})",
                         hint=f"each size needs: {', '.join(MEASUREMENTS)} in cm") from None
    order = [s.upper() for s in data.get("order", list(sizes))]
    return {"order": order, "sizes": sizes, "source": str(path)}


def size_names(chart: dict | None = None) -> list[str]:
    """Size names in chart order, e.g. ["XS", "S", "M", "L", "XL", "XXL"]."""
    return list((chart or load_size_chart())["order"])


def size_measurements(size: str, chart: dict | None = None) -> dict:
    """Body measurements (cm) of a size; InputError for an unknown size."""
    chart = chart or load_size_chart()
    key = str(size).upper()
    if key not in chart["sizes"]:
        raise InputError(f"unknown size {size!r}", hint=f"choose one of: {', '.join(chart['order'])}, or 'mtm' with a twin")
    return dict(chart["sizes"][key])


def grade(pattern: Pattern, target: str | dict, chart: dict | None = None) -> Pattern:
    """The pattern graded to a size name or to body measurements.

    Args:
        pattern: a pattern in its base size.
        target: a size name of the chart ("XS".."XXL"), or a dict of body measurements in cm
            (missing keys keep the base size's values): made-to-measure.
        chart: a size chart (:func:`load_size_chart`), default the package's.

    Returns:
        A new :class:`Pattern` with moved points; ``size`` is the size name or "mtm".
    """
    chart = chart or load_size_chart()
    base = size_measurements(pattern.base_size, chart)
    if isinstance(target, str):
        want = size_measurements(target, chart)
        label = target.upper()
    else:
        unknown = set(target) - set(MEASUREMENTS)
        if unknown:
            raise InputError(f"unknown measurements {sorted(unknown)}", hint=f"use: {', '.join(MEASUREMENTS)}")
        want = {**base, **{k: float(v) for k, v in target.items()}}
        label = "mtm"
    delta = {m: want[m] - base[m] for m in MEASUREMENTS}
    out = pattern.copy()
    out.size = label
    moves: dict = {}
    for key, rule in pattern.grade.items():
        pn, _, pt = key.partition(".")
        dx = sum(float(r) * delta.get(m, 0.0) for m, r in rule.get("x", {}).items())
        dy = sum(float(r) * delta.get(m, 0.0) for m, r in rule.get("y", {}).items())
        moves[(pn, pt)] = np.array([dx, dy])
    for pn, panel in out.panels.items():
        for pt in list(panel.points):
            d = moves.get((pn, pt))
            if d is not None:
                panel.points[pt] = tuple(float(c) for c in np.asarray(panel.points[pt]) + d)
        edges = []
        for e in panel.edges:
            if e.control is not None:
                d = 0.5 * (moves.get((pn, e.start), np.zeros(2)) + moves.get((pn, e.end), np.zeros(2)))
                e = Edge(e.name, e.start, e.end, tuple(float(c) for c in np.asarray(e.control) + d))
            edges.append(e)
        panel.edges = edges
    return out.validate()


def mtm_measurements(measurements) -> dict:
    """Size-chart measurements (cm) from a body's :class:`bodies.measure.Measurements` (or its dict)."""
    m = measurements.to_dict() if hasattr(measurements, "to_dict") else dict(measurements)
    out = {
        "chest": m["chest_cm"], "waist": m["waist_cm"], "hips": m["hips_cm"], "height": m["height_cm"],
        "shoulder_width": m["shoulder_width_cm"] + SHOULDER_JOINT_TO_BREADTH_CM,
    }
    if m.get("upper_arm_cm"):
        out["upper_arm"] = m["upper_arm_cm"]
    if m.get("thigh_cm"):
        out["thigh"] = m["thigh_cm"]
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def nearest_size(measurements: dict, chart: dict | None = None) -> str:
    """The chart size closest to body measurements (cm; chest, waist and hips weigh most)."""
    chart = chart or load_size_chart()
    w = {"chest": 1.0, "waist": 1.0, "hips": 1.0, "height": 0.3}

    def cost(s):
        row = chart["sizes"][s]
        return sum(w[k] * (row[k] - measurements[k]) ** 2 for k in w if k in measurements)

    return min(chart["order"], key=cost)


__all__ = ["SIZE_CHART", "MEASUREMENTS", "load_size_chart", "size_names", "size_measurements", "grade",
           "mtm_measurements", "nearest_size"]
