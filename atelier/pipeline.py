"""The pipeline behind the ``atelier`` command: stages that skip themselves when their outputs
are complete for the same inputs, so an interrupted run resumes where it stopped.

Each stage writes its files atomically and then a stamp ``.atelier/<stage>.json`` holding a hash
of its inputs; a stage whose stamp matches is skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import AtelierError, InputError
from engine.progress import Progress, say
from engine.storage import json_sha256, read_json, write_json

SKIN = (0.80, 0.64, 0.53, 1.0)
#: the demo's outfit, innermost first: a T-shirt over straight trousers (library patterns)
DEMO_OUTFIT = ("straight-trousers", "t-shirt")
#: cloth vertices of each demo garment
DEMO_RESOLUTION = 2500
GARMENT = (0.16, 0.30, 0.55, 1.0)


# --- stage bookkeeping -------------------------------------------------------------------------
class Stages:
    """Stamps of finished stages under ``root/.atelier``."""

    def __init__(self, root: Path, force: bool = False):
        self.dir = Path(root) / ".atelier"
        self.force = force

    def done(self, stage: str, inputs: dict, outputs: list[Path]) -> bool:
        stamp = self.dir / f"{stage}.json"
        if self.force or not stamp.exists():
            return False
        try:
            data = read_json(stamp)
        except ValueError:
            return False
        return data.get("inputs") == json_sha256(inputs) and all(Path(p).exists() for p in outputs)

    def mark(self, stage: str, inputs: dict, info: dict | None = None) -> None:
        write_json(self.dir / f"{stage}.json", {"inputs": json_sha256(inputs), "finished": time.time(), **(info or {})})


# --- stages ------------------------------------------------------------------------------------
def stage_scan(out: Path, seed: int, stages: Stages, quiet: bool = False) -> Path:
    """Synthetic scan of a random Anny body -> ``out/scan/synthetic_scan.ply``."""
    import bodies
    from bodies.synthetic import make_synthetic_scan

    path = out / "scan" / "synthetic_scan.ply"
    inputs = {"seed": seed, "model": "anny"}
    if stages.done("scan", inputs, [path]):
        say(f"[1/5] scan     already made: {path}", quiet)
        return path
    say(f"[1/5] scan     making a synthetic scan of a random Anny body (seed {seed})", quiet)
    make_synthetic_scan(bodies.create("anny"), path, seed=seed)
    stages.mark("scan", inputs)
    return path


def stage_fit(scan_path: Path, twin_dir: Path, stages: Stages, model_name: str = "anny", units="auto", up="auto",
              iterations=None, seed: int = 0, quiet: bool = False, step: str = "[2/4]",
              extra: dict | None = None, appearance: dict | None = None) -> dict:
    """Scan -> twin folder (twin.json, body.ply, fit_report.json). Returns the fit report."""
    import bodies
    from bodies.fit import fit_to_folder
    from bodies.scan import load_scan

    scan = load_scan(scan_path, units=units, up=up)
    inputs = {"scan": scan.sha256, "model": model_name, "units": units, "up": up, "iterations": iterations,
              "seed": seed, "extra": repr(sorted((extra or {}).items())),
              "appearance": repr(sorted((appearance or {}).items()))}
    report_path = twin_dir / "fit_report.json"
    outputs = [twin_dir / n for n in ("twin.json", "body.ply", "body_scanframe.ply", "measurements.json")] + [report_path]
    if stages.done("fit", inputs, outputs):
        say(f"{step} fit      already done: {twin_dir / 'twin.json'}", quiet)
        return read_json(report_path)
    say(f"{step} fit      fitting {model_name} to {scan_path} ({len(scan.points)} points, "
        f"units: {scan.units} ({scan.metadata['units_source']}), up: {scan.up} ({scan.metadata['up_method']}))", quiet)
    model = bodies.create(model_name)
    kw = {"seed": seed}
    if iterations:
        kw["iterations"] = iterations
    progress = Progress("fit", quiet=quiet)
    result = fit_to_folder(model, scan, twin_dir, progress=progress, **kw, **(extra or {}))
    progress.finish(f"mean {result.mean_mm:.1f} mm, p95 {result.p95_mm:.1f} mm")
    from bodies.appearance.folder import after_fit

    after_fit(twin_dir, scan, model, quiet=quiet, **(appearance or {}))  # albedo.png, hair in twin.json
    stages.mark("fit", inputs)
    return read_json(report_path)


def stage_drape(twin_dir: Path, drape_dir: Path, garment, stages: Stages, pose=None, resolution=None,
                max_frames=None, timeout: float = 900.0, quiet: bool = False, step: str = "[3/4]",
                extra: dict | None = None) -> dict:
    """Twin folder -> drape folder (garment.ply, body.ply, fit.json, dressed.glb, drape_report.json,
    blender.log). ``garment``: a garment name (``extra`` may hold its size and fabric) or a
    :class:`garments.outfit.Outfit` (then ``layers/<i>-<name>/`` hold each layer's drape)."""
    from garments.outfit import Outfit, drape_twin

    from engine.storage import file_sha256

    if not (twin_dir / "twin.json").exists():
        raise InputError(f"{twin_dir}: no twin.json here", hint="make a twin with `atelier fit SCAN --out DIR` first")
    extra = dict(extra or {})
    if isinstance(garment, Outfit):
        what_in = garment.to_dict()
        for g in what_in["garments"]:
            if g.get("kind") == "mesh":
                g["sha256"] = file_sha256(g["garment"])
        label = " over ".join(r.name for r in reversed(garment.layered()))
    else:
        what_in, label = garment, f"a {garment}"
    inputs = {"twin": file_sha256(twin_dir / "twin.json"), "garment": what_in, "pose": pose,
              "resolution": resolution, "max_frames": max_frames, **{k: str(v) for k, v in extra.items()}}
    outputs = [drape_dir / n for n in ("garment.ply", "body.ply", "drape_report.json", "fit.json", "dressed.glb")]
    kw = dict(extra)
    if resolution:
        kw["resolution"] = resolution
    if max_frames:
        kw["max_frames"] = max_frames
    return _drape_stage(stages, inputs, outputs, drape_dir, step, quiet,
                        f"simulating {label} in Blender (worker process; log: {drape_dir / 'blender.log'})",
                        lambda progress: drape_twin(twin_dir, garment, drape_dir, pose=pose, timeout=timeout,
                                                    progress=progress, **kw),
                        lambda: _register_drape(twin_dir, drape_dir, inputs["twin"], quiet, step))


def _register_drape(twin_dir: Path, drape_dir: Path, twin_sha: str, quiet: bool, step: str) -> None:
    """Tell the rights registry that the drape's posed body is the body of the twin it was made
    from (engine.rights.consent.record_draped_body), so `atelier render` may draw it under that
    twin's consent (or as synthetic). Nothing is recorded when the twin's body is not registered."""
    from engine.rights import Registry
    from engine.rights.consent import record_draped_body

    registry = Registry.open_existing()
    found = None
    if registry is not None:
        with registry:
            found = record_draped_body(registry, twin_dir, drape_dir / "body.ply", "atelier drape", twin_sha)
    if found is None:
        say(f"{step} consent  the body of {twin_dir} is not in the rights registry: rendering {drape_dir} will be "
            "refused until it is (`atelier twins attach TWIN_ID --fit TWIN_DIR`, then drape again)", quiet)


def _drape_stage(stages: Stages, inputs: dict, outputs: list, drape_dir: Path, step: str, quiet: bool,
                 what: str, drape, register=None) -> dict:
    """The drape stage's frame: skip it when ``outputs`` are there for these ``inputs``, else say
    ``what`` it does, run ``drape(progress_callback)`` with a progress line, mark the stage done.
    Returns the drape report."""
    if stages.done("drape", inputs, outputs):
        say(f"{step} drape    already done: {drape_dir / 'garment.ply'}", quiet)
        if register:
            register()
        return read_json(drape_dir / "drape_report.json")
    say(f"{step} drape    {what}", quiet)
    progress = Progress("drape", quiet=quiet)
    result = drape(lambda line: progress.update(note=line))
    progress.finish(f"{result.frames} frames, penetration {result.penetration_pct:.2f} %")
    stages.mark("drape", inputs)
    if register:
        register()
    return read_json(drape_dir / "drape_report.json")


def stage_drape_mesh(twin_dir: Path, drape_dir: Path, mesh: Path, stages: Stages, pose=None, max_frames=None,
                     timeout: float = 900.0, quiet: bool = False, step: str = "", extra: dict | None = None) -> dict:
    """Twin folder + garment mesh made elsewhere (CLO / Marvelous Designer export) -> drape folder
    (garment.ply, body.ply, fit.json, dressed.glb, drape_report.json, blender.log)."""
    from garments.imported import drape_imported_twin

    from engine.storage import file_sha256

    if not (twin_dir / "twin.json").exists():
        raise InputError(f"{twin_dir}: no twin.json here", hint="make a twin with `atelier fit SCAN --out DIR` first")
    extra = dict(extra or {})

    def digest(p):
        return file_sha256(p) if p and Path(p).is_file() else str(p)

    inputs = {"twin": file_sha256(twin_dir / "twin.json"), "garment_mesh": digest(mesh), "pose": pose,
              "max_frames": max_frames, **{k: str(v) for k, v in extra.items()}, "avatar": digest(extra.get("avatar"))}
    outputs = [drape_dir / n for n in ("garment.ply", "body.ply", "drape_report.json", "fit.json", "dressed.glb")]
    kw = dict(extra)
    if max_frames:
        kw["max_frames"] = max_frames
    return _drape_stage(stages, inputs, outputs, drape_dir, step, quiet,
                        f"aligning {mesh} to the twin and simulating it in Blender (worker process; log: "
                        f"{drape_dir / 'blender.log'})",
                        lambda progress: drape_imported_twin(twin_dir, mesh, drape_dir, pose=pose, timeout=timeout,
                                                             progress=progress, **kw),
                        lambda: _register_drape(twin_dir, drape_dir, inputs["twin"], quiet, step))


def load_dressed(drape_dir: Path):
    """RenderMeshes for the body and garment of a drape folder."""
    from engine.meshio import load_ply
    from engine.render.scene import RenderMesh

    from engine.render.backends import dressed_layers

    parts = [("body", drape_dir / "body.ply", SKIN)]
    layers = dressed_layers(drape_dir)
    if layers:  # an outfit: one mesh per layer, in its own colour
        parts += [(name, drape_dir / d / "garment.ply", colour or GARMENT) for name, d, colour in layers]
    else:
        parts.append(("garment", drape_dir / "garment.ply", GARMENT))
    meshes = []
    for name, path, color in parts:
        if not path.exists():
            raise InputError(f"{path}: missing", hint="render a folder written by `atelier drape`")
        v, f, _ = load_ply(path)
        if f is None:
            raise InputError(f"{path}: has no faces", hint="render a folder written by `atelier drape`")
        meshes.append(RenderMesh(name=name, vertices=v, faces=f, color=color))
    # each garment's fabric is the one its drape used (an outfit's layers each have their own)
    fabrics = {}
    for name, path, _ in parts[1:]:
        report = path.parent / "drape_report.json"
        if report.exists():
            fabrics[name] = read_json(report).get("fabric")
    # the twin's texture and hair, each garment's surface: the one function cells and scenes use too
    from garments.appearance import drape_folder_meshes

    return drape_folder_meshes(drape_dir, meshes, fabrics=fabrics)


@dataclass
class Consent:
    """Who may be shown, where: checked before any pixel is drawn, recorded after.

    Attributes:
        twin_id: the registry id of the twin the caller expects the body to be (checked against the
            body drawn: the images are billed to the body's own twin), or None to let the body say.
        channel: one of engine.rights CHANNELS (e.g. "internal-fit-check", "e-commerce").
        region: region code the images are for (e.g. "FR") or "*".
        db: registry database URL or SQLite path (default $ATELIER_DB_URL or ./atelier-data).
        campaign: campaign name written into the ledger and the images.
    """

    twin_id: str | None
    channel: str = "internal-fit-check"
    region: str = "*"
    db: str | None = None
    campaign: str | None = None


def _consent_for(drape_dir: Path, consent: Consent | None, quiet: bool = False, step: str = ""):
    """The clearance for drawing a dressed folder's body (engine.rights.consent.clear, the one
    consent path): its ``body.ply`` must be a registered body; a real twin's live grant must
    cover the use; images are billed to the twin whose body it is. Call it before anything is drawn."""
    from engine.rights import Registry
    from engine.rights.consent import DrawnBody, clear

    consent = consent or Consent(twin_id=None)
    body = drape_dir / "body.ply"
    registry = Registry.open(consent.db)
    clearance = clear(registry, DrawnBody.mesh(body), consent.channel,
                      None if consent.region.strip() == "*" else consent.region, twin_id=consent.twin_id)
    if clearance.synthetic:
        say(f"{step} consent  {body}: a registered synthetic body, no person depicted", quiet)
    else:
        say(f"{step} consent  grant {clearance.grant.id} covers twin {clearance.twin_id} (the body in {body}) "
            f"for {clearance.channel} in {clearance.region or 'every region'}", quiet)
    return clearance


def stage_render(drape_dir: Path, out: Path, stages: Stages, views: int = 8, size: int = 512,
                 renderers=("pyrender", "blender"), blender_engine: str = "workbench", samples: int = 16,
                 quiet: bool = False, step: str = "[4/4]", consent: Consent | None = None) -> dict[str, list[Path]]:
    """Drape folder -> ``out/renders/<renderer>/*.png`` and ``out/contact_sheet.png``.

    The twin's consent is checked before anything is drawn (synthetic bodies need none); every
    PNG is then stamped as AI-generated (PNG text + XMP) and, for a real twin, recorded in the
    usage ledger."""
    from engine.render.camera import frame_meshes, turntable
    from engine.render.contact_sheet import make_contact_sheet
    from engine.storage import file_sha256

    if views < 1 or size < 16:
        raise InputError(f"--views {views} --size {size}: need at least 1 view of at least 16 px")
    meshes = load_dressed(drape_dir)
    clearance = _consent_for(drape_dir, consent, quiet, step)
    lo, hi = frame_meshes(meshes)
    cameras = turntable(lo, hi, n_views=views, width=size, height=size)
    base = {"body": file_sha256(drape_dir / "body.ply"), "garment": file_sha256(drape_dir / "garment.ply"),
            "views": views, "size": size, "appearance": [m.texture for m in meshes] + [m.material for m in meshes]}
    images: dict[str, list[Path]] = {}
    for name in renderers:
        folder = out / "renders" / name
        inputs = {**base, "renderer": name, "engine": blender_engine if name == "blender" else None,
                  "samples": samples if name == "blender" and blender_engine == "cycles" else None}
        stamp = stages.dir / f"render-{name}.json"
        if stages.done(f"render-{name}", inputs, [folder]) and stamp.exists():
            paths = [Path(p) for p in read_json(stamp).get("images", [])]
            if paths and all(p.exists() for p in paths):
                say(f"{step} render   {name}: already rendered {len(paths)} views in {folder}", quiet)
                images[name] = paths
                continue
        progress = Progress(f"{name}", total=len(cameras), quiet=quiet)
        if name == "pyrender":
            from engine.render.pyrender_backend import render_pyrender

            say(f"{step} render   pyrender: {views} views at {size}x{size}", quiet)
            paths = render_pyrender(meshes, cameras, folder, prefix="pyrender")
        else:
            from engine.render.blender_backend import render_blender

            say(f"{step} render   blender ({blender_engine}): {views} views at {size}x{size}", quiet)
            paths = render_blender(meshes, cameras, folder, prefix="blender", engine=blender_engine,
                                   samples=samples, progress=lambda line: progress.update(note=line))
        progress.finish()
        images[name] = [Path(p) for p in paths]
        _deliver(images[name], clearance, json_sha256(inputs), consent)
        stages.mark(f"render-{name}", inputs, {"images": [str(p) for p in paths]})
    all_paths = [p for name in renderers for p in images[name]]
    labels = [f"{name} {p.stem.split('_')[-1]}" for name in renderers for p in images[name]]
    sheet = make_contact_sheet(all_paths, out / "contact_sheet.png", columns=views, labels=labels,
                               title=f"Atelier turntable, {views} views per renderer")
    _disclose_sheet(sheet, clearance, json_sha256(base))
    return images


def _disclose_sheet(path: Path, clearance, scene_hash: str) -> None:
    """A contact sheet is an internal overview, not a delivered image: it carries the AI
    disclosure like every image but is not recorded in the ledger (it names no channel or region,
    so ``atelier ledger reconcile`` lists it and does not bill it)."""
    from engine.rights.disclosure import stamp_png

    info = clearance.disclosure(scene_hash)
    stamp_png(path, {k: v for k, v in info.items() if k not in ("channel", "region")})


def _deliver(paths: list[Path], clearance, scene_hash: str, consent: Consent | None = None) -> None:
    """Deliver the images (engine.rights.deliver): each one labelled per channel policy and
    disclosed all or nothing, and for a real twin re-checked and recorded once in the ledger."""
    from engine.rights.deliver import deliver

    deliver(clearance, paths, scene_hash, campaign=consent.campaign if consent else None)


def _register_synthetic(twin_dir: Path, made_by: str) -> None:
    """Record in the rights registry that the twin in ``twin_dir`` is synthetic: only the
    pipeline that made the body may say so (engine.rights.Registry.register_synthetic)."""
    from engine.rights import Registry

    with Registry.open() as registry:
        registry.register_synthetic(twin_dir, made_by)


# --- commands ----------------------------------------------------------------------------------
def _renderers(choice: str):
    return ("pyrender", "blender") if choice == "all" else (choice,)


def run_demo(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages(out, force=args.force)
    t0 = time.monotonic()
    scan = stage_scan(out, args.seed, stages, args.quiet)
    fit = stage_fit(scan, out, stages, quiet=args.quiet, step="[2/5]",
                    appearance={"hair": getattr(args, "hair", None) or "bob:#3b2a20"})
    _register_synthetic(out, "atelier demo (fitted to the synthetic scan its scan stage made)")
    # The demo dresses the twin in library patterns, a top over a bottom, graded to its own
    # measurements (mtm), in the A-pose: arms clear of the torso.
    from garments.outfit import Outfit

    outfit = Outfit.of(*(args.garment or DEMO_OUTFIT), size=args.garment_size)
    drape = stage_drape(out, out / "drape", outfit, stages, pose="a-pose", quiet=args.quiet,
                        resolution=args.resolution or DEMO_RESOLUTION, step="[3/5]")
    images = stage_render(out / "drape", out, stages, views=args.views, size=args.size,
                          renderers=_renderers(args.renderer), blender_engine=args.blender_engine,
                          samples=args.samples, quiet=args.quiet, step="[4/5]")
    say(f"[5/5] look     front, three-quarter and back in the campaign look (pyrender)", args.quiet)
    look = render_shots(out / "drape", out / "campaign", None, backend="pyrender", shots="front,three-quarter,back",
                        formats=[f"4:5@{max(args.size, 160)}"], look="campaign", quiet=True)
    images["campaign look"] = [Path(p) for entry in look["formats"].values() for p in entry["images"]]
    summary = {
        "scan": str(scan),
        "twin": str(out / "twin.json"),
        "body": str(out / "body.ply"),
        "fit_report": str(out / "fit_report.json"),
        "garment": str(out / "drape" / "garment.ply"),
        "drape_report": str(out / "drape" / "drape_report.json"),
        "renders": {k: [str(p) for p in v] for k, v in images.items()},
        "contact_sheet": str(out / "contact_sheet.png"),
        "synthetic": True,
        "note": "Everything here was generated from a random body model; no real person was scanned.",
    }
    write_json(out / "summary.json", summary)
    print(f"\nAtelier demo finished in {time.monotonic() - t0:.0f} s. Outputs in {out}/:")
    print(f"  synthetic scan   {scan}  (labelled SYNTHETIC)")
    print(f"  twin             {out / 'twin.json'}, {out / 'body.ply'}")
    print(f"  fit report       {out / 'fit_report.json'}  (mean {fit.get('mean_mm', float('nan')):.1f} mm, "
          f"p95 {fit.get('p95_mm', float('nan')):.1f} mm scan-to-body)")
    print(f"  draped outfit    {out / 'drape' / 'garment.ply'}  ({drape.get('garment')}, size {args.garment_size}, "
          f"{drape.get('frames')} frames, penetration {drape.get('penetration_pct', 0):.2f} %)")
    for layer in drape.get("layers", []):
        print(f"    layer {layer['name']:<18} {layer['vertices']} vertices, {layer['frames']} frames, "
              f"{layer['seconds']:.0f} s, {out / 'drape' / layer['dir']}")
    for name, paths in images.items():
        where = out / "campaign" if name == "campaign look" else out / "renders" / name
        print(f"  {name:<16} {len(paths)} PNGs in {where}")
    print(f"  contact sheet    {out / 'contact_sheet.png'}")
    print(f"  summary          {out / 'summary.json'}")
    return 0


def run_fit(args) -> int:
    out = Path(args.out)
    from bodies.cli import appearance_kwargs, fit_kwargs, fit_quality_verdict

    scans = [Path(s) for s in (args.scan if isinstance(args.scan, (list, tuple)) else [args.scan])]
    if len(scans) == 1:
        report = stage_fit(scans[0], out, Stages(out), model_name=args.model, units=args.units, up=args.up,
                           iterations=args.iterations, seed=args.seed, quiet=args.quiet, step="", extra=fit_kwargs(args),
                           appearance=appearance_kwargs(args))
        poor = " (marked POOR: see below)" if (report.get("quality") or {}).get("poor") else ""
        print(f"twin written to {out}/ (twin.json, body.ply, body_scanframe.ply, fit_report.json, measurements.json): "
              f"mean {report['mean_mm']:.1f} mm, "
              f"p95 {report['p95_mm']:.1f} mm scan-to-body in {report['seconds']:.0f} s{poor}")
        fit_quality_verdict([(scans[0].name, report)], out, accept=getattr(args, "accept_poor", False))
        return 0
    return _fit_batch(scans, out, args, fit_kwargs(args))


def _fit_batch(scans: list[Path], out: Path, args, extra: dict) -> int:
    """Several scans, one twin folder each (DIR/<scan name>/, seeded seed + i); a scan that fails
    is reported and the others go on. Writes DIR/batch.json; exit 0 only when every scan fitted."""
    from bodies.cli import appearance_kwargs

    names: list[str] = []
    for scan in scans:
        name, k = scan.stem, 2
        while name in names:
            name, k = f"{scan.stem}-{k}", k + 1
        names.append(name)
    rows, reports = [], []
    for i, (scan, name) in enumerate(zip(scans, names)):
        twin_dir = out / name
        step = f"[{i + 1}/{len(scans)}]"
        try:
            report = stage_fit(scan, twin_dir, Stages(twin_dir), model_name=args.model, units=args.units, up=args.up,
                               iterations=args.iterations, seed=args.seed + i, quiet=args.quiet, step=step, extra=extra,
                               appearance=appearance_kwargs(args))
        except AtelierError as exc:
            say(f"{step} fit      failed: {exc.message}", args.quiet)
            rows.append({"scan": str(scan), "twin": None, "error": exc.message, "hint": exc.hint})
            continue
        quality = report.get("quality") or {}
        rows.append({"scan": str(scan), "twin": str(twin_dir), "seed": args.seed + i, "mean_mm": report["mean_mm"],
                     "p95_mm": report["p95_mm"], "seconds": report["seconds"], "error": None,
                     "poor": bool(quality.get("poor")), "poor_parts": quality.get("messages", [])})
        reports.append((name, report))
    write_json(out / "batch.json", {"scans": rows})
    ok = [r for r in rows if not r["error"]]
    print(f"{len(ok)} of {len(rows)} scans fitted -> {out}/<scan name>/ (listed in {out / 'batch.json'})")
    for r in rows:
        print(f"  error: {r['error']}" if r["error"] else
              f"  {r['scan']}: mean {r['mean_mm']:.1f} mm, p95 {r['p95_mm']:.1f} mm, {r['seconds']:.0f} s"
              + (" POOR" if r["poor"] else ""))
    if len(ok) < len(rows):
        written = f" (the other {len(ok)} were written)" if ok else ""
        raise AtelierError(f"{len(rows) - len(ok)} of {len(rows)} scans could not be fitted{written}",
                           hint=f"see {out / 'batch.json'}; fix those files and run the same command again: "
                                "the finished twins are kept")
    from bodies.cli import fit_quality_verdict

    fit_quality_verdict(reports, out, accept=getattr(args, "accept_poor", False))
    return 0


def run_drape(args) -> int:
    out = Path(args.out)
    twin = Path(args.twin)
    from garments.cli import drape_kwargs, mesh_kwargs

    mesh_kw = mesh_kwargs(args)
    if getattr(args, "garment_mesh", None):
        report = stage_drape_mesh(twin, out, Path(args.garment_mesh), Stages(out), pose=args.pose,
                                  max_frames=args.max_frames, timeout=args.timeout, quiet=args.quiet, extra=mesh_kw)
        place = report.get("placement", {})
        print(f"draped imported {report.get('garment')} written to {out}/garment.ply ({report.get('vertices')} vertices, "
              f"{report.get('import', {}).get('welded_vertices', 0)} seam vertices welded, placed by {place.get('method')}, "
              f"{report.get('frames')} frames, penetration {report.get('penetration_pct', 0):.2f} %)")
        return 0
    outfit = outfit_from_args(args)
    report = stage_drape(twin, out, outfit, Stages(out), pose=args.pose, resolution=args.resolution,
                         max_frames=args.max_frames, timeout=args.timeout, quiet=args.quiet, step="",
                         extra={"settings": drape_kwargs(args)["settings"]} if args.no_turn_up else None)
    if len(outfit.garments) == 1:
        print(f"draped {report.get('garment')} written to {out}/garment.ply ({report.get('vertices')} vertices, "
              f"{report.get('frames')} frames, penetration {report.get('penetration_pct', 0):.2f} %)")
    else:
        print(f"draped outfit {report.get('garment')} written to {out}/garment.ply ({report.get('vertices')} vertices "
              f"in {len(report.get('layers', []))} layers; each layer in {out}/layers/):")
        for layer in report.get("layers", []):
            below = layer.get("penetration_of_layers_below_pct") or {}
            print(f"  {layer['name']}: {layer['vertices']} vertices, {layer['frames']} frames, {layer['seconds']:.0f} s, "
                  f"penetration {layer['penetration_pct']:.2f} % of the body"
                  + "".join(f", {v:.2f} % of {k}" for k, v in below.items()))
    turned = report.get("turned_up_cm") or {}
    if turned:
        print("  longer than the body, turned up: " + ", ".join(f"{k.replace('_', ' ')} {v} cm" for k, v in sorted(turned.items()))
              + " (fit.json turned_up_cm)")
    return 0


def outfit_from_args(args):
    """The :class:`garments.outfit.Outfit` of ``atelier drape``: ``--outfit FILE``, or the
    ``--garment`` names (repeatable, innermost first) with ``--size`` and ``--fabric`` applied
    to each garment that takes them."""
    from garments.cli import drape_kwargs
    from garments.outfit import Outfit

    kw = drape_kwargs(args)
    if getattr(args, "outfit", None):
        outfit = Outfit.load(args.outfit)
        if kw.get("size") or kw.get("fabric"):
            from dataclasses import replace

            reqs = [replace(g, size=g.size or (kw.get("size") if g.kind == "pattern" else None),
                            fabric=g.fabric or kw.get("fabric")) for g in outfit.garments]
            outfit = Outfit(tuple(reqs), name=outfit.name)
        _refuse_turn_up(args, outfit)
        return outfit
    outfit = Outfit.of(*args.garment, size=kw.get("size"), fabric=kw.get("fabric"))
    _refuse_turn_up(args, outfit)
    return outfit


def _refuse_turn_up(args, outfit) -> None:
    if getattr(args, "no_turn_up", False) and not outfit.has_pattern:
        raise InputError("--no-turn-up applies to library patterns only: a template has no sleeves or legs to turn up",
                         hint="leave --no-turn-up out")


def render_shots(drape_dir: Path, out: Path, consent: Consent | None, backend: str = "auto", shots=None,
                 formats=None, look=None, outputs=None, blender_engine: str = "workbench", samples: int = 64,
                 quiet: bool = False) -> dict:
    """Named shots in channel formats with one backend (engine.render.backends), consent checked
    first, every image stamped (and, for a real twin, recorded) after."""
    from engine.render.backends import dressed_layers, render_dressed_folder

    clearance = _consent_for(drape_dir, consent, quiet)
    kw = {}
    if shots:
        kw["shots"] = shots
    if formats:
        kw["formats"] = formats
    if look:
        kw["look"] = look
    layers = dressed_layers(drape_dir)
    if layers:
        # an outfit: each layer keeps its own colour under the look (unless the look names it)
        from dataclasses import replace

        from engine.render.looks import Colourway, get_look

        base = get_look(kw.get("look", "studio"))
        kw["look"] = replace(base, garments={**{n: Colourway(color=c) for n, _, c in layers if c}, **base.garments})
    if outputs:
        kw["outputs"] = [o.strip() for o in outputs.split(",") if o.strip()]
    manifest = render_dressed_folder(drape_dir, out, backend=backend, blender_engine=blender_engine,
                                     samples=samples, progress=None if quiet else say,
                                     meshes=load_dressed(drape_dir), **kw)  # the twin's texture and hair too
    scene_hash = json_sha256({k: manifest[k] for k in ("backend", "shots", "formats")})
    for entry in manifest["formats"].values():
        _deliver([Path(p) for p in entry["images"]], clearance, scene_hash, consent)
        if entry.get("contact_sheet"):
            _disclose_sheet(Path(entry["contact_sheet"]), clearance, scene_hash)
    return manifest


def run_render(args) -> int:
    out = Path(args.out)
    drape_dir = Path(args.dressed)
    if drape_dir.is_file() and drape_dir.suffix.lower() in (".toml", ".yaml", ".yml", ".json"):
        from scenes.cli import run as run_scenes

        args.command, args.scene_command, args.file, args.workers = "scene", "render", str(drape_dir), 1
        return run_scenes(args)
    if not drape_dir.is_dir():
        raise InputError(f"{drape_dir}: not a folder", hint="pass the folder written by `atelier drape` or a scene file")
    consent = Consent(twin_id=args.twin_id, channel=args.channel, region=args.region, db=args.db)
    if any(getattr(args, k) for k in ("backend", "shots", "format", "look", "outputs")):
        manifest = render_shots(drape_dir, out, consent, backend=args.backend or "auto", shots=args.shots,
                                formats=args.format, look=args.look, outputs=args.outputs,
                                blender_engine=args.blender_engine, samples=args.samples, quiet=args.quiet)
        for label, entry in manifest["formats"].items():
            print(f"{manifest['backend']} {label}: {len(entry['images'])} PNGs in {out / label}"
                  + (f", contact sheet {entry['contact_sheet']}" if entry.get("contact_sheet") else ""))
        return 0
    images = stage_render(drape_dir, out, Stages(out), views=args.views, size=args.size,
                          renderers=_renderers(args.renderer), blender_engine=args.blender_engine,
                          samples=args.samples, quiet=args.quiet, step="", consent=consent)
    for name, paths in images.items():
        print(f"{name}: {len(paths)} PNGs in {out / 'renders' / name}")
    print(f"contact sheet: {out / 'contact_sheet.png'}")
    return 0


def run_command(args) -> int:
    return {"demo": run_demo, "fit": run_fit, "drape": run_drape, "render": run_render}[args.command](args)
