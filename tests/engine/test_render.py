"""Renderers: pyrender and Blender draw the same meshes from the same cameras, pixels agree with
Camera.project, and the contact sheet lays the views out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from engine.errors import InputError, MissingDependencyError
from engine.render import (
    Camera,
    RenderMesh,
    frame_meshes,
    make_contact_sheet,
    render_blender,
    render_pyrender,
    render_pyrender_arrays,
    turntable,
)
from engine.render.contact_sheet import sheet_layout
from engine.render.pyrender_backend import choose_platform

W, H = 96, 80  # non-square on purpose: the aspect ratio must be handled the same everywhere
MARGIN = 0.1
BALL_CENTER = np.array([0.2, 0.5, 0.05])
BALL_RADIUS = 0.15


def _scene() -> list[RenderMesh]:
    box = trimesh.creation.box(extents=(0.3, 0.6, 0.2))
    ball = trimesh.creation.icosphere(subdivisions=3, radius=BALL_RADIUS)
    return [
        RenderMesh("box", box.vertices + [0.0, 0.3, 0.0], box.faces, (0.8, 0.3, 0.2, 1.0), smooth=False),
        RenderMesh("ball", ball.vertices + BALL_CENTER, ball.faces, (0.2, 0.5, 0.8, 1.0)),
    ]


@pytest.fixture(scope="module")
def scene():
    meshes = _scene()
    cams = turntable(*frame_meshes(meshes), n_views=4, width=W, height=H, margin=MARGIN, elevation_deg=15)
    return meshes, cams


@pytest.fixture(scope="module")
def pyrender_files(scene, tmp_path_factory):
    meshes, cams = scene
    return render_pyrender(meshes, cams, tmp_path_factory.mktemp("pyrender"))


def _alpha(path) -> np.ndarray:
    img = Image.open(path)
    assert img.mode == "RGBA"
    return np.asarray(img)[..., 3]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_pyrender_writes_named_rgba_pngs(scene, pyrender_files):
    _, cams = scene
    assert [p.name for p in pyrender_files] == [f"pyrender_{i:02d}_{c.name}.png" for i, c in enumerate(cams)]
    for p in pyrender_files:
        img = Image.open(p)
        assert img.mode == "RGBA" and img.size == (W, H)
        a = np.asarray(img)[..., 3]
        assert a[0, 0] == 0 and a.max() == 255  # transparent background, opaque object
    assert not list(pyrender_files[0].parent.glob(".*"))  # no temporary files left


def test_pyrender_pixels_agree_with_camera_project(scene, pyrender_files):
    meshes, cams = scene
    all_vertices = np.concatenate([m.vertices for m in meshes])
    for cam, path in zip(cams, pyrender_files):
        mask = _alpha(path) >= 128
        # The projected centroid of the ball lies inside the silhouette.
        u, v = cam.project(BALL_CENTER[None])[0]
        assert mask[int(v), int(u)], cam.name
        # The silhouette's box matches the projected vertices' box within a pixel...
        uv = cam.project(all_vertices)
        ys, xs = np.nonzero(mask)
        assert abs(xs.min() - uv[:, 0].min()) <= 1.0 and abs(xs.max() + 1 - uv[:, 0].max()) <= 1.0, cam.name
        assert abs(ys.min() - uv[:, 1].min()) <= 1.0 and abs(ys.max() + 1 - uv[:, 1].max()) <= 1.0, cam.name
        # ... and so stays inside the image with the framing margin.
        assert xs.min() >= MARGIN * W - 1 and xs.max() + 1 <= (1 - MARGIN) * W + 1
        assert ys.min() >= MARGIN * H - 1 and ys.max() + 1 <= (1 - MARGIN) * H + 1


def test_pyrender_depth_is_distance_along_the_camera_axis(scene):
    meshes, cams = scene
    view = render_pyrender_arrays(meshes, cams[:1], with_depth=True)[0]
    cam = view.camera
    u, v = cam.project(BALL_CENTER[None])[0]
    # The ball's centre is the nearest thing in that pixel: its front surface is about one radius
    # closer than the centre (the pixel ray is almost the axis through the centre).
    expected = cam.depth(BALL_CENTER[None])[0] - BALL_RADIUS
    assert view.depth[int(v), int(u)] == pytest.approx(expected, abs=0.01)
    assert view.depth[0, 0] == 0.0


def test_pyrender_projection_matrix_is_the_cameras():
    import pyrender

    cam = Camera(position=(0, 1, 3), target=(0, 1, 0), width=W, height=H, yfov=0.6, znear=0.05, zfar=20)
    pc = pyrender.PerspectiveCamera(yfov=cam.yfov, aspectRatio=cam.aspect, znear=cam.znear, zfar=cam.zfar)
    np.testing.assert_allclose(pc.get_projection_matrix(W, H), cam.projection_matrix(), atol=1e-12)


def test_no_opengl_platform_gives_a_clear_error():
    with pytest.raises(MissingDependencyError) as info:
        choose_platform(probe=lambda p: (False, f"no {p} here"))
    text = str(info.value)
    assert "EGL" in text and "OSMesa" in text and "libosmesa6" in text and "libegl1" in text
    assert choose_platform(probe=lambda p: (p == "osmesa", "")) == "osmesa"


@pytest.mark.blender
def test_blender_workbench_silhouettes_match_pyrender(scene, pyrender_files, tmp_path):
    meshes, cams = scene
    seen = []
    paths = render_blender(meshes, cams, tmp_path, engine="workbench", progress=seen.append)
    assert [p.name for p in paths] == [f"blender_{i:02d}_{c.name}.png" for i, c in enumerate(cams)]
    assert seen == [f"view {i}/{len(cams)}" for i in range(1, len(cams) + 1)]
    assert not (tmp_path / ".blender_blender").exists()  # work folder removed after success
    for p, q in zip(pyrender_files, paths):
        a, b = _alpha(p) >= 128, _alpha(q) >= 128
        assert Image.open(q).size == (W, H)
        # Measured 0.97-0.99 at this size; only the antialiased edge pixels differ between the
        # two rasterisers (about one pixel ring around a ~1000-pixel silhouette).
        assert _iou(a, b) >= 0.93, (q.name, _iou(a, b))
        # No systematic shift: silhouette centroids within half a pixel.
        ca = np.array(np.nonzero(a)).mean(axis=1)
        cb = np.array(np.nonzero(b)).mean(axis=1)
        assert np.abs(ca - cb).max() < 0.5, (q.name, ca, cb)


@pytest.mark.blender
def test_blender_cycles_renders_the_same_silhouette(scene, pyrender_files, tmp_path):
    meshes, cams = scene
    paths = render_blender(meshes, cams[1:2], tmp_path, prefix="cy", engine="cycles", samples=4)
    a, b = _alpha(pyrender_files[1]) >= 128, _alpha(paths[0]) >= 128
    assert _iou(a, b) >= 0.93
    rgb = np.asarray(Image.open(paths[0]).convert("RGBA"))[..., :3][b]
    assert rgb.mean() > 20  # lit, not black


def test_blender_rejects_unknown_engines(scene, tmp_path):
    meshes, cams = scene
    with pytest.raises(InputError) as info:
        render_blender(meshes, cams, tmp_path, engine="eevee")
    assert "Eevee" in str(info.value)


def test_contact_sheet_has_the_expected_size(pyrender_files, tmp_path):
    images = list(pyrender_files) + [pyrender_files[0]]  # 5 images of 96x80
    out = make_contact_sheet(images, tmp_path / "sheet.png", columns=3, title="turntable")
    sheet = Image.open(out)
    # 3 columns x 2 rows of 96x80 tiles, 20 px label bands, a 28 px title, 8 px padding.
    assert sheet.size == (3 * 96 + 4 * 8, 28 + 2 * (80 + 20) + 3 * 8)
    assert sheet.size == sheet_layout([(W, H)] * 5, columns=3, labels=True, title=True).size
    px = np.asarray(sheet.convert("RGB"))
    # The first tile shows the object (not the white sheet), the label band has dark text.
    tile = px[28 + 8 : 28 + 8 + 80, 8 : 8 + 96]
    assert (tile.sum(axis=2) < 600).mean() > 0.05
    label = px[28 + 8 + 80 : 28 + 8 + 100, 8 : 8 + 96]
    assert label.min() < 128
    no_labels = make_contact_sheet(images[:2], tmp_path / "plain.png", columns=4, labels=[])
    assert Image.open(no_labels).size == (2 * 96 + 3 * 8, 80 + 2 * 8)
    with pytest.raises(InputError):
        make_contact_sheet(images, tmp_path / "bad.png", labels=["a"])


def test_platform_is_chosen_automatically_when_unset(tmp_path):
    """With PYOPENGL_PLATFORM unset, a fresh process probes EGL then OSMesa and renders."""
    import os
    import subprocess
    import sys

    code = (
        "import os, numpy as np, trimesh\n"
        "from engine.render import Camera, RenderMesh, render_pyrender_arrays\n"
        "b = trimesh.creation.box()\n"
        "v = render_pyrender_arrays([RenderMesh('b', b.vertices, b.faces)],"
        " [Camera(position=(0, 0, 4), target=(0, 0, 0), width=16, height=16)])[0]\n"
        "print(os.environ['PYOPENGL_PLATFORM'], int(v.mask.sum()))\n"
    )
    import engine

    env = {k: v for k, v in os.environ.items() if k != "PYOPENGL_PLATFORM"}
    root = str(Path(engine.__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    platform, covered = out.stdout.split()
    assert platform in ("egl", "osmesa") and int(covered) > 0


def test_opaque_backgrounds(scene, pyrender_files, tmp_path):
    from engine.render.blender_backend import _composite_over

    meshes, cams = scene
    view = render_pyrender_arrays(meshes, cams[:1], background=(1.0, 0.0, 0.0, 1.0))[0]
    assert (view.color[..., 3] == 255).all()
    assert tuple(view.color[0, 0, :3]) == (255, 0, 0)
    # Blender renders with a transparent film and composites over an opaque background after.
    target = tmp_path / "over.png"
    target.write_bytes(pyrender_files[0].read_bytes())
    _composite_over(target, (0.0, 0.0, 1.0, 1.0))
    img = np.asarray(Image.open(target))
    assert (img[..., 3] == 255).all() and tuple(img[0, 0, :3]) == (0, 0, 255)
    inside = _alpha(pyrender_files[0]) == 255
    np.testing.assert_array_equal(img[inside][:, :3], np.asarray(Image.open(pyrender_files[0]))[inside][:, :3])
