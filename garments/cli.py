"""``atelier garment list|show`` and the options ``atelier drape`` takes for pattern and imported garments.

The app wires these in: ``add_parsers(subparsers)`` adds the ``garment`` command, ``run(args)``
runs it; ``add_drape_arguments(parser)`` adds ``--size`` and ``--fabric`` to ``atelier drape``
and ``drape_kwargs(args)`` turns them into keyword arguments of
:func:`garments.outfit.drape_twin` (which takes ``pose=`` itself); ``add_mesh_arguments(parser)``
and ``mesh_kwargs(args)`` do the same for ``--garment-mesh`` (:func:`garments.imported.drape_imported_twin`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import InputError

#: the widest ``--weld-mm`` accepted: wider welds would close darts and merge cloth layers, mm.
MAX_WELD_MM = 20.0


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
    """Add ``--size``, ``--fabric`` and ``--no-turn-up`` to the ``atelier drape`` parser (``--pose``
    is already there)."""
    parser.add_argument("--size", default=None,
                        help="size for pattern garments: XS, S, M, L, XL, XXL, or mtm (made to measure from the twin); default the "
                             "pattern's base size (M); templates and garment meshes are not graded and refuse it")
    parser.add_argument("--fabric", default=None,
                        help="fabric preset: cotton-jersey, cotton-poplin, denim, silk-charmeuse, wool-suiting, polyester, or an alias "
                             "(cotton = cotton-poplin, jersey = cotton-jersey, silk = silk-charmeuse, wool = wool-suiting)")
    parser.add_argument("--no-turn-up", action="store_true",
                        help="pattern garments: let sleeves and trouser legs longer than the twin's arms and legs hang "
                             "past the hands and below the feet instead of turning them up (they may not settle there)")


def add_mesh_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``atelier drape --garment-mesh`` (a garment made elsewhere, see
    :mod:`garments.imported`)."""
    g = parser.add_argument_group(
        "imported garments (--garment-mesh)",
        "a garment exported from CLO 3D or Marvelous Designer: its pieces' seams are welded, it is aligned to the "
        "twin, widened where the twin is fuller and draped with its own rest lengths")
    g.add_argument("--units", choices=["mm", "cm", "m"], default=None,
                   help="the mesh's length unit (default: detected from its size; CLO and MD export mm by default, "
                        "glTF is m)")
    g.add_argument("--up", choices=["y", "z"], default=None,
                   help="the mesh's up axis: y (CLO/MD default, glTF) or z (Blender-style); default detected")
    g.add_argument("--avatar", metavar="FILE", default=None,
                   help="the exporter's avatar mesh, exported with the same settings: aligns the garment exactly "
                        "(scaled by height, feet and torso centre onto the twin's)")
    g.add_argument("--weld-mm", type=float, default=None, metavar="MM",
                   help="weld the mesh's corners (its pieces' seams, or a triangle soup's triangles) closer than this, "
                        "mm (default 0.5; 0 turns welding off)")
    g.add_argument("--region", choices=["top", "bottom", "dress", "full"], default=None,
                   help="without --avatar: where the garment goes (top, dress, full: hung from the shoulders, or "
                        "under the armpits when strapless; bottom: from the waist); default from its vertical extent")


def mesh_kwargs(args) -> dict:
    """Keyword arguments for :func:`garments.imported.drape_imported_twin` from the parsed
    ``--units/--up/--avatar/--region/--fabric``, refusing options that only apply to the other
    kind of garment (so a mistake fails before Blender starts)."""
    from .fabrics import get_fabric

    mesh = getattr(args, "garment_mesh", None)
    mesh_only = [f"--{k}" for k in ("units", "up", "avatar", "region") if getattr(args, k, None)]
    if getattr(args, "weld_mm", None) is not None:
        mesh_only.append("--weld-mm")
    if not mesh:
        if mesh_only:
            raise InputError(f"{', '.join(mesh_only)} only apply to --garment-mesh",
                             hint="leave them out for a library pattern or template garment")
        return {}
    for flag, attr in (("--size", "size"), ("--resolution", "resolution")):
        if getattr(args, attr, None):
            raise InputError(f"{flag} does not apply to --garment-mesh: an imported mesh keeps its own size and resolution",
                             hint="grade or remesh the garment in CLO / Marvelous Designer and export it again")
    if getattr(args, "no_turn_up", False):
        raise InputError("--no-turn-up does not apply to --garment-mesh: an imported mesh is draped as it was made, "
                         "nothing is turned up", hint="leave --no-turn-up out")
    kw = {k: getattr(args, k, None) for k in ("units", "up", "avatar", "region")}
    weld_mm = getattr(args, "weld_mm", None)
    if weld_mm is not None:
        if not 0.0 <= weld_mm <= MAX_WELD_MM:
            raise InputError(f"--weld-mm {weld_mm:g} is outside 0-{MAX_WELD_MM:g} mm",
                             hint="seams and a triangle soup's corners are welded within a few mm; 0 turns welding off")
        kw["weld_mm"] = float(weld_mm)
    fabric = getattr(args, "fabric", None)
    if fabric:
        kw["fabric"] = get_fabric(fabric).name
    return kw


def drape_kwargs(args) -> dict:
    """Keyword arguments for :func:`garments.outfit.drape_twin` from parsed ``--size``/``--fabric``
    (validated here so a typo fails before Blender starts) and ``--no-turn-up``."""
    from .fabrics import get_fabric
    from .sizes import size_measurements

    kw = {}
    if getattr(args, "no_turn_up", False):
        from .drape import DrapeSettings

        kw["settings"] = DrapeSettings(turn_up=False)
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


__all__ = ["add_parsers", "run", "add_drape_arguments", "add_mesh_arguments", "drape_kwargs", "mesh_kwargs", "garment_rows"]
