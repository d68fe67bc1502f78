"""Sewing patterns: flat panels in centimetres, seams between panel edges (format: docs/patterns.md).

A pattern file (JSON, or YAML when PyYAML is installed) holds panels (2D outlines made of named
edges, straight or quadratic curves, through named points, in cm), seams (pairs of panel edges),
grain lines, placement hints (which body region a panel wraps), optional fold/pleat lines and
elastic edges, and grade rules per pattern point (see :mod:`garments.sizes`). The library of
garments lives in ``garments/library/*.json``.

Panel coordinates: x to the right and y up, seen from the outside (the right side of the fabric);
the outline runs counter-clockwise. All lengths are centimetres in the file and in this module.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.types import PathLikeStr

LIBRARY_DIR = Path(__file__).resolve().parent / "library"

#: body regions a panel may wrap (see garments.placement)
REGIONS = ("torso", "left_arm", "right_arm", "left_leg", "right_leg")
#: the side of the region a panel's x = 0 line faces
SIDES = ("front", "back", "left", "right", "top")


@dataclass
class Edge:
    """One edge of a panel outline.

    Attributes:
        name: edge name, unique in the panel (seams refer to ``panel.edge``).
        start, end: point names.
        control: (2,) cm quadratic Bezier control point, or None for a straight line.
    """

    name: str
    start: str
    end: str
    control: tuple | None = None


@dataclass
class Placement:
    """Where a panel goes on the body.

    Attributes:
        region: one of :data:`REGIONS`.
        side: which side of the region the panel's ``x = 0`` line faces (one of :data:`SIDES`).
        anchor: a point name; it is placed at ``landmark`` height (torso) or at the limb's root joint.
        landmark: "neck", "shoulder", "armpit", "chest", "waist", "hips", "crotch" (torso regions)
            or "root" (limbs: shoulder or hip joint).
        offset_cm: the anchor sits this far above the landmark, cm.
    """

    region: str = "torso"
    side: str = "front"
    anchor: str = ""
    landmark: str = "shoulder"
    offset_cm: float = 0.0


@dataclass
class Panel:
    """A flat pattern piece.

    Attributes:
        name: panel name, unique in the pattern.
        points: name -> (2,) cm, panel frame (x right, y up, seen from outside).
        edges: the closed outline, counter-clockwise, each edge starting where the previous ended.
        grain: (2,) unit vector, the warp (lengthwise grain) direction in the panel frame.
        placement: :class:`Placement`.
        elastic: names of edges gathered by elastic (waistbands, cuffs): the drape holds them round the body.
        folds: fold or pleat lines, each {"kind": "fold"|"pleat", "from": [x, y], "to": [x, y]}.
    """

    name: str
    points: dict
    edges: list
    grain: tuple = (0.0, 1.0)
    placement: Placement = field(default_factory=Placement)
    elastic: list = field(default_factory=list)
    folds: list = field(default_factory=list)

    def edge(self, name: str) -> Edge:
        for e in self.edges:
            if e.name == name:
                return e
        raise InputError(f"panel {self.name!r} has no edge {name!r}", hint=f"edges: {', '.join(e.name for e in self.edges)}")

    def edge_points(self, edge: Edge, n: int) -> np.ndarray:
        """(n + 1, 2) float64 cm: ``n`` equal-parameter steps along ``edge`` (arc length for curves
        approximated by re-sampling), both ends included."""
        a = np.asarray(self.points[edge.start], dtype=np.float64)
        b = np.asarray(self.points[edge.end], dtype=np.float64)
        if edge.control is None:
            t = np.linspace(0.0, 1.0, n + 1)[:, None]
            return a + t * (b - a)
        c = np.asarray(edge.control, dtype=np.float64)
        t = np.linspace(0.0, 1.0, 257)[:, None]
        dense = (1 - t) ** 2 * a + 2 * (1 - t) * t * c + t**2 * b
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
        want = np.linspace(0.0, s[-1], n + 1)
        return np.stack([np.interp(want, s, dense[:, 0]), np.interp(want, s, dense[:, 1])], axis=1)

    def edge_length(self, edge: Edge | str) -> float:
        """Length of an edge, cm."""
        e = self.edge(edge) if isinstance(edge, str) else edge
        p = self.edge_points(e, 64)
        return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())

    def outline(self, step_cm: float = 1.0) -> np.ndarray:
        """(N, 2) float64 cm closed outline (last point not repeated), about ``step_cm`` apart."""
        pts = []
        for e in self.edges:
            n = max(1, int(np.ceil(self.edge_length(e) / step_cm)))
            pts.append(self.edge_points(e, n)[:-1])
        return np.concatenate(pts)

    def area_cm2(self) -> float:
        p = self.outline(0.5)
        return float(0.5 * np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1]))


@dataclass
class Seam:
    """Two panel edges sewn together (``a`` and ``b`` are ``(panel, edge)`` names).

    ``reverse`` pairs the start of ``a`` with the end of ``b`` (None: decided from the placed
    panels, the pairing with the shorter 3D gap)."""

    a: tuple
    b: tuple
    reverse: bool | None = None


@dataclass
class Pattern:
    """A garment pattern.

    Attributes:
        name: garment name (lowercase with hyphens), e.g. "t-shirt".
        description: one line for ``atelier garment list``.
        kind: "top", "bottom" or "full" (a dress): the layer order when worn with others.
        base_size: the size the points are drawn in (a size chart name, e.g. "M").
        panels: name -> :class:`Panel`.
        seams: list of :class:`Seam`.
        grade: point rules ``"panel.point" -> {"x": {measurement: cm per cm}, "y": {...}}``.
        ease_cm: design ease per body measurement (cm), informational.
        size: the size (or "mtm") these points are graded to.
        source: file the pattern came from.
    """

    name: str
    description: str
    kind: str
    base_size: str
    panels: dict
    seams: list
    grade: dict = field(default_factory=dict)
    ease_cm: dict = field(default_factory=dict)
    size: str = ""
    source: str = ""

    def copy(self) -> "Pattern":
        return copy.deepcopy(self)

    def validate(self) -> "Pattern":
        """Check names, closed outlines and seams; returns self. Raises InputError."""
        where = self.source or self.name
        if not self.panels:
            raise InputError(f"{where}: a pattern needs at least one panel")
        for p in self.panels.values():
            if len(p.edges) < 3:
                raise InputError(f"{where}: panel {p.name!r} needs at least 3 edges")
            for i, e in enumerate(p.edges):
                for q in (e.start, e.end):
                    if q not in p.points:
                        raise InputError(f"{where}: panel {p.name!r} edge {e.name!r} uses unknown point {q!r}")
                nxt = p.edges[(i + 1) % len(p.edges)]
                if e.end != nxt.start:
                    raise InputError(f"{where}: panel {p.name!r} outline is not closed: edge {e.name!r} ends at "
                                     f"{e.end!r} but {nxt.name!r} starts at {nxt.start!r}",
                                     hint="list the edges in order around the panel, counter-clockwise")
            if p.area_cm2() <= 0:
                raise InputError(f"{where}: panel {p.name!r} runs clockwise", hint="list its edges counter-clockwise (x right, y up)")
            pl = p.placement
            if pl.region not in REGIONS or pl.side not in SIDES:
                raise InputError(f"{where}: panel {p.name!r} placement {pl.region!r}/{pl.side!r} is unknown",
                                 hint=f"regions: {', '.join(REGIONS)}; sides: {', '.join(SIDES)}")
            if pl.anchor not in p.points:
                raise InputError(f"{where}: panel {p.name!r} placement anchor {pl.anchor!r} is not one of its points")
            for name in p.elastic:
                p.edge(name)
        seen = set()
        for s in self.seams:
            for pn, en in (s.a, s.b):
                if pn not in self.panels:
                    raise InputError(f"{where}: seam names unknown panel {pn!r}")
                self.panels[pn].edge(en)
                if (pn, en) in seen:
                    raise InputError(f"{where}: edge {pn}.{en} is in two seams")
                seen.add((pn, en))
        for key in self.grade:
            pn, _, pt = key.partition(".")
            if pn not in self.panels or pt not in self.panels[pn].points:
                raise InputError(f"{where}: grade rule for unknown point {key!r}", hint="write rules as 'panel.point'")
        return self

    def seam_length_mismatch_cm(self) -> dict:
        """``"a|b" -> length(a) - length(b)`` cm for every seam (sewn edges should match)."""
        out = {}
        for s in self.seams:
            la = self.panels[s.a[0]].edge_length(s.a[1])
            lb = self.panels[s.b[0]].edge_length(s.b[1])
            out[f"{s.a[0]}.{s.a[1]}|{s.b[0]}.{s.b[1]}"] = round(la - lb, 2)
        return out

    def to_dict(self) -> dict:
        """The pattern as its file format (a JSON-serialisable dict)."""
        panels = {}
        for p in self.panels.values():
            edges = []
            for e in p.edges:
                d = {"name": e.name, "from": e.start, "to": e.end}
                if e.control is not None:
                    d["curve"] = [round(float(c), 3) for c in e.control]
                edges.append(d)
            pl = p.placement
            panels[p.name] = {
                "points": {k: [round(float(c), 3) for c in v] for k, v in p.points.items()},
                "edges": edges,
                "grain": list(p.grain),
                "placement": {"region": pl.region, "side": pl.side, "anchor": pl.anchor,
                              "landmark": pl.landmark, "offset_cm": pl.offset_cm},
                "elastic": list(p.elastic),
                "folds": list(p.folds),
            }
        return {
            "name": self.name, "description": self.description, "kind": self.kind, "base_size": self.base_size,
            "size": self.size, "units": "cm", "panels": panels,
            "seams": [{"a": ".".join(s.a), "b": ".".join(s.b), **({"reverse": s.reverse} if s.reverse is not None else {})}
                      for s in self.seams],
            "grade": self.grade, "ease_cm": self.ease_cm,
        }


def _split(ref: str, where: str) -> tuple:
    if not isinstance(ref, str) or ref.count(".") != 1:
        raise InputError(f"{where}: seam edge {ref!r} must be written 'panel.edge'")
    a, b = ref.split(".")
    return a, b


def pattern_from_dict(data: dict, source: str = "") -> Pattern:
    """Build and validate a :class:`Pattern` from its file format (see docs/patterns.md)."""
    where = source or str(data.get("name", "pattern"))
    try:
        panels = {}
        for pname, pd in data["panels"].items():
            pts = {k: tuple(float(c) for c in v) for k, v in pd["points"].items()}
            edges = []
            for ed in pd["edges"]:
                ctrl = ed.get("curve")
                if isinstance(ctrl, str):
                    ctrl = pts[ctrl]
                edges.append(Edge(ed["name"], ed["from"], ed["to"], None if ctrl is None else tuple(float(c) for c in ctrl)))
            g = np.asarray(pd.get("grain", [0.0, 1.0]), dtype=np.float64)
            g = g / max(np.linalg.norm(g), 1e-12)
            pl = dict(pd.get("placement", {}))
            panels[pname] = Panel(
                name=pname, points=pts, edges=edges, grain=(float(g[0]), float(g[1])),
                placement=Placement(region=pl.get("region", "torso"), side=pl.get("side", "front"),
                                    anchor=pl.get("anchor", edges[0].start), landmark=pl.get("landmark", "shoulder"),
                                    offset_cm=float(pl.get("offset_cm", 0.0))),
                elastic=list(pd.get("elastic", [])), folds=list(pd.get("folds", [])),
            )
        seams = []
        for sd in data.get("seams", []):
            if isinstance(sd, (list, tuple)):
                sd = {"a": sd[0], "b": sd[1]}
            seams.append(Seam(_split(sd["a"], where), _split(sd["b"], where), sd.get("reverse")))
        pat = Pattern(
            name=str(data["name"]), description=str(data.get("description", "")), kind=str(data.get("kind", "top")),
            base_size=str(data.get("base_size", "M")), panels=panels, seams=seams,
            grade=dict(data.get("grade", {})), ease_cm=dict(data.get("ease_cm", {})),
            size=str(data.get("size", data.get("base_size", "M"))), source=source,
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"{where}: not a valid pattern file ({type(exc).__name__}: {exc})",
                         hint="see docs/patterns.md for the format") from None
    return pat.validate()


def load_pattern(path: PathLikeStr) -> Pattern:
    """Read a pattern file (``.json``, or ``.yaml``/``.yml`` with PyYAML installed)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such pattern file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (a pattern is UTF-8 JSON or YAML)",
                         hint="export the pattern again, or check the file is the one you meant") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise InputError(f"{path}: reading YAML patterns needs PyYAML", hint="pip install pyyaml, or write JSON") from None
        try:
            data = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError) as exc:
            raise InputError(f"{path}: not valid YAML ({str(exc)[:200]})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        except RecursionError:
            raise InputError(f"{path}: not a pattern (nested too deep to read)") from None
    return pattern_from_dict(data, source=str(path))


def library_names() -> list[str]:
    """Names of the library garments (``garments/library/*.json``), sorted."""
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.json"))


def library_pattern(name: str) -> Pattern:
    """A library garment's pattern in its base size. Raises InputError for an unknown name."""
    path = LIBRARY_DIR / f"{name}.json"
    if not path.exists():
        raise InputError(f"unknown garment pattern {name!r}", hint=f"choose one of: {', '.join(library_names())}")
    return load_pattern(path)


__all__ = ["Edge", "Placement", "Panel", "Seam", "Pattern", "REGIONS", "SIDES", "LIBRARY_DIR",
           "pattern_from_dict", "load_pattern", "library_names", "library_pattern"]
