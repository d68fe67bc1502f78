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
