"""Fit numbers: per-vertex strain against the flat pattern, per-region ease and a verdict.

Strain: each cloth triangle's deformation gradient ``F`` (3 x 2) maps its flat pattern shape to
its draped shape; warp strain is ``|F g| - 1`` along the panel's grain ``g`` and weft strain
``|F g_perp| - 1`` across it (in %, positive = stretched). A vertex takes the area-weighted mean
of its triangles (:func:`strain`). The map (:func:`strain_field`) is measured on the drape's mean
shape over the settle window and smoothed over the flat pattern (:func:`smooth`), hems, seam
allowances and turned-up cloth (:func:`edge_band`) giving no strain of their own.

Regions (bust, waist, hips, shoulders, upper arm, thigh) select cloth vertices near the body
landmarks (:func:`region_masks`). Their ease is the garment's tape girth minus the body's, both
cut by the same plane (:func:`sliced_ease`; where no tape slice goes round, ``2 pi x mean gap``),
their band strain the area-weighted median of the map over their cloth, their girth strain the
stretch of the cloth cut by their tape planes (:func:`girth_strain`), their pattern ease the flat
pattern's width at the tape's line minus the body girth (:func:`pattern_width`), and their verdict
follows :func:`judge` with the values of ``garments/data/fit_thresholds.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodies.measure import Measurements
from bodies.model import NAMED_JOINTS

THRESHOLDS = Path(__file__).resolve().parent / "data" / "fit_thresholds.json"
REGIONS = ("bust", "waist", "hips", "shoulders", "upper_arm", "thigh")
_J = {name: i for i, name in enumerate(NAMED_JOINTS)}


def face_strain(flat: np.ndarray, draped: np.ndarray, faces: np.ndarray, grain: np.ndarray):
    """Per-triangle warp and weft strain and flat area.

    Args:
        flat: (V, 2) float flat pattern coordinates, metres.
        draped: (V, 3) float draped positions, metres.
        faces: (F, 3) int triangles.
        grain: (V, 2) or (2,) unit warp direction in the flat frame.

    Returns:
        (warp (F,) float64 fraction, weft (F,) float64 fraction, flat area (F,) float64 m^2, 0 for
        slivers, whose strain is left 0).
    """
    flat = np.asarray(flat, np.float64)
    x = np.asarray(draped, np.float64)
    f = np.asarray(faces, np.int64)
    g = np.broadcast_to(np.asarray(grain, np.float64), (len(flat), 2))
    d1 = flat[f[:, 1]] - flat[f[:, 0]]
    d2 = flat[f[:, 2]] - flat[f[:, 0]]
    D = np.stack([d1, d2], axis=2)  # (F, 2, 2) columns
    det = D[:, 0, 0] * D[:, 1, 1] - D[:, 0, 1] * D[:, 1, 0]
    ok = np.abs(det) > max(1e-14, 0.02 * float(np.median(np.abs(det)))) if len(f) else np.zeros(0, bool)
    Dinv = np.zeros_like(D)
    Dinv[ok] = np.linalg.inv(D[ok])
    E = np.stack([x[f[:, 1]] - x[f[:, 0]], x[f[:, 2]] - x[f[:, 0]]], axis=2)  # (F, 3, 2)
    F = E @ Dinv  # (F, 3, 2)
    gf = g[f].mean(1)
    gf = gf / np.maximum(np.linalg.norm(gf, axis=1, keepdims=True), 1e-12)
    gp = np.stack([-gf[:, 1], gf[:, 0]], 1)
    warp = np.where(ok, np.linalg.norm(np.einsum("fij,fj->fi", F, gf), axis=1) - 1.0, 0.0)
    weft = np.where(ok, np.linalg.norm(np.einsum("fij,fj->fi", F, gp), axis=1) - 1.0, 0.0)
    return warp, weft, 0.5 * np.abs(det) * ok


def _to_vertices(face_values: np.ndarray, faces: np.ndarray, area: np.ndarray, n: int) -> np.ndarray:
    """Area-weighted mean of face values at each of ``n`` vertices (0 for vertices in no triangle)."""
    num = np.zeros(n)
    den = np.zeros(n)
    for k in range(3):
        np.add.at(num, faces[:, k], face_values * area)
        np.add.at(den, faces[:, k], area)
    return num / np.maximum(den, 1e-20)


def strain(flat: np.ndarray, draped: np.ndarray, faces: np.ndarray, grain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex warp and weft strain, %, unsmoothed (see :func:`strain_field` for the map).

    Args:
        flat: (V, 2) float flat pattern coordinates, metres.
        draped: (V, 3) float draped positions, metres.
        faces: (F, 3) int triangles.
        grain: (V, 2) or (2,) unit warp direction in the flat frame.

    Returns:
        (warp (V,) float32 %, weft (V,) float32 %); vertices in no triangle get 0.
    """
    f = np.asarray(faces, np.int64)
    warp, weft, area = face_strain(flat, draped, f, grain)
    n = len(flat)
    return tuple((100.0 * _to_vertices(s, f, area, n)).astype(np.float32) for s in (warp, weft))


def _pieces(flat: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 2) flat coordinates with each connected piece of cloth (a panel) moved 100 m apart in
    x, so distances in the flat frame never mix panels (each panel has its own frame)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(flat)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, label = connected_components(coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)), directed=False)
    out = np.array(flat, np.float64)
    out[:, 0] += 100.0 * label
    return out


def edge_band(flat: np.ndarray, faces: np.ndarray, width_m: float) -> np.ndarray:
    """(V,) bool: the cloth within ``width_m`` of its panel's outline in the flat pattern: hems,
    necklines and the seam allowances along every sewn edge. The outline is where the mesh has
    edges used by one triangle only (panels are separate pieces of mesh, joined by sewing springs).

    Args:
        flat: (V, 2) float flat pattern coordinates, metres; faces: (F, 3) int; width_m: metres.
    """
    from scipy.spatial import cKDTree

    f = np.asarray(faces, np.int64)
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    uniq, count = np.unique(e, axis=0, return_counts=True)
    rim = np.unique(uniq[count == 1].ravel())
    out = np.zeros(len(flat), bool)
    if not len(rim):
        return out
    p = _pieces(flat, f)
    d, _ = cKDTree(p[rim]).query(p, distance_upper_bound=max(float(width_m), 0.0) + 1e-9)
    out[np.isfinite(d)] = True
    out[rim] = True
    return out


def smooth(values: np.ndarray, flat: np.ndarray, faces: np.ndarray, sigma_m: float,
           source: np.ndarray | None = None) -> np.ndarray:
    """Gaussian smoothing of a per-vertex field over the flat pattern, panel by panel.

    Each vertex takes the mean of the ``source`` vertices of its own panel within 3 sigma in the
    flat frame, weighted by their share of cloth area times ``exp(-d^2 / 2 sigma^2)``. Vertices left
    out of ``source`` (hems, seam allowances, turned-up cloth) still get the smoothed value of the
    cloth next to them but give none; a vertex with no source within reach keeps its own value.

    Args:
        values: (V,) float; flat: (V, 2) metres; faces: (F, 3) int; sigma_m: metres (<= 0: no
            smoothing); source: (V,) bool or None (all).

    Returns:
        (V,) float64.
    """
    from scipy.spatial import cKDTree

    v = np.asarray(values, np.float64)
    if sigma_m <= 0 or not len(v):
        return v.copy()
    f = np.asarray(faces, np.int64)
    fl = np.asarray(flat, np.float64)
    t = fl[f]
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    va = np.zeros(len(v))
    for k in range(3):
        np.add.at(va, f[:, k], area / 3.0)
    src = np.ones(len(v), bool) if source is None else np.asarray(source, bool)
    w_src = va * src
    p = _pieces(fl, f)
    tree = cKDTree(p)
    pairs = tree.query_pairs(3.0 * sigma_m, output_type="ndarray")
    i, j = np.concatenate([pairs[:, 0], pairs[:, 1]]), np.concatenate([pairs[:, 1], pairs[:, 0]])
    w = np.exp(-np.sum((p[i] - p[j]) ** 2, axis=1) / (2.0 * sigma_m**2)) * w_src[j]
    num = w_src * v
    den = w_src.copy()
    np.add.at(num, i, w * v[j])
    np.add.at(den, i, w)
    return np.where(den > 0, num / np.maximum(den, 1e-30), v)


@dataclass
class StrainField:
    """The strain of a draped pattern, per vertex, as the maps and the region table use it.

    Attributes:
        warp, weft: (V,) float32 %, smoothed over the flat pattern (:func:`smooth`).
        strain: (V,) float32 %, the larger of the smoothed warp and weft (the strain map).
        raw_warp, raw_weft: (V,) float32 %, unsmoothed (:func:`strain`).
        edge: (V,) bool, hems, seam allowances and turned-up cloth (:func:`edge_band`), left out of
            the smoothing's sources and of the regions' strain.
        sigma_m: the smoothing's sigma, metres.
    """

    warp: np.ndarray
    weft: np.ndarray
    strain: np.ndarray
    raw_warp: np.ndarray
    raw_weft: np.ndarray
    edge: np.ndarray
    sigma_m: float


def map_sigma_m(thresholds: dict | None = None, edge_m: float = 0.0) -> float:
    """The strain map's smoothing sigma (m): ``strain_map_sigma_mm`` of the thresholds file, and at
    least one cloth edge (a coarse mesh has fewer vertices to average)."""
    th = thresholds or load_thresholds()
    return max(float(th.get("strain_map_sigma_mm", 20.0)) / 1000.0, float(edge_m))


def strain_field(flat, draped, faces, grain, thresholds: dict | None = None, edge_m: float | None = None,
                 exclude: np.ndarray | None = None) -> StrainField:
    """Warp/weft strain of a drape, smoothed into a map that reads in real pulls.

    Args:
        flat: (V, 2) metres; draped: (V, 3) metres, best the mean over the settle window (a
            single frame of a cloth buzzing against the body reads its buzz as strain);
            faces: (F, 3); grain: (V, 2) or (2,).
        thresholds: the thresholds file (``strain_map_sigma_mm``, ``edge_band_mm``).
        edge_m: the cloth's edge length, metres (default: the median flat edge).
        exclude: (V,) bool, more cloth to treat like a hem (turned-up sleeves and legs).
    """
    th = thresholds or load_thresholds()
    f = np.asarray(faces, np.int64)
    fl = np.asarray(flat, np.float64)
    if edge_m is None:
        edge_m = float(np.median(np.linalg.norm(fl[f[:, 1]] - fl[f[:, 0]], axis=1))) if len(f) else 0.0
    raw_warp, raw_weft = strain(fl, draped, f, grain)
    edge = edge_band(fl, f, float(th.get("edge_band_mm", 15.0)) / 1000.0)
    if exclude is not None:
        edge |= np.asarray(exclude, bool)
    sigma = map_sigma_m(th, edge_m)
    warp = smooth(raw_warp, fl, f, sigma, source=~edge).astype(np.float32)
    weft = smooth(raw_weft, fl, f, sigma, source=~edge).astype(np.float32)
    return StrainField(warp, weft, np.maximum(warp, weft), raw_warp, raw_weft, edge, sigma)


def _cut_segments(flat, draped, faces, origin, normal, max_radius: float, face_mask=None):
    """The segments a plane cuts from a triangle mesh: (face indices (K,) into ``faces``, draped
    ends (K, 2, 3), flat ends (K, 2, 2)), leaving out segments further than ``max_radius`` from
    ``origin`` and triangles outside ``face_mask``."""
    f = np.asarray(faces, np.int64)
    idx = np.arange(len(f)) if face_mask is None else np.nonzero(np.asarray(face_mask, bool))[0]
    f = f[idx]
    x = np.asarray(draped, np.float64)
    fl = np.zeros((len(x), 2)) if flat is None else np.asarray(flat, np.float64)
    n = np.asarray(normal, np.float64)
    n = n / max(np.linalg.norm(n), 1e-12)
    o = np.asarray(origin, np.float64)
    d = (x - o) @ n
    d = np.where(d == 0.0, 1e-12, d)
    dd = d[f]
    ends_x, ends_f, count = np.zeros((len(f), 2, x.shape[1])), np.zeros((len(f), 2, 2)), np.zeros(len(f), int)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        cross = dd[:, a] * dd[:, b] < 0
        t = np.where(cross, dd[:, a] / np.where(cross, dd[:, a] - dd[:, b], 1.0), 0.0)
        slot = np.minimum(count, 1)
        rows = np.nonzero(cross)[0]
        va, vb = f[rows, a], f[rows, b]
        ends_x[rows, slot[rows]] = x[va] + t[rows, None] * (x[vb] - x[va])
        ends_f[rows, slot[rows]] = fl[va] + t[rows, None] * (fl[vb] - fl[va])
        count += cross
    keep = count == 2
    keep &= np.all(np.linalg.norm(ends_x - o, axis=2) <= max_radius, axis=1)
    return idx[keep], ends_x[keep], ends_f[keep]


def cut_lengths(flat, draped, faces, origin, normal, max_radius: float, face_mask=None) -> tuple[float, float]:
    """Length of a plane's cut through the draped cloth and of the same cut in the flat pattern.

    Every triangle the plane crosses gives a segment between its two crossed edges; the flat
    segment joins the same points of the flat pattern. Segments further than ``max_radius`` from
    ``origin`` (or of triangles outside ``face_mask``) are left out. The ratio of the two is the
    stretch a tape laid round the garment on that line would see, whether or not the cut is one
    closed loop (seams are where panels meet, not triangles).

    Args:
        flat: (V, 2) or None (the flat length is then 0); draped: (V, 3), metres; faces: (F, 3);
            origin, normal: (3,); max_radius: m; face_mask: (F,) bool or None.

    Returns:
        (draped length m, flat length m); (0, 0) when the plane misses.
    """
    _, ex, ef = _cut_segments(flat, draped, faces, origin, normal, max_radius, face_mask)
    if not len(ex):
        return 0.0, 0.0
    return (float(np.linalg.norm(ex[:, 1] - ex[:, 0], axis=1).sum()),
            float(np.linalg.norm(ef[:, 1] - ef[:, 0], axis=1).sum()))


def pattern_width(flat, draped, faces, origin, normal, max_radius: float, face_mask=None, grain=None) -> float:
    """The flat pattern's width at the line a plane cuts through the draped garment, metres: for
    each panel the plane crosses, the length of the panel cut straight across its grain (``grain``
    (V, 2) or (2,), default the flat y axis) at the median grain position of the plane's cut, summed
    over panels (front plus back at the bust line, a sleeve's width at mid upper arm). 0 when the
    plane misses. Set against the body's girth, it is the ease the pattern was drafted with there."""
    f = np.asarray(faces, np.int64)
    fl = np.asarray(flat, np.float64)
    g = np.broadcast_to(np.asarray((0.0, 1.0) if grain is None else grain, np.float64), (len(fl), 2))
    rows, _, ef = _cut_segments(fl, draped, f, origin, normal, max_radius, face_mask)
    if not len(rows):
        return 0.0
    label = np.floor(_pieces(fl, f)[:, 0] / 100.0 + 0.5).astype(np.int64)
    face_label = label[f[:, 0]]
    total = 0.0
    for lab in np.unique(face_label[rows]):
        mine = face_label[rows] == lab
        gv = g[f[rows[mine], 0]].mean(0)
        gv = gv / max(np.linalg.norm(gv), 1e-12)
        at = float(np.median(ef[mine].reshape(-1, 2) @ gv))
        flat3 = np.c_[fl, np.zeros(len(fl))]
        o3 = np.r_[gv * at, 0.0]
        n3 = np.r_[gv, 0.0]
        total += cut_lengths(None, flat3, f, o3, n3, 1e9, face_mask=face_label == lab)[0]
    return total


def limb_side_faces(draped, faces, joints, region: str, origin) -> np.ndarray:
    """(F,) bool: the triangles of the limb a tape plane at ``origin`` goes round (upper arm or
    thigh): those whose vertices are all nearer that side's bone (shoulder-elbow, hip-knee) than
    the other side's. A plane across one thigh also cuts the other leg's panels a few cm away."""
    a, b = {"upper_arm": ("shoulder", "elbow"), "thigh": ("hip", "knee")}[region]
    j = np.asarray(joints, np.float64)
    p = np.asarray(draped, np.float64)
    o = np.asarray(origin, np.float64)
    d = {}
    for side in ("left", "right"):
        pa, pb = j[_J[f"{side}_{a}"]], j[_J[f"{side}_{b}"]]
        d[side] = _segment_distance(p, pa, pb)
    own = min(("left", "right"), key=lambda s: float(_segment_distance(o[None], j[_J[f"{s}_{a}"]], j[_J[f"{s}_{b}"]])[0]))
    other = "right" if own == "left" else "left"
    near = d[own] < d[other]
    return near[np.asarray(faces, np.int64)].all(1)


def _segment_distance(p, a, b) -> np.ndarray:
    ab = b - a
    t = np.clip((p - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


#: size-chart measurement behind each region's girth (the chart's ``upper_arm`` and ``thigh`` are
#: girths at mid upper arm and just below the crotch)
CHART_GIRTH = {"bust": "chest", "waist": "waist", "hips": "hips", "upper_arm": "upper_arm", "thigh": "thigh"}


def chart_girths_mm(size, chart: dict | None = None) -> dict:
    """Region -> the size chart's body girth of ``size`` (mm), for :func:`fit_table`'s intended
    ease; {} for a made-to-measure target (a dict) or None."""
    if not isinstance(size, str):
        return {}
    from .sizes import size_measurements

    row = size_measurements(size, chart)
    return {r: 10.0 * float(row[k]) for r, k in CHART_GIRTH.items() if k in row}


def load_thresholds(path=None) -> dict:
    """The verdict thresholds file as a dict (see ``garments/data/fit_thresholds.json``)."""
    return json.loads(Path(path or THRESHOLDS).read_text())


def _region_thresholds(region: str, th: dict) -> dict:
    return {**th["default"], **th.get("regions", {}).get(region, {})}


def tight_strain(region: str, thresholds: dict | None = None, fabric_stretch_pct: float | None = None) -> float:
    """Strain (%) above which a region is tight: the region's ``tight_strain_pct``, or for a fabric
    that stretches (a knit) ``stretch_share`` of its stretch when that is more (a jersey of 30 %
    stretch worn 10 % stretched is a close fit, not a tight one; a poplin 10 % stretched is tight)."""
    th = thresholds or load_thresholds()
    limit = float(_region_thresholds(region, th)["tight_strain_pct"])
    if fabric_stretch_pct is not None:
        limit = max(limit, float(th.get("stretch_share", 0.0)) * float(fabric_stretch_pct))
    return limit


def judge(region: str, ease_mm: float, strain_pct: float | None, thresholds: dict | None = None,
          fabric_stretch_pct: float | None = None, girth_strain_pct: float | None = None) -> tuple[str, str, str]:
    """A region's verdict, the number that decided it and one sentence saying so.

    The rule (also in docs/fitcheck.md and ``garments/data/fit_thresholds.json``):

    1. ease under ``tight_below_mm``: tight (decided by ease);
    2. strain over the limit (:func:`tight_strain`): tight (decided by strain) when the ease is
       under ``clear_ease_mm``, or when the stretch is also sustained round the girth
       (``girth_strain_pct``, the tape's own stretch, over the limit; None: not measured, taken as
       sustained). ``strain_pct`` is the region's band strain, the median over its cloth, so a
       strain over the limit is broad by construction. Clearly positive ease with a stretch that
       does not go round the girth is not tight: the reason says so;
    3. otherwise by ease: fitted under ``fitted_below_mm``, relaxed under ``relaxed_below_mm``,
       else loose.

    Returns:
        (verdict, decided_by ("ease" or "strain"), reason).
    """
    th = thresholds or load_thresholds()
    t = _region_thresholds(region, th)
    limit = tight_strain(region, th, fabric_stretch_pct)
    clear = float(t.get("clear_ease_mm", t["fitted_below_mm"]))
    if ease_mm < t["tight_below_mm"]:
        return "tight", "ease", f"ease {ease_mm:.0f} mm < {t['tight_below_mm']:g} mm"
    note = ""
    if strain_pct is not None and strain_pct > limit:
        sustained = girth_strain_pct is None or girth_strain_pct > limit
        if ease_mm < clear or sustained:
            why = f"strain {strain_pct:.1f} % > {limit:g} %"
            if girth_strain_pct is not None:
                why += f" (round the girth {girth_strain_pct:.1f} %)"
            return "tight", "strain", why + (f" with ease {ease_mm:.0f} mm < {clear:g} mm" if ease_mm < clear else "")
        note = (f"; strain {strain_pct:.1f} % > {limit:g} % but only {girth_strain_pct:.1f} % round the girth, "
                f"with {ease_mm:.0f} mm ease")
    for name, key in (("fitted", "fitted_below_mm"), ("relaxed", "relaxed_below_mm")):
        if ease_mm < t[key]:
            return name, "ease", f"ease {ease_mm:.0f} mm < {t[key]:g} mm" + note
    return "loose", "ease", f"ease {ease_mm:.0f} mm >= {t['relaxed_below_mm']:g} mm" + note


def verdict(region: str, ease_mm: float, max_strain_pct: float | None, thresholds: dict | None = None,
            fabric_stretch_pct: float | None = None, girth_strain_pct: float | None = None) -> str:
    """"tight", "fitted", "relaxed" or "loose" for a region's ease (mm) and strain (%), by the rule
    of :func:`judge`; ``fabric_stretch_pct``: the fabric's stretch (see :func:`tight_strain`)."""
    return judge(region, ease_mm, max_strain_pct, thresholds, fabric_stretch_pct, girth_strain_pct)[0]


def _near_segment(p, a, b, radius):
    ab = b - a
    t = np.clip((p - a) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1) < radius, t


def region_masks(draped: np.ndarray, joints: np.ndarray, m: Measurements, band: float = 0.025,
                 arm_vertices: np.ndarray | None = None) -> dict:
    """Cloth vertices of each body region: name -> (V,) bool.

    bust/waist/hips: within ``band`` m of the landmark height and within 0.3 m of the body's
    vertical axis (not on a sleeve); shoulders: between the armpit and the shoulder joints' height
    + 8 cm, within 12 cm of a shoulder joint; upper arm: around the middle third of a shoulder-elbow
    segment; thigh: around the upper third of a hip-knee segment, under the crotch.
    ``arm_vertices``: (V,) bool, the vertices of the garment's sleeves when known: the upper arm is
    then on the sleeves only (not the side of the bodice under the arm; none for a sleeveless
    garment) and bust, waist and hips leave the sleeves out.
    """
    p = np.asarray(draped, np.float64)
    j = np.asarray(joints, np.float64)
    mid_x = j[[_J["left_hip"], _J["right_hip"]], 0].mean()
    mid_z = j[_J["spine"], 2]
    horiz = np.hypot(p[:, 0] - mid_x, p[:, 2] - mid_z)
    arms = np.zeros(len(p), bool)
    for s in ("left", "right"):
        near, _ = _near_segment(p, j[_J[f"{s}_shoulder"]], j[_J[f"{s}_wrist"]], 0.09)
        arms |= near & (np.abs(p[:, 0] - mid_x) > np.abs(j[_J[f"{s}_shoulder"], 0] - mid_x))
    out = {}
    for name, y in (("bust", m.chest_height_m), ("waist", m.waist_height_m), ("hips", m.hips_height_m)):
        out[name] = (np.abs(p[:, 1] - y) < band) & (horiz < 0.3) & ~arms
    sh = np.zeros(len(p), bool)
    for s in ("left", "right"):
        js = j[_J[f"{s}_shoulder"]]
        sh |= (np.linalg.norm(p - js, axis=1) < 0.12) & (p[:, 1] > m.armpit_height_m)
    out["shoulders"] = sh
    ua = np.zeros(len(p), bool)
    th = np.zeros(len(p), bool)
    for s in ("left", "right"):
        near, t = _near_segment(p, j[_J[f"{s}_shoulder"]], j[_J[f"{s}_elbow"]], 0.10)
        ua |= near & (t > 0.33) & (t < 0.67)
        near, t = _near_segment(p, j[_J[f"{s}_hip"]], j[_J[f"{s}_knee"]], 0.14)
        th |= near & (t > 0.15) & (t < 0.45) & (p[:, 1] < m.crotch_height_m)
    if arm_vertices is not None:
        sleeve = np.asarray(arm_vertices, bool)
        ua &= sleeve
        for name in ("bust", "waist", "hips"):
            out[name] &= ~sleeve
    out["upper_arm"] = ua
    out["thigh"] = th
    return out


@dataclass
class RegionFit:
    """Fit of one body region.

    Attributes:
        region: region name (:data:`REGIONS`).
        vertices: cloth vertices in the region.
        mean_gap_mm: mean cloth-to-body clearance of those vertices, mm.
        ease_mm: garment girth minus body girth, mm (``ease_method`` says how it was found).
        max_strain_pct: the region's peak strain: 98th percentile of the smoothed strain of its
            cloth away from hems and seam allowances, %.
        verdict: "tight", "fitted", "relaxed" or "loose" (:func:`judge`).
        ease_method: "slice" (tape girths of the garment and the body cut by the same plane) or
            "gap" (2 pi x mean gap, where the garment does not go round the region).
        garment_girth_mm, body_girth_mm: the two girths for "slice", else None.
        strain_pct: the band strain: area-weighted median of the smoothed strain of the region's
            cloth away from hems, seam allowances and turned-up cloth, %.
        broad_pct: share of that cloth's area stretched past the strain limit, %.
        girth_strain_pct: the stretch round the girth: draped over flat length of the cloth cut by
            the region's tape planes (median over planes across the band), %; None without a
            flat pattern or tape plane.
        strain_limit_pct: the strain over which the region counts as stretched (:func:`tight_strain`).
        decided_by: "ease" or "strain", the number that gave the verdict; reason: one sentence.
        ease_note: why the ease is not a plain slice at the region's line ("" when it is).
        pattern_ease_mm: the ease the flat pattern gives: its panels' widths across the grain at
            the line the tape plane cuts (:func:`pattern_width`) minus the body girth, at the same
            planes as ``ease_mm``; None without a flat pattern or a slice. Far from ``ease_mm``
            (``pattern_ease_tolerance_mm``): the cloth is stretched or gathered round the girth,
            or hangs in folds the tape bridges (``pattern_ease_differs``).
        pattern_width_mm: that width, mm (the pattern's width minus ``pattern_ease_mm`` is the
            body's girth).
        intended_ease_mm: the ease the graded pattern gives the size chart's own body of its size:
            ``pattern_width_mm`` minus the chart's girth for the region (chest, waist, hips, upper
            arm, thigh); None for a made-to-measure or ungraded pattern. The size rule
            (``size_rule`` in ``fit_thresholds.json``) compares the draped ease with it.
        pattern_ease_differs: ``pattern_ease_mm`` is more than ``pattern_ease_tolerance_mm``
            from ``ease_mm``; None without a pattern ease.
    """

    region: str
    vertices: int
    mean_gap_mm: float
    ease_mm: float
    max_strain_pct: float | None
    verdict: str
    ease_method: str = "gap"
    garment_girth_mm: float | None = None
    body_girth_mm: float | None = None
    strain_pct: float | None = None
    broad_pct: float | None = None
    girth_strain_pct: float | None = None
    strain_limit_pct: float | None = None
    decided_by: str = "ease"
    reason: str = ""
    ease_note: str = ""
    pattern_ease_mm: float | None = None
    pattern_width_mm: float | None = None
    intended_ease_mm: float | None = None
    pattern_ease_differs: bool | None = None


#: tape planes of a band either side of the region's line: torso offsets (m) along the vertical,
#: limb positions along the bone (share of shoulder-elbow or hip-knee), the region's line first
BAND_OFFSETS_M = (0.0, -0.02, 0.02)
LIMB_BAND = {"upper_arm": (0.5, 0.4, 0.6), "thigh": (0.3, 0.2, 0.4)}


def region_planes(joints: np.ndarray, m: Measurements, band: bool = False) -> dict:
    """Region -> list of (origin (3,), unit normal (3,), max_radius m) tape planes, canonical frame,
    metres: horizontal planes at the bust, waist and hip heights through the body's vertical axis,
    and for each side a plane across the bone at mid upper arm and at the upper third of the thigh.
    With ``band``: region -> list over sides (one for the torso) of the planes across the band, the
    region's line first (:data:`BAND_OFFSETS_M`, :data:`LIMB_BAND`)."""
    j = np.asarray(joints, np.float64)
    mid = np.array([j[[_J["left_hip"], _J["right_hip"]], 0].mean(), 0.0, j[_J["spine"], 2]])
    up = np.array([0.0, 1.0, 0.0])
    out = {}
    for name, y in (("bust", m.chest_height_m), ("waist", m.waist_height_m), ("hips", m.hips_height_m)):
        planes = [(mid + up * (y + dy), up, 0.45) for dy in (BAND_OFFSETS_M if band else (0.0,))]
        out[name] = [planes] if band else planes
    for region, (a, b) in (("upper_arm", ("shoulder", "elbow")), ("thigh", ("hip", "knee"))):
        sides = []
        for side in ("left", "right"):
            pa, pb = j[_J[f"{side}_{a}"]], j[_J[f"{side}_{b}"]]
            n = (pb - pa) / max(np.linalg.norm(pb - pa), 1e-9)
            ts = LIMB_BAND[region] if band else LIMB_BAND[region][:1]
            sides.append([(pa + t * (pb - pa), n, 0.2) for t in ts])
        out[region] = sides if band else [s[0] for s in sides]
    return out


def weld_seams(faces, sew) -> np.ndarray:
    """Faces with each seam pair's vertices merged into one (the panels of a sewn pattern are
    separate pieces of mesh joined only by sewing springs; a plane cut through the welded mesh
    goes round the garment in one loop). Degenerate faces are dropped."""
    f = np.asarray(faces, np.int64)
    pairs = np.asarray(sew, np.int64).reshape(-1, 2)
    if not len(pairs):
        return f
    parent = np.arange(int(max(f.max(), pairs.max())) + 1)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    remap = np.array([root(i) for i in range(len(parent))])
    w = remap[f]
    keep = (w[:, 0] != w[:, 1]) & (w[:, 1] != w[:, 2]) & (w[:, 0] != w[:, 2])
    return w[keep]


def tape_girth(vertices, faces, origin, normal, max_radius: float) -> float:
    """Tape length round a garment cut by a plane, metres: the perimeter of the convex hull of every
    point of the cut within ``max_radius`` of ``origin``. A tape goes round the outermost cloth
    whether or not the cut is one closed loop (a plane through an armhole opening cuts a bodice in
    pieces). NaN when the hull does not enclose ``origin``."""
    from scipy.spatial import ConvexHull

    from bodies.measure import _inside, _perimeter, _plane_basis, slice_plane

    n = np.asarray(normal, np.float64)
    n = n / max(np.linalg.norm(n), 1e-12)
    o = np.asarray(origin, np.float64)
    pieces = slice_plane(vertices, faces, o, n)
    if not pieces:
        return float("nan")
    u, w = _plane_basis(n)
    pts = np.concatenate(pieces) - o
    uv = np.stack([pts @ u, pts @ w], axis=1)
    uv = uv[np.linalg.norm(uv, axis=1) <= max_radius]
    if len(uv) < 3:
        return float("nan")
    try:
        hull = uv[ConvexHull(uv).vertices]
    except Exception:  # all points on a line
        return float("nan")
    return _perimeter(hull) if _inside(hull, np.zeros(2)) else float("nan")


def _slices(draped, faces, body_vertices, body_faces, joints, m: Measurements, sew=None, arm_vertices=None):
    """Region -> ([per side: (garment girth m, body girth m, plane)], note) for every region with
    a tape slice on at least one side, and region -> (None, why) for those with none; see
    :func:`sliced_ease`."""
    from bodies.measure import plane_circumference

    faces = np.asarray(faces, np.int64)
    arm = np.asarray(arm_vertices, bool) if arm_vertices is not None else None
    trunk = faces[~arm[faces[:, 0]]] if arm is not None else faces
    sleeves = faces[arm[faces].all(1)] if arm is not None else None
    raw_sleeves = sleeves
    if sew is not None:
        faces, trunk = weld_seams(faces, sew), weld_seams(trunk, sew)
        if sleeves is not None and len(sleeves):
            sleeves = weld_seams(sleeves, sew)
    out = {}
    for region, sides in region_planes(joints, m, band=True).items():
        got, why, notes = [], [], []
        for planes in sides:
            hit = None
            for k, (origin, normal, rmax) in enumerate(planes):
                if region in ("bust", "waist", "hips") and arm is not None:
                    gg = tape_girth(draped, trunk, origin, normal, max_radius=rmax + 0.1)
                elif region == "upper_arm" and sleeves is not None:
                    gg = tape_girth(draped, sleeves, origin, normal, max_radius=rmax + 0.1) if len(sleeves) else float("nan")
                else:
                    gg = plane_circumference(draped, faces, origin, normal, max_radius=rmax + 0.1)
                bb = plane_circumference(body_vertices, body_faces, origin, normal, max_radius=rmax)
                if region == "upper_arm" and raw_sleeves is not None and np.isfinite(gg) and np.isfinite(bb):
                    # a sleeve whose hem crosses the plane: its hull may still just enclose the
                    # bone while the cloth goes only part of the way round
                    if cut_lengths(None, draped, raw_sleeves, origin, normal, rmax + 0.1)[0] < SLICE_MIN_SHARE * bb:
                        gg = float("nan")
                if np.isfinite(gg) and np.isfinite(bb):
                    hit = (gg, bb, (origin, normal, rmax))
                    if k:
                        notes.append(_band_note(region, k) + f" ({why[-1]})")
                    break
                if k == 0:
                    why.append("the garment's cut does not go round the body there" if not np.isfinite(gg)
                               else "the body's cut there runs into the torso")
            if hit is not None:
                got.append(hit)
        if got:
            if len(got) < len(sides):
                notes.append(f"one side only (the other: {why[-1] if why else 'no cut'})")
            out[region] = (got, "; ".join(dict.fromkeys(notes)))
        else:
            out[region] = (None, f"no tape slice: {why[0] if why else 'no cut'} on every plane of the band")
    return out


def sliced_ease(draped, faces, body_vertices, body_faces, joints, m: Measurements, sew=None,
                arm_vertices=None, info: dict | None = None) -> dict:
    """Region -> (garment girth mm, body girth mm) where the garment goes round the region.

    Both girths are tape lengths (convex hull perimeters, :func:`bodies.measure.plane_circumference`)
    of the garment and of the body cut by the same plane (:func:`region_planes`); limbs average the
    two sides. Where the plane at the region's line misses, the band's other planes are tried
    (:data:`BAND_OFFSETS_M`, :data:`LIMB_BAND`). Regions where every cut misses the garment or the
    body are left out. ``sew``: the garment's seam pairs, welded first (:func:`weld_seams`) so a cut
    goes round all its panels. ``arm_vertices``: (V,) bool, the sleeves' vertices. With them, the
    bust, waist and hips tapes leave the sleeves out (a sleeve hanging beside the chest is not part
    of its girth) and go round every cut point of the other panels (:func:`tape_girth`), so a cut
    through an armhole opening still measures the bodice; the upper-arm tape goes round the
    sleeve's own cloth only (a wide sleeve cut near the armhole runs on into the bodice), and only
    where that cloth goes round the arm (a short sleeve's hem crosses the plane at mid upper arm).
    ``info``: a dict that receives region -> one sentence for each region whose ease is not a
    plain slice at its line (another plane of the band, one side only, or why it was left out).
    """
    out = {}
    for region, (got, note) in _slices(draped, faces, body_vertices, body_faces, joints, m, sew, arm_vertices).items():
        if note and info is not None:
            info[region] = note
        if got:
            out[region] = (1000.0 * float(np.mean([g[0] for g in got])), 1000.0 * float(np.mean([g[1] for g in got])))
    return out


#: a sleeve's cut counts as going round the arm when its cloth is at least this share of the arm's girth
SLICE_MIN_SHARE = 0.95


def _band_note(region: str, k: int) -> str:
    if region in LIMB_BAND:
        return f"sliced at {LIMB_BAND[region][k]:.0%} of the bone instead of {LIMB_BAND[region][0]:.0%}"
    dy = 100.0 * BAND_OFFSETS_M[k]
    return f"sliced {abs(dy):.0f} cm {'above' if dy > 0 else 'below'} the region's line"


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    o = np.argsort(x)
    c = np.cumsum(w[o])
    return float(x[o][np.searchsorted(c, 0.5 * c[-1])])


def girth_strain(flat, draped, faces, joints, m: Measurements, arm_vertices=None) -> dict:
    """Region -> stretch round the girth, %: the median over the band's tape planes (both sides for
    limbs) of draped / flat length of the cloth cut by each (:func:`cut_lengths`) minus 1. The
    torso planes cut the panels other than the sleeves, the upper arm's the sleeves (when
    ``arm_vertices`` is given). A plane that cuts less than 10 cm of cloth is left out."""
    f = np.asarray(faces, np.int64)
    arm = np.asarray(arm_vertices, bool)[f].all(1) if arm_vertices is not None else None
    out = {}
    for region, sides in region_planes(joints, m, band=True).items():
        mask = None
        if arm is not None and region in ("bust", "waist", "hips"):
            mask = ~arm
        elif arm is not None and region == "upper_arm":
            mask = arm
        ratios = []
        for planes in sides:
            for origin, normal, rmax in planes:
                lx, lf = cut_lengths(flat, draped, f, origin, normal, rmax + 0.1, face_mask=mask)
                if lf > 0.10:
                    ratios.append(100.0 * (lx / lf - 1.0))
        if ratios:
            out[region] = float(np.median(ratios))
    return out


def fit_table(draped, clearance_mm, warp_pct, weft_pct, joints, m: Measurements, thresholds=None,
              faces=None, body=None, sew=None, arm_vertices=None, fabric_stretch_pct=None, flat=None,
              edge=None, grain=None, size_girths_mm: dict | None = None) -> list[RegionFit]:
    """:class:`RegionFit` for every region the garment covers (regions with < 5 vertices are left out).

    Args:
        draped: (V, 3) cloth vertices, metres, canonical frame (best the mean over the settle
            window); clearance_mm, warp_pct, weft_pct: (V,), the strains as mapped (smoothed:
            :func:`strain_field`).
        joints: (16, 3) NAMED_JOINTS; m: the body's :class:`Measurements`.
        faces: (F, 3) cloth triangles and body: (vertices, faces) of the body: when both are given,
            ease is the sliced girth difference (:func:`sliced_ease`) wherever the garment goes round
            the region; otherwise (and elsewhere) 2 pi x the mean gap.
        sew: (E, 2) seam vertex pairs of a sewn pattern; arm_vertices: (V,) bool, its sleeve
            vertices (see :func:`sliced_ease` and :func:`region_masks`).
        fabric_stretch_pct: the fabric's stretch, % (see :func:`tight_strain`).
        flat: (V, 2) flat pattern coordinates, metres: with ``faces``, the stretch round each
            girth is measured too (:func:`girth_strain`) and decides whether a strain over the
            limit with clearly positive ease is sustained (:func:`judge`).
        edge: (V,) bool, hems, seam allowances and turned-up cloth (:attr:`StrainField.edge`),
            left out of the regions' strain.
        grain: (V, 2) or (2,) warp direction in the flat frame, for the pattern's width across
            it at each region's line (:func:`pattern_width`, :attr:`RegionFit.pattern_ease_mm`).
        size_girths_mm: region -> the size chart's body girth (mm) of the size the pattern was
            graded to (:func:`chart_girths_mm`): each region's intended ease is the pattern's width
            at its line minus it (:attr:`RegionFit.intended_ease_mm`, the size rule's target).
    """
    th = thresholds or load_thresholds()
    tol = float(th.get("pattern_ease_tolerance_mm", 30.0))
    rows = []
    s = np.maximum(np.asarray(warp_pct, np.float64), np.asarray(weft_pct, np.float64))
    p = np.asarray(draped, np.float64)
    slices = _slices(draped, faces, body[0], body[1], joints, m, sew, arm_vertices) \
        if faces is not None and body is not None else {}
    girth = girth_strain(flat, draped, faces, joints, m, arm_vertices) if flat is not None and faces is not None else {}
    arm_faces = None
    if arm_vertices is not None and faces is not None:
        arm_faces = np.asarray(arm_vertices, bool)[np.asarray(faces)].all(1)
    area = np.ones(len(p))
    if faces is not None:
        f = np.asarray(faces, np.int64)
        fa = 0.5 * np.linalg.norm(np.cross(p[f[:, 1]] - p[f[:, 0]], p[f[:, 2]] - p[f[:, 0]]), axis=1)
        area = np.zeros(len(p))
        for k in range(3):
            np.add.at(area, f[:, k], fa / 3.0)
    inner = ~np.asarray(edge, bool) if edge is not None else np.ones(len(p), bool)
    for name, mask in region_masks(draped, joints, m, arm_vertices=arm_vertices).items():
        if mask.sum() < 5:
            continue
        gap = float(np.mean(clearance_mm[mask]))
        sel = mask & inner if (mask & inner).sum() >= 5 else mask
        limit = tight_strain(name, th, fabric_stretch_pct)
        band = _weighted_median(s[sel], area[sel])
        broad = 100.0 * float(area[sel][s[sel] > limit].sum() / max(area[sel].sum(), 1e-20))
        peak = float(np.percentile(s[sel], 98))
        gs = girth.get(name)
        got, note = slices.get(name, (None, ""))
        pattern_ease = width = intended = differs = None
        if got:
            gg, bg = 1000.0 * float(np.mean([x[0] for x in got])), 1000.0 * float(np.mean([x[1] for x in got]))
            ease, method, girths = gg - bg, "slice", (round(gg, 1), round(bg, 1))
            if flat is not None:
                fmask = None if arm_faces is None else (arm_faces if name == "upper_arm" else ~arm_faces)
                widths = []
                for _, _, plane in got:
                    m_side = fmask
                    if name in LIMB_BAND:  # this limb's cloth only: the other leg's panels are cut too
                        own = limb_side_faces(draped, faces, joints, name, plane[0])
                        m_side = own if fmask is None else (own & fmask)
                    widths.append(pattern_width(flat, draped, faces, *plane, face_mask=m_side, grain=grain))
                if all(w > 0 for w in widths):
                    width = 1000.0 * float(np.mean(widths))
                    pattern_ease = round(width - bg, 1)
                    differs = bool(abs(pattern_ease - ease) > tol)
                    if size_girths_mm and name in size_girths_mm:
                        intended = round(width - float(size_girths_mm[name]), 1)
        else:
            ease, method, girths = 2.0 * np.pi * gap, "gap", (None, None)
        v, by, reason = judge(name, ease, band, th, fabric_stretch_pct, gs)
        rows.append(RegionFit(name, int(mask.sum()), round(gap, 2), round(ease, 1), round(peak, 2), v, method,
                              *girths, strain_pct=round(band, 2), broad_pct=round(broad, 1),
                              girth_strain_pct=None if gs is None else round(gs, 2), strain_limit_pct=round(limit, 2),
                              decided_by=by, reason=reason, ease_note=note, pattern_ease_mm=pattern_ease,
                              pattern_width_mm=None if width is None else round(width, 1), intended_ease_mm=intended,
                              pattern_ease_differs=differs))
    return rows


__all__ = ["strain", "face_strain", "strain_field", "StrainField", "smooth", "edge_band", "cut_lengths",
           "girth_strain", "pattern_width", "verdict", "judge", "tight_strain", "tape_girth", "load_thresholds",
           "region_masks", "region_planes", "sliced_ease", "fit_table", "RegionFit", "REGIONS", "THRESHOLDS",
           "map_sigma_m", "limb_side_faces", "chart_girths_mm", "CHART_GIRTH"]
