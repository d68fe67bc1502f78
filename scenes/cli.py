"""``atelier`` subcommands for scenes and campaigns.

The lead's ``atelier/cli.py`` calls :func:`add_parsers` with its subparsers and hands the parsed
arguments of these commands to :func:`run`:

- ``atelier schema scene|campaign`` prints the JSON Schema (for editors);
- ``atelier run SCRIPT.py [ARGS...]`` runs an artist's script headless;
- ``atelier campaign plan FILE [--out DIR] [--workers N]`` lists the cells and an estimate;
- ``atelier campaign run FILE --out DIR [--workers N] [--executor local|ray] [--address A]
  [--resume] [--retries N] [--cache DIR]`` renders them;
- ``atelier scene render FILE --out DIR`` renders a scene file;
- ``atelier scene export FILE --out PATH.blend|PATH.glb`` exports a scene for hand work or the web;
- ``atelier animate --twin DIR --garment DRAPE_DIR|NAME --motion catwalk --seconds 8 --out DIR``
  animates a dressed twin (PNG frames, MP4, Alembic, USD; see :mod:`scenes.motion`).
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path

COMMANDS = ("schema", "run", "campaign", "scene", "animate")


def add_parsers(sub) -> None:
    """Add the scene and campaign commands to an ``argparse`` subparsers object."""
    p = sub.add_parser("schema", help="print the JSON Schema of scene or campaign files (for editors)",
                       description="Print the JSON Schema of a scene or campaign file, so editors autocomplete and "
                                   "validate them (e.g. save it and point your editor's TOML/YAML schema setting at it).")
    p.add_argument("kind", choices=["scene", "campaign"], help="which file kind")

    p = sub.add_parser("run", help="run a Python script that uses the scenes API, headless",
                       description="Run an artist's Python script (it imports `scenes`) in this environment, "
                                   "headless. Arguments after the script are passed to it in sys.argv.")
    p.add_argument("script", help="the .py file")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments for the script")

    p = sub.add_parser("campaign", help="plan or run a campaign (many cells, resumable, local or Ray)",
                       description="A campaign file lists twins, outfits, sizes, poses, shots, locales and formats; "
                                   "their cross product (filtered by include/exclude rules) is a set of cells, one "
                                   "image each, with stable ids.")
    csub = p.add_subparsers(dest="campaign_command", metavar="ACTION", required=True)
    cp = csub.add_parser("plan", help="show the cells and an estimate of the time")
    cp.add_argument("file", help="campaign file (.toml, .yaml, .json)")
    cp.add_argument("--out", default=None, help="an output folder: cells already finished there are marked done")
    cp.add_argument("--workers", type=int, default=1, help="workers assumed by the estimate (default 1)")
    cp.add_argument("--json", action="store_true", help="print the plan as JSON")
    cr = csub.add_parser("run", help="render the cells")
    cr.add_argument("file", help="campaign file (.toml, .yaml, .json)")
    cr.add_argument("--out", required=True, help="output folder (cells/<id>/ per cell, manifests, summary)")
    cr.add_argument("--workers", type=int, default=1, help="jobs at once (default 1)")
    cr.add_argument("--executor", choices=["local", "ray"], default="local",
                    help="local process pool (default) or Ray (needs the 'ray' extra)")
    cr.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray instance)")
    cr.add_argument("--resume", action="store_true", help="skip cells already finished in --out")
    cr.add_argument("--retries", type=int, default=None, help="extra attempts per failed job (default: run.retries)")
    cr.add_argument("--cache", default=None, help="drape cache folder shared by campaigns (default OUT/drapes)")
    for q in (cp, cr):
        q.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary")
        q.add_argument("--max-cells", type=int, default=None, metavar="N",
                       help="refuse campaigns of more than N combinations (default 20000), counted before planning")

    p = sub.add_parser("scene", help="render or export a scene file",
                       description="Render a scene file, or export it to .blend (for hand work in Blender) or "
                                   ".glb (for the web).")
    ssub = p.add_subparsers(dest="scene_command", metavar="ACTION", required=True)
    sr = ssub.add_parser("render", help="render a scene file's shots and formats")
    sr.add_argument("file", help="scene file (.toml, .yaml, .json)")
    sr.add_argument("--out", required=True, help="output folder")
    sr.add_argument("--workers", type=int, default=1, help="jobs at once (default 1)")
    se = ssub.add_parser("export", help="export a scene to .blend or .glb")
    se.add_argument("file", help="scene file (.toml, .yaml, .json)")
    se.add_argument("--out", required=True, help="output path ending in .blend or .glb")
    se.add_argument("--cache", default=None, help="drape cache folder (default: beside --out)")
    se.add_argument("--timeout", type=float, default=300.0, help="seconds for the Blender export job (default 300)")
    for q in (sr, se):
        q.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary")


    add_animate_parser(sub)


def add_animate_parser(sub) -> None:
    """The ``animate`` command (motion with cloth; :mod:`scenes.motion`)."""
    p = sub.add_parser(
        "animate", help="animate a dressed twin: catwalk, turntable, pose keyframes or a BVH clip, with cloth",
        description="Move a twin (a procedural catwalk, a turntable spin in a pose, pose keyframes or a BVH clip) "
                    "wearing a garment draped on it in the A-pose, simulating the cloth over the moving body in "
                    "Blender. A pre-roll moves the body from the A-pose into the first pose and is dropped. Writes "
                    "OUT/frames/frame_NNNN.png, OUT/animation.mp4 (H.264, yuv420p), OUT/garment.abc (Alembic), "
                    "OUT/dressed.usdc (USD) and OUT/animation.json (per-frame penetration and displacement). Every "
                    "frame and the MP4 carry the AI disclosure; a real person's twin needs a live consent grant.")
    p.add_argument("--twin", required=True, metavar="DIR", help="twin folder (twin.json)")
    p.add_argument("--garment", required=True, metavar="DRAPE_DIR|NAME",
                   help="a folder written by `atelier drape --pose a-pose`, or a garment name (draped in the A-pose "
                        "into OUT/drape first)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--motion", default="catwalk",
                   help="catwalk (default), turntable, a fashion pose name held still, keys:POSE@S,POSE@S,... "
                        "(presets or pose .json files at seconds) or a .bvh clip")
    p.add_argument("--pose", default=None, help="the pose held by a turntable (default soft-elbows)")
    p.add_argument("--seconds", type=float, default=8.0, help="length of the output (default 8)")
    p.add_argument("--frames", type=int, default=None, help="output frames instead of --seconds (e.g. 24/36/72 for a spin set)")
    p.add_argument("--fps", type=int, default=30, help="frames per second (default 30)")
    p.add_argument("--size", default="540x960", help="WIDTHxHEIGHT, both even (default 540x960)")
    p.add_argument("--camera", default="follow", choices=["fixed", "follow", "turntable"], help="camera move (default follow)")
    p.add_argument("--preroll", type=int, default=24, help="simulated frames from the A-pose into the first pose, not output (default 24)")
    p.add_argument("--decimate", type=float, default=0.2, help="collider decimation ratio (default 0.2)")
    p.add_argument("--no-exports", action="store_true", help="skip the Alembic and USD files")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds before the Blender job is stopped (default 3600)")
    p.add_argument("--twin-id", default=None, help="registry id of the person's twin (needed unless the twin is synthetic)")
    p.add_argument("--channel", default="internal-fit-check", help="use the video is for (default internal-fit-check)")
    p.add_argument("--region", default="*", help="region code the video is for (default *)")
    p.add_argument("--db", default=None, help="rights registry (default $ATELIER_DB_URL or ./atelier-data/atelier.db)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary")


def run(args) -> int:
    """Run a parsed scene/campaign command. Returns the exit code."""
    return {"schema": _schema, "run": _run_script, "campaign": _campaign, "scene": _scene,
            "animate": _animate}[args.command](args)


def _animate(args) -> int:
    from engine.errors import InputError

    from .motion import animate

    try:
        w, h = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        raise InputError(f"--size {args.size!r}: write WIDTHxHEIGHT, e.g. 540x960") from None
    out = Path(args.out)
    drape = Path(args.garment)
    if not (drape / "garment.ply").is_file():
        from garments.drape import drape_twin

        if not args.quiet:
            print(f"drape     {args.garment} on {args.twin} in the A-pose -> {out / 'drape'}", flush=True)
        drape_twin(args.twin, args.garment, out / "drape", pose="a-pose")
        drape = out / "drape"
    consent = (args.twin_id, args.channel, args.region, args.db) if args.twin_id else None
    say = (lambda line: None) if args.quiet else (lambda line: print(f"  {line}", flush=True))
    res = animate(args.twin, drape, out, motion=args.motion, seconds=args.seconds, fps=args.fps, size=(w, h),
                  camera=args.camera, preroll=args.preroll, pose=args.pose, decimate=args.decimate, frames=args.frames,
                  exports=not args.no_exports, consent=consent, timeout=args.timeout,
                  progress=None if args.quiet else (lambda line: say(line) if line.split("/")[0].endswith("0") else None))
    print(f"animate   {len(res.frames)} frames (+{res.preroll} pre-roll dropped) -> {res.mp4}")
    print(f"  worst-frame penetration {res.worst_penetration_pct:.2f} % of cloth vertices > 2 mm inside; "
          f"{res.seconds_per_frame:.2f} s per simulated frame")
    for name in ("alembic", "usd"):
        if getattr(res, name):
            print(f"  {name:8s}{getattr(res, name)}")
    print(f"  report  {res.report}")
    return 0


def _schema(args) -> int:
    from .model import json_schema

    print(json.dumps(json_schema(args.kind), indent=2))
    return 0


def _run_script(args) -> int:
    from engine.errors import InputError

    script = Path(args.script)
    if not script.is_file():
        raise InputError(f"{script}: no such script", hint="pass the path of a .py file")
    argv = sys.argv
    sys.argv = [str(script), *[a for a in args.script_args if a != "--"]]
    sys.path.insert(0, str(script.resolve().parent))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = argv
        sys.path.remove(str(script.resolve().parent))
    return 0


def _campaign(args) -> int:
    from .campaign import expand
    from .io import load_campaign
    from .runner import cached_drapes, finished_cells, run_plan

    from .campaign import MAX_CELLS

    plan = expand(load_campaign(args.file), max_cells=args.max_cells or MAX_CELLS)
    if args.campaign_command == "plan":
        out = Path(args.out) if args.out else None
        done = finished_cells(out, plan) if out and out.exists() else set()
        cached = cached_drapes(out / "drapes", plan) if out and out.exists() else set()
        est = plan.estimate(args.workers, done=done, cached=cached)
        if args.json:
            print(json.dumps({
                "campaign": plan.campaign.name,
                "cells": [{"id": c.id, "label": c.label, "drape": c.drape_key, "done": c.id in done} for c in plan.cells],
                "excluded": plan.excluded, "drapes": len(plan.drapes),
                "estimate_s": round(est.total_s, 1), "workers": args.workers,
            }, indent=2))
            return 0
        if not args.quiet:
            for line in plan.table(done):
                print(line)
        print(f"\n{len(plan.cells)} cells ({len(done)} done, {plan.excluded} excluded by rules), "
              f"{len(plan.drapes)} drapes ({len(cached)} cached)")
        print(f"estimate: {est.drapes} drapes ~{est.drape_s:.0f} s + {est.cells} renders ~{est.render_s:.0f} s "
              f"= ~{_hms(est.total_s)} with {args.workers} worker(s)")
        return 0
    import signal

    def _term(signum, frame):  # a batch farm's SIGTERM stops the workers like Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    summary = run_plan(plan, args.out, workers=args.workers, executor=args.executor, address=args.address,
                       resume=args.resume, cache=args.cache, retries=args.retries, quiet=args.quiet)
    for line in summary.lines():
        print(line)
    print(f"outputs in {Path(args.out) / 'cells'} (index: {Path(args.out) / 'index.json'})")
    return 0 if summary.ok else 1


def _scene(args) -> int:
    from .api import export_blend, export_glb, render
    from .io import load_scene
    from engine.errors import InputError

    scene = load_scene(args.file)
    if args.scene_command == "render":
        result = render(scene, args.out, workers=args.workers, quiet=args.quiet)
        for p in result.images:
            print(p)
        for line in result.summary.lines()[1:]:
            print(line)
        return 0 if result.summary.ok else 1
    out = Path(args.out)
    if out.suffix == ".blend":
        path = export_blend(scene, out, cache=args.cache, timeout=args.timeout, quiet=args.quiet)
    elif out.suffix in (".glb", ".gltf"):
        path = export_glb(scene, out, cache=args.cache, quiet=args.quiet)
    else:
        raise InputError(f"{out}: export to .blend or .glb", hint="end --out with .blend or .glb")
    print(f"exported {path}")
    return 0


def _hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m scenes.cli ...``): the same commands as ``atelier``, without the others."""
    from engine.errors import run_reporting

    parser = argparse.ArgumentParser(prog="atelier")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_parsers(sub)
    args = parser.parse_args(argv)
    return run_reporting(args.command, lambda: run(args), interrupted="finished cells are kept, run again with --resume")


if __name__ == "__main__":
    sys.exit(main())
