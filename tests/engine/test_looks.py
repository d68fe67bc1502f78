"""Looks (colourways, skin tones, lighting, backdrops, ground shadow), per-pixel outputs (depth,
normals, id mask) and the backend dispatcher, including PyTorch3D's conventions and its
missing-extra error."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh
from PIL import Image

from engine.errors import InputError, MissingDependencyError
from engine.render import Camera, RenderMesh, render, render_pyrender, render_pyrender_arrays
from engine.render.backends import choose_backend, load_dressed_folder, render_dressed_folder
from engine.render.looks import (
    LOOKS,
    Backdrop,
    Colourway,
    Look,
    apply_look,
    compose,
    cylindrical_uv,
    get_look,
    ground_shadow,
    hdri_folder,
    hdri_lighting,
    hdri_names,
    lighting_environment,
    lighting_names,
    lighting_preset,
    skin_tone,
)
from engine.render.outputs import decode_ids, id_palette, mask_centroids
from engine.render.pytorch3d_backend import (
    camera_to_pytorch3d,
    pack_meshes,
    project_pytorch3d_math,
    pytorch3d_available,
    render_pytorch3d_arrays,
    shade_fragments,
)

HAS_P3D = pytorch3d_available()
needs_p3d = pytest.mark.skipif(not HAS_P3D, reason="PyTorch3D (optional extra, not on the registry) is not installed")


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    img = np.zeros((32, 32, 3), np.uint8)
    img[:16, :16] = 255
    img[16:, 16:] = 255
    path = tmp_path_factory.mktemp("tex") / "checker.png"
    Image.fromarray(img).save(path)
    return str(path)


def _tube(radius, y0, y1, rings=24, around=48, closed=False):
    """A vertical tube (canonical frame), outward-facing counter-clockwise triangles."""
    a = np.linspace(0, 2 * np.pi, around, endpoint=False)
    ys = np.linspace(y0, y1, rings)
    v = np.array([[radius * np.sin(t), y, radius * np.cos(t)] for y in ys for t in a])
    f = []
    for r in range(rings - 1):
        for k in range(around):
            i0, i1 = r * around + k, r * around + (k + 1) % around
            j0, j1 = i0 + around, i1 + around
            f += [[i0, i1, j1], [i0, j1, j0]]
    if closed:
        v = np.vstack([v, [[0, y0, 0], [0, y1, 0]]])
        b, t = len(v) - 2, len(v) - 1
        top = (rings - 1) * around
        for k in range(around):
            f += [[b, (k + 1) % around, k], [t, top + k, top + (k + 1) % around]]
    return v, np.array(f)


def _dressed():
    """A 'body' (closed tube, 1.6 m) and a wider open 'garment' tube around its middle."""
    bv, bf = _tube(0.12, 0.0, 1.6, closed=True)
    gv, gf = _tube(0.16, 0.6, 1.2, rings=12)
    return [RenderMesh("body", bv, bf), RenderMesh("garment", gv, gf)]


def _front(width=64, height=96):
    return Camera(position=(0, 0.85, 4.2), target=(0, 0.85, 0), width=width, height=height, yfov=math.radians(28))


def test_skin_tones_and_lighting_presets():
    assert skin_tone("deep")[:3] == pytest.approx((0.22, 0.14, 0.10))
    assert skin_tone((0.5, 0.4, 0.3)) == (0.5, 0.4, 0.3, 1.0)
    with pytest.raises(InputError):
        skin_tone("green")
    soft, a_soft = lighting_preset("soft")
    hk, a_hk = lighting_preset("high-key")
    dr, a_dr = lighting_preset("dramatic")
    assert a_hk[0] > a_soft[0] > a_dr[0]
    assert len({len(soft), len(hk), len(dr)}) >= 2
    with pytest.raises(InputError):
        lighting_preset("noir")


def test_cylindrical_uv_is_in_metres():
    pts = np.array([[0, 0.0, 0.2], [0, 0.1, 0.2], [0.2, 0.0, 0.0]])
    uv = cylindrical_uv(pts, tile_m=0.1, center_xz=(0, 0))
    assert uv[1, 1] - uv[0, 1] == pytest.approx(1.0)  # 10 cm up = one tile
    # A quarter turn at the mean radius (0.2 m) is 0.2 * pi / 2 m of cloth.
    assert uv[2, 0] - uv[0, 0] == pytest.approx(0.2 * math.pi / 2 / 0.1, rel=1e-5)


def test_apply_look_colours_body_and_garments(checker):
    meshes = _dressed()
    look = Look(skin="brown", garment=Colourway("print", color=(1, 1, 1), image=checker, tile_m=0.05))
    body, garment = apply_look(meshes, look)
    assert body.color[:3] == pytest.approx(skin_tone("brown")[:3])
    assert body.texture is None and garment.texture == checker
    assert garment.uv.shape == (len(garment.vertices), 2)
    assert np.ptp(garment.uv[:, 1]) == pytest.approx(0.6 / 0.05, rel=1e-4)  # 60 cm tall / 5 cm tiles
    flat = apply_look(meshes, Look(garments={"garment": Colourway("flat", color=(1, 0, 0))}))[1]
    assert flat.texture is None and flat.color == (1.0, 0.0, 0.0, 1.0)
    with pytest.raises(InputError):
        Colourway("print", image="/nonexistent.png")
    with pytest.raises(InputError):
        RenderMesh("x", meshes[0].vertices, meshes[0].faces, texture=checker)  # texture without uv


def test_print_shows_on_the_garment_in_pyrender(checker):
    meshes = _dressed()
    cam = _front()
    plain = render(meshes, [cam], backend="pyrender", look=Look(garment=Colourway("flat", (0.8, 0.8, 0.8))), outputs=["mask"])[0]
    printed = render(meshes, [cam], backend="pyrender", look=Look(garment=Colourway("print", (1, 1, 1), checker, 0.08)), outputs=["mask"])[0]
    sel = printed.mask_of("garment")
    lum_plain = plain.color[..., :3].mean(-1)[sel]
    lum_print = printed.color[..., :3].mean(-1)[sel]
    # A black-and-white check makes the garment far more varied than a flat colour.
    assert lum_print.std() > 3 * lum_plain.std() + 10
    # The body is not printed.
    from scipy.ndimage import binary_erosion

    body = binary_erosion(printed.mask_of("body"), iterations=2)  # away from the garment's edge
    assert body.sum() > 50
    assert np.abs(printed.color[body][:, :3].astype(int) - plain.color[body][:, :3].astype(int)).max() <= 2


def test_backdrops_and_ground_shadow(tmp_path):
    meshes = _dressed()
    cam = Camera(position=(0, 1.2, 4.0), target=(0, 0.8, 0), width=64, height=96, yfov=math.radians(30))
    view = render(meshes, [cam], backend="pyrender")[0]
    assert view.color[0, 0, 3] == 0  # no look: transparent
    grad = compose(view.color, Look(backdrop=Backdrop("gradient", (1, 1, 1), (0, 0, 0))))
    assert (grad[..., 3] == 255).all()
    assert grad[0, 0, :3].min() > 245 and grad[-1, 0, :3].max() < 10
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, :10] = (0, 255, 0)
    Image.fromarray(img).save(tmp_path / "bg.png")
    pic = compose(view.color, Look(backdrop=Backdrop("image", image=str(tmp_path / "bg.png"))))
    assert tuple(pic[0, 0, :3]) == (0, 255, 0) and pic[0, -1, 1] < 10
    # Ground shadow: darker under the feet than off to the side, only where the floor shows.
    lk = Look(backdrop=Backdrop("solid", (1, 1, 1)), ground_shadow=True, shadow_opacity=0.6)
    shaded = compose(view.color, lk, cam, meshes)
    feet = cam.project(np.array([[0.0, 0.0, 0.0]]))[0].astype(int)
    row = min(feet[1] + 1, 95)
    assert shaded[row, feet[0], 0] < 200
    assert shaded[row, 2, 0] > 245
    s = ground_shadow(cam, meshes)
    assert s.shape == (96, 64) and s.max() == pytest.approx(1.0)
    with pytest.raises(InputError):
        Backdrop("wallpaper")


def test_pyrender_outputs_depth_normals_and_ids(tmp_path):
    meshes = _dressed()
    cam = _front()
    view = render_pyrender_arrays(meshes, [cam], outputs=("depth", "normals", "mask"))[0]
    assert view.labels == ("body", "garment")
    ids = view.ids
    assert set(np.unique(ids)) == {0, 1, 2}
    np.testing.assert_array_equal(ids > 0, view.mask)
    # The garment covers the middle, the body shows above and below it.
    u, v = cam.project(np.array([[0, 0.9, 0.16], [0, 1.5, 0.12]])).astype(int)
    assert ids[u[1], u[0]] == 2 and ids[v[1], v[0]] == 1
    # Depth along the axis: the garment's front is 4.2 - 0.16 m away.
    assert view.depth[u[1], u[0]] == pytest.approx(4.2 - 0.16, abs=0.01)
    # Normals in the camera frame: facing the viewer at the centre, turning sideways at the edge.
    n = view.normals[u[1], u[0]]
    assert n[2] > 0.97 and np.linalg.norm(n) == pytest.approx(1, abs=0.02)
    cols = np.nonzero(ids[u[1]] == 2)[0]
    assert view.normals[u[1], cols.max()][0] > 0.5  # right edge of the tube points right (+x)
    # Files.
    paths = render_pyrender(meshes, [cam], tmp_path, prefix="p", outputs=("depth", "normals", "mask"))
    stem = paths[0].with_suffix("")
    for suffix in ("_depth.npy", "_depth.png", "_normals.png", "_mask.png", "_mask.json"):
        assert (tmp_path / (stem.name + suffix)).exists(), suffix
    mask = np.asarray(Image.open(tmp_path / (stem.name + "_mask.png")))
    np.testing.assert_array_equal(mask, ids)
    mm = np.asarray(Image.open(tmp_path / (stem.name + "_depth.png")))
    assert mm.dtype == np.uint16 and abs(int(mm[u[1], u[0]]) - 4040) <= 10


def test_id_decoding_survives_antialiasing():
    pal = id_palette(20)
    assert len({tuple(np.round(c, 3)) for c in pal}) == 21
    rgb = np.stack([pal[5] * 0.4, pal[12] * 1.0, pal[3] * 0.7]).reshape(1, 3, 3) * 255
    ids = decode_ids(rgb, np.ones((1, 3), bool), 20)
    assert ids.tolist() == [[5, 12, 3]]
    c = mask_centroids(np.array([[0, 1, 1], [0, 0, 2]]), 3)
    np.testing.assert_allclose(c[0], [2.0, 0.5])
    assert np.isnan(c[2]).all()


def test_render_dispatcher_and_dressed_folder(tmp_path):
    from engine.meshio import save_ply

    assert choose_backend("pyrender") == "pyrender"
    assert choose_backend("auto") in ("pyrender", "pytorch3d")
    if not HAS_P3D:
        assert choose_backend("auto") == "pyrender"
    with pytest.raises(InputError):
        choose_backend("povray")
    body, garment = _dressed()
    folder = tmp_path / "drape"
    folder.mkdir()
    save_ply(folder / "body.ply", body.vertices, body.faces)
    save_ply(folder / "garment.ply", garment.vertices, garment.faces)
    assert [m.name for m in load_dressed_folder(folder)] == ["body", "garment"]
    man = render_dressed_folder(folder, tmp_path / "out", backend="pyrender", shots="front,back,detail-waist",
                                formats=["4:5@80", "16:9@96"], look="ecommerce", outputs=["mask"])
    assert set(man["formats"]) == {"4x5_64x80", "16x9_96x54"}
    for entry in man["formats"].values():
        assert len(entry["images"]) == 3
        for p in entry["images"]:
            img = Image.open(p)
            assert img.size == (entry["width"], entry["height"]) and img.mode == "RGBA"
            assert np.asarray(img)[..., 3].min() == 255  # ecommerce: opaque white backdrop
        assert Image.open(entry["contact_sheet"]).size[0] > entry["width"]
    assert (tmp_path / "out" / "render.json").exists()
    with pytest.raises(InputError):
        load_dressed_folder(tmp_path)
    assert set(LOOKS) >= {"studio", "ecommerce", "campaign"}


# --- PyTorch3D -----------------------------------------------------------------------------------


@pytest.mark.skipif(HAS_P3D, reason="PyTorch3D is installed here: the missing-extra error cannot be seen")
def test_pytorch3d_missing_gives_a_clear_error():
    with pytest.raises(MissingDependencyError) as info:
        render_pytorch3d_arrays(_dressed(), [_front()])
    assert "pytorch3d" in str(info.value).lower() and "README" in str(info.value)
    with pytest.raises(MissingDependencyError):
        render(_dressed(), [_front()], backend="pytorch3d")


@pytest.mark.parametrize("size", [(64, 64), (96, 48), (48, 96)])
def test_pytorch3d_camera_conversion_matches_our_projection(size):
    """R, T and the shorter-side field of view reproduce Camera.project under PyTorch3D's
    documented conventions (+X left, +Y up, +Z into the screen; NDC [-1, 1] on the shorter side)."""
    cam = Camera(position=(0.7, 1.3, 3.0), target=(0.1, 0.9, 0.0), width=size[0], height=size[1], yfov=0.6)
    pts = np.random.default_rng(1).uniform(-0.5, 0.5, (30, 3)) + [0, 1, 0]
    np.testing.assert_allclose(project_pytorch3d_math(cam, pts), cam.project(pts), atol=1e-9)
    r, _, _ = camera_to_pytorch3d(cam)
    assert np.linalg.det(r) == pytest.approx(1.0)  # a rotation, not a reflection


def test_pytorch3d_shader_on_hand_made_fragments():
    """The shading half runs without PyTorch3D: one triangle seen head-on."""
    import torch

    tri = RenderMesh("t", [[-1, -1, 0], [1, -1, 0], [0, 1, 0]], [[0, 1, 2]], color=(1, 0, 0, 1))
    packed = pack_meshes([tri])
    face = torch.tensor([[[0, -1]]])
    bary = torch.full((1, 1, 2, 3), 1 / 3)
    zbuf = torch.tensor([[[2.0, -1.0]]])
    lights = [*lighting_preset("soft")[0]]
    rgba, depth, normals, ids = shade_fragments(packed, face, bary, zbuf, torch.eye(3)[None], lights)
    assert rgba[0, 0, 0, 3] == 1 and rgba[0, 0, 1, 3] == 0
    assert rgba[0, 0, 0, 0] > 0.3 and rgba[0, 0, 0, 1] == 0  # red, lit
    assert depth[0, 0, 0] == 2.0 and depth[0, 0, 1] == 0
    np.testing.assert_allclose(normals[0, 0, 0].numpy(), [0, 0, 1], atol=1e-6)
    assert ids[0, 0].tolist() == [1, 0]


@needs_p3d
def test_pytorch3d_renders_a_batch_that_matches_pyrender():
    meshes = _dressed()
    cams = [_front(64, 96), Camera(position=(3, 1, 2), target=(0, 0.85, 0), width=64, height=96, yfov=0.5)]
    views = render_pytorch3d_arrays(meshes, cams, outputs=("depth", "normals", "mask"), device="cpu")
    ref = render_pyrender_arrays(meshes, cams, outputs=("depth", "mask"))
    for v, r in zip(views, ref):
        inter = (v.mask & r.mask).sum()
        assert inter / (v.mask | r.mask).sum() >= 0.9
        both = v.mask & r.mask
        assert np.median(np.abs(v.depth[both] - r.depth[both])) < 0.01
        assert set(np.unique(v.ids)) == {0, 1, 2}


# --- HDRI lighting presets ------------------------------------------------------------------------

needs_hdri = pytest.mark.skipif(not hdri_names(), reason="the bpy wheel (which ships the CC0 HDRIs) is not installed")


@needs_hdri
def test_hdri_presets_sit_beside_the_studio_rigs():
    names = lighting_names()
    assert names[:3] == ("soft", "high-key", "dramatic")
    assert {"hdri-forest", "hdri-studio", "hdri-sunset"} <= set(names)
    assert "hdri-forest" in LOOKS and LOOKS["hdri-forest"].environment()["path"].endswith("forest.exr")
    assert LOOKS["studio"].environment() is None
    assert hdri_folder().name == "world" and "site-packages" in str(hdri_folder())  # used in place
    lights, ambient = lighting_preset("hdri-sunset")
    assert len(lights) == 1 and lights[0].intensity > 0.5 and all(a > 0 for a in ambient)
    # a sunset's key is warm: more red than blue
    assert lights[0].color[0] > 1.5 * lights[0].color[2]
    # exposure: the map's mean radiance is the soft rig's (what a white sphere shows on average)
    _, _, exposure = hdri_lighting("hdri-sunset")
    soft, a_soft = lighting_preset("soft")
    mean_soft = np.mean(a_soft) + sum(l.intensity for l in soft) / (4 * math.pi)
    mean_hdri = np.mean(ambient) + lights[0].intensity * np.mean(lights[0].color) / (4 * math.pi)
    assert mean_hdri == pytest.approx(mean_soft, rel=0.15)  # luminance vs RGB mean weights
    assert exposure > 0


@needs_hdri
def test_unknown_hdri_name_lists_the_names():
    for bad in ("hdri-moon", "noir"):
        with pytest.raises(InputError) as err:
            lighting_preset(bad)
        assert "hdri-forest" in err.value.hint and "soft" in err.value.hint
        with pytest.raises(InputError) as err:
            Look(lighting=bad)
        assert "hdri-city" in err.value.hint
    with pytest.raises(InputError) as err:
        get_look("hdri-moon")
    assert "hdri-forest" in err.value.hint


@needs_hdri
def test_hdri_look_reaches_cycles_world_and_pyrender_lights(monkeypatch, tmp_path):
    import engine.render.blender_backend as bb
    import engine.render.pyrender_backend as pb

    specs = []

    def fake_job(kind, spec, work, timeout=None, progress=None):
        specs.append(spec)
        for out in spec["outputs"]:
            Image.fromarray(np.zeros((96, 64, 4), np.uint8)).save(out)
        return {"seconds_per_view": [0.0]}

    monkeypatch.setattr(bb, "run_blender_job", fake_job)
    meshes, cam = _dressed(), _front()
    render(meshes, [cam], backend="blender", blender_engine="cycles", look="hdri-forest")
    env = specs[-1]["environment"]
    assert env["path"].endswith("forest.exr") and env["strength"] == pytest.approx(hdri_lighting("hdri-forest")[2])
    assert specs[-1]["lights"] == []  # the map lights Cycles, not its stand-in
    # the final-quality settings come from one place
    from engine.render.blender_backend import FINAL

    assert specs[-1]["cycles"] == FINAL.job() and "samples" not in specs[-1]["cycles"]
    assert (specs[-1]["samples"], specs[-1]["adaptive_threshold"], specs[-1]["denoise"]) == (
        FINAL.samples, FINAL.adaptive_threshold, FINAL.denoise)
    render(meshes, [cam], backend="blender", blender_engine="cycles", look="studio")
    assert specs[-1]["environment"] is None and len(specs[-1]["lights"]) == 3

    seen = {}
    real = pb.render_pyrender_arrays

    def spy(meshes, cameras, lights=None, ambient=None, **kw):
        seen.update(lights=lights, ambient=ambient)
        return real(meshes, cameras, lights=lights, ambient=ambient, **kw)

    monkeypatch.setattr(pb, "render_pyrender_arrays", spy)
    render(meshes, [cam], backend="pyrender", look="hdri-forest")
    key, ambient, _ = hdri_lighting("hdri-forest")
    assert seen["ambient"] == pytest.approx(ambient)
    assert len(seen["lights"]) == 1 and seen["lights"][0].direction == pytest.approx(key[0].direction)


@needs_hdri
def test_cycles_hdri_key_comes_from_where_the_stand_in_says(tmp_path):
    """A white sphere lit by the city HDRI in Cycles is brightest on the side the fast renderers'
    key light comes from (the equirectangular map's orientation is read the way Cycles reads it)."""
    from engine.render.blender_backend import render_blender

    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    # dark grey, so the lit side does not clip at white
    mesh = RenderMesh("ball", np.asarray(sphere.vertices) + [0, 1.0, 0], sphere.faces, color=(0.3, 0.3, 0.3, 1))
    key = hdri_lighting("hdri-city")[0][0]
    # look at the ball from where the light comes from, and from the opposite side
    cams = [Camera(position=np.array([0, 1.0, 0]) - 3.0 * s * key.direction, target=(0, 1.0, 0), width=32, height=32,
                   yfov=math.radians(16), name=n) for s, n in ((1, "lit"), (-1, "shade"))]
    env = lighting_environment("hdri-city")
    paths = render_blender([mesh], cams, tmp_path, engine="cycles", samples=8, lights=[], environment=env)
    lit, shade = (np.asarray(Image.open(p).convert("RGBA"), np.float64) for p in paths)
    inside = (lit[..., 3] > 250) & (shade[..., 3] > 250)
    assert inside.sum() > 100
    assert lit[..., :3][inside].mean() > 1.5 * shade[..., :3][inside].mean()
