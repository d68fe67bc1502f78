"""The one garment request and outfits of several, draped in layer order (main process; no bpy).

A :class:`GarmentRequest` is what every surface asks for (``atelier drape``, outfit files, scene
and campaign files, the ``scenes`` API, the demo): a garment, which is one of

- a library pattern (``atelier garment list``: t-shirt, straight-trousers, ...), graded to a size
  of the size chart (``XS``..``XXL``), to ``mtm`` (made to measure: the twin's own measurements)
  or to body measurements in cm;
- a template (``tube-dress``, ``skirt``), generated around the body; it is not graded, so a size
  is refused (its ``settings``, e.g. ``ease`` in metres, shape it instead);
- a garment mesh file made elsewhere (CLO 3D / Marvelous Designer ``.obj``, ``.glb``, ``.gltf``),
  draped as it was made (a size is refused: grade it where it was made);

plus a fabric from the one registry (``garments/data/fabrics.json``; the old scene names
``cotton``, ``silk``, ``jersey``, ``wool`` are its aliases of the calibrated presets, ``denim`` a
preset of its own), a colour (``"#rrggbb"`` or linear RGB(A) floats) and a layer (0 next to the
skin).

An :class:`Outfit` drapes its requests in layer order (then list order): each outer layer
collides with the body and with every draped layer under it (the colliders of
:func:`garments.dress.drape_pattern`), and after each drape the penetration guard checks it
against the body (in the garment's own drape) and against each layer under it
(:func:`layer_penetration`): more than 1 % of its vertices over 2 mm inside a lower layer fails
the drape.

Outputs of :func:`drape_outfit` in ``out_dir``: one garment writes exactly what its drape writes
(``garment.ply``, ``garment.npz``, ``fit.json``, ``dressed.glb``, ``drape_report.json``,
``blender.log``); several write each layer's drape into ``layers/<i>-<name>/`` and, at the top,
``garment.ply`` (every layer, with per-vertex ``clearance_mm`` to the body and ``layer``),
``fit.json`` (``{"layers": [each layer's fit]}``), ``dressed.glb`` (the body and one mesh per
layer) and ``drape_report.json`` (per layer: frames, seconds, penetration of the body and of each
layer below). Both write ``outfit.json``, the resolved requests.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.errors import InputError, SimulationError
from engine.meshio import save_ply
from engine.storage import write_json
from engine.types import PathLikeStr

from .clearance import BodyDistance, closest_points
from .settings import MAX_FRAMES, MAX_PENETRATION, PENETRATION_DEPTH_M, DrapeResult

KINDS = ("pattern", "template", "mesh")
MESH_SUFFIXES = (".obj", ".glb", ".gltf")
#: options of a mesh request (see :func:`garments.imported.drape_imported_twin`)
MESH_OPTIONS = ("units", "up", "avatar", "region")
#: the start clearance of a pattern placed over nothing but the body, metres (drape_pattern's own)
PLACEMENT_CLEARANCE_M = 0.012
#: default colours of layers 0, 1, 2, ... (linear RGBA) when a request gives none
LAYER_COLOURS = ((0.16, 0.30, 0.55, 1.0), (0.72, 0.25, 0.20, 1.0), (0.85, 0.80, 0.65, 1.0), (0.20, 0.45, 0.25, 1.0))
#: a vertex of an outer layer counts as inside a lower one only when it lies over one of its
#: faces (the direction to the closest point within ~60 degrees of the face normal, so not off an
#: open edge such as a waistband) and within this distance of it, metres
LAYER_REACH_M = 0.05


def garment_kind(garment: str) -> str:
    """``pattern``, ``template`` or ``mesh`` for a garment name or mesh path; InputError naming
    the choices when it is none of them."""
    from .pattern import library_names
    from .templates import garment_names

    if garment in library_names():
        return "pattern"
    if garment in garment_names():
        return "template"
    if Path(garment).suffix.lower() in MESH_SUFFIXES:
        if not Path(garment).is_file():
            raise InputError(f"garment mesh {garment!r} does not exist", hint="give the path of an .obj, .glb or .gltf file")
        return "mesh"
    raise InputError(f"unknown garment {garment!r}",
                     hint=f"library patterns: {', '.join(library_names())}; templates: {', '.join(garment_names())}; "
                          "or a garment mesh file (.obj, .glb, .gltf)")


@dataclass(frozen=True)
class GarmentRequest:
    """One garment to drape.

    Attributes:
        garment: a library pattern name, a template name or a garment mesh path.
        kind: ``pattern``, ``template`` or ``mesh`` (found from ``garment`` when not given).
        size: patterns: a size chart name (``"M"``), ``"mtm"`` (the twin's own measurements) or
            a dict of body measurements in cm; None: the pattern's base size. Refused for
            templates and meshes (they are not graded).
        fabric: a fabric of the registry or one of its aliases (stored resolved: ``"silk"`` ->
            ``"silk-charmeuse"``); None: the garment kind's default (cotton-jersey for patterns
            and meshes, the template's own cotton-like cloth).
        colour: linear RGBA floats in [0, 1] (``"#rrggbb"`` accepted); None: by layer.
        layer: 0 is next to the skin; higher layers are draped over lower ones.
        settings: templates: template settings (``ease``, ``flare``... metres); meshes: the
            import options ``units``, ``up``, ``avatar``, ``region``. Refused for patterns.
    """

    garment: str
    kind: str | None = None
    size: str | dict | None = None
    fabric: str | None = None
    colour: tuple | None = None
    layer: int = 0
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        from .fabrics import get_fabric

        if self.kind is not None and self.kind not in KINDS:
            raise InputError(f"unknown garment kind {self.kind!r}", hint=f"choose one of: {', '.join(KINDS)}")
        kind = garment_kind(self.garment)  # an unknown name is refused here, when a plan is made, not at its drape
        if self.kind is not None and self.kind != kind:
            raise InputError(f"{self.garment!r} is a {kind}, not a {self.kind}",
                             hint=f"write {kind} = {self.garment!r}, or name a {self.kind}")
        object.__setattr__(self, "kind", kind)
        if self.fabric is not None:
            object.__setattr__(self, "fabric", get_fabric(self.fabric).name)
        if self.colour is not None:
            from engine.render.scene import rgba

            object.__setattr__(self, "colour", rgba(self.colour, f"garment {self.garment!r}"))
        if not isinstance(self.layer, int) or not 0 <= self.layer <= 9:
            raise InputError(f"garment {self.garment!r}: layer must be a whole number 0-9, got {self.layer!r}")
        object.__setattr__(self, "settings", dict(self.settings or {}))
        size = self.size
        if size is not None and kind != "pattern":
            raise InputError(
                f"{kind} {self.name!r} is not graded, so it cannot take size {size!r}",
                hint=("shape a template with its settings (e.g. ease in metres) or use a library pattern "
                      "(`atelier garment list`)") if kind == "template" else
                     "grade the garment in CLO / Marvelous Designer and export it again")
        if isinstance(size, str):
            from .sizes import size_measurements

            if size.lower() == "mtm":
                size = "mtm"
            else:
                size_measurements(size)
                size = size.upper()
            object.__setattr__(self, "size", size)
        if kind == "pattern" and self.settings:
            raise InputError(f"pattern {self.garment!r} takes no settings ({', '.join(sorted(self.settings))})",
                             hint="a pattern is shaped by its size (a chart size, mtm or measurements in cm)")
        if kind == "mesh":
            extra = sorted(set(self.settings) - set(MESH_OPTIONS))
            if extra:
                raise InputError(f"garment mesh {self.garment!r}: unknown options {', '.join(extra)}",
                                 hint=f"a mesh takes: {', '.join(MESH_OPTIONS)}")
        if kind == "template":
            builder_settings = {"tube-dress": "TubeDressSettings", "skirt": "SkirtSettings"}.get(self.garment)
            if builder_settings:
                from . import templates

                known = set(vars(getattr(templates, builder_settings)()))
                extra = sorted(set(self.settings) - known)
                if extra:
                    raise InputError(f"template {self.garment!r} has no setting {', '.join(extra)}",
                                     hint=f"settings: {', '.join(sorted(known))}")

    @property
    def name(self) -> str:
        """The garment's name: the pattern or template name, or the mesh file's stem."""
        return Path(self.garment).stem if self.kind == "mesh" else self.garment

    def to_dict(self) -> dict:
        """The JSON form (what an outfit file holds; mesh paths as given)."""
        d = {"garment": self.garment, "kind": self.kind, "size": self.size, "fabric": self.fabric,
             "colour": list(self.colour) if self.colour is not None else None, "layer": self.layer,
             "settings": dict(self.settings)}
        return {k: v for k, v in d.items() if v not in (None, {})}

    @classmethod
    def from_dict(cls, data: dict, base: Path | None = None) -> "GarmentRequest":
        """A request from its JSON/TOML form: ``garment`` (or ``pattern`` / ``template`` / ``mesh``,
        which also say the kind), ``size``, ``fabric``, ``colour``, ``layer``, ``settings`` and, for
        meshes, ``units``/``up``/``avatar``/``region``. A relative mesh path is read from ``base``.
        Unknown keys are refused."""
        d = dict(data)
        named = [k for k in ("garment", "pattern", "template", "mesh") if d.get(k) is not None]
        if len(named) != 1:
            raise InputError(f"a garment needs exactly one of garment, pattern, template or mesh, got {named or 'none'}: {data}")
        key = named[0]
        garment = str(d.pop(key))
        kind = d.pop("kind", None) or (key if key != "garment" else None)
        settings = dict(d.pop("settings", None) or {})
        for opt in MESH_OPTIONS:
            if d.get(opt) is not None:
                settings[opt] = d.pop(opt)
            d.pop(opt, None)
        if (kind == "mesh" or Path(garment).suffix.lower() in MESH_SUFFIXES) and base is not None:
            if not Path(garment).is_absolute():
                garment = str(Path(base) / garment)
            if settings.get("avatar") and not Path(settings["avatar"]).is_absolute():
                settings["avatar"] = str(Path(base) / settings["avatar"])
        allowed = {"size", "fabric", "colour", "color", "layer"}
        extra = sorted(set(d) - allowed)
        if extra:
            raise InputError(f"garment {garment!r}: unknown keys {', '.join(extra)}",
                             hint="a garment takes garment|pattern|template|mesh, size, fabric, colour, layer, settings")
        colour = d.get("colour", d.get("color"))
        return cls(garment=garment, kind=kind, size=d.get("size"), fabric=d.get("fabric"), colour=colour,
                   layer=int(d.get("layer", 0)), settings=settings)


@dataclass(frozen=True)
class Outfit:
    """Garments worn together.

    Attributes:
        garments: the requests, draped in :meth:`layered` order.
        name: identifier (file names, reports).
    """

    garments: tuple
    name: str = "outfit"

    def __post_init__(self):
        reqs = tuple(g if isinstance(g, GarmentRequest) else GarmentRequest.from_dict(g) for g in self.garments)
        if not reqs:
            raise InputError("an outfit needs at least one garment")
        object.__setattr__(self, "garments", reqs)

    @classmethod
    def of(cls, *garments, size=None, fabric=None, name: str | None = None) -> "Outfit":
        """An outfit of garment names (or requests), layered in the order given unless a request
        says otherwise; ``size`` and ``fabric`` apply to every garment that takes them (a size is
        refused by templates and meshes)."""
        reqs = []
        for i, g in enumerate(garments):
            if isinstance(g, GarmentRequest):
                reqs.append(g)
                continue
            reqs.append(GarmentRequest(str(g), size=size, fabric=fabric, layer=min(i, 9)))
        return cls(tuple(reqs), name=name or "+".join(r.name for r in reqs))

    @classmethod
    def load(cls, path: PathLikeStr) -> "Outfit":
        """An outfit file (``.toml``, ``.json``, ``.yaml``): ``name`` and a ``garments`` list of
        :meth:`GarmentRequest.from_dict` entries; ``size`` / ``fabric`` at the top apply to
        every garment that gives none (a size only to patterns)."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"outfit file {path} does not exist")
        text = path.read_text()
        suffix = path.suffix.lower()
        try:
            if suffix == ".toml":
                import tomllib

                data = tomllib.loads(text)
            elif suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            elif suffix == ".json":
                data = json.loads(text)
            else:
                raise InputError(f"{path}: unknown outfit file type", hint="use .toml, .json or .yaml")
        except InputError:
            raise
        except Exception as exc:  # a syntax error of the file's format
            raise InputError(f"{path}: cannot read it: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("garments"), list):
            raise InputError(f"{path}: an outfit file needs a garments list", hint="[[garments]] garment = \"t-shirt\"")
        extra = sorted(set(data) - {"name", "garments", "size", "fabric"})
        if extra:
            raise InputError(f"{path}: unknown keys {', '.join(extra)}", hint="an outfit file takes name, size, fabric, garments")
        reqs = []
        for i, g in enumerate(data["garments"]):
            if not isinstance(g, dict):
                raise InputError(f"{path}: garment {i + 1} is not a table")
            g = {"layer": i, **g}
            r = GarmentRequest.from_dict(g, base=path.parent)
            if r.size is None and data.get("size") is not None and r.kind == "pattern":
                r = replace(r, size=data["size"])
            if r.fabric is None and data.get("fabric") is not None:
                r = replace(r, fabric=data["fabric"])
            reqs.append(r)
        return cls(tuple(reqs), name=str(data.get("name") or path.stem))

    def layered(self) -> list[GarmentRequest]:
        """The requests sorted by layer, list order among equals (the drape order)."""
        return [g for _, g in sorted(enumerate(self.garments), key=lambda p: (p[1].layer, p[0]))]

    def to_dict(self) -> dict:
        return {"name": self.name, "garments": [g.to_dict() for g in self.garments]}

    @property
    def has_pattern(self) -> bool:
        return any(g.kind == "pattern" for g in self.garments)


@dataclass
class OutfitResult:
    """The drapes of an outfit.

    Attributes:
        outfit: what was draped.
        layers: one :class:`~garments.drape.DrapeResult` per request, in drape order.
        layer_dirs: each layer's folder (``out_dir`` itself for a single garment).
        layer_penetration_pct: per layer, {name of a layer below: % of this layer's vertices
            more than 2 mm inside it} (empty for the innermost).
        out_dir: the outfit folder.
        seconds: wall time of all drapes, s.
    """

    outfit: Outfit
    layers: list
    layer_dirs: list
    layer_penetration_pct: list
    out_dir: Path
    seconds: float

    @property
    def frames(self) -> int:
        return int(sum(r.frames for r in self.layers))

    @property
    def penetration_pct(self) -> float:
        """The worst penetration of any layer, of the body or of a layer below, %."""
        below = [p for d in self.layer_penetration_pct for p in d.values()]
        return float(max([r.penetration_pct for r in self.layers] + below))

    @property
    def settled(self) -> bool:
        return all(r.settled for r in self.layers)


def layer_penetration(outer_vertices: np.ndarray, inner_vertices: np.ndarray, inner_faces: np.ndarray,
                      body: BodyDistance, depth: float = PENETRATION_DEPTH_M) -> tuple[float, np.ndarray]:
    """How much of an outer layer lies inside a lower one.

    A garment is an open surface, so "inside" is read against the body: an outer vertex is inside
    the lower layer when it lies over one of the lower layer's faces (the direction to its
    closest point there within 60 degrees of that face's normal, either side, and within
    :data:`LAYER_REACH_M`) and is more than ``depth`` closer to the body than that closest point.

    Args:
        outer_vertices: (N, 3) the outer layer, metres, canonical frame.
        inner_vertices, inner_faces: (M, 3), (K, 3) the lower layer.
        body: the body's :class:`~garments.clearance.BodyDistance`.

    Returns:
        (fraction of outer vertices inside, (N,) float64 depth inside the lower layer in metres,
        positive inside, 0 where the vertex is not over it).
    """
    p = np.asarray(outer_vertices, np.float64)
    _, cp, n = closest_points(BodyDistance(inner_vertices, inner_faces), p)
    d = p - cp
    dist = np.linalg.norm(d, axis=1)
    cos = np.abs(np.einsum("nd,nd->n", d, n)) / np.maximum(dist, 1e-12)
    over = ((cos > 0.5) | (dist < 1e-6)) & (dist < LAYER_REACH_M)
    deeper = body(cp) - body(p)
    inside_by = np.where(over, np.maximum(deeper, 0.0), 0.0)
    return (float(np.mean(inside_by > depth)) if len(p) else 0.0), inside_by


def _thickness_below(layers: list, body: BodyDistance) -> float:
    """How far the draped layers below stand off the body where they lie, metres: the median
    clearance of their vertices (0 when there are none)."""
    if not layers:
        return 0.0
    c = np.concatenate([np.asarray(r.clearance_mm, np.float64) / 1000.0 for r in layers])
    return float(np.clip(np.median(c), 0.0, 0.03))


def drape_request(request: GarmentRequest, body: tuple, out_dir: PathLikeStr, *, rest_body: tuple | None = None,
                  colliders: list | None = None, below: list | None = None, resolution=None,
                  max_frames: int = MAX_FRAMES, timeout: float = 900.0, progress=None, settings=None,
                  mtm: dict | None = None) -> DrapeResult:
    """Drape one request on a posed body (``(vertices, faces, joints)``, canonical frame, metres)
    with the ``colliders`` of the layers under it (``below``: their DrapeResults, whose standing
    off the body widens the start of this one). ``mtm``: the size-chart measurements (cm) of the
    rest body, used for ``size="mtm"``. See :func:`drape_outfit`."""
    v, f, j = body
    size = mtm if request.size == "mtm" else request.size
    if request.size == "mtm" and mtm is None:
        from bodies.measure import measure

        from .sizes import mtm_measurements

        rv, rf, rj = rest_body if rest_body is not None else body
        size = mtm_measurements(measure(rv, rf, rj))
    bd = BodyDistance(v, f) if below else None
    extra = _thickness_below(below or [], bd) if below else 0.0
    if request.kind == "pattern":
        from .dress import drape_pattern

        return drape_pattern(v, f, j, request.garment, out_dir, resolution=resolution or 5000, max_frames=max_frames,
                             timeout=timeout, progress=progress, settings=settings, size=size, fabric=request.fabric,
                             rest_body=rest_body, colliders=colliders, clearance=PLACEMENT_CLEARANCE_M + extra)
    if request.kind == "template":
        from .drape import drape_garment

        gs = dict(request.settings)
        if extra:
            from .templates import TubeDressSettings

            gs["ease"] = float(gs.get("ease", TubeDressSettings().ease)) + extra
        return drape_garment(v, f, j, garment=request.garment, out_dir=out_dir, resolution=int(resolution or 5000),
                             max_frames=max_frames, timeout=timeout, progress=progress, settings=settings,
                             garment_settings=gs, fabric=request.fabric, colliders=colliders)
    from .imported import drape_imported, load_avatar, load_garment_mesh

    if resolution:
        raise InputError(f"garment mesh {request.name!r} keeps its own resolution; leave resolution out",
                         hint="remesh the garment where it was made and export it again")
    opts = request.settings
    av = load_avatar(opts["avatar"], opts.get("units"), opts.get("up")) if opts.get("avatar") else None
    garment = load_garment_mesh(request.garment, units=opts.get("units") or (av.units if av else None),
                                up=opts.get("up") or (av.up if av else None))
    return drape_imported(v, f, j, garment, out_dir, avatar=av, region=opts.get("region"), fabric=request.fabric,
                          max_frames=max_frames, timeout=timeout, progress=progress, settings=settings,
                          rest_body=rest_body, colliders=colliders)


def drape_outfit(outfit: Outfit, body: tuple, out_dir: PathLikeStr, *, rest_body: tuple | None = None,
                 resolution=None, max_frames: int = MAX_FRAMES, timeout: float = 900.0, progress=None,
                 settings=None, mtm: dict | None = None, scenery: list | None = None) -> OutfitResult:
    """Drape an outfit's garments on a posed body in layer order.

    Args:
        outfit: the garments.
        body: (vertices (V, 3) float32, faces (F, 3) int64, joints (16, 3)), metres, canonical frame.
        out_dir: output folder (created); see the module docstring for what it holds.
        rest_body: (vertices, faces, joints) of the rest pose that patterns and meshes are placed
            around before the body moves into ``body`` (draping into a pose); None: placed on ``body``.
        resolution: cloth vertex count (>= 50) or edge length (m, < 1) of patterns and templates.
        max_frames, timeout, progress, settings: of each layer's drape (``timeout`` is shared:
            each layer gets what the layers before it left).
        mtm: size-chart measurements (cm) for ``size="mtm"``; None measures the rest body.
        scenery: props every layer collides with besides the body, ``[(vertices, faces, start
            vertices or None)]`` (metres, canonical frame): a prop with a start shape grows from it
            into place while the body moves into the pose (the seated pose's stool, which would
            otherwise stand inside the legs of the A-pose the garments are placed around).

    Raises:
        InputError: a bad request. SimulationError: a layer exploded, or more than 1 % of it
        ended over 2 mm inside the body or a layer below. JobError: Blender crashed or timed out.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    order = outfit.layered()
    single = len(order) == 1
    t0 = time.monotonic()
    v, f, _ = body
    bd = BodyDistance(v, f)
    results: list[DrapeResult] = []
    dirs: list[Path] = []
    below_pct: list[dict] = []
    names = _layer_names(order)
    for i, req in enumerate(order):
        d = out if single else out / "layers" / names[i]
        left = max(10.0, timeout - (time.monotonic() - t0))
        res = drape_request(req, body, d, rest_body=rest_body,
                            colliders=[*(scenery or []), *((r.vertices, r.faces) for r in results)],
                            below=results, resolution=resolution, max_frames=max_frames, timeout=left,
                            progress=progress, settings=replace(settings) if settings is not None else None, mtm=mtm)
        pct = {}
        for lower, lower_name in zip(results, names):
            frac, _ = layer_penetration(res.vertices, lower.vertices, lower.faces, bd)
            pct[lower_name] = round(frac * 100.0, 4)
        results.append(res)
        dirs.append(d)
        below_pct.append(pct)
        worst = max(pct.items(), key=lambda kv: kv[1], default=None)
        if worst and worst[1] > MAX_PENETRATION * 100.0:
            _write_outfit(outfit, order, results, dirs, below_pct, out, bd, body, time.monotonic() - t0, single)
            raise SimulationError(
                f"penetration guard: {worst[1]:.1f} % of the {req.name} cloth vertices ended more than "
                f"{PENETRATION_DEPTH_M * 1000:.0f} mm inside the {worst[0]} under it (limit {MAX_PENETRATION * 100:.0f} %)",
                hint=f"give the outer garment a larger size or more frames; see {d / 'garment.ply'} and {res.log_path}",
                log_path=res.log_path)
    seconds = time.monotonic() - t0
    _write_outfit(outfit, order, results, dirs, below_pct, out, bd, body, seconds, single)
    return OutfitResult(outfit=outfit, layers=results, layer_dirs=dirs, layer_penetration_pct=below_pct, out_dir=out,
                        seconds=seconds)


def _layer_names(order: list) -> list[str]:
    return [f"{i}-{r.name}" for i, r in enumerate(order)]


def _colour8(req: GarmentRequest, i: int) -> tuple:
    c = req.colour or LAYER_COLOURS[i % len(LAYER_COLOURS)]
    return tuple(int(round(x * 255)) for x in c)


def _write_outfit(outfit, order, results, dirs, below_pct, out: Path, bd: BodyDistance, body, seconds, single) -> None:
    names = _layer_names(order)
    write_json(out / "outfit.json", {
        "name": outfit.name, "garments": [r.to_dict() for r in order],
        "layers": [str(d.relative_to(out)) if d != out else "." for d in dirs],
        "colours": [list(r.colour or LAYER_COLOURS[i % len(LAYER_COLOURS)]) for i, r in enumerate(order)],
        "units": {"colours": "linear RGBA in [0, 1], one per layer (the request's, else the layer's default)"}})
    if single:
        return
    from .dress import export_glb

    v, f, _ = body
    gv = np.concatenate([r.vertices for r in results]).astype(np.float32)
    offsets = np.cumsum([0] + [len(r.vertices) for r in results])
    gf = np.concatenate([r.faces + offsets[i] for i, r in enumerate(results)]).astype(np.int64)
    clearance_mm = np.concatenate([np.asarray(r.clearance_mm, np.float32) for r in results])
    layer = np.concatenate([np.full(len(r.vertices), i, np.float32) for i, r in enumerate(results)])
    save_ply(out / "garment.ply", gv, gf, attributes={"clearance_mm": clearance_mm, "layer": layer},
             comments=[f"atelier draped outfit {outfit.name}: {', '.join(names)}, metres, canonical frame",
                       "clearance_mm: signed distance to the body in mm, negative inside; layer: index in drape order"])
    export_glb(out / "dressed.glb", [("body", v, f, (224, 186, 160, 255))]
               + [(names[i], r.vertices, r.faces, _colour8(order[i], i)) for i, r in enumerate(results)])
    fits = []
    for name, d in zip(names, dirs):
        p = d / "fit.json"
        fits.append({"layer": name, **(json.loads(p.read_text()) if p.exists() else {})})
    write_json(out / "fit.json", {"garment": outfit.name, "layers": fits})
    layers = []
    for i, (r, d) in enumerate(zip(results, dirs)):
        layers.append({"name": names[i], "garment": order[i].name, "kind": order[i].kind, "dir": str(d.relative_to(out)),
                       "size": order[i].size if not isinstance(order[i].size, dict) else "measurements",
                       "fabric": order[i].fabric, "vertices": int(len(r.vertices)), "frames": int(r.frames),
                       "settled": bool(r.settled), "seconds": round(float(r.seconds), 2),
                       "penetration_pct": round(float(r.penetration_pct), 4),
                       "penetration_of_layers_below_pct": below_pct[i]})
    worst = max([r.penetration_pct for r in results] + [p for d in below_pct for p in d.values()])
    write_json(out / "drape_report.json", {
        "garment": outfit.name, "outfit": outfit.to_dict(), "layers": layers, "vertices": int(len(gv)),
        "faces": int(len(gf)), "frames": int(sum(r.frames for r in results)),
        "settled": all(r.settled for r in results), "seconds": round(float(seconds), 2),
        "penetration_pct": round(float(worst), 4), "ok": worst <= MAX_PENETRATION * 100.0,
        "clearance_mm": {"min": round(float(clearance_mm.min()), 2), "median": round(float(np.median(clearance_mm)), 2)},
        "files": {"ply": "garment.ply", "fit": "fit.json", "glb": "dressed.glb", "outfit": "outfit.json"},
        "units": {"length": "m", "clearance": "mm", "frame": "canonical: +Y up, facing +Z, feet on y=0"},
    })


def drape_twin(twin_dir: PathLikeStr, garment: "str | GarmentRequest | Outfit" = "tube-dress",
               out_dir: PathLikeStr = "drape", model=None, pose: str | None = None, size=None, fabric=None,
               **kw) -> "OutfitResult | DrapeResult":
    """Drape a garment or an outfit on a saved twin.

    Args:
        twin_dir: folder with ``twin.json`` (see :class:`bodies.twin.Twin`).
        garment: a garment name or mesh path, a :class:`GarmentRequest` or an :class:`Outfit`.
        out_dir: output folder; also gets ``body.ply`` (the posed collider) and ``dressed.json``.
        model: the twin's body model, or None to build it with ``bodies.create(twin.model)``.
        pose: a pose preset name (e.g. "a-pose") to drape in instead of the twin's own pose.
            Patterns and meshes are placed around the twin in the A-pose and the body then moves
            into this pose while the cloth simulates (unless it is the A-pose itself).
        size, fabric: for a garment name: its size and fabric (see :class:`GarmentRequest`).
        **kw: passed to :func:`drape_outfit` (resolution, max_frames, timeout, progress, settings).

    Returns:
        the :class:`~garments.drape.DrapeResult` when ``garment`` is one name or request, the
        :class:`OutfitResult` for an :class:`Outfit`.
    """
    import bodies
    from bodies.twin import Twin

    if isinstance(garment, Outfit):
        outfit, one = garment, False
    elif isinstance(garment, GarmentRequest):
        outfit, one = Outfit((garment,), name=garment.name), True
    else:
        outfit, one = Outfit.of(str(garment), size=size, fabric=fabric), True
    twin = Twin.load(twin_dir)
    if model is None:
        model = bodies.create(twin.model)
    result = dress_twin(twin, model, outfit, out_dir, pose=pose, twin_dir=twin_dir, **kw)
    return result.layers[0] if one else result


def dress_twin(twin, model, outfit: Outfit, out_dir: PathLikeStr, pose: str | None = None,
               twin_dir: PathLikeStr | None = None, **kw) -> OutfitResult:
    """Drape an outfit on a :class:`bodies.twin.Twin` built with ``model``: the posed body goes to
    ``out_dir/body.ply``, what was dressed to ``dressed.json``, the drapes as
    :func:`drape_outfit`; ``size="mtm"`` grades to the twin's A-pose measurements. See
    :func:`drape_twin` for ``pose``."""
    from bodies.measure import measure
    from bodies.poses import pose_preset
    from bodies.twin import Twin

    if pose is not None:
        from bodies.posefile import resolve_pose

        # a preset name (bodies.poses) or a pose file (.json, docs/poses.md)
        twin = Twin(model=twin.model, shape=twin.shape, pose=resolve_pose(model, pose)[0].tolist(),
                    translation=twin.translation, pose_name=str(pose), source=twin.source)
    verts, faces, joints = twin.body(model)
    rest_body = kw.pop("rest_body", None)
    needs_rest = any(g.kind in ("pattern", "mesh") for g in outfit.garments)
    rest = None
    if needs_rest or any(g.size == "mtm" for g in outfit.garments):
        rest = Twin(model=twin.model, shape=twin.shape, pose=pose_preset(model, "a-pose")[0].tolist(),
                    translation=twin.translation, pose_name="a-pose", source=twin.source).body(model)
        already_a_pose = np.allclose(np.asarray(verts, np.float32), np.asarray(rest[0], np.float32), atol=1e-5)
        if rest_body is None and needs_rest and not already_a_pose:
            rest_body = rest
    mtm = None
    if any(g.size == "mtm" for g in outfit.garments):
        from .sizes import mtm_measurements

        mtm = mtm_measurements(measure(*rest))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_ply(out / "body.ply", verts, faces,
             comments=[f"atelier posed body ({twin.model}, pose {twin.pose_name or 'fitted'}), metres, canonical frame"])
    sizes = [g.size if not isinstance(g.size, dict) else "measurements" for g in outfit.layered()]
    one = len(outfit.garments) == 1
    write_json(out / "dressed.json", {
        "twin_dir": str(Path(twin_dir).resolve()) if twin_dir is not None else None, "model": twin.model,
        "pose": twin.pose_name, "source": twin.source, "garment": outfit.name, "size": sizes[0] if one else sizes,
        "fabric": outfit.garments[0].fabric if one else [g.fabric for g in outfit.layered()],
        "outfit": outfit.to_dict(), "mtm_cm": mtm,
    })
    scenery = kw.pop("scenery", None)
    if scenery is None:
        scenery = _pose_props(twin.pose_name, verts, joints, out)
    return drape_outfit(outfit, (verts, faces, joints), out, rest_body=rest_body, mtm=mtm, scenery=scenery, **kw)


#: a prop's start shape while the body moves into the pose: shrunk towards the centre of its base
#: to this share of its width and height (a small puck on the floor between the feet)
PROP_START_SCALE = (0.1, 0.05, 0.1)


def _pose_props(pose_name: str | None, verts, joints, out: Path) -> list:
    """The props of a pose preset as drape scenery: the seated poses' stool
    (:func:`bodies.poses.stool_for`, written to ``out/stool.ply``), growing from a puck on the
    floor to its height while the body sits down. Other poses have none."""
    from bodies.poses import SEATED_POSES, stool_for

    if pose_name not in SEATED_POSES:
        return []
    sv, sf = stool_for(verts, joints)
    save_ply(out / "stool.ply", sv, sf, comments=["atelier seated-pose stool (a drape collider), metres, canonical frame"])
    base = np.array([sv[:, 0].mean(), 0.0, sv[:, 2].mean()], np.float32)
    start = base + (sv - base) * np.asarray(PROP_START_SCALE, np.float32)
    return [(sv, sf, start)]


__all__ = ["GarmentRequest", "Outfit", "OutfitResult", "drape_outfit", "drape_request", "drape_twin", "dress_twin", "garment_kind",
           "layer_penetration", "KINDS"]
