"""Quality gate of a fit: per body part, how far the scan is from the body and how much of the
body the scan covers; a fit with a part over the limits is *poor*.

Two numbers per part (:mod:`bodies.parts`: the part of the named joint that carries each vertex):

- ``p95_mm``: the 95th percentile of the distances from the scan points whose closest body point
  lies on the part to the body's surface (the measured points of the fit report). A limb the fit
  left 20 cm from its scan leaves those points far from the body: the part they land on (often
  the limb itself, or the torso it lies against) goes over the limit.
- ``uncovered``: the share of the part's surface (vertex areas) with no scan point within
  ``coverage_mm``. A limb the scan does not show (cut away, a hole over a hand), or a limb the
  fit put where the scan has nothing, goes over the limit.

A part is poor when either number is over its limit (:class:`QualityLimits`); a part with fewer
than ``min_points`` scan points has no p95 (its coverage still counts). The limits and how they
were chosen are in docs/measurements.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial import cKDTree

from engine.errors import AtelierError
from engine.geometry import vertex_areas

from .parts import BodyParts


@dataclass(frozen=True)
class QualityLimits:
    """Limits of the quality gate (see docs/measurements.md for the measurements behind them)."""

    p95_mm: float = 15.0
    """a part whose scan points' p95 distance to the body is over this (mm) is poor. Good fits of
    synthetic scans with 2 mm noise measured 3-7 mm on every part (the true body: at most 4.7 mm);
    a forearm left 20 cm away measured 40-270 mm, a body fitted back to front 20-60 mm on most
    parts."""
    uncovered: float = 0.5
    """a part with more than this share of its surface without a scan point within
    ``coverage_mm`` is poor: the scan does not show most of it (cut away, hidden, a large hole).
    A whole synthetic scan leaves under 5 % of every part uncovered; on 15 synthetic scans with
    4-6 holes of 4-10 cm radius the true body's most uncovered part was 9-68 % (median 28 %; 2
    scans over 0.5, each a forearm inside a hole); an arm cut off the scan leaves 60-100 % of
    its hand uncovered. A part that is there but misplaced is caught by ``p95_mm``."""
    coverage_mm: float = 20.0
    """distance (mm) within which a scan point covers the body's surface."""
    min_points: int = 30
    """a part with fewer scan points than this has no p95 (coverage alone judges it)."""


class PoorFitError(AtelierError):
    """A fit was written but its quality gate marked body parts poor (``atelier fit`` without
    ``--accept-poor``)."""

    exit_code = 4


def part_quality(
    vertices: np.ndarray,
    faces: np.ndarray,
    parts: BodyParts,
    points: np.ndarray,
    distance_mm: np.ndarray,
    face_index: np.ndarray,
    bary: np.ndarray,
    scan_tree: cKDTree | None = None,
    all_points: np.ndarray | None = None,
    limits: QualityLimits | None = None,
) -> dict:
    """Per-part scan -> body p95 and body -> scan coverage, and the verdict.

    Args:
        vertices: (V, 3) float, metres, the fitted body; faces: (F, 3) int.
        parts: :func:`bodies.parts.body_parts` of the model.
        points: (N, 3) the measured scan points; distance_mm: (N,) their distances to the body
            surface; face_index, bary: (N,), (N, 3) their closest surface points
            (:func:`bodies.fit.point_surface_distance`).
        scan_tree: k-d tree of every scan point (coverage is measured against all of them);
            built from ``all_points`` (or ``points``) when not given.
        limits: :class:`QualityLimits`.

    Returns:
        ``{"poor": bool, "poor_parts": [names], "messages": [str], "limits": {...},
        "parts": {name: {"points", "p95_mm", "uncovered", "poor", "why"}}}`` (JSON-ready).
    """
    lim = limits or QualityLimits()
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if scan_tree is None:
        scan_tree = cKDTree(np.asarray(points if all_points is None else all_points, dtype=np.float64))
    # the scan points' parts: the part of the closest body point's nearest corner
    corner = f[np.asarray(face_index, dtype=np.int64), np.argmax(np.asarray(bary), axis=1)]
    point_part = parts.label[corner]
    area = vertex_areas(v, f)
    used = area > 0
    d_body = scan_tree.query(v[used], distance_upper_bound=lim.coverage_mm / 1000.0)[0]
    covered = np.zeros(len(v), dtype=bool)
    covered[np.flatnonzero(used)] = np.isfinite(d_body)
    out_parts = {}
    messages = []
    poor_parts = []
    for j, name in enumerate(parts.names):
        d = np.asarray(distance_mm)[point_part == j]
        mine = (parts.label == j) & used
        a = area[mine]
        uncovered = float(a[~covered[mine]].sum() / a.sum()) if a.sum() > 0 else 1.0
        p95 = float(np.percentile(d, 95)) if len(d) >= lim.min_points else None
        why = []
        if uncovered > lim.uncovered:
            why.append(f"{100 * uncovered:.0f} % of its surface has no scan within {lim.coverage_mm:g} mm")
        if p95 is not None and p95 > lim.p95_mm:
            why.append(f"95 % of its scan points are within {p95:.0f} mm of the body (limit {lim.p95_mm:g} mm)")
        out_parts[name] = {
            "points": int(len(d)),
            "p95_mm": None if p95 is None else round(p95, 2),
            "uncovered": round(uncovered, 4),
            "poor": bool(why),
            "why": why,
        }
        if why:
            poor_parts.append(name)
            messages.append(f"{name}: " + "; ".join(why))
    return {
        "poor": bool(poor_parts),
        "poor_parts": poor_parts,
        "messages": messages,
        "limits": asdict(lim),
        "parts": out_parts,
    }


__all__ = ["QualityLimits", "PoorFitError", "part_quality"]
