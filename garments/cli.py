"""``atelier garment list|show`` and the options ``atelier drape`` takes for pattern garments.

The app wires these in: ``add_parsers(subparsers)`` adds the ``garment`` command, ``run(args)``
runs it; ``add_drape_arguments(parser)`` adds ``--size`` and ``--fabric`` to ``atelier drape``
and ``drape_kwargs(args)`` turns them into keyword arguments of
:func:`garments.drape.drape_twin` (which takes ``pose=`` itself).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import InputError


def add_parsers(subparsers) -> None:
    """Add ``garment list`` and ``garment show`` to an argparse subparsers object."""
    p = subparsers.add_parser("garment", help="list the garment library or draw a garment's flat pattern",
                              description="Garments from sewing patterns (garments/library) and the generated templates.")
    sub = p.add_subparsers(dest="garment_command", required=True)
    sub.add_parser("list", help="one garment per line: name, kind, panels, description")
    s = sub.add_parser("show", help="draw a garment's flat pattern, graded to a size, with seam marks (SVG)")
    s.add_argument("name", help="garment name, e.g. t-shirt")
    s.add_argument("--size", default="M", help="size chart name XS..XXL (default M)")
    s.add_argument("--out", required=True, metavar="FILE.svg", help="SVG file to write")


def add_drape_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--size`` and ``--fabric`` to the ``atelier drape`` parser (``--pose`` is already there)."""
    parser.add_argument("--size", default=None,
                        help="size for pattern garments: XS, S, M, L, XL, XXL, or mtm (made to measure from the twin); default M")
    parser.add_argument("--fabric", default=None,
                        help="fabric preset: cotton-jersey, cotton-poplin, denim, silk-charmeuse, wool-suiting, polyester")


def drape_kwargs(args) -> dict:
    """Keyword arguments for :func:`garments.drape.drape_twin` from parsed ``--size``/``--fabric``
    (validated here so a typo fails before Blender starts)."""
    from .fabrics import get_fabric
    from .sizes import size_measurements

    kw = {}
    size = getattr(args, "size", None)
    if size:
        if size.lower() != "mtm":
            size_measurements(size)
        kw["size"] = "mtm" if size.lower() == "mtm" else size.upper()
    fabric = getattr(args, "fabric", None)
    if fabric:
        kw["fabric"] = get_fabric(fabric).name
    return kw


def garment_rows() -> list[tuple]:
    """(name, kind, panels, description) for every library pattern and template, sorted by name."""
    from .pattern import library_names, library_pattern
    from .templates import garment_names

    rows = []
    for n in library_names():
        p = library_pattern(n)
        rows.append((n, p.kind, len(p.panels), p.description))
    for n in garment_names():
        rows.append((n, "template", 0, "generated tube around the body (no pattern)"))
    return sorted(rows)


def run(args) -> int:
    if args.garment_command == "list":
        for name, kind, panels, desc in garment_rows():
            print(f"{name}\t{kind}\t{panels} panels\t{desc}")
        return 0
    if args.garment_command == "show":
        from .pattern import library_names, library_pattern
        from .sizes import grade
        from .svg import write_pattern_svg

        if args.name not in library_names():
            raise InputError(f"{args.name!r} has no sewing pattern",
                             hint=f"patterns: {', '.join(library_names())}")
        pattern = grade(library_pattern(args.name), args.size)
        out = write_pattern_svg(pattern, Path(args.out))
        print(f"{args.name} size {pattern.size}: {len(pattern.panels)} panels, {len(pattern.seams)} seams -> {out}")
        return 0
    raise InputError(f"unknown garment command {args.garment_command!r}")


__all__ = ["add_parsers", "run", "add_drape_arguments", "drape_kwargs", "garment_rows"]
