"""The ``atelier`` command.

Subcommands: ``demo`` (the whole flow on a synthetic scan), ``fit`` (scan -> twin), ``drape``
(twin + garment -> draped garment in Blender), ``render`` (dressed twin -> multi-angle PNGs and a
contact sheet). User errors print one message with a hint and exit non-zero, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine import __version__
from engine.errors import AtelierError, run_reporting

RENDERERS = ("pyrender", "blender")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and the final summary")


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="anny",
        choices=["anny", "anny-detailed", "smplx"],
        help="body model: anny (default, ships its data), anny-detailed (plus bust/under-bust/waist/hip girth "
             "adjusters) or smplx (your own licensed SMPL-X files)",
    )
    p.add_argument(
        "--smplx-dir",
        default=None,
        metavar="DIR",
        help="folder with SMPLX_NEUTRAL.npz (or smplx/SMPLX_NEUTRAL.npz); default $ATELIER_SMPLX_DIR",
    )


def _count(lo: int, hi: int, what: str):
    """An argparse type: an integer in [lo, hi], refused with a message naming the limits."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {what}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"{n} {what} is outside {lo}-{hi}")
        return n
    return parse


def _format(text: str):
    """An argparse type: a channel format spec, checked before any work is done."""
    from engine.render.formats import parse_format

    try:
        return parse_format(text)
    except AtelierError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_render_opts(p: argparse.ArgumentParser, default_size: int) -> None:
    from engine.render.formats import MAX_SIDE

    p.add_argument("--views", type=_count(1, 720, "views"), default=8, help="number of turntable views (default 8)")
    p.add_argument("--size", type=_count(16, MAX_SIDE, "pixels"), default=default_size,
                   help=f"image width and height in pixels, 16-{MAX_SIDE} (default {default_size})")
    p.add_argument(
        "--renderer",
        default="all",
        choices=["all", *RENDERERS],
        help="which renderer(s) to use: pyrender (fast preview), blender (Workbench/Cycles) or all (default)",
    )
    p.add_argument(
        "--blender-engine",
        default="workbench",
        choices=["workbench", "cycles"],
        help="Blender render engine (default workbench; cycles is slower and photographic)",
    )
    p.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel (default 16)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atelier",
        description=(
            "Atelier: fashion digital twins. Fit a parametric body to a 3D scan, drape a garment on it "
            "with Blender cloth simulation, and render the dressed twin from many angles. "
            "Lengths are metres inside files, millimetres and centimetres in reports."
        ),
    )
    parser.add_argument("--version", action="version", version=f"atelier {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "demo",
        help="run the whole flow on a synthetic scan (scan -> twin -> drape -> renders)",
        description=(
            "Make a synthetic scan from a random Anny body (labelled synthetic in its files), fit a twin to it, "
            "dress it in an outfit of library patterns (a T-shirt over straight trousers) graded to the twin's "
            "made-to-measure size and drape it in Blender, render turntable views with each renderer plus a contact "
            "sheet, and named shots in the campaign look. "
            "Running it again into the same folder skips the stages that are already finished."
        ),
    )
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic body and scan (default 7)")
    p.add_argument("--garment", action="append", default=None, metavar="NAME",
                   help="garment to drape, repeatable, innermost first (default: straight-trousers then a t-shirt "
                        "over them, library patterns)")
    p.add_argument("--garment-size", dest="garment_size", default="mtm",
                   help="size of the pattern garments: XS..XXL or mtm, made to measure from the fitted twin (default)")
    p.add_argument("--resolution", type=float, default=None,
                   help="cloth vertices of each garment (default 2500)")
    p.add_argument("--force", action="store_true", help="redo every stage even if its outputs exist")
    p.add_argument("--hair", default="bob:#3b2a20", metavar="STYLE[:COLOUR]",
                   help="the twin's hair (crop, short, bob, long, ponytail, bun, none; default bob:#3b2a20)")
    _add_render_opts(p, 512)
    _add_common(p)

    p = sub.add_parser(
        "fit",
        help="fit a twin (body model parameters) to a scan",
        description=(
            "Load a body scan (PLY, OBJ, STL, GLB/glTF mesh, or XYZ/NPZ points), fit the body model's shape, "
            "pose and placement to it, and write DIR/twin.json, DIR/body.ply (canonical frame: metres, +Y up, "
            "facing +Z, feet on y=0) and DIR/fit_report.json (scan-to-body distances in mm, seconds). "
            "Several scans fit one after another into DIR/<scan name>/, a bad one reported without stopping the rest."
        ),
    )
    p.add_argument("scan", nargs="+", help="scan file(s): .ply .obj .stl .glb .gltf .xyz .txt .npz; with several, "
                                           "each twin goes to DIR/<scan name>/ (seeded seed+i) and DIR/batch.json "
                                           "lists them")
    p.add_argument("--out", required=True, help="output folder for the twin")
    p.add_argument("--units", choices=["auto", "m", "cm", "mm", "in"], default="auto",
                   help="units of the scan (default auto: detected from the body's height, 0.5-2.5 m, 39.4-98.5 in, "
                        "98.5-250 cm or 500-2500 mm; a scan that fits none is refused); m, cm, mm or in override it")
    p.add_argument("--up", choices=["auto", "y", "z", "-y", "-z", "x", "-x"], default="auto",
                   help="up axis of the scan (default auto: detected)")
    p.add_argument("--iterations", type=int, default=None, help="optimiser steps (default: the fitter's own)")
    p.add_argument("--seed", type=int, default=0, help="seed for point subsampling (default 0)")
    from bodies.cli import add_fit_arguments

    add_fit_arguments(p)
    _add_model(p)
    _add_common(p)

    p = sub.add_parser(
        "drape",
        help="drape a garment on a twin with Blender cloth simulation",
        description=(
            "Cut a library pattern in a size and fabric (or generate a template garment around the twin), sew and "
            "simulate it in Blender (in a separate worker process) with the posed body as collider until it settles. "
            "Several --garment (or --outfit FILE) drape an outfit in layer order, each layer colliding with the body "
            "and the layers under it, and the penetration guard checking each against what lies under it; each "
            "layer's files go to DIR2/layers/<i>-<name>/ and DIR2/garment.ply holds them all. "
            "Or, with --garment-mesh, bring in a garment exported from CLO 3D or Marvelous Designer (OBJ in mm/cm/m, "
            "GLB/glTF), weld its pieces' seams, align it to the twin (exactly with --avatar, the exporter's avatar "
            "exported beside it; else from its bounding box and --region), widen it where the twin is fuller, and drape "
            "it keeping its own rest lengths. "
            "Writes DIR2/garment.ply (canonical frame, per-vertex clearance in mm and, for patterns and imported meshes, "
            "strain in %), DIR2/body.ply, DIR2/drape_report.json, DIR2/fit.json, DIR2/dressed.glb, DIR2/outfit.json "
            "and Blender's log. A template is not graded: it refuses --size. "
            "Fails clearly if the cloth explodes or more than 1% of its vertices end up over 2 mm inside the body."
        ),
    )
    p.add_argument("--twin", required=True, metavar="DIR", help="twin folder written by `atelier fit`")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--garment", metavar="NAME", action="append",
                      help="garment: a library pattern (`atelier garment list`) or a template (tube-dress, skirt); "
                           "repeat it for an outfit, innermost first (--garment straight-trousers --garment t-shirt: "
                           "the T-shirt is draped over the draped trousers)")
    what.add_argument("--outfit", metavar="FILE",
                      help="or an outfit file (.toml/.json/.yaml: name and a [[garments]] list, each with garment, "
                           "size, fabric, colour, layer; see docs/scripting.md)")
    what.add_argument("--garment-mesh", metavar="FILE",
                      help="or a garment mesh made elsewhere (.obj, .glb, .gltf exported from CLO 3D, Marvelous Designer "
                           "or any 3D tool), draped as it was sewn")
    p.add_argument("--out", required=True, metavar="DIR2", help="output folder for the draped garment")
    p.add_argument("--pose", default=None, help="pose preset to drape in (a-pose, relaxed, t-pose); default: the twin's pose")
    p.add_argument("--resolution", type=float, default=None, help="cloth resolution: below 1, an edge length in metres; 50 or more, a vertex count (finer is slower)")
    p.add_argument("--max-frames", type=int, default=None, help="frame cap for the simulation")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds before the Blender job is stopped (default 900)")
    from garments.cli import add_drape_arguments, add_mesh_arguments

    add_drape_arguments(p)
    add_mesh_arguments(p)
    _add_model(p)
    _add_common(p)

    p = sub.add_parser(
        "render",
        help="render a dressed twin from N angles with pyrender and/or Blender",
        description=(
            "Render the body and garment in a drape folder (from `atelier drape`) on a turntable of N views, framed "
            "automatically, with the same camera rig in every renderer; writes PNGs (RGBA) and a contact sheet."
        ),
    )
    p.add_argument("dressed", metavar="DRAPE_DIR|SCENE_FILE",
                   help="folder written by `atelier drape` (body.ply + garment.ply), or a scene file (.toml/.yaml/.json)")
    p.add_argument("--out", required=True, help="output folder for the images")
    _add_render_opts(p, 512)
    shots = p.add_argument_group(
        "shots mode", "give any of these to render named shots in channel formats with one backend, instead of the "
        "default turntable with every renderer")
    shots.add_argument("--backend", default=None, choices=["auto", "pytorch3d", "pyrender", "blender"],
                       help="renderer; auto = PyTorch3D on a CUDA GPU when installed, else pyrender")
    shots.add_argument("--shots", default=None,
                       help="comma list: front, back, left, right, three-quarter, turntable:N, detail-head, "
                            "detail-upper-body, detail-waist, ... (default front,three-quarter,left,back,right)")
    shots.add_argument("--format", action="append", default=None, metavar="ASPECT@PX", type=_format,
                       help="channel format, e.g. 1:1@1080, 4:5@1350, 9:16@1920, 16:9@1920x1080 (repeatable)")
    shots.add_argument("--look", default=None, help="look preset: studio, ecommerce, campaign, or hdri-<name> (city, courtyard, forest, interior, night, studio, sunrise, sunset: the bpy wheel's CC0 HDRIs)")
    shots.add_argument("--outputs", default=None, help="extra outputs, comma list of depth, normals, mask")
    p.add_argument("--twin-id", default=None, help="registry id of the person's twin (needed unless the body is synthetic)")
    p.add_argument("--channel", default="internal-fit-check",
                   help="use the images are for: social, e-commerce, print, out-of-home, internal-fit-check (default)")
    p.add_argument("--region", default="*", help="region code the images are for, e.g. FR (default *: anywhere)")
    p.add_argument("--db", default=None, help="rights registry: database URL or SQLite file (default $ATELIER_DB_URL or ./atelier-data/atelier.db)")
    _add_common(p)

    from engine.rights.cli import add_parsers as add_rights_parsers

    add_rights_parsers(sub)

    from scenes.cli import add_parsers as add_scene_parsers

    add_scene_parsers(sub)

    from garments.cli import add_parsers as add_garment_parsers

    add_garment_parsers(sub)

    from bodies.cli import add_parsers as add_body_parsers

    add_body_parsers(sub)

    from scenes.fitcheck.cli import add_parsers as add_fitcheck_parsers

    add_fitcheck_parsers(sub)
    return parser


#: --out suffixes of the commands that write one file (garment show, scene export); others write folders.
_FILE_OUTPUTS = (".svg", ".blend", ".glb")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "smplx_dir", None):
        os.environ["ATELIER_SMPLX_DIR"] = args.smplx_dir

    def work() -> int:
        if getattr(args, "out", None):  # outputs are checked before the work, not after it
            from engine.storage import check_output

            check_output(args.out, folder=Path(args.out).suffix.lower() not in _FILE_OUTPUTS)
        if args.command in ("twins", "ledger"):
            from engine.rights import cli as rights_cli

            return rights_cli.run(args)
        if args.command == "body":
            from bodies import cli as bodies_cli

            return bodies_cli.run(args)
        if args.command == "garment":
            from garments import cli as garments_cli

            return garments_cli.run(args)
        from scenes.fitcheck import cli as fitcheck_cli

        if args.command in fitcheck_cli.COMMANDS:
            return fitcheck_cli.run(args)
        from scenes import cli as scenes_cli

        if args.command in scenes_cli.COMMANDS:
            return scenes_cli.run(args)
        from . import pipeline

        return pipeline.run_command(args)

    return run_reporting(args.command, work)


if __name__ == "__main__":
    sys.exit(main())
