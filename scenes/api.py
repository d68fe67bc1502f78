"""The artists' Python API: build a scene in code (the same models the files hold), save and load
it, render it, export it, and run campaigns.

Example (see ``scenes/examples/`` and ``docs/scripting.md``)::

    import scenes as sc

    scene = sc.scene(
        "look-01",
        twins=[sc.twin("ava", shape=[0.2, 0.4, 0.5, 0.45, 0.55, 0.5], pose="a-pose")],
        outfit=sc.outfit("summer", sc.garment("tube-dress", fabric="silk", colour="#c8553d")),
        shots=sc.turntable(4),
        formats=[sc.fmt("web", 512, 512)],
    )
    sc.save(scene, "look-01.toml")
    result = sc.render(scene, "out/look-01")
    print(result.images)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .campaign import Plan, expand, expand_scene
from .io import load_campaign, load_scene, save_model
from .model import (Backdrop, Campaign, DrapeOptions, GarmentSpec, LightSpec, Locale, OutputFormat, Outfit,
                    RenderSettings, Rule, Scene, Shot, Size, TwinSpec, VideoSpec)
from .runner import RunSummary, run_plan


# --- builders ----------------------------------------------------------------------------------
def twin(name: str, shape: Sequence[float] | None = None, path: str | None = None, pose: str | None = None,
         position: Sequence[float] = (0.0, 0.0, 0.0), hair: str | None = None) -> TwinSpec:
    """A body: ``shape`` (6 Anny phenotype values in [0, 1]) for a synthetic twin, or ``path`` to
    a twin folder from ``atelier fit``; ``pose`` a preset name; ``position`` metres (export only);
    ``hair`` a style as ``--hair`` takes it (``bob:#3b2a20``, ``none``; default twin.json's)."""
    return TwinSpec(name=name, shape=list(shape) if shape is not None else None, path=path, pose=pose,
                    position=list(position), hair=hair)


def garment(name: str = "tube-dress", fabric: str | None = None, colour="#2a4d8c", layer: int = 0,
            size: str | None = None, **settings) -> GarmentSpec:
    """A garment: a library pattern (``t-shirt``, ``straight-trousers``...), a template
    (``tube-dress``, ``skirt``) or a garment mesh file, by name; a fabric of the registry or an
    alias (``silk``, ``jersey``...); colour; layer (0 next to the skin); the pattern's own size
    (else the cell's); template settings (e.g. ``ease=0.015`` metres) or mesh options."""
    return GarmentSpec(garment=name, fabric=fabric, colour=colour, layer=layer, size=size, settings=settings)


def size(name: str, chart: str | None = None, **settings: float) -> Size:
    """A size: patterns are graded to ``chart`` (default the name when it is XS..XXL or mtm),
    templates take ``settings`` (e.g. ``ease=0.02``)."""
    return Size(name=name, chart=chart, settings=settings)


def outfit(name: str, *garments: GarmentSpec, colourways: dict | None = None) -> Outfit:
    """Garments worn together; ``colourways`` maps a name to one colour per garment."""
    return Outfit(name=name, garments=list(garments), colourways=colourways or {})


def shot(name: str, azimuth_deg: float = 0.0, elevation_deg: float = 5.0, yfov_deg: float = 30.0,
         margin: float = 0.08) -> Shot:
    """A camera framing the whole dressed body from ``azimuth_deg`` (0: front, 90: the body's left)."""
    return Shot(name=name, azimuth_deg=azimuth_deg, elevation_deg=elevation_deg, yfov_deg=yfov_deg, margin=margin)


def turntable(n: int = 8, elevation_deg: float = 5.0) -> list[Shot]:
    """``n`` shots evenly around the body, named ``az000``, ``az045``..."""
    return [shot(f"az{int(round(360.0 * i / n)) % 360:03d}", 360.0 * i / n, elevation_deg) for i in range(n)]


def light(name: str, direction: Sequence[float], colour="#ffffff", intensity: float = 3.0) -> LightSpec:
    """A directional light travelling along ``direction`` (canonical frame)."""
    return LightSpec(name=name, direction=list(direction), colour=colour, intensity=intensity)


def backdrop(colour=(1.0, 1.0, 1.0, 0.0), ambient: Sequence[float] = (0.25, 0.25, 0.25)) -> Backdrop:
    """Background colour (alpha 0: transparent PNG) and ambient light."""
    return Backdrop(colour=list(colour) if not isinstance(colour, str) else colour, ambient=list(ambient))


def fmt(name: str = "square", width: int = 512, height: int = 512, type: str = "png", quality: int = 92) -> OutputFormat:
    """An output format: size in pixels and file type (png, jpg, webp)."""
    return OutputFormat(name=name, width=width, height=height, type=type, quality=quality)


def video(name: str = "catwalk", width: int = 540, height: int = 960, motion: str = "catwalk", seconds: float = 8.0,
          fps: int = 30, camera: str = "follow", frames: int | None = None, pose: str | None = None,
          preroll: int = 24) -> OutputFormat:
    """A video format: the one output format with a :class:`~scenes.model.VideoSpec` (an H.264 MP4
    of the twin moving, her cloth simulated; width and height even). ``motion``: catwalk,
    turntable (holding ``pose``), a fashion pose, ``keys:POSE@S,...`` or a .bvh clip; ``camera``:
    fixed, follow or turntable; ``frames`` instead of ``seconds`` for a 24/36/72-frame spin set."""
    return OutputFormat(name=name, width=width, height=height,
                        video=VideoSpec(motion=motion, seconds=seconds, fps=fps, camera=camera, frames=frames, pose=pose,
                                        preroll=preroll))


def scene(name: str, twins: Sequence[TwinSpec], outfit: Outfit | None = None, **fields) -> Scene:
    """A :class:`~scenes.model.Scene` (other fields: size, colourway, shots, lights, backdrop,
    formats, render, drape)."""
    return Scene(name=name, twins=list(twins), outfit=outfit, **fields)


# --- files -------------------------------------------------------------------------------------
def save(obj: Scene | Campaign, path) -> Path:
    """Write a scene or campaign to .toml / .yaml / .json (atomically)."""
    return save_model(obj, path)


def load(path) -> Scene | Campaign:
    """Read a scene or a campaign file (a campaign has ``outfits``, a scene does not)."""
    from .io import SUFFIXES, _parse

    p = Path(path)
    fmt_ = SUFFIXES.get(p.suffix.lower())
    if fmt_ is not None and p.exists():
        data, _ = _parse(p, p.read_text(), fmt_)
        if isinstance(data, dict) and "outfits" in data:
            return load_campaign(p)
    return load_scene(p)


# --- render ------------------------------------------------------------------------------------
@dataclass
class RenderResult:
    """Images of a rendered scene.

    Attributes:
        images: one path per twin x shot x format, in that order (missing ones failed).
        by_label: ``"twin/outfit/size/pose/shot/locale/format"`` -> image path.
        summary: the run summary (failures and why).
    """

    images: list[Path]
    by_label: dict[str, Path]
    summary: RunSummary


def plan(obj: Scene | Campaign) -> Plan:
    """The cells (one image each) and drapes of a scene or campaign."""
    return expand_scene(obj) if isinstance(obj, Scene) else expand(obj)


def render(obj: Scene | Campaign, out, workers: int = 1, executor: str | None = None, resume: bool = True,
           quiet: bool = False, authorise=None, deliver=None, cache=None) -> RenderResult:
    """Render a scene (or campaign) into ``out``: drapes once per twin and outfit, then one image
    per cell. Finished cells in ``out`` are kept (``resume``).

    Args:
        workers: jobs at once. With 1 and no ``executor`` the jobs run in this process.
        executor: "inline", "local" or "ray" (default: inline for 1 worker, local otherwise).
    """
    from .jobs import MANIFEST
    from engine.storage import read_json

    p = plan(obj)
    kind = executor or ("inline" if workers == 1 else "local")
    summary = run_plan(p, out, workers=workers, executor=kind, resume=resume, cache=cache, quiet=quiet,
                       authorise=authorise, deliver=deliver)
    out = Path(out).resolve()
    by_label = {}
    for c in p.cells:
        m = out / "cells" / c.id / MANIFEST
        if m.exists():
            for o in read_json(m)["outputs"]:
                by_label[c.label] = m.parent / o["file"]
    return RenderResult([by_label[c.label] for c in p.cells if c.label in by_label], by_label, summary)


def run_campaign(campaign: Campaign | str | Path, out, workers: int = 1, executor: str = "local",
                 address: str | None = None, resume: bool = False, **kw) -> RunSummary:
    """Run a campaign (a model or a file path) into ``out``; see :class:`scenes.runner.CampaignRunner`."""
    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign)
    return run_plan(expand(campaign), out, workers=workers, executor=executor, address=address, resume=resume, **kw)


def export_blend(obj: Scene, path, **kw) -> Path:
    """Write a .blend with the bodies, garments, cameras and lights as named objects."""
    from .export import export_blend as _export

    return _export(obj, path, **kw)


def export_glb(obj: Scene, path, **kw) -> Path:
    """Write a GLB (binary glTF) with the bodies and garments as named, coloured meshes."""
    from .export import export_glb as _export

    return _export(obj, path, **kw)


__all__ = ["Backdrop", "Campaign", "DrapeOptions", "GarmentSpec", "LightSpec", "Locale", "OutputFormat", "Outfit",
           "RenderResult", "RenderSettings", "Rule", "Scene", "Shot", "Size", "TwinSpec", "backdrop", "export_blend", "size",
           "export_glb", "fmt", "garment", "light", "load", "outfit", "plan", "render", "run_campaign", "save",
           "scene", "shot", "turntable", "twin", "video", "VideoSpec"]
