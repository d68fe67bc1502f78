"""Fit-check runs: drape every size on every body (drapes cached), measure the fit, render the
size grid and the strain / clearance maps, export a GLB per dressed body, recommend a size, and
write the page (:mod:`scenes.fitcheck.report`).

Layout of ``out``::

    index.html                 the page (works from file://, no network)
    fitcheck.json              everything on the page, machine-readable
    assets/                    model-viewer (bundled), legends, colour strips
    images/<body>/<size>_{front,back,strain-front,...}.png   stamped as AI-generated
    glb/<body>__<size>.glb     body + garment (garment coloured by strain), and .js (data: URI)
    bodies/<slug>/             twin folders of a --population
    drapes/<key>/              the drape cache (or settings.cache): one folder per
                               (twin, garment, size, fabric, pose, resolution, frames)

Recommended size (``size_rule`` in garments/data/fit_thresholds.json, docs/fitcheck.md): among
the sizes that draped with no region judged "tight", the one whose draped ease is closest to the
ease its graded pattern gives the size chart's own body of that size (:func:`recommend`); when
every size has a tight region, the size with the fewest tight regions (the larger on a tie),
flagged ``fits=False``.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from engine.errors import AtelierError, InputError, SimulationError
from engine.meshio import load_npz_mesh, load_ply
from engine.progress import say
from engine.storage import atomic_path, json_sha256, read_json, write_json
from engine.types import PathLikeStr

from .maps import CLEARANCE, MAP_AMBIENT, MAPS, STRAIN, legend_png, map_lights, map_meshes

#: bump when a change here makes cached drapes stale.
DRAPE_CACHE_VERSION = 6  # 2: deeper armholes, relaxed start shapes, fabric-aware strain verdicts; 3: pinned waistbands, fabric friction, settle test on mean positions; 4: too-long sleeves and legs turned up; 5: fit from the settled mean shape, smoothed strain, verdicts that say what decided them; 6: intended ease, one thigh per tape, cropped collider
DRAPE_MANIFEST = "fitcheck_drape.json"
#: views rendered per dressed body: (file suffix, shot name, what is shown).
VIEWS = (("front", "front", "dressed"), ("back", "back", "dressed"),
         ("strain-front", "front", "strain"), ("strain-back", "back", "strain"),
         ("clearance-front", "front", "clearance"), ("clearance-back", "back", "clearance"))
SKIN = (0.86, 0.71, 0.60, 1.0)
FABRIC_COLOR = (0.17, 0.30, 0.55, 1.0)
SYNTHETIC_GRANT = "none: synthetic body, no person depicted"
#: verdict order, tight first.
VERDICTS = ("tight", "fitted", "relaxed", "loose")


# --- consent hooks ------------------------------------------------------------------------------
def default_authorise(twin_dir: Path, twin_json: dict, generated: bool = False) -> dict:
    """Consent check run before anything of a body is drawn, through the one consent path
    (:func:`engine.rights.consent.clear`, channel ``internal-fit-check``, no particular region);
    returns the disclosure info stamped into its images (``twin_id``, ``grant_id``, ...).

    ``generated`` marks a body this run made from a population's parameters: it is synthetic
    unless its shape is a registered person's likeness. Any other twin folder must be a body the
    rights registry knows (``$ATELIER_DB_URL`` or ./atelier-data): a registered synthetic body, or a
    person's, who then needs a live ``internal-fit-check`` grant for every region ('*'). The
    ``synthetic`` flag in ``twin.json`` decides nothing. Raises ConsentError otherwise.
    """
    from engine.rights import Registry
    from engine.rights.consent import DrawnBody, clear

    body = (DrawnBody.generated(twin_json["model"], twin_json["shape"], str(twin_dir)) if generated
            else DrawnBody.twin(twin_dir))
    clearance = clear(Registry.open_existing(), body, "internal-fit-check", None)
    return {**clearance.disclosure(), "clearance": clearance}


def default_deliver(paths: list[Path], info: dict, scene_hash: str) -> None:
    """Deliver each image (:func:`engine.rights.deliver.deliver`: disclosure, and for a person a
    ledger row) under the clearance :func:`default_authorise` put in ``info``; without one, stamp
    the AI disclosure (:func:`engine.rights.disclosure.stamp_image`)."""
    if info.get("clearance") is not None:
        from engine.rights.deliver import deliver

        deliver(info["clearance"], paths, scene_hash)
        return
    from engine.rights.disclosure import stamp_image

    for p in paths:
        stamp_image(p, {**info, "scene_hash": scene_hash})


# --- settings and results -----------------------------------------------------------------------
@dataclass
class FitcheckSettings:
    """What to fit-check and how.

    Attributes:
        garment: a library pattern (``atelier garment list``) or a template name.
        sizes: size chart names, e.g. ["XS", "S", "M", "L", "XL"] (shown in chart order).
        fabric: fabric preset name, or None for the garment's default (cotton jersey for patterns).
        pose: pose preset the bodies are draped in ("a-pose"; None keeps each twin's own pose).
        resolution: approximate cloth vertex count per drape.
        max_frames: simulation frame cap per drape.
        timeout: seconds per drape before the Blender worker is killed.
        image_px: image height, pixels (width is 3/4 of it).
        cache: drape cache folder (default ``out/drapes``); may be shared between runs.
        glb_colors: garment colours in the 3D view: "strain", "clearance" or "fabric".
        authorise: ``(twin_dir, twin_json) -> disclosure info`` run before a body is drawn
            (default :func:`default_authorise`: the one consent path, engine.rights.consent.clear).
        deliver: ``(png_paths, info, scene_hash) -> None`` run on every image written
            (default :func:`default_deliver`: stamp the AI disclosure).
        quiet: print only errors.
        workers: drapes run at once (each a Blender process; measuring and rendering stay in
            order). On 2 cores, 2 workers keep both busy while one drape is in Python (meshing,
            placing, measuring) and the other in Blender.
    """

    garment: str
    sizes: list[str] = field(default_factory=lambda: ["XS", "S", "M", "L", "XL"])
    fabric: str | None = None
    pose: str | None = "a-pose"
    resolution: int = 5000
    max_frames: int = 250
    timeout: float = 900.0
    image_px: int = 512
    cache: PathLikeStr | None = None
    glb_colors: str = "strain"
    authorise: Callable[[Path, dict], dict] | None = None
    deliver: Callable[[list[Path], dict, str], None] | None = None
    quiet: bool = False
    workers: int = 1


class _SharedModel:
    """A body model shared by drape threads: calls run one at a time (the model's forward pass
    is not known to be thread-safe); attributes are the model's."""

    def __init__(self, model):
        import threading

        self._model, self._lock = model, threading.Lock()

    def __call__(self, *args, **kw):
        with self._lock:
            return self._model(*args, **kw)

    def __getattr__(self, name):
        return getattr(self._model, name)


def drape_all(entries: list, sizes: list[str], garment: dict, fabric: dict | None, s: FitcheckSettings,
              cache: Path, model) -> dict:
    """(body slug, size) -> :func:`drape_cell`'s (folder or None, manifest) for every cell, with
    ``s.workers`` drapes at once (threads, each waiting on its Blender process)."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(e, size) for e in entries for size in sizes]
    if int(s.workers) <= 1:
        return {(e.slug, size): drape_cell(e, size, garment, fabric, s, cache, model) for e, size in jobs}
    shared = _SharedModel(model)
    with ThreadPoolExecutor(max_workers=int(s.workers)) as pool:
        futures = {(e.slug, size): pool.submit(drape_cell, e, size, garment, fabric, s, cache, shared) for e, size in jobs}
        return {k: f.result() for k, f in futures.items()}


@dataclass
class BodyEntry:
    """One body of the grid: ``name`` (shown), ``slug`` (file names), ``twin_dir``, ``synthetic``,
    ``measurements`` (cm, from :func:`bodies.measure.measure`), ``chart_size`` (nearest size-chart
    row, or None), ``description``, ``age_years`` (population bodies), ``model`` (body model name)."""

    name: str
    slug: str
    twin_dir: Path
    synthetic: bool
    measurements: dict = field(default_factory=dict)
    chart_size: str | None = None
    description: str = ""
    age_years: float | None = None
    model: str = "anny"


@dataclass
class Cell:
    """One size on one body.

    Attributes:
        body: the body's slug.
        size: size name.
        status: "ok", "guard" (draped, but a guard failed: penetration; shown with a warning) or
            "failed" (no drape; nothing drawn).
        message: why, for "guard" and "failed".
        drape_dir: the cached drape folder.
        cached: found in the cache rather than draped by this run.
        drape_seconds: the drape's own wall time, s (0 when it failed).
        regions: [{"region", "ease_mm", "max_strain_pct", "verdict", ...}] in region order.
        fit_source: "fit.json" (from the drape) or "fitcheck" (computed here from clearance).
        strain_pct: {"median", "p98", "max"} or {} when the drape has no strain.
        clearance_mm: {"min", "median", "p95"}.
        penetration_pct: % of cloth vertices more than 2 mm inside the body.
        settled: the drape came to rest before its frame cap.
        turned_up_cm: per limb region, the sleeve or trouser length (cm) turned up because the
            garment is longer than the body's arm or leg ({} when none; see ``fit.json``).
        images: view suffix -> path relative to ``out``.
        glb: path of the GLB relative to ``out`` (and ``glb_js``, its data-URI script).
    """

    body: str
    size: str
    status: str = "ok"
    message: str = ""
    drape_dir: str = ""
    cached: bool = False
    drape_seconds: float = 0.0
    regions: list = field(default_factory=list)
    fit_source: str = ""
    strain_pct: dict = field(default_factory=dict)
    clearance_mm: dict = field(default_factory=dict)
    penetration_pct: float | None = None
    settled: bool | None = None
    turned_up_cm: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)
    glb: str | None = None
    glb_js: str | None = None

    @property
    def id(self) -> str:
        return f"{self.body}__{self.size}"

    def tight_regions(self) -> list[str]:
        return [r["region"] for r in self.regions if r.get("verdict") == "tight"]


@dataclass
class Recommendation:
    """Recommended size for one body: ``size`` (None when nothing draped), ``fits`` (no tight
    region), ``reason`` (one sentence)."""

    body: str
    size: str | None
    fits: bool
    reason: str


@dataclass
class FitcheckResult:
    """A finished fit-check: ``index`` (the page), ``manifest`` (fitcheck.json), ``bodies``,
    ``sizes``, ``cells``, ``recommendations`` (body slug -> :class:`Recommendation`), ``seconds``
    (wall time), ``drapes_made`` / ``drapes_cached``."""

    index: Path
    manifest: Path
    bodies: list[BodyEntry]
    sizes: list[str]
    cells: list[Cell]
    recommendations: dict
    seconds: float
    drapes_made: int
    drapes_cached: int

    def cell(self, body: str, size: str) -> Cell:
        return next(c for c in self.cells if c.body == body and c.size == size)


# --- validation ---------------------------------------------------------------------------------
def _garment_info(name: str) -> dict:
    """{"name", "kind": "pattern"|"template", "pattern": dict summary} or InputError."""
    from garments.templates import garment_names

    try:
        from garments.pattern import library_names, library_pattern
    except ImportError:  # garments without sewing patterns
        library_names, library_pattern = (lambda: []), None
    if name in library_names():
        p = library_pattern(name)
        return {"name": name, "kind": "pattern", "description": getattr(p, "description", ""),
                "panels": len(p.panels), "seams": len(p.seams), "pattern_sha256": json_sha256(p.to_dict())}
    if name in garment_names():
        return {"name": name, "kind": "template", "description": "generated tube around the body (no pattern)",
                "pattern_sha256": None}
    raise InputError(f"unknown garment {name!r}",
                     hint=f"choose one of {', '.join(sorted(set(library_names()) | set(garment_names())))} "
                          "(atelier garment list)")


def _check_sizes(sizes: list[str]) -> list[str]:
    """Upper-cased sizes in size-chart order; InputError for unknown or repeated ones."""
    try:
        from garments.sizes import size_names
        order = list(size_names())
    except ImportError:
        order = ["XS", "S", "M", "L", "XL", "XXL"]
    want = [s.strip().upper() for s in sizes if s.strip()]
    if not want:
        raise InputError("no sizes given", hint="e.g. --sizes XS,S,M,L,XL")
    bad = [s for s in want if s not in order]
    if bad:
        raise InputError(f"unknown size(s) {', '.join(bad)}", hint=f"sizes are {', '.join(order)}")
    if len(set(want)) != len(want):
        raise InputError(f"a size is repeated in {','.join(want)}")
    return [s for s in order if s in want]


def _fabric_info(fabric: str | None, kind: str) -> dict | None:
    if fabric is None and kind == "template":
        return None
    try:
        from garments.fabrics import get_fabric
    except ImportError:
        if fabric is None:
            return None
        raise InputError(f"fabric {fabric!r}: this installation has no fabric presets") from None
    f = get_fabric(fabric or "cotton-jersey")
    return f.to_dict()


# --- bodies -------------------------------------------------------------------------------------
def _slugify(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "body"


def resolve_bodies(twin_dirs: list[PathLikeStr], population: str | None, out: Path, model) -> list[BodyEntry]:
    """The bodies of the grid: each ``--twin`` folder, then the population's bodies (written under
    ``out/bodies``). Names are made unique. Raises InputError when there are none."""
    from bodies.measure import measure
    from bodies.twin import Twin

    entries: list[BodyEntry] = []
    folders: list[tuple[Path, dict]] = []
    for d in twin_dirs:
        d = Path(d)
        Twin.load(d)  # clear error for a folder without twin.json
        folders.append((d, {}))
    if population:
        from .populations import make_population, population as pop_bodies

        extra = {b.slug: b for b in pop_bodies(population)}
        for d in make_population(population, out / "bodies", model=model):
            b = extra[d.name]
            folders.append((d, {"name": b.name, "age_years": b.age_years,
                                "description": f"population {population}: {b.name}, {b.age_years:g} years",
                                "generated": True}))
    if not folders:
        raise InputError("no bodies to fit-check", hint="give --twin DIR (repeatable) and/or --population NAME")
    seen: set[str] = set()
    for d, meta in folders:
        tj = read_json(d / "twin.json")
        name = meta.get("name") or tj.get("source", {}).get("name") or d.resolve().name
        slug = base = _slugify(name)
        k = 2
        while slug in seen:
            slug, k = f"{base}-{k}", k + 1
        seen.add(slug)
        twin = Twin.load(d)
        v, f, j = twin.body(_model_for(twin.model, model))
        try:
            m = measure(v, f, j).to_dict()
        except AtelierError:
            m = {}
        chart = None
        try:
            from garments.sizes import nearest_size

            if m:
                chart = nearest_size({k2: m[f"{k2}_cm"] for k2 in ("chest", "waist", "hips", "height") if f"{k2}_cm" in m})
        except (ImportError, KeyError):
            pass
        entries.append(BodyEntry(name=name, slug=slug, twin_dir=d.resolve(), synthetic=bool(meta.get("generated")),
                                 measurements={k2: round(float(val), 1) for k2, val in m.items() if k2.endswith("_cm")},
                                 chart_size=chart, description=meta.get("description", ""), age_years=meta.get("age_years"),
                                 model=twin.model))
    return entries


def _model_for(name: str, model):
    """``model`` when it is the twin's body model, else that model (``bodies.create`` shares one per process)."""
    if model is not None and model.name == name:
        return model
    import bodies

    return bodies.create(name)


# --- drapes -------------------------------------------------------------------------------------
def drape_key(twin_dir: Path, garment: dict, size: str, fabric: dict | None, s: FitcheckSettings) -> str:
    """Cache key (24 hex digits) of one drape: the twin file's contents but its ``created`` time
    (the same body saved in two folders, or saved again, drapes the same), the garment (pattern
    contents), size, fabric, pose, resolution and frame cap."""
    twin = {k: v for k, v in read_json(Path(twin_dir) / "twin.json").items() if k != "created"}
    inputs = {"v": DRAPE_CACHE_VERSION, "twin": json_sha256(twin), "garment": garment["name"],
              "pattern": garment.get("pattern_sha256"), "size": size if garment["kind"] == "pattern" else None,
              "fabric": fabric, "pose": s.pose, "resolution": int(s.resolution), "max_frames": int(s.max_frames)}
    return json_sha256(inputs)[:24]


def drape_cell(body: BodyEntry, size: str, garment: dict, fabric: dict | None, s: FitcheckSettings, cache: Path,
               model) -> tuple[Path | None, dict]:
    """Drape one size on one body, or find it in ``cache``. Returns (folder or None, manifest).

    The folder is built under a temporary name and renamed into place with its manifest written
    last, so a folder under its final name is complete. A drape that finishes but fails a guard
    (penetration) is kept with ``status: "guard"``; a crash or time-out is not cached.
    """
    from garments.outfit import drape_twin

    key = drape_key(body.twin_dir, garment, size, fabric, s)
    final = cache / key
    if (final / DRAPE_MANIFEST).exists():
        return final, {**read_json(final / DRAPE_MANIFEST), "cached": True}
    tmp = cache / f".tmp-{key}-{socket.gethostname()}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    kw = {"resolution": int(s.resolution), "max_frames": int(s.max_frames), "timeout": float(s.timeout)}
    if garment["kind"] == "pattern":
        kw["size"] = size
        if fabric is not None:
            kw["fabric"] = fabric["name"]
    t0 = time.monotonic()
    status, message = "ok", ""
    try:
        drape_twin(body.twin_dir, garment["name"], tmp, model=_model_for(body.model, model), pose=s.pose, **kw)
    except SimulationError as exc:
        if not (tmp / "garment.ply").exists():
            shutil.rmtree(tmp, ignore_errors=True)
            return None, {"status": "failed", "message": exc.message, "cached": False}
        status, message = "guard", exc.message
    except AtelierError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        return None, {"status": "failed", "message": exc.message, "cached": False}
    manifest = {"key": key, "status": status, "message": message, "twin_dir": str(body.twin_dir),
                "garment": garment["name"], "size": size, "fabric": fabric["name"] if fabric else None, "pose": s.pose,
                "resolution": int(s.resolution), "max_frames": int(s.max_frames),
                "seconds": round(time.monotonic() - t0, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_json(tmp / DRAPE_MANIFEST, manifest)
    if final.exists():  # another run finished it first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.rename(tmp, final)
    return final, {**manifest, "cached": False}


# --- fit numbers --------------------------------------------------------------------------------
def edge_strain_pct(rest: np.ndarray, draped: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per-vertex stretch (%) when no pattern strain exists: the mean over a vertex's edges of
    ``|draped edge| / |rest edge| - 1``.

    Args:
        rest, draped: (V, 3) float, metres; faces: (F, 3) int.

    Returns:
        (V,) float32 %, 0 for vertices in no triangle.
    """
    f = np.asarray(faces, np.int64)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    r = np.linalg.norm(rest[e[:, 0]] - rest[e[:, 1]], axis=1)
    d = np.linalg.norm(draped[e[:, 0]] - draped[e[:, 1]], axis=1)
    s = np.where(r > 1e-9, d / np.maximum(r, 1e-9) - 1.0, 0.0) * 100.0
    num = np.zeros(len(draped))
    den = np.zeros(len(draped))
    for k in (0, 1):
        np.add.at(num, e[:, k], s)
        np.add.at(den, e[:, k], 1.0)
    return (num / np.maximum(den, 1.0)).astype(np.float32)


#: fallback verdict thresholds (mm of circumferential ease) when garments.fit is not available.
FALLBACK_THRESHOLDS = {"tight_below_mm": 10.0, "fitted_below_mm": 60.0, "relaxed_below_mm": 140.0, "tight_strain_pct": 5.0}


def _fallback_verdict(ease_mm: float, strain: float | None) -> str:
    t = FALLBACK_THRESHOLDS
    if ease_mm < t["tight_below_mm"] or (strain is not None and strain > t["tight_strain_pct"]):
        return "tight"
    if ease_mm < t["fitted_below_mm"]:
        return "fitted"
    return "relaxed" if ease_mm < t["relaxed_below_mm"] else "loose"


def region_table(drape_dir: Path, garment_v, clearance_mm, strain_pct, body_v, body_f, joints) -> tuple[list, str]:
    """The per-region table of one drape and where it came from.

    ``fit.json`` written by the drape (sewing-pattern garments) is used as is. Otherwise it is
    computed here from the clearance: with :func:`garments.fit.fit_table` when available (regions
    near body landmarks, ease = 2 pi x mean gap), else for bust, waist and hips as the cloth
    vertices within 2.5 cm of the landmark heights of :func:`bodies.measure.measure`.

    Returns:
        ([{"region", "ease_mm", "max_strain_pct" (None without strain), "verdict", "vertices"}], source)
    """
    fit = drape_dir / "fit.json"
    if fit.exists():
        data = read_json(fit)
        rows = [{"region": k, **v} for k, v in data.get("regions", {}).items()]
        return rows, "fit.json"
    from bodies.measure import measure

    m = measure(body_v, body_f, joints)
    s = np.zeros(len(garment_v), np.float32) if strain_pct is None else np.asarray(strain_pct, np.float32)
    try:
        from garments.fit import fit_table

        rows = [asdict(r) for r in fit_table(garment_v, clearance_mm, s, s, joints, m)]
        if strain_pct is None:
            for r in rows:
                r["max_strain_pct"] = r["strain_pct"] = r["broad_pct"] = None
        return rows, "fitcheck"
    except ImportError:
        pass
    rows = []
    for name, y in (("bust", m.chest_height_m), ("waist", m.waist_height_m), ("hips", m.hips_height_m)):
        mask = np.abs(garment_v[:, 1] - y) < 0.025
        if mask.sum() < 5:
            continue
        gap = float(np.mean(clearance_mm[mask]))
        ease = 2.0 * np.pi * gap
        mx = None if strain_pct is None else round(float(np.percentile(s[mask], 98)), 2)
        rows.append({"region": name, "vertices": int(mask.sum()), "mean_gap_mm": round(gap, 2), "ease_mm": round(ease, 1),
                     "max_strain_pct": mx, "verdict": _fallback_verdict(ease, mx)})
    return rows, "fitcheck"


def size_steps_mm(chart: dict | None = None) -> dict:
    """Region -> the size chart's mean girth step between neighbouring sizes, mm (chest, waist and
    hips 60 mm, upper arm 20 mm, thigh 30 mm in the package's chart): the size rule's unit."""
    from garments.fit import CHART_GIRTH
    from garments.sizes import load_size_chart

    chart = chart or load_size_chart()
    rows = [chart["sizes"][k] for k in chart["order"]]
    out = {}
    for region, key in CHART_GIRTH.items():
        d = [abs(b[key] - a[key]) for a, b in zip(rows, rows[1:])]
        if d and np.mean(d) > 0:
            out[region] = 10.0 * float(np.mean(d))
    return out


def ease_distance(cell: Cell, rule: dict | None = None, steps: dict | None = None) -> tuple[float | None, list[str]]:
    """How far one size's draped ease is from the ease its graded pattern gives the size chart's
    own body of that size (``intended_ease_mm``), in size steps (:func:`size_steps_mm`): the mean
    over the regions of ``rule["regions"]`` that have a tape slice and an intended ease of
    ``|ease - intended| / step``. The ease is the draped ease, except where it differs from the
    pattern ease by more than ``pattern_ease_tolerance_mm`` (``pattern_ease_differs``) and
    ``rule["where_they_differ"]`` is "pattern_ease": the tape then reads folds it bridges or a
    stretch, not the cloth the pattern gives, and the pattern ease is used. Returns (distance or
    None when no region has both, one "region ease/intended mm" note per region used, a "p" after
    a pattern ease)."""
    rule = rule if rule is not None else _thresholds().get("size_rule", {})
    steps = steps if steps is not None else size_steps_mm()
    regions = rule.get("regions")
    terms, notes = [], []
    for r in cell.regions:
        want, got = r.get("intended_ease_mm"), r.get("ease_mm")
        if want is None or got is None or r.get("ease_method") != "slice" or r["region"] not in steps:
            continue
        if regions is not None and r["region"] not in regions:
            continue
        mark = ""
        if (rule.get("where_they_differ") == "pattern_ease" and r.get("pattern_ease_differs")
                and r.get("pattern_ease_mm") is not None):
            got, mark = r["pattern_ease_mm"], "p"
        terms.append(abs(float(got) - float(want)) / steps[r["region"]])
        notes.append(f"{r['region']} {got:.0f}{mark}/{want:.0f} mm")
    return (float(np.mean(terms)) if terms else None), notes


def recommend(cells: list[Cell], sizes: list[str], chart_size: str | None = None) -> Recommendation:
    """The recommended size of one body's cells (the rule: ``size_rule`` in
    ``garments/data/fit_thresholds.json``, docs/fitcheck.md "Recommended size").

    Among the sizes that draped with no tight region, the one whose draped ease is closest to the
    garment's intended ease for that size (:func:`ease_distance`); sizes without intended ease
    (template garments, older drapes) fall back to the smallest size with no tight region. When
    every size is tight somewhere: the size with the fewest tight regions (the larger on a tie),
    ``fits=False``. ``chart_size``: the body's nearest size-chart row; when another size is
    recommended, the reason says why not that one.
    """
    body = cells[0].body if cells else ""
    draped = [c for c in sorted(cells, key=lambda c: sizes.index(c.size)) if c.status != "failed"]
    if not draped:
        return Recommendation(body, None, False, "no size draped on this body")
    rule = _thresholds().get("size_rule", {})
    steps = size_steps_mm()
    dist = {c.size: ease_distance(c, rule, steps) for c in draped}
    free = [c for c in draped if not c.tight_regions()]
    if free:
        scored = [c for c in free if dist[c.size][0] is not None]
        if scored:
            best = min(scored, key=lambda c: (dist[c.size][0], sizes.index(c.size)))
            d, notes = dist[best.size]
            why = (f"ease closest to the garment's intended ease ({d:.2f} size steps off: "
                   f"{', '.join(notes)} ease/intended" + (", p: the pattern's ease, the drape's differs"
                                                          if any("p/" in x for x in notes) else "") + ")")
        else:
            best = free[0]
            why = "smallest size with no tight region (no intended ease to compare with)"
        looser = [r["region"] for r in best.regions if r.get("verdict") == "loose"]
        why += f"; loose at {', '.join(looser)}" if looser else ""
        return Recommendation(body, best.size, True, why + _not_chart_size(best.size, chart_size, draped, dist))
    best = min(draped, key=lambda c: (len(c.tight_regions()), -sizes.index(c.size)))
    why = [f"{r['region']} ({r['reason']})" if r.get("reason") else r["region"] for r in best.regions
           if r.get("verdict") == "tight"]
    return Recommendation(body, best.size, False, f"every size is tight somewhere; {best.size} is tight at {', '.join(why)}")


def _not_chart_size(size: str, chart_size: str | None, draped: list[Cell], dist: dict) -> str:
    """Why the body's own chart size was not recommended ("" when it was, or was not draped)."""
    own = next((c for c in draped if c.size == chart_size), None)
    if own is None or chart_size == size:
        return ""
    tight = [f"{r['region']} ({r.get('reason', '')})" for r in own.regions if r.get("verdict") == "tight"]
    if tight:
        return f"; not {chart_size} (this body's size-chart row): tight at {', '.join(tight)}"
    d, notes = dist[chart_size]
    if d is None:
        return f"; not {chart_size} (this body's size-chart row): it has no intended ease to compare"
    return (f"; not {chart_size} (this body's size-chart row): its draped ease is {d:.2f} size steps from its "
            f"intended ease ({', '.join(notes)})")


# --- rendering ----------------------------------------------------------------------------------
def _save_png(path: Path, rgba: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(rgba, np.uint8), "RGBA").save(tmp, format="PNG")
    return path


def render_cell(out: Path, cell: Cell, body_v, body_f, garment_v, garment_f, clearance_mm, strain_pct,
                px: int, strips: dict) -> dict:
    """Render the six views of one dressed body into ``out/images/<body>/<size>_<view>.png``.

    Dressed views frame the whole body; map views frame the garment. Returns {view: path relative
    to ``out``}; the strain views are skipped when ``strain_pct`` is None.
    """
    from engine.render import RenderMesh, render
    from engine.render.shots import named_shot, shot_cameras

    w, h = max(16, int(round(px * 0.75))), int(px)
    shots = [named_shot("front"), named_shot("back")]
    dressed = [RenderMesh("body", body_v, body_f, color=SKIN), RenderMesh("garment", garment_v, garment_f, color=FABRIC_COLOR)]
    cams_full = shot_cameras(shots, np.concatenate([body_v, garment_v]), width=w, height=h)
    cams_garment = shot_cameras(shots, garment_v, width=w, height=h)
    folder = out / "images" / cell.body
    written = {}
    views = render(dressed, cams_full, backend="pyrender")
    for (suffix, _, _), v in zip(VIEWS[:2], views):
        written[suffix] = _save_png(folder / f"{cell.size}_{suffix}.png", v.color)
    for cmap, values in ((STRAIN, strain_pct), (CLEARANCE, clearance_mm)):
        if values is None:
            continue
        meshes = map_meshes(body_v, body_f, garment_v, garment_f, values, cmap, strips[cmap.name])
        views = render(meshes, cams_garment, backend="pyrender", lights=map_lights(), ambient=MAP_AMBIENT)
        for shot, v in zip(("front", "back"), views):
            written[f"{cmap.name}-{shot}"] = _save_png(folder / f"{cell.size}_{cmap.name}-{shot}.png", v.color)
    return {k: p for k, p in written.items()}


def export_cell_glb(out: Path, cell: Cell, body_v, body_f, garment_v, garment_f, values, colors: str) -> tuple[Path, Path]:
    """Write ``out/glb/<cell id>.glb`` (body + garment, +Y up, metres; the garment's vertex
    colours from the ``colors`` map, or the fabric colour) and ``<cell id>.js``, a classic script
    that puts the GLB into ``window.ATELIER_GLB[id]`` as a data: URI (pages opened from file://
    may not fetch local files). Returns (glb, js)."""
    import trimesh

    scene = trimesh.Scene()
    body = trimesh.Trimesh(np.asarray(body_v, np.float64), np.asarray(body_f, np.int64), process=False)
    body.visual.vertex_colors = np.tile(np.round(np.array(SKIN) * 255).astype(np.uint8), (len(body_v), 1))
    gar = trimesh.Trimesh(np.asarray(garment_v, np.float64), np.asarray(garment_f, np.int64), process=False)
    if colors in MAPS and values is not None:
        gar.visual.vertex_colors = MAPS[colors].colors_u8(values)
    else:
        gar.visual.vertex_colors = np.tile(np.round(np.array(FABRIC_COLOR) * 255).astype(np.uint8), (len(garment_v), 1))
    scene.add_geometry(body, node_name="body", geom_name="body")
    scene.add_geometry(gar, node_name="garment", geom_name="garment")
    data = scene.export(file_type="glb")
    folder = out / "glb"
    folder.mkdir(parents=True, exist_ok=True)
    glb = folder / f"{cell.id}.glb"
    with atomic_path(glb) as tmp:
        Path(tmp).write_bytes(data)
    js = folder / f"{cell.id}.js"
    payload = base64.b64encode(data).decode("ascii")
    with atomic_path(js) as tmp:
        Path(tmp).write_text("window.ATELIER_GLB = window.ATELIER_GLB || {};\n"
                             f'window.ATELIER_GLB["{cell.id}"] = "data:model/gltf-binary;base64,{payload}";\n')
    return glb, js


def _load_drape(drape_dir: Path):
    """(body_v, body_f, garment_v, garment_f, clearance_mm (V,), strain_pct (V,) or None)."""
    bv, bf, _ = load_ply(drape_dir / "body.ply")
    gv, gf, attrs = load_ply(drape_dir / "garment.ply")
    clearance = attrs.get("clearance_mm")
    if clearance is None:
        from garments.clearance import BodyDistance

        clearance = (BodyDistance(bv, bf)(gv) * 1000.0).astype(np.float32)
    strain = attrs.get("strain_pct")
    if strain is None and "strain_warp_pct" in attrs and "strain_weft_pct" in attrs:
        strain = np.maximum(attrs["strain_warp_pct"], attrs["strain_weft_pct"])
    if strain is None and (drape_dir / "garment.npz").exists():
        npz = load_npz_mesh(drape_dir / "garment.npz")
        if "rest_vertices" in npz and np.shape(npz["rest_vertices"]) == gv.shape:
            strain = edge_strain_pct(np.asarray(npz["rest_vertices"], np.float64), gv.astype(np.float64), gf)
    return bv, bf, gv, gf, np.asarray(clearance, np.float32), None if strain is None else np.asarray(strain, np.float32)


def _summary(values: np.ndarray | None, kind: str) -> dict:
    if values is None or len(values) == 0:
        return {}
    v = np.asarray(values, np.float64)
    if kind == "strain":
        return {"median": round(float(np.median(v)), 2), "p98": round(float(np.percentile(v, 98)), 2),
                "max": round(float(v.max()), 2)}
    return {"min": round(float(v.min()), 1), "median": round(float(np.median(v)), 1), "p95": round(float(np.percentile(v, 95)), 1)}


# --- the run ------------------------------------------------------------------------------------
def run_fitcheck(settings: FitcheckSettings, twins: list[PathLikeStr], out: PathLikeStr,
                 population: str | None = None, model=None) -> FitcheckResult:
    """Drape ``settings.sizes`` of ``settings.garment`` on every body and write the fit-check page.

    Args:
        settings: :class:`FitcheckSettings`.
        twins: twin folders (``twin.json``), shown in this order before the population's bodies.
        out: output folder (created); see the module docstring for its layout.
        population: a population name (:func:`scenes.fitcheck.populations.population_names`).
        model: the body model to reuse (default ``bodies.create("anny")``).

    Returns:
        :class:`FitcheckResult`.

    Raises:
        InputError: unknown garment, size, fabric or population; no bodies; a real person's twin
            without consent (see :func:`default_authorise`).
        MissingDependencyError: pyrender cannot render here.
    """
    import bodies
    import engine

    from .report import write_report

    t0 = time.monotonic()
    s = settings
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if s.glb_colors not in ("strain", "clearance", "fabric"):
        raise InputError(f"glb_colors {s.glb_colors!r}: choose strain, clearance or fabric")
    if s.image_px < 32:
        raise InputError(f"image size {s.image_px} px is too small (at least 32)")
    garment = _garment_info(s.garment)
    sizes = _check_sizes(list(s.sizes))
    fabric = _fabric_info(s.fabric, garment["kind"])
    model = model or bodies.create("anny")
    entries = resolve_bodies(list(twins), population, out, model)
    authorise = s.authorise or default_authorise
    deliver = s.deliver or default_deliver
    consent = {e.slug: (authorise(e.twin_dir, read_json(e.twin_dir / "twin.json")) if s.authorise else
                        default_authorise(e.twin_dir, read_json(e.twin_dir / "twin.json"), generated=e.synthetic))
               for e in entries}
    cache = Path(s.cache).resolve() if s.cache else out / "drapes"
    cache.mkdir(parents=True, exist_ok=True)
    assets = out / "assets"
    strips = {name: cm.write_strip(assets / f"cmap_{name}.png") for name, cm in MAPS.items()}
    legends = {name: legend_png(cm, assets / f"legend_{name}.png") for name, cm in MAPS.items()}
    cells: list[Cell] = []
    made = cached = 0
    n = len(entries) * len(sizes)
    if int(s.workers) < 1:
        raise InputError(f"workers {s.workers}: at least 1")
    if int(s.workers) > 1:
        say(f"fitcheck: draping {n} cells, {int(s.workers)} at once", s.quiet)
    drapes = drape_all(entries, sizes, garment, fabric, s, cache, model)
    for e in entries:
        for size in sizes:
            i = len(cells) + 1
            cell = Cell(body=e.slug, size=size)
            say(f"fitcheck [{i}/{n}] {e.name} size {size}: {garment['name']}"
                + (f" in {fabric['name']}" if fabric else ""), s.quiet)
            drape_dir, man = drapes[(e.slug, size)]
            cell.cached = bool(man.get("cached"))
            cell.status, cell.message = man.get("status", "failed"), man.get("message", "")
            cell.drape_seconds = float(man.get("seconds", 0.0))
            if drape_dir is None:
                say(f"fitcheck [{i}/{n}]   failed: {cell.message}", s.quiet)
                cells.append(cell)
                continue
            made, cached = made + (not cell.cached), cached + cell.cached
            cell.drape_dir = str(drape_dir)
            bv, bf, gv, gf, clearance, strain = _load_drape(drape_dir)
            report = read_json(drape_dir / "drape_report.json") if (drape_dir / "drape_report.json").exists() else {}
            cell.penetration_pct = report.get("penetration_pct")
            cell.settled = report.get("settled")
            cell.turned_up_cm = dict(report.get("turned_up_cm") or {})
            from bodies.twin import Twin

            twin = Twin.load(e.twin_dir)
            tm = _model_for(twin.model, model)
            if s.pose:
                from bodies.poses import pose_preset

                twin.pose = pose_preset(tm, s.pose)[0].tolist()
            _, _, joints = twin.body(tm)
            cell.regions, cell.fit_source = region_table(drape_dir, gv, clearance, strain, bv, bf, joints)
            cell.strain_pct, cell.clearance_mm = _summary(strain, "strain"), _summary(clearance, "clearance")
            say(f"fitcheck [{i}/{n}]   {'cached' if cell.cached else f'draped in {cell.drape_seconds:.0f} s'}"
                f"{'' if cell.status == 'ok' else ' (' + cell.status + ': ' + cell.message + ')'}; rendering", s.quiet)
            paths = render_cell(out, cell, bv, bf, gv, gf, clearance, strain, s.image_px, strips)
            scene_hash = json_sha256({"drape": drape_dir.name, "views": sorted(paths), "px": s.image_px})
            deliver(list(paths.values()), consent[e.slug], scene_hash)
            cell.images = {k: str(p.relative_to(out)) for k, p in paths.items()}
            glb_values = {"strain": strain, "clearance": clearance}.get(s.glb_colors)
            glb, js = export_cell_glb(out, cell, bv, bf, gv, gf, glb_values, s.glb_colors if glb_values is not None else "fabric")
            cell.glb, cell.glb_js = str(glb.relative_to(out)), str(js.relative_to(out))
            cells.append(cell)
    recs = {e.slug: recommend([c for c in cells if c.body == e.slug], sizes, e.chart_size) for e in entries}
    blender = None
    for c in cells:
        if c.drape_dir and (Path(c.drape_dir) / "drape_report.json").exists():
            blender = read_json(Path(c.drape_dir) / "drape_report.json").get("blender_version")
            break
    meta = {"garment": garment, "fabric": fabric, "sizes": sizes, "pose": s.pose, "resolution": s.resolution,
            "max_frames": s.max_frames, "image_px": s.image_px, "glb_colors": s.glb_colors,
            "engine_version": engine.__version__, "blender_version": blender, "population": population,
            "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "legends": {k: str(p.relative_to(out)) for k, p in legends.items()},
            "maps": {k: {"title": cm.title, "unit": cm.unit, "min": cm.vmin, "max": cm.vmax, "meaning": cm.meaning}
                     for k, cm in MAPS.items()},
            "thresholds": _thresholds()}
    manifest = {**meta, "bodies": [{**asdict(e), "twin_dir": str(e.twin_dir)} for e in entries],
                "cells": [{**asdict(c), "id": c.id} for c in cells],
                "recommendations": {k: asdict(r) for k, r in recs.items()},
                "drapes": {"made": made, "cached": cached, "failed": sum(c.status == "failed" for c in cells),
                           "cache": str(cache)}}
    index = write_report(out, manifest)
    manifest["seconds"] = round(time.monotonic() - t0, 1)
    mpath = write_json(out / "fitcheck.json", manifest)
    say(f"fitcheck: {len(entries)} bodies x {len(sizes)} sizes ({made} draped, {cached} cached, "
        f"{manifest['drapes']['failed']} failed) in {manifest['seconds']:.0f} s -> {index}", s.quiet)
    return FitcheckResult(index=index, manifest=mpath, bodies=entries, sizes=sizes, cells=cells, recommendations=recs,
                          seconds=time.monotonic() - t0, drapes_made=made, drapes_cached=cached)


def _thresholds() -> dict:
    try:
        from garments.fit import load_thresholds

        return load_thresholds()
    except ImportError:
        return {"default": FALLBACK_THRESHOLDS}


__all__ = ["FitcheckSettings", "FitcheckResult", "BodyEntry", "Cell", "Recommendation", "run_fitcheck",
           "resolve_bodies", "drape_cell", "drape_key", "region_table", "recommend", "ease_distance", "size_steps_mm", "render_cell", "export_cell_glb",
           "edge_strain_pct", "default_authorise", "default_deliver", "DRAPE_CACHE_VERSION", "VIEWS"]
