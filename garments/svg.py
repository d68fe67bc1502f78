"""Draw a pattern flat as SVG: panel outlines, seam marks (notches and matching labels), grain
lines, fold/pleat lines and elastic edges. 1 cm of pattern is 1 SVG user unit (``mm`` sizing)."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from engine.storage import atomic_path

from .pattern import Pattern


def pattern_svg(pattern: Pattern, gap_cm: float = 6.0) -> str:
    """The SVG text of a pattern laid out left to right (cm units; y flipped so y points up)."""
    layout, x0 = [], 0.0
    for p in pattern.panels.values():
        o = p.outline(0.5)
        lo, hi = o.min(0), o.max(0)
        layout.append((p, np.array([x0 - lo[0], -lo[1]])))
        x0 += (hi[0] - lo[0]) + gap_cm
    height = max(p.outline(1.0)[:, 1].ptp() for p in pattern.panels.values()) + 2 * gap_cm
    width = x0 + gap_cm
    seam_of = {}
    for i, s in enumerate(pattern.seams):
        seam_of[s.a] = seam_of[s.b] = i + 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.1f}cm" height="{height:.1f}cm" '
             f'viewBox="{-gap_cm:.1f} {-gap_cm:.1f} {width + gap_cm:.1f} {height:.1f}">',
             f'<title>{escape(pattern.name)} size {escape(pattern.size)}</title>']

    def tr(pt, off):
        q = np.asarray(pt) + off
        return q[0], height - 2 * gap_cm - q[1]

    for p, off in layout:
        parts.append(f'<g id="panel-{escape(p.name)}">')
        o = [tr(q, off) for q in p.outline(0.5)]
        parts.append('<path class="outline" fill="#f4efe6" stroke="#222" stroke-width="0.15" d="M ' +
                     " L ".join(f"{x:.2f} {y:.2f}" for x, y in o) + ' Z"/>')
        for e in p.edges:
            pts = p.edge_points(e, 16)
            mid = pts[8]
            n = seam_of.get((p.name, e.name))
            if e.name in p.elastic:
                parts.append('<path class="elastic" fill="none" stroke="#c0392b" stroke-width="0.3" stroke-dasharray="0.6 0.4" d="M ' +
                             " L ".join("%.2f %.2f" % tr(q, off) for q in pts) + '"/>')
            if n is not None:
                d = pts[9] - pts[7]
                nrm = np.array([d[1], -d[0]]) / max(np.linalg.norm(d), 1e-9)  # outward for CCW outlines
                a, b = tr(mid, off), tr(mid - 1.2 * nrm, off)
                parts.append(f'<line class="seam-mark" data-seam="{n}" x1="{a[0]:.2f}" y1="{a[1]:.2f}" x2="{b[0]:.2f}" '
                             f'y2="{b[1]:.2f}" stroke="#1f6fb2" stroke-width="0.3"/>')
                c = tr(mid - 2.8 * nrm, off)
                parts.append(f'<text class="seam-label" x="{c[0]:.2f}" y="{c[1]:.2f}" font-size="1.6" fill="#1f6fb2" '
                             f'text-anchor="middle">S{n}</text>')
        cen = p.outline(1.0).mean(0)
        g = np.asarray(p.grain)
        a, b = tr(cen - 8 * g, off), tr(cen + 8 * g, off)
        parts.append(f'<line class="grain" x1="{a[0]:.2f}" y1="{a[1]:.2f}" x2="{b[0]:.2f}" y2="{b[1]:.2f}" '
                     'stroke="#555" stroke-width="0.2" marker-end="url(#arrow)"/>')
        for fl in p.folds:
            a, b = tr(fl["from"], off), tr(fl["to"], off)
            parts.append(f'<line class="{escape(fl.get("kind", "fold"))}" x1="{a[0]:.2f}" y1="{a[1]:.2f}" x2="{b[0]:.2f}" '
                         f'y2="{b[1]:.2f}" stroke="#777" stroke-width="0.2" stroke-dasharray="1 0.5"/>')
        t = tr(cen + np.array([0.0, 3.0]), off)
        parts.append(f'<text class="panel-name" x="{t[0]:.2f}" y="{t[1]:.2f}" font-size="2.2" text-anchor="middle">'
                     f'{escape(p.name)}</text>')
        parts.append("</g>")
    parts.insert(2, '<defs><marker id="arrow" viewBox="0 0 4 4" refX="2" refY="2" markerWidth="4" markerHeight="4" '
                    'orient="auto"><path d="M0 0 L4 2 L0 4 Z" fill="#555"/></marker></defs>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_pattern_svg(pattern: Pattern, path) -> Path:
    """Write :func:`pattern_svg` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(pattern_svg(pattern))
    return Path(path)


__all__ = ["pattern_svg", "write_pattern_svg"]
