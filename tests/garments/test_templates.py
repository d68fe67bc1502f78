import numpy as np
import pytest
import torch
import trimesh

from bodies.measure import measure
from bodies.poses import pose_preset
from engine.errors import InputError
from garments.clearance import BodyDistance, signed_distance
from garments.templates import GARMENTS, GarmentMesh, garment_names, make_garment


def _body(model, pose="a-pose", shape=None):
    out = model(shape=shape, pose=pose_preset(model, pose))
    return out.vertices[0].numpy(), out.faces.numpy(), out.joints[0].numpy()


@pytest.fixture(scope="module")
def body(anny_model):
    return _body(anny_model)


def test_registry_and_unknown_name(body):
    assert {"tube-dress", "skirt"} <= set(garment_names()) and set(garment_names()) == set(GARMENTS)
    with pytest.raises(InputError) as info:
        make_garment("ball-gown", *body)
    assert "tube-dress" in str(info.value)
    with pytest.raises(InputError):
        make_garment("tube-dress", *body, sleeves=3)


def test_signed_distance_sign_and_size():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.2)
    dirs = np.random.default_rng(0).normal(size=(200, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    for r, expect in ((0.25, 0.05), (0.15, -0.05), (0.203, 0.003)):
        d = signed_distance(dirs * r, sphere.vertices, sphere.faces)
        assert np.allclose(d, expect, atol=1.5e-3)


@pytest.mark.parametrize("name,pose", [("tube-dress", "a-pose"), ("tube-dress", "t-pose"), ("skirt", "a-pose")])
def test_garments_start_outside_the_body(anny_model, name, pose):
    v, f, j = _body(anny_model, pose)
    g = make_garment(name, v, f, j, resolution=1200)
    assert isinstance(g, GarmentMesh) and g.name == name
    assert g.vertices.dtype == np.float32 and g.vertices.shape[1] == 3
    assert g.faces.dtype == np.int64 and g.faces.min() >= 0 and g.faces.max() < len(g.vertices)
    assert 1000 <= len(g.vertices) <= 1450
    clearance = BodyDistance(v, f)(g.vertices)
    assert clearance.min() > 0.005  # every cloth vertex at least 5 mm outside
    # and the faces' centres too (nothing pokes through between vertices)
    assert BodyDistance(v, f)(g.vertices[g.faces].mean(1)).min() > 0.005
    m = measure(v, f, j)
    top = {"tube-dress": m.armpit_height_m, "skirt": m.waist_height_m}[name]
    assert top - 0.12 < g.vertices[:, 1].max() <= top + 1e-4  # under the arms / at the waist
    knee_y = j[12:14, 1].mean()
    assert abs(g.vertices[:, 1].min() - knee_y) < 0.08  # hem about the knees
    # pins: exactly the top ring
    top = g.vertices[:, 1] == g.vertices[:, 1].max()
    assert np.array_equal(g.pin > 0, top)
    # a closed tube, normals outward
    mesh = trimesh.Trimesh(g.vertices, g.faces, process=False)
    assert mesh.is_winding_consistent
    radial = mesh.triangles_center[:, [0, 2]] - g.vertices[:, [0, 2]].mean(0)
    assert np.mean(np.sum(mesh.face_normals[:, [0, 2]] * radial, axis=1) > 0) > 0.95


def test_resolution_scales_and_heavier_body_gets_a_wider_dress(anny_model, body):
    small = make_garment("tube-dress", *body, resolution=1000)
    big = make_garment("tube-dress", *body, resolution=5000)
    assert 4500 < len(big.vertices) < 5500 and len(small.vertices) < 1200
    heavy = _body(anny_model, shape=torch.tensor([[0.5, 0.5, 0.5, 1.0, 0.5, 0.5]]))
    wide = make_garment("tube-dress", *heavy, resolution=1000)

    def girth(g):
        ring = g.vertices[g.params["around"] * (g.params["rings"] // 2) :][: g.params["around"]]
        return np.linalg.norm(ring - np.roll(ring, 1, axis=0), axis=1).sum()

    assert girth(wide) > girth(small) + 0.03
