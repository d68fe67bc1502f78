"""``atelier fitcheck``: every size of a garment on every body, in one offline page.

The app wires it in: ``add_parsers(subparsers)`` adds the command, ``run(args)`` runs it::

    atelier fitcheck --garment NAME [--fabric NAME] --sizes XS,S,M,L,XL --twin DIR [--twin DIR ...]
                     [--population NAME] --out DIR [--resolution N] [--frames N] [--px N] [--cache DIR]
"""

from __future__ import annotations

import argparse

COMMANDS = ("fitcheck",)


def add_parsers(subparsers) -> None:
    """Add ``fitcheck`` to an argparse subparsers object."""
    from .populations import population_names

    p = subparsers.add_parser(
        "fitcheck", help="drape each size of a garment on each body and write a fit-check page (index.html)",
        description="Drape every size of a garment on every body (twin folders and/or a population of synthetic "
                    "bodies), reusing cached drapes, and write OUT/index.html: a size grid of front and back images, "
                    "strain and clearance maps, the fit by region with a recommended size per body, and a 3D view "
                    "of each dressed body. The page works offline from file://.")
    p.add_argument("--garment", required=True, help="garment name (atelier garment list), e.g. t-shirt")
    p.add_argument("--fabric", default=None, help="fabric preset, e.g. cotton-jersey (default: the garment's)")
    p.add_argument("--sizes", default="XS,S,M,L,XL", help="comma list of sizes (default XS,S,M,L,XL)")
    p.add_argument("--twin", action="append", default=[], metavar="DIR", help="twin folder (repeatable)")
    p.add_argument("--population", default=None,
                   help=f"a set of synthetic bodies: {', '.join(population_names())} "
                        "(scenes/fitcheck/data/populations.json)")
    p.add_argument("--out", required=True, help="output folder (index.html, images, GLBs, drapes)")
    p.add_argument("--pose", default="a-pose", help="pose preset to drape in (default a-pose; 'own' keeps each twin's pose)")
    p.add_argument("--resolution", type=int, default=5000, help="approximate cloth vertices per drape (default 5000)")
    p.add_argument("--frames", type=int, default=250, help="simulation frame cap per drape (default 250)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per drape (default 900)")
    p.add_argument("--px", type=int, default=512, help="image height in pixels (default 512)")
    p.add_argument("--cache", default=None, help="drape cache folder, shareable between runs (default OUT/drapes)")
    p.add_argument("--glb-colors", choices=["strain", "clearance", "fabric"], default="strain",
                   help="garment colours in the 3D view (default strain)")
    p.add_argument("--workers", type=int, default=1, help="drapes run at once, each a Blender process (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary")


def settings_from_args(args: argparse.Namespace):
    """:class:`scenes.fitcheck.FitcheckSettings` from parsed arguments."""
    from .run import FitcheckSettings

    return FitcheckSettings(
        garment=args.garment, sizes=[s for s in args.sizes.split(",") if s.strip()], fabric=args.fabric,
        pose=None if args.pose in ("own", "none", "") else args.pose, resolution=args.resolution,
        max_frames=args.frames, timeout=args.timeout, image_px=args.px, cache=args.cache,
        glb_colors=args.glb_colors, quiet=args.quiet, workers=args.workers)


def run(args: argparse.Namespace) -> int:
    """Run ``atelier fitcheck``; AtelierErrors propagate to the app, which prints them."""
    from .run import run_fitcheck

    result = run_fitcheck(settings_from_args(args), args.twin, args.out, population=args.population)
    for slug, rec in result.recommendations.items():
        name = next(b.name for b in result.bodies if b.slug == slug)
        print(f"{name}: {rec.size or '-'}{'' if rec.fits else ' (nothing fits)'} - {rec.reason}")
    print(f"open {result.index.as_uri()}")
    return 0


__all__ = ["add_parsers", "run", "settings_from_args", "COMMANDS"]
