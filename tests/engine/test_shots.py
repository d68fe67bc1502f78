"""Shots, framing and channel formats: lens in millimetres, named shots, detail crops, camera
heights, auto-framing margins and aspect ratios."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import InputError
from engine.render.formats import make_format, parse_format, standard_formats
from engine.render.shots import (
    Shot,
    focal_to_yfov,
    named_shot,
    parse_shots,
    region_points,
    shot_cameras,
    turntable_shots,
    yfov_to_focal,
)


def _figure():
    """A standing 'body' (1.7 m): a rough capsule of points, with joints."""
    rng = np.random.default_rng(0)
    y = rng.uniform(0.0, 1.7, 4000)
    r = np.where(y > 1.5, 0.09, np.where(y > 0.9, 0.17, 0.12))
    a = rng.uniform(0, 2 * np.pi, 4000)
    v = np.c_[r * np.sin(a) * 1.3, y, r * np.cos(a)]
    joints = {
        "head": (0, 1.6, 0), "neck": (0, 1.48, 0), "spine": (0, 1.15, 0), "pelvis": (0, 0.95, 0),
        "left_shoulder": (0.18, 1.42, 0), "right_shoulder": (-0.18, 1.42, 0),
        "left_hip": (0.09, 0.92, 0), "right_hip": (-0.09, 0.92, 0),
        "left_knee": (0.1, 0.5, 0), "right_knee": (-0.1, 0.5, 0),
        "left_ankle": (0.1, 0.08, 0), "right_ankle": (-0.1, 0.08, 0),
    }
    return v, joints


def _inside(cam, pts, margin, tol=1e-6):
    uv = cam.project(pts)
    lo = np.array([margin * cam.width, margin * cam.height]) - tol
    hi = np.array([(1 - margin) * cam.width, (1 - margin) * cam.height]) + tol
    slack = min((uv - lo).min(), (hi - uv).min())
    return bool(np.all(uv >= lo) and np.all(uv <= hi)), slack


def test_focal_length_in_full_frame_millimetres():
    # 36 mm spans the longer side: square and portrait images share the vertical fov...
    assert focal_to_yfov(50, 512, 512) == pytest.approx(2 * math.atan(18 / 50))
    assert focal_to_yfov(50, 1080, 1350) == pytest.approx(2 * math.atan(18 / 50))
    # ...a landscape 16:9 image's height is 36 * 9 / 16 mm of sensor.
    assert focal_to_yfov(50, 1920, 1080) == pytest.approx(2 * math.atan(18 * 9 / 16 / 50))
    for size in [(512, 512), (1080, 1350), (1920, 1080)]:
        assert yfov_to_focal(focal_to_yfov(85, *size), *size) == pytest.approx(85)
    # Longer lens, narrower view.
    assert focal_to_yfov(85, 512, 512) < focal_to_yfov(35, 512, 512)
    with pytest.raises(InputError):
        focal_to_yfov(0, 10, 10)


def test_named_shots_stand_where_they_say():
    v, _ = _figure()
    shots = [named_shot(n, elevation_deg=0.0) for n in ("front", "left", "back", "right", "three-quarter")]
    cams = shot_cameras(shots, v, 128, 128)
    c = cams[0].target
    dirs = np.array([(cam.position - c) / np.linalg.norm(cam.position - c) for cam in cams])
    np.testing.assert_allclose(dirs[0], [0, 0, 1], atol=1e-9)  # front: +Z
    np.testing.assert_allclose(dirs[1], [1, 0, 0], atol=1e-9)  # left side of the body: +X
    np.testing.assert_allclose(dirs[2], [0, 0, -1], atol=1e-9)
    np.testing.assert_allclose(dirs[3], [-1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(dirs[4], [math.sqrt(0.5), 0, math.sqrt(0.5)], atol=1e-9)
    assert [c.name for c in cams] == ["front", "left", "back", "right", "three-quarter"]
    # One distance for the whole set: the body keeps its size from shot to shot.
    d = [np.linalg.norm(cam.position - c) for cam in cams]
    np.testing.assert_allclose(d, d[0])


@pytest.mark.parametrize("fmt", ["1:1@128", "4:5@160", "9:16@192", "16:9@192"])
def test_whole_body_framing_keeps_the_margin_and_is_tight(fmt):
    v, _ = _figure()
    f = parse_format(fmt)
    shots = [named_shot("front", focal_mm=50, margin=0.1), named_shot("three-quarter", focal_mm=50, margin=0.1)]
    cams = shot_cameras(shots, v, f.width, f.height, same_distance=False)
    for cam in cams:
        ok, slack = _inside(cam, v, 0.1)
        assert ok, cam.name
        assert slack < 0.5  # touches the margin: as close as it can be
        assert (cam.width, cam.height) == (f.width, f.height)
        assert cam.yfov == pytest.approx(focal_to_yfov(50, f.width, f.height))


def test_camera_height_in_metres():
    v, _ = _figure()
    cams = shot_cameras([named_shot("front", camera_height=1.6, margin=0.05), named_shot("back", camera_height=0.4, margin=0.05)], v, 96, 128, same_distance=False)
    assert cams[0].position[1] == pytest.approx(1.6)
    assert cams[1].position[1] == pytest.approx(0.4)
    for cam in cams:
        ok, slack = _inside(cam, v, 0.05)
        assert ok and slack < 0.5, (cam.name, slack)
        # Still aimed at the middle of the body.
        np.testing.assert_allclose(cam.project(cam.target[None])[0], [48, 64], atol=1e-9)


def test_detail_crop_frames_the_region_only():
    v, joints = _figure()
    whole, head = shot_cameras([named_shot("front"), named_shot("detail-head")], v, 128, 128, joints=joints)
    pts = region_points(v, "head", joints)
    ok, slack = _inside(head, pts, 0.06)
    assert ok and slack < 0.5
    assert head.target[1] > 1.45  # looks at the head
    # The head fills far more of the crop than of the full shot.
    def span(cam):
        uv = cam.project(pts)
        return np.ptp(uv[:, 1])
    assert span(head) > 3 * span(whole)
    # The feet are out of the head crop.
    feet = head.project(np.array([[0, 0.02, 0]]))[0]
    assert feet[1] > 128
    # Without joints, the region is a band of the body's height.
    pts_band = region_points(v, "head")
    assert pts_band[:, 1].min() >= 0.83 * 1.7 - 0.01
    with pytest.raises(InputError):
        region_points(v, "elbow")
    with pytest.raises(InputError):
        region_points(v, "head", joints={"head": (0, 1.6, 0)})


def test_explicit_bounds():
    v, _ = _figure()
    box = (np.array([-0.2, 0.9, -0.2]), np.array([0.2, 1.2, 0.2]))
    cam = shot_cameras([Shot("waist", bounds=box, margin=0.1)], v, 64, 64)[0]
    np.testing.assert_allclose(cam.target[1], 1.05, atol=0.02)
    ok, _ = _inside(cam, region_points(v, bounds=box), 0.1)
    assert ok


def test_parse_shots():
    shots = parse_shots("front, turntable:4, detail-head", focal_mm=70)
    assert [s.name for s in shots] == ["front", "az000", "az090", "az180", "az270", "detail-head"]
    assert all(s.focal_mm == 70 for s in shots)  # common settings win over the detail default
    assert [s.azimuth_deg for s in turntable_shots(3)] == [0.0, 120.0, 240.0]
    with pytest.raises(InputError):
        parse_shots("front,sideways")
    with pytest.raises(InputError):
        parse_shots("front,front")
    with pytest.raises(InputError):
        parse_shots("turntable:x")


def test_channel_formats():
    assert make_format("4:5", long_side=1350) == make_format("4:5", width=1080)
    assert (make_format("4:5", long_side=1350).width, make_format("4:5", long_side=1350).height) == (1080, 1350)
    assert (parse_format("9:16@1920").width, parse_format("9:16@1920").height) == (1080, 1920)
    assert (parse_format("16:9@1920").width, parse_format("16:9@1920").height) == (1920, 1080)
    assert (parse_format("1:1").width, parse_format("1:1").height) == (1080, 1080)
    assert parse_format("4:5@1080x1350").label == "4x5_1080x1350"
    assert [f.name for f in standard_formats(512)] == ["1:1", "4:5", "9:16", "16:9"]
    for bad in ("3:2", "4:5@1080x1000", "4:5@big", "1:1@4"):
        with pytest.raises(InputError):
            parse_format(bad)
