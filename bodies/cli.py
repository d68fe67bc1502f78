"""Command-line pieces owned by bodies/: extra ``atelier fit`` flags and ``atelier body``.

Wiring (in atelier/cli.py and atelier/pipeline.py)::

    from bodies.cli import add_fit_arguments, fit_kwargs, add_parsers, run as run_body
    add_fit_arguments(fit_parser)       # after the existing `fit` arguments
    add_parsers(sub)                    # adds `atelier body`; its handler is bodies.cli.run
    fit_to_folder(model, scan, out, **fit_kwargs(args), ...)
    fit_quality_verdict(report, ...)    # after each fit: prints the poor parts, raises PoorFitError
    after_fit(out, scan, model, **appearance_kwargs(args))   # bodies.appearance.folder
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import InputError

from .phenotype import TARGETS


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for ``atelier fit`` beyond scan/--out/--units/--up/--iterations/--seed/--model."""
    parser.add_argument("--detail", action="store_true",
                        help="also fit per-vertex offsets (hair, tight clothing) into DIR/detail_offsets.npz; "
                             "body.ply stays the parametric body")
    parser.add_argument("--keep-floor", action="store_true", help="do not remove a floor/turntable plane")
    parser.add_argument("--keep-clutter", action="store_true", help="do not remove stray clusters away from the body")
    parser.add_argument("--max-points", type=int, default=150_000,
                        help="decimate larger scans on a voxel grid to at most this many points (default 150000)")
    parser.add_argument("--pose-init", default="relaxed", help="pose preset the fit starts from (default relaxed)")
    parser.add_argument("--accept-poor", action="store_true",
                        help="exit 0 even when the quality gate marks a body part poor (the twin is written "
                             "either way; fit_report.json 'quality' names the parts)")
    parser.add_argument("--hair", default=None, metavar="STYLE[:COLOUR]",
                        help="hairstyle recorded in twin.json: crop, short, bob, long, ponytail, bun or none, "
                             "with an sRGB colour #rrggbb or a name (e.g. bob:#3b2a20, long:blonde)")
    parser.add_argument("--texture-size", type=int, default=2048, metavar="N",
                        help="texels of the twin's albedo.png from the scan's colour (2048 default, 4096 on request)")
    parser.add_argument("--no-texture", action="store_true",
                        help="do not transfer the scan's colour (the twin renders with a skin tone)")


def fit_kwargs(args) -> dict:
    """Keyword arguments for :func:`bodies.fit.fit_to_folder` / :func:`bodies.fit.fit_scan` from
    the parsed ``atelier fit`` flags (only those :func:`add_fit_arguments` added)."""
    from .fit import FitSettings
    from .scan import CleanSettings

    kw = {}
    if getattr(args, "detail", False):
        kw["settings"] = FitSettings(detail=True)
    kw["clean"] = CleanSettings(
        remove_floor=not getattr(args, "keep_floor", False),
        remove_clusters=not getattr(args, "keep_clutter", False),
        max_points=int(getattr(args, "max_points", 150_000)),
    )
    if getattr(args, "pose_init", None):
        kw["pose_init"] = args.pose_init
    return kw


def quality_lines(report: dict) -> list[str]:
    """The quality gate's messages of a fit report, one per poor part (empty when none)."""
    return list((report.get("quality") or {}).get("messages", []))


def fit_quality_verdict(reports: list[tuple[str, dict]], out: Path, accept: bool = False, quiet: bool = False) -> None:
    """After ``atelier fit``: print each poor part of each fit and, unless ``accept``, raise
    :class:`~bodies.quality.PoorFitError` (exit code 4) naming the first.

    Args:
        reports: (scan name, fit report dict) pairs (``fit_report.json`` contents).
        out: the output folder (named in the hint).
        accept: ``--accept-poor`` was given.
    """
    from .quality import PoorFitError

    poor = [(name, quality_lines(r)) for name, r in reports if (r.get("quality") or {}).get("poor")]
    if not poor:
        return
    for name, lines in poor:
        for line in lines:
            print(f"  poor fit{'' if len(reports) == 1 else ' of ' + name}: {line}")
    if accept:
        print(f"  kept anyway (--accept-poor): {len(poor)} of {len(reports)} fits are marked poor in fit_report.json")
        return
    name, lines = poor[0]
    what = f"the fit of {name} is poor" if len(reports) == 1 else \
        f"{len(poor)} of {len(reports)} fits are poor (first: {name})"
    raise PoorFitError(
        f"{what}: {lines[0]}",
        hint=f"the twin was written to {out}/ and fit_report.json 'quality' lists every part; check that the scan "
             "shows the whole body (a limb cut off, hidden or merged with the torso), or pass --accept-poor to "
             "keep a poor fit and exit 0")


def appearance_kwargs(args) -> dict:
    """Keyword arguments for :func:`bodies.appearance.folder.after_fit` from the ``atelier fit``
    flags (``--hair``, ``--texture-size``, ``--no-texture``); checks them before the fit runs."""
    from .appearance.hair import parse_hair
    from .appearance.skin import check_size

    hair = getattr(args, "hair", None)
    parse_hair(hair)  # a bad style or colour fails now, not after a minute of fitting
    return {"texture": not getattr(args, "no_texture", False),
            "texture_size": check_size(getattr(args, "texture_size", 2048)), "hair": hair}


def add_parsers(subparsers) -> argparse.ArgumentParser:
    """Add ``atelier body`` to an argparse subparsers object; returns its parser (handler:
    :func:`run`, also set as ``func`` default)."""
    p = subparsers.add_parser(
        "body",
        help="make a twin from tape measurements or a phenotype (no scan)",
        description=(
            "Build an Anny body whose tape measurements (cm, taken in the A-pose as in docs/measurements.md) match "
            "the ones given (--height --bust --waist --hips ...), or from a phenotype (--age --weight --gender "
            "--height --muscle). Writes DIR/twin.json, DIR/body.ply, DIR/measurements.json and DIR/body_report.json "
            "(targets and residuals in cm)."
        ),
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder for the twin")
    p.add_argument("--height", type=float, help="standing height, cm")
    p.add_argument("--bust", type=float, help="bust/chest circumference, cm")
    p.add_argument("--underbust", type=float, help="under-bust circumference, cm")
    p.add_argument("--waist", type=float, help="waist circumference, cm")
    p.add_argument("--high-hip", type=float, dest="high_hip", help="high-hip circumference, cm")
    p.add_argument("--hips", type=float, help="hip circumference, cm")
    p.add_argument("--gender", default=None, help="female, male, neutral or 0 (male) .. 1 (female)")
    p.add_argument("--age", type=float, default=None, help="age, years")
    p.add_argument("--weight", type=float, default=None, help="body weight, kg (phenotype mode)")
    p.add_argument("--muscle", type=float, default=0.5, help="muscle 0..1 (phenotype mode, default 0.5)")
    p.add_argument("--proportions", type=float, default=0.5, help="proportions 0..1 (phenotype mode, default 0.5)")
    p.add_argument("--pose", default="a-pose", help="pose of the twin written (default a-pose)")
    p.add_argument("--model", default="anny", help="body model (anny: the phenotype parameters are needed)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    """Handler of ``atelier body``: writes the twin folder and prints the residuals."""
    import bodies
    from engine.storage import write_json

    from .phenotype import body_from_measurements, body_from_phenotype

    model = bodies.create(getattr(args, "model", "anny"))
    keys = {"height_cm": args.height, "bust_cm": args.bust, "underbust_cm": args.underbust, "waist_cm": args.waist,
            "high_hip_cm": args.high_hip, "hips_cm": args.hips}
    targets = {k: v for k, v in keys.items() if v is not None}
    assert set(targets) <= set(TARGETS)
    circumferences = {k for k in targets if k != "height_cm"}
    if circumferences:
        if args.weight is not None:
            raise InputError("give either circumferences (--bust, --waist, ...) or --weight, not both",
                             hint="circumferences set the body's size; --weight is for phenotype bodies")
        plain = model.name == "anny"
        body = body_from_measurements(model, targets, gender=args.gender, age=args.age, rounds=4 if plain else 8)
        if not body.converged and plain:
            # the six phenotype values cannot reach every combination: free Anny's bust,
            # under-bust, waist and hip girth modifiers too (twin model "anny-detailed")
            detailed = bodies.create("anny-detailed")
            again = body_from_measurements(detailed, targets, gender=args.gender, age=args.age, start=body.shape)
            if max(map(abs, again.residuals.values())) < max(map(abs, body.residuals.values())):
                body, model = again, detailed
        mode = "measurements"
    else:
        body = body_from_phenotype(model, gender=args.gender or "neutral", age=args.age, height_cm=args.height,
                                   weight_kg=args.weight, muscle=args.muscle, proportions=args.proportions)
        mode = "phenotype"
    out = Path(args.out)
    twin = body.twin(model, pose=args.pose, source={"synthetic": True, "from": mode, "targets_cm": body.targets})
    twin.save(out, model)
    # this command made the body from parameters: the rights registry records it as synthetic
    # (the "synthetic" flag in twin.json is only a note; renders ask the registry)
    from engine.rights import Registry

    with Registry.open() as registry:
        registry.register_synthetic(out, "atelier body")
    write_json(out / "measurements.json", {"units": "cm", "pose": "a-pose", "model": model.name,
                                           "definitions": "docs/measurements.md", "measurements": body.measurements})
    report = body.report()
    report["mode"] = mode
    write_json(out / "body_report.json", report)
    print(f"twin written to {out}/ (twin.json, body.ply, measurements.json, body_report.json)")
    for k, t in body.targets.items():
        got = body.measurements.get(k) if k in body.measurements else report["phenotype"].get("weight_kg_result")
        unit = "kg" if k.endswith("_kg") else "cm"
        print(f"  {k[:-3]:<10} asked {t:7.1f} {unit}  got {got:7.1f} {unit}  residual {body.residuals.get(k, float('nan')):+.2f}")
    if not body.converged:
        print("  warning: not every measurement is within 1 cm: the body model cannot reach this combination "
              "(see body_report.json)")
        return 3
    return 0


__all__ = ["add_fit_arguments", "fit_kwargs", "fit_quality_verdict", "quality_lines", "add_parsers", "run"]
