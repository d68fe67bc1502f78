"""The seated pose's stool is a collider in drapes too: a skirt draped into ``seated-stool`` rests
on the stool instead of passing into it (measured without the stool: 3.6 % of the skirt's vertices
ended inside its volume; with it: none)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bodies.twin import Twin
from engine.meshio import load_ply
from garments.dress import layer_collider_specs
from garments.outfit import PROP_START_SCALE, drape_twin


def _inside_stool(cloth, stool, margin=0.002):
    """Share of ``cloth`` vertices more than ``margin`` inside the stool cylinder."""
    c = stool[:, [0, 2]].mean(0)
    r = np.abs(stool[:, 0] - c[0]).max()
    rad = np.hypot(cloth[:, 0] - c[0], cloth[:, 2] - c[1])
    return float(np.mean((rad < r - margin) & (cloth[:, 1] < stool[:, 1].max() - margin) & (cloth[:, 1] > margin)))


def test_a_prop_with_a_start_shape_moves_into_place(tmp_path):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    f = np.array([[0, 1, 2]])
    static, moving = layer_collider_specs(tmp_path, [(v, f), (v, f, v * 0.1)])
    assert "target" not in static
    with np.load(moving["path"]) as a, np.load(moving["target"]) as b:
        np.testing.assert_allclose(a["vertices"], v * 0.1)
        np.testing.assert_allclose(b["vertices"], v)
    assert PROP_START_SCALE[1] < 0.1  # the stool starts as a low puck, clear of the A-pose's legs


@pytest.mark.blender
def test_a_skirt_draped_into_the_seated_pose_rests_on_the_stool(anny_model, tmp_path):
    twin = Twin.from_tensors(anny_model, anny_model.default_shape(), anny_model.zero_pose(), [0.0, 0.0, 0.0],
                             pose_name="t-pose")
    twin.save(tmp_path / "twin", anny_model)
    out = tmp_path / "out"
    res = drape_twin(tmp_path / "twin", "a-line-skirt", out, model=anny_model, pose="seated-stool", size="M",
                     resolution=500, max_frames=30)
    assert res.penetration_pct <= 1.0
    stool, _, _ = load_ply(out / "stool.ply")
    spec = json.loads((out / "drape_job.json").read_text())["spec"]
    props = [c for c in spec["colliders"][1:] if c.get("target")]
    assert len(props) == 1  # the stool, growing into place while the body sits down
    assert _inside_stool(res.vertices, stool) <= 0.005
    # and the skirt's back rests on its seat: cloth within 15 mm above the top, over the seat
    c = stool[:, [0, 2]].mean(0)
    over = np.hypot(res.vertices[:, 0] - c[0], res.vertices[:, 2] - c[1]) < 0.17
    top = stool[:, 1].max()
    assert np.any(over & (res.vertices[:, 1] > top - 0.002) & (res.vertices[:, 1] < top + 0.015))
