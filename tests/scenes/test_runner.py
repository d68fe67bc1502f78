"""Campaign runs end to end with real drapes (coarse cloth, few frames) and pyrender at 96 px:
kill half-way and resume, retries and failure summaries, Ray, and the scene examples/exports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import scenes as sc
from engine.storage import read_json
from scenes.campaign import expand
from scenes.io import load_campaign
from scenes.runner import run_plan

ROOT = Path(__file__).resolve().parents[2]

SMALL = """\
name = "acceptance"
[[twins]]
name = "ava"
shape = [0.2, 0.4, 0.5, 0.45, 0.55, 0.5]
[[twins]]
name = "ben"
shape = [0.8, 0.5, 0.6, 0.5, 0.6, 0.5]
[[outfits]]
name = "navy"
garments = [{template = "tube-dress", colour = "#1d2b4f"}]
[[outfits]]
name = "rust"
garments = [{template = "tube-dress", colour = "#a8432b"}]
[[shots]]
name = "front"
[[shots]]
name = "side"
azimuth_deg = 90
[[shots]]
name = "back"
azimuth_deg = 180
[[locales]]
name = "eu"
backdrop = {colour = "#f0f0f0"}
[[locales]]
name = "jp"
backdrop = {colour = "#fbeee6"}
[[formats]]
name = "thumb"
width = 96
height = 96
[drape]
resolution = 300
max_frames = 4
min_frames = 2
[run]
retries = 1
cell_timeout_s = 120
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("campaign")
    path = d / "small.toml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Drape cache shared by this module's runs (content-addressed, so sharing is safe)."""
    return tmp_path_factory.mktemp("drapes")


def _env():
    return dict(os.environ, PYOPENGL_PLATFORM=os.environ.get("PYOPENGL_PLATFORM", "egl"),
                PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _cells(out: Path) -> list[Path]:
    return sorted(p for p in (out / "cells").iterdir() if not p.name.startswith(".") and (p / "manifest.json").exists())


def test_kill_half_way_then_resume_renders_each_cell_once(small, cache, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "scenes.cli", "campaign", "run", str(small), "--out", str(out), "--workers", "2",
           "--cache", str(cache)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "cells").exists() and len(_cells(out)) >= 6:
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, at once
        proc.wait()
    first = {p.name for p in _cells(out)}
    assert 6 <= len(first) < 24, proc.stdout.read().decode()[-3000:]

    # without --resume a folder with finished cells is refused
    again = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr

    res = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout
    cells = _cells(out)
    assert len(cells) == 24
    images = [p for c in cells for p in c.iterdir() if p.suffix == ".png"]
    assert len(images) == 24
    assert not [p for p in (out / "cells").iterdir() if p.name.startswith(".tmp-")]

    summary = read_json(out / "summary.json")
    assert summary["skipped"] >= len(first) and summary["skipped"] + summary["rendered"] == 24
    assert summary["failed"] == [] and summary["drapes_made"] + summary["drapes_cached"] <= 2
    # no cell rendered twice: every finished render is one line in renders.jsonl
    events = [json.loads(line) for line in (out / "renders.jsonl").read_text().splitlines()]
    ids = [e["cell"] for e in events]
    assert len(ids) == len(set(ids))
    second_run = summary["run_id"]
    for c in cells:
        m = read_json(c / "manifest.json")
        assert m["id"] == c.name
        assert (m["run_id"] == second_run) == (c.name not in first)
        assert m["outputs"][0]["sha256"] and m["timings"]["render_s"] > 0
    plan = expand(load_campaign(small))
    assert {c.id for c in plan.cells} == {c.name for c in cells}
    # one drape per twin (the outfits differ only in colour), computed once for all 12 cells each
    assert len({read_json(c / "manifest.json")["drape"]["key"] for c in cells}) == 2
    assert len([d for d in cache.iterdir() if (d / "drape.json").exists()]) == 2


def test_failed_cells_are_retried_and_summarised(small, cache, tmp_path, monkeypatch):
    camp = load_campaign(small)
    camp = camp.model_copy(update={"twins": camp.twins[:1], "outfits": camp.outfits[:1], "locales": camp.locales[:1]})
    plan = expand(camp)
    # make one cell's drape folder unreadable for the renderer: point the cache at a folder with
    # a broken drape for that key, so the cell job raises inside the worker
    broken = tmp_path / "cache"
    src = cache / plan.cells[0].drape_key
    if not (src / "drape.json").exists():
        pytest.skip("needs the drape made by the kill-and-resume test")
    import shutil

    shutil.copytree(src, broken / src.name)
    (broken / src.name / "body.ply").write_text("not a ply")
    summary = run_plan(plan, tmp_path / "out", workers=1, cache=broken, quiet=True, retries=2)
    assert summary.rendered == 0 and len(summary.failed) == 3
    assert all(f["attempts"] == 3 for f in summary.failed)
    index = read_json(tmp_path / "out" / "index.json")
    assert {v["state"] for v in index.values()} == {"failed"}


def test_ray_executor_runs_a_small_campaign(small, cache, tmp_path):
    pytest.importorskip("ray", reason="the Ray executor needs the optional 'ray' extra")
    camp = load_campaign(small)
    camp = camp.model_copy(update={"shots": camp.shots[:1], "locales": camp.locales[:1]})
    plan = expand(camp)
    summary = run_plan(plan, tmp_path / "out", workers=2, executor="ray", cache=cache, quiet=True)
    assert summary.ok and summary.rendered == 4 and summary.executor == "ray"
    workers = {read_json(c / "manifest.json")["worker"]["pid"] for c in _cells(tmp_path / "out")}
    assert os.getpid() not in workers


def test_missing_ray_names_the_extra(monkeypatch):
    import builtins

    from engine.errors import MissingDependencyError
    from scenes.executor import make_executor

    real = builtins.__import__

    def fake(name, *a, **kw):
        if name == "ray":
            raise ImportError("no ray")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(MissingDependencyError, match="ray") as err:
        make_executor("ray", 1)
    assert "atelier[ray]" in err.value.hint


def test_example_script_runs_headless_and_exports(tmp_path):
    res = subprocess.run([sys.executable, "-m", "scenes.cli", "run", "scenes/examples/look.py", "--", "--out",
                          str(tmp_path), "--quick"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "look-01.toml").exists() and (tmp_path / "look-01.glb").exists()
    jpgs = list((tmp_path / "renders" / "cells").glob("*/*.jpg"))
    pngs = list((tmp_path / "renders" / "cells").glob("*/*.png"))
    assert len(jpgs) == 3 and len(pngs) == 3
    from PIL import Image

    im = Image.open(jpgs[0])
    assert im.size == (128, 128) and im.mode == "RGB"
    import trimesh

    glb = trimesh.load(tmp_path / "look-01.glb")
    assert set(glb.geometry) == {"ava_body", "ava_garment0_straight-trousers", "ava_garment1_t-shirt"}

    scene = sc.load(tmp_path / "look-01.toml")
    blend = sc.export_blend(scene, tmp_path / "look.blend", cache=tmp_path / "renders" / "drapes", quiet=True)
    assert blend.exists() and blend.stat().st_size > 10_000
    result = read_json(tmp_path / ".look_export" / "export_result.json")
    assert {"ava_body", "ava_garment0_straight-trousers", "ava_garment1_t-shirt", "light_key", "cam_ava_front",
            "cam_ava_back"} <= set(result["objects"])


def test_a_cell_is_the_same_drape_and_render_as_by_hand(anny_model, tmp_path):
    """A campaign cell in a look with a named shot, and the same made with `atelier drape` and
    `atelier render --look --shots`: the same garment vertices (within 0.1 mm) and image."""
    import numpy as np
    from PIL import Image

    from bodies.twin import Twin
    from engine.meshio import load_ply

    from engine.rights import Registry

    twin = Twin(model="anny", shape=[0.5] * 6, pose=anny_model.zero_pose(1)[0].tolist(), source={"synthetic": True})
    twin.save(tmp_path / "twin", anny_model)
    from bodies.appearance.transfer import set_appearance

    set_appearance(tmp_path / "twin", hair={"style": "bob", "color": "#3b2a20"})  # both paths draw it
    with Registry.open() as registry:  # as the pipeline that makes a synthetic body does
        registry.register_synthetic(tmp_path / "twin", "tests/scenes/test_runner.py")
    camp = tmp_path / "c.toml"
    camp.write_text(f"""name = "byhand"
look = "campaign"
[[twins]]
name = "ava"
path = "{tmp_path / 'twin'}"
pose = "a-pose"
[[outfits]]
name = "dress"
garments = [{{template = "tube-dress", fabric = "silk", colour = "#2a4d8c"}}]
[[shots]]
name = "front"
preset = "front"
[[formats]]
name = "thumb"
width = 96
height = 96
[drape]
resolution = 300
max_frames = 8
min_frames = 5
""")
    out = tmp_path / "run"
    summary = run_plan(expand(load_campaign(camp)), out, workers=1, executor="inline", quiet=True)
    assert not summary.failed, summary.failed
    (cell,) = _cells(out)
    drape = Path(read_json(cell / "manifest.json")["drape"]["dir"])
    hand = tmp_path / "hand"
    cli = [sys.executable, "-m", "atelier"]
    subprocess.run([*cli, "drape", "--twin", str(tmp_path / "twin"), "--garment", "tube-dress", "--fabric", "silk",
                    "--pose", "a-pose", "--resolution", "300", "--max-frames", "8", "--out", str(hand), "-q"],
                   check=True, cwd=ROOT, env=_env(), capture_output=True)
    a, _, _ = load_ply(drape / "garment.ply")
    b, _, _ = load_ply(hand / "garment.ply")
    assert a.shape == b.shape and float(np.abs(a - b).max()) < 1e-4
    subprocess.run([*cli, "render", str(hand), "--out", str(tmp_path / "img"), "--backend", "pyrender", "--shots", "front",
                    "--format", "1:1@96", "--look", "campaign", "-q"], check=True, cwd=ROOT, env=_env(), capture_output=True)
    mine = np.asarray(Image.open(next(cell.glob("*.png"))).convert("RGB"), np.float32)
    theirs = np.asarray(Image.open(next((tmp_path / "img").glob("*/pyrender_00_front.png"))).convert("RGB"), np.float32)
    assert mine.shape == theirs.shape == (96, 96, 3)
    assert float(np.abs(mine - theirs).mean()) < 2.0  # levels of 255
    # the hair is drawn: dark brown on top of the head, darker than both the backdrop there
    # (~74 of 255) and lit skin (> 100)
    head = mine[6:14, 42:56].mean(-1)
    assert (head < 50).sum() >= 8


def test_logs_of_failed_and_killed_jobs_are_kept(tmp_path):
    import socket

    from engine.errors import InputError
    from scenes.jobs import FAILED_LOGS, _note_logs, tmp_dir_of
    from scenes.runner import sweep_stale

    cells = tmp_path / "cells"
    # a job killed at its time limit (its worker, pid 999999, is gone): the next run sweeps its folder
    dead = cells / f".tmp-cell-a-{socket.gethostname()}-999999"
    (dead / "drape").mkdir(parents=True)
    (dead / "drape" / "blender.log").write_text("frame 12 ... (killed)\n")
    (dead / "partial.png").write_bytes(b"x")
    assert sweep_stale(cells) == 1 and not dead.exists()
    assert (cells / FAILED_LOGS / "cell-a" / "drape__blender.log").read_text().startswith("frame 12")
    assert not (cells / FAILED_LOGS / "cell-a" / "partial.png").exists()
    # a job that failed in this process: its error names the kept log
    final = cells / "cell-b"
    tmp = tmp_dir_of(final)
    tmp.mkdir(parents=True)
    (tmp / "blender.log").write_text("Blender crashed\n")
    exc = InputError("the drape failed", hint="lower the resolution")
    _note_logs(exc, final)
    assert "lower the resolution" in exc.hint and str(cells / FAILED_LOGS / "cell-b") in exc.hint
    assert (cells / FAILED_LOGS / "cell-b" / "blender.log").exists()
