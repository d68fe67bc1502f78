"""Strain and clearance colour maps on the draped garment, with legends, rendered with pyrender.

A :class:`ColorMap` turns a per-vertex value (strain %, clearance mm) into a colour through
fixed stops, the same for every size and body so images compare. The garment is drawn through
:class:`engine.render.RenderMesh`'s texture path: the map is written once as a 256 x 4 strip image
and each vertex gets ``uv = (position of its value on the strip, 0.5)``, so the renderer
interpolates *values* across a triangle (true iso-lines, no muddy mixed colours) and no engine
change is needed. :func:`legend_png` draws the bar with ticks in % or mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.storage import atomic_path
from engine.types import PathLikeStr

STRIP_WIDTH = 256


@dataclass(frozen=True)
class ColorMap:
    """A piecewise-linear colour map.

    Attributes:
        name: "strain" or "clearance".
        title: legend title.
        unit: "%" or "mm".
        stops: ((value, (r, g, b)), ...) increasing values, colours in [0, 1] (sRGB).
        ticks: values labelled on the legend.
        meaning: one sentence under the legend.
    """

    name: str
    title: str
    unit: str
    stops: tuple
    ticks: tuple
    meaning: str

    @property
    def vmin(self) -> float:
        return float(self.stops[0][0])

    @property
    def vmax(self) -> float:
        return float(self.stops[-1][0])

    def colors(self, values: np.ndarray) -> np.ndarray:
        """(N,) values -> (N, 3) float32 sRGB colours in [0, 1] (values clipped to the stops)."""
        v = np.clip(np.nan_to_num(np.asarray(values, np.float64), nan=self.vmin), self.vmin, self.vmax)
        xs = np.array([s[0] for s in self.stops], np.float64)
        cs = np.array([s[1] for s in self.stops], np.float64)
        return np.stack([np.interp(v, xs, cs[:, k]) for k in range(3)], axis=1).astype(np.float32)

    def colors_u8(self, values: np.ndarray) -> np.ndarray:
        """(N,) values -> (N, 4) uint8 RGBA (opaque)."""
        c = np.round(self.colors(values) * 255.0).astype(np.uint8)
        return np.concatenate([c, np.full((len(c), 1), 255, np.uint8)], axis=1)

    def uv(self, values: np.ndarray) -> np.ndarray:
        """(N,) values -> (N, 2) float32 texture coordinates on :meth:`write_strip`'s image, kept
        half a texel inside its ends (the renderer repeats the texture)."""
        v = np.clip(np.nan_to_num(np.asarray(values, np.float64), nan=self.vmin), self.vmin, self.vmax)
        u = (v - self.vmin) / (self.vmax - self.vmin)
        half = 0.5 / STRIP_WIDTH
        u = half + u * (1.0 - 2.0 * half)
        return np.stack([u, np.full_like(u, 0.5)], axis=1).astype(np.float32)

    def strip(self) -> np.ndarray:
        """(4, STRIP_WIDTH, 3) uint8 image of the map, low values on the left."""
        vals = self.vmin + (np.arange(STRIP_WIDTH) + 0.5) / STRIP_WIDTH * (self.vmax - self.vmin)
        row = np.round(self.colors(vals) * 255.0).astype(np.uint8)
        return np.repeat(row[None], 4, axis=0)

    def write_strip(self, path: PathLikeStr) -> Path:
        """Write :meth:`strip` as a PNG (the garment's texture); returns the path."""
        from PIL import Image

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Image.fromarray(self.strip(), "RGB").save(tmp, format="PNG")
        return path


#: Stretch against the flat pattern along or across the grain (the larger), %. Grey-white where
#: the cloth is relaxed, through yellow and orange to deep red where it pulls hard.
STRAIN = ColorMap(
    name="strain", title="Strain (stretch against the flat pattern)", unit="%",
    stops=((0.0, (0.93, 0.93, 0.90)), (2.0, (0.99, 0.91, 0.55)), (5.0, (0.99, 0.68, 0.26)),
           (10.0, (0.91, 0.33, 0.16)), (20.0, (0.55, 0.05, 0.10))),
    ticks=(0, 2, 5, 10, 20),
    meaning="0 % lies flat as cut; above 5 % most woven fabrics pull visibly (knits stretch further).",
)

#: Signed cloth-to-body distance, mm (negative: the cloth is inside the body, i.e. it presses).
CLEARANCE = ColorMap(
    name="clearance", title="Clearance to the body", unit="mm",
    stops=((-10.0, (0.55, 0.05, 0.10)), (0.0, (0.93, 0.35, 0.20)), (5.0, (0.99, 0.80, 0.40)),
           (15.0, (0.85, 0.93, 0.72)), (40.0, (0.40, 0.76, 0.75)), (80.0, (0.15, 0.45, 0.70)),
           (150.0, (0.12, 0.16, 0.45))),
    ticks=(-10, 0, 5, 15, 40, 80, 150),
    meaning="red presses on the body, yellow touches it, green to blue hangs away from it.",
)

MAPS = {"strain": STRAIN, "clearance": CLEARANCE}


def legend_png(cmap: ColorMap, path: PathLikeStr, width: int = 420, height: int = 64) -> Path:
    """Draw ``cmap``'s legend (bar, ticks labelled in its unit, title) as an RGBA PNG; returns the path."""
    from PIL import Image, ImageDraw, ImageFont

    im = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    d = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=max(10, height // 6))
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    pad = 14
    bar_top, bar_h = int(height * 0.30), int(height * 0.28)
    bar = Image.fromarray(cmap.strip()[:1]).resize((width - 2 * pad, bar_h), Image.NEAREST)
    im.paste(bar, (pad, bar_top))
    d.rectangle([pad, bar_top, width - pad - 1, bar_top + bar_h - 1], outline=(60, 60, 60, 255))
    d.text((pad, 0), f"{cmap.title}, {cmap.unit}", fill=(30, 30, 30, 255), font=font)
    for t in cmap.ticks:
        x = pad + (t - cmap.vmin) / (cmap.vmax - cmap.vmin) * (width - 2 * pad - 1)
        d.line([x, bar_top + bar_h, x, bar_top + bar_h + 4], fill=(60, 60, 60, 255))
        label = f"{t:g}{'+' if t == cmap.ticks[-1] else ''}"
        tw = d.textlength(label, font=font)
        d.text((min(max(x - tw / 2, 0), width - tw), bar_top + bar_h + 5), label, fill=(30, 30, 30, 255), font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG")
    return path


def map_meshes(body_v, body_f, garment_v, garment_f, values, cmap: ColorMap, strip_png: PathLikeStr):
    """RenderMeshes for a map view: the body in neutral grey and the garment textured by ``cmap``.

    Args:
        body_v, body_f: (Vb, 3) float32 metres canonical, (Fb, 3) int64.
        garment_v, garment_f: (Vg, 3) float32 metres canonical, (Fg, 3) int64.
        values: (Vg,) float per-vertex value in the map's unit.
        strip_png: the map's strip image (:meth:`ColorMap.write_strip`).
    """
    from engine.render import RenderMesh

    return [
        RenderMesh("body", body_v, body_f, color=(0.62, 0.62, 0.64, 1.0)),
        RenderMesh("garment", garment_v, garment_f, color=(1.0, 1.0, 1.0, 1.0), uv=cmap.uv(values),
                   texture=str(strip_png)),
    ]


#: lighting for map views: strong ambient so the colours read as in the legend.
MAP_AMBIENT = (0.75, 0.75, 0.75)


def map_lights():
    """A soft two-light set for map views (shape still reads, colours stay close to the legend)."""
    from engine.render import Light

    return [Light("key", direction=(0.4, -0.5, -0.8), intensity=1.2), Light("back", direction=(-0.3, -0.4, 0.9), intensity=1.0)]


__all__ = ["ColorMap", "STRAIN", "CLEARANCE", "MAPS", "legend_png", "map_meshes", "map_lights", "MAP_AMBIENT",
           "STRIP_WIDTH"]
