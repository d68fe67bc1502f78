"""Camera math: projection conventions, view/pose, turntable placement and auto-framing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.render.camera import Camera, _box_corners, fit_distance, frame_meshes, turntable

BMIN = np.array([-0.35, 0.0, -0.15])
BMAX = np.array([0.45, 1.75, 0.2])


def test_target_projects_to_image_centre_for_any_aspect():
    for w, h in [(64, 64), (160, 90), (90, 160)]:
        cam = Camera(position=(0.3, 1.2, 2.5), target=(0.1, 0.9, 0.0), width=w, height=h, yfov=0.6)
        uv = cam.project(cam.target[None])[0]
        np.testing.assert_allclose(uv, [w / 2, h / 2], atol=1e-9)


def test_axes_of_the_image():
    """+X (canonical) goes right and +Y goes up (smaller row) for a camera on +Z."""
    cam = Camera(position=(0, 0, 3), target=(0, 0, 0), width=100, height=80)
    uv = cam.project(np.array([[0.1, 0, 0], [0, 0.1, 0]]))
    assert uv[0, 0] > 50 and abs(uv[0, 1] - 40) < 1e-9
    assert uv[1, 1] < 40 and abs(uv[1, 0] - 50) < 1e-9


def test_vertical_fov_spans_the_image_height():
    cam = Camera(position=(0, 0, 2), target=(0, 0, 0), width=120, height=60, yfov=math.radians(40))
    half = 2 * math.tan(math.radians(20))
    uv = cam.project(np.array([[0, half, 0], [0, -half, 0]]))
    np.testing.assert_allclose(uv[:, 1], [0.0, 60.0], atol=1e-9)


def test_view_is_inverse_of_pose_and_rotation_is_orthonormal():
    cam = Camera(position=(1.0, 2.0, -3.0), target=(0.2, 0.8, 0.5), up=(0.1, 1.0, 0.0))
    pose, view = cam.pose(), cam.view_matrix()
    np.testing.assert_allclose(view @ pose, np.eye(4), atol=1e-12)
    r = pose[:3, :3]
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    # The camera looks down its -Z axis.
    fwd = (cam.target - cam.position) / np.linalg.norm(cam.target - cam.position)
    np.testing.assert_allclose(-pose[:3, 2], fwd, atol=1e-12)


def test_projection_matrix_agrees_with_project():
    cam = Camera(position=(0.5, 1.4, 2.8), target=(0, 1, 0), width=96, height=64, yfov=0.7)
    pts = np.random.default_rng(0).uniform(-0.4, 0.4, size=(20, 3)) + [0, 1, 0]
    hom = np.c_[pts, np.ones(len(pts))]
    clip = hom @ (cam.projection_matrix() @ cam.view_matrix()).T
    ndc = clip[:, :3] / clip[:, 3:]
    uv = np.c_[(ndc[:, 0] + 1) / 2 * cam.width, (1 - ndc[:, 1]) / 2 * cam.height]
    np.testing.assert_allclose(uv, cam.project(pts), atol=1e-9)
    assert np.all(np.abs(ndc[:, 2]) < 1)  # inside the depth range


def test_points_behind_the_camera_are_nan():
    cam = Camera(position=(0, 0, 1), target=(0, 0, 0))
    uv = cam.project(np.array([[0, 0, 2.0]]))
    assert np.isnan(uv).all()


def test_bad_cameras_are_rejected():
    with pytest.raises(ValueError):
        Camera(position=(0, 5, 0), target=(0, 0, 0), up=(0, 1, 0))
    with pytest.raises(ValueError):
        Camera(position=(0, 0, 1), target=(0, 0, 1))
    with pytest.raises(ValueError):
        Camera(position=(0, 0, 1), target=(0, 0, 0), yfov=4.0)


def test_to_dict_round_trip():
    cam = Camera(position=(1, 2, 3), target=(0, 1, 0), width=30, height=20, name="x", yfov=0.4)
    back = Camera.from_dict(cam.to_dict())
    np.testing.assert_allclose(back.pose(), cam.pose())
    assert (back.width, back.height, back.name, back.yfov) == (30, 20, "x", 0.4)


def test_turntable_view_zero_is_in_front_on_plus_z():
    cams = turntable(BMIN, BMAX, n_views=8, elevation_deg=0.0)
    c = (BMIN + BMAX) / 2
    p = cams[0].position
    assert p[2] > c[2] + 1.0
    np.testing.assert_allclose(p[[0, 1]], c[[0, 1]], atol=1e-9)
    np.testing.assert_allclose(-cams[0].pose()[:3, 2], [0, 0, -1], atol=1e-9)
    # Counter-clockwise from above: the quarter turn stands on +X.
    q = cams[2].position - c
    assert q[0] > 1.0 and abs(q[2]) < 1e-9


def test_turntable_distinct_azimuths_equal_distances_and_elevation():
    cams = turntable(BMIN, BMAX, n_views=8, elevation_deg=10.0)
    c = (BMIN + BMAX) / 2
    rel = np.array([cam.position - c for cam in cams])
    az = np.degrees(np.arctan2(rel[:, 0], rel[:, 2])) % 360
    np.testing.assert_allclose(az, np.arange(8) * 45.0, atol=1e-9)
    assert len({cam.name for cam in cams}) == 8
    dist = np.linalg.norm(rel, axis=1)
    np.testing.assert_allclose(dist, dist[0])
    elev = np.degrees(np.arcsin(rel[:, 1] / dist))
    np.testing.assert_allclose(elev, 10.0, atol=1e-9)
    for cam in cams:
        np.testing.assert_allclose(cam.project(c[None])[0], [cam.width / 2, cam.height / 2], atol=1e-9)


@pytest.mark.parametrize("size", [(512, 512), (320, 480), (480, 200)])
def test_turntable_auto_framing_keeps_the_margin_and_is_tight(size):
    w, h = size
    margin = 0.08
    cams = turntable(BMIN, BMAX, n_views=8, width=w, height=h, margin=margin, elevation_deg=5.0)
    corners = _box_corners(BMIN, BMAX)
    slack = []
    for cam in cams:
        uv = cam.project(corners)
        assert np.all(np.isfinite(uv))
        lo = np.array([margin * w, margin * h])
        hi = np.array([(1 - margin) * w, (1 - margin) * h])
        assert np.all(uv >= lo - 1e-6) and np.all(uv <= hi + 1e-6), (cam.name, uv.min(0), uv.max(0))
        slack.append(min((uv - lo).min(), (hi - uv).min()))
    # Tight: the view that needs the largest distance touches the margin (within a pixel).
    assert min(slack) < 1.0


def test_fit_distance_grows_with_margin():
    corners = _box_corners(BMIN, BMAX)
    c = (BMIN + BMAX) / 2
    d0 = fit_distance(c, (0, 0, 1), corners, math.radians(30), 1.0, margin=0.0)
    d1 = fit_distance(c, (0, 0, 1), corners, math.radians(30), 1.0, margin=0.2)
    assert d1 > d0 > 0


def test_frame_meshes_bounds():
    a = np.array([[0, 0, 0], [1, 2, 3]], dtype=np.float32)
    b = np.array([[-1, 0.5, 0]], dtype=np.float32)
    lo, hi = frame_meshes([a, b])
    np.testing.assert_allclose(lo, [-1, 0, 0])
    np.testing.assert_allclose(hi, [1, 2, 3])
    with pytest.raises(ValueError):
        frame_meshes([])
