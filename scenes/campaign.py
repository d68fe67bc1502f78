"""Campaign expansion: the cross product of a campaign's lists, filtered by rules, as cells with
stable ids, plus the drapes they share and an estimate of the time it takes.

A cell is one image: twin x outfit x size x pose x shot x locale x format. Its id is the first 16
hex digits of the SHA-256 of its *resolved inputs* (the twin's parameters or its ``twin.json``
hash, the garments with the size applied and the locale's colourway, the shot, backdrop, lights,
format, renderer settings, drape settings and the engine version), so the same inputs always get
the same id and output folder, and a change to any of them gives a new one.

A drape is what cells share: twin x pose x garments (with size and fabric, without colours) x
drape settings. Its key is hashed the same way; every cell names the drape it needs.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

from engine import __version__
from engine.errors import InputError
from engine.storage import file_sha256, json_sha256

from .model import Campaign, Scene, Size, rgba

ID_LENGTH = 16
DEFAULT_SIZE = "std"
DIMENSIONS = ("twin", "outfit", "size", "pose", "shot", "locale", "format")


class Refused(Exception):
    """Raised by an ``authorise`` hook of a campaign run: the cell must not be rendered (e.g. no
    consent); it ends as ``refused``, neither failed nor retried."""


@dataclass(frozen=True)
class Cell:
    """One image of a campaign.

    Attributes:
        id: 16 hex digits, stable hash of ``inputs``.
        labels: the names along each dimension: {"twin", "outfit", "size", "pose", "shot",
            "locale", "format"}.
        inputs: everything that determines the image (JSON-serialisable).
        drape_key: key of the drape this cell renders.
    """

    id: str
    labels: dict
    inputs: dict
    drape_key: str

    @property
    def label(self) -> str:
        """``twin/outfit/size/pose/shot/locale/format``."""
        return "/".join(str(self.labels[d]) for d in DIMENSIONS)

    @property
    def slug(self) -> str:
        """File-name-safe label: ``twin_outfit_size_pose_shot_locale_format``."""
        return "_".join(str(self.labels[d]) for d in DIMENSIONS)


@dataclass
class DrapeJob:
    """A drape shared by cells: ``inputs`` hashed to ``key``; ``cells`` are the ids that use it."""

    key: str
    inputs: dict
    cells: list[str] = field(default_factory=list)


@dataclass
class Estimate:
    """Time estimate of a plan, seconds (``workers`` in parallel)."""

    drapes: int
    cells: int
    drape_s: float
    render_s: float
    workers: int

    @property
    def total_s(self) -> float:
        """Wall time: drapes and renders spread over the workers (at most one job each)."""
        return (self.drape_s + self.render_s) / max(1, self.workers)


@dataclass
class Plan:
    """The expanded campaign: cells in a stable order and the drapes they need."""

    campaign: Campaign
    cells: list[Cell]
    drapes: dict[str, DrapeJob]
    excluded: int = 0

    def estimate(self, workers: int = 1, done: set[str] | None = None, cached: set[str] | None = None) -> Estimate:
        """Rough wall time from per-job costs measured on this project's 2-core machine
        (Blender cloth ~0.43 s/frame for 5k vertices at quality 3-4 with a decimated collider,
        ~5 s of Blender start-up, pyrender ~0.5 s a view at 512 px, Workbench ~3 s a view)."""
        done = done or set()
        cached = cached or set()
        todo = [c for c in self.cells if c.id not in done]
        keys = {c.drape_key for c in todo} - cached
        drape_s = sum(_drape_cost(self.drapes[k].inputs) for k in keys)
        render_s = sum(_cell_cost(c.inputs) for c in todo)
        return Estimate(len(keys), len(todo), drape_s, render_s, workers)

    def table(self, done: set[str] | None = None) -> list[str]:
        """One text line per cell: id, state, label."""
        done = done or set()
        return [f"{c.id}  {'done' if c.id in done else 'todo'}  {c.label}" for c in self.cells]


def _drape_cost(inputs: dict) -> float:
    d = inputs["drape"]
    per_frame = 0.43 * d["resolution"] / 5000.0
    garments = max(1, len(inputs["garments"]))
    return 8.0 + garments * (5.0 + per_frame * d["max_frames"])


def _cell_cost(inputs: dict) -> float:
    fmt = inputs["format"]
    if fmt.get("video"):  # cloth simulated and drawn per frame: ~0.6 s a frame at 2k vertices
        v = fmt["video"]
        return 10.0 + 0.6 * ((v.get("frames") or v["seconds"] * v["fps"]) + v["preroll"])
    px = fmt["width"] * fmt["height"] / (512.0 * 512.0)
    r = inputs["render"]
    if r["renderer"] == "pyrender":
        return 1.0 + 0.5 * px
    if r["engine"] == "workbench":
        return 6.0 + 3.0 * px
    return 6.0 + 0.05 * r["samples"] * px * 10.0


def short_hash(data) -> str:
    """First :data:`ID_LENGTH` hex digits of :func:`engine.storage.json_sha256`."""
    return json_sha256(data)[:ID_LENGTH]


def _twin_inputs(twin, pose_override: str | None) -> tuple[dict, str | None]:
    """(resolved twin inputs, pose name) for hashing and for the drape job."""
    if twin.path:
        p = Path(twin.path)
        tj = p / "twin.json" if p.is_dir() or not p.suffix else p
        if not tj.exists():
            raise InputError(f"twin {twin.name!r}: {tj} does not exist",
                             hint="make the twin with `atelier fit SCAN --out DIR` or give its shape instead of a path")
        src = {"path": str(tj.parent), "twin_json_sha256": file_sha256(tj)}
        pose = pose_override or twin.pose
    else:
        src = {"model": twin.model, "shape": list(twin.shape) if twin.shape is not None else [0.5] * 6}
        pose = pose_override or twin.pose or "a-pose"
    return {"name": twin.name, **src}, pose


def _garments(outfit, size: Size | None, colourway: str | None) -> list[dict]:
    """The outfit's garments in layer order as :class:`garments.outfit.GarmentRequest` dicts
    (size applied: patterns graded to its chart size, templates given its settings; fabric
    resolved in the one registry), each with its colour in the colourway and, for a mesh, the
    file's sha256 (so an edited file is a new drape)."""
    if outfit is None:
        return []
    colours = outfit.colours(colourway)
    out = []
    for i, g in outfit.layered():
        try:
            req = g.request(size)
        except ValueError as exc:
            raise InputError(f"outfit {outfit.name!r}: {exc}") from None
        d = req.to_dict()
        d.pop("colour", None)
        if req.kind == "mesh":
            d["sha256"] = file_sha256(req.garment)
        out.append({**d, "name": req.name, "colour": list(rgba(colours[i]))})
    return out


def _backdrop(b) -> dict:
    """A locale's backdrop as cell inputs (the fields of engine.render.looks.Backdrop, plus the
    ambient light and the ground shadow); older files give the same two keys as before."""
    out = {"colour": list(rgba(b.colour)), "ambient": list(b.ambient)}
    kind = b.resolved_kind()
    if b.kind is not None or b.ground_shadow:
        out.update(kind=kind, ground_shadow=b.ground_shadow)
    if kind == "gradient":
        out["colour2"] = list(rgba(b.colour2))
    if kind == "image":
        if not Path(b.image).is_file():
            raise InputError(f"backdrop image {b.image} does not exist", hint="give the path of a PNG or JPEG")
        out["image"] = {"path": b.image, "sha256": file_sha256(b.image)}
    return out


def _lights(lights) -> list[dict] | None:
    if lights is None:
        return None
    return [{"name": l.name, "direction": list(l.direction), "colour": list(rgba(l.colour))[:3],
             "intensity": l.intensity} for l in lights]


def _video_inputs(fmt) -> dict | None:
    """A video format's spec as cell inputs (a BVH clip by its content hash too), or None for a
    still. A clip that does not exist is refused here, at ``plan``."""
    if fmt.video is None:
        return None
    v = fmt.video.model_dump()
    if v["motion"].lower().endswith(".bvh"):
        if not Path(v["motion"]).is_file():
            raise InputError(f"format {fmt.name!r}: BVH clip {v['motion']} does not exist",
                             hint="give the path of a .bvh file (relative paths are read from the campaign file's folder)")
        v["bvh_sha256"] = file_sha256(v["motion"])
    return v


def make_cell(campaign_like, twin, outfit, size, pose, shot, locale, fmt) -> tuple[Cell, dict]:
    """Resolve one combination into a :class:`Cell` and its drape's inputs. A video format's cell
    animates a drape made in the A-pose (the motion starts there); its pose is the one a
    turntable holds."""
    video = _video_inputs(fmt)
    twin_in, pose_name = _twin_inputs(twin, pose)
    colourway = getattr(locale, "colourway", None)
    garments = _garments(outfit, size, colourway)
    drape_opts = campaign_like.drape.model_dump()
    drape_inputs = {
        "twin": twin_in,
        "pose": "a-pose" if video is not None else pose_name,
        # the colour is not part of the drape: every colourway of an outfit shares it
        "garments": [{k: v for k, v in g.items() if k not in ("colour", "name")} for g in garments],
        "drape": drape_opts,
        "engine": __version__,
    }
    drape_key = short_hash(drape_inputs)
    lights = locale.lights if getattr(locale, "lights", None) is not None else campaign_like.lights
    look = getattr(locale, "look", None)
    if look is None and getattr(locale, "lights", None) is None and "backdrop" not in locale.model_fields_set:
        look = getattr(campaign_like, "look", None)
    inputs = {
        "drape_key": drape_key,
        "twin": twin_in,
        "pose": pose_name,
        "garments": garments,
        "shot": shot.model_dump(exclude_none=True),
        "backdrop": _backdrop(locale.backdrop),
        "lights": _lights(lights),
        # a look of engine.render.looks: lighting, skin, backdrop and shadow as `atelier render --look`
        **({"look": look} if look else {}),
        **({"hair": twin.hair or campaign_like.hair} if (twin.hair or campaign_like.hair) else {}),
        "format": {**fmt.model_dump(exclude={"video"}), **({"video": video} if video is not None else {})},
        "render": {**campaign_like.render.model_dump(), "skin": list(rgba(campaign_like.render.skin))},
        # where the image goes decides its consent and ledger record, so it is part of the cell
        "delivery": {"channel": getattr(campaign_like, "channel", "internal-fit-check"),
                     "region": getattr(locale, "region", "*"), "registry_id": getattr(twin, "registry_id", None)},
        "engine": __version__,
    }
    labels = {
        "twin": twin.name,
        "outfit": outfit.name if outfit is not None else "bare",
        "size": size.name if size is not None else DEFAULT_SIZE,
        "pose": pose_name or "own",
        "shot": shot.name,
        "locale": locale.name,
        "format": fmt.name,
    }
    return Cell(short_hash(inputs), labels, inputs, drape_key), drape_inputs


#: campaigns of more combinations than this are refused unless a larger limit is given
#: (``--max-cells``): a million cells took 78 s and 3.9 GB just to plan.
MAX_CELLS = 20_000


def expand(campaign: Campaign, max_cells: int = MAX_CELLS) -> Plan:
    """All cells of a campaign in a stable order (the file's list order, twin slowest), after
    ``include`` and ``exclude``; the drapes they need.

    Raises:
        InputError: a twin folder is missing, the rules leave no cell, or the lists make more
            than ``max_cells`` combinations (counted before any cell is made).
    """
    sizes = campaign.sizes or [None]
    poses = campaign.poses or [None]
    lists = {"twins": campaign.twins, "outfits": campaign.outfits, "sizes": sizes, "poses": poses,
             "shots": campaign.shots, "locales": campaign.locales, "formats": campaign.formats}
    combinations = math.prod(len(v) for v in lists.values())
    if combinations > max_cells:
        raise InputError(
            f"campaign {campaign.name!r} makes {combinations:,} combinations ("
            + " x ".join(f"{len(v)} {k}" for k, v in lists.items()) + f"), more than the limit of {max_cells:,}",
            hint=f"shorten the lists or narrow them with include/exclude rules, or pass --max-cells {combinations} "
                 "if you mean it")
    cells: list[Cell] = []
    drapes: dict[str, DrapeJob] = {}
    seen: set[str] = set()
    excluded = 0
    for twin, outfit, size, pose, shot, locale, fmt in itertools.product(
            campaign.twins, campaign.outfits, sizes, poses, campaign.shots, campaign.locales, campaign.formats):
        cell, drape_inputs = make_cell(campaign, twin, outfit, size, pose, shot, locale, fmt)
        if campaign.include and not any(r.matches(cell.labels) for r in campaign.include):
            excluded += 1
            continue
        if any(r.matches(cell.labels) for r in campaign.exclude):
            excluded += 1
            continue
        if cell.id in seen:  # two combinations that resolve to the same image
            continue
        seen.add(cell.id)
        cells.append(cell)
        drapes.setdefault(cell.drape_key, DrapeJob(cell.drape_key, drape_inputs)).cells.append(cell.id)
    if not cells:
        raise InputError(f"campaign {campaign.name!r}: the include/exclude rules leave no cell to render",
                         hint="loosen the rules or check their names against the lists")
    return Plan(campaign, cells, drapes, excluded)


def scene_to_campaign(scene: Scene) -> Campaign:
    """The campaign that renders a scene: its twins x its outfit x its shots x its formats, with
    one locale made of the scene's backdrop, lights and colourway."""
    from .model import Locale, Outfit

    # A scene without an outfit still needs a placeholder here; expand_scene renders it bare.
    bare = Outfit(name="bare", garments=[{"template": "tube-dress"}])
    camp = Campaign(
        name=scene.name,
        twins=scene.twins,
        outfits=[scene.outfit or bare],
        sizes=[scene.size] if scene.size else [],
        shots=scene.shots,
        locales=[Locale(name="scene", colourway=scene.colourway, look=scene.look)
                 if scene.look else Locale(name="scene", backdrop=scene.backdrop, lights=scene.lights,
                                           colourway=scene.colourway)],
        formats=scene.formats,
        render=scene.render,
        drape=scene.drape,
        hair=scene.hair,
    )
    return camp


def expand_scene(scene: Scene) -> Plan:
    """Cells of a scene (see :func:`scene_to_campaign`); a scene without an outfit renders the
    bare body."""
    camp = scene_to_campaign(scene)
    if scene.outfit is None:
        cells, drapes = [], {}
        for twin, shot, fmt in itertools.product(scene.twins, scene.shots, scene.formats):
            cell, di = make_cell(camp, twin, None, scene.size, None, shot, camp.locales[0], fmt)
            cells.append(cell)
            drapes.setdefault(cell.drape_key, DrapeJob(cell.drape_key, di)).cells.append(cell.id)
        return Plan(camp, cells, drapes)
    return expand(camp)


__all__ = ["Cell", "Refused", "DIMENSIONS", "DrapeJob", "Estimate", "Plan", "expand", "expand_scene", "make_cell",
           "scene_to_campaign", "short_hash"]
