"""Twin appearance: corner UVs through the renderers, synthetic skin, scan colour -> albedo."""

from __future__ import annotations

import numpy as np
import pytest

from bodies.appearance import body_atlas, dilate, rest_vertices
from engine.render import RenderMesh
from engine.render.camera import Camera


def _island_texture(atlas, path):
    """Checker (red / dark red, 8 squares across) inside the UV islands, pure green outside, with
    a 2-texel gutter: a sample that lands outside every island reads green."""
    from PIL import Image

    n = atlas.size
    yy, xx = np.mgrid[0:n, 0:n]
    checker = ((xx // (n // 8) + yy // (n // 8)) % 2).astype(bool)
    img = np.zeros((n, n, 3), np.uint8)
    img[checker] = (230, 40, 30)
    img[~checker] = (120, 20, 15)
    covered = atlas.covered()
    img = dilate(img, covered, 2)
    from scipy.ndimage import binary_dilation

    img[~binary_dilation(covered, iterations=2)] = (0, 255, 0)
    Image.fromarray(img).save(path)
    return path


def _green_share(rgba):
    rgb = rgba[..., :3].astype(int)
    covered = rgba[..., 3] >= 128
    green = (rgb[..., 1] > rgb[..., 0] + 40) & covered
    return green.sum() / max(covered.sum(), 1)


@pytest.fixture(scope="module")
def seam_scene(anny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("seam")
    atlas = body_atlas(anny_model, 256)
    tex = _island_texture(atlas, folder / "islands.png")
    v = rest_vertices(anny_model).astype(np.float32)
    f = anny_model.faces_numpy()
    corner = anny_model.corner_uvs()
    per_vertex = np.zeros((len(v), 2), np.float32)  # the old way: one UV per vertex (last corner wins)
    per_vertex[f.reshape(-1)] = corner.reshape(-1, 2)
    top = float(v[:, 1].max())
    cams = [
        Camera(position=(0.0, 0.9, -4.2), target=(0.0, 0.9, 0.0), width=96, height=96, yfov=0.5, name="back"),
        Camera(position=(0.0, top - 0.05, -0.7), target=(0.0, top - 0.1, 0.0), width=96, height=96, yfov=0.5, name="head_back"),
    ]
    good = RenderMesh("body", v, f, color=(1, 1, 1, 1), uv=corner, texture=str(tex))
    smeared = RenderMesh("body", v, f, color=(1, 1, 1, 1), uv=per_vertex, texture=str(tex))
    return good, smeared, cams


def test_anny_corner_uvs_are_an_atlas_with_seams(anny_model):
    uv = anny_model.corner_uvs()
    f = anny_model.faces_numpy()
    assert uv.shape == (len(f), 3, 2) and uv.min() >= 0.0 and uv.max() <= 1.0
    # vertices on a seam carry more than one UV
    key = np.round(uv.reshape(-1, 2) * 1e5).astype(np.int64)
    pairs = np.unique(np.c_[f.reshape(-1), key], axis=0)
    per_vertex = np.bincount(pairs[:, 0], minlength=f.max() + 1)
    assert (per_vertex > 1).sum() > 500


def test_render_mesh_rejects_uvs_of_the_wrong_shape(anny_model):
    from engine.errors import InputError

    v = rest_vertices(anny_model)
    f = anny_model.faces_numpy()
    with pytest.raises(InputError, match="per face corner"):
        RenderMesh("body", v, f, uv=np.zeros((len(f), 2), np.float32))


def test_checker_on_anny_does_not_smear_across_seams_pyrender(seam_scene):
    from engine.render import render_pyrender_arrays

    good, smeared, cams = seam_scene
    ok = [_green_share(view.color) for view in render_pyrender_arrays([good], cams)]
    bad = [_green_share(view.color) for view in render_pyrender_arrays([smeared], cams)]
    assert max(ok) < 0.002, ok  # every sample lands inside an island
    assert max(bad) > 0.01, bad  # one UV per vertex drags faces across the atlas (the old smear)


def test_checker_on_anny_does_not_smear_across_seams_pytorch3d(seam_scene):
    pytest.importorskip("pytorch3d", reason="PyTorch3D (optional extra) is not installed")
    from engine.render import render_pytorch3d_arrays

    good, _, cams = seam_scene
    small = [Camera.from_dict({**c.to_dict(), "width": 48, "height": 48}) for c in cams]
    ok = [_green_share(view.color) for view in render_pytorch3d_arrays([good], small, device="cpu")]
    assert max(ok) < 0.005, ok


@pytest.mark.blender
def test_checker_on_anny_does_not_smear_across_seams_blender(seam_scene, tmp_path):
    from PIL import Image

    from engine.render import render_blender

    good, _, cams = seam_scene
    paths = render_blender([good], cams, tmp_path, engine="workbench")
    shares = [_green_share(np.asarray(Image.open(p).convert("RGBA"))) for p in paths]
    assert max(shares) < 0.002, shares


# --- scan colour -> twin albedo ------------------------------------------------------------------


@pytest.fixture(scope="module")
def coloured_twin(anny_model, tmp_path_factory):
    """A small coloured synthetic scan and a twin at its true parameters (no fit: fast)."""
    from bodies.synthetic import make_synthetic_scan
    from bodies.twin import Twin

    folder = tmp_path_factory.mktemp("coloured")
    truth = make_synthetic_scan(anny_model, folder / "scan.ply", seed=3, holes=2, albedo_size=256, tone="tan")
    twin = Twin(model=anny_model.name, shape=truth["shape"], pose=truth["pose"], translation=truth["translation"])
    twin.save(folder / "twin", anny_model)
    return folder, truth


def test_synthetic_scan_carries_colour_and_its_true_albedo(coloured_twin):
    from PIL import Image

    from bodies.scan import load_scan

    folder, truth = coloured_twin
    scan = load_scan(folder / "scan.ply")
    assert scan.colors is not None and scan.colors.shape == (len(scan.points), 3) and scan.colors.dtype == np.uint8
    assert truth["skin_tone"] == "tan" and (folder / truth["albedo"]).is_file()
    assert Image.open(folder / truth["albedo"]).size == (256, 256)
    # lips are redder than the body's average skin
    lips = scan.colors[scan.colors[:, 0].astype(int) - scan.colors[:, 1] > 60]
    assert 10 < len(lips) < 0.1 * len(scan.colors)


def test_transfer_writes_albedo_with_coverage_into_the_twin(coloured_twin, anny_model):
    from PIL import Image

    from bodies.appearance.transfer import TransferSettings, albedo_error, texture_twin
    from bodies.scan import load_scan
    from engine.storage import file_sha256, read_json

    folder, truth = coloured_twin
    twin_dir = folder / "twin"
    report = texture_twin(twin_dir, load_scan(folder / "scan.ply"), anny_model, TransferSettings(size=256))
    assert 70.0 < report["coverage_pct"] < 100.0 and report["filled_pct"] > 0.0
    assert abs(report["coverage_pct"] + report["filled_pct"] - 100.0) < 0.05
    entry = read_json(twin_dir / "twin.json")["appearance"]["albedo"]
    assert entry["albedo_sha256"] == file_sha256(twin_dir / "albedo.png")
    assert entry["mask_sha256"] == file_sha256(twin_dir / "albedo_mask.png")
    mask = np.asarray(Image.open(twin_dir / "albedo_mask.png"))
    assert set(np.unique(mask)) <= {0, 128, 255}
    err = albedo_error(np.asarray(Image.open(twin_dir / "albedo.png")), np.asarray(Image.open(folder / truth["albedo"]).convert("RGB")))
    assert np.median(err[mask == 255]) < 3.0
    assert np.median(err[mask == 128]) < 8.0


def test_real_twin_texture_is_private(coloured_twin, anny_model, tmp_path):
    import shutil

    from bodies.appearance.transfer import TransferSettings, texture_twin
    from bodies.scan import load_scan
    from engine.storage import private_dir

    folder, _ = coloured_twin
    twin_dir = private_dir(tmp_path / "person")
    shutil.copy(folder / "twin" / "twin.json", twin_dir / "twin.json")
    texture_twin(twin_dir, load_scan(folder / "scan.ply"), anny_model, TransferSettings(size=64))
    for name in ("albedo.png", "albedo_mask.png", "texture_report.json", "twin.json"):
        assert (twin_dir / name).stat().st_mode & 0o077 == 0, name


def test_colourless_ply_fits_and_renders_with_a_skin_tone(anny_model, tmp_path):
    from bodies.appearance.folder import after_fit, twin_meshes
    from bodies.fit import fit_to_folder
    from bodies.scan import load_scan
    from bodies.synthetic import make_synthetic_scan
    from engine.render import render_pyrender_arrays
    from engine.render.camera import frame_meshes, turntable
    from engine.render.looks import SKIN_TONES, apply_look

    make_synthetic_scan(anny_model, tmp_path / "plain.ply", seed=5, color=False)
    scan = load_scan(tmp_path / "plain.ply")
    assert scan.colors is None
    fit_to_folder(anny_model, scan, tmp_path / "twin", iterations=15)
    out = after_fit(tmp_path / "twin", scan, anny_model, texture_size=64, quiet=True)
    assert out["texture"] is None and not (tmp_path / "twin" / "albedo.png").exists()
    from bodies.twin import Twin

    v, f, _ = Twin.load(tmp_path / "twin").body(anny_model)
    meshes = apply_look(twin_meshes(tmp_path / "twin", v, f, anny_model), "studio")
    assert meshes[0].texture is None and meshes[0].color[:3] == pytest.approx(SKIN_TONES["light"])
    lo, hi = frame_meshes(meshes)
    view = render_pyrender_arrays(meshes, turntable(lo, hi, n_views=1, width=48, height=48))[0]
    rgb = view.color[view.color[..., 3] > 200][:, :3].astype(int)
    assert len(rgb) > 50 and np.median(rgb[:, 0]) > np.median(rgb[:, 2]) + 20  # warm skin, not grey


def test_scan_colour_from_a_textured_obj(tmp_path):
    import trimesh
    from PIL import Image

    from bodies.scan import load_scan

    box = trimesh.creation.icosphere(subdivisions=3)  # 642 vertices, a 1.7 m tall ellipsoid
    box = trimesh.Trimesh(box.vertices * (0.2, 0.85, 0.15) + (0, 0.85, 0), box.faces, process=False)
    uv = np.c_[(box.vertices[:, 0] > 0) * 0.5 + 0.25, np.full(len(box.vertices), 0.5)]
    img = np.zeros((8, 8, 3), np.uint8)
    img[:, :4] = (200, 30, 30)
    img[:, 4:] = (30, 30, 200)
    Image.fromarray(img).save(tmp_path / "tex.png")
    box.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.open(tmp_path / "tex.png"))
    box.export(tmp_path / "scan.obj")
    scan = load_scan(tmp_path / "scan.obj", units="m", up="y")
    assert scan.colors is not None
    right = scan.colors[scan.points[:, 0] > 0]
    left = scan.colors[scan.points[:, 0] < 0]
    assert right[:, 2].mean() > right[:, 0].mean() + 100 and left[:, 0].mean() > left[:, 2].mean() + 100


# --- hair, fabric --------------------------------------------------------------------------------


def test_parse_hair():
    from bodies.appearance.hair import STYLES, parse_hair
    from engine.errors import InputError

    spec = parse_hair("bob:#3b2a20")
    assert spec.style == "bob" and spec.color == "#3b2a20"
    assert parse_hair("long:blonde").color.startswith("#") and parse_hair("none") is None
    assert len(STYLES) >= 6
    with pytest.raises(InputError, match="hairstyle"):
        parse_hair("mohawk")
    with pytest.raises(InputError, match="colour"):
        parse_hair("bob:#12")


@pytest.mark.parametrize("style", ["crop", "bob", "ponytail"])
def test_hair_sits_on_the_head_outside_the_body(anny_model, style):
    from scipy.spatial import cKDTree

    from bodies.appearance.hair import HairSpec, grow_hair

    rest = rest_vertices(anny_model)
    hair = grow_hair(HairSpec(style, "#3b2a20"), anny_model, rest, rest, n_points=8, strands=800)
    top = rest[:, 1].max()
    roots, tips = hair.strands[:, 0], hair.strands[:, -1]
    assert (roots[:, 1] > top - 0.22).all()  # grown on the head
    d, _ = cKDTree(rest).query(hair.strands[:, 2:].reshape(-1, 3))
    assert np.percentile(d, 5) > 0.003  # off the skin (metres)
    assert hair.cap_faces > 100 and hair.proxy_faces.max() < len(hair.proxy_vertices)
    if style == "ponytail":
        assert tips[:, 1].mean() < top - 0.2 and tips[:, 2].mean() < rest[rest[:, 1] > top - 0.25, 2].mean()


def test_fabric_surfaces_differ_per_registry_preset():
    from engine.render.surfaces import fabric_surface
    from garments.fabrics import fabric_names, get_fabric

    s = {n: fabric_surface(get_fabric(n).to_dict()) for n in fabric_names()}
    assert s["cotton-jersey"]["structure"] == "knit" and s["cotton-jersey"]["sheen"] > 0.3
    assert s["denim"]["structure"] == "twill" and s["silk-charmeuse"]["structure"] == "satin"
    assert s["silk-charmeuse"]["roughness"] < 0.5 < s["denim"]["roughness"]
    assert s["denim"]["bump"] > s["silk-charmeuse"]["bump"]


@pytest.mark.blender
def test_cycles_renders_a_textured_twin_with_hair(coloured_twin, anny_model, tmp_path):
    from PIL import Image

    from bodies.appearance.folder import twin_meshes
    from bodies.appearance.transfer import TransferSettings, texture_twin
    from bodies.scan import load_scan
    from bodies.twin import Twin
    from engine.render import render_blender

    folder, _ = coloured_twin
    twin_dir = folder / "twin"
    if not (twin_dir / "albedo.png").exists():
        texture_twin(twin_dir, load_scan(folder / "scan.ply"), anny_model, TransferSettings(size=256))
    v, f, _ = Twin.load(twin_dir).body(anny_model)
    meshes = twin_meshes(twin_dir, v, f, anny_model, hair="bun:#2a1a10", workdir=tmp_path)
    assert [m.name for m in meshes] == ["body", "hair"] and meshes[0].corner_uvs
    top = float(v[:, 1].max())
    c = v[v[:, 1] > top - 0.3].mean(axis=0)
    cam = Camera(position=(c[0], top - 0.1, c[2] - 0.9), target=(c[0], top - 0.12, c[2]), width=48, height=48, yfov=0.5, name="back")
    paths = render_blender(meshes, [cam], tmp_path, engine="cycles", samples=4)
    img = np.asarray(Image.open(paths[0]).convert("RGBA")).astype(int)
    head = img[4:24, 14:34]  # the back of the head: dark hair, not skin
    covered = head[..., 3] > 200
    assert covered.sum() > 50
    assert np.median(head[covered][:, :3].sum(axis=1)) < 300


def _plane(z, size=0.2, n=6, facing=1.0):
    """A square grid in the plane z (metres), faces wound to face +Z (facing 1) or -Z (-1)."""
    xs = np.linspace(-size / 2, size / 2, n)
    v = np.array([[x, y, z] for y in xs for x in xs])
    f = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            f += [[a, b, e], [a, e, d]] if facing > 0 else [[a, e, b], [a, d, e]]
    return v, np.array(f)


def test_normal_ray_finds_the_surface_the_normal_points_at():
    """Two parallel sheets 15 mm apart facing each other (a fold, the inner thighs): from 9 mm
    above the lower one the closest scan point is on the upper sheet, which faces the other
    way; the ray down the normal reads the lower one. Off the sheet's edge the ray misses and
    the closest point stands in; 3 cm away nothing is found."""
    from bodies.appearance.raycast import CLOSEST, NONE, RAY, normal_lookup

    va, fa = _plane(0.0, facing=1.0)
    vb, fb = _plane(0.015, facing=-1.0)
    v, f = np.vstack([va, vb]), np.vstack([fa, fb + len(va)])
    up = np.array([0.0, 0.0, 1.0])
    pts = np.array([[0.01, 0.02, 0.009],     # between the sheets
                    [0.0, 0.0, -0.005],      # just below the lower sheet: the ray goes up (+n)
                    [0.105, 0.0, 0.004],     # 5 mm beyond the edge: no ray hit, a closest point
                    [0.0, 0.0, -0.03]])      # 30 mm below: nothing within 20 mm
    hit = normal_lookup(v, f, pts, np.tile(up, (4, 1)), max_distance_m=0.02, max_angle_deg=60)
    assert hit.kind.tolist() == [RAY, RAY, CLOSEST, NONE]
    assert hit.valid.tolist() == [True, True, True, False]
    found = np.einsum("mk,mkd->md", hit.bary[:3], v[f[hit.face[:3]]])
    # the ray's hits lie straight down/up the normal on the lower sheet, in millimetres
    assert found[0] == pytest.approx([0.01, 0.02, 0.0], abs=1e-5)
    assert found[1] == pytest.approx([0.0, 0.0, 0.0], abs=1e-5)
    assert hit.distance[:2] == pytest.approx([0.009, 0.005], abs=1e-5)
    assert found[2] == pytest.approx([0.1, 0.0, 0.0], abs=1e-5) and hit.distance[2] == pytest.approx(np.hypot(0.005, 0.004), abs=1e-5)
    # a sheet turned beyond the angle limit is refused by both the ray and the fallback
    tilted = normal_lookup(va, fa, pts[:2], np.tile([0.0, np.sin(1.2), np.cos(1.2)], (2, 1)), max_angle_deg=60)
    assert tilted.kind.tolist() == [NONE, NONE]
    # a scan written inside out (every face flipped) finds the same points
    flipped = normal_lookup(v, f[:, ::-1], pts, np.tile(up, (4, 1)))
    assert flipped.kind.tolist() == [RAY, RAY, CLOSEST, NONE]


def test_scan_cloud_lookup_in_chunks_is_the_lookup_at_once(monkeypatch):
    """The texel lookup in a scan point cloud runs in chunks (its (texels, k, 3) arrays for a whole
    atlas made a coloured 200k-point fit peak at 3.1 GB): chunked, every texel's colour and verdict
    are those of one pass."""
    import bodies.appearance.transfer as tr

    rng = np.random.default_rng(1)
    a, y = rng.random(20_000) * 2 * np.pi, rng.random(20_000)
    pts = np.stack([0.1 * np.cos(a), y, 0.1 * np.sin(a)], 1)  # a cylinder of scan points
    lin = rng.random((len(pts), 3))
    b = rng.random(5000) * 2 * np.pi
    n = np.stack([np.cos(b), np.zeros_like(b), np.sin(b)], 1)
    p = 0.098 * n + np.c_[np.zeros_like(b), rng.random(5000), np.zeros_like(b)]  # texels 2 mm inside
    cfg = tr.TransferSettings()
    whole_col, whole_ok = tr._scan_cloud_lookup(pts, lin, p, n, cfg)
    monkeypatch.setattr(tr, "CLOUD_LOOKUP_CHUNK", 777)
    col, ok = tr._scan_cloud_lookup(pts, lin, p, n, cfg)
    assert whole_ok.mean() > 0.9  # the lookup finds the cylinder: the comparison means something
    assert np.array_equal(ok, whole_ok) and np.allclose(col, whole_col, atol=1e-12)
