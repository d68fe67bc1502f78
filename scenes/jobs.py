"""The work one executor slot does: a drape (twin + garments -> cached meshes) or a cell (drape
-> one image). Runs in a worker process (local pool or Ray), never imports bpy (Blender runs in
its own child process through :func:`engine.blender.run_blender_job`).

Both jobs are idempotent and safe to run twice at once: each takes an exclusive lock file
(``fcntl.flock``, released by the kernel if the process dies), checks whether the output already
exists, builds it in a temporary folder beside the final one, writes its manifest last and renames
the folder into place. A folder under its final name is therefore always complete.

Payloads are plain dicts (they cross process and machine boundaries):

- drape: ``{"kind": "drape", "key", "inputs" (see campaign.make_cell), "dir", "timeout"}``;
- cell: ``{"kind": "cell", "id", "labels", "inputs", "dir", "drape_dir", "timeout", "attempt",
  "run_id", "events"}``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import time
from pathlib import Path


from engine.errors import AtelierError, InputError
from engine.storage import file_sha256, read_json, write_json

MANIFEST = "manifest.json"
DRAPE_MANIFEST = "drape.json"
#: seconds kept in reserve between a Blender job's own time limit and the cell's.
BLENDER_MARGIN_S = 5.0


@contextlib.contextmanager
def file_lock(path: Path):
    """Exclusive advisory lock on ``path`` (created), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


#: where the logs of failed drapes and cells are kept, beside the folders they failed to make,
#: until the user removes them
FAILED_LOGS = "failed-logs"


def tmp_dir_of(final: Path, pid: int | None = None) -> Path:
    """The temporary folder in which process ``pid`` (default this one) makes ``final``."""
    return final.parent / f".tmp-{final.name}-{socket.gethostname()}-{os.getpid() if pid is None else pid}"


def keep_logs(tmp: Path, final: Path) -> Path | None:
    """Copy the logs (``*.log``, Blender's among them) that a failed job left in its temporary
    folder ``tmp`` to ``<final's parent>/failed-logs/<final's name>/``, where they stay until the
    user removes them (the temporary folder itself is removed). Returns that folder, or None when
    there was no log."""
    logs = sorted(p for p in tmp.rglob("*.log") if p.is_file()) if tmp.is_dir() else []
    if not logs:
        return None
    keep = final.parent / FAILED_LOGS / final.name
    keep.mkdir(parents=True, exist_ok=True)
    for log in logs:
        shutil.copy2(log, keep / "__".join(log.relative_to(tmp).parts))
    return keep


def _note_logs(exc: BaseException, final: Path) -> None:
    """Keep the failed job's logs and name them in its error's hint."""
    kept = keep_logs(tmp_dir_of(final), final)
    if kept is not None and isinstance(exc, AtelierError):
        exc.hint = (f"{exc.hint}; " if exc.hint else "") + f"the job's logs are kept in {kept}"


def _tmp_dir(final: Path) -> Path:
    tmp = tmp_dir_of(final)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _cleanup(final: Path) -> None:
    """Remove this process's temporary folder of ``final`` if a failure left it behind."""
    tmp = tmp_dir_of(final)
    if tmp.exists():
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` onto ``final`` (which must not exist)."""
    if final.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        return
    os.rename(tmp, final)


# --- drape -------------------------------------------------------------------------------------
def _twin(inputs: dict):
    """(Twin, model) from resolved twin inputs and pose name."""
    import bodies
    from bodies.poses import pose_preset
    from bodies.twin import Twin

    t = inputs["twin"]
    if "path" in t:
        twin = Twin.load(t["path"])
        model = bodies.create(twin.model)
    else:
        model = bodies.create(t["model"])
        twin = Twin(model=t["model"], shape=list(t["shape"]), pose=model.zero_pose(1)[0].tolist(),
                    source={"synthetic": True})
    pose = inputs.get("pose")
    if pose:
        twin = Twin(model=twin.model, shape=twin.shape, pose=pose_preset(model, pose)[0].tolist(),
                    translation=twin.translation, pose_name=pose, source=twin.source)
    return twin, model


def run_drape(payload: dict) -> dict:
    """Make (or find) the drape folder ``payload["dir"]``: ``body.ply``, the outfit's drape
    (:func:`garments.outfit.drape_outfit`: one garment's files in the folder itself, several in
    ``layers/<i>-<name>/``, canonical frame, metres), plus ``drape.json``.

    Layers are draped in order; each collides with the body and the layers below it, and the
    penetration guard checks it against both.
    """
    final = Path(payload["dir"])
    if (final / DRAPE_MANIFEST).exists():
        return {**read_json(final / DRAPE_MANIFEST), "cached": True}
    with file_lock(final.parent / f".{final.name}.lock"):
        if (final / DRAPE_MANIFEST).exists():
            return {**read_json(final / DRAPE_MANIFEST), "cached": True}
        try:
            return _drape(payload, final)
        except BaseException as exc:
            _note_logs(exc, final)
            raise
        finally:
            _cleanup(final)


def _drape(payload: dict, final: Path) -> dict:
    from garments.drape import DrapeSettings
    from garments.outfit import GarmentRequest, Outfit, dress_twin

    t0 = time.monotonic()
    inputs = payload["inputs"]
    opts = inputs["drape"]
    tmp = _tmp_dir(final)
    twin, model = _twin(inputs)
    reqs = [GarmentRequest.from_dict({k: v for k, v in g.items() if k != "sha256"}) for g in inputs["garments"]]
    layers = []
    if not reqs:  # a scene without an outfit: the bare body
        from engine.meshio import save_ply

        verts, faces, _ = twin.body(model)
        save_ply(tmp / "body.ply", verts, faces, comments=["atelier campaign drape body, metres, canonical frame"])
        res = None
    else:
        outfit = Outfit(tuple(reqs), name="+".join(r.name for r in reqs))
        settings = DrapeSettings(max_frames=opts["max_frames"], min_frames=min(opts["min_frames"], opts["max_frames"]))
        timeout = float(payload.get("timeout", opts["timeout_s"]))
        resolution = None if any(r.kind == "mesh" for r in reqs) else opts["resolution"]
        # the pose is already the twin's (see _twin): dress_twin drapes patterns into it from the A-pose
        res = dress_twin(twin, model, outfit, tmp, resolution=resolution, max_frames=opts["max_frames"],
                         timeout=timeout, settings=settings)
    for req, r, d, below in (zip(outfit.layered(), res.layers, res.layer_dirs, res.layer_penetration_pct)
                             if res is not None else ()):
        layers.append({"garment": req.name, "kind": req.kind, "dir": str(d.relative_to(tmp)) if d != tmp else ".",
                       "frames": r.frames, "settled": r.settled, "penetration_pct": round(r.penetration_pct, 4),
                       "penetration_of_layers_below_pct": below, "seconds": round(r.seconds, 2)})
    manifest = {
        "key": payload["key"],
        "inputs": inputs,
        "body": "body.ply",
        "layers": layers,
        "seconds": round(time.monotonic() - t0, 2),
        "worker": {"host": socket.gethostname(), "pid": os.getpid()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "synthetic_twin": "path" not in inputs["twin"],
    }
    write_json(tmp / DRAPE_MANIFEST, manifest)
    _publish(tmp, final)
    return {**manifest, "cached": False}


# --- cell --------------------------------------------------------------------------------------
def _meshes(drape_dir: Path, inputs: dict, workdir: Path | None = None):
    """The cell's meshes as every surface draws them (:func:`garments.appearance.dressed_meshes`):
    the twin's texture and hair (the cell's ``hair``, else twin.json's), each garment's fabric
    surface."""
    from garments.appearance import dressed_meshes

    from engine.meshio import load_ply
    from engine.render.scene import RenderMesh

    manifest = read_json(drape_dir / DRAPE_MANIFEST)
    v, f, _ = load_ply(drape_dir / manifest["body"])
    meshes = [RenderMesh("body", v, f, color=tuple(inputs["render"]["skin"]))]
    fabrics = {}
    for i, (layer, g) in enumerate(zip(manifest["layers"], inputs["garments"])):
        gv, gf, _ = load_ply(drape_dir / layer["dir"] / "garment.ply")
        meshes.append(RenderMesh(f"garment{i}_{g['name']}", gv, gf, color=tuple(g["colour"])))
        report = drape_dir / layer["dir"] / "drape_report.json"
        fabrics[meshes[-1].name] = g.get("fabric") or (read_json(report).get("fabric") if report.exists() else None)
    twin = inputs["twin"]
    if "path" in twin:
        twin_dir, shape = Path(twin["path"]), None
        model = read_json(twin_dir / "twin.json").get("model", "anny")
    else:
        twin_dir, model, shape = None, twin["model"], twin["shape"]
    return dressed_meshes(meshes, twin_dir, model, shape=shape, hair=inputs.get("hair", "twin"), fabrics=fabrics,
                          workdir=workdir)


def _camera(meshes, shot: dict, fmt: dict):
    if shot.get("preset"):
        # a named shot of the one shot model: the camera `atelier render --shots` makes
        from dataclasses import replace

        from engine.render.shots import named_shot, shot_cameras

        engine_shot = replace(named_shot(shot["preset"]), name=shot["name"])
        return shot_cameras([engine_shot], meshes, width=fmt["width"], height=fmt["height"])[0]
    from engine.render.camera import frame_meshes, turntable

    lo, hi = frame_meshes(meshes)
    cam = turntable(lo, hi, n_views=1, width=fmt["width"], height=fmt["height"], yfov_deg=shot["yfov_deg"],
                    elevation_deg=shot["elevation_deg"], margin=shot["margin"],
                    start_azimuth_deg=shot["azimuth_deg"])[0]
    cam.name = shot["name"]
    return cam


def _lights(spec):
    from engine.render.scene import Light

    if spec is None:
        return None
    return [Light(l["name"], l["direction"], tuple(l["colour"]), l["intensity"]) for l in spec]


def _save_format(png: Path, out: Path, fmt: dict, backdrop) -> None:
    """Convert a rendered RGBA PNG to the delivery format at ``out`` (atomically)."""
    from PIL import Image

    from engine.storage import atomic_path

    img = Image.open(png).convert("RGBA")
    with atomic_path(out) as tmp:
        if fmt["type"] == "png":
            img.save(tmp, format="PNG")
        else:
            bg = tuple(int(round(c * 255)) for c in backdrop[:3]) if backdrop[3] > 0 else (255, 255, 255)
            flat = Image.new("RGB", img.size, bg)
            flat.paste(img, mask=img.split()[3])
            flat.save(tmp, format="JPEG" if fmt["type"] == "jpg" else "WEBP", quality=int(fmt["quality"]))


def cell_look(inputs: dict, meshes):
    """The :class:`engine.render.looks.Look` of a cell and its (lights, ambient) overrides: the
    named look of the cell's locale (``look``), or one made of its backdrop, skin colour and
    lights; either way each garment keeps its colour in the cell's colourway."""
    from dataclasses import replace

    from engine.render.looks import Backdrop, Colourway, Look, get_look

    garments = {m.name: Colourway(color=tuple(m.color)) for m in meshes
                if m.name != "body" and (m.material or {}).get("kind") != "hair"}
    if inputs.get("look"):
        base = get_look(inputs["look"])
        return replace(base, garments={**garments, **base.garments}), None, None
    b = inputs["backdrop"]
    kind = b.get("kind") or ("transparent" if b["colour"][3] <= 0.0 else "solid")
    backdrop = Backdrop(kind=kind, color=tuple(b["colour"][:3]), color2=tuple(b.get("colour2", (0.82, 0.82, 0.84))[:3]),
                        image=(b.get("image") or {}).get("path"))
    look = Look(skin=tuple(inputs["render"]["skin"][:3]), garments=garments, backdrop=backdrop,
                ground_shadow=bool(b.get("ground_shadow", False)))
    return look, _lights(inputs["lights"]), tuple(b["ambient"])


def render_cell(inputs: dict, drape_dir: Path, folder: Path, name: str, timeout: float = 300.0) -> tuple[Path, dict]:
    """Render one cell's image into ``folder/name.<type>`` through :func:`engine.render.backends.render`,
    the path of ``atelier render`` (its look, lights and backdrop: :func:`cell_look`). Returns
    (path, timings)."""
    from engine.render.backends import render
    from engine.render.outputs import save_view

    t0 = time.monotonic()
    scratch = folder / ".render"
    meshes = _meshes(drape_dir, inputs, workdir=scratch)
    cam = _camera(meshes, inputs["shot"], inputs["format"])
    look, lights, ambient = cell_look(inputs, meshes)
    r = inputs["render"]
    if r["renderer"] not in ("pyrender", "blender"):
        raise InputError(f"unknown renderer {r['renderer']!r}")
    t1 = time.monotonic()
    views = render(meshes, [cam], backend=r["renderer"], look=look, lights=lights, ambient=ambient,
                   blender_engine=r["engine"], samples=r["samples"], denoise=r["denoise"], seed=r["seed"],
                   timeout=max(5.0, timeout - BLENDER_MARGIN_S - (t1 - t0)))
    save_view(views[0], scratch, "view_00")
    t2 = time.monotonic()
    out = folder / f"{name}.{inputs['format']['type']}"
    # the look painted the backdrop; only a transparent one is composited over white for jpg/webp
    _save_format(scratch / "view_00.png", out, inputs["format"], (1.0, 1.0, 1.0, 0.0))
    shutil.rmtree(scratch, ignore_errors=True)
    return out, {"load_s": round(t1 - t0, 3), "render_s": round(t2 - t1, 3), "save_s": round(time.monotonic() - t2, 3)}


def render_video_cell(inputs: dict, drape_dir: Path, folder: Path, name: str, timeout: float = 3600.0) -> tuple[Path, dict]:
    """Render a video format's cell into ``folder/name.mp4``: the twin moves (the format's
    ``video`` spec) wearing the cell's drape, made in the A-pose, with the cloth simulated
    (:func:`scenes.motion.animate`, the path of ``atelier animate``). Not disclosed here: the
    runner delivers the MP4 like an image. Returns (path, timings)."""
    from .motion import animate

    t0 = time.monotonic()
    v = inputs["format"]["video"]
    work = folder / ".video"
    if "path" in inputs["twin"]:
        twin_dir = Path(inputs["twin"]["path"])
    else:  # a body made from the campaign's parameters: a twin folder for animate
        twin, model = _twin({**inputs, "pose": None})
        twin_dir = work / "twin"
        twin.save(twin_dir, model)
    layers = read_json(drape_dir / DRAPE_MANIFEST)["layers"]
    if len(layers) != 1:
        raise InputError(f"a video cell animates one garment; this outfit has {len(layers)} layers",
                         hint="give the video format an outfit of one garment")
    pose = v.get("pose")
    if v["motion"] == "turntable" and pose is None and inputs.get("pose") not in (None, "a-pose"):
        pose = inputs["pose"]  # the campaign's pose dimension: the pose a turntable holds
    res = animate(twin_dir, drape_dir / layers[0]["dir"], work, motion=v["motion"], seconds=v["seconds"], fps=v["fps"],
                  frames=v.get("frames"), size=(inputs["format"]["width"], inputs["format"]["height"]),
                  camera=v["camera"], preroll=v["preroll"], pose=pose, exports=False, deliver=False,
                  timeout=max(5.0, timeout - BLENDER_MARGIN_S - (time.monotonic() - t0)))
    out = folder / f"{name}.mp4"
    os.replace(res.mp4, out)
    report = read_json(res.report)
    shutil.rmtree(work, ignore_errors=True)
    return out, {"frames": len(res.per_frame), "preroll_frames": res.preroll,
                 "worst_penetration_pct": res.worst_penetration_pct, "seconds_per_frame": round(res.seconds_per_frame, 3),
                 "sim_s": report.get("sim_seconds"), "render_s": report.get("render_seconds")}


def run_cell(payload: dict) -> dict:
    """Render (or find) the cell folder ``payload["dir"]``; returns its manifest plus
    ``"skipped": True`` when it was already there."""
    final = Path(payload["dir"])
    if (final / MANIFEST).exists():
        return {**read_json(final / MANIFEST), "skipped": True}
    with file_lock(final.parent / f".{final.name}.lock"):
        if (final / MANIFEST).exists():
            return {**read_json(final / MANIFEST), "skipped": True}
        try:
            return _cell(payload, final)
        except BaseException as exc:
            _note_logs(exc, final)
            raise
        finally:
            _cleanup(final)


def _cell(payload: dict, final: Path) -> dict:
    t0 = time.monotonic()
    tmp = _tmp_dir(final)
    drape_dir = Path(payload["drape_dir"])
    if not (drape_dir / DRAPE_MANIFEST).exists():
        raise InputError(f"cell {payload['id']}: its drape {drape_dir} is missing")
    make = render_video_cell if payload["inputs"]["format"].get("video") else render_cell
    image, timings = make(payload["inputs"], drape_dir, tmp, payload["slug"], timeout=payload["timeout"])
    manifest = {
        "id": payload["id"],
        "labels": payload["labels"],
        "inputs": payload["inputs"],
        "drape": {"key": payload["inputs"]["drape_key"], "dir": str(drape_dir)},
        "outputs": [{"file": image.name, "sha256": file_sha256(image), "bytes": image.stat().st_size}],
        "timings": {**timings, "total_s": round(time.monotonic() - t0, 3)},
        "attempt": payload.get("attempt", 1),
        "previous_attempts": payload.get("previous_attempts", []),
        "run_id": payload.get("run_id"),
        "worker": {"host": socket.gethostname(), "pid": os.getpid()},
        "rendered": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(tmp / MANIFEST, manifest)
    _publish(tmp, final)
    events = payload.get("events")
    if events:
        # one line per finished render, appended (O_APPEND: whole lines even from many workers)
        line = json.dumps({"cell": payload["id"], "run": payload.get("run_id"), "pid": os.getpid(),
                           "host": socket.gethostname(), "t": time.time()}) + "\n"
        fd = os.open(events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    return {**manifest, "skipped": False}


def execute(payload: dict) -> dict:
    """Run one job payload (``kind`` "drape", "cell", or the test kinds "sleep" / "crash")."""
    kind = payload.get("kind")
    if kind == "drape":
        return run_drape(payload)
    if kind == "cell":
        return run_cell(payload)
    if kind == "sleep":  # used by the executor tests
        time.sleep(float(payload.get("seconds", 1.0)))
        return {"slept": payload.get("seconds", 1.0), "pid": os.getpid()}
    if kind == "crash":  # used by the executor tests: the worker process dies
        os._exit(int(payload.get("code", 7)))
    if kind == "fail":
        raise InputError(str(payload.get("message", "asked to fail")))
    raise ValueError(f"unknown job kind {kind!r}")


__all__ = ["execute", "file_lock", "render_cell", "render_video_cell", "run_cell", "run_drape", "MANIFEST",
           "DRAPE_MANIFEST"]
